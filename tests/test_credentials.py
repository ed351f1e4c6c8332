"""Credential sources, their precedence, and the extension's private file (codelab_ext.credentials).

Every test runs in a temporary HOME with an explicit environment: nothing of the real user is read.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from codelab_ext import credentials as credmod
from codelab_ext.credentials import (
    SOURCES,
    Credentials,
    forget_credentials,
    load_stored_credentials,
    mask_key,
    resolve_credentials,
    store_credentials,
)
from codelab_ext.errors import CredentialsError

ENCRYPT_HINT = "hcloud configure set --cli-auth-encrypt=false"


class Sandbox:
    """A temporary HOME, an environment and a stored-file path, with helpers to configure each source."""

    def __init__(self, tmp_path: Path) -> None:
        self.home = tmp_path / "home"
        self.home.mkdir()
        self.environ: dict[str, str] = {"HOME": str(self.home)}
        self.stored = tmp_path / "jupyter-data" / "codelab" / "credentials.json"

    def resolve(self) -> Credentials | None:
        return resolve_credentials(self.stored, environ=self.environ, home=self.home)

    # one helper per source; ``tag`` makes every source's keys distinguishable
    def environment(self, tag: str = "ENV") -> None:
        self.environ.update(
            HUAWEICLOUD_SDK_AK=f"AK{tag}00000000000000",
            HUAWEICLOUD_SDK_SK=f"SK-{tag}-secret",
            HUAWEICLOUD_SDK_SECURITY_TOKEN=f"token-{tag}",
            HUAWEICLOUD_SDK_PROJECT_ID=f"project-{tag}",
        )

    def stored_file(self, tag: str = "STO") -> None:
        store_credentials(
            self.stored,
            Credentials(
                source="stored",
                access_key=f"AK{tag}00000000000000",
                secret_key=f"SK-{tag}-secret",
                project_id=f"project-{tag}",
                region="cn-east-3",
            ),
        )

    def sdk_profile(self, tag: str = "SDK", text: str | None = None) -> Path:
        path = self.home / ".huaweicloud" / "credentials"
        path.parent.mkdir(exist_ok=True)
        if text is None:
            text = (
                "[basic]\n"
                f"ak = AK{tag}00000000000000\n"
                f"sk = SK{tag}secret%with%percent\n"
                f"security_token = token-{tag}\n"
                f"project_id = project-{tag}\n"
            )
        path.write_text(text)
        return path

    def koocli(self, tag: str = "KOO", document: dict[str, Any] | None = None) -> Path:
        path = self.home / ".hcloud" / "config.json"
        path.parent.mkdir(exist_ok=True)
        if document is None:
            document = {
                "current": "work",
                "profiles": [
                    {
                        "name": "other",
                        "mode": "AKSK",
                        "accessKeyId": "AKOTHER0000000000000",
                        "secretAccessKey": "x1",
                    },
                    {
                        "name": "work",
                        "mode": "AKSK",
                        "accessKeyId": f"AK{tag}00000000000000",
                        "secretAccessKey": f"SK{tag}secretvalue",
                        "securityToken": f"token-{tag}",
                        "region": "cn-south-1",
                        "projectId": f"project-{tag}",
                    },
                ],
            }
        path.write_text(json.dumps(document))
        return path

    def iam_password(self, tag: str = "IAM") -> None:
        self.environ.update(CODELAB_IAM_USER=f"user-{tag}", CODELAB_IAM_PASSWORD=f"password-{tag}")


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path)


CONFIGURE = {
    "environment": Sandbox.environment,
    "stored": Sandbox.stored_file,
    "sdk-profile": Sandbox.sdk_profile,
    "koocli-profile": Sandbox.koocli,
    "iam-password": Sandbox.iam_password,
}


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --------------------------------------------------------------------------------------------------
# Each source, parsed
# --------------------------------------------------------------------------------------------------


def test_nothing_configured(box: Sandbox) -> None:
    assert box.resolve() is None
    # a project id alone is configuration, not half-configured credentials
    box.environ["HUAWEICLOUD_SDK_PROJECT_ID"] = "p"
    assert box.resolve() is None


def test_environment_source(box: Sandbox) -> None:
    box.environment()
    creds = box.resolve()
    assert creds == Credentials(
        source="environment",
        access_key="AKENV00000000000000",
        secret_key="SK-ENV-secret",
        security_token="token-ENV",
        project_id="project-ENV",
    )
    assert creds.kind == "aksk"


def test_stored_source(box: Sandbox) -> None:
    box.stored_file()
    creds = box.resolve()
    assert creds is not None
    assert (creds.source, creds.access_key, creds.secret_key) == (
        "stored",
        "AKSTO00000000000000",
        "SK-STO-secret",
    )
    assert (creds.project_id, creds.region, creds.security_token) == ("project-STO", "cn-east-3", None)


def test_stored_source_with_iam_password(box: Sandbox) -> None:
    creds = Credentials(
        source="stored", iam_user="bob", iam_password="pw-123", iam_domain="acme", region="r1"
    )
    store_credentials(box.stored, creds)
    loaded = box.resolve()
    assert loaded == creds
    assert loaded is not None and loaded.kind == "password"


def test_sdk_profile_source(box: Sandbox) -> None:
    box.sdk_profile()
    creds = box.resolve()
    assert creds is not None
    assert creds.source == "sdk-profile"
    assert creds.access_key == "AKSDK00000000000000"
    assert creds.secret_key == "SKSDKsecret%with%percent"  # no INI interpolation
    assert (creds.security_token, creds.project_id) == ("token-SDK", "project-SDK")


def test_sdk_profile_from_the_environment_variable(box: Sandbox, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.ini"
    other.write_text("[basic]\nak=AKELSEWHERE000000000\nsk=elsewhere\n")
    box.sdk_profile()  # the default file is ignored when the variable names another one
    box.environ["HUAWEICLOUD_SDK_CREDENTIALS_FILE"] = str(other)
    creds = box.resolve()
    assert creds is not None and creds.access_key == "AKELSEWHERE000000000"

    box.environ["HUAWEICLOUD_SDK_CREDENTIALS_FILE"] = str(tmp_path / "missing.ini")
    with pytest.raises(CredentialsError, match="HUAWEICLOUD_SDK_CREDENTIALS_FILE"):
        box.resolve()


def test_sdk_profile_without_basic_section_is_skipped(box: Sandbox) -> None:
    box.sdk_profile(text="[other]\nak=A\nsk=B\n")
    assert box.resolve() is None


def test_koocli_source_uses_the_current_profile(box: Sandbox) -> None:
    box.koocli()
    creds = box.resolve()
    assert creds == Credentials(
        source="koocli-profile",
        access_key="AKKOO00000000000000",
        secret_key="SKKOOsecretvalue",
        security_token="token-KOO",
        project_id="project-KOO",
        region="cn-south-1",
    )


def test_koocli_non_aksk_profile_is_skipped(box: Sandbox) -> None:
    box.koocli(document={"current": "sso", "profiles": [{"name": "sso", "mode": "SSO", "ssoUrl": "x"}]})
    assert box.resolve() is None
    box.iam_password()
    creds = box.resolve()
    assert creds is not None and creds.source == "iam-password"


def test_koocli_plain_profile_with_encryption_off_is_used(box: Sandbox) -> None:
    box.koocli(
        document={
            "cliAuthEncrypt": False,
            "current": "p",
            "profiles": [
                {"name": "p", "mode": "AKSK", "accessKeyId": "AKPLAIN0000000000000", "secretAccessKey": "s3"}
            ],
        }
    )
    creds = box.resolve()
    assert creds is not None and creds.access_key == "AKPLAIN0000000000000"


def test_iam_password_source(box: Sandbox) -> None:
    box.iam_password()
    creds = box.resolve()
    assert creds is not None
    assert (creds.source, creds.kind) == ("iam-password", "password")
    assert (creds.iam_user, creds.iam_password, creds.iam_domain) == ("user-IAM", "password-IAM", "user-IAM")
    assert creds.access_key is None and creds.masked_key is None
    box.environ["CODELAB_IAM_DOMAIN"] = "acme"
    creds = box.resolve()
    assert creds is not None and creds.iam_domain == "acme"


def test_home_defaults_to_the_home_of_the_environment(box: Sandbox) -> None:
    box.sdk_profile()
    creds = resolve_credentials(None, environ=box.environ)
    assert creds is not None and creds.source == "sdk-profile"


# --------------------------------------------------------------------------------------------------
# Precedence
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("first", "second"), list(itertools.combinations(SOURCES, 2)))
def test_precedence_of_every_pair(box: Sandbox, first: str, second: str) -> None:
    CONFIGURE[second](box)
    CONFIGURE[first](box)
    creds = box.resolve()
    assert creds is not None
    assert creds.source == first


def test_sources_are_tried_in_the_documented_order(box: Sandbox) -> None:
    assert SOURCES == ("environment", "stored", "sdk-profile", "koocli-profile", "iam-password")
    for configure in CONFIGURE.values():
        configure(box)
    seen = []
    for source in SOURCES:
        creds = box.resolve()
        assert creds is not None
        seen.append(creds.source)
        # remove the winner, the next one takes over
        if source == "environment":
            for name in ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN"):
                del box.environ[name]
        elif source == "stored":
            assert forget_credentials(box.stored)
        elif source == "sdk-profile":
            (box.home / ".huaweicloud" / "credentials").unlink()
        elif source == "koocli-profile":
            (box.home / ".hcloud" / "config.json").unlink()
    assert seen == list(SOURCES)


def test_a_half_configured_lower_source_does_not_matter(box: Sandbox) -> None:
    box.environment()
    box.environ["CODELAB_IAM_USER"] = "someone"  # no password: incomplete, but never reached
    creds = box.resolve()
    assert creds is not None and creds.source == "environment"


# --------------------------------------------------------------------------------------------------
# Half-configured and unreadable sources
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"HUAWEICLOUD_SDK_AK": "AKONLY00000000000000"}, ["environment", "HUAWEICLOUD_SDK_SK"]),
        ({"HUAWEICLOUD_SDK_SK": "lonely-secret-value"}, ["environment", "HUAWEICLOUD_SDK_AK"]),
        ({"HUAWEICLOUD_SDK_SECURITY_TOKEN": "lonely-token-value"}, ["environment", "HUAWEICLOUD_SDK_AK"]),
        ({"CODELAB_IAM_USER": "u"}, ["iam-password", "CODELAB_IAM_PASSWORD"]),
        ({"CODELAB_IAM_PASSWORD": "lonely-password-value"}, ["iam-password", "CODELAB_IAM_USER"]),
    ],
)
def test_half_configured_environment(box: Sandbox, environ: dict[str, str], names: list[str]) -> None:
    box.environ.update(environ)
    with pytest.raises(CredentialsError) as caught:
        box.resolve()
    for name in names:
        assert name in str(caught.value)
    for value in environ.values():
        if "lonely" in value:
            assert value not in str(caught.value)


def test_half_configured_files(box: Sandbox) -> None:
    path = box.sdk_profile(text="[basic]\nak = AKHALF00000000000000\n")
    with pytest.raises(CredentialsError) as caught:
        box.resolve()
    assert "sdk-profile" in str(caught.value) and "sk" in str(caught.value) and str(path) in str(caught.value)
    path.unlink()

    box.koocli(
        document={"current": "p", "profiles": [{"name": "p", "mode": "AKSK", "secretAccessKey": "abc"}]}
    )
    with pytest.raises(CredentialsError, match=r"koocli-profile.*accessKeyId"):
        box.resolve()

    box.stored.parent.mkdir(parents=True)
    fd = os.open(box.stored, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, json.dumps({"access_key": "AKSTOREDHALF00000000"}).encode())
    os.close(fd)
    with pytest.raises(CredentialsError) as caught:
        box.resolve()
    assert "secret_key" in str(caught.value) and str(box.stored) in str(caught.value)


@pytest.mark.parametrize("kind", ["stored", "sdk-profile", "koocli-profile"])
def test_unparseable_files_are_named_but_not_echoed(box: Sandbox, kind: str) -> None:
    secret = "SECRETVALUEinsideTheBrokenFile"
    if kind == "stored":
        box.stored.parent.mkdir(parents=True)
        path = box.stored
        path.write_text('{"access_key": "AK", "secret_key": "' + secret)
        path.chmod(0o600)
    elif kind == "sdk-profile":
        path = box.sdk_profile(text=f"[basic]\nak = AK\n{secret} this is not ini\n[basic]\n")
    else:
        path = box.koocli(document={})
        path.write_text('{"profiles": [{"secretAccessKey": "' + secret + '"}')
    with pytest.raises(CredentialsError) as caught:
        box.resolve()
    text = str(caught.value)
    assert str(path) in text
    assert secret not in text and secret not in repr(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


# --------------------------------------------------------------------------------------------------
# KooCLI encrypted profiles
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        {
            "current": "p",
            "cliAuthEncrypt": True,
            "profiles": [
                {"name": "p", "mode": "AKSK", "accessKeyId": "AKA0000000000000000", "secretAccessKey": "s"}
            ],
        },
        {
            "current": "p",
            "profiles": [
                {
                    "name": "p",
                    "mode": "AKSK",
                    "encrypted": "true",
                    "accessKeyId": "AKA0000000000000000",
                    "secretAccessKey": "s",
                }
            ],
        },
        {
            "current": "p",
            "profiles": [
                {
                    "name": "p",
                    "mode": "AKSK",
                    "cipherText": "b64...",
                    "accessKeyId": "AKA0000000000000000",
                    "secretAccessKey": "s",
                }
            ],
        },
        {
            "current": "p",
            "profiles": [
                {
                    "name": "p",
                    "mode": "AKSK",
                    "accessKeyId": "U2FsdGVkX1+vupppZksvRf5pq5g5XjFRlipRkwB0K1Y=",
                    "secretAccessKey": "U2FsdGVkX19rA+3e/Hx7eXBvcmFuZG9tZGF0YQ==",
                }
            ],
        },
        {
            "current": "p",
            "profiles": [{"name": "p", "mode": "AKSK", "accessKeyId": "", "secretAccessKey": ""}],
        },
    ],
    ids=["top-level-flag", "profile-flag", "cipher-field", "ciphertext-values", "values-missing"],
)
def test_koocli_encrypted_profile_says_how_to_fix_it(box: Sandbox, document: dict[str, Any]) -> None:
    path = box.koocli(document=document)
    with pytest.raises(CredentialsError) as caught:
        box.resolve()
    text = str(caught.value)
    assert ENCRYPT_HINT in text
    assert str(path) in text
    assert "U2FsdGVkX1" not in text


# --------------------------------------------------------------------------------------------------
# The stored file: modes, atomic writes, forget
# --------------------------------------------------------------------------------------------------


def test_store_creates_a_private_file_in_a_private_directory(box: Sandbox) -> None:
    assert not box.stored.parent.exists()
    box.stored_file()
    assert mode_of(box.stored) == 0o600
    assert mode_of(box.stored.parent) == 0o700
    data = json.loads(box.stored.read_text())
    assert data["access_key"] == "AKSTO00000000000000" and data["secret_key"] == "SK-STO-secret"
    assert os.listdir(box.stored.parent) == ["credentials.json"]  # no temporary file left


def test_store_is_private_from_the_first_byte_whatever_the_umask(
    box: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    modes_while_writing: list[int] = []
    creation_modes: list[int] = []
    real_write, real_open = os.write, os.open

    def spying_write(fd: int, data: Any) -> int:
        modes_while_writing.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, data)

    def spying_open(path: Any, flags: int, mode: int = 0o777, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_CREAT:
            creation_modes.append(mode)
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(credmod.os, "write", spying_write)
    monkeypatch.setattr(credmod.os, "open", spying_open)
    old_umask = os.umask(0)
    try:
        box.stored_file()
    finally:
        os.umask(old_umask)
    monkeypatch.undo()
    assert creation_modes == [0o600]  # created private: never a moment when others could open it
    assert modes_while_writing and set(modes_while_writing) == {0o600}
    assert mode_of(box.stored) == 0o600


def test_store_replaces_the_previous_file(box: Sandbox) -> None:
    box.stored_file("OLD")
    box.stored_file("NEW")
    creds = load_stored_credentials(box.stored)
    assert creds is not None and creds.access_key == "AKNEW00000000000000"
    assert mode_of(box.stored) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_stored_file_others_can_read_is_refused(box: Sandbox, mode: int) -> None:
    box.stored_file()
    box.stored.chmod(mode)
    with pytest.raises(CredentialsError) as caught:
        box.resolve()
    assert f"chmod 600 {box.stored}" in str(caught.value)
    assert "SK-STO-secret" not in str(caught.value)
    box.stored.chmod(0o600)
    creds = box.resolve()
    assert creds is not None and creds.source == "stored"


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_a_failed_store_leaves_no_partial_file(
    box: Sandbox, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    box.stored_file("OLD")
    before = box.stored.read_bytes()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(credmod.os, failing, broken)
    with pytest.raises(CredentialsError, match="the disk is full"):
        box.stored_file("NEW")
    monkeypatch.undo()
    assert box.stored.read_bytes() == before
    assert os.listdir(box.stored.parent) == ["credentials.json"]


def test_a_failed_first_store_leaves_nothing(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(credmod.os, "replace", broken)
    with pytest.raises(CredentialsError, match=r"Cannot write the credentials file .*: I/O error"):
        box.stored_file()
    monkeypatch.undo()
    assert not box.stored.exists()
    assert os.listdir(box.stored.parent) == []
    assert box.resolve() is None


def test_forget(box: Sandbox) -> None:
    box.stored_file()
    box.sdk_profile()
    creds = box.resolve()
    assert creds is not None and creds.source == "stored"
    assert forget_credentials(box.stored) is True
    assert not box.stored.exists()
    assert forget_credentials(box.stored) is False
    creds = box.resolve()
    assert creds is not None and creds.source == "sdk-profile"


def test_load_stored_credentials_without_a_file(box: Sandbox) -> None:
    assert load_stored_credentials(box.stored) is None
    assert resolve_credentials(None, environ=box.environ, home=box.home) is None


# --------------------------------------------------------------------------------------------------
# Secrets never shown; masking
# --------------------------------------------------------------------------------------------------


def test_secrets_never_in_repr_str_or_describe() -> None:
    aksk = Credentials(
        source="environment",
        access_key="ABCDEFGHIJKLMNOPQRST",
        secret_key="the-secret-key-value",
        security_token="the-security-token",
        project_id="p1",
        region="cn-north-4",
    )
    password = Credentials(source="iam-password", iam_user="bob", iam_password="the-password-value")
    for creds in (aksk, password):
        shown = [repr(creds), str(creds), f"{creds}", json.dumps(creds.describe()), repr([creds])]
        for text in shown:
            for secret in ("the-secret-key-value", "the-security-token", "the-password-value"):
                assert secret not in text
            assert "ABCDEFGHIJKLMNOPQRST" not in text
    assert "ABCD****QRST" in repr(aksk)
    assert "bob" in repr(password)
    assert aksk.describe() == {"configured": True, "source": "environment", "access_key": "ABCD****QRST"}
    assert password.describe() == {"configured": True, "source": "iam-password", "access_key": None}


def test_credentials_are_frozen_and_comparable() -> None:
    a = Credentials(source="stored", access_key="AK1", secret_key="SK1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.secret_key = "other"  # type: ignore[misc]
    assert a == Credentials(source="stored", access_key=" AK1 ", secret_key="SK1")
    assert hash(a) == hash(Credentials(source="stored", access_key="AK1", secret_key="SK1"))
    assert a != Credentials(source="stored", access_key="AK1", secret_key="SK2")


def test_incomplete_credentials_cannot_be_built() -> None:
    with pytest.raises(CredentialsError, match="secret key"):
        Credentials(source="stored", access_key="AK1")
    with pytest.raises(CredentialsError, match="access key"):
        Credentials(source="stored", secret_key="hidden-secret")
    with pytest.raises(CredentialsError, match="password"):
        Credentials(source="stored", iam_user="u")
    with pytest.raises(CredentialsError):
        Credentials(source="stored")


@pytest.mark.parametrize(
    ("key", "masked"),
    [
        ("ABCDEFGHIJKLMNOPQRST", "ABCD****QRST"),
        ("ABCDEFGHIJKL", "ABCD****IJKL"),
        ("ABCDEFGHIJK", "****"),
        ("AK", "****"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_key(key: str | None, masked: str) -> None:
    assert mask_key(key) == masked

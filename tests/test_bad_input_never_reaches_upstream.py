"""Input that must never reach upstream or crash: full-match validation, header-bound credential values
from every source, and every OSError on the credentials file (a readable answer saying what to fix).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from codelab_ext import NAMESPACE
from codelab_ext.credentials import Credentials, resolve_credentials
from codelab_ext.emulator import DEMO_ACCOUNT
from codelab_ext.errors import CredentialsError, ValidationError
from codelab_ext.validation import validate_credentials, validate_id, validate_region

from .support.cli import cli_env, run_cli
from .support.server_config import emulator_server_config

#: a token with a character latin-1 (and so an HTTP header) cannot carry
BAD_TOKEN = "tok-\u20ac-" + "A" * 20


@pytest.mark.parametrize("value", ["abc\n", "abc\r\n", "\nabc", "a b", "abc\u00e9"])
def test_ids_are_full_matches(value):
    with pytest.raises(ValidationError):
        validate_id(value)


def test_regions_and_keys_are_full_matches():
    with pytest.raises(ValidationError):
        validate_region("cn-north-4\n")
    for field, value in (("access_key", "AKAKAKAKAKAK\n"), ("project_id", "0123456789abcdef\n")):
        body = {"access_key": "AKAKAKAKAKAK", "secret_key": "S" * 40, field: value}
        # trailing whitespace is stripped on purpose; a newline *inside* must be refused
        inner = {**body, field: value.strip()[:4] + "\n" + value.strip()[4:]}
        with pytest.raises(ValidationError) as info:
            validate_credentials(inner)
        assert info.value.field == field


@pytest.mark.parametrize(
    ("field", "env_name"),
    [
        ("security_token", "HUAWEICLOUD_SDK_SECURITY_TOKEN"),
        ("access_key", "HUAWEICLOUD_SDK_AK"),
        ("project_id", "HUAWEICLOUD_SDK_PROJECT_ID"),
    ],
)
def test_header_bound_values_from_the_environment_are_refused_by_name(tmp_path, field, env_name):
    environ = {"HUAWEICLOUD_SDK_AK": "AKAKAKAKAKAK", "HUAWEICLOUD_SDK_SK": "S" * 40, env_name: BAD_TOKEN}
    with pytest.raises(CredentialsError) as info:
        resolve_credentials(tmp_path / "none.json", environ=environ, home=tmp_path)
    assert env_name in info.value.message
    assert field.replace("_", " ") in info.value.message
    assert BAD_TOKEN not in info.value.message  # never quoted: it may be a secret


def test_header_bound_values_from_a_file_or_profile_are_refused_by_name(tmp_path):
    stored = tmp_path / "stored.json"
    stored.write_text(
        json.dumps({"access_key": "AKAKAKAKAKAK", "secret_key": "S" * 40, "security_token": BAD_TOKEN})
    )
    os.chmod(stored, 0o600)
    with pytest.raises(CredentialsError) as info:
        resolve_credentials(stored, environ={}, home=tmp_path)
    assert "stored credentials" in info.value.message and "security token" in info.value.message

    home = tmp_path / "home"
    (home / ".huaweicloud").mkdir(parents=True)
    (home / ".huaweicloud" / "credentials").write_text(
        f"[basic]\nak = AKAKAKAKAKAK\nsk = {'S' * 40}\nproject_id = proj\u00e9ct12345\n"
    )
    os.chmod(home / ".huaweicloud" / "credentials", 0o600)
    with pytest.raises(CredentialsError) as info:
        resolve_credentials(tmp_path / "none.json", environ={}, home=home)
    assert "project id" in info.value.message


def test_typed_credentials_name_the_field():
    with pytest.raises(ValidationError) as info:
        Credentials.from_input(
            {"access_key": "AKAKAKAKAKAK", "secret_key": "S" * 40, "security_token": BAD_TOKEN}
        )
    assert info.value.field == "security_token" and info.value.status == 400


def test_cli_with_a_bad_token_in_the_environment_says_which_variable(tmp_path, emulator):
    env = cli_env(tmp_path, emulator.url, credentials=True, HUAWEICLOUD_SDK_SECURITY_TOKEN=BAD_TOKEN)
    emulator.reset_stats()
    result = run_cli(env, "list", timeout=60)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "HUAWEICLOUD_SDK_SECURITY_TOKEN" in last, result.stderr
    assert "UnicodeEncodeError" not in result.stderr and "Traceback" not in result.stderr
    assert emulator.stats().get("total", 0) == 0  # nothing reached upstream


# ============================================================================ the server


@pytest.fixture
def creds_dir(tmp_path: Path) -> Path:
    """A folder where the credentials file should be."""
    folder = tmp_path / "store" / "credentials.json"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def jp_server_config(emulator, creds_dir, tmp_path, monkeypatch):
    return emulator_server_config(
        emulator, monkeypatch, tmp_path, creds_dir, request_timeout=3.0, max_retries=0
    )


@pytest.fixture
def api(jp_fetch):
    async def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"method": method, "raise_error": False}
        if body is not None:
            kwargs["body"] = json.dumps(body)
        response = await jp_fetch(NAMESPACE, *path.split("/"), **kwargs)
        text = response.body.decode()
        return response.code, (json.loads(text) if text else None)

    return call


async def test_a_folder_where_the_credentials_file_should_be_is_a_readable_answer(api, emulator, creds_dir):
    code, status = await api("GET", "status")
    assert code == 200, status
    assert status["credentials"]["configured"] is False and "is a folder" in status["credentials"]["error"]
    body = {
        "access_key": DEMO_ACCOUNT.access_key,
        "secret_key": DEMO_ACCOUNT.secret_key,
        "project_id": emulator.project_id,
    }
    code, answer = await api("PUT", "credentials", body)
    assert code == 409, answer
    assert "is a folder" in answer["message"] and "move that folder away" in answer["message"]
    code, answer = await api("DELETE", "credentials")
    assert code == 409, answer
    assert "is a folder" in answer["message"]
    assert creds_dir.is_dir()  # nothing of the user's was removed


async def test_an_id_with_a_trailing_newline_never_reaches_upstream(api, emulator):
    emulator.reset_stats()
    code, body = await api("GET", "instances/abc%0A")
    assert code == 400, body
    assert emulator.stats().get("total", 0) == 0


async def test_a_bad_token_in_the_environment_answers_every_route_readably(api, emulator, monkeypatch):
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", DEMO_ACCOUNT.access_key)
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", DEMO_ACCOUNT.secret_key)
    monkeypatch.setenv("HUAWEICLOUD_SDK_SECURITY_TOKEN", BAD_TOKEN)
    emulator.reset_stats()
    code, status = await api("GET", "status")
    assert code == 200 and "HUAWEICLOUD_SDK_SECURITY_TOKEN" in status["credentials"]["error"]
    for path in ("images", "instances", "instances/abc", "instances/abc/lease"):
        code, body = await api("GET", path)
        assert code == 401, (path, code, body)
        assert "HUAWEICLOUD_SDK_SECURITY_TOKEN" in body["message"]
    assert emulator.stats().get("total", 0) == 0

"""Where the credentials come from, and how the extension keeps the ones a user typed.

:func:`resolve_credentials` looks at these sources in order; the first *complete* one wins:

1. ``environment``: ``HUAWEICLOUD_SDK_AK`` / ``HUAWEICLOUD_SDK_SK`` (+ ``HUAWEICLOUD_SDK_SECURITY_TOKEN``,
   ``HUAWEICLOUD_SDK_PROJECT_ID``), the official SDK's names;
2. ``stored``: the extension's own JSON file (written by :func:`store_credentials`, mode 0600, refused
   like ``ssh`` refuses a private key when group or others can access it);
3. ``sdk-profile``: the SDK's INI file ``~/.huaweicloud/credentials`` (or
   ``$HUAWEICLOUD_SDK_CREDENTIALS_FILE``), section ``[basic]``;
4. ``koocli-profile``: KooCLI's ``~/.hcloud/config.json``, current profile, mode ``AKSK``, unencrypted;
5. ``iam-password``: ``CODELAB_IAM_USER`` / ``CODELAB_IAM_PASSWORD`` (/ ``CODELAB_IAM_DOMAIN``, the
   account name, defaulting to the user name) for IAM token authentication.

A source that is half configured (an AK without its SK, ...) is an error naming the source and what is
missing, rather than a silent fall-through to the next one. No message, ``repr`` or ``str`` of this
module ever contains a secret key, a security token, a password or the contents of a file.
"""

from __future__ import annotations

import configparser
import contextlib
import errno
import functools
import json
import os
import re
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CredentialsError
from .i18n import tr

__all__ = [
    "SOURCES",
    "SOURCE_ENVIRONMENT",
    "SOURCE_IAM_PASSWORD",
    "SOURCE_KOOCLI_PROFILE",
    "SOURCE_SDK_PROFILE",
    "SOURCE_STORED",
    "Credentials",
    "forget_credentials",
    "load_stored_credentials",
    "mask_key",
    "resolve_credentials",
    "source_word",
    "store_credentials",
]

SOURCE_ENVIRONMENT = "environment"
SOURCE_STORED = "stored"
SOURCE_SDK_PROFILE = "sdk-profile"
SOURCE_KOOCLI_PROFILE = "koocli-profile"
SOURCE_IAM_PASSWORD = "iam-password"  # noqa: S105 (a source name)
#: every source, in the order :func:`resolve_credentials` tries them
SOURCES = (SOURCE_ENVIRONMENT, SOURCE_STORED, SOURCE_SDK_PROFILE, SOURCE_KOOCLI_PROFILE, SOURCE_IAM_PASSWORD)
#: the sources as a reader sees them (in English: the source names themselves)
SOURCE_WORDS = {
    SOURCE_ENVIRONMENT: tr("environment"),
    SOURCE_STORED: tr("stored"),
    SOURCE_SDK_PROFILE: tr("sdk-profile"),
    SOURCE_KOOCLI_PROFILE: tr("koocli-profile"),
    SOURCE_IAM_PASSWORD: tr("iam-password"),
}


def source_word(source: str) -> str:
    """A credential source in the reader's language (an unknown one as it is)."""
    return SOURCE_WORDS.get(source, source)


ENV_AK = "HUAWEICLOUD_SDK_AK"
ENV_SK = "HUAWEICLOUD_SDK_SK"
ENV_SECURITY_TOKEN = "HUAWEICLOUD_SDK_SECURITY_TOKEN"  # noqa: S105 (a variable name)
ENV_PROJECT_ID = "HUAWEICLOUD_SDK_PROJECT_ID"
ENV_SDK_CREDENTIALS_FILE = "HUAWEICLOUD_SDK_CREDENTIALS_FILE"
ENV_IAM_USER = "CODELAB_IAM_USER"
ENV_IAM_PASSWORD = "CODELAB_IAM_PASSWORD"  # noqa: S105 (a variable name)
ENV_IAM_DOMAIN = "CODELAB_IAM_DOMAIN"

KOOCLI_DISABLE_ENCRYPTION = "hcloud configure set --cli-auth-encrypt=false"

_STORED_FORMAT_VERSION = 1
_MASK = "****"
# Plain Huawei Cloud keys are short runs of letters and digits (AK: 20 upper-case characters, SK: 40).
_PLAIN_AK_RE = re.compile(r"[A-Za-z0-9]{1,64}")
_PLAIN_SK_RE = re.compile(r"[A-Za-z0-9]{1,128}")
_TRUE_WORDS = {"1", "true", "yes", "on", "enabled", "enable"}
_FALSE_WORDS = {"", "0", "false", "no", "off", "disabled", "disable", "none", "null"}


def mask_key(key: str | None) -> str:
    """A display form of an access key: first 4 + ``****`` + last 4 (``****`` for keys under 12).

    Empty or ``None`` gives ``""``.
    """
    if not key:
        return ""
    if len(key) < 12:
        return _MASK
    return f"{key[:4]}{_MASK}{key[-4:]}"


#: fields sent in HTTP headers (X-Sdk-... signature, X-Security-Token, X-Project-Id): visible ASCII only
HEADER_FIELDS = {
    "access_key": ("the access key", ENV_AK),
    "security_token": ("the security token", ENV_SECURITY_TOKEN),
    "project_id": ("the project id", ENV_PROJECT_ID),
}
_VISIBLE_ASCII_RE = re.compile(r"[\x21-\x7e]+")


def _clean(value: Any) -> str | None:
    """A stripped string, ``None`` for missing or blank values."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


@dataclass(frozen=True, repr=False)
class Credentials:
    """One set of credentials and the source it came from.

    Either an AK/SK pair (``kind == "aksk"``, optionally temporary with a ``security_token``) or an IAM
    user and password (``kind == "password"``; ``iam_domain`` is the account name, the user name when
    not given). ``repr``/``str`` never show the secret key, the token or the password, and show the
    access key masked.
    """

    source: str
    access_key: str | None = None
    secret_key: str | None = None
    security_token: str | None = None
    project_id: str | None = None
    region: str | None = None
    iam_user: str | None = None
    iam_password: str | None = None
    iam_domain: str | None = None
    #: the IAM endpoint the source names (the SDK profile's ``iam_endpoint``), if any
    iam_endpoint: str | None = None

    def __post_init__(self) -> None:
        for name in (
            "access_key",
            "secret_key",
            "security_token",
            "project_id",
            "region",
            "iam_user",
            "iam_password",
            "iam_domain",
            "iam_endpoint",
        ):
            object.__setattr__(self, name, _clean(getattr(self, name)))
        for name, (label, env_name) in HEADER_FIELDS.items():
            value = getattr(self, name)
            if value is not None and not _VISIBLE_ASCII_RE.fullmatch(value):
                where = f"{self.source} credentials" + (
                    f" ({env_name})" if self.source == SOURCE_ENVIRONMENT else ""
                )
                # the value is never quoted: it may be a secret
                raise CredentialsError(
                    tr(
                        "{where}: {label} contains spaces, control or non-ASCII characters, which cannot "
                        "be sent in an HTTP header; copy it again (letters, digits and punctuation only)",
                        where=where,
                        label=label,
                    ),
                    code=f"codelab.bad_{name}",
                )
        if self.access_key or self.secret_key:
            if not self.access_key:
                raise CredentialsError(
                    tr("{source} credentials: the access key is missing", source=source_word(self.source))
                )
            if not self.secret_key:
                raise CredentialsError(
                    tr("{source} credentials: the secret key is missing", source=source_word(self.source))
                )
        elif self.iam_user or self.iam_password:
            if not self.iam_user:
                raise CredentialsError(
                    tr("{source} credentials: the IAM user name is missing", source=source_word(self.source))
                )
            if not self.iam_password:
                raise CredentialsError(
                    tr("{source} credentials: the IAM password is missing", source=source_word(self.source))
                )
            if not self.iam_domain:
                object.__setattr__(self, "iam_domain", self.iam_user)
        else:
            raise CredentialsError(
                tr(
                    "{source} credentials: neither an access key / secret key pair nor an IAM user / "
                    "password",
                    source=source_word(self.source),
                )
            )

    @property
    def kind(self) -> str:
        """``"aksk"`` (request signing) or ``"password"`` (IAM token)."""
        return "aksk" if self.access_key else "password"

    @property
    def signing_keys(self) -> tuple[str, str]:
        """(access key, secret key) of AK/SK credentials (``__post_init__`` guarantees both or neither)."""
        if not self.access_key or not self.secret_key:
            raise CredentialsError(
                tr(
                    "{source} credentials hold no access key / secret key pair",
                    source=source_word(self.source),
                )
            )
        return self.access_key, self.secret_key

    @property
    def password_login(self) -> tuple[str, str]:
        """(IAM user, password) of password credentials."""
        if not self.iam_user or not self.iam_password:
            raise CredentialsError(
                tr("{source} credentials hold no IAM user / password", source=source_word(self.source))
            )
        return self.iam_user, self.iam_password

    @property
    def masked_key(self) -> str | None:
        """The access key masked for display (``None`` for password credentials)."""
        return mask_key(self.access_key) if self.access_key else None

    @classmethod
    def from_input(cls, values: Mapping[str, str | None], source: str = SOURCE_STORED) -> Credentials:
        """Credentials typed by a user (the panel's sign-in form, ``jupyter codelab login``), validated.

        A value that cannot be sent (see :data:`HEADER_FIELDS`) is a ValidationError naming the field.
        """
        from .errors import ValidationError

        try:
            return cls(
                source=source,
                access_key=values["access_key"],
                secret_key=values["secret_key"],
                security_token=values.get("security_token") or None,
                project_id=values.get("project_id") or None,
                region=values.get("region") or None,
            )
        except CredentialsError as exc:
            field = (exc.code or "").removeprefix("codelab.bad_")
            if field in HEADER_FIELDS:
                label = HEADER_FIELDS[field][0]
                raise ValidationError(
                    tr(
                        "'{field}': {label} may only hold letters, digits and punctuation (no spaces, "
                        "control or non-ASCII characters).",
                        field=field,
                        label=label,
                    ),
                    field=field,
                ) from None
            raise

    def describe(self) -> dict[str, Any]:
        """What the status route shows: ``{configured, source, access_key}`` (masked key or None)."""
        return {"configured": True, "source": self.source, "access_key": self.masked_key}

    def to_json(self) -> dict[str, str]:
        """The stored-file form (secrets included: only for :func:`store_credentials`)."""
        fields = {
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "security_token": self.security_token,
            "project_id": self.project_id,
            "region": self.region,
            "iam_user": self.iam_user,
            "iam_password": self.iam_password,
            "iam_domain": self.iam_domain,
        }
        return {name: value for name, value in fields.items() if value is not None}

    def __repr__(self) -> str:
        parts = [f"source={self.source!r}", f"kind={self.kind!r}"]
        if self.access_key:
            parts.append(f"access_key={mask_key(self.access_key)!r}")
            parts.append("secret_key='***'")
        if self.security_token:
            parts.append("security_token='***'")
        if self.iam_user:
            parts.append(f"iam_user={self.iam_user!r}")
            parts.append("iam_password='***'")
            parts.append(f"iam_domain={self.iam_domain!r}")
        if self.project_id:
            parts.append(f"project_id={self.project_id!r}")
        if self.region:
            parts.append(f"region={self.region!r}")
        return f"Credentials({', '.join(parts)})"

    __str__ = __repr__


# --------------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------------


def _from_environment(environ: Mapping[str, str]) -> Credentials | None:
    ak = _clean(environ.get(ENV_AK))
    sk = _clean(environ.get(ENV_SK))
    token = _clean(environ.get(ENV_SECURITY_TOKEN))
    if not ak and not sk:
        if token:
            raise CredentialsError(
                tr(
                    "environment: {ENV_SECURITY_TOKEN} is set but {ENV_AK} and {ENV_SK} are missing",
                    ENV_SECURITY_TOKEN=ENV_SECURITY_TOKEN,
                    ENV_AK=ENV_AK,
                    ENV_SK=ENV_SK,
                )
            )
        return None
    if not ak:
        raise CredentialsError(
            tr("environment: {ENV_SK} is set but {ENV_AK} is missing", ENV_SK=ENV_SK, ENV_AK=ENV_AK)
        )
    if not sk:
        raise CredentialsError(
            tr("environment: {ENV_AK} is set but {ENV_SK} is missing", ENV_AK=ENV_AK, ENV_SK=ENV_SK)
        )
    return Credentials(
        source=SOURCE_ENVIRONMENT,
        access_key=ak,
        secret_key=sk,
        security_token=token,
        project_id=_clean(environ.get(ENV_PROJECT_ID)),
    )


def _check_private(path: Path, st: os.stat_result) -> None:
    """Refuse a file that group or others may access (like ssh does for a private key)."""
    if os.name != "posix":
        return
    if not stat.S_ISREG(st.st_mode):
        raise CredentialsError(tr("credentials file {path} is not a regular file", path=path))
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise CredentialsError(
            tr(
                "credentials file {path} is accessible by group or others (mode {mode:04o}); "
                "refusing to use it: run `chmod 600 {path}`",
                path=path,
                mode=mode,
            )
        )


def load_stored_credentials(path: str | os.PathLike[str]) -> Credentials | None:
    """The credentials in the extension's file, ``None`` when there is no such file.

    Raises :class:`CredentialsError` when the file is readable by group or others, is not JSON or
    holds incomplete credentials (the message names the file, never its contents).
    """
    file = Path(path).expanduser()
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(file, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _file_error(file, exc, "read") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(file))
        _check_private(file, st)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read()
    except OSError as exc:
        raise _file_error(file, exc, "read") from None
    finally:
        os.close(fd)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CredentialsError(tr("credentials file {file} is not valid UTF-8 JSON", file=file)) from None
    if not isinstance(data, dict):
        raise CredentialsError(tr("credentials file {file} does not hold a JSON object", file=file))

    def pick(*names: str) -> str | None:
        for name in names:
            value = _clean(data.get(name))
            if value:
                return value
        return None

    values = {
        "access_key": pick("access_key", "ak"),
        "secret_key": pick("secret_key", "sk"),
        "security_token": pick("security_token"),
        "project_id": pick("project_id"),
        "region": pick("region"),
        "iam_user": pick("iam_user"),
        "iam_password": pick("iam_password"),
        "iam_domain": pick("iam_domain"),
    }
    where = f"stored credentials file {file}"
    if values["access_key"] or values["secret_key"]:
        if not values["access_key"]:
            raise CredentialsError(tr("{where}: access_key is missing", where=where))
        if not values["secret_key"]:
            raise CredentialsError(tr("{where}: secret_key is missing", where=where))
    elif values["iam_user"] or values["iam_password"]:
        if not values["iam_user"]:
            raise CredentialsError(tr("{where}: iam_user is missing", where=where))
        if not values["iam_password"]:
            raise CredentialsError(tr("{where}: iam_password is missing", where=where))
    else:
        raise CredentialsError(
            tr("{where} holds neither access_key/secret_key nor iam_user/iam_password", where=where)
        )
    return Credentials(source=SOURCE_STORED, **values)


def sdk_profile_path(environ: Mapping[str, str], home: Path) -> Path:
    """The SDK's credentials file: ``$HUAWEICLOUD_SDK_CREDENTIALS_FILE`` or ``~/.huaweicloud/credentials``."""
    explicit = _clean(environ.get(ENV_SDK_CREDENTIALS_FILE))
    return Path(explicit).expanduser() if explicit else home / ".huaweicloud" / "credentials"


def koocli_profile_path(home: Path) -> Path:
    """KooCLI's configuration file, ``~/.hcloud/config.json``."""
    return home / ".hcloud" / "config.json"


def _from_sdk_profile(environ: Mapping[str, str], home: Path) -> Credentials | None:
    explicit = _clean(environ.get(ENV_SDK_CREDENTIALS_FILE))
    file = sdk_profile_path(environ, home)
    if not file.is_file():
        if explicit:
            raise CredentialsError(
                tr(
                    "sdk-profile: {ENV_SDK_CREDENTIALS_FILE} names {file}, which is not a file",
                    ENV_SDK_CREDENTIALS_FILE=ENV_SDK_CREDENTIALS_FILE,
                    file=file,
                )
            )
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(file, encoding="utf-8") as handle:
            parser.read_file(handle)
    except (configparser.Error, UnicodeDecodeError):
        # configparser's own messages quote the offending lines: never echo them.
        raise CredentialsError(tr("sdk-profile: {file} is not a valid INI file", file=file)) from None
    except OSError as exc:
        raise CredentialsError(
            tr("sdk-profile: cannot read {file}: {strerror}", file=file, strerror=exc.strerror)
        ) from None
    if not parser.has_section("basic"):
        return None
    section = parser["basic"]
    ak = _clean(section.get("ak"))
    sk = _clean(section.get("sk"))
    if not ak and not sk:
        return None
    if not ak:
        raise CredentialsError(tr("sdk-profile: {file} [basic] has sk but ak is missing", file=file))
    if not sk:
        raise CredentialsError(tr("sdk-profile: {file} [basic] has ak but sk is missing", file=file))
    return Credentials(
        source=SOURCE_SDK_PROFILE,
        access_key=ak,
        secret_key=sk,
        security_token=_clean(section.get("security_token")),
        project_id=_clean(section.get("project_id")),
        region=_clean(section.get("region")),
        # ProfileCredentialProvider (huaweicloudsdkcore/auth/provider.py) reads iam_endpoint too
        iam_endpoint=_clean(section.get("iam_endpoint")),
    )


def _flag_is_set(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE_WORDS
    return bool(value)


def _encryption_marker(mapping: Mapping[str, Any]) -> str | None:
    """The name of an encryption flag or cipher-like field that is set, if any."""
    for key, value in mapping.items():
        lower = str(key).lower()
        if ("encrypt" in lower or "cipher" in lower) and _flag_is_set(value):
            return str(key)
    return None


def _koocli_profile(data: dict[str, Any]) -> dict[str, Any] | None:
    profiles = data.get("profiles")
    if not isinstance(profiles, list):
        return None
    candidates = [profile for profile in profiles if isinstance(profile, dict)]
    if not candidates:
        return None
    current = data.get("current")
    for wanted in (current, "default"):
        if isinstance(wanted, str):
            for profile in candidates:
                if profile.get("name") == wanted:
                    return profile
    return candidates[0] if len(candidates) == 1 or current is None else None


def _from_koocli(home: Path) -> Credentials | None:
    file = koocli_profile_path(home)
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CredentialsError(tr("koocli-profile: {file} is not valid UTF-8 JSON", file=file)) from None
    except OSError as exc:
        raise CredentialsError(
            tr("koocli-profile: cannot read {file}: {strerror}", file=file, strerror=exc.strerror)
        ) from None
    if not isinstance(data, dict):
        raise CredentialsError(tr("koocli-profile: {file} does not hold a JSON object", file=file))
    profile = _koocli_profile(data)
    if profile is None:
        return None
    name = profile.get("name") or "?"
    if str(profile.get("mode", "AKSK")).strip().upper() != "AKSK":
        return None  # SSO, agency, ... profiles cannot sign requests with a key pair

    encrypted_hint = (
        f"KooCLI profile {name!r} in {file} looks encrypted (KooCLI encrypts profiles by default) and "
        f"cannot be used; run `{KOOCLI_DISABLE_ENCRYPTION}` and configure the profile again, or use "
        f"another credential source"
    )
    if _encryption_marker(data) or _encryption_marker(profile):
        raise CredentialsError(encrypted_hint)
    ak = _clean(profile.get("accessKeyId"))
    sk = _clean(profile.get("secretAccessKey"))
    if not ak and not sk:
        raise CredentialsError(
            tr(
                "koocli-profile: profile {name!r} in {file} has mode AKSK but no plain "
                "accessKeyId/secretAccessKey; if it is encrypted, run "
                "`{KOOCLI_DISABLE_ENCRYPTION}` and configure it again",
                name=name,
                file=file,
                KOOCLI_DISABLE_ENCRYPTION=KOOCLI_DISABLE_ENCRYPTION,
            )
        )
    if not ak:
        raise CredentialsError(
            tr("koocli-profile: profile {name!r} in {file} has no accessKeyId", name=name, file=file)
        )
    if not sk:
        raise CredentialsError(
            tr("koocli-profile: profile {name!r} in {file} has no secretAccessKey", name=name, file=file)
        )
    if not _PLAIN_AK_RE.fullmatch(ak) or not _PLAIN_SK_RE.fullmatch(sk):
        raise CredentialsError(encrypted_hint)
    return Credentials(
        source=SOURCE_KOOCLI_PROFILE,
        access_key=ak,
        secret_key=sk,
        security_token=_clean(profile.get("securityToken")),
        project_id=_clean(profile.get("projectId")),
        region=_clean(profile.get("region")),
    )


def _from_iam_password(environ: Mapping[str, str]) -> Credentials | None:
    user = _clean(environ.get(ENV_IAM_USER))
    password = _clean(environ.get(ENV_IAM_PASSWORD))
    if not user and not password:
        return None
    if not user:
        raise CredentialsError(
            tr(
                "iam-password: {ENV_IAM_PASSWORD} is set but {ENV_IAM_USER} is missing",
                ENV_IAM_PASSWORD=ENV_IAM_PASSWORD,
                ENV_IAM_USER=ENV_IAM_USER,
            )
        )
    if not password:
        raise CredentialsError(
            tr(
                "iam-password: {ENV_IAM_USER} is set but {ENV_IAM_PASSWORD} is missing",
                ENV_IAM_USER=ENV_IAM_USER,
                ENV_IAM_PASSWORD=ENV_IAM_PASSWORD,
            )
        )
    return Credentials(
        source=SOURCE_IAM_PASSWORD,
        iam_user=user,
        iam_password=password,
        iam_domain=_clean(environ.get(ENV_IAM_DOMAIN)) or user,
    )


def resolve_credentials(
    stored_file: str | os.PathLike[str] | None,
    *,
    environ: Mapping[str, str] | None = None,
    home: str | os.PathLike[str] | None = None,
) -> Credentials | None:
    """The credentials of the first complete source (see the module docstring), or ``None``.

    ``stored_file`` is the extension's credentials file (``None``: skip that source), ``environ`` the
    environment (default ``os.environ``), ``home`` the home directory holding ``.huaweicloud`` and
    ``.hcloud`` (default ``$HOME`` of ``environ``, else the user's home). Raises
    :class:`CredentialsError` for a half-configured source, a file that cannot be parsed or a stored
    file that others may read.
    """
    env, home_dir = _environment_and_home(environ, home)
    found = _from_environment(env)
    if found is None and stored_file is not None and str(stored_file):
        found = load_stored_credentials(stored_file)
    if found is None:
        found = _from_sdk_profile(env, home_dir)
    if found is None:
        found = _from_koocli(home_dir)
    if found is None:
        found = _from_iam_password(env)
    return found


def _environment_and_home(
    environ: Mapping[str, str] | None, home: str | os.PathLike[str] | None
) -> tuple[Mapping[str, str], Path]:
    env: Mapping[str, str] = os.environ if environ is None else environ
    if home is not None:
        return env, Path(home)
    if env.get("HOME"):
        return env, Path(env["HOME"])
    return env, Path.home()


#: environment variables that decide which credentials are used
CREDENTIAL_ENV_PREFIXES = ("HUAWEICLOUD_SDK_", "CODELAB_IAM_")


def sources_fingerprint(
    stored_file: str | os.PathLike[str] | None,
    *,
    environ: Mapping[str, str] | None = None,
    home: str | os.PathLike[str] | None = None,
) -> tuple[Any, ...]:
    """What :func:`resolve_credentials` reads, cheaply: the relevant environment and the files' stats.

    Equal fingerprints mean the same answer, so a caller may keep the credentials it resolved last
    (the server does, for every request) until the fingerprint changes.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    home_text = os.fspath(home) if home is not None else env.get("HOME") or str(Path.home())
    stored = os.fspath(stored_file) if stored_file is not None else ""
    files = _source_files(stored, home_text, env.get(ENV_SDK_CREDENTIALS_FILE))
    stats: list[tuple[int, int, int, int] | None] = []
    for file in files:
        try:
            st = os.stat(file)
            stats.append((st.st_ino, st.st_mtime_ns, st.st_size, st.st_mode))
        except OSError:
            stats.append(None)
    variables = tuple(
        (name, env.get(name)) for name in sorted(env) if name.startswith(CREDENTIAL_ENV_PREFIXES)
    )
    return (variables, files, tuple(stats))


@functools.lru_cache(maxsize=64)
def _source_files(stored_file: str, home: str, sdk_file: str | None) -> tuple[str, ...]:
    """The files :func:`resolve_credentials` reads for these settings (paths are slow to build: cached)."""
    environ = {ENV_SDK_CREDENTIALS_FILE: sdk_file} if sdk_file is not None else {}
    files = [str(sdk_profile_path(environ, Path(home))), str(koocli_profile_path(Path(home)))]
    return (stored_file, *files) if stored_file else tuple(files)


# --------------------------------------------------------------------------------------------------
# The extension's own file
# --------------------------------------------------------------------------------------------------


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _file_error(file: Path, exc: OSError, action: str) -> CredentialsError:
    """A readable answer for an OSError on the credentials file, saying what to fix."""
    hint = "or set c.CodeLab.credentials_file (CODELAB_CREDENTIALS_FILE) to another path"
    if isinstance(exc, IsADirectoryError) or (file.is_dir() and not file.is_symlink()):
        text = f"the credentials file {file} is a folder, not a file: move that folder away, {hint}"
    elif isinstance(exc, NotADirectoryError) or isinstance(exc, FileExistsError):
        text = f"a part of the path {file} is a file where a folder should be: move it away, {hint}"
    elif isinstance(exc, PermissionError):
        text = (
            f"no permission to {action} the credentials file {file}: check the owner and mode of the "
            "file and of its folder"
        )
    elif exc.errno == errno.ENOSPC:
        text = f"cannot {action} the credentials file {file}: the disk is full"
    elif exc.errno == errno.EROFS:
        text = f"cannot {action} the credentials file {file}: the file system is read-only; {hint}"
    else:
        text = f"cannot {action} the credentials file {file}: {exc.strerror or type(exc).__name__}"
    return CredentialsError(text[0].upper() + text[1:] + ".", status=409, code="codelab.credentials_file")


def store_credentials(path: str | os.PathLike[str], creds: Credentials) -> None:
    """Write ``creds`` to the extension's file, atomically and private from the first byte.

    The parent directory is created with mode 0700 when missing; the data goes to a temporary file
    created 0600 in the same directory, is fsync-ed, then renamed over ``path``. On failure no partial
    or temporary file is left behind and the previous file, if any, is untouched.
    """
    file = Path(path).expanduser()
    try:
        _store(file, creds)
    except OSError as exc:
        raise _file_error(file, exc, "write") from None


def _store(file: Path, creds: Credentials) -> None:
    directory = file.parent
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.name == "posix":
            os.chmod(directory, 0o700)
    if file.is_dir() and not file.is_symlink():
        raise IsADirectoryError(errno.EISDIR, "Is a directory", str(file))
    payload: dict[str, Any] = {**creds.to_json(), "version": _STORED_FORMAT_VERSION}
    data = (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode("utf-8")

    tmp = directory / f".{file.name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        try:
            if os.name == "posix":
                os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, file)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def forget_credentials(path: str | os.PathLike[str]) -> bool:
    """Delete the extension's file; ``True`` if there was one."""
    file = Path(path).expanduser()
    try:
        file.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise _file_error(file, exc, "delete") from None
    _fsync_dir(file.parent)
    return True

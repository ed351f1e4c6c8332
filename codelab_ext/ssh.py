"""SSH access to a CodeLab instance: the SSH grammar, an OpenSSH config block and a one-line command.

Everything written into an OpenSSH configuration comes either from the cloud (host, port, user, key pair
names, instance and image names) or from the user (alias, identity file). None of it is trusted: each value
is validated against a strict grammar *before* it is written, so that no value can ever add a directive
(newlines, carriage returns, Unicode line separators, NUL, spaces or ``=`` splitting a value, quotes,
``%`` tokens, ``${VAR}`` expansions, options smuggled as ``-oProxyCommand=...``). A value that does not fit
raises :class:`~codelab_ext.errors.ValidationError` naming the field; nothing is silently rewritten except
the host, which is lower-cased (host names are case-insensitive; ``ssh -G`` reports them lower-case).

Policies:

* **Identity file.** The ``identity_file`` given by the user wins; otherwise ``~/.ssh/<key pair>.pem`` for the
  first key pair the instance lists (ModelArts hands out ECS key pairs as ``KeyPair-xxxx.pem``); with neither,
  no ``IdentityFile``/``IdentitiesOnly`` is written at all, so ``ssh`` falls back to the agent and the user's
  default keys (a guessed ``~/.ssh/id_ed25519`` would hide the keys that might work).
* **Quoting.** Paths made only of ``A-Z a-z 0-9 / . _ ~ + - : @ ,`` are written bare; other printable paths
  (spaces, ``#``, ``=``, non-ASCII letters, ...) are written in double quotes. Characters that have a meaning
  inside a quoted OpenSSH argument or in expansion are refused: ``"``, ``'``, ``%``, ``$``, control and
  format characters, line/paragraph separators, and a backslash before a backslash, a space or the end of
  the path (a lone backslash, as in ``C:\\Users\\me\\key.pem``, is kept as is).
* **Host keys.** ``StrictHostKeyChecking accept-new`` with one known_hosts file per instance,
  ``~/.ssh/codelab-<instance id>.known_hosts``: the first connection records the instance's host key, later
  connections are checked against it, and an instance created anew (a new id) starts a new file, so its new
  key is never taken for an attack on the old one. The same policy in the block and in the one-line command.

Installing the rendered block into ``~/.ssh`` is :mod:`codelab_ext.ssh_install`.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import CodeLabError, ValidationError
from .i18n import tr
from .text import one_line

__all__ = [
    "DEFAULT_USER",
    "NoSshEndpointError",
    "default_alias",
    "known_hosts_file",
    "render_ssh_config",
    "ssh_command",
    "ssh_command_or_none",
    "validate_alias",
    "validate_host",
    "validate_identity_file",
    "validate_key_pair_name",
    "validate_port",
    "validate_user",
]

#: The login user of every CodeLab instance (docs/modelarts-api.md, SSH).
DEFAULT_USER = "ma-user"

_ALIAS_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)
_REGION_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*", re.ASCII)
_USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}", re.ASCII)
_KEY_PAIR_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}", re.ASCII)
_PORT_RE = re.compile(r"[0-9]{1,5}", re.ASCII)
_LABEL_RE = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?", re.ASCII)
_BARE_PATH_RE = re.compile(r"[A-Za-z0-9/._~+:@,-]+", re.ASCII)
_PATH_FORBIDDEN = frozenset("\"'%$")
_INSTANCE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}", re.ASCII)
_MAX_PATH = 1024
_MAX_COMMENT = 120


class NoSshEndpointError(CodeLabError):
    """The instance has no SSH endpoint (its image does not offer SSH): answered as 404."""

    status = 404


class UnsafeSshEndpointError(ValidationError):
    """ModelArts sent an SSH endpoint value that cannot be written into a config safely.

    A :class:`ValidationError` (it names the field), but the fault is upstream's data, not the
    caller's input: answered as 502, and the CLI exits with its cloud-error code.
    """

    status = 502


# ----------------------------------------------------------------------------------------------------
# validation


def _describe(value: object) -> str:
    """A short, printable rendering of a refused value for error messages (never the raw control chars)."""
    text = ascii(value)
    return text if len(text) <= 80 else text[:77] + "..."


def validate_alias(alias: object) -> str:
    """Return ``alias`` if it is a usable ``Host`` name: 1-64 of ``A-Z a-z 0-9 - _ .``, letter or digit first.

    Pattern characters (``*``, ``?``, ``!``), spaces and everything else are refused, so the alias is always
    one literal host name and can be typed as ``ssh <alias>`` without being read as an option.
    """
    if not isinstance(alias, str) or not _ALIAS_RE.fullmatch(alias):
        raise ValidationError(
            tr(
                "alias {alias} is not valid: use 1-64 letters, digits, '-', '_' or '.', starting "
                "with a letter or digit",
                alias=_describe(alias),
            ),
            field="alias",
        )
    return alias


def default_alias(region: str) -> str:
    """The alias used when none is given: ``codelab-<region>``, stable per region (``codelab-cn-north-4``)."""
    if (
        not isinstance(region, str)
        or not region.isascii()
        or not _REGION_RE.fullmatch(region.lower())
        or len(region) > 48
    ):
        raise ValidationError(
            tr("region {region} is not a valid region id", region=_describe(region)), field="region"
        )
    return validate_alias(f"codelab-{region.lower()}")


def validate_host(host: object, *, field: str = "ssh.host") -> str:
    """Return the host, lower-cased, if it is a DNS name, an IPv4 address or an IPv6 literal.

    DNS names: labels of ``a-z 0-9 - _`` (1-63, no leading/trailing ``-``), 253 characters at most, an
    optional trailing dot, and not all-numeric at the end (the resolver would read ``1.2.3`` as an address).
    IPv6: plain or in brackets (``[::1]`` is written ``::1``); zone ids (``fe80::1%eth0``) are refused since
    ``%`` starts an OpenSSH token.
    """
    if not isinstance(host, str) or not host:
        raise ValidationError(
            tr("{field} is missing or not a string: {host}", field=field, host=_describe(host)), field=field
        )
    candidate = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in candidate:
        if "%" not in candidate and candidate.isascii():
            try:
                ipaddress.IPv6Address(candidate)
            except ValueError:
                pass
            else:
                return candidate.lower()
        raise ValidationError(
            tr("{field} {host} is not a valid IPv6 address", field=field, host=_describe(host)), field=field
        )
    if host != candidate:
        raise ValidationError(
            tr("{field} {host} is not a valid host name", field=field, host=_describe(host)), field=field
        )
    if not host.isascii():
        raise ValidationError(
            tr(
                "{field} {host} is not a valid host name (only ASCII letters, digits, '-', '_', '.')",
                field=field,
                host=_describe(host),
            ),
            field=field,
        )
    lowered = host.lower()
    try:
        ipaddress.IPv4Address(lowered)
        return lowered
    except ValueError:
        pass
    name = lowered[:-1] if lowered.endswith(".") else lowered
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL_RE.fullmatch(label) for label in labels) or labels[-1].isdigit():
        raise ValidationError(
            tr(
                "{field} {host} is not a valid host name, IPv4 or IPv6 address",
                field=field,
                host=_describe(host),
            ),
            field=field,
        )
    return lowered


def validate_port(port: object, *, field: str = "ssh.port") -> int:
    """Return the port as an ``int`` in 1..65535 (an ``int``, or a string of ASCII digits)."""
    value: int | None = None
    if isinstance(port, int) and not isinstance(port, bool):
        value = port
    elif isinstance(port, str) and _PORT_RE.fullmatch(port):
        value = int(port)
    if value is None or not 1 <= value <= 65535:
        raise ValidationError(
            tr("{field} {port} is not a port number (1-65535)", field=field, port=_describe(port)),
            field=field,
        )
    return value


def validate_user(user: object, *, field: str = "ssh.user") -> str:
    """Return the login user if it matches ``[a-z_][a-z0-9_-]*`` (32 characters at most)."""
    if not isinstance(user, str) or not _USER_RE.fullmatch(user):
        raise ValidationError(
            tr(
                "{field} {user} is not a valid user name ([a-z_][a-z0-9_-]*, at most 32 characters)",
                field=field,
                user=_describe(user),
            ),
            field=field,
        )
    return user


def validate_key_pair_name(name: object, *, field: str = "ssh.key_pair_names") -> str:
    """The key pair name if it is one safe name: 1-64 of ``A-Z a-z 0-9 . _ -``, not led by ``.``/``-``."""
    if not isinstance(name, str) or not _KEY_PAIR_RE.fullmatch(name):
        raise ValidationError(
            tr(
                "{field} entry {name} is not a valid key pair name (letters, digits, '.', '_', "
                "'-'; at most 64)",
                field=field,
                name=_describe(name),
            ),
            field=field,
        )
    return name


def _validate_path(path: object, *, field: str) -> str:
    """Check a path bound for an OpenSSH argument (see the module docstring for the policy)."""
    if not isinstance(path, str) or not path:
        raise ValidationError(tr("{field} must be a non-empty path", field=field), field=field)
    if len(path) > _MAX_PATH:
        raise ValidationError(
            tr("{field} is longer than {_MAX_PATH} characters", field=field, _MAX_PATH=_MAX_PATH), field=field
        )
    for index, char in enumerate(path):
        if not char.isprintable():
            raise ValidationError(
                tr(
                    "{field} {path} contains a control or separator character ({char!a})",
                    field=field,
                    path=_describe(path),
                    char=char,
                ),
                field=field,
            )
        if char in _PATH_FORBIDDEN:
            raise ValidationError(
                tr(
                    "{field} {path} contains {char!r}: quotes, '%' tokens and '$' expansions are not allowed",
                    field=field,
                    path=_describe(path),
                    char=char,
                ),
                field=field,
            )
        if char == "\\" and (index + 1 == len(path) or path[index + 1] in "\\ "):
            raise ValidationError(
                tr(
                    "{field} {path} has a backslash OpenSSH would read as an escape; use forward slashes",
                    field=field,
                    path=_describe(path),
                ),
                field=field,
            )
    return path


def validate_identity_file(path: object) -> str:
    """Return the identity file path given by the user if it can be written safely (see module policy)."""
    return _validate_path(path, field="identity_file")


def _config_argument(path: str) -> str:
    """A validated path as one OpenSSH config argument: bare when plain, else in double quotes."""
    return path if _BARE_PATH_RE.fullmatch(path) else f'"{path}"'


def _comment_text(value: object, default: str = "?") -> str:
    """Cloud text made safe for a ``#`` comment: printable characters only, shortened."""
    if value is None or value == "":
        return default
    return one_line(value, _MAX_COMMENT)


# ----------------------------------------------------------------------------------------------------
# the endpoint of an instance


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _endpoint(instance: Mapping[str, Any]) -> tuple[str, int | None, str, list[str]]:
    """Validated ``(host, port, user, key_pair_names)`` of an instance, or the error explaining why not."""
    if not isinstance(instance, Mapping):
        raise ValidationError(tr("instance must be a mapping"), field="instance")
    ssh = instance.get("ssh")
    if not ssh:
        image = _mapping(instance.get("image"))
        image_text = f"image {_comment_text(image.get('name'))}" if image.get("name") else "its image"
        name = _comment_text(instance.get("name") or instance.get("id"), "this instance")
        listed = image.get("dev_services")
        services = listed if isinstance(listed, list) else []
        status = _comment_text(instance.get("status"), "unknown")
        if "SSH" not in [str(service).upper() for service in services]:
            reason = f"{image_text} does not offer SSH (pick an image that lists SSH)."
        elif status != "RUNNING":
            reason = f"SSH is available once the instance is RUNNING (it is {status})."
        else:
            reason = "ModelArts listed no SSH endpoint that can be used (none, or one that is malformed)."
        raise NoSshEndpointError(
            tr("Instance {name} has no SSH endpoint: {reason}", name=name, reason=reason)
        )
    if not isinstance(ssh, Mapping):
        raise UnsafeSshEndpointError(tr("ssh endpoint of the instance is malformed"), field="ssh")
    if ssh.get("unreachable"):  # models.ssh_unreachable_reason (c.CodeLab.ssh_reachability_check)
        raise NoSshEndpointError(
            tr(
                "SSH is not reachable from outside for this instance: {ssh}.",
                ssh=_comment_text(ssh["unreachable"]),
            )
        )
    try:
        host = validate_host(ssh.get("host"))
        port = None if ssh.get("port") is None else validate_port(ssh.get("port"))
        user = DEFAULT_USER if ssh.get("user") in (None, "") else validate_user(ssh.get("user"))
        names = ssh.get("key_pair_names") or []
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, Sequence):
            raise ValidationError(tr("ssh.key_pair_names must be a list"), field="ssh.key_pair_names")
        names = [validate_key_pair_name(name) for name in names[:1]] + list(names[1:])
    except UnsafeSshEndpointError:
        raise
    except ValidationError as exc:
        raise UnsafeSshEndpointError(
            tr("ModelArts sent an SSH endpoint that cannot be used safely: {message}", message=exc.message),
            field=exc.field,
        ) from None
    return host, port, user, list(names)


def _identity(key_pair_names: list[str], identity_file: str | None) -> str | None:
    """The identity file to use (validated), or None to let ssh use the agent and default keys."""
    if identity_file is not None:
        return validate_identity_file(identity_file)
    if key_pair_names:
        name = validate_key_pair_name(key_pair_names[0])
        return f"~/.ssh/{name}" if name.lower().endswith(".pem") else f"~/.ssh/{name}.pem"
    return None


def known_hosts_file(instance: Mapping[str, Any], known_hosts: str | None = None) -> str:
    """The known_hosts file of an instance: ``known_hosts`` (validated) when given, else
    ``~/.ssh/codelab-<instance id>.known_hosts`` (``ssh`` creates ``~/.ssh`` if needed, not deeper
    folders, hence no folder of its own)."""
    if known_hosts is not None:
        return _validate_path(known_hosts, field="known_hosts")
    iid = instance.get("id") if isinstance(instance, Mapping) else None
    if not isinstance(iid, str) or not _INSTANCE_ID_RE.fullmatch(iid):
        raise UnsafeSshEndpointError(
            tr("ModelArts sent an instance id {iid} that cannot name a known_hosts file", iid=_describe(iid)),
            field="id",
        )
    return f"~/.ssh/codelab-{iid}.known_hosts"


def _utc_stamp(now: _dt.datetime | None) -> str:
    moment = now or _dt.datetime.now(_dt.timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_ssh_config(
    instance: Mapping[str, Any],
    *,
    region: str,
    alias: str | None = None,
    identity_file: str | None = None,
    now: _dt.datetime | None = None,
    server_alive_interval: int = 60,
    known_hosts: str | None = None,
) -> str:
    """Render the OpenSSH ``Host`` block of an instance (text ending in a newline).

    ``alias`` defaults to :func:`default_alias` of ``region``. Raises :class:`NoSshEndpointError` (404) when
    the instance has no SSH endpoint and :class:`ValidationError` (400, ``field`` set) for any value that
    does not fit its grammar. The result never holds a line other than its comments and these directives::

        # CodeLab instance <name> (<id>), image <name>:<tag>; generated by codelab_ext at <UTC ISO time>
        Host <alias>
            HostName <host>
            Port <port>
            User ma-user
            IdentityFile <path>
            IdentitiesOnly yes
            # host key: recorded on the first connection, checked on the next ones (file per instance)
            StrictHostKeyChecking accept-new
            UserKnownHostsFile ~/.ssh/codelab-<instance id>.known_hosts
            ServerAliveInterval 60
            ServerAliveCountMax 3
            LogLevel ERROR

    ``Port`` is left out when the endpoint has none (OpenSSH then uses 22); ``IdentityFile`` and
    ``IdentitiesOnly`` are left out when there is neither an ``identity_file`` nor a key pair name.
    ``known_hosts`` replaces the per-instance known_hosts file (tests use a temporary one).
    """
    chosen_alias = validate_alias(alias) if alias is not None else default_alias(region)
    host, port, user, key_pair_names = _endpoint(instance)
    identity = _identity(key_pair_names, identity_file)
    hosts_file = known_hosts_file(instance, known_hosts)
    if (
        not isinstance(server_alive_interval, int)
        or isinstance(server_alive_interval, bool)
        or not 0 <= server_alive_interval <= 86400
    ):
        raise ValidationError(
            tr("server_alive_interval must be an integer number of seconds (0-86400)"),
            field="server_alive_interval",
        )

    image = _mapping(instance.get("image"))
    image_text = _comment_text(image.get("name"), "unknown image")
    if image.get("tag"):
        image_text += ":" + _comment_text(image.get("tag"))
    header = (
        f"# CodeLab instance {_comment_text(instance.get('name'), 'unnamed')} "
        f"({_comment_text(instance.get('id'))}), image {image_text}; "
        f"generated by codelab_ext at {_utc_stamp(now)}"
    )
    lines = [header, f"Host {chosen_alias}", f"    HostName {host}"]
    if port is not None:
        lines.append(f"    Port {port}")
    lines.append(f"    User {user}")
    if identity is not None:
        lines += [f"    IdentityFile {_config_argument(identity)}", "    IdentitiesOnly yes"]
    else:
        lines.append("    # no key pair listed for this instance: ssh tries the agent and your default keys")
    lines += [
        "    # host key: recorded on the first connection, checked on the next ones (file per instance)",
        "    StrictHostKeyChecking accept-new",
        f"    UserKnownHostsFile {_config_argument(hosts_file)}",
        f"    ServerAliveInterval {server_alive_interval}",
        "    ServerAliveCountMax 3",
        "    LogLevel ERROR",
    ]
    text = "\n".join(lines) + "\n"
    # Belt and braces: the validators above make this unreachable.
    if any(not char.isprintable() for char in text.replace("\n", "")):  # pragma: no cover
        raise ValidationError(tr("refusing to render an SSH config holding control characters"), field="ssh")
    return text


def ssh_command(
    instance: Mapping[str, Any],
    *,
    alias: str | None = None,
    identity_file: str | None = None,
    known_hosts: str | None = None,
) -> str:
    """A one-line shell command that logs into the instance, quoted with :func:`shlex.quote`.

    Without ``alias``: ``ssh -i <key> -p <port> -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new
    -o UserKnownHostsFile=~/.ssh/codelab-<id>.known_hosts ma-user@<host>`` (``-i``/``IdentitiesOnly`` only
    when an identity is known, as in :func:`render_ssh_config`). With ``alias`` (the config is installed):
    ``ssh <alias>``, plus ``-i <key>`` when ``identity_file`` is given. The endpoint is validated in both
    cases, so the command is only offered for an instance that has a usable SSH endpoint.
    """
    host, port, user, key_pair_names = _endpoint(instance)
    if alias is not None:
        words = ["ssh"]
        if identity_file is not None:
            words += ["-i", _shell_path(validate_identity_file(identity_file))]
        words.append(shlex.quote(validate_alias(alias)))
        return " ".join(words)
    identity = _identity(key_pair_names, identity_file)
    hosts_file = known_hosts_file(instance, known_hosts)
    words = ["ssh"]
    if identity is not None:
        words += ["-i", _shell_path(identity)]
    if port is not None:
        words += ["-p", str(port)]
    if identity is not None:
        words += ["-o", "IdentitiesOnly=yes"]
    # ssh expands the ~ of UserKnownHostsFile itself (a shell that expands it first gives the same path)
    hosts_word = f"UserKnownHostsFile={hosts_file}"
    if not _BARE_PATH_RE.fullmatch(hosts_file):
        hosts_word = shlex.quote(hosts_word)
    words += ["-o", "StrictHostKeyChecking=accept-new", "-o", hosts_word]
    words.append(shlex.quote(f"{user}@{host}"))
    return " ".join(words)


def ssh_command_or_none(instance: Mapping[str, Any], identity_file: str | None = None) -> str | None:
    """:func:`ssh_command` for an instance with a usable SSH endpoint, else None (never raises)."""
    try:
        return ssh_command(instance, identity_file=identity_file)
    except (ValidationError, NoSshEndpointError):
        return None


def _shell_path(path: str) -> str:
    """A path as one shell word; a leading ``~/`` stays unquoted so the shell expands it (ssh would too)."""
    if path.startswith("~/") and len(path) > 2:
        return "~/" + shlex.quote(path[2:])
    return shlex.quote(path)

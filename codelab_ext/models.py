"""Tolerant parsing and normalisation of what ModelArts answers.

ModelArts' documentation and its service disagree on several spellings, and new fields and
enum values appear over time. Everything here therefore follows three rules:

* **never raise** on any JSON value (a string where an object is expected counts as missing);
* **keep what we do not know**: unknown top-level fields of an instance, an image or a lease are
  passed through unchanged, unknown enum values (status, arch, type, ...) are passed through as
  they came;
* **one spelling out**: the normalised shapes are those of ``docs/architecture.md`` ("Shapes", typed in
  :mod:`codelab_ext.shapes`).

Missing scalar fields become ``None``; missing list fields (``action_progress``, ``endpoints``,
``resource_categories``, ``dev_services``, ``key_pair_names``) become ``[]`` so that every
consumer can iterate without a check.

Secrets: the instance's ``token`` (the notebook's own access token) **stays** in the
normalised instance. This module does not decide where it may travel; the server decides
(it must never be logged, and only goes to the browser of the user who owns the instance).
"""

from __future__ import annotations

import ipaddress
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast
from urllib.parse import urlsplit

from .shapes import FreeFlavor, Image, Instance, Lease, PublicInstance, SshEndpoint, StatusClass, Step

__all__ = [
    "DEFAULT_SSH_PORT",
    "DEFAULT_SSH_USER",
    "FAILED_STATUSES",
    "STATUS_CLASSES",
    "STEADY_STATUSES",
    "STOPPED_STATUSES",
    "TRANSITIONAL_STATUSES",
    "WINDING_DOWN_STATUSES",
    "free_flavor_for",
    "image_category",
    "is_settled",
    "normalise_arch",
    "normalise_free_flavor",
    "normalise_image",
    "normalise_instance",
    "normalise_lease",
    "normalise_progress",
    "parse_ssh_endpoint",
    "public_instance",
    "ssh_unreachable_reason",
    "status_class",
]

#: statuses an instance passes through on its way to a steady or failed state
TRANSITIONAL_STATUSES: frozenset[str] = frozenset(
    {"INIT", "CREATING", "STARTING", "STOPPING", "DELETING", "SNAPSHOTTING"}
)
#: transitional statuses of an instance winding down (the panel shows the instance card, not the steps)
WINDING_DOWN_STATUSES: frozenset[str] = frozenset({"STOPPING", "DELETING"})
#: statuses that mean something went wrong (the reason is in ``fail_reason``)
FAILED_STATUSES: frozenset[str] = frozenset({"CREATE_FAILED", "START_FAILED", "DELETE_FAILED", "ERROR"})
#: statuses that do not change without an action (or a lease expiring)
STEADY_STATUSES: frozenset[str] = frozenset({"RUNNING", "STOPPED", "DELETED", "FROZEN"})
#: steady statuses of an instance that does not run
STOPPED_STATUSES: frozenset[str] = STEADY_STATUSES - {"RUNNING"}
#: what :func:`status_class` answers (the ``status_class`` of every instance the server sends)
STATUS_CLASSES = ("running", "changing", "stopping", "failed", "stopped", "unknown")

#: the user of every ModelArts notebook's SSH service
DEFAULT_SSH_USER = "ma-user"
#: the port assumed for an SSH endpoint given as a bare host (what ``ssh host`` would use)
DEFAULT_SSH_PORT = 22

_INSTANCE_STRINGS = (
    "id",
    "name",
    "status",
    "feature",
    "flavor",
    "description",
    "fail_reason",
    "url",
    "token",
    "workspace_id",
)
_IMAGE_STRINGS = ("id", "name", "tag", "description", "type", "status", "swr_path")

_ARCH_ALIASES = {
    "x86_64": "x86_64",
    "x86-64": "x86_64",
    "amd64": "x86_64",
    "aarch64": "aarch64",
    "arm64": "aarch64",
}


# --------------------------------------------------------------------------- scalar helpers


def _now_ms() -> int:
    return int(time.time() * 1000)


def _str(value: Any) -> str | None:
    """A string field: strings as they are, numbers as their text, anything else missing."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else str(value)
    return None


def _int(value: Any) -> int | None:
    """An integer field (epoch ms, durations, steps): ints, whole floats, digit strings."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"-?[0-9]{1,18}", text):
            return int(text)
    return None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
    if isinstance(value, int):
        return value != 0
    return None


def _str_list(value: Any) -> list[str]:
    """A list of strings; a single string counts as a one-item list; other items are dropped."""
    if isinstance(value, str):
        return [value] if value else []
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, str) and item]


def _dict_or_none(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, Mapping) else None


def _first(raw: Mapping[str, Any], *names: str) -> Any:
    """The first of ``names`` present with a non-null value."""
    for name in names:
        value = raw.get(name)
        if value is not None:
            return value
    return None


# --------------------------------------------------------------------------- lease and progress


def normalise_lease(raw: Any, *, now_ms: int | None = None) -> Lease | None:
    """A lease ``{create_at, duration, enable, type, update_at, expires_at, remaining_ms}``.

    Accepts both ``create_at``/``update_at`` (what the service sends) and
    ``create_time``/``update_time`` (what the documentation says). ``expires_at`` is
    ``create_at + duration`` and ``remaining_ms`` is ``max(0, expires_at - now)``; both are
    ``None`` when ``create_at`` or ``duration`` is missing. Unknown fields are kept; anything
    that is not an object gives ``None``.
    """
    if not isinstance(raw, Mapping):
        return None
    lease: dict[str, Any] = {
        str(key): value for key, value in raw.items() if key not in ("create_time", "update_time")
    }
    create_at = _int(_first(raw, "create_at", "create_time"))
    duration = _int(raw.get("duration"))
    lease["create_at"] = create_at
    lease["duration"] = duration
    lease["enable"] = _bool(raw.get("enable"))
    lease["type"] = _str(raw.get("type"))
    lease["update_at"] = _int(_first(raw, "update_at", "update_time"))
    if create_at is not None and duration is not None:
        expires_at = create_at + duration
        now = _now_ms() if now_ms is None else now_ms
        lease["expires_at"] = expires_at
        lease["remaining_ms"] = max(0, expires_at - now)
    else:
        lease["expires_at"] = None
        lease["remaining_ms"] = None
    return cast(Lease, lease)


#: a new lease end less than this much before the current one is not "shorter" (clocks, latency)
LEASE_SHORTEN_TOLERANCE_MS = 60_000


def lease_would_shorten(
    lease: Mapping[str, Any] | None, duration_ms: int, *, now_ms: int | None = None
) -> bool:
    """True when setting the lease to ``duration_ms`` from now ends it earlier than it ends today.

    The rule behind ``PATCH lease``'s 409 (design.md §3) and ``jupyter codelab extend --yes``. A lease
    without a known end (disabled, no ``create_at``/``duration``) is never shortened; an end less
    than :data:`LEASE_SHORTEN_TOLERANCE_MS` earlier does not count.
    """
    if not lease or lease.get("enable") is False:
        return False
    expires_at = lease.get("expires_at")
    if not isinstance(expires_at, int) or isinstance(expires_at, bool):
        return False
    now = _now_ms() if now_ms is None else now_ms
    return now + duration_ms < expires_at - LEASE_SHORTEN_TOLERANCE_MS


def normalise_progress(raw: Any) -> list[Step]:
    """``action_progress`` as ``[{step, status, description}]`` sorted by step.

    ``description`` is taken from ``description`` or, failing that, ``step_description``.
    Items that are not objects are dropped; items without a usable step sort last.
    """
    if not isinstance(raw, list):
        return []
    items: list[Step] = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        items.append(
            {
                "step": _int(item.get("step")),
                "status": _str(item.get("status")),
                "description": _str(_first(item, "description", "step_description")),
            }
        )
    items.sort(key=lambda entry: (entry["step"] is None, entry["step"] or 0))
    return items


# --------------------------------------------------------------------------- images


def normalise_arch(value: Any) -> str | None:
    """``X86_64``/``x86_64``/``amd64`` → ``x86_64``; ``AARCH64``/``arm64`` → ``aarch64``.

    Any other string is passed through unchanged (an unknown architecture stays visible).
    """
    text = _str(value)
    if text is None:
        return None
    return _ARCH_ALIASES.get(text.strip().lower(), text)


def normalise_image(raw: Any) -> Image:
    """An image ``{id, name, tag, description, type, arch, resource_categories, dev_services,
    status, swr_path}`` plus any unknown upstream fields, unchanged.

    Anything that is not an object gives the shape with every field missing.
    """
    source: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    image: dict[str, Any] = {str(key): value for key, value in source.items()}
    for name in _IMAGE_STRINGS:
        image[name] = _str(source.get(name))
    image["arch"] = normalise_arch(source.get("arch"))
    image["resource_categories"] = _str_list(source.get("resource_categories"))
    image["dev_services"] = _str_list(source.get("dev_services"))
    image["category"] = image_category(image)
    return cast(Image, image)


_ASCEND_WORDS = ("ascend", "npu", "cann")
_GPU_WORDS = ("gpu", "cuda", "cudnn", "nvidia", "tensorrt")


def normalise_free_flavor(raw: Any) -> FreeFlavor | None:
    """A ListFlavors ``NotebookFlavor`` as the panel shows it, or None unless it is a free one.

    Free: ``free`` is true, or (``free`` absent) ``feature`` is DEFAULT, the CodeLab class of the
    SDK's ``NotebookFlavor.feature``. ``arch`` as :func:`normalise_arch` spells it; a flavor
    without an id is none.
    """
    if not isinstance(raw, Mapping):
        return None
    flavor_id = _str(raw.get("id")) or _str(raw.get("name"))
    free = raw.get("free")
    feature = (_str(raw.get("feature")) or "").upper()
    if not flavor_id or not (free is True or (free is None and feature == "DEFAULT")):
        return None
    category = _str(raw.get("category"))
    vcpus, memory = raw.get("vcpus"), raw.get("memory")
    return {
        "id": flavor_id,
        "name": _str(raw.get("name")),
        "description": _str(raw.get("description")),
        "category": category.upper() if category else None,
        "arch": normalise_arch(raw.get("arch")),
        "vcpus": vcpus if isinstance(vcpus, int) and not isinstance(vcpus, bool) else None,
        "memory": memory if isinstance(memory, int) and not isinstance(memory, bool) else None,
        "sold_out": raw.get("sold_out") is True,
    }


def free_flavor_for(image: Mapping[str, Any], flavors: Sequence[FreeFlavor]) -> FreeFlavor | None:
    """The free flavor an instance of ``image`` runs on: same category (:func:`image_category`) and
    architecture, one with capacity first; None when ModelArts lists none for it."""
    category = image_category(image)
    arch = normalise_arch(image.get("arch"))
    fitting = [
        flavor
        for flavor in flavors
        if flavor["category"] == category and (arch is None or flavor["arch"] in (None, arch))
    ]
    fitting.sort(key=lambda flavor: flavor["sold_out"])
    return fitting[0] if fitting else None


def image_category(image: Any) -> str:
    """``"ASCEND"``, ``"GPU"`` or ``"CPU"`` for an image (raw or normalised).

    ``resource_categories`` decides when it names a known category (Ascend before GPU
    before CPU: an image that can use an accelerator is listed with that accelerator);
    otherwise the image name decides (``ascend``/``npu``/``cann`` → Ascend,
    ``gpu``/``cuda``/``cudnn`` → GPU); CPU is the default.
    """
    source: Mapping[str, Any] = image if isinstance(image, Mapping) else {}
    categories = {item.strip().upper() for item in _str_list(source.get("resource_categories"))}
    if categories & {"ASCEND", "NPU"}:
        return "ASCEND"
    if "GPU" in categories:
        return "GPU"
    if "CPU" in categories:
        return "CPU"
    name = (_str(source.get("name")) or "").lower()
    words = [word for word in re.split(r"[^a-z0-9]+", name) if word]
    if any(word.startswith(_ASCEND_WORDS) for word in words):
        return "ASCEND"
    if any(word.startswith(_GPU_WORDS) for word in words):
        return "GPU"
    return "CPU"


# --------------------------------------------------------------------------- SSH


def _fits(validator_name: str, value: Any) -> Any:
    """``value`` checked by the SSH grammar (:mod:`codelab_ext.ssh`'s validator of that name), or None."""
    from . import ssh
    from .errors import ValidationError

    try:
        return getattr(ssh, validator_name)(value)
    except ValidationError:
        return None


def _valid_host(host: str) -> bool:
    return _fits("validate_host", host) is not None


def _valid_user(user: str) -> bool:
    return _fits("validate_user", user) is not None


def _port(text: str | None) -> int | None:
    port = _fits("validate_port", text)
    return port if isinstance(port, int) else None


def _split_host_port(text: str) -> tuple[str, int] | None:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 address."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[1:end], text[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
        if not rest:
            return host, DEFAULT_SSH_PORT
        if not rest.startswith(":"):
            return None
        port = _port(rest[1:])
        return (host, port) if port is not None else None
    if text.count(":") > 1:  # an unbracketed IPv6 address cannot carry a port
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            return None
        return text, DEFAULT_SSH_PORT
    if ":" in text:
        host, _, port_text = text.partition(":")
        port = _port(port_text)
        if port is None or not _valid_host(host):
            return None
        return host, port
    return (text, DEFAULT_SSH_PORT) if _valid_host(text) else None


def _parse_ssh_uri(uri: str) -> tuple[str, str, int] | None:
    """(user, host, port) from ``ssh://[user@]host[:port]``, ``[user@]host[:port]``; else None."""
    text = uri.strip()
    if not text or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return None
    user = DEFAULT_SSH_USER
    if "://" in text:
        try:
            parts = urlsplit(text)
        except ValueError:
            return None
        if parts.scheme.lower() != "ssh" or parts.path not in ("", "/") or parts.query or parts.fragment:
            return None
        netloc = parts.netloc
    else:
        netloc = text
    if "@" in netloc:
        user_part, _, netloc = netloc.rpartition("@")
        if ":" in user_part:  # user:password is never an SSH endpoint we accept
            return None
        user = user_part
        if not _valid_user(user):
            return None
    split = _split_host_port(netloc)
    if split is None:
        return None
    host, port = split
    return user, host, port


def _has_port(uri: str) -> bool:
    """Whether an SSH ``uri`` names a port (``host:port``, ``[v6]:port``, ``ssh://host:port``)."""
    text = uri.strip()
    netloc = urlsplit(text).netloc if "://" in text else text
    netloc = netloc.rpartition("@")[2]
    if netloc.startswith("["):
        return "]:" in netloc
    return netloc.count(":") == 1


def ssh_unreachable_reason(host: str, port_given: bool) -> str | None:
    """Why an SSH endpoint cannot be reached from outside the cloud, or ``None`` when it may be.

    The SDK documents an endpoint's ``uri`` as the instance's *private* IP: a private (RFC 1918, or
    any other address that is not globally routable, such as IPv6 unique-local), link-local or
    loopback address cannot be reached from the user's computer, and neither can an endpoint
    without a port (the SSH gateway gives each instance its own port).
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        if address.is_loopback:
            return f"its address {host} is a loopback address"
        if address.is_link_local:
            return f"its address {host} is a link-local address"
        if address.is_private or not address.is_global:
            return f"its address {host} is a private address, reachable only inside the cloud"
    elif host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return f"its host {host} is a loopback name"
    if not port_given:
        return "ModelArts gave no port for it"
    return None


def _endpoint_service(endpoint: Mapping[str, Any]) -> str:
    service = _str(_first(endpoint, "dev_service", "service")) or ""
    return service.strip().upper()


def parse_ssh_endpoint(endpoints: Any, *, check_reachability: bool = False) -> SshEndpoint | None:
    """The SSH endpoint among ``endpoints`` as ``{host, port, user, key_pair_names, uri, unreachable}``.

    Endpoints are objects ``{dev_service | service: "SSH", uri, key_pair_names, ssh_keys,
    allowed_access_ips}`` (a single object is accepted as a one-item list). ``uri`` may be
    ``ssh://[user@]host[:port]``, ``[user@]host:port``, a bare host, or an IPv6 address in
    brackets (``[::1]:30022``). A bare host means port 22, what an SSH client would use for the
    same string. The user defaults to ``ma-user``. ``key_pair_names`` joins ``key_pair_names``
    and ``ssh_keys`` (in that order, without duplicates). ``uri`` is upstream's text, stripped.

    The first SSH endpoint with a usable ``uri`` wins; anything unparseable gives ``None``.
    ``unreachable`` is, with ``check_reachability``, :func:`ssh_unreachable_reason` (``None`` when the
    endpoint may be reached from outside); without it, always ``None``.
    """
    if isinstance(endpoints, Mapping):
        candidates: Iterable[Any] = [endpoints]
    elif isinstance(endpoints, list):
        candidates = endpoints
    else:
        return None
    for endpoint in candidates:
        if not isinstance(endpoint, Mapping) or _endpoint_service(endpoint) != "SSH":
            continue
        uri = endpoint.get("uri")
        if not isinstance(uri, str):
            continue
        parsed = _parse_ssh_uri(uri)
        if parsed is None:
            continue
        user, host, port = parsed
        keys: list[str] = []
        for name in _str_list(endpoint.get("key_pair_names")) + _str_list(endpoint.get("ssh_keys")):
            if name not in keys:
                keys.append(name)
        unreachable = ssh_unreachable_reason(host, _has_port(uri)) if check_reachability else None
        return {
            "host": host,
            "port": port,
            "user": user,
            "key_pair_names": keys,
            "uri": uri.strip(),
            "unreachable": unreachable,
        }
    return None


# --------------------------------------------------------------------------- instances


def normalise_instance(
    raw: Any, *, now_ms: int | None = None, check_ssh_reachability: bool = False
) -> Instance:
    """An instance in the shape of ``docs/architecture.md`` ("Shapes"; :class:`codelab_ext.shapes.Instance`).

    ``{id, name, status, feature, flavor, description, fail_reason, url, token, workspace_id,
    create_at, update_at, image, action_progress, lease, ssh, endpoints, volume}`` (``pool`` too,
    when present) plus every unknown top-level upstream field, unchanged. ``image`` is a
    normalised image or ``None``; ``lease`` is :func:`normalise_lease` (with ``now_ms``);
    ``ssh`` is :func:`parse_ssh_endpoint` of ``endpoints`` (``check_ssh_reachability`` passed on).

    The notebook ``token`` is kept (see the module docstring). Never raises.
    """
    source: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    instance: dict[str, Any] = {str(key): value for key, value in source.items()}
    for name in _INSTANCE_STRINGS:
        instance[name] = _str(source.get(name))
    instance["create_at"] = _int(source.get("create_at"))
    instance["update_at"] = _int(source.get("update_at"))
    image = source.get("image")
    instance["image"] = normalise_image(image) if isinstance(image, Mapping) else None
    instance["action_progress"] = normalise_progress(source.get("action_progress"))
    instance["lease"] = normalise_lease(source.get("lease"), now_ms=now_ms)
    endpoints = source.get("endpoints")
    if isinstance(endpoints, Mapping):
        endpoints = [endpoints]
    instance["endpoints"] = (
        [dict(item) for item in endpoints if isinstance(item, Mapping)] if isinstance(endpoints, list) else []
    )
    instance["ssh"] = parse_ssh_endpoint(instance["endpoints"], check_reachability=check_ssh_reachability)
    instance["volume"] = _dict_or_none(source.get("volume"))
    if "pool" in source:
        instance["pool"] = _dict_or_none(source.get("pool"))
    return cast(Instance, instance)


def _status_of(instance: Any) -> str | None:
    """The upper-case status of an instance (normalised or raw) or of a bare status string, or None."""
    status = (
        instance
        if isinstance(instance, str)
        else (_str(instance.get("status")) if isinstance(instance, Mapping) else None)
    )
    return status.strip().upper() or None if status else None


def is_settled(instance: Any) -> bool:
    """Whether an instance (normalised or raw, or a bare status string) is not on its way somewhere.

    Settled: a steady status (RUNNING, STOPPED, DELETED, FROZEN) or a failed one. Transitional
    statuses are not settled. An unknown status is judged by its form: one ending in ``ING``
    (``RESIZING``, ``RESTARTING``...) is taken as transitional, anything else as settled. A
    missing status is not settled (the caller should look again).
    """
    status = _status_of(instance)
    if not status:
        return False
    if status in TRANSITIONAL_STATUSES:
        return False
    if status in STEADY_STATUSES or status in FAILED_STATUSES:
        return True
    return not status.endswith("ING")


def status_class(instance: Any) -> StatusClass:
    """The class of an instance's status (or of a bare status string), one of :data:`STATUS_CLASSES`.

    ``running`` (RUNNING), ``failed`` (a failed status), ``stopping`` (winding down: STOPPING,
    DELETING), ``changing`` (on its way somewhere else: INIT, CREATING, STARTING, SNAPSHOTTING, an
    unknown ``...ING`` status, see :func:`is_settled`), ``stopped`` (any other settled status: STOPPED,
    DELETED, FROZEN, an unknown steady one), ``unknown`` (no status at all).
    """
    status = _status_of(instance)
    if not status:
        return "unknown"
    if status == "RUNNING":
        return "running"
    if status in FAILED_STATUSES:
        return "failed"
    if status in WINDING_DOWN_STATUSES:
        return "stopping"
    if not is_settled(status):
        return "changing"
    return "stopped"


def url_with_token(instance: Mapping[str, Any]) -> str | None:
    """The instance URL with its notebook token as ``?token=`` (None when there is no URL)."""
    from urllib.parse import urlencode, urlunsplit

    url = instance.get("url")
    token = instance.get("token")
    if not isinstance(url, str) or not url:
        return None
    if not token:
        return url
    parts = urlsplit(url)
    query = (parts.query + "&" if parts.query else "") + urlencode({"token": token})
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def public_instance(instance: Mapping[str, Any]) -> PublicInstance:
    """The instance as the browser and ``--json`` see it.

    The notebook token only inside its own URL; plus what the server decides for the panel:
    ``status_class`` (:func:`status_class`) and ``ssh_command`` (:func:`codelab_ext.ssh.ssh_command`
    with the instance's own key pair, ``None`` when it has no usable SSH endpoint).
    """
    from .ssh import ssh_command_or_none

    out = dict(instance)
    if out.get("token") and isinstance(out.get("url"), str) and out["url"]:
        out["url"] = url_with_token(instance)
    out["token"] = None
    out["status_class"] = status_class(instance)
    out["ssh_command"] = ssh_command_or_none(instance)
    return cast(PublicInstance, out)

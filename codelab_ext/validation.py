"""Validation of everything the REST API and the CLI receive, before anything goes upstream.

Each function takes untrusted input and returns clean values or raises
:class:`~codelab_ext.errors.ValidationError` with a message that names the field.
No tornado here: the CLI uses the same rules.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import ValidationError
from .i18n import Message, tr

#: ModelArts ids are UUIDs; accept any short token of safe characters (no dots, slashes or spaces)
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_REGION_RE = re.compile(r"[a-z]{2,}(-[a-z0-9]+){1,4}")
_KEY_RE = re.compile(r"[A-Za-z0-9]{8,128}")
_PROJECT_RE = re.compile(r"[A-Za-z0-9]{8,64}")

HOUR_MS = 3_600_000
#: the lease a free instance gets when it starts (docs/modelarts-api.md, lease)
DEFAULT_LEASE_MS = HOUR_MS
MIN_LEASE_MS = HOUR_MS
MAX_LEASE_MS = 72 * HOUR_MS
MAX_BODY_BYTES = 64 * 1024


def parse_json_object(body: bytes | str, *, allow_empty: bool = True) -> dict[str, Any]:
    """Parse a request body that must be a JSON object."""
    if isinstance(body, bytes):
        if len(body) > MAX_BODY_BYTES:
            raise ValidationError(
                tr("Request body too large (at most {MAX_BODY_BYTES} bytes).", MAX_BODY_BYTES=MAX_BODY_BYTES)
            )
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError(tr("Request body is not valid UTF-8.")) from None
    else:
        text = body
    if not text.strip():
        if allow_empty:
            return {}
        raise ValidationError(tr("A JSON object is required in the request body."))
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise ValidationError(tr("Request body is not valid JSON.")) from None
    if not isinstance(value, dict):
        raise ValidationError(tr("Request body must be a JSON object."))
    return value


def check_fields(
    body: dict[str, Any], allowed: dict[str, tuple[type, ...]], *, required: tuple[str, ...] = ()
) -> None:
    """Refuse unknown fields and wrong types; ``None`` counts as absent."""
    for name in body:
        if name not in allowed:
            raise ValidationError(
                tr("Unknown field '{name}'. Allowed: {items}.", name=name, items=", ".join(sorted(allowed))),
                field=str(name)[:64],
            )
    for name, types in allowed.items():
        value = body.get(name)
        if value is None:
            if name in required:
                raise ValidationError(tr("Field '{name}' is required.", name=name), field=name)
            continue
        # bool is an int in Python: never accept it where a number is meant, and vice versa
        if isinstance(value, bool) and bool not in types:
            raise ValidationError(
                tr("Field '{name}' must be {types}.", name=name, types=_type_names(types)), field=name
            )
        if not isinstance(value, types):
            raise ValidationError(
                tr("Field '{name}' must be {types}.", name=name, types=_type_names(types)), field=name
            )


def _type_names(types: tuple[type, ...]) -> str | Message:
    names = {str: tr("a string"), bool: tr("true or false"), int: tr("an integer"), float: tr("a number")}
    words: list[str | Message] = [names.get(t, t.__name__) for t in types]
    text = words[0]
    for word in words[1:]:
        text = tr("{first} or {second}", first=text, second=word)
    return text


def has_control(value: str) -> bool:
    """Whether ``value`` holds a C0 control character, DEL, or a Unicode line or paragraph separator."""
    return any(ord(ch) < 32 or ord(ch) == 127 or ch in "\u2028\u2029\u0085" for ch in value)


def validate_id(value: Any, field: str = "id") -> str:
    """An instance or image id: a short token of letters, digits, '-' and '_'."""
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise ValidationError(
            tr(
                "'{field}' must be an id of letters, digits, '-' or '_' (at most 128 characters).",
                field=field,
            ),
            field=field,
        )
    return value


def validate_image_ref(value: Any, field: str = "image_id") -> str:
    """An image id (what the REST API takes)."""
    return validate_id(value, field)


def validate_open(body: dict[str, Any]) -> tuple[str | None, str | None, bool]:
    """``POST open``: ``{image_id?, share_url?, switch?}`` (a blank ``image_id`` is a missing one)."""
    check_fields(body, {"image_id": (str,), "share_url": (str,), "switch": (bool,)})
    image_id = body.get("image_id")
    if isinstance(image_id, str):
        # blank or missing: the default image (what opening.plan_open resolves, never sent blank)
        image_id = validate_image_ref(image_id.strip()) if image_id.strip() else None
    share_url = body.get("share_url")
    if share_url is not None:
        share_url = share_url.strip() or None
        if share_url is not None:
            from .share_url import normalise_share_url

            share_url = normalise_share_url(share_url)
    return image_id, share_url, bool(body.get("switch", False))


def validate_duration_ms(value: Any, field: str = "duration_ms") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(tr("'{field}' must be a number of milliseconds.", field=field), field=field)
    if isinstance(value, float):
        if value != value or not value.is_integer():  # NaN or fractional
            raise ValidationError(
                tr("'{field}' must be a whole number of milliseconds.", field=field), field=field
            )
        value = int(value)
    if not MIN_LEASE_MS <= value <= MAX_LEASE_MS:
        raise ValidationError(
            tr(
                "'{field}' must be between {MIN_LEASE_MS} (1 hour) and {MAX_LEASE_MS} (72 hours).",
                field=field,
                MIN_LEASE_MS=MIN_LEASE_MS,
                MAX_LEASE_MS=MAX_LEASE_MS,
            ),
            field=field,
        )
    return value


def validate_lease(body: dict[str, Any]) -> tuple[int, bool]:
    """``PATCH lease``: ``{duration_ms, shorten?}`` → (duration in ms, whether shortening is confirmed)."""
    check_fields(body, {"duration_ms": (int, float), "shorten": (bool,)}, required=("duration_ms",))
    return validate_duration_ms(body["duration_ms"]), bool(body.get("shorten", False))


def validate_region(value: Any, field: str = "region") -> str:
    if not isinstance(value, str) or not _REGION_RE.fullmatch(value):
        raise ValidationError(
            tr("'{field}' must be a region id such as cn-north-4.", field=field), field=field
        )
    return value


def validate_credentials(body: dict[str, Any]) -> dict[str, str]:
    """``PUT credentials``: ``{access_key, secret_key, security_token?, project_id?, region?}``.

    The messages never repeat the values: they may be secrets.
    """
    check_fields(
        body,
        {
            "access_key": (str,),
            "secret_key": (str,),
            "security_token": (str,),
            "project_id": (str,),
            "region": (str,),
        },
        required=("access_key", "secret_key"),
    )
    out: dict[str, str] = {}
    access_key = body["access_key"].strip()
    if not _KEY_RE.fullmatch(access_key):
        raise ValidationError(tr("'access_key' must be 8 to 128 letters and digits."), field="access_key")
    out["access_key"] = access_key
    secret_key = body["secret_key"].strip()
    if not 8 <= len(secret_key) <= 256 or has_control(secret_key) or " " in secret_key:
        raise ValidationError(
            tr("'secret_key' must be 8 to 256 characters without spaces or control characters."),
            field="secret_key",
        )
    out["secret_key"] = secret_key
    token = (body.get("security_token") or "").strip()
    if token:
        if len(token) > 16384 or has_control(token) or " " in token:
            raise ValidationError(
                tr("'security_token' must be at most 16384 characters without spaces."),
                field="security_token",
            )
        out["security_token"] = token
    project_id = (body.get("project_id") or "").strip()
    if project_id:
        if not _PROJECT_RE.fullmatch(project_id):
            raise ValidationError(tr("'project_id' must be 8 to 64 letters and digits."), field="project_id")
        out["project_id"] = project_id
    region = (body.get("region") or "").strip()
    if region:
        out["region"] = validate_region(region)
    return out


IMAGE_FILTERS = ("type", "name", "arch", "category")
_IMAGE_TYPES = {"BUILD_IN", "DEDICATED"}
_ARCHES = {"x86_64", "aarch64"}
_CATEGORIES = {"CPU", "GPU", "ASCEND"}


def validate_image_filters(query: dict[str, str]) -> dict[str, str]:
    """``GET images`` query: ``type``, ``name``, ``arch``, ``category`` (all optional)."""
    out: dict[str, str] = {}
    for key, value in query.items():
        if key not in IMAGE_FILTERS:
            raise ValidationError(tr("Unknown query parameter '{name}'.", name=key[:64]), field=key[:64])
        value = value.strip()
        if not value:
            continue
        if key == "type":
            value = value.upper()
            if value not in _IMAGE_TYPES:
                raise ValidationError(tr("'type' must be BUILD_IN or DEDICATED."), field="type")
        elif key == "arch":
            value = value.lower()
            if value not in _ARCHES:
                raise ValidationError(tr("'arch' must be x86_64 or aarch64."), field="arch")
        elif key == "category":
            value = value.upper()
            if value not in _CATEGORIES:
                raise ValidationError(tr("'category' must be CPU, GPU or ASCEND."), field="category")
        elif key == "name":
            if len(value) > 128 or has_control(value):
                raise ValidationError(tr("'name' must be at most 128 printable characters."), field="name")
        out[key] = value
    return out

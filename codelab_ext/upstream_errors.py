"""Upstream failures as codelab_ext errors: the code table, the status rules, Retry-After, back-off.

One mapping for every upstream service (ModelArts and IAM): :func:`error_from_response` turns a
non-2xx answer into the :mod:`codelab_ext.errors` class that says what happened, with a readable
message that never quotes a secret, a header or an HTML page (the body read by
:func:`codelab_ext.errors.read_error_body`). :func:`parse_retry_after` reads both forms of
``Retry-After`` (delta-seconds and HTTP date); :func:`backoff_delay` is the one retry back-off
(exponential with full jitter). The ModelArts codes and their meaning: ``docs/modelarts-api.md``.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import timezone
from typing import Any

from requests.structures import CaseInsensitiveDict

from . import json_bounds
from .errors import (
    AuthError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    QuotaError,
    ThrottledError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    read_error_body,
)
from .i18n import Message, tr
from .text import one_line

__all__ = [
    "ALREADY_CODES",
    "CODE_ERRORS",
    "MAX_UPSTREAM_MESSAGE",
    "backoff_delay",
    "clean_request_id",
    "clean_upstream_text",
    "error_from_response",
    "parse_retry_after",
]

#: the longest upstream text quoted in an error message
MAX_UPSTREAM_MESSAGE = 300

# code → (class, human message). The upstream text, when there is one, is appended.
CODE_ERRORS: dict[str, tuple[type[UpstreamError], Message]] = {
    "ModelArts.6309": (NotFoundError, tr("The instance does not exist (any more)")),
    "ModelArts.6404": (NotFoundError, tr("Not found: the instance or image does not exist")),
    "ModelArts.6357": (NotFoundError, tr("Not found: the instance or image does not exist")),
    "ModelArts.6302": (
        ConflictError,
        tr("You already have a free CodeLab instance (one per user): open, switch or stop that one instead"),
    ),
    "ModelArts.4991": (
        QuotaError,
        tr("The free CodeLab quota is exhausted for now (free-spec quota exceeded); try again later"),
    ),
    "ModelArts.0113": (QuotaError, tr("A ModelArts quota of this account is exhausted")),
    "ModelArts.0118": (QuotaError, tr("A ModelArts quota of this account is exhausted")),
    "ModelArts.6326": (
        QuotaError,
        tr(
            "The instance is frozen, usually because the account is in arrears: top up the account and try "
            "again"
        ),
    ),
    "ModelArts.6329": (
        QuotaError,
        tr(
            "The resources for this instance are sold out in this region right now; try again later or "
            "pick another image"
        ),
    ),
    "ModelArts.6716": (
        QuotaError,
        tr(
            "The resources for this instance are sold out in this region right now; try again later or "
            "pick another image"
        ),
    ),
    "ModelArts.6360": (
        QuotaError,
        tr(
            "ModelArts does not have enough resources for this instance right now; try again in a few minutes"
        ),
    ),
    "ModelArts.6305": (ConflictError, tr("The instance is already running")),
    "ModelArts.6306": (ConflictError, tr("The instance is already starting")),
    "ModelArts.6307": (ConflictError, tr("The instance is already stopped")),
    "ModelArts.6308": (ConflictError, tr("The instance is already stopping")),
    "ModelArts.6346": (ConflictError, tr("ModelArts refused to change the instance's auto-stop lease")),
    "ModelArts.6348": (ConflictError, tr("ModelArts refused to change the instance's auto-stop lease")),
    "ModelArts.6349": (ConflictError, tr("ModelArts refused to change the instance's auto-stop lease")),
    "ModelArts.0207": (
        AuthError,
        tr(
            "The IAM token is not scoped to a project; ModelArts needs a token scoped to the region's project"
        ),
    ),
    "ModelArts.0212": (
        AuthError,
        tr(
            "The IAM token is not scoped to a project; ModelArts needs a token scoped to the region's project"
        ),
    ),
    "APIGW.0301": (
        AuthError,
        tr(
            "The API gateway rejected the request signature: check the access key and secret key, and check "
            "this computer's clock (a local clock more than 15 minutes off makes every signature invalid)"
        ),
    ),
    "APIGW.0308": (
        ThrottledError,
        tr("ModelArts is throttling requests (too many requests); try again shortly"),
    ),
    "APIGW.0101": (
        UpstreamError,
        tr("The API gateway does not know this API: check the ModelArts endpoint and region settings"),
    ),
}

#: codes meaning "the instance is already where start/stop wanted it" (see the module docstring)
ALREADY_CODES = frozenset({"ModelArts.6305", "ModelArts.6306", "ModelArts.6307", "ModelArts.6308"})

_REQUEST_ID_RE = re.compile(r"[\x21-\x7e]{1,128}")


def clean_upstream_text(text: Any, secrets: Iterable[str] = ()) -> str | None:
    """Upstream text fit for a message: secrets removed, then :func:`codelab_ext.text.one_line`."""
    if text is None or isinstance(text, (dict, list, bool)):
        return None
    value = str(text)
    for secret in secrets:
        if secret:
            value = value.replace(secret, "***")
    return one_line(value, MAX_UPSTREAM_MESSAGE) or None


def clean_request_id(value: Any) -> str | None:
    if isinstance(value, str) and _REQUEST_ID_RE.fullmatch(value.strip()):
        return value.strip()
    return None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date (``None`` if neither)."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds and seconds != float("inf") else None
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    current = time.time() if now is None else now
    return max(0.0, moment.timestamp() - current)


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    content: bytes | None,
    *,
    service: str = "ModelArts",
    secrets: Iterable[str] = (),
) -> UpstreamError:
    """The :mod:`codelab_ext.errors` exception for a non-2xx answer.

    Reads every body shape the SDK reads (:func:`~codelab_ext.errors.read_error_body`); the request
    id comes from the body's ``request_id`` or the ``X-Request-Id`` header (``X-IAM-Trace-Id`` for
    IAM). Known codes get a specific class and message (not found comes back as
    HTTP 400 with ``ModelArts.6309``/``6404``/``6357``); otherwise the HTTP status decides. A body
    that is not JSON (an HTML gateway page) gives a readable message and is never quoted.
    """
    secrets = [secret for secret in secrets if secret]
    header_map = CaseInsensitiveDict(headers or {})
    body = content or b""
    data: Any = None
    readable = True
    if body.strip():
        try:
            data = json_bounds.loads(body)
        except (UnicodeDecodeError, ValueError, RecursionError):
            readable = False
    code, upstream_raw, body_request_id = read_error_body(data)
    upstream = clean_upstream_text(upstream_raw, secrets)
    request_id = (
        clean_request_id(body_request_id)
        or clean_request_id(header_map.get("X-Request-Id"))
        or clean_request_id(header_map.get("X-Openstack-Request-Id"))
        or clean_request_id(header_map.get("X-IAM-Trace-Id"))
    )
    retry_after = parse_retry_after(header_map.get("Retry-After"))
    common: dict[str, Any] = {
        "code": code,
        "request_id": request_id,
        "http_status": status,
        "upstream_message": upstream,
    }

    def with_detail(text: Message) -> Message:
        # Huawei Cloud's own words stay as the cloud sent them, after ours
        return tr("{message}: {upstream}", message=text, upstream=upstream) if upstream else text

    if code in CODE_ERRORS:
        cls, human = CODE_ERRORS[code]
        if cls is ThrottledError:
            return ThrottledError(with_detail(human), retry_after=retry_after, **common)
        if cls is UpstreamError:
            return UpstreamError(with_detail(human), status=502, **common)
        return cls(with_detail(human), **common)

    if not readable:
        content_type = str(header_map.get("Content-Type") or "").lower()
        looks_html = "html" in content_type or body.lstrip()[:1] == b"<"
        if looks_html:
            message = tr(
                "{service} answered HTTP {status} with an HTML page instead of JSON",
                service=service,
                status=status,
            )
        else:
            message = tr(
                "{service} answered HTTP {status} with a body that is not JSON",
                service=service,
                status=status,
            )
    else:
        message = with_detail(tr("{service} answered HTTP {status}", service=service, status=status))

    if status == 429:
        return ThrottledError(
            with_detail(
                tr("{service} is throttling requests (HTTP 429); try again shortly", service=service)
            ),
            retry_after=retry_after,
            **common,
        )
    if status == 401:
        return AuthError(
            with_detail(tr("{service} refused the credentials (HTTP 401)", service=service)), **common
        )
    if status == 403:
        return ForbiddenError(
            with_detail(
                tr(
                    "{service} denied the request (HTTP 403): the user may lack permissions for it",
                    service=service,
                )
            ),
            **common,
        )
    if status == 404:
        return NotFoundError(message, **common)
    if status == 409:
        return ConflictError(message, **common)
    if status == 504:
        return UpstreamTimeout(message, **common)
    if status >= 500:
        return UpstreamUnavailable(message, **common)
    if 400 <= status < 500:
        return UpstreamError(message, status=400, **common)
    # 1xx/3xx: nothing we asked for (redirects are not followed: they would drop the signature)
    return UpstreamError(
        tr("{service} answered with an unexpected HTTP {status}", service=service, status=status),
        status=502,
        **common,
    )


def backoff_delay(
    attempt: int, base: float, cap: float, *, uniform: Callable[[float, float], float] = random.uniform
) -> float:
    """Seconds to wait before retry number ``attempt + 1``: ``uniform(0, min(cap, base * 2**attempt))``.

    Exponential back-off with full jitter, so that many clients refused at once do not come back at once.
    """
    return uniform(0.0, min(cap, base * (2 ** max(0, attempt))))

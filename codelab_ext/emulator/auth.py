"""Verifying callers the way the API gateway does: AK/SK signatures and IAM tokens.

The signature is recomputed from what arrived (method, raw path, query pairs, the values of the
headers listed in ``SignedHeaders``, the exact body bytes) with the project's own signing pieces
(:mod:`codelab_ext.signing`) and compared in constant time. Every refusal is HTTP 401 ``APIGW.0301``
(the gateway's "incorrect IAM authentication information"); messages never contain a secret.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from ..signing import canonical_request, compute_signature, parse_authorization, string_to_sign
from .accounts import Account
from .errors import ApiError
from .state import EmulatorState

__all__ = ["MAX_CLOCK_SKEW_SECONDS", "Caller", "authenticate", "check_project"]

#: the gateway refuses an ``X-Sdk-Date`` further than this from its own clock
MAX_CLOCK_SKEW_SECONDS = 15 * 60
_SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Caller:
    """Who made a request: the account, how it authenticated, and a token's project scope."""

    account: Account
    method: str  # "aksk" | "token"
    token_project_id: str | None = None


def _refuse(message: str) -> ApiError:
    return ApiError(
        401, "APIGW.0301", f"Incorrect IAM authentication information: {message}", style="gateway"
    )


def verify_aksk(
    state: EmulatorState,
    method: str,
    path: str,
    query_pairs: list[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
    now: float,
) -> Caller:
    """Check an ``SDK-HMAC-SHA256`` request; ``headers`` keyed by lower-case name."""
    try:
        access_key, signed_names, signature = parse_authorization(headers.get("authorization", ""))
    except ValueError as exc:
        raise _refuse(str(exc)) from None
    account = state.accounts.by_access_key(access_key)
    if account is None:
        raise _refuse(f"the access key {access_key} does not exist")
    sdk_date = headers.get("x-sdk-date")
    if not sdk_date:
        raise _refuse("the X-Sdk-Date header is missing")
    try:
        signed_at = datetime.strptime(sdk_date.strip(), _SDK_DATE_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        raise _refuse("X-Sdk-Date is not in the format YYYYMMDDTHHMMSSZ") from None
    skew = signed_at.timestamp() - now
    if abs(skew) > MAX_CLOCK_SKEW_SECONDS:
        direction = "ahead of" if skew > 0 else "behind"
        raise _refuse(
            f"the request time X-Sdk-Date {sdk_date.strip()} is {abs(skew) / 60:.0f} minutes {direction} the "
            f"server clock (more than {MAX_CLOCK_SKEW_SECONDS // 60} minutes): check the local clock"
        )
    if "x-sdk-date" not in signed_names:
        raise _refuse("X-Sdk-Date must be one of the signed headers")
    # the strictest reading: what the official SDK always signs must be signed
    # (Host always; X-Project-Id and X-Security-Token whenever they are sent)
    for name in ("host", "x-project-id", "x-security-token"):
        if name not in signed_names and (name == "host" or name in headers):
            raise _refuse(f"the header {name} must be one of the signed headers")
    subset: dict[str, str] = {}
    for name in signed_names:
        if name not in headers:
            raise _refuse(f"the signed header {name} is missing from the request")
        subset[name] = headers[name]
    text, signed_headers = canonical_request(method, path, query_pairs, subset, body)
    expected = compute_signature(account.secret_key, string_to_sign(text, sdk_date.strip()))
    if signed_headers != ";".join(signed_names) or not hmac.compare_digest(expected, signature):
        raise _refuse("verify aksk signature fail")
    sent_token = headers.get("x-security-token")
    if account.security_token is not None:
        if not sent_token:
            raise _refuse("the access key is temporary: X-Security-Token is required")
        if not hmac.compare_digest(sent_token.encode(), account.security_token.encode()):
            raise _refuse("the security token is invalid or expired")
    elif sent_token:
        raise _refuse("X-Security-Token was sent with a permanent access key")
    return Caller(account, "aksk")


def verify_token(state: EmulatorState, token: str, now: float) -> Caller:
    """Check an ``X-Auth-Token`` against the tokens this emulator issued."""
    info = state.lookup_token(token.strip())
    if info is None:
        raise _refuse("verify token fail: the token is unknown")
    if info.expires_at <= now:
        raise _refuse("the token has expired")
    return Caller(info.account, "token", info.project_id)


def authenticate(
    state: EmulatorState,
    method: str,
    path: str,
    query_pairs: list[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
) -> Caller:
    """The caller of a request (AK/SK signature first, else IAM token) or ApiError 401."""
    now = state.clock.now()
    if headers.get("authorization"):
        return verify_aksk(state, method, path, query_pairs, headers, body, now)
    if headers.get("x-auth-token"):
        return verify_token(state, headers["x-auth-token"], now)
    raise _refuse("no Authorization (SDK-HMAC-SHA256) or X-Auth-Token header")


def check_project(caller: Caller, project_id: str, headers: Mapping[str, str]) -> None:
    """403 unless ``project_id`` (from the path) is the caller's."""
    if caller.method == "token":
        if caller.token_project_id is None:
            raise ApiError(
                403, "ModelArts.0207", "The token is not scoped to a project: ask IAM for a project token."
            )
        if caller.token_project_id != project_id:
            raise ApiError(
                403, "ModelArts.0212", f"The token is scoped to another project than {project_id}."
            )
        return
    if project_id not in caller.account.project_ids:
        raise ApiError(
            403, "ModelArts.0212", f"The project {project_id} does not belong to the caller's account."
        )
    header_project = headers.get("x-project-id")
    if header_project and header_project != project_id:
        raise ApiError(
            403,
            "ModelArts.0212",
            f"X-Project-Id {header_project} does not match the project {project_id} in the path.",
        )

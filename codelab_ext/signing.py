"""AK/SK request signing (``SDK-HMAC-SHA256``) of upstream calls.

One of the two ways to authenticate a call to ModelArts (``docs/modelarts-api.md``, signing; the other, an
IAM token, is :mod:`codelab_ext.iam_token`):

* **AK/SK signing** (``SDK-HMAC-SHA256``). The pieces of the algorithm are pure functions
  (:func:`canonical_uri`, :func:`canonical_query_string`, :func:`canonical_request`,
  :func:`string_to_sign`, :func:`compute_signature`, :func:`parse_authorization`) so that the emulator
  and the tests can *verify* signatures with exactly the code that produces them
  (:func:`verify_signature`). :func:`sign_request` signs a request without ``requests``;
  :class:`SigningAuth` plugs the same algorithm into a ``requests.Session``.

Nothing in this module logs, formats or ``repr``-s a secret key or a security token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase
from requests.structures import CaseInsensitiveDict

from .credentials import mask_key

__all__ = [
    "ALGORITHM",
    "EMPTY_BODY_SHA256",
    "HEADER_AUTHORIZATION",
    "HEADER_AUTH_TOKEN",
    "HEADER_PROJECT_ID",
    "HEADER_SDK_DATE",
    "HEADER_SECURITY_TOKEN",
    "SDK_SIGNED_HEADERS",
    "UNSIGNED_TRANSPORT_HEADERS",
    "SigningAuth",
    "canonical_query_string",
    "canonical_request",
    "canonical_uri",
    "compute_signature",
    "format_authorization",
    "format_sdk_date",
    "parse_authorization",
    "parse_sdk_date",
    "sign_request",
    "string_to_sign",
    "verify_signature",
]

#: the signing algorithm's name, first line of the string to sign and first word of ``Authorization``
ALGORITHM = "SDK-HMAC-SHA256"
#: hex SHA-256 of the empty body
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()

HEADER_AUTHORIZATION = "Authorization"
HEADER_SDK_DATE = "X-Sdk-Date"
HEADER_SECURITY_TOKEN = "X-Security-Token"  # noqa: S105 (a header name)
HEADER_PROJECT_ID = "X-Project-Id"
HEADER_AUTH_TOKEN = "X-Auth-Token"  # noqa: S105 (a header name)

#: Transport-level headers the signer leaves out of the signature: hop-by-hop headers (RFC 9110 §7.6.1),
#: which proxies may rewrite, and ``Content-Length``, which the HTTP library computes from the body that
#: is signed anyway. ``canonical_request`` itself signs whatever headers it is given.
UNSIGNED_TRANSPORT_HEADERS = frozenset(
    {
        "connection",
        "content-length",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

#: The headers :class:`SigningAuth` signs: exactly those the official SDK's requests carry when its signer
#: runs (``huaweicloudsdkcore/client.py`` adds ``Content-Type`` and ``User-Agent``; ``BasicCredentials``
#: ``X-Project-Id``; ``Credentials.sign_request`` ``X-Security-Token``; ``Signer.sign`` ``X-Sdk-Date`` and
#: ``Host``). Others (``Accept``, ``Accept-Encoding``, ``X-Language``, ...) are sent unsigned: proxies
#: rewrite them, and a rewritten signed header breaks the signature.
SDK_SIGNED_HEADERS = frozenset(
    {"content-type", "host", "user-agent", "x-project-id", "x-sdk-date", "x-security-token"}
)

SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

# Characters left bare by the percent-encoding of the algorithm (besides ASCII letters and digits,
# which ``urllib.parse.quote`` never encodes).
_UNRESERVED = "-_.~"

_AUTHORIZATION_RE = re.compile(
    r"\s*" + re.escape(ALGORITHM) + r"\s+"
    r"Access=(?P<access>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*"
    r"Signature=(?P<signature>[0-9a-fA-F]+)\s*"
)


# --------------------------------------------------------------------------------------------------
# The pure pieces of the algorithm
# --------------------------------------------------------------------------------------------------


def _percent_encode(text: str) -> str:
    """Percent-encode the UTF-8 bytes of ``text``; only ``A-Za-z0-9-_.~`` stay bare."""
    return quote(text, safe=_UNRESERVED, encoding="utf-8", errors="strict")


def canonical_uri(path: str) -> str:
    """The CanonicalURI of a request path.

    The path is URL-decoded, split on ``/``, each segment percent-encoded (only ``A-Za-z0-9-_.~``
    left bare) and a ``/`` appended when it does not already end with one
    (``/v1/p/notebooks/open`` → ``/v1/p/notebooks/open/``; an empty path gives ``/``).
    """
    decoded = unquote(path or "", encoding="utf-8", errors="strict")
    encoded = "/".join(_percent_encode(segment) for segment in decoded.split("/"))
    if not encoded.startswith("/"):
        encoded = "/" + encoded
    if not encoded.endswith("/"):
        encoded += "/"
    return encoded


def canonical_query_string(pairs: Iterable[tuple[str, str]]) -> str:
    """The CanonicalQueryString of decoded ``(key, value)`` pairs.

    Pairs are sorted by key, then by value (on the decoded text, repeated keys kept), key and value
    percent-encoded like path segments and joined as ``k=v`` with ``&``. No pairs give ``""``.
    """
    ordered = sorted((str(key), str(value)) for key, value in pairs)
    return "&".join(f"{_percent_encode(key)}={_percent_encode(value)}" for key, value in ordered)


def _header_text(value: str | bytes) -> str:
    # http.client sends str header values encoded as latin-1, and servers decode them the same way.
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


def _signable_headers(headers: Mapping[str, str | bytes]) -> dict[str, str]:
    """Lower-cased name → stripped value of every header that is signed.

    A header is signed unless its name contains ``_``; ``Authorization`` itself (which carries the
    signature) is never part of the signature.
    """
    selected: dict[str, str] = {}
    for name, value in headers.items():
        lower = str(name).strip().lower()
        if "_" in lower or lower == "authorization" or not lower:
            continue
        selected[lower] = _header_text(value).strip()
    return selected


def canonical_request(
    method: str,
    path: str,
    query_pairs: Iterable[tuple[str, str]],
    headers: Mapping[str, str | bytes],
    body: bytes | str | None,
) -> tuple[str, str]:
    """The canonical request text and its SignedHeaders list (``a;b;c``).

    ``path`` is the request path as sent (encoded or not: it is decoded first), ``query_pairs`` the
    decoded query pairs, ``headers`` the headers to sign (every one whose name has no ``_`` is signed,
    except ``Authorization``), ``body`` the exact bytes sent (``str`` is taken as UTF-8).
    """
    if body is None:
        body = b""
    elif isinstance(body, str):
        body = body.encode("utf-8")
    signable = _signable_headers(headers)
    names = sorted(signable)
    canonical_headers = "".join(f"{name}:{signable[name]}\n" for name in names)
    signed_headers = ";".join(names)
    text = "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query_string(query_pairs),
            canonical_headers,
            signed_headers,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    return text, signed_headers


def string_to_sign(canonical_request_text: str, sdk_date: str) -> str:
    """``SDK-HMAC-SHA256 \\n <X-Sdk-Date> \\n hex(sha256(canonical request))``."""
    digest = hashlib.sha256(canonical_request_text.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{sdk_date}\n{digest}"


def compute_signature(secret_key: str, string_to_sign: str) -> str:
    """hex(HMAC-SHA256(key=secret key, message=string to sign))."""
    return hmac.new(secret_key.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def format_authorization(access_key: str, signed_headers: str, signature: str) -> str:
    """``SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<list>, Signature=<hex>``."""
    return f"{ALGORITHM} Access={access_key}, SignedHeaders={signed_headers}, Signature={signature}"


def parse_authorization(value: str) -> tuple[str, list[str], str]:
    """Split an ``Authorization`` header into (access key, signed header names, signature).

    Raises ``ValueError`` (with a message that does not echo the header) when it is not an
    ``SDK-HMAC-SHA256`` authorization with ``Access``, ``SignedHeaders`` and ``Signature``.
    """
    if not isinstance(value, str):
        raise ValueError("Authorization header is missing or not text")
    match = _AUTHORIZATION_RE.fullmatch(value)
    if match is None:
        raise ValueError(
            "malformed Authorization header: expected "
            f"'{ALGORITHM} Access=..., SignedHeaders=..., Signature=...'"
        )
    names = match.group("signed").split(";")
    if any(not name for name in names):
        raise ValueError("malformed Authorization header: empty name in SignedHeaders")
    return match.group("access"), [name.lower() for name in names], match.group("signature").lower()


def format_sdk_date(now: datetime | float | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ`` in UTC for ``now`` (a datetime, naive meaning UTC, or epoch seconds)."""
    if now is None:
        moment = datetime.now(timezone.utc)
    elif isinstance(now, datetime):
        moment = now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)
    else:
        moment = datetime.fromtimestamp(float(now), timezone.utc)
    return moment.strftime(SDK_DATE_FORMAT)


def parse_sdk_date(value: str) -> datetime:
    """The aware UTC datetime of an ``X-Sdk-Date`` value (``ValueError`` when malformed)."""
    return datetime.strptime(value.strip(), SDK_DATE_FORMAT).replace(tzinfo=timezone.utc)


def verify_signature(
    method: str,
    path: str,
    query_pairs: Iterable[tuple[str, str]],
    headers: Mapping[str, str | bytes],
    body: bytes | str | None,
    secret_key: str,
) -> bool:
    """Whether a received request carries a valid signature for ``secret_key``.

    ``headers`` are the received headers (any extra, unsigned ones are ignored: only the names listed in
    the ``Authorization`` header's ``SignedHeaders`` are used). Raises ``ValueError`` when the
    ``Authorization`` or ``X-Sdk-Date`` header is missing or malformed, or when a signed header is
    missing. The caller looks the secret key up from ``parse_authorization(...)[0]`` and checks the date
    against its clock. The comparison is constant-time.
    """
    lookup = CaseInsensitiveDict(headers)
    _, signed_names, signature = parse_authorization(_header_text(lookup.get(HEADER_AUTHORIZATION, "")))
    sdk_date = lookup.get(HEADER_SDK_DATE)
    if sdk_date is None:
        raise ValueError(f"{HEADER_SDK_DATE} header is missing")
    subset: dict[str, str | bytes] = {}
    for name in signed_names:
        if name not in lookup:
            raise ValueError(f"signed header {name!r} is missing")
        subset[name] = lookup[name]
    text, signed_headers = canonical_request(method, path, query_pairs, subset, body)
    if signed_headers != ";".join(signed_names):
        # SignedHeaders not sorted, duplicated, or listing names that can never be signed
        return False
    expected = compute_signature(secret_key, string_to_sign(text, _header_text(sdk_date).strip()))
    return hmac.compare_digest(expected, signature)


# --------------------------------------------------------------------------------------------------
# Signing a request
# --------------------------------------------------------------------------------------------------


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    raise TypeError(
        f"cannot sign a {type(body).__name__} body: AK/SK signing needs the exact bytes (pass bytes or str)"
    )


def _host_of(parts: Any) -> str:
    """The Host header value of a split URL (netloc without user info)."""
    netloc = parts.netloc.rpartition("@")[2]
    if not netloc:
        raise ValueError("cannot sign a URL without a host")
    return netloc


def _sign_in_place(
    method: str,
    url: str,
    headers: CaseInsensitiveDict[str],
    body: bytes,
    access_key: str,
    secret_key: str,
    security_token: str | None,
    project_id: str | None,
    now: datetime | float | None,
    only: frozenset[str] | None = None,
) -> str:
    """Sign into ``headers`` (mutated) and answer the URL with its query in canonical form.

    ``only``: the lower-case names of the headers to sign (default: every one but the transport ones).
    """
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True, encoding="utf-8", errors="strict")
    query = canonical_query_string(pairs)

    headers.pop(HEADER_AUTHORIZATION, None)
    if not headers.get(HEADER_SDK_DATE):
        headers[HEADER_SDK_DATE] = format_sdk_date(now)
    if not headers.get("Host"):
        headers["Host"] = _host_of(parts)
    if security_token:
        headers[HEADER_SECURITY_TOKEN] = security_token
    if project_id:
        headers[HEADER_PROJECT_ID] = project_id

    to_sign = {
        name: value
        for name, value in headers.items()
        if (name.lower() in only if only is not None else name.lower() not in UNSIGNED_TRANSPORT_HEADERS)
    }
    text, signed_headers = canonical_request(method, parts.path, pairs, to_sign, body)
    sdk_date = _header_text(headers[HEADER_SDK_DATE]).strip()
    signature = compute_signature(secret_key, string_to_sign(text, sdk_date))
    headers[HEADER_AUTHORIZATION] = format_authorization(access_key, signed_headers, signature)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str] | None,
    body: bytes | str | None,
    access_key: str,
    secret_key: str,
    security_token: str | None = None,
    project_id: str | None = None,
    now: datetime | float | None = None,
) -> tuple[str, dict[str, str]]:
    """Sign a request without ``requests``: answer (URL to send, headers to send).

    The URL comes back with its query string in the canonical order and encoding that was signed.
    The headers (a new dict, ``headers`` is not changed) gain ``X-Sdk-Date`` (unless one is present: it
    is kept), ``Host``, ``X-Security-Token`` / ``X-Project-Id`` when given, and ``Authorization``.
    Every header whose name has no ``_`` is signed, except the transport-level ones of
    :data:`UNSIGNED_TRANSPORT_HEADERS`.
    ``now`` (datetime or epoch seconds) fixes the date for tests. ``body`` must be the exact bytes sent
    (``str`` is taken as UTF-8).
    """
    work = CaseInsensitiveDict(dict(headers or {}))
    signed_url = _sign_in_place(
        method, url, work, _body_bytes(body), access_key, secret_key, security_token, project_id, now
    )
    return signed_url, dict(work.items())


class SigningAuth(AuthBase):
    """``requests`` auth that signs every request with AK/SK (``SDK-HMAC-SHA256``).

    Before signing it keeps an existing ``X-Sdk-Date`` (else adds the current UTC time), adds ``Host``,
    ``X-Security-Token`` (temporary credentials) and ``X-Project-Id``; it signs the headers of
    :data:`SDK_SIGNED_HEADERS` that the request has (the official SDK's set: ``Content-Type``, ``Host``,
    ``User-Agent``, ``X-Project-Id``, ``X-Sdk-Date``, ``X-Security-Token``) and the exact body bytes;
    every other header is sent unsigned. It rewrites the prepared URL so that the query string sent is
    the canonical one that was signed.
    """

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        security_token: str | None = None,
        project_id: str | None = None,
    ) -> None:
        if not access_key or not secret_key:
            raise ValueError("SigningAuth needs an access key and a secret key")
        self.access_key = access_key
        self.__secret_key = secret_key
        self.__security_token = security_token or None
        self.project_id = project_id or None

    @property
    def has_security_token(self) -> bool:
        """Whether temporary credentials (a security token) are in use."""
        return self.__security_token is not None

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body
        if body is not None and not isinstance(body, (bytes, bytearray, memoryview, str)):
            raise TypeError("SigningAuth cannot sign a streamed body: pass the body as bytes or str")
        data = _body_bytes(body)
        if isinstance(body, str):
            # Send exactly the bytes that were hashed.
            r.body = data
        r.url = _sign_in_place(
            r.method or "GET",
            r.url or "",
            r.headers,
            data,
            self.access_key,
            self.__secret_key,
            self.__security_token,
            self.project_id,
            None,
            SDK_SIGNED_HEADERS,
        )
        return r

    def __repr__(self) -> str:
        extra = ", security_token=***" if self.__security_token else ""
        project = f", project_id={self.project_id!r}" if self.project_id else ""
        return f"SigningAuth(access_key={mask_key(self.access_key)!r}{extra}{project})"

    __str__ = __repr__

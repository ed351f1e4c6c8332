"""IAM tokens for upstream calls: a project-scoped token from a user name and password.

The second way to authenticate a call to ModelArts (``docs/modelarts-api.md``, signing; the first, AK/SK
signing, is :mod:`codelab_ext.signing`): :class:`IamTokenProvider` gets a project-scoped token
(``POST {iam}/v3/auth/tokens``, password method) and caches it until shortly before it expires;
:class:`TokenAuth` sends it as ``X-Auth-Token`` and, on a 401, refreshes it and retries the request once.
A refused or failed token request is mapped by the one upstream mapping
(:func:`codelab_ext.upstream_errors.error_from_response`), retried with its back-off and Retry-After rules.

Nothing in this module logs, formats or ``repr``-s a password or a token.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import requests
from requests.auth import AuthBase
from requests.cookies import extract_cookies_to_jar

from . import json_bounds, transport
from .errors import AuthError, ThrottledError, UpstreamTimeout, UpstreamUnavailable
from .i18n import tr
from .signing import HEADER_AUTH_TOKEN
from .upstream_errors import backoff_delay, clean_request_id, error_from_response

__all__ = [
    "TOKEN_REFRESH_MARGIN",
    "IamTokenProvider",
    "TokenAuth",
    "parse_expires_at",
]

#: an IAM token is renewed when less than this is left before its ``expires_at``
TOKEN_REFRESH_MARGIN = timedelta(minutes=5)
#: retries of a token request after a dropped connection, a timeout, 502/503/504 or a short 429
TOKEN_FETCH_RETRIES = 2
TOKEN_FETCH_BACKOFF = 0.5
TOKEN_FETCH_MAX_WAIT = 5.0


def parse_expires_at(value: Any) -> datetime | None:
    """An aware UTC datetime from IAM's ``expires_at`` (ISO 8601, ``Z`` or offset, any fraction)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python's fromisoformat wants 3 or 6 fraction digits before 3.11; normalise to 6 anyway.
    match = re.fullmatch(r"(.*T\d{2}:\d{2}:\d{2})\.(\d+)(.*)", text)
    if match:
        fraction = match.group(2).ljust(6, "0")[:6]
        text = f"{match.group(1)}.{fraction}{match.group(3)}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


class IamTokenProvider:
    """A project-scoped IAM token obtained with a user name and password, cached and thread-safe.

    ``token()`` answers the cached token until :data:`TOKEN_REFRESH_MARGIN` before its ``expires_at``,
    then asks IAM again (``POST {iam}/v3/auth/tokens?nocatalog=true``, password method, project scope by
    name, the extension's ``User-Agent``).
    ``project_id`` is the id of that project, read from the token body.
    Errors: :class:`~codelab_ext.errors.AuthError` when IAM refuses the user (401/403),
    :class:`~codelab_ext.errors.UpstreamTimeout` / :class:`~codelab_ext.errors.UpstreamUnavailable` when
    it cannot be reached or answers garbage. No message ever contains the password.
    """

    def __init__(
        self,
        iam_endpoint: str,
        user: str,
        password: str,
        domain: str | None,
        project_name: str,
        session: requests.Session | None = None,
        timeout: float = 30,
        *,
        max_response_bytes: int | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        user_agent: str | None = None,
    ) -> None:
        if not iam_endpoint or not user or not password or not project_name:
            raise ValueError("IamTokenProvider needs an IAM endpoint, a user, a password and a project name")
        self.iam_endpoint = iam_endpoint.rstrip("/")
        self.user = user
        self.__password = password
        self.domain = domain or user
        self.project_name = project_name
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes or transport.DEFAULT_MAX_RESPONSE_BYTES
        self._owns_session = session is None
        self._session = session if session is not None else transport.new_session()
        self._clock = clock
        self._sleep = sleep
        #: sent as ``User-Agent`` with every token request (the extension's, from the client)
        self.user_agent = user_agent
        self._lock = threading.RLock()
        self.__token: str | None = None
        self._expires_at: datetime | None = None
        self._project_id: str | None = None
        #: how many tokens were fetched from IAM (for tests and diagnostics)
        self.fetch_count = 0

    # -- public API ------------------------------------------------------------------------------

    @property
    def token_url(self) -> str:
        return f"{self.iam_endpoint}/v3/auth/tokens"

    @property
    def expires_at(self) -> datetime | None:
        """When the cached token expires (``None`` before the first token)."""
        return self._expires_at

    @property
    def project_id(self) -> str | None:
        """The id of the scoped project (fetches a token first if none was fetched yet)."""
        with self._lock:
            if self._project_id is None and self.__token is None:
                self.token()
            return self._project_id

    def token(self) -> str:
        """A valid token: the cached one, or a fresh one when it is missing or about to expire."""
        with self._lock:
            if self.__token is not None and self._expires_at is not None:
                now = datetime.fromtimestamp(self._clock(), timezone.utc)
                if now < self._expires_at - TOKEN_REFRESH_MARGIN:
                    return self.__token
            self._fetch_with_retries()
            assert self.__token is not None
            return self.__token

    def _fetch_with_retries(self) -> None:
        """Getting a token is idempotent: retry a dropped connection, a timeout, a 502/503/504 or a
        short 429 (``TOKEN_FETCH_RETRIES`` times, short back-off), never a refusal."""
        for attempt in range(TOKEN_FETCH_RETRIES + 1):
            try:
                self._fetch()
                return
            except ThrottledError as exc:
                wait = (
                    exc.retry_after
                    if exc.retry_after is not None
                    else backoff_delay(attempt, TOKEN_FETCH_BACKOFF, TOKEN_FETCH_MAX_WAIT)
                )
                if attempt == TOKEN_FETCH_RETRIES or wait > TOKEN_FETCH_MAX_WAIT:
                    raise
            except UpstreamUnavailable as exc:  # includes UpstreamTimeout
                if attempt == TOKEN_FETCH_RETRIES or exc.http_status not in (None, 502, 503, 504):
                    raise
                wait = backoff_delay(attempt, TOKEN_FETCH_BACKOFF, TOKEN_FETCH_MAX_WAIT)
            self._sleep(wait)

    def invalidate(self, token: str | None = None) -> None:
        """Forget the cached token (only if it is still ``token``, when one is given)."""
        with self._lock:
            if token is None or token == self.__token:
                self.__token = None
                self._expires_at = None

    def close(self) -> None:
        """Release the HTTP session if this provider created it (a given session is left open)."""
        if self._owns_session:
            self._session.close()

    def __repr__(self) -> str:
        return (
            f"IamTokenProvider(iam_endpoint={self.iam_endpoint!r}, user={self.user!r}, "
            f"domain={self.domain!r}, project_name={self.project_name!r})"
        )

    __str__ = __repr__

    # -- internals -------------------------------------------------------------------------------

    def _request_body(self) -> bytes:
        payload = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": self.user,
                            "password": self.__password,
                            "domain": {"name": self.domain},
                        }
                    },
                },
                "scope": {"project": {"name": self.project_name}},
            }
        }
        return json.dumps(payload).encode("utf-8")

    def _fetch(self) -> None:
        where = f"IAM at {self.iam_endpoint}"
        try:
            headers = {"Content-Type": "application/json;charset=utf8", "X-Language": "en-us"}
            if self.user_agent:
                headers["User-Agent"] = self.user_agent
            # the whole exchange within self.timeout, the answer capped (codelab_ext.transport)
            response, _ = transport.send(
                self._session,
                "POST",
                self.token_url,
                timeout=self.timeout,
                max_bytes=self.max_response_bytes,
                # KeystoneCreateUserTokenByPasswordRequest (huaweicloudsdkiam): nocatalog leaves the
                # service catalogue (tens of kB we never read) out of the answer
                params={"nocatalog": "true"},
                data=self._request_body(),
                headers=headers,
            )
        except transport.ResponseTooLarge as exc:
            raise UpstreamUnavailable(
                tr(
                    "{where} sent a token answer larger than {limit} bytes; it was refused",
                    where=where,
                    limit=exc.limit,
                ),
                http_status=exc.status,
            ) from None
        except requests.Timeout:
            raise UpstreamTimeout(
                tr("{where} did not answer within {timeout:g} s", where=where, timeout=self.timeout)
            ) from None
        except requests.RequestException as exc:
            reason = type(exc).__name__
            raise UpstreamUnavailable(
                tr("cannot reach {where} ({reason})", where=where, reason=reason)
            ) from None

        status = response.status_code
        request_id = clean_request_id(response.headers.get("X-Request-Id")) or clean_request_id(
            response.headers.get("X-IAM-Trace-Id")
        )
        if status not in (200, 201):
            error = error_from_response(
                status, response.headers, response.content, service="IAM", secrets=[self.__password]
            )
            if status in (401, 403):
                upstream = error.upstream_message
                detail = f": {upstream}" if upstream else ""
                raise AuthError(
                    tr(
                        "IAM refused the sign-in of user {user!r} in account {domain!r} for project "
                        "{project_name!r} (HTTP {status}){detail}",
                        user=self.user,
                        domain=self.domain,
                        project_name=self.project_name,
                        status=status,
                        detail=detail,
                    ),
                    http_status=status,
                    request_id=error.request_id,
                    upstream_message=upstream,
                )
            raise error

        token = response.headers.get("X-Subject-Token", "").strip()
        if not token:
            raise UpstreamUnavailable(
                tr(
                    "{where} answered HTTP {status} without an X-Subject-Token header",
                    where=where,
                    status=status,
                ),
                http_status=status,
                request_id=request_id,
            )
        try:
            body = json_bounds.loads(response.content)
        except ValueError:
            body = {}
        token_info = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token_info, dict):
            token_info = {}
        now = datetime.fromtimestamp(self._clock(), timezone.utc)
        expires_at = parse_expires_at(token_info.get("expires_at"))
        if expires_at is None:
            # No readable expiry: keep it a short while rather than 24 hours on faith.
            expires_at = now + TOKEN_REFRESH_MARGIN + timedelta(minutes=30)
        project = token_info.get("project")
        project_id = project.get("id") if isinstance(project, dict) else None

        self.__token = token
        self._expires_at = expires_at
        if project_id:
            self._project_id = str(project_id)
        self.fetch_count += 1


class TokenAuth(AuthBase):
    """``requests`` auth that sends an IAM token as ``X-Auth-Token``.

    When the answer is a 401, the token is invalidated and the request is sent once more with a fresh
    token (never more than once per request).
    """

    _RETRIED_ATTR = "_codelab_token_retried"

    def __init__(self, provider: IamTokenProvider) -> None:
        self.provider = provider

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers[HEADER_AUTH_TOKEN] = self.provider.token()
        r.register_hook("response", self._retry_on_401)  # type: ignore[no-untyped-call]
        return r

    def _retry_on_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        request = response.request
        if response.status_code != 401 or getattr(request, self._RETRIED_ATTR, False):
            return response
        body = request.body
        if body is not None and not isinstance(body, (bytes, bytearray, str)):
            return response  # a consumed stream cannot be replayed
        used = request.headers.get(HEADER_AUTH_TOKEN)
        self.provider.invalidate(used if isinstance(used, str) else None)
        fresh = self.provider.token()

        # Drain and release the connection of the refused answer before reusing it.
        try:
            transport.read_body(response, self.provider.max_response_bytes)
        except requests.RequestException:
            return response  # the refused answer could not be read: leave it refused
        response.close()
        retry = request.copy()
        setattr(retry, self._RETRIED_ATTR, True)
        extract_cookies_to_jar(retry._cookies, request, response.raw)  # type: ignore[attr-defined,no-untyped-call]
        retry.prepare_cookies(retry._cookies)  # type: ignore[attr-defined]
        retry.headers[HEADER_AUTH_TOKEN] = fresh
        second = response.connection.send(retry, **kwargs)
        second.history.append(response)
        second.request = retry
        return second

    def __repr__(self) -> str:
        return f"TokenAuth({self.provider!r})"

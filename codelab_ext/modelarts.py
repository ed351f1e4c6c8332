"""The ModelArts client: signed, timed, retried calls around ``POST /v1/{project_id}/notebooks/open``.

:class:`ModelArtsClient` owns one ``requests.Session`` per credential set and answers the
normalised shapes of :mod:`codelab_ext.models`. Every failure becomes one of the
:mod:`codelab_ext.errors` classes in one place (:mod:`codelab_ext.upstream_errors` for answers,
:meth:`ModelArtsClient._call` for transport failures), with a readable message that never
contains a secret key, a security token, a password, a header or a query string.

Retry policy (``max_retries`` retries at most, exponential back-off with full jitter:
``uniform(0, min(backoff_cap, backoff_base * 2**attempt))``, base 0.5 s, cap 8 s):

* **GET** and **PATCH lease** are idempotent (PATCH sets the lease "from now": sending it twice
  only moves the end by the time between the two) and are retried after a connection error, a
  timeout, a 429 and a 502/503/504.
* **POST start / stop** are idempotent *in effect*: they are retried on the same conditions, and
  if a retried attempt is refused because the instance is already running/starting/stopped/
  stopping (``ModelArts.6305`` to ``6308``), the earlier attempt evidently got through, so the
  current instance is fetched and returned instead of a misleading conflict.
* **POST open is never re-sent.** If it fails without a usable answer (timeout, dropped or refused
  connection, 5xx, unreadable 2xx), the instances are listed: an instance with the requested image
  (any instance when no image was asked) is returned; otherwise the original error is raised.
* A 429 with ``Retry-After`` (seconds or an HTTP date) waits exactly that long when it is at most
  ``retry_after_cap`` (60 s); a longer one is not waited for: :class:`ThrottledError` is raised at
  once with ``retry_after`` set.
* Every attempt is a new request, so :class:`~codelab_ext.signing.SigningAuth` signs it afresh
  (new ``X-Sdk-Date``). A 401 on IAM-token auth is refreshed and re-sent once by
  :class:`~codelab_ext.iam_token.TokenAuth` (the request was refused, so nothing was executed).

Logging is at DEBUG only: method, path, status, elapsed time and request id.
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import requests

from . import json_bounds, transport
from .credentials import Credentials
from .errors import (
    AuthError,
    CodeLabError,
    ConfigError,
    ConflictError,
    CredentialsError,
    ForbiddenError,
    ThrottledError,
    UpstreamTimeout,
    UpstreamUnavailable,
    ValidationError,
)
from .i18n import tr
from .iam_token import IamTokenProvider, TokenAuth
from .models import (
    lease_would_shorten,
    normalise_free_flavor,
    normalise_image,
    normalise_instance,
    normalise_lease,
)
from .regions import check_region
from .shapes import FreeFlavor, Image, Instance, Lease
from .share_url import normalise_share_url
from .signing import SigningAuth
from .upstream_errors import ALREADY_CODES, backoff_delay, clean_request_id, error_from_response
from .validation import validate_duration_ms, validate_id

__all__ = [
    "USER_AGENT",
    "ModelArtsClient",
    "encode_share_url",
]

if TYPE_CHECKING:
    from .config import CodeLab

log = logging.getLogger("codelab_ext.modelarts")

#: ListNotebooks ``limit`` must be one of these (huaweicloudsdkmodelarts ListNotebooksRequest: [10,20,50])
INSTANCES_PAGE_SIZES = (10, 20, 50)
INSTANCES_PAGE_SIZE = 50
#: ListImage ``limit`` is a positive integer, default 200 (huaweicloudsdkmodelarts ListImageRequest)
IMAGES_PAGE_SIZE = 200
#: flavors per ListFlavors page (a handful exist)
FLAVORS_PAGE_SIZE = 100
#: ListImage ``type`` values; without ``type`` the service lists BUILD_IN only (ListImageRequest)
IMAGE_TYPES = ("BUILD_IN", "DEDICATED")
#: a paged listing never asks for more pages than this (a server that ignores ``offset`` cannot loop us)
MAX_PAGES = 100
#: answers after which an idempotent call is retried (besides 429)
RETRY_STATUSES = frozenset({502, 503, 504})


def _package_version() -> str:
    try:
        return importlib.metadata.version("codelab_ext")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


USER_AGENT = f"codelab-ext/{_package_version()}"

# --------------------------------------------------------------------------- share URLs


def encode_share_url(url: str) -> str:
    """Standard Base64 (``+/``, padded) of the UTF-8 bytes of ``url``: what ``share_url`` carries."""
    return base64.b64encode(url.encode("utf-8")).decode("ascii")


# --------------------------------------------------------------------------- the client

_NEVER = "never"  # never re-sent (open)
_IDEMPOTENT = "idempotent"  # GET, PATCH lease, POST start/stop (see the module docstring)


class _AlreadyThere(Exception):
    """Internal: a retried start/stop met 'already running/starting/stopped/stopping'."""


class ModelArtsClient:
    """ModelArts calls for one credential set, over one ``requests.Session``.

    ``credentials`` is a :class:`~codelab_ext.credentials.Credentials`: kind ``"aksk"`` signs every
    call (``X-Project-Id`` signed in), kind ``"password"`` uses an IAM token. The project id is,
    in order: ``project_id``, the credentials' own (when they are for ``region`` or name no region),
    the project of the IAM token (password credentials), then ``GET {iam}/v3/projects?name={region}``;
    it is looked up once and cached.

    ``timeout`` is the deadline of every request: connecting, the headers and the whole body
    (:mod:`codelab_ext.transport`; connecting alone may take at most ``connect_timeout``, by default
    the smaller of ``timeout`` and 10 s); ``max_response_bytes`` caps every answer.
    ``backoff_base``, ``backoff_cap``, ``retry_after_cap`` and ``sleep`` shape the retries (see the
    module docstring); tests make them tiny. Every method returns normalised dicts
    (:mod:`codelab_ext.models`) and raises only :class:`~codelab_ext.errors.CodeLabError` subclasses.
    """

    def __init__(
        self,
        credentials: Credentials | None,
        *,
        region: str,
        modelarts_endpoint: str,
        iam_endpoint: str,
        project_id: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        session: requests.Session | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        retry_after_cap: float = 60.0,
        connect_timeout: float | None = None,
        max_response_bytes: int = transport.DEFAULT_MAX_RESPONSE_BYTES,
        sleep: Callable[[float], None] = time.sleep,
        check_ssh_reachability: bool = True,
    ) -> None:
        if credentials is None:
            raise CredentialsError.none_configured()
        kind = credentials.kind
        if kind not in ("aksk", "password"):
            raise CredentialsError(
                tr("These credentials are neither an AK/SK pair nor an IAM user and password.")
            )
        if not region:
            raise ConfigError(tr("No region is configured."))
        self.credentials = credentials
        self.region = region
        self.modelarts_endpoint = self._check_endpoint(modelarts_endpoint, "modelarts_endpoint")
        self.iam_endpoint = self._check_endpoint(iam_endpoint, "iam_endpoint")
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout) if connect_timeout else min(self.timeout, 10.0)
        self.max_retries = max(0, int(max_retries))
        self.max_response_bytes = max(1, int(max_response_bytes))
        self.backoff_base = float(backoff_base)
        self.backoff_cap = float(backoff_cap)
        self.retry_after_cap = float(retry_after_cap)
        self._sleep = sleep
        #: mark SSH endpoints that cannot be reached from outside (``models.ssh_unreachable_reason``)
        self.check_ssh_reachability = bool(check_ssh_reachability)
        self._owns_session = session is None
        self._session = session if session is not None else self._new_session()
        self._lock = threading.Lock()
        self._request_count = 0
        self._secrets = [
            secret
            for secret in (
                # not a secret, but users paste the secret key into the access key field: upstream's
                # "access key <value> does not exist" must never echo it
                credentials.access_key,
                credentials.secret_key,
                credentials.security_token,
                credentials.iam_password,
            )
            if secret
        ]

        creds_project = credentials.project_id
        creds_region = credentials.region
        if not project_id and creds_project and creds_region in (None, "", region):
            project_id = creds_project
        self._project_id: str | None = project_id or None

        self._token_provider: Any = None
        if kind == "aksk":
            self._iam_auth: requests.auth.AuthBase = SigningAuth(
                *credentials.signing_keys, credentials.security_token
            )
            self._modelarts_auth: requests.auth.AuthBase | None = None  # built once the project is known
        else:
            self._token_provider = IamTokenProvider(
                self.iam_endpoint,
                *credentials.password_login,
                credentials.iam_domain,
                region,
                session=self._session,
                timeout=self.timeout,
                max_response_bytes=self.max_response_bytes,
                user_agent=USER_AGENT,
            )
            self._iam_auth = TokenAuth(self._token_provider)
            self._modelarts_auth = self._iam_auth

    # ----------------------------------------------------------------- construction

    @classmethod
    def from_config(
        cls,
        config: CodeLab,
        credentials: Credentials | None = None,
        *,
        region: str | None = None,
        **kwargs: Any,
    ) -> ModelArtsClient:
        """A client for a :class:`~codelab_ext.config.CodeLab` configuration (the server's and the CLI's).

        Without ``credentials`` they are resolved from the usual sources; none found is a
        :class:`~codelab_ext.errors.CredentialsError`. The region is ``region``, else the one stored
        with the credentials, else the configured one; the public default endpoints follow it
        (``CodeLab.endpoints_for``). The credentials' own project id is used by the client only when
        it belongs to that region. A region ModelArts is not known to run in (other than the configured
        one) is a :class:`~codelab_ext.errors.ValidationError` naming the known regions
        (:func:`codelab_ext.regions.check_region`). Extra keyword arguments go to the constructor.
        """
        if credentials is None:
            from .credentials import resolve_credentials

            credentials = resolve_credentials(config.credentials_file)
        if credentials is None:
            raise CredentialsError.none_configured()
        region = check_region(region or credentials.region or config.region, configured=config.region)
        modelarts_endpoint, iam_endpoint = config.endpoints_for(region, credentials.iam_endpoint)
        log.debug(
            "client: region %s, modelarts %s, iam %s, credentials from %s (key %s)",
            region,
            modelarts_endpoint,
            iam_endpoint,
            credentials.source,
            credentials.masked_key,
        )
        return cls(
            credentials,
            region=region,
            modelarts_endpoint=modelarts_endpoint,
            iam_endpoint=iam_endpoint,
            project_id=config.project_id or None,
            timeout=config.request_timeout,
            max_retries=config.max_retries,
            max_response_bytes=config.max_response_bytes,
            **{"check_ssh_reachability": config.ssh_reachability_check, **kwargs},
        )

    @staticmethod
    def _check_endpoint(value: str, name: str) -> str:
        text = (value or "").strip().rstrip("/")
        try:
            parts = urlsplit(text)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(tr("{name} must be an http(s) URL with a host.", name=name))
        return text

    @staticmethod
    def _new_session() -> requests.Session:
        # urllib3 never re-sends anything on its own (retries are decided here, per call), and
        # every socket read honours the call's deadline (see codelab_ext.transport)
        return transport.new_session()

    def close(self) -> None:
        """Release the connections (the session is closed only if this client created it)."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> ModelArtsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"ModelArtsClient(region={self.region!r}, modelarts_endpoint={self.modelarts_endpoint!r}, "
            f"credentials={self.credentials!r})"
        )

    @property
    def request_count(self) -> int:
        """How many HTTP requests this client has sent (every attempt counts; IAM token fetches do not)."""
        with self._lock:
            return self._request_count

    # ----------------------------------------------------------------- project id

    @property
    def project_id(self) -> str:
        """The project id (configured, from the credentials, or discovered through IAM once)."""
        with self._lock:
            if self._project_id:
                return self._project_id
        discovered = self._discover_project_id()
        with self._lock:
            if not self._project_id:
                self._project_id = discovered
            return self._project_id

    def _discover_project_id(self) -> str:
        if self._token_provider is not None:
            token_project = self._token_provider.project_id
            if token_project:
                return str(token_project)
        data = self._call(
            "GET",
            "/v3/projects",
            params=[("name", self.region)],
            service="IAM",
            base=self.iam_endpoint,
            auth=self._iam_auth,
        )
        projects = data.get("projects") if isinstance(data, Mapping) else None
        if not isinstance(projects, list):
            raise UpstreamUnavailable(tr("IAM answered the project lookup with an unreadable answer"))
        matches = [
            project
            for project in projects
            if isinstance(project, Mapping) and project.get("name") == self.region and project.get("id")
        ]
        if not matches:
            raise ConfigError(
                tr(
                    "IAM knows no project named {region!r} for these credentials: check the region, "
                    "or set the project id (c.CodeLab.project_id or HUAWEICLOUD_SDK_PROJECT_ID).",
                    region=self.region,
                )
            )
        if len(matches) > 1:
            raise ConfigError(
                tr(
                    "IAM lists {count} projects named {region!r}: set the project id to use "
                    "(c.CodeLab.project_id or HUAWEICLOUD_SDK_PROJECT_ID).",
                    count=len(matches),
                    region=self.region,
                )
            )
        return str(matches[0]["id"])

    def _auth_for_modelarts(self, project_id: str) -> requests.auth.AuthBase:
        if self._modelarts_auth is None:
            creds = self.credentials
            auth = SigningAuth(*creds.signing_keys, creds.security_token, project_id=project_id)
            with self._lock:
                if self._modelarts_auth is None:
                    self._modelarts_auth = auth
        assert self._modelarts_auth is not None
        return self._modelarts_auth

    # ----------------------------------------------------------------- transport

    def _count(self) -> None:
        with self._lock:
            self._request_count += 1

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, self.backoff_base, self.backoff_cap)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        body: Any = None,
        retry: str = _IDEMPOTENT,
        service: str = "ModelArts",
        base: str | None = None,
        auth: requests.auth.AuthBase | None = None,
        already_codes: frozenset[str] = frozenset(),
    ) -> Any:
        """Send one call (with retries per ``retry``) and answer its parsed JSON (``None`` if empty).

        ``path`` is the path below ``base`` (default: the ModelArts endpoint; then ``auth`` defaults
        to the project's ModelArts auth). ``already_codes``: a retried attempt refused with one of
        these raises :class:`_AlreadyThere`.
        """
        if base is None:
            base = self.modelarts_endpoint
        if auth is None:
            auth = self._auth_for_modelarts(self.project_id)
        url = base + path
        host = urlsplit(base).netloc
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Language": "en-us",
            "User-Agent": USER_AGENT,
        }
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        attempt = 0
        while True:
            error: CodeLabError
            retriable = False
            started = time.monotonic()
            self._count()
            try:
                # the whole exchange (connect, headers, body) within self.timeout, the body capped
                response, content = transport.send(
                    self._session,
                    method,
                    url,
                    timeout=self.timeout,
                    max_bytes=self.max_response_bytes,
                    connect_timeout=self.connect_timeout,
                    params=params,
                    data=data,
                    headers=dict(headers),
                    auth=auth,
                )
            except CodeLabError:
                raise  # from the token provider: already one of ours
            except transport.ResponseTooLarge as exc:
                raise UpstreamUnavailable(
                    tr(
                        "{service} at {host} sent an answer larger than {limit} bytes ({method} {path}); "
                        "it was refused and the connection closed (c.CodeLab.max_response_bytes)",
                        service=service,
                        host=host,
                        limit=exc.limit,
                        method=method,
                        path=path,
                    ),
                    http_status=exc.status,
                ) from None
            except requests.exceptions.Timeout as exc:
                elapsed = time.monotonic() - started
                log.debug("%s %s -> %s after %.0f ms", method, path, type(exc).__name__, elapsed * 1000)
                error = UpstreamTimeout(
                    tr(
                        "{service} at {host} did not answer within {timeout:g} s ({method} {path})",
                        service=service,
                        host=host,
                        timeout=self.timeout,
                        method=method,
                        path=path,
                    )
                )
                retriable = retry == _IDEMPOTENT
            except requests.exceptions.SSLError:
                error = UpstreamUnavailable(
                    tr(
                        "TLS failed with {service} at {host} ({method} {path})",
                        service=service,
                        host=host,
                        method=method,
                        path=path,
                    )
                )
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ) as exc:
                elapsed = time.monotonic() - started
                log.debug("%s %s -> %s after %.0f ms", method, path, type(exc).__name__, elapsed * 1000)
                error = UpstreamUnavailable(
                    tr(
                        "Cannot reach {service} at {host}: the connection failed or was dropped "
                        "({method} {path})",
                        service=service,
                        host=host,
                        method=method,
                        path=path,
                    )
                )
                retriable = retry == _IDEMPOTENT
            except requests.exceptions.RequestException as exc:
                raise ConfigError(
                    tr(
                        "Cannot send a request to {service} at {host} ({error_type}): check the endpoint",
                        service=service,
                        host=host,
                        error_type=type(exc).__name__,
                    )
                ) from None
            else:
                elapsed = time.monotonic() - started
                status = response.status_code
                request_id = clean_request_id(response.headers.get("X-Request-Id"))
                log.debug(
                    "%s %s -> %s in %.0f ms (request id %s)", method, path, status, elapsed * 1000, request_id
                )
                if 200 <= status < 300:
                    return self._parse_ok(content, status, service, request_id)
                error = error_from_response(
                    status, response.headers, content, service=service, secrets=self._secrets
                )
                if attempt > 0 and error.code in already_codes:
                    raise _AlreadyThere(error.code)
                if retry == _IDEMPOTENT:
                    retriable = status in RETRY_STATUSES or isinstance(error, ThrottledError)
            if not retriable or attempt >= self.max_retries:
                raise error
            delay = self._backoff(attempt)
            if isinstance(error, ThrottledError) and error.retry_after is not None:
                if error.retry_after > self.retry_after_cap:
                    raise error
                delay = error.retry_after
            log.debug("%s %s: retry %d in %.2f s", method, path, attempt + 1, delay)
            self._sleep(delay)
            attempt += 1

    @staticmethod
    def _parse_ok(content: bytes, status: int, service: str, request_id: str | None) -> Any:
        if not content or not content.strip():
            return None
        try:
            return json_bounds.loads(content)
        except json_bounds.JSONTooDeep:
            raise UpstreamUnavailable(
                tr(
                    "{service} answered HTTP {status} with JSON nested deeper than {MAX_JSON_DEPTH} "
                    "levels (refused)",
                    service=service,
                    status=status,
                    MAX_JSON_DEPTH=json_bounds.MAX_JSON_DEPTH,
                ),
                http_status=status,
                request_id=request_id,
            ) from None
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise UpstreamUnavailable(
                tr(
                    "{service} answered HTTP {status} with an unreadable answer (not valid JSON)",
                    service=service,
                    status=status,
                ),
                http_status=status,
                request_id=request_id,
            ) from None

    def _notebooks(self, suffix: str = "") -> str:
        return f"/v1/{quote(self.project_id, safe='')}/notebooks{suffix}"

    def _images(self, suffix: str = "") -> str:
        return f"/v1/{quote(self.project_id, safe='')}/images{suffix}"

    def _instance(self, data: Mapping[str, Any]) -> Instance:
        return normalise_instance(data, check_ssh_reachability=self.check_ssh_reachability)

    @staticmethod
    def _object(data: Any, what: str) -> Mapping[str, Any]:
        if not isinstance(data, Mapping):
            raise UpstreamUnavailable(
                tr("ModelArts answered {what} with an unreadable answer (no JSON object)", what=what)
            )
        return data

    def _paged(
        self, path: str, params: list[tuple[str, str]], page_size: int, list_keys: tuple[str, ...]
    ) -> list[Any]:
        """Every item of a paged listing: ``limit``/``offset`` until ``total`` is reached.

        Also reads a bare list or ``{<list_key>: [...]}`` (one page then, unless ``total`` says more).
        Stops on an empty page, a page that adds nothing new (a server ignoring ``offset``) or after
        :data:`MAX_PAGES` pages.
        """
        items: list[Any] = []
        seen: set[str] = set()
        offset = 0
        for _ in range(MAX_PAGES):
            query = [*params, ("limit", str(page_size)), ("offset", str(offset))]
            data = self._call("GET", path, params=query)
            total: int | None = None
            page: list[Any] | None
            if isinstance(data, list):
                page = data
            elif isinstance(data, Mapping):
                page = next((data[key] for key in list_keys if isinstance(data.get(key), list)), None)
                if page is None:
                    if any(key in data for key in list_keys) or not data:
                        page = []
                    else:
                        raise UpstreamUnavailable(
                            tr("ModelArts answered a listing with an unreadable answer")
                        )
                raw_total = data.get("total")
                if isinstance(raw_total, int) and not isinstance(raw_total, bool):
                    total = raw_total
            elif data is None:
                page = []
            else:
                raise UpstreamUnavailable(tr("ModelArts answered a listing with an unreadable answer"))
            added = 0
            for item in page:
                key = item.get("id") if isinstance(item, Mapping) else None
                if isinstance(key, str) and key:
                    if key in seen:
                        continue
                    seen.add(key)
                items.append(item)
                added += 1
            if not page or added == 0 or isinstance(data, list):
                break
            if total is not None:
                if len(items) >= total:
                    break
            elif len(page) < page_size:
                break
            offset += len(page)
        return items

    # ----------------------------------------------------------------- operations

    def check_credentials(self) -> None:
        """The cheapest signed call: one page of the smallest documented size; raises AuthError, ..."""
        params = [("feature", "DEFAULT"), ("limit", str(min(INSTANCES_PAGE_SIZES))), ("offset", "0")]
        self._call("GET", self._notebooks(), params=params)

    def verify_new_credentials(self, note: str = "") -> str:
        """Check credentials a user just typed; answer the project id they work in.

        A refusal (401/403) is re-raised as the same error class with the message
        "The cloud refused these credentials: ..." (plus ``note``), so the panel and the CLI say
        the same thing; other failures (unreachable, throttled) pass through unchanged.
        """
        try:
            self.check_credentials()
        except (AuthError, ForbiddenError) as exc:
            raise type(exc)(
                tr("The cloud refused these credentials: {message}{note}", message=exc.message, note=note),
                code=exc.code,
                request_id=exc.request_id,
                http_status=exc.http_status,
                upstream_message=exc.upstream_message,
            ) from None
        return self.project_id

    def open(self, image_id: str | None = None, share_url: str | None = None) -> Instance:
        """Open the free CodeLab (``POST .../notebooks/open``) and answer the instance.

        ``image_id``: the image (default: the multi-kernel CPU image). ``share_url``: a plain
        http(s) URL of an ``.ipynb`` (validated, GitHub/gist pages turned into raw URLs, then
        Base64-encoded here). Never re-sent: see the module docstring.
        """
        body: dict[str, str] = {}
        if image_id is not None:
            body["image_id"] = validate_id(image_id, "image_id")
        if share_url is not None:
            body["share_url"] = encode_share_url(normalise_share_url(share_url))
        path = self._notebooks("/open")
        try:
            data = self._call("POST", path, body=body, retry=_NEVER)
            instance = self._instance(self._object(data, tr("the open call")))
            if not instance.get("id"):
                raise UpstreamUnavailable(tr("ModelArts answered the open call without an instance id"))
            return instance
        except UpstreamUnavailable as exc:  # includes UpstreamTimeout: the outcome is unknown
            found = self._find_opened(image_id)
            if found is None:
                raise exc from None
            log.debug(
                "open failed (%s) but instance %s exists: answering it", type(exc).__name__, found["id"]
            )
            return found

    def _find_opened(self, image_id: str | None) -> Instance | None:
        """After an open of unknown outcome: the instance it would have opened, if one exists now."""
        try:
            instances = self.list_instances()
        except CodeLabError:
            return None
        for instance in instances:
            if str(instance.get("status") or "").upper() in ("DELETED", "DELETING"):
                continue
            image = instance.get("image")
            if image_id is None or (image is not None and image.get("id") == image_id):
                return instance
        return None

    def list_instances(self) -> list[Instance]:
        """Every free CodeLab instance (``GET .../notebooks?feature=DEFAULT``, all pages)."""
        items = self._paged(
            self._notebooks(), [("feature", "DEFAULT")], INSTANCES_PAGE_SIZE, ("data", "notebooks")
        )
        return [self._instance(item) for item in items if isinstance(item, Mapping)]

    def get_instance(self, instance_id: str) -> Instance:
        """One instance (``GET .../notebooks/{id}``)."""
        instance_id = validate_id(instance_id)
        data = self._call("GET", self._notebooks(f"/{instance_id}"))
        return self._instance(self._object(data, tr("the instance lookup")))

    def start(
        self, instance_id: str, duration_ms: int | None = None, *, lease_type: str | None = None
    ) -> Instance:
        """Start an instance (``POST .../start``, query ``duration``/``type`` when given); answer it."""
        instance_id = validate_id(instance_id)
        params: list[tuple[str, str]] = []
        if duration_ms is not None:
            params.append(("duration", str(validate_duration_ms(duration_ms))))
        if lease_type is not None:
            if lease_type not in ("TIMING", "IDLE"):
                raise ValidationError(tr("The lease type must be TIMING or IDLE."), field="type")
            params.append(("type", lease_type))
        return self._action(instance_id, "start", params)

    def stop(self, instance_id: str) -> Instance:
        """Stop an instance (``POST .../stop``); answer it."""
        return self._action(validate_id(instance_id), "stop", [])

    def _action(self, instance_id: str, verb: str, params: list[tuple[str, str]]) -> Instance:
        try:
            data = self._call(
                "POST",
                self._notebooks(f"/{instance_id}/{verb}"),
                params=params or None,
                already_codes=ALREADY_CODES,
            )
        except _AlreadyThere:
            return self.get_instance(instance_id)
        except UpstreamUnavailable as exc:
            # a 2xx whose body was unreadable: the action was accepted, so answer the instance as it is now
            if exc.http_status is not None and 200 <= exc.http_status < 300:
                return self.get_instance(instance_id)
            raise
        if isinstance(data, Mapping) and data.get("id"):
            return self._instance(data)
        return self.get_instance(instance_id)

    def running_instance(self, instance_id: str) -> Instance:
        """The instance if it is RUNNING, else :class:`~codelab_ext.errors.ConflictError` (409).

        ShowLease and RenewLease need a running instance (the SDK documents both so), so the server
        and the CLI call this first and never ask for the lease of an instance that is not running.
        """
        instance = self.get_instance(instance_id)
        status = str(instance.get("status") or "").upper()
        if status != "RUNNING":
            raise ConflictError(
                tr(
                    "The instance is {value}: its lease can only be read or extended while it is "
                    "RUNNING (start it first).",
                    value=status or "in an unknown status",
                ),
                code="codelab.not_running",
            )
        return instance

    def get_lease(self, instance_id: str) -> Lease:
        """The auto-stop lease (``GET .../lease``) with ``expires_at`` and ``remaining_ms``."""
        instance_id = validate_id(instance_id)
        data = self._object(
            self._call("GET", self._notebooks(f"/{instance_id}/lease")), tr("the lease lookup")
        )
        lease = normalise_lease(data.get("lease") if isinstance(data.get("lease"), Mapping) else data)
        assert lease is not None
        return lease

    def renew_lease(self, instance_id: str, duration_ms: int) -> Lease:
        """Set the lease to ``duration_ms`` from now (1 h..72 h; ``PATCH .../lease``); answer the new lease.

        Out of range (or not a whole number) is a :class:`ValidationError` and nothing is sent.
        """
        instance_id = validate_id(instance_id)
        duration = validate_duration_ms(duration_ms)
        # RenewLeaseRequest: the query ``duration`` (which wins, with type TIMING) and the body LeaseReq
        # ``{duration, type}`` say the same, so a service reading either one renews alike
        data = self._call(
            "PATCH",
            self._notebooks(f"/{instance_id}/lease"),
            params=[("duration", str(duration))],
            body={"duration": duration, "type": "TIMING"},
        )
        if isinstance(data, Mapping):
            inner = data.get("lease")
            source: Mapping[str, Any] = inner if isinstance(inner, Mapping) else data
            if source.get("duration") is not None:
                lease = normalise_lease(source)
                if lease is not None:
                    return lease
        return self.get_lease(instance_id)

    def change_lease(self, instance_id: str, duration_ms: int, *, shorten: bool = False) -> Lease:
        """Set the lease to ``duration_ms`` from now unless that ends it earlier than today.

        Reads the current lease first; when the new end would be earlier
        (:func:`~codelab_ext.models.lease_would_shorten`) and ``shorten`` is false, nothing is changed
        and :class:`ConflictError` (code ``codelab.lease_shorter``, ``details={"lease": current}``) is
        raised. The server's ``PATCH lease`` and ``jupyter codelab extend`` both come here.
        """
        instance_id = validate_id(instance_id)
        duration = validate_duration_ms(duration_ms)
        if not shorten:
            current = self.get_lease(instance_id)
            if lease_would_shorten(current, duration):
                left = max(0, int(current.get("remaining_ms") or 0)) // 60_000
                raise ConflictError(
                    tr(
                        "The lease has {value} h {value2:02d} min left; setting it to {value3:g} h from "
                        "now would end it earlier. Confirm to shorten it (send shorten: true), or pick a "
                        "longer time.",
                        value=left // 60,
                        value2=left % 60,
                        value3=duration / 3_600_000,
                    ),
                    code="codelab.lease_shorter",
                    details={"lease": current},
                )
        return self.renew_lease(instance_id, duration)

    def list_images(self, type: str | None = None, name: str | None = None) -> list[Image]:
        """Every image (``GET .../images``, all pages), optionally filtered upstream by ``type``/``name``.

        Without ``type`` the service lists BUILD_IN images only, so both types are listed, one after
        the other (BUILD_IN first). ``name`` matches fuzzily (the service's default).
        """
        items: list[Any] = []
        for image_type in (type,) if type else IMAGE_TYPES:
            params: list[tuple[str, str]] = [("type", image_type)]
            if name:
                params.append(("name", name))
            items += self._paged(self._images(), params, IMAGES_PAGE_SIZE, ("data", "images"))
        return [normalise_image(item) for item in items if isinstance(item, Mapping)]

    def get_image(self, image_id: str) -> Image:
        """One image (``GET .../images/{id}``)."""
        image_id = validate_id(image_id, "image_id")
        data = self._call("GET", self._images(f"/{image_id}"))
        return normalise_image(self._object(data, tr("the image lookup")))

    def list_free_flavors(self) -> list[FreeFlavor]:
        """The free CodeLab flavors (ListFlavors ``GET .../notebooks/flavors?feature=DEFAULT``, all pages).

        ``feature`` DEFAULT is the CodeLab free-flavor class of ``NotebookFlavor.feature`` (SDK
        ``model/notebook_flavor.py``); the answer is read tolerantly: only flavors that say they
        are free or DEFAULT are kept (docs/modelarts-api.md, "flavors").
        """
        items = self._paged(
            self._notebooks("/flavors"), [("feature", "DEFAULT")], FLAVORS_PAGE_SIZE, ("data", "flavors")
        )
        flavors = [normalise_free_flavor(item) for item in items if isinstance(item, Mapping)]
        return [flavor for flavor in flavors if flavor is not None]

    def list_flavors(self, instance_id: str) -> list[dict[str, Any]]:
        """The flavors an instance can switch to (``GET .../notebooks/{id}/flavors``)."""
        instance_id = validate_id(instance_id)
        data = self._call("GET", self._notebooks(f"/{instance_id}/flavors"))
        if isinstance(data, Mapping):
            # ShowSwitchableFlavorsResponse has both ``flavors`` and a paged ``data``
            data = data.get("flavors") if isinstance(data.get("flavors"), list) else data.get("data")
        if not isinstance(data, list):
            return []
        return [dict(item) for item in data if isinstance(item, Mapping)]

"""One exception family for everything codelab_ext can fail at.

Every error carries a readable ``message`` (never a secret), the HTTP status the
server extension should answer with, and, for upstream failures, the upstream
``code`` (``error_code``) and ``request_id``. The handlers map them in one place;
the CLI prints ``str(error)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .credentials import Credentials

from .i18n import Message, tr


class CodeLabError(Exception):
    """Base class: a readable message and the HTTP status to answer with."""

    status: int = 500
    #: set once add_credentials_hint has named the credentials in the message
    credentials_hinted: bool = False

    def __init__(
        self,
        message: str | Message,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        #: a :class:`~codelab_ext.i18n.Message` (``tr(...)``): the REST API and the CLI translate it
        self.message: str | Message = message
        #: extra fields of the REST error body (e.g. the current ``instance`` of a 409)
        self.details = details or {}
        if status is not None:
            self.status = status
        self.code = code
        self.request_id = request_id

    def to_json(self) -> dict[str, Any]:
        """The error body of the REST API: ``{message, code?, request_id?}``."""
        body: dict[str, Any] = {"message": self.message}
        if self.code:
            body["code"] = self.code
        if self.request_id:
            body["request_id"] = self.request_id
        for key, value in self.details.items():
            body.setdefault(key, value)
        return body

    def __str__(self) -> str:
        text = str(self.message)
        if self.code:
            text += f" [{self.code}]"
        if self.request_id:
            text += " " + str(tr("(request id {request_id})", request_id=self.request_id))
        return text


class ValidationError(CodeLabError):
    """Input refused before anything was sent upstream."""

    status = 400

    def __init__(self, message: str | Message, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ConfigError(CodeLabError):
    """The configuration cannot work (bad endpoint, no project, ...)."""

    status = 500


class CredentialsError(CodeLabError):
    """No usable credentials, or a credential file that must not be used."""

    status = 401

    #: the one message for "no credentials at all" (server, panel, CLI, client library)
    NONE_CONFIGURED = tr(
        "No Huawei Cloud credentials are configured. Sign in from the CodeLab panel, run "
        "'jupyter codelab login', or set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK."
    )

    @classmethod
    def none_configured(cls) -> CredentialsError:
        """The error for "no credentials at all", with :attr:`NONE_CONFIGURED`."""
        return cls(cls.NONE_CONFIGURED)


class UpstreamError(CodeLabError):
    """ModelArts or IAM answered with an error (or with something unreadable)."""

    status = 502

    def __init__(
        self,
        message: str | Message,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        http_status: int | None = None,
        upstream_message: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, request_id=request_id, details=details)
        #: the HTTP status upstream answered with (None when no answer came)
        self.http_status = http_status
        #: upstream's own ``error_msg`` (already free of secrets: it is upstream's text)
        self.upstream_message = upstream_message


class NotFoundError(UpstreamError):
    status = 404


class AuthError(UpstreamError):
    """Upstream refused the credentials (bad key, bad signature, clock skew, expired token)."""

    status = 401


class ForbiddenError(UpstreamError):
    status = 403


class ConflictError(UpstreamError):
    """The instance is in a state that does not allow the action (already running, ...)."""

    status = 409


class QuotaError(UpstreamError):
    """Quota, free-spec or resource limits (sold out, not enough resources, arrears)."""

    status = 403


class ThrottledError(UpstreamError):
    status = 429

    def __init__(self, message: str | Message, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class UpstreamUnavailable(UpstreamError):
    """No usable answer: connection refused or dropped, 5xx, garbage body."""

    status = 502


class UpstreamTimeout(UpstreamUnavailable):
    status = 504


def add_credentials_hint(exc: CodeLabError, credentials: Credentials | None) -> CodeLabError:
    """On a refusal (401/403, but not an account frozen for arrears), say which credentials were used.

    Appends " (credentials from <source>, key <masked>)" to the message once; the server and the CLI
    both use it, so the panel and the terminal name the same source. Never adds a secret.
    """
    if exc.status in (401, 403) and exc.code != "ModelArts.6326" and credentials is not None:
        from .credentials import source_word  # credentials imports this module

        source = source_word(credentials.source or "unknown")
        masked = credentials.masked_key
        if not exc.credentials_hinted:
            exc.credentials_hinted = True
            if masked:
                exc.message = tr(
                    "{message} (credentials from {source}, key {key})",
                    message=exc.message,
                    source=source,
                    key=masked,
                )
            else:
                exc.message = tr("{message} (credentials from {source})", message=exc.message, source=source)
    return exc


#: (code key, message key) pairs of an error body, in the order the official SDK tries them
#: (``huaweicloudsdkcore/exceptions/exception_handler.py``, ``DefaultExceptionHandler._process_sdk_error``)
ERROR_BODY_PAIRS = (("error_code", "error_msg"), ("errorCode", "errorMsg"), ("code", "message"))
_REQUEST_ID_KEYS = ("request_id", "requestId")
_MAX_ERROR_DEPTH = 8


def read_error_body(data: Any, _depth: int = 0) -> tuple[str | None, Any, str | None]:
    """(error code, upstream message, request id) from a decoded error body, whatever its shape.

    As the SDK reads it: ``error_code``/``error_msg``, then camelCase ``errorCode``/``errorMsg``, then
    top-level ``code``/``message``, each pair taken when both keys are there; otherwise every nested
    object is read the same way (``{"error": {"code", "message"}}`` of IAM, deeper wrappers too).
    More tolerant than the SDK: a lone code or message is kept, and so is ``error`` as plain text or
    ``title``. Only a textual code is an error code (IAM puts the HTTP status, an int, in
    ``error.code``). The request id is the body's ``request_id``/``requestId`` (nested ones included).
    """
    if not isinstance(data, Mapping) or _depth > _MAX_ERROR_DEPTH:
        return None, None, None
    request_id = next(
        (data[key] for key in _REQUEST_ID_KEYS if isinstance(data.get(key), str) and data[key].strip()), None
    )
    for code_key, message_key in ERROR_BODY_PAIRS:
        if code_key in data and message_key in data:
            return _code_text(data[code_key]), data[message_key], request_id
    for value in data.values():
        if isinstance(value, Mapping):
            code, message, nested_id = read_error_body(value, _depth + 1)
            if code is not None or message is not None:
                return code, message, request_id or nested_id
    code = next((_code_text(data[key]) for key, _ in ERROR_BODY_PAIRS if _code_text(data.get(key))), None)
    message = next(
        (
            data[key]
            for key in ("error_msg", "errorMsg", "message", "error", "title")
            if isinstance(data.get(key), str) and data[key].strip()
        ),
        None,
    )
    return code, message, request_id


def _code_text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None

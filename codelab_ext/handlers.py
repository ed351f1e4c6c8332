"""The REST API of the server extension: thin, authenticated, authorized handlers.

Every handler parses and validates its input (``validation``), awaits one coroutine of
the :class:`~codelab_ext.service.CodeLabService` and answers JSON. Errors of the
``CodeLabError`` family become ``{message, code?, request_id?}`` with their status in
one place (:meth:`CodeLabHandler.write_error`); nothing escapes as an unhandled error.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado.iostream import StreamClosedError

from .errors import CodeLabError, ThrottledError, ValidationError
from .i18n import localize, negotiate, normalize, tr
from .json_bounds import dumps
from .models import public_instance
from .ssh import validate_alias, validate_identity_file
from .validation import (
    parse_json_object,
    validate_credentials,
    validate_id,
    validate_image_filters,
    validate_lease,
    validate_open,
)

if TYPE_CHECKING:
    from .service import CodeLabService
    from .watcher import Subscription

AUTH_RESOURCE = "codelab"
HEARTBEAT_SECONDS = 15.0
#: watcher event kinds → SSE event names ("error" would clash with EventSource's own error event)
SSE_EVENT_NAMES = {"instance": "instance", "error": "upstream-error", "workspace": "workspace"}
ID = r"(?P<instance_id>[^/]+)"


class CodeLabHandler(APIHandler):
    """Base: JSON errors from the CodeLabError family, the shared service, the auth resource."""

    auth_resource = AUTH_RESOURCE

    @property
    def service(self) -> CodeLabService:
        service: CodeLabService = self.settings["codelab_service"]
        return service

    @property
    def language(self) -> str | None:
        """The reader's language for our messages: ``?lang=`` (the event stream), else ``Accept-Language``.

        The panel sends JupyterLab's display language with every request; None means English.
        """
        values = self.request.query_arguments.get("lang")
        if values:
            try:
                return normalize(values[-1].decode("ascii")[:64])
            except UnicodeDecodeError:
                return None
        return negotiate(self.request.headers.get("Accept-Language"))

    def json_body(self, *, allow_empty: bool = True) -> dict[str, Any]:
        body = self.request.body or b""
        if body.strip():
            media_type = self.request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
            if media_type != "application/json":
                raise ValidationError(tr("Send the request body as JSON (Content-Type: application/json)."))
        return parse_json_object(body, allow_empty=allow_empty)

    def query_args(self, allowed: set[str] | None = None) -> dict[str, str]:
        """Single-valued query arguments (a repeated one is refused; with ``allowed``, an unknown one too)."""
        out: dict[str, str] = {}
        for key, values in self.request.query_arguments.items():
            if key in ("token", "lang"):  # Jupyter's own auth token; the reader's language (see language)
                continue
            if key.isdigit() and values == [b""]:  # a cache-buster ("?1700000000000") some clients add
                continue
            if len(values) != 1:
                raise ValidationError(
                    tr("Query parameter '{name}' given more than once.", name=key[:64]), field=key[:64]
                )
            try:
                out[key] = values[0].decode("utf-8")
            except UnicodeDecodeError:
                raise ValidationError(
                    tr("Query parameter '{name}' is not UTF-8.", name=key[:64]), field=key[:64]
                ) from None
        unknown = sorted(set(out) - allowed) if allowed is not None else []
        if unknown:
            raise ValidationError(
                tr("Unknown query parameter '{name}'.", name=unknown[0][:64]), field=unknown[0][:64]
            )
        return out

    def compute_etag(self) -> str | None:
        """No ETag: every answer is ``no-store`` JSON, so tornado's hash of each body (and its
        If-None-Match check) would be work no client can use."""
        return None

    def write_json(self, body: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(dumps(localize(body, self.language)))

    def instance_id(self, raw: str) -> str:
        return validate_id(raw, "instance_id")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        if isinstance(exc, CodeLabError):
            body = exc.to_json()
            if "instance" in body and isinstance(body["instance"], dict):
                body["instance"] = public_instance(body["instance"])
            if isinstance(exc, ThrottledError) and exc.retry_after:
                self.set_header("Retry-After", str(max(1, round(exc.retry_after))))
        elif isinstance(exc, tornado.web.HTTPError):
            body = {"message": exc.log_message % exc.args if exc.log_message else self._reason}
        else:
            body = {"message": tr("Internal error in codelab_ext; see the Jupyter server log.")}
        self.finish(dumps(localize(body, self.language)))

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(value, CodeLabError):
            # expected failures: one line, no traceback, no secrets (messages never hold any)
            self.log.warning(
                "codelab %s %s -> %s: %s", self.request.method, self.request.path, value.status, value
            )
            return
        super().log_exception(typ, value, tb)

    def _handle(self, exc: CodeLabError) -> None:
        self.send_error(exc.status, exc_info=(type(exc), exc, exc.__traceback__))


Handler = Callable[..., Awaitable[None]]


def codelab_errors(method: Handler) -> Handler:
    """Turn CodeLabError from a handler method into the JSON error answer (keeps the method's name)."""

    @functools.wraps(method)
    async def wrapper(self: CodeLabHandler, *args: Any, **kwargs: Any) -> None:
        try:
            await method(self, *args, **kwargs)
        except CodeLabError as exc:
            self.log_exception(type(exc), exc, exc.__traceback__)
            if not self._finished:
                self._handle(exc)
            return None

    return wrapper


class StatusHandler(CodeLabHandler):
    @tornado.web.authenticated
    @authorized
    @codelab_errors
    async def get(self) -> None:
        self.write_json(self.service.status())


class CredentialsHandler(CodeLabHandler):
    @tornado.web.authenticated
    @authorized
    @codelab_errors
    async def put(self) -> None:
        values = validate_credentials(self.json_body(allow_empty=False))
        self.write_json(await self.service.store_credentials(values))

    @tornado.web.authenticated
    @authorized
    @codelab_errors
    async def delete(self) -> None:
        await self.service.forget_credentials()
        self.set_status(204)
        self.finish()


class DemoCredentialsHandler(CodeLabHandler):
    """With the embedded emulator only: sign in again with its demo account (after a sign-out)."""

    @tornado.web.authenticated
    @authorized
    @codelab_errors
    async def post(self) -> None:
        if self.json_body():
            raise ValidationError(tr("Send no body: the demo account needs no keys."))
        self.write_json(await self.service.use_demo_account())


class ImagesHandler(CodeLabHandler):
    @tornado.web.authenticated
    @authorized
    @codelab_errors
    async def get(self) -> None:
        filters = validate_image_filters(self.query_args())
        self.write_json({"images": await self.service.images(filters)})


class OpenHandler(CodeLabHandler):
    @tornado.web.authenticated
    @authorized
    @codelab_errors
    async def post(self) -> None:
        from .workspace_service import take_leave_files

        body = self.json_body()
        leave_files = take_leave_files(body)
        image_id, share_url, switch = validate_open(body)
        instance = await self.service.open(image_id, share_url, switch, leave_files)
        self.write_json(public_instance(instance))


class InstancesHandler(CodeLabHandler):
    @tornado.web.authenticated
    @authorized
    @codelab_errors
    async def get(self) -> None:
        instances = await self.service.list_instances()
        self.write_json({"instances": [public_instance(i) for i in instances]})


class InstanceHandler(CodeLabHandler):
    @tornado.web.authenticated
    @authorized
    @codelab_errors
    async def get(self, instance_id: str) -> None:
        instance = await self.service.fetch_instance(self.instance_id(instance_id))
        self.write_json(public_instance(instance))


class InstanceActionHandler(CodeLabHandler):
    @tornado.web.authenticated
    @authorized
    @codelab_errors
    async def post(self, instance_id: str, verb: str) -> None:
        from .workspace_service import take_leave_files

        body = self.json_body()  # a body, if any, must at least be a JSON object
        leave_files = take_leave_files(body) if verb == "stop" else False
        instance = await self.service.action(self.instance_id(instance_id), verb, leave_files)
        self.write_json(public_instance(instance))


class LeaseHandler(CodeLabHandler):
    @tornado.web.authenticated
    @authorized
    @codelab_errors
    async def get(self, instance_id: str) -> None:
        self.write_json(await self.service.get_lease(self.instance_id(instance_id)))

    @tornado.web.authenticated
    @authorized
    @codelab_errors
    async def patch(self, instance_id: str) -> None:
        iid = self.instance_id(instance_id)
        duration_ms, shorten = validate_lease(self.json_body(allow_empty=False))
        self.write_json(await self.service.renew_lease(iid, duration_ms, shorten=shorten))


class EventsHandler(CodeLabHandler):
    """``text/event-stream`` of the instance: at once, after every change, heartbeats in between."""

    heartbeat_seconds = HEARTBEAT_SECONDS
    _subscription: Subscription | None = None

    @tornado.web.authenticated
    @authorized
    @codelab_errors
    async def get(self, instance_id: str) -> None:
        iid = self.instance_id(instance_id)
        self.service.client()  # fail fast (401 JSON) when no credentials are configured
        self.set_header("Content-Type", "text/event-stream; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Accel-Buffering", "no")
        language = self.language
        sub = self.service.watchers.subscribe(iid)
        self._subscription = sub
        seq = 0
        try:
            self.write("retry: 2000\n\n")
            await self.flush()
            last_write = time.monotonic()
            stream = self.request.connection.stream  # type: ignore[union-attr]  # HTTP1ServerConnection
            while not stream.closed():
                wait = max(0.1, self.heartbeat_seconds - (time.monotonic() - last_write))
                event = await sub.get(timeout=wait)
                if event is None:
                    self.write(f": heartbeat {int(time.time())}\n\n")
                else:
                    kind, data = event
                    if kind == "closed":
                        break
                    seq += 1
                    payload = public_instance(data) if kind == "instance" else data
                    name = SSE_EVENT_NAMES.get(kind, kind)
                    text = dumps(localize(payload, language))
                    self.write(f"id: {seq}\nevent: {name}\ndata: {text}\n\n")
                await self.flush()
                last_write = time.monotonic()
        except (StreamClosedError, asyncio.CancelledError):
            pass
        finally:
            sub.close()
            self._subscription = None

    def on_connection_close(self) -> None:
        sub = self._subscription
        if sub is not None:
            sub.close()
            # wake the loop above so the coroutine ends now rather than at the next heartbeat
            sub.put(("closed", {}))


class SshConfigHandler(CodeLabHandler):
    @tornado.web.authenticated
    @authorized
    @codelab_errors
    async def get(self, instance_id: str) -> None:
        iid = self.instance_id(instance_id)
        query = self.query_args({"alias", "identity_file"})
        alias = validate_alias(query["alias"]) if query.get("alias") else None
        identity = validate_identity_file(query["identity_file"]) if query.get("identity_file") else None
        text = await self.service.ssh_config(iid, alias, identity)
        self.set_header("Cache-Control", "no-store")
        self.finish(text, set_content_type="text/plain; charset=UTF-8")


class SshInstallHandler(CodeLabHandler):
    """``jupyter codelab ssh-config --install`` done by the server: the managed block in the home of the
    user running Jupyter (``~/.ssh/config.d/codelab`` plus one ``Include`` line in ``~/.ssh/config``)."""

    @tornado.web.authenticated
    @authorized
    @codelab_errors
    async def post(self, instance_id: str) -> None:
        iid = self.instance_id(instance_id)
        body = self.json_body()
        unknown = set(body) - {"alias", "identity_file"}
        if unknown:
            name = sorted(unknown)[0][:64]
            raise ValidationError(tr("Unknown field '{name}'.", name=name), field=name)
        alias = validate_alias(body["alias"]) if body.get("alias") is not None else None
        raw_identity = body.get("identity_file")
        identity = validate_identity_file(raw_identity) if raw_identity not in (None, "") else None
        self.write_json(await self.service.install_ssh_config(iid, alias, identity))


class SshCommandHandler(CodeLabHandler):
    """``GET instances/{id}/ssh-command?identity_file=...``: ``{ssh_command}`` with that identity file."""

    @tornado.web.authenticated
    @authorized
    @codelab_errors
    async def get(self, instance_id: str) -> None:
        iid = self.instance_id(instance_id)
        query = self.query_args({"identity_file"})
        identity = validate_identity_file(query["identity_file"]) if query.get("identity_file") else None
        self.write_json({"ssh_command": await self.service.ssh_command(iid, identity)})


class ShareUrlHandler(CodeLabHandler):
    """``GET share-url?url=...``: what ``POST open`` would send to ModelArts for that share URL."""

    @tornado.web.authenticated
    @authorized
    @codelab_errors
    async def get(self) -> None:
        from .share_url import share_url_preview

        query = self.query_args({"url"})
        if "url" not in query:
            raise ValidationError(tr("Query parameter 'url' is missing."), field="url")
        self.write_json(share_url_preview(query["url"]))


class OpenAPIHandler(CodeLabHandler):
    @tornado.web.authenticated
    @authorized
    @codelab_errors
    async def get(self) -> None:
        from importlib.resources import files

        self.finish(
            (files("codelab_ext") / "openapi.json").read_text(encoding="utf-8"),
            set_content_type="application/json; charset=UTF-8",
        )


def route_table() -> list[tuple[str, type[CodeLabHandler]]]:
    """Every route, relative to ``{base_url}codelab/``."""
    from .workspace_handlers import workspace_routes

    return [
        ("status", StatusHandler),
        ("credentials", CredentialsHandler),
        ("credentials/demo", DemoCredentialsHandler),
        ("images", ImagesHandler),
        ("open", OpenHandler),
        ("share-url", ShareUrlHandler),
        ("instances", InstancesHandler),
        (f"instances/{ID}", InstanceHandler),
        (f"instances/{ID}/(?P<verb>start|stop)", InstanceActionHandler),
        (f"instances/{ID}/lease", LeaseHandler),
        (f"instances/{ID}/events", EventsHandler),
        (f"instances/{ID}/ssh-config", SshConfigHandler),
        (f"instances/{ID}/ssh-config/install", SshInstallHandler),
        (f"instances/{ID}/ssh-command", SshCommandHandler),
        *workspace_routes(),
        ("openapi.json", OpenAPIHandler),
    ]

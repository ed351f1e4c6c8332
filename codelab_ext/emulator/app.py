"""The tornado application: one port answers ModelArts (``/v1``), IAM (``/v3``) and the admin routes.

Request flow of the gateway handler: match the route (unknown → 404 ``APIGW.0101``), count it, apply
the faults that match, authenticate (401 ``APIGW.0301``), check the project in the path (403), run
the operation on :class:`~.state.EmulatorState`, then let body faults reshape the answer. Every answer
carries an ``X-Request-Id`` header. The access log shows method, path and status only: never headers,
bodies or query values.

Admin routes (no authentication, JSON in and out) live under ``/_emulator/``:

===========================================  ==============================================================
``GET /_emulator/state``                     accounts (no secrets), instances, faults, tokens, speed, clock
``GET /_emulator/stats``                     ``{<route kind>: n, ..., total, by_method, methods, ...}``
``DELETE /_emulator/stats``                  reset the counters
``POST /_emulator/reset``                    forget instances, tokens, faults, scripted failures, counters
``GET|POST /_emulator/speed``                ``{"speed": s}`` (0 freezes the emulated clock)
``POST /_emulator/clock``                    ``{"advance": seconds}`` moves emulated time forward
``GET|POST|DELETE /_emulator/faults``        list / add (``{kind, route?, path?, method?, count?, ...}``) /
                                             clear; ``DELETE /_emulator/faults/{id}`` removes one
``POST /_emulator/fail_step``                ``{"step": 1..4, "fail_reason"?, "instance_id"?, "project_id"?}``
``POST /_emulator/instances/{id}/lease``     ``{"remaining_ms": n}`` (0 expires the lease now)
``POST /_emulator/instances/{id}/ssh``       ``{"host": h, "port": p}``: where this instance's SSH endpoint
                                             points (e.g. a test sshd landing in its work folder)
``POST /_emulator/instances/{id}/direct``    ``{"refuse": "closed" | "forbidden" | null}``: its url points at
                                             a closed port or a 403 front (its Jupyter server stays on its
                                             loopback port, for the SSH endpoint): :mod:`.fronts`
``POST /_emulator/tokens/expire``            ``{"token"?: str}`` expires one or every IAM token
===========================================  ==============================================================
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import uuid
import weakref
from typing import Any
from urllib.parse import parse_qsl

import tornado.iostream
import tornado.web

from .auth import authenticate, check_project
from .errors import ApiError, instance_not_found
from .faults import INSTANCE_ROUTE_KINDS, Fault
from .state import EmulatorState

__all__ = ["make_app"]

log = logging.getLogger("codelab_ext.emulator")

_PID = r"(?P<project_id>[^/]+)"
_IID = r"(?P<instance_id>[^/]+)"
#: (method, path pattern, route kind); patterns are matched against the whole path, one optional "/"
ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (method, re.compile(pattern + r"/?"), kind)
    for method, pattern, kind in (
        ("POST", r"/v3/auth/tokens", "iam_token"),
        ("GET", r"/v3/projects", "iam_projects"),
        ("POST", rf"/v1/{_PID}/notebooks/open", "open"),
        ("GET", rf"/v1/{_PID}/notebooks", "list"),
        # ListFlavors: matched before ShowNotebook, whose {id} would otherwise take "flavors"
        ("GET", rf"/v1/{_PID}/notebooks/flavors", "list_flavors"),
        ("GET", rf"/v1/{_PID}/notebooks/{_IID}", "show"),
        ("POST", rf"/v1/{_PID}/notebooks/{_IID}/start", "start"),
        ("POST", rf"/v1/{_PID}/notebooks/{_IID}/stop", "stop"),
        ("GET", rf"/v1/{_PID}/notebooks/{_IID}/lease", "lease"),
        ("PATCH", rf"/v1/{_PID}/notebooks/{_IID}/lease", "renew_lease"),
        ("GET", rf"/v1/{_PID}/notebooks/{_IID}/flavors", "flavors"),
        ("GET", rf"/v1/{_PID}/images", "images"),
        ("GET", rf"/v1/{_PID}/images/(?P<image_id>[^/]+)", "image"),
    )
)

_JSON = "application/json;charset=UTF-8"
_ERROR_BODIES = {
    500: ("ModelArts.0010", "Internal server error. Try again later."),
    502: ("APIGW.0202", "Backend unavailable."),
    503: ("APIGW.0203", "Service temporarily unavailable. Try again later."),
    504: ("APIGW.0204", "Backend timeout."),
}
_HTML_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>API Gateway</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def match_route(method: str, path: str) -> tuple[str, dict[str, str]]:
    """(route kind, path parameters); ``("unknown", {})`` when nothing matches."""
    for route_method, pattern, kind in ROUTES:
        found = pattern.fullmatch(path)
        if found is not None and route_method == method:
            return kind, found.groupdict()
    return "unknown", {}


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _drop_fields(body: dict[str, Any], fields: tuple[str, ...]) -> None:
    for name in fields:
        target: Any = body
        *parents, leaf = name.split(".")
        for parent in parents:
            target = target.get(parent) if isinstance(target, dict) else None
        if isinstance(target, dict):
            target.pop(leaf, None)


def _reshape_instances(body: Any, fault: Fault) -> None:
    """Apply an ``unknown_status`` / ``missing_fields`` fault to an instance or a page of instances."""
    data = body.get("data") if isinstance(body, dict) else None
    items = data if isinstance(data, list) else [body]
    for item in items:
        if not isinstance(item, dict):
            continue
        if fault.kind == "unknown_status":
            item["status"] = fault.status_value
            item["billing_items"] = ["STORAGE", "COMPUTE"]
            item["affinity"] = {"node_affinity": {"required": True}}
        else:
            _drop_fields(item, fault.fields)


#: streams taken over by the dribble / endless faults, per emulator state (closed when it stops)
_DETACHED: weakref.WeakKeyDictionary[Any, set[Any]] = weakref.WeakKeyDictionary()


def close_detached_streams(state: Any) -> None:
    """Hang up every answer still dribbling or streaming endlessly (the emulator is stopping)."""
    for stream in list(_DETACHED.get(state, ())):
        stream.close()


def _with_extra_field(data: bytes, value: bytes) -> bytes:
    """A JSON object answer with one more (unknown) field in front; other answers unchanged."""
    if data.startswith(b"{"):
        rest = data[1:]
        return b'{"x_extra":' + value + (b"," + rest if rest.strip() != b"}" else b"}")
    return data


class _BaseHandler(tornado.web.RequestHandler):
    """JSON answers with an ``X-Request-Id`` on every one of them."""

    state: EmulatorState

    request_id: str

    def initialize(self, state: EmulatorState) -> None:
        self.state = state

    def set_default_headers(self) -> None:
        # Called by tornado before initialize() and again when an error clears the answer: one id per request.
        if not hasattr(self, "request_id"):
            self.request_id = uuid.uuid4().hex
        self.set_header("Server", "api-gateway")
        self.set_header("X-Request-Id", self.request_id)

    @property
    def base_url(self) -> str:
        return f"{self.request.protocol}://{self.request.host}"

    def check_xsrf_cookie(self) -> None:  # an API: no cookies, no XSRF
        return

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.set_status(status, _reason(status))
        self.set_header("Content-Type", _JSON)
        for name, value in (headers or {}).items():
            self.set_header(name, value)
        self.finish(json.dumps(body, ensure_ascii=False).encode("utf-8"))

    def send_error_json(self, error: ApiError) -> None:
        self.send_json(error.status, error.body(self.request_id), error.headers)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # Anything tornado itself refuses (bad method, malformed request) or an unexpected crash.
        self.set_header("Content-Type", _JSON)
        code = "APIGW.0101" if status_code in (404, 405) else "ModelArts.0010"
        self.finish(
            json.dumps({"error_code": code, "error_msg": self._reason, "request_id": self.request_id})
        )

    def query_dict(self) -> dict[str, str]:
        """Query arguments, last value wins (decoded)."""
        return dict(parse_qsl(self.request.query, keep_blank_values=True))

    def json_body(self, *, required: bool = False, style: str = "modelarts") -> Any:
        raw = self.request.body
        if not raw.strip():
            if required:
                raise ApiError(
                    400, "ModelArts.0104", "Parameter error: a JSON body is required.", style=style
                )
            return None
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(
                400, "ModelArts.0104", "Parameter error: the body is not valid JSON.", style=style
            ) from None


class GatewayHandler(_BaseHandler):
    """``/v1/...`` (ModelArts) and ``/v3/...`` (IAM), behind an emulated API gateway."""

    async def get(self) -> None:
        await self._dispatch()

    async def post(self) -> None:
        await self._dispatch()

    async def patch(self) -> None:
        await self._dispatch()

    async def put(self) -> None:
        await self._dispatch()

    async def delete(self) -> None:
        await self._dispatch()

    async def _dispatch(self) -> None:
        method = self.request.method or "GET"
        path = self.request.path
        kind, params = match_route(method, path)
        self.state.count(kind, method)
        choice = self.state.faults.choose(kind, method, path)
        if choice.latency_ms:
            await asyncio.sleep(choice.latency_ms / 1000)
        fault = choice.fault
        if fault is not None and self._terminal_fault(fault):
            return
        try:
            status, body, headers = self._answer(kind, method, path, params)
        except ApiError as error:
            if error.status == 401:
                with self.state.lock:
                    self.state.unauthorized += 1
            status, body, headers = error.status, error.body(self.request_id), error.headers
        if fault is None:
            self.send_json(status, body, headers)
            return
        if fault.kind in ("unknown_status", "missing_fields"):
            if 200 <= status < 300 and kind in INSTANCE_ROUTE_KINDS:
                _reshape_instances(body, fault)
            self.send_json(status, body, headers)
            return
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        if fault.kind == "dribble":
            await self._dribble(fault, status, headers, data)
            return
        if fault.kind == "truncated_json":
            data = data[: max(1, len(data) // 2)]
        elif fault.kind == "deep_nesting":
            data = _with_extra_field(data, b"[" * fault.depth + b"]" * fault.depth)
        elif fault.kind == "non_finite":
            data = _with_extra_field(data, b'{"score":1e400,"ratio":NaN,"floor":-Infinity}')
        else:  # malformed_json
            data = data.replace(b'":', b'"=', 1) if b'":' in data else b"{]"
        self.set_status(status, _reason(status))
        self.set_header("Content-Type", _JSON)
        for name, value in headers.items():
            self.set_header(name, value)
        self.finish(data)

    def _raw_head(self, status: int, headers: dict[str, str], length: int | None) -> bytes:
        lines = [f"HTTP/1.1 {status} {_reason(status)}", f"Content-Type: {_JSON}", "Server: api-gateway"]
        lines.append(f"X-Request-Id: {self.request_id}")
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _dribble(self, fault: Fault, status: int, headers: dict[str, str], data: bytes) -> None:
        """The answer a few bytes at a time (headers too with ``phase: headers``) until the client leaves."""
        head = self._raw_head(status, headers, len(data))
        stream = self._detach()
        try:
            if fault.phase == "body":
                await stream.write(head)
                payload = data
            else:
                payload = head + data
            for start in range(0, len(payload), fault.chunk_bytes):
                await asyncio.sleep(fault.interval_ms / 1000)
                await stream.write(payload[start : start + fault.chunk_bytes])
        except tornado.iostream.StreamClosedError:
            pass
        finally:
            stream.close()

    def _detach(self) -> Any:
        stream = self.detach()
        streams = _DETACHED.setdefault(self.state, set())
        streams.add(stream)
        stream.set_close_callback(lambda: streams.discard(stream))
        return stream

    async def _endless(self, fault: Fault, stream: Any) -> None:
        """HTTP 200 and a chunked body that never ends (until the client leaves or ``max_mb``)."""
        piece = b'{"data":[' + b'"0123456789abcdef",' * 4096
        chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
        sent = 0
        try:
            await stream.write(self._raw_head(200, {}, None))
            while sent < fault.max_mb * 1024 * 1024:
                await stream.write(chunk)
                sent += len(piece)
        except tornado.iostream.StreamClosedError:
            pass
        finally:
            stream.close()

    def _terminal_fault(self, fault: Fault) -> bool:
        """Answer (or hang up) for faults that replace the answer; False for body-reshaping faults."""
        if fault.kind == "drop":
            stream = self.detach()
            stream.close()
            return True
        if fault.kind == "endless":
            self._endless_task = asyncio.ensure_future(self._endless(fault, self._detach()))
            return True
        if fault.kind == "error":
            status = fault.status or 500
            code, message = _ERROR_BODIES.get(status, ("ModelArts.0010", "Internal server error."))
            body = {
                "error_code": fault.error_code or code,
                "error_msg": fault.error_msg or message,
                "request_id": self.request_id,
            }
            self.send_json(status, body)
            return True
        if fault.kind == "throttle":
            retry_after = fault.retry_after
            text = str(int(retry_after)) if float(retry_after).is_integer() else f"{retry_after:g}"
            body = {
                "error_code": "APIGW.0308",
                "error_msg": (
                    "The throttling threshold has been reached: "
                    "policy user over ratelimit, limit:5, time:1 second"
                ),
                "request_id": self.request_id,
            }
            self.send_json(429, body, {"Retry-After": text})
            return True
        if fault.kind == "html":
            status = fault.status or 502
            self.set_status(status, _reason(status))
            self.set_header("Content-Type", "text/html")
            self.finish(_HTML_PAGE.format(status=status, reason=html.escape(_reason(status))))
            return True
        if fault.kind == "not_found":
            params = match_route(self.request.method or "GET", self.request.path)[1]
            self.send_error_json(instance_not_found(params.get("instance_id") or "unknown"))
            return True
        return False

    def _answer(
        self, kind: str, method: str, path: str, params: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        state = self.state
        if kind == "unknown":
            raise ApiError(
                404,
                "APIGW.0101",
                "The API does not exist or has not been published in the environment.",
                style="gateway",
            )
        if kind == "iam_token":
            token, body = state.issue_token(self.json_body(required=True, style="iam"))
            return 201, body, {"X-Subject-Token": token}

        headers = {name.lower(): self.request.headers[name] for name in self.request.headers}
        query_pairs = parse_qsl(self.request.query, keep_blank_values=True)
        caller = authenticate(state, method, path, query_pairs, headers, self.request.body)
        query = dict(query_pairs)
        if kind == "iam_projects":
            return 200, state.projects(caller.account, query.get("name"), self.base_url), {}

        project_id = params["project_id"]
        check_project(caller, project_id, headers)
        instance_id = params.get("instance_id", "")
        base = self.base_url
        if kind == "open":
            return 200, state.open(caller.account, project_id, self.json_body(), base), {}
        if kind == "list":
            return 200, state.list_instances(project_id, query, base), {}
        if kind == "show":
            return 200, state.show(project_id, instance_id, base), {}
        if kind == "start":
            return 200, state.start(project_id, instance_id, query, base), {}
        if kind == "stop":
            return 200, state.stop(project_id, instance_id, base), {}
        if kind == "lease":
            return 200, state.get_lease(project_id, instance_id), {}
        if kind == "renew_lease":
            return 200, state.renew_lease(project_id, instance_id, query, self.json_body()), {}
        if kind == "list_flavors":
            return 200, state.list_flavors(query), {}
        if kind == "flavors":
            return 200, state.flavors(project_id, instance_id), {}
        if kind == "images":
            return 200, state.list_images(query), {}
        if kind == "image":
            return 200, state.get_image(params["image_id"]), {}
        raise AssertionError(f"route kind {kind} has no operation")  # pragma: no cover


class InstancePageHandler(_BaseHandler):
    """``GET /codelab-instance/{id}/lab``: a tiny page standing in for the instance's JupyterLab.

    Only the ``url`` of an emulator without instance servers points here (see :mod:`.workspace`).
    """

    def get(self, instance_id: str) -> None:
        self.state.count("instance_page", "GET")
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        title = f"CodeLab instance {html.escape(instance_id)}"
        with self.state.lock:
            instance = self.state.instances.get(instance_id)
            if instance is None:
                self.set_status(404)
                self.finish(f"<!doctype html><title>Not found</title><p>No {title}</p>")
                return
            instance.refresh(self.state.clock)
            status, image, share = instance.status, str(instance.image.get("name", "")), instance.share_url
        notebook = f"<p>Notebook downloaded from <code>{html.escape(share)}</code></p>" if share else ""
        self.finish(
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{title}</title></head><body><h1>{title}</h1>"
            f"<p>Status: <b>{html.escape(status)}</b> &middot; image <code>{html.escape(image)}</code></p>"
            f"{notebook}<p>This page is served by the codelab_ext ModelArts emulator.</p></body></html>"
        )


class AdminHandler(_BaseHandler):
    """``/_emulator/...``: inspection and scripting for tests and demos (no authentication)."""

    def get(self, route: str) -> None:
        self._admin("GET", route)

    def post(self, route: str) -> None:
        self._admin("POST", route)

    def delete(self, route: str) -> None:
        self._admin("DELETE", route)

    def _admin(self, method: str, route: str) -> None:
        route = route.strip("/")
        try:
            status, body = self._route(method, route)
        except ApiError as error:
            self.send_error_json(error)
            return
        except (ValueError, TypeError) as exc:
            self.send_json(400, {"error_code": "EMULATOR.0400", "error_msg": str(exc)})
            return
        self.send_json(status, body)

    def _spec(self) -> dict[str, Any]:
        body = self.json_body()
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        return body

    def _route(self, method: str, route: str) -> tuple[int, Any]:
        state = self.state
        if route == "state" and method == "GET":
            return 200, state.snapshot(self.base_url)
        if route == "stats":
            if method == "GET":
                return 200, state.stats()
            if method == "DELETE":
                state.reset_stats()
                return 200, state.stats()
        if route == "reset" and method == "POST":
            state.reset()
            return 200, {"reset": True}
        if route == "speed" and method in ("GET", "POST"):
            if method == "POST":
                state.clock.set_speed(float(self._spec().get("speed", 1.0)))
            return 200, {"speed": state.clock.speed}
        if route == "clock" and method in ("GET", "POST"):
            if method == "POST":
                state.clock.advance(float(self._spec().get("advance", 0.0)))
            return 200, {
                "speed": state.clock.speed,
                "emulated_seconds": state.clock.emulated(),
                "now_ms": state.clock.now_ms(),
            }
        if route == "faults":
            if method == "GET":
                return 200, {"faults": state.faults.list(), "injected": state.faults.injected}
            if method == "POST":
                return 201, state.faults.add(self._spec()).to_json()
            if method == "DELETE":
                return 200, {"cleared": state.faults.clear()}
        if route.startswith("faults/") and method == "DELETE":
            removed = state.faults.remove(int(route.split("/", 1)[1]))
            return (200 if removed else 404), {"removed": removed}
        if route == "fail_step" and method == "POST":
            return 200, state.script_failure(self._spec())
        found = re.fullmatch(r"instances/([^/]+)/lease", route)
        if found and method == "POST":
            remaining = self._spec().get("remaining_ms", 0)
            return 200, state.set_lease_remaining(found.group(1), int(remaining), self.base_url)
        found = re.fullmatch(r"instances/([^/]+)/ssh", route)
        if found and method == "POST":
            return 200, state.set_ssh_endpoint(found.group(1), self._spec(), self.base_url)
        found = re.fullmatch(r"instances/([^/]+)/direct", route)
        if found and method == "POST":
            return 200, state.set_direct_refused(found.group(1), self._spec(), self.base_url)
        if route == "tokens/expire" and method == "POST":
            return 200, {"expired": state.expire_tokens(self._spec().get("token"))}
        return 404, {
            "error_code": "EMULATOR.0404",
            "error_msg": f"no admin route {method} /_emulator/{route}",
        }


def _log_request(handler: tornado.web.RequestHandler) -> None:
    """Access log without query values, headers or bodies (they may hold secrets)."""
    request = handler.request
    log.debug(
        "%d %s %s %.1fms",
        handler.get_status(),
        request.method,
        request.path,
        1000.0 * request.request_time(),
    )


def make_app(state: EmulatorState) -> tornado.web.Application:
    """The tornado application serving ``state``."""
    return tornado.web.Application(
        [
            (r"/_emulator/(.*)", AdminHandler, {"state": state}),
            (r"/codelab-instance/([^/]+)/lab/?", InstancePageHandler, {"state": state}),
            (r"/.*", GatewayHandler, {"state": state}),
        ],
        log_function=_log_request,
        compress_response=False,
    )

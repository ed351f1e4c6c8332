"""A scripted HTTP server on 127.0.0.1 for client tests: real sockets, no mocking of ``requests``.

Each test scripts answers per ``(method, path)`` and afterwards inspects what was received::

    with FakeUpstream() as up:
        up.add("GET", "/v1/p/notebooks", Reply(json={"data": [], "total": 0}))
        up.add("POST", "/v1/p/notebooks/open", Reply(drop=True), Reply(json={...}))
        ...
        assert up.count("POST", "/v1/p/notebooks/open") == 1

Answers for a route are consumed in order; the last one repeats. A route may also be a
callable ``(Received) -> Reply``. An unscripted request gets a 404 JSON error with code
``FAKE.unscripted`` so a test fails loudly rather than hangs.
"""

from __future__ import annotations

import json as jsonlib
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from requests.structures import CaseInsensitiveDict


@dataclass
class Reply:
    """One scripted answer.

    ``json`` (any JSON value) or ``body`` (bytes/str, sent as is); ``delay`` seconds before
    answering; ``drop`` closes the connection without any answer; ``headers`` are added.
    """

    status: int = 200
    json: Any = None
    body: bytes | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False

    def payload(self) -> tuple[bytes, str | None]:
        if self.body is not None:
            data = self.body.encode("utf-8") if isinstance(self.body, str) else self.body
            return data, None
        if self.json is not None:
            return jsonlib.dumps(self.json).encode("utf-8"), "application/json"
        return b"", None


@dataclass
class Received:
    """What the server received (``headers`` is case-insensitive; ``query`` keeps order and repeats)."""

    method: str
    raw_path: str
    path: str
    query: list[tuple[str, str]]
    headers: CaseInsensitiveDict
    body: bytes
    at: float

    @property
    def query_dict(self) -> dict[str, str]:
        return dict(self.query)

    def json(self) -> Any:
        return jsonlib.loads(self.body.decode("utf-8"))


Route = Callable[[Received], Reply]


class FakeUpstream:
    """A threaded HTTP/1.1 server on ``127.0.0.1:0`` answering scripted replies."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._routes: dict[tuple[str, str], list[Reply] | Route] = {}
        self._patterns: list[tuple[str, re.Pattern[str], Route]] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                received = Received(
                    method=self.command,
                    raw_path=self.path,
                    path=parts.path,
                    query=parse_qsl(parts.query, keep_blank_values=True),
                    headers=CaseInsensitiveDict(dict(self.headers.items())),
                    body=body,
                    at=time.monotonic(),
                )
                reply = owner._dispatch(received)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                data, content_type = reply.payload()
                try:
                    self.send_response(reply.status)
                    headers = dict(reply.headers)
                    if content_type and not any(k.lower() == "content-type" for k in headers):
                        headers["Content-Type"] = content_type
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout): nothing to do
                    self.close_connection = True

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._closers: list[Callable[[], None]] = []
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-upstream",
            daemon=True,
        )
        self._thread.start()

    # ----------------------------------------------------------------- scripting

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def host(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def add(self, method: str, path: str, *replies: Reply | Route) -> None:
        """Script ``method path``: a sequence of replies (the last repeats) or one callable."""
        if len(replies) == 1 and callable(replies[0]) and not isinstance(replies[0], Reply):
            self._routes[(method.upper(), path)] = replies[0]
        else:
            if not replies or not all(isinstance(reply, Reply) for reply in replies):
                raise TypeError("add() takes Reply objects or one callable")
            self._routes[(method.upper(), path)] = list(replies)  # type: ignore[arg-type]

    def add_pattern(self, method: str, pattern: str, route: Route) -> None:
        """Script every path matching the regular expression ``pattern`` with a callable."""
        self._patterns.append((method.upper(), re.compile(pattern), route))

    def _dispatch(self, received: Received) -> Reply:
        with self._lock:
            self.received.append(received)
            script = self._routes.get((received.method, received.path))
            if isinstance(script, list):
                return script.pop(0) if len(script) > 1 else script[0]
        if script is not None:
            return script(received)
        for method, pattern, route in self._patterns:
            if method == received.method and pattern.fullmatch(received.path):
                return route(received)
        return Reply(
            status=404, json={"error_code": "FAKE.unscripted", "error_msg": f"unscripted {received.method}"}
        )

    # ----------------------------------------------------------------- inspection

    def requests_to(self, method: str, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.method == method.upper() and r.path == path]

    def count(self, method: str, path: str) -> int:
        return len(self.requests_to(method, path))

    @property
    def last(self) -> Received:
        with self._lock:
            return self.received[-1]

    # ----------------------------------------------------------------- lifecycle

    def on_close(self, closer: Callable[[], None]) -> None:
        """Call ``closer`` (e.g. a client's ``close``) when the server closes."""
        self._closers.append(closer)

    def close(self) -> None:
        for closer in self._closers:
            closer()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeUpstream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

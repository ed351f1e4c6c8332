"""Fronts that refuse an instance's direct route, as a cloud's network or front proxy can.

``POST /_emulator/instances/{id}/direct {"refuse": "closed" | "forbidden" | null}`` makes the
instance's published ``url`` (and its NOTEBOOK endpoint) point at one of these, while its Jupyter
server keeps running on its own loopback port, reachable through the instance's SSH endpoint only:

* ``closed``: a loopback port bound but never listening (the kernel answers every connection with a
  reset: *connection refused*); held by the emulator, so no other program can take it;
* ``forbidden``: a loopback HTTP server answering ``403 Forbidden`` to every request, websocket
  upgrades included (a front proxy that does not let this client through).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["REFUSALS", "RefusingFronts"]

REFUSALS = ("closed", "forbidden")


class _Forbidden(BaseHTTPRequestHandler):
    def _refuse(self) -> None:
        body = b'{"message": "Forbidden by the front proxy (codelab_ext emulator)"}'
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _refuse

    def log_message(self, format: str, *args: object) -> None:
        return


class RefusingFronts:
    """The two fronts, made when first asked for and closed with the emulator."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed: socket.socket | None = None
        self._forbidden: ThreadingHTTPServer | None = None

    def origin(self, refusal: str) -> str:
        """``http://127.0.0.1:<port>`` of the front for ``refusal`` (one of :data:`REFUSALS`)."""
        with self._lock:
            if refusal == "closed":
                if self._closed is None:
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    sock.bind(("127.0.0.1", 0))  # never listen(): connections are refused
                    self._closed = sock
                port = self._closed.getsockname()[1]
            elif refusal == "forbidden":
                if self._forbidden is None:
                    server = ThreadingHTTPServer(("127.0.0.1", 0), _Forbidden)
                    server.daemon_threads = True
                    threading.Thread(
                        target=server.serve_forever, name="codelab-emulator-front", daemon=True
                    ).start()
                    self._forbidden = server
                port = self._forbidden.server_address[1]
            else:
                raise ValueError(f"refuse must be one of {', '.join(REFUSALS)} or null")
        return f"http://127.0.0.1:{port}"

    def close(self) -> None:
        with self._lock:
            closed, self._closed = self._closed, None
            forbidden, self._forbidden = self._forbidden, None
        if closed is not None:
            closed.close()
        if forbidden is not None:
            with contextlib.suppress(Exception):
                forbidden.shutdown()
                forbidden.server_close()

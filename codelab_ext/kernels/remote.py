"""The instance's Jupyter REST API as the remote kernels use it: kernelspecs, kernels, websockets.

An instance's ``url`` ends with ``/lab``; the same path without ``lab`` is its Jupyter server
(design.md §7), authenticated by the instance token (``Authorization: token …``, never in a query
string, so it cannot end up in a log line). Every call has a total deadline (tornado's
``request_timeout`` covers connect, headers and body) and a size cap; an error never carries the
token.

Nothing local goes to the instance: a kernel is started with its kernelspec name and a path under
the instance's work folder only (no environment, no local path).
"""

from __future__ import annotations

import json
import posixpath
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from ..errors import CodeLabError
from ..i18n import tr
from ..workspace.core import WORK_DIR

#: the kernel websocket protocol that passes message parts through as bytes (no JSON round trip)
WS_PROTOCOL = "v1.kernel.websocket.jupyter.org"
#: the largest REST answer read from an instance (kernelspecs with logos stay far below)
MAX_REST_BYTES = 4 * 1024 * 1024
#: the largest websocket message accepted from an instance (one output of a cell)
MAX_WS_MESSAGE_BYTES = 256 * 1024 * 1024


class RemoteError(CodeLabError):
    """The instance's Jupyter server refused or could not be reached (``http_status``; 599: no answer)."""

    status = 502

    def __init__(self, message: Any, *, http_status: int = 599) -> None:
        super().__init__(message)
        self.http_status = http_status


def jupyter_base(instance_url: str) -> str:
    """The Jupyter REST base of an instance URL (``…/{id}/lab`` → ``…/{id}/``); no query, no fragment."""
    parts = urlsplit(instance_url)
    path = parts.path.rstrip("/")
    if path.endswith("/lab"):
        path = path[: -len("/lab")]
    return urlunsplit((parts.scheme, parts.netloc, path.rstrip("/") + "/", "", ""))


def remote_path(folder: str | None) -> str:
    """An instance folder as the path the REST API takes (relative to the work folder; "" = the work folder).

    Anything outside the work folder (or with ``..``) is the work folder itself: a kernel never starts
    elsewhere.
    """
    if not folder:
        return ""
    normal = posixpath.normpath(folder)
    if ".." in normal.split("/"):
        return ""
    if normal == WORK_DIR:
        return ""
    if normal.startswith(WORK_DIR + "/"):
        return normal[len(WORK_DIR) + 1 :]
    if normal.startswith("/"):
        return ""
    return "" if normal == "." else normal


@dataclass
class InstanceJupyter:
    """One instance's Jupyter server (``base`` from :func:`jupyter_base`, its ``token``)."""

    base: str
    token: str = field(repr=False)
    timeout: float = 30.0
    #: "direct" (the instance's url) or "ssh" (a forward over its SSH endpoint: .transport)
    transport: str = "direct"

    def close(self) -> None:
        """Give back what reaching the instance holds (the SSH connection of a forward)."""

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}", "Content-Type": "application/json"}

    def _url(self, path: str) -> str:
        return self.base + path.lstrip("/")

    async def call(self, method: str, path: str, body: Any = None, *, timeout: float | None = None) -> Any:
        """``method path`` with the token, JSON in and out; :class:`RemoteError` with a readable message."""
        deadline = self.timeout if timeout is None else timeout
        request = HTTPRequest(
            self._url(path),
            method=method,
            headers=self._headers(),
            body=None if body is None and method in ("GET", "DELETE") else json.dumps(body or {}),
            connect_timeout=min(deadline, 10.0),
            request_timeout=deadline,
            follow_redirects=False,
        )
        client = AsyncHTTPClient(max_body_size=MAX_REST_BYTES)
        try:
            response = await client.fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as exc:
            raise RemoteError(
                tr("The instance's Jupyter server could not be reached: {why}", why=type(exc).__name__)
            ) from None
        if response.code == 599:
            why = type(response.error).__name__ if response.error is not None else "no answer"
            raise RemoteError(tr("The instance's Jupyter server could not be reached: {why}", why=why))
        if response.code >= 400:
            raise RemoteError(
                tr(
                    "The instance's Jupyter server answered {status} to {method} {path}.",
                    status=response.code,
                    method=method,
                    path=path.split("?")[0],
                ),
                http_status=response.code,
            )
        if not response.body:
            return None
        try:
            return json.loads(response.body)
        except ValueError:
            raise RemoteError(
                tr("The instance's Jupyter server answered something that is not JSON.")
            ) from None

    async def probe(self) -> None:
        """Check that the instance's Jupyter server answers here (``GET api``: its version), else
        :class:`RemoteError` (599 when what answered is not a Jupyter server)."""
        data = await self.call("GET", "api")
        if not isinstance(data, dict) or "version" not in data:
            raise RemoteError(tr("What answered at the instance's Jupyter address is not a Jupyter server."))

    # ------------------------------------------------------------------ kernelspecs and kernels
    async def kernelspecs(self) -> dict[str, Any]:
        """``{name: spec}`` of the instance (``GET api/kernelspecs``)."""
        data = await self.call("GET", "api/kernelspecs")
        specs = data.get("kernelspecs") if isinstance(data, dict) else None
        return {str(name): value for name, value in (specs or {}).items() if isinstance(value, dict)}

    async def start_kernel(self, name: str, path: str) -> str:
        """Start kernel ``name`` with its working folder ``path`` (relative to the work folder): its id."""
        data = await self.call("POST", "api/kernels", {"name": name, "path": path})
        kernel_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(kernel_id, str) or not kernel_id:
            raise RemoteError(tr("The instance's Jupyter server did not say which kernel it started."))
        return kernel_id

    async def kernel(self, kernel_id: str) -> dict[str, Any] | None:
        """The kernel's model, or None when the instance's server no longer has it."""
        try:
            return await self.call("GET", f"api/kernels/{quote(kernel_id)}")
        except RemoteError as exc:
            if exc.http_status == 404:
                return None
            raise

    async def interrupt(self, kernel_id: str) -> None:
        await self.call("POST", f"api/kernels/{quote(kernel_id)}/interrupt")

    async def restart(self, kernel_id: str, *, timeout: float) -> None:
        await self.call("POST", f"api/kernels/{quote(kernel_id)}/restart", timeout=timeout)

    async def delete(self, kernel_id: str) -> None:
        try:
            await self.call("DELETE", f"api/kernels/{quote(kernel_id)}")
        except RemoteError as exc:
            if exc.http_status != 404:
                raise

    async def connect(self, kernel_id: str, session_id: str, *, timeout: float) -> WebSocketClientConnection:
        """The kernel's websocket (protocol v1), for session ``session_id`` (the same id resumes)."""
        parts = urlsplit(self._url(f"api/kernels/{quote(kernel_id)}/channels"))
        scheme = "wss" if parts.scheme == "https" else "ws"
        url = urlunsplit((scheme, parts.netloc, parts.path, f"session_id={quote(session_id)}", ""))
        request = HTTPRequest(
            url,
            headers={"Authorization": f"token {self.token}"},
            connect_timeout=timeout,
            request_timeout=timeout,
        )
        try:
            ws = await websocket_connect(
                request,
                subprotocols=[WS_PROTOCOL],
                max_message_size=MAX_WS_MESSAGE_BYTES,
                ping_interval=20,
                ping_timeout=20,
            )
        except (OSError, HTTPClientError) as exc:
            status = getattr(exc, "code", 599)
            raise RemoteError(
                tr(
                    "The kernel's connection to the instance could not be opened: {why}",
                    why=type(exc).__name__,
                ),
                http_status=status if isinstance(status, int) else 599,
            ) from None
        # tornado's websocket client reads into a stream capped at 100 MiB whatever max_message_size
        # says, and closes the connection on a bigger output: the stream holds one message and a frame
        # header, so it gets the message cap and some room
        stream = ws.protocol.stream if ws.protocol is not None else None
        if stream is not None:
            stream.max_buffer_size = MAX_WS_MESSAGE_BYTES + 64 * 1024
            read_large_frames_in_place(stream)
        return ws


#: a websocket frame at least this long is read straight into a buffer of its size
LARGE_FRAME = 256 * 1024


def read_large_frames_in_place(stream: Any) -> None:
    """Make a tornado stream read each large websocket frame into one buffer of the frame's size.

    Tornado reads a frame's payload into the stream's buffer by appending each piece as it arrives,
    then copies the whole out: a 10 MB output arriving in pieces grew that buffer by reallocation dozens
    of times (several times its size copied) and made up most of the bridge's cost for large outputs.
    The websocket asks for the payload's length (its header says it first), so a large payload is read
    with the stream's ``read_into``, into a buffer of that size: each byte is written once. Smaller
    reads go the usual way.
    """
    read_bytes = getattr(stream, "read_bytes", None)
    if read_bytes is None or not hasattr(stream, "read_into"):
        return  # not the stream this was written for: leave it as it is

    async def read_in_place(num_bytes: int) -> bytearray:
        buffer = bytearray(num_bytes)
        await stream.read_into(buffer)
        return buffer

    def read(num_bytes: int, partial: bool = False) -> Any:
        if num_bytes < LARGE_FRAME or partial:
            return read_bytes(num_bytes, partial)
        return read_in_place(num_bytes)

    stream.read_bytes = read


#: Linux only; elsewhere :func:`ack_now` does nothing
_TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def ack_now(ws: WebSocketClientConnection) -> None:
    """Acknowledge at once what the instance sent so far, and the next segment too (Linux ``TCP_QUICKACK``).

    Called after each websocket message read or written. A Jupyter server leaves Nagle's algorithm on
    for its kernel websockets (tornado turns it back on after the upgrade), so it holds the kernel's
    second small message (execute_input after busy) until the first is acknowledged; Linux delays that
    acknowledgement by 40 ms when it has nothing to send back. Every cell's output arrived 40 ms late.
    The kernel clears the flag by itself, hence once per message; a socket that refuses it (not TCP)
    is left as it is.
    """
    if _TCP_QUICKACK is None:
        return
    stream = ws.protocol.stream if ws.protocol is not None else None
    sock = stream.socket if stream is not None else None
    if sock is None:
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
    except OSError:
        pass


def pack_ws(channel: str, parts: list[bytes]) -> bytes:
    """One websocket message of the v1 protocol: offsets, channel, then the message parts as they are."""
    name = channel.encode()
    offsets = [8 * (len(parts) + 3)]
    offsets.append(offsets[-1] + len(name))
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    head = len(offsets).to_bytes(8, "little") + b"".join(o.to_bytes(8, "little") for o in offsets)
    return b"".join([head, name, *parts])


def unpack_ws(data: bytes) -> tuple[str, list[memoryview]]:
    """(channel, parts) of a v1 websocket message, the parts as views of ``data`` (no copy); ValueError
    when it is not one."""
    view = memoryview(data)
    if len(view) < 8:
        raise ValueError("short message")
    count = int.from_bytes(view[:8], "little")
    if count < 2 or 8 * (count + 1) > len(view):
        raise ValueError("bad offset table")
    offsets = [int.from_bytes(view[8 * (i + 1) : 8 * (i + 2)], "little") for i in range(count)]
    if offsets[0] != 8 * (count + 1) or offsets != sorted(offsets) or offsets[-1] > len(view):
        raise ValueError("bad offsets")
    channel = bytes(view[offsets[0] : offsets[1]]).decode()
    return channel, [view[offsets[i] : offsets[i + 1]] for i in range(1, count - 1)]

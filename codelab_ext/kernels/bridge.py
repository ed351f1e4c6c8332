"""The bridge between local kernel channels (ZMQ) and the instance's kernel websocket.

Local clients (the Jupyter server's websocket to the browser, nbclient, a console) connect to five
ZMQ sockets exactly as to a local kernel: shell, control and stdin ROUTERs, an iopub PUB and a
heartbeat REP, as unix sockets in a private folder where ZMQ has them (else on 127.0.0.1), on the
kernel manager's ZMQ context (docs/architecture.md, "Local transport and the floor").
Each message they send is checked against the local session key, then its
parts (header, parent header, metadata, content, buffers) go *as bytes* to the instance over the
websocket protocol v1 (the instance's server signs them with its own key); what the instance sends
back is signed with the local key and routed to the client whose request it answers (by the parent
header's msg_id; iopub to every subscriber). Contents are never decoded, so a 10 MB output costs one
copy and one HMAC.

The connection to the instance lives apart from the kernel:

* it opens with a ``session_id`` of the bridge; when it drops, the instance's server buffers the
  kernel's messages for that session and replays them when the same session connects again
  (jupyter_server's session resume). The bridge reconnects by itself, with back-off, within
  ``reconnect_timeout``; meanwhile the notebook sees the kernel busy, and what clients send waits in
  a bounded queue;
* a reconnect that the direct route refuses asks ``reroute`` (the provisioner's) for the other way
  (the instance's SSH endpoint, :mod:`.transport`) and goes on there with the same session;
* before reconnecting, ``check`` (the provisioner's) asks whether the instance still runs: when the
  lease or a Stop ended it, the kernel ends with that reason: each execution in flight gets it as
  output and as an error reply, then the kernel's status is ``dead``.

Bounded: the route table, the queue of messages waiting for a connection (count and bytes), every
wait (``kernel_info``, connects).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.session import Session
from tornado.websocket import WebSocketClientConnection

from ..i18n import Message, tr
from .remote import InstanceJupyter, RemoteError, ack_now, pack_ws, unpack_ws

log = logging.getLogger("codelab_ext.kernels")

DELIM = b"<IDS|MSG>"
#: requests remembered for routing their replies back
MAX_ROUTES = 10_000
#: messages (and bytes) kept while the connection to the instance is down
MAX_QUEUED = 1_000
MAX_QUEUED_BYTES = 64 * 1024 * 1024
CHANNELS = ("shell", "control", "stdin")
#: the local sockets, in the order of their ipc numbers
_SOCKETS = {"shell": zmq.ROUTER, "control": zmq.ROUTER, "stdin": zmq.ROUTER, "iopub": zmq.PUB, "hb": zmq.REP}

#: ``reroute()`` answers the instance's Jupyter server the other way (direct refused: through SSH), or None
Reroute = Callable[[], Awaitable["InstanceJupyter | None"]]
#: ``check()`` answers None while the instance runs, else why the kernel ends
Check = Callable[[], Awaitable["Message | None"]]


class Bridge:
    """Local ZMQ sockets for one kernel, joined to its websocket on the instance."""

    def __init__(
        self,
        session: Session,
        *,
        name: str = "codelab",
        context: zmq.Context[Any] | None = None,
        transport: str = "auto",
    ) -> None:
        """``context``: the local clients' ZMQ context (the kernel manager's), shared so that one ZMQ
        thread carries a message from them to the bridge; None: a context of the bridge's own.
        ``transport``: "ipc" (unix sockets in a private folder), "tcp" (127.0.0.1) or "auto" (ipc where
        ZMQ has it, else tcp)."""
        self.session = session
        self.name = name
        self._own_context = context is None
        if context is None:
            self.context: zmq.asyncio.Context = zmq.asyncio.Context()
        elif isinstance(context, zmq.asyncio.Context):
            self.context = context
        else:
            self.context = zmq.asyncio.Context(shadow=context)
        self.sockets: dict[str, zmq.asyncio.Socket] = {}
        self.ports: dict[str, int] = {}
        #: the private folder of the ipc sockets (None: tcp)
        self.ipc_dir: str | None = None
        self.remote: InstanceJupyter | None = None
        self.kernel_id: str | None = None
        #: one id for every connection of this bridge: the instance replays what a drop missed
        self.session_id = uuid.uuid4().hex
        self.ws: WebSocketClientConnection | None = None
        self.ended: Message | None = None
        self.closing = False
        self.check: Check | None = None
        self.reroute: Reroute | None = None
        self.reconnect_timeout = 120.0
        self.connect_timeout = 30.0
        self.reconnects = 0
        self._routes: OrderedDict[str, list[bytes]] = OrderedDict()
        #: execute requests without their reply yet: msg_id -> (header bytes, client identities)
        self._executing: OrderedDict[str, tuple[bytes, list[bytes]]] = OrderedDict()
        self._waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        #: kernel_info requests waiting to be heard on iopub: msg_id -> the future their call awaits
        self._iopub_waiters: dict[str, asyncio.Future[None]] = {}
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._connected = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._reader: asyncio.Task[None] | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._closed = False
        try:
            self._bind(transport)
        except BaseException:
            self._close_sockets()
            raise

    def _bind(self, transport: str) -> None:
        if transport == "auto":
            transport = "ipc" if zmq.has("ipc") and os.name == "posix" else "tcp"
        if transport == "ipc":
            # only this user can reach the sockets (mkdtemp makes the folder 0700); the session key
            # still signs every message
            self.ipc_dir = tempfile.mkdtemp(prefix="codelab-kernel-")
        for number, (channel, kind) in enumerate(_SOCKETS.items(), start=1):
            sock = self.context.socket(kind)
            self.sockets[channel] = sock
            sock.linger = 0
            if kind == zmq.ROUTER:
                sock.router_handover = 1
            if self.ipc_dir is None:
                self.ports[channel] = sock.bind_to_random_port("tcp://127.0.0.1")
            else:
                # jupyter_client names an ipc endpoint "<ip>-<port>": ip is a path, the port a number
                sock.bind(f"ipc://{self.ip}-{number}")
                self.ports[channel] = number

    @property
    def transport(self) -> str:
        """The local sockets' transport as a connection file says it."""
        return "tcp" if self.ipc_dir is None else "ipc"

    @property
    def ip(self) -> str:
        """The local sockets' address as a connection file says it (for ipc, the path before "-<port>")."""
        return "127.0.0.1" if self.ipc_dir is None else f"{self.ipc_dir}/kernel"

    # ------------------------------------------------------------------ life
    def start(self) -> None:
        """Serve the local sockets (once)."""
        if self._tasks:
            return
        for channel in CHANNELS:
            self._tasks.append(asyncio.ensure_future(self._serve_local(channel)))
        self._tasks.append(asyncio.ensure_future(self._serve_heartbeat()))

    async def attach(self, remote: InstanceJupyter, kernel_id: str) -> None:
        """Join the bridge to kernel ``kernel_id`` of ``remote`` (a new kernel: a new session)."""
        self._drop_ws()
        self.remote, self.kernel_id = remote, kernel_id
        self.session_id = uuid.uuid4().hex
        self.ended = None
        await self._open()

    async def _open(self) -> None:
        assert self.remote is not None and self.kernel_id is not None
        ws = await self.remote.connect(self.kernel_id, self.session_id, timeout=self.connect_timeout)
        self.ws = ws
        self._connected.set()
        self._reader = asyncio.ensure_future(self._read_remote(ws))
        while self._queue:
            data = self._queue.popleft()
            self._queued_bytes -= len(data)
            await self._send_remote(data)

    def _drop_ws(self) -> None:
        ws, self.ws = self.ws, None
        self._connected.clear()
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        if ws is not None:
            ws.close()

    def cut(self) -> None:
        """Break the connection to the instance at the socket, as a network failure does (tests)."""
        ws = self.ws
        if ws is not None and ws.protocol is not None and ws.protocol.stream is not None:
            ws.protocol.stream.close()

    async def close(self) -> None:
        """Stop everything: websocket, tasks, local sockets, their folder and their context when it is the
        bridge's own (once: again does nothing)."""
        if self._closed:
            return
        self._closed = True
        self.closing = True
        self._drop_ws()
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        waiting: list[asyncio.Future[Any]] = [*self._waiters.values(), *self._iopub_waiters.values()]
        for waiter in waiting:
            if not waiter.done():
                waiter.cancel()
        self._close_sockets()

    def _close_sockets(self) -> None:
        for sock in self.sockets.values():
            sock.close(linger=0)
        if self._own_context:
            self.context.term()
        if self.ipc_dir is not None:
            shutil.rmtree(self.ipc_dir, ignore_errors=True)

    @property
    def connected(self) -> bool:
        return self.ws is not None

    # ------------------------------------------------------------------ requests of our own
    async def kernel_info(self, timeout: float) -> dict[str, Any]:
        """Ask the kernel for kernel_info until it answers on shell *and* on iopub, within ``timeout``.

        A reply on shell alone does not prove that the instance's server hears the kernel's iopub: after
        a restart its subscriber reconnects to the new process by itself, some time after shell does
        (jupyter_server nudges iopub only when a websocket opens), and what the kernel publishes before
        that is lost: the busy, output and idle of the notebook's first cell. So the request is sent
        again every second until one of its iopub messages (the kernel's busy or idle for it) arrives too.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        answered: asyncio.Future[dict[str, Any]] = loop.create_future()
        heard: asyncio.Future[None] = loop.create_future()
        sent: list[str] = []
        try:
            while True:
                if self.ended is not None:
                    raise RemoteError(self.ended)
                msg = self.session.msg("kernel_info_request", content={})
                msg_id = msg["header"]["msg_id"]
                self._waiters[msg_id] = answered
                self._iopub_waiters[msg_id] = heard
                sent.append(msg_id)
                if self.ws is not None:
                    await self._send_remote(pack_ws("shell", self.session.serialize(msg)[2:]))
                left = deadline - loop.time()
                if left <= 0:
                    raise RemoteError(
                        tr(
                            "The kernel on the instance did not answer within {seconds} s.",
                            seconds=round(timeout),
                        )
                    )
                both: set[asyncio.Future[Any]] = {answered, heard}
                await asyncio.wait(both, timeout=min(1.0, left))
                if answered.cancelled() or heard.cancelled():
                    raise asyncio.CancelledError  # the bridge closed
                if answered.done() and heard.done():
                    return answered.result()
        finally:
            for msg_id in sent:
                self._waiters.pop(msg_id, None)
                self._iopub_waiters.pop(msg_id, None)

    # ------------------------------------------------------------------ local -> instance
    async def _serve_local(self, channel: str) -> None:
        sock = self.sockets[channel]
        while True:
            frames = await sock.recv_multipart(copy=True)
            try:
                await self._from_local(channel, frames)
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad message never stops the channel
                log.warning("%s: a %s message could not be forwarded", self.name, channel, exc_info=True)

    async def _from_local(self, channel: str, frames: list[bytes]) -> None:
        idents, frames_list = self.session.feed_identities(frames, copy=True)
        msg_list = [bytes(part) for part in frames_list]  # type: ignore[arg-type]
        msg = self.session.deserialize(msg_list, content=False, copy=True)  # checks the signature
        header = msg["header"]
        msg_id, msg_type = str(header.get("msg_id", "")), str(header.get("msg_type", ""))
        if channel != "stdin":
            self._remember(msg_id, list(idents))
        if channel == "control" and msg_type == "shutdown_request":
            # the kernel's life is the kernel manager's (REST on the instance, see the provisioner):
            # a shutdown request sent to the instance's kernel would look like a crash there
            content = self.session.unpack(msg_list[4])
            self._reply_local("control", idents, msg["header"], "shutdown_reply", {"status": "ok", **content})
            return
        if self.ended is not None:
            if msg_type == "execute_request":
                self._end_execution(msg_list[1], list(idents), self.ended)
            return
        if msg_type == "execute_request":
            self._executing[msg_id] = (msg_list[1], list(idents))
            while len(self._executing) > MAX_ROUTES:
                self._executing.popitem(last=False)
        data = pack_ws(channel, msg_list[1:])
        if self.ws is None:
            self._enqueue(data)
        else:
            await self._send_remote(data)

    def _remember(self, msg_id: str, idents: list[bytes]) -> None:
        self._routes[msg_id] = idents
        while len(self._routes) > MAX_ROUTES:
            self._routes.popitem(last=False)

    def _enqueue(self, data: bytes) -> None:
        if len(self._queue) >= MAX_QUEUED or self._queued_bytes + len(data) > MAX_QUEUED_BYTES:
            log.warning(
                "%s: the connection to the instance is down and its queue is full: message dropped", self.name
            )
            return
        self._queue.append(data)
        self._queued_bytes += len(data)

    async def _send_remote(self, data: bytes) -> None:
        ws = self.ws
        if ws is None:
            self._enqueue(data)
            return
        try:
            await ws.write_message(data, binary=True)
            ack_now(ws)
        except Exception:
            # the connection broke under us: keep the message for the next one
            self._enqueue(data)
            self._connection_lost(ws)

    # ------------------------------------------------------------------ instance -> local
    async def _read_remote(self, ws: WebSocketClientConnection) -> None:
        while True:
            data = await ws.read_message()
            if data is None:
                self._connection_lost(ws)
                return
            ack_now(ws)
            if isinstance(data, str):
                continue  # the v1 protocol sends binary messages only
            try:
                channel, parts = unpack_ws(data)
                await self._to_local(channel, parts)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning(
                    "%s: a message from the instance could not be delivered", self.name, exc_info=True
                )

    async def _to_local(self, channel: str, parts: list[memoryview]) -> None:
        if len(parts) < 4:
            return
        signature = self.session.sign(parts[:4])
        if channel == "iopub":
            if self._iopub_waiters:  # kernel_info listens for iopub (rare: parse only then)
                parent = json.loads(bytes(parts[1])) if len(parts[1]) else {}
                heard = self._iopub_waiters.get(str(parent.get("msg_id", "")))
                if heard is not None and not heard.done():
                    heard.set_result(None)
            await self.sockets["iopub"].send_multipart([b"kernel", DELIM, signature, *parts], copy=False)
            return
        if channel not in CHANNELS:
            return
        parent = json.loads(bytes(parts[1])) if len(parts[1]) else {}
        parent_id = str(parent.get("msg_id", ""))
        waiter = self._waiters.get(parent_id)
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(json.loads(bytes(parts[3])))
            return
        if channel == "shell":
            self._executing.pop(parent_id, None)
        idents = self._routes.get(parent_id)
        if idents is None:
            return  # a reply to a request of someone else (the instance's own kernel_info)
        await self.sockets[channel].send_multipart([*idents, DELIM, signature, *parts], copy=False)

    def _reply_local(
        self,
        channel: str,
        idents: list[bytes],
        parent: dict[str, Any],
        msg_type: str,
        content: dict[str, Any],
    ) -> None:
        self.session.send(self.sockets[channel], msg_type, content, parent=parent, ident=idents)

    def _publish(self, msg_type: str, content: dict[str, Any], parent: dict[str, Any] | None = None) -> None:
        self.session.send(self.sockets["iopub"], msg_type, content, parent=parent or {}, ident=[b"kernel"])

    # ------------------------------------------------------------------ drops and the end
    def _connection_lost(self, ws: WebSocketClientConnection) -> None:
        if ws is not self.ws:
            return  # an old connection
        self.ws = None
        self._connected.clear()
        if self.closing or self.ended is not None:
            return
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.ensure_future(self._reconnect())

    async def _reconnect(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.reconnect_timeout
        log.warning("%s: the connection to the instance dropped; reconnecting", self.name)
        self._publish("status", {"execution_state": "busy"})
        delay = 0.1
        why: Message | None = None
        while not self.closing and self.ended is None:  # end() from elsewhere (the instance stopped)
            why = await self._why_not_running()
            if why is not None or self.ended is not None:
                break
            try:
                await self._open()
            except RemoteError as exc:
                if exc.http_status == 404:
                    why = tr("The kernel is gone from the CodeLab instance (its server no longer has it).")
                    break
                log.info("%s: reconnect failed (%s)", self.name, exc.message)
                if await self._rerouted(exc):
                    continue  # the same kernel and session, the other way: at once
            else:
                if self.ended is not None:  # ended while this connection opened
                    self._drop_ws()
                    return
                self.reconnects += 1
                log.warning("%s: reconnected to the instance", self.name)
                # what the kernel is doing now (its busy/idle reach the notebook through iopub)
                with contextlib.suppress(RemoteError):
                    await self.kernel_info(timeout=min(30.0, self.reconnect_timeout))
                return
            if loop.time() + delay > deadline:
                why = tr(
                    "The connection to the CodeLab instance was lost and could not be restored within "
                    "{seconds} s.",
                    seconds=round(self.reconnect_timeout),
                )
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        if why is not None and not self.closing:
            self.end(why)

    async def _rerouted(self, error: RemoteError) -> bool:
        """The direct route is refused now: take the other way (``reroute``) when there is one."""
        from .transport import direct_refused

        if self.reroute is None or self.remote is None or self.remote.transport != "direct":
            return False
        if not direct_refused(error):
            return False
        try:
            remote = await self.reroute()
        except Exception as exc:
            log.info("%s: no other way to the instance (%s)", self.name, exc)
            return False
        if remote is None:
            return False
        log.warning("%s: the direct route is refused; going on through %s", self.name, remote.transport)
        self.remote = remote
        return True

    async def _why_not_running(self) -> Message | None:
        if self.check is None:
            return None
        try:
            return await self.check()
        except Exception:  # the cloud API failing says nothing about the instance: keep trying
            log.info("%s: could not ask whether the instance runs", self.name, exc_info=True)
            return None

    def end(self, why: Message) -> None:
        """The kernel ends: each execution in flight gets ``why``, then the status is dead."""
        if self.ended is not None:
            return
        self.ended = why
        log.warning("%s: the kernel ended: %s", self.name, why)
        self._drop_ws()
        executing, self._executing = self._executing, OrderedDict()
        for header, idents in executing.values():
            self._end_execution(header, idents, why)
        self._publish("status", {"execution_state": "dead"})

    def _end_execution(self, header_bytes: bytes, idents: list[bytes], why: Message) -> None:
        parent = json.loads(header_bytes)
        text = str(why)
        self._publish("status", {"execution_state": "busy"}, parent)
        self._publish("stream", {"name": "stderr", "text": text + "\n"}, parent)
        self._reply_local(
            "shell",
            idents,
            parent,
            "execute_reply",
            {
                "status": "error",
                "ename": "CodeLabKernelEnded",
                "evalue": text,
                "traceback": [text],
                "execution_count": 0,
            },
        )
        self._publish("status", {"execution_state": "idle"}, parent)

    async def _serve_heartbeat(self) -> None:
        sock = self.sockets["hb"]
        while True:
            frames = await sock.recv_multipart(copy=True)
            await sock.send_multipart(frames)

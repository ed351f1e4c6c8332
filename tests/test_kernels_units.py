"""Pure pieces of the CodeLab kernels: the websocket framing, paths, kernelspec names and shapes."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import statistics
import time
import uuid
from typing import Any

import pytest
import tornado.httpserver
import tornado.testing
import tornado.web
import tornado.websocket
from jupyter_client.session import Session
from jupyter_server.services.kernels.connection.base import deserialize_msg_from_ws_v1, serialize_msg_to_ws_v1

from codelab_ext.kernels.bridge import Bridge
from codelab_ext.kernels.remote import (
    LARGE_FRAME,
    MAX_WS_MESSAGE_BYTES,
    InstanceJupyter,
    jupyter_base,
    pack_ws,
    remote_path,
    unpack_ws,
)
from codelab_ext.kernels.specs import describe, local_name


@pytest.mark.parametrize(
    "parts", [[b"{}", b"{}", b"{}", b"{}"], [b'{"a":1}', b"", b"{}", b"x" * 100_000, b"\0buf"]]
)
def test_our_v1_frames_are_jupyter_servers(parts):
    assert pack_ws("iopub", parts) == serialize_msg_to_ws_v1(parts, "iopub")
    assert unpack_ws(serialize_msg_to_ws_v1(parts, "shell")) == deserialize_msg_from_ws_v1(
        serialize_msg_to_ws_v1(parts, "shell")
    )


@pytest.mark.parametrize(
    "junk", [b"", b"\x01", (5).to_bytes(8, "little") + b"short", (2).to_bytes(8, "little") * 3]
)
def test_a_broken_frame_is_refused(junk):
    with pytest.raises(ValueError):
        unpack_ws(junk)


def test_the_jupyter_base_of_an_instance_url():
    assert jupyter_base("http://127.0.0.1:8000/abc/lab") == "http://127.0.0.1:8000/abc/"
    assert jupyter_base("https://x.example/id/lab/?token=t#f") == "https://x.example/id/"
    assert jupyter_base("https://x.example/id/") == "https://x.example/id/"


@pytest.mark.parametrize(
    ("folder", "path"),
    [
        (None, ""),
        ("/home/ma-user/work", ""),
        ("/home/ma-user/work/proj/sub", "proj/sub"),
        ("/home/ma-user/work/../etc", ""),
        ("/etc", ""),
        ("proj", "proj"),
        ("../x", ""),
    ],
)
def test_a_kernel_path_never_leaves_the_work_folder(folder, path):
    assert remote_path(folder) == path


def test_kernelspec_names_and_shape():
    assert local_name("python3") == "codelab-python3"
    assert local_name("PyTorch 2.1 (NPU)") == "codelab-pytorch-2.1-npu"
    spec = describe(
        {"id": "i-1", "name": "nb"},
        "python3",
        {"spec": {"display_name": "Python 3", "language": "python", "metadata": {"debugger": True}}},
    )
    assert spec["display_name"] == "Python 3 (CodeLab)"
    assert spec["metadata"]["codelab"] == {
        "instance_id": "i-1",
        "instance_name": "nb",
        "remote_kernel": "python3",
        "transport": "direct",
    }
    assert describe({"id": "i-1"}, "python3", {}, "ssh")["metadata"]["codelab"]["transport"] == "ssh"
    assert spec["metadata"]["kernel_provisioner"]["provisioner_name"] == "codelab"
    assert spec["metadata"]["debugger"] is True
    assert spec["env"] == {} and spec["interrupt_mode"] == "signal"


def _kernel_message(msg_type: str, content: dict, parent: bytes) -> list[bytes]:
    """The parts (header, parent header, metadata, content) of a message a fake kernel channel sends."""
    own = {
        "msg_id": uuid.uuid4().hex,
        "msg_type": msg_type,
        "session": "k",
        "username": "u",
        "date": "2026-01-01T00:00:00Z",
        "version": "5.3",
    }
    return [json.dumps(own).encode(), parent, b"{}", json.dumps(content).encode()]


class _LateIopubKernel(tornado.websocket.WebSocketHandler):
    """An instance's kernel channel right after a restart: shell answers at once, but the server's iopub
    subscriber has not reconnected yet, so what the kernel publishes for the first requests is lost."""

    deaf_requests = 2
    requests: list[str] = []

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return subprotocols[0] if subprotocols else None

    async def on_message(self, message: str | bytes) -> None:
        assert isinstance(message, bytes)
        channel, parts = unpack_ws(message)
        header = json.loads(bytes(parts[0]))
        if channel != "shell" or header["msg_type"] != "kernel_info_request":
            return
        type(self).requests.append(header["msg_id"])
        parent = bytes(parts[0])

        def reply(msg_type: str, content: dict) -> list[bytes]:
            return _kernel_message(msg_type, content, parent)

        await self.write_message(pack_ws("shell", reply("kernel_info_reply", {"status": "ok"})), binary=True)
        if len(type(self).requests) > type(self).deaf_requests:
            status = reply("status", {"execution_state": "idle"})
            await self.write_message(pack_ws("iopub", status), binary=True)


class _Instance:
    def __init__(self, port: int) -> None:
        self.port = port

    async def connect(self, kernel_id: str, session_id: str, *, timeout: float) -> Any:
        return await tornado.websocket.websocket_connect(
            f"ws://127.0.0.1:{self.port}/api/kernels/{kernel_id}/channels?session_id={session_id}",
            subprotocols=["v1.kernel.websocket.jupyter.org"],
        )


async def test_kernel_info_waits_until_the_instance_hears_iopub():
    """The race of a restart (seen in CI: a cell's output lost right after a restart): kernel_info
    returns only once the kernel's iopub reaches the bridge, asking again until it does."""
    app = tornado.web.Application([(r"/api/kernels/([^/]+)/channels", _LateIopubKernel)])
    sock, port = tornado.testing.bind_unused_port()
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets([sock])
    _LateIopubKernel.requests = []
    bridge = Bridge(Session(key=b"k"), name="test")
    try:
        bridge.start()
        await bridge.attach(_Instance(port), "k-1")  # type: ignore[arg-type]
        reply = await bridge.kernel_info(timeout=30)
        assert reply == {"status": "ok"}
        assert len(_LateIopubKernel.requests) == _LateIopubKernel.deaf_requests + 1, (
            "asked again while iopub was deaf, and no more once it was heard"
        )
        assert not bridge._waiters and not bridge._iopub_waiters, "nothing left waiting"
    finally:
        await bridge.close()
        server.stop()


#: an output past tornado's own 100 MiB read cap, within ours
_BIG_OUTPUT = 101 * 1024 * 1024


def _kernel_channel(handler: type, max_message_size: int) -> tuple[tornado.httpserver.HTTPServer, int]:
    """A server on a free loopback port whose kernel channels are ``handler``: (server, port)."""
    app = tornado.web.Application(
        [(r"/api/kernels/([^/]+)/channels", handler)], websocket_max_message_size=max_message_size
    )
    sock, port = tornado.testing.bind_unused_port()
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets([sock])
    return server, port


class _BigOutputKernel(tornado.websocket.WebSocketHandler):
    """A kernel channel that sends one output of 101 MiB as soon as it opens."""

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return subprotocols[0] if subprotocols else None

    async def open(self, kernel_id: str) -> None:
        await self.write_message(b"x" * _BIG_OUTPUT, binary=True)


async def test_an_output_past_100_mib_within_the_cap_arrives_whole():
    """tornado's websocket client caps its read buffer at 100 MiB whatever max_message_size says: a
    bigger output closed the connection (the bridge then reconnected and the output was lost)."""
    assert MAX_WS_MESSAGE_BYTES > _BIG_OUTPUT
    server, port = _kernel_channel(_BigOutputKernel, 2 * _BIG_OUTPUT)
    ws = None
    try:
        ws = await InstanceJupyter(f"http://127.0.0.1:{port}/", "t").connect("k-1", "s-1", timeout=30)
        message = await asyncio.wait_for(ws.read_message(), 120)
        assert message is not None, "the connection closed instead of delivering the output"
        assert len(message) == _BIG_OUTPUT
    finally:
        if ws is not None:
            ws.close()
        server.stop()


def _payload(number: int, size: int) -> bytes:
    """``size`` bytes that say where they are (a misplaced or lost piece shows)."""
    pattern = bytes([number]) + bytes(range(256)) * (size // 256 + 1)
    return pattern[:size]


#: around the size from which a frame is read in place, and one of a notebook's large outputs
_SIZES = [LARGE_FRAME - 1, LARGE_FRAME, 3 * LARGE_FRAME + 7, 17, 10_000_000, 5]


class _OutputsKernel(tornado.websocket.WebSocketHandler):
    """A kernel channel that sends messages of ``_SIZES`` back to back as soon as it opens."""

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return subprotocols[0] if subprotocols else None

    def open(self, kernel_id: str) -> None:
        for number, size in enumerate(_SIZES):
            self.write_message(_payload(number, size), binary=True)


async def test_large_frames_are_read_into_one_buffer_of_their_size_and_arrive_whole():
    """A large frame's payload goes straight into one buffer of its size (tornado appended each piece
    to its stream buffer, growing it by reallocation, then copied it out); small frames go the usual
    way. Messages sent back to back arrive whole and in order whatever the pieces the socket gives."""
    server, port = _kernel_channel(_OutputsKernel, 64 * LARGE_FRAME)
    ws = None
    try:
        ws = await InstanceJupyter(f"http://127.0.0.1:{port}/", "t").connect("k-1", "s-1", timeout=30)
        assert ws.protocol is not None
        stream = ws.protocol.stream
        into: list[int] = []
        read_into = stream.read_into

        def counted(buffer: bytearray, partial: bool = False) -> Any:
            into.append(len(buffer))
            return read_into(buffer, partial)

        stream.read_into = counted  # type: ignore[method-assign]
        for number, size in enumerate(_SIZES):
            message = await asyncio.wait_for(ws.read_message(), 60)
            assert message is not None, f"the connection closed before message {number}"
            assert len(message) == size and bytes(message) == _payload(number, size), f"message {number}"
        assert into == [size for size in _SIZES if size >= LARGE_FRAME], "each large frame read in place"
    finally:
        if ws is not None:
            ws.close()
        server.stop()


@pytest.mark.parametrize("transport", ["auto", "tcp"])
async def test_the_bridges_sockets_answer_where_the_connection_info_says(transport):
    """By default the local sockets are unix sockets in a private folder (0700: no other user reaches
    them), named as jupyter_client names an ipc endpoint; tcp on 127.0.0.1 where asked. A client built
    from the connection info reaches them (the heartbeat echoes), and closing removes the folder and
    ends the bridge's own ZMQ context."""
    import zmq.asyncio

    bridge = Bridge(Session(key=b"k"), name="test", transport=transport)
    context = zmq.asyncio.Context()
    try:
        if transport == "auto":
            assert bridge.transport == "ipc" and bridge.ipc_dir is not None
            assert stat.S_IMODE(os.stat(bridge.ipc_dir).st_mode) == 0o700
            url = f"ipc://{bridge.ip}-{bridge.ports['hb']}"
            assert os.path.exists(url[len("ipc://") :])
        else:
            assert (bridge.transport, bridge.ip, bridge.ipc_dir) == ("tcp", "127.0.0.1", None)
            url = f"tcp://127.0.0.1:{bridge.ports['hb']}"
        bridge.start()
        hb = context.socket(zmq.REQ)
        hb.linger = 0
        hb.connect(url)
        await hb.send(b"ping")
        assert await asyncio.wait_for(hb.recv(), 10) == b"ping"
        hb.close()
    finally:
        await bridge.close()
        context.term()
    assert bridge.context.closed, "the bridge's own context ended"
    if bridge.ipc_dir is not None:
        assert not os.path.exists(bridge.ipc_dir)


async def test_a_bridge_on_a_shared_context_leaves_it_open():
    """On the kernel manager's context (a plain zmq.Context, as jupyter_server's), the bridge closes its
    sockets only: the context is the server's."""
    import zmq

    shared = zmq.Context()
    bridge = Bridge(Session(key=b"k"), name="test", context=shared)
    try:
        assert bridge.context.underlying == shared.underlying
        bridge.start()
    finally:
        await bridge.close()
    assert all(sock.closed for sock in bridge.sockets.values())
    assert not shared.closed and not bridge.context.closed
    shared.term()


@pytest.mark.parametrize(
    ("status", "said"),
    [
        ("STOPPING", "is stopping (it was stopped or its lease ended)"),
        ("STOPPED", "stopped (its lease ended or it was stopped)"),
        ("START_FAILED", "is START_FAILED"),
        ("", "is gone"),
    ],
)
def test_why_a_kernel_ended_is_said_in_words(status, said):
    from codelab_ext.kernels.instances import not_running_reason

    why = str(not_running_reason({"id": "i-1", "name": "nb", "status": status}))
    assert said in why and "this kernel has ended" in why
    assert not_running_reason({"id": "i-1", "status": "RUNNING"}) is None


def test_the_transport_memory_is_bounded():
    from codelab_ext.kernels import transport

    try:
        for n in range(transport.MAX_CHOICES + 10):
            transport.remember(f"bound-{n}", "direct", 60)
        assert len(transport._choices) == transport.MAX_CHOICES
        assert transport.remembered("bound-0") is None, "the oldest went first"
        assert transport.remembered(f"bound-{transport.MAX_CHOICES + 9}") is not None
    finally:
        for n in range(transport.MAX_CHOICES + 10):
            transport.unremember(f"bound-{n}")


class _NaglingKernel(tornado.websocket.WebSocketHandler):
    """A kernel channel answering an execute_request as ipykernel does through a Jupyter server: four
    small messages written one by one, with Nagle's algorithm left on (as jupyter_server leaves it)."""

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return subprotocols[0] if subprotocols else None

    async def on_message(self, message: str | bytes) -> None:
        assert isinstance(message, bytes)
        channel, parts = unpack_ws(message)
        if channel != "shell":
            return
        parent = bytes(parts[0])

        def part(msg_type: str, content: dict) -> list[bytes]:
            return _kernel_message(msg_type, content, parent)

        for name, msg_type, content in [
            ("iopub", "status", {"execution_state": "busy"}),
            ("iopub", "execute_input", {"code": "pass", "execution_count": 1}),
            ("shell", "execute_reply", {"status": "ok", "execution_count": 1}),
            ("iopub", "status", {"execution_state": "idle"}),
        ]:
            await self.write_message(pack_ws(name, part(msg_type, content)), binary=True)


async def _plain_round_trips(port: int, count: int) -> list[float]:
    """Round trips of a client that does not acknowledge at once (any websocket client)."""
    ws = await _Instance(port).connect("k-plain", "s-plain", timeout=30)
    session = Session(key=b"")
    times = []
    try:
        for _ in range(count):
            msg = session.msg("execute_request", {"code": "pass"})
            start = time.perf_counter()
            await ws.write_message(pack_ws("shell", session.serialize(msg)[2:]), binary=True)
            for _ in range(4):
                assert await asyncio.wait_for(ws.read_message(), 10) is not None
            times.append(time.perf_counter() - start)
    finally:
        ws.close()
    return times


async def test_a_cells_messages_are_not_held_by_the_instance_servers_nagle():
    """A Jupyter server holds a kernel's second small message until the first is acknowledged, and Linux
    delays that acknowledgement 40 ms: every cell took 40 ms more than its kernel. The bridge
    acknowledges at once (remote.ack_now), so a cell through it takes what its messages take."""
    from jupyter_client.asynchronous import AsyncKernelClient

    app = tornado.web.Application([(r"/api/kernels/([^/]+)/channels", _NaglingKernel)])
    sock, port = tornado.testing.bind_unused_port()
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets([sock])
    key = uuid.uuid4().hex.encode()
    bridge = Bridge(Session(key=key), name="test")
    client = None
    try:
        plain = statistics.median((await _plain_round_trips(port, 12))[2:])
        if plain < 0.030:
            pytest.skip(
                f"this system does not delay the acknowledgement (a plain client: {plain * 1e3:.1f} ms)"
            )
        bridge.start()
        await bridge.attach(_Instance(port), "k-1")  # type: ignore[arg-type]
        client = AsyncKernelClient()
        info: dict[str, Any] = {f"{name}_port": port for name, port in bridge.ports.items()}
        client.load_connection_info(
            {**info, "ip": bridge.ip, "transport": bridge.transport, "key": key.decode()}
        )
        client.start_channels()
        await asyncio.sleep(0.3)  # the iopub subscription reaches the bridge's PUB
        times = []
        for _ in range(12):
            start = time.perf_counter()
            msg_id = client.execute("pass")
            reply = await client.get_shell_msg(timeout=10)
            assert reply["parent_header"]["msg_id"] == msg_id
            while True:
                msg = await client.get_iopub_msg(timeout=10)
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    break
            times.append(time.perf_counter() - start)
        through = statistics.median(times[2:])
        assert through < 0.020 < plain, (
            f"through the bridge {through * 1e3:.1f} ms, a plain client {plain * 1e3:.1f}"
        )
    finally:
        if client is not None:
            client.stop_channels()
        await bridge.close()
        server.stop()

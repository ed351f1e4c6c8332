"""CodeLab kernels: the bridge against a client talking straight to the instance's kernel websocket.

One emulated instance served by a real Jupyter server (the emulator in a thread of this process), two
kernels of the same kernelspec on it (one per path: the instance's server sends each output to every
connection of a kernel, so a shared kernel would make each path receive the other's outputs too).
Path A, through the bridge, as a notebook in JupyterLab: a real local Jupyter server subprocess with
codelab_ext (``kernel_transport='direct'``), a ``codelab-python3`` kernel started through its REST API
(``POST api/kernels``), and a websocket client on the local server's ``api/kernels/<id>/channels``.
Path B, the baseline: the same websocket client on the instance's own kernel websocket, as a browser
opened on the instance would be. One client class for both (protocol v1,
``v1.kernel.websocket.jupyter.org``, the same decoding, the same quick ACKs), so the difference is the
local server, the provisioner's ZMQ channels and the bridge. Both run the same cells, alternating, so
machine noise hits both alike.

Before 2026-12-02 path A was a jupyter_client ``AsyncKernelClient`` on the provisioner's ZMQ channels in
this process. That is not what a notebook's path does: for protocol v1 the local server neither verifies
the HMAC of what the kernel sends nor decodes it (it passes the parts on), while the AsyncKernelClient
does both and parses every date with dateutil, work charged to the bridge that the real path does not
do. Its median is still printed after the measured runs, for information (not a target).

Figures: execute round trip of a trivial cell (``pass``: execute_request until both the reply and the
idle status arrived, in either order), medians and p95; a 10 MB output (a display_data: the instance's
server rate-limits stream bytes, not display data) as MB/s.

The client acknowledges what it reads at once on both paths, as the bridge does (``remote.ack_now``): the
instance's Jupyter server leaves Nagle's algorithm on, so a client that lets Linux delay its ACKs waits
40 ms per cell for the kernel's second message; that stall dominated both paths before the bridge
avoided it (direct 26-48 ms for a ``pass`` whose kernel takes 5). A plain client's median (on the
direct path) is printed beside, for information.

The floor, for information: a local ``python3`` kernel of the same local server, through its websocket
(the same client) and through its ZMQ sockets (a client that signs, and decodes what it receives as the
websocket client does). The difference is what the local server's websocket hop costs any kernel, a
local one too; every notebook on a CodeLab kernel pays it before the bridge does anything, so
1 + hop / direct is the least round-trip ratio a kernel behind this server can reach, and the 10 MB
time through the ZMQ sockets over that through the websocket the most throughput ratio.

Targets (ratios measured in the same run): round trip median bridge / direct <= 1.2 and bridge minus
direct <= 5 ms; 10 MB throughput bridge / direct >= 0.8.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from _harness import JupyterProcess, Report, median, ms, percentile, run_report

ROUND_TRIPS = 200
WARMUP = 20
PLAIN_ROUND_TRIPS = 40
BIG_RUNS = 9  # a median of 5 ranged 0.73-0.87 x in runs of the same ten minutes
BIG = 10_000_000
TARGET_RATIO = 1.2
TARGET_ADDED_MS = 5.0
TARGET_THROUGHPUT = 0.8
BIG_CELL = f"from IPython.display import display\ndisplay({{'text/plain': 'x' * {BIG}}}, raw=True)"


async def zmq_run(client: Any, code: str) -> float:
    """One cell by an AsyncKernelClient (information): until both the reply and the idle status came.

    The reply is awaited first, then iopub until the idle: what arrives on one channel meanwhile waits
    in its socket, so the time is that of the later of the two, as with a receive per channel racing
    (which this did before, at the cost of a task and an ``asyncio.wait`` per message: overhead of the
    benchmark charged to the bridge alone, the direct client reading its one websocket in a plain loop).
    """
    t0 = time.perf_counter()
    msg_id = client.execute(code)
    while (await client.get_shell_msg(timeout=120))["parent_header"].get("msg_id") != msg_id:
        pass
    while True:
        msg = await client.get_iopub_msg(timeout=120)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status":
            if msg["content"]["execution_state"] == "idle":
                return time.perf_counter() - t0


def execute_request(session: Any, code: str) -> dict[str, Any]:
    """An ``execute_request`` of ``code`` as a notebook sends it (no history, no stdin)."""
    return session.msg(
        "execute_request", {"code": code, "silent": False, "store_history": False, "allow_stdin": False}
    )


class Direct:
    """A kernel websocket client (protocol v1), as a browser: on the instance's server or the local one."""

    def __init__(self, ws: Any, *, quick_acks: bool = True) -> None:
        from jupyter_client.session import Session

        self.ws = ws
        self.session = Session(key=b"")
        #: acknowledge at once as the bridge does (remote.ack_now); without, each cell waits 40 ms for
        #: the instance server's Nagle and this side's delayed ACK (the "plain client" figure)
        self.quick_acks = quick_acks

    async def run(self, code: str) -> float:
        from codelab_ext.kernels.remote import ack_now, pack_ws, unpack_ws

        t0 = time.perf_counter()
        msg = execute_request(self.session, code)
        msg_id = msg["header"]["msg_id"]
        await self.ws.write_message(pack_ws("shell", self.session.serialize(msg)[2:]), binary=True)
        if self.quick_acks:
            ack_now(self.ws)
        reply = idle = False
        while not (reply and idle):
            data = await asyncio.wait_for(self.ws.read_message(), 120)
            if data is None:
                raise RuntimeError("the kernel websocket closed")
            if self.quick_acks:
                ack_now(self.ws)
            channel, parts = unpack_ws(data)
            # decoded as a browser decodes a message (the same on both paths)
            header, parent, content = (json.loads(bytes(parts[i]) or b"{}") for i in (0, 1, 3))
            if parent.get("msg_id") != msg_id:
                continue
            if channel == "shell":
                reply = True
            elif channel == "iopub" and header.get("msg_type") == "status":
                idle = idle or content.get("execution_state") == "idle"
        return time.perf_counter() - t0


def local_kernel(server: JupyterProcess, instance_id: str) -> str:
    """Start ``codelab-python3`` through the local server's REST API (as JupyterLab does): its id."""
    server.api("GET", f"instances/{instance_id}")  # an instance an action answers: its kernelspecs follow
    deadline = time.monotonic() + 60
    while True:
        specs = server.session.get(server.url("api/kernelspecs"), timeout=10).json()["kernelspecs"]
        if "codelab-python3" in specs:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"no codelab-python3 kernelspec after 60 s: {sorted(specs)}")
        time.sleep(0.2)
    response = server.session.post(
        server.url("api/kernels"), json={"name": "codelab-python3", "path": ""}, timeout=150
    )
    if response.status_code != 201:
        raise RuntimeError(f"POST api/kernels: HTTP {response.status_code} {response.text[:300]}")
    return str(response.json()["id"])


async def interleave(clients: dict[str, Any], code: str, runs: int) -> dict[str, list[float]]:
    """``runs`` cells on each path, the order reversed each time so machine noise hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in clients}
    order = list(clients.items())
    for i in range(runs):
        for name, client in order if i % 2 else reversed(order):
            times[name].append(await client.run(code))
    return times


class RawZmq:
    """A kernel client on a kernel's ZMQ sockets (shell and iopub) that signs what it sends and decodes
    what it receives as :class:`Direct` does, with no websocket between: for the floor figures."""

    def __init__(self, info: dict[str, Any]) -> None:
        import zmq
        import zmq.asyncio
        from jupyter_client.session import Session

        self.session = Session(key=str(info["key"]).encode(), signature_scheme=info["signature_scheme"])
        self.context = zmq.asyncio.Context()

        def url(channel: str) -> str:
            port = info[f"{channel}_port"]
            if info["transport"] == "tcp":
                return f"tcp://{info['ip']}:{port}"
            return f"{info['transport']}://{info['ip']}-{port}"

        self.shell = self.context.socket(zmq.DEALER)
        self.shell.connect(url("shell"))
        self.iopub = self.context.socket(zmq.SUB)
        self.iopub.setsockopt(zmq.SUBSCRIBE, b"")
        self.iopub.connect(url("iopub"))
        self.poller = zmq.asyncio.Poller()
        self.poller.register(self.shell, zmq.POLLIN)
        self.poller.register(self.iopub, zmq.POLLIN)

    async def run(self, code: str) -> float:
        import zmq

        t0 = time.perf_counter()
        msg = execute_request(self.session, code)
        msg_id = msg["header"]["msg_id"]
        await self.shell.send_multipart(self.session.serialize(msg))
        reply = idle = False
        while not (reply and idle):
            for sock, _ in await asyncio.wait_for(self.poller.poll(), 120):
                while True:
                    try:
                        frames = await sock.recv_multipart(flags=zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    parts = frames[frames.index(b"<IDS|MSG>") + 2 :]
                    # decoded as Direct decodes a message (as a browser does)
                    header, parent, content = (json.loads(parts[i] or b"{}") for i in (0, 1, 3))
                    if parent.get("msg_id") != msg_id:
                        continue
                    if sock is self.shell:
                        reply = True
                    elif header.get("msg_type") == "status":
                        idle = idle or content.get("execution_state") == "idle"
        return time.perf_counter() - t0

    def close(self) -> None:
        self.context.destroy(linger=0)


async def measure(report: Report, handle: Any, running: Any, server: JupyterProcess) -> None:
    from jupyter_client.asynchronous import AsyncKernelClient

    from codelab_ext.kernels.remote import InstanceJupyter

    bridge_id = local_kernel(server, running.id)
    local = InstanceJupyter(server.base + "/", server.token)
    remote = InstanceJupyter(running.base_url, running.token)
    # a kernel of its own: the instance's server sends each output to every connection of a kernel
    direct_kernel = await remote.start_kernel("python3", "")
    # for the floor: a local kernel of this server, through its websocket and through its ZMQ sockets
    local_kernel_id = await local.start_kernel("python3", "")
    sockets: list[Any] = []
    raw = zmq_client = None
    try:
        sockets.append(await local.connect(bridge_id, "bench-bridge", timeout=30))
        sockets.append(await remote.connect(direct_kernel, "bench-direct", timeout=30))
        sockets.append(await local.connect(local_kernel_id, "bench-local", timeout=30))
        raw = RawZmq(json.loads((server.workdir / "runtime" / f"kernel-{local_kernel_id}.json").read_text()))
        bridge, direct, local_ws = (Direct(ws) for ws in sockets)
        clients = {"bridge": bridge, "direct": direct, "local ws": local_ws, "local zmq": raw}
        await interleave(clients, "pass", WARMUP)
        times = await interleave(clients, "pass", ROUND_TRIPS)
        b_times, d_times = times["bridge"], times["direct"]
        big = await interleave(clients, BIG_CELL, BIG_RUNS)
        b_big, d_big = big["bridge"], big["direct"]
        # for information, after the measured runs: the same websocket read without quick ACKs (what
        # ack_now spares the bridge) ...
        plain = Direct(sockets[1], quick_acks=False)
        p_times = [await plain.run("pass") for _ in range(PLAIN_ROUND_TRIPS)]
        # ... and a jupyter_client AsyncKernelClient on the provisioner's ZMQ channels (HMAC checked,
        # every message decoded with its dates parsed: work the local server does not do for a notebook)
        zmq_client = AsyncKernelClient(
            connection_file=str(server.workdir / "runtime" / f"kernel-{bridge_id}.json")
        )
        zmq_client.load_connection_file()
        zmq_client.start_channels()
        await zmq_client.wait_for_ready(timeout=60)
        z_times = [await zmq_run(zmq_client, "pass") for _ in range(PLAIN_ROUND_TRIPS)]
    finally:
        if zmq_client is not None:
            zmq_client.stop_channels()
        if raw is not None:
            raw.close()
        for ws in sockets:
            ws.close()
        await remote.delete(direct_kernel)
        await local.delete(bridge_id)
        await local.delete(local_kernel_id)

    b_med, d_med = ms(median(b_times)), ms(median(d_times))
    report.figure("round trips per path", len(b_times))
    report.figure("direct websocket round trip median", d_med, "ms")
    report.figure("direct websocket round trip p95", ms(percentile(d_times, 95)), "ms")
    report.figure("through the bridge (local server websocket) round trip median", b_med, "ms")
    report.figure("through the bridge round trip p95", ms(percentile(b_times, 95)), "ms")
    report.figure("added median", b_med - d_med, "ms")
    report.figure("ratio of medians (bridge / direct)", b_med / d_med, "x")
    report.figure(
        "information: a plain websocket client (no quick ACKs), direct, median", ms(median(p_times)), "ms"
    )
    report.figure(
        "information: AsyncKernelClient on the provisioner's ZMQ channels, median", ms(median(z_times)), "ms"
    )
    # the floor of any kernel behind the local server: its websocket hop, paid by a local kernel too
    local_ws_med, local_zmq_med = ms(median(times["local ws"])), ms(median(times["local zmq"]))
    hop = local_ws_med - local_zmq_med
    report.figure("floor: a local kernel through the local server's websocket, median", local_ws_med, "ms")
    report.figure("floor: the same local kernel through its ZMQ sockets, median", local_zmq_med, "ms")
    report.figure("floor: the local server's websocket hop (the two above)", hop, "ms")
    report.figure(
        "floor: 1 + that hop / direct round trip (the least ratio behind this server)", 1 + hop / d_med, "x"
    )
    mb = BIG / 1e6
    report.figure(
        "floor: 10 MB through a local kernel's ZMQ sockets / through the local server's websocket (the most "
        "throughput ratio behind this server)",
        median(big["local zmq"]) / median(big["local ws"]),
        "x",
    )
    b_rate, d_rate = mb / median(b_big), mb / median(d_big)
    report.figure("10 MB output, direct", d_rate, "MB/s")
    report.figure("10 MB output, through the bridge", b_rate, "MB/s")
    report.figure("throughput ratio (bridge / direct)", b_rate / d_rate, "x")
    report.target("round trip ratio of medians (bridge / direct)", b_med / d_med, TARGET_RATIO, "x")
    report.target("round trip added median", b_med - d_med, TARGET_ADDED_MS, "ms")
    # a floor, said as a ceiling of its inverse: direct / bridge <= 1 / 0.8
    report.target(
        "10 MB throughput direct / bridge (goal bridge >= 0.8 x)", d_rate / b_rate, 1 / TARGET_THROUGHPUT, "x"
    )


def bench(report: Report) -> None:
    from codelab_ext.emulator import Emulator
    from codelab_ext.emulator.testing import EmulatorHandle

    emu = Emulator(speed=200.0, instance_servers=True, lab=False)
    emu.start_in_thread(port=0)
    handle = EmulatorHandle(emu)
    try:
        running = handle.running_instance()
        codelab = {
            "region": handle.region,
            "kernel_transport": "direct",  # both paths go straight to the instance's Jupyter server
            "ssh_reachability_check": False,
        }
        with JupyterProcess("server", emulator_url=handle.url, codelab=codelab) as server:
            asyncio.run(measure(report, handle, running, server))
    finally:
        handle.close()
        emu.stop()


if __name__ == "__main__":
    sys.exit(run_report("kernels", bench))

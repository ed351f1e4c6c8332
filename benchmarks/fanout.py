"""One poll, many viewers: upstream requests while an instance starts, 20 SSE subscribers vs 1.

Each run resets the emulator (speed 1: about 20 s from open to RUNNING), opens the instance through the
server, subscribes N event streams to it and waits until every subscriber has seen RUNNING. The emulator
counts the ``show`` requests that reached "ModelArts" meanwhile. With one shared poller per instance the
count does not depend on N.

Target: show requests with 20 subscribers / with 1 <= 1.1.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from _harness import JupyterProcess, Report, SSEClient, emulator, instance_status, run_report

SPEED = 1.0
TARGET_RATIO = 1.1
RUNNING_TIMEOUT = 90.0


async def startup_with(server: JupyterProcess, emu: Any, subscribers: int) -> dict[str, Any]:
    await asyncio.to_thread(emu.reset)  # no instance, counters at zero
    started = time.monotonic()
    iid = (await asyncio.to_thread(server.api, "POST", "open", {}))["id"]
    path = f"/codelab/instances/{iid}/events"
    clients = [SSEClient(server.port, path, server.auth_headers) for _ in range(subscribers)]
    try:
        await asyncio.gather(*(c.start() for c in clients))
        await asyncio.gather(
            *(c.wait_for(lambda e: instance_status(e) == "RUNNING", RUNNING_TIMEOUT) for c in clients)
        )
        elapsed = time.monotonic() - started
        stats = await asyncio.to_thread(emu.stats)
        events = sum(len(c.events) for c in clients)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    await asyncio.sleep(0.5)  # the server notices the hang-ups and ends the poller
    return {
        "show": int(stats.get("show", 0)),
        "total": int(stats.get("total", 0)),
        "seconds": elapsed,
        "events": events,
    }


def bench(report: Report) -> None:
    with emulator(speed=SPEED) as emu, JupyterProcess("server", emulator_url=emu.url) as server:
        server.api("GET", "images")  # warm the client (project id, session) before counting

        async def both() -> tuple[dict[str, Any], dict[str, Any]]:
            one = await startup_with(server, emu, 1)
            many = await startup_with(server, emu, 20)
            return one, many

        one, many = asyncio.run(both())

    for label, run in (("1 subscriber", one), ("20 subscribers", many)):
        report.figure(f"{label}: open -> RUNNING seen by all", run["seconds"], "s")
        report.figure(f"{label}: upstream show requests", run["show"])
        report.figure(f"{label}: upstream requests, all kinds", run["total"])
        report.figure(f"{label}: SSE events delivered", run["events"])
    ratio = many["show"] / max(1, one["show"])
    report.figure("ratio show requests 20 / 1", ratio, "x")
    report.figure("ratio per second of start-up 20 / 1", ratio * one["seconds"] / many["seconds"], "x")
    report.target("upstream show requests, 20 subscribers / 1", ratio, TARGET_RATIO, "x")


if __name__ == "__main__":
    sys.exit(run_report("fanout", bench))

"""Freshness: emulator state change -> SSE event received; upstream requests of a steady instance.

Start-up: the emulator runs in this process, so the moment of every start-up transition is known
exactly from its clock (the phase's start in emulated seconds plus the step offsets, divided by the
speed, mapped to ``time.monotonic``). The transitions are: step 1 PROCESSING (end of the queue), each
following step PROCESSING as the previous COMPLETES, and RUNNING with all four steps COMPLETED. Each is
matched with the arrival of the first SSE event that shows it (or a later state). One create and
three stop/start cycles give 20 samples. So that the transitions do not always fall at the same
phase of the server's 1 s poll (the action pokes the poller, so its cycle starts with the action), each
start-up is shifted by a random fraction of the emulator's 1 s queue (the emulated clock is moved on
in-process before step 1 begins).

Steady: once RUNNING, the single subscriber stays connected for 60 s and the emulator counts what
reached "ModelArts" (the watcher backs off 1, 2, 4, 8, 16, 30 s). Requests to a route the emulator does
not serve for ModelArts or IAM are printed by kind but not counted: they are the kernelspec sync reading
the instance's own Jupyter at its URL, which here (no instance server) is the emulator's host.

Targets: start-up freshness p95 <= 1.2 s; upstream requests in 60 s steady <= 6.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from typing import Any

from _harness import (
    JupyterProcess,
    Report,
    SSEClient,
    SSEEvent,
    emulator,
    instance_status,
    median,
    percentile,
    run_report,
)

SPEED = 2.0  # start-up in 10 s (create) / 8 s (start): transitions stay >= 1 s apart
RESTARTS = 3
STEADY_SECONDS = 60.0
TARGET_P95_S = 1.2
TARGET_STEADY_REQUESTS = 6
STARTUP_STATUSES = {"CREATING", "STARTING", "RUNNING"}
#: progress level reached at each transition: PROCESSING counts 1, COMPLETED 2, over the four steps
TRANSITION_LEVELS = (1, 3, 5, 7, 8)


def level(instance: dict[str, Any]) -> int:
    out = 0
    for step in instance.get("action_progress") or []:
        status = str(step.get("status") or "").upper()
        out += {"PROCESSING": 1, "COMPLETED": 2}.get(status, 0)
    return out


def transition_times(emu: Any, instance_id: str, shift: float) -> list[float]:
    """``time.monotonic()`` of each start-up transition of the phase under way (from the emulator).

    First moves the emulated clock ``shift`` seconds on (less than what is left of the queue before
    step 1), so that the start-up begins at a random phase of the server's 1 s poll cycle.
    """
    from codelab_ext.emulator.state import QUEUE_SECONDS

    state = emu.emulator.state
    clock = emu.emulator.clock
    with state.lock:
        phase = state.instances[instance_id].phase
        if phase is None or not phase.has_steps:
            raise RuntimeError("no start-up under way in the emulator")
        starts = phase.step_starts()
        left = phase.started + starts[0] - clock.emulated()
        clock.advance(max(0.0, min(shift, left - 0.05)))
        emulated_now, mono_now = clock.emulated(), time.monotonic()
        end = phase.stop_seconds + QUEUE_SECONDS + sum(phase.step_seconds)
        offsets = [*starts, end]
        speed = clock.speed
    return [mono_now + (phase.started + off - emulated_now) / speed for off in offsets]


async def one_startup(
    server: JupyterProcess, emu: Any, sse: SSEClient | None, action: tuple[str, str], shift: float
) -> tuple[str, SSEClient, list[float]]:
    """Run ``action`` (open or start), subscribe if needed, wait for RUNNING; the latencies."""
    cutoff = time.monotonic()
    iid = (await asyncio.to_thread(server.api, *action, {}))["id"]
    times = transition_times(emu, iid, shift)
    created = sse is None
    if sse is None:
        sse = await SSEClient(server.port, f"/codelab/instances/{iid}/events", server.auth_headers).start()

    def relevant(ev: SSEEvent) -> bool:
        return ev.arrived >= cutoff and instance_status(ev) in STARTUP_STATUSES

    try:
        await sse.wait_for(lambda e: relevant(e) and instance_status(e) == "RUNNING", 60.0)
    except BaseException:
        if created:
            await sse.aclose()
        raise
    latencies = []
    for at, wanted in zip(times, TRANSITION_LEVELS, strict=True):
        seen = next(e for e in sse.events if relevant(e) and level(e.data) >= wanted)
        latencies.append(seen.arrived - at)
    return iid, sse, latencies


async def measure(server: JupyterProcess, emu: Any) -> tuple[list[float], dict[str, Any]]:
    await asyncio.to_thread(emu.reset)
    rng = random.Random(8)  # reproducible phases
    sse: SSEClient | None = None
    try:
        iid, sse, latencies = await one_startup(server, emu, None, ("POST", "open"), rng.uniform(0, 0.9))
        for _ in range(RESTARTS):
            cutoff = time.monotonic()
            await asyncio.to_thread(server.api, "POST", f"instances/{iid}/stop", {})
            await sse.wait_for(lambda e, c=cutoff: e.arrived >= c and instance_status(e) == "STOPPED", 30.0)
            action = ("POST", f"instances/{iid}/start")
            _, _, more = await one_startup(server, emu, sse, action, rng.uniform(0, 0.9))
            latencies += more
        # steady: RUNNING, one subscriber, 60 s
        await asyncio.to_thread(emu.reset_stats)
        events_before = len(sse.events)
        await asyncio.sleep(STEADY_SECONDS)
        stats = await asyncio.to_thread(emu.stats)
        stats["sse_events"] = len(sse.events) - events_before
        return latencies, stats
    finally:
        if sse is not None:
            await sse.aclose()


def steady_schedule(seconds: float) -> int:
    """How many polls the watcher's back-off (``next_poll_delay``) makes in ``seconds`` of a steady RUNNING
    instance."""
    from codelab_ext.watcher import next_poll_delay

    polls, elapsed = 0, 0.0
    while True:
        elapsed += next_poll_delay({"status": "RUNNING"}, polls)
        if elapsed > seconds:
            return polls
        polls += 1


def bench(report: Report) -> None:
    with emulator(speed=SPEED) as emu, JupyterProcess("server", emulator_url=emu.url) as server:
        server.api("GET", "images")  # warm the client
        latencies, steady = asyncio.run(measure(server, emu))

    report.figure("start-up transitions measured", len(latencies))
    report.figure("freshness median", median(latencies), "s")
    report.figure("freshness p95", percentile(latencies, 95), "s")
    report.figure("freshness max", max(latencies), "s")
    report.figure("freshness min", min(latencies), "s")
    report.figure("steady 60 s: upstream show requests", int(steady.get("show", 0)))
    report.figure("steady 60 s: upstream requests, all kinds", int(steady.get("total", 0)))
    report.figure("steady 60 s: SSE instance events (no change expected)", steady["sse_events"])
    kinds = ", ".join(f"{key} {n}" for key, n in sorted(dict(steady.get("by_method") or {}).items()))
    report.figure("steady 60 s: upstream requests by kind", kinds or "none")
    # the baselines: the watcher's own cadence (its rule, codelab_ext.watcher)
    from codelab_ext.watcher import FAST_DELAY

    p95, shows, total = percentile(latencies, 95), int(steady.get("show", 0)), int(steady.get("total", 0))
    report.figure("ratio freshness p95 / the watcher's fast poll", p95 / FAST_DELAY, "x")
    schedule = steady_schedule(STEADY_SECONDS)
    report.figure(f"steady {STEADY_SECONDS:g} s: polls in the watcher's back-off schedule", schedule)
    report.figure("ratio show requests / scheduled polls", shows / schedule, "x")
    report.figure("ratio all upstream requests / scheduled polls", total / schedule, "x")
    report.target("freshness p95 during start-up", percentile(latencies, 95), TARGET_P95_S, "s")
    # what the emulator does not know as a ModelArts or IAM route ("unknown") is the kernelspec sync
    # reading the instance's own Jupyter at its URL (this benchmark runs no instance server, so the
    # read lands on the emulator's host and fails, and is tried again each round): not a cloud call
    cloud = total - int(steady.get("unknown", 0))
    report.figure("steady 60 s: ModelArts/IAM requests (all kinds but the instance's URL)", cloud)
    report.target("upstream requests in 60 s steady RUNNING", cloud, TARGET_STEADY_REQUESTS)


if __name__ == "__main__":
    sys.exit(run_report("freshness", bench))

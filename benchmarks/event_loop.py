"""Event-loop health: ``GET codelab/status`` latency while 20 upstream calls are stalled for 2 s.

The emulator holds the next 20 ``show`` requests for 2 s (latency fault); 20 concurrent
``GET codelab/instances/{id}`` put them in flight (the server's executor runs 16 at once, so the last 4
wait for a worker: about 4 s in all) and, until every one has answered, ``GET codelab/status`` (which never
goes upstream) is timed back to back. The baseline is the same status loop as long, nothing stalled.

Target: p99 of status while stalled <= 50 ms (baseline and ratio reported).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from _harness import JupyterProcess, Report, emulator, loopback_session, median, ms, percentile, run_report

STALLED = 20
STALL_MS = 2000
TARGET_P99_MS = 50.0
PAUSE = 0.005  # between status calls: a browser-like cadence, not a saturating loop


def time_status(
    server: JupyterProcess, until: float, done: Callable[[], bool] = lambda: False
) -> list[float]:
    """Time ``GET codelab/status`` back to back until ``until`` (monotonic) or ``done()``."""
    session = server.session
    url = server.url("codelab/status")
    times = []
    while time.monotonic() < until and not done():
        t0 = time.perf_counter()
        response = session.get(url, timeout=10)
        times.append(time.perf_counter() - t0)
        if response.status_code != 200:
            raise RuntimeError(f"GET codelab/status: HTTP {response.status_code}")
        time.sleep(PAUSE)
    return times


def bench(report: Report) -> None:
    with emulator(speed=1000.0) as emu, JupyterProcess("server", emulator_url=emu.url) as server:
        iid = server.api("POST", "open", {})["id"]
        time_status(server, time.monotonic() + 1.0)  # warm-up

        def slow_call(_: int) -> float:
            with loopback_session() as session:
                session.headers.update(server.auth_headers)
                t0 = time.perf_counter()
                response = session.get(server.url(f"codelab/instances/{iid}"), timeout=30)
                if response.status_code != 200:
                    raise RuntimeError(f"stalled call: HTTP {response.status_code} {response.text[:200]}")
                return time.perf_counter() - t0

        # stalled window: 20 calls held 2 s each (the server's executor runs 16 at a time)
        emu.reset_stats()
        emu.set_fault("latency", "show", latency_ms=STALL_MS, count=STALLED)
        with ThreadPoolExecutor(max_workers=STALLED) as pool:
            started = time.monotonic()
            futures = [pool.submit(slow_call, i) for i in range(STALLED)]
            time.sleep(0.2)  # let them reach the emulator
            stalled_times = time_status(server, started + 30.0, lambda: all(f.done() for f in futures))
            window = time.monotonic() - started
            slow = [f.result(timeout=60) for f in futures]
        injected = emu.stats().get("faults_injected")
        emu.clear_faults()

        # baseline: the same loop, as long, nothing stalled
        baseline_times = time_status(server, time.monotonic() + window - 0.2)

    b_med, b_p99 = ms(median(baseline_times)), ms(percentile(baseline_times, 99))
    s_med, s_p99 = ms(median(stalled_times)), ms(percentile(stalled_times, 99))
    report.figure("stalled upstream calls", len(slow))
    report.figure("stalled calls: median duration", median(slow), "s")
    report.figure("stalled calls: longest (16 executor workers)", max(slow), "s")
    report.figure("faults injected (emulator)", injected)
    report.figure("stalled window", window, "s")
    report.figure("status samples baseline / stalled", f"{len(baseline_times)} / {len(stalled_times)}")
    report.figure("status baseline median", b_med, "ms")
    report.figure("status baseline p99", b_p99, "ms")
    report.figure("status while stalled median", s_med, "ms")
    report.figure("status while stalled p99", s_p99, "ms")
    report.figure("ratio p99 stalled / baseline", s_p99 / b_p99, "x")
    report.figure("ratio median stalled / baseline", s_med / b_med, "x")
    if min(slow) < STALL_MS / 1000.0:
        report.note("some 'stalled' calls returned before the fault's latency: the fault did not hold them")
    report.target("status p99 while 20 upstream calls stall", s_p99, TARGET_P99_MS, "ms")


if __name__ == "__main__":
    sys.exit(run_report("event_loop", bench))

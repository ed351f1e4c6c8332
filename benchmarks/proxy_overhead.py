"""Proxy overhead: ``GET codelab/instances/{id}`` through a real Jupyter server vs the client call direct.

Both paths end at the same emulator (a thread of this process) and run the same ``ModelArtsClient``
code (signing, parsing, normalising); the server adds tornado, auth, the executor hop and one loopback
HTTP round trip. The two are measured in alternating pairs (order swapped each time) so that machine
noise hits both alike. For reference, Jupyter's own ``GET /api/status`` (the floor of any handler of this
server) and ``GET codelab/status`` (no upstream call) are timed in the same run.

Target, a ratio measured in the same run: the added median (server minus direct) at most 1.2 x the median
of Jupyter's own ``GET /api/status`` (the cost of any request to this server); p99 reported. The
reference requests are interleaved with the measured pairs, so both see the same machine.
"""

from __future__ import annotations

import sys
import time

from _harness import JupyterProcess, Report, demo_credentials, emulator, median, ms, percentile, run_report

REQUESTS = 500
WARMUP = 50
REFERENCE = 250
#: added median / median of GET /api/status
TARGET_ADDED_RATIO = 1.2


def bench(report: Report) -> None:
    from codelab_ext.modelarts import ModelArtsClient

    with emulator(speed=1000.0) as emu, JupyterProcess("server", emulator_url=emu.url) as server:
        instance = server.api("POST", "open", {})
        iid = instance["id"]
        client = ModelArtsClient(
            demo_credentials(), region=emu.region, modelarts_endpoint=emu.url, iam_endpoint=emu.url
        )
        session = server.session
        url = server.url(f"codelab/instances/{iid}")
        try:

            def direct() -> float:
                t0 = time.perf_counter()
                client.get_instance(iid)
                return time.perf_counter() - t0

            def proxied(target: str = url) -> float:
                t0 = time.perf_counter()
                response = session.get(target, timeout=10)
                elapsed = time.perf_counter() - t0
                if response.status_code != 200:
                    raise RuntimeError(f"GET {target}: HTTP {response.status_code} {response.text[:200]}")
                response.json()
                return elapsed

            for _ in range(WARMUP):
                direct()
                proxied()
            emu.reset_stats()
            d_times: list[float] = []
            p_times: list[float] = []
            floor: list[float] = []
            status: list[float] = []
            floor_url, status_url = server.url("api/status"), server.url("codelab/status")
            for i in range(REQUESTS):
                if i % 2:
                    p_times.append(proxied())
                    d_times.append(direct())
                else:
                    d_times.append(direct())
                    p_times.append(proxied())
                if i % (REQUESTS // REFERENCE) == 0:
                    floor.append(proxied(floor_url))
                    status.append(proxied(status_url))
            shows = int(emu.stats().get("show", 0))
        finally:
            client.close()

    d_med, p_med = ms(median(d_times)), ms(median(p_times))
    d_p99, p_p99 = ms(percentile(d_times, 99)), ms(percentile(p_times, 99))
    report.figure("requests per path", len(p_times))
    report.figure("direct ModelArtsClient.get_instance median", d_med, "ms")
    report.figure("direct p99", d_p99, "ms")
    report.figure("through Jupyter server median", p_med, "ms")
    report.figure("through Jupyter server p99", p_p99, "ms")
    report.figure("added median", p_med - d_med, "ms")
    report.figure("added p99", p_p99 - d_p99, "ms")
    report.figure("ratio of medians (server / direct)", p_med / d_med, "x")
    f_med = ms(median(floor))
    report.figure("reference: Jupyter's own GET /api/status median", f_med, "ms")
    report.figure("reference: GET codelab/status (no upstream) median", ms(median(status)), "ms")
    report.figure("added median / GET /api/status median", (p_med - d_med) / f_med, "x")
    report.figure("upstream show requests (expected 2 x requests)", shows)
    if shows != 2 * len(p_times):
        report.note(f"expected {2 * len(p_times)} upstream show requests, the emulator counted {shows}")
    report.target("added median / GET /api/status median", (p_med - d_med) / f_med, TARGET_ADDED_RATIO, "x")


if __name__ == "__main__":
    sys.exit(run_report("proxy_overhead", bench))

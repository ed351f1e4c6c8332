"""Bounds of the upstream transport: a dribbling upstream against ``request_timeout``, an endless answer
against ``max_response_bytes``.

* **Deadline.** The emulator answers one byte every 200 ms (in the body, or already in the status line
  and headers) for GET instance, or the lookup of the endpoint's host name never answers
  (``socket.getaddrinfo`` replaced in this process); a client with ``request_timeout`` T and no retries
  calls it 5 times per phase. Figure: the longest call / T (target: at most 1.25). Baseline in the
  same run: the same call without the fault.
* **Size cap.** A fresh Python process (the client alone) reads an endless answer 5 times with the cap
  C = 8 MiB, and reports its peak RSS; the baseline process makes the same calls with no fault. Figure:
  peak RSS growth over the baseline / C (target: at most 4, "a small multiple of the cap").
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time

from _harness import PYTHON, REPO, Report, emulator, run_report, scrubbed_env

TIMEOUT = 2.0
CALLS = 5
CAP = 8 * 1024 * 1024

_CHILD = r"""
import json, resource, sys, time
from codelab_ext.credentials import Credentials
from codelab_ext.emulator import DEMO_ACCOUNT, DEMO_REGION
from codelab_ext.errors import CodeLabError
from codelab_ext.modelarts import ModelArtsClient
url, project, iid, calls, cap = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
creds = Credentials(source="bench", access_key=DEMO_ACCOUNT.access_key, secret_key=DEMO_ACCOUNT.secret_key)
client = ModelArtsClient(creds, region=DEMO_REGION, modelarts_endpoint=url, iam_endpoint=url,
                         project_id=project, timeout=60.0, max_retries=0, max_response_bytes=cap)
errors = []
started = time.monotonic()
for _ in range(calls):
    try:
        client.get_instance(iid)
    except CodeLabError as exc:
        errors.append(exc.message)
print(json.dumps({"maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "errors": errors,
                  "elapsed": time.monotonic() - started}))
"""


#: a host name whose lookup never answers (in this process)
STALLED = "modelarts.stalled.test"


def _client(emu, timeout: float, endpoint: str | None = None):
    from codelab_ext.credentials import Credentials
    from codelab_ext.emulator import DEMO_ACCOUNT, DEMO_REGION
    from codelab_ext.modelarts import ModelArtsClient

    creds = Credentials(
        source="bench", access_key=DEMO_ACCOUNT.access_key, secret_key=DEMO_ACCOUNT.secret_key
    )
    return ModelArtsClient(
        creds,
        region=DEMO_REGION,
        modelarts_endpoint=endpoint or emu.url,
        iam_endpoint=emu.url,
        project_id=emu.project_id,
        timeout=timeout,
        max_retries=0,
    )


def _child(emu, iid: str) -> dict:
    env = scrubbed_env(PYTHONPATH=str(REPO))
    argv = [PYTHON, "-c", _CHILD, emu.url, emu.project_id, iid, str(CALLS), str(CAP)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"client process failed: {proc.stderr[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _timed_out_calls(client, iid: str) -> list[float]:
    """How long each of CALLS calls took to time out."""
    from codelab_ext.errors import UpstreamTimeout

    times = []
    for _ in range(CALLS):
        t0 = time.monotonic()
        try:
            client.get_instance(iid)
        except UpstreamTimeout:
            pass
        else:
            raise RuntimeError("a call to a stalled upstream was answered")
        times.append(time.monotonic() - t0)
    return times


def _stalled_lookup_calls(emu, iid: str) -> list[float]:
    real = socket.getaddrinfo
    release = threading.Event()

    def lookup(host, *args, **kwargs):
        if host == STALLED:
            release.wait()
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    socket.getaddrinfo = lookup
    client = _client(emu, TIMEOUT, endpoint=f"http://{STALLED}")
    try:
        return _timed_out_calls(client, iid)
    finally:
        client.close()
        socket.getaddrinfo = real
        release.set()


def bench(report: Report) -> None:
    with emulator(speed=5000.0) as emu:
        response = emu.request("POST", f"/v1/{emu.project_id}/notebooks/open", {})
        iid = response.json()["id"]
        client = _client(emu, TIMEOUT)
        try:
            started = time.monotonic()
            for _ in range(CALLS):
                client.get_instance(iid)
            report.figure("baseline GET instance, mean", (time.monotonic() - started) / CALLS * 1000, "ms")
            longest = 0.0
            for phase in ("body", "headers"):
                emu.set_fault("dribble", "show", count=None, interval_ms=200, phase=phase)
                times = _timed_out_calls(client, iid)
                emu.clear_faults()
                report.figure(f"dribbled {phase}: longest call", max(times), "s")
                longest = max(longest, max(times))
            times = _stalled_lookup_calls(emu, iid)
            report.figure("stalled lookup: longest call", max(times), "s")
            longest = max(longest, max(times))
            report.figure("request_timeout", TIMEOUT, "s")
            report.figure("longest call / request_timeout", longest / TIMEOUT, "x")
            report.target(
                "longest call under a dribbling or unresolvable upstream / request_timeout",
                longest / TIMEOUT,
                1.25,
                "x",
            )
        finally:
            client.close()

        base = _child(emu, iid)
        emu.set_fault("endless", "show", count=None)
        endless = _child(emu, iid)
        emu.clear_faults()
        if len(endless["errors"]) != CALLS or not all("larger than" in e for e in endless["errors"]):
            raise RuntimeError(
                f"the endless answers were not all refused at the cap: {endless['errors'][:2]}"
            )
        growth = (endless["maxrss_kb"] - base["maxrss_kb"]) * 1024
        report.figure("baseline client process, peak RSS", base["maxrss_kb"] / 1024, "MiB")
        report.figure("endless answers x5, peak RSS", endless["maxrss_kb"] / 1024, "MiB")
        report.figure("max_response_bytes", CAP / 1024 / 1024, "MiB")
        report.figure("endless: time for 5 refused calls", endless["elapsed"], "s")
        report.figure("peak RSS growth / cap", growth / CAP, "x")
        report.target("peak RSS growth under an endless answer / cap", growth / CAP, 4.0, "x")


if __name__ == "__main__":
    raise SystemExit(run_report("bounds", bench))

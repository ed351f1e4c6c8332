"""Instance start: what a real Jupyter server behind each emulated instance costs until RUNNING.

At the tests' speed (200: the emulated start-up steps take about 0.1 s) it times, from ``open`` to a
RUNNING answer: the emulator without instance servers (the baseline of the old fast tests), with
instance servers (no JupyterLab, as the tests use them) and with JupyterLab (as the demo does). The
baseline the server start is compared with is a bare ``jupyter server`` of the same kind started in the
same run (process start until ``GET /api`` answers): the emulator starts its server when step 4 begins
and announces RUNNING once it answers, so RUNNING should come about one bare server start after the open.

Target: median (open -> RUNNING with an instance server) / median (bare server start + emulated steps)
<= 1.3.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time

import requests
from _harness import PYTHON, Report, free_port, loopback_session, median, ms, run_report

SPEED = 200.0
RUNS = 3
TARGET = 1.3


def time_to_running(instance_servers: bool, lab: bool, runs: int) -> list[float]:
    from codelab_ext.emulator import DEMO_REGIONS, Emulator
    from codelab_ext.emulator.testing import EmulatorHandle

    emulator = Emulator(speed=SPEED, instance_servers=instance_servers, lab=lab)
    emulator.start_in_thread(port=0)
    times = []
    try:
        for region in DEMO_REGIONS[:runs]:
            handle = EmulatorHandle(emulator, region=region)
            started = time.monotonic()
            handle.wait_status(handle.open_instance()["id"], "RUNNING", timeout=180)
            times.append(time.monotonic() - started)
            handle.close()
    finally:
        emulator.stop()
    return times


def bare_server_start(lab: bool) -> float:
    """A plain jupyter server process (same extensions) until ``GET /api`` answers."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="codelab-bench-bare-") as root:
        argv = [
            PYTHON,
            "-m",
            "jupyter_server",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.open_browser=False",
            "--ServerApp.allow_root=True",
            "--ServerApp.jpserver_extensions=codelab_ext=False",
            "--ServerApp.jpserver_extensions=jupyter_lsp=False",
            "--ServerApp.jpserver_extensions=notebook=False",
            f"--ServerApp.jpserver_extensions=jupyterlab={lab}",
            f"--ServerApp.jpserver_extensions=jupyter_server_terminals={lab}",
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER_", "CODELAB_"))}
        env.update(HOME=root, JUPYTER_TOKEN="bench-token")
        started = time.monotonic()
        process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        session = loopback_session()
        try:
            while True:
                with contextlib.suppress(requests.RequestException):
                    if session.get(f"http://127.0.0.1:{port}/api", timeout=1).status_code == 200:
                        return time.monotonic() - started
                if process.poll() is not None or time.monotonic() - started > 180:
                    raise RuntimeError("the bare jupyter server did not start")
                time.sleep(0.05)
        finally:
            process.terminate()
            process.wait(timeout=30)
            session.close()


def bench(report: Report) -> None:
    from codelab_ext.emulator.state import CREATE_STEP_SECONDS, QUEUE_SECONDS

    steps = (QUEUE_SECONDS + sum(CREATE_STEP_SECONDS)) / SPEED
    report.figure("emulated start-up steps at speed 200", ms(steps), "ms")
    off = time_to_running(False, False, RUNS)
    report.figure("open -> RUNNING, no instance server, median", ms(median(off)), "ms")
    for lab in (False, True):
        kind = "with JupyterLab" if lab else "no JupyterLab"
        bare = [bare_server_start(lab) for _ in range(RUNS)]
        on = time_to_running(True, lab, RUNS)
        report.figure(f"bare jupyter server start ({kind}), median", ms(median(bare)), "ms")
        report.figure(f"open -> RUNNING with an instance server ({kind}), median", ms(median(on)), "ms")
        ratio = median(on) / (median(bare) + steps)
        report.figure(f"ratio RUNNING / (bare start + steps) ({kind})", ratio, "x")
        report.target(f"RUNNING / (bare server start + steps), {kind}", ratio, TARGET, "x")


if __name__ == "__main__":
    sys.exit(run_report("instance_start", bench))

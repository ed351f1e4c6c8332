"""Click to running: in Chromium, from the click on Open CodeLab to the panel showing the instance running.

JupyterLab runs on the embedded emulator (``CODELAB_EMULATOR=1``) at a high speed. ``browser.mjs``
times, inside the page, from the click event to the first DOM state of a RUNNING instance (the panel
laid out for it: the steps give way to the instance card); the emulator's own start-up time (its step
durations divided by its speed) is then subtracted: what is left is what the extension adds (REST round
trips, the poll cadence, SSE, React). Run 1 creates the instance (Open CodeLab), the next runs start it
again after a stop (the card's Start).

Target: median (click -> running shown) - emulator start-up <= 1.5 s.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from _harness import BENCH_DIR, CHROMIUM, UI_TESTS_MODULES, JupyterProcess, Report, median, run_report

SPEED = 100.0
RUNS = 3
TARGET_S = 1.5


def emulator_startup_seconds(kind: str, speed: float) -> float:
    from codelab_ext.emulator.state import CREATE_STEP_SECONDS, QUEUE_SECONDS, START_STEP_SECONDS

    steps = CREATE_STEP_SECONDS if kind == "create" else START_STEP_SECONDS
    return (QUEUE_SECONDS + sum(steps)) / speed


def check_browser() -> str | None:
    if not shutil.which("node"):
        return "node is not installed"
    if (
        not (UI_TESTS_MODULES / "playwright-core").exists()
        and not (UI_TESTS_MODULES / "@playwright").exists()
    ):
        return f"no playwright under {UI_TESTS_MODULES} (run 'jlpm install' in ui-tests)"
    if not shutil.which(CHROMIUM):
        return f"no Chromium at {CHROMIUM}"
    return None


def bench(report: Report) -> None:
    missing = check_browser()
    if missing:
        raise RuntimeError(missing)
    with JupyterProcess("lab", embedded=True, embedded_speed=SPEED) as lab:
        proc = subprocess.run(
            [
                "node",
                str(BENCH_DIR / "browser.mjs"),
                "click-to-running",
                lab.url(f"lab?token={lab.token}"),
                str(RUNS),
                lab.base,
                lab.token,
            ],
            capture_output=True,
            text=True,
            timeout=240,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"browser.mjs failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    runs = json.loads(proc.stdout.strip().splitlines()[-1])["runs"]
    added, ratios = [], []
    for run in runs:
        emulated = emulator_startup_seconds(run["kind"], SPEED)
        seconds = run["ms"] / 1000.0
        added.append(seconds - emulated)
        ratios.append(seconds / emulated)
        report.figure(f"run {run['run'] + 1} ({run['kind']}): click -> running shown", seconds, "s")
        report.figure(f"run {run['run'] + 1}: emulator's own start-up (speed {SPEED:g})", emulated, "s")
    report.figure("added by the extension, median", median(added), "s")
    report.figure("added by the extension, max", max(added), "s")
    report.figure("ratio click -> running shown / emulator's own start-up, median", median(ratios), "x")
    report.target("click -> running minus emulator start-up (median)", median(added), TARGET_S, "s")


if __name__ == "__main__":
    sys.exit(run_report("click_to_running", bench))

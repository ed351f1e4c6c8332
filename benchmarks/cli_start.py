"""CLI cold start: ``jupyter codelab --help`` wall time vs ``python -c pass``; ``status`` on the emulator.

Every command is a fresh process (as a user runs it); the runs of the command and of its baseline
alternate, and medians are compared. ``status``, ``status --check`` and ``list`` run against an emulator
(a thread of this process) with the demo account in the environment and a throwaway ``HOME``.

No target (figures reported; the script fails only if a command fails).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import PYTHON, Report, emulator, median, ms, run_report, scrubbed_env

RUNS = 7
JUPYTER = str(Path(PYTHON).parent / "jupyter")


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[1:])} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return elapsed


def bench(report: Report) -> None:
    home = tempfile.mkdtemp(prefix="codelab-bench-cli-")
    try:
        env = scrubbed_env(HOME=home, JUPYTER_CONFIG_DIR=str(Path(home) / "config"))
        baseline_argv = [PYTHON, "-c", "pass"]
        help_argv = [JUPYTER, "codelab", "--help"]
        entry_argv = [f"{JUPYTER}-codelab", "--help"]  # the same without the jupyter dispatcher
        timed(help_argv, env)  # warm the page cache
        base, helps, entry = [], [], []
        for _ in range(RUNS):
            base.append(timed(baseline_argv, env))
            helps.append(timed(help_argv, env))
            entry.append(timed(entry_argv, env))
        report.figure("python -c pass, median", ms(median(base)), "ms")
        report.figure("jupyter codelab --help, median", ms(median(helps)), "ms")
        report.figure("ratio --help / python -c pass", median(helps) / median(base), "x")
        report.figure("jupyter codelab --help, added", ms(median(helps) - median(base)), "ms")
        report.figure("jupyter-codelab --help (no jupyter dispatcher), median", ms(median(entry)), "ms")
        report.figure("ratio jupyter-codelab --help / python -c pass", median(entry) / median(base), "x")

        with emulator(speed=1000.0) as emu:
            emu_env = {
                **env,
                "CODELAB_MODELARTS_ENDPOINT": emu.url,
                "CODELAB_IAM_ENDPOINT": emu.url,
                "CODELAB_REGION": emu.region,
                "HUAWEICLOUD_SDK_AK": emu.account.access_key,
                "HUAWEICLOUD_SDK_SK": emu.account.secret_key,
            }
            for verb in (["status"], ["status", "--check"], ["list"]):
                argv = [JUPYTER, "codelab", *verb]
                timed(argv, emu_env)
                emu.reset_stats()
                runs = [timed(argv, emu_env) for _ in range(max(3, RUNS // 2))]
                upstream = int(emu.stats().get("total", 0)) / len(runs)
                name = " ".join(verb)
                report.figure(f"jupyter codelab {name} on the emulator, median", ms(median(runs)), "ms")
                ratio = median(runs) / median(base)
                report.figure(f"jupyter codelab {name}: ratio to python -c pass", ratio, "x")
                report.figure(f"jupyter codelab {name}: upstream requests per run", upstream)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(run_report("cli_start", bench))

"""Footprint: shipped JavaScript, import time and memory in the server, requests made at JupyterLab start.

* JavaScript: gzip -9 size of ``codelab_ext/labextension/static/*.js``: our chunks and the webpack
  ``remoteEntry`` (module-federation boilerplate) reported apart; the target applies to all of it.
* Import time: ``python -X importtime -c "import jupyter_server.serverapp; import codelab_ext; ..."``;
  everything imported after ``jupyter_server.serverapp`` is what codelab_ext adds (sum of the self
  times), against the cumulative time of ``jupyter_server.serverapp`` itself. Median of 5 runs, two sets:
  what loading the extension imports, and that plus the client modules of the first cloud request.
* RSS: in a fresh interpreter that already imported ``jupyter_server.serverapp``, the RSS before and after
  importing codelab_ext and initialising its ``CodeLabApp`` on a stand-in server app (plus,
  reported apart, building the ModelArts client of the first request). Median of 3 runs.
* JupyterLab start: a real ``jupyter lab`` on the emulator, ``/lab`` loaded in Chromium and left 5 s
  after its shell is up, the CodeLab panel never opened: requests to ``/codelab/`` routes counted from
  the browser's network events (and upstream requests counted by the emulator). Twice: with no
  instance, and with a RUNNING one (whose status-bar countdown may need it).

Targets: JS <= 60 KB gzipped; import <= 100 ms; RSS <= 15 MB; <= 1 codelab/ request before the panel.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import textwrap
from typing import Any

from _harness import (
    BENCH_DIR,
    PYTHON,
    REPO,
    JupyterProcess,
    Report,
    emulator,
    median,
    run_report,
    scrubbed_env,
    wait_until,
)
from click_to_running import check_browser

STATIC = REPO / "codelab_ext" / "labextension" / "static"
TARGET_JS_KB = 60.0
TARGET_IMPORT_MS = 100.0
TARGET_RSS_MB = 15.0
TARGET_LAB_REQUESTS = 1
IMPORT_RUNS = 5
RSS_RUNS = 3
BASELINE_MODULE = "jupyter_server.serverapp"
LOAD_MODULES = ("codelab_ext", "codelab_ext.app", "codelab_ext.handlers", "codelab_ext.service")
FIRST_REQUEST_MODULES = (*LOAD_MODULES, "codelab_ext.modelarts", "codelab_ext.credentials")
_IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def js_sizes(report: Report) -> None:
    ours = remote = 0
    for path in sorted(STATIC.glob("*.js")):
        size = len(gzip.compress(path.read_bytes(), compresslevel=9))
        if path.name.startswith("remoteEntry."):
            remote += size
        else:
            ours += size
        report.figure(f"js {path.name} (raw {path.stat().st_size / 1024:.1f} KB) gzip", size / 1024, "KB")
    if not ours:
        raise RuntimeError(f"no built JavaScript in {STATIC} (run 'jlpm build')")
    report.figure("js our chunks, gzip", ours / 1024, "KB")
    report.figure("js remoteEntry, gzip", remote / 1024, "KB")
    report.figure("js total shipped, gzip", (ours + remote) / 1024, "KB")
    report.target("shipped JS gzipped (chunks + remoteEntry)", (ours + remote) / 1024, TARGET_JS_KB, "KB")


def import_times(modules: tuple[str, ...]) -> tuple[float, float, list[tuple[str, float]]]:
    """(baseline ms, added ms, [(module, self ms) added]) of one ``-X importtime`` run."""
    code = "; ".join(f"import {m}" for m in (BASELINE_MODULE, *modules))
    proc = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=scrubbed_env(),
        check=True,
    )
    baseline = None
    added: list[tuple[str, float]] = []
    for line in proc.stderr.splitlines():
        found = _IMPORT_LINE.match(line)
        if not found:
            continue
        self_us, cumulative_us, indent, name = found.groups()
        if baseline is None:
            if name == BASELINE_MODULE and len(indent) == 1:  # the top-level import statement
                baseline = int(cumulative_us) / 1000.0
            continue
        added.append((name, int(self_us) / 1000.0))
    if baseline is None:
        raise RuntimeError(f"no importtime line for {BASELINE_MODULE}")
    return baseline, sum(t for _, t in added), added


def import_cost(report: Report) -> None:
    for label, modules in (("load", LOAD_MODULES), ("load + first request", FIRST_REQUEST_MODULES)):
        runs = [import_times(modules) for _ in range(IMPORT_RUNS)]
        baseline = median([r[0] for r in runs])
        added = median([r[1] for r in runs])
        report.figure(f"import {BASELINE_MODULE} (baseline), median", baseline, "ms")
        report.figure(f"import added by codelab_ext, {label}, median", added, "ms")
        report.figure(f"import ratio added / baseline, {label}", added / baseline, "x")
        slowest = sorted(runs[len(runs) // 2][2], key=lambda item: -item[1])[:5]
        report.figure(
            f"import slowest self times, {label}",
            ", ".join(f"{name} {t:.1f}" for name, t in slowest),
            "ms",
        )
        if label == "load":
            report.target("import time added at server start", added, TARGET_IMPORT_MS, "ms")


RSS_PROBE = textwrap.dedent(
    """
    import gc, json, logging, os
    import jupyter_server.serverapp
    import tornado.web
    from traitlets.config import Configurable

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    class StandInServerApp(Configurable):
        pass

    app = StandInServerApp()
    app.web_app = tornado.web.Application(base_url="/")
    app.log = logging.getLogger("bench")
    gc.collect()
    before = rss()
    import codelab_ext.app
    extension = codelab_ext.app.CodeLabApp()
    extension.serverapp = app
    extension.initialize()
    gc.collect()
    loaded = rss()
    from codelab_ext.credentials import Credentials
    service = app.web_app.settings["codelab_service"]
    service._make_client(Credentials(source="stored", access_key="AKBENCH00000000000", secret_key="x" * 40))
    gc.collect()
    client = rss()
    service.close()
    print(json.dumps({"before": before, "loaded": loaded, "client": client}))
    """
)


def rss_cost(report: Report) -> None:
    runs = []
    for _ in range(RSS_RUNS):
        proc = subprocess.run(
            [PYTHON, "-c", RSS_PROBE],
            capture_output=True,
            text=True,
            timeout=120,
            env=scrubbed_env(),
            check=True,
        )
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    mb = 1024 * 1024
    before = median([r["before"] for r in runs]) / mb
    loaded = median([(r["loaded"] - r["before"]) for r in runs]) / mb
    client = median([(r["client"] - r["before"]) for r in runs]) / mb
    report.figure(f"RSS after import {BASELINE_MODULE} (baseline)", before, "MB")
    report.figure("RSS added: import + load the extension", loaded, "MB")
    report.figure("RSS added: + first ModelArts client (requests, signing)", client, "MB")
    report.target("RSS added by import + load", loaded, TARGET_RSS_MB, "MB")


def load_lab(lab: JupyterProcess) -> dict[str, Any]:
    proc = subprocess.run(
        ["node", str(BENCH_DIR / "browser.mjs"), "lab-requests", lab.url(f"lab?token={lab.token}"), "5000"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"browser.mjs failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def lab_requests(report: Report) -> None:
    """JupyterLab loaded twice, panel closed: without an instance, then with a RUNNING one."""
    missing = check_browser()
    if missing:
        raise RuntimeError(missing)
    with emulator(speed=50.0) as emu, JupyterProcess("lab", emulator_url=emu.url) as lab:
        scenarios = []
        for label in ("no instance", "instance RUNNING"):
            if label == "instance RUNNING":
                iid = lab.api("POST", "open", {})["id"]
                wait_until(lambda i=iid: lab.api("GET", f"instances/{i}")["status"] == "RUNNING", 30, 0.1)
            emu.reset_stats()
            out = load_lab(lab)
            scenarios.append((label, out, int(emu.stats().get("total", 0))))
    for label, out, upstream in scenarios:
        requests = out["codelabRequests"]
        report.figure(f"lab ({label}): shell ready after", out["readyMs"] / 1000.0, "s")
        report.figure(f"lab ({label}): codelab/ requests before the panel is opened", len(requests))
        report.figure(
            f"lab ({label}): which", ", ".join(f"{r['method']} {r['path']}" for r in requests) or "none"
        )
        report.figure(f"lab ({label}): upstream (emulator) requests meanwhile", upstream)
        if out["panelVisible"]:
            report.note(f"{label}: the CodeLab panel was visible on load: not 'before the panel is opened'")
        report.target(f"codelab/ requests at JupyterLab start ({label})", len(requests), TARGET_LAB_REQUESTS)


def bench(report: Report) -> None:
    js_sizes(report)
    import_cost(report)
    rss_cost(report)
    lab_requests(report)


if __name__ == "__main__":
    sys.exit(run_report("footprint", bench))

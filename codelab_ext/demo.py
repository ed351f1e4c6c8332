"""``jupyter codelab demo``: JupyterLab on the embedded emulator, in folders of its own.

The demo never touches the user's Jupyter setup: its config, data and runtime folders and its root folder
(with two sample notebooks) live in one temporary folder, removed when the demo ends. JupyterLab's news
prompt is off. JupyterLab's own log goes to a file in that folder; the terminal shows one line, the URL last,
and says how to stop (and, if JupyterLab fails to start, the end of its log).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["SAMPLE_NOTEBOOKS", "prepare_demo_folders", "run_demo", "write_sample_notebooks"]

#: How long JupyterLab may take to write its runtime file (its URL) before the demo gives up.
START_TIMEOUT = 120.0


def _notebook(cells: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "cells": [
            {"cell_type": kind, "metadata": {}, "source": source}
            | ({"execution_count": None, "outputs": []} if kind == "code" else {})
            for kind, source in cells
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


#: The root folder's notebooks: a tour of the demo and a small notebook to share.
SAMPLE_NOTEBOOKS: dict[str, dict[str, Any]] = {
    "Welcome to the CodeLab demo.ipynb": _notebook(
        [
            (
                "markdown",
                "# ModelArts CodeLab, on the embedded emulator\n\n"
                "The **CodeLab** panel (cloud icon on the left, or *CodeLab > Show CodeLab Panel*, "
                "Alt+Shift+C) opens a free CodeLab instance. Here nothing reaches Huawei Cloud: the Jupyter "
                "server runs an emulator of ModelArts with a demo account.\n\n"
                "1. Pick an image (try searching `SSH` or `py3.7`) and press **Open CodeLab**.\n"
                "2. Watch the four start-up steps, then open the instance, extend or stop it.\n"
                "3. With an SSH image, the SSH block shows the config, **Install SSH config** and "
                "**Open in VS Code**.",
            ),
            ("code", "import platform\nprint('Python', platform.python_version())"),
        ]
    ),
    "Sample analysis.ipynb": _notebook(
        [
            ("markdown", "# A small notebook\n\nShare a notebook like this one with *Open Shared Notebook*."),
            ("code", "squares = [n * n for n in range(10)]\nsum(squares)"),
        ]
    ),
}


def prepare_demo_folders(base: Path) -> dict[str, Path]:
    """Create ``config``, ``data``, ``runtime`` and ``root`` (with the samples) under ``base``."""
    folders = {name: base / name for name in ("config", "data", "runtime", "root")}
    for folder in folders.values():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    config = {
        # the extension is on whatever the user's own config says; JupyterLab's news prompt is off
        "ServerApp": {"jpserver_extensions": {"codelab_ext": True}, "root_dir": str(folders["root"])},
        "LabApp": {"news_url": None},
    }
    (folders["config"] / "jupyter_server_config.json").write_text(json.dumps(config, indent=2) + "\n")
    write_sample_notebooks(folders["root"])
    return folders


def write_sample_notebooks(root: Path) -> None:
    """The demo's sample notebooks in ``root`` (the browser tests' root folder has them too)."""
    for name, notebook in SAMPLE_NOTEBOOKS.items():
        (root / name).write_text(json.dumps(notebook, indent=1) + "\n", encoding="utf-8")


def _server_url(runtime: Path, pid: int) -> str | None:
    """The URL (with its token) JupyterLab wrote in its runtime file, once it did."""
    for path in runtime.glob(f"jpserver-{pid}.json"):
        with contextlib.suppress(OSError, ValueError):
            info = json.loads(path.read_text())
            url = str(info.get("url") or "")
            if url:
                token = info.get("token")
                return f"{url.rstrip('/')}/lab" + (f"?token={token}" if token else "")
    return None


def _log_tail(path: Path, limit: int = 4000) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")[-limit:]
    return ""


def run_demo(
    *,
    port: int | None,
    speed: float | None,
    extra: Sequence[str],
    say: Callable[[str], None],
    python: str = sys.executable,
) -> int:
    """Run the demo until JupyterLab ends (Ctrl+C ends it); return its exit code."""
    # SIGTERM and SIGHUP end the demo as Ctrl+C does: JupyterLab stopped, the folders removed
    previous: dict[int, Any] = {}

    def _interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    for stop_signal in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):  # not the main thread, or no such signal
            previous[stop_signal] = signal.signal(stop_signal, _interrupt)
    base = Path(tempfile.mkdtemp(prefix="codelab-demo-"))
    try:
        folders = prepare_demo_folders(base)
        env = dict(
            os.environ,
            CODELAB_EMULATOR="1",
            JUPYTER_CONFIG_DIR=str(folders["config"]),
            JUPYTER_DATA_DIR=str(folders["data"]),
            JUPYTER_RUNTIME_DIR=str(folders["runtime"]),
            JUPYTERLAB_SETTINGS_DIR=str(folders["config"] / "lab" / "user-settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(folders["config"] / "lab" / "workspaces"),
        )
        if speed is not None:
            env["CODELAB_EMULATOR_SPEED"] = repr(speed)
        argv = [python, "-m", "jupyterlab", "--no-browser"]
        if port is not None:
            argv.append(f"--ServerApp.port={port}")
        argv.extend(extra)
        log_path = base / "jupyterlab.log"
        with open(log_path, "wb") as log:
            # its own session: Ctrl+C reaches the demo, which then stops JupyterLab without its prompt
            process = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
            try:
                url = None
                deadline = time.monotonic() + START_TIMEOUT
                while url is None and process.poll() is None and time.monotonic() < deadline:
                    url = _server_url(folders["runtime"], process.pid)
                    if url is None:
                        time.sleep(0.2)
                if url is None:
                    if process.poll() is None:
                        process.terminate()
                    code = process.wait(timeout=30)
                    tail = _log_tail(log_path)
                    say(f"codelab_ext demo: JupyterLab did not start (exit {code}). Its log:\n{tail}")
                    return code or 1
                say(
                    "codelab_ext demo: JupyterLab on the embedded ModelArts emulator (demo account, "
                    f"no cloud; temporary folders, removed at exit). Stop with Ctrl+C. Open {url}"
                )
                return process.wait()
            except KeyboardInterrupt:
                return 0
            finally:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    try:
                        process.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
    finally:
        shutil.rmtree(base, ignore_errors=True)
        for number, handler in previous.items():
            signal.signal(number, handler)

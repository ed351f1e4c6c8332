"""Helpers of the reliability and security suites (server processes, faults, secrets, load).

* :class:`ServerProcess`: a REAL ``jupyter server`` subprocess with codelab_ext, on a chosen loopback
  port, its own HOME / Jupyter directories and a log file; ``rss_kb()`` reads its ``VmRSS``.
* :class:`EmulatorProcess`: the emulator as a subprocess (``python -m codelab_ext.emulator``) with
  :class:`EmulatorAdmin` for its admin routes (stats, faults, clock).
* :class:`LogCapture`: every record of the given loggers at DEBUG, formatted, for secret scans.
* :func:`leaks`: which secrets occur in a text (plain, URL-encoded, JSON-escaped, Base64).
* :func:`record_figures`: figures measured by the suite, printed and merged into
  ``$CODELAB_FIGURES`` (default ``/tmp/codelab_ext-figures.json``) for the README.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

REPO = Path(__file__).resolve().parents[2]
FIGURES_FILE = Path(os.environ.get("CODELAB_FIGURES", "/tmp/codelab_ext-figures.json"))

#: server extensions of the environment that the suite's servers leave off (start-up time, lean RSS)
OTHER_EXTENSIONS = ("jupyterlab", "jupyter_lsp", "jupyter_server_terminals", "notebook_shim", "nbclassic")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(home: Path, **extra: str | None) -> dict[str, str]:
    """The runner's environment without credentials or Jupyter/CodeLab settings, HOME in ``home``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HUAWEICLOUD_SDK_", "CODELAB_", "JUPYTER_", "PYTEST_"))
    }
    env.update(
        HOME=str(home),
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
        PYTHONWARNINGS="ignore:Importing 'codelab_ext' outside a proper installation:UserWarning",
        LC_ALL="C.UTF-8",
        NO_PROXY="127.0.0.1,localhost",
    )
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _wait_http(url: str, *, timeout: float, process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    session = requests.Session()
    session.trust_env = False
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with {process.returncode}: {_tail(log)}")
            with contextlib.suppress(requests.RequestException):
                if session.get(url, timeout=2).status_code < 500:
                    return
            time.sleep(0.05)
    finally:
        session.close()
    raise RuntimeError(f"{what} did not answer {url} within {timeout:.0f} s: {_tail(log)}")


def _tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except FileNotFoundError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
    return int(process.returncode)


def rss_kb(pid: int) -> int:
    """Resident set size of a process in KiB (``VmRSS`` of ``/proc/<pid>/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


class ServerProcess:
    """A real ``jupyter server`` subprocess with codelab_ext enabled (token auth, anonymous refused).

    ``codelab`` holds ``c.CodeLab`` settings; ``env`` extra environment variables. Everything the
    server writes (runtime files, its log, the credential store unless configured) lives in ``root``.
    Start it with :meth:`start` (or as a context manager); :meth:`stop` sends SIGTERM.
    """

    def __init__(
        self,
        root: Path,
        *,
        codelab: dict[str, Any],
        port: int | None = None,
        token: str = "rel-suite-token-0123456789abcdef",  # noqa: S107 (a test server's token)
        log_level: str = "INFO",
        env: dict[str, str | None] | None = None,
        name: str = "server",
    ) -> None:
        self.root = Path(root)
        self.codelab = dict(codelab)
        self.port = port or free_port()
        self.token = token
        self.log_level = log_level
        self.extra_env = dict(env or {})
        self.name = name
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.root / f"{name}.log"
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["Authorization"] = f"token {token}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _write_config(self) -> Path:
        config_dir = self.root / "jupyter-config"
        config_dir.mkdir(parents=True, exist_ok=True)
        extensions = dict.fromkeys(OTHER_EXTENSIONS, False)
        extensions["codelab_ext"] = True
        config = {
            "ServerApp": {
                "ip": "127.0.0.1",
                "port": self.port,
                "port_retries": 0,
                "open_browser": False,
                "allow_unauthenticated_access": False,
                "allow_root": True,
                "jpserver_extensions": extensions,
                "root_dir": str(self.root),
                "log_level": self.log_level,
            },
            "IdentityProvider": {"token": self.token},
            "CodeLab": self.codelab,
        }
        path = config_dir / "jupyter_server_config.json"
        path.write_text(json.dumps(config, indent=1))
        return config_dir

    def start(self, timeout: float = 60.0) -> ServerProcess:
        config_dir = self._write_config()
        home = self.root / "home"
        home.mkdir(exist_ok=True)
        env = clean_env(
            home,
            JUPYTER_CONFIG_DIR=str(config_dir),
            JUPYTER_DATA_DIR=str(self.root / "jupyter-data"),
            JUPYTER_RUNTIME_DIR=str(self.root / "jupyter-runtime"),
            JUPYTER_PLATFORM_DIRS="1",
            **self.extra_env,
        )
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "jupyter_server",
                    f"--config={config_dir / 'jupyter_server_config.json'}",
                ],
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        finally:
            log.close()
        _wait_http(
            f"{self.url}/codelab/status?token={self.token}",
            timeout=timeout,
            process=self.process,
            what=f"jupyter server {self.name}",
            log=self.log_path,
        )
        return self

    def stop(self) -> int:
        code = _stop(self.process) if self.process is not None else 0
        return code

    def log(self) -> str:
        return _tail(self.log_path, 10**9)

    def rss_kb(self) -> int:
        return rss_kb(self.pid)

    def api(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        data: bytes | str | None = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> requests.Response:
        """A request to ``/codelab/<path>`` with the token (``body`` as JSON, or raw ``data``)."""
        if body is not None:
            data = json.dumps(body)
            headers = {"Content-Type": "application/json", **(headers or {})}
        return self.session.request(
            method,
            f"{self.url}/codelab/{path}",
            data=data,
            params=params,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
        )

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.session.close()


class EmulatorAdmin:
    """The admin routes of an emulator at ``url`` (``/_emulator/...``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.trust_env = False

    def admin(self, method: str, route: str, body: Any = None) -> Any:
        response = self.session.request(
            method,
            f"{self.url}/_emulator/{route}",
            data=None if body is None else json.dumps(body),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        if response.status_code >= 400:
            raise RuntimeError(f"admin {method} {route}: HTTP {response.status_code} {response.text}")
        return response.json()

    def stats(self) -> dict[str, Any]:
        return self.admin("GET", "stats")

    def reset_stats(self) -> dict[str, Any]:
        return self.admin("DELETE", "stats")

    def instances(self) -> list[dict[str, Any]]:
        return self.admin("GET", "state")["instances"]

    def set_speed(self, speed: float) -> float:
        return self.admin("POST", "speed", {"speed": speed})["speed"]

    def advance(self, seconds: float) -> dict[str, Any]:
        return self.admin("POST", "clock", {"advance": seconds})

    def close(self) -> None:
        self.session.close()


class EmulatorProcess:
    """``python -m codelab_ext.emulator`` as a subprocess on a free loopback port."""

    def __init__(self, root: Path, *, speed: float = 1.0, ssh_port: int | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.speed = speed
        self.ssh_port = ssh_port
        self.log_path = self.root / "emulator.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.admin = EmulatorAdmin(self.url)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> EmulatorProcess:
        argv = [
            sys.executable,
            "-m",
            "codelab_ext.emulator",
            "--port",
            str(self.port),
            "--speed",
            str(self.speed),
        ]
        argv += ["--log-level", "WARNING"]
        if self.ssh_port is not None:
            argv += ["--ssh-port", str(self.ssh_port)]
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(
                argv, cwd=REPO, env=clean_env(self.root), stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        finally:
            log.close()
        _wait_http(
            f"{self.url}/_emulator/stats",
            timeout=30,
            process=self.process,
            what="emulator",
            log=self.log_path,
        )
        return self

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
        self.admin.close()

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LogCapture(logging.Handler):
    """Collects every record of ``loggers`` (set to DEBUG while captured), formatted with tracebacks."""

    def __init__(self, loggers: Iterable[logging.Logger | str]) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.loggers = [logging.getLogger(x) if isinstance(x, str) else x for x in loggers]
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []
        self._levels: list[int] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def __enter__(self) -> LogCapture:
        for logger in self.loggers:
            self._levels.append(logger.level)
            logger.setLevel(logging.DEBUG)
            logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for logger, level in zip(self.loggers, self._levels, strict=True):
            logger.removeHandler(self)
            logger.setLevel(level)


def secret_forms(secret: str) -> set[str]:
    """The spellings a secret could leak in: plain, URL-quoted, JSON-escaped, Base64 of it."""
    forms = {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}
    forms.add(base64.b64encode(secret.encode()).decode().rstrip("="))
    return {form for form in forms if len(form) >= 8}


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    """Names of the ``secrets`` (name → value) that occur in ``text`` in any of :func:`secret_forms`."""
    return sorted(name for name, value in secrets.items() if any(f in text for f in secret_forms(value)))


def record_figures(section: str, figures: dict[str, Any]) -> None:
    """Print ``figures`` and merge them into :data:`FIGURES_FILE` under ``section``."""
    print(f"\n[codelab figures] {section}: {json.dumps(figures, sort_keys=True)}")
    with contextlib.suppress(OSError, ValueError):
        current = json.loads(FIGURES_FILE.read_text()) if FIGURES_FILE.exists() else {}
        current[section] = figures
        FIGURES_FILE.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    """``with timed() as t: ...`` then ``t[0]`` is the elapsed wall time in seconds."""
    box: list[float] = []
    start = time.monotonic()
    try:
        yield box
    finally:
        box.append(time.monotonic() - start)

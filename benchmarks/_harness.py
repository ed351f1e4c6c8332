"""Shared pieces of the benchmark scripts: processes, readiness, statistics and the PASS/FAIL report.

Every script starts what it measures on free loopback ports (the ModelArts emulator in a thread of the
bench process, a real ``jupyter server`` / ``jupyter lab`` subprocess with a random token), waits until it
answers, and stops it in a ``finally``. Figures are compared with a baseline measured in the same run.

Each script ends with :meth:`Report.finish`: it prints one ``PASS``/``FAIL`` line per target, writes the
figures as JSON to ``$CODELAB_BENCH_RESULT`` (set by ``run_all.py``) and answers the exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PYTHON = sys.executable
UI_TESTS_MODULES = REPO / "ui-tests" / "node_modules"
CHROMIUM = os.environ.get("CODELAB_BENCH_CHROMIUM", "/usr/bin/chromium")
#: environment variables that would point a server at a real cloud account: never inherited
_SCRUBBED_PREFIXES = ("HUAWEICLOUD_", "CODELAB_", "HCLOUD_")
RESULT_ENV = "CODELAB_BENCH_RESULT"


# ------------------------------------------------------------------------------------------ statistics


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between the closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def ms(seconds: float) -> float:
    return seconds * 1000.0


# ------------------------------------------------------------------------------------------ report


@dataclass
class Target:
    name: str
    value: float
    limit: float
    unit: str
    passed: bool
    op: str = "<="


@dataclass
class Report:
    """Figures and targets of one script, printed and written as JSON for ``run_all.py``."""

    script: str
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def figure(self, name: str, value: Any, unit: str = "") -> None:
        self.figures[name] = {"value": value, "unit": unit}
        shown = f"{value:.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
        print(f"  {name:<58} {shown} {unit}".rstrip(), flush=True)

    def target(self, name: str, value: float, limit: float, unit: str = "") -> bool:
        passed = isinstance(value, (int, float)) and not math.isnan(value) and value <= limit
        self.targets.append(Target(name, float(value), float(limit), unit, passed))
        return passed

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def fail(self, error: BaseException | str) -> None:
        self.error = error if isinstance(error, str) else f"{type(error).__name__}: {error}"

    def finish(self) -> int:
        for t in self.targets:
            verdict = "PASS" if t.passed else "FAIL"
            print(f"{verdict} {self.script}: {t.name} = {t.value:.3f} {t.unit} (target {t.op} {t.limit:g})")
        if self.error:
            print(f"FAIL {self.script}: error: {self.error}")
        ok = self.error is None and all(t.passed for t in self.targets)
        out = os.environ.get(RESULT_ENV)
        if out:
            Path(out).write_text(
                json.dumps(
                    {
                        "script": self.script,
                        "ok": ok,
                        "error": self.error,
                        "figures": self.figures,
                        "targets": [vars(t) for t in self.targets],
                        "notes": self.notes,
                    },
                    indent=2,
                )
            )
        return 0 if ok else 1


def run_report(script: str, body: Any) -> int:
    """Run ``body(report)``; any exception is a failure of the script (reported, exit 1)."""
    report = Report(script)
    print(f"== {script}", flush=True)
    started = time.monotonic()
    try:
        body(report)
    except Exception as exc:
        import traceback

        traceback.print_exc()
        report.fail(exc)
    print(f"  ({script} ran {time.monotonic() - started:.1f} s)", flush=True)
    return report.finish()


# ------------------------------------------------------------------------------------------ machine


def machine_info() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    node = "absent"
    if shutil.which("node"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            node = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10).stdout
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": ram,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "node": node.strip(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


# ------------------------------------------------------------------------------------------ ports, waits


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Any, timeout: float, interval: float = 0.05, what: str = "condition") -> Any:
    """Call ``predicate`` until it answers something truthy (answered) or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def loopback_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # never through an environment proxy: 127.0.0.1 only
    return session


# ------------------------------------------------------------------------------------------ emulator


@contextlib.contextmanager
def emulator(speed: float = 1.0) -> Iterator[Any]:
    """A ModelArts emulator in a thread of this process: yields its ``EmulatorHandle``."""
    from codelab_ext.emulator.testing import running_emulator

    # no real Jupyter server behind the instances: the scripts time the extension, not server start-ups
    with running_emulator(speed=speed, instance_servers=False) as handle:
        yield handle


def demo_credentials(region: str | None = None) -> Any:
    from codelab_ext.credentials import Credentials
    from codelab_ext.emulator import DEMO_ACCOUNT, DEMO_REGION

    return Credentials(
        source="stored",
        access_key=DEMO_ACCOUNT.access_key,
        secret_key=DEMO_ACCOUNT.secret_key,
        region=region or DEMO_REGION,
    )


def scrubbed_env(**extra: str) -> dict[str, str]:
    """This environment without cloud credentials or CodeLab settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


# ------------------------------------------------------------------------------------------ jupyter


class JupyterProcess:
    """A real ``jupyter server`` (or ``jupyter lab``) subprocess on a free loopback port with a token.

    ``emulator_url``: point ``c.CodeLab`` at that emulator with the demo account (stored in a
    throwaway credentials file). ``embedded=True`` instead turns on the embedded emulator
    (``CODELAB_EMULATOR=1``) at ``embedded_speed``. Use as a context manager: it is always stopped.
    """

    def __init__(
        self,
        app: str = "server",
        *,
        emulator_url: str | None = None,
        embedded: bool = False,
        embedded_speed: float = 50.0,
        log_level: str = "INFO",
        codelab: dict[str, Any] | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        if app not in ("server", "lab"):
            raise ValueError(app)
        self.app = app
        self.emulator_url = emulator_url
        self.embedded = embedded
        self.embedded_speed = embedded_speed
        self.log_level = log_level
        self.codelab = dict(codelab or {})
        self.extra_args = list(extra_args)
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workdir = Path(tempfile.mkdtemp(prefix=f"codelab-bench-{app}-"))
        self.log_path = self.workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.session = loopback_session()
        self.session.headers["Authorization"] = f"token {self.token}"

    # -- life cycle ------------------------------------------------------------------------------

    def argv(self) -> list[str]:
        module = "jupyter_server" if self.app == "server" else "jupyterlab"
        args = [
            PYTHON,
            "-m",
            module,
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.workdir / 'root'}",
            f"--ServerApp.log_level={self.log_level}",
        ]
        for name, value in self.codelab.items():
            args.append(f"--CodeLab.{name}={value}")
        return args + self.extra_args

    def start(self, timeout: float = 90.0) -> JupyterProcess:
        from codelab_ext.credentials import store_credentials

        for sub in ("root", "config", "runtime"):
            (self.workdir / sub).mkdir()
        # no news or update checks from a benchmark server; codelab_ext on whatever the system config says
        (self.workdir / "config" / "jupyter_server_config.py").write_text(
            "c.ServerApp.jpserver_extensions = {'codelab_ext': True}\n"
            "c.LabApp.news_url = None\n"
            "c.LabApp.check_for_updates_class = 'jupyterlab.NeverCheckForUpdate'\n"
            f"c.ServerApp.allow_root = {hasattr(os, 'geteuid') and os.geteuid() == 0}\n"
        )
        extra = {
            "JUPYTER_CONFIG_DIR": str(self.workdir / "config"),
            "JUPYTER_RUNTIME_DIR": str(self.workdir / "runtime"),
        }
        if self.embedded:
            extra["CODELAB_EMULATOR"] = "1"
            extra["CODELAB_EMULATOR_SPEED"] = str(self.embedded_speed)
            extra["CODELAB_EMULATOR_INSTANCE_SERVERS"] = "0"  # the extension is timed, not a server start
        elif self.emulator_url:
            creds_file = self.workdir / "credentials.json"
            store_credentials(creds_file, demo_credentials())
            self.codelab.setdefault("modelarts_endpoint", self.emulator_url)
            self.codelab.setdefault("iam_endpoint", self.emulator_url)
            self.codelab.setdefault("credentials_file", str(creds_file))
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.argv(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=scrubbed_env(**extra),
                cwd=self.workdir,
            )
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float) -> None:
        """Until ``/api/status`` and ``/codelab/status`` both answer 200 (or the process died)."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise RuntimeError(f"jupyter {self.app} exited with {code}:\n{self.log_tail()}")
            with contextlib.suppress(requests.RequestException):
                if (
                    self.session.get(self.url("api/status"), timeout=2).status_code == 200
                    and self.session.get(self.url("codelab/status"), timeout=5).status_code == 200
                ):
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"jupyter {self.app} not ready after {timeout:g} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        self.session.close()
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> JupyterProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers ---------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def api(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        """Call ``codelab/<path>``; the JSON answer (raises on an HTTP error)."""
        response = self.session.request(
            method, self.url(f"codelab/{path}"), json=body if body is not None else None, timeout=timeout
        )
        if response.status_code >= 400:
            raise RuntimeError(f"{method} codelab/{path}: HTTP {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None


# ------------------------------------------------------------------------------------------ SSE


@dataclass
class SSEEvent:
    event: str
    data: Any
    arrived: float  # time.monotonic() when the whole event was read


class SSEClient:
    """A minimal ``text/event-stream`` reader over a raw asyncio connection (HTTP/1.1, chunked or not).

    ``events`` collects every ``instance``/``error`` event with its arrival time; ``run()`` reads until
    :meth:`close` or the end of the stream.
    """

    def __init__(self, port: int, path: str, headers: dict[str, str]) -> None:
        self.port = port
        self.path = path
        self.headers = headers
        self.events: list[SSEEvent] = []
        self.status: int | None = None
        self.changed = asyncio.Event()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._chunked = False
        self._buffer = b""
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> SSEClient:
        """Connect, then read in a background task until :meth:`aclose`."""
        await self.connect()
        self._task = asyncio.create_task(self.run())
        return self

    async def connect(self, timeout: float = 10.0) -> None:
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.port), timeout
        )
        head = [f"GET {self.path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", "Accept: text/event-stream"]
        head += [f"{k}: {v}" for k, v in self.headers.items()]
        self._writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        await self._writer.drain()
        status_line = await asyncio.wait_for(self._reader.readline(), timeout)
        self.status = int(status_line.split()[1])
        while True:
            line = (await asyncio.wait_for(self._reader.readline(), timeout)).decode("latin-1").strip()
            if not line:
                break
            key, _, value = line.partition(":")
            if key.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
                self._chunked = True
        if self.status != 200:
            raise RuntimeError(f"SSE {self.path}: HTTP {self.status}")

    async def _more(self) -> bool:
        assert self._reader is not None
        if self._chunked:
            size_line = await self._reader.readline()
            size = int(size_line.strip() or b"0", 16) if size_line else 0
            if size == 0:
                return False
            self._buffer += (await self._reader.readexactly(size + 2))[:-2]
            return True
        chunk = await self._reader.read(65536)
        self._buffer += chunk
        return bool(chunk)

    async def run(self) -> None:
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError):
            while await self._more():
                while b"\n\n" in self._buffer:
                    block, self._buffer = self._buffer.split(b"\n\n", 1)
                    self._parse(block.decode("utf-8"), time.monotonic())

    def _parse(self, block: str, arrived: float) -> None:
        event, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if data:
            self.events.append(SSEEvent(event, json.loads("\n".join(data)), arrived))
            self.changed.set()

    async def wait_for(self, predicate: Any, timeout: float) -> SSEEvent:
        """The first collected event (old or new) for which ``predicate(event)`` is true."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for ev in self.events[seen:]:
                if predicate(ev):
                    return ev
            seen = len(self.events)
            self.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"SSE {self.path}: no matching event within {timeout:g} s")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)

    async def aclose(self) -> None:
        """Hang up (the server sees the connection close) and end the reading task."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def instance_status(ev: SSEEvent) -> str | None:
    if ev.event != "instance" or not isinstance(ev.data, dict):
        return None
    return str(ev.data.get("status") or "")

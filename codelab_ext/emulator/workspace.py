"""What is real behind an emulated instance: its work folder and, while RUNNING, a real Jupyter server.

Enabled by ``Emulator(instance_servers=True)`` (the default when ``jupyter_server`` is importable and
``CODELAB_EMULATOR_INSTANCE_SERVERS`` is not ``0``; see :func:`instance_servers_default`). Disabled,
the emulator answers exactly as before: a placeholder page at ``{emulator}/codelab-instance/{id}/lab``,
no folder, no process, no download.

Layout under the emulator's data folder (``Emulator(data_dir=...)``; without one, a temporary folder
that is removed when the emulator stops; a folder given by the caller is kept)::

    <data>/<instance id>/                      stands for /home/ma-user (the server's HOME)
    <data>/<instance id>/work/                 stands for /home/ma-user/work: the server's root folder
    <data>/<instance id>/jupyter-server.log    the server's output (0600, appended at every start)

The work folder is made (with :data:`SAMPLE_NOTEBOOK`) when the instance is created, survives stop and
start, and goes with the instance (``POST /_emulator/reset``).

Life of the server: it is started when step 4 ("Initialize the notebook instance") begins, so its
start overlaps that step, and RUNNING is announced only once it answers ``GET {base}api`` (and the
shared notebook download, if any, has finished): until then the instance stays STARTING with step 4
PROCESSING. A server that does not answer within :data:`START_DEADLINE_SECONDS` fails step 4
(CREATE_FAILED / START_FAILED with a ``fail_reason``). It is stopped (SIGTERM, SIGKILL after
:data:`STOP_GRACE_SECONDS`) as soon as the instance leaves CREATING/STARTING/RUNNING: a stop, a lease
expiry, an image switch (its STOPPING part), a failed step, a reset, and when the emulator stops. A
ticker thread refreshes every instance a few times a second so that this happens even when nobody asks.
If the emulator process dies (even SIGKILL), the server notices through a pipe and stops itself
(:mod:`.instance_main`).

Where ``url`` points: **straight at the instance server's own port**,
``http://127.0.0.1:<port>/<instance id>/lab``, with the server's ``base_url`` ``/<instance id>/``. The
path keeps the real form (``https://authoring-modelarts-…/{id}/lab``); the host and port differ from the
emulator's, and the port is the OS's choice at every start (read the ``url`` again after a start, as for
the cloud). No reverse proxy: the REST API, websockets (kernels) and JupyterLab are served by Jupyter
itself. The token is the instance's ``token``; without it the API answers 403.

The shared notebook (``share_url`` given to ``open``) is downloaded into the work folder during step 4
(or at once when the instance is already RUNNING): http(s) only, at most :data:`DOWNLOAD_MAX_BYTES`,
within :data:`DOWNLOAD_DEADLINE_SECONDS` in all, redirects at most :data:`DOWNLOAD_MAX_REDIRECTS`. The
file keeps the URL's last path segment as its name; an existing different file of that name is kept
and the download is saved beside it as ``<stem> (1)<suffix>``. A failed download does not fail the
instance (it still starts): the instance is RUNNING with ``fail_reason`` saying
``The shared notebook could not be downloaded from <url>: <why>``, until its next start.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .clock import Clock
from .instance_main import ORPHAN_CLEANUP_ENV, TOKEN_ENV, WATCH_FD_ENV

#: the program each instance server runs (:mod:`.instance_main`)
LAUNCHER = str(Path(__file__).with_name("instance_main.py"))

__all__ = [
    "DOWNLOAD_DEADLINE_SECONDS",
    "DOWNLOAD_MAX_BYTES",
    "INSTANCE_SERVERS_ENV",
    "SAMPLE_NOTEBOOK",
    "START_DEADLINE_SECONDS",
    "STOP_GRACE_SECONDS",
    "InstanceHost",
    "instance_servers_default",
    "jupyterlab_available",
]

log = logging.getLogger("codelab_ext.emulator")

INSTANCE_SERVERS_ENV = "CODELAB_EMULATOR_INSTANCE_SERVERS"
#: wall seconds a new server has to answer before step 4 fails
START_DEADLINE_SECONDS = 90.0
#: wall seconds between SIGTERM and SIGKILL when a server is stopped
STOP_GRACE_SECONDS = 5.0
#: the shared notebook download: total deadline, size cap, redirects
DOWNLOAD_DEADLINE_SECONDS = 30.0
DOWNLOAD_MAX_BYTES = 20 * 1024 * 1024
DOWNLOAD_MAX_REDIRECTS = 5
#: the file every new instance's work folder starts with
SAMPLE_NOTEBOOK = "codelab-sample.ipynb"
#: port attempts when the OS-chosen port is taken between choosing it and the server binding it
_PORT_ATTEMPTS = 3
_TICK_SECONDS = 0.2
#: environment variables the instance server must not inherit (secrets, the parent's Jupyter setup)
_DROPPED_ENV_PREFIXES = ("HUAWEICLOUD_", "CODELAB_", "JUPYTER_", "JPY_")
#: server extensions the instance server never loads (codelab_ext itself: no emulator inside)
_DISABLED_EXTENSIONS = ("codelab_ext", "jupyter_lsp", "notebook")


def instance_servers_default() -> bool:
    """Whether an emulator serves its instances with real Jupyter servers when not told otherwise."""
    if os.environ.get(INSTANCE_SERVERS_ENV, "").strip().lower() in ("0", "false", "no", "off"):
        return False
    return importlib.util.find_spec("jupyter_server") is not None


def jupyterlab_available() -> bool:
    return importlib.util.find_spec("jupyterlab") is not None


def _sample_notebook() -> dict[str, Any]:
    def cell(kind: str, text: str) -> dict[str, Any]:
        body: dict[str, Any] = {"cell_type": kind, "metadata": {}, "source": text}
        if kind == "code":
            body.update(execution_count=None, outputs=[])
        return body

    return {
        "cells": [
            cell(
                "markdown",
                "# Welcome to your (emulated) CodeLab instance\n\n"
                "This notebook lives in the instance's work folder, `/home/ma-user/work`. "
                "Files you keep here survive a stop and a start of the instance.",
            ),
            cell("code", "import os, platform\nprint(platform.python_version(), os.getcwd())"),
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary name (mode 0600)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def download_name(url: str) -> str:
    """The file name a shared notebook is saved under: the URL's last path segment, made safe."""
    segment = unquote(urlsplit(url).path).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in segment if ch.isprintable() and ch not in '/\\:*?"<>|').strip(" .")
    return name[:200] or "shared.ipynb"


def _save_no_clobber(folder: Path, name: str, data: bytes) -> Path:
    """Save ``data`` as ``folder/name``; an existing different file is kept (``<stem> (n)<suffix>``)."""
    target = folder / name
    tmp = folder / f".{name}.codelab-download-{os.getpid()}-{threading.get_ident()}"
    tmp.write_bytes(data)
    try:
        stem, suffix = Path(name).stem, Path(name).suffix
        for number in range(0, 1000):
            candidate = target if number == 0 else folder / f"{stem} ({number}){suffix}"
            if candidate.is_file() and candidate.read_bytes() == data:
                return candidate
            try:
                os.link(tmp, candidate)  # fails if it exists: never replaces a file
            except FileExistsError:
                continue
            return candidate
        raise OSError(f"too many files named like {name}")
    finally:
        tmp.unlink(missing_ok=True)


def fetch_bounded(
    url: str,
    *,
    deadline: float = DOWNLOAD_DEADLINE_SECONDS,
    max_bytes: int = DOWNLOAD_MAX_BYTES,
    max_redirects: int = DOWNLOAD_MAX_REDIRECTS,
) -> bytes:
    """GET an http(s) URL: the body, or ValueError/OSError saying why not (deadline, size, status)."""
    import requests

    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("only http and https URLs are downloaded")
    end = time.monotonic() + deadline
    session = requests.Session()
    session.max_redirects = max_redirects
    host = (urlsplit(url).hostname or "").lower()
    session.trust_env = host not in ("127.0.0.1", "localhost", "::1")
    try:
        with session.get(url, stream=True, timeout=(min(10.0, deadline), min(10.0, deadline))) as response:
            if urlsplit(response.url).scheme not in ("http", "https"):
                raise ValueError("redirected away from http(s)")
            if response.status_code != 200:
                raise OSError(f"HTTP {response.status_code}")
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > max_bytes:
                raise OSError(f"larger than {max_bytes // (1024 * 1024)} MiB")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise OSError(f"larger than {max_bytes // (1024 * 1024)} MiB")
                if time.monotonic() > end:
                    raise OSError(f"not finished within {deadline:g} s")
                chunks.append(chunk)
            return b"".join(chunks)
    except requests.TooManyRedirects:
        raise OSError(f"more than {max_redirects} redirects") from None
    except requests.Timeout:
        raise OSError("timed out") from None
    except requests.RequestException as exc:
        raise OSError(type(exc).__name__) from None
    finally:
        session.close()


@dataclass
class Download:
    """The shared notebook being fetched into a work folder (a thread)."""

    url: str
    done: threading.Event = field(default_factory=threading.Event)
    error: str = ""
    path: Path | None = None
    finished_at: float | None = None  # emulated seconds

    def message(self) -> str:
        return f"The shared notebook could not be downloaded from {self.url}: {self.error}"


@dataclass
class ServerProcess:
    """One start of an instance's Jupyter server."""

    instance_id: str
    port: int
    process: subprocess.Popen[bytes]
    watch_fd: int  # our end of the watchdog pipe: closed, the server stops itself
    state: str = "starting"  # starting | ready | failed | stopped
    ready_at: float | None = None  # emulated seconds at which it answered
    failure: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class Initialisation:
    """Step 4 of one phase: the server start and the downloads it waits for."""

    server: ServerProcess | None
    downloads: list[Download] = field(default_factory=list)
    started_at: float = 0.0


class InstanceHost:
    """The folders and Jupyter servers of one emulator's instances (thread safe)."""

    def __init__(
        self,
        clock: Clock,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        lab: bool | None = None,
        start_deadline: float = START_DEADLINE_SECONDS,
    ) -> None:
        self.clock = clock
        self.own_data_dir = data_dir is None
        self._data_dir: Path | None = None if data_dir is None else Path(data_dir)
        self.lab = jupyterlab_available() if lab is None else bool(lab)
        self.start_deadline = float(start_deadline)
        #: refreshes every instance (set by the emulator state); called by the ticker thread
        self.tick: Callable[[], None] | None = None
        self._lock = threading.RLock()
        self._servers: dict[str, ServerProcess] = {}
        self._background: dict[str, list[Download]] = {}
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._ticker: threading.Thread | None = None
        self._wake = threading.Event()

    # -- folders -------------------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        """The folder of the instances' folders (a temporary one is made on first use)."""
        with self._lock:
            if self._data_dir is None:
                self._data_dir = Path(tempfile.mkdtemp(prefix="codelab-emulator-data-"))
            self._data_dir.mkdir(parents=True, exist_ok=True)
            return self._data_dir

    def home_dir(self, instance_id: str) -> Path:
        return self.data_dir / instance_id

    def work_dir(self, instance_id: str) -> Path:
        return self.home_dir(instance_id) / "work"

    def log_path(self, instance_id: str) -> Path:
        return self.home_dir(instance_id) / "jupyter-server.log"

    def prepare(self, instance_id: str) -> Path:
        """Make the instance's home and work folder (with the sample notebook) if they are missing."""
        work = self.work_dir(instance_id)
        fresh = not work.exists()
        work.mkdir(parents=True, exist_ok=True)
        if fresh:
            sample = work / SAMPLE_NOTEBOOK
            sample.write_text(json.dumps(_sample_notebook(), indent=1) + "\n", encoding="utf-8")
        return work

    def forget(self, instance_id: str) -> None:
        """The instance is gone: stop its server and remove its folder."""
        self.stop_server(instance_id, wait=True)
        with self._lock:
            self._background.pop(instance_id, None)
        shutil.rmtree(self.home_dir(instance_id), ignore_errors=True)

    # -- the state machine's hooks ---------------------------------------------------------------------

    def gate(self, instance: Any, phase: Any, reading: Any) -> Any:
        """The phase reading, held at step 4 until the server answers (and downloads finished)."""
        from .state import PhaseReading

        if not phase.has_steps or self._closed:
            return reading
        steps = reading.steps or []
        in_step4 = reading.failed_step is None and bool(steps) and steps[-1] == "PROCESSING"
        running = reading.finished and reading.status == "RUNNING"
        if not (in_step4 or running):
            return reading
        if phase.init is None:
            phase.init = self._initialise(instance)
        init: Initialisation = phase.init
        if instance.share_pending:
            instance.share_pending = False
            init.downloads.append(self._download(instance.id, str(instance.share_url)))
        if not running:
            return reading
        server = init.server
        assert server is not None
        count = len(phase.step_seconds)
        if server.state == "failed":
            phase.fail_reason = server.failure
            status = "CREATE_FAILED" if phase.kind == "create" else "START_FAILED"
            ended = max(float(reading.ended_at or 0.0), self.clock.emulated() - phase.started)
            return PhaseReading(
                status, ["COMPLETED"] * (count - 1) + ["FAILED"], failed_step=count, ended_at=ended
            )
        if server.state != "ready" or not all(d.done.is_set() for d in init.downloads):
            # no wake here (that made the ticker spin while a server started): the server's watcher and
            # each download wake the ticker when they end, and it ticks every _TICK_SECONDS anyway
            return PhaseReading("STARTING", ["COMPLETED"] * (count - 1) + ["PROCESSING"])
        ready_at = max([server.ready_at or 0.0] + [d.finished_at or 0.0 for d in init.downloads])
        failed = [d.message() for d in init.downloads if d.error]
        phase.running_notice = failed[-1] if failed else ""
        ended = max(float(reading.ended_at or 0.0), ready_at - phase.started)
        return PhaseReading("RUNNING", list(steps), finished=True, ended_at=ended)

    def sync(self, instance: Any) -> None:
        """After a refresh: no server unless the instance is up; late download results applied."""
        if instance.status not in ("CREATING", "STARTING", "RUNNING"):
            self.stop_server(instance.id)
            return
        if instance.status == "RUNNING" and instance.phase is None:
            with self._lock:
                pending = self._background.get(instance.id) or []
                finished = [d for d in pending if d.done.is_set()]
                self._background[instance.id] = [d for d in pending if not d.done.is_set()]
            for download in finished:
                if download.error:
                    instance.fail_reason = download.message()

    def download_now(self, instance_id: str, url: str) -> None:
        """``open`` with a share_url on a RUNNING instance: fetch it at once (its result comes later)."""
        download = self._download(instance_id, url)
        with self._lock:
            self._background.setdefault(instance_id, []).append(download)

    def notebook_url(self, instance_id: str) -> str | None:
        """``http://127.0.0.1:<port>/<id>/lab`` of a server that answered, else None."""
        with self._lock:
            server = self._servers.get(instance_id)
        if server is None or server.state != "ready":
            return None
        return f"http://127.0.0.1:{server.port}/{instance_id}/lab"

    def describe(self, instance_id: str) -> dict[str, Any]:
        """The admin view (``/_emulator/state``): folders, log, server process (no token)."""
        with self._lock:
            server = self._servers.get(instance_id)
        return {
            "home_dir": str(self.home_dir(instance_id)),
            "work_dir": str(self.work_dir(instance_id)),
            "log_path": str(self.log_path(instance_id)),
            "server": None
            if server is None
            else {"pid": server.pid, "port": server.port, "state": server.state, "failure": server.failure},
        }

    # -- servers ---------------------------------------------------------------------------------------

    def _initialise(self, instance: Any) -> Initialisation:
        self.stop_server(instance.id)
        self.prepare(instance.id)
        server = self._spawn(instance.id, instance.token)
        self._start_ticker()
        return Initialisation(server=server, started_at=self.clock.emulated())

    def _argv(self, instance_id: str, port: int) -> list[str]:
        argv = [
            sys.executable,
            LAUNCHER,  # a script path: none of the emulator package is imported into the server
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.base_url=/{instance_id}/",
            f"--ServerApp.root_dir={self.work_dir(instance_id)}",
            "--ServerApp.open_browser=False",
            "--ServerApp.allow_root=True",
            "--ServerApp.log_level=INFO",
        ]
        argv += [f"--ServerApp.jpserver_extensions={name}=False" for name in _DISABLED_EXTENSIONS]
        argv.append(f"--ServerApp.jpserver_extensions=jupyterlab={self.lab}")
        argv.append(f"--ServerApp.jpserver_extensions=jupyter_server_terminals={self.lab}")
        if self.lab:
            argv.append("--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate")
        return argv

    def _env(self, instance_id: str, token: str, watch_fd: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_ENV_PREFIXES)}
        home = self.home_dir(instance_id)
        env.update(
            HOME=str(home),
            JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
            JUPYTER_DATA_DIR=str(home / ".local" / "share" / "jupyter"),
            JUPYTER_RUNTIME_DIR=str(home / ".local" / "share" / "jupyter" / "runtime"),
            PYTHONUNBUFFERED="1",
        )
        env[WATCH_FD_ENV] = str(watch_fd)
        env[TOKEN_ENV] = token
        if self.own_data_dir:  # a temporary folder: an orphaned server removes its instance's part of it
            env[ORPHAN_CLEANUP_ENV] = str(home)
        return env

    def _lab_config(self, instance_id: str) -> None:
        """The instance's JupyterLab does not show the CodeLab sidebar (no CodeLab server routes there)."""
        folder = self.home_dir(instance_id) / ".jupyter" / "labconfig"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "page_config.json").write_text(json.dumps({"disabledExtensions": {"codelab-ext": True}}))

    def _spawn(self, instance_id: str, token: str) -> ServerProcess:
        self._lab_config(instance_id)
        port = _free_port()
        server = self._popen(instance_id, token, port)
        with self._lock:
            self._servers[instance_id] = server
        thread = threading.Thread(
            target=self._watch_start,
            args=(server, token),
            name=f"codelab-instance-{instance_id[:8]}",
            daemon=True,
        )
        thread.start()
        return server

    def _popen(self, instance_id: str, token: str, port: int) -> ServerProcess:
        read_fd, write_fd = os.pipe()
        log_path = self.log_path(instance_id)
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            process = subprocess.Popen(
                self._argv(instance_id, port),
                env=self._env(instance_id, token, read_fd),
                cwd=self.work_dir(instance_id),
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                pass_fds=(read_fd,),
                start_new_session=True,  # the user's Ctrl-C reaches the emulator, which stops it in order
            )
        except BaseException:
            os.close(write_fd)
            raise
        finally:
            os.close(read_fd)
            os.close(log_fd)
        log.info(
            "instance %s: Jupyter server pid %d on port %d (log %s)", instance_id, process.pid, port, log_path
        )
        return ServerProcess(instance_id, port, process, write_fd)

    def _watch_start(self, server: ServerProcess, token: str) -> None:
        """Wait until the server answers (or dies, or the deadline passes); retry a taken port."""
        import requests

        session = requests.Session()
        session.trust_env = False
        end = time.monotonic() + self.start_deadline
        attempts = 1
        current = server
        try:
            while time.monotonic() < end and current.state == "starting":
                if current.process.poll() is not None:
                    tail = self._log_tail(current.instance_id)
                    if attempts < _PORT_ATTEMPTS and ("is not available" in tail or "in use" in tail):
                        attempts += 1
                        replacement = self._popen(current.instance_id, token, _free_port())
                        with self._lock:
                            if self._servers.get(current.instance_id) is not current or self._closed:
                                self._terminate(replacement)
                                return
                            # the state machine holds the first object: it takes the new process over
                            os.close(current.watch_fd)
                            current.process, current.port = replacement.process, replacement.port
                            current.watch_fd = replacement.watch_fd
                        continue
                    current.failure = (
                        "Initialize the notebook instance failed: the Jupyter server exited "
                        f"(code {current.process.returncode}); see {self.log_path(current.instance_id)}"
                    )
                    current.state = "failed"  # after its reason, as below
                    break
                try:
                    response = session.get(
                        f"http://127.0.0.1:{current.port}/{current.instance_id}/api", timeout=1.0
                    )
                    if response.status_code == 200 and "version" in response.json():
                        current.ready_at = self.clock.emulated()
                        current.state = "ready"
                        break
                except (requests.RequestException, ValueError):
                    pass
                time.sleep(0.05)
            if current.state == "starting":
                # the reason first: a reader that sees "failed" must find it (CREATE_FAILED came
                # without a fail_reason when a poll fell between the two assignments)
                current.failure = (
                    "Initialize the notebook instance failed: the Jupyter server did not answer "
                    f"within {self.start_deadline:g} s; see {self.log_path(current.instance_id)}"
                )
                current.state = "failed"
        finally:
            session.close()
            self._wake.set()
            if current.state == "failed":
                log.warning("instance %s: %s", current.instance_id, current.failure)

    def _log_tail(self, instance_id: str) -> str:
        try:
            with open(self.log_path(instance_id), "rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - 4000))
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _terminate(self, server: ServerProcess) -> threading.Thread:
        """SIGTERM now, SIGKILL to its process group after the grace period (in a thread)."""
        server.state = "stopped" if server.state != "failed" else server.state
        with contextlib.suppress(OSError):
            os.write(server.watch_fd, b"s")  # a stop on purpose: the server keeps its folder
        with contextlib.suppress(OSError):
            os.close(server.watch_fd)
        process = server.process
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)

        def reap() -> None:
            try:
                process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=STOP_GRACE_SECONDS)

        thread = threading.Thread(target=reap, name=f"codelab-reap-{process.pid}", daemon=True)
        thread.start()
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        return thread

    def stop_server(self, instance_id: str, *, wait: bool = False) -> None:
        with self._lock:
            server = self._servers.pop(instance_id, None)
        if server is None:
            return
        log.info("instance %s: stopping its Jupyter server (pid %d)", instance_id, server.pid)
        thread = self._terminate(server)
        if wait:
            thread.join(timeout=2 * STOP_GRACE_SECONDS + 1)

    def server_pids(self) -> list[int]:
        with self._lock:
            return [s.pid for s in self._servers.values()]

    # -- downloads -------------------------------------------------------------------------------------

    def _download(self, instance_id: str, url: str) -> Download:
        download = Download(url)
        work = self.prepare(instance_id)

        def run() -> None:
            try:
                data = fetch_bounded(url)
                download.path = _save_no_clobber(work, download_name(url), data)
            except (OSError, ValueError) as exc:
                download.error = str(exc) or type(exc).__name__
                log.warning("instance %s: %s", instance_id, download.message())
            finally:
                download.finished_at = self.clock.emulated()
                download.done.set()
                self._wake.set()

        threading.Thread(target=run, name=f"codelab-download-{instance_id[:8]}", daemon=True).start()
        self._start_ticker()
        return download

    # -- ticker and shutdown -------------------------------------------------------------------------

    def _start_ticker(self) -> None:
        with self._lock:
            if self._ticker is not None or self._closed:
                return
            self._ticker = threading.Thread(
                target=self._tick_loop, name="codelab-instance-ticker", daemon=True
            )
            self._ticker.start()

    def _tick_loop(self) -> None:
        while not self._closed:
            self._wake.wait(_TICK_SECONDS)
            self._wake.clear()
            if self._closed:
                return
            tick = self.tick
            if tick is not None:
                try:
                    tick()
                except Exception:  # a refresh failing must not end the loop: log it and go on
                    log.exception("codelab emulator: refreshing the instances failed")

    def close(self) -> None:
        """Stop every server (waiting for them, bounded) and remove a data folder this host made."""
        with self._lock:
            self._closed = True
            servers = list(self._servers.values())
            self._servers.clear()
        self._wake.set()
        threads = [self._terminate(server) for server in servers]
        end = time.monotonic() + 2 * STOP_GRACE_SECONDS + 1
        for thread in threads:
            thread.join(timeout=max(0.0, end - time.monotonic()))
        ticker = self._ticker
        if ticker is not None and ticker is not threading.current_thread():
            ticker.join(timeout=2)
        if self.own_data_dir and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)

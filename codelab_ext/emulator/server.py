"""Running the emulator: in a background thread (tests, the embedded demo) or in the foreground (CLI)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web

from .accounts import DEMO_ACCOUNT, DEMO_REGION, Account, AccountBook
from .app import close_detached_streams, make_app
from .clock import Clock
from .state import DEFAULT_TOKEN_TTL, EmulatorState
from .workspace import InstanceHost, instance_servers_default

__all__ = ["Emulator", "demo_banner", "main", "serve"]

log = logging.getLogger("codelab_ext.emulator")

DEFAULT_PORT = 8765


class Emulator:
    """A ModelArts + IAM emulator (see the package docstring).

    ``speed`` scales the emulated clock (1: about 20 s from open to RUNNING; 0 freezes it, for tests
    that move it with :meth:`Clock.advance`). ``ssh_host``/``ssh_port`` are what SSH endpoints point at
    (``ssh_port=None``: a random port in 30000-32999 per instance, like the real gateway).
    ``accounts`` defaults to ``[DEMO_ACCOUNT]``. ``faults`` are fault specs installed from the start
    (the JSON of ``POST /_emulator/faults``, see :mod:`.faults`). ``token_ttl`` is the IAM token
    lifetime in seconds (24 h); ``seed`` makes instance ids, names and SSH ports reproducible.

    ``instance_servers``: serve every RUNNING instance with a real Jupyter server over a work folder
    (see :mod:`.workspace`); default :func:`~.workspace.instance_servers_default` (on when
    jupyter_server is importable, off with ``CODELAB_EMULATOR_INSTANCE_SERVERS=0``). ``data_dir`` holds
    the instances' folders (default: a temporary folder removed by :meth:`stop`); ``lab`` loads
    JupyterLab into the instance servers (default: when it is importable; off starts them faster).
    """

    def __init__(
        self,
        speed: float = 1.0,
        ssh_host: str = "127.0.0.1",
        ssh_port: int | None = None,
        accounts: Iterable[Account] | None = None,
        *,
        token_ttl: float = DEFAULT_TOKEN_TTL,
        seed: int | None = None,
        clock: Clock | None = None,
        faults: Iterable[dict[str, Any]] | None = None,
        instance_servers: bool | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        lab: bool | None = None,
    ) -> None:
        self.clock = clock if clock is not None else Clock(speed)
        self.accounts = AccountBook(accounts if accounts is not None else [DEMO_ACCOUNT])
        if instance_servers is None:
            instance_servers = instance_servers_default()
        #: the instances' work folders and Jupyter servers, None without instance servers
        self.host: InstanceHost | None = (
            InstanceHost(self.clock, data_dir=data_dir, lab=lab) if instance_servers else None
        )
        self.state = EmulatorState(
            self.clock,
            self.accounts,
            ssh_host=ssh_host,
            ssh_port=ssh_port,
            token_ttl=token_ttl,
            seed=seed,
            host=self.host,
        )
        for spec in faults or ():
            self.state.faults.add(dict(spec))  # ValueError for a bad spec, before anything listens
            self.state.initial_faults.append(dict(spec))
        #: ``http://127.0.0.1:PORT`` once serving, else None
        self.url: str | None = None
        self.port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: tornado.httpserver.HTTPServer | None = None

    @property
    def account(self) -> Account:
        """The first (by default the demo) account."""
        return self.accounts.accounts[0]

    @property
    def speed(self) -> float:
        return self.clock.speed

    def make_app(self) -> tornado.web.Application:
        """The tornado application (to mount in a server of your own)."""
        return make_app(self.state)

    # -- serving ---------------------------------------------------------------------------------

    async def _listen(self, port: int, address: str) -> str:
        sockets = tornado.netutil.bind_sockets(port, address)
        server = tornado.httpserver.HTTPServer(self.make_app(), xheaders=False)
        server.add_sockets(sockets)
        self._server = server
        self.port = sockets[0].getsockname()[1]
        host = f"[{address}]" if ":" in address else address
        self.url = f"http://{host}:{self.port}"
        return self.url

    async def _close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.stop()
        close_detached_streams(self.state)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.close_all_connections(), timeout=5)

    async def serve(self, port: int = DEFAULT_PORT, address: str = "127.0.0.1") -> None:
        """Serve until cancelled (the foreground mode of :func:`main`)."""
        await self._listen(port, address)
        try:
            await asyncio.Event().wait()
        finally:
            await self._close()

    def start_in_thread(self, port: int = 0, address: str = "127.0.0.1") -> str:
        """Serve from a daemon thread with its own event loop; answer the URL once it listens."""
        if self._thread is not None:
            raise RuntimeError("this emulator is already running")
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self._listen(port, address))
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._close())
                pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.close()

        self._thread = threading.Thread(target=run, name="codelab-emulator", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        assert self.url is not None
        return self.url

    def stop(self) -> None:
        """Stop a thread started by :meth:`start_in_thread` and every instance server (safe twice)."""
        thread, loop = self._thread, self._loop
        if thread is not None and loop is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            self._thread = None
            self._loop = None
        self.close_instances()

    def close_instances(self) -> None:
        """Stop the instances' Jupyter servers; remove their folders when the emulator made them."""
        self.state.fronts.close()
        if self.host is not None:
            self.host.close()

    def __enter__(self) -> Emulator:
        if self._thread is None:
            self.start_in_thread()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Emulator(url={self.url!r}, speed={self.clock.speed:g})"


def demo_banner(url: str, account: Account = DEMO_ACCOUNT, region: str = DEMO_REGION) -> str:
    """What ``python -m codelab_ext.emulator`` prints: the URL and how to use the demo account.

    The demo keys are public constants of the emulator (they open nothing else), so printing them
    is deliberate.
    """
    project_id = account.projects.get(region, "")
    return "\n".join(
        [
            f"CodeLab ModelArts + IAM emulator listening on {url}",
            "Demo account (emulator only):",
            f"  HUAWEICLOUD_SDK_AK={account.access_key}",
            f"  HUAWEICLOUD_SDK_SK={account.secret_key}",
            f"  HUAWEICLOUD_SDK_PROJECT_ID={project_id}    # region {region}",
            f"  IAM user / password / domain: {account.iam_user} / {account.iam_password}"
            f" / {account.iam_domain}",
            "Point codelab_ext at it:",
            f"  CODELAB_MODELARTS_ENDPOINT={url}",
            f"  CODELAB_IAM_ENDPOINT={url}",
            f"  CODELAB_REGION={region}",
            f"Admin routes: {url}/_emulator/state, /_emulator/stats, /_emulator/faults",
        ]
    )


async def serve(
    port: int = DEFAULT_PORT,
    address: str = "127.0.0.1",
    *,
    speed: float = 1.0,
    ssh_host: str = "127.0.0.1",
    ssh_port: int | None = None,
    announce: bool = False,
    instance_servers: bool | None = None,
    data_dir: str | None = None,
    lab: bool | None = None,
) -> None:
    """Run an emulator in the current event loop until cancelled."""
    emulator = Emulator(
        speed=speed,
        ssh_host=ssh_host,
        ssh_port=ssh_port,
        instance_servers=instance_servers,
        data_dir=data_dir,
        lab=lab,
    )
    try:
        url = await emulator._listen(port, address)
        if announce:
            print(demo_banner(url), flush=True)
            if emulator.host is not None:
                print(f"Instance work folders and Jupyter server logs: {emulator.host.data_dir}", flush=True)
        await asyncio.Event().wait()
    finally:
        await emulator._close()
        emulator.close_instances()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m codelab_ext.emulator",
        description="A local Huawei Cloud ModelArts + IAM emulator for codelab_ext (a test double and demo).",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT}; 0: any)"
    )
    parser.add_argument("--address", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="clock speed factor (1: about 20 s from open to RUNNING)"
    )
    parser.add_argument("--ssh-host", default="127.0.0.1", help="host of the SSH endpoints it answers")
    parser.add_argument(
        "--ssh-port", type=int, default=None, help="port of the SSH endpoints (default: random)"
    )
    parser.add_argument(
        "--no-instance-servers",
        dest="instance_servers",
        action="store_false",
        default=None,
        help="no real Jupyter server behind RUNNING instances (a placeholder page instead)",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="folder of the instances' work folders and logs (default: a temporary folder, removed at exit)",
    )
    parser.add_argument(
        "--no-lab", dest="lab", action="store_false", default=None, help="instance servers without JupyterLab"
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (DEBUG shows every request)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m codelab_ext.emulator [--port P] [--speed S] ...``: serve in the foreground."""
    args = build_parser().parse_args(argv)
    if args.speed < 0:
        print("--speed must be >= 0", file=sys.stderr)
        return 2
    logging.basicConfig(level=str(args.log_level).upper(), format="%(asctime)s %(levelname)s %(message)s")
    try:
        asyncio.run(
            serve(
                args.port,
                args.address,
                speed=args.speed,
                ssh_host=args.ssh_host,
                ssh_port=args.ssh_port,
                announce=True,
                instance_servers=args.instance_servers,
                data_dir=args.data_dir,
                lab=args.lab,
            )
        )
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"cannot serve on {args.address}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0

"""The ``codelab`` kernel provisioner: a local kernel whose process runs on a CodeLab instance.

Registered under the ``jupyter_client.kernel_provisioners`` entry point group; a kernelspec picks it
with ``metadata.kernel_provisioner.provisioner_name: codelab`` and names the instance and the remote
kernelspec in ``metadata.codelab`` (``specs.py`` writes such kernelspecs). The kernel manager drives
it like any kernel; what it does maps to the instance's Jupyter REST API:

=====================  ==========================================================================
kernel manager         on the instance
=====================  ==========================================================================
start                  ``POST api/kernels {name, path}`` (path: the linked remote folder, else the
                       work folder); the bridge connects its websocket and waits for kernel_info
interrupt (SIGINT)     ``POST api/kernels/{id}/interrupt``
restart                ``POST api/kernels/{id}/restart`` (a new process, the same kernel id and
                       connection); kernel_info again before the first execute
shutdown, kill         ``DELETE api/kernels/{id}``
is_alive (poll)        the bridge: alive while connected or reconnecting; ended when the instance
                       stopped or the kernel is gone
=====================  ==========================================================================

Lifecycle calls are serialised by one lock, so two restarts (or a restart and a shutdown) never
interleave on the instance. The kernel manager's own restarter is off for these kernels: a kernel
that dies on the instance is restarted by the instance's server (its status reaches the notebook),
and a stopped instance is reported, not restarted in a loop. Nothing local is sent: no environment
variable, no local path, no secret (the instance's token only authenticates to the instance).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any, cast

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase
from jupyter_client.session import Session
from tornado.web import HTTPError
from traitlets import Unicode

from ..errors import CodeLabError
from ..i18n import Message, tr
from . import instances, transport
from .bridge import Bridge
from .remote import InstanceJupyter, RemoteError


class KernelRefused(HTTPError):
    """A CodeLab kernel that did not start or restart, as jupyter_server expects it: an ``HTTPError``.

    jupyter_server's REST API passes on the status and message of an ``HTTPError`` only (anything
    else is an "Unhandled error"); jupyter_client re-raises the launch's error as it is, so the
    notebook's dialog says why (the instance stopped, its Jupyter server cannot be reached, ...). A
    failed restart, which jupyter_server answers 500 "Exception restarting kernel" whatever the
    cause, is answered with this one's by :class:`~.actions.KernelActionHandler`. Its ``str`` is the
    message alone (what nbclient and other jupyter_client callers show), ``message`` the
    translatable one and ``status`` its HTTP status (``status_code`` too, tornado's name).
    """

    def __init__(self, error: CodeLabError) -> None:
        status = error.status if 400 <= error.status < 600 else 500
        # log_message is a %-format for tornado's own log line
        super().__init__(status, log_message=str(error.message).replace("%", "%%"))
        self.message: str | Message = error.message
        self.status = status
        #: its reason is in the log already (see _RefusalsSaidOnce)
        self.said = False

    def __str__(self) -> str:
        return str(self.message)


class _RefusalsSaidOnce(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A CodeLab kernel manager's log, where a refused start or restart is not said again as an ERROR.

    jupyter_client logs the error of every failed start, a restart's included, with its traceback
    (``manager.in_pending_state``: ``log.exception`` on the kernel manager's log) on top of the
    refusal itself. A :class:`KernelRefused` is an expected condition (the instance stopped, its
    server cannot be reached) whose reason :meth:`CodeLabProvisioner.launch_kernel` has already
    logged as one WARNING (``said``): that record alone is dropped. Everything else, that
    exception's other records included, passes unchanged (with its caller's file and line).
    """

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if level >= logging.ERROR and getattr(_logged_error(msg, kwargs.get("exc_info")), "said", False):
            return
        kwargs["stacklevel"] = int(kwargs.get("stacklevel", 1)) + 1  # the caller, not this method
        super().log(level, msg, *args, **kwargs)


def _logged_error(msg: object, exc_info: Any) -> BaseException | None:
    """The exception a log call is about: its message, else its ``exc_info``."""
    if isinstance(msg, BaseException):
        return msg
    if exc_info is True:
        return sys.exc_info()[1]
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        return cast("BaseException | None", exc_info[1])
    return None


def start_refused(error: CodeLabError) -> KernelRefused:
    """Why a kernel did not start (or restart), as the local server answers it to the notebook."""
    return KernelRefused(error)


class CodeLabProvisioner(KernelProvisionerBase):
    """Runs the kernel on a CodeLab instance through its Jupyter REST API and kernel websocket."""

    instance_id = Unicode("", help="The CodeLab instance (else metadata.codelab.instance_id).").tag(
        config=True
    )
    remote_kernel = Unicode("", help="The instance's kernelspec (else metadata.codelab.remote_kernel).").tag(
        config=True
    )

    bridge: Bridge | None = None
    remote: InstanceJupyter | None = None
    remote_kernel_id: str | None = None
    #: restarts between their shutdown and their launch: meanwhile the old process counts as ended
    _restarts_pending = 0
    _exit_code: int | None = None
    _launches = 0
    _lock: asyncio.Lock | None = None
    _cwd: str | None = None

    # ------------------------------------------------------------------ settings
    def _codelab(self) -> dict[str, Any]:
        metadata = getattr(self.kernel_spec, "metadata", None) or {}
        value = metadata.get("codelab") if isinstance(metadata, dict) else None
        return value if isinstance(value, dict) else {}

    @property
    def target(self) -> tuple[str, str]:
        meta = self._codelab()
        instance_id = self.instance_id or str(meta.get("instance_id") or "")
        remote = self.remote_kernel or str(meta.get("remote_kernel") or "")
        if not instance_id or not remote:
            raise CodeLabError(tr("This kernelspec does not say which CodeLab instance and kernel to run."))
        return instance_id, remote

    def _config(self) -> Any:
        return instances.service().config

    def _lifecycle(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    # ------------------------------------------------------------------ process-like state
    @property
    def has_process(self) -> bool:
        return self.bridge is not None

    async def poll(self) -> int | None:
        if self.bridge is None:
            return 0 if self._exit_code is None else self._exit_code
        if self._restarts_pending:
            return 0
        if self._exit_code is not None:
            return self._exit_code
        if self.bridge.ended is not None:
            return 1
        return None

    async def wait(self) -> int | None:
        while (code := await self.poll()) is None:
            await asyncio.sleep(0.1)
        return code

    # ------------------------------------------------------------------ start
    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        km = self.parent
        if km is not None and hasattr(km, "autorestart"):
            km.autorestart = False  # the instance's server restarts its kernels; see the module doc
        if km is not None and isinstance(getattr(km, "log", None), logging.Logger | logging.LoggerAdapter):
            if not isinstance(km.log, _RefusalsSaidOnce):
                km.log = _RefusalsSaidOnce(km.log, {})
        # nothing of the local launch goes to the instance: not the environment, not the command
        kwargs.pop("env", None)
        kwargs.pop("extra_arguments", None)
        self._cwd = kwargs.pop("cwd", None) or self._cwd
        kwargs["cmd"] = []
        return kwargs

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        async with self._lifecycle():
            # the kernel manager launches again only to restart (after a failed one too: _release)
            self._launches += 1
            try:
                await self._launch_within_deadline()
            except BaseException as exc:
                # jupyter_client cleans up after no failed start: see _release
                await self._release()
                if isinstance(exc, KernelRefused) and not exc.said:
                    exc.said = True
                    self.log.warning(
                        "CodeLab kernel %s did not %s: %s",
                        self.kernel_id,
                        "restart" if self._launches > 1 else "start",
                        exc.message,
                    )
                raise
            assert self.bridge is not None
            self._exit_code = None
            return self._connection_info(self.bridge)

    async def _launch_within_deadline(self) -> None:
        timeout = float(self._config().kernel_start_timeout)
        try:
            await asyncio.wait_for(self._launch(), timeout)
        except asyncio.TimeoutError:
            raise start_refused(
                CodeLabError(
                    tr(
                        "The kernel did not start on the CodeLab instance within {seconds} s.",
                        seconds=round(timeout),
                    )
                )
            ) from None
        except CodeLabError as exc:
            raise start_refused(exc) from None

    async def _release(self) -> None:
        """Give back everything a kernel whose start or restart failed holds, at once.

        jupyter_client calls no cleanup after a failed start: the kernel manager's ``ready`` holds the
        error, and its multi-kernel manager's shutdown then only forgets it (no ``shutdown_kernel``, so
        no :meth:`cleanup`), at a user's shutdown as at the server's stop. Left to that, the bridge's
        five sockets and its ZMQ context stayed open (an "unclosed socket" ResourceWarning when
        collected, a process that could hang at exit), and so did a restart's kernel on a running
        instance and an SSH forward's lease. A later restart of the same kernel manager starts afresh.
        """
        bridge, self.bridge = self.bridge, None
        remote, kernel_id = self.remote, self.remote_kernel_id
        self.remote, self.remote_kernel_id = None, None
        self._restarts_pending = 0
        self._exit_code = 1
        try:
            if remote is not None and kernel_id:
                with contextlib.suppress(Exception):  # a stopped instance has no kernel to delete
                    await remote.delete(kernel_id)
        finally:
            if bridge is not None:
                await bridge.close()
            if remote is not None:
                remote.close()

    async def _launch(self) -> None:
        instance_id, remote_kernel = self.target
        config = self._config()
        live = self.bridge is not None and self.bridge.ended is None
        if live and self.remote is not None and self.remote_kernel_id and self.bridge is not None:
            # a launch while the kernel lives on the instance is a restart (the manager launches again
            # only after a shutdown with restart=True): a new process, the same kernel and connection
            try:
                await self.remote.restart(self.remote_kernel_id, timeout=float(config.kernel_start_timeout))
            except RemoteError:
                # the instance stopped between the shutdown and this start: say that, not "not reached"
                # (the bridge ends the kernel itself when it sees its connection gone)
                why = await self._gone_now()
                if why is None:
                    raise
                raise instances.InstanceNotRunning(why) from None
            finally:
                self._restarts_pending = max(0, self._restarts_pending - 1)
            if not self.bridge.connected:
                await self.bridge.attach(self.remote, self.remote_kernel_id)
            await self.bridge.kernel_info(float(config.kernel_start_timeout))
            return
        self._restarts_pending = 0
        remote, _instance = await instances.instance_jupyter(instance_id)
        path = instances.remote_folder(instance_id, self._cwd)
        try:
            kernel_id = await remote.start_kernel(remote_kernel, path)
        except RemoteError as exc:
            remote.close()
            # a direct route remembered as working and refused now: ask again once (SSH, if allowed)
            if not (remote.transport == "direct" and transport.direct_refused(exc)):
                raise
            if not transport.unremember(instance_id):
                raise
            remote, _instance = await instances.instance_jupyter(instance_id)
            try:
                kernel_id = await remote.start_kernel(remote_kernel, path)
            except BaseException:
                remote.close()
                raise
        except BaseException:
            remote.close()
            raise
        if self.remote is not None and self.remote is not remote:
            self.remote.close()
        self.remote, self.remote_kernel_id = remote, kernel_id
        if self.bridge is None:
            km = self.parent
            session = Session(
                key=km.session.key if km is not None else b"",
                signature_scheme=km.session.signature_scheme if km is not None else "hmac-sha256",
            )
            self.bridge = Bridge(
                session, name=f"codelab kernel {self.kernel_id}", context=getattr(km, "context", None)
            )
            self.bridge.start()
        bridge = self.bridge
        bridge.reconnect_timeout = float(config.kernel_reconnect_timeout)
        bridge.connect_timeout = float(config.request_timeout)
        bridge.check = self._instance_gone
        bridge.reroute = self._reroute
        try:
            await bridge.attach(remote, kernel_id)
            await bridge.kernel_info(float(config.kernel_start_timeout))
        except BaseException:
            with contextlib.suppress(Exception):
                await remote.delete(kernel_id)
            self.remote_kernel_id = None
            raise
        instances.track(instance_id, bridge)
        self.log.info(
            "CodeLab kernel %s runs on instance %s as %s (path %r, %s)",
            self.kernel_id,
            instance_id,
            kernel_id,
            path,
            remote.transport,
        )

    def _connection_info(self, bridge: Bridge) -> KernelConnectionInfo:
        km = self.parent
        info: dict[str, Any] = {
            "transport": bridge.transport,
            "ip": bridge.ip,
            "shell_port": bridge.ports["shell"],
            "iopub_port": bridge.ports["iopub"],
            "stdin_port": bridge.ports["stdin"],
            "control_port": bridge.ports["control"],
            "hb_port": bridge.ports["hb"],
            "key": bridge.session.key,
            "signature_scheme": bridge.session.signature_scheme,
        }
        if km is not None:
            info["kernel_name"] = km.kernel_name
        self.connection_info = cast(KernelConnectionInfo, info)
        return self.connection_info

    async def _reroute(self) -> InstanceJupyter | None:
        """The direct route was refused: the instance's Jupyter server chosen again (through SSH when
        the settings and the instance allow), or None when that is the same way."""
        instance_id, _ = self.target
        transport.unremember(instance_id)
        remote, _instance = await instances.instance_jupyter(instance_id)
        old = self.remote
        if old is not None and remote.transport == old.transport:
            remote.close()
            return None
        self.remote = remote
        if old is not None:
            old.close()
        return remote

    async def _gone_now(self) -> Message | None:
        """:meth:`_instance_gone`, None too when ModelArts cannot say (the caller's error stands)."""
        try:
            return await self._instance_gone()
        except Exception:
            return None

    async def _instance_gone(self) -> Message | None:
        """Why the kernel cannot go on (the instance no longer runs), or None (ask ModelArts)."""
        instance_id, _ = self.target
        svc = instances.service()
        instance = await svc.fetch_instance(instance_id)
        return instances.not_running_reason(instance)

    # ------------------------------------------------------------------ signals, shutdown
    async def send_signal(self, signum: int) -> None:
        if signum == 0 or self.bridge is None or self.bridge.ended is not None:
            return
        if signum == signal.SIGINT:
            if self.remote is not None and self.remote_kernel_id:
                try:
                    await self.remote.interrupt(self.remote_kernel_id)
                except RemoteError as exc:
                    if getattr(self.parent, "shutting_down", False):
                        # jupyter_client interrupts before every shutdown and restart: these go on
                        # (a restart then says why it cannot start)
                        self.log.info("CodeLab kernel %s: %s", self.kernel_id, exc.message)
                        return
                    why = await self._gone_now()
                    raise start_refused(exc if why is None else instances.InstanceNotRunning(why)) from None
            return
        if signum in (signal.SIGTERM, signal.SIGKILL):
            await self._stop(restart=False)

    async def shutdown_requested(self, restart: bool = False) -> None:
        await self._stop(restart)

    async def terminate(self, restart: bool = False) -> None:
        # jupyter_client's graceful shutdown sends its SIGTERM without the restart flag
        await self._stop(restart or self._restarts_pending > 0)

    async def kill(self, restart: bool = False) -> None:
        await self._stop(restart)

    async def _stop(self, restart: bool) -> None:
        if restart:
            # the process is replaced by launch_kernel's REST restart: connection and kernel id stay
            if self.bridge is not None and self.bridge.ended is None:
                self._restarts_pending += 1
            return
        async with self._lifecycle():
            remote, kernel_id = self.remote, self.remote_kernel_id
            self.remote_kernel_id = None
            if self.bridge is not None:
                self.bridge.closing = True
            if remote is not None and kernel_id:
                try:
                    await remote.delete(kernel_id)
                except RemoteError as exc:  # a stopped instance has no kernel to delete
                    self.log.info("CodeLab kernel %s: %s", self.kernel_id, exc.message)
            self._exit_code = 0

    async def cleanup(self, restart: bool = False) -> None:
        if restart:
            return
        bridge, self.bridge = self.bridge, None
        if bridge is not None:
            await bridge.close()
        remote, self.remote = self.remote, None
        if remote is not None:
            remote.close()  # an SSH forward's hold on the instance's connection

    def get_shutdown_wait_time(self, recommended: float = 5.0) -> float:
        return max(recommended, 10.0)

    def get_stable_start_time(self, recommended: float = 10.0) -> float:
        return max(recommended, float(self._config().kernel_start_timeout))

    async def get_provisioner_info(self) -> dict[str, Any]:
        info = await super().get_provisioner_info()
        info["remote_kernel_id"] = self.remote_kernel_id
        info["transport"] = None if self.remote is None else self.remote.transport
        return info

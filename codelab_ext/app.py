"""The server extension as a Jupyter ``ExtensionApp``: settings, route table, and a stop hook.

The Jupyter server links this app, calls :meth:`CodeLabApp.initialize_settings` (the one
:class:`~codelab_ext.service.CodeLabService` of this server, shared by every handler through
``web_app.settings["codelab_service"]``), then :meth:`CodeLabApp.initialize_handlers` (the routes
of :func:`codelab_ext.handlers.route_table` under ``{base_url}codelab/``). When the server shuts
down it awaits :meth:`CodeLabApp.stop_extension`, which stops the watchers, the executor's
threads, the embedded emulator and removes the demo's temporary folders. Nothing is left to
``atexit``.

Ctrl-C: with a terminal the server asks for confirmation and then shuts down through the same
path. Without one (a service manager, a pipe, a test) Python's default SIGINT handling would end
the event loop with ``KeyboardInterrupt`` *without* the shutdown hooks; once the server runs,
:meth:`CodeLabApp._start_jupyter_server_extension` makes a plain Ctrl-C stop the server like
SIGTERM does (a second one interrupts at once), so nothing is left behind either way.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from tornado.ioloop import IOLoop

from . import NAMESPACE, __version__
from .config import CodeLab
from .handlers import route_table
from .i18n import serve_settings_translations
from .service import CodeLabService

#: the key of the service in the tornado settings (read by every handler)
SERVICE_SETTING = "codelab_service"


class CodeLabApp(ExtensionApp):
    """codelab_ext inside a Jupyter server (settings: ``c.CodeLab.*``, see :class:`CodeLab`)."""

    name = "codelab_ext"
    app_name = "CodeLab"
    description = "Open a Huawei Cloud ModelArts CodeLab instance from JupyterLab."
    # the settings live on the CodeLab configurable, shared with the command line
    classes = [CodeLab]
    load_other_extensions = True

    service: CodeLabService | None = None
    kernel_specs: Any = None

    def initialize_settings(self) -> None:
        # the settings editor shows our schema's titles and descriptions in the user's language
        serve_settings_translations()
        from .kernels import instances

        self.service = CodeLabService.from_config_parent(self, logger=self.log)
        self.settings[SERVICE_SETTING] = self.service
        # CodeLab kernels started by this server ask ModelArts through this service
        instances.register(self.service)
        self._start_kernel_specs(self.serverapp)
        self.log.info(
            "codelab_ext %s: routes under %s%s/ (ModelArts %s%s)",
            __version__,
            self.settings.get("base_url", "/"),
            NAMESPACE,
            self.service.config.modelarts_endpoint,
            ", embedded emulator" if self.service.emulator is not None else "",
        )

    def initialize_handlers(self) -> None:
        from .kernels import actions

        routes: list[Any] = [(url_path_join(NAMESPACE, path), cls) for path, cls in route_table()]
        # a CodeLab kernel's refused restart answered with its reason (jupyter_server says 500)
        routes.append((actions.ROUTE, actions.KernelActionHandler))
        self.handlers.extend(routes)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        """Once the server's loop runs: a Ctrl-C without a terminal stops the server cleanly."""
        if self.service is not None:
            self.service.workspace.start_guard()  # pulls linked folders back before their leases end
        self._handle_sigint(serverapp)

    def _start_kernel_specs(self, serverapp: Any) -> None:
        service = self.service
        ksm = getattr(serverapp, "kernel_spec_manager", None)
        if service is None or ksm is None or not service.config.kernel_specs or self.kernel_specs is not None:
            return
        from .kernels.specs import KernelSpecSync

        self.kernel_specs = KernelSpecSync(service, ksm, runtime_dir=getattr(serverapp, "runtime_dir", None))
        service.watchers.listeners.append(self.kernel_specs.on_instance)
        # the poll starts with the server's loop
        IOLoop.current().add_callback(self.kernel_specs.start)

    def _handle_sigint(self, serverapp: Any) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return  # the server (a terminal's confirmation) or its host handles Ctrl-C already

        def stop_on_sigint(signum: int, frame: Any) -> None:
            signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C interrupts at once
            serverapp.log.critical("received signal %s, stopping", signum)
            serverapp.stop(from_signal=True)

        signal.signal(signal.SIGINT, stop_on_sigint)

    async def stop_extension(self) -> None:
        """Called by the server's shutdown: stop everything the service started (safe twice)."""
        service, self.service = self.service, None
        specs, self.kernel_specs = self.kernel_specs, None
        if specs is not None:
            await specs.stop()
        if service is not None:
            from .kernels import instances

            instances.unregister(service)
            await service.stop()
        from .ssh_connection import POOL

        POOL.close_all()  # the instances' SSH connections (kernel forwards, SFTP)

"""jupyter_server's ``POST /api/kernels/{id}/{restart|interrupt}``, answering a CodeLab kernel's refusal.

jupyter_server answers every failed restart 500 "Exception restarting kernel", whatever the cause.
For a CodeLab kernel the cause says why (:class:`~.provisioner.KernelRefused`: the instance stopped
between the shutdown and the start, its Jupyter server cannot be reached, ...): this handler,
registered by the extension at the same address (an extension's routes come before the server's
own), answers with its status and message instead. Everything else is jupyter_server's handler.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.services.kernels.handlers import KernelActionHandler as JupyterKernelActionHandler
from jupyter_server.services.kernels.handlers import _kernel_action_regex, _kernel_id_regex
from tornado import web

from .provisioner import KernelRefused

#: the route, relative to the server's base URL (the same as jupyter_server's)
ROUTE = rf"/api/kernels/{_kernel_id_regex}/{_kernel_action_regex}"


class KernelActionHandler(JupyterKernelActionHandler):
    """jupyter_server's kernel actions; a refused restart of a CodeLab kernel is answered as refused."""

    @web.authenticated
    async def post(self, kernel_id: str, action: str) -> None:
        try:
            done: Any = super().post(kernel_id, action)  # decorated: typed as maybe not awaitable
            await done
        except web.HTTPError as exc:
            cause: Any = exc.__cause__
            if isinstance(cause, KernelRefused):
                raise cause from None
            raise

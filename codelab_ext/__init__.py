"""codelab_ext: open a Huawei Cloud ModelArts CodeLab instance from JupyterLab.

The package is a Jupyter server extension (REST routes under ``{base_url}codelab/``), a
prebuilt JupyterLab extension (the CodeLab sidebar), a ``jupyter codelab`` command line
and a local ModelArts emulator. Importing it stays cheap: the server parts are imported
only when the server loads the extension.
"""

from __future__ import annotations

import atexit

try:
    from ._version import __version__
except ImportError:  # a source tree that was never built: no _version.py yet
    __version__ = "0.0.0.dev0"

#: the namespace of every REST route, shared with the tests and the frontend's request.ts
NAMESPACE = "codelab"


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "codelab-ext"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "codelab_ext"}]


def _load_jupyter_server_extension(server_app) -> None:
    """Register the REST routes and the service object they share."""
    from .handlers import setup_handlers
    from .service import CodeLabService

    service = CodeLabService.from_server_app(server_app)
    server_app.web_app.settings["codelab_service"] = service
    # module extensions get no stop hook: stop an embedded emulator and remove the demo's
    # temporary folders when the server process exits
    atexit.register(service.close)
    setup_handlers(server_app.web_app)
    server_app.log.info(
        "codelab_ext %s: routes under %s%s/ (ModelArts %s%s)",
        __version__,
        server_app.web_app.settings.get("base_url", "/"),
        NAMESPACE,
        service.config.modelarts_endpoint,
        ", embedded emulator" if service.emulator is not None else "",
    )

"""codelab_ext: open a Huawei Cloud ModelArts CodeLab instance from JupyterLab.

The package is a Jupyter server extension (REST routes under ``{base_url}codelab/``), a
prebuilt JupyterLab extension (the CodeLab sidebar), a ``jupyter codelab`` command line
and a local ModelArts emulator. Importing it stays cheap: the server parts are imported
only when the server loads the extension.
"""

from __future__ import annotations

try:
    from ._version import __version__
except ImportError:  # a source tree that was never built: no _version.py yet
    __version__ = "0.0.0.dev0"

__all__ = ["NAMESPACE", "__version__"]

#: the namespace of every REST route, shared with the tests and the frontend's request.ts
NAMESPACE = "codelab"


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "codelab-ext"}]


def _jupyter_server_extension_points() -> list[dict[str, object]]:
    # imported here so that ``import codelab_ext`` (the CLI) never loads jupyter_server
    from .app import CodeLabApp

    return [{"module": "codelab_ext", "app": CodeLabApp}]

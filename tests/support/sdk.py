"""Huawei's official Python SDK (``huaweicloudsdkcore``, ``huaweicloudsdkmodelarts``, ``huaweicloudsdkiam``):
the oracle of the contract tests. A test dependency only (pyproject's ``test`` extra), never a runtime one.

Importing the SDK computes its User-Agent once per process, and that writes
``$HOME/.huaweicloud/application_id`` (``huaweicloudsdkcore/http/user_agent.py``): :func:`sdk` imports
it with ``HOME`` pointed at a temporary folder so that a test run never writes into the real home.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
import threading
from types import ModuleType

_LOCK = threading.Lock()
_MODULES = (
    "huaweicloudsdkcore.http.user_agent",
    "huaweicloudsdkcore.auth.credentials",
    "huaweicloudsdkcore.auth.endpoint",
    "huaweicloudsdkcore.auth.internal",
    "huaweicloudsdkcore.auth.provider",
    "huaweicloudsdkcore.exceptions.exception_handler",
    "huaweicloudsdkcore.exceptions.exceptions",
    "huaweicloudsdkcore.http.http_config",
    "huaweicloudsdkcore.region.region",
    "huaweicloudsdkcore.sdk_request",
    "huaweicloudsdkcore.signer.signer",
    "huaweicloudsdkmodelarts.v1",
    "huaweicloudsdkmodelarts.v1.region.modelarts_region",
    "huaweicloudsdkiam.v3",
    "huaweicloudsdkcore.warning.warning",
)


def sdk(name: str) -> ModuleType:
    """The SDK module ``name`` (one of the modules above), imported with a throw-away ``HOME``."""
    with _LOCK:
        if "huaweicloudsdkcore.http.user_agent" not in sys.modules:
            home = os.environ.get("HOME")
            folder = tempfile.mkdtemp(prefix="codelab-sdk-home-")
            os.environ["HOME"] = folder
            try:
                for module in _MODULES:
                    importlib.import_module(module)
            finally:
                if home is None:
                    os.environ.pop("HOME", None)
                else:
                    os.environ["HOME"] = home
                shutil.rmtree(folder, ignore_errors=True)
        return importlib.import_module(name)

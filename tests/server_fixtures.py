"""Server configuration helpers shared by the REST API tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def codelab_server_config(**codelab: Any) -> dict[str, Any]:
    """A jp_server_config with codelab_ext enabled, anonymous access refused, and CodeLab settings."""
    return {
        "ServerApp": {
            "jpserver_extensions": {"codelab_ext": True},
            "allow_unauthenticated_access": False,
        },
        "CodeLab": codelab,
    }


def offline_codelab(tmp_path: Path) -> dict[str, Any]:
    """CodeLab settings that reach nothing: an endpoint nobody listens on, an empty credential store."""
    return {
        "modelarts_endpoint": "http://127.0.0.1:9",
        "iam_endpoint": "http://127.0.0.1:9",
        "credentials_file": str(tmp_path / "codelab-creds" / "credentials.json"),
        "request_timeout": 2.0,
        "max_retries": 0,
    }

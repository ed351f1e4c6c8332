"""Server configuration helpers shared by the REST API tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: environment variables that would make the server pick up credentials from the machine running the tests
CREDENTIAL_ENV = (
    "HUAWEICLOUD_SDK_AK",
    "HUAWEICLOUD_SDK_SK",
    "HUAWEICLOUD_SDK_SECURITY_TOKEN",
    "HUAWEICLOUD_SDK_PROJECT_ID",
    "HUAWEICLOUD_SDK_CREDENTIALS_FILE",
    "CODELAB_IAM_USER",
    "CODELAB_IAM_PASSWORD",
    "CODELAB_IAM_DOMAIN",
    "CODELAB_EMULATOR",
)


def codelab_server_config(**codelab: Any) -> dict[str, Any]:
    """A jp_server_config with codelab_ext enabled, anonymous access refused, and CodeLab settings.

    The CodeLab kernelspecs are off unless asked (``kernel_specs=True``, tests/test_kernels_e2e.py): they
    ask each RUNNING instance for its kernelspecs after an action, a call the suites that count upstream
    requests per route would see.
    """
    codelab.setdefault("kernel_specs", False)
    return {
        "ServerApp": {
            "jpserver_extensions": {"codelab_ext": True},
            "allow_unauthenticated_access": False,
        },
        "CodeLab": codelab,
    }


def isolate_environment(monkeypatch: Any, tmp_path: Path) -> None:
    """No credentials from the environment or the real home directory."""
    for name in CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def store_demo_credentials(path: Path) -> Path:
    """The emulator's demo account, stored where the extension keeps typed credentials (0600)."""
    from codelab_ext.credentials import Credentials, store_credentials
    from codelab_ext.emulator import DEMO_ACCOUNT

    store_credentials(
        path,
        Credentials(source="stored", access_key=DEMO_ACCOUNT.access_key, secret_key=DEMO_ACCOUNT.secret_key),
    )
    return path


def emulator_server_config(
    emulator: Any, monkeypatch: Any, tmp_path: Path, credentials_file: Path | None = None, **codelab: Any
) -> dict[str, Any]:
    """A server pointed at ``emulator`` in an isolated environment.

    ``credentials_file``: where the server reads credentials (default: a fresh file holding the demo
    account). Further keyword arguments are CodeLab settings.
    """
    isolate_environment(monkeypatch, tmp_path)
    if credentials_file is None:
        credentials_file = store_demo_credentials(tmp_path / "store" / "credentials.json")
    return codelab_server_config(**emulator_settings(emulator, credentials_file, **codelab))


def emulator_settings(emulator: Any, credentials_file: Path, **codelab: Any) -> dict[str, Any]:
    """CodeLab settings that point at ``emulator`` and read ``credentials_file`` (plus any overrides)."""
    settings: dict[str, Any] = {
        "modelarts_endpoint": emulator.url,
        "iam_endpoint": emulator.url,
        "credentials_file": str(credentials_file),
        "region": emulator.region,
        # the emulator's SSH endpoints are on loopback (a real sshd in the SSH tests)
        "ssh_reachability_check": False,
    }
    settings.update(codelab)
    return settings


def offline_codelab(tmp_path: Path) -> dict[str, Any]:
    """CodeLab settings that reach nothing: an endpoint nobody listens on, an empty credential store."""
    return {
        "modelarts_endpoint": "http://127.0.0.1:9",
        "iam_endpoint": "http://127.0.0.1:9",
        "credentials_file": str(tmp_path / "codelab-creds" / "credentials.json"),
        "request_timeout": 2.0,
        "max_retries": 0,
    }

"""Every setting of codelab_ext, as one traitlets ``Configurable``.

Set them as ``c.CodeLab.<name> = ...`` in ``jupyter_server_config.py``, on the
command line (``--CodeLab.region=cn-east-3``) or through the environment variable
named in each help text. Nothing here imports tornado or the Jupyter server.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from traitlets import Bool, Float, Integer, Unicode, default, validate
from traitlets.config import Config, Configurable

from .regions import default_iam_endpoint, default_modelarts_endpoint

DEFAULT_REGION = "cn-north-4"


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def default_credentials_file() -> str:
    from jupyter_core.paths import jupyter_data_dir

    return str(Path(jupyter_data_dir()) / "codelab" / "credentials.json")


#: the config files a Jupyter server reads, in the order it reads them (later ones win)
SERVER_CONFIG_NAMES = ("jupyter_config", "jupyter_server_config")


def jupyter_config_files(warn: Callable[[str], None] | None = None) -> Config:
    """What the Jupyter server's config files set, read as the server reads them, without jupyter_server.

    ``jupyter_config`` then ``jupyter_server_config`` (``.py`` then ``.json``) in every folder of
    ``jupyter_core.paths.jupyter_config_path()`` (``JUPYTER_CONFIG_DIR`` first, then
    ``JUPYTER_CONFIG_PATH``, the environment's and the system's folders): the first folder wins. So the
    command line sees the ``c.CodeLab.*`` of the server's ``jupyter_server_config.py``. A file that
    cannot be read is skipped (and said to ``warn``), as the server does.
    """
    from jupyter_core.paths import jupyter_config_dir, jupyter_config_path
    from traitlets.config.loader import ConfigFileNotFound, JSONFileConfigLoader, PyFileConfigLoader

    folders = jupyter_config_path()
    if jupyter_config_dir() not in folders:
        folders.insert(0, jupyter_config_dir())
    merged = Config()
    for name in SERVER_CONFIG_NAMES:
        for folder in reversed(folders):  # lowest priority first: later merges win
            for loader in (
                PyFileConfigLoader(name + ".py", path=folder),
                JSONFileConfigLoader(name + ".json", path=folder),
            ):
                try:
                    merged.merge(loader.load_config())
                except ConfigFileNotFound:
                    continue
                except Exception as exc:  # a broken file: the server also logs it and goes on
                    if warn is not None:
                        warn(f"ignoring {loader.full_filename or name}: {type(exc).__name__}: {exc}")
    return merged


class CodeLab(Configurable):
    """Settings of the CodeLab extension, its command line and its emulator."""

    region = Unicode(
        help="Huawei Cloud region id, e.g. cn-north-4. Environment: CODELAB_REGION.",
    ).tag(config=True)

    modelarts_endpoint = Unicode(
        help=(
            "Base URL of ModelArts (any scheme, host and port, e.g. an emulator on "
            "http://127.0.0.1:8765). Default: https://modelarts.{region}.myhuaweicloud.com. "
            "Environment: CODELAB_MODELARTS_ENDPOINT."
        ),
    ).tag(config=True)

    iam_endpoint = Unicode(
        help=(
            "Base URL of IAM, used for project discovery and password (token) sign-in. "
            "Default, as in Huawei's SDK: HUAWEICLOUD_SDK_IAM_ENDPOINT, else the SDK profile's "
            "iam_endpoint, else the region's IAM (https://iam.{region}.myhuaweicloud.com for the regions "
            "of the SDK's table, https://iam.myhuaweicloud.com for the others). "
            "Environment: CODELAB_IAM_ENDPOINT."
        ),
    ).tag(config=True)

    project_id = Unicode(
        help=(
            "Project id of the region. Empty: taken from the credentials, else discovered "
            "through IAM. Environment: HUAWEICLOUD_SDK_PROJECT_ID."
        ),
    ).tag(config=True)

    credentials_file = Unicode(
        help=(
            "Where the extension stores the credentials a user typed (mode 0600). "
            "Default: <jupyter data dir>/codelab/credentials.json. Environment: CODELAB_CREDENTIALS_FILE."
        ),
    ).tag(config=True)

    request_timeout = Float(
        30.0,
        help=(
            "Seconds allowed for each upstream request, start to end: connecting, the answer's "
            "headers and its whole body (a server that answers slowly is cut off at this deadline)."
        ),
    ).tag(config=True)

    max_response_bytes = Integer(
        8 * 1024 * 1024,
        help=(
            "The largest upstream answer read, in bytes (default 8 MiB; real answers are a few KiB). "
            "A larger or endless answer is refused with a readable error and its connection closed."
        ),
    ).tag(config=True)

    max_retries = Integer(
        3,
        help=(
            "Retries of an idempotent upstream call after a connection error, a timeout, a 429 "
            "(honouring Retry-After) or a 502, 503 or 504."
        ),
    ).tag(config=True)

    images_cache_seconds = Float(
        300.0,
        help="How long the server keeps the image catalogue before asking ModelArts again.",
    ).tag(config=True)

    pull_before_stop = Bool(
        True,
        help=(
            "With a linked workspace folder, pull the instance's changes back before a Stop, before a "
            "switch to another image and pull_before_lease_end_minutes before the lease ends. When the "
            "pull cannot finish, Stop and switch answer 409 with the files not yet home and stop only "
            "when asked again with leave_files. Off: nothing is pulled unasked."
        ),
    ).tag(config=True)

    pull_before_lease_end_minutes = Float(
        10.0,
        help="How many minutes before the lease ends the server pulls a linked folder back by itself.",
    ).tag(config=True)

    pull_before_stop_timeout = Float(
        120.0,
        help=(
            "Seconds a Stop or a switch waits for the pull of the linked folder before answering with "
            "the files not yet home."
        ),
    ).tag(config=True)

    workspace_guard_interval = Float(
        30.0,
        help="Seconds between two looks of the lease guard at the leases of linked instances.",
    ).tag(config=True)

    emulator = Bool(
        help=(
            "Start the embedded ModelArts emulator on a free loopback port and point everything "
            "at it with its demo account (a demo and test double, never a production path). "
            "Environment: CODELAB_EMULATOR=1."
        ),
    ).tag(config=True)

    emulator_speed = Float(
        help=(
            "Speed factor of the embedded emulator's clock (1: about 20 s from open to RUNNING). "
            "Environment: CODELAB_EMULATOR_SPEED."
        ),
    ).tag(config=True)

    emulator_instance_servers = Bool(
        help=(
            "Serve every RUNNING instance of the embedded emulator with a real Jupyter server (and "
            "JupyterLab when installed) over a work folder that lasts until the emulator stops. "
            "Default: on when jupyter_server is importable. Environment: "
            "CODELAB_EMULATOR_INSTANCE_SERVERS=0 turns it off."
        ),
    ).tag(config=True)

    kernel_specs = Bool(
        True,
        help=(
            "While an instance is RUNNING, offer its kernels in this JupyterLab (kernelspecs "
            "codelab-<remote name>, run on the instance by the codelab kernel provisioner)."
        ),
    ).tag(config=True)

    kernel_specs_poll_seconds = Float(
        30.0,
        help=(
            "How often the server asks ModelArts which instances run, to add or remove their kernelspecs "
            "(an instance an action answers, or that an open panel watches, is followed at once; while "
            "the watched instances are all those offered, the poll asks nothing)."
        ),
    ).tag(config=True)

    kernel_start_timeout = Float(
        120.0,
        help=(
            "Seconds allowed for a CodeLab kernel to start (or restart) on the instance and answer "
            "kernel_info, start to end."
        ),
    ).tag(config=True)

    kernel_reconnect_timeout = Float(
        120.0,
        help=(
            "Seconds a CodeLab kernel keeps trying to reconnect a dropped connection to the instance "
            "(the notebook shows it busy meanwhile) before it ends with a message that says why."
        ),
    ).tag(config=True)

    kernel_transport = Unicode(
        "auto",
        help=(
            "How CodeLab kernels reach the instance's Jupyter server: 'direct' (its URL and token), "
            "'ssh' (a port forward over the instance's SSH endpoint, one connection per instance) or "
            "'auto': direct, and SSH when direct is refused (no connection, TLS failure, or a front "
            "proxy's 403/502/503), remembered per instance for kernel_transport_memory_seconds."
        ),
    ).tag(config=True)

    kernel_transport_memory_seconds = Float(
        600.0,
        help="Seconds the 'auto' kernel transport remembers its choice for an instance before it asks again.",
    ).tag(config=True)

    kernel_ssh_jupyter = Unicode(
        "127.0.0.1:8888",
        help=(
            "host:port of the instance's Jupyter server as seen from inside the instance, where the "
            "SSH transport forwards to (the path is the one of the instance's URL). Unconfirmed for "
            "the cloud: docs/modelarts-api.md."
        ),
    ).tag(config=True)

    @validate("kernel_transport")
    def _validate_kernel_transport(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"]).strip().lower()
        if value not in ("auto", "direct", "ssh"):
            from traitlets import TraitError

            raise TraitError(f"kernel_transport must be auto, direct or ssh, got {value!r}")
        return value

    @validate("kernel_ssh_jupyter")
    def _validate_kernel_ssh_jupyter(self, proposal: dict[str, Any]) -> str:
        from .ssh_connection import parse_address

        try:
            parse_address(proposal["value"])
        except ValueError:
            from traitlets import TraitError

            raise TraitError(f"kernel_ssh_jupyter must be host:port, got {proposal['value']!r}") from None
        return str(proposal["value"]).strip()

    @default("emulator_instance_servers")
    def _default_emulator_instance_servers(self) -> bool:
        from .emulator.workspace import instance_servers_default

        return instance_servers_default()

    ssh_reachability_check = Bool(
        help=(
            "Refuse SSH endpoints that cannot be reached from outside the cloud (a private, link-local "
            "or loopback address, or no port): the panel and the CLI then say 'SSH is not reachable "
            "from outside for this instance' with the reason, instead of a config that cannot connect. "
            "Default: on, except with the embedded emulator (whose endpoints are on loopback). "
            "Environment: CODELAB_SSH_REACHABILITY_CHECK=0 turns it off."
        ),
    ).tag(config=True)

    workspace_links_file = Unicode(
        help=(
            "Where the workspace links (local folder <-> instance folder) are kept, with a manifest of "
            "each one's last sync beside it (mode 0600). Default: "
            "<jupyter data dir>/codelab/workspace/links.json. Environment: CODELAB_WORKSPACE_LINKS_FILE."
        ),
    ).tag(config=True)

    workspace_max_push_bytes = Integer(
        2 * 1024**3,
        help=(
            "Most bytes one push (or sync) may send to the instance; a larger push is refused before "
            "anything is sent. Also the largest single file a pull brings back."
        ),
    ).tag(config=True)

    workspace_chunk_bytes = Integer(
        8 * 1024 * 1024,
        help="Size of each piece of a large file sent through the instance's Jupyter contents API.",
    ).tag(config=True)

    workspace_min_rate = Float(
        256 * 1024,
        help=(
            "Slowest transfer rate (bytes per second) allowed before a workspace call is cut off: each "
            "call may take request_timeout plus its bytes at this rate."
        ),
    ).tag(config=True)

    workspace_parallel_transfers = Integer(
        4,
        help="Files sent or received at the same time through the instance's Jupyter contents API.",
    ).tag(config=True)

    @default("workspace_links_file")
    def _default_workspace_links_file(self) -> str:
        from .workspace.links import default_links_file

        return str(default_links_file())

    @validate(
        "workspace_max_push_bytes",
        "workspace_chunk_bytes",
        "workspace_parallel_transfers",
        "workspace_min_rate",
    )
    def _validate_workspace_numbers(self, proposal: dict[str, Any]) -> Any:
        name, value = proposal["trait"].name, proposal["value"]
        low = {
            "workspace_chunk_bytes": 65536,
            "workspace_parallel_transfers": 1,
            "workspace_min_rate": 1024,
        }.get(name, 1)
        high = {"workspace_chunk_bytes": 256 * 1024**2, "workspace_parallel_transfers": 16}.get(name, 2**62)
        if not low <= value <= high:
            from traitlets import TraitError

            raise TraitError(f"{name} must be between {low} and {high}")
        return value

    @default("region")
    def _default_region(self) -> str:
        return _env("CODELAB_REGION") or DEFAULT_REGION

    @default("modelarts_endpoint")
    def _default_modelarts_endpoint(self) -> str:
        return (_env("CODELAB_MODELARTS_ENDPOINT") or default_modelarts_endpoint(self.region)).rstrip("/")

    @default("iam_endpoint")
    def _default_iam_endpoint(self) -> str:
        return (_env("CODELAB_IAM_ENDPOINT") or default_iam_endpoint(self.region)).rstrip("/")

    @default("project_id")
    def _default_project_id(self) -> str:
        return _env("HUAWEICLOUD_SDK_PROJECT_ID") or ""

    @default("credentials_file")
    def _default_credentials_file(self) -> str:
        return _env("CODELAB_CREDENTIALS_FILE") or default_credentials_file()

    @default("emulator")
    def _default_emulator(self) -> bool:
        return _truthy(_env("CODELAB_EMULATOR"))

    @default("ssh_reachability_check")
    def _default_ssh_reachability_check(self) -> bool:
        value = _env("CODELAB_SSH_REACHABILITY_CHECK")
        if value is not None:
            return _truthy(value)
        return not self.emulator

    @default("emulator_speed")
    def _default_emulator_speed(self) -> float:
        try:
            return float(_env("CODELAB_EMULATOR_SPEED") or 1.0)
        except ValueError:
            return 1.0

    def endpoints_for(self, region: str, profile_iam_endpoint: str | None = None) -> tuple[str, str]:
        """(ModelArts, IAM) base URLs for ``region``.

        Endpoints set by the user are kept as they are; the public defaults follow the region, so
        credentials stored for another region than ``c.CodeLab.region`` reach that region's endpoints.
        The IAM default is the SDK's choice (``BasicCredentials.process_auth_params``): the
        ``iam_endpoint`` of the SDK profile the credentials came from (``profile_iam_endpoint``), else
        ``HUAWEICLOUD_SDK_IAM_ENDPOINT``, else the region's table entry, else the global IAM
        (:func:`codelab_ext.regions.default_iam_endpoint`).
        """
        modelarts, iam = self.modelarts_endpoint, self.iam_endpoint
        iam_is_default = iam == default_iam_endpoint(self.region)
        if region != self.region:
            if modelarts == default_modelarts_endpoint(self.region):
                modelarts = default_modelarts_endpoint(region)
            if iam_is_default:
                iam = default_iam_endpoint(region)
        if iam_is_default and profile_iam_endpoint:
            iam = profile_iam_endpoint.strip().rstrip("/")
        return modelarts, iam

    @validate("modelarts_endpoint", "iam_endpoint")
    def _validate_endpoint(self, proposal: dict[str, Any]) -> str:
        value = proposal["value"].strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            from traitlets import TraitError

            raise TraitError(f"{proposal['trait'].name} must be an http(s) URL, got {value!r}")
        return value

    @validate("max_response_bytes")
    def _validate_max_response_bytes(self, proposal: dict[str, Any]) -> int:
        value = proposal["value"]
        if not 1024 <= value <= 1024**3:
            from traitlets import TraitError

            raise TraitError("max_response_bytes must be between 1024 and 1073741824 bytes")
        return value

    @validate("request_timeout")
    def _validate_timeout(self, proposal: dict[str, Any]) -> float:
        value = proposal["value"]
        if not 0 < value <= 600:
            from traitlets import TraitError

            raise TraitError("request_timeout must be between 0 and 600 seconds")
        return value

"""The JSON shapes the server answers and the client library returns, as ``TypedDict``s.

These are the shapes of ``docs/architecture.md`` (and of ``codelab_ext/openapi.json``): what
:mod:`codelab_ext.models` normalises ModelArts' answers into. Every normalised object also keeps
the upstream fields it does not know (passed through unchanged), which a ``TypedDict`` cannot
name: read them with ``.get`` on the plain dict.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict, Union

__all__ = [
    "ErrorEvent",
    "FreeFlavor",
    "Image",
    "Instance",
    "Lease",
    "LeaseBounds",
    "PublicInstance",
    "SshEndpoint",
    "StatusClass",
    "Step",
    "WatchEvent",
]

#: what ``status_class`` says of an instance (:func:`codelab_ext.models.status_class`)
StatusClass = Literal["running", "changing", "stopping", "failed", "stopped", "unknown"]


class FreeFlavor(TypedDict):
    """A free CodeLab flavor as ListFlavors (feature DEFAULT) describes it; memory in MiB."""

    id: str
    name: str | None
    description: str | None
    category: str | None
    arch: str | None
    vcpus: int | None
    memory: int | None
    sold_out: bool


class LeaseBounds(TypedDict):
    """The lease rule the server enforces: what a start gives, the shortest and longest lease (ms)."""

    default_ms: int
    min_ms: int
    max_ms: int


class Lease(TypedDict):
    """The auto-stop lease: times in epoch milliseconds, ``duration`` and ``remaining_ms`` in ms."""

    create_at: int | None
    duration: int | None
    enable: bool | None
    type: str | None
    update_at: int | None
    expires_at: int | None
    remaining_ms: int | None


class Step(TypedDict):
    """One of the four start-up steps of ``action_progress``."""

    step: int | None
    status: str | None
    description: str | None


class SshEndpoint(TypedDict):
    """The instance's SSH endpoint, parsed with the one SSH grammar (:mod:`codelab_ext.ssh`)."""

    host: str
    port: int
    user: str
    key_pair_names: list[str]
    uri: str
    #: why it cannot be reached from outside (models.ssh_unreachable_reason), None when it may be
    unreachable: str | None


class Image(TypedDict):
    """An image of the catalogue."""

    id: str | None
    name: str | None
    tag: str | None
    description: str | None
    type: str | None
    status: str | None
    swr_path: str | None
    arch: str | None
    resource_categories: list[str]
    dev_services: list[str]
    category: Literal["CPU", "GPU", "ASCEND"]


class _InstanceExtras(TypedDict, total=False):
    pool: dict[str, Any] | None
    #: ``POST open`` only: the raw share URL that was sent
    share_url: str


class Instance(_InstanceExtras):
    """A CodeLab instance (the notebook ``token`` still in it: see :class:`PublicInstance`)."""

    id: str | None
    name: str | None
    status: str | None
    feature: str | None
    flavor: str | None
    description: str | None
    fail_reason: str | None
    url: str | None
    token: str | None
    workspace_id: str | None
    create_at: int | None
    update_at: int | None
    image: Image | None
    action_progress: list[Step]
    lease: Lease | None
    endpoints: list[dict[str, Any]]
    ssh: SshEndpoint | None
    volume: dict[str, Any] | None


class PublicInstance(Instance):
    """An instance as the browser and ``--json`` see it (:func:`codelab_ext.models.public_instance`)."""

    status_class: StatusClass
    ssh_command: str | None


class ErrorEvent(TypedDict, total=False):
    """The ``upstream-error`` event of an event stream: a polling failure, as the REST errors say it."""

    message: str
    code: str
    request_id: str
    status: int


#: what a watcher subscription yields: ``("instance", Instance)``, ``("error", ErrorEvent)`` or
#: ``("closed", {})`` (the server stops)
WatchEvent = Union[
    tuple[Literal["instance"], dict[str, Any]],
    tuple[Literal["error"], dict[str, Any]],
    tuple[Literal["closed"], dict[str, Any]],
    tuple[Literal["workspace"], dict[str, Any]],
]

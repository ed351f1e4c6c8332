"""Where a CodeLab kernel finds its instance: the server's service, the instance's Jupyter, the folder.

The Jupyter server extension registers its :class:`~codelab_ext.service.CodeLabService` here when it
starts (and removes it when it stops), so a kernel asks ModelArts with the server's credentials,
client, deadlines and thread pools. A host without the extension (nbclient, a console) gets a
service of its own, built from the same Jupyter configuration files as ``jupyter codelab``.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CodeLabError
from ..i18n import Message, tr
from ..workspace.core import WORK_DIR
from .remote import InstanceJupyter, remote_path

if TYPE_CHECKING:
    from ..service import CodeLabService
    from .bridge import Bridge

_services: list[CodeLabService] = []
_own: CodeLabService | None = None
#: the live kernels of each instance (their bridges), ended at once when the instance is seen stopped
_kernels: dict[str, weakref.WeakSet[Bridge]] = {}


def register(service: CodeLabService) -> None:
    if service not in _services:
        _services.append(service)


def unregister(service: CodeLabService) -> None:
    if service in _services:
        _services.remove(service)


def service() -> CodeLabService:
    """The service of this process (the server's; else one built from the Jupyter configuration)."""
    global _own
    if _services:
        return _services[-1]
    if _own is None:
        from ..config import CodeLab, jupyter_config_files
        from ..service import CodeLabService

        _own = CodeLabService(CodeLab(config=jupyter_config_files()))
    return _own


class InstanceNotRunning(CodeLabError):
    status = 409


async def instance_jupyter(instance_id: str) -> tuple[InstanceJupyter, dict[str, Any]]:
    """The instance's Jupyter server (url and token from ModelArts) while it is RUNNING, direct or
    through its SSH endpoint (:mod:`.transport`); the caller closes it."""
    svc = service()
    instance = await svc.fetch_instance(instance_id)
    why = not_running_reason(instance)
    if why is not None:
        # what was learned is shared: the kernelspecs of the instance go, an open panel hears it
        svc.watchers.publish(instance)
        raise InstanceNotRunning(why)
    url, token = instance.get("url"), instance.get("token")
    if not url or not token:
        raise InstanceNotRunning(tr("The CodeLab instance has no Jupyter address to run kernels on."))
    from .transport import open_jupyter

    return await open_jupyter(instance, svc.config), instance


def track(instance_id: str, bridge: Bridge) -> None:
    """``bridge`` is a kernel of ``instance_id`` (until it is gone: a weak reference)."""
    _kernels.setdefault(instance_id, weakref.WeakSet()).add(bridge)


def end_kernels(instance: dict[str, Any]) -> int:
    """The instance is seen not RUNNING: its kernels end now with the reason (how many did)."""
    why = not_running_reason(instance)
    bridges = _kernels.get(str(instance.get("id") or ""))
    if why is None or not bridges:
        return 0
    ended = 0
    for bridge in list(bridges):
        if bridge.ended is None and not bridge.closing:
            bridge.end(why)
            ended += 1
    return ended


def not_running_reason(instance: dict[str, Any]) -> Message | None:
    """Why a kernel cannot run on ``instance`` (None while it is RUNNING)."""
    status = str(instance.get("status") or "").upper()
    if status == "RUNNING":
        return None
    name = str(instance.get("name") or instance.get("id") or "")
    if status == "STOPPED":
        return tr(
            "The CodeLab instance {name} stopped (its lease ended or it was stopped): this kernel has "
            "ended. Start the instance again and choose its kernel to go on.",
            name=name,
        )
    if status == "STOPPING":
        return tr(
            "The CodeLab instance {name} is stopping (it was stopped or its lease ended): this kernel has "
            "ended. Start the instance again and choose its kernel to go on.",
            name=name,
        )
    return tr(
        "The CodeLab instance {name} is {status}: this kernel has ended. Start the instance again and "
        "choose its kernel to go on.",
        name=name,
        status=status or "gone",
    )


def remote_folder(instance_id: str, local_cwd: str | None) -> str:
    """The instance folder a kernel started from ``local_cwd`` works in (REST path form).

    The linked remote folder of the notebook's local folder (design.md §7) when there is a link,
    with the notebook's sub-folder below it; else the instance's work folder. The local path itself
    never leaves this machine.
    """
    link_remote = _linked_remote(instance_id, local_cwd)
    return remote_path(link_remote or WORK_DIR)


def _linked_remote(instance_id: str, local_cwd: str | None) -> str | None:
    """The instance folder of ``local_cwd`` by the deepest link of ``instance_id`` that holds it."""
    if not local_cwd:
        return None
    from ..workspace.links import LinkStore

    try:
        links = LinkStore(service().config.workspace_links_file or None).links(instance_id)
    except Exception:  # an unreadable link file: the work folder (the workspace routes report it)
        return None
    cwd = Path(os.path.realpath(local_cwd))
    best: tuple[int, str] | None = None
    for link in links:
        local = Path(link.local)
        if cwd == local or local in cwd.parents:
            below = cwd.relative_to(local).as_posix()
            remote = link.remote if below == "." else f"{link.remote.rstrip('/')}/{below}"
            if best is None or len(local.parts) > best[0]:
                best = (len(local.parts), remote)
    return best[1] if best else None

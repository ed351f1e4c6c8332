"""How the kernels reach an instance's Jupyter server: direct, or through the instance's SSH endpoint.

``c.CodeLab.kernel_transport``:

* ``direct``: the instance's ``url`` with its token;
* ``ssh``: a local port forward over the instance's one SSH connection
  (:mod:`codelab_ext.ssh_connection`, shared with the workspace's SFTP route) to the Jupyter server
  as seen from inside the instance (``c.CodeLab.kernel_ssh_jupyter``, ``127.0.0.1:8888`` by default;
  the path is the one of the direct URL), with the same token;
* ``auto`` (default): direct, unless it is refused (:func:`direct_refused`: no connection, a TLS
  failure, no answer in time, or a front proxy's 403/407/502/503/504, or an answer that is not the
  Jupyter server's) and the instance has an SSH endpoint; then SSH. The choice is remembered per
  instance for ``kernel_transport_memory_seconds`` and logged when it changes.

Every REST call and websocket then goes through :class:`~.remote.InstanceJupyter` as before: its
``transport`` says which way (the kernelspec metadata and ``jupyter codelab kernels --json`` show it).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..i18n import Message, tr
from ..ssh_connection import POOL, Lease, SshUnavailable, parse_address
from .remote import InstanceJupyter, RemoteError, jupyter_base

__all__ = [
    "TRANSPORTS",
    "direct_refused",
    "forget",
    "open_jupyter",
    "remembered",
]

log = logging.getLogger("codelab_ext.kernels")

TRANSPORTS = ("auto", "direct", "ssh")
#: answers of a front (not of the instance's Jupyter server) that refuse this client
REFUSING_STATUSES = frozenset({403, 407, 502, 503, 504})


@dataclass
class Choice:
    transport: str
    until: float
    #: why direct was not taken (the probe's message), for the log and the metadata
    reason: str | None = None


#: the transport kept per instance, the oldest forgotten past MAX_CHOICES (one free instance per
#: account and region: a handful in practice)
_choices: OrderedDict[str, Choice] = OrderedDict()
MAX_CHOICES = 256


def direct_refused(error: RemoteError) -> bool:
    """Whether a failed direct call means "this route is refused" (try SSH) rather than a real answer.

    No answer at all (599: refused, unreachable, reset, TLS failure, deadline, or not JSON) and the
    statuses a front proxy uses to turn a client away are refusals; the Jupyter server's own answers
    (401 for a bad token, 404, 500) are not: SSH would meet them too.
    """
    return error.http_status == 599 or error.http_status in REFUSING_STATUSES


def remembered(instance_id: str, now: float | None = None) -> Choice | None:
    """The transport chosen for ``instance_id`` while it is remembered, else None."""
    choice = _choices.get(instance_id)
    if choice is None or choice.until < (time.monotonic() if now is None else now):
        return None
    return choice


def remember(instance_id: str, transport: str, seconds: float, reason: str | None = None) -> Choice:
    """Keep ``transport`` for ``instance_id`` for ``seconds``; logged when it is a change."""
    before = _choices.get(instance_id)
    choice = Choice(transport, time.monotonic() + max(0.0, seconds), reason)
    _choices[instance_id] = choice
    _choices.move_to_end(instance_id)
    while len(_choices) > MAX_CHOICES:
        _choices.popitem(last=False)
    if before is None or before.transport != transport:
        if transport == "ssh" and reason:
            log.warning(
                "CodeLab kernels of instance %s go through its SSH endpoint (direct refused: %s)",
                instance_id,
                reason,
            )
        else:
            log.info("CodeLab kernels of instance %s go %s", instance_id, transport)
    return choice


def unremember(instance_id: str) -> bool:
    """Drop the choice kept for ``instance_id`` (the next call asks again): whether there was one."""
    return _choices.pop(instance_id, None) is not None


def forget(instance_id: str) -> None:
    """The instance stopped: its choice and its SSH connection go."""
    _choices.pop(instance_id, None)
    POOL.close_instance(instance_id)


class SshJupyter(InstanceJupyter):
    """An :class:`InstanceJupyter` through a forward; :meth:`close` gives the SSH connection back."""

    lease: Lease | None = None

    def close(self) -> None:
        lease, self.lease = self.lease, None
        if lease is not None:
            lease.release()


async def open_jupyter(instance: dict[str, Any], config: Any) -> InstanceJupyter:
    """The instance's Jupyter server, through the transport the settings and the instance allow.

    The caller :meth:`~.remote.InstanceJupyter.close`\\ s it when done (an SSH one holds the
    instance's connection until then). :class:`RemoteError` when neither way works.
    """
    url, token = instance.get("url"), instance.get("token")
    if not url or not token:
        raise RemoteError(tr("The CodeLab instance has no Jupyter address to run kernels on."))
    timeout = float(config.request_timeout)
    setting = str(getattr(config, "kernel_transport", "auto") or "auto")
    instance_id = str(instance.get("id") or "")
    direct = InstanceJupyter(jupyter_base(str(url)), str(token), timeout=timeout)
    if setting == "direct" or (setting == "auto" and not instance.get("ssh")):
        return direct
    memory = float(getattr(config, "kernel_transport_memory_seconds", 600.0))
    if setting == "auto":
        choice = remembered(instance_id)
        if choice is None:
            try:
                await direct.probe()
            except RemoteError as exc:
                if not direct_refused(exc):
                    raise
                choice = remember(instance_id, "ssh", memory, str(exc.message))
            else:
                remember(instance_id, "direct", memory)
                return direct
        elif choice.transport == "direct":
            return direct
    try:
        return await _through_ssh(instance, config, direct)
    except RemoteError as exc:
        if setting == "ssh":
            raise
        why: Message = tr(
            "The instance's Jupyter server cannot be reached directly ({direct}) nor through its SSH "
            "endpoint ({ssh}).",
            direct=getattr(_choices.get(instance_id), "reason", None) or "refused",
            ssh=exc.message,
        )
        _choices.pop(instance_id, None)  # ask again next time: one of them may come back
        raise RemoteError(why, http_status=exc.http_status) from None


def ssh_deadline(timeout: float) -> float:
    """The total deadline of opening a forward: connecting (TCP, banner, authentication, each within
    ``timeout``) and the forward's listener."""
    return timeout * 3 + 5


class _Handover:
    """A lease taken in a worker thread for a caller that may give up meanwhile (its deadline, a
    cancel): whichever side comes second releases it, so it never outlives both.

    The thread :meth:`offer`\\ s it once taken (False: the caller gave up, the thread releases it); the
    caller that gives up :meth:`abandon`\\ s it (releasing a lease already offered). A thread that
    returns just after the deadline, or whose result reaches the loop only after it, leaks nothing.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lease: Lease | None = None
        self._abandoned = False

    def offer(self, lease: Lease) -> bool:
        with self._lock:
            if self._abandoned:
                return False
            self._lease = lease
            return True

    def abandon(self) -> None:
        with self._lock:
            self._abandoned = True
            lease, self._lease = self._lease, None
        if lease is not None:
            lease.release()


async def _through_ssh(instance: dict[str, Any], config: Any, direct: InstanceJupyter) -> SshJupyter:
    try:
        host, port = parse_address(str(getattr(config, "kernel_ssh_jupyter", "127.0.0.1:8888")))
    except ValueError:
        raise RemoteError(
            tr(
                "c.CodeLab.kernel_ssh_jupyter is not host:port: {value}",
                value=str(getattr(config, "kernel_ssh_jupyter", "")),
            )
        ) from None
    timeout = float(config.request_timeout)
    handover = _Handover()

    def connect() -> tuple[Lease, int]:
        lease = POOL.acquire(instance, timeout=timeout)
        try:
            local_port = lease.connection.forward(host, port).port
        except BaseException:
            lease.release()
            raise
        if not handover.offer(lease):  # the caller's deadline passed meanwhile
            lease.release()
        return lease, local_port

    try:
        # paramiko blocks: a worker thread, within the deadline (TCP, banner, authentication)
        lease, local_port = await asyncio.wait_for(asyncio.to_thread(connect), ssh_deadline(timeout))
    except asyncio.TimeoutError:
        handover.abandon()
        raise RemoteError(
            tr("The instance's SSH endpoint did not answer within {seconds} s.", seconds=round(timeout * 3))
        ) from None
    except SshUnavailable as exc:
        raise RemoteError(exc.message) from None
    except Exception as exc:  # the endpoint's data (NoSshEndpointError, a validation error)
        raise RemoteError(
            tr("The instance's SSH endpoint cannot be used: {error}", error=str(exc)[:300])
        ) from None
    except BaseException:  # cancelled: what the thread brings is given back
        handover.abandon()
        raise
    path = urlsplit(direct.base).path or "/"
    jupyter = SshJupyter(f"http://127.0.0.1:{local_port}{path}", direct.token, timeout=direct.timeout)
    jupyter.transport = "ssh"
    jupyter.lease = lease
    return jupyter

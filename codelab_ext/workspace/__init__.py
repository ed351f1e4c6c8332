"""Workspace: a local folder and a folder of a CodeLab instance, kept in step (push, pull, sync).

* :mod:`.links`: the links (local folder <-> instance folder) and the manifest of each one's last
  sync, stored 0600 and written atomically;
* :mod:`.engine`: what changed on each side and what a run does about it (conflicts keep both,
  nothing deleted unless asked);
* :mod:`.contents` and :mod:`.sftp`: the two routes to the instance, with the same promises
  (temporary name and rename, sha256 checked on arrival, interrupted transfers resumed, every call
  bounded).

:class:`Workspace` is what the command line and the server use. It is blocking: the server runs it
in an executor. Nothing here imports tornado.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from ..i18n import tr
from .core import (
    DEFAULT_IGNORES,
    IGNORE_FILE,
    WORK_DIR,
    Busy,
    Cancelled,
    IgnoreRules,
    LinkInvalid,
    LinkNotFound,
    Progress,
    ProgressCallback,
    PushTooLarge,
    Refused,
    RouteRefused,
    SyncResult,
    TransferFailed,
    WorkspaceError,
)
from .engine import WorkspaceStatus, run, status
from .links import Link, LinkStore, default_links_file
from .remote import Remote

__all__ = [
    "DEFAULT_IGNORES",
    "IGNORE_FILE",
    "WORK_DIR",
    "Busy",
    "Cancelled",
    "IgnoreRules",
    "Link",
    "LinkInvalid",
    "LinkNotFound",
    "LinkStore",
    "Progress",
    "PushTooLarge",
    "Refused",
    "Remote",
    "RouteRefused",
    "SyncResult",
    "TransferFailed",
    "Workspace",
    "WorkspaceError",
    "WorkspaceStatus",
    "default_links_file",
]

DEFAULT_MAX_PUSH_BYTES = 2 * 1024**3
DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024
DEFAULT_MIN_RATE = 256 * 1024


class Workspace:
    """The runs of one instance's links, through one route (opened at the first use).

    ``instance`` is the normalised Instance (``url``, ``token``, ``id``, ``ssh``); ``transport``
    ``"auto"`` takes the contents API and falls back to SFTP when it is refused, ``"contents"`` or
    ``"sftp"`` take only that one. ``config`` (a ``CodeLab``) gives the caps and deadlines.
    """

    def __init__(
        self,
        store: LinkStore,
        instance: Mapping[str, Any],
        *,
        config: Any = None,
        identity_file: str | None = None,
        known_hosts: str | None = None,
        transport: str = "auto",
        remote: Remote | None = None,
    ) -> None:
        if transport not in ("auto", "contents", "sftp"):
            raise ValueError(transport)
        self.store = store
        self.instance = instance
        self.identity_file = identity_file
        self.known_hosts = known_hosts
        self.transport = transport
        self.timeout = float(getattr(config, "request_timeout", 30.0) or 30.0)
        self.max_push_bytes = int(getattr(config, "workspace_max_push_bytes", DEFAULT_MAX_PUSH_BYTES))
        self.chunk_bytes = int(getattr(config, "workspace_chunk_bytes", DEFAULT_CHUNK_BYTES))
        self.min_rate = float(getattr(config, "workspace_min_rate", DEFAULT_MIN_RATE))
        self.workers = int(getattr(config, "workspace_parallel_transfers", 4))
        self._remote = remote
        self._lock = threading.Lock()

    @property
    def transport_name(self) -> str | None:
        return None if self._remote is None else self._remote.name

    def remote(self) -> Remote:
        with self._lock:
            if self._remote is None:
                self._remote = self._open()
            return self._remote

    def _open(self) -> Remote:
        from .contents import ContentsRemote

        refused: RouteRefused | None = None
        if self.transport in ("auto", "contents"):
            url, token = self.instance.get("url"), self.instance.get("token")
            if isinstance(url, str) and url and isinstance(token, str) and token:
                contents = ContentsRemote(
                    url,
                    token,
                    timeout=self.timeout,
                    chunk_bytes=self.chunk_bytes,
                    min_rate=self.min_rate,
                    max_file_bytes=self.max_push_bytes,
                    workers=self.workers,
                )
                try:
                    contents.probe()
                    return contents
                except RouteRefused as exc:
                    contents.close()
                    refused = exc
            else:
                refused = RouteRefused(tr("The instance has no Jupyter URL and token (is it running?)"))
            if self.transport == "contents" or not self.instance.get("ssh"):
                raise refused
        from .sftp import SftpRemote

        try:
            return SftpRemote(
                self.instance,
                identity_file=self.identity_file,
                known_hosts=self.known_hosts,
                timeout=self.timeout,
                min_rate=self.min_rate,
                max_file_bytes=self.max_push_bytes,
            )
        except RouteRefused as exc:
            if refused is None:
                raise
            raise RouteRefused(
                tr(
                    "Neither route to the instance works: {first}; {second}",
                    first=refused.message,
                    second=exc.message,
                )
            ) from None

    def _run(
        self,
        direction: str,
        link: Link,
        paths: Iterable[str] | None,
        delete: bool,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> SyncResult:
        remote = self.remote()
        return run(
            self.store,
            link,
            remote,
            direction,
            paths=paths,
            delete=delete,
            progress=progress,
            cancel=cancel,
            max_push_bytes=self.max_push_bytes,
            workers=self.workers if remote.name == "contents" else 1,
        )

    def push(
        self,
        link: Link,
        paths: Iterable[str] | None = None,
        *,
        delete: bool = False,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> SyncResult:
        return self._run("push", link, paths, delete, progress, cancel)

    def pull(
        self,
        link: Link,
        paths: Iterable[str] | None = None,
        *,
        delete: bool = False,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> SyncResult:
        return self._run("pull", link, paths, delete, progress, cancel)

    def sync(
        self,
        link: Link,
        paths: Iterable[str] | None = None,
        *,
        delete: bool = False,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> SyncResult:
        return self._run("sync", link, paths, delete, progress, cancel)

    def status(self, link: Link) -> WorkspaceStatus:
        return status(self.store, link, self.remote())

    def close(self) -> None:
        with self._lock:
            if self._remote is not None:
                self._remote.close()
                self._remote = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

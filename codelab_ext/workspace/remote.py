"""What the sync engine needs of the instance side, whichever route reaches it.

Two routes implement :class:`Remote`: the instance's Jupyter contents API (:mod:`.contents`) and
SFTP over the instance's SSH endpoint (:mod:`.sftp`). Both keep the same promises:

* :meth:`Remote.upload` writes into ``<name>.codelab-part`` first, verifies it on the instance, and
  only then gives it the real name; a part left by an interrupted run is resumed when it is a
  prefix of the file being sent. A folder missing on the instance is pushed as a whole into the
  staging folder ``<folder>.codelab-part`` (:meth:`Remote.put_new`), checked by listing it, then
  renamed at once (:meth:`Remote.move_folder`): the engine says when.
* :meth:`Remote.download` appends to a local part file from where it stopped, hashing what it
  writes; the caller checks it (a listing after the downloads, or the instance's sha256 for a
  resumed one) and renames.
* every call has a total deadline and a size cap.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..i18n import tr
from .core import Cancelled, IgnoreRules

__all__ = ["Remote", "RemoteFile", "check_cancel", "file_sha256", "prefix_sha256"]

#: bytes read per step when hashing a local file
HASH_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class RemoteFile:
    size: int
    #: the instance's modification stamp, as the route gives it (compared for equality only)
    mtime: str
    #: bytes an upload did not send again (a part left by an interrupted run went on)
    resumed: int = 0


OnBytes = Callable[[int], None]


class Remote(Protocol):
    #: "contents" or "sftp"
    name: str
    #: whether the route lists and takes hidden names (a part starting with ``.``)
    sees_hidden: bool
    #: symbolic links the last :meth:`scan` found (relative to its folder; never followed)
    links: set[str]

    #: the folders the last :meth:`scan` saw (relative to its folder, "" for itself, ignored ones
    #: too); None when its folder is not there
    folders: set[str] | None

    def scan(self, folder: str, rules: IgnoreRules) -> dict[str, RemoteFile]:
        """Every file under the absolute instance folder ``folder`` (keys relative to it, POSIX),
        leaving out what ``rules`` ignore; ``{}`` when the folder does not exist."""
        ...

    def staged(self, folder: str) -> dict[str, RemoteFile]:
        """Every file under the staging folder ``folder`` (nothing ignored); ``{}`` when it is not there."""
        ...

    def stamps(self, folder: str, relatives: Iterable[str]) -> dict[str, RemoteFile]:
        """The files directly in each of the folders ``relatives`` of ``folder`` (keys relative to
        ``folder``), stamped as :meth:`scan` stamps them; a folder not there has none."""
        ...

    def put_new(
        self,
        path: str,
        source: Path,
        size: int,
        sha256: str,
        on_bytes: OnBytes,
        cancel: threading.Event | None,
        *,
        resume: bool = False,
    ) -> RemoteFile:
        """Write ``source`` straight to ``path``, a name no user's file has (a part name or a name
        in a staging folder), verified as docs/architecture.md says."""
        ...

    def move_folder(self, old: str, new: str) -> bool:
        """Rename the staging folder ``old`` to ``new``; False (nothing moved) when ``new`` exists."""
        ...

    def discard(self, folder: str) -> None:
        """Remove a staging folder and its files (best effort)."""
        ...

    def sha256(self, path: str) -> str:
        """The sha256 (hex) of the file at the absolute instance path ``path``."""
        ...

    def exists(self, path: str) -> bool: ...

    def upload(
        self,
        path: str,
        source: Path,
        size: int,
        sha256: str,
        on_bytes: OnBytes,
        cancel: threading.Event | None,
    ) -> RemoteFile:
        """Send ``source`` (``size`` bytes, hash ``sha256``) to ``path``, verified, then renamed."""
        ...

    def download(
        self, path: str, part: Path, size: int, on_bytes: OnBytes, cancel: threading.Event | None
    ) -> tuple[int, str | None, str | None]:
        """Append the instance file ``path`` to the local ``part`` from ``part``'s current size on;
        answers how many bytes were already there (resumed), the sha256 the instance computed of
        the file, if it gave one (else the caller asks :meth:`sha256`), and the sha256 of the whole
        part as it was written, if the route hashed it on the way (else the caller reads it back)."""
        ...

    def delete(self, path: str) -> None: ...

    def close(self) -> None: ...


def file_sha256(path: Path, limit: int | None = None) -> str:
    """The sha256 of a local file (of its first ``limit`` bytes when given)."""
    digest = hashlib.sha256()
    left = limit
    with open(path, "rb") as handle:
        while left is None or left > 0:
            block = handle.read(HASH_BLOCK if left is None else min(HASH_BLOCK, left))
            if not block:
                break
            digest.update(block)
            if left is not None:
                left -= len(block)
    return digest.hexdigest()


def prefix_sha256(path: Path, length: int) -> str:
    return file_sha256(path, length)


def check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled(tr("The transfer was cancelled"))

"""Links (a local folder joined to a folder of an instance's work folder) and their manifests.

One JSON file holds every link (``links.json``); each link's manifest of the last sync (path, size,
mtime, sha256 of each file, and what the instance said of it) is a file of its own in
``manifests/<link id>.json`` beside it. Both are written atomically (temporary file, fsync,
``os.replace``) with mode 0600; a broken file is refused with a message, never silently replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from ..i18n import tr
from ..ssh_install import _atomic_write
from .core import WORK_DIR, LinkInvalid, LinkNotFound, WorkspaceError

__all__ = ["Entry", "Link", "LinkStore", "Manifest", "default_links_file", "remote_folder"]

_FORMAT = 1


def default_links_file() -> Path:
    """``<jupyter data dir>/codelab/workspace/links.json`` (``CODELAB_WORKSPACE_LINKS_FILE`` wins)."""
    env = os.environ.get("CODELAB_WORKSPACE_LINKS_FILE")
    if env:
        return Path(env).expanduser()
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "codelab" / "workspace" / "links.json"


def remote_folder(remote: str | None, local: Path) -> str:
    """The instance folder of a link: ``remote`` (absolute under the work folder, or relative to it),
    default ``/home/ma-user/work/<local folder name>``."""
    text = (remote or "").strip() or local.name
    pure = PurePosixPath(text)
    if not pure.is_absolute():
        pure = PurePosixPath(WORK_DIR) / pure
    if ".." in pure.parts or "\x00" in text:
        raise LinkInvalid(tr("The instance folder {remote} must not contain '..'", remote=text))
    work = PurePosixPath(WORK_DIR)
    if pure != work and work not in pure.parents:
        raise LinkInvalid(
            tr("The instance folder {remote} must be inside {work}", remote=text, work=WORK_DIR)
        )
    return str(pure)


@dataclass(frozen=True)
class Link:
    id: str
    instance_id: str
    local: str
    remote: str
    created_at: float
    last_sync: float | None = None
    last_result: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Entry:
    """One file at the last sync: the local stat, the content hash and what the instance said."""

    size: int
    mtime_ns: int
    sha256: str
    remote_size: int
    remote_mtime: str


@dataclass
class Manifest:
    entries: dict[str, Entry] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _FORMAT,
            "files": {path: asdict(entry) for path, entry in sorted(self.entries.items())},
        }

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        files = data.get("files") if isinstance(data, dict) else None
        if not isinstance(files, dict):
            raise ValueError("no files")
        entries = {}
        for path, item in files.items():
            entries[str(path)] = Entry(
                size=int(item["size"]),
                mtime_ns=int(item["mtime_ns"]),
                sha256=str(item["sha256"]),
                remote_size=int(item["remote_size"]),
                remote_mtime=str(item["remote_mtime"]),
            )
        return cls(entries)


class LinkStore:
    """Every link of this user, in one file (see the module's docstring)."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path).expanduser() if path else default_links_file()
        self._lock = threading.RLock()

    # -- files -----------------------------------------------------------------------------------

    def _read(self) -> dict[str, Link]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {item["id"]: Link(**item) for item in data["links"]}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WorkspaceError(
                tr(
                    "The workspace links file {file} cannot be read: {error}",
                    file=str(self.path),
                    error=str(exc),
                )
            ) from None

    def _write(self, links: dict[str, Link]) -> None:
        payload = {"version": _FORMAT, "links": [link.to_json() for link in links.values()]}
        self._ensure_dir(self.path.parent)
        _atomic_write(self.path, (json.dumps(payload, indent=1, sort_keys=True) + "\n").encode("utf-8"))

    @staticmethod
    def _ensure_dir(folder: Path) -> None:
        if not folder.exists():
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _manifest_path(self, link_id: str) -> Path:
        return self.path.parent / "manifests" / f"{link_id}.json"

    # -- links -----------------------------------------------------------------------------------

    def links(self, instance_id: str | None = None) -> list[Link]:
        with self._lock:
            found = [link for link in self._read().values() if instance_id in (None, link.instance_id)]
        return sorted(found, key=lambda link: -(link.last_sync or link.created_at))

    def get(self, instance_id: str, local: str | os.PathLike[str] | None = None) -> Link | None:
        """The instance's link (the one used last), or the link of the folder ``local``."""
        wanted = None if local is None else str(Path(local).expanduser().resolve())
        for link in self.links(instance_id):
            if wanted is None or link.local == wanted:
                return link
        return None

    def find(self, local: str | os.PathLike[str]) -> Link | None:
        """The link of ``local`` or of the nearest linked folder above it, whatever the instance."""
        path = Path(local).expanduser().resolve()
        best: Link | None = None
        for link in self.links():
            folder = Path(link.local)
            if (path == folder or folder in path.parents) and (
                best is None or len(link.local) > len(best.local)
            ):
                best = link
        return best

    def by_id(self, link_id: str) -> Link:
        with self._lock:
            link = self._read().get(link_id)
        if link is None:
            raise LinkNotFound(tr("No workspace link {id}", id=link_id))
        return link

    def put(
        self,
        instance_id: str,
        local: str | os.PathLike[str],
        remote: str | None = None,
        *,
        root: str | os.PathLike[str] | None = None,
    ) -> Link:
        """Link the folder ``local`` to ``remote`` of the instance (replacing that folder's link)."""
        folder = Path(local).expanduser().resolve()
        if root is not None:
            top = Path(root).expanduser().resolve()
            if folder != top and top not in folder.parents:
                raise LinkInvalid(tr("{path} is outside the Jupyter root folder", path=str(local)))
        if not folder.is_dir():
            raise LinkInvalid(tr("{path} is not a folder", path=str(local)))
        target = remote_folder(remote, folder)
        with self._lock:
            links = self._read()
            old = next(
                (
                    link
                    for link in links.values()
                    if link.instance_id == instance_id and link.local == str(folder)
                ),
                None,
            )
            if old is not None and old.remote == target:
                return old
            if old is not None:  # another instance folder: a new link, a new manifest
                del links[old.id]
                self._forget_manifest(old.id)
            digest = hashlib.sha256(f"{instance_id}\0{folder}\0{target}\0{time.time()}".encode()).hexdigest()
            link = Link(
                id=digest[:16],
                instance_id=instance_id,
                local=str(folder),
                remote=target,
                created_at=time.time(),
            )
            links[link.id] = link
            self._write(links)
        return link

    def delete(self, link_id: str) -> bool:
        with self._lock:
            links = self._read()
            if links.pop(link_id, None) is None:
                return False
            self._write(links)
            self._forget_manifest(link_id)
        return True

    def record(self, link: Link, result: dict[str, Any]) -> Link:
        """Remember the end of a run (``last_sync``, ``last_result``)."""
        with self._lock:
            links = self._read()
            current = links.get(link.id, link)
            updated = replace(current, last_sync=time.time(), last_result=result)
            links[link.id] = updated
            self._write(links)
        return updated

    # -- manifests -------------------------------------------------------------------------------

    def manifest(self, link: Link) -> Manifest:
        file = self._manifest_path(link.id)
        try:
            return Manifest.from_json(json.loads(file.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return Manifest()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WorkspaceError(
                tr("The manifest {file} cannot be read: {error}", file=str(file), error=str(exc))
            ) from None

    def save_manifest(self, link: Link, manifest: Manifest) -> None:
        file = self._manifest_path(link.id)
        self._ensure_dir(file.parent)
        _atomic_write(file, json.dumps(manifest.to_json(), separators=(",", ":")).encode("utf-8"))

    def _forget_manifest(self, link_id: str) -> None:
        try:
            self._manifest_path(link_id).unlink()
        except FileNotFoundError:
            pass

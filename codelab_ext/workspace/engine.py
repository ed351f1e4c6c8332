"""Push, pull and sync of a link: compare both sides with the manifest, then move what changed.

For each path the three states are compared: the local file, the instance's file, and the
manifest's entry of the last sync. A side *changed* when its file differs from the entry (new,
deleted, or other content: a different size or stamp is confirmed by the sha256 before it counts).

===================  ==========================================  ==========================================
                     changed here only                           changed on the instance only
===================  ==========================================  ==========================================
file exists          push / sync send it                         pull / sync bring it
file deleted         with ``--delete`` push / sync delete it on  with ``--delete`` pull / sync delete it
                     the instance; otherwise it is skipped       here; otherwise it is skipped
===================  ==========================================  ==========================================

Changed on both sides: the same content is simply recorded; a deletion on one side loses to a
change on the other (the changed file is sent or brought back); two different contents are a
*conflict*: the local file is left as it is and the instance's version is saved beside it as
``<stem> (CodeLab <YYYY-MM-DD HHMMSS>)<suffix>``; push and sync then also send the local file and the
copy, so both versions are on both sides. Nothing is deleted without ``delete=True``, and only a file
unchanged since the last sync is deleted then.

Local files are written to ``.<name>.codelab-part`` beside their place, hashed as they arrive, and moved
into place with ``os.replace`` once a listing of their folders made after the downloads shows the instance's
files as the scan saw them (a resumed part: once the instance's sha256 matches; if the local file changed
meanwhile, the download becomes a conflict copy instead). A folder the instance does not have is pushed into
``<folder>.codelab-part/`` and renamed at once (:meth:`_Run.settle_stages`). docs/architecture.md says what
is checked for each kind of transfer. The manifest is saved every few seconds and at the end of a run, so an
interrupted run loses nothing and the next one goes on from what is on both sides.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..i18n import tr
from .core import (
    PART_SUFFIX,
    Busy,
    Cancelled,
    IgnoreRules,
    LinkInvalid,
    Meter,
    NotFollowed,
    ProgressCallback,
    PushTooLarge,
    Refused,
    SyncResult,
    TransferFailed,
    WorkspaceError,
    check_relative,
    conflict_copy_name,
    human_bytes,
    is_hidden,
)
from .links import Entry, Link, LinkStore, Manifest
from .remote import Remote, RemoteFile, check_cancel, file_sha256

__all__ = ["LocalFile", "Plan", "WorkspaceStatus", "plan", "run", "scan_local", "status"]

#: how often the manifest is saved during a run (seconds)
SAVE_EVERY = 2.0
#: a local file modified this recently when its entry is written may change again within the same
#: tick of the file system's clock without its stamp changing: its entry then asks for the sha256
#: next time (like git's "racily clean" index entries)
RACY_NS = 2_000_000_000


def _entry_mtime(mtime_ns: int) -> int:
    """The stamp to remember for a local file: -1 ("compare the sha256") while it is racy."""
    return -1 if time.time_ns() - mtime_ns < RACY_NS else mtime_ns


_link_locks: dict[str, threading.Lock] = {}
_link_locks_guard = threading.Lock()


@dataclass(frozen=True)
class LocalFile:
    size: int
    mtime_ns: int


def scan_local(folder: Path, rules: IgnoreRules, links: list[str] | None = None) -> dict[str, LocalFile]:
    """Every regular file under ``folder`` (POSIX paths relative to it) that ``rules`` keep.
    Symbolic links are not followed (those ``rules`` keep are added to ``links``), and part files
    of unfinished downloads are left out."""
    found: dict[str, LocalFile] = {}
    if not folder.is_dir():
        return found
    pending = [""]
    while pending:
        relative = pending.pop()
        try:
            entries = list(os.scandir(folder / relative if relative else folder))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        names = [entry.name for entry in entries]
        for entry in entries:
            name = f"{relative}/{entry.name}" if relative else entry.name
            try:
                if entry.is_symlink():
                    if links is not None and not rules.ignored(name):
                        links.append(name)
                elif entry.is_dir(follow_symlinks=False):
                    try:
                        inside = os.listdir(entry.path)
                    except OSError:
                        inside = []
                    if not rules.ignored_dir(name, inside):
                        pending.append(name)
                elif entry.is_file(follow_symlinks=False):
                    if rules.ignored(name) or (
                        entry.name.startswith(".") and entry.name.endswith(PART_SUFFIX)
                    ):
                        continue
                    info = entry.stat(follow_symlinks=False)
                    found[name] = LocalFile(info.st_size, info.st_mtime_ns)
            except OSError:
                continue
        del names
    return found


def _local_part(target: Path) -> Path:
    return target.with_name(f".{target.name}{PART_SUFFIX}")


# --------------------------------------------------------------------------- what no route may touch


def _link_on_instance() -> Any:
    return tr("a symbolic link on the instance: not followed, nothing sent or brought back through it")


def _under(path: str, links: Iterable[str]) -> bool:
    return any(path == link or path.startswith(link + "/") for link in links)


def set_aside(
    direction: str,
    local: dict[str, LocalFile],
    remote_files: dict[str, RemoteFile],
    manifest: Manifest,
    local_links: Iterable[str],
    remote: Remote,
) -> tuple[dict[str, LocalFile], dict[str, RemoteFile], Manifest, list[tuple[str, Any, bool]]]:
    """Take out of a run what it must not touch, each said in ``skipped`` with its reason:

    * a symbolic link on either side (and whatever lies under it) is neither followed nor
      replaced nor deleted: a link may lead out of the linked folder;
    * a hidden name (a part starting with ``.``) when the route does not take them (the
      instance's Jupyter server without ``allow_hidden``: it neither lists nor accepts them).
      A hidden file that would be sent blocks the run (it is not there); one synced before is
      only not compared (its copy on the instance cannot be seen).

    Answers the local files, the instance's files and the manifest the plan may look at, and the
    skipped paths; the caller's manifest itself keeps every entry."""
    skipped: list[tuple[str, Any, bool]] = []
    here = sorted(set(local_links))
    there = sorted(set(remote.links) - set(here))
    for link in here:
        skipped.append(
            (link, tr("a symbolic link here: not followed, nothing sent or brought back through it"), False)
        )
    for link in there:
        skipped.append((link, _link_on_instance(), False))
    hidden: set[str] = set()
    if not remote.sees_hidden:
        up = direction in ("push", "sync")
        down = direction in ("pull", "sync")
        for path in sorted(set(local) | set(manifest.entries)):
            if not is_hidden(path) or _under(path, here) or _under(path, there):
                continue
            hidden.add(path)
            mine = local.get(path)
            base = manifest.entries.get(path)
            waiting = mine is not None and (
                base is None or (mine.size, mine.mtime_ns) != (base.size, base.mtime_ns)
            )
            if up and waiting:
                skipped.append(
                    (
                        path,
                        tr(
                            "a hidden name (starting with '.'): the instance's Jupyter server does not "
                            "take it; push over SFTP (--transport sftp) or list it in .codelabignore"
                        ),
                        True,
                    )
                )
            elif down and base is not None:
                skipped.append(
                    (
                        path,
                        tr(
                            "a hidden name (starting with '.'): the instance's Jupyter server does not "
                            "show it, so its copy there was not compared (use --transport sftp)"
                        ),
                        False,
                    )
                )
    links = [*here, *there]

    def kept(path: str) -> bool:
        return path not in hidden and not _under(path, links)

    return (
        {path: item for path, item in local.items() if kept(path)},
        {path: item for path, item in remote_files.items() if kept(path)},
        Manifest({path: entry for path, entry in manifest.entries.items() if kept(path)}),
        skipped,
    )


def check_no_link(folder: Path, path: str) -> None:
    """Refuse to write ``path`` when one of its folders here is a symbolic link (it may lead out
    of the linked folder); the scan leaves such paths out, this catches a link made meanwhile."""
    current = folder
    for part in PurePosixPath(path).parts[:-1]:
        current = current / part
        if current.is_symlink():
            raise Refused(
                tr(
                    "{path}: its folder {folder} is a symbolic link here; not followed",
                    path=path,
                    folder=current.relative_to(folder).as_posix(),
                )
            )


# --------------------------------------------------------------------------- the plan


@dataclass
class Plan:
    """What a run would do, path by path (also what :func:`status` shows)."""

    upload: list[str] = field(default_factory=list)
    download: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    delete_remote: list[str] = field(default_factory=list)
    delete_local: list[str] = field(default_factory=list)
    record: dict[str, Entry] = field(default_factory=dict)
    forget: list[str] = field(default_factory=list)
    #: (path, reason, blocking)
    skipped: list[tuple[str, Any, bool]] = field(default_factory=list)
    #: what waits on each side: {"local"|"remote": {"changed"|"added"|"deleted": [path]}}
    waiting: dict[str, dict[str, list[str]]] = field(
        default_factory=lambda: {
            side: {"changed": [], "added": [], "deleted": []} for side in ("local", "remote")
        }
    )
    local_sha: dict[str, str] = field(default_factory=dict)
    remote_sha: dict[str, str] = field(default_factory=dict)


class _Sides:
    """Hashes of both sides, computed only when a size or a stamp says they may differ."""

    def __init__(self, folder: Path, remote: Remote, remote_root: str, plan: Plan) -> None:
        self.folder = folder
        self.remote = remote
        self.remote_root = remote_root
        self.plan = plan

    def local_sha(self, path: str) -> str:
        if path not in self.plan.local_sha:
            self.plan.local_sha[path] = file_sha256(self.folder / path)
        return self.plan.local_sha[path]

    def remote_sha(self, path: str) -> str:
        if path not in self.plan.remote_sha:
            self.plan.remote_sha[path] = self.remote.sha256(_join(self.remote_root, path))
        return self.plan.remote_sha[path]


def _join(root: str, path: str) -> str:
    return str(PurePosixPath(root) / path)


def _selected(path: str, paths: list[str] | None) -> bool:
    if not paths:
        return True
    return any(not chosen or path == chosen or path.startswith(chosen + "/") for chosen in paths)


def plan(
    link: Link,
    direction: str,
    local: Mapping[str, LocalFile],
    remote_files: Mapping[str, RemoteFile],
    manifest: Manifest,
    remote: Remote,
    *,
    delete: bool = False,
    paths: list[str] | None = None,
) -> Plan:
    """Decide, path by path, what a ``direction`` ("push" | "pull" | "sync" | "status") run does."""
    result = Plan()
    sides = _Sides(Path(link.local), remote, link.remote, result)
    up = direction in ("push", "sync")
    down = direction in ("pull", "sync")
    for path in sorted(set(local) | set(remote_files) | set(manifest.entries)):
        if not _selected(path, paths):
            continue
        base = manifest.entries.get(path)
        mine = local.get(path)
        theirs = remote_files.get(path)
        local_changed = _local_changed(path, base, mine, sides, result)
        remote_changed = _remote_changed(path, base, theirs, sides, result)
        _note_waiting(result, path, base, mine, theirs, local_changed, remote_changed)
        if not local_changed and not remote_changed:
            continue
        if local_changed and not remote_changed:
            if mine is not None:
                if up:
                    result.upload.append(path)
            elif up:
                if delete:
                    result.delete_remote.append(path)
                else:
                    result.skipped.append(
                        (path, tr("deleted here; kept on the instance (--delete removes it there)"), False)
                    )
            continue
        if remote_changed and not local_changed:
            if theirs is not None:
                if down:
                    result.download.append(path)
            elif down:
                if delete:
                    result.delete_local.append(path)
                else:
                    result.skipped.append(
                        (path, tr("deleted on the instance; kept here (--delete removes it here)"), False)
                    )
            continue
        # changed on both sides
        if mine is None and theirs is None:
            result.forget.append(path)
        elif mine is None:
            if down:
                result.download.append(path)
            else:
                result.skipped.append(
                    (path, tr("deleted here but changed on the instance; not deleted"), False)
                )
        elif theirs is None:
            if up:
                result.upload.append(path)
            else:
                result.skipped.append(
                    (path, tr("deleted on the instance but changed here; not deleted"), False)
                )
        elif sides.local_sha(path) == sides.remote_sha(path):
            result.record[path] = Entry(
                mine.size, mine.mtime_ns, sides.local_sha(path), theirs.size, theirs.mtime
            )
        else:
            result.conflicts.append(path)
    return result


def _local_changed(path: str, base: Entry | None, mine: LocalFile | None, sides: _Sides, out: Plan) -> bool:
    if base is None:
        return mine is not None
    if mine is None:
        return True
    if mine.size == base.size and mine.mtime_ns == base.mtime_ns:
        return False
    if mine.size != base.size and base.mtime_ns != -1:
        return True
    if sides.local_sha(path) != base.sha256:
        return True
    # the same bytes (touched, or a racy entry): remember the stamp so that it is not hashed again
    out.record[path] = Entry(
        mine.size, _entry_mtime(mine.mtime_ns), base.sha256, base.remote_size, base.remote_mtime
    )
    return False


def _remote_changed(
    path: str, base: Entry | None, theirs: RemoteFile | None, sides: _Sides, out: Plan
) -> bool:
    if base is None:
        return theirs is not None
    if theirs is None:
        return True
    if theirs.size == base.remote_size and theirs.mtime == base.remote_mtime:
        return False
    if theirs.size != base.remote_size:
        return True
    if sides.remote_sha(path) == base.sha256:  # touched, same bytes: remember the new stamp
        known = out.record.get(path, base)
        out.record[path] = Entry(known.size, known.mtime_ns, base.sha256, theirs.size, theirs.mtime)
        return False
    return True


def _note_waiting(
    result: Plan,
    path: str,
    base: Entry | None,
    mine: LocalFile | None,
    theirs: RemoteFile | None,
    local_changed: bool,
    remote_changed: bool,
) -> None:
    for side, changed, present in (("local", local_changed, mine), ("remote", remote_changed, theirs)):
        if not changed:
            continue
        kind = "deleted" if present is None else "added" if base is None else "changed"
        result.waiting[side][kind].append(path)


# --------------------------------------------------------------------------- status


@dataclass
class WorkspaceStatus:
    link: Link
    transport: str
    plan: Plan

    @property
    def not_home(self) -> list[str]:
        """Instance-side changes not yet here (what a Stop would lose if the instance went away)."""
        waiting = self.plan.waiting["remote"]
        return sorted({*waiting["changed"], *waiting["added"]})

    def to_json(self) -> dict[str, Any]:
        return {
            "link": self.link.to_json(),
            "transport": self.transport,
            "local": {key: sorted(value) for key, value in self.plan.waiting["local"].items()},
            "remote": {key: sorted(value) for key, value in self.plan.waiting["remote"].items()},
            "conflicts": sorted(self.plan.conflicts),
            "not_home": self.not_home,
            "last_sync": self.link.last_sync,
        }


def status(store: LinkStore, link: Link, remote: Remote) -> WorkspaceStatus:
    folder = Path(link.local)
    rules = IgnoreRules.of_folder(folder)
    links: list[str] = []
    local = scan_local(folder, rules, links)
    remote_files = remote.scan(link.remote, rules)
    local, remote_files, manifest, _ = set_aside(
        "status", local, remote_files, store.manifest(link), links, remote
    )
    return WorkspaceStatus(link, remote.name, plan(link, "status", local, remote_files, manifest, remote))


# --------------------------------------------------------------------------- a run


@contextlib.contextmanager
def _exclusive(link: Link) -> Any:
    with _link_locks_guard:
        lock = _link_locks.setdefault(link.id, threading.Lock())
    if not lock.acquire(blocking=False):
        raise Busy(tr("A transfer of {folder} is already running", folder=link.local))
    try:
        yield
    finally:
        lock.release()


class _Run:
    def __init__(
        self,
        store: LinkStore,
        link: Link,
        remote: Remote,
        manifest: Manifest,
        result: SyncResult,
        cancel: threading.Event | None,
        sides: _Sides,
    ) -> None:
        self.sides = sides
        self.store = store
        self.link = link
        self.remote = remote
        self.manifest = manifest
        self.result = result
        self.cancel = cancel
        self.folder = Path(link.local)
        self.lock = threading.Lock()
        self.saved_at = time.monotonic()
        self.moment = time.time()
        #: the manifest differs from the file
        self.dirty = False
        #: downloads hashed on the way that wait for :meth:`confirm`
        self.unconfirmed: list[_Fetched] = []
        #: staging folders of this push (see :func:`run`), by their path relative to the link
        self.stages: dict[str, _Stage] = {}

    def save(self, *, force: bool = False) -> None:
        with self.lock:
            if not self.dirty or (not force and time.monotonic() - self.saved_at < SAVE_EVERY):
                return
            self.saved_at = time.monotonic()
            self.dirty = False
            snapshot = Manifest(dict(self.manifest.entries))
        self.store.save_manifest(self.link, snapshot)

    def remember(self, path: str, entry: Entry | None) -> None:
        with self.lock:
            self.dirty = True
            if entry is None:
                self.manifest.entries.pop(path, None)
            else:
                self.manifest.entries[path] = entry
        self.save()

    # -- one file each -----------------------------------------------------------------------

    def upload(self, path: str, sha: str, meter: Meter) -> None:
        source = self.folder / path
        info = source.stat()
        sent = self.remote.upload(
            _join(self.link.remote, path),
            source,
            info.st_size,
            sha,
            lambda n: meter.bytes(path, n),
            self.cancel,
        )
        self.record_push(
            path, Entry(info.st_size, _entry_mtime(info.st_mtime_ns), sha, sent.size, sent.mtime), sent
        )
        meter.file_done(path)

    def record_push(self, path: str, entry: Entry, sent: RemoteFile) -> None:
        """``path`` is on the instance under its real name: into the manifest and the result."""
        self.remember(path, entry)
        with self.lock:
            self.result.pushed.append(path)
            if sent.resumed:
                self.result.resumed.append({"path": path, "bytes": sent.resumed})

    def fetch(self, path: str, target: Path, theirs: RemoteFile, meter: Meter) -> tuple[Path, str, bool]:
        """Bring the instance's ``path`` into the part file of ``target``; answers the part, its
        sha256 and whether it still waits for :meth:`confirm` (see :func:`run`: a whole download
        hashed on the way is confirmed by a listing made after it; a resumed one by the
        instance's sha256 now)."""
        check_no_link(self.folder, target.relative_to(self.folder).as_posix())
        target.parent.mkdir(parents=True, exist_ok=True)
        part = _local_part(target)
        try:
            resumed, sha, written = self.remote.download(
                _join(self.link.remote, path), part, theirs.size, lambda n: meter.bytes(path, n), self.cancel
            )
        except NotFollowed:
            _drop(part)
            raise
        if resumed:
            with self.lock:
                self.result.resumed.append({"path": path, "bytes": resumed})
        if sha is None and written is not None:
            return part, written, True
        if sha is None:
            sha = self.sides.remote_sha(path)
        if (written or file_sha256(part)) != sha:
            _drop(part)
            raise TransferFailed(
                tr("{path} arrived damaged from the instance (sha256 differs); it was not kept", path=path)
            )
        return part, sha, False

    def confirm(self, fetched: list[_Fetched]) -> list[_Fetched]:
        """Of downloads hashed on the way, those whose file on the instance still has the size and
        the stamp the scan saw before the download began (one listing of each folder, made after
        the downloads): a file written meanwhile is not kept (its part is removed, it is reported)."""
        if not fetched:
            return []
        folders = {str(PurePosixPath(item.path).parent) for item in fetched}
        now = self.remote.stamps(self.link.remote, ["" if folder == "." else folder for folder in folders])
        kept = []
        for item in fetched:
            there = now.get(item.path)
            same = there is not None and (there.size, there.mtime) == (item.theirs.size, item.theirs.mtime)
            if same and _size(item.part) == item.theirs.size:
                kept.append(item)
                continue
            _drop(item.part)
            with self.lock:
                if same:  # unchanged, yet other bytes than listed: the listing gave a link's own size
                    self.result.skip(item.path, _link_on_instance(), fatal=False)
                else:
                    self.result.skip(item.path, _changed_while_read(item.path), fatal=True)
        return kept

    def download(self, path: str, theirs: RemoteFile, expected: LocalFile | None, meter: Meter) -> None:
        target = self.folder / path
        part, sha, waits = self.fetch(path, target, theirs, meter)
        item = _Fetched(path, part, sha, theirs, expected)
        if waits:
            with self.lock:
                self.unconfirmed.append(item)
        else:
            self.install(item)
        meter.file_done(path)

    def install(self, item: _Fetched) -> None:
        path, target = item.path, self.folder / item.path
        if _stat(target) != item.expected:  # the local file changed during the run: keep both
            with self.lock:
                copy = conflict_copy_name(path, self.moment, lambda name: (self.folder / name).exists())
                os.replace(item.part, self.folder / copy)
                self.result.conflicts.append({"path": path, "copy": copy})
            return
        os.replace(item.part, target)
        info = target.stat()
        self.remember(
            path,
            Entry(
                info.st_size, _entry_mtime(info.st_mtime_ns), item.sha, item.theirs.size, item.theirs.mtime
            ),
        )
        with self.lock:
            self.result.pulled.append(path)

    def settle_downloads(self) -> None:
        """Confirm the downloads that wait for it and put them in place."""
        with self.lock:
            waiting, self.unconfirmed = self.unconfirmed, []
        for item in self.confirm(waiting):
            self.install(item)

    def stage_upload(self, stage: _Stage, path: str, sha: str, meter: Meter) -> None:
        """Send ``path`` into its staging folder (it gets its real name with the folder)."""
        source = self.folder / path
        info = source.stat()
        inner = _inside(stage.rel, path)
        target = _join(stage.staging, inner)
        have = stage.already.get(inner)
        if have is not None and have.size == info.st_size and self.remote.sha256(target) == sha:
            sent = RemoteFile(have.size, have.mtime, have.size)  # staged by an interrupted push
            meter.bytes(path, have.size)
        else:
            sent = self.remote.put_new(
                target,
                source,
                info.st_size,
                sha,
                lambda n: meter.bytes(path, n),
                self.cancel,
                resume=have is not None and 0 < have.size < info.st_size,
            )
        with self.lock:
            stage.sent[path] = (Entry(info.st_size, _entry_mtime(info.st_mtime_ns), sha, sent.size, ""), sent)
        meter.file_done(path)

    def settle_stages(self, meter: Meter) -> None:
        """Check each staging folder with one listing of each of its folders, remove what is not
        this push's (left by an interrupted run, or a file that failed), then give it its real
        name with one rename. When that name was taken meanwhile, each file goes the per-file way
        (temporary name and rename) and the staging folder is removed."""
        for stage in self.stages.values():
            if not stage.sent:
                continue
            now = self.remote.staged(stage.staging)
            good: dict[str, tuple[Entry, RemoteFile]] = {}
            for path, (entry, sent) in stage.sent.items():
                there = now.get(_inside(stage.rel, path))
                if there is None or there.size != entry.size:
                    self.result.skip(
                        path,
                        tr("{path} was not whole in the staging folder on the instance", path=path),
                        fatal=True,
                    )
                else:
                    good[path] = (
                        Entry(entry.size, entry.mtime_ns, entry.sha256, there.size, there.mtime),
                        sent,
                    )
            mine = {_inside(stage.rel, path) for path in good}
            for inner in now:
                if inner not in mine:
                    self.remote.delete(_join(stage.staging, inner))
            if not good:
                continue
            check_cancel(self.cancel)
            if self.remote.move_folder(stage.staging, stage.real):
                for path, (entry, sent) in good.items():
                    self.record_push(path, entry, sent)
                continue
            for path, (entry, _sent) in good.items():
                try:
                    self.upload(path, entry.sha256, meter)
                except (Refused, TransferFailed) as exc:
                    self.result.skip(path, exc.message, fatal=True)
            self.remote.discard(stage.staging)

    def conflict(
        self, path: str, theirs: RemoteFile, up: bool, local_sha: str, taken: set[str], meter: Meter
    ) -> None:
        with self.lock:
            copy = conflict_copy_name(
                path, self.moment, lambda name: name in taken or (self.folder / name).exists()
            )
            taken.add(copy)
        part, sha, waits = self.fetch(path, self.folder / copy, theirs, meter)
        if waits and not self.confirm([_Fetched(path, part, sha, theirs, None)]):
            return  # written on the instance meanwhile: reported; the next run sees it again
        os.replace(part, self.folder / copy)
        with self.lock:
            self.result.conflicts.append({"path": path, "copy": copy})
        # the instance's version is safe beside the local file: the entry says "the instance has
        # that version", so the local file counts as changed until it is sent
        self.remember(path, Entry(theirs.size, -1, sha, theirs.size, theirs.mtime))
        if up:
            copy_file = self.folder / copy
            info = copy_file.stat()
            sent = self.remote.upload(
                _join(self.link.remote, copy),
                copy_file,
                info.st_size,
                sha,
                lambda n: meter.bytes(copy, n),
                self.cancel,
            )
            self.remember(
                copy, Entry(info.st_size, _entry_mtime(info.st_mtime_ns), sha, sent.size, sent.mtime)
            )
            self.upload(path, local_sha, meter)
        else:
            meter.file_done(path)


def _stage_of(state: _Run, path: str) -> _Stage | None:
    """The staging folder ``path`` is pushed into (made known to ``state`` on first use), or None
    when its folder is on the instance (the per-file way: temporary name and rename)."""
    rel = staging_folder(path, state.remote.folders)
    if rel is None:
        return None
    if rel not in state.stages:
        real = _join(state.link.remote, rel) if rel else state.link.remote
        staging = real + PART_SUFFIX
        folders = state.remote.folders
        # the scan's listing said whether a staging folder of a missing subfolder is there
        maybe = folders is None or rel + PART_SUFFIX in folders
        state.stages[rel] = _Stage(rel, real, staging, state.remote.staged(staging) if maybe else {})
    return state.stages[rel]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _drop(part: Path) -> None:
    with contextlib.suppress(OSError):
        part.unlink()


def _changed_while_read(path: str) -> Any:
    return tr(
        "{path} was written on the instance while it was being read; not kept here (pull again)",
        path=path,
    )


@dataclass
class _Stage:
    """A folder missing on the instance, whose files a push sends into ``<folder>.codelab-part``
    and which then gets its real name at once."""

    #: the folder relative to the link ("" for the link's own folder)
    rel: str
    #: its absolute instance path, and the staging folder's
    real: str
    staging: str
    #: what an interrupted push left in the staging folder (relative to it)
    already: dict[str, RemoteFile]
    #: the files sent into it: their manifest entry (the instance's stamp comes from the listing)
    sent: dict[str, tuple[Entry, RemoteFile]] = field(default_factory=dict)


def _inside(rel: str, path: str) -> str:
    return path[len(rel) + 1 :] if rel else path


def staging_folder(path: str, folders: set[str] | None) -> str | None:
    """The shallowest folder of ``path`` (relative to the link) that the scan did not see on the
    instance ("" when the link's folder itself is missing), or None when all of them are there."""
    if folders is None:
        return ""
    parts = PurePosixPath(path).parts[:-1]
    for depth in range(1, len(parts) + 1):
        folder = "/".join(parts[:depth])
        if folder not in folders:
            return folder
    return None


@dataclass
class _Fetched:
    """A download in its part file, with what the scan saw of the instance's file."""

    path: str
    part: Path
    sha: str
    theirs: RemoteFile
    expected: LocalFile | None


def _stat(path: Path) -> LocalFile | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return LocalFile(info.st_size, info.st_mtime_ns)


def run(
    store: LinkStore,
    link: Link,
    remote: Remote,
    direction: str,
    *,
    paths: Iterable[str] | None = None,
    delete: bool = False,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    max_push_bytes: int | None = None,
    workers: int = 4,
) -> SyncResult:
    """One push, pull or sync of ``link`` through ``remote`` (see the module's docstring)."""
    if direction not in ("push", "pull", "sync"):
        raise ValueError(direction)
    chosen = [check_relative(item) for item in paths] if paths else None
    folder = Path(link.local)
    if not folder.is_dir():
        raise LinkInvalid(tr("The linked folder {path} is not there", path=link.local))
    with _exclusive(link):
        meter = Meter(progress, 0, 0)
        meter.phase("scan")
        rules = IgnoreRules.of_folder(folder)
        links: list[str] = []
        local = scan_local(folder, rules, links)
        remote_files = remote.scan(link.remote, rules)
        manifest = store.manifest(link)
        local, remote_files, seen, aside = set_aside(direction, local, remote_files, manifest, links, remote)
        aside = [item for item in aside if _selected(item[0], chosen)]
        decided = plan(link, direction, local, remote_files, seen, remote, delete=delete, paths=chosen)
        result = SyncResult(transport=remote.name)
        for path, reason, fatal in [*aside, *decided.skipped]:
            result.skip(path, reason, fatal=fatal)
        up = direction in ("push", "sync")
        upload_bytes = sum(local[path].size for path in decided.upload)
        if up:
            upload_bytes += sum(remote_files[path].size for path in decided.conflicts)
            upload_bytes += sum(local[path].size for path in decided.conflicts)
        if max_push_bytes is not None and up and upload_bytes > max_push_bytes:
            raise PushTooLarge(
                tr(
                    "This push would send {size}, more than the cap of {cap} per push "
                    "(c.CodeLab.workspace_max_push_bytes); push part of the folder "
                    "or list files in .codelabignore",
                    size=human_bytes(upload_bytes),
                    cap=human_bytes(max_push_bytes),
                )
            )
        meter.state.files_total = len(decided.upload) + len(decided.download) + len(decided.conflicts)
        meter.state.bytes_total = upload_bytes + sum(remote_files[path].size for path in decided.download)
        meter.state.bytes_total += sum(remote_files[path].size for path in decided.conflicts)
        stop = _Either(cancel)
        sides = _Sides(folder, remote, link.remote, decided)
        state = _Run(store, link, remote, manifest, result, stop, sides)  # type: ignore[arg-type]
        for path, entry in decided.record.items():
            state.manifest.entries[path] = entry
        for path in decided.forget:
            state.manifest.entries.pop(path, None)
        state.dirty = bool(decided.record or decided.forget)
        taken: set[str] = set()
        jobs: list[tuple[str, Callable[[], None]]] = []

        def upload(path: str) -> Callable[[], None]:
            # hashed by the worker that sends it, while the other workers' files are in flight
            stage = _stage_of(state, path)
            if stage is not None:
                return lambda: state.stage_upload(stage, path, sides.local_sha(path), meter)
            return lambda: state.upload(path, sides.local_sha(path), meter)

        jobs += [(path, upload(path)) for path in decided.upload]

        def download(path: str) -> Callable[[], None]:
            return lambda: state.download(path, remote_files[path], local.get(path), meter)

        def conflict(path: str) -> Callable[[], None]:
            return lambda: state.conflict(path, remote_files[path], up, sides.local_sha(path), taken, meter)

        jobs += [(path, download(path)) for path in decided.download]
        jobs += [(path, conflict(path)) for path in decided.conflicts]
        meter.phase("transfer")
        try:
            try:
                _execute(jobs, result, workers, stop)
            except WorkspaceError:
                # what arrived whole is still put in place; staging folders wait for the next push
                with contextlib.suppress(WorkspaceError, OSError):
                    state.settle_downloads()
                raise
            state.settle_downloads()
            state.settle_stages(meter)
            for path in decided.delete_remote:
                check_cancel(stop)  # type: ignore[arg-type]
                remote.delete(_join(link.remote, path))
                state.remember(path, None)
                result.deleted.append(path)
            for path in decided.delete_local:
                check_cancel(stop)  # type: ignore[arg-type]
                with contextlib.suppress(FileNotFoundError):
                    (folder / path).unlink()
                state.remember(path, None)
                result.deleted.append(path)
        except WorkspaceError as exc:
            exc.result = result
            result.ok = False
            raise
        finally:
            state.save(force=True)
            store.record(link, result.to_json())
        meter.phase("done")
        return result


class _Either:
    """Set when the caller cancels or when the run stops itself (one transfer failed for good)."""

    def __init__(self, outer: threading.Event | None) -> None:
        self.outer = outer
        self.inner = threading.Event()

    def is_set(self) -> bool:
        return self.inner.is_set() or (self.outer is not None and self.outer.is_set())

    def set(self) -> None:
        self.inner.set()


def _execute(
    jobs: list[tuple[str, Callable[[], None]]], result: SyncResult, workers: int, cancel: _Either
) -> None:
    """Run the file jobs (``workers`` at a time). A file the instance refuses or that fails is
    skipped (the run goes on); a cancel, a refused route or anything else stops the run."""

    def one(path: str, job: Callable[[], None]) -> None:
        check_cancel(cancel)  # type: ignore[arg-type]
        try:
            job()
        except Refused as exc:
            result.skip(path, exc.message, fatal=exc.blocking)
        except TransferFailed as exc:
            result.skip(path, exc.message, fatal=True)
        except OSError as exc:
            result.skip(
                path,
                tr(
                    "{path} could not be read or written here: {error}",
                    path=path,
                    error=exc.strerror or str(exc),
                ),
                fatal=True,
            )

    if workers <= 1 or len(jobs) <= 1:
        for path, job in jobs:
            one(path, job)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="codelab-workspace") as pool:
        futures: list[Future[None]] = [pool.submit(one, path, job) for path, job in jobs]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((future for future in done if future.exception() is not None), None)
        if failed is not None:
            for future in pending:
                future.cancel()
            cancel.set()  # the running ones stop at their next chunk
            wait(pending)
            raise failed.exception()  # type: ignore[misc]
    if cancel.is_set():
        raise Cancelled(tr("The transfer was cancelled"))

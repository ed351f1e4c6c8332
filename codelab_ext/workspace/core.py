"""The pieces every part of the workspace shares: errors, results, progress, ignore rules, names.

See :mod:`codelab_ext.workspace` for the whole picture.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pathspec

from ..errors import CodeLabError
from ..i18n import Message, tr

#: where a CodeLab instance's work folder is (the instance's Jupyter root)
WORK_DIR = "/home/ma-user/work"
#: the ignore file read in a link's local folder
IGNORE_FILE = ".codelabignore"
#: the suffix of a file being received (both sides); never a real file of the user's
PART_SUFFIX = ".codelab-part"
#: the suffix of the old file moved aside while the new one takes its name (contents API only)
OLD_SUFFIX = ".codelab-old"

#: always ignored, whatever ``.codelabignore`` says (gitignore syntax)
DEFAULT_IGNORES = (
    ".ipynb_checkpoints/",
    "__pycache__/",
    ".git/",
    ".hg/",
    ".svn/",
    ".venv/",
    "venv/",
    ".virtualenv/",
    "virtualenv/",
    ".tox/",
    ".nox/",
    ".mypy_cache/",
    ".pytest_cache/",
    "*.pyc",
    ".DS_Store",
    f"*{PART_SUFFIX}",
    f"*{OLD_SUFFIX}",
)


# --------------------------------------------------------------------------- errors


def error_code(cls: type) -> str:
    """``codelab.workspace.<class name, snake case>``: LinkNotFound → codelab.workspace.link_not_found."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in cls.__name__).lstrip("_")
    return f"codelab.workspace.{snake}"


class WorkspaceError(CodeLabError):
    """A workspace operation could not be done; ``message`` says why (never a token).

    A :class:`~codelab_ext.errors.CodeLabError`: the REST routes and the CLI map it as they map every
    other one (its ``status``, its ``code`` from :func:`error_code`, the message in the reader's
    language), so a user's mistake is a 4xx and a readable line, never a 500 or a traceback.
    """

    #: the HTTP status a REST route answers
    status = 500

    def __init__(
        self, message: Message | str, *, result: SyncResult | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, code=code or error_code(type(self)))
        #: what was done before the failure (a transfer that stopped half way)
        self.result = result


class LinkNotFound(WorkspaceError):
    status = 404


class LinkInvalid(WorkspaceError):
    status = 400


class Busy(WorkspaceError):
    status = 409


class PushTooLarge(WorkspaceError):
    status = 413


class RouteRefused(WorkspaceError):
    """Neither the instance's Jupyter contents API nor its SSH endpoint could be used."""

    status = 502


class TransferFailed(WorkspaceError):
    status = 502


class Cancelled(WorkspaceError):
    status = 409


class Refused(WorkspaceError):
    """The remote side refused one file (e.g. a hidden name through the contents API): that file is
    skipped with this message, the run goes on (``blocking``: the run is not ``ok``)."""

    status = 400
    blocking = True


class NotFollowed(Refused):
    """A symbolic link found on the instance during a transfer (the contents API follows links
    itself: a link that leads out of the work folder is refused by the server, one inside is listed
    with the link's own size): said in ``skipped`` like every link, not blocking."""

    blocking = False


# --------------------------------------------------------------------------- results


@dataclass
class SyncResult:
    """What a push, pull or sync did (the ``--json`` shape of the command line)."""

    pushed: list[str] = field(default_factory=list)
    pulled: list[str] = field(default_factory=list)
    conflicts: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    #: transfers that went on from a part left by an interrupted run: {path, bytes}
    resumed: list[dict[str, Any]] = field(default_factory=list)
    #: False when a planned transfer did not finish verified (a failure, a cap, a refusal)
    ok: bool = True
    transport: str | None = None

    def skip(self, path: str, reason: Message | str, *, fatal: bool) -> None:
        self.skipped.append({"path": path, "reason": reason, "blocking": fatal})
        if fatal:
            self.ok = False

    def to_json(self) -> dict[str, Any]:
        return {
            "pushed": sorted(self.pushed),
            "pulled": sorted(self.pulled),
            "conflicts": sorted(self.conflicts, key=lambda item: item["path"]),
            "skipped": sorted(self.skipped, key=lambda item: item["path"]),
            "deleted": sorted(self.deleted),
            "resumed": sorted(self.resumed, key=lambda item: item["path"]),
            "ok": self.ok,
            "transport": self.transport,
        }


@dataclass
class Progress:
    """One look at a running transfer, given to the ``progress`` callback."""

    phase: str  # "scan" | "transfer" | "verify" | "done"
    path: str | None = None
    files_done: int = 0
    files_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "path": self.path,
            "files_done": self.files_done,
            "files_total": self.files_total,
            "bytes_done": self.bytes_done,
            "bytes_total": self.bytes_total,
        }


ProgressCallback = Callable[[Progress], None]


class Meter:
    """Counts bytes and files of a run and calls the progress callback at most ~10 times a second."""

    def __init__(self, callback: ProgressCallback | None, files_total: int, bytes_total: int) -> None:
        self.callback = callback
        self.state = Progress("transfer", None, 0, files_total, 0, bytes_total)
        self._last = 0.0

    def bytes(self, path: str, count: int) -> None:
        self.state.bytes_done += count
        self.state.path = path
        self._emit(False)

    def file_done(self, path: str) -> None:
        self.state.files_done += 1
        self.state.path = path
        self._emit(True)

    def phase(self, phase: str) -> None:
        self.state.phase = phase
        self._emit(True)

    def _emit(self, force: bool) -> None:
        if self.callback is None:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        self.callback(Progress(**self.state.__dict__))


# --------------------------------------------------------------------------- ignore rules


class IgnoreRules:
    """``.codelabignore`` of a link's local folder (gitignore syntax) plus :data:`DEFAULT_IGNORES`.

    Paths are POSIX paths relative to the link's folder; a folder is asked about with a trailing ``/``.
    """

    def __init__(self, lines: Iterable[str] = ()) -> None:
        self.spec = pathspec.GitIgnoreSpec.from_lines([*DEFAULT_IGNORES, *lines])

    @classmethod
    def of_folder(cls, folder: Path) -> IgnoreRules:
        try:
            text = (folder / IGNORE_FILE).read_text(encoding="utf-8", errors="replace")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return cls()
        return cls(text.splitlines())

    def ignored(self, path: str, *, is_dir: bool = False) -> bool:
        return self.spec.match_file(path + "/" if is_dir else path)

    def ignored_dir(self, path: str, names: Iterable[str] = ()) -> bool:
        """A folder to leave out entirely (also: a virtual environment, which has ``pyvenv.cfg``)."""
        return self.ignored(path, is_dir=True) or "pyvenv.cfg" in names


# --------------------------------------------------------------------------- names


def conflict_copy_name(path: str, moment: float, exists: Callable[[str], bool]) -> str:
    """``<stem> (CodeLab <YYYY-MM-DD HHMMSS>)<suffix>`` beside ``path`` (local time), one that
    ``exists`` says is free (`` 2``, `` 3``... added when the same second is taken)."""
    pure = PurePosixPath(path)
    stamp = time.strftime("%Y-%m-%d %H%M%S", time.localtime(moment))
    suffix = pure.suffix if pure.stem else ""
    stem = pure.stem if pure.stem else pure.name
    for n in range(1, 1000):
        extra = "" if n == 1 else f" {n}"
        name = f"{stem} (CodeLab {stamp}{extra}){suffix}"
        candidate = str(pure.with_name(name))
        if not exists(candidate):
            return candidate
    raise WorkspaceError(tr("No free name for the instance's copy of {path}", path=path))


def check_relative(path: str) -> str:
    """A clean relative POSIX path inside a link (no ``..``, not absolute, not empty)."""
    text = str(path).replace(os.sep, "/").strip()
    pure = PurePosixPath(text)
    if not text or pure.is_absolute() or any(part in ("..", "") for part in pure.parts) or "\x00" in text:
        raise LinkInvalid(tr("{path} is not a path inside the linked folder", path=path))
    clean = str(pure)
    return "" if clean == "." else clean


def is_hidden(path: str) -> bool:
    return any(part.startswith(".") for part in PurePosixPath(path).parts)


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"  # pragma: no cover

"""Installing an SSH config block into ``~/.ssh``: a managed block and one ``Include`` line.

The block itself is rendered (and every value in it validated) by :mod:`codelab_ext.ssh`; this module
only puts it where OpenSSH reads it, and takes it out again.

Policies:

* **Include placement.** ``~/.ssh/config`` gets one line, ``Include config.d/codelab``, as its very first line
  (after a UTF-8 byte order mark, if any): an ``Include`` below a ``Host``/``Match`` line would only apply to
  that block. OpenSSH resolves a relative ``Include`` of a user configuration against ``~/.ssh`` of the
  *passwd* home directory; when the home being written is a different directory (``$HOME`` pointing
  elsewhere, a test), the absolute path is written instead, so the line always names the file written.
* **Symlinks.** A symlinked ``~/.ssh/config`` (or ``config.d/codelab``) is followed: its target is rewritten
  atomically in its own directory and the link is kept (a dotfiles checkout). A dangling link is refused with
  a clear message, and so is a link whose target is outside the home or owned by someone else.
* **Ownership.** Nothing the home's user does not own is written or has its mode changed: ``~/.ssh``,
  ``~/.ssh/config.d`` and the files in them must belong to that user (the owner of the home when running as
  root, else the current user) and resolve inside the home; otherwise the install is refused with a message.
* **Managed block.** ``~/.ssh/config.d/codelab`` holds one block between
  ``# >>> codelab_ext managed block >>>`` and ``# <<< codelab_ext managed block <<<``; a new install replaces
  that block and keeps every other line of the file. One alias per region means one block: installing the
  config of another region replaces the previous one.

Files are written atomically (temporary file in the same directory, ``fsync``, ``os.replace``, directory
``fsync``) with mode 0600, or the existing file's mode when it is stricter; directories are created 0700.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import CodeLabError, ValidationError
from .i18n import tr
from .ssh import _config_argument, _describe, _validate_path

try:  # POSIX only: the install locks and consults passwd where it can.
    import fcntl
    import pwd
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    pwd = None  # type: ignore[assignment]

__all__ = [
    "MANAGED_BEGIN",
    "MANAGED_END",
    "MANAGED_RELPATH",
    "install_ssh_config",
    "managed_config_path",
    "uninstall_ssh_config",
]

MANAGED_BEGIN = "# >>> codelab_ext managed block >>>"
MANAGED_END = "# <<< codelab_ext managed block <<<"

#: Where the managed block lives, relative to ``~/.ssh``.
MANAGED_RELPATH = "config.d/codelab"


def _home(home: str | os.PathLike[str] | None) -> Path:
    path = Path(os.path.expanduser("~") if home is None else os.fspath(home)).expanduser()
    if not path.is_absolute():
        raise ValidationError(
            tr("home directory {path} is not an absolute path", path=_describe(str(path))), field="home"
        )
    if not path.is_dir():
        raise CodeLabError(tr("home directory {path} does not exist", path=path), status=500)
    return path


def managed_config_path(home: str | os.PathLike[str] | None = None) -> Path:
    """``<home>/.ssh/config.d/codelab``: the file holding the managed block."""
    return _home(home) / ".ssh" / MANAGED_RELPATH


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _passwd_home() -> Path | None:
    """The home directory OpenSSH uses for ``~`` (the passwd entry, not ``$HOME``), None if unknown."""
    if pwd is None:  # pragma: no cover - Windows
        return None
    try:
        return Path(pwd.getpwuid(os.getuid()).pw_dir)
    except (KeyError, OSError):  # pragma: no cover - no passwd entry
        return None


def _include_arguments(home: Path) -> tuple[str, set[str]]:
    """(the argument our ``Include`` line uses, every spelling that names the same file)."""
    absolute = str(home / ".ssh" / MANAGED_RELPATH)
    spellings = {MANAGED_RELPATH, "~/.ssh/" + MANAGED_RELPATH, absolute}
    passwd_home = _passwd_home()
    if passwd_home is not None and os.path.realpath(passwd_home) == os.path.realpath(home):
        return MANAGED_RELPATH, spellings
    _validate_path(absolute, field="home")
    if any(char in absolute for char in "*?[]\\"):
        raise ValidationError(
            tr("home directory {home} holds glob characters OpenSSH's Include would expand", home=home),
            field="home",
        )
    return _config_argument(absolute), spellings


def _owner_of(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_uid, info.st_gid


def _ensure_dir(path: Path) -> None:
    """Create ``path`` with mode 0700 (owned like its parent when running as root) unless it exists."""
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:  # there already, possibly created a moment ago by a concurrent install
        if path.is_dir():
            return
        raise CodeLabError(tr("{path} exists and is not a directory", path=path), status=500) from None
    os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
    if _is_root():
        os.chown(path, *_owner_of(path.parent))


def _user_of(home: Path) -> int:
    """The uid whose files an install may write: the home's owner as root, else the current user."""
    if _is_root():
        return home.stat().st_uid
    return os.geteuid() if hasattr(os, "geteuid") else -1


def _inside(path: Path, home: Path) -> bool:
    real_home = Path(os.path.realpath(home))
    return path == real_home or real_home in path.parents


def _refuse(text: str) -> CodeLabError:
    return CodeLabError(
        tr("{reason}; nothing was written", reason=text), status=409, code="codelab.ssh_config_unsafe"
    )


def _check_owned(path: Path, home: Path, what: str = "file") -> None:
    """Refuse a ``path`` that resolves outside ``home`` or belongs to another user than the home's."""
    if pwd is None:  # pragma: no cover - Windows: no owners to compare
        return
    real = Path(os.path.realpath(path))
    if not _inside(real, home):
        raise _refuse(f"{path} leads to {real}, outside the home {home}: refusing to write there")
    try:
        info = real.stat()
    except FileNotFoundError:
        return
    uid = _user_of(home)
    if uid >= 0 and info.st_uid != uid:
        raise _refuse(
            f"the {what} {real} belongs to another user (uid {info.st_uid}, not {uid}): refusing to "
            "write it or change its mode (fix its owner, or remove it)"
        )


def _write_target(path: Path, home: Path) -> Path:
    """The file to write for ``path``: itself, or the target of a symlink.

    Refused: a dangling link, a link whose target is outside ``home``, and a file (or link target) that
    the home's user does not own (:func:`_check_owned`).
    """
    if not path.is_symlink():
        _check_owned(path, home)
        return path
    target = Path(os.path.realpath(path))
    if not target.is_file():
        raise CodeLabError(
            tr(
                "{path} is a symlink to {target}, which is not an existing file; refusing to "
                "write through it (fix the link or remove it)",
                path=path,
                target=target,
            ),
            status=409,
        )
    _check_owned(path, home)
    return target


def _atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temp file in the same directory, fsync, ``os.replace``, dir fsync.

    Mode 0600, or the existing file's permissions when they are stricter; an existing file's owner is kept
    (and a new file is owned like its directory) when running as root.
    """
    mode = 0o600
    owner: tuple[int, int] | None = None
    try:
        info = path.stat()
    except FileNotFoundError:
        if _is_root():
            owner = _owner_of(path.parent)
    else:
        existing = stat.S_IMODE(info.st_mode) & 0o600
        mode = existing if existing & 0o400 else 0o600
        owner = (info.st_uid, info.st_gid)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), mode)
            if owner is not None and _is_root():
                os.fchown(handle.fileno(), *owner)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    if fcntl is None:  # pragma: no cover - Windows: no directory fsync
        return
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise concurrent installs/uninstalls of the same home (flock on the directory itself)."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _split_lines(text: str) -> list[str]:
    return text.splitlines(keepends=True) if text else []


def _find_block(lines: list[str], path: Path) -> tuple[int, int] | None:
    """Indexes of the begin and end marker lines of the managed block, None without one."""
    begins = [i for i, line in enumerate(lines) if line.rstrip() == MANAGED_BEGIN]
    ends = [i for i, line in enumerate(lines) if line.rstrip() == MANAGED_END]
    if not begins and not ends:
        return None
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise CodeLabError(
            tr(
                "{path} holds a damaged codelab_ext managed block ({count} begin and {count2} "
                "end markers); remove it by hand and try again",
                path=path,
                count=len(begins),
                count2=len(ends),
            ),
            status=409,
        )
    return begins[0], ends[0]


def _check_block(block: str) -> str:
    if not isinstance(block, str) or not block.strip():
        raise ValidationError(tr("the SSH config block to install is empty"), field="block")
    if "\0" in block or "\r" in block:
        raise ValidationError(
            tr("the SSH config block holds NUL or carriage return characters"), field="block"
        )
    if any(line.rstrip() in (MANAGED_BEGIN, MANAGED_END) for line in block.splitlines()):
        raise ValidationError(
            tr("the SSH config block must not contain the managed block markers"), field="block"
        )
    return block if block.endswith("\n") else block + "\n"


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        return ""


def _config_lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


_DIRECTIVE_RE = re.compile(rb"[ \t]*([A-Za-z]+)(?:[ \t]*=[ \t]*|[ \t]+)(.*)")


def _include_present(data: bytes, spellings: set[str]) -> bool:
    """Whether ``data`` already includes our file from its top level (before any ``Host``/``Match``)."""
    wanted = {spelling.encode("utf-8", "surrogateescape") for spelling in spellings}
    for raw in _config_lines(data):
        match = _DIRECTIVE_RE.fullmatch(raw.removeprefix(b"\xef\xbb\xbf").rstrip())
        if match is None:
            continue
        keyword = match.group(1).lower()
        if keyword in (b"host", b"match"):
            return False
        if keyword == b"include" and {arg.strip(b'"') for arg in match.group(2).split()} & wanted:
            return True
    return False


def _our_include_lines(home: Path) -> set[bytes]:
    """Every ``Include`` line this module may have written for ``home`` (relative and absolute forms)."""
    absolute = str(home / ".ssh" / MANAGED_RELPATH)
    forms = {MANAGED_RELPATH, absolute, _config_argument(absolute)}
    return {f"Include {form}".encode("utf-8", "surrogateescape") for form in forms}


def install_ssh_config(block: str, *, home: str | os.PathLike[str] | None = None) -> Path:
    """Install ``block`` (from :func:`render_ssh_config`) for ``ssh <alias>``; return the managed file's path.

    Writes the block between the managed markers into ``<home>/.ssh/config.d/codelab`` (replacing the
    previous managed block, keeping every other line) and adds one ``Include`` line at the top of
    ``<home>/.ssh/config`` unless the file already includes it at top level. Every other byte of
    ``~/.ssh/config`` is kept. ``home`` defaults to ``~`` (``$HOME``). Idempotent: a second run with the same
    block changes nothing.
    """
    text = _check_block(block)
    home_path = _home(home)
    include_argument, spellings = _include_arguments(home_path)
    ssh_dir = home_path / ".ssh"
    _ensure_dir(ssh_dir)
    _check_owned(ssh_dir, home_path, "folder")
    managed = ssh_dir / MANAGED_RELPATH
    _ensure_dir(managed.parent)
    _check_owned(managed.parent, home_path, "folder")
    with _locked(managed.parent):
        target = _write_target(managed, home_path)
        config = _write_target(ssh_dir / "config", home_path)  # refused before anything is written
        current = _read_text(target)
        lines = _split_lines(current)
        wrapped = [f"{MANAGED_BEGIN}\n", *_split_lines(text), f"{MANAGED_END}\n"]
        found = _find_block(lines, target)
        if found is None:
            if lines and not lines[-1].endswith(("\n", "\r")):
                lines[-1] += "\n"
            new_lines = [*lines, *wrapped]
        else:
            begin, end = found
            new_lines = [*lines[:begin], *wrapped, *lines[end + 1 :]]
        updated = "".join(new_lines)
        if updated != current:
            _atomic_write(target, updated.encode("utf-8", "surrogateescape"))

        data = config.read_bytes() if config.exists() else b""
        if not _include_present(data, spellings):
            bom = b"\xef\xbb\xbf" if data.startswith(b"\xef\xbb\xbf") else b""
            rest = data[len(bom) :]
            first = _config_lines(rest)[:1]
            eol = b"\r\n" if first and first[0].endswith(b"\r\n") else b"\n"
            line = f"Include {include_argument}".encode("utf-8", "surrogateescape") + eol
            _atomic_write(config, bom + line + rest)
    return managed


def uninstall_ssh_config(home: str | os.PathLike[str] | None = None) -> bool:
    """Remove the managed block (and the file, when nothing else is left in it) and our ``Include`` line.

    Returns True when something was removed. Lines of ``~/.ssh/config`` other than the ``Include`` line that
    :func:`install_ssh_config` writes are kept byte for byte.
    """
    home_path = _home(home)
    ssh_dir = home_path / ".ssh"
    managed = ssh_dir / MANAGED_RELPATH
    if not managed.parent.is_dir():
        return _remove_include(home_path)
    _check_owned(ssh_dir, home_path, "folder")
    _check_owned(managed.parent, home_path, "folder")
    with _locked(managed.parent):
        return _remove_block(managed, home_path) | _remove_include(home_path)


def _remove_block(managed: Path, home: Path) -> bool:
    """Take the managed block out of ``managed``; delete the file when nothing else is left in it."""
    if not (managed.exists() or managed.is_symlink()):
        return False
    target = _write_target(managed, home)
    lines = _split_lines(_read_text(target))
    found = _find_block(lines, target)
    if found is None:
        return False
    begin, end = found
    remaining = "".join([*lines[:begin], *lines[end + 1 :]])
    if remaining.strip():
        _atomic_write(target, remaining.encode("utf-8", "surrogateescape"))
    else:
        target.unlink()
    return True


def _remove_include(home: Path) -> bool:
    """Drop the ``Include`` line(s) :func:`install_ssh_config` writes from ``~/.ssh/config``."""
    config_path = home / ".ssh" / "config"
    if not (config_path.exists() or config_path.is_symlink()):
        return False
    config = _write_target(config_path, home)
    data = config.read_bytes()
    bom = b"\xef\xbb\xbf" if data.startswith(b"\xef\xbb\xbf") else b""
    lines = _config_lines(data[len(bom) :])
    ours = _our_include_lines(home)
    kept = [line for line in lines if line.rstrip(b"\r\n") not in ours]
    if len(kept) == len(lines):
        return False
    _atomic_write(config, bom + b"".join(kept))
    return True

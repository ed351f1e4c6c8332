"""SFTP over the instance's SSH endpoint as a :class:`~.remote.Remote` (when the contents API is refused).

The same promises as the contents API route (:mod:`.remote`): a file is written to
``<name>.codelab-part``, its sha256 checked on the instance, then renamed over the real name with the
OpenSSH ``posix-rename`` extension (atomic: the real name always holds a whole file); a part left by
an interrupted run is resumed when it is a prefix of the file. Listing and hashing run on the
instance over the same connection (``find -printf`` for sizes and nanosecond stamps, ``sha256sum``);
a server that runs no commands is answered over SFTP alone (listing by ``readdir``, hashing by
reading the file back).

The connection is the instance's one SSH connection of :mod:`codelab_ext.ssh_connection` (shared
with the kernels' port forward; host keys and identity as that module says). Every call is bounded:
connecting, each SFTP request (the channel's timeout) and each transfer (``timeout`` plus its bytes
at ``min_rate``, checked between blocks).
"""

from __future__ import annotations

import contextlib
import hashlib
import shlex
import stat
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from ..i18n import tr
from ..ssh_connection import POOL, SshUnavailable
from .core import PART_SUFFIX, WORK_DIR, IgnoreRules, RouteRefused, TransferFailed
from .remote import OnBytes, RemoteFile, check_cancel, prefix_sha256

__all__ = ["SftpRemote"]

BLOCK = 256 * 1024
#: largest command output read (a listing of 100,000 files is about 10 MiB)
MAX_OUTPUT = 64 * 1024 * 1024


class SftpRemote:
    name = "sftp"
    #: SFTP takes every name; symbolic links found by the last scan (never followed)
    sees_hidden = True

    def __init__(
        self,
        instance: Mapping[str, Any],
        *,
        identity_file: str | None = None,
        known_hosts: str | None = None,
        timeout: float = 30.0,
        min_rate: float = 256 * 1024,
        max_file_bytes: int = 2 * 1024**3,
    ) -> None:
        self.timeout = timeout
        self.min_rate = max(1024.0, float(min_rate))
        self.max_file_bytes = int(max_file_bytes)
        self._lock = threading.Lock()
        # the instance's one SSH connection (shared with the kernels' forward): ssh_connection.POOL
        self.links: set[str] = set()
        #: the folders the last scan saw (relative to its folder, "" for itself); None: it is not there
        self.folders: set[str] | None = None
        try:
            self._lease = POOL.acquire(
                instance, identity_file=identity_file, known_hosts=known_hosts, timeout=timeout
            )
        except SshUnavailable as exc:
            raise RouteRefused(exc.message) from None
        try:
            self.client = self._lease.connection.client()
            self.sftp = self.client.open_sftp()
        except SshUnavailable as exc:
            self._lease.release()
            raise RouteRefused(exc.message) from None
        except Exception as exc:
            self._lease.release()
            raise RouteRefused(
                tr("The instance's SSH endpoint cannot be used: {error}", error=str(exc)[:300])
            ) from None
        channel = self.sftp.get_channel()
        if channel is not None:
            channel.settimeout(timeout)
        try:
            self.sftp.stat(WORK_DIR)
            self.work_root = WORK_DIR
        except OSError:  # a login that starts in the work folder (the emulator's sshd)
            self.work_root = self.sftp.normalize(".")
        self._exec_ok: bool | None = None

    # -- plumbing --------------------------------------------------------------------------------

    def _real(self, path: str) -> str:
        pure = PurePosixPath(path)
        work = PurePosixPath(WORK_DIR)
        if pure == work:
            return self.work_root
        if work not in pure.parents:
            raise TransferFailed(tr("{path} is outside the instance's work folder", path=path))
        return str(PurePosixPath(self.work_root) / pure.relative_to(work))

    def _exec(self, command: str) -> bytes | None:
        """Run ``command`` on the instance; its output, or None when the server runs no commands."""
        if self._exec_ok is False:
            return None
        try:
            stdin, stdout, _stderr = self.client.exec_command(command, timeout=self.timeout)
            stdin.close()
            parts: list[bytes] = []
            size = 0
            ends = time.monotonic() + self.timeout * 4
            while True:
                block = stdout.read(BLOCK)
                if not block:
                    break
                size += len(block)
                if size > MAX_OUTPUT or time.monotonic() > ends:
                    raise TransferFailed(tr("The instance's answer over SSH was too long or too slow"))
                parts.append(block)
            code = stdout.channel.recv_exit_status()
        except TransferFailed:
            raise
        except Exception:
            self._exec_ok = False
            return None
        if code != 0:
            return None
        self._exec_ok = True
        return b"".join(parts)

    def _stamp(self, real: str) -> RemoteFile:
        out = self._exec(f"find {shlex.quote(real)} -maxdepth 0 -printf '%s %T@\\n'")
        if out:
            size, mtime = out.decode("utf-8", "replace").split()[:2]
            return RemoteFile(int(size), mtime)
        attrs = self.sftp.stat(real)
        return RemoteFile(int(attrs.st_size or 0), str(attrs.st_mtime))

    def _deadline(self, size: int) -> float:
        return time.monotonic() + self.timeout + size / self.min_rate

    # -- Remote ----------------------------------------------------------------------------------

    def scan(self, folder: str, rules: IgnoreRules) -> dict[str, RemoteFile]:
        self.links = set()
        walked = self._walk(folder, rules)
        if walked is None:
            self.folders = None
            return {}
        found, self.folders = walked
        return found

    def _walk(self, folder: str, rules: IgnoreRules) -> tuple[dict[str, RemoteFile], set[str]] | None:
        real = self._real(folder)
        try:
            if not stat.S_ISDIR(self.sftp.stat(real).st_mode or 0):
                raise TransferFailed(tr("{path} on the instance is a file, not a folder", path=folder))
        except FileNotFoundError:
            return None
        found: dict[str, RemoteFile] = {}
        folders: set[str] = {""}
        out = self._exec(f"find {shlex.quote(real)} -mindepth 1 -printf '%y %s %T@ %P\\0'")
        if out is not None:
            pruned: list[str] = []
            for record in out.split(b"\0"):
                if not record:
                    continue
                kind, size, mtime, name = record.decode("utf-8", "surrogateescape").split(" ", 3)
                if any(name.startswith(prefix) for prefix in pruned):
                    continue
                if kind == "d":
                    folders.add(name)
                    if rules.ignored_dir(name):
                        pruned.append(name + "/")
                elif kind == "f" and not rules.ignored(name):
                    found[name] = RemoteFile(int(size), mtime)
                elif kind == "l" and not rules.ignored(name):
                    self.links.add(name)
            return found, folders
        pending = [""]
        while pending:
            relative = pending.pop()
            for attrs in self.sftp.listdir_attr(str(PurePosixPath(real) / relative) if relative else real):
                name = f"{relative}/{attrs.filename}" if relative else attrs.filename
                mode = attrs.st_mode or 0
                if stat.S_ISDIR(mode):
                    folders.add(name)
                    if not rules.ignored_dir(name):
                        pending.append(name)
                elif stat.S_ISREG(mode) and not rules.ignored(name):
                    found[name] = RemoteFile(int(attrs.st_size or 0), str(attrs.st_mtime))
                elif stat.S_ISLNK(mode) and not rules.ignored(name):
                    self.links.add(name)
        return found, folders

    def staged(self, folder: str) -> dict[str, RemoteFile]:
        """Every file in the staging folder ``folder`` ({} when it is not there)."""
        links = self.links
        try:
            walked = self._walk(folder, IgnoreRules())
        finally:
            self.links = links
        return {} if walked is None else walked[0]

    def stamps(self, folder: str, relatives: Iterable[str]) -> dict[str, RemoteFile]:
        """The files directly in each of the folders ``relatives`` of ``folder`` (stamps as :meth:`scan`
        gives them)."""
        chosen = sorted(set(relatives))
        base = PurePosixPath(self._real(folder))
        reals = [str(base / relative) if relative else str(base) for relative in chosen]
        found: dict[str, RemoteFile] = {}
        quoted = " ".join(shlex.quote(real) for real in reals)
        out = self._exec(
            f"find {quoted} -mindepth 1 -maxdepth 1 -type f -printf '%s %T@ %p\\0' 2>/dev/null; true"
        )
        if out is not None:
            for record in out.split(b"\0"):
                if record:
                    size, mtime, name = record.decode("utf-8", "surrogateescape").split(" ", 2)
                    found[str(PurePosixPath(name).relative_to(base))] = RemoteFile(int(size), mtime)
            return found
        for relative, real in zip(chosen, reals, strict=True):
            try:
                listing = self.sftp.listdir_attr(real)
            except FileNotFoundError:
                continue
            for attrs in listing:
                if stat.S_ISREG(attrs.st_mode or 0):
                    name = f"{relative}/{attrs.filename}" if relative else attrs.filename
                    found[name] = RemoteFile(int(attrs.st_size or 0), str(attrs.st_mtime))
        return found

    def exists(self, path: str) -> bool:
        try:
            self.sftp.stat(self._real(path))
        except FileNotFoundError:
            return False
        return True

    def _sha_real(self, real: str) -> str:
        out = self._exec(f"sha256sum -- {shlex.quote(real)}")
        if out:
            return out.split()[0].decode("ascii").lower()
        digest = hashlib.sha256()
        with self.sftp.open(real, "rb") as handle:
            handle.prefetch()
            while True:
                block = handle.read(BLOCK)
                if not block:
                    break
                digest.update(block)
        return digest.hexdigest()

    def sha256(self, path: str) -> str:
        try:
            return self._sha_real(self._real(path))
        except FileNotFoundError:
            raise TransferFailed(tr("{path} is not on the instance", path=path)) from None

    def _mkdirs(self, real: str) -> None:
        missing = []
        item = PurePosixPath(real)
        while str(item) not in ("/", ".", ""):
            try:
                attrs = self.sftp.stat(str(item))
            except FileNotFoundError:
                missing.append(item)
                item = item.parent
                continue
            if not stat.S_ISDIR(attrs.st_mode or 0):
                raise TransferFailed(tr("{path} on the instance is a file, not a folder", path=str(item)))
            break
        for folder in reversed(missing):
            with contextlib.suppress(OSError):
                self.sftp.mkdir(str(folder))

    def upload(
        self,
        path: str,
        source: Path,
        size: int,
        sha256: str,
        on_bytes: OnBytes,
        cancel: threading.Event | None,
    ) -> RemoteFile:
        real = self._real(path)
        sent = self.put_new(path + PART_SUFFIX, source, size, sha256, on_bytes, cancel, resume=True)
        try:
            self.sftp.posix_rename(real + PART_SUFFIX, real)
        except OSError as exc:
            raise TransferFailed(
                tr("Renaming {path} failed on the instance: {error}", path=path, error=str(exc)[:300])
            ) from None
        stamp = self._stamp(real)
        return RemoteFile(stamp.size, stamp.mtime, sent.resumed)

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
        """Write ``source`` straight to ``path`` (a part name, or a name inside a staging folder),
        checked by its sha256 on the instance; with ``resume``, a file there that is a prefix of
        ``source`` goes on."""
        real = self._real(path)
        self._mkdirs(str(PurePosixPath(real).parent))
        start = 0
        if resume:
            try:
                have = int(self.sftp.stat(real).st_size or 0)
                if 0 < have < size and self._sha_real(real) == prefix_sha256(source, have):
                    start = have
            except FileNotFoundError:
                pass
        ends = self._deadline(size - start)
        try:
            with open(source, "rb") as local, self.sftp.open(real, "ab" if start else "wb") as remote:
                remote.set_pipelined(True)
                local.seek(start)
                if start:
                    on_bytes(start)
                while True:
                    check_cancel(cancel)
                    if time.monotonic() > ends:
                        raise TransferFailed(tr("Sending {path} took longer than its deadline", path=path))
                    block = local.read(BLOCK)
                    if not block:
                        break
                    remote.write(block)
                    on_bytes(len(block))
        except OSError as exc:
            raise TransferFailed(
                tr("Sending {path} failed: {error}", path=path, error=str(exc)[:300])
            ) from None
        if self._sha_real(real) != sha256:
            with contextlib.suppress(OSError):
                self.sftp.remove(real)
            raise TransferFailed(
                tr("{path} arrived damaged on the instance (sha256 differs); it was not kept", path=path)
            )
        stamp = self._stamp(real)
        return RemoteFile(stamp.size, stamp.mtime, start)

    def move_folder(self, old: str, new: str) -> bool:
        """Give the staging folder ``old`` its real name ``new``; False when ``new`` exists meanwhile
        (nothing moved)."""
        real = self._real(new)
        self._mkdirs(str(PurePosixPath(real).parent))
        if self.exists(new):
            return False
        try:
            self.sftp.rename(self._real(old), real)  # plain SFTP rename: never onto an existing name
        except OSError as exc:
            if self.exists(new):
                return False
            raise TransferFailed(
                tr("Renaming {path} failed on the instance: {error}", path=new, error=str(exc)[:300])
            ) from None
        return True

    def discard(self, folder: str) -> None:
        """Remove a staging folder and what is in it (best effort: what cannot go stays)."""
        real = self._real(folder)
        walked = self.staged(folder)
        for name in walked:
            with contextlib.suppress(OSError):
                self.sftp.remove(str(PurePosixPath(real) / name))
        folders = {str(PurePosixPath(name).parent) for name in walked} - {"."}
        for name in [*sorted(folders, key=lambda item: (-item.count("/"), -len(item))), "."]:
            with contextlib.suppress(OSError):
                self.sftp.rmdir(real if name == "." else str(PurePosixPath(real) / name))

    def download(
        self, path: str, part: Path, size: int, on_bytes: OnBytes, cancel: threading.Event | None
    ) -> tuple[int, str | None, str | None]:
        real = self._real(path)
        have = part.stat().st_size if part.exists() else 0
        if have > size:
            part.unlink()
            have = 0
        if have:
            on_bytes(have)
        ends = self._deadline(size - have)
        got = have
        digest = None if have else hashlib.sha256()
        try:
            with self.sftp.open(real, "rb") as remote, open(part, "ab") as local:
                remote.seek(have)
                remote.prefetch(max(0, size - have))
                while True:
                    check_cancel(cancel)
                    if time.monotonic() > ends:
                        raise TransferFailed(tr("Receiving {path} took longer than its deadline", path=path))
                    block = remote.read(BLOCK)
                    if not block:
                        break
                    got += len(block)
                    if got > self.max_file_bytes:
                        raise TransferFailed(
                            tr(
                                "{path} is larger than the download cap ({cap} bytes)",
                                path=path,
                                cap=self.max_file_bytes,
                            )
                        )
                    local.write(block)
                    if digest is not None:
                        digest.update(block)
                    on_bytes(len(block))
        except FileNotFoundError:
            raise TransferFailed(tr("{path} is not on the instance", path=path)) from None
        except OSError as exc:
            raise TransferFailed(
                tr("Receiving {path} failed: {error}", path=path, error=str(exc)[:300])
            ) from None
        return have, None, None if digest is None else digest.hexdigest()

    def delete(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.sftp.remove(self._real(path))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.sftp.close()
        self._lease.release()

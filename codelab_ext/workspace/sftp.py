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
from collections.abc import Mapping
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
        real = self._real(folder)
        try:
            if not stat.S_ISDIR(self.sftp.stat(real).st_mode or 0):
                raise TransferFailed(tr("{path} on the instance is a file, not a folder", path=folder))
        except FileNotFoundError:
            return {}
        found: dict[str, RemoteFile] = {}
        self.links = set()
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
                    if rules.ignored_dir(name):
                        pruned.append(name + "/")
                elif kind == "f" and not rules.ignored(name):
                    found[name] = RemoteFile(int(size), mtime)
                elif kind == "l" and not rules.ignored(name):
                    self.links.add(name)
            return found
        pending = [""]
        while pending:
            relative = pending.pop()
            for attrs in self.sftp.listdir_attr(str(PurePosixPath(real) / relative) if relative else real):
                name = f"{relative}/{attrs.filename}" if relative else attrs.filename
                mode = attrs.st_mode or 0
                if stat.S_ISDIR(mode):
                    if not rules.ignored_dir(name):
                        pending.append(name)
                elif stat.S_ISREG(mode) and not rules.ignored(name):
                    found[name] = RemoteFile(int(attrs.st_size or 0), str(attrs.st_mtime))
                elif stat.S_ISLNK(mode) and not rules.ignored(name):
                    self.links.add(name)
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
        part = real + PART_SUFFIX
        self._mkdirs(str(PurePosixPath(real).parent))
        start = 0
        try:
            have = int(self.sftp.stat(part).st_size or 0)
            if 0 < have < size and self._sha_real(part) == prefix_sha256(source, have):
                start = have
        except FileNotFoundError:
            pass
        ends = self._deadline(size - start)
        try:
            with open(source, "rb") as local, self.sftp.open(part, "ab" if start else "wb") as remote:
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
        if self._sha_real(part) != sha256:
            with contextlib.suppress(OSError):
                self.sftp.remove(part)
            raise TransferFailed(
                tr("{path} arrived damaged on the instance (sha256 differs); it was not kept", path=path)
            )
        try:
            self.sftp.posix_rename(part, real)
        except OSError as exc:
            raise TransferFailed(
                tr("Renaming {path} failed on the instance: {error}", path=path, error=str(exc)[:300])
            ) from None
        stamp = self._stamp(real)
        return RemoteFile(stamp.size, stamp.mtime, start)

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
                    on_bytes(len(block))
        except FileNotFoundError:
            raise TransferFailed(tr("{path} is not on the instance", path=path)) from None
        except OSError as exc:
            raise TransferFailed(
                tr("Receiving {path} failed: {error}", path=path, error=str(exc)[:300])
            ) from None
        return have, None, None

    def delete(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.sftp.remove(self._real(path))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.sftp.close()
        self._lease.release()

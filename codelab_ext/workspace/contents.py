"""The instance's Jupyter contents API as a :class:`~.remote.Remote`.

The instance ``url`` ends with ``/lab``; the same path without it is the Jupyter REST API, reached
with ``Authorization: token <instance token>`` (the token stays in this process). What is used:

* ``GET api/contents/<dir>?content=1``: a folder's listing (size and ``last_modified`` of each file);
* ``GET api/contents/<file>?content=0&hash=1``: a file's size and sha256, computed by the server
  (jupyter_server 2.11 and later; an older server is answered by downloading and hashing), asked
  for a file sent in several chunks and for a resumed transfer only;
* ``PUT api/contents/<file>.codelab-part`` with ``format: base64`` (``chunk`` 1, 2, ... and -1 for the last
  one when the file is larger than one chunk: the protocol of jupyter_server's ``LargeFileManager``), then
  ``PATCH`` renames it into place. Into a folder the instance does not have, files go straight to
  ``<folder>.codelab-part/<name>`` (:meth:`ContentsRemote.put_new`) and the staging folder is renamed once
  (:meth:`ContentsRemote.move_folder`). The contents API refuses to rename onto an existing file, so an
  existing one is first renamed to ``<name>.codelab-old`` and removed once the new one has its name: at
  every moment the real name holds a whole file or nothing, and a ``.codelab-old`` left by an interrupted
  run is put back (or removed, when the new file made it);
* ``GET files/<file>`` streams a download, with ``Range`` to resume one.

Every call has a total deadline (``timeout`` plus the time the bytes need at ``min_rate``) and a size cap.
Hidden names (a part starting with ``.``) are refused by Jupyter unless the server allows them: such
files are skipped with a message (:class:`~.core.Refused`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import requests

from .. import json_bounds, transport
from ..i18n import tr
from .core import (
    OLD_SUFFIX,
    PART_SUFFIX,
    WORK_DIR,
    IgnoreRules,
    NotFollowed,
    Refused,
    RouteRefused,
    TransferFailed,
    WorkspaceError,
    is_hidden,
)
from .remote import OnBytes, RemoteFile, check_cancel, prefix_sha256

__all__ = ["ContentsRemote", "api_base"]

#: largest folder listing read (a listing of 100,000 files is about 30 MiB)
MAX_LISTING_BYTES = 64 * 1024 * 1024
#: bytes read from a download between two looks at the clock and the cancel flag
READ_BLOCK = 256 * 1024


def api_base(url: str) -> str:
    """``http://host/<id>/lab`` -> ``http://host/<id>/`` (the instance's Jupyter REST API)."""
    text = (url or "").split("?", 1)[0].split("#", 1)[0].rstrip("/")
    if text.endswith("/lab"):
        text = text[: -len("/lab")]
    return text + "/"


class ContentsRemote:
    name = "contents"

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 30.0,
        chunk_bytes: int = 8 * 1024 * 1024,
        min_rate: float = 256 * 1024,
        max_file_bytes: int = 2 * 1024**3,
        workers: int = 4,
    ) -> None:
        self.base = api_base(url)
        self._token = token
        self.timeout = timeout
        self.chunk_bytes = max(64 * 1024, int(chunk_bytes) // 3 * 3)  # whole base64 groups per chunk
        self.min_rate = max(1024.0, float(min_rate))
        self.max_file_bytes = int(max_file_bytes)
        self.session = transport.new_session()
        self.session.trust_env = False
        # room for the parallel transfers of one run
        self.session.get_adapter("http://").init_poolmanager(workers + 2, workers + 2)  # type: ignore[attr-defined]
        self.workers = max(1, int(workers))
        self._has_hash: bool | None = None
        self._dirs: set[str] = set()
        #: part and old files seen by the last scan (absolute paths): only those are looked at again
        self.leftovers: set[str] = set()
        self._dirs_lock = threading.Lock()
        #: the server lists hidden names (``ContentsManager.allow_hidden``): seen in a listing
        self.sees_hidden = False
        #: the server follows symbolic links itself and lists them as what they lead to
        self.links: set[str] = set()
        #: the folders the last scan saw (relative to its folder, "" for itself); None: it is not there
        self.folders: set[str] | None = None

    # -- plumbing --------------------------------------------------------------------------------

    def _api_path(self, path: str) -> str:
        """An absolute instance path -> the contents API path (relative to the work folder)."""
        pure = PurePosixPath(path)
        work = PurePosixPath(WORK_DIR)
        if pure == work:
            return ""
        if work not in pure.parents:
            raise Refused(tr("{path} is outside the instance's work folder", path=path))
        return str(pure.relative_to(work))

    def _url(self, prefix: str, path: str) -> str:
        return self.base + prefix + quote(self._api_path(path), safe="/")

    def _deadline(self, size: int = 0) -> float:
        return self.timeout + size / self.min_rate

    def _call(
        self,
        method: str,
        prefix: str,
        path: str,
        *,
        size: int = 0,
        max_bytes: int | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        headers = {"Authorization": f"token {self._token}", **kwargs.pop("headers", {})}
        if "json" in kwargs:
            kwargs["data"] = json_bounds.dumps(kwargs.pop("json"))
            headers["Content-Type"] = "application/json"
        try:
            response, _ = transport.send(
                self.session,
                method,
                self._url(prefix, path),
                timeout=self._deadline(size),
                max_bytes=max_bytes or transport.DEFAULT_MAX_RESPONSE_BYTES,
                headers=headers,
                **kwargs,
            )
        except requests.exceptions.ConnectionError as exc:
            if isinstance(exc, requests.exceptions.ConnectTimeout) or "refused" in str(exc).lower():
                raise RouteRefused(
                    tr("The instance's Jupyter server cannot be reached: {error}", error=_why(exc))
                ) from None
            raise TransferFailed(
                tr("The instance's Jupyter server broke off: {error}", error=_why(exc))
            ) from None
        except requests.exceptions.RequestException as exc:
            raise TransferFailed(
                tr("The instance's Jupyter server did not answer in time: {error}", error=_why(exc))
            ) from None
        if response.status_code in (401, 403):
            raise RouteRefused(
                tr(
                    "The instance's Jupyter server refused the instance token (HTTP {status})",
                    status=response.status_code,
                )
            )
        return response

    def _json(self, response: requests.Response) -> Any:
        try:
            return json_bounds.loads(response.content)
        except ValueError:
            raise TransferFailed(
                tr("The instance's Jupyter server sent an answer that is not JSON")
            ) from None

    def _fail(self, response: requests.Response, path: str) -> WorkspaceError:
        detail = ""
        with contextlib.suppress(Exception):
            detail = str(self._json(response).get("message") or "")[:300]
        if response.status_code == 400 and is_hidden(self._api_path(path)):
            return Refused(
                tr(
                    "The instance's Jupyter server does not accept hidden files "
                    "(names starting with '.'); use SFTP"
                )
            )
        return TransferFailed(
            tr(
                "{path}: the instance's Jupyter server answered HTTP {status} {detail}",
                path=path,
                status=response.status_code,
                detail=detail,
            )
        )

    def _model(self, path: str, *, want_hash: bool = False) -> dict[str, Any] | None:
        params = {"content": "0"}
        if want_hash:
            params["hash"] = "1"
        response = self._call("GET", "api/contents/", path, params=params)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(response, path)
        model = self._json(response)
        return model if isinstance(model, dict) else None

    # -- Remote ----------------------------------------------------------------------------------

    def probe(self) -> None:
        """Check the route answers (raises :class:`RouteRefused` if not)."""
        response = self._call("GET", "api/contents/", WORK_DIR, params={"content": "0"})
        if response.status_code != 200:
            raise RouteRefused(
                tr("The instance's Jupyter server answered HTTP {status}", status=response.status_code)
            )

    def _listing(self, folder: str, relative: str, *, missing_ok: bool = False) -> dict[str, Any] | None:
        """One folder's model with its listing (None: the link's folder, or with ``missing_ok`` the
        folder asked for, does not exist)."""
        absolute = str(PurePosixPath(folder) / relative) if relative else folder
        response = self._call(
            "GET", "api/contents/", absolute, params={"content": "1"}, max_bytes=MAX_LISTING_BYTES
        )
        if response.status_code == 404 and (missing_ok or not relative):
            return None
        if response.status_code != 200:
            raise self._fail(response, absolute)
        model = self._json(response)
        if not isinstance(model, dict) or model.get("type") != "directory":
            if not relative:
                raise TransferFailed(tr("{path} on the instance is a file, not a folder", path=folder))
            return {}
        return model

    def scan(self, folder: str, rules: IgnoreRules) -> dict[str, RemoteFile]:
        """The folders of one depth are listed at the same time (``workers`` at once): the server
        answers a listing at a few hundred files a second, mostly waiting for its own threads."""
        self.leftovers = set()
        walked = self._walk(folder, rules)
        if walked is None:
            self.folders = None
            return {}
        found, self.folders = walked
        return found

    def _walk(self, folder: str, rules: IgnoreRules) -> tuple[dict[str, RemoteFile], set[str]] | None:
        """Every file and folder under ``folder`` (one listing per folder), or None when it is not there."""
        found: dict[str, RemoteFile] = {}
        folders: set[str] = {""}
        level = [""]
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="codelab-listing") as pool:
            while level:
                models = list(pool.map(lambda relative: self._listing(folder, relative), level))
                deeper: list[str] = []
                for relative, model in zip(level, models, strict=True):
                    if model is None:
                        return None
                    for child in model.get("content") or []:
                        if not isinstance(child, dict) or not isinstance(child.get("name"), str):
                            continue
                        name = relative + "/" + child["name"] if relative else child["name"]
                        if child["name"].startswith("."):
                            self.sees_hidden = True
                        if child.get("type") == "directory":
                            folders.add(name)
                            if name.endswith(PART_SUFFIX):  # a staging folder of an interrupted push
                                self.leftovers.add(str(PurePosixPath(folder) / name))
                            elif not rules.ignored_dir(name):
                                deeper.append(name)
                        elif name.endswith((PART_SUFFIX, OLD_SUFFIX)):
                            self.leftovers.add(str(PurePosixPath(folder) / name))
                        elif not rules.ignored(name):
                            found[name] = _remote_file(child)
                level = deeper
        return found, folders

    def staged(self, folder: str) -> dict[str, RemoteFile]:
        """Every file in the staging folder ``folder`` ({} when it is not there)."""
        walked = self._walk(folder, IgnoreRules())
        return {} if walked is None else walked[0]

    def stamps(self, folder: str, relatives: Iterable[str]) -> dict[str, RemoteFile]:
        """The files directly in each of the folders ``relatives`` of ``folder`` (one listing each)."""
        chosen = sorted(set(relatives))
        found: dict[str, RemoteFile] = {}
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="codelab-listing") as pool:
            models = list(pool.map(lambda rel: self._listing(folder, rel, missing_ok=True), chosen))
        for relative, model in zip(chosen, models, strict=True):
            for child in (model or {}).get("content") or []:
                if not isinstance(child, dict) or not isinstance(child.get("name"), str):
                    continue
                if child.get("type") != "directory":
                    found[relative + "/" + child["name"] if relative else child["name"]] = _remote_file(child)
        return found

    def exists(self, path: str) -> bool:
        return self._model(path) is not None

    def _server_sha256(self, path: str) -> str | None:
        """The sha256 the server computes of ``path`` (jupyter_server 2.11 and later), or None when
        the server does not give one (an older server: the field is absent)."""
        if self._has_hash is False:
            return None
        model = self._model(path, want_hash=True)
        if model is None:
            raise TransferFailed(tr("{path} is not on the instance", path=path))
        value = model.get("hash")
        if model.get("hash_algorithm") == "sha256" and isinstance(value, str) and value:
            self._has_hash = True
            return value.lower()
        self._has_hash = False
        return None

    def sha256(self, path: str) -> str:
        known = self._server_sha256(path)
        if known is not None:
            return known
        # an older Jupyter server: read the file back
        digest = hashlib.sha256()
        self._stream(path, 0, lambda block: digest.update(block), lambda _n: None, None, self.max_file_bytes)
        return digest.hexdigest()

    def _mkdirs(self, folder: str) -> None:
        with self._dirs_lock:  # parallel uploads into one new folder make it once
            if folder in self._dirs:
                return
            self._make_dirs(folder)
            self._dirs.add(folder)

    def _make_dirs(self, folder: str) -> None:
        pure = PurePosixPath(folder)
        chain = [pure, *pure.parents]
        missing = []
        for item in chain:
            if str(item) == WORK_DIR or PurePosixPath(WORK_DIR) not in item.parents:
                break
            model = self._model(str(item))
            if model is not None:
                if model.get("type") != "directory":
                    raise TransferFailed(tr("{path} on the instance is a file, not a folder", path=str(item)))
                break
            missing.append(item)
        for item in reversed(missing):
            response = self._call("PUT", "api/contents/", str(item), json={"type": "directory"})
            if response.status_code not in (200, 201):
                raise self._fail(response, str(item))

    def _put(self, path: str, data: bytes, chunk: int | None) -> dict[str, Any]:
        model: dict[str, Any] = {
            "type": "file",
            "format": "base64",
            "content": base64.b64encode(data).decode("ascii"),
        }
        if chunk is not None:
            model["chunk"] = chunk
        response = self._call("PUT", "api/contents/", path, json=model, size=len(data))
        if response.status_code not in (200, 201):
            raise self._fail(response, path)
        answer = self._json(response)
        return answer if isinstance(answer, dict) else {}

    def _rename(self, old: str, new: str, *, taken_ok: bool = False) -> dict[str, Any] | None:
        """Rename ``old`` to ``new``; with ``taken_ok``, None when ``new`` exists (409)."""
        response = self._call("PATCH", "api/contents/", old, json={"path": self._api_path(new)})
        if taken_ok and response.status_code == 409:
            return None
        if response.status_code != 200:
            raise self._fail(response, old)
        model = self._json(response)
        return model if isinstance(model, dict) else {}

    def _delete_quietly(self, path: str) -> None:
        with contextlib.suppress(TransferFailed):
            self._call("DELETE", "api/contents/", path)

    def recover(self, path: str) -> None:
        """Put back what an interrupted rename left: ``<name>.codelab-old`` without ``<name>`` goes
        back to its name; beside ``<name>`` it is removed (the new file made it)."""
        old = path + OLD_SUFFIX
        if old not in self.leftovers or self._model(old) is None:
            return
        if self._model(path) is None:
            self._rename(old, path)
        else:
            self.delete(old)

    def upload(
        self,
        path: str,
        source: Path,
        size: int,
        sha256: str,
        on_bytes: OnBytes,
        cancel: threading.Event | None,
    ) -> RemoteFile:
        if not self.sees_hidden and is_hidden(self._api_path(path)):
            raise Refused(
                tr(
                    "The instance's Jupyter server does not accept hidden files "
                    "(names starting with '.'); use SFTP"
                )
            )
        self.recover(path)
        part = path + PART_SUFFIX
        sent = self.put_new(part, source, size, sha256, on_bytes, cancel, resume=part in self.leftovers)
        check_cancel(cancel)
        final = self._rename(part, path, taken_ok=True)
        if final is None:  # the contents API does not rename onto a file: move the old one aside first
            old = path + OLD_SUFFIX
            self._rename(path, old)
            final = self._rename(part, path) or {}
            self.delete(old)
        return RemoteFile(int(final.get("size") or size), str(final.get("last_modified")), sent.resumed)

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
        """Write ``source`` straight to ``path``, a name inside a staging folder (nobody else's file
        can be there). A file of one chunk is one ``PUT``: the server decodes the whole body in that
        request and answers the size it wrote, which is checked (a listing of the staging folder
        checks it again before the folder gets its name). A file of several chunks is checked by
        the server's sha256 (chunks are where bytes could go missing); with ``resume`` its part on
        the instance goes on when it is a prefix of ``source``."""
        self._mkdirs(str(PurePosixPath(path).parent))
        chunk = self.chunk_bytes
        count = max(1, -(-size // chunk))
        if count == 1:
            check_cancel(cancel)
            with open(source, "rb") as handle:
                data = handle.read(size + 1)
            if len(data) != size:
                raise TransferFailed(tr("{path} changed here while it was being sent", path=path))
            model = self._put(path, data, None)
            on_bytes(len(data))
            if model.get("type") == "directory" or model.get("size") != size:
                self._delete_quietly(path)
                raise TransferFailed(
                    tr(
                        "{path} arrived damaged on the instance (its size differs); it was not kept",
                        path=path,
                    )
                )
            return _remote_file(model)
        start = self._resumable(path, source, size) if resume else 0
        if start:
            on_bytes(start * chunk)
        with open(source, "rb") as handle:
            handle.seek(start * chunk)
            for index in range(start, count):
                check_cancel(cancel)
                data = handle.read(chunk)
                self._put(path, data, -1 if index == count - 1 else index + 1)
                on_bytes(len(data))
        check_cancel(cancel)
        checked = self._model(path, want_hash=True)
        got = None if checked is None else checked.get("hash")
        if (
            checked is None
            or checked.get("size") != size
            or ((got.lower() if isinstance(got, str) else self.sha256(path)) != sha256)
        ):
            self._delete_quietly(path)
            raise TransferFailed(
                tr("{path} arrived damaged on the instance (sha256 differs); it was not kept", path=path)
            )
        return RemoteFile(size, str(checked.get("last_modified")), start * chunk)

    def move_folder(self, old: str, new: str) -> bool:
        """Give the staging folder ``old`` its real name ``new`` (one ``PATCH``); False when ``new``
        exists meanwhile (nothing moved)."""
        self._mkdirs(str(PurePosixPath(new).parent))
        moved = self._rename(old, new, taken_ok=True) is not None
        self._forget_dirs(old)
        return moved

    def discard(self, folder: str) -> None:
        """Remove a staging folder and what is in it (best effort: what cannot go stays)."""
        walked = self._walk(folder, IgnoreRules())
        if walked is not None:
            files, folders = walked
            for name in files:
                self._delete_quietly(str(PurePosixPath(folder) / name))
            for name in sorted(folders, key=lambda item: -item.count("/") - len(item)):
                self._delete_quietly(str(PurePosixPath(folder) / name) if name else folder)
        self._forget_dirs(folder)

    def _forget_dirs(self, folder: str) -> None:
        with self._dirs_lock:
            self._dirs = {item for item in self._dirs if item != folder and not item.startswith(folder + "/")}

    def _resumable(self, part: str, source: Path, size: int) -> int:
        """How many whole chunks of ``part`` (left by an interrupted run) are ``source``'s first bytes."""
        model = self._model(part, want_hash=True)
        if model is None:
            return 0
        have = model.get("size")
        got = model.get("hash")
        if (
            isinstance(have, int)
            and 0 < have < size
            and have % self.chunk_bytes == 0
            and isinstance(got, str)
            and got.lower() == prefix_sha256(source, have)
        ):
            return have // self.chunk_bytes
        return 0

    def download(
        self, path: str, part: Path, size: int, on_bytes: OnBytes, cancel: threading.Event | None
    ) -> tuple[int, str | None, str | None]:
        """One ``GET files/<path>`` streamed into ``part``, hashed as it is written. The server's
        sha256 (``content=0&hash=1``) is asked for only when the part went on from an interrupted
        run (its first bytes were not hashed here); a whole download is confirmed by the caller
        against a listing made after it (:meth:`stamps`)."""
        if not self.sees_hidden and is_hidden(self._api_path(path)):
            raise Refused(
                tr(
                    "The instance's Jupyter server does not serve hidden files "
                    "(names starting with '.'); use SFTP"
                )
            )
        have = part.stat().st_size if part.exists() else 0
        if have > size >= 0:
            part.unlink()
            have = 0
        if have:
            on_bytes(have)
        digest = None if have else hashlib.sha256()
        with open(part, "ab") as handle:

            def sink(block: bytes) -> None:
                handle.write(block)
                if digest is not None:
                    digest.update(block)

            restarted = self._stream(path, have, sink, on_bytes, cancel, self.max_file_bytes, expect=size)
            if restarted:  # the server sent the whole file again
                handle.truncate(0)
                handle.seek(0)
                digest = hashlib.sha256()
                self._stream(path, 0, sink, on_bytes, cancel, self.max_file_bytes, expect=size)
            handle.flush()
        if digest is None:
            return have, self._server_sha256(path), None
        return have, None, digest.hexdigest()

    def _stream(
        self,
        path: str,
        offset: int,
        sink: Any,
        on_bytes: OnBytes,
        cancel: threading.Event | None,
        cap: int,
        *,
        expect: int = 0,
    ) -> bool:
        """Stream ``files/<path>`` from ``offset`` into ``sink``; True if the server ignored the range
        (nothing was written then)."""
        headers = {"Authorization": f"token {self._token}", "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        with transport.deadline(self._deadline(max(0, expect - offset))):
            try:
                response = self.session.get(
                    self._url("files/", path),
                    headers=headers,
                    stream=True,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.exceptions.RequestException as exc:
                raise TransferFailed(
                    tr("The instance's Jupyter server broke off: {error}", error=_why(exc))
                ) from None
            try:
                if response.status_code == 416 and offset:
                    return False  # nothing left to send
                if response.status_code == 403:
                    self.probe()  # the token still works: the server refuses this one file
                    raise NotFollowed(
                        tr(
                            "the instance's Jupyter server does not serve it (HTTP 403): a symbolic link "
                            "that leads out of the work folder, or a file it may not read; skipped"
                        )
                    )
                if response.status_code == 401:
                    raise RouteRefused(
                        tr(
                            "The instance's Jupyter server refused the instance token (HTTP {status})",
                            status=response.status_code,
                        )
                    )
                if offset and response.status_code == 200:
                    return True
                if response.status_code not in (200, 206):
                    raise TransferFailed(
                        tr(
                            "Reading {path} failed on the instance: HTTP {status}",
                            path=path,
                            status=response.status_code,
                        )
                    )
                got = offset
                while True:
                    check_cancel(cancel)
                    try:
                        block = response.raw.read(READ_BLOCK)
                    except Exception as exc:
                        raise TransferFailed(
                            tr("The instance's Jupyter server broke off: {error}", error=_why(exc))
                        ) from None
                    if not block:
                        break
                    got += len(block)
                    if got > cap:
                        raise TransferFailed(
                            tr("{path} is larger than the download cap ({cap} bytes)", path=path, cap=cap)
                        )
                    sink(block)
                    on_bytes(len(block))
            finally:
                response.close()
        return False

    def delete(self, path: str) -> None:
        response = self._call("DELETE", "api/contents/", path)
        if response.status_code not in (204, 404):
            raise self._fail(response, path)

    def close(self) -> None:
        self.session.close()


def _remote_file(model: dict[str, Any]) -> RemoteFile:
    size = model.get("size")
    return RemoteFile(int(size) if isinstance(size, int) else -1, str(model.get("last_modified")))


def _why(exc: BaseException) -> str:
    """An error's text without URLs' query strings (a token is never in a URL here, but be sure)."""
    text = str(exc)
    return text.split("?", 1)[0][:300] if "?" in text else text[:300]

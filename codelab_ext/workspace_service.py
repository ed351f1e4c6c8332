"""The server side of the workspace (design.md §7): links, transfer jobs and the lease guard.

The REST handlers (``codelab/instances/{id}/workspace``) call :class:`WorkspaceService`; the
transfers themselves (manifest, push, pull, sync, transports) are :mod:`codelab_ext.workspace`'s.
This module decides *when* they run and *what the panel hears*:

* **Jobs.** ``push``, ``pull`` and ``sync`` run as a job in the service's executor, one at a time per
  instance; a job is pollable (``GET …/workspace/jobs/{job}``) and every change of it is announced on
  the instance's event stream (``event: workspace``). The instance token stays on this server: the
  job reads it from the instance the server fetched itself.
* **The lease guard** (``c.CodeLab.pull_before_stop``, on by default). Before a Stop and before a
  switch to another image, the linked folder is pulled back; if the pull cannot finish within
  ``pull_before_stop_timeout``, the Stop or switch is refused with 409 ``codelab.files_not_home``
  and the files still waiting on the instance, until it is asked again with ``leave_files``. A
  background loop pulls each linked folder ``pull_before_lease_end_minutes`` before its lease ends,
  once per lease.

No tornado in this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .errors import CodeLabError, ConflictError, NotFoundError, ValidationError
from .i18n import tr, tr_n

if TYPE_CHECKING:
    from .service import CodeLabService

log = logging.getLogger("codelab_ext")

KINDS = ("push", "pull", "sync")
#: why a job ran: asked from the panel or the API, or by the guard (before a Stop, a switch, the lease's end)
TRIGGERS = ("user", "open", "stop", "switch", "lease")
#: jobs remembered per service (the newest ones; a poll of an older one answers 404)
KEEP_JOBS = 32
#: a job's kind as the word a message says (the placeholder is translated with the sentence)
_KIND_NOUNS: dict[str, Any] = {"push": tr("push"), "pull": tr("pull"), "sync": tr("sync")}

#: the most paths listed in a ``files_not_home`` answer (the count is always exact)
MAX_LISTED = 200
#: how long a Stop waits for a cancelled pull to end before answering (it stops between pieces)
CANCEL_WAIT_SECONDS = 60.0
#: the longest path the API accepts, in characters
MAX_PATH = 4096
_job_numbers = itertools.count(1)


def now_ms() -> int:
    return int(time.time() * 1000)


# --------------------------------------------------------------------------- input rules


def validate_local_path(raw: Any, root_dir: str | os.PathLike[str], *, field_name: str = "local") -> Path:
    """A folder or file given relative to the Jupyter root (as the file browser names it): the real
    path, which must stay under the root (no ``..`` out, no symbolic link out)."""
    if not isinstance(raw, str):
        raise ValidationError(
            tr("'{name}' must be a path relative to the Jupyter root folder.", name=field_name),
            field=field_name,
        )
    text = raw.strip().replace("\\", "/")
    if len(text) > MAX_PATH or any(ord(ch) < 32 for ch in text):
        raise ValidationError(
            tr("'{name}' is not a usable path.", name=field_name),
            field=field_name,
        )
    root = Path(root_dir).resolve()
    candidate = (root / text.lstrip("/")).resolve()
    if candidate != root and root not in candidate.parents:
        raise ValidationError(
            tr("'{name}' must stay inside the Jupyter root folder.", name=field_name),
            field=field_name,
        )
    return candidate


def relative_to_root(path: Path, root_dir: str | os.PathLike[str]) -> str:
    """``path`` as the file browser names it ('' for the root itself)."""
    rel = path.resolve().relative_to(Path(root_dir).resolve())
    return "" if str(rel) == "." else rel.as_posix()


def validate_open_path(raw: Any) -> str | None:
    """The file to open once a push is done, relative to the linked folder (None: none)."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or len(raw) > MAX_PATH or any(ord(ch) < 32 for ch in raw):
        raise ValidationError(tr("'open' must be a path inside the linked folder."), field="open")
    parts = PurePosixPath(raw.replace("\\", "/"))
    if parts.is_absolute() or ".." in parts.parts:
        raise ValidationError(tr("'open' must be a path inside the linked folder."), field="open")
    return parts.as_posix()


def check_fields(body: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        name = unknown[0][:64]
        raise ValidationError(tr("Unknown field '{name}'.", name=name), field=name)


# --------------------------------------------------------------------------- jobs


@dataclass
class Job:
    """One push, pull or sync of an instance's linked folder."""

    instance_id: str
    kind: str
    trigger: str
    id: str = field(default_factory=lambda: f"w{next(_job_numbers)}")
    state: str = "running"  # running | done | failed
    started_at: int = field(default_factory=now_ms)
    finished_at: int | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    not_home: list[str] | None = None
    open_path: str | None = None
    open_url: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "instance_id": self.instance_id,
            "kind": self.kind,
            "trigger": self.trigger,
            "state": self.state,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "progress": dict(self.progress),
            "result": self.result,
            "error": self.error,
            "not_home": self.not_home,
            "open_url": self.open_url,
        }


def files_not_home_error(instance_id: str, files: list[str], reason: Any, job: Job | None) -> ConflictError:
    """409 ``codelab.files_not_home``: what a Stop or a switch answers when the pull did not finish."""
    listed = sorted(files)[:MAX_LISTED]
    if files:
        message = tr_n(
            "{count} changed file on the instance is not home yet ({reason}). Extend the lease and "
            "pull again, or stop anyway (send leave_files: true): the file stays on the instance.",
            "{count} changed files on the instance are not home yet ({reason}). Extend the lease and "
            "pull again, or stop anyway (send leave_files: true): the files stay on the instance.",
            len(files),
            count=len(files),
            reason=reason,
        )
    else:
        message = tr(
            "The linked folder could not be pulled back ({reason}). Extend the lease and pull again, or "
            "stop anyway (send leave_files: true): the files stay on the instance.",
            reason=reason,
        )
    return ConflictError(
        message,
        code="codelab.files_not_home",
        details={
            "files": listed,
            "files_count": len(files),
            "job": job.to_json() if job is not None else None,
            "instance_id": instance_id,
        },
    )


def is_running(instance: Mapping[str, Any]) -> bool:
    return str(instance.get("status") or "").upper() == "RUNNING"


def remote_open_url(instance: Mapping[str, Any], remote_file: str) -> str | None:
    """The instance's JupyterLab at ``remote_file`` (an absolute instance path under its work folder),
    with the instance token as ``?token=`` (the one URL with a token the browser gets: the user opens it)."""
    from urllib.parse import quote, urlsplit, urlunsplit

    from .models import url_with_token

    url = instance.get("url")
    if not isinstance(url, str) or not url:
        return None
    work = PurePosixPath(WORK_DIR)
    path = PurePosixPath(remote_file)
    try:
        rel = path.relative_to(work).as_posix()
    except ValueError:
        return url_with_token(instance)
    parts = urlsplit(url)
    base = parts.path.rstrip("/")
    tree = f"{base}/tree/{quote(rel)}" if rel and rel != "." else base
    return url_with_token(
        {**instance, "url": urlunsplit((parts.scheme, parts.netloc, tree, parts.query, ""))}
    )


#: the instance's work folder (what the emulator's Jupyter root stands for)
WORK_DIR = "/home/ma-user/work"


class WorkspaceService:
    """Links, jobs and the lease guard of one Jupyter server (kept by :class:`CodeLabService`)."""

    def __init__(self, service: CodeLabService) -> None:
        self.service = service
        self.config = service.config
        self._store: Any = None
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._running: dict[str, Job] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        #: instance id → the lease end (epoch ms) the guard already pulled for
        self._guarded: dict[str, Any] = {}
        self._guard_task: asyncio.Task[None] | None = None
        #: link id → the instance-side changes not yet local at the last comparison (what a Stop
        #: refused names when the instance stops answering mid-pull and no comparison can be made then)
        self._known_not_home: dict[str, list[str]] = {}

    # ----------------------------------------------------------------- links
    def store(self) -> Any:
        if self._store is None:
            from .workspace import LinkStore

            self._store = LinkStore(self.config.workspace_links_file or None)
        return self._store

    async def _lib(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # a WorkspaceError is a CodeLabError: the routes answer it through the one mapping
        return await self.service.run(fn, *args, **kwargs)

    async def link_of(self, instance_id: str) -> Any:
        return await self._lib(self.store().get, instance_id)

    def link_json(self, link: Any, root_dir: str | None) -> dict[str, Any] | None:
        if link is None:
            return None
        data = dict(link.to_json())
        local = Path(link.local)
        data["local_path"] = str(local)
        data["local"] = None
        if root_dir:
            with contextlib.suppress(ValueError):
                data["local"] = relative_to_root(local, root_dir)
        for key in ("created_at", "last_sync"):
            if isinstance(data.get(key), (int, float)):
                data[key] = int(data[key] * 1000)
        return data

    async def describe(
        self, instance_id: str, root_dir: str | None, *, waiting: bool = True
    ) -> dict[str, Any]:
        """``GET …/workspace``: the link, what waits on each side (when the instance runs and ``waiting``:
        a comparison over the network), the newest job."""
        self.start_guard()  # (a server whose start hook did not run, e.g. under pytest-jupyter)
        link = await self.link_of(instance_id)
        answer: dict[str, Any] = {
            "instance_id": instance_id,
            "link": self.link_json(link, root_dir),
            "waiting": None,
            "waiting_error": None,
            "job": self.latest_job(instance_id),
            "pull_before_stop": bool(self.config.pull_before_stop),
        }
        if link is None or not waiting:
            return answer
        instance = await self.service.fetch_instance(instance_id)
        if not is_running(instance):
            answer["waiting_error"] = tr(
                "The instance is not running: what waits on its side is known once it runs again."
            )
            return answer
        try:
            status = await self._lib(self._status, instance, link)
        except CodeLabError as exc:
            answer["waiting_error"] = exc.message
            return answer
        answer["waiting"] = waiting_of(status)
        self._known_not_home[link.id] = [str(p) for p in status.get("not_home") or []]
        return answer

    def _status(self, instance: Mapping[str, Any], link: Any) -> dict[str, Any]:
        from .workspace import Workspace

        ws = Workspace(self.store(), instance, config=self.config)
        try:
            result: dict[str, Any] = ws.status(link).to_json()
            return result
        finally:
            ws.close()

    async def put_link(self, instance_id: str, body: Mapping[str, Any], root_dir: str) -> dict[str, Any]:
        """``PUT …/workspace`` ``{local, remote?}``: link a folder under the Jupyter root."""
        self.start_guard()
        check_fields(body, {"local", "remote"})
        if "local" not in body:
            raise ValidationError(tr("Field 'local' is missing."), field="local")
        local = validate_local_path(body["local"], root_dir)
        if not local.is_dir():
            raise ValidationError(tr("'local' must be an existing folder."), field="local")
        remote = body.get("remote")
        if remote is not None and (not isinstance(remote, str) or not remote.strip()):
            raise ValidationError(tr("'remote' must be a folder of the instance."), field="remote")
        await self.service.fetch_instance(instance_id)  # a link to an instance that exists
        await self._lib(self.store().put, instance_id, str(local), remote, root=str(Path(root_dir).resolve()))
        return await self.describe(instance_id, root_dir)

    async def delete_link(self, instance_id: str) -> bool:
        """``DELETE …/workspace``: forget the link and its manifest (no file is touched on either side)."""
        if instance_id in self._running:
            raise self._busy(self._running[instance_id])
        link = await self.link_of(instance_id)
        if link is None:
            return False
        self._known_not_home.pop(link.id, None)
        return bool(await self._lib(self.store().delete, link.id))

    # ----------------------------------------------------------------- jobs
    def latest_job(self, instance_id: str) -> dict[str, Any] | None:
        running = self._running.get(instance_id)
        if running is not None:
            return running.to_json()
        for job in reversed(self._jobs.values()):
            if job.instance_id == instance_id:
                return job.to_json()
        return None

    def job(self, instance_id: str, job_id: str) -> dict[str, Any]:
        job = self._jobs.get(job_id)
        if job is None or job.instance_id != instance_id:
            raise NotFoundError(tr("No workspace job '{job}' for this instance.", job=job_id[:64]))
        return job.to_json()

    def _busy(self, job: Job) -> ConflictError:
        kind = _KIND_NOUNS.get(job.kind, job.kind)
        return ConflictError(
            tr("A {kind} of the linked folder is already running; wait for it to end.", kind=kind),
            code="codelab.workspace.busy",
            details={"job": job.to_json()},
        )

    async def start(
        self, instance_id: str, kind: str, trigger: str = "user", open_path: str | None = None
    ) -> Job:
        """Start a push, pull or sync of the instance's linked folder (answered at once; see :meth:`job`)."""
        if kind not in KINDS or trigger not in TRIGGERS:
            raise ValidationError(tr("Unknown workspace action."))
        running = self._running.get(instance_id)
        if running is not None:
            raise self._busy(running)
        link = await self.link_of(instance_id)
        if link is None:
            raise NotFoundError(
                tr("No folder is linked to this instance: link one first (PUT …/workspace)."),
                code="codelab.workspace.no_link",
            )
        instance = await self.service.fetch_instance(instance_id)
        if not is_running(instance):
            raise ConflictError(
                tr("The instance is not running: start it to push or pull files."),
                code="codelab.workspace.not_running",
            )
        if instance_id in self._running:  # another request started one while this one waited
            raise self._busy(self._running[instance_id])
        job = Job(instance_id=instance_id, kind=kind, trigger=trigger, open_path=open_path)
        self._running[instance_id] = job
        self._jobs[job.id] = job
        while len(self._jobs) > KEEP_JOBS:
            self._jobs.popitem(last=False)
        task = asyncio.get_running_loop().create_task(
            self._run(job, link, instance), name=f"codelab-{job.id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._announce(job)
        return job

    def _announce(self, job: Job) -> None:
        with contextlib.suppress(Exception):  # nobody listening is fine; an event never breaks a job
            self.service.watchers.announce(job.instance_id, "workspace", job.to_json())

    async def _run(self, job: Job, link: Any, instance: Mapping[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        last = [0.0]

        def progress(event: Any) -> None:  # the worker thread
            data = event.to_json() if hasattr(event, "to_json") else dict(event)

            def apply() -> None:
                job.progress = data
                moment = time.monotonic()
                if moment - last[0] >= 0.5 or data.get("phase") == "done":
                    last[0] = moment
                    self._announce(job)

            loop.call_soon_threadsafe(apply)

        try:
            result, job.not_home = await self.service.run(self._transfer, job, link, instance, progress)
            job.result = result
            if job.not_home is not None:
                self._known_not_home[link.id] = list(job.not_home)
            elif job.kind in ("pull", "sync") and result.get("ok", True):
                self._known_not_home[link.id] = []  # everything that waited came home
            if result.get("ok", True):
                job.state = "done"
            else:  # "done" means every planned transfer finished and was verified
                job.state = "failed"
                skipped = result.get("skipped") or []
                job.error = {
                    "message": tr_n(
                        "{count} file was not transferred (see skipped).",
                        "{count} files were not transferred (see skipped).",
                        len(skipped),
                        count=len(skipped),
                    ),
                    "code": "codelab.workspace.incomplete",
                }
        except Exception as exc:
            job.state = "failed"
            partial = getattr(exc, "result", None)
            if partial is not None and hasattr(partial, "to_json"):
                job.result = partial.to_json()
            if isinstance(exc, CodeLabError):  # a WorkspaceError among them
                error = exc
            else:  # an answer no rule foresaw: the log has the traceback, the job a readable line
                log.warning("codelab: workspace %s of %s failed", job.kind, job.instance_id, exc_info=exc)
                error = CodeLabError(
                    tr("The workspace transfer failed."), status=502, code="codelab.workspace.transfer_failed"
                )
            job.error = error.to_json()
            if job.kind in ("pull", "sync"):
                job.not_home = await self._not_home(instance, link, job)
        finally:
            job.finished_at = now_ms()
            if self._running.get(job.instance_id) is job:
                del self._running[job.instance_id]
            job.done.set()
            self._announce(job)

    def _transfer(
        self, job: Job, link: Any, instance: Mapping[str, Any], progress: Callable[[Any], None]
    ) -> tuple[dict[str, Any], list[str] | None]:
        from .workspace import Workspace

        ws = Workspace(self.store(), instance, config=self.config)
        try:
            run = getattr(ws, job.kind)
            result = run(link, progress=progress, cancel=job.cancel).to_json()
            not_home: list[str] | None = None
            if job.kind in ("pull", "sync") and not result.get("ok", True):
                with contextlib.suppress(Exception):
                    not_home = list(ws.status(link).not_home)
        finally:
            ws.close()
        if job.open_path and job.kind in ("push", "sync"):
            job.open_url = remote_open_url(instance, f"{link.remote.rstrip('/')}/{job.open_path}")
        return result, not_home

    def _last_known_not_home(self, link: Any, job: Job | None) -> list[str] | None:
        """The instance-side changes the last comparison saw, less what ``job`` brought home since."""
        known = self._known_not_home.get(link.id)
        if known is None:
            return None
        pulled = set((job.result or {}).get("pulled") or []) if job is not None else set()
        return [path for path in known if path not in pulled]

    async def _not_home(
        self, instance: Mapping[str, Any], link: Any, job: Job | None = None
    ) -> list[str] | None:
        """What still waits on the instance after a pull that did not finish: a comparison now, else
        the last one (less what ``job`` pulled since); None when neither is known."""

        def read() -> list[str]:
            from .workspace import Workspace

            ws = Workspace(self.store(), instance, config=self.config)
            try:
                return list(ws.status(link).not_home)
            finally:
                ws.close()

        try:
            files = await self.service.run(read)
        except Exception:  # (the instance does not answer: what the last comparison saw)
            return self._last_known_not_home(link, job)
        self._known_not_home[link.id] = files
        return files

    # ----------------------------------------------------------------- the lease guard
    async def guard(self, instance_id: str, trigger: str, *, leave_files: bool = False) -> None:
        """Before a Stop or a switch: pull the linked folder back, or refuse with the files not home.

        Nothing to do when the guard is off, nothing is linked, the instance does not run (its files
        stay in its storage), or ``leave_files`` (the user chose to stop anyway after being told).
        """
        if leave_files or not self.config.pull_before_stop:
            return
        link = await self.link_of(instance_id)
        if link is None:
            return
        instance = await self.service.fetch_instance(instance_id)
        if not is_running(instance):
            return
        timeout = max(1.0, float(self.config.pull_before_stop_timeout))
        deadline = time.monotonic() + timeout
        job = self._running.get(instance_id)
        if job is not None and job.kind == "push":  # a push under way: let it end, then pull
            await self._wait(job, deadline)
            job = None
        if job is None:
            try:
                job = await self.start(instance_id, "pull", trigger)
            except CodeLabError as exc:
                if exc.code == "codelab.workspace.busy" and instance_id in self._running:
                    job = self._running[instance_id]
                else:
                    raise files_not_home_error(instance_id, [], exc.message, None) from None
        if not await self._wait(job, deadline):
            job.cancel.set()  # the run stops between pieces; nothing half-written is left in place
            await self._wait(job, time.monotonic() + CANCEL_WAIT_SECONDS)
            files = job.not_home
            if files is None and job.done.is_set():  # (a run still going holds the link: no status now)
                files = await self._not_home(instance, link, job)
            if files is None:
                files = self._last_known_not_home(link, job)
            files = files or []
            if not (job.state == "done" and (job.result or {}).get("ok", True)):  # (it may end just then)
                reason = tr("the pull did not finish within {seconds} s", seconds=round(timeout))
                raise files_not_home_error(instance_id, files, reason, job)
        if job.state == "done" and (job.result or {}).get("ok", True):
            return
        reason = (job.error or {}).get("message") or tr("not every file could be brought back")
        raise files_not_home_error(instance_id, job.not_home or [], reason, job)

    @staticmethod
    async def _wait(job: Job, deadline: float) -> bool:
        """Wait for ``job`` until ``deadline`` (monotonic); True when it ended."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return job.done.is_set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(job.done.wait(), remaining)
        return job.done.is_set()

    def start_guard(self) -> None:
        """Start the loop that pulls each linked folder before its lease ends (needs a running loop)."""
        if self._guard_task is None or self._guard_task.done():
            self._guard_task = asyncio.get_running_loop().create_task(
                self._guard_loop(), name="codelab-lease-guard"
            )

    async def _guard_loop(self) -> None:
        """Look at the leases of linked instances every ``workspace_guard_interval`` seconds. Nothing ends
        this loop but cancellation: a failed look is one log line and the next look comes."""
        try:
            while True:
                await asyncio.sleep(max(0.05, float(self.config.workspace_guard_interval)))
                try:
                    await self.check_leases()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("codelab: the lease guard could not look at the leases: %s", exc)
        except asyncio.CancelledError:
            pass

    async def check_leases(self) -> list[Job]:
        """One look: start a pull for every linked, running instance whose lease ends within
        ``pull_before_lease_end_minutes`` (once per lease end). Answers the jobs started."""
        if not self.config.pull_before_stop:
            return []
        try:
            self.service.client()
        except CodeLabError:
            return []  # signed out: nothing can be asked
        links = await self._lib(self.store().links)
        started: list[Job] = []
        window_ms = float(self.config.pull_before_lease_end_minutes) * 60_000
        for instance_id in sorted({link.instance_id for link in links}):
            if instance_id in self._running:
                continue
            try:
                instance = await self.service.poll_instance(instance_id)
            except CodeLabError:
                continue
            lease = instance.get("lease") or {}
            remaining = lease.get("remaining_ms")
            ends = lease.get("expires_at")
            if not is_running(instance) or not isinstance(remaining, (int, float)):
                continue
            if remaining > window_ms or self._guarded.get(instance_id) == ends:
                continue
            self._guarded[instance_id] = ends
            try:
                started.append(await self.start(instance_id, "pull", "lease"))
            except CodeLabError as exc:
                log.warning("codelab: the lease guard could not pull %s: %s", instance_id, exc)
        return started

    async def close(self, wait: float = 5.0) -> None:
        """Cancel the guard loop and every job (a job stops between chunks), wait a bounded time."""
        if self._guard_task is not None:
            self._guard_task.cancel()
        for job in self._running.values():
            job.cancel.set()
        pending = [t for t in (*self._tasks, self._guard_task) if t is not None and not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=wait)


def waiting_of(status: Mapping[str, Any]) -> dict[str, Any]:
    """What waits on each side (paths), from a :class:`codelab_ext.workspace.WorkspaceStatus`'s JSON."""

    def side(name: str) -> list[str]:
        part = status.get(name) or {}
        paths: set[str] = set()
        for key in ("changed", "added", "deleted"):
            paths.update(str(p) for p in part.get(key) or [])
        return sorted(paths)

    return {
        "local": side("local"),
        "remote": side("remote"),
        "conflicts": sorted(str(p) for p in status.get("conflicts") or []),
    }


def take_leave_files(body: dict[str, Any]) -> bool:
    """Remove and check the ``leave_files`` flag of a Stop or an open (True: stop without pulling)."""
    value = body.pop("leave_files", False)
    if not isinstance(value, bool):
        raise ValidationError(tr("'leave_files' must be true or false."), field="leave_files")
    return value

"""The instance's kernels as kernelspecs of this Jupyter server, while the instance is RUNNING.

Mechanism: the server extension owns a private folder (under the Jupyter runtime folder) and adds it
to the server's ``KernelSpecManager.kernel_dirs``, the public list every kernelspec manager reads;
for each kernelspec of each RUNNING instance it writes ``codelab-<remote name>/kernel.json`` there
(display name ``<remote display name> (CodeLab)``, ``metadata.codelab.instance_id``,
``metadata.kernel_provisioner.provisioner_name: codelab``) and removes it when the instance stops.
No class of the server is replaced, other kernels are untouched, the folder goes with the server.
docs/architecture.md says why this over a KernelSpecManager subclass.

:func:`describe` is the one home of the name, display name and metadata: the server and
``jupyter codelab kernels`` both use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .instances import end_kernels
from .remote import RemoteError
from .transport import forget, open_jupyter

log = logging.getLogger("codelab_ext.kernels")

PREFIX = "codelab-"
PROVISIONER = "codelab"
#: an instance whose kernelspecs could not be read is read again after 1 s, then 2, 4, ... 60 s at the
#: most (each failed read of a Jupyter that does not answer costs the whole request_timeout); a read that
#: works, or the instance seen not RUNNING, starts it over
BACKOFF_FIRST = 1.0
BACKOFF_CAP = 60.0


def local_name(remote_name: str) -> str:
    """``codelab-<remote name>`` in the characters a kernelspec name may have."""
    return PREFIX + (re.sub(r"[^a-z0-9._-]+", "-", remote_name.lower()).strip("-") or "kernel")


def describe(
    instance: dict[str, Any], remote_name: str, remote: dict[str, Any], transport: str = "direct"
) -> dict[str, Any]:
    """The local kernelspec (``kernel.json`` content) of the instance's kernelspec ``remote_name``
    (``transport``: how the instance's Jupyter server is reached, see :mod:`.transport`)."""
    spec = remote.get("spec") if isinstance(remote.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    metadata = {k: v for k, v in (spec.get("metadata") or {}).items() if k != "kernel_provisioner"}
    display = str(spec.get("display_name") or remote_name)
    metadata["codelab"] = {
        "instance_id": str(instance.get("id") or ""),
        "instance_name": str(instance.get("name") or ""),
        "remote_kernel": remote_name,
        "transport": transport,
    }
    metadata["kernel_provisioner"] = {"provisioner_name": PROVISIONER, "config": {}}
    return {
        "argv": [],
        "display_name": f"{display} (CodeLab)",
        "language": str(spec.get("language") or ""),
        "interrupt_mode": "signal",  # interrupts go over REST (the provisioner's send_signal)
        "env": {},
        "metadata": metadata,
    }


async def instance_kernelspecs(instance: dict[str, Any], config: Any) -> dict[str, dict[str, Any]]:
    """``{local name: kernel.json}`` for a RUNNING instance (asks its Jupyter server, direct or through
    its SSH endpoint as :mod:`.transport` decides; ``config``: the CodeLab settings)."""
    url, token = instance.get("url"), instance.get("token")
    if not url or not token:
        return {}
    remote = await open_jupyter(instance, config)
    try:
        specs = await remote.kernelspecs()
    finally:
        remote.close()
    return {
        local_name(name): describe(instance, name, value, remote.transport)
        for name, value in sorted(specs.items())
    }


def _not_running(instance: dict[str, Any]) -> None:
    """The instance is seen not RUNNING: its kernels end now with the reason, and its SSH connection,
    if any, closes."""
    end_kernels(instance)
    forget(str(instance.get("id") or ""))


@dataclass
class _Backoff:
    """The reads of one instance's kernelspecs that failed in a row, and when the next may be made."""

    failures: int = 0
    until: float = 0.0
    #: the read made again once ``until`` comes (without waiting for the next round)
    retry: asyncio.TimerHandle | None = None


class KernelSpecSync:
    """Keeps the server's CodeLab kernelspecs in step with the RUNNING instances (one poll task)."""

    def __init__(self, service: Any, kernel_spec_manager: Any, *, runtime_dir: str | None = None) -> None:
        self.service = service
        self.ksm = kernel_spec_manager
        base = runtime_dir if runtime_dir and os.path.isdir(runtime_dir) else None
        self.folder = tempfile.mkdtemp(prefix="codelab-kernels-", dir=base)
        os.chmod(self.folder, 0o700)
        if self.folder not in self.ksm.kernel_dirs:
            self.ksm.kernel_dirs.append(self.folder)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        #: the kernelspecs written now: {local name: instance id}
        self.written: dict[str, str] = {}
        self.last_error: str | None = None
        self._followers: set[asyncio.Task[None]] = set()
        self._backoff: dict[str, _Backoff] = {}
        #: instances whose kernelspecs are being read now (a second read waits for the next chance)
        self._reading: set[str] = set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def on_instance(self, instance: dict[str, Any]) -> None:
        """An action's answer or a watcher's poll: follow that instance at once (no ModelArts call)."""
        task = asyncio.ensure_future(self._follow(instance))
        self._followers.add(task)
        task.add_done_callback(self._followers.discard)

    async def _follow(self, instance: dict[str, Any]) -> None:
        instance_id = str(instance.get("id") or "")
        try:
            specs: dict[str, dict[str, Any]] = {}
            if str(instance.get("status") or "").upper() == "RUNNING":
                read = await self._read(instance)
                if read is None:
                    return  # backing off: what is offered stays, the retry follows it
                specs = read
            else:
                self._not_running(instance)
            for name, spec in specs.items():
                self._write(name, spec)
            for name, owner in list(self.written.items()):
                if owner == instance_id and name not in specs:
                    self._remove(name)
        except Exception as exc:  # the periodic refresh tries again
            log.info("CodeLab kernelspecs of %s not followed: %s", instance_id, exc)

    async def _run(self) -> None:
        # the first look after one period: an action or a watched instance is followed at once anyway
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), float(self.service.config.kernel_specs_poll_seconds))
        while True:
            try:
                watched = self._watched()
                if watched and set(self.written.values()) <= set(watched):
                    await self._catch_up(watched)
                else:
                    await self.refresh()
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never dies silently: logged, kept, retried on the next round
                self.last_error = str(exc)
                log.warning("CodeLab kernelspecs not refreshed: %s", exc)
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), float(self.service.config.kernel_specs_poll_seconds)
                )

    def _watched(self) -> dict[str, dict[str, Any]]:
        """The instances the watchers follow, as their last poll saw them: {id: instance}."""
        hub = getattr(self.service, "watchers", None)
        return {
            w.instance_id: w.latest for w in getattr(hub, "watchers", {}).values() if w.latest is not None
        }

    async def _catch_up(self, watched: dict[str, dict[str, Any]]) -> None:
        """The round while the watchers follow every instance offered (and one at least): each change
        their polls find reaches :meth:`on_instance`, so nothing is asked of ModelArts (a steady
        RUNNING instance costs the watcher's polls alone). A RUNNING instance none of whose kernels
        is offered (its Jupyter did not answer yet when it turned RUNNING, or a read failed) is read
        again, from the watcher's copy: its kernels appear without waiting for another change."""
        offered = set(self.written.values())
        for instance_id, instance in watched.items():
            if instance_id not in offered and str(instance.get("status") or "").upper() == "RUNNING":
                await self._follow(instance)

    async def refresh(self) -> dict[str, str]:
        """Write the kernelspecs of the RUNNING instances and remove the others: {name: instance id}."""
        from ..errors import CredentialsError

        try:
            configured = self.service.resolve_credentials() is not None
        except CredentialsError:
            configured = False
        wanted: dict[str, dict[str, Any]] = {}
        keep_instances: set[str] = set()
        if configured:
            for instance in await self.service.list_instances():
                if str(instance.get("status") or "").upper() != "RUNNING":
                    self._not_running(instance)
                    continue
                if self._backing_off(str(instance.get("id") or "")):
                    keep_instances.add(str(instance.get("id")))  # as they are until its retry
                    continue
                full = instance
                if not instance.get("url") or not instance.get("token"):
                    full = await self.service.fetch_instance(str(instance.get("id")))
                try:
                    specs = await self._read(full)
                except RemoteError as exc:
                    log.info("CodeLab kernelspecs of %s not read: %s", instance.get("id"), exc.message)
                    specs = None
                if specs is None:
                    keep_instances.add(str(instance.get("id")))  # a blip does not remove them
                    continue
                wanted.update(specs)
        for name, spec in wanted.items():
            self._write(name, spec)
        for name in list(self.written):
            if name not in wanted and self.written[name] not in keep_instances:
                self._remove(name)
        return dict(self.written)

    def _backing_off(self, instance_id: str) -> bool:
        """Whether a read of the instance's kernelspecs must wait now (its back-off, or one under way)."""
        backoff = self._backoff.get(instance_id)
        waiting = backoff is not None and asyncio.get_running_loop().time() < backoff.until
        return waiting or instance_id in self._reading

    async def _read(self, instance: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
        """The kernelspecs of a RUNNING instance (:func:`instance_kernelspecs`), or None while it backs
        off. Every read goes through here: one that fails (raised as it came) backs the instance off
        and has it read again when the back-off ends; one that works ends the back-off."""
        instance_id = str(instance.get("id") or "")
        if self._backing_off(instance_id):
            return None
        self._reading.add(instance_id)
        try:
            specs = await instance_kernelspecs(instance, self.service.config)
        except Exception:
            self._back_off(instance)
            raise
        finally:
            self._reading.discard(instance_id)
        self._end_backoff(instance_id)
        return specs

    def _back_off(self, instance: dict[str, Any]) -> None:
        instance_id = str(instance.get("id") or "")
        backoff = self._backoff.setdefault(instance_id, _Backoff())
        delay = min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** min(backoff.failures, 16))
        backoff.failures += 1
        loop = asyncio.get_running_loop()
        backoff.until = loop.time() + delay
        if backoff.retry is not None:
            backoff.retry.cancel()
        # from this copy, as a watcher's poll would: the instance's Jupyter is asked, ModelArts is not
        # (a round or a watcher that sees the instance stopped ends this)
        backoff.retry = loop.call_later(delay, self.on_instance, dict(instance))
        log.info("CodeLab kernelspecs of %s read again in %g s", instance_id, delay)

    def _end_backoff(self, instance_id: str) -> None:
        backoff = self._backoff.pop(instance_id, None)
        if backoff is not None and backoff.retry is not None:
            backoff.retry.cancel()

    def _not_running(self, instance: dict[str, Any]) -> None:
        self._end_backoff(str(instance.get("id") or ""))
        _not_running(instance)

    def _write(self, name: str, spec: dict[str, Any]) -> None:
        folder = Path(self.folder) / name
        folder.mkdir(mode=0o700, exist_ok=True)
        target = folder / "kernel.json"
        text = json.dumps(spec, indent=1, sort_keys=True)
        if target.exists() and target.read_text() == text:
            self.written[name] = spec["metadata"]["codelab"]["instance_id"]
            return
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".kernel.", suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, target)
        self.written[name] = spec["metadata"]["codelab"]["instance_id"]
        log.info("CodeLab kernel %s offered (instance %s)", name, self.written[name])

    def _remove(self, name: str) -> None:
        shutil.rmtree(Path(self.folder) / name, ignore_errors=True)
        self.written.pop(name, None)
        log.info("CodeLab kernel %s withdrawn (its instance is not running)", name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        for instance_id in list(self._backoff):
            self._end_backoff(instance_id)
        for follower in list(self._followers):
            follower.cancel()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(ValueError):
            self.ksm.kernel_dirs.remove(self.folder)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.written.clear()

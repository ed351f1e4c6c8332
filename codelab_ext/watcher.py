"""One adaptive upstream poll per watched instance, fanned out to every subscriber.

The policy (:func:`next_poll_delay`) is plain arithmetic shared by the server and the
CLI: about one second while the instance is changing, backing off to about thirty
seconds while it is steady, and waking just after the lease would expire.

:class:`WatcherHub` is the asyncio side used by the server: one :class:`Watcher` task
per instance id, created by the first subscriber and ended when the last one leaves.
Every subscriber gets each *changed* instance snapshot. Any action through the
extension calls :meth:`WatcherHub.poke`, which makes the poll happen at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from .errors import CodeLabError, NotFoundError, UpstreamError
from .i18n import tr
from .models import is_settled
from .shapes import WatchEvent

log = logging.getLogger(__name__)

FAST_DELAY = 1.0
MAX_STEADY_DELAY = 30.0
ERROR_DELAY_CAP = 30.0


def is_changing(instance: Mapping[str, Any] | None) -> bool:
    """True while the instance is on its way somewhere or a start-up step is not finished.

    The status rule is :func:`codelab_ext.models.is_settled` (an unknown ``...ING`` status counts
    as changing), so the server's poller and the CLI agree with the client library.
    """
    if not instance:
        return False
    if instance.get("status") and not is_settled(instance):
        return True
    for step in instance.get("action_progress") or []:
        if isinstance(step, dict) and str(step.get("status") or "").upper() in ("WAITING", "PROCESSING"):
            return str(instance.get("status") or "").upper() not in ("RUNNING", "STOPPED")
    return False


def next_poll_delay(
    instance: Mapping[str, Any] | None,
    steady_polls: int,
    *,
    now_ms: float | None = None,
    fast: float = FAST_DELAY,
    cap: float = MAX_STEADY_DELAY,
) -> float:
    """Seconds until the next upstream poll.

    ``steady_polls`` counts the polls in a row that saw a steady, unchanged instance:
    the delay doubles with each (1, 2, 4, 8, 16, 30, 30 ... seconds). Near the end of a
    RUNNING instance's lease the delay is cut so the poll lands just after expiry.
    """
    if is_changing(instance):
        return fast
    delay = min(cap, fast * (2 ** max(0, min(steady_polls, 10))))
    if instance and str(instance.get("status") or "").upper() == "RUNNING":
        lease = instance.get("lease") or {}
        expires_at = lease.get("expires_at") if isinstance(lease, dict) else None
        if isinstance(expires_at, (int, float)) and not isinstance(expires_at, bool):
            now = time.time() * 1000 if now_ms is None else now_ms
            until_expiry = (expires_at - now) / 1000.0
            if until_expiry < delay:
                delay = max(fast, until_expiry + 0.5)
    return delay


def fingerprint(instance: Mapping[str, Any]) -> str:
    """What counts as a change: everything but the ticking ``remaining_ms``."""
    lease = instance.get("lease")
    if isinstance(lease, dict) and "remaining_ms" in lease:
        instance = {**instance, "lease": {k: v for k, v in lease.items() if k != "remaining_ms"}}
    return json.dumps(instance, sort_keys=True, default=str)


Fetch = Callable[[str], Awaitable[dict[str, Any]]]


class Subscription:
    """One listener: an asyncio queue of events (``("instance", dict)`` or ``("error", dict)``)."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self.queue: asyncio.Queue[WatchEvent] = asyncio.Queue(maxsize=64)

    def put(self, event: WatchEvent) -> None:
        # a slow reader only ever needs the newest state: drop the oldest
        while True:
            try:
                self.queue.put_nowait(event)
                return
            except asyncio.QueueFull:
                with contextlib.suppress(asyncio.QueueEmpty):
                    self.queue.get_nowait()

    async def get(self, timeout: float | None = None) -> WatchEvent | None:
        """The next event, or None after ``timeout`` seconds."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except asyncio.TimeoutError:
            return None

    def close(self) -> None:
        self.watcher.unsubscribe(self)


class Watcher:
    """The poll loop of one instance."""

    def __init__(self, hub: WatcherHub, instance_id: str) -> None:
        self.hub = hub
        self.instance_id = instance_id
        self.subscribers: set[Subscription] = set()
        self.latest: dict[str, Any] | None = None
        self.latest_error: dict[str, Any] | None = None
        self._fingerprint: str | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.polls = 0

    def subscribe(self) -> Subscription:
        sub = Subscription(self)
        self.subscribers.add(sub)
        # a late subscriber sees what the others saw: the newest state, then the error still standing
        # (an unchanged error is not sent again, so without this it would never learn of it)
        if self.latest is not None:
            sub.put(("instance", self.latest))
        if self.latest_error is not None:
            sub.put(("error", self.latest_error))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"codelab-watch-{self.instance_id}"
            )
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)
        if not self.subscribers:
            self.stop()

    def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None
        self.hub._forget(self)

    def poke(self) -> None:
        self._wake.set()

    def publish(self, instance: dict[str, Any]) -> bool:
        """Take a fresh snapshot (from a poll or an action's answer); fan it out if it changed.

        After an error it is fanned out even when unchanged: that event clears the error (the panel
        and ``jupyter codelab open`` drop the error they show when an instance arrives).
        """
        recovered = self.latest_error is not None
        self.latest_error = None
        fp = fingerprint(instance)
        if fp == self._fingerprint and not recovered:
            self.latest = instance
            return False
        self._fingerprint = fp
        self.latest = instance
        for sub in list(self.subscribers):
            sub.put(("instance", instance))
        self.hub._tell_listeners(instance)
        return True

    def _publish_error(self, error: CodeLabError) -> None:
        body = error.to_json()
        body["status"] = error.status
        if body != self.latest_error:
            self.latest_error = body
            for sub in list(self.subscribers):
                sub.put(("error", body))

    async def _poll(self, steady: int) -> tuple[float, int]:
        """One poll, its comparison and its publishing: (seconds to the next poll, steady count)."""
        instance = await self.hub.fetch(self.instance_id)
        self.polls += 1
        changed = self.publish(instance)
        steady = 0 if (changed or is_changing(instance)) else steady + 1
        return next_poll_delay(instance, steady), steady

    async def _run(self) -> None:
        """Poll until the last subscriber leaves. Nothing ends this loop but cancellation: any failure
        of a poll, its comparison or its publishing is one log line and an ``upstream-error`` event,
        and the next poll comes after a growing delay."""
        steady = 0
        failures = 0
        try:
            while self.subscribers:
                self._wake.clear()
                try:
                    delay, steady = await self._poll(steady)
                    failures = 0
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    failures += 1
                    delay = min(ERROR_DELAY_CAP, FAST_DELAY * 2**failures)
                    if isinstance(exc, CodeLabError):
                        error = exc
                        log.warning("codelab: polling instance %s failed: %s", self.instance_id, exc)
                        if isinstance(exc, NotFoundError):
                            delay = MAX_STEADY_DELAY
                    else:  # a bug or an answer no rule foresaw: say it in one line, keep polling
                        error = UpstreamError(
                            tr(
                                "Polling the instance failed ({error_type}); retrying",
                                error_type=type(exc).__name__,
                            )
                        )
                        log.warning(
                            "codelab: polling instance %s failed (%s); retrying in %.0f s",
                            self.instance_id,
                            type(exc).__name__,
                            delay,
                        )
                    try:
                        self._publish_error(error)
                    except Exception:  # an error body that cannot even be built: still never die
                        log.warning("codelab: cannot report the polling error of %s", self.instance_id)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
        except asyncio.CancelledError:
            pass


class WatcherHub:
    """All watchers of one server: ``subscribe(id)`` starts or joins the poll of that instance."""

    def __init__(self, fetch: Fetch) -> None:
        self.fetch = fetch
        self.watchers: dict[str, Watcher] = {}
        #: called with every instance an action answered or a poll found changed (the kernelspecs)
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    def subscribe(self, instance_id: str) -> Subscription:
        watcher = self.watchers.get(instance_id)
        if watcher is None:
            watcher = self.watchers[instance_id] = Watcher(self, instance_id)
        return watcher.subscribe()

    def publish(self, instance: dict[str, Any]) -> None:
        """An action answered with a fresh instance: share it and poll again soon."""
        watcher = self.watchers.get(str(instance.get("id")))
        if watcher is not None:
            watcher.publish(instance)
            watcher.poke()
        else:
            self._tell_listeners(instance)

    def _tell_listeners(self, instance: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            try:
                listener(instance)
            except Exception:  # a listener never breaks a poll or an action
                log.warning("codelab: an instance listener failed", exc_info=True)

    def announce(self, instance_id: str, kind: Literal["workspace"], data: dict[str, Any]) -> None:
        """Fan another kind of event out to the viewers of an instance (e.g. ``workspace``, a transfer's
        progress); nothing is kept for later subscribers, and nobody watching is fine."""
        watcher = self.watchers.get(instance_id)
        if watcher is not None:
            for sub in list(watcher.subscribers):
                sub.put((kind, data))

    def poke(self, instance_id: str | None = None) -> None:
        for wid, watcher in list(self.watchers.items()):
            if instance_id is None or wid == instance_id:
                watcher.poke()

    def _forget(self, watcher: Watcher) -> None:
        if self.watchers.get(watcher.instance_id) is watcher:
            del self.watchers[watcher.instance_id]

    def tasks(self) -> list[asyncio.Task[None]]:
        """The poll tasks still running (what :meth:`close` cancels)."""
        return [w._task for w in self.watchers.values() if w._task is not None and not w._task.done()]

    def close(self) -> None:
        """Stop every poll and tell every subscriber (an open event stream ends)."""
        for watcher in list(self.watchers.values()):
            for sub in list(watcher.subscribers):
                sub.put(("closed", {}))
            watcher.subscribers.clear()
            watcher.stop()

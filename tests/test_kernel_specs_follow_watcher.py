"""The CodeLab kernelspecs follow the watcher of a watched instance instead of asking ModelArts again.

Real parts: a pytest-jupyter server with codelab_ext whose kernelspec round comes every 0.2 s (a fast
clock for the sync: a 60 s steady minute holds two rounds at the default 30 s), the emulator with a
RUNNING instance served by a real Jupyter server, and a subscriber of the instance's watcher (what
the event stream of an open panel holds). The emulator counts what reaches "ModelArts" per route.
The back-off of an instance whose Jupyter does not answer is tested here too (the same harness).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import pytest

from codelab_ext.kernels import specs as specs_module

from .support.server_config import emulator_server_config

pytestmark = pytest.mark.slow

ROUND = 0.2  # seconds between two rounds of the kernelspec sync
WINDOW = 2.0  # ten rounds


@pytest.fixture
def settings() -> dict[str, Any]:
    """CodeLab settings of the server beside the sync's (a test parametrizes it for its own)."""
    return {"request_timeout": 10.0}


@pytest.fixture
def jp_server_config(live_emulator, tmp_path, monkeypatch, settings):
    return emulator_server_config(
        live_emulator,
        monkeypatch,
        tmp_path,
        kernel_specs=True,
        kernel_specs_poll_seconds=ROUND,
        **settings,
    )


def codelab_app(serverapp: Any) -> Any:
    return next(iter(serverapp.extension_manager.extension_apps["codelab_ext"]))


async def until(predicate: Any, timeout: float = 30.0) -> float:
    """Wait for ``predicate``: the seconds it took."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "not reached in time"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_a_watched_steady_instance_costs_the_watchers_polls_alone(
    jp_serverapp, running_instance, live_emulator
):
    app = codelab_app(jp_serverapp)
    specs, hub = app.kernel_specs, app.service.watchers
    await specs.refresh()
    assert set(specs.written.values()) == {running_instance.id}, "its kernels are offered"

    sub = hub.subscribe(running_instance.id)
    try:
        first = await sub.get(timeout=30)
        assert first is not None
        event, data = first
        assert (event, data["id"], data["status"]) == ("instance", running_instance.id, "RUNNING")
        watcher = hub.watchers[running_instance.id]
        live_emulator.reset_stats()
        polls = watcher.polls
        await asyncio.sleep(WINDOW)
        stats = live_emulator.stats()
        polls = watcher.polls - polls
        # ten rounds of the sync went by: none listed the instances nor showed one again
        assert stats.get("list", 0) == 0, stats
        assert stats.get("show", 0) == polls, (stats, polls)
        assert stats["total"] == polls, stats
        assert set(specs.written.values()) == {running_instance.id}, "still offered"
        assert specs.last_error is None
    finally:
        sub.close()

    # nobody watches any more: the rounds ask ModelArts again (what a closed panel leaves to them)
    await until(lambda: running_instance.id not in hub.watchers)
    live_emulator.reset_stats()
    await until(lambda: live_emulator.stats().get("list", 0) >= 2)
    assert set(specs.written.values()) == {running_instance.id}


async def test_a_watched_instance_whose_kernels_could_not_be_read_is_read_again(
    jp_serverapp, running_instance, live_emulator
):
    """Its Jupyter not answering when the watcher first saw it RUNNING must not leave it without
    kernels for as long as it is watched (nothing about the instance changes afterwards, so no poll
    would follow it again): the rounds read it again from the watcher's copy, asking ModelArts
    nothing."""
    app = codelab_app(jp_serverapp)
    specs, hub = app.kernel_specs, app.service.watchers
    pid = live_emulator.workspace(running_instance.id)["server"]["pid"]
    os.kill(pid, signal.SIGSTOP)  # its Jupyter answers nothing: the read ends at request_timeout
    try:
        sub = hub.subscribe(running_instance.id)
        try:
            assert await sub.get(timeout=30) is not None
            assert specs._followers, "the watcher's first poll is followed"
            await until(lambda: not specs._followers, timeout=60)  # and that follow failed
            assert running_instance.id not in specs.written.values()
            live_emulator.reset_stats()
            os.kill(pid, signal.SIGCONT)
            await until(lambda: running_instance.id in specs.written.values(), timeout=60)
            assert live_emulator.stats().get("list", 0) == 0, "read again, from the watcher's copy"
        finally:
            sub.close()
    finally:
        os.kill(pid, signal.SIGCONT)


STALLED_READ = 1.0  # request_timeout: what a read of a stopped Jupyter server costs
BACKOFF_WINDOW = 16.0  # without a back-off, one read every STALLED_READ + ROUND: a dozen or more


@pytest.mark.parametrize("settings", [{"request_timeout": STALLED_READ, "kernel_transport": "direct"}])
async def test_an_instance_whose_jupyter_does_not_answer_is_backed_off_then_picked_up(
    live_emulator, running_instance, jp_serverapp, monkeypatch
):
    """Its Jupyter server stopped with SIGSTOP (its socket still accepts connections, nothing answers:
    each read waits the whole request_timeout) is read again after 1, 2, 4, ... s, not at every round;
    continued, it is offered when its back-off ends. The reads are counted by wrapping the sync's own
    reader, which still makes the real call."""
    specs = codelab_app(jp_serverapp).kernel_specs
    reads: list[tuple[float, str]] = []  # (when it ended, "ok" or the error's type)
    real = specs_module.instance_kernelspecs

    async def counted(instance: dict[str, Any], config: Any) -> dict[str, dict[str, Any]]:
        try:
            found = await real(instance, config)
        except BaseException as exc:
            reads.append((time.monotonic(), type(exc).__name__))
            raise
        reads.append((time.monotonic(), "ok"))
        return found

    monkeypatch.setattr(specs_module, "instance_kernelspecs", counted)
    pid = live_emulator.workspace(running_instance.id)["server"]["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        await until(lambda: any(outcome != "ok" for _, outcome in reads), timeout=30)
        # the rounds keep what was offered through a blip; start from nothing offered to see it appear
        for name, owner in list(specs.written.items()):
            if owner == running_instance.id:
                specs._remove(name)
        first_failure = next(when for when, outcome in reads if outcome != "ok")
        await asyncio.sleep(BACKOFF_WINDOW)
        end = first_failure + BACKOFF_WINDOW
        window = [outcome for when, outcome in reads if first_failure < when <= end]
        assert "ok" not in window, window
        # 1, 2, 4, 8 s of back-off after a failure: the next reads fail about 2, 5 and 10 s after the
        # first (with STALLED_READ 1 s); without a back-off a read would fail every STALLED_READ + ROUND
        print(f"reads in the {BACKOFF_WINDOW} s window: {len(window)}")
        assert 1 <= len(window) <= 6, f"{len(window)} reads in {BACKOFF_WINDOW} s: {window}"
        assert running_instance.id not in specs.written.values()
        assert specs._task is not None and not specs._task.done(), "the sync goes on"
    finally:
        os.kill(pid, signal.SIGCONT)
    # answering again: read when its back-off ends (8 s at this point), not after a cap or never
    took = await until(lambda: running_instance.id in specs.written.values(), timeout=60)
    assert took < 16 + STALLED_READ + 10, took
    assert reads[-1][1] == "ok"
    assert "codelab-python3" in specs.written

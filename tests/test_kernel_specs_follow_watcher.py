"""The CodeLab kernelspecs follow the watcher of a watched instance instead of asking ModelArts again.

Real parts: a pytest-jupyter server with codelab_ext whose kernelspec round comes every 0.2 s (a fast
clock for the sync: a 60 s steady minute holds two rounds at the default 30 s), the emulator with a
RUNNING instance served by a real Jupyter server, and a subscriber of the instance's watcher (what
the event stream of an open panel holds). The emulator counts what reaches "ModelArts" per route.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import pytest

from .support.server_config import emulator_server_config

pytestmark = pytest.mark.slow

ROUND = 0.2  # seconds between two rounds of the kernelspec sync
WINDOW = 2.0  # ten rounds


@pytest.fixture
def jp_server_config(live_emulator, tmp_path, monkeypatch):
    return emulator_server_config(
        live_emulator,
        monkeypatch,
        tmp_path,
        request_timeout=10.0,
        kernel_specs=True,
        kernel_specs_poll_seconds=ROUND,
    )


def codelab_app(serverapp: Any) -> Any:
    return next(iter(serverapp.extension_manager.extension_apps["codelab_ext"]))


async def until(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.05)


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

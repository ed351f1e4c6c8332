"""Restarts: the Jupyter server stops and comes back while the instance is starting; nothing is lost.

A REAL ``jupyter server`` subprocess (A) opens the instance on an emulator whose clock the test moves
(frozen otherwise). Mid-way through the start-up steps, A is stopped (SIGTERM) while a panel listens on
its event stream; a new server (B) starts on the same port, same emulator, same stored credentials. Then:

* the panel's reattach path on B (``GET instances`` then ``GET instances/{id}/events``) shows the
  instance in exactly the state the emulator has (status and each step), then follows it to RUNNING;
* the CLI (``jupyter codelab show ID``) shows that same state, and ``jupyter codelab open`` reattaches:
  it finds the same instance (no second one, no restart of it) and follows it to RUNNING (exit 0).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codelab_ext.emulator.testing import EmulatorHandle, running_emulator

from .support.cli import REPO, cli_argv, cli_env, run_cli
from .support.processes import ServerProcess, free_port, record_figures
from .support.server_config import emulator_settings, store_demo_credentials
from .support.sse import SSEStream

pytestmark = pytest.mark.slow


@pytest.fixture
def emulator() -> Iterator[EmulatorHandle]:
    with running_emulator(speed=0.0) as handle:  # frozen: the test moves the clock
        yield handle


def _steps(instance: dict[str, Any]) -> list[tuple[int, str]]:
    return [(int(step["step"]), str(step["status"])) for step in instance["action_progress"]]


def _emulated(emulator: EmulatorHandle) -> dict[str, Any]:
    (instance,) = emulator.instances()
    return instance


async def _first_instance_event(stream: SSEStream) -> dict[str, Any]:
    event, data = await stream.next_event(timeout=15)
    assert event == "instance", (event, data)
    return data


async def _events_until_running(stream: SSEStream, emulator: EmulatorHandle) -> list[dict[str, Any]]:
    """Move the emulated clock forward while reading events until RUNNING."""
    seen: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        await loop.run_in_executor(None, emulator.advance, 2.0)
        try:
            event, data = await stream.next_event(timeout=1.5)
        except asyncio.TimeoutError:
            continue
        assert event == "instance", (event, data)
        seen.append(data)
        if data["status"] == "RUNNING":
            return seen
    raise AssertionError(f"no RUNNING event: {[d['status'] for d in seen]}")


def test_server_restart_while_the_instance_starts(tmp_path: Path, emulator: EmulatorHandle) -> None:
    port = free_port()
    creds = store_demo_credentials(tmp_path / "store" / "credentials.json")
    codelab = emulator_settings(emulator, creds, request_timeout=5.0)
    first = ServerProcess(tmp_path / "a", codelab=codelab, port=port, name="server-a").start()
    second = ServerProcess(tmp_path / "b", codelab=codelab, port=port, name="server-b")
    figures: dict[str, Any] = {}

    async def scenario() -> None:
        # A: the panel opens CodeLab and listens to its progress
        opened = first.api("POST", "open", body={})
        assert opened.status_code == 200, opened.text
        iid = opened.json()["id"]
        path = f"/codelab/instances/{iid}/events"
        auth = {"Authorization": f"token {first.token}"}
        stream_a = await SSEStream(port, path, auth).open()
        assert (await _first_instance_event(stream_a))["status"] == "CREATING"
        emulator.advance(12.0)  # steps 1-2 done, step 3 in progress: STARTING
        during = _emulated(emulator)
        assert during["status"] == "STARTING", during
        assert [s for _, s in _steps(during)] == ["COMPLETED", "COMPLETED", "PROCESSING", "WAITING"]

        # A goes away while the instance starts; the open event stream ends instead of hanging
        stopped_at = time.monotonic()
        code = await asyncio.get_running_loop().run_in_executor(None, first.stop)
        figures["server_a_exit_code"] = code
        figures["server_a_stop_s"] = round(time.monotonic() - stopped_at, 2)
        with pytest.raises((EOFError, ConnectionError, asyncio.IncompleteReadError)):
            for _ in range(100):  # heartbeats may still be buffered: read until the end
                await stream_a.next_block(timeout=5)
        await stream_a.close()

        # B comes up on the same port with the same settings
        started_at = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, second.start)
        figures["server_b_start_s"] = round(time.monotonic() - started_at, 2)
        truth = _emulated(emulator)

        # the panel's reattach: list the instances, then subscribe again
        listing = second.api("GET", "instances")
        assert listing.status_code == 200, listing.text
        (listed,) = listing.json()["instances"]
        assert listed["id"] == iid and listed["status"] == truth["status"]
        assert _steps(listed) == _steps(truth)
        stream_b = await SSEStream(port, path, {"Authorization": f"token {second.token}"}).open()
        first_b = await _first_instance_event(stream_b)
        assert first_b["id"] == iid
        assert (first_b["status"], _steps(first_b)) == (truth["status"], _steps(truth))

        # the CLI sees the same state, then reattaches with open while it still starts
        env = cli_env(tmp_path / "cli", emulator.url, credentials=True)
        shown = run_cli(env, "show", iid, "--json")
        assert shown.returncode == 0, shown.stderr
        cli_view = json.loads(shown.stdout)
        assert (cli_view["status"], _steps(cli_view)) == (truth["status"], _steps(truth))
        opens_before = emulator.stats().get("open", 0)
        reopen = subprocess.Popen(
            cli_argv("open", "--json"),
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            seen = await _events_until_running(stream_b, emulator)
            out, err = await asyncio.get_running_loop().run_in_executor(
                None, lambda: reopen.communicate(timeout=60)
            )
        finally:
            if reopen.poll() is None:
                reopen.kill()
        await stream_b.close()
        assert reopen.returncode == 0, err
        final = json.loads(out)
        assert final["id"] == iid and final["status"] == "RUNNING", final
        assert [s for _, s in _steps(seen[-1])] == ["COMPLETED"] * 4
        # one open per user action (the panel's, the CLI's), still one instance, never restarted
        assert emulator.stats().get("open", 0) == opens_before + 1
        (instance,) = emulator.instances()
        assert instance["id"] == iid and instance["status"] == "RUNNING"
        statuses = [event["status"] for event in seen]
        assert "STOPPING" not in statuses and "STOPPED" not in statuses, statuses
        figures["events_on_b_until_running"] = len(seen)
        assert "Traceback" not in second.log(), second.log()[-3000:]

    try:
        asyncio.run(scenario())
    finally:
        first.stop()
        second.stop()
    assert figures["server_a_exit_code"] == 0
    record_figures("restart", figures)

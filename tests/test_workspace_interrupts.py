"""An interrupted transfer leaves no half file in place of a good one, and the next run resumes it."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from codelab_ext.workspace import Cancelled, LinkStore, Workspace
from codelab_ext.workspace.contents import ContentsRemote

from .support.cli import cli_argv, cli_env, run_cli

MiB = 1024 * 1024


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_killing_the_cli_mid_push_keeps_the_old_file_and_the_next_push_resumes(
    running_instance: Any, live_emulator: Any, tmp_path: Path
) -> None:
    env = cli_env(tmp_path / "home", live_emulator.url, credentials=True)
    local = tmp_path / "kill"
    local.mkdir()
    big = local / "big.bin"
    # Given a first version already on the instance
    big.write_bytes(b"version one\n")
    first = run_cli(env, "push", str(local), "--json")
    assert first.returncode == 0, first.stderr
    remote = running_instance.work_dir / "kill" / "big.bin"
    part = remote.with_name("big.bin.codelab-part")
    assert remote.read_bytes() == b"version one\n"
    # When a 64 MiB second version is being pushed (8 MiB chunks) and the CLI is killed mid-way
    big.write_bytes(os.urandom(64 * MiB))
    process = subprocess.Popen(
        cli_argv("push", str(local), "--json"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        ends = time.monotonic() + 120
        while time.monotonic() < ends and process.poll() is None:
            if part.exists() and part.stat().st_size >= 8 * MiB:
                break
            time.sleep(0.01)
        assert process.poll() is None, "the push ended before it could be interrupted"
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)
    # Then the instance still has the whole first version under the real name, the rest is a part
    assert remote.read_bytes() == b"version one\n"
    assert part.exists() and 0 < part.stat().st_size < 64 * MiB
    # When pushed again, it goes on from the part and everything is verified
    again = run_cli(env, "push", str(local), "--json", timeout=300)
    assert again.returncode == 0, again.stderr
    answer = json.loads(again.stdout)
    assert answer["pushed"] == ["big.bin"] and answer["ok"] is True
    [resumed] = answer["resumed"]
    assert resumed["path"] == "big.bin" and resumed["bytes"] >= 8 * MiB
    assert _sha(remote) == _sha(big)
    assert not part.exists()


def test_a_cancelled_pull_leaves_the_local_file_whole_and_the_next_pull_resumes(
    running_instance: Any, tmp_path: Path
) -> None:
    store = LinkStore(tmp_path / "state" / "links.json")
    local = tmp_path / "cancel"
    local.mkdir()
    (local / "data.bin").write_bytes(b"old local version")
    link = store.put(running_instance.id, local)
    cancel = threading.Event()

    class CancelMidway(ContentsRemote):
        """The real route; the cancel is asked for once 2 MiB of a download arrived (every 256 KiB
        block looks at it), so the interruption falls mid-file whatever the machine's speed."""

        def download(self, path: str, part: Path, size: int, on_bytes: Any, stop: Any) -> int:
            got = [0]

            def counted(n: int) -> None:
                got[0] += n
                if got[0] >= 2 * MiB:
                    cancel.set()
                on_bytes(n)

            return super().download(path, part, size, counted, stop)

    route = CancelMidway(running_instance.url, running_instance.token)
    with Workspace(store, {"id": running_instance.id}, remote=route) as ws:
        assert ws.push(link).ok
        # Given the instance wrote a new 48 MiB version
        remote = running_instance.work_dir / "cancel" / "data.bin"
        remote.write_bytes(os.urandom(48 * MiB))
        # When the pull is cancelled after a few MiB
        with pytest.raises(Cancelled) as caught:
            ws.pull(link, cancel=cancel)
        assert caught.value.result is not None and not caught.value.result.ok
        cancel.clear()
        # Then the local file is still the old whole version; what arrived waits in a part file
        assert (local / "data.bin").read_bytes() == b"old local version"
        part = local / ".data.bin.codelab-part"
        assert part.exists() and 0 < part.stat().st_size < 48 * MiB
        # When pulled again, it goes on from the part
        result = ws.pull(link)
        assert result.ok, result.to_json()
        assert result.pulled == ["data.bin"]
        assert result.resumed and result.resumed[0]["bytes"] >= 2 * MiB
        assert _sha(local / "data.bin") == _sha(remote)
        assert not part.exists()

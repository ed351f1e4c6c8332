"""Shutdown with an open event stream: a REAL ``jupyter server`` (demo mode: embedded emulator), a
subscriber on the instance's event stream, then SIGTERM or SIGINT (Ctrl-C).

Nothing may be left: no traceback in the server's output (no "Event loop is closed"), the process
ends by itself, no child process survives it, and the demo's temporary folders (with the demo
credentials file) are gone.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from .support.processes import ServerProcess

pytestmark = pytest.mark.slow


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in (Path(f"/proc/{pid}/stat").read_text().split()[2])


def _open_stream(server: ServerProcess, instance_id: str) -> socket.socket:
    """An event stream held open by a raw socket (as a browser tab would), after its first event."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    request = (
        f"GET /codelab/instances/{instance_id}/events HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: token {server.token}\r\nAccept: text/event-stream\r\n\r\n"
    )
    sock.sendall(request.encode())
    data = b""
    while b"event: instance" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    return sock


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT"])
def test_shutdown_with_an_open_event_stream_leaves_nothing(tmp_path: Path, how: str) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    server = ServerProcess(
        tmp_path,
        codelab={"emulator": True, "emulator_speed": 200.0},
        env={"TMPDIR": str(temp)},
        name=f"shutdown-{how}",
    )
    server.start()
    try:
        response = server.api("POST", "open", body={})
        assert response.status_code == 200, response.text
        instance_id = response.json()["id"]
        demo_folders = sorted(p.name for p in temp.iterdir())
        assert any(name.startswith("codelab-emulator-") for name in demo_folders), demo_folders
        sock = _open_stream(server, instance_id)
        children = _children(server.pid)
        assert server.process is not None
        if how == "SIGTERM":
            server.process.send_signal(signal.SIGTERM)
        else:  # one Ctrl-C (no terminal: nothing is asked)
            server.process.send_signal(signal.SIGINT)
        try:
            code = server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server did not end within 30 s of {how}:\n{server.log()[-3000:]}")
        sock.close()
    finally:
        server.stop()
    log = server.log()
    assert "Traceback" not in log, log[-4000:]
    assert "Event loop is closed" not in log, log[-4000:]
    assert "Task was destroyed" not in log and "Exception ignored" not in log, log[-4000:]
    assert code in (0, -signal.SIGTERM, -signal.SIGINT), (code, log[-2000:])
    left = [pid for pid in children if _alive(pid)]
    assert not left, f"child processes left: {left}"
    assert sorted(p.name for p in temp.iterdir() if p.name.startswith("codelab")) == [], list(temp.iterdir())

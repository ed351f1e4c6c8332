"""Every call of the contents route has a total deadline: a server dribbling one byte at a time is cut off."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from codelab_ext.workspace import IgnoreRules, TransferFailed
from codelab_ext.workspace.contents import ContentsRemote


@pytest.fixture
def dribbler() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that announces a large answer and then sends a byte every 0.2 s."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
                )
                while not stop.is_set():
                    conn.sendall(b" ")
                    time.sleep(0.2)
            except OSError:
                return

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/instance/lab"
    finally:
        stop.set()
        thread.join(5)
        server.close()


def test_a_dribbled_listing_is_cut_off_at_its_deadline(dribbler: str) -> None:
    route = ContentsRemote(dribbler, "token", timeout=1.0)
    started = time.monotonic()
    with pytest.raises(TransferFailed) as caught:
        route.scan("/home/ma-user/work/p", IgnoreRules())
    assert "did not answer in time" in str(caught.value.message)
    assert time.monotonic() - started < 30  # 1 s deadline; generous for a loaded machine
    route.close()


def test_a_dribbled_download_is_cut_off_and_leaves_only_a_part(dribbler: str, tmp_path: Path) -> None:
    route = ContentsRemote(dribbler, "token", timeout=1.0, chunk_bytes=65536, min_rate=1024 * 1024)
    part = tmp_path / ".f.codelab-part"
    started = time.monotonic()
    with pytest.raises(TransferFailed):
        route.download("/home/ma-user/work/p/f", part, 100000, lambda n: None, None)
    assert time.monotonic() - started < 30
    assert not (tmp_path / "f").exists()
    route.close()

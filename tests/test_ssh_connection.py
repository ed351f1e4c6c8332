"""One SSH connection per instance and its port forward, against a real OpenSSH server on loopback."""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codelab_ext.ssh_connection import Pool, SshUnavailable

from .support.sshd import SshdHandle, start_sshd


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdHandle]:
    with start_sshd(tmp_path_factory.mktemp("pool-sshd")) as handle:
        yield handle


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[int]:
    """A loopback echo server: stands for the instance's Jupyter server behind the forward."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _instance(sshd: SshdHandle, instance_id: str = "i-pool") -> dict[str, Any]:
    return {
        "id": instance_id,
        "ssh": {"host": sshd.host, "port": sshd.port, "user": sshd.user, "key_pair_names": []},
    }


def _acquire(pool: Pool, sshd: SshdHandle, tmp_path: Path, instance_id: str = "i-pool") -> Any:
    return pool.acquire(
        _instance(sshd, instance_id),
        identity_file=str(sshd.client_key_path),
        known_hosts=str(tmp_path / f"{instance_id}.known_hosts"),
        timeout=10.0,
    )


def _round_trip(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)  # a half-close reaches the far side; the answer still comes back
        got = b""
        while chunk := sock.recv(65536):
            got += chunk
    return got


def test_one_connection_per_instance_carries_a_forward_and_comes_back_after_a_cut(sshd, echo, tmp_path):
    pool = Pool(linger=0.2)
    try:
        first, second = _acquire(pool, sshd, tmp_path), _acquire(pool, sshd, tmp_path)
        assert first.connection is second.connection and first.connection.users == 2
        assert len(pool.connections("i-pool")) == 1
        forward = first.connection.forward("127.0.0.1", echo)
        assert forward is second.connection.forward("127.0.0.1", echo), "one forward per target"
        payload = bytes(range(256)) * 4096  # 1 MiB, both ways
        assert _round_trip(forward.port, payload) == payload
        # the host key was recorded (accept-new) and is checked from now on
        assert (tmp_path / "i-pool.known_hosts").read_text().strip()

        # the transport dies: the next use opens the connection again, the forward goes on
        first.connection.cut()
        assert _round_trip(forward.port, b"after the cut") == b"after the cut"
        assert first.connection.connects == 2

        # given back by both: closed after the linger, the forward's port then refuses
        first.release()
        first.release()  # twice is once
        assert pool.connections("i-pool") != []
        second.release()
        for _ in range(100):
            if not pool.connections("i-pool") and forward.closed:
                break
            time.sleep(0.05)
        assert pool.connections("i-pool") == [] and forward.closed
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", forward.port), timeout=5).close()
    finally:
        pool.close_all()


def test_closing_an_instance_closes_its_connection_only(sshd, echo, tmp_path):
    pool = Pool(linger=60.0)
    try:
        mine, other = _acquire(pool, sshd, tmp_path, "i-a"), _acquire(pool, sshd, tmp_path, "i-b")
        forward = mine.connection.forward("127.0.0.1", echo)
        assert pool.close_instance("i-a") == 1
        assert mine.connection.closed and forward.closed
        assert pool.connections() == [other.connection]
        with pytest.raises(SshUnavailable):
            mine.connection.client()
        mine.release()  # after the close: harmless
    finally:
        pool.close_all()
    assert pool.connections() == []


def test_a_forward_to_a_closed_port_closes_the_local_connection(sshd, tmp_path):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # never listening
    pool = Pool(linger=0)
    try:
        lease = _acquire(pool, sshd, tmp_path)
        forward = lease.connection.forward("127.0.0.1", closed.getsockname()[1])
        try:
            answer = _round_trip(forward.port, b"anyone?")
        except ConnectionResetError:  # closed with our bytes unread: a reset
            answer = b""
        assert answer == b"", "refused inside the instance: the local connection is closed"
        lease.release()
    finally:
        pool.close_all()
        closed.close()


def test_a_refused_forward_is_logged_once_readably_and_not_as_paramikos_error(sshd, tmp_path, caplog):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # never listening: sshd's connect fails, it refuses the channel
    target = f"127.0.0.1:{closed.getsockname()[1]}"
    caplog.set_level(logging.DEBUG)
    pool = Pool(linger=0)
    try:
        lease = _acquire(pool, sshd, tmp_path)
        forward = lease.connection.forward("127.0.0.1", closed.getsockname()[1])
        for _ in range(3):  # a kernel's REST calls, one after the other
            try:
                _round_trip(forward.port, b"anyone?")
            except ConnectionResetError:
                pass
        lease.release()
    finally:
        pool.close_all()
        closed.close()
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.levelno for r in loud] == [logging.WARNING], [(r.name, r.getMessage()) for r in loud]
    said = loud[0].getMessage()
    assert target in said and "refused to forward" in said and "nothing accepted the connection" in said
    assert "ChannelException" not in said and loud[0].exc_info is None, "readable, no traceback"
    assert not any("open FAILED" in r.getMessage() for r in caplog.records), "paramiko's line is dropped"
    # what reaches the server's log (INFO and up) holds no line of the private key
    shown = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert not any(line in shown for line in sshd.client_key_path.read_text().splitlines()[1:-1])


def test_an_endpoint_that_refuses_is_said(tmp_path):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    instance = {
        "id": "i-x",
        "ssh": {"host": "127.0.0.1", "port": port, "user": "ma-user", "key_pair_names": []},
    }
    pool = Pool()
    try:
        with pytest.raises(SshUnavailable, match="SSH endpoint cannot be used"):
            pool.acquire(instance, known_hosts=str(tmp_path / "kh"), timeout=5.0)
        assert pool.connections() == [], "a failed connect leaves nothing behind"
    finally:
        closed.close()
        pool.close_all()

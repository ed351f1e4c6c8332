"""Looking up the host and the TLS handshake are inside the deadline of the call, like the rest of it.

* A stalled name lookup (``socket.getaddrinfo`` replaced below the network boundary: it never
  answers) ends at ``request_timeout`` with "ModelArts ... did not answer within N s", in the client,
  the server (504, and an ``upstream-error`` event for the watcher's subscribers) and the CLI (whose
  process then exits at once: a lookup still stuck in the resolver holds up nothing); a stalled
  resolver holds at most ``RESOLVER_THREADS`` threads however many calls wait on it.
* A real TLS peer on 127.0.0.1 that accepts the connection, reads the client's hello and then stalls
  or dribbles the handshake is cut at the deadline of the whole call, counting the time the lookup
  took, not at a fresh connect timeout after it.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from codelab_ext import NAMESPACE, transport
from codelab_ext.errors import UpstreamTimeout

from .support.server_config import emulator_server_config
from .support.sse import SSEStream
from .test_upstream_bounds_and_races import SLACK, TIMEOUT, _client, _running, next_event, strict_json

#: a host name whose lookup never answers
STALLED = "modelarts.stalled.test"
#: a host name whose lookup answers 127.0.0.1, slowly
SLOW = "modelarts.slow.test"


class Lookups:
    """``socket.getaddrinfo`` for the test's own names; every other name as the system answers it."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.slow_seconds = 0.0
        self.started = 0
        self._real = socket.getaddrinfo
        self._lock = threading.Lock()

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in (STALLED, SLOW):
            with self._lock:
                self.started += 1
        if host == STALLED:
            self.release.wait(120)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        if host == SLOW:
            time.sleep(self.slow_seconds)
            host = "127.0.0.1"
        return self._real(host, port, *args, **kwargs)


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lookups]:
    fake = Lookups()
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    yield fake
    fake.release.set()  # the lookups still stuck end (and give their resolver threads back)


class TLSPeer:
    """A TCP server on 127.0.0.1 that takes the TLS client hello and then never completes the handshake.

    ``stall``: it answers nothing. ``dribble``: it announces a 16 KiB handshake record and sends it one
    byte every 100 ms, so that no single read of the client ever waits long.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.hellos = 0
        self._stop = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                hello = conn.recv(65536)
                if hello[:1] == b"\x16":  # a TLS handshake record
                    self.hellos += 1
                if self.mode == "dribble":
                    conn.sendall(b"\x16\x03\x03\x40\x00")  # handshake record, TLS 1.2, 16 KiB
                    while not self._stop.wait(0.1):
                        conn.sendall(b"\x02")
                else:
                    self._stop.wait(60)
            except OSError:
                return  # the client closed the connection: what the deadline is for

    def close(self) -> None:
        self._stop.set()
        self._server.close()
        for thread in self._threads:
            thread.join(10)


@pytest.fixture(params=["stall", "dribble"])
def tls_peer(request: pytest.FixtureRequest) -> Iterator[TLSPeer]:
    peer = TLSPeer(request.param)
    yield peer
    peer.close()


def _timed_show(client: Any, iid: str) -> tuple[float, UpstreamTimeout]:
    started = time.monotonic()
    try:
        with pytest.raises(UpstreamTimeout) as info:
            client.get_instance(iid)
    finally:
        client.close()
    return time.monotonic() - started, info.value


# ============================================================================ the client


def test_a_stalled_lookup_ends_at_the_deadline_readably(emulator, lookups):
    iid = _running(emulator)
    client = _client(emulator, modelarts_endpoint=f"https://{STALLED}")
    elapsed, error = _timed_show(client, iid)
    assert lookups.started == 1
    assert TIMEOUT <= elapsed < TIMEOUT + SLACK, elapsed
    assert f"ModelArts at {STALLED} did not answer within 1 s" in error.message
    assert error.status == 504


def test_a_stalled_resolver_holds_a_bounded_number_of_threads(emulator, lookups):
    iid = _running(emulator)
    calls = 3 * transport.RESOLVER_THREADS
    outcomes: list[Any] = []

    def one() -> None:
        client = _client(emulator, modelarts_endpoint=f"http://{STALLED}")
        try:
            client.get_instance(iid)
        except UpstreamTimeout as exc:
            outcomes.append(exc)
        finally:
            client.close()

    started = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(calls)]
    for thread in threads:
        thread.start()
    time.sleep(TIMEOUT / 2)
    resolving = [t for t in threading.enumerate() if t.name == "codelab-resolve"]
    for thread in threads:
        thread.join(30)
    elapsed = time.monotonic() - started
    # every call ended at its own deadline, with or without a resolver thread of its own
    assert len(outcomes) == calls and all("did not answer within 1 s" in e.message for e in outcomes)
    assert elapsed < TIMEOUT + SLACK + 2, elapsed
    assert len(resolving) == transport.RESOLVER_THREADS
    assert lookups.started == transport.RESOLVER_THREADS


def test_a_tls_handshake_that_stalls_or_dribbles_ends_at_the_deadline_of_the_call(
    emulator, lookups, tls_peer
):
    iid = _running(emulator)
    timeout = 2.0
    # the lookup takes most of the call's time: the handshake gets what is left, not a fresh timeout
    lookups.slow_seconds = 0.75 * timeout
    client = _client(emulator, modelarts_endpoint=f"https://{SLOW}:{tls_peer.port}", timeout=timeout)
    elapsed, error = _timed_show(client, iid)
    assert tls_peer.hellos == 1  # the client got as far as the handshake
    assert timeout <= elapsed < timeout + SLACK, elapsed
    assert f"ModelArts at {SLOW}:{tls_peer.port} did not answer within 2 s" in error.message
    assert error.status == 504


# ============================================================================ the CLI

#: run the CLI with the lookup of {STALLED} stalled (below the network boundary, in the CLI's own process)
_STALLED_CLI = f"""
import runpy, socket, threading
real = socket.getaddrinfo
def stalled(host, *args, **kwargs):
    if host == {STALLED!r}:
        threading.Event().wait()
    return real(host, *args, **kwargs)
socket.getaddrinfo = stalled
runpy.run_module("codelab_ext.cli", run_name="__main__")
"""


def test_the_cli_ends_readably_and_exits_at_once_when_the_lookup_stalls(tmp_path, emulator):
    import subprocess
    import sys

    from .support.cli import REPO, cli_env

    iid = _running(emulator)
    env = cli_env(tmp_path, emulator.url, credentials=True, CODELAB_MODELARTS_ENDPOINT=f"http://{STALLED}")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", _STALLED_CLI, "show", iid, "--timeout", "1"],
        env=env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert f"ModelArts at {STALLED} did not answer within 1 s" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    # four attempts at most (three retries of a timed-out GET), each cut at 1 s, plus start-up; the
    # lookups still stuck did not keep the process alive
    assert elapsed < 4 * (1 + SLACK) + 8, elapsed


def test_the_cli_ends_readably_when_the_tls_handshake_stalls(tmp_path, emulator, tls_peer):
    from .support.cli import cli_env, run_cli

    iid = _running(emulator)
    endpoint = f"https://127.0.0.1:{tls_peer.port}"
    env = cli_env(tmp_path, emulator.url, credentials=True, CODELAB_MODELARTS_ENDPOINT=endpoint)
    started = time.monotonic()
    result = run_cli(env, "show", iid, "--timeout", "1", timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert f"ModelArts at 127.0.0.1:{tls_peer.port} did not answer within 1 s" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert tls_peer.hellos >= 1
    assert elapsed < 4 * (1 + SLACK) + 8, elapsed


# ============================================================================ the server and the watcher


@pytest.fixture
def jp_server_config(emulator, tmp_path, monkeypatch):
    return emulator_server_config(
        emulator,
        monkeypatch,
        tmp_path,
        project_id=emulator.project_id,
        modelarts_endpoint=f"http://{STALLED}",
        request_timeout=TIMEOUT,
        max_retries=0,
        images_cache_seconds=0.0,
    )


async def test_the_server_answers_504_and_the_watcher_reports_when_the_lookup_stalls(
    jp_fetch, jp_http_port, jp_base_url, jp_auth_header, emulator, lookups
):
    iid = await asyncio.get_running_loop().run_in_executor(None, _running, emulator)
    started = time.monotonic()
    response = await jp_fetch(NAMESPACE, "instances", iid, raise_error=False, request_timeout=60)
    elapsed = time.monotonic() - started
    body = strict_json(response.body.decode())
    assert response.code == 504, body
    assert f"ModelArts at {STALLED} did not answer within 1 s" in body["message"]
    assert elapsed < TIMEOUT + SLACK + 1, elapsed
    status = await jp_fetch(NAMESPACE, "status", request_timeout=10)
    assert status.code == 200

    sse = await SSEStream(
        jp_http_port, f"{jp_base_url}{NAMESPACE}/instances/{iid}/events", jp_auth_header
    ).open()
    try:
        assert sse.status == 200
        event, data = await next_event(sse, timeout=15)
        assert event == "upstream-error", (event, data)
        assert "did not answer within 1 s" in data["message"], data
    finally:
        await sse.close()

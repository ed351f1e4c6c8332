"""How the CodeLab kernels choose their way to an instance: direct, or through its SSH endpoint.

Real loopback parts where the decision meets the network: a small HTTP server answering what a
Jupyter server or a front proxy answers, ports that refuse connections, a real OpenSSH server.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from traitlets import TraitError

from codelab_ext.config import CodeLab
from codelab_ext.kernels import transport
from codelab_ext.kernels.remote import RemoteError
from codelab_ext.ssh_connection import POOL, parse_address

from .support.sshd import SshdHandle, start_sshd


@pytest.mark.parametrize("status", [599, 403, 407, 502, 503, 504])
def test_no_answer_and_a_front_proxys_refusals_are_refused(status):
    assert transport.direct_refused(RemoteError("x", http_status=status))


@pytest.mark.parametrize("status", [400, 401, 404, 409, 500])
def test_the_jupyter_servers_own_answers_are_not_refusals(status):
    # a bad token or a missing kernel would be the same through SSH: no reason to switch
    assert not transport.direct_refused(RemoteError("x", http_status=status))


@pytest.mark.parametrize(
    ("text", "address"),
    [("127.0.0.1:8888", ("127.0.0.1", 8888)), ("[::1]:9", ("::1", 9)), (" localhost:1 ", ("localhost", 1))],
)
def test_a_forward_target_is_host_and_port(text, address):
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["", "8888", "host:", ":80", "host:0", "host:65536", "host:8a"])
def test_a_forward_target_that_is_not_host_and_port_is_refused(text):
    with pytest.raises(ValueError):
        parse_address(text)
    with pytest.raises(TraitError):
        CodeLab(kernel_ssh_jupyter=text)


def test_the_transport_setting_takes_auto_direct_or_ssh():
    assert CodeLab().kernel_transport == "auto"
    assert CodeLab(kernel_transport=" SSH ").kernel_transport == "ssh"
    with pytest.raises(TraitError):
        CodeLab(kernel_transport="tunnel")


class _Answer(BaseHTTPRequestHandler):
    status = 200
    body = b""
    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def answering() -> Iterator[Any]:
    """``answering(status, body)``: the origin of a loopback HTTP server answering that to every GET."""
    servers: list[ThreadingHTTPServer] = []

    def start(status: int, body: bytes) -> SimpleNamespace:
        seen: list[str] = []
        handler = type("Handler", (_Answer,), {"status": status, "body": body, "seen": seen})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return SimpleNamespace(origin=f"http://127.0.0.1:{server.server_address[1]}", seen=seen)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))  # ~/.ssh of these instances
    transport._choices.clear()
    yield
    transport._choices.clear()


def _config(setting: str = "auto") -> Any:
    return SimpleNamespace(
        request_timeout=5.0,
        kernel_transport=setting,
        kernel_transport_memory_seconds=600.0,
        kernel_ssh_jupyter="127.0.0.1:8888",
    )


def _instance(origin: str, ssh_port: int | None) -> dict[str, Any]:
    ssh = None
    if ssh_port is not None:
        ssh = {"host": "127.0.0.1", "port": ssh_port, "user": "ma-user", "key_pair_names": []}
    return {"id": "i-1", "name": "nb", "url": f"{origin}/i-1/lab", "token": "t0ken", "ssh": ssh}


JUPYTER = json.dumps({"version": "2.14.0"}).encode()


async def test_direct_answers_and_is_remembered(answering, closed_port):
    server = answering(200, JUPYTER)
    first = await transport.open_jupyter(_instance(server.origin, closed_port), _config())
    again = await transport.open_jupyter(_instance(server.origin, closed_port), _config())
    assert first.transport == again.transport == "direct"
    assert first.base == f"{server.origin}/i-1/"
    assert server.seen == ["/i-1/api"], "probed once, then remembered"


async def test_without_an_ssh_endpoint_or_when_set_direct_nothing_is_probed(answering, closed_port):
    server = answering(403, b"")
    assert (await transport.open_jupyter(_instance(server.origin, None), _config())).transport == "direct"
    chosen = await transport.open_jupyter(_instance(server.origin, closed_port), _config("direct"))
    assert chosen.transport == "direct"
    assert server.seen == []


async def test_a_bad_token_is_said_not_taken_for_a_refusal(answering, closed_port):
    server = answering(401, b'{"message": "Forbidden"}')
    with pytest.raises(RemoteError) as caught:
        await transport.open_jupyter(_instance(server.origin, closed_port), _config())
    assert caught.value.http_status == 401
    assert transport.remembered("i-1") is None


@pytest.mark.parametrize(
    ("status", "body"), [(403, b"<html>denied</html>"), (503, b""), (200, b"<html>log in</html>")]
)
async def test_a_refusing_front_leads_to_ssh_and_both_reasons_are_said(answering, closed_port, status, body):
    server = answering(status, body)
    with pytest.raises(RemoteError) as caught:
        await transport.open_jupyter(_instance(server.origin, closed_port), _config())
    message = str(caught.value.message)
    assert "cannot be reached directly" in message and "SSH endpoint" in message
    assert "t0ken" not in message
    assert transport.remembered("i-1") is None, "after both failed, the next start asks again"


async def test_a_closed_direct_port_leads_to_ssh(closed_port):
    with pytest.raises(RemoteError) as caught:
        await transport.open_jupyter(_instance(f"http://127.0.0.1:{closed_port}", closed_port), _config())
    assert "SSH endpoint" in str(caught.value.message)


async def test_a_remembered_ssh_choice_goes_straight_to_ssh_until_forgotten(answering, closed_port):
    server = answering(200, JUPYTER)
    transport.remember("i-1", "ssh", 600.0, "refused")
    with pytest.raises(RemoteError):
        await transport.open_jupyter(_instance(server.origin, closed_port), _config("ssh"))
    assert server.seen == []
    transport.remember("i-1", "ssh", 600.0, "refused")
    assert transport.remembered("i-1") is not None
    assert transport.remembered("i-1", now=10**12) is None, "a choice is remembered for a while only"
    transport.forget("i-1")
    assert transport.remembered("i-1") is None
    chosen = await transport.open_jupyter(_instance(server.origin, closed_port), _config())
    assert chosen.transport == "direct"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdHandle]:
    with start_sshd(tmp_path_factory.mktemp("transport-sshd")) as handle:
        yield handle


def _ssh_instance(sshd: SshdHandle, home: Path, instance_id: str) -> dict[str, Any]:
    """An instance whose SSH endpoint is ``sshd``, its key pair in ~/.ssh/<key pair>.pem under ``home``."""
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True)
    key = ssh_dir / "KeyPair-transport.pem"
    shutil.copyfile(sshd.client_key_path, key)
    key.chmod(0o600)
    ssh = {"host": sshd.host, "port": sshd.port, "user": sshd.user, "key_pair_names": ["KeyPair-transport"]}
    return {"id": instance_id, "url": f"http://127.0.0.1:9/{instance_id}/lab", "token": "t0ken", "ssh": ssh}


class _LateExecutor(ThreadPoolExecutor):
    """Runs each call in a thread, then hands its result to the loop only once ``deliver`` is set: a
    thread that returned in time whose result reaches the loop after the deadline (a loaded machine)."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.returned = threading.Event()
        self.deliver = threading.Event()

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        def late() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                self.returned.set()
                self.deliver.wait(30)

        return super().submit(late)


def _warm_connection(instance: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """The instance's connection and its forward to 127.0.0.1:9, opened and left unleased (a thread's
    lease then takes them at once); closed as soon as nobody leases them any more."""
    warm = POOL.acquire(instance, timeout=10.0)
    connection = warm.connection
    forward = connection.forward("127.0.0.1", 9)
    warm.release()
    monkeypatch.setattr(POOL, "linger", 0.0)
    return connection, forward


async def _given_back(connection: Any, forward: Any, instance_id: str) -> None:
    """Nobody leases ``connection`` any more (soon): it is closed, its forward with it (linger 0)."""
    for _ in range(200):
        if connection.users == 0 and forward.closed:
            break
        await asyncio.sleep(0.05)
    assert connection.users == 0, "the lease taken for a caller that gave up is given back"
    assert forward.closed and POOL.connections(instance_id) == []


async def test_a_forward_whose_result_comes_after_the_deadline_gives_its_lease_back(
    sshd, tmp_path, monkeypatch
):
    instance = _ssh_instance(sshd, tmp_path, "i-late")
    config = _config("ssh")
    config.kernel_ssh_jupyter = "127.0.0.1:9"
    # the connection and its forward exist already: the thread makes its lease at once, in time
    connection, forward = _warm_connection(instance, monkeypatch)
    monkeypatch.setattr(transport, "ssh_deadline", lambda timeout: 3.0)
    loop = asyncio.get_running_loop()
    late = _LateExecutor()
    loop.set_default_executor(late)
    try:
        with pytest.raises(RemoteError, match="did not answer within"):
            await transport.open_jupyter(instance, config)
        assert late.returned.is_set(), "the thread made its lease before the deadline"
        late.deliver.set()
        await _given_back(connection, forward, "i-late")
    finally:
        late.deliver.set()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=4))
        late.shutdown(wait=False)
        POOL.close_instance("i-late")


async def _set_within(event: threading.Event, seconds: float) -> bool:
    """Whether ``event`` is set within ``seconds``, waited for on the loop (the default executor may
    be a _LateExecutor, whose threads hold their results)."""
    for _ in range(int(seconds / 0.02)):
        if event.is_set():
            return True
        await asyncio.sleep(0.02)
    return event.is_set()


@pytest.mark.parametrize("second", ["thread", "caller"])
async def test_a_caller_cancelled_while_its_forward_opens_leaves_no_lease(
    sshd, tmp_path, monkeypatch, second
):
    """The caller is cancelled while the worker thread opens its forward: whichever side comes second
    gives the lease back. ``thread``: the cancel comes before the thread has its lease (the thread,
    refused by the handover, releases it); ``caller``: the thread has returned its lease but the result
    has not reached the loop when the cancel comes (the caller's abandon releases it)."""
    instance_id = f"i-cancel-{second}"
    instance = _ssh_instance(sshd, tmp_path, instance_id)
    config = _config("ssh")
    config.kernel_ssh_jupyter = "127.0.0.1:9"
    connection, forward = _warm_connection(instance, monkeypatch)
    loop = asyncio.get_running_loop()
    late = _LateExecutor()
    loop.set_default_executor(late)
    opening, go = threading.Event(), threading.Event()
    forward_once = connection.forward

    def held_forward(host: str, port: int) -> Any:
        opening.set()  # the thread has leased the connection and is opening the forward
        go.wait(30)
        return forward_once(host, port)

    monkeypatch.setattr(connection, "forward", held_forward)
    try:
        caller = asyncio.ensure_future(transport.open_jupyter(instance, config))
        assert await _set_within(opening, 10), "the thread is opening the forward"
        assert connection.users == 1
        if second == "thread":
            caller.cancel()
            with pytest.raises(asyncio.CancelledError):
                await caller
            go.set()  # now the thread gets its forward, and a handover refused
            assert await _set_within(late.returned, 10)
        else:
            go.set()
            assert await _set_within(late.returned, 10), "the thread returned its lease"
            assert connection.users == 1
            caller.cancel()
            with pytest.raises(asyncio.CancelledError):
                await caller
        late.deliver.set()
        await _given_back(connection, forward, instance_id)
    finally:
        go.set()
        late.deliver.set()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=4))
        late.shutdown(wait=False)
        POOL.close_instance(instance_id)

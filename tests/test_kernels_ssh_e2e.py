"""CodeLab kernels through the instance's SSH endpoint when the direct route is refused, end to end.

Real parts only: a pytest-jupyter server with codelab_ext, the emulator with a RUNNING instance
behind a real Jupyter server, a real OpenSSH server on loopback as the instance's SSH endpoint
(tests/support/sshd.py), and the emulator refusing the instance's direct route for real: its URL
points at a port that refuses connections (``closed``) or at a front answering 403 (``forbidden``).
The kernel's REST calls and websocket then go through a local port forward over one SSH connection
to the instance's Jupyter server on its loopback port (``c.CodeLab.kernel_ssh_jupyter``).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from typing import Any

import pytest
import requests

from codelab_ext.kernels import transport
from codelab_ext.kernels.remote import jupyter_base
from codelab_ext.ssh_connection import POOL
from codelab_ext.workspace.sftp import SftpRemote

from .support.server_config import emulator_server_config
from .support.sshd import start_sshd
from .test_kernels_e2e import codelab_app, execute, loop_with_a_cut, put_marker, start_remote_kernel, stdout

pytestmark = pytest.mark.slow


@pytest.fixture
def instance_endpoint(running_instance, live_emulator, tmp_path):
    """A real sshd as the instance's SSH endpoint (login user ma-user, the CodeLab user)."""
    with start_sshd(tmp_path / "kernel-sshd") as sshd:
        live_emulator.set_ssh_endpoint(running_instance.id, sshd.host, sshd.port)
        yield sshd


@pytest.fixture
def jp_server_config(live_emulator, running_instance, instance_endpoint, tmp_path, monkeypatch):
    port = live_emulator.workspace(running_instance.id)["server"]["port"]
    config = emulator_server_config(
        live_emulator,
        monkeypatch,
        tmp_path,
        request_timeout=10.0,
        kernel_specs=True,
        kernel_specs_poll_seconds=3600.0,
        # where the instance's Jupyter server listens, seen from inside the instance (the emulator's
        # instance server on its own loopback port)
        kernel_ssh_jupyter=f"127.0.0.1:{port}",
    )
    # the instance's key pair where the extension looks for it: ~/.ssh/<key pair>.pem (HOME is tmp_path/home)
    show = live_emulator.show(running_instance.id)
    [ssh] = [e for e in show["endpoints"] if e["service"] == "SSH"]
    ssh_dir = tmp_path / "home" / ".ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True)
    key = ssh_dir / f"{ssh['key_pair_names'][0]}.pem"
    shutil.copyfile(instance_endpoint.client_key_path, key)
    key.chmod(0o600)
    return config


def refuse_direct(live_emulator: Any, running_instance: Any, refusal: str) -> str:
    """Refuse the instance's direct route and check that it really is refused: the new URL."""
    url = live_emulator.refuse_direct(running_instance.id, refusal)["url"]
    api = url[: -len("lab")] + "api/kernelspecs"
    headers = {"Authorization": f"token {running_instance.token}"}
    if refusal == "closed":
        with pytest.raises(requests.ConnectionError):
            requests.get(api, headers=headers, timeout=10)
    else:
        assert requests.get(api, headers=headers, timeout=10).status_code == 403
    return url


async def test_a_kernel_runs_through_ssh_when_a_front_refuses_direct(
    jp_fetch, jp_serverapp, jp_root_dir, running_instance, live_emulator, instance_endpoint
):
    refuse_direct(live_emulator, running_instance, "forbidden")
    put_marker(running_instance, jp_root_dir)

    kernel_id, km, client = await start_remote_kernel(jp_fetch, jp_serverapp)
    try:
        # the kernelspec and the provisioner say which way the kernel goes
        offered = json.loads((await jp_fetch("api", "kernelspecs")).body)["kernelspecs"]
        assert offered["codelab-python3"]["spec"]["metadata"]["codelab"]["transport"] == "ssh"
        assert km.provisioner.remote.transport == "ssh"
        [connection] = POOL.connections(running_instance.id)

        # execute, and the marker file written through the instance's contents API is there
        reply, outputs = await execute(
            client, "import os\nprint(open('marker.txt').read())\nprint(os.path.realpath(os.getcwd()))\n"
        )
        assert reply["status"] == "ok", reply
        marker, cwd = stdout(outputs).splitlines()
        assert marker == "written on the instance"
        assert cwd == os.path.realpath(running_instance.work_dir)

        # interrupt
        _, outputs = await execute(client, "import os; print(os.getpid())")
        first_pid = int(stdout(outputs))
        pending = asyncio.ensure_future(execute(client, "import time; time.sleep(60)", timeout=30))
        await asyncio.sleep(1.0)
        await jp_fetch("api", "kernels", kernel_id, "interrupt", method="POST", body="")
        reply, _ = await pending
        assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"

        # restart: a new process, one kernel on the instance
        await jp_fetch("api", "kernels", kernel_id, "restart", method="POST", body="")
        reply, outputs = await execute(client, "import os; print(os.getpid())")
        assert reply["status"] == "ok" and int(stdout(outputs)) != first_pid
        assert len(running_instance.api("GET", "api/kernels").json()) == 1

        # the SSH connection drops mid-loop: it is opened again, the kernel resumes, no line lost
        bridge = km.provisioner.bridge
        connects, reconnects = connection.connects, bridge.reconnects
        reply, outputs = await loop_with_a_cut(client, connection.cut)
        assert reply["status"] == "ok"
        assert bridge.reconnects > reconnects and connection.connects > connects, "cut and restored"
        assert stdout(outputs).split() == [str(i) for i in range(150)]
        assert await km.is_alive()
    finally:
        client.stop_channels()
        await jp_serverapp.kernel_manager.shutdown_kernel(kernel_id)
    assert running_instance.api("GET", "api/kernels").json() == [], "shutdown deletes the remote kernel"
    assert "Accepted publickey" in instance_endpoint.log()


async def test_a_closed_direct_port_is_refused_and_ssh_is_taken(
    jp_fetch, jp_serverapp, running_instance, live_emulator
):
    refuse_direct(live_emulator, running_instance, "closed")
    specs = codelab_app(jp_serverapp).kernel_specs
    await specs.refresh()
    kernel_id, km, client = await start_remote_kernel(jp_fetch, jp_serverapp)
    try:
        assert km.provisioner.remote.transport == "ssh"
        reply, outputs = await execute(client, "print(6 * 7)")
        assert reply["status"] == "ok" and stdout(outputs) == "42\n"
        [connection] = POOL.connections(running_instance.id)
        # the workspace's SFTP route takes the same connection
        instance = await codelab_app(jp_serverapp).service.fetch_instance(running_instance.id)
        sftp = SftpRemote(instance)
        try:
            assert POOL.connections(running_instance.id) == [connection], "one SSH connection per instance"
            assert connection.users == 2 and sftp.sftp.normalize(".")
        finally:
            sftp.close()
        assert connection.users == 1
    finally:
        client.stop_channels()
        await jp_serverapp.kernel_manager.shutdown_kernel(kernel_id)
    assert running_instance.api("GET", "api/kernels").json() == []

    # the instance stopping closes its SSH connection and withdraws its kernels
    live_emulator.expire_lease(running_instance.id)
    live_emulator.wait_status(running_instance.id, "STOPPED")
    assert await specs.refresh() == {}
    assert POOL.connections(running_instance.id) == []


async def test_a_remembered_direct_route_refused_at_a_start_is_asked_again(
    jp_fetch, jp_serverapp, running_instance, live_emulator
):
    # direct works and is remembered (the kernelspecs were read through it)
    await codelab_app(jp_serverapp).kernel_specs.refresh()
    assert transport.remembered(running_instance.id).transport == "direct"
    refuse_direct(live_emulator, running_instance, "closed")
    kernel_id, km, client = await start_remote_kernel(jp_fetch, jp_serverapp)
    try:
        assert km.provisioner.remote.transport == "ssh"
        assert transport.remembered(running_instance.id).transport == "ssh"
        reply, outputs = await execute(client, "print('through ssh')")
        assert reply["status"] == "ok" and stdout(outputs) == "through ssh\n"
    finally:
        client.stop_channels()
        await jp_serverapp.kernel_manager.shutdown_kernel(kernel_id)


async def test_a_direct_kernel_goes_on_through_ssh_when_direct_is_refused_later(
    jp_fetch, jp_serverapp, running_instance, live_emulator
):
    kernel_id, km, client = await start_remote_kernel(jp_fetch, jp_serverapp)
    bridge = km.provisioner.bridge
    assert km.provisioner.remote.transport == "direct"

    def refuse_and_cut() -> None:
        # the kernel's direct address now leads to a port that refuses (the emulator's closed front;
        # the instance's server itself stays up behind its SSH endpoint), and the connection drops
        url = refuse_direct(live_emulator, running_instance, "closed")
        km.provisioner.remote.base = jupyter_base(url)
        bridge.cut()

    try:
        reply, outputs = await loop_with_a_cut(client, refuse_and_cut)
        assert reply["status"] == "ok"
        assert bridge.reconnects >= 1 and bridge.remote.transport == "ssh"
        assert km.provisioner.remote is bridge.remote
        assert stdout(outputs).split() == [str(i) for i in range(150)], "no line lost on the way"
        # interrupts and the rest now go the new way too
        reply, outputs = await execute(client, "print('still here')")
        assert stdout(outputs) == "still here\n"
    finally:
        client.stop_channels()
        await jp_serverapp.kernel_manager.shutdown_kernel(kernel_id)
    assert running_instance.api("GET", "api/kernels").json() == []

"""CodeLab kernels end to end on loopback: a local Jupyter server runs a notebook's kernel on an instance.

Real parts only: a pytest-jupyter server with codelab_ext (``jp_serverapp``, ``jp_fetch``), the
emulator with a RUNNING instance served by a real Jupyter server (``live_emulator``), the ``codelab``
kernel provisioner found through its entry point, and a jupyter_client ``AsyncKernelClient`` talking
to the local ZMQ channels exactly as the server's websocket does. Nothing is mocked.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
import uuid
from typing import Any

import pytest

from codelab_ext import NAMESPACE

from .support.cli import cli_env, run_cli
from .support.server_config import emulator_server_config

LOCAL_ONLY = "CODELAB_TEST_LOCAL_ONLY_VARIABLE"

pytestmark = pytest.mark.slow


@pytest.fixture
def jp_server_config(live_emulator, tmp_path, monkeypatch):
    # the poll would race the tests' own refresh: they ask for it when they need it
    return emulator_server_config(
        live_emulator,
        monkeypatch,
        tmp_path,
        request_timeout=10.0,
        kernel_specs=True,
        kernel_specs_poll_seconds=3600.0,
        workspace_links_file=str(tmp_path / "links" / "links.json"),
    )


def codelab_app(serverapp: Any) -> Any:
    apps = serverapp.extension_manager.extension_apps["codelab_ext"]
    return next(iter(apps))


async def kernelspecs(jp_fetch: Any) -> dict[str, Any]:
    response = await jp_fetch("api", "kernelspecs")
    return json.loads(response.body)["kernelspecs"]  # type: ignore[no-any-return]


async def start_remote_kernel(jp_fetch: Any, serverapp: Any, path: str = "") -> tuple[str, Any, Any]:
    """Start ``codelab-python3`` through the local REST API: (kernel id, kernel manager, ready client)."""
    await codelab_app(serverapp).kernel_specs.refresh()
    response = await jp_fetch(
        "api", "kernels", method="POST", body=json.dumps({"name": "codelab-python3", "path": path})
    )
    kernel_id = json.loads(response.body)["id"]
    km = serverapp.kernel_manager.get_kernel(kernel_id)
    client = km.client()
    client.start_channels()
    await client.wait_for_ready(timeout=60)
    return kernel_id, km, client


async def execute(
    client: Any, code: str, timeout: float = 60.0, on_output: Any = None
) -> tuple[dict, list[dict]]:
    """Run ``code``: (execute_reply content, its iopub messages); idle and the reply come in either order.

    One receive per channel stays pending until it completes (a cancelled receive can lose a message).
    """
    msg_id = client.execute(code)
    outputs: list[dict] = []
    reply: dict | None = None
    idle = False
    shell: asyncio.Future[Any] | None = None
    iopub: asyncio.Future[Any] | None = None
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        while not (idle and reply is not None):
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"no reply and idle within {timeout} s (reply={reply}, idle={idle})")
            if reply is None and shell is None:
                shell = asyncio.ensure_future(client.get_shell_msg(timeout=left))
            if not idle and iopub is None:
                iopub = asyncio.ensure_future(client.get_iopub_msg(timeout=left))
            waiting = {task for task in (shell, iopub) if task is not None}
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if shell in done:
                msg, shell = shell.result(), None
                if msg["parent_header"].get("msg_id") == msg_id:
                    reply = msg["content"]
            if iopub in done:
                msg, iopub = iopub.result(), None
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
                elif msg["msg_type"] in ("stream", "error", "execute_result", "display_data"):
                    outputs.append(msg)
                    if on_output is not None:
                        on_output(msg)
    finally:
        for task in (shell, iopub):
            if task is not None:
                task.cancel()
    return reply, outputs


async def loop_with_a_cut(client: Any, cut: Any) -> tuple[dict, list[dict]]:
    """Run a loop printing 0 to 149 and call ``cut()`` once, in its pause after line 39: (reply, outputs).

    The cut comes in that pause so that no message is on the wire when it breaks (one the instance's
    server is writing at that very instant is lost to jupyter_server's resume, which buffers only once
    it sees the close: see docs/architecture.md); lines 40 to 149 are printed while the bridge
    reconnects and must all come back from the instance's buffer.
    """
    seen, done = 0, False

    def on_output(msg: dict) -> None:
        nonlocal seen, done
        seen += msg["content"]["text"].count("\n")
        if seen >= 40 and not done:
            done = True
            cut()

    code = (
        "import time\nfor i in range(150):\n    print(i, flush=True)\n"
        "    time.sleep(2.0 if i == 39 else 0.02)\n"
    )
    return await execute(client, code, on_output=on_output)


def put_marker(running_instance: Any, local_root: Any) -> None:
    """``marker.txt`` in the instance's work folder, through its contents API (and not in ``local_root``)."""
    running_instance.api(
        "PUT",
        "api/contents/marker.txt",
        json={"type": "file", "format": "text", "content": "written on the instance"},
    ).raise_for_status()
    assert not (local_root / "marker.txt").exists()


def stdout(outputs: list[dict]) -> str:
    return "".join(
        m["content"]["text"]
        for m in outputs
        if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
    )


async def test_the_instances_kernels_are_offered_while_it_runs(
    jp_fetch, jp_serverapp, running_instance, live_emulator
):
    specs = codelab_app(jp_serverapp).kernel_specs
    await specs.refresh()
    offered = await kernelspecs(jp_fetch)
    assert "python3" in offered, "local kernels stay beside the CodeLab ones"
    remote = running_instance.api("GET", "api/kernelspecs").json()["kernelspecs"]["python3"]["spec"]
    spec = offered["codelab-python3"]["spec"]
    assert spec["display_name"] == f"{remote['display_name']} (CodeLab)"
    assert spec["metadata"]["codelab"]["instance_id"] == running_instance.id
    assert spec["metadata"]["kernel_provisioner"]["provisioner_name"] == "codelab"

    # a stop through the server is followed at once (the answer of the action), no refresh asked
    await jp_fetch(NAMESPACE, "instances", running_instance.id, "stop", method="POST", body="{}")
    for _ in range(100):
        if not [name for name in await kernelspecs(jp_fetch) if name.startswith("codelab-")]:
            break
        await asyncio.sleep(0.1)
    assert not [name for name in await kernelspecs(jp_fetch) if name.startswith("codelab-")]
    live_emulator.wait_status(running_instance.id, "STOPPED")
    assert await specs.refresh() == {}


async def test_the_kernel_runs_on_the_instance_in_its_work_folder(
    jp_fetch, jp_serverapp, jp_root_dir, running_instance, monkeypatch
):
    monkeypatch.setenv(LOCAL_ONLY, "must stay here")
    put_marker(running_instance, jp_root_dir)
    _, km, client = await start_remote_kernel(jp_fetch, jp_serverapp)
    try:
        code = (
            "import os\n"
            "print(open('marker.txt').read())\n"
            "print(os.path.realpath(os.getcwd()))\n"
            f"print({LOCAL_ONLY!r} in os.environ)\n"
        )
        reply, outputs = await execute(client, code)
        assert reply["status"] == "ok", reply
        marker, cwd, leaked = stdout(outputs).splitlines()
        assert marker == "written on the instance"
        assert cwd == os.path.realpath(running_instance.work_dir)
        assert cwd != os.path.realpath(jp_root_dir)
        assert leaked == "False", "no local environment variable reaches the instance"
    finally:
        client.stop_channels()
        await jp_serverapp.kernel_manager.shutdown_kernel(km.kernel_id)
    kernels = running_instance.api("GET", "api/kernels").json()
    assert kernels == [], "shutting the local kernel down deletes it on the instance"


async def test_a_linked_folders_kernel_works_in_its_remote_folder(
    jp_fetch, jp_serverapp, jp_root_dir, running_instance, tmp_path
):
    from codelab_ext.workspace.links import LinkStore

    (jp_root_dir / "proj" / "sub").mkdir(parents=True)
    LinkStore(tmp_path / "links" / "links.json").put(
        running_instance.id, jp_root_dir / "proj", "/home/ma-user/work/on-the-instance", root=jp_root_dir
    )
    (running_instance.work_dir / "on-the-instance" / "sub").mkdir(parents=True)
    _, km, client = await start_remote_kernel(jp_fetch, jp_serverapp, path="proj/sub")
    try:
        _, outputs = await execute(client, "import os; print(os.path.realpath(os.getcwd()))")
        assert stdout(outputs).strip() == os.path.realpath(
            running_instance.work_dir / "on-the-instance" / "sub"
        )
    finally:
        client.stop_channels()
        await jp_serverapp.kernel_manager.shutdown_kernel(km.kernel_id)


async def test_interrupt_and_restart_go_to_the_instance(jp_fetch, jp_serverapp, running_instance):
    kernel_id, _, client = await start_remote_kernel(jp_fetch, jp_serverapp)
    try:
        _, outputs = await execute(client, "import os; print(os.getpid())")
        first_pid = int(stdout(outputs))

        pending = asyncio.ensure_future(execute(client, "import time; time.sleep(60)", timeout=30))
        await asyncio.sleep(1.0)
        started = time.monotonic()
        await jp_fetch("api", "kernels", kernel_id, "interrupt", method="POST", body="")
        reply, _ = await pending
        print(f"interrupt of time.sleep(60): {time.monotonic() - started:.2f} s")
        assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"

        await jp_fetch("api", "kernels", kernel_id, "restart", method="POST", body="")
        reply, outputs = await execute(client, "import os; print(os.getpid())")
        assert reply["status"] == "ok"
        assert int(stdout(outputs)) != first_pid, "a restart gives a new process"
        remote = running_instance.api("GET", "api/kernels").json()
        assert len(remote) == 1, "a restart keeps one kernel on the instance"
    finally:
        client.stop_channels()
        await jp_serverapp.kernel_manager.shutdown_kernel(kernel_id)


async def test_a_cut_connection_resumes_without_losing_a_line(jp_fetch, jp_serverapp, running_instance):
    kernel_id, km, client = await start_remote_kernel(jp_fetch, jp_serverapp)
    bridge = km.provisioner.bridge
    try:
        reply, outputs = await loop_with_a_cut(client, bridge.cut)
        assert reply["status"] == "ok"
        assert bridge.reconnects >= 1, "the connection was cut and restored"
        assert stdout(outputs).split() == [str(i) for i in range(150)]
        assert await km.is_alive()
    finally:
        client.stop_channels()
        await jp_serverapp.kernel_manager.shutdown_kernel(kernel_id)


async def test_the_instance_stopping_ends_the_kernel_readably(
    jp_fetch, jp_serverapp, running_instance, live_emulator
):
    kernel_id, km, client = await start_remote_kernel(jp_fetch, jp_serverapp)
    try:
        pending = asyncio.ensure_future(execute(client, "import time; time.sleep(60)", timeout=60))
        await asyncio.sleep(1.0)
        live_emulator.expire_lease(running_instance.id)
        reply, outputs = await pending
        assert reply["status"] == "error" and reply["ename"] == "CodeLabKernelEnded"
        assert "this kernel has ended" in reply["evalue"]
        # the cell's output says why, then the kernel's status is dead (published last)
        while True:
            msg = await client.get_iopub_msg(timeout=30)
            outputs.append(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "dead":
                break
        said = [
            m["content"]["text"]
            for m in outputs
            if m["msg_type"] == "stream" and m["content"]["name"] == "stderr"
        ]
        assert any("stopped" in text and "this kernel has ended" in text for text in said), said
        for _ in range(100):
            if not await km.is_alive():
                break
            await asyncio.sleep(0.1)
        assert not await km.is_alive()
    finally:
        client.stop_channels()
        await jp_serverapp.kernel_manager.shutdown_kernel(kernel_id)


def test_the_cli_lists_the_kernels_of_the_running_instance(live_emulator, running_instance, tmp_path):
    env = cli_env(tmp_path, live_emulator.url, credentials=True)
    result = run_cli(env, "kernels", "--json")
    assert result.returncode == 0, result.stderr
    kernels = json.loads(result.stdout)["kernels"]
    python = next(k for k in kernels if k["name"] == "codelab-python3")
    assert python["instance_id"] == running_instance.id
    assert python["display_name"].endswith(" (CodeLab)")
    assert python["remote_kernel"] == "python3"
    assert python["transport"] == "direct", "the instance's url answers: no SSH"

    table = run_cli(env, "kernels")
    assert table.returncode == 0 and "codelab-python3" in table.stdout

    live_emulator.expire_lease(running_instance.id)
    live_emulator.wait_status(running_instance.id, "STOPPED")
    assert json.loads(run_cli(env, "kernels", "--json").stdout) == {"kernels": []}
    assert "none of your instances is running" in run_cli(env, "kernels").stdout


async def test_input_and_two_restarts_at_once(jp_fetch, jp_serverapp, running_instance):
    kernel_id, _, client = await start_remote_kernel(jp_fetch, jp_serverapp)
    try:
        # input(): the instance's input_request reaches this client on stdin, the answer goes back
        msg_id = client.execute("print('got', input('name? '))", allow_stdin=True)
        request = await client.get_stdin_msg(timeout=30)
        assert request["msg_type"] == "input_request" and request["content"]["prompt"] == "name? "
        assert request["parent_header"]["msg_id"] == msg_id
        client.input("codelab")
        while True:
            msg = await client.get_iopub_msg(timeout=30)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
                assert msg["content"]["text"] == "got codelab\n"
                break

        # two restarts racing: one kernel stays on the instance, a new process, and it answers. (The
        # kernel manager may refuse the second with a 500 of its own: jupyter_client's pending-start
        # future, the same for a local kernel; at least one restart goes through.)
        _, outputs = await execute(client, "import os; print(os.getpid())")
        before = int(stdout(outputs))
        answers = await asyncio.gather(
            jp_fetch("api", "kernels", kernel_id, "restart", method="POST", body="", raise_error=False),
            jp_fetch("api", "kernels", kernel_id, "restart", method="POST", body="", raise_error=False),
        )
        assert 200 in [answer.code for answer in answers]
        reply, outputs = await execute(client, "import os; print(os.getpid())")
        assert reply["status"] == "ok" and int(stdout(outputs)) != before
        assert len(running_instance.api("GET", "api/kernels").json()) == 1
    finally:
        client.stop_channels()
        await jp_serverapp.kernel_manager.shutdown_kernel(kernel_id)


async def test_a_stop_through_the_server_ends_its_kernels_at_once(
    jp_fetch, jp_serverapp, running_instance, live_emulator
):
    kernel_id, km, client = await start_remote_kernel(jp_fetch, jp_serverapp)
    try:
        await execute(client, "x = 1")  # idle: no cell in flight to carry the reason
        await jp_fetch(NAMESPACE, "instances", running_instance.id, "stop", method="POST", body="{}")
        while True:
            msg = await client.get_iopub_msg(timeout=30)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "dead":
                break
        # the action's answer (STOPPING) ends it, without waiting for the connection to drop
        assert "this kernel has ended" in str(km.provisioner.bridge.ended)
        assert "STOPPING" not in str(km.provisioner.bridge.ended), "said in words, not the raw status"
        assert not await km.is_alive()
        # a cell sent now is answered with the reason, not left waiting
        reply, outputs = await execute(client, "print('never runs')")
        assert reply["status"] == "error" and reply["ename"] == "CodeLabKernelEnded"
        assert "this kernel has ended" in reply["evalue"] and "never runs" not in stdout(outputs)
    finally:
        client.stop_channels()
        await jp_serverapp.kernel_manager.shutdown_kernel(kernel_id)


async def test_a_kernel_of_a_stopped_instance_fails_to_start_with_the_reason(
    jp_fetch, jp_serverapp, running_instance, live_emulator
):
    await codelab_app(jp_serverapp).kernel_specs.refresh()
    # the instance stops where this server does not see it (its poll is an hour away): still offered
    live_emulator.expire_lease(running_instance.id)
    live_emulator.wait_status(running_instance.id, "STOPPED")
    assert "codelab-python3" in await kernelspecs(jp_fetch)
    response = await jp_fetch(
        "api",
        "kernels",
        method="POST",
        body=json.dumps({"name": "codelab-python3", "path": ""}),
        raise_error=False,
    )
    assert response.code >= 400
    said = json.loads(response.body)
    text = " ".join(str(said.get(key) or "") for key in ("message", "reason"))
    assert "stopped (its lease ended or it was stopped)" in text, said
    assert running_instance.token not in response.body.decode()
    assert serverapp_kernels(jp_serverapp) == [], "no local kernel is left behind"
    # and what the start learned withdraws the instance's kernelspecs at once
    for _ in range(100):
        if "codelab-python3" not in await kernelspecs(jp_fetch):
            break
        await asyncio.sleep(0.1)
    assert "codelab-python3" not in await kernelspecs(jp_fetch)


def serverapp_kernels(serverapp: Any) -> list[str]:
    return list(serverapp.kernel_manager.list_kernel_ids())


async def shell_reply(client: Any, msg_id: str, timeout: float = 30.0) -> dict:
    """The shell reply to ``msg_id`` (other replies skipped)."""
    while True:
        msg = await client.get_shell_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg  # type: ignore[no-any-return]


async def test_completion_inspection_comms_and_the_debugger_go_to_the_instance(
    jp_fetch, jp_serverapp, running_instance
):
    kernel_id, _, client = await start_remote_kernel(jp_fetch, jp_serverapp)
    try:
        reply, _ = await execute(
            client,
            "codelab_on_the_instance = 42\n"
            "def echo(comm, opened):\n"
            "    comm.on_msg(lambda msg: comm.send({'echo': msg['content']['data']}))\n"
            "get_ipython().kernel.comm_manager.register_target('codelab-echo', echo)\n",
        )
        assert reply["status"] == "ok", reply

        # completion and inspection know the instance's namespace
        complete = await shell_reply(client, client.complete("codelab_on_the_", 15))
        assert complete["content"]["status"] == "ok"
        assert "codelab_on_the_instance" in complete["content"]["matches"]
        inspect = await shell_reply(client, client.inspect("codelab_on_the_instance", 23))
        assert inspect["content"]["status"] == "ok" and inspect["content"]["found"]
        assert "42" in inspect["content"]["data"]["text/plain"]

        # a comm (what ipywidgets use): opened from here, answered by the instance's kernel on iopub
        comm_id = uuid.uuid4().hex
        opened = client.session.send(
            client.shell_channel.socket,
            "comm_open",
            {"comm_id": comm_id, "target_name": "codelab-echo", "data": {}},
        )
        sent = client.session.send(
            client.shell_channel.socket, "comm_msg", {"comm_id": comm_id, "data": {"x": 1}}
        )
        assert opened and sent
        while True:
            msg = await client.get_iopub_msg(timeout=30)
            if msg["msg_type"] == "comm_msg" and msg["content"]["comm_id"] == comm_id:
                assert msg["content"]["data"] == {"echo": {"x": 1}}
                break

        # the debugger (ipykernel with debugpy on the instance) answers on control
        request = client.session.msg(
            "debug_request",
            {
                "type": "request",
                "seq": 1,
                "command": "initialize",
                "arguments": {"clientID": "codelab-test", "adapterID": "python", "pathFormat": "path"},
            },
        )
        client.control_channel.send(request)
        while True:
            answer = await client.get_control_msg(timeout=30)
            if answer["parent_header"].get("msg_id") == request["header"]["msg_id"]:
                break
        assert answer["msg_type"] == "debug_reply"
        assert answer["content"]["success"] is True, answer["content"]
        assert answer["content"]["command"] == "initialize"
    finally:
        client.stop_channels()
        await jp_serverapp.kernel_manager.shutdown_kernel(kernel_id)


async def test_a_restart_refused_because_the_instance_stopped_is_answered_readably(
    jp_fetch, jp_serverapp, running_instance, live_emulator
):
    from tornado.web import HTTPError

    from codelab_ext.kernels.provisioner import KernelRefused

    kernel_id, km, client = await start_remote_kernel(jp_fetch, jp_serverapp)
    try:
        await execute(client, "x = 1")
        # the instance stops where this server does not see it yet (its poll is an hour away)
        live_emulator.expire_lease(running_instance.id)
        live_emulator.wait_status(running_instance.id, "STOPPED")
        for action in ("interrupt", "restart"):
            response = await jp_fetch(
                "api", "kernels", kernel_id, action, method="POST", body="", raise_error=False
            )
            said = json.loads(response.body)
            assert response.code == 409, (action, response.code, said)  # not 500
            assert "stopped (its lease ended or it was stopped)" in said["message"], said
            assert running_instance.token not in response.body.decode()
        # what a jupyter_client caller (nbclient) gets: typed as jupyter_server expects, readable
        with pytest.raises(KernelRefused) as caught:
            await km.restart_kernel()
        assert isinstance(caught.value, HTTPError) and caught.value.status_code == 409
        assert str(caught.value).startswith("The CodeLab instance "), str(caught.value)
    finally:
        client.stop_channels()
        await jp_serverapp.kernel_manager.shutdown_kernel(kernel_id)


async def test_a_failed_restart_closes_the_bridges_sockets_once(
    jp_fetch, jp_serverapp, running_instance, live_emulator, monkeypatch
):
    """The bridge's sockets live on the kernel manager's ZMQ context (one ZMQ thread carries a message
    from the server's channels to the bridge) in a private folder of unix sockets: a shutdown and a
    refused restart close the sockets and remove the folder, exactly once, and never end the context,
    which is the server's."""
    import zmq.asyncio

    terms: list[int] = []
    term = zmq.asyncio.Context.term

    def counted_term(context: Any) -> None:
        terms.append(id(context))
        term(context)

    monkeypatch.setattr(zmq.asyncio.Context, "term", counted_term)

    def closed(bridge: Any) -> dict[str, bool]:
        return {
            **{name: sock.closed for name, sock in bridge.sockets.items()},
            "folder gone": not os.path.exists(str(bridge.ipc_dir)),
        }

    everything_closed = dict.fromkeys(("shell", "control", "stdin", "iopub", "hb", "folder gone"), True)

    # a shutdown closes them, once
    kernel_id, km, client = await start_remote_kernel(jp_fetch, jp_serverapp)
    bridge = km.provisioner.bridge
    assert bridge.context.underlying == km.context.underlying, "the kernel manager's context"
    assert bridge.transport == "ipc" and stat.S_IMODE(os.stat(bridge.ipc_dir).st_mode) == 0o700
    client.stop_channels()
    await jp_serverapp.kernel_manager.shutdown_kernel(kernel_id)
    assert closed(bridge) == everything_closed
    assert not bridge.context.closed and id(bridge.context) not in terms, "the server's context lives on"

    # a restart refused (the instance stopped meanwhile): jupyter_client then forgets the kernel manager
    # without a shutdown (its `ready` holds the error), so the provisioner closes everything itself
    kernel_id, km, client = await start_remote_kernel(jp_fetch, jp_serverapp)
    bridge = km.provisioner.bridge
    await execute(client, "x = 1")
    live_emulator.expire_lease(running_instance.id)
    live_emulator.wait_status(running_instance.id, "STOPPED")
    response = await jp_fetch(
        "api", "kernels", kernel_id, "restart", method="POST", body="", raise_error=False
    )
    assert response.code == 409
    assert closed(bridge) == everything_closed, "closed at the failed restart"
    closes = []
    monkeypatch.setattr(bridge, "_close_sockets", lambda: closes.append(1))
    client.stop_channels()
    await jp_serverapp.kernel_manager.shutdown_kernel(kernel_id)
    assert kernel_id not in serverapp_kernels(jp_serverapp)
    assert closes == [], "closed exactly once"
    assert not bridge.context.closed and id(bridge.context) not in terms


async def test_a_failed_restart_is_logged_once_readably_without_a_traceback(
    jp_fetch, jp_serverapp, running_instance, live_emulator, caplog
):
    import logging

    kernel_id, km, client = await start_remote_kernel(jp_fetch, jp_serverapp)
    try:
        await execute(client, "x = 1")
        live_emulator.expire_lease(running_instance.id)
        live_emulator.wait_status(running_instance.id, "STOPPED")
        reason = "stopped (its lease ended or it was stopped)"

        def said_once(records: list[logging.LogRecord]) -> None:
            assert not [r for r in records if r.levelno >= logging.ERROR], [r.getMessage() for r in records]
            assert not [r for r in records if r.exc_info or r.exc_text or r.stack_info], "no traceback"
            ours = [
                r
                for r in records
                if r.levelno == logging.WARNING and f"{os.sep}codelab_ext{os.sep}" in r.pathname
            ]
            assert len(ours) == 1, [r.getMessage() for r in ours]
            assert f"CodeLab kernel {kernel_id} did not restart: " in ours[0].getMessage()
            assert reason in ours[0].getMessage()
            assert running_instance.token not in ours[0].getMessage()

        # through the REST API (the notebook's restart)
        caplog.clear()
        with caplog.at_level(logging.INFO):
            response = await jp_fetch(
                "api", "kernels", kernel_id, "restart", method="POST", body="", raise_error=False
            )
        assert response.code == 409 and reason in json.loads(response.body)["message"]
        said_once(caplog.records)

        # through jupyter_client (nbclient), again: the same one warning
        caplog.clear()
        with caplog.at_level(logging.INFO):
            with pytest.raises(Exception, match="stopped"):
                await km.restart_kernel()
        said_once(caplog.records)
    finally:
        client.stop_channels()
        await jp_serverapp.kernel_manager.shutdown_kernel(kernel_id)

"""The workspace routes and the lease guard, against a real emulated instance (a real Jupyter server).

Given a Jupyter server with codelab_ext pointed at the emulator, whose RUNNING instance is served by
its own Jupyter server, the tests link a folder under the Jupyter root, push, pull and sync through
``codelab/instances/{id}/workspace``, and check the files on both sides. The lease guard is driven
through the emulator's lease admin route (a lease that ends in nine minutes) and a short guard interval.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from codelab_ext import NAMESPACE

from .support.rest import rest_call
from .support.server_config import emulator_server_config, store_demo_credentials
from .support.sse import SSEStream


def workspace_config(live_emulator, tmp_path, monkeypatch, **codelab: Any) -> dict[str, Any]:
    """A server on the live emulator, its links in the test's folder, the guard looking every 0.2 s."""
    creds = store_demo_credentials(tmp_path / "store" / "credentials.json")
    settings: dict[str, Any] = {
        "request_timeout": 10.0,
        "workspace_links_file": str(tmp_path / "links" / "links.json"),
        "workspace_guard_interval": 0.2,
        "pull_before_stop_timeout": 60.0,
        **codelab,
    }
    return emulator_server_config(live_emulator, monkeypatch, tmp_path, creds, **settings)


@pytest.fixture
def jp_server_config(live_emulator, tmp_path, monkeypatch):
    return workspace_config(live_emulator, tmp_path, monkeypatch)


@pytest.fixture
def api(jp_fetch):
    async def call(method: str, path: str, body: Any = None, params: dict[str, str] | None = None):
        code, data, _response = await rest_call(jp_fetch, method, path, body, params)
        return code, data

    return call


@pytest.fixture
def project(jp_root_dir: Path) -> Path:
    folder = jp_root_dir / "projects" / "demo"
    (folder / "data").mkdir(parents=True)
    (folder / "train.ipynb").write_text(json.dumps({"cells": [], "nbformat": 4, "nbformat_minor": 5}))
    (folder / "data" / "x.csv").write_text("a,b\n1,2\n")
    return folder


async def wait_job(api, instance_id: str, job: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while job["state"] == "running":
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.1)
        code, body = await api("GET", f"instances/{instance_id}/workspace/jobs/{job['id']}")
        assert code == 200, body
        job = body["job"]
    return job


async def run(api, instance_id: str, kind: str, body: Any = None) -> dict[str, Any]:
    code, answer = await api("POST", f"instances/{instance_id}/workspace/{kind}", body)
    assert code == 202, answer
    assert answer["job"]["kind"] == kind and answer["job"]["trigger"] == "user"
    return await wait_job(api, instance_id, answer["job"])


async def linked(api, running_instance, project: Path) -> dict[str, Any]:
    code, body = await api("PUT", f"instances/{running_instance.id}/workspace", {"local": "projects/demo"})
    assert code == 200, body
    return body


async def test_link_push_edit_on_the_instance_and_pull_back(api, running_instance, project):
    iid = running_instance.id
    code, body = await api("GET", f"instances/{iid}/workspace")
    assert code == 200 and body["link"] is None and body["pull_before_stop"] is True

    body = await linked(api, running_instance, project)
    assert body["link"]["local"] == "projects/demo"
    assert body["link"]["remote"] == "/home/ma-user/work/demo"
    assert body["link"]["last_sync"] is None
    assert body["waiting"]["local"] == ["data/x.csv", "train.ipynb"]
    assert running_instance.token not in json.dumps(body)

    job = await run(api, iid, "push", {"open": "train.ipynb"})
    assert job["state"] == "done", job
    assert sorted(job["result"]["pushed"]) == ["data/x.csv", "train.ipynb"]
    assert job["progress"]["files_done"] == job["progress"]["files_total"] == 2
    remote = running_instance.work_dir / "demo"
    assert (remote / "data" / "x.csv").read_text() == "a,b\n1,2\n"
    # the one URL with the instance token: the user opens the instance's JupyterLab at the notebook
    assert job["open_url"].split("?")[0].endswith(f"/{iid}/lab/tree/demo/train.ipynb")
    assert f"token={running_instance.token}" in job["open_url"]

    (remote / "results.txt").write_text("accuracy 0.93\n")
    code, body = await api("GET", f"instances/{iid}/workspace")
    assert code == 200
    assert body["waiting"] == {"local": [], "remote": ["results.txt"], "conflicts": []}
    assert body["link"]["last_sync"] is not None
    assert body["job"]["id"] == job["id"]

    job = await run(api, iid, "pull")
    assert job["state"] == "done" and job["result"]["pulled"] == ["results.txt"], job
    assert (project / "results.txt").read_text() == "accuracy 0.93\n"


async def test_a_file_changed_on_both_sides_keeps_both_and_sync_reports_the_copy(
    api, running_instance, project
):
    iid = running_instance.id
    await linked(api, running_instance, project)
    assert (await run(api, iid, "push"))["state"] == "done"
    (project / "data" / "x.csv").write_text("local edit\n")
    (running_instance.work_dir / "demo" / "data" / "x.csv").write_text("instance edit\n")
    _, body = await api("GET", f"instances/{iid}/workspace")
    assert body["waiting"]["conflicts"] == ["data/x.csv"]

    job = await run(api, iid, "sync")
    assert job["state"] == "done", job
    [conflict] = job["result"]["conflicts"]
    assert conflict["path"] == "data/x.csv"
    assert (project / "data" / "x.csv").read_text() == "local edit\n"
    assert (project / conflict["copy"]).read_text() == "instance edit\n"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"local": "../outside"}, "local"),
        ({"local": "/etc"}, "local"),
        ({"local": "projects/demo/train.ipynb"}, "local"),
        ({"local": "projects/missing"}, "local"),
        ({"local": 3}, "local"),
        ({"local": "projects/demo", "colour": "red"}, "colour"),
        ({}, "local"),
    ],
)
async def test_bad_links_are_400_and_store_nothing(api, running_instance, project, body, field):
    iid = running_instance.id
    code, answer = await api("PUT", f"instances/{iid}/workspace", body)
    assert code == 400, answer
    assert answer["message"]
    code, answer = await api("GET", f"instances/{iid}/workspace")
    assert code == 200 and answer["link"] is None


async def test_user_mistakes_on_the_routes_are_never_500(api, running_instance, project):
    iid = running_instance.id
    code, body = await api("POST", f"instances/{iid}/workspace/push")
    assert code == 404 and body["code"] == "codelab.workspace.no_link"
    await linked(api, running_instance, project)
    code, body = await api("POST", f"instances/{iid}/workspace/push", {"open": "../../etc/passwd"})
    assert code == 400 and "open" in body["message"]
    code, body = await api("POST", f"instances/{iid}/workspace/pull", {"open": "x"})
    assert code == 400
    code, body = await api("POST", f"instances/{iid}/workspace/push", "[1]")
    assert code == 400
    code, body = await api("GET", f"instances/{iid}/workspace/jobs/w999999")
    assert code == 404
    # a job id no job could have (too long, odd characters) is the same JSON 404, not tornado's page
    for bad in ("x" * 300, "a%20b", "%E4%BD%A0"):
        code, body = await api("GET", f"instances/{iid}/workspace/jobs/{bad}")
        assert code == 404 and body["message"], (bad, body)
    code, body = await api("GET", f"instances/{iid}/workspace", params={"waiting": "maybe"})
    assert code == 400
    code, body = await api("POST", f"instances/{iid}/stop", {"leave_files": "yes"})
    assert code == 400 and "leave_files" in body["message"]
    code, body = await api("GET", "instances/no-such-instance/workspace")
    assert code == 200 and body["link"] is None  # nothing linked there; nothing asked upstream
    code, body = await api("PUT", "instances/no-such-instance/workspace", {"local": "projects/demo"})
    assert code == 404


async def test_a_refusal_of_the_workspace_library_is_a_translated_400_with_its_code(
    api, running_instance, project
):
    """The library's LinkInvalid is a CodeLabError: the routes' one mapping answers it (no 500)."""
    iid = running_instance.id
    body = {"local": "projects/demo", "remote": "/etc"}
    code, answer = await api("PUT", f"instances/{iid}/workspace", body)
    assert code == 400, answer
    assert answer["code"] == "codelab.workspace.link_invalid"
    assert answer["message"] == "The instance folder /etc must be inside /home/ma-user/work"
    code, answer = await api("PUT", f"instances/{iid}/workspace", body, params={"lang": "zh_CN"})
    assert code == 400 and answer["message"] == "实例文件夹 /etc 必须位于 /home/ma-user/work 之内", answer
    code, answer = await api("GET", f"instances/{iid}/workspace")
    assert code == 200 and answer["link"] is None


async def test_delete_forgets_the_link_and_touches_no_file(api, running_instance, project):
    iid = running_instance.id
    await linked(api, running_instance, project)
    assert (await run(api, iid, "push"))["state"] == "done"
    code, _ = await api("DELETE", f"instances/{iid}/workspace")
    assert code == 204
    code, body = await api("GET", f"instances/{iid}/workspace")
    assert body["link"] is None
    assert (project / "train.ipynb").exists()
    assert (running_instance.work_dir / "demo" / "train.ipynb").exists()


async def test_stop_pulls_the_linked_folder_back_first(api, running_instance, project):
    iid = running_instance.id
    await linked(api, running_instance, project)
    assert (await run(api, iid, "push"))["state"] == "done"
    (running_instance.work_dir / "demo" / "model.txt").write_text("weights\n")

    code, body = await api("POST", f"instances/{iid}/stop")
    assert code == 200, body
    assert body["status"] in ("STOPPING", "STOPPED")
    assert (project / "model.txt").read_text() == "weights\n"
    code, body = await api("GET", f"instances/{iid}/workspace", params={"waiting": "0"})
    assert body["job"]["trigger"] == "stop" and body["job"]["state"] == "done"
    assert body["job"]["result"]["pulled"] == ["model.txt"]


@pytest.fixture
def short_wait_config(live_emulator, tmp_path, monkeypatch):
    # a Stop waits 1 s for the pull, each call to the instance at most 3 s
    return workspace_config(
        live_emulator, tmp_path, monkeypatch, pull_before_stop_timeout=1.0, request_timeout=3.0
    )


class TestFilesNotHome:
    """A pull that cannot finish before the Stop's deadline: Stop asks first, and loses nothing."""

    @pytest.fixture
    def jp_server_config(self, short_wait_config):
        return short_wait_config

    async def test_stop_answers_409_until_told_to_leave_the_files_and_loses_nothing(
        self, api, running_instance, project, live_emulator
    ):
        iid = running_instance.id
        await linked(api, running_instance, project)
        assert (await run(api, iid, "push"))["state"] == "done"
        remote = running_instance.work_dir / "demo"
        (remote / "model.txt").write_text("weights\n")
        # the panel's last look saw the change waiting on the instance
        code, body = await api("GET", f"instances/{iid}/workspace")
        assert code == 200 and body["waiting"]["remote"] == ["model.txt"], body
        # the instance's Jupyter server stops answering: the pull cannot finish
        pid = live_emulator.workspace(iid)["server"]["pid"]
        os.kill(pid, signal.SIGSTOP)
        try:
            code, body = await api("POST", f"instances/{iid}/stop")
        finally:
            os.kill(pid, signal.SIGCONT)
        assert code == 409, body
        assert body["code"] == "codelab.files_not_home"
        assert "leave_files" in body["message"]
        # the refusal names what is not home: the last comparison's, as the instance answers no more
        assert body["files"] == ["model.txt"] and body["files_count"] == 1, body
        assert body["message"].startswith("1 changed file on the instance is not home yet"), body
        assert body["job"]["trigger"] == "stop" and body["job"]["state"] == "failed"
        assert live_emulator.instances()[0]["status"] == "RUNNING"  # nothing was stopped
        assert not (project / "model.txt").exists()

        code, body = await api("POST", f"instances/{iid}/stop", {"leave_files": True})
        assert code == 200, body
        assert (remote / "model.txt").read_text() == "weights\n"  # left on the instance, not lost


async def test_the_lease_guard_pulls_before_the_lease_ends_once_per_lease(
    api, running_instance, project, live_emulator
):
    iid = running_instance.id
    await linked(api, running_instance, project)
    assert (await run(api, iid, "push"))["state"] == "done"
    (running_instance.work_dir / "demo" / "notes.md").write_text("# done\n")

    live_emulator.set_lease_remaining(iid, 9 * 60 * 1000)
    deadline = time.monotonic() + 60
    while True:
        _, body = await api("GET", f"instances/{iid}/workspace", params={"waiting": "0"})
        job = body["job"]
        if job and job["trigger"] == "lease" and job["state"] != "running":
            break
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.1)
    assert job["state"] == "done" and job["result"]["pulled"] == ["notes.md"], job
    assert (project / "notes.md").read_text() == "# done\n"

    # once per lease end: the guard does not pull again and again for the same lease
    (running_instance.work_dir / "demo" / "later.txt").write_text("x\n")
    await asyncio.sleep(1.0)
    _, again = await api("GET", f"instances/{iid}/workspace", params={"waiting": "0"})
    assert again["job"]["id"] == job["id"]
    assert not (project / "later.txt").exists()


async def test_the_lease_guards_pull_is_announced_on_the_instances_event_stream(
    api, running_instance, project, live_emulator, jp_http_port, jp_base_url, jp_auth_header
):
    iid = running_instance.id
    await linked(api, running_instance, project)
    assert (await run(api, iid, "push"))["state"] == "done"
    (running_instance.work_dir / "demo" / "notes.md").write_text("# done\n")
    events = f"{jp_base_url}{NAMESPACE}/instances/{iid}/events"
    stream = await SSEStream(jp_http_port, events, jp_auth_header).open()
    try:
        event, data = await stream.next_event()
        assert event == "instance" and data["id"] == iid
        live_emulator.set_lease_remaining(iid, 9 * 60 * 1000)
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while not (seen and seen[-1]["state"] != "running"):
            assert time.monotonic() < deadline, seen
            event, data = await stream.next_event(timeout=60)
            if event == "workspace":
                seen.append(data)
    finally:
        await stream.close()
    # the panel hears the guard start and end without asking: the job, its trigger and its result
    assert {job["id"] for job in seen} == {seen[0]["id"]}
    assert seen[0]["trigger"] == "lease" and seen[0]["kind"] == "pull" and seen[0]["state"] == "running"
    assert seen[-1]["state"] == "done" and seen[-1]["result"]["pulled"] == ["notes.md"], seen[-1]
    assert running_instance.token not in json.dumps(seen)


async def test_the_lease_guard_leaves_a_lease_far_from_its_end_alone(api, running_instance, project):
    iid = running_instance.id
    await linked(api, running_instance, project)
    assert (await run(api, iid, "push"))["state"] == "done"
    (running_instance.work_dir / "demo" / "later.txt").write_text("x\n")
    await asyncio.sleep(1.5)  # several looks of the guard (every 0.2 s)
    _, body = await api("GET", f"instances/{iid}/workspace", params={"waiting": "0"})
    assert body["job"]["trigger"] == "user"
    assert not (project / "later.txt").exists()


@pytest.fixture
def guard_off_config(live_emulator, tmp_path, monkeypatch):
    return workspace_config(live_emulator, tmp_path, monkeypatch, pull_before_stop=False)


class TestGuardOff:
    @pytest.fixture
    def jp_server_config(self, guard_off_config):
        return guard_off_config

    async def test_with_the_guard_off_stop_pulls_nothing(self, api, running_instance, project):
        iid = running_instance.id
        body = await linked(api, running_instance, project)
        assert body["pull_before_stop"] is False
        assert (await run(api, iid, "push"))["state"] == "done"
        (running_instance.work_dir / "demo" / "left.txt").write_text("x\n")
        code, body = await api("POST", f"instances/{iid}/stop")
        assert code == 200
        assert not (project / "left.txt").exists()


async def test_a_switch_to_another_image_pulls_the_linked_folder_back_first(api, running_instance, project):
    iid = running_instance.id
    await linked(api, running_instance, project)
    assert (await run(api, iid, "push"))["state"] == "done"
    (running_instance.work_dir / "demo" / "plot.png").write_bytes(b"\x89PNG")
    code, answer = await api("GET", "images")
    current = running_instance.body["image"]["id"]
    other = next(image["id"] for image in answer["images"] if image["id"] != current)

    code, body = await api("POST", "open", {"image_id": other, "switch": True})
    assert code == 200, body
    assert (project / "plot.png").read_bytes() == b"\x89PNG"
    code, body = await api("GET", f"instances/{iid}/workspace", params={"waiting": "0"})
    assert body["job"]["trigger"] == "switch" and body["job"]["state"] == "done"


@pytest.mark.parametrize(("kind", "word"), [("push", "推送"), ("pull", "拉取"), ("sync", "同步")])
def test_the_busy_message_names_the_job_in_the_readers_language(kind, word):
    from codelab_ext.workspace_service import Job, WorkspaceService

    error = WorkspaceService._busy(None, Job("i-1", kind, "user"))  # type: ignore[arg-type]
    assert error.message.render("zh_CN") == f"关联文件夹的{word}正在进行，请等待其结束。"
    assert error.message.render("en").startswith(f"A {kind} of the linked folder")

"""The emulated instance is real: a Jupyter server per RUNNING instance over a work folder that lasts.

Real parts only: the emulator over HTTP, real ``jupyter_server`` processes, a real HTTP server on
127.0.0.1 for the shared notebook, a real sshd (tests/sshd.py), a real standalone emulator process
killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import base64
import http.server
import json
import os
import pwd
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from codelab_ext.emulator import DEMO_ACCOUNT, DEMO_REGIONS, Emulator
from codelab_ext.emulator.testing import EmulatorHandle, RunningInstance
from codelab_ext.emulator.workspace import (
    SAMPLE_NOTEBOOK,
    START_DEADLINE_SECONDS,
    download_name,
    fetch_bounded,
)
from tests.conftest import FAST_SPEED
from tests.support.sshd import start_sshd

pytestmark = pytest.mark.slow


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        children = {child for child, parent in parents.items() if parent in frontier} - found
        found |= children
        frontier = children
    return found


def wait_gone(pids: set[int], timeout: float = 30.0) -> set[int]:
    """Wait until none of ``pids`` is alive; answer the ones still alive at the deadline."""
    end = time.monotonic() + timeout
    alive = {pid for pid in pids if pid_alive(pid)}
    while alive and time.monotonic() < end:
        time.sleep(0.1)
        alive = {pid for pid in alive if pid_alive(pid)}
    return alive


def b64(url: str) -> str:
    return base64.b64encode(url.encode()).decode()


@pytest.fixture(scope="module")
def live() -> Iterator[EmulatorHandle]:
    """One emulator with instance servers (no JupyterLab: faster) for the module; one project per test."""
    emulator = Emulator(speed=FAST_SPEED, instance_servers=True, lab=False)
    emulator.start_in_thread(port=0)
    handle = EmulatorHandle(emulator)
    try:
        yield handle
    finally:
        handle.close()
        emulator.stop()


_regions = iter(DEMO_REGIONS)


@pytest.fixture
def project(live: EmulatorHandle) -> EmulatorHandle:
    """A handle on a project of its own (its own instance) in the module's emulator."""
    return EmulatorHandle(live.emulator, region=next(_regions))


@pytest.fixture(scope="module")
def running(live: EmulatorHandle) -> RunningInstance:
    """One RUNNING instance shared by the tests that only look at it (a project of its own)."""
    return EmulatorHandle(live.emulator, region=next(_regions)).running_instance()


@pytest.fixture
def notebook_site() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving /ok.ipynb (a notebook), everything else 404."""
    body = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/notebooks/shared%20demo.ipynb":
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ipynb+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_error(404)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# -- the instance's Jupyter ------------------------------------------------------------------------


def test_url_is_the_instance_server_under_the_real_prefix(running: RunningInstance) -> None:
    assert re.fullmatch(rf"http://127\.0\.0\.1:\d+/{running.id}/lab", running.url), running.url
    assert running.body["endpoints"][0] == {"service": "NOTEBOOK", "uri": running.url}
    assert [step["status"] for step in running.body["action_progress"]] == ["COMPLETED"] * 4


@pytest.mark.parametrize("route", ["api/contents", "api/kernels", "api/kernelspecs", "api/sessions"])
def test_the_rest_api_answers_with_the_token_and_refuses_without(
    running: RunningInstance, route: str
) -> None:
    answered = running.api("GET", route)
    assert answered.status_code == 200, answered.text
    assert isinstance(answered.json(), (dict, list))
    refused = running.api("GET", route, token=False)
    assert refused.status_code == 403
    wrong = running.api("GET", route, token=False, headers={"Authorization": "token not-the-token"})
    assert wrong.status_code == 403


def test_the_root_folder_is_the_work_folder_with_a_sample(running: RunningInstance) -> None:
    listing = running.api("GET", "api/contents").json()
    assert SAMPLE_NOTEBOOK in [item["name"] for item in listing["content"]]
    assert (running.work_dir / SAMPLE_NOTEBOOK).is_file()
    notebook = running.api("GET", f"api/contents/{SAMPLE_NOTEBOOK}").json()
    assert notebook["type"] == "notebook"
    assert notebook["content"]["nbformat"] == 4


def test_a_kernel_starts_in_the_work_folder(running: RunningInstance) -> None:
    started = running.api("POST", "api/kernels", json={"name": "python3"})
    assert started.status_code == 201, started.text
    kernel_id = started.json()["id"]
    listed = running.api("GET", "api/kernels").json()
    assert kernel_id in [kernel["id"] for kernel in listed]
    assert running.api("DELETE", f"api/kernels/{kernel_id}").status_code == 204


def test_a_file_written_there_survives_stop_and_start(project: EmulatorHandle) -> None:
    first = project.running_instance()
    pid = project.workspace(first.id)["server"]["pid"]
    saved = first.api(
        "PUT", "api/contents/kept.txt", json={"type": "file", "format": "text", "content": "still here\n"}
    )
    assert saved.status_code == 201, saved.text
    assert (first.work_dir / "kept.txt").read_text() == "still here\n"

    assert project.request("POST", f"/v1/{project.project_id}/notebooks/{first.id}/stop").status_code == 200
    project.wait_status(first.id, "STOPPED")
    assert wait_gone({pid}) == set(), "the server outlived the stop"
    assert project.workspace(first.id)["server"] is None
    assert (first.work_dir / "kept.txt").read_text() == "still here\n"
    assert "url" not in project.show(first.id)

    assert project.request("POST", f"/v1/{project.project_id}/notebooks/{first.id}/start").status_code == 200
    again = project.running(first.id)
    assert again.work_dir == first.work_dir
    got = again.api("GET", "api/contents/kept.txt").json()
    assert got["content"] == "still here\n"
    assert project.workspace(first.id)["server"]["pid"] != pid


def test_the_log_is_a_private_file_per_instance_without_the_token(
    running: RunningInstance, live: EmulatorHandle
) -> None:
    running.api("GET", f"lab?token={running.token}", token=False)  # a token in a query string, too
    running.api("GET", "api/contents")
    log = Path(live.workspace(running.id)["log_path"])
    assert log.parent == running.home_dir
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    text = log.read_text()
    assert "Jupyter Server" in text
    assert running.token not in text
    # nor on the command line (ps) or in the environment its kernels inherit
    pid = live.workspace(running.id)["server"]["pid"]
    assert running.token.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
    started = running.api("POST", "api/kernels", json={"name": "python3"}).json()["id"]
    try:
        kernels = descendants(pid)
        assert kernels
        for kernel in kernels:
            assert running.token.encode() not in Path(f"/proc/{kernel}/environ").read_bytes()
    finally:
        running.api("DELETE", f"api/kernels/{started}")


def test_the_lease_expiring_stops_the_server_even_when_nobody_asks(project: EmulatorHandle) -> None:
    instance = project.running_instance()
    pid = project.workspace(instance.id)["server"]["pid"]
    # a lease that ends in 300 ms: no request after that, the ticker alone stops the server
    project.set_lease_remaining(instance.id, 300)
    assert wait_gone({pid}) == set()
    assert project.show(instance.id)["status"] == "STOPPED"


def test_an_image_switch_restarts_the_server(project: EmulatorHandle) -> None:
    from codelab_ext.emulator.catalogue import IMAGES

    instance = project.running_instance()
    pid = project.workspace(instance.id)["server"]["pid"]
    other = next(image for image in IMAGES if image["id"] != instance.body["image"]["id"])
    switched = project.running_instance({"image_id": other["id"]})
    assert switched.id == instance.id
    assert switched.body["image"]["id"] == other["id"]
    assert not pid_alive(pid)
    assert switched.api("GET", "api/contents").status_code == 200


def test_a_failed_step_4_leaves_no_server(project: EmulatorHandle) -> None:
    instance = project.running_instance()
    project.request("POST", f"/v1/{project.project_id}/notebooks/{instance.id}/stop")
    project.wait_status(instance.id, "STOPPED")
    project.fail_step(4, "Scripted", instance_id=instance.id)
    project.request("POST", f"/v1/{project.project_id}/notebooks/{instance.id}/start")
    body = project.wait_status(instance.id, "START_FAILED")
    assert body["fail_reason"] == "Scripted"
    assert project.workspace(instance.id)["server"] is None


def test_a_server_that_does_not_answer_in_time_fails_step_4(project: EmulatorHandle) -> None:
    host = project.emulator.host
    assert host is not None
    host.start_deadline = 0.01
    try:
        instance_id = project.open_instance()["id"]
        body = project.wait_status(instance_id, "CREATE_FAILED")
    finally:
        host.start_deadline = START_DEADLINE_SECONDS
    assert [step["status"] for step in body["action_progress"]] == ["COMPLETED"] * 3 + ["FAILED"]
    assert body["fail_reason"].startswith(
        "Initialize the notebook instance failed: the Jupyter server did not answer within 0.01 s"
    )
    assert project.workspace(instance_id)["server"] is None
    # and a new start brings it up
    assert (
        project.request("POST", f"/v1/{project.project_id}/notebooks/{instance_id}/start").status_code == 200
    )
    assert project.running(instance_id).api("GET", "api/status").status_code == 200


def test_the_ticker_does_not_spin_while_a_server_starts() -> None:
    """While an instance's server starts, the ticker ticks at its pace, not in a loop; RUNNING comes promptly.

    Once the server is spawned only the ticker refreshes the instance (no API polling): the server
    answering must wake it.
    """
    from codelab_ext.emulator.workspace import _TICK_SECONDS

    emulator = Emulator(speed=FAST_SPEED, instance_servers=True, lab=False)
    emulator.start_in_thread(port=0)
    handle = EmulatorHandle(emulator)
    host = emulator.host
    assert host is not None and host.tick is not None
    ticks = 0
    refresh = host.tick

    def counted() -> None:
        nonlocal ticks
        ticks += 1
        refresh()

    host.tick = counted
    try:
        t0 = time.monotonic()
        iid = handle.open_instance()["id"]
        instance = emulator.state.instances[iid]
        end = t0 + 120
        # the API moves the instance to step 4, where its server is spawned and the ticker started
        while iid not in host._servers and time.monotonic() < end:
            handle.show(iid)
            time.sleep(0.05)
        ready_at = running_at = None
        while running_at is None and time.monotonic() < end:
            server = host._servers.get(iid)
            if ready_at is None and server is not None and server.state == "ready":
                ready_at = time.monotonic()
            if instance.status == "RUNNING":
                running_at = time.monotonic()
            time.sleep(0.005)
        elapsed = time.monotonic() - t0
        assert running_at is not None and ready_at is not None, instance.status
        # the ticks of its period plus a few wakes (server ready, downloads); the spin made 100k+
        assert ticks <= elapsed / _TICK_SECONDS + 10, (ticks, elapsed)
        assert running_at - ready_at < 1.0
    finally:
        handle.close()
        emulator.stop()


def test_two_projects_run_at_once(live: EmulatorHandle) -> None:
    first, second = (EmulatorHandle(live.emulator, region=next(_regions)) for _ in range(2))
    a_id = first.open_instance()["id"]
    b_id = second.open_instance()["id"]
    a, b = first.running(a_id), second.running(b_id)
    assert a.url != b.url and a.work_dir != b.work_dir and a.token != b.token
    a.api("PUT", "api/contents/a.txt", json={"type": "file", "format": "text", "content": "a"})
    assert [item["name"] for item in b.api("GET", "api/contents").json()["content"]] == [SAMPLE_NOTEBOOK]
    # each server takes its own token only
    assert (
        requests.get(
            b.base_url + "api/contents", headers={"Authorization": f"token {a.token}"}, timeout=10
        ).status_code
        == 403
    )


# -- the shared notebook -----------------------------------------------------------------------------


def test_a_share_url_lands_in_the_work_folder(project: EmulatorHandle, notebook_site: str) -> None:
    url = f"{notebook_site}/notebooks/shared%20demo.ipynb"
    instance = project.running_instance({"share_url": b64(url)})
    assert (instance.work_dir / "shared demo.ipynb").is_file()
    assert "fail_reason" not in instance.body
    listed = instance.api("GET", "api/contents/shared demo.ipynb").json()
    assert listed["type"] == "notebook"


def test_a_share_url_on_a_running_instance_keeps_an_existing_file_and_reports_a_failure(
    project: EmulatorHandle, notebook_site: str
) -> None:
    instance = project.running_instance()
    (instance.work_dir / "shared demo.ipynb").write_text("mine")
    project.open_instance({"share_url": b64(f"{notebook_site}/notebooks/shared%20demo.ipynb")})
    copy = instance.work_dir / "shared demo (1).ipynb"
    end = time.monotonic() + 30
    while not copy.exists() and time.monotonic() < end:
        time.sleep(0.05)
    assert copy.is_file()
    assert (instance.work_dir / "shared demo.ipynb").read_text() == "mine"
    assert "fail_reason" not in project.show(instance.id)
    # a download that cannot connect, on a RUNNING instance: reported once it failed
    unreachable = "http://127.0.0.1:9/none.ipynb"  # the discard port: nothing listens
    project.open_instance({"share_url": b64(unreachable)})
    end = time.monotonic() + 60
    while "fail_reason" not in (body := project.show(instance.id)) and time.monotonic() < end:
        time.sleep(0.05)
    assert body["status"] == "RUNNING"
    assert body["fail_reason"].startswith(f"The shared notebook could not be downloaded from {unreachable}: ")


def test_a_failed_download_is_reported_in_fail_reason(project: EmulatorHandle, notebook_site: str) -> None:
    url = f"{notebook_site}/missing.ipynb"
    instance = project.running_instance({"share_url": b64(url)})
    assert instance.body["status"] == "RUNNING"
    assert instance.body["fail_reason"] == f"The shared notebook could not be downloaded from {url}: HTTP 404"
    assert not (instance.work_dir / "missing.ipynb").exists()
    # the next start clears it
    project.request("POST", f"/v1/{project.project_id}/notebooks/{instance.id}/stop")
    project.wait_status(instance.id, "STOPPED")
    project.request("POST", f"/v1/{project.project_id}/notebooks/{instance.id}/start")
    assert "fail_reason" not in project.running(instance.id).body


@pytest.fixture
def tricky_site() -> Iterator[str]:
    """/big (2 MiB), /slow (a byte a second), /loop (redirects to itself), /ftp (redirect to ftp://)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/big":
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"x" * (2 * 1024 * 1024))
            elif self.path == "/slow":
                self.send_response(200)
                self.end_headers()
                for _ in range(30):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.2)
            elif self.path in ("/loop", "/ftp"):
                self.send_response(302)
                self.send_header("Location", "/loop" if self.path == "/loop" else "ftp://127.0.0.1/x")
                self.end_headers()
            else:
                self.send_error(404)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_download_is_bounded(tricky_site: str) -> None:
    with pytest.raises(OSError, match="larger than 1 MiB"):
        fetch_bounded(f"{tricky_site}/big", max_bytes=1024 * 1024)
    assert len(fetch_bounded(f"{tricky_site}/big", max_bytes=4 * 1024 * 1024)) == 2 * 1024 * 1024
    with pytest.raises(OSError, match="not finished within 1 s"):
        fetch_bounded(f"{tricky_site}/slow", deadline=1.0)
    with pytest.raises(OSError, match="more than 5 redirects"):
        fetch_bounded(f"{tricky_site}/loop")
    with pytest.raises(OSError):
        fetch_bounded(f"{tricky_site}/ftp")
    with pytest.raises(ValueError, match="only http and https"):
        fetch_bounded("file:///etc/passwd")


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://example.test/a/b/lesson%201.ipynb?x=1", "lesson 1.ipynb"),
        ("https://example.test/a/..%2F..%2Fetc%2Fpasswd", "passwd"),
        ("https://example.test/..", "shared.ipynb"),
        ("https://example.test/", "shared.ipynb"),
        ("https://example.test/.hidden.ipynb", "hidden.ipynb"),
        ("https://example.test/a%00b%0A.ipynb", "ab.ipynb"),
    ],
)
def test_the_download_name_stays_in_the_work_folder(url: str, name: str) -> None:
    assert download_name(url) == name


# -- SSH -------------------------------------------------------------------------------------------


def test_the_ssh_endpoint_lands_in_the_work_folder(tmp_path: Path) -> None:
    # the login user must reach the folders: a data folder it can enter, an instance home it owns
    data = Path(os.environ.get("TMPDIR", "/tmp")) / f"codelab-ssh-data-{os.getpid()}"
    data.mkdir(mode=0o755)
    emulator = Emulator(speed=FAST_SPEED, instance_servers=True, lab=False, data_dir=data)
    emulator.start_in_thread(port=0)
    handle = EmulatorHandle(emulator)
    sshd = None
    try:
        instance_id = handle.open_instance({"image_id": _ssh_image()})["id"]
        work = Path(handle.workspace(instance_id)["work_dir"])
        if os.geteuid() == 0:
            entry = pwd.getpwnam("ma-user")
            for folder in (work.parent, work, *work.iterdir()):
                os.chown(folder, entry.pw_uid, entry.pw_gid)
        sshd = start_sshd(tmp_path, work_dir=work)
        handle.set_ssh_endpoint(instance_id, sshd.host, sshd.port)
        running = handle.running(instance_id)
        ssh = next(e for e in running.body["endpoints"] if e["service"] == "SSH")
        assert ssh["uri"] == f"ssh://ma-user@{sshd.host}:{sshd.port}"
        running.api(
            "PUT", "api/contents/from-jupyter.txt", json={"type": "file", "format": "text", "content": "hi"}
        )
        result = subprocess.run(
            ["ssh", *sshd.ssh_args(), "pwd; cat from-jupyter.txt; echo back > from-ssh.txt"],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert result.returncode == 0, f"{result.stderr}\n{sshd.log()[-2000:]}"
        assert result.stdout == f"{work}\nhi"
        got = running.api("GET", "api/contents/from-ssh.txt").json()
        assert got["content"] == "back\n"
    finally:
        if sshd is not None:
            sshd.stop()
        handle.close()
        emulator.stop()
        import shutil

        shutil.rmtree(data, ignore_errors=True)


def _ssh_image() -> str:
    from codelab_ext.emulator.catalogue import IMAGES

    return next(image["id"] for image in IMAGES if "SSH" in (image.get("dev_services") or []))


# -- no orphan -----------------------------------------------------------------------------------------


def test_the_shared_fixtures_give_a_running_instance(
    live_emulator: EmulatorHandle, running_instance: Any
) -> None:
    assert running_instance.body["status"] == "RUNNING"
    assert running_instance.work_dir == Path(live_emulator.workspace(running_instance.id)["work_dir"])
    assert running_instance.api("GET", "api/contents").status_code == 200


def test_stopping_the_emulator_stops_its_servers_and_removes_its_folder() -> None:
    emulator = Emulator(speed=FAST_SPEED, instance_servers=True, lab=False)
    emulator.start_in_thread(port=0)
    handle = EmulatorHandle(emulator)
    instance = handle.running_instance()
    pid = handle.workspace(instance.id)["server"]["pid"]
    assert instance.api("POST", "api/kernels", json={"name": "python3"}).status_code == 201
    below = descendants(pid)
    assert below, "the kernel runs below the server"
    handle.close()
    emulator.stop()
    assert wait_gone({pid, *below}) == set()
    assert not instance.work_dir.exists()


def test_no_process_outlives_a_killed_emulator(tmp_path: Path) -> None:
    env = dict(os.environ, CODELAB_EMULATOR_INSTANCE_SERVERS="1")
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "codelab_ext.emulator", "--port", "0", "--speed", str(FAST_SPEED)),
            "--no-lab",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        url = first.rsplit(" ", 1)[1].strip()
        assert url.startswith("http://127.0.0.1:")
        lines = [process.stdout.readline() for _ in range(11)]
        folder = Path(
            next(line for line in lines if line.startswith("Instance work folders")).split(": ", 1)[1].strip()
        )
        handle = EmulatorHandle(SimpleNamespace(url=url, account=DEMO_ACCOUNT))  # type: ignore[arg-type]
        instance = handle.running_instance()
        pid = handle.workspace(instance.id)["server"]["pid"]
        assert instance.api("POST", "api/kernels", json={"name": "python3"}).status_code == 201
        end = time.monotonic() + 30
        while not descendants(pid) and time.monotonic() < end:
            time.sleep(0.05)
        below = descendants(pid)
        assert below
        handle.close()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert wait_gone({pid, *below}) == set(), "an instance server or its kernel outlived the emulator"
        # the emulator's temporary data folder goes too: the orphaned server removes it once stopped
        end = time.monotonic() + 30
        while folder.exists() and time.monotonic() < end:
            time.sleep(0.1)
        assert not folder.exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


# -- the embedded emulator (the demo): a real JupyterLab behind "Open in new tab" ---------------------


@pytest.fixture
def jp_server_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from tests.support.server_config import codelab_server_config, isolate_environment

    isolate_environment(monkeypatch, tmp_path)
    return codelab_server_config(emulator=True, emulator_speed=FAST_SPEED, emulator_instance_servers=True)


async def test_the_demo_opens_a_real_jupyterlab_with_the_sample_and_the_shared_notebook(
    jp_fetch: Any, notebook_site: str
) -> None:
    from codelab_ext import NAMESPACE

    shared = f"{notebook_site}/notebooks/shared%20demo.ipynb"
    opened = await jp_fetch(NAMESPACE, "open", method="POST", body=json.dumps({"share_url": shared}))
    instance_id = json.loads(opened.body)["id"]
    end = time.monotonic() + 180
    while True:
        body = json.loads((await jp_fetch(NAMESPACE, "instances", instance_id)).body)
        if body["status"] == "RUNNING" or time.monotonic() > end:
            break
        await asyncio.sleep(0.1)
    assert body["status"] == "RUNNING", body
    url = body["url"]  # what "Open in new tab" opens: the instance url with its token
    assert re.fullmatch(rf"http://127\.0\.0\.1:\d+/{instance_id}/lab\?token=[0-9a-f-]+", url), url

    def open_tab() -> tuple[requests.Response, list[str]]:
        with requests.Session() as browser:
            browser.trust_env = False
            page = browser.get(url, timeout=60)
            names = browser.get(url.replace("/lab?", "/api/contents?"), timeout=60).json()["content"]
            return page, sorted(item["name"] for item in names)

    page, names = await asyncio.to_thread(open_tab)
    assert page.status_code == 200
    assert "<title>JupyterLab</title>" in page.text
    assert names == [SAMPLE_NOTEBOOK, "shared demo.ipynb"]

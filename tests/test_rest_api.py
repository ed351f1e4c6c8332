"""The REST API of the server extension against the emulator, over real HTTP.

Given / When / Then in each test; the emulator counts what reached "ModelArts", so the tests
can also prove what did NOT go upstream.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from codelab_ext import NAMESPACE
from codelab_ext.credentials import Credentials, store_credentials
from codelab_ext.emulator import DEMO_ACCOUNT
from codelab_ext.handlers import route_table

from .support.rest import rest_call
from .support.server_config import emulator_server_config, store_demo_credentials
from .support.sse import SSEStream

SHARE_PAGE = "https://github.com/mindspore-ai/docs/blob/r2.2/tutorials/a.ipynb"
OPENAPI = json.loads((Path(__file__).parent.parent / "codelab_ext" / "openapi.json").read_text())


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema → JSON schema: ``nullable: true`` becomes a ``null`` alternative."""
    if isinstance(node, list):
        return [_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def schema(name: str) -> dict[str, Any]:
    """An OpenAPI component schema as a JSON schema (refs resolved against the document)."""
    return {"$ref": f"#/components/schemas/{name}", "components": _json_schema(OPENAPI["components"])}


def assert_matches(name: str, value: Any) -> None:
    errors = sorted(Draft7Validator(schema(name)).iter_errors(value), key=str)
    assert not errors, [e.message for e in errors]


@pytest.fixture
def creds_file(tmp_path):
    return store_demo_credentials(tmp_path / "store" / "credentials.json")


@pytest.fixture
def jp_server_config(emulator, creds_file, tmp_path, monkeypatch):
    return emulator_server_config(
        emulator, monkeypatch, tmp_path, creds_file, request_timeout=3.0, max_retries=1
    )


@pytest.fixture
def api(jp_fetch):
    async def call(method: str, path: str, body: Any = None, params: dict[str, str] | None = None):
        return await rest_call(jp_fetch, method, path, body, params)

    return call


async def wait_status(api, instance_id: str, status: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code, inst, _ = await api("GET", f"instances/{instance_id}")
        assert code == 200, inst
        if inst["status"] == status:
            return inst
        await asyncio.sleep(0.05)
    raise AssertionError(f"instance {instance_id} did not reach {status}")


async def wait_running(api, instance_id: str, timeout: float = 10.0) -> dict[str, Any]:
    return await wait_status(api, instance_id, "RUNNING", timeout)


def upstream(emulator, kind: str) -> int:
    return int(emulator.stats().get(kind, 0))


# --------------------------------------------------------------------------- status & credentials


async def test_status_reports_the_stored_source_and_masked_key(api, emulator):
    code, body, _ = await api("GET", "status")
    assert code == 200
    assert_matches("Status", body)
    assert body["credentials"]["configured"] is True
    assert body["credentials"]["source"] == "stored"
    masked = body["credentials"]["access_key"]
    assert masked != DEMO_ACCOUNT.access_key and "*" in masked
    assert DEMO_ACCOUNT.secret_key not in json.dumps(body)
    assert body["emulator"] is False and body["modelarts_endpoint"] == emulator.url


async def test_put_credentials_checks_them_upstream_before_storing(api, emulator, creds_file):
    before = creds_file.read_bytes()
    # Given a wrong secret key
    code, body, _ = await api(
        "PUT", "credentials", {"access_key": DEMO_ACCOUNT.access_key, "secret_key": "WrongSecretKey123"}
    )
    # Then the cloud's refusal comes back readable, and nothing was stored
    assert code == 401, body
    assert "refused" in body["message"].lower()
    assert "WrongSecretKey123" not in json.dumps(body)
    assert creds_file.read_bytes() == before
    # When the right keys are sent
    code, body, _ = await api(
        "PUT",
        "credentials",
        {
            "access_key": DEMO_ACCOUNT.access_key,
            "secret_key": DEMO_ACCOUNT.secret_key,
            "region": emulator.region,
        },
    )
    # Then they are stored 0600 and the answer is a status without the secret
    assert code == 200, body
    assert_matches("Status", body)
    assert body["credentials"] == {
        "configured": True,
        "source": "stored",
        "access_key": body["credentials"]["access_key"],
    }
    assert DEMO_ACCOUNT.secret_key not in json.dumps(body)
    assert creds_file.stat().st_mode & 0o777 == 0o600


async def test_put_credentials_validates_before_going_upstream(api, emulator):
    emulator.reset_stats()
    for body, field in [
        ({"access_key": "AK"}, "secret_key"),
        ({"access_key": "AKIDEXAMPLE12345", "secret_key": 123}, "secret_key"),
        ({"access_key": "AKIDEXAMPLE12345", "secret_key": "abcdefgh1", "extra": 1}, "extra"),
        ({"access_key": "bad key!", "secret_key": "abcdefgh1"}, "access_key"),
    ]:
        code, answer, _ = await api("PUT", "credentials", body)
        assert code == 400 and field in answer["message"], (body, answer)
    code, answer, _ = await api("PUT", "credentials", "{not json")
    assert code == 400 and "JSON" in answer["message"]
    assert emulator.stats().get("total", 0) == 0


async def test_status_lists_the_known_regions(api):
    from codelab_ext.regions import KNOWN_REGIONS

    code, body, _ = await api("GET", "status")
    assert code == 200
    assert body["regions"] == list(KNOWN_REGIONS)  # the configured region (cn-north-4) is one of them
    assert "af-north-1" in body["regions"] and "eu-west-101" not in body["regions"]


async def test_put_credentials_with_an_unknown_region_is_a_400_naming_the_known_ones(
    api, emulator, creds_file
):
    before = creds_file.read_bytes()
    emulator.reset_stats()
    code, answer, _ = await api(
        "PUT",
        "credentials",
        {"access_key": DEMO_ACCOUNT.access_key, "secret_key": DEMO_ACCOUNT.secret_key, "region": "cn-nort-4"},
    )
    # a typo is the user's: 400 (not 500), naming the regions, nothing sent upstream, nothing stored
    assert code == 400, answer
    assert "cn-nort-4" in answer["message"] and "cn-north-4" in answer["message"]
    assert "af-north-1" in answer["message"]
    assert "config" not in answer["message"].lower()
    assert emulator.stats().get("total", 0) == 0
    assert creds_file.read_bytes() == before


async def test_delete_credentials_forgets_them(api, creds_file):
    code, _, response = await api("DELETE", "credentials")
    assert code == 204 and not response.body
    assert not creds_file.exists()
    code, body, _ = await api("GET", "status")
    assert body["credentials"]["configured"] is False
    # without credentials, cloud routes answer a readable 401
    code, body, _ = await api("GET", "instances")
    assert code == 401 and "credentials" in body["message"].lower()


# --------------------------------------------------------------------------- images


async def test_images_are_listed_filtered_and_cached(api, emulator):
    code, body, _ = await api("GET", "images")
    assert code == 200 and len(body["images"]) >= 10
    for image in body["images"]:
        assert_matches("Image", image)
    arches = {i["arch"] for i in body["images"]}
    assert arches == {"x86_64", "aarch64"}
    calls = upstream(emulator, "images")
    code, gpu, _ = await api("GET", "images", params={"category": "GPU"})
    assert code == 200 and gpu["images"]
    assert all("GPU" in [c.upper() for c in i["resource_categories"]] for i in gpu["images"])
    code, arm, _ = await api("GET", "images", params={"arch": "aarch64"})
    assert arm["images"] and all(i["arch"] == "aarch64" for i in arm["images"])
    # the catalogue came from the cache: no new upstream listing
    assert upstream(emulator, "images") == calls
    code, err, _ = await api("GET", "images", params={"arch": "sparc"})
    assert code == 400 and "arch" in err["message"]


# --------------------------------------------------------------------------- open, switch guard, actions


async def test_open_default_image_reaches_running_without_token_leaks(api, emulator):
    code, inst, _ = await api("POST", "open", {})
    assert code == 200, inst
    assert_matches("Instance", inst)
    assert inst["token"] is None
    assert inst["feature"] == "DEFAULT"
    running = await wait_running(api, inst["id"])
    assert [s["status"] for s in running["action_progress"]] == ["COMPLETED"] * 4
    # the notebook token travels only inside the instance's own URL
    upstream_token = emulator.instances()[0]["token"]
    assert f"token={upstream_token}" in running["url"]
    code, listing, _ = await api("GET", "instances")
    assert [i["id"] for i in listing["instances"]] == [inst["id"]]
    assert upstream_token not in json.dumps({**listing["instances"][0], "url": None})


async def test_open_shared_notebook_sends_base64_of_the_raw_url(api, emulator):
    page = "https://github.com/mindspore-ai/docs/blob/r2.2/tutorials/a.ipynb"
    raw = "https://raw.githubusercontent.com/mindspore-ai/docs/r2.2/tutorials/a.ipynb"
    code, inst, _ = await api("POST", "open", {"share_url": page})
    assert code == 200, inst
    assert inst["share_url"] == raw
    state = json.dumps(emulator.instances())
    assert raw in state  # the emulator decoded exactly the Base64 of the raw URL
    assert base64.b64encode(raw.encode()).decode() in state or raw in state


@pytest.mark.parametrize(
    "body",
    [
        {"share_url": "javascript:alert(1)"},
        {"share_url": "file:///etc/passwd"},
        {"share_url": "data:application/json,{}"},
        {"share_url": "https://user:secret@example.org/a.ipynb"},
        {"share_url": "https://example.org/" + "x" * 2100},
        {"image_id": "../../etc"},
        {"image_id": 7},
        {"switch": "true"},
        {"unknown": True},
    ],
)
async def test_open_refuses_bad_input_with_zero_upstream_calls(api, emulator, body):
    emulator.reset_stats()
    code, answer, _ = await api("POST", "open", body)
    assert code == 400, answer
    assert answer["message"]
    assert emulator.stats().get("total", 0) == 0


async def test_switching_a_running_instance_needs_confirmation(api, emulator):
    code, inst, _ = await api("POST", "open", {})
    running = await wait_running(api, inst["id"])
    code, images, _ = await api("GET", "images", params={"category": "GPU"})
    other = images["images"][0]["id"]
    assert other != running["image"]["id"]
    opens = upstream(emulator, "open")
    # When the user asks for another image without confirming
    code, body, _ = await api("POST", "open", {"image_id": other})
    # Then 409 with the current instance, and nothing was sent upstream to open
    assert code == 409, body
    assert body["instance"]["id"] == inst["id"] and body["instance"]["token"] is None
    assert "switch" in body["message"]
    assert upstream(emulator, "open") == opens
    # With switch: true the instance restarts on the new image
    code, switched, _ = await api("POST", "open", {"image_id": other, "switch": True})
    assert code == 200, switched
    assert upstream(emulator, "open") == opens + 1
    final = await wait_running(api, inst["id"])
    assert final["image"]["id"] == other
    # the same image again is not a switch
    code, same, _ = await api("POST", "open", {"image_id": other})
    assert code == 200 and same["id"] == inst["id"]


async def test_the_catalogue_marks_the_default_image(api, emulator):
    from codelab_ext.emulator import DEFAULT_IMAGE_ID

    code, body, _ = await api("GET", "images")
    assert code == 200
    marked = [image["id"] for image in body["images"] if image["default"]]
    assert marked == [DEFAULT_IMAGE_ID]
    assert all(image["default"] is False for image in body["images"] if image["id"] != DEFAULT_IMAGE_ID)


@pytest.mark.parametrize("body", [{}, {"image_id": ""}, {"image_id": "  "}, {"share_url": SHARE_PAGE}])
async def test_an_open_naming_no_image_never_switches_a_gpu_instance(api, emulator, body):
    from codelab_ext.emulator import DEFAULT_IMAGE_ID

    # Given a GPU instance running
    code, images, _ = await api("GET", "images", params={"category": "GPU"})
    gpu = images["images"][0]
    code, inst, _ = await api("POST", "open", {"image_id": gpu["id"]})
    assert code == 200, inst
    await wait_running(api, inst["id"])
    opens = upstream(emulator, "open")
    # When an open names no image (or a blank one): that is the default image, another image
    code, answer, _ = await api("POST", "open", body)
    # Then 409 with the instance and the server's message, nothing sent upstream, nothing restarted
    assert code == 409, answer
    assert answer["code"] == "codelab.switch_required"
    assert answer["instance"]["id"] == inst["id"] and answer["instance"]["token"] is None
    assert gpu["name"] in answer["message"] and "notebook2.0-mul-kernel-cpu-cp36" in answer["message"]
    assert upstream(emulator, "open") == opens
    code, still, _ = await api("GET", f"instances/{inst['id']}")
    assert still["status"] == "RUNNING" and still["image"]["id"] == gpu["id"]
    # And confirmed, the default image is named to ModelArts (never a blank image_id)
    code, switched, _ = await api("POST", "open", {**body, "switch": True})
    assert code == 200, switched
    assert (await wait_running(api, inst["id"], timeout=20))["image"]["id"] == DEFAULT_IMAGE_ID


async def test_stop_start_lease_and_not_found(api, emulator):
    code, inst, _ = await api("POST", "open", {})
    await wait_running(api, inst["id"])
    # lease: bounds validated before anything goes upstream
    emulator.reset_stats()
    for bad in ({"duration_ms": 1}, {"duration_ms": 73 * 3_600_000}, {"duration_ms": "2h"}, {}):
        code, body, _ = await api("PATCH", f"instances/{inst['id']}/lease", bad)
        assert code == 400, body
    assert emulator.stats().get("renew_lease", 0) == 0
    before = time.time() * 1000
    code, lease, _ = await api("PATCH", f"instances/{inst['id']}/lease", {"duration_ms": 2 * 3_600_000})
    assert code == 200, lease
    assert_matches("Lease", lease)
    assert lease["duration"] == 2 * 3_600_000
    assert lease["expires_at"] >= before + 2 * 3_600_000 - 5_000
    # stop, then start
    code, stopped, _ = await api("POST", f"instances/{inst['id']}/stop")
    assert code == 200 and stopped["status"] in ("STOPPING", "STOPPED")
    await wait_status(api, inst["id"], "STOPPED")
    # the lease of an instance that is not running is never asked for: 409, nothing upstream
    emulator.reset_stats()
    for method, body in (("GET", None), ("PATCH", {"duration_ms": 2 * 3_600_000})):
        code, refused, _ = await api(method, f"instances/{inst['id']}/lease", body)
        assert code == 409 and refused["code"] == "codelab.not_running", refused
        assert "STOPPED" in refused["message"] and "RUNNING" in refused["message"]
    assert emulator.stats().get("lease", 0) == emulator.stats().get("renew_lease", 0) == 0
    code, started, _ = await api("POST", f"instances/{inst['id']}/start")
    assert code == 200 and started["status"] in ("STARTING", "RUNNING", "STOPPING", "STOPPED")
    await wait_running(api, inst["id"])
    # an unknown instance: ModelArts says 400 ModelArts.6309, we say 404 with its code
    code, body, _ = await api("GET", "instances/0f0f0f0f-0000-4000-8000-000000000000")
    assert code == 404 and body["code"] == "ModelArts.6309" and body.get("request_id")
    code, body, _ = await api("GET", "instances/bad..id")
    assert code == 400


# --------------------------------------------------------------------------- upstream failures


async def test_upstream_failures_become_readable_errors(api, emulator):
    code, inst, _ = await api("POST", "open", {})
    iid = inst["id"]
    emulator.set_fault("throttle", "show", count=None, retry_after=7)
    code, body, response = await api("GET", f"instances/{iid}")
    assert code == 429 and response.headers["Retry-After"] == "7"
    assert body["message"] and body["code"] == "APIGW.0308"
    emulator.clear_faults()
    emulator.set_fault("html", "show", count=None, status=502)
    code, body, _ = await api("GET", f"instances/{iid}")
    assert code == 502 and "<html" not in body["message"].lower()
    emulator.clear_faults()
    emulator.set_fault("malformed_json", "show", count=None)
    code, body, _ = await api("GET", f"instances/{iid}")
    assert code == 502 and body["message"]
    emulator.clear_faults()
    emulator.set_fault("latency", "show", count=None, latency_ms=5000)
    code, body, _ = await api("GET", f"instances/{iid}")
    assert code == 504 and body["message"]
    emulator.clear_faults()
    code, body, _ = await api("GET", f"instances/{iid}")
    assert code == 200


async def test_a_refusal_names_the_credential_source_and_masked_key(api, creds_file):
    # Given stored keys the cloud does not know
    unknown = Credentials(source="stored", access_key="UNKNOWNACCESSKEY01", secret_key="no-such-secret-key")
    store_credentials(creds_file, unknown)
    code, body, _ = await api("GET", "instances")
    # Then the 401 says which credentials were used, masked, and never the secret
    assert code == 401, body
    assert body["message"].endswith("(credentials from stored, key UNKN****EY01)")
    assert "no-such-secret-key" not in json.dumps(body)


async def test_a_stalled_upstream_does_not_block_other_requests(api, emulator):
    code, inst, _ = await api("POST", "open", {})
    emulator.set_fault("latency", "show", count=None, latency_ms=1500)
    slow = asyncio.ensure_future(api("GET", f"instances/{inst['id']}"))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    code, _, _ = await api("GET", "status")
    fast_elapsed = time.monotonic() - started
    assert code == 200
    assert not slow.done()  # status answered while the upstream call was still held
    await slow
    emulator.clear_faults()
    assert fast_elapsed < 1.4


# --------------------------------------------------------------------------- live progress (SSE)


async def test_events_stream_every_step_to_two_subscribers_with_one_poller(
    api, emulator, jp_http_port, jp_base_url, jp_auth_header
):
    emulator.set_speed(0)  # the test moves the emulated clock itself
    code, inst, _ = await api("POST", "open", {})
    assert code == 200, inst
    iid = inst["id"]
    path = f"{jp_base_url}{NAMESPACE}/instances/{iid}/events"
    streams = [await SSEStream(jp_http_port, path, jp_auth_header).open() for _ in range(2)]
    for stream in streams:
        assert stream.status == 200
        assert stream.response_headers["content-type"].startswith("text/event-stream")
    seen: list[list[tuple[str, tuple[str, ...]]]] = [[], []]

    async def collect(n: int) -> None:
        while True:
            event, data = await streams[n].next_event(timeout=15)
            assert event == "instance"
            assert data["token"] is None
            seen[n].append((data["status"], tuple(s["status"] for s in data["action_progress"])))
            if data["status"] == "RUNNING":
                return

    tasks = [asyncio.ensure_future(collect(n)) for n in range(2)]
    emulator.reset_stats()
    while not all(t.done() for t in tasks):
        emulator.advance(2.0)
        await asyncio.sleep(0.3)
    for t in tasks:
        t.result()
    show_polls = upstream(emulator, "show")
    # both subscribers saw the same sequence, which walks the four steps to COMPLETED
    assert seen[0] == seen[1]
    step_states = {s for _, steps in seen[0] for s in steps}
    assert {"PROCESSING", "COMPLETED"} <= step_states
    assert seen[0][-1] == ("RUNNING", ("COMPLETED",) * 4)
    # one poller: about one upstream "show" per second, not one per subscriber per second
    assert show_polls <= len(seen[0]) + 6, (show_polls, len(seen[0]))
    for stream in streams:
        await stream.close()


async def test_events_stop_polling_when_nobody_listens(
    api, emulator, jp_http_port, jp_base_url, jp_auth_header, jp_serverapp
):
    code, inst, _ = await api("POST", "open", {})
    assert code == 200, inst
    await wait_running(api, inst["id"])
    path = f"{jp_base_url}{NAMESPACE}/instances/{inst['id']}/events"
    stream = await SSEStream(jp_http_port, path, jp_auth_header).open()
    event, data = await stream.next_event()
    assert event == "instance" and data["status"] == "RUNNING"
    hub = jp_serverapp.web_app.settings["codelab_service"].watchers
    assert inst["id"] in hub.watchers
    await stream.close()
    for _ in range(100):
        if inst["id"] not in hub.watchers:
            break
        await asyncio.sleep(0.05)
    assert inst["id"] not in hub.watchers
    tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("codelab-watch-")]
    assert not [t for t in tasks if not t.done()]


async def test_events_for_a_missing_instance_send_an_error_event(
    api, jp_http_port, jp_base_url, jp_auth_header
):
    path = f"{jp_base_url}{NAMESPACE}/instances/0f0f0f0f-0000-4000-8000-000000000000/events"
    stream = await SSEStream(jp_http_port, path, jp_auth_header).open()
    event, data = await stream.next_event()
    assert event == "upstream-error" and data["status"] == 404 and data["code"] == "ModelArts.6309"
    await stream.close()


# --------------------------------------------------------------------------- SSH config


async def test_ssh_config_is_accepted_by_openssh(api, emulator, tmp_path):
    code, inst, _ = await api("POST", "open", {})
    await wait_running(api, inst["id"])
    code, text, response = await api("GET", f"instances/{inst['id']}/ssh-config", params={"alias": "my-lab"})
    assert code == 200, text
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "Host my-lab" in text and "User ma-user" in text
    config = tmp_path / "ssh_config"
    config.write_text(text)
    out = subprocess.run(
        ["ssh", "-G", "-F", str(config), "my-lab"], capture_output=True, text=True, check=True
    )
    options = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    ssh = inst["ssh"] or (await api("GET", f"instances/{inst['id']}"))[1]["ssh"]
    assert options["hostname"] == ssh["host"]
    assert options["port"] == str(ssh["port"])
    assert options["user"] == "ma-user"
    assert options["stricthostkeychecking"] == "accept-new"
    assert options["userknownhostsfile"].endswith(f"/.ssh/codelab-{inst['id']}.known_hosts")
    assert "proxycommand" not in options
    # hostile query values are refused before anything is rendered
    for params in ({"alias": "x\nProxyCommand sh"}, {"identity_file": "%d/key"}, {"colour": "red"}):
        code, body, _ = await api("GET", f"instances/{inst['id']}/ssh-config", params=params)
        assert code == 400, (params, body)


async def test_ssh_config_for_an_image_without_ssh_is_404(api, emulator):
    code, images, _ = await api("GET", "images")
    no_ssh = [i for i in images["images"] if "SSH" not in i["dev_services"]]
    assert no_ssh
    code, inst, _ = await api("POST", "open", {"image_id": no_ssh[0]["id"]})
    assert code == 200, inst
    await wait_running(api, inst["id"])
    code, body, _ = await api("GET", f"instances/{inst['id']}/ssh-config")
    assert code == 404 and "SSH" in body["message"]


async def test_install_ssh_config_writes_the_clis_managed_block(api, emulator, tmp_path):
    # Given a running SSH instance and a user's own ~/.ssh/config
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    own = b"Host mine\n    HostName mine.invalid\n"
    (home / ".ssh" / "config").write_bytes(own)
    code, inst, _ = await api("POST", "open", {})
    await wait_running(api, inst["id"])
    # When the panel asks the server to install the config
    code, body, _ = await api("POST", f"instances/{inst['id']}/ssh-config/install", {})
    # Then the server answers the CLI's --json shape plus the command, and the files are written
    assert code == 200, body
    assert_matches("SshInstall", body)
    assert body["alias"] == "codelab-cn-north-4" and body["command"] == "ssh codelab-cn-north-4"
    managed = home / ".ssh" / "config.d" / "codelab"
    assert body["installed"] == str(managed)
    assert (managed.stat().st_mode & 0o777) == 0o600
    assert body["block"] in managed.read_text()
    user_config = (home / ".ssh" / "config").read_bytes()
    assert user_config.endswith(own) and user_config.startswith(b"Include ")
    # the block is the one GET ssh-config renders (same alias and identity), bar its timestamp line
    code, text, _ = await api("GET", f"instances/{inst['id']}/ssh-config")
    assert text.splitlines()[1:] == body["block"].splitlines()[1:]
    out = subprocess.run(
        ["ssh", "-G", "-F", str(home / ".ssh" / "config"), "codelab-cn-north-4"],
        capture_output=True,
        text=True,
        check=True,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
    )
    options = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    ssh = (await api("GET", f"instances/{inst['id']}"))[1]["ssh"]
    assert options["hostname"] == ssh["host"] and options["port"] == str(ssh["port"])
    assert options["stricthostkeychecking"] == "accept-new"
    # a second install with another alias and key replaces the block, keeps the user's lines
    code, again, _ = await api(
        "POST",
        f"instances/{inst['id']}/ssh-config/install",
        {"alias": "my-lab", "identity_file": "~/.ssh/other.pem"},
    )
    assert code == 200, again
    text = managed.read_text()
    assert "Host my-lab" in text and "Host codelab-cn-north-4" not in text
    assert "IdentityFile ~/.ssh/other.pem" in text
    assert again["command"] == "ssh my-lab"
    assert (home / ".ssh" / "config").read_bytes().endswith(own)


async def test_install_ssh_config_refuses_bad_input_and_writes_nothing(api, emulator, tmp_path):
    home = tmp_path / "home"
    home.mkdir(parents=True, exist_ok=True)
    code, inst, _ = await api("POST", "open", {})
    await wait_running(api, inst["id"])
    for body in (
        {"alias": "x\nProxyCommand sh"},
        {"identity_file": "%d/key"},
        {"colour": "red"},
        {"alias": 7},
        "[1]",
    ):
        code, answer, _ = await api("POST", f"instances/{inst['id']}/ssh-config/install", body)
        assert code == 400, (body, answer)
        assert answer["message"]
    code, images, _ = await api("GET", "images")
    no_ssh = [i for i in images["images"] if "SSH" not in i["dev_services"]]
    code, other, _ = await api("POST", "open", {"image_id": no_ssh[0]["id"], "switch": True})
    assert code == 200, other
    await wait_running(api, other["id"])
    code, answer, _ = await api("POST", f"instances/{other['id']}/ssh-config/install", {})
    assert code == 404 and "SSH" in answer["message"]
    assert not (home / ".ssh").exists()


async def test_images_carry_the_free_flavor_modelarts_lists_and_status_the_lease_rule(api, emulator):
    # Given the emulator's catalogue and its free flavors (ListFlavors, feature DEFAULT)
    from codelab_ext.validation import MAX_LEASE_MS, MIN_LEASE_MS

    # When the panel asks for the images and the status
    code, images, _ = await api("GET", "images")
    assert code == 200, images
    code, status, _ = await api("GET", "status")
    assert code == 200, status

    # Then every image says which free flavor it runs on, as ModelArts described it
    for image in images["images"]:
        assert_matches("Image", image)
        flavor = image["free_flavor"]
        assert flavor is not None, image["name"]
        assert flavor["category"] == image["category"] and flavor["arch"] == image["arch"]
        assert flavor["description"] and "free" in flavor["description"]
    cpu = next(i for i in images["images"] if i["category"] == "CPU" and i["arch"] == "x86_64")
    assert cpu["free_flavor"]["id"] == "modelarts.vm.cpu.free"
    assert cpu["free_flavor"]["vcpus"] == 2 and cpu["free_flavor"]["memory"] == 8192
    # and the status carries the lease rule PATCH lease enforces
    assert status["lease"] == {"default_ms": 3_600_000, "min_ms": MIN_LEASE_MS, "max_ms": MAX_LEASE_MS}
    assert_matches("Status", status)


async def test_the_server_answers_ssh_command_status_class_and_category(api, emulator):
    # the panel shows these instead of computing them (one rule each, on the server)
    code, images, _ = await api("GET", "images")
    assert {i["category"] for i in images["images"]} == {"CPU", "GPU", "ASCEND"}
    code, gpu, _ = await api("GET", "images", params={"category": "GPU"})
    assert gpu["images"] and {i["category"] for i in gpu["images"]} == {"GPU"}
    code, inst, _ = await api("POST", "open", {})
    assert inst["status_class"] == "changing" and inst["ssh_command"] is None
    running = await wait_running(api, inst["id"])
    assert running["status_class"] == "running"
    ssh = running["ssh"]
    assert_matches("Instance", running)
    assert running["ssh_command"].startswith("ssh ") and f"-p {ssh['port']}" in running["ssh_command"]
    assert running["ssh_command"].endswith(f"{ssh['user']}@{ssh['host']}")
    # another identity file: the same rule, on the server
    code, body, _ = await api(
        "GET", f"instances/{inst['id']}/ssh-command", params={"identity_file": "~/.ssh/my key.pem"}
    )
    assert code == 200, body
    assert set(body) == {"ssh_command"}
    assert "-i ~/'.ssh/my key.pem'" in body["ssh_command"] and "IdentitiesOnly=yes" in body["ssh_command"]
    for params in ({"identity_file": "%d/key"}, {"alias": "x"}):
        code, body, _ = await api("GET", f"instances/{inst['id']}/ssh-command", params=params)
        assert code == 400, (params, body)


async def test_share_url_preview_answers_what_open_sends(api, emulator):
    emulator.reset_stats()
    gist = "https://gist.github.com/alice/0123abcdef#file-demo-ipynb"
    code, body, _ = await api("GET", "share-url", params={"url": gist})
    assert code == 200, body
    assert_matches("SharePreview", body)
    assert body == {
        "share_url": "https://gist.githubusercontent.com/alice/0123abcdef/raw/demo.ipynb",
        "converted": True,
        "looks_like_notebook": True,
    }
    code, body, _ = await api("GET", "share-url", params={"url": "https://example.org/data.csv"})
    assert body == {
        "share_url": "https://example.org/data.csv",
        "converted": False,
        "looks_like_notebook": False,
    }
    # nothing went upstream
    assert emulator.stats().get("total", 0) == 0
    # the open answer echoes exactly what the preview said
    code, inst, _ = await api("POST", "open", {"share_url": gist})
    assert inst["share_url"] == "https://gist.githubusercontent.com/alice/0123abcdef/raw/demo.ipynb"
    for params in ({"url": "https://u:pw@example.org/a.ipynb"}, {"url": "ftp://x/a.ipynb"}, {}, {"uri": "x"}):
        code, body, _ = await api("GET", "share-url", params=params)
        assert code == 400 and body["message"], (params, body)
        assert "pw" not in body["message"]


# --------------------------------------------------------------------------- OpenAPI stays true


def test_openapi_describes_every_route_and_nothing_else():
    routes = set()
    for path, handler in route_table():
        path = path.replace("(?P<instance_id>[^/]+)", "{instance_id}")
        path = re.sub(r"\(\?P<job_id>[^)]*\)", "{job_id}", path)
        verbs = frozenset(m for m in ("get", "post", "put", "patch", "delete") if m in handler.__dict__)
        choice = re.search(r"\(\?P<\w+>([\w|]+)\)", path)  # (?P<verb>start|stop): one route per word
        for word in choice.group(1).split("|") if choice else [None]:
            routes.add((path.replace(choice.group(0), word) if choice and word else path, verbs))
    documented = set()
    for path, item in OPENAPI["paths"].items():
        verbs = frozenset(m for m in ("get", "post", "put", "patch", "delete") if m in item)
        documented.add((path.lstrip("/"), verbs))
    assert routes == documented


async def test_openapi_is_served(api):
    code, body, _ = await api("GET", "openapi.json")
    assert code == 200 and body["openapi"].startswith("3.")

"""The ModelArts + IAM emulator, exercised over real HTTP with signed requests.

State-machine tests freeze the emulated clock (``set_speed(0)``) and move it by hand so that every
intermediate state is observed deterministically; the rest run at the fixtures' fast speed.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from codelab_ext.emulator import (
    DEFAULT_IMAGE_ID,
    DEMO_ACCOUNT,
    DEMO_PROJECT_ID,
    IMAGES,
    Account,
    Clock,
    Emulator,
)
from codelab_ext.emulator.accounts import AccountBook
from codelab_ext.emulator.auth import verify_aksk
from codelab_ext.emulator.errors import ApiError
from codelab_ext.emulator.state import (
    CREATE_STEP_SECONDS,
    QUEUE_SECONDS,
    START_STEP_SECONDS,
    STEP_DESCRIPTIONS,
    STOP_SECONDS,
    EmulatorState,
    Phase,
    decode_share_url,
    evaluate_phase,
)
from codelab_ext.emulator.testing import EmulatorHandle, sdk_date, sign

GPU_IMAGE = "a7ba5926-a97b-4d0d-8dc9-fa96913b3219"  # pytorch1.8 GPU, SSH
NO_SSH_IMAGE = "d1737a7b-6ce7-491f-b8b5-4397600baa66"  # conda3, NOTEBOOK only
ASCEND_IMAGE = "fdf0d2d6-0cd2-4515-9330-1d68afe34827"
FCN8S_URL = (
    "https://mindspore-website.obs.cn-north-4.myhuaweicloud.com/notebook/r2.2/tutorials/application/"
    "zh_cn/cv/mindspore_fcn8s.ipynb"
)
FCN8S_B64 = (
    "aHR0cHM6Ly9taW5kc3BvcmUtd2Vic2l0ZS5vYnMuY24tbm9ydGgtNC5teWh1YXdlaWNsb3VkLmNvbS9ub3RlYm9vay9yMi4yL3R1"
    "dG9yaWFscy9hcHBsaWNhdGlvbi96aF9jbi9jdi9taW5kc3BvcmVfZmNuOHMuaXB5bmI="
)
INSTANCE_FIELDS = {
    "id",
    "name",
    "status",
    "feature",
    "flavor",
    "description",
    "token",
    "workspace_id",
    "create_at",
    "update_at",
    "image",
    "action_progress",
    "lease",
    "volume",
}
IMAGE_FIELDS = {
    "id",
    "name",
    "tag",
    "description",
    "type",
    "arch",
    "resource_categories",
    "dev_services",
    "status",
    "swr_path",
    "service_type",
    "create_at",
}


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def notebooks(emulator: EmulatorHandle, suffix: str = "") -> str:
    return f"/v1/{emulator.project_id}/notebooks{suffix}"


def open_instance(emulator: EmulatorHandle, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = emulator.request("POST", notebooks(emulator, "/open"), body if body is not None else {})
    assert response.status_code == 200, response.text
    return response.json()


def show(emulator: EmulatorHandle, instance_id: str) -> dict[str, Any]:
    response = emulator.request("GET", notebooks(emulator, f"/{instance_id}"))
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(emulator: EmulatorHandle, instance_id: str, status: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = show(emulator, instance_id)
        if body["status"] == status:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"instance stayed {body['status']} (waiting for {status})")
        time.sleep(0.005)


def steps(body: dict[str, Any]) -> list[str]:
    return [step["status"] for step in body["action_progress"]]


def error_of(response: requests.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error_code"], body["error_msg"]


def send(
    emulator: EmulatorHandle, method: str, url: str, headers: dict[str, str], body: bytes = b""
) -> requests.Response:
    return emulator.session.request(method, url, data=body, headers=headers, timeout=10)


def signed_as(
    account: Account, method: str, url: str, body: bytes = b"", **kwargs: Any
) -> tuple[str, dict[str, str]]:
    return sign(
        method,
        url,
        body,
        {"Content-Type": "application/json"},
        access_key=account.access_key,
        secret_key=account.secret_key,
        **kwargs,
    )


@pytest.fixture
def frozen(emulator: EmulatorHandle) -> EmulatorHandle:
    """The emulator with its emulated clock stopped: time moves only with ``advance``."""
    emulator.set_speed(0)
    return emulator


# --------------------------------------------------------------------------------------------------
# clock, phases, catalogue (no HTTP)
# --------------------------------------------------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_clock_scales_emulated_time_and_keeps_it_across_speed_changes() -> None:
    fake = FakeTime()
    clock = Clock(10, wall=fake, monotonic=fake)
    fake.now += 2
    assert clock.emulated() == pytest.approx(20)
    clock.set_speed(0)
    fake.now += 100
    assert clock.emulated() == pytest.approx(20)
    clock.advance(5)
    assert clock.emulated() == pytest.approx(25)
    clock.set_speed(1)
    fake.now += 1
    assert clock.emulated() == pytest.approx(26)
    assert clock.now_ms() == int(fake.now * 1000)
    assert clock.wall_ms_at(25) == int(fake.now * 1000) - 1000
    with pytest.raises(ValueError):
        clock.set_speed(-1)
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_create_phase_walks_steps_in_order_with_statuses() -> None:
    phase = Phase("create", 0.0, step_seconds=CREATE_STEP_SECONDS)
    seen = []
    t = 0.0
    while t < 25:
        reading = evaluate_phase(phase, t)
        snapshot = (reading.status, tuple(reading.steps or ()))
        if not seen or seen[-1] != snapshot:
            seen.append(snapshot)
        t += 0.25
    assert seen == [
        ("CREATING", ("WAITING",) * 4),
        ("CREATING", ("PROCESSING", "WAITING", "WAITING", "WAITING")),
        ("CREATING", ("COMPLETED", "PROCESSING", "WAITING", "WAITING")),
        ("STARTING", ("COMPLETED", "COMPLETED", "PROCESSING", "WAITING")),
        ("STARTING", ("COMPLETED", "COMPLETED", "COMPLETED", "PROCESSING")),
        ("RUNNING", ("COMPLETED",) * 4),
    ]
    assert QUEUE_SECONDS + sum(CREATE_STEP_SECONDS) == pytest.approx(20.0)  # speed 1: ~20 s


def test_restart_phase_stops_first_and_failure_stops_the_walk() -> None:
    phase = Phase("restart", 0.0, stop_seconds=STOP_SECONDS, step_seconds=START_STEP_SECONDS, fail_step=2)
    assert evaluate_phase(phase, 0).status == "STOPPING"
    assert evaluate_phase(phase, 0).steps is None
    assert evaluate_phase(phase, STOP_SECONDS).status == "STARTING"
    failed_at = STOP_SECONDS + QUEUE_SECONDS + START_STEP_SECONDS[0] + START_STEP_SECONDS[1] / 2
    assert evaluate_phase(phase, failed_at - 0.01).steps == ["COMPLETED", "PROCESSING", "WAITING", "WAITING"]
    reading = evaluate_phase(phase, failed_at + 100)
    assert reading.status == "START_FAILED"
    assert reading.steps == ["COMPLETED", "FAILED", "WAITING", "WAITING"]
    assert reading.ended_at == pytest.approx(failed_at)


def test_catalogue_is_realistic() -> None:
    assert len(IMAGES) >= 12
    assert IMAGES[0]["id"] == DEFAULT_IMAGE_ID
    assert IMAGES[0]["name"] == "notebook2.0-mul-kernel-cpu-cp36"
    assert IMAGES[0]["dev_services"] == ["NOTEBOOK", "SSH"]
    uuid_re = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    assert all(uuid_re.match(image["id"]) for image in IMAGES)
    assert len({image["id"] for image in IMAGES}) == len(IMAGES)
    archs = {image["arch"] for image in IMAGES}
    assert {"x86_64", "X86_64", "aarch64", "AARCH64"} <= archs
    categories = {c for image in IMAGES for c in image["resource_categories"]}
    assert {"CPU", "GPU", "ASCEND"} <= categories
    assert any("SSH" not in image["dev_services"] for image in IMAGES)
    assert [image["type"] for image in IMAGES].count("DEDICATED") == 1
    assert any(i["arch"].lower() == "aarch64" and i["resource_categories"] == ["CPU"] for i in IMAGES)
    for image in IMAGES:
        assert IMAGE_FIELDS <= set(image)
        assert image["status"] == "ACTIVE"
        assert image["swr_path"].endswith(f"/{image['name']}:{image['tag']}")


def test_demo_account_constants() -> None:
    assert DEMO_ACCOUNT.projects["cn-north-4"] == DEMO_PROJECT_ID
    assert all(re.fullmatch(r"[0-9a-f]{32}", pid) for pid in DEMO_ACCOUNT.projects.values())
    assert re.fullmatch(r"[A-Z0-9]{20}", DEMO_ACCOUNT.access_key)
    assert re.fullmatch(r"[A-Za-z0-9]{40}", DEMO_ACCOUNT.secret_key)
    assert DEMO_ACCOUNT.secret_key not in repr(DEMO_ACCOUNT)
    assert DEMO_ACCOUNT.iam_password not in repr(DEMO_ACCOUNT)


def test_share_url_decoding() -> None:
    assert decode_share_url(FCN8S_B64) == FCN8S_URL
    for bad in [
        "not base64!",
        "aGk",
        base64.b64encode(b"ftp://x/y").decode(),
        base64.b64encode(b"\xff\xfe").decode(),
    ]:
        with pytest.raises(ApiError) as caught:
            decode_share_url(bad)
        assert caught.value.status == 400


@pytest.mark.parametrize(
    ("account", "method", "path", "query", "headers", "body", "date"),
    [
        (
            Account("vector-d", "AccessKey", "SecretKey", {"cn-north-4": "pid123"}, security_token="TOK"),
            "POST",
            "/v1/pid123/notebooks/open",
            [],
            {
                "content-type": "application/json",
                "host": "modelarts.cn-north-4.myhuaweicloud.com",
                "x-project-id": "pid123",
                "x-security-token": "TOK",
                "authorization": "SDK-HMAC-SHA256 Access=AccessKey, "
                "SignedHeaders=content-type;host;x-project-id;x-sdk-date;x-security-token, "
                "Signature=7e6d007680e4f4f099264f86b451e6a2b097c20874a6bb4415d5b249e77e6ce8",
            },
            b'{"share_url": "aGk="}',
            "20240101T000000Z",
        ),
        (
            Account("vector-c", "QTWAOYTTINDUT2QVKYUC", "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"),
            "GET",
            "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
            [("limit", "2"), ("marker", "13551d6b-755d-4757-b956-536f674975c0")],
            {
                "content-type": "application/json",
                "host": "service.region.example.com",
                "authorization": "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, "
                "SignedHeaders=content-type;host;x-sdk-date, "
                "Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe",
            },
            b"",
            "20191115T033655Z",
        ),
    ],
    ids=["vector-D", "vector-C"],
)
def test_published_vectors_verify(account, method, path, query, headers, body, date) -> None:
    state = EmulatorState(Clock(0), AccountBook([account]))
    headers = {**headers, "x-sdk-date": date}
    when = datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
    assert verify_aksk(state, method, path, query, headers, body, when).account is account
    with pytest.raises(ApiError, match="signature"):
        verify_aksk(state, method, path + "x", query, headers, body, when)
    with pytest.raises(ApiError, match="clock"):
        verify_aksk(state, method, path, query, headers, body, when + 16 * 60)


# --------------------------------------------------------------------------------------------------
# AK/SK signatures over HTTP
# --------------------------------------------------------------------------------------------------


def test_signed_request_accepted_with_request_id(emulator: EmulatorHandle) -> None:
    response = emulator.request("GET", f"/v1/{emulator.project_id}/images", query={"limit": "1"})
    assert response.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-Id"])
    assert response.headers["Content-Type"].startswith("application/json")


def test_query_with_spaces_and_unicode_is_verified(emulator: EmulatorHandle) -> None:
    response = emulator.request(
        "GET", notebooks(emulator), query=[("feature", "DEFAULT"), ("name", "笔记 本+1")]
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("tamper", ["path", "query", "body", "signed_header", "date", "method"])
def test_tampered_request_refused(emulator: EmulatorHandle, tamper: str) -> None:
    url = f"{emulator.url}/v1/{emulator.project_id}/notebooks/open?feature=DEFAULT&limit=10"
    body = b'{"image_id": "x"}'
    signed_url, headers = signed_as(emulator.account, "POST", url, body, project_id=emulator.project_id)
    method = "POST"
    if tamper == "path":  # signed for .../notebooks, sent to .../images
        method, body = "GET", b""
        signed_url, headers = signed_as(emulator.account, "GET", url.replace("/open", ""), body)
        signed_url = signed_url.replace("/notebooks?", "/images?")
    elif tamper == "query":
        signed_url = signed_url.replace("limit=10", "limit=20")
    elif tamper == "body":
        body = b'{"image_id": "y"}'
    elif tamper == "signed_header":
        headers["Content-Type"] = "text/plain"
    elif tamper == "date":
        headers["X-Sdk-Date"] = sdk_date(time.time() - 60)
    elif tamper == "method":  # signed as a PUT, sent as a POST
        signed_url, headers = signed_as(emulator.account, "PUT", url, body, project_id=emulator.project_id)
    response = send(emulator, method, signed_url, headers, body)
    assert response.status_code == 401, response.text
    _, code, message = error_of(response)
    assert code == "APIGW.0301"
    assert "signature" in message
    assert response.json()["request_id"] == response.headers["X-Request-Id"]


def test_unsigned_extra_headers_do_not_matter(emulator: EmulatorHandle) -> None:
    signed_url, headers = signed_as(emulator.account, "GET", f"{emulator.url}{notebooks(emulator)}")
    headers["X-Later"] = "added after signing"
    headers["TEST_UNDERSCORE"] = "never signed"
    assert send(emulator, "GET", signed_url, headers).status_code == 200


def test_unknown_access_key_and_wrong_secret_refused(emulator: EmulatorHandle) -> None:
    url = f"{emulator.url}{notebooks(emulator)}"
    stranger = Account("x", "UNKNOWNACCESSKEY0000", "x" * 40)
    response = send(emulator, "GET", *signed_as(stranger, "GET", url))
    assert error_of(response)[:2] == (401, "APIGW.0301")
    assert "does not exist" in error_of(response)[2]
    wrong_sk = Account("x", DEMO_ACCOUNT.access_key, "y" * 40)
    response = send(emulator, "GET", *signed_as(wrong_sk, "GET", url))
    assert error_of(response)[:2] == (401, "APIGW.0301")
    assert emulator.stats()["unauthorized"] == 2


@pytest.mark.parametrize(("minutes", "accepted"), [(-20, False), (20, False), (-10, True), (10, True)])
def test_clock_skew(emulator: EmulatorHandle, minutes: int, accepted: bool) -> None:
    url = f"{emulator.url}{notebooks(emulator)}"
    date = sdk_date(datetime.now(timezone.utc) + timedelta(minutes=minutes))
    response = send(emulator, "GET", *signed_as(emulator.account, "GET", url, date=date))
    if accepted:
        assert response.status_code == 200
    else:
        status, code, message = error_of(response)
        assert (status, code) == (401, "APIGW.0301")
        assert "clock" in message
        assert "15 minutes" in message


def test_missing_or_malformed_authentication(emulator: EmulatorHandle) -> None:
    url = f"{emulator.url}{notebooks(emulator)}"
    assert error_of(emulator.session.get(url))[:2] == (401, "APIGW.0301")
    bad = {"Authorization": "Basic dXNlcjpwYXNz", "X-Sdk-Date": sdk_date()}
    assert error_of(emulator.session.get(url, headers=bad))[:2] == (401, "APIGW.0301")
    signed_url, headers = signed_as(emulator.account, "GET", url)
    headers.pop("X-Sdk-Date")
    assert error_of(send(emulator, "GET", signed_url, headers))[:2] == (401, "APIGW.0301")


def test_temporary_credentials_need_their_security_token() -> None:
    temp = Account(
        "temp", "TEMPORARYACCESSKEY01", "t" * 40, {"cn-north-4": "f" * 32}, security_token="STS-TOKEN"
    )
    with Emulator(speed=200, accounts=[temp]) as running:
        handle = EmulatorHandle(running)
        url = f"{handle.url}/v1/{'f' * 32}/notebooks"
        assert (
            send(handle, "GET", *signed_as(temp, "GET", url, security_token="STS-TOKEN")).status_code == 200
        )
        missing = send(handle, "GET", *signed_as(temp, "GET", url))
        assert error_of(missing)[:2] == (401, "APIGW.0301")
        wrong = send(handle, "GET", *signed_as(temp, "GET", url, security_token="OTHER"))
        assert error_of(wrong)[:2] == (401, "APIGW.0301")
        permanent = send(handle, "GET", *signed_as(temp, "GET", url, security_token=None))
        assert permanent.status_code == 401
        handle.close()


def test_permanent_key_refuses_a_security_token(emulator: EmulatorHandle) -> None:
    url = f"{emulator.url}{notebooks(emulator)}"
    response = send(emulator, "GET", *signed_as(emulator.account, "GET", url, security_token="STRAY"))
    assert error_of(response)[:2] == (401, "APIGW.0301")


def test_project_in_path_must_be_the_callers(emulator: EmulatorHandle) -> None:
    response = emulator.request("GET", "/v1/0123456789abcdef0123456789abcdef/notebooks")
    assert response.status_code == 403
    assert response.json()["error_code"].startswith("ModelArts.")
    other_region = emulator.account.projects["cn-east-3"]
    assert emulator.request("GET", f"/v1/{other_region}/notebooks").status_code == 200
    url = f"{emulator.url}{notebooks(emulator)}"
    response = send(emulator, "GET", *signed_as(emulator.account, "GET", url, project_id=other_region))
    assert response.status_code == 403


# --------------------------------------------------------------------------------------------------
# IAM
# --------------------------------------------------------------------------------------------------


def token_request(user: str, password: str, domain: str, project: str = "cn-north-4") -> dict[str, Any]:
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "password": password, "domain": {"name": domain}}},
            },
            "scope": {"project": {"name": project}},
        }
    }


def get_token(emulator: EmulatorHandle, **overrides: str) -> requests.Response:
    values = {
        "user": DEMO_ACCOUNT.iam_user,
        "password": DEMO_ACCOUNT.iam_password,
        "domain": DEMO_ACCOUNT.iam_domain,
        **overrides,
    }
    return emulator.session.post(f"{emulator.url}/v3/auth/tokens", json=token_request(**values), timeout=10)


def test_iam_token_flow(emulator: EmulatorHandle) -> None:
    response = get_token(emulator)
    assert response.status_code == 201
    token = response.headers["X-Subject-Token"]
    body = response.json()["token"]
    assert body["project"]["id"] == DEMO_PROJECT_ID
    assert body["project"]["name"] == "cn-north-4"
    expires = datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert timedelta(hours=23, minutes=59) < expires - datetime.now(timezone.utc) <= timedelta(hours=24)
    assert "X-Request-Id" in response.headers

    listing = emulator.session.get(
        f"{emulator.url}{notebooks(emulator)}", headers={"X-Auth-Token": token}, params={"feature": "DEFAULT"}
    )
    assert listing.status_code == 200
    projects = emulator.session.get(
        f"{emulator.url}/v3/projects", params={"name": "cn-north-4"}, headers={"X-Auth-Token": token}
    )
    assert projects.status_code == 200
    assert [(p["id"], p["name"]) for p in projects.json()["projects"]] == [(DEMO_PROJECT_ID, "cn-north-4")]

    other = emulator.account.projects["cn-east-3"]
    response = emulator.session.get(f"{emulator.url}/v1/{other}/notebooks", headers={"X-Auth-Token": token})
    assert response.status_code == 403

    assert emulator.expire_tokens() == 1
    expired = emulator.session.get(f"{emulator.url}{notebooks(emulator)}", headers={"X-Auth-Token": token})
    assert error_of(expired)[:2] == (401, "APIGW.0301")
    assert "expired" in error_of(expired)[2]
    unknown = emulator.session.get(
        f"{emulator.url}{notebooks(emulator)}", headers={"X-Auth-Token": "MIIbogus"}
    )
    assert unknown.status_code == 401


def test_iam_refusals(emulator: EmulatorHandle) -> None:
    wrong = get_token(emulator, password="nope")
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == 401
    assert "password" in wrong.json()["error"]["message"]
    assert "X-Subject-Token" not in wrong.headers
    assert get_token(emulator, domain="someone-else").status_code == 401
    assert get_token(emulator, project="xx-nowhere-1").status_code == 400
    garbage = emulator.session.post(f"{emulator.url}/v3/auth/tokens", data=b"{nope", timeout=10)
    assert garbage.status_code == 400


def test_domain_scoped_token_is_not_enough_for_modelarts(emulator: EmulatorHandle) -> None:
    body = token_request(DEMO_ACCOUNT.iam_user, DEMO_ACCOUNT.iam_password, DEMO_ACCOUNT.iam_domain)
    body["auth"]["scope"] = {"domain": {"name": DEMO_ACCOUNT.iam_domain}}
    response = emulator.session.post(f"{emulator.url}/v3/auth/tokens", json=body, timeout=10)
    assert response.status_code == 201
    token = response.headers["X-Subject-Token"]
    refused = emulator.session.get(f"{emulator.url}{notebooks(emulator)}", headers={"X-Auth-Token": token})
    assert error_of(refused)[:2] == (403, "ModelArts.0207")


def test_projects_listing_signed(emulator: EmulatorHandle) -> None:
    response = emulator.request("GET", "/v3/projects", query={"name": "cn-east-3"})
    assert response.status_code == 200
    assert response.json()["projects"] == [
        {
            **response.json()["projects"][0],
            "id": emulator.account.projects["cn-east-3"],
            "name": "cn-east-3",
        }
    ]
    assert emulator.request("GET", "/v3/projects", query={"name": "xx-nowhere-1"}).json()["projects"] == []
    assert len(emulator.request("GET", "/v3/projects").json()["projects"]) == len(emulator.account.projects)


# --------------------------------------------------------------------------------------------------
# route shapes
# --------------------------------------------------------------------------------------------------


def test_open_answers_the_real_shape(emulator: EmulatorHandle) -> None:
    body = open_instance(emulator)
    assert INSTANCE_FIELDS <= set(body)
    assert body["status"] == "CREATING"
    assert body["feature"] == "DEFAULT"
    assert body["flavor"] == "modelarts.vm.cpu.free"
    assert re.fullmatch(r"notebook-codelab-[0-9a-f]{4}", body["name"])
    assert body["image"]["id"] == DEFAULT_IMAGE_ID
    assert body["image"]["name"] == "notebook2.0-mul-kernel-cpu-cp36"
    assert body["action_progress"] == [
        {"step": n + 1, "status": "WAITING", "description": STEP_DESCRIPTIONS[n]} for n in range(4)
    ]
    assert set(body["lease"]) == {"create_at", "duration", "enable", "type", "update_at"}
    assert body["lease"]["duration"] == 3_600_000
    now_ms = time.time() * 1000
    for value in (body["create_at"], body["update_at"], body["lease"]["create_at"]):
        assert isinstance(value, int)
        assert abs(value - now_ms) < 60_000
    assert body["volume"]["mount_path"] == "/home/ma-user/work/"
    assert "url" not in body  # only once RUNNING


def test_open_again_returns_the_same_instance(emulator: EmulatorHandle) -> None:
    first = open_instance(emulator)
    running = wait_for(emulator, first["id"], "RUNNING")
    again = open_instance(emulator, {"image_id": DEFAULT_IMAGE_ID})
    assert again["id"] == first["id"]
    assert again["status"] == "RUNNING"
    assert again["token"] == running["token"]
    assert emulator.stats()["open"] == 2


def test_list_feature_filter_paging_and_filters(emulator: EmulatorHandle) -> None:
    instance = wait_for(emulator, open_instance(emulator)["id"], "RUNNING")
    default = emulator.request("GET", notebooks(emulator)).json()
    assert default == {"current": 0, "data": [], "pages": 0, "size": 10, "total": 0}
    free = emulator.request("GET", notebooks(emulator), query={"feature": "DEFAULT"}).json()
    assert set(free) == {"current", "data", "pages", "size", "total"}
    assert (free["total"], free["pages"], free["current"]) == (1, 1, 0)
    assert free["data"][0]["id"] == instance["id"]
    assert free["data"][0]["status"] == "RUNNING"
    by_status = emulator.request(
        "GET", notebooks(emulator), query={"feature": "DEFAULT", "status": "STOPPED"}
    )
    assert by_status.json()["total"] == 0
    by_name = emulator.request("GET", notebooks(emulator), query={"feature": "DEFAULT", "name": "codelab"})
    assert by_name.json()["total"] == 1
    page_two = emulator.request("GET", notebooks(emulator), query={"feature": "DEFAULT", "offset": "10"})
    assert page_two.json()["data"] == []
    assert page_two.json()["current"] == 1
    bad = emulator.request("GET", notebooks(emulator), query={"limit": "lots"})
    assert error_of(bad)[:2] == (400, "ModelArts.0104")


def test_show_start_stop_and_their_refusals(frozen: EmulatorHandle) -> None:
    instance_id = open_instance(frozen)["id"]
    frozen.advance(30)
    assert show(frozen, instance_id)["status"] == "RUNNING"

    def action(verb: str, **query: str) -> requests.Response:
        return frozen.request("POST", notebooks(frozen, f"/{instance_id}/{verb}"), query=query)

    assert error_of(action("start"))[:2] == (400, "ModelArts.6305")
    stopping = action("stop")
    assert stopping.status_code == 200
    assert stopping.json()["status"] == "STOPPING"
    assert error_of(action("stop"))[:2] == (400, "ModelArts.6308")
    assert error_of(action("start"))[:2] == (400, "ModelArts.6308")
    frozen.advance(STOP_SECONDS)
    assert show(frozen, instance_id)["status"] == "STOPPED"
    assert error_of(action("stop"))[:2] == (400, "ModelArts.6307")
    started = action("start", duration="7200000", type="TIMING")
    assert started.status_code == 200
    assert started.json()["status"] == "STARTING"
    assert error_of(action("start"))[:2] == (400, "ModelArts.6306")
    frozen.advance(30)
    running = show(frozen, instance_id)
    assert running["status"] == "RUNNING"
    assert running["lease"]["duration"] == 7_200_000


def test_start_refuses_bad_lease_query(emulator: EmulatorHandle) -> None:
    instance_id = open_instance(emulator)["id"]
    emulator.request("POST", notebooks(emulator, f"/{instance_id}/stop"))
    wait_for(emulator, instance_id, "STOPPED")
    too_short = emulator.request(
        "POST", notebooks(emulator, f"/{instance_id}/start"), query={"duration": "60000"}
    )
    assert error_of(too_short)[:2] == (400, "ModelArts.6349")
    bad_type = emulator.request(
        "POST", notebooks(emulator, f"/{instance_id}/start"), query={"type": "FOREVER"}
    )
    assert error_of(bad_type)[:2] == (400, "ModelArts.0104")


def test_missing_instance_is_400_6309(emulator: EmulatorHandle) -> None:
    for method, suffix in [
        ("GET", ""),
        ("POST", "/start"),
        ("POST", "/stop"),
        ("GET", "/lease"),
        ("GET", "/flavors"),
    ]:
        response = emulator.request(method, notebooks(emulator, f"/no-such-instance{suffix}"))
        assert error_of(response)[:2] == (400, "ModelArts.6309"), (method, suffix)
    response = emulator.request(
        "PATCH", notebooks(emulator, "/no-such-instance/lease"), {"duration": 3_600_000}
    )
    assert error_of(response)[:2] == (400, "ModelArts.6309")


def test_unknown_paths_are_gateway_404(emulator: EmulatorHandle) -> None:
    for method, path in [
        ("GET", f"/v1/{emulator.project_id}/trainings"),
        ("GET", "/"),
        ("DELETE", notebooks(emulator, "/x")),
        ("POST", f"/v1/{emulator.project_id}/images"),
    ]:
        response = emulator.request(method, path)
        status, code, _ = error_of(response)
        assert (status, code) == (404, "APIGW.0101"), (method, path)
        assert response.json()["request_id"] == response.headers["X-Request-Id"]


def test_lease_get_and_renew_bounds(emulator: EmulatorHandle) -> None:
    instance_id = wait_for(emulator, open_instance(emulator)["id"], "RUNNING")["id"]
    lease = emulator.request("GET", notebooks(emulator, f"/{instance_id}/lease")).json()
    assert set(lease) == {"create_at", "duration", "enable", "type", "update_at"}
    assert "create_time" not in lease
    assert lease["enable"] is True
    for duration in (3_599_999, 259_200_001, 0, "soon"):
        response = emulator.request(
            "PATCH", notebooks(emulator, f"/{instance_id}/lease"), {"duration": duration}
        )
        assert error_of(response)[:2] == (400, "ModelArts.6349"), duration
    missing = emulator.request("PATCH", notebooks(emulator, f"/{instance_id}/lease"), {"type": "TIMING"})
    assert error_of(missing)[:2] == (400, "ModelArts.0104")
    for duration in (3_600_000, 259_200_000):
        before = int(time.time() * 1000)
        response = emulator.request(
            "PATCH", notebooks(emulator, f"/{instance_id}/lease"), {"duration": duration, "type": "TIMING"}
        )
        assert response.status_code == 200
        renewed = response.json()
        assert renewed["duration"] == duration
        assert before <= renewed["create_at"] <= int(time.time() * 1000)
        assert renewed["update_at"] == renewed["create_at"]
    assert show(emulator, instance_id)["lease"]["duration"] == 259_200_000


def test_renew_refused_when_stopped(emulator: EmulatorHandle) -> None:
    instance_id = wait_for(emulator, open_instance(emulator)["id"], "RUNNING")["id"]
    emulator.request("POST", notebooks(emulator, f"/{instance_id}/stop"))
    wait_for(emulator, instance_id, "STOPPED")
    response = emulator.request(
        "PATCH", notebooks(emulator, f"/{instance_id}/lease"), {"duration": 3_600_000}
    )
    assert error_of(response)[:2] == (400, "ModelArts.6346")


def test_lease_is_refused_unless_running(frozen: EmulatorHandle) -> None:
    # ShowLease / RenewLease need a running instance (the SDK's descriptions of both calls)
    instance_id = open_instance(frozen)["id"]
    lease_path = notebooks(frozen, f"/{instance_id}/lease")

    def refused() -> None:
        status = show(frozen, instance_id)["status"]
        assert error_of(frozen.request("GET", lease_path))[:2] == (400, "ModelArts.6346"), status
        renew = frozen.request("PATCH", lease_path, {"duration": 3_600_000})
        assert error_of(renew)[:2] == (400, "ModelArts.6346"), status

    assert show(frozen, instance_id)["status"] == "CREATING"
    refused()
    frozen.advance(10)
    assert show(frozen, instance_id)["status"] == "STARTING"
    refused()
    frozen.advance(30)
    assert frozen.request("GET", lease_path).status_code == 200
    frozen.request("POST", notebooks(frozen, f"/{instance_id}/stop"))
    assert show(frozen, instance_id)["status"] == "STOPPING"
    refused()
    frozen.advance(10)
    assert show(frozen, instance_id)["status"] == "STOPPED"
    refused()


def test_renew_lease_takes_the_query_duration_as_the_sdk_sends_it(emulator: EmulatorHandle) -> None:
    instance_id = wait_for(emulator, open_instance(emulator)["id"], "RUNNING")["id"]
    path = notebooks(emulator, f"/{instance_id}/lease")
    # RenewLeaseRequest.duration (query): the body may be absent, and is ignored when present
    alone = emulator.request("PATCH", path, query={"duration": "7200000"})
    assert alone.status_code == 200, alone.text
    assert (alone.json()["duration"], alone.json()["type"]) == (7_200_000, "TIMING")
    both = emulator.request(
        "PATCH", path, {"duration": 3_600_000, "type": "IDLE"}, query={"duration": "10800000"}
    )
    assert (both.json()["duration"], both.json()["type"]) == (10_800_000, "TIMING")
    for bad in ("3599999", "259200001", "soon"):
        assert error_of(emulator.request("PATCH", path, query={"duration": bad}))[:2] == (
            400,
            "ModelArts.6349",
        )
    assert error_of(emulator.request("PATCH", path))[:2] == (400, "ModelArts.0104")


def test_list_flavors_is_not_an_instance_lookup(emulator: EmulatorHandle) -> None:
    path = notebooks(emulator, "/flavors")
    billed = emulator.request("GET", path)
    assert billed.status_code == 200, billed.text  # not "instance flavors does not exist"
    page = billed.json()
    assert set(page) == {"current", "data", "pages", "size", "total"}
    assert page["total"] == len(page["data"]) >= 1
    assert {f["feature"] for f in page["data"]} == {"NOTEBOOK"}  # ListFlavorsRequest.feature: NOTEBOOK
    free = emulator.request("GET", path, query={"feature": "DEFAULT", "category": "GPU"}).json()
    assert [f["id"] for f in free["data"]] == ["modelarts.vm.gpu.free"]
    for bad in (
        {"category": "TPU"},
        {"type": "SHARED"},
        {"feature": "CODELAB"},
        {"sort_dir": "UP"},
        {"limit": "0"},
    ):
        assert error_of(emulator.request("GET", path, query=bad))[:2] == (400, "ModelArts.0104"), bad


def test_flavors(emulator: EmulatorHandle) -> None:
    instance_id = open_instance(emulator)["id"]
    flavors = emulator.request("GET", notebooks(emulator, f"/{instance_id}/flavors")).json()["flavors"]
    assert [f["id"] for f in flavors] == ["modelarts.vm.cpu.free"]
    assert {"id", "name", "arch", "category", "vcpus", "memory", "free"} <= set(flavors[0])


def test_images_paging_and_filters(emulator: EmulatorHandle) -> None:
    path = f"/v1/{emulator.project_id}/images"
    built_in_images = [i for i in IMAGES if i["type"] == "BUILD_IN"]
    # ListImageRequest: type defaults to BUILD_IN, so a listing without type has no DEDICATED image
    everything = emulator.request("GET", path).json()
    assert set(everything) == {"current", "data", "pages", "size", "total"}
    assert everything["size"] == 200
    assert everything["total"] == len(built_in_images) == len(everything["data"]) == len(IMAGES) - 1
    assert {i["type"] for i in everything["data"]} == {"BUILD_IN"}
    assert everything["data"][0]["id"] == DEFAULT_IMAGE_ID
    assert IMAGE_FIELDS <= set(everything["data"][0])
    page = emulator.request("GET", path, query={"limit": "5", "offset": "10"}).json()
    assert (page["current"], page["size"], page["pages"], page["total"]) == (
        2,
        5,
        -(-len(built_in_images) // 5),
        len(built_in_images),
    )
    assert [i["id"] for i in page["data"]] == [i["id"] for i in built_in_images[10:15]]
    dedicated = emulator.request("GET", path, query={"type": "DEDICATED"}).json()
    assert [i["type"] for i in dedicated["data"]] == ["DEDICATED"]
    built_in = emulator.request("GET", path, query={"type": "BUILD_IN"}).json()
    assert built_in == everything
    # name matches fuzzily unless name_fuzzy_match=false (the SDK's default is true)
    fuzzy = emulator.request("GET", path, query={"name": "mindspore"}).json()
    assert fuzzy["total"] >= 3
    assert all("mindspore" in i["name"] for i in fuzzy["data"])
    also_fuzzy = emulator.request("GET", path, query={"name": "mindspore", "name_fuzzy_match": "true"})
    assert also_fuzzy.json() == fuzzy
    exact = emulator.request("GET", path, query={"name": "mindspore", "name_fuzzy_match": "false"}).json()
    assert exact["total"] == 0
    named = emulator.request(
        "GET", path, query={"name": "notebook2.0-mul-kernel-cpu-cp36", "name_fuzzy_match": "false"}
    ).json()
    assert [i["id"] for i in named["data"]] == [DEFAULT_IMAGE_ID]
    for bad_query in (
        {"type": "PUBLIC"},
        {"type": "build_in"},
        {"name_fuzzy_match": "maybe"},
        {"name": "MindSpore"},  # the SDK documents lower-case letters, digits, '.', '_' and '-'
        {"name": "x" * 513},
        {"limit": "0"},
        {"limit": "-5"},
        {"limit": "ten"},
        {"offset": "-1"},
    ):
        refused = emulator.request("GET", path, query=bad_query)
        assert error_of(refused)[:2] == (400, "ModelArts.0104"), bad_query


def test_notebook_listing_takes_only_documented_page_sizes(emulator: EmulatorHandle) -> None:
    # ListNotebooksRequest.limit: [10, 20, 50]; anything else is refused as the service does
    for limit in ("10", "20", "50"):
        page = emulator.request("GET", notebooks(emulator), query={"feature": "DEFAULT", "limit": limit})
        assert page.status_code == 200 and page.json()["size"] == int(limit)
    assert emulator.request("GET", notebooks(emulator)).json()["size"] == 10  # the default
    for limit in ("1", "5", "11", "49", "51", "100", "0", "-10", "1e1", " 10", "lots"):
        refused = emulator.request("GET", notebooks(emulator), query={"feature": "DEFAULT", "limit": limit})
        assert error_of(refused)[:2] == (400, "ModelArts.0104"), limit


def test_image_by_id(emulator: EmulatorHandle) -> None:
    image = emulator.request("GET", f"/v1/{emulator.project_id}/images/{ASCEND_IMAGE}").json()
    assert image["arch"] == "AARCH64"
    assert image["resource_categories"] == ["ASCEND"]
    missing = emulator.request(
        "GET", f"/v1/{emulator.project_id}/images/00000000-0000-4000-8000-000000000000"
    )
    assert error_of(missing)[:2] == (400, "ModelArts.6404")


def test_bad_open_bodies(emulator: EmulatorHandle) -> None:
    path = notebooks(emulator, "/open")
    signed_url, headers = signed_as(emulator.account, "POST", emulator.url + path, b"{not json")
    assert error_of(send(emulator, "POST", signed_url, headers, b"{not json"))[:2] == (400, "ModelArts.0104")
    assert error_of(emulator.request("POST", path, ["a list"]))[:2] == (400, "ModelArts.0104")
    assert error_of(emulator.request("POST", path, {"image_id": 7}))[:2] == (400, "ModelArts.0104")
    unknown = emulator.request("POST", path, {"image_id": "00000000-0000-4000-8000-000000000000"})
    assert error_of(unknown)[:2] == (400, "ModelArts.6404")
    assert emulator.instances() == []


# --------------------------------------------------------------------------------------------------
# the state machine (frozen clock)
# --------------------------------------------------------------------------------------------------


def test_open_walks_the_steps_in_order(frozen: EmulatorHandle) -> None:
    body = open_instance(frozen)
    instance_id = body["id"]
    observed = [(body["status"], steps(body))]
    for delta in (QUEUE_SECONDS + 0.5, 3.0, 6.0, 4.0, 6.0):
        frozen.advance(delta)
        body = show(frozen, instance_id)
        observed.append((body["status"], steps(body)))
    assert observed == [
        ("CREATING", ["WAITING", "WAITING", "WAITING", "WAITING"]),
        ("CREATING", ["PROCESSING", "WAITING", "WAITING", "WAITING"]),
        ("CREATING", ["COMPLETED", "PROCESSING", "WAITING", "WAITING"]),
        ("STARTING", ["COMPLETED", "COMPLETED", "PROCESSING", "WAITING"]),
        ("STARTING", ["COMPLETED", "COMPLETED", "COMPLETED", "PROCESSING"]),
        ("RUNNING", ["COMPLETED", "COMPLETED", "COMPLETED", "COMPLETED"]),
    ]
    assert body["url"] == f"{frozen.url}/codelab-instance/{instance_id}/lab"
    assert body["lease"]["create_at"] >= body["create_at"]
    assert frozen.advance(0)["speed"] == 0


def test_fast_speed_reaches_running_well_under_a_second(emulator: EmulatorHandle) -> None:
    started = time.monotonic()
    body = wait_for(emulator, open_instance(emulator)["id"], "RUNNING", timeout=1.0)
    assert time.monotonic() - started < 1.0
    assert steps(body) == ["COMPLETED"] * 4


def test_stop_then_open_starts_it_again(frozen: EmulatorHandle) -> None:
    instance_id = open_instance(frozen)["id"]
    frozen.advance(30)
    assert frozen.request("POST", notebooks(frozen, f"/{instance_id}/stop")).json()["status"] == "STOPPING"
    frozen.advance(STOP_SECONDS)
    assert show(frozen, instance_id)["status"] == "STOPPED"
    reopened = open_instance(frozen)
    assert reopened["id"] == instance_id
    assert reopened["status"] == "STARTING"
    assert steps(reopened) == ["WAITING"] * 4
    frozen.advance(QUEUE_SECONDS + START_STEP_SECONDS[0] + 0.1)
    assert steps(show(frozen, instance_id)) == ["COMPLETED", "PROCESSING", "WAITING", "WAITING"]
    frozen.advance(30)
    assert show(frozen, instance_id)["status"] == "RUNNING"


def test_switching_image_stops_then_starts_with_the_new_image(frozen: EmulatorHandle) -> None:
    instance_id = open_instance(frozen)["id"]
    frozen.advance(30)
    switched = open_instance(frozen, {"image_id": GPU_IMAGE})
    assert switched["id"] == instance_id
    assert switched["status"] == "STOPPING"
    assert switched["image"]["id"] == GPU_IMAGE
    assert switched["flavor"] == "modelarts.vm.gpu.free"
    frozen.advance(STOP_SECONDS + 0.1)
    body = show(frozen, instance_id)
    assert (body["status"], steps(body)) == ("STARTING", ["WAITING"] * 4)
    frozen.advance(30)
    body = show(frozen, instance_id)
    assert body["status"] == "RUNNING"
    assert body["image"]["name"] == "pytorch1.8-cuda10.2-cudnn7-ubuntu18.04"
    assert body["image"]["arch"] == "X86_64"


@pytest.mark.parametrize("body", [{}, {"image_id": ""}, {"image_id": None}, {"share_url": None}])
def test_a_blank_image_id_is_the_default_image_and_switches_another(
    frozen: EmulatorHandle, body: dict[str, Any]
) -> None:
    # the strict reading of the official page: "If this parameter is left blank, a multi-kernel CPU
    # instance is opened by default" (docs/modelarts-api.md, "Opening without an image")
    instance_id = open_instance(frozen, {"image_id": GPU_IMAGE})["id"]
    frozen.advance(30)
    assert show(frozen, instance_id)["status"] == "RUNNING"
    switched = open_instance(frozen, body)
    assert switched["id"] == instance_id
    assert switched["status"] == "STOPPING"  # restarted, as a switch by image_id is
    assert switched["image"]["id"] == DEFAULT_IMAGE_ID
    assert switched["flavor"] == "modelarts.vm.cpu.free"
    frozen.advance(STOP_SECONDS + 30)
    body_after = show(frozen, instance_id)
    assert (body_after["status"], body_after["image"]["id"]) == ("RUNNING", DEFAULT_IMAGE_ID)


def test_a_blank_image_id_on_the_default_image_keeps_it_running(frozen: EmulatorHandle) -> None:
    instance_id = open_instance(frozen)["id"]
    frozen.advance(30)
    again = open_instance(frozen, {"image_id": ""})
    assert (again["id"], again["status"], again["image"]["id"]) == (instance_id, "RUNNING", DEFAULT_IMAGE_ID)


def test_scripted_failure_of_a_creation(frozen: EmulatorHandle) -> None:
    scheduled = frozen.fail_step(3, "Network config failed: no subnet left")
    assert scheduled["pending"] is True
    instance_id = open_instance(frozen)["id"]
    frozen.advance(QUEUE_SECONDS + CREATE_STEP_SECONDS[0] + CREATE_STEP_SECONDS[1] + 0.5)
    assert show(frozen, instance_id)["status"] == "STARTING"
    frozen.advance(CREATE_STEP_SECONDS[2])
    body = show(frozen, instance_id)
    assert body["status"] == "CREATE_FAILED"
    assert steps(body) == ["COMPLETED", "COMPLETED", "FAILED", "WAITING"]
    assert body["fail_reason"] == "Network config failed: no subnet left"
    frozen.advance(100)
    assert show(frozen, instance_id)["status"] == "CREATE_FAILED"
    retried = open_instance(frozen)
    assert retried["id"] == instance_id
    assert retried["status"] == "CREATING"
    assert "fail_reason" not in retried
    frozen.advance(30)
    assert show(frozen, instance_id)["status"] == "RUNNING"


def test_scripted_failure_attaches_to_the_start_under_way(frozen: EmulatorHandle) -> None:
    instance_id = open_instance(frozen)["id"]
    frozen.advance(30)
    frozen.request("POST", notebooks(frozen, f"/{instance_id}/stop"))
    frozen.advance(STOP_SECONDS)
    frozen.request("POST", notebooks(frozen, f"/{instance_id}/start"))
    scheduled = frozen.fail_step(1, instance_id=instance_id)
    assert scheduled["attached_to"] == instance_id
    frozen.advance(30)
    body = show(frozen, instance_id)
    assert body["status"] == "START_FAILED"
    assert steps(body) == ["FAILED", "WAITING", "WAITING", "WAITING"]
    assert "Prepare the storage" in body["fail_reason"]


def test_lease_expiry_stops_the_instance(emulator: EmulatorHandle) -> None:
    instance_id = wait_for(emulator, open_instance(emulator)["id"], "RUNNING")["id"]
    later = emulator.set_lease_remaining(instance_id, 5_000)
    assert later["status"] == "RUNNING"
    lease = later["lease"]
    assert abs(lease["create_at"] + lease["duration"] - time.time() * 1000 - 5_000) < 2_000
    expired = emulator.expire_lease(instance_id)
    assert expired["status"] == "STOPPED"
    body = show(emulator, instance_id)
    assert body["status"] == "STOPPED"
    assert "url" not in body
    assert body["update_at"] <= int(time.time() * 1000)


# --------------------------------------------------------------------------------------------------
# share_url, SSH, the instance page
# --------------------------------------------------------------------------------------------------


def test_share_url_is_downloaded(emulator: EmulatorHandle) -> None:
    body = open_instance(emulator, {"share_url": FCN8S_B64})
    assert body["description"] == f"Opened {FCN8S_URL}"
    assert body["share_url"] == FCN8S_URL
    running = wait_for(emulator, body["id"], "RUNNING")
    page = emulator.session.get(running["url"], timeout=10)
    assert FCN8S_URL in page.text
    for bad in ("%%%", "aHR0cDovL2V4YW1wbGUuY29t=", base64.b64encode(b"javascript:alert(1)").decode()):
        response = emulator.request("POST", notebooks(emulator, "/open"), {"share_url": bad})
        assert error_of(response)[:2] == (400, "ModelArts.0104"), bad


def test_ssh_endpoint_only_for_ssh_images(emulator: EmulatorHandle) -> None:
    body = wait_for(emulator, open_instance(emulator)["id"], "RUNNING")
    by_service = {e["service"]: e for e in body["endpoints"]}
    assert by_service["NOTEBOOK"]["uri"] == body["url"]
    ssh = by_service["SSH"]
    found = re.fullmatch(r"ssh://ma-user@127\.0\.0\.1:(\d+)", ssh["uri"])
    assert found is not None
    assert 30000 <= int(found.group(1)) <= 32999
    assert ssh["key_pair_names"] == ["KeyPair-c0de"]

    open_instance(emulator, {"image_id": NO_SSH_IMAGE})
    body = wait_for(emulator, body["id"], "RUNNING")
    assert body["image"]["id"] == NO_SSH_IMAGE
    assert [e["service"] for e in body["endpoints"]] == ["NOTEBOOK"]


def test_the_direct_route_of_an_instance_can_be_refused_for_real(emulator: EmulatorHandle) -> None:
    body = wait_for(emulator, open_instance(emulator)["id"], "RUNNING")
    served = body["url"]
    # a closed port: the connection itself is refused
    closed = emulator.refuse_direct(body["id"], "closed")
    assert closed["url"] != served and closed["url"].endswith(f"/{body['id']}/lab")
    assert {e["service"]: e["uri"] for e in closed["endpoints"]}["NOTEBOOK"] == closed["url"]
    with pytest.raises(requests.ConnectionError):
        requests.get(closed["url"], timeout=10)
    # a front answering 403 to everything, what ModelArts answers says so too
    forbidden = emulator.refuse_direct(body["id"], "forbidden")
    assert requests.get(forbidden["url"], timeout=10).status_code == 403
    assert requests.post(forbidden["url"][: -len("lab")] + "api/kernels", timeout=10).status_code == 403
    assert emulator.show(body["id"])["url"] == forbidden["url"]
    # undone, and a refusal it does not know is a 400
    assert emulator.refuse_direct(body["id"], None)["url"] == served
    with pytest.raises(RuntimeError, match="400"):
        emulator.refuse_direct(body["id"], "slow")
    with pytest.raises(RuntimeError, match=r"ModelArts\.6309"):  # not found, as the cloud says it
        emulator.refuse_direct("no-such-instance", "closed")


def test_ssh_host_and_port_are_configurable() -> None:
    with Emulator(speed=200, ssh_host="ssh.example.test", ssh_port=2222) as running:
        handle = EmulatorHandle(running)
        body = wait_for(handle, open_instance(handle)["id"], "RUNNING")
        ssh = next(e for e in body["endpoints"] if e["service"] == "SSH")
        assert ssh["uri"] == "ssh://ma-user@ssh.example.test:2222"
        handle.close()


def test_instance_page(emulator: EmulatorHandle) -> None:
    body = wait_for(emulator, open_instance(emulator)["id"], "RUNNING")
    page = emulator.session.get(body["url"], params={"token": body["token"]}, timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert f"CodeLab instance {body['id']}" in page.text
    missing = emulator.session.get(f"{emulator.url}/codelab-instance/nope/lab", timeout=10)
    assert missing.status_code == 404


# --------------------------------------------------------------------------------------------------
# faults, seen from a real HTTP client
# --------------------------------------------------------------------------------------------------


def images(emulator: EmulatorHandle) -> requests.Response:
    return emulator.request("GET", f"/v1/{emulator.project_id}/images", query={"limit": "2"})


def test_fault_latency(emulator: EmulatorHandle) -> None:
    emulator.set_fault("latency", "images", latency_ms=150)
    started = time.monotonic()
    assert images(emulator).status_code == 200
    assert time.monotonic() - started >= 0.15
    # a one-shot fault: the next request is not delayed (counted, not timed: the machine may be busy)
    assert images(emulator).status_code == 200
    assert emulator.stats()["faults_injected"] == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_fault_http_errors_for_the_next_n_requests(emulator: EmulatorHandle, status: int) -> None:
    emulator.set_fault(f"http_{status}", "images", count=2)
    for _ in range(2):
        response = images(emulator)
        assert response.status_code == status
        assert response.json()["error_code"]
        assert "X-Request-Id" in response.headers
    assert images(emulator).status_code == 200
    assert emulator.stats()["faults_injected"] == 2


def test_fault_throttle(emulator: EmulatorHandle) -> None:
    emulator.set_fault("throttle", retry_after=3)
    response = images(emulator)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert response.json()["error_code"] == "APIGW.0308"


def test_fault_drop_closes_the_connection(emulator: EmulatorHandle) -> None:
    emulator.set_fault("drop", "images")
    with pytest.raises(requests.ConnectionError):
        images(emulator)
    assert images(emulator).status_code == 200


def test_fault_truncated_json_still_performs_the_action(emulator: EmulatorHandle) -> None:
    emulator.set_fault("truncated_json", "open")
    response = emulator.request("POST", notebooks(emulator, "/open"), {})
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    assert response.text.startswith('{"id": "')
    assert len(emulator.instances()) == 1


def test_fault_malformed_json(emulator: EmulatorHandle) -> None:
    emulator.set_fault("malformed_json", "images")
    response = images(emulator)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.content)


def test_fault_html_page(emulator: EmulatorHandle) -> None:
    emulator.set_fault("html", path=r"/images$")
    response = images(emulator)
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<html>" in response.text
    assert "502 Bad Gateway" in response.text


def test_fault_not_found(emulator: EmulatorHandle) -> None:
    instance_id = open_instance(emulator)["id"]
    emulator.set_fault("not_found", "show")
    response = emulator.request("GET", notebooks(emulator, f"/{instance_id}"))
    assert error_of(response)[:2] == (400, "ModelArts.6309")
    assert instance_id in error_of(response)[2]
    assert show(emulator, instance_id)["id"] == instance_id


def test_fault_unknown_status_on_instances_only(emulator: EmulatorHandle) -> None:
    instance_id = open_instance(emulator)["id"]
    emulator.set_fault("unknown_status", count=None)
    assert images(emulator).json()["data"][0]["status"] == "ACTIVE"  # not an instance route
    assert show(emulator, instance_id)["status"] == "HIBERNATING"
    listing = emulator.request("GET", notebooks(emulator), query={"feature": "DEFAULT"}).json()
    assert [i["status"] for i in listing["data"]] == ["HIBERNATING"]
    assert emulator.clear_faults() == 1
    assert show(emulator, instance_id)["status"] != "HIBERNATING"


def test_fault_missing_fields(emulator: EmulatorHandle) -> None:
    instance_id = open_instance(emulator)["id"]
    emulator.set_fault("missing_fields", "show")
    body = show(emulator, instance_id)
    assert {"id", "name", "status"} <= set(body)
    for gone in ("lease", "action_progress", "flavor", "create_at"):
        assert gone not in body
    assert "arch" not in body["image"]
    chosen = emulator.set_fault("missing_fields", "show", fields=["token"])
    assert chosen["fields"] == ["token"]
    body = show(emulator, instance_id)
    assert "token" not in body
    assert "lease" in body


def test_faults_target_routes_methods_and_paths(emulator: EmulatorHandle) -> None:
    emulator.set_fault("http_503", "open")
    emulator.set_fault("http_500", method="PATCH")
    assert images(emulator).status_code == 200
    assert emulator.request("POST", notebooks(emulator, "/open"), {}).status_code == 503
    assert emulator.request("POST", notebooks(emulator, "/open"), {}).status_code == 200
    assert len(emulator.faults()) == 1
    emulator.set_fault("http_502", path="/notebooks/[^/]+/lease$", count=None)
    instance_id = emulator.instances()[0]["id"]
    assert emulator.request("GET", notebooks(emulator, f"/{instance_id}/lease")).status_code == 502
    assert emulator.request("GET", notebooks(emulator, f"/{instance_id}/lease")).status_code == 502
    assert emulator.clear_faults() == 2
    wait_for(emulator, instance_id, "RUNNING")  # ShowLease needs a running instance
    assert emulator.request("GET", notebooks(emulator, f"/{instance_id}/lease")).status_code == 200


def test_bad_fault_specs_are_refused(emulator: EmulatorHandle) -> None:
    for spec in (
        {"kind": "explode"},
        {"kind": "error", "route": "nowhere"},
        {"kind": "error", "count": 0},
        {"kind": "error", "status": 200},
        {"kind": "html", "path": "("},
    ):
        response = emulator.session.post(f"{emulator.url}/_emulator/faults", json=spec, timeout=10)
        assert response.status_code == 400, spec


def test_faults_from_a_client_library_view(emulator: EmulatorHandle) -> None:
    """Many requests from one keep-alive session survive a dropped connection in between."""
    emulator.set_fault("drop", "images", count=1)
    session_errors = 0
    for _ in range(3):
        try:
            images(emulator)
        except requests.ConnectionError:
            session_errors += 1
    assert session_errors == 1


# --------------------------------------------------------------------------------------------------
# admin routes
# --------------------------------------------------------------------------------------------------


def test_stats_count_per_route_and_method(emulator: EmulatorHandle) -> None:
    instance_id = open_instance(emulator)["id"]
    for _ in range(3):
        show(emulator, instance_id)
    images(emulator)
    emulator.request("GET", "/v1/nothing/here")
    stats = emulator.stats()
    assert (stats["open"], stats["show"], stats["images"], stats["unknown"]) == (1, 3, 1, 1)
    assert stats["total"] == 6
    assert stats["by_method"]["GET show"] == 3
    assert stats["methods"] == {"POST": 1, "GET": 5}
    cleared = emulator.reset_stats()
    assert cleared["total"] == 0


def test_state_reset_speed_and_no_secrets(emulator: EmulatorHandle) -> None:
    instance_id = open_instance(emulator)["id"]
    get_token(emulator)
    state = emulator.state()
    assert [i["id"] for i in state["instances"]] == [instance_id]
    assert state["instances"][0]["project_id"] == emulator.project_id
    assert state["tokens"]["active"] == 1
    assert state["speed"] == 200
    text = json.dumps(state)
    assert DEMO_ACCOUNT.secret_key not in text
    assert DEMO_ACCOUNT.iam_password not in text
    assert emulator.set_speed(3.5) == 3.5
    emulator.reset()
    assert emulator.instances() == []
    assert emulator.stats()["total"] == 0
    assert emulator.session.get(f"{emulator.url}/_emulator/nope", timeout=10).status_code == 404
    assert "X-Request-Id" in emulator.session.get(f"{emulator.url}/_emulator/stats", timeout=10).headers


def test_secrets_never_logged(emulator: EmulatorHandle, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    open_instance(emulator, {"share_url": FCN8S_B64})
    token = get_token(emulator).headers["X-Subject-Token"]
    emulator.session.get(f"{emulator.url}{notebooks(emulator)}", headers={"X-Auth-Token": token})
    emulator.request("GET", "/v3/projects", query={"name": "cn-north-4"})
    text = caplog.text
    assert "/notebooks/open" in text  # the access log is there...
    for secret in (DEMO_ACCOUNT.secret_key, DEMO_ACCOUNT.iam_password, token, FCN8S_B64):
        assert secret not in text  # ...without secrets or bodies


# --------------------------------------------------------------------------------------------------
# standalone
# --------------------------------------------------------------------------------------------------


def test_module_runs_standalone_and_prints_url_and_demo_account() -> None:
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen(
        [sys.executable, "-m", "codelab_ext.emulator", "--port", "0", "--speed", "50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", first)
        assert found is not None, first
        url = found.group(1)
        banner = "".join(process.stdout.readline() for _ in range(3))
        assert DEMO_ACCOUNT.access_key in banner
        session = requests.Session()
        session.trust_env = False
        assert session.get(f"{url}/_emulator/stats", timeout=10).json()["total"] == 0
        assert session.get(f"{url}/v1/x/notebooks", timeout=10).status_code == 401
        session.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_emulator_object_lifecycle() -> None:
    running = Emulator(speed=2)
    assert running.url is None
    url = running.start_in_thread()
    assert url == running.url
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    with pytest.raises(RuntimeError):
        running.start_in_thread()
    assert running.make_app() is not None
    running.stop()
    running.stop()
    session = requests.Session()
    session.trust_env = False
    with pytest.raises(requests.ConnectionError):
        session.get(f"{url}/_emulator/stats", timeout=2)
    session.close()


def test_constructor_faults_and_seed() -> None:
    spec = {"kind": "http_503", "route": "images", "count": None}
    with Emulator(speed=200, faults=[spec], seed=7) as running:
        handle = EmulatorHandle(running)
        assert images(handle).status_code == 503
        first = open_instance(handle)
        handle.reset()
        assert images(handle).status_code == 503  # constructor faults survive a reset
        handle.clear_faults()
        assert images(handle).status_code == 200
        handle.close()
    with Emulator(speed=200, seed=7) as again:
        handle = EmulatorHandle(again)
        second = open_instance(handle)
        handle.close()
    assert (first["id"], first["name"]) == (second["id"], second["name"])
    with pytest.raises(ValueError):
        Emulator(faults=[{"kind": "explode"}])


# --------------------------------------------------------------------------------------------------
# the project's client against the emulator
# --------------------------------------------------------------------------------------------------


def test_client_open_to_running(client: Any, emulator: EmulatorHandle) -> None:
    opened = client.open()
    assert opened["status"] in ("CREATING", "RUNNING")
    deadline = time.monotonic() + 5
    while (current := client.get_instance(opened["id"]))["status"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert client.project_id == DEMO_PROJECT_ID
    assert [i["id"] for i in client.list_instances()] == [opened["id"]]
    assert current["ssh"] is not None
    assert len(client.list_images()) == len(IMAGES)
    assert emulator.stats()["iam_projects"] == 1


def test_client_survives_transient_faults(client: Any, emulator: EmulatorHandle) -> None:
    emulator.set_fault("http_503", "images", count=1)
    emulator.set_fault("throttle", "images", count=1, retry_after=0)
    assert len(client.list_images()) == len(IMAGES)
    # BUILD_IN: one 503, one 429, one answer; then DEDICATED: one answer
    assert emulator.stats()["images"] == 4


def test_the_headers_the_sdk_always_signs_must_be_signed(emulator: EmulatorHandle) -> None:
    from urllib.parse import urlsplit

    from codelab_ext.signing import canonical_request, compute_signature, format_authorization, string_to_sign

    url = emulator.url + notebooks(emulator)
    query = [("feature", "DEFAULT")]

    def signed_without(dropped: str, extra: dict[str, str]) -> requests.Response:
        headers = {"Host": urlsplit(url).netloc, "X-Sdk-Date": sdk_date(), **extra}
        to_sign = {name: value for name, value in headers.items() if name.lower() != dropped}
        text, names = canonical_request("GET", urlsplit(url).path, query, to_sign, b"")
        signature = compute_signature(
            emulator.account.secret_key, string_to_sign(text, headers["X-Sdk-Date"])
        )
        headers["Authorization"] = format_authorization(emulator.account.access_key, names, signature)
        return send(emulator, "GET", url + "?feature=DEFAULT", headers)

    assert signed_without("nothing", {"X-Project-Id": emulator.project_id}).status_code == 200
    for dropped in ("host", "x-project-id"):
        status, code, message = error_of(signed_without(dropped, {"X-Project-Id": emulator.project_id}))
        assert (status, code) == (401, "APIGW.0301") and dropped in message

"""ModelArtsClient against a real local HTTP server (tests/support/fake_upstream.py), never a mock."""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import re
import socket
import time
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from codelab_ext.config import CodeLab
from codelab_ext.credentials import Credentials
from codelab_ext.errors import (
    AuthError,
    CodeLabError,
    ConfigError,
    ConflictError,
    CredentialsError,
    ForbiddenError,
    NotFoundError,
    QuotaError,
    ThrottledError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    ValidationError,
)
from codelab_ext.modelarts import (
    USER_AGENT,
    ModelArtsClient,
    encode_share_url,
)
from codelab_ext.share_url import to_raw_url, validate_share_url
from codelab_ext.signing import parse_authorization, verify_signature
from codelab_ext.upstream_errors import error_from_response, parse_retry_after
from tests.support.fake_upstream import FakeUpstream, Received, Reply

AK = "AKTESTACCESSKEY00001"
SK = "SKsecretSECRETsecret0123456789abcdefABCD"
SEC_TOKEN = "SECURITYTOKENsecretvalue1234567890"
PASSWORD = "Pa55wordSecretValue"
IAM_TOKEN = "MIIIAMTOKENsecretvalue0987654321"
SECRETS = (SK, SEC_TOKEN, PASSWORD, IAM_TOKEN)

PID = "pid123abc"
REGION = "cn-north-4"
NB = f"/v1/{PID}/notebooks"
IMAGES = f"/v1/{PID}/images"
IID = "f9937afa-ca78-45b6-bc12-7ecf42553c48"
IMG = "e1a07296-22a8-4f05-8bc8-e936c8e54090"


def instance(iid: str = IID, image_id: str = IMG, status: str = "CREATING", **extra: Any) -> dict[str, Any]:
    return {
        "id": iid,
        "name": "notebook_5ee4bf0e",
        "status": status,
        "feature": "DEFAULT",
        "flavor": "modelarts.vm.cpu.free",
        "token": "58ba50c6-e8ff-245c-4840-49e51aa70737",
        "image": {"id": image_id, "name": "notebook2.0-mul-kernel-cpu-cp36", "type": "BUILD_IN"},
        "lease": {
            "create_at": 1638841805439,
            "duration": 3600000,
            "enable": True,
            "update_at": 1638841805439,
        },
        "action_progress": [
            {"step": 2, "status": "WAITING", "description": "Prepare the compute resource."},
            {"step": 1, "status": "PROCESSING", "description": "Prepare the storage."},
        ],
        **extra,
    }


def page(items: list[Any], total: int) -> dict[str, Any]:
    return {"current": 0, "data": items, "pages": 1, "size": len(items), "total": total}


class SleepRecorder:
    def __init__(self, really: bool = False) -> None:
        self.delays: list[float] = []
        self.really = really

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.really:
            time.sleep(seconds)


@pytest.fixture
def up():
    with FakeUpstream() as server:
        yield server


@pytest.fixture
def sleeper() -> SleepRecorder:
    return SleepRecorder()


def aksk(
    project_id: str | None = PID, region: str | None = None, token: str | None = SEC_TOKEN
) -> Credentials:
    return Credentials(
        source="test",
        access_key=AK,
        secret_key=SK,
        security_token=token,
        project_id=project_id,
        region=region,
    )


def make(
    up: FakeUpstream, sleeper: SleepRecorder | None = None, creds: Any = None, **kwargs: Any
) -> ModelArtsClient:
    options: dict[str, Any] = {
        "region": REGION,
        "modelarts_endpoint": up.url,
        "iam_endpoint": up.url,
        "timeout": 2.0,
        "max_retries": 3,
        "backoff_base": 0.001,
        "backoff_cap": 0.004,
        "sleep": sleeper if sleeper is not None else SleepRecorder(),
    }
    options.update(kwargs)
    client = ModelArtsClient(creds if creds is not None else aksk(), **options)
    up.on_close(client.close)
    return client


def assert_signed(req: Received, *, project: str | None = PID, token: bool = True) -> list[str]:
    access, names, _ = parse_authorization(req.headers["Authorization"])
    assert access == AK
    assert verify_signature(req.method, req.path, req.query, req.headers, req.body, SK), (
        "signature must verify"
    )
    assert {"host", "x-sdk-date", "content-type"} <= set(names)
    if project:
        assert req.headers["X-Project-Id"] == project
        assert "x-project-id" in names
    else:
        assert "X-Project-Id" not in req.headers
    if token:
        assert req.headers["X-Security-Token"] == SEC_TOKEN
        assert "x-security-token" in names
    return names


def assert_common_headers(req: Received) -> None:
    assert req.headers["X-Language"] == "en-us"
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["User-Agent"] == USER_AGENT
    assert re.fullmatch(r"codelab-ext/\S+", USER_AGENT)


def assert_no_secret(*texts: Any) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in str(text)


def assert_error_clean(exc: BaseException) -> None:
    pieces = [str(exc), repr(exc), getattr(exc, "message", ""), getattr(exc, "upstream_message", "")]
    if isinstance(exc, CodeLabError):
        pieces.append(exc.to_json())
    assert_no_secret(*pieces)


# =========================================================================== operations


def test_open_default_sends_empty_object_signed(up, sleeper):
    up.add("POST", f"{NB}/open", Reply(json=instance()))
    client = make(up, sleeper)
    inst = client.open()
    assert inst["id"] == IID
    assert [step["step"] for step in inst["action_progress"]] == [1, 2]
    assert inst["lease"]["expires_at"] == 1638841805439 + 3600000
    (req,) = up.received
    assert req.method == "POST" and req.path == f"{NB}/open" and req.query == []
    assert req.json() == {}
    assert_common_headers(req)
    assert_signed(req)
    assert client.request_count == 1


def test_open_with_image_id(up):
    up.add("POST", f"{NB}/open", Reply(json=instance()))
    make(up).open(image_id=IMG)
    assert up.last.json() == {"image_id": IMG}
    assert_signed(up.last)


def test_open_with_share_url_sends_base64_of_the_raw_url(up):
    up.add("POST", f"{NB}/open", Reply(json=instance()))
    make(up).open(
        share_url="https://github.com/mindspore-ai/docs/blob/r2.2/tutorials/a b.ipynb".replace(" ", "_")
    )
    sent = up.last.json()
    assert set(sent) == {"share_url"}
    decoded = base64.b64decode(sent["share_url"], validate=True).decode()
    assert decoded == "https://raw.githubusercontent.com/mindspore-ai/docs/r2.2/tutorials/a_b.ipynb"


def test_open_with_image_and_share_url(up):
    up.add("POST", f"{NB}/open", Reply(json=instance()))
    url = "https://example.com/n.ipynb"
    make(up).open(image_id=IMG, share_url=url)
    assert up.last.json() == {"image_id": IMG, "share_url": encode_share_url(url)}


@pytest.mark.parametrize(
    "bad",
    [
        "ftp://example.com/n.ipynb",
        "https://user:hunter2xyz@example.com/n.ipynb",
        "https://example.com/a b.ipynb",
        "https://example.com/a\nb.ipynb",
        "https:///n.ipynb",
        "https://example.com/" + "a" * 2100,
        "",
        "javascript:alert(1)",
    ],
)
def test_open_refuses_bad_share_urls_before_sending(up, bad):
    client = make(up)
    with pytest.raises(ValidationError) as info:
        client.open(share_url=bad)
    assert info.value.field == "share_url"
    assert "hunter2xyz" not in str(info.value)
    assert up.received == []


@pytest.mark.parametrize("bad", ["../x", "a/b", "", "x" * 200, "id with space"])
def test_ids_are_validated_before_anything_is_sent(up, bad):
    client = make(up)
    for call in (client.get_instance, client.stop, client.get_lease, client.list_flavors):
        with pytest.raises(ValidationError):
            call(bad)
    with pytest.raises(ValidationError):
        client.open(image_id=bad)
    with pytest.raises(ValidationError):
        client.get_image(bad)
    assert up.received == []


def test_list_instances_follows_offset_until_total(up, sleeper):
    everything = [instance(iid=f"i{n:03d}") for n in range(120)]

    def answer(req: Received) -> Reply:
        q = req.query_dict
        offset, limit = int(q["offset"]), int(q["limit"])
        return Reply(json=page(everything[offset : offset + limit], total=len(everything)))

    up.add("GET", NB, answer)
    client = make(up, sleeper)
    result = client.list_instances()
    assert [inst["id"] for inst in result] == [f"i{n:03d}" for n in range(120)]
    reqs = up.requests_to("GET", NB)
    assert [r.query_dict["offset"] for r in reqs] == ["0", "50", "100"]
    for req in reqs:
        assert req.query_dict["feature"] == "DEFAULT"
        assert req.query_dict["limit"] == "50"
        assert_signed(req)
        assert_common_headers(req)


@pytest.mark.parametrize(
    "shape",
    [
        lambda items: items,  # a bare list
        lambda items: {"notebooks": items},
        lambda items: {"data": items},  # paged shape without total
    ],
)
def test_list_instances_other_shapes(up, shape):
    up.add("GET", NB, Reply(json=shape([instance(iid="a"), "junk", instance(iid="b")])))
    result = make(up).list_instances()
    assert [inst["id"] for inst in result] == ["a", "b"]
    assert up.count("GET", NB) == 1


def test_list_instances_empty_and_null(up):
    up.add("GET", NB, Reply(json=page([], 0)))
    assert make(up).list_instances() == []
    up.add("GET", NB, Reply(status=200, body=b""))
    assert make(up).list_instances() == []


def test_paging_stops_when_server_ignores_offset(up):
    up.add("GET", NB, Reply(json=page([instance(iid=f"i{n}") for n in range(50)], total=500)))
    result = make(up).list_instances()
    assert len(result) == 50
    assert up.count("GET", NB) == 2  # the second page added nothing new: stop


def test_paging_with_server_capping_page_size(up):
    everything = [instance(iid=f"i{n}") for n in range(25)]

    def answer(req: Received) -> Reply:
        offset = int(req.query_dict["offset"])
        return Reply(json=page(everything[offset : offset + 10], total=25))

    up.add("GET", NB, answer)
    assert len(make(up).list_instances()) == 25
    assert [r.query_dict["offset"] for r in up.requests_to("GET", NB)] == ["0", "10", "20"]


def test_list_instances_unreadable_listing(up):
    up.add("GET", NB, Reply(json={"something": "else"}))
    with pytest.raises(UpstreamUnavailable, match="unreadable"):
        make(up).list_instances()


def test_get_instance(up):
    up.add("GET", f"{NB}/{IID}", Reply(json=instance(status="RUNNING")))
    inst = make(up).get_instance(IID)
    assert inst["status"] == "RUNNING"
    assert up.last.query == [] and up.last.body == b""
    assert_signed(up.last)


def test_get_instance_garbage_object(up):
    up.add("GET", f"{NB}/{IID}", Reply(json=["not", "an", "object"]))
    with pytest.raises(UpstreamUnavailable, match="unreadable"):
        make(up).get_instance(IID)


def test_start_with_and_without_lease_query(up):
    up.add("POST", f"{NB}/{IID}/start", Reply(json=instance(status="STARTING")))
    client = make(up)
    assert client.start(IID)["status"] == "STARTING"
    assert up.last.query == []
    assert_signed(up.last)
    client.start(IID, duration_ms=7_200_000, lease_type="TIMING")
    assert up.last.query_dict == {"duration": "7200000", "type": "TIMING"}
    assert_signed(up.last)


def test_start_refuses_bad_duration_and_type(up):
    client = make(up)
    with pytest.raises(ValidationError):
        client.start(IID, duration_ms=1000)
    with pytest.raises(ValidationError):
        client.start(IID, lease_type="FOREVER")
    assert up.received == []


def test_stop_and_follow_up_get_when_answer_is_not_an_instance(up):
    up.add("POST", f"{NB}/{IID}/stop", Reply(json={}))
    up.add("GET", f"{NB}/{IID}", Reply(json=instance(status="STOPPING")))
    inst = make(up).stop(IID)
    assert inst["status"] == "STOPPING"
    assert up.count("POST", f"{NB}/{IID}/stop") == 1
    assert up.count("GET", f"{NB}/{IID}") == 1


def test_get_lease(up):
    up.add(
        "GET",
        f"{NB}/{IID}/lease",
        Reply(json={"create_time": 1000, "duration": 3_600_000, "enable": True, "type": "TIMING"}),
    )
    lease = make(up).get_lease(IID)
    assert lease["create_at"] == 1000
    assert lease["expires_at"] == 3_601_000
    assert lease["remaining_ms"] == 0  # long expired


def test_renew_lease_patch_body_and_answer(up):
    now = int(time.time() * 1000)
    up.add(
        "PATCH",
        f"{NB}/{IID}/lease",
        Reply(
            json={"create_at": now, "duration": 7_200_000, "enable": True, "type": "TIMING", "update_at": now}
        ),
    )
    lease = make(up).renew_lease(IID, 7_200_000)
    req = up.last
    assert req.method == "PATCH"
    assert req.json() == {"duration": 7_200_000, "type": "TIMING"}
    # RenewLeaseRequest's query duration too: the same value, so either reading renews alike
    assert req.query_dict == {"duration": "7200000"}
    assert_signed(req)
    assert lease["duration"] == 7_200_000
    assert 7_100_000 < lease["remaining_ms"] <= 7_200_000


def test_renew_lease_empty_answer_reads_the_lease(up):
    up.add("PATCH", f"{NB}/{IID}/lease", Reply(status=200, body=b""))
    up.add("GET", f"{NB}/{IID}/lease", Reply(json={"create_at": 5, "duration": 3_600_000}))
    assert make(up).renew_lease(IID, 3_600_000)["expires_at"] == 3_600_005


@pytest.mark.parametrize("bad", [0, 3_599_999, 72 * 3_600_000 + 1, True, 1.5, "3600000", None, -1])
def test_renew_lease_validates_range_and_sends_nothing(up, bad):
    with pytest.raises(ValidationError):
        make(up).renew_lease(IID, bad)
    assert up.received == []


@pytest.mark.parametrize("ok", [3_600_000, 72 * 3_600_000, 3_600_000.0])
def test_renew_lease_bounds_accepted(up, ok):
    up.add("PATCH", f"{NB}/{IID}/lease", Reply(json={"create_at": 1, "duration": int(ok)}))
    make(up).renew_lease(IID, ok)
    assert up.last.json()["duration"] == int(ok)


def test_list_images_pages_and_filters(up):
    catalogue = [
        {
            "id": f"m{n}",
            "name": f"img{n}",
            "arch": "X86_64" if n % 2 else "AARCH64",
            "resource_categories": ["CPU"],
        }
        for n in range(450)
    ]

    def answer(req: Received) -> Reply:
        offset, limit = int(req.query_dict["offset"]), int(req.query_dict["limit"])
        return Reply(json=page(catalogue[offset : offset + limit], total=len(catalogue)))

    up.add("GET", IMAGES, answer)
    images = make(up).list_images(type="BUILD_IN", name="img")
    assert len(images) == 450
    assert {image["arch"] for image in images} == {"x86_64", "aarch64"}
    reqs = up.requests_to("GET", IMAGES)
    assert [r.query_dict["offset"] for r in reqs] == ["0", "200", "400"]
    for req in reqs:
        assert req.query_dict["limit"] == "200"
        assert req.query_dict["type"] == "BUILD_IN"
        assert req.query_dict["name"] == "img"
        assert_signed(req)


def test_list_images_without_type_lists_both_types(up):
    # without ``type`` ModelArts lists BUILD_IN only (ListImageRequest): ask for each type explicitly
    def answer(req: Received) -> Reply:
        return Reply(json={"images": [{"id": "m-" + req.query_dict["type"]}]})

    up.add("GET", IMAGES, answer)
    images = make(up).list_images()
    assert [image["id"] for image in images] == ["m-BUILD_IN", "m-DEDICATED"]
    reqs = up.requests_to("GET", IMAGES)
    assert [r.query_dict for r in reqs] == [
        {"type": "BUILD_IN", "limit": "200", "offset": "0"},
        {"type": "DEDICATED", "limit": "200", "offset": "0"},
    ]


def test_get_image_and_flavors(up):
    up.add("GET", f"{IMAGES}/{IMG}", Reply(json={"id": IMG, "arch": "AARCH64", "name": "x"}))
    up.add("GET", f"{NB}/{IID}/flavors", Reply(json={"flavors": [{"id": "f1"}, "junk", {"id": "f2"}]}))
    client = make(up)
    assert client.get_image(IMG)["arch"] == "aarch64"
    assert [f["id"] for f in client.list_flavors(IID)] == ["f1", "f2"]
    assert_signed(up.last)


def test_check_credentials_is_one_cheap_signed_call(up):
    up.add("GET", NB, Reply(json=page([], 0)))
    client = make(up)
    assert client.check_credentials() is None
    (req,) = up.received
    # the smallest ListNotebooks limit the SDK documents (10, 20 or 50): limit=1 is refused upstream
    assert req.query_dict == {"feature": "DEFAULT", "limit": "10", "offset": "0"}
    assert_signed(req)


def test_check_credentials_refused(up):
    up.add(
        "GET",
        NB,
        Reply(status=401, json={"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication"}),
    )
    with pytest.raises(AuthError) as info:
        make(up).check_credentials()
    assert info.value.status == 401
    assert info.value.code == "APIGW.0301"
    assert_error_clean(info.value)


def test_permanent_credentials_send_no_security_token(up):
    up.add("GET", f"{NB}/{IID}", Reply(json=instance()))
    make(up, creds=aksk(token=None)).get_instance(IID)
    assert "X-Security-Token" not in up.last.headers
    assert_signed(up.last, token=False)


# =========================================================================== project id


def projects_reply(*names_ids: tuple[str, str]) -> Reply:
    return Reply(json={"projects": [{"id": pid, "name": name} for name, pid in names_ids]})


def test_project_id_discovered_through_iam_once(up):
    up.add("GET", "/v3/projects", projects_reply((REGION, "discovered01")))
    up.add("GET", "/v1/discovered01/notebooks", Reply(json=page([], 0)))
    client = make(up, creds=aksk(project_id=None))
    assert client.project_id == "discovered01"
    client.list_instances()
    client.list_instances()
    iam = up.requests_to("GET", "/v3/projects")
    assert len(iam) == 1
    assert iam[0].query == [("name", REGION)]
    assert_signed(iam[0], project=None)
    for req in up.requests_to("GET", "/v1/discovered01/notebooks"):
        assert_signed(req, project="discovered01")


def test_project_id_exact_name_match_among_several(up):
    up.add("GET", "/v3/projects", projects_reply((f"{REGION}_sub", "other"), (REGION, "exact01")))
    assert make(up, creds=aksk(project_id=None)).project_id == "exact01"


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (projects_reply(), "no project"),
        (projects_reply((REGION, "a1"), (REGION, "b2")), "2 projects"),
    ],
)
def test_project_id_zero_or_several_is_a_config_error(up, reply, match):
    up.add("GET", "/v3/projects", reply)
    with pytest.raises(ConfigError, match=match):
        make(up, creds=aksk(project_id=None)).list_instances()
    assert up.count("GET", "/v3/projects") == 1
    assert [r.path for r in up.received] == ["/v3/projects"]


def test_project_id_from_credentials_only_for_the_same_region(up):
    up.add("GET", "/v3/projects", projects_reply((REGION, "fromiam01")))
    assert make(up, creds=aksk(project_id="fromcreds", region=REGION)).project_id == "fromcreds"
    assert make(up, creds=aksk(project_id="fromcreds", region=None)).project_id == "fromcreds"
    assert make(up, creds=aksk(project_id="fromcreds", region="cn-east-3")).project_id == "fromiam01"
    assert make(up, creds=aksk(project_id="fromcreds"), project_id="configured").project_id == "configured"


def test_project_lookup_errors_are_mapped(up):
    up.add(
        "GET",
        "/v3/projects",
        Reply(
            status=401,
            json={
                "error": {
                    "code": 401,
                    "message": "The request you have made requires authentication.",
                    "title": "Unauthorized",
                }
            },
        ),
    )
    with pytest.raises(AuthError) as info:
        make(up, creds=aksk(project_id=None)).project_id  # noqa: B018
    assert "IAM" in str(info.value)
    assert info.value.code is None  # IAM's numeric code is not an error code


# =========================================================================== IAM token auth


def password_creds() -> Credentials:
    return Credentials(source="test", iam_user="alice", iam_password=PASSWORD, iam_domain="acme")


def token_reply(project_id: str = "tokproj01") -> Reply:
    return Reply(
        status=201,
        headers={"X-Subject-Token": IAM_TOKEN},
        json={
            "token": {
                "expires_at": "2099-01-01T00:00:00.000000Z",
                "project": {"id": project_id, "name": REGION},
            }
        },
    )


def test_password_credentials_use_a_project_scoped_token(up, caplog):
    caplog.set_level(logging.DEBUG)
    up.add("POST", "/v3/auth/tokens", token_reply())
    up.add("GET", "/v1/tokproj01/notebooks", Reply(json=page([instance()], 1)))
    client = make(up, creds=password_creds())
    assert [i["id"] for i in client.list_instances()] == [IID]
    token_req = up.requests_to("POST", "/v3/auth/tokens")
    assert len(token_req) == 1
    body = token_req[0].json()
    assert body["auth"]["scope"] == {"project": {"name": REGION}}
    assert body["auth"]["identity"]["password"]["user"]["name"] == "alice"
    (req,) = up.requests_to("GET", "/v1/tokproj01/notebooks")
    assert req.headers["X-Auth-Token"] == IAM_TOKEN
    assert "Authorization" not in req.headers
    assert_common_headers(req)
    assert up.count("GET", "/v3/projects") == 0  # the token named the project
    assert_no_secret(caplog.text)
    # the token request: our User-Agent, and no service catalogue asked for
    assert token_req[0].headers["User-Agent"] == USER_AGENT
    assert token_req[0].query_dict == {"nocatalog": "true"}


def test_password_credentials_refused(up, caplog):
    caplog.set_level(logging.DEBUG)
    up.add(
        "POST", "/v3/auth/tokens", Reply(status=401, json={"error": {"code": 401, "message": "bad password"}})
    )
    with pytest.raises(AuthError) as info:
        make(up, creds=password_creds()).list_instances()
    assert_error_clean(info.value)
    assert_no_secret(caplog.text)


# =========================================================================== error mapping


def err(status: int, data: Any = None, body: bytes | None = None, headers: dict[str, str] | None = None):
    content = body if body is not None else (json.dumps(data).encode() if data is not None else b"")
    return error_from_response(status, headers or {}, content)


def ma(code: str, msg: str = "upstream says so") -> dict[str, str]:
    return {"error_code": code, "error_msg": msg}


@pytest.mark.parametrize(
    ("status", "code", "cls", "answer_status", "words"),
    [
        (400, "ModelArts.6309", NotFoundError, 404, "does not exist"),
        (400, "ModelArts.6404", NotFoundError, 404, "not found"),
        (400, "ModelArts.6357", NotFoundError, 404, "not found"),
        (400, "ModelArts.6302", ConflictError, 409, "already have a free codelab"),
        (400, "ModelArts.4991", QuotaError, 403, "free"),
        (400, "ModelArts.0113", QuotaError, 403, "quota"),
        (400, "ModelArts.0118", QuotaError, 403, "quota"),
        (400, "ModelArts.6326", QuotaError, 403, "arrears"),
        (400, "ModelArts.6329", QuotaError, 403, "sold out"),
        (400, "ModelArts.6716", QuotaError, 403, "sold out"),
        (400, "ModelArts.6360", QuotaError, 403, "not have enough resources"),
        (400, "ModelArts.6305", ConflictError, 409, "already running"),
        (400, "ModelArts.6306", ConflictError, 409, "already starting"),
        (400, "ModelArts.6307", ConflictError, 409, "already stopped"),
        (400, "ModelArts.6308", ConflictError, 409, "already stopping"),
        (400, "ModelArts.6346", ConflictError, 409, "lease"),
        (400, "ModelArts.6348", ConflictError, 409, "lease"),
        (400, "ModelArts.6349", ConflictError, 409, "lease"),
        (401, "ModelArts.0207", AuthError, 401, "not scoped to a project"),
        (403, "ModelArts.0212", AuthError, 401, "not scoped to a project"),
        (401, "APIGW.0301", AuthError, 401, "signature"),
        (429, "APIGW.0308", ThrottledError, 429, "throttling"),
        (404, "APIGW.0101", UpstreamError, 502, "endpoint"),
        (400, "ModelArts.9999", UpstreamError, 400, "upstream says so"),
        (401, None, AuthError, 401, "refused the credentials"),
        (403, None, ForbiddenError, 403, "permissions"),
        (404, None, NotFoundError, 404, "404"),
        (409, None, ConflictError, 409, "409"),
        (429, None, ThrottledError, 429, "throttling"),
        (500, None, UpstreamUnavailable, 502, "500"),
        (502, None, UpstreamUnavailable, 502, "502"),
        (503, None, UpstreamUnavailable, 502, "503"),
        (504, None, UpstreamTimeout, 504, "504"),
    ],
)
def test_error_codes_and_statuses(status, code, cls, answer_status, words):
    body = ma(code) if code else {"error_msg": "upstream says so"}
    exc = err(status, body, headers={"X-Request-Id": "req-123"})
    assert type(exc) is cls
    assert exc.status == answer_status
    assert exc.http_status == status
    assert exc.code == code
    assert exc.request_id == "req-123"
    assert exc.upstream_message == "upstream says so"
    assert words in exc.message.lower()
    assert "upstream says so" in exc.message
    text = str(exc)
    if code:
        assert f"[{code}]" in text
    assert "(request id req-123)" in text


def test_signature_error_mentions_key_and_clock():
    exc = err(401, ma("APIGW.0301", "Incorrect IAM authentication information: verify aksk signature fail"))
    assert isinstance(exc, AuthError)
    text = exc.message.lower()
    assert "signature" in text and "key" in text
    assert "clock" in text and "15 minutes" in text


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"code": "ModelArts.6309", "message": "Notebook not found"}},
        {"errorCode": "ModelArts.6309", "errorMsg": "Notebook not found"},
        {"error_code": "ModelArts.6309", "error_msg": "Notebook not found", "request_id": "body-rid"},
        {"code": "ModelArts.6309", "message": "Notebook not found"},
        {"result": {"detail": {"error_code": "ModelArts.6309", "error_msg": "Notebook not found"}}},
        {
            "encoded_authorization_message": "x",
            "error": {"errorCode": "ModelArts.6309", "errorMsg": "Notebook not found"},
        },
    ],
)
def test_error_body_shapes(body):
    exc = err(400, body, headers={"X-Request-Id": "hdr-rid"})
    assert isinstance(exc, NotFoundError)
    assert exc.code == "ModelArts.6309"
    assert exc.upstream_message == "Notebook not found"
    assert exc.request_id == ("body-rid" if "request_id" in body else "hdr-rid")


SDK_ERROR_BODIES = [
    {"error_code": "ModelArts.6309", "error_msg": "Notebook not found"},
    {"errorCode": "ModelArts.6404", "errorMsg": "Image not found"},
    {"code": "APIGW.0301", "message": "Incorrect IAM authentication information"},
    {"error": {"code": "ModelArts.6357", "message": "nested"}},
    {"outer": {"inner": {"error_code": "ModelArts.0104", "error_msg": "deep"}}},
    {"error_code": "ModelArts.6302", "error_msg": "pair wins", "code": "other", "message": "not this"},
    {"errorCode": "ModelArts.4991", "errorMsg": "camel wins", "code": "other", "message": "not this"},
    {"error_code": "ModelArts.0113", "error_msg": "quota", "request_id": "ignored-by-the-sdk"},
]


@pytest.mark.parametrize("body", SDK_ERROR_BODIES)
def test_error_bodies_read_as_the_sdk_reads_them(body):
    from .support.sdk import sdk

    handler = sdk("huaweicloudsdkcore.exceptions.exception_handler").DefaultExceptionHandler()
    service_error = sdk("huaweicloudsdkcore.exceptions.exceptions").ServiceResponseException
    response = requests.Response()
    response.status_code = 400
    response._content = json.dumps(body).encode()
    response.headers["X-Request-Id"] = "hdr-rid"
    with pytest.raises(service_error) as caught:
        handler.handle_exception(None, response)
    theirs = caught.value
    ours = err(400, body, headers={"X-Request-Id": "hdr-rid"})
    assert ours.code == theirs.error_code
    assert ours.upstream_message == theirs.error_msg
    # the request id: the header the SDK reads, unless the body carries one (we keep that one)
    assert ours.request_id == body.get("request_id", theirs.request_id)


def test_html_error_page_is_described_not_dumped():
    page_html = (
        b"<html><head><title>502 Bad Gateway</title></head><body><h1>nginx secret-ish</h1></body></html>"
    )
    exc = err(502, body=page_html, headers={"Content-Type": "text/html"})
    assert isinstance(exc, UpstreamUnavailable)
    assert exc.message == "ModelArts answered HTTP 502 with an HTML page instead of JSON"
    assert "<" not in str(exc) and "nginx" not in str(exc)
    # HTML without a content type is recognised too, and on a 4xx
    exc = err(403, body=b"  <!DOCTYPE html><html>page-body-text</html>")
    assert isinstance(exc, ForbiddenError)
    assert "page-body-text" not in str(exc)


def test_non_json_text_body():
    exc = err(500, body=b"Internal error: stack trace here", headers={"Content-Type": "text/plain"})
    assert isinstance(exc, UpstreamUnavailable)
    assert "not JSON" in exc.message
    assert "stack trace" not in str(exc)


def test_empty_error_body():
    exc = err(503, body=b"")
    assert isinstance(exc, UpstreamUnavailable)
    assert exc.message == "ModelArts answered HTTP 503"


def test_upstream_text_is_bounded_and_control_free():
    exc = err(400, ma("ModelArts.1234", "line1\nline2\r\n\x00" + "x" * 1000))
    assert "\n" not in exc.message and "\x00" not in exc.message
    assert len(exc.upstream_message) <= 300


def test_upstream_text_echoing_a_secret_is_scrubbed():
    exc = error_from_response(
        400, {}, b'{"error_code": "ModelArts.1", "error_msg": "bad key ' + SK.encode() + b'"}', secrets=[SK]
    )
    assert SK not in str(exc) and SK not in exc.upstream_message
    assert "***" in exc.message


def test_retry_after_parsing():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(30.0)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0
    exc = err(429, ma("APIGW.0308", "throttled"), headers={"Retry-After": "12"})
    assert isinstance(exc, ThrottledError) and exc.retry_after == 12.0


def test_error_mapping_over_the_wire(up):
    up.add(
        "GET",
        f"{NB}/{IID}",
        Reply(
            status=400, json=ma("ModelArts.6309", "Notebook does not exist"), headers={"X-Request-Id": "r-9"}
        ),
    )
    with pytest.raises(NotFoundError) as info:
        make(up).get_instance(IID)
    assert info.value.request_id == "r-9"
    assert up.count("GET", f"{NB}/{IID}") == 1  # 400: never retried


@pytest.mark.parametrize("body", [b"{not json", b'{"id": "x", "status": "RUN', b"\xff\xfe\x00garbage"])
def test_2xx_with_garbage_is_unreadable(up, body):
    up.add("GET", f"{NB}/{IID}", Reply(status=200, body=body, headers={"Content-Type": "application/json"}))
    with pytest.raises(UpstreamUnavailable) as info:
        make(up).get_instance(IID)
    assert "unreadable answer" in info.value.message
    assert info.value.http_status == 200
    assert up.count("GET", f"{NB}/{IID}") == 1


def test_redirects_are_not_followed(up):
    up.add("GET", f"{NB}/{IID}", Reply(status=302, headers={"Location": "https://elsewhere.example/"}))
    with pytest.raises(UpstreamError, match="unexpected HTTP 302"):
        make(up).get_instance(IID)
    assert len(up.received) == 1


# =========================================================================== retries


def test_get_retried_on_503_then_succeeds(up, sleeper):
    up.add(
        "GET", f"{NB}/{IID}", Reply(status=503), Reply(status=502, body=b"<html/>"), Reply(json=instance())
    )
    client = make(up, sleeper)
    assert client.get_instance(IID)["id"] == IID
    assert up.count("GET", f"{NB}/{IID}") == 3
    assert client.request_count == 3
    assert len(sleeper.delays) == 2
    # full jitter: uniform(0, min(cap, base * 2**attempt))
    assert 0 <= sleeper.delays[0] <= 0.001 and 0 <= sleeper.delays[1] <= 0.002


def test_get_gives_up_after_max_retries(up, sleeper):
    up.add("GET", f"{NB}/{IID}", Reply(status=504))
    client = make(up, sleeper, max_retries=2)
    with pytest.raises(UpstreamTimeout):
        client.get_instance(IID)
    assert up.count("GET", f"{NB}/{IID}") == 3
    assert len(sleeper.delays) == 2


def test_backoff_is_capped(up, sleeper):
    up.add("GET", f"{NB}/{IID}", Reply(status=503))
    client = make(up, sleeper, max_retries=6, backoff_base=0.001, backoff_cap=0.003)
    with pytest.raises(UpstreamUnavailable):
        client.get_instance(IID)
    assert len(sleeper.delays) == 6
    assert all(0 <= d <= 0.003 for d in sleeper.delays)


def test_no_retry_on_500_or_4xx(up, sleeper):
    up.add("GET", f"{NB}/a", Reply(status=500, json=ma("ModelArts.0001", "internal")))
    up.add("GET", f"{NB}/b", Reply(status=403, json=ma("ModelArts.0002", "forbidden")))
    client = make(up, sleeper)
    with pytest.raises(UpstreamUnavailable):
        client.get_instance("a")
    with pytest.raises(ForbiddenError):
        client.get_instance("b")
    assert client.request_count == 2
    assert sleeper.delays == []


def test_max_retries_zero(up, sleeper):
    up.add("GET", f"{NB}/{IID}", Reply(status=503))
    with pytest.raises(UpstreamUnavailable):
        make(up, sleeper, max_retries=0).get_instance(IID)
    assert up.count("GET", f"{NB}/{IID}") == 1


def test_429_retry_after_is_honoured(up, sleeper):
    up.add(
        "GET",
        f"{NB}/{IID}",
        Reply(status=429, json=ma("APIGW.0308", "throttled"), headers={"Retry-After": "0.25"}),
        Reply(json=instance()),
    )
    make(up, sleeper).get_instance(IID)
    assert sleeper.delays == [0.25]
    assert up.count("GET", f"{NB}/{IID}") == 2


def test_429_retry_after_http_date(up, sleeper):
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    up.add("GET", f"{NB}/{IID}", Reply(status=429, headers={"Retry-After": when}), Reply(json=instance()))
    make(up, sleeper).get_instance(IID)
    assert len(sleeper.delays) == 1 and 17 <= sleeper.delays[0] <= 20


def test_429_without_retry_after_backs_off(up, sleeper):
    up.add("GET", f"{NB}/{IID}", Reply(status=429), Reply(json=instance()))
    make(up, sleeper).get_instance(IID)
    assert len(sleeper.delays) == 1 and sleeper.delays[0] <= 0.001


def test_429_retry_after_beyond_cap_raises_at_once(up, sleeper):
    up.add(
        "GET",
        f"{NB}/{IID}",
        Reply(status=429, json=ma("APIGW.0308", "slow down"), headers={"Retry-After": "120"}),
    )
    with pytest.raises(ThrottledError) as info:
        make(up, sleeper, retry_after_cap=30).get_instance(IID)
    assert info.value.retry_after == 120
    assert sleeper.delays == []
    assert up.count("GET", f"{NB}/{IID}") == 1


def test_connection_drop_is_retried_for_get(up, sleeper):
    up.add("GET", f"{NB}/{IID}", Reply(drop=True), Reply(json=instance()))
    assert make(up, sleeper).get_instance(IID)["id"] == IID
    assert up.count("GET", f"{NB}/{IID}") == 2


def test_read_timeout_is_retried_for_get(up, sleeper):
    up.add("GET", f"{NB}/{IID}", Reply(delay=0.6, json=instance()), Reply(json=instance()))
    client = make(up, sleeper, timeout=0.2)
    assert client.get_instance(IID)["id"] == IID
    assert up.count("GET", f"{NB}/{IID}") == 2


def test_read_timeout_exhausted(up, sleeper):
    up.add("GET", f"{NB}/{IID}", Reply(delay=0.5, json=instance()))
    client = make(up, sleeper, timeout=0.15, max_retries=1)
    with pytest.raises(UpstreamTimeout) as info:
        client.get_instance(IID)
    assert up.host in info.value.message
    assert "0.15 s" in info.value.message
    assert up.count("GET", f"{NB}/{IID}") == 2


def test_patch_lease_is_retried(up, sleeper):
    up.add(
        "PATCH", f"{NB}/{IID}/lease", Reply(status=502), Reply(json={"create_at": 1, "duration": 3_600_000})
    )
    make(up, sleeper).renew_lease(IID, 3_600_000)
    reqs = up.requests_to("PATCH", f"{NB}/{IID}/lease")
    assert len(reqs) == 2
    for req in reqs:
        assert req.json() == {"duration": 3_600_000, "type": "TIMING"}
        assert_signed(req)


def test_retries_are_signed_afresh(up):
    up.add("GET", f"{NB}/{IID}", Reply(status=503), Reply(json=instance()))
    client = make(up, SleepRecorder(really=True), backoff_base=1.1, backoff_cap=1.1)
    # force a delay of at least one second so the two X-Sdk-Date values must differ
    client._backoff = lambda attempt: 1.05  # type: ignore[method-assign]
    client.get_instance(IID)
    first, second = up.requests_to("GET", f"{NB}/{IID}")
    assert first.headers["X-Sdk-Date"] != second.headers["X-Sdk-Date"]
    assert first.headers["Authorization"] != second.headers["Authorization"]
    assert_signed(first)
    assert_signed(second)


def test_start_retried_after_timeout_and_already_starting_answers_the_instance(up, sleeper):
    up.add(
        "POST",
        f"{NB}/{IID}/start",
        Reply(delay=0.5, json=instance(status="STARTING")),
        Reply(status=400, json=ma("ModelArts.6306", "The notebook is starting")),
    )
    up.add("GET", f"{NB}/{IID}", Reply(json=instance(status="STARTING")))
    inst = make(up, sleeper, timeout=0.2).start(IID)
    assert inst["status"] == "STARTING"
    assert up.count("POST", f"{NB}/{IID}/start") == 2
    assert up.count("GET", f"{NB}/{IID}") == 1


def test_stop_first_attempt_conflict_is_raised(up, sleeper):
    up.add("POST", f"{NB}/{IID}/stop", Reply(status=400, json=ma("ModelArts.6307", "already stopped")))
    with pytest.raises(ConflictError):
        make(up, sleeper).stop(IID)
    assert up.count("POST", f"{NB}/{IID}/stop") == 1


def test_stop_retried_on_503(up, sleeper):
    up.add("POST", f"{NB}/{IID}/stop", Reply(status=503), Reply(json=instance(status="STOPPING")))
    assert make(up, sleeper).stop(IID)["status"] == "STOPPING"
    assert up.count("POST", f"{NB}/{IID}/stop") == 2


# =========================================================================== open is never re-sent


def test_open_timeout_then_found_by_lookup(up, sleeper):
    up.add("POST", f"{NB}/open", Reply(delay=0.6, json=instance()))
    up.add(
        "GET", NB, Reply(json=page([instance(iid="other", image_id="x"), instance(iid=IID, image_id=IMG)], 2))
    )
    inst = make(up, sleeper, timeout=0.2).open(image_id=IMG)
    assert inst["id"] == IID
    assert up.count("POST", f"{NB}/open") == 1
    assert up.count("GET", NB) == 1
    assert up.requests_to("GET", NB)[0].query_dict["feature"] == "DEFAULT"


def test_open_drop_without_image_finds_any_instance(up, sleeper):
    up.add("POST", f"{NB}/open", Reply(drop=True))
    up.add("GET", NB, Reply(json=page([instance(status="DELETED", iid="gone"), instance(iid="live")], 2)))
    assert make(up, sleeper).open()["id"] == "live"
    assert up.count("POST", f"{NB}/open") == 1


def test_open_failure_not_found_by_lookup_raises_the_original(up, sleeper):
    up.add("POST", f"{NB}/open", Reply(drop=True))
    up.add("GET", NB, Reply(json=page([instance(image_id="another-image")], 1)))
    with pytest.raises(UpstreamUnavailable) as info:
        make(up, sleeper).open(image_id=IMG)
    assert "connection" in info.value.message
    assert up.count("POST", f"{NB}/open") == 1
    assert sleeper.delays == []


def test_open_failure_and_failed_lookup_raises_the_original(up, sleeper):
    up.add("POST", f"{NB}/open", Reply(status=504, body=b"<html>gateway timeout</html>"))
    up.add("GET", NB, Reply(status=401, json=ma("APIGW.0301", "nope")))
    with pytest.raises(UpstreamTimeout) as info:
        make(up, sleeper).open()
    assert info.value.http_status == 504
    assert up.count("POST", f"{NB}/open") == 1


def test_open_unreadable_2xx_is_looked_up(up, sleeper):
    up.add("POST", f"{NB}/open", Reply(status=200, body=b'{"id": "f99'))
    up.add("GET", NB, Reply(json=page([instance()], 1)))
    assert make(up, sleeper).open()["id"] == IID
    assert up.count("POST", f"{NB}/open") == 1


@pytest.mark.parametrize(
    ("reply", "cls"),
    [
        (Reply(status=429, json=ma("APIGW.0308", "throttled"), headers={"Retry-After": "1"}), ThrottledError),
        (Reply(status=400, json=ma("ModelArts.6302", "instance count max")), ConflictError),
        (Reply(status=400, json=ma("ModelArts.4991", "free quota")), QuotaError),
        (Reply(status=401, json=ma("APIGW.0301", "bad signature")), AuthError),
    ],
)
def test_open_definite_refusals_are_neither_retried_nor_looked_up(up, sleeper, reply, cls):
    up.add("POST", f"{NB}/open", reply)
    with pytest.raises(cls):
        make(up, sleeper).open()
    assert up.count("POST", f"{NB}/open") == 1
    assert up.count("GET", NB) == 0
    assert sleeper.delays == []


# =========================================================================== transport errors and secrets


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused(sleeper):
    port = closed_port()
    client = ModelArtsClient(
        aksk(),
        region=REGION,
        modelarts_endpoint=f"http://127.0.0.1:{port}",
        iam_endpoint=f"http://127.0.0.1:{port}",
        timeout=1,
        max_retries=2,
        backoff_base=0.001,
        sleep=sleeper,
    )
    with pytest.raises(UpstreamUnavailable) as info:
        client.list_instances()
    text = str(info.value)
    assert f"127.0.0.1:{port}" in text
    assert "feature=" not in text and "limit=" not in text  # never the query
    assert client.request_count == 3
    assert_error_clean(info.value)


def test_secrets_never_in_errors_or_logs(up, sleeper, caplog):
    caplog.set_level(logging.DEBUG)
    echo = ma("ModelArts.0001", f"token {SEC_TOKEN} and key {SK} are wrong")
    up.add("GET", f"{NB}/a", Reply(status=400, json=echo))
    up.add("GET", f"{NB}/b", Reply(status=401, json=echo))
    up.add("GET", f"{NB}/c", Reply(status=502, body=f"<html>{SK}</html>"))
    up.add("GET", f"{NB}/d", Reply(drop=True))
    up.add("GET", f"{NB}/e", Reply(delay=0.4))
    up.add("GET", f"{NB}/f", Reply(status=200, body=f"garbage {SK}"))
    up.add("GET", f"{NB}/g", Reply(status=429, json=echo, headers={"Retry-After": "999"}))
    client = make(up, sleeper, timeout=0.15, max_retries=1)
    raised = []
    for suffix in "abcdefg":
        with pytest.raises(CodeLabError) as info:
            client.get_instance(suffix)
        raised.append(info.value)
        assert_error_clean(info.value)
    assert "***" in raised[0].message
    assert_no_secret(caplog.text, repr(client), str(client))
    debug_lines = [r.getMessage() for r in caplog.records if r.name == "codelab_ext.modelarts"]
    assert any(f"GET {NB}/a -> 400" in line for line in debug_lines)
    assert all("?" not in line for line in debug_lines)  # paths only, never a query string


def test_password_never_in_errors_or_logs(up, caplog):
    caplog.set_level(logging.DEBUG)
    up.add("POST", "/v3/auth/tokens", token_reply())
    up.add(
        "GET",
        "/v1/tokproj01/notebooks/x",
        Reply(status=400, json=ma("ModelArts.1", f"echo {PASSWORD} {IAM_TOKEN}")),
    )
    with pytest.raises(UpstreamError) as info:
        make(up, creds=password_creds()).get_instance("x")
    assert PASSWORD not in str(info.value)
    assert_no_secret(caplog.text)


def test_token_401_refreshes_once(up):
    up.add("POST", "/v3/auth/tokens", token_reply())
    up.add(
        "GET",
        "/v1/tokproj01/notebooks/x",
        Reply(status=401, json=ma("APIGW.0302", "expired")),
        Reply(json=instance(iid="x")),
    )
    client = make(up, creds=password_creds())
    assert client.get_instance("x")["id"] == "x"
    assert up.count("POST", "/v3/auth/tokens") == 2
    assert up.count("GET", "/v1/tokproj01/notebooks/x") == 2


# =========================================================================== construction


def test_from_config_with_and_without_credentials(up, tmp_path, monkeypatch):
    for name in (
        "HUAWEICLOUD_SDK_AK",
        "HUAWEICLOUD_SDK_SK",
        "HUAWEICLOUD_SDK_SECURITY_TOKEN",
        "CODELAB_IAM_USER",
        "CODELAB_IAM_PASSWORD",
        "HUAWEICLOUD_SDK_PROJECT_ID",
        "HUAWEICLOUD_SDK_CREDENTIALS_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    config = CodeLab(
        region=REGION,
        modelarts_endpoint=up.url,
        iam_endpoint=up.url,
        project_id=PID,
        credentials_file=str(tmp_path / "none.json"),
        request_timeout=5.0,
        max_retries=1,
    )
    client = ModelArtsClient.from_config(config, aksk(project_id=None), sleep=SleepRecorder())
    assert client.project_id == PID
    assert client.timeout == 5.0 and client.max_retries == 1
    up.add("GET", f"{NB}/{IID}", Reply(json=instance()))
    client.get_instance(IID)
    assert_signed(up.last)
    with pytest.raises(CredentialsError):
        ModelArtsClient.from_config(config)
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", AK)
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", SK)
    assert ModelArtsClient.from_config(config).credentials.access_key == AK


@pytest.mark.parametrize("endpoint", ["", "modelarts.example.com", "ftp://x", "http://"])
def test_bad_endpoint_is_a_config_error(endpoint):
    with pytest.raises(ConfigError):
        ModelArtsClient(
            aksk(), region=REGION, modelarts_endpoint=endpoint, iam_endpoint="https://iam.example.com"
        )


def test_no_credentials():
    with pytest.raises(CredentialsError):
        ModelArtsClient(
            None, region=REGION, modelarts_endpoint="https://m.example", iam_endpoint="https://i.example"
        )


def test_injected_session_is_used_and_not_closed(up):
    session = requests.Session()
    up.add("GET", f"{NB}/{IID}", Reply(json=instance()))
    client = make(up, session=session)
    client.get_instance(IID)
    client.close()
    assert session.get(up.url + f"{NB}/{IID}", timeout=2).status_code == 200  # still usable
    session.close()


def test_client_repr_hides_secrets(up):
    client = make(up)
    assert_no_secret(repr(client))
    assert AK not in repr(client)


# =========================================================================== share URL helpers


SHARE_EXAMPLE = (
    "https://mindspore-website.obs.cn-north-4.myhuaweicloud.com/notebook/r2.2/tutorials/application/zh_cn/cv/"
    "mindspore_fcn8s.ipynb"
)
SHARE_EXAMPLE_B64 = (
    "aHR0cHM6Ly9taW5kc3BvcmUtd2Vic2l0ZS5vYnMuY24tbm9ydGgtNC5teWh1YXdlaWNsb3VkLmNvbS9ub3RlYm9vay9yMi4yL3R1dG9yaWFscy9h"
    "cHBsaWNhdGlvbi96aF9jbi9jdi9taW5kc3BvcmVfZmNuOHMuaXB5bmI="
)


def test_encode_share_url_matches_the_documented_example():
    assert encode_share_url(SHARE_EXAMPLE) == SHARE_EXAMPLE_B64
    assert base64.b64decode(SHARE_EXAMPLE_B64).decode() == SHARE_EXAMPLE


def test_encode_share_url_is_standard_padded_base64_of_utf8():
    url = "https://example.com/ü/~?>>"
    encoded = encode_share_url(url)
    assert encoded == base64.b64encode(url.encode("utf-8")).decode()
    assert "-" not in encoded and "_" not in encoded
    assert len(encoded) % 4 == 0


@pytest.mark.parametrize(
    ("url", "raw"),
    [
        (
            "https://github.com/mindspore-ai/docs/blob/r2.2/tutorials/source_zh_cn/beginner/quick_start.ipynb",
            "https://raw.githubusercontent.com/mindspore-ai/docs/r2.2/tutorials/source_zh_cn/beginner/quick_start.ipynb",
        ),
        (
            "https://github.com/u/r/blob/main/n.ipynb?plain=1#L3",
            "https://raw.githubusercontent.com/u/r/main/n.ipynb",
        ),
        (
            "http://www.github.com/u/r/raw/dev/a/b.ipynb",
            "https://raw.githubusercontent.com/u/r/dev/a/b.ipynb",
        ),
        (
            "https://gist.github.com/alice/0123abcdef",
            "https://gist.githubusercontent.com/alice/0123abcdef/raw/",
        ),
        (
            "https://gist.github.com/alice/0123abcdef#file-demo_notebook-ipynb",
            "https://gist.githubusercontent.com/alice/0123abcdef/raw/demo_notebook.ipynb",
        ),
        (
            "https://gist.github.com/alice/0123abcdef#file-readme-md",
            "https://gist.githubusercontent.com/alice/0123abcdef/raw/readme-md",
        ),
        (
            "https://gist.github.com/alice/0123abcdef#comments",
            "https://gist.githubusercontent.com/alice/0123abcdef/raw/",
        ),
    ],
)
def test_to_raw_url_conversions(url, raw):
    assert to_raw_url(url) == raw


@pytest.mark.parametrize(
    "url",
    [
        SHARE_EXAMPLE,
        "https://raw.githubusercontent.com/u/r/main/n.ipynb",
        "https://github.com/u/r",
        "https://github.com/u/r/tree/main/dir",
        "https://github.com/u/r/blob/main",
        "https://gist.github.com/alice",
        "https://gist.github.com/alice/0123abcdef/revisions",
        "https://notgithub.com/u/r/blob/main/n.ipynb",
        "https://github.com.evil.example/u/r/blob/main/n.ipynb",
        "ftp://github.com/u/r/blob/main/n.ipynb",
        "not a url at all",
        "https://github.com:notaport/u/r/blob/main/n.ipynb",
        "https://[::1/u/r/blob/main/n.ipynb",
    ],
)
def test_to_raw_url_leaves_everything_else_unchanged(url):
    assert to_raw_url(url) == url


def test_validate_share_url():
    assert validate_share_url("  https://example.com/n.ipynb ") == "https://example.com/n.ipynb"
    assert validate_share_url("http://127.0.0.1:8080/n.ipynb") == "http://127.0.0.1:8080/n.ipynb"
    long_ok = "https://example.com/" + "a" * (2048 - len("https://example.com/"))
    assert validate_share_url(long_ok) == long_ok
    for bad in (
        long_ok + "a",
        "https://alice:s3cret@example.com/n.ipynb",
        "https://alice@example.com/n.ipynb",
        "https://exa mple.com/n.ipynb",
        "https://example.com/\tn.ipynb",
        "https://example.com/\x7fn.ipynb",
        "file:///etc/passwd",
        "https://",
        "https://example.com:99999/n",
        42,
        None,
    ):
        with pytest.raises(ValidationError) as info:
            validate_share_url(bad)
        assert info.value.field == "share_url"
        assert "s3cret" not in str(info.value)


# =========================================================================== property-based


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=100, max_value=599),
    st.binary(max_size=200)
    | st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=30),
        lambda c: (
            st.lists(c, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    ["error_code", "error_msg", "error", "errorCode", "code", "message", "request_id", "x"]
                ),
                c,
                max_size=4,
            )
        ),
        max_leaves=15,
    ).map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(["Retry-After", "X-Request-Id", "Content-Type"]), st.text(max_size=40)),
)
def test_error_from_response_never_raises(status, content, headers):
    exc = error_from_response(status, headers, content, secrets=[SK])
    assert isinstance(exc, UpstreamError)
    assert exc.message and SK not in str(exc)
    assert exc.request_id is None or re.fullmatch(r"[\x21-\x7e]{1,128}", exc.request_id)


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=80) | st.from_regex(r"https://(gist\.)?github\.com/[a-z0-9/#\-.]{0,40}", fullmatch=True)
)
def test_to_raw_url_never_raises(url):
    out = to_raw_url(url)
    assert isinstance(out, str)
    if out != url:
        assert out.startswith(("https://raw.githubusercontent.com/", "https://gist.githubusercontent.com/"))


def test_start_and_stop_answer_the_instance_when_the_accepted_answer_is_unreadable(client, emulator):
    # Given a running instance, and a stop whose 2xx answer arrives as broken JSON
    opened = client.open()
    for _ in range(200):
        if client.get_instance(opened["id"])["status"] == "RUNNING":
            break
        time.sleep(0.02)
    emulator.set_fault("truncated_json", "stop")
    # When the client stops it
    answer = client.stop(opened["id"])
    # Then the action is reported as done: the instance, fetched again, is stopping or stopped
    assert answer["id"] == opened["id"]
    assert answer["status"] in ("STOPPING", "STOPPED")
    assert emulator.stats()["stop"] == 1

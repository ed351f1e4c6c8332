"""Contract tests with Huawei's official SDK as the oracle (a test dependency, never a runtime one).

* The SDK's own ``ModelArtsClient`` and ``IamClient``, pointed at the emulator with its demo AK/SK and a
  project id, drive every call of the SDK that codelab_ext uses; every answer deserialises into the
  SDK's models with the declared types (the SDK's type-conversion warnings are errors here).
* For each call, the request our client sends equals the SDK's in method, path, query names and body
  field names (both recorded from the HTTP session, as sent).

``POST /v1/{project_id}/notebooks/open`` (RunCodeLab) is not in the SDK: its contract is the seed page
(docs/modelarts-api.md).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from codelab_ext.emulator import DEMO_ACCOUNT
from codelab_ext.modelarts import ModelArtsClient

from .support.sdk import sdk

HOUR_MS = 3_600_000


class Recorder:
    """Every request a ``requests.Session`` sends, as (method, path, query names, body field names)."""

    def __init__(self, session: requests.Session) -> None:
        self.sent: list[requests.PreparedRequest] = []
        session.hooks.setdefault("response", []).append(self._hook)

    def _hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        self.sent.append(response.request)
        return response

    def take(self) -> list[tuple[str, str, list[str], list[str]]]:
        shapes = [shape(request) for request in self.sent]
        self.sent = []
        return shapes


def _field_names(value: Any, prefix: str = "") -> list[str]:
    if not isinstance(value, dict):
        return []
    names = []
    for key, item in value.items():
        names.append(prefix + key)
        names += _field_names(item, prefix + key + ".")
    return names


def shape(request: requests.PreparedRequest) -> tuple[str, str, list[str], list[str]]:
    parts = urlsplit(request.url or "")
    body = request.body
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    fields = sorted(_field_names(json.loads(body))) if body else []
    names = sorted(name for name, _ in parse_qsl(parts.query, keep_blank_values=True))
    return (request.method or "", parts.path, names, fields)


def assert_typed(model: Any, where: str = "") -> None:
    """Every attribute an SDK model got has the type its ``openapi_types`` declares (recursively)."""
    assert hasattr(model, "openapi_types"), f"{where}: not an SDK model: {type(model).__name__}"
    for name, declared in model.openapi_types.items():
        value = getattr(model, name)
        if value is not None:
            _check(value, declared, f"{where}.{name}")


_PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "bool": (bool,),
    "float": (float, int),
}


def _check(value: Any, declared: str, where: str) -> None:
    if declared.startswith("list["):
        assert isinstance(value, list), where
        for index, item in enumerate(value):
            _check(item, declared[5:-1], f"{where}[{index}]")
    elif declared.startswith("dict("):
        assert isinstance(value, dict), where
    elif declared in _PRIMITIVES:
        assert isinstance(value, _PRIMITIVES[declared]), f"{where}: {value!r} is not {declared}"
    elif declared != "object":
        assert_typed(value, where)


@pytest.fixture
def sdk_client(emulator: Any) -> Iterator[Any]:
    """The SDK's ModelArtsClient on the emulator (demo AK/SK, the demo project id, plain http)."""
    core = sdk("huaweicloudsdkcore.auth.credentials")
    config = sdk("huaweicloudsdkcore.http.http_config").HttpConfig.get_default_config()
    config.timeout = (5, 10)
    config.retry_times = 0
    credentials = core.BasicCredentials(DEMO_ACCOUNT.access_key, DEMO_ACCOUNT.secret_key, emulator.project_id)
    client = (
        sdk("huaweicloudsdkmodelarts.v1")
        .ModelArtsClient.new_builder()
        .with_credentials(credentials)
        .with_http_config(config)
        .with_endpoints([emulator.url])
        .build()
    )
    yield client
    client.get_http_client().close()


@pytest.fixture
def ours(emulator: Any, demo_credentials: Any) -> Iterator[ModelArtsClient]:
    client = ModelArtsClient(
        demo_credentials,
        region=emulator.region,
        modelarts_endpoint=emulator.url,
        iam_endpoint=emulator.url,
        project_id=emulator.project_id,
        timeout=10.0,
        max_retries=0,
        check_ssh_reachability=False,
    )
    yield client
    client.close()


@pytest.fixture(autouse=True)
def sdk_warnings_are_errors() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", sdk("huaweicloudsdkcore.warning.warning").SdkWarning)
        yield


def wait_status(ours: ModelArtsClient, instance_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        instance = ours.get_instance(instance_id)
        if instance["status"] == status:
            return instance
        assert time.monotonic() < deadline, f"{instance_id} never reached {status}"
        time.sleep(0.05)


def test_the_sdk_drives_every_call_we_use_and_its_models_read_every_answer(
    sdk_client: Any, ours: ModelArtsClient, emulator: Any
) -> None:
    m = sdk("huaweicloudsdkmodelarts.v1")
    instance_id = wait_status(ours, ours.open()["id"], "RUNNING")["id"]

    listed = sdk_client.list_notebooks(m.ListNotebooksRequest(feature="DEFAULT", limit=10, offset=0))
    assert_typed(listed, "ListNotebooks")
    assert [item.id for item in listed.data] == [instance_id] and listed.total == 1
    assert listed.data[0].status == "RUNNING" and listed.data[0].lease.duration == HOUR_MS

    shown = sdk_client.show_notebook(m.ShowNotebookRequest(id=instance_id))
    assert_typed(shown, "ShowNotebook")
    assert shown.id == instance_id and shown.image.id and len(shown.action_progress) == 4
    assert [e.dev_service for e in shown.endpoints if e.dev_service] or shown.endpoints is not None

    lease = sdk_client.show_lease(m.ShowLeaseRequest(id=instance_id))
    assert_typed(lease, "ShowLease")
    assert lease.duration == HOUR_MS and lease.enable is True and lease.type == "TIMING"

    renewed = sdk_client.renew_lease(
        m.RenewLeaseRequest(id=instance_id, body=m.LeaseReq(duration=2 * HOUR_MS, type="TIMING"))
    )
    assert_typed(renewed, "RenewLease")
    assert renewed.duration == 2 * HOUR_MS
    by_query = sdk_client.renew_lease(m.RenewLeaseRequest(id=instance_id, duration=3 * HOUR_MS))
    assert by_query.duration == 3 * HOUR_MS and by_query.type == "TIMING"

    switchable = sdk_client.show_switchable_flavors(m.ShowSwitchableFlavorsRequest(id=instance_id))
    assert_typed(switchable, "ShowSwitchableFlavors")
    assert [flavor.id for flavor in switchable.flavors] == ["modelarts.vm.cpu.free"]

    flavors = sdk_client.list_flavors(m.ListFlavorsRequest(feature="DEFAULT", category="CPU"))
    assert_typed(flavors, "ListFlavors")
    assert flavors.total >= 1 and all(f.category == "CPU" and f.free for f in flavors.data)

    images = sdk_client.list_image(m.ListImageRequest(type="BUILD_IN", limit=200, offset=0))
    assert_typed(images, "ListImage")
    assert images.total == len(images.data) > 1 and {i.type for i in images.data} == {"BUILD_IN"}
    image = sdk_client.show_image(m.ShowImageRequest(id=images.data[0].id))
    assert_typed(image, "ShowImage")
    assert image.id == images.data[0].id and image.arch

    stopped = sdk_client.stop_notebook(m.StopNotebookRequest(id=instance_id))
    assert_typed(stopped, "StopNotebook")
    assert stopped.status in ("STOPPING", "STOPPED")
    wait_status(ours, instance_id, "STOPPED")
    started = sdk_client.start_notebook(
        m.StartNotebookRequest(id=instance_id, duration=HOUR_MS, type="TIMING")
    )
    assert_typed(started, "StartNotebook")
    assert started.status in ("STARTING", "RUNNING")


def test_the_sdks_iam_client_lists_the_projects(emulator: Any) -> None:
    iam = sdk("huaweicloudsdkiam.v3")
    core = sdk("huaweicloudsdkcore.auth.credentials")
    config = sdk("huaweicloudsdkcore.http.http_config").HttpConfig.get_default_config()
    config.retry_times = 0
    credentials = core.BasicCredentials(DEMO_ACCOUNT.access_key, DEMO_ACCOUNT.secret_key)
    client = (
        iam.IamClient.new_builder()
        .with_credentials(credentials)
        .with_http_config(config)
        .with_endpoints([emulator.url])
        .build()
    )
    try:
        answer = client.keystone_list_projects(iam.KeystoneListProjectsRequest(name=emulator.region))
    finally:
        client.get_http_client().close()
    assert_typed(answer, "KeystoneListProjects")
    assert [(p.id, p.name) for p in answer.projects] == [(emulator.project_id, emulator.region)]


def _pair(ours_call: Callable[[], Any], sdk_call: Callable[[], Any], ours_rec: Recorder, sdk_rec: Recorder):
    ours_call()
    sdk_call()
    return ours_rec.take(), sdk_rec.take()


def test_our_requests_are_the_sdks(sdk_client: Any, ours: ModelArtsClient, emulator: Any) -> None:
    m = sdk("huaweicloudsdkmodelarts.v1")
    instance_id = wait_status(ours, ours.open()["id"], "RUNNING")["id"]
    image_id = ours.get_instance(instance_id)["image"]["id"]
    ours_rec = Recorder(ours._session)
    sdk_rec = Recorder(sdk_client.get_http_client()._session)

    pairs: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
        (
            "sign-in check (ListNotebooks, limit 10)",
            ours.check_credentials,
            lambda: sdk_client.list_notebooks(m.ListNotebooksRequest(feature="DEFAULT", limit=10, offset=0)),
        ),
        (
            "list instances (ListNotebooks, limit 50)",
            ours.list_instances,
            lambda: sdk_client.list_notebooks(m.ListNotebooksRequest(feature="DEFAULT", limit=50, offset=0)),
        ),
        (
            "show (ShowNotebook)",
            lambda: ours.get_instance(instance_id),
            lambda: sdk_client.show_notebook(m.ShowNotebookRequest(id=instance_id)),
        ),
        (
            "lease (ShowLease)",
            lambda: ours.get_lease(instance_id),
            lambda: sdk_client.show_lease(m.ShowLeaseRequest(id=instance_id)),
        ),
        (
            "renew (RenewLease: query duration and LeaseReq body)",
            lambda: ours.renew_lease(instance_id, 2 * HOUR_MS),
            lambda: sdk_client.renew_lease(
                m.RenewLeaseRequest(
                    id=instance_id, duration=2 * HOUR_MS, body=m.LeaseReq(duration=2 * HOUR_MS, type="TIMING")
                )
            ),
        ),
        (
            "switchable flavors (ShowSwitchableFlavors)",
            lambda: ours.list_flavors(instance_id),
            lambda: sdk_client.show_switchable_flavors(m.ShowSwitchableFlavorsRequest(id=instance_id)),
        ),
        (
            "images of a type (ListImage)",
            lambda: ours.list_images("BUILD_IN"),
            lambda: sdk_client.list_image(m.ListImageRequest(type="BUILD_IN", limit=200, offset=0)),
        ),
        (
            "images by name (ListImage)",
            lambda: ours.list_images("BUILD_IN", name="mindspore"),
            lambda: sdk_client.list_image(
                m.ListImageRequest(type="BUILD_IN", name="mindspore", limit=200, offset=0)
            ),
        ),
        (
            "one image (ShowImage)",
            lambda: ours.get_image(image_id),
            lambda: sdk_client.show_image(m.ShowImageRequest(id=image_id)),
        ),
    ]
    for what, ours_call, sdk_call in pairs:
        mine, theirs = _pair(ours_call, sdk_call, ours_rec, sdk_rec)
        assert mine == theirs, what
    # stop and start, each side in turn (our client may read the instance after an action: the first
    # request is the action)
    ours.stop(instance_id)
    our_stop = ours_rec.take()[:1]
    wait_status(ours, instance_id, "STOPPED")
    sdk_client.start_notebook(m.StartNotebookRequest(id=instance_id, duration=HOUR_MS, type="TIMING"))
    their_start = sdk_rec.take()
    wait_status(ours, instance_id, "RUNNING")
    sdk_client.stop_notebook(m.StopNotebookRequest(id=instance_id))
    their_stop = sdk_rec.take()
    wait_status(ours, instance_id, "STOPPED")
    ours_rec.take()
    ours.start(instance_id, HOUR_MS, lease_type="TIMING")
    our_start = ours_rec.take()[:1]
    assert our_stop == their_stop
    assert our_start == their_start
    assert their_start[0][2] == ["duration", "type"]


def test_our_project_lookup_is_the_sdks(emulator: Any, demo_credentials: Any) -> None:
    # BasicCredentials.process_auth_params: GET {iam}/v3/projects?name={region}, as our discovery does
    helper = sdk("huaweicloudsdkcore.auth.internal").IamHelper
    config = sdk("huaweicloudsdkcore.http.http_config").HttpConfig.get_default_config()
    theirs = helper.get_keystone_list_projects_request(config, emulator.url, region_id=emulator.region)
    client = ModelArtsClient(
        demo_credentials,
        region=emulator.region,
        modelarts_endpoint=emulator.url,
        iam_endpoint=emulator.url,
        max_retries=0,
    )
    recorder = Recorder(client._session)
    try:
        assert client.project_id == emulator.project_id
    finally:
        client.close()
    (mine,) = recorder.take()
    assert mine == (theirs.method, theirs.resource_path, [name for name, _ in theirs.query_params], [])


def test_the_sdk_reads_the_emulators_errors(sdk_client: Any, emulator: Any) -> None:
    m = sdk("huaweicloudsdkmodelarts.v1")
    refused = sdk("huaweicloudsdkcore.exceptions.exceptions").ClientRequestException
    with pytest.raises(refused) as caught:
        sdk_client.show_notebook(m.ShowNotebookRequest(id="00000000-0000-4000-8000-000000000000"))
    assert (caught.value.status_code, caught.value.error_code) == (400, "ModelArts.6309")
    assert caught.value.request_id  # the emulator's X-Request-Id, as the service sends it
    with pytest.raises(refused) as caught:
        sdk_client.list_notebooks(m.ListNotebooksRequest(feature="DEFAULT", limit=1))
    assert (caught.value.status_code, caught.value.error_code) == (400, "ModelArts.0104")

"""The server extension under JupyterHub-style base URLs and in embedded-emulator mode."""

from __future__ import annotations

import json

import pytest

from codelab_ext import NAMESPACE
from codelab_ext.emulator import DEMO_ACCOUNT
from codelab_ext.handlers import EventsHandler

from .support.server_config import codelab_server_config, emulator_server_config, isolate_environment
from .support.sse import SSEStream


@pytest.fixture
def jp_base_url():
    return "/user/alice/"


@pytest.fixture
def jp_server_config(request, emulator, tmp_path, monkeypatch):
    if request.node.get_closest_marker("embedded"):
        isolate_environment(monkeypatch, tmp_path)
        return codelab_server_config(emulator=True, emulator_speed=200.0)
    return emulator_server_config(emulator, monkeypatch, tmp_path)


async def test_everything_works_under_a_jupyterhub_base_url(jp_fetch, jp_http_port, jp_auth_header, emulator):
    # Given a single-user server at /user/alice/
    response = await jp_fetch(NAMESPACE, "open", method="POST", body="{}")
    inst = json.loads(response.body)
    assert response.code == 200
    response = await jp_fetch(NAMESPACE, "instances", inst["id"])
    assert json.loads(response.body)["id"] == inst["id"]
    # the event stream lives under the same prefix
    stream = await SSEStream(
        jp_http_port, f"/user/alice/{NAMESPACE}/instances/{inst['id']}/events", jp_auth_header
    ).open()
    assert stream.status == 200
    event, data = await stream.next_event()
    assert event == "instance" and data["id"] == inst["id"]
    await stream.close()
    response = await jp_fetch(NAMESPACE, "status")
    assert json.loads(response.body)["credentials"]["configured"] is True


async def test_event_stream_sends_heartbeats(jp_fetch, jp_http_port, jp_auth_header, monkeypatch):
    monkeypatch.setattr(EventsHandler, "heartbeat_seconds", 0.2)
    response = await jp_fetch(NAMESPACE, "open", method="POST", body="{}")
    inst = json.loads(response.body)
    stream = await SSEStream(
        jp_http_port, f"/user/alice/{NAMESPACE}/instances/{inst['id']}/events", jp_auth_header
    ).open()
    await stream.next_event()
    for _ in range(20):
        block = await stream.next_block(timeout=5)
        if block.startswith(": heartbeat"):
            break
    else:
        raise AssertionError("no heartbeat comment arrived")
    await stream.close()


@pytest.mark.embedded
async def test_embedded_emulator_mode_runs_the_whole_product(jp_fetch, jp_serverapp):
    # Given CODELAB_EMULATOR / c.CodeLab.emulator = True and nothing else
    response = await jp_fetch(NAMESPACE, "status")
    status = json.loads(response.body)
    # Then the extension talks to its own emulator with the demo account
    assert status["emulator"] is True
    assert status["modelarts_endpoint"].startswith("http://127.0.0.1:")
    assert status["credentials"]["configured"] is True
    assert DEMO_ACCOUNT.secret_key not in response.body.decode()
    response = await jp_fetch(NAMESPACE, "images")
    assert len(json.loads(response.body)["images"]) >= 10
    response = await jp_fetch(NAMESPACE, "open", method="POST", body="{}")
    assert json.loads(response.body)["feature"] == "DEFAULT"
    # the demo keeps its own credential file, away from the user's real one
    service = jp_serverapp.web_app.settings["codelab_service"]
    assert "codelab-emulator" in service.config.credentials_file


@pytest.mark.embedded
async def test_embedded_demo_account_is_named_and_offered_again_after_sign_out(jp_fetch):
    # Given the demo, signed in with the emulator's demo account
    status = json.loads((await jp_fetch(NAMESPACE, "status")).body)
    assert status["demo_account"] is True
    # When the user signs out
    response = await jp_fetch(NAMESPACE, "credentials", method="DELETE")
    assert response.code == 204
    status = json.loads((await jp_fetch(NAMESPACE, "status")).body)
    assert status["credentials"]["configured"] is False and status["demo_account"] is False
    # Then the demo account can be taken again, without typing its keys
    response = await jp_fetch(NAMESPACE, "credentials", "demo", method="POST", body="")
    status = json.loads(response.body)
    assert status["credentials"]["configured"] is True and status["demo_account"] is True
    assert DEMO_ACCOUNT.secret_key not in response.body.decode()
    response = await jp_fetch(NAMESPACE, "images")
    assert json.loads(response.body)["images"]


async def test_the_demo_account_route_refuses_without_the_embedded_emulator(jp_fetch):
    from tornado.httpclient import HTTPClientError

    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(NAMESPACE, "credentials", "demo", method="POST", body="")
    assert info.value.code == 400
    assert "embedded emulator" in json.loads(info.value.response.body)["message"]
    status = json.loads((await jp_fetch(NAMESPACE, "status")).body)
    assert status["demo_account"] is False

"""The server extension loads, answers GET status, and refuses anonymous callers on every route."""

from __future__ import annotations

import json
import re

import pytest
from tornado.httpclient import HTTPClientError

from codelab_ext import NAMESPACE, __version__
from codelab_ext.handlers import route_table

from .support.server_config import codelab_server_config, offline_codelab


@pytest.fixture
def jp_server_config(tmp_path, monkeypatch):
    for name in ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "CODELAB_IAM_USER", "CODELAB_EMULATOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return codelab_server_config(**offline_codelab(tmp_path), region="cn-east-3")


async def test_status_without_credentials(jp_fetch):
    # Given a server with no credentials anywhere
    # When the panel asks for the status
    response = await jp_fetch(NAMESPACE, "status")
    # Then it answers the documented shape, credentials not configured
    assert response.code == 200
    body = json.loads(response.body)
    assert body["version"] == __version__
    assert body["region"] == "cn-east-3"
    assert body["project_id"] is None
    assert body["modelarts_endpoint"] == "http://127.0.0.1:9"
    assert body["emulator"] is False
    assert body["credentials"]["configured"] is False
    assert body["credentials"]["access_key"] is None
    assert response.headers["Content-Type"].startswith("application/json")
    # and it is an answer of the moment: not to be stored, so no ETag to revalidate it with
    assert response.headers["Cache-Control"] == "no-store"
    assert "Etag" not in response.headers


#: a valid sample for each named group of the route table (a route with a new group fails here first)
SAMPLES = {"instance_id": "abc-123", "verb": "start", "kind": "push", "job_id": "job-1"}


def _concrete(path: str) -> str:
    return re.sub(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)", lambda m: SAMPLES[m.group(1)], path)


ROUTES = [(_concrete(path), handler) for path, handler in route_table()]
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@pytest.mark.parametrize(("path", "handler"), ROUTES, ids=[p for p, _ in ROUTES])
async def test_every_route_refuses_anonymous_callers(jp_fetch, path, handler):
    # Given every route and every verb it implements
    verbs = [m for m in METHODS if m.lower() in handler.__dict__]
    assert verbs, f"{handler.__name__} implements no verb"
    for method in verbs:
        body = "{}" if method in ("POST", "PUT", "PATCH") else None
        # When an anonymous caller (no token, no cookie) calls it
        with pytest.raises(HTTPClientError) as info:
            await jp_fetch(
                NAMESPACE, *path.split("/"), method=method, body=body, headers={"Authorization": ""}
            )
        # Then it is refused before any handler code runs
        assert info.value.code in (401, 403), (method, path, info.value.code)


def test_every_verb_is_authenticated_and_authorized():
    # the decorators leave their mark: authorized wraps, authenticated wraps it
    for _path, handler in route_table():
        assert handler.auth_resource == "codelab"
        for method in METHODS:
            fn = handler.__dict__.get(method.lower())
            if fn is None:
                continue
            assert fn.__wrapped__ is not None  # authenticated(...)
            assert getattr(fn.__wrapped__, "__wrapped__", None) is not None  # authorized(...)


async def test_unknown_codelab_route_is_404(jp_fetch):
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(NAMESPACE, "nope")
    assert info.value.code == 404

"""Bounds and races (issue "No hang, no balloon, no 500, no race"), against the emulator over real HTTP.

* a dribbling upstream (one byte every interval, in the body or already in the headers) is cut at
  ``request_timeout`` for the whole exchange, with "did not answer within N s" (504 to the browser);
* an endless answer is refused at ``max_response_bytes`` with a readable error;
* JSON nested too deep or holding non-finite numbers never reaches the browser as invalid JSON;
* the watcher never dies and clears a stale error with the first good poll;
* ``GET status`` answers while every upstream call hangs, and polls do not wait behind user calls;
* opens / starts / stops of a project are serialised, identical opens share one upstream call;
* ``PATCH lease`` never shortens the lease unless asked to.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from codelab_ext import NAMESPACE
from codelab_ext.credentials import Credentials
from codelab_ext.emulator import DEMO_ACCOUNT, DEMO_REGION
from codelab_ext.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from codelab_ext.modelarts import ModelArtsClient
from codelab_ext.watcher import WatcherHub

from .support.processes import LogCapture, record_figures
from .support.server_config import emulator_server_config
from .support.sse import SSEStream

HOUR_MS = 3_600_000
SPEED = 5000.0
TIMEOUT = 1.0
#: a generous allowance over the deadline for scheduling on a busy 2-core machine
SLACK = 0.75


def strict_json(text: str) -> Any:
    """``JSON.parse`` semantics: NaN / Infinity are not JSON."""

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in an answer to the browser")

    return json.loads(text, parse_constant=refuse)


def _client(handle: Any, **kwargs: Any) -> ModelArtsClient:
    options: dict[str, Any] = {
        "region": DEMO_REGION,
        "modelarts_endpoint": handle.url,
        "iam_endpoint": handle.url,
        "project_id": handle.project_id,
        "timeout": TIMEOUT,
        "max_retries": 0,
        "backoff_base": 0.01,
        "backoff_cap": 0.02,
    }
    options.update(kwargs)
    creds = Credentials(source="test", access_key=DEMO_ACCOUNT.access_key, secret_key=DEMO_ACCOUNT.secret_key)
    return ModelArtsClient(creds, **options)


def _running(handle: Any) -> str:
    handle.set_speed(SPEED)
    response = handle.request("POST", f"/v1/{handle.project_id}/notebooks/open", {})
    assert response.status_code == 200, response.text
    iid = response.json()["id"]
    deadline = time.monotonic() + 10
    while handle.instances()[0]["status"] != "RUNNING":
        assert time.monotonic() < deadline, handle.instances()
        time.sleep(0.01)
    return iid


# ============================================================================ 1. one deadline per exchange


@pytest.mark.parametrize("phase", ["body", "headers"])
def test_a_dribbling_upstream_is_cut_at_the_deadline_of_the_whole_call(emulator, phase):
    iid = _running(emulator)
    emulator.set_fault("dribble", "show", count=None, interval_ms=100, phase=phase)
    client = _client(emulator)
    try:
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout) as info:
            client.get_instance(iid)
        elapsed = time.monotonic() - started
    finally:
        client.close()
    # the emulator went on sending a byte every 100 ms: only the deadline ended the call
    assert TIMEOUT <= elapsed < TIMEOUT + SLACK, elapsed
    assert "did not answer within 1 s" in info.value.message
    assert info.value.status == 504
    record_figures(
        f"bounds.dribble.{phase}", {"request_timeout_s": TIMEOUT, "longest_call_s": round(elapsed, 3)}
    )


def test_the_cli_timeout_is_the_deadline_of_each_call_under_a_dribbling_upstream(tmp_path, emulator):
    from .support.cli import cli_env, run_cli

    iid = _running(emulator)
    emulator.set_fault("dribble", "show", count=None, interval_ms=200)
    env = cli_env(tmp_path, emulator.url, credentials=True)
    started = time.monotonic()
    result = run_cli(env, "show", iid, "--timeout", "1", timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert "did not answer within 1 s" in result.stderr and "Traceback" not in result.stderr
    # four attempts at most (three retries of a timed-out GET), each cut at 1 s, plus start-up
    assert elapsed < 4 * (1 + SLACK) + 8, elapsed


# ============================================================================ 2. a size cap


def test_an_endless_answer_is_refused_at_the_size_cap(emulator):
    iid = _running(emulator)
    emulator.set_fault("endless", "show", count=None)
    client = _client(emulator, max_response_bytes=1024 * 1024, timeout=20.0)
    try:
        with pytest.raises(UpstreamUnavailable) as info:
            client.get_instance(iid)
        assert "larger than 1048576 bytes" in info.value.message
        assert "connection closed" in info.value.message
        assert info.value.status == 502
        # the client is still fine for the next call once the upstream behaves
        emulator.clear_faults()
        assert client.get_instance(iid)["id"] == iid
    finally:
        client.close()


def test_an_announced_oversized_answer_is_refused_before_reading(emulator):
    iid = _running(emulator)
    client = _client(emulator, max_response_bytes=1024)
    try:
        # an instance answer is a few KiB: above this tiny cap
        with pytest.raises(UpstreamUnavailable) as info:
            client.get_instance(iid)
        assert "larger than 1024 bytes" in info.value.message
    finally:
        client.close()


# ============================================================================ the server


@pytest.fixture
def jp_server_config(emulator, tmp_path, monkeypatch):
    return emulator_server_config(
        emulator,
        monkeypatch,
        tmp_path,
        project_id=emulator.project_id,
        request_timeout=TIMEOUT,
        max_retries=0,
        images_cache_seconds=0.0,
    )


@pytest.fixture
def api(jp_fetch, jp_http_port, jp_base_url, jp_auth_header):
    """REST calls over real HTTP, as many at once as the test starts (no client-side queue; ``jp_fetch``
    starts the server)."""
    from tornado.httpclient import AsyncHTTPClient

    clients: list[Any] = []  # made on the test's own event loop, at the first call
    xsrf = {"X-XSRFToken": "x", "Cookie": "_xsrf=x"}

    async def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        if not clients:
            clients.append(AsyncHTTPClient(force_instance=True, max_clients=100))
        http = clients[0]
        kwargs: dict[str, Any] = {"method": method, "raise_error": False, "request_timeout": 60}
        if body is not None:
            kwargs["body"] = json.dumps(body)
        elif method in ("POST", "PATCH", "PUT"):
            kwargs["body"] = ""
            kwargs["allow_nonstandard_methods"] = True
        url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}{NAMESPACE}/{path}"
        headers = {**jp_auth_header, **xsrf, "Content-Type": "application/json"}
        response = await http.fetch(url, headers=headers, **kwargs)
        text = response.body.decode()
        return response.code, (strict_json(text) if text else None)

    yield call
    for http in clients:
        http.close()


@pytest.fixture
def stream(jp_http_port, jp_base_url, jp_auth_header):
    """Open the event stream of an instance (the test closes it)."""

    async def open_stream(iid: str) -> SSEStream:
        sse = await SSEStream(
            jp_http_port, f"{jp_base_url}{NAMESPACE}/instances/{iid}/events", jp_auth_header
        ).open()
        assert sse.status == 200
        return sse

    return open_stream


async def _running_async(emulator: Any) -> str:
    return await asyncio.get_running_loop().run_in_executor(None, _running, emulator)


async def next_event(sse: SSEStream, timeout: float = 10.0) -> tuple[str, Any]:
    """The next event, its data parsed as the browser would (``JSON.parse``: no NaN)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        block = await sse.next_block(max(0.01, deadline - loop.time()))
        event, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            return event, strict_json("\n".join(data))


async def test_a_dribbling_upstream_answers_504_readably_and_status_never_waits(api, emulator):
    iid = await _running_async(emulator)
    emulator.set_fault("dribble", None, count=None, interval_ms=100)
    order: list[str] = []

    async def one(path: str) -> tuple[int, Any]:
        code, body = await api("GET", path)
        order.append(path)
        return code, body

    started = time.monotonic()
    slow = [asyncio.ensure_future(one(f"instances/{iid}")) for _ in range(24)]
    slow.append(asyncio.ensure_future(one("images")))
    await asyncio.sleep(0.2)  # every upstream call is under way (and more wait for a thread)
    code, status = await one("status")
    assert code == 200 and status["emulator"] is False
    outs = await asyncio.gather(*slow)
    elapsed = time.monotonic() - started
    emulator.clear_faults()
    # status answered before any of the upstream calls ended: it never waits on upstream
    assert order[0] == "status", order
    for code, body in outs:
        assert code == 504, (code, body)
        assert "did not answer within 1 s" in body["message"]
    # 24 calls of one route, at most 8 threads for it at once: three rounds of at most 1 s each
    assert elapsed < 3 * (TIMEOUT + SLACK) + 3, elapsed
    record_figures(
        "bounds.dribble.rest",
        {"calls": len(outs), "status_codes": sorted({c for c, _ in outs}), "total_s": round(elapsed, 2)},
    )


async def test_polls_do_not_wait_behind_slow_user_calls(api, emulator, stream):
    iid = await _running_async(emulator)
    # every images call dribbles: the user pool's share for that route is full
    emulator.set_fault("dribble", "images", count=None, interval_ms=100)
    slow = [asyncio.ensure_future(api("GET", "images")) for _ in range(16)]
    await asyncio.sleep(0.2)
    sse = await stream(iid)
    event, data = await next_event(sse, timeout=5)
    assert event == "instance" and data["status"] == "RUNNING"
    # and another route still gets a thread
    code, body = await api("GET", f"instances/{iid}/lease")
    assert code == 200, body
    await sse.close()
    results = await asyncio.gather(*slow)
    assert {code for code, _ in results} == {504}
    emulator.clear_faults()


# ============================================================================ 3. pathological JSON


async def test_non_finite_numbers_and_deep_nesting_never_reach_the_browser(api, emulator, stream):
    iid = await _running_async(emulator)
    emulator.set_fault("non_finite", "show", count=1)
    code, body = await api("GET", f"instances/{iid}")  # strict_json: NaN/Infinity would fail here
    assert code == 200 and body["id"] == iid
    assert body["x_extra"] == {"score": None, "ratio": None, "floor": None}

    # nested ~985 deep (the probe's case): once parsed in a worker, it could not be encoded (500)
    emulator.set_fault("deep_nesting", "show", count=1, depth=985)
    code, body = await api("GET", f"instances/{iid}")
    assert code == 200, body  # the field is cut to null at the depth limit
    assert body["id"] == iid and isinstance(body["x_extra"], list)

    # a stream open while the poll meets the same answers: the subscriber still sees the instance
    emulator.set_fault("deep_nesting", "show", count=3, depth=985)
    emulator.set_fault("non_finite", "show", count=3)
    sse = await stream(iid)
    seen = []
    for _ in range(3):
        event, data = await next_event(sse, timeout=15)
        seen.append(event)
        if event == "instance" and data.get("status") == "RUNNING":
            break
    await sse.close()
    assert "instance" in seen, seen


# ============================================================================ 3+4. the watcher never dies


async def test_the_watcher_survives_any_failure_and_clears_the_error():
    """Poll, compare and publish failures: each one log line and an error event; the next poll runs;
    the first good poll after them sends the (unchanged) instance again, which clears the error."""
    good = {"id": "i1", "status": "RUNNING"}
    circular: dict[str, Any] = {"id": "i1", "status": "RUNNING"}
    circular["self"] = circular  # fingerprint() cannot encode it: the comparison fails
    answers: list[Any] = [good, ValueError("boom"), circular, UpstreamError("Cannot reach ModelArts"), good]

    async def fetch(instance_id: str) -> dict[str, Any]:
        answer = answers.pop(0) if answers else good
        if isinstance(answer, Exception):
            raise answer
        return answer

    hub = WatcherHub(fetch)
    with LogCapture(["codelab_ext.watcher"]) as logs:
        sub = hub.subscribe("i1")
        events = []
        for _ in range(5):
            watcher = hub.watchers["i1"]
            watcher.poke()
            event = await sub.get(timeout=40)
            assert event is not None, events
            events.append(event[0])
            if len(events) >= 5:
                break
        sub.close()
    assert events[0] == "instance"
    assert events[1:4] == ["error", "error", "error"], events
    assert events[4] == "instance", events  # the same instance, sent again: the error is cleared
    failures = [line for line in logs.lines if "polling instance i1 failed" in line]
    assert len(failures) == 3, logs.lines
    assert not any(rec.exc_info for rec in logs.records)  # one line each, no traceback


async def test_a_stale_error_is_cleared_by_the_first_good_poll(api, emulator, stream):
    iid = await _running_async(emulator)
    sse = await stream(iid)
    event, _ = await next_event(sse)
    assert event == "instance"
    # the next poll (about 1 s later) fails; the one after it (2 s later) sees the same instance
    emulator.set_fault("http_503", "show", count=1)
    kinds = []
    for _ in range(4):
        event, data = await next_event(sse, timeout=15)
        kinds.append(event)
        if event == "upstream-error":
            break
    assert kinds[-1] == "upstream-error", kinds
    event, data = await next_event(sse, timeout=15)
    assert event == "instance" and data["id"] == iid  # unchanged, yet sent: it clears the error
    await sse.close()


def test_cli_open_says_when_polling_works_again(tmp_path, emulator):
    from .support.cli import cli_env, run_cli

    emulator.set_speed(50.0)
    # the first polls fail, later ones succeed
    emulator.set_fault("http_500", "show", count=2)
    env = cli_env(tmp_path, emulator.url, credentials=True)
    result = run_cli(env, "open", "--timeout", "5", timeout=120)
    assert result.returncode == 0, result.stderr
    text = result.stdout + result.stderr
    assert "polling failed" in text and "ModelArts answers again" in text, text
    assert text.index("polling failed") < text.index("ModelArts answers again")


# ============================================================================ 5. serialised opens


async def test_identical_concurrent_opens_make_one_upstream_call(api, emulator):
    emulator.set_speed(SPEED)
    emulator.set_fault("latency", "open", count=1, latency_ms=300)
    emulator.reset_stats()
    outs = await asyncio.gather(*(api("POST", "open", {}) for _ in range(6)))
    assert {code for code, _ in outs} == {200}, outs
    assert len({body["id"] for _, body in outs}) == 1
    assert emulator.stats().get("open", 0) == 1
    assert len(emulator.instances()) == 1


async def test_a_confirmed_switch_cannot_be_undone_by_a_racing_open(api, emulator):
    iid = await _running_async(emulator)
    code, images = await api("GET", "images")
    assert code == 200
    current = emulator.instances()[0]["image"]["id"]
    other = next(image["id"] for image in images["images"] if image["id"] != current)
    emulator.set_fault("latency", "open", count=1, latency_ms=400)
    emulator.reset_stats()
    # tab A confirms the switch to the other image; tab B opens the old image without switch meanwhile
    tab_a = asyncio.ensure_future(api("POST", "open", {"image_id": other, "switch": True}))
    await asyncio.sleep(0.1)
    tab_b = asyncio.ensure_future(api("POST", "open", {"image_id": current}))
    (code_a, body_a), (code_b, body_b) = await asyncio.gather(tab_a, tab_b)
    assert code_a == 200, body_a
    assert code_b == 409, body_b  # B re-checked after A: the instance now runs the other image
    assert body_b["code"] == "codelab.switch_required"
    assert body_b["instance"]["id"] == iid and body_b["instance"]["image"]["id"] == other
    assert emulator.stats().get("open", 0) == 1  # B never reached upstream
    assert emulator.instances()[0]["image"]["id"] == other


async def test_concurrent_stops_are_serialised_and_the_later_one_gets_the_instance(api, emulator):
    iid = await _running_async(emulator)
    emulator.set_speed(1.0)  # STOPPING lasts seconds: the second stop finds it stopping
    emulator.reset_stats()
    outs = await asyncio.gather(api("POST", f"instances/{iid}/stop"), api("POST", f"instances/{iid}/stop"))
    codes = sorted(code for code, _ in outs)
    assert codes == [200, 409], outs
    refused = next(body for code, body in outs if code == 409)
    assert refused["instance"]["id"] == iid and refused["instance"]["status"] in ("STOPPING", "STOPPED")


# ============================================================================ 6. no shorter lease unasked


async def test_patch_lease_never_shortens_unless_asked(api, emulator):
    iid = await _running_async(emulator)
    code, lease = await api("PATCH", f"instances/{iid}/lease", {"duration_ms": 5 * HOUR_MS})
    assert code == 200 and lease["duration"] == 5 * HOUR_MS
    code, body = await api("PATCH", f"instances/{iid}/lease", {"duration_ms": 2 * HOUR_MS})
    assert code == 409, body
    assert body["code"] == "codelab.lease_shorter" and "shorten" in body["message"]
    assert body["lease"]["duration"] == 5 * HOUR_MS  # the current lease, unchanged
    code, now = await api("GET", f"instances/{iid}/lease")
    assert now["duration"] == 5 * HOUR_MS
    code, lease = await api("PATCH", f"instances/{iid}/lease", {"duration_ms": 2 * HOUR_MS, "shorten": True})
    assert code == 200 and lease["duration"] == 2 * HOUR_MS
    # a longer lease needs no confirmation
    code, lease = await api("PATCH", f"instances/{iid}/lease", {"duration_ms": 3 * HOUR_MS})
    assert code == 200 and lease["duration"] == 3 * HOUR_MS
    code, body = await api("PATCH", f"instances/{iid}/lease", {"duration_ms": 3 * HOUR_MS, "shorten": "yes"})
    assert code == 400 and "shorten" in body["message"]

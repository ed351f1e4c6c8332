"""Upstream faults: every emulator fault kind against every client operation, every REST route and the CLI.

Each outcome must be a readable error (a ``CodeLabError`` with a message; a JSON answer with a ``message``
and a fitting 4xx/5xx, never 500 "Internal error") or a success after a retry, within a bounded time.
Idempotent calls are retried within bounds (attempts counted by the emulator), and ``open`` reaches the
emulator EXACTLY once per user action, even when that attempt timed out or was dropped.

Two modes per fault kind: *transient* (the next matching request misbehaves: the retry must succeed where
the call is idempotent) and *persistent* (every request misbehaves: the call must give up in time).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from codelab_ext import NAMESPACE
from codelab_ext.credentials import Credentials
from codelab_ext.emulator import DEFAULT_IMAGE_ID, DEMO_ACCOUNT, DEMO_REGION, Emulator
from codelab_ext.emulator.testing import EmulatorHandle
from codelab_ext.errors import CodeLabError
from codelab_ext.modelarts import ModelArtsClient

from .support.cli import cli_env, run_cli
from .support.processes import LogCapture, record_figures
from .support.server_config import emulator_server_config
from .support.sse import SSEStream

HOUR_MS = 3_600_000
#: emulated seconds per real second: open → RUNNING in a few milliseconds
SPEED = 5000.0

#: every fault the issue names (``html_500``: an HTML page on a status that is not retried)
FAULTS: dict[str, dict[str, Any]] = {
    "latency": {"kind": "latency"},  # latency_ms set per suite: beyond the timeout
    "http_500": {"kind": "http_500"},
    "http_502": {"kind": "http_502"},
    "http_503": {"kind": "http_503"},
    "throttle": {"kind": "throttle", "retry_after": 0.2},
    "drop": {"kind": "drop"},
    "truncated_json": {"kind": "truncated_json"},
    "malformed_json": {"kind": "malformed_json"},
    "html": {"kind": "html"},
    "html_500": {"kind": "html", "status": 500},
    "unknown_status": {"kind": "unknown_status", "status_value": "HIBERNATING"},
    "missing_fields": {"kind": "missing_fields"},
    "not_found": {"kind": "not_found"},
    # one byte every 50 ms: each attempt is cut at the timeout, however steadily bytes arrive
    "dribble": {"kind": "dribble", "interval_ms": 50},
    "dribble_headers": {"kind": "dribble", "interval_ms": 50, "phase": "headers"},
    # an answer that never ends: refused at the size cap, never retried
    "endless": {"kind": "endless"},
    "deep_nesting": {"kind": "deep_nesting", "depth": 900},
    "non_finite": {"kind": "non_finite"},
}
#: faults after which an idempotent call must be retried and succeed (502/503/504, 429, no answer)
RETRIED = frozenset(
    {"latency", "http_502", "http_503", "throttle", "drop", "html", "dribble", "dribble_headers"}
)
#: faults that only reshape a body (an extra field too deep or not finite included): every call must succeed
RESHAPING = frozenset({"unknown_status", "missing_fields", "deep_nesting", "non_finite"})

#: the SSE event that carries a failed poll (docs/architecture.md)
ERROR_EVENT = "upstream-error"

SECRETS = (DEMO_ACCOUNT.secret_key, DEMO_ACCOUNT.iam_password or "")


def _check_message(message: Any, where: str) -> list[str]:
    problems = []
    if not isinstance(message, str) or not message.strip():
        problems.append(f"{where}: no readable message ({message!r})")
        return problems
    lowered = message.lower()
    for bad in ("<html", "traceback", "internal error"):
        if bad in lowered:
            problems.append(f"{where}: message holds {bad!r}: {message[:200]}")
    if any(secret and secret in message for secret in SECRETS):
        problems.append(f"{where}: message holds a secret")
    return problems


# ============================================================================================ client level

CLIENT_TIMEOUT = 0.8
CLIENT_RETRIES = 2
CLIENT_LATENCY_MS = 1600

#: op → (route kind the op's main call hits, state the op needs, the call)
CLIENT_OPS: dict[str, tuple[str, str, Any]] = {
    "check_credentials": ("list", "running", lambda c, iid: c.check_credentials()),
    "discover_project": ("iam_projects", "running", lambda c, iid: c.project_id),
    "open": ("open", "none", lambda c, iid: c.open()),
    "list_instances": ("list", "running", lambda c, iid: c.list_instances()),
    "get_instance": ("show", "running", lambda c, iid: c.get_instance(iid)),
    "start": ("start", "stopped", lambda c, iid: c.start(iid)),
    "stop": ("stop", "running", lambda c, iid: c.stop(iid)),
    "get_lease": ("lease", "running", lambda c, iid: c.get_lease(iid)),
    "renew_lease": ("renew_lease", "running", lambda c, iid: c.renew_lease(iid, 2 * HOUR_MS)),
    # one listing (list_images() without a type lists BUILD_IN, then DEDICATED: two listings)
    "list_images": ("images", "none", lambda c, iid: c.list_images("BUILD_IN")),
    "get_image": ("image", "none", lambda c, iid: c.get_image(DEFAULT_IMAGE_ID)),
    "list_flavors": ("flavors", "running", lambda c, iid: c.list_flavors(iid)),
    "iam_token": ("iam_token", "running", lambda c, iid: c.get_instance(iid)),
}
#: ops whose main call the client may retry
CLIENT_IDEMPOTENT = frozenset(CLIENT_OPS) - {"open", "iam_token"}


def _wait_for(handle: EmulatorHandle, status: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        instances = handle.instances()
        if instances and instances[0]["status"] == status:
            return instances[0]
        time.sleep(0.01)
    raise AssertionError(f"the emulator's instance did not reach {status}: {handle.instances()}")


def prepare(handle: EmulatorHandle, state: str) -> str | None:
    """Bring the emulator's free instance to ``state`` (none / running / stopped) without faults."""
    if state == "none":
        return None
    response = handle.request("POST", f"/v1/{handle.project_id}/notebooks/open", {})
    assert response.status_code == 200, response.text
    iid = response.json()["id"]
    _wait_for(handle, "RUNNING")
    if state == "stopped":
        response = handle.request("POST", f"/v1/{handle.project_id}/notebooks/{iid}/stop")
        assert response.status_code == 200, response.text
        _wait_for(handle, "STOPPED")
    return iid


def _client(handle: EmulatorHandle, op: str) -> ModelArtsClient:
    if op == "iam_token":
        creds = Credentials(
            source="test",
            iam_user=DEMO_ACCOUNT.iam_user,
            iam_password=DEMO_ACCOUNT.iam_password,
            iam_domain=DEMO_ACCOUNT.iam_domain,
        )
    else:
        creds = Credentials(
            source="test", access_key=DEMO_ACCOUNT.access_key, secret_key=DEMO_ACCOUNT.secret_key
        )
    return ModelArtsClient(
        creds,
        region=DEMO_REGION,
        modelarts_endpoint=handle.url,
        iam_endpoint=handle.url,
        project_id=None if op in ("discover_project", "iam_token") else handle.project_id,
        timeout=CLIENT_TIMEOUT,
        max_retries=CLIENT_RETRIES,
        backoff_base=0.01,
        backoff_cap=0.05,
        retry_after_cap=1.0,
    )


def run_client_case(op: str, fault: str, persistent: bool) -> dict[str, Any]:
    """One op against one fault in a fresh emulator: outcome, elapsed time, what reached the emulator."""
    route, state, call = CLIENT_OPS[op]
    emulator = Emulator(speed=SPEED)
    emulator.start_in_thread(port=0)
    handle = EmulatorHandle(emulator)
    try:
        iid = prepare(handle, state)
        spec = dict(FAULTS[fault])
        if spec["kind"] == "latency":
            spec["latency_ms"] = CLIENT_LATENCY_MS
        kind = spec.pop("kind")
        if persistent:
            handle.set_fault(kind, None, count=None, **spec)
        else:
            handle.set_fault(kind, route, count=1, **spec)
        handle.reset_stats()
        client = _client(handle, op)
        started = time.monotonic()
        try:
            value = call(client, iid)
            outcome: dict[str, Any] = {"ok": True, "value": value}
        except CodeLabError as exc:
            outcome = {"ok": False, "error": type(exc).__name__, "status": exc.status, "message": exc.message}
        except Exception as exc:  # a crash: reported, never raised from the worker thread
            outcome = {"ok": False, "crash": f"{type(exc).__name__}: {exc}"}
        outcome["elapsed"] = time.monotonic() - started
        client.close()
        handle.clear_faults()
        outcome["stats"] = handle.stats()
        outcome["route"] = route
        return outcome
    finally:
        handle.close()
        emulator.stop()


def _judge_client(op: str, fault: str, persistent: bool, out: dict[str, Any]) -> list[str]:
    where = f"{op} x {fault} ({'persistent' if persistent else 'transient'})"
    problems: list[str] = []
    stats = out["stats"]
    attempts = int(stats.get(out["route"], 0))
    if "crash" in out:
        return [f"{where}: crashed with {out['crash']}"]
    if not out["ok"]:
        problems += _check_message(out["message"], where)
        if out["status"] == 500:
            problems.append(f"{where}: error status 500 ({out['error']})")
    # bounded time: every attempt is cut at the timeout; the open adds one listing
    bound = 2 * (CLIENT_RETRIES + 1) * (CLIENT_TIMEOUT + 0.25) + 1.0
    if out["elapsed"] > bound:
        problems.append(f"{where}: took {out['elapsed']:.2f} s (bound {bound:.1f} s)")
    # open: exactly once per call, whatever happened
    if op == "open" and int(stats.get("open", 0)) != 1:
        problems.append(f"{where}: open reached the emulator {stats.get('open', 0)} times (must be 1)")
    if attempts > CLIENT_RETRIES + 1:
        problems.append(f"{where}: {attempts} attempts on {out['route']} (at most {CLIENT_RETRIES + 1})")
    if fault in RESHAPING and not out["ok"]:
        problems.append(f"{where}: a reshaped body failed the call: {out.get('message')}")
    if not persistent and fault in RETRIED and op in CLIENT_IDEMPOTENT:
        if not out["ok"]:
            problems.append(f"{where}: not retried to success: {out.get('message')}")
        elif attempts != 2:
            problems.append(f"{where}: {attempts} attempts on {out['route']} (expected 1 failed + 1 retry)")
    if persistent and op in CLIENT_IDEMPOTENT and fault in RETRIED and attempts != CLIENT_RETRIES + 1:
        problems.append(
            f"{where}: {attempts} attempts (expected exactly {CLIENT_RETRIES + 1} before giving up)"
        )
    if persistent and fault in RETRIED | {"http_500", "html_500", "truncated_json", "malformed_json"}:
        if out["ok"] and op not in ("open",):
            problems.append(f"{where}: succeeded although every answer was broken")
    return problems


@pytest.mark.parametrize("persistent", [False, True], ids=["transient", "persistent"])
def test_every_fault_against_every_client_operation(persistent: bool) -> None:
    results: dict[tuple[str, str], dict[str, Any]] = {}
    problems: list[str] = []
    with ThreadPoolExecutor(max_workers=len(CLIENT_OPS)) as pool:
        for fault in FAULTS:
            futures = {op: pool.submit(run_client_case, op, fault, persistent) for op in CLIENT_OPS}
            for op, future in futures.items():
                out = future.result(timeout=60)
                results[(op, fault)] = out
                problems += _judge_client(op, fault, persistent, out)
    mode = "persistent" if persistent else "transient"
    matrix = {
        f"{op} x {fault}": (
            f"ok/{out['stats'].get(out['route'], 0)}"
            if out["ok"]
            else f"{out.get('status', 'crash')}/{out['stats'].get(out['route'], 0)}"
        )
        for (op, fault), out in results.items()
    }
    record_figures(
        f"faults.client.{mode}",
        {
            "cases": len(results),
            "successes": sum(1 for out in results.values() if out["ok"]),
            "readable_errors": sum(1 for out in results.values() if not out["ok"] and "crash" not in out),
            "max_elapsed_s": round(max(out["elapsed"] for out in results.values()), 3),
            "matrix (outcome/attempts on the op's route)": matrix,
        },
    )
    assert not problems, "\n".join(problems)


# ============================================================================================ REST routes

REST_TIMEOUT = 0.6
REST_RETRIES = 1
REST_LATENCY_MS = 1000


@pytest.fixture
def jp_server_config(emulator, tmp_path, monkeypatch):
    return emulator_server_config(
        emulator,
        monkeypatch,
        tmp_path,
        project_id=emulator.project_id,
        request_timeout=REST_TIMEOUT,
        max_retries=REST_RETRIES,
        images_cache_seconds=0.0,
    )


#: (name, method, path template, body, upstream route kind, state needed)
ROUTES: list[tuple[str, str, str, Any, str | None, str]] = [
    ("status", "GET", "status", None, None, "running"),
    (
        "put-credentials",
        "PUT",
        "credentials",
        {
            "access_key": DEMO_ACCOUNT.access_key,
            "secret_key": DEMO_ACCOUNT.secret_key,
            "region": DEMO_REGION,
            "project_id": DEMO_ACCOUNT.projects[DEMO_REGION],
        },
        "list",
        "running",
    ),
    ("images", "GET", "images", None, "images", "none"),
    ("open", "POST", "open", {}, "open", "none"),
    ("instances", "GET", "instances", None, "list", "running"),
    ("instance", "GET", "instances/{id}", None, "show", "running"),
    ("start", "POST", "instances/{id}/start", None, "start", "stopped"),
    ("stop", "POST", "instances/{id}/stop", None, "stop", "running"),
    ("lease", "GET", "instances/{id}/lease", None, "lease", "running"),
    ("extend", "PATCH", "instances/{id}/lease", {"duration_ms": 3 * HOUR_MS}, "renew_lease", "running"),
    ("events", "GET", "instances/{id}/events", None, "show", "running"),
    ("ssh-config", "GET", "instances/{id}/ssh-config", None, "show", "running"),
    ("openapi", "GET", "openapi.json", None, None, "running"),
]


class Rest:
    """Calls the in-process server: JSON routes through ``jp_fetch``, the event stream through SSEStream."""

    def __init__(self, jp_fetch, port: int, base_url: str, auth: dict[str, str]) -> None:
        self.jp_fetch = jp_fetch
        self.port = port
        self.base_url = base_url
        self.auth = auth

    async def call(self, method: str, path: str, body: Any) -> dict[str, Any]:
        started = time.monotonic()
        if path.endswith("/events"):
            stream = await SSEStream(self.port, f"{self.base_url}{NAMESPACE}/{path}", self.auth).open()
            try:
                if stream.status != 200:
                    text = (await stream.next_block(5.0)) if stream.status else ""
                    return {"code": stream.status, "body": text, "elapsed": time.monotonic() - started}
                event, data = await stream.next_event(timeout=15)
            finally:
                await stream.close()
            return {"code": 200, "event": event, "body": data, "elapsed": time.monotonic() - started}
        kwargs: dict[str, Any] = {"method": method, "raise_error": False, "request_timeout": 30}
        if body is not None:
            kwargs["body"] = json.dumps(body)
        elif method in ("POST", "PUT", "PATCH"):
            kwargs["body"] = ""
            kwargs["allow_nonstandard_methods"] = True
        response = await self.jp_fetch(NAMESPACE, *path.split("/"), **kwargs)
        text = response.body.decode()
        ctype = response.headers.get("Content-Type", "")
        data: Any = text
        if ctype.startswith("application/json") and text:
            data = json.loads(text)
        return {
            "code": response.code,
            "ctype": ctype,
            "body": data,
            "headers": dict(response.headers),
            "elapsed": time.monotonic() - started,
        }


def _judge_rest(name: str, fault: str, mode: str, out: dict[str, Any], bound: float) -> list[str]:
    where = f"{name} x {fault} ({mode})"
    problems: list[str] = []
    code, body = out["code"], out["body"]
    if out["elapsed"] > bound:
        problems.append(f"{where}: took {out['elapsed']:.2f} s (bound {bound:.1f} s)")
    if code == 500 or code is None or code >= 600:
        problems.append(f"{where}: answered {code}: {str(body)[:200]}")
    if name == "events":
        if out.get("event") == ERROR_EVENT:
            problems += _check_message(body.get("message"), where)
        elif out.get("event") != "instance":
            problems.append(f"{where}: first event {out.get('event')!r}")
        return problems
    if code >= 400:
        if not isinstance(body, dict):
            problems.append(f"{where}: error {code} without a JSON body: {str(body)[:200]}")
        else:
            problems += _check_message(body.get("message"), where)
    return problems


async def _prepare_rest(handle: EmulatorHandle, state: str) -> str | None:
    return await asyncio.get_running_loop().run_in_executor(None, prepare, handle, state)


async def test_every_fault_once_against_every_route_is_retried_or_readable(
    jp_fetch, jp_http_port, jp_base_url, jp_auth_header, jp_serverapp, emulator
):
    """Transient faults, one route at a time: idempotent routes retry to success, open is sent once."""
    emulator.set_speed(SPEED)
    rest = Rest(jp_fetch, jp_http_port, jp_base_url, jp_auth_header)
    problems: list[str] = []
    matrix: dict[str, str] = {}
    loggers = [jp_serverapp.log, "tornado.application", "tornado.general", "codelab_ext"]
    with LogCapture(loggers) as logs:
        for fault, base_spec in FAULTS.items():
            for name, method, template, body, route, state in ROUTES:
                emulator.reset()
                emulator.set_speed(SPEED)
                iid = await _prepare_rest(emulator, state)
                spec = dict(base_spec)
                if spec["kind"] == "latency":
                    spec["latency_ms"] = REST_LATENCY_MS
                kind = spec.pop("kind")
                if route is not None:
                    emulator.set_fault(kind, route, count=1, **spec)
                emulator.reset_stats()
                out = await rest.call(method, template.format(id=iid), body)
                stats = emulator.stats()
                attempts = int(stats.get(route, 0)) if route else 0
                if name == "images" and out["code"] == 200:
                    # GET images lists BUILD_IN (the listing the fault hit), then DEDICATED once
                    attempts -= 1
                matrix[f"{name} x {fault}"] = f"{out['code']}/{attempts}"
                bound = (REST_RETRIES + 1) * (REST_TIMEOUT + 0.6) + 2.0
                problems += _judge_rest(name, fault, "transient", out, bound)
                where = f"{name} x {fault} (transient)"
                if route is None and stats.get("total", 0):
                    problems.append(f"{where}: {stats['total']} upstream calls for a local route")
                if name == "open" and stats.get("open", 0) != 1:
                    problems.append(f"{where}: open reached the emulator {stats.get('open', 0)} times")
                if route is not None and name != "open" and attempts > REST_RETRIES + 1:
                    problems.append(f"{where}: {attempts} attempts (at most {REST_RETRIES + 1})")
                if route is not None and name != "open" and fault in RETRIED:
                    ok = out["code"] == 200 and out.get("event", "instance") == "instance"
                    if not ok:
                        problems.append(
                            f"{where}: not retried to success: {out['code']} {str(out['body'])[:200]}"
                        )
                    elif attempts != 2:
                        problems.append(f"{where}: {attempts} attempts (expected 1 failed + 1 retry)")
                # an instance body without endpoints has no SSH endpoint: a 404 with a message is right
                reshaped_ok = (200, 404) if name == "ssh-config" and fault == "missing_fields" else (200,)
                if fault in RESHAPING and out["code"] not in reshaped_ok:
                    problems.append(f"{where}: {out['code']} {str(out['body'])[:200]}")
                if fault == "latency":
                    # the emulator runs the delayed request late: let it finish before the next case
                    await asyncio.sleep(max(0.0, REST_LATENCY_MS / 1000 - out["elapsed"]) + 0.05)
    crashes = [line for line, rec in zip(logs.lines, logs.records, strict=True) if rec.exc_info]
    assert not crashes, "\n".join(crashes[:5])
    record_figures("faults.rest.transient", {"cases": len(matrix), "matrix (status/attempts)": matrix})
    assert not problems, "\n".join(problems)


async def test_every_persistent_fault_against_all_routes_at_once_ends_in_time(
    jp_fetch, jp_http_port, jp_base_url, jp_auth_header, jp_serverapp, emulator
):
    """Persistent global faults, every route at the same time: readable answers in bounded time."""
    rest = Rest(jp_fetch, jp_http_port, jp_base_url, jp_auth_header)
    problems: list[str] = []
    matrix: dict[str, str] = {}
    totals: dict[str, int] = {}
    loggers = [jp_serverapp.log, "tornado.application", "tornado.general", "codelab_ext"]
    # latency last: its delayed requests finish while nothing else runs
    order = [fault for fault in FAULTS if fault != "latency"] + ["latency"]
    with LogCapture(loggers) as logs:
        for fault in order:
            emulator.reset()
            emulator.set_speed(SPEED)
            iid = await _prepare_rest(emulator, "running")
            spec = dict(FAULTS[fault])
            if spec["kind"] == "latency":
                spec["latency_ms"] = REST_LATENCY_MS
            kind = spec.pop("kind")
            emulator.set_fault(kind, None, count=None, **spec)
            emulator.reset_stats()
            outs = await asyncio.gather(
                *(
                    rest.call(method, template.format(id=iid), body)
                    for _, method, template, body, _, _ in ROUTES
                )
            )
            stats = emulator.stats()
            emulator.clear_faults()
            totals[fault] = int(stats.get("total", 0))
            # two upstream calls at most per route and attempt (open's fallback listing, start/stop lookups)
            budget = len(ROUTES) * 2 * (REST_RETRIES + 1)
            if totals[fault] > budget:
                problems.append(f"{fault}: {totals[fault]} upstream requests for {len(ROUTES)} routes")
            # never sent twice; and not at all when the listing before it failed (opening.plan_open must
            # know the instance and the default image first: a failed check sends nothing)
            if stats.get("open", 0) > 1:
                problems.append(
                    f"{fault}: open reached the emulator {stats.get('open', 0)} times (at most 1)"
                )
            for (name, *_), out in zip(ROUTES, outs, strict=True):
                matrix[f"{name} x {fault}"] = str(out["code"]) + (
                    f"/{out['event']}" if "event" in out else ""
                )
                bound = 2 * (REST_RETRIES + 1) * (REST_TIMEOUT + 0.6) + 2.0
                problems += _judge_rest(name, fault, "persistent", out, bound)
                if fault in RETRIED | {"http_500", "html_500"} and name not in ("status", "openapi", "open"):
                    if out["code"] == 200 and out.get("event", "instance") == "instance":
                        problems.append(f"{name} x {fault}: 200 although every upstream answer failed")
        await asyncio.sleep(REST_LATENCY_MS / 1000)
    crashes = [line for line, rec in zip(logs.lines, logs.records, strict=True) if rec.exc_info]
    assert not crashes, "\n".join(crashes[:5])
    record_figures(
        "faults.rest.persistent",
        {"cases": len(matrix), "upstream_requests_per_fault": totals, "matrix (status)": matrix},
    )
    assert not problems, "\n".join(problems)


async def test_open_is_sent_once_per_user_action_when_the_first_attempt_times_out(api_rest, emulator):
    """A timed-out open is not re-sent; the next user action finds the instance the late open made."""
    emulator.set_speed(SPEED)
    emulator.set_fault("latency", "open", count=1, latency_ms=REST_LATENCY_MS)
    emulator.reset_stats()
    code, body = await api_rest("POST", "open", {})
    # the open is still under way upstream when the server gives up: a readable 504 or the instance
    assert code in (200, 504), body
    assert body.get("message") if code == 504 else body.get("id")
    assert emulator.stats().get("open", 0) == 1
    await asyncio.sleep(REST_LATENCY_MS / 1000 + 0.1)
    assert len(emulator.instances()) == 1  # the delayed open did happen, once
    code, again = await api_rest("POST", "open", {})
    assert code == 200, again
    assert again["id"] == emulator.instances()[0]["id"]
    assert emulator.stats().get("open", 0) == 2  # two user actions, two opens, one instance
    assert len(emulator.instances()) == 1


@pytest.mark.parametrize("fault", ["drop", "http_503", "truncated_json"])
async def test_open_is_sent_once_when_the_answer_is_lost(api_rest, emulator, fault):
    emulator.set_speed(SPEED)
    emulator.set_fault(fault, "open", count=1)
    emulator.reset_stats()
    code, body = await api_rest("POST", "open", {})
    assert emulator.stats().get("open", 0) == 1
    if fault == "truncated_json":
        # the open happened: the server finds the instance by listing instead of re-sending
        assert code == 200, body
        assert body["id"] == emulator.instances()[0]["id"]
        assert emulator.stats().get("list", 0) >= 1
    else:
        assert code == 502, body
        assert body["message"] and "Internal error" not in body["message"]
        assert emulator.instances() == []


@pytest.fixture
def api_rest(jp_fetch):
    async def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"method": method, "raise_error": False}
        if body is not None:
            kwargs["body"] = json.dumps(body)
        response = await jp_fetch(NAMESPACE, *path.split("/"), **kwargs)
        text = response.body.decode()
        return response.code, (json.loads(text) if text else None)

    return call


# ============================================================================================ CLI


@pytest.mark.parametrize(
    ("fault", "spec"),
    [("drop", {}), ("latency", {"latency_ms": 2500})],
    ids=["dropped", "timed-out"],
)
def test_cli_open_sends_open_once_and_fails_readably(tmp_path, emulator, fault, spec):
    emulator.set_fault(fault, "open", count=1, **spec)
    emulator.reset_stats()
    env = cli_env(tmp_path, emulator.url, credentials=True)
    started = time.monotonic()
    result = run_cli(env, "open", "--timeout", "1", timeout=60)
    elapsed = time.monotonic() - started
    assert emulator.stats().get("open", 0) == 1
    lines = result.stderr.strip().splitlines()
    if fault == "drop":
        assert result.returncode == 2, (result.stdout, result.stderr)
        assert lines[-1].startswith("error: ") and "Traceback" not in result.stderr
        assert emulator.instances() == []
    else:
        # the open ran late upstream: either the CLI found it while listing, or it says it timed out
        assert result.returncode in (0, 2), (result.stdout, result.stderr)
        if result.returncode == 2:
            assert lines[-1].startswith("error: ") and "Traceback" not in result.stderr
    assert elapsed < 30


def test_cli_open_does_not_wait_forever_on_an_unknown_settled_status(tmp_path, emulator):
    """ModelArts answers a status no client knows, and it stays so. ``SUSPENDED`` is settled by the
    library's own rule (``models.is_settled``: an unknown status not ending in ``ING``), so ``open`` must
    report it and end like it does for STOPPED, not watch it for the default 30 minutes."""
    emulator.set_fault("unknown_status", None, count=None, status_value="SUSPENDED")
    env = cli_env(tmp_path, emulator.url, credentials=True)
    started = time.monotonic()
    try:
        result = run_cli(env, "open", timeout=12)
    except subprocess.TimeoutExpired:
        pytest.fail("jupyter codelab open still watching a SUSPENDED (settled) instance after 12 s")
    elapsed = time.monotonic() - started
    assert emulator.stats().get("open", 0) == 1
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: ") and "SUSPENDED" in lines[-1], result.stderr
    assert elapsed < 12

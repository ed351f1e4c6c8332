"""Load: 200 concurrent clients and 50 SSE subscribers on one REAL ``jupyter server`` for a minute.

The emulator and the Jupyter server run as their own processes; this test is the 250 clients (asyncio,
keep-alive HTTP/1.1 over plain sockets, token in the header). After a warm-up, for :data:`DURATION`
seconds and until :data:`RSS_LATER` requests were answered (at most :data:`MAX_DURATION` seconds, so
a slow shared machine measures the same number of requests rather than failing on throughput), 200
clients alternate ``GET codelab/status`` and ``GET codelab/instances/{id}`` while 50 subscribers hold
``GET codelab/instances/{id}/events``; half-way, the lease is extended once, which every subscriber must
see as an ``instance`` event.

Required: zero errors (every answer 200 with a JSON body, no dropped connection, no ``upstream-error``
event, every subscriber connected to the end with its heartbeats), and the server's RSS (``VmRSS`` of the
server process) after 10,000 requests within 5 % of its RSS after the first 1,000. Throughput, latency
percentiles, RSS figures and the upstream polls are printed and recorded for the README.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from codelab_ext.credentials import Credentials, store_credentials
from codelab_ext.emulator import DEMO_ACCOUNT

from .support.processes import EmulatorProcess, ServerProcess, record_figures, rss_kb

pytestmark = pytest.mark.slow

CLIENTS = 200
SUBSCRIBERS = 50
DURATION = 60.0
MAX_DURATION = 300.0
WARMUP_REQUESTS = 2_000
RSS_FIRST = 1_000
RSS_LATER = 10_000
RSS_TOLERANCE = 0.05
HEARTBEAT_SECONDS = 15.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[tuple[EmulatorProcess, ServerProcess]]:
    root = tmp_path_factory.mktemp("load")
    with EmulatorProcess(root / "emulator", speed=1000.0) as emulator:
        creds = root / "store" / "credentials.json"
        store_credentials(
            creds,
            Credentials(
                source="stored", access_key=DEMO_ACCOUNT.access_key, secret_key=DEMO_ACCOUNT.secret_key
            ),
        )
        codelab = {
            "modelarts_endpoint": emulator.url,
            "iam_endpoint": emulator.url,
            "credentials_file": str(creds),
            "region": "cn-north-4",
            "request_timeout": 30.0,
        }
        with ServerProcess(root / "server", codelab=codelab, log_level="WARN") as server:
            yield emulator, server


class Connection:
    """One keep-alive HTTP/1.1 connection to the server (what a browser tab's fetches reuse)."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Authorization: token {self.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        payload = await self.reader.readexactly(length) if length else b""
        return status, payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass


class Load:
    """Counters shared by the clients, the subscribers and the RSS monitor."""

    def __init__(self) -> None:
        self.measuring = False
        self.done = False
        self.requests = 0
        self.warmup = 0
        self.latencies: dict[str, list[float]] = {"status": [], "instance": []}
        self.errors: list[str] = []
        self.statuses: Counter[int] = Counter()
        self.rss: dict[str, int] = {}
        self.sse_instance_events: list[int] = [0] * SUBSCRIBERS
        self.sse_heartbeats: list[int] = [0] * SUBSCRIBERS
        self.sse_connected: list[bool] = [False] * SUBSCRIBERS
        self.sse_after_extend: list[int] = [0] * SUBSCRIBERS
        self.extended_at: float | None = None


async def client(n: int, load: Load, server: ServerProcess, instance_id: str) -> None:
    conn = Connection(server.port, server.token)
    paths = [("status", "/codelab/status"), ("instance", f"/codelab/instances/{instance_id}")]
    turn = n % 2
    try:
        while not load.done:
            kind, path = paths[turn]
            turn ^= 1
            started = time.monotonic()
            try:
                status, payload = await conn.request("GET", path)
            except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
                load.errors.append(f"client {n}: {type(exc).__name__}: {exc}")
                await conn.close()
                conn = Connection(server.port, server.token)
                continue
            elapsed = time.monotonic() - started
            if status != 200:
                load.errors.append(f"client {n}: {kind} -> {status} {payload[:200]!r}")
            else:
                body = json.loads(payload)
                if kind == "instance" and body.get("id") != instance_id:
                    load.errors.append(f"client {n}: wrong instance {payload[:200]!r}")
            if load.measuring:
                load.requests += 1
                load.statuses[status] += 1
                load.latencies[kind].append(elapsed)
            else:
                load.warmup += 1
    finally:
        await conn.close()


async def subscriber(n: int, load: Load, server: ServerProcess, instance_id: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    path = f"/codelab/instances/{instance_id}/events"
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: token {server.token}\r\n"
            "Accept: text/event-stream\r\n\r\n"
        ).encode()
    )
    try:
        status_line = await reader.readline()
        if int(status_line.split()[1]) != 200:
            load.errors.append(f"subscriber {n}: {status_line!r}")
            return
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        load.sse_connected[n] = True
        buffer = b""
        while not load.done:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), timeout=0.5)
            except asyncio.TimeoutError:
                continue
            if not chunk:
                load.errors.append(f"subscriber {n}: the stream ended")
                load.sse_connected[n] = False
                return
            buffer += chunk
            # chunked transfer: the SSE text sits between size lines; events are what we count
            text = buffer.decode("utf-8", "replace")
            load.sse_heartbeats[n] += text.count(": heartbeat")
            load.sse_instance_events[n] += text.count("event: instance")
            if load.extended_at is not None:
                load.sse_after_extend[n] += text.count("event: instance")
            if "event: upstream-error" in text:
                load.errors.append(f"subscriber {n}: upstream-error event")
            buffer = b""
    except (ConnectionError, OSError) as exc:
        load.errors.append(f"subscriber {n}: {type(exc).__name__}: {exc}")
        load.sse_connected[n] = False
    finally:
        writer.close()


async def monitor(load: Load, pid: int) -> None:
    while not load.done:
        if load.measuring:
            if "after_first_1000" not in load.rss and load.requests >= RSS_FIRST:
                load.rss["after_first_1000"] = rss_kb(pid)
            if "after_10000" not in load.rss and load.requests >= RSS_LATER:
                load.rss["after_10000"] = rss_kb(pid)
        await asyncio.sleep(0.02)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def run_load(server: ServerProcess, instance_id: str) -> tuple[Load, float]:
    load = Load()
    subs = [asyncio.ensure_future(subscriber(n, load, server, instance_id)) for n in range(SUBSCRIBERS)]
    clients = [asyncio.ensure_future(client(n, load, server, instance_id)) for n in range(CLIENTS)]
    watch = asyncio.ensure_future(monitor(load, server.pid))
    # warm-up: connections opened, caches and pools filled, subscribers attached
    while load.warmup < WARMUP_REQUESTS or not all(load.sse_connected):
        await asyncio.sleep(0.05)
    load.rss["after_warmup"] = server.rss_kb()
    load.measuring = True
    started = time.monotonic()
    extend = Connection(server.port, server.token)
    extended = False
    while True:
        running = time.monotonic() - started
        if running >= MAX_DURATION or (running >= DURATION and "after_10000" in load.rss):
            break
        await asyncio.sleep(0.1)
        if not extended and time.monotonic() - started >= DURATION / 2:
            load.extended_at = time.monotonic()
            status, payload = await extend.request(
                "PATCH",
                f"/codelab/instances/{instance_id}/lease",
                json.dumps({"duration_ms": 5 * 3_600_000}).encode(),
            )
            if status != 200:
                load.errors.append(f"extend -> {status} {payload[:200]!r}")
            extended = True
    elapsed = time.monotonic() - started
    load.rss["at_end"] = server.rss_kb()
    load.done = True
    await extend.close()
    await asyncio.gather(*clients, *subs, watch)
    return load, elapsed


def test_200_clients_and_50_subscribers_for_a_minute(stack):
    emulator, server = stack
    opened = server.api("POST", "open", body={})
    assert opened.status_code == 200, opened.text
    instance_id = opened.json()["id"]
    deadline = time.monotonic() + 30
    while server.api("GET", f"instances/{instance_id}").json()["status"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    emulator.admin.reset_stats()

    load, elapsed = asyncio.run(run_load(server, instance_id))
    upstream = emulator.admin.stats()

    everything = load.latencies["status"] + load.latencies["instance"]
    figures: dict[str, Any] = {
        "clients": CLIENTS,
        "sse_subscribers": SUBSCRIBERS,
        "duration_s": round(elapsed, 1),
        "requests": load.requests,
        "requests_per_s": round(load.requests / elapsed, 1),
        "latency_ms": {
            kind: {
                "p50": round(percentile(values, 0.50) * 1000, 1),
                "p95": round(percentile(values, 0.95) * 1000, 1),
                "p99": round(percentile(values, 0.99) * 1000, 1),
                "max": round(max(values) * 1000, 1) if values else None,
            }
            for kind, values in {**load.latencies, "all": everything}.items()
        },
        "errors": len(load.errors),
        "status_histogram": {str(k): v for k, v in load.statuses.items()},
        "rss_kb": load.rss,
        "rss_growth_1k_to_10k_pct": (
            round(100.0 * (load.rss["after_10000"] / load.rss["after_first_1000"] - 1), 2)
            if "after_10000" in load.rss
            else None
        ),
        "sse": {
            "connected_at_end": sum(load.sse_connected),
            "instance_events_min": min(load.sse_instance_events),
            "events_after_extend_min": min(load.sse_after_extend),
            "heartbeats_min": min(load.sse_heartbeats),
        },
        "upstream_requests": {key: upstream.get(key, 0) for key in ("show", "renew_lease", "total")},
    }
    record_figures("load", figures)
    assert not load.errors, load.errors[:10]
    assert set(load.statuses) == {200}
    assert load.requests >= RSS_LATER, f"only {load.requests} requests in {elapsed:.0f} s (the cap)"
    assert all(load.sse_connected), "a subscriber lost its stream"
    assert min(load.sse_instance_events) >= 2, "a subscriber missed the initial instance or the extension"
    assert min(load.sse_after_extend) >= 1, "a subscriber did not see the extended lease"
    assert min(load.sse_heartbeats) >= int(DURATION // HEARTBEAT_SECONDS) - 1
    first, later = load.rss["after_first_1000"], load.rss["after_10000"]
    assert later <= first * (1 + RSS_TOLERANCE), f"RSS grew from {first} KiB to {later} KiB"

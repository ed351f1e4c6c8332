"""The adaptive poll policy and the one-poller-many-subscribers hub."""

from __future__ import annotations

import asyncio

from codelab_ext.errors import UpstreamUnavailable
from codelab_ext.watcher import WatcherHub, fingerprint, is_changing, next_poll_delay


def _inst(status="RUNNING", steps=("COMPLETED",) * 4, **extra):
    return {
        "id": "i-1",
        "status": status,
        "action_progress": [{"step": n + 1, "status": s, "description": ""} for n, s in enumerate(steps)],
        **extra,
    }


def test_changing_states_poll_fast():
    assert is_changing(_inst("CREATING", ("COMPLETED", "PROCESSING", "WAITING", "WAITING")))
    assert next_poll_delay(_inst("STARTING"), 5) == 1.0
    assert not is_changing(_inst("RUNNING"))
    assert not is_changing(_inst("STOPPED", ("WAITING",) * 4))
    assert not is_changing(None)


def test_steady_states_back_off_to_thirty_seconds():
    delays = [next_poll_delay(_inst("STOPPED"), n) for n in range(8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_running_instance_wakes_just_after_lease_expiry():
    now = 1_000_000_000
    inst = _inst(lease={"expires_at": now + 5_000})
    assert next_poll_delay(inst, 10, now_ms=now) == 5.5
    inst = _inst(lease={"expires_at": now + 600_000})
    assert next_poll_delay(inst, 10, now_ms=now) == 30.0
    inst = _inst(lease={"expires_at": now - 1})
    assert next_poll_delay(inst, 10, now_ms=now) == 1.0


def test_fingerprint_ignores_the_ticking_remaining_time():
    a = _inst(lease={"expires_at": 5, "remaining_ms": 100})
    b = _inst(lease={"expires_at": 5, "remaining_ms": 99})
    c = _inst(lease={"expires_at": 6, "remaining_ms": 99})
    assert fingerprint(a) == fingerprint(b) != fingerprint(c)


async def test_one_poll_fans_out_to_every_subscriber_and_stops_when_nobody_listens():
    calls = []
    states = iter(["CREATING", "STARTING", "RUNNING"] + ["RUNNING"] * 100)

    async def fetch(instance_id):
        calls.append(instance_id)
        status = next(states)
        steps = ("COMPLETED",) * 4 if status == "RUNNING" else ("PROCESSING",) + ("WAITING",) * 3
        return _inst(status, steps)

    hub = WatcherHub(fetch)
    subs = [hub.subscribe("i-1") for _ in range(3)]
    watcher = hub.watchers["i-1"]
    seen: list[list[str]] = [[] for _ in subs]
    for n, sub in enumerate(subs):
        while len(seen[n]) < 3:
            event = await sub.get(timeout=5)
            assert event is not None and event[0] == "instance"
            seen[n].append(event[1]["status"])
    assert seen == [["CREATING", "STARTING", "RUNNING"]] * 3
    # one upstream poll per state, whatever the number of subscribers
    assert len(calls) == 3
    # a late subscriber gets the newest state at once, with no extra poll
    late = hub.subscribe("i-1")
    assert (await late.get(timeout=1))[1]["status"] == "RUNNING"
    assert len(calls) == 3
    for sub in [*subs, late]:
        sub.close()
    assert "i-1" not in hub.watchers
    await asyncio.sleep(0)
    assert watcher._task is None


async def test_errors_reach_subscribers_and_polling_recovers():
    answers = [UpstreamUnavailable("ModelArts did not answer"), _inst("RUNNING")]

    async def fetch(instance_id):
        answer = answers.pop(0) if answers else _inst("RUNNING")
        if isinstance(answer, Exception):
            raise answer
        return answer

    hub = WatcherHub(fetch)
    sub = hub.subscribe("i-1")
    kind, body = await sub.get(timeout=5)
    assert kind == "error" and body["message"] == "ModelArts did not answer" and body["status"] == 502
    kind, body = await sub.get(timeout=5)
    assert kind == "instance" and body["status"] == "RUNNING"
    sub.close()


async def test_a_late_subscriber_gets_the_error_that_still_stands():
    """Two viewers of a failing instance: the second joins after the error and still sees it at once."""
    calls = []

    async def fetch(instance_id):
        calls.append(instance_id)
        raise UpstreamUnavailable("ModelArts did not answer")

    hub = WatcherHub(fetch)
    first = hub.subscribe("i-1")
    kind, body = await first.get(timeout=5)
    assert kind == "error" and len(calls) == 1
    late = hub.subscribe("i-1")
    kind, late_body = await late.get(timeout=0.5)
    assert kind == "error" and late_body == body
    assert len(calls) == 1  # no extra poll for it
    first.close()
    late.close()


async def test_poke_polls_at_once():
    calls = []

    async def fetch(instance_id):
        calls.append(asyncio.get_running_loop().time())
        return _inst("STOPPED")

    hub = WatcherHub(fetch)
    sub = hub.subscribe("i-1")
    await sub.get(timeout=5)
    await asyncio.sleep(0.05)
    assert len(calls) == 1  # steady: the next poll is a second away
    hub.poke("i-1")
    for _ in range(50):
        if len(calls) == 2:
            break
        await asyncio.sleep(0.01)
    assert len(calls) == 2
    sub.close()

"""Helpers for tests and scripts that drive a running emulator over HTTP.

:class:`EmulatorHandle` wraps the admin routes (faults, stats, clock, scripted failures, leases) and
can send AK/SK-signed requests as the emulator's account. :func:`sign` builds the signature headers
from the project's pure signing pieces so that tests can tamper with a request after signing it.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import requests

from ..signing import canonical_query_string, canonical_request, compute_signature, string_to_sign
from .accounts import DEMO_REGION, Account
from .server import Emulator

__all__ = ["EmulatorHandle", "RunningInstance", "running_emulator", "sdk_date", "sign"]


def sdk_date(moment: datetime | float | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ`` for ``moment`` (datetime or epoch seconds; default now)."""
    if moment is None:
        moment = datetime.now(timezone.utc)
    elif not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(float(moment), timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def sign(
    method: str,
    url: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    access_key: str,
    secret_key: str,
    security_token: str | None = None,
    project_id: str | None = None,
    date: str | None = None,
) -> tuple[str, dict[str, str]]:
    """(URL with the canonical query, headers to send) for an ``SDK-HMAC-SHA256`` request.

    Signs ``Host``, ``X-Sdk-Date``, the optional ``X-Security-Token``/``X-Project-Id`` and every header
    in ``headers`` (headers whose name has ``_`` are sent but not signed, as the algorithm says).
    """
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    out: dict[str, str] = dict(headers or {})
    out["Host"] = parts.netloc
    out["X-Sdk-Date"] = date or sdk_date()
    if security_token:
        out["X-Security-Token"] = security_token
    if project_id:
        out["X-Project-Id"] = project_id
    text, signed = canonical_request(method, parts.path, pairs, out, body)
    signature = compute_signature(secret_key, string_to_sign(text, out["X-Sdk-Date"]))
    out["Authorization"] = (
        f"SDK-HMAC-SHA256 Access={access_key}, SignedHeaders={signed}, Signature={signature}"
    )
    query = canonical_query_string(pairs)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, "")), out


@dataclass
class RunningInstance:
    """A RUNNING emulated instance served by a real Jupyter server (``Emulator(instance_servers=True)``).

    ``url`` is the instance ``url`` (ends with ``/lab``), ``base_url`` the same without ``lab`` (the
    Jupyter REST API lives under it), ``token`` the instance token, ``work_dir`` the real folder that
    stands for ``/home/ma-user/work`` and ``home_dir`` the one for ``/home/ma-user``.
    """

    id: str
    url: str
    base_url: str
    token: str
    work_dir: Path
    home_dir: Path
    body: dict[str, Any] = field(repr=False)
    session: requests.Session = field(repr=False, default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.trust_env = False
        # no login cookie kept: every call is authenticated (or not) by what it sends
        self.session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))

    def api(self, method: str, path: str, *, token: bool = True, **kwargs: Any) -> requests.Response:
        """``method {base_url}{path}`` (e.g. ``api/contents``) with the instance token (or without)."""
        headers = dict(kwargs.pop("headers", None) or {})
        if token:
            headers["Authorization"] = f"token {self.token}"
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.base_url + path.lstrip("/"), headers=headers, **kwargs)


class EmulatorHandle:
    """A running :class:`Emulator` plus its admin routes, for tests (``tests/conftest.py``)."""

    def __init__(self, emulator: Emulator, region: str = DEMO_REGION) -> None:
        if emulator.url is None:
            raise ValueError("start the emulator first")
        self.emulator = emulator
        self.url: str = emulator.url
        self.account: Account = emulator.account
        self.region = region
        self.project_id: str = self.account.projects[region]
        self.session = requests.Session()
        self.session.trust_env = False  # never send 127.0.0.1 traffic through an environment proxy

    # -- admin routes ----------------------------------------------------------------------------

    def admin(self, method: str, route: str, body: Any = None) -> Any:
        """Call ``/_emulator/<route>`` and answer its JSON (raises on an HTTP error)."""
        data = None if body is None else json.dumps(body)
        response = self.session.request(
            method,
            f"{self.url}/_emulator/{route}",
            data=data,
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        if response.status_code >= 400:
            raise RuntimeError(f"admin {method} {route}: HTTP {response.status_code} {response.text}")
        return response.json()

    def set_fault(
        self, kind: str, route: str | None = None, *, count: int | None = 1, **options: Any
    ) -> dict[str, Any]:
        """Add a fault (see :mod:`codelab_ext.emulator.faults`); ``count=None`` keeps it until cleared."""
        spec = {"kind": kind, "route": route, "count": count, **options}
        return self.admin("POST", "faults", spec)

    def faults(self) -> list[dict[str, Any]]:
        return self.admin("GET", "faults")["faults"]

    def clear_faults(self) -> int:
        return self.admin("DELETE", "faults")["cleared"]

    def stats(self) -> dict[str, Any]:
        """``{<route kind>: n, ..., "total": n, "by_method": {"GET show": n, ...}, "methods": {...}}``."""
        return self.admin("GET", "stats")

    def reset_stats(self) -> dict[str, Any]:
        return self.admin("DELETE", "stats")

    def reset(self) -> None:
        self.admin("POST", "reset")

    def state(self) -> dict[str, Any]:
        return self.admin("GET", "state")

    def instances(self) -> list[dict[str, Any]]:
        return self.state()["instances"]

    def set_speed(self, speed: float) -> float:
        return self.admin("POST", "speed", {"speed": speed})["speed"]

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move the emulated clock forward (steps and stops progress; leases are wall-clock)."""
        return self.admin("POST", "clock", {"advance": seconds})

    def set_lease_remaining(self, instance_id: str, remaining_ms: int) -> dict[str, Any]:
        return self.admin("POST", f"instances/{instance_id}/lease", {"remaining_ms": remaining_ms})

    def expire_lease(self, instance_id: str) -> dict[str, Any]:
        """Expire the lease now: a RUNNING instance is STOPPED (answers the instance)."""
        return self.set_lease_remaining(instance_id, 0)

    def fail_step(
        self,
        step: int,
        fail_reason: str | None = None,
        *,
        instance_id: str | None = None,
        project_id: str | None = None,
    ) -> dict[str, Any]:
        """Make step N fail in the operation under way (if not past N) or in the next one."""
        spec: dict[str, Any] = {"step": step, "instance_id": instance_id, "project_id": project_id}
        if fail_reason is not None:
            spec["fail_reason"] = fail_reason
        return self.admin("POST", "fail_step", spec)

    def expire_tokens(self, token: str | None = None) -> int:
        return self.admin("POST", "tokens/expire", {"token": token})["expired"]

    def set_ssh_endpoint(self, instance_id: str, host: str, port: int) -> dict[str, Any]:
        """Point this instance's SSH endpoint at ``host:port`` (answers the instance)."""
        return self.admin("POST", f"instances/{instance_id}/ssh", {"host": host, "port": port})

    def refuse_direct(self, instance_id: str, refusal: str | None = "closed") -> dict[str, Any]:
        """Refuse the instance's direct route: ``closed`` port, ``forbidden`` (403 front) or None (undo)."""
        return self.admin("POST", f"instances/{instance_id}/direct", {"refuse": refusal})

    def workspace(self, instance_id: str) -> dict[str, Any]:
        """``{home_dir, work_dir, log_path, server: {pid, port, state, failure} | None}`` of an instance."""
        for item in self.instances():
            if item["id"] == instance_id:
                return item["workspace"]
        raise KeyError(instance_id)

    # -- instances -------------------------------------------------------------------------------

    def open_instance(self, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``POST /v1/{project_id}/notebooks/open`` as the handle's account (raises on an HTTP error)."""
        response = self.request("POST", f"/v1/{self.project_id}/notebooks/open", dict(body or {}))
        if response.status_code != 200:
            raise RuntimeError(f"open: HTTP {response.status_code} {response.text}")
        return response.json()

    def show(self, instance_id: str) -> dict[str, Any]:
        response = self.request("GET", f"/v1/{self.project_id}/notebooks/{instance_id}")
        if response.status_code != 200:
            raise RuntimeError(f"show: HTTP {response.status_code} {response.text}")
        return response.json()

    def wait_status(
        self, instance_id: str, statuses: Iterable[str] | str = "RUNNING", timeout: float = 120.0
    ) -> dict[str, Any]:
        """Poll ``show`` until the status is one of ``statuses`` (a failed status raises)."""
        wanted = {statuses} if isinstance(statuses, str) else set(statuses)
        end = time.monotonic() + timeout
        while True:
            body = self.show(instance_id)
            if body["status"] in wanted:
                return body
            if body["status"].endswith("FAILED"):
                raise RuntimeError(f"instance {instance_id} is {body['status']}: {body.get('fail_reason')}")
            if time.monotonic() > end:
                raise TimeoutError(f"instance {instance_id} still {body['status']} after {timeout:g} s")
            time.sleep(0.05)

    def running(self, instance_id: str, timeout: float = 120.0) -> RunningInstance:
        """Wait until the instance is RUNNING and answer it as a :class:`RunningInstance`."""
        body = self.wait_status(instance_id, "RUNNING", timeout)
        space = self.workspace(instance_id)
        url = body["url"]
        return RunningInstance(
            id=instance_id,
            url=url,
            base_url=url[: -len("lab")],
            token=body["token"],
            work_dir=Path(space["work_dir"]),
            home_dir=Path(space["home_dir"]),
            body=body,
        )

    def running_instance(
        self, body: Mapping[str, Any] | None = None, timeout: float = 120.0
    ) -> RunningInstance:
        """Open (create or start) the project's instance and wait until it RUNS behind its Jupyter server."""
        return self.running(self.open_instance(body)["id"], timeout)

    # -- signed calls ----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Iterable[tuple[str, str]] | Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10,
    ) -> requests.Response:
        """Send an AK/SK-signed request as the handle's account (``path`` like ``/v1/{pid}/images``)."""
        pairs = list(query.items()) if isinstance(query, Mapping) else list(query or [])
        url = self.url + path
        if pairs:
            url += "?" + canonical_query_string(pairs)
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        signed_url, signed_headers = sign(
            method,
            url,
            data,
            {"Content-Type": "application/json", **dict(headers or {})},
            access_key=self.account.access_key,
            secret_key=self.account.secret_key,
            security_token=self.account.security_token,
        )
        return self.session.request(method, signed_url, data=data, headers=signed_headers, timeout=timeout)

    def close(self) -> None:
        self.session.close()


@contextlib.contextmanager
def running_emulator(speed: float = 1.0, **options: Any) -> Iterator[EmulatorHandle]:
    """An :class:`Emulator` serving on a free loopback port in a thread, as an :class:`EmulatorHandle`.

    ``options`` go to :class:`Emulator` (``accounts``, ``ssh_host``, ``ssh_port``, ...). The emulator
    and the handle's HTTP session are closed on the way out: the one fixture of the tests and benchmarks.
    """
    instance = Emulator(speed=speed, **options)
    instance.start_in_thread(port=0)
    handle = EmulatorHandle(instance)
    try:
        yield handle
    finally:
        handle.close()
        instance.stop()

"""Fault injection: make the next N matching requests (or all, until cleared) misbehave.

A fault matches by route kind (``"open"``, ``"show"``, ...; see :data:`ROUTE_KINDS`), by a regular
expression searched in the request path, by method, or globally (no selector). Kinds:

=================  =========================================================================
``latency``        answer normally after ``latency_ms`` (combines with any other fault)
``error``          HTTP ``status`` (500, 502 or 503; default 500) with a JSON error body
``http_500`` ...   shorthands for ``error`` with that status (``http_500``/``http_502``/``http_503``)
``throttle``       HTTP 429, ``Retry-After: <retry_after>``, ``APIGW.0308``
``drop``           close the connection without answering
``truncated_json`` the real answer (the action happens), its JSON body cut in half
``malformed_json`` the real answer, its JSON body made unparsable
``html``           an HTML gateway error page (``status``, default 502)
``not_found``      HTTP 400 ``ModelArts.6309`` (the instance does not exist)
``unknown_status`` instance bodies with a ``status`` value no client knows (``status_value``)
                   and an unknown extra field
``missing_fields`` instance bodies without most optional fields (``fields`` to choose)
``dribble``        the real answer, sent ``chunk_bytes`` (default 1) every ``interval_ms``
                   (default 100): its body (``phase: "body"``, default) or everything from the
                   status line on (``phase: "headers"``)
``endless``        HTTP 200 and a chunked body that never ends (until the client hangs up or
                   ``max_mb`` MiB, default 4096, were sent); the operation does not happen
``deep_nesting``   the real answer with an extra field nested ``depth`` (default 900) levels deep
``non_finite``     the real answer with an extra field holding ``1e400``, ``NaN`` and ``-Infinity``
=================  =========================================================================

Each request consumes every matching ``latency`` fault plus at most one other fault (the oldest
matching one). ``unknown_status``/``missing_fields`` only match routes that answer instances.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FAULT_KINDS",
    "INSTANCE_ROUTE_KINDS",
    "ROUTE_KINDS",
    "Fault",
    "FaultBook",
    "FaultChoice",
]

#: every route kind the emulator counts and faults can target
ROUTE_KINDS = (
    "iam_token",
    "iam_projects",
    "open",
    "list",
    "show",
    "start",
    "stop",
    "lease",
    "renew_lease",
    "flavors",
    "images",
    "image",
    "instance_page",
    "unknown",
)
#: routes whose answer is an instance (or a page of instances)
INSTANCE_ROUTE_KINDS = frozenset({"open", "list", "show", "start", "stop"})

FAULT_KINDS = (
    "latency",
    "error",
    "throttle",
    "drop",
    "truncated_json",
    "malformed_json",
    "html",
    "not_found",
    "unknown_status",
    "missing_fields",
    "dribble",
    "endless",
    "deep_nesting",
    "non_finite",
)
_ALIASES = {"http_500": ("error", 500), "http_502": ("error", 502), "http_503": ("error", 503)}
_INSTANCE_ONLY = frozenset({"unknown_status", "missing_fields"})

#: fields an instance body loses under ``missing_fields`` unless the fault names its own
DEFAULT_MISSING_FIELDS = (
    "action_progress",
    "lease",
    "endpoints",
    "url",
    "token",
    "flavor",
    "description",
    "create_at",
    "update_at",
    "volume",
    "workspace_id",
    "feature",
    "image.arch",
    "image.resource_categories",
    "image.dev_services",
    "image.tag",
    "image.swr_path",
)


@dataclass
class Fault:
    """One configured fault (see the module docstring for the kinds and their options)."""

    id: int
    kind: str
    route: str | None = None
    path: str | None = None
    method: str | None = None
    remaining: int | None = 1
    latency_ms: int = 0
    status: int | None = None
    retry_after: float = 1.0
    status_value: str = "HIBERNATING"
    fields: tuple[str, ...] = DEFAULT_MISSING_FIELDS
    error_code: str | None = None
    error_msg: str | None = None
    interval_ms: int = 100
    chunk_bytes: int = 1
    phase: str = "body"
    max_mb: int = 4096
    depth: int = 900
    hits: int = 0
    _path_re: re.Pattern[str] | None = field(default=None, repr=False)

    @classmethod
    def from_spec(cls, fault_id: int, spec: dict[str, Any]) -> Fault:
        """Build a fault from the admin JSON; ``ValueError`` with a readable message when invalid."""
        if not isinstance(spec, dict):
            raise ValueError("a fault is a JSON object")
        kind = str(spec.get("kind", "")).strip()
        status = spec.get("status")
        if kind in _ALIASES:
            kind, status = _ALIASES[kind]
        if kind not in FAULT_KINDS:
            raise ValueError(
                f"unknown fault kind {kind!r}; one of {', '.join(FAULT_KINDS + tuple(_ALIASES))}"
            )
        route = spec.get("route")
        if route is not None and route not in ROUTE_KINDS:
            raise ValueError(f"unknown route kind {route!r}; one of {', '.join(ROUTE_KINDS)}")
        path = spec.get("path")
        path_re = None
        if path is not None:
            try:
                path_re = re.compile(str(path))
            except re.error as exc:
                raise ValueError(f"bad path pattern: {exc}") from None
        count = spec.get("count", 1)
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            raise ValueError("count is a positive integer, or null for 'until cleared'")
        if status is not None:
            if not isinstance(status, int) or not 400 <= status <= 599:
                raise ValueError("status is an HTTP error status (400..599)")
        elif kind == "error":
            status = 500
        elif kind == "html":
            status = 502
        method = spec.get("method")
        fields = spec.get("fields")
        phase = str(spec.get("phase", "body"))
        if phase not in ("body", "headers"):
            raise ValueError("phase is 'body' or 'headers'")
        numbers: dict[str, int] = {}
        for name, default, low in (
            ("interval_ms", 100, 0),
            ("chunk_bytes", 1, 1),
            ("max_mb", 4096, 1),
            ("depth", 900, 1),
        ):
            value = spec.get(name, default)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} is an integer of at least {low}")
            numbers[name] = value
        return cls(
            id=fault_id,
            kind=kind,
            route=route,
            path=None if path is None else str(path),
            method=None if method is None else str(method).upper(),
            remaining=count,
            latency_ms=max(0, int(spec.get("latency_ms", 0) or 0)),
            status=status,
            retry_after=max(0.0, float(spec.get("retry_after", 1.0))),
            status_value=str(spec.get("status_value", "HIBERNATING")),
            fields=tuple(str(f) for f in fields) if fields else DEFAULT_MISSING_FIELDS,
            error_code=spec.get("error_code"),
            error_msg=spec.get("error_msg"),
            phase=phase,
            _path_re=path_re,
            **numbers,
        )

    def matches(self, route: str, method: str, path: str) -> bool:
        if self.route is not None and self.route != route:
            return False
        if self.method is not None and self.method != method:
            return False
        if self._path_re is not None and not self._path_re.search(path):
            return False
        return not (self.kind in _INSTANCE_ONLY and route not in INSTANCE_ROUTE_KINDS)

    def to_json(self) -> dict[str, Any]:
        body = {
            "id": self.id,
            "kind": self.kind,
            "route": self.route,
            "path": self.path,
            "method": self.method,
            "remaining": self.remaining,
            "hits": self.hits,
        }
        if self.kind == "latency":
            body["latency_ms"] = self.latency_ms
        if self.status is not None:
            body["status"] = self.status
        if self.kind == "throttle":
            body["retry_after"] = self.retry_after
        if self.kind == "unknown_status":
            body["status_value"] = self.status_value
        if self.kind == "missing_fields":
            body["fields"] = list(self.fields)
        if self.kind == "dribble":
            body.update(interval_ms=self.interval_ms, chunk_bytes=self.chunk_bytes, phase=self.phase)
        if self.kind == "endless":
            body["max_mb"] = self.max_mb
        if self.kind == "deep_nesting":
            body["depth"] = self.depth
        return body


@dataclass
class FaultChoice:
    """What the faults decided for one request."""

    latency_ms: int = 0
    fault: Fault | None = None
    fault_ids: list[int] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.fault_ids)


class FaultBook:
    """The configured faults, consumed request by request (thread safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._next_id = 1
        self.injected = 0

    def add(self, spec: dict[str, Any]) -> Fault:
        with self._lock:
            fault = Fault.from_spec(self._next_id, spec)
            self._next_id += 1
            self._faults.append(fault)
            return fault

    def remove(self, fault_id: int) -> bool:
        with self._lock:
            before = len(self._faults)
            self._faults = [f for f in self._faults if f.id != fault_id]
            return len(self._faults) != before

    def clear(self) -> int:
        with self._lock:
            count = len(self._faults)
            self._faults.clear()
            return count

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_json() for f in self._faults]

    def choose(self, route: str, method: str, path: str) -> FaultChoice:
        """Consume the faults that apply to this request and say what to do."""
        choice = FaultChoice()
        with self._lock:
            for fault in list(self._faults):
                if not fault.matches(route, method, path):
                    continue
                if fault.kind == "latency":
                    choice.latency_ms += fault.latency_ms
                elif choice.fault is None:
                    choice.fault = fault
                else:
                    continue
                fault.hits += 1
                choice.fault_ids.append(fault.id)
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
            if choice.any:
                self.injected += 1
        return choice

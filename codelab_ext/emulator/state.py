"""The emulated ModelArts + IAM: instances, their state machine, images, tokens, scripted failures.

No tornado here: every operation takes plain values (project id, parsed body, query dict) and
returns JSON-able dicts or raises :class:`~codelab_ext.emulator.errors.ApiError`.

State machine of the free CodeLab instance (durations in emulated seconds, see :mod:`.clock`)::

    open (no instance)  CREATING [queue 1 s, steps 1-2] -> STARTING [steps 3-4] -> RUNNING
    start / open        STARTING [queue 1 s, steps 1-4] -> RUNNING
    stop                STOPPING [3 s] -> STOPPED
    switch image        STOPPING [3 s] -> STARTING [queue, steps 1-4] -> RUNNING
    lease expiry        RUNNING -> STOPPED (wall clock: lease.create_at + lease.duration)

Each of the four ``action_progress`` steps goes WAITING -> PROCESSING -> COMPLETED in turn. A scripted
failure of step N turns that step FAILED half way through it, the later steps stay WAITING and the
status becomes CREATE_FAILED (during a creation) or START_FAILED (during a start), with
``fail_reason``. Nothing runs in the background: the state is computed from elapsed emulated time
whenever an instance is looked at, so it is deterministic for a given clock reading.
"""

from __future__ import annotations

import base64
import binascii
import copy
import math
import random
import re
import secrets
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .accounts import Account, AccountBook
from .catalogue import (
    BILLED_FLAVORS,
    DEFAULT_IMAGE_ID,
    FREE_FLAVORS,
    IMAGES,
    find_image,
    flavor_for_image,
    image_summary,
)
from .clock import Clock
from .errors import ApiError, bad_parameter, instance_not_found
from .faults import FaultBook
from .fronts import REFUSALS, RefusingFronts

__all__ = [
    "CREATE_STEP_SECONDS",
    "DEFAULT_LEASE_MS",
    "MAX_LEASE_MS",
    "MIN_LEASE_MS",
    "QUEUE_SECONDS",
    "START_STEP_SECONDS",
    "STEP_DESCRIPTIONS",
    "STOP_SECONDS",
    "EmulatorState",
    "Instance",
    "Phase",
    "TokenInfo",
    "evaluate_phase",
]

STEP_DESCRIPTIONS = (
    "Prepare the storage.",
    "Prepare the compute resource.",
    "Configuring the network.",
    "Initialize the notebook instance.",
)
#: emulated seconds with every step still WAITING at the beginning of a creation or a start
QUEUE_SECONDS = 1.0
#: emulated seconds of steps 1..4 when an instance is created (with the queue: 20 s at speed 1)
CREATE_STEP_SECONDS = (3.0, 6.0, 4.0, 6.0)
#: emulated seconds of steps 1..4 when a stopped instance starts again (or switches image)
START_STEP_SECONDS = (2.0, 5.0, 3.0, 5.0)
#: emulated seconds an instance stays STOPPING
STOP_SECONDS = 3.0

#: ListNotebooks page sizes the SDK documents (ListNotebooksRequest.limit: [10,20,50])
NOTEBOOK_PAGE_SIZES = (10, 20, 50)
DEFAULT_LEASE_MS = 3_600_000
MIN_LEASE_MS = 3_600_000
MAX_LEASE_MS = 259_200_000
LEASE_TYPES = ("TIMING", "IDLE")
DEFAULT_TOKEN_TTL = 24 * 3600.0

_FAILED = frozenset({"CREATE_FAILED", "START_FAILED"})
_UP = frozenset({"CREATING", "STARTING", "RUNNING"})


@dataclass
class Phase:
    """An operation in progress on an instance, measured from ``started`` (emulated seconds)."""

    kind: str  # "create" | "start" | "stop" | "restart" (stop, then start)
    started: float
    stop_seconds: float = 0.0
    step_seconds: tuple[float, ...] = ()
    fail_step: int | None = None
    fail_reason: str = ""
    lease_duration: int | None = None
    lease_type: str | None = None
    #: step 4's real work (a Jupyter server starting, downloads), see :mod:`.workspace`
    init: Any = field(default=None, repr=False, compare=False)
    #: what ``fail_reason`` says once RUNNING (a failed shared notebook download)
    running_notice: str = ""

    @property
    def has_steps(self) -> bool:
        return bool(self.step_seconds)

    def step_starts(self) -> list[float]:
        """Emulated offsets (from ``started``) at which each step begins PROCESSING."""
        offsets = []
        at = self.stop_seconds + QUEUE_SECONDS
        for duration in self.step_seconds:
            offsets.append(at)
            at += duration
        return offsets


@dataclass
class PhaseReading:
    """Where a phase is after some elapsed emulated time."""

    status: str
    steps: list[str] | None = None  # None: leave the previous progress as it is
    finished: bool = False
    failed_step: int | None = None
    ended_at: float | None = None  # elapsed emulated seconds at which it finished or failed


def evaluate_phase(phase: Phase, elapsed: float) -> PhaseReading:
    """Pure: the status and step states of ``phase`` after ``elapsed`` emulated seconds."""
    if elapsed < phase.stop_seconds:
        return PhaseReading("STOPPING")
    if not phase.has_steps:
        return PhaseReading("STOPPED", finished=True, ended_at=phase.stop_seconds)
    count = len(phase.step_seconds)
    starting = "CREATING" if phase.kind == "create" else "STARTING"
    if elapsed < phase.stop_seconds + QUEUE_SECONDS:
        return PhaseReading(starting, ["WAITING"] * count)
    for index, (begin, duration) in enumerate(zip(phase.step_starts(), phase.step_seconds, strict=True)):
        if phase.fail_step == index + 1 and elapsed >= begin + duration / 2:
            steps = ["COMPLETED"] * index + ["FAILED"] + ["WAITING"] * (count - index - 1)
            status = "CREATE_FAILED" if phase.kind == "create" else "START_FAILED"
            return PhaseReading(status, steps, failed_step=index + 1, ended_at=begin + duration / 2)
        if elapsed < begin + duration:
            steps = ["COMPLETED"] * index + ["PROCESSING"] + ["WAITING"] * (count - index - 1)
            status = "CREATING" if phase.kind == "create" and index < 2 else "STARTING"
            return PhaseReading(status, steps)
    end = phase.stop_seconds + QUEUE_SECONDS + sum(phase.step_seconds)
    return PhaseReading("RUNNING", ["COMPLETED"] * count, finished=True, ended_at=end)


@dataclass
class Instance:
    """One free CodeLab instance (``feature`` DEFAULT) of a project."""

    id: str
    project_id: str
    name: str
    image: dict[str, Any]
    flavor: str
    status: str
    create_at: int
    update_at: int
    token: str
    ssh_port: int
    key_pair_name: str
    lease: dict[str, Any]
    progress: list[str] = field(default_factory=lambda: ["WAITING"] * 4)
    description: str = ""
    fail_reason: str = ""
    share_url: str | None = None
    phase: Phase | None = None
    #: the real folder and Jupyter server behind the instance (:class:`.workspace.InstanceHost`) or None
    host: Any = field(default=None, repr=False, compare=False)
    #: a ``share_url`` given to ``open`` that is still to be downloaded into the work folder
    share_pending: bool = False
    #: where its SSH endpoint points when set for this instance (admin route), else the emulator's
    ssh_host: str | None = None
    #: the origin of a front refusing the direct route (:mod:`.fronts`), published as its url; else None
    direct_front: str | None = None

    def set_status(self, status: str, at_ms: int) -> None:
        if status != self.status:
            self.status = status
            self.update_at = max(self.update_at, at_ms)

    def refresh(self, clock: Clock) -> None:
        """Bring status, progress and lease up to date with the clock (lazy state machine)."""
        if self.phase is not None:
            phase = self.phase
            reading = evaluate_phase(phase, clock.emulated() - phase.started)
            if self.host is not None:
                reading = self.host.gate(self, phase, reading)
            if reading.steps is not None:
                self.progress = list(reading.steps)
            if reading.failed_step is not None or reading.finished:
                assert reading.ended_at is not None
                at_ms = clock.wall_ms_at(phase.started + reading.ended_at)
                self.set_status(reading.status, at_ms)
                self.phase = None
                if reading.failed_step is not None:
                    self.fail_reason = phase.fail_reason
                elif reading.status == "RUNNING":
                    self.fail_reason = phase.running_notice
                    self.lease["create_at"] = at_ms
                    self.lease["update_at"] = at_ms
                    if phase.lease_duration is not None:
                        self.lease["duration"] = phase.lease_duration
                    if phase.lease_type is not None:
                        self.lease["type"] = phase.lease_type
            else:
                self.set_status(reading.status, clock.now_ms())
        if self.status == "RUNNING" and self.lease.get("enable"):
            expires = int(self.lease["create_at"]) + int(self.lease["duration"])
            if clock.now_ms() >= expires:
                self.set_status("STOPPED", expires)
        if self.host is not None:
            self.host.sync(self)

    def begin(self, phase: Phase, clock: Clock) -> None:
        """Start an operation now; the status follows at once."""
        self.phase = phase
        self.fail_reason = ""
        if phase.has_steps and phase.stop_seconds == 0:
            self.progress = ["WAITING"] * len(phase.step_seconds)
        self.refresh(clock)

    def current_step(self, clock: Clock) -> int | None:
        """The step (1..4) the running phase is at or will reach next; None without steps."""
        if self.phase is None or not self.phase.has_steps:
            return None
        elapsed = clock.emulated() - self.phase.started
        for index, (begin, duration) in enumerate(
            zip(self.phase.step_starts(), self.phase.step_seconds, strict=True)
        ):
            if elapsed < begin + duration:
                return index + 1
        return None

    def to_json(self, base_url: str, ssh_host: str) -> dict[str, Any]:
        """The instance object as ModelArts answers it (open, show, list items, start, stop)."""
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "status": self.status,
            "feature": "DEFAULT",
            "flavor": self.flavor,
            "image": image_summary(self.image),
            "action_progress": [
                {"step": index + 1, "status": status, "description": STEP_DESCRIPTIONS[index]}
                for index, status in enumerate(self.progress)
            ],
            "lease": dict(self.lease),
            "token": self.token,
            "workspace_id": "0",
            "create_at": self.create_at,
            "update_at": self.update_at,
            "volume": {
                "capacity": 5,
                "category": "EVS",
                "mount_path": "/home/ma-user/work/",
                "ownership": "MANAGED",
                "status": "USING",
            },
        }
        if self.fail_reason:
            body["fail_reason"] = self.fail_reason
        if self.share_url is not None:
            body["share_url"] = self.share_url
        if self.status == "RUNNING":
            served = self.host.notebook_url(self.id) if self.host is not None else None
            url = served or f"{base_url}/codelab-instance/{self.id}/lab"
            if self.direct_front is not None:
                url = f"{self.direct_front}/{self.id}/lab"
            body["url"] = url
            endpoints: list[dict[str, Any]] = [{"service": "NOTEBOOK", "uri": url}]
            if "SSH" in (self.image.get("dev_services") or []):
                endpoints.append(
                    {
                        "service": "SSH",
                        "uri": f"ssh://ma-user@{self.ssh_host or ssh_host}:{self.ssh_port}",
                        "key_pair_names": [self.key_pair_name],
                        "allowed_access_ips": [],
                    }
                )
            body["endpoints"] = endpoints
        return body


@dataclass
class TokenInfo:
    """An IAM token the emulator issued."""

    account: Account
    project_id: str | None
    project_name: str | None
    issued_at: float
    expires_at: float


@dataclass
class ScriptedFailure:
    step: int
    fail_reason: str
    project_id: str | None = None
    instance_id: str | None = None


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _int_param(query: dict[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_parameter(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise bad_parameter(f"{name} must be between {low} and {high}, got {value}")
    return value


def _choice_param(query: dict[str, str], name: str, default: int, allowed: tuple[int, ...]) -> int:
    """An integer query parameter that must be one of ``allowed`` (the strictest documented reading)."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) not in allowed:
        listed = ", ".join(str(value) for value in allowed)
        raise bad_parameter(f"{name} must be one of {listed}, got {raw!r}")
    return int(raw)


def _page(items: list[dict[str, Any]], limit: int, offset: int) -> dict[str, Any]:
    """``{current, data, pages, size, total}`` with ``offset`` counted in records."""
    total = len(items)
    return {
        "current": offset // limit,
        "data": items[offset : offset + limit],
        "pages": math.ceil(total / limit) if total else 0,
        "size": limit,
        "total": total,
    }


def _lease_duration(value: Any, *, code: str = "ModelArts.6349") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ApiError(400, code, f"The lease duration must be an integer of milliseconds, got {value!r}.")
    try:
        duration = int(value)
    except ValueError:
        raise ApiError(
            400, code, f"The lease duration must be an integer of milliseconds, got {value!r}."
        ) from None
    if not MIN_LEASE_MS <= duration <= MAX_LEASE_MS:
        raise ApiError(
            400,
            code,
            f"The lease duration {duration} ms is out of range: it must be between {MIN_LEASE_MS} "
            f"(1 hour) and {MAX_LEASE_MS} (72 hours) from now.",
        )
    return duration


def _lease_type(value: Any) -> str:
    text = str(value).upper()
    if text not in LEASE_TYPES:
        raise bad_parameter(f"type must be one of {', '.join(LEASE_TYPES)}, got {value!r}")
    return text


def decode_share_url(value: Any) -> str:
    """The URL inside a ``share_url`` (standard, padded Base64 of an http(s) URL) or ApiError 400."""
    if not isinstance(value, str) or not value:
        raise bad_parameter("share_url must be a non-empty Base64 string")
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
        url = raw.decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise bad_parameter("share_url is not valid Base64 of a UTF-8 URL") from None
    if base64.b64encode(raw).decode("ascii") != value:  # stray or missing padding, non-canonical bits
        raise bad_parameter("share_url is not canonical, padded standard Base64")
    if not url.startswith(("http://", "https://")) or any(ch.isspace() for ch in url):
        raise bad_parameter("share_url does not decode to an http(s) URL")
    return url


class EmulatorState:
    """Everything the emulator remembers, behind one lock."""

    def __init__(
        self,
        clock: Clock,
        accounts: AccountBook,
        *,
        ssh_host: str = "127.0.0.1",
        ssh_port: int | None = None,
        token_ttl: float = DEFAULT_TOKEN_TTL,
        seed: int | None = None,
        host: Any = None,
    ) -> None:
        self.clock = clock
        #: the real work folders and Jupyter servers (:class:`.workspace.InstanceHost`), or None
        self.host = host
        if host is not None:
            host.tick = self.tick
        self.accounts = accounts
        self.ssh_host = ssh_host
        self.ssh_port = ssh_port
        self.token_ttl = float(token_ttl)
        self.faults = FaultBook()
        #: faults given at construction; :meth:`reset` installs them again
        self.initial_faults: list[dict[str, Any]] = []
        self.lock = threading.RLock()
        self._rng = random.Random(seed)
        self.instances: dict[str, Instance] = {}
        self.tokens: dict[str, TokenInfo] = {}
        self.pending_failures: list[ScriptedFailure] = []
        self.requests: Counter[str] = Counter()
        self.requests_by_method: Counter[str] = Counter()
        self.unauthorized = 0
        #: fronts refusing direct routes (admin route ``instances/{id}/direct``)
        self.fronts = RefusingFronts()

    # -- bookkeeping -----------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget instances, tokens, faults (back to the constructor's), scripted failures and counters."""
        with self.lock:
            if self.host is not None:
                for instance_id in list(self.instances):
                    self.host.forget(instance_id)
            self.instances.clear()
            self.tokens.clear()
            self.pending_failures.clear()
            self.faults.clear()
            self.faults.injected = 0
            for spec in self.initial_faults:
                self.faults.add(spec)
            self.reset_stats()

    def tick(self) -> None:
        """Refresh every instance (the ticker of :mod:`.workspace`: servers follow their instance)."""
        with self.lock:
            for instance in self.instances.values():
                instance.refresh(self.clock)

    def reset_stats(self) -> None:
        with self.lock:
            self.requests.clear()
            self.requests_by_method.clear()
            self.unauthorized = 0

    def count(self, kind: str, method: str) -> None:
        with self.lock:
            self.requests[kind] += 1
            self.requests_by_method[f"{method} {kind}"] += 1

    def stats(self) -> dict[str, Any]:
        """``{<route kind>: n, ..., "total": n, "by_method": {"GET show": n}, "methods": {...}, ...}``."""
        with self.lock:
            body: dict[str, Any] = dict(self.requests)
            methods: Counter[str] = Counter()
            for key, value in self.requests_by_method.items():
                methods[key.split(" ", 1)[0]] += value
            body["total"] = sum(self.requests.values())
            body["by_method"] = dict(self.requests_by_method)
            body["methods"] = dict(methods)
            body["faults_injected"] = self.faults.injected
            body["unauthorized"] = self.unauthorized
            return body

    def snapshot(self, base_url: str) -> dict[str, Any]:
        """The admin view of everything (secrets left out)."""
        with self.lock:
            instances = []
            for instance in self.instances.values():
                instance.refresh(self.clock)
                body = instance.to_json(base_url, self.ssh_host)
                body["project_id"] = instance.project_id
                body["phase"] = None if instance.phase is None else instance.phase.kind
                if self.host is not None:
                    body["workspace"] = self.host.describe(instance.id)
                instances.append(body)
            now = self.clock.now()
            return {
                "speed": self.clock.speed,
                "emulated_seconds": self.clock.emulated(),
                "now_ms": self.clock.now_ms(),
                "ssh": {"host": self.ssh_host, "port": self.ssh_port},
                "accounts": [account.public_view() for account in self.accounts.accounts],
                "instances": instances,
                "tokens": {
                    "active": sum(1 for t in self.tokens.values() if t.expires_at > now),
                    "expired": sum(1 for t in self.tokens.values() if t.expires_at <= now),
                },
                "pending_failures": [vars(f).copy() for f in self.pending_failures],
                "faults": self.faults.list(),
            }

    # -- IAM -------------------------------------------------------------------------------------

    def issue_token(self, body: Any) -> tuple[str, dict[str, Any]]:
        """``POST /v3/auth/tokens`` (password method): (token, response body)."""

        def bad(message: str) -> ApiError:
            return ApiError(400, "IAM.0001", message, style="iam")

        try:
            auth = body["auth"]
            identity = auth["identity"]
            methods = identity["methods"]
        except (KeyError, TypeError):
            raise bad("The request body must be {'auth': {'identity': {'methods': [...], ...}}}.") from None
        if not isinstance(methods, list) or "password" not in methods:
            raise bad("Only the password method is supported by this emulator.")
        try:
            user = identity["password"]["user"]
            name = user["name"]
            password = user["password"]
        except (KeyError, TypeError):
            raise bad("identity.password.user needs name and password.") from None
        domain = user.get("domain") if isinstance(user, dict) else None
        domain_name = domain.get("name") if isinstance(domain, dict) else None
        with self.lock:
            account = self.accounts.by_iam_user(str(name), None if domain_name is None else str(domain_name))
            if account is None or not secrets.compare_digest(
                str(password).encode(), (account.iam_password or "").encode()
            ):
                raise ApiError(401, "IAM.0007", "The username or password is wrong.", style="iam")
            scope = auth.get("scope") if isinstance(auth, dict) else None
            project_id = project_name = None
            if isinstance(scope, dict) and isinstance(scope.get("project"), dict):
                project = scope["project"]
                if project.get("id"):
                    project_id = str(project["id"])
                    project_name = account.region_of(project_id)
                    if project_name is None:
                        raise bad(f"The project {project_id} does not exist in this account.")
                elif project.get("name"):
                    project_name = str(project["name"])
                    project_id = account.projects.get(project_name)
                    if project_id is None:
                        raise bad(f"The project {project_name} does not exist in this account.")
                else:
                    raise bad("scope.project needs a name or an id.")
            now = self.clock.now()
            token = "MII" + secrets.token_urlsafe(240)
            info = TokenInfo(account, project_id, project_name, now, now + self.token_ttl)
            self.tokens[token] = info
        domain_view = {"id": account.domain_id, "name": account.iam_domain}
        token_body: dict[str, Any] = {
            "expires_at": _iso(info.expires_at),
            "issued_at": _iso(info.issued_at),
            "methods": ["password"],
            "user": {"id": account.user_id, "name": account.iam_user, "domain": domain_view},
            "roles": [{"id": "0", "name": "op_gated_modelarts"}, {"id": "1", "name": "te_admin"}],
            "catalog": [],
        }
        if project_id is not None:
            token_body["project"] = {"id": project_id, "name": project_name, "domain": domain_view}
        else:
            token_body["domain"] = domain_view
        return token, {"token": token_body}

    def lookup_token(self, token: str) -> TokenInfo | None:
        with self.lock:
            return self.tokens.get(token)

    def expire_tokens(self, token: str | None = None) -> int:
        """Make every issued token (or just ``token``) expired; answer how many changed."""
        with self.lock:
            now = self.clock.now()
            count = 0
            for value, info in self.tokens.items():
                if (token is None or value == token) and info.expires_at > now:
                    info.expires_at = now - 1
                    count += 1
            return count

    def projects(self, account: Account, name: str | None, base_url: str) -> dict[str, Any]:
        """``GET /v3/projects[?name=REGION]``."""
        items = [
            {
                "id": pid,
                "name": region,
                "domain_id": account.domain_id,
                "parent_id": account.domain_id,
                "enabled": True,
                "is_domain": False,
                "description": "",
                "links": {"self": f"{base_url}/v3/projects/{pid}"},
            }
            for region, pid in account.projects.items()
            if name is None or region == name
        ]
        return {
            "links": {"self": f"{base_url}/v3/projects", "previous": None, "next": None},
            "projects": items,
        }

    # -- instances -------------------------------------------------------------------------------

    def _instance_of(self, project_id: str) -> Instance | None:
        for instance in self.instances.values():
            if instance.project_id == project_id:
                return instance
        return None

    def _get(self, project_id: str, instance_id: str) -> Instance:
        instance = self.instances.get(instance_id)
        if instance is None or instance.project_id != project_id:
            raise instance_not_found(instance_id)
        instance.refresh(self.clock)
        return instance

    def _attach_failure(self, instance: Instance, phase: Phase) -> None:
        for failure in list(self.pending_failures):
            if failure.instance_id not in (None, instance.id):
                continue
            if failure.project_id not in (None, instance.project_id):
                continue
            self.pending_failures.remove(failure)
            phase.fail_step = failure.step
            phase.fail_reason = failure.fail_reason
            return

    def _phase(self, instance: Instance, kind: str, **kwargs: Any) -> Phase:
        if kind == "stop":
            phase = Phase("stop", self.clock.emulated(), stop_seconds=STOP_SECONDS, **kwargs)
        else:
            steps = CREATE_STEP_SECONDS if kind == "create" else START_STEP_SECONDS
            stop = STOP_SECONDS if kind == "restart" else 0.0
            phase = Phase(kind, self.clock.emulated(), stop_seconds=stop, step_seconds=steps, **kwargs)
            self._attach_failure(instance, phase)
        return phase

    def _ssh_port(self) -> int:
        return self.ssh_port if self.ssh_port is not None else self._rng.randint(30000, 32999)

    def _image_or_error(self, image_id: Any) -> dict[str, Any]:
        if not isinstance(image_id, str) or not image_id:
            raise bad_parameter("image_id must be a non-empty string")
        image = find_image(image_id)
        if image is None:
            raise ApiError(400, "ModelArts.6404", f"The image {image_id} does not exist.")
        return image

    def open(self, account: Account, project_id: str, body: Any, base_url: str) -> dict[str, Any]:
        """``POST /v1/{project_id}/notebooks/open``: create, start, switch or just return the instance."""
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise bad_parameter("the request body must be a JSON object")
        image_id = body.get("image_id")
        # strict reading of the official page: a blank image_id opens the multi-kernel CPU image, so it
        # switches an instance that runs another one (docs/modelarts-api.md, "Opening without an image")
        image = self._image_or_error(image_id) if image_id not in (None, "") else find_image(DEFAULT_IMAGE_ID)
        assert image is not None
        share = decode_share_url(body["share_url"]) if body.get("share_url") not in (None, "") else None
        with self.lock:
            instance = self._instance_of(project_id)
            now_ms = self.clock.now_ms()
            if instance is None:
                instance = Instance(
                    id=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
                    project_id=project_id,
                    name=f"notebook-codelab-{self._rng.getrandbits(16):04x}",
                    image=image,
                    flavor=flavor_for_image(image)["id"],
                    status="CREATING",
                    create_at=now_ms,
                    update_at=now_ms,
                    token=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
                    ssh_port=self._ssh_port(),
                    key_pair_name=account.key_pair_name,
                    lease={
                        "create_at": now_ms,
                        "duration": DEFAULT_LEASE_MS,
                        "enable": True,
                        "type": "TIMING",
                        "update_at": now_ms,
                    },
                )
                self.instances[instance.id] = instance
                if self.host is not None:
                    instance.host = self.host
                    self.host.prepare(instance.id)
                instance.begin(self._phase(instance, "create"), self.clock)
            else:
                instance.refresh(self.clock)
                switching = image["id"] != instance.image["id"]
                if switching:
                    instance.image = image
                    instance.flavor = flavor_for_image(image)["id"]
                    instance.update_at = max(instance.update_at, now_ms)
                status = instance.status
                if status in ("STOPPED",) or status in _FAILED:
                    kind = "create" if status == "CREATE_FAILED" else "start"
                    instance.begin(self._phase(instance, kind), self.clock)
                elif status == "STOPPING" or (switching and status in _UP):
                    instance.begin(self._phase(instance, "restart"), self.clock)
            if share is not None:
                instance.share_url = share
                instance.description = f"Opened {share}"
                instance.update_at = max(instance.update_at, now_ms)
                if self.host is not None:
                    if instance.status == "RUNNING" and instance.phase is None:
                        self.host.download_now(instance.id, share)
                    else:  # fetched during step 4 of the phase under way (or of the next start)
                        instance.share_pending = True
            return instance.to_json(base_url, self.ssh_host)

    def list_instances(self, project_id: str, query: dict[str, str], base_url: str) -> dict[str, Any]:
        """``GET /v1/{project_id}/notebooks`` (``feature`` defaults to NOTEBOOK: the free one is DEFAULT)."""
        # ListNotebooksRequest (huaweicloudsdkmodelarts): limit in [10, 20, 50], default 10
        limit = _choice_param(query, "limit", 10, NOTEBOOK_PAGE_SIZES)
        offset = _int_param(query, "offset", 0, low=0, high=10**9)
        feature = (query.get("feature") or "NOTEBOOK").upper()
        status = (query.get("status") or "").upper()
        name = query.get("name") or ""
        sort_dir = (query.get("sort_dir") or "DESC").upper()
        if sort_dir not in ("ASC", "DESC"):
            raise bad_parameter(f"sort_dir must be ASC or DESC, got {query.get('sort_dir')!r}")
        sort_key = query.get("sort_key") or "create_at"
        if sort_key not in ("create_at", "update_at", "name", "status"):
            raise ApiError(400, "ModelArts.6303", f"The field {sort_key} does not support sorting.")
        with self.lock:
            items = []
            for instance in self.instances.values():
                if instance.project_id != project_id:
                    continue
                instance.refresh(self.clock)
                if feature != "DEFAULT":
                    continue
                if status and instance.status != status:
                    continue
                if name and name not in instance.name:
                    continue
                items.append(instance.to_json(base_url, self.ssh_host))
        items.sort(key=lambda item: item.get(sort_key) or "", reverse=sort_dir == "DESC")
        return _page(items, limit, offset)

    def show(self, project_id: str, instance_id: str, base_url: str) -> dict[str, Any]:
        with self.lock:
            return self._get(project_id, instance_id).to_json(base_url, self.ssh_host)

    def start(
        self, project_id: str, instance_id: str, query: dict[str, str], base_url: str
    ) -> dict[str, Any]:
        """``POST .../start?duration=&type=``."""
        duration = _lease_duration(query["duration"]) if query.get("duration") else None
        lease_type = _lease_type(query["type"]) if query.get("type") else None
        with self.lock:
            instance = self._get(project_id, instance_id)
            if instance.status == "RUNNING":
                raise ApiError(400, "ModelArts.6305", "The instance is already running.")
            if instance.status in ("CREATING", "STARTING"):
                raise ApiError(400, "ModelArts.6306", "The instance is starting.")
            if instance.status == "STOPPING":
                raise ApiError(400, "ModelArts.6308", "The instance is stopping. Try again once it stopped.")
            kind = "create" if instance.status == "CREATE_FAILED" else "start"
            phase = self._phase(instance, kind, lease_duration=duration, lease_type=lease_type)
            instance.begin(phase, self.clock)
            return instance.to_json(base_url, self.ssh_host)

    def stop(self, project_id: str, instance_id: str, base_url: str) -> dict[str, Any]:
        with self.lock:
            instance = self._get(project_id, instance_id)
            if instance.status == "STOPPED" or instance.status in _FAILED:
                raise ApiError(400, "ModelArts.6307", "The instance is already stopped.")
            if instance.status == "STOPPING":
                raise ApiError(400, "ModelArts.6308", "The instance is stopping.")
            instance.begin(self._phase(instance, "stop"), self.clock)
            return instance.to_json(base_url, self.ssh_host)

    @staticmethod
    def _require_running(instance: Instance, what: str) -> None:
        # ShowLease and RenewLease need a running instance (huaweicloudsdkmodelarts: "查询运行中的
        # Notebook可用时长", "Notebook实例必须处于运行状态"): refused in every other status
        if instance.status != "RUNNING":
            raise ApiError(
                400,
                "ModelArts.6346",
                f"The lease of an instance in status {instance.status} cannot be {what}: "
                "the instance must be RUNNING.",
            )

    def get_lease(self, project_id: str, instance_id: str) -> dict[str, Any]:
        """``GET .../lease`` (ShowLease): only for a RUNNING instance."""
        with self.lock:
            instance = self._get(project_id, instance_id)
            self._require_running(instance, "read")
            return dict(instance.lease)

    def renew_lease(
        self, project_id: str, instance_id: str, query: dict[str, str], body: Any
    ) -> dict[str, Any]:
        """``PATCH .../lease`` (RenewLease): the lease restarts now for ``duration`` ms.

        The duration comes from the query (``?duration=``, what RenewLeaseRequest.duration sends; then
        the body is ignored and the type is TIMING) or from the body ``{duration, type}`` (LeaseReq).
        """
        if query.get("duration") not in (None, ""):
            duration = _lease_duration(query["duration"])
            lease_type: str | None = "TIMING"
        else:
            if not isinstance(body, dict) or "duration" not in body:
                raise bad_parameter("give ?duration=<ms> or the body {'duration': <ms>, 'type': 'TIMING'}")
            duration = _lease_duration(body["duration"])
            lease_type = _lease_type(body["type"]) if body.get("type") is not None else None
        with self.lock:
            instance = self._get(project_id, instance_id)
            self._require_running(instance, "renewed")
            now_ms = self.clock.now_ms()
            instance.lease.update({"create_at": now_ms, "update_at": now_ms, "duration": duration})
            if lease_type is not None:
                instance.lease["type"] = lease_type
            if instance.phase is not None and instance.phase.has_steps:
                instance.phase.lease_duration = duration
            instance.update_at = max(instance.update_at, now_ms)
            return dict(instance.lease)

    def list_flavors(self, query: dict[str, str]) -> dict[str, Any]:
        """``GET /v1/{project_id}/notebooks/flavors`` (ListFlavors): the flavors of a feature, paged.

        ListFlavorsRequest: ``category`` CPU/GPU/ASCEND, ``type`` MANAGED/DEDICATED, ``feature``
        (default NOTEBOOK; DEFAULT lists the free CodeLab flavors), ``limit`` (no limit by default),
        ``offset``, ``sort_dir``, ``sort_key``.
        """
        category = query.get("category") or ""
        if category and category not in ("CPU", "GPU", "ASCEND"):
            raise bad_parameter(f"category must be CPU, GPU or ASCEND, got {category!r}")
        pool_type = query.get("type") or ""
        if pool_type and pool_type not in ("MANAGED", "DEDICATED"):
            raise bad_parameter(f"type must be MANAGED or DEDICATED, got {pool_type!r}")
        feature = query.get("feature") or "NOTEBOOK"
        if feature not in ("NOTEBOOK", "DEFAULT"):
            raise bad_parameter(f"feature must be NOTEBOOK or DEFAULT, got {feature!r}")
        sort_dir = query.get("sort_dir") or "DESC"
        if sort_dir not in ("ASC", "DESC"):
            raise bad_parameter(f"sort_dir must be ASC or DESC, got {sort_dir!r}")
        offset = _int_param(query, "offset", 0, low=0, high=10**9)
        catalogue = FREE_FLAVORS.values() if feature == "DEFAULT" else BILLED_FLAVORS.values()
        items = [
            copy.deepcopy(flavor)
            for flavor in catalogue
            if (not category or flavor["category"] == category) and (pool_type != "DEDICATED")
        ]
        limit = _int_param(query, "limit", max(1, len(items)), low=1, high=1000)
        return _page(items, limit, offset)

    def flavors(self, project_id: str, instance_id: str) -> dict[str, Any]:
        """``GET .../flavors``: the free flavors the instance's image can run on."""
        with self.lock:
            instance = self._get(project_id, instance_id)
            image = instance.image
            arch = str(image.get("arch", "")).lower()
            categories = {str(c).upper() for c in image.get("resource_categories") or []}
            flavors = [
                copy.deepcopy(flavor)
                for flavor in FREE_FLAVORS.values()
                if flavor["arch"] == arch and flavor["category"] in categories
            ]
            return {"flavors": flavors}

    # -- images ----------------------------------------------------------------------------------

    def list_images(self, query: dict[str, str]) -> dict[str, Any]:
        """``GET /v1/{project_id}/images`` with ``type``, ``name``, ``name_fuzzy_match``, paging, sorting."""
        # ListImageRequest (huaweicloudsdkmodelarts): limit a positive integer (default 200), offset
        # non-negative; type BUILD_IN (the default) or DEDICATED; name up to 512 of [a-z0-9._-],
        # matched fuzzily unless name_fuzzy_match=false
        limit = _int_param(query, "limit", 200, low=1, high=1000)
        offset = _int_param(query, "offset", 0, low=0, high=10**9)
        image_type = query.get("type") or "BUILD_IN"
        if image_type not in ("BUILD_IN", "DEDICATED"):
            raise bad_parameter(f"type must be BUILD_IN or DEDICATED, got {query.get('type')!r}")
        name = query.get("name") or ""
        if len(name) > 512 or not re.fullmatch(r"[a-z0-9._-]*", name):
            raise bad_parameter("name must be at most 512 lower-case letters, digits, '.', '_' or '-'")
        fuzzy_text = (query.get("name_fuzzy_match") or "true").lower()
        if fuzzy_text not in ("true", "false"):
            raise bad_parameter(f"name_fuzzy_match must be true or false, got {fuzzy_text!r}")
        fuzzy = fuzzy_text == "true"
        service_type = (query.get("service_type") or "").upper()
        sort_key = query.get("sort_key")
        sort_dir = (query.get("sort_dir") or "DESC").upper()
        if sort_dir not in ("ASC", "DESC"):
            raise bad_parameter(f"sort_dir must be ASC or DESC, got {query.get('sort_dir')!r}")
        if sort_key is not None and sort_key not in ("create_at", "update_at", "name"):
            raise ApiError(400, "ModelArts.6303", f"The field {sort_key} does not support sorting.")
        items = []
        for image in IMAGES:
            if image["type"] != image_type:
                continue
            if name and (name not in image["name"] if fuzzy else name != image["name"]):
                continue
            if service_type and image["service_type"] not in (service_type, "COMMON"):
                continue
            items.append(copy.deepcopy(image))
        if sort_key is not None:
            items.sort(key=lambda item: item[sort_key], reverse=sort_dir == "DESC")
        return _page(items, limit, offset)

    def get_image(self, image_id: str) -> dict[str, Any]:
        return self._image_or_error(image_id)

    # -- admin -----------------------------------------------------------------------------------

    def set_lease_remaining(self, instance_id: str, remaining_ms: int, base_url: str) -> dict[str, Any]:
        """Move the lease so that ``remaining_ms`` are left (0 or less: it expires now)."""
        with self.lock:
            instance = self.instances.get(instance_id)
            if instance is None:
                raise instance_not_found(instance_id)
            instance.refresh(self.clock)
            instance.lease["create_at"] = (
                self.clock.now_ms() + int(remaining_ms) - int(instance.lease["duration"])
            )
            instance.refresh(self.clock)
            return instance.to_json(base_url, self.ssh_host)

    def set_ssh_endpoint(self, instance_id: str, spec: Any, base_url: str) -> dict[str, Any]:
        """Point one instance's SSH endpoint at ``{"host": h, "port": p}`` (e.g. a test sshd)."""
        if not isinstance(spec, dict):
            raise bad_parameter("the body must be a JSON object")
        host, port = spec.get("host"), spec.get("port")
        if not isinstance(host, str) or not host or any(ch.isspace() or ch in "/@" for ch in host):
            raise bad_parameter("host must be a host name or address")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise bad_parameter("port must be an integer between 1 and 65535")
        with self.lock:
            instance = self.instances.get(instance_id)
            if instance is None:
                raise instance_not_found(instance_id)
            instance.ssh_host, instance.ssh_port = host, port
            instance.refresh(self.clock)
            return instance.to_json(base_url, self.ssh_host)

    def set_direct_refused(self, instance_id: str, spec: Any, base_url: str) -> dict[str, Any]:
        """``{"refuse": "closed" | "forbidden" | None}``: refuse the instance's direct route (or not)."""
        if not isinstance(spec, dict):
            raise bad_parameter("the body must be a JSON object")
        refusal = spec.get("refuse")
        if refusal is not None and refusal not in REFUSALS:
            raise bad_parameter(f"refuse must be one of {', '.join(REFUSALS)} or null")
        origin = None if refusal is None else self.fronts.origin(refusal)
        with self.lock:
            instance = self.instances.get(instance_id)
            if instance is None:
                raise instance_not_found(instance_id)
            instance.direct_front = origin
            instance.refresh(self.clock)
            return instance.to_json(base_url, self.ssh_host)

    def script_failure(self, spec: Any) -> dict[str, Any]:
        """Make step N fail: in the operation under way when it has not passed N yet, else the next one."""
        if not isinstance(spec, dict):
            raise bad_parameter("the body must be a JSON object")
        step = spec.get("step")
        if not isinstance(step, int) or isinstance(step, bool) or not 1 <= step <= 4:
            raise bad_parameter("step must be 1, 2, 3 or 4")
        reason = str(spec.get("fail_reason") or f"Step {step} failed: {STEP_DESCRIPTIONS[step - 1]}")
        instance_id = spec.get("instance_id")
        project_id = spec.get("project_id")
        with self.lock:
            for instance in self.instances.values():
                if instance_id not in (None, instance.id) or project_id not in (None, instance.project_id):
                    continue
                instance.refresh(self.clock)
                current = instance.current_step(self.clock)
                if instance.phase is not None and current is not None and current <= step:
                    instance.phase.fail_step = step
                    instance.phase.fail_reason = reason
                    return {"step": step, "fail_reason": reason, "attached_to": instance.id, "pending": False}
            self.pending_failures.append(ScriptedFailure(step, reason, project_id, instance_id))
            return {"step": step, "fail_reason": reason, "attached_to": None, "pending": True}

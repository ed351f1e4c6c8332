"""Shared fixtures: a fresh ModelArts emulator per test, the demo credentials, a client pointed at it.

``emulator`` yields a :class:`codelab_ext.emulator.testing.EmulatorHandle`: ``.url``, ``.account``,
``.project_id``, ``.region``, ``.emulator`` and the admin helpers ``set_fault(kind, route=None,
count=1, **options)``, ``clear_faults()``, ``faults()``, ``stats()``, ``reset_stats()``, ``reset()``,
``state()``, ``instances()``, ``set_speed(s)``, ``advance(seconds)``, ``expire_lease(id)``,
``set_lease_remaining(id, ms)``, ``fail_step(step, fail_reason=None, instance_id=None)``,
``expire_tokens(token=None)`` and ``request(method, path, body=None, query=None)`` (AK/SK-signed).

Its clock runs at :data:`FAST_SPEED` (open → RUNNING in about 0.1 s). A test that must see each
intermediate state calls ``emulator.set_speed(0)`` and moves time with ``emulator.advance(s)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Emulators made by the tests (and the embedded emulators of the servers they start) answer a
# placeholder page instead of starting a real Jupyter server per instance: most tests never go past
# the launch and stay fast. The tests of the instance servers ask for them explicitly
# (Emulator(instance_servers=True), tests/test_instance_server.py).
os.environ.setdefault("CODELAB_EMULATOR_INSTANCE_SERVERS", "0")

#: emulated seconds per real second in tests: the ~20 s start-up takes ~0.1 s
FAST_SPEED = 200.0


@pytest.fixture
def emulator() -> Iterator[Any]:
    """A fresh emulator on a free loopback port, in its own thread, at :data:`FAST_SPEED`."""
    from codelab_ext.emulator.testing import running_emulator

    with running_emulator(speed=FAST_SPEED) as handle:
        yield handle


@pytest.fixture
def live_emulator() -> Iterator[Any]:
    """An :func:`emulator` whose RUNNING instances are served by real Jupyter servers (no JupyterLab).

    ``live_emulator.running_instance(body=None)`` opens the project's instance and answers it once
    RUNNING as a :class:`codelab_ext.emulator.testing.RunningInstance`: ``url``, ``base_url`` (the
    Jupyter REST API), ``token``, ``work_dir`` (stands for /home/ma-user/work), ``home_dir`` and
    ``api(method, "api/contents/...", token=True, **requests_kwargs)``. Starting one takes seconds.
    """
    from codelab_ext.emulator import Emulator
    from codelab_ext.emulator.testing import EmulatorHandle

    instance = Emulator(speed=FAST_SPEED, instance_servers=True, lab=False)
    instance.start_in_thread(port=0)
    handle = EmulatorHandle(instance)
    try:
        yield handle
    finally:
        handle.close()
        instance.stop()


@pytest.fixture
def running_instance(live_emulator: Any) -> Any:
    """A RUNNING instance of the demo project behind a real Jupyter server (see :func:`live_emulator`)."""
    return live_emulator.running_instance()


@pytest.fixture
def demo_credentials() -> Any:
    """The emulator's demo account as AK/SK credentials (source ``"test"``; project found through IAM)."""
    from codelab_ext.credentials import Credentials
    from codelab_ext.emulator import DEMO_ACCOUNT, DEMO_REGION

    return Credentials(
        source="test",
        access_key=DEMO_ACCOUNT.access_key,
        secret_key=DEMO_ACCOUNT.secret_key,
        region=DEMO_REGION,
    )


@pytest.fixture
def client(emulator: Any, demo_credentials: Any) -> Iterator[Any]:
    """A ``ModelArtsClient`` pointed at the ``emulator`` (ModelArts and IAM on the same URL).

    Its retries back off for at most 0.1 s so that fault tests stay fast.
    """
    from codelab_ext.modelarts import ModelArtsClient

    instance = ModelArtsClient(
        demo_credentials,
        region=emulator.region,
        modelarts_endpoint=emulator.url,
        iam_endpoint=emulator.url,
        project_id=None,
        timeout=10.0,
        backoff_base=0.01,
        backoff_cap=0.05,
        retry_after_cap=0.1,
        check_ssh_reachability=False,  # the emulator's SSH endpoints are on loopback
    )
    try:
        yield instance
    finally:
        instance.close()


@pytest.fixture
def jp_fetch(jp_fetch: Any) -> Any:
    """pytest-jupyter's ``jp_fetch``, sending bodies as ``application/json`` like the panel does.

    The REST API refuses a body of any other type; the tests of that rule send their own headers.
    """

    def fetch(*parts: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        headers = dict(headers or {})
        if kwargs.get("body") and not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
        return jp_fetch(*parts, headers=headers, **kwargs)

    return fetch


@pytest.fixture
def instance_sshd(running_instance: Any, live_emulator: Any, tmp_path: Path) -> Any:
    """A real OpenSSH server whose logins land in the instance's work folder, as its SSH endpoint."""
    import getpass

    from tests.support.sshd import start_sshd

    with start_sshd(
        tmp_path / "sshd-root", user=getpass.getuser(), work_dir=running_instance.work_dir
    ) as sshd:
        live_emulator.set_ssh_endpoint(running_instance.id, sshd.host, sshd.port)
        yield sshd

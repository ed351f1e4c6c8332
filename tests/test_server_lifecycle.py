"""The server extension's life: linked as an ExtensionApp, stopped by the server's own shutdown.

Real Jupyter server, real emulator over HTTP; the shutdown is the server's (``cleanup_extensions``,
what ``ServerApp._cleanup`` awaits when the process stops).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from codelab_ext import NAMESPACE
from codelab_ext.app import SERVICE_SETTING, CodeLabApp

from .support.server_config import codelab_server_config, emulator_server_config, isolate_environment
from .support.sse import SSEStream


@pytest.fixture
def atexit_registrations(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Callable[..., Any]]]:
    """Every callable given to ``atexit.register`` while the server lives (still registered for real)."""
    seen: list[Callable[..., Any]] = []
    register = atexit.register

    def recording(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        seen.append(fn)
        return register(fn, *args, **kwargs)

    monkeypatch.setattr(atexit, "register", recording)
    yield seen


@pytest.fixture
def jp_server_config(request, atexit_registrations, emulator, tmp_path, monkeypatch):
    # atexit_registrations comes first: it sees everything the server and the extension register
    if request.node.get_closest_marker("embedded"):
        isolate_environment(monkeypatch, tmp_path)
        return codelab_server_config(emulator=True, emulator_speed=200.0)
    return emulator_server_config(emulator, monkeypatch, tmp_path)


def ours(fn: Callable[..., Any]) -> bool:
    module = getattr(fn, "__module__", None) or getattr(getattr(fn, "__func__", None), "__module__", "")
    return str(module).startswith("codelab_ext")


async def exercise(jp_fetch: Any, jp_http_port: int, jp_auth_header: dict[str, str], base: str) -> SSEStream:
    """Open an instance, read it and its lease in parallel, and leave its event stream open."""
    response = await jp_fetch(NAMESPACE, "open", method="POST", body="{}")
    inst = json.loads(response.body)
    await asyncio.gather(
        *(jp_fetch(NAMESPACE, "instances", inst["id"]) for _ in range(6)),
        jp_fetch(NAMESPACE, "images"),
        jp_fetch(NAMESPACE, "instances"),
    )
    stream = await SSEStream(
        jp_http_port, f"{base}{NAMESPACE}/instances/{inst['id']}/events", jp_auth_header
    ).open()
    event, data = await stream.next_event()
    assert (event, data["id"]) == ("instance", inst["id"])
    return stream


async def test_the_extension_is_an_extension_app_with_the_route_table(jp_serverapp, jp_fetch):
    app = jp_serverapp.extension_manager.extension_apps["codelab_ext"]
    (extension,) = app
    assert isinstance(extension, CodeLabApp)
    assert jp_serverapp.web_app.settings[SERVICE_SETTING] is extension.service
    response = await jp_fetch(NAMESPACE, "status")
    assert json.loads(response.body)["credentials"]["configured"] is True


async def test_server_shutdown_leaves_no_threads_tasks_or_atexit_callbacks(
    jp_serverapp, jp_fetch, jp_http_port, jp_auth_header, jp_base_url, atexit_registrations
):
    service = jp_serverapp.web_app.settings[SERVICE_SETTING]
    stream = await exercise(jp_fetch, jp_http_port, jp_auth_header, jp_base_url)
    # the measurement can fail: while the server runs, the executor and the watcher are alive
    assert service.executor_threads()
    assert service.watchers.tasks()

    await jp_serverapp.cleanup_extensions()

    assert service.executor_threads() == []
    assert service.watchers.tasks() == []
    assert not [t for t in threading.enumerate() if t.name.startswith(service.thread_name_prefix + "_")]
    assert [fn for fn in atexit_registrations if ours(fn)] == []
    # an open event stream ends with the server rather than hanging on its heartbeat
    with pytest.raises(EOFError):
        while True:
            await stream.next_block(timeout=5)
    await stream.close()
    # a second stop (a second signal, the test harness's own cleanup) is harmless
    await jp_serverapp.cleanup_extensions()


@pytest.mark.embedded
async def test_server_shutdown_stops_the_embedded_emulator_and_removes_its_folders(
    jp_serverapp, jp_fetch, jp_http_port, jp_auth_header, jp_base_url, atexit_registrations
):
    service = jp_serverapp.web_app.settings[SERVICE_SETTING]
    stream = await exercise(jp_fetch, jp_http_port, jp_auth_header, jp_base_url)
    folders = list(service._temp_dirs)
    emulator_thread = service.emulator._thread
    assert folders and all(os.path.isdir(f) for f in folders)
    assert emulator_thread is not None and emulator_thread.is_alive()

    await jp_serverapp.cleanup_extensions()

    assert not emulator_thread.is_alive()
    assert not [f for f in folders if os.path.exists(f)]
    assert service.executor_threads() == []
    assert [fn for fn in atexit_registrations if ours(fn)] == []
    await stream.close()

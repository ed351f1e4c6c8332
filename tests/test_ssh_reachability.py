"""SSH endpoints that cannot be reached from outside: a clear message in the REST API and the CLI.

The emulator's SSH endpoints are on loopback (127.0.0.1), exactly what the rule refuses, so these tests
run the server and the CLI with ``ssh_reachability_check`` on, the default outside the emulator.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from codelab_ext import NAMESPACE, cli
from codelab_ext.config import CodeLab

from .support.cli import assert_one_line_error, cli_env, run_cli, run_json
from .support.server_config import emulator_server_config, store_demo_credentials

MESSAGE = "SSH is not reachable from outside for this instance"


@pytest.fixture
def jp_server_config(emulator, tmp_path, monkeypatch):
    creds = store_demo_credentials(tmp_path / "store" / "credentials.json")
    return emulator_server_config(emulator, monkeypatch, tmp_path, creds, ssh_reachability_check=True)


def test_the_rule_is_on_by_default_except_with_the_embedded_emulator(monkeypatch):
    monkeypatch.delenv("CODELAB_SSH_REACHABILITY_CHECK", raising=False)
    monkeypatch.delenv("CODELAB_EMULATOR", raising=False)
    assert CodeLab().ssh_reachability_check is True
    assert CodeLab(emulator=True).ssh_reachability_check is False
    monkeypatch.setenv("CODELAB_SSH_REACHABILITY_CHECK", "0")
    assert CodeLab().ssh_reachability_check is False


async def test_rest_says_why_ssh_cannot_be_reached(jp_fetch, emulator):
    async def call(method: str, path: str) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"method": method, "raise_error": False}
        if method == "POST":
            kwargs["body"] = "{}"
            kwargs["headers"] = {"Content-Type": "application/json"}
        response = await jp_fetch(NAMESPACE, *path.split("/"), **kwargs)
        text = response.body.decode()
        return response.code, json.loads(text) if text.startswith("{") else text

    code, inst = await call("POST", "open")
    assert code == 200, inst
    deadline = time.monotonic() + 10
    while inst["status"] != "RUNNING":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
        code, inst = await call("GET", f"instances/{inst['id']}")
    assert inst["ssh"]["host"] == "127.0.0.1"
    assert "loopback" in inst["ssh"]["unreachable"]
    code, body = await call("GET", f"instances/{inst['id']}/ssh-config")
    # no config that cannot connect: the reason instead (the panel shows this message)
    assert code == 404, body
    assert body["message"].startswith(MESSAGE) and "127.0.0.1 is a loopback address" in body["message"]


def test_cli_says_why_ssh_cannot_be_reached(tmp_path: Path, emulator: Any) -> None:
    env = cli_env(tmp_path, emulator.url, credentials=True, CODELAB_SSH_REACHABILITY_CHECK="1")
    instance = run_json(env, "open")
    assert instance["status"] == "RUNNING"
    error = assert_one_line_error(run_cli(env, "ssh-config", instance["id"]), cli.EXIT_ERROR)
    assert MESSAGE in error and "loopback" in error
    shown = run_cli(env, "show", instance["id"])
    assert shown.returncode == 0
    assert MESSAGE in shown.stdout and "loopback" in shown.stdout

"""SSH end to end through the whole stack: real sshd ← emulator's SSH endpoint ← Jupyter server ← ssh.

A REAL ``sshd`` on 127.0.0.1 (tests/support/sshd.py) accepts a key this test makes; the emulator answers SSH
endpoints pointing at it (``Emulator(ssh_host="127.0.0.1", ssh_port=<sshd port>)``); the Jupyter server
renders ``GET codelab/instances/{id}/ssh-config?identity_file=<key>``; that text, written to a file, is
all ``ssh -F <file> <alias>`` gets (BatchMode yes: no prompt can hide a failure). The CLI's block, printed
and ``--install``-ed into a scratch HOME, logs in the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codelab_ext import NAMESPACE
from codelab_ext.emulator.testing import EmulatorHandle, running_emulator

from .support.cli import cli_env, run_cli
from .support.server_config import emulator_server_config
from .support.sshd import SshdHandle, start_sshd

ALIAS = "codelab-rel-e2e"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdHandle]:
    with start_sshd(tmp_path_factory.mktemp("rel-sshd")) as handle:
        yield handle


@pytest.fixture
def emulator(sshd: SshdHandle) -> Iterator[EmulatorHandle]:
    """The emulator with every SSH endpoint pointing at the real sshd."""
    with running_emulator(speed=2000.0, ssh_host=sshd.host, ssh_port=sshd.port) as handle:
        yield handle


@pytest.fixture
def jp_server_config(emulator, tmp_path, monkeypatch):
    return emulator_server_config(emulator, monkeypatch, tmp_path, request_timeout=5.0)


def ssh(argv: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    """The ssh client without the runner's agent or config, HOME in scratch, stdin closed.

    ssh expands the config's ``~/.ssh/codelab-<id>.known_hosts`` with the passwd home, not ``$HOME``: the
    command line names ``home/known_hosts`` instead (a command-line option wins over the config file).
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("SSH_")}
    env["HOME"] = str(home)
    argv = [argv[0], "-o", f"UserKnownHostsFile={home / 'known_hosts'}", *argv[1:]]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL, check=False
    )


async def _running_instance(jp_fetch: Any, emulator: EmulatorHandle) -> dict[str, Any]:
    response = await jp_fetch(NAMESPACE, "open", method="POST", body="{}")
    instance = json.loads(response.body)
    for _ in range(200):
        response = await jp_fetch(NAMESPACE, "instances", instance["id"])
        instance = json.loads(response.body)
        if instance["status"] == "RUNNING":
            return instance
    raise AssertionError(f"not RUNNING: {instance}")


async def test_the_servers_ssh_config_logs_into_a_real_sshd(jp_fetch, emulator, sshd, tmp_path):
    instance = await _running_instance(jp_fetch, emulator)
    assert instance["ssh"]["host"] == sshd.host and instance["ssh"]["port"] == sshd.port
    response = await jp_fetch(
        NAMESPACE,
        "instances",
        instance["id"],
        "ssh-config",
        params={"alias": ALIAS, "identity_file": str(sshd.client_key_path)},
    )
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    config = tmp_path / "ssh_config"
    config.write_text(response.body.decode())
    assert "    StrictHostKeyChecking accept-new\n" in config.read_text()
    assert f"    UserKnownHostsFile ~/.ssh/codelab-{instance['id']}.known_hosts\n" in config.read_text()
    home = tmp_path / "home-ssh"
    home.mkdir()
    result = ssh(["ssh", "-F", str(config), "-o", "BatchMode=yes", ALIAS, "true"], home)
    assert result.returncode == 0, (
        f"{result.stderr}\n--- config ---\n{config.read_text()}\n--- sshd ---\n{sshd.log()[-1500:]}"
    )
    who = ssh(["ssh", "-F", str(config), "-o", "BatchMode=yes", ALIAS, "id -un"], home)
    assert who.returncode == 0 and who.stdout.strip() == "ma-user", who.stderr
    # accept-new: the host key was recorded on the first connection, and checked (not added) on the second
    assert (home / "known_hosts").read_text().count(f"[{sshd.host}]:{sshd.port} ") == 1


def test_the_clis_ssh_config_printed_and_installed_logs_in(emulator, sshd, tmp_path):
    env = cli_env(tmp_path, emulator.url, credentials=True)
    opened = run_cli(env, "open", "--json")
    assert opened.returncode == 0, opened.stderr
    iid = json.loads(opened.stdout)["id"]
    printed = run_cli(env, "ssh-config", iid, "--alias", ALIAS, "--identity-file", str(sshd.client_key_path))
    assert printed.returncode == 0, printed.stderr
    config = tmp_path / "cli_ssh_config"
    config.write_text(printed.stdout)
    result = ssh(["ssh", "-F", str(config), "-o", "BatchMode=yes", ALIAS, "true"], tmp_path)
    assert result.returncode == 0, result.stderr
    installed = run_cli(
        env, "ssh-config", iid, "--alias", ALIAS, "--identity-file", str(sshd.client_key_path), "--install"
    )
    assert installed.returncode == 0, installed.stderr
    user_config = tmp_path / ".ssh" / "config"
    assert user_config.is_file()
    result = ssh(["ssh", "-F", str(user_config), "-o", "BatchMode=yes", ALIAS, "echo installed"], tmp_path)
    assert result.returncode == 0 and result.stdout == "installed\n", result.stderr

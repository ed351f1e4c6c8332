"""End to end: the generated SSH config logs into a REAL sshd (tests/support/sshd.py) on 127.0.0.1."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codelab_ext.ssh import render_ssh_config, ssh_command
from codelab_ext.ssh_install import install_ssh_config
from tests.support.sshd import SshdHandle, start_sshd

pytestmark = pytest.mark.slow

ALIAS = "codelab-e2e"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdHandle]:
    with start_sshd(tmp_path_factory.mktemp("sshd")) as handle:
        yield handle
    assert not handle.running


def instance_for(sshd: SshdHandle) -> dict[str, Any]:
    """A normalised instance whose SSH endpoint is the test sshd (what the emulator will hand out)."""
    return {
        "id": "e2e-instance",
        "name": "e2e",
        "status": "RUNNING",
        "image": {"id": "img", "name": "ubuntu-ssh", "tag": "1"},
        "ssh": {
            "host": sshd.host,
            "port": sshd.port,
            "user": "ma-user",
            "key_pair_names": ["KeyPair-e2e"],
            "uri": f"ssh://ma-user@{sshd.host}:{sshd.port}",
        },
    }


def run_ssh(argv: list[str], *, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run an ssh client without the caller's agent, with a timeout; HOME optionally redirected."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SSH_")}
    if home is not None:
        env["HOME"] = str(home)
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL, check=False
    )


def write_config(tmp_path: Path, sshd: SshdHandle, identity: Path) -> Path:
    path = tmp_path / "ssh_config"
    path.write_text(
        render_ssh_config(
            instance_for(sshd),
            region="cn-north-4",
            alias=ALIAS,
            identity_file=str(identity),
            known_hosts=str(tmp_path / "known_hosts"),
        )
    )
    return path


def test_generated_config_logs_in(tmp_path: Path, sshd: SshdHandle) -> None:
    config = write_config(tmp_path, sshd, sshd.client_key_path)
    result = run_ssh(["ssh", "-F", str(config), "-o", "BatchMode=yes", ALIAS, "true"])
    assert result.returncode == 0, f"{result.stderr}\n--- sshd log ---\n{sshd.log()[-2000:]}"
    # LogLevel ERROR: nothing is printed; accept-new: the host key is recorded in the instance's file
    assert result.stderr == ""
    recorded = (tmp_path / "known_hosts").read_text()
    assert recorded.startswith(f"[{sshd.host}]:{sshd.port} ssh-")
    again = run_ssh(["ssh", "-F", str(config), "-o", "BatchMode=yes", ALIAS, "true"])
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "known_hosts").read_text() == recorded


def test_a_changed_host_key_is_refused(tmp_path: Path, sshd: SshdHandle) -> None:
    config = write_config(tmp_path, sshd, sshd.client_key_path)
    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    public = other.with_name(other.name + ".pub").read_text().split()
    (tmp_path / "known_hosts").write_text(f"[{sshd.host}]:{sshd.port} {public[0]} {public[1]}\n")
    result = run_ssh(["ssh", "-F", str(config), "-o", "BatchMode=yes", ALIAS, "echo reached"])
    assert result.returncode == 255
    assert "reached" not in result.stdout
    assert "Host key verification failed" in result.stderr


def test_generated_config_runs_a_command_as_ma_user(tmp_path: Path, sshd: SshdHandle) -> None:
    config = write_config(tmp_path, sshd, sshd.client_key_path)
    result = run_ssh(["ssh", "-F", str(config), "-o", "BatchMode=yes", ALIAS, "echo ok; id -un"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\nma-user\n"


def test_a_wrong_key_is_refused(tmp_path: Path, sshd: SshdHandle) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    config = write_config(tmp_path, sshd, other)
    result = run_ssh(["ssh", "-F", str(config), "-o", "BatchMode=yes", ALIAS, "true"])
    assert result.returncode == 255
    assert "Permission denied" in result.stderr


def test_installed_config_logs_in_through_the_include(tmp_path: Path, sshd: SshdHandle) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".ssh").mkdir(mode=0o700)
    user_config = b"# existing\nHost elsewhere\n    HostName elsewhere.invalid"
    (home / ".ssh" / "config").write_bytes(user_config)
    block = render_ssh_config(
        instance_for(sshd),
        region="cn-north-4",
        alias=ALIAS,
        identity_file=str(sshd.client_key_path),
        known_hosts=str(home / "known_hosts"),
    )
    install_ssh_config(block, home=home)
    config = home / ".ssh" / "config"
    assert config.read_bytes().endswith(user_config)
    result = run_ssh(["ssh", "-F", str(config), "-o", "BatchMode=yes", ALIAS, "echo ok"], home=home)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"


def test_copied_ssh_command_logs_in(tmp_path: Path, sshd: SshdHandle) -> None:
    command = ssh_command(
        instance_for(sshd), identity_file=str(sshd.client_key_path), known_hosts=str(tmp_path / "known_hosts")
    )
    argv = shlex.split(command)
    # what a user pastes into a shell, plus: no user/system config, no prompts
    result = run_ssh(
        [argv[0], "-F", "none", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", *argv[1:], "echo ok"]
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"


def test_handle_is_a_context_manager_and_stops(tmp_path: Path) -> None:
    with start_sshd(tmp_path) as handle:
        assert handle.running
        assert handle.client_key_path.is_file()
        assert handle.client_public_key_path.read_text().startswith("ssh-ed25519 ")
        result = run_ssh(["ssh", *handle.ssh_args(), "echo up"])
        assert result.stdout == "up\n", result.stderr
    assert not handle.running
    result = run_ssh(["ssh", *handle.ssh_args("-o", "ConnectTimeout=5"), "true"])
    assert result.returncode == 255
    handle.stop()  # a second stop is harmless

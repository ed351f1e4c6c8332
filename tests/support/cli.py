"""Helpers of tests/test_cli.py: run ``jupyter codelab`` as a real subprocess against the emulator."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

#: the public demo keys of the emulator (codelab_ext.emulator.DEMO_ACCOUNT)
DEMO_AK = "CODELABEMULATORDEMO1"
DEMO_SK = "codelabEmulatorDemoSecretKey000000000000"
DEMO_MASKED = "CODE****EMO1"

#: the warning codelab_ext/__init__.py gives in a source tree that was never built (no _version.py)
_SOURCE_TREE_WARNING = "ignore:Importing 'codelab_ext' outside a proper installation:UserWarning"


def cli_env(home: Path, url: str, *, credentials: bool = False, **extra: str | None) -> dict[str, str]:
    """A clean environment: endpoints on the emulator, HOME and the credentials file in ``home``.

    Every ``HUAWEICLOUD_SDK_*`` and ``CODELAB_*`` variable of the test runner is dropped; with
    ``credentials`` the demo account comes from the environment. ``extra`` adds (or, with None, removes)
    variables.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HUAWEICLOUD_SDK_", "CODELAB_", "JUPYTER_", "PYTEST_"))
    }
    env.update(
        HOME=str(home),
        CODELAB_MODELARTS_ENDPOINT=url,
        CODELAB_IAM_ENDPOINT=url,
        CODELAB_CREDENTIALS_FILE=str(home / "codelab" / "credentials.json"),
        CODELAB_SSH_REACHABILITY_CHECK="0",  # the emulator's SSH endpoints are on loopback
        PYTHONWARNINGS=_SOURCE_TREE_WARNING,
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
        TERM="xterm-256color",
        LC_ALL="C.UTF-8",
    )
    if credentials:
        env.update(HUAWEICLOUD_SDK_AK=DEMO_AK, HUAWEICLOUD_SDK_SK=DEMO_SK)
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "codelab_ext.cli", *args]


def run_cli(
    env: dict[str, str], *args: str, input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion with captured stdout/stderr (stdin: ``input``, else /dev/null)."""
    return subprocess.run(
        cli_argv(*args),
        env=env,
        cwd=REPO,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_json(env: dict[str, str], *args: str) -> Any:
    """Run a ``--json`` verb that must succeed; answer its parsed stdout."""
    result = run_cli(env, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The failure contract: exit ``code``, exactly one stderr line ``error: ...``, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


def run_in_pty(env: dict[str, str], *args: str, timeout: float = 60) -> tuple[int, bytes]:
    """Run the CLI with stdin/stdout/stderr on a pseudo-terminal; answer (exit code, all bytes written)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: become the CLI
        os.chdir(REPO)
        os.execve(sys.executable, cli_argv(*args), env)  # noqa: S606 (the child of pty.fork)
    output = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                finished, status = os.waitpid(pid, os.WNOHANG)
                if finished:
                    return os.waitstatus_to_exitcode(status), output
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
        else:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"the CLI did not finish within {timeout} s: {output[-2000:]!r}")
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status), output
    finally:
        os.close(fd)

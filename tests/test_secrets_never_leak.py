"""Secrets: complete flows with DEBUG logging everywhere, and everything they print or answer captured.

* Server flows (in-process Jupyter server, log level DEBUG, every logger at DEBUG and captured): sign in
  with temporary keys (AK/SK + security token), status, images, open, progress over SSE, instances,
  ssh-config, extend, lease, stop, a refused sign-in; then the same with IAM password credentials (token
  auth). Captured: the whole log, every answer body and header, every SSE block.
* CLI flows (real subprocesses with ``--debug``): ``login`` with the secret and the token on stdin,
  ``status --check``, ``open``, ``show``, ``list``, ``ssh-config``, ``extend``, ``stop``; then IAM
  password credentials. Captured: stdout and stderr.

The secret key, the security token, the IAM password and every IAM token the emulator issued appear
nowhere; the notebook token only inside the instance ``url``. The stored credential file is 0600, in a
0700 directory, replaced atomically, and refused (readable error, server and CLI) when others can read it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from codelab_ext import NAMESPACE
from codelab_ext.emulator import DEMO_ACCOUNT, DEMO_REGION, Account
from codelab_ext.emulator.testing import EmulatorHandle, running_emulator

from .support.cli import cli_env, run_cli
from .support.processes import LogCapture, leaks, record_figures
from .support.server_config import emulator_server_config
from .support.sse import SSEStream

TEMP_ACCOUNT = Account(
    name="codelab-secrets",
    access_key="SECRETSSUITEACCESS01",
    secret_key="SecretsSuiteSecretKey0123456789abcdefXYZ",
    security_token="SecretsSuiteSecurityToken-" + "Q" * 48,
    projects={DEMO_REGION: "5ec0000000000000000000000000a0b1"},
    iam_user="secrets-user",
    iam_password="Secrets-Suite-Password-987",
    iam_domain="codelab-secrets",
    key_pair_name="KeyPair-5ec0",
)
HOUR_MS = 3_600_000
LOGGERS = ("", "codelab_ext", "requests", "urllib3", "tornado", "tornado.access", "tornado.application")


@pytest.fixture
def emulator():
    with running_emulator(speed=50.0, accounts=[TEMP_ACCOUNT, DEMO_ACCOUNT]) as handle:
        yield handle


@pytest.fixture
def creds_file(tmp_path) -> Path:
    return tmp_path / "store" / "codelab" / "credentials.json"


@pytest.fixture
def jp_server_config(emulator, creds_file, tmp_path, monkeypatch):
    config = emulator_server_config(
        emulator, monkeypatch, tmp_path, creds_file, region=DEMO_REGION, request_timeout=5.0
    )
    config["ServerApp"]["log_level"] = "DEBUG"
    return config


def issued_iam_tokens(emulator: EmulatorHandle) -> dict[str, str]:
    state = emulator.emulator.state
    with state.lock:
        return {f"IAM token {i}": token for i, token in enumerate(state.tokens)}


def notebook_tokens(emulator: EmulatorHandle) -> list[str]:
    state = emulator.emulator.state
    with state.lock:
        return [instance.token for instance in state.instances.values()]


def token_outside_url(value: Any, token: str, key: str = "") -> list[str]:
    """Where the notebook token occurs in a JSON value other than inside an instance ``url``."""
    if isinstance(value, dict):
        return [where for k, v in value.items() for where in token_outside_url(v, token, str(k))]
    if isinstance(value, list):
        return [where for v in value for where in token_outside_url(v, token, key)]
    if isinstance(value, str) and token in value:
        if key == "url" and re.fullmatch(rf"https?://\S+[?&]token={re.escape(token)}(&\S*)?", value):
            return []
        return [f"{key}={value[:120]}"]
    return []


class Recorder:
    """Every HTTP answer (status line, headers, body) and every SSE block of a flow."""

    def __init__(self, jp_fetch, port: int, base_url: str, auth: dict[str, str]) -> None:
        self.jp_fetch = jp_fetch
        self.port = port
        self.base_url = base_url
        self.auth = auth
        self.texts: list[str] = []
        self.json_values: list[Any] = []

    async def call(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None):
        kwargs: dict[str, Any] = {"method": method, "raise_error": False, "params": params}
        if body is not None:
            kwargs["body"] = json.dumps(body)
        elif method in ("POST", "PUT", "PATCH"):
            kwargs["body"] = ""
            kwargs["allow_nonstandard_methods"] = True
        response = await self.jp_fetch(NAMESPACE, *path.split("/"), **kwargs)
        text = response.body.decode()
        self.texts.append(
            f"{response.code}\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.get_all())
        )
        self.texts.append(text)
        data = (
            json.loads(text)
            if response.headers.get("Content-Type", "").startswith("application/json")
            else text
        )
        if text and not isinstance(data, str):
            self.json_values.append(data)
        return response.code, data

    async def events_until(
        self, instance_id: str, status: str, timeout: float = 20.0
    ) -> list[dict[str, Any]]:
        path = f"{self.base_url}{NAMESPACE}/instances/{instance_id}/events"
        stream = await SSEStream(self.port, path, self.auth).open()
        self.texts.append("\n".join(f"{k}: {v}" for k, v in stream.response_headers.items()))
        seen: list[dict[str, Any]] = []
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                block = await stream.next_block(timeout=max(0.1, deadline - time.monotonic()))
                self.texts.append(block)
                data = [line[5:].strip() for line in block.split("\n") if line.startswith("data:")]
                if not data:
                    continue
                value = json.loads("\n".join(data))
                self.json_values.append(value)
                seen.append(value)
                if value.get("status") == status:
                    return seen
        finally:
            await stream.close()
        raise AssertionError(f"no {status} event: {seen}")

    @property
    def text(self) -> str:
        return "\n".join(self.texts)


async def _wait(rec: Recorder, iid: str, status: str) -> dict[str, Any]:
    for _ in range(200):
        code, inst = await rec.call("GET", f"instances/{iid}")
        assert code == 200, inst
        if inst["status"] == status:
            return inst
        await asyncio.sleep(0.05)
    raise AssertionError(f"{iid} did not reach {status}")


async def _flow(rec: Recorder) -> dict[str, Any]:
    """status, images, open, progress over SSE, list, show, ssh-config, extend, lease, stop."""
    assert (await rec.call("GET", "status"))[0] == 200
    code, images = await rec.call("GET", "images")
    assert code == 200 and images["images"]
    code, inst = await rec.call("POST", "open", {})
    assert code == 200, inst
    iid = inst["id"]
    events = await rec.events_until(iid, "RUNNING")
    assert events and all(e["token"] is None for e in events)
    assert (await rec.call("GET", "instances"))[0] == 200
    running = await _wait(rec, iid, "RUNNING")
    code, text = await rec.call("GET", f"instances/{iid}/ssh-config", params={"alias": "secrets-lab"})
    assert code == 200 and "Host secrets-lab" in text, text
    code, lease = await rec.call("PATCH", f"instances/{iid}/lease", {"duration_ms": 2 * HOUR_MS})
    assert code == 200, lease
    assert (await rec.call("GET", f"instances/{iid}/lease"))[0] == 200
    code, stopped = await rec.call("POST", f"instances/{iid}/stop")
    assert code == 200, stopped
    await _wait(rec, iid, "STOPPED")
    return running


async def test_server_flow_with_temporary_keys_leaks_no_secret(
    jp_fetch, jp_http_port, jp_base_url, jp_auth_header, jp_serverapp, emulator, creds_file
):
    rec = Recorder(jp_fetch, jp_http_port, jp_base_url, jp_auth_header)
    with LogCapture([jp_serverapp.log, *LOGGERS]) as logs:
        # a refused sign-in first (wrong token), then the right one
        put = {
            "access_key": TEMP_ACCOUNT.access_key,
            "secret_key": TEMP_ACCOUNT.secret_key,
            "security_token": TEMP_ACCOUNT.security_token,
            "region": DEMO_REGION,
        }
        code, body = await rec.call("PUT", "credentials", {**put, "security_token": "Wrong-" + "Z" * 40})
        assert code == 401, body
        code, body = await rec.call("PUT", "credentials", put)
        assert code == 200, body
        running = await _flow(rec)
        # the DEBUG log did log the upstream calls (the capture works)
        assert any("/notebooks" in line for line in logs.lines), logs.text[-2000:]
    secrets = {
        "secret key": TEMP_ACCOUNT.secret_key,
        "security token": TEMP_ACCOUNT.security_token or "",
        **issued_iam_tokens(emulator),
    }
    assert not leaks(rec.text, secrets), leaks(rec.text, secrets)
    assert not leaks(logs.text, secrets), leaks(logs.text, secrets)
    (token,) = notebook_tokens(emulator)
    assert f"token={token}" in running["url"]
    outside = [where for value in rec.json_values for where in token_outside_url(value, token)]
    assert not outside, outside
    assert token not in logs.text, "the notebook token is in the server log"
    # the stored file: 0600 in a 0700 directory, no temporary file left behind
    assert stat.S_IMODE(creds_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(creds_file.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in creds_file.parent.iterdir()) == ["credentials.json"]
    record_figures(
        "secrets.server_temporary_keys",
        {"answers_and_sse_blocks": len(rec.texts), "log_records": len(logs.lines), "leaks": 0},
    )


async def test_server_flow_with_iam_password_leaks_no_password_or_token(
    jp_fetch, jp_http_port, jp_base_url, jp_auth_header, jp_serverapp, emulator, monkeypatch
):
    monkeypatch.setenv("CODELAB_IAM_USER", TEMP_ACCOUNT.iam_user or "")
    monkeypatch.setenv("CODELAB_IAM_PASSWORD", TEMP_ACCOUNT.iam_password or "")
    monkeypatch.setenv("CODELAB_IAM_DOMAIN", TEMP_ACCOUNT.iam_domain or "")
    rec = Recorder(jp_fetch, jp_http_port, jp_base_url, jp_auth_header)
    with LogCapture([jp_serverapp.log, *LOGGERS]) as logs:
        _code, status = await rec.call("GET", "status")
        assert status["credentials"]["source"] == "iam-password", status
        await _flow(rec)
        # an expired token is refreshed on the way (a 401, a new token, the call again)
        emulator.expire_tokens()
        assert (await rec.call("GET", "instances"))[0] == 200
    tokens = issued_iam_tokens(emulator)
    assert len(tokens) >= 2, "the flow should have used at least two IAM tokens"
    secrets = {"IAM password": TEMP_ACCOUNT.iam_password or "", **tokens}
    assert not leaks(rec.text, secrets), leaks(rec.text, secrets)
    assert not leaks(logs.text, secrets), leaks(logs.text, secrets)
    record_figures(
        "secrets.server_iam_password",
        {"answers_and_sse_blocks": len(rec.texts), "log_records": len(logs.lines), "iam_tokens": len(tokens)},
    )


def test_cli_flows_with_debug_leak_no_secret(tmp_path, emulator):
    env = cli_env(tmp_path, emulator.url)
    outputs: list[str] = []

    def cli(*args: str, input: str | None = None, code: int = 0) -> str:
        result = run_cli(env, "--debug", *args, input=input, timeout=90)
        outputs.extend([result.stdout, result.stderr])
        assert result.returncode == code, (args, result.stdout[-2000:], result.stderr[-3000:])
        return result.stdout

    # login with the secret and the token on stdin (never as arguments); a wrong one first
    cli(
        "login",
        "--access-key",
        TEMP_ACCOUNT.access_key,
        "--secret-key-stdin",
        "--security-token-stdin",
        input=f"{TEMP_ACCOUNT.secret_key}\nWrong-{'Z' * 40}\n",
        code=2,
    )
    cli(
        "login",
        "--access-key",
        TEMP_ACCOUNT.access_key,
        "--secret-key-stdin",
        "--security-token-stdin",
        input=f"{TEMP_ACCOUNT.secret_key}\n{TEMP_ACCOUNT.security_token}\n",
    )
    stored = Path(env["CODELAB_CREDENTIALS_FILE"])
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert sorted(p.name for p in stored.parent.iterdir()) == ["credentials.json"]
    cli("status", "--check")
    opened = cli("open")
    (token,) = notebook_tokens(emulator)
    iid = emulator.instances()[0]["id"]
    shown = cli("show", iid, "--json")
    assert json.loads(shown)["token"] is None
    cli("list")
    config = cli("ssh-config", iid, "--alias", "cli-lab")
    assert "Host cli-lab" in config
    cli("extend", iid, "--hours", "2")
    cli("stop", iid, "--yes")
    # IAM password credentials (token auth) from the environment: no stored keys in the way
    iam_env = cli_env(
        tmp_path / "iam",
        emulator.url,
        CODELAB_IAM_USER=TEMP_ACCOUNT.iam_user,
        CODELAB_IAM_PASSWORD=TEMP_ACCOUNT.iam_password,
        CODELAB_IAM_DOMAIN=TEMP_ACCOUNT.iam_domain,
    )
    env = iam_env
    cli("open")
    cli("list", "--json")
    cli("show", iid)
    text = "\n".join(outputs)
    secrets = {
        "secret key": TEMP_ACCOUNT.secret_key,
        "security token": TEMP_ACCOUNT.security_token or "",
        "IAM password": TEMP_ACCOUNT.iam_password or "",
        **issued_iam_tokens(emulator),
    }
    assert not leaks(text, secrets), leaks(text, secrets)
    # the --debug output did show the upstream calls (the capture works)
    assert "DEBUG" in text and "/notebooks" in text
    # the notebook token: only inside the instance URL (printed at the end of open)
    assert f"token={token}" in opened
    stray = [m.start() for m in re.finditer(re.escape(token), text)]
    in_url = [
        m.start() + m.group(0).index(token)
        for m in re.finditer(rf"https?://\S*token={re.escape(token)}", text)
    ]
    assert sorted(stray) == sorted(in_url), "the notebook token is printed outside the instance URL"
    record_figures("secrets.cli", {"cli_runs": len(outputs) // 2, "output_chars": len(text), "leaks": 0})


# ------------------------------------------------------------------------------------------ the stored file


async def test_the_stored_file_is_replaced_atomically(jp_fetch, creds_file):
    """While sign-ins replace the file, a reader never sees a partial or mixed file."""
    pairs = {
        TEMP_ACCOUNT.access_key: TEMP_ACCOUNT.secret_key,
        DEMO_ACCOUNT.access_key: DEMO_ACCOUNT.secret_key,
    }
    bodies = [
        {
            "access_key": TEMP_ACCOUNT.access_key,
            "secret_key": TEMP_ACCOUNT.secret_key,
            "security_token": TEMP_ACCOUNT.security_token,
            "region": DEMO_REGION,
        },
        {"access_key": DEMO_ACCOUNT.access_key, "secret_key": DEMO_ACCOUNT.secret_key, "region": DEMO_REGION},
    ]
    stop = threading.Event()
    seen: list[tuple[int, str]] = []
    bad: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                raw = creds_file.read_bytes()
                inode = creds_file.stat().st_ino
            except FileNotFoundError:
                continue
            try:
                data = json.loads(raw)
                if pairs.get(data["access_key"]) != data["secret_key"]:
                    bad.append("mixed pair")
                seen.append((inode, data["access_key"]))
            except (ValueError, KeyError) as exc:
                bad.append(f"{type(exc).__name__}: {raw[:80]!r}")

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        for i in range(24):
            response = await jp_fetch(NAMESPACE, "credentials", method="PUT", body=json.dumps(bodies[i % 2]))
            assert response.code == 200
            assert stat.S_IMODE(creds_file.stat().st_mode) == 0o600
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not bad, bad[:5]
    assert {key for _, key in seen} == set(pairs), "the reader did not see both versions"
    # replaced by rename, never rewritten in place: each version is a new inode
    assert len({inode for inode, _ in seen}) >= 2
    assert sorted(p.name for p in creds_file.parent.iterdir()) == ["credentials.json"]
    record_figures("secrets.atomic_store", {"writes": 24, "reads": len(seen), "partial_or_mixed_reads": 0})


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
async def test_a_stored_file_others_can_read_is_refused_by_server_and_cli(
    jp_fetch, emulator, creds_file, tmp_path, mode
):
    response = await jp_fetch(
        NAMESPACE,
        "credentials",
        method="PUT",
        body=json.dumps({"access_key": DEMO_ACCOUNT.access_key, "secret_key": DEMO_ACCOUNT.secret_key}),
    )
    assert response.code == 200
    os.chmod(creds_file, mode)
    emulator.reset_stats()
    # the server: status says why, the cloud routes answer a readable 401, nothing goes upstream
    status = json.loads((await jp_fetch(NAMESPACE, "status")).body)
    assert status["credentials"]["configured"] is False
    assert "chmod 600" in status["credentials"]["error"], status
    response = await jp_fetch(NAMESPACE, "instances", raise_error=False)
    assert response.code == 401
    message = json.loads(response.body)["message"]
    assert "group or others" in message and "chmod 600" in message, message
    assert DEMO_ACCOUNT.secret_key not in response.body.decode()
    assert emulator.stats().get("total", 0) == 0
    # the CLI, on the same file: one readable line, exit 2, nothing sent
    env = cli_env(tmp_path / "cli", emulator.url, CODELAB_CREDENTIALS_FILE=str(creds_file))
    for verb in (["list"], ["status", "--check"]):
        result = run_cli(env, *verb)
        assert result.returncode == 2, (verb, result.stdout, result.stderr)
        line = result.stderr.strip().splitlines()[-1]
        assert line.startswith("error: ") and "chmod 600" in line, result.stderr
        assert DEMO_ACCOUNT.secret_key not in result.stdout + result.stderr
    assert emulator.stats().get("total", 0) == 0
    logging.getLogger(__name__).debug("mode %o refused", mode)

"""SSH config injection: hostile SSH endpoints served BY THE EMULATOR never add a directive.

The emulator builds the SSH endpoint of an instance from its state (``ssh://ma-user@{host}:{port}``,
the key pair name, the instance and image names). The test plants hostile values there (newlines, spaces,
quotes, ``%`` tokens, ``ProxyCommand``/``Match exec``/``LocalCommand`` smuggled into a host, a port, a key
pair name or a comment), asks the REAL server (``GET codelab/instances/{id}/ssh-config``) and the CLI
(``jupyter codelab ssh-config``) for the config, and requires either a readable 4xx/502 or a config that

* holds only the expected directives (one ``Host`` block, comments aside), and
* gives, under ``ssh -G``, exactly the options of a benign config except hostname/port/user/identityfile;

and ``ssh -G`` never ran anything (the canary commands planted in the values never create their file).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from codelab_ext import NAMESPACE

from .support.cli import cli_env, run_cli
from .support.processes import record_figures
from .support.server_config import emulator_server_config

ALIAS = "inj-lab"
#: a file that must never appear (per test process: suites may run side by side)
CANARY = Path(f"/tmp/codelab-ssh-injection-canary-{os.getpid()}")
TOUCH = f"touch {CANARY}"
#: directives a rendered block may hold (codelab_ext/ssh.py render_ssh_config)
ALLOWED = {
    "host",
    "hostname",
    "port",
    "user",
    "identityfile",
    "identitiesonly",
    "stricthostkeychecking",
    "userknownhostsfile",
    "serveraliveinterval",
    "serveralivecountmax",
    "loglevel",
}
#: ``ssh -G`` options that may differ from a benign config: the endpoint itself
MAY_DIFFER = {"hostname", "port", "user", "identityfile"}

HOSTILE_HOSTS = [
    f"evil.example\n    ProxyCommand sh -c '{TOUCH}'",
    f"evil.example\r\nProxyCommand {TOUCH}",
    f"evil.example ProxyCommand={TOUCH}",
    f"evil.example\tProxyCommand {TOUCH}",
    f"-oProxyCommand={TOUCH}",
    f"evil.example\x00ProxyCommand {TOUCH}",
    f'"evil.example" ProxyCommand {TOUCH}',
    "'evil.example'",
    '"evil.example"',
    "%h",
    "%d/../x",
    "evil%n",
    "localhost%%",
    "%C",
    "%r@%h",
    "${HOME}",
    f"$({TOUCH})",
    f"`{TOUCH}`",
    f"evil.example;{TOUCH}",
    f"evil.example|{TOUCH}",
    f"evil.example&&{TOUCH}",
    f"host\u2028ProxyCommand {TOUCH}",
    f"host\u0085ProxyCommand {TOUCH}",
    f"host\x0bProxyCommand {TOUCH}",
    f"host\x0cProxyCommand {TOUCH}",
    f"ProxyCommand {TOUCH}",
    f'Match exec "{TOUCH}"',
    "Include /etc/passwd",
    f"evil.example\nHost *\n  LocalCommand {TOUCH}\n  PermitLocalCommand yes",
    "127.0.0.1\n  RemoteCommand rm -rf ~",
    "127.0.0.1\n  ForwardAgent yes",
    "127.0.0.1\n  LocalForward 8080 127.0.0.1:80",
    f"127.0.0.1\n  KnownHostsCommand {TOUCH}",
    "evil.example#comment",
    "evil.example=ProxyJump attacker.example",
    "evil.example IdentityFile /etc/shadow",
    "evil.example,other.example",
    "*",
    "!evil.example",
    "[::1]%eth0",
    "fe80::1%eth0",
    f"::1 ProxyCommand {TOUCH}",
    "evil..example",
    "-evil.example",
    "evil-.example",
    "a" * 64 + ".example",
    "x" * 300,
    "\uff45\uff56\uff49\uff4c.example",  # fullwidth letters
    "evil.ex\u0430mple",  # Cyrillic a
    "evil\u200b.example",  # zero-width space
    "root@evil.example",
    "evil.example:22 -oProxyCommand=sh",
    "evil.example/path",
    "evil.example?query=1",
    "[evil.example]",
    "1.2.3",
    "256.256.256.256",
    "evil example",
    "evil.example\\\nProxyCommand sh",
    'evil.example"\nProxyCommand sh\n"',
    "evil.example\n",
    " evil.example",
]
HOSTILE_PORTS = [
    f"22\n  ProxyCommand {TOUCH}",
    f"22 ProxyCommand {TOUCH}",
    "0",
    "65536",
    "-1",
    "22%h",
    "22;id",
    "\uff12\uff12",  # fullwidth digits
    "",
]
HOSTILE_KEY_PAIRS = [
    f"KeyPair\n  ProxyCommand {TOUCH}",
    "../../etc/passwd",
    "key pair",
    "%d",
    f"-oProxyCommand={TOUCH}",
    'key"',
    ".hidden",
    "k" * 100,
    "$(id)",
]
HOSTILE_NAMES = [
    f"lab\nProxyCommand {TOUCH}",
    "lab\r\nHost *\r\n  LocalCommand id",
    "lab\u2028ProxyCommand sh",
    "lab\x1b[2J",
]

CASES: list[tuple[str, Any]] = (
    [("host", v) for v in HOSTILE_HOSTS]
    + [("port", v) for v in HOSTILE_PORTS]
    + [("key_pair", v) for v in HOSTILE_KEY_PAIRS]
    + [("name", v) for v in HOSTILE_NAMES]
    + [("image_name", v) for v in HOSTILE_NAMES]
)


@pytest.fixture
def jp_server_config(emulator, tmp_path, monkeypatch):
    return emulator_server_config(emulator, monkeypatch, tmp_path, request_timeout=5.0, max_retries=0)


class Planted:
    """Puts one hostile value into the emulator's state and takes it out again."""

    def __init__(self, emulator: Any, instance_id: str) -> None:
        self.state = emulator.emulator.state
        self.instance = self.state.instances[instance_id]
        self.original = (
            self.state.ssh_host,
            self.instance.ssh_port,
            self.instance.key_pair_name,
            self.instance.name,
            self.instance.image,
        )

    def plant(self, where: str, value: Any) -> None:
        with self.state.lock:
            if where == "host":
                self.state.ssh_host = value
            elif where == "port":
                self.instance.ssh_port = value
            elif where == "key_pair":
                self.instance.key_pair_name = value
            elif where == "name":
                self.instance.name = value
            else:
                self.instance.image = {**self.instance.image, "name": value}

    def restore(self) -> None:
        with self.state.lock:
            (
                self.state.ssh_host,
                self.instance.ssh_port,
                self.instance.key_pair_name,
                self.instance.name,
                self.instance.image,
            ) = self.original


def ssh_g(config: Path, home: Path) -> dict[str, str]:
    """``ssh -G`` of the alias: the options OpenSSH would use (first word → rest of the line)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSH_")}
    env["HOME"] = str(home)
    result = subprocess.run(
        ["ssh", "-G", "-F", str(config), ALIAS],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    options: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(" ")
        options[key] = f"{options[key]}\n{value}" if key in options else value
    return options


def directive_problems(text: str) -> list[str]:
    problems = []
    hosts = 0
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        keyword = stripped.split(None, 1)[0].lower()
        if keyword not in ALLOWED:
            problems.append(f"unexpected directive line {line!r}")
        if keyword == "host":
            hosts += 1
            if stripped != f"Host {ALIAS}":
                problems.append(f"unexpected Host line {line!r}")
        if any(not ch.isprintable() for ch in line):
            problems.append(f"non-printable character in {line!r}")
    if hosts != 1:
        problems.append(f"{hosts} Host lines")
    return problems


async def test_hostile_endpoints_served_by_the_emulator_never_add_a_directive(jp_fetch, emulator, tmp_path):
    assert len(CASES) >= 50
    CANARY.unlink(missing_ok=True)
    home = tmp_path / "ssh-home"
    home.mkdir()

    async def get_config() -> tuple[int, Any, str]:
        response = await jp_fetch(
            NAMESPACE, "instances", iid, "ssh-config", params={"alias": ALIAS}, raise_error=False
        )
        text = response.body.decode()
        return response.code, response.headers.get("Content-Type", ""), text

    emulator.set_speed(5000)
    response = await jp_fetch(NAMESPACE, "open", method="POST", body="{}")
    iid = json.loads(response.body)["id"]
    for _ in range(100):
        if emulator.instances()[0]["status"] == "RUNNING":
            break
    code, ctype, benign_text = await get_config()
    assert code == 200, benign_text
    benign_file = tmp_path / "benign"
    benign_file.write_text(benign_text)
    benign = ssh_g(benign_file, home)

    planted = Planted(emulator, iid)
    outcomes: dict[str, int] = {}
    problems: list[str] = []
    for index, (where, value) in enumerate(CASES):
        planted.plant(where, value)
        try:
            code, ctype, text = await get_config()
        finally:
            planted.restore()
        label = f"{where}={value!r}"[:100]
        outcomes[str(code)] = outcomes.get(str(code), 0) + 1
        if code != 200:
            if code not in (400, 404, 502) or not ctype.startswith("application/json"):
                problems.append(f"{label}: answered {code} {ctype} {text[:200]}")
            elif not json.loads(text).get("message"):
                problems.append(f"{label}: {code} without a message")
            continue
        problems += [f"{label}: {p}" for p in directive_problems(text)]
        config = tmp_path / f"config-{index}"
        config.write_text(text)
        options = ssh_g(config, home)
        changed = {key for key in set(options) | set(benign) if options.get(key) != benign.get(key)}
        if changed - MAY_DIFFER:
            extra = {key: options.get(key) for key in changed - MAY_DIFFER}
            problems.append(f"{label}: ssh -G differs beyond the endpoint: {extra}")
        for key in ("proxycommand", "proxyjump", "localcommand", "remotecommand", "knownhostscommand"):
            if key in options and options[key] not in ("none",):
                problems.append(f"{label}: ssh -G has {key} {options[key]!r}")
    assert not CANARY.exists(), "ssh -G ran a command smuggled into the config"
    record_figures("ssh_injection.rest", {"hostile_values": len(CASES), "answers": outcomes})
    assert not problems, "\n".join(problems)


def test_cli_ssh_config_with_hostile_endpoints(tmp_path, emulator):
    """The CLI renders from the same client: a sample of the hostile values through ``jupyter codelab``."""
    env = cli_env(tmp_path, emulator.url, credentials=True)
    emulator.set_speed(5000)
    response = emulator.request("POST", f"/v1/{emulator.project_id}/notebooks/open", {})
    iid = response.json()["id"]
    planted = Planted(emulator, iid)
    sample = [
        CASES[0],
        CASES[4],
        CASES[26],
        CASES[28],
        ("port", HOSTILE_PORTS[0]),
        ("key_pair", HOSTILE_KEY_PAIRS[0]),
    ]
    home = tmp_path / "ssh-home"
    home.mkdir()
    CANARY.unlink(missing_ok=True)
    for index, (where, value) in enumerate(sample):
        planted.plant(where, value)
        try:
            result = run_cli(env, "ssh-config", iid, "--alias", ALIAS)
        finally:
            planted.restore()
        if result.returncode == 0:
            assert not directive_problems(result.stdout), (where, value, result.stdout)
            config = tmp_path / f"cli-config-{index}"
            config.write_text(result.stdout)
            options = ssh_g(config, home)
            assert "proxycommand" not in options and "localcommand" not in options
        else:
            # refused: one readable line and a failing exit code (2 for cloud data would be the documented
            # code; a value refused by the validators currently exits 64, see the suite's report)
            assert result.returncode != 0, (where, value, result.stderr)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert not CANARY.exists()

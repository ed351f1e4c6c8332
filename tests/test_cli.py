"""``jupyter codelab``: every verb as a real subprocess against the emulator, with the output users see."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from codelab_ext import cli
from codelab_ext._cli_progress import PlainProgress, StepClock, TtyProgress, format_duration

from .support.cli import (
    DEMO_AK,
    DEMO_MASKED,
    DEMO_SK,
    REPO,
    assert_one_line_error,
    cli_argv,
    cli_env,
    run_cli,
    run_in_pty,
    run_json,
)

STEP_NAMES = ("storage", "compute", "network", "instance initialisation")


# ------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def env(tmp_path: Path, emulator: Any) -> dict[str, str]:
    """The demo account from the environment; HOME and the credentials file in tmp_path."""
    return cli_env(tmp_path, emulator.url, credentials=True)


@pytest.fixture
def running(env: dict[str, str]) -> dict[str, Any]:
    """A RUNNING instance of the default image, opened through the CLI."""
    instance = run_json(env, "open")
    assert instance["status"] == "RUNNING"
    return instance


def _images(env: dict[str, str]) -> list[dict[str, Any]]:
    return run_json(env, "images")["images"]


def _ssh_image(env: dict[str, str], *, category: str) -> dict[str, Any]:
    images = [image for image in _images(env) if "SSH" in image["dev_services"]]
    return next(image for image in images if category in image["resource_categories"])


# ------------------------------------------------------------------------------------------- fast start


@pytest.mark.parametrize("verb", [["--help"], ["status"], ["open", "--help"]])
def test_help_and_status_import_no_server_modules(tmp_path: Path, emulator: Any, verb: list[str]) -> None:
    env = cli_env(tmp_path, emulator.url, credentials=True)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *cli_argv(*verb)[1:]],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "codelab_ext" in imported  # (the CLI itself runs as __main__)
    if verb == ["status"]:
        assert {"codelab_ext.config", "codelab_ext.credentials"} <= imported
    heavy = {name for name in imported if name.split(".")[0] in {"tornado", "jupyter_server", "requests"}}
    assert not heavy, sorted(heavy)
    assert "jupyter codelab" in result.stdout or "credentials:" in result.stdout


def test_version_and_usage_errors(env: dict[str, str]) -> None:
    result = run_cli(env, "--version")
    assert result.returncode == 0 and result.stdout.startswith("codelab_ext ")
    error = assert_one_line_error(run_cli(env, "frobnicate"), cli.EXIT_USAGE)
    assert "frobnicate" in error
    error = assert_one_line_error(run_cli(env, "list", "--bogus"), cli.EXIT_USAGE)
    assert "--bogus" in error
    # the global flags work after the verb too
    assert_one_line_error(run_cli(env, "status", "--timeout", "0"), cli.EXIT_USAGE)


def test_jupyter_codelab_entry_point(env: dict[str, str]) -> None:
    """``jupyter codelab`` dispatches to the ``jupyter-codelab`` console script once the package is installed.

    In a source checkout that was never installed the same ``main`` runs through the module.
    """
    bin_dir = Path(sys.executable).parent
    script = bin_dir / "jupyter-codelab"
    if script.exists():
        env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"}
        command = [str(bin_dir / "jupyter"), "codelab"]
        # the installed script starts as light as the module
        timing = subprocess.run(
            [sys.executable, "-X", "importtime", str(script), "status"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert timing.returncode == 0, timing.stderr
        assert not re.search(r"\| +(tornado|jupyter_server|requests)(\.|$)", timing.stderr, re.M)
    else:
        command = cli_argv()
    result = subprocess.run(
        [*command, "images", "--category", "ASCEND"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split() == ["NAME", "TAG", "ARCH", "KIND", "SSH", "ID"]
    assert all(" Ascend " in line for line in result.stdout.splitlines()[1:])
    usage = subprocess.run(
        [*command, "--help"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert usage.returncode == 0 and usage.stdout.startswith("usage: jupyter codelab ")


# ------------------------------------------------------------------------------------------- credentials


def test_login_from_stdin_then_status_and_logout(tmp_path: Path, emulator: Any) -> None:
    env = cli_env(tmp_path, emulator.url)
    creds_file = Path(env["CODELAB_CREDENTIALS_FILE"])
    assert_one_line_error(run_cli(env, "status"), cli.EXIT_UPSTREAM)

    login = run_cli(env, "login", "--access-key", DEMO_AK, "--secret-key-stdin", input=DEMO_SK + "\n")
    assert login.returncode == 0, login.stderr
    assert DEMO_MASKED in login.stdout and "c0de1ab0000000000000000000000404" in login.stdout
    assert stat.S_IMODE(creds_file.stat().st_mode) == 0o600
    assert json.loads(creds_file.read_text())["secret_key"] == DEMO_SK

    status = run_cli(env, "status")
    assert status.returncode == 0, status.stderr
    assert re.search(r"^credentials: +stored \(key CODE\*\*\*\*EMO1\)$", status.stdout, re.M)
    assert re.search(rf"^endpoint: +{re.escape(emulator.url)}$", status.stdout, re.M)
    assert re.search(r"^region: +cn-north-4$", status.stdout, re.M)
    as_json = run_json(env, "status", "--check")
    assert as_json["credentials"] == {"configured": True, "source": "stored", "access_key": DEMO_MASKED}
    assert as_json["project_id"] == "c0de1ab0000000000000000000000404"
    assert as_json["checked"] is True
    for result in (login, status):
        assert DEMO_SK not in result.stdout + result.stderr

    # the environment wins over the stored keys, and status says so
    shadowed = run_cli(
        {**env, "HUAWEICLOUD_SDK_AK": "ENVKEY0000000000ABCD", "HUAWEICLOUD_SDK_SK": "x" * 20}, "status"
    )
    assert re.search(r"^credentials: +environment \(key ENVK\*\*\*\*ABCD\)$", shadowed.stdout, re.M)

    logout = run_cli(env, "logout")
    assert logout.returncode == 0 and "Removed the stored credentials" in logout.stdout
    assert not creds_file.exists()
    assert_one_line_error(run_cli(env, "status"), cli.EXIT_UPSTREAM)
    again = run_cli(env, "logout")
    assert again.returncode == 0 and "No stored credentials" in again.stdout


def test_login_with_region_project_and_token_lines(tmp_path: Path, emulator: Any) -> None:
    env = cli_env(tmp_path, emulator.url)
    result = run_cli(
        env,
        "login",
        "--region",
        "cn-east-3",
        "--access-key",
        DEMO_AK,
        "--secret-key-stdin",
        "--json",
        input=DEMO_SK + "\n",
    )
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["region"] == "cn-east-3" and status["credentials"]["source"] == "stored"
    stored = json.loads(Path(env["CODELAB_CREDENTIALS_FILE"]).read_text())
    assert stored["region"] == "cn-east-3" and "security_token" not in stored
    assert DEMO_SK not in result.stdout + result.stderr
    # the stored region is used from now on
    assert run_json(env, "status")["region"] == "cn-east-3"


def test_login_refuses_an_unknown_region_naming_the_known_ones(tmp_path: Path, emulator: Any) -> None:
    env = cli_env(tmp_path, emulator.url)
    emulator.reset_stats()
    result = run_cli(
        env,
        "login",
        "--region",
        "cn-nort-4",
        "--access-key",
        DEMO_AK,
        "--secret-key-stdin",
        input=DEMO_SK + "\n",
    )
    error = assert_one_line_error(result, cli.EXIT_USAGE)
    assert "'cn-nort-4'" in error and "cn-north-4" in error and "af-north-1" in error
    assert not Path(env["CODELAB_CREDENTIALS_FILE"]).exists()
    assert emulator.stats().get("total", 0) == 0
    # every verb's --region goes through the same rule
    other = run_cli(env, "images", "--region", "mars-1")
    assert "'mars-1'" in assert_one_line_error(other, cli.EXIT_USAGE)


def test_login_refuses_bad_keys_and_stores_nothing(tmp_path: Path, emulator: Any) -> None:
    env = cli_env(tmp_path, emulator.url)
    wrong = "WrongSecretKey0000000000000000000000000"
    result = run_cli(env, "login", "--access-key", DEMO_AK, "--secret-key-stdin", input=wrong + "\n")
    error = assert_one_line_error(result, cli.EXIT_UPSTREAM)
    assert "refused these credentials" in error and "nothing was stored" in error
    assert wrong not in result.stdout + result.stderr
    assert not Path(env["CODELAB_CREDENTIALS_FILE"]).exists()


def test_login_needs_a_terminal_or_stdin_flags(tmp_path: Path, emulator: Any) -> None:
    env = cli_env(tmp_path, emulator.url)
    error = assert_one_line_error(run_cli(env, "login", input=""), cli.EXIT_USAGE)
    assert "--secret-key-stdin" in error
    error = assert_one_line_error(
        run_cli(env, "login", "--access-key", DEMO_AK, input=DEMO_SK), cli.EXIT_USAGE
    )
    assert "never as an argument" in error
    bad = run_cli(env, "login", "--access-key", "short", "--secret-key-stdin", input=DEMO_SK + "\n")
    assert "access_key" in assert_one_line_error(bad, cli.EXIT_USAGE)
    assert DEMO_SK not in bad.stderr


def test_login_interactive_on_a_terminal_hides_the_secret(tmp_path: Path, emulator: Any) -> None:
    """The prompts on a real terminal: AK echoed, SK read by getpass (never echoed), defaults taken."""
    env = cli_env(tmp_path, emulator.url)
    pid, fd = os.forkpty()
    if pid == 0:
        os.chdir(REPO)
        os.execve(sys.executable, cli_argv("login"), env)  # noqa: S606
    output = b""
    answers = iter([DEMO_AK, DEMO_SK, "", "", ""])
    prompts = (b"Access key", b"Secret key", b"Security token", b"Region [cn-north-4]", b"Project id")
    pending = list(prompts)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            while pending and pending[0] in output:
                pending.pop(0)
                time.sleep(0.05)
                os.write(fd, next(answers).encode() + b"\n")
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, output
    assert not pending
    assert DEMO_AK.encode() in output  # the access key is echoed as typed
    assert DEMO_SK.encode() not in output  # the secret key never is
    assert DEMO_MASKED.encode() in output
    stored = json.loads(Path(env["CODELAB_CREDENTIALS_FILE"]).read_text())
    assert stored["secret_key"] == DEMO_SK and stored["region"] == "cn-north-4"


# ------------------------------------------------------------------------------------------- images


def test_images_table_json_and_filters(env: dict[str, str]) -> None:
    table = run_cli(env, "images")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["NAME", "TAG", "ARCH", "KIND", "SSH", "ID"]
    images = _images(env)
    assert len(lines) == len(images) + 1
    for image in images:
        assert any(image["id"] in line and image["name"] in line for line in lines)
    kinds = {line.split()[3] for line in lines[1:]}
    assert kinds == {"CPU", "GPU", "Ascend"}

    arm = _images_filtered(env, "--arch", "AARCH64", "--category", "ascend")
    assert arm and all(i["arch"] == "aarch64" and "ASCEND" in i["resource_categories"] for i in arm)
    named = _images_filtered(env, "--name", "PyTorch")
    assert named and all("pytorch" in i["name"].lower() for i in named)
    none = run_cli(env, "images", "--name", "no-such-image-anywhere")
    assert none.returncode == 0 and none.stdout.strip() == "No image matches."
    error = assert_one_line_error(run_cli(env, "images", "--arch", "sparc"), cli.EXIT_USAGE)
    assert "x86_64 or aarch64" in error


def _images_filtered(env: dict[str, str], *flags: str) -> list[dict[str, Any]]:
    return run_json(env, "images", *flags)["images"]


# ------------------------------------------------------------------------------------------- open


def test_open_shows_the_four_steps_as_plain_lines_until_running(env: dict[str, str]) -> None:
    result = run_cli(env, "open")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for number, name in enumerate(STEP_NAMES, start=1):
        assert re.search(rf"^\[{number}/4\] {name}: COMPLETED \(\d+\.\d s\)$", out, re.M), out
    assert re.search(r"^status: RUNNING \(\d+\.\d s\)$", out, re.M)
    assert "\x1b[" not in out  # no terminal control codes in a pipe
    instance = run_json(env, "list")["instances"][0]
    token_url = instance["url"]  # --json shows the URL with its token, like the REST API
    assert "token=" in token_url
    assert f"  open:      {token_url}" in out
    assert re.search(r"^  ssh:       ssh .* -p \d+ .*ma-user@127\.0\.0\.1$", out, re.M)
    assert "ssh codelab-cn-north-4" in out
    assert re.search(rf"^CodeLab {instance['id']} is RUNNING", out, re.M)
    assert result.stderr == ""


def test_open_by_name_with_share_url_json(env: dict[str, str]) -> None:
    image = _ssh_image(env, category="GPU")
    share = "https://github.com/example/notebooks/blob/main/intro.ipynb"
    result = run_cli(
        env, "open", "--image", f"{image['name']}:{image['tag']}", "--share-url", share, "--json"
    )
    assert result.returncode == 0, result.stderr
    instance = json.loads(result.stdout)  # stdout is only the JSON; the progress went to stderr
    assert instance["status"] == "RUNNING" and instance["image"]["id"] == image["id"]
    assert instance["token"] is None and "token=" in instance["url"]
    assert "[4/4] instance initialisation: COMPLETED" in result.stderr

    bad = run_cli(env, "open", "--share-url", "ftp://example.com/x.ipynb")
    assert "http" in assert_one_line_error(bad, cli.EXIT_USAGE)


def test_open_unknown_image_suggests_names(env: dict[str, str]) -> None:
    image = _images(env)[0]
    result = run_cli(env, "open", "--image", image["name"][:-2])
    error = assert_one_line_error(result, cli.EXIT_USAGE)
    assert "did you mean" in error and image["name"] in error
    assert run_json(env, "list")["instances"] == []


def test_switching_a_running_instance_asks_first(env: dict[str, str], running: dict[str, Any]) -> None:
    other = next(i for i in _images(env) if i["id"] != running["image"]["id"])
    refused = run_cli(env, "open", "--image", other["id"])  # stdin is not a terminal and no --yes
    error = assert_one_line_error(refused, cli.EXIT_NOT_CONFIRMED)
    assert "--yes" in error and running["name"] in error
    assert run_json(env, "show", running["id"])["image"]["id"] == running["image"]["id"]

    switched = run_cli(env, "open", "--image", other["id"], "--yes")
    assert switched.returncode == 0, switched.stderr
    assert run_json(env, "show", running["id"])["image"]["id"] == other["id"]
    # opening the image it already runs needs no confirmation
    same = run_cli(env, "open", "--image", other["id"])
    assert same.returncode == 0, same.stderr


@pytest.mark.parametrize(
    "extra", [(), ("--share-url", "https://github.com/example/notebooks/blob/main/intro.ipynb")]
)
def test_an_open_naming_no_image_asks_before_switching_a_gpu_instance(
    env: dict[str, str], extra: tuple[str, ...]
) -> None:
    gpu = _ssh_image(env, category="GPU")
    instance = run_json(env, "open", "--image", gpu["id"])
    assert instance["status"] == "RUNNING"
    # no --image is the default (CPU) image: another image, so it asks (no terminal, no --yes: refused)
    refused = run_cli(env, "open", *extra)
    error = assert_one_line_error(refused, cli.EXIT_NOT_CONFIRMED)
    assert "--yes" in error and instance["name"] in error and gpu["name"] in error
    assert "notebook2.0-mul-kernel-cpu-cp36" in error
    after = run_json(env, "show", instance["id"])
    assert after["status"] == "RUNNING" and after["image"]["id"] == gpu["id"]
    assert after["update_at"] == instance["update_at"]  # not restarted


def test_switch_prompt_on_a_terminal_answered_no(env: dict[str, str], running: dict[str, Any]) -> None:
    other = next(i for i in _images(env) if i["id"] != running["image"]["id"])
    pid, fd = os.forkpty()
    if pid == 0:
        os.chdir(REPO)
        os.execve(sys.executable, cli_argv("open", "--image", other["id"]), env)  # noqa: S606
    output = b""
    try:
        while b"[y/N]" not in output:
            output += os.read(fd, 4096)
        os.write(fd, b"n\n")
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == cli.EXIT_NOT_CONFIRMED
    assert b"Not confirmed: nothing was changed." in output
    assert run_json(env, "show", running["id"])["image"]["id"] == running["image"]["id"]


def test_open_failure_exits_4_with_fail_reason(env: dict[str, str], emulator: Any) -> None:
    emulator.fail_step(2, fail_reason="Insufficient free compute in the pool (scripted)")
    result = run_cli(env, "open")
    error = assert_one_line_error(result, cli.EXIT_INSTANCE_FAILED)
    assert "Insufficient free compute in the pool (scripted)" in error
    assert "[2/4] compute: FAILED" in result.stdout
    assert "RUNNING" not in result.stdout


def test_open_keeps_watching_through_upstream_failures(env: dict[str, str], emulator: Any) -> None:
    emulator.set_fault("http_503", route="show", count=4)  # one poll fails, retries included
    result = run_cli(env, "open")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^\(polling failed, retrying: .*\) \(\d+\.\d s\)$", result.stdout, re.M), result.stdout
    assert "[4/4] instance initialisation: COMPLETED" in result.stdout
    assert emulator.faults() == []


def test_ctrl_c_during_open_leaves_the_instance_starting(env: dict[str, str], emulator: Any) -> None:
    emulator.set_speed(0.02)  # slow: 20 emulated seconds take about 17 minutes
    process = subprocess.Popen(
        cli_argv("open"),
        env=env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()  # the open was answered: the progress started
        assert first.startswith("status: "), first
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == cli.EXIT_INTERRUPTED, err
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    instance = emulator.instances()[0]
    assert "left as it is (still starting)" in lines[0]
    assert f"jupyter codelab show {instance['id']}" in lines[0]
    assert instance["status"] in ("CREATING", "STARTING")
    shown = run_json(env, "show", instance["id"])
    assert shown["status"] in ("CREATING", "STARTING")


def test_open_max_wait_exits_5_while_still_starting(env: dict[str, str], emulator: Any) -> None:
    emulator.set_speed(0)
    result = run_cli(env, "open", "--max-wait", "0.5")
    error = assert_one_line_error(result, cli.EXIT_STILL_STARTING)
    assert "keeps starting" in error
    assert emulator.instances()[0]["status"] == "CREATING"


def test_open_on_a_terminal_redraws_the_steps(env: dict[str, str], emulator: Any) -> None:
    emulator.set_speed(8)  # a few seconds, so the display animates between polls
    code, output = run_in_pty(env, "open")
    assert code == 0, output[-2000:]
    text = output.decode("utf-8")
    assert text.startswith("\x1b[?25l")  # cursor hidden while drawing ...
    assert "\x1b[?25h" in text  # ... and shown again
    assert text.count("\x1b[5F") >= 5  # the five-line block was redrawn in place
    assert "████████████████████ 4/4  RUNNING" in text
    for name in STEP_NAMES:
        assert re.search(rf"✔ \[\d/4\] {name} +COMPLETED +\d+\.\d s", text), name
    assert any(frame in text for frame in "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")  # a spinner on the running step
    assert "[1/4] storage: " not in text  # not the plain line format
    tail = text.rsplit("\x1b[?25h", 1)[1]
    assert "is RUNNING" in tail and "token=" in tail


# ------------------------------------------------------------------------------------------- instances


def test_list_show_extend_stop_start(env: dict[str, str], emulator: Any, running: dict[str, Any]) -> None:
    instance_id = running["id"]
    listed = run_cli(env, "list")
    assert listed.returncode == 0
    header, row = listed.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "IMAGE", "FLAVOR", "LEASE"]
    assert row.split()[:2] == [instance_id, "RUNNING"] and "ends " in row

    shown = run_cli(env, "show", instance_id)
    assert shown.returncode == 0
    assert re.search(r"^status: +RUNNING$", shown.stdout, re.M)
    assert re.search(r"^step 4/4: +instance initialisation: COMPLETED$", shown.stdout, re.M)
    assert "token=" not in shown.stdout  # show prints the URL without the notebook token
    assert run_json(env, "show", instance_id)["id"] == instance_id

    extended = run_json(env, "extend", instance_id, "--hours", "5")
    assert extended["lease"]["duration"] == 5 * 3_600_000
    # 2 h from now ends before the 5 h lease does: refused without --yes (nothing changed), done with it
    refused = run_cli(env, "extend", instance_id, "--hours", "2")
    assert "--yes" in assert_one_line_error(refused, cli.EXIT_NOT_CONFIRMED)
    assert run_json(env, "show", instance_id)["lease"]["duration"] == 5 * 3_600_000
    text = run_cli(env, "extend", instance_id, "--hours", "2", "--yes")
    assert text.returncode == 0 and re.search(r"extended: ends .* \(in 1 h 59 min\)", text.stdout), (
        text.stdout
    )
    assert "1 to 72" in assert_one_line_error(
        run_cli(env, "extend", instance_id, "--hours", "73"), cli.EXIT_USAGE
    )

    refused = run_cli(env, "stop", instance_id)
    assert "--yes" in assert_one_line_error(refused, cli.EXIT_NOT_CONFIRMED)
    assert emulator.instances()[0]["status"] == "RUNNING"
    stopped = run_json(env, "stop", instance_id, "--yes")
    assert stopped["status"] in ("STOPPING", "STOPPED")
    deadline = time.monotonic() + 20
    while run_json(env, "show", instance_id)["status"] != "STOPPED":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    again = run_cli(env, "stop", instance_id)
    assert again.returncode == 0 and "already STOPPED" in again.stdout
    # the lease of an instance that is not running is never asked for
    emulator.reset_stats()
    not_running = assert_one_line_error(
        run_cli(env, "extend", instance_id, "--hours", "2"), cli.EXIT_UPSTREAM
    )
    assert "STOPPED" in not_running and "RUNNING" in not_running
    assert emulator.stats().get("renew_lease", 0) == 0

    started = run_cli(env, "start", instance_id, "--wait")
    assert started.returncode == 0, started.stderr
    assert "[4/4] instance initialisation: COMPLETED" in started.stdout
    assert run_json(env, "show", instance_id)["status"] == "RUNNING"


def test_unknown_instance_is_a_one_line_upstream_error(env: dict[str, str]) -> None:
    error = assert_one_line_error(run_cli(env, "show", "0000-no-such-instance"), cli.EXIT_UPSTREAM)
    assert "ModelArts.6309" in error or "not" in error.lower()
    error = assert_one_line_error(run_cli(env, "show", "../etc"), cli.EXIT_USAGE)
    assert "ID" in error


# ------------------------------------------------------------------------------------------- ssh


def _ssh_g(config: Path, alias: str) -> dict[str, str]:
    result = subprocess.run(
        ["ssh", "-G", "-F", str(config), alias], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    return dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)


def test_ssh_config_block_is_accepted_by_ssh(
    env: dict[str, str], running: dict[str, Any], tmp_path: Path
) -> None:
    result = run_cli(
        env, "ssh-config", "--alias", "my-lab", "--identity-file", str(tmp_path / "key dir/k.pem")
    )
    assert result.returncode == 0, result.stderr
    block = result.stdout
    assert block.splitlines()[1] == "Host my-lab"
    config = tmp_path / "ssh_config"
    config.write_text(block)
    options = _ssh_g(config, "my-lab")
    assert options["hostname"] == running["ssh"]["host"]
    assert options["port"] == str(running["ssh"]["port"])
    assert options["user"] == "ma-user"
    assert options["identityfile"] == str(tmp_path / "key dir/k.pem")
    assert options["stricthostkeychecking"] == "accept-new"
    assert options["userknownhostsfile"].endswith(".known_hosts")

    explicit = run_cli(env, "ssh-config", running["id"])
    assert "Host codelab-cn-north-4" in explicit.stdout
    bad = run_cli(env, "ssh-config", "--alias", "bad alias\nProxyCommand x")
    assert "alias" in assert_one_line_error(bad, cli.EXIT_USAGE)


def test_ssh_config_install_keeps_the_users_config(
    env: dict[str, str], running: dict[str, Any], tmp_path: Path
) -> None:
    ssh_dir = tmp_path / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    hand_written = (
        b"# my own settings, written by hand\n"
        b"Host work\n"
        b"\tHostName work.example.com   # trailing comment\n"
        b"\tUser me\n"
        b"\n"
        b"Host *\n"
        b"    ServerAliveInterval 30\n"
    )
    (ssh_dir / "config").write_bytes(hand_written)
    os.chmod(ssh_dir / "config", 0o644)

    result = run_cli(env, "ssh-config", "--install")
    assert result.returncode == 0, result.stderr
    managed = ssh_dir / "config.d" / "codelab"
    assert result.stdout.strip() == (
        f"Installed Host codelab-cn-north-4 in {managed} (included from ~/.ssh/config). "
        "Connect with: ssh codelab-cn-north-4"
    )
    config = (ssh_dir / "config").read_bytes()
    first, rest = config.split(b"\n", 1)
    assert first.startswith(b"Include ") and first.endswith(b"config.d/codelab")
    assert rest == hand_written  # everything else byte for byte
    assert stat.S_IMODE(managed.stat().st_mode) == 0o600
    assert "Host codelab-cn-north-4" in managed.read_text()
    options = _ssh_g(ssh_dir / "config", "codelab-cn-north-4")
    assert options["port"] == str(running["ssh"]["port"]) and options["user"] == "ma-user"
    assert _ssh_g(ssh_dir / "config", "work")["hostname"] == "work.example.com"

    # a second install updates its own block and adds no second Include line
    again = run_json(env, "ssh-config", "--install", "--alias", "lab2")
    assert again["installed"] == str(managed)
    assert (ssh_dir / "config").read_bytes() == config
    text = managed.read_text()
    assert text.count("# >>> codelab_ext managed block >>>") == 1 and "Host lab2" in text


def test_ssh_config_without_ssh_endpoint(env: dict[str, str]) -> None:
    no_ssh = next(i for i in _images(env) if "SSH" not in i["dev_services"])
    assert run_cli(env, "open", "--image", no_ssh["id"]).returncode == 0
    error = assert_one_line_error(run_cli(env, "ssh-config"), cli.EXIT_ERROR)
    assert "SSH" in error


def test_ssh_config_without_instance(env: dict[str, str]) -> None:
    error = assert_one_line_error(run_cli(env, "ssh-config"), cli.EXIT_ERROR)
    assert "no CodeLab instance" in error


# ------------------------------------------------------------------------------------------- errors


def test_unreachable_endpoint_is_one_line(tmp_path: Path, emulator: Any) -> None:
    env = cli_env(tmp_path, "http://127.0.0.1:9", credentials=True)
    result = run_cli(env, "list", "--timeout", "2")
    assert_one_line_error(result, cli.EXIT_UPSTREAM)
    assert DEMO_SK not in result.stderr


def test_bad_environment_credentials_are_one_line(tmp_path: Path, emulator: Any) -> None:
    wrong = "NotTheRightSecret0000"
    env = cli_env(tmp_path, emulator.url, HUAWEICLOUD_SDK_AK=DEMO_AK, HUAWEICLOUD_SDK_SK=wrong)
    result = run_cli(env, "images")
    error = assert_one_line_error(result, cli.EXIT_UPSTREAM)
    assert "APIGW.0301" in error and f"credentials from environment, key {DEMO_MASKED}" in error
    assert wrong not in result.stderr


def test_no_credentials_and_unsafe_file(tmp_path: Path, emulator: Any) -> None:
    env = cli_env(tmp_path, emulator.url)
    assert "jupyter codelab login" in assert_one_line_error(run_cli(env, "list"), cli.EXIT_UPSTREAM)
    creds = Path(env["CODELAB_CREDENTIALS_FILE"])
    creds.parent.mkdir()
    creds.write_text(json.dumps({"access_key": DEMO_AK, "secret_key": DEMO_SK}))
    os.chmod(creds, 0o644)
    error = assert_one_line_error(run_cli(env, "list"), cli.EXIT_UPSTREAM)
    assert "chmod 600" in error


def test_debug_logs_without_secrets(env: dict[str, str], running: dict[str, Any]) -> None:
    result = run_cli(env, "show", running["id"], "--debug")
    assert result.returncode == 0
    assert "DEBUG" in result.stderr and DEMO_MASKED in result.stderr
    token = running["url"].split("token=", 1)[1]
    assert DEMO_SK not in result.stderr and token not in result.stderr and token not in result.stdout


# ------------------------------------------------------------------------------------------- emulator, demo


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_emulator_verb_serves_the_demo_account(tmp_path: Path, emulator: Any) -> None:
    port = _free_port()
    env = cli_env(tmp_path, "http://127.0.0.1:9")
    process = subprocess.Popen(
        cli_argv("emulator", "--port", str(port), "--speed", "40"),
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()
        assert first.strip() == f"CodeLab ModelArts + IAM emulator listening on http://127.0.0.1:{port}"
        banner = "".join(process.stdout.readline() for _ in range(3))
        assert DEMO_AK in banner
        client_env = cli_env(tmp_path, f"http://127.0.0.1:{port}", credentials=True)
        opened = run_json(client_env, "open")
        assert opened["status"] == "RUNNING"
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == 0


def test_demo_runs_jupyterlab_on_the_embedded_emulator(tmp_path: Path, emulator: Any) -> None:
    port = _free_port()
    config_dir = tmp_path / "jupyter-config"
    (config_dir / "jupyter_server_config.d").mkdir(parents=True)
    shutil.copy(
        REPO / "jupyter-config" / "server-config" / "codelab_ext.json",
        config_dir / "jupyter_server_config.d" / "codelab_ext.json",
    )
    env = cli_env(tmp_path, "http://127.0.0.1:9", JUPYTER_CONFIG_DIR=str(config_dir))
    extra = ["--allow-root"] if os.geteuid() == 0 else []  # (JupyterLab refuses root without it)
    process = subprocess.Popen(
        cli_argv("demo", "--port", str(port), "--no-browser", "--IdentityProvider.token=demo-t", *extra),
        env=env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        status = None
        deadline = time.monotonic() + 60
        while status is None and time.monotonic() < deadline and process.poll() is None:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/codelab/status", headers={"Authorization": "token demo-t"}
                )
                with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 (loopback)
                    status = json.loads(answer.read())
            except OSError:
                time.sleep(0.3)
        assert status is not None, process.stderr.read1(65536) if process.poll() is not None else "timeout"
        assert status["emulator"] is True
        assert status["credentials"]["configured"] is True
        assert status["modelarts_endpoint"].startswith("http://127.0.0.1:")
        # the user's own credentials file was neither read nor written
        assert not Path(env["CODELAB_CREDENTIALS_FILE"]).exists()
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()


def test_demo_runs_in_its_own_folders_prints_one_line_and_cleans_up(tmp_path: Path, emulator: Any) -> None:
    port = _free_port()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    own_config = tmp_path / "users-jupyter-config"
    env = cli_env(tmp_path, "http://127.0.0.1:9", JUPYTER_CONFIG_DIR=str(own_config), TMPDIR=str(scratch))
    extra = ["--allow-root"] if os.geteuid() == 0 else []
    process = subprocess.Popen(
        cli_argv("demo", "--port", str(port), "--IdentityProvider.token=demo-t", *extra),
        env=env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()  # blocks until JupyterLab is up (or the demo gave up)
        # one clear line: what it is, how to stop it, the URL last
        assert line.startswith("codelab_ext demo: "), line
        assert "Ctrl+C" in line
        assert line.rstrip("\n").endswith(f":{port}/lab?token=demo-t"), line
        (folder,) = scratch.glob("codelab-demo-*")
        assert {p.name for p in folder.iterdir()} >= {"config", "data", "runtime", "root"}

        def get(path: str) -> Any:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{path}", headers={"Authorization": "token demo-t"}
            )
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback)
                return json.loads(answer.read())

        names = {item["name"] for item in get("/api/contents")["content"]}
        assert {"Welcome to the CodeLab demo.ipynb", "Sample analysis.ipynb"} <= names
        assert get("/codelab/status")["demo_account"] is True
        # the news prompt is off (JupyterLab reads LabApp.news_url from the demo's own config)
        config = json.loads((folder / "config" / "jupyter_server_config.json").read_text())
        assert config["LabApp"]["news_url"] is None
        # nothing was written to the user's own Jupyter folders
        assert not own_config.exists()
    finally:
        # what Ctrl+C does (SIGTERM, below, ends it the same way)
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == 0
    assert not list(scratch.glob("codelab-demo-*")), "the demo's folders are removed at exit"


def test_the_demo_ends_cleanly_on_sigterm(tmp_path: Path, emulator: Any) -> None:
    port = _free_port()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = cli_env(tmp_path, "http://127.0.0.1:9", TMPDIR=str(scratch))
    extra = ["--allow-root"] if os.geteuid() == 0 else []
    process = subprocess.Popen(
        cli_argv("demo", "--port", str(port), "--IdentityProvider.token=demo-t", *extra),
        env=env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout.readline().rstrip("\n").endswith(f":{port}/lab?token=demo-t")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
    assert process.returncode == 0
    assert not list(scratch.glob("codelab-demo-*"))
    # JupyterLab went with it: its port is free again
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


# ------------------------------------------------------------------------------------------- units


def _image(image_id: str, name: str, tag: str) -> dict[str, Any]:
    return {"id": image_id, "name": name, "tag": tag, "dev_services": [], "resource_categories": []}


def test_resolve_image_by_id_name_and_tag() -> None:
    from codelab_ext.errors import ValidationError

    images = [_image("a1", "torch", "1"), _image("a2", "torch", "2"), _image("b1", "tf", "1")]
    assert cli.resolve_image(images, "b1")["id"] == "b1"
    assert cli.resolve_image(images, "tf")["id"] == "b1"
    assert cli.resolve_image(images, "torch:2")["id"] == "a2"
    with pytest.raises(ValidationError, match=r"ambiguous.*torch:1 \(a1\), torch:2 \(a2\)"):
        cli.resolve_image(images, "torch")
    with pytest.raises(ValidationError, match="did you mean tf"):
        cli.resolve_image(images, "tff")


def test_step_clock_and_plain_lines() -> None:
    now = [100.0]
    lines: list[str] = []

    class Stream:
        def write(self, text: str) -> None:
            lines.extend(text.splitlines())

        def flush(self) -> None:
            pass

    progress = PlainProgress(Stream(), clock=lambda: now[0])  # type: ignore[arg-type]

    def steps(*statuses: str) -> dict[str, Any]:
        return {
            "status": "STARTING",
            "action_progress": [{"step": i + 1, "status": s} for i, s in enumerate(statuses)],
        }

    progress.update(steps("PROCESSING", "WAITING", "WAITING", "WAITING"))
    now[0] = 103.1
    progress.update(steps("COMPLETED", "PROCESSING", "WAITING", "WAITING"))
    now[0] = 104.0
    progress.update(steps("COMPLETED", "PROCESSING", "WAITING", "WAITING"))  # no change: no line
    assert lines == [
        "status: STARTING (0.0 s)",
        "[1/4] storage: PROCESSING (0.0 s)",
        "[2/4] compute: WAITING (0.0 s)",
        "[3/4] network: WAITING (0.0 s)",
        "[4/4] instance initialisation: WAITING (0.0 s)",
        "[1/4] storage: COMPLETED (3.1 s)",
        "[2/4] compute: PROCESSING (3.1 s)",
    ]
    clock = progress.clock
    assert isinstance(clock, StepClock)
    assert clock.duration({"step": 1}, 0) == pytest.approx(3.1)
    assert clock.duration({"step": 2}, 1) == pytest.approx(0.9)
    assert clock.duration({"step": 3}, 2) is None
    # a new round (switch, restart) starts the step's clock again
    now[0] = 110.0
    progress.update(steps("PROCESSING", "WAITING", "WAITING", "WAITING"))
    now[0] = 111.0
    assert clock.duration({"step": 1}, 0) == pytest.approx(1.0)


def test_tty_progress_ascii_fallback_and_cursor() -> None:
    written: list[str] = []

    class Stream:
        encoding = "ascii"

        def write(self, text: str) -> None:
            written.append(text)

        def flush(self) -> None:
            pass

    progress = TtyProgress(Stream(), clock=lambda: 0.0, sleep=lambda _s: None)  # type: ignore[arg-type]
    progress.update({"status": "CREATING", "action_progress": [{"step": 1, "status": "PROCESSING"}]})
    progress.close()
    text = "".join(written)
    text.encode("ascii")  # nothing a non-UTF-8 terminal cannot show
    assert text.startswith("\x1b[?25l") and text.endswith("\x1b[?25h")
    assert "| [1/4] storage" in text and "-------------------- 0/4" in text


def test_format_duration_and_lease_text() -> None:
    assert format_duration(3.14) == "3.1 s"
    assert format_duration(125) == "2 min 05 s"
    assert format_duration(3725) == "1 h 02 min"
    lease = {"expires_at": 1_000_000 + 2 * 3_600_000}
    assert cli.lease_text(lease, now_ms=1_000_000).endswith("(in 2 h 00 min)")
    assert cli.lease_text(lease, now_ms=1_000_000 + 3 * 3_600_000).startswith("ended ")
    assert cli.lease_text(None) == "-"


def test_upstream_text_cannot_drive_the_terminal() -> None:
    from codelab_ext._cli_progress import step_label

    assert cli.printable("a\x1b[2Jb\x07") == "a?[2Jb?"
    assert cli.one_line("line one\nline\x1b]0;title\x07 two") == "line one line?]0;title? two"
    assert step_label({"step": 7, "description": "odd\x1b[31m step"}) == "odd?[31m step"
    assert step_label({"step": 2, "description": "ignored"}) == "compute"


# ------------------------------------------------------------------------------- the server's config files


def test_the_cli_reads_c_codelab_from_the_jupyter_server_config_files(tmp_path: Path, emulator: Any) -> None:
    # Given the server's config in a temporary JUPYTER_CONFIG_DIR: a .py and a .json, as a user writes them
    config_dir = tmp_path / "jupyter-config"
    config_dir.mkdir()
    (config_dir / "jupyter_server_config.py").write_text(
        f"c.CodeLab.modelarts_endpoint = {emulator.url!r}\nc.CodeLab.iam_endpoint = {emulator.url!r}\n"
    )
    (config_dir / "jupyter_server_config.json").write_text(json.dumps({"CodeLab": {"region": "cn-east-3"}}))
    # and no endpoint in the environment
    env = cli_env(
        tmp_path,
        "http://127.0.0.1:9",
        credentials=True,
        JUPYTER_CONFIG_DIR=str(config_dir),
        CODELAB_MODELARTS_ENDPOINT=None,
        CODELAB_IAM_ENDPOINT=None,
    )
    # Then the CLI uses the server's settings (and reaches the emulator through them)
    status = run_json(env, "status")
    assert status["modelarts_endpoint"] == emulator.url
    assert status["region"] == "cn-east-3"
    # a global flag still wins over the file
    status = run_json(env, "--region", "cn-north-4", "status")
    assert status["region"] == "cn-north-4"
    # a broken config file is skipped with a warning, never a crash
    (config_dir / "jupyter_server_config.py").write_text("c.CodeLab.region = \n")
    result = run_cli(env, "status", "--json")
    assert "ignoring" in result.stderr and "jupyter_server_config.py" in result.stderr
    assert json.loads(result.stdout)["region"] == "cn-east-3"


def test_reading_the_config_files_does_not_import_jupyter_server(tmp_path: Path) -> None:
    (tmp_path / "jupyter_server_config.json").write_text(json.dumps({"CodeLab": {"request_timeout": 7.5}}))
    probe = (
        "import sys\n"
        "from codelab_ext.config import CodeLab, jupyter_config_files\n"
        "print(CodeLab(config=jupyter_config_files()).request_timeout, 'jupyter_server' in sys.modules)\n"
    )
    env = {**cli_env(tmp_path, "http://127.0.0.1:9"), "JUPYTER_CONFIG_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["7.5", "False"]

"""Server messages in the panel's language over the real stack (Jupyter server, emulator), and the CLI
in the terminal's language (a real subprocess)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from codelab_ext import NAMESPACE

from .support.cli import REPO, cli_env, run_cli, run_in_pty
from .support.server_config import emulator_server_config
from .support.sse import SSEStream

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MISSING = "0f0f0f0f-0000-4000-8000-000000000000"


@pytest.fixture
def jp_server_config(emulator, tmp_path, monkeypatch):
    return emulator_server_config(emulator, monkeypatch, tmp_path, request_timeout=3.0, max_retries=0)


@pytest.fixture
def api(jp_fetch):
    async def call(method: str, path: str, body: Any = None, language: str | None = None, **params: str):
        headers = {"Accept-Language": language} if language else {}
        kwargs: dict[str, Any] = {
            "method": method,
            "raise_error": False,
            "headers": headers,
            "params": params,
        }
        if body is not None:
            kwargs["body"] = json.dumps(body)
        response = await jp_fetch(NAMESPACE, *path.split("/"), **kwargs)
        return response.code, json.loads(response.body or b"null")

    return call


async def test_an_upstream_error_is_ours_in_chinese_then_huaweis_own_words(api):
    code, zh = await api("GET", f"instances/{MISSING}", language="zh-CN")
    code_en, en = await api("GET", f"instances/{MISSING}")
    assert code == code_en == 404
    assert zh["code"] == en["code"] == "ModelArts.6309"
    assert en["message"].startswith("The instance does not exist (any more): ")
    assert zh["message"].startswith("实例不存在（或已不存在）：")
    # the cloud's own error_msg follows ours, as the cloud sent it
    upstream = en["message"].split(": ", 1)[1]
    assert upstream and zh["message"].endswith(upstream)


async def test_the_switch_guard_speaks_the_panels_language(api):
    code, inst = await api("POST", "open", {})
    assert code == 200, inst
    deadline = time.monotonic() + 20
    while inst["status"] != "RUNNING" and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        _, inst = await api("GET", f"instances/{inst['id']}")
    code, images = await api("GET", "images", category="GPU")
    other = images["images"][0]
    code, zh = await api("POST", "open", {"image_id": other["id"]}, language="zh-CN,zh;q=0.9")
    assert code == 409
    assert "切换到该镜像并重启" in zh["message"] and other["name"] in zh["message"]
    assert zh["instance"]["id"] == inst["id"]
    code, en = await api("POST", "open", {"image_id": other["id"]})
    assert code == 409 and "switches it to that image and restarts it" in en["message"]


async def test_event_stream_errors_follow_each_subscribers_language(
    api, jp_http_port, jp_base_url, jp_auth_header
):
    """One poller for both viewers; each gets the error event in its own language."""
    path = f"{jp_base_url}{NAMESPACE}/instances/{MISSING}/events"
    zh = await SSEStream(jp_http_port, f"{path}?lang=zh-CN", jp_auth_header).open()
    en = await SSEStream(jp_http_port, path, {**jp_auth_header, "Accept-Language": "en-US"}).open()
    try:
        (zh_event, zh_data), (en_event, en_data) = await asyncio.gather(zh.next_event(), en.next_event())
    finally:
        await zh.close()
        await en.close()
    assert zh_event == en_event == "upstream-error"
    assert zh_data["status"] == en_data["status"] == 404
    assert zh_data["message"].startswith("实例不存在")
    assert en_data["message"].startswith("The instance does not exist")


# ------------------------------------------------------------------------------------ CLI


def _env(tmp_path: Path, lang: str) -> dict[str, str]:
    # LC_ALL would win over LANG: leave it out, as a Chinese desktop session does
    return cli_env(tmp_path / "home", "http://127.0.0.1:9", LC_ALL=None, LANGUAGE=None, LANG=lang)


def test_jupyter_codelab_help_in_chinese(tmp_path):
    jupyter = Path(sys.executable).parent / "jupyter"
    result = subprocess.run(
        [str(jupyter), "codelab", "--help"],
        env=_env(tmp_path, "zh_CN.UTF-8"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("用法：jupyter codelab")
    for text in (
        "在终端中打开和管理您的免费华为云 ModelArts CodeLab",
        "显示此帮助并退出",
        "全局选项",
        "退出码：",
    ):
        assert text in out
    assert "列出您的 CodeLab 实例" in out  # the verbs
    assert "show this help" not in out and "exit codes" not in out
    english = run_cli(_env(tmp_path, "en_US.UTF-8"), "--help")
    assert english.stdout.startswith("usage: jupyter codelab") and "show this help and exit" in english.stdout


def test_a_cli_error_in_chinese_and_in_english(tmp_path):
    zh = run_cli(_env(tmp_path, "zh_CN.UTF-8"), "list")
    assert zh.returncode == 2
    assert zh.stderr == (
        "错误：未配置华为云凭证。请在 CodeLab 面板中登录、运行“jupyter codelab login”，"
        "或设置 HUAWEICLOUD_SDK_AK 和 HUAWEICLOUD_SDK_SK。\n"
    )
    en = run_cli(_env(tmp_path, "en_US.UTF-8"), "list")
    assert en.returncode == 2
    assert en.stderr.startswith("error: No Huawei Cloud credentials are configured")
    # a wrong command line: our words in Chinese around argparse's
    usage = run_cli(_env(tmp_path, "zh_CN.UTF-8"), "extend", "i-1", "--hours", "100")
    assert usage.returncode in (1, 64)
    assert "--hours 必须在 1 到 72 之间" in usage.stderr


def test_language_variable_and_c_locale(tmp_path):
    env = _env(tmp_path, "en_US.UTF-8")
    env["LANGUAGE"] = "zh_CN:en"
    assert "未配置华为云凭证" in run_cli(env, "list").stderr
    env = _env(tmp_path, "C.UTF-8")
    env["LANGUAGE"] = "zh_CN"  # ignored in the C locale, as GNU gettext does
    assert "No Huawei Cloud credentials" in run_cli(env, "list").stderr


# ------------------------------------------------------------------ CLI: no English label left in Chinese

#: words that are names, not labels: products, services, commands, architectures
NAMES = {"CodeLab", "ModelArts", "SSH", "ID", "URL", "CPU", "GPU", "Ascend", "ssh", "jupyter", "codelab"}


def english_left(text: str) -> set[str]:
    """The English words of ``text`` once values (ids, URLs, image names, flavors, commands, options,
    quoted input) and names are taken out: what a Chinese reader would still meet in English."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)  # the terminal display's escape sequences
    text = re.sub(r"https?://\S+", " ", text)
    text = re.sub(r"(?<=[A-Za-z]):(?=\s|$)", " ", text, flags=re.M)  # a label's colon: keep the label
    text = re.sub(r"jupyter codelab [\w-]+", " ", text)  # a command to run
    text = re.sub(r"'[^']*'|“[^”]*”", " ", text)  # quoted input and commands
    # values: anything holding a digit or one of . - _ : / @ = ~ (ids, images, flavors, options, paths)
    text = re.sub(r"\S*[\d.\-_:/@=~]\S*", " ", text)
    return {word for word in re.findall(r"[A-Za-z]{2,}", text) if word not in NAMES}


def test_argparse_errors_and_usage_in_chinese(tmp_path):
    zh_env, en_env = _env(tmp_path, "zh_CN.UTF-8"), _env(tmp_path, "en_US.UTF-8")
    for argv in (
        ["show"],  # the following arguments are required
        ["bogus"],  # invalid choice
        ["open", "--max-wait"],  # expected one argument
        ["list", "--nope"],  # unrecognized arguments
        ["open", "--max-wait", "soon"],  # our own type check, inside argparse's "argument ...:"
    ):
        zh = run_cli(zh_env, *argv)
        assert zh.returncode == 64, (argv, zh.stderr)
        assert zh.stderr.startswith("错误："), zh.stderr
        assert english_left(zh.stderr) == set(), (argv, zh.stderr)
        en = run_cli(en_env, *argv)
        # the same check finds the English words in English
        assert en.stderr.startswith("error: ") and english_left(en.stderr), en.stderr
    required = run_cli(zh_env, "show").stderr
    assert "缺少以下必需参数：ID" in required
    usage = run_cli(zh_env, "show", "--help").stdout  # metavars (ID, REGION, ...) are placeholders
    assert usage.startswith("用法：jupyter codelab show") and "usage:" not in usage


def test_the_cli_displays_in_chinese_leave_no_english_label(tmp_path, emulator):
    zh_env = _env(tmp_path, "zh_CN.UTF-8")
    en_env = _env(tmp_path, "en_US.UTF-8")
    for env in (zh_env, en_env):
        env.update(
            CODELAB_MODELARTS_ENDPOINT=emulator.url,
            CODELAB_IAM_ENDPOINT=emulator.url,
            HUAWEICLOUD_SDK_AK="CODELABEMULATORDEMO1",
            HUAWEICLOUD_SDK_SK="codelabEmulatorDemoSecretKey000000000000",
        )

    opened = run_cli(zh_env, "open", "--max-wait", "300", timeout=360)  # the plain (pipe) display
    assert opened.returncode == 0, opened.stderr
    assert "[1/4] 存储: " in opened.stdout and "[4/4] 实例初始化: 已完成" in opened.stdout
    assert "状态：运行中" in opened.stdout
    iid = emulator.instances()[0]["id"]
    outputs = {
        "open": opened.stdout + opened.stderr,
        "images": run_cli(zh_env, "images").stdout,
        "list": run_cli(zh_env, "list").stdout,
        "show": run_cli(zh_env, "show", iid).stdout,
    }
    assert outputs["images"].splitlines()[0].split() == ["名称", "标签", "架构", "类型", "SSH", "ID"]
    assert outputs["list"].splitlines()[0].split() == ["ID", "状态", "镜像", "规格", "运行时长"]
    labels = [line.split(":", 1)[0] for line in outputs["show"].splitlines()]
    assert labels[:7] == ["ID", "名称", "状态", "镜像", "规格", "URL", "运行时长"], labels
    assert "状态:        运行中" in outputs["show"]

    # the terminal display, redrawn in place: stop the instance and open it again on a pseudo-terminal
    stopped = run_cli(zh_env, "stop", iid, "--yes")
    assert stopped.returncode == 0, stopped.stderr
    outputs["stop"] = stopped.stdout + stopped.stderr
    code, raw = run_in_pty(zh_env, "open", "--max-wait", "300", timeout=360)
    assert code == 0, raw[-2000:]
    outputs["open (terminal)"] = raw.decode("utf-8", "replace")
    assert "正在打开 CodeLab" in outputs["open (terminal)"] and "实例初始化" in outputs["open (terminal)"]

    for name, text in outputs.items():
        assert english_left(text) == set(), (name, english_left(text), text)
    # the same outputs in English are full of labels the check finds
    english = run_cli(en_env, "show", iid).stdout + run_cli(en_env, "images").stdout
    assert {"NAME", "TAG", "ARCH", "name", "status", "lease", "storage", "RUNNING"} <= english_left(english)

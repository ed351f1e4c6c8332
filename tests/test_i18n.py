"""Translations: the message mechanism (codelab_ext.i18n), the catalogue JupyterLab serves to the panel,
and the REST API answering in the panel's language."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest

from codelab_ext import NAMESPACE, i18n
from codelab_ext.errors import ValidationError, add_credentials_hint
from codelab_ext.i18n import Message, env_language, localize, negotiate, normalize, tr, tr_n, use_language

from .support.server_config import codelab_server_config, isolate_environment, offline_codelab

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ZH = "zh_CN"
REPO = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------ messages


def test_a_message_is_its_english_text_until_rendered():
    message = tr("Query parameter '{name}' given more than once.", name="arch")
    assert isinstance(message, str)
    assert message == "Query parameter 'arch' given more than once."
    assert json.dumps({"m": message}) == json.dumps({"m": "Query parameter 'arch' given more than once."})
    assert str(message) == message  # outside use_language: English (the server's log)


def test_parameters_go_in_after_translation():
    message = tr("Query parameter '{name}' given more than once.", name="arch")
    assert message.render(ZH) == "查询参数“arch”出现了多次。"
    assert message.render(None) == "Query parameter 'arch' given more than once."
    # the parameter is data: never looked up in the catalogue, even when it is a known msgid
    assert tr("Unknown query parameter '{name}'.", name="Retry").render(ZH) == "未知的查询参数“Retry”。"


def test_nested_messages_render_in_the_same_language_and_foreign_text_stays():
    inner = tr("Unknown query parameter '{name}'.", name="x")
    outer = tr("{message} (credentials from {source})", message=inner, source="environment")
    assert outer == "Unknown query parameter 'x'. (credentials from environment)"
    assert outer.render(ZH) == "未知的查询参数“x”。（凭证来源：environment）"
    # a plain str parameter (e.g. Huawei Cloud's own error_msg) is never translated
    upstream = "Flavor sold out"
    assert (
        tr("{message} (credentials from {source})", message=upstream, source="x")
        .render(ZH)
        .startswith(upstream)
    )


def test_str_follows_use_language_and_restores_it():
    message = tr("Unknown query parameter '{name}'.", name="x")
    with use_language(ZH):
        assert str(message) == "未知的查询参数“x”。"
        assert f"error: {message}" == "error: 未知的查询参数“x”。"
        with use_language(None):
            assert str(message) == "Unknown query parameter 'x'."
    assert str(message) == "Unknown query parameter 'x'."
    assert i18n.current_language() is None


def test_an_unknown_msgid_and_a_broken_translation_fall_back_to_english(monkeypatch):
    assert tr("Not in any catalogue: {x}", x=1).render(ZH) == "Not in any catalogue: 1"

    class Broken:
        def gettext(self, msgid):
            return "坏的 {nope}"

    monkeypatch.setattr(i18n, "_translations", lambda language: Broken())
    assert tr("Unknown query parameter '{name}'.", name="x").render(ZH) == "Unknown query parameter 'x'."


def test_plural_messages_choose_the_form_and_survive_pickling():
    one = tr_n("{n} image", "{n} images", 1)
    many = tr_n("{n} image", "{n} images", 3)
    assert (one, many) == ("1 image", "3 images")
    copy = pickle.loads(pickle.dumps(tr("Unknown query parameter '{name}'.", name="x")))  # noqa: S301 (our own bytes)
    assert isinstance(copy, Message) and copy.render(ZH) == "未知的查询参数“x”。"


def test_localize_renders_messages_anywhere_in_a_json_body():
    body = {
        "message": tr("Unknown query parameter '{name}'.", name="x"),
        "list": [tr("Internal error in codelab_ext; see the Jupyter server log.")],
        "n": 3,
    }
    out = localize(body, ZH)
    assert out == {
        "message": "未知的查询参数“x”。",
        "list": ["codelab_ext 内部错误；请查看 Jupyter 服务器日志。"],
        "n": 3,
    }
    assert type(out["message"]) is str


def test_the_credentials_hint_is_translated_with_the_message():
    exc = ValidationError(tr("Unknown query parameter '{name}'.", name="x"))
    exc.status = 401

    class Creds:
        source = "environment"
        masked_key = "AKAB****WXYZ"

    add_credentials_hint(exc, Creds())
    add_credentials_hint(exc, Creds())  # once only
    assert exc.message == "Unknown query parameter 'x'. (credentials from environment, key AKAB****WXYZ)"
    assert exc.message.render(ZH) == "未知的查询参数“x”。（凭证来源：环境变量，密钥 AKAB****WXYZ）"


# ------------------------------------------------------------------------------------ languages


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN", ZH),
        ("zh-CN,zh;q=0.9,en;q=0.8", ZH),
        ("zh", ZH),
        ("zh-Hans-CN", ZH),
        ("zh_CN", ZH),
        ("en-US,en;q=0.9,zh-CN;q=0.8", None),
        ("en", None),
        ("fr-FR, zh-CN;q=0.5", ZH),  # no French catalogue: the next language the reader reads
        ("zh-TW", None),  # traditional characters: not the simplified catalogue
        ("zh-CN;q=0", None),
        ("", None),
        (None, None),
        ("*", None),
        ("zh-CN;q=abc", None),
    ],
)
def test_accept_language_negotiation(header, expected):
    assert negotiate(header) == expected


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"LANG": "zh_CN.UTF-8"}, ZH),
        ({"LANG": "en_US.UTF-8"}, None),
        ({"LANG": "C.UTF-8"}, None),
        ({}, None),
        ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "zh_CN.UTF-8"}, ZH),
        ({"LC_ALL": "en_US.UTF-8", "LC_MESSAGES": "zh_CN.UTF-8"}, None),
        ({"LANG": "en_US.UTF-8", "LANGUAGE": "zh_CN:en"}, ZH),
        ({"LANG": "C", "LANGUAGE": "zh_CN"}, None),  # GNU gettext ignores LANGUAGE in the C locale
        ({"LANG": "zh_CN.UTF-8", "LANGUAGE": "en"}, None),
        ({"LANG": "zh_SG.UTF-8"}, ZH),
    ],
)
def test_terminal_language(env, expected):
    assert env_language(env) == expected


def test_the_package_ships_a_compiled_catalogue():
    assert ZH in i18n.available()
    assert (i18n.LOCALE_DIR / ZH / "LC_MESSAGES" / "codelab_ext.mo").is_file()
    assert normalize("ZH-cn") == ZH


# ------------------------------------------------------------------------------------ server


@pytest.fixture
def jp_server_config(tmp_path, monkeypatch):
    isolate_environment(monkeypatch, tmp_path)
    config = codelab_server_config(**offline_codelab(tmp_path))
    config["ServerApp"]["jpserver_extensions"]["jupyterlab"] = True
    # the settings schema as the labextension ships it (a build copies schema/*.json as they are)
    schemas = tmp_path / "labextensions" / "codelab-ext" / "schemas" / "codelab-ext"
    schemas.mkdir(parents=True)
    shutil.copy(REPO / "schema" / "plugin.json", schemas / "plugin.json")
    config["LabApp"] = {
        "user_settings_dir": str(tmp_path / "user-settings"),
        "extra_labextensions_path": [str(tmp_path / "labextensions")],
    }
    return config


async def test_jupyterlab_serves_the_codelab_ext_domain_with_the_language_pack(jp_fetch):
    """The `jupyterlab.locale` entry point: /lab/api/translations/zh_CN holds our strings."""
    response = await jp_fetch("lab", "api", "translations", ZH)
    data = json.loads(response.body)["data"]
    assert "jupyterlab" in data, "jupyterlab-language-pack-zh-CN is not installed"
    domain = data["codelab_ext"]
    assert domain[""]["domain"] == "codelab_ext"
    assert domain[""]["language"] == "zh-CN"
    assert domain["Open CodeLab"] == ["打开 CodeLab"]
    assert domain["Step %1 of 4: %2"] == ["第 %1/4 步：%2"]
    assert domain["settings\x04Default image"] == ["默认镜像"]
    # the panel's catalogue holds the panel's strings only (the server's are in the .mo)
    assert "Internal error in codelab_ext; see the Jupyter server log." not in domain


async def test_a_rest_error_follows_accept_language(jp_fetch):
    async def refusal(headers, **params):
        response = await jp_fetch(
            NAMESPACE,
            "instances",
            "abc",
            "ssh-config",
            params={"bogus": "1", **params},
            headers=headers,
            raise_error=False,
        )
        assert response.code == 400
        return json.loads(response.body)["message"]

    assert await refusal({"Accept-Language": "zh-CN,zh;q=0.9"}) == "未知的查询参数“bogus”。"
    assert await refusal({}) == "Unknown query parameter 'bogus'."
    assert (
        await refusal({"Accept-Language": "en-US,en;q=0.9,zh-CN;q=0.8"}) == "Unknown query parameter 'bogus'."
    )
    # ?lang= (what the panel's EventSource sends) wins over the header and is not an unknown parameter
    assert await refusal({"Accept-Language": "en"}, lang="zh-CN") == "未知的查询参数“bogus”。"


async def test_the_settings_editor_shows_our_schema_in_the_users_language(jp_fetch, jp_server_config):
    """JupyterLab translates a schema on the server, in the domain it names: ours, from our own .mo."""
    settings_dir = jp_server_config["LabApp"]["user_settings_dir"]

    async def schema() -> dict:
        response = await jp_fetch("lab", "api", "settings", "codelab-ext:plugin")
        return json.loads(response.body)["schema"]

    english = await schema()
    assert english["jupyter.lab.internationalization"]["domain"] == "codelab_ext"
    assert english["description"] == "Settings of the ModelArts CodeLab sidebar."

    chosen = Path(settings_dir) / "@jupyterlab" / "translation-extension" / "plugin.jupyterlab-settings"
    chosen.parent.mkdir(parents=True)
    chosen.write_text(json.dumps({"locale": ZH}), encoding="utf-8")
    try:
        chinese = await schema()
        assert chinese["description"] == "ModelArts CodeLab 侧边栏的设置。"
        titles = {name: spec["title"] for name, spec in chinese["properties"].items()}
        assert titles["defaultImage"] == "默认镜像"
        assert titles["warningMinutes"] == "运行时长提醒（分钟）"
        for name, spec in chinese["properties"].items():
            for key in ("title", "description"):
                assert spec[key] != english["properties"][name][key], f"{name}.{key} left in English"
        # JupyterLab's own schemas still come from its language pack. (Its listing, GET lab/api/settings,
        # leaves every extension's schema untranslated; the settings registry then fetches each plugin
        # on its own, as above: the settings editor shows that one.)
        response = await jp_fetch("lab", "api", "settings", "@jupyterlab/translation-extension:plugin")
        theirs = json.loads(response.body)["schema"]["description"]
        assert theirs != "Language settings.", "JupyterLab's own schema lost its translation"
    finally:
        chosen.unlink()
    assert (await schema())["description"] == english["description"]

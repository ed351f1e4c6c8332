"""Every CodeLab setting has help text, an environment default where documented, and sane validation."""

from __future__ import annotations

import pytest
from traitlets import TraitError

from codelab_ext.config import CodeLab

ENV = (
    "CODELAB_REGION",
    "CODELAB_MODELARTS_ENDPOINT",
    "CODELAB_IAM_ENDPOINT",
    "HUAWEICLOUD_SDK_PROJECT_ID",
    "CODELAB_CREDENTIALS_FILE",
    "CODELAB_EMULATOR",
    "CODELAB_EMULATOR_SPEED",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))


def test_defaults():
    c = CodeLab()
    assert c.region == "cn-north-4"
    assert c.modelarts_endpoint == "https://modelarts.cn-north-4.myhuaweicloud.com"
    assert c.iam_endpoint == "https://iam.cn-north-4.myhuaweicloud.com"
    assert c.project_id == ""
    assert c.credentials_file.endswith("codelab/credentials.json")
    assert c.request_timeout == 30.0
    assert c.emulator is False


def test_environment(monkeypatch):
    monkeypatch.setenv("CODELAB_REGION", "ap-southeast-1")
    monkeypatch.setenv("HUAWEICLOUD_SDK_PROJECT_ID", "0123456789abcdef")
    monkeypatch.setenv("CODELAB_EMULATOR", "1")
    monkeypatch.setenv("CODELAB_CREDENTIALS_FILE", "/tmp/x.json")
    c = CodeLab()
    assert c.modelarts_endpoint == "https://modelarts.ap-southeast-1.myhuaweicloud.cn"
    assert c.project_id == "0123456789abcdef"
    assert c.emulator is True
    assert c.credentials_file == "/tmp/x.json"
    monkeypatch.setenv("CODELAB_MODELARTS_ENDPOINT", "http://127.0.0.1:8765/")
    assert CodeLab().modelarts_endpoint == "http://127.0.0.1:8765"


def test_every_trait_is_configurable_and_documented():
    for name, trait in CodeLab.class_traits(config=True).items():
        assert len(trait.help) > 20, name


def test_validation():
    with pytest.raises(TraitError):
        CodeLab(modelarts_endpoint="ftp://example.org")
    with pytest.raises(TraitError):
        CodeLab(request_timeout=0)


def test_endpoints_follow_the_credentials_region_unless_set_by_the_user():
    c = CodeLab()
    assert c.endpoints_for("cn-east-3") == (
        "https://modelarts.cn-east-3.myhuaweicloud.com",
        "https://iam.cn-east-3.myhuaweicloud.com",
    )
    custom = CodeLab(modelarts_endpoint="http://127.0.0.1:1", iam_endpoint="http://127.0.0.1:2")
    assert custom.endpoints_for("cn-east-3") == ("http://127.0.0.1:1", "http://127.0.0.1:2")


def test_clients_follow_the_region_of_the_credentials_or_an_explicit_one():
    from codelab_ext.credentials import Credentials
    from codelab_ext.modelarts import ModelArtsClient

    creds = Credentials(
        source="test", access_key="AKIDEXAMPLE1", secret_key="secret-value", region="cn-east-3"
    )
    with ModelArtsClient.from_config(CodeLab(), creds) as client:
        assert client.region == "cn-east-3"
        assert client.modelarts_endpoint == "https://modelarts.cn-east-3.myhuaweicloud.com"
        assert client.iam_endpoint == "https://iam.cn-east-3.myhuaweicloud.com"
    with ModelArtsClient.from_config(CodeLab(), creds, region="ap-southeast-1") as client:
        assert client.modelarts_endpoint == "https://modelarts.ap-southeast-1.myhuaweicloud.cn"
    pinned = CodeLab(modelarts_endpoint="http://127.0.0.1:1", iam_endpoint="http://127.0.0.1:2")
    with ModelArtsClient.from_config(pinned, creds) as client:
        assert (client.modelarts_endpoint, client.iam_endpoint) == (
            "http://127.0.0.1:1",
            "http://127.0.0.1:2",
        )

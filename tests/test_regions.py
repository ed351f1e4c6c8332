"""The region table is the SDK's: ModelArts endpoints, IAM endpoints and the SDK's IAM fallback rules."""

from __future__ import annotations

import pytest

from codelab_ext import regions
from codelab_ext.config import CodeLab
from codelab_ext.credentials import Credentials, resolve_credentials
from codelab_ext.errors import ValidationError
from codelab_ext.modelarts import ModelArtsClient

from .support.sdk import sdk

ENV = (
    "CODELAB_REGION",
    "CODELAB_MODELARTS_ENDPOINT",
    "CODELAB_IAM_ENDPOINT",
    "HUAWEICLOUD_SDK_IAM_ENDPOINT",
    "HUAWEICLOUD_SDK_AK",
    "HUAWEICLOUD_SDK_SK",
    "HUAWEICLOUD_SDK_SECURITY_TOKEN",
    "HUAWEICLOUD_SDK_PROJECT_ID",
    "HUAWEICLOUD_SDK_CREDENTIALS_FILE",
    "CODELAB_IAM_USER",
    "CODELAB_IAM_PASSWORD",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def sdk_modelarts_table() -> dict[str, str]:
    region_module = sdk("huaweicloudsdkmodelarts.v1.region.modelarts_region")
    table = {}
    for region_id, region in region_module.ModelArtsRegion.static_fields.items():
        assert region.id == region_id
        (endpoint,) = region.endpoints
        table[region_id] = endpoint
    return table


def sdk_iam_table() -> dict[str, str]:
    # a module-level "__" name is not mangled: it is reachable by its plain name
    return dict(vars(sdk("huaweicloudsdkcore.auth.endpoint"))["__IAM_ENDPOINT_DICT"])


def test_modelarts_table_is_the_sdks():
    table = sdk_modelarts_table()
    assert dict(regions.MODELARTS_ENDPOINTS) == table
    assert len(table) == 22
    assert list(regions.MODELARTS_ENDPOINTS) == list(table)  # same order too: easy to diff by eye
    assert regions.KNOWN_REGIONS == tuple(sorted(table))


def test_iam_table_is_the_sdks():
    assert dict(regions.IAM_ENDPOINTS) == sdk_iam_table()
    helper = sdk("huaweicloudsdkcore.auth.internal").IamHelper
    assert regions.DEFAULT_IAM_ENDPOINT == helper.DEFAULT_ENDPOINT
    assert regions.ENV_IAM_ENDPOINT == helper.IAM_ENDPOINT_ENV_NAME


def test_every_region_gets_the_iam_endpoint_the_sdk_picks(monkeypatch):
    helper = sdk("huaweicloudsdkcore.auth.internal").IamHelper
    probe = [*regions.MODELARTS_ENDPOINTS, *regions.IAM_ENDPOINTS, "xx-nowhere-1"]
    for region in probe:
        assert regions.default_iam_endpoint(region) == helper.get_iam_endpoint(region), region
        assert CodeLab(region=region).iam_endpoint == helper.get_iam_endpoint(region), region
        assert CodeLab(region=region).modelarts_endpoint == regions.default_modelarts_endpoint(region)
    monkeypatch.setenv("HUAWEICLOUD_SDK_IAM_ENDPOINT", "https://iam.example.test")
    for region in probe:
        assert (
            regions.default_iam_endpoint(region)
            == helper.get_iam_endpoint(region)
            == "https://iam.example.test"
        )
        assert CodeLab(region=region).iam_endpoint == "https://iam.example.test"


def test_the_four_regions_the_old_rule_got_wrong():
    assert CodeLab(region="ap-southeast-1").iam_endpoint == "https://iam.ap-southeast-1.myhuaweicloud.com"
    assert CodeLab(region="ap-southeast-1").modelarts_endpoint == (
        "https://modelarts.ap-southeast-1.myhuaweicloud.cn"
    )
    for region in ("af-north-1", "cn-southwest-3", "cn-north-11"):
        assert region in regions.MODELARTS_ENDPOINTS
        assert CodeLab(region=region).iam_endpoint == "https://iam.myhuaweicloud.com"
        # credentials of that region (configured region elsewhere) reach the same endpoints
        assert CodeLab().endpoints_for(region) == (
            regions.MODELARTS_ENDPOINTS[region],
            "https://iam.myhuaweicloud.com",
        )


def test_environment_and_explicit_settings(monkeypatch):
    monkeypatch.setenv("HUAWEICLOUD_SDK_IAM_ENDPOINT", "https://iam.proxy.test/")
    assert CodeLab().endpoints_for("cn-east-3")[1] == "https://iam.proxy.test"
    # codelab's own setting wins over the SDK's environment variable
    monkeypatch.setenv("CODELAB_IAM_ENDPOINT", "http://127.0.0.1:9")
    assert CodeLab().endpoints_for("cn-east-3")[1] == "http://127.0.0.1:9"


def write_profile(tmp_path, iam_endpoint: str | None) -> None:
    folder = tmp_path / "home" / ".huaweicloud"
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["[basic]", "ak = AKPROFILEEXAMPLE01", "sk = sk-profile-secret", "region = af-north-1"]
    if iam_endpoint:
        lines.append(f"iam_endpoint = {iam_endpoint}")
    (folder / "credentials").write_text("\n".join(lines) + "\n")


def test_the_sdk_profiles_iam_endpoint_is_honoured_like_the_sdk(tmp_path, monkeypatch):
    write_profile(tmp_path, "https://iam.profile.test")
    provider = sdk("huaweicloudsdkcore.auth.provider").ProfileCredentialProvider
    monkeypatch.setenv(
        "HUAWEICLOUD_SDK_CREDENTIALS_FILE", str(tmp_path / "home" / ".huaweicloud" / "credentials")
    )
    theirs = provider.get_basic().get_credentials()
    monkeypatch.delenv("HUAWEICLOUD_SDK_CREDENTIALS_FILE")
    ours = resolve_credentials(str(tmp_path / "data" / "none.json"), home=tmp_path / "home", environ={})
    assert ours is not None and ours.source == "sdk-profile"
    assert ours.iam_endpoint == theirs.iam_endpoint == "https://iam.profile.test"
    client = ModelArtsClient.from_config(CodeLab(), ours)
    try:
        assert client.region == "af-north-1"
        assert client.iam_endpoint == "https://iam.profile.test"
        assert client.modelarts_endpoint == "https://modelarts.af-north-1.myhuaweicloud.com"
    finally:
        client.close()
    # the profile's endpoint wins over HUAWEICLOUD_SDK_IAM_ENDPOINT, as in BasicCredentials
    monkeypatch.setenv("HUAWEICLOUD_SDK_IAM_ENDPOINT", "https://iam.env.test")
    assert CodeLab().endpoints_for("af-north-1", ours.iam_endpoint)[1] == "https://iam.profile.test"
    # without one in the profile: the environment, then the table's fallback
    write_profile(tmp_path, None)
    plain = resolve_credentials(str(tmp_path / "data" / "none.json"), home=tmp_path / "home", environ={})
    assert plain is not None and plain.iam_endpoint is None
    assert CodeLab().endpoints_for("af-north-1", plain.iam_endpoint)[1] == "https://iam.env.test"
    monkeypatch.delenv("HUAWEICLOUD_SDK_IAM_ENDPOINT")
    assert CodeLab().endpoints_for("af-north-1", plain.iam_endpoint)[1] == "https://iam.myhuaweicloud.com"


def test_unknown_region_is_a_400_naming_the_known_regions():
    with pytest.raises(ValidationError) as caught:
        regions.check_region("cn-nort-4")
    error = caught.value
    assert error.status == 400 and error.field == "region"
    assert "'cn-nort-4'" in error.message
    for region in regions.KNOWN_REGIONS:
        assert region in error.message
    assert regions.check_region("af-north-1") == "af-north-1"
    # the region the server is configured for is known by definition (a private endpoint's region)
    assert regions.check_region("my-private-1", configured="my-private-1") == "my-private-1"
    assert "my-private-1" in regions.known_regions(["my-private-1"])


def test_a_client_for_an_unknown_region_is_refused_before_anything_is_sent():
    creds = Credentials(
        source="test", access_key="AKIDEXAMPLE1", secret_key="secret-value", region="eu-nowhere-9"
    )
    with pytest.raises(ValidationError) as caught:
        ModelArtsClient.from_config(CodeLab(), creds)
    assert "cn-north-4" in caught.value.message
    ModelArtsClient.from_config(CodeLab(region="eu-nowhere-9"), creds).close()  # the configured one


def test_the_emulator_has_a_project_in_every_known_region():
    from codelab_ext.emulator import DEMO_ACCOUNT, DEMO_REGION, DEMO_REGIONS

    assert DEMO_REGIONS[0] == DEMO_REGION
    assert sorted(DEMO_REGIONS) == list(regions.KNOWN_REGIONS)
    assert set(DEMO_ACCOUNT.projects) == set(regions.KNOWN_REGIONS)

"""Input validation shared by the REST API and the CLI: clean values or a message naming the field."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codelab_ext.errors import ValidationError
from codelab_ext.share_url import validate_share_url
from codelab_ext.validation import (
    MAX_LEASE_MS,
    MIN_LEASE_MS,
    parse_json_object,
    validate_credentials,
    validate_id,
    validate_image_filters,
    validate_lease,
    validate_open,
)


def test_parse_json_object_accepts_objects_and_empty_bodies():
    assert parse_json_object(b'{"a": 1}') == {"a": 1}
    assert parse_json_object(b"") == {}
    with pytest.raises(ValidationError, match="required"):
        parse_json_object(b"", allow_empty=False)


@pytest.mark.parametrize("body", [b"[1]", b'"x"', b"nul", b"{", b"\xff\xfe", b"1" * 70000, b"[" * 5000])
def test_parse_json_object_refuses_non_objects(body):
    with pytest.raises(ValidationError) as info:
        parse_json_object(body)
    assert info.value.status == 400


def test_open_defaults_and_fields():
    assert validate_open({}) == (None, None, False)
    # a blank image_id is a missing one: the default image (opening.plan_open names it)
    assert validate_open({"image_id": ""}) == (None, None, False)
    assert validate_open({"image_id": "  "}) == (None, None, False)
    assert validate_open({"image_id": "abc-123", "switch": True}) == ("abc-123", None, True)
    image, url, switch = validate_open({"share_url": " https://example.org/a.ipynb "})
    assert url == "https://example.org/a.ipynb" and image is None and switch is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"image": "x"}, "image"),
        ({"image_id": 5}, "image_id"),
        ({"image_id": "../etc/passwd"}, "image_id"),
        ({"image_id": "a b"}, "image_id"),
        ({"switch": "yes"}, "switch"),
        ({"switch": 1}, "switch"),
        ({"share_url": "javascript:alert(1)"}, "share_url"),
        ({"share_url": "file:///etc/passwd"}, "share_url"),
        ({"share_url": "data:text/plain,hi"}, "share_url"),
        ({"share_url": "https://user:pw@example.org/a.ipynb"}, "share_url"),
        ({"share_url": "https://token@example.org/a.ipynb"}, "share_url"),
        ({"share_url": "https://example.org/a b.ipynb"}, "share_url"),
        ({"share_url": "https://example.org/\na.ipynb"}, "share_url"),
        ({"share_url": "https:///a.ipynb"}, "share_url"),
        ({"share_url": "https://example.org:99999/a.ipynb"}, "share_url"),
        ({"share_url": "https://example.org/" + "a" * 2100}, "share_url"),
    ],
)
def test_open_refuses_bad_input_naming_the_field(body, field):
    with pytest.raises(ValidationError) as info:
        validate_open(body)
    assert info.value.field == field
    assert field in info.value.message


def test_share_url_keeps_valid_urls():
    url = "https://github.com/mindspore-ai/docs/blob/master/a%20b.ipynb?x=1#frag"
    assert validate_share_url(url) == url


@given(st.text(max_size=200))
def test_share_url_never_accepts_non_http(text):
    try:
        out = validate_share_url(text)
    except ValidationError:
        return
    assert out.lower().startswith(("http://", "https://"))
    assert not any(ch.isspace() for ch in out)


def test_lease_bounds():
    assert validate_lease({"duration_ms": MIN_LEASE_MS}) == (MIN_LEASE_MS, False)
    assert validate_lease({"duration_ms": float(MAX_LEASE_MS)}) == (MAX_LEASE_MS, False)
    assert validate_lease({"duration_ms": MIN_LEASE_MS, "shorten": True}) == (MIN_LEASE_MS, True)
    with pytest.raises(ValidationError) as info:
        validate_lease({"duration_ms": MIN_LEASE_MS, "shorten": "yes"})
    assert info.value.field == "shorten"
    for bad in (MIN_LEASE_MS - 1, MAX_LEASE_MS + 1, True, "3600000", 3.6e6 + 0.5, float("nan"), None):
        with pytest.raises(ValidationError) as info:
            validate_lease({"duration_ms": bad})
        assert info.value.field == "duration_ms"
    with pytest.raises(ValidationError, match="Unknown field 'hours'"):
        validate_lease({"duration_ms": MIN_LEASE_MS, "hours": 1})


def test_credentials_validation_never_echoes_values():
    ok = validate_credentials(
        {"access_key": "AKIDEXAMPLE12345", "secret_key": "s3cr3t-Value/+=", "region": "cn-east-3"}
    )
    assert ok == {"access_key": "AKIDEXAMPLE12345", "secret_key": "s3cr3t-Value/+=", "region": "cn-east-3"}
    secret = "very secret value\n"
    with pytest.raises(ValidationError) as info:
        validate_credentials({"access_key": "AKIDEXAMPLE12345", "secret_key": secret})
    assert secret.strip() not in info.value.message
    with pytest.raises(ValidationError, match="'access_key' is required"):
        validate_credentials({"secret_key": "abcdefgh12"})
    with pytest.raises(ValidationError) as info:
        validate_credentials(
            {"access_key": "AKIDEXAMPLE12345", "secret_key": "abcdefgh12", "region": "Mars 1"}
        )
    assert info.value.field == "region"


def test_ids_and_image_filters():
    assert validate_id("2f7c3b0e-1a2b-4c5d-8e9f-0123456789ab")
    for bad in ("", ".", "..", "a/b", "a%2Fb", "a" * 129, "-a", None, 3):
        with pytest.raises(ValidationError):
            validate_id(bad)
    assert validate_image_filters({"arch": "X86_64", "category": "gpu", "name": " torch "}) == {
        "arch": "x86_64",
        "category": "GPU",
        "name": "torch",
    }
    for bad in ({"arch": "riscv"}, {"category": "TPU"}, {"type": "PRIVATE"}, {"color": "red"}):
        with pytest.raises(ValidationError):
            validate_image_filters(bad)


# --------------------------------------------------------------------------- share URLs: one rule


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        (
            "https://github.com/u/r/blob/main/a/n.ipynb",
            "https://raw.githubusercontent.com/u/r/main/a/n.ipynb",
        ),
        (
            "https://gist.github.com/alice/0123abcdef#file-demo-ipynb",
            "https://gist.githubusercontent.com/alice/0123abcdef/raw/demo.ipynb",
        ),
        (
            "https://gitlab.com/group/sub/project/-/blob/main/nb/a.ipynb?ref_type=heads",
            "https://gitlab.com/group/sub/project/-/raw/main/nb/a.ipynb",
        ),
        (
            "https://gitee.com/mindspore/docs/blob/r2.2/tutorials/a.ipynb",
            "https://gitee.com/mindspore/docs/raw/r2.2/tutorials/a.ipynb",
        ),
        # the server's rule wins where the panel's copy disagreed: no path, no rewrite
        ("https://github.com/u/r/blob/main", "https://github.com/u/r/blob/main"),
        (
            "https://gitlab.com/group/project/-/tree/main/nb",
            "https://gitlab.com/group/project/-/tree/main/nb",
        ),
        ("https://gitee.com/u/r/blob/main", "https://gitee.com/u/r/blob/main"),
        ("https://example.com/n.ipynb", "https://example.com/n.ipynb"),
    ],
)
def test_normalise_share_url_is_what_open_sends(given, sent):
    from codelab_ext.share_url import normalise_share_url, share_url_preview

    assert normalise_share_url(given) == sent
    # POST open validates with the same function: the REST body carries what would be sent
    assert validate_open({"share_url": given})[1] == sent
    preview = share_url_preview(given)
    assert preview == {
        "share_url": sent,
        "converted": sent != given,
        "looks_like_notebook": sent.endswith(".ipynb"),
    }


@pytest.mark.parametrize(
    "bad",
    ["https://user:pw@github.com/u/r/blob/main/n.ipynb", "https://user@gitlab.com/g/p/-/blob/m/n.ipynb"],
)
def test_share_urls_with_user_info_are_refused_everywhere(bad):
    from codelab_ext.share_url import normalise_share_url, share_url_preview

    for check in (normalise_share_url, share_url_preview, lambda u: validate_open({"share_url": u})):
        with pytest.raises(ValidationError) as info:
            check(bad)
        assert "pw" not in str(info.value) and "user name or password" in str(info.value)

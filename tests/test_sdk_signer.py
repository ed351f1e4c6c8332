"""Our SDK-HMAC-SHA256 signer and the official SDK's (``huaweicloudsdkcore/signer/signer.py``) agree.

Hypothesis generates requests (methods, unicode path segments, repeated and empty query pairs, JSON and
unicode bodies, extra headers, security tokens and project ids); both signers sign the same request with
the same date and must produce the same ``Authorization`` header, which our verifier accepts.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codelab_ext.signing import SDK_SIGNED_HEADERS, parse_authorization, sign_request, verify_signature

from .support.sdk import sdk

AK = "HYPOTHESISACCESSKEY1"
SK = "hypothesis-secret-key-0123456789"
DATE = "20240229T235959Z"
HOST = "modelarts.cn-north-4.myhuaweicloud.com"

_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
_segment = _text.filter(lambda s: s not in ("", ".", ".."))
_header_value = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=16
).filter(lambda s: s.strip())
_body = st.one_of(
    st.just(b""),
    st.dictionaries(_text, st.one_of(_text, st.integers(), st.booleans()), max_size=4).map(
        lambda d: json.dumps(d, ensure_ascii=False).encode("utf-8")
    ),
)


def sdk_authorization(
    method: str,
    path: str,
    pairs: list[tuple[str, str]],
    headers: dict[str, str],
    body: bytes,
    token: str | None,
    project: str | None,
) -> str:
    """The SDK signer's Authorization for the request, with its credentials adding their headers."""
    request_class = sdk("huaweicloudsdkcore.sdk_request").SdkRequest
    credentials = sdk("huaweicloudsdkcore.auth.credentials").BasicCredentials(AK, SK, project)
    if token:
        credentials.with_security_token(token)
    request = request_class(
        method=method,
        schema="https",
        host=HOST,
        resource_path=path,
        query_params=list(pairs),
        header_params=dict(headers),
        body=body,
    )
    signed = credentials.sign_request(request)
    return signed.header_params["Authorization"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["GET", "POST", "PATCH", "PUT", "DELETE"]),
    segments=st.lists(_segment, min_size=1, max_size=4),
    pairs=st.lists(st.tuples(_text.filter(bool), _text), max_size=5),
    body=_body,
    extra=st.dictionaries(
        st.sampled_from(["X-Custom-A", "X-Trace", "X_Underscore"]), _header_value, max_size=2
    ),
    user_agent=st.one_of(st.none(), _header_value),
    token=st.one_of(st.none(), st.text(alphabet="ABCDEFabcdef0123456789+/=", min_size=1, max_size=20)),
    project=st.one_of(st.none(), st.from_regex(r"[0-9a-f]{32}", fullmatch=True)),
)
def test_our_signer_agrees_with_the_sdks(
    method: str,
    segments: list[str],
    pairs: list[tuple[str, str]],
    body: bytes,
    extra: dict[str, str],
    user_agent: str | None,
    token: str | None,
    project: str | None,
) -> None:
    # the path as the SDK builds it (path parameters quoted with safe=''), sent as is
    path = "/v1/" + "/".join(quote(segment, safe="") for segment in segments)
    headers: dict[str, Any] = {"Content-Type": "application/json;charset=UTF-8", "X-Sdk-Date": DATE, **extra}
    if user_agent is not None:
        headers["User-Agent"] = user_agent
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    url = f"https://{HOST}{path}" + (f"?{query}" if query else "")

    theirs = sdk_authorization(method, path, pairs, headers, body, token, project)
    signed_url, ours = sign_request(method, url, headers, body, AK, SK, token, project)
    assert ours["Authorization"] == theirs

    _, names, _ = parse_authorization(theirs)
    assert "x_underscore" not in names  # a name with "_" is never signed, by either signer
    sent = urlsplit(signed_url)
    query_pairs = parse_qsl(sent.query, keep_blank_values=True)
    assert verify_signature(method, sent.path, query_pairs, ours, body, SK)


def test_the_headers_our_client_signs_are_the_ones_the_sdk_client_adds() -> None:
    # what huaweicloudsdkcore's client and credentials put on a ModelArts request before signing
    request_class = sdk("huaweicloudsdkcore.sdk_request").SdkRequest
    credentials = sdk("huaweicloudsdkcore.auth.credentials").BasicCredentials(AK, SK, "0" * 32)
    credentials.with_security_token("TOKEN")
    request = request_class(
        method="GET",
        schema="https",
        host=HOST,
        resource_path="/v1/" + "0" * 32 + "/notebooks",
        query_params=[("feature", "DEFAULT")],
        header_params={"Content-Type": "application/json", "User-Agent": "huaweicloud-usdk-python/3.0"},
        body="",
    )
    _, names, _ = parse_authorization(credentials.sign_request(request).header_params["Authorization"])
    assert set(names) == SDK_SIGNED_HEADERS

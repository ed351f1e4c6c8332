"""SDK-HMAC-SHA256 signing and IAM token authentication (codelab_ext.signing, codelab_ext.iam_token).

The four official test vectors (docs/modelarts-api.md, signing) are reproduced through the pure functions,
through ``sign_request`` and through ``SigningAuth`` on a real ``requests.PreparedRequest``.
Canonicalisation is checked against a small reference written here from the spec text. Everything that
talks HTTP talks to a real server on 127.0.0.1 started by the test.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codelab_ext.errors import AuthError, ThrottledError, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from codelab_ext.iam_token import IamTokenProvider, TokenAuth, parse_expires_at
from codelab_ext.signing import (
    EMPTY_BODY_SHA256,
    SigningAuth,
    canonical_query_string,
    canonical_request,
    canonical_uri,
    compute_signature,
    format_sdk_date,
    parse_authorization,
    sign_request,
    string_to_sign,
    verify_signature,
)

# --------------------------------------------------------------------------------------------------
# The official vectors (docs/modelarts-api.md, signing)
# --------------------------------------------------------------------------------------------------

VECTORS: dict[str, dict[str, Any]] = {
    "A": {
        "ak": "AccessKey",
        "sk": "SecretKey",
        "method": "GET",
        "url": "https://service.endpoint.myhuaweicloud.com/resources?size=1",
        "headers": {"X-Sdk-Date": "20200608T023900Z", "TEST_UNDERSCORE": "TEST_VALUE"},
        "body": b"",
        "token": None,
        "project": None,
        "signed": "host;x-sdk-date",
        "signature": "cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842",
    },
    "B": {
        "ak": "AccessKey",
        "sk": "SecretKey",
        "method": "POST",
        "url": "https://service.endpoint.myhuaweicloud.com/resources?size=1",
        "headers": {"X-Sdk-Date": "20200608T023900Z", "TEST_UNDERSCORE": "TEST_VALUE"},
        "body": b'{"name":"test","id":1}',
        "token": None,
        "project": None,
        "signed": "host;x-sdk-date",
        "signature": "436b1ac0a1ae03705934bb70ef2f2e09f7bfed2117d731a38235053199323a1f",
    },
    "C": {
        "ak": "QTWAOYTTINDUT2QVKYUC",
        "sk": "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc",
        "method": "GET",
        "url": (
            "https://service.region.example.com/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs"
            "?limit=2&marker=13551d6b-755d-4757-b956-536f674975c0"
        ),
        "headers": {"Content-Type": "application/json", "X-Sdk-Date": "20191115T033655Z"},
        "body": b"",
        "token": None,
        "project": None,
        "signed": "content-type;host;x-sdk-date",
        "signature": "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe",
    },
    "D": {
        "ak": "AccessKey",
        "sk": "SecretKey",
        "method": "POST",
        "url": "https://modelarts.cn-north-4.myhuaweicloud.com/v1/pid123/notebooks/open",
        "headers": {"Content-Type": "application/json", "X-Sdk-Date": "20240101T000000Z"},
        "body": b'{"share_url": "aGk="}',
        "token": "TOK",
        "project": "pid123",
        "signed": "content-type;host;x-project-id;x-sdk-date;x-security-token",
        "signature": "7e6d007680e4f4f099264f86b451e6a2b097c20874a6bb4415d5b249e77e6ce8",
    },
}


def expected_authorization(vector: dict[str, Any]) -> str:
    return (
        f"SDK-HMAC-SHA256 Access={vector['ak']}, SignedHeaders={vector['signed']}, "
        f"Signature={vector['signature']}"
    )


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector_through_pure_functions(name: str) -> None:
    v = VECTORS[name]
    parts = urlsplit(v["url"])
    headers = dict(v["headers"], Host=parts.netloc)
    if v["token"]:
        headers["X-Security-Token"] = v["token"]
    if v["project"]:
        headers["X-Project-Id"] = v["project"]

    text, signed = canonical_request(v["method"], parts.path, parse_qsl(parts.query), headers, v["body"])
    signature = compute_signature(v["sk"], string_to_sign(text, v["headers"]["X-Sdk-Date"]))

    assert signed == v["signed"]
    assert signature == v["signature"]
    # the canonical request has the documented six lines, a blank line after the headers
    lines = text.split("\n")
    assert lines[0] == v["method"]
    assert lines[1].endswith("/")
    assert lines[-1] == hashlib.sha256(v["body"]).hexdigest()
    assert lines[-2] == v["signed"]
    assert lines[-3] == ""


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector_through_sign_request(name: str) -> None:
    v = VECTORS[name]
    original = dict(v["headers"])
    url, headers = sign_request(
        v["method"], v["url"], v["headers"], v["body"], v["ak"], v["sk"], v["token"], v["project"]
    )
    assert headers["Authorization"] == expected_authorization(v)
    assert url == v["url"]  # already canonical
    assert headers["X-Sdk-Date"] == v["headers"]["X-Sdk-Date"]  # kept, not replaced by "now"
    assert headers["Host"] == urlsplit(v["url"]).netloc
    assert headers["TEST_UNDERSCORE" if name in "AB" else "Content-Type"]
    assert v["headers"] == original  # the caller's mapping is not modified


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector_through_signing_auth_on_a_prepared_request(name: str) -> None:
    v = VECTORS[name]
    auth = SigningAuth(v["ak"], v["sk"], security_token=v["token"], project_id=v["project"])
    prepared = requests.Request(
        v["method"], v["url"], headers=dict(v["headers"]), data=v["body"] or None, auth=auth
    ).prepare()

    assert isinstance(prepared, requests.PreparedRequest)
    assert prepared.headers["Authorization"] == expected_authorization(v)
    assert prepared.headers["X-Sdk-Date"] == v["headers"]["X-Sdk-Date"]
    assert prepared.headers["Host"] == urlsplit(v["url"]).netloc
    assert prepared.url == v["url"]
    assert (prepared.body or b"") == v["body"]
    if v["body"]:
        # Content-Length is sent but, as a transport header, not signed
        assert prepared.headers["Content-Length"] == str(len(v["body"]))
    if name == "D":
        assert prepared.headers["X-Security-Token"] == "TOK"
        assert prepared.headers["X-Project-Id"] == "pid123"
    else:
        assert "X-Security-Token" not in prepared.headers
        assert "X-Project-Id" not in prepared.headers


def test_vector_d_without_token_or_project_does_not_match() -> None:
    # X-Security-Token and X-Project-Id are really part of vector D's signature
    v = VECTORS["D"]
    _, headers = sign_request(v["method"], v["url"], v["headers"], v["body"], v["ak"], v["sk"])
    assert v["signature"] not in headers["Authorization"]
    assert "SignedHeaders=content-type;host;x-sdk-date," in headers["Authorization"]


# --------------------------------------------------------------------------------------------------
# Canonicalisation against a reference written from the spec text
# --------------------------------------------------------------------------------------------------

_BARE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_HEX = "0123456789abcdefABCDEF"


def ref_encode(text: str) -> str:
    """Percent-encode the UTF-8 bytes; only A-Za-z0-9-_.~ left bare (upper-case hex)."""
    return "".join(chr(b) if b in _BARE else f"%{b:02X}" for b in text.encode("utf-8"))


def ref_decode(text: str) -> str:
    """URL-decode: every %XX becomes its byte, the bytes are UTF-8."""
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "%" and i + 2 < len(text) and text[i + 1] in _HEX and text[i + 2] in _HEX:
            out.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            out += text[i].encode("utf-8")
            i += 1
    return out.decode("utf-8")


def ref_canonical_uri(raw_path: str) -> str:
    uri = "/".join(ref_encode(segment) for segment in ref_decode(raw_path).split("/"))
    return uri if uri.endswith("/") else uri + "/"


def ref_canonical_query(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{ref_encode(k)}={ref_encode(v)}" for k, v in sorted(pairs))


# text with the interesting characters well represented, no surrogates
_interesting = st.sampled_from([*" ~+=/&?%#:@!*'();,$[]é中😀\t-_.", "a", "Z", "0"])
_any_char = st.characters(blacklist_categories=("Cs",))
_text = st.lists(st.one_of(_interesting, _any_char), max_size=12).map("".join)
_segment = _text.map(lambda s: s.replace("/", ""))


@settings(max_examples=200, deadline=None, database=None)
@given(
    segments=st.lists(_segment, min_size=1, max_size=5),
    trailing=st.booleans(),
    bare=st.sampled_from(["", "/", "/~", "/=+~", "/=+~:@!*'(),;$"]),
)
def test_canonical_uri_matches_the_spec(segments: list[str], trailing: bool, bare: str) -> None:
    decoded = "/" + "/".join(segments) + ("/" if trailing else "")
    # the same path as different clients would send it: more or less of it percent-encoded
    sent = quote(decoded, safe=bare)
    expected = "/" + "/".join(ref_encode(s) for s in segments) + ("/" if trailing else "")
    if not expected.endswith("/"):
        expected += "/"
    assert canonical_uri(sent) == expected
    assert canonical_uri(sent) == ref_canonical_uri(sent)
    assert canonical_uri(decoded.replace("%", "%25")) == expected


def test_canonical_uri_examples() -> None:
    assert canonical_uri("/v1/p/notebooks/open") == "/v1/p/notebooks/open/"
    assert canonical_uri("/v1/p/notebooks/open/") == "/v1/p/notebooks/open/"
    assert canonical_uri("") == "/"
    assert canonical_uri("/") == "/"
    assert canonical_uri("/a b/c+d/e~f/%7e") == "/a%20b/c%2Bd/e~f/~/"
    assert canonical_uri("/caf%C3%A9/x=y") == "/caf%C3%A9/x%3Dy/"
    # decoded before splitting: an encoded '/' becomes a separator (as the official signers do)
    assert canonical_uri("/a%2Fb") == "/a/b/"


_pair = st.tuples(st.one_of(st.sampled_from(["k", "K", "a b", "x+y", "é"]), _text), _text)


@settings(max_examples=200, deadline=None, database=None)
@given(pairs=st.lists(_pair, max_size=8))
def test_canonical_query_matches_the_spec(pairs: list[tuple[str, str]]) -> None:
    assert canonical_query_string(pairs) == ref_canonical_query(pairs)
    # order of the input does not matter
    assert canonical_query_string(list(reversed(pairs))) == canonical_query_string(pairs)


def test_canonical_query_examples() -> None:
    assert canonical_query_string([]) == ""
    assert canonical_query_string([("b", "2"), ("a", "1")]) == "a=1&b=2"
    # repeated keys sorted by value, empty values kept as "k="
    assert canonical_query_string([("k", "z"), ("k", ""), ("k", "a")]) == "k=&k=a&k=z"
    assert canonical_query_string([("q", "a b+c=d/e~")]) == "q=a%20b%2Bc%3Dd%2Fe~"
    assert canonical_query_string([("name", "中")]) == "name=%E4%B8%AD"


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs=st.lists(st.tuples(_text.filter(bool), _text), max_size=6), segment=_segment)
def test_signing_auth_sends_the_query_it_signed(pairs: list[tuple[str, str]], segment: str) -> None:
    auth = SigningAuth("AKAKAKAKAKAKAKAKAKAK", "SKSKSKSKSKSKSK")
    url = "https://example.test/v1/" + quote(segment, safe="")
    prepared = requests.Request("GET", url, params=pairs, auth=auth).prepare()
    sent = urlsplit(prepared.url)

    # the query string on the wire is exactly the canonical one...
    assert sent.query == canonical_query_string(pairs) == ref_canonical_query(pairs)
    # ...and still means the same pairs
    assert sorted(parse_qsl(sent.query, keep_blank_values=True)) == sorted(pairs)
    # and the signature covers it
    query = parse_qsl(sent.query, keep_blank_values=True)
    assert verify_signature("GET", sent.path, query, prepared.headers, b"", "SKSKSKSKSKSKSK")


# --------------------------------------------------------------------------------------------------
# Round trip and tampering
# --------------------------------------------------------------------------------------------------

_header_value = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20
)


@settings(max_examples=120, deadline=None, database=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    segments=st.lists(_segment, min_size=1, max_size=4),
    pairs=st.lists(_pair, max_size=5),
    body=st.binary(max_size=64),
    extra=st.dictionaries(
        st.sampled_from(["Content-Type", "X-Language", "Accept", "X-Custom"]), _header_value
    ),
    token=st.one_of(st.none(), _header_value),
    project=st.one_of(st.none(), st.sampled_from(["pid123", "0123456789abcdef"])),
)
def test_sign_then_verify_and_tampering(
    method: str,
    segments: list[str],
    pairs: list[tuple[str, str]],
    body: bytes,
    extra: dict[str, str],
    token: str | None,
    project: str | None,
) -> None:
    path = "/" + "/".join(quote(s, safe="") for s in segments)
    url = "https://modelarts.test:8443" + path
    if pairs:
        url += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    signed_url, headers = sign_request(
        method, url, extra, body, "MYACCESSKEY123456789", "my-secret", token, project, now=1_700_000_000
    )
    sent = urlsplit(signed_url)
    query = parse_qsl(sent.query, keep_blank_values=True)
    access, names, _ = parse_authorization(headers["Authorization"])

    assert access == "MYACCESSKEY123456789"
    assert headers["X-Sdk-Date"] == "20231114T221320Z"
    assert set(names) == {n.lower() for n in headers if n != "Authorization"}
    assert verify_signature(method, sent.path, query, headers, body, "my-secret")
    # unsigned extras added on the way (a proxy, an underscore header) do not matter
    assert verify_signature(method, sent.path, query, {**headers, "Via": "1.1 proxy"}, body, "my-secret")

    # wrong secret, or any signed part changed: refused
    assert not verify_signature(method, sent.path, query, headers, body, "other-secret")
    for name in headers:
        if name == "Authorization":
            continue
        changed = dict(headers)
        changed[name] = headers[name] + "x"
        assert not verify_signature(method, sent.path, query, changed, body, "my-secret"), name
    assert not verify_signature(method, sent.path + "x", query, headers, body, "my-secret")
    assert not verify_signature(method, sent.path, [*query, ("extra", "1")], headers, body, "my-secret")
    if query:
        first_key, first_value = query[0]
        assert not verify_signature(
            method, sent.path, [(first_key, first_value + "x"), *query[1:]], headers, body, "my-secret"
        )
    assert not verify_signature(method, sent.path, query, headers, body + b"x", "my-secret")
    other_method = "POST" if method != "POST" else "PUT"
    assert not verify_signature(other_method, sent.path, query, headers, body, "my-secret")


def test_verify_refuses_a_missing_signed_header_and_a_reordered_list() -> None:
    _, headers = sign_request("GET", "https://h.test/x", {"X-A": "1"}, b"", "AK", "SK", now=0)
    without = {k: v for k, v in headers.items() if k != "X-A"}
    with pytest.raises(ValueError, match="x-a"):
        verify_signature("GET", "/x", [], without, b"", "SK")
    reordered = dict(headers)
    reordered["Authorization"] = headers["Authorization"].replace(
        "host;x-a;x-sdk-date", "x-a;host;x-sdk-date"
    )
    assert not verify_signature("GET", "/x", [], reordered, b"", "SK")
    with pytest.raises(ValueError):
        verify_signature("GET", "/x", [], {k: v for k, v in headers.items() if k != "X-Sdk-Date"}, b"", "SK")


def test_parse_authorization() -> None:
    value = "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=content-type;host;x-sdk-date, Signature=ABCdef01"
    assert parse_authorization(value) == ("AK1", ["content-type", "host", "x-sdk-date"], "abcdef01")
    for bad in [
        "",
        "Bearer abc",
        "SDK-HMAC-SHA256 Access=AK1, Signature=abc",
        "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host, Signature=nothex",
        "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;;x, Signature=ab",
        "HMAC-SHA256 Access=AK1, SignedHeaders=host, Signature=ab",
    ]:
        with pytest.raises(ValueError):
            parse_authorization(bad)


def test_empty_body_hash_and_string_to_sign_shape() -> None:
    assert EMPTY_BODY_SHA256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    text, _ = canonical_request("GET", "/", [], {"Host": "h"}, None)
    assert text.endswith("\n" + EMPTY_BODY_SHA256)
    sts = string_to_sign("abc", "20200101T000000Z")
    assert sts == "SDK-HMAC-SHA256\n20200101T000000Z\n" + hashlib.sha256(b"abc").hexdigest()
    assert compute_signature("k", "m") == hmac.new(b"k", b"m", hashlib.sha256).hexdigest()


def test_header_values_are_stripped_and_names_lowercased() -> None:
    a, signed_a = canonical_request("GET", "/", [], {"Host": "h", "X-A": "  v  ", "X_B": "no"}, b"")
    b, signed_b = canonical_request("GET", "/", [], {"host": "h", "x-a": "v"}, b"")
    assert a == b
    assert signed_a == signed_b == "host;x-a"
    assert "x-a:v\n" in a


# --------------------------------------------------------------------------------------------------
# SigningAuth behaviour
# --------------------------------------------------------------------------------------------------


def test_signing_auth_adds_a_current_date_when_missing() -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    prepared = requests.Request("GET", "https://h.test/a", auth=SigningAuth("AK", "SK")).prepare()
    after = datetime.now(timezone.utc)
    stamp = datetime.strptime(prepared.headers["X-Sdk-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    assert before <= stamp <= after
    assert "x-sdk-date" in parse_authorization(prepared.headers["Authorization"])[1]


def test_signing_auth_resigns_cleanly_and_sends_str_bodies_as_the_hashed_bytes() -> None:
    auth = SigningAuth("AK", "SK")
    prepared = requests.Request(
        "POST", "https://h.test/a?b=2&a=1", data="héllo", headers={"X-Sdk-Date": "20240101T000000Z"}
    ).prepare()
    auth(prepared)
    first = prepared.headers["Authorization"]
    auth(prepared)  # e.g. a retry of the same prepared request: Authorization is never signed itself
    assert prepared.headers["Authorization"] == first
    assert prepared.body == "héllo".encode()
    assert prepared.url == "https://h.test/a?a=1&b=2"
    assert verify_signature("POST", "/a", [("a", "1"), ("b", "2")], prepared.headers, prepared.body, "SK")


def test_signing_auth_refuses_a_streamed_body() -> None:
    def chunks() -> Iterator[bytes]:
        yield b"x"

    with pytest.raises(TypeError, match="streamed"):
        requests.Request("POST", "https://h.test/a", data=chunks(), auth=SigningAuth("AK", "SK")).prepare()


def test_signing_auth_never_shows_the_secret() -> None:
    auth = SigningAuth(
        "ABCDEFGHIJKLMNOPQRST", "THE-SECRET-KEY-VALUE", security_token="THE-TOKEN", project_id="p1"
    )
    for text in (repr(auth), str(auth), f"{auth}"):
        assert "THE-SECRET-KEY-VALUE" not in text
        assert "THE-TOKEN" not in text
        assert "ABCDEFGHIJKLMNOPQRST" not in text
        assert "ABCD****QRST" in text
    with pytest.raises(ValueError):
        SigningAuth("AK", "")


# --------------------------------------------------------------------------------------------------
# A real local HTTP server: the signed request verifies on the receiving side
# --------------------------------------------------------------------------------------------------


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that gave up (the timeout test) leaves a broken pipe behind: expected, not news
        pass


@contextmanager
def serve(handler_class: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = QuietServer(("127.0.0.1", 0), handler_class)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def local_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # never through a proxy from the environment
    return session


class VerifyingHandler(BaseHTTPRequestHandler):
    """Answers 200 with what it saw when the signature verifies, 401 otherwise."""

    secrets = {"LOCALACCESSKEY000001": "local-secret"}

    def log_message(self, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = urlsplit(self.path)
        query = parse_qsl(parts.query, keep_blank_values=True)
        try:
            access, _, _ = parse_authorization(self.headers.get("Authorization", ""))
            ok = verify_signature(self.command, parts.path, query, self.headers, body, self.secrets[access])
        except (ValueError, KeyError):
            ok = False
        answer = json.dumps({"raw_query": parts.query, "pairs": query, "path": parts.path}).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = do_PATCH = do_DELETE = _handle


def test_signed_requests_verify_on_a_real_server() -> None:
    auth = SigningAuth("LOCALACCESSKEY000001", "local-secret", security_token="tmp-token", project_id="pid9")
    params = [("name", "a b+c"), ("name", ""), ("tag", "ü~=/"), ("limit", "10")]
    with serve(VerifyingHandler) as base, local_session() as session:
        session.headers["X-Language"] = "en-us"
        response = session.get(f"{base}/v1/pid9/imáges x/", params=params, auth=auth)
        assert response.status_code == 200, response.text
        seen = response.json()
        assert seen["raw_query"] == canonical_query_string(params)
        assert sorted(map(tuple, seen["pairs"])) == sorted(params)

        response = session.post(f"{base}/v1/pid9/notebooks/open", json={"share_url": "aGk="}, auth=auth)
        assert response.status_code == 200

        response = session.patch(
            f"{base}/v1/pid9/notebooks/x/lease", data=json.dumps({"duration": 3600000}), auth=auth
        )
        assert response.status_code == 200

        wrong = SigningAuth("LOCALACCESSKEY000001", "not-the-secret")
        assert session.get(f"{base}/v1/pid9/notebooks", auth=wrong).status_code == 401


# --------------------------------------------------------------------------------------------------
# IAM tokens against a local fake IAM
# --------------------------------------------------------------------------------------------------

PASSWORD = "Pa55-w0rd!secret"


class FakeIam:
    """State of a fake IAM + protected resource served by ``IamHandler``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lifetime = timedelta(hours=24)
        self.issued: list[str] = []
        self.revoked: set[str] = set()
        self.token_posts: list[dict[str, Any]] = []
        #: (request target, User-Agent) of every token request
        self.token_requests: list[tuple[str, str | None]] = []
        self.resource_hits = 0
        self.always_401 = False
        self.token_status: int | None = None  # force an answer
        self.retry_after: str | None = None  # sent with a forced answer
        self.omit_subject_token = False
        self.echo_password_in_error = False
        self.delay = 0.0


def make_iam_handler(state: FakeIam) -> type[BaseHTTPRequestHandler]:
    class IamHandler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if state.delay:
                time.sleep(state.delay)
            if urlsplit(self.path).path != "/v3/auth/tokens":
                self._json(404, {})
                return
            with state.lock:
                state.token_posts.append(body)
                state.token_requests.append((self.path, self.headers.get("User-Agent")))
            identity = body["auth"]["identity"]
            user = identity["password"]["user"]
            if state.token_status is not None:
                extra = {"Retry-After": state.retry_after} if state.retry_after else {}
                self._json(
                    state.token_status, {"error": {"code": state.token_status, "message": "nope"}}, extra
                )
                return
            if identity["methods"] != ["password"] or user["password"] != PASSWORD:
                message = "The username or password is wrong."
                if state.echo_password_in_error:
                    message += f" (you sent {user['password']})"
                self._json(401, {"error": {"code": 401, "message": message, "title": "Unauthorized"}})
                return
            with state.lock:
                token = f"tok-{len(state.issued) + 1}"
                state.issued.append(token)
            expires = datetime.now(timezone.utc) + state.lifetime
            headers = {} if state.omit_subject_token else {"X-Subject-Token": token}
            self._json(
                201,
                {
                    "token": {
                        "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        "methods": ["password"],
                        "project": {"id": "proj-" + body["auth"]["scope"]["project"]["name"], "name": "x"},
                        "user": {"name": user["name"], "domain": {"name": user["domain"]["name"]}},
                    }
                },
                headers,
            )

        def do_GET(self) -> None:
            with state.lock:
                state.resource_hits += 1
                token = self.headers.get("X-Auth-Token")
                valid = token in state.issued and token not in state.revoked and not state.always_401
            if valid:
                self._json(200, {"ok": True, "token": token})
            else:
                self._json(401, {"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication"})

    return IamHandler


@pytest.fixture
def iam() -> Iterator[tuple[FakeIam, str]]:
    state = FakeIam()
    with serve(make_iam_handler(state)) as base:
        yield state, base


def provider_for(base: str, **kwargs: Any) -> IamTokenProvider:
    kwargs.setdefault("session", local_session())
    kwargs.setdefault("timeout", 5)
    password = kwargs.pop("password", PASSWORD)
    return IamTokenProvider(base, "alice", password, "acme", "cn-north-4", **kwargs)


def test_token_is_fetched_once_and_cached(iam: tuple[FakeIam, str]) -> None:
    state, base = iam
    provider = provider_for(base)
    assert provider.token() == "tok-1"
    assert provider.token() == "tok-1"
    assert provider.project_id == "proj-cn-north-4"
    assert len(state.token_posts) == 1
    assert provider.expires_at is not None
    assert provider.expires_at - datetime.now(timezone.utc) > timedelta(hours=23)
    sent = state.token_posts[0]["auth"]
    assert sent["identity"]["password"]["user"] == {
        "name": "alice",
        "password": PASSWORD,
        "domain": {"name": "acme"},
    }
    assert sent["scope"] == {"project": {"name": "cn-north-4"}}


def test_token_request_asks_for_no_catalogue_with_our_user_agent(iam: tuple[FakeIam, str]) -> None:
    from codelab_ext.modelarts import USER_AGENT

    state, base = iam
    provider_for(base, user_agent=USER_AGENT).token()
    # nocatalog: KeystoneCreateUserTokenByPasswordRequest's query parameter (huaweicloudsdkiam)
    assert state.token_requests == [("/v3/auth/tokens?nocatalog=true", USER_AGENT)]
    assert USER_AGENT.startswith("codelab-ext/")


def test_project_id_fetches_a_token_when_needed(iam: tuple[FakeIam, str]) -> None:
    state, base = iam
    provider = provider_for(base)
    assert provider.project_id == "proj-cn-north-4"
    assert state.issued == ["tok-1"]


def test_token_refreshed_five_minutes_before_expiry(iam: tuple[FakeIam, str]) -> None:
    state, base = iam
    now = [time.time()]
    provider = provider_for(base, clock=lambda: now[0])
    state.lifetime = timedelta(hours=1)
    assert provider.token() == "tok-1"
    now[0] += 54 * 60  # 6 minutes left: still cached
    assert provider.token() == "tok-1"
    now[0] += 90  # 4.5 minutes left: refreshed
    assert provider.token() == "tok-2"
    assert len(state.token_posts) == 2


def test_a_token_that_lives_less_than_the_margin_is_never_reused(iam: tuple[FakeIam, str]) -> None:
    state, base = iam
    state.lifetime = timedelta(minutes=4)
    provider = provider_for(base)
    assert [provider.token(), provider.token()] == ["tok-1", "tok-2"]


def test_invalidate_forces_a_new_token_but_not_for_a_stale_one(iam: tuple[FakeIam, str]) -> None:
    state, base = iam
    assert not state.issued
    provider = provider_for(base)
    assert provider.token() == "tok-1"
    provider.invalidate("some-older-token")  # another thread already replaced it: keep
    assert provider.token() == "tok-1"
    provider.invalidate()
    assert provider.token() == "tok-2"


def test_concurrent_callers_share_one_fetch(iam: tuple[FakeIam, str]) -> None:
    state, base = iam
    state.delay = 0.05
    provider = provider_for(base)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(provider.token())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert results == ["tok-1"] * 8
    assert len(state.token_posts) == 1


def test_token_auth_refreshes_once_on_401(iam: tuple[FakeIam, str]) -> None:
    state, base = iam
    provider = provider_for(base)
    with local_session() as session:
        session.auth = TokenAuth(provider)
        assert session.get(f"{base}/resource").json()["token"] == "tok-1"
        state.revoked.add("tok-1")  # revoked upstream before it expired
        response = session.get(f"{base}/resource")
        assert response.status_code == 200
        assert response.json()["token"] == "tok-2"
        assert [r.status_code for r in response.history] == [401]
        assert state.resource_hits == 3
        assert len(state.token_posts) == 2


def test_token_auth_retries_only_once(iam: tuple[FakeIam, str]) -> None:
    state, base = iam
    state.always_401 = True
    with local_session() as session:
        response = session.get(f"{base}/resource", auth=TokenAuth(provider_for(base)))
    assert response.status_code == 401
    assert state.resource_hits == 2  # the request and one retry
    assert len(state.token_posts) == 2


def test_bad_password_is_an_auth_error_without_the_password(iam: tuple[FakeIam, str]) -> None:
    state, base = iam
    state.echo_password_in_error = True  # even an upstream that echoes it must not leak it
    wrong = "Wr0ng-Secret-Value"
    provider = provider_for(base, password=wrong)
    with pytest.raises(AuthError) as caught:
        provider.token()
    error = caught.value
    assert error.http_status == 401
    assert error.status == 401
    assert "alice" in str(error) and "acme" in str(error)
    assert "username or password is wrong" in str(error)
    texts = (
        str(error),
        repr(error),
        error.message,
        error.upstream_message or "",
        json.dumps(error.to_json()),
    )
    for text in texts:
        assert wrong not in text
    assert wrong not in repr(provider) and PASSWORD not in repr(provider_for(base))


def test_forbidden_is_an_auth_error(iam: tuple[FakeIam, str]) -> None:
    state, base = iam
    state.token_status = 403
    with pytest.raises(AuthError) as caught:
        provider_for(base).token()
    assert caught.value.http_status == 403


def test_iam_server_error_and_missing_token_are_unavailable(iam: tuple[FakeIam, str]) -> None:
    state, base = iam
    state.token_status = 503
    with pytest.raises(UpstreamUnavailable) as caught:
        provider_for(base).token()
    assert caught.value.http_status == 503
    state.token_status = None
    state.omit_subject_token = True
    with pytest.raises(UpstreamUnavailable, match="X-Subject-Token"):
        provider_for(base).token()
    state.token_status = 400
    with pytest.raises(UpstreamError) as caught:
        provider_for(base).token()
    assert caught.value.http_status == 400


def test_iam_timeout_and_refused_connection(iam: tuple[FakeIam, str]) -> None:
    state, base = iam
    state.delay = 1.0
    with pytest.raises(UpstreamTimeout):
        provider_for(base, timeout=0.2).token()

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with pytest.raises(UpstreamUnavailable) as caught:
        provider_for(f"http://127.0.0.1:{closed_port}").token()
    assert not isinstance(caught.value, UpstreamTimeout)
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-02T03:04:05.123000Z", datetime(2024, 1, 2, 3, 4, 5, 123000, tzinfo=timezone.utc)),
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        ("2024-01-02T03:04:05.1+08:00", datetime(2024, 1, 1, 19, 4, 5, 100000, tzinfo=timezone.utc)),
        ("2024-01-02T03:04:05.123456789Z", datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)),
        ("2024-01-02T03:04:05", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        ("not a date", None),
        (None, None),
    ],
)
def test_parse_expires_at(value: Any, expected: datetime | None) -> None:
    assert parse_expires_at(value) == expected


def test_format_sdk_date() -> None:
    assert format_sdk_date(0) == "19700101T000000Z"
    beijing = timezone(timedelta(hours=8))
    assert format_sdk_date(datetime(2024, 1, 1, 8, 0, tzinfo=beijing)) == "20240101T000000Z"
    assert format_sdk_date(datetime(2024, 1, 1)) == "20240101T000000Z"


def test_token_request_is_retried_after_a_passing_failure_never_after_a_refusal(
    iam: tuple[FakeIam, str],
) -> None:
    state, base = iam
    # Given IAM answering 503 once
    state.token_status = 503
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        state.token_status = None  # IAM is back after the pause

    # Then the token still comes, on the second attempt, after one short pause (the client's back-off:
    # full jitter below 0.5 s for the first retry)
    assert provider_for(base, sleep=sleep).token() == "tok-1"
    assert len(state.token_posts) == 2 and len(waits) == 1 and 0 <= waits[0] <= 0.5
    # A refusal is final: one attempt, no pause
    posts = len(state.token_posts)
    with pytest.raises(AuthError):
        provider_for(base, sleep=sleep, password="wrong-password").token()
    assert len(state.token_posts) == posts + 1 and len(waits) == 1
    # A persistent failure gives up after the bounded retries
    state.token_status = 502

    def sleep_still_down(seconds: float) -> None:
        waits.append(seconds)

    with pytest.raises(UpstreamUnavailable):
        provider_for(base, sleep=sleep_still_down).token()
    assert len(state.token_posts) == posts + 1 + 3 and len(waits) == 3
    assert 0 <= waits[1] <= 0.5 and 0 <= waits[2] <= 1.0


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_token_request_honours_retry_after_in_both_forms(iam: tuple[FakeIam, str], form: str) -> None:
    state, base = iam
    # Given IAM throttling once, saying when to come back as delta-seconds or as an HTTP date
    state.token_status = 429
    state.retry_after = "2" if form == "seconds" else email.utils.formatdate(time.time() + 2, usegmt=True)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        state.token_status = None

    # Then the provider waits what IAM asked (the HTTP date read by the one Retry-After parser)
    assert provider_for(base, sleep=sleep).token() == "tok-1"
    assert len(waits) == 1 and waits[0] == pytest.approx(2.0, abs=1.1)
    # and a wait longer than the token request's bound is not waited for: the error says when
    state.token_status = 429
    state.retry_after = "600"
    with pytest.raises(ThrottledError) as caught:
        provider_for(base, sleep=sleep).token()
    assert caught.value.retry_after == 600.0 and len(waits) == 1


def test_signing_auth_signs_exactly_the_sdks_header_set() -> None:
    # proxies rewrite Accept, Accept-Encoding, X-Language: signing them would break the signature
    auth = SigningAuth("AK", "SK", security_token="TOK", project_id="pid")
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Accept-Encoding": "gzip",
        "X-Language": "en-us",
        "User-Agent": "codelab-ext/test",
        "X-Custom": "1",
    }
    prepared = requests.Request("POST", "https://h.test/v1/pid/x", headers=headers, data=b"{}", auth=auth)
    sent = prepared.prepare()
    _, names, _ = parse_authorization(sent.headers["Authorization"])
    assert names == ["content-type", "host", "user-agent", "x-project-id", "x-sdk-date", "x-security-token"]
    assert sent.headers["Accept"] == "application/json" and sent.headers["X-Language"] == "en-us"
    # a proxy rewriting an unsigned header leaves the signature valid
    rewritten = {**dict(sent.headers), "Accept-Encoding": "identity", "X-Language": "zh-cn"}
    assert verify_signature("POST", "/v1/pid/x", [], rewritten, b"{}", "SK")

"""Hostile input: generated requests against every REST route that takes input, from the shipped OpenAPI.

Hypothesis builds requests that break the contract of ``codelab_ext/openapi.json`` (path parameter
patterns, query enums/patterns/lengths, request body schemas) with wrong types, huge bodies, odd unicode,
path traversal in ids, ``javascript:``/``file:``/``data:`` share URLs, credentials in URLs, repeated query
keys and wrong content types. They go to a REAL ``jupyter server`` subprocess over HTTP, with the token.

Every answer must be a 4xx JSON object with a ``message`` (never a 5xx), and the emulator behind the
server must see ZERO requests: invalid input never goes upstream. The number of generated requests and
the status histogram are recorded (``tests.support.processes.record_figures``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codelab_ext.emulator import DEMO_ACCOUNT

from .support.processes import ServerProcess, record_figures
from .support.server_config import emulator_settings, store_demo_credentials

OPENAPI = json.loads((Path(__file__).parent.parent / "codelab_ext" / "openapi.json").read_text())
ID_PATTERN = re.compile(OPENAPI["components"]["parameters"]["InstanceId"]["schema"]["pattern"])
#: a well-formed id that names no instance: only reached when something else in the request is invalid
FAKE_ID = "0f0f0f0f-0000-4000-8000-000000000000"
#: examples per generated family (a family that runs out of distinct examples stops earlier)
EXAMPLES = {"bad-id": 160}
DEFAULT_EXAMPLES = 80
MIN_REQUESTS = 500
SECRET_PROBE = "HostileSecretProbe0123456789xyz"


def _op(path: str, method: str) -> dict[str, Any]:
    return OPENAPI["paths"][path][method]


def _params(path: str, method: str) -> dict[str, dict[str, Any]]:
    item = OPENAPI["paths"][path]
    out = {}
    for param in item.get("parameters", []) + _op(path, method).get("parameters", []):
        if "$ref" in param:
            param = OPENAPI["components"]["parameters"][param["$ref"].rsplit("/", 1)[1]]
        out[param["name"]] = param
    return out


def _body_schema(path: str, method: str) -> dict[str, Any]:
    schema = _op(path, method)["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = OPENAPI["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


# ------------------------------------------------------------------------------------------ building blocks

TRAVERSAL_IDS = [
    "..",
    ".",
    "../..",
    "../../../etc/passwd",
    "..%2F..",
    "..%2f..%2fapi%2fstatus",
    "%2e%2e%2f%2e%2e",
    "..\\..\\windows",
    "\uff0e\uff0e\uff0f\uff0e\uff0e",  # fullwidth dots and slash
    "\u2024\u2024",  # one-dot leaders
    "\u2025",
    "..\u2215..",  # division slash
    "/etc/passwd",
    "abc/../../x",
    "a\x00b",
    "%00",
    "a b",
    "a\nb",
    "a\r\nX-Injected: 1",
    "-rf",
    "_underscore",
    "x" * 129,
    "\uff21\uff22\uff23",  # fullwidth letters
    "a.b",
    "a;b",
    "a%b",
    "'; DROP TABLE notebooks; --",
    "<script>alert(1)</script>",
    "$(reboot)",
    "`id`",
    "a\u202eb",  # right-to-left override
    "a\u200bb",  # zero-width space
    "\u0661\u0662\u0663",  # Arabic-Indic digits (\d in some engines)
    "\uff41\uff42\uff43",  # fullwidth small letters
]
#: percent-encodings a browser would never send: invalid UTF-8 and overlong dots, kept raw in the path
RAW_ENCODED_IDS = ["%C0%AE%C0%AE", "%FF", "%E2%80", "..%c0%af..", "%25", "%252e%252e"]

HOSTILE_URLS = [
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "file:///etc/passwd",
    "file://localhost/etc/shadow",
    "data:application/x-ipynb+json;base64,e30=",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "ftp://example.org/a.ipynb",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "ssh://example.org/a.ipynb",
    "//example.org/a.ipynb",
    "/etc/passwd",
    "example.org/a.ipynb",
    "https://user:secret@example.org/a.ipynb",
    "https://user@example.org/a.ipynb",
    "https://:pw@example.org/a.ipynb",
    "http://example.org@evil.example/a.ipynb",
    "https://example.org/a b.ipynb",
    "https://example.org/a\tb.ipynb",
    "https://example.org/a\nb.ipynb",
    "https://example.org/\u2028a.ipynb",
    "https://example.org:0/a.ipynb",
    "https://example.org:99999/a.ipynb",
    "https://example.org:-1/a.ipynb",
    "https:///a.ipynb",
    "https://",
    "http://[::1/a.ipynb",
    "https://example.org/" + "a" * 2100 + ".ipynb",
]

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
NON_OBJECT_JSON = st.one_of(
    st.sampled_from([b"[]", b"1", b'"text"', b"null", b"true", b"[{}]", b"-0", b"1e999"]),
    st.lists(JSON_SCALARS, max_size=3).map(lambda v: json.dumps(v).encode()),
)
GARBAGE_BODIES = st.one_of(
    st.sampled_from(
        [
            b"{",
            b"{'a': 1}",
            b'{"a": 1,}',
            b"\xff\xfe{}",
            b'{"a": "\xc3\x28"}',
            b"\x00" * 16,
            b"[" * 100_000 + b"]" * 100_000,  # nesting bomb
            b'{"a": ' * 50_000 + b"1" + b"}" * 50_000,
            b"<?xml version='1.0'?><open/>",
            b"a=1&b=2",
            b'{"duration_ms": 7200000}' + b" " * (70 * 1024),  # over the 64 KiB limit
            b'{"x": "' + b"A" * (1024 * 1024) + b'"}',  # 1 MiB
        ]
    ),
    st.binary(min_size=1, max_size=64).filter(lambda b: not _is_json_object(b) and not _is_blank(b)),
)
WRONG_CONTENT = st.sampled_from(
    [
        ("application/x-www-form-urlencoded", b"image_id=abc&switch=true"),
        (
            "multipart/form-data; boundary=xx",
            b'--xx\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--xx--',
        ),
        ("text/xml", b"<open><image_id>abc</image_id></open>"),
        ("application/octet-stream", b"\x89PNG\r\n\x1a\n"),
    ]
)


def _is_blank(data: bytes) -> bool:
    """A body of white space is no body at all (valid where the body is optional)."""
    try:
        return not data.decode("utf-8").strip()
    except UnicodeDecodeError:
        return False


def _is_json_object(data: bytes) -> bool:
    try:
        return isinstance(json.loads(data.decode("utf-8")), dict)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False


def segment(value: str) -> str:
    """``value`` as one path segment. A bare ``.``/``..`` segment is spelled ``%2E``: HTTP clients (and
    browsers) resolve literal dot segments before sending, so only the encoded form reaches a server."""
    encoded = quote(value, safe="")
    return encoded.replace(".", "%2E") if set(value) == {"."} else encoded


def bad_ids(pattern: re.Pattern[str]) -> st.SearchStrategy[str]:
    """Ids that break the path parameter's pattern, as one encoded path segment."""
    texts = st.text(min_size=1, max_size=160).filter(lambda s: not pattern.fullmatch(s))
    encoded = st.one_of(st.sampled_from(TRAVERSAL_IDS), texts).map(segment)
    double = st.sampled_from(TRAVERSAL_IDS[:6]).map(lambda s: quote(segment(s), safe=""))
    return st.one_of(encoded, st.sampled_from(RAW_ENCODED_IDS), double)


def unknown_key(key: str, params: dict[str, Any]) -> bool:
    """A query key the route does not know. Left out: Jupyter's ``token`` and a bare number, which the
    server ignores on purpose (a cache-buster like ``?1700000000000`` that some clients add)."""
    return key not in params and key != "token" and not key.isdigit()


def _wrong_type(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """JSON values not of the schema's type (null counts as absent on the server: never generated)."""
    kind = schema.get("type")
    checks = {
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    }
    check = checks.get(kind, lambda v: False)
    return JSON_VALUES.filter(lambda v: v is not None and not check(v))


# ------------------------------------------------------------------------------------------ request families


class Req:
    """One generated request: method, path below /codelab/ (already encoded), raw query, headers, body."""

    def __init__(
        self,
        family: str,
        method: str,
        path: str,
        *,
        query: str = "",
        body: bytes | None = None,
        content_type: str | None = "application/json",
        echo_guard: str | None = None,
    ) -> None:
        self.family = family
        self.method = method
        self.path = path
        self.query = query
        self.body = body
        self.content_type = content_type
        self.echo_guard = echo_guard

    def __repr__(self) -> str:
        body = None if self.body is None else self.body[:200]
        where = f"{self.method} /codelab/{self.path}?{self.query[:200]}"
        return f"Req({self.family}: {where} ct={self.content_type} body={body!r})"


def _json(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")


def _other_params(template: str) -> str:
    """The path parameters other than the instance id, filled with valid values (``{job_id}``)."""
    return re.sub(r"\{(?!instance_id\})\w+\}", "job-1", template)


def family_id_routes() -> st.SearchStrategy[Req]:
    """Every route with an instance id, the id hostile (bodies and queries otherwise valid)."""
    routes = []
    for path, item in OPENAPI["paths"].items():
        if "{instance_id}" not in path:
            continue
        for method in item:
            if method == "parameters":
                continue
            pattern = re.compile(_params(path, method)["instance_id"]["schema"]["pattern"])
            routes.append((method.upper(), path.lstrip("/"), pattern))

    @st.composite
    def build(draw):
        method, template, pattern = draw(st.sampled_from(routes))
        iid = draw(bad_ids(pattern))
        body = _json({"duration_ms": 7_200_000}) if method == "PATCH" else None
        return Req("bad-id", method, _other_params(template).replace("{instance_id}", iid), body=body)

    return build()


def family_images_query() -> st.SearchStrategy[Req]:
    params = _params("/images", "get")

    def bad_value(name: str) -> st.SearchStrategy[str]:
        schema = params[name]["schema"]
        if "enum" in schema:
            allowed = {v.upper() for v in schema["enum"]}
            # the server reads type/category case-insensitively and strips blanks: refuse beyond that
            return st.text(min_size=1, max_size=40).filter(
                lambda s: s.strip() and s.strip().upper() not in allowed
            )
        limit = schema["maxLength"]
        return st.one_of(
            st.text(min_size=limit + 1, max_size=limit + 40).filter(lambda s: len(s.strip()) > limit),
            st.tuples(
                st.text(max_size=5),
                st.sampled_from(["\x00", "\x01", "\x1b[2J", "\x7f", "\u2028"]),
                st.text(min_size=1, max_size=5).filter(lambda s: s.strip()),
            ).map(lambda t: "a" + "".join(t) + "z"),
        )

    @st.composite
    def build(draw):
        shape = draw(st.sampled_from(["bad-value", "unknown-key", "repeated-key", "bad-utf8"]))
        names = sorted(params)
        if shape == "bad-value":
            name = draw(st.sampled_from(names))
            query = urlencode([(name, draw(bad_value(name)))])
        elif shape == "unknown-key":
            key = draw(st.text(min_size=1, max_size=30).filter(lambda k: unknown_key(k, params)))
            query = urlencode([(key, draw(st.text(max_size=10)))])
        elif shape == "repeated-key":
            name = draw(st.sampled_from(names))
            query = urlencode([(name, "CPU"), (name, "GPU")])
        else:
            query = f"{draw(st.sampled_from(names))}=%FF%FE"
        return Req(f"images-{shape}", "GET", "images", query=query)

    return build()


def family_ssh_config_query() -> st.SearchStrategy[Req]:
    params = _params("/instances/{instance_id}/ssh-config", "get")
    alias_pattern = re.compile(params["alias"]["schema"]["pattern"])
    max_identity = params["identity_file"]["schema"]["maxLength"]
    bad_alias = st.one_of(
        st.sampled_from(
            ["-oProxyCommand=sh", "x\nProxyCommand sh", "*", "a b", "%h", "a" * 65, "..", "$(id)"]
        ),
        st.text(min_size=1, max_size=70).filter(lambda s: not alias_pattern.fullmatch(s)),
    )
    bad_identity = st.one_of(
        st.sampled_from(
            [
                '~/.ssh/"key"',
                "~/.ssh/%d",
                "key'$(id)'",
                "a\nProxyCommand sh",
                "k\x00",
                "x" * (max_identity + 1),
            ]
        ),
        st.tuples(st.text(max_size=10), st.sampled_from(['"', "'", "%", "\n", "\r", "\x00", "\x7f"])).map(
            lambda t: "/k" + "".join(t)
        ),
    )

    @st.composite
    def build(draw):
        shape = draw(st.sampled_from(["alias", "identity", "unknown-key", "repeated-key", "bad-utf8"]))
        if shape == "alias":
            query = urlencode([("alias", draw(bad_alias))])
        elif shape == "identity":
            query = urlencode([("identity_file", draw(bad_identity))])
        elif shape == "unknown-key":
            key = draw(st.text(min_size=1, max_size=30).filter(lambda k: unknown_key(k, params)))
            query = urlencode([(key, "1")])
        elif shape == "repeated-key":
            query = urlencode([("alias", "one"), ("alias", "two")])
        else:
            query = "alias=%C0%AF"
        return Req(f"ssh-config-{shape}", "GET", f"instances/{FAKE_ID}/ssh-config", query=query)

    return build()


def _object_mutations(
    schema: dict[str, Any], extra: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[bytes]:
    """Bodies that break an object schema: a property of a wrong type, an unknown property, a missing
    required property, a value the server refuses (``extra``), or no JSON object at all."""
    props: dict[str, Any] = schema["properties"]
    required: list[str] = schema.get("required", [])

    def base() -> dict[str, Any]:
        sample: dict[str, Any] = {}
        for name in required:
            sample[name] = {"access_key": DEMO_ACCOUNT.access_key, "secret_key": SECRET_PROBE}.get(
                name, 7_200_000
            )
        return sample

    @st.composite
    def wrong_type(draw):
        name = draw(st.sampled_from(sorted(props)))
        body = base()
        body[name] = draw(_wrong_type(props[name]))
        return _json(body)

    @st.composite
    def unknown(draw):
        key = draw(st.text(min_size=1, max_size=40).filter(lambda k: k not in props))
        body = base()
        body[key] = draw(JSON_VALUES)
        return _json(body)

    @st.composite
    def bad_value(draw):
        name = draw(st.sampled_from(sorted(extra)))
        body = base()
        body[name] = draw(extra[name])
        return _json(body)

    families = [wrong_type(), unknown(), bad_value(), NON_OBJECT_JSON, GARBAGE_BODIES]
    if required:
        families.append(
            st.sampled_from(required).map(lambda n: _json({k: v for k, v in base().items() if k != n}))
        )
    return st.one_of(*families)


def family_open() -> st.SearchStrategy[Req]:
    schema = _body_schema("/open", "post")
    pattern = re.compile(schema["properties"]["image_id"]["pattern"])
    extra = {
        "image_id": st.one_of(
            st.sampled_from(TRAVERSAL_IDS),
            st.text(min_size=1, max_size=140).filter(lambda s: not pattern.fullmatch(s.strip())),
        ),
        "share_url": st.one_of(
            st.sampled_from(HOSTILE_URLS),
            st.text(min_size=1, max_size=60).filter(
                lambda s: s.strip() and not s.strip().startswith(("http://", "https://"))
            ),
        ),
    }

    @st.composite
    def build(draw):
        if draw(st.integers(0, 9)) == 0:
            ctype, body = draw(WRONG_CONTENT)
            return Req("open-content-type", "POST", "open", body=body, content_type=ctype)
        return Req("open-body", "POST", "open", body=draw(_object_mutations(schema, extra)))

    return build()


def family_credentials() -> st.SearchStrategy[Req]:
    schema = _body_schema("/credentials", "put")
    extra = {
        "access_key": st.one_of(
            st.sampled_from(
                ["short", "has space 1234", "ключ12345678", "a" * 129, "AK\x00AAAAAAA", "AK-1234567"]
            ),
            st.text(min_size=1, max_size=140).filter(
                lambda s: not re.fullmatch(r"[A-Za-z0-9]{8,128}", s.strip())
            ),
        ),
        "secret_key": st.sampled_from(
            ["1234567", "has space in it", "tab\there123", "nul\x00nul123", "x" * 257]
        ),
        "security_token": st.sampled_from(["tok en with spaces", "ctrl\x01token", "t" * 16385]),
        "project_id": st.sampled_from(["short", "../../etc", "p" * 65, "proj-id-with-dash", "項目12345678"]),
        "region": st.sampled_from(
            ["Cn-North-4", "cn_north_4", "cn", "../cn-north-4", "cn-north-4\n", "x" * 80]
        ),
    }
    return _object_mutations(schema, extra).map(
        lambda body: Req("credentials-body", "PUT", "credentials", body=body, echo_guard=SECRET_PROBE)
    )


def family_lease() -> st.SearchStrategy[Req]:
    schema = _body_schema("/instances/{instance_id}/lease", "patch")
    low, high = schema["properties"]["duration_ms"]["minimum"], schema["properties"]["duration_ms"]["maximum"]
    extra = {
        "duration_ms": st.one_of(
            st.integers(max_value=low - 1),
            st.integers(min_value=high + 1),
            st.floats(min_value=low, max_value=high).filter(lambda f: not f.is_integer()),
        )
    }
    bodies = st.one_of(
        _object_mutations(schema, extra),
        st.sampled_from(
            [b'{"duration_ms": NaN}', b'{"duration_ms": Infinity}', b'{"duration_ms": -Infinity}']
        ),
        st.sampled_from([b'{"duration_ms": 1' + b"0" * 400 + b"}", b'{"duration_ms": 7200000.5}']),
    )
    return bodies.map(lambda body: Req("lease-body", "PATCH", f"instances/{FAKE_ID}/lease", body=body))


def family_actions() -> st.SearchStrategy[Req]:
    """start/stop with a well-formed id: a body, if any, must be a JSON object."""
    verbs = [p.rsplit("/", 1)[1] for p in OPENAPI["paths"] if p.endswith(("/start", "/stop"))]
    return st.tuples(st.sampled_from(verbs), st.one_of(NON_OBJECT_JSON, GARBAGE_BODIES)).map(
        lambda t: Req("action-body", "POST", f"instances/{FAKE_ID}/{t[0]}", body=t[1])
    )


FIXED_GARBAGE = [
    b"{",
    b"\xff\xfe{}",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a": ' * 50_000 + b"1" + b"}" * 50_000,
    b'{"duration_ms": 7200000}' + b" " * (70 * 1024),
    b'{"x": "' + b"A" * (1024 * 1024) + b'"}',
    b"[]",
    b"null",
]


def curated_requests() -> Iterator[Req]:
    """The fixed corpus, every time: each hostile id on each id route, each hostile share URL, each
    garbage body on each body route (hypothesis explores around it; this makes sure all of it is sent)."""
    for path, item in OPENAPI["paths"].items():
        for method in (m for m in item if m != "parameters"):
            if "{instance_id}" in path:
                for raw in TRAVERSAL_IDS:
                    body = _json({"duration_ms": 7_200_000}) if method == "patch" else None
                    yield Req(
                        "curated-id",
                        method.upper(),
                        _other_params(path.lstrip("/")).replace("{instance_id}", segment(raw)),
                        body=body,
                    )
                for encoded in RAW_ENCODED_IDS:
                    yield Req(
                        "curated-id",
                        method.upper(),
                        _other_params(path.lstrip("/")).replace("{instance_id}", encoded),
                    )
    for url in HOSTILE_URLS:
        yield Req("curated-share-url", "POST", "open", body=_json({"share_url": url}))
        yield Req("curated-share-url", "POST", "open", body=_json({"image_id": "abc", "share_url": url}))
    body_routes = [
        ("POST", "open"),
        ("PUT", "credentials"),
        ("PATCH", f"instances/{FAKE_ID}/lease"),
        ("POST", f"instances/{FAKE_ID}/start"),
        ("POST", f"instances/{FAKE_ID}/stop"),
    ]
    for method, path in body_routes:
        for body in FIXED_GARBAGE:
            yield Req("curated-body", method, path, body=body)


FAMILIES = {
    "bad-id": family_id_routes,
    "images-query": family_images_query,
    "ssh-config-query": family_ssh_config_query,
    "open-body": family_open,
    "credentials-body": family_credentials,
    "lease-body": family_lease,
    "action-body": family_actions,
}


# ------------------------------------------------------------------------------------------ the test


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    """One emulator for the module (the server behind it is the only one that calls it)."""
    from codelab_ext.emulator.testing import running_emulator

    with running_emulator(speed=200.0) as handle:
        yield handle


@pytest.fixture(scope="module")
def server(tmp_path_factory, emulator) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("hostile")
    creds = store_demo_credentials(root / "store" / "credentials.json")
    codelab = emulator_settings(emulator, creds, request_timeout=5.0)
    with ServerProcess(root / "server", codelab=codelab) as process:
        yield process


def upstream_total(emulator) -> int:
    """Requests the emulator received (read in-process: its state lives in this test's thread)."""
    state = emulator.emulator.state
    with state.lock:
        return sum(state.requests.values())


def send(server: ServerProcess, req: Req) -> requests.Response:
    url = f"{server.url}/codelab/{req.path}" + (f"?{req.query}" if req.query else "")
    headers = {}
    if req.content_type and req.body is not None:
        headers["Content-Type"] = req.content_type
    return server.session.request(
        req.method, url, data=req.body, headers=headers, timeout=30, allow_redirects=False
    )


def check(response: requests.Response, req: Req) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300], req)
    assert response.headers.get("Content-Type", "").startswith("application/json"), (response.headers, req)
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"].strip(), (
        body,
        req,
    )
    if req.echo_guard:
        assert req.echo_guard not in response.text, ("a secret was echoed", req)


def test_generated_hostile_requests_get_4xx_json_and_never_go_upstream(server, emulator):
    statuses: Counter[int] = Counter()
    per_family: Counter[str] = Counter()
    shapes: Counter[str] = Counter()
    before = upstream_total(emulator)

    def run_family(name: str, strategy: st.SearchStrategy[Req]) -> None:
        @settings(
            max_examples=EXAMPLES.get(name, DEFAULT_EXAMPLES),
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        @given(strategy)
        def probe(req: Req) -> None:
            start = upstream_total(emulator)
            response = send(server, req)
            statuses[response.status_code] += 1
            per_family[name] += 1
            shapes[req.family] += 1
            check(response, req)
            assert upstream_total(emulator) == start, ("invalid input went upstream", req)

        probe()

    for req in curated_requests():
        start = upstream_total(emulator)
        response = send(server, req)
        statuses[response.status_code] += 1
        per_family["curated"] += 1
        shapes[req.family] += 1
        check(response, req)
        assert upstream_total(emulator) == start, ("invalid input went upstream", req)
    for name, make in FAMILIES.items():
        run_family(name, make())

    total = sum(statuses.values())
    record_figures(
        "hostile_input",
        {
            "generated_requests": total,
            "status_histogram": {str(k): v for k, v in sorted(statuses.items())},
            "per_family": dict(per_family),
            "per_shape": dict(sorted(shapes.items())),
            "upstream_requests": upstream_total(emulator) - before,
        },
    )
    assert total >= MIN_REQUESTS, f"only {total} generated requests"
    assert not [code for code in statuses if code >= 500]
    assert upstream_total(emulator) == before


WRONG_TYPE_CASES = [
    ("POST", "open", b"{}"),
    (
        "PUT",
        "credentials",
        _json({"access_key": DEMO_ACCOUNT.access_key, "secret_key": DEMO_ACCOUNT.secret_key}),
    ),
    ("PATCH", f"instances/{FAKE_ID}/lease", _json({"duration_ms": 7_200_000})),
    ("POST", f"instances/{FAKE_ID}/start", b"{}"),
]


def test_json_routes_refuse_a_body_that_is_not_declared_json(server, emulator):
    """A JSON body sent as text/plain or as a form (what a cross-site form or a 'simple' CORS request
    can send; openapi.json declares only application/json) is refused with a 4xx JSON answer before
    anything goes upstream."""
    failures = []
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        for method, path, body in WRONG_TYPE_CASES:
            before = upstream_total(emulator)
            req = Req("wrong-content-type", method, path, body=body, content_type=content_type)
            response = send(server, req)
            went_upstream = upstream_total(emulator) - before
            if not 400 <= response.status_code < 500 or went_upstream:
                failures.append(
                    f"{method} {path} as {content_type}: HTTP {response.status_code}, "
                    f"{went_upstream} upstream requests"
                )
    assert not failures, "\n".join(failures)

"""Authentication and cross-site protection of every route, on a REAL ``jupyter server`` subprocess.

tests/test_server_basics.py proves that a caller with no credentials at all is refused. This module
adds what a browser attacker can do:

* a cross-site request that rides on the victim's login cookie but cannot read the ``_xsrf`` cookie:
  every POST/PUT/PATCH/DELETE is refused with 403 and nothing happens (no upstream call, no file change);
  the same cookie WITH the XSRF token passes (so the refusal is the XSRF check, not a dead cookie);
* a request from another origin (``Origin: https://evil.example``) is refused even with the token;
* wrong tokens, forged cookies and ``?token=wrong`` are refused on every route and verb;
* the credentials route never echoes a secret key or security token, whatever it answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from codelab_ext.emulator import DEMO_ACCOUNT, DEMO_REGION, Account
from codelab_ext.emulator.testing import EmulatorHandle, running_emulator
from codelab_ext.handlers import route_table

from .support.processes import ServerProcess, leaks
from .support.server_config import emulator_settings, store_demo_credentials

FAKE_ID = "0f0f0f0f-0000-4000-8000-000000000000"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")

#: a second account with temporary keys (AK/SK + security token), so the token can be looked for
TEMP_ACCOUNT = Account(
    name="codelab-temp",
    access_key="TEMPORARYACCESSKEY01",
    secret_key="TemporarySecretKeyForTheAuthSuite000001",
    security_token="SecurityTokenOfTheAuthSuite-" + "x" * 40,
    projects={DEMO_REGION: "7e3900000000000000000000000000a1"},
)


def _concrete(path: str) -> list[str]:
    """The URLs of a route pattern: ids filled in, one URL per word of a choice (``start|stop``)."""
    path = re.sub(r"\(\?P<instance_id>[^)]*\)", FAKE_ID, path)
    path = re.sub(r"\(\?P<job_id>[^)]*\)", "w1", path)
    choice = re.search(r"\(\?P<\w+>([\w|]+)\)", path)
    if choice is None:
        return [path]
    return [path.replace(choice.group(0), word) for word in choice.group(1).split("|")]


#: every (route, verb) the extension implements, with ``instances/{id}/stop`` next to ``start``
ROUTE_VERBS: list[tuple[str, str]] = []
for _path, _handler in route_table():
    for _method in METHODS:
        if _method.lower() in _handler.__dict__:
            ROUTE_VERBS.extend((url, _method) for url in _concrete(_path))
UNSAFE_ROUTE_VERBS = [(path, method) for path, method in ROUTE_VERBS if method in UNSAFE]

#: a body each unsafe route would accept (so a refusal is never about the body)
BODIES: dict[str, Any] = {
    "credentials": {"access_key": DEMO_ACCOUNT.access_key, "secret_key": DEMO_ACCOUNT.secret_key},
    "open": {},
    f"instances/{FAKE_ID}/lease": {"duration_ms": 7_200_000},
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    with running_emulator(speed=200.0, accounts=[DEMO_ACCOUNT, TEMP_ACCOUNT]) as handle:
        yield handle


@pytest.fixture(scope="module")
def server(tmp_path_factory, emulator) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("auth")
    creds = store_demo_credentials(root / "store" / "credentials.json")
    codelab = emulator_settings(emulator, creds, request_timeout=5.0)
    with ServerProcess(root / "server", codelab=codelab) as process:
        process.creds_file = creds  # type: ignore[attr-defined]
        yield process


def upstream_total(emulator: EmulatorHandle) -> int:
    state = emulator.emulator.state
    with state.lock:
        return sum(state.requests.values())


def browser(server: ServerProcess) -> requests.Session:
    """A browser session logged in with the token on the login form: the login and _xsrf cookies."""
    session = requests.Session()
    session.trust_env = False
    page = session.get(f"{server.url}/login", timeout=10)
    assert page.status_code == 200
    answer = session.post(
        f"{server.url}/login",
        data={"password": server.token, "_xsrf": session.cookies["_xsrf"]},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    assert any(name.startswith("username-") for name in session.cookies.keys())
    # the cookie alone authenticates safe requests
    assert session.get(f"{server.url}/codelab/status", timeout=10).status_code == 200
    return session


def _send(session: requests.Session, server: ServerProcess, method: str, path: str, **kwargs: Any):
    body = BODIES.get(path)
    data = json.dumps(body) if body is not None else ("{}" if method in ("POST", "PUT", "PATCH") else None)
    return session.request(
        method,
        f"{server.url}/codelab/{path}",
        data=data,
        headers={"Content-Type": "application/json", **kwargs.pop("headers", {})},
        allow_redirects=False,
        timeout=30,
        **kwargs,
    )


def test_cross_site_requests_with_the_cookie_but_without_the_xsrf_token_are_refused(server, emulator):
    session = browser(server)
    stored = server.creds_file.read_bytes()
    refused: dict[str, int] = {}
    for path, method in UNSAFE_ROUTE_VERBS:
        before = upstream_total(emulator)
        # a cross-site form or fetch: the browser sends the cookies, the attacker cannot add the header
        response = _send(session, server, method, path)
        assert response.status_code == 403, (method, path, response.status_code, response.text[:200])
        body = response.json()
        assert "xsrf" in body["message"].lower(), body
        # a made-up token does not pass either
        forged = _send(
            session, server, method, path, headers={"X-XSRFToken": "2|00000000|" + "0" * 32 + "|1"}
        )
        assert forged.status_code == 403, (method, path, forged.status_code)
        assert upstream_total(emulator) == before, f"{method} {path} reached ModelArts without the XSRF token"
        assert server.creds_file.read_bytes() == stored, f"{method} {path} changed the stored credentials"
        refused[f"{method} {path}"] = response.status_code
    assert len(refused) == len(UNSAFE_ROUTE_VERBS) >= 6


def test_the_same_cookie_with_the_xsrf_token_is_accepted(server, emulator):
    """Control: the cookie is valid, so the 403s above are the XSRF check and nothing else."""
    session = browser(server)
    xsrf = {"X-XSRFToken": session.cookies["_xsrf"]}
    for path, method in UNSAFE_ROUTE_VERBS:
        if (path, method) == ("credentials", "DELETE"):
            continue  # would forget the module's credentials; PUT proves the same for this route
        response = _send(session, server, method, path, headers=xsrf)
        assert response.status_code not in (401, 403), (
            method,
            path,
            response.status_code,
            response.text[:200],
        )
    response = _send(session, server, "PUT", "credentials", headers=xsrf)
    assert response.status_code == 200, response.text


def test_requests_from_another_origin_are_refused_even_with_the_token(server, emulator):
    session = browser(server)
    before = upstream_total(emulator)
    for path, method in ROUTE_VERBS:
        response = _send(
            session,
            server,
            method,
            path,
            headers={"Origin": "https://evil.example", "X-XSRFToken": session.cookies["_xsrf"]},
        )
        assert 400 <= response.status_code < 500, (method, path, response.status_code)
    assert upstream_total(emulator) == before


@pytest.mark.parametrize(
    "credential",
    ["wrong-token", "token-in-url", "forged-cookie", "empty-bearer"],
)
def test_wrong_tokens_and_forged_cookies_are_refused_everywhere(server, emulator, credential):
    """Beyond test_server_basics (no credentials at all): credentials that look right but are not."""
    session = requests.Session()
    session.trust_env = False
    headers: dict[str, str] = {}
    params: dict[str, str] = {}
    if credential == "wrong-token":
        headers["Authorization"] = "token " + "0" * len(server.token)
    elif credential == "token-in-url":
        params["token"] = server.token[:-1] + "X"
    elif credential == "forged-cookie":
        session.cookies.set(f"username-127-0-0-1-{server.port}", "2|1:0|10:1700000000|forged|" + "a" * 64)
        session.cookies.set("_xsrf", "2|00000000|" + "0" * 32 + "|1")
        headers["X-XSRFToken"] = "2|00000000|" + "0" * 32 + "|1"
    else:
        headers["Authorization"] = "Bearer "
    before = upstream_total(emulator)
    stored = server.creds_file.read_bytes()
    for path, method in ROUTE_VERBS:
        response = _send(session, server, method, path, headers=headers, params=params)
        assert response.status_code in (401, 403), (credential, method, path, response.status_code)
        assert server.creds_file.read_bytes() == stored
    assert upstream_total(emulator) == before


def _secrets() -> dict[str, str]:
    return {
        "demo secret key": DEMO_ACCOUNT.secret_key,
        "temporary secret key": TEMP_ACCOUNT.secret_key,
        "security token": TEMP_ACCOUNT.security_token or "",
    }


def _whole_answer(response: requests.Response) -> str:
    return "\n".join([response.text, *(f"{k}: {v}" for k, v in response.headers.items())])


def test_the_credentials_route_never_echoes_a_secret(server, emulator):
    secrets = _secrets()
    log_start = len(server.log())
    answers: list[requests.Response] = []
    put = {
        "access_key": TEMP_ACCOUNT.access_key,
        "secret_key": TEMP_ACCOUNT.secret_key,
        "security_token": TEMP_ACCOUNT.security_token,
        "region": DEMO_REGION,
    }
    try:
        # accepted temporary keys: the answer is a status with the masked key only
        ok = server.api("PUT", "credentials", body=put)
        assert ok.status_code == 200, ok.text
        assert ok.json()["credentials"]["access_key"] not in (None, TEMP_ACCOUNT.access_key)
        answers.append(ok)
        answers.append(server.api("GET", "status"))
        # refused by the cloud: a wrong secret, a wrong token, no token for temporary keys
        for body in (
            {**put, "secret_key": TEMP_ACCOUNT.secret_key[:-1] + "9"},
            {**put, "security_token": TEMP_ACCOUNT.security_token[:-1] + "y"},
            {key: value for key, value in put.items() if key != "security_token"},
            {**put, "access_key": DEMO_ACCOUNT.access_key, "region": DEMO_REGION},
        ):
            refused = server.api("PUT", "credentials", body=body)
            assert 400 <= refused.status_code < 500, refused.text
            assert refused.json()["message"]
            answers.append(refused)
        # refused by validation: the values are never repeated in the message
        for body in (
            {**put, "secret_key": TEMP_ACCOUNT.secret_key + " tail"},
            {**put, "security_token": TEMP_ACCOUNT.security_token + " more"},
            {**put, "access_key": TEMP_ACCOUNT.access_key + "-" + TEMP_ACCOUNT.secret_key},
            {**put, "region": TEMP_ACCOUNT.secret_key},
            {**put, "project_id": TEMP_ACCOUNT.security_token},
            {**put, "secret_key": [TEMP_ACCOUNT.secret_key]},
        ):
            refused = server.api("PUT", "credentials", body=body)
            assert refused.status_code == 400, refused.text
            answers.append(refused)
        found = {i: leaks(_whole_answer(answer), secrets) for i, answer in enumerate(answers)}
        assert not any(found.values()), found
        log = server.log()[log_start:]
        assert not leaks(log, secrets), leaks(log, secrets)
    finally:
        restore = server.api(
            "PUT",
            "credentials",
            body={"access_key": DEMO_ACCOUNT.access_key, "secret_key": DEMO_ACCOUNT.secret_key},
        )
        assert restore.status_code == 200, restore.text


def test_a_secret_key_typed_into_the_access_key_field_is_not_echoed(server, emulator):
    """The usual slip: the SK pasted into the AK field (both are letters and digits). The cloud refuses
    the unknown access key and names it; the server must not hand that text back or log it."""
    secrets = {"demo secret key": DEMO_ACCOUNT.secret_key}
    log_start = len(server.log())
    try:
        refused = server.api(
            "PUT",
            "credentials",
            body={"access_key": DEMO_ACCOUNT.secret_key, "secret_key": DEMO_ACCOUNT.access_key},
        )
        assert refused.status_code == 401, refused.text
        assert refused.json()["message"]
        assert not leaks(_whole_answer(refused), secrets), refused.text
        assert not leaks(server.log()[log_start:], secrets), "the secret key is in the server log"
    finally:
        restore = server.api(
            "PUT",
            "credentials",
            body={"access_key": DEMO_ACCOUNT.access_key, "secret_key": DEMO_ACCOUNT.secret_key},
        )
        assert restore.status_code == 200, restore.text

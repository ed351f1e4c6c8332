"""codelab_ext.ssh: rendering checked by real OpenSSH (``ssh -G``), injection safety, managed install."""

from __future__ import annotations

import datetime as dt
import os
import shlex
import stat
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codelab_ext import ssh_install as ssh_install_mod
from codelab_ext.errors import CodeLabError, ValidationError
from codelab_ext.ssh import (
    NoSshEndpointError,
    UnsafeSshEndpointError,
    default_alias,
    known_hosts_file,
    render_ssh_config,
    ssh_command,
    validate_alias,
)
from codelab_ext.ssh_install import (
    MANAGED_BEGIN,
    MANAGED_END,
    install_ssh_config,
    managed_config_path,
    uninstall_ssh_config,
)

REGION = "cn-north-4"
ALIAS = "codelab-cn-north-4"
HOST = "dev-modelarts-cnnorth4.huaweicloud.com"
NOW = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)
KNOWN_HOSTS = "~/.ssh/codelab-6f1c8b2e-0d3a-4c55-9a2e-1b7d3c9e4f10.known_hosts"

#: ``ssh -G`` keys that reveal an injected directive if they ever differ from the defaults.
DANGEROUS_KEYS = ("proxycommand", "proxyjump", "localcommand", "remotecommand", "knownhostscommand")


def make_instance(**ssh: Any) -> dict[str, Any]:
    """A normalised instance (models.py shape) with an SSH endpoint; ``ssh`` overrides endpoint fields."""
    endpoint = {
        "host": HOST,
        "port": 31234,
        "user": "ma-user",
        "key_pair_names": ["KeyPair-1a2b"],
        "uri": f"ssh://ma-user@{HOST}:31234",
    }
    endpoint.update(ssh)
    return {
        "id": "6f1c8b2e-0d3a-4c55-9a2e-1b7d3c9e4f10",
        "name": "notebook-demo",
        "status": "RUNNING",
        "image": {"id": "img-1", "name": "pytorch1.8-cuda10.2-cudnn7-ubuntu18.04", "tag": "v2"},
        "ssh": endpoint,
    }


def ssh_env(home: Path | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SSH_")}
    if home is not None:
        env["HOME"] = str(home)
    return env


def ssh_G(config: Path | str, alias: str, *, home: Path | None = None, extra: tuple[str, ...] = ()) -> dict:
    """``ssh -G -F config alias`` parsed into ``{key: [values]}``; asserts OpenSSH accepted the config."""
    result = subprocess.run(
        ["ssh", "-G", "-F", str(config), *extra, alias],
        capture_output=True,
        text=True,
        timeout=30,
        env=ssh_env(home),
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, f"ssh -G refused the config: {result.stderr}\n{Path(config).read_text()}"
    parsed: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(" ")
        parsed.setdefault(key, []).append(value)
    return parsed


def ssh_G_argv(argv: list[str]) -> dict[str, list[str]]:
    """``ssh -G`` for a command line produced by ssh_command (system and user config ignored)."""
    assert argv[0] == "ssh"
    result = subprocess.run(
        ["ssh", "-G", "-F", "none", *argv[1:]],
        capture_output=True,
        text=True,
        timeout=30,
        env=ssh_env(),
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    parsed: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(" ")
        parsed.setdefault(key, []).append(value)
    return parsed


def render_to_file(tmp_path: Path, instance: Mapping[str, Any], name: str = "config", **kwargs: Any) -> Path:
    kwargs.setdefault("region", REGION)
    path = tmp_path / name
    path.write_text(render_ssh_config(instance, **kwargs))
    return path


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """``ssh -G`` of the well-formed config: what every accepted hostile value is compared against."""
    path = render_to_file(tmp_path_factory.mktemp("baseline"), make_instance(), now=NOW)
    return ssh_G(path, ALIAS)


# ------------------------------------------------------------------------------------------ alias


def test_default_alias_is_stable_per_region() -> None:
    assert default_alias("cn-north-4") == "codelab-cn-north-4"
    assert default_alias("cn-north-4") == default_alias("cn-north-4")
    assert default_alias("ap-southeast-1") == "codelab-ap-southeast-1"
    assert default_alias("CN-East-3") == "codelab-cn-east-3"


@pytest.mark.parametrize(
    "region", ["", "cn north", "cn-north-4\nHost *", "../x", "cn_north", "cn-", "\uff43\uff4e", None]
)
def test_default_alias_refuses_bad_regions(region: Any) -> None:
    with pytest.raises(ValidationError) as info:
        default_alias(region)
    assert info.value.field == "region"


@pytest.mark.parametrize("alias", ["a", "codelab", "my.box_1-2", "A1", "x_", "9", "x" * 64])
def test_validate_alias_accepts(alias: str) -> None:
    assert validate_alias(alias) == alias


@pytest.mark.parametrize(
    "alias",
    [
        "",
        "-oProxyCommand=x",
        ".hidden",
        "a b",
        "a*",
        "a?",
        "!a",
        "a=b",
        "a%h",
        "ä",
        "x" * 65,
        "a\n",
        "a/b",
        7,
    ],
)
def test_validate_alias_refuses(alias: Any) -> None:
    with pytest.raises(ValidationError) as info:
        validate_alias(alias)
    assert info.value.field == "alias"
    assert "alias" in info.value.message


# ------------------------------------------------------------------------------------------ rendering


def test_render_shape_exact() -> None:
    text = render_ssh_config(make_instance(), region=REGION, now=NOW)
    assert text == (
        "# CodeLab instance notebook-demo (6f1c8b2e-0d3a-4c55-9a2e-1b7d3c9e4f10), "
        "image pytorch1.8-cuda10.2-cudnn7-ubuntu18.04:v2; generated by codelab_ext at 2024-05-06T07:08:09Z\n"
        "Host codelab-cn-north-4\n"
        f"    HostName {HOST}\n"
        "    Port 31234\n"
        "    User ma-user\n"
        "    IdentityFile ~/.ssh/KeyPair-1a2b.pem\n"
        "    IdentitiesOnly yes\n"
        "    # host key: recorded on the first connection, checked on the next ones (file per instance)\n"
        "    StrictHostKeyChecking accept-new\n"
        "    UserKnownHostsFile ~/.ssh/codelab-6f1c8b2e-0d3a-4c55-9a2e-1b7d3c9e4f10.known_hosts\n"
        "    ServerAliveInterval 60\n"
        "    ServerAliveCountMax 3\n"
        "    LogLevel ERROR\n"
    )


def test_render_timestamp_is_utc() -> None:
    east8 = dt.timezone(dt.timedelta(hours=8))
    text = render_ssh_config(
        make_instance(), region=REGION, now=dt.datetime(2024, 5, 6, 15, 8, 9, tzinfo=east8)
    )
    assert "generated by codelab_ext at 2024-05-06T07:08:09Z" in text.splitlines()[0]
    naive = render_ssh_config(make_instance(), region=REGION, now=dt.datetime(2024, 5, 6, 7, 8, 9))
    assert "2024-05-06T07:08:09Z" in naive.splitlines()[0]
    current = render_ssh_config(make_instance(), region=REGION)
    stamp = current.splitlines()[0].rsplit(" ", 1)[1]
    parsed = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    assert abs((dt.datetime.now(dt.timezone.utc) - parsed).total_seconds()) < 60


def test_render_alias_and_interval_options() -> None:
    text = render_ssh_config(
        make_instance(), region=REGION, alias="my.box", server_alive_interval=15, now=NOW
    )
    assert "\nHost my.box\n" in text
    assert "    ServerAliveInterval 15\n" in text
    for bad in (-1, 86401, "60", 1.5, True):
        with pytest.raises(ValidationError) as info:
            render_ssh_config(make_instance(), region=REGION, server_alive_interval=bad)
        assert info.value.field == "server_alive_interval"


def test_identity_file_given_wins_over_key_pair() -> None:
    text = render_ssh_config(make_instance(), region=REGION, identity_file="/keys/mine.pem")
    assert "    IdentityFile /keys/mine.pem\n" in text
    assert "KeyPair-1a2b" not in text


def test_identity_default_from_key_pair_without_double_suffix() -> None:
    text = render_ssh_config(make_instance(key_pair_names=["KeyPair-x.pem", "Other"]), region=REGION)
    assert "    IdentityFile ~/.ssh/KeyPair-x.pem\n" in text


def test_without_key_pair_no_identity_is_pinned() -> None:
    text = render_ssh_config(make_instance(key_pair_names=[]), region=REGION)
    assert "IdentityFile" not in text
    assert "IdentitiesOnly" not in text
    assert "# no key pair listed for this instance" in text


def test_default_user_and_custom_valid_user() -> None:
    assert "    User ma-user\n" in render_ssh_config(make_instance(user=None), region=REGION)
    assert "    User ma-user\n" in render_ssh_config(make_instance(user=""), region=REGION)
    assert "    User dev_user-2\n" in render_ssh_config(make_instance(user="dev_user-2"), region=REGION)


def test_port_missing_is_left_to_ssh_default(tmp_path: Path) -> None:
    path = render_to_file(tmp_path, make_instance(port=None))
    assert "Port" not in path.read_text()
    assert ssh_G(path, ALIAS)["port"] == ["22"]
    assert "    Port 2222\n" in render_ssh_config(make_instance(port="2222"), region=REGION)


@pytest.mark.parametrize("ssh_value", [None, {}, "missing"])
def test_instance_without_ssh_is_a_404(ssh_value: Any) -> None:
    instance = make_instance()
    if ssh_value == "missing":
        del instance["ssh"]
    else:
        instance["ssh"] = ssh_value
    with pytest.raises(NoSshEndpointError) as info:
        render_ssh_config(instance, region=REGION)
    assert isinstance(info.value, CodeLabError)
    assert info.value.status == 404
    assert "no SSH endpoint" in info.value.message
    assert "pytorch1.8" in info.value.message
    with pytest.raises(NoSshEndpointError):
        ssh_command(instance)


def test_malformed_ssh_shapes_are_validation_errors() -> None:
    instance = make_instance()
    instance["ssh"] = ["not", "a", "mapping"]
    with pytest.raises(ValidationError):
        render_ssh_config(instance, region=REGION)
    with pytest.raises(ValidationError):
        render_ssh_config(make_instance(key_pair_names=42), region=REGION)
    with pytest.raises(ValidationError):
        render_ssh_config("not an instance", region=REGION)  # type: ignore[arg-type]


def test_openssh_reads_the_rendered_config(tmp_path: Path) -> None:
    path = render_to_file(tmp_path, make_instance(), now=NOW)
    options = ssh_G(path, ALIAS)
    assert options["host"] == [ALIAS]
    assert options["hostname"] == [HOST]
    assert options["port"] == ["31234"]
    assert options["user"] == ["ma-user"]
    assert options["identityfile"] == ["~/.ssh/KeyPair-1a2b.pem"]
    assert options["identitiesonly"] == ["yes"]
    assert options["stricthostkeychecking"] == ["accept-new"]
    # ssh itself expands the ~ (to the passwd home): one file per instance
    assert len(options["userknownhostsfile"]) == 1
    assert options["userknownhostsfile"][0].endswith(KNOWN_HOSTS[1:])
    assert options["serveraliveinterval"] == ["60"]
    assert options["serveralivecountmax"] == ["3"]
    assert options["loglevel"] == ["ERROR"]
    for key in DANGEROUS_KEYS:
        assert key not in options
    assert options["permitlocalcommand"] == ["no"]


def test_openssh_other_hosts_are_untouched(tmp_path: Path) -> None:
    path = render_to_file(tmp_path, make_instance())
    options = ssh_G(path, "some-other-host")
    assert options["hostname"] == ["some-other-host"]
    assert options["stricthostkeychecking"] == ["ask"]


@pytest.mark.parametrize(
    "identity",
    [
        "/home/John Smith/.ssh/KeyPair-1.pem",
        "/keys/k#1.pem",
        "/keys/a=b.pem",
        "/home/张三/.ssh/KeyPair.pem",
        "C:\\Users\\me\\.ssh\\KeyPair.pem",
        "C:/Users/John Smith/.ssh/KeyPair.pem",
        "~/.ssh/KeyPair-9.pem",
        "/keys/-leading-dash.pem",
        "relative/key.pem",
        "/keys/@at,comma+plus:colon",
    ],
)
def test_identity_paths_reach_openssh_verbatim(tmp_path: Path, identity: str) -> None:
    path = render_to_file(tmp_path, make_instance(), identity_file=identity)
    assert ssh_G(path, ALIAS)["identityfile"] == [identity]


def test_ipv6_endpoints(tmp_path: Path) -> None:
    for host, expected in (
        ("::1", "::1"),
        ("[2001:DB8::1]", "2001:db8::1"),
        ("::ffff:10.0.0.1", "::ffff:10.0.0.1"),
    ):
        path = render_to_file(tmp_path, make_instance(host=host))
        assert ssh_G(path, ALIAS)["hostname"] == [expected]


# ------------------------------------------------------------------------------------------ hostility

EVIL = "ProxyCommand sh -c 'touch /tmp/codelab-pwned'"
SEPARATORS = [
    "\n",
    "\r",
    "\r\n",
    "\u2028",
    "\u2029",
    "\x85",
    "\x00",
    "\x0b",
    "\x0c",
    "\t",
    " ",
    "\u3000",
    "=",
]

HOSTILE: list[tuple[str, Any]] = [
    # generated: every separator between a plausible value and a directive, in every field
    *[("host", f"{HOST}{sep}{EVIL}") for sep in SEPARATORS],
    *[("user", f"ma-user{sep}{EVIL}") for sep in SEPARATORS],
    *[("identity_file", f"/keys/k.pem{sep}{EVIL}") for sep in SEPARATORS if sep not in (" ", "\t", "=")],
    *[("key_pair_names", [f"KeyPair-1{sep}{EVIL}"]) for sep in SEPARATORS],
    *[("alias", f"codelab{sep}{EVIL}") for sep in SEPARATORS],
    *[("port", f"22{sep}{EVIL}") for sep in SEPARATORS],
    # hand-written: hosts
    ("host", "-oProxyCommand=sh"),
    ("host", "ProxyCommand=sh -c evil"),
    ("host", f"{HOST}=ProxyCommand"),
    ("host", "%h"),
    ("host", "%d.example.com"),
    ("host", "example.com%n"),
    ("host", "${HOME}.example.com"),
    ("host", '"example.com"'),
    ("host", "'example.com'"),
    ("host", "evil@example.com"),
    ("host", "example.com#comment"),
    ("host", "example.com:22"),
    ("host", "fe80::1%eth0"),
    ("host", "[fe80::1%25eth0]"),
    ("host", "*.example.com"),
    ("host", "!example.com"),
    ("host", "example.com/evil"),
    ("host", "a..b"),
    ("host", "-a.example.com"),
    ("host", "a-.example.com"),
    ("host", "1.2.3"),
    ("host", "256.1.1.1"),
    ("host", "010.0.0.1"),
    ("host", "a" * 64 + ".example.com"),
    ("host", ("a" * 60 + ".") * 5 + "com"),
    ("host", "ex\u00e1mple.com"),
    ("host", "\u212aeypair.example.com"),
    ("host", "example.com\u200b"),
    ("host", "example.com\u202e"),
    ("host", ""),
    ("host", None),
    ("host", 1234),
    ("host", "[::1"),
    ("host", ":::"),
    # hand-written: accepted hosts that must come out exactly
    ("host", "EXAMPLE.com"),
    ("host", "example.com."),
    ("host", "localhost"),
    ("host", "10.0.0.1"),
    ("host", "::1"),
    ("host", "under_score.example.com"),
    # ports
    ("port", 0),
    ("port", 65536),
    ("port", -22),
    ("port", True),
    ("port", 22.0),
    ("port", "22.0"),
    ("port", "0x16"),
    ("port", "+22"),
    ("port", " 22"),
    ("port", "\u0662\u0662"),
    ("port", "1e3"),
    ("port", "999999"),
    ("port", "65535"),
    # users
    ("user", "root ProxyCommand=x"),
    ("user", "-oProxyCommand=x"),
    ("user", "ma-user@evil"),
    ("user", "%u"),
    ("user", "Ma-User"),
    ("user", "m\u00e4-user"),
    ("user", "a" * 33),
    ("user", "9user"),
    ("user", "${USER}"),
    # key pair names
    ("key_pair_names", ["../../etc/shadow"]),
    ("key_pair_names", ["Key Pair"]),
    ("key_pair_names", ["%d"]),
    ("key_pair_names", ["-oProxyCommand=x"]),
    ("key_pair_names", [".hidden"]),
    ("key_pair_names", ["a/b"]),
    ("key_pair_names", ["${HOME}"]),
    ("key_pair_names", ['"quoted"']),
    ("key_pair_names", [""]),
    ("key_pair_names", [None]),
    ("key_pair_names", ["k" * 65]),
    ("key_pair_names", "KeyPair-single"),
    # identity files from the user
    ("identity_file", '/keys/k"q.pem'),
    ("identity_file", "/keys/k'q.pem"),
    ("identity_file", '/keys/k.pem" ProxyCommand "x'),
    ("identity_file", "%d/.ssh/k.pem"),
    ("identity_file", "~/.ssh/%h.pem"),
    ("identity_file", "${HOME}/k.pem"),
    ("identity_file", "$HOME/k.pem"),
    ("identity_file", "C:\\Users\\me\\"),
    ("identity_file", "/keys/a\\ b"),
    ("identity_file", "/keys/a\\\\b"),
    ("identity_file", "/keys/" + "k" * 2000),
    ("identity_file", ""),
    ("identity_file", "/keys/\u202ek.pem"),
    ("identity_file", "/keys/k pem ProxyCommand=x"),
    ("identity_file", "/keys/k=ProxyCommand"),
    # aliases
    ("alias", "*"),
    ("alias", "a b"),
    ("alias", "-oProxyCommand=x"),
    ("alias", "a%h"),
    ("alias", "Host"),
    ("alias", "codelab=ProxyCommand"),
]

#: cloud text that only ever lands in the comment line: must render, and change nothing for OpenSSH
COMMENT_HOSTILE = [
    f"x\n{EVIL}",
    f"x\r\nHost *\n  {EVIL}",
    "x\u2028LocalCommand evil",
    "x\x00y",
    "x\x85PermitLocalCommand yes",
    "x" * 5000,
    "%h %d ${HOME} \"'",
    "名称\tTab",
]


def test_hostile_catalogue_is_large() -> None:
    assert len(HOSTILE) + len(COMMENT_HOSTILE) * 4 >= 150


def _render_with(field: str, value: Any) -> tuple[str, dict[str, Any]]:
    """Render with one hostile value; returns (alias used, kwargs) or raises ValidationError."""
    kwargs: dict[str, Any] = {"region": REGION, "now": NOW}
    instance = make_instance()
    alias = ALIAS
    if field == "identity_file":
        kwargs["identity_file"] = value
    elif field == "alias":
        kwargs["alias"] = value
        alias = value
    else:
        instance["ssh"][field] = value
    return alias, {"instance": instance, **kwargs}


@pytest.mark.parametrize(("field", "value"), HOSTILE, ids=[f"{f}-{i}" for i, (f, _) in enumerate(HOSTILE)])
def test_hostile_value_is_refused_or_harmless(
    tmp_path: Path, baseline: dict[str, list[str]], field: str, value: Any
) -> None:
    alias, kwargs = _render_with(field, value)
    instance = kwargs.pop("instance")
    try:
        text = render_ssh_config(instance, **kwargs)
    except ValidationError as error:
        expected_field = {"host": "ssh.host", "port": "ssh.port", "user": "ssh.user"}.get(field, field)
        if field == "key_pair_names":
            expected_field = "ssh.key_pair_names"
        assert error.field == expected_field
        # the user's alias or identity file is bad input (400); a value from ModelArts is upstream's (502)
        assert error.status == (400 if field in ("identity_file", "alias") else 502)
        assert expected_field.split(".")[-1].replace("_", " ") in error.message.replace("_", " ")
        assert "\n" not in error.message and "\x00" not in error.message
        return
    # Accepted: OpenSSH must see exactly the baseline, except the one option the value sets.
    assert all(char.isprintable() for char in text.replace("\n", ""))
    path = tmp_path / "config"
    path.write_text(text)
    options = ssh_G(path, alias)
    changed = {key for key in set(options) | set(baseline) if options.get(key) != baseline.get(key)}
    allowed = {
        "host": {"hostname"},
        "port": {"port"},
        "user": {"user"},
        "key_pair_names": {"identityfile"},
        "identity_file": {"identityfile"},
        "alias": {"host"},
    }[field]
    assert changed <= allowed, f"unexpected options changed: {changed}"
    for key in DANGEROUS_KEYS:
        assert key not in options
    assert options["permitlocalcommand"] == ["no"]
    if field == "host":
        assert options["hostname"] == [value.lower()]
    elif field == "port":
        assert options["port"] == [str(int(value))]
    elif field == "identity_file":
        assert options["identityfile"] == [value]
    elif field == "key_pair_names":
        name = value if isinstance(value, str) else value[0]
        assert options["identityfile"] == [f"~/.ssh/{name}.pem"]


@pytest.mark.parametrize("where", ["name", "id", "image.name", "image.tag"])
@pytest.mark.parametrize("text", COMMENT_HOSTILE)
def test_hostile_comment_text_changes_nothing(
    tmp_path: Path, baseline: dict[str, list[str]], where: str, text: str
) -> None:
    instance = make_instance()
    if where.startswith("image."):
        instance["image"][where.split(".")[1]] = text
    else:
        instance[where] = text
    if where == "id":
        # the id names the instance's known_hosts file: only a plain id is accepted, nothing is written
        with pytest.raises(UnsafeSshEndpointError) as info:
            render_ssh_config(instance, region=REGION, now=NOW)
        assert info.value.field == "id"
        assert "\n" not in info.value.message
        return
    rendered = render_ssh_config(instance, region=REGION, now=NOW)
    lines = rendered.splitlines()
    assert len(lines) == 13
    assert lines[0].startswith("# CodeLab instance ")
    assert len(lines[0]) < 600
    assert all(char.isprintable() for char in rendered.replace("\n", ""))
    path = tmp_path / "config"
    path.write_text(rendered)
    assert ssh_G(path, ALIAS) == baseline


def test_no_endpoint_message_is_sanitised() -> None:
    instance = make_instance()
    instance["ssh"] = None
    instance["name"] = f"x\n{EVIL}"
    with pytest.raises(NoSshEndpointError) as info:
        render_ssh_config(instance, region=REGION)
    assert "\n" not in info.value.message


_LINE_SHAPES = (
    r"# CodeLab instance .*",
    r"Host [A-Za-z0-9_][A-Za-z0-9._-]*",
    r"    HostName [a-z0-9_.:-]+",
    r"    Port [0-9]+",
    r"    User [a-z_][a-z0-9_-]*",
    r'    IdentityFile ("[^"\n]+"|[A-Za-z0-9/._~+:@,\\-]+)',
    r"    IdentitiesOnly yes",
    r"    # no key pair listed for this instance: .*",
    r"    # host key: recorded on the first connection, checked on the next ones \(file per instance\)",
    r"    StrictHostKeyChecking accept-new",
    r"    UserKnownHostsFile ~/\.ssh/codelab-[A-Za-z0-9_-]+\.known_hosts",
    r"    ServerAliveInterval [0-9]+",
    r"    ServerAliveCountMax 3",
    r"    LogLevel ERROR",
)


def _assert_only_known_lines(text: str) -> None:
    import re

    for line in text.split("\n")[:-1]:
        assert any(re.fullmatch(shape, line) for shape in _LINE_SHAPES), repr(line)
    assert text.endswith("\n")
    assert text.count("\nHost ") == 1


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    host=st.one_of(st.text(), st.from_regex(r"[a-zA-Z0-9.\-_:\[\]%@ ]{1,40}", fullmatch=True)),
    port=st.one_of(st.integers(), st.text(max_size=8)),
    user=st.one_of(st.none(), st.text(max_size=40)),
    key=st.one_of(st.text(max_size=70), st.from_regex(r"[A-Za-z0-9._\-]{1,64}", fullmatch=True)),
    identity=st.one_of(st.none(), st.text(min_size=1, max_size=60)),
    alias=st.one_of(st.none(), st.text(max_size=70)),
    name=st.text(),
)
def test_hypothesis_any_input_is_refused_or_well_formed(
    host: str, port: Any, user: Any, key: str, identity: Any, alias: Any, name: str
) -> None:
    instance = make_instance(host=host, port=port, user=user, key_pair_names=[key])
    instance["name"] = name
    try:
        text = render_ssh_config(instance, region=REGION, alias=alias, identity_file=identity, now=NOW)
    except ValidationError as error:
        assert error.field
        return
    _assert_only_known_lines(text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(host=st.from_regex(r"[a-zA-Z0-9.\-_:%=\[\] \t\n\"#]{1,30}", fullmatch=True))
def test_hypothesis_accepted_hosts_reach_openssh_exactly(
    tmp_path: Path, baseline: dict[str, list[str]], host: str
) -> None:
    try:
        text = render_ssh_config(make_instance(host=host), region=REGION, now=NOW)
    except ValidationError:
        return
    path = tmp_path / "hyp-config"
    path.write_text(text)
    options = ssh_G(path, ALIAS)
    expected = host[1:-1] if host.startswith("[") else host
    assert options["hostname"] == [expected.lower()]
    assert {key for key in options if options[key] != baseline.get(key)} <= {"hostname"}


# ------------------------------------------------------------------------------------------ command


def test_ssh_command_shape_and_openssh_reading() -> None:
    command = ssh_command(make_instance())
    assert command == (
        "ssh -i ~/.ssh/KeyPair-1a2b.pem -p 31234 -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new "
        f"-o UserKnownHostsFile={KNOWN_HOSTS} ma-user@{HOST}"
    )
    argv = shlex.split(command)
    assert argv[1:3] == ["-i", "~/.ssh/KeyPair-1a2b.pem"]  # the shell expands it; ssh -i would as well
    options = ssh_G_argv(argv)
    assert options["hostname"] == [HOST]
    assert options["port"] == ["31234"]
    assert options["user"] == ["ma-user"]
    assert options["identitiesonly"] == ["yes"]
    assert options["stricthostkeychecking"] == ["accept-new"]
    # ssh itself expands the ~ (to the passwd home): one file per instance
    assert len(options["userknownhostsfile"]) == 1
    assert options["userknownhostsfile"][0].endswith(KNOWN_HOSTS[1:])


def test_ssh_command_quotes_paths_and_handles_ipv6(tmp_path: Path) -> None:
    key = tmp_path / "J S" / "k.pem"  # ssh -G only reports identity files that exist
    key.parent.mkdir()
    key.write_text("not a real key")
    command = ssh_command(make_instance(host="::1", key_pair_names=[]), identity_file=str(key))
    argv = shlex.split(command)
    assert argv[:3] == ["ssh", "-i", str(key)]
    assert argv[-1] == "ma-user@::1"
    options = ssh_G_argv(argv)
    assert options["hostname"] == ["::1"]
    assert options["identityfile"] == [str(key)]
    spaced_home = ssh_command(make_instance(), identity_file="~/my keys/k.pem")
    assert "-i ~/'my keys/k.pem'" in spaced_home


def test_ssh_command_without_key_and_with_alias() -> None:
    bare = ssh_command(make_instance(key_pair_names=[], port=None))
    assert bare == (
        f"ssh -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={KNOWN_HOSTS} ma-user@{HOST}"
    )
    assert ssh_command(make_instance(), alias="my.box") == "ssh my.box"
    assert ssh_command(make_instance(), alias="my.box", identity_file="/k.pem") == "ssh -i /k.pem my.box"


@pytest.mark.parametrize(
    ("kwargs", "ssh"),
    [
        ({}, {"host": "x;rm -rf ~"}),
        ({}, {"host": "$(id)"}),
        ({}, {"user": "`id`"}),
        ({"identity_file": "/k.pem\nid"}, {}),
        ({"identity_file": "%d/k"}, {}),
        ({"alias": "-oProxyCommand=x"}, {}),
    ],
)
def test_ssh_command_refuses_hostile_values(kwargs: dict[str, Any], ssh: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ssh_command(make_instance(**ssh), **kwargs)


# ------------------------------------------------------------------------------------------ install

USER_CONFIG = (
    b"# my hand-written ssh config\n"
    b"\n"
    b"Host work\n"
    b"\tHostName work.example.com   \n"
    b"  User\t alice\n"
    b"\n"
    b"Host=legacy\n"
    b"    HostName = legacy.example.com\n"
    b"    # a comment inside a block, with a trailing space \n"
    b"\n"
    b"Host *\n"
    b"  ServerAliveInterval 30\n"
    b"  Compression yes"  # no trailing newline
)


def make_home(tmp_path: Path, config: bytes | None = USER_CONFIG, name: str = "home") -> Path:
    home = tmp_path / name
    (home / ".ssh").mkdir(parents=True)
    os.chmod(home / ".ssh", 0o700)
    if config is not None:
        (home / ".ssh" / "config").write_bytes(config)
        os.chmod(home / ".ssh" / "config", 0o644)
    return home


def block_for(port: int = 31234, alias: str = ALIAS) -> str:
    return render_ssh_config(make_instance(port=port), region=REGION, alias=alias, now=NOW)


def include_line(home: Path) -> bytes:
    return f"Include {home}/.ssh/config.d/codelab\n".encode()


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_install_keeps_user_config_byte_for_byte(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    managed = install_ssh_config(block_for(), home=home)
    assert managed == home / ".ssh" / "config.d" / "codelab" == managed_config_path(home)
    config = home / ".ssh" / "config"
    assert config.read_bytes() == include_line(home) + USER_CONFIG
    assert mode_of(config) == 0o600
    assert mode_of(managed) == 0o600
    assert mode_of(managed.parent) == 0o700
    text = managed.read_text()
    assert text == f"{MANAGED_BEGIN}\n{block_for()}{MANAGED_END}\n"


def test_install_resolves_through_include_and_keeps_user_hosts(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    install_ssh_config(block_for(), home=home)
    config = home / ".ssh" / "config"
    options = ssh_G(config, ALIAS, home=home)
    assert options["hostname"] == [HOST]
    assert options["port"] == ["31234"]
    assert options["user"] == ["ma-user"]
    assert options["stricthostkeychecking"] == ["accept-new"]
    # the include must not capture the user's own blocks, and theirs still apply to their hosts
    work = ssh_G(config, "work", home=home)
    assert work["hostname"] == ["work.example.com"]
    assert work["user"] == ["alice"]
    assert work["serveraliveinterval"] == ["30"]
    assert ssh_G(config, "legacy", home=home)["hostname"] == ["legacy.example.com"]
    # the block's ServerAliveInterval came first, so it wins for the alias (first obtained value wins)
    assert options["serveraliveinterval"] == ["60"]


def test_second_install_replaces_block_without_duplicates(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    managed = install_ssh_config(block_for(31234), home=home)
    with managed.open("a") as handle:
        handle.write("# a line the user added after our block\nHost mine\n    HostName mine.example.com")
    config_after_first = (home / ".ssh" / "config").read_bytes()
    install_ssh_config(block_for(30999), home=home)
    assert (home / ".ssh" / "config").read_bytes() == config_after_first
    text = managed.read_text()
    assert text.count(MANAGED_BEGIN) == 1 and text.count(MANAGED_END) == 1
    assert "Port 30999" in text and "Port 31234" not in text
    assert text.endswith("# a line the user added after our block\nHost mine\n    HostName mine.example.com")
    assert ssh_G(home / ".ssh" / "config", ALIAS, home=home)["port"] == ["30999"]
    assert ssh_G(home / ".ssh" / "config", "mine", home=home)["hostname"] == ["mine.example.com"]


def test_install_is_idempotent(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    managed = install_ssh_config(block_for(), home=home)
    before = (managed.stat().st_mtime_ns, (home / ".ssh" / "config").stat().st_mtime_ns)
    first = (managed.read_bytes(), (home / ".ssh" / "config").read_bytes())
    install_ssh_config(block_for(), home=home)
    assert (managed.read_bytes(), (home / ".ssh" / "config").read_bytes()) == first
    assert (managed.stat().st_mtime_ns, (home / ".ssh" / "config").stat().st_mtime_ns) == before


def test_uninstall_restores_original_bytes(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    managed = install_ssh_config(block_for(), home=home)
    assert uninstall_ssh_config(home=home) is True
    assert (home / ".ssh" / "config").read_bytes() == USER_CONFIG
    assert not managed.exists()
    assert uninstall_ssh_config(home=home) is False
    assert (home / ".ssh" / "config").read_bytes() == USER_CONFIG


def test_uninstall_keeps_other_content_of_managed_file(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    managed = home / ".ssh" / "config.d" / "codelab"
    managed.parent.mkdir()
    managed.write_text("Host before\n    HostName before.example.com")  # no trailing newline
    install_ssh_config(block_for(), home=home)
    assert managed.read_text().startswith("Host before\n    HostName before.example.com\n" + MANAGED_BEGIN)
    uninstall_ssh_config(home=home)
    assert managed.read_text() == "Host before\n    HostName before.example.com\n"


def test_install_creates_missing_ssh_dir_and_config(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    home.mkdir()
    managed = install_ssh_config(block_for(), home=home)
    assert mode_of(home / ".ssh") == 0o700
    assert mode_of(home / ".ssh" / "config.d") == 0o700
    assert (home / ".ssh" / "config").read_bytes() == include_line(home)
    assert mode_of(home / ".ssh" / "config") == 0o600
    assert mode_of(managed) == 0o600
    assert ssh_G(home / ".ssh" / "config", ALIAS, home=home)["hostname"] == [HOST]


def test_install_preserves_a_stricter_mode(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    os.chmod(home / ".ssh" / "config", 0o400)
    install_ssh_config(block_for(), home=home)
    assert mode_of(home / ".ssh" / "config") == 0o400
    assert (home / ".ssh" / "config").read_bytes() == include_line(home) + USER_CONFIG


def test_install_follows_a_symlinked_config(tmp_path: Path) -> None:
    home = make_home(tmp_path, config=None)
    dotfiles = home / "dotfiles"  # a dotfiles checkout in the home, owned by the user
    dotfiles.mkdir()
    (dotfiles / "ssh_config").write_bytes(USER_CONFIG)
    (home / ".ssh" / "config").symlink_to(dotfiles / "ssh_config")
    install_ssh_config(block_for(), home=home)
    assert (home / ".ssh" / "config").is_symlink()
    assert (dotfiles / "ssh_config").read_bytes() == include_line(home) + USER_CONFIG
    assert not list(dotfiles.glob(".*.tmp"))
    assert ssh_G(home / ".ssh" / "config", ALIAS, home=home)["hostname"] == [HOST]
    uninstall_ssh_config(home=home)
    assert (home / ".ssh" / "config").is_symlink()
    assert (dotfiles / "ssh_config").read_bytes() == USER_CONFIG


def test_install_refuses_a_dangling_symlink(tmp_path: Path) -> None:
    home = make_home(tmp_path, config=None)
    (home / ".ssh" / "config").symlink_to(tmp_path / "nowhere" / "ssh_config")
    with pytest.raises(CodeLabError) as info:
        install_ssh_config(block_for(), home=home)
    assert "symlink" in info.value.message
    assert not (tmp_path / "nowhere").exists()


def test_install_keeps_crlf_and_bom(tmp_path: Path) -> None:
    original = b"\xef\xbb\xbfHost win\r\n    HostName win.example.com\r\n"
    home = make_home(tmp_path, config=original)
    install_ssh_config(block_for(), home=home)
    data = (home / ".ssh" / "config").read_bytes()
    assert data == b"\xef\xbb\xbf" + include_line(home).rstrip(b"\n") + b"\r\n" + original[3:]
    uninstall_ssh_config(home=home)
    assert (home / ".ssh" / "config").read_bytes() == original


def test_existing_top_level_include_is_not_duplicated(tmp_path: Path) -> None:
    original = b"# mine\nInclude config.d/codelab\nHost x\n  HostName x.example.com\n"
    home = make_home(tmp_path, config=original)
    install_ssh_config(block_for(), home=home)
    assert (home / ".ssh" / "config").read_bytes() == original


def test_include_inside_a_host_block_does_not_count(tmp_path: Path) -> None:
    home = make_home(tmp_path, config=None)
    nested = f"Host x\n  Include {home}/.ssh/config.d/codelab\n".encode()
    (home / ".ssh" / "config").write_bytes(nested)
    install_ssh_config(block_for(), home=home)
    assert (home / ".ssh" / "config").read_bytes() == include_line(home) + nested
    assert ssh_G(home / ".ssh" / "config", ALIAS, home=home)["hostname"] == [HOST]


def test_home_with_a_space_is_quoted(tmp_path: Path) -> None:
    home = make_home(tmp_path, name="John Smith")
    install_ssh_config(block_for(), home=home)
    first = (home / ".ssh" / "config").read_bytes().split(b"\n", 1)[0]
    assert first == f'Include "{home}/.ssh/config.d/codelab"'.encode()
    assert ssh_G(home / ".ssh" / "config", ALIAS, home=home)["hostname"] == [HOST]
    uninstall_ssh_config(home=home)
    assert (home / ".ssh" / "config").read_bytes() == USER_CONFIG


def test_relative_include_for_the_passwd_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = make_home(tmp_path)
    monkeypatch.setattr(ssh_install_mod, "_passwd_home", lambda: home)
    install_ssh_config(block_for(), home=home)
    assert (home / ".ssh" / "config").read_bytes() == b"Include config.d/codelab\n" + USER_CONFIG
    uninstall_ssh_config(home=home)
    assert (home / ".ssh" / "config").read_bytes() == USER_CONFIG


def test_default_home_is_dollar_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = make_home(tmp_path)
    monkeypatch.setenv("HOME", str(home))
    assert install_ssh_config(block_for()) == home / ".ssh" / "config.d" / "codelab"
    assert uninstall_ssh_config() is True
    assert (home / ".ssh" / "config").read_bytes() == USER_CONFIG


def test_damaged_managed_block_is_refused(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    managed = home / ".ssh" / "config.d" / "codelab"
    managed.parent.mkdir()
    managed.write_text(f"{MANAGED_BEGIN}\nHost half\n")
    with pytest.raises(CodeLabError) as info:
        install_ssh_config(block_for(), home=home)
    assert info.value.status == 409
    assert "damaged" in info.value.message
    assert managed.read_text() == f"{MANAGED_BEGIN}\nHost half\n"
    assert (home / ".ssh" / "config").read_bytes() == USER_CONFIG


@pytest.mark.parametrize("block", ["", "   \n", f"{MANAGED_END}\nHost x\n", "Host x\r\n", "Host x\0"])
def test_bad_blocks_are_refused(tmp_path: Path, block: str) -> None:
    home = make_home(tmp_path)
    with pytest.raises(ValidationError):
        install_ssh_config(block, home=home)
    assert (home / ".ssh" / "config").read_bytes() == USER_CONFIG


def test_relative_home_is_refused() -> None:
    with pytest.raises(ValidationError):
        install_ssh_config(block_for(), home="relative/home")


@pytest.mark.parametrize("fresh", [False, True], ids=["existing-ssh-dir", "fresh-home"])
def test_concurrent_installs_leave_one_block_and_one_include(tmp_path: Path, fresh: bool) -> None:
    if fresh:
        home = tmp_path / "home"
        home.mkdir()
        expected_config = include_line(home)
    else:
        home = make_home(tmp_path)
        expected_config = include_line(home) + USER_CONFIG
    errors: list[BaseException] = []

    def worker(port: int) -> None:
        try:
            install_ssh_config(block_for(port), home=home)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(30000 + i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert (home / ".ssh" / "config").read_bytes() == expected_config
    text = (home / ".ssh" / "config.d" / "codelab").read_text()
    assert text.count(MANAGED_BEGIN) == 1 and text.count("Host ") == 1
    assert not list((home / ".ssh").rglob(".*.tmp"))


def test_ssh_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".ssh").write_text("not a directory")
    with pytest.raises(CodeLabError) as info:
        install_ssh_config(block_for(), home=home)
    assert "not a directory" in info.value.message
    assert (home / ".ssh").read_text() == "not a directory"


# ------------------------------------------------------------------------------------------ host keys


def test_known_hosts_file_is_per_instance_and_validated() -> None:
    assert known_hosts_file(make_instance()) == KNOWN_HOSTS
    other = make_instance()
    other["id"] = "b2c3"
    assert known_hosts_file(other) == "~/.ssh/codelab-b2c3.known_hosts"
    assert known_hosts_file(make_instance(), "/tmp/kh") == "/tmp/kh"
    for bad in ["", "../x", "a b", "a\nHost x", "%d", None, 7, "x" * 200]:
        instance = make_instance()
        instance["id"] = bad
        with pytest.raises(UnsafeSshEndpointError) as info:
            render_ssh_config(instance, region=REGION)
        assert info.value.field == "id"
        with pytest.raises(UnsafeSshEndpointError):
            ssh_command(instance)
    with pytest.raises(ValidationError) as refused:
        render_ssh_config(make_instance(), region=REGION, known_hosts="/k\nProxyCommand x")
    assert refused.value.field == "known_hosts"


def test_block_and_command_agree_on_host_key_policy(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(render_ssh_config(make_instance(), region=REGION, now=NOW))
    block = ssh_G(config, ALIAS)
    command = ssh_G_argv(shlex.split(ssh_command(make_instance())))
    for key in ("stricthostkeychecking", "userknownhostsfile", "hostname", "port", "user", "identitiesonly"):
        assert block[key] == command[key], key
    assert block["stricthostkeychecking"] == ["accept-new"]

"""models.py: tolerant normalisation of instances, images, leases, progress and SSH endpoints."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codelab_ext.models import (
    DEFAULT_SSH_PORT,
    FAILED_STATUSES,
    STEADY_STATUSES,
    TRANSITIONAL_STATUSES,
    image_category,
    is_settled,
    normalise_arch,
    normalise_image,
    normalise_instance,
    normalise_lease,
    normalise_progress,
    parse_ssh_endpoint,
)

# The example answer of the seed document (RunCodeLab.rst), verbatim.
SEED_OPEN_ANSWER = {
    "action_progress": [
        {"step": 1, "status": "WAITING", "description": "Prepare the storage."},
        {"step": 2, "status": "WAITING", "description": "Prepare the compute resource."},
        {"step": 3, "status": "WAITING", "description": "Configuring the network."},
        {"step": 4, "status": "WAITING", "description": "Initialize the notebook instance."},
    ],
    "create_at": 1638841805440,
    "feature": "DEFAULT",
    "flavor": "modelarts.vm.cpu.free",
    "id": "f9937afa-ca78-45b6-bc12-7ecf42553c48",
    "image": {
        "description": "description",
        "id": "e1a07296-22a8-4f05-8bc8-e936c8e54090",
        "name": "notebook2.0-mul-kernel-cpu-cp36",
        "swr_path": ".xxxx.com/atelier/notebook2.0-mul-kernel-cpu-cp36:3.3.2-release_v1",
        "tag": "3.3.2-release_v1",
        "type": "BUILD_IN",
    },
    "lease": {"create_at": 1638841805439, "duration": 3600000, "enable": True, "update_at": 1638841805439},
    "name": "notebook_5ee4bf0e",
    "status": "CREATING",
    "token": "58ba50c6-e8ff-245c-4840-49e51aa70737",
    "update_at": 1638841805440,
    "workspace_id": "0",
}

INSTANCE_KEYS = {
    "id",
    "name",
    "status",
    "feature",
    "flavor",
    "description",
    "fail_reason",
    "url",
    "token",
    "workspace_id",
    "create_at",
    "update_at",
    "image",
    "action_progress",
    "lease",
    "ssh",
    "endpoints",
    "volume",
}
IMAGE_KEYS = {
    "id",
    "name",
    "tag",
    "description",
    "type",
    "arch",
    "resource_categories",
    "dev_services",
    "status",
    "swr_path",
    "category",
}
LEASE_KEYS = {"create_at", "duration", "enable", "type", "update_at", "expires_at", "remaining_ms"}


# --------------------------------------------------------------------------- instances


def test_seed_example_normalises_to_the_design_shape():
    now = 1638841805439 + 600_000  # ten minutes into the lease
    inst = normalise_instance(SEED_OPEN_ANSWER, now_ms=now)
    assert set(inst) == INSTANCE_KEYS
    assert inst["id"] == "f9937afa-ca78-45b6-bc12-7ecf42553c48"
    assert inst["status"] == "CREATING"
    assert inst["feature"] == "DEFAULT"
    assert inst["flavor"] == "modelarts.vm.cpu.free"
    assert inst["workspace_id"] == "0"
    assert inst["create_at"] == 1638841805440
    assert inst["fail_reason"] is None and inst["url"] is None and inst["description"] is None
    assert inst["token"] == "58ba50c6-e8ff-245c-4840-49e51aa70737"  # kept: the server decides
    assert set(inst["image"]) == IMAGE_KEYS
    assert inst["image"]["name"] == "notebook2.0-mul-kernel-cpu-cp36"
    assert inst["image"]["arch"] is None
    assert inst["image"]["resource_categories"] == []
    assert [p["step"] for p in inst["action_progress"]] == [1, 2, 3, 4]
    assert inst["action_progress"][0] == {
        "step": 1,
        "status": "WAITING",
        "description": "Prepare the storage.",
    }
    assert inst["lease"]["expires_at"] == 1638841805439 + 3600000
    assert inst["lease"]["remaining_ms"] == 3600000 - 600_000
    assert inst["lease"]["type"] is None
    assert inst["ssh"] is None
    assert inst["endpoints"] == []
    assert inst["volume"] is None
    json.dumps(inst)  # JSON-serialisable as is


def test_input_is_not_modified():
    raw = copy.deepcopy(SEED_OPEN_ANSWER)
    normalise_instance(raw, now_ms=0)
    assert raw == SEED_OPEN_ANSWER


def test_unknown_top_level_fields_and_enum_values_pass_through():
    raw = {
        "id": "i1",
        "status": "HIBERNATING",
        "feature": "PREMIUM",
        "brand_new_field": {"nested": [1, 2]},
        "pool": {"id": "p", "name": "pool"},
        "affinity": "x",
    }
    inst = normalise_instance(raw)
    assert inst["status"] == "HIBERNATING"
    assert inst["feature"] == "PREMIUM"
    assert inst["brand_new_field"] == {"nested": [1, 2]}
    assert inst["affinity"] == "x"
    assert inst["pool"] == {"id": "p", "name": "pool"}
    image = normalise_image({"id": "m", "arch": "RISCV64", "type": "SHARED", "visibility": "PUBLIC"})
    assert image["arch"] == "RISCV64"
    assert image["type"] == "SHARED"
    assert image["visibility"] == "PUBLIC"


def test_missing_fields_become_none_and_lists_empty():
    inst = normalise_instance({})
    assert set(inst) == INSTANCE_KEYS
    for key in INSTANCE_KEYS - {"action_progress", "endpoints"}:
        assert inst[key] is None, key
    assert inst["action_progress"] == []
    assert inst["endpoints"] == []


@pytest.mark.parametrize("garbage", [None, "a string", 42, 1.5, True, [1, 2], ["x"]])
def test_non_object_instance_gives_the_empty_shape(garbage):
    inst = normalise_instance(garbage)
    assert set(inst) == INSTANCE_KEYS
    assert inst["id"] is None


def test_wrong_types_inside_count_as_missing():
    raw = {
        "id": 123,
        "name": ["not", "a", "string"],
        "status": {"x": 1},
        "create_at": "1638841805440",
        "update_at": "yesterday",
        "image": "e1a07296",
        "lease": "soon",
        "action_progress": {"step": 1},
        "endpoints": "ssh://host:1",
        "volume": ["EFS"],
        "token": None,
    }
    inst = normalise_instance(raw)
    assert inst["id"] == "123"
    assert inst["name"] is None
    assert inst["status"] is None
    assert inst["create_at"] == 1638841805440  # a digit string is a number
    assert inst["update_at"] is None
    assert inst["image"] is None
    assert inst["lease"] is None
    assert inst["action_progress"] == []
    assert inst["endpoints"] == []
    assert inst["ssh"] is None
    assert inst["volume"] is None


def test_volume_and_endpoints_kept():
    raw = {
        "volume": {"capacity": 5, "category": "EFS", "mount_path": "/home/ma-user/work/", "extra": 1},
        "endpoints": [
            {"dev_service": "NOTEBOOK", "uri": "https://x"},
            "junk",
            {
                "dev_service": "SSH",
                "uri": "dev-modelarts-cnnorth4.huaweicloud.com:31234",
                "key_pair_names": ["kp"],
            },
        ],
    }
    inst = normalise_instance(raw)
    assert inst["volume"]["extra"] == 1
    assert len(inst["endpoints"]) == 2  # the junk item is dropped
    assert inst["ssh"] == {
        "host": "dev-modelarts-cnnorth4.huaweicloud.com",
        "port": 31234,
        "user": "ma-user",
        "key_pair_names": ["kp"],
        "uri": "dev-modelarts-cnnorth4.huaweicloud.com:31234",
        "unreachable": None,
    }


# --------------------------------------------------------------------------- progress


def test_progress_sorted_and_both_spellings():
    raw = [
        {"step": 3, "status": "WAITING", "step_description": "network"},
        {"step": 1, "status": "COMPLETED", "description": "storage", "notebook_id": "n"},
        "junk",
        {"status": "PROCESSING", "description": "no step"},
        {"step": "2", "status": "PROCESSING", "description": "compute", "step_description": "ignored"},
    ]
    assert normalise_progress(raw) == [
        {"step": 1, "status": "COMPLETED", "description": "storage"},
        {"step": 2, "status": "PROCESSING", "description": "compute"},
        {"step": 3, "status": "WAITING", "description": "network"},
        {"step": None, "status": "PROCESSING", "description": "no step"},
    ]


def test_progress_unknown_status_passes_through():
    assert normalise_progress([{"step": 1, "status": "PAUSED"}]) == [
        {"step": 1, "status": "PAUSED", "description": None}
    ]


# --------------------------------------------------------------------------- lease


def test_lease_service_spelling():
    lease = normalise_lease(
        {
            "create_at": 1_000_000,
            "duration": 3_600_000,
            "enable": True,
            "type": "TIMING",
            "update_at": 1_000_500,
        },
        now_ms=1_000_000 + 3_000_000,
    )
    assert set(lease) == LEASE_KEYS
    assert lease["expires_at"] == 4_600_000
    assert lease["remaining_ms"] == 600_000
    assert lease["update_at"] == 1_000_500
    assert lease["enable"] is True
    assert lease["type"] == "TIMING"


def test_lease_documented_spelling():
    lease = normalise_lease(
        {"create_time": 2_000, "duration": 10_000, "enable": "false", "update_time": 3_000}, now_ms=5_000
    )
    assert lease["create_at"] == 2_000
    assert lease["update_at"] == 3_000
    assert "create_time" not in lease and "update_time" not in lease
    assert lease["expires_at"] == 12_000
    assert lease["remaining_ms"] == 7_000
    assert lease["enable"] is False


def test_lease_service_spelling_wins_over_documented():
    lease = normalise_lease({"create_at": 10, "create_time": 99, "duration": 5}, now_ms=0)
    assert lease["create_at"] == 10
    assert lease["expires_at"] == 15


def test_lease_expired_remaining_is_zero_never_negative():
    lease = normalise_lease({"create_at": 0, "duration": 1000}, now_ms=10_000)
    assert lease["expires_at"] == 1000
    assert lease["remaining_ms"] == 0


def test_lease_without_duration_or_start():
    assert normalise_lease({"duration": 1000}, now_ms=0)["expires_at"] is None
    assert normalise_lease({"create_at": 5}, now_ms=0)["remaining_ms"] is None
    assert normalise_lease("soon") is None
    assert normalise_lease(None) is None


def test_lease_default_now_is_the_clock():
    import time

    now = int(time.time() * 1000)
    lease = normalise_lease({"create_at": now, "duration": 3_600_000})
    assert 3_590_000 <= lease["remaining_ms"] <= 3_600_000


def test_lease_unknown_fields_kept():
    assert normalise_lease({"create_at": 1, "duration": 2, "renewals": 3}, now_ms=0)["renewals"] == 3


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("X86_64", "x86_64"),
        ("x86_64", "x86_64"),
        ("AARCH64", "aarch64"),
        ("aarch64", "aarch64"),
        ("arm64", "aarch64"),
        ("amd64", "x86_64"),
        ("LoongArch", "LoongArch"),
        (None, None),
        (17, "17"),
        ({"a": 1}, None),
    ],
)
def test_arch_spellings(raw, expected):
    assert normalise_arch(raw) == expected
    assert normalise_image({"arch": raw})["arch"] == expected


def test_image_shape_and_lists():
    image = normalise_image(
        {
            "id": "img",
            "name": "mindspore1.7.0-cann5.1.0-py3.7-euler2.8.3",
            "arch": "AARCH64",
            "resource_categories": ["ASCEND", 7, None],
            "dev_services": "NOTEBOOK",
            "status": "ACTIVE",
        }
    )
    assert set(image) == IMAGE_KEYS
    assert image["arch"] == "aarch64"
    assert image["resource_categories"] == ["ASCEND"]
    assert image["dev_services"] == ["NOTEBOOK"]
    assert image["tag"] is None


@pytest.mark.parametrize("garbage", [None, "img", 3, [1]])
def test_image_garbage(garbage):
    image = normalise_image(garbage)
    assert set(image) == IMAGE_KEYS
    assert image["id"] is None and image["resource_categories"] == []


@pytest.mark.parametrize(
    ("image", "category"),
    [
        ({"resource_categories": ["ASCEND"]}, "ASCEND"),
        ({"resource_categories": ["CPU", "GPU"]}, "GPU"),
        ({"resource_categories": ["cpu"]}, "CPU"),
        ({"resource_categories": ["GPU"], "name": "ascend-something"}, "GPU"),
        ({"name": "notebook2.0-mul-kernel-cpu-cp36"}, "CPU"),
        ({"name": "pytorch1.8-cuda10.2-cudnn7-ubuntu18.04"}, "GPU"),
        ({"name": "tensorflow2.1-gpu"}, "GPU"),
        ({"name": "mindspore1.7.0-cann5.1.0-py3.7-euler2.8.3"}, "ASCEND"),
        ({"name": "Ascend910-mindspore"}, "ASCEND"),
        ({"name": "python3.10-ubuntu"}, "CPU"),
        ({}, "CPU"),
        ("garbage", "CPU"),
        (None, "CPU"),
        ({"resource_categories": "GPU"}, "GPU"),
    ],
)
def test_image_category(image, category):
    assert image_category(image) == category


def test_image_category_works_on_normalised_images():
    assert image_category(normalise_image({"resource_categories": ["ASCEND"], "name": "x"})) == "ASCEND"


# --------------------------------------------------------------------------- SSH


@pytest.mark.parametrize(
    ("uri", "host", "port", "user"),
    [
        (
            "ssh://dev-modelarts-cnnorth4.huaweicloud.com:31205",
            "dev-modelarts-cnnorth4.huaweicloud.com",
            31205,
            "ma-user",
        ),
        ("ssh://ma-user@dev-modelarts.example.com:30001", "dev-modelarts.example.com", 30001, "ma-user"),
        ("ssh://root@10.0.0.5:30002", "10.0.0.5", 30002, "root"),
        ("SSH://h.example.com:30003/", "h.example.com", 30003, "ma-user"),
        ("dev-modelarts.example.com:32999", "dev-modelarts.example.com", 32999, "ma-user"),
        ("ma-user@h.example.com:30004", "h.example.com", 30004, "ma-user"),
        ("dev-modelarts.example.com", "dev-modelarts.example.com", DEFAULT_SSH_PORT, "ma-user"),
        ("  h.example.com:30005  ", "h.example.com", 30005, "ma-user"),
        ("[2001:db8::1]:30006", "2001:db8::1", 30006, "ma-user"),
        ("ssh://[2001:db8::1]:30007", "2001:db8::1", 30007, "ma-user"),
        ("ssh://ma-user@[::1]:30008", "::1", 30008, "ma-user"),
        ("[2001:db8::2]", "2001:db8::2", 22, "ma-user"),
        ("2001:db8::3", "2001:db8::3", 22, "ma-user"),
        ("127.0.0.1:2222", "127.0.0.1", 2222, "ma-user"),
        ("ssh://h.example.com", "h.example.com", 22, "ma-user"),
    ],
)
def test_ssh_uri_shapes(uri, host, port, user):
    ssh = parse_ssh_endpoint([{"dev_service": "SSH", "uri": uri}])
    assert ssh is not None, uri
    assert (ssh["host"], ssh["port"], ssh["user"]) == (host, port, user)
    assert ssh["uri"] == uri.strip()
    assert ssh["key_pair_names"] == []


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "   ",
        "h.example.com:0",
        "h.example.com:65536",
        "h.example.com:abc",
        "h.example.com:",
        "https://h.example.com:443",
        "ssh://h.example.com:22/path",
        "ssh://user:password@h.example.com:22",
        "user:pw@h.example.com:22",
        "h.example.com:22\nProxyCommand evil",
        "-oProxyCommand=evil",
        "h example.com:22",
        "[not-an-ip]:22",
        "[2001:db8::1",
        "[2001:db8::1]x",
        "bad user@h.example.com:22",
        "ssh://h.example.com:99999",
        "Ma.User@h.example.com:22",
        "h.example.com:22:33",
    ],
)
def test_ssh_unparseable_gives_none(uri):
    assert parse_ssh_endpoint([{"dev_service": "SSH", "uri": uri}]) is None


def test_ssh_endpoints_are_parsed_with_the_one_ssh_grammar():
    # what parses is exactly what codelab_ext.ssh can write into a config (which lower-cases the host)
    from codelab_ext.ssh import render_ssh_config

    parsed = parse_ssh_endpoint([{"dev_service": "SSH", "uri": "Dev_Box.Example.com:30022"}])
    assert parsed is not None and parsed["host"] == "Dev_Box.Example.com" and parsed["port"] == 30022
    text = render_ssh_config({"id": "i", "status": "RUNNING", "ssh": parsed}, region="cn-north-4")
    assert "HostName dev_box.example.com" in text


def test_ssh_endpoint_object_shapes():
    endpoints = [
        {"dev_service": "NOTEBOOK", "uri": "https://notebook"},
        {
            "service": "ssh",
            "uri": "ssh://h.example.com:30010",
            "key_pair_names": ["KeyPair-1", "KeyPair-2"],
            "ssh_keys": ["KeyPair-2", "KeyPair-3", 5],
            "allowed_access_ips": ["1.2.3.4"],
        },
    ]
    ssh = parse_ssh_endpoint(endpoints)
    assert ssh == {
        "host": "h.example.com",
        "port": 30010,
        "user": "ma-user",
        "key_pair_names": ["KeyPair-1", "KeyPair-2", "KeyPair-3"],
        "uri": "ssh://h.example.com:30010",
        "unreachable": None,
    }
    # a single object is accepted as a one-item list
    assert parse_ssh_endpoint({"dev_service": "SSH", "uri": "h.example.com:1"})["port"] == 1


def test_ssh_first_usable_endpoint_wins_and_non_ssh_ignored():
    endpoints = [
        {"dev_service": "SSH", "uri": "not valid !"},
        {"dev_service": "SSH"},
        {"dev_service": "NOTEBOOK", "uri": "h0.example.com:1"},
        {"dev_service": "SSH", "uri": "h1.example.com:2"},
        {"dev_service": "SSH", "uri": "h2.example.com:3"},
    ]
    assert parse_ssh_endpoint(endpoints)["host"] == "h1.example.com"


@pytest.mark.parametrize(
    "garbage", [None, "ssh://h:1", 3, [None, "x", 1], [{"dev_service": 5, "uri": "h:1"}]]
)
def test_ssh_garbage(garbage):
    assert parse_ssh_endpoint(garbage) is None


# --------------------------------------------------------------------------- statuses


def test_status_sets_are_disjoint_and_cover_the_documented_statuses():
    assert not (TRANSITIONAL_STATUSES & FAILED_STATUSES)
    assert not (TRANSITIONAL_STATUSES & STEADY_STATUSES)
    assert not (FAILED_STATUSES & STEADY_STATUSES)
    documented = {
        "INIT",
        "CREATING",
        "STARTING",
        "STOPPING",
        "DELETING",
        "RUNNING",
        "STOPPED",
        "SNAPSHOTTING",
        "CREATE_FAILED",
        "START_FAILED",
        "DELETE_FAILED",
        "ERROR",
        "DELETED",
        "FROZEN",
    }
    assert documented == TRANSITIONAL_STATUSES | FAILED_STATUSES | STEADY_STATUSES


@pytest.mark.parametrize(
    ("status", "settled"),
    [
        ("RUNNING", True),
        ("STOPPED", True),
        ("FROZEN", True),
        ("DELETED", True),
        ("START_FAILED", True),
        ("ERROR", True),
        ("CREATING", False),
        ("STARTING", False),
        ("SNAPSHOTTING", False),
        ("INIT", False),
        ("running", True),
        ("RESIZING", False),  # unknown, -ING: transitional
        ("HIBERNATED", True),  # unknown, not -ING: settled
        (None, False),
        ("", False),
    ],
)
def test_is_settled(status, settled):
    assert is_settled({"status": status}) is settled
    if status is not None:
        assert is_settled(status) is settled


def test_is_settled_on_normalised_instances_and_garbage():
    assert is_settled(normalise_instance(SEED_OPEN_ANSWER)) is False
    assert is_settled(normalise_instance({**SEED_OPEN_ANSWER, "status": "RUNNING"})) is True
    assert is_settled(None) is False
    assert is_settled(42) is False


# --------------------------------------------------------------------------- property-based

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=6)
    ),
    max_leaves=40,
)
known_keys = st.sampled_from(
    [
        "id",
        "status",
        "image",
        "lease",
        "action_progress",
        "endpoints",
        "volume",
        "create_at",
        "token",
        "pool",
        "arch",
        "resource_categories",
        "dev_services",
        "create_time",
        "duration",
        "uri",
        "dev_service",
        "service",
        "key_pair_names",
        "ssh_keys",
        "step",
        "description",
        "step_description",
    ]
)
# Objects that use the real field names, with arbitrary values (nested the same way).
shaped = st.recursive(
    json_values,
    lambda children: st.dictionaries(known_keys, children, max_size=8) | st.lists(children, max_size=4),
    max_leaves=60,
)


@settings(max_examples=150, deadline=None)
@given(shaped, st.one_of(st.none(), st.integers(min_value=-(2**62), max_value=2**62)))
def test_arbitrary_json_never_raises(value, now_ms):
    inst = normalise_instance(value, now_ms=now_ms)
    assert INSTANCE_KEYS <= set(inst)
    assert isinstance(inst["action_progress"], list)
    normalise_image(value)
    lease = normalise_lease(value, now_ms=now_ms)
    if lease is not None and lease["remaining_ms"] is not None:
        assert lease["remaining_ms"] >= 0
    ssh = parse_ssh_endpoint(value)
    if ssh is not None:
        assert 1 <= ssh["port"] <= 65535
    image_category(value)
    is_settled(value)
    normalise_progress(value)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_ssh_uri_never_raises_and_is_safe(uri):
    ssh = parse_ssh_endpoint([{"dev_service": "SSH", "uri": uri}])
    if ssh is not None:
        assert not any(ch.isspace() for ch in ssh["host"] + ssh["user"])
        assert not ssh["host"].startswith("-")
        assert 1 <= ssh["port"] <= 65535


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**45),
    st.integers(min_value=0, max_value=2**40),
    st.integers(min_value=0, max_value=2**46),
)
def test_lease_arithmetic(create_at, duration, now):
    lease = normalise_lease({"create_at": create_at, "duration": duration}, now_ms=now)
    assert lease["expires_at"] == create_at + duration
    assert lease["remaining_ms"] == max(0, create_at + duration - now)


def test_the_notebook_token_travels_only_inside_the_instance_url():
    from codelab_ext.models import public_instance, url_with_token

    assert url_with_token({"url": "https://h/x/lab?a=1", "token": "t k"}) == "https://h/x/lab?a=1&token=t+k"
    assert url_with_token({"url": "https://h/x/lab", "token": None}) == "https://h/x/lab"
    assert url_with_token({"url": None, "token": "t"}) is None
    shown = public_instance({"id": "i", "url": "https://h/lab", "token": "secret-token"})
    assert shown == {
        "id": "i",
        "url": "https://h/lab?token=secret-token",
        "token": None,
        "status_class": "unknown",
        "ssh_command": None,
    }
    assert public_instance({"id": "i", "url": None, "token": "secret-token"}) == {
        "id": "i",
        "url": None,
        "token": None,
        "status_class": "unknown",
        "ssh_command": None,
    }


# --------------------------------------------------------------------------- what the server decides


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("RUNNING", "running"),
        ("running", "running"),
        ("START_FAILED", "failed"),
        ("ERROR", "failed"),
        ("STARTING", "changing"),
        ("SNAPSHOTTING", "changing"),
        ("STOPPING", "stopping"),
        ("DELETING", "stopping"),
        ("RESIZING", "changing"),  # an unknown ...ING status is on its way somewhere
        ("STOPPED", "stopped"),
        ("FROZEN", "stopped"),
        ("SUSPENDED", "stopped"),  # an unknown steady status
        (None, "unknown"),
        ("", "unknown"),
    ],
)
def test_status_class_is_one_rule_for_every_status(status, expected):
    from codelab_ext.models import STATUS_CLASSES, status_class

    assert status_class({"status": status}) == expected
    assert expected in STATUS_CLASSES
    if status:
        assert status_class(status) == expected


def test_public_instance_carries_status_class_and_ssh_command():
    from codelab_ext.models import public_instance

    running = normalise_instance(
        {
            "id": "i-1",
            "status": "RUNNING",
            "url": "https://x.example/lab",
            "token": "tok",
            "endpoints": [
                {"service": "SSH", "uri": "ssh://ma-user@dev.example.com:30022", "key_pair_names": ["KP-1"]}
            ],
        }
    )
    out = public_instance(running)
    assert out["status_class"] == "running"
    # the one ssh rule (codelab_ext.ssh.ssh_command): key pair identity, IdentitiesOnly, the port
    assert out["ssh_command"].startswith("ssh -i ~/.ssh/KP-1.pem -p 30022 -o IdentitiesOnly=yes")
    assert out["ssh_command"].endswith("ma-user@dev.example.com")
    assert out["token"] is None and "tok" not in out["ssh_command"]
    stopped = public_instance(normalise_instance({"id": "i-2", "status": "STOPPED"}))
    assert stopped["status_class"] == "stopped" and stopped["ssh_command"] is None
    # an endpoint that cannot be written safely gives no command rather than an error
    hostile = normalise_instance(
        {
            "id": "i-3",
            "status": "RUNNING",
            "endpoints": [{"service": "SSH", "uri": "ssh://-oProxyCommand=x:22"}],
        }
    )
    assert public_instance(hostile)["ssh_command"] is None


def test_normalised_images_carry_their_category():
    assert normalise_image({"id": "a", "name": "pytorch1.8-cuda10.2"})["category"] == "GPU"
    assert (
        normalise_image({"id": "b", "name": "x", "resource_categories": ["ASCEND"]})["category"] == "ASCEND"
    )
    assert normalise_image({"id": "c", "name": "notebook2.0-mul-kernel-cpu"})["category"] == "CPU"


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("10.0.3.7:30022", "private"),
        ("172.16.0.9:30022", "private"),
        ("192.168.1.20:22", "private"),
        ("[fd00::5]:30022", "private"),
        ("169.254.10.1:30022", "link-local"),
        ("[fe80::1]:30022", "link-local"),
        ("127.0.0.1:30022", "loopback"),
        ("[::1]:30022", "loopback"),
        ("localhost:30022", "loopback"),
        ("dev-modelarts-cnnorth4.huaweicloud.com", "no port"),
        ("ssh://ma-user@dev-modelarts-cnnorth4.huaweicloud.com", "no port"),
        ("ssh://121.36.1.2", "no port"),
    ],
)
def test_ssh_endpoints_that_cannot_be_reached_from_outside(uri, reason):
    endpoint = [{"dev_service": "SSH", "uri": uri}]
    ssh = parse_ssh_endpoint(endpoint, check_reachability=True)
    assert ssh is not None and reason in ssh["unreachable"]
    # the rule is off unless asked for (the emulator's loopback endpoints)
    assert parse_ssh_endpoint(endpoint)["unreachable"] is None
    instance = normalise_instance({"id": "i", "endpoints": endpoint}, check_ssh_reachability=True)
    assert instance["ssh"]["unreachable"] == ssh["unreachable"]


@pytest.mark.parametrize(
    "uri",
    [
        "dev-modelarts-cnnorth4.huaweicloud.com:31234",
        "ssh://ma-user@dev-modelarts-cnnorth4.huaweicloud.com:31234",
        "121.36.1.2:30022",
        "[2400:cb00:1::5]:30022",  # a global IPv6 address
    ],
)
def test_ssh_endpoints_that_may_be_reached(uri):
    ssh = parse_ssh_endpoint([{"dev_service": "SSH", "uri": uri}], check_reachability=True)
    assert ssh is not None and ssh["unreachable"] is None


def test_only_free_flavors_are_kept_and_each_image_gets_the_one_of_its_category_and_arch():
    from codelab_ext.models import free_flavor_for, normalise_free_flavor

    raw = [
        {"id": "billed", "category": "CPU", "arch": "x86_64", "feature": "NOTEBOOK", "free": False},
        {"id": "cpu", "category": "CPU", "arch": "X86_64", "feature": "DEFAULT", "free": True, "vcpus": 2},
        {
            "id": "arm",
            "category": "cpu",
            "arch": "aarch64",
            "feature": "DEFAULT",
        },  # no ``free``: feature decides
        {"id": "gpu-full", "category": "GPU", "arch": "x86_64", "free": True, "sold_out": True},
        {"id": "gpu", "category": "GPU", "arch": "x86_64", "free": True, "vcpus": True},
        {"category": "CPU", "free": True},  # no id: no flavor
        "not an object",
    ]
    flavors = [f for f in (normalise_free_flavor(item) for item in raw) if f is not None]
    assert [f["id"] for f in flavors] == ["cpu", "arm", "gpu-full", "gpu"]
    assert flavors[0]["arch"] == "x86_64" and flavors[1]["category"] == "CPU"
    assert flavors[3]["vcpus"] is None  # a boolean is not a count

    def image(**fields):
        return {"id": "i", "name": "x", **fields}

    assert free_flavor_for(image(resource_categories=["CPU"], arch="x86_64"), flavors)["id"] == "cpu"
    assert free_flavor_for(image(resource_categories=["CPU"], arch="aarch64"), flavors)["id"] == "arm"
    # one with capacity first
    assert free_flavor_for(image(resource_categories=["GPU"], arch="x86_64"), flavors)["id"] == "gpu"
    assert free_flavor_for(image(resource_categories=["ASCEND"], arch="aarch64"), flavors) is None

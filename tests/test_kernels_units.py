"""Pure pieces of the CodeLab kernels: the websocket framing, paths, kernelspec names and shapes."""

from __future__ import annotations

import pytest
from jupyter_server.services.kernels.connection.base import deserialize_msg_from_ws_v1, serialize_msg_to_ws_v1

from codelab_ext.kernels.remote import jupyter_base, pack_ws, remote_path, unpack_ws
from codelab_ext.kernels.specs import describe, local_name


@pytest.mark.parametrize(
    "parts", [[b"{}", b"{}", b"{}", b"{}"], [b'{"a":1}', b"", b"{}", b"x" * 100_000, b"\0buf"]]
)
def test_our_v1_frames_are_jupyter_servers(parts):
    assert pack_ws("iopub", parts) == serialize_msg_to_ws_v1(parts, "iopub")
    assert unpack_ws(serialize_msg_to_ws_v1(parts, "shell")) == deserialize_msg_from_ws_v1(
        serialize_msg_to_ws_v1(parts, "shell")
    )


@pytest.mark.parametrize(
    "junk", [b"", b"\x01", (5).to_bytes(8, "little") + b"short", (2).to_bytes(8, "little") * 3]
)
def test_a_broken_frame_is_refused(junk):
    with pytest.raises(ValueError):
        unpack_ws(junk)


def test_the_jupyter_base_of_an_instance_url():
    assert jupyter_base("http://127.0.0.1:8000/abc/lab") == "http://127.0.0.1:8000/abc/"
    assert jupyter_base("https://x.example/id/lab/?token=t#f") == "https://x.example/id/"
    assert jupyter_base("https://x.example/id/") == "https://x.example/id/"


@pytest.mark.parametrize(
    ("folder", "path"),
    [
        (None, ""),
        ("/home/ma-user/work", ""),
        ("/home/ma-user/work/proj/sub", "proj/sub"),
        ("/home/ma-user/work/../etc", ""),
        ("/etc", ""),
        ("proj", "proj"),
        ("../x", ""),
    ],
)
def test_a_kernel_path_never_leaves_the_work_folder(folder, path):
    assert remote_path(folder) == path


def test_kernelspec_names_and_shape():
    assert local_name("python3") == "codelab-python3"
    assert local_name("PyTorch 2.1 (NPU)") == "codelab-pytorch-2.1-npu"
    spec = describe(
        {"id": "i-1", "name": "nb"},
        "python3",
        {"spec": {"display_name": "Python 3", "language": "python", "metadata": {"debugger": True}}},
    )
    assert spec["display_name"] == "Python 3 (CodeLab)"
    assert spec["metadata"]["codelab"] == {
        "instance_id": "i-1",
        "instance_name": "nb",
        "remote_kernel": "python3",
    }
    assert spec["metadata"]["kernel_provisioner"]["provisioner_name"] == "codelab"
    assert spec["metadata"]["debugger"] is True
    assert spec["env"] == {} and spec["interrupt_mode"] == "signal"

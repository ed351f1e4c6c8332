"""The emulator's image catalogue and free CodeLab flavors.

Names, tags and shapes follow what ModelArts lists for notebooks (``GET /v1/{project_id}/images``):
CPU, GPU and Ascend images, x86_64 and aarch64, with and without SSH, built-in and one dedicated
(user-saved) image. ``arch`` is deliberately spelled both ways (``X86_64``/``AARCH64`` and lower case),
as the real service does.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = [
    "BILLED_FLAVORS",
    "DEFAULT_IMAGE_ID",
    "FREE_FLAVORS",
    "IMAGES",
    "find_image",
    "flavor_for_image",
    "image_summary",
]

SWR = "swr.cn-north-4.myhuaweicloud.com"

#: the default multi-kernel CPU image opened by ``POST /notebooks/open`` with ``{}``
DEFAULT_IMAGE_ID = "e1a07296-22a8-4f05-8bc8-e936c8e54090"


def _image(
    image_id: str,
    name: str,
    tag: str,
    description: str,
    *,
    arch: str,
    categories: list[str],
    dev_services: list[str],
    created: int,
    type_: str = "BUILD_IN",
    namespace: str = "atelier",
    service_type: str = "COMMON",
    size: int = 8_000_000_000,
) -> dict[str, Any]:
    return {
        "id": image_id,
        "name": name,
        "tag": tag,
        "description": description,
        "type": type_,
        "arch": arch,
        "resource_categories": categories,
        "dev_services": dev_services,
        "status": "ACTIVE",
        "status_message": "",
        "swr_path": f"{SWR}/{namespace}/{name}:{tag}",
        "namespace": namespace,
        "service_type": service_type,
        "origin": "CUSTOMIZE" if type_ == "DEDICATED" else "",
        "visibility": "PRIVATE" if type_ == "DEDICATED" else "PUBLIC",
        "workspace_id": "0",
        "size": size,
        "create_at": created,
        "update_at": created,
    }


#: every image the emulator knows, in catalogue order (the default image first)
IMAGES: tuple[dict[str, Any], ...] = (
    _image(
        DEFAULT_IMAGE_ID,
        "notebook2.0-mul-kernel-cpu-cp36",
        "3.3.2-release_v1",
        "Multi-kernel CPU image: Python 3.6, TensorFlow 1.13/2.1, PyTorch 1.4, MindSpore (CPU)",
        arch="x86_64",
        categories=["CPU"],
        dev_services=["NOTEBOOK", "SSH"],
        created=1638841805440,
        size=11_234_567_890,
    ),
    _image(
        "a7ba5926-a97b-4d0d-8dc9-fa96913b3219",
        "pytorch1.8-cuda10.2-cudnn7-ubuntu18.04",
        "2.0.0-release_v2",
        "PyTorch 1.8, CUDA 10.2, cuDNN 7, Python 3.7, Ubuntu 18.04",
        arch="X86_64",
        categories=["GPU"],
        dev_services=["NOTEBOOK", "SSH"],
        created=1646104800000,
    ),
    _image(
        "01fda4b1-3196-4ca2-befd-474d9647c237",
        "pytorch1.10-cuda10.2-cudnn7-ubuntu18.04",
        "2.1.1-release_v1",
        "PyTorch 1.10, CUDA 10.2, cuDNN 7, Python 3.7, Ubuntu 18.04",
        arch="x86_64",
        categories=["GPU", "CPU"],
        dev_services=["NOTEBOOK", "SSH"],
        created=1661990400000,
    ),
    _image(
        "49d5c5cf-0290-4161-8646-6537abe81e27",
        "tensorflow2.1-cuda10.1-cudnn7-ubuntu18.04",
        "2.0.0-release_v2",
        "TensorFlow 2.1, CUDA 10.1, cuDNN 7, Python 3.7, Ubuntu 18.04",
        arch="X86_64",
        categories=["GPU"],
        dev_services=["NOTEBOOK", "SSH"],
        created=1646104800000,
    ),
    _image(
        "436b1b00-5882-4880-9377-31857f2ba51a",
        "tensorflow1.13-cuda10.0-cudnn7-ubuntu18.04",
        "1.4.0-release_v1",
        "TensorFlow 1.13, CUDA 10.0, cuDNN 7, Python 3.6, Ubuntu 18.04 (Notebook access only)",
        arch="x86_64",
        categories=["GPU"],
        dev_services=["NOTEBOOK"],
        created=1617235200000,
    ),
    _image(
        "fdf0d2d6-0cd2-4515-9330-1d68afe34827",
        "mindspore_2.2.0-cann_7.0.1-py_3.9-euler_2.10.7-aarch64-snt9b",
        "20231221",
        "MindSpore 2.2.0, CANN 7.0.1, Python 3.9, EulerOS 2.10.7 (Ascend Snt9b)",
        arch="AARCH64",
        categories=["ASCEND"],
        dev_services=["NOTEBOOK", "SSH"],
        created=1703116800000,
        size=16_000_000_000,
    ),
    _image(
        "fda74748-a8b3-4213-a848-015086e2cbe3",
        "mindspore1.7.0-cann5.1.0-py3.7-euler2.8.3",
        "2.1.0-release_v1",
        "MindSpore 1.7.0, CANN 5.1.0, Python 3.7, EulerOS 2.8.3 (Ascend 910)",
        arch="aarch64",
        categories=["ASCEND"],
        dev_services=["NOTEBOOK", "SSH"],
        created=1656633600000,
    ),
    _image(
        "f97e1b17-6402-4448-8bf7-5503dc6fc470",
        "pytorch_1.11.0-cann_6.3.0-py_3.7-euler_2.8.3-aarch64-d910",
        "20230715",
        "PyTorch 1.11 on Ascend: CANN 6.3.0, Python 3.7, EulerOS 2.8.3 (Ascend 910)",
        arch="AARCH64",
        categories=["ASCEND"],
        dev_services=["NOTEBOOK", "SSH"],
        created=1689379200000,
    ),
    _image(
        "70412c31-3a5b-4a66-badc-37b2dff9b20c",
        "mindspore_2.0.0-cuda_11.6-py_3.7-ubuntu_18.04-x86_64",
        "20230615",
        "MindSpore 2.0.0, CUDA 11.6, Python 3.7, Ubuntu 18.04",
        arch="x86_64",
        categories=["GPU"],
        dev_services=["NOTEBOOK", "SSH"],
        created=1686787200000,
    ),
    _image(
        "2e020d07-1eb9-48a7-88d3-60d0a90c5adb",
        "mindspore1.7.0-py3.7-ubuntu18.04",
        "2.1.0-release_v1",
        "MindSpore 1.7.0 (CPU), Python 3.7, Ubuntu 18.04",
        arch="X86_64",
        categories=["CPU"],
        dev_services=["NOTEBOOK", "SSH"],
        created=1656633600000,
    ),
    _image(
        "d3861375-5fa8-4192-99fc-32e4fad7d681",
        "notebook2.0-mul-kernel-arm-cpu-cp37",
        "3.3.2-release_v1",
        "Multi-kernel CPU image for Kunpeng (aarch64): Python 3.7, MindSpore (CPU)",
        arch="aarch64",
        categories=["CPU"],
        dev_services=["NOTEBOOK", "SSH"],
        created=1640995200000,
    ),
    _image(
        "2c349a39-edb7-4275-a98f-3f050b19d593",
        "python3.7-euler2.8-arm-cpu",
        "1.0.0-release_v1",
        "Plain Python 3.7 on EulerOS 2.8, Kunpeng aarch64 CPU (Notebook access only)",
        arch="AARCH64",
        categories=["CPU"],
        dev_services=["NOTEBOOK"],
        created=1625097600000,
    ),
    _image(
        "d1737a7b-6ce7-491f-b8b5-4397600baa66",
        "conda3-ubuntu18.04",
        "1.2.0-release_v1",
        "Miniconda 3 on Ubuntu 18.04 (CPU, Notebook access only)",
        arch="x86_64",
        categories=["CPU"],
        dev_services=["NOTEBOOK"],
        created=1633046400000,
    ),
    _image(
        "95bb7176-b1a0-4b37-96af-a8ddb37cce2a",
        "pytorch_2.1.0-cuda_12.1-py_3.10-ubuntu_22.04-x86_64",
        "20240416",
        "PyTorch 2.1.0, CUDA 12.1, Python 3.10, Ubuntu 22.04",
        arch="X86_64",
        categories=["GPU"],
        dev_services=["NOTEBOOK", "SSH"],
        created=1713225600000,
        size=14_000_000_000,
    ),
    _image(
        "92bff57b-8c2f-42bc-b180-01bbe5fb3823",
        "codelab-demo-pytorch-custom",
        "v1",
        "Saved from a notebook instance: PyTorch 1.10 with project dependencies",
        arch="x86_64",
        categories=["CPU", "GPU"],
        dev_services=["NOTEBOOK", "SSH"],
        created=1700000000000,
        type_="DEDICATED",
        namespace="codelab-demo",
        service_type="NOTEBOOK",
    ),
)

_BY_ID = {image["id"]: image for image in IMAGES}

#: the image fields copied into an instance's ``image`` object
_INSTANCE_IMAGE_FIELDS = (
    "id",
    "name",
    "tag",
    "type",
    "swr_path",
    "description",
    "arch",
    "resource_categories",
    "dev_services",
)

#: free flavors by processor category (what ``GET .../flavors`` lists for a CodeLab instance)
FREE_FLAVORS: dict[str, dict[str, Any]] = {
    "CPU": {
        "id": "modelarts.vm.cpu.free",
        "name": "modelarts.vm.cpu.free",
        "description": "CPU: 2 vCPUs | 8 GiB (free)",
        "arch": "x86_64",
        "category": "CPU",
        "feature": "DEFAULT",
        "free": True,
        "sold_out": False,
        "vcpus": 2,
        "memory": 8192,
        "storages": ["EVS"],
        "billing": {"code": "modelarts.vm.cpu.free", "unit_num": 1},
    },
    "CPU_ARM": {
        "id": "modelarts.vm.cpu.arm.free",
        "name": "modelarts.vm.cpu.arm.free",
        "description": "Kunpeng CPU: 2 vCPUs | 8 GiB (free)",
        "arch": "aarch64",
        "category": "CPU",
        "feature": "DEFAULT",
        "free": True,
        "sold_out": False,
        "vcpus": 2,
        "memory": 8192,
        "storages": ["EVS"],
        "billing": {"code": "modelarts.vm.cpu.arm.free", "unit_num": 1},
    },
    "GPU": {
        "id": "modelarts.vm.gpu.free",
        "name": "modelarts.vm.gpu.free",
        "description": "GPU: 1 x T4 (16 GiB) | 8 vCPUs | 32 GiB (free, limited time)",
        "arch": "x86_64",
        "category": "GPU",
        "feature": "DEFAULT",
        "free": True,
        "sold_out": False,
        "vcpus": 8,
        "memory": 32768,
        "gpu": {"gpu": 1, "gpu_memory": 16, "type": "T4"},
        "storages": ["EVS"],
        "billing": {"code": "modelarts.vm.gpu.free", "unit_num": 1},
    },
    "ASCEND": {
        "id": "modelarts.vm.ascend.free",
        "name": "modelarts.vm.ascend.free",
        "description": "Ascend: 1 x Ascend 910 (32 GiB) | 24 vCPUs | 96 GiB (free, limited time)",
        "arch": "aarch64",
        "category": "ASCEND",
        "feature": "DEFAULT",
        "free": True,
        "sold_out": False,
        "vcpus": 24,
        "memory": 98304,
        "ascend": {"npu": 1, "npu_memory": 32, "type": "Ascend910"},
        "storages": ["EVS"],
        "billing": {"code": "modelarts.vm.ascend.free", "unit_num": 1},
    },
}


#: billed notebook flavors (``feature`` NOTEBOOK: what ListFlavors lists by default)
BILLED_FLAVORS: dict[str, dict[str, Any]] = {
    "CPU": {
        "id": "modelarts.vm.cpu.2u",
        "name": "modelarts.vm.cpu.2u",
        "description": "CPU: 2 vCPUs | 8 GiB",
        "arch": "x86_64",
        "category": "CPU",
        "feature": "NOTEBOOK",
        "free": False,
        "sold_out": False,
        "vcpus": 2,
        "memory": 8192,
        "storages": ["EFS", "EVS"],
        "billing": {"code": "modelarts.vm.cpu.2u", "unit_num": 1},
    },
    "GPU": {
        "id": "modelarts.vm.gpu.t4u8",
        "name": "modelarts.vm.gpu.t4u8",
        "description": "GPU: 1 x T4 (16 GiB) | 8 vCPUs | 32 GiB",
        "arch": "x86_64",
        "category": "GPU",
        "feature": "NOTEBOOK",
        "free": False,
        "sold_out": False,
        "vcpus": 8,
        "memory": 32768,
        "gpu": {"gpu": 1, "gpu_memory": 16, "type": "T4"},
        "storages": ["EFS", "EVS"],
        "billing": {"code": "modelarts.vm.gpu.t4u8", "unit_num": 1},
    },
}


def find_image(image_id: str) -> dict[str, Any] | None:
    """A deep copy of the catalogue image with this id (None when unknown)."""
    image = _BY_ID.get(image_id)
    return copy.deepcopy(image) if image is not None else None


def image_summary(image: dict[str, Any]) -> dict[str, Any]:
    """The ``image`` object embedded in an instance."""
    return {key: copy.deepcopy(image[key]) for key in _INSTANCE_IMAGE_FIELDS if key in image}


def _flavor_key(image: dict[str, Any]) -> str:
    categories = [str(c).upper() for c in image.get("resource_categories") or []]
    if "ASCEND" in categories:
        return "ASCEND"
    if "GPU" in categories and "CPU" not in categories:
        return "GPU"
    if str(image.get("arch", "")).lower() == "aarch64":
        return "CPU_ARM"
    return "CPU"


def flavor_for_image(image: dict[str, Any]) -> dict[str, Any]:
    """The free flavor a CodeLab instance of ``image`` runs on (CPU images: ``modelarts.vm.cpu.free``)."""
    return copy.deepcopy(FREE_FLAVORS[_flavor_key(image)])

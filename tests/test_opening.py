"""codelab_ext.opening: what an open does (the one home of the "switch a running instance?" rule)."""

from __future__ import annotations

from typing import Any

import pytest

from codelab_ext.emulator import DEFAULT_IMAGE_ID, IMAGES
from codelab_ext.i18n import Message
from codelab_ext.models import normalise_image
from codelab_ext.opening import SwitchRequired, default_image_id, mark_default_image, plan_open

CATALOGUE = [normalise_image(image) for image in IMAGES]
GPU = next(image for image in CATALOGUE if image["category"] == "GPU")
CPU = next(image for image in CATALOGUE if image["id"] == DEFAULT_IMAGE_ID)


def instance(image: dict[str, Any] | None, status: str = "RUNNING") -> dict[str, Any]:
    return {"id": "inst-1", "name": "notebook-codelab-0001", "status": status, "image": image}


def test_the_default_image_is_the_multi_kernel_cpu_image_wherever_it_is_listed() -> None:
    assert default_image_id(CATALOGUE) == DEFAULT_IMAGE_ID
    assert default_image_id(list(reversed(CATALOGUE))) == DEFAULT_IMAGE_ID
    # without it: the arm multi-kernel image, then the first built-in CPU image, any CPU image, none
    others = [image for image in CATALOGUE if image["id"] != DEFAULT_IMAGE_ID]
    assert default_image_id(others) == "d3861375-5fa8-4192-99fc-32e4fad7d681"  # …-mul-kernel-arm-cpu-…
    others = [image for image in others if "mul-kernel" not in image["name"]]
    first_cpu = next(i for i in others if i["category"] == "CPU" and i["type"] == "BUILD_IN")
    assert default_image_id(others) == first_cpu["id"]
    dedicated = {**CPU, "id": "mine", "name": "my-cpu", "type": "DEDICATED"}
    assert default_image_id([GPU, dedicated]) == "mine"
    assert default_image_id([GPU]) is None
    assert default_image_id([]) is None


def test_the_catalogue_marks_exactly_the_default_image() -> None:
    marked = mark_default_image(CATALOGUE)
    assert [image["id"] for image in marked if image["default"]] == [DEFAULT_IMAGE_ID]
    assert all(image["default"] is False for image in mark_default_image([GPU]))
    assert "default" not in CATALOGUE[0]  # the cached catalogue is not changed in place


@pytest.mark.parametrize("image_id", [None, "", "   "])
def test_no_instance_opens_the_default_image_by_its_id(image_id: str | None) -> None:
    plan = plan_open([], image_id, CATALOGUE)
    assert (plan.image_id, plan.instance, plan.switch) == (DEFAULT_IMAGE_ID, None, False)
    assert plan.image is not None and plan.image["id"] == DEFAULT_IMAGE_ID


def test_the_same_image_reuses_the_instance() -> None:
    current = instance(GPU)
    plan = plan_open([current], GPU["id"], CATALOGUE)
    assert (plan.image_id, plan.instance, plan.switch) == (GPU["id"], current, False)
    default = plan_open([instance(CPU)], None, CATALOGUE)
    assert (default.image_id, default.switch) == (DEFAULT_IMAGE_ID, False)


@pytest.mark.parametrize("image_id", [None, "", DEFAULT_IMAGE_ID])
@pytest.mark.parametrize("status", ["RUNNING", "CREATING", "STARTING", "STOPPING", "START_FAILED"])
def test_the_default_image_on_a_live_gpu_instance_is_a_switch_to_confirm(
    image_id: str | None, status: str
) -> None:
    current = instance(GPU, status)
    with pytest.raises(SwitchRequired) as refused:
        plan_open([current], image_id, CATALOGUE)
    error = refused.value
    assert (error.status, error.code, error.details["instance"]) == (409, "codelab.switch_required", current)
    assert f"{GPU['name']}:{GPU['tag']}" in error.message and CPU["name"] in error.message
    assert "notebook-codelab-0001" in error.message and status in error.message
    plan = plan_open([current], image_id, CATALOGUE, confirmed=True)
    assert (plan.image_id, plan.instance, plan.switch) == (DEFAULT_IMAGE_ID, current, True)


def test_another_image_on_a_stopped_or_deleted_instance_needs_no_confirmation() -> None:
    stopped = instance(GPU, "STOPPED")
    plan = plan_open([stopped], None, CATALOGUE)
    assert (plan.image_id, plan.instance, plan.switch) == (DEFAULT_IMAGE_ID, stopped, True)
    gone = plan_open([instance(GPU, "DELETED")], None, CATALOGUE)
    assert (gone.image_id, gone.instance, gone.switch) == (DEFAULT_IMAGE_ID, None, False)


def test_without_a_default_in_the_catalogue_a_blank_open_keeps_the_running_image() -> None:
    # nothing names the image and the catalogue cannot say which one ModelArts would pick
    plan = plan_open([instance(GPU)], None, [])
    assert (plan.image_id, plan.switch) == (GPU["id"], False)
    assert plan_open([], None, []).image_id is None  # nothing to switch: ModelArts picks its default
    with pytest.raises(SwitchRequired) as refused:
        plan_open([instance({"name": "odd"})], None, [])
    assert "the default image" in refused.value.message


def test_a_switch_named_by_an_unknown_id_speaks_of_the_id_and_is_translated() -> None:
    with pytest.raises(SwitchRequired) as refused:
        plan_open([instance(GPU)], "some-other-id", [])
    message = refused.value.message
    assert isinstance(message, Message) and "some-other-id" in message
    translated = message.render("zh_CN")
    assert translated != message.render(None) and "some-other-id" in translated
    assert "切换" in translated

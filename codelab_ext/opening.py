"""What an open does: the one home of the "switch a running instance to another image?" rule.

``POST /v1/{project_id}/notebooks/open`` creates the free instance, starts it, or restarts it with
another image. The official page says a blank ``image_id`` opens the multi-kernel CPU image
(docs/modelarts-api.md, "Opening without an image"): read strictly, an open without an image switches
a GPU instance to the CPU image. So an open here always names its image: a missing or blank one is the
default image of the catalogue (:func:`default_image_id`), and it goes through the same rule as any
other image (:func:`plan_open`):

* no instance (or only a deleted one): a new instance with the image;
* the instance already has the image: reuse it (start it if it is stopped);
* the instance runs another image: a switch, which restarts it and loses what runs there, so it is
  refused with :class:`SwitchRequired` (409 ``codelab.switch_required``, the instance and the message)
  unless the caller confirmed it;
* a stopped instance with another image is switched as it starts (nothing runs there to lose).

The REST API (``CodeLabService.open``, inside the project's open lock) and ``jupyter codelab open``
both call :func:`plan_open`; the panel names an image and shows what the server answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ConflictError
from .i18n import Message, tr

__all__ = [
    "OpenPlan",
    "SwitchRequired",
    "default_image_id",
    "image_label",
    "mark_default_image",
    "plan_open",
]

#: statuses of an instance that is gone or holds nothing running: opening another image there loses nothing
_AT_REST = frozenset({"STOPPED", "DELETED"})
_DEFAULT_NAME_WORDS = ("mul-kernel", "multi-kernel", "mulkernel", "multikernel")


def _status(instance: Mapping[str, Any]) -> str:
    return str(instance.get("status") or "").upper()


def image_label(image: Mapping[str, Any] | None) -> str:
    """``name:tag`` of an image (its id when it has no name; ``-`` for none)."""
    if not image:
        return "-"
    name = image.get("name") or image.get("id") or "?"
    return f"{name}:{image['tag']}" if image.get("tag") else str(name)


def default_image_id(images: Sequence[Mapping[str, Any]]) -> str | None:
    """The image a blank ``image_id`` opens: the multi-kernel CPU image of the catalogue.

    A built-in CPU image whose name says multi-kernel (``notebook2.0-mul-kernel-cpu-…``), x86_64 before
    other architectures (the catalogue also has ``…-mul-kernel-arm-cpu-…``); then the first built-in
    CPU image, then the first CPU image; None for a catalogue without one.
    """
    from .models import image_category

    def cpu(image: Mapping[str, Any]) -> bool:
        return bool(image.get("id")) and image_category(image) == "CPU"

    def built_in(image: Mapping[str, Any]) -> bool:
        return str(image.get("type") or "BUILD_IN").upper() == "BUILD_IN"

    def multi_kernel(image: Mapping[str, Any]) -> bool:
        name = str(image.get("name") or "").lower()
        return any(word in name for word in _DEFAULT_NAME_WORDS)

    def x86(image: Mapping[str, Any]) -> bool:
        return str(image.get("arch") or "x86_64").lower() == "x86_64"

    for wanted in (
        lambda i: cpu(i) and built_in(i) and multi_kernel(i) and x86(i),
        lambda i: cpu(i) and built_in(i) and multi_kernel(i),
        lambda i: cpu(i) and built_in(i),
        cpu,
    ):
        for image in images:
            if wanted(image):
                return str(image["id"])
    return None


def mark_default_image(images: Sequence[Any]) -> list[Any]:
    """The catalogue with ``default`` set on every image: true for :func:`default_image_id`'s only."""
    chosen = default_image_id(images)
    return [{**image, "default": chosen is not None and image.get("id") == chosen} for image in images]


class SwitchRequired(ConflictError):
    """Opening the image would restart the running instance with it: the caller must confirm."""

    def __init__(self, message: str | Message, instance: Mapping[str, Any]) -> None:
        super().__init__(message, code="codelab.switch_required", details={"instance": dict(instance)})
        self.instance = instance


@dataclass(frozen=True)
class OpenPlan:
    """What an open does."""

    #: the image to send to ModelArts (None only when nothing exists to switch and the catalogue has
    #: no default image: then ModelArts picks its own default)
    image_id: str | None
    #: the catalogue's entry of that image, when the catalogue was given and has it
    image: Mapping[str, Any] | None
    #: the instance the open acts on (None: ModelArts creates one)
    instance: Mapping[str, Any] | None
    #: the open restarts (or starts) ``instance`` with another image
    switch: bool


def plan_open(
    instances: Sequence[Mapping[str, Any]],
    image_id: str | None,
    images: Sequence[Mapping[str, Any]] = (),
    *,
    confirmed: bool = False,
) -> OpenPlan:
    """Decide what opening ``image_id`` (None or blank: the default image of ``images``) does.

    ``instances`` are the project's free instances (``GET notebooks``, feature DEFAULT). Raises
    :class:`SwitchRequired` when the open would restart a running instance with another image and
    ``confirmed`` is false; nothing has been changed then.
    """
    wanted = (image_id or "").strip() or default_image_id(images)
    image = next((i for i in images if wanted is not None and i.get("id") == wanted), None)
    current = next((i for i in instances if _status(i) != "DELETED"), None)
    if current is None:
        return OpenPlan(wanted, image, None, switch=False)
    running: Mapping[str, Any] = current.get("image") or {}
    running_id = running.get("id")
    if wanted is None:
        # no default image in the catalogue: keep what runs rather than let ModelArts pick for us
        wanted = str(running_id) if running_id else None
    switch = bool(running_id) and wanted is not None and running_id != wanted
    if wanted is None and _status(current) not in _AT_REST:
        switch = True  # nothing names the image: ModelArts would open its default, maybe another
    if switch and not confirmed and _status(current) not in _AT_REST:
        raise SwitchRequired(
            tr(
                "Your CodeLab instance {instance} ({status}) runs image '{running}'. Opening '{image}' "
                "switches it to that image and restarts it: its kernels and terminals stop and "
                "anything not saved is lost.",
                instance=current.get("name") or current.get("id") or "?",
                status=_status(current) or "?",
                running=image_label(running),
                image=image_label(image) if image else (wanted or tr("the default image")),
            ),
            current,
        )
    return OpenPlan(wanted, image, current, switch=switch)

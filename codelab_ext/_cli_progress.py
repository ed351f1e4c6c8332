"""The live display of ``jupyter codelab open``: the four start-up steps with their elapsed times.

Two renderers share one :class:`StepClock` (what was seen when):

* :class:`PlainProgress` for pipes, files and dumb terminals: one line per change, e.g.
  ``[2/4] compute: PROCESSING (3.1 s)``, where the time counts from the start of ``open``;
* :class:`TtyProgress` for a terminal: a block redrawn in place (a spinner per running step, a bar for
  the whole start-up, the duration of each step), the cursor hidden while it runs and restored after.

Neither prints the instance's URL or token: the caller does that once, at the end. Every word is a
message (:func:`~codelab_ext.i18n.tr`) rendered in the terminal's language, the status codes too
(:func:`status_word`). Nothing here talks to the network; this module only imports the standard
library and codelab_ext's own text helpers.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TextIO

from .i18n import Message, tr
from .text import clip, one_line, pad

__all__ = [
    "STEP_NAMES",
    "TOTAL_STEPS",
    "PlainProgress",
    "Progress",
    "StepClock",
    "TtyProgress",
    "format_duration",
    "make_progress",
    "status_word",
    "step_label",
]

#: the four steps of ``action_progress`` (docs/modelarts-api.md)
STEP_NAMES = {
    1: tr("storage"),
    2: tr("compute"),
    3: tr("network"),
    4: tr("instance initialisation"),
}
TOTAL_STEPS = 4

#: the status codes of instances and of their steps as a reader sees them (in English: the codes)
STATUS_WORDS = {
    "INIT": tr("INIT"),
    "CREATING": tr("CREATING"),
    "STARTING": tr("STARTING"),
    "RUNNING": tr("RUNNING"),
    "STOPPING": tr("STOPPING"),
    "STOPPED": tr("STOPPED"),
    "DELETING": tr("DELETING"),
    "DELETED": tr("DELETED"),
    "SNAPSHOTTING": tr("SNAPSHOTTING"),
    "CREATE_FAILED": tr("CREATE_FAILED"),
    "START_FAILED": tr("START_FAILED"),
    "DELETE_FAILED": tr("DELETE_FAILED"),
    "ERROR": tr("ERROR"),
    "FROZEN": tr("FROZEN"),
    "REQUESTED": tr("REQUESTED"),
    "UNKNOWN": tr("UNKNOWN"),
    "WAITING": tr("WAITING"),
    "PROCESSING": tr("PROCESSING"),
    "COMPLETED": tr("COMPLETED"),
    "FAILED": tr("FAILED"),
}

Clock = Callable[[], float]


def format_duration(seconds: float) -> Message:
    """``3.1 s`` under a minute, ``2 min 05 s`` under an hour, ``1 h 02 min`` beyond."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return tr("{seconds} s", seconds=f"{seconds:.1f}")
    whole = int(seconds)
    if whole < 3600:
        return tr("{minutes} min {seconds} s", minutes=whole // 60, seconds=f"{whole % 60:02d}")
    return tr("{hours} h {minutes} min", hours=whole // 3600, minutes=f"{whole % 3600 // 60:02d}")


def step_label(step: dict[str, Any]) -> str:
    """The name of a step: the known name of steps 1-4, else upstream's description."""
    number = step.get("step")
    if isinstance(number, int) and number in STEP_NAMES:
        return STEP_NAMES[number]
    description = step.get("description")
    if description:
        return one_line(str(description), 60)
    return tr("step {number}", number=number)


def status_word(code: str) -> str:
    """A status code (``RUNNING``, ``PROCESSING``) in the reader's language; unknown codes as sent."""
    return STATUS_WORDS.get(code, code)


def _status(value: Any) -> str:
    return one_line(str(value or "UNKNOWN").upper(), 24)


class StepClock:
    """Remembers, on a monotonic clock, when each step started and ended as far as polling saw it.

    A step *starts* when it is first seen PROCESSING (or, when that was never seen, when the step
    before it ended, or when the open began) and *ends* when it is first seen COMPLETED or FAILED.
    """

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.began = clock()
        self.started: dict[int, float] = {}
        self.ended: dict[int, float] = {}

    def elapsed(self) -> float:
        """Seconds since the open began."""
        return self.clock() - self.began

    def observe(self, steps: list[dict[str, Any]]) -> None:
        now = self.clock()
        previous_end = self.began
        for index, step in enumerate(steps):
            number = step.get("step")
            key = number if isinstance(number, int) else 1000 + index
            status = _status(step.get("status"))
            if status == "WAITING" or (status == "PROCESSING" and key in self.ended):
                # a new round (a restart or an image switch walks the steps again)
                self.started.pop(key, None)
                self.ended.pop(key, None)
            if status in ("PROCESSING", "COMPLETED", "FAILED") and key not in self.started:
                self.started[key] = now if status == "PROCESSING" else min(now, previous_end)
            if status in ("COMPLETED", "FAILED") and key not in self.ended:
                self.ended[key] = now
            previous_end = self.ended.get(key, now)

    def duration(self, step: dict[str, Any], index: int) -> float | None:
        """How long the step ran (so far), ``None`` while it waits."""
        key = step.get("step") if isinstance(step.get("step"), int) else 1000 + index
        if key not in self.started:
            return None
        return self.ended.get(key, self.clock()) - self.started[key]


class Progress(Protocol):
    """What the open loop needs from a display."""

    clock: StepClock

    def update(self, instance: Mapping[str, Any]) -> None: ...

    def wait(self, seconds: float) -> None: ...

    def note(self, text: str) -> None: ...

    def close(self) -> None: ...


def _steps(instance: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [step for step in instance.get("action_progress") or [] if isinstance(step, dict)]


class PlainProgress:
    """One line per change, for output that is not a terminal."""

    def __init__(
        self, stream: TextIO, *, clock: Clock = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ):
        self.stream = stream
        self.clock = StepClock(clock)
        self.sleep = sleep
        self._status: str | None = None
        self._seen: dict[int, str] = {}

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def update(self, instance: Mapping[str, Any]) -> None:
        steps = _steps(instance)
        self.clock.observe(steps)
        elapsed = format_duration(self.clock.elapsed())
        status = _status(instance.get("status"))
        if status != self._status:
            self._status = status
            self._line(str(tr("status: {status} ({elapsed})", status=status_word(status), elapsed=elapsed)))
        total = max(TOTAL_STEPS, len(steps))
        for index, step in enumerate(steps):
            given = step.get("step")
            number = given if isinstance(given, int) else index + 1
            step_status = _status(step.get("status"))
            if self._seen.get(number) != step_status:
                self._seen[number] = step_status
                self._line(f"[{number}/{total}] {step_label(step)}: {status_word(step_status)} ({elapsed})")

    def wait(self, seconds: float) -> None:
        if seconds > 0:
            self.sleep(seconds)

    def note(self, text: str) -> None:
        self._line(f"{text} ({format_duration(self.clock.elapsed())})")

    def close(self) -> None:
        self.stream.flush()


class TtyProgress:
    """A block redrawn in place on a terminal, animated between polls."""

    FRAME_SECONDS = 0.1
    BAR_WIDTH = 20

    def __init__(
        self,
        stream: TextIO,
        *,
        title: str | None = None,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.stream = stream
        self.title = title if title is not None else str(tr("Opening CodeLab"))
        self.clock = StepClock(clock)
        self.sleep = sleep
        self.instance: Mapping[str, Any] = {}
        self.notice = ""
        self._frame = 0
        self._drawn = 0
        self._closed = False
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        unicode_ok = encoding.startswith("utf")
        self.spinner = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏" if unicode_ok else "|/-\\"
        self.done_mark, self.fail_mark, self.wait_mark = ("✔", "✘", "·") if unicode_ok else ("+", "x", ".")
        self.full, self.empty = ("█", "░") if unicode_ok else ("#", "-")
        self.stream.write("\x1b[?25l")  # hide the cursor while redrawing

    def _lines(self) -> list[str]:
        steps = _steps(self.instance)
        total = max(TOTAL_STEPS, len(steps))
        done = sum(1 for step in steps if _status(step.get("status")) == "COMPLETED")
        filled = round(self.BAR_WIDTH * done / total) if total else 0
        bar = self.full * filled + self.empty * (self.BAR_WIDTH - filled)
        status = _status(self.instance.get("status")) if self.instance else "REQUESTED"
        spin = self.spinner[self._frame % len(self.spinner)]
        elapsed = format_duration(self.clock.elapsed())
        lines = [f"{self.title}  {bar} {done}/{total}  {status_word(status)}  {elapsed}"]
        for index, step in enumerate(steps):
            given = step.get("step")
            number = given if isinstance(given, int) else index + 1
            step_status = _status(step.get("status"))
            mark = {
                "COMPLETED": self.done_mark,
                "FAILED": self.fail_mark,
                "PROCESSING": spin,
            }.get(step_status, self.wait_mark)
            duration = self.clock.duration(step, index)
            timing = format_duration(duration) if duration is not None else ""
            label, word = pad(str(step_label(step)), 24), pad(str(status_word(step_status)), 11)
            lines.append(f"  {mark} [{number}/{total}] {label} {word} {timing}")
        if self.notice:
            lines.append(f"  {self.notice}")
        return lines

    def _render(self) -> None:
        if self._closed:
            return
        width = max(20, shutil.get_terminal_size((80, 24)).columns - 1)
        lines = [clip(line, width) for line in self._lines()]  # a wrapped line would break the redraw
        out = []
        if self._drawn:
            out.append(f"\x1b[{self._drawn}F")  # back to the first line of the previous frame
        for line in lines:
            out.append("\x1b[2K" + line + "\n")
        for _ in range(self._drawn - len(lines)):  # the block shrank: clear what is left below
            out.append("\x1b[2K\n")
        extra = self._drawn - len(lines)
        if extra > 0:
            out.append(f"\x1b[{extra}F")
        self._drawn = len(lines)
        self.stream.write("".join(out))
        self.stream.flush()

    def update(self, instance: Mapping[str, Any]) -> None:
        self.instance = instance
        self.notice = ""
        self.clock.observe(_steps(instance))
        self._render()

    def wait(self, seconds: float) -> None:
        deadline = self.clock.clock() + max(0.0, seconds)
        while True:
            left = deadline - self.clock.clock()
            if left <= 0:
                return
            self.sleep(min(self.FRAME_SECONDS, left))
            self._frame += 1
            self._render()

    def note(self, text: str) -> None:
        self.notice = text
        self._render()

    def close(self) -> None:
        if self._closed:
            return
        self._render()
        self._closed = True
        self.stream.write("\x1b[?25h")  # show the cursor again
        self.stream.flush()


def make_progress(stream: TextIO, *, title: str, force_plain: bool = False) -> PlainProgress | TtyProgress:
    """A :class:`TtyProgress` when ``stream`` is a capable terminal, else a :class:`PlainProgress`."""
    import os

    is_tty = False
    try:
        is_tty = stream.isatty()
    except (AttributeError, ValueError):
        is_tty = False
    if is_tty and not force_plain and os.environ.get("TERM", "") != "dumb":
        return TtyProgress(stream, title=title)
    return PlainProgress(stream)

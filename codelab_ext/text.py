"""Text from the cloud made safe to show: one rule for terminals, SSH config comments and error messages.

Upstream text (instance names, failure reasons, error messages) is not trusted to be printable: an escape
sequence would drive the user's terminal, a newline would end an SSH config comment and start a directive.
"""

from __future__ import annotations

import unicodedata

__all__ = ["clip", "one_line", "pad", "printable", "width"]

ELLIPSIS = "..."


def printable(text: str) -> str:
    """``text`` with every non-printable character but newline and tab shown as ``?``."""
    return "".join(char if char.isprintable() or char in "\n\t" else "?" for char in text)


def one_line(value: object, limit: int | None = None) -> str:
    """``value`` as one line: whitespace runs (newlines, Unicode separators) folded to one space, other
    non-printable characters shown as ``?``, and at most ``limit`` characters (ending in ``...`` when cut)."""
    text = "".join(char if char.isprintable() else "?" for char in " ".join(str(value).split()))
    if limit is not None and len(text) > limit:
        return text[: max(0, limit - len(ELLIPSIS))] + ELLIPSIS
    return text


def width(text: str) -> int:
    """The columns ``text`` takes on a terminal: wide and fullwidth characters (Chinese) take two,
    combining marks none."""
    columns = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        columns += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return columns


def pad(text: str, columns: int) -> str:
    """``text`` padded with spaces to ``columns`` terminal columns (``str.ljust`` counts characters)."""
    return text + " " * max(0, columns - width(text))


def clip(text: str, columns: int) -> str:
    """The start of ``text`` that fits in ``columns`` terminal columns."""
    used = 0
    for index, char in enumerate(text):
        used += width(char)
        if used > columns:
            return text[:index]
    return text

"""Bounded JSON: how upstream answers are parsed and how the browser's answers are written.

Upstream JSON (ModelArts, IAM, an instance's Jupyter server) is parsed with a depth bound and without
non-finite numbers; the REST handlers' answers never carry ``NaN``/``Infinity``. The rules live here
and not in :mod:`codelab_ext.transport` so that the handlers, which only write JSON, do not import
``requests`` when the server extension loads (``benchmarks/footprint.py``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

MAX_JSON_DEPTH = 64


class JSONTooDeep(ValueError):
    """JSON nested deeper than :data:`MAX_JSON_DEPTH`."""


def _reject_constant(name: str) -> None:
    return None  # NaN, Infinity, -Infinity: not JSON numbers; dropped


def _check(value: Any) -> Any:
    """Non-finite floats to ``None`` and anything nested deeper than :data:`MAX_JSON_DEPTH` to
    ``None`` (in place, without recursion: the value may be deep). Real answers nest a few levels,
    so only a pathological extra field is ever cut."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if not isinstance(value, (dict, list)):
        return value
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        for key, item in items:
            if isinstance(item, float):
                if not math.isfinite(item):
                    node[key] = None
            elif isinstance(item, (dict, list)):
                if depth >= MAX_JSON_DEPTH:
                    node[key] = None
                else:
                    stack.append((item, depth + 1))
    return value


def loads(data: bytes | str) -> Any:
    """Parse upstream JSON: values nested deeper than :data:`MAX_JSON_DEPTH` and non-finite numbers
    become ``None``.

    Raises ``ValueError`` for anything unreadable (``UnicodeDecodeError`` for bad UTF-8, and
    :class:`JSONTooDeep` for a nesting too deep for the parser itself).
    """
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise JSONTooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    return _check(value)


def dumps(value: Any) -> str:
    """JSON for the browser: never ``NaN``/``Infinity`` (they become ``null``), never a RecursionError
    escaping as a 500 for a value that came from upstream (such a value is refused on parse)."""
    try:
        return _BROWSER_JSON.encode(value)
    except ValueError:
        return _BROWSER_JSON.encode(_sanitised(value))


#: json.dumps with any argument builds an encoder for each call; the browser's answers share one
_BROWSER_JSON = json.JSONEncoder(allow_nan=False)


def _sanitised(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: _sanitised(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_sanitised(item) for item in value]
    return value

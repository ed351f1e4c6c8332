"""What loading the server extension imports (``benchmarks/footprint.py`` measures its time).

The upstream client (``requests``, urllib3, paramiko) is needed only once a cloud call is made or an
SSH connection opened; the modules the server loads at start must not pull it in. A handler that
only writes JSON once imported :mod:`codelab_ext.transport` for its encoder, which put ``requests``
(about 70 ms) into every Jupyter server's start.
"""

from __future__ import annotations

import json
import subprocess
import sys

LOADED_AT_START = ("codelab_ext", "codelab_ext.app", "codelab_ext.handlers", "codelab_ext.service")
NOT_AT_START = ("requests", "urllib3", "paramiko", "codelab_ext.transport", "codelab_ext.modelarts")


def test_loading_the_extension_does_not_import_the_upstream_client() -> None:
    probe = (
        "import importlib, json, sys\n"
        f"for name in {LOADED_AT_START!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps([name for name in {NOT_AT_START!r} if name in sys.modules]))\n"
    )
    command = [sys.executable, "-c", probe]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_the_browser_json_rules_still_hold() -> None:
    from codelab_ext.json_bounds import MAX_JSON_DEPTH, dumps, loads

    assert dumps({"a": float("nan"), "b": [float("inf"), 1.5]}) == '{"a": null, "b": [null, 1.5]}'
    deep = "[" * (MAX_JSON_DEPTH + 3) + "]" * (MAX_JSON_DEPTH + 3)
    value = loads(deep)
    for _ in range(MAX_JSON_DEPTH - 1):
        value = value[0]
    assert value == [None]

"""A local Huawei Cloud ModelArts + IAM emulator: a faithful test double and a demo backend.

One port answers ModelArts (``/v1/{project_id}/notebooks...``, ``/v1/{project_id}/images...``), IAM
(``/v3/auth/tokens``, ``/v3/projects``) and admin routes under ``/_emulator/`` (see :mod:`.app`). It
verifies AK/SK signatures and IAM tokens against its accounts (:data:`DEMO_ACCOUNT` by default), keeps
one free CodeLab instance per project and walks it through the real statuses and start-up steps on a
clock with a speed factor, and injects faults on request (:mod:`.faults`).

In-process::

    emulator = Emulator(speed=50)
    url = emulator.start_in_thread()        # "http://127.0.0.1:PORT"
    ...
    emulator.stop()

Standalone: ``python -m codelab_ext.emulator --port 8765 [--speed 1]``.

It is a test double and a demo, never a production path.
"""

from __future__ import annotations

from .accounts import DEMO_ACCOUNT, DEMO_PROJECT_ID, DEMO_REGION, DEMO_REGIONS, Account
from .catalogue import DEFAULT_IMAGE_ID, IMAGES
from .clock import Clock
from .faults import FAULT_KINDS, ROUTE_KINDS
from .server import Emulator, demo_banner, main, serve

__all__ = [
    "DEFAULT_IMAGE_ID",
    "DEMO_ACCOUNT",
    "DEMO_PROJECT_ID",
    "DEMO_REGION",
    "DEMO_REGIONS",
    "FAULT_KINDS",
    "IMAGES",
    "ROUTE_KINDS",
    "Account",
    "Clock",
    "Emulator",
    "demo_banner",
    "main",
    "serve",
]

"""``python -m codelab_ext.emulator``: run the emulator in the foreground."""

from __future__ import annotations

from .server import main

raise SystemExit(main())

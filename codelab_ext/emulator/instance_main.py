"""``python .../codelab_ext/emulator/instance_main.py ARGS``: the Jupyter server of one emulated instance.

Started by :class:`codelab_ext.emulator.workspace.InstanceHost` (never by hand) as a script path, so
that the emulator package (tornado app, state, ...) is not imported into every server. It is a plain
``jupyter_server`` with two additions that the emulator needs:

* **no orphan**: the emulator keeps the write end of a pipe whose read end is this process's
  ``CODELAB_INSTANCE_WATCH_FD``. Nothing is ever written to it; when the emulator process ends for
  any reason (including SIGKILL) the kernel closes the write end, the read here returns end of file
  and the server stops itself (SIGTERM to itself: its kernels are shut down), then exits at the
  latest :data:`EXIT_GRACE_SECONDS` later.
* **no leftover**: when the emulator made its data folder (a temporary one) and dies, the orphaned
  server removes its instance's folder after it stopped (``CODELAB_INSTANCE_ORPHAN_CLEANUP``).
* **the token is not on the command line**: it arrives in ``CODELAB_INSTANCE_TOKEN``, is removed
  from the environment (so kernels do not inherit it) and handed to the server's configuration.

The remaining arguments are the server's own (``--ServerApp.*``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence

WATCH_FD_ENV = "CODELAB_INSTANCE_WATCH_FD"
ORPHAN_CLEANUP_ENV = "CODELAB_INSTANCE_ORPHAN_CLEANUP"
TOKEN_ENV = "CODELAB_INSTANCE_TOKEN"  # noqa: S105 - the name of a variable, not a secret
#: after the emulator is gone, seconds left to the server to stop its kernels before it exits anyway
EXIT_GRACE_SECONDS = 10.0


_orphaned = threading.Event()


def _watch(fd: int) -> None:
    """Block until the emulator is gone (end of file), then stop this process."""
    told = False  # the emulator writes a byte before it stops this server on purpose
    try:
        while os.read(fd, 1):
            told = True
    except OSError:
        pass
    if not told:
        _orphaned.set()
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(EXIT_GRACE_SECONDS)
    os._exit(1)


def main(argv: Sequence[str] | None = None) -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    # run as a script, this folder leads sys.path: its modules (app, errors, state, ...) must not
    # shadow anything the server imports
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    args = list(sys.argv[1:] if argv is None else argv)
    fd_text = os.environ.pop(WATCH_FD_ENV, "")
    token = os.environ.pop(TOKEN_ENV, "")
    if not fd_text or not token:
        sys.exit(f"{__name__} is started by the CodeLab emulator only ({WATCH_FD_ENV} and {TOKEN_ENV})")
    threading.Thread(target=_watch, args=(int(fd_text),), name="codelab-watchdog", daemon=True).start()

    from jupyter_server.serverapp import ServerApp
    from traitlets.config import Config

    cleanup = os.environ.pop(ORPHAN_CLEANUP_ENV, "")
    config = Config()
    config.IdentityProvider.token = token
    try:
        ServerApp.launch_instance(argv=args, config=config)
    finally:
        if cleanup and _orphaned.is_set():
            # the emulator died without removing its temporary folder: take this instance's part
            # of it (and the folder itself once it is empty)
            import shutil

            shutil.rmtree(cleanup, ignore_errors=True)
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(cleanup))


if __name__ == "__main__":
    main()

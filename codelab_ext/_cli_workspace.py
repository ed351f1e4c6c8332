"""``jupyter codelab push | pull | sync``: the workspace verbs of the command line.

A run goes in a worker thread so that Ctrl-C only asks it to stop (between two chunks): what was
being received stays a part file, and the next run resumes it. Progress goes to stderr on a
terminal (one line redrawn); ``--json`` prints the result (the shape of design.md §7) on stdout.
Exit 0 only when every planned file arrived and its sha256 was checked.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .i18n import tr, tr_n
from .text import one_line

if TYPE_CHECKING:
    from .cli import Context
    from .workspace import Link, LinkStore, Progress, SyncResult

__all__ = ["add_workspace_verbs"]


def add_workspace_verbs(
    verb: Callable[..., argparse.ArgumentParser], json_flag: Callable[[Any], None]
) -> None:
    """Add ``push``, ``pull`` and ``sync`` to the parser tree (``verb`` makes one subparser)."""
    for name, help_text, description in (
        (
            "push",
            tr("send a file or folder to the instance's work folder"),
            tr(
                "Send PATH (a file or folder; default: the current folder) to the instance, into "
                "/home/ma-user/work/<folder name> unless --to says otherwise, and remember the link. "
                "Only what changed since the last push or pull is sent; a file changed on both sides "
                "keeps both. Exit 0 only when every file arrived whole and was checked on arrival."
            ),
        ),
        (
            "pull",
            tr("bring back what changed on the instance since the last push or pull"),
            tr(
                "Bring the instance's changes of the linked folder of PATH (default: the current folder) "
                "back. A file changed on both sides is kept as it is here, and the instance's version is "
                "saved beside it as '<name> (CodeLab <date> <time>)<suffix>'. Nothing is deleted here "
                "because it was deleted on the instance unless --delete."
            ),
        ),
        (
            "sync",
            tr("push and pull in one go"),
            tr(
                "Send local changes and bring the instance's changes back for the linked folder of PATH "
                "(default: the current folder); conflicts keep both versions on both sides."
            ),
        ),
    ):
        p = verb(name, help_text, description)
        p.add_argument(
            "path", nargs="?", default=None, metavar="PATH", help=tr("file or folder (default: .)")
        )
        p.add_argument(
            "--to",
            metavar="DIR",
            default=None,
            help=tr("the instance folder (default /home/ma-user/work/<folder name>; relative: under it)"),
        )
        p.add_argument(
            "--delete",
            action="store_true",
            help=tr("also delete what was deleted on the other side since the last sync (if unchanged here)"),
        )
        p.add_argument(
            "--instance", metavar="ID", default=None, help=tr("the instance (default: your only one)")
        )
        p.add_argument(
            "--transport",
            choices=("auto", "contents", "sftp"),
            default="auto",
            help=tr(
                "route to the instance: its Jupyter contents API, SFTP over SSH, "
                "or auto (the first that works)"
            ),
        )
        p.add_argument("--identity-file", metavar="FILE", default=None, help=tr("SSH key for the SFTP route"))
        json_flag(p)
        p.set_defaults(func=cmd_workspace, direction=name)


def _instance(ctx: Context) -> Any:
    from .cli import CliError, _status, _the_only_instance
    from .validation import validate_id

    if ctx.args.instance:
        instance = ctx.client().get_instance(validate_id(ctx.args.instance, "ID"))
    else:
        instance = _the_only_instance(ctx)
    if _status(instance) != "RUNNING":
        raise CliError(
            tr(
                "instance {id} is {status}: start it first ('jupyter codelab open')",
                id=instance.get("id"),
                status=_status(instance),
            )
        )
    return instance


def _link(store: LinkStore, instance_id: str, target: Path, to: str | None) -> tuple[Link, list[str] | None]:
    """The link for ``target`` (made when there is none) and the paths inside it to limit the run to."""
    from .cli import CliError

    if not target.exists():
        raise CliError(tr("{path} does not exist", path=str(target)))
    link = None
    if to is None:
        found = store.find(target)
        if found is not None and found.instance_id == instance_id:
            link = found
    if link is None:
        folder = target if target.is_dir() else target.parent
        existing = store.get(instance_id, folder)
        if existing is not None and to is None:
            link = existing
        else:
            link = store.put(instance_id, folder, to)
    inside = target.relative_to(Path(link.local)).as_posix()
    return link, None if inside in ("", ".") else [inside]


def cmd_workspace(ctx: Context) -> int:
    from .cli import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, CliError
    from .workspace import LinkStore, Workspace

    args = ctx.args
    instance = _instance(ctx)
    config = ctx.config
    store = LinkStore(config.workspace_links_file)
    target = Path(args.path or ".").expanduser().resolve()
    # a WorkspaceError is a CodeLabError: the CLI's one mapping prints it and picks the exit code
    link, paths = _link(store, str(instance.get("id")), target, args.to)
    display = _Display(sys.stderr if not args.json else None, args.direction)
    cancel = threading.Event()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            with Workspace(
                store,
                instance,
                config=config,
                identity_file=args.identity_file,
                transport=args.transport,
            ) as ws:
                runner = getattr(ws, args.direction)
                outcome["result"] = runner(
                    link, paths, delete=args.delete, progress=display.update, cancel=cancel
                )
        except BaseException as exc:  # handed to the main thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="codelab-workspace-run", daemon=True)
    worker.start()
    interrupted = False
    while worker.is_alive():
        try:
            worker.join(0.2)
        except KeyboardInterrupt:
            interrupted = True
            cancel.set()
    display.finish()
    error = outcome.get("error")
    result: SyncResult | None = outcome.get("result")
    if error is not None:
        result = getattr(error, "result", None)
        if args.json and result is not None:
            ctx.json({**result.to_json(), "link": store.by_id(link.id).to_json(), "error": str(error)})
        if interrupted:
            raise CliError(
                tr("interrupted; the next run goes on from where this one stopped"), EXIT_INTERRUPTED
            )
        raise error
    assert result is not None
    if args.json:
        ctx.json({**result.to_json(), "link": store.by_id(link.id).to_json()})
    else:
        _report(ctx, link, result)
    return EXIT_OK if result.ok else EXIT_ERROR


def _report(ctx: Context, link: Link, result: SyncResult) -> None:
    route = result.transport or "?"
    if result.pushed:
        ctx.out(
            tr_n(
                "Sent {n} file to {remote} ({route}), verified.",
                "Sent {n} files to {remote} ({route}), verified.",
                len(result.pushed),
                remote=link.remote,
                route=route,
            )
        )
    if result.pulled:
        ctx.out(
            tr_n(
                "Brought back {n} file from {remote} ({route}), verified.",
                "Brought back {n} files from {remote} ({route}), verified.",
                len(result.pulled),
                remote=link.remote,
                route=route,
            )
        )
    for item in result.deleted:
        ctx.out(tr("Deleted: {path}", path=item))
    for conflict in result.conflicts:
        ctx.out(
            tr(
                "Changed on both sides: {path}; the instance's version is beside it as {copy}",
                path=conflict["path"],
                copy=conflict["copy"],
            )
        )
    for skipped in result.skipped:
        ctx.out(tr("Skipped {path}: {reason}", path=skipped["path"], reason=skipped["reason"]))
    if not (result.pushed or result.pulled or result.conflicts or result.deleted):
        ctx.out(tr("{local} and {remote} are in step: nothing to do.", local=link.local, remote=link.remote))
    if not result.ok:
        ctx.err(tr("Not everything arrived: see the skipped files above."))


class _Display:
    """One progress line on a terminal's stderr, redrawn at most ten times a second."""

    def __init__(self, stream: Any, direction: str) -> None:
        self.stream = stream if stream is not None and getattr(stream, "isatty", lambda: False)() else None
        self.direction = direction
        self.shown = False
        self.last = 0.0

    def update(self, progress: Progress) -> None:
        if self.stream is None or progress.phase != "transfer":
            return
        now = time.monotonic()
        if now - self.last < 0.1 and progress.files_done < progress.files_total:
            return
        self.last = now
        from .workspace.core import human_bytes

        done, total = progress.bytes_done, max(progress.bytes_total, 1)
        width = 20
        filled = min(width, int(width * done / total))
        line = tr(
            "{bar} {files_done}/{files_total} files, {done} of {total} {path}",
            bar="[" + "#" * filled + "-" * (width - filled) + "]",
            files_done=progress.files_done,
            files_total=progress.files_total,
            done=human_bytes(done),
            total=human_bytes(progress.bytes_total),
            path=one_line(progress.path or ""),
        )
        self.stream.write("\r\x1b[2K" + str(line)[:200])
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        if self.stream is not None and self.shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()

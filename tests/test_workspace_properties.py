"""Property: random edits, deletions and renames on both sides, then sync: no content is ever lost.

At each sync point (after the edits of a round, before the sync) every version on either side is
noted. After the sync each of them must still be somewhere (on either side, under any name), except
a version that was once in step on both sides and that has since moved on (an edit on the other side
replaced it, or a deletion there was propagated because ``delete`` was asked for): a version that was
never in step (an edit not yet synced) can never go. Each edit writes a content never written
before, so a lost edit cannot hide behind an equal one. Against the real emulated instance.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codelab_ext.workspace import LinkStore, Workspace

NAMES = ["a.txt", "b.txt", "d/c.txt", "d/e.ipynb"]
SIDES = ["local", "remote"]
OP = st.tuples(
    st.sampled_from(SIDES),
    st.sampled_from(["write", "write", "delete", "rename"]),
    st.sampled_from(NAMES),
    st.sampled_from(NAMES),
)
ROUNDS = st.lists(st.tuples(st.lists(OP, max_size=6), st.booleans()), min_size=1, max_size=4)

_example = itertools.count()


def _contents(folder: Path) -> dict[str, bytes]:
    found = {}
    for path in folder.rglob("*"):
        if path.is_file():
            found[path.relative_to(folder).as_posix()] = path.read_bytes()
    return found


def _apply(root: Path, op: str, name: str, other: str, content: bytes) -> None:
    path = root / name
    if op == "write":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    elif op == "delete":
        if path.exists():
            path.unlink()
    elif path.exists() and name != other:
        target = root / other
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(initial=st.lists(st.sampled_from(NAMES), unique=True), rounds=ROUNDS)
def test_sync_never_loses_a_version(
    running_instance: Any, tmp_path: Path, initial: list[str], rounds: list[tuple[list[Any], bool]]
) -> None:
    instance = {"id": running_instance.id, "url": running_instance.url, "token": running_instance.token}
    _check_rounds(running_instance, tmp_path, initial, rounds, lambda store: Workspace(store, instance))


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(initial=st.lists(st.sampled_from(NAMES), unique=True), rounds=ROUNDS)
def test_sync_never_loses_a_version_over_sftp(
    running_instance: Any,
    instance_sshd: Any,
    tmp_path: Path,
    initial: list[str],
    rounds: list[tuple[list[Any], bool]],
) -> None:
    instance = {
        "id": running_instance.id,
        "ssh": {"host": instance_sshd.host, "port": instance_sshd.port, "user": instance_sshd.user},
    }

    def open_workspace(store: LinkStore) -> Workspace:
        return Workspace(
            store,
            instance,
            transport="sftp",
            identity_file=str(instance_sshd.client_key_path),
            known_hosts=str(tmp_path / "known_hosts"),
        )

    _check_rounds(running_instance, tmp_path, initial, rounds, open_workspace)


def _check_rounds(
    running_instance: Any,
    tmp_path: Path,
    initial: list[str],
    rounds: list[tuple[list[Any], bool]],
    open_workspace: Callable[[LinkStore], Workspace],
) -> None:
    n = next(_example)
    local = tmp_path / f"prop-{n}"
    local.mkdir()
    remote = running_instance.work_dir / f"prop-{n}"
    counter = itertools.count()
    for name in initial:
        _apply(local, "write", name, name, f"v{next(counter)} initial {name}\n".encode())
    store = LinkStore(tmp_path / f"state-{n}" / "links.json")
    link = store.put(running_instance.id, local)
    with open_workspace(store) as ws:
        assert ws.push(link).ok
        in_step = set(_contents(local).values())
        for ops, delete in rounds:
            # the instance's file stamps move on the file system's clock tick (a few ms): an edit in
            # the very tick of the sync that wrote the file, with the same size, would not show
            time.sleep(0.02)
            for side, op, name, other in ops:
                root = local if side == "local" else remote
                _apply(
                    root,
                    op,
                    name,
                    other,
                    f"v{next(counter)} {side} {op} {name}\n".encode() * (1 + len(ops) % 3),
                )
            before = set(_contents(local).values()) | set(_contents(remote).values())
            result = ws.sync(link, delete=delete)
            assert result.ok, result.to_json()
            mine, theirs = _contents(local), _contents(remote)
            after = set(mine.values()) | set(theirs.values())
            lost = before - after
            assert lost <= in_step, (lost, result.to_json())
            # and both sides agree on every path they both have
            for path in set(mine) & set(theirs):
                assert mine[path] == theirs[path], (path, result.to_json())
            in_step |= set(mine.values()) & set(theirs.values())

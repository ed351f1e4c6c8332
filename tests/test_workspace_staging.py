"""One request per file: a new folder is pushed through a staging folder, a pull is confirmed by a
listing made after it. Against the real emulated instance (a real Jupyter server) and a real sshd."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import pytest
import requests

from codelab_ext.workspace import Cancelled, LinkStore, Workspace
from codelab_ext.workspace.contents import ContentsRemote
from codelab_ext.workspace.sftp import SftpRemote

FOLDERS = ["", "a", "a/deep", "b"]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fill(folder: Path, per_folder: int = 6) -> list[str]:
    names = []
    for sub in FOLDERS:
        (folder / sub).mkdir(parents=True, exist_ok=True)
        for index in range(per_folder):
            name = f"{sub}/f{index}.bin" if sub else f"f{index}.bin"
            (folder / name).write_bytes(os.urandom(1000 + index))
            names.append(name)
    return sorted(names)


def _all_files(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): _sha(p) for p in folder.rglob("*") if p.is_file()}


def _pull(store: LinkStore, running_instance: Any, link: Any) -> Any:
    """A pull over the real contents route."""
    route = ContentsRemote(running_instance.url, running_instance.token)
    with Workspace(store, {"id": running_instance.id}, remote=route) as ws:
        return ws.pull(link)


class Counted(ContentsRemote):
    """The real contents route, counting every answer its session receives."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requests = 0

        def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            self.requests += 1

        self.session.hooks["response"].append(hook)


def test_a_new_folder_is_pushed_and_pulled_with_about_one_request_per_file(
    running_instance: Any, tmp_path: Path
) -> None:
    store = LinkStore(tmp_path / "state" / "links.json")
    local = tmp_path / "fresh"
    names = _fill(local)
    route = Counted(running_instance.url, running_instance.token)
    with Workspace(store, {"id": running_instance.id}, remote=route) as ws:
        # When a folder the instance does not have is pushed
        result = ws.push(store.put(running_instance.id, local))
        assert result.ok, result.to_json()
        assert sorted(result.pushed) == names
        # Then one PUT per file, plus a few per folder (make it, list it) and one rename
        assert route.requests <= len(names) + 4 * len(FOLDERS) + 3, route.requests
        remote = running_instance.work_dir / "fresh"
        assert _all_files(remote) == _all_files(local)
        assert not list(running_instance.work_dir.glob("fresh.codelab-part*"))
        # When it is pulled into an empty folder
        back = tmp_path / "back"
        back.mkdir()
        link = store.put(running_instance.id, back, "fresh")
        route.requests = 0
        pulled = ws.pull(link)
        assert pulled.ok, pulled.to_json()
        # Then one GET per file, plus a listing of each folder before and after
        assert route.requests <= len(names) + 2 * len(FOLDERS), route.requests
        assert _all_files(back) == _all_files(local)
        # the manifest holds the sha256 of the bytes received
        entries = store.manifest(link).entries
        assert {path: entry.sha256 for path, entry in entries.items()} == _all_files(back)
        # When a file on the instance is touched (same bytes, a new stamp): no conflict, nothing moves
        os.utime(remote / "a" / "f0.bin", (1_000_000_000, 1_000_000_000))
        (back / "b" / "f1.bin").touch()
        again = ws.sync(link)
        assert again.ok and again.pulled == [] and again.pushed == [] and again.conflicts == [], again
        assert _all_files(back) == _all_files(local)


def test_a_file_written_on_the_instance_during_its_download_is_not_kept(
    running_instance: Any, tmp_path: Path
) -> None:
    store = LinkStore(tmp_path / "state" / "links.json")
    local = tmp_path / "racy"
    local.mkdir()
    remote = running_instance.work_dir / "racy"
    remote.mkdir()
    (remote / "log.bin").write_bytes(b"A" * (2 * 1024 * 1024))
    (remote / "other.txt").write_text("steady\n")
    link = store.put(running_instance.id, local)

    class WrittenMeanwhile(ContentsRemote):
        """The real route; once the first block of log.bin arrived, the instance rewrites it in place
        (same size, other bytes): what was received is a mix, or all old."""

        def download(self, path: str, part: Path, size: int, on_bytes: Any, cancel: Any) -> Any:
            if not path.endswith("log.bin"):
                return super().download(path, part, size, on_bytes, cancel)
            done = [False]

            def rewrite(count: int) -> None:
                if not done[0]:
                    done[0] = True
                    with open(remote / "log.bin", "r+b") as handle:
                        handle.write(b"B" * (2 * 1024 * 1024))
                on_bytes(count)

            return super().download(path, part, size, rewrite, cancel)

    route = WrittenMeanwhile(running_instance.url, running_instance.token)
    with Workspace(store, {"id": running_instance.id}, remote=route) as ws:
        result = ws.pull(link)
    # Then it is reported and not installed as good; the steady file came
    assert not result.ok
    assert [item["path"] for item in result.skipped] == ["log.bin"]
    assert "while it was being read" in str(result.skipped[0]["reason"])
    assert result.pulled == ["other.txt"]
    assert not (local / "log.bin").exists()
    assert not list(local.glob(".*.codelab-part"))
    # and the next pull brings the version the instance has now
    again = _pull(store, running_instance, link)
    assert again.ok and again.pulled == ["log.bin"], again.to_json()
    assert (local / "log.bin").read_bytes() == b"B" * (2 * 1024 * 1024)


def _stop_after(route_class: type, count: int, cancel: threading.Event) -> type:
    class StopsHalfWay(route_class):  # type: ignore[misc, valid-type]
        """The real route; the push is cancelled once ``count`` files are staged."""

        staged_files = 0

        def put_new(self, *args: Any, **kwargs: Any) -> Any:
            answer = super().put_new(*args, **kwargs)
            type(self).staged_files += 1
            if type(self).staged_files >= count:
                cancel.set()
            return answer

    return StopsHalfWay


class _one_at_a_time:
    request_timeout = 30.0
    workspace_chunk_bytes = 64 * 1024
    workspace_max_push_bytes = 1024**3
    workspace_min_rate = 256 * 1024
    workspace_parallel_transfers = 1


def _interrupted_push_resumes(running_instance: Any, tmp_path: Path, open_route: Any, plain: Any) -> None:
    store = LinkStore(tmp_path / "state" / "links.json")
    local = tmp_path / "half"
    names = _fill(local)
    (local / "a" / "big.bin").write_bytes(os.urandom(300 * 1024))  # several chunks of 64 KiB
    names = sorted([*names, "a/big.bin"])
    link = store.put(running_instance.id, local)
    cancel = threading.Event()
    half = len(names) // 2
    remote = running_instance.work_dir / "half"
    staging = running_instance.work_dir / "half.codelab-part"
    with open_route(store, _stop_after, half, cancel) as ws:
        # When the push is interrupted once half of the files are staged
        with pytest.raises(Cancelled) as caught:
            ws.push(link, cancel=cancel)
    assert caught.value.result is not None and not caught.value.result.ok
    # Then nothing is at the real name: only the staging folder, with whole files of this push
    assert not remote.exists()
    staged = _all_files(staging)
    assert half <= len(staged) < len(names)
    for name, sha in staged.items():
        assert sha == _sha(local / name), name
    assert store.manifest(link).entries == {}
    # When pushed again, what is staged is not sent again, and the folder gets its name at once
    with plain(store) as ws:
        result = ws.push(link)
    assert result.ok, result.to_json()
    assert sorted(result.pushed) == names
    assert {item["path"] for item in result.resumed} >= set(staged) - {"a/big.bin"}
    assert _all_files(remote) == _all_files(local)
    assert not staging.exists()
    assert not [p for p in running_instance.work_dir.rglob("*") if ".codelab-" in p.name]


def test_a_push_interrupted_after_staging_half_the_files_resumes_and_leaves_no_half_file(
    running_instance: Any, tmp_path: Path
) -> None:
    def open_route(store: LinkStore, wrap: Any, count: int, cancel: threading.Event) -> Workspace:
        route = wrap(ContentsRemote, count, cancel)(
            running_instance.url, running_instance.token, chunk_bytes=64 * 1024
        )
        return Workspace(store, {"id": running_instance.id}, remote=route, config=_one_at_a_time())

    def plain(store: LinkStore) -> Workspace:
        route = ContentsRemote(running_instance.url, running_instance.token, chunk_bytes=64 * 1024)
        return Workspace(store, {"id": running_instance.id}, remote=route)

    _interrupted_push_resumes(running_instance, tmp_path, open_route, plain)


def _ssh(running_instance: Any, sshd: Any) -> dict[str, Any]:
    return {
        "id": running_instance.id,
        "ssh": {"host": sshd.host, "port": sshd.port, "user": sshd.user, "key_pair_names": []},
    }


def test_over_sftp_an_interrupted_push_of_a_new_folder_resumes_the_same_way(
    running_instance: Any, instance_sshd: Any, tmp_path: Path
) -> None:
    keys = {"identity_file": str(instance_sshd.client_key_path), "known_hosts": str(tmp_path / "kh")}
    instance = _ssh(running_instance, instance_sshd)

    def open_route(store: LinkStore, wrap: Any, count: int, cancel: threading.Event) -> Workspace:
        route = wrap(SftpRemote, count, cancel)(instance, **keys)
        return Workspace(store, instance, remote=route)

    def plain(store: LinkStore) -> Workspace:
        return Workspace(store, instance, transport="sftp", **keys)

    _interrupted_push_resumes(running_instance, tmp_path, open_route, plain)


@pytest.mark.parametrize("route", ["contents", "sftp"])
def test_a_folder_made_on_the_instance_during_the_push_keeps_its_files(
    route: str, running_instance: Any, instance_sshd: Any, tmp_path: Path
) -> None:
    store = LinkStore(tmp_path / "state" / "links.json")
    local = tmp_path / "raced"
    names = _fill(local, per_folder=2)
    link = store.put(running_instance.id, local)
    remote = running_instance.work_dir / "raced"
    base = ContentsRemote if route == "contents" else SftpRemote

    class FolderAppears(base):  # type: ignore[misc, valid-type]
        """The real route; while the first file is staged, someone makes the folder on the instance."""

        def put_new(self, *args: Any, **kwargs: Any) -> Any:
            if not remote.exists():
                (remote / "a").mkdir(parents=True)
                (remote / "theirs.txt").write_text("made on the instance\n")
            return super().put_new(*args, **kwargs)

    if route == "contents":
        made = FolderAppears(running_instance.url, running_instance.token)
        instance: dict[str, Any] = {"id": running_instance.id}
    else:
        instance = _ssh(running_instance, instance_sshd)
        made = FolderAppears(
            instance, identity_file=str(instance_sshd.client_key_path), known_hosts=str(tmp_path / "kh")
        )
    with Workspace(store, instance, remote=made) as ws:
        result = ws.push(link)
    assert result.ok, result.to_json()
    assert sorted(result.pushed) == names
    assert (remote / "theirs.txt").read_text() == "made on the instance\n"
    mine = _all_files(remote)
    assert {name: mine[name] for name in names} == _all_files(local)
    assert not [p for p in running_instance.work_dir.rglob("*") if ".codelab-" in p.name]


def test_links_on_the_instance_are_skipped_not_followed_and_do_not_stop_the_pull(
    running_instance: Any, tmp_path: Path
) -> None:
    # Given an instance folder with a file, a link inside the work folder and one leading out of it
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not the instance's\n")
    remote = running_instance.work_dir / "linked"
    remote.mkdir()
    (remote / "ok.txt").write_text("ok\n")
    (remote / "in.txt").write_text("in\n")
    (remote / "inside.txt").symlink_to(remote / "in.txt")
    (remote / "out.txt").symlink_to(outside / "secret.txt")
    store = LinkStore(tmp_path / "state" / "links.json")
    local = tmp_path / "linked"
    local.mkdir()
    link = store.put(running_instance.id, local)
    result = _pull(store, running_instance, link)
    # Then the files came, each link is said in skipped (not blocking) and nothing came through it
    assert result.ok, result.to_json()
    assert sorted(result.pulled) == ["in.txt", "ok.txt"]
    skipped = {item["path"]: item for item in result.to_json()["skipped"]}
    assert set(skipped) == {"inside.txt", "out.txt"}
    assert not any(item["blocking"] for item in skipped.values())
    assert "symbolic link" in str(skipped["out.txt"]["reason"])
    assert "symbolic link" in str(skipped["inside.txt"]["reason"])
    assert sorted(p.name for p in local.iterdir()) == ["in.txt", "ok.txt"]

"""Push, pull and sync against a real emulated instance (a real Jupyter server behind it)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from codelab_ext.workspace import LinkStore, Workspace


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _instance(running: Any) -> dict[str, Any]:
    return {"id": running.id, "url": running.url, "token": running.token, "ssh": None}


@pytest.fixture
def store(tmp_path: Path) -> LinkStore:
    return LinkStore(tmp_path / "state" / "links.json")


@pytest.fixture
def local(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    folder.mkdir()
    return folder


def test_push_then_pull_round_trip(running_instance: Any, store: LinkStore, local: Path) -> None:
    # Given a folder with a notebook, a nested file, a big file and things to ignore
    (local / "a.ipynb").write_text('{"cells": []}')
    (local / "data").mkdir()
    (local / "data" / "x.csv").write_bytes(b"1,2\n" * 1000)
    (local / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    (local / "__pycache__").mkdir()
    (local / "__pycache__" / "m.pyc").write_bytes(b"x")
    link = store.put(running_instance.id, local)
    with Workspace(store, _instance(running_instance), config=_small_chunks()) as ws:
        # When it is pushed
        result = ws.push(link)
        # Then every file is there, verified, and nothing ignored went
        assert result.ok, result.to_json()
        assert sorted(result.pushed) == ["a.ipynb", "big.bin", "data/x.csv"]
        remote = running_instance.work_dir / "proj"
        for name in result.pushed:
            assert _sha(remote / name) == _sha(local / name)
        assert not (remote / "__pycache__").exists()
        assert not list(remote.rglob("*.codelab-*"))
        # When the instance changes a file and adds one, then pull
        (remote / "data" / "x.csv").write_bytes(b"changed on the instance\n")
        (remote / "out.txt").write_text("result")
        pulled = ws.pull(link)
        assert pulled.ok, pulled.to_json()
        assert sorted(pulled.pulled) == ["data/x.csv", "out.txt"]
        assert (local / "data" / "x.csv").read_bytes() == b"changed on the instance\n"
        assert (local / "out.txt").read_text() == "result"
        # And a second sync has nothing to do
        again = ws.sync(link)
        assert again.to_json()["pushed"] == [] and again.to_json()["pulled"] == []
    # the link and the manifest are stored 0600
    for file in (store.path, *store.path.parent.glob("manifests/*.json")):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert json.loads(store.path.read_text())["links"][0]["remote"] == "/home/ma-user/work/proj"


class _small_chunks:
    request_timeout = 30.0
    workspace_chunk_bytes = 1024 * 1024
    workspace_max_push_bytes = 1024**3
    workspace_min_rate = 256 * 1024
    workspace_parallel_transfers = 4


def _ssh_instance(running: Any, sshd: Any, *, url: str | None = None) -> dict[str, Any]:
    return {
        "id": running.id,
        "url": running.url if url is None else url,
        "token": running.token,
        "ssh": {"host": sshd.host, "port": sshd.port, "user": sshd.user, "key_pair_names": []},
    }


def test_sftp_route_has_the_same_semantics(
    running_instance: Any, instance_sshd: Any, store: LinkStore, local: Path, tmp_path: Path
) -> None:
    # Given a folder with a hidden file (which the contents API refuses) and a nested one
    (local / ".env").write_text("A=1\n")
    (local / "src").mkdir()
    (local / "src" / "m.py").write_text("print(1)\n")
    (local / "big.bin").write_bytes(os.urandom(2 * 1024 * 1024 + 5))
    link = store.put(running_instance.id, local, "sftp-proj")
    known = str(tmp_path / "known_hosts")
    # When the direct route is refused (a closed port) the SFTP route is taken
    closed = "http://127.0.0.1:9/x/lab"
    instance = _ssh_instance(running_instance, instance_sshd, url=closed)
    with Workspace(
        store, instance, identity_file=str(instance_sshd.client_key_path), known_hosts=known
    ) as ws:
        result = ws.push(link)
        assert result.transport == "sftp" and ws.transport_name == "sftp"
        assert result.ok, result.to_json()
        assert sorted(result.pushed) == [".env", "big.bin", "src/m.py"]
        remote = running_instance.work_dir / "sftp-proj"
        for name in result.pushed:
            assert _sha(remote / name) == _sha(local / name)
        assert not list(remote.rglob("*.codelab-part"))
        # When both sides change the same file, sync keeps both versions on both sides
        (local / "src" / "m.py").write_text("print('local')\n")
        (remote / "src" / "m.py").write_text("print('instance, longer')\n")
        synced = ws.sync(link)
        assert synced.ok, synced.to_json()
        [conflict] = synced.conflicts
        copy = conflict["copy"]
        assert conflict["path"] == "src/m.py" and copy.startswith("src/m (CodeLab ") and copy.endswith(").py")
        assert (local / "src" / "m.py").read_text() == "print('local')\n"
        assert (local / copy).read_text() == "print('instance, longer')\n"
        assert (remote / "src" / "m.py").read_text() == "print('local')\n"
        assert (remote / copy).read_text() == "print('instance, longer')\n"
    # the host key was recorded (accept-new) in the per-instance file given
    assert Path(known).read_text().strip()


def test_cli_push_pull_json(running_instance: Any, live_emulator: Any, local: Path, tmp_path: Path) -> None:
    from .support.cli import cli_env, run_cli

    env = cli_env(tmp_path / "home", live_emulator.url, credentials=True)
    (local / "nb.ipynb").write_text('{"cells": []}')
    (local / "keep.txt").write_text("keep")
    # When the folder is pushed from the command line
    pushed = run_cli(env, "push", str(local), "--to", "cli-proj", "--json")
    assert pushed.returncode == 0, pushed.stderr
    answer = json.loads(pushed.stdout)
    assert answer["pushed"] == ["keep.txt", "nb.ipynb"] and answer["ok"] is True
    assert answer["conflicts"] == [] and answer["skipped"] == []
    assert answer["link"]["remote"] == "/home/ma-user/work/cli-proj"
    remote = running_instance.work_dir / "cli-proj"
    assert (remote / "nb.ipynb").read_text() == '{"cells": []}'
    # When the instance deletes one file and changes the other, a pull without --delete keeps it
    (remote / "keep.txt").unlink()
    (remote / "nb.ipynb").write_text('{"cells": [1]}')
    pulled = run_cli(env, "pull", str(local), "--json")
    assert pulled.returncode == 0, pulled.stderr
    answer = json.loads(pulled.stdout)
    assert answer["pulled"] == ["nb.ipynb"]
    assert [item["path"] for item in answer["skipped"]] == ["keep.txt"]
    assert (local / "keep.txt").read_text() == "keep"
    # and with --delete it goes
    deleted = run_cli(env, "pull", str(local), "--delete")
    assert deleted.returncode == 0, deleted.stderr
    assert not (local / "keep.txt").exists()
    assert "keep.txt" in deleted.stdout


def test_ignore_rules_hidden_files_and_the_push_cap(
    running_instance: Any, store: LinkStore, local: Path
) -> None:
    from codelab_ext.workspace import PushTooLarge

    (local / ".codelabignore").write_text("*.log\nbuild/\n!keep.log\n")
    (local / "run.log").write_text("noise")
    (local / "keep.log").write_text("wanted")
    (local / "build").mkdir()
    (local / "build" / "out.o").write_bytes(b"\0")
    (local / ".venv-like").mkdir()
    (local / ".venv-like" / "pyvenv.cfg").write_text("home = /usr\n")
    (local / "main.py").write_text("print(1)\n")
    link = store.put(running_instance.id, local, "ignored")
    remote = running_instance.work_dir / "ignored"
    config = _small_chunks()
    # smaller than what is to be sent (16 bytes: the hidden file is not sent)
    config.workspace_max_push_bytes = 10
    with Workspace(store, _instance(running_instance), config=config) as ws:
        # a push over the cap sends nothing
        with pytest.raises(PushTooLarge):
            ws.push(link)
        assert not remote.exists() or not any(remote.iterdir())
    with Workspace(store, _instance(running_instance), config=_small_chunks()) as ws:
        result = ws.push(link)
    # the hidden .codelabignore cannot go through the contents API: skipped, so not everything arrived
    assert sorted(result.pushed) == ["keep.log", "main.py"]
    assert [item["path"] for item in result.skipped] == [".codelabignore"]
    assert "hidden" in result.skipped[0]["reason"] and result.ok is False
    # (the instance's Jupyter keeps its own .ipynb_checkpoints)
    assert sorted(p.name for p in remote.rglob("*") if ".ipynb_checkpoints" not in p.parts) == [
        "keep.log",
        "main.py",
    ]


def test_pull_conflict_keeps_both_and_status_says_what_waits(
    running_instance: Any, store: LinkStore, local: Path
) -> None:
    (local / "n.ipynb").write_text("base")
    link = store.put(running_instance.id, local, "both")
    remote = running_instance.work_dir / "both"
    with Workspace(store, _instance(running_instance)) as ws:
        assert ws.push(link).ok
        (local / "n.ipynb").write_text("local edit")
        (remote / "n.ipynb").write_text("instance edit")
        (remote / "new.csv").write_text("1")
        status = ws.status(link).to_json()
        assert status["local"]["changed"] == ["n.ipynb"]
        assert status["remote"] == {"changed": ["n.ipynb"], "added": ["new.csv"], "deleted": []}
        assert status["conflicts"] == ["n.ipynb"] and status["not_home"] == ["n.ipynb", "new.csv"]
        result = ws.pull(link)
        assert result.ok and result.pulled == ["new.csv"]
        [conflict] = result.conflicts
        assert (local / "n.ipynb").read_text() == "local edit"
        assert (local / conflict["copy"]).read_text() == "instance edit"
        # the instance was not touched by a pull; the local edit and the copy now wait to be pushed
        assert (remote / "n.ipynb").read_text() == "instance edit"
        after = ws.status(link).to_json()
        assert after["local"]["changed"] == ["n.ipynb"] and after["local"]["added"] == [conflict["copy"]]
        assert after["not_home"] == [] and after["conflicts"] == []


def test_cli_sync_speaks_the_terminals_language(
    running_instance: Any, live_emulator: Any, tmp_path: Path
) -> None:
    from .support.cli import cli_env, run_cli

    env = cli_env(
        tmp_path / "home", live_emulator.url, credentials=True, LANGUAGE="zh_CN", LC_ALL="zh_CN.UTF-8"
    )
    missing = run_cli(env, "sync", str(tmp_path / "nowhere"))
    assert missing.returncode == 1
    assert "不存在" in missing.stderr, missing.stderr
    folder = tmp_path / "zh"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    synced = run_cli(env, "sync", str(folder))
    assert synced.returncode == 0, synced.stderr
    assert "已向 /home/ma-user/work/zh" in synced.stdout and "并已校验" in synced.stdout


def test_hidden_names_over_the_contents_route_are_said_and_never_deleted(
    running_instance: Any, instance_sshd: Any, store: LinkStore, local: Path, tmp_path: Path
) -> None:
    # Given a folder with a hidden file and a file in a hidden folder, sent once over SFTP
    (local / ".env").write_text("A=1\n")
    (local / ".config").mkdir()
    (local / ".config" / "tool.toml").write_text("x = 1\n")
    (local / "main.py").write_text("print(1)\n")
    link = store.put(running_instance.id, local, "hidden")
    remote = running_instance.work_dir / "hidden"
    ssh = _ssh_instance(running_instance, instance_sshd)
    keys = {"identity_file": str(instance_sshd.client_key_path), "known_hosts": str(tmp_path / "kh")}
    with Workspace(store, ssh, transport="sftp", **keys) as ws:
        assert sorted(ws.push(link).pushed) == [".config/tool.toml", ".env", "main.py"]
    # When the instance changes them and a pull with --delete goes through its Jupyter server,
    # which neither lists nor serves hidden names
    (remote / ".env").write_text("A=2 on the instance\n")
    (remote / "main.py").write_text("print(2)\n")
    with Workspace(store, _instance(running_instance), transport="contents") as ws:
        pulled = ws.pull(link, delete=True)
        # Then nothing hidden is deleted here (the instance's copies cannot be seen, not gone),
        # and each one is said, not blocking
        assert pulled.pulled == ["main.py"] and pulled.deleted == []
        assert pulled.ok, pulled.to_json()
        said = {item["path"]: item for item in pulled.to_json()["skipped"]}
        assert sorted(said) == [".config/tool.toml", ".env"]
        assert all("hidden" in str(item["reason"]) and not item["blocking"] for item in said.values())
        assert (local / ".env").read_text() == "A=1\n"
        assert (local / ".config" / "tool.toml").read_text() == "x = 1\n"
        # When a hidden file changes here, a push through the Jupyter server says it cannot send it
        (local / ".env").write_text("A=3 here\n")
        pushed = ws.push(link)
        [item] = [item for item in pushed.to_json()["skipped"] if item["path"] == ".env"]
        assert item["blocking"] and "--transport sftp" in str(item["reason"]) and not pushed.ok
        assert (remote / ".env").read_text() == "A=2 on the instance\n"
    # And SFTP, which sees them, brings the two versions together (a conflict keeps both)
    with Workspace(store, ssh, transport="sftp", **keys) as ws:
        synced = ws.sync(link)
        assert synced.ok, synced.to_json()
        [conflict] = synced.conflicts
        assert conflict["path"] == ".env"
        assert (local / ".env").read_text() == "A=3 here\n"
        assert (local / conflict["copy"]).read_text() == "A=2 on the instance\n"
        assert (remote / ".env").read_text() == "A=3 here\n"


def test_symbolic_links_are_said_and_never_followed(
    running_instance: Any, store: LinkStore, local: Path, tmp_path: Path
) -> None:
    # Given a folder with a link to a folder outside it and a link to a file outside it
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not for the instance")
    (local / "elsewhere").symlink_to(outside, target_is_directory=True)
    (local / "secret-link.txt").symlink_to(outside / "secret.txt")
    (local / "main.py").write_text("print(1)\n")
    link = store.put(running_instance.id, local, "links")
    remote = running_instance.work_dir / "links"
    with Workspace(store, _instance(running_instance)) as ws:
        # When it is pushed
        result = ws.push(link)
        # Then the links are neither followed nor sent, and each one is said
        assert result.pushed == ["main.py"]
        said = {item["path"]: item for item in result.to_json()["skipped"]}
        for name in ("elsewhere", "secret-link.txt"):
            assert "symbolic link" in str(said[name]["reason"]) and not said[name]["blocking"]
        assert not (remote / "elsewhere").exists() and not (remote / "secret-link.txt").exists()
        # When the instance has a folder and a file at the links' names, a pull with --delete
        # writes nothing through the links and replaces neither of them
        (remote / "elsewhere").mkdir()
        (remote / "elsewhere" / "planted.txt").write_text("from the instance")
        (remote / "secret-link.txt").write_text("from the instance")
        pulled = ws.pull(link, delete=True)
        assert pulled.pulled == [] and pulled.deleted == []
        assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
        assert (outside / "secret.txt").read_text() == "not for the instance"
        assert (local / "secret-link.txt").is_symlink() and (local / "elsewhere").is_symlink()
        assert {"elsewhere", "secret-link.txt"} <= {item["path"] for item in pulled.skipped}


def test_a_link_on_the_instance_is_said_and_not_followed_over_sftp(
    running_instance: Any, instance_sshd: Any, store: LinkStore, local: Path, tmp_path: Path
) -> None:
    # Given an instance folder with a link leading out of it (SFTP sees links as links)
    remote = running_instance.work_dir / "there"
    remote.mkdir()
    (remote / "data.csv").write_text("1,2\n")
    outside = tmp_path / "instance-outside"
    outside.mkdir()
    (outside / "private.txt").write_text("not for the laptop")
    (remote / "out").symlink_to(outside, target_is_directory=True)
    link = store.put(running_instance.id, local, "there")
    ssh = _ssh_instance(running_instance, instance_sshd)
    keys = {"identity_file": str(instance_sshd.client_key_path), "known_hosts": str(tmp_path / "kh")}
    with Workspace(store, ssh, transport="sftp", **keys) as ws:
        # When it is pulled, then the link is said and nothing under it comes
        pulled = ws.pull(link)
        assert pulled.pulled == ["data.csv"] and pulled.ok, pulled.to_json()
        [item] = pulled.to_json()["skipped"]
        assert item["path"] == "out" and "symbolic link on the instance" in str(item["reason"])
        assert not (local / "out").exists()
        # And a local folder of that name is not pushed through the instance's link
        (local / "out").mkdir()
        (local / "out" / "mine.txt").write_text("here")
        pushed = ws.push(link)
        assert pushed.pushed == [] and sorted(p.name for p in outside.iterdir()) == ["private.txt"]


def test_workspace_errors_are_codelab_errors_with_a_status_and_a_code() -> None:
    from codelab_ext.errors import CodeLabError
    from codelab_ext.workspace import (
        Busy,
        LinkInvalid,
        LinkNotFound,
        PushTooLarge,
        TransferFailed,
        WorkspaceError,
    )

    for cls, status, code in [
        (LinkInvalid, 400, "codelab.workspace.link_invalid"),
        (LinkNotFound, 404, "codelab.workspace.link_not_found"),
        (Busy, 409, "codelab.workspace.busy"),
        (PushTooLarge, 413, "codelab.workspace.push_too_large"),
        (TransferFailed, 502, "codelab.workspace.transfer_failed"),
    ]:
        error = cls("why")
        assert isinstance(error, WorkspaceError) and isinstance(error, CodeLabError)
        assert (error.status, error.code) == (status, code)
        assert error.to_json() == {"message": "why", "code": code}


def test_cli_a_refused_link_is_one_translated_line_and_exit_1(
    running_instance: Any, live_emulator: Any, local: Path, tmp_path: Path
) -> None:
    """The library's LinkInvalid goes through the CLI's one mapping: the reader's language, no traceback."""
    from .support.cli import cli_env, run_cli

    env = cli_env(
        tmp_path / "home", live_emulator.url, credentials=True, LANGUAGE="zh_CN", LC_ALL="zh_CN.UTF-8"
    )
    refused = run_cli(env, "push", str(local), "--to", "/etc")
    assert refused.returncode == 1, refused.stderr
    assert "实例文件夹 /etc 必须位于 /home/ma-user/work 之内" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr

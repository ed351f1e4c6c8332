"""Workspace throughput: push and pull of a 200 MB folder of 1,000 files, and a re-sync of one change.

One emulated instance behind its real Jupyter server (a subprocess on 127.0.0.1). The baseline is a
plain contents-API transfer of the same bytes to the same server in the same run: one
``PUT api/contents/<file>`` (base64, whole file) per file for the upload, one ``GET files/<file>``
per file for the download, one after the other, with no verification, no temporary name and no
manifest. The workspace does more (each file checked on arrival, a staging folder renamed at once
for the new folder, the downloads confirmed by a listing after them, the manifest; see "What
verified means" in docs/architecture.md) and sends several files at a time
(``c.CodeLab.workspace_parallel_transfers``). The upstream requests per file of each way are counted
on the client sessions (a response hook: it counts, it changes nothing sent).
Baseline and workspace runs alternate (two of each, the better of each kept) so that machine noise
falls on both. The instance server's CPU time per file is printed for each way (``/proc``): Jupyter's
server is single-threaded, so when it is the bottleneck the throughput ratio tends to the ratio of
these, whatever else loads the machine.

Targets: throughput of push and of pull at least 0.8 x the plain transfer (reported as the time
ratio workspace / plain, at most 1.25), and a sync with one file changed in 1,000 within 1 s.
"""

from __future__ import annotations

import base64
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from _harness import Report, run_report

FILES = 1000
FILE_BYTES = 200 * 1000  # 1,000 files of 200 kB: 200 MB
#: workspace time / plain time (throughput at least 0.8 x)
TARGET_TIME_RATIO = 1 / 0.8
TARGET_RESYNC_SECONDS = 1.0


def _make_folder(folder: Path) -> None:
    for index in range(FILES):
        sub = folder / f"part-{index // 100:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"file-{index:04d}.bin").write_bytes(os.urandom(FILE_BYTES))


def _files(folder: Path) -> list[str]:
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())


def _cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) the instance's Jupyter server has used so far (Linux ``/proc``; 0
    elsewhere): what each way costs the single-threaded server, whatever else loads the machine."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _counted(session: requests.Session, counter: list[int]) -> None:
    """Count every answer ``session`` receives (the upstream requests of one way, per file)."""

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        counter[0] += 1

    session.hooks["response"].append(hook)


def _plain_upload(session: requests.Session, base: str, token: str, folder: Path, remote: str) -> float:
    headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}
    names = _files(folder)
    started = time.perf_counter()
    made: set[str] = set()
    for name in names:
        parts = f"{remote}/{name}".split("/")
        for depth in range(1, len(parts)):
            folder_path = "/".join(parts[:depth])
            if folder_path not in made:
                session.put(
                    f"{base}api/contents/{quote(folder_path)}",
                    json={"type": "directory"},
                    headers=headers,
                    timeout=60,
                ).raise_for_status()
                made.add(folder_path)
        body = {
            "type": "file",
            "format": "base64",
            "content": base64.b64encode((folder / name).read_bytes()).decode(),
        }
        response = session.put(
            f"{base}api/contents/{quote(remote + '/' + name)}", json=body, headers=headers, timeout=60
        )
        response.raise_for_status()
    return time.perf_counter() - started


def _plain_download(
    session: requests.Session, base: str, token: str, names: list[str], remote: str, into: Path
) -> float:
    headers = {"Authorization": f"token {token}"}
    started = time.perf_counter()
    for name in names:
        response = session.get(f"{base}files/{quote(remote + '/' + name)}", headers=headers, timeout=60)
        response.raise_for_status()
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(response.content)
    return time.perf_counter() - started


def bench(report: Report) -> None:
    from codelab_ext.emulator.testing import running_emulator
    from codelab_ext.workspace import LinkStore, Workspace

    with (
        tempfile.TemporaryDirectory(prefix="codelab-bench-ws-") as tmp,
        running_emulator(speed=1000.0, instance_servers=True, lab=False) as emu,
    ):
        root = Path(tmp)
        running = emu.running_instance()
        instance = {"id": running.id, "url": running.url, "token": running.token}
        local = root / "proj"
        _make_folder(local)
        names = _files(local)
        total = sum((local / name).stat().st_size for name in names)
        report.figure("files", len(names))
        report.figure("bytes", total, "B")
        assert emu.emulator.host is not None
        pid = (emu.emulator.host.describe(running.id).get("server") or {}).get("pid")
        cpu: dict[str, list[float]] = {"up plain": [], "up ours": [], "down plain": [], "down ours": []}

        requests_seen = [0]
        calls: dict[str, list[int]] = {kind: [] for kind in cpu}

        def timed(kind: str, run: Callable[..., Any], *args: Any) -> tuple[float, Any]:
            before, started, seen = _cpu_seconds(pid), time.perf_counter(), requests_seen[0]
            answer = run(*args)
            cpu[kind].append(_cpu_seconds(pid) - before)
            calls[kind].append(requests_seen[0] - seen)
            return time.perf_counter() - started, answer

        session = requests.Session()
        session.trust_env = False
        _counted(session, requests_seen)
        store = LinkStore(root / "state" / "links.json")
        plain_up: list[float] = []
        ours_up: list[float] = []
        plain_down: list[float] = []
        ours_down: list[float] = []
        with Workspace(store, instance) as ws:
            route = ws.remote()
            _counted(route.session, requests_seen)  # type: ignore[attr-defined]
            for round_ in range(2):
                plain_up.append(
                    timed(
                        "up plain",
                        _plain_upload,
                        session,
                        running.base_url,
                        running.token,
                        local,
                        f"plain-{round_}",
                    )[1]
                )
                link = store.put(running.id, local, f"ours-{round_}")
                took, result = timed("up ours", ws.push, link)
                ours_up.append(took)
                if not result.ok or len(result.pushed) != FILES:
                    raise RuntimeError(f"push did not send everything: {result.to_json()['skipped'][:3]}")
                into = root / f"plain-down-{round_}"
                plain_down.append(
                    timed(
                        "down plain",
                        _plain_download,
                        session,
                        running.base_url,
                        running.token,
                        names,
                        f"ours-{round_}",
                        into,
                    )[1]
                )
                shutil.rmtree(into)
                pulled = root / f"pulled-{round_}"
                pulled.mkdir()
                back = store.put(running.id, pulled, f"ours-{round_}")
                took, result = timed("down ours", ws.pull, back)
                ours_down.append(took)
                if not result.ok or len(result.pulled) != FILES:
                    raise RuntimeError(f"pull did not bring everything: {result.to_json()['skipped'][:3]}")
                if round_ == 0:
                    shutil.rmtree(pulled)
                    store.delete(back.id)
                shutil.rmtree(running.work_dir / f"plain-{round_}")
            # a re-sync with one file changed in 1,000 (the last pushed link, in step)
            link = store.get(running.id, local)
            assert link is not None
            time.sleep(2.1)  # past the racy window of the entries just written
            ws.sync(link)  # settles the entries of files written in the last two seconds
            (local / names[len(names) // 2]).write_bytes(os.urandom(FILE_BYTES))
            times = []
            for _ in range(3):
                started = time.perf_counter()
                result = ws.sync(link)
                times.append(time.perf_counter() - started)
                if len(times) == 1 and result.pushed != [names[len(names) // 2]]:
                    raise RuntimeError(f"the re-sync sent {result.pushed}")
            resync = times[0]
            report.figure("re-sync of a folder in step (no change), median of 2", sorted(times[1:])[0], "s")
        mb = total / 1e6
        up_plain, up_ours = min(plain_up), min(ours_up)
        down_plain, down_ours = min(plain_down), min(ours_down)
        report.figure("plain contents-API upload (best of 2)", mb / up_plain, "MB/s")
        report.figure("workspace push (best of 2)", mb / up_ours, "MB/s")
        report.figure("plain files/ download (best of 2)", mb / down_plain, "MB/s")
        report.figure("workspace pull (best of 2)", mb / down_ours, "MB/s")
        if pid is not None and any(cpu["up plain"]):
            for kind, label in (
                ("up plain", "plain upload"),
                ("up ours", "push"),
                ("down plain", "plain download"),
                ("down ours", "pull"),
            ):
                report.figure(
                    f"instance server CPU per file, {label} (best of 2)", min(cpu[kind]) / FILES * 1000, "ms"
                )
        for kind, label in (
            ("up plain", "plain upload"),
            ("up ours", "push"),
            ("down plain", "plain download"),
            ("down ours", "pull"),
        ):
            report.figure(f"upstream requests per file, {label}", min(calls[kind]) / FILES)
        report.figure("push throughput / plain upload", up_plain / up_ours, "x")
        report.figure("pull throughput / plain download", down_plain / down_ours, "x")
        report.target(
            "push time / plain upload time (throughput >= 0.8 x)", up_ours / up_plain, TARGET_TIME_RATIO, "x"
        )
        report.target(
            "pull time / plain download time (throughput >= 0.8 x)",
            down_ours / down_plain,
            TARGET_TIME_RATIO,
            "x",
        )
        report.target("sync with 1 file changed in 1,000", resync, TARGET_RESYNC_SECONDS, "s")
        report.note(
            f"{os.cpu_count()} CPUs; the instance's Jupyter server, the emulator and this process share them"
        )


def main() -> int:
    return run_report("workspace", bench)


if __name__ == "__main__":
    sys.exit(main())

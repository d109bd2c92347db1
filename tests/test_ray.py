"""--engine ray on a local Ray cluster: the same library as the local engine, and a worker killed
mid-talk neither loses nor duplicates a talk."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = [pytest.mark.ray, pytest.mark.models]


def _kill_first_busy_worker(stop: threading.Event, killed: list[int]) -> None:
    """Ray titles an actor's process 'ray::RayTalkWorker.index' while it runs that method."""
    while not stop.is_set() and not killed:
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"ray::RayTalkWorker.index" in cmdline:
                time.sleep(0.5)  # well inside the talk's work
                os.kill(int(proc.name), signal.SIGKILL)
                killed.append(int(proc.name))
                return
        time.sleep(0.05)


def _library_content(library: Path) -> tuple[set, list]:
    db = sqlite3.connect(library / "catalog.sqlite")
    talks = set(db.execute("SELECT id, archive_id, title, url, channel, published, event, speakers FROM talks"))
    passages = db.execute(
        "SELECT talk_id, round(start_time, 2), round(end_time, 2), text FROM passages ORDER BY talk_id, start_time, id"
    ).fetchall()
    return talks, passages


def test_ray_engine_equals_local_engine_despite_a_killed_worker(feed_library, media_server, tmp_path):
    local_library, _ = feed_library
    library = tmp_path / "ray-library"
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_first_busy_worker, args=(stop, killed), daemon=True)
    killer.start()
    result = subprocess.run(
        [sys.executable, "-m", "talksearch.cli", "index", media_server.url("feed.xml"), "--library", str(library),
         "--engine", "ray", "--ray-workers", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    stop.set()
    assert result.returncode == 0, result.stdout + result.stderr
    assert killed, "no Ray worker was seen working"
    assert "2 added, 0 skipped, 0 failed" in result.stdout
    talks, passages = _library_content(library)
    local_talks, local_passages = _library_content(local_library)
    assert talks == local_talks
    assert [(t, text) for t, _, _, text in passages] == [(t, text) for t, _, _, text in local_passages]
    # Times agree to one frame of whisper's word timestamps (20 ms): in one full run (2026-12-03) a few passages
    # of both talks ended or started one frame apart between the two engines, same words; alone, it did not recur.
    assert all(abs(a - b) <= 0.021 for ours, theirs in zip(passages, local_passages)
               for a, b in zip(ours[1:3], theirs[1:3])), (passages, local_passages)


def test_a_ray_address_nobody_answers_at_is_refused_in_one_line(tmp_path):
    """Ray would retry an unreachable cluster for minutes, with a page of logs; the index command says so at
    once, before anything is downloaded, and leaves no talk behind."""
    import socket

    with socket.socket() as probe:  # a loopback port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    for address, expected in ((f"127.0.0.1:{closed_port}", f"cannot reach the Ray cluster at 127.0.0.1:{closed_port}"),
                              (f"ray://127.0.0.1:{closed_port}", "cannot reach the Ray cluster at ray://"),
                              ("127.0.0.1:port", "is not host:port or ray://host:port")):
        result = subprocess.run(
            [sys.executable, "-m", "talksearch.cli", "index", "http://127.0.0.1:9/feed.xml", "--library",
             str(tmp_path / "library"), "--engine", "ray", "--ray-address", address],
            cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 1 and result.stderr.startswith("error: ") and expected in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    talks = sqlite3.connect(tmp_path / "library" / "catalog.sqlite").execute("SELECT count(*) FROM talks").fetchone()
    assert talks == (0,)

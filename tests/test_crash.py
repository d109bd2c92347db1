"""kill -9 at random moments of `talksearch index`: the library always opens and searches, and the
next run completes it with every talk present once, complete, and the vector index in agreement."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from talksearch.check import check_library
from tests.helpers import ROOT, talksearch

pytestmark = pytest.mark.models

KILL_POINTS = 5


def _catalog_is_consistent(library) -> None:
    db = sqlite3.connect(library / "catalog.sqlite")
    talks = db.execute("SELECT count(*), count(DISTINCT archive_id) FROM talks").fetchone()
    assert talks[0] == talks[1]
    # every committed talk is complete: sentences and passages, nothing half-written
    assert db.execute("SELECT count(*) FROM talks WHERE id NOT IN (SELECT talk_id FROM passages)").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM talks WHERE id NOT IN (SELECT talk_id FROM segments)").fetchone()[0] == 0
    db.close()


def test_kill_at_random_points_then_resume(media_server, tmp_path):
    library = tmp_path / "library"
    feed = media_server.url("feed.xml")
    rng = random.Random(int(os.environ.get("TALKSEARCH_KILL_SEED", "20261129")))
    for _ in range(KILL_POINTS):
        process = subprocess.Popen([sys.executable, "-m", "talksearch.cli", "index", feed, "--library", str(library)],
                                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 12.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
        if not (library / "catalog.sqlite").exists():
            continue  # killed before the library existed
        _catalog_is_consistent(library)
        if (library / "vectors.faiss").exists():
            searched = talksearch("search", "object storage", "--library", str(library), "--json")
            assert searched.returncode == 0, searched.stderr

    final = talksearch("index", feed, "--library", str(library))
    assert final.returncode == 0, final.stdout + final.stderr
    _catalog_is_consistent(library)
    db = sqlite3.connect(library / "catalog.sqlite")
    assert db.execute("SELECT count(*) FROM talks").fetchone()[0] == 2
    report = check_library(library)
    assert report.clean, report.problems

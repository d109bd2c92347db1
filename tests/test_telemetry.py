"""No data leaves the machine (README): onnxruntime, which runs the embedder and faster-whisper's voice detection,
queues a usage event for Microsoft's collector each time it is imported, unless ``ORT_DISABLE_TELEMETRY`` is set;
importing talksearch sets it. Checked on the real onnxruntime, each run in a HOME of its own, where its queue lives."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

QUEUE = Path(".cache", "Microsoft", "DeveloperTools", ".onnxruntime", "onnxruntime.db")


# onnxruntime queues nothing where these say it runs in a CI service (CI=true turned the test's own check off there)
CI_SIGNS = ("CI", "GITHUB_ACTIONS", "JENKINS_URL", "TF_BUILD")


def _events_queued(home: Path, code: str, **env: str) -> int:
    unset = ("ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME", *CI_SIGNS)
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    subprocess.run([sys.executable, "-c", code], env={**clean, "HOME": str(home), **env}, check=True, timeout=120)
    if not (home / QUEUE).exists():
        return 0
    with sqlite3.connect(home / QUEUE) as queue:
        return queue.execute("SELECT count(*) FROM events").fetchone()[0]


def test_importing_onnxruntime_through_talksearch_queues_no_telemetry(tmp_path):
    # onnxruntime on its own does queue one (else this test would prove nothing)
    assert _events_queued(tmp_path / "bare", "import onnxruntime") >= 1
    assert _events_queued(tmp_path / "talksearch", "import talksearch.embedding, onnxruntime") == 0
    # a user's own choice wins
    assert _events_queued(tmp_path / "chosen", "import talksearch, onnxruntime", ORT_DISABLE_TELEMETRY="0") >= 1

"""Test helpers built in code: loopback media servers, CLI runs, fixtures' paths."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

DATA = Path(__file__).parent / "data"
TRUTH = json.loads((DATA / "truth.json").read_text())
ROOT = Path(__file__).parent.parent


class _Handler(http.server.SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")  # media played cross-origin by pages/widget
        super().end_headers()

    def log_message(self, *args) -> None:  # keep test output clean
        pass


class MediaServer:
    """A loopback HTTP server over a directory that holds a copy of tests/data, feed rewritten to it."""

    def __init__(self, directory: Path):
        shutil.copytree(DATA, directory, dirs_exist_ok=True)
        handler = functools.partial(_Handler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        feed = (directory / "feed.xml").read_text().replace("http://127.0.0.1:8765", self.base)
        (directory / "feed.xml").write_text(feed)
        self.directory = directory
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def talksearch(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "talksearch.cli", *args], capture_output=True, text=True,
        env={**os.environ, **(env or {})}, cwd=ROOT, timeout=600,
    )

"""Shared by the benchmarks: a loopback server for a talk set, and word error rate."""

from __future__ import annotations

import functools
import http.server
import re
import threading
from collections.abc import Callable
from pathlib import Path

DEV_CANDIDATES = [Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "dev",
                  Path(__file__).resolve().parent / "dev"]


def default_dev_set() -> Path:
    for candidate in DEV_CANDIDATES:
        if (candidate / "truth.json").exists():
            return candidate
    raise SystemExit("no dev set: pass --talks DIR (a folder with truth.json, feed.xml and the talks)")


class LoopbackServer:
    """Serves a talk set on 127.0.0.1 (a free port), its feed rewritten to point at that port.

    ``workdir`` gets links to the talk files and the rewritten feed.xml (the talk set may be read-only).
    """

    def __init__(self, talks: Path, workdir: Path):
        workdir.mkdir(parents=True, exist_ok=True)
        for file in talks.iterdir():
            if file.name != "feed.xml" and not (workdir / file.name).exists():
                (workdir / file.name).symlink_to(file.resolve())
        handler = functools.partial(_QuietHandler, directory=str(workdir))
        self.httpd = _QuietServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        feed = re.sub(r"http://127\.0\.0\.1:\d+", self.base, (talks / "feed.xml").read_text())
        (workdir / "feed.xml").write_text(feed)
        self.feed_url = f"{self.base}/feed.xml"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:  # clients hanging up early are not news
        pass


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))


def word_errors(reference: str, hypothesis: str, words: Callable[[str], list[str]] = _words) -> tuple[int, int]:
    """(edit distance in words, reference length): sum both over talks, then divide, for a corpus WER.
    ``words`` splits a text into the words compared (default: English, lower case, no punctuation)."""
    ref, hyp = words(reference), words(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1], len(ref)

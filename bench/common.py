"""Shared by the benchmarks: their checks of what they are given, a loopback server for a talk set, and word error
rate."""

from __future__ import annotations

import functools
import glob
import http.server
import json
import math
import re
import shutil
import tempfile
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


# --- what a benchmark is given, checked before it starts: one line, not a traceback minutes later --------------

MEDIA_SUFFIXES = (".mp4", ".ogg", ".wav", ".mp3", ".webm")  # a set's talks, as make_talks.py writes them


def read_json(file: Path):
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SystemExit(f"error: cannot read {file}: {exc.strerror or exc}") from None
    except ValueError as exc:  # not JSON, or not UTF-8
        raise SystemExit(f"error: {file} is not valid JSON: {exc}") from None


def talk_set_media(folder: Path, *needs: str) -> tuple[dict, dict[str, Path]]:
    """The truth.json of the talk set in ``folder`` and each talk's media file, once the folder holds those and the
    files ``needs`` names (feed.xml, corpus.json): a benchmark ends here, in one line, rather than after minutes of
    transcribing, or on a folder it was never meant to read."""
    if not folder.is_dir():
        problem = "not a folder" if folder.exists() else "no such folder"
        holds = ", ".join(["truth.json", *needs])
        raise SystemExit(f"error: {folder}: {problem} (a talk set holds {holds} and the talks)")
    for need in needs:
        if not (folder / need).is_file():
            raise SystemExit(f"error: {folder}: not a talk set: no {need}")
    truth_file = folder / "truth.json"
    truth = read_json(truth_file)
    if not isinstance(truth, dict) or not truth:
        raise SystemExit(f"error: {truth_file}: no talks (an object of talks, by key)")
    media = {}
    for key in sorted(truth):
        found = [p for p in folder.glob(f"{glob.escape(key)}.*") if p.suffix in MEDIA_SUFFIXES]
        if not found:
            raise SystemExit(f"error: {folder}: no media file for talk {key!r} of truth.json "
                             f"({key} with one of {', '.join(MEDIA_SUFFIXES)})")
        media[key] = min(found, key=lambda p: MEDIA_SUFFIXES.index(p.suffix))  # one a talk: the video first
    return truth, media


def searchable_library(path: Path) -> None:
    """End the run in one line unless ``path`` holds a library with something to search. Opened read-only and
    never made: ``talksearch serve`` makes an empty library at a path that holds none, and a benchmark
    measuring that measures nothing (every search comes back empty)."""
    from talksearch.library import Library, LibraryError

    try:
        with Library.open(path, readonly=True) as library:
            talks, passages = library.count_talks(), library.count_passages()
    except LibraryError as exc:
        raise SystemExit(f"error: {exc}") from None
    if not passages:
        raise SystemExit(f"error: library {path} has {talks} talks and no passages: nothing to search")


def at_least(given: str, value: float, minimum: float) -> None:
    """End the run in one line unless ``value`` (``given`` as the flag) is a finite number of at least ``minimum``:
    zero rounds or clients measures nothing, and ended in a traceback once the work was done."""
    if not (math.isfinite(value) and value >= minimum):
        raise SystemExit(f"error: {given} {value:g}: must be at least {minimum:g}")


def writable_folder(given: str, folder: Path, create: bool = False) -> None:
    """End the run, in one line naming the flag as ``given``, unless a file can be written in ``folder`` (made first
    with ``create``). Tried, not judged from permissions: root passes every permission check on a read-only mount."""
    try:
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise SystemExit(f"error: {given}: cannot write in {folder}: {exc.strerror or exc}") from None


def output_file(given: str, file: Path) -> None:
    """End the run in one line unless the figures can be written to ``file`` (checked before the run, not after)."""
    if file.is_dir():
        raise SystemExit(f"error: {given} {file}: a folder, not a file")
    writable_folder(f"{given} {file}", file.parent)


def needs_program(name: str, why: str) -> None:
    if shutil.which(name) is None:
        raise SystemExit(f"error: {name} is not installed ({why}; Debian: apt-get install {name})")


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

"""Test helpers built in code: loopback media servers, CLI runs, fixtures' paths."""

from __future__ import annotations

import atexit
import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).parent / "data"
TRUTH = json.loads((DATA / "truth.json").read_text())
ROOT = Path(__file__).parent.parent


class MediaHandler(http.server.SimpleHTTPRequestHandler):
    """http.server plus single byte ranges (browsers seek in the served media) and CORS (pages and the widget
    play the media cross-origin)."""

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def send_head(self):
        moved = getattr(self.server, "redirects", {}).get(self.path.split("?", 1)[0])  # MediaServer.redirects, if any
        if moved is not None:
            self.send_response(301)
            self.send_header("Location", moved)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if not match or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        start, end = int(match[1]), int(match[2]) if match[2] else size - 1
        if start >= size:
            self.send_error(416)
            return None
        end = min(end, size - 1)
        handle = path.open("rb")
        handle.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self._remaining = end - start + 1
        return handle

    def copyfile(self, source, outputfile) -> None:
        remaining = getattr(self, "_remaining", None)
        if remaining is None:
            return super().copyfile(source, outputfile)
        outputfile.write(source.read(remaining))


class MediaServer:
    """A loopback HTTP server over a copy of tests/data (the feed's enclosures rewritten to it), plus /live/
    copies of the talks that only live-indexing tests fetch. ``redirects`` maps a path to where it has moved: a 301."""

    def __init__(self, directory: Path):
        shutil.copytree(DATA, directory, dirs_exist_ok=True)
        handler = functools.partial(MediaHandler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.redirects: dict[str, str] = {}
        self.httpd.redirects = self.redirects  # read by MediaHandler
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        feed = (directory / "feed.xml").read_text().replace("http://127.0.0.1:8765", self.base)
        (directory / "feed.xml").write_text(feed)
        (directory / "live").mkdir(exist_ok=True)
        shutil.copy(DATA / "t02.ogg", directory / "live" / "t02-live.ogg")
        shutil.copy(DATA / "t01.ogg", directory / "live" / "t01-cli.ogg")
        self.directory = directory
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def scratch(prefix: str) -> Path:
    """A temporary directory removed when the test process ends."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.cache
def loopback_media() -> MediaServer:
    """The test process's one media server (the ``media_server`` fixture, and the service fixtures' indexer)."""
    server = MediaServer(scratch("talksearch-media-"))
    atexit.register(server.close)
    return server


def writer_only_run(settings, library):
    """An ``IndexRun`` holding only what its writer (``commit``) reads, over ``library`` (opened, its writer lock
    taken): no models, no sources, as ``__init__`` would load and read them."""
    from talksearch.indexer.pipeline import IndexRun

    run = IndexRun.__new__(IndexRun)
    run.settings, run.library, run.reindex, run.api = settings, library, False, None
    run._placed, run._retiring, run._stored = set(), {}, False
    return run


def talks_on_topics(folder: Path, topics: list[str], captions) -> Path:
    """``folder``, made, holding one local talk per topic (``talk0.ogg``…: t01's audio, told apart by a title tag,
    since the indexer knows a copy by its content) with details and English captions beside it, ``captions(topic)``
    being the captions' cues: indexed from those, nothing is transcribed."""
    folder.mkdir(parents=True)
    for i, topic in enumerate(topics):
        subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(DATA / "t01.ogg"), "-c", "copy", "-metadata",
                        f"title={topic}", str(folder / f"talk{i}.ogg")], check=True)
        (folder / f"talk{i}.info.json").write_text(json.dumps({"title": f"{topic} in practice", "language": "en"}))
        (folder / f"talk{i}.en.vtt").write_text("WEBVTT\n\n" + captions(topic))
    return folder


def talksearch(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "talksearch.cli", *args], capture_output=True, text=True,
        env={**os.environ, **(env or {})}, cwd=ROOT, timeout=600,
    )


def serve_config(tmp_path: Path, monkeypatch, flags: list[str], env: dict[str, str]):
    """The uvicorn config ``talksearch serve`` (with ``flags``, in ``env``) hands its server, loaded, up to where it
    would start serving: the models are not loaded, nothing listens."""
    import uvicorn
    from click.testing import CliRunner

    from talksearch.cli import main

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("talksearch.search.open_searcher", lambda settings, served: None)
    configured = []

    def run(server: uvicorn.Server, sockets) -> None:
        server.config.load()
        configured.append(server.config)
        for listening in sockets:
            listening.close()

    monkeypatch.setattr(uvicorn.Server, "run", run)
    result = CliRunner().invoke(main, ["serve", "--library", str(tmp_path / "lib"), "--port", "0", *flags])
    assert result.exit_code == 0, result.output
    return configured[0]


@dataclass
class ServedProcess:
    """A `talksearch serve` process (``serve_process``): where it answers, and its stderr lines as it writes them."""

    process: subprocess.Popen
    url: str = ""
    lines: list[str] = field(default_factory=list)

    def get(self, path: str, **params):  # an httpx.Response
        import httpx

        return httpx.get(self.url + path, params=params, timeout=30)


def _serving_line(line: str) -> str | None:
    """The words of serve's "serving LIBRARY at URL" line, as text or as a JSON line (``log_format`` json); None
    for any other line."""
    if line.startswith("{"):
        line = json.loads(line)["message"]
    return line if re.match(r"(talksearch: )?serving ", line) else None


@contextlib.contextmanager
def serve_process(library: Path, env: dict[str, str] | None = None,
                  flags: tuple[str, ...] = ()) -> Iterator[ServedProcess]:
    """A real `talksearch serve` over ``library`` on a port the system chooses, with none of this process's
    TALKSEARCH_* settings but ``env``'s (MiniLM unless it names another model: these are tests of the server, and
    it loads the model before it says where it serves); stopped (SIGTERM) when the block ends, its stderr then read
    to the end."""
    variables = {k: v for k, v in os.environ.items() if not k.upper().startswith("TALKSEARCH_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "talksearch.cli", "serve", "--library", str(library), "--port", "0", *flags],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=ROOT,
        env={**variables, "TALKSEARCH_EMBED_MODEL": "all-MiniLM-L6-v2", **(env or {})})
    served = ServedProcess(process)

    def read() -> None:
        for line in process.stderr:
            served.lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 300
        # It listens before it says so: a request from here on waits to be answered, never refused.
        while not (said := [line for line in served.lines if _serving_line(line)]):
            assert process.poll() is None and time.monotonic() < deadline, served.lines
            time.sleep(0.1)
        served.url = re.search(r" at (http://\S+?)/?(?: |$)", _serving_line(said[0])).group(1)
        yield served
    finally:
        process.terminate()
        process.wait(timeout=60)
        reader.join(timeout=10)

"""Shared, real test infrastructure for the service tests (tests/test_service*.py).

Everything is built once per test process, whichever test module asks first (``functools.cache``: a
session fixture imported into several modules would otherwise be built once per module):

* a loopback HTTP server with HTTP Range support serving the short test talks and their feed;
* one small library indexed from it by the real indexer (IndexRun: whisper tiny.en, MiniLM): the two
  feed talks, plus a local-file copy of t01 (for /media and for "related" to have a twin to find);
* real uvicorn servers on free loopback ports, in threads, over that library.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import uvicorn

from talksearch.settings import Settings

DATA = Path(__file__).parent / "data"
ADMIN_TOKEN = "test-admin-token"
LOCAL_TITLE = "Checkpointing local copy"


def _scratch(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


class RangeHandler(SimpleHTTPRequestHandler):
    """http.server plus single byte ranges, so browsers can seek in the served media."""

    def log_message(self, *args) -> None:  # quiet test output
        pass

    def send_head(self):
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


@dataclass
class MediaServer:
    base: str  # http://127.0.0.1:PORT
    root: Path

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


@functools.cache
def media_server() -> MediaServer:
    """tests/data's talks and feed (enclosures rewritten to this server), plus /live/ copies for live indexing."""
    root = _scratch("talksearch-media-")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(RangeHandler, directory=str(root)))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    for name in ("t01.ogg", "t02.ogg"):
        shutil.copy(DATA / name, root / name)
    (root / "feed.xml").write_text((DATA / "feed.xml").read_text().replace("http://127.0.0.1:8765", base))
    (root / "live").mkdir()
    shutil.copy(DATA / "t02.ogg", root / "live" / "t02-live.ogg")
    shutil.copy(DATA / "t01.ogg", root / "live" / "t01-cli.ogg")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    atexit.register(server.shutdown)
    return MediaServer(base, root)


def settings_for(library: Path, **overrides) -> Settings:
    return Settings(library=library, threads=2, **overrides)


@functools.cache
def shared_library() -> Path:
    """The session's library, indexed once by the real indexer; servers that write get a copy."""
    from talksearch.indexer.pipeline import IndexRun

    library = _scratch("talksearch-lib-") / "library"
    local = _scratch("talksearch-local-") / f"{LOCAL_TITLE.replace(' ', '_')}.ogg"
    shutil.copy(DATA / "t01.ogg", local)
    run = IndexRun(settings_for(library), report=lambda line: None)
    try:
        summary = run.run([media_server().url("feed.xml"), str(local)])
    finally:
        run.close()
    assert summary.count("added") == 3, [(o.status, o.label, o.detail) for o in summary.outcomes]
    return library


def copy_library() -> Path:
    target = _scratch("talksearch-libcopy-") / "library"
    shutil.copytree(shared_library(), target, ignore=shutil.ignore_patterns("indexer.lock", "downloads"))
    return target


@dataclass
class Server:
    base: str
    settings: Settings
    client: httpx.Client

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.client.get(path, **kwargs)


def start_server(settings: Settings) -> Server:
    """The real app under uvicorn on a free loopback port, in a thread; stopped when the process exits."""
    from talksearch.service.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:  # the lifespan loads the embedding model: seconds
        if not thread.is_alive():
            raise RuntimeError("the service did not start")
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=30)

    atexit.register(stop)
    base = f"http://127.0.0.1:{port}"
    return Server(base, settings, httpx.Client(base_url=base, timeout=120))


@functools.cache
def read_server() -> Server:
    """Over the shared library: admin token set, private sources refused (the SSRF checks), CORS default."""
    return start_server(settings_for(shared_library(), admin_token=ADMIN_TOKEN))


@functools.cache
def locked_down_server() -> Server:
    """Over the shared library: no admin token (admin API disabled), CORS for one origin only."""
    return start_server(settings_for(shared_library(), cors_origins=["https://allowed.example"]))


@functools.cache
def admin_server() -> Server:
    """Over a copy of the library, for tests that write: admin token set, loopback sources allowed."""
    return start_server(settings_for(copy_library(), admin_token=ADMIN_TOKEN, allow_private_sources=True))


def talk_ids() -> dict[str, str]:
    """Talk ids of the shared library by name: t01, t02 (the feed talks) and local."""
    talks = read_server().get("/api/talks").json()["talks"]
    by_title = {t["title"]: t["id"] for t in talks}
    return {"t01": by_title["Checkpointing Long-Running Simulations to Object Storage"],
            "t02": by_title["InfiniBand Partition Keys for Tenant Isolation"],
            "local": by_title[LOCAL_TITLE]}


def wait_until(predicate, what: str, seconds: float = 600.0, every: float = 0.25):
    """Poll until ``predicate()`` is truthy (a safety net against hanging, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"gave up waiting for {what}")


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """The one error shape: {"error": {"code", "message"}} with the expected status; returns the error."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"]
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]


def chromium_path() -> str | None:
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser", os.environ.get("CHROMIUM", "")):
        if candidate and Path(candidate).exists():
            return candidate
    return None

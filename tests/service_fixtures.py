"""Shared, real test infrastructure for the service tests (tests/test_service*.py).

Everything is built once per test process, whichever test module asks first (``functools.cache``: a
session fixture imported into several modules would otherwise be built once per module):

* the loopback media server (tests/helpers.py) serving the short test talks and their feed;
* one small library indexed from it by the real indexer (IndexRun: whisper tiny.en, MiniLM): the two
  feed talks, plus a local-file copy of t01 (for /media and for "related" to have a twin to find);
* real uvicorn servers on free loopback ports, in threads, over that library.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from talksearch.settings import Settings, default
from tests.helpers import DATA, TRUTH, loopback_media, scratch

ADMIN_TOKEN = "test-admin-token"
LOCAL_TITLE = "Checkpointing local copy"


def settings_for(library: Path, **overrides) -> Settings:
    return Settings(library=library, threads=2, **overrides)


def shared_settings(library: Path, **overrides) -> Settings:
    """``settings_for`` with the default embedding model named: the session's shared library and servers are the
    default's whichever test first asks for them (a test file may set another model for its own libraries:
    conftest's ``light_embedding``)."""
    return settings_for(library, embed_model=default("embed_model"), **overrides)


def index_quietly(settings: Settings, sources: list[str], added: int) -> None:
    """``sources`` indexed into ``settings.library`` by the real indexer, its lines unprinted; ``added`` of them
    must have been added."""
    from talksearch.indexer.pipeline import IndexRun

    run = IndexRun(settings, report=lambda line: None)
    try:
        assert run.run(sources).count("added") == added
    finally:
        run.close()


def untitle_first_chapter(library: Path, title: str | None = None) -> None:
    """Leave the first chapter of the talk titled ``title`` (of the only talk, when None) untitled in the catalog,
    as a source may list one: no source through the indexer stores such a chapter."""
    import json
    import sqlite3

    where, params = ("WHERE title = ?", (title,)) if title is not None else ("", ())
    with sqlite3.connect(library / "catalog.sqlite") as catalog:
        (chapters,) = catalog.execute(f"SELECT chapters FROM talks {where}", params).fetchone()
        chapters = json.loads(chapters)
        chapters[0]["title"] = None
        catalog.execute(f"UPDATE talks SET chapters = ? {where}", (json.dumps(chapters), *params))
    catalog.close()


def index_captioned_copy(settings: Settings, folder: Path, name: str = "checkpointing", details: dict | None = None
                         ) -> Path:
    """t01 copied into ``folder`` as a local recording named ``name`` with whole-second captions beside it (and
    ``details`` as its sidecar .info.json), and indexed into ``settings.library`` by the real indexer (from the
    captions: no transcription is waited for); the copy."""
    folder.mkdir()
    recording = folder / f"{name}.ogg"
    shutil.copy(DATA / "t01.ogg", recording)
    if details is not None:
        (folder / f"{name}.info.json").write_text(json.dumps(details))
    cues = [f"00:00:{int(s['start']):02d}.000 --> 00:00:{int(s['end']):02d}.000\n{s['text']}"
            for s in TRUTH["t01"]["sentences"]]
    (folder / f"{name}.en.vtt").write_text("WEBVTT\n\n" + "\n\n".join(cues) + "\n")
    index_quietly(settings, [str(folder)], added=1)
    return recording


@functools.cache
def shared_library() -> Path:
    """The session's library, indexed once by the real indexer; servers that write get a copy."""
    from talksearch.indexer.pipeline import IndexRun

    library = scratch("talksearch-lib-") / "library"
    local = scratch("talksearch-local-") / f"{LOCAL_TITLE.replace(' ', '_')}.ogg"
    shutil.copy(DATA / "t01.ogg", local)
    run = IndexRun(shared_settings(library), report=lambda line: None)
    try:
        summary = run.run([loopback_media().url("feed.xml"), str(local)])
    finally:
        run.close()
    assert summary.count("added") == 3, [(o.status, o.label, o.detail) for o in summary.outcomes]
    return library


def copy_library() -> Path:
    target = scratch("talksearch-libcopy-") / "library"
    shutil.copytree(shared_library(), target, ignore=shutil.ignore_patterns("indexer.lock", "downloads"))
    return target


@dataclass
class Server:
    base: str
    settings: Settings
    client: httpx.Client

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.client.get(path, **kwargs)


def _start(settings: Settings) -> tuple[Server, Callable[[], None]]:
    """The real app under uvicorn on a free loopback port, in a thread, and what stops it."""
    from talksearch.service.app import create_app
    from talksearch.service.errors import http_protocol

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on",
                                          http=http_protocol(settings), root_path=settings.root_path or ""))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:  # the lifespan loads the embedding model: seconds
        if not thread.is_alive():
            raise RuntimeError("the service did not start")
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=30)

    base = f"http://127.0.0.1:{port}"
    return Server(base, settings, httpx.Client(base_url=base, timeout=120)), stop


def start_server(settings: Settings) -> Server:
    """A server shared by many tests (the cached ones below): stopped when the process exits."""
    server, stop = _start(settings)
    atexit.register(stop)
    return server


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[Server]:
    """A server for one test: stopped when the test is done, so that its models do not stay loaded for the rest of
    the run (each holds the embedding models: about half a gigabyte)."""
    server, stop = _start(settings)
    try:
        yield server
    finally:
        server.client.close()
        stop()


@functools.cache
def read_server() -> Server:
    """Over the shared library: admin token set, private sources refused (the SSRF checks), CORS default."""
    return start_server(shared_settings(shared_library(), admin_token=ADMIN_TOKEN))


@functools.cache
def locked_down_server() -> Server:
    """Over the shared library: no admin token (admin API disabled), CORS for one origin only."""
    return start_server(shared_settings(shared_library(), cors_origins=["https://allowed.example"]))


@functools.cache
def admin_server() -> Server:
    """Over a copy of the library, for tests that write: admin token set, loopback sources allowed; its jobs
    transcribe with tiny.en (what they check is the jobs, not the words: whisper base took seconds more a job)."""
    return start_server(shared_settings(copy_library(), admin_token=ADMIN_TOKEN, allow_private_sources=True,
                                        whisper_model="tiny.en"))


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

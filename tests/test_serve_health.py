"""A running `talksearch serve` and the library under it: /healthz says when searches cannot be answered (a damaged
catalog, no library at the path), a library replaced under the server is the one served, and SIGHUP reopens the
library rather than stopping the server. Real server processes over libraries indexed by the real indexer (MiniLM,
from captions)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import DATA, TRUTH, ServedProcess, serve_process
from tests.service_fixtures import settings_for, wait_until

# The servers and libraries are MiniLM's (conftest's light_embedding): what health says is not the model's.
pytestmark = [pytest.mark.models, pytest.mark.usefixtures("light_embedding")]


def _library(path: Path, talks: int) -> Path:
    """A library of the first ``talks`` test talks (t01, t02), each a local recording with captions beside it,
    indexed by the real indexer from the captions (no transcription)."""
    from talksearch.indexer.pipeline import IndexRun

    run = IndexRun(settings_for(path), report=lambda line: None)
    try:
        for talk in ("t01", "t02")[:talks]:
            assert run.run([str(_captioned(path.parent / f"{path.name}-{talk}", talk))]).count("added") == 1
    finally:
        run.close()
    return path


def _captioned(folder: Path, talk: str) -> Path:
    """``folder``, made, holding the test talk ``talk`` as a local recording with its captions beside it."""
    folder.mkdir()
    shutil.copy(DATA / f"{talk}.ogg", folder / f"{talk}.ogg")
    cues = [f"00:00:{int(s['start']):02d}.000 --> 00:00:{int(s['end']):02d}.000\n{s['text']}"
            for s in TRUTH[talk]["sentences"]]
    (folder / f"{talk}.en.vtt").write_text("WEBVTT\n\n" + "\n\n".join(cues) + "\n")
    return folder


def _talks(served: ServedProcess) -> int:
    health = served.get("/healthz")
    assert health.status_code == 200, health.text
    return health.json()["talks"]


def _unavailable(response: httpx.Response, *needles: str) -> str:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "unavailable", error
    for needle in needles:
        assert needle in error["message"], error["message"]
    return error["message"]


def test_health_fails_while_the_catalog_is_damaged(tmp_path, light_embedding):
    library = _library(tmp_path / "lib", 1)
    with serve_process(library) as server:
        assert _talks(server) == 1
        with open(library / "catalog.sqlite", "r+b") as catalog:  # a damaged disk: pages of random bytes
            catalog.seek(4096)
            catalog.write(random.Random(7).randbytes(16 * 1024))
        _unavailable(server.get("/api/search", q="checkpoint"), "malformed")
        # every search fails: so does health, in the one error shape, saying why and what to run
        _unavailable(server.get("/healthz"), "the library's catalog cannot be read", "talksearch check")


def test_a_library_replaced_under_the_server_is_the_one_served(tmp_path, light_embedding):
    library, other = _library(tmp_path / "lib", 1), _library(tmp_path / "other", 2)
    with serve_process(library, {"TALKSEARCH_SEARCH_READERS": "2"}) as server:
        assert _talks(server) == 1
        wait_until(lambda: server.get("/healthz").json()["readers"]["ready"] == 2, "both readers to open", 60)
        shutil.rmtree(library)  # as restoring a backup does: the folder replaced, not the files rewritten
        shutil.copytree(other, library)
        for _ in range(4):  # each reader, whichever a request takes
            assert _talks(server) == 2
            assert server.get("/api/talks").json()["total"] == 2
            found = server.get("/api/search", q="partition keys").json()["results"]  # t02's, only in the new one
            assert found and "partition" in found[0]["text"].lower(), found


def test_a_backup_copied_over_the_catalog_beside_the_replaced_ones_log_is_not_damaged_by_it(tmp_path, light_embedding):
    """rsync or cp of a backup over the library replaces catalog.sqlite but leaves the replaced catalog's
    write-ahead log beside it (the backup, taken while nothing ran, has none). SQLite ties a log to the path: the
    server opening the new catalog replayed the old one's commits into it ("database disk image is malformed",
    the backup's file changed for good). It says what to delete instead, and serves the backup once it is gone."""
    library = _library(tmp_path / "lib", 1)
    backup = shutil.copytree(library, tmp_path / "backup")
    with serve_process(library) as server:
        assert _talks(server) == 1
        from talksearch.indexer.pipeline import IndexRun

        run = IndexRun(settings_for(library), report=lambda line: None)  # a week's new talk: commits in the log
        try:
            assert run.run([str(_captioned(tmp_path / "new-talk", "t02"))]).count("added") == 1
        finally:
            run.close()
        assert _talks(server) == 2 and (library / "catalog.sqlite-wal").stat().st_size
        for name in ("catalog.sqlite", "vectors.faiss"):  # as rsync writes a file: a new one renamed over it
            shutil.copy2(backup / name, library / f".{name}.tmp")
            os.replace(library / f".{name}.tmp", library / name)
        for path in ("/healthz", "/api/talks"):
            _unavailable(server.get(path), "catalog.sqlite-wal", "catalog.sqlite-shm")
        assert (library / "catalog.sqlite").read_bytes() == (backup / "catalog.sqlite").read_bytes()
        (library / "catalog.sqlite-wal").unlink()
        (library / "catalog.sqlite-shm").unlink()
        assert _talks(server) == 1
        assert server.get("/api/search", q="checkpoint").json()["results"]


def test_a_library_moved_away_is_unavailable_until_it_is_back(tmp_path, light_embedding):
    library = _library(tmp_path / "lib", 1)
    with serve_process(library) as server:
        assert _talks(server) == 1
        library.rename(tmp_path / "moved")
        for path, params in (("/healthz", {}), ("/api/search", {"q": "checkpoint"}), ("/api/talks", {})):
            # said to every visitor without where it lies on the server (its folders may name a person)
            message = _unavailable(server.get(path, **params), "the library is gone")
            assert str(tmp_path) not in message, message
        (tmp_path / "moved").rename(library)
        assert _talks(server) == 1
        assert server.get("/api/search", q="checkpoint").json()["results"]


def _open_catalog_files(pid: int) -> set[str]:
    """The process's file descriptors open on a catalog (its connections'), by number."""
    fds = Path(f"/proc/{pid}/fd")
    found = set()
    for fd in fds.iterdir():
        try:
            if os.readlink(fd).split(" (deleted)")[0].endswith("catalog.sqlite"):
                found.add(fd.name)
        except OSError:  # closed meanwhile
            pass
    return found


def test_sighup_reopens_the_library_and_the_server_goes_on(tmp_path, light_embedding):
    library = _library(tmp_path / "lib", 1)
    with serve_process(library, {"TALKSEARCH_SEARCH_READERS": "1"}) as server:
        assert _talks(server) == 1
        before = _open_catalog_files(server.process.pid)
        assert before
        server.process.send_signal(signal.SIGHUP)
        wait_until(lambda: any("SIGHUP" in line for line in server.lines), "the line saying SIGHUP was had", 30)
        time.sleep(0.5)
        assert server.process.poll() is None, server.lines
        assert _talks(server) == 1 and server.get("/api/search", q="checkpoint").json()["results"]
        assert _open_catalog_files(server.process.pid) - before, "the catalog was not opened again"
        said = [line for line in server.lines if "SIGHUP" in line]
        assert len(said) == 1 and "reopen" in said[0] and str(library) in said[0], server.lines


def _mapped_replaced_vectors(pid: int) -> list[str]:
    """The process's memory maps of a vectors.faiss that was replaced on disk since (its old file, deleted)."""
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return [line for line in maps if "vectors.faiss (deleted)" in line]


def test_after_sighup_no_replaced_vector_index_stays_mapped(tmp_path, light_embedding):
    """The first SIGHUP left the library opened at the start held by the app's state (which nothing read): once a
    writer replaced vectors.faiss, the old file stayed mapped, its disk space held, until a restart (a soak hunt:
    the whole index, gigabytes in a large library; SIGHUP is logrotate's hook)."""
    from talksearch.indexer.pipeline import IndexRun

    library = _library(tmp_path / "lib", 1)
    with serve_process(library, {"TALKSEARCH_SEARCH_READERS": "1"}) as server:
        assert server.get("/api/search", q="checkpoint").json()["results"]
        server.process.send_signal(signal.SIGHUP)
        wait_until(lambda: any("SIGHUP" in line for line in server.lines), "the line saying SIGHUP was had", 30)
        assert server.get("/api/search", q="checkpoint").json()["results"]  # read by a reader opened again
        run = IndexRun(settings_for(library), report=lambda line: None)
        try:
            assert run.run([str(_captioned(tmp_path / "new-talk", "t02"))]).count("added") == 1
        finally:
            run.close()
        assert _talks(server) == 2 and server.get("/api/search", q="checkpoint").json()["results"]
        assert not _mapped_replaced_vectors(server.process.pid)

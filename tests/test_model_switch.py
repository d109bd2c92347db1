"""Searching with the embedding model a library records: a library served (or opened by `talksearch search`)
while still empty follows the model its first talk is indexed with, and a catalog naming a model its vectors
are not from is refused in one line (CLI) or answered 503 in the error shape (service), never a traceback."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from talksearch.settings import default
from tests.helpers import ROOT
from tests.service_fixtures import assert_error, copy_library, index_captioned_copy, serving, settings_for

pytestmark = pytest.mark.models

MINI = "all-MiniLM-L6-v2"  # not the default (three models side by side): another width of vector


def _index_with_minilm(library, tmp_path) -> None:
    """t01 indexed into ``library`` by another writer, as `talksearch index --embed-model all-MiniLM-L6-v2`
    would."""
    index_captioned_copy(settings_for(library, embed_model=MINI), tmp_path / "recordings")


def test_an_empty_library_follows_the_model_its_first_talk_is_indexed_with(tmp_path):
    from talksearch.search import open_searcher

    library = tmp_path / "library"
    with serving(settings_for(library)) as server:
        assert server.get("/healthz").json()["embed_model"] == default("embed_model")
        # The CLI's search, opened before the first talk is committed (the race with `talksearch index`).
        _, searcher = open_searcher(settings_for(library), create=False, readers=1)
        try:
            _index_with_minilm(library, tmp_path)
            found = searcher.search("checkpoints in an object storage bucket", 3)
            assert found.results and "bucket" in found.results[0].text
            assert searcher.embedder.name == MINI
        finally:
            searcher.close()
        # The service: the same answer without a restart, on every path that searches, and /healthz names
        # the model now in use.
        response = server.get("/api/search", params={"q": "checkpoints in an object storage bucket", "limit": 3})
        assert response.status_code == 200, response.text
        assert [r["text"] for r in response.json()["results"]] == [r.text for r in found.results]
        assert server.get("/", params={"q": "object storage"}).status_code == 200
        health = server.get("/healthz").json()
        assert (health["talks"], health["embed_model"]) == (1, MINI)


def _claim_model(library, model: str) -> None:
    """A hand edit: the catalog names another model than the one its vectors are from."""
    with sqlite3.connect(library / "catalog.sqlite") as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'embed_model'", (model,))


def test_a_recorded_model_that_does_not_fit_the_vectors_is_refused_in_one_line():
    library = copy_library()  # vectors of 1536 dimensions (mpnet, MiniLM and e5 side by side); MiniLM alone makes 384
    _claim_model(library, MINI)
    cli = subprocess.run([sys.executable, "-m", "talksearch.cli", "search", "storage", "--library", str(library)],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert cli.returncode == 1 and cli.stdout == "", cli.stdout + cli.stderr
    [line] = cli.stderr.splitlines()
    assert line.startswith("error: library ") and "384 dimensions, but its vectors have 1536" in line, line

    with serving(settings_for(library)) as server:
        for path, params in (("/api/search", {"q": "storage"}), ("/healthz", {})):
            error = assert_error(server.get(path, params=params), 503, "unavailable")
            assert "384 dimensions, but its vectors have 1536" in error["message"], error


def test_an_indexing_job_keeps_the_model_of_a_library_made_with_another(tmp_path):
    """`talksearch serve` on a library made with another model than the default (the default before it changed):
    an indexing job adds to it with the library's model, as `talksearch index` does. The job's process was handed
    every setting as given, the default model too, and failed: "library ... was built with embedding model ..."."""
    from tests.helpers import loopback_media
    from tests.service_fixtures import ADMIN_TOKEN, wait_until

    library = tmp_path / "library"
    _index_with_minilm(library, tmp_path)
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with serving(settings_for(library, admin_token=ADMIN_TOKEN, allow_private_sources=True)) as server:
        submitted = server.client.post("/api/index", json={"source": loopback_media().url("t02.ogg")},
                                       headers=auth)
        assert submitted.status_code == 202, submitted.text
        job = wait_until(lambda: (j := server.get(f"/api/jobs/{submitted.json()['id']}", headers=auth).json())[
            "status"] in ("done", "failed") and j, "the indexing job")
        assert job["status"] == "done", job
        health = server.get("/healthz").json()
        assert (health["talks"], health["embed_model"]) == (2, MINI)

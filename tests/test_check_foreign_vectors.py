"""`talksearch check` on a vectors.faiss copied from another library (same embedding model, so the same dimension;
passage ids numbered from 1 in both): its ids are the catalog's, or overlap them, while its vectors are another
library's. It is damage --repair rebuilds from the catalog, not a traceback (the index returned ids the catalog
has not got) and not "clean" (a library of 10 passages or fewer finds every passage among its 10 nearest)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import talks_on_topics, talksearch

LIGHT = ["--embed-model", "all-MiniLM-L6-v2"]  # what is checked does not depend on the embedding model


def _library(folder: Path, topics: list[str]) -> Path:
    """A library of one local talk per topic, indexed from its captions (nothing transcribed); six passages a
    talk (its sentences and windows), numbered from 1."""
    talks = talks_on_topics(folder / "talks", topics, lambda topic: (
        f"00:00:01.000 --> 00:00:06.000\nToday I will explain how {topic} works on our cluster.\n\n"
        f"00:00:07.000 --> 00:00:14.000\nWe measured {topic} for a whole year on real jobs and wrote it up.\n\n"
        f"00:00:15.000 --> 00:00:19.000\nQuestions about {topic} are welcome now.\n"))
    library = folder / "library"
    indexed = talksearch("index", str(talks), "--library", str(library), *LIGHT)
    assert indexed.returncode == 0 and f"{len(topics)} added" in indexed.stdout, indexed.stdout + indexed.stderr
    return library


def _passages(library: Path) -> int:
    with sqlite3.connect(library / "catalog.sqlite") as db:
        return db.execute("SELECT count(*) FROM passages").fetchone()[0]


@pytest.fixture(scope="module")
def libraries(tmp_path_factory) -> dict[str, Path]:
    """Two libraries of more than 10 passages, two of 10 or fewer, each on its own subject."""
    root = tmp_path_factory.mktemp("foreign")
    made = {
        "large": _library(root / "large", ["GPU scheduling", "MPI collectives", "burst buffers", "object storage",
                                           "power capping"]),
        "other large": _library(root / "other large", ["sourdough starters", "tomato pruning", "bicycle gears",
                                                       "violin bowing", "tide pools", "chess openings"]),
        "small": _library(root / "small", ["RDMA networking"]),
        "other small": _library(root / "other small", ["kite surfing"]),
    }
    sizes = {name: _passages(library) for name, library in made.items()}
    assert sizes["large"] > 10 and sizes["other large"] > sizes["large"], sizes  # the other's ids go further
    assert sizes["small"] == sizes["other small"] <= 10, sizes  # the same ids: only the vectors differ
    return made


@pytest.mark.models
@pytest.mark.parametrize("target, source", [("large", "other large"), ("small", "other small"),
                                            ("small", "large")])
def test_a_vector_index_from_another_library_is_damage_that_repair_rebuilds(libraries, tmp_path, target, source):
    library = shutil.copytree(libraries[target], tmp_path / "library", ignore=shutil.ignore_patterns("indexer.lock"))
    shutil.copy(libraries[source] / "vectors.faiss", library / "vectors.faiss")

    checked = talksearch("check", "--library", str(library))
    assert "Traceback" not in checked.stderr, checked.stderr
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "problem:  vectors.faiss" in checked.stdout and "damaged" in checked.stdout, checked.stdout
    assert checked.stdout.rstrip().endswith("try --repair"), checked.stdout

    repaired = talksearch("check", "--repair", "--library", str(library))
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "repaired: rebuilt vectors.faiss" in repaired.stdout and repaired.stdout.rstrip().endswith("clean")
    again = talksearch("check", "--library", str(library))
    assert again.returncode == 0 and again.stdout.rstrip().endswith("clean"), again.stdout + again.stderr

    topic = {"large": "burst buffers", "small": "RDMA networking"}[target]
    searched = talksearch("search", f"how {topic} works", "--library", str(library), "--json")
    assert searched.returncode == 0, searched.stderr
    assert topic in json.loads(searched.stdout)["results"][0]["text"], searched.stdout


class _Catalog:
    """What ``_unfindable`` reads of a library: its passages' vectors by id."""

    def __init__(self, vectors: dict[int, np.ndarray]):
        self.vectors = vectors

    def passage_vectors(self, ids):
        return np.vstack([self.vectors[i] for i in ids])


@pytest.mark.unit
def test_passages_the_catalog_no_longer_has_are_left_out_of_the_vector_check():
    """A file that still holds passages the catalog has removed (a lag), among them more than 10 ties of a
    passage the catalog still has (talks removed that closed on the same sentence): they are left out of the
    search as readers leave them out, not looked up in the catalog (a KeyError) nor counted against it."""
    import faiss

    from talksearch.check import _unfindable
    from talksearch.vector_index import EXACT

    vectors = np.random.default_rng(0).standard_normal((5, 16)).astype(np.float32)
    faiss.normalize_L2(vectors)
    catalog = dict(zip(range(1, 6), vectors))
    index = faiss.index_factory(16, EXACT, faiss.METRIC_INNER_PRODUCT)
    stale = np.arange(6, 21)
    index.add_with_ids(np.repeat(vectors[:1], len(stale), axis=0), stale)  # first in the file: first of the ties
    index.add_with_ids(vectors, np.arange(1, 6))
    assert _unfindable(_Catalog(catalog), index, np.arange(1, 6), stale) == (0, 5)
    catalog[1] = -catalog[1]  # ... and still finds a vector that is not the catalog's
    assert _unfindable(_Catalog(catalog), index, np.arange(1, 6), stale) == (1, 5)

"""Vector sync: the library's FAISS file kept in line with the catalog, which holds every embedding.

The index's type, training and searching are ``talksearch.vector_index``'s; this is when it is built,
retrained, saved and caught up, for the writer and for readers (part of ``Library``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from talksearch.library.keyword_index import KeywordIndex
from talksearch.library.layout import CATALOG, VECTORS
from talksearch.library.migrations import FORMAT_VERSION, recorded_format
from talksearch.library.records import LibraryError, SearchScope
from talksearch.vector_index import EXACT, VectorIndex, VectorPolicy, batched, build, describe, retune


class VectorSync:
    """The vector-index half of ``Library`` (a mixin: it shares the library's connection and state)."""

    path: Path
    db: sqlite3.Connection
    format: int  # the catalog's, as this connection reads it
    vector_policy: VectorPolicy
    keywords: KeywordIndex
    _vectors: VectorIndex | None
    _seen_data_version: int | None
    _lock_handle: object | None

    if TYPE_CHECKING:  # the catalog's side, which Library provides
        embed_model: str | None

        def meta(self, key: str) -> str | None: ...
        def meta_number(self, key: str) -> int: ...
        def _set_meta(self, key: str, value: str) -> None: ...
        def count_passages(self) -> int: ...
        def _forget_vocabulary(self) -> None: ...
        def _reopen_if_changed(self) -> bool: ...

    @property
    def _writer(self) -> bool:
        return self._lock_handle is not None

    def _dimension(self) -> int:
        """The vectors' width; a catalog with passages but no recorded width was edited or damaged by hand."""
        dimension = self.meta_number("embed_dim")
        if not dimension and self.count_passages():
            raise LibraryError(f"library catalog {self.path / CATALOG}: meta 'embed_dim' is missing though it holds "
                               "passages (edited or damaged; restore it from a backup or index into a new library)")
        return dimension

    def _catalog_ids(self) -> np.ndarray:
        """Every passage id, sorted (read from the passages_talk index: a few MB even at a million)."""
        rows = self.db.execute("SELECT id FROM passages").fetchall()
        return np.sort(np.fromiter((r[0] for r in rows), np.int64, len(rows)))

    def _lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The catalog's embeddings of ``ids``, in the order given; ids without one (or with one of another
        dimension, which ``talksearch check`` reports) are left out."""
        dimension = self._dimension()
        found, blobs = [], []
        for chunk in batched(np.asarray(ids, dtype=np.int64), 10_000):
            keys = chunk.tolist()
            rows = dict(self.db.execute(
                f"SELECT id, embedding FROM passages WHERE id IN ({','.join('?' * len(keys))})", keys).fetchall())
            for key in keys:
                blob = rows.get(key)
                if blob is not None and len(blob) == 4 * dimension:
                    found.append(key)
                    blobs.append(blob)
        return np.array(found, dtype=np.int64), np.frombuffer(b"".join(blobs), np.float32).reshape(-1, dimension)

    def _catalog_chunks(self, size: int = 50_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every passage's embedding, in id order, ``size`` at a time (a rowid range scan)."""
        dimension, last = self._dimension(), 0
        while True:
            rows = self.db.execute("SELECT id, embedding FROM passages WHERE id > ? ORDER BY id LIMIT ?",
                                   (last, size)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            rows = [r for r in rows if len(r[1]) == 4 * dimension]
            if rows:
                yield (np.array([r[0] for r in rows], dtype=np.int64),
                       np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(-1, dimension))

    def _sample(self, count: int) -> np.ndarray:
        ids = self._catalog_ids()
        rng = np.random.default_rng(self.vector_policy.seed)
        chosen = np.sort(rng.choice(ids, min(count, len(ids)), replace=False))
        return np.ascontiguousarray(self._lookup(chosen)[1])

    def sync_vector_index(self, save: bool = False) -> VectorIndex | None:
        """Make this connection's vector index hold exactly the catalog's passages. A writer also retrains it
        when the library's size calls for it, and with ``save`` writes the file now (atomically)."""
        if self.embed_model is None:
            self._vectors = None
            return None
        file = self.path / VECTORS
        # read before the catalog is, and marked as seen only once caught up: a catch-up that raised is tried again
        # by the next refresh (marked first, that said nothing changed, and the new talks stayed unsearched)
        version = self._data_version()
        vectors = self._vectors
        fresh = (vectors is None or vectors.writable != self._writer
                 or (not self._writer and vectors.file_changed(file)))
        if fresh:
            vectors = self._vectors = VectorIndex.load(file, self._dimension(), self.vector_policy, self._writer)
        if self._writer:
            if vectors.base is None and self.count_passages():  # no usable file: build it from the catalog
                self._retrain()
            else:
                vectors.reconcile(self._catalog_ids(), self._lookup)
                self._maintain_vectors(save)
        elif fresh or len(vectors.stale) or not self._caught_up(vectors):
            vectors.reconcile(self._catalog_ids(), self._lookup)
        self.keywords.rebase(self._vectors.ntotal)
        self._seen_data_version = version
        return self._vectors

    def _caught_up(self, vectors: VectorIndex) -> bool:
        """A reader's cheap catch-up: ids are never reused, so passages committed since it last looked are
        the ones above the highest it knows; if the count then agrees, nothing was deleted either."""
        rows = self.db.execute("SELECT id, embedding FROM passages WHERE id > ?", (vectors.max_id,)).fetchall()
        dimension = self._dimension()
        rows = [r for r in rows if len(r[1]) == 4 * dimension]
        if rows:
            vectors.add(np.array([r[0] for r in rows], dtype=np.int64),
                        np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(-1, dimension))
        return self.count_passages() == vectors.ntotal

    def _maintain_vectors(self, save: bool = False) -> None:
        """The writer's upkeep after a change: retrain when the size calls for it, else write the file once
        enough has changed (or now, with ``save``)."""
        vectors, policy = self._vectors, self.vector_policy
        factory = vectors.factory
        trained = self.meta_number("index_trained_size") if self.meta("index_factory") == factory else 0
        if factory != EXACT and not trained:  # the meta lags the file (a crash between the two writes)
            trained = vectors.ntotal
        if policy.needs_training(factory, trained, vectors.ntotal):
            self._retrain()
        elif vectors.dirty and (save or vectors.dirty >= policy.save_after(vectors.ntotal)):
            self._save_vectors()
        elif save and not (self.path / VECTORS).exists():
            self._save_vectors()

    def _retrain(self) -> None:
        """A new index of the type the library's size calls for, trained and filled from the catalog."""
        index, info = build(self._dimension(), self.count_passages(), self.vector_policy, self._catalog_chunks,
                            self._sample, self._lookup)
        self._vectors = VectorIndex(self._dimension(), self.vector_policy, index, None, writable=True)
        self._save_vectors(info.params(), info.trained_size)

    def retune_vector_index(self) -> dict:
        """Writer: tune a trained index's search parameters (nprobe) again against exact search over the
        catalog, without retraining, and save. Training tunes them already; this is for a changed policy
        (``target_recall``) or a library that changed much since."""
        if not self._writer:
            raise LibraryError("retune_vector_index needs the writer lock (acquire_writer)")
        vectors = self.sync_vector_index()
        if vectors is not None and vectors.factory != EXACT:
            info = retune(vectors.base, vectors.ntotal, self.vector_policy, self._catalog_chunks, self._sample,
                          self._lookup, self.meta_number("index_trained_size"))
            self._save_vectors(info.params(), info.trained_size)
        return self.vector_index_info()

    def _save_vectors(self, params: str | None = None, trained_size: int | None = None) -> None:
        self._vectors.save(self.path / VECTORS)
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self._set_meta("index_factory", describe(self._vectors.base))
            if params is not None:
                self._set_meta("index_params", params)
                self._set_meta("index_trained_size", str(trained_size))
            # a commit, so readers notice (PRAGMA data_version) and map the new file
            self._set_meta("vectors_saved", datetime.now(timezone.utc).isoformat(timespec="microseconds"))

    def _data_version(self) -> int:
        return self.db.execute("PRAGMA data_version").fetchone()[0]

    def refresh(self) -> bool:
        """For readers: pick up talks another process committed. Returns True if anything changed."""
        reopened = self._reopen_if_changed()  # a catalog opened immutable has no data_version to follow
        if not reopened and self._seen_data_version is not None and self._data_version() == self._seen_data_version:
            return False
        if self.format < FORMAT_VERSION:  # read as it was: the writer may have upgraded it since (acquire_writer)
            self.format = recorded_format(self.db) or self.format
        self.sync_vector_index()
        self._forget_vocabulary()
        return True

    def vector_index_info(self) -> dict:
        """What the vector index is, as recorded (meta) and as searched (this connection's view)."""
        vectors = self._vectors if self._vectors is not None else self.sync_vector_index()
        params = json.loads(self.meta("index_params") or "{}")
        return {"factory": vectors.factory if vectors else self.meta("index_factory"),
                "trained_size": self.meta_number("index_trained_size"), **params,
                "passages": vectors.ntotal if vectors else 0,
                "unsaved": (vectors.delta.ntotal + len(vectors.stale) + vectors.dirty) if vectors else 0}

    def search_vectors(self, query: np.ndarray, k: int, scope: SearchScope | None = None) -> list[tuple[int, float]]:
        """The ``k`` passages nearest to ``query`` (inner product), best first, as (id, score); only the
        ``scope``'s passages when one is given."""
        vectors = self._vectors if self._vectors is not None else self.sync_vector_index()
        if vectors is None or vectors.ntotal == 0:
            return []
        return vectors.search(query, k, exact=self._lookup, within=scope.passage_ids if scope else None)

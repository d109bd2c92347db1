"""The on-disk library: the one module that owns its format. The indexer writes it, the service reads it.

A library is a directory:

    catalog.sqlite   talks, transcript segments (with words), passages (with their embeddings), FTS5 index
    vectors.faiss    FAISS index over passage embeddings; its ids are passage ids (type: talksearch.vector_index)
    indexer.lock     held (flock) by the one process writing
    downloads/       audio being fetched (resumable); removed after a talk is committed

The catalog is the source of truth: a talk, its segments, passages and embeddings are committed in one
SQLite transaction, so a talk is there whole or not at all. ``vectors.faiss`` is derived from it: exact
for small libraries, a trained IVF index for large ones (``talksearch.vector_index`` says which, when it
is retrained, and how readers search a file that lags the catalog). Whoever opens a library brings its
view of the index in line with the catalog (missing ids added, stale ids removed), so a crash between the
two writes loses nothing. Passage ids are never reused, even after a talk is deleted.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from talksearch import pronunciation, storage
from talksearch.vector_index import EXACT, VectorIndex, VectorPolicy, batched, build, describe, retune

FORMAT_VERSION = 1
CATALOG = "catalog.sqlite"
VECTORS = "vectors.faiss"
LOCK = "indexer.lock"
DOWNLOADS = "downloads"
FTS_TOKENIZE = "porter unicode61"  # passages_fts's tokenizer
KEYWORD_ROW_BUDGET = 3_000  # passages an OR-ed keyword search may score (Library.selective_terms)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS talks (
    id TEXT PRIMARY KEY,
    archive_id TEXT NOT NULL UNIQUE,      -- yt-dlp's archive key: '<extractor> <id>'
    extractor TEXT NOT NULL,
    source_id TEXT NOT NULL,
    url TEXT NOT NULL,                    -- the talk's page (or the media URL when there is no page)
    media_url TEXT,                       -- direct media, when known: playable in <video>/<audio>
    title TEXT NOT NULL,
    channel TEXT,
    speakers TEXT NOT NULL DEFAULT '[]',  -- JSON list
    event TEXT,
    description TEXT,
    published TEXT,                       -- ISO date
    duration REAL,
    language TEXT,
    thumbnail TEXT,
    chapters TEXT NOT NULL DEFAULT '[]',  -- JSON list of {start_time, end_time, title}
    whisper_model TEXT NOT NULL,
    embed_model TEXT NOT NULL,
    indexed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS segments (
    talk_id TEXT NOT NULL REFERENCES talks(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    start_time REAL NOT NULL,
    end_time REAL NOT NULL,
    text TEXT NOT NULL,
    words TEXT NOT NULL,                  -- JSON list of [start, end, word, probability]
    PRIMARY KEY (talk_id, idx)
);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY,               -- also the FAISS id
    talk_id TEXT NOT NULL REFERENCES talks(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,                   -- 'window' (a few sentences) or 'sentence'
    start_time REAL NOT NULL,
    end_time REAL NOT NULL,
    text TEXT NOT NULL,
    embedding BLOB NOT NULL               -- float32, normalised
);
CREATE INDEX IF NOT EXISTS passages_talk ON passages(talk_id);
-- A talk's passages by time, covering what passages_within filters on, so that finding the few passages of a
-- moment reads a few index entries rather than every passage row (embedding and all) of the talk.
CREATE INDEX IF NOT EXISTS passages_talk_time ON passages(talk_id, start_time, end_time, kind);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts
    USING fts5(text, content='passages', content_rowid='id', tokenize='porter unicode61');  -- FTS_TOKENIZE
CREATE TRIGGER IF NOT EXISTS passages_fts_insert AFTER INSERT ON passages BEGIN
    INSERT INTO passages_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS passages_fts_delete AFTER DELETE ON passages BEGIN
    INSERT INTO passages_fts(passages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
-- Every word the transcripts contain, as written, with its pronunciation (talksearch.pronunciation): the
-- sound-alike retriever looks a query word no transcript contains up here, then searches the passages holding
-- the words that sound like it. Added after format 1 was released: derived data, filled in for an older
-- library when a writer opens it. A deleted talk's words stay (they then match no passage).
CREATE TABLE IF NOT EXISTS sound_vocabulary (word TEXT PRIMARY KEY, phonemes TEXT NOT NULL) WITHOUT ROWID;
"""


class LibraryError(Exception):
    """The library cannot be used as asked; the message is meant for the user."""


class LibraryLocked(LibraryError):
    pass


@dataclass
class Word:
    start: float
    end: float
    word: str
    probability: float = 1.0


@dataclass
class Segment:
    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)


@dataclass
class Passage:
    start: float
    end: float
    text: str
    kind: str = "window"


@dataclass
class Talk:
    """A talk's metadata as stored in the catalog (``id`` is derived from the archive key)."""

    extractor: str
    source_id: str
    url: str
    title: str
    media_url: str | None = None
    channel: str | None = None
    speakers: list[str] = field(default_factory=list)
    event: str | None = None
    description: str | None = None
    published: str | None = None
    duration: float | None = None
    language: str | None = None
    thumbnail: str | None = None
    chapters: list[dict] = field(default_factory=list)
    whisper_model: str = ""
    embed_model: str = ""
    indexed_at: str = ""

    @property
    def archive_id(self) -> str:
        return archive_id(self.extractor, self.source_id)

    @property
    def id(self) -> str:
        return talk_id(self.archive_id)


def archive_id(extractor: str, source_id: str) -> str:
    """yt-dlp's own archive key (``make_archive_id``): lower-case extractor key, a space, the id."""
    return f"{extractor.lower()} {source_id}"


def talk_id(archive_key: str) -> str:
    """A short, stable, URL-safe id: the same source gets the same id in every library."""
    return hashlib.sha1(archive_key.encode()).hexdigest()[:12]


@dataclass
class PassageHit:
    passage_id: int
    talk_id: str
    kind: str
    start: float
    end: float
    text: str


@dataclass
class TalkFilter:
    """Which talks a listing or search may draw from. Every given field must match (values within one
    field are alternatives); text fields match case-insensitively, dates are inclusive ISO dates."""

    talks: Sequence[str] = ()
    channels: Sequence[str] = ()
    events: Sequence[str] = ()
    speakers: Sequence[str] = ()
    languages: Sequence[str] = ()
    published_after: str | None = None
    published_before: str | None = None

    def __bool__(self) -> bool:
        return any(getattr(self, f) for f in self.__dataclass_fields__)

    def sql(self) -> tuple[str, list]:
        """A WHERE clause over ``talks`` (``1`` when nothing is filtered) and its parameters."""
        clauses: list[str] = []
        params: list = []

        def any_of(expression: str, values: Sequence[str]) -> None:
            clauses.append("(" + " OR ".join([expression] * len(values)) + ")")
            params.extend(values)

        if self.talks:
            any_of("talks.id = ?", self.talks)
        if self.channels:
            any_of("talks.channel = ? COLLATE NOCASE", self.channels)
        if self.events:
            any_of("talks.event = ? COLLATE NOCASE", self.events)
        if self.languages:
            any_of("talks.language = ? COLLATE NOCASE", self.languages)
        if self.speakers:
            any_of("EXISTS (SELECT 1 FROM json_each(talks.speakers) WHERE json_each.value = ? COLLATE NOCASE)",
                   self.speakers)
        if self.published_after:
            clauses.append("talks.published >= ?")
            params.append(self.published_after)
        if self.published_before:
            # published may carry a time after the date; anything on the last day is still in range
            clauses.append("substr(talks.published, 1, 10) <= ?")
            params.append(self.published_before)
        return (" AND ".join(clauses) or "1"), params


_TALK_COLUMNS = [f for f in Talk.__dataclass_fields__]
_JSON_COLUMNS = {"speakers", "chapters"}


def _talk_from_row(row: sqlite3.Row) -> dict:
    talk = {key: row[key] for key in row.keys()}
    for key in _JSON_COLUMNS:
        talk[key] = json.loads(talk[key])
    return talk


class Library:
    """A library directory. Open it with :meth:`open`; writers call :meth:`acquire_writer` first."""

    def __init__(self, path: Path, *, create: bool = False, readonly: bool = False,
                 vector_policy: VectorPolicy | None = None):
        self.path = Path(path)
        self.readonly = readonly
        self.vector_policy = vector_policy or VectorPolicy()
        catalog = self.path / CATALOG
        if not catalog.exists():
            if not create:
                raise LibraryError(f"no library at {self.path} (index something first: talksearch index SOURCE)")
            self.path.mkdir(parents=True, exist_ok=True)
        # A library on read-only media (a read-only mount or volume) is opened for reading only (talksearch.storage).
        self.read_only_media = catalog.exists() and storage.read_only_media(self.path)
        self.readonly = readonly = readonly or self.read_only_media
        try:
            if self.read_only_media:
                self.db = sqlite3.connect(storage.catalog_uri(catalog), uri=True, check_same_thread=False,
                                          timeout=30, isolation_level=None)
            else:
                self.db = sqlite3.connect(catalog, check_same_thread=False, timeout=30, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                self.db.execute("PRAGMA journal_mode = WAL")
                self.db.executescript(SCHEMA)
                self._set_meta_default("format_version", str(FORMAT_VERSION))
            version = int(self.meta("format_version") or 0)
        except sqlite3.DatabaseError as exc:
            raise LibraryError(storage.explain(exc, self.path) or f"library catalog {catalog} cannot be read: {exc}") from exc
        if version != FORMAT_VERSION:
            raise LibraryError(f"library {self.path} has format {version}; this talksearch reads {FORMAT_VERSION}")
        self._lock_handle = None
        self._vectors: VectorIndex | None = None
        self._seen_data_version: int | None = None
        self._term_counts: dict[str, int] = {}  # term -> passages holding it (capped)
        self._term_counts_basis = 0  # the passage count they were taken at
        self._vocabulary: tuple[list[str], pronunciation.Sounds] | None = None  # sound_vocabulary(), cached

    @classmethod
    def open(cls, path: Path | str, *, create: bool = False, readonly: bool = False,
             vector_policy: VectorPolicy | None = None) -> Library:
        return cls(Path(path), create=create, readonly=readonly, vector_policy=vector_policy)

    def close(self) -> None:
        """Close; a writer first writes out the vector index changes it has not saved yet, unless they are a
        few passages in a large library (readers take those from the catalog; the next writer saves them)."""
        try:
            vectors = self._vectors
            if self._writer and vectors is not None and vectors.writable and vectors.dirty and (
                    vectors.dirty >= self.vector_policy.save_min or vectors.ntotal <= self.vector_policy.exact_max):
                self._save_vectors()
        finally:
            self.db.close()
            if self._lock_handle is not None:
                self._lock_handle.close()
                self._lock_handle = None

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- metadata -------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta_default(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, value))

    @property
    def embed_model(self) -> str | None:
        return self.meta("embed_model")

    def check_embedding_model(self, name: str) -> None:
        """Refuse a model other than the one the library was built with."""
        recorded = self.embed_model
        if recorded is not None and recorded != name:
            raise LibraryError(
                f"library {self.path} was built with embedding model {recorded!r}, not {name!r}; "
                f"use --embed-model {recorded} or a new --library"
            )

    def bind_embedding_model(self, name: str, dimension: int) -> None:
        """Record the embedding model on first use; refuse any other model afterwards."""
        self.check_embedding_model(name)
        if self.embed_model is None:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self._set_meta_default("embed_model", name)
                self._set_meta_default("embed_dim", str(dimension))
                self._set_meta_default("index_factory", "IDMap2,Flat")

    # --- writing --------------------------------------------------------------------------------

    def acquire_writer(self) -> None:
        """Take the library's single-writer lock, or explain who holds it."""
        if self.read_only_media:
            raise LibraryError(f"the library {self.path} is on a read-only file system; it can be searched, "
                               "but writing it needs write access")
        handle = open(self.path / LOCK, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise LibraryLocked(f"library {self.path} is being written by {holder}; wait for it to finish") from None
        handle.truncate(0)
        handle.write(f"talksearch index (pid {os.getpid()})")
        handle.flush()
        self._lock_handle = handle
        self._fill_sound_vocabulary()

    def _fill_sound_vocabulary(self) -> None:
        """Give a library written before the vocabulary existed, or with sounds made another way, its words
        with today's sounds (and drop the spelling-based sound keys that came before the vocabulary)."""
        if self.meta("sound_vocabulary") == pronunciation.SCHEME:
            return
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("DROP TABLE IF EXISTS passages_sound")  # its delete trigger goes with it
            self.db.execute("DELETE FROM sound_vocabulary")
            self._add_to_vocabulary(r[0] for r in self.db.execute("SELECT text FROM segments"))
            self._set_meta("sound_vocabulary", pronunciation.SCHEME)

    def _add_to_vocabulary(self, texts: Iterable[str]) -> None:
        words = {w for text in texts for w in pronunciation.words(text)}
        self.db.executemany("INSERT OR IGNORE INTO sound_vocabulary(word, phonemes) VALUES (?, ?)",
                            [(w, pronunciation.word_phonemes(w)) for w in words])
        self._vocabulary = None

    def has_archive_id(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM talks WHERE archive_id = ?", (key,)).fetchone() is not None

    def add_talk(
        self, talk: Talk, segments: Sequence[Segment], passages: Sequence[Passage], embeddings: np.ndarray
    ) -> str:
        """Commit a talk with everything derived from it in one transaction; return its id."""
        if self._lock_handle is None:
            raise LibraryError("add_talk needs the writer lock (acquire_writer)")
        if len(passages) != len(embeddings):
            raise ValueError("one embedding per passage")
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        talk.indexed_at = talk.indexed_at or datetime.now(timezone.utc).isoformat(timespec="seconds")
        row = asdict(talk)
        row.update(id=talk.id, archive_id=talk.archive_id)
        for key in _JSON_COLUMNS:
            row[key] = json.dumps(row[key])
        columns = ["id", "archive_id", *_TALK_COLUMNS]
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                f"INSERT INTO talks({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                [row[c] for c in columns],
            )
            first = self._next_passage_id()
            self.db.executemany(
                "INSERT INTO segments(talk_id, idx, start_time, end_time, text, words) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (talk.id, i, s.start, s.end, s.text,
                     json.dumps([[round(w.start, 3), round(w.end, 3), w.word, round(w.probability, 3)] for w in s.words]))
                    for i, s in enumerate(segments)
                ],
            )
            self.db.executemany(
                "INSERT INTO passages(id, talk_id, kind, start_time, end_time, text, embedding) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(first + i, talk.id, p.kind, p.start, p.end, p.text, e.tobytes())
                 for i, (p, e) in enumerate(zip(passages, embeddings))],
            )
            self._set_meta("next_passage_id", str(first + len(passages)))
            self._add_to_vocabulary(s.text for s in segments)
        if self._vectors is None or not self._vectors.writable:
            self.sync_vector_index()
        else:  # the writer's index follows its own commits without looking at the whole catalog again
            self._vectors.add(np.arange(first, first + len(passages), dtype=np.int64), embeddings)
            self._maintain_vectors()
        return talk.id

    def delete_talk(self, talk_id_: str) -> bool:
        if self._lock_handle is None:
            raise LibraryError("delete_talk needs the writer lock (acquire_writer)")
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            ids = np.array([r[0] for r in self.db.execute("SELECT id FROM passages WHERE talk_id = ?", (talk_id_,))],
                           dtype=np.int64)
            self._set_meta("next_passage_id", str(self._next_passage_id()))  # its ids are not given out again
            deleted = self.db.execute("DELETE FROM talks WHERE id = ?", (talk_id_,)).rowcount
        if self._vectors is None or not self._vectors.writable:
            self.sync_vector_index()
        else:
            self._vectors.remove(ids)
            self._maintain_vectors()
        return bool(deleted)

    def _next_passage_id(self) -> int:
        """The first id a new passage may take: above every passage there is or ever was, so that an id
        always names the same passage (a reader's index that still holds a deleted id is never mistaken)."""
        top = self.db.execute("SELECT coalesce(max(id), 0) FROM passages").fetchone()[0]
        return max(int(self.meta("next_passage_id") or 0), top + 1)

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        (key, value))

    # --- the vector index (its type, training and searching: talksearch.vector_index) ---------------

    @property
    def _writer(self) -> bool:
        return self._lock_handle is not None

    def _dimension(self) -> int:
        return int(self.meta("embed_dim") or 0)

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
        self._seen_data_version = self._data_version()
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
        size = self._vectors.ntotal
        if abs(size - self._term_counts_basis) > 0.1 * self._term_counts_basis or len(self._term_counts) > 100_000:
            self._term_counts, self._term_counts_basis = {}, size  # term counts drift with the library's size
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
        trained = int(self.meta("index_trained_size") or 0) if self.meta("index_factory") == factory else 0
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
                          self._lookup, int(self.meta("index_trained_size") or 0))
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
        if self._seen_data_version is not None and self._data_version() == self._seen_data_version:
            return False
        self.sync_vector_index()
        self._vocabulary = None
        return True

    def vector_index_info(self) -> dict:
        """What the vector index is, as recorded (meta) and as searched (this connection's view)."""
        vectors = self._vectors if self._vectors is not None else self.sync_vector_index()
        params = json.loads(self.meta("index_params") or "{}")
        return {"factory": vectors.factory if vectors else self.meta("index_factory"),
                "trained_size": int(self.meta("index_trained_size") or 0), **params,
                "passages": vectors.ntotal if vectors else 0,
                "unsaved": (vectors.delta.ntotal + len(vectors.stale) + vectors.dirty) if vectors else 0}

    def search_vectors(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The ``k`` passages nearest to ``query`` (inner product), best first, as (id, score)."""
        vectors = self._vectors if self._vectors is not None else self.sync_vector_index()
        if vectors is None or vectors.ntotal == 0:
            return []
        return vectors.search(query, k, exact=self._lookup)

    # --- reading --------------------------------------------------------------------------------

    def passages(self, ids: Iterable[int]) -> dict[int, PassageHit]:
        ids = list(ids)
        if not ids:
            return {}
        rows = self.db.execute(
            "SELECT id, talk_id, kind, start_time, end_time, text FROM passages "
            f"WHERE id IN ({','.join('?' * len(ids))})",
            ids,
        )
        return {r[0]: PassageHit(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows}

    def passages_within(self, talk_id_: str, start: float, end: float, kind: str | None = None) -> list[PassageHit]:
        """A talk's passages lying inside [start, end], in time order (optionally of one kind)."""
        rows = self.db.execute(
            "SELECT id, talk_id, kind, start_time, end_time, text FROM passages WHERE talk_id = ? "
            "AND start_time >= ? AND start_time <= ? AND end_time <= ? AND (? IS NULL OR kind = ?) "
            "ORDER BY start_time, end_time",
            (talk_id_, start, end, end, kind, kind),
        )
        return [PassageHit(*r) for r in rows]

    def passage_vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored embeddings of ``ids``, one row each, in the order given."""
        if not ids:
            return np.empty((0, int(self.meta("embed_dim") or 0)), dtype=np.float32)
        rows = dict(self.db.execute(
            f"SELECT id, embedding FROM passages WHERE id IN ({','.join('?' * len(ids))})", list(ids)).fetchall())
        return np.vstack([np.frombuffer(rows[i], dtype=np.float32) for i in ids])

    def sound_vocabulary(self) -> tuple[list[str], pronunciation.Sounds]:
        """The library's words and their sounds, ready to align a query word against; read once per change
        of the library (this connection's view), so a reader pays for it on its first jargon query only."""
        if self._vocabulary is None:
            try:
                rows = self.db.execute("SELECT word, phonemes FROM sound_vocabulary").fetchall()
            except sqlite3.OperationalError:  # a library no writer of this version has opened yet
                rows = []
            self._vocabulary = ([r[0] for r in rows], pronunciation.Sounds([r[1] for r in rows]))
        return self._vocabulary

    def talk(self, talk_id_: str) -> dict | None:
        row = self.db.execute("SELECT * FROM talks WHERE id = ?", (talk_id_,)).fetchone()
        return _talk_from_row(row) if row else None

    def talks(self, limit: int | None = None, offset: int = 0, filters: TalkFilter | None = None) -> list[dict]:
        where, params = (filters or TalkFilter()).sql()
        rows = self.db.execute(
            f"SELECT * FROM talks WHERE {where} ORDER BY published DESC, title LIMIT ? OFFSET ?",
            [*params, limit if limit else -1, offset],
        )
        return [_talk_from_row(r) for r in rows]

    def talk_ids(self, filters: TalkFilter) -> set[str]:
        where, params = filters.sql()
        return {r[0] for r in self.db.execute(f"SELECT id FROM talks WHERE {where}", params)}

    def talks_by_id(self, ids: Iterable[str]) -> dict[str, dict]:
        ids = list(set(ids))
        if not ids:
            return {}
        rows = self.db.execute(f"SELECT * FROM talks WHERE id IN ({','.join('?' * len(ids))})", ids)
        return {r["id"]: _talk_from_row(r) for r in rows}

    def count_talks(self, filters: TalkFilter | None = None) -> int:
        where, params = (filters or TalkFilter()).sql()
        return self.db.execute(f"SELECT count(*) FROM talks WHERE {where}", params).fetchone()[0]

    def facets(self) -> dict[str, list[str]]:
        """The distinct channels, events, speakers and languages, for filter menus."""
        def distinct(sql: str) -> list[str]:
            return [r[0] for r in self.db.execute(sql) if r[0]]

        return {
            "channels": distinct("SELECT DISTINCT channel FROM talks ORDER BY channel COLLATE NOCASE"),
            "events": distinct("SELECT DISTINCT event FROM talks ORDER BY event COLLATE NOCASE"),
            "speakers": distinct("SELECT DISTINCT value FROM talks, json_each(talks.speakers) ORDER BY value COLLATE NOCASE"),
            "languages": distinct("SELECT DISTINCT language FROM talks ORDER BY language"),
        }

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one committed state of the catalog (a WAL read transaction), so a search
        and the talks it names agree even while a writer commits."""
        if self.db.in_transaction:  # nested: the outer snapshot already holds
            yield
            return
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            self.db.execute("COMMIT")

    def passage_near(self, talk_id_: str, seconds: float) -> PassageHit | None:
        """The talk's passage that covers ``seconds`` (the one starting latest), else the nearest one."""
        row = self.db.execute(
            "SELECT id, talk_id, kind, start_time, end_time, text FROM passages WHERE talk_id = ? "
            "ORDER BY (start_time <= ? AND ? < end_time) DESC, "
            "CASE WHEN start_time <= ? AND ? < end_time THEN -start_time "
            "ELSE min(abs(start_time - ?), abs(end_time - ?)) END, kind = 'sentence' LIMIT 1",
            (talk_id_, seconds, seconds, seconds, seconds, seconds, seconds),
        ).fetchone()
        return PassageHit(*row) if row else None

    def embedding(self, passage_id: int) -> np.ndarray | None:
        row = self.db.execute("SELECT embedding FROM passages WHERE id = ?", (passage_id,)).fetchone()
        return np.frombuffer(row[0], dtype=np.float32) if row else None

    def snippets(self, ids: Iterable[int], match: str, mark: tuple[str, str], tokens: int = 64) -> dict[int, str]:
        """FTS5 ``snippet()`` of each passage that ``match`` hits, matched terms between ``mark``'s two strings.
        Passages the expression does not hit are left out (the caller shows their plain text).

        The passages are marked in a scratch FTS5 table (``temp``, this connection's own) holding only them,
        tokenised as ``passages_fts`` is: the same snippets, at a cost that does not grow with the library
        (asked of ``passages_fts``, FTS5 walks every query word's postings across the whole library)."""
        ids = list(ids)
        if not ids:
            return {}
        texts = self.db.execute(
            f"SELECT id, text FROM passages WHERE id IN ({','.join('?' * len(ids))})", ids).fetchall()
        self.db.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.snippet_scratch USING fts5(text, tokenize='{FTS_TOKENIZE}')")
        try:
            self.db.executemany("INSERT INTO temp.snippet_scratch(rowid, text) VALUES (?, ?)", texts)
            rows = self.db.execute(
                "SELECT rowid, snippet(snippet_scratch, 0, ?, ?, '…', ?) FROM temp.snippet_scratch "
                "WHERE snippet_scratch MATCH ?", [mark[0], mark[1], tokens, match])
            return {r[0]: r[1] for r in rows}
        except sqlite3.OperationalError:  # an expression FTS5 cannot parse: no marks rather than no answer
            return {}
        finally:
            self.db.execute("DELETE FROM temp.snippet_scratch")

    def selective_terms(self, terms: Sequence[str], budget: int = KEYWORD_ROW_BUDGET) -> list[str]:
        """The ``terms`` worth an OR-ed BM25 search of the passages' words, in their order: all that occur
        while the passages they occur in add up to at most ``budget``; past that, the commonest are left out
        until they do. FTS5 scores every passage an OR matches, so a word like "the" in a million passages
        costs a second, while BM25 gives it almost no weight; a small library keeps every term. Counts stop
        at the budget, so a count never costs more than it."""
        if self._term_counts_basis <= budget:  # no more passages than the budget: nothing to save (or to change)
            return list(terms)
        counts = {}
        for term in dict.fromkeys(terms):
            if term not in self._term_counts:
                self._term_counts[term] = self.db.execute(
                    "SELECT count(*) FROM (SELECT 1 FROM passages_fts WHERE passages_fts MATCH ? LIMIT ?)",
                    ('"' + term.replace('"', '""') + '"', budget + 1)).fetchone()[0]
            counts[term] = self._term_counts[term]
        kept, total = set(), 0
        for term in sorted((t for t in counts if counts[t]), key=counts.get):
            if total + counts[term] > budget:
                break
            kept.add(term)
            total += counts[term]
        return [t for t in terms if t in kept]  # repeats kept: BM25 weighs a word said twice in the query twice

    def count_passages(self) -> int:
        return self.db.execute("SELECT count(*) FROM passages").fetchone()[0]

    def segments(self, talk_id_: str) -> list[Segment]:
        rows = self.db.execute(
            "SELECT start_time, end_time, text, words FROM segments WHERE talk_id = ? ORDER BY idx", (talk_id_,)
        )
        return [Segment(r[0], r[1], r[2], [Word(*w) for w in json.loads(r[3])]) for r in rows]

"""The on-disk library: the one module that owns its format. The indexer writes it, the service reads it.

A library is a directory:

    catalog.sqlite   talks, transcript segments (with words), passages (with their embeddings), FTS5 index
    vectors.faiss    FAISS index over passage embeddings; its ids are passage ids
    indexer.lock     held (flock) by the one process writing
    downloads/       audio being fetched (resumable); removed after a talk is committed

The catalog is the source of truth: a talk, its segments, passages and embeddings are committed in one
SQLite transaction, so a talk is there whole or not at all. ``vectors.faiss`` is derived from it and
is brought back in line (missing ids added, stale ids removed) whenever a library is opened or a
reader notices a commit, so a crash between the two writes loses nothing.
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

import faiss
import numpy as np

from talksearch.soundalike import sound_key

FORMAT_VERSION = 1
CATALOG = "catalog.sqlite"
VECTORS = "vectors.faiss"
LOCK = "indexer.lock"
DOWNLOADS = "downloads"

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
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts
    USING fts5(text, content='passages', content_rowid='id', tokenize='porter unicode61');
CREATE TRIGGER IF NOT EXISTS passages_fts_insert AFTER INSERT ON passages BEGIN
    INSERT INTO passages_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS passages_fts_delete AFTER DELETE ON passages BEGIN
    INSERT INTO passages_fts(passages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
-- Sound-alike keys of passages (talksearch.soundalike), trigram-indexed: rowid = passage id. Added after
-- format 1 was released: derived data, filled in for older libraries when a writer opens them.
CREATE VIRTUAL TABLE IF NOT EXISTS passages_sound USING fts5(key, tokenize='trigram');
CREATE TRIGGER IF NOT EXISTS passages_sound_delete AFTER DELETE ON passages BEGIN
    DELETE FROM passages_sound WHERE rowid = old.id;
END;
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

    def __init__(self, path: Path, *, create: bool = False, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        catalog = self.path / CATALOG
        if not catalog.exists():
            if not create:
                raise LibraryError(f"no library at {self.path} (index something first: talksearch index SOURCE)")
            self.path.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(catalog, check_same_thread=False, timeout=30, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.create_function("sound_key", 1, sound_key, deterministic=True)
            self.db.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                self.db.execute("PRAGMA journal_mode = WAL")
                self.db.executescript(SCHEMA)
                self._set_meta_default("format_version", str(FORMAT_VERSION))
            version = int(self.meta("format_version") or 0)
        except sqlite3.DatabaseError as exc:
            raise LibraryError(f"library catalog {catalog} cannot be read: {exc}") from exc
        if version != FORMAT_VERSION:
            raise LibraryError(f"library {self.path} has format {version}; this talksearch reads {FORMAT_VERSION}")
        self._lock_handle = None
        self._index: faiss.Index | None = None
        self._seen_data_version: int | None = None

    @classmethod
    def open(cls, path: Path | str, *, create: bool = False, readonly: bool = False) -> Library:
        return cls(Path(path), create=create, readonly=readonly)

    def close(self) -> None:
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
        self._fill_sound_keys()

    def _fill_sound_keys(self) -> None:
        """Key the passages that have no sound-alike key yet (a library written before the table existed)."""
        rows = self.db.execute(
            "SELECT id, text FROM passages WHERE id NOT IN (SELECT rowid FROM passages_sound)").fetchall()
        if rows:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany("INSERT INTO passages_sound(rowid, key) VALUES (?, ?)",
                                    [(r[0], sound_key(r[1])) for r in rows])

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
            self.db.executemany(
                "INSERT INTO segments(talk_id, idx, start_time, end_time, text, words) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (talk.id, i, s.start, s.end, s.text,
                     json.dumps([[round(w.start, 3), round(w.end, 3), w.word, round(w.probability, 3)] for w in s.words]))
                    for i, s in enumerate(segments)
                ],
            )
            self.db.executemany(
                "INSERT INTO passages(talk_id, kind, start_time, end_time, text, embedding) VALUES (?, ?, ?, ?, ?, ?)",
                [(talk.id, p.kind, p.start, p.end, p.text, e.tobytes()) for p, e in zip(passages, embeddings)],
            )
            self.db.execute(
                "INSERT INTO passages_sound(rowid, key) SELECT id, sound_key(text) FROM passages WHERE talk_id = ?",
                (talk.id,),
            )
        self.sync_vector_index(save=True)
        return talk.id

    def delete_talk(self, talk_id_: str) -> bool:
        if self._lock_handle is None:
            raise LibraryError("delete_talk needs the writer lock (acquire_writer)")
        with self.db:
            deleted = self.db.execute("DELETE FROM talks WHERE id = ?", (talk_id_,)).rowcount
        self.sync_vector_index(save=True)
        return bool(deleted)

    # --- the vector index -----------------------------------------------------------------------

    def _new_index(self) -> faiss.Index:
        dimension = int(self.meta("embed_dim") or 0)
        factory = self.meta("index_factory") or "IDMap2,Flat"
        return faiss.index_factory(dimension, factory, faiss.METRIC_INNER_PRODUCT)

    def _load_index(self) -> faiss.Index:
        file = self.path / VECTORS
        if file.exists():
            try:
                return faiss.read_index(str(file))
            except RuntimeError:
                pass  # unreadable: rebuilt from the catalog below, which holds every embedding
        return self._new_index()

    def sync_vector_index(self, save: bool = False) -> faiss.Index:
        """Make the FAISS index hold exactly the catalog's passages; write it atomically if asked."""
        if self.embed_model is None:
            self._index = None
            return None
        if self._index is None:
            self._index = self._load_index()
        index = self._index
        self._seen_data_version = self._data_version()
        catalog_ids = np.fromiter((r[0] for r in self.db.execute("SELECT id FROM passages")), dtype=np.int64)
        index_ids = faiss.vector_to_array(faiss.downcast_index(index).id_map) if index.ntotal else np.empty(0, np.int64)
        stale = np.setdiff1d(index_ids, catalog_ids, assume_unique=True)
        missing = np.setdiff1d(catalog_ids, index_ids, assume_unique=True)
        if len(stale):
            index.remove_ids(stale)
        for start in range(0, len(missing), 50_000):
            chunk = missing[start : start + 50_000].tolist()
            rows = self.db.execute(
                f"SELECT id, embedding FROM passages WHERE id IN ({','.join('?' * len(chunk))})", chunk
            ).fetchall()
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            vectors = np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
            index.add_with_ids(vectors, ids)
        if save and (len(stale) or len(missing) or not (self.path / VECTORS).exists()):
            tmp = self.path / (VECTORS + ".tmp")
            faiss.write_index(index, str(tmp))
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, self.path / VECTORS)
        return index

    def _data_version(self) -> int:
        return self.db.execute("PRAGMA data_version").fetchone()[0]

    def refresh(self) -> bool:
        """For readers: pick up talks another process committed. Returns True if anything changed."""
        if self._seen_data_version is not None and self._data_version() == self._seen_data_version:
            return False
        self.sync_vector_index()
        return True

    def search_vectors(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        index = self._index if self._index is not None else self.sync_vector_index()
        if index is None or index.ntotal == 0:
            return []
        scores, ids = index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

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
            "AND start_time >= ? AND end_time <= ? AND (? IS NULL OR kind = ?) ORDER BY start_time, end_time",
            (talk_id_, start, end, kind, kind),
        )
        return [PassageHit(*r) for r in rows]

    def passage_vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored embeddings of ``ids``, one row each, in the order given."""
        if not ids:
            return np.empty((0, int(self.meta("embed_dim") or 0)), dtype=np.float32)
        rows = dict(self.db.execute(
            f"SELECT id, embedding FROM passages WHERE id IN ({','.join('?' * len(ids))})", list(ids)).fetchall())
        return np.vstack([np.frombuffer(rows[i], dtype=np.float32) for i in ids])

    def has_sound_keys(self) -> bool:
        return self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'passages_sound'").fetchone() is not None

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
        Passages the expression does not hit are left out (the caller shows their plain text)."""
        ids = list(ids)
        if not ids:
            return {}
        try:
            rows = self.db.execute(
                "SELECT rowid, snippet(passages_fts, 0, ?, ?, '…', ?) FROM passages_fts "
                f"WHERE passages_fts MATCH ? AND rowid IN ({','.join('?' * len(ids))})",
                [mark[0], mark[1], tokens, match, *ids],
            )
            return {r[0]: r[1] for r in rows}
        except sqlite3.OperationalError:  # an expression FTS5 cannot parse: no marks rather than no answer
            return {}

    def count_passages(self) -> int:
        return self.db.execute("SELECT count(*) FROM passages").fetchone()[0]

    def segments(self, talk_id_: str) -> list[Segment]:
        rows = self.db.execute(
            "SELECT start_time, end_time, text, words FROM segments WHERE talk_id = ? ORDER BY idx", (talk_id_,)
        )
        return [Segment(r[0], r[1], r[2], [Word(*w) for w in json.loads(r[3])]) for r in rows]

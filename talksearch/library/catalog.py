"""The catalog side of ``Library``: opening a library directory, its metadata, the single writer, committing
and deleting talks, and every read of talks, sentences and passages. The vector index is kept in line by
``vector_sync``, the keyword index and the vocabulary are their own modules; this class joins them."""

from __future__ import annotations

import fcntl
import functools
import json
import os
import shlex
import sqlite3
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from talksearch import pronunciation, storage
from talksearch.library import token_codes, vocabulary
from talksearch.library.keyword_index import KeywordIndex
from talksearch.library.layout import CATALOG, DOWNLOADS, LOCK, MEDIA, VECTORS
from talksearch.library.migrations import FORMAT_VERSION, SCHEMA, TRIGRAM_INDEX_FORMATS, open_format, recorded_format
from talksearch.library.records import (
    TALK_DETAILS,
    LibraryError,
    LibraryLocked,
    Passage,
    PassageHit,
    SearchScope,
    Segment,
    StoredTalk,
    Talk,
    TalkFilter,
    Word,
    fold_sql,
    record_time,
    with_translation,
)
from talksearch.library.vector_sync import VectorSync
from talksearch.media_types import MEDIA_SUFFIXES
from talksearch.text import fold
from talksearch.vector_index import VectorIndex, VectorPolicy

_TALK_COLUMNS = [f for f in Talk.__dataclass_fields__]
_JSON_COLUMNS = {"speakers", "chapters"}
# What a re-run stores of a talk the library has (update_talk_details): its details, and where it is now (a feed
# item's enclosure that moved: its link and its media)
_RESTATED = (*TALK_DETAILS, "url", "media_url")
# The removals a library made from another (talksearch reembed) kept from it (``Library.keep_removals``), by archive
# key and time: forgotten here once the other one forgets them
_KEPT_REMOVALS = "kept_removals"
# The format whose upgrade first moved what the first releases kept in downloads/ (--keep-media) to media/
# (``keep_early_media``): a catalog of this format or later has none there, and a recording there named as a talk's
# download is an interrupted run's (--reindex downloads every talk again), not kept media
EARLY_MEDIA_MOVED = 11


def _talk_from_row(row: sqlite3.Row) -> StoredTalk:
    """A catalog row as the talk it was stored from, with the id and archive key it was stored under. A column
    an older format lacks (readers do not upgrade) keeps the record's default, but for the transcript's source,
    which every talk before format 4 had from whisper (as migration 4 records it): read as '', it was lost for good
    in a library made from this one (reembed)."""
    present = set(row.keys())
    derived = {} if "transcript_source" in present else {"transcript_source": _whisper_source(row["whisper_model"])}
    return StoredTalk(**{key: json.loads(row[key]) if key in _JSON_COLUMNS else row[key]
                         for key in _TALK_COLUMNS if key in present}, **derived,
                      stored_id=row["id"], stored_archive_id=row["archive_id"])


def _whisper_source(whisper_model: str | None) -> str:
    """The transcript source of a talk whisper transcribed with ``whisper_model`` ('' when it names none)."""
    return f"whisper {whisper_model}" if whisper_model else ""


def kept_media_name(extractor: str, source_id: str) -> str:
    """The name, less its extension, of a talk's recording kept in ``media/`` (--keep-media): the indexer downloads
    it to yt-dlp's output template ``%(extractor_key)s-%(id)s.%(ext)s`` with ``restrictfilenames``
    (talksearch.indexer.sources), each field made safe by yt-dlp's own sanitizer. Derived from the extractor and id
    the catalog stores, so no record of the file is needed, and files kept by earlier releases are found too."""
    from yt_dlp.utils import sanitize_filename  # only for deleting and checking: searching does without it

    return "-".join(sanitize_filename(field, restricted=True) for field in (extractor, source_id))


@functools.cache
def _extractor_keys() -> frozenset[str]:
    from yt_dlp.extractor import gen_extractor_classes

    return frozenset(extractor.ie_key() for extractor in gen_extractor_classes())


def _named_as_kept_media(file: Path) -> bool:
    """Whether a file has the name the indexer gives the recordings it keeps (``kept_media_name``: an extractor's
    key, a dash, an id); one put in ``media/`` by hand is not the library's to remove."""
    extractor, dash, _ = file.stem.partition("-")
    return bool(dash) and extractor in _extractor_keys()


# The tables holding the library's records; the rest of the catalog (keyword, trigram and sound indexes) is
# made from them.
RECORD_TABLES = ("meta", "talks", "segments", "passages", "removed_talks")
# A filter leaving at most this share of the talks is searched within (``Library.search_scope``).
SCOPE_MAX_SHARE = 0.5
# What to do about a catalog whose records are damaged: nothing rebuilds them (`check` and opening a library say it)
RESTORE_CATALOG = (f"restore {CATALOG} from a backup (removing {CATALOG}-wal and {CATALOG}-shm beside it: SQLite "
                   "would replay the damaged one's log into it), or index into a new library")
_BUSY_TIMEOUT_S = 30  # how long a statement waits for another process's lock
_CHECKPOINT_WAIT_MS = 5_000  # how long a deletion's checkpoint waits for readers of the state before it


class Library(VectorSync):
    """A library directory. Open it with :meth:`open`; writers call :meth:`acquire_writer` first."""

    def __init__(self, path: Path, *, create: bool = False, readonly: bool = False,
                 vector_policy: VectorPolicy | None = None):
        self.path = Path(path)
        self.readonly = readonly
        self.vector_policy = vector_policy or VectorPolicy()
        catalog = self.path / CATALOG
        if not catalog.exists():
            # Said before "no library" (search, talks, check) and before mkdir's bare "File exists" (index, serve)
            if self.path.is_symlink() and not self.path.exists():
                raise LibraryError(f"library {self.path} is a link to a missing folder ({os.readlink(self.path)})")
            if self.path.exists() and not self.path.is_dir():
                raise LibraryError(f"library {self.path} is a file: a library is a folder (--library FOLDER)")
            if not create:
                raise LibraryError(f"no library at {self.path} (index something first: talksearch index SOURCE)")
            self.path.mkdir(parents=True, exist_ok=True)
        elif not create and catalog.stat().st_size == 0:  # SQLite would take it for a new database, and write one
            raise LibraryError(f"library catalog {catalog} is empty (0 bytes): nothing to read there"
                               + (", though vectors.faiss is: restore the catalog" if (self.path / VECTORS).exists() else ""))
        # A library on read-only media (a read-only mount or volume), or one this process has no permission to write
        # (``write_denied``: the folder or file it may not write), is opened for reading only (talksearch.storage).
        self.read_only_media = catalog.exists() and storage.read_only_media(self.path)
        self.write_denied = storage.unwritable(catalog) if catalog.exists() and not self.read_only_media else None
        self._readonly_asked = readonly
        self.disk_full: str | None = None  # why a catalog on a full disk was opened for reading only
        # The catalog's storage.catalog_state when it was opened immutable (which sees no other process's commits):
        # each read compares it (_reopen_if_changed); None when SQLite follows the catalog itself
        self._immutable_state: tuple | None = None
        self._connect(self.read_only_media or self.write_denied is not None, full_fallback=catalog.exists())
        self._lock_handle = None
        self.upgraded: str | None = None  # the writer's line saying it upgraded the catalog (acquire_writer)
        self._vectors: VectorIndex | None = None
        self._seen_data_version: int | None = None
        self.keywords = KeywordIndex(self.db)
        self._scopes: dict[tuple, SearchScope] = {}  # search_scope's, newest last
        self._talk_names: tuple[tuple, list[tuple[str, list[str], str]]] | None = None  # talk_names(), cached
        self._not_english: tuple[tuple, frozenset[str]] | None = None  # talks_not_in_english(), cached
        self._voices: tuple[tuple, list[tuple[str, str]]] | None = None  # caption_speakers(), cached
        # sound_vocabularies(), cached
        self._vocabulary: dict[str, tuple[list[str], pronunciation.Sounds]] | None = None

    def _connect(self, read_only: bool, full_fallback: bool) -> None:
        """Open the catalog, for reading only (``read_only``: talksearch.storage's URI) or as asked. With
        ``full_fallback``, a full disk's refusal opens it for reading only, saying why (``disk_full``). The
        connection it replaces, if any, is closed only once the new one is open."""
        catalog = self.path / CATALOG
        readonly = self._readonly_asked or read_only
        disk_full = None
        for retry in (True, False):
            db = None
            uri = storage.catalog_uri(catalog, full=disk_full is not None) if read_only else None
            # taken before opening: a change after shows
            state = storage.catalog_state(catalog) if uri and uri.endswith("immutable=1") else None
            try:
                if uri:
                    db = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=_BUSY_TIMEOUT_S,
                                         isolation_level=None)
                else:
                    db = sqlite3.connect(catalog, check_same_thread=False, timeout=_BUSY_TIMEOUT_S,
                                         isolation_level=None)
                db.row_factory = sqlite3.Row
                db.create_function("fold", 1, fold_sql, deterministic=True)  # what TalkFilter compares names by
                db.execute("PRAGMA foreign_keys = ON")
                if not readonly:
                    db.execute("PRAGMA journal_mode = WAL")
                    # What is deleted (a talk removed, a transcript replaced) is overwritten with zeros, not left in
                    # free pages: off by default in SQLite's own builds (on in Debian's). No cost measured on indexing.
                    db.execute("PRAGMA secure_delete = ON")
                # A new catalog is made here; an older one is read as it is until the writer upgrades it
                # (acquire_writer)
                format_ = open_format(db, self.path, writable=not readonly)
                break
            except (sqlite3.DatabaseError, LibraryError) as exc:
                if db is not None:  # connected, then refused: do not leave the connection open
                    db.close()
                if isinstance(exc, LibraryError):
                    raise
                if retry and full_fallback and not read_only and storage.storage_kind(exc, self.path) == storage.FULL:
                    # SQLite cannot make or grow the log's shared-memory file on a full disk, and so refused every
                    # reader (search, talks, a server's start): read as from read-only media, which needs none;
                    # a write is refused, saying why (acquire_writer); opened again once there is room
                    disk_full = storage.explain(exc, self.path)
                    read_only = readonly = True
                    continue
                wal, shm = catalog.with_name(f"{CATALOG}-wal"), catalog.with_name(f"{CATALOG}-shm")
                if (read_only and "unable to open database file" in str(exc) and wal.exists()
                        and wal.stat().st_size and not shm.exists()):
                    # SQLite reads a log with commits only through its -shm file, which it cannot make where it may
                    # not write; immutable=1 would skip the log's commits (and a checkpoint cut short leaves half)
                    raise LibraryError(
                        f"library {self.path} cannot be read here: its catalog's write-ahead log ({wal.name}) holds "
                        f"commits but {shm.name} is missing, and SQLite cannot make it in a library it may not write; "
                        f"copy {shm.name} too, or checkpoint before publishing (sqlite3 {CATALOG} "
                        "'PRAGMA wal_checkpoint(TRUNCATE)'), or make the copy writable") from exc
                # a catalog cut short (an interrupted copy, a full disk) or overwritten fails here, where SQLite first
                # reads its schema, before `check` could look inside it: said here what check says of damaged records
                damaged = any(words in str(exc) for words in ("disk image is malformed", "file is not a database"))
                raise LibraryError(storage.explain(exc, self.path)
                                   or f"library catalog {catalog} cannot be read: {exc}"
                                   + (f" (damaged or cut short): {RESTORE_CATALOG}" if damaged else "")) from exc
        replaced = getattr(self, "db", None)
        self.db, self.format, self.readonly, self.disk_full, self._immutable_state = (
            db, format_, readonly, disk_full, state)
        if replaced is not None:
            replaced.close()

    def _reopen_if_changed(self) -> bool:
        """For readers, before each read: open the catalog again when SQLite would not follow it. Opened immutable
        (where this process could not make the log's files), SQLite never sees another process's commits (PRAGMA
        data_version stays) and reads pages a writer's checkpoint changed as if they had not, torn ("database disk
        image is malformed"); so when the catalog or its log's files changed since, it is opened again: through
        the log (mode=ro) once a writer made its files, immutable again if it left none. Opened on a full disk, it
        is opened as usual once there is room. Returns True when it opened it again: every cache is the old one's."""
        room = self.disk_full is not None and storage.has_room(self.path)
        if not room and (self._immutable_state is None
                         or storage.catalog_state(self.path / CATALOG) == self._immutable_state):
            return False
        in_snapshot = self.db.in_transaction  # the snapshot() it was asked in goes on in the new connection
        # opened as at first: on a disk still full, that falls back to reading it immutable again
        self._connect(self.read_only_media or self.write_denied is not None, full_fallback=True)
        if in_snapshot:
            self.db.execute("BEGIN")
        self.keywords = KeywordIndex(self.db)
        self._seen_data_version = None  # another connection's count: the vectors are checked against the catalog
        self._scopes, self._talk_names, self._not_english, self._voices = {}, None, None, None
        self._forget_vocabulary()
        return True

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
            self._vectors = None  # a closed library holds no mapped vectors.faiss, which a writer may replace
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

    def meta_number(self, key: str) -> int:
        """A count or size the catalog records, 0 when it records none. Only talksearch writes these, so
        anything but a number is a catalog edited or damaged by hand: said in one line, not a traceback."""
        value = self.meta(key)
        try:
            return int(value or 0)
        except ValueError:
            raise LibraryError(f"library catalog {self.path / CATALOG}: meta {key!r} is {value!r}, not a number "
                               "(edited or damaged; restore it from a backup or index into a new library)") from None

    def check_recorded_numbers(self) -> None:
        """Read every number the search side will need (``meta_number``), so that a server refuses a damaged
        catalog in one line before it starts rather than failing its start-up with a traceback."""
        for key in ("token_dim", "index_trained_size", "next_passage_id"):
            self.meta_number(key)
        self._dimension()

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
                f"use --embed-model {recorded} or a new --library, or move it to {name} with talksearch reembed "
                f"{shlex.quote(str(self.path))} --library NEW --embed-model {shlex.quote(name)}"
            )

    def bind_embedding_model(self, name: str, dimension: int, token_dimension: int | None = None) -> None:
        """Record the embedding model on first use; refuse any other model afterwards. ``token_dimension``: of
        the word vectors, where it is not the passages' (several models side by side: the first model's)."""
        self.check_embedding_model(name)
        if self.embed_model is None:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self._set_meta_default("embed_model", name)
                self._set_meta_default("embed_dim", str(dimension))
                if token_dimension is not None and token_dimension != dimension:
                    self._set_meta_default("token_dim", str(token_dimension))
                self._set_meta_default("index_factory", "IDMap2,Flat")

    # --- writing --------------------------------------------------------------------------------

    def unwritable(self) -> str | None:
        """Why this process cannot write the library, as it stood when opened (read-only media, a full disk, no
        permission); None when it can."""
        if self.read_only_media:
            return (f"the library {self.path} is on a read-only file system; it can be searched, but writing it "
                    "needs write access")
        if self.disk_full is not None:
            return self.disk_full
        if self.write_denied is not None:
            what = "its folder" if self.write_denied == self.path else self.write_denied.name
            return (f"no permission to write the library {self.path} ({what} is not writable by this user); it can "
                    "be searched, but writing it needs write access")
        return None

    def acquire_writer(self, holder: str = "talksearch index") -> str | None:
        """Take the library's single-writer lock, or explain who holds it: a writer refused names ``holder`` (the
        command holding it: ``talksearch serve`` for the service's DELETEs) and its pid. Holding it, upgrade a catalog
        of an older format (``upgraded``): returns the one line that says so, for the command to print, else None."""
        if (unwritable := self.unwritable()) is not None:  # refused here, before a run downloads anything
            raise LibraryError(unwritable)
        # Not opened to append ("a+"): that writes at the end whatever the position, and the holder's line is
        # written over the last holder's below
        handle = os.fdopen(os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o666), "r+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.readline().strip() or "another process"
            handle.close()
            raise LibraryLocked(f"library {self.path} is being written by {holder}; wait for it to finish") from None
        # Written over the last holder's line, and only then the rest cut: a refused writer reading meanwhile finds
        # a first line, the last holder's or this one's (cut first, it found the file empty: "another process")
        handle.seek(0)
        handle.write(f"{holder} (pid {os.getpid()})\n")
        handle.truncate()
        handle.flush()
        self._lock_handle = handle
        self.upgraded = self._upgrade()
        # Migrations 3 and 5 drop the vocabulary that sound-alike matching needs: remade by the writer that upgrades
        self._fill_sound_vocabulary()
        return self.upgraded

    def _upgrade(self) -> str | None:
        """The writer's upgrade of an older catalog to this release's format, and of what the first releases kept
        in downloads/ (``keep_early_media``); the line saying so, or None where the catalog is current (another
        writer may have upgraded it since this connection read its format). Only under the lock: an earlier
        release's indexer still writing would write its rows into a catalog of a format it does not know."""
        found = recorded_format(self.db)
        if found == FORMAT_VERSION:
            self.format = found
            return None
        try:
            self.format = open_format(self.db, self.path, writable=True, upgrade=True)
        except sqlite3.DatabaseError as exc:  # nothing of the upgrade is committed (one transaction)
            raise LibraryError(storage.explain(exc, self.path)
                               or f"library catalog {self.path / CATALOG} cannot be upgraded: {exc}") from exc
        moved = self.keep_early_media(found or 0)  # as the catalog was: it says whether they could be there
        return (f"upgraded the library's catalog from format {found} to {self.format}; earlier releases of "
                "talksearch cannot read it now" + (f" (moved {len(moved)} recordings an earlier release kept in "
                                                   f"{DOWNLOADS}/ to {MEDIA}/)" if moved else ""))

    def _fill_sound_vocabulary(self) -> None:
        """Give a library written before the vocabulary existed, or with sounds made another way, its words
        with today's sounds."""
        if self.meta("sound_vocabulary") == pronunciation.SCHEME:
            return
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if self.meta("sound_vocabulary") != pronunciation.SCHEME:  # else another process remade it meanwhile
                vocabulary.remake(self.db)
                self._set_meta("sound_vocabulary", pronunciation.SCHEME)
        self._forget_vocabulary()

    def sound_vocabulary_outdated(self) -> bool:
        """Whether the talks' words are missing from the vocabulary, or pronounced another way than today's
        (``pronunciation.SCHEME``): sound-alike matching then finds little or nothing until a writer remakes it."""
        return self.meta("sound_vocabulary") != pronunciation.SCHEME and self.count_talks() > 0

    def _forget_vocabulary(self) -> None:
        self._vocabulary = None

    def has_archive_id(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM talks WHERE archive_id = ?", (key,)).fetchone() is not None

    def removed_on(self, key: str) -> str | None:
        """When the talk of archive key ``key`` was removed from the library (``delete_talk``), if it was and has not
        been indexed again since: indexing skips it."""
        return self._removal_record("removed_at", "archive_id", key)

    def removed_as(self, key: str) -> str | None:
        """The id the talk of archive key ``key`` had when it was removed (``removed_on``): what ``forget_removal``
        takes, and what a skipped line names."""
        return self._removal_record("talk_id", "archive_id", key)

    def removal_of(self, talk_id_: str) -> str | None:
        """When the talk ``talk_id_`` was removed from the library, if it was (and not indexed again since)."""
        return self._removal_record("removed_at", "talk_id", talk_id_)

    def _removal_record(self, field: str, by: str, value: str) -> str | None:
        """``field`` of the removal whose ``by`` is ``value``; None when there is none, and for a catalog older than
        format 10 read without upgrading (no removed_talks)."""
        try:
            row = self.db.execute(f"SELECT {field} FROM removed_talks WHERE {by} = ?", (value,)).fetchone()
        except sqlite3.OperationalError:
            return None
        return row[0] if row else None

    def forget_removal(self, talk_id_: str) -> str | None:
        """Let the next run of a removed talk's source index it again (``talksearch restore``): its removal record
        goes, nothing else changes. When it had been removed, or None when the library records no such removal."""
        if self._lock_handle is None:
            raise LibraryError("forget_removal needs the writer lock (acquire_writer)")
        with self.db:
            row = self.db.execute("DELETE FROM removed_talks WHERE talk_id = ? RETURNING removed_at",
                                  (talk_id_,)).fetchone()
        return row[0] if row else None

    def removals(self) -> list[tuple[str, str, str, str | None]]:
        """Every removal recorded (archive key, talk id, when, and where the talk was fetched from, if recorded;
        ``delete_talk``): what a copy of the library made by another way than copying its files (``talksearch
        reembed``) must keep. None before format 10."""
        url = "url" if self.format >= 11 else "NULL"
        try:
            return [tuple(row) for row in self.db.execute(
                f"SELECT archive_id, talk_id, removed_at, {url} FROM removed_talks")]
        except sqlite3.OperationalError:
            return []

    def removed_archive_urls(self) -> dict[str, str]:
        """The removed talks' archive keys, with the URL each was fetched from where it was recorded (as
        ``archive_urls`` gives the library's): how ``indexer.sources`` knows a removed talk that an earlier release
        keyed otherwise."""
        return {key: url for key, _, _, url in self.removals() if url}

    def keep_removals(self, removals: Sequence[tuple[str, str, str, str | None]]) -> tuple[int, list[str]]:
        """Record ``removals`` (``removals()`` of another library) of talks this one does not hold: a re-run of their
        source skips them here too. Those kept from it by an earlier call that it no longer records (restored there,
        ``talksearch restore``, or indexed again) are forgotten: told from this library's own removals by their
        archive key and time, remembered as kept (meta ``kept_removals``). How many were new, and the ids of the
        talks whose removal was forgotten."""
        if self._lock_handle is None:
            raise LibraryError("keep_removals needs the writer lock (acquire_writer)")
        given = {(key, when) for key, _, when, _ in removals}
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            earlier = {(key, when) for key, when in json.loads(self.meta(_KEPT_REMOVALS) or "[]")}
            forgotten = [row[0] for key, when in sorted(earlier - given) for row in self.db.execute(
                "DELETE FROM removed_talks WHERE archive_id = ? AND removed_at = ? RETURNING talk_id", (key, when))]
            before = self.db.total_changes
            self.db.executemany("INSERT OR IGNORE INTO removed_talks(archive_id, talk_id, removed_at, url) "
                                "SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM talks WHERE archive_id = ?)",
                                [(key, talk, when, url, key) for key, talk, when, url in removals])
            added = self.db.total_changes - before
            kept = [pair for pair in sorted(given) if self.db.execute(
                "SELECT 1 FROM removed_talks WHERE archive_id = ? AND removed_at = ?", pair).fetchone()]
            self._set_meta(_KEPT_REMOVALS, json.dumps(kept))
        return added, forgotten

    def add_talk(
        self, talk: Talk, segments: Sequence[Segment], passages: Sequence[Passage], embeddings: np.ndarray,
        replace: bool = False, token_vectors: Sequence[np.ndarray | None] | None = None,
        replaces: str | None = None,
    ) -> str:
        """Commit a talk with everything derived from it in one transaction; return its id. With ``replace``, the
        talk's earlier record (transcript, passages and all) goes in the same transaction: a reader sees the old
        talk or the new one, never neither. ``token_vectors``: per passage, its meaningful words' vectors (kept
        for sentences, ``token_codes``) or None. ``replaces``: another talk this one takes the place of, in the same
        transaction (a local recording replaced at its path: new content, so a new key)."""
        if self._lock_handle is None:
            raise LibraryError("add_talk needs the writer lock (acquire_writer)")
        if len(passages) != len(embeddings):
            raise ValueError("one embedding per passage")
        token_vectors = list(token_vectors) if token_vectors is not None else [None] * len(passages)
        if len(token_vectors) != len(passages):
            raise ValueError("one token_vectors entry per passage")
        token_blobs = [token_codes.pack(v) if v is not None and p.kind == "sentence" else None
                       for p, v in zip(passages, token_vectors)]
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        talk.indexed_at = talk.indexed_at or record_time()
        row = asdict(talk)
        row.update(id=talk.id, archive_id=talk.archive_id)
        # A talk with a whisper model and no source was whisper's (as migrations 4 and 8 read it): stored empty, it
        # named none for good (a talk reembed copied from a library an earlier release read before format 4)
        row["transcript_source"] = talk.transcript_source or _whisper_source(talk.whisper_model)
        for key in _JSON_COLUMNS:
            row[key] = json.dumps(row[key])
        columns = ["id", "archive_id", *_TALK_COLUMNS]
        replaced = np.zeros(0, dtype=np.int64)
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            earlier = [i for i in (talk.id if replace else None, replaces) if i]
            if earlier:
                replaced = np.concatenate([self._passage_ids_of(i) for i in earlier])
                self._set_meta("next_passage_id", str(self._next_passage_id()))  # its ids are not given out again
                self.db.executemany("DELETE FROM talks WHERE id = ?", [(i,) for i in earlier])
            self.db.execute(
                f"INSERT INTO talks({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                [row[c] for c in columns],
            )
            first = self._next_passage_id()
            self.db.executemany(
                "INSERT INTO segments(talk_id, idx, start_time, end_time, text, words, speaker, translation) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (talk.id, i, s.start, s.end, s.text,
                     json.dumps([[round(w.start, 3), round(w.end, 3), w.word, round(w.probability, 3)] for w in s.words]),
                     s.speaker, s.translation)
                    for i, s in enumerate(segments)
                ],
            )
            self.db.executemany(
                "INSERT INTO passages(id, talk_id, kind, start_time, end_time, text, embedding, translation, "
                "token_vectors) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(first + i, talk.id, p.kind, p.start, p.end, p.text, e.tobytes(), p.translation, t)
                 for i, (p, e, t) in enumerate(zip(passages, embeddings, token_blobs))],
            )
            self._set_meta("next_passage_id", str(first + len(passages)))
            vocabulary.add(self.db, (s.text for s in segments), talk.language)
            # a talk removed before, indexed again (--reindex): no longer one to skip
            self.db.execute("DELETE FROM removed_talks WHERE archive_id = ?", (talk.archive_id,))
        self._forget_vocabulary()
        if self._vectors is None or not self._vectors.writable:
            self.sync_vector_index()
        else:  # the writer's index follows its own commits without looking at the whole catalog again
            if len(replaced):
                self._vectors.remove(replaced)
            self._vectors.add(np.arange(first, first + len(passages), dtype=np.int64), embeddings)
            self._maintain_vectors()
        return talk.id

    def move_talk(self, talk_id_: str, url: str, media_url: str | None) -> bool:
        """Point a talk at where its recording is now (a local file moved or renamed): nothing else changes."""
        if self._lock_handle is None:
            raise LibraryError("move_talk needs the writer lock (acquire_writer)")
        with self.db:
            return self.db.execute("UPDATE talks SET url = ?, media_url = ? WHERE id = ?",
                                   (url, media_url, talk_id_)).rowcount > 0

    def changed_details(self, talk_id_: str, details: Mapping[str, object]) -> list[str]:
        """The names of the ``details`` (as ``update_talk_details`` takes them) that differ from the talk's, in that
        order; none for a talk the library does not have."""
        if unknown := set(details) - set(_RESTATED):
            raise ValueError(f"not a talk's details: {', '.join(sorted(unknown))}")
        talk = self.talk(talk_id_)
        return [key for key in _RESTATED if talk is not None and key in details and details[key] != getattr(talk, key)]

    def update_talk_details(self, talk_id_: str, details: Mapping[str, object]) -> list[str]:
        """Store the details a talk's source states now (``TALK_DETAILS``, and ``url`` and ``media_url`` where its
        recording moved; a field left out stays as it is), in one transaction; return the names of those that
        changed, in that order (none: nothing is written). Its
        transcript, passages and their embeddings stay as they are; ``details_changed_at`` becomes now (the feeds'
        <updated> follows it). The listings, pages and feeds read the row; ``talk_names`` and a reader's cached
        responses follow the commit, as they follow any."""
        if self._lock_handle is None:
            raise LibraryError("update_talk_details needs the writer lock (acquire_writer)")
        changed = self.changed_details(talk_id_, details)  # (read outside the transaction: this is the one writer)
        if changed:  # a talk unchanged writes nothing: a re-run of a large feed takes no write per talk
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.execute(f"UPDATE talks SET {', '.join(f'{key} = ?' for key in changed)}, "
                                "details_changed_at = ? WHERE id = ?",
                                [*(json.dumps(details[key]) if key in _JSON_COLUMNS else details[key]
                                   for key in changed), record_time(), talk_id_])
        return changed

    def delete_talk(self, talk_id_: str, record_removal: bool = True) -> bool:
        """Remove a talk and everything made from it, and erase it: its words no other passage of its language holds
        leave the vocabulary, the keyword and trigram indexes are rewritten without it, and the write-ahead log is
        emptied into the catalog, whose freed pages are zeroed (``PRAGMA secure_delete``): a copy of catalog.sqlite
        holds nothing of it. ``record_removal``: its archive key is kept (``removed_on``), so that a re-run of its
        source skips it; not for a talk retired because its recording is no longer where it was."""
        if self._lock_handle is None:
            raise LibraryError("delete_talk needs the writer lock (acquire_writer)")
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            ids = self._passage_ids_of(talk_id_)
            self._set_meta("next_passage_id", str(self._next_passage_id()))  # its ids are not given out again
            talk = self.db.execute("SELECT extractor, source_id, archive_id, language, media_url, url FROM talks "
                                   "WHERE id = ?", (talk_id_,)).fetchone()
            said = [r[0] for r in self.db.execute("SELECT text FROM segments WHERE talk_id = ?", (talk_id_,))]
            indexes = self.keywords.indexes_holding(ids)
            deleted = self.db.execute("DELETE FROM talks WHERE id = ?", (talk_id_,)).rowcount
            if deleted:
                if record_removal:
                    self.db.execute("INSERT OR REPLACE INTO removed_talks(archive_id, talk_id, removed_at, url) "
                                    "VALUES (?, ?, ?, ?)", (talk["archive_id"], talk_id_, record_time(),
                                                            talk["media_url"] or talk["url"]))
                self._forget_words(said, talk["language"])
                self.keywords.erase(indexes)
        if deleted:
            self._forget_vocabulary()
            self._checkpoint()
        if self._vectors is None or not self._vectors.writable:
            self.sync_vector_index()
        else:
            self._vectors.remove(ids)
            self._maintain_vectors()
        if talk is not None:  # its kept recording goes with it (a takedown); after the commit: no talk loses its file
            for file in self._unowned(self._kept_media_named(kept_media_name(talk["extractor"], talk["source_id"]))):
                file.unlink(missing_ok=True)
        return bool(deleted)

    def _forget_words(self, said: Iterable[str], language: str | None) -> None:
        """Of the words a deleted talk said, take those no remaining passage of a talk in its language holds as
        written out of the vocabulary (inside the caller's transaction): left, they named the talk's subject still.
        The word index finds the passages that may hold each (``texts_saying``); the first that does keeps it."""
        key = vocabulary.language_key(language)
        gone = []
        for word in {w for text in said for w in pronunciation.words(text)}:
            with closing(self.keywords.texts_saying(word, key, pronunciation.DEFAULT_LANGUAGE)) as texts:
                if not any(word in pronunciation.words(text) for text, in texts):
                    gone.append((key, word))
        self.db.executemany("DELETE FROM sound_vocabulary WHERE language = ? AND word = ?", gone)

    def _checkpoint(self) -> None:
        """Write every commit in the write-ahead log into catalog.sqlite and empty the log: until then, a deletion
        lives in catalog.sqlite-wal only, and a copy of catalog.sqlite alone still has what was deleted. Waits a few
        seconds for readers of an earlier state (a search under way); one holding on longer leaves the log to the
        next checkpoint."""
        self.db.execute(f"PRAGMA busy_timeout = {_CHECKPOINT_WAIT_MS}")
        try:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            self.db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_S * 1000}")

    def kept_media(self, talk: Talk) -> list[Path]:
        """The talk's recordings kept in ``media/`` (--keep-media), whatever their extension; none while another
        talk's id is made safe to the same name ("talk (2024)" and "talk_2024"): the file may be that talk's."""
        name = kept_media_name(talk.extractor, talk.source_id)
        files = self._kept_media_named(name)
        others = self.db.execute("SELECT extractor, source_id FROM talks WHERE NOT (extractor = ? AND source_id = ?)",
                                 (talk.extractor, talk.source_id)) if files else ()
        return [] if any(kept_media_name(*other) == name for other in others) else files

    def early_kept_media(self, format_: int | None = None) -> list[tuple[Path, Path]]:
        """The recordings the first releases kept in downloads/ (--keep-media; later ones keep them in media/),
        each with its place in media/: a file with a recording's suffix, named as yt-dlp named that talk's download
        then and now (``kept_media_name``), for a talk the library has and no other talk's id is made safe to the
        same name. Anything else there is an interrupted run's (a .part download, a transcription's log)."""
        if (self.format if format_ is None else format_) >= EARLY_MEDIA_MOVED:
            return []  # none since (``format_``: the catalog's before the upgrade at hand): an interrupted run's
        folder = self.path / DOWNLOADS
        files = [file for file in (sorted(folder.iterdir()) if folder.is_dir() else [])
                 if file.is_file() and file.suffix.lower() in MEDIA_SUFFIXES]
        if not files:  # most libraries have none: no need to read every talk
            return []
        names = Counter(kept_media_name(*row) for row in self.db.execute("SELECT extractor, source_id FROM talks"))
        return [(file, self.path / MEDIA / file.name) for file in files if names[file.stem] == 1]

    def keep_early_media(self, format_: int | None = None) -> list[Path]:
        """Writer: move ``early_kept_media`` to media/, where the library keeps recordings now (a talk deleted takes
        its own along; in downloads/ they passed for leftovers of interrupted runs). A file of the same name in media/
        already is left as it is, and so is this one. The files moved, at their new place."""
        if self._lock_handle is None:
            raise LibraryError("keep_early_media needs the writer lock (acquire_writer)")
        moved = []
        for file, kept in self.early_kept_media(format_):
            if kept.exists():
                continue
            try:
                kept.parent.mkdir(exist_ok=True)
                file.rename(kept)  # the same folder's file system: never copied, never lost halfway
            except OSError:  # left where it is, kept all the same (check names it, --repair tries again)
                continue
            moved.append(kept)
        return moved

    def _kept_media_named(self, name: str) -> list[Path]:
        return [file for file in self._media_files() if file.stem == name]

    def unowned_media(self) -> list[Path]:
        """The recordings the indexer kept in ``media/`` that no talk in the catalog owns: kept for a talk deleted
        since (before deleting removed them too) or never committed. A talk owns its kept recording, and a local
        talk the file it was indexed from, should the user have indexed a kept file as a local recording."""
        return self._unowned([file for file in self._media_files() if _named_as_kept_media(file)])

    def kept_recordings(self) -> list[Path]:
        """The files in ``media/`` that talks own: named as a talk's kept recording (``kept_media_name``), or a local
        talk's own file. Not the others there (notes, a file manager's, one kept for a talk since deleted)."""
        files = self._media_files()
        unowned = set(self._unowned(files))
        return [file for file in files if file not in unowned]

    def _unowned(self, files: list[Path]) -> list[Path]:
        """Of ``files`` in ``media/``, those no talk owns (another talk's id may be made safe to the same name)."""
        if not files:  # most libraries keep nothing: no need to read every talk
            return []
        rows = self.db.execute("SELECT extractor, source_id, media_url FROM talks").fetchall()
        names = {kept_media_name(extractor, source_id) for extractor, source_id, _ in rows}
        recordings = {url for _, _, url in rows if url and url.startswith("file:")}
        return [file for file in files if file.stem not in names and file.resolve().as_uri() not in recordings]

    def _media_files(self) -> list[Path]:
        folder = self.path / MEDIA
        return sorted(file for file in folder.iterdir() if file.is_file()) if folder.is_dir() else []

    def _passage_ids_of(self, talk_id_: str) -> np.ndarray:
        return np.array([r[0] for r in self.db.execute("SELECT id FROM passages WHERE talk_id = ?", (talk_id_,))],
                        dtype=np.int64)

    def _next_passage_id(self) -> int:
        """The first id a new passage may take: above every passage there is or ever was, so that an id
        always names the same passage (a reader's index that still holds a deleted id is never mistaken)."""
        top = self.db.execute("SELECT coalesce(max(id), 0) FROM passages").fetchone()[0]
        return max(self.meta_number("next_passage_id"), top + 1)

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        (key, value))

    # --- reading --------------------------------------------------------------------------------

    def passages(self, ids: Iterable[int]) -> dict[int, PassageHit]:
        ids = list(ids)
        if not ids:
            return {}
        rows = self.db.execute(
            f"SELECT id, talk_id, kind, start_time, end_time, text, {self._translation} FROM passages "
            f"WHERE id IN ({','.join('?' * len(ids))})",
            ids,
        )
        return {r[0]: PassageHit(*r) for r in rows}

    def passages_within(self, talk_id_: str, start: float, end: float, kind: str | None = None) -> list[PassageHit]:
        """A talk's passages lying inside [start, end], in time order (optionally of one kind)."""
        rows = self.db.execute(
            f"SELECT id, talk_id, kind, start_time, end_time, text, {self._translation} FROM passages WHERE talk_id = ? "
            "AND start_time >= ? AND start_time <= ? AND end_time <= ? AND (? IS NULL OR kind = ?) "
            "ORDER BY start_time, end_time",
            (talk_id_, start, end, end, kind, kind),
        )
        return [PassageHit(*r) for r in rows]

    def passage_token_vectors(self, hits: Iterable[PassageHit]) -> dict[int, np.ndarray]:
        """Per passage, the vectors of its meaningful words (``token_codes``): a sentence's own, a window's its
        sentences' together. Passages without them (stored before format 6, or by a caller that gave none) are
        left out."""
        if self.format < 6:
            return {}
        dimension = self.meta_number("token_dim") or self._dimension()
        found: dict[int, np.ndarray] = {}
        for hit in hits:
            rows = self.db.execute(
                "SELECT token_vectors FROM passages WHERE talk_id = ? AND start_time >= ? AND start_time <= ? "
                "AND end_time <= ? AND kind = 'sentence' ORDER BY start_time",
                (hit.talk_id, hit.start, hit.end, hit.end)).fetchall()
            if rows and all(blob is not None for blob, in rows):
                found[hit.passage_id] = np.vstack([token_codes.unpack(blob, dimension) for blob, in rows])
        return found

    def passage_vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored embeddings of ``ids``, one row each, in the order given."""
        if not ids:
            return np.empty((0, self._dimension()), dtype=np.float32)
        rows = dict(self.db.execute(
            f"SELECT id, embedding FROM passages WHERE id IN ({','.join('?' * len(ids))})", list(ids)).fetchall())
        return np.vstack([np.frombuffer(rows[i], dtype=np.float32) for i in ids])

    def sound_vocabularies(self) -> dict[str, tuple[list[str], pronunciation.Sounds]]:
        """Per language, the library's words and their sounds, ready to align a query word against; read once
        per change of the library (this connection's view), so a reader pays for it on its first jargon query only."""
        if self._vocabulary is None:
            self._vocabulary = vocabulary.read(self.db)
        return self._vocabulary

    def sound_vocabulary(self, language: str | None = None) -> tuple[list[str], pronunciation.Sounds]:
        """The words of talks in ``language`` (not known: English) and their sounds."""
        return self.sound_vocabularies().get(vocabulary.language_key(language), ([], pronunciation.Sounds([])))

    def talk(self, talk_id_: str) -> StoredTalk | None:
        row = self.db.execute("SELECT * FROM talks WHERE id = ?", (talk_id_,)).fetchone()
        return _talk_from_row(row) if row else None

    def talk_with_archive_id(self, key: str) -> StoredTalk | None:
        row = self.db.execute("SELECT * FROM talks WHERE archive_id = ?", (key,)).fetchone()
        return _talk_from_row(row) if row else None

    def talks(self, limit: int | None = None, offset: int = 0, filters: TalkFilter | None = None) -> list[StoredTalk]:
        where, params = self._where(filters or TalkFilter())
        rows = self.db.execute(
            # Newest first: the date published, else the day indexed (a recording with no date is new the night it
            # is indexed: sorted last, it would never reach the first page or the talks feed of a large library)
            f"SELECT * FROM talks WHERE {where} ORDER BY coalesce(published, substr(indexed_at, 1, 10)) DESC, title "
            "LIMIT ? OFFSET ?",
            [*params, limit if limit else -1, offset],
        )
        return [_talk_from_row(r) for r in rows]

    def talk_ids(self, filters: TalkFilter) -> set[str]:
        where, params = self._where(filters)
        return {r[0] for r in self.db.execute(f"SELECT id FROM talks WHERE {where}", params)}

    def _where(self, filters: TalkFilter) -> tuple[str, list]:
        """``filters.sql()``, with a speaker also matching the talks whose captions name that speaker (a WebVTT
        voice: ``caption_speakers``), not only those whose details list them: a panel's captions often name who
        speaks where its page names nobody. A talk matches whole, as it does by its details."""
        if not filters.speakers:
            return filters.sql()
        others, params = replace(filters, speakers=()).sql()
        listed, listed_params = TalkFilter(speakers=filters.speakers).sql()
        asked = {fold(name) for name in filters.speakers}
        voiced = sorted({talk for name, talk in self.caption_speakers() if fold(name) in asked})
        return (f"{others} AND ({listed} OR talks.id IN (SELECT value FROM json_each(?)))",
                [*params, *listed_params, json.dumps(voiced)])

    def caption_speakers(self) -> list[tuple[str, str]]:
        """Every speaker the talks' captions name for a sentence, with the talk: (name as spelt, talk id), once
        each. Read once per change of the catalog (as ``talk_names``): a filter by speaker asks for them with every
        query, and finding them reads every sentence."""
        if self.format < 4:  # an older catalog records no speakers (Library.segments)
            return []
        key = (self._data_version(), self.db.total_changes)
        if self._voices is None or self._voices[0] != key:
            rows = self.db.execute("SELECT DISTINCT speaker, talk_id FROM segments WHERE speaker IS NOT NULL")
            self._voices = (key, [(r[0], r[1]) for r in rows if isinstance(r[0], str) and r[0].strip()])
        return self._voices[1]

    def speakers_at(self, hits: Iterable[PassageHit]) -> dict[int, str]:
        """Per passage, the speaker its captions name for its first sentence; a passage whose first sentence names
        none (a whisper transcript names nobody) is left out."""
        voiced = {talk for _, talk in self.caption_speakers()}
        found: dict[int, str] = {}
        for hit in hits:
            if hit.talk_id not in voiced:
                continue
            # the sentence the passage starts with: a passage starts at its first sentence's start (indexer.passages)
            row = self.db.execute("SELECT speaker FROM segments WHERE talk_id = ? AND start_time <= ? "
                                  "ORDER BY start_time DESC LIMIT 1", (hit.talk_id, hit.start + 0.001)).fetchone()
            if row is not None and row[0]:
                found[hit.passage_id] = row[0]
        return found

    def search_scope(self, talks: Collection[str]) -> SearchScope | None:
        """What a search limited to ``talks`` searches within, or None when they are a large part of the
        library (over ``SCOPE_MAX_SHARE`` of its talks): then the retrievers search the whole library for a few
        times more candidates, and the others are dropped, which costs less than restricting every retriever to
        most of the library."""
        talks = tuple(sorted(talks))
        if len(talks) > SCOPE_MAX_SHARE * self.count_talks():
            return None
        key = (self._data_version(), talks)  # a widget's or a page's filter comes back with every query
        if key not in self._scopes:
            rows = self.db.execute("SELECT group_concat(id) FROM (SELECT id FROM passages WHERE talk_id IN "
                                   "(SELECT value FROM json_each(?)) ORDER BY id)", (json.dumps(talks),))
            ids = rows.fetchone()[0]  # one string: 300,000 ids as rows took 160 ms, this 30
            self._scopes[key] = SearchScope(talks, np.array(ids.split(",") if ids else [], dtype=np.int64))
            while len(self._scopes) > 8:
                self._scopes.pop(next(iter(self._scopes)))
        return self._scopes[key]

    def talks_by_id(self, ids: Iterable[str]) -> dict[str, StoredTalk]:
        ids = list(set(ids))
        if not ids:
            return {}
        rows = self.db.execute(f"SELECT * FROM talks WHERE id IN ({','.join('?' * len(ids))})", ids)
        return {r["id"]: _talk_from_row(r) for r in rows}

    def last_change(self) -> str | None:
        """When a talk was last indexed, had its details changed or was removed (``record_time``); None for a library
        that never held one."""
        times = []
        for query in ("SELECT max(indexed_at) FROM talks", "SELECT max(details_changed_at) FROM talks",
                      "SELECT max(removed_at) FROM removed_talks"):
            try:
                times.append(self.db.execute(query).fetchone()[0])
            except sqlite3.OperationalError:  # a column or table an older catalog, read without upgrading, lacks
                pass
        return max(filter(None, times), default=None)

    def count_talks(self, filters: TalkFilter | None = None) -> int:
        where, params = self._where(filters or TalkFilter())
        return self.db.execute(f"SELECT count(*) FROM talks WHERE {where}", params).fetchone()[0]

    def talk_names(self) -> list[tuple[str, list[str], str]]:
        """Every talk's id, speakers and event: what a query may name a talk by (ranking reads them for every
        query, so they are kept until the catalog changes: another connection's commit or one of this one's)."""
        key = (self._data_version(), self.db.total_changes)
        if self._talk_names is None or self._talk_names[0] != key:
            rows = self.db.execute("SELECT id, speakers, event FROM talks")
            self._talk_names = (key, [(r[0], json.loads(r[1] or "[]"), r[2] or "") for r in rows])
        return self._talk_names[1]

    def talks_not_in_english(self) -> frozenset[str]:
        """The talks in another language than English (one not known counts as English, as for the trigram
        index), kept until the catalog changes: ranking reads them for every query."""
        key = (self._data_version(), self.db.total_changes)
        if self._not_english is None or self._not_english[0] != key:
            rows = self.db.execute("SELECT id FROM talks WHERE coalesce(language, 'en') != 'en'")
            self._not_english = (key, frozenset(r[0] for r in rows))
        return self._not_english[1]

    def facets(self) -> dict[str, list[str]]:
        """The channels, events, speakers and languages, for filter menus: in the order a reader looks for them,
        accents and case aside (SQLite's NOCASE put "Émile" and "Łukasz" after "Zoë"). A name is listed once, as
        most of its talks spell it (a tie: the spelling that reads first), since its filter matches every spelling
        (``TalkFilter``): "Jose Garcia", "jose garcia" and "José García" were three options that filtered alike."""
        def distinct(sql: str, more: Iterable[tuple[str, int]] = ()) -> list[str]:
            spellings: dict[str, tuple[int, str]] = {}  # folded name: (-talks, spelling), the least is listed
            for value, talks in [*self.db.execute(sql), *more]:
                if value and isinstance(value, str):
                    key = fold(value)
                    spellings[key] = min(spellings.get(key, (0, value)), (-talks, value))
            return [value for _, value in sorted((key, value) for key, (_, value) in spellings.items())]

        return {
            "channels": distinct("SELECT channel, count(*) FROM talks GROUP BY channel"),
            "events": distinct("SELECT event, count(*) FROM talks GROUP BY event"),
            # the talks' listed speakers, and those their captions name (which the speaker filter finds too)
            "speakers": distinct("SELECT value, count(DISTINCT talks.id) FROM talks, json_each(talks.speakers) "
                                 "GROUP BY value", Counter(name for name, _ in self.caption_speakers()).items()),
            "languages": distinct("SELECT language, count(*) FROM talks GROUP BY language"),
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
            f"SELECT id, talk_id, kind, start_time, end_time, text, {self._translation} FROM passages WHERE talk_id = ? "
            "ORDER BY (start_time <= ? AND ? < end_time) DESC, "
            "CASE WHEN start_time <= ? AND ? < end_time THEN -start_time "
            "ELSE min(abs(start_time - ?), abs(end_time - ?)) END, kind = 'sentence' LIMIT 1",
            (talk_id_, seconds, seconds, seconds, seconds, seconds, seconds),
        ).fetchone()
        return PassageHit(*row) if row else None

    def speech_spans(self, talk_ids: Collection[str]) -> dict[str, tuple[float, float]]:
        """Per talk, where its first passage starts and its last ends: the stretch that holds speech (a recording
        may open with music or silence)."""
        ids = list(talk_ids)
        if not ids:
            return {}
        rows = self.db.execute(
            f"SELECT talk_id, min(start_time), max(end_time) FROM passages WHERE talk_id IN ({','.join('?' * len(ids))}) "
            "GROUP BY talk_id", ids)
        return {talk: (first, last) for talk, first, last in rows}

    def embedding(self, passage_id: int) -> np.ndarray | None:
        row = self.db.execute("SELECT embedding FROM passages WHERE id = ?", (passage_id,)).fetchone()
        return np.frombuffer(row[0], dtype=np.float32) if row else None

    def count_passages(self) -> int:
        return self.db.execute("SELECT count(*) FROM passages").fetchone()[0]

    def translates(self) -> bool:
        """Whether a talk of the library has its English beside it (indexed with --translate)."""
        return self.format >= 5 and self.db.execute(
            "SELECT 1 FROM segments WHERE translation IS NOT NULL LIMIT 1").fetchone() is not None

    @property
    def _translation(self) -> str:
        """The translation column, as a reader of an older catalog (none recorded) selects it."""
        return "translation" if self.format >= 5 else "NULL"

    def segments(self, talk_id_: str) -> list[Segment]:
        speaker = "speaker" if self.format >= 4 else "NULL"  # a reader of an older catalog: no speakers recorded
        rows = self.db.execute(
            f"SELECT start_time, end_time, text, words, {speaker}, {self._translation} FROM segments "
            "WHERE talk_id = ? ORDER BY idx", (talk_id_,)
        )
        return [Segment(r[0], r[1], r[2], [Word(*w) for w in json.loads(r[3])], r[4], r[5]) for r in rows]

    def archive_urls(self) -> dict[str, str]:
        """Every talk's archive key, with the URL it was fetched from (what a remote fetcher needs to skip
        known talks: ``indexer.sources.Sources``)."""
        return {r[0]: r[1] or r[2] for r in self.db.execute("SELECT archive_id, media_url, url FROM talks")}

    # --- the keyword index (talksearch.library.keyword_index) ------------------------------------

    def keyword_search(self, text: str, k: int, selective: bool = True, scope: SearchScope | None = None) -> list[int]:
        """The ``k`` passages best matching the query's words (BM25), as ids, best first (of the ``scope``'s)."""
        return self.keywords.search(text, k, selective, scope)

    def holding_phrases(self, ids: Iterable[int], text: str) -> set[int] | None:
        """Of ``ids``, the passages holding every "quoted phrase" of the query; None when it has none."""
        return self.keywords.holding_phrases(list(ids), text)

    def trigram_search(self, text: str, k: int, scope: SearchScope | None = None) -> list[int]:
        """The ``k`` passages of talks not in English sharing most character trigrams with the query's words."""
        return self.keywords.trigram_search(text, k, scope)

    def contains_word(self, word: str) -> bool:
        return self.keywords.contains(word)

    def slips(self, word: str) -> list[str]:
        return self.keywords.slips(word)

    def spelling(self, word: str, talks: Collection[str] | None = None, english: bool = False) -> str:
        return self.keywords.spelling(word, talks, english)

    def written_as_one(self, pieces: Sequence[str], talks: Collection[str] | None = None) -> bool:
        return self.keywords.written_as_one(pieces, talks)

    def talks_saying(self, word: str) -> set[str]:
        return self.keywords.talks_saying(word)

    def selective_terms(self, terms: Sequence[str], budget: int | None = None) -> list[str]:
        return self.keywords.selective_terms(terms, *([budget] if budget is not None else []))

    def snippets(self, texts: Iterable[tuple[int, str]], query: str, mark: tuple[str, str],
                 tokens: int = 64) -> dict[int, str]:
        """Per (passage id, text) whose text holds any of the query's words, its FTS5 snippet with them between
        ``mark``'s strings. The text is the passage's own, or its English translation."""
        return self.keywords.snippets(texts, query, mark, tokens)

    # --- what `talksearch check` asks (talksearch.check) -----------------------------------------

    def integrity(self, table: str | None = None) -> str:
        """SQLite's integrity check of the catalog (or of one ``table``): ``ok``, or the first problem. A page
        damaged past reading raises in SQLite; that is a problem to report too."""
        try:
            return self.db.execute(f"PRAGMA integrity_check({table})" if table else "PRAGMA integrity_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            return str(exc)

    def records_intact(self) -> bool:
        """Whether the tables that hold the library itself (talks, sentences, passages, meta) pass SQLite's
        integrity check; everything else in the catalog is made from them."""
        present = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return all(self.integrity(table) == "ok" for table in RECORD_TABLES if table in present)

    def rebuild_catalog(self) -> Path:
        """Writer: copy the library's records into a new catalog, whose triggers make the keyword and trigram
        indexes from the passages as they go in (the sound-alike vocabulary is made by the next writer), and write
        it over this one. For damage in those derived tables, which SQLite can neither repair nor drop. A copy of
        the damaged catalog is kept beside it (returned). SQLite's backup writes the new pages through this
        connection, within a transaction: a reader that has the catalog open (a running service) goes on to see
        the rebuilt one, never a file swapped under it. LibraryError when the records themselves cannot be read;
        nothing is changed then."""
        if not self._writer:
            raise LibraryError("rebuild_catalog needs the writer lock (acquire_writer)")
        catalog = self.path / CATALOG
        rebuilt, kept = self.path / f"{CATALOG}.rebuilt", self.path / f"{CATALOG}.damaged"
        rebuilt.unlink(missing_ok=True)
        target = sqlite3.connect(rebuilt, isolation_level=None)
        try:
            target.executescript(SCHEMA)
            target.execute("ATTACH DATABASE ? AS damaged", (str(catalog),))
            with target:
                target.execute("BEGIN")
                for table in RECORD_TABLES:  # by column name: a migrated catalog has its columns in another order
                    names = ", ".join(r[1] for r in target.execute(f"PRAGMA damaged.table_info({table})"))
                    target.execute(f"INSERT INTO main.{table} ({names}) SELECT {names} FROM damaged.{table}")
                target.execute("DELETE FROM main.meta WHERE key = 'sound_vocabulary'")
            target.execute("DETACH DATABASE damaged")
            if target.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("the copy fails its integrity check")
            with sqlite3.connect(kept) as copy:  # page by page, damaged pages too: nothing is lost
                self.db.backup(copy)
            target.backup(self.db)
        except sqlite3.DatabaseError as exc:
            raise LibraryError(f"library catalog {catalog}: its talks, sentences or passages cannot be read ({exc}); "
                               "restore it from a backup") from exc
        finally:
            target.close()
            rebuilt.unlink(missing_ok=True)
        self._forget_vocabulary()
        return kept

    def keyword_index_agrees(self) -> bool:
        return self.keywords.verify()

    def rebuild_keyword_index(self) -> None:
        self.keywords.rebuild()

    def trigram_indexes_disagreeing(self) -> list[str]:
        return self.keywords.trigram_indexes_disagreeing(t for t in TRIGRAM_INDEX_FORMATS if t not in
                                                         self.trigram_indexes_not_made_yet())

    def trigram_indexes_not_made_yet(self) -> list[str]:
        """The trigram indexes an older catalog, read without upgrading (read-only media), does not have yet."""
        return [table for table, since in TRIGRAM_INDEX_FORMATS.items() if self.format < since]

    def rebuild_trigram_index(self, table: str) -> None:
        with self.db:  # one transaction: a reader never sees it half filled
            self.db.execute("BEGIN IMMEDIATE")
            self.keywords.rebuild_trigrams(table)

    def passage_ids(self) -> np.ndarray:
        return self._catalog_ids()

    def talks_per_transcript_source(self) -> dict[str, int]:
        column = "transcript_source" if self.format >= 4 else "'whisper ' || whisper_model"
        return dict(self.db.execute(f"SELECT {column}, count(*) FROM talks GROUP BY 1").fetchall())

    def count_talks_without_transcript_source(self) -> int:
        """Talks whisper transcribed (a whisper model recorded) whose transcript source is empty: copied by an earlier
        reembed from a library read before format 4, or written by an earlier release's indexer into an upgraded
        catalog. None before format 4, where it is derived (``_talk_from_row``)."""
        if self.format < 4:
            return 0
        return self.db.execute("SELECT count(*) FROM talks WHERE transcript_source = '' AND whisper_model != ''"
                               ).fetchone()[0]

    def name_whisper_transcript_sources(self) -> int:
        """Writer: give ``count_talks_without_transcript_source``'s talks their source ('whisper <model>', as
        migrations 4 and 8 do); how many."""
        if self._lock_handle is None:
            raise LibraryError("name_whisper_transcript_sources needs the writer lock (acquire_writer)")
        with self.db:
            return self.db.execute("UPDATE talks SET transcript_source = 'whisper ' || whisper_model "
                                   "WHERE transcript_source = '' AND whisper_model != ''").rowcount

    def other_embedding_models(self) -> list[str]:
        """Embedding models talks were indexed with, other than the library's."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT embed_model FROM talks WHERE embed_model != ?",
                                              (self.embed_model or "",))]

    def count_misfit_embeddings(self) -> int:
        """Passages whose embedding is not of the library's dimension."""
        return self.db.execute("SELECT count(*) FROM passages WHERE length(embedding) != ?",
                               (self._dimension() * 4,)).fetchone()[0]

    def sentences_without_token_vectors(self, limit: int | None = None) -> list[tuple[int, str]]:
        """Sentence passages stored without their words' vectors (before format 6), as (id, the text the indexer
        embeds), in id order."""
        if self.format < 6:
            return []
        rows = self.db.execute("SELECT id, text, translation FROM passages WHERE kind = 'sentence' "
                               "AND token_vectors IS NULL ORDER BY id LIMIT ?", (-1 if limit is None else limit,))
        return [(pid, with_translation(text, translation)) for pid, text, translation in rows]

    def count_sentences_without_token_vectors(self) -> int:
        if self.format < 6:  # read without upgrading: none has them (the writer upgrades before computing them)
            return self.db.execute("SELECT count(*) FROM passages WHERE kind = 'sentence'").fetchone()[0]
        return self.db.execute("SELECT count(*) FROM passages WHERE kind = 'sentence' AND token_vectors IS NULL"
                               ).fetchone()[0]

    def store_token_vectors(self, vectors: dict[int, np.ndarray]) -> None:
        """Give sentence passages their words' vectors (``token_codes``), in one transaction."""
        if self._lock_handle is None:
            raise LibraryError("store_token_vectors needs the writer lock (acquire_writer)")
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("UPDATE passages SET token_vectors = ? WHERE id = ? AND kind = 'sentence'",
                                [(token_codes.pack(v), pid) for pid, v in vectors.items()])

    def count_talks_without_passages(self) -> int:
        return self.db.execute("SELECT count(*) FROM talks WHERE id NOT IN (SELECT talk_id FROM passages)").fetchone()[0]

    def count_talks_without_transcript(self) -> int:
        """Talks with passages but no sentences: their transcript (pages, exports) is gone."""
        return self.db.execute("SELECT count(*) FROM talks WHERE id IN (SELECT talk_id FROM passages) "
                               "AND id NOT IN (SELECT talk_id FROM segments)").fetchone()[0]

    def count_orphan_passages(self) -> int:
        """Passages whose talk the catalog no longer has (never written so: a catalog edited by hand)."""
        return self.db.execute("SELECT count(*) FROM passages WHERE talk_id NOT IN (SELECT id FROM talks)").fetchone()[0]

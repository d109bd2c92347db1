"""The catalog's format: the current schema, and the numbered migrations that bring an older catalog to it.

A catalog records its format in ``meta.format_version``. The writer, once it holds the library's lock
(``Library.acquire_writer``: an index run, ``check --repair``, a removal), upgrades an older catalog in one
transaction, running every migration above its version in order, and says so once; a newer catalog than this
code knows is refused in one line, before anything is written. Every other connection, read-only or not (a
search, a listing, a check, the service's readers), reads an older catalog as it is, never upgrading it: an
earlier release's indexer may still be writing it, and would write its rows into a catalog of a format it does
not know. Readers read any format from ``OLDEST_READABLE`` on, since each migration so far adds or drops data
that they do without (derived data, or a column they read as absent).

A format change is a new entry in ``MIGRATIONS`` (statements that work on any catalog of the previous
format, however it was reached), the same change in ``SCHEMA`` (what a new catalog is made with), and
``FORMAT_VERSION`` raised to the new entry's number. Nothing else in talksearch changes the schema.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from talksearch.library.records import LibraryError

# Characters of scripts written without spaces between words: Hiragana, Katakana, CJK ideographs, Thai, Lao,
# Myanmar, Khmer (a SQLite GLOB; keyword_index.UNSPACED is the same set as a regular expression).
UNSPACED_RANGES = "぀-ヿ㐀-䶿一-鿿฀-๿຀-໿က-႟ក-៿"
UNSPACED_GLOB = f"*[{UNSPACED_RANGES}]*"
# What each trigram index holds (the triggers in SCHEMA keep them so): the passages written without spaces between
# words, and the passages of talks in other languages than English. Migrations fill them from these; so does
# ``talksearch check --repair`` (KeywordIndex.rebuild_trigrams).
TRIGRAM_INDEXES = {
    "passages_unspaced": f"SELECT id, text FROM passages WHERE text GLOB '{UNSPACED_GLOB}'",
    "passages_trigrams": "SELECT p.id, p.text FROM passages p JOIN talks t ON t.id = p.talk_id "
                         "WHERE coalesce(t.language, 'en') != 'en'",
}
# The format each trigram index came with (MIGRATIONS 5 and 7): a catalog read without upgrading has only these.
TRIGRAM_INDEX_FORMATS = {"passages_unspaced": 5, "passages_trigrams": 7}


def filling(table: str) -> list[str]:
    """The statements that make a trigram index hold exactly its passages (``TRIGRAM_INDEXES``)."""
    return [f"DELETE FROM {table}", f"INSERT INTO {table}(rowid, text) {TRIGRAM_INDEXES[table]}"]


FORMAT_VERSION = 11
OLDEST_READABLE = 1

# The current format, as a new catalog is made (every statement may also run on a current catalog: it
# restores an index or trigger that went missing).
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
    indexed_at TEXT NOT NULL,
    transcript_source TEXT NOT NULL DEFAULT '',  -- 'uploaded captions', 'automatic captions' or 'whisper <model>'
    details_changed_at TEXT               -- when its details (TALK_DETAILS) last changed; NULL: never since indexed
);
CREATE TABLE IF NOT EXISTS segments (
    talk_id TEXT NOT NULL REFERENCES talks(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    start_time REAL NOT NULL,
    end_time REAL NOT NULL,
    text TEXT NOT NULL,
    words TEXT NOT NULL,                  -- JSON list of [start, end, word, probability]
    speaker TEXT,                         -- the sentence's speaker, when captions name one
    translation TEXT,                     -- the sentence in English (--translate), for a talk in another language
    PRIMARY KEY (talk_id, idx)
);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY,               -- also the FAISS id
    talk_id TEXT NOT NULL REFERENCES talks(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,                   -- 'window' (a few sentences) or 'sentence'
    start_time REAL NOT NULL,
    end_time REAL NOT NULL,
    text TEXT NOT NULL,
    embedding BLOB NOT NULL,              -- float32, normalised
    translation TEXT,                     -- its sentences in English (--translate); embedded after text
    token_vectors BLOB                    -- a sentence's word vectors, int8 (token_codes); NULL for windows
);
CREATE INDEX IF NOT EXISTS passages_talk ON passages(talk_id);
-- A talk's passages by time, covering what passages_within filters on, so that finding the few passages of a
-- moment reads a few index entries rather than every passage row (embedding and all) of the talk.
CREATE INDEX IF NOT EXISTS passages_talk_time ON passages(talk_id, start_time, end_time, kind);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(text, translation, content='passages', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2');  -- keyword_index.FTS_TOKENIZE
CREATE TRIGGER IF NOT EXISTS passages_fts_insert AFTER INSERT ON passages BEGIN
    INSERT INTO passages_fts(rowid, text, translation) VALUES (new.id, new.text, new.translation);
END;
CREATE TRIGGER IF NOT EXISTS passages_fts_delete AFTER DELETE ON passages BEGIN
    INSERT INTO passages_fts(passages_fts, rowid, text, translation) VALUES ('delete', old.id, old.text, old.translation);
END;
-- Passages in scripts written without spaces between words (Chinese, Japanese, Thai...: keyword_index.UNSPACED),
-- indexed by trigrams, since the word tokenizer takes a whole run of such characters for one word. A copy of
-- those passages' text only: a library of spaced scripts pays nothing.
CREATE VIRTUAL TABLE IF NOT EXISTS passages_unspaced USING fts5(text, tokenize='trigram');
CREATE TRIGGER IF NOT EXISTS passages_unspaced_insert AFTER INSERT ON passages
    WHEN new.text GLOB '""" + UNSPACED_GLOB + """' BEGIN
    INSERT INTO passages_unspaced(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS passages_unspaced_delete AFTER DELETE ON passages BEGIN
    DELETE FROM passages_unspaced WHERE rowid = old.id;
END;
-- Passages of talks in other languages than English, by character trigrams (keyword_index.trigram_search): the word
-- index stems English words only, and whisper misspells a third of the words of many such talks, so their words
-- are also found by the pieces they share ("Skontaners" for "Containers", "asignadas" for "asigna").
CREATE VIRTUAL TABLE IF NOT EXISTS passages_trigrams USING fts5(text, tokenize='trigram');
CREATE TRIGGER IF NOT EXISTS passages_trigrams_insert AFTER INSERT ON passages
    WHEN (SELECT coalesce(language, 'en') FROM talks WHERE id = new.talk_id) != 'en' BEGIN
    INSERT INTO passages_trigrams(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS passages_trigrams_delete AFTER DELETE ON passages BEGIN
    DELETE FROM passages_trigrams WHERE rowid = old.id;
END;
-- Every word the transcripts contain, as written, with its pronunciation (talksearch.pronunciation): the
-- sound-alike retriever looks a query word no transcript contains up here, then searches the passages holding
-- the words that sound like it. Derived data, filled in by a writer (talksearch.library.vocabulary). A deleted
-- talk's words go with it, but for those a passage of another talk in its language holds (Library.delete_talk).
CREATE TABLE IF NOT EXISTS sound_vocabulary (
    language TEXT NOT NULL,               -- the talks' language (vocabulary.language_key): its pronunciation rules
    word TEXT NOT NULL,
    phonemes TEXT NOT NULL,
    PRIMARY KEY (language, word)
) WITHOUT ROWID;
-- The talks removed from the library (DELETE /api/talks), by archive key and nothing of what they said: a re-run of
-- their source skips them rather than adding them back; indexing one again with --reindex adds it and drops its row.
CREATE TABLE IF NOT EXISTS removed_talks (
    archive_id TEXT PRIMARY KEY,          -- as talks.archive_id
    talk_id TEXT NOT NULL,
    removed_at TEXT NOT NULL,             -- when (records.record_time)
    url TEXT                              -- where it was fetched from, as Library.archive_urls gives it (format 11)
) WITHOUT ROWID;
"""

MIGRATIONS: dict[int, list[str]] = {
    # 2: the transcripts' vocabulary with its pronunciation, for sound-alike retrieval (filled once upgraded: Library).
    2: ["CREATE TABLE IF NOT EXISTS sound_vocabulary (word TEXT PRIMARY KEY, phonemes TEXT NOT NULL) WITHOUT ROWID"],
    # 3: the spelling-based sound keys that came before the vocabulary go (an FTS5 table; its trigger goes with it).
    3: ["DROP TRIGGER IF EXISTS passages_sound_delete", "DROP TABLE IF EXISTS passages_sound"],
    # 4: where each transcript came from (captions or whisper; every earlier talk was whisper's), and the speaker
    # captions name for a sentence. Readers of an older catalog do without both (Library.segments).
    4: ["ALTER TABLE talks ADD COLUMN transcript_source TEXT NOT NULL DEFAULT ''",
        "UPDATE talks SET transcript_source = 'whisper ' || whisper_model WHERE transcript_source = ''",
        "ALTER TABLE segments ADD COLUMN speaker TEXT"],
    # 5: keywords and sounds in any language. The word index folds accents ("uber" finds "über"; porter stemming stays for
    # English, whose results it was tuned on, and leaves other languages' words mostly whole), so it is made
    # again; text without spaces between words gets a trigram index (passages_unspaced, made by SCHEMA, filled
    # here from the passages already stored).
    # Sentences and passages get their English (--translate), which the word index holds beside the original.
    5: ["ALTER TABLE segments ADD COLUMN translation TEXT",
        "ALTER TABLE passages ADD COLUMN translation TEXT",
        "DROP TRIGGER IF EXISTS passages_fts_insert",
        "DROP TRIGGER IF EXISTS passages_fts_delete",
        "DROP TABLE IF EXISTS passages_fts",
        "CREATE VIRTUAL TABLE passages_fts USING fts5(text, translation, content='passages', content_rowid='id', "
        "tokenize='porter unicode61 remove_diacritics 2')",
        "CREATE TRIGGER passages_fts_insert AFTER INSERT ON passages BEGIN "
        "INSERT INTO passages_fts(rowid, text, translation) VALUES (new.id, new.text, new.translation); END",
        "CREATE TRIGGER passages_fts_delete AFTER DELETE ON passages BEGIN "
        "INSERT INTO passages_fts(passages_fts, rowid, text, translation) "
        "VALUES ('delete', old.id, old.text, old.translation); END",
        "INSERT INTO passages_fts(passages_fts) VALUES ('rebuild')",
        *filling("passages_unspaced"),
        # and the vocabulary is kept per language, each pronounced by its own rules (remade once upgraded: Library)
        "DROP TABLE IF EXISTS sound_vocabulary",
        "CREATE TABLE sound_vocabulary (language TEXT NOT NULL, word TEXT NOT NULL, phonemes TEXT NOT NULL, "
        "PRIMARY KEY (language, word)) WITHOUT ROWID",
        "DELETE FROM meta WHERE key = 'sound_vocabulary'"],
    # 6: each sentence passage's word vectors, for rescoring the best candidates word by word. Passages stored
    # before have none (NULL): their talks rank as before until they are indexed again (--reindex).
    6: ["ALTER TABLE passages ADD COLUMN token_vectors BLOB"],
    # 7: the trigram index of talks in other languages than English (passages_trigrams, made by SCHEMA), filled
    # here from the passages already stored.
    7: filling("passages_trigrams"),
    # 8: the transcript source of talks indexed by a format-4 indexer that did not record it yet (whisper's: a
    # captioned talk always has its source, and no whisper model).
    8: ["UPDATE talks SET transcript_source = 'whisper ' || whisper_model "
        "WHERE transcript_source = '' AND whisper_model != ''"],
    # 9: when a talk's details last changed (a re-run restating them, reembed bringing them over), which the feeds'
    # <updated> follows. Talks stored before have none (NULL: unchanged since indexed, as far as is known); readers
    # of an older catalog read it as absent (catalog._talk_from_row).
    9: ["ALTER TABLE talks ADD COLUMN details_changed_at TEXT"],
    # 10: the talks removed from the library (removed_talks), which indexing skips until --reindex adds one back. A
    # talk deleted before has no row: a re-run of its source adds it again, as it did. Readers of an older catalog
    # find none removed (Library.removed_on).
    10: ["CREATE TABLE IF NOT EXISTS removed_talks (archive_id TEXT PRIMARY KEY, talk_id TEXT NOT NULL, "
         "removed_at TEXT NOT NULL) WITHOUT ROWID"],
    # 11: where a removed talk was fetched from: a feed item or media URL an earlier release keyed otherwise than this
    # one would ("generic s01", now "generic s01-<digest>") is known by its address (indexer.sources), as while it
    # was in the library; without it, a re-run keyed it anew and added it back. Removals recorded before have none.
    11: ["ALTER TABLE removed_talks ADD COLUMN url TEXT"],
}
assert sorted(MIGRATIONS) == list(range(2, FORMAT_VERSION + 1)), "one migration per format, numbered in order"


def recorded_format(db: sqlite3.Connection) -> int | None:
    """The catalog's format, or None for a catalog not made yet (no meta table, or no version in it)."""
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()
    except sqlite3.OperationalError as exc:
        # Only a missing table means "not made yet": a catalog SQLite cannot open or read (a read-only copy
        # without its -shm file, a locked or damaged one) is the caller's to explain, not a format 0.
        if "no such table" in str(exc):
            return None
        raise
    if not row:
        return None
    try:
        return int(row[0])
    except ValueError:  # only talksearch writes it: a hand edit or damage
        raise LibraryError(f"the library catalog's format_version is {row[0]!r}, not a number (edited or damaged; "
                           "restore it from a backup or index into a new library)") from None


def _migrate(db: sqlite3.Connection, statement: str) -> None:
    try:
        db.execute(statement)
    except sqlite3.OperationalError as exc:
        # ADD COLUMN has no IF NOT EXISTS: a column already there (a catalog whose recorded format is behind its
        # schema) is what the statement was for.
        if not (statement.startswith("ALTER TABLE") and "duplicate column name" in str(exc)):
            raise


def open_format(db: sqlite3.Connection, path: Path, writable: bool, upgrade: bool = False) -> int:
    """Check the catalog's format, make a new catalog (``writable``), or upgrade an older one (``upgrade``: only the
    writer, holding the library's lock); return the format it now has. Without ``upgrade`` an older catalog is
    read as it is, and nothing is written to it."""
    found = recorded_format(db)
    if found is not None and found > FORMAT_VERSION:
        raise LibraryError(f"library {path} has format {found}, newer than this talksearch reads "
                           f"({FORMAT_VERSION}); upgrade talksearch to use it")
    if not writable or (found is not None and found < FORMAT_VERSION and not upgrade):
        if found is None:  # its making cut short: a new catalog's format is recorded last, once its schema is made
            raise LibraryError(f"library {path} was never finished: its catalog has no format recorded (the run that "
                               "made it stopped, the disk full?); index into it again, or remove it")
        if found < OLDEST_READABLE:
            raise LibraryError(f"library {path} has format {found}; this talksearch reads "
                               f"{OLDEST_READABLE} to {FORMAT_VERSION}")
        return found
    db.executescript(SCHEMA)
    if found == FORMAT_VERSION:
        return found  # current: nothing to write (a commit would tell every reader the library changed)
    with db:
        db.execute("BEGIN IMMEDIATE")
        found = recorded_format(db)  # again, inside the transaction: another process may have upgraded it
        if found == FORMAT_VERSION:
            return found
        for version in range((found or FORMAT_VERSION) + 1, FORMAT_VERSION + 1):
            for statement in MIGRATIONS[version]:
                _migrate(db, statement)
        db.execute("INSERT INTO meta(key, value) VALUES ('format_version', ?) "
                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(FORMAT_VERSION),))
    return FORMAT_VERSION

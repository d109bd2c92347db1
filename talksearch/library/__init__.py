"""The on-disk library: the one package that owns its format. The indexer writes it, the search reads it.

A library is a directory (``layout``):

    catalog.sqlite   talks, transcript segments (with words), passages (with their embeddings), FTS5 index,
                     the transcripts' vocabulary with its pronunciation
    vectors.faiss    FAISS index over passage embeddings; its ids are passage ids (type: talksearch.vector_index)
    indexer.lock     held (flock) by the one process writing
    downloads/       audio being fetched (resumable); removed after a talk is committed (the first releases
                     kept --keep-media recordings here: the writer that upgrades moves them to media/)
    media/           audio kept after indexing (``keep_media``), named after its talk (``kept_media_name``):
                     removed with its talk

The catalog is the source of truth: a talk, its segments, passages and embeddings are committed in one
SQLite transaction, so a talk is there whole or not at all. ``vectors.faiss`` is derived from it: exact
for small libraries, a trained IVF index for large ones (``talksearch.vector_index`` says which, when it
is retrained, and how readers search a file that lags the catalog). Whoever opens a library brings its
view of the index in line with the catalog (missing ids added, stale ids removed), so a crash between the
two writes loses nothing. Passage ids are never reused, even after a talk is deleted.

Every SQL statement and FTS5 expression talksearch runs is in this package: ``migrations`` (the schema and
its numbered upgrades), ``catalog`` (``Library``: talks, sentences, passages, the writer), ``vector_sync``,
``keyword_index`` and ``vocabulary``. Callers use ``Library``'s typed methods and the ``records``.
"""

from talksearch.library.catalog import Library
from talksearch.library.keyword_index import fts_query
from talksearch.library.layout import CATALOG, DOWNLOADS, LOCK, MEDIA, VECTORS, MissingParts, missing_parts
from talksearch.library.migrations import FORMAT_VERSION
from talksearch.library.records import (TALK_DETAILS, LibraryError, LibraryLocked, Passage, PassageHit, SearchScope,
                                        Segment, StoredTalk, Talk, TalkFilter, Word, archive_id, chapter_at,
                                        chapter_index, length_measured, record_time, talk_id, with_translation,
                                        without_credentials)

__all__ = ["CATALOG", "DOWNLOADS", "FORMAT_VERSION", "LOCK", "MEDIA", "VECTORS", "Library", "LibraryError", "LibraryLocked",
           "MissingParts", "Passage", "PassageHit", "SearchScope", "Segment", "StoredTalk", "TALK_DETAILS", "Talk", "TalkFilter",
           "Word", "archive_id", "chapter_at", "chapter_index", "fts_query", "missing_parts", "record_time", "talk_id", "with_translation",
           "without_credentials"]

"""Search over a library, as the HTTP API and ``talksearch search`` answer it (same code, same answer)."""

from __future__ import annotations

import dataclasses
import functools
import os
import queue
import re
import sqlite3
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import numpy as np

from talksearch import pronunciation
from talksearch.embedding import Embedder, service_replicas
from talksearch.library import Library, LibraryError, PassageHit, Talk, TalkFilter, chapter_at, token_codes
from talksearch.library.keyword_index import quoted_phrases
from talksearch.library.layout import CATALOG
from talksearch.media_types import media_type, recording_path
from talksearch.models import ModelError
from talksearch.schemas import (SEARCH_OFFSET_MAX, Moment, RelatedResponse, SameMoment, SearchResponse, SearchResult,
                                TalkSummary)
from talksearch.search.ranking import Ranked, RankingOptions, mended_query, named_talks, rank, talks_in_reach
from talksearch.search.repeats import without_repeats
from talksearch.search.snippets import snippets
from talksearch.settings import Settings
from talksearch.text import content_words, search_text, spelled_otherwise, tokens
from talksearch.timecode import url_seconds

Group = Literal["none", "talk"]
# A "quoted phrase" as typed, in a query as search reads it (search_text: any double quotes are ASCII ones)
_TYPED_PHRASE = re.compile(r'"([^"]+)"')


class _UnembeddedWords(Exception):
    """Words a search must embed, found while it reads the library: it lets the reader go, embeds them, and reads
    again (``Searcher.search``)."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


class QueryError(ValueError):
    """The query cannot be searched; the message is meant for the user."""


class NotFound(LookupError):
    """The talk named does not exist; the message is meant for the user."""


def no_such_talks(library: Library, talk_ids: Sequence[str]) -> str | None:
    """The refusal of a search within talks the library lacks (removed since the link was made, or mistyped), naming
    each one; None when it holds them all. Searched, they would answer nothing, which reads as "nobody said it"."""
    known = library.talks_by_id(talk_ids) if talk_ids else {}
    missing = [repr(talk_id) for talk_id in dict.fromkeys(talk_ids) if talk_id not in known]
    if not missing:
        return None
    return f"no {'talk' if len(missing) == 1 else 'talks'} {', '.join(missing)} in this library"


def link_at(talk: Talk, seconds: float, served: bool = False, base: str = "") -> str:
    """A URL that plays the talk's source at ``seconds`` (YouTube's player, or a media fragment).

    A talk indexed from a local file links to that file, which opens only on the machine holding it; ``served``
    (the HTTP service) links it to the service's own copy, ``/media/{id}``, relative like ``page``, while the file
    is there. A source that is neither web nor file (a ``javascript:`` URL in a page's metadata), or a served
    file that is gone, never becomes a link: the talk's page on the service stands in. ``base``: the service's
    path prefix (the ``root_path`` setting), before the service's own paths."""
    t = int(seconds)
    if talk.extractor.lower() == "youtube":
        return f"https://www.youtube.com/watch?v={talk.source_id}&t={t}s"
    source = _source(talk)
    scheme = urlsplit(source).scheme.lower()
    if scheme == "file" and served:
        return served_file_link(talk.id, talk.media_url, seconds, base)
    if scheme not in ("http", "https", "file"):
        return page_at(talk.id, seconds, base)
    return f"{source}#t={t}"


def _source(talk: Talk | TalkSummary) -> str:
    """What ``link_at`` links to, fragment aside: the talk's media, else its page."""
    return (talk.media_url or talk.url).split("#", 1)[0]


def served_file_link(talk_id: str, media_url: str | None, seconds: float, base: str = "") -> str:
    """A local recording's link on the service: /media serves the file only while it is where it was indexed from;
    once moved or deleted, the talk's page stands in."""
    return f"{base}/media/{talk_id}#t={int(seconds)}" if local_file(media_url) else page_at(talk_id, seconds, base)


def recording_type(path: Path) -> str | None:
    """The audio or video media type of a file (media_types: by its name, else by its container, whatever the
    host's mime.types holds); None for anything else, which /media never serves (a file replaced since it was
    indexed, an older library's link to a page or to /etc/passwd)."""
    return media_type(path)


def local_file(url: str | None) -> Path | None:
    """The recording a ``file://`` media URL names (a talk indexed from a local file), while it is there."""
    path = recording_path(url)
    return path if path is not None and path.is_file() and recording_type(path) else None


def page_at(talk_id: str, seconds: float, base: str = "") -> str:
    """This service's talk page, starting at the moment: to the hundredth, so it lands on the sentence's first word."""
    return f"{base}/talks/{talk_id}?t={url_seconds(seconds)}"


def quotes_dropped_note(query: str) -> str:
    """What a response with ``quotes_dropped`` tells its reader, the phrases as typed: the pages and the CLI say it
    (widget.js writes the same line)."""
    phrases = [p.strip() for p in _TYPED_PHRASE.findall(search_text(query)) if any(c.isalnum() for c in p)]
    return f"No moment holds {' and '.join(f'“{p}”' for p in phrases)} word for word; these are the closest."


READ_LENGTH_FACTOR = 4  # a query may read longer than it was sent (Searcher.validate), up to this many times


def corrected_note(corrected: str) -> str:
    """What a response with ``corrected_query`` tells its reader: what was searched instead of the words as typed
    (the pages and the CLI say it; widget.js writes the same line)."""
    return f"Searched for “{corrected}”, as the talks spell it."


def says_a_word(library: Library, text: str, talks: Collection[str] | None = None) -> bool:
    """Whether some passage (of ``talks``, when given) holds one of the query's words as keyword search reads
    them, function words aside unless the query has nothing else ("the" is a word a talk says; in "zebra the",
    it is not what was asked)."""
    words, otherwise = content_words(text), spelled_otherwise(text)  # "1.4" said, not any "1" (one-digit words
    words = words or ([] if otherwise else tokens(text))  # are no content words)
    scope = library.search_scope(talks) if talks is not None else None
    return any(library.keyword_search(searched, 1, selective=False, scope=scope)
               for searched in ([" ".join(words)] if words else []) + [f'"{spelling}"' for spelling in otherwise])


def names_a_talk(library: Library, text: str, talks: Collection[str] | None = None) -> bool:
    """Whether the query names a talk (of ``talks``, when given) by its speaker or event, as ranking reads names
    (``ranking.talk_naming``): such a talk's moments come first."""
    named = named_talks(library, text)
    return bool(named if talks is None else named.intersection(talks))


def words_not_found_note(query: str) -> str:
    """What a response without ``words_found`` tells its reader: the pages and the CLI say it (widget.js writes the
    same line)."""
    words = " ".join(search_text(query).replace('"', " ").split())
    return f"No talk searched says “{words}”: these are the closest in meaning or sound."


def talk_summary(talk: Talk, served: bool = False, base: str = "") -> TalkSummary:
    """``served``: as the HTTP service shows it (``served_summary``); else as the CLI does, local files by their
    paths (``followable_summary``)."""
    summary = TalkSummary(**{k: getattr(talk, k) for k in TalkSummary.model_fields})
    return served_summary(summary, base) if served else followable_summary(summary)


def followable_summary(summary: TalkSummary) -> TalkSummary:
    """``summary`` with only locations a reader may follow: web addresses and local files. A ``javascript:`` or
    ``data:`` URL that a page's metadata named (an .info.json's webpage_url, an og:image) would be a link that
    runs a stranger's script in a page built from ``search --json``: ``url`` falls back to the media, the others
    are left out, as the service leaves them out (``served_summary``)."""
    updates: dict[str, str | None] = {field: None for field in ("media_url", "thumbnail")
                                      if getattr(summary, field) and not _followable(getattr(summary, field))}
    if not _followable(summary.url):
        updates["url"] = updates.get("media_url", summary.media_url) or ""
    return summary.model_copy(update=updates) if updates else summary


def _followable(url: str) -> bool:
    return urlsplit(url).scheme.lower() in ("http", "https", "file", "")


def served_summary(summary: TalkSummary, base: str = "") -> TalkSummary:
    """``summary`` as the HTTP service shows it: every location in it a web address. A talk indexed from a local
    file names the file's path on the server, which opens nowhere else and tells every visitor how the server's
    folders are laid out (a user's home, a project's name): the service gives the talk's page here as its ``url``
    and, while the file is there, its own copy as its ``media_url`` (``/media/{id}`` with the file's suffix, so
    that a player can tell audio from video by the name, as it does for any media URL). A ``javascript:`` or
    ``data:`` URL a page's metadata named is no location a client should follow or show: the page stands in for
    ``url``, and ``media_url`` and ``thumbnail`` are left out. As it stands now, like ``served_file_link``."""
    updates: dict[str, str | None] = {}
    if not on_the_web(summary.url):
        updates["url"] = f"{base}/talks/{summary.id}"
    if summary.media_url and not on_the_web(summary.media_url):
        path = local_file(summary.media_url)
        updates["media_url"] = f"{base}/media/{summary.id}{media_suffix(path)}" if path else None
    if summary.thumbnail and not on_the_web(summary.thumbnail):
        updates["thumbnail"] = None
    return summary.model_copy(update=updates) if updates else summary


def on_the_web(url: str) -> bool:
    return urlsplit(url).scheme.lower() in ("http", "https")


def media_suffix(path: Path) -> str:
    """The recording's suffix for its /media URL (``.mp3``), when it is one a URL can carry as it is: /media
    serves a talk's file by its id whatever follows it."""
    suffix = path.suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""


class ResponseCache:
    """Recent search responses, dropped whenever a reader sees the library change.

    A response computed from a snapshot older than the latest drop is not stored (its ``epoch`` is
    behind), so a cached answer is never older than what a fresh search would see.
    """

    def __init__(self, size: int):
        self.size = size
        self.epoch = 0
        self._entries: OrderedDict[tuple, SearchResponse] = OrderedDict()
        self._lock = threading.Lock()

    def drop_all(self) -> None:
        with self._lock:
            self._entries.clear()
            self.epoch += 1

    def get(self, key: tuple) -> SearchResponse | None:
        with self._lock:
            response = self._entries.get(key)
            if response is not None:
                self._entries.move_to_end(key)
            return response

    def put(self, key: tuple, response: SearchResponse, epoch: int) -> None:
        with self._lock:
            if self.size and epoch == self.epoch:
                self._entries[key] = response
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)


# SQLite's primary result codes for a file that is not (or no longer) a sound catalog: damage, not the request
_DAMAGED = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})


def catalog_identity(library: Path, suffix: str = "") -> tuple[int, int] | None:
    """Which file the catalog at ``library`` is now (device, inode); None while there is none. ``suffix="-wal"``:
    its write-ahead log's."""
    try:
        stat = (library / f"{CATALOG}{suffix}").stat()
    except OSError:  # gone, or the folder is no longer one
        return None
    return stat.st_dev, stat.st_ino


class Searcher:
    """Searches from request threads: each read takes one of ``readers`` library connections (SQLite
    connection + memory-mapped vector index), so requests run in parallel instead of queueing for one.
    The first is ``library``; the others open in the background (seconds for a large library), and join in
    as they are ready, so the service answers from the start.

    A reader reads the file it opened, even once that file is deleted: a library moved, deleted or replaced under
    the service (a backup restored with mv or rsync, ``check --repair``'s new catalog) would go on being served
    from the old files, and commits to the new ones never seen. So each read first compares the catalog at the
    library's path with the one its reader opened, and opens the library again when it is another file (or when
    ``reopen`` asked for it: SIGHUP); while there is no catalog at the path every read fails, saying so.

    Queries are embedded with the model the library records. An empty library records none until its first
    talk is committed, by another process perhaps and with another model than ``embedder``: ``load_embedder``
    (a model by its recorded name) then loads that one when a reader sees the change. A model that does not
    fit the library (``model_error``) fails every read, with a message for the operator."""

    def __init__(self, library: Library, embedder: Embedder, options: RankingOptions | None = None,
                 max_query_chars: int = 500, readers: int = 1, cache_size: int = 0, served: bool = False,
                 base: str = "",
                 load_embedder: Callable[[str], Embedder] | None = None,
                 opened_as: tuple[int, int] | None = None):
        self.library = library
        self.served = served  # answering over HTTP: local files link to the service's copy (link_at)
        self.base = base  # the service's path prefix (root_path setting), before its links' paths
        self.embedder = embedder
        self._load_embedder = load_embedder or Embedder
        self._model_lock = threading.Lock()
        self.model_error: str | None = None
        self._follow_model(library)
        self.options = options or RankingOptions()
        self.max_query_chars = max_query_chars
        self.cache = ResponseCache(cache_size)
        self._idle: queue.LifoQueue[Library] = queue.LifoQueue()  # most recently used first: warm caches
        self._idle.put(library)
        self._readers = [library]
        self.readers_wanted = max(1, readers)
        self._readers_lock = threading.Lock()
        self._closed = False
        self._generation = 0  # reopen()s asked for: a reader opened before the latest is opened again
        # Each reader's catalog file (catalog_identity, taken before it was opened: a change after shows) and the
        # reopen() it was opened after. ``opened_as``: the first's, when it was opened well before (models loaded since)
        self._opened: dict[Library, tuple[tuple[int, int] | None, int]] = {
            library: (opened_as or catalog_identity(library.path), 0)}
        # The write-ahead log (catalog.sqlite-wal) each catalog file had while a reader had it open. SQLite ties a
        # log to the path, not the file: a catalog replaced in place (a backup restored with rsync or cp over the
        # library) beside the replaced one's log would have that log replayed into it, and damaged (_current).
        self._logs = {self._opened[library][0]: catalog_identity(library.path, "-wal")}
        # A damaged catalog a read hit ("database disk image is malformed"), until the library changes: health
        # says so, though its own few reads may miss the damaged pages.
        self.damage: str | None = None
        if readers > 1:
            threading.Thread(target=self._open_readers, args=(readers - 1,), daemon=True,
                             name="open-readers").start()

    def _open_readers(self, count: int) -> None:
        for _ in range(count):
            opened = catalog_identity(self.library.path), self._generation  # before opening: a change after shows
            try:
                reader = Library.open(self.library.path)
                reader.sync_vector_index()
            except Exception:  # the first reader still serves; a library that cannot open shows there
                return
            with self._readers_lock:
                if self._closed:
                    reader.close()
                    return
                self._readers.append(reader)
                self._opened[reader] = opened
                self._logs.setdefault(opened[0], catalog_identity(self.library.path, "-wal"))
            self._idle.put(reader)

    @property
    def readers_ready(self) -> int:
        return len(self._readers)

    def close(self) -> None:
        with self._readers_lock:
            self._closed = True
            for reader in self._readers:
                reader.close()

    def reopen(self) -> None:
        """Every reader opens the library again before its next read (SIGHUP). Only a number changes here: safe
        in a signal handler."""
        self._generation += 1

    @contextmanager
    def reading(self) -> Iterator[Library]:
        """A library reader, alone and up to date: talks committed since its last read become visible,
        whole, and every read inside sees the same committed state."""
        reader = self._idle.get()
        try:
            reader = self._current(reader)
            with reader.snapshot():
                if reader.refresh():
                    self.cache.drop_all()
                    self._follow_model(reader)
                    self.damage = None  # changed (repaired, say): the next read that fails says so again
                if self.model_error is not None:
                    raise LibraryError(self.model_error)  # a new one each time: requests run in parallel
                yield reader
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF in _DAMAGED:  # SQLite's own, not one raised in Python
                self.damage = str(exc)
            raise
        finally:
            self._idle.put(reader)

    def _current(self, reader: Library) -> Library:
        """``reader``, or a reader opened now in its place when the catalog at the library's path is not the file
        it opened (replaced, or a ``reopen``); LibraryError while there is no catalog there, or what is there
        cannot be opened (the old reader is kept, unread, for the next try)."""
        path = self.library.path
        now = catalog_identity(path), self._generation
        if now[0] is None:
            raise LibraryError(f"library {path} is gone: its catalog was moved or deleted while it was served; "
                               "searches resume once a library is back at that path")
        if self._opened.get(reader) == now:
            return reader
        replaced = self._opened[reader][0]
        log = self._logs.get(replaced)
        if replaced != now[0] and log is not None and log == catalog_identity(path, "-wal"):
            raise LibraryError(
                f"library {path}: catalog.sqlite was replaced, but the catalog it replaced left its write-ahead log "
                f"beside it (catalog.sqlite-wal), which SQLite would replay into the new one and damage it; delete "
                f"{CATALOG}-wal and {CATALOG}-shm there (restore a whole library folder, or with rsync --delete) "
                "and the catalog now there is served")
        fresh = Library.open(path)
        try:
            fresh.sync_vector_index()
        except BaseException:
            fresh.close()
            raise
        with self._readers_lock:
            if self._closed:
                fresh.close()
                raise LibraryError(f"library {path} is closed: the service is stopping")
            self._readers[self._readers.index(reader)] = fresh
            del self._opened[reader]
            self._opened[fresh] = now
            self._logs.setdefault(now[0], catalog_identity(path, "-wal"))
            if reader is self.library:
                self.library = fresh
        reader.close()
        self.cache.drop_all()
        self.damage = None
        self._follow_model(fresh)
        return fresh

    def _follow_model(self, library: Library) -> None:
        """Load the model ``library`` records if it is not the one in use, and check that it fits the library's
        vectors; ``model_error`` says what does not. Under a lock: one reader loads, the others wait for it."""
        recorded = library.embed_model
        with self._model_lock:
            try:
                if recorded is not None and recorded != self.embedder.name:
                    self.embedder = self._load_embedder(recorded)
                check_model(library, self.embedder)
            except (LibraryError, ModelError) as exc:
                self.model_error = str(exc)
            else:
                self.model_error = None

    def validate(self, query: str) -> str:
        """The query as search reads it (``talksearch.text.search_text``), or QueryError saying why it cannot be
        searched. Its length is the length sent: what the user sees in the box; as read, at most
        ``READ_LENGTH_FACTOR`` times that."""
        text = query.strip()
        if all(c.isspace() or unicodedata.category(c) == "Cf" for c in text):  # zero-width spaces are no query either
            raise QueryError("the query is empty")
        if len(text) > self.max_query_chars:
            raise QueryError(f"the query is longer than {self.max_query_chars} characters")
        if "\x00" in text:
            raise QueryError("the query contains a NUL character")
        if not text.isascii() and any("\ud800" <= c <= "\udfff" for c in text):  # bytes that were not UTF-8
            raise QueryError("the query is not valid text (UTF-8)")
        read = search_text(text)  # the response still echoes the query as it was sent (search)
        # What is embedded is the text as read: a compatibility character may be written out as eighteen ("ﷺ"),
        # and 500 of them cost 50 searches (a denial of service hunt)
        if len(read) > READ_LENGTH_FACTOR * self.max_query_chars:
            raise QueryError(f"the query is longer than {READ_LENGTH_FACTOR * self.max_query_chars} characters as "
                             "search reads it (ligatures and compatibility characters written out)")
        # Punctuation, symbols or emoji alone ("...", "%", "🚀") hold no word to find or mark: any ranking of them
        # would be arbitrary, so they are refused as a blank query is. Letters and digits of any script count, as
        # read ("㎏" is "kg").
        if not any(c.isalnum() for c in read):
            raise QueryError("the query has no letter or digit to search for")
        return read

    def search(self, query: str, limit: int = 10, *, offset: int = 0, filters: TalkFilter | None = None,
               group: Group = "none", drop_quotes: bool = True) -> SearchResponse:
        started = time.perf_counter()
        text = self.validate(query)
        # Embedded before a reader is taken: the model runs outside the GIL, beside other requests' ranking
        # (and a repeated query's vector comes from the embedder's own cache).
        self.embedder.query(text)
        # Words known only once the library is read (a slip mended, a quote dropped, what a query naming a talk
        # asks of it) are embedded between reads, not holding one of the few readers (``_UnembeddedWords``); a
        # library changed meanwhile may need others, embedded while reading on the last try.
        for between_reads in (True, True, False):
            try:
                answer = self._answer(text, limit, offset, filters, group, drop_quotes, between_reads)
                break
            except _UnembeddedWords as needed:
                self.embedder.query(needed.text)
        return answer.model_copy(update={"query": query, "results": self._as_served(answer.results),
                                         "took_ms": round((time.perf_counter() - started) * 1000, 2)})

    def _answer(self, text: str, limit: int, offset: int, filters: TalkFilter | None, group: Group,
                drop_quotes: bool, between_reads: bool) -> SearchResponse:
        """``search``'s answer for the query as read (``text``), from the cache or ranked in one snapshot;
        ``between_reads``: words not yet embedded raise ``_UnembeddedWords`` rather than hold the reader."""
        key = (text, limit, offset, repr(filters) if filters else None, group, drop_quotes)
        wanted = offset + limit + 1  # one more than the page: tells whether there is a next page
        # Taken before this reader's snapshot: a library change another reader sees meanwhile (it drops the cache)
        # then keeps this answer, of the state before, out of the cache.
        epoch = self.cache.epoch
        with self.reading() as library:
            # (the reader may just have seen the library's first talk, of another model than the one that embedded)
            embed = functools.partial(self._embedded, between_reads=between_reads)
            vector = embed(text)
            # talks searched within are checked in the snapshot searched: one removed since the caller checked would
            # answer nothing, which reads as "nobody said it"
            if filters and filters.talks and (refusal := no_such_talks(library, filters.talks)):
                raise NotFound(refusal)
            cached = self.cache.get(key)  # looked up after the reader's refresh: dropped if the library changed
            if cached is not None:
                return cached
            allowed = library.talk_ids(filters) if filters else None
            # a typing slip no talk says, searched as the transcripts' word it is one slip from, and two words
            # typed apart that they write as one, joined (said below)
            mended = mended_query(library, text, self.embedder.common_words, allowed)
            if mended is not None:
                vector = embed(mended)
            searched = typed = mended or text
            repeats: dict[int, list[PassageHit]] = {}
            if allowed is not None and not allowed:
                hits = Ranked()
            elif group == "talk" and offset >= talks_in_reach(library, allowed) and not quoted_phrases(text):
                # A page past the last talk holds none, however deep the ranking: this deep it would rank every
                # passage, seconds of work. (Quoted phrases are ranked: finding none of them drops the quotes.)
                hits = Ranked()
            else:  # the same first candidates for every page: a deeper page extends the ranking, never reorders it
                hits, repeats = self._rank_once_each(library, typed, vector, wanted, allowed, group, embed)
                if not hits and drop_quotes and quoted_phrases(typed):
                    searched, unquoted_mended, (hits, repeats) = self._rank_unquoted(library, typed, wanted,
                                                                                     allowed, group, embed)
                    mended = searched if unquoted_mended or mended else None  # unquoted, as searched
            # asked only when there are results: to an empty page it adds nothing. A query naming a talk's
            # speaker or event ("Klaus Weber") found it by those words, though its transcript never says them.
            words_found = (not hits or says_a_word(library, searched, allowed)
                           or (self.options.names and names_a_talk(library, searched, allowed)))
            hits, timelines = _group_by_talk(hits) if group == "talk" else (hits, None)
            more = len(hits) > offset + limit
            # Results (snippets, talks, links) only for the page: a deep page's hits before it would be
            # built only to be thrown away, seconds of work for an empty page at offset 9,900.
            results = self._results(library, searched, hits[offset : offset + limit], timelines, repeats)
        answer = SearchResponse(
            query=text, took_ms=0.0, results=results, offset=offset, limit=limit,
            next_offset=offset + limit if more and offset + limit <= SEARCH_OFFSET_MAX else None, group=group,
            quotes_dropped=searched != typed, words_found=words_found, corrected_query=mended,
        )
        self.cache.put(key, answer, epoch)
        return answer

    def _embedded(self, text: str, between_reads: bool) -> np.ndarray:
        """``text``'s vector by the embedder in use; with ``between_reads``, only one it holds already."""
        if between_reads and not self.embedder.has_query(text):
            raise _UnembeddedWords(text)
        return self.embedder.query(text)

    def _rank_once_each(self, library: Library, text: str, vector, wanted: int, allowed, group: Group,
                        embed: Callable[[str], np.ndarray]) -> tuple[Ranked, dict[int, list[PassageHit]]]:
        """The ``wanted`` best hits, each moment once however many talks are the same recording
        (``repeats.without_repeats``), and the repeats of each. Ranked deeper while repeats leave too few: the
        same first candidates for every page, so a page's hits never depend on how deep the page is."""
        limit, depth_free = wanted, {}
        while True:
            ranked = self._rank(library, text, vector, limit, allowed, distinct_talks=group == "talk",
                                depth_free=depth_free, embed=embed)
            durations = {i: t.duration for i, t in library.talks_by_id(h.talk_id for h, _ in ranked).items()}
            kept, repeats = without_repeats(ranked, durations)
            hits = _kept(ranked, kept)
            # grouped by talk, the ranking's limit counts talks (distinct_talks), and so does what is wanted
            count = (lambda found: len({h.talk_id for h, _ in found})) if group == "talk" else len
            if count(hits) >= wanted or count(ranked) < limit or limit >= 16 * wanted:
                return hits, repeats
            limit *= 2

    def _rank_unquoted(self, library: Library, text: str, wanted: int, allowed, group: Group,
                       embed: Callable[[str], np.ndarray]
                       ) -> tuple[str, str | None, tuple[Ranked, dict[int, list[PassageHit]]]]:
        """``text`` with its quotation marks dropped, as it is searched (mended as the words typed unquoted are:
        ``mended_query``, the second value where it was), and its hits: what a search engine answers when no moment
        holds a query's "quoted phrases" word for word (a transcript's "gangs casualing" for "gang scheduling"),
        rather than a blank page. Decided on the exact search having no hit at all, never on a page's: every page
        of a query is searched the same way."""
        plain = " ".join(text.replace('"', " ").split())
        mended = mended_query(library, plain, self.embedder.common_words, allowed)
        searched = mended or plain
        vector = embed(searched)  # the same words' own vector: the same answer as typing them unquoted
        return searched, mended, self._rank_once_each(library, searched, vector, wanted, allowed, group, embed)

    def _as_served(self, results: list[SearchResult]) -> list[SearchResult]:
        """``results`` as the service shows them (``served_summary``), with their local recordings' links as they
        stand now (``served_file_link``): a cached response keeps the talks' own locations, and outlives the file
        it was made with, which may be moved or deleted without the library changing."""
        if not self.served:
            return results
        return [r.model_copy(update={"talk": served_summary(r.talk, self.base)} | (
                    {"link": served_file_link(r.talk.id, r.talk.media_url, r.start, self.base)}
                    if urlsplit(_source(r.talk)).scheme.lower() == "file" else {}))
                for r in results]

    def related(self, talk_id: str, at: float, limit: int = 5) -> RelatedResponse:
        """Moments in other talks about what is said in ``talk_id`` at ``at`` seconds: the best one per talk."""
        started = time.perf_counter()
        with self.reading() as library:
            talk = library.talk(talk_id)
            if talk is None:
                raise NotFound(f"no talk {talk_id!r}")
            anchor = library.passage_near(talk_id, at)
            hits = Ranked()
            repeats: dict[int, list[PassageHit]] = {}
            others = {t for t in library.talk_ids(TalkFilter()) if t != talk_id}
            if anchor is not None and others:
                vector = library.embedding(anchor.passage_id)
                # The query is a whole passage: snapping to one of its sentences would pick an arbitrary one.
                # Twice as deep: another copy of this recording (said_before) is no related moment, and copies
                # of one talk are one.
                hits = self._rank(library, anchor.text, vector, 2 * limit, others, snap=False, distinct_talks=True)
                durations = {i: t.duration for i, t in library.talks_by_id(
                    [talk_id] + [h.talk_id for h, _ in hits]).items()}
                kept, repeats = without_repeats(hits, durations, said_before=[anchor])
                hits = _kept(hits, kept)
            hits, timelines = _group_by_talk(hits)
            # no marks: every word would be one
            results = self._as_served(self._results(library, "", hits[:limit], timelines, repeats))
        return RelatedResponse(
            talk=talk_summary(talk, self.served, self.base), at=at, start=round(anchor.start, 2) if anchor else at,
            end=round(anchor.end, 2) if anchor else at, text=anchor.text if anchor else "",
            took_ms=round((time.perf_counter() - started) * 1000, 2), results=results,
        )

    def _rank(self, library: Library, text, vector, limit: int, allowed, snap: bool = True,
              distinct_talks: bool = False, depth_free: dict | None = None,
              embed: Callable[[str], np.ndarray] | None = None) -> Ranked:
        # A related-moments query is a whole passage (no snap): not a quote to put first, nor names of talks
        options = (dataclasses.replace(self.options, snap=False, quote_min_words=0, names=False)
                   if not snap else self.options)
        # Word-by-word rescoring is for a query's words; a related-moments query is a whole passage (no snap).
        query_words = (token_codes.signs(self.embedder.query_tokens(text).meaningful())
                       if snap and options.token_candidates else None)
        return rank(library, text, vector, limit, options, talks=allowed, distinct_talks=distinct_talks,
                    common_words=self.embedder.common_words, query_words=query_words,
                    multilingual_part=self.embedder.multilingual_part,
                    embed_query=(embed or self.embedder.query) if snap else None,  # not for a related-moments query
                    depth_free=depth_free)

    def _results(self, library: Library, text: str, hits, timelines: dict[str, list[Moment]] | None,
                 repeats: Mapping[int, list[PassageHit]]) -> list[SearchResult]:
        """``hits`` as results; ``timelines``: grouped by talk (``_group_by_talk``), each talk's moments;
        ``repeats``: per passage id, the same moment in talks that are the same recording (``without_repeats``)."""
        repeated = [r for h, _ in hits for r in repeats.get(h.passage_id, ())]
        talks = library.talks_by_id([h.talk_id for h, _ in hits] + [r.talk_id for r in repeated])
        marked = snippets(library, text, {h.passage_id: h.text for h, _ in hits})
        speakers = library.speakers_at(h for h, _ in hits)
        # A translated talk's query words may be only in its English: that is marked the same way.
        marked_english = snippets(library, text, {h.passage_id: h.translation for h, _ in hits if h.translation})
        return [
            SearchResult(
                talk=talk_summary(talks[h.talk_id]), start=round(h.start, 2), end=round(h.end, 2), text=h.text,
                speaker=speakers.get(h.passage_id), snippet=marked.get(h.passage_id, ""), translation=h.translation,
                translation_snippet=marked_english.get(h.passage_id), score=round(score, 5),
                link=link_at(talks[h.talk_id], h.start, self.served, self.base),
                page=page_at(h.talk_id, h.start, self.base), chapter=chapter_at(talks[h.talk_id].chapters, h.start),
                timeline=timelines[h.talk_id] if timelines is not None else None,
                also_in=[SameMoment(talk_id=r.talk_id, title=talks[r.talk_id].title, start=round(r.start, 2),
                                    page=page_at(r.talk_id, r.start, self.base))
                         for r in repeats.get(h.passage_id, ()) if r.talk_id in talks],
            )
            for h, score in hits
            if h.talk_id in talks
        ]


# A talk's timeline holds its moments that score at least this share of the query's best moment (and the talk's
# best, always). The word-by-word rescoring lifts the best fused passages well above the rest, and the share falls
# in that gap. On the dev set's 32 queries (whisper tiny.en, MiniLM; 0.3-0.5 alike) the target sentence stayed on
# its talk's timeline in 30 (every moment ranked: 31; the one lost ranked 12th, at 0.18 of the best) with a fifth
# of the markers; "cost" marked 6 of the chargeback talk's 23 sentences rather than 12-18, and 1 of a talk that
# never says it rather than 11; at 0.5 "power capping" kept 2 of the power-capping talk's 4 moments about power.
TIMELINE_SHARE = 0.4


def _kept(ranked: Ranked, kept: list[tuple[PassageHit, float]]) -> Ranked:
    """``kept``, what ``without_repeats`` left of ``ranked`` (in its order), with the first tier's share of it."""
    first = {hit.passage_id for hit, _ in ranked[:ranked.first_tier]}
    return Ranked(kept, first_tier=sum(hit.passage_id in first for hit, _ in kept))


def _group_by_talk(hits: Ranked) -> tuple[list[tuple[PassageHit, float]], dict[str, list[Moment]]]:
    """The best hit of each talk, best first, and each talk's timeline in time order: its best hit, and those of
    the first tier's hits (``Ranked.first_tier``) that score at least ``TIMELINE_SHARE`` of the query's best.

    Only the first tier: it is the same for every page, while the deeper tiers behind a page depend on its size
    and offset (a talk had 12 moments on a page of one and 18 on a page of eleven). Only the close scores: the
    first tier holds a hundred candidates' moments, nearly every sentence of a short talk, most of them alike and
    far below the query's best (a talk that never said "cost" had 11)."""
    floor = TIMELINE_SHARE * max((score for _, score in hits[:hits.first_tier]), default=0.0)
    best: dict[str, tuple[PassageHit, float]] = {}
    timelines: dict[str, list[Moment]] = {}
    for position, (hit, score) in enumerate(hits):
        own_best = hit.talk_id not in best
        if own_best:
            best[hit.talk_id] = (hit, score)
        if own_best or (position < hits.first_tier and score >= floor):
            timelines.setdefault(hit.talk_id, []).append(
                Moment(start=round(hit.start, 2), end=round(hit.end, 2), score=round(score, 5)))
    for moments in timelines.values():
        moments.sort(key=lambda m: m.start)
    return list(best.values()), timelines


def check_model(library: Library, embedder: Embedder) -> None:
    """LibraryError unless ``embedder`` is the model ``library`` records (if any) and makes vectors as wide as
    the library's: a catalog whose model was edited by hand names a model its vectors are not from."""
    recorded = library.embed_model
    if recorded is not None and recorded != embedder.name:
        raise LibraryError(f"library {library.path} records embedding model {recorded!r}, which loads as "
                           f"{embedder.name!r}: not the model it was built with")
    dimension = library.meta_number("embed_dim")
    if dimension and dimension != embedder.dimension:
        raise LibraryError(f"library {library.path} records embedding model {embedder.name!r}, whose vectors have "
                           f"{embedder.dimension} dimensions, but its vectors have {dimension}: its catalog was "
                           "edited or damaged (`talksearch check` on the library tells more)")


def _public_base(settings: Settings) -> str:
    """Where the CLI's and stdio MCP's talk pages are (``page``): at the service's public address when one is set,
    so that a page link printed here opens; else the bare path, which only a served page resolves."""
    return (settings.public_url or "").rstrip("/")


def open_searcher(settings: Settings, create: bool = True, readers: int | None = None,
                  served: bool = False) -> tuple[Library, Searcher]:
    """The library and a searcher over it, with the embedding model the library was built with (the
    ``embed_model`` setting for a library that records none yet). ``create=False`` (the CLI's search) refuses a
    directory that holds no library instead of making one; ``readers`` defaults to the ``search_readers``
    setting; ``served``: for the HTTP service (``link_at``), which starts even with a model that does not fit
    the library, and answers every request with what is wrong (``Searcher.model_error``): a failed start-up
    would be a traceback."""
    opened_as = catalog_identity(settings.library)
    library = Library.open(settings.library, create=create)
    opened_as = opened_as or catalog_identity(settings.library)  # a library made just now

    def load_embedder(name: str | None) -> Embedder:
        # One model thread per request by default, on one model replica per core: requests run in parallel,
        # and all cores' threads per request collapse under concurrent load (bench/search_scale.py measured
        # 646 vs 32 ms p50 with torch).
        return Embedder.from_settings(settings, name, settings.threads or 1, service_replicas())

    embedder = load_embedder(library.embed_model)
    library.sync_vector_index()
    pronunciation.load()  # now: a broken install fails at start, and the first jargon query is not the slow one
    searcher = Searcher(library, embedder, RankingOptions.from_settings(settings), max_query_chars=settings.max_query_chars,
                        readers=readers or settings.search_readers or os.cpu_count() or 1, cache_size=settings.search_cache,
                        served=served, base=(settings.root_path or "") if served else _public_base(settings),
                        load_embedder=load_embedder, opened_as=opened_as)
    if searcher.model_error is not None and not served:
        searcher.close()
        raise LibraryError(searcher.model_error)
    return library, searcher

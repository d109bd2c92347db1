"""The library's records: what is stored (talks, sentences with their words, passages) and what a read
gives back (passage hits), the filter a listing or search takes, and the library's errors."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from talksearch.text import fold


def without_credentials(url: str | None) -> str | None:
    """``url`` without the user name and password a web address may carry (``http://user:pw@host/``)."""
    if not url or "@" not in url:
        return url
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


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
    speaker: str | None = None  # named by the captions (a WebVTT voice, a transcript's speaker); whisper names none
    translation: str | None = None  # the sentence in English (--translate), for a talk in another language


@dataclass
class Passage:
    start: float
    end: float
    text: str
    kind: str = "window"
    translation: str | None = None  # its sentences' English (--translate): embedded after text, found by keywords too


def with_translation(text: str, translation: str | None) -> str:
    """A passage's words, then their English when the talk was translated: what the indexer embeds (an English
    model reads the English, and the original's names and shared words still count; embedding the English
    alone lost same-language searches on the languages benchmark, whose machine translations are rough:
    docs/benchmarks.md)."""
    return f"{text} {translation}" if translation else text


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
    whisper_model: str = ""  # the model that transcribed it; "" when captions did
    embed_model: str = ""
    # Where the transcript came from: "uploaded captions", "automatic captions" or "whisper <model>".
    transcript_source: str = ""
    indexed_at: str = ""
    # When its details (TALK_DETAILS) last changed since it was indexed, as indexed_at is written; None: never.
    details_changed_at: str | None = None

    def __post_init__(self) -> None:
        # A source's user name and password (http://member:pw@host/talk.mp4: a members' feed) fetched it; they were
        # stored and shown to every visitor (pages, API, feeds, MCP), and no browser plays a URL that holds them.
        # Taken out as the talk is stored, and as a library written before is read.
        self.url = without_credentials(self.url)
        self.media_url = without_credentials(self.media_url)
        self.thumbnail = without_credentials(self.thumbnail)

    @property
    def archive_id(self) -> str:
        return archive_id(self.extractor, self.source_id)

    @property
    def id(self) -> str:
        return talk_id(self.archive_id)


# Whisper starts a sentence a few tenths of a second before its first word, and a description's chapter times are
# whole seconds: a moment starting this little before a chapter is that chapter's first (a session's speaker
# introducing themselves was credited to the coffee break before their talk, the moment a search for them finds).
CHAPTER_LEAD = 1.0


def length_measured(transcript_source: str | None, media_url: str | None) -> bool:
    """Whether a talk's ``duration`` is its recording's own length, measured by reading it: a talk whisper
    transcribed (its recording decoded), a local file's; not one indexed from a site's or feed's captions alone,
    whose length is what its source states (a feed's itunes:duration, often rounded down) or where its captions end.
    Players scale a moment by a measured length only (a VBR mp3's the browser guesses otherwise), and pages judge a
    moment past the end by it. (A captions talk downloaded with --keep-media was measured too, which nothing records:
    it is taken as not.)"""
    from_captions = (transcript_source or "").endswith(" captions")
    local = bool(media_url) and urlsplit(media_url).scheme.lower() not in ("http", "https")  # file://, or /media
    return not from_captions or local


def chapter_at(chapters: list[dict], seconds: float) -> str | None:
    """The title of the chapter (``Talk.chapters``) that a moment starting at ``seconds`` is in (the next one, where
    that starts within ``CHAPTER_LEAD``), or None."""
    index = chapter_index(chapters, seconds)
    return None if index is None else chapters[index].get("title")


def chapter_index(chapters: list[dict], seconds: float) -> int | None:
    """Which of ``chapters`` a moment starting at ``seconds`` is in (``chapter_at``), or None."""
    for at in (seconds + CHAPTER_LEAD, seconds):  # past the last chapter's end, the moment's own second
        for index, chapter in enumerate(chapters or []):
            # a last chapter may have no end (a feed's chapters file, a talk of unknown length): it runs to the end
            if (chapter.get("start_time") or 0) <= at < (chapter.get("end_time") or float("inf")):
                return index
    return None


# What a talk's source states of it (a feed item, a sidecar .info.json), as against what indexing made or measured
# (its transcript, duration, language, models) and where it was fetched from: what a talk the library has takes
# again from its source without being indexed again (``Library.update_talk_details``).
TALK_DETAILS = ("title", "channel", "speakers", "event", "description", "published", "thumbnail", "chapters")


def record_time() -> str:
    """Now, as a talk's record writes a time (``indexed_at``, ``details_changed_at``): UTC, ISO 8601, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def archive_id(extractor: str, source_id: str) -> str:
    """yt-dlp's own archive key (``make_archive_id``): lower-case extractor key, a space, the id."""
    return f"{extractor.lower()} {source_id}"


def talk_id(archive_key: str) -> str:
    """A short, stable, URL-safe id: the same source gets the same id in every library."""
    return hashlib.sha1(archive_key.encode()).hexdigest()[:12]


@dataclass
class StoredTalk(Talk):
    """A talk as the catalog holds it. Its id and archive key are the ones stored when it was indexed, which
    a read must not derive again: the rule that derives them may change, and the row is what passages name."""

    stored_id: str = ""
    stored_archive_id: str = ""

    @property
    def archive_id(self) -> str:
        return self.stored_archive_id

    @property
    def id(self) -> str:
        return self.stored_id


@dataclass
class PassageHit:
    passage_id: int
    talk_id: str
    kind: str
    start: float
    end: float
    text: str
    translation: str | None = None


@functools.lru_cache(maxsize=1 << 14)
def fold_sql(value: object) -> object:
    """``fold`` as the SQL function ``TalkFilter.sql`` compares names with (registered on every catalog
    connection): a missing name (NULL) or a speaker the source gave as a number is left as it is, since an
    exception in it would fail the whole query. Kept for the names seen last: a filter folds every talk's
    speakers, the same few names over and over (half the cost of a speaker filter on 1,200 talks)."""
    return fold(value) if isinstance(value, str) else value


@dataclass
class TalkFilter:
    """Which talks a listing or search may draw from. Every given field must match (values within one
    field are alternatives); a channel, event or speaker matches the whole name case and accents aside, as
    ``talksearch.text.fold`` reads it ("jose garcia" is "José García" and "JOSÉ GARCÍA"), a language its code
    case aside; dates are inclusive ISO dates."""

    talks: Sequence[str] = ()
    channels: Sequence[str] = ()
    events: Sequence[str] = ()
    speakers: Sequence[str] = ()
    languages: Sequence[str] = ()
    published_after: str | None = None
    published_before: str | None = None

    def __bool__(self) -> bool:
        return any(getattr(self, f) for f in self.__dataclass_fields__)

    def reversed_dates(self) -> str | None:
        """Why the dates can match no talk, when the range ends before it starts (each surface refuses it in its
        own way): a swapped pair read as "nothing was published then" hid the typo."""
        after, before = self.published_after, self.published_before
        if after and before and after > before:
            return f"published_after ({after}) is later than published_before ({before}): no date is in that range"
        return None

    def sql(self) -> tuple[str, list]:
        """A WHERE clause over ``talks`` (``1`` when nothing is filtered) and its parameters. Names are compared
        by the SQL function ``fold`` (``fold_sql``), which a catalog connection has (``Library``): SQLite's
        NOCASE folds ASCII letters only, so "jose garcia" found "Jose Garcia" but not "José García"."""
        clauses: list[str] = []
        params: list = []

        def any_of(expression: str, values: Sequence[str]) -> None:
            clauses.append("(" + " OR ".join([expression] * len(values)) + ")")
            params.extend(values)

        def any_name(expression: str, values: Sequence[str]) -> None:
            # IN: each stored name is folded once, however many values are asked for
            folded = list(dict.fromkeys(fold(value) for value in values))
            clauses.append(expression.format(", ".join("?" * len(folded))))
            params.extend(folded)

        if self.talks:
            any_of("talks.id = ?", self.talks)
        if self.channels:
            any_name("fold(talks.channel) IN ({})", self.channels)
        if self.events:
            any_name("fold(talks.event) IN ({})", self.events)
        if self.languages:
            any_of("talks.language = ? COLLATE NOCASE", self.languages)
        if self.speakers:
            any_name("EXISTS (SELECT 1 FROM json_each(talks.speakers) WHERE fold(json_each.value) IN ({}))",
                     self.speakers)
        if self.published_after:
            clauses.append("talks.published >= ?")
            params.append(self.published_after)
        if self.published_before:
            # published may carry a time after the date; anything on the last day is still in range
            clauses.append("substr(talks.published, 1, 10) <= ?")
            params.append(self.published_before)
        return (" AND ".join(clauses) or "1"), params


@dataclass(frozen=True)
class SearchScope:
    """The passages a filtered search draws from, when the filter leaves a small part of the library
    (``Library.search_scope``): each retriever then searches within them. Searching the whole library and
    filtering afterwards found nothing in a large one, since the best few dozen of 100,000 passages rarely
    include a given talk's."""

    talks: tuple[str, ...]
    passage_ids: np.ndarray  # sorted

    def sql(self, column: str = "rowid") -> tuple[str, list]:
        """A condition that ``column`` (a passage id) is in the scope, and its parameter. The unary ``+`` keeps
        the condition a filter on what an FTS5 MATCH finds: offered to FTS5 as a rowid constraint, it made SQLite
        run the MATCH once per passage of the scope (0.5 against 125 ms at 100,000 passages)."""
        return (f"+{column} IN (SELECT id FROM passages WHERE talk_id IN (SELECT value FROM json_each(?)))",
                [json.dumps(self.talks)])

"""Atom feeds (made with feedgen): the moments matching a saved search, and the library's talks.

Feed readers show these to people and podcast apps reuse them, so every URL in them is absolute, and every
text comes from the catalog: titles and transcripts are untrusted, and lxml escapes them (characters XML
cannot carry at all, such as NUL, are dropped first: lxml refuses them rather than escaping).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote, urlencode, urlsplit

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem

from talksearch import __version__
from talksearch.library import Talk, TalkFilter, length_measured
from talksearch.schemas import SearchResponse, SearchResult
from talksearch.service.talk_detail import local_media, recording
from talksearch.text import content_words, search_text
from talksearch.timecode import clock

ATOM = "application/atom+xml; charset=utf-8"
PODCAST_NS = "https://podcastindex.org/namespace/1.0"  # Podcasting 2.0: <podcast:transcript>, <podcast:chapters>
CHAPTERS_JSON = "application/json+chapters"  # its type for a JSON chapters file
ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"  # <itunes:duration>, which podcast apps read in Atom too
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Below every date: where a talk has no date at all (every talk has the date it was indexed), it sorts last
_UNDATED = datetime.min.replace(tzinfo=timezone.utc)
# A saved search's feed is for what is new, and the search ranks by relevance: so the feed's candidates are the
# `limit` most relevant talks, plus those deeper in a pool of the POOL_PER_ENTRY x limit most relevant whose best
# moment says the query's content words (its snippet has a <mark>; a query of function words alone adds none),
# and it shows the newest `limit` of them. A talk indexed today that ranks below the first `limit` (older talks
# say it more) still appears when it says the query. The words are the floor because a search by meaning ranks
# every talk, however unrelated: without them a small library's feed would be its newest talks whatever the
# query. Capped: a deeper search costs more.
POOL_PER_ENTRY = 5
MAX_POOL = 200
_MARK = "<mark>"  # what the searcher puts around the query's (stemmed) content words that a passage holds


class Feed(NamedTuple):
    body: bytes
    updated: datetime  # the feed's <updated>


def search_pool(limit: int) -> int:
    """How deep a search feed of ``limit`` entries looks for talks that say the query (see POOL_PER_ENTRY)."""
    return max(limit, min(limit * POOL_PER_ENTRY, MAX_POOL))


def xml_text(text: str | None) -> str:
    return _NOT_XML.sub("", text or "")


def _when(value: str | None) -> datetime | None:
    """An ISO date or timestamp from the catalog as an aware datetime (UTC when it names no zone)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def latest(talk: Talk) -> tuple[datetime, datetime]:
    """The feeds' order, as the catalog lists talks: when the talk was published, else when it was indexed. A
    recording with no date is new when it is indexed; put last, it would never make a feed of the newest."""
    indexed = _when(talk.indexed_at) or _UNDATED
    return _when(talk.published) or indexed, indexed


def modified(talk: Talk) -> datetime:
    """An entry's <updated>: when the talk last changed as a reader sees it (RFC 4287 4.2.15), the later of when
    it was indexed and when its details (title, speakers...) last changed (``update_talk_details``, reembed). A
    corrected title that kept the time it was indexed would never reach a reader that shows what changed."""
    indexed = _when(talk.indexed_at)
    changed = _when(talk.details_changed_at)
    return max(indexed, changed) if indexed and changed else indexed or changed or _when(talk.published) or _EPOCH


_FILTER_NAMES = (("talks", "talk"), ("channels", "channel"), ("events", "event"), ("speakers", "speaker"),
                 ("languages", "language"))


def talks_feed_title(filters: TalkFilter | None, what: str = "talks") -> str:
    """A feed's title, naming its filters: a reader subscribed to a speaker's feed and the library's tells them
    apart ("talksearch: talks (speaker: Ines Moreau; published: from 2024-01-01)"); ``what``: a search feed's
    query in place of "talks"."""
    filters = filters or TalkFilter()
    named = [f"{name}: {', '.join(values)}" for field, name in _FILTER_NAMES if (values := getattr(filters, field))]
    after, before = filters.published_after, filters.published_before
    if after or before:
        named.append("published: " + (f"{after} to {before}" if after and before
                                      else f"from {after}" if after else f"until {before}"))
    return f"talksearch: {what}" + (f" ({'; '.join(named)})" if named else "")


class _PodcastNamespace(BaseExtension):
    def extend_ns(self) -> dict[str, str]:
        return {"podcast": PODCAST_NS, "itunes": ITUNES_NS}


class _EntryExtras(BaseEntryExtension):
    """``<link rel="related">`` (feedgen 1.0 drops an entry link's rel), ``<podcast:transcript>``,
    ``<podcast:chapters>``, and the entry's
    ``xml:lang`` (the talk's language: feedgen sets one on the feed alone)."""

    def __init__(self) -> None:
        self.related_links: list[str] = []
        self.enclosure: tuple[str, str | None] | None = None
        self.enclosure_bytes: int | None = None  # its length attribute, which RFC 4287 asks of an enclosure
        self.duration: float | None = None  # the recording's measured length, as <itunes:duration>
        self.channel: str | None = None  # the talk's own, as <source><title>: the feed's title is this library's
        self.transcripts: list[tuple[str, str]] = []
        self.chapters: str | None = None  # its chapters file, as <podcast:chapters>
        self.language: str | None = None

    def related(self, url: str) -> None:
        if url.startswith(("http://", "https://")):  # a local talk's file:// media means nothing to a reader
            self.related_links.append(url)

    def transcript(self, url: str, media_type: str) -> None:
        self.transcripts.append((url, media_type))

    def extend_atom(self, entry):
        if self.language:
            entry.set(XML_LANG, self.language)
        for url in self.related_links:
            # Unqualified, as feedgen makes its own: the feed's default namespace (xmlns) makes them all Atom's.
            # Qualified, lxml would write the same namespace again under a prefix of its own (<ns0:link>).
            xml_elem("link", entry, href=url, rel="related")
        if self.channel:
            xml_elem("title", xml_elem("source", entry)).text = xml_text(self.channel)
        if self.enclosure:
            url, media_type = self.enclosure
            xml_elem("link", entry, href=url, rel="enclosure", **({"type": media_type} if media_type else {}),
                     **({"length": str(self.enclosure_bytes)} if self.enclosure_bytes else {}))
        if self.duration:
            xml_elem(f"{{{ITUNES_NS}}}duration", entry).text = str(round(self.duration))
        for url, media_type in self.transcripts:
            xml_elem(f"{{{PODCAST_NS}}}transcript", entry, url=url, type=media_type)
        if self.chapters:
            xml_elem(f"{{{PODCAST_NS}}}chapters", entry, url=self.chapters, type=CHAPTERS_JSON)
        return entry


def _feed(feed_id: str, title: str, self_url: str, alternate: str, subtitle: str) -> FeedGenerator:
    feed = FeedGenerator()
    feed.id(feed_id)
    feed.title(xml_text(title))
    feed.subtitle(xml_text(subtitle))
    feed.link(href=self_url, rel="self", type="application/atom+xml")
    feed.link(href=alternate, rel="alternate", type="text/html")
    feed.generator("talksearch", version=__version__)
    feed.author({"name": "talksearch"})  # Atom wants an author; entries name their speakers when known
    feed.register_extension("extras", _PodcastNamespace, _EntryExtras)
    return feed


def _talk_entry(feed: FeedGenerator, talk: Talk, entry_id: str, page: str, title: str):
    entry = feed.add_entry(order="append")
    entry.id(entry_id)
    entry.title(xml_text(title))
    entry.link(href=page, rel="alternate", type="text/html")  # the only plain link: the alternate
    entry.extras.language = talk.language  # its title and text are in the talk's language
    for speaker in talk.speakers or []:
        entry.author(name=xml_text(speaker) or "unknown")
    published = _when(talk.published)
    entry.updated(modified(talk))
    if published:
        # The catalog holds the publisher's day; Atom wants a time. Noon UTC is that day in every zone from UTC-12
        # to UTC+11: midnight UTC, a feed reader in the Americas showed the day before.
        entry.published(published + timedelta(hours=12) if published.time() == time() else published)
    return entry


def search_feed(base: str, query: list[tuple[str, str]], response: SearchResponse, talks: dict[str, Talk],
                page_query: str, limit: int | None = None, filters: TalkFilter | None = None,
                library_changed: str | None = None) -> Feed:
    """The newest ``limit`` talks, by ``latest`` (then as the search ranked them), each at its moment, of
    ``response`` (a search grouped by talk, ``search_pool`` deep): its ``limit`` most relevant talks, and those
    below them whose moment says the query's words (see POOL_PER_ENTRY). Entry ids are the moments' pages, as
    ever: a talk's entry keeps its id while that moment stays its best. ``page_query``: the search page's query
    for it (its ``rel="alternate"``), which holds less than the feed's own. Its title names its ``filters``, as the
    talks feed's does."""
    qs = urlencode(query, doseq=True)
    feed = _feed(f"{base}/api/search.atom?{qs}", talks_feed_title(filters, response.query.strip()),
                 f"{base}/api/search.atom?{qs}", f"{base}/?{page_query}",
                 "The talks where this is said, newest first, each at its best moment")
    results = [r for r in response.results if r.talk.id in talks]
    if limit is not None:  # none: every talk of the response is a candidate
        # A query of function words alone ("what is the") has them marked wherever they are said (the snippets
        # mark function words when the query has nothing else), which says nothing of what a talk is about.
        deeper = results[limit:] if content_words(search_text(response.query)) else []
        results = results[:limit] + [r for r in deeper if _says_the_query(r)]
    # sorted() is stable (reverse too): talks of one date keep the search's order, best first
    results = sorted(results, key=lambda r: latest(talks[r.talk.id]), reverse=True)[:limit]
    # A result's page and local link are paths that already start with the service's path prefix (root_path):
    # completed with the origin alone, not ``base``.
    parts = urlsplit(base)
    origin = f"{parts.scheme}://{parts.netloc}"
    for result in results:
        talk = talks[result.talk.id]
        page = f"{origin}{result.page}"
        entry = _talk_entry(feed, talk, page, page, moment_title(talk.title, result.start))
        entry.extras.related(result.link if result.link.startswith("http") else f"{origin}{result.link}")
        entry.content(xml_text(result.text), type="text")
    return _finished(feed, [talks[r.talk.id] for r in results], library_changed)


def moment_title(title: str, start: float) -> str:
    """A search feed entry's title: the talk's, at the moment as the pages write it ("... at 1:02:03")."""
    return f"{title} at {clock(start)}"


def _says_the_query(result: SearchResult) -> bool:
    """Whether the moment holds the query's words, in its own text or its English translation."""
    return _MARK in result.snippet or _MARK in (result.translation_snippet or "")


def _finished(feed: FeedGenerator, talks: list[Talk], library_changed: str | None) -> Feed:
    # <updated>: the latest of its entries' own <updated> (a talk indexed, or its details changed), not the time
    # of the request, so that an unchanged feed is the same bytes (its ETag). A feed without entries: when the
    # library last changed (a reader showed 1970 for a speaker's feed before any talk of theirs), at the latest.
    updated = max((modified(t) for t in talks), default=None) or _when(library_changed) or _EPOCH
    feed.updated(updated)
    return Feed(feed.atom_str(pretty=True), updated)


def talks_feed(base: str, query: list[tuple[str, str]], talks: list[Talk], page_query: str = "",
               filters: TalkFilter | None = None, library_changed: str | None = None) -> Feed:
    """The library's ``talks`` as ``Library.talks`` lists them (newest first), each with its transcript as WebVTT
    (``<podcast:transcript>``).
    ``query``: the request's filters, which the feed's own address keeps (one feed per speaker, say); its title
    names ``filters``, and its ``rel="alternate"`` is the talk list with ``page_query`` (the page's filters)."""
    qs = urlencode(query, doseq=True)
    url = f"{base}/talks.atom" + (f"?{qs}" if qs else "")
    feed = _feed(url, talks_feed_title(filters), url, f"{base}/" + (f"?{page_query}" if page_query else ""),
                 "The talks in this library, with their transcripts")
    for talk in talks:  # as the catalog lists them, /api/talks's order: sorted again here, talks of a day swapped
        page = f"{base}/talks/{quote(talk.id, safe='')}"
        entry = _talk_entry(feed, talk, page, page, talk.title)
        if talk.description:
            entry.summary(xml_text(talk.description))
        if talk.event:
            entry.category(term=xml_text(talk.event))
        entry.extras.related(talk.url)
        # Its recording, as a podcast's episode has one: a podcast app plays it, and another talksearch indexes
        # the feed as it would a podcast's (taking the transcript, speakers, date, event and language from it)
        entry.extras.enclosure = recording(talk, base, named=True)
        if entry.extras.enclosure and (path := local_media(talk)):  # a remote one's size is its host's to say
            entry.extras.enclosure_bytes = _size(path)
        # its length where it was measured: not where its captions end, nor what its source said (talk_summary)
        entry.extras.duration = talk.duration if length_measured(talk.transcript_source, talk.media_url) else None
        entry.extras.channel = talk.channel
        transcripts = f"{base}/api/talks/{quote(talk.id, safe='')}/transcript"
        entry.extras.transcript(f"{transcripts}.vtt", "text/vtt")
        entry.extras.transcript(f"{transcripts}.srt", "application/x-subrip")
        if talk.chapters:  # (a federation hunt: another library indexing this feed lost them)
            entry.extras.chapters = f"{base}/api/talks/{quote(talk.id, safe='')}/chapters.json"
    return _finished(feed, talks, library_changed)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:  # gone since: the enclosure says no length
        return None

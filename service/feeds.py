"""Atom feeds (made with feedgen): the moments matching a saved search, and the library's talks.

Feed readers show these to people and podcast apps reuse them, so every URL in them is absolute, and every
text comes from the catalog: titles and transcripts are untrusted, and lxml escapes them (characters XML
cannot carry at all, such as NUL, are dropped first: lxml refuses them rather than escaping).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from urllib.parse import quote, urlencode

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem

from talksearch import __version__
from talksearch.library import Talk
from talksearch.schemas import SearchResponse

ATOM = "application/atom+xml; charset=utf-8"
PODCAST_NS = "https://podcastindex.org/namespace/1.0"  # Podcasting 2.0: <podcast:transcript>
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


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


def newest_first(talk: Talk) -> tuple[datetime, datetime]:
    return _when(talk.published) or _EPOCH, _when(talk.indexed_at) or _EPOCH


class _PodcastNamespace(BaseExtension):
    def extend_ns(self) -> dict[str, str]:
        return {"podcast": PODCAST_NS}


class _EntryExtras(BaseEntryExtension):
    """``<link rel="related">`` (feedgen 1.0 drops an entry link's rel) and ``<podcast:transcript>``."""

    def __init__(self) -> None:
        self.related_links: list[str] = []
        self.transcripts: list[tuple[str, str]] = []

    def related(self, url: str) -> None:
        if url.startswith(("http://", "https://")):  # a local talk's file:// media means nothing to a reader
            self.related_links.append(url)

    def transcript(self, url: str, media_type: str) -> None:
        self.transcripts.append((url, media_type))

    def extend_atom(self, entry):
        for url in self.related_links:
            xml_elem("{http://www.w3.org/2005/Atom}link", entry, href=url, rel="related")
        for url, media_type in self.transcripts:
            xml_elem(f"{{{PODCAST_NS}}}transcript", entry, url=url, type=media_type)
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
    for speaker in talk.speakers or []:
        entry.author(name=xml_text(speaker) or "unknown")
    published = _when(talk.published)
    updated = _when(talk.indexed_at) or published or _EPOCH
    entry.updated(updated)
    if published:
        entry.published(published)
    return entry


def search_feed(base: str, query: list[tuple[str, str]], response: SearchResponse,
                talks: dict[str, Talk], page_query: str) -> bytes:
    """The moments of ``response``, newest talks first (then best first within a talk). ``page_query``: the
    search page's query for it (its ``rel="alternate"``), which holds less than the feed's own."""
    qs = urlencode(query, doseq=True)
    feed = _feed(f"{base}/api/search.atom?{qs}", f"talksearch: {response.query.strip()}",
                 f"{base}/api/search.atom?{qs}", f"{base}/?{page_query}",
                 "Moments in the talks where this is said, newest talks first")
    results = [r for r in response.results if r.talk.id in talks]
    order = sorted(range(len(results)), key=lambda i: newest_first(talks[results[i].talk.id]), reverse=True)
    for i in order:  # sorted() is stable: within a talk, the search's own order
        result, talk = results[i], talks[results[i].talk.id]
        page = f"{base}{result.page}"
        minutes, seconds = divmod(int(result.start), 60)
        entry = _talk_entry(feed, talk, page, page, f"{talk.title} at {minutes}:{seconds:02d}")
        entry.extras.related(result.link if result.link.startswith("http") else f"{base}{result.link}")
        entry.content(xml_text(result.text), type="text")
    feed.updated(max((newest_first(t)[1] for t in talks.values()), default=_EPOCH))
    return feed.atom_str(pretty=True)


def talks_feed(base: str, query: list[tuple[str, str]], talks: list[Talk]) -> bytes:
    """The library's talks, newest first, each with its transcript as WebVTT (``<podcast:transcript>``).
    ``query``: the request's filters, which the feed's own address keeps (one feed per speaker, say)."""
    qs = urlencode(query, doseq=True)
    url = f"{base}/talks.atom" + (f"?{qs}" if qs else "")
    feed = _feed(url, "talksearch: talks", url, f"{base}/", "The talks in this library, with their transcripts")
    for talk in sorted(talks, key=newest_first, reverse=True):
        page = f"{base}/talks/{quote(talk.id, safe='')}"
        entry = _talk_entry(feed, talk, page, page, talk.title)
        if talk.description:
            entry.summary(xml_text(talk.description))
        entry.extras.related(talk.url)
        transcripts = f"{base}/api/talks/{quote(talk.id, safe='')}/transcript"
        entry.extras.transcript(f"{transcripts}.vtt", "text/vtt")
        entry.extras.transcript(f"{transcripts}.srt", "application/x-subrip")
    feed.updated(max((newest_first(t)[1] for t in talks), default=_EPOCH))
    return feed.atom_str(pretty=True)

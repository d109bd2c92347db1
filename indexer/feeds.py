"""What a podcast's or a conference's feed says of its items that yt-dlp's generic extractor leaves out or keeps as
markup (it reads RSS, and Atom not at all): speakers, event, date, the description as text, artwork, languages,
transcripts and chapters files, from RSS and Atom with the iTunes, Podcasting 2.0 and Media RSS namespaces; and
what it reads otherwise: an item's recording (its audio or video enclosure, else its <media:content>) and its title
(as the feed's declared encoding reads). Items are keyed as yt-dlp tells them apart, and relative URLs resolved
against where the feed was read from.
"""

from __future__ import annotations

import copy
import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from email.utils import getaddresses
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from yt_dlp.utils import parse_duration, smuggle_url

from talksearch.indexer.source_text import _filter_value
from talksearch.indexer.talk_details import _pub_date
from talksearch.media_types import MEDIA_SUFFIXES

_ITUNES = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"
_PODCAST = "{https://podcastindex.org/namespace/1.0}"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
_ATOM = "{http://www.w3.org/2005/Atom}"
_MEDIA_RSS = "{http://search.yahoo.com/mrss/}"  # Media RSS, whose <media:thumbnail> Atom feeds use for artwork
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_XHTML = "{http://www.w3.org/1999/xhtml}"
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"  # RSS 1.0's root, <rdf:RDF>
_FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml"})
# An enclosure's type that is a recording, besides audio/* and video/*: Ogg, HLS and DASH manifests
_STREAM_TYPES = frozenset({"application/ogg", "application/x-mpegurl", "application/vnd.apple.mpegurl",
                           "application/dash+xml"})
# ... and the types servers and publishing tools give a file they know no type for: a recording by its name, as one
# of no type is
_ANY_FILE_TYPES = frozenset({"application/octet-stream", "binary/octet-stream", "application/binary", "text/plain",
                             "application/download", "application/force-download", "application/x-download"})


def _feed_items(xml: bytes, feed_url: str = "") -> dict[str, dict]:
    """Per feed item, what yt-dlp's RSS reading leaves out or keeps as markup: speakers, category/event, date, the
    description as text, artwork, transcripts. Items are keyed as yt-dlp tells them apart: by <guid>, which it
    passes along with the item's URL as its id (items may share a recording: an encore of an earlier episode), else
    by enclosure URL. Relative URLs in the feed are resolved against ``feed_url``, where it was read from."""
    try:
        root = ET.fromstring(xml.lstrip())  # (blank lines before the XML declaration: a PHP script's, often)
    except ET.ParseError:
        return {}
    if root.tag == f"{_ATOM}feed":
        return _atom_feed(root, feed_url)[1]
    channel = root.find("channel")
    channel = channel if channel is not None else ET.Element("channel")
    channel_language = (channel.findtext("language") or "").strip() or None
    # the show's own credit (its itunes:author, its title) names the show, which is its channel, not a speaker
    show = {name.casefold() for name in map(_filter_value, (channel.findtext(f"{_ITUNES}author"),
                                                            channel.findtext("title"))) if name}
    channel_image = _artwork(channel, feed_url) or _absolute((channel.findtext("image/url") or "").strip(), feed_url)
    # (an item without artwork of its own shows the show's: its itunes:image, else RSS's <image>)
    channel_people = _persons(channel)  # (for an item that names no one)
    items = {}
    guids = Counter(_guid(item) for item in root.iter("item"))
    for item in root.iter("item"):
        media = _rss_recording(item, feed_url)
        if media is None:
            continue
        extra: dict = {"speakers": _credited(item, show) or channel_people}
        if item.findtext("category"):
            extra["event"] = item.findtext("category").strip()
        if item.findtext("pubDate") and (published := _pub_date(item.findtext("pubDate"))):
            extra["published"] = published
        # RSS's description is HTML (entity-escaped or CDATA); a feed without one has the same in its
        # content:encoded, or Apple's itunes:summary
        for field in ("description", f"{_CONTENT}encoded", f"{_ITUNES}summary"):
            if description := _plain_text(item.findtext(field) or ""):
                extra["description"] = description
                break
        if thumbnail := _artwork(item, feed_url) or channel_image:
            extra["thumbnail"] = thumbnail
        # an item's own <language> (outside RSS 2.0, yet written) states its talk's; the channel's only hints at it
        item_language = (item.findtext("language") or "").strip() or None
        extra.update(_podcast_extras(item, feed_url, item_language, channel_language))
        guid = _guid(item)
        items[_item_key(guid, media, guids[guid] > 1)] = extra
    return items


def _rss_listing(xml: bytes, feed_url: str) -> tuple[str | None, list[dict]] | None:
    """An RSS feed's title and, for each of its items (``channel/item``), what talksearch reads of it where yt-dlp's
    generic extractor reads otherwise: its title as the XML declares its encoding (yt-dlp guesses it, and a
    windows-1252 feed's "Café" was "Caf�"), its recording (``_rss_recording``: its first enclosure was taken, cover
    art first or not, and Media RSS's not at all), its guid and whether yt-dlp lists it
    (``listed``: it lists an item by its first enclosure, else its <link>). None for no RSS document."""
    try:
        root = ET.fromstring(xml.lstrip())
    except ET.ParseError:
        return None
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        return None
    items = []
    for item in channel.findall("item"):
        enclosures = item.findall("enclosure")
        title = (item.findtext("title") or "").strip() or None
        # (its guid as yt-dlp passes it along, a blank one too: Sources._expand_info tells what an earlier run made
        # of that)
        items.append({"title": title, "media": _rss_recording(item, feed_url), "guid": item.findtext("guid"),
                      "listed": bool(enclosures[0].get("url") if enclosures else item.findtext("link"))})
    return (channel.findtext("title") or "").strip() or None, items


def _as_read(entries: list[dict], items: list[dict]) -> list[dict]:
    """yt-dlp's listing of an RSS feed (``entries``) as talksearch reads the feed (``_rss_listing``'s ``items``):
    each entry's title and URL (its recording's, its guid passed along as yt-dlp passes it) the item's, and an
    entry for each item with a recording that yt-dlp lists none for (Media RSS without a <link>). The entries as
    they are where the two differ in what they list (yt-dlp read another document: its listing stands)."""
    if len(entries) != sum(item["listed"] for item in items):
        return entries
    remaining = iter(entries)
    read = []
    for item in items:
        entry = next(remaining) if item["listed"] else None
        if item["media"] is None:  # no recording by talksearch's reading: yt-dlp's word on it stands (its <link>)
            read += [entry] if entry is not None else []
            continue
        entry = entry or {"_type": "url_transparent"}
        url = smuggle_url(item["media"], {"force_videoid": item["guid"]}) if item["guid"] else item["media"]
        read.append({**entry, "url": url, "title": item["title"] or entry.get("title")})
    return read


def _a_recording(kind: str | None, url: str) -> bool:
    """Whether an enclosure (or Media RSS content) of type ``kind`` at ``url`` is a recording: of an audio or
    video type, or of a type that says nothing (none, or a file's of no known type) and named as a recording is
    (``MEDIA_SUFFIXES``)."""
    kind = (kind or "").split(";")[0].strip().lower()
    if kind.startswith(("audio/", "video/")) or kind in _STREAM_TYPES:
        return True
    return (not kind or kind in _ANY_FILE_TYPES) and os.path.splitext(urlsplit(url).path)[1].lower() in MEDIA_SUFFIXES


def _rss_recording(item: ET.Element, feed_url: str) -> str | None:
    """An RSS item's recording: its first <enclosure> that is one (``_a_recording``: not the cover art some list
    first), as an Atom entry's; else its Media RSS content (``_media_content``); else its first enclosure, whatever
    it is (what its download then says of it stands)."""
    enclosures = [enclosure for enclosure in item.findall("enclosure") if enclosure.get("url")]
    chosen = next((e for e in enclosures if _a_recording(e.get("type"), e.get("url").strip())), None)
    if chosen is None and (content := _media_content(item, feed_url)):
        return content
    chosen = chosen if chosen is not None else next(iter(enclosures), None)
    # (unstripped, as yt-dlp lists it: an item's details are keyed by the URL listed)
    return _absolute(chosen.get("url"), feed_url) if chosen is not None else None


def _media_content(element: ET.Element, feed_url: str) -> str | None:
    """The recording Media RSS gives an item or entry: its first <media:content> of audio or video (by its type,
    else its medium), in it or in a <media:group> of renditions, where the one marked isDefault comes first."""
    recordings = [content for content in element.iter(f"{_MEDIA_RSS}content")
                  if (url := (content.get("url") or "").strip())
                  and (_a_recording(content.get("type"), url)
                       or not content.get("type") and content.get("medium") in ("audio", "video"))]
    chosen = next((c for c in recordings if c.get("isDefault") == "true"), next(iter(recordings), None))
    return _absolute(chosen.get("url").strip(), feed_url) if chosen is not None else None


def _guid(item: ET.Element) -> str | None:
    """An RSS item's <guid> unstripped, as yt-dlp's generic extractor passes it along as the item's id
    (force_videoid); None for none, and for one of white space only ("<guid>\n    </guid>"), which is none."""
    guid = item.findtext("guid")
    return guid if guid and guid.strip() else None


def _item_key(guid: str | None, media: str, repeated: bool) -> str:
    """What a feed item's details are keyed by: its guid (or an Atom entry's <id>), else its recording's URL
    (``media``); a guid the feed gives other items too (a copied item left unchanged), with the URL beside it,
    so that each keeps its own details (the last one's were all of theirs)."""
    if guid is None:
        return media
    return f"{guid} {media}" if repeated else guid


def _podcast_extras(item: ET.Element, feed_url: str, language: str | None, channel_language: str | None) -> dict:
    """What a feed's item (an RSS <item>, an Atom <entry>) says in Podcasting 2.0's namespace, with the languages
    its feed states: the item's own (``language``), and the one for the whole feed, only a hint."""
    extra: dict = {}
    # Podcasting 2.0 transcripts: <podcast:transcript url type language rel/> (the transcript's language, else the
    # item's; not the channel's, a hint that whisper checks: TalkProcessor._heard_language)
    extra["transcripts"] = [
        {"url": _absolute(t.get("url"), feed_url), "type": (t.get("type") or "").strip().lower(),
         "language": t.get("language") or language}
        for t in item.findall(f"{_PODCAST}transcript") if t.get("url")
    ]
    # Podcasting 2.0 chapters: <podcast:chapters url type="application/json+chapters"/>, a JSON file read when
    # the talk is fetched (Sources._feed_chapters)
    chapters = item.find(f"{_PODCAST}chapters")
    if chapters is not None and (chapters.get("url") or "").strip():
        extra["chapters_url"] = _absolute(chapters.get("url").strip(), feed_url)
    extra["language"] = language
    extra["channel_language"] = channel_language
    return extra


def _atom_feed(root: ET.Element, feed_url: str) -> tuple[list[dict], dict[str, dict]]:
    """An Atom feed (RFC 4287), which yt-dlp's generic extractor does not read (it reads RSS), as it lists an RSS
    feed: the entries that have a recording (``_atom_enclosure``), each a ``url_transparent`` result for it with
    the entry's <id> passed along as yt-dlp passes an item's <guid> (its id, and so its archive key), its title and
    its own artwork; and what ``_feed_items`` gives of an RSS item, of each, keyed alike. The entry maps onto RSS's
    item: <published> (else <updated>) is its <pubDate>, its <summary> (else its <content>) its description, its
    <author>s' names its speakers (unless it has <podcast:person>s; the feed's own <author> is its publisher, as an
    RSS channel's credit is), its first <category> its event, its xml:lang its language (the feed's only a hint).
    Entries without a recording are left out."""
    feed_language = (root.get(_XML_LANG) or "").strip() or None
    feed_image = (_artwork(root, feed_url) or _absolute((root.findtext(f"{_ATOM}logo") or "").strip(), feed_url)
                  or None)
    feed_people = _persons(root)  # (for an entry that names no one)
    # another talksearch's /talks.atom: an entry's <updated> is when that library indexed the talk, not its date
    talksearch = (root.findtext(f"{_ATOM}generator") or "").strip() == "talksearch"
    listed, items = [], {}
    ids = Counter((entry.findtext(f"{_ATOM}id") or "").strip() or None for entry in root.findall(f"{_ATOM}entry")
                  if _atom_enclosure(entry, feed_url))  # (as they are listed: those with a recording)
    for entry in root.findall(f"{_ATOM}entry"):
        media = _atom_enclosure(entry, feed_url)
        if media is None:
            continue
        extra: dict = {"speakers": _persons(entry) or _distinct(
            name for author in entry.findall(f"{_ATOM}author") for name in _people(author.findtext(f"{_ATOM}name")))
            or feed_people}
        category = entry.find(f"{_ATOM}category")
        if category is not None and (event := _filter_value(category.get("label") or category.get("term"))):
            extra["event"] = event
        for field in ("published",) if talksearch else ("published", "updated"):
            if (written := entry.findtext(f"{_ATOM}{field}")) and (published := _pub_date(written)):
                extra["published"] = published
                break
        for field in ("summary", "content"):
            if description := _atom_text(entry.find(f"{_ATOM}{field}")):
                extra["description"] = description
                break
        if channel := _filter_value(entry.findtext(f"{_ATOM}source/{_ATOM}title")):  # the feed it was copied from
            extra["channel"] = channel
        artwork = _atom_artwork(entry, feed_url)
        if thumbnail := artwork or feed_image:
            extra["thumbnail"] = thumbnail
        extra.update(_podcast_extras(entry, feed_url, (entry.get(_XML_LANG) or "").strip() or None, feed_language))
        entry_id = (entry.findtext(f"{_ATOM}id") or "").strip() or None
        title = _atom_text(entry.find(f"{_ATOM}title"))
        # its length as an RSS item's (yt-dlp reads an item's itunes:duration), which podcast feeds in Atom write too
        duration = parse_duration((entry.findtext(f"{_ITUNES}duration") or "").strip() or None)
        listed.append({"_type": "url_transparent", "url": smuggle_url(media, {"force_videoid": entry_id})
                       if entry_id else media, "title": " ".join(title.split()) if title else None,
                       "thumbnail": artwork, "duration": duration if duration and duration > 0 else None})
        items[_item_key(entry_id, media, ids[entry_id] > 1)] = extra
    return listed, items


def _atom_enclosure(entry: ET.Element, feed_url: str) -> str | None:
    """An Atom entry's recording: the first <link rel="enclosure"> that is one (``_a_recording``: of an audio or
    video type, or of a type that says nothing whose file is named as a recording is); else its Media RSS
    content."""
    for link in entry.findall(f"{_ATOM}link"):
        href = (link.get("href") or "").strip()
        if link.get("rel") == "enclosure" and href and _a_recording(link.get("type"), href):
            return _absolute(href, feed_url)
    return _media_content(entry, feed_url)


def _atom_artwork(entry: ET.Element, feed_url: str) -> str | None:
    """An Atom entry's own artwork: its <media:thumbnail>, its itunes:image, else an image it links as an
    enclosure."""
    thumbnail = entry.find(f"{_MEDIA_RSS}thumbnail")
    if thumbnail is not None and (url := (thumbnail.get("url") or "").strip()):
        return _absolute(url, feed_url)
    if artwork := _artwork(entry, feed_url):
        return artwork
    for link in entry.findall(f"{_ATOM}link"):
        href = (link.get("href") or "").strip()
        if link.get("rel") == "enclosure" and (link.get("type") or "").lower().startswith("image/") and href:
            return _absolute(href, feed_url)
    return None


def _atom_text(element: ET.Element | None) -> str | None:
    """An Atom text construct (a <title>, <summary> or <content>) as the text a reader of it sees: ``type="text"``
    as written (its lines kept), ``"html"`` (escaped markup) and ``"xhtml"`` (a <div> of markup) as _plain_text
    reads HTML. A <content> that is elsewhere (``src``) or of another type (a picture, base64) says nothing."""
    if element is None or element.get("src"):
        return None
    kind = (element.get("type") or "text").strip().lower()
    if kind == "xhtml":
        div = element.find(f"{_XHTML}div")
        if div is None:
            return None
        markup = copy.deepcopy(div)  # its tags unqualified, as HTML's are
        markup.tail = None
        for node in markup.iter():
            node.tag = node.tag.rpartition("}")[2]
        return _plain_text(ET.tostring(markup, encoding="unicode"))
    if kind in ("html", "text/html"):
        return _plain_text(element.text or "")
    if kind == "text" or kind.startswith("text/"):
        return "\n".join(line.strip() for line in (element.text or "").splitlines()).strip() or None
    return None


def _no_recordings(root: ET.Element) -> str:
    """Why an Atom feed gives no talks, in one line."""
    if (root.findtext(f"{_ATOM}generator") or "").strip() == "talksearch":
        return ("a talksearch feed: its entries are talk pages, not recordings; nothing to index (index the talks' "
                'own sources, which its entries link as rel="related")')
    entries = len(root.findall(f"{_ATOM}entry"))
    if not entries:
        return "an Atom feed without entries"
    return (f"an Atom feed without media: none of its {entries} entr{'y' if entries == 1 else 'ies'} links an "
            'audio or video enclosure (<link rel="enclosure">)')


class _FeedLinks(HTMLParser):
    """The feeds an HTML page links in its head (``<link rel="alternate" type="application/rss+xml" href>``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.feeds: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if (tag == "link" and "alternate" in attributes.get("rel", "").lower().split()
                and attributes.get("type", "").split(";")[0].strip().lower() in _FEED_TYPES
                and attributes.get("href", "").strip()):
            self.feeds.append(attributes["href"].strip())


def _linked_feed(document: bytes, page_url: str) -> str | None:
    """The first feed an HTML page links (a show's page, named for its feed), its URL resolved against the page's;
    None for none."""
    parser = _FeedLinks()
    parser.feed(document.decode("utf-8", "replace"))
    parser.close()
    return _absolute(parser.feeds[0], page_url) if parser.feeds else None


def _absolute(url: str, feed_url: str) -> str:
    """A URL from a feed, resolved against the feed's own URL when it is relative (``<enclosure url="ep1.mp3">``)."""
    try:
        return url if not url or urlsplit(url).scheme else urljoin(feed_url, url)
    except ValueError:  # "http://[::1": not a URL to resolve; what reads it says so
        return url


def _artwork(element: ET.Element, feed_url: str) -> str | None:
    """The artwork an item or channel names as its itunes:image."""
    image = element.find(f"{_ITUNES}image")
    return _absolute((image.get("href") or "").strip(), feed_url) or None if image is not None else None


def _credited(item: ET.Element, show: set[str]) -> list[str]:
    """Who a feed item names as its speakers, most specific first: its <podcast:person>s (any role: a host,
    a guest); else the names in its <author>, which RSS writes "jane@example.org (Jane Doe)" (a bare address
    names no one); else its itunes:author, unless that is the show's own credit (``show``)."""
    if people := _persons(item):
        return people
    author = _filter_value(item.findtext("author")) or ""
    if names := (_distinct(name for name, _ in getaddresses([author])) if "@" in author else _people(author)):
        return names
    credit = _filter_value(item.findtext(f"{_ITUNES}author"))
    return _people(credit) if credit and credit.casefold() not in show else []


def _persons(element: ET.Element) -> list[str]:
    return _distinct(person.text for person in element.findall(f"{_PODCAST}person"))


_AND = re.compile(r"\s+(?:and|&)\s+")  # "Ann Lee and Bo Chen", "Ann Lee & Bo Chen"


def _people(credit: str | None) -> list[str]:
    """The people a credit lists: "Ann Lee, Bo Chen and Cy Diaz" (also with a comma before "and"), or "Ann Lee and
    Bo Chen", where each side is more than one word ("&" as "and": "Ann Lee & Bo Chen, Acme" is two and a company).
    Any other "and" is part of one name: "Rock and Roll Radio", "Simon & Garfunkel"."""
    parts = (credit or "").split(",")
    names: list[str] = []
    for index, part in enumerate(parts):
        sides = _AND.split(part)
        if len(parts) > 1 and index == len(parts) - 1:  # a list's last: its last "and" joins the last two
            part = re.sub(r"^\s*(?:and|&)\s+", "", part)
            joins = list(_AND.finditer(part))
            names += [part[:joins[-1].start()], part[joins[-1].end():]] if joins else [part]
        elif all(len(side.split()) > 1 for side in sides):
            names += sides
        else:
            names.append(part)
    return _distinct(names)


def _distinct(names) -> list[str]:
    """Names as the filters match them (_filter_value), each once, in the order given."""
    return list(dict.fromkeys(name for name in map(_filter_value, names) if name))


class _TextOfHTML(HTMLParser):
    """The text of an HTML fragment: character references read, tags dropped, a block's start and end a line break
    (a paragraph, a list item, a <br>), script and style left out."""

    BLOCKS = frozenset({"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
                        "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "pre",
                        "section", "table", "td", "th", "tr", "ul"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str | None] = []  # the text, None where a line breaks
        self.tagged = False
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        self.tagged = True
        if tag in ("script", "style"):
            self._hidden += 1
        elif tag in self.BLOCKS:
            self.chunks.append(None)

    def handle_endtag(self, tag: str) -> None:
        self.tagged = True
        if tag in ("script", "style"):
            self._hidden = max(self._hidden - 1, 0)
        elif tag in self.BLOCKS:
            self.chunks.append(None)

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.chunks.append(data)


def _plain_text(markup: str) -> str | None:
    """A feed's description as the text a reader of it sees. In markup, white space is one space and lines are
    where blocks are; a description without a tag is plain text, its own line breaks kept."""
    parser = _TextOfHTML()
    parser.feed(markup)
    parser.close()
    if parser.tagged:
        text = "".join("\n" if chunk is None else re.sub(r"\s+", " ", chunk) for chunk in parser.chunks)
    else:
        text = "".join(parser.chunks)
    lines = (" ".join(line.split()) if parser.tagged else line.strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line or not parser.tagged).strip() or None

"""Turn what the user named (URLs, feeds, playlists, channels, files, folders) into talks to index.

Everything remote goes through yt-dlp's Python API: its extractors list playlists and channels, its
generic extractor reads RSS/podcast feeds and pages with media, and its archive check (fed from the
library catalog) skips talks that are already indexed, keyed by extractor and id as its own
``--download-archive`` is. Local files never touch yt-dlp.
"""

from __future__ import annotations

import calendar
import copy
import dataclasses
import functools
import hashlib
import json
import math
import os
import re
import threading
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import getaddresses, parsedate_to_datetime, parsedate_tz
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urljoin, urlsplit, urlunsplit
from urllib.request import url2pathname

import av
import yt_dlp
from yt_dlp.extractor.generic import GenericIE
from yt_dlp.networking.exceptions import HTTPError
from yt_dlp.utils import DownloadCancelled, make_archive_id, smuggle_url, unified_strdate, unified_timestamp, unsmuggle_url

from talksearch.indexer import caption_sources
from talksearch.indexer.audio import media_chapters, media_duration
from talksearch.indexer.caption_sources import CaptionTrack, CaptionTranscript
from talksearch.indexer.captions import CaptionError
from talksearch.indexer.detail_rules import DetailRules

from talksearch.language_codes import base_language, source_language
from talksearch.settings import default
from talksearch.library import TALK_DETAILS, Talk, archive_id, talk_id
from talksearch.library.layout import CATALOG
from talksearch.media_types import MEDIA_SUFFIXES, recording_path  # what a folder's walk takes: the suffixes /media serves a type for
from talksearch.text import printable, without_controls
from talksearch.timecode import clock

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_REDIRECTS = 5  # a URL that leads to a URL that leads to ...: followed this far when listing
# A publisher's file read whole (_read_url: a feed's chapters file, a transcript): refused past this size rather than
# held in memory. A 3-hour talk's transcript is a few MB (WebVTT with a cue every few seconds is ~1 MB; JSON with each
# word's times ~5 MB), a chapters file a few KB: 20 MB leaves room for any real one.
_URL_LIMIT_MB = 20
_LONGEST_FILE_NAME = 200  # bytes: a file system's 255, less what yt-dlp adds to a download's name (".part", ".ytdl")
_URL_PIECE = 1 << 20  # bytes read at a time, so that what is read stays within the limit plus a piece
# ... and refused when reading it takes longer than this in all: yt-dlp's socket timeout is per read, which a server
# that trickles a byte every few seconds never meets, while the run waits on the talk (holding the writer's lock)
_URL_DEADLINE_S = 60
_RANGE_PROBE_S = 10  # seconds a host has to answer whether it takes Range requests (Sources._unseekable)
# A talk's download is abandoned when it averages less than this over `download_stall_seconds` (a server that
# trickles a byte every few seconds, or one that went quiet mid-file), counted as yt-dlp reports its progress: a
# block at a time, each about a second's worth at the rate the download had.
_STALL_BYTES_PER_S = 1024
# A source's free text is its publisher's word, kept up to sizes no real talk's reaches: a hostile feed's 1 MB <title>
# went before every passage's embedding text (passages.embedding_texts), and indexing its talk never finished (100 KB:
# 80 s and 1.2 GB, in the tokenizer). Characters kept (``_capped``) of ...
_LINE = 300  # ... a talk's title, channel or event, or one speaker's name: a line
_CHAPTER_TITLE = 200  # ... a chapter's title: a line of a table of contents, not a description
_DESCRIPTION = 20_000  # ... a description (stored and shown; nothing reads it into a model): pages of show notes
_SPEAKERS = 50  # names kept of a talk's speakers: a panel, not a conference's list of attendees
_CHAPTERS = 1000  # chapters kept of a talk: a table of contents (a day-long stream's has a few hundred at most)
_CUT_WORD = re.compile(r"\s\S*\Z")  # the last word of a text, and the space before it
_NO_MEDIA = "no media found on this page (yt-dlp: Unsupported URL)"


class SourceError(Exception):
    """A source or one of its items cannot be used; the message says why in one line."""


class ListedTwice(Exception):
    """The talk was already taken earlier in this run (a feed or list naming it twice)."""


@dataclass
class Candidate:
    """One talk to index, before its audio is fetched."""

    source: str  # what the user named, for messages
    label: str  # a title or URL, for messages
    entry: dict | None = None  # yt-dlp (flat) entry, for remote talks
    path: Path | None = None  # for local files
    context: dict | None = None  # metadata from the enclosing playlist or feed
    # The URL the user named, when it is the talk itself: what keys a media URL's recording (Sources._distinct_id)
    # when yt-dlp has followed it to where it redirects now. (A feed item's is its entry's URL.)
    listed: str | None = None


@dataclass
class PendingCaptions:
    """Captions offered in several languages for a talk nothing names the language of
    (``caption_sources.needs_language``): chosen by the language whisper hears in its recording, which
    TalkProcessor detects (a few seconds, only then), or refused for the reason ``refused`` when it cannot."""

    read: Callable[[str], tuple[CaptionTranscript | None, str | None]]  # the language heard → as _read_captions
    refused: str


@dataclass
class Fetched:
    """A talk whose metadata is known, with its captions read or its audio on disk (or both, with --keep-media)."""

    talk: Talk
    audio: Path | None  # None when captions stand in for the audio and nothing was downloaded
    downloaded: bool  # True when the file is ours to delete after indexing
    captions: CaptionTranscript | None = None  # the words, when captions are used instead of Whisper
    captions_refused: str | None = None  # why the talk's captions were not used (one line), when it has some;
    # and why its feed's chapters file was not read (Sources._feed_chapters), and that its host cannot seek
    # (Sources._unseekable), each after a "; ": the talk's notes for its line
    pending_captions: PendingCaptions | None = None  # captions whose choice waits on the language whisper hears
    # The spoken language as only its feed's channel states it (``<channel><language>``): one for the whole show,
    # which a conference's feed of talks in several languages states too. A hint, not the talk's language
    # (``talk.language``, which its item, its site, its captions or --language state): TalkProcessor has whisper's
    # detection check it.
    channel_language: str | None = None
    # The media's URL as yt-dlp resolved it, when captions stood in for a download: its opening minutes can be
    # read as a stream (the talk's language, when neither the source nor the captions say it).
    media_stream: str | None = None
    # A local recording met at a path the library records for another talk (its recording was replaced there, by
    # a new one or by one the library knows: moved or copied there): that talk's id; it is retired, so one path
    # never holds two talks (by the writer: as the new one is committed, or at the end of the run where a known one
    # took its place, unless the run met its recording at another path).
    replaces: str | None = None
    # A known local recording met at a new path, the one its talk records no longer holding it (moved, renamed):
    # the URL its talk had. Nothing to transcribe: the writer points the talk at ``talk``'s URLs.
    moved_from: str | None = None
    # With ``moved_from``: the talk recorded at this path, its recording now at ``moved_from`` (the two swapped
    # places): that talk's id. It follows its recording there instead of being replaced.
    swapped: str | None = None
    # A known local recording met at another path than its talk's, which still holds it (a copy): that path's URL.
    # Nothing to index: its talk stays there, and the one recorded at this path (``replaces``) is retired.
    copy_of: str | None = None


def clean_error(exc: BaseException) -> str:
    text = _ANSI.sub("", str(exc)).strip()
    text = re.sub(r"^ERROR:\s*", "", text)
    text = re.sub(r"^\[[\w:]+\]\s*(\S+:\s*)?", "", text)
    text = text.splitlines()[0] if text else type(exc).__name__
    # yt-dlp asks for a bug report where it cannot tell a bad source from its own bug (TLS failures): not ours to pass on
    text = re.sub(r"[;,.]?\s*(please report this issue on|confirm you are on the latest version)\b.*$", "", text,
                  flags=re.IGNORECASE)
    # yt-dlp repeats the cause ("... (caused by <HTTPError 404: ...>)") and urllib3 names its pool: one line is enough
    text = re.sub(r"\s*\(caused by .*\)$", "", text)
    text = re.sub(r"\s*\(_ssl\.c:\d+\)", "", text)  # where in CPython's ssl module: "self-signed certificate (_ssl.c:1006)"
    if re.fullmatch(r"Unsupported URL: https?://\S+", text):  # the generic extractor's word for a page without media
        text = _NO_MEDIA
    text = re.sub(r"HTTPS?ConnectionPool\(host='([^']*)', port=(\d+)\): ", r"\1:\2: ", text)
    text = re.sub(r"#__youtubedl_smuggle=[^\s'\"]*", "", text)  # what yt-dlp passes along with a URL (a feed's guid)
    # A download's retries given up: yt-dlp's "Got error: " before urllib3's words, which for a reset are the tuple
    # of its exception ("('Connection broken: ConnectionResetError(104, 'Connection reset by peer')', …)")
    text = re.sub(r"^Got error: ", "", text)
    text = re.sub(r"""^\(["']Connection broken: \w+\(\d+, ["']([^"']*)["']\)["'], .*?\)\)(\.)?""",
                  r"connection broken: \1\2", text)
    text = re.sub(r"^(\d+ bytes read, \d+ more expected)", r"the transfer stopped short: \1", text)
    return re.sub(r"\.\.(\s|$)", r".\1", text)  # "Read timed out.. Giving up"


def is_url(source: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", source))


class _Quiet:
    """yt-dlp logger: errors surface as exceptions we report ourselves, the rest is noise here."""

    def debug(self, msg: str) -> None: ...
    def info(self, msg: str) -> None: ...
    def warning(self, msg: str) -> None: ...
    def error(self, msg: str) -> None: ...


class DownloadRefused(DownloadCancelled):
    """A download stopped by one of the run's limits (size, stall, a live stream); the message says which, in one
    line. yt-dlp lets a DownloadCancelled from a progress hook or a match filter through, where it retries others."""


class _DownloadWatch:
    """One download's progress against the limits: fed by yt-dlp's progress hook, and checked once a second by a
    thread of its own, since the hook only runs when a block has arrived, which a trickling server never completes.
    On a stall that thread shuts the connection being read (``response``), so the blocked read returns. With a
    ``deadline`` (seconds), the same once that much time has passed, whatever the pace: ``reading`` says what
    (a feed or a page, which a server sending a byte at a time held for ever: a read's timeout is per byte)."""

    def __init__(self, stall_seconds: float, deadline: float | None = None, reading: str = ""):
        self.stall_seconds = stall_seconds
        self.deadline, self.reading = deadline, reading
        self.busy: str | None = None  # what a busy server answered the request waiting on it (_WatchedDL.urlopen)
        self.refusal: str | None = None  # why the download was stopped, once it is
        self.response = None  # the connection the download reads from now (``_WatchedDL.urlopen``)
        self.stated: int | None = None  # the largest size a response stated (its Content-Length / Content-Range)
        self.part: str | None = None  # the file being written
        self.oversize = False  # stopped for its size: its partial file is not to be resumed
        self.done = 0  # bytes downloaded so far
        self._mark = (time.monotonic(), 0)  # since when, from how many bytes, the rate is measured
        self._ended = threading.Event()

    def __enter__(self) -> _DownloadWatch:
        threading.Thread(target=self._check, name="download-watch", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._ended.set()

    def _check(self) -> None:
        started = time.monotonic()
        while not self._ended.wait(1.0):
            since, then = self._mark
            now = time.monotonic()
            if self.deadline is not None and now - started >= self.deadline:
                self.refusal = f"{self.reading} took longer than {self.deadline:g} s{self._busy()}"
                self._interrupt()
                return
            if self.done - then >= _STALL_BYTES_PER_S * self.stall_seconds:
                self._mark = (now, self.done)
            elif now - since >= self.stall_seconds:
                self.refusal = (f"the download stalled: under {_STALL_BYTES_PER_S // 1024} KiB/s for "
                                f"{self.stall_seconds:g} s (setting download_stall_seconds){self._busy()}")
                self._interrupt()
                return

    def _busy(self) -> str:
        return f"; the server kept answering {self.busy} (busy)" if self.busy else ""

    def _interrupt(self) -> None:
        """End the blocked read: urllib3's response (yt-dlp's requests handler) shuts its socket from another
        thread; yt-dlp's own urllib handler's is closed. yt-dlp's retry then meets ``refusal`` (_WatchedDL)."""
        fp = getattr(self.response, "fp", None)
        try:
            if callable(getattr(fp, "shutdown", None)):
                fp.shutdown()
            elif self.response is not None:
                self.response.close()
        except Exception:  # already released or closed: the read has ended anyway
            pass


class _WatchedDL(yt_dlp.YoutubeDL):
    """yt-dlp, its requests seen by the download being watched (``watch``, only while one is): the connection it
    reads from, which a stall shuts; the size each response states; and a request made after a limit stopped the
    download (yt-dlp retrying it) refused instead. Every request (a feed's, a page's, a download's) is asked again
    when the server is busy for a moment (``_TRANSIENT``)."""

    watch: _DownloadWatch | None = None

    def prepare_filename(self, info_dict, *args, **kwargs):
        """yt-dlp's file name for a download, its stem shortened where a long id (a feed's URL-like guid) would make
        it longer than file systems take (255 bytes, less room for ".part" and the like): to its start and a
        digest of the whole, so that two ids alike for their first 150 characters keep two files."""
        path = Path(super().prepare_filename(info_dict, *args, **kwargs))
        if len(os.fsencode(path.name)) <= _LONGEST_FILE_NAME:
            return str(path)
        digest = hashlib.sha256(os.fsencode(path.stem)).hexdigest()[:16]
        start = os.fsencode(path.stem)[:_LONGEST_FILE_NAME - len(digest) - 1 - len(os.fsencode(path.suffix))]
        return str(path.with_name(f"{os.fsdecode(start)}-{digest}{path.suffix}"))

    def urlopen(self, req):
        waited = 0.0
        for pause in (*_TRANSIENT_PAUSES_S, None):
            watch = self.watch
            if watch is not None and watch.refusal:
                raise DownloadRefused(watch.refusal)
            try:
                response = super().urlopen(req)
                break
            except HTTPError as exc:
                if exc.status not in _TRANSIENT or pause is None:
                    raise
                if watch is not None:  # said if the watch stops it meanwhile: a busy server, not a slow one
                    watch.busy = f"HTTP {exc.status}"
                wait = _retry_pause(exc, pause, waited)
                exc.close()  # its connection back to the pool while we wait
                time.sleep(wait)
                waited += wait
        if watch is not None:
            watch.busy = None
            watch.response = response
            stated = _stated_size(response.headers)
            watch.stated = max(watch.stated or 0, stated or 0) or None
        return response


# What a busy, restarting or rate-limiting server answers for a while (RFC 9110 §15.6, RFC 6585): the request is
# made again after a pause, the one its Retry-After asks for, else each of these in turn. yt-dlp retries a
# download's 5xx at once (three times within a second), and a feed's, a page's or any 429 not at all: a server's
# restart failed every talk it was asked for then.
_TRANSIENT = frozenset({429, 500, 502, 503, 504})
_TRANSIENT_PAUSES_S = (1.0, 2.0, 4.0)
# The longest a request waits on a busy server in all: longer is the server's to ask, not a run's to sit through
# (and within the minute a feed or page is read in, so that the error says the server was busy)
_RETRY_AFTER_MAX_S = 30.0


def _retry_pause(exc: HTTPError, pause: float, waited: float) -> float:
    """How long to wait before asking again: what the answer's Retry-After says (seconds or an HTTP date), else
    ``pause``. Raises ``exc``, saying what the server asked for, when that would take the request's waits
    (``waited`` so far) past ``_RETRY_AFTER_MAX_S``."""
    asked = (exc.response.headers.get("Retry-After") or "").strip()
    if re.fullmatch(r"[0-9]{1,9}", asked):  # ASCII digits: str.isdigit takes "²", which float() refuses
        wait = float(asked)
    else:
        try:
            wait = (parsedate_to_datetime(asked) - datetime.now(timezone.utc)).total_seconds()
        except (TypeError, ValueError):  # none, or not a date: our own pause
            wait = pause
    wait = max(wait, 0.0)
    if waited + wait > _RETRY_AFTER_MAX_S:
        after = f", after {waited:g} s of waiting" if waited else ""
        exc.msg = f"{exc.msg} (the server asks to be asked again in {clock(wait)}{after})"
        exc.args = (exc.msg,)
        raise exc
    return wait


def _stated_size(headers) -> int | None:
    """The whole file's size a response states: a range's total (``bytes 0-99/1234``), else its Content-Length."""
    total = re.fullmatch(r"\s*bytes\s+[\d*-]+/(\d+)\s*", headers.get("Content-Range") or "")
    length = (headers.get("Content-Length") or "").strip()
    return int(total[1]) if total else int(length) if length.isdigit() else None


class CatalogArchive:
    """yt-dlp's ``download_archive`` accepts a set; this one answers from the library catalog."""

    def __init__(self, contains: Callable[[str], bool]):
        self._contains = contains

    def __contains__(self, key: str) -> bool:
        return self._contains(key)

    def __bool__(self) -> bool:
        return True

    def add(self, key: str) -> None:  # the library records a talk when it commits it
        pass


def _published(info: dict) -> str | None:
    """The date a talk was published, by what yt-dlp knows: its release (a premiere, a talk uploaded before it was
    given) before its upload, and each as a timestamp (its UTC date) before a date."""
    for stamp, date in (("release_timestamp", "release_date"), ("timestamp", "upload_date")):
        if isinstance(info.get(stamp), (int, float)):
            try:
                return datetime.fromtimestamp(info[stamp], timezone.utc).date().isoformat()
            except (OverflowError, OSError, ValueError):  # beyond datetime's years, NaN: not a date
                pass
        if info.get(date):
            return f"{info[date][:4]}-{info[date][4:6]}-{info[date][6:8]}"
    return None


def _pub_date(text: str) -> str | None:
    """A feed item's <pubDate> as the calendar date it is written in, in the publisher's own offset: RFC 822 as
    RSS has it, or ISO 8601, which feeds write too. Both are read the same way, so the same instant written either
    way is filed under the same day (what a reader of the feed sees), not under its UTC date. Any other form
    feeds write ("March 1, 2024", "Fri, 1 Mar 2024") is read as yt-dlp reads it: as written, else its UTC date;
    a number alone as seconds since 1970 (its UTC date). A date past the calendar's years (a typo's "20244") is
    none: the item is undated, the feed's other items are read as ever (it failed the whole feed)."""
    try:
        return _written_date(text.strip())
    except (OverflowError, OSError, ValueError):
        return None


def _written_date(text: str) -> str | None:
    if re.fullmatch(r"\d{9,11}", text):  # yt-dlp's reading took its digits for a YYYYMMDD (1709-03-03)
        return datetime.fromtimestamp(int(text), timezone.utc).date().isoformat()
    try:
        return parsedate_to_datetime(text).date().isoformat()
    except (TypeError, ValueError):
        if _past_the_month(text):  # "31 Feb 2024 10:00": yt-dlp's reading below rolls it into March
            return None
    # RFC 822 without its time ("Tue, 12 Mar 2024", "Fri, 1 Mar 2024 GMT"), which email's parser refuses, and yt-dlp's
    # too with its weekday or zone: the day as written (without a time, a zone moves it to no other day)
    day_only = re.fullmatch(r"(?:[A-Za-z]+,\s*)?(\d{1,2}\s+[A-Za-z]+\s+\d{4})(?:\s+(?:[A-Za-z]+|[+-]\d{4}))?", text)
    text = day_only[1] if day_only else text
    try:
        return datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        pass
    if written := unified_strdate(text):
        return datetime.strptime(written, "%Y%m%d").date().isoformat()  # (a day of the calendar, or ValueError)
    stamp = unified_timestamp(text)
    return datetime.fromtimestamp(stamp, timezone.utc).date().isoformat() if stamp is not None else None


def _past_the_month(text: str) -> bool:
    """Whether ``text`` is an RFC 822 date on a day its month does not have (31 February, 31 April)."""
    written = parsedate_tz(text)
    if written is None or not 1 <= written[1] <= 12:
        return False
    year, month, day = written[:3]
    return day > (29 if month == 2 and calendar.isleap(year) else calendar.mdays[month])


_ITUNES = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"
_PODCAST = "{https://podcastindex.org/namespace/1.0}"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
_ATOM = "{http://www.w3.org/2005/Atom}"
_MEDIA_RSS = "{http://search.yahoo.com/mrss/}"  # Media RSS, whose <media:thumbnail> Atom feeds use for artwork
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_XHTML = "{http://www.w3.org/1999/xhtml}"
# An Atom enclosure's type that is a recording, besides audio/* and video/*: Ogg, HLS and DASH manifests
_STREAM_TYPES = frozenset({"application/ogg", "application/x-mpegurl", "application/vnd.apple.mpegurl",
                           "application/dash+xml"})


def _feed_items(xml: bytes, feed_url: str = "") -> dict[str, dict]:
    """Per feed item, what yt-dlp's RSS reading leaves out or keeps as markup: speakers, category/event, date, the
    description as text, artwork, transcripts. Items are keyed as yt-dlp tells them apart: by <guid>, which it
    passes along with the item's URL as its id (items may share a recording: an encore of an earlier episode), else
    by enclosure URL. Relative URLs in the feed are resolved against ``feed_url``, where it was read from."""
    try:
        root = ET.fromstring(xml)
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
    for item in root.iter("item"):
        enclosure = item.find("enclosure")
        if enclosure is None or not enclosure.get("url"):
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
        guid = item.findtext("guid")  # unstripped: the id yt-dlp's generic extractor gives the item (force_videoid)
        items[guid or _absolute(enclosure.get("url"), feed_url)] = extra
    return items


def _podcast_extras(item: ET.Element, feed_url: str, language: str | None, channel_language: str | None) -> dict:
    """What a feed's item (an RSS <item>, an Atom <entry>) says in Podcasting 2.0's namespace, with the languages
    its feed states: the item's own (``language``), and the one for the whole feed, only a hint."""
    extra: dict = {}
    # Podcasting 2.0 transcripts: <podcast:transcript url type language rel/> (the item's language wins)
    extra["transcripts"] = [
        {"url": _absolute(t.get("url"), feed_url), "type": (t.get("type") or "").strip().lower(),
         "language": t.get("language") or language or channel_language}
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
    listed, items = [], {}
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
        for field in ("published", "updated"):
            if (written := entry.findtext(f"{_ATOM}{field}")) and (published := _pub_date(written)):
                extra["published"] = published
                break
        for field in ("summary", "content"):
            if description := _atom_text(entry.find(f"{_ATOM}{field}")):
                extra["description"] = description
                break
        artwork = _atom_artwork(entry, feed_url)
        if thumbnail := artwork or feed_image:
            extra["thumbnail"] = thumbnail
        extra.update(_podcast_extras(entry, feed_url, (entry.get(_XML_LANG) or "").strip() or None, feed_language))
        entry_id = (entry.findtext(f"{_ATOM}id") or "").strip() or None
        title = _atom_text(entry.find(f"{_ATOM}title"))
        listed.append({"_type": "url_transparent", "url": smuggle_url(media, {"force_videoid": entry_id})
                       if entry_id else media, "title": " ".join(title.split()) if title else None,
                       "thumbnail": artwork})
        items[entry_id or media] = extra
    return listed, items


def _atom_enclosure(entry: ET.Element, feed_url: str) -> str | None:
    """An Atom entry's recording: the first <link rel="enclosure"> of an audio or video type, or of none stated
    whose file is named as a recording is (``MEDIA_SUFFIXES``)."""
    for link in entry.findall(f"{_ATOM}link"):
        href = (link.get("href") or "").strip()
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        if link.get("rel") != "enclosure" or not href:
            continue
        if (kind.startswith(("audio/", "video/")) or kind in _STREAM_TYPES
                or not kind and os.path.splitext(urlsplit(href).path)[1].lower() in MEDIA_SUFFIXES):
            return _absolute(href, feed_url)
    return None


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


def _absolute(url: str, feed_url: str) -> str:
    """A URL from a feed, resolved against the feed's own URL when it is relative (``<enclosure url="ep1.mp3">``)."""
    try:
        return url if not url or urlsplit(url).scheme else urljoin(feed_url, url)
    except ValueError:  # "http://[::1": not a URL to resolve; what reads it says so
        return url


def _json_chapters(data: bytes, duration: float | None) -> list[dict]:
    """A Podcasting 2.0 chapters file (``{"version", "chapters": [{"startTime", "title", "endTime"?, "toc"?}]}``)
    as a talk's chapters (``_table_of_contents``), less what is no table-of-contents entry (``"toc": false``, a
    picture or link shown along the way). ValueError when ``data`` is not such a file."""
    document = json.loads(data)  # bytes: JSON is UTF-8 (json detects -16/-32), whatever the locale's encoding is
    listed = document.get("chapters") if isinstance(document, dict) else None
    if not isinstance(listed, list):
        raise ValueError("no list of chapters")
    return _table_of_contents(((c.get("startTime"), c.get("endTime"), c.get("title")) for c in listed
                               if isinstance(c, dict) and c.get("toc") is not False), duration)


# yt-dlp's title for a chapter its source names none for, and for the stretch it puts before a first chapter that
# starts later than 0 (YoutubeDL.process_video_result): a placeholder, not a title
_FILLER_TITLE = re.compile(r"<Untitled Chapter \d+>")


def _chapter_title(title: object) -> str | None:
    """A chapter's title as its talk's table of contents shows it and the CLI prints it: one printable line of at
    most ``_CHAPTER_TITLE`` characters; None where there is none (not text, blank, yt-dlp's placeholder)."""
    if not isinstance(title, str) or _FILLER_TITLE.fullmatch(title.strip()):
        return None
    return _capped(printable(" ".join(title.split())), _CHAPTER_TITLE) or None


def _table_of_contents(listed: Iterable[tuple[object, object, object]], duration: float | None) -> list[dict]:
    """A talk's chapters from what its source lists, each a start, an end and a title as written (a feed's chapters
    file, a site's through yt-dlp, a sidecar .info.json: the publisher's word, not checked against the recording),
    read the same whatever the source: by start, within the talk, each ending where it says but no later than where
    the next begins and the talk ends (``duration``; None when that is not known), else there. Left out: chapters
    without a usable start (``_a_time``) or a title (``_chapter_title``: an entry without one names nothing in a
    table of contents), those that start at or past the talk's end, all but the first listed of those that start
    together, and all past the first ``_CHAPTERS`` (a hostile feed's 100,000 went into every talk page and every
    read of the talk)."""
    talk_end = duration if _a_time(duration) and duration > 0 else None
    by_start: dict[float, tuple[object, str]] = {}  # a start's first chapter: its stated end, its title
    for start, stated, title in listed:
        if (_a_time(start) and (talk_end is None or start < talk_end) and start not in by_start
                and (line := _chapter_title(title))):
            by_start[start] = (stated, line)
    starts = sorted(by_start)
    chapters = []
    for start, bound in zip(starts[:_CHAPTERS], starts[1:] + [talk_end]):  # none runs into the next or past the talk
        stated, title = by_start[start]
        ends = [end for end in (stated if _a_time(stated) and stated > start else None, bound) if end is not None]
        chapters.append({"start_time": start, "end_time": min(ends) if ends else None, "title": title})
    return chapters


# A line of a description's table of contents, as YouTube and podcast show notes write one: a time first, in
# parentheses or brackets or not, after a bullet or not, then the title ("00:00 Intro", "1:02:03 - Q&A",
# "(12:30) Power capping"). "10:30am" or "12:30." starts no entry: the time is followed by a space or a separator.
_TIMESTAMP_LINE = re.compile(r"[-*•]?\s*[(\[]?(?:(?P<hours>\d{1,2}):(?=\d{2}:))?(?P<minutes>\d{1,3}):"
                             r"(?P<seconds>[0-5]\d)[)\]]?(?:\s*[-–—:|]\s+|\s+)(?P<title>\S.*)")
# What makes such lines a table of contents rather than a time mentioned in passing (YouTube's own rule for a
# description's chapters: three or more, the first at 0:00, each later than the one before): three entries at least,
# the first within the opening minute (a cold open or a sponsor may come before it), their times increasing. An
# agenda's times of day ("09:00 Registration") start too late, a lone "10:30 Doors open" is one line.
_DESCRIBED_ENTRIES = 3
_DESCRIBED_FIRST_BY = 60.0


def _described_chapters(description: str | None) -> list[tuple[float, None, str]]:
    """The table of contents a talk's description lists in its timestamp lines (``_TIMESTAMP_LINE``), each a start,
    no end and a title as written, for ``_table_of_contents``; none where those lines do not read as one: fewer
    than ``_DESCRIBED_ENTRIES``, the first past ``_DESCRIBED_FIRST_BY`` seconds, or times out of order."""
    entries = []
    for line in (description or "").splitlines():
        if match := _TIMESTAMP_LINE.fullmatch(line.strip()):
            hours, minutes, seconds = (int(match[part] or 0) for part in ("hours", "minutes", "seconds"))
            if hours and minutes > 59:  # "1:75:00" is no time; "75:00" is an hour and a quarter
                continue
            entries.append((float(hours * 3600 + minutes * 60 + seconds), None, match["title"]))
    starts = [start for start, _, _ in entries]
    if (len(entries) < _DESCRIBED_ENTRIES or starts[0] > _DESCRIBED_FIRST_BY
            or any(later <= earlier for earlier, later in zip(starts, starts[1:]))):
        return []
    return entries


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


class Sources:
    """Lists and fetches talks. ``is_indexed(archive_key)`` tells which ones to skip as already indexed (none,
    with --reindex); ``library_urls()`` what the library holds, every talk's archive key with the URL it was
    fetched from: which key a talk has there (``_distinct_id``), whether it is then skipped or replaced."""

    def __init__(self, download_dir: Path, is_indexed: Callable[[str], bool], socket_timeout: float = 30.0,
                 on_download: Callable[[str, int, int | None], None] | None = None, captions: str = "never",
                 language: str | None = None, keep_media: bool = False,
                 library_urls: Callable[[], Mapping[str, str]] = dict,
                 max_download_mb: int = default("max_download_mb"),
                 download_stall_seconds: float = default("download_stall_seconds"),
                 parse_metadata: Sequence[str] = ()):
        """``captions`` (``caption_sources.CHOICES``) says which captions may stand in for the audio; a talk
        they cover is not downloaded unless ``keep_media``. ``language`` is the spoken language, when forced.
        ``library_urls`` is read once, when a media URL's key is first needed. A download larger than
        ``max_download_mb`` (0: any size), or slower than ``_STALL_BYTES_PER_S`` for ``download_stall_seconds``,
        fails its talk. ``parse_metadata``: the user's rules that read details out of others (``DetailRules``),
        applied to what every source states of a talk."""
        self.download_dir = download_dir
        self.library_urls = library_urls
        self.is_indexed = is_indexed
        self.on_download = on_download
        self.captions = captions
        self.language = language
        self.keep_media = keep_media
        self.max_bytes = max_download_mb << 20 or None
        self.stall_seconds = download_stall_seconds
        params = {
            "format": "bestaudio/best",  # audio only where the site offers it; never re-encoded
            "outtmpl": str(download_dir / "%(extractor_key)s-%(id)s.%(ext)s"),
            "restrictfilenames": True,
            "quiet": True,
            "noprogress": True,
            "logger": _Quiet(),
            "socket_timeout": socket_timeout,
            "retries": 3,
            "continuedl": True,  # an interrupted run resumes its .part files
            "extract_flat": "in_playlist",
            "download_archive": CatalogArchive(is_indexed),
            "progress_hooks": [self._progress, self._within_limits],
            # yt-dlp's own checks: a size the response states, before anything is written (it then writes no file,
            # which _download tells as this); a size or liveness the extractor states (_refused)
            "max_filesize": self.max_bytes,
            "match_filter": self._refused,
            # yt-dlp's own downloaders (HLS included), never ffmpeg's: those run the hooks above, and ffmpeg resolves
            # names in C, past the service's SSRF guard (talksearch.service.netguard)
            "external_downloader": {"default": "native"},
            "noplaylist": False,
        }
        self.ydl = _WatchedDL(params)
        self.rules = DetailRules(parse_metadata)

    def _progress(self, status: dict) -> None:
        if self.on_download and status.get("status") in ("downloading", "finished"):
            total = status.get("total_bytes") or status.get("total_bytes_estimate")
            self.on_download(status.get("filename", ""), status.get("downloaded_bytes") or 0, total)

    def _too_large(self, size: int | None) -> str:
        """``size``: what the source states, None for a stream that states none."""
        stated = f" ({size / (1 << 20):,.0f} MiB)" if size else ""
        return f"larger than the download limit{stated} of {self.max_bytes >> 20} MiB (setting max_download_mb)"

    def _refused(self, info: dict, incomplete: bool) -> None:
        """yt-dlp's match filter, for the format chosen (``incomplete``: a listing's entry, not yet chosen): a live
        stream, or a size the extractor states over the limit, refused before any download."""
        if incomplete:
            return None
        refusal = None
        if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming"):
            refusal = "a live stream: index it once it has ended"
        size = info.get("filesize") or info.get("filesize_approx")
        if self.max_bytes and isinstance(size, (int, float)) and size > self.max_bytes:
            refusal = self._too_large(int(size))
        if refusal and self.ydl.watch is not None:
            # yt-dlp raises a filter's cancellation again without its message: the watch keeps it
            self.ydl.watch.refusal = refusal
            raise DownloadRefused(refusal)
        return None

    def _within_limits(self, status: dict) -> None:
        """Progress hook: the watch fed; a download past the size limit (a stream that states no size) stopped."""
        watch = self.ydl.watch
        if watch is None or status.get("status") != "downloading":
            return
        watch.done = status.get("downloaded_bytes") or 0
        watch.part = status.get("tmpfilename") or watch.part
        if self.max_bytes and watch.done > self.max_bytes:
            watch.oversize, watch.refusal = True, self._too_large(status.get("total_bytes"))
            raise DownloadRefused(watch.refusal)

    def _download(self, info: dict) -> dict | None:
        """yt-dlp's processing and download of ``info``, within the limits. DownloadRefused when one stopped it:
        a file over the size limit is removed (resumed, it would only be refused again), a stalled one is kept for
        the next run to resume."""
        with _DownloadWatch(self.stall_seconds) as watch:
            self.ydl.watch = watch
            try:
                downloaded = self.ydl.process_ie_result(info, download=True)
            except DownloadRefused as exc:
                if watch.part and watch.oversize:
                    Path(watch.part).unlink(missing_ok=True)
                raise SourceError(watch.refusal or str(exc)) from None
            finally:
                self.ydl.watch = None
        files = (downloaded or {}).get("requested_downloads") or []
        if self.max_bytes and watch.stated and watch.stated > self.max_bytes and not (
                files and files[0].get("filepath") and Path(files[0]["filepath"]).exists()):  # max_filesize stopped it
            raise SourceError(self._too_large(watch.stated))
        return downloaded

    # --- listing --------------------------------------------------------------------------------

    def expand(self, source: str) -> Iterator[Candidate]:
        """The talks a source names. Raises SourceError when the source itself is unusable."""
        try:
            parts = urlsplit(source)
        except ValueError as exc:  # "http://[::1": one source refused, not the run ended by a traceback
            raise SourceError(f"not a valid URL ({exc})") from None
        if parts.scheme.lower() == "file":  # yt-dlp refuses file:// URLs: the file itself
            source = url2pathname(parts.path)  # which decodes %XX itself (once: a name may contain %20)
            if not source:  # "file://" would otherwise be the current directory
                raise SourceError("a file:// URL without a path")
        if not is_url(source):
            yield from self._expand_local(source, from_url=parts.scheme.lower() == "file")
            return
        yield from self._expand_info(source, self._extract(source), {})

    def _extract(self, url: str, ie_key: str | None = None) -> dict:
        """What yt-dlp lists at ``url``, unprocessed; an Atom feed, which it finds no media in, listed as it lists
        an RSS feed (``_atom_listing``). SourceError, one line, when neither can."""
        with _DownloadWatch(math.inf, _URL_DEADLINE_S, "reading the page or feed") as watch:
            self.ydl.watch = watch
            try:
                return self.ydl.extract_info(url, download=False, process=False, ie_key=ie_key)
            except Exception as exc:  # DownloadError, and what yt-dlp's HTTP stack raises for "http://" or a bad port
                error = watch.refusal or clean_error(exc)
            finally:
                self.ydl.watch = None
        if error == _NO_MEDIA and (feed := self._atom_listing(url)) is not None:
            return feed
        raise SourceError(error)

    def _atom_listing(self, url: str) -> dict | None:
        """The Atom feed at ``url`` (read as a feed's transcript is: ``_read``, its limits) as yt-dlp lists an RSS
        feed, a playlist of its entries' recordings (``_atom_feed``), with what the feed says of each (``feed_items``,
        which ``_expand_info`` reads the feed again for otherwise); None when it is no Atom feed (or cannot be read
        again: yt-dlp's own line stands). SourceError when it has no recording: a feed of posts, or of talksearch's
        own talk pages."""
        try:
            document, feed_url = self._read(url)
            root = ET.fromstring(document)
        except (CaptionError, ET.ParseError):
            return None
        if root.tag != f"{_ATOM}feed":
            return None
        entries, items = _atom_feed(root, feed_url)
        if not entries:
            raise SourceError(_no_recordings(root))
        return {"_type": "playlist", "extractor_key": "Generic", "id": url, "webpage_url": feed_url,
                "title": _atom_text(root.find(f"{_ATOM}title")), "entries": entries, "feed_items": items}

    def _followed(self, info: dict) -> dict:
        """What a URL result leads to, unprocessed. yt-dlp's generic extractor answers a redirect (a feed or
        page that moved: 301) with the new URL: whether that is one talk or a list is known only there."""
        for _ in range(_REDIRECTS):
            if info.get("_type") not in ("url", "url_transparent"):
                return info
            info = self._extract(info["url"], ie_key=info.get("ie_key"))
        return info

    def _expand_info(self, source: str, info: dict, context: dict) -> Iterator[Candidate]:
        if info.get("_type") in ("url", "url_transparent"):
            followed = self._followed(info)
            # What a plain URL result leads to is what yt-dlp would process; a url_transparent's own fields (a
            # page's title over its embed's) are merged only by its processing: it stays the candidate unless
            # it leads to a list.
            if info["_type"] == "url" or followed.get("_type") in ("playlist", "multi_video"):
                info = followed
        if info.get("_type") not in ("playlist", "multi_video"):
            if info.get("extractor_key") == "HTML5MediaEmbed":
                # The page's one <video>/<audio>: the generic extractor numbers media entries ("<title> (1)"),
                # which says nothing when there is one. The page URL stays the talk's link (webpage_url).
                info = {**info, "title": re.sub(r"\s*\(1\)$", "", info.get("title") or "") or info.get("title")}
            yield Candidate(source, _one_line(info.get("title")) or info.get("url") or source, entry=info,
                            context=context, listed=source)
            return
        context = {"playlist_title": info.get("title") or info.get("channel") or info.get("uploader")}
        feed_url = None
        if "feed_items" in info:  # an Atom feed, read already (_atom_listing)
            feed_url, context["feed"] = info["webpage_url"], info["feed_items"]
        elif info.get("extractor_key") == "Generic":  # RSS feeds: keep what yt-dlp's reading drops
            feed_url = info["webpage_url"]
            try:
                with self.ydl.urlopen(feed_url) as response:
                    feed_url = response.url  # what its relative URLs are relative to: where it was read from
                    context["feed"] = _feed_items(response.read(), feed_url)
            except Exception:
                context["feed"] = {}
        entries = [entry for entry in info.get("entries") or [] if entry is not None]
        guids = Counter((unsmuggle_url(e.get("url") or "")[1] or {}).get("force_videoid") for e in entries)
        for entry in entries:
            url, smuggled = unsmuggle_url(entry.get("url") or "")
            if feed_url and url:
                url = _absolute(url, feed_url)  # <enclosure url="ep1.mp3">, which yt-dlp lists as it is: the feed's
                if (guid := (smuggled or {}).get("force_videoid")) and "guid" not in smuggled:
                    # yt-dlp ids the item by its guid alone (its archive key, its download's name), which another
                    # show gives its own items too ("1", "ep-12"): the id it passes along is the guid within this
                    # feed (_item_id), and the guid itself travels beside it (what the feed's metadata is keyed by).
                    # A guid the feed gives two items is said to be so (listed_details).
                    smuggled = {**smuggled, "force_videoid": self._item_id(guid, url, source), "guid": guid,
                                **({"guid_repeated": True} if guids[guid] > 1 else {})}
                entry = {**entry, "url": smuggle_url(url, smuggled) if smuggled else url}
            if entry.get("_type") in ("playlist", "multi_video"):
                yield from self._expand_info(source, entry, context)
            else:
                yield Candidate(source, _one_line(entry.get("title")) or entry.get("url") or source, entry=entry,
                                context=context)

    def _expand_local(self, source: str, from_url: bool = False) -> Iterator[Candidate]:
        path = Path(source).expanduser()
        if path.is_dir():
            # a talksearch library inside the folder (its kept media, its downloads) is not walked: its copies
            # of talks would be indexed again as new ones
            libraries = {catalog.parent for catalog in path.rglob(CATALOG)}
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES
                           and libraries.isdisjoint(p.parents))
            if not files:  # said, rather than "0 added" as if all were well
                raise SourceError("no audio or video files in this folder")
            for file in files:
                yield Candidate(source, str(file), path=file)
        elif path.is_file():
            yield Candidate(source, str(path), path=path)
        elif path.exists():  # a pipe, a socket, a device: read once it is gone, and a recording is read twice
            raise SourceError("not a regular file or a folder (a pipe or a device cannot be indexed)")
        elif from_url:  # "file:///talks/nope.mp3" is a URL: only its file is missing
            raise SourceError("no such file or folder")
        else:
            raise SourceError("no such file or directory, and not a URL")

    # --- fetching -------------------------------------------------------------------------------

    def archive_key(self, candidate: Candidate) -> str | None:
        """The archive key when it is known without a network request (local files, ids in listings)."""
        if candidate.path is not None:
            return archive_id("local", _file_digest(candidate.path))
        entry = candidate.entry or {}
        if entry.get("id"):
            return self.ydl._make_archive_id(self._distinct_id(entry, candidate.listed))
        # A feed item's flat entry has no id: its guid (within its feed: _item_id) travels with its URL, which
        # yt-dlp's generic extractor (the one that reads a media URL) takes as the id; without a guid, the id is the file's name and the
        # listed URL's digest, or the id the library holds the talk at that URL under (_distinct_id).
        url, smuggled = unsmuggle_url(entry.get("url") or "")
        if not url or self.ydl._make_archive_id({"id": "-", "url": url}) != make_archive_id("Generic", "-"):
            return None
        guid = (smuggled or {}).get("force_videoid")
        return make_archive_id("Generic", guid or self._media_url_id(url))

    def _distinct_id(self, info: dict, listed: str | None = None) -> dict:
        """``info`` with an id that tells its recording apart. yt-dlp names a media URL's recording after its
        file, so /2023/keynote.mp4 and /2024/keynote.mp4 would share the archive key "generic keynote" and
        the second be skipped as known: such an id gets the URL's digest. (A feed item's id is its guid, which
        yt-dlp passes along with the URL: unique already, and left as it is.) A talk the library already holds
        under an id an earlier release gave it keeps that id (``_media_url_id``): it is still known, and
        --reindex still replaces it.

        The digest is of the URL ``listed`` (as the feed lists it or the user named it, before redirects), its
        scheme, host and path: a signed CDN link's token (?token=...) or where it redirects to may change from one
        reading of the feed to the next, and the talk must stay known."""
        page, smuggled = unsmuggle_url(info.get("webpage_url") or "")
        url = (unsmuggle_url(info.get("url") or "")[0] or page).split("#", 1)[0]
        # (unquoted, as yt-dlp names it: "a talk.mp3" is fetched as "a%20talk.mp3", and an info yt-dlp has not
        # processed yet, as archive_key sees one, has no resolved URL: the page's, unescaped, stands in)
        # (as yt-dlp names it, GenericIE._generic_id: the last segment with its query, "media?file=ep1" for
        # /show/media?file=ep1.mp3, so that one too is told apart from another show's)
        # (a media file's, and a stream's: yt-dlp names talk.m3u8 "talk" too, and index.m3u8 is the norm)
        named_after_file = (info.get("extractor_key") == "Generic" and url
                            and "force_videoid" not in (smuggled or {})
                            and str(info.get("id")) in (GenericIE._generic_id(url), GenericIE._generic_id(listed or url)))
        if not named_after_file:
            return info
        return {**info, "id": self._media_url_id(listed or url, url)}

    def _media_url_id(self, listed: str, resolved: str | None = None) -> str:
        """The id of a recording named after its file, listed at ``listed`` (and fetched from ``resolved``, once
        requested): the listed file's name and the listed URL's digest, both of where the recording is
        (``_lasting``: a token that changes changes neither), so it is known before any request; unless the
        library holds the talk at that address under an id an earlier release gave it. An earlier id found at
        the address it was fetched from (an earlier release keyed a redirected URL by where it led) is taken only
        for a file of the same name: another listed URL that redirects to the same file is another recording."""
        name = GenericIE._generic_id(_lasting(listed))
        distinct = f"{name}-{_url_digest(listed)}"
        if make_archive_id("Generic", distinct) in self._library:
            return distinct
        earlier = self._earlier_ids
        if found := earlier.get(_address(listed)):
            return found
        fetched_from = earlier.get(_address(resolved)) if resolved else None
        if fetched_from and re.fullmatch(f"{re.escape(name)}(-[0-9a-f]{{8}})?", fetched_from):
            return fetched_from
        return distinct

    def _item_id(self, guid: str, listed: str, feed: str) -> str:
        """The id of a feed's item with a <guid> (listed at ``listed``, in the feed the user named ``feed``): the guid
        within its feed, the digest of the feed's address beside it (``_feed_digest``), as a podcast app knows an
        episode by its feed and its guid. Unless the library holds a talk by this guid already: at the address
        listed (an earlier release's key, the guid alone; or this guid within the feed at an address the feed was
        named by before: one recording, one talk); else under the guid alone, an earlier release's key, found as
        before, though it may be another show's item (``listed_details`` restates nothing of it then)."""
        own = f"{guid.strip()}-{_feed_digest(feed)}"
        if make_archive_id("Generic", own) in self._library:
            return own
        if here := self._ids_by_guid(guid, listed):
            return here[0]
        return guid if make_archive_id("Generic", guid) in self._library else own

    def _ids_by_guid(self, guid: str, listed: str) -> list[str]:
        """The ids the library holds talks by this guid under (the guid alone, or within a feed) at ``listed``'s
        address."""
        by_guid = re.compile(f"{re.escape(guid)}|{re.escape(guid.strip())}-[0-9a-f]{{8}}")
        return sorted(i for i in self._generic_ids.get(_address(listed), ()) if by_guid.fullmatch(i))

    @functools.cached_property
    def _generic_ids(self) -> dict[str, list[str]]:
        """The ids of the library's talks the generic extractor read (media URLs, feed items), by their URL's
        address."""
        ids: dict[str, list[str]] = {}
        for key, url in self._library.items():
            extractor, _, source_id = key.partition(" ")
            if extractor == "generic":
                ids.setdefault(_address(url), []).append(source_id)
        return ids

    @functools.cached_property
    def _library(self) -> Mapping[str, str]:
        """The library as this run found it (a talk this run adds is told apart by ``taken`` instead)."""
        return self.library_urls()

    @functools.cached_property
    def _earlier_ids(self) -> dict[str, str]:
        """The ids of the library's talks from media URLs named after their files, by their URL's address: the
        ids earlier releases gave them, the file's name alone, or with the digest of the whole URL yt-dlp resolved
        (its token, where it redirected), which a talk listed under the same address again cannot be given."""
        ids = {}
        for key, url in self._library.items():
            extractor, _, source_id = key.partition(" ")
            named = re.escape(GenericIE._generic_id(url))
            if extractor == "generic" and re.fullmatch(f"{named}(-[0-9a-f]{{8}})?", source_id):
                ids[_address(url)] = source_id
        return ids

    def fetch(self, candidate: Candidate, taken: Container[str] = ()) -> Fetched | None:
        """Download a talk's audio. None when the library already has it; ListedTwice when its archive key is
        in ``taken`` (this run has it already: found before downloading, so the file being indexed under the
        same name is left alone). Raises SourceError."""
        fetched = self._fetch(candidate, taken)
        if fetched is not None and self.language:  # the user's word on the spoken language beats the source's
            fetched.talk.language = base_language(self.language)
        return fetched

    def _fetch(self, candidate: Candidate, taken: Container[str]) -> Fetched | None:
        if candidate.path is not None:
            return self._fetch_local(candidate.path)
        key = self.archive_key(candidate)
        if key is not None and self.is_indexed(key):  # before any request: its media may be gone or stalled by now
            return None
        listed, feed = self._listing(candidate)
        try:
            info = self._resolved(candidate.entry)
            if info is None:
                return None
            info = self._distinct_id(info, listed)
            if self.ydl.in_download_archive(info):
                return None
            if info.get("id") and self.ydl._make_archive_id(info) in taken:
                raise ListedTwice(self.ydl._make_archive_id(info))
            if info.get("_type") in ("playlist", "multi_video"):
                raise SourceError("a playlist inside a playlist: index it as its own source")
            transcript, refused, pending = self._remote_captions(info, feed)
            unseekable = self._unseekable(info)
            if transcript is not None and not self.keep_media:  # the words are here: no audio needed
                # its chapters within where its captions end, where nothing states its length (no itunes:duration)
                heard_to = max((segment.end for segment in transcript.segments), default=None)
                info, unread = self._feed_chapters(info, feed, heard_to)
                talk = self._talk_from_info(info, candidate.context or {}, feed, listed)
                if not talk.chapters:  # none from the site nor the feed; no recording read to hold any
                    talk.chapters = _unstated_chapters([], talk.description, info.get("duration") or heard_to)
                return Fetched(talk, None, False, transcript, _notes(unread, unseekable),
                               channel_language=source_language(feed.get("channel_language")),
                               media_stream=unsmuggle_url(info.get("url") or "")[0] or None)
            resolved, info = info, self._download(info)
        except (ListedTwice, SourceError):
            raise
        except OSError:  # a full disk: the caller says so as such
            raise
        except Exception as exc:  # DownloadError, and what yt-dlp's HTTP stack raises for a URL it cannot use
            raise SourceError(clean_error(exc)) from None
        if info is None:
            return None
        downloads = info.get("requested_downloads") or []
        if not downloads or not Path(downloads[0]["filepath"]).exists():
            raise SourceError("download produced no file")
        audio = Path(downloads[0]["filepath"])
        # A duration the source states (a feed's itunes:duration, often rounded down or wrong) is its word; the file's
        # own is measured. The talk keeps that, and captions are judged by it: read again where they were judged by the
        # stated one (refused as running past it, or used with --keep-media within it), a caption request more.
        measured = _stated_duration(audio)
        if measured and (transcript is not None or refused or pending) and measured != info.get("duration"):
            transcript, refused, pending = self._remote_captions({**resolved, "duration": measured}, feed)
        info, unread = self._feed_chapters({**info, "duration": measured or info.get("duration")}, feed)
        talk = self._talk_from_info(info, candidate.context or {}, feed, listed)
        if not talk.chapters:  # none from the site nor the feed
            talk.chapters = _unstated_chapters(_recording_markers(audio), talk.description, info.get("duration"))
        return Fetched(talk, audio, True, transcript, _notes(refused, unread, unseekable), pending,
                       channel_language=source_language(feed.get("channel_language")))

    def _unseekable(self, info: dict) -> str | None:
        """A note for the talk's line where players will play its recording from its host and the host ignores Range
        requests (answers one with the whole file): a player can then only play it from the start, never at a moment
        a search found (the pages say so too, when it happens). Asked once, for a byte; a host that does not answer
        within seconds, or fails the request, is left unjudged: its download says what there is to say."""
        media_url = _played_from_host(info)
        if info.get("protocol") not in ("http", "https") or not media_url:  # a stream (HLS), a site's own player
            return None
        try:
            response = self.ydl.urlopen(yt_dlp.networking.Request(
                media_url, headers={"Range": "bytes=1-1"}, extensions={"timeout": _RANGE_PROBE_S}))
        except Exception:
            return None
        response.close()  # unread: a host that ignores Range would send the whole recording
        if response.status == 206:
            return None
        return "its host ignores Range requests: players can play it only from the start, not at a moment"

    @staticmethod
    def _listing(candidate: Candidate) -> tuple[str | None, dict]:
        """A remote talk's listed URL and its feed item's metadata (``_feed_items``; {} when no feed lists it)."""
        # The URL the talk was listed under (a feed's <enclosure url>, the URL the user named), before yt-dlp
        # follows redirects or escapes it: what the feed's own metadata is keyed by, and what tells apart
        # recordings without a guid.
        listed = candidate.listed or unsmuggle_url(candidate.entry.get("url") or "")[0] or None
        # The feed's metadata for an item with a <guid> is keyed by it (passed along beside yt-dlp's id for the item,
        # _expand_info): items may share a recording, and each keeps its own (_feed_items).
        smuggled = unsmuggle_url(candidate.entry.get("url") or "")[1] or {}
        guid = smuggled.get("guid", smuggled.get("force_videoid"))
        return listed, ((candidate.context or {}).get("feed") or {}).get(guid or listed, {})

    def listed_details(self, candidate: Candidate, key: str) -> dict:
        """What the listing states of a talk the library has (archive key ``key``), read without a request: of its
        ``TALK_DETAILS``, those stated (a detail a listing leaves out stays as the library has it). A feed item
        states its title, speakers, event, date, description and artwork, and its enclosure's URL (``url``: the
        writer moves the talk there where it is ``elsewhere``) (its channel is its enclosure's site's, when
        that names one: not the feed's to say); a local recording what its sidecar .info.json holds, at the path
        its talk records (a copy's sidecar is not its talk's). Other listings state none: a site's
        playlist lists a title at most, and its page is a request per known talk (``--reindex`` reads them)."""
        if candidate.path is not None:
            given, resolved = Path(os.path.abspath(candidate.path)), candidate.path.resolve()
            if self._recorded_elsewhere(key, given, resolved) is not None:
                return {}
            sidecar = _sidecar_info(candidate.path.with_suffix(".info.json"))
            # its chapters as indexing checked them (_fetch_local): by the recording's length, not the sidecar's
            talk = self._talk({**_by_the_recording(sidecar, resolved), "extractor_key": "local",
                               "id": key.partition(" ")[2]}, {}, None, url="", media_url=None)
            if not talk.chapters and _described_chapters(talk.description):
                # its description's, as indexing read them (the recording's own markers first): a description
                # that lists none states none, and the chapters indexing read from the recording stay
                talk.chapters = _local_chapters(talk, resolved)
            # a title made from the file's name is none stated: a renamed recording's talk keeps its own (Moved's does)
            stated = {field: getattr(talk, field) for field in TALK_DETAILS if field != "title" or sidecar.get("title")}
        else:
            listed, feed = self._listing(candidate)
            if not feed:
                return {}
            entry = candidate.entry or {}
            smuggled = unsmuggle_url(entry.get("url") or "")[1] or {}
            if smuggled.get("guid_repeated"):
                # two items of the feed by one guid, one talk (the other "listed twice"): which recording it is,
                # and whose title, cannot be told; restated, the talk took each in turn at every run
                return {}
            guid = smuggled.get("guid")
            if guid is not None and key == make_archive_id("Generic", guid) and not self._ids_by_guid(guid, listed):
                # a talk an earlier release keyed by the guid alone, at another address: this item's, its enclosure
                # moved, or another show's item with the same guid, which must not take its title
                return {}
            # as _talk_from_info stores them: the item's title and artwork (yt-dlp's entry for it) over its media's;
            # and where its enclosure is now (``url``), which the talk follows where it moved (``elsewhere``)
            stated = {"title": _one_line(entry.get("title")), "speakers": _names(feed.get("speakers") or []),
                      "event": _one_line(feed.get("event")), "description": _description(feed.get("description")),
                      "published": feed.get("published"), "thumbnail": entry.get("thumbnail"), "url": listed}
            stated.update(self._ruled(stated))
        return {field: value for field, value in stated.items() if value}

    def _talk(self, info: dict, feed: dict, playlist_title: str | None, url: str, media_url: str | None) -> Talk:
        """``_talk``'s talk, with what the user's rules (``parse_metadata``) read out of its details."""
        talk = _talk(info, feed, playlist_title, url, media_url)
        return dataclasses.replace(talk, **self._ruled(vars(talk))) if self.rules else talk

    def _ruled(self, details: dict) -> dict:
        """What the user's rules set of a talk's ``details``, stored as a source's word is: one line each, the
        speakers the names of a credit (``_people``); a title they would leave blank is not set."""
        changes = self.rules.changes(details)
        ruled = {field: _one_line(text) for field, text in changes.items() if field != "speakers"}
        if "speakers" in changes:
            ruled["speakers"] = _names(_people(changes["speakers"]))
        return {field: value for field, value in ruled.items() if value or field != "title"}

    def _resolved(self, entry: dict) -> dict | None:
        """yt-dlp's processing of a listed entry, without downloading, its archive check blind to the generic
        extractor's keys: a media URL's recording is named after its file until ``_distinct_id`` tells it apart,
        and yt-dlp, finding that plain name known (an earlier release's id), would hand the info back without
        the URL it resolved: where a redirected link leads, what tells the talk at that address from another
        file of that name. ``_fetch`` checks the archive itself once the id is distinct. The generic
        extractor's check comes after its request (it has no id before one): leaving it out costs none."""
        generic = make_archive_id("Generic", "")
        archive = self.ydl.archive
        self.ydl.archive = CatalogArchive(lambda key: not key.startswith(generic) and self.is_indexed(key))
        try:
            return self.ydl.process_ie_result(dict(entry), download=False)
        finally:
            self.ydl.archive = archive

    # --- captions -------------------------------------------------------------------------------

    def _remote_captions(self, info: dict, feed: dict) -> tuple[CaptionTranscript | None, str | None,
                                                                PendingCaptions | None]:
        """The site's or the ``feed`` item's captions for a talk, read; or why not (None, None: it has none); or
        their choice left to the language whisper hears (its audio downloaded for that, as for a refusal)."""
        tracks = caption_sources.site_tracks(info, self.captions)
        tracks += caption_sources.feed_tracks(feed.get("transcripts") or [], self.captions)
        language = (self.language or caption_sources.spoken_language(info) or feed.get("language")
                    or feed.get("channel_language"))
        return self._captions(tracks, language, info.get("duration"))

    def _captions(self, tracks: list[CaptionTrack], language: str | None,
                  duration: float | None) -> tuple[CaptionTranscript | None, str | None, PendingCaptions | None]:
        """``tracks`` read (``_read_captions``), or, where the choice among them waits on the talk's language,
        that choice pending."""
        if caption_sources.needs_language(tracks, language):
            _, refused = self._read_captions(tracks, language, duration)  # the reason, should whisper not tell
            return None, None, PendingCaptions(lambda heard: self._read_captions(tracks, heard, duration), refused or "")
        return *self._read_captions(tracks, language, duration), None

    def _read_captions(self, tracks: list[CaptionTrack], language: str | None,
                       duration: float | None) -> tuple[CaptionTranscript | None, str | None]:
        track = None
        try:
            track = caption_sources.choose(tracks, language)
            if track is None:
                return None, None
            return caption_sources.load(track, self._read_url, duration, language), None
        except CaptionError as exc:
            return None, f"{track.source if track else 'captions'} not used: {exc}"

    def _read_url(self, url: str) -> bytes:
        return self._read(url)[0]

    def _read(self, url: str) -> tuple[bytes, str]:
        """A publisher's file, and the URL it was read from (where redirects led). Through yt-dlp's own opener, so
        its proxy, cookies and headers apply to captions too. CaptionError, one line, when it cannot be read, is
        larger than ``_URL_LIMIT_MB`` or takes longer than ``_URL_DEADLINE_S``."""
        limit, deadline = _URL_LIMIT_MB << 20, _URL_DEADLINE_S
        pieces: list[bytes] = []
        failed: list[str] = []
        read_from: list[str] = []
        given_up = threading.Event()

        def read() -> None:
            try:
                with self.ydl.urlopen(url) as response:
                    read_from.append(response.url)
                    size = 0  # read to one byte past the limit: enough to know the file is larger
                    while (not given_up.is_set() and size <= limit
                           and (piece := response.read(min(_URL_PIECE, limit + 1 - size)))):
                        pieces.append(piece)
                        size += len(piece)
            except Exception as exc:
                failed.append(clean_error(exc))

        # The deadline is kept by waiting on a reader of its own, not by looking at the clock between pieces: a
        # read returns when its piece is full, which a trickle never fills. A reader given up on is left to end
        # where its server stops (or the read after its piece): closing the response from here waits on that read.
        reader = threading.Thread(target=read, name=f"read {url}", daemon=True)
        reader.start()
        reader.join(deadline)
        if reader.is_alive():
            given_up.set()
            raise CaptionError(f"timed out after {deadline:g} s")
        if failed:
            raise CaptionError(failed[0])
        if sum(map(len, pieces)) > limit:
            raise CaptionError(f"larger than {_URL_LIMIT_MB:g} MB")
        return b"".join(pieces), read_from[0]

    def _feed_chapters(self, info: dict, feed: dict, heard_to: float | None = None) -> tuple[dict, str | None]:
        """``info`` with the ``feed`` item's Podcasting 2.0 chapters where yt-dlp found none, read as its transcripts
        are (``_read_url``), within the talk: its duration, else where its words are heard to (``heard_to``: its
        captions' last cue); a file that cannot be read or is not one leaves the talk without, and the one line
        that says so (shown with the talk's outcome, as refused captions are)."""
        url = feed.get("chapters_url")
        if not url or info.get("chapters"):
            return info, None
        try:
            chapters = _json_chapters(self._read_url(url), info.get("duration") or heard_to)
        except CaptionError as exc:  # _read_url's: a 404, a timeout, an address the service's guard refuses
            return info, f"chapters not read: {exc}"
        except (ValueError, RecursionError):  # not JSON (nor UTF-8), or not a chapters file; nested past parsing
            return info, "chapters not read: not a JSON chapters file"
        return {**info, "chapters": chapters}, None

    def _talk_from_info(self, info: dict, context: dict, feed: dict, listed: str | None = None) -> Talk:
        media_url, _ = unsmuggle_url(info.get("url") or "")
        page_url, _ = unsmuggle_url(info.get("webpage_url") or media_url)
        direct = _played_from_host(info) is not None
        link = media_url if direct else page_url
        if direct and listed and _address(listed) != _address(media_url):
            # A media URL that redirects: the talk is linked by the URL listed (the one it is keyed by), so that two
            # URLs leading to one recording are two talks told apart; its media is where it led (``media_url``).
            link = listed
        if info.get("extractor_key") == "Generic" and info.get("direct"):
            # A media file's own URL (a feed item's enclosure): yt-dlp dates it by the HTTP Last-Modified, when
            # the file was last copied to the server, not when the talk was published (and derives upload_date
            # from it). A feed's <pubDate> is read from the feed itself (_feed_items).
            info = {**info, "timestamp": None, "upload_date": None}
        return self._talk(info, feed, context.get("playlist_title"), url=link, media_url=media_url if direct else None)

    def _fetch_local(self, path: Path) -> Fetched | None:
        digest = _file_digest(path)
        key = archive_id("local", digest)
        # The path as given, made absolute, not resolved through links: a folder linked in and re-pointed later is
        # met at the same path again (resolved, it was a new path, and the talk's recorded one gone)
        given = Path(os.path.abspath(path))
        resolved = path.resolve()
        # (a talk whose recording was replaced at its path is known still: the writer retires it only at the end of
        # the run, unless its recording is met at another path, as here, and the talk follows it; recordings that
        # rotated among three paths or more each take their talk along)
        known = self.is_indexed(key)
        recorded = self._recorded_elsewhere(key, given, resolved)
        copy_of = recorded[0] if recorded and recorded[1] else None
        moved_from = recorded[0] if recorded and not recorded[1] and known else None
        displaced = self._displaced(key, given, resolved)
        if known and moved_from is None and (copy_of is None or displaced is None):
            return None  # at its talk's path, or a copy met elsewhere that takes no talk's place: skipped
        _require_recording(resolved)
        info = _by_the_recording(_sidecar_info(path.with_suffix(".info.json")), resolved)
        # A file name that is not UTF-8 (bytes Python keeps as surrogates) still titles its talk, readably.
        stem = path.stem.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        info.update(extractor_key="local", id=digest, title=info.get("title") or stem.replace("_", " "))
        talk = self._talk(info, {}, None, url=info.get("webpage_url") or given.as_uri(), media_url=given.as_uri())
        # A recording the library knows, put where another talk's was (moved or copied there; --reindex: copied):
        # its talk is the one at its path, and the talk recorded here, its recording gone from here, is retired
        # (unless it swapped places with this one: it follows its recording)
        if copy_of is not None:  # its talk stays at the path that still holds it: one recording, one talk
            return Fetched(talk, None, False, replaces=displaced and talk_id(displaced), copy_of=copy_of)
        if moved_from is not None:
            if displaced is not None and _holds(moved_from, displaced):
                return Fetched(talk, None, False, moved_from=moved_from, swapped=talk_id(displaced))
            return Fetched(talk, None, False, moved_from=moved_from, replaces=displaced and talk_id(displaced))
        # A new recording here (re-encoded, trimmed, swapped; or --reindex): it takes the displaced talk's place,
        # as the writer commits it (unless this run found that talk's recording at another path meanwhile)
        if not talk.chapters:  # none from its sidecar
            talk.chapters = _local_chapters(talk, resolved)
        tracks = caption_sources.sidecar_tracks(path, self.captions)
        transcript, refused, pending = (None, None, None)
        if tracks:
            duration = _stated_duration(resolved) or info.get("duration")
            language = self.language or info.get("language")
            transcript, refused, pending = self._captions(tracks, language, duration)
            talk.duration = duration  # the file's, as whisper's would be: not what its .info.json says
        return Fetched(talk, resolved, False, transcript, refused, pending, replaces=displaced and talk_id(displaced))

    def displaced(self, candidate: Candidate, key: str | None) -> str | None:
        """For a local file whose recording (archive key ``key``) this run has taken already, at another path:
        the id of the talk recorded at its path under another key, whose recording is no longer there and which
        is retired (None for a remote talk, or when there is none)."""
        if candidate.path is None or key is None:
            return None
        path = candidate.path
        displaced = self._displaced(key, Path(os.path.abspath(path)), path.resolve())
        return displaced and talk_id(displaced)

    @functools.cached_property
    def _local_talks(self) -> dict[str, list[str]]:
        """The library's local talks' archive keys, by the file:// URL of the recording each was indexed from
        (more than one where an earlier release left two talks at one path)."""
        talks: dict[str, list[str]] = {}
        for key, url in self._library.items():
            if key.startswith("local ") and url.startswith("file:"):
                talks.setdefault(url, []).append(key)
                # ... and by the file it names through links: a talk recorded through a linked folder is the one at
                # the file's own path too (a recording replaced there, indexed by that path, replaces it)
                if (path := recording_path(url)) is not None and (real := path.resolve().as_uri()) != url:
                    talks.setdefault(real, []).append(key)
        return talks

    def _displaced(self, key: str, given: Path, resolved: Path) -> str | None:
        """The archive key of the talk recorded at this path (as given, or as an earlier release stored it:
        resolved) under another key than ``key``: its recording is no longer here."""
        recorded = self._local_talks.get(given.as_uri(), []) + self._local_talks.get(resolved.as_uri(), [])
        return next((earlier for earlier in recorded if earlier != key), None)

    def _recorded_elsewhere(self, key: str, given: Path, resolved: Path) -> tuple[str, bool] | None:
        """The URL a known local recording's talk records, when that is not this path, and whether it still holds
        the recording: met here, it is a copy (True), or it moved here, its talk following it (False)."""
        recorded = self._library.get(key)
        if not recorded or not recorded.startswith("file:") or recorded in (given.as_uri(), resolved.as_uri()):
            return None
        return recorded, _holds(recorded, key)


def _played_from_host(info: dict) -> str | None:
    """The recording's own URL where the talk is its media file (a feed's enclosure, a media URL named), which
    players play from its host; None where a site's page (and its player) is the talk."""
    media_url, _ = unsmuggle_url(info.get("url") or "")
    page_url, _ = unsmuggle_url(info.get("webpage_url") or media_url)
    return media_url if media_url and (info.get("direct") or page_url == media_url) else None


def _notes(*notes: str | None) -> str | None:
    """A talk's notes for its line (``Fetched.captions_refused``), in one: "; " between them, None for none."""
    return "; ".join(note for note in notes if note) or None


def _holds(url: str, key: str) -> bool:
    """Whether the file at a file:// ``url`` holds the local recording keyed ``key``."""
    where = Path(url2pathname(urlsplit(url).path))
    try:
        return where.is_file() and _file_digest(where) == key.partition(" ")[2]
    except OSError:  # unreadable now: not where the recording can be played from
        return False


# What yt-dlp writes for the fields talksearch reads (sidecar .info.json files are written by hand too).
_INFO_TYPES: dict[str, type | tuple[type, ...]] = {
    **dict.fromkeys(("title", "description", "channel", "uploader", "creator", "artist", "series", "album",
                     "webpage_url", "language", "thumbnail", "upload_date", "release_date"), str),
    **dict.fromkeys(("duration", "timestamp", "release_timestamp"), (int, float)),
    **dict.fromkeys(("creators", "chapters", "subtitles", "automatic_captions"), (list, dict)),
}
_DATE = re.compile(r"^\d{8}$")


def _sidecar_info(path: Path) -> dict:
    """A recording's hand-placed metadata (yt-dlp's ``--write-info-json`` convention, ``<name>.info.json``),
    keeping only fields of the type yt-dlp writes: ``"duration": "long"`` or ``"creators": "Ann"`` would be
    stored as they are and break every read of the catalog, so such a field is left out, as an unreadable
    file is."""
    try:
        # bytes: JSON is UTF-8 (json detects -16/-32), whatever the locale's encoding is
        info = json.loads(path.read_bytes()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    if not isinstance(info, dict):
        return {}
    kept = {k: v for k, v in info.items()
            if k not in _INFO_TYPES or (isinstance(v, _INFO_TYPES[k]) and not isinstance(v, bool))}
    for key in ("duration", "timestamp", "release_timestamp"):
        if key in kept and not _a_time(kept[key]):
            del kept[key]
    for key in ("upload_date", "release_date"):  # YYYYMMDD, a day of the calendar ("20241301" is stored as none)
        if isinstance(kept.get(key), str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", kept[key]):
            kept[key] = kept[key].replace("-", "")  # as a file written by hand may say it (2024-03-01)
        if key in kept and not _a_date(kept[key]):
            del kept[key]
    listed = lambda key: kept[key] if isinstance(kept.get(key), list) else []  # noqa: E731
    kept["creators"] = [c for c in listed("creators") if isinstance(c, str)]
    kept["chapters"] = [c for c in map(_a_chapter, listed("chapters")) if c is not None]
    return kept


def _by_the_recording(info: dict, recording: Path) -> dict:
    """A local recording's sidecar ``info`` with the recording's own duration (measured: the .info.json's word for
    it may be wrong), where its chapters are checked against it (a last chapter said to end at 999 s of a 23 s
    talk ends where the recording does). Without chapters it is left as it is: re-runs open no file for it."""
    if not info.get("chapters"):
        return info
    return {**info, "duration": _stated_duration(recording) or info.get("duration")}


def _a_time(value) -> bool:
    """A time in seconds as yt-dlp writes one: a number, finite, not negative, within datetime's years (JSON as
    Python reads it has NaN and Infinity, and a talk page cannot show them)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1e11


def _a_date(value: str) -> bool:
    """A YYYYMMDD that is a day of the calendar (not "20230230", nor year 0)."""
    if not _DATE.match(value):
        return False
    try:
        datetime.strptime(value, "%Y%m%d")
    except ValueError:
        return False
    return True


def _a_chapter(chapter) -> dict | None:
    """The chapter, when it has a usable start and a title or none. An end that is not a usable time is left out
    (None, as for a chapter whose end is not known): the chapter still says where it starts."""
    if not (isinstance(chapter, dict) and _a_time(chapter.get("start_time"))
            and isinstance(chapter.get("title"), (str, type(None)))):
        return None
    end = chapter.get("end_time")
    return chapter if end is None or _a_time(end) else {**chapter, "end_time": None}


def _filter_value(text: str | None) -> str | None:
    """A channel, event or speaker as the filters match it: runs of whitespace one space, none at the ends. The
    API strips what it is asked for, and a browser collapses the spaces of an <option>: " Ann  Lee" stored as it
    came would be listed in the menus and never found by them."""
    return " ".join(without_controls(text or "").split()) or None


def _description(text: str | None) -> str | None:
    """A talk's description as stored: its lines kept, without control characters, within ``_DESCRIPTION``."""
    return _capped(without_controls(text, lines=True) if text else text, _DESCRIPTION)


def _capped(text: str | None, limit: int) -> str | None:
    """``text`` as stored: whole up to ``limit`` characters, else cut there at a word's end, "…" after it (a word
    the limit cuts is left out, unless that leaves less than half)."""
    if text is None or len(text) <= limit:
        return text
    kept = text[:limit - 1]  # and the ellipsis
    if not text[limit - 1].isspace() and (cut := _CUT_WORD.search(kept)) and cut.start() > limit // 2:
        kept = kept[:cut.start()]
    return kept.rstrip() + "\N{HORIZONTAL ELLIPSIS}"


def _one_line(text: str | None) -> str | None:
    """A title, channel, event or speaker as stored: as the filters match it (``_filter_value``: one line, where a
    feed's title may run over several, indented; no control characters), within ``_LINE``."""
    return _capped(_filter_value(text), _LINE)


def _names(names: list[str]) -> list[str]:
    return [name for name in map(_one_line, names) if name][:_SPEAKERS]


def _talk(info: dict, feed: dict, playlist_title: str | None, url: str, media_url: str | None) -> Talk:
    """Catalog metadata from a yt-dlp info dict, completed by what the enclosing feed said; its free text within
    the sizes a real talk's keeps to (``_LINE``, ``_DESCRIPTION``, ``_SPEAKERS``)."""
    speakers = feed.get("speakers") or info.get("creators") or [s for s in [info.get("creator") or info.get("artist")] if s]
    return Talk(
        extractor=info["extractor_key"],
        source_id=str(info["id"]),
        url=url,
        media_url=media_url,
        title=_one_line(info.get("title")) or str(info["id"]),
        channel=_one_line(info.get("channel") or info.get("uploader") or playlist_title),
        speakers=_names(speakers),
        event=_one_line(feed.get("event") or info.get("series") or info.get("album")),
        # a feed item's description as text (yt-dlp's is its <description> as written: HTML, escaped)
        description=_description(feed.get("description") or info.get("description")),
        published=feed.get("published") or _published(info),
        duration=info.get("duration"),
        # as the site or the feed's item states it (a forced --language replaces it: Sources.fetch); whisper's
        # detection fills it in otherwise (and where the source's word for it is no language: "Deutsch"), checking
        # what the feed's channel says (Fetched.channel_language)
        language=source_language(caption_sources.spoken_language(info)) or source_language(feed.get("language")),
        thumbnail=info.get("thumbnail") or feed.get("thumbnail"),  # the item's own artwork, else the show's
        chapters=_table_of_contents(((c.get("start_time"), c.get("end_time"), c.get("title"))
                                     for c in info.get("chapters") or [] if isinstance(c, dict)), info.get("duration")),
    )


def _recording_markers(recording: Path) -> list[tuple[float, float | None, str | None]]:
    """The chapter markers a recording holds (``media_chapters``); none where it cannot be read: whisper's reading
    of it says what is wrong with it."""
    try:
        return media_chapters(str(recording))
    except Exception:  # not media we can open (as _stated_duration)
        return []


def _unstated_chapters(markers: Iterable[tuple[float, float | None, str | None]], description: str | None,
                       duration: float | None) -> list[dict]:
    """A talk's chapters where its source states none (its site, its sidecar .info.json, its feed: their word wins):
    its recording's chapter markers (``_recording_markers``) where any is usable, else the table of contents its
    ``description`` lists (``_described_chapters``); read as a source's are (``_table_of_contents``)."""
    return (_table_of_contents(markers, duration)
            or _table_of_contents(_described_chapters(description), duration))


def _local_chapters(talk: Talk, recording: Path) -> list[dict]:
    """A local recording's chapters where its sidecar states none (``_unstated_chapters``), within its measured
    length, as a sidecar's are (``_by_the_recording``): measured only where there are chapters to end by it."""
    markers = _recording_markers(recording)
    if not markers and not _described_chapters(talk.description):
        return []
    return _unstated_chapters(markers, talk.description, _stated_duration(recording) or talk.duration)


def _stated_duration(path: Path) -> float | None:
    """The recording's duration (captions past it are refused): as its container states it, measured where that
    is only ffmpeg's estimate (an MP3 without a Xing header); None when unreadable."""
    try:
        return media_duration(str(path))
    except Exception:  # not media we can open: whisper's reading of it will say so
        return None


def _require_recording(path: Path) -> None:
    """Raise SourceError unless PyAV (the decoder transcription uses) finds an audio or video stream in the file.
    When captions supply the words nothing else opens it, and the service's /media serves whatever the catalog
    names: a text file (or a link to /etc/passwd) named .mp3 beside a .vtt would be indexed and served as media."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if container.streams.audio or container.streams.video:
                return
    except av.error.FFmpegError:
        pass
    raise SourceError("not readable as audio or video (no stream could be read)")


# Query parameters that sign or track a link rather than name a recording: a CDN's token and expiry, a cloud
# store's signature, a campaign's tag. They change from one reading of a feed to the next, while
# download.php?id=1 and ?id=2 are two recordings: only these are left out of where a recording is.
_PASSING_PARAMS = re.compile(r"token|sig|signature|expires?|exp|auth|policy|key-pair-id|hdnt[sl]"
                             r"|(x-amz|x-goog|utm)[-_].*", re.IGNORECASE)


def _lasting(url: str) -> str:
    """A media URL without its fragment and the query parameters that only sign or track it (_PASSING_PARAMS)."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _PASSING_PARAMS.fullmatch(k)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), ""))


def _address(url: str) -> str:
    """Where a recording is (``_lasting``), unescaped: the same whatever token its query carries or however it
    is escaped (as listed, as fetched)."""
    return unquote(_lasting(url))


def _feed_digest(url: str) -> str:
    """A feed's digest, of its address as named (``_lasting``: a private feed's token may change), less its scheme:
    the same feed read over http or https."""
    return hashlib.sha256(_lasting(url).partition("://")[2].encode()).hexdigest()[:8]


def elsewhere(listed: str, *stored: str | None) -> bool:
    """Whether a recording listed at ``listed`` is at another address than any of the URLs a talk ``stored`` (its
    link, its media): a feed item whose enclosure moved, not one whose token changed."""
    return _address(listed) not in {_address(url) for url in stored if url}


def _url_digest(url: str) -> str:
    """A media URL's digest, of where the recording is (``_lasting``; see Sources._distinct_id); for a URL
    without a query or fragment, that of the URL as it is (as it always was)."""
    return hashlib.sha256(_lasting(url).encode()).hexdigest()[:8]


def _file_digest(path: Path) -> str:
    """Content digest, so a renamed or moved recording is still recognised."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:20]


def read_source_list(path: Path) -> list[str]:
    """``--from-file``: one source per line; blank lines ignored, and # comments: a line's own, or after a source,
    following whitespace (a URL's "#fragment" follows no whitespace)."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()  # a BOM (Windows editors write one) is not a source's
    sources = (re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip() for line in lines)
    return [source for source in sources if source]


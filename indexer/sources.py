"""Turn what the user named (URLs, feeds, playlists, channels, files, folders) into talks to index.

Everything remote goes through yt-dlp's Python API: its extractors list playlists and channels, its
generic extractor reads RSS/podcast feeds and pages with media, and its archive check (fed from the
library catalog) skips talks that are already indexed, keyed by extractor and id as its own
``--download-archive`` is. Local files never touch yt-dlp.

What a source states is read beside this module: a feed's items (``feeds``), a talk's details and sidecar
.info.json (``talk_details``), its chapters (``chapters``), its free text's sizes (``source_text``); how a
recording is known again (``source_identity``); and yt-dlp's downloads within the run's limits (``downloads``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import re
import stat
import threading
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Container, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import av
import yt_dlp
from yt_dlp.extractor.generic import GenericIE
from yt_dlp.utils import make_archive_id, smuggle_url, unsmuggle_url

from talksearch.indexer import caption_sources
from talksearch.indexer.caption_sources import CaptionTrack, CaptionTranscript
from talksearch.indexer.captions import CaptionError
from talksearch.indexer.chapters import (_described_chapters, _json_chapters, _local_chapters, _recording_markers,
                                         _stated_duration, _unstated_chapters)
from talksearch.indexer.detail_rules import DetailRules
from talksearch.indexer.downloads import DownloadRefused, _DownloadWatch, _Quiet, _WatchedDL
from talksearch.indexer.feeds import (_ATOM, _RDF, _absolute, _as_read, _atom_feed, _atom_text, _feed_items,
                                     _item_key, _linked_feed, _no_recordings, _people, _plain_text, _rss_listing)
from talksearch.indexer.source_identity import (PAGE_MEDIA, CatalogArchive, _address, _feed_digest, _file_digest,
                                                _holds, _lasting, _played_from_host, _url_digest)
from talksearch.indexer.source_text import _description, _names, _one_line
from talksearch.indexer.talk_details import (_by_the_recording, _sidecar_info, _talk, page_media_info, page_media_object,
                                            sidecar_info_and_note)

from talksearch.language_codes import base_language, source_language
from talksearch.settings import default
from talksearch.library import TALK_DETAILS, Talk, archive_id, talk_id
from talksearch.library.layout import CATALOG, DOWNLOADS, MEDIA
from talksearch.media_types import MEDIA_SUFFIXES, media_type, recording_path  # what a folder's walk takes: the suffixes /media serves a type for

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# The note of a talk whose host ignores Range requests (``_unseekable``): said of a talk added, not of one that failed
UNSEEKABLE = "its host ignores Range requests: players can play it only from the start, not at a moment"
_REDIRECTS = 5  # a URL that leads to a URL that leads to ...: followed this far when listing
# A publisher's file read whole (_read_url: a feed's chapters file, a transcript): refused past this size rather than
# held in memory. A 3-hour talk's transcript is a few MB (WebVTT with a cue every few seconds is ~1 MB; JSON with each
# word's times ~5 MB), a chapters file a few KB: 20 MB leaves room for any real one.
_URL_LIMIT_MB = 20
_URL_PIECE = 1 << 20  # bytes read at a time, so that what is read stays within the limit plus a piece
# ... and refused when reading it takes longer than this in all: yt-dlp's socket timeout is per read, which a server
# that trickles a byte every few seconds never meets, while the run waits on the talk (holding the writer's lock)
_URL_DEADLINE_S = 60
_RANGE_PROBE_S = 10  # seconds a host has to answer whether it takes Range requests (Sources._unseekable)
_NO_MEDIA = "no media found on this page (yt-dlp: Unsupported URL)"
_NOT_A_RECORDING = "not readable as audio or video (not a recording of a type talksearch plays)"


class SourceError(Exception):
    """A source or one of its items cannot be used; the message says why in one line."""


@dataclass
class Unwalked:
    """A folder within a named one that could not be listed (unreadable, or its path longer than the system takes):
    a failed line of its own, the rest of the named folder's talks indexed."""

    label: str  # its path, shortened (``_shortened``)
    detail: str


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


class Sources:
    """Lists and fetches talks. ``is_indexed(archive_key)`` tells which ones to skip as already indexed (none,
    with --reindex); ``library_urls()`` what the library holds, every talk's archive key with the URL it was
    fetched from: which key a talk has there (``_distinct_id``), whether it is then skipped or replaced."""

    def __init__(self, download_dir: Path, is_indexed: Callable[[str], bool], socket_timeout: float = 30.0,
                 on_download: Callable[[str, int, int | None], None] | None = None, captions: str = "never",
                 language: str | None = None, keep_media: bool = False,
                 library_urls: Callable[[], Mapping[str, str]] = dict,
                 removed_urls: Callable[[], Mapping[str, str]] = dict,
                 max_download_mb: int = default("max_download_mb"),
                 download_stall_seconds: float = default("download_stall_seconds"),
                 parse_metadata: Sequence[str] = ()):
        """``captions`` (``caption_sources.CHOICES``) says which captions may stand in for the audio; a talk
        they cover is not downloaded unless ``keep_media``. ``language`` is the spoken language, when forced.
        ``library_urls`` is read once, when a media URL's key is first needed, as is ``removed_urls``: the talks
        removed from the library, by archive key, with the URL each was fetched from. A download larger than
        ``max_download_mb`` (0: any size), or slower than ``_STALL_BYTES_PER_S`` for ``download_stall_seconds``,
        fails its talk. ``parse_metadata``: the user's rules that read details out of others (``DetailRules``),
        applied to what every source states of a talk."""
        self.download_dir = download_dir
        self.library_urls = library_urls
        self.removed_urls = removed_urls
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
            # a piece of a stream (HLS, DASH) that cannot be fetched fails the talk, with why: skipped, as yt-dlp
            # does by default, it leaves a gap that puts every later moment of the talk early
            "skip_unavailable_fragments": False,
            "noplaylist": False,
        }
        self.ydl = _WatchedDL(params)
        self.rules = DetailRules(parse_metadata)
        # A local recording's digest (its archive key) by the file it was read from (``_digest``): read whole once
        # a run, not once for its key and again by its fetch
        self._digests: dict[tuple[int, int, int, int], str] = {}

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

    def expand(self, source: str) -> Iterator[Candidate | Unwalked]:
        """The talks a source names, and the folders within a named one that could not be listed (``Unwalked``).
        Raises SourceError when the source itself is unusable."""
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
        an RSS feed (``_feed_listing``). SourceError, one line, when neither can."""
        with _DownloadWatch(math.inf, _URL_DEADLINE_S, "reading the page or feed") as watch:
            self.ydl.watch = watch
            try:
                return self.ydl.extract_info(url, download=False, process=False, ie_key=ie_key)
            except Exception as exc:  # DownloadError, and what yt-dlp's HTTP stack raises for "http://" or a bad port
                error = watch.refusal or clean_error(exc)
            finally:
                self.ydl.watch = None
        if error == _NO_MEDIA and (feed := self._feed_listing(url)) is not None:
            return feed
        raise SourceError(error)

    def _feed_listing(self, url: str) -> dict | None:
        """The feed at ``url`` that yt-dlp finds no media in (read as a feed's transcript is: ``_read``, its limits)
        as yt-dlp lists an RSS feed, a playlist of its entries' recordings, with what the feed says of each
        (``feed_items``, which ``_expand_info`` reads the feed again for otherwise): an Atom feed (``_atom_feed``),
        which yt-dlp does not read, or an RSS feed after blank lines (a PHP script's), which it cannot. None when
        it is neither (or cannot be read again: yt-dlp's own line stands). SourceError when it has no recording: a
        feed of posts, or of talksearch's own talk pages; for an RSS 1.0 (RDF) feed, which is not read; and for a
        page that links its feed, naming it (the show's page named for its feed)."""
        try:
            document, feed_url = self._read(url)
        except CaptionError:
            return None
        try:
            root = ET.fromstring(document.lstrip())
        except ET.ParseError:
            root = None
        if root is None or root.tag.rpartition("}")[2].lower() == "html":  # a page (HTML, or XHTML that parses)
            if linked := _linked_feed(document, feed_url):
                raise SourceError(f"{_NO_MEDIA.partition(' (')[0]}; it links a feed: {linked}")
            return None
        if root.tag == f"{_RDF}RDF":
            raise SourceError("an RSS 1.0 (RDF) feed, which talksearch does not read: index an RSS 2.0 or Atom feed "
                              "of its recordings, or the recordings themselves")
        if root.tag == "rss" and (listing := _rss_listing(document, feed_url)) is not None:
            # (as no item is listed by yt-dlp: each item's entry is talksearch's reading of it)
            entries = _as_read([], [{**item, "listed": False} for item in listing[1]])
            return {"_type": "playlist", "extractor_key": "Generic", "id": url, "webpage_url": feed_url,
                    "title": listing[0], "entries": entries, "feed_items": _feed_items(document, feed_url)}
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
            if info.get("extractor_key") == PAGE_MEDIA:
                # The page's one <video>/<audio>: the generic extractor numbers media entries ("<title> (1)"),
                # which says nothing when there is one. The page URL stays the talk's link (webpage_url).
                info = {**info, "title": re.sub(r"\s*\(1\)$", "", info.get("title") or "") or info.get("title")}
            yield Candidate(source, _one_line(info.get("title")) or info.get("url") or source, entry=info,
                            context=context, listed=source)
            return
        context = {"playlist_title": info.get("title") or info.get("channel") or info.get("uploader"),
                   "page": info.get("webpage_url") or source}  # (a page of several recordings: _distinct_id)
        feed_url = None
        entries = [entry for entry in info.get("entries") or [] if entry is not None]
        if "feed_items" in info:  # an Atom feed, read already (_feed_listing)
            feed_url, context["feed"] = info["webpage_url"], info["feed_items"]
        elif info.get("extractor_key") == "Generic":  # RSS feeds: keep what yt-dlp's reading drops
            feed_url = info["webpage_url"]
            try:
                with self.ydl.urlopen(feed_url) as response:
                    feed_url = response.url  # what its relative URLs are relative to: where it was read from
                    document = response.read()
            except Exception:
                context["feed"] = {}
            else:
                context["feed"] = _feed_items(document, feed_url)
                if (listing := _rss_listing(document, feed_url)) is not None:
                    # its titles and recordings as its XML reads (its declared encoding, its media enclosure)
                    context["playlist_title"] = listing[0] or context["playlist_title"]
                    entries = _as_read(entries, listing[1])
        guids = Counter((unsmuggle_url(e.get("url") or "")[1] or {}).get("force_videoid") for e in entries)
        for entry in entries:
            url, smuggled = unsmuggle_url(entry.get("url") or "")
            if feed_url and url:
                url = _absolute(url, feed_url)  # <enclosure url="ep1.mp3">, which yt-dlp lists as it is: the feed's
                guid = (smuggled or {}).get("force_videoid")
                if guid is not None and not guid.strip():
                    # "<guid>\n  </guid>": no guid, the item known by its enclosure (all such items were one talk,
                    # under the guid's id within the feed: the one a run took then keeps it)
                    smuggled = {k: v for k, v in smuggled.items() if k != "force_videoid"}
                    if earlier := self._ids_by_guid(guid, url):
                        smuggled.update(force_videoid=earlier[0], guid=None)
                elif guid and "guid" not in smuggled:
                    # yt-dlp ids the item by its guid alone (its archive key, its download's name), which another
                    # show gives its own items too ("1", "ep-12"): the id it passes along is the guid within this
                    # feed (_item_id), and the guid itself travels beside it (what the feed's metadata is keyed by).
                    # A guid the feed gives other items too is told apart by the item's enclosure (_repeated_id).
                    repeated = guids[guid] > 1
                    smuggled = {**smuggled, "force_videoid": (self._repeated_id if repeated else self._item_id)(
                        guid, url, source), "guid": guid, **({"guid_repeated": True} if repeated else {})}
                entry = {**entry, "url": smuggle_url(url, smuggled) if smuggled else url}
            if entry.get("_type") in ("playlist", "multi_video"):
                yield from self._expand_info(source, entry, context)
            else:
                yield Candidate(source, _one_line(entry.get("title")) or entry.get("url") or source, entry=entry,
                                context=context)

    def _expand_local(self, source: str, from_url: bool = False) -> Iterator[Candidate | Unwalked]:
        path = Path(source).expanduser()
        try:
            is_dir, is_file, exists = path.is_dir(), path.is_file(), path.exists()
        except OSError as exc:  # a path longer than the system takes (ENAMETOOLONG): one source refused
            raise SourceError(_os_error(exc)) from None
        if exists and self._library_keeps(path):
            raise SourceError("the library's own recordings (its media/ or downloads/): their talks are in it already")
        if is_dir and os.path.lexists(path / CATALOG):  # its walk would skip it whole, and say "no audio or video"
            library = self.download_dir.parent
            if library.exists() and os.path.samefile(path, library):  # (however reached: a link, a bind mount)
                raise SourceError("the library itself: its talks are in it already")
            raise SourceError(f"a talksearch library: its recordings are not indexed from it (name its {MEDIA}/ "
                              "folder to index those it kept into this one)")
        if is_dir:
            # a talksearch library inside the folder (its kept media, its downloads) is not walked: its copies
            # of talks would be indexed again as new ones
            files, unwalked = _walk(path, skip=self._kept_folders())
            if not files and not unwalked:  # said, rather than "0 added" as if all were well
                raise SourceError("no audio or video files in this folder")
            yield from unwalked
            for file in files:
                yield Candidate(source, str(file), path=file)
        elif is_file:
            yield Candidate(source, str(path), path=path)
        elif exists:  # a pipe, a socket, a device: read once it is gone, and a recording is read twice
            raise SourceError("not a regular file or a folder (a pipe or a device cannot be indexed)")
        elif from_url:  # "file:///talks/nope.mp3" is a URL: only its file is missing
            raise SourceError("no such file or folder")
        else:
            raise SourceError("no such file or directory, and not a URL")

    def _library_keeps(self, path: Path) -> bool:
        """Whether ``path`` is the library's kept media or downloads, or within them, however reached (a link, a bind
        mount: told by the folders' device and inode): indexed into the library again, each recording was a new
        talk beside the one it is kept for (its archive key the file's digest, not its URL's)."""
        kept = self._kept_folders()
        for above in (path, *path.absolute().parents):  # (stat follows a link to the folder it names)
            with contextlib.suppress(OSError):
                if _identity(above) in kept:
                    return True
        return False

    def _kept_folders(self) -> set[tuple[int, int]]:
        """The (st_dev, st_ino) of the library's media/ and downloads/, those there are."""
        kept = set()
        for name in (MEDIA, DOWNLOADS):
            with contextlib.suppress(OSError):
                kept.add(_identity(self.download_dir.parent / name))
        return kept

    # --- fetching -------------------------------------------------------------------------------

    def archive_key(self, candidate: Candidate) -> str | None:
        """The archive key when it is known without a network request (local files, ids in listings)."""
        if candidate.path is not None:
            if media_type(candidate.path) is None:  # not a recording (unread): its fetch refuses it, saying why
                return None
            try:
                return archive_id("local", self._digest(candidate.path))
            except OSError:  # unreadable, or gone since it was listed: its fetch fails it alone, saying which
                return None
        entry = candidate.entry or {}
        if entry.get("id"):
            return self.ydl._make_archive_id(self._distinct_id(entry, candidate.listed,
                                                               (candidate.context or {}).get("page")))
        # A feed item's flat entry has no id: its guid (within its feed: _item_id) travels with its URL, which
        # yt-dlp's generic extractor (the one that reads a media URL) takes as the id; without a guid, the id is the file's name and the
        # listed URL's digest, or the id the library holds the talk at that URL under (_distinct_id).
        url, smuggled = unsmuggle_url(entry.get("url") or "")
        if not url or self.ydl._make_archive_id({"id": "-", "url": url}) != make_archive_id("Generic", "-"):
            return None
        guid = (smuggled or {}).get("force_videoid")
        return make_archive_id("Generic", guid or self._media_url_id(url))

    def _distinct_id(self, info: dict, listed: str | None = None, listing_page: str | None = None) -> dict:
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
        if info.get("extractor_key") == PAGE_MEDIA:
            # (a page of several recordings lists each at its own file: the page is the listing's, ``listing_page``)
            named_by = next((url for url in (listed, listing_page, page) if url and re.fullmatch(
                rf"{re.escape(GenericIE._generic_id(url))}-\d+", str(info.get("id")))), None)
            if named_by:
                return {**info, "id": self._page_media_id(str(info["id"]), named_by)}
        if not named_after_file:
            return info
        return {**info, "id": self._media_url_id(listed or url, url)}

    def _page_media_id(self, id_: str, page: str) -> str:
        """The id of a page's n-th <video> or <audio>, which yt-dlp names after the page's file ("talk-1" for
        /2023/talk.html and /2024/talk.html alike): with the page's digest, unless the library holds the talk at
        that page under the name alone (an earlier release's key)."""
        earlier = make_archive_id(PAGE_MEDIA, id_)
        if earlier in self._keyed and _address(self._keyed[earlier]) == _address(page):
            return id_
        return self._first_held(PAGE_MEDIA, f"{id_}-{_url_digest(page)}", f"{id_}-{_url_digest(page, as_before=True)}")

    def _first_held(self, extractor: str, own: str, *before: str) -> str:
        """``own``, an id as this release gives it, unless the library holds the talk under one an earlier release
        gave it (``before``: a digest of the URL with its user name and password, as before 2026-12-06)."""
        return next((id_ for id_ in before if make_archive_id(extractor, id_) in self._keyed), own)

    def _media_url_id(self, listed: str, resolved: str | None = None) -> str:
        """The id of a recording named after its file, listed at ``listed`` (and fetched from ``resolved``, once
        requested): the listed file's name and the listed URL's digest, both of where the recording is
        (``_lasting``: a token that changes changes neither), so it is known before any request; unless the
        library holds the talk at that address under an id an earlier release gave it. An earlier id found at
        the address it was fetched from (an earlier release keyed a redirected URL by where it led) is taken only
        for a file of the same name: another listed URL that redirects to the same file is another recording."""
        name = GenericIE._generic_id(_lasting(listed))
        distinct = f"{name}-{_url_digest(listed)}"
        if make_archive_id("Generic", distinct) in self._keyed:
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
        own = self._first_held("Generic", f"{guid.strip()}-{_feed_digest(feed)}",
                               f"{guid.strip()}-{_feed_digest(feed, as_before=True)}")
        if make_archive_id("Generic", own) in self._keyed:
            return own
        if here := self._ids_by_guid(guid, listed):
            return here[0]
        return guid if make_archive_id("Generic", guid) in self._keyed else own

    def _repeated_id(self, guid: str, listed: str, feed: str) -> str:
        """The id of a feed's item whose <guid> the feed gives other items too (a copied item whose guid was left
        as it was): the guid within its feed (``_item_id``) and the digest of its recording's URL (``_url_digest``),
        so that each recording is a talk. Unless the library holds a talk by this guid at the address listed: the
        one an earlier run took (the others were "listed twice" then), or one the guid was this item's alone for."""
        if here := self._ids_by_guid(guid, listed):
            return here[0]
        return self._first_held("Generic", f"{guid.strip()}-{_feed_digest(feed)}-{_url_digest(listed)}",
                                f"{guid.strip()}-{_feed_digest(feed, True)}-{_url_digest(listed, True)}")

    def _ids_by_guid(self, guid: str, listed: str) -> list[str]:
        """The ids the library holds talks by this guid under (the guid alone, or within a feed, told apart by its
        recording's URL or not) at ``listed``'s address."""
        by_guid = re.compile(f"{re.escape(guid)}|{re.escape(guid.strip())}-[0-9a-f]{{8}}(-[0-9a-f]{{8}})?")
        return sorted(i for i in self._generic_ids.get(_address(listed), ()) if by_guid.fullmatch(i))

    @functools.cached_property
    def _generic_ids(self) -> dict[str, list[str]]:
        """The ids of the library's talks the generic extractor read (media URLs, feed items), by their URL's
        address; and of those removed from it (``_keyed``)."""
        ids: dict[str, list[str]] = {}
        for key, url in self._keyed.items():
            extractor, _, source_id = key.partition(" ")
            if extractor == "generic":
                ids.setdefault(_address(url), []).append(source_id)
        return ids

    @functools.cached_property
    def _library(self) -> Mapping[str, str]:
        """The library as this run found it (a talk this run adds is told apart by ``taken`` instead)."""
        return self.library_urls()

    @functools.cached_property
    def _keyed(self) -> Mapping[str, str]:
        """The archive keys (with their URLs) of the talks the library has and of those removed from it: a feed item
        or media URL keeps the key it had, one an earlier release gave it too. Removed, it is known by that key and
        skipped (``removed_urls``); keyed anew, its removal was not found and the talk was added back."""
        return {**self.removed_urls(), **self._library}

    @functools.cached_property
    def _earlier_ids(self) -> dict[str, str]:
        """The ids of the library's talks (and removed ones: ``_keyed``) from media URLs named after their files, by
        their URL's address: the ids earlier releases gave them, the file's name alone, or with the digest of the
        whole URL yt-dlp resolved (its token, where it redirected), which a talk listed under the same address again
        cannot be given."""
        ids = {}
        for key, url in self._keyed.items():
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
        smuggled = unsmuggle_url(candidate.entry.get("url") or "")[1] or {}
        # (said on its line: the publisher may mean to fix it, and each item's talk stays known by its enclosure)
        repeated = (f"its <guid> {smuggled['guid'].strip()} is another item's too: told apart by its enclosure"
                    if smuggled.get("guid_repeated") else None)
        try:
            info = self._resolved(candidate.entry)
            if info is None:
                return None
            info = self._distinct_id(info, listed, (candidate.context or {}).get("page"))
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
                # nothing states its length (no itunes:duration) nor measures it: it lasts as far as its words are
                # heard, as its line's "of audio" says (TalkProcessor)
                talk.duration = talk.duration or heard_to
                # (``refused`` says here how they were read: "uploaded captions read as Windows-1252")
                return Fetched(talk, None, False, transcript, _notes(repeated, refused, unread, unseekable),
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
        return Fetched(talk, audio, True, transcript, _notes(repeated, refused, unread, unseekable), pending,
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
        return UNSEEKABLE

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
        items = (candidate.context or {}).get("feed") or {}
        if not listed:
            return listed, items.get(guid, {})
        # (a guid the feed gives other items too is keyed with the item's URL beside it; where the listing and the
        # feed's reading count another item by it, one that is no talk, the two keys are tried)
        repeated = smuggled.get("guid_repeated", False)
        return listed, (items.get(_item_key(guid, listed, repeated))
                        or items.get(_item_key(guid, listed, not repeated), {}))

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
            if (recorded := self._recorded_elsewhere(key, given, resolved)) is not None and recorded[1]:
                return {}  # a copy's: its talk is at the path that still holds the recording (a moved one's is here)
            sidecar = _sidecar_info(candidate.path.with_suffix(".info.json"))
            # its chapters as indexing checked them (_fetch_local): by the recording's length, not the sidecar's
            talk = self._talk({**_by_the_recording(sidecar, resolved), "extractor_key": "local",
                               "id": key.partition(" ")[2]}, {}, None, url="", media_url=None)
            if not talk.chapters and (sidecar or _described_chapters(talk.description)):
                # those indexing would read now: the recording's own markers, else its description's. A sidecar
                # that lists none (any more) states them, none included: chapters taken out of it were kept for
                # good. (No sidecar, or an unreadable one, states nothing: what indexing read stays.)
                talk.chapters = _local_chapters(talk, resolved)
            # a title made from the file's name is none stated: a renamed recording's talk keeps its own (Moved's does)
            stated = {field: getattr(talk, field) for field in TALK_DETAILS if field != "title" or sidecar.get("title")}
            if sidecar:
                return {field: value for field, value in stated.items() if value or field == "chapters"}
        else:
            listed, feed = self._listing(candidate)
            if not feed:
                return {}
            entry = candidate.entry or {}
            smuggled = unsmuggle_url(entry.get("url") or "")[1] or {}
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
            if ((stored := self._library.get(key)) and listed and _address(stored) != _address(listed)
                    and not _upgraded(listed, stored)):
                # its media where its enclosure redirected, as releases before stored it (a CDN's signed link, which
                # has expired since): played from the URL listed, as _talk_from_info stores it now. (An enclosure
                # that moved is at another address than the talk's link too: the writer moves both.)
                stated["media_url"] = listed
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
        # (not the feed's channel's language: a hint, which the captions would take as theirs; TalkProcessor has
        # whisper check it, and chooses among captions in several languages by what whisper hears)
        language = self.language or caption_sources.spoken_language(info) or feed.get("language")
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
        """The first of the tracks that fit (``caption_sources.ranked``) that can be read, and the note for the
        talk's line: how it was read, or why none was used (the best one's reason: a later one's is no news)."""
        try:
            fitting = caption_sources.ranked(tracks, language)
        except CaptionError as exc:
            return None, f"captions not used: {exc}"
        refused = None
        for track in fitting:  # a 404, or a transcript without timings: the next that fits, before whisper
            try:
                transcript = caption_sources.load(track, self._read_url, duration, language)
            except CaptionError as exc:
                refused = refused or f"{track.source} not used: {exc}"
                continue
            return transcript, transcript.note
        return None, refused

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
        played = _played_from_host(info) is not None
        on_its_page = info.get("extractor_key") == PAGE_MEDIA  # played from its file, linked by its page
        direct = played and not on_its_page
        link = media_url if direct else page_url
        if direct and listed and _address(listed) != _address(media_url):
            # A media URL that redirects: the talk is linked by the URL listed (the one it is keyed by), so that two
            # URLs leading to one recording are two talks told apart; and played by it, which players follow as
            # the download did: where it led is often a CDN's signed link that expires within the hour
            # (?Expires=...&Signature=...), or a tracking prefix's target of the day. (Where it led is kept when it
            # is the same address over https: no page served over https plays http media.)
            link = listed
            media_url = media_url if _upgraded(listed, media_url) else listed
        if (info.get("extractor_key") == "Generic" and info.get("direct")) or on_its_page:
            # A media file's own URL (a feed item's enclosure), or a page's <video>: yt-dlp dates it by the HTTP
            # Last-Modified (of the file, of the page), when it was last copied to the server or the page last
            # rendered, not when the talk was published (and derives upload_date from it). A feed's <pubDate> is
            # read from the feed itself (_feed_items).
            info = {**info, "timestamp": None, "upload_date": None}
        if on_its_page:  # what the page states of its recording fills in what yt-dlp's reading of it leaves out
            info = {**info, **{key: value for key, value in self._page_media_info(page_url, media_url).items()
                               if not info.get(key)}}
        return self._talk(info, feed, context.get("playlist_title"), url=link, media_url=media_url if played else None)

    def _page_media_info(self, page_url: str, media_url: str) -> dict:
        """What a page says of the recording it plays in schema.org's terms (JSON-LD: its date, who made it, its
        description and chapters: ``page_media_info``), read with yt-dlp's own JSON-LD reading; {} where it says
        nothing or cannot be read. The page is read again: the generic extractor, which found its <video>, keeps
        none of its JSON-LD once it has found one."""
        try:
            html = self._read(page_url)[0].decode("utf-8", "replace")
        except CaptionError:
            return {}
        generic = self.ydl.get_info_extractor(GenericIE.ie_key())
        found = page_media_object(generic._yield_json_ld(html, page_url, default=None), media_url, page_url)
        if found is None:
            return {}
        info = page_media_info(found, generic._json_ld({"@context": "https://schema.org", **found}, page_url,
                                                       fatal=False))
        if info.get("description"):  # markup as a reader of the page sees it, as a feed's is
            info["description"] = _plain_text(info["description"])
        return info

    def _digest(self, path: Path) -> str:
        """The local recording's content digest (``_file_digest``), read once a run: by the file (device, inode)
        as it stands (size, modification time), so that one replaced since is read anew."""
        status = path.stat()
        read_as = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)
        if read_as not in self._digests:
            self._digests[read_as] = _file_digest(path)
        return self._digests[read_as]

    def _fetch_local(self, path: Path) -> Fetched | None:
        # How it begins first (a few bytes), before it is read whole for its digest: a 5 GB file of zeros named
        # .mp4 was read for minutes before its start refused it
        if media_type(path) is None:
            # unreadable or gone since it was listed: said so (OSError), not as a file that is no recording; a FIFO
            # put in its place is not opened (it would wait for a writer)
            if stat.S_ISREG(path.stat().st_mode):
                path.open("rb").close()
            raise SourceError(_NOT_A_RECORDING)
        digest = self._digest(path)
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
        if known and moved_from is None and copy_of is None:
            return None  # at its talk's path: skipped (a copy met elsewhere is skipped below, naming what it copies)
        _require_recording(resolved)
        sidecar, unread_sidecar = sidecar_info_and_note(path.with_suffix(".info.json"))
        info = _by_the_recording(sidecar, resolved)
        # A file name that is not UTF-8 (bytes Python keeps as surrogates) still titles its talk, readably.
        stem = path.stem.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        info.update(extractor_key="local", id=digest, title=info.get("title") or stem.replace("_", " "))
        talk = self._talk(info, {}, None, url=_web_page(info.get("webpage_url")) or given.as_uri(),
                          media_url=given.as_uri())
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
        return Fetched(talk, resolved, False, transcript, _notes(unread_sidecar, refused), pending,
                       replaces=displaced and talk_id(displaced))

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


def _upgraded(listed: str, fetched: str) -> bool:
    """Whether a recording listed at ``listed`` was fetched from the same address over https (an http link's
    redirect to its https)."""
    return (urlsplit(listed).scheme.lower() == "http" and urlsplit(fetched).scheme.lower() == "https"
            and _address(listed).partition("://")[2] == _address(fetched).partition("://")[2])


def _notes(*notes: str | None) -> str | None:
    """A talk's notes for its line (``Fetched.captions_refused``), in one: "; " between them, None for none."""
    return "; ".join(note for note in notes if note) or None


def _web_page(url: str | None) -> str | None:
    """A sidecar's page for its talk, when it is one on the web (http, https): a file:///etc/passwd or javascript:
    "page" is no link to give a talk, which then links its own file."""
    try:
        return url if url and urlsplit(url).scheme.lower() in ("http", "https") else None
    except ValueError:  # "http://[::1"
        return None


def _os_error(exc: OSError) -> str:
    """An OSError's words as a line's detail: "permission denied", without the path the line names already."""
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


_SHOWN_PATH = 160  # characters of a path a line shows: a folder 450 deep is named by its start and its end


def _shortened(path: str) -> str:
    if len(path) <= _SHOWN_PATH:
        return path
    return f"{path[:_SHOWN_PATH // 2]}…{path[-_SHOWN_PATH // 2:]}"


def _walk(folder: Path, skip: Set[tuple[int, int]] = frozenset()) -> tuple[list[Path], list[Unwalked]]:
    """The recordings in ``folder`` and the folders below it, sorted; and those folders that could not be listed,
    each one failed line: Path.rglob left an unreadable one out unsaid, and ended the whole run at one whose path is
    longer than the system takes. A talksearch library inside it (its kept media, its downloads) is not walked: its
    copies of talks would be indexed again as new ones.

    Links to folders are followed, as ``find -L`` does (a lab's folder of links to its shares), each real folder
    walked once: a link to one walked already, or back to an ancestor, is skipped without a word, so that a loop
    ends and a folder linked twice lists its recordings once; and so is a link to a folder inside ``folder``, walked
    at its own path (at the link's, a link re-pointed since had /media serve another recording). Folders in ``skip``
    (the library's media/ and downloads/, by device and inode: a bind mount of them too) are not walked."""
    files: list[Path] = []
    unwalked: list[Unwalked] = []

    def unlisted(exc: OSError) -> None:
        unwalked.append(Unwalked(_shortened(str(exc.filename or folder)), _os_error(exc)))

    # (st_dev, st_ino) of the folders walked, and of the named one's ancestors: a link to "/" walks nothing more
    try:
        walked = {_identity(above) for above in (folder, *folder.resolve().parents)}
        inside = folder.resolve()
    except OSError:  # os.walk's first listing says what is wrong with the folder itself
        walked, inside = set(), None
    for where, folders, names in os.walk(folder, onerror=unlisted, followlinks=True):
        if CATALOG in names or CATALOG in folders:
            folders.clear()
            continue
        # a folder of its own before a link to it beside it: its recordings are listed at their own paths
        folders.sort(key=lambda name: (os.path.islink(os.path.join(where, name)), name))
        to_walk = []
        for name in folders:
            below = Path(where, name)
            try:
                identity = _identity(below)
                if identity in skip:
                    continue
                if below.is_symlink():
                    real = below.resolve()
                    if _in_a_library(real) or (inside is not None and real.is_relative_to(inside)):
                        continue
            except OSError as exc:  # its path too long to look at, its link's folder gone since it was listed
                unwalked.append(Unwalked(_shortened(str(below)), _os_error(exc)))
                continue
            if identity not in walked:
                walked.add(identity)
                to_walk.append(name)
        folders[:] = to_walk
        for name in names:
            file = Path(where, name)
            try:
                if file.suffix.lower() in MEDIA_SUFFIXES and file.is_file():
                    files.append(file)
            except OSError as exc:  # its path too long to look at, a link that loops
                unwalked.append(Unwalked(_shortened(str(file)), _os_error(exc)))
    return sorted(files), sorted(unwalked, key=lambda failed: failed.label)


def _identity(folder: Path) -> tuple[int, int]:
    """What tells a folder apart however it is reached (through links): its device and inode."""
    status = folder.stat()
    return status.st_dev, status.st_ino


def _in_a_library(real: Path) -> bool:
    """Whether the folder at ``real`` (links resolved) is a talksearch library or within one (its ``media/``)."""
    return any((above / CATALOG).exists() for above in (real, *real.parents))


def _require_recording(path: Path) -> None:
    """Raise SourceError unless PyAV (the decoder transcription uses) finds an audio stream (one that states a sample
    rate) or a video stream in the file.
    When captions supply the words nothing else opens it, and the service's /media serves whatever the catalog
    names: a text file (or a link to /etc/passwd) named .mp3 beside a .vtt would be indexed and served as media.
    First, before ffmpeg opens it as whatever it probes as, the file must be what /media serves (``media_type``:
    how it begins, and ffmpeg's demuxers for recordings alone): a playlist (HLS .m3u8, ffconcat) would have ffmpeg
    read the files it lists, ones the user never named, and a tar named .mp4 be a talk /media then refuses."""
    if media_type(path) is None:
        raise SourceError(_NOT_A_RECORDING)
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            audio, video = container.streams.audio, container.streams.video
            rates = [stream.codec_context.sample_rate for stream in audio]
    except av.error.FFmpegError:
        raise SourceError("not readable as audio or video (no stream could be read)") from None
    # A stream that states 0 Hz (a Matroska header can) is listed, but nothing decodes it: its transcription failed
    # with ffmpeg's "Invalid argument", and with captions beside it the file was served as a talk's media
    if audio and not any(rates):
        raise SourceError("not readable as audio or video (its audio states a sample rate of 0 Hz)")
    if not audio and not video:
        raise SourceError("not readable as audio or video (no stream could be read)")


def read_source_list(path: Path) -> list[str]:
    """``--from-file``: one source per line; blank lines ignored, and # comments: a line's own, or after a source,
    following whitespace (a URL's "#fragment" follows no whitespace)."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()  # a BOM (Windows editors write one) is not a source's
    sources = (re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip() for line in lines)
    return [source for source in sources if source]

"""How a recording is told apart and known again from one run to the next: by where it is (its URL less the tokens
that sign or track it, however it is escaped), by its feed's address beside an item's guid, by its file's content
for a local one; and the library catalog as yt-dlp's download archive, so that a talk already indexed is skipped
before anything is downloaded.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit
from urllib.request import url2pathname

from yt_dlp.utils import unsmuggle_url

from talksearch.library import without_credentials

# Query parameters that sign or track a link rather than name a recording: a CDN's token and expiry, a cloud
# store's signature, a campaign's tag. They change from one reading of a feed to the next, while
# download.php?id=1 and ?id=2 are two recordings: only these are left out of where a recording is.
_PASSING_PARAMS = re.compile(r"token|sig|signature|expires?|exp|auth|policy|key-pair-id|hdnt[sl]"
                             r"|(x-amz|x-goog|utm)[-_].*", re.IGNORECASE)


def _lasting(url: str, as_before: bool = False) -> str:
    """A media URL without its fragment, the query parameters that only sign or track it (_PASSING_PARAMS) and the
    user name and password it is fetched with (a talk stores none: ``Talk``; a talk's id was a function of the
    password, and a feed read with another one was another feed). ``as_before``: with them, as releases before
    2026-12-06's keyed talks (their keys are looked for too: ``Sources._page_media_id``, ``_item_id``)."""
    parts = urlsplit(url if as_before else without_credentials(url))
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _PASSING_PARAMS.fullmatch(k)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), ""))


def _address(url: str) -> str:
    """Where a recording is (``_lasting``), unescaped: the same whatever token its query carries, user name and
    password it is fetched with, or however it is escaped (as listed, as fetched)."""
    return unquote(_lasting(url))


def _feed_digest(url: str, as_before: bool = False) -> str:
    """A feed's digest, of its address as named (``_lasting``: a private feed's token may change), less its scheme:
    the same feed read over http or https."""
    return hashlib.sha256(_lasting(url, as_before).partition("://")[2].encode()).hexdigest()[:8]


def elsewhere(listed: str, *stored: str | None) -> bool:
    """Whether a recording listed at ``listed`` is at another address than any of the URLs a talk ``stored`` (its
    link, its media): a feed item whose enclosure moved, not one whose token changed."""
    return _address(listed) not in {_address(url) for url in stored if url}


def _url_digest(url: str, as_before: bool = False) -> str:
    """A media URL's digest, of where the recording is (``_lasting``; see Sources._distinct_id); for a URL
    without a query or fragment, that of the URL as it is (as it always was)."""
    return hashlib.sha256(_lasting(url, as_before).encode()).hexdigest()[:8]


def _file_digest(path: Path) -> str:
    """Content digest, so a renamed or moved recording is still recognised."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:20]


def _holds(url: str, key: str) -> bool:
    """Whether the file at a file:// ``url`` holds the local recording keyed ``key``."""
    where = Path(url2pathname(urlsplit(url).path))
    try:
        return where.is_file() and _file_digest(where) == key.partition(" ")[2]
    except OSError:  # unreadable now: not where the recording can be played from
        return False


PAGE_MEDIA = "HTML5MediaEmbed"  # yt-dlp's extractor for a page's own <video> and <audio> elements


def _played_from_host(info: dict) -> str | None:
    """The recording's own URL where players play it from its host: where the talk is its media file (a feed's
    enclosure, a media URL named), and a page's own <video> or <audio> file (the page stays the talk's link); None
    where a site's page (and its player) is the talk, and for a page's stream (HLS), which no <video> plays."""
    media_url, _ = unsmuggle_url(info.get("url") or "")
    page_url, _ = unsmuggle_url(info.get("webpage_url") or media_url)
    if info.get("extractor_key") == PAGE_MEDIA:
        return media_url if info.get("protocol") in ("http", "https") else None
    return media_url if media_url and (info.get("direct") or page_url == media_url) else None


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

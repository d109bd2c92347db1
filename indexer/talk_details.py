"""A talk's details (``Talk``: its title, channel, speakers, event, description, date, language, artwork and
chapters) from what its source states: yt-dlp's info for a remote talk, completed by its feed item's, or a local
recording's sidecar .info.json (yt-dlp's ``--write-info-json`` convention, also written by hand: only fields of the
types yt-dlp writes are kept). Also the dates sources write, read as the calendar day they mean.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from email.utils import parsedate_tz
from pathlib import Path
from urllib.parse import urljoin

from yt_dlp.utils import unified_strdate, unified_timestamp

from talksearch.indexer import caption_sources
from talksearch.indexer.chapters import _a_chapter, _a_time, _stated_duration, _table_of_contents
from talksearch.indexer.source_identity import _address
from talksearch.indexer.source_text import _description, _names, _one_line
from talksearch.language_codes import source_language
from talksearch.library import Talk


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
        channel=_one_line(info.get("channel") or info.get("uploader") or feed.get("channel") or playlist_title),
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
    if (written := parsedate_tz(text)) is not None and 1 <= written[1] <= 12:
        # RFC 822: the day as written, which is the day in the publisher's own offset. Its time matters only as
        # 24:00, the next day's start: one no clock shows (a leap second's 23:59:60, "25:00"), which yt-dlp's
        # reading rolled into the next day, leaves the day. date() refuses a day its month has not got ("31 Feb").
        if (year := _year_as_written(text, written[0])) is None:
            return None
        day = date(year, written[1], written[2])
        return (day + timedelta(days=1) if written[3:6] == (24, 0, 0) else day).isoformat()
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


# A date's time and the zone after it ("10:00:00", "6:30 PM", "18:30:00 GMT-0700", "23:30:00 -0500")
_TIME_AND_ZONE = re.compile(r"\d{1,2}:\d{2}(?::\d{2})?(?:\s*[AaPp][Mm])?(?:\s*[A-Za-z]*\s*[+-]\d{2}:?\d{2})?")


def _year_as_written(text: str, parsed: int) -> int | None:
    """The year an RFC 822 date writes, wherever it writes it ("01 Mar 2024", "Mar 1, 2024", asctime's "Tue Mar 12
    10:00:00 2024"): the last of its numbers (its time and zone aside) that email's reading (``parsed``) was made
    from, which adds 1900 or 2000 to any year below 100, "0001" too. Two digits as RFC 5322 reads them (50-99 the
    1900s, else the 2000s), three the 1900s; a year of four digits below 1000 ("0000", "0001") or a negative one
    (WordPress's "-0001" for a date never set, which email takes for a zone) is none, nor is a date whose year is
    no number it writes: the talk is undated."""
    numbers = re.findall(r"-?\d+", _TIME_AND_ZONE.sub(" ", text))
    if any(number.startswith("-") for number in numbers):
        return None
    by_email = [n for n in numbers if int(n) + (0 if int(n) >= 100 else 1900 if int(n) > 68 else 2000) == parsed]
    if not by_email:
        return None
    written = by_email[-1]
    if len(written) >= 4:
        return None if int(written) < 1000 else int(written)
    return int(written) + (1900 if len(written) == 3 or int(written) >= 50 else 2000)


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
    return sidecar_info_and_note(path)[0]


# A sidecar .info.json is read whole, and parsed: refused past this size (a sparse file of gigabytes took them all).
# Far above what yt-dlp writes for a talk (its formats and, asked, its comments).
_INFO_LIMIT_MB = 64


def sidecar_info_and_note(path: Path) -> tuple[dict, str | None]:
    """``_sidecar_info``, and why the file there could not be read at all (for the talk's line), else None: a
    trailing comma lost a talk's title and speakers without a word (a hostile-folders hunt)."""
    try:
        if not path.is_file():
            return {}, None
        with path.open("rb") as handle:  # bytes: JSON is UTF-8 (json detects -16/-32), whatever the locale's is
            data = handle.read((_INFO_LIMIT_MB << 20) + 1)
        if len(data) > _INFO_LIMIT_MB << 20:
            return {}, f"its .info.json was not read: larger than {_INFO_LIMIT_MB} MB"
        info = json.loads(data)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return {}, "its .info.json was not read: " + " ".join(reason.split())
    if not isinstance(info, dict):
        return {}, "its .info.json was not read: not a JSON object"
    return _kept_info(info), None


def _kept_info(info: dict) -> dict:
    kept = {k: v for k, v in info.items()
            if k not in _INFO_TYPES or (isinstance(v, _INFO_TYPES[k]) and not isinstance(v, bool))}
    for key in ("duration", "timestamp", "release_timestamp"):
        if key in kept and not _a_time(kept[key]):
            del kept[key]
    for key in ("upload_date", "release_date"):  # YYYYMMDD, a day of the calendar ("20241301" is stored as none)
        if isinstance(kept.get(key), str) and (day := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?", kept[key])):
            # as a file written by hand may say it (2024-03-01, 2024-03-01T10:00:00Z): the day as written
            kept[key] = "".join(day.groups())
        if key in kept and not _a_date(kept[key]):
            del kept[key]
    listed = lambda key: kept[key] if isinstance(kept.get(key), list) else []  # noqa: E731
    kept["creators"] = [c for c in listed("creators") if isinstance(c, str)]
    kept["chapters"] = [c for c in map(_a_chapter, listed("chapters")) if c is not None]
    return kept


# What a page says of its own recording in schema.org's terms (JSON-LD): the kinds that are one, and who made it
_PAGE_MEDIA_TYPES = {"VideoObject", "AudioObject"}
_MADE_BY = ("author", "creator", "actor")


def _schema_types(thing: dict) -> set[str]:
    kinds = thing.get("@type")
    return {kind for kind in (kinds if isinstance(kinds, list) else [kinds]) if isinstance(kind, str)}


def page_media_object(json_lds: Iterable[dict], media_url: str, page_url: str) -> dict | None:
    """The schema.org VideoObject or AudioObject (JSON-LD, at its top or in its @graph) a page states for the
    recording it plays, ``media_url``: the one whose contentUrl is that recording (``_one_recording``), else the
    page's only one where it names no recording; None where it states none, or none can be told to be it (one
    naming another recording, a trailer, is not)."""
    things: list = []
    for json_ld in json_lds:
        things += json_ld["@graph"] if isinstance(json_ld.get("@graph"), list) else [json_ld]
    objects = [thing for thing in things if isinstance(thing, dict) and _schema_types(thing) & _PAGE_MEDIA_TYPES]
    named = [o for o in objects if isinstance(o.get("contentUrl"), str) and o["contentUrl"].strip()]
    playing = [o for o in named if _one_recording(urljoin(page_url, o["contentUrl"].strip()), media_url)]
    if len(playing) == 1:
        return playing[0]
    return objects[0] if len(objects) == 1 and not named else None


def _one_recording(stated: str, played: str) -> bool:
    """Whether a page's contentUrl ``stated`` is the recording it plays from ``played``: wherever it is, whatever
    token signs it (``_address``), over http or https, in whichever of its formats (a <video>'s <source>s: talk.webm
    and talk.mp4, of which yt-dlp plays one)."""
    def recording(url: str) -> str:
        address = _address(url).partition("://")[2]
        path, _, query = address.partition("?")
        return re.sub(r"\.[A-Za-z0-9]{1,5}$", "", path) + (f"?{query}" if query else "")

    return recording(stated) == recording(played)


def page_media_info(media_object: dict, read: dict) -> dict:
    """A page's own recording's details from the schema.org object it states for it (``page_media_object``), kept as
    a sidecar's are (``_kept_info``). ``read`` is yt-dlp's reading of the object (its Clips as chapters); its
    description as written (HTML or text: its reader makes it text, ``Sources._page_media_info``; yt-dlp's has its
    entities unescaped once already, and "std::vector&lt;int&gt;" lost "<int>" to the second); its date is the day as written (datePublished, else uploadDate), where yt-dlp's reading takes the UTC
    one; of who made it (author, creator, actor), Persons are its speakers and an Organization its channel (a name
    written as text alone says neither, and is left out)."""
    made_by = [who for key in _MADE_BY
               for who in (media_object[key] if isinstance(media_object.get(key), list) else [media_object.get(key)])
               if isinstance(who, dict) and isinstance(who.get("name"), str)]
    written = next((day for day in (media_object.get("datePublished"), media_object.get("uploadDate"))
                    if isinstance(day, str) and day.strip()), None)
    day = _pub_date(written) if written else None
    info = {"description": media_object.get("description") if isinstance(media_object.get("description"), str) else None,
            "chapters": read.get("chapters"),
            "creators": [who["name"] for who in made_by if "Person" in _schema_types(who)],
            "uploader": next((who["name"] for who in made_by if "Organization" in _schema_types(who)), None),
            "upload_date": day.replace("-", "") if day else None}
    return _kept_info({key: value for key, value in info.items() if value})


def _by_the_recording(info: dict, recording: Path) -> dict:
    """A local recording's sidecar ``info`` with the recording's own duration (measured: the .info.json's word for
    it may be wrong), where its chapters are checked against it (a last chapter said to end at 999 s of a 23 s
    talk ends where the recording does). Without chapters it is left as it is: re-runs open no file for it."""
    if not info.get("chapters"):
        return info
    return {**info, "duration": _stated_duration(recording) or info.get("duration")}


def _a_date(value: str) -> bool:
    """A YYYYMMDD that is a day of the calendar (not "20230230", nor year 0)."""
    if not _DATE.match(value):
        return False
    try:
        datetime.strptime(value, "%Y%m%d")
    except ValueError:
        return False
    return True

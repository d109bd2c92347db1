"""A talk's chapters, from whichever source states them: a site's (through yt-dlp), a sidecar .info.json, a feed's
Podcasting 2.0 chapters file; else the recording's own chapter markers, or the table of contents its description
lists in timestamp lines. Whatever the source, they are read one way (``_table_of_contents``): by start, within the
talk, each with a title a table of contents can show. Also what a recording states that they are measured against:
its duration.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from yt_dlp.utils import parse_duration

from talksearch.indexer.audio import media_chapters, media_duration
from talksearch.indexer.source_text import _CHAPTER_TITLE, _CHAPTERS, _capped
from talksearch.library import Talk
from talksearch.text import printable


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


# yt-dlp's title for a chapter its source names none for, and for the stretch it puts before a first chapter that
# starts later than 0 (YoutubeDL.process_video_result): a placeholder, not a title
_FILLER_TITLE = re.compile(r"<Untitled Chapter \d+>")


def _chapter_title(title: object) -> str | None:
    """A chapter's title as its talk's table of contents shows it and the CLI prints it: one printable line of at
    most ``_CHAPTER_TITLE`` characters; None where there is none (not text, blank, yt-dlp's placeholder)."""
    if not isinstance(title, str) or _FILLER_TITLE.fullmatch(title.strip()):
        return None
    return _capped(printable(" ".join(title.split())), _CHAPTER_TITLE) or None


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


def _a_chapter(chapter) -> dict | None:
    """The chapter, when it has a usable start and a title or none. An end that is not a usable time is left out
    (None, as for a chapter whose end is not known): the chapter still says where it starts. A time written as text,
    as people write a sidecar or a page its JSON-LD ("1:30", "90", "PT1M30S"), is read as those seconds: such
    chapters were left out without a word."""
    if not isinstance(chapter, dict):
        return None
    start, end = (_written_time(chapter.get(key)) for key in ("start_time", "end_time"))
    if not (_a_time(start) and isinstance(chapter.get("title"), (str, type(None)))):
        return None
    read = {**chapter, "start_time": start}
    if "end_time" in chapter:
        read["end_time"] = end if _a_time(end) else None
    return read


def _written_time(value):
    """``value``, or the seconds a time written as text says (yt-dlp's reading of durations), else it as it is."""
    if isinstance(value, str) and value.strip():
        return parse_duration(value.strip()) if re.fullmatch(r"[\dPTHMS:.,\s]+", value.strip(), re.I) else value
    return value


def _a_time(value) -> bool:
    """A time in seconds as yt-dlp writes one: a number, finite, not negative, within datetime's years (JSON as
    Python reads it has NaN and Infinity, and a talk page cannot show them)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1e11

"""A talk as the API and the pages present it: details, how to play it, where its local media is, and how its page
describes it to search engines and link previews."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from talksearch.library import Segment, Talk
from talksearch.media_types import type_by_name
from talksearch.schemas import Chapter, Player, TalkDetail
from talksearch.search.searcher import local_file, media_suffix, on_the_web, recording_type, talk_summary
from talksearch.timecode import clock, url_seconds

TRANSCRIPT_FORMATS = ("json", "vtt", "srt", "txt")


def local_media(talk: Talk) -> Path | None:
    """The talk's own stored file, for talks indexed from a local file (their media URL is file://), while it is
    there: the search's links to ``/media`` test the same."""
    return local_file(talk.media_url)


def _media_kind(kind: str | None) -> str:
    """The element that plays a recording of this media type: <audio> for sound alone, else <video>."""
    return "audio" if kind and kind.startswith("audio/") else "video"


def recording(talk: Talk, base: str = "", named: bool = False) -> tuple[str, str | None] | None:
    """Where a player or a feed reader gets the talk's recording, and its media type where known: a local talk's
    file from ``/media`` (``base``: the service's path prefix, or its public URL), while it is where it was indexed
    from (``named``: with the file's suffix, ``/media/ID.mp3``, by which a reader that is given no type knows it);
    else its direct media URL (http or https). None for a talk with neither (a YouTube talk's is a page)."""
    media = talk.media_url
    if not media or talk.extractor.lower() == "youtube":
        return None
    scheme = urlsplit(media).scheme.lower()
    if scheme == "file":  # served by /media, which serves the file only while it is where it was indexed from
        if not (path := local_media(talk)):
            return None
        # by the file's type as /media serves it (a name without a suffix, a host without mime.types: its container)
        return f"{base}/media/{talk.id}{media_suffix(path) if named else ''}", recording_type(path)
    if scheme not in ("http", "https"):  # a javascript: or data: URL from a page's metadata is not media
        return None
    return media, type_by_name(urlsplit(media).path)


def player(talk: Talk, base: str = "") -> Player:
    """``base``: the service's path prefix (``rendering.base_path``), before a local talk's ``/media``."""
    if talk.extractor.lower() == "youtube":
        return Player(kind="youtube", youtube_id=talk.source_id)
    if (found := recording(talk, base)) is None:
        return Player(kind="none")
    src, kind = found
    return Player(kind=_media_kind(kind), src=src)


def talk_detail(talk: Talk, base: str = "") -> TalkDetail:
    chapters = [Chapter(start=c.get("start_time"), end=c.get("end_time"), title=c.get("title"))
                for c in talk.chapters or []]
    transcript = f"{base}/api/talks/{talk.id}/transcript"
    return TalkDetail(
        **talk_summary(talk, served=True, base=base).model_dump(),
        description=talk.description, chapters=chapters,
        indexed_at=talk.indexed_at, details_changed_at=talk.details_changed_at, whisper_model=talk.whisper_model,
        embed_model=talk.embed_model, page=f"{base}/talks/{talk.id}", player=player(talk, base),
        transcript={fmt: transcript if fmt == "json" else f"{transcript}.{fmt}" for fmt in TRANSCRIPT_FORMATS},
        chapter_track=f"{base}/api/talks/{talk.id}/chapters.vtt" if chapters else None,
    )


# --- how a talk page describes itself to search engines and link previews (its <head>) ---------------------------

DESCRIPTION_CHARS = 300  # about what a search result or a link preview shows; the rest would be cut there anyway
DESCRIPTION_ENOUGH = 160  # a transcript's first sentences are enough once they say this much
NAME_CHARS = 300  # a title or chapter as the catalog caps a title
SEEK_TO = "seek_to_second_number"  # schema.org SeekToAction's placeholder, as Google documents it


@dataclass(frozen=True)
class PageHead:
    """What a talk page's head tells crawlers: its one canonical address (every moment is a part of it), the
    address asked (its moment kept), a description (the moment's words, for a moment), an image, and the
    schema.org VideoObject written as JSON-LD."""

    canonical: str
    url: str
    description: str | None
    image: str | None
    video: dict


def one_line(text: str, limit: int) -> str:
    """``text`` with its whitespace folded, cut to ``limit`` characters with an ellipsis: at a word's end, unless
    the last one would lose a fifth of the text (a script written without spaces is cut where it falls)."""
    folded = " ".join(text.split())
    if len(folded) <= limit:
        return folded
    cut = folded[:limit - 1]
    if (space := cut.rfind(" ")) > limit * 0.8:
        cut = cut[:space]
    return cut.rstrip() + "\N{HORIZONTAL ELLIPSIS}"


def _said(segments: list[Segment]) -> str:
    """The sentences from the first on, as many as make a description (all of a short talk's)."""
    said = ""
    for segment in segments:
        said = f"{said} {segment.text}" if said else segment.text
        if len(said) >= DESCRIPTION_ENOUGH:
            break
    return said


def talk_description(talk: TalkDetail, segments: list[Segment]) -> str | None:
    """The talk's own description, else what it opens with; None when it has neither."""
    text = talk.description if talk.description and talk.description.strip() else _said(segments)
    return one_line(text, DESCRIPTION_CHARS) or None


def moment_description(segments: list[Segment], start: float) -> str | None:
    """What is said at ``start`` ("12:34 — …"): from the sentence being said then (the last begun by then, as the
    page highlights it; the first when none has), None when the talk has no sentence there."""
    begun = [n for n, segment in enumerate(segments) if segment.start <= start + 0.05]
    said = _said(segments[begun[-1] if begun else 0:])
    return one_line(f"{clock(start)} \N{EM DASH} {said}", DESCRIPTION_CHARS) if said else None


def _on_the_web(url: str | None) -> str | None:
    return url if url and on_the_web(url) else None


def iso_duration(seconds: float) -> str:
    """ISO 8601's duration, as schema.org wants it: ``PT1H2M3S``, ``PT12M5S`` (whole seconds)."""
    hours, rest = divmod(round(seconds), 3600)
    return f"PT{hours}H{rest // 60}M{rest % 60}S" if hours else f"PT{rest // 60}M{rest % 60}S"


def _clips(talk: TalkDetail, page: str) -> list[dict]:
    """The chapters as schema.org Clips, Google's key moments: each from its start to its end (else the next's
    start, else the talk's end) and linked to the page at its start."""
    clips = []
    # one Clip a second at most (Clips are told apart by their whole-second start): the first chapter starting then
    seconds = [round(chapter.start or 0) for chapter in talk.chapters]
    chapters = [c for n, c in enumerate(talk.chapters) if seconds[n] not in seconds[:n]]
    starts = [chapter.start or 0 for chapter in chapters]
    for n, chapter in enumerate(chapters):
        start = starts[n]
        end = chapter.end if chapter.end is not None else (starts[n + 1] if n + 1 < len(starts) else talk.duration)
        clip = {"@type": "Clip", "name": one_line(chapter.title or clock(start), NAME_CHARS),
                "startOffset": round(start), "url": f"{page}?t={url_seconds(round(start))}"}
        if end is not None and round(end) > round(start):
            clip["endOffset"] = round(end)
        clips.append(clip)
    return clips


def _with_a_zone(day: str | None) -> str | None:
    """The catalog's day of publication as a time with its zone, which Google wants of uploadDate ("missing a
    timezone" otherwise): noon UTC, that day in every zone from UTC-12 to UTC+11, as the feeds write it."""
    return f"{day}T12:00:00+00:00" if day and len(day) == 10 else day


def video_object(talk: TalkDetail, description: str | None, page: str, site: str) -> dict:
    """The talk as a schema.org VideoObject (JSON-LD) for search engines: ``page`` its canonical address, ``site``
    the service's (absolute, with its path prefix). Only web addresses: a local file's /media is no one's to fetch.
    With chapters, each is a Clip; without, a SeekToAction tells Google how to link to any second of it."""
    video: dict = {"@context": "https://schema.org", "@type": "VideoObject", "name": one_line(talk.title, NAME_CHARS),
                   "description": description or one_line(talk.title, NAME_CHARS), "url": page,
                   "embedUrl": f"{site}/embed/talks/{quote(talk.id, safe='')}"}
    # a talk with no date published (a local file without .info.json) was put online here when it was indexed: the
    # date the lists and feeds give it, and one Google requires of a VideoObject
    optional = {"uploadDate": _with_a_zone(talk.published) or talk.indexed_at,
                "duration": iso_duration(talk.duration) if talk.duration else None,
                "thumbnailUrl": _on_the_web(talk.thumbnail), "contentUrl": _on_the_web(talk.media_url),
                "inLanguage": talk.language,
                # its speakers, as a page's own <video> is read by another library (indexer: page_media_info)
                "author": [{"@type": "Person", "name": speaker} for speaker in talk.speakers]}
    video.update({key: value for key, value in optional.items() if value})
    if talk.chapters:
        video["hasPart"] = _clips(talk, page)
    else:
        video["potentialAction"] = {"@type": "SeekToAction", "target": f"{page}?t={{{SEEK_TO}}}",
                                    "startOffset-input": f"required name={SEEK_TO}"}
    return video


def page_head(talk: TalkDetail, segments: list[Segment], start: float, site: str) -> PageHead:
    """A talk page's head as asked at ``start`` (0: the talk, else a moment within it: the page takes one past the
    end for 0), ``site`` the service's absolute address with its path prefix (on the public URL where one is set)."""
    canonical = f"{site}/talks/{quote(talk.id, safe='')}"
    description = talk_description(talk, segments)
    return PageHead(canonical=canonical, url=f"{canonical}?t={url_seconds(start)}" if start else canonical,
                    description=(moment_description(segments, start) if start else None) or description,
                    image=_on_the_web(talk.thumbnail), video=video_object(talk, description, canonical, site))

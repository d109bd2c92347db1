"""A talk as the API and the pages present it: details, how to play it, where its local media is."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from talksearch.library import Talk
from talksearch.media_types import type_by_name
from talksearch.schemas import Chapter, Player, TalkDetail
from talksearch.search.searcher import local_file, recording_type, talk_summary

TRANSCRIPT_FORMATS = ("json", "vtt", "srt", "txt")


def local_media(talk: Talk) -> Path | None:
    """The talk's own stored file, for talks indexed from a local file (their media URL is file://), while it is
    there: the search's links to ``/media`` test the same."""
    return local_file(talk.media_url)


def _media_kind(kind: str | None) -> str:
    """The element that plays a recording of this media type: <audio> for sound alone, else <video>."""
    return "audio" if kind and kind.startswith("audio/") else "video"


def player(talk: Talk, base: str = "") -> Player:
    """``base``: the service's path prefix (``rendering.base_path``), before a local talk's ``/media``."""
    if talk.extractor.lower() == "youtube":
        return Player(kind="youtube", youtube_id=talk.source_id)
    media = talk.media_url
    if not media:
        return Player(kind="none")
    scheme = urlsplit(media).scheme.lower()
    if scheme == "file":  # played from /media, which serves the file only while it is where it was indexed from
        if not (path := local_media(talk)):
            return Player(kind="none")
        # by the file's type as /media serves it (a name without a suffix, a host without mime.types: its container)
        return Player(kind=_media_kind(recording_type(path)), src=f"{base}/media/{talk.id}")
    if scheme not in ("http", "https"):  # a javascript: or data: URL from a page's metadata is not media
        return Player(kind="none")
    return Player(kind=_media_kind(type_by_name(urlsplit(media).path)), src=media)


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
    )

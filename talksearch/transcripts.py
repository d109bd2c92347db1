"""A stored transcript as plain text, JSON, WebVTT or SubRip (CLI ``export`` and the API)."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

from talksearch.library import Segment

FORMATS = ("txt", "json", "vtt", "srt")


def _stamp(seconds: float, separator: str) -> str:
    millis = int(round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def render(talk: dict, segments: list[Segment], fmt: str, translation: bool = False) -> str:
    """The transcript in ``fmt``: the words as spoken; with ``translation``, the English of a translated talk
    (--translate) in their place (txt, vtt, srt: English subtitles) or beside them (json: each sentence's
    ``translation``). A sentence without a translation keeps its own words."""
    if translation and fmt != "json":
        segments = [replace(s, text=s.translation or s.text) for s in segments]
    if fmt == "txt":
        return "\n".join(s.text for s in segments) + "\n"
    if fmt == "json":
        shown = [asdict(s) for s in segments]
        for sentence in shown:
            if not translation:
                del sentence["translation"]  # the original only, as before translations existed
        body = {"talk": {k: talk[k] for k in ("id", "title", "url", "language", "duration")}, "segments": shown}
        return json.dumps(body, ensure_ascii=False, indent=2) + "\n"
    if fmt == "vtt":
        # A speaker the captions named goes back as a WebVTT voice tag.
        cues = [f"{_stamp(s.start, '.')} --> {_stamp(s.end, '.')}\n{f'<v {s.speaker}>' if s.speaker else ''}{s.text}"
                for s in segments]
        return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"
    if fmt == "srt":
        cues = [f"{i}\n{_stamp(s.start, ',')} --> {_stamp(s.end, ',')}\n{s.text}" for i, s in enumerate(segments, 1)]
        return "\n\n".join(cues) + "\n"
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")

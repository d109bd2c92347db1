"""A stored transcript as plain text, JSON, WebVTT or SubRip (CLI ``export`` and the API)."""

from __future__ import annotations

import json
from dataclasses import asdict

from talksearch.library import Segment, Talk
from talksearch.timecode import subtitle_stamp

FORMATS = ("txt", "json", "vtt", "srt")


def render(talk: Talk, segments: list[Segment], fmt: str) -> str:
    if fmt == "txt":
        return "\n".join(s.text for s in segments) + "\n"
    if fmt == "json":
        body = {"talk": {k: getattr(talk, k) for k in ("id", "title", "url", "language", "duration")},
                "segments": [asdict(s) for s in segments]}
        return json.dumps(body, ensure_ascii=False, indent=2) + "\n"
    if fmt == "vtt":
        # A speaker the captions named goes back as a WebVTT voice tag.
        cues = [f"{subtitle_stamp(s.start, '.')} --> {subtitle_stamp(s.end, '.')}\n{f'<v {s.speaker}>' if s.speaker else ''}{s.text}"
                for s in segments]
        return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"
    if fmt == "srt":
        cues = [f"{i}\n{subtitle_stamp(s.start, ',')} --> {subtitle_stamp(s.end, ',')}\n{s.text}" for i, s in enumerate(segments, 1)]
        return "\n\n".join(cues) + "\n"
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")

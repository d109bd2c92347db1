"""A stored transcript as plain text, JSON, WebVTT or SubRip (CLI ``export`` and the API)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, replace

from talksearch.cues import SHORTEST, Cue, cues, width
from talksearch.library import Segment, Talk
from talksearch.timecode import subtitle_stamp

FORMATS = ("txt", "json", "vtt", "srt")


def _vtt_text(text: str) -> str:
    return " ".join(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").split())


def _plain_name(name: str) -> str:
    """A speaker's name on one line of plain text (a transcript's name may hold tabs or line breaks)."""
    return " ".join(name.split())


def _srt_text(text: str) -> str:
    """SubRip has no escaping: players read "<tags>" as markup and drop it (ffmpeg: "Unrecognized tag"), and a
    "-->" can be taken for a timing line. "<" and ">" become the single angle quotation marks "‹" and "›", which
    read alike (and turn "-->" into "--›"), and which the fonts subtitles are burnt in with have (DejaVu, Liberation,
    Arial): the fullwidth forms used before showed as empty boxes there; a blank line would end the cue, so the text
    is one line."""
    return " ".join(text.replace("<", "\u2039").replace(">", "\u203a").split())


def _sentence_cues(segments: list[Segment], mark: Callable[[Segment, bool], str]) -> list[tuple[Segment, str, Cue]]:
    """The subtitles' cues, as WebVTT requires them (and SubRip players assume): in start order, each ending after
    it starts (sentences cut from overlapping caption cues, or kept by older versions, may be neither), a long
    sentence cut into subtitle-sized cues (talksearch.cues). Each with its sentence and what is shown before its
    text: on a sentence's first cue ``mark(sentence, whether the speaker changes there)``, which the cue's first
    line makes room for, on the others nothing."""
    ordered = [replace(s, end=max(s.end, s.start + SHORTEST)) for s in sorted(segments, key=lambda s: s.start)]
    shown = []
    for sentence, turn in zip(ordered, _turns(ordered)):
        lead = mark(sentence, turn)
        shown += [(sentence, lead if i == 0 else "", cue) for i, cue in enumerate(cues(sentence, width(lead)))]
    return shown


def _vtt_cue(start: float, end: float, text: str) -> str:
    """A WebVTT cue: its timing line and ``text``, markup as WebVTT reads it (``_vtt_text`` escapes what is not)."""
    return f"{subtitle_stamp(start, '.')} --> {subtitle_stamp(end, '.')}\n{text}"


def _webvtt(cues: list[str]) -> str:
    return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"


def _turns(segments: list[Segment]) -> list[bool]:
    """For each sentence, in the order given: whether the speaker changes there (a named speaker starts, or someone
    unnamed takes over from a named one). Whisper names no one, so its transcripts have no turns."""
    speakers = [s.speaker or None for s in segments]
    return [speaker != before for before, speaker in zip([None, *speakers], speakers)]


def _turn_mark(segment: Segment, turn: bool, name: Callable[[str], str]) -> str:
    """What starts a sentence in a format without voice tags (txt, srt), as transcripts and subtitles commonly
    mark a change of speaker: "Name: " where a named speaker starts, ">> " where someone unnamed takes over (the
    broadcast captions' mark, which the caption reader takes back as a change of speaker), else nothing.
    ``name``: the format's way of writing the name."""
    if not turn:
        return ""
    return f"{name(segment.speaker)}: " if segment.speaker else ">> "


def _unnamed_turn_mark(segment: Segment, turn: bool) -> str:
    """What WebVTT shows before a sentence: ">> " where someone unnamed takes over; a named speaker goes in a
    voice tag, which players do not show as text."""
    return ">> " if turn and not segment.speaker else ""


def missing_transcript(talk: Talk, segments: list[Segment]) -> str | None:
    """Why ``talk`` has no transcript to export: none of its sentences are stored (a damaged library). None when
    it has some. An export refuses rather than hand back an empty file as if the talk had been silent."""
    if segments:
        return None
    return f"talk {talk.id!r} has no transcript in the library (no sentences of it are stored)"


def missing_translation(talk: Talk, segments: list[Segment]) -> str | None:
    """Why the English of ``talk`` cannot be given: it is in another language and no sentence of it was translated
    (indexed without --translate). None when it can: translated, or in English already (its words are the English).
    Exports refuse rather than hand back the original words to someone who asked for the English."""
    if talk.language in (None, "en") or any(s.translation for s in segments):
        return None
    if talk.transcript_source.endswith("captions"):
        # --translate works on the audio, which a talk whose site or feed has captions is indexed without: told
        # only "indexed without --translate", someone who passed it would run the same command again, to no end.
        return (f"talk {talk.id!r} is in {talk.language!r} and has no English translation: it was indexed without "
                f"--translate, or from its {talk.transcript_source} with no audio to translate (index it again with "
                "--translate --reindex; for captions from a site or feed, add --captions never to transcribe it)")
    return (f"talk {talk.id!r} is in {talk.language!r} and has no English translation: it was indexed without "
            "--translate (index it again with --translate --reindex)")


def missing_chapters(talk: Talk) -> str | None:
    """Why ``talk`` has no chapters track: its source gave it no chapters. None when it has some. The track refuses
    rather than hand a player an empty one."""
    if talk.chapters:
        return None
    return f"talk {talk.id!r} has no chapters (its source gives none)"


def chapters_vtt(talk: Talk, talk_end: float | None) -> str:
    """The talk's chapters as a WebVTT chapters track (``<track kind="chapters">``): a cue a chapter, titled (an
    untitled one by its number, as the talk page lists it), in start order. Chapters in a track may not overlap: each
    ends at its own end or the next one's start, whichever comes first, the last at its own end, else ``talk_end``
    (the talk's length; None where it was never measured). A chapter the next starts with spans nothing a player
    could show: left out."""
    numbered = sorted(((max(c.get("start_time") or 0.0, 0.0), n, c) for n, c in enumerate(talk.chapters, 1)),
                      key=lambda chapter: chapter[:2])
    nexts = [start for start, _, _ in numbered[1:]] + [None]
    blocks = []
    for (start, number, chapter), next_start in zip(numbered, nexts):
        if next_start is not None and next_start - start < SHORTEST:
            continue
        end = chapter.get("end_time")
        if end is None or end <= start:  # none given, or a source's slip: it runs to the next, or to the talk's end
            end = next_start if next_start is not None else talk_end
        if next_start is not None:
            end = min(end, next_start)
        blocks.append(_vtt_cue(start, max(end if end is not None else start, start + SHORTEST),
                               _vtt_text(chapter.get("title") or "") or f"Chapter {number}"))
    return _webvtt(blocks)


def chapters_json(talk: Talk) -> dict:
    """The talk's chapters in Podcasting 2.0's JSON chapters format (``<podcast:chapters
    type="application/json+chapters">``), which podcast apps show and another talksearch reads as a feed's
    chapters: each one's start, its end and title where it has them, in start order."""
    ordered = sorted(talk.chapters, key=lambda chapter: chapter.get("start_time") or 0.0)
    return {"version": "1.2.0", "chapters": [
        {"startTime": max(chapter.get("start_time") or 0.0, 0.0),
         **({"endTime": chapter["end_time"]} if chapter.get("end_time") is not None else {}),
         **({"title": chapter["title"]} if chapter.get("title") else {})} for chapter in ordered]}


def render(talk: Talk, segments: list[Segment], fmt: str, translation: bool = False) -> str:
    """The transcript in ``fmt``: the words as spoken; with ``translation``, the English of a translated talk
    (--translate) in their place (txt, vtt, srt: English subtitles) or beside them (json: each sentence's
    ``translation``). A sentence without a translation keeps its own words."""
    if translation and fmt != "json":
        segments = [replace(s, text=s.translation or s.text) for s in segments]
    if fmt == "txt":
        lines = [f"{_turn_mark(s, turn, _plain_name)}{s.text}" for s, turn in zip(segments, _turns(segments))]
        return "\n".join(lines) + "\n"
    if fmt == "json":
        shown = [asdict(s) for s in segments]
        for sentence in shown:
            if not translation:
                del sentence["translation"]  # the original only, as before translations existed
        about = {k: getattr(talk, k) for k in ("id", "title", "url", "language", "duration")}
        # its chapters as the API names them (talks/{id}): a transcript read a part at a time needs where parts start
        about["chapters"] = [{"start": c.get("start_time"), "end": c.get("end_time"), "title": c.get("title")}
                             for c in talk.chapters or []]
        body = {"talk": about, "segments": shown}
        return json.dumps(body, ensure_ascii=False, indent=2) + "\n"
    if fmt == "vtt":
        # A speaker the captions named goes back as a WebVTT voice tag on each of their cues, and someone unnamed
        # taking over as ">> " (else a reader would let the last name hold). Cue text is markup in WebVTT: "x < y"
        # would open a tag (and "-->" end the timing), so &, < and > are written as entities.
        return _webvtt([_vtt_cue(cue.start, cue.end,
                                 f"{f'<v {_vtt_text(s.speaker)}>' if s.speaker else '&gt;&gt; ' if lead else ''}"
                                 + "\n".join(_vtt_text(line) for line in cue.lines))
                        for s, lead, cue in _sentence_cues(segments, _unnamed_turn_mark)])
    if fmt == "srt":
        # SubRip has no voice tags: the name goes before the text where the speaker changes.
        blocks = [f"{i}\n{subtitle_stamp(cue.start, ',')} --> {subtitle_stamp(cue.end, ',')}\n"
                  f"{lead}" + "\n".join(_srt_text(line) for line in cue.lines)
                  for i, (_, lead, cue) in enumerate(
                      _sentence_cues(segments, lambda s, turn: _turn_mark(s, turn, _srt_text)), 1)]
        return "\n\n".join(blocks) + "\n"
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")

"""Caption files (WebVTT, SubRip, Podcasting 2.0 JSON) → the timed words a transcript is made of.

The output is what the whisper path produces (``Segment``s with ``Word``s), so sentences, passages and
snapping are built the same way whichever made the words. Real captions need cleaning first:

- YouTube's automatic VTT rolls: every line is shown again in the next cue (and in a 10 ms cue between),
  with the new words carrying inline times (``<00:00:01.520><c> word</c>``). Lines already shown are
  dropped, inline times become word times, and a rolling cue's new text starts when the previous one ends.
- Sound cues (``[Music]``, ``(applause)``, ``♪``), markup (``<i>``, ``<c.color>``, ``{\\an8}``) and cue
  settings (``align:start position:0%``) are dropped; ``<v Speaker>`` names the cue's speaker, who holds for
  the cues after until another is named or ``>>`` / ``-`` marks that someone else speaks. So does a label a cue
  starts with, "Jane Doe: " (our own SubRip export's, transcripts', broadcast captions' "JANE DOE: "), where the
  file shows it is one: it starts two cues or more, or is in capitals before text that is not. In captions whose
  speakers labels name, a label of two words or more in mixed case that the file does not show to be one ("John
  Roe: " once) stays text, and no one is named from that cue on (it may be a one-turn speaker's), as after ``>>``;
  where a voice tag named the speaker, such words ("Quick Recap: ") are what was said, and the speaker holds.
- Where a cue gives no word times, its words share the cue's time in proportion to their length.

Captions that cannot be trusted raise ``CaptionError`` with a one-line reason, and the talk is transcribed
with Whisper instead: nothing in them, not a caption file, cues that end before they start, run backwards
or overlap (beyond rolling), or cues past the end of the media.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field, replace

from talksearch.library import Segment, Word
from talksearch.text import without_controls

FORMATS = ("vtt", "srt", "json")
_NAMES = {"vtt": "WebVTT", "srt": "SubRip", "json": "transcript JSON"}  # for messages
# A cue may start this much before the previous one ends (rounding, a fade) without counting as an overlap.
OVERLAP_TOLERANCE = 1.0
# Captions may run this far past the media's duration (a last cue held on screen). A duration a feed or site
# states is checked again against the downloaded file before captions past it are refused (Sources._fetch).
PAST_END_TOLERANCE = 5.0
# A time this far before 0 (a transcript's rounding, an encoder's delay) is the recording's start; one earlier is none.
NEGATIVE_TOLERANCE = 0.5
# A cue starting this soon after the previous one ends continues it on screen: rolling captions repeat its lines.
ROLL_GAP = 0.5

_TIMING = re.compile(
    r"^\s*(?P<start>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*(?P<end>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})(?P<settings>.*)$"
)
_INLINE_TIME = re.compile(r"<((?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})>")
INLINE_TIME_SLACK = 0.05  # seconds an inline time may fall before its cue's start (rounding): still this cue's
_VOICE = re.compile(r"<v(?:\.[\w.-]+)?\s+([^>]+)>")
# Markup: WebVTT's and SubRip's own tags (and SSA's {\an8}), by name: "x<y & y>z" in what was said is text.
_TAG = re.compile(r"</?(?:b|c|font|i|lang|ruby|rt|s|u|v)(?:[.\s][^>]*)?>|\{\\[^}]*\}", re.I)
# Whole bracketed sound descriptions, and music notes with what they wrap: [Music], [Applause], (laughter),
# ♪ upbeat intro music ♪ (a session's hold music was a searchable sentence, "soft piano"; sung words in a talk's
# captions are no moment to find either), and a line that opens with a note never closed ("♪ upbeat intro music":
# captioners often leave the closing one out). A bracket is a sound cue only where it starts a word ("he said
# [laughs] so"): "x[0]" or "y[1][2]" is what was said.
_SOUND = re.compile(
    r"(?<![^\s(\[{«“‘\"'])(?:\[[^\]]*\])+"
    r"|\((?:music|applause|laughter|laughs|inaudible|silence|crosstalk)[^)]*\)|[♪♫][^♪♫\n]*[♪♫]"
    r"|^\s*[♪♫][^♪♫\n]*$|[♪♫]+",
    re.I,
)
# ">> " and "- " (or "-" before a word: "-Yes.") mark a change of speaker in broadcast captions; a "-" before a digit
# is a minus sign ("-40 degrees"), part of what is said.
_SPEAKER_PREFIX = re.compile(r"^(?:>>|-(?![\d.,]))\s*")
# A speaker's label before a cue's text ("Jane Doe: ", "JANE DOE: "): up to 40 characters before the colon, which a
# space and text follow ("10:30" is no label); _label checks that they are a name.
_LABEL = re.compile(r"(?P<name>[^:]{1,40}):\s(?=\S)")
_NAME_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’.-])*")  # letters, and "O'Brien", "Jean-Luc", "Dr."


class CaptionError(Exception):
    """These captions cannot stand in for a transcript; the message says why in one line."""


@dataclass
class Cue:
    """One caption cue after cleaning: its text's words with their times, and its speaker when named."""

    start: float
    end: float
    words: list[Word] = field(default_factory=list)
    speaker: str | None = None

    @property
    def text(self) -> str:
        return "".join(w.word for w in self.words).strip()


def seconds(stamp: str) -> float:
    """``01:02:03.456``, ``02:03.456`` or SubRip's ``01:02:03,456`` in seconds."""
    parts = stamp.replace(",", ".").split(":")
    value = 0.0
    for part in parts:
        value = value * 60 + float(part)
    return value


def clock(value: float) -> str:
    value = int(value)
    return f"{value // 3600}:{value % 3600 // 60:02d}:{value % 60:02d}" if value >= 3600 else f"{value // 60}:{value % 60:02d}"


def sniff_format(text: str, hint: str | None = None) -> str:
    """Which format a caption file is in: its content decides, the name or MIME type only breaks a tie."""
    head = text.lstrip("\ufeff \t\r\n")[:200]
    if head.startswith("WEBVTT"):
        return "vtt"
    if head.startswith(("{", "[")):
        return "json"
    if re.match(r"\d+\s*\r?\n\s*\d{1,2}:\d{2}:\d{2},\d{1,3}\s*-->", head):
        return "srt"
    hint = (hint or "").lower()
    for name, marks in (("vtt", ("vtt",)), ("srt", ("srt", "subrip")), ("json", ("json",))):
        if any(mark in hint for mark in marks):
            return name
    raise CaptionError("not a caption file (neither WebVTT, SubRip nor Podcasting 2.0 JSON)")


def parse(text: str, fmt: str | None = None) -> list[Cue]:
    """A caption file's cues, cleaned and de-duplicated, in time order. Raises CaptionError."""
    fmt = fmt if fmt in FORMATS else sniff_format(text, fmt)
    if fmt == "json":
        return _podcast_json_cues(text)
    blocks = _blocks(text, fmt)
    if fmt == "vtt":
        if not blocks or not blocks[0][0].lstrip("\ufeff").startswith("WEBVTT"):
            raise CaptionError("malformed WebVTT (no WEBVTT header)")
        blocks = blocks[1:]
    raw = []
    for lines in blocks:
        timing = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if timing is None:
            if fmt == "vtt" and lines[0].startswith(("NOTE", "STYLE", "REGION")):
                continue  # WebVTT comments and style blocks
            if fmt == "srt" and len(lines) == 1 and lines[0].strip().isdigit():
                continue  # a cue number whose cue is missing
            raise CaptionError(f"malformed {_NAMES[fmt]} (a block without timing: {lines[0][:40]!r})")
        match = _TIMING.match(lines[timing])
        if match is None:
            raise CaptionError(f"malformed {_NAMES[fmt]} (bad timing line {lines[timing][:60]!r})")
        raw.append((seconds(match["start"]), seconds(match["end"]), lines[timing + 1:]))
    if not raw:
        raise CaptionError(f"malformed {_NAMES[fmt]} (no cues)")
    return _roll_up(raw)



def _blocks(text: str, fmt: str) -> list[list[str]]:
    """Blocks of lines. WebVTT's are separated by empty lines only (YouTube's cues hold lines of one space);
    SubRip files are looser, and a line of spaces separates there too."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    separator = r"\n\n+" if fmt == "vtt" else r"\n[ \t]*\n\s*"
    return [block.split("\n") for block in re.split(separator, text.strip("\n")) if block.strip()]


@dataclass
class _NewText:
    """A cue's lines that were not on screen before it (rolling captions show each line again)."""

    start: float
    end: float
    lines: list[str]
    rolled: bool  # some of its lines rolled on from the cue before
    whole: bool  # its first new line is a whole line, not the rest of one that grows word by word


def _new_text(raw: list[tuple[float, float, list[str]]]) -> list[_NewText]:
    """Each cue's new lines from (start, end, text lines), in order: cues never on screen and cues of lines shown
    before are left out."""
    shown: list[_NewText] = []
    previous: list[str] = []  # the lines of the cue before, as plain text, for rolling captions
    previous_end = -math.inf
    for start, end, lines in raw:
        if end < start:
            raise CaptionError(f"a cue ends before it starts (at {clock(start)})")
        if end == start:  # never on screen (WebVTT wants end > start; players skip it): its words were not shown
            continue
        # Lines roll on only from the cue just before, and only when this one follows it on screen: a "Yes." or
        # "Thank you." said again later, or twice in one cue, is said again, not a rolled line.
        on_screen = previous if start <= previous_end + ROLL_GAP else []
        rolled = False
        whole = True
        new_lines = []
        for line in lines:
            plain = _plain(line)
            if not plain:
                continue
            timed = _INLINE_TIME.search(line)
            if timed and seconds(timed.group(1)) >= start - INLINE_TIME_SLACK:
                # Words timed within this cue are said now (YouTube's format times only new words, and a rolled line
                # comes back without them): a "thank you" said again, or "okay so" then "okay so today", is said
                # again, not shown again. A line whose times are earlier than the cue (karaoke, roll-up captions
                # that keep a line's tags) is one shown before, checked as untimed lines are.
                new_lines.append(line)
                continue
            if plain in on_screen:
                rolled = True
                continue
            if on_screen and plain.startswith(on_screen[-1] + " "):  # captions that grow word by word
                rolled = True
                whole = whole and bool(new_lines)  # only a first new line that is whole may start with a label
                line = plain[len(on_screen[-1]):]
            new_lines.append(line)
        previous, previous_end = [p for p in map(_plain, lines) if p], end
        if new_lines:
            shown.append(_NewText(start, end, new_lines, rolled, whole))
    return shown


def _roll_up(raw: list[tuple[float, float, list[str]]]) -> list[Cue]:
    """Cues from (start, end, text lines): lines shown before are dropped (rolling captions), and a cue whose
    text rolled on from the previous one starts its new words when the previous cue ends."""
    shown = _new_text(raw)
    openings = [_opening(cue) for cue in shown]
    names = _speaker_names(openings)
    cues: list[Cue] = []
    speaker = None
    named_by_label = False  # the speaker was named by a label ("Jane Doe: "), not a voice tag
    for cue, opening in zip(shown, openings):
        start, end, new_lines, rolled = cue.start, cue.end, cue.lines, cue.rolled
        begin = max(start, cues[-1].end) if rolled and cues else start
        label = _label(opening)
        named = label[0] if label and label[0] in names else None
        if named_by_label and label and not named and len(label[0].split()) > 1 and not _capitals(label[0]):
            # In captions that name speakers by labels, a label not taken for a name stays text, but one of words in
            # mixed case reads as a one-turn speaker's ("John Roe: "): whoever spoke before is not known to say it,
            # so no one is named, as after ">> ". One word ("Note: ", "Tonight: ") or words in capitals ("THE PLAN:
            # ") are as often said, and so is "Quick Recap: " where voice tags name the speakers: the speaker holds.
            speaker, named_by_label = None, False
        # the label's words are the name, not what was said: they are left out, and take no share of the time
        skips = [len(named.split()) if named and i == 0 else 0 for i in range(len(new_lines))]
        words: list[Word] = []
        # A cue's lines were said one after the other: each gets its share of the cue's time by character length,
        # as words do within a line, so times only move forward (a line given the whole cue would start again at
        # its start). A line's inline times are kept; the next line starts after its last word.
        lengths = [len("".join(_plain(line).split()[skip:])) for line, skip in zip(new_lines, skips)]
        total = sum(lengths) or 1
        line_start, said = begin, 0
        for line, length, skip in zip(new_lines, lengths, skips):
            voice = _VOICE.search(line)
            if voice:
                # the annotation is cue text: "AT&amp;T" names AT&T (as our own .vtt export writes it)
                speaker = without_controls(html.unescape(voice.group(1))).strip()
                named_by_label = False
            elif _SPEAKER_PREFIX.match(html.unescape(_TAG.sub("", line)).lstrip()):
                speaker = None  # ">> " or "- ": someone else speaks, unnamed; the last name no longer holds
            if skip:
                speaker, named_by_label = named, True
            said += length
            line_end = max(begin + (end - begin) * said / total, line_start)
            line_words = _line_words(line, line_start, line_end, skip, cue_end=max(end, begin))
            words += line_words
            line_start = max([line_end] + [w.end for w in line_words])
        if words:
            if cues and not rolled:
                _check_order(cues[-1], start, end)
                _end_by(cues[-1], start)
            cues.append(Cue(begin, max(end, begin), _spaced(words), speaker))
    return cues


def _opening(cue: _NewText) -> str:
    """The text a cue's new words start with, where a speaker's label may stand: none after a voice tag (which names
    the speaker already) or in the rest of a line that grows word by word (a label starts a line)."""
    first = cue.lines[0]
    return _plain(first) if cue.whole and not _VOICE.search(first) else ""


def _label(plain: str) -> tuple[str, str] | None:
    """The speaker label a line's text starts with, as (name, the text after it), or None. A label is "Name: " before
    more text, as transcripts, broadcast captions and our own SubRip and text exports write it: a name of 1-4 words,
    each capitalised ("Jane Doe", "JANE DOE", "Jean-Luc O'Brien", "Dr. Lee"), with no digits ("At 10:30" is said)."""
    match = _LABEL.match(plain)
    if match is None:
        return None
    name = match["name"]
    words = name.split()
    if len(words) > 4 or not all(_NAME_WORD.fullmatch(word) and word[0].isupper() for word in words):
        return None
    return name, plain[match.end():]


def _speaker_names(openings: list[str]) -> set[str]:
    """The labels that name speakers in a file, from the text each cue starts with. A label could be what was said
    ("Note: ", "Kubernetes: "), and taken for a name its words are lost: it names a speaker where it starts two cues
    or more (speakers speak more than once; our own exports name one again where they take a turn again), or where
    it is in capitals before text that is not ("JANE DOE: Hello", as broadcast captions name a speaker; in captions
    all in capitals, "THE PLAN: ..." could be said)."""
    labels = [label for label in map(_label, openings) if label]
    starts = Counter(name for name, _ in labels)
    return {name for name, after in labels
            if starts[name] > 1 or (_capitals(name) and any(ch.islower() for ch in after))}


def _capitals(name: str) -> bool:
    """Whether a name is written in capitals: "JANE DOE", "BOB"; not a single letter, which also numbers a list's
    items ("A: ...")."""
    return name.isupper() and any(len(word.strip(".")) > 1 for word in name.split())


def _check_order(previous: Cue, start: float, end: float) -> None:
    # The tolerance is for ends only: a start before the previous start would store (and export) sentences out of
    # time order, and which of the two was said first cannot be told.
    if start < previous.start:
        raise CaptionError(f"cues out of order (one at {clock(start)} follows one at {clock(previous.start)})")
    if start < previous.end - OVERLAP_TOLERANCE:
        raise CaptionError(f"overlapping cues at {clock(start)} ({previous.end - start:.1f} s)")


def _end_by(previous: Cue, start: float) -> None:
    """A cue overlapping the next within OVERLAP_TOLERANCE ends, with its last words, where the next starts: kept
    overlapping, it was exported so (two cues on screen at once; ffmpeg's mov_text cuts one silently)."""
    if previous.end <= start:
        return
    previous.end = start
    previous.words = [replace(w, start=min(w.start, start), end=min(w.end, start)) for w in previous.words]


def _plain(line: str) -> str:
    """A line's text without markup, sound cues or speaker marks: what it says, for comparing lines."""
    text = without_controls(html.unescape(_TAG.sub("", _INLINE_TIME.sub("", line))))  # after unescape: "&#27;" is ESC
    text = _SPEAKER_PREFIX.sub("", _SOUND.sub(" ", text))
    return " ".join(text.split())


def _line_words(line: str, start: float, end: float, skip: int = 0, cue_end: float | None = None) -> list[Word]:
    """A line's words with times: inline timestamps where the line has them (each one starts the words
    after it), the rest of the cue's time shared by character length. ``skip``: how many words the line starts
    with that were not said (a speaker's label), left out before the time is shared. ``start`` and ``end``: the
    line's share of its cue; ``cue_end``: where the cue ends (``end`` if not given), which no inline time passes."""
    pieces = _INLINE_TIME.split(line)  # text, time, text, time, text ...
    spans: list[tuple[float | None, str]] = [(None, pieces[0])]
    for index in range(1, len(pieces), 2):
        spans.append((seconds(pieces[index]), pieces[index + 1]))
    timed: list[tuple[float | None, str]] = []
    for at, text in spans:
        for position, token in enumerate(_plain(text).split()):
            timed.append((at if position == 0 else None, token))
    timed = timed[skip:]
    if not timed:
        return []
    # Anchors: the line's start, every inline time, the line's end; words between two anchors share that time. An
    # inline time is kept after the line's start and the time before it, and within the cue (not the line's share
    # of it: a two-line cue's lines are shared by length, and their inline times say better): a word timed before
    # its cue or before the word it follows (a line shown again with its earlier karaoke times) ran words, and
    # sentences, backwards.
    starts: list[float | None] = [at for at, _ in timed]
    starts[0] = start if starts[0] is None else starts[0]
    latest, last = start, max(end if cue_end is None else cue_end, start)
    for position, at in enumerate(starts):
        if at is not None:
            starts[position] = latest = min(max(at, latest), last)
    words: list[Word] = []
    index = 0
    while index < len(timed):
        following = next((j for j in range(index + 1, len(timed)) if starts[j] is not None), len(timed))
        span_start = starts[index]
        span_end = starts[following] if following < len(timed) else end
        span_end = max(span_end, span_start)
        group = [token for _, token in timed[index:following]]
        total = sum(len(token) for token in group) or 1
        at = span_start
        for token in group:
            length = (span_end - span_start) * len(token) / total
            words.append(Word(round(at, 3), round(at + length, 3), token))
            at += length
        index = following
    return words


def _spaced(words: list[Word]) -> list[Word]:
    """Words as whisper gives them, each with its leading space: joined across cues they still read as text."""
    return [Word(w.start, w.end, " " + w.word, w.probability) for w in words]


def _podcast_json_cues(text: str) -> list[Cue]:
    """Podcasting 2.0 JSON transcripts: ``{"segments": [{"startTime", "endTime", "body", "speaker"}]}``."""
    try:
        segments = json.loads(text)["segments"]
        raw = [(float(s["startTime"]), float(s["endTime"]), str(s.get("body") or ""), _speaker(s.get("speaker")))
               for s in segments]
    except (ValueError, KeyError, TypeError):
        raise CaptionError("malformed transcript JSON (no segments with startTime, endTime and body)") from None
    # JSON numbers (and Python's float()) read NaN, Infinity, 1e999 and negatives: no moment of a talk, and stored
    # they were a NULL the catalog refused (the whole run stopped), a talk of infinite length, or links to "#t=-30".
    # A start a rounding before the recording's (-0.04) is its start.
    if not all(-NEGATIVE_TOLERANCE <= time < math.inf for start, end, _, _ in raw for time in (start, end)):
        raise CaptionError("malformed transcript JSON (a time that is no moment of a talk: negative, NaN or "
                           "infinite)")
    raw = [(max(0.0, start), max(0.0, end), body, speaker) for start, end, body, speaker in raw]
    cues: list[Cue] = []
    for start, end, body, speaker in raw:
        if end < start:
            raise CaptionError(f"a cue ends before it starts (at {clock(start)})")
        words = _line_words(body, start, end)
        if not words:
            continue
        # The spec allows a segment per word: words continue the previous cue while the speaker stays.
        if cues and cues[-1].speaker == speaker and 0 <= start - cues[-1].end < 1.0 and len(cues[-1].words) < 40:
            cues[-1].words += [Word(w.start, w.end, " " + w.word) for w in words]
            cues[-1].end = max(cues[-1].end, end)
            continue
        if cues:
            _check_order(cues[-1], start, end)
        cues.append(Cue(start, end, _spaced(words), speaker))
    return cues


def _speaker(name: object) -> str | None:
    """A JSON segment's speaker as stored: printable like a ``<v Name>`` (it is printed and exported), None if blank."""
    return (without_controls(str(name)).strip() or None) if name is not None else None


def to_segments(cues: list[Cue], duration: float | None = None) -> list[Segment]:
    """The transcript's segments, one per cue (``split_sentences`` re-cuts them by their words).
    Raises CaptionError when there are no words or they run past the media's end."""
    if not cues or not any(c.words for c in cues):
        raise CaptionError("empty (no words)")
    last = max(c.end for c in cues)
    if duration and last > duration + PAST_END_TOLERANCE:
        raise CaptionError(f"cues run to {clock(last)}, past the media's end at {clock(duration)}")
    return [Segment(c.start, c.end, c.text, c.words, speaker=c.speaker) for c in cues]


def read(text: str, fmt: str | None = None, duration: float | None = None) -> list[Segment]:
    """A caption file's text → transcript segments, or CaptionError."""
    return to_segments(parse(text, fmt), duration)

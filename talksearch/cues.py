"""A sentence cut into subtitle-sized cues, for the WebVTT and SubRip exports and the players' caption tracks.

A stored sentence may run to 50 words and 20 seconds (passages.PassageOptions); shown whole, it covers half the
picture for that long. Subtitles are commonly held to two lines of about 42 characters and a few seconds each
(the BBC's and streaming services' guidelines), so a longer sentence is cut where its words allow: into as few
cues as fit, of even length, ending at punctuation where that costs little, each timed by its words.
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from dataclasses import dataclass

from talksearch.library import Segment

LINE_WIDTH = 42  # characters on a subtitle line (a wide East Asian character counts two)
LINES = 2
CUE_SECONDS = 7.0
_CUE_WIDTH = LINE_WIDTH * LINES
# What a cue ending at a clause's end is worth, in the squared characters of slack the cost below counts in: a cue
# may come out about 20 characters shorter than even to end at a comma.
_PUNCTUATION_BONUS = 20**2
SHORTEST = 0.001  # seconds: a cue must end after it starts (WebVTT), whatever the word times say
_PUNCTUATION_ONLY = re.compile(r"[^\w\s]+")
_CLAUSE_END = re.compile(r"[,.;:!?\u3001\u3002\uff0c\uff01\uff1f\u060c\u061f]$")
# Japanese line breaking (kinsoku): a line may not start with a small kana or the long-vowel mark ("チェ" / "ックポ"),
# nor (as in every script) with closing punctuation (_PUNCTUATION_ONLY); nor end with an opening bracket.
_NO_LINE_START = frozenset("ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶー")
_NO_LINE_END = frozenset("「『（【〈《［｛")
_KATAKANA = re.compile(r"[\u30a0-\u30ff]")  # a katakana word ("チェックポイント") is cut only if it outruns a line


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]  # one or two lines of text


@dataclass(frozen=True)
class _Token:
    text: str  # with the whitespace before it, as it is joined to the token before
    start: float
    end: float


def width(text: str) -> int:
    """The columns ``text`` takes on screen: a wide or full-width character (CJK) takes two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def cues(sentence: Segment, lead: int = 0) -> list[Cue]:
    """``sentence`` as one cue when it fits (two lines, ``CUE_SECONDS``), else as several, in order, the first
    starting and the last ending with the sentence and each ending where the next starts. ``lead``: the columns
    something written before the first cue's text takes on its first line (a speaker's "Name: ")."""
    tokens = _tokens(sentence)
    if not tokens:
        return [Cue(sentence.start, sentence.end, (sentence.text.strip(),))]
    pieces = _pieces(tokens, lead)
    starts = [sentence.start]
    for piece in pieces[1:]:  # word times may step back or run past the end; cues must not, nor last no time at all
        starts.append(max(min(piece[0].start, sentence.end), starts[-1] + SHORTEST))
    ends = starts[1:] + [max(sentence.end, starts[-1] + SHORTEST)]
    return [Cue(start, end, _lines(piece, lead if i == 0 else 0))
            for i, (start, end, piece) in enumerate(zip(starts, ends, pieces))]


def _tokens(sentence: Segment) -> list[_Token]:
    """The sentence's words with their times: whisper's (or the captions') own when they spell the text, else
    the text's words timed by their share of its width (a translation, a sentence without word times)."""
    words = sentence.words
    if words and "".join(w.word for w in words).split() == sentence.text.split():
        tokens: list[_Token] = []
        for w in words:
            if tokens and _stays_with(tokens[-1].text, w.word):  # "，" after a Chinese word: never a line's start
                tokens[-1] = _Token(tokens[-1].text + w.word, tokens[-1].start, w.end)
            elif w.word.strip():
                tokens.append(_Token(w.word, w.start, w.end))
        # a caption's line of Chinese or Japanese is one "word" to the captions' reader (it splits at spaces): one
        # wider than a line is cut between its characters, else the whole sentence came out as one overlong line
        return [piece for token in tokens
                for piece in (_characters(token) if width(token.text.strip()) > LINE_WIDTH else [token])]
    # a run of wide characters (Chinese, Japanese) is no one word: a line may end between its characters
    parts = [token for part in re.findall(r"\s*\S+", sentence.text.strip())
             for token in (_line_pieces(part) if width(part) > len(part) else [part])]
    return _timed_by_width(parts, sentence.start, sentence.end)


def _characters(token: _Token) -> list[_Token]:
    """A token too wide for a line as the pieces a line may end between: each wide character, each run of other
    characters (a "GPU" inside Chinese stays whole), as _line_pieces cuts it; each timed by its share of the
    token's width."""
    return _timed_by_width(_line_pieces(token.text), token.start, token.end)


def _timed_by_width(parts: list[str], start: float, end: float) -> list[_Token]:
    """``parts``, said one after the other from ``start`` to ``end``, each for its share of their width."""
    total = sum(width(p) for p in parts) or 1
    span, done, tokens = max(end - start, 0.0), 0, []
    for part in parts:
        begins = start + span * done / total
        done += width(part)
        tokens.append(_Token(part, begins, start + span * done / total))
    return tokens


def _line_pieces(text: str) -> list[str]:
    """``text`` as the pieces a line may end between: each wide character, each run of other characters (a "GPU"
    inside Chinese stays whole), each katakana word that fits a line; what may not start a line kept with the piece
    before it, what may not end one with the piece after (white space before a piece goes with it)."""
    parts: list[str] = []
    space = ""  # white space before the next piece, which goes with it
    for character in text:
        if character.isspace():
            space += character
        elif parts and not space and (_stays_with(parts[-1], character)
                                      or width(character) == 1 and width(parts[-1][-1]) == 1):
            parts[-1] += character
        else:
            parts.append(space + character)
            space = ""
    if parts and space:
        parts[-1] += space
    return parts


def _stays_with(before: str, after: str) -> bool:
    """Whether no line may end between ``before`` and ``after`` (no white space between them): ``after`` is
    punctuation (an opening bracket aside) or may not start a line, ``before`` an opening bracket, or the two are one
    katakana word that still fits a line."""
    first, last = after[:1], before[-1:]
    return (bool(_PUNCTUATION_ONLY.fullmatch(after)) and first not in _NO_LINE_END or first in _NO_LINE_START
            or last in _NO_LINE_END
            or bool(_KATAKANA.match(last) and _KATAKANA.match(first)) and width(before + after) <= LINE_WIDTH)


def _pieces(tokens: list[_Token], lead: int) -> list[list[_Token]]:
    """The cheapest cut of ``tokens`` into cues: each cue costs its squared slack against a full cue (so cues come
    out even) plus a full cue's worth (so there are as few as fit), less the bonus when it ends a clause; a cue
    that two lines cannot hold, or of two lines said over more than ``CUE_SECONDS``, is allowed only as a single
    token. Dynamic programming over the cut points, as line breakers do; sentences hold at most a few dozen tokens."""
    n = len(tokens)
    span = _Widths(tokens)
    best = [0.0] + [math.inf] * n
    cut_before = [0] * (n + 1)
    for end in range(1, n + 1):
        for start in range(end - 1, -1, -1):
            before = lead if start == 0 else 0
            piece_width = before + span(start, end)
            # a cue of one line may stay up as long as it is said (a slow speaker, a caption cue's own length,
            # word times spread evenly over it): cut only to keep two lines from holding the picture
            too_long = tokens[end - 1].end - tokens[start].start > CUE_SECONDS and piece_width > LINE_WIDTH
            if end - start > 1 and (too_long or not _two_lines_hold(span, start, end, before)):
                break  # a longer piece (an earlier start) is wider and longer still
            cost = best[start] + _CUE_WIDTH**2 + (_CUE_WIDTH - min(piece_width, _CUE_WIDTH)) ** 2
            if end < n and _CLAUSE_END.search(tokens[end - 1].text):
                cost -= _PUNCTUATION_BONUS
            if cost < best[end]:
                best[end], cut_before[end] = cost, start
    pieces, end = [], n
    while end:
        pieces.append(tokens[cut_before[end]:end])
        end = cut_before[end]
    return pieces[::-1]


class _Widths:
    """The width of a run of tokens as it is shown (joined, stripped), from running sums: the cut above asks it for
    thousands of runs of a long sentence."""

    def __init__(self, tokens: list[_Token]) -> None:
        self._sums = list(itertools.accumulate((width(t.text) for t in tokens), initial=0))
        self._space_before = [width(t.text) - width(t.text.lstrip()) for t in tokens]
        self._space_after = [width(t.text) - width(t.text.rstrip()) for t in tokens]

    def __call__(self, start: int, end: int) -> int:
        """The width of ``tokens[start:end]``."""
        return self._sums[end] - self._sums[start] - self._space_before[start] - self._space_after[end - 1]


def _two_lines_hold(span: _Widths, start: int, end: int, lead: int) -> bool:
    """Whether the tokens ``start:end`` fit one line, or two broken between them, of ``LINE_WIDTH`` (the first
    after ``lead``). Half of two lines' width is not enough: the words may not break near the middle."""
    return (lead + span(start, end) <= LINE_WIDTH
            or any(max(lead + span(start, i), span(i, end)) <= LINE_WIDTH for i in range(start + 1, end)))


def _lines(piece: list[_Token], lead: int) -> tuple[str, ...]:
    """A cue's text on one line, or on two broken where their widths are most even (the first line's counted with
    the ``lead`` before it), or at a clause's end a little less even."""
    span, n = _Widths(piece), len(piece)
    text = "".join(t.text for t in piece).strip()
    if lead + span(0, n) <= LINE_WIDTH or n == 1:
        return (text,)
    wider_line = {i: max(lead + span(0, i), span(i, n)) for i in range(1, n)}
    # only breaks that keep both lines in width (a piece of one over-wide word has none: then any)
    breaks = [i for i, wider in wider_line.items() if wider <= LINE_WIDTH] or list(wider_line)
    first_line = min(breaks, key=lambda i: wider_line[i]
                     - (LINE_WIDTH // 4 if _CLAUSE_END.search(piece[i - 1].text) else 0))
    return ("".join(t.text for t in piece[:first_line]).strip(), "".join(t.text for t in piece[first_line:]).strip())

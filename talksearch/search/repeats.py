"""The same recording indexed twice, from a conference's channel and from its podcast feed, or a feed's episode and
a local copy of it: each copy's passages would take places in the results, saying the same words again, and each
copy would be a talk of its own in results grouped by talk. The copy ranked first stands for them all; the others'
moments are named beside its results (``SearchResult.also_in``).

A hit is a copy's when a hit ranked before it, of another talk of about the same length (a channel's upload may carry
a title card the feed's lacks), says nearly the same words: whisper hears two encodings of one recording alike, a
word or two apart. From then on every hit of that talk is the copy's. A short passage ("Thank you all for coming.")
may be said in many talks and tells nothing. Each hit is decided by the hits before it only: a page's results are
the same however deep the ranking behind them goes (a deeper page extends it, never reorders it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from talksearch.library import PassageHit

MIN_WORDS = 8  # distinct words a hit needs before it can tell a copy: short lines are said in many talks
SAME_WORDS = 0.8  # the share of the two passages' distinct words they have in common (Jaccard), at least
SAME_LENGTH = 0.03  # two talks' durations within 3% of the longer (a minute's title card on a 30-minute talk)
_WORD = re.compile(r"\w+")

Hits = list[tuple[PassageHit, float]]


def words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def without_repeats(hits: Hits, durations: Mapping[str, float | None],
                    said_before: Sequence[PassageHit] = ()) -> tuple[Hits, dict[int, list[PassageHit]]]:
    """``hits`` (best first) without the copies' (see the module), and per kept passage id the copies' hits saying
    its words, in rank order. Passages ``said_before`` (a related-moments query's own) rank before all: their talk's
    copies are no result. ``durations``: the talks' lengths in seconds, by id."""
    kept: Hits = []
    repeats: dict[int, list[PassageHit]] = {}
    copy_of: dict[str, str] = {}  # a copy's talk -> the talk that stands for it
    unmatched: list[tuple[PassageHit, frozenset[str]]] = []  # copies' hits whose moment has not been shown yet
    compared = _Shown()
    for passage in said_before:
        compared.add(passage, words(passage.text))
    for hit, score in hits:
        said = words(hit.text)
        original = _said_before(hit, said, compared, durations) if len(said) >= MIN_WORDS else None
        if original is not None:
            copy_of.setdefault(hit.talk_id, copy_of.get(original.talk_id, original.talk_id))
            if original.talk_id not in {p.talk_id for p in said_before}:
                repeats.setdefault(original.passage_id, []).append(hit)
        elif hit.talk_id in copy_of:  # a copy's moment ranked before the talk's own: named beside it when it comes
            unmatched.append((hit, said))
        else:
            kept.append((hit, score))
            compared.add(hit, said)
            for earlier in [u for u in unmatched if copy_of[u[0].talk_id] == hit.talk_id and _same_words(u[1], said)]:
                repeats.setdefault(hit.passage_id, []).append(earlier[0])
                unmatched.remove(earlier)
    return kept, repeats


class _Shown:
    """The passages shown so far (and a related-moments query's own), each found by the first words of its
    ``_prefix``: a deep page compares each hit with the few shown passages sharing one of its prefix's words, not
    with every passage of every talk of about its length (a large library's conference talks, most of them 30 minutes
    long: paging far down a common word took a minute a page, a scale hunt)."""

    def __init__(self) -> None:
        self._talk_order: dict[str, int] = {}  # each talk's place among the talks shown
        self._by_word: dict[str, list[tuple[int, int, PassageHit, frozenset[str]]]] = {}
        self._shown = 0

    def add(self, passage: PassageHit, said: frozenset[str]) -> None:
        entry = (self._talk_order.setdefault(passage.talk_id, len(self._talk_order)), self._shown, passage, said)
        self._shown += 1
        for word in _prefix(said):
            self._by_word.setdefault(word, []).append(entry)

    def sharing_words(self, said: frozenset[str]) -> list[tuple[PassageHit, frozenset[str]]]:
        """The shown passages that may say nearly ``said``, talk by talk in the order they were shown."""
        found = {entry[1]: entry for word in _prefix(said) for entry in self._by_word.get(word, ())}
        return [(passage, other) for *_, passage, other in sorted(found.values(), key=lambda entry: entry[:2])]


def _prefix(said: frozenset[str]) -> list[str]:
    """The words of ``said`` that any passage saying nearly its words (``_same_words``) shares at least one of
    (prefix filtering): two sets sharing at least ``SAME_WORDS`` of their union share that share of each, so at least
    one of each one's first ``len - shared + 1`` words, in any one order of all words: here the longest first, which
    are the rarest mostly, so that "the" and "and" are looked up by few passages."""
    shared = math.ceil(SAME_WORDS * len(said) - 1e-9)
    return sorted(said, key=lambda word: (-len(word), word))[:len(said) - shared + 1]


def _said_before(hit: PassageHit, said: frozenset[str], compared: _Shown,
                 durations: Mapping[str, float | None]) -> PassageHit | None:
    """The passage shown before ``hit``, of another talk of about the same length, that says nearly its words;
    None when there is none."""
    length = durations.get(hit.talk_id)
    same_length: dict[str, bool] = {}  # by talk
    for passage, other in compared.sharing_words(said):
        talk = passage.talk_id
        if talk not in same_length:
            same_length[talk] = talk != hit.talk_id and _same_length(durations.get(talk), length)
        if same_length[talk] and _same_words(said, other):
            return passage
    return None


def _same_words(one: frozenset[str], other: frozenset[str]) -> bool:
    return len(one & other) >= SAME_WORDS * len(one | other)


def _same_length(one: float | None, other: float | None) -> bool:
    return bool(one and other) and abs(one - other) <= SAME_LENGTH * max(one, other)

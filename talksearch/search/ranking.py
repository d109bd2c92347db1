"""Ranking: which moments answer a query, best first.

Five retrievers each rank passages (sentence windows, and single sentences where the library has them):
- dense: FAISS over the passage embeddings (meaning, paraphrase);
- keyword: SQLite FTS5 BM25 over the transcript words (exact terms);
- sound-alike: for query words no transcript contains, the passages whose pronunciation comes closest to the
  word's (``talksearch.pronunciation``), because speech recognition writes jargon it does not know as words it does;
- trigrams: in talks in other languages than English, the passages sharing most character trigrams with the
  query's words (inflections the English stemmer does not join, and words whisper misspelt);
- multilingual: in those talks, where the embedding setting joins a multilingual model to English ones, the
  passages nearest by that model's cosine alone (scaled so that in a library of both the English talks, which this
  ranking leaves out, are not outvoted).
Their ranks are fused (weighted reciprocal-rank fusion). The best fused passages are then rescored word by word:
each query word's contextual vector (the embedding model's last layer, before it pools a text into one vector)
finds its closest word in the passage and the reverse (BERTScore), which tells a passage that says what the
query says from one that is merely about the same topic better than one vector per text does; the passages'
word vectors were stored by the indexer (``talksearch.library.token_codes``). Each result then *snaps* to the
sentence inside it that best matches, so the link starts on the moment rather than a sentence early, and
passages that start at the same sentence collapse into one result. Two kinds of query know their answer, and
put it above the fusion's: words quoted from a transcript (the passages holding them as they are) and the name of
a talk's speaker or event (that talk's best passage). ``talksearch.search.searcher`` wraps this with validation,
filters and the response shape; bench/quality.py measures it (docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

import numpy as np

from talksearch.library import Library, PassageHit, SearchScope, token_codes
from talksearch.library.keyword_index import UNSPACED, quoted_phrases
from talksearch.pronunciation import phonemes, sound_distances, voice, word_phonemes
from talksearch.settings import Settings, default
from talksearch.text import STOP_WORDS, TOKEN, content_words, fold, tokens

_QUOTED = re.compile(r'"[^"]*"')
_WORD = re.compile(r"[^\W\d_]{4,}", re.UNICODE)  # a word worth sound-matching: 4+ letters
# The unknown words of a query matched by sound (each aligned with up to sound_candidates passages): a question
# holds one to three; a query of 500 characters of made-up words held ~100, a second of alignment for one page.
SOUND_WORDS_AT_MOST = 8


@dataclass
class RankingOptions:
    # The fusion's knobs that are settings (Settings.rank_*) take their defaults from there.
    candidates: int = default("rank_candidates")  # taken from each retriever before fusion
    rrf_k: int = default("rank_rrf_k")  # smaller than the usual 60: each retriever's first few ranks count for more
    dense_weight: float = default("rank_dense_weight")
    keyword_weight: float = default("rank_keyword_weight")
    # Sound-alike matches of query words that no transcript contains, weighted by the square of the share of
    # the query's words they are: fully for "Multus", a 49th for a long question with one odd word in it,
    # where the unknown word is more likely a paraphrase than misheard jargon.
    sound_weight: float = default("rank_sound_weight")
    sound_share_power: float = 2.0
    sound_min_weight: float = 0.1  # below this the sound-alike retriever is not run at all (one odd word in a long query)
    sound_words: int = 40  # the library's words most like an unknown query word, by sound ...
    sound_word_distance: float = 0.6  # ... within this distance: the passages holding them are aligned
    sound_candidates: int = 200  # passages per unknown word aligned whole (BM25's best of those holding the words)
    # Phoneme edits accepted, per unit of the word's sounds (talksearch.pronunciation.sound_distance); 0.4-0.5
    # found the same moments on both eval sets and both beam sizes (docs/benchmarks.md).
    sound_max_distance: float = 0.45
    # Character trigrams of the query's words, over talks in other languages than English (their words are not
    # stemmed, and whisper base misheard a third to half of them on the languages set): on that set same-language
    # R@5 rose from 0.67-0.83 to 0.83 in each language, while the English sets have no such talks (docs/benchmarks.md).
    trigram_weight: float = default("rank_trigram_weight")
    # Talks in other languages than English, also ranked by the multilingual model's cosine alone, where the
    # embedding setting joins one to English models (Embedder.multilingual_part). On the languages set (formant
    # voices) same-language R@5 / onTime@5 rose from 0.67-0.83 / 0.58-0.67 to 0.83 / 0.75 in each language at 2
    # (1: 0.75-0.83 / 0.67-0.75); English talks are not ranked by it (docs/benchmarks.md).
    multilingual_weight: float = default("rank_multilingual_weight")
    # ... and in a library of talks in English too, the fused scores of the talks in other languages scaled to the
    # rankings open to them (_language_balance); False: summed as they come (an experiment, --compare).
    balance_languages: bool = True
    # Word-by-word rescoring (BERTScore F1 of the query against the passage): of the best fused passages, how
    # many, and what a perfect match adds to a fused score (whose first rank is worth about 0.07). On the tune
    # half and the dev set 10-30 candidates and 0.2-0.3 gave the same first results (docs/benchmarks.md).
    token_candidates: int = default("rank_token_candidates")
    token_weight: float = 0.2
    # ... and for a query that asks (``asks_a_question``), this: word by word, a passage restating the question (a
    # host asking it, an agenda naming it) matches it better than the answer, whose words differ, while search by
    # meaning was trained on questions and their answers (dense ranking alone was first more often on questions:
    # 0.70 against 0.66 on thirteen sets). On those sets (682 queries; two of them, blind18 and blind19, measured
    # once before) 0.1 ranked 18 questions better and 5 worse: R@1 0.659 → 0.677 and R@5 0.964 → 0.970 on
    # questions, on time as often; the two untouched sets alone 3 better, none worse (0: 44 moved, on time less
    # often; docs/benchmarks.md). Other languages' questions ask by their question mark alone.
    token_weight_asking: float = 0.1
    snap: bool = True  # start a result at its best-matching sentence (needs sentence passages)
    snap_keyword_weight: float = 0.3  # in snapping, what a sentence sharing all the query's words adds to its cosine
    # ... where words are compared by their first letters (0: whole words): a stemmer for any language, so that
    # "Containers" meets "Container" and "détecter" "détection" in talks the English stemmer does not read. On the
    # languages set 3 of 36 same-language moments more landed on time, and the English sets did not move
    # (docs/benchmarks.md).
    snap_word_letters: int = 5
    # ... and, in a sentence of a talk not in English, what the multilingual model's own cosine adds (where the
    # embedding joins one to English models): in the mean of the models' cosines the English models' guesses pick
    # the setup sentence before the answer. On the languages sets' tune halves and first held-out halves (240
    # queries, both voices) 1.5 landed 7 more on time, found 1 more and lost none (2: one fewer in the top five);
    # on the fresh set, untouched till then, 2 more found and 1 more on time, none lost (docs/benchmarks.md).
    snap_multilingual_weight: float = 1.5
    # ... and of sentences scoring within this of the best, the latest: a question's or a paraphrase's words are
    # often shared alike by the sentence that sets a moment up and the one that answers it, which comes after. On
    # ten sets (414 queries) 3 more landed on time and none was lost (0.05: one lost); on blind6, untouched until
    # then, one more on time (0.83 → 0.87), none lost (docs/benchmarks.md). A setup sentence that scores clearly
    # higher still wins: blind6's "why does the KV cache take so much memory" lands 4.8 s early, on "...specifically
    # the key value cache".
    snap_tie_margin: float = 0.02
    # ... and where the best is a question and the sentence after it is none, that sentence when it scores within
    # this of the best: the answer, which the query's words match less well than the question asked (blind15's
    # interview: "when does the data get deleted from the acquisition computer?", 4.5 s before "only after the
    # checksum matches..."). On nine seen sets (442 queries; blind9 and blind10 made of Q&A and interviews) 0.3 moved
    # 5 results onto their moment (R@1 0.638 → 0.640, onTime@5 0.855 → 0.860) and lost none; 1 (in effect: always)
    # moved 6, but a reviewer's hunt then showed it landing on "let me thank our sponsors for the coffee" after a
    # question the query matched loosely (docs/benchmarks.md). 0: never.
    snap_answer_margin: float = 0.3
    # A query of at least this many words that a passage holds as they are, in order, puts it first (a sentence
    # copied from a transcript); 0: never. Fewer words match by chance ("how to use").
    quote_min_words: int = 4
    # A passage starting in a talk's first ``opening_seconds`` of speech scores this much less: a speaker's
    # introduction and the talk's summary share the words of any query about the talk ("the Swedish batch system guy
    # who said network delay between cities made the queue slow" came first on "Hello, I am Henrik ... in Sweden").
    # Not in a talk whose speech lasts under three openings (a lightning talk, a clip: no introduction to discount).
    # Measured on thirteen seen sets (682 queries): 26 ranked better, 2 worse (R@1 0.672 → 0.679, onTime@5 0.871 →
    # 0.877; 0.1 over 20 s: 35 better, 7 worse, two of them out of the top five; 30 s: 15 worse); on blind20 and
    # blind21, untouched until then, 6 better and none worse (R@1 0.833 → 0.858; docs/benchmarks.md). 0: never.
    opening_discount: float = 0.1
    opening_seconds: float = 12.0
    names: bool = True  # a query naming a talk's speaker or event puts that talk's best passage first

    @classmethod
    def from_settings(cls, settings: Settings, **overrides) -> RankingOptions:
        """The options a service with these settings ranks by (``overrides``: experiments, bench/quality.py)."""
        return cls(**{"candidates": settings.rank_candidates, "rrf_k": settings.rank_rrf_k,
                      "dense_weight": settings.rank_dense_weight, "keyword_weight": settings.rank_keyword_weight,
                      "sound_weight": settings.rank_sound_weight, "trigram_weight": settings.rank_trigram_weight,
                      "multilingual_weight": settings.rank_multilingual_weight,
                      "token_candidates": settings.rank_token_candidates, **overrides})


# --- retrievers: each returns passage ids, best first -----------------------------------------------


def _dense(library: Library, vector: np.ndarray, k: int, scope: SearchScope | None = None) -> list[int]:
    return [pid for pid, _ in library.search_vectors(vector, k, scope)]


def _keyword(library: Library, text: str, k: int, scope: SearchScope | None = None) -> list[int]:
    return library.keyword_search(text, k, scope=scope)


def _masked(vector: np.ndarray, part: slice) -> np.ndarray:
    """``vector`` with only ``part`` left, the rest zeroed: its dot product with a stored vector ranks them by that
    model's cosine alone."""
    masked = np.zeros_like(vector)
    masked[part] = vector[part]
    return masked


def _other_languages(library: Library, text: str, vector: np.ndarray, k: int, o: RankingOptions,
                     multilingual_part: slice | None, talks: Collection[str] | None) -> list[tuple[float, list[int]]]:
    """The rankings of talks in other languages than English alone: the character trigrams of the query's words
    (``o.trigram_weight``), and where the embedding setting joins a multilingual model to English ones, that
    model's cosine alone (``o.multilingual_weight``: in the mean of their cosines the English models' guesses
    drown it)."""
    others = library.talks_not_in_english()
    if not others:
        return []
    scope = library.search_scope(talks) if talks is not None else None
    rankings = [(o.trigram_weight, library.trigram_search(text, k, scope) if o.trigram_weight > 0 else [])]
    if multilingual_part and o.multilingual_weight > 0:
        # Every passage is ranked by that model, and those of talks not in English vote by their place among them
        # all (English ones' places are left empty, None): ranked among those talks alone, a library's one talk
        # in another language had its passages first for every query, whatever they said. An English talk that
        # whisper heard as Finnish (the held-out set's h07) then came first for 40 of 64 English queries (R@5 0.58).
        ranked = _dense(library, _masked(vector, multilingual_part), k, scope)
        hits = library.passages(ranked)
        rankings.append((o.multilingual_weight, [pid if pid in hits and hits[pid].talk_id in others else None
                                                 for pid in ranked]))
    return rankings


def _language_balance(library: Library, fused: dict[int, float], shared: float, extra: float) -> dict[int, float]:
    """What the fused scores of passages in other languages than English are scaled by: the share of their votes
    that the rankings open to every passage hold (``shared``: the others; ``extra``: the multilingual model's own
    ranking, which only talks not in English enter), so that a passage first in each of its rankings scores alike
    in either kind of talk: unscaled, that ranking cost a library's English talks a quarter of their first places.
    A library in one kind of language only is scaled alike throughout: its ranking does not change. The trigram
    ranking, which only those talks enter too, is left out: scaled as well, English queries found moments in German,
    Spanish and French talks (through shared words) less often, by more than English talks gained
    (docs/benchmarks.md). Empty when no passage is scaled."""
    others = library.talks_not_in_english() if extra > 0 else frozenset()
    if not others:
        return {}
    factor = shared / (shared + extra)
    return {pid: factor for pid, hit in library.passages(fused).items() if hit.talk_id in others}


def unknown_words(library: Library, text: str, common_words: Collection[str] = ()) -> list[str]:
    """Query words of 4+ letters that no passage contains (after FTS5's stemming): likely misheard jargon.

    Words the embedding model knows whole (``common_words``) are left out: in a small library an ordinary
    word like "similar" may be missing from every transcript without being misheard."""
    unknown = []
    for word in dict.fromkeys(w.lower() for w in _WORD.findall(text)):
        if word in common_words:
            continue
        if not library.contains_word(word):
            unknown.append(word)
    return unknown


def mended_query(library: Library, text: str, common_words: Collection[str] = (),
                 talks: Collection[str] | None = None) -> str | None:
    """``text`` as it is searched when the transcripts (of ``talks``, when given) write some of its words otherwise:
    words typed apart that they write as one, joined (``joins_mended``), then typing slips mended
    (``slips_mended``); None when searched as typed."""
    joined = joins_mended(library, text, talks)
    return slips_mended(library, joined or text, common_words, talks) or joined


# Terms typed apart a query's joins are looked up for, at most (two lookups each): a name is a word or two of a
# short query, and a 500-character query would look up a hundred pairs.
JOINS_AT_MOST = 8
_HYPHEN = re.compile("[-\u2010\u2011\u2013]")  # between the pieces of one term: "RO-Crate", "Open-Tele-Metry"
_SPACES = re.compile("[ \t]+")  # ... or between two words: "open telemetry"


def joins_mended(library: Library, text: str, talks: Collection[str] | None = None) -> str | None:
    """``text`` with each term typed apart, its pieces joined by hyphens ("RO-Crate", "Open-Tele-Metry") or two
    words apart ("open telemetry"), that the transcripts (of ``talks``, when given) write as one word and never
    apart (``Library.written_as_one``: "ROCrate") written as one, as they spell it (``Library.spelling``: "Py
    Torch" is searched as "PyTorch"); None when it has none. Keyword search ORs such a
    joined spelling anyway (``text.spelled_otherwise``), but the dense ranking and the word-by-word rescoring read
    the words as typed: blind15's "RO-Crate" was found, and ranked 8th, under passages the pieces "RO" and "Crate"
    resembled in meaning ("rocrate" typed: first). Hyphenated pieces are one term, joined whole or not at all.
    Words of letters alone (letters and digits have their own spellings), two or more, no function words ("set
    up" is no "setup" typed), outside "quoted phrases", which match as typed."""
    quotes = [m.span() for m in _QUOTED.finditer(text)]
    words = [m for m in TOKEN.finditer(text) if not any(start <= m.start() < end for start, end in quotes)]

    def apart(first: re.Match, second: re.Match, gap: re.Pattern) -> bool:
        return bool(gap.fullmatch(text[first.end():second.start()]))

    joins: list[tuple[int, int, str]] = []
    looked_up, i = 0, 0
    while i + 1 < len(words) and looked_up < JOINS_AT_MOST:
        term = [words[i]]
        while i + len(term) < len(words) and apart(term[-1], words[i + len(term)], _HYPHEN):
            term.append(words[i + len(term)])
        hyphenated = len(term) > 1
        if not hyphenated and apart(words[i], words[i + 1], _SPACES):
            term.append(words[i + 1])
        pieces = [m[0] for m in term]
        if len(pieces) > 1 and all(map(_joinable, pieces)):
            looked_up += 1
            if library.written_as_one(pieces, talks):
                joins.append((term[0].start(), term[-1].end(), library.spelling("".join(pieces), talks)))
                i += len(term)
                continue
        i += len(term) if hyphenated else 1
    for start, end, joined in reversed(joins):
        text = text[:start] + joined + text[end:]
    return text if joins else None


def _joinable(word: str) -> bool:
    return word.isalpha() and len(word) > 1 and word.lower() not in STOP_WORDS and not UNSPACED.search(word)


def slips_mended(library: Library, text: str, common_words: Collection[str] = (),
                 talks: Collection[str] | None = None) -> str | None:
    """``text`` with each word that no passage holds, nor the embedding model knows whole (``unknown_words``), and
    that a transcript's word is one typing slip from (``Library.slips``: "citaton" for "citation") written as that
    word, as the English transcripts (of ``talks``, when given) spell it; None when it has none. Words in "quoted
    phrases" are matched as typed, never mended. A query is searched mended, by meaning, words and snapping alike:
    the sound-alike pass missed slips that changed a word's sound, and a made-up word's dense ranking is noise (a
    blind probe: found by keyword alone, the moment came 6th)."""
    unquoted = " ".join(_QUOTED.split(text))
    mended = {word: library.spelling(slips[0], talks, english=True)
              for word in unknown_words(library, unquoted, common_words) if (slips := library.slips(word))}
    if not mended:
        return None
    # a quoted phrase is matched first, and kept as it is; the words to mend, whole, in any case
    pieces = re.compile(r'"[^"]*"|\b(?:' + "|".join(map(re.escape, mended)) + r")\b", re.IGNORECASE)
    return pieces.sub(lambda m: m[0] if m[0].startswith('"') else mended[m[0].lower()], text)


def _sound(library: Library, words: list[str], k: int | None, o: RankingOptions,
           scope: SearchScope | None = None) -> list[int]:
    """Passages that sound like they contain one of ``words``, closest first (the first ``k``; None: all).

    Two steps, both by pronunciation (``talksearch.pronunciation``): the library's vocabulary gives the
    ``sound_words`` words that sound most like the query word (whisper's "subunit" for "subuid"); the passages
    holding them (BM25, the best ``sound_candidates``) are then aligned whole, across word boundaries ("absurd
    to" for "ibstat"), and count when the word lies within ``sound_max_distance`` of a stretch of them."""
    best: dict[int, float] = {}
    # The query's language is not known: the word is pronounced by each language's rules in turn and aligned
    # with that language's words (a library in one language does exactly one pass).
    for language, (vocabulary, vocabulary_sounds) in library.sound_vocabularies().items():
        spoken = voice(language)
        if spoken is None or not vocabulary:
            continue
        for word in words:
            heard = word_phonemes(word, spoken)
            distances = vocabulary_sounds.distances(heard)
            nearest = np.argsort(distances, kind="stable")[:o.sound_words]
            similar = " ".join(vocabulary[i] for i in nearest if distances[i] <= o.sound_word_distance)
            hits = library.passages(_keyword(library, similar, o.sound_candidates, scope))
            texts = [phonemes(hit.text, spoken) for hit in hits.values()]
            for pid, distance in zip(hits, sound_distances(heard, texts)):
                if distance <= o.sound_max_distance:
                    best[pid] = min(best.get(pid, math.inf), float(distance))
    return sorted(best, key=best.get)[:k]


def _fuse(rankings: list[tuple[float, list[int | None]]], rrf_k: int) -> dict[int, float]:
    """Reciprocal rank fusion; a ranking's None holds a place that votes for no passage."""
    fused: dict[int, float] = {}
    for weight, ids in rankings:
        for position, pid in enumerate(ids):
            if pid is not None:
                fused[pid] = fused.get(pid, 0.0) + weight / (rrf_k + position + 1)
    return fused


# --- rescoring word by word -------------------------------------------------------------------------


def token_match(query: np.ndarray, passage: np.ndarray) -> float:
    """BERTScore F1 of two texts' meaningful word vectors (rows of signs, ``token_codes``): each query word's
    best cosine with a passage word (recall) and each passage word's best with a query word (precision),
    averaged, and their harmonic mean. 0 when either side has no words."""
    if not len(query) or not len(passage):
        return 0.0
    similarity = token_codes.cosines(query, passage)
    recall, precision = float(similarity.max(axis=1).mean()), float(similarity.max(axis=0).mean())
    return 2 * recall * precision / (recall + precision) if recall + precision > 0 else 0.0


def rescore(library: Library, fused: dict[int, float], passages: dict[int, PassageHit], text: str,
            query_words: np.ndarray, o: RankingOptions, balance: dict[int, float] | None = None) -> None:
    """Adds to the best ``token_candidates`` passages' fused scores their word-by-word match with the query, best
    as their scores will be once balanced (``_language_balance``): in a library of English, German and Spanish
    talks the candidates were all German and Spanish passages, whose votes are scaled after, and the English
    passage saying "Kubernetes" came third, never rescored (an audit of issue 16). Only when every one of them has
    word vectors stored: a talk indexed before they were kept is not to lose to one that has them merely for that."""
    balance = balance or {}
    best = sorted(passages, key=lambda pid: fused[pid] * balance.get(pid, 1.0), reverse=True)[:o.token_candidates]
    stored = library.passage_token_vectors(passages[pid] for pid in best)
    if not best or len(stored) < len(best):
        return
    weight = o.token_weight_asking if asks_a_question(text) else o.token_weight
    for pid in best:
        fused[pid] += weight * token_match(query_words, stored[pid])


# --- a query that quotes a transcript, or names a talk ------------------------------------------------


def put_quotes_first(library: Library, fused: dict[int, float], text: str, o: RankingOptions) -> None:
    """Lifts the passages holding the query's words as one phrase (exact, unstemmed, in order; punctuation
    between them aside) above every other, their order kept. A sentence copied from a transcript is mostly
    function words at times ("Hello, my name is Daniel, and this"): the dense ranking does not see it, and the
    keyword ranking that puts it first counts for half as much. (Two or three words typed as a term, "free
    cooling", are not lifted so: a passage merely naming it, "we will not talk about garbage collection today",
    then came before the one explaining it, and a speaker's name before their talk: a reviewer's hunt.)"""
    words = tokens(text)
    if not o.quote_min_words or len(words) < o.quote_min_words or not content_words(text) or not fused:
        return
    holding = library.holding_phrases(list(fused), '"' + " ".join(words) + '"') or ()
    top = max(fused.values())
    for pid in holding:
        fused[pid] += top


@functools.lru_cache(maxsize=65536)  # every query reads every talk's names
def _name_words(name: str) -> tuple[str, ...]:
    # as names are compared: in any case, with or without accents or letters such as ł ("Wałęsa" is "walesa")
    return tuple(fold(w) for w in tokens(name))


# What a credit puts around a speaker's name that no one says when naming them: a title ("Dr. Jane Doe") and an
# affiliation in brackets ("Jane Doe (Acme)"). Left out, "Jane Doe" names the talks so credited.
_HONORIFICS = frozenset({"dr", "prof", "professor", "mr", "mrs", "ms", "mx", "sir", "dame"})
_BRACKETED = re.compile(r"\([^)]*\)|\[[^\]]*\]")


def _speaker_words(speaker: str) -> tuple[str, ...]:
    words = _name_words(_BRACKETED.sub(" ", speaker))
    return tuple(word for word in words if word not in _HONORIFICS) or words


def _says_name(words: set[str], name: tuple[str, ...]) -> bool:
    """Whether a query's ``words`` say all of ``name``: an initial ("J. Doe") said as any word it begins."""
    return bool(name) and all(w in words or (len(w) == 1 and any(q.startswith(w) for q in words)) for w in name)


def named_talks(library: Library, text: str) -> set[str]:
    return talk_naming(library, text)[0]


def talk_naming(library: Library, text: str) -> tuple[set[str], set[str]]:
    """The talks whose speaker or event the query names, as the talks store them (no fuzzy match, so that an
    ordinary query names none), in any case, with or without accents, and the query's words that name them: all
    the words of a speaker's name or of an event's (its year may be left out: "Cloud Native Research Day" names
    "... Day 2023" and "... Day 2024"; given, it names that year's alone, ``_says_year``), or one word of a
    speaker's name ("Okafor", "Morag's talk") that only the talks of speakers so named say (in their
    introductions: "my name is Morag Sutherland"). A name that is also a word other talks say ("Green", "Price",
    a function word such as "Will") names a talk only with the rest of the name: alone, it is more likely the
    word, and where it is said the keyword ranking finds it."""
    words = {fold(w) for w in tokens(text)}
    speakers_by_word: dict[str, set[str]] = {}
    named: set[str] = set()
    naming: set[str] = set()
    for talk_id, speakers, event in library.talk_names():
        for speaker in speakers:
            name = _speaker_words(speaker)
            if _says_name(words, name):
                named.add(talk_id)
                naming.update(w for w in words if any(w == n or (len(n) == 1 and w.startswith(n)) for n in name))
            for word in words.intersection(name):
                speakers_by_word.setdefault(word, set()).add(talk_id)
        event_words = _name_words(event)
        event_name = {w for w in event_words if not w.isdigit()}
        if event_name - STOP_WORDS and words >= event_name and _says_year(words, event_words):
            named.add(talk_id)
            naming.update(event_name | words.intersection(event_words))
    for word, talks in speakers_by_word.items():
        if word not in naming and _names_alone(library, word, talks):
            named |= talks
            naming.add(word)
    return named, naming


def _says_year(words: set[str], event: tuple[str, ...]) -> bool:
    """Whether a query's ``words`` say each of an event's numbers (its year, "2024"), or leave it out: say no number
    of its length. "Datacenter Summit 2024" is not "... 2023", which it would name as much as the 2024 one; "400
    watts" beside it is no year."""
    return all(n in words or not any(w.isdigit() and len(w) == len(n) for w in words) for n in event if n.isdigit())


def _names_alone(library: Library, word: str, own_talks: set[str]) -> bool:
    """Whether one word of speakers' names names their talks: no other talk says it."""
    return len(word) > 1 and word not in STOP_WORDS and library.talks_saying(word) <= own_talks


# What a query naming a talk calls it besides its names ("Morag's talk where ..."): said in every introduction
# ("this talk is about"), these would find it rather than the moment.
_TALK_WORDS = frozenset({"talk", "talks", "presentation", "session", "keynote", "lecture"})


def moment_words(text: str, naming: set[str]) -> str:
    """The query without the words that named its talks (``talk_naming``) or call it a talk: what it says of the
    moment. Empty when nothing else is left ("Morag Sutherland's talk")."""
    kept, dropped = [], False
    for word in tokens(text):
        folded = fold(word)
        # "Morag's": its "s" goes with the name
        if folded in naming or folded in _TALK_WORDS or (dropped and folded == "s"):
            dropped = True
            continue
        kept.append(word)
        dropped = False
    return " ".join(kept) if content_words(" ".join(kept)) else ""


def put_named_first(library: Library, fused: dict[int, float], named: set[str], vector: np.ndarray,
                    candidates: int, o: RankingOptions, moment: tuple[str, np.ndarray] | None = None) -> None:
    """Lifts passages of the ``named`` talks above every other passage, the rest of the ranking as it was.

    With ``moment``, what the query says besides the names (``moment_words``) and its vector: the named talks'
    passages that those find, in the order they rank them. A query naming a talk is read as that talk searched
    for the rest ("Fiona's talk where the power cap was lost after a reboot"): searched whole, the name found the
    talk's introduction ("my name is Fiona …"), and the moment came sixth. Without (the query is names alone):
    the best passage of each, the fusion's best of the talk, or where it found none of it, the talk's passage
    nearest the query by meaning (unless the named talks are most of the library: its candidates then hold most
    of theirs)."""
    top = max(fused.values(), default=0.0)
    if moment is not None:
        words, moment_vector = moment
        scope = library.search_scope(named)
        ranked = _fuse([(o.dense_weight, _dense(library, moment_vector, candidates, scope)),
                        (o.keyword_weight, _keyword(library, words, candidates, scope))], o.rrf_k)
        discount_openings(library, ranked, o)  # naming the speaker is no reason to prefer the introduction
        hits = library.passages(ranked)
        for pid, score in ranked.items():
            if pid in hits and hits[pid].talk_id in named:
                fused[pid] = top + score
        return
    best: dict[str, int] = {}
    for pid, hit in library.passages(fused).items():
        if hit.talk_id in named:  # ties fall as in the ranking: the lower id first
            best[hit.talk_id] = min(pid, best.get(hit.talk_id, pid), key=lambda p: (-fused[p], p))
    if len(best) < len(named):
        scope = library.search_scope(named)
        nearest = _dense(library, vector, candidates, scope) if scope else []
        hits = library.passages(nearest)
        for pid in nearest:
            if pid in hits and hits[pid].talk_id not in best:
                best[hits[pid].talk_id] = pid
                # as if ranked just past the candidates: a score of 0 tied it with the best other talk's passage
                fused.setdefault(pid, o.dense_weight / (o.rrf_k + candidates + 1))
    for pid in best.values():
        fused[pid] += top


def discount_openings(library: Library, scores: dict[int, float], o: RankingOptions) -> None:
    """Scores ``opening_discount`` less each passage starting in its talk's first ``opening_seconds`` of speech,
    in a talk whose speech lasts three openings or more."""
    if not o.opening_discount or not scores:
        return
    hits = library.passages(scores)
    spans = library.speech_spans({hit.talk_id for hit in hits.values()})
    for pid, hit in hits.items():
        first, last = spans[hit.talk_id]
        if last - first >= 3 * o.opening_seconds and hit.start < first + o.opening_seconds:
            scores[pid] *= 1 - o.opening_discount


# --- snapping a result to its moment ----------------------------------------------------------------


def _shared_words(text: str, passage: str, letters: int = 0) -> float:
    """The share of the query's content words that the passage contains (compared by their first ``letters``, as
    any keyboard writes them: "Lodz" is a word of "Łódź sites", as keyword search finds it)."""
    cut = (lambda w: fold(w)[:letters]) if letters else fold
    wanted = {cut(w) for w in content_words(text)}
    have = {cut(w) for w in tokens(passage)}
    return len(wanted & have) / len(wanted) if wanted else 0.0


_ANSWER_WITHIN = 60.0  # seconds after a question its answer starts within, at most (a pause, another speaker)
_QUESTION_MARKS = ("?", "？", "؟")


# A query that asks, in English: a question word or an auxiliary first ("how long do jobs wait", "is InfiniBand
# single vendor", "when does the data get deleted"), or a question mark; "when the switch happened, ..." is a clause.
_ASKING = re.compile(r"(?i)\s*(?:how|what|why|where|which|who|whom|whose|"
                     r"(?:when\s+)?(?:is|are|does|do|did|can|could|should|would|will|was|were|has|have))\b")


def asks_a_question(query: str) -> bool:
    """Whether a query asks a question (``RankingOptions.token_weight_asking``)."""
    return asks(query) or bool(_ASKING.match(query))


def asks(sentence: str) -> bool:
    """Whether a transcript's sentence is a question (whisper writes the question mark)."""
    return sentence.rstrip().rstrip("\"'”’»)").endswith(_QUESTION_MARKS)


def snap(library: Library, hit: PassageHit, text: str, vector: np.ndarray, o: RankingOptions,
         multilingual_part: slice | None = None) -> PassageHit:
    """The passage that starts at the sentence of ``hit`` matching the query best (``hit`` when that is its first).

    A window of sentences is found by what any of its sentences says, but a link should land on that sentence:
    each sentence is scored by its own embedding's cosine with the query plus the words it shares with it (and,
    in a talk not in English, the ``multilingual_part`` model's cosine alone); of a query with "quoted phrases",
    only the sentences holding them, where one does.
    A caller whose query is itself a passage (related moments) should not snap: all its sentences match alike.
    """
    sentences = library.passages_within(hit.talk_id, hit.start, hit.end, kind="sentence")
    if o.snap_answer_margin and sentences and asks(sentences[-1].text):
        # the sentence after a question the passage ends on, its answer mostly (an interview's, a talk's Q&A)
        last = sentences[-1]
        sentences += [s for s in library.passages_within(hit.talk_id, last.start, last.end + _ANSWER_WITHIN,
                                                         kind="sentence") if s.start > last.start][:1]
    if len(sentences) < 2:
        return hit
    if quoted_phrases(text):
        # a "quoted phrase" is where the moment is: the rest of a question ('what does "no matches for kind" mean
        # after kubectl apply?') may match the sentence before it better. Said across two sentences, by none alone.
        holding = library.holding_phrases([s.passage_id for s in sentences], text) or ()
        sentences = [s for s in sentences if s.passage_id in holding] or sentences
    vectors = library.passage_vectors([s.passage_id for s in sentences])
    cosine = vectors @ vector
    if multilingual_part and o.snap_multilingual_weight and hit.talk_id in library.talks_not_in_english():
        cosine = cosine + o.snap_multilingual_weight * _cosines(vectors[:, multilingual_part], vector[multilingual_part])
    scores = [c + o.snap_keyword_weight * _shared_words(text, s.text, o.snap_word_letters)
              for c, s in zip(cosine, sentences)]
    top = max(scores)
    chosen = max(i for i, score in enumerate(scores) if score >= top - o.snap_tie_margin)
    answer = chosen + 1
    if (o.snap_answer_margin and asks(sentences[chosen].text) and answer < len(sentences)
            and not asks(sentences[answer].text) and scores[answer] >= top - o.snap_answer_margin):
        chosen = answer
    best = sentences[chosen]
    if best.start <= hit.start:
        return hit
    starting = [p for p in library.passages_within(hit.talk_id, best.start, hit.end + 600, kind=hit.kind)
                if p.start == best.start]
    return starting[0] if starting else best


def _cosines(rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Each row's cosine with ``vector`` (a joined vector's part is not of unit length)."""
    norms = np.linalg.norm(rows, axis=1) * np.linalg.norm(vector)
    return (rows @ vector) / np.where(norms > 0, norms, 1.0)


SAME_MOMENT = 0.05  # seconds: two hits are one moment when their links would start here (the same first word)


class Ranked(list):
    """``rank``'s moments, ``(hit, score)`` best first, of which the first ``first_tier`` are what its first tier
    gave: with ``distinct_talks`` (or no limit) the same moments for every page of a query, whatever its size and
    offset, where the deeper tiers behind them depend on how deep the page is."""

    def __init__(self, moments: Iterable[tuple[PassageHit, float]] = (), first_tier: int = 0):
        super().__init__(moments)
        self.first_tier = first_tier


class _Moments:
    """The moments chosen so far, found by talk and start in constant time (a deep page holds thousands)."""

    def __init__(self):
        self.chosen = Ranked()
        self.talks: set[str] = set()
        self._starts: dict[tuple[str, int], list[float]] = {}

    def add(self, hit: PassageHit, score: float) -> bool:
        """Add ``hit`` unless it starts where a chosen moment does; whether it was added."""
        bucket = math.floor(hit.start / SAME_MOMENT)
        if any(abs(start - hit.start) < SAME_MOMENT
               for near in (bucket - 1, bucket, bucket + 1) for start in self._starts.get((hit.talk_id, near), ())):
            return False
        self._starts.setdefault((hit.talk_id, bucket), []).append(hit.start)
        self.chosen.append((hit, score))
        self.talks.add(hit.talk_id)
        return True


# A page the first candidates do not fill takes twice as many from each retriever, and again, up to this many
# times what the page needs (a deep page; a filter to much of the library, whose talks the first candidates miss).
DEEPEST = 16


def rank(library: Library, text: str, vector: np.ndarray, limit: int | None, options: RankingOptions,
         talks: Collection[str] | None = None, common_words: Collection[str] = (),
         query_words: np.ndarray | None = None, distinct_talks: bool = False,
         multilingual_part: slice | None = None,
         embed_query: Callable[[str], np.ndarray] | None = None,
         depth_free: dict | None = None) -> Ranked:
    """The best ``limit`` moments for a query (``distinct_talks``: every moment, from at least ``limit`` talks;
    None: every moment the first candidates give), optionally only from the talks in ``talks``; rescored word by
    word when ``query_words`` gives the signs of the query's meaningful word vectors (``token_codes.signs``).

    The moments come in tiers, so that a deeper page never reorders a shallower one (paging through a query
    shows each moment once): the first tier is what the first ``candidates`` of each retriever give, ranked as
    ever; when the page needs more, twice as many candidates are taken, and the passages only they add come
    after, ranked by their fused score at that depth. ``depth_free``: a dict kept across calls for one query
    (the searcher ranks deeper when copies of a recording leave a page short), holding the work no depth changes."""
    o = options
    unknown = unknown_words(library, text, common_words) if o.sound_weight > 0 else []
    words = [w for w in tokens(text) if len(w) > 2]  # the share is of all words: a content-word share lost paraphrases
    sound_weight = o.sound_weight * (len(unknown) / max(1, len(words))) ** o.sound_share_power
    if sound_weight < o.sound_min_weight:  # too light to move a result: spare the alignment work
        unknown = []
    # A filter to some of the talks is searched within them; one to most of the library searches it all, the
    # others' passages dropped below.
    scope = library.search_scope(talks) if talks is not None else None
    # Which passages sound like the unknown words does not depend on the depth (each word's best sound_candidates
    # are aligned, whatever a tier takes of them): aligned once, for at most SOUND_WORDS_AT_MOST words (5-15 ms
    # each). Deep pages aligned them again at every tier: a 500-character query of made-up words took 13 s at
    # offset 9,900 and held a reader all the while.
    depth_free = {} if depth_free is None else depth_free
    if "sounding" not in depth_free:
        depth_free["sounding"] = _sound(library, unknown[:SOUND_WORDS_AT_MOST], None, o, scope) if unknown else []
    sounding = depth_free["sounding"]
    named, naming = talk_naming(library, text) if o.names else (set(), set())
    if talks is not None:
        named &= set(talks)
    # a query naming a talk, searched within it for what it says besides the names (put_named_first)
    moment_text = moment_words(text, naming) if named and embed_query is not None else ""
    moment = (moment_text, embed_query(moment_text)) if moment_text else None
    placed: set[int] = set()  # the passages some tier ranked: a deeper tier adds the others only
    moments = _Moments()  # the moments of the tiers so far, which a deeper tier extends, never reorders
    # Once every talk in reach has a moment, a deeper tier adds none (only more moments of theirs): a page past
    # the last talk would otherwise rank the whole library.
    reachable = talks_in_reach(library, talks) if distinct_talks and limit is not None else None
    tier, candidates = 0, o.candidates
    while True:
        rankings = [
            (o.dense_weight, _dense(library, vector, candidates, scope)),
            (o.keyword_weight, _keyword(library, text, candidates, scope)),
            (sound_weight, sounding[:candidates]),
            *_other_languages(library, text, vector, candidates, o, multilingual_part, talks),
        ]
        fused = _fuse(rankings, o.rrf_k)
        balance = (_language_balance(library, fused, o.dense_weight + o.keyword_weight + sound_weight,
                                     o.multilingual_weight) if o.balance_languages and multilingual_part else {})
        if tier == 0 and query_words is not None and o.token_candidates:
            rescore(library, fused, _eligible(library, text, fused, talks), text, query_words, o, balance)
        for pid, factor in balance.items():
            fused[pid] *= factor
        discount_openings(library, fused, o)
        if tier == 0:  # a deeper tier only adds passages after these
            if named:
                put_named_first(library, fused, named, vector, candidates, o, moment)
            put_quotes_first(library, fused, text, o)
        added = {pid: score for pid, score in fused.items() if pid not in placed}
        placed.update(added)
        _add_moments(library, text, vector, None if distinct_talks else limit, o, added, talks, moments,
                     multilingual_part)
        chosen = moments.chosen
        if tier == 0:
            chosen.first_tier = len(chosen)
        found = len(moments.talks) if distinct_talks else len(chosen)
        if (limit is None or found >= limit or all(len(ids) < candidates for _, ids in rankings)
                or candidates >= DEEPEST * max(limit, o.candidates) or found == reachable):
            return chosen
        tier, candidates = tier + 1, 2 * candidates


def _eligible(library: Library, text: str, ids: Collection[int], talks: Collection[str] | None) -> dict[int, PassageHit]:
    """Of ``ids``, the passages a result may come from: of the ``talks`` (when given) and holding the query's
    "quoted phrases" (when it has any)."""
    passages = library.passages(ids)
    if talks is not None:
        passages = {pid: hit for pid, hit in passages.items() if hit.talk_id in talks}
    holding = library.holding_phrases(passages, text)
    if holding is not None:  # "quoted phrases" must match exactly, whichever retriever found the passage
        passages = {pid: hit for pid, hit in passages.items() if pid in holding}
    return passages


def talks_in_reach(library: Library, talks: Collection[str] | None) -> int:
    """How many talks a search of ``talks`` (None: the library) could find a moment in, at most."""
    return len(talks) if talks is not None else library.count_talks() - library.count_talks_without_passages()


def _add_moments(library: Library, text: str, vector: np.ndarray, limit: int | None, o: RankingOptions,
                 added: dict[int, float], talks: Collection[str] | None, moments: _Moments,
                 multilingual_part: slice | None = None) -> None:
    """A tier's passages (``added``: by fused score) after the ``moments`` of the tiers before, until there are
    ``limit``: by fused score (then id, so that ties fall the same way every time), each snapped to its sentence.
    The tiers before are not gone over again: a deep page's tenth tier would snap and sort every passage again."""
    passages = _eligible(library, text, added, talks)
    phrases = bool(quoted_phrases(text))
    for pid in sorted(passages, key=lambda pid: (-added[pid], pid)):
        hit = passages[pid]
        if o.snap:
            moment = snap(library, hit, text, vector, o, multilingual_part)
            # ... to a sentence that still holds the phrases, if the query has any
            keep = not phrases or moment is hit or library.holding_phrases([moment.passage_id], text)
            hit = moment if keep else hit
        # Passages starting at one sentence are one result: the best-ranked one stands for it. A window that
        # merely overlaps a better one is another place to start listening, and is kept: when snapping picks
        # the sentence before the answer (a setup sentence often outscores it), the answer's own start is the
        # next result rather than lost (on-time landing, docs/benchmarks.md).
        if moments.add(hit, added[pid]) and len(moments.chosen) == limit:
            break

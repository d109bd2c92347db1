"""The keyword index: SQLite FTS5 over the passages' text (``passages_fts``, kept by triggers), searched by BM25.

Every FTS5 MATCH expression talksearch runs is written here, from the user's words: they are always quoted,
so FTS5 operators typed in a query are never interpreted.
"""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
import unicodedata
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager

from talksearch.library.migrations import TRIGRAM_INDEXES, UNSPACED_RANGES, filling
from talksearch.library.records import SearchScope
from talksearch.library.vocabulary import language_key
from talksearch.text import (ARABIC_ARTICLES, STOP_WORDS, arabic_stem, camel_parts, content_words, fold,
                             spelled_otherwise, tokens)

# passages_fts's tokenizer (talksearch.library.migrations.SCHEMA): words folded to lower case without accents,
# English ones stemmed
FTS_TOKENIZE = "porter unicode61 remove_diacritics 2"
# The same words unstemmed: a "quoted phrase" must match exactly ("GPUs" is not "GPU", "power capped" not "Power
# Capping"), still whole words regardless of case and accents, hyphens and punctuation between them separators
EXACT_TOKENIZE = "unicode61 remove_diacritics 2"
# A run of characters from scripts written without spaces (migrations.UNSPACED_RANGES): the word tokenizer
# takes it for one word, so its words are looked up in passages_unspaced's trigrams instead.
UNSPACED = re.compile(f"[{UNSPACED_RANGES}]+")
# Chinese characters (kanji in Japanese): each carries a meaning and two make a word, so two of a query's are worth
# marking on their own. Two characters of the other scripts without spaces (kana, Thai...) are a syllable or
# less: "コン" of "コンピュータ" is no word, and marks "コンテナ" (mark_unspaced).
_IDEOGRAPHS = re.compile("[㐀-䶿一-鿿]+")
_SHORTEST_SOUNDS = 3  # the shortest piece of a query's word in kana (or Thai...) marked alone
# A word character of a script written with spaces: a "quoted phrase"'s Latin word inside text without spaces
# ("GPUを使います") is still matched whole (unspaced_phrase)
_SPACED_LETTER = f"[^\\W{UNSPACED_RANGES}]"
_SPACED_WORD = re.compile(f"{_SPACED_LETTER}+")  # such a word, whole
_TRIGRAM = 3  # the shortest text a trigram index finds by itself; shorter runs are looked for by substring
_TRIGRAM_WORD = 4  # shorter words are mostly function words, whose trigrams every passage shares
_MAX_PAIRS = 8  # character pairs of a query scanned for at most (each reads every passage in such scripts)
KEYWORD_ROW_BUDGET = 3_000  # passages an OR-ed keyword search may score (KeywordIndex.selective_terms)...
# ... for this many passages asked for (ranking's first tier, RankingOptions.candidates), and in proportion beyond:
# a deeper search (a page far down) that left out every common word found none, and paging ended early
_BUDGET_DEPTH = 50

# Letters the word index keeps as they are while text.fold writes them plainly: no accent to take off (ß, ł, ø...),
# or a lower case unicode61 never gives (it lower-cases I to i, not to Turkish ı). A query word written with or
# without them is looked up as the transcripts spell it (KeywordIndex.spellings).
_UNFOLDED = re.compile("[ßẞıłŁøØđĐðÐæÆœŒþÞħĦ]")

# A query word no transcript holds is also looked for as the transcripts' words one typing slip from it (a letter
# left out, added or changed, or two side by side swapped: "citaton" for "citation") when it has this many letters:
# shorter words have too many real neighbours ("nodes": notes, codes, modes). The sound-alike pass missed such slips
# where the spelling changed the sound ("citaton" 0.455 from "citation", its threshold 0.45: a blind probe).
# A word of five letters is mended only where one transcript word is a slip from it: "leter" is both "later" and
# "letter", and which the talks say more often tells nothing of which was meant (bench/'s queries: "faild",
# "kokos", "plugn", "markr" mended, "leter" left as typed).
SLIP_LETTERS = 5
SLIP_LETTERS_ANY = 6  # from this many letters, the most said of several
_SLIPS_AT_MOST = 3  # transcripts' words taken for one query word (the most frequent first)

_TOKEN = re.compile(r"\w+", re.UNICODE)
# Where a sentence starts: a word capitalised there is not how the talks spell it ("Partition tolerance is ...")
_SENTENCE_START = re.compile(r"(?:^|[.!?:]['\"’”)\]]*\s+)[\W_]*$")
_SPELLING_PASSAGES = 500  # passages a corrected word's spelling is counted in (KeywordIndex.spelling)
_ARABIC_LETTER = re.compile("[\u0621-\u064a]")
# Languages whisper hears that are written in Arabic letters and are not Arabic: Persian, Urdu, Pashto, Sindhi
_ARABIC_SCRIPT_OTHERS = ("fa", "ur", "ps", "sd")
_LETTERS = re.compile(r"[^\W_]+")  # the index's tokens: letters and digits (an underscore separates, as in FTS5)
_PHRASE = re.compile(r'"([^"]+)"')
_PHRASE_SPELLINGS = 8  # spellings of a "quoted phrase" looked for at most (one per word with another spelling)


def _index_form(word: str) -> str:
    """A word as passages_fts holds it (before stemming): lower case, and accents taken off Latin letters
    (remove_diacritics folds those alone: Greek "ά", Cyrillic "й" and Arabic "أ" are held as written)."""
    if word.isascii():
        return word.lower()
    return "".join(_latin_plain(c) for c in word.lower())


def _latin_plain(letter: str) -> str:
    if not ("\u00c0" <= letter <= "\u024f" or "\u1e00" <= letter <= "\u1eff"):  # Latin-1 to Extended-B, Additional
        return letter
    return "".join(c for c in unicodedata.normalize("NFD", letter) if not unicodedata.combining(c))


def _with_spellings(words: list[str], spellings: Callable[[str], list[str]] | None,
                    compounds: Callable[[str], list[str]] | None = None) -> list[str]:
    """Each of ``words`` followed by its other spellings (``KeywordIndex.spellings``) and the names holding it
    (``KeywordIndex.compounds``), OR-ed with it."""
    return [s for w in words
            for s in (w, *(spellings(w) if spellings else ()), *(compounds(w) if compounds else ()))]


def _one_slip(word: str) -> list[str]:
    """Every word one typing slip from ``word`` between its first and last letters: a letter left out, two side by
    side swapped, one changed or one added (Damerau's edits), with the letters a-z and the word's own. Slips of the
    first letter are rare, and words that differ there or at the end are mostly other words or forms ("forked":
    worked, "prebuilt": rebuilt, "helper": helped)."""
    letters = sorted(set("abcdefghijklmnopqrstuvwxyz") | set(word))
    halves = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    slipped = {a + b[1:] for a, b in halves if b}
    slipped |= {a + b[1] + b[0] + b[2:] for a, b in halves if len(b) > 1}
    slipped |= {a + c + b[1:] for a, b in halves if b for c in letters}
    slipped |= {a + c + b for a, b in halves for c in letters}
    return sorted(w for w in slipped if w != word and w[0] == word[0] and w[-1] == word[-1])


def _phrase_spellings(phrase: str, spellings: Callable[[str], list[str]] | None) -> list[str]:
    """A "quoted phrase" (``quoted_phrases``) as written, then written in its words' other spellings
    (``KeywordIndex.spellings``: '"lodz"' as "łódź", '"Straße der Daten"' as "strasse der Daten"): whole words in
    order still, only a letter with no accent to take off written either way, as the words outside quotes are
    found. A phrase of several such words is looked for in its first few spellings (``_PHRASE_SPELLINGS``)."""
    if not spellings:
        return [phrase]
    forms = [(word, *spellings(word)) for word in phrase.split()]
    return [" ".join(words) for words in itertools.islice(itertools.product(*forms), _PHRASE_SPELLINGS)]


def _any_spelling(phrase: str, spellings: Callable[[str], list[str]] | None) -> str:
    """One FTS5 expression matching the phrase in any of its spellings (``_phrase_spellings``)."""
    written = [quoted(p) for p in _phrase_spellings(phrase, spellings)]
    return written[0] if len(written) == 1 else f"({' OR '.join(written)})"


def quoted(term: str) -> str:
    """One FTS5 string: the term searched literally."""
    return '"' + term.replace('"', '""') + '"'


def quoted_phrases(text: str) -> list[str]:
    """The query's "quoted phrases", as the words FTS5 matches in order."""
    return [phrase for phrase in (" ".join(_TOKEN.findall(p)) for p in _PHRASE.findall(text)) if phrase]


def unspaced_phrase(phrase: str) -> re.Pattern[str]:
    """How a "quoted phrase" (``quoted_phrases``) holding text written without spaces is matched: as a substring
    of a passage's text, in any case. passages_fts takes a run of such text up to the next punctuation for one
    word ("今天我们讨论分布式存储系统"), so a phrase inside it is never a word of its own there. Between the
    phrase's words, punctuation may stand, or nothing where a side is written without spaces; words of spaced
    scripts in it match whole, as they do in a phrase of their own."""
    words = phrase.split()
    pattern = re.escape(words[0])
    for before, word in zip(words, words[1:]):
        joined = UNSPACED.match(before[-1]) or UNSPACED.match(word[0])
        pattern += (r"\W*" if joined else r"\W+") + re.escape(word)
    if not UNSPACED.match(phrase[0]):
        pattern = f"(?<!{_SPACED_LETTER})" + pattern
    if not UNSPACED.match(phrase[-1]):
        pattern += f"(?!{_SPACED_LETTER})"
    return re.compile(pattern, re.IGNORECASE)


def _has_all(text: str, words: Sequence[str]) -> bool:
    return all(word in text for word in words)


def _split_phrases(text: str) -> tuple[list[str], list[re.Pattern[str]]]:
    """The query's "quoted phrases": those passages_fts matches (in scripts written with spaces), and those
    holding text without spaces, as they are matched (``unspaced_phrase``)."""
    phrases = quoted_phrases(text)
    return ([p for p in phrases if not UNSPACED.search(p)],
            [unspaced_phrase(p) for p in phrases if UNSPACED.search(p)])


def _outside_marks(text: str, mark: tuple[str, str], change: Callable[[str], str]) -> str:
    """``text`` with ``change`` made to its parts not already between ``mark``'s strings: a word FTS5 marked is
    not marked again inside."""
    parts = re.split(f"({re.escape(mark[0])}.*?{re.escape(mark[1])})", text, flags=re.S)
    return "".join(part if i % 2 else change(part) for i, part in enumerate(parts))


def mark_phrases(text: str, phrases: Sequence[re.Pattern[str]], mark: tuple[str, str]) -> str | None:
    """``text`` with the ``phrases`` (``unspaced_phrase``) marked where they occur, whole; None when none does."""
    marked = text
    for phrase in phrases:
        marked = _outside_marks(marked, mark, lambda part: phrase.sub(lambda m: mark[0] + m[0] + mark[1], part))
    return marked if marked != text else None


def fts_query(text: str, keep: Callable[[list[str]], list[str]] | None = None,
              spellings: Callable[[str], list[str]] | None = None,
              compounds: Callable[[str], list[str]] | None = None) -> str | None:
    """An FTS5 MATCH expression that searches the user's words literally.

    Every bare word becomes a quoted token OR-ed with the others (BM25 ranks the ones matching more);
    "quoted phrases" must match exactly. FTS5 operators typed by the user are never interpreted. Function
    words stay in: BM25 gives them little weight, and leaving them out lost paraphrases and vague queries on
    the tune half (docs/benchmarks.md).
    ``keep`` picks the bare words worth searching (``KeywordIndex.selective_terms``: the commonest ones are
    left out in a large library, where scoring them would cost more than they add).
    ``spellings`` gives a bare word's other spellings in the passages ("Fuss": "fuß"), OR-ed with it
    (``KeywordIndex.spellings``), and a "quoted phrase"'s (``_phrase_spellings``); ``compounds`` the names in
    camel case holding a bare word (``KeywordIndex.compounds``), OR-ed with it too. A technical term's other
    spellings (``text.spelled_otherwise``: "1.4" as one number, "H100" as "H 100") are OR-ed too, outside quotes
    only: a phrase is otherwise matched as written.
    """
    phrases = quoted_phrases(text)
    bare = _PHRASE.sub(" ", text)
    words = _with_spellings(_TOKEN.findall(bare), spellings, compounds) + spelled_otherwise(bare)
    if keep is not None:
        words = keep(words)
    terms = [quoted(w) for w in words]
    required = [_any_spelling(p, spellings) for p in phrases]
    if not terms and not required:
        return None
    if required:
        return " AND ".join(required + ([f"({' OR '.join(terms)})"] if terms else []))
    return " OR ".join(terms)


def any_word_query(text: str, spellings: Callable[[str], list[str]] | None = None,
                   compounds: Callable[[str], list[str]] | None = None) -> str | None:
    """The text's content words outside "quoted phrases", quoted, OR-ed: a passage found by meaning still gets
    whichever of the query's words it contains marked in its snippet (a phrase is marked as a phrase:
    ``KeywordIndex.snippets``), in any of its ``spellings`` and ``compounds`` (as ``fts_query`` finds them: "telemetry"
    marks "OpenTelemetry"). Function words ("how",
    "a", "I") are not marked, unless the query has nothing else."""
    bare = _PHRASE.sub(" ", text)
    # One-letter tokens are left out, unless there is nothing else: mostly pieces of "I'm" or "e.g.", which marked
    # would light up the "m" of every "I'm"
    words = [w for w in content_words(bare) if len(w) > 1] or content_words(bare)
    otherwise = spelled_otherwise(bare)  # "1.4" marked where it is said, not every "1" and "4"
    if not words and not otherwise and not quoted_phrases(text):
        words = tokens(bare)
    words = _with_spellings(words, spellings, compounds) + otherwise
    return " OR ".join(quoted(w) for w in words) if words else None


def mark_unspaced(text: str, runs: Sequence[str], mark: tuple[str, str]) -> str | None:
    """``text`` with the longest pieces of the query's ``runs`` marked where they occur, left to right (not inside
    what is marked already); None when none occurs. A piece is a whole run, or part of one: two Chinese characters
    or more, three of other scripts (``_IDEOGRAPHS``)."""
    pieces = {r[i:j] for r in runs for i in range(len(r)) for j in range(i + min(2, len(r)), len(r) + 1)}
    pieces = {p for p in pieces if p in runs or len(p) >= _SHORTEST_SOUNDS or _IDEOGRAPHS.fullmatch(p)}
    longest = max(map(len, pieces), default=0)
    found = False

    def marked(text: str) -> str:
        nonlocal found
        out, i = [], 0
        while i < len(text):
            piece = next((text[i:i + n] for n in range(min(longest, len(text) - i), 0, -1)
                          if text[i:i + n] in pieces), None)
            if piece:
                out.append(mark[0] + piece + mark[1])
                i += len(piece)
                found = True
            else:
                out.append(text[i])
                i += 1
        return "".join(out)

    out = _outside_marks(text, mark, marked)
    return out if found else None


def mark_spaced_words(text: str, words: Sequence[str], mark: tuple[str, str]) -> str | None:
    """``text`` with the query's ``words`` of spaced scripts marked where they stand whole (folded: in any case,
    with or without accents) inside text without spaces, not inside what is marked already; None when none does.
    FTS5 takes "スーパーコンピュータでGPUを使います" for one word: a query for "GPU" finds it (by its trigrams) but
    its snippet marked nothing."""
    folded = {fold(word) for word in words}
    found = False

    def marked(match: re.Match[str]) -> str:
        nonlocal found
        if fold(match[0]) not in folded:
            return match[0]
        found = True
        return mark[0] + match[0] + mark[1]

    out = _outside_marks(text, mark, lambda part: _SPACED_WORD.sub(marked, part))
    return out if found else None


def _interleave(first: list[int], second: list[int]) -> list[int]:
    """Both rankings, alternately (first's first), each passage once."""
    merged: dict[int, None] = {}
    for pair in zip(first, second):
        merged.update(dict.fromkeys(pair))
    longer = first if len(first) > len(second) else second
    merged.update(dict.fromkeys(longer[min(len(first), len(second)):]))
    return list(merged)


def _within(scope: SearchScope | None) -> tuple[str, list]:
    """The ``AND ...`` that keeps a query to the scope's passages (nothing without one), and its parameters."""
    if scope is None:
        return "", []
    condition, params = scope.sql()
    return f"AND {condition}", params


class KeywordIndex:
    """BM25 searches, word lookups and snippets over one connection's view of ``passages_fts``."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db
        # (index, term) -> passages holding it, counted up to a budget: more than it when the count exceeds it
        self._term_counts: dict[tuple[str, str], tuple[int, int]] = {}
        self._term_counts_basis = 0  # the passage count they were taken at
        self._folded: dict[str, dict[str, str]] = {}  # _folded_vocabulary(), of the words in _folded_words
        self._folded_words: set[str] = set()
        self._folded_state: tuple[int, int] | None = None  # the _library_state they were read in
        self._compounds: dict[str, list[str]] = {}  # _compound_vocabulary()
        self._compounds_state: tuple[int, int] | None = None  # the _library_state it was read in
        self._articled: dict[str, set[str]] = {}  # _articled_vocabulary(), of the words in _articled_words
        self._articled_words: set[str] = set()
        self._articled_state: tuple[int, int] | None = None
        self._scratch_changes = 0  # rows this connection changed in its scratch tables (_library_state)

    def rebase(self, passages: int) -> None:
        """Term counts drift with the library's size: drop them when it has changed by a tenth."""
        if abs(passages - self._term_counts_basis) > 0.1 * self._term_counts_basis or len(self._term_counts) > 100_000:
            self._term_counts, self._term_counts_basis = {}, passages

    def search(self, text: str, k: int, selective: bool = True, scope: SearchScope | None = None) -> list[int]:
        """The ``k`` passages whose words match the query's best (BM25), as ids, best first; only the
        ``scope``'s when one is given. ``selective`` leaves out the commonest words in a large library
        (``selective_terms``). Words in a script without spaces are found in ``passages_unspaced``
        (``unspaced_search``); both lists are interleaved."""
        runs = UNSPACED.findall(text)
        spaced = UNSPACED.sub(" ", text) if runs else text
        budget = KEYWORD_ROW_BUDGET * max(1, k // _BUDGET_DEPTH)
        keep = (lambda terms: self.selective_terms(terms, budget)) if selective else None
        match = fts_query(spaced, keep, self.spellings, self.compounds)
        found: list[int] = []
        if match is not None:
            within, params = _within(scope)
            found = [r[0] for r in self.db.execute(
                f"SELECT rowid FROM passages_fts WHERE passages_fts MATCH ? {within} "
                "ORDER BY bm25(passages_fts) LIMIT ?", (match, *params, k))]
        if not runs and not self.has_unspaced():
            return found
        # a word in a spaced script written inside unspaced text ("GPUを使います") is one token to passages_fts
        words = [w for w in _TOKEN.findall(spaced) if len(w) >= _TRIGRAM]
        return _interleave(self.unspaced_search(runs, k, words, scope), found)[:k]

    def holding_phrases(self, ids: Sequence[int], text: str) -> set[int] | None:
        """Of ``ids``, the passages holding every "quoted phrase" of the query, word for word (``EXACT_TOKENIZE``)
        in any of its spellings (``_phrase_spellings``: '"lodz"' holds Łódź); None when it has none.

        ``passages_fts`` finds the candidates from its index, but it stems: the phrases are matched again in
        those alone, in a scratch table tokenised the same way without the stemmer. A phrase holding text
        written without spaces is looked for in the candidates' text (``unspaced_phrase``)."""
        phrases, unspaced = _split_phrases(text)
        if not phrases and not unspaced:
            return None
        if unspaced and ids:
            rows = self.db.execute(
                f"SELECT id, text, translation FROM passages WHERE id IN ({','.join('?' * len(ids))})", list(ids))
            ids = [rowid for rowid, *texts in rows
                   if all(any(phrase.search(t) for t in texts if t) for phrase in unspaced)]
        if not ids or not phrases:
            return set(ids)
        match = " AND ".join(_any_spelling(p, self.spellings) for p in phrases)
        # The candidates are read by id, and only those whose text has every word of the phrases (folded, so at
        # least as loosely as the index folds them) are matched: passages_fts's MATCH reads every posting of the
        # phrases' words, and a query taken whole as a phrase (put_quotes_first) is mostly words most passages hold
        # ("how do we ..."): 26 ms a query at 100,000 passages, against ~1 ms this way (docs/benchmarks.md).
        words = [w for p in phrases for w in _LETTERS.findall(fold(p))]
        rows = self.db.execute(
            f"SELECT id, text, translation FROM passages WHERE id IN ({','.join('?' * len(ids))})", list(ids))
        candidates = [(rowid, text, translation) for rowid, text, translation in rows
                      if _has_all(fold(f"{text} {translation or ''}"), words)]
        if not candidates:
            return set()
        with self._scratch("phrase_scratch", ("text", "translation"), EXACT_TOKENIZE, candidates) as table:
            exact = self.db.execute(f"SELECT rowid FROM temp.{table} WHERE {table} MATCH ?", (match,))
            return {row[0] for row in exact}

    def spellings(self, word: str) -> list[str]:
        """The other ways ``word`` is written in the passages, in lower case: the transcripts' words that ``fold``
        the same ("Fuss" and "FUSS": fuß, "ILIK": ılık, "Lodz": łódź), and the word's own fold where the index keeps
        letters of it as they are ("Fuß": fuss). FTS5's unicode61 folds case and accents, but not letters with no
        accent to take off, and lower-cases I to i, never ı. Most words have none. Each spelling is one the
        index tells apart from the word and from the others."""
        folded = fold(word)
        found = dict(self._folded_vocabulary().get(folded, {}))
        if _UNFOLDED.search(word):
            found.setdefault(folded, folded)
        found.pop(_index_form(word), None)
        return sorted(found.values())

    def _folded_vocabulary(self) -> dict[str, dict[str, str]]:
        """The transcripts' words holding letters the index keeps as they are (``_UNFOLDED``), in lower case, by
        their ``fold``, then by how the index holds them (``_index_form``). Read from the vocabulary, which keeps
        every transcript's words, once per change of the library; only words not seen before are folded (8 µs
        each). A word no longer in the vocabulary (remade) stays, OR-ed in a search where it matches nothing."""
        state = self._library_state()
        if self._folded_state != state:
            try:
                # GLOB's character class is slow: it reads only words that are not ASCII (fewer characters than
                # bytes). 200,000 words, 6,000 with such letters: 73 ms, GLOB alone 135, every word not ASCII 190
                rows = self.db.execute("SELECT word FROM sound_vocabulary WHERE length(word) < length(CAST(word AS "
                                       f"BLOB)) AND word GLOB '*{_UNFOLDED.pattern}*'")
                # as the index splits them: "Işık'ta" is Işık and ta
                words = {t for (w,) in rows for t in _TOKEN.findall(w) if _UNFOLDED.search(t)}
            except sqlite3.OperationalError:  # a format-1 library, never upgraded: no vocabulary
                words = set()
            for word in words - self._folded_words:
                self._folded.setdefault(fold(word), {}).setdefault(_index_form(word), word.lower())
            self._folded_words |= words
            self._folded_state = state
        return self._folded

    def compounds(self, word: str) -> list[str]:
        """The transcripts' words holding ``word`` as a part, in lower case as the index holds them: names in camel
        case one of whose words it is ("telemetry" is said in "OpenTelemetry", "torch" in "PyTorch"), and Arabic
        words with the article written onto it (``_articled_vocabulary``). The index holds such a word whole, which
        the word alone never matches: a query for "telemetry" found the OpenTelemetry talk by meaning only,
        unmarked, and said no talk says it. Words of one or two letters and function words are parts of too many
        names to stand for them ("Py", "Of")."""
        written = _index_form(word)
        found = set(self._compound_vocabulary().get(written, ()))
        if _ARABIC_LETTER.search(written):
            articled = self._articled_vocabulary()
            found.update(articled.get(arabic_stem(written) or written, ()))
        found.discard(written)
        return sorted(found)

    def _compound_vocabulary(self) -> dict[str, list[str]]:
        """``compounds`` of every word, read from the vocabulary once per change of the library. Only words with
        a capital after a small letter are read (GLOB is case-sensitive): a few in a hundred thousand."""
        state = self._library_state()
        if self._compounds_state != state:
            try:
                rows = self.db.execute("SELECT word FROM sound_vocabulary WHERE word GLOB '*[a-z][A-Z]*'").fetchall()
            except sqlite3.OperationalError:  # a format-1 library, never upgraded: no vocabulary
                rows = []
            found: dict[str, set[str]] = {}
            for name in {t for (w,) in rows for t in _TOKEN.findall(w)}:  # as the index splits "OpenTelemetry's"
                for part in camel_parts(name):
                    if len(part) > 2 and part.lower() not in STOP_WORDS:
                        found.setdefault(_index_form(part), set()).add(_index_form(name))
            self._compounds = {part: sorted(names) for part, names in found.items()}
            self._compounds_state = state
        return self._compounds

    def _articled_vocabulary(self) -> dict[str, set[str]]:
        """The transcripts' Arabic words with an article written onto them (``text.arabic_stem``: "المعالجات" is
        said in "والمعالجات", "and the processors"), by their stem, read from the vocabulary once per change of the
        library: the words an article starts, and only those not seen before. Not those of talks in the other
        languages written in Arabic letters (``_ARABIC_SCRIPT_OTHERS``: Persian "والدین", parents, is no article
        before "دین"); those of a talk whose language was not known are read (captions in Arabic without a language
        tag). A word no longer in the vocabulary stays, OR-ed in a search where it matches nothing."""
        state = self._library_state()
        if self._articled_state != state:
            starts = " OR ".join("word GLOB ?" for _ in ARABIC_ARTICLES)
            others = ", ".join("?" for _ in _ARABIC_SCRIPT_OTHERS)
            try:
                rows = self.db.execute(f"SELECT word FROM sound_vocabulary WHERE language NOT IN ({others}) "
                                       f"AND ({starts})", [*_ARABIC_SCRIPT_OTHERS,
                                                           *(f"{article}*" for article in ARABIC_ARTICLES)])
                words = {t for (w,) in rows for t in _TOKEN.findall(w)}
            except sqlite3.OperationalError:  # a format-1 library, never upgraded: no vocabulary
                words = set()
            for word in words - self._articled_words:
                held = _index_form(word)
                if (stem := arabic_stem(held)) is not None:
                    self._articled.setdefault(stem, set()).add(held)
            self._articled_words |= words
            self._articled_state = state
        return self._articled

    def written_as_one(self, pieces: Sequence[str], talks: Collection[str] | None = None) -> bool:
        """Whether some passage (of ``talks``, when given) holds the pieces written as one word ("ROCrate",
        "OpenTelemetry") and none holds them apart, side by side ("RO-Crate", "Open Telemetry"): the transcripts'
        spelling of a term typed apart. Words as the index holds them (stemmed, in any case), not their other
        spellings and compounds (``contains``): "Crate" is a part of "ROCrate", which is not "RO Crate" said."""
        within = ("AND +rowid IN (SELECT id FROM passages WHERE talk_id IN (SELECT value FROM json_each(?)))"
                  if talks is not None else "")

        def held(term: str) -> bool:
            found = self.db.execute(f"SELECT 1 FROM passages_fts WHERE passages_fts MATCH ? {within} LIMIT 1",
                                    (quoted(term), *([json.dumps(sorted(talks))] if talks is not None else [])))
            return found.fetchone() is not None

        return held("".join(pieces)) and not held(" ".join(pieces))

    def slips(self, word: str) -> list[str]:
        """The English transcripts' words one typing slip from ``word`` (``SLIP_LETTERS`` letters or more, written
        in letters alone; ``_one_slip``), in lower case, the most said first; none for a word a passage holds, nor
        for a word under ``SLIP_LETTERS_ANY`` letters that more than one transcript word is a slip from.
        Looked up in the vocabulary, which keeps every transcript's words as written: the slips in lower case, and
        capitalised (a word said only at a sentence's start). English alone: what tells a slip from a word no talk
        says is the English embedding model's vocabulary (``ranking.unknown_words``), and in languages richer in
        forms a slip is mostly another form of another word ("wusste": musste)."""
        if len(word) < SLIP_LETTERS or not word.isalpha() or UNSPACED.search(word) or self.contains(word):
            return []
        slipped = _one_slip(word.lower())
        slipped = [*slipped, *(w.capitalize() for w in slipped)]
        try:
            rows = self.db.execute("SELECT DISTINCT lower(word) FROM sound_vocabulary WHERE language = ? AND word "
                                   f"IN ({','.join('?' * len(slipped))})", [language_key("en"), *slipped]).fetchall()
        except sqlite3.OperationalError:  # a format-1 library, never upgraded: no vocabulary
            return []
        meant = [w for (w,) in rows if w not in STOP_WORDS]
        if len(word) < SLIP_LETTERS_ANY and len(meant) > 1:
            return []
        # the most said first: the word a slip most likely meant
        return sorted(meant, key=lambda w: (-self._postings(w), w))[:_SLIPS_AT_MOST]

    def spelling(self, word: str, talks: Collection[str] | None = None, english: bool = False) -> str:
        """``word`` as the talks (of ``talks``, when given; in English alone with ``english``, as for a slip mended
        to an English word) write it ("InfiniBand" for "infiniband"): what a corrected query shows, "as the talks
        spell it". Each talk votes for the form it writes most, in the first ``_SPELLING_PASSAGES`` passages that
        hold the word, and the form most talks vote for is the spelling (a tie: the one with more capitals, a
        name's: "InfiniBand" before "Infiniband", and that before "infiniband"). Compared as ``fold`` reads words
        (case and accents aside: "ÜberCloud" for "ubercloud"), split as the index splits them ("TensorFlow's" holds
        "TensorFlow"), not counting a word capitalised at a sentence's start nor one in a line of capitals ("THE
        SLIDE SAID KUBERNETES"; "GROMACS" in a sentence counts). A form with no capital after its first letter is
        spelled in lower case; ``word`` itself where nothing is left."""
        scopes = ["talk_id IN (SELECT value FROM json_each(?))"] if talks is not None else []
        if english:
            scopes.append("talk_id IN (SELECT id FROM talks WHERE coalesce(language, 'en') = 'en')")
        within = f"AND +rowid IN (SELECT id FROM passages WHERE {' AND '.join(scopes)})" if scopes else ""
        rows = self.db.execute(
            f"SELECT talk_id, text FROM passages WHERE id IN (SELECT rowid FROM passages_fts WHERE passages_fts "
            f"MATCH ? {within} LIMIT {_SPELLING_PASSAGES})",
            (quoted(word), *([json.dumps(sorted(talks))] if talks is not None else []))).fetchall()
        wanted = fold(word)
        written: dict[str, Counter[str]] = {}
        for talk_id, text in rows:
            shouting = _in_capitals(text)
            for found in _TOKEN.finditer(text):
                form = found[0]
                if fold(form) != wanted or (shouting and form == form.upper()):
                    continue
                if form != form.capitalize() or not _SENTENCE_START.search(text, 0, found.start()):
                    written.setdefault(talk_id, Counter())[form] += 1
        votes = Counter(max(forms, key=lambda form: (forms[form], *_capitals(form))) for forms in written.values())
        if not votes:
            return word
        spelled = max(votes, key=lambda form: (votes[form], *_capitals(form)))
        # capitals inside are a name's spelling; a first capital alone is a title's or an emphasis ("looking at
        # Power Capping"): "power caping" is searched as "power capping"
        return spelled if spelled[1:] != spelled[1:].lower() else spelled.lower()

    def _postings(self, word: str) -> int:
        """How many passages hold ``word`` (after stemming), counted up to the row budget."""
        return self.db.execute("SELECT count(*) FROM (SELECT 1 FROM passages_fts WHERE passages_fts MATCH ? LIMIT ?)",
                               (quoted(word), KEYWORD_ROW_BUDGET)).fetchone()[0]

    def _library_state(self) -> tuple[int, int]:
        """Changes when the catalog may have: another connection's commit (data_version) or this one's own
        changes, those to its scratch tables aside (every snippet makes some)."""
        return self.db.execute("PRAGMA data_version").fetchone()[0], self.db.total_changes - self._scratch_changes

    @contextmanager
    def _scratch(self, table: str, columns: Sequence[str], tokenize: str, rows: Sequence[tuple]) -> Iterator[str]:
        """``temp.{table}``: an FTS5 table of this connection's own, holding only ``rows`` (rowid, then the
        ``columns``) while the block runs. Asking it rather than the library's index costs what the rows do,
        however large the library, and it may be tokenised otherwise."""
        before = self.db.total_changes
        self.db.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{table} USING fts5({', '.join(columns)}, "
                        f"tokenize='{tokenize}')")
        try:
            self.db.executemany(f"INSERT INTO temp.{table}(rowid, {', '.join(columns)}) "
                                f"VALUES (?{', ?' * len(columns)})", rows)
            yield table
        finally:
            self.db.execute(f"DELETE FROM temp.{table}")
            self._scratch_changes += self.db.total_changes - before

    def has_unspaced(self) -> bool:
        """Whether any passage is in a script without spaces (a library of spaced scripts skips their index)."""
        try:
            return self.db.execute("SELECT 1 FROM passages_unspaced LIMIT 1").fetchone() is not None
        except sqlite3.OperationalError:  # a catalog older than format 5 read without upgrading
            return False

    def unspaced_search(self, runs: Sequence[str], k: int, words: Sequence[str] = (),
                        scope: SearchScope | None = None) -> list[int]:
        """Passages holding the words of ``runs`` (text in a script without spaces), or ``words`` within such
        text, those sharing more of it first. A query run is not split into words (that needs a dictionary per
        language): its trigrams are OR-ed, so BM25 ranks the passages sharing most of them first; a run of two
        characters (a common Chinese word length), or a longer one none of whose trigrams occurs, is looked for
        by its character pairs. The pair scan reads only passages in such scripts."""
        scores: dict[int, float] = {}
        within, params = _within(scope)
        try:
            grams = [r[i:i + _TRIGRAM] for r in runs for i in range(len(r) - _TRIGRAM + 1)] + list(words)
            if grams:
                rows = self.db.execute(
                    f"SELECT rowid, bm25(passages_unspaced) FROM passages_unspaced WHERE passages_unspaced MATCH ? "
                    f"{within} ORDER BY bm25(passages_unspaced) LIMIT ?",
                    (" OR ".join(quoted(g) for g in dict.fromkeys(grams)), *params, k))
                scores = {rowid: score for rowid, score in rows}  # bm25 is negative: lower is better
            if not scores:
                pairs = [r[i:i + 2] for r in runs for i in range(max(1, len(r) - 1))]
                for pair in list(dict.fromkeys(pairs))[:_MAX_PAIRS]:
                    for (rowid,) in self.db.execute(
                            f"SELECT rowid FROM passages_unspaced WHERE instr(text, ?) > 0 {within} LIMIT ?",
                            (pair, *params, k)):
                        scores[rowid] = scores.get(rowid, 0.0) - 1.0
        except sqlite3.OperationalError:  # a catalog older than format 5 read without upgrading: no such index
            return []
        return sorted(scores, key=scores.get)[:k]

    def trigram_search(self, text: str, k: int, scope: SearchScope | None = None) -> list[int]:
        """Passages of talks in other languages than English (``passages_trigrams``) sharing most character
        trigrams with the query's content words of four letters or more, in any of their ``spellings`` ("Lodz" as
        łódź too), best first (BM25 over the trigrams): found through inflections and misspellings that whole words
        miss ("Lodz": Łodzi). Empty for an English-only library."""
        words = [s.lower() for w in content_words(text) if len(w) >= _TRIGRAM_WORD for s in (w, *self.spellings(w))]
        grams = list(dict.fromkeys(w[i:i + _TRIGRAM] for w in words for i in range(len(w) - _TRIGRAM + 1)))
        try:
            # in a large library the commonest trigrams ("ein", "ung") are left out: BM25 would score nearly every
            # passage for them (0.2-0.6 s at 200k passages, docs/benchmarks.md), and they tell little apart
            grams = self.selective_terms(grams, table="passages_trigrams")
            if not grams:
                return []
            within, params = _within(scope)
            return [r[0] for r in self.db.execute(
                f"SELECT rowid FROM passages_trigrams WHERE passages_trigrams MATCH ? {within} "
                "ORDER BY bm25(passages_trigrams) LIMIT ?", (" OR ".join(quoted(g) for g in grams), *params, k))]
        except sqlite3.OperationalError:  # a catalog older than format 7 read without upgrading: no such index
            return []

    def contains(self, word: str) -> bool:
        """Whether any passage holds the word (after the tokenizer's stemming), in any of its ``spellings``."""
        if UNSPACED.search(word):
            return bool(self.unspaced_search(UNSPACED.findall(word), 1))
        match = " OR ".join(quoted(w) for w in _with_spellings([word], self.spellings, self.compounds))
        found = self.db.execute("SELECT 1 FROM passages_fts WHERE passages_fts MATCH ? LIMIT 1", (match,))
        return found.fetchone() is not None

    def talks_saying(self, word: str) -> set[str]:
        """The talks a passage of which holds the word, as ``contains`` finds it (written without spaces: none)."""
        if UNSPACED.search(word):
            return set()
        match = " OR ".join(quoted(w) for w in _with_spellings([word], self.spellings, self.compounds))
        rows = self.db.execute("SELECT DISTINCT p.talk_id FROM passages_fts f JOIN passages p ON p.id = f.rowid "
                               "WHERE passages_fts MATCH ?", (match,))
        return {row[0] for row in rows}

    def selective_terms(self, terms: Sequence[str], budget: int = KEYWORD_ROW_BUDGET,
                        table: str = "passages_fts") -> list[str]:
        """The ``terms`` worth an OR-ed BM25 search of the passages' words, in their order: all that occur
        while the passages they occur in add up to at most ``budget``; past that, the commonest are left out
        until they do. FTS5 scores every passage an OR matches, so a word like "the" in a million passages
        costs a second, while BM25 gives it almost no weight; a small library keeps every term. Counts stop
        at the budget, so a count never costs more than it. ``table``: the FTS5 index the terms are looked up in
        (``passages_trigrams`` for trigrams)."""
        if self._term_counts_basis <= budget:  # no more passages than the budget: nothing to save (or to change)
            return list(terms)
        counts = {}
        for term in dict.fromkeys(terms):
            count, counted_to = self._term_counts.get((table, term), (0, -1))
            if count > counted_to and counted_to < budget:  # not counted, or only as "more than" a smaller budget
                count = self.db.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {table} MATCH ? LIMIT ?)",
                                        (quoted(term), budget + 1)).fetchone()[0]
                self._term_counts[table, term] = count, budget
            counts[term] = count
        kept, total = set(), 0
        for term in sorted((t for t in counts if counts[t]), key=counts.get):
            if total + counts[term] > budget:
                break
            kept.add(term)
            total += counts[term]
        return [t for t in terms if t in kept]  # repeats kept: BM25 weighs a word said twice in the query twice

    def snippets(self, texts: Iterable[tuple[int, str]], query: str, mark: tuple[str, str],
                 tokens: int = 64) -> dict[int, str]:
        """FTS5 ``snippet()`` of each passage (id, text) holding any of the query's words, matched terms between
        ``mark``'s two strings. Passages without them are left out (the caller shows their plain text).

        The passages are marked in a scratch FTS5 table (``temp``, this connection's own) holding only them,
        tokenised as ``passages_fts`` is: the same snippets, at a cost that does not grow with the library
        (asked of ``passages_fts``, FTS5 walks every query word's postings across the whole library)."""
        texts = list(texts)
        marked = self._word_snippets(texts, query, mark, tokens)
        _, phrases = _split_phrases(query)
        runs = UNSPACED.findall(_PHRASE.sub(" ", query))
        spaced = _SPACED_WORD.findall(_PHRASE.sub(" ", query))
        if runs or phrases or spaced:  # text without spaces: its "quoted phrases" marked whole, then where the
            # query's other runs (or pieces of them) occur, and its words of spaced scripts inside it ("GPUを")
            for rowid, text in texts:
                if UNSPACED.search(text):
                    shown = marked.get(rowid, text)
                    shown = mark_phrases(shown, phrases, mark) or shown
                    shown = mark_unspaced(shown, runs, mark) or shown
                    shown = mark_spaced_words(shown, spaced, mark) or shown
                    if shown != marked.get(rowid, text):
                        marked[rowid] = shown
        return marked

    def _word_snippets(self, texts: list[tuple[int, str]], query: str, mark: tuple[str, str],
                       tokens: int) -> dict[int, str]:
        words, (phrases, _) = any_word_query(query, self.spellings, self.compounds), _split_phrases(query)
        if not texts or not (words or phrases):
            return {}
        try:
            if not phrases:
                return self._marked(texts, words, mark, tokens)
            # A "quoted phrase" is marked as it must match (holding_phrases): whole, function words and numbers
            # too, and word for word, so in a table without the stemmer ("GPUs" is not "GPU"). The words outside
            # quotes still mark what the stemmer matches ("slices" marks "slice"): they are marked there by the
            # forms the stemmed table finds them in, in these passages.
            found = self._marked(texts, words, mark) if words else {}
            forms = {form.lower(): form for marked in found.values()
                     for form in re.findall(f"{re.escape(mark[0])}(.*?){re.escape(mark[1])}", marked, re.S)}
            spelled = [spelling for phrase in phrases for spelling in _phrase_spellings(phrase, self.spellings)]
            match = " OR ".join(quoted(term) for term in [*spelled, *forms.values()])
            return self._marked(texts, match, mark, tokens, exact=True)
        except sqlite3.OperationalError:  # an expression FTS5 cannot parse: no marks rather than no answer
            return {}

    def _marked(self, texts: list[tuple[int, str]], match: str, mark: tuple[str, str], tokens: int | None = None,
                exact: bool = False) -> dict[int, str]:
        """Each of ``texts`` that ``match`` finds, with what it finds between ``mark``'s two strings: FTS5's
        ``snippet()`` of about ``tokens`` words, or without them the whole text (``highlight()``). Tokenised as
        ``passages_fts`` is, or ``exact``: as a "quoted phrase" is matched (``EXACT_TOKENIZE``)."""
        # a scratch table per tokenizer: a connection's table keeps the tokenizer it was created with
        table, tokenize = ("exact_snippet_scratch", EXACT_TOKENIZE) if exact else ("snippet_scratch", FTS_TOKENIZE)
        with self._scratch(table, ("text",), tokenize, texts) as table:
            if tokens:
                shown, params = f"snippet({table}, 0, ?, ?, '…', ?)", [*mark, tokens]
            else:
                shown, params = f"highlight({table}, 0, ?, ?)", [*mark]
            rows = self.db.execute(f"SELECT rowid, {shown} FROM temp.{table} WHERE {table} MATCH ?", [*params, match])
            return {r[0]: r[1] for r in rows}

    def verify(self) -> bool:
        """FTS5's own integrity check: whether the index agrees with the passages (a write statement). ``rank``
        1 compares it with the passages themselves, not only with itself: an index emptied or dropped by hand
        (it comes back empty when the library is next opened) is consistent in itself but finds nothing. A catalog
        opened read-only cannot run it: not verified, which is not found disagreeing either. A catalog another
        process holds locked, or a full disk, stops the check without saying anything of the index: raised."""
        try:
            self.db.execute("INSERT INTO passages_fts(passages_fts, rank) VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError as exc:
            if any(cause in str(exc) for cause in ("database is locked", "database or disk is full")):
                raise
            return "readonly database" in str(exc)
        return True

    def rebuild(self) -> None:
        self.db.execute("INSERT INTO passages_fts(passages_fts) VALUES ('rebuild')")

    def texts_saying(self, word: str, language: str, unstated: str) -> sqlite3.Cursor:
        """The text of each passage the word index finds ``word`` in (stemmed and folded: every passage holding it
        as written, and maybe more), of the talks in ``language`` (``unstated``: the talks that state none). A
        cursor: the caller reads what it needs, and closes it."""
        return self.db.execute(
            "SELECT p.text FROM passages_fts JOIN passages p ON p.id = passages_fts.rowid JOIN talks t ON t.id = "
            "p.talk_id WHERE passages_fts MATCH ? AND lower(coalesce(nullif(t.language, ''), ?)) = ?",
            (f"text : {quoted(word)}", unstated, language))

    def indexes_holding(self, ids: Sequence[int]) -> list[str]:
        """The word index, and the trigram indexes holding any of the passages ``ids`` (``erase`` rewrites these)."""
        marks = ",".join("?" * len(ids))
        return ["passages_fts", *(table for table in TRIGRAM_INDEXES if self.db.execute(
            f"SELECT 1 FROM {table} WHERE rowid IN ({marks}) LIMIT 1", list(ids)).fetchone() is not None)]

    def erase(self, tables: Iterable[str]) -> None:
        """Rewrite each of ``tables`` (FTS5 indexes) as one segment holding only the passages there are now, once
        passages are deleted from it: FTS5 deletes by adding delete markers, which hold the deleted terms, beside
        the segments still holding them, until segments merge; merged into one, neither is left (the pages freed
        are zeroed: ``PRAGMA secure_delete``). It rewrites the whole index: 0.3 s for 100,000 passages (a 12 MB
        index), a few seconds at a million. Not FTS5's own 'secure-delete' option (SQLite 3.42): an index that
        has ever had it on is of a file format an older SQLite refuses to read, and a copy of the library may meet
        one (Debian 12's Python has SQLite 3.40)."""
        for table in tables:
            self.db.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")

    def trigram_indexes_disagreeing(self, tables: Iterable[str]) -> list[str]:
        """Of ``tables`` (trigram indexes the catalog's format has: ``TRIGRAM_INDEX_FORMATS``), those that do not
        hold exactly their passages: a talk's language changed by hand, a table dropped by hand (it comes back
        empty when the library is next opened). Reads only."""
        disagreeing = []
        for table in tables:
            selection = TRIGRAM_INDEXES[table]
            if table == "passages_unspaced":  # the same test as the selection's GLOB, which SQLite runs at 30 µs a
                # passage (its character class is long): by regex, in a tenth of the time
                expected = {i for i, text in self.db.execute("SELECT id, text FROM passages") if UNSPACED.search(text)}
            else:
                expected = {row[0] for row in self.db.execute(selection)}
            if {row[0] for row in self.db.execute(f"SELECT rowid FROM {table}")} != expected:
                disagreeing.append(table)
        return disagreeing

    def rebuild_trigrams(self, table: str) -> None:
        for statement in filling(table):
            self.db.execute(statement)


def _in_capitals(text: str) -> bool:
    """Whether ``text`` is mostly capitals (a slide's title read out, captions in capitals): its words' case is
    no spelling."""
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 12 and sum(map(str.isupper, letters)) >= 0.6 * len(letters)


def _capitals(form: str) -> tuple[int, str]:
    """How a spelling ranks in a tie: more capitals first ("InfiniBand" before "Infiniband"), then by itself."""
    return sum(map(str.isupper, form)), form

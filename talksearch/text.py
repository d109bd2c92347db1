"""Words of a query or a transcript, as search treats them: tokens, and the function words that carry no topic.

Ranking and snippets both need to know which of a query's words say what it is about: "how do I share a GPU
between pods" is about *share*, *GPU* and *pods*; matching or marking "how", "do", "I" and "a" only adds noise.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

TOKEN = re.compile(r"\w+", re.UNICODE)

# English function words: articles, pronouns, auxiliaries, prepositions, conjunctions, question words and
# the fillers of spoken queries. Content words (nouns, verbs, adjectives of the topic) are never listed;
# the list was written from English grammar, not from any set of queries.
STOP_WORDS = frozenset("""
a about above after again against all also am an and any are aren as at be because been before being below
between both but by can cannot could couldn did didn do does doesn doing don down during each else even ever
few for from further get gets got had hadn has hasn have haven having he her here hers herself him himself his
how i if in into is isn it its itself just let me might more most much must mustn my myself no nor not now of
off on once only or other ought our ours ourselves out over own really same say said she should shouldn so some
such than that the their theirs them themselves then there these they this those through thus to too under
until up upon us very was wasn we were weren what when where whether which while who whom whose why will with
within without won would wouldn yet you your yours yourself yourselves
one ones thing things something someone somebody way ways like kind sort lot lots bit
""".split())


# Double quotation marks that other keyboards type: smart quotes (phones and Macs), „German“, «French», »the
# other way«. A phrase between any of them is a "quoted phrase" (talksearch.library.keyword_index). Single marks
# are left alone: ’ is the apostrophe of "I’m". Full-width ＂ needs no entry: NFKC makes it ".
_DOUBLE_QUOTES = str.maketrans(dict.fromkeys("“”„‟«»", '"'))
# Capitals with dots, "M.P.I." or "U.S": one word written with dots, searched as the acronym ("MPI"). Each
# letter would otherwise be a word of its own, and one letter matches the "m" of every "I'm".
_DOTTED_ACRONYM = re.compile(r"(?<![\w.])[^\W\d_](?:\.[^\W\d_])+(?:\.(?![\w.])|(?![\w.]))")


def search_text(query: str) -> str:
    """The query as search reads it. NFKC: the full-width letters of Chinese and Japanese input methods
    ("ＧＰＵ") and ligatures ("ﬁle") are the plain letters transcripts are written in. Any double quotation
    marks are ASCII ones, and dotted acronyms in capitals are one word."""
    text = unicodedata.normalize("NFKC", query).translate(_DOUBLE_QUOTES)
    return _DOTTED_ACRONYM.sub(lambda m: m[0].replace(".", "") if m[0].isupper() else m[0], text)


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def content_words(text: str) -> list[str]:
    """The tokens of ``text`` that are not function words (or bare numbers of one digit), in order."""
    return [w for w in TOKEN.findall(text) if w.lower() not in STOP_WORDS and not (w.isdigit() and len(w) == 1)]


# What a query's keyword search looks for besides its words (``tokens``), each an FTS5 string (a phrase where it holds
# several words): spellings of a technical term that its words alone miss, or match too loosely (a technical-terms
# hunt: talks of GPUs, networks and storage, typed as people type them):
# - a number with a decimal point or thousands separators ("1.4", "12.4", "9,000"), as the phrase of its digit
#   groups (FTS5 reads "1.4" so): alone, "1" and "4" matched every count and version of a talk ("1.4 exaflops" put
#   a talk saying 1.2 first), and one-digit numbers are no content words, so "1.4" was never found said at all;
# - a thousand or more written plainly or with separators ("9000" / "9,000"), the other way;
# - a word of letters then digits or digits then letters ("H100", "12MW", "25GbE"), apart: whisper writes "H-100"
#   and "12 MW" (two words), which the joined word never matches; and letters and digits typed as one term with a
#   hyphen or a space between them ("H-100", "A 100", "GPT-4"), joined, as the transcript may write them. Not after
#   a function word ("a 100 nodes" is no A100, "in 100 days" no "in100"), nor when a decimal point or letters
#   continue the number ("GPT 3.5", "H 100GB"): a term's version or unit, not its model number;
# - a name ending in its version ("RoCEv2", "IPv6": a capital, then "v" and digits), the version apart ("RoCE v2");
# - single letters around slashes ("I/O"), as written and joined ("IO", as whisper writes it): "I" and "O" alone are
#   no words to find;
# - a word in camel case ("OpenTelemetry", "ConfigMap"), apart, and two words side by side, joined ("open telemetry":
#   "opentelemetry", "RoCE v2": "RoCEv2"): whisper writes a product's name either way;
# - a number with a unit, the unit's symbol and its name each for the other ("12 MW": "12 megawatts", "700
#   petabytes": "700 PB" and "700PB"), as whisper writes one or the other.
_DECIMAL = re.compile(r"(?<![\w.,])[^\W\d_]*\d+(?:[.,]\d+)+")  # a version's letter with it: "v1.29" is "v1 29"
_THOUSANDS = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?![\w.,]\d)")
_PLAIN_THOUSANDS = re.compile(r"[1-9]\d{3,8}")
_LETTERS_DIGITS = re.compile(r"([^\W\d_]+)(\d+)|(\d+)([^\W\d_]+)")
_LETTERS_APART_FROM_DIGITS = re.compile(r"(?<![\w.,-])([^\W\d_]+)(?:-| +)(\d+)(?![\w-]|[.,]\d)")
_VERSIONED = re.compile(r"([^\W\d_]*[A-Z])(v\d+)")
_SLASHED_LETTERS = re.compile(r"(?<![\w/])[^\W\d_](?:/[^\W\d_])+(?![\w/])")
_JOINED_AT_MOST = 8  # a name is a word or two of a short query; a 500-character one would add a term a word
_CAMEL_CASE = re.compile(r"[a-z][A-Z]")
_CAMEL_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
# Units of what talks of computing measure, by symbol (lower case) and by name (FTS5 stems its plural alike)
_UNITS = {"w": "watts", "kw": "kilowatts", "mw": "megawatts", "gw": "gigawatts", "kb": "kilobytes",
          "mb": "megabytes", "gb": "gigabytes", "tb": "terabytes", "pb": "petabytes", "eb": "exabytes", "ms": "milliseconds",
          "us": "microseconds", "ns": "nanoseconds", "gbps": "gigabits per second", "ghz": "gigahertz"}
_UNIT_SYMBOLS = {name.split()[0].rstrip("s"): symbol for symbol, name in _UNITS.items() if symbol != "gbps"}
_NUMBER_UNIT = re.compile(r"(?<![\w.,])(\d+(?:[.,]\d+)?)\s*([^\W\d_]+)")
# A count's magnitude as slides and model names write it ("13B parameters", "5M requests", "8k GPUs"), by symbol (as
# written: a small "m" is metres or minutes) and by name, as whisper says it ("13 billion", "8,000")
_MAGNITUDES = {"k": "thousand", "K": "thousand", "M": "million", "B": "billion", "bn": "billion"}
_MAGNITUDE_SYMBOLS = {"thousand": "K", "million": "M", "billion": "B"}


def camel_parts(word: str) -> list[str]:
    """The words a name in camel case is made of ("OpenTelemetry": Open, Telemetry; "PyTorch": Py, Torch); none
    for a word written otherwise."""
    return _CAMEL_PARTS.findall(word) if _CAMEL_CASE.search(word) else []


def spelled_otherwise(text: str) -> list[str]:
    """The other spellings of a query's technical terms that keyword search looks for too (see above), in order."""
    found = [m[0] for m in _DECIMAL.finditer(text)]
    found += [m[0].replace(",", "") for m in _THOUSANDS.finditer(text)]
    for word in TOKEN.findall(text):
        if _PLAIN_THOUSANDS.fullmatch(word):
            found.append(f"{int(word):,}")
        elif parts := _LETTERS_DIGITS.fullmatch(word):
            found.append(" ".join(part for part in parts.groups() if part))
            if versioned := _VERSIONED.fullmatch(word):
                found.append(" ".join(versioned.groups()))
    found += [spelling for m in _SLASHED_LETTERS.finditer(text) for spelling in (m[0], m[0].replace("/", ""))]
    words = TOKEN.findall(text)
    found += [" ".join(parts) for word in words if (parts := camel_parts(word))]
    words = TOKEN.findall(_DECIMAL.sub(" ", text))  # joined below: "8.5 MW" is no "5MW"
    # a unit's symbol may be one letter ("700 W"); other words joined are two letters or more
    joined = [first + second for first, second in zip(words, words[1:])
              if not {first.lower(), second.lower()} & STOP_WORDS
              and (second.lower() in _UNITS if first.isdigit()  # "12MW", not "4exaflops"
                   else min(len(first), len(second)) > 1 and not second.isdigit())]
    # a single capital is a model's letter ("A 100"), not the article
    joined += [letters + digits for letters, digits in _LETTERS_APART_FROM_DIGITS.findall(text)
               if letters.lower() not in STOP_WORDS or (len(letters) == 1 and letters.isupper())]
    found += joined[:_JOINED_AT_MOST]
    for number, unit in _NUMBER_UNIT.findall(text):
        if name := _UNITS.get(unit.lower()):
            found.append(f"{number} {name}")
        elif symbol := _UNIT_SYMBOLS.get(unit.lower().rstrip("s")):  # "12 megawatts": "12 MW" and "12MW"
            found += [f"{number} {symbol}", f"{number}{symbol}"]
        elif name := _MAGNITUDES.get(unit):
            found.append(f"{number} {name}")
            if name == "thousand" and number.isdigit():  # "8k": "8,000" as whisper writes it
                found += [f"{int(number) * 1000:,}", str(int(number) * 1000)]
        elif symbol := _MAGNITUDE_SYMBOLS.get(unit.lower()):  # "13 billion": "13B" and "13 B"
            found += [f"{number}{symbol}", f"{number} {symbol}"]
    return list(dict.fromkeys(found))


# Letters with no accent to take off, as a keyboard without them writes them ("Fuss", "Lodz", "Kobenhavn"); the
# Turkish dotless ı is i, as its capital I is.
_PLAIN_LETTERS = str.maketrans({"ß": "ss", "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ð": "d", "æ": "ae", "œ": "oe",
                                "þ": "th", "ħ": "h"})


def fold(word: str) -> str:
    """A word as any keyboard may write it: lower case, without accents, and with plain letters for those that
    have no accent to take off: "Fuß" and "FUSS" are "fuss", "Łódź" is "lodz", "ılık" and "ILIK" are "ilik"."""
    if word.isascii():  # no accent and no letter to replace: most words, and whole passages (holding_phrases)
        return word.lower()
    bare = "".join(c for c in unicodedata.normalize("NFKD", word.casefold()) if not unicodedata.combining(c))
    return bare.translate(_PLAIN_LETTERS)


def meaningful_tokens(pieces: Sequence[str]) -> list[int]:
    """The positions of a model's word pieces that carry meaning: letters or digits, and not a function word
    (a piece continuing a word, "##ing", always counts). Word-piece, SentencePiece and byte-level markers are
    read."""
    keep = []
    for i, piece in enumerate(pieces):
        word = piece.lstrip("#▁Ġ").lower()
        if word.isalnum() and (piece.startswith("##") or word not in STOP_WORDS):
            keep.append(i)
    return keep


# Control characters (C0, DEL and C1: Unicode's category Cc) in text that a talk's publisher wrote: a title, a
# speaker, a caption. Printed raw, ESC and BEL drive the reader's terminal (retitle the window, clear the screen,
# recolour what follows) and CR or LF break the output's one line per talk. Each shows as U+FFFD, which says that
# something was there; a tab is only a wide space. The bidirectional embeddings, overrides and isolates (U+202A-E,
# U+2066-9) are no control characters to Unicode but reorder the rest of the line on a terminal: a title holding
# U+202E prints its following time or link backwards. They show as U+FFFD too; the marks (U+200E, U+200F) only
# nudge neutral characters and stay.
_CONTROLS = {code: "\N{REPLACEMENT CHARACTER}"
             for code in (*range(0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A))}
_CONTROLS[ord("\t")] = " "


_STORED_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_STORED_CONTROL_BUT_LINES = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def without_controls(text: str, lines: bool = False) -> str:
    """``text`` as stored from a publisher (a title, a description, a caption): its control characters, which are
    never meant to be seen, dropped, and the whitespace ones (tab, CR, LF) spaces; with ``lines``, its line breaks
    kept (CRLF as LF). Printed, served as oEmbed or over MCP, ESC and BEL would reach someone's terminal."""
    if lines:
        text = text.replace("\r\n", "\n")
    pattern = _STORED_CONTROL_BUT_LINES if lines else _STORED_CONTROL
    return pattern.sub(lambda match: " " if match[0].isspace() else "", text)


def printable(text: str) -> str:
    """``text`` safe to print on a terminal, on the line it belongs to: its control and bidi override characters
    replaced."""
    return text.translate(_CONTROLS)

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
#   petabytes": "700 PB" and "700PB"), as whisper writes one or the other;
# - a number said in words, in digits as whisper writes it ("eleven minutes": "11", "sixty five thousand": "65,000"
#   and "65000", "two point five": "2.5", "three million": "3 million", magnitude kept), and a number in digits, in
#   words (0-99 and round ones: "11": "eleven", "100,000": "hundred thousand"): whisper writes most numbers in
#   digits and small ones in words, either way at times. One digit is a count of something, with the word it counts
#   ("two seconds": "2 seconds", and the other way): alone "2" would match every count and version, and "one" and
#   "a" are mostly no numbers ("one of the", "a few"); "a" counts only before a magnitude ("a hundred"). Not in a
#   "quoted phrase", which is matched as written, nor with a unit or a percent sign (whisper writes "12 megawatts",
#   "38%") or after a name ("H 100", "RAID 6"). Number words are never joined ("hundredthousand" is no name).
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
# Numbers in words: 0-9, 10-19 and the tens; "hundred", and the magnitudes whisper writes in words after digits
# ("3 million") or not at all ("65,000")
_DIGIT_WORDS = "zero one two three four five six seven eight nine".split()
_TEEN_WORDS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS_WORDS = {word: 10 * n
               for n, word in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
_SCALE_WORDS = {"thousand": 10**3, "million": 10**6, "billion": 10**9}
_KEPT_SCALES = ("million", "billion")
_NUMBER_WORDS = frozenset([*_DIGIT_WORDS, *_TEEN_WORDS, *_TENS_WORDS, "hundred", *_SCALE_WORDS])
_QUOTED_PHRASE = re.compile(r'"[^"]+"')
# A whole number in digits (up to a trillion), with or without separators, and the word before it; not a piece of
# a decimal, a version, a name, a sum or a time ("v1.29", "GPT-4", "H100GB", "8+3", "24/7", "10:30")
_WRITTEN_NUMBER = re.compile(r"(?:(?<!\w)([^\W\d_]+) +)?(?<![\w.,+/:-])(\d{1,3}(?:,\d{3}){1,4}|\d{1,12})"
                             r"(?![\w+/:-]|[.,]\d)")
_NEXT_WORD = re.compile(r"\s*([^\W\d_]+)")
_NUMBERS_AT_MOST = 8  # as _JOINED_AT_MOST: a long list of numbers adds a few of their spellings, not one each


# Arabic writes "the", and "and", "with" or "for" before it, onto the word that follows: "والمعالجات" is "and the
# processors". These are light stemming's article prefixes (Larkey's light10), longest first. "And" alone (و) is not
# taken off: as many words begin with it ("وصفة" is a recipe, "صفة" an attribute; a reviewer's hunt). A stem keeps
# three letters ("والد", father, is no "and the" before "د").
ARABIC_ARTICLES = ("وال", "بال", "كال", "فال", "لل", "ال")
_ARABIC_STEM_LETTERS = 3


def arabic_stem(word: str) -> str | None:
    """An Arabic word without the article (and the letter before it) written onto it: "والمعالجات", "بالمعالجات"
    and "المعالجات" are "معالجات"; None for a word without one."""
    article = next((a for a in ARABIC_ARTICLES if word.startswith(a)), None)
    if article is None or len(word) - len(article) < _ARABIC_STEM_LETTERS:
        return None
    return word[len(article):]


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
              if not {first.lower(), second.lower()} & (STOP_WORDS | _NUMBER_WORDS)
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
    unquoted = _QUOTED_PHRASE.sub(" ", text)
    found += list(dict.fromkeys(_numbers_in_digits(unquoted) + _numbers_in_words(unquoted)))[:_NUMBERS_AT_MOST]
    return list(dict.fromkeys(found))


def _counted(word: str | None) -> bool:
    """Whether ``word`` (after a number of one digit) says what is counted: "seconds", not "of" or another number."""
    return bool(word) and word.isalpha() and word.lower() not in STOP_WORDS | _NUMBER_WORDS


def _numbers_in_words(text: str) -> list[str]:
    """The numbers ``text`` says in words, in digits as whisper writes them (see above)."""
    words = TOKEN.findall(text)
    lowered = [word.lower() for word in words]
    said, start = [], 0
    while start < len(words):
        if (number := _number_said_at(lowered, start)) is None:
            start += 1
            continue
        digits, start = number
        if len(digits) > 1:
            said += [digits, digits.replace(",", "")] if "," in digits else [digits]
        elif start < len(words) and _counted(words[start]):  # one digit: a count, with what it counts
            said.append(f"{digits} {words[start]}")
    return said


def _number_said_at(words: list[str], start: int) -> tuple[str, int] | None:
    """The number said in words from ``words[start]`` (lower case) on, in digits, and where its words end; None
    when none starts there. "a"/"an" only before a magnitude ("a hundred"); "and" only after one ("a hundred and
    twenty"); a word that cannot continue the number ends it ("twenty one twenty two" is two numbers)."""
    total, group, last, smallest, i = 0, None, None, 10**12, start
    if words[i] in ("a", "an"):
        if i + 1 >= len(words) or words[i + 1] not in ("hundred", *_SCALE_WORDS):
            return None
        group, last, i = 1, "a", i + 1
    while i < len(words):
        word = words[i]
        if word in _DIGIT_WORDS and (last in (None, "hundred", "scale") or (last == "tens" and word != "zero")):
            group, last = (group or 0) + _DIGIT_WORDS.index(word), "digit"
        elif word in _TEEN_WORDS and last in (None, "hundred", "scale"):
            group, last = (group or 0) + 10 + _TEEN_WORDS.index(word), "teen"
        elif word in _TENS_WORDS and last in (None, "hundred", "scale"):
            group, last = (group or 0) + _TENS_WORDS[word], "tens"
        elif word == "hundred" and last in (None, "a", "digit") and (group or 1) < 10:
            group, last = (group or 1) * 100, "hundred"
        elif (word in _SCALE_WORDS and _SCALE_WORDS[word] < smallest and last != "scale"
              and (last is not None or word == "thousand")):  # a bare "million" is no number said
            if word in _KEPT_SCALES and total == 0:  # "3 million", as whisper writes it
                return f"{group or 1:,} {word}", i + 1
            total, group, last, smallest = total + (group or 1) * _SCALE_WORDS[word], None, "scale", _SCALE_WORDS[word]
        elif (word == "and" and last in ("hundred", "scale") and i + 1 < len(words)
              and (words[i + 1] in _DIGIT_WORDS[1:] or words[i + 1] in _TEEN_WORDS or words[i + 1] in _TENS_WORDS)):
            pass  # "a hundred and twenty": the number goes on
        elif (word == "point" and last in ("digit", "teen", "tens") and total == 0 and i + 1 < len(words)
              and words[i + 1] in _DIGIT_WORDS):  # "two point five": 2.5, the decimal point's digits one by one
            decimals = ""
            while i + 1 < len(words) and words[i + 1] in _DIGIT_WORDS:
                decimals, i = decimals + str(_DIGIT_WORDS.index(words[i + 1])), i + 1
            number = f"{group}.{decimals}"
            if i + 1 < len(words) and words[i + 1] in _SCALE_WORDS:  # "2.5 million"
                return f"{number} {words[i + 1]}", i + 2
            return number, i + 1
        else:
            break
        i += 1
    if last in (None, "a"):
        return None
    return f"{total + (group or 0):,}", i


def _said_in_words(number: int) -> str | None:
    """A number of 0-99, or a round one (9,000, 100,000, 3,000,000), in words as whisper writes it; None for others."""
    if number < 10:
        return _DIGIT_WORDS[number]
    if number < 20:
        return _TEEN_WORDS[number - 10]
    if number < 100:
        tens = next(word for word, value in _TENS_WORDS.items() if value == number // 10 * 10)
        return tens + (f" {_DIGIT_WORDS[number % 10]}" if number % 10 else "")
    for scale, word in ((10**9, "billion"), (10**6, "million"), (10**3, "thousand"), (100, "hundred")):
        times, rest = divmod(number, scale)
        # "three hundred"; "sixty five thousand" and "two hundred thousand"; never "twelve hundred" nor longer
        said = times < 10 or (scale > 100 and (times < 100 or (times < 1000 and times % 100 == 0)))
        if times and not rest and said:
            return word if times == 1 else f"{_said_in_words(times)} {word}"
    return None


def _numbers_in_digits(text: str) -> list[str]:
    """The numbers ``text`` writes in digits, in words (see above)."""
    said = []
    for match in _WRITTEN_NUMBER.finditer(text):
        before, following = match[1], after[1] if (after := _NEXT_WORD.match(text, match.end())) else None
        if before and not before.islower() and (len(before) == 1 or before.lower() not in STOP_WORDS):
            continue  # a name's number ("H 100", "RAID 6", "Windows 11"): no count, and said as written
        unit = (following or "").lower()
        if (text.startswith("%", match.end()) or unit in _UNITS or unit.rstrip("s") in _UNIT_SYMBOLS
                or following in _MAGNITUDES or unit in _MAGNITUDE_SYMBOLS or unit == "percent"):
            continue  # a quantity whisper writes in digits ("12 MW", "13 billion", "38%")
        number = int(match[2].replace(",", ""))
        if (words := _said_in_words(number)) is None:
            continue
        if number >= 10:
            said.append(words)
        elif _counted(following):
            said.append(f"{words} {following}")
    return said


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


# How a byte that is not valid in an argument or a file name reaches Python: a lone surrogate (PEP 383, os.fsdecode)
UNDECODABLE_BYTE = re.compile("[\udc80-\udcff]")


def shown(text: str) -> str:
    """``text`` with each undecodable byte of a path or argument in it written as ``\\xff``, as os.fsencode(path)
    would hold it, rather than as the surrogate (``\\udcff``) Python holds it as."""
    return UNDECODABLE_BYTE.sub(lambda byte: f"\\x{ord(byte[0]) - 0xdc00:02x}", text)


def printable(text: str) -> str:
    """``text`` safe to print on a terminal, on the line it belongs to: its control and bidi override characters
    replaced."""
    return text.translate(_CONTROLS)

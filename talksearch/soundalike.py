"""Sound-alike keys: how a word is probably pronounced, spelled so that ASR misspellings stay close.

Speech recognition turns jargon it does not know into words it does ("Multus" → "mildest", "sprio" → "his
preview"), often across word boundaries. A key folds spelling variants of one sound together (ph/f, c/k/q,
voiced/unvoiced pairs, any vowel run), drops the letters ASR adds or loses freely (h, w, doubled letters) and
ignores spaces, so a rare query word can be found by approximate substring matching against the keys of
the transcript (``substring_distance``). The library stores each passage's key in a trigram index; ranking
uses it for query words the transcripts never contain.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

_RULES = [(re.compile(pattern), replacement) for pattern, replacement in [
    (r"ph", "f"), (r"gh", "g"), (r"ck", "k"), (r"sch", "sk"), (r"[sc]h", "s"), (r"th", "t"),
    (r"qu", "k"), (r"q", "k"), (r"x", "ks"), (r"c(?=[eiy])", "s"), (r"c", "k"), (r"z", "s"),
    (r"v", "f"), (r"b", "p"), (r"d", "t"), (r"g", "k"), (r"j", "k"), (r"[wh]", ""),
    (r"[aeiouy]+", "a"), (r"(.)\1+", r"\1"),
]]


def letters(text: str) -> str:
    """Lower-case ASCII letters and digits only, accents folded, spaces and punctuation gone."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", folded)


def sound_key(text: str) -> str:
    """The key of a word or a whole passage (spaces are dropped: ASR splits and joins words freely)."""
    key = letters(text)
    for pattern, replacement in _RULES:
        key = pattern.sub(replacement, key)
    return key


def substring_distance(needle: str, haystack: str) -> int:
    """Fewest edits that turn ``needle`` into some substring of ``haystack`` (semi-global Levenshtein).

    One row of the edit table per needle letter, each computed over the whole haystack at once: the
    insertion chain within a row, ``cur[j] = min(cur[j-1] + 1, base[j])``, is a running minimum of
    ``base[k] - k`` shifted back by ``j``.
    """
    if not needle:
        return 0
    text = np.frombuffer(haystack.encode("utf-32-le"), dtype=np.uint32)
    offsets = np.arange(len(text) + 1)
    previous = np.zeros(len(text) + 1, dtype=np.int64)  # starting anywhere in the haystack is free
    for i, char in enumerate(needle, 1):
        base = previous + 1  # the needle letter left out
        base[1:] = np.minimum(base[1:], previous[:-1] + (text != ord(char)))  # matched or substituted
        base[0] = i
        previous = np.minimum.accumulate(base - offsets) + offsets  # a haystack letter left out
    return int(previous.min())  # and ending anywhere is free too

"""Sound-alike keys: how a word is probably pronounced, spelled so that ASR misspellings stay close.

Speech recognition turns jargon it does not know into words it does ("Multus" → "mildest", "sprio" → "his
preview"), often across word boundaries. A key folds spelling variants of one sound together (ph/f, c/k/q,
voiced/unvoiced pairs, any vowel run), drops the letters ASR adds or loses freely (h, w, doubled letters) and
ignores spaces. The library stores each passage's key in a trigram index; for a query word no transcript
contains, ranking pre-selects the passages sharing the most of its key's trigrams, and their pronunciation
(``talksearch.pronunciation``) decides.
"""

from __future__ import annotations

import re
import unicodedata

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

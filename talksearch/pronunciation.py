"""How words are pronounced (espeak-ng's phonemes), and how close a word sounds to something said in a passage.

Speech recognition writes jargon it does not know as words it does: "ibstat" → "absurd to", "subuid" →
"subunit", "ncdump" → "within the dump". Spelling hides how close these are; pronunciation shows it
(/ɪbstæt/ ~ /ɐbsɜːdtə/). A query word no transcript contains is compared, by its phonemes, first with the
library's vocabulary (every transcript word's phonemes, kept in the catalog) and then with whole passages,
with an edit distance in which the mistakes ASR makes are cheap: one vowel for another, a voiced consonant
for its voiceless pair, a nasal for a nasal.

espeak-ng is the grapheme-to-phoneme converter (rule-based, any spelling, ~0.06 ms a word); the library
comes from the ``espeakng-loader`` wheel, so nothing has to be installed besides pip packages; its data is
listed in models.txt and verified like the bundled models. espeak-ng is not thread-safe: calls are
serialised, and each word is converted once per process (a cache).
"""

from __future__ import annotations

import ctypes
import re
import threading
from functools import lru_cache

import numpy as np

from talksearch.models import ModelError, resolve

VOICE = "en-us"  # English talks (and talks of no known language) are pronounced as American English
# Each talk's words are pronounced by espeak-ng's rules for the talk's language (its voice of the same ISO 639-1
# code as whisper's, but for these); a language it has no voice for gets no sound-alike matching.
# whisper's codes where espeak-ng names the voice otherwise (Norwegian is its Bokmål voice, nynorsk's nearest)
VOICES = {"en": VOICE, "zh": "cmn", "no": "nb", "nn": "nb"}
# Scripts without spaces between words: espeak-ng would pronounce a whole sentence as one "word", which no query
# word can be aligned with usefully, so these languages get no sound-alike matching either.
UNSPACED_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "km", "bo", "yue"})
DEFAULT_LANGUAGE = "en"
# How the sounds a library stores were made: a library whose vocabulary says otherwise is re-made by its next writer.
SCHEME = "espeak-ng per-language tokens-1"
_ESPEAK_OUTPUT_SYNCHRONOUS = 0x02
_ESPEAK_CHARS_UTF8 = 1
_ESPEAK_PHONEMES_IPA = 0x02

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_MARKS = re.compile(r"[ˈˌːˑ‿\-\s]")  # stress, length and linking marks: ASR gets none of them reliably
# Multi-letter IPA symbols that are one sound, written as one token so an edit counts a sound once.
_UNITS = {"aɪ": "A", "aʊ": "W", "eɪ": "E", "oʊ": "O", "ɔɪ": "Y", "tʃ": "C", "dʒ": "J", "ɚ": "R", "ɝ": "R",
          "ɡ": "g", "ɫ": "l", "ɹ": "r"}
_VOWELS = set("aeiouyæɐɑɒɔəɘɛɜɞɤɨɪʉʊʌᵻøœAWEOY")
# Sounds ASR confuses for one another (voicing pairs, nasals, liquids, sibilants, the flap and its stops).
_CLOSE = ["pb", "tdɾθð", "kgx", "fvθ", "szʃʒð", "CJʃ", "mnŋ", "lrR", "wʊ", "jiɪ"]
_VOWEL_COST = 0.5  # a vowel inserted, dropped or replaced by another
_CLOSE_COST = 0.5
_SEPARATOR = "\x00"  # between haystacks aligned in one pass: replacing or skipping it costs more than any path
_SEPARATOR_COST = 1e6


class _Espeak:
    """The few calls of libespeak-ng that turn text into IPA phonemes."""

    def __init__(self) -> None:
        import espeakng_loader

        data = resolve("pronunciation", "espeak-ng").location  # the bundled rules, checksum verified (models.txt)
        self.lib = ctypes.cdll.LoadLibrary(espeakng_loader.get_library_path())
        self.lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self.lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        if self.lib.espeak_Initialize(_ESPEAK_OUTPUT_SYNCHRONOUS, 0, data.encode(), 0) < 0:
            raise ModelError(f"espeak-ng could not be initialised with its data at {data}")
        if self.lib.espeak_SetVoiceByName(VOICE.encode()) != 0:
            raise ModelError(f"espeak-ng has no voice {VOICE}")
        self.voice = VOICE
        self.lock = threading.Lock()

    def has_voice(self, voice: str) -> bool:
        """Whether espeak-ng speaks ``voice`` with rules of its own: Faroese's voice is there, its dictionary is not
        in the bundled data, and every word of a Faroese talk had no sounds (an audit of issue 16)."""
        with self.lock:
            found = self.lib.espeak_SetVoiceByName(voice.encode()) == 0
            self.lib.espeak_SetVoiceByName(self.voice.encode())
        return found and bool(self.ipa("talk", voice))

    def ipa(self, text: str, voice: str = VOICE) -> str:
        text_buffer = ctypes.c_char_p(text.encode())
        pointer = ctypes.pointer(text_buffer)
        clauses = []
        with self.lock:
            if voice != self.voice and self.lib.espeak_SetVoiceByName(voice.encode()) == 0:
                self.voice = voice
            while text_buffer.value:  # one clause per call; espeak advances the pointer, NULL at the end
                clause = self.lib.espeak_TextToPhonemes(pointer, _ESPEAK_CHARS_UTF8, _ESPEAK_PHONEMES_IPA)
                if clause:
                    clauses.append(clause.decode())
        return " ".join(clauses)


@lru_cache(maxsize=1)
def load() -> _Espeak:
    """espeak-ng, loaded once per process (checksum of its data, then initialisation: ~0.2 s)."""
    return _Espeak()


def _tokens(ipa: str) -> str:
    """IPA as one character per sound, marks dropped."""
    sounds = _MARKS.sub("", ipa)
    for symbol, token in _UNITS.items():
        sounds = sounds.replace(symbol, token)
    return sounds


@lru_cache(maxsize=256)
def voice(language: str | None) -> str | None:
    """espeak-ng's voice for a talk's language (ISO 639-1; None: not known, taken as English), or None when
    sound-alike matching is off for it (no such voice, or a script without spaces between words)."""
    code = (language or DEFAULT_LANGUAGE).lower()
    if code in UNSPACED_LANGUAGES:
        return None
    name = VOICES.get(code, code)
    return name if load().has_voice(name) else None


@lru_cache(maxsize=200_000)
def word_phonemes(word: str, voice: str = VOICE) -> str:
    """A word's sounds, one character each (``_tokens``); as written, since capitals spell an acronym out."""
    return _tokens(load().ipa(word, voice))


def words(text: str) -> list[str]:
    """A text's words, as written (apostrophes kept inside a word, hyphens split it)."""
    return _WORD.findall(text)


def phonemes(text: str, voice: str = VOICE) -> str:
    """The sounds of a text, word by word, without spaces (ASR joins and splits words freely)."""
    return "".join(word_phonemes(w, voice) for w in words(text))


# --- distance ------------------------------------------------------------------------------------


class _Costs:
    """Substitution and insertion costs over the sounds seen so far, each sound numbered as it appears."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.substitution = np.zeros((0, 0))
        self.indel = np.zeros(0)
        self.lock = threading.Lock()

    def encode(self, sounds: str) -> np.ndarray:
        if any(s not in self.ids for s in sounds):
            with self.lock:
                self._grow(sounds)
        return np.fromiter((self.ids[s] for s in sounds), dtype=np.intp, count=len(sounds))

    def _grow(self, sounds: str) -> None:
        symbols = list(self.ids) + [s for s in dict.fromkeys(sounds) if s not in self.ids]
        n = len(symbols)
        substitution = np.ones((n, n))
        for i, a in enumerate(symbols):
            for j, b in enumerate(symbols):
                if a == b:
                    substitution[i, j] = 0.0
                elif a in _VOWELS and b in _VOWELS:
                    substitution[i, j] = _VOWEL_COST
                elif any(a in group and b in group for group in _CLOSE):
                    substitution[i, j] = _CLOSE_COST
        indel = np.array([_VOWEL_COST if s in _VOWELS else 1.0 for s in symbols])
        if _SEPARATOR in self.ids or _SEPARATOR in sounds:
            separator = symbols.index(_SEPARATOR)
            substitution[separator, :] = substitution[:, separator] = _SEPARATOR_COST
            substitution[separator, separator] = 0.0
            indel[separator] = _SEPARATOR_COST
        # published in an order that keeps a concurrent reader's lookups valid: arrays first, then ids
        self.substitution, self.indel = substitution, indel
        self.ids = {s: i for i, s in enumerate(symbols)}


_COSTS = _Costs()


def sound_distance(needle: str, haystack: str) -> float:
    """How far the sounds ``needle`` are from the closest stretch of ``haystack`` (both from ``phonemes``):
    the cheapest edits (a vowel or a close consonant for another costs half) per unit of the needle's weight.
    0 is an exact match; 1 is as far as sounding like nothing at all."""
    return float(sound_distances(needle, [haystack])[0])


def sound_distances(needle: str, haystacks: list[str]) -> np.ndarray:
    """``sound_distance`` of ``needle`` to each of ``haystacks``."""
    return Sounds(haystacks).distances(needle)


class Sounds:
    """Haystacks of sounds (from ``phonemes``), encoded once, to align many needles against (a vocabulary).

    All haystacks are aligned in one pass (joined by a separator no alignment can afford to cross). Semi-global
    alignment, one row of the edit table per needle sound computed over every haystack at once: the insertion
    chain ``cur[j] = min(base[j], cur[j-1] + ins[j])`` is a running minimum of ``base - C`` plus ``C``, where
    ``C`` is the running sum of the haystack sounds' insertion costs.
    """

    def __init__(self, haystacks: list[str]) -> None:
        self.count = len(haystacks)
        self.joined = _COSTS.encode("".join(_SEPARATOR + h for h in haystacks))
        # each haystack's columns start at its separator's (its empty beginning)
        self.starts = np.cumsum([0] + [len(h) + 1 for h in haystacks[:-1]], dtype=np.intp) + 1
        self.inserted = np.concatenate(([0.0], np.cumsum(_COSTS.indel[self.joined])))

    def distances(self, needle: str) -> np.ndarray:
        if not needle or not self.count:
            return np.zeros(self.count)
        a = _COSTS.encode(needle)
        substitution, indel, inserted = _COSTS.substitution, _COSTS.indel, self.inserted
        previous = np.zeros(len(self.joined) + 1)  # starting anywhere is free
        for sound in a:
            base = previous + indel[sound]  # the needle sound left out
            base[1:] = np.minimum(base[1:], previous[:-1] + substitution[sound, self.joined])
            previous = np.minimum.accumulate(base - inserted) + inserted  # haystack sounds left out
        return np.minimum.reduceat(previous, self.starts) / indel[a].sum()  # and ending anywhere is free too

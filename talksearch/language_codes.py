"""Language codes: how a tag a person, a site or a feed gives (``en-US``, ``de_DE``, ``EN``) becomes the code a
talk is stored, filtered and transcribed by (``en``, ``de``: ISO 639-1, as whisper names languages)."""

from __future__ import annotations

import re
from collections.abc import Iterable

LANGUAGE_TAG = re.compile(r"^[a-zA-Z]{2,3}(?:[-_][a-zA-Z0-9]{2,8})*$")  # BCP 47-like: a code, then subtags


# Codes ISO 639 has retired, or spells otherwise than whisper, that sources still send (Java and Android say
# ``iw`` for Hebrew): the talk is stored, filtered and transcribed as whisper names its language.
ALIASES = {"iw": "he", "in": "id", "ji": "yi", "jv": "jw", "mo": "ro", "nb": "no"}


def base_language(tag: str | None) -> str | None:
    """``en-US``, ``en_GB`` and YouTube's ``en-orig`` are all ``en``; ``iw-IL`` is ``he``."""
    if not tag:
        return None
    code = tag.replace("_", "-").split("-")[0].lower()
    return ALIASES.get(code, code)


def _whisper_codes() -> frozenset[str]:
    from faster_whisper.tokenizer import _LANGUAGE_CODES  # the list WhisperModel.supported_languages gives

    return frozenset(_LANGUAGE_CODES)


# ISO 639-1: every two-letter language code (from Debian's iso-codes, iso_639-2.json's alpha_2 values).
ISO_639_1 = frozenset("""
aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el en
eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka
kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl
nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw
ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu""".split())


def filter_languages(values: Iterable[str]) -> list[str]:
    """Search filter values as stored codes; ValueError naming the first that is no language tag ("english"),
    no language's code ("qq") or a three-letter code talks are not stored by ("eng": stored codes are ISO
    639-1's two letters, but for the few languages that have only three, such as yue), rather than a filter
    that silently matches nothing."""
    codes = []
    for value in values:
        code = base_language(value) if LANGUAGE_TAG.match(value) else None
        if code is None or code not in ISO_639_1 | _whisper_codes():
            raise ValueError(f"{value!r} is not a language code (e.g. en, de, es)")
        codes.append(code)
    return codes


def whisper_code(tag: str | None) -> str | None:
    """The code whisper transcribes ``tag`` as, or None when whisper knows no such language (a source that
    says "English" or "zz": the talk's language is then detected, not passed on for whisper to refuse)."""
    code = base_language(tag) if tag and LANGUAGE_TAG.match(tag) else None
    return code if code in _whisper_codes() else None


def whisper_language(tag: str) -> str:
    """``whisper_code`` for a person's ``--language``: ValueError when whisper knows no such language, so that a
    mistyped one is refused before anything is downloaded, not once per talk."""
    code = whisper_code(tag)
    if code is None:
        raise ValueError(f"{tag!r} is not a language whisper knows (a code such as en, de, es, fr, zh)")
    return code

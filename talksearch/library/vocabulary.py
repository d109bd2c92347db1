"""The transcripts' vocabulary (``sound_vocabulary``): every word as written, per language, with its
pronunciation by that language's rules (talksearch.pronunciation), which the sound-alike retriever aligns a
query word against. A talk in a language espeak-ng has no voice for adds no words (no sound-alike matching)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from talksearch import pronunciation


def language_key(language: str | None) -> str:
    """How the vocabulary files a talk's language: its code, or English when the talk's is not known."""
    return (language or pronunciation.DEFAULT_LANGUAGE).lower()


def add(db: sqlite3.Connection, texts: Iterable[str], language: str | None = None) -> None:
    """Record the words of ``texts``, spoken in ``language`` (inside the caller's transaction); words already
    known are kept."""
    voice = pronunciation.voice(language)
    if voice is None:
        return
    key = language_key(language)
    words = {w for text in texts for w in pronunciation.words(text)}
    db.executemany("INSERT OR IGNORE INTO sound_vocabulary(language, word, phonemes) VALUES (?, ?, ?)",
                   [(key, w, pronunciation.word_phonemes(w, voice)) for w in words])


def remake(db: sqlite3.Connection) -> None:
    """Every word of every transcript again, with today's sounds (inside the caller's transaction)."""
    db.execute("DELETE FROM sound_vocabulary")
    languages = [r[0] for r in db.execute("SELECT DISTINCT language FROM talks")]
    for language in languages:
        add(db, (r[0] for r in db.execute(
            "SELECT segments.text FROM segments JOIN talks ON talks.id = segments.talk_id "
            "WHERE talks.language IS ?", (language,))), language)


def read(db: sqlite3.Connection) -> dict[str, tuple[list[str], pronunciation.Sounds]]:
    """Per language, the words and their sounds, ready to align a query word against."""
    try:
        rows = db.execute("SELECT language, word, phonemes FROM sound_vocabulary").fetchall()
    except sqlite3.OperationalError:  # a library before format 5 read without write access: one language
        try:
            rows = [(pronunciation.DEFAULT_LANGUAGE, *r) for r in db.execute("SELECT word, phonemes FROM sound_vocabulary")]
        except sqlite3.OperationalError:  # a format-1 library (never upgraded): no vocabulary
            rows = []
    by_language: dict[str, tuple[list[str], list[str]]] = {}
    for language, word, sounds in rows:
        words, heard = by_language.setdefault(language, ([], []))
        words.append(word)
        heard.append(sounds)
    return {language: (words, pronunciation.Sounds(heard)) for language, (words, heard) in by_language.items()}

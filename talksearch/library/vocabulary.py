"""The transcripts' vocabulary (``sound_vocabulary``): every word as written, with its pronunciation
(talksearch.pronunciation), which the sound-alike retriever aligns a query word against."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from talksearch import pronunciation


def add(db: sqlite3.Connection, texts: Iterable[str]) -> None:
    """Record the words of ``texts`` (inside the caller's transaction); words already known are kept."""
    words = {w for text in texts for w in pronunciation.words(text)}
    db.executemany("INSERT OR IGNORE INTO sound_vocabulary(word, phonemes) VALUES (?, ?)",
                   [(w, pronunciation.word_phonemes(w)) for w in words])


def remake(db: sqlite3.Connection) -> None:
    """Every word of every transcript again, with today's sounds (inside the caller's transaction)."""
    db.execute("DELETE FROM sound_vocabulary")
    add(db, (r[0] for r in db.execute("SELECT text FROM segments")))


def read(db: sqlite3.Connection) -> tuple[list[str], pronunciation.Sounds]:
    """The words and their sounds, ready to align a query word against."""
    try:
        rows = db.execute("SELECT word, phonemes FROM sound_vocabulary").fetchall()
    except sqlite3.OperationalError:  # a format-1 library read without write access (never upgraded)
        rows = []
    return [r[0] for r in rows], pronunciation.Sounds([r[1] for r in rows])

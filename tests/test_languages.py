"""Talks in other languages than English: the talk's language from its source or from whisper, an English-only
model handing a talk it cannot hear to the multilingual one (or refusing it), and the language filter."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from talksearch.indexer.processor import MULTILINGUAL_WHISPER, TalkFailed, TalkProcessor
from talksearch.indexer.sources import Fetched, _talk
from talksearch.library import Talk
from talksearch.settings import Settings

SPEECH = {
    "de": "Guten Tag. Heute sprechen wir über Hochleistungsrechner und parallele Programmierung. "
          "Die Speicherbandbreite begrenzt oft die Geschwindigkeit eines Programms.",
    "es": "Buenos días. Hoy hablamos de supercomputadoras y programación paralela. "
          "El ancho de banda de la memoria limita a menudo la velocidad de un programa.",
}
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng to speak German and Spanish")


def spoken(tmp_path: Path, language: str) -> Path:
    wav = tmp_path / f"{language}.wav"
    subprocess.run(["espeak-ng", "-v", language, "-s", "150", "-w", str(wav), SPEECH[language]], check=True)
    return wav


def fetched(audio: Path, language: str | None = None) -> Fetched:
    return Fetched(Talk("local", audio.stem, audio.as_uri(), audio.stem, language=language), audio, False, None)


@pytest.mark.unit
@pytest.mark.parametrize("info, feed, expected", [
    ({"language": "de-DE"}, {}, "de"),
    ({}, {"language": "es"}, "es"),
    ({"automatic_captions": {"fr-orig": [], "en": []}}, {}, "fr"),
    ({}, {}, None),
])
def test_a_talk_takes_its_language_from_its_source(info, feed, expected):
    talk = _talk({"extractor_key": "Generic", "id": "x", **info}, feed, None, url="https://example.org/x", media_url=None)
    assert talk.language == expected


@pytest.fixture(scope="module")
def english_only():
    return TalkProcessor(Settings(whisper_model="tiny.en", threads=1, transcribe_workers=1))


@needs_espeak
@pytest.mark.models
@pytest.mark.parametrize("language", ["de", "es"])
def test_multilingual_model_detects_and_transcribes(tmp_path, language):
    processor = TalkProcessor(Settings(whisper_model="base", threads=1, transcribe_workers=1))
    result = processor.process(fetched(spoken(tmp_path, language)))
    assert result.talk.language == language
    assert result.talk.transcript_source == "whisper base"
    first = result.sentences[0].text
    assert first == {"de": "Guten Tag.", "es": "Buenos días."}[language]


@needs_espeak
@pytest.mark.models
@pytest.mark.parametrize("language", ["de", "es"])
def test_english_only_model_hands_another_language_to_the_multilingual_one(tmp_path, english_only, language):
    result = english_only.process(fetched(spoken(tmp_path, language)))
    assert (result.talk.language, result.talk.whisper_model) == (language, MULTILINGUAL_WHISPER)
    assert result.talk.transcript_source == f"whisper {MULTILINGUAL_WHISPER}"
    assert result.sentences[0].text == {"de": "Guten Tag.", "es": "Buenos días."}[language]


@needs_espeak
@pytest.mark.models
def test_english_only_model_refuses_another_language_without_a_multilingual_one(tmp_path, english_only, monkeypatch):
    monkeypatch.setattr(english_only, "multilingual", lambda: None)
    with pytest.raises(TalkFailed) as refused:
        english_only.process(fetched(spoken(tmp_path, "de"), language="de"))
    assert str(refused.value) == ("spoken in 'de', which whisper model tiny.en (English only) cannot transcribe; "
                                  "index it with --whisper-model base")


@pytest.mark.models
def test_pages_mark_the_language_of_the_words(api, ids):
    """The shared test talks are English (detected by whisper): the transcript and every snippet say so."""
    from tests.service_fixtures import read_server

    site = read_server()
    talk = site.get(f"/api/talks/{ids['t02']}").json()
    assert talk["language"] == "en"
    assert '<section class="transcript" id="transcript" aria-label="Transcript" lang="en" dir="auto">' in \
        site.get(f"/talks/{ids['t02']}").text
    results = site.get("/", params={"q": "checkpoint"}).text
    assert '<p class="snippet" lang="en" dir="auto">' in results
    assert site.get("/api/search", params={"q": "checkpoint", "language": "de"}).json()["results"] == []
    assert site.get("/api/search", params={"q": "checkpoint", "language": "EN"}).json()["results"]


@pytest.mark.models
def test_cli_search_filters_by_language():
    import json

    from tests.helpers import talksearch
    from tests.service_fixtures import shared_library

    library = str(shared_library())
    english = talksearch("search", "checkpoint", "--library", library, "--language", "en", "--json")
    german = talksearch("search", "checkpoint", "--library", library, "--language", "de", "--json")
    assert english.returncode == 0 and german.returncode == 0, english.stderr + german.stderr
    assert {r["talk"]["language"] for r in json.loads(english.stdout)["results"]} == {"en"}
    assert json.loads(german.stdout)["results"] == []


def _keyword_index(texts: list[str]):
    import sqlite3

    from talksearch.library.keyword_index import KeywordIndex
    from talksearch.library.migrations import SCHEMA

    db = sqlite3.connect(":memory:")
    db.executescript(SCHEMA)
    db.executemany("INSERT INTO passages(id, talk_id, kind, start_time, end_time, text, embedding) "
                   "VALUES (?, 't', 'window', 0, 1, ?, x'')", list(enumerate(texts, 1)))
    return db, KeywordIndex(db)


@pytest.mark.unit
def test_keywords_are_found_in_any_script():
    db, index = _keyword_index([
        "我们在东京大学研究并行计算。",              # 1 Chinese: "we study parallel computing at Tokyo University"
        "内存带宽限制了程序的速度。",               # 2 Chinese: "memory bandwidth limits the program's speed"
        "スーパーコンピュータでGPUを使います。",      # 3 Japanese, with a Latin word inside
        "La programación paralela en la GPU.",       # 4 Spanish
        "Trí tuệ nhân tạo và học sâu.",             # 5 Vietnamese: letters with two diacritics
        "Die Geschwindigkeit über alles.",           # 6 German
    ])
    assert index.search("研究", 5) == [1]                    # a two-character word: found by substring
    assert index.search("内存带宽", 5) == [2]                  # four characters: by trigrams
    assert index.search("并行计算的研究", 5) == [1]            # a query run that is no substring: the words in it are
    assert index.search("コンピュータ", 5) == [3] and index.search("gpu", 5)[:2] in ([3, 4], [4, 3])
    assert index.search("programacion", 5) == [4] and index.search("PROGRAMACIÓN", 5) == [4]
    assert index.search("tue hoc", 5) == [5] and index.search("uber", 5) == [6]
    assert index.contains("带宽") and not index.contains("火车")
    db.execute("DELETE FROM passages WHERE id = 1")
    assert index.search("研究", 5) == []
    assert [r[0] for r in db.execute("SELECT rowid FROM passages_unspaced ORDER BY rowid")] == [2, 3]  # CJK only

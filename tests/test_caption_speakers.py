"""Speakers that captions name (WebVTT voice tags) on a talk whose details name none: each search result says who
speaks at its moment, and the speaker filter (search, talks, the filter menu) finds the talk by them, in the API,
the CLI, the search page and MCP alike. The talk is indexed from its captions: nothing is transcribed."""

from __future__ import annotations

import html
import json
import shutil

import pytest

from talksearch.library import Library
from tests.helpers import DATA, TRUTH, talksearch
from tests.service_fixtures import index_quietly, serving, settings_for

# What these check does not depend on the embedding model (conftest's light_embedding).
pytestmark = pytest.mark.usefixtures("light_embedding")

# t01's four sentences, as a panel's captions voice them; the talk's details (a bare local file) name no speaker
VOICES = ["Bernard Quist", "Bernard Quist", "Tomasz Wielki", "Audience member"]
SENTENCES = [s["text"] for s in TRUTH["t01"]["sentences"]]


def _stamp(seconds: float) -> str:
    return f"{int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}:{seconds % 60:06.3f}"


@pytest.fixture(scope="module")
def library(light_embedding, tmp_path_factory):
    folder = tmp_path_factory.mktemp("caption-speakers")
    recordings = folder / "recordings"
    recordings.mkdir()
    shutil.copy(DATA / "t01.ogg", recordings / "panel.ogg")
    cues = [f"{_stamp(s['start'])} --> {_stamp(s['end'])}\n<v {voice}>{s['text']}"
            for s, voice in zip(TRUTH["t01"]["sentences"], VOICES)]
    (recordings / "panel.en.vtt").write_text("WEBVTT\n\n" + "\n\n".join(cues) + "\n")
    settings = settings_for(folder / "library")
    index_quietly(settings, [str(recordings)], added=1)
    return settings.library


def _search(library, query: str, *flags: str) -> dict:
    result = talksearch("search", query, "--library", str(library), "--json", *flags)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.models
def test_a_result_names_the_speaker_of_its_first_sentence(library):
    found = _search(library, "each rank uploads its own part", "--limit", "20")["results"]
    assert found and all(r["talk"]["speakers"] == [] for r in found)  # the details name nobody
    speaker_at = {r["start"]: r["speaker"] for r in found}
    for sentence, voice in zip(TRUTH["t01"]["sentences"], VOICES):
        assert speaker_at.get(round(sentence["start"], 2), voice) == voice, (sentence, found)
    top = found[0]
    assert top["text"] == SENTENCES[2] and top["speaker"] == "Tomasz Wielki", top
    # the CLI's own lines say who speaks before what is said, as the talk page labels a sentence
    text = talksearch("search", "each rank uploads its own part", "--library", str(library), "--limit", "1")
    assert f"Tomasz Wielki: {SENTENCES[2]}" in text.stdout, text.stdout


@pytest.mark.models
def test_the_speaker_filter_finds_a_talk_by_the_speakers_its_captions_name(library):
    for name in ("Tomasz Wielki", "TOMASZ WIELKI", "audience member"):  # as a details speaker matches: case aside
        found = _search(library, "object storage bucket", "--speaker", name)["results"]
        assert found, f"--speaker {name!r} found nothing"
        # the talk's every moment is searched, each saying who speaks in it (not only the named speaker's)
        assert found[0]["text"] == SENTENCES[1] and found[0]["speaker"] == "Bernard Quist", found[0]
    assert _search(library, "object storage bucket", "--speaker", "Nobody Here")["results"] == []
    # the other filters still hold beside it
    elsewhere = _search(library, "object storage bucket", "--speaker", "Tomasz Wielki", "--event", "Elsewhere")
    assert elsewhere["results"] == []
    listing = talksearch("talks", "--library", str(library), "--speaker", "Tomasz Wielki", "--json")
    assert json.loads(listing.stdout)["total"] == 1, listing.stdout + listing.stderr
    with Library.open(library) as opened:
        assert {"Bernard Quist", "Tomasz Wielki", "Audience member"} <= set(opened.facets()["speakers"])


@pytest.mark.models
def test_the_api_the_search_page_and_mcp_name_each_moments_speaker(library):
    with serving(settings_for(library)) as server:
        api = server.get("/api/search", params={"q": "object storage bucket", "speaker": "Tomasz Wielki"}).json()
        assert api["results"] and api["results"][0]["speaker"] == "Bernard Quist", api
        assert "Tomasz Wielki" in server.get("/api/facets").json()["speakers"]
        page = server.get("/", params={"q": "each rank uploads its own part", "speaker": "Tomasz Wielki"}).text
        assert '<span class="speaker" dir="auto">Tomasz Wielki</span>' in page, page
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "search_talks", "arguments": {
            "query": "each rank uploads its own part", "limit": 1, "speaker": ["Tomasz Wielki"]}}}
        answer = server.client.post("/mcp", json=call, headers={"Accept": "application/json, text/event-stream",
                                                                 "MCP-Protocol-Version": "2025-06-18"})
        assert answer.status_code == 200, answer.text
        (moment,) = answer.json()["result"]["structuredContent"]["moments"]
        assert moment["speaker"] == "Tomasz Wielki", moment


@pytest.mark.models
def test_a_speaker_name_is_escaped_on_the_search_page(tmp_path):
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    shutil.copy(DATA / "t01.ogg", recordings / "hostile.ogg")
    first = TRUTH["t01"]["sentences"][0]
    (recordings / "hostile.en.vtt").write_text(
        f"WEBVTT\n\n{_stamp(first['start'])} --> {_stamp(first['end'])}\n<v Eve &lt;b&gt;>{first['text']}\n")
    settings = settings_for(tmp_path / "library")
    index_quietly(settings, [str(recordings)], added=1)
    with serving(settings) as server:
        page = server.get("/", params={"q": "ocean simulations"}).text
        assert '<span class="speaker" dir="auto">Eve &lt;b&gt;</span>' in page, page
        assert "Eve <b>" not in page
        assert html.unescape("Eve &lt;b&gt;") in {r["speaker"] for r in server.get(
            "/api/search", params={"q": "ocean simulations"}).json()["results"]}

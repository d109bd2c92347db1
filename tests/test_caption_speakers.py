"""Speakers that captions name (WebVTT voice tags) on a talk whose details name none: each search result says who
speaks at its moment, and the speaker filter (search, talks, the filter menu) finds the talk by them, in the API,
the CLI, the search page and MCP alike; the widget and the search embed name who says each moment too (on a copy
whose details list speakers as well). The talk is indexed from its captions: nothing is transcribed."""

from __future__ import annotations

import html
import json
import re
import shutil
import sqlite3

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
        framed = server.get("/embed", params={"q": "ocean simulations"}).text  # the search embed, as the page
        assert '<bdi class="speaker" dir="auto">Eve &lt;b&gt;</bdi>' in framed, framed
        assert "Eve <b>" not in framed
        assert html.unescape("Eve &lt;b&gt;") in {r["speaker"] for r in server.get(
            "/api/search", params={"q": "ocean simulations"}).json()["results"]}


# --- the widget and the search embed ----------------------------------------------------------------

LISTED = ["Bernard Quist", "Ines Moreau"]  # the talk's details, in the copy below: its host and a guest
HOSTILE_NAME = '<img src=x onerror="window.__pwned=1">'
RANK_QUERY = "each rank uploads its own part"


@pytest.fixture(scope="module")
def listed_library(library, tmp_path_factory):
    """The panel's library with speakers in the talk's details, as a conference page lists them: the host, whose
    moments the captions also voice, and a guest; the captions' other voices are named by them alone."""
    copy = tmp_path_factory.mktemp("caption-speakers-listed") / "library"
    shutil.copytree(library, copy)
    with sqlite3.connect(copy / "catalog.sqlite") as db:
        db.execute("UPDATE talks SET speakers = ?", (json.dumps(LISTED),))
    db.close()
    return copy


def _people(speaker: str | None) -> list[str]:
    """The names a result's meta line gives, in order: who says the moment, then the talk's other speakers."""
    return ([speaker] if speaker else []) + [name for name in LISTED if name != speaker]


def _names_in(meta: str) -> list[str]:
    """The names a result's meta line of the search embed isolates, in order."""
    return [html.unescape(name) for name in re.findall(r"<bdi[^>]*>(.*?)</bdi>", meta)]


@pytest.mark.models
def test_the_search_embed_names_who_says_each_moment(listed_library):
    with serving(settings_for(listed_library)) as server:
        api = server.get("/api/search", params={"q": RANK_QUERY, "limit": 20}).json()["results"]
        framed = server.get("/embed", params={"q": RANK_QUERY, "limit": 20}).text
    items = re.findall(r"<li>(.*?)</li>", framed, re.S)
    assert len(items) == len(api) and {r["speaker"] for r in api} >= {"Tomasz Wielki", "Bernard Quist"}, api
    for result, item in zip(api, items):
        meta = re.search(r'<span class="meta">(.*?)</span>\s*<p', item, re.S)
        assert meta, item
        names = _names_in(meta.group(1))
        # who says it first, isolated as the search page's (dir=auto), and not again among the talk's speakers
        assert f'<bdi class="speaker" dir="auto">{html.escape(result["speaker"])}</bdi>' in meta.group(1), item
        assert names == _people(result["speaker"]), (result, item)


def _meta_names(result: dict, speaker: str | None) -> list[str]:
    """The names the widget's meta line isolates, in order: the people, then the talk's event or channel."""
    return _people(speaker) + [name for name in [result["talk"]["event"] or result["talk"]["channel"]] if name]


@pytest.fixture(scope="module")
def panel_site(listed_library):
    """The service over the listed copy under uvicorn, and a page of another origin that embeds its widget."""
    from tests.test_widget import Api, HostSite, _embedded

    api, site = Api(listed_library), HostSite()
    yield api, site.page("/panel", _embedded(api))
    api.close()
    site.close()


@pytest.mark.browser
@pytest.mark.models
def test_the_widget_names_who_says_each_moment(panel_site, browser):
    from tests.test_widget import Visit

    api, page = panel_site
    expected = api.search(RANK_QUERY)["results"]
    assert {r["speaker"] for r in expected} >= {"Tomasz Wielki", "Bernard Quist"}, expected
    visit = Visit(browser, page)
    visit.search(RANK_QUERY)
    options = visit.page.locator("talk-search [role=option]")
    assert options.count() == len(expected)
    for index, result in enumerate(expected):
        meta = options.nth(index).locator(".meta").first
        # who says it first, its own bidi isolate (dir=auto, as the search page's), then the talk's other
        # speakers: a listed speaker who says it is not named twice
        speaker = meta.locator(".speaker")
        assert speaker.count() == 1, meta.inner_html()
        assert (speaker.text_content(), speaker.get_attribute("dir")) == (result["speaker"], "auto")
        assert speaker.evaluate("e => e.localName") == "bdi"
        assert meta.locator("bdi").all_text_contents() == _meta_names(result, result["speaker"])
    assert visit.errors == []
    visit.close()


@pytest.mark.browser
@pytest.mark.models
def test_the_widget_shows_a_hostile_speaker_as_text_and_works_without_the_field(panel_site, browser):
    """A name from captions is text, never HTML; and an older server, which sends no `speaker`, still gets the
    talk's speakers as before."""
    from tests.test_widget import Visit

    api, page = panel_site
    expected = api.search(RANK_QUERY)["results"]
    visit = Visit(browser, page)

    def rewritten(route):  # the real answer, the first result's speaker hostile and the others' left out
        answer = route.fetch()
        data = answer.json()
        data["results"][0]["speaker"] = HOSTILE_NAME
        for result in data["results"][1:]:
            del result["speaker"]
        route.fulfill(response=answer, json=data)

    visit.context.route(re.compile(r"/api/search\?"), rewritten)
    visit.search(RANK_QUERY)
    options = visit.page.locator("talk-search [role=option]")
    assert options.count() == len(expected) >= 2
    first = options.nth(0).locator(".meta").first
    assert first.locator(".speaker").text_content() == HOSTILE_NAME
    assert first.locator("bdi").all_text_contents() == _meta_names(expected[0], HOSTILE_NAME)
    for index in range(1, options.count()):
        meta = options.nth(index).locator(".meta").first
        assert meta.locator(".speaker").count() == 0
        assert meta.locator("bdi").all_text_contents() == _meta_names(expected[index], None)
    assert visit.shadow("return root.querySelectorAll('img').length") == 0
    visit.page.wait_for_timeout(300)  # an onerror would have fired by now; a wait, not an assertion
    assert visit.page.evaluate("() => window.__pwned") is None
    assert visit.errors == []
    visit.close()

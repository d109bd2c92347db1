"""A search within talks (``talk=``): an id the library lacks is said by every surface that takes one (the API, /embed,
MCP, the widget), not answered with an empty search; and the search page tells apart talks searched within that
share a title.

The library is built here from captions alone (no transcription): t01 and t02 as local recordings, each with a
sidecar .info.json titling both "chap", by two speakers on two dates.
"""

from __future__ import annotations

import json
import re
import shutil
from html import unescape

import anyio
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.helpers import DATA, TRUTH
from tests.service_fixtures import assert_error, index_quietly, serving, settings_for
from tests.test_widget import CHROMIUM, Visit, host_site  # noqa: F401 (a fixture)

pytestmark = pytest.mark.models

GONE = "0123456789ab"  # a talk id no library here holds (removed since the link was made, or mistyped)
SPEAKERS = {"t01": ("Ann Lee", "20240105"), "t02": ("Bo Chen", "20240210")}


@pytest.fixture(scope="module")
def site(light_embedding, tmp_path_factory):
    """The service over the two talks titled "chap", and their ids by speaker."""
    folder = tmp_path_factory.mktemp("chap")
    for name, (speaker, date) in SPEAKERS.items():
        recording = folder / f"{name}.ogg"
        shutil.copy(DATA / f"{name}.ogg", recording)
        cues = [f"00:00:{int(s['start']):02d}.000 --> 00:00:{int(s['end']):02d}.000\n{s['text']}"
                for s in TRUTH[name]["sentences"]]
        recording.with_suffix(".en.vtt").write_text("WEBVTT\n\n" + "\n\n".join(cues) + "\n")
        recording.with_suffix(".info.json").write_text(json.dumps({"title": "chap", "creator": speaker,
                                                                   "upload_date": date}))
    settings = settings_for(tmp_path_factory.mktemp("library") / "library")
    index_quietly(settings, [str(folder)], added=2)
    with serving(settings) as server:
        talks = server.get("/api/talks").json()["talks"]
        yield server, {t["speakers"][0]: t["id"] for t in talks}


def test_the_api_refuses_a_search_within_a_talk_the_library_lacks_naming_it(site):
    server, ids = site
    error = assert_error(server.get("/api/search", params={"q": "storage", "talk": GONE}), 404, "not_found")
    assert error["message"] == f"no talk '{GONE}' in this library"
    # one of several unknown: that one named, not the search of the others
    error = assert_error(server.get("/api/search", params={"q": "storage", "talk": [ids["Ann Lee"], GONE]}), 404)
    assert error["message"] == f"no talk '{GONE}' in this library"
    error = assert_error(server.get("/api/search", params={"q": "storage", "talk": [GONE, "fedcba987654"]}), 404)
    assert error["message"] == f"no talks '{GONE}', 'fedcba987654' in this library"
    # a feed subscribed to within a talk since removed: told so, not an empty feed for ever
    error = assert_error(server.get("/api/search.atom", params={"q": "storage", "talk": GONE}), 404)
    assert error["message"] == f"no talk '{GONE}' in this library"
    assert server.get("/api/search.atom", params={"q": "storage", "talk": ids["Bo Chen"]}).status_code == 200
    known = server.get("/api/search", params={"q": "storage", "talk": ids["Bo Chen"]})
    assert known.status_code == 200 and {r["talk"]["id"] for r in known.json()["results"]} == {ids["Bo Chen"]}


def test_an_embedded_search_within_a_talk_the_library_lacks_says_so(site):
    """A page for the iframe (framed where the embeds are), with a 404, rather than "Nothing found" or a blank box."""
    server, ids = site
    for query in ({"q": "storage", "talk": GONE}, {"talk": [ids["Ann Lee"], GONE]}):
        page = server.get("/embed", params=query, headers={"Accept": "text/html"})
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        assert f"Cannot search: no talk '{GONE}' in this library." in unescape(page.text)
        assert "frame-ancestors *" in page.headers["content-security-policy"]  # the embed's own policy
        assert 'class="time"' not in page.text
    # a client that asks for no page (a script, a fuzzer): the one error shape
    error = assert_error(server.get("/embed", params={"q": "storage", "talk": GONE}), 404, "not_found")
    assert error["message"] == f"no talk '{GONE}' in this library"
    known = server.get("/embed", params={"q": "storage", "talk": ids["Bo Chen"]})
    assert known.status_code == 200 and 'class="time"' in known.text
    # oEmbed hands out no iframe of a search that would be refused
    error = assert_error(server.get("/oembed", params={"url": f"{server.base}/?q=storage&talk={GONE}"}), 404)
    assert error["message"] == f"no talk '{GONE}' in this library"


def test_mcp_search_within_a_talk_the_library_lacks_is_a_tool_error(site):
    server, ids = site

    async def run():
        async with httpx2.AsyncClient(timeout=120) as client, \
                streamable_http_client(f"{server.base}/mcp", http_client=client) as (read, write), \
                ClientSession(read, write) as session:
            await session.initialize()
            return [await session.call_tool("search_talks", {"query": "storage", "talk": talks})
                    for talks in ([GONE], [ids["Ann Lee"], GONE], [ids["Bo Chen"]])]

    gone, one_of_two, known = anyio.run(run)
    for result in (gone, one_of_two):
        assert result.is_error and result.content[0].text == f"no talk '{GONE}' in this library", result
    assert not known.is_error and {m["talk"]["id"] for m in known.structured_content["moments"]} == {ids["Bo Chen"]}


def test_the_search_page_tells_apart_talks_of_one_title(site):
    """Two talks searched within, both titled "chap": each named with its speakers and date, as a result is."""
    server, ids = site
    for path in ("/", "/results"):
        html = server.get(path, params={"q": "storage", "talk": [ids["Ann Lee"], ids["Bo Chen"]]}).text
        scope = re.search(r'<p class="meta scope">(.*?)</p>', html, re.S)[1]
        said = " ".join(unescape(re.sub(r"<[^>]+>", "", scope)).split())
        assert said.startswith("Searching within chap (Ann Lee · 2024-01-05 · "), said
        assert ", chap (Bo Chen · 2024-02-10 · " in said, said
        assert "</a> (<bdi>Ann Lee</bdi> · <bdi>2024-01-05</bdi> · " in scope  # each part isolated, as in a result
    # a title no other talk searched within shares: the title alone, as before
    html = unescape(server.get("/", params={"q": "storage", "talk": ids["Ann Lee"]}).text)
    assert re.search(r'Searching within <a [^>]*>chap</a>\s*·', html), html


@pytest.mark.browser
@pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(), reason="needs Debian's chromium")
def test_the_widget_searches_within_its_talks_and_says_when_the_library_lacks_one(site, host_site, browser):
    """``<talk-search talk="ID ID">`` searches within those talks, as the API's repeated ``talk=``; an id the service
    lacks is shown as the API words it, not "Nothing in these talks matches"."""
    server, ids = site
    bo, ann = ids["Bo Chen"], ids["Ann Lee"]
    url = host_site.page("/within", f'<script src="{server.base}/widget.js" defer></script>\n'
                                    f'<talk-search api="{server.base}" talk="{bo}"></talk-search>')
    visit = Visit(browser, url)
    visit.search("storage")
    assert set(visit.page.locator("talk-search [role=option] .meta").all_text_contents()) == {"Bo Chen"}
    visit.page.locator("talk-search").evaluate(f"e => e.setAttribute('talk', '{ann}  {GONE}')")
    visit.wait_event("error", query="storage")  # changing the talks searches again
    status = visit.page.locator("talk-search [role=status]")
    assert status.text_content() == f"Search failed: no talk '{GONE}' in this library" and status.is_visible()
    assert visit.page.locator("talk-search [role=listbox]").is_hidden()
    visit.close()

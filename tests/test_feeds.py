"""The Atom feeds, read back with feedparser (a feed reader's parser): a saved search and the library's talks,
over the real service and the session's real library; and the feeds made from hostile catalog text."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import feedparser
import pytest

from talksearch.library import StoredTalk
from talksearch.schemas import SearchResponse, SearchResult
from talksearch.search.searcher import talk_summary
from talksearch.service.feeds import PODCAST_NS, search_feed, talks_feed
from talksearch.service.ratelimit import _searches
from tests.service_fixtures import assert_error

pytestmark = pytest.mark.models  # a real library, indexed with the bundled models

ATOM_NS = "{http://www.w3.org/2005/Atom}"
QUERY = "object storage checkpoints"


def _parsed(response):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    return feed


def test_search_feed_lists_the_moments_newest_talks_first(api, ids):
    feed = _parsed(api.get("/api/search.atom", params={"q": QUERY, "limit": 10}))
    results = api.get("/api/search", params={"q": QUERY, "limit": 10}).json()["results"]
    assert len(feed.entries) == len(results) > 0
    assert feed.feed.title == f"talksearch: {QUERY}"
    pages = {f"{api.base}{r['page']}" for r in results}
    assert {e.link for e in feed.entries} == pages  # each entry links to its moment on this service
    for entry in feed.entries:
        assert urlsplit(entry.link).path.startswith("/talks/") and "t" in parse_qs(urlsplit(entry.link).query)
        assert entry.content[0].value in {r["text"] for r in results}
    talks = {t["id"]: t for t in api.get("/api/talks").json()["talks"]}
    talk_of = {f"{api.base}{r['page']}": r["talk"]["id"] for r in results}
    published = [talks[talk_of[e.link]]["published"] or "" for e in feed.entries]
    assert published == sorted(published, reverse=True)
    self_link = next(link.href for link in feed.feed.links if link.rel == "self")
    assert self_link.startswith(f"{api.base}/api/search.atom?") and "q=object+storage" in self_link


def test_search_feed_takes_the_api_filters_and_its_errors(api, ids):
    feed = _parsed(api.get("/api/search.atom", params={"q": QUERY, "talk": ids["t02"]}))
    assert all(ids["t02"] in e.link for e in feed.entries)
    assert_error(api.get("/api/search.atom", params={"q": "  "}), 422, "invalid_query")
    assert_error(api.get("/api/search.atom"), 422, "invalid_request")
    assert_error(api.get("/api/search.atom", params={"q": QUERY, "limit": 0}), 422, "invalid_request")


def test_search_feed_alternate_is_the_search_page_for_what_it_can_show(api, ids):
    """The page's form has no `talk` or `limit`: the feed's rel="alternate" keeps the query and the filters (every
    value of a repeated one), and leaves out the rest (the page shows more than the feed, not less)."""
    params = [("q", QUERY), ("talk", ids["t01"]), ("limit", "2"), ("speaker", "Ines Moreau"),
              ("speaker", "Kenji Watanabe"), ("event", "Test Fixtures Summit 2024")]
    feed = _parsed(api.get("/api/search.atom", params=params))
    links = {link.rel: link.href for link in feed.feed.links}
    assert links["alternate"] == (f"{api.base}/?q=object+storage+checkpoints&speaker=Ines+Moreau"
                                  "&speaker=Kenji+Watanabe&event=Test+Fixtures+Summit+2024")
    assert "talk=" in links["self"] and links["self"].count("speaker=") == 2  # the feed's own link keeps them all
    page = api.get(links["alternate"].removeprefix(api.base)).text
    assert f'href="/talks/{ids["t01"]}?t=' in page


def test_talks_feed_links_every_transcript(api, ids):
    response = api.get("/talks.atom")
    feed = _parsed(response)
    assert len(feed.entries) == 3
    assert {e.link for e in feed.entries} == {f"{api.base}/talks/{i}" for i in ids.values()}
    root = ET.fromstring(response.content)
    for entry in root.iter(f"{ATOM_NS}entry"):
        transcripts = {t.get("type"): t.get("url") for t in entry.iter(f"{{{PODCAST_NS}}}transcript")}
        vtt = api.get(transcripts["text/vtt"])
        assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT")
    assert len(_parsed(api.get("/talks.atom", params={"limit": 1})).entries) == 1
    # A filtered feed is a feed of its own: its id and self link keep the filter (readers tell them apart).
    speakers = _parsed(api.get("/talks.atom", params={"speaker": "Ines Moreau"}))
    assert speakers.feed.id == f"{api.base}/talks.atom?speaker=Ines+Moreau"
    assert {link.rel: link.href for link in speakers.feed.links}["self"] == speakers.feed.id


def test_search_page_offers_the_feed_of_its_query(api):
    page = api.get("/", params={"q": QUERY, "speaker": "Ines Moreau"}).text
    href = "/api/search.atom?q=object+storage+checkpoints&amp;speaker=Ines+Moreau"
    assert f'<link rel="alternate" type="application/atom+xml" title="talksearch: {QUERY}" href="{href}">' in page
    assert f'<a class="feed" href="{href}"' in page
    assert 'type="application/atom+xml" title="talksearch: talks" href="/talks.atom"' in api.get("/").text


HOSTILE = '</title><script>alert(1)</script>\x00 & "quotes" \x0b'


def test_feeds_escape_hostile_catalog_text():
    talk = StoredTalk(extractor="Generic", source_id="abc", url="https://example.org/x?a=1&b=<2>", title=HOSTILE,
                      speakers=[HOSTILE], published="2024-05-14", indexed_at="2024-05-15T10:00:00+00:00",
                      description=HOSTILE, duration=10.0, stored_id="abc")
    result = SearchResult(talk=talk_summary(talk), start=1.5, end=3,
                          text=HOSTILE, score=1, link="https://example.org/x#t=1", page="/talks/abc?t=1.5")
    response = SearchResponse(query=HOSTILE, took_ms=1, results=[result])
    for body in (search_feed("http://h", [("q", HOSTILE)], response, {"abc": talk}, "q=x"),
                 talks_feed("http://h", [], [talk])):
        feed = feedparser.parse(body)
        assert not feed.bozo, feed.get("bozo_exception")
        assert b"<script>" not in body
        assert feed.entries[0].title.startswith('</title><script>alert(1)</script> & "quotes"')


@pytest.mark.parametrize("method, path, query, counted", [
    ("GET", "/api/search.atom", b"q=x", True), ("GET", "/embed", b"q=x", True), ("GET", "/embed", b"", False),
    ("POST", "/mcp", b"", True), ("GET", "/talks.atom", b"", False), ("GET", "/oembed", b"url=x", False),
])
def test_feeds_embeds_and_mcp_count_as_searches(method, path, query, counted):
    assert _searches({"method": method, "path": path, "query_string": query}) is counted

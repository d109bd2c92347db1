"""The Atom feeds, read back with feedparser (a feed reader's parser): a saved search and the library's talks,
over the real service and the session's real library (and one of talks that say "Kubernetes", for a new talk
the search ranks last); and the feeds made from hostile catalog text."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import feedparser
import pytest

from talksearch.library import Library, StoredTalk
from talksearch.schemas import SearchResponse, SearchResult
from talksearch.search.searcher import talk_summary
from talksearch.service.feeds import PODCAST_NS, search_feed, talks_feed
from talksearch.service.ratelimit import _searches
from talksearch.timecode import clock
from tests.helpers import DATA
from tests.service_fixtures import assert_error, copy_library, index_quietly, serving, settings_for

pytestmark = pytest.mark.models  # a real library, indexed with the bundled models

ATOM_NS = "{http://www.w3.org/2005/Atom}"
QUERY = "object storage checkpoints"


def _parsed(response):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    return feed


def test_a_search_feed_never_drops_its_quotes(api):
    """A subscription to a "quoted phrase" is to it: no moment holds "storage object", so the feed is empty where
    the search answers the words unquoted (quotes_dropped)."""
    assert api.get("/api/search", params={"q": '"storage object"'}).json()["quotes_dropped"] is True
    assert _parsed(api.get("/api/search.atom", params={"q": '"storage object"'})).entries == []
    assert _parsed(api.get("/api/search.atom", params={"q": '"object storage"'})).entries


def test_search_feed_lists_the_talks_newest_first_each_at_its_best_moment(api, ids):
    feed = _parsed(api.get("/api/search.atom", params={"q": QUERY, "limit": 10}))
    # One entry per talk that says it, at the moment the search ranks first in it (what group=talk gives)
    results = api.get("/api/search", params={"q": QUERY, "limit": 50, "group": "talk"}).json()["results"]
    assert len(feed.entries) == len(results) == len(ids) - 1  # the local talk is a copy of t01's recording: one
    assert feed.feed.title == f"talksearch: {QUERY}"
    pages = {f"{api.base}{r['page']}" for r in results}
    assert {e.link for e in feed.entries} == {e.id for e in feed.entries} == pages
    by_page = {f"{api.base}{r['page']}": r for r in results}
    for entry in feed.entries:
        assert urlsplit(entry.link).path.startswith("/talks/") and "t" in parse_qs(urlsplit(entry.link).query)
        assert entry.content[0].value in {r["text"] for r in results}
        moment = by_page[entry.link]  # titled with its moment as the pages write it (tests/test_dates.py: an hour in)
        assert entry.title == f"{moment['talk']['title']} at {clock(moment['start'])}"
    # Newest first: by the date published, else (the local copy has none) the date indexed (the entry's <updated>)
    dates = [e.get("published_parsed") or e.updated_parsed for e in feed.entries]
    assert dates == sorted(dates, reverse=True)
    if any(f"/talks/{ids['local']}?" in e.link for e in feed.entries):  # the copy that ranks first stands for both
        assert f"/talks/{ids['local']}?" in feed.entries[0].link and "published" not in feed.entries[0]
    self_link = next(link.href for link in feed.feed.links if link.rel == "self")
    assert self_link.startswith(f"{api.base}/api/search.atom?") and "q=object+storage" in self_link


NEW_TALK = "Research software on shared clusters"


@pytest.fixture(scope="module")
def kubernetes(tmp_path_factory):
    """A service over a library where two talks of 2023 say "Kubernetes" again and again and one of 2026 says it
    once (the search ranks it last): three local recordings with captions, indexed from those (no whisper)."""
    folder = tmp_path_factory.mktemp("kubernetes")
    talks = {  # recording: (title, published, what is said); any three recordings of 5 s or more
        "t01.ogg": ("Kubernetes deep dive 1", "20230101",
                    ["Kubernetes schedules containers across a Kubernetes cluster.",
                     "In Kubernetes, a pod is the smallest unit the Kubernetes scheduler places."]),
        "t02.ogg": ("Kubernetes deep dive 2", "20230102",
                    ["Kubernetes runs containers on every node of a Kubernetes cluster.",
                     "The Kubernetes scheduler places each Kubernetes pod on a node."]),
        "silence.ogg": (NEW_TALK, "20261101",
                        ["We package our research software with Spack environments.",
                         "Next year we will also deploy it on Kubernetes."]),
    }
    for recording, (title, published, said) in talks.items():
        stem = recording.removesuffix(".ogg")
        shutil.copy(DATA / recording, folder / recording)
        (folder / f"{stem}.en.vtt").write_text(
            f"WEBVTT\n\n00:00:00.500 --> 00:00:02.000\n{said[0]}\n\n00:00:02.500 --> 00:00:04.500\n{said[1]}\n")
        (folder / f"{stem}.info.json").write_text(json.dumps({"title": title, "upload_date": published}))
    settings = settings_for(tmp_path_factory.mktemp("kubernetes-lib") / "library")
    index_quietly(settings, [str(folder)], added=3)
    with serving(settings) as server:
        yield server


def test_search_feed_shows_a_new_talk_that_older_talks_outrank(kubernetes):
    """A subscription is for what is new: the feed's `limit` talks are the newest of the relevant ones, not the
    most relevant, so a new talk that says it once appears above older talks that say it more."""
    params = {"q": "Kubernetes", "limit": 2}
    best = kubernetes.get("/api/search", params=params).json()["results"]
    assert NEW_TALK not in {r["talk"]["title"] for r in best}  # the search ranks the new talk below the limit
    feed = _parsed(kubernetes.get("/api/search.atom", params=params))
    assert [e.title.split(" at ")[0] for e in feed.entries] == [NEW_TALK, "Kubernetes deep dive 2"]
    assert "deploy it on Kubernetes" in feed.entries[0].content[0].value
    grouped = kubernetes.get("/api/search", params={"q": "Kubernetes", "group": "talk"}).json()["results"]
    moment = {r["talk"]["title"]: f"{kubernetes.base}{r['page']}" for r in grouped}
    assert [e.id for e in feed.entries] == [moment[NEW_TALK], moment["Kubernetes deep dive 2"]]
    assert len(_parsed(kubernetes.get("/api/search.atom", params={"q": "Kubernetes", "limit": 1})).entries) == 1


@pytest.mark.parametrize("query", ["xyzzy", "power capping"])
def test_search_feed_of_a_query_no_deeper_talk_says_is_the_searchs_best(api, query):
    """A search by meaning ranks every talk: a talk below the first `limit` joins the feed only when its moment says
    the query's words. A query the library's talks do not say gives the talk the search ranks first, not the
    library's newest whatever the query."""
    ranked = api.get("/api/search", params={"q": query, "limit": 50, "group": "talk"}).json()["results"]
    # every talk (t01 and its local copy as one); none says it
    assert len(ranked) == 2 and not any("<mark>" in r["snippet"] for r in ranked)
    feed = _parsed(api.get("/api/search.atom", params={"q": query, "limit": 1}))
    assert [e.id for e in feed.entries] == [f"{api.base}{ranked[0]['page']}"]


@pytest.mark.parametrize("query", ["the on", "on the"])
def test_search_feed_of_function_words_alone_adds_no_deeper_talk(kubernetes, query):
    """With no content word in the query, the search marks its function words wherever they are said: that is no
    sign a deeper talk is about the query, so the feed is the search's best `limit` talks, not the newest talk
    that says "on" or "we"."""
    ranked = kubernetes.get("/api/search", params={"q": query, "limit": 50, "group": "talk"}).json()["results"]
    assert len(ranked) == 3 and all("<mark>" in r["snippet"] for r in ranked[1:])  # the deeper talks "say" it
    assert ranked[0]["talk"]["title"] != NEW_TALK  # which the newest-first feed would show
    feed = _parsed(kubernetes.get("/api/search.atom", params={"q": query, "limit": 1}))
    assert [e.id for e in feed.entries] == [f"{kubernetes.base}{ranked[0]['page']}"]


def test_search_feed_takes_the_api_filters_and_its_errors(api, ids):
    feed = _parsed(api.get("/api/search.atom", params={"q": QUERY, "talk": ids["t02"]}))
    assert all(ids["t02"] in e.link for e in feed.entries)
    assert_error(api.get("/api/search.atom", params={"q": "  "}), 422, "invalid_query")
    assert_error(api.get("/api/search.atom"), 422, "invalid_request")
    assert_error(api.get("/api/search.atom", params={"q": QUERY, "limit": 0}), 422, "invalid_request")


def test_search_feed_alternate_is_the_search_page_for_what_it_can_show(api, ids):
    """The feed's rel="alternate" keeps the query, the talks it searches within and the filters (every value of a
    repeated one), which the page's form holds, so that the page searches what the feed does; ``limit`` is the
    feed's own."""
    params = [("q", QUERY), ("talk", ids["t01"]), ("limit", "2"), ("speaker", "Ines Moreau"),
              ("speaker", "Kenji Watanabe"), ("event", "Test Fixtures Summit 2024")]
    feed = _parsed(api.get("/api/search.atom", params=params))
    links = {link.rel: link.href for link in feed.feed.links}
    assert links["alternate"] == (f"{api.base}/?q=object+storage+checkpoints&talk={ids['t01']}&speaker=Ines+Moreau"
                                  "&speaker=Kenji+Watanabe&event=Test+Fixtures+Summit+2024")
    assert "talk=" in links["self"] and links["self"].count("speaker=") == 2  # the feed's own link keeps them all
    page = api.get(links["alternate"].removeprefix(api.base)).text
    assert set(re.findall(r'class="title" href="/talks/([^"?]+)\?t=', page)) == {ids["t01"]}


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
    whole = _parsed(response)
    assert whole.feed.title == "talksearch: talks"
    assert {link.rel: link.href for link in whole.feed.links}["alternate"] == f"{api.base}/"


def test_feeds_write_atom_as_their_one_namespace_and_each_entrys_language(api, ids):
    """Every Atom element is in the feed's default namespace (a related link was written <ns0:link xmlns:ns0=...>,
    the Atom namespace again under a prefix of its own), and each entry says its talk's language (xml:lang), so a
    reader reads a German talk's title and moment as German."""
    languages = {t["id"]: t["language"] for t in api.get("/api/talks").json()["talks"]}
    assert set(languages.values()) - {None}, languages  # the library has talks with a language to say
    for path, params in (("/api/search.atom", {"q": QUERY, "limit": 10}), ("/talks.atom", {})):
        response = api.get(path, params=params)
        feed = _parsed(response)
        assert b"ns0" not in response.content and response.content.count(b'xmlns="http://www.w3.org/2005/Atom"') == 1
        entries = list(ET.fromstring(response.content).iter(f"{ATOM_NS}entry"))
        assert entries and len(entries) == len(feed.entries), path
        for entry in entries:
            talk_id = urlsplit(entry.find(f"{ATOM_NS}id").text).path.rsplit("/", 1)[1]
            assert entry.get("{http://www.w3.org/XML/1998/namespace}lang") == languages[talk_id], (path, talk_id)
        if path == "/api/search.atom":  # its moments' media links are Atom's links still
            related = [link for e in entries for link in e.iter(f"{ATOM_NS}link") if link.get("rel") == "related"]
            assert len(related) == len(entries), path


def test_a_filtered_talks_feed_is_named_and_offered_by_its_talk_list(api, ids):
    """A speaker's feed is not the library's: its title names the filters, its page (the alternate) is the talk
    list with them, and that page's discovery link is that feed."""
    params = [("speaker", "Ines Moreau"), ("language", "en-US"), ("published_after", "2024-01-01"), ("limit", "5")]
    feed = _parsed(api.get("/talks.atom", params=params))
    title = "talksearch: talks (speaker: Ines Moreau; language: en; published: from 2024-01-01)"
    assert feed.feed.title == title
    assert [e.link for e in feed.entries] == [f"{api.base}/talks/{ids['t01']}"]
    alternate = {link.rel: link.href for link in feed.feed.links}["alternate"]
    assert alternate == f"{api.base}/?speaker=Ines+Moreau&language=en-US&published_after=2024-01-01"
    page = api.get(alternate.removeprefix(api.base)).text
    assert f'href="/talks/{ids["t01"]}"' in page and f'href="/talks/{ids["t02"]}"' not in page
    href = "/talks.atom?speaker=Ines+Moreau&amp;language=en&amp;published_after=2024-01-01"
    assert f'<link rel="alternate" type="application/atom+xml" title="{title}" href="{href}">' in page
    assert _parsed(api.get(href.replace("&amp;", "&"))).feed.title == title


def test_a_feed_without_entries_was_updated_when_the_library_last_changed(api):
    """A speaker's feed before any talk of theirs said <updated>1970-01-01 (an interop hunt): a reader showed it as
    last changed then. It says when the library last changed: here, when its newest talk was indexed."""
    whole = _parsed(api.get("/talks.atom"))
    for path, params in (("/talks.atom", {"speaker": "Nobody Yet"}),
                         ("/api/search.atom", {"q": QUERY, "speaker": "Nobody Yet"})):
        empty = _parsed(api.get(path, params=params))
        assert empty.entries == [] and empty.feed.updated == whole.feed.updated, (path, empty.feed.updated)


def test_a_filtered_search_feed_is_named_by_its_filters_too(api):
    """Two subscriptions to one query, one a speaker's, were both "talksearch: object storage" in a reader (an
    interop hunt): the search feed's title names its filters as the talks feed's does."""
    params = {"q": QUERY, "speaker": "Ines Moreau", "language": "en"}
    assert _parsed(api.get("/api/search.atom", params=params)).feed.title == (
        f"talksearch: {QUERY} (speaker: Ines Moreau; language: en)")
    assert _parsed(api.get("/api/search.atom", params={"q": QUERY})).feed.title == f"talksearch: {QUERY}"


@pytest.mark.parametrize("path, params", [("/api/search.atom", {"q": QUERY}),
                                          ("/talks.atom", {"speaker": "Ines Moreau"})])
def test_feeds_answer_conditional_requests(api, path, params):
    """Readers poll: a copy they hold that is current (its ETag) gets a 304 with no body; any other gets the feed.
    No Last-Modified: no date says when a feed changed (a removed talk changes it, not its newest talk's date), so
    an If-Modified-Since alone always gets the feed. HEAD answers the same. The ETag is weak, as the gzipped and
    the plain copy are not the same bytes, and a 304 says Vary: Accept-Encoding as its 200 does (RFC 9110 15.4.5)."""
    full = api.get(path, params=params)
    etag = full.headers["etag"]
    assert "last-modified" not in full.headers and full.headers["content-encoding"] == "gzip"
    assert etag.startswith('W/"') and full.headers["vary"].count("Accept-Encoding") == 1
    plain = {"Accept-Encoding": "identity"}
    for current in ({"If-None-Match": etag}, {"If-None-Match": f'"other", {etag.removeprefix("W/")}'},
                    {"If-None-Match": "*"}, {"If-None-Match": etag, **plain}):
        response = api.get(path, params=params, headers=current)
        assert response.status_code == 304 and response.content == b"", current
        assert response.headers["etag"] == etag and response.headers["vary"].count("Accept-Encoding") == 1
    assert api.get(path, params=params, headers=plain).headers["etag"] == etag
    for stale in ({"If-None-Match": '"other"'}, {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
                  {"If-Modified-Since": "Fri Jan  1 00:00:00 2100"}, {"If-Modified-Since": "yesterday"}):
        response = api.get(path, params=params, headers=stale)  # only the ETag decides
        assert response.status_code == 200 and response.content == full.content, stale
        assert response.headers["etag"] == etag
    head = api.client.head(path, params=params)
    assert head.status_code == 200 and head.headers["etag"] == etag and head.content == b""
    assert api.client.head(path, params=params, headers={"If-None-Match": etag}).status_code == 304


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
    for body in (search_feed("http://h", [("q", HOSTILE)], response, {"abc": talk}, "q=x").body,
                 talks_feed("http://h", [], [talk]).body):
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


def test_a_talk_with_no_date_is_listed_the_day_it_was_indexed():
    """A nightly run adds a recording with no date: it is the newest talk then, first in /api/talks, the talk
    list and /talks.atom. Sorted after every dated talk, it never reached a large library's first page."""
    library = copy_library()
    with sqlite3.connect(library / "catalog.sqlite") as catalog:
        catalog.execute("UPDATE talks SET published = '2001-01-01'")
        (newest, *_) = [row[0] for row in catalog.execute("SELECT id FROM talks ORDER BY id")]
        catalog.execute("UPDATE talks SET published = NULL, indexed_at = '2030-01-01T00:00:00+00:00' WHERE id = ?",
                        (newest,))
    with Library.open(library, readonly=True) as reader:
        assert [talk.id for talk in reader.talks(limit=1)] == [newest]


def test_talks_of_one_day_are_in_the_same_order_in_the_feed_as_in_the_talk_list():
    """/talks.atom is documented "newest first, as /api/talks"; talks published the same day came in another order
    (the feed sorted them again, by when they were indexed, the list by title)."""
    library = copy_library()
    with sqlite3.connect(library / "catalog.sqlite") as catalog:
        catalog.execute("UPDATE talks SET published = '2024-03-01'")
        # indexed in the reverse of their titles' order, so the two orders differ
        for n, (talk,) in enumerate(catalog.execute("SELECT id FROM talks ORDER BY title").fetchall()):
            catalog.execute("UPDATE talks SET indexed_at = ? WHERE id = ?", (f"2024-03-0{n + 2}T00:00:00+00:00", talk))
    catalog.close()
    with serving(settings_for(library)) as server:
        listed = [talk["id"] for talk in server.get("/api/talks").json()["talks"]]
        fed = [entry.link.rsplit("/", 1)[1] for entry in _parsed(server.get("/talks.atom")).entries]
    assert len(listed) > 1 and fed == listed

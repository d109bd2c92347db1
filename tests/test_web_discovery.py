"""Talks and their moments found from the web: a talk page's head describes it to search engines and link previews
(canonical link, description, OpenGraph, a schema.org VideoObject with its chapters or a seek action, Google's "key
moments"), a moment's link (``?t=``) previews the words said then, ``/sitemap.xml`` lists every talk page and
``/robots.txt`` names it. ``crawlable=False`` turns the invitation off. All on the real service over real libraries
(tests/service_fixtures.py); the head parsed with html.parser, the sitemap with ElementTree, robots.txt with
urllib.robotparser, as a crawler reads them."""

from __future__ import annotations

import json
import math
import sqlite3
import xml.etree.ElementTree as ET
from datetime import datetime
from html.parser import HTMLParser
from unittest import mock
from urllib.parse import quote
from urllib.robotparser import RobotFileParser

import httpx
import pytest

from talksearch.settings import Settings
from talksearch.timecode import clock, url_seconds
from tests.service_fixtures import (assert_error, copy_library, serving, settings_for, shared_library,
                                    shared_settings)

pytestmark = pytest.mark.models

SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
PUBLIC = "https://talks.example.org/ts"
FORGED = {"Host": "evil.example", "X-Forwarded-Proto": "http"}
HOSTILE_TITLE = '</script><script>alert(1)</script> Checkpointing & "restarts"'
THUMBNAIL = "https://img.example.org/t01.jpg?size=large&v=2"
CHAPTERS = [{"start_time": 0, "end_time": 7.0, "title": "Why we checkpoint"},
            {"start_time": 7.0, "end_time": None, "title": "</script>Object storage"},
            {"start_time": 7.3, "end_time": None, "title": "A chapter 0.3 s later"}]  # no Clip: one start a second
LONG_DESCRIPTION = ("Checkpoints   of ocean\n\nsimulations,\tstreamed " + "to an object store " * 40).strip()


class Head(HTMLParser):
    """What a crawler reads of a page: its <link rel>, <meta> (name or property) and every <script>'s text."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.links: dict[str, str] = {}
        self.meta: dict[str, str] = {}
        self.scripts: list[tuple[str | None, str]] = []
        self._script: str | None | bool = False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "link" and attrs.get("rel"):
            self.links.setdefault(attrs["rel"], attrs.get("href"))
        elif tag == "meta" and (key := attrs.get("name") or attrs.get("property")):
            assert key not in self.meta, f"{key} twice"
            self.meta[key] = attrs.get("content")
        elif tag == "script":
            self._script = attrs.get("type")
            self.scripts.append((self._script, ""))

    def handle_data(self, data):
        if self._script is not False:
            kind, text = self.scripts[-1]
            self.scripts[-1] = (kind, text + data)

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = False

    def video(self) -> dict:
        [data] = [text for kind, text in self.scripts if kind == "application/ld+json"]
        return json.loads(data)


def _head(client, path: str, **params) -> Head:
    page = client.get(path, params=params)
    assert page.status_code == 200, page.text
    return Head(page.text)


def _sentences(client, talk: str) -> list[dict]:
    return client.get(f"/api/talks/{talk}/transcript").json()["segments"]


def _sitemap(client, **params) -> ET.Element:
    answer = client.get("/sitemap.xml", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/xml"
    return ET.fromstring(answer.content)


def _robots(client, base: str) -> RobotFileParser:
    answer = client.get("/robots.txt")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain"), answer.text
    robots = RobotFileParser(base + "/robots.txt")
    robots.parse(answer.text.splitlines())
    return robots


def test_a_talk_page_head_describes_the_talk_to_search_engines_and_link_previews(api, ids):
    talk = ids["t01"]
    page = f"{api.base}/talks/{talk}"
    head = _head(api, f"/talks/{talk}")
    first = _sentences(api, talk)[0]["text"]
    assert head.links["canonical"] == page
    # no description of its own (a feed item without one): its first sentences, on one line, within a preview's size
    description = head.meta["description"]
    said = " ".join(s["text"] for s in _sentences(api, talk))
    assert description.startswith(first) and min(160, len(said)) <= len(description) <= 300, description
    assert head.meta["og:description"] == description
    assert head.meta["og:type"] == "video.other" and head.meta["og:site_name"] == "talksearch"
    assert head.meta["og:title"] == "Checkpointing Long-Running Simulations to Object Storage"
    assert head.meta["og:url"] == page
    assert "og:image" not in head.meta and head.meta["twitter:card"] == "summary"  # the feed names no image
    assert "robots" not in head.meta and "X-Robots-Tag" not in api.get(f"/talks/{talk}").headers  # crawlable

    video = head.video()
    assert video["@context"] == "https://schema.org" and video["@type"] == "VideoObject"
    assert video["name"] == head.meta["og:title"] and video["description"] == description
    # the day with a zone, noon UTC as the feeds write it (a bare day: Google warns "missing a timezone")
    assert video["url"] == page and video["uploadDate"] == "2024-05-14T12:00:00+00:00" and video["inLanguage"] == "en"
    detail = api.get(f"/api/talks/{talk}").json()
    duration = detail["duration"]
    # its speakers (a page's own <video> read by another library takes them: indexer's page_media_info)
    assert detail["speakers"] and video["author"] == [{"@type": "Person", "name": n} for n in detail["speakers"]]
    assert video["duration"] == f"PT{round(duration) // 60}M{round(duration) % 60}S"
    assert video["contentUrl"].startswith("http://127.0.0.1:") and video["contentUrl"].endswith("/t01.ogg")
    assert video["embedUrl"] == f"{api.base}/embed/talks/{talk}"
    assert api.get(video["embedUrl"]).status_code == 200
    assert "thumbnailUrl" not in video and "hasPart" not in video  # no image, no chapters: a seek action instead
    seek = video["potentialAction"]
    assert seek == {"@type": "SeekToAction", "target": f"{page}?t={{seek_to_second_number}}",
                    "startOffset-input": "required name=seek_to_second_number"}

    local = _head(api, f"/talks/{ids['local']}").video()
    assert "contentUrl" not in local  # played from /media, which is no media a crawler is sent to
    # no date published (a local file with no .info.json): when it was indexed, the date the talk lists give it
    detail = api.get(f"/api/talks/{ids['local']}").json()
    assert detail["published"] is None and local.get("uploadDate") == detail["indexed_at"], local


def test_a_moment_link_previews_the_words_said_at_that_second(api, ids):
    talk = ids["t01"]
    page = f"{api.base}/talks/{talk}"
    sentences = _sentences(api, talk)
    second = sentences[1]
    for asked in (second["start"], second["start"] + (second["end"] - second["start"]) / 2):
        head = _head(api, f"/talks/{talk}", t=url_seconds(asked))
        preview = head.meta["og:description"]
        assert preview.startswith(f"{clock(asked)} — {second['text']}"), (asked, preview)
        assert head.meta["description"] == preview and len(preview) <= 300
        assert head.links["canonical"] == page  # one page for all its moments
        assert head.meta["og:url"] == f"{page}?t={url_seconds(asked)}"
        assert head.video()["url"] == page
    # a clock as people paste it is the same moment, said as the page's own links say it
    within = math.ceil(second["start"])
    assert within < second["end"]
    head = _head(api, f"/talks/{talk}", t=clock(within))
    assert head.meta["og:url"] == f"{page}?t={within}"
    assert head.meta["og:description"].startswith(f"{clock(within)} — {second['text']}")


def test_the_sitemap_lists_every_talk_page_with_when_it_last_changed(api):
    talks = api.get("/api/talks", params={"limit": 1000}).json()["talks"]
    urlset = _sitemap(api)
    assert urlset.tag == f"{SITEMAP}urlset"
    entries = {url.findtext(f"{SITEMAP}loc"): url.findtext(f"{SITEMAP}lastmod") for url in urlset}
    assert set(entries) == {f"{api.base}/talks/{quote(t['id'], safe='')}" for t in talks}
    for talk in talks:
        detail = api.get(f"/api/talks/{talk['id']}").json()
        lastmod = datetime.fromisoformat(entries[f"{api.base}/talks/{talk['id']}"])
        assert lastmod.tzinfo is not None
        assert lastmod == datetime.fromisoformat(detail["details_changed_at"] or detail["indexed_at"]).replace(
            microsecond=0)


def test_a_sitemap_over_its_size_is_an_index_of_sitemap_pages(api):
    from talksearch.service.routes import crawlers

    talks = api.get("/api/talks", params={"limit": 1000}).json()["talks"]
    assert len(talks) == 3
    with mock.patch.object(crawlers, "SITEMAP_URLS", 2):  # 50,000 in a real one: 3 talks make two pages of 2
        index = _sitemap(api)
        assert index.tag == f"{SITEMAP}sitemapindex"
        pages = [entry.findtext(f"{SITEMAP}loc") for entry in index]
        assert pages == [f"{api.base}/sitemap.xml?page=1", f"{api.base}/sitemap.xml?page=2"]
        listed = [[url.findtext(f"{SITEMAP}loc") for url in _sitemap(api, page=n)] for n in (1, 2)]
        assert [len(urls) for urls in listed] == [2, 1]
        assert set(listed[0] + listed[1]) == {f"{api.base}/talks/{t['id']}" for t in talks}
        assert_error(api.get("/sitemap.xml", params={"page": 3}), 404, "not_found")
    assert_error(api.get("/sitemap.xml", params={"page": 0}), 422)


def test_robots_txt_lets_crawlers_read_the_pages_only_and_names_the_sitemap(api, ids):
    robots = _robots(api, api.base)
    assert robots.site_maps() == [f"{api.base}/sitemap.xml"]
    # the talk's player, the VideoObject's embedUrl: Google asks that it not be blocked
    for allowed in ("/", f"/talks/{ids['t01']}", f"/talks/{ids['t01']}?t=7", "/talks.atom", "/sitemap.xml",
                    f"/embed/talks/{ids['t01']}", f"/embed/talks/{ids['t01']}?t=7"):
        assert robots.can_fetch("Googlebot", api.base + allowed), allowed
    for refused in ("/api/search?q=storage", f"/api/talks/{ids['t01']}/transcript.vtt", "/results?q=storage",
                    "/?q=storage", "/?q=storage&speaker=Ines+Moreau", "/embed?q=storage",
                    f"/media/{ids['local']}", "/oembed?url=x", "/mcp", "/docs", "/openapi.json", "/healthz", "/metrics"):
        assert not robots.can_fetch("Googlebot", api.base + refused), refused


def _hostile_library():
    """A copy of the shared library whose t01 a hostile source described: a title that closes the script it is
    written into, chapters, an image and a long, ragged description; t02 names a javascript: image."""
    library = copy_library()
    with sqlite3.connect(library / "catalog.sqlite") as catalog:
        catalog.execute("UPDATE talks SET title = ?, chapters = ?, thumbnail = ?, description = ? WHERE title LIKE "
                        "'Checkpointing Long-Running%'",
                        (HOSTILE_TITLE, json.dumps(CHAPTERS), THUMBNAIL, LONG_DESCRIPTION))
        catalog.execute("UPDATE talks SET thumbnail = 'javascript:alert(1)' WHERE title LIKE 'InfiniBand%'")
    catalog.close()
    return library


@pytest.fixture(scope="module")
def public():
    """The real service at a public address with a path (TALKSEARCH_PUBLIC_URL; the proxy strips /ts), over the
    hostile library, asked with a forged Host."""
    with mock.patch.dict("os.environ", {"TALKSEARCH_PUBLIC_URL": PUBLIC}):
        settings = settings_for(_hostile_library())
    with serving(settings) as server:
        yield httpx.Client(base_url=server.base, headers=FORGED, timeout=120)


def _by_title(client) -> dict[str, str]:
    return {t["title"]: t["id"] for t in client.get("/api/talks").json()["talks"]}


def test_a_hostile_title_stays_inside_the_structured_data_and_chapters_are_key_moments(public):
    talk = _by_title(public)[HOSTILE_TITLE]
    page = f"{PUBLIC}/talks/{talk}"
    raw = public.get(f"/talks/{talk}").text
    head = Head(raw)
    # the page's scripts are its own: the ld+json, the page's script; the title opened none and closed none
    assert [kind for kind, _ in head.scripts] == ["application/ld+json", None]
    assert "alert(1)" not in head.scripts[1][1] and raw.count("<script") == 2
    [data] = [text for kind, text in head.scripts if kind == "application/ld+json"]
    assert "</" not in data and "<" not in data and ">" not in data and "&" not in data
    video = head.video()
    assert video["name"] == HOSTILE_TITLE == head.meta["og:title"]
    assert head.links["canonical"] == page and head.meta["og:url"] == page  # on the public address, not the Host
    # the talk's own description: whitespace folded, cut at a word within a preview's size
    assert head.meta["description"] == video["description"] and len(video["description"]) <= 300
    assert video["description"].startswith("Checkpoints of ocean simulations, streamed to an object store")
    assert video["description"].endswith("…") and "  " not in video["description"]
    assert head.meta["og:image"] == THUMBNAIL == video["thumbnailUrl"]
    assert head.meta["twitter:card"] == "summary_large_image"
    assert video["embedUrl"] == f"{PUBLIC}/embed/talks/{talk}"
    assert "potentialAction" not in video
    assert video["hasPart"] == [
        {"@type": "Clip", "name": "Why we checkpoint", "startOffset": 0, "endOffset": 7, "url": f"{page}?t=0"},
        {"@type": "Clip", "name": "</script>Object storage", "startOffset": 7,
         "endOffset": round(public.get(f"/api/talks/{talk}").json()["duration"]), "url": f"{page}?t=7"}]

    # a moment past the talk's end (a link to a longer cut of it) previews the talk, not a time it does not have
    past = Head(public.get(f"/talks/{talk}?t=1:02:03").text)
    assert past.meta["og:url"] == page and not past.meta["og:description"].startswith("1:02:03")

    other = Head(public.get(f"/talks/{_by_title(public)['InfiniBand Partition Keys for Tenant Isolation']}").text)
    assert "og:image" not in other.meta and "thumbnailUrl" not in other.video()  # a javascript: URL is no image
    assert other.meta["twitter:card"] == "summary"


def test_the_sitemap_and_robots_txt_are_on_the_public_address(public):
    urls = [url.findtext(f"{SITEMAP}loc") for url in _sitemap(public)]
    assert sorted(urls) == sorted(f"{PUBLIC}/talks/{talk}" for talk in _by_title(public).values())
    text = public.get("/robots.txt").text
    assert "evil.example" not in text and "Disallow: /ts/api/" in text  # the paths a crawler asks, prefix and all
    robots = _robots(public, PUBLIC)
    assert robots.site_maps() == [f"{PUBLIC}/sitemap.xml"]
    assert robots.can_fetch("Googlebot", urls[0]) and not robots.can_fetch("Googlebot", f"{PUBLIC}/api/talks")


def test_a_service_that_is_not_crawlable_says_so_everywhere():
    assert Settings().crawlable is True
    with serving(shared_settings(shared_library(), crawlable=False)) as server:
        talk = server.get("/api/talks").json()["talks"][0]["id"]
        robots = server.get("/robots.txt").text
        assert "Sitemap:" not in robots and "Disallow: /\n" in robots
        parsed = _robots(server, server.base)
        assert not parsed.can_fetch("Googlebot", f"{server.base}/talks/{talk}")
        assert not parsed.can_fetch("Googlebot", f"{server.base}/")
        assert_error(server.get("/sitemap.xml"), 404, "not_found")
        for path in ("/", f"/talks/{talk}", f"/talks/{talk}?t=7"):
            head = _head(server, path)
            assert head.meta["robots"] == "noindex", path
        assert head.meta["og:title"] and head.video()["name"]  # a shared link still previews
        # what has no <meta> of its own (the embeds, the widget's page, the API, the recordings) says it in a header
        for path in ("/embed", f"/embed/talks/{talk}", "/widget", "/api/talks", f"/talks/{talk}"):
            assert server.get(path).headers.get("X-Robots-Tag") == "noindex", path

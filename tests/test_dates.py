"""Dates and times from what a talk's sources say (a hand-placed .info.json, a feed's <pubDate>, yt-dlp's fields)
and as the feeds write them: each read one way, and what is not a date or a time left out rather than stored."""

from __future__ import annotations

import json
import math

import feedparser
import pytest

from talksearch.indexer.feeds import _feed_items
from talksearch.indexer.talk_details import _published, _sidecar_info, page_media_info, page_media_object
from talksearch.library import StoredTalk
from talksearch.schemas import SearchResponse, SearchResult
from talksearch.search.searcher import talk_summary
from talksearch.service.feeds import search_feed, talks_feed
from talksearch.timecode import clock

pytestmark = pytest.mark.unit


def _sidecar(tmp_path, info_json: str) -> dict:
    path = tmp_path / "talk.info.json"
    path.write_text(info_json)
    return _sidecar_info(path)


def test_a_sidecar_chapter_needs_a_start_that_is_a_time(tmp_path):
    """Python's json reads NaN and Infinity: a NaN chapter made the talk page a 500. A chapter whose start is not
    a finite, non-negative time is left out; one whose end is not keeps its start, without an end."""
    chapters = [
        {"start_time": float("nan"), "end_time": float("inf"), "title": "nan"},
        {"start_time": -5, "end_time": 10, "title": "negative"},
        {"start_time": 1e300, "title": "far"},
        {"start_time": float("inf"), "title": "infinite"},
        {"start_time": True, "title": "a boolean"},
        {"start_time": 0, "end_time": 60.5, "title": "Intro"},
        {"start_time": 60.5, "end_time": float("nan"), "title": "Talk"},
        {"start_time": 120, "end_time": -1, "title": "Questions"},
        {"start_time": 180, "title": None},
        # times written as people write them (by hand, in a page's JSON-LD): were left out without a word
        {"start_time": "4:00", "end_time": "PT5M", "title": "Clock"}, {"start_time": "330", "title": "Text"},
        {"start_time": "soon", "title": "Not a time"},
    ]
    info = _sidecar(tmp_path, json.dumps({"chapters": chapters}))  # json.dumps writes NaN and Infinity as such
    assert info["chapters"] == [{"start_time": 0, "end_time": 60.5, "title": "Intro"},
                                {"start_time": 60.5, "end_time": None, "title": "Talk"},
                                {"start_time": 120, "end_time": None, "title": "Questions"},
                                {"start_time": 180, "title": None},
                                {"start_time": 240, "end_time": 300, "title": "Clock"},
                                {"start_time": 330, "title": "Text"}]


def test_a_sidecar_date_must_be_a_day_of_the_calendar(tmp_path):
    for impossible in ("20241301", "20230230", "00000000", "2024-13-01", "2024031", "2024-3-1"):
        info = _sidecar(tmp_path, json.dumps({"upload_date": impossible, "release_date": impossible}))
        assert "upload_date" not in info and "release_date" not in info, impossible
    info = _sidecar(tmp_path, json.dumps({"upload_date": "20240229", "release_date": "19650101"}))
    assert (info["upload_date"], info["release_date"]) == ("20240229", "19650101")
    assert _published(info) == "1965-01-01"  # the release date before the upload's
    # as a file written by hand may give it (yt-dlp writes YYYYMMDD): it was dropped without a word
    assert _published(_sidecar(tmp_path, json.dumps({"upload_date": "2024-03-01"}))) == "2024-03-01"
    # with a time too, the day as written (a dates hunt: it was dropped without a word)
    for written in ("2024-03-01T23:30:00-05:00", "2024-03-01 10:00", "2024-03-01T10:00:00Z"):
        assert _published(_sidecar(tmp_path, json.dumps({"upload_date": written}))) == "2024-03-01", written


def test_a_sidecar_timestamp_must_be_a_time(tmp_path):
    info = _sidecar(tmp_path, '{"timestamp": NaN, "release_timestamp": Infinity, "duration": -1}')
    assert not {"timestamp", "release_timestamp", "duration"} & set(info)
    info = _sidecar(tmp_path, '{"release_timestamp": "tomorrow", "timestamp": 1709287200}')
    assert "release_timestamp" not in info and _published(info) == "2024-03-01"


def test_published_prefers_the_release_to_the_upload_and_a_timestamp_to_a_date():
    """yt-dlp's fields: a talk uploaded before it was given (a premiere) was published when it was released."""
    assert _published({"release_timestamp": 1709287200, "release_date": "20240302", "timestamp": 1600000000,
                       "upload_date": "20200913"}) == "2024-03-01"
    assert _published({"release_date": "20240302", "timestamp": 1600000000, "upload_date": "20200913"}) == "2024-03-02"
    assert _published({"timestamp": 0, "upload_date": "20200913"}) == "1970-01-01"  # 0 is a time
    assert _published({"upload_date": "20200913"}) == "2020-09-13"
    assert _published({}) is None


def _feed(*pub_dates: str | None) -> bytes:
    items = "".join(f"<item>{f'<pubDate>{d}</pubDate>' if d is not None else ''}"
                    f'<enclosure url="https://example.org/{n}.mp3" type="audio/mpeg"/></item>'
                    for n, d in enumerate(pub_dates))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()


def test_a_pages_schema_org_object_is_its_recordings_only_where_it_says_so():
    """A page's JSON-LD (``page_media_object``): its one VideoObject or AudioObject, at the top or in an @graph;
    of several, the one whose contentUrl is the recording the page plays (relative to the page), else none."""
    page, played = "http://127.0.0.1/talks/a.html", "http://127.0.0.1/media/a.mp4"
    one = {"@context": "https://schema.org", "@type": "VideoObject", "name": "A"}
    assert page_media_object([{"@type": "WebPage"}, one], played, page) is one
    graph = {"@context": "https://schema.org", "@graph": [{"@type": "WebPage"}, {"@type": ["AudioObject"], "name": "A"}]}
    assert page_media_object([graph], played, page) == {"@type": ["AudioObject"], "name": "A"}
    other = {"@type": "VideoObject", "name": "B", "contentUrl": "../media/b.mp4"}
    ours = {"@type": "VideoObject", "name": "A", "contentUrl": " ../media/a.mp4"}
    assert page_media_object([other, ours], played, page) is ours
    assert page_media_object([other, {**ours, "contentUrl": "c.mp4"}], played, page) is None
    # one that names another recording (the page's trailer) is not the one it plays (a reviewer's hunt)
    assert page_media_object([other], played, page) is None
    # the recording in another of its formats (a <video>'s <source>s), or over https: the one played
    assert page_media_object([{**ours, "contentUrl": "https://127.0.0.1/media/a.webm"}], played, page)
    # the recording wherever its signing token or password is, or however it is escaped
    signed = {**ours, "contentUrl": "http://u:p@127.0.0.1/media/%61.mp4?token=1"}
    assert page_media_object([other, signed], played + "?token=2", page) is signed
    assert page_media_object([{"@type": "Article", "datePublished": "2020-01-01"}], played, page) is None


def test_a_pages_schema_org_date_is_the_day_it_writes_and_people_are_people():
    stated = {"uploadDate": "2024-03-05T23:30:00-05:00", "author": {"@type": "Person", "name": "Ana Lima"},
              "actor": [{"@type": "Person", "name": "Kenji Watanabe"}, "a string says not who"],
              "creator": {"@type": "Organization", "name": "HPC Lab"}, "description": "D"}
    info = page_media_info(stated, {"description": "yt-dlp's unescaped once"})
    assert (info["upload_date"], info["creators"], info["uploader"], info["description"]) == (
        "20240305", ["Ana Lima", "Kenji Watanabe"], "HPC Lab", "D")
    assert _published(info) == "2024-03-05"
    # datePublished before uploadDate, as yt-dlp takes a release before an upload; what is no day is none
    assert page_media_info({**stated, "datePublished": "2023-12-01"}, {})["upload_date"] == "20231201"
    assert "upload_date" not in page_media_info({"uploadDate": "soon"}, {})
    assert page_media_info({"author": {"name": 3}}, {"chapters": None}) == {"creators": [], "chapters": []}


def test_a_feeds_pub_date_is_the_day_the_feed_writes_however_it_writes_it():
    """One instant, written in RFC 822 (as RSS has it) or in ISO 8601 (as feeds write too), is filed under the day
    the publisher wrote, in their own offset: before, the ISO one fell through to yt-dlp's reading, its UTC day."""
    items = _feed_items(_feed("Fri, 01 Mar 2024 23:30:00 -0500", "2024-03-01T23:30:00-05:00",
                              "  2024-03-01T23:30:00Z\n", "2024-03-01", "sometime in March", None))
    published = [items[f"https://example.org/{n}.mp3"].get("published") for n in range(6)]
    assert published == ["2024-03-01", "2024-03-01", "2024-03-01", "2024-03-01", None, None]


def test_a_pub_date_in_another_form_is_read_as_yt_dlp_reads_it():
    """Feeds write dates RFC 822 never allowed; yt-dlp's reading dated them before the direct media's dates
    (its Last-Modified) were dropped, so the feed's own reading must date them as well."""
    forms = ["Fri, 1 Mar 2024", "March 1, 2024", "2024/03/01 10:00:00", "01 Mar 2024", "Mar 1, 2024",
             "Fri, 01 Mar 2024 24:00:00 +0000"]
    items = _feed_items(_feed(*forms))
    assert [items[f"https://example.org/{n}.mp3"].get("published") for n in range(len(forms))] == [
        "2024-03-01", "2024-03-01", "2024-03-01", "2024-03-01", "2024-03-01", "2024-03-02"]


def test_a_pub_date_past_the_calendar_leaves_its_item_undated_and_the_feed_read():
    """One item's "01 Mar 10000" (or a typo's 20244) failed the whole feed: "year 10000 is out of range", nothing
    indexed. A pubDate of seconds since 1970 was read as 1709-03-03."""
    dates = ["Fri, 01 Mar 10000 23:30:00 GMT", "Fri, 01 Mar 20244 10:00:00 GMT", "Fri, 01 Mar 99999999999 10:00 GMT",
             "1709335800", "Fri, 01 Mar 2024 10:00:00 GMT"]
    items = _feed_items(_feed(*dates))
    assert [items[f"https://example.org/{n}.mp3"].get("published") for n in range(len(dates))] == [
        None, None, None, "2024-03-01", "2024-03-01"]


def test_a_pub_date_is_the_year_and_day_its_feed_writes():
    """A dates hunt: WordPress's date never set ("30 Nov -0001") was filed under 2000-11-30, .NET's least date
    ("01 Jan 0001") under 2001, "01 Mar 55" under 2055 (RFC 5322: 1955), and a leap second's 23:59:60 (or a
    "25:00") moved its talk to the next day."""
    dates = ["Wed, 30 Nov -0001 00:00:00 +0000", "Tue, 01 Jan 0001 00:00:00 GMT", "Sat, 01 Jan 0000 00:00:00 GMT",
             "Mon, 01 Mar 55 10:00:00 GMT", "Fri, 01 Mar 24 10:00:00 GMT", "Sat, 30 Jun 2012 23:59:60 GMT",
             "Fri, 01 Mar 2024 25:00:00 GMT", "Fri, 01 Mar 2024 23:59:60 -0500", "Fri, 01 Mar 1969 10:00:00 GMT"]
    items = _feed_items(_feed(*dates))
    assert [items[f"https://example.org/{n}.mp3"].get("published") for n in range(len(dates))] == [
        None, None, None, "1955-03-01", "2024-03-01", "2012-06-30", "2024-03-01", "2024-03-01", "1969-03-01"]
    # the year wherever it is written (a reviewer's hunt: the first fix took the day after a month for the year,
    # "Mar 5, 2024 10:00:00 GMT" became 0005-03-05 and JavaScript's date 2028-03-28)
    dates = ["Thu Mar 28 2024 18:30:00 GMT-0700 (Pacific Daylight Time)", "Tue Mar 12 10:00:00 2024",
             "Mar 5, 2024 10:00:00 GMT", "Tuesday, March 12, 2024 10:00 AM", "Fri, 1 Mar 2024 6:30 PM EST"]
    items = _feed_items(_feed(*dates))
    assert [items[f"https://example.org/{n}.mp3"].get("published") for n in range(len(dates))] == [
        "2024-03-28", "2024-03-12", "2024-03-05", "2024-03-12", "2024-03-01"]


def test_a_pub_date_on_a_day_its_month_lacks_leaves_its_item_undated():
    """"31 Feb 2024 10:00" was filed under 2 March (yt-dlp's reading rolls the extra days over): a date nobody
    wrote. An impossible day is no date; 29 February of a leap year is one."""
    dates = ["Sat, 31 Feb 2024 10:00:00 GMT", "31 Apr 2024 10:00", "29 Feb 2023 10:00", "29 Feb 2024 10:00"]
    items = _feed_items(_feed(*dates))
    assert [items[f"https://example.org/{n}.mp3"].get("published") for n in range(len(dates))] == [
        None, None, None, "2024-02-29"]


def test_clock_of_what_is_not_a_time_is_empty():
    assert [clock(v) for v in (float("nan"), float("inf"), -math.inf, None)] == ["", "", "", ""]
    assert clock(36001) == "10:00:01"


def _talk(talk_id: str, published: str | None) -> StoredTalk:
    return StoredTalk(extractor="Generic", source_id=talk_id, url=f"https://example.org/{talk_id}", title=talk_id,
                      published=published, indexed_at="2024-05-15T10:00:00+00:00", duration=40000.0,
                      stored_id=talk_id)


def test_a_search_feed_entry_writes_its_moment_as_the_pages_do():
    """An hour in, "at 600:01" was written for 10:00:01."""
    talk = _talk("long", "2024-05-14")
    result = SearchResult(talk=talk_summary(talk), start=36001.5, end=36005, text="x", score=1,
                          link="https://example.org/long#t=36001.5", page="/talks/long?t=36001.5")
    body = search_feed("http://h", [("q", "x")], SearchResponse(query="x", took_ms=1, results=[result]),
                       {"long": talk}, "q=x").body
    assert feedparser.parse(body).entries[0].title == "long at 10:00:01"


def test_the_talks_feed_keeps_the_catalogs_order():
    """As the catalog lists them (/api/talks; test_feeds checks the catalog puts an undated talk at the day it was
    indexed): sorted again here, talks of one day came in another order than the list's."""
    talks = [_talk("2025", "2025-01-01"), _talk("undated", None), _talk("2024", "2024-03-01"),
             _talk("1965", "1965-01-01")]
    entries = feedparser.parse(talks_feed("http://h", [], talks).body).entries
    assert [e.title for e in entries] == ["2025", "undated", "2024", "1965"]
    assert entries[1].updated.startswith("2024-05-15")  # when it was indexed, not 1970
    # the publisher's day at noon UTC, that day in the Americas too (at midnight UTC they read the day before)
    assert entries[2].published == "2024-03-01T12:00:00+00:00" and "published" not in entries[1]

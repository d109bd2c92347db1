"""Atom feeds (RFC 4287) in: yt-dlp's generic extractor reads RSS feeds as playlists, not Atom ones, and said of one
"no media found on this page". Each entry's <link rel="enclosure"> of an audio or video type is a talk, its metadata
mapped onto what an RSS item gives (``_feed_items``); entries without one are left out, and a feed with none (a blog's
posts; talksearch's own /api/search.atom, whose entries are moments on talk pages) says so in one line; talksearch's
/talks.atom is a podcast feed another library indexes. Read from the feed's XML, and
end to end through the real CLI over the loopback media server (every entry has a <podcast:transcript>: no whisper
run)."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

import pytest

from talksearch.indexer.feeds import _atom_feed, _feed_items
from talksearch.indexer.sources import Sources, SourceError
from talksearch.library import Library
from talksearch.search.searcher import talk_summary
from tests.helpers import DATA, TRUTH, talksearch
from tests.service_fixtures import serving, settings_for

# What these check does not depend on the embedding model (conftest's light_embedding).
pytestmark = pytest.mark.usefixtures("light_embedding")

NAMESPACES = ('xmlns="http://www.w3.org/2005/Atom" xmlns:podcast="https://podcastindex.org/namespace/1.0" '
              'xmlns:media="http://search.yahoo.com/mrss/"')


def _atom(entries: str, head: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><feed {NAMESPACES} xml:lang="en">'
            "<id>tag:acme.example,2024:talks</id><title>Acme Lab Talks</title><updated>2024-03-02T00:00:00Z</updated>"
            f"<author><name>Acme Lab</name></author>{head}{entries}</feed>").encode()


def _vtt(talk: str) -> str:
    cues = [f"00:00:{int(s['start']):02d}.000 --> 00:00:{int(s['end']):02d}.000\n{s['text']}"
            for s in TRUTH[talk]["sentences"]]
    return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"


def _entries(base: str) -> str:
    """Two talks (one's recording listed relative to the feed) and a blog post: a page and a picture, no recording."""
    return (
        "<entry><id>tag:acme.example,2024:ep1</id><title type=\"html\">Power capping &amp;amp; scheduling</title>"
        '<link rel="alternate" type="text/html" href="https://acme.example/talks/1"/>'
        '<link rel="enclosure" type="audio/ogg" length="123456" href="media/t01.ogg"/>'
        # 23:30 in New York is the next day in UTC: filed under the publisher's day
        "<published>2024-03-01T23:30:00-05:00</published><updated>2024-06-01T10:00:00Z</updated>"
        "<author><name>Ann Lee</name><email>ann@acme.example</email></author><author><name>Bo Chen</name></author>"
        "<summary type=\"html\">Ann &amp;amp; Bo on &lt;p&gt;power capping.&lt;/p&gt;&lt;p&gt;Slides at "
        '&lt;a href="https://acme.example/1"&gt;our site&lt;/a&gt;.&lt;/p&gt;</summary>'
        '<category term="lab-day-2024" label="Lab Day 2024"/>'
        f'<podcast:transcript url="{base}/media/t01.vtt" type="text/vtt"/></entry>'
        "<entry><id>tag:acme.example,2023:ep0</id><title>Checkpoints</title>"
        f'<link rel="enclosure" type="audio/ogg" href="{base}/media/t02.ogg"/>'
        "<updated>2023-01-05T10:00:00Z</updated><author><name>Marta Lindqvist</name></author>"
        '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Checkpointing <em>at scale</em>.</p>'
        "<p>Questions at the end.</p></div></content>"
        f'<media:thumbnail url="{base}/media/ep0.jpg"/>'
        '<podcast:transcript url="t02.vtt" type="text/vtt"/></entry>'
        "<entry><id>tag:acme.example,2024:post</id><title>We are hiring</title>"
        '<link rel="alternate" href="https://acme.example/blog/hiring"/>'
        '<link rel="enclosure" type="image/png" href="https://acme.example/team.png"/>'
        "<updated>2024-02-01T00:00:00Z</updated><summary>Join us.</summary></entry>")


@pytest.mark.unit
def test_an_atom_entrys_metadata_is_what_an_rss_items_is():
    """Each entry with a recording, listed as yt-dlp lists an RSS item (its <id> passed along as a <guid> is), and
    what the feed says of it: <published> (else <updated>) as the publisher's day; <summary> (else <content>) as
    text; its <author>s' names (not the feed's author: its publisher); its category; its own artwork, else the
    feed's <logo>; its transcripts, relative ones resolved. The blog post (a picture, no recording) is left out."""
    base = "https://acme.example/show"
    feed = _atom(_entries(base), head=f"<logo>{base}/logo.png</logo>")
    listed, _ = _atom_feed(ET.fromstring(feed), f"{base}/feed.atom")
    assert [(entry["title"], entry["url"]) for entry in listed] == [
        ("Power capping & scheduling",
         f"{base}/media/t01.ogg#__youtubedl_smuggle=%7B%22force_videoid%22%3A+%22tag%3Aacme.example%2C2024%3Aep1%22%7D"),
        ("Checkpoints",
         f"{base}/media/t02.ogg#__youtubedl_smuggle=%7B%22force_videoid%22%3A+%22tag%3Aacme.example%2C2023%3Aep0%22%7D")]
    items = _feed_items(feed, f"{base}/feed.atom")
    assert {key: (item["speakers"], item.get("event"), item["published"], item["description"], item["thumbnail"],
                  [t["url"] for t in item["transcripts"]], item["channel_language"])
            for key, item in items.items()} == {
        "tag:acme.example,2024:ep1": (["Ann Lee", "Bo Chen"], "Lab Day 2024", "2024-03-01",
                                      "Ann & Bo on\npower capping.\nSlides at our site.", f"{base}/logo.png",
                                      [f"{base}/media/t01.vtt"], "en"),
        "tag:acme.example,2023:ep0": (["Marta Lindqvist"], None, "2023-01-05",
                                      "Checkpointing at scale.\nQuestions at the end.", f"{base}/media/ep0.jpg",
                                      [f"{base}/t02.vtt"], "en")}


@pytest.mark.unit
def test_an_atom_feed_without_recordings_says_so_in_one_line(media_server, tmp_path):
    """A blog's feed (pages, a picture) lists no talk: one line saying why, not yt-dlp's "no media found"."""
    folder = media_server.directory / "atom-posts"
    folder.mkdir()
    (folder / "feed.atom").write_bytes(_atom(
        "<entry><id>tag:acme.example,2024:a</id><title>A post</title>"
        '<link rel="alternate" href="https://acme.example/blog/a"/><updated>2024-01-01T00:00:00Z</updated></entry>'
        "<entry><id>tag:acme.example,2024:b</id><title>Team photo</title>"
        '<link rel="enclosure" type="image/jpeg" href="https://acme.example/team.jpg"/>'
        "<updated>2024-01-02T00:00:00Z</updated></entry>"))
    sources = Sources(tmp_path / "downloads", lambda key: False)
    with pytest.raises(SourceError) as refused:
        list(sources.expand(media_server.url("atom-posts/feed.atom")))
    assert str(refused.value) == ('an Atom feed without media: none of its 2 entries links an audio or video '
                                  'enclosure (<link rel="enclosure">)')


@pytest.mark.unit
def test_a_feed_without_items_is_a_failed_source_in_one_line(media_server, tmp_path):
    """A feed with no episode yet (or none left): the CLI says so as the API's job does, with a failed line and exit
    1, where it said "0 added, 0 skipped, 0 failed" and exited 0 as if all were well (a documentation hunt)."""
    folder = media_server.directory / "rss-empty"
    folder.mkdir()
    (folder / "feed.xml").write_text('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                                     "<title>Acme Lab Talks</title><link>https://acme.example/</link>"
                                     "<description>Talks</description></channel></rss>")
    url = media_server.url("rss-empty/feed.xml")
    run = talksearch("index", url, "--library", str(tmp_path / "lib"))
    assert run.returncode == 1, run.stderr
    assert f"failed  {url}: the source lists no talks" in run.stdout + run.stderr, (run.stdout, run.stderr)
    assert "0 added, 0 skipped, 1 failed" in run.stdout + run.stderr


@pytest.fixture(scope="module")
def atom_feed(media_server) -> str:
    folder = media_server.directory / "atom"
    (folder / "media").mkdir(parents=True)
    for talk in ("t01", "t02"):
        shutil.copy(DATA / f"{talk}.ogg", folder / "media" / f"{talk}.ogg")
        (folder / "media" / f"{talk}.vtt").write_text(_vtt(talk))
    shutil.copy(folder / "media" / "t02.vtt", folder / "t02.vtt")  # the entry's relative transcript URL
    base = media_server.url("atom")
    (folder / "feed.atom").write_bytes(_atom(_entries(base)))
    return f"{base}/feed.atom"


@pytest.mark.models
def test_an_atom_feed_is_indexed_with_each_entrys_own_metadata(atom_feed, tmp_path):
    """Through the real CLI: the feed's two recordings are two talks with their entries' titles, speakers, dates,
    descriptions and artwork; the blog post is none; indexed again, nothing is added."""
    base = atom_feed.rsplit("/", 1)[0]
    library = tmp_path / "library"
    run = talksearch("index", atom_feed, "--library", str(library))
    assert "2 added, 0 skipped, 0 failed" in run.stdout, run.stdout + run.stderr
    assert "smuggle" not in run.stdout + run.stderr
    with Library.open(library, readonly=True) as reader:
        talks = {talk.title: talk for talk in reader.talks()}
    assert {title: (talk.speakers, talk.event, talk.published, talk.description, talk.thumbnail, talk.media_url,
                    talk.channel)
            for title, talk in talks.items()} == {
        "Power capping & scheduling": (["Ann Lee", "Bo Chen"], "Lab Day 2024", "2024-03-01",
                                       "Ann & Bo on\npower capping.\nSlides at our site.", None,
                                       f"{base}/media/t01.ogg", "Acme Lab Talks"),
        "Checkpoints": (["Marta Lindqvist"], None, "2023-01-05", "Checkpointing at scale.\nQuestions at the end.",
                        f"{base}/media/ep0.jpg", f"{base}/media/t02.ogg", "Acme Lab Talks")}
    again = talksearch("index", atom_feed, "--library", str(library))
    assert again.returncode == 0 and "0 added, 2 skipped, 0 failed" in again.stdout, again.stdout + again.stderr


@pytest.mark.models
def test_talksearchs_search_feed_is_no_source_and_says_so(atom_feed, tmp_path):
    """/api/search.atom lists moments, pages and transcripts, not recordings: indexing it adds nothing and says so in
    one line (the talks' own sources are what to index)."""
    library = tmp_path / "library"
    assert talksearch("index", atom_feed, "--library", str(library)).returncode == 0
    with serving(settings_for(library)) as server:
        feed = f"{server.base}/api/search.atom?q=checkpoints"
        assert server.get("/api/search.atom?q=checkpoints").status_code == 200
        run = talksearch("index", feed, "--library", str(tmp_path / "other"))
    output = run.stdout + run.stderr
    lines = [line for line in run.stdout.splitlines() if line.startswith(("added", "skipped", "failed"))]
    assert run.returncode == 1 and "Traceback" not in output, output
    assert lines == [f"failed  {feed}: a talksearch feed: its entries are talk pages, not recordings; nothing to "
                     "index (index the talks' own sources, which its entries link as rel=\"related\")"], output


@pytest.mark.models
def test_a_library_indexes_another_librarys_talks_feed_as_a_podcasts(atom_feed, tmp_path):
    """One library fed from another's /talks.atom (a conference's aggregator from a lab's library): each talk with a
    recording is an entry with its enclosure (a local talk's /media, a remote one's own URL), so the other library
    takes it as a podcast's episode, with its transcript (the first's captions: no whisper), speakers, date, event,
    description and language. It was refused as "a talksearch feed", and its talk pages lost speakers, dates,
    chapters and, for audio, captions (a federation hunt)."""
    first = tmp_path / "lab"
    assert talksearch("index", atom_feed, "--library", str(first)).returncode == 0  # two remote talks
    folder = tmp_path / "local"
    folder.mkdir()
    shutil.copy(DATA / "t01.ogg", folder / "seminar.ogg")
    cues = [f"00:00:{int(s['start']):02d}.000 --> 00:00:{int(s['end']):02d}.000\n<v Ann Lee>{s['text']}"
            for s in TRUTH["t01"]["sentences"]]
    (folder / "seminar.en.vtt").write_text("WEBVTT\n\n" + "\n\n".join(cues) + "\n")
    (folder / "seminar.info.json").write_text(
        '{"title": "Lab seminar", "creators": ["Ann Lee"], "series": "Lab Day 2024", "channel": "Acme Lab",'
        ' "description": "A seminar on power capping.",'
        ' "chapters": [{"start_time": 0, "end_time": 11, "title": "Why"}, {"start_time": 11, "title": "How"}]}')
    # (no date: none is made up from the feed's <updated>)
    assert talksearch("index", str(folder), "--library", str(first)).returncode == 0
    with serving(settings_for(first)) as server:
        feed = server.get("/talks.atom").text
        assert feed.count('rel="enclosure"') == 3, feed
        # a local recording's size, which RFC 4287 asks of an enclosure (a remote one's is its host's to say)
        assert feed.count(" length=") == 1 and f'length="{(folder / "seminar.ogg").stat().st_size}"' in feed, feed
        local = next(t for t in server.get("/api/talks").json()["talks"] if t["title"] == "Lab seminar")
        run = talksearch("index", f"{server.base}/talks.atom", "--library", str(tmp_path / "aggregator"))
        assert run.returncode == 0 and "3 added, 0 skipped, 0 failed" in run.stdout, run.stdout + run.stderr
        media = server.get(f"/media/{local['id']}")
        assert media.status_code == 200
    with Library.open(first, readonly=True) as reader:
        theirs = {t.title: (t, [(s.start, s.end, s.text, s.speaker) for s in reader.segments(t.id)])
                  for t in reader.talks()}
    with Library.open(tmp_path / "aggregator", readonly=True) as reader:
        ours = {t.title: (t, [(s.start, s.end, s.text, s.speaker) for s in reader.segments(t.id)])
                for t in reader.talks()}
    assert sorted(ours) == sorted(theirs)
    for title, (talk, sentences) in ours.items():
        source, their_sentences = theirs[title]
        assert (talk.speakers, talk.event, talk.published, talk.description, talk.language, talk.channel) == (
            source.speakers, source.event, source.published, source.description, source.language, source.channel), title
        assert talk.chapters == source.chapters, title  # through <podcast:chapters>
        assert sentences == their_sentences, title
        assert talk.transcript_source == "uploaded captions", (title, talk.transcript_source)
        # its length as the first library measured it (<itunes:duration>), stated here: players seek by the
        # recording's own (the length of a talk indexed from captions alone is no measure of its recording)
        if talk_summary(source).duration_measured:
            assert talk.duration == round(source.duration), title
        assert not talk_summary(talk).duration_measured, title
    assert talk_summary(theirs["Lab seminar"][0]).duration_measured  # a local file: read, so measured
    assert [c["title"] for c in ours["Lab seminar"][0].chapters] == ["Why", "How"]
    assert feed.count("<itunes:duration>") == 1, feed  # the remote talks' lengths are where their captions end
    # named with its suffix: the audio is played as audio, and a feed made from this library gives its type
    assert ours["Lab seminar"][0].media_url == f"{server.base}/media/{local['id']}.ogg"
    assert (ours["Lab seminar"][0].published, ours["Lab seminar"][0].channel) == (None, "Acme Lab")
    assert ours["Checkpoints"][0].media_url == theirs["Checkpoints"][0].media_url
"""Podcast feeds as publishers write them: who speaks (Podcasting 2.0's <podcast:person>, RSS's "email (Name)"
<author>, Apple's itunes:author), items that share a recording, descriptions in HTML, dates without a time, the
show's artwork, relative enclosure URLs, <podcast:chapters> files. Read from the feed's XML (``_feed_items``), and
end to end through the real CLI over the loopback media server (every item has a <podcast:transcript>: no whisper
run)."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
import time

import pytest

from talksearch.indexer import sources as sources_module
from talksearch.indexer.chapters import _json_chapters
from talksearch.indexer.feeds import _feed_items
from talksearch.indexer.sources import Sources, clean_error
from talksearch.library import Library
from tests.helpers import DATA, TRUTH, talksearch
from tests.service_fixtures import serving, settings_for

# What these check does not depend on the embedding model (conftest's light_embedding).
pytestmark = pytest.mark.usefixtures("light_embedding")

NAMESPACES = ('xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" '
              'xmlns:podcast="https://podcastindex.org/namespace/1.0" '
              'xmlns:content="http://purl.org/rss/1.0/modules/content/"')


def _feed(items: str, channel: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" {NAMESPACES}><channel>'
            f"<title>Acme Ops &amp; Friends</title><language>en</language>{channel}{items}</channel></rss>").encode()


def _item(guid: str, body: str, enclosure: str | None = None) -> str:
    return (f'<item><guid isPermaLink="false">{guid}</guid>{body}'
            f'<enclosure url="{enclosure or f"https://cdn.example/{guid}.mp3"}" type="audio/mpeg"/></item>')


@pytest.mark.unit
def test_a_feeds_speakers_are_its_people_its_authors_names_not_its_shows_credit():
    """Who speaks, most specific first: the item's <podcast:person>s (any role, as listed, each once); else the
    names in its <author> ("email (Name)"; a bare address is no name); else its itunes:author, unless that is the
    show's own credit. "A, B and C" lists people; "Rock and Roll Radio" is one name. The channel's
    <podcast:person>s stand in for an item that names no one."""
    show_credit = "<itunes:author>Acme Ops &amp; Friends</itunes:author>"
    items = _feed_items(_feed(
        _item("people", show_credit + '<podcast:person role="host">Jane Host</podcast:person>'
              '<podcast:person role="guest">Marta Lindqvist</podcast:person><podcast:person>Jane Host</podcast:person>')
        + _item("rfc822", "<author>jane@acme.example.org (Jane Host)</author>")
        + _item("address", "<author>jane@acme.example.org</author><itunes:author>Ann Lee</itunes:author>")
        + _item("band", "<itunes:author>Rock and Roll Radio</itunes:author>")
        + _item("list", "<author>Ann Lee, Bo Chen and Cy Diaz</author>")
        + _item("pair", "<itunes:author>Ann Lee and Bo Chen</itunes:author>")
        + _item("show", show_credit),
        channel=show_credit + '<podcast:person role="host">Channel Host</podcast:person>'))
    assert {guid: item["speakers"] for guid, item in items.items()} == {
        "people": ["Jane Host", "Marta Lindqvist"], "rfc822": ["Jane Host"], "address": ["Ann Lee"],
        "band": ["Rock and Roll Radio"], "list": ["Ann Lee", "Bo Chen", "Cy Diaz"], "pair": ["Ann Lee", "Bo Chen"],
        "show": ["Channel Host"]}
    # and a show that names no people: its own credit is no speaker
    assert _feed_items(_feed(_item("show", show_credit)))["show"]["speakers"] == []


@pytest.mark.unit
def test_items_that_share_a_recording_keep_their_own_metadata():
    """An encore points at the earlier episode's file: keyed by enclosure URL, the last item's metadata was both
    items'. An item with a <guid> is keyed by it (yt-dlp's id for it); one without, by its enclosure URL."""
    media = "https://cdn.example/s01.mp4"
    items = _feed_items(_feed(
        _item("r-2", "<author>Bob Rerun</author><category>Encore</category>"
              "<pubDate>Mon, 01 Jul 2024 10:00:00 GMT</pubDate>", media)
        + _item("r-1", "<author>Alice Original</author><category>Conf 2023</category>"
                "<pubDate>Thu, 05 Jan 2023 10:00:00 GMT</pubDate>", media)
        + f'<item><author>No Guid</author><enclosure url="{media}?ep=3" type="video/mp4"/></item>'))
    assert [(items[key]["speakers"], items[key].get("event"), items[key].get("published"))
            for key in ("r-2", "r-1", f"{media}?ep=3")] == [
        (["Bob Rerun"], "Encore", "2024-07-01"), (["Alice Original"], "Conf 2023", "2023-01-05"),
        (["No Guid"], None, None)]


@pytest.mark.unit
def test_a_description_is_the_text_its_html_shows():
    """RSS descriptions are HTML, entity-escaped or in CDATA: stored as text (tags dropped, a block a line,
    references read). A plain-text one keeps its lines. Without a <description>, content:encoded, then
    itunes:summary."""
    items = _feed_items(_feed(
        _item("escaped", "<description>Marta&#8217;s talk on power capping &amp; scheduling. &lt;p&gt;Show notes at "
              '&lt;a href="https://acme.example.org/12"&gt;our site&lt;/a&gt;.&lt;/p&gt;</description>')
        + _item("cdata", "<description><![CDATA[A quick <i>trailer</i> &ndash; don&#8217;t miss it!]]></description>")
        + _item("plain", "<description>First line &amp; more\nSecond line</description>")
        + _item("encoded", "<content:encoded><![CDATA[<p>Helena &amp; the audience <em>live</em>.</p>"
                "<ul><li>00:15 Talk</li><li>00:30 Q&amp;A</li></ul>]]></content:encoded>"
                "<itunes:summary>Not this one</itunes:summary>")
        + _item("summary", "<itunes:summary>Helena &amp; the audience.</itunes:summary>")
        + _item("empty", "<description><![CDATA[<p> </p>]]></description><itunes:summary>Summary</itunes:summary>")))
    assert {guid: item.get("description") for guid, item in items.items()} == {
        "escaped": "Marta’s talk on power capping & scheduling.\nShow notes at our site.",
        "cdata": "A quick trailer – don’t miss it!",
        "plain": "First line & more\nSecond line",
        "encoded": "Helena & the audience live.\n00:15 Talk\n00:30 Q&A",
        "summary": "Helena & the audience.",
        "empty": "Summary"}


@pytest.mark.unit
def test_a_pub_date_without_a_time_is_its_day():
    """RFC 822 with the time left out (which email's parser refuses), with or without a weekday, a two-digit day
    or a zone: the day written."""
    forms = {"a": "Tue, 12 Mar 2024", "b": "Fri, 01 Mar 2024", "c": "Fri, 1 Mar 2024 GMT", "d": "Fri, 1 Mar 2024",
             "e": "01 Mar 2024 +0100", "f": "Fri, 31 Feb 2024"}
    items = _feed_items(_feed("".join(_item(guid, f"<pubDate>{date}</pubDate>") for guid, date in forms.items())))
    assert {guid: item.get("published") for guid, item in items.items()} == {
        "a": "2024-03-12", "b": "2024-03-01", "c": "2024-03-01", "d": "2024-03-01", "e": "2024-03-01", "f": None}


@pytest.mark.unit
def test_an_item_without_artwork_shows_the_shows():
    """The item's itunes:image, else the channel's, else the channel's RSS <image>; relative ones resolved."""
    own = _item("own", '<itunes:image href="ep12.jpg"/>')
    channel = ('<itunes:image href="https://acme.example/show.jpg"/>'
               "<image><url>https://acme.example/rss.jpg</url></image>")
    items = _feed_items(_feed(own + _item("none", ""), channel=channel), "https://acme.example/feed.xml")
    assert (items["own"]["thumbnail"], items["none"]["thumbnail"]) == ("https://acme.example/ep12.jpg",
                                                                        "https://acme.example/show.jpg")
    items = _feed_items(_feed(_item("none", ""), channel="<image><url>https://acme.example/rss.jpg</url></image>"))
    assert items["none"]["thumbnail"] == "https://acme.example/rss.jpg"


@pytest.mark.unit
def test_relative_urls_in_a_feed_are_the_feeds():
    """<enclosure url="s01c.mp4"> (and a relative transcript or chapters file) is where the feed is; an item
    without a guid is keyed by that URL, as it is fetched. yt-dlp's smuggled data (the guid it passes along) is in
    no message."""
    items = _feed_items(_feed('<item><enclosure url="s01c.mp4" type="video/mp4"/>'
                              '<podcast:transcript url="t/s01.vtt" type="text/vtt"/>'
                              '<podcast:chapters url="c/s01.json" type="application/json+chapters"/></item>'),
                        "https://acme.example/show/feed.xml")
    assert list(items) == ["https://acme.example/show/s01c.mp4"]
    (item,) = items.values()
    assert item["transcripts"][0]["url"] == "https://acme.example/show/t/s01.vtt"
    assert item["chapters_url"] == "https://acme.example/show/c/s01.json"
    smuggled = "s01c.mp4#__youtubedl_smuggle=%7B%22force_videoid%22%3A+%22f2-d%22%7D"  # as yt-dlp words it
    message = clean_error(Exception(f"ERROR: [generic] f2-d: '{smuggled}' is not a valid URL"))
    assert message == "'s01c.mp4' is not a valid URL"


@pytest.mark.unit
def test_a_connection_reset_midway_is_said_in_words():
    """What yt-dlp raised for a server that reset the connection mid-file (a hunt's run, copied as it was printed:
    whether the reset or the end of the data reaches the reader first is a race, so no server here gives it every
    time): the tuple urllib3 raises, behind "Got error: "."""
    raised = ("ERROR: Got error: (\"Connection broken: ConnectionResetError(104, 'Connection reset by peer')\", "
              "ConnectionResetError(104, 'Connection reset by peer')). Giving up after 3 retries")
    assert clean_error(Exception(raised)) == "connection broken: Connection reset by peer. Giving up after 3 retries"


def _vtt(talk: str) -> str:
    cues = [f"00:00:{int(s['start']):02d}.000 --> 00:00:{int(s['end']):02d}.000\n{s['text']}"
            for s in TRUTH[talk]["sentences"]]
    return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"


@pytest.mark.models
def test_a_podcast_feed_is_indexed_with_each_items_own_metadata(media_server, tmp_path):
    """Through the real CLI: two items that share one recording, listed relative to the feed, each with its own
    speakers, description, date and artwork (the show's where it has none)."""
    folder = media_server.directory / "podcast"
    folder.mkdir()
    shutil.copy(DATA / "t01.ogg", folder / "talk.ogg")
    (folder / "t01.vtt").write_text(_vtt("t01"))
    base = media_server.url("podcast")
    transcript = f'<podcast:transcript url="{base}/t01.vtt" type="text/vtt"/>'
    (folder / "feed.xml").write_bytes(_feed(
        _item("pod-encore", "<title>Encore</title><author>ann@example.org (Ann Lee)</author>"
              "<pubDate>Fri, 01 Mar 2024</pubDate><description><![CDATA[An encore &ndash; don&#8217;t miss "
              "<i>it</i>]]></description>" + transcript, "talk.ogg")
        + _item("pod-original", "<title>Original</title><itunes:author>Acme Ops &amp; Friends</itunes:author>"
                '<podcast:person role="host">Jane Host</podcast:person>'
                '<podcast:person role="guest">Marta Lindqvist</podcast:person>'
                "<pubDate>Thu, 05 Jan 2023 10:00:00 GMT</pubDate><description>Notes &lt;p&gt;at "
                '&lt;a href="https://acme.example/1"&gt;our site&lt;/a&gt;.&lt;/p&gt;</description>'
                f'<itunes:image href="{base}/ep1.jpg"/>' + transcript, "talk.ogg"),
        channel="<itunes:author>Acme Ops &amp; Friends</itunes:author>"
                f'<itunes:image href="{base}/show.jpg"/>'))
    library = tmp_path / "library"
    run = talksearch("index", f"{base}/feed.xml", "--library", str(library))
    assert "2 added, 0 skipped, 0 failed" in run.stdout, run.stdout + run.stderr
    assert "smuggle" not in run.stdout + run.stderr
    with Library.open(library, readonly=True) as reader:
        talks = {talk.title: talk for talk in reader.talks()}
    assert {title: (talk.speakers, talk.description, talk.published, talk.thumbnail, talk.media_url)
            for title, talk in talks.items()} == {
        "Encore": (["Ann Lee"], "An encore – don’t miss it", "2024-03-01", f"{base}/show.jpg", f"{base}/talk.ogg"),
        "Original": (["Jane Host", "Marta Lindqvist"], "Notes\nat our site.", "2023-01-05", f"{base}/ep1.jpg",
                     f"{base}/talk.ogg")}


# Podcasting 2.0 chapters (<podcast:chapters>): a JSON file of {startTime, title, endTime?, toc?}, unsorted here; "toc":
# false marks a picture or link shown along the way, not a chapter; the rest cannot be placed or named.
CHAPTERS = {"version": "1.2.0", "chapters": [
    {"startTime": 12.5, "title": "Questions"},
    {"startTime": 0, "title": "Intro", "endTime": 4},
    {"startTime": 4, "title": "Sponsor", "toc": False, "img": "https://acme.example/sponsor.png"},
    {"startTime": 6, "title": "Checkpoints", "url": "https://acme.example/checkpoints"},
    {"startTime": 8}, {"startTime": 10, "title": "  "}, {"startTime": "9", "title": "A string"},
    {"startTime": -1, "title": "Before the start"}, {"startTime": True, "title": "A boolean"}]}
READ_CHAPTERS = [{"start_time": 0, "end_time": 4, "title": "Intro"},
                 {"start_time": 6, "end_time": 12.5, "title": "Checkpoints"},
                 {"start_time": 12.5, "end_time": 21, "title": "Questions"}]  # to the talk's stated end


def _chaptered_feed(media_server, name: str, chapters: dict[str, str]) -> str:
    """A feed on the media server of items titled by ``chapters``' keys, each naming that chapters URL (relative to
    the feed) and the talk's captions (nothing to transcribe) with a duration they fit in; the feed's URL."""
    folder = media_server.directory / name
    folder.mkdir()
    shutil.copy(DATA / "t01.ogg", folder / "talk.ogg")
    (folder / "t01.vtt").write_text(_vtt("t01"))
    (folder / "chapters").mkdir()
    (folder / "chapters" / "ep1.json").write_text(json.dumps(CHAPTERS))
    (folder / "chapters" / "garbled.json").write_text('{"version": "1.2.0", "chapters": [')
    (folder / "feed.xml").write_bytes(_feed("".join(
        _item(f"{name}-{title}", f"<title>{title}</title><itunes:duration>00:00:21</itunes:duration>"
              f'<podcast:transcript url="t01.vtt" type="text/vtt"/>'
              f'<podcast:chapters url="{url}" type="application/json+chapters"/>', "talk.ogg")
        for title, url in chapters.items())))
    return media_server.url(f"{name}/feed.xml")


@pytest.mark.unit
def test_a_feed_items_chapters_file_gives_its_chapters_and_a_broken_one_none(media_server, tmp_path):
    """The chapters a <podcast:chapters> file lists, as the talk's: sorted, the table of contents' only, each
    ending where it says, else where the next begins, else at the talk's end. A file that cannot be read (404) or
    is not JSON leaves the talk without chapters, fetched all the same, and says so in one line."""
    feed = _chaptered_feed(media_server, "chaptered", {
        "Chaptered": "chapters/ep1.json", "Missing": "chapters/gone.json", "Garbled": "chapters/garbled.json"})
    sources = Sources(tmp_path / "downloads", lambda key: False, captions="uploaded")
    fetched = {f.talk.title: f for f in map(sources.fetch, sources.expand(feed))}
    assert {title: (f.talk.chapters, f.captions is not None, f.captions_refused) for title, f in fetched.items()} == {
        "Chaptered": (READ_CHAPTERS, True, None),
        "Missing": ([], True, "chapters not read: HTTP Error 404: File not found"),
        "Garbled": ([], True, "chapters not read: not a JSON chapters file")}


@pytest.mark.unit
def test_a_captioned_item_of_no_stated_length_keeps_its_chapters_within_its_captions(media_server, tmp_path):
    """An item with captions and no itunes:duration is not downloaded, so nothing measures it: it lasts as far as
    its captions go (their last cue's end: its duration, which was none, while its line said their length "of
    audio"), and its chapters file's chapter an hour into a talk of seconds is left out, the one before it ending
    there (it was kept, and the one before ran to 3723 s)."""
    folder = media_server.directory / "no-stated-length"
    folder.mkdir()
    shutil.copy(DATA / "t01.ogg", folder / "talk.ogg")
    (folder / "t01.vtt").write_text(_vtt("t01"))
    (folder / "chapters.json").write_text(json.dumps({"version": "1.2.0", "chapters": [
        {"startTime": 0, "title": "Intro"}, {"startTime": 10, "title": "Buckets"},
        {"startTime": 3723, "title": "An hour in"}]}))
    (folder / "feed.xml").write_bytes(_feed(_item(
        "no-stated-length", '<title>No stated length</title><podcast:transcript url="t01.vtt" type="text/vtt"/>'
        '<podcast:chapters url="chapters.json" type="application/json+chapters"/>', "talk.ogg")))
    sources = Sources(tmp_path / "downloads", lambda key: False, captions="uploaded")
    (fetched,) = map(sources.fetch, sources.expand(media_server.url("no-stated-length/feed.xml")))
    last_cue_end = int(TRUTH["t01"]["sentences"][-1]["end"])  # as _vtt writes it
    assert (fetched.audio, fetched.captions is not None, fetched.talk.duration) == (None, True, last_cue_end)
    assert fetched.talk.chapters == [{"start_time": 0, "end_time": 10, "title": "Intro"},
                                     {"start_time": 10, "end_time": last_cue_end, "title": "Buckets"}]


@pytest.mark.unit
def test_a_chapters_file_or_transcript_past_the_size_limit_is_refused(media_server, tmp_path, monkeypatch):
    """A publisher's file is read up to a limit (20 MB; 1 MB here, so the test sends little) and refused past it,
    not held in memory whole: a chapters file leaves the talk without chapters, a transcript is refused as other
    bad captions are, each saying why in one line. Both files would be usable if read whole."""
    monkeypatch.setattr(sources_module, "_URL_LIMIT_MB", 1)
    padding = " " * (1 << 20)  # whitespace JSON and WebVTT readers skip
    feed = _chaptered_feed(media_server, "too-large", {"Huge chapters": "chapters/huge.json"})
    (media_server.directory / "too-large" / "chapters" / "huge.json").write_text(json.dumps(CHAPTERS) + padding)
    transcript_feed = _chaptered_feed(media_server, "too-large-vtt", {"Huge transcript": "chapters/ep1.json"})
    vtt = media_server.directory / "too-large-vtt" / "t01.vtt"
    vtt.write_text(vtt.read_text() + "\nNOTE" + padding + "\n")
    sources = Sources(tmp_path / "downloads", lambda key: False, captions="uploaded")
    fetched = {f.talk.title: f for f in map(sources.fetch, [*sources.expand(feed), *sources.expand(transcript_feed)])}
    assert {title: ([c["title"] for c in f.talk.chapters], f.captions is not None, f.captions_refused)
            for title, f in fetched.items()} == {
        "Huge chapters": ([], True, "chapters not read: larger than 1 MB"),
        "Huge transcript": (["Intro", "Checkpoints", "Questions"], False, "uploaded captions not used: larger than 1 MB")}


class _Trickling(http.server.BaseHTTPRequestHandler):
    """A chapters file sent one byte every 50 ms for 6 s: each read gets something, so no socket timeout ends it."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json+chapters")
        self.end_headers()
        for byte in json.dumps(CHAPTERS)[:120].encode():
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(0.05)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.unit
def test_a_chapters_file_trickled_past_the_deadline_is_refused(media_server, tmp_path, monkeypatch):
    """A server that sends a byte every so often is never timed out per read: the file as a whole has a deadline
    (60 s; 1 s here), and one that takes longer leaves the talk without chapters, fetched all the same."""
    monkeypatch.setattr(sources_module, "_URL_DEADLINE_S", 1)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickling)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        feed = _chaptered_feed(media_server, "trickled", {
            "Trickled": f"http://127.0.0.1:{server.server_address[1]}/chapters.json"})
        sources = Sources(tmp_path / "downloads", lambda key: False, captions="uploaded")
        (candidate,) = sources.expand(feed)
        started = time.monotonic()
        fetched = sources.fetch(candidate)
        waited = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    assert (fetched.talk.chapters, fetched.captions is not None, fetched.captions_refused) == (
        [], True, "chapters not read: timed out after 1 s")
    assert waited < 4, waited  # the deadline, and the talk's own fetch; not the 6 s the server takes


# A table of contents as show notes write one (_described_chapters), and a time said in passing
DESCRIBED = "Power capping, start to end.\n\n00:00 Intro\n0:08 - Buckets\n(0:15) Questions\n(1:02:03) Far past the end"
IN_PASSING = "New episode, out Friday at 10:30.\n10:30 is when the stream starts."


@pytest.mark.unit
def test_a_downloaded_recordings_chapter_markers_or_its_descriptions_are_its_chapters_where_the_feed_lists_none(
        media_server, tmp_path):
    """An enclosure downloaded (no captions) whose recording holds chapter markers (an m4a's chapter atoms, an
    mp3's ID3 CHAP frames) has them as its chapters, within its measured length, over its description's; the
    feed's <podcast:chapters> file wins over both. An item not downloaded (its captions are its words) has its
    description's table of contents where that lists one, and none where a time is only mentioned."""
    from tests.test_units import chaptered_recording, marked_chapters

    folder = media_server.directory / "marked"
    folder.mkdir()
    for suffix in ("m4a", "mp3"):
        chaptered_recording(folder / f"talk.{suffix}")
    shutil.copy(DATA / "t01.ogg", folder / "captioned.ogg")
    (folder / "t01.vtt").write_text(_vtt("t01"))
    (folder / "chapters.json").write_text(json.dumps({"version": "1.2.0", "chapters": [
        {"startTime": 0, "title": "Opening"}, {"startTime": 3, "title": "Closing"}]}))
    transcript = '<podcast:transcript url="t01.vtt" type="text/vtt"/>'
    (folder / "feed.xml").write_bytes(_feed(
        _item("marked-m4a", "<title>Marked m4a</title>", "talk.m4a")
        + _item("marked-mp3", f"<title>Marked mp3</title><description>{DESCRIBED}</description>", "talk.mp3")
        + _item("feed-chapters", "<title>Feed chapters</title>"
                '<podcast:chapters url="chapters.json" type="application/json+chapters"/>', "talk.m4a")
        + _item("described", f"<title>Described</title><description>{DESCRIBED}</description>{transcript}",
                "captioned.ogg")
        + _item("in-passing", f"<title>In passing</title><description>{IN_PASSING}</description>{transcript}",
                "captioned.ogg")))
    sources = Sources(tmp_path / "downloads", lambda key: False, captions="uploaded")
    fetched = {f.talk.title: f for f in map(sources.fetch, sources.expand(media_server.url("marked/feed.xml")))}
    assert {title: f.audio is not None for title, f in fetched.items()} == {
        "Marked m4a": True, "Marked mp3": True, "Feed chapters": True, "Described": False, "In passing": False}
    for title in ("Marked m4a", "Marked mp3", "Feed chapters"):
        assert 5 < fetched[title].talk.duration < 7, (title, fetched[title].talk.duration)
    chapters = {title: f.talk.chapters for title, f in fetched.items()}
    assert chapters == {
        "Marked m4a": marked_chapters(fetched["Marked m4a"].talk.duration),
        "Marked mp3": marked_chapters(fetched["Marked mp3"].talk.duration),
        "Feed chapters": [{"start_time": 0, "end_time": 3, "title": "Opening"},
                          {"start_time": 3, "end_time": fetched["Feed chapters"].talk.duration, "title": "Closing"}],
        "Described": [{"start_time": 0, "end_time": 8, "title": "Intro"},
                      {"start_time": 8, "end_time": 15, "title": "Buckets"},
                      {"start_time": 15, "end_time": int(TRUTH["t01"]["sentences"][-1]["end"]), "title": "Questions"}],
        "In passing": []}


@pytest.mark.models
def test_chapters_read_from_a_recording_or_a_description_are_kept_on_a_re_run(media_server, tmp_path):
    """Through the real CLI (whisper tiny.en): a folder's m4a and mp3 with chapter markers, a recording whose sidecar
    .info.json's description lists a table of contents, and a feed's downloaded enclosure with markers are indexed
    with those chapters; run again unchanged, each is skipped, none "updated (chapters)"."""
    from tests.test_units import chaptered_recording

    local = tmp_path / "talks"
    local.mkdir()
    for suffix in ("m4a", "mp3"):
        chaptered_recording(local / f"marked_{suffix}.{suffix}")
    shutil.copy(DATA / "t01.ogg", local / "described.ogg")
    (local / "described.info.json").write_text(json.dumps({"title": "Described", "description": DESCRIBED}))
    folder = media_server.directory / "marked-cli"
    folder.mkdir()
    chaptered_recording(folder / "episode.m4a")
    (folder / "feed.xml").write_bytes(_feed(_item("marked-cli", "<title>Episode</title>", "episode.m4a")))
    library = tmp_path / "library"
    args = ("index", str(local), media_server.url("marked-cli/feed.xml"), "--library", str(library),
            "--whisper-model", "tiny.en")
    run = talksearch(*args)
    assert "4 added, 0 skipped, 0 failed" in run.stdout, run.stdout + run.stderr
    with Library.open(library, readonly=True) as reader:
        titles = {talk.title: [c["title"] for c in talk.chapters] for talk in reader.talks()}
    marked = ["Intro", "Power capping", "Questions"]
    assert titles == {"marked m4a": marked, "marked mp3": marked, "Episode": marked,
                      "Described": ["Intro", "Buckets", "Questions"]}
    again = talksearch(*args)
    assert "0 added, 4 skipped, 0 failed" in again.stdout, again.stdout + again.stderr
    assert "updated" not in again.stdout, again.stdout


@pytest.mark.unit
def test_chapters_are_kept_within_the_talk_one_per_start_with_printable_titles():
    """A chapters file is the publisher's word: chapters that start at or past the talk's end are dropped; each
    ends by the next one's start and by the talk's end, whatever its endTime says; of chapters with one start the
    first listed is kept; titles are one printable line (control and bidi override characters shown as U+FFFD)
    of at most 200 characters."""
    data = json.dumps({"version": "1.2.0", "chapters": [
        {"startTime": 0, "title": "Intro", "endTime": 50},
        {"startTime": 5, "title": "Line one\nline\ttwo \x1b[31mred\u202e"},
        {"startTime": 5, "title": "Same start"},
        {"startTime": 15, "title": "x" * 300, "endTime": 99},
        {"startTime": 20, "title": "At the end"},
        {"startTime": 30, "title": "Past the end"}]}).encode()
    within = [{"start_time": 0, "end_time": 5, "title": "Intro"},
              {"start_time": 5, "end_time": 15, "title": "Line one line two \ufffd[31mred\ufffd"},
              {"start_time": 15, "end_time": 20, "title": "x" * 199 + "\N{HORIZONTAL ELLIPSIS}"}]
    assert _json_chapters(data, 20) == within
    # a talk whose length is not known: every chapter, the last without an end
    assert _json_chapters(data, None) == within + [{"start_time": 20, "end_time": 30, "title": "At the end"},
                                                   {"start_time": 30, "end_time": None, "title": "Past the end"}]


@pytest.mark.models
def test_a_podcast_feeds_chapters_are_the_talks_and_a_broken_file_fails_no_talk(media_server, tmp_path):
    """Through the real CLI and service: the chapters of a feed item's <podcast:chapters> file are its talk's (the
    API's, the talk page's), and an item whose chapters file is gone is indexed without, the run saying so."""
    feed = _chaptered_feed(media_server, "chapters-cli", {
        "Chaptered": "chapters/ep1.json", "Missing": "chapters/gone.json"})
    library = tmp_path / "library"
    run = talksearch("index", feed, "--library", str(library))
    assert "2 added, 0 skipped, 0 failed" in run.stdout, run.stdout + run.stderr
    (missing,) = [line for line in run.stdout.splitlines() if line.startswith("added") and "Missing" in line]
    assert missing.endswith("uploaded captions; chapters not read: HTTP Error 404: File not found)"), missing
    with serving(settings_for(library)) as server:
        talks = {talk["title"]: talk["id"] for talk in server.get("/api/talks").json()["talks"]}
        chaptered = server.get(f"/api/talks/{talks['Chaptered']}").json()
        assert chaptered["chapters"] == [{"start": c["start_time"], "end": c["end_time"], "title": c["title"]}
                                         for c in READ_CHAPTERS]
        assert server.get(f"/api/talks/{talks['Missing']}").json()["chapters"] == []
        page = server.get(f"/talks/{talks['Chaptered']}").text
    nav = page.split('<nav class="chapters" aria-label="Chapters"', 1)[1].split("</nav>", 1)[0]
    assert [title for title in ("Intro", "Sponsor", "Checkpoints", "Questions")
            if f'dir="auto">{title}</span></a></li>' in nav] == ["Intro", "Checkpoints", "Questions"]


@pytest.mark.unit
def test_a_busy_servers_retry_after_is_waited_within_a_half_minute_in_all():
    """Retry-After as servers write it: seconds, or anything else (a date in the past, "²", which str.isdigit
    took for a digit and float() refused: "could not convert string to float") read as no wait asked. The waits of
    one request stop at 30 s in all, with the server's 503 said (a 20 s Retry-After ran into the minute a feed
    is read in, and the run said only that the feed took longer than that)."""
    import io

    from yt_dlp.networking import Response
    from yt_dlp.networking.exceptions import HTTPError

    from talksearch.indexer.downloads import _retry_pause

    def busy(retry_after: str) -> HTTPError:
        return HTTPError(Response(io.BytesIO(b""), "http://127.0.0.1/x.mp3", {"Retry-After": retry_after}, status=503,
                                  reason="Service Unavailable"))

    assert _retry_pause(busy("3"), 1.0, 0.0) == 3.0
    assert _retry_pause(busy("\u00b2"), 2.0, 0.0) == 2.0 and _retry_pause(busy("soon"), 4.0, 0.0) == 4.0
    assert _retry_pause(busy("Wed, 21 Oct 2015 07:28:00 GMT"), 1.0, 0.0) == 0.0  # a past date: now
    with pytest.raises(HTTPError, match=r"HTTP Error 503: Service Unavailable \(the server asks to be asked again in "
                                        r"0:20, after 20 s of waiting\)"):
        _retry_pause(busy("20"), 1.0, 20.0)
    with pytest.raises(HTTPError, match=r"asks to be asked again in 1:00:00\)$"):
        _retry_pause(busy("3600"), 1.0, 0.0)

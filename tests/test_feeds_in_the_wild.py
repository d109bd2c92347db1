"""Feeds as publishers write them, beyond the tidy ones: enclosures behind a tracking prefix or a CDN that signs
its links, guids repeated or left blank, feeds in another encoding than UTF-8, items with cover art as their first
enclosure, Atom enclosures typed as any file, Media RSS in place of <enclosure>, a PHP feed's blank lines before its
XML declaration, an HTML page that links its feed. Read from the feed's XML (``feeds``), and through ``Sources``
over the loopback media server, every item with a <podcast:transcript> (captions stand in for the audio: no
download, no whisper)."""

from __future__ import annotations

import shutil

import pytest

from talksearch.indexer.source_identity import _feed_digest
from talksearch.indexer.sources import ListedTwice, SourceError, Sources, _upgraded
from tests.helpers import DATA, TRUTH

pytestmark = pytest.mark.unit

NAMESPACES = ('xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" '
              'xmlns:podcast="https://podcastindex.org/namespace/1.0" xmlns:media="http://search.yahoo.com/mrss/"')


def _vtt(talk: str) -> str:
    cues = [f"00:00:{int(s['start']):02d}.000 --> 00:00:{int(s['end']):02d}.000\n{s['text']}"
            for s in TRUTH[talk]["sentences"]]
    return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"


def _show(media_server, name: str, items: str, encoding: str = "UTF-8", channel: str = "Wild Ops") -> str:
    """A show's folder on the media server: t01 as talk.ogg and its captions as talk.vtt, and a feed of ``items``
    (in ``encoding``, declared in its prolog); the feed's URL."""
    folder = media_server.directory / name
    folder.mkdir(exist_ok=True)
    shutil.copy(DATA / "t01.ogg", folder / "talk.ogg")
    (folder / "talk.vtt").write_text(_vtt("t01"))
    (folder / "feed.xml").write_bytes(
        f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0" {NAMESPACES}><channel>'
        f"<title>{channel}</title>{items}</channel></rss>".encode(encoding))
    return media_server.url(f"{name}/feed.xml")


def _item(title: str, media: str, guid: str | None = None, body: str = "") -> str:
    """An item whose captions are its show's talk.vtt (relative to the feed), its recording at ``media``."""
    return (f"<item><title>{title}</title>{'' if guid is None else f'<guid>{guid}</guid>'}{body}"
            f'<enclosure url="{media}" type="audio/ogg" length="1"/>'
            '<podcast:transcript url="talk.vtt" type="text/vtt"/></item>')


def _fetched(feed: str, tmp_path, library_urls=dict) -> list:
    """Each talk of ``feed`` fetched as a run fetches them, in order; one this run has taken already (ListedTwice)
    as its label, "listed twice: <title>"."""
    sources = Sources(tmp_path / "downloads", lambda key: False, captions="uploaded", library_urls=library_urls)
    taken: set[str] = set()
    fetched = []
    for candidate in sources.expand(feed):
        try:
            talk = sources.fetch(candidate, taken)
        except ListedTwice:
            fetched.append(f"listed twice: {candidate.label}")
            continue
        taken.add(talk.talk.archive_id)
        fetched.append(talk)
    return fetched


def test_an_enclosure_that_redirects_to_a_signed_link_is_stored_played_and_linked_as_listed(media_server, tmp_path):
    """A tracking prefix that redirects to a CDN's signed link (?Expires=...&Signature=...): the talk's media was
    where it led, a link that stops working once it expires (players and every search link broke). The feed's own
    URL, which keys the talk and which players follow, is stored instead. A library indexed before keeps the
    signed link until the feed is read again: its listing then states the listed URL, which the writer stores."""
    feed = _show(media_server, "wild-signed", _item("Signed", "tracking/talk.ogg", guid="signed-1"))
    listed = media_server.url("wild-signed/tracking/talk.ogg")
    signed = media_server.url("wild-signed/talk.ogg?Expires=1700000000&Signature=abc")
    media_server.redirects["/wild-signed/tracking/talk.ogg"] = signed
    [fetched] = _fetched(feed, tmp_path)
    assert (fetched.talk.url, fetched.talk.media_url) == (listed, listed)
    assert fetched.captions is not None and fetched.media_stream == signed  # (read where it led, while indexing)

    key = fetched.talk.archive_id
    before = Sources(tmp_path / "downloads", {key}.__contains__, library_urls=lambda: {key: signed})
    [candidate] = before.expand(feed)
    assert before.fetch(candidate) is None  # known: skipped
    assert before.listed_details(candidate, key)["media_url"] == listed
    # and one stored as listed states no change (as with a token that changed: where the recording is)
    after = Sources(tmp_path / "downloads", {key}.__contains__, library_urls=lambda: {key: listed})
    [candidate] = after.expand(feed)
    assert "media_url" not in after.listed_details(candidate, key)
    # (an http enclosure that redirects to its own https is played from there: an https page plays no http media)
    assert _upgraded("http://cdn.example/a.mp3", "https://cdn.example/a.mp3?token=1")
    assert not _upgraded("http://track.example/cdn.example/a.mp3", "https://cdn.example/a.mp3")


def test_items_sharing_a_guid_or_with_a_blank_one_are_each_a_talk_with_its_own_details(media_server, tmp_path):
    """Two recordings a feed gives one <guid> (a copy-pasted item), and two whose <guid> is only white space: the
    second of each was "listed twice in this run", and the first took its speakers and date (the feed's details
    were keyed by the guid, the last item's winning). A blank guid is no guid (the item is keyed by its enclosure,
    as with <guid></guid>); a repeated one is told apart by the item's enclosure, and said to be repeated."""
    people = lambda name, day: (f"<author>{name.lower()}@example.org ({name})</author>"  # noqa: E731
                                f"<pubDate>{day} Mar 2024 10:00:00 GMT</pubDate>")
    feed = _show(media_server, "wild-guids", "".join([
        _item("Copied A", "a.ogg", "ep-7", people("Ann Lee", "01")),
        _item("Copied B", "b.ogg", "ep-7", people("Bo Chen", "02")),
        _item("Blank C", "c.ogg", "\n    ", people("Cy Diaz", "03")),
        _item("Blank D", "d.ogg", "\n    ", people("Di Eze", "04"))]))
    for name in "abcd":
        shutil.copy(DATA / "t01.ogg", media_server.directory / "wild-guids" / f"{name}.ogg")
    fetched = _fetched(feed, tmp_path)
    assert [f for f in fetched if isinstance(f, str)] == []
    assert [(f.talk.title, f.talk.speakers, f.talk.published, f.talk.media_url.rpartition("/")[2])
            for f in fetched] == [("Copied A", ["Ann Lee"], "2024-03-01", "a.ogg"),
                                  ("Copied B", ["Bo Chen"], "2024-03-02", "b.ogg"),
                                  ("Blank C", ["Cy Diaz"], "2024-03-03", "c.ogg"),
                                  ("Blank D", ["Di Eze"], "2024-03-04", "d.ogg")]
    assert len({f.talk.archive_id for f in fetched}) == 4
    assert [bool(f.captions_refused and "<guid> ep-7 is another item's too" in f.captions_refused)
            for f in fetched] == [True, True, False, False], [f.captions_refused for f in fetched]
    # A library indexed before: the blank guids' items were one talk, under the guid's id within the feed, the first
    # item's: that item stays it (skipped), the other is a talk of its own
    earlier = f"generic -{_feed_digest(feed)}"
    before = Sources(tmp_path / "downloads", {earlier}.__contains__, captions="uploaded",
                     library_urls=lambda: {earlier: media_server.url("wild-guids/c.ogg")})
    keys = {candidate.label: before.archive_key(candidate) for candidate in before.expand(feed)}
    assert keys["Blank C"] == earlier and keys["Blank D"] not in (earlier, None), keys


@pytest.mark.parametrize("encoding, title", [("windows-1252", "Café – naïve “caching”"),
                                             ("ISO-8859-15", "Œuvres à 5 € près")])
def test_a_feed_in_another_encoding_than_utf_8_titles_its_talks_as_written(media_server, tmp_path, encoding, title):
    """A feed in windows-1252 or ISO-8859-15, as its XML declaration says: its items' and its channel's titles
    were yt-dlp's reading of it (which takes no notice of the declaration: "Caf� � na�ve"), while its speakers
    and descriptions, read by talksearch, were right. The titles are the feed's own reading too."""
    feed = _show(media_server, f"wild-{encoding.lower()}",
                 _item(title, "talk.ogg", "enc-1", "<author>Zoë Ødegård</author>"), encoding=encoding,
                 channel=f"Ops {title}")
    [fetched] = _fetched(feed, tmp_path)
    assert (fetched.talk.title, fetched.talk.channel, fetched.talk.speakers) == (
        title, f"Ops {title}", ["Zoë Ødegård"])


def test_an_items_recording_is_its_audio_or_video_enclosure_not_its_cover_art(media_server, tmp_path):
    """An item with several enclosures, its cover art (image/jpeg) first: the first was taken ("not readable as
    audio"), where an Atom entry's first audio or video one is. RSS's is chosen by the same rule; its details
    (keyed by the recording's URL, the item having no guid) are its own."""
    feed = _show(media_server, "wild-covers", '<item><title>Covered</title><author>Ann Lee</author>'
                 '<enclosure url="cover.jpg" type="image/jpeg" length="1"/>'
                 '<enclosure url="talk.ogg" type="audio/ogg" length="1"/>'
                 '<podcast:transcript url="talk.vtt" type="text/vtt"/></item>')
    [fetched] = _fetched(feed, tmp_path)
    assert (fetched.talk.title, fetched.talk.media_url, fetched.talk.speakers) == (
        "Covered", media_server.url("wild-covers/talk.ogg"), ["Ann Lee"])


def test_an_atom_enclosure_typed_as_any_file_is_a_recording_by_its_name():
    """An Atom enclosure typed application/octet-stream (or binary/octet-stream, text/plain: a server's default
    for a file it has no type for) was left out, the entry with it, though RSS takes one: its name says whether it
    is a recording, as for one of no type."""
    from talksearch.indexer.feeds import _atom_feed
    import xml.etree.ElementTree as ET

    entries = "".join(f'<entry><id>{n}</id><title>T{n}</title><link rel="enclosure" type="{kind}" href="{name}"/>'
                      "</entry>" for n, (kind, name) in enumerate([
                          ("application/octet-stream", "a.mp3"), ("binary/octet-stream", "b.m4a"),
                          ("text/plain", "c.ogg"), ("application/octet-stream", "notes.pdf")]))
    root = ET.fromstring(f'<feed xmlns="http://www.w3.org/2005/Atom"><title>Any</title>{entries}</feed>')
    listed, _ = _atom_feed(root, "https://example.org/feed.atom")
    assert [entry["title"] for entry in listed] == ["T0", "T1", "T2"]


def test_media_rss_content_is_the_recording_of_an_item_without_an_enclosure(media_server, tmp_path):
    """Media RSS in place of <enclosure>: <media:content>, or a <media:group> of renditions, the one marked
    isDefault first. RSS items indexed nothing ("no media found on this page" of the item's <link>), and Atom
    entries were left out silently. The first of audio or video, the default one of a group, is the recording."""
    from talksearch.indexer.feeds import _atom_feed
    import xml.etree.ElementTree as ET

    feed = _show(media_server, "wild-mrss", "".join([
        '<item><title>Content</title><guid>m-1</guid><link>https://example.org/episodes/1</link>'
        '<media:content url="cover.jpg" type="image/jpeg"/><media:content url="talk.ogg" type="audio/ogg"/>'
        '<podcast:transcript url="talk.vtt" type="text/vtt"/></item>',
        '<item><title>Group</title><guid>m-2</guid><media:group>'
        '<media:content url="low.ogg" type="audio/ogg"/><media:content url="talk.ogg" medium="audio" isDefault="true"/>'
        '</media:group><podcast:transcript url="talk.vtt" type="text/vtt"/></item>']))
    fetched = _fetched(feed, tmp_path)
    assert [(f.talk.title, f.talk.media_url) for f in fetched] == [
        ("Content", media_server.url("wild-mrss/talk.ogg")), ("Group", media_server.url("wild-mrss/talk.ogg"))]
    root = ET.fromstring('<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/">'
                         '<entry><id>a-1</id><title>Atom</title><media:content url="talk.mp4" type="video/mp4"/>'
                         '</entry></feed>')
    listed, _ = _atom_feed(root, "https://example.org/feed.atom")
    assert [entry["url"].split("#")[0] for entry in listed] == ["https://example.org/talk.mp4"]


def test_a_feed_after_blank_lines_is_read_and_a_page_that_links_its_feed_says_so(media_server, tmp_path):
    """Blank lines before the XML declaration (a PHP script's, often) made the feed unreadable ("no media found on
    this page"): it is read as what follows them. A show's page that links its feed (<link rel="alternate"
    type="application/rss+xml">), named instead of the feed, names the feed to index; an RSS 1.0 (RDF) feed says
    that it is not read, rather than that it has no media."""
    feed = _show(media_server, "wild-php", _item("After blank lines", "talk.ogg", "php-1", "<author>Ann Lee</author>"))
    folder = media_server.directory / "wild-php"
    (folder / "feed.xml").write_bytes(b"\n\n  \r\n" + (folder / "feed.xml").read_bytes())
    [fetched] = _fetched(feed, tmp_path)
    assert (fetched.talk.title, fetched.talk.speakers, fetched.talk.channel, fetched.talk.media_url) == (
        "After blank lines", ["Ann Lee"], "Wild Ops", media_server.url("wild-php/talk.ogg"))

    (folder / "show.html").write_text('<!doctype html><html><head><title>Wild Ops</title><link rel="alternate" '
                                      'type="application/rss+xml" title="Podcast" href="feed.xml"></head>'
                                      "<body><p>Our show</p></body></html>")
    sources = Sources(tmp_path / "downloads", lambda key: False)
    with pytest.raises(SourceError) as page:
        list(sources.expand(media_server.url("wild-php/show.html")))
    assert str(page.value) == f"no media found on this page; it links a feed: {feed}"

    (folder / "feed.rdf").write_text('<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
                                     'syntax-ns#" xmlns="http://purl.org/rss/1.0/"><channel rdf:about="x"><title>Old'
                                     "</title></channel><item><title>One</title></item></rdf:RDF>")
    with pytest.raises(SourceError) as rdf:
        list(sources.expand(media_server.url("wild-php/feed.rdf")))
    assert str(rdf.value).startswith("an RSS 1.0 (RDF) feed, which talksearch does not read"), rdf.value

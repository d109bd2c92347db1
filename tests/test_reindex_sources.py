"""Re-indexing a feed night after night, through the real CLI over the loopback media server: a feed that moved
(301), an item whose media moved, one whose media is gone by the next run, one whose CDN token changes. Every
item has a <podcast:transcript>, so no talk waits for whisper (and one that loses its transcript shows it)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil

import pytest
from yt_dlp.utils import unsmuggle_url, url_basename

from talksearch.library import Library
from tests.helpers import DATA, TRUTH, talksearch

# What these check does not depend on the embedding model (conftest's light_embedding).
pytestmark = [pytest.mark.models, pytest.mark.usefixtures("light_embedding")]

PODCAST = "https://podcastindex.org/namespace/1.0"


def _feed(base: str, items: list[dict]) -> str:
    listed = "".join(
        f"<item><title>{item['title']}</title><author>{item['speaker']}</author><category>Night Summit</category>"
        + (f'<guid isPermaLink="false">{item["guid"]}</guid>' if item.get("guid") else "")
        + (f"<pubDate>{item['date']}</pubDate>" if item.get("date") else "")
        + f'<enclosure url="{base}/{item["url"]}" type="audio/ogg" length="1"/>'
        f'<podcast:transcript url="{base}/{item["talk"]}.vtt" type="text/vtt"/></item>'
        for item in items)
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:podcast="{PODCAST}"><channel>'
            f"<title>Night feed</title><link>{base}/</link><language>en</language>{listed}</channel></rss>")


def _vtt(talk: str) -> str:
    cues = [f"00:00:{int(s['start']):02d}.000 --> 00:00:{int(s['end']):02d}.000\n{s['text']}"
            for s in TRUTH[talk]["sentences"]]
    return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"


def _items(token: str) -> list[dict]:
    return [
        {"title": "Gone by tomorrow", "guid": "night-gone", "url": "gone.ogg", "talk": "t01", "speaker": "Ann Lee"},
        {"title": "Moved media", "guid": "night-moved", "url": "old/moved.ogg", "talk": "t02", "speaker": "Bo Chen",
         "date": "Fri, 01 Mar 2024 23:30:00 -0500"},
        {"title": "Signed link", "url": f"signed.ogg?token={token}", "talk": "t01", "speaker": "Cy Diaz"},
        {"title": "Escaped name", "url": "night talk é.ogg", "talk": "t02", "speaker": "Di Eze",  # fetched escaped
         "date": "2024-03-01T23:30:00-05:00"},  # the same instant as "Moved media"'s, in ISO 8601
    ]


def _published(media_server, name: str, recordings: dict[str, str], items: list[dict]):
    """A feed folder on the media server: each recording (file stem: test talk) a copy of that talk's audio, the
    talks' captions beside them, and the feed of ``items``; the folder and its URL."""
    folder = media_server.directory / name
    folder.mkdir()
    for stem, talk in recordings.items():
        shutil.copy(DATA / f"{talk}.ogg", folder / f"{stem}.ogg")
    for talk in ("t01", "t02"):
        (folder / f"{talk}.vtt").write_text(_vtt(talk))
    base = media_server.url(name)
    (folder / "feed.xml").write_text(_feed(base, items))
    return folder, base


@pytest.fixture(scope="module")
def nightly(media_server, tmp_path_factory):
    """The feed indexed once through its old address (a 301 to where it is now); then the next night's state:
    one item's media 404s and the signed link has a new token."""
    folder, base = _published(media_server, "nightly", {"gone": "t01", "moved": "t02", "signed": "t01",
                                                        "night talk é": "t02"}, _items("AAA"))
    media_server.redirects.update({"/nightly/old/feed.xml": "/nightly/feed.xml",
                                   "/nightly/old/moved.ogg": "/nightly/moved.ogg"})
    library = tmp_path_factory.mktemp("nightly") / "library"
    first = talksearch("index", f"{base}/old/feed.xml", "--library", str(library))
    (folder / "gone.ogg").unlink()
    (folder / "feed.xml").write_text(_feed(base, _items("BBB")))
    return library, first, base


def test_a_feed_behind_a_redirect_is_indexed_with_each_items_feed_metadata(nightly):
    library, first, _ = nightly
    assert first.returncode == 0, first.stdout + first.stderr
    assert "4 added, 0 skipped, 0 failed" in first.stdout, first.stdout
    listing = json.loads(talksearch("talks", "--library", str(library), "--json").stdout)
    talks = {t["title"]: t for t in listing["talks"]}
    assert set(talks) == {"Gone by tomorrow", "Moved media", "Signed link", "Escaped name"}
    # Items whose media redirects or is fetched escaped keep their transcript and speaker (the feed's, looked up
    # by the URL as the feed lists it)
    for title, speaker in (("Moved media", "Bo Chen"), ("Escaped name", "Di Eze")):
        assert talks[title]["transcript_source"] == "uploaded captions", title
        assert talks[title]["speakers"] == [speaker] and talks[title]["event"] == "Night Summit"
    # A <pubDate> is the day the feed writes, whether RFC 822 or ISO 8601 (not the latter's UTC day, 2024-03-02);
    # an item without one has no date: not its file's Last-Modified, which yt-dlp takes for a media URL's date.
    assert talks["Moved media"]["published"] == talks["Escaped name"]["published"] == "2024-03-01"
    assert talks["Gone by tomorrow"]["published"] == talks["Signed link"]["published"] is None


def test_the_next_night_known_talks_are_skipped_before_their_media_is_requested(nightly):
    """One item's media is gone (404) and the signed link's token changed: all four are known, skipped."""
    library, _, base = nightly
    again = talksearch("index", f"{base}/old/feed.xml", "--library", str(library),
                       env={"TALKSEARCH_SOCKET_TIMEOUT": "2"})
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 added, 4 skipped, 0 failed" in again.stdout, again.stdout
    assert again.stdout.count("already in the library") == 4
    assert json.loads(talksearch("talks", "--library", str(library), "--json").stdout)["total"] == 4


def _old_release_id(self, info: dict, listed: str | None = None, listing_page: str | None = None) -> dict:
    """``Sources._distinct_id`` as the previous release (3207a4f) had it: a media URL's recording named after its
    file got the digest of the whole URL yt-dlp resolved (its token, where it redirected); a name fetched escaped
    was not taken for the file's, and kept its plain name."""
    url = unsmuggle_url(info.get("url") or "")[0]
    if (info.get("extractor_key") == "Generic" and info.get("direct")
            and str(info.get("id")) == os.path.splitext(url_basename(url))[0]):
        return {**info, "id": f"{info['id']}-{hashlib.sha256(url.encode()).hexdigest()[:8]}"}
    return info


def _indexed_by_the_old_release(url: str, library) -> int:
    """``url`` indexed into ``library`` by the real indexer with the previous release's keying; how many were added."""
    from talksearch.indexer import sources
    from talksearch.indexer.pipeline import IndexRun
    from talksearch.settings import Settings

    with pytest.MonkeyPatch.context() as old:
        old.setattr(sources.Sources, "_distinct_id", _old_release_id)
        run = IndexRun(Settings(library=library))
        try:
            return run.run([url]).count("added")
        finally:
            run.close()


def _release_items(token: str, gone: bool = True) -> list[dict]:
    """Items without a guid whose previous-release key is not the one the URL as listed gives now."""
    return [
        {"title": "Signed link", "url": f"signed.ogg?token={token}", "talk": "t01", "speaker": "Cy Diaz"},
        {"title": "Escaped name", "url": "night talk é.ogg", "talk": "t02", "speaker": "Di Eze"},
        *([{"title": "Gone signed link", "url": f"gone.ogg?token={token}", "talk": "t01", "speaker": "Ann Lee"},
           {"title": "Gone escaped name", "url": "gone é.ogg", "talk": "t02", "speaker": "Bo Chen"}] if gone else []),
    ]


def _archive_ids(library) -> list[str]:
    with Library.open(library) as lib:
        return sorted(lib.archive_urls())


@pytest.fixture(scope="module")
def old_release(media_server, tmp_path_factory):
    """A library the previous release indexed the feed into (token AAA); then the next night's state: a new
    token, and two items' media gone (404)."""
    folder, base = _published(media_server, "release", {"signed": "t01", "night talk é": "t02", "gone": "t01",
                                                         "gone é": "t02"}, _release_items("AAA"))
    library = tmp_path_factory.mktemp("release") / "library"
    assert _indexed_by_the_old_release(f"{base}/feed.xml", library) == 4
    (folder / "gone.ogg").unlink()
    (folder / "gone é.ogg").unlink()
    (folder / "next.xml").write_text(_feed(base, _release_items("BBB")))
    (folder / "reindex.xml").write_text(_feed(base, _release_items("BBB", gone=False)))
    return library, base


def test_after_the_upgrade_an_old_release_librarys_talks_are_skipped_before_their_media_is_requested(
        old_release, tmp_path):
    """The signed links' token changed, and two items' media is gone: all known all the same, by where each
    recording is (the previous release keyed them by the whole URL it fetched, or an escaped name by the name
    alone), and not requested: a gone one is not a failure every night."""
    library = tmp_path / "library"
    shutil.copytree(old_release[0], library)
    before = _archive_ids(library)
    again = talksearch("index", f"{old_release[1]}/next.xml", "--library", str(library))
    assert "0 added, 4 skipped, 0 failed" in again.stdout, again.stdout
    assert again.stdout.count("already in the library") == 4
    assert _archive_ids(library) == before


def test_reindex_replaces_an_old_release_librarys_talks_in_place(old_release, tmp_path):
    library = tmp_path / "library"
    shutil.copytree(old_release[0], library)
    before = _archive_ids(library)
    again = talksearch("index", f"{old_release[1]}/reindex.xml", "--reindex", "--library", str(library))
    assert "2 added, 0 skipped, 0 failed" in again.stdout, again.stdout
    assert _archive_ids(library) == before  # the same talks, replaced: none added beside them


@pytest.mark.parametrize(("first", "second", "same"), [
    ("https://cdn.example/a.ogg?token=AAA", "https://cdn.example/a.ogg?token=BBB", True),
    ("https://cdn.example/a.ogg?id=7&Expires=1&Signature=x", "https://cdn.example/a.ogg?Signature=y&id=7", True),
    ("https://cdn.example/a.ogg?X-Amz-Signature=1&utm_source=feed", "https://cdn.example/a.ogg", True),
    ("https://host.example/download.php?id=1", "https://host.example/download.php?id=2", False),
    ("https://host.example/get.php?hash=aaa", "https://host.example/get.php?hash=bbb", False),  # a file's hash
    ("https://host.example/2023/keynote.mp4", "https://host.example/2024/keynote.mp4", False),
])
def test_a_recording_is_where_its_url_points_whatever_signs_it(first, second, same):
    """A media URL's key leaves out only the query parameters that sign or track a link: a host that serves
    every episode as download.php?id=N has one recording per id, not one for the whole feed."""
    from talksearch.indexer.source_identity import _address, _url_digest

    assert (_url_digest(first) == _url_digest(second)) is same
    assert (_address(first) == _address(second)) is same


def _media_url_id(tmp_path, library: dict[str, str], listed: str, resolved: str | None = None) -> str:
    from talksearch.indexer.sources import Sources

    return Sources(tmp_path, library.__contains__, library_urls=lambda: library)._media_url_id(listed, resolved)


def test_a_media_urls_key_names_the_recording_not_the_link(tmp_path):
    """A recording named after its file is keyed by its name and its address, both without what only signs the
    link: the same before any request and after, whatever the token; another show's media?file=ep1.mp3 is
    another recording; an earlier release's id found where a link redirected is taken only for a file of that
    name (a new dl.php?id=2 that leads to the same file as dl.php?id=1 did is a new recording)."""
    key = functools.partial(_media_url_id, tmp_path, {})
    assert key("https://cdn.example/ep7.mp3?token=a.b") == key("https://cdn.example/ep7.mp3?token=c.d")
    assert key("https://host.example/showA/media?file=ep1.mp3") != key("https://host.example/showB/media?file=ep1.mp3")
    assert key("https://host.example/showA/media?file=ep1.mp3").startswith("media?file=ep1-")

    redirected = {"generic audio-1234abcd": "https://host.example/files/audio.mp3?token=AAA"}
    assert _media_url_id(tmp_path, redirected, "https://host.example/dl.php?id=2",
                         "https://host.example/files/audio.mp3?token=BBB") != "audio-1234abcd"
    moved = {"generic q-1234abcd": "https://host.example/moved/q.ogg?token=AAA"}  # an earlier release's
    assert _media_url_id(tmp_path, moved, "https://host.example/q.ogg?token=BBB",
                         "https://host.example/moved/q.ogg?token=BBB") == "q-1234abcd"


def test_after_the_upgrade_a_redirected_escaped_name_is_known_whatever_its_token(media_server, tmp_path):
    """An item whose link redirects (301) to a file whose name is fetched escaped: the previous release kept the
    plain name, and the next night, with a new token, the talk is known by where its link leads, not added again
    beside itself (yt-dlp's own archive check found the plain name, and handed back no URL to tell where that is)."""
    def items(token: str) -> list[dict]:
        return [{"title": "Night talk", "url": f"old/night%20talk%20%C3%A9.ogg?token={token}", "talk": "t02",
                 "speaker": "Di Eze"}]

    folder, base = _published(media_server, "redirected", {"night talk é": "t02"}, items("AAA"))
    media_server.redirects["/redirected/old/night%20talk%20%C3%A9.ogg"] = "/redirected/night%20talk%20%C3%A9.ogg"
    library = tmp_path / "library"
    assert _indexed_by_the_old_release(f"{base}/feed.xml", library) == 1
    before = _archive_ids(library)
    assert before == ["generic night talk é"]  # the previous release's key: the plain name
    (folder / "feed.xml").write_text(_feed(base, items("BBB")))
    again = talksearch("index", f"{base}/feed.xml", "--library", str(library))
    assert "0 added, 1 skipped, 0 failed" in again.stdout, again.stdout + again.stderr
    assert "already in the library" in again.stdout
    assert _archive_ids(library) == before


def test_two_streams_whose_playlists_share_a_name_are_two_talks(media_server, tmp_path):
    """yt-dlp names an HLS stream after its playlist's file, and index.m3u8 / master.m3u8 / talk.m3u8 are the norm:
    a second talk streamed as .../b/talk.m3u8 was skipped as "listed twice in this run" (and in a later run,
    "already in the library") under the first's key. Each is keyed by its address too, as a media file is."""
    import subprocess

    urls = []
    for folder, talk in (("hls-a", "t01"), ("hls-b", "t02")):
        (media_server.directory / folder).mkdir()
        subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(DATA / f"{talk}.ogg"), "-c:a", "aac", "-f", "hls",
                        "-hls_time", "10", "-hls_playlist_type", "vod", str(media_server.directory / folder / "talk.m3u8")],
                       check=True)
        urls.append(media_server.url(f"{folder}/talk.m3u8"))
    library = tmp_path / "library"
    first = talksearch("index", urls[0], "--library", str(library), "--whisper-model", "tiny.en")
    assert "1 added, 0 skipped, 0 failed" in first.stdout, first.stdout + first.stderr
    second = talksearch("index", *urls, "--library", str(library), "--whisper-model", "tiny.en")
    assert "1 added, 1 skipped, 0 failed" in second.stdout, second.stdout + second.stderr
    with Library.open(library, readonly=True) as reader:
        said = {t.url: " ".join(s.text for s in reader.segments(t.id)).lower() for t in reader.talks()}
    assert set(said) == set(urls) and "ocean" in said[urls[0]] and "partition" in said[urls[1]], said

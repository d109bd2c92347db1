"""A feed item is known by its <guid> within its feed: two shows whose items share a guid ("1", "ep-12") are two
talks, each with its own transcript and details; an item whose enclosure moved (same guid, same feed) is the same
talk, pointed at its new URL without being transcribed again; and a library an earlier release keyed by the guid
alone keeps its talks, under the same ids. Through the CLI, over the loopback media server, with the real yt-dlp,
whisper tiny.en and MiniLM."""

from __future__ import annotations

import json
import shutil

import pytest

from talksearch.library import Library
from tests.helpers import DATA, TRUTH, talksearch

# What these check does not depend on the embedding model (conftest's light_embedding).
pytestmark = [pytest.mark.models, pytest.mark.usefixtures("light_embedding")]

MODELS = ("--whisper-model", "tiny.en", "--embed-model", "all-MiniLM-L6-v2")
PODCAST = "https://podcastindex.org/namespace/1.0"


def _feed(show: str, title: str, guid: str, media: str, transcript: str | None = None) -> str:
    captions = f'<podcast:transcript url="{transcript}" type="text/vtt"/>' if transcript else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:podcast="{PODCAST}"><channel>'
            f"<title>{show}</title><item><title>{title}</title><guid isPermaLink=\"false\">{guid}</guid>"
            f'<enclosure url="{media}" type="audio/ogg" length="1"/>{captions}</item></channel></rss>')


def _vtt(talk: str) -> str:
    cues = [f"00:00:{int(s['start']):02d}.000 --> 00:00:{int(s['end']):02d}.000\n{s['text']}"
            for s in TRUTH[talk]["sentences"]]
    return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"


def _show(media_server, name: str, talk: str, title: str, guid: str = "1", captioned: bool = False) -> str:
    """A show's folder on the media server: one episode (a copy of test talk ``talk``) in its feed; the feed's URL."""
    folder = media_server.directory / name
    folder.mkdir(exist_ok=True)
    shutil.copy(DATA / f"{talk}.ogg", folder / "episode.ogg")
    transcript = None
    if captioned:
        (folder / "episode.vtt").write_text(_vtt(talk))
        transcript = media_server.url(f"{name}/episode.vtt")
    (folder / "feed.xml").write_text(_feed(name, title, guid, media_server.url(f"{name}/episode.ogg"), transcript))
    return media_server.url(f"{name}/feed.xml")


def _index(library, *sources: str) -> list[str]:
    result = talksearch("index", *sources, "--library", str(library), *MODELS)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


def _talks(library) -> dict[str, object]:
    """The library's talks by title, each with its transcript's text."""
    with Library.open(library, readonly=True) as reader:
        return {talk.title: (talk, " ".join(s.text for s in reader.segments(talk.id))) for talk in reader.talks()}


def test_two_shows_items_with_the_same_guid_are_two_talks(media_server, tmp_path):
    show_a = _show(media_server, "identity-a", "t01", "Show A, episode 1")
    show_b = _show(media_server, "identity-b", "t02", "Show B, episode 1")
    library = tmp_path / "library"
    assert _index(library, show_a)[-1].startswith("1 added, 0 skipped, 0 failed"), "show A"
    lines = _index(library, show_b)
    assert lines[-1].startswith("1 added, 0 skipped, 0 failed"), lines  # not "updated ...: details changed (title)"
    talks = _talks(library)
    assert set(talks) == {"Show A, episode 1", "Show B, episode 1"}
    (a, a_words), (b, b_words) = talks["Show A, episode 1"], talks["Show B, episode 1"]
    assert a.media_url.endswith("/identity-a/episode.ogg") and b.media_url.endswith("/identity-b/episode.ogg")
    # each its own recording's words (t01's ocean simulations, t02's tenants)
    assert "ocean" in a_words.lower() and "tenant" not in a_words.lower(), a_words
    assert "tenant" in b_words.lower() and "ocean" not in b_words.lower(), b_words
    assert a.id != b.id

    # Either show again: its own talk, skipped, nothing downloaded or changed
    for show, title in ((show_a, "Show A, episode 1"), (show_b, "Show B, episode 1")):
        line, summary = _index(library, show)
        assert line == f"skipped {title}: already in the library", line
        assert summary.startswith("0 added, 1 skipped, 0 failed"), summary
    assert {title: talk.id for title, (talk, _) in _talks(library).items()} == {a.title: a.id, b.title: b.id}


def test_a_moved_enclosure_points_the_talk_at_its_new_url(media_server, tmp_path):
    """Same guid, same feed, the episode's file moved (the old URL now 404s): the talk follows it, said as details
    changes are, without a download or a transcription; search links then lead to the new URL."""
    show = _show(media_server, "identity-moved", "t01", "Moving episode", guid="ep-12", captioned=True)
    library = tmp_path / "library"
    assert _index(library, show)[-1].startswith("1 added"), "first run"
    [(talk, words)] = _talks(library).values()

    folder = media_server.directory / "identity-moved"
    (folder / "new").mkdir()
    (folder / "episode.ogg").rename(folder / "new" / "episode.ogg")
    moved = media_server.url("identity-moved/new/episode.ogg")
    (folder / "feed.xml").write_text(_feed("identity-moved", "Moving episode", "ep-12", moved,
                                           media_server.url("identity-moved/episode.vtt")))
    line, summary = _index(library, show)
    assert line == "updated Moving episode: details changed (url, media_url); transcript kept", line
    assert summary.startswith("0 added, 1 updated, 0 skipped, 0 failed"), summary
    [(after, after_words)] = _talks(library).values()
    assert (after.id, after.url, after.media_url, after_words) == (talk.id, moved, moved, words)
    found = json.loads(talksearch("search", "ocean simulations", "--library", str(library), "--json").stdout)
    assert found["results"] and all(r["link"].startswith(f"{moved}#t=") for r in found["results"]), found["results"]

    # and unchanged since: skipped
    line, _ = _index(library, show)
    assert line == "skipped Moving episode: already in the library", line


def test_two_items_of_one_feed_with_one_guid_are_two_talks_that_keep_their_recordings(media_server, tmp_path):
    """A feed giving two recordings one guid (an item copied, its guid left as it was): two talks, each told apart
    by its enclosure, said so on its line. The second was "listed twice" (lost), and each run after moved the one
    talk to the other item's URL and title in turn, its transcript still the first recording's."""
    folder = media_server.directory / "identity-twice"
    folder.mkdir()
    shutil.copy(DATA / "t01.ogg", folder / "a.ogg")
    shutil.copy(DATA / "t02.ogg", folder / "b.ogg")
    items = "".join(f'<item><title>{title}</title><guid isPermaLink="false">same</guid><enclosure '
                    f'url="{media_server.url(f"identity-twice/{name}")}" type="audio/ogg" length="1"/></item>'
                    for title, name in (("Twice A", "a.ogg"), ("Twice B", "b.ogg")))
    (folder / "feed.xml").write_text(f'<?xml version="1.0"?><rss version="2.0"><channel><title>Twice</title>{items}'
                                     "</channel></rss>")
    feed, library = media_server.url("identity-twice/feed.xml"), tmp_path / "library"
    lines = _index(library, feed)
    assert lines[-1].startswith("2 added, 0 skipped, 0 failed"), lines
    assert sum("its <guid> same is another item's too" in line for line in lines) == 2, lines
    talks = _talks(library)
    assert "ocean" in talks["Twice A"][1].lower() and "partition" in talks["Twice B"][1].lower(), talks
    for _ in range(2):
        lines = _index(library, feed)
        assert lines[-1].startswith("0 added, 2 skipped, 0 failed"), lines
    assert {title: (talk.id, talk.media_url) for title, (talk, _) in _talks(library).items()} == {
        title: (talk.id, talk.media_url) for title, (talk, _) in talks.items()}


def _indexed_by_the_earlier_release(url: str, library) -> int:
    """``url`` indexed into ``library`` by the real indexer keying feed items as earlier releases did: by the guid
    alone (yt-dlp's own id for the item); how many were added."""
    from talksearch.indexer import sources
    from talksearch.indexer.pipeline import IndexRun
    from talksearch.settings import Settings

    with pytest.MonkeyPatch.context() as old:
        old.setattr(sources.Sources, "_item_id", lambda self, guid, listed, feed: guid)
        run = IndexRun(Settings(library=library, whisper_model="tiny.en", embed_model="all-MiniLM-L6-v2"))
        try:
            return run.run([url]).count("added")
        finally:
            run.close()


def test_an_earlier_releases_guid_keyed_talks_stay_known_under_their_ids(media_server, tmp_path):
    """A library indexed before feed items were told apart by their feed: its talks are found by the guid alone,
    as before (no duplicate, the same id); another show's item with that guid, at another URL, no longer restates
    the talk's details (it took the talk's title before)."""
    show_a = _show(media_server, "identity-old-a", "t01", "Old show A, episode 1", captioned=True)
    show_b = _show(media_server, "identity-old-b", "t02", "Old show B, episode 1", captioned=True)
    library = tmp_path / "library"
    assert _indexed_by_the_earlier_release(show_a, library) == 1
    with Library.open(library, readonly=True) as reader:
        [before] = reader.talks()
    assert before.archive_id == "generic 1"  # the earlier releases' key

    line, summary = _index(library, show_a)
    assert line == "skipped Old show A, episode 1: already in the library", line
    line, summary = _index(library, show_b)
    assert "details changed" not in line and summary.startswith("0 added"), (line, summary)
    with Library.open(library, readonly=True) as reader:
        [after] = reader.talks()
    assert (after.id, after.archive_id, after.title) == (before.id, "generic 1", "Old show A, episode 1")

    # removed, it stays removed: a re-run keyed it anew (the guid within its feed), found no removal under that key
    # and added it back, transcribed again under a new id (an upgrade hunt)
    removed = talksearch("remove", before.id, "--library", str(library))
    assert removed.returncode == 0, removed.stdout + removed.stderr
    line, summary = _index(library, show_a)
    assert "removed from this library" in line and summary.startswith("0 added, 1 skipped"), (line, summary)


def test_items_whose_long_guids_differ_only_at_the_end_keep_two_files(media_server, tmp_path):
    """A guid is often a URL, and may be long: one of 300 characters made a file name longer than file systems
    take ("File name too long", the talk failed). Kept (--keep-media), two items alike for their first 290
    characters are two files, each its own recording."""
    folder = media_server.directory / "identity-long"
    folder.mkdir()
    items = ""
    for n, talk in ((1, "t01"), (2, "t02")):
        shutil.copy(DATA / f"{talk}.ogg", folder / f"{talk}.ogg")
        guid = f"https://example.org/shows/{'deep/' * 53}episode-{n}"
        items += (f"<item><title>Episode {n}</title><guid>{guid}</guid><enclosure url=\""
                  f"{media_server.url(f'identity-long/{talk}.ogg')}\" type=\"audio/ogg\" length=\"1\"/></item>")
    (folder / "feed.xml").write_text(f'<?xml version="1.0"?><rss version="2.0"><channel><title>Long</title>'
                                     f"{items}</channel></rss>")
    library = tmp_path / "library"
    result = talksearch("index", media_server.url("identity-long/feed.xml"), "--library", str(library),
                        "--keep-media", *MODELS)
    assert result.returncode == 0 and "2 added, 0 skipped, 0 failed" in result.stdout, result.stdout + result.stderr
    kept = sorted((library / "media").iterdir())
    assert len(kept) == 2 and all(len(path.name) <= 200 for path in kept), kept
    talks = _talks(library)
    assert "ocean" in talks["Episode 1"][1].lower() and "partition" in talks["Episode 2"][1].lower(), talks


def _page(media_server, folder: str, talk: str, title: str) -> str:
    """A page in its own folder, named talk.html as many sites name every talk's page, playing a copy of test talk
    ``talk`` with its captions; the page's URL."""
    site = media_server.directory / folder
    site.mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA / f"{talk}.ogg", site / "recording.ogg")
    (site / "recording.vtt").write_text(_vtt(talk))
    (site / "talk.html").write_text(
        f"<!doctype html><html><head><title>{title}</title></head><body><video controls src=\"recording.ogg\">"
        '<track kind="captions" src="recording.vtt" srclang="en"></video></body></html>')
    return media_server.url(f"{folder}/talk.html")


def test_two_pages_of_one_name_in_two_folders_are_two_talks(media_server, tmp_path):
    """yt-dlp names a page's <video> after the page's file ("talk-1" for /2023/talk.html and /2024/talk.html): the
    second was skipped as "listed twice" (in one run) or "already in the library" (a later run), its talk never
    indexed (a federation hunt: another talksearch's /talks/ID pages). Each page's recording is a talk; a library
    that holds a page's talk under the name alone (an earlier release's key) still knows it there."""
    first = _page(media_server, "pages-2023", "t01", "Keynote 2023")
    second = _page(media_server, "pages-2024", "t02", "Keynote 2024")
    library = tmp_path / "library"
    lines = _index(library, first, second)
    assert lines[-1].startswith("2 added"), lines
    talks = _talks(library)
    assert sorted(talks) == ["Keynote 2023", "Keynote 2024"], talks
    assert talks["Keynote 2023"][1] != talks["Keynote 2024"][1]

    later = tmp_path / "later"  # the second page indexed by a later run
    assert _index(later, first)[-1].startswith("1 added")
    assert _index(later, second)[-1].startswith("1 added")

    earlier = tmp_path / "earlier"  # as an earlier release stored it: keyed by the page's file name alone, unplayed
    assert _index(earlier, first)[-1].startswith("1 added")
    with Library.open(earlier) as writer, writer.db:
        [talk] = writer.talks()
        old_key = talk.archive_id.rsplit("-", 1)[0]
        assert old_key == "html5mediaembed talk-1", talk.archive_id
        writer.db.execute("UPDATE talks SET archive_id = ?, media_url = NULL WHERE id = ?", (old_key, talk.id))
    lines = _index(earlier, first)
    assert lines[0] == "skipped Keynote 2023: already in the library", lines
    assert _index(earlier, second)[-1].startswith("1 added")


def test_two_pages_of_one_name_with_two_recordings_each_are_four_talks(media_server, tmp_path):
    """A page of two recordings is listed by yt-dlp as two, each at its own file and named after the page's file
    ("two-1", "two-2"): the first fix for pages of one name read the page from the file's URL, found no match, and
    /y1/two.html's talks were /y2/two.html's again (a reviewer's hunt)."""
    pages = []
    for folder, talks in (("pages-y1", ("t01", "t02")), ("pages-y2", ("t02", "t01"))):
        site = media_server.directory / folder
        site.mkdir(parents=True, exist_ok=True)
        players = ""
        for number, talk in enumerate(talks, start=1):
            shutil.copy(DATA / f"{talk}.ogg", site / f"r{number}.ogg")
            (site / f"r{number}.vtt").write_text(_vtt(talk))
            players += (f'<audio controls src="r{number}.ogg"><track kind="captions" src="r{number}.vtt" '
                        'srclang="en"></audio>')
        (site / "two.html").write_text(f"<!doctype html><html><head><title>Session {folder}</title></head><body>"
                                       f"{players}</body></html>")
        pages.append(media_server.url(f"{folder}/two.html"))
    lines = _index(tmp_path / "library", *pages)
    assert lines[-1].startswith("4 added"), lines

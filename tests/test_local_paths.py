"""Local recordings and libraries named by unusual paths: file names with %XX in them (browsers and wget save
"Keynote%202024.mp4"), and library paths that are no folder."""

from __future__ import annotations

import shutil

import pytest

from tests.helpers import DATA
from tests.service_fixtures import index_captioned_copy, serving, settings_for

# What a browser saves: "%20" and "%25" kept literally in the name, and a real space beside them
ESCAPED_NAME = "Keynote%202024 at 100%25"


@pytest.mark.models
def test_local_talk_whose_name_holds_percent_escapes_is_served(tmp_path):
    """Its file:// media URL is decoded once: the file is found, so /media serves it and the search links there
    (decoded twice, "%2520" became a space and the talk was taken for moved: a 404 and links to its page)."""
    settings = settings_for(tmp_path / "library")
    recording = index_captioned_copy(settings, tmp_path / "recordings", ESCAPED_NAME)
    with serving(settings) as server:
        talk_id = server.get("/api/talks").json()["talks"][0]["id"]
        media = server.get(f"/media/{talk_id}")
        assert media.status_code == 200 and media.content == recording.read_bytes()
        results = server.get("/api/search", params={"q": "checkpoint"}).json()["results"]
        assert results and all(r["link"].startswith(f"/media/{talk_id}#t=") for r in results), results
        assert f'src="/media/{talk_id}"' in server.get(f"/talks/{talk_id}").text


@pytest.mark.unit
def test_a_file_url_names_the_file_its_escapes_encode(tmp_path):
    """`index file:///…/Keynote%25202024.ogg` indexes "Keynote%202024.ogg", not "Keynote 2024.ogg"."""
    from talksearch.indexer.sources import Sources

    recording = tmp_path / f"{ESCAPED_NAME}.ogg"
    shutil.copy(DATA / "t02.ogg", recording)
    sources = Sources(tmp_path / "downloads", lambda key: False)
    assert [c.path for c in sources.expand(recording.as_uri())] == [recording]


@pytest.mark.unit
def test_a_library_path_that_is_no_folder_is_named_for_what_it_is(tmp_path):
    """A dangling link is said to be one (index and serve said mkdir's bare "File exists"), and a file is said to
    be one by the commands that read a library too (they said "no library at", index "is a file")."""
    from tests.helpers import talksearch

    link = tmp_path / "danglink"
    link.symlink_to(tmp_path / "nowhere")
    for command in (["index", "x"], ["search", "x"]):  # making a library (serve too), and reading one
        result = talksearch(*command, "--library", str(link))
        assert result.returncode == 1 and result.stderr == (
            f"error: library {link} is a link to a missing folder ({tmp_path / 'nowhere'})\n"), (command, result.stderr)
    assert not (tmp_path / "nowhere").exists()
    a_file = tmp_path / "talk.mp4"
    a_file.write_bytes(b"")
    for command in (["search", "x"], ["check"]):
        result = talksearch(*command, "--library", str(a_file))
        assert result.returncode == 1 and result.stderr == (
            f"error: library {a_file} is a file: a library is a folder (--library FOLDER)\n"), (command, result.stderr)

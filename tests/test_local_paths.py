"""Local recordings and libraries named by unusual paths: file names with %XX in them (browsers and wget save
"Keynote%202024.mp4"), suffixes beyond the common few or none at all, and library paths that are no folder."""

from __future__ import annotations

import mimetypes
import shutil
from pathlib import Path

import pytest

from tests.helpers import DATA, TRUTH
from tests.service_fixtures import index_captioned_copy, serving, settings_for

# What these check does not depend on the embedding model (conftest's light_embedding).
pytestmark = pytest.mark.usefixtures("light_embedding")

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


def _captions(sample: str, recording: Path) -> None:
    """The test recording ``sample``'s whole-second captions beside ``recording`` (its stem.en.vtt): it is indexed
    from those, with no transcription."""
    cues = [f"00:00:{int(s['start']):02d}.000 --> 00:00:{int(s['end']):02d}.000\n{s['text']}"
            for s in TRUTH[sample]["sentences"]]
    (recording.parent / f"{recording.stem}.en.vtt").write_text("WEBVTT\n\n" + "\n\n".join(cues) + "\n")


def _encoded(sample: str, target: Path, codec: str) -> Path:
    """The test recording ``sample`` re-encoded with ``codec`` into the container ``target``'s suffix names, with
    its captions."""
    import av

    target.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(DATA / f"{sample}.ogg")) as source, av.open(str(target), "w") as out:
        stream = out.add_stream(codec, rate=source.streams.audio[0].rate)
        for frame in source.decode(audio=0):
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    _captions(sample, target)
    return target


def _index(library: Path, *sources: Path) -> list[str]:
    """One `talksearch index` run by the real indexer: its outcome lines."""
    from talksearch.indexer.pipeline import IndexRun

    lines: list[str] = []
    run = IndexRun(settings_for(library), report=lines.append)
    try:
        run.run([str(source) for source in sources])
    finally:
        run.close()
    return lines


@pytest.mark.unit
def test_a_folder_walk_takes_every_suffix_media_is_served_for(tmp_path):
    """.aiff, .mka, .m4b, .3gp, .caf ... were skipped in a folder (one of only those: "no audio or video files in
    this folder") while each indexed fine when named. The walk takes the suffixes /media has a type for, and each
    is an audio or video type."""
    from talksearch.indexer.sources import Sources
    from talksearch.media_types import MEDIA_SUFFIXES, MEDIA_TYPES

    assert {".aiff", ".aif", ".aifc", ".mka", ".m4b", ".3gp", ".3g2", ".caf", ".amr", ".mp2", ".mpga", ".m2ts", ".mts",
            ".ogv", ".oga", ".spx", ".wv", ".ape", ".dv", ".flv", ".asf", ".f4v"} <= MEDIA_SUFFIXES
    assert all(kind.split("/")[0] in ("audio", "video") for kind in MEDIA_TYPES.values())
    folder = tmp_path / "recordings"
    folder.mkdir()
    for suffix in MEDIA_SUFFIXES:
        (folder / f"talk{suffix.upper() if suffix == '.aif' else suffix}").write_bytes(b"")
    (folder / "talk.en.vtt").write_text("WEBVTT\n")
    sources = Sources(tmp_path / "downloads", lambda key: False)
    walked = sorted(c.path.name.lower() for c in sources.expand(str(folder)))
    assert walked == sorted(f"talk{suffix}" for suffix in MEDIA_SUFFIXES)


@pytest.mark.unit
def test_a_recording_without_a_known_suffix_is_typed_by_its_container(tmp_path, monkeypatch):
    """With Python's own table alone (python:3.11-slim has no mime.types), a file named without a suffix the
    table knows is typed by what ffmpeg reads it as; a playlist, a page, captions or a passwd file are no
    recording at all."""
    from talksearch.search.searcher import recording_type

    monkeypatch.setattr(mimetypes, "guess_type", mimetypes.MimeTypes(filenames=()).guess_type)
    shutil.copy(DATA / "t01.ogg", tmp_path / "keynote")
    shutil.copy(DATA / "t01.ogg", tmp_path / "keynote.bin")
    (tmp_path / "list").write_text("#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n")
    (tmp_path / "page").write_text("<!doctype html><script>fetch('/api/talks')</script>\n")
    (tmp_path / "captions").write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nhello\n")
    (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    assert recording_type(tmp_path / "keynote") == recording_type(tmp_path / "keynote.bin") == "audio/ogg"
    for name in ("list", "page", "captions", "passwd"):
        assert recording_type(tmp_path / name) is None, name


@pytest.mark.models
def test_a_folder_of_aiff_and_mka_recordings_is_indexed(tmp_path):
    """A folder holding only .aiff and .mka recordings failed "no audio or video files in this folder"."""
    folder = tmp_path / "recordings"
    _encoded("t01", folder / "keynote.aiff", "pcm_s16be")
    _encoded("t02", folder / "panel.mka", "flac")
    lines = _index(tmp_path / "library", folder)
    assert len(lines) == 2 and all(line.startswith("added") for line in lines), lines


@pytest.mark.models
def test_flac_mka_and_suffixless_recordings_are_served_with_an_audio_type(tmp_path, monkeypatch):
    """Where the host has no mime.types (the Docker image), /media answered "no local media" for a .flac or .mka
    talk, and on any host for one indexed from a file named without a suffix: the page offered no player. Each
    is served, as audio."""
    monkeypatch.setattr(mimetypes, "guess_type", mimetypes.MimeTypes(filenames=()).guess_type)
    folder = tmp_path / "recordings"
    flac = _encoded("t01", folder / "keynote.flac", "flac")
    mka = _encoded("t02", folder / "panel.mka", "flac")
    bare = folder / "lecture"  # Ogg, named without a suffix
    shutil.copy(DATA / "t01.ogg", bare)
    _captions("t01", bare)
    settings = settings_for(tmp_path / "library")
    lines = _index(settings.library, flac, mka, bare)
    assert len(lines) == 3 and all(line.startswith("added") for line in lines), lines
    with serving(settings) as server:
        # each by the suffix its /media URL carries (none for the file that has none)
        talks = {Path(t["media_url"]).suffix: t["id"] for t in server.get("/api/talks").json()["talks"]}
        for name, kind in (("keynote.flac", "audio/flac"), ("panel.mka", "audio/x-matroska"), ("lecture", "audio/ogg")):
            talk = talks[Path(name).suffix]
            media = server.get(f"/media/{talk}")
            assert media.status_code == 200, (name, media.text)
            assert media.headers["content-type"] == kind and media.content == (folder / name).read_bytes(), name
            page = server.get(f"/talks/{talk}").text
            # played by an <audio> element: sound alone, whatever the host's table or the name says
            assert f'<audio id="media" controls preload="metadata" src="/media/{talk}"' in page, name

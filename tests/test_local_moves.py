"""Local recordings that change under the library: one replaced at its path (re-encoded, trimmed, swapped)
replaces its talk there, and one moved, renamed or met through a re-pointed linked folder takes its talk along.
Indexed by the real indexer from caption sidecars (no transcription waited for); the catalog's rows are read."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import DATA, TRUTH
from tests.service_fixtures import settings_for

# What these check does not depend on the embedding model (conftest's light_embedding).
pytestmark = pytest.mark.usefixtures("light_embedding")


def _captioned(folder: Path, name: str, sample: str) -> Path:
    """The test recording ``sample`` at ``folder/name.ogg``, its whole-second captions beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    recording = folder / f"{name}.ogg"
    shutil.copy(DATA / f"{sample}.ogg", recording)
    cues = [f"00:00:{int(s['start']):02d}.000 --> 00:00:{int(s['end']):02d}.000\n{s['text']}"
            for s in TRUTH[sample]["sentences"]]
    (folder / f"{name}.en.vtt").write_text("WEBVTT\n\n" + "\n\n".join(cues) + "\n")
    return recording


def _index(library: Path, *sources: Path, reindex: bool = False) -> list[str]:
    """One `talksearch index` run by the real indexer: its outcome lines."""
    from talksearch.indexer.pipeline import IndexRun

    lines: list[str] = []
    run = IndexRun(settings_for(library), report=lines.append, reindex=reindex)
    try:
        run.run([str(source) for source in sources])
    finally:
        run.close()
    return lines


def _talks(library: Path) -> list[tuple[str, str, str, str]]:
    with sqlite3.connect(library / "catalog.sqlite") as db:
        return db.execute("SELECT id, title, url, media_url FROM talks ORDER BY title").fetchall()


@pytest.mark.models
def test_a_recording_replaced_at_its_path_replaces_its_talk(tmp_path):
    """Re-encoded or swapped in place, `keynote.ogg` was indexed as a second talk at the same path, the first
    one's results then playing the new file at the old times. Its new content replaces the talk there."""
    library, folder = tmp_path / "library", tmp_path / "rec"
    recording = _captioned(folder, "keynote", "t01")
    _index(library, folder)
    [(first_id, *_)] = _talks(library)
    _captioned(folder, "keynote", "t02")  # another recording, at the same path
    lines = _index(library, folder)
    assert len(lines) == 1 and lines[0].startswith("added") and "replacing the earlier transcript" in lines[0], lines
    [(talk_id, title, url, media_url)] = _talks(library)
    assert (title, url, media_url) == ("keynote", recording.as_uri(), recording.as_uri())
    assert talk_id != first_id  # new content, new key: the earlier talk and its passages are gone
    with sqlite3.connect(library / "catalog.sqlite") as db:
        assert {row[0] for row in db.execute("SELECT DISTINCT talk_id FROM passages")} == {talk_id}
    assert _index(library, folder) == [f"skipped {recording}: already in the library"]  # and it stays one talk


@pytest.mark.models
def test_a_moved_recording_takes_its_talk_along_and_paths_are_kept_as_given(tmp_path):
    """Moved and renamed, a known recording was skipped and its talk kept the old path (no player); through a
    linked folder, the path stored was the link's target, gone when the link was re-pointed. Its talk follows
    it (no transcription), and the path stored is the one given, made absolute."""
    library, real = tmp_path / "library", tmp_path / "real"
    _captioned(real, "s01", "t01")
    link = tmp_path / "link"
    link.symlink_to(real)
    _index(library, link)
    given = link / "s01.ogg"
    [(talk_id, _, url, media_url)] = _talks(library)
    assert url == media_url == given.as_uri()  # as given, not resolved through the link

    moved = tmp_path / "real2"  # the folder moves, the link is re-pointed: the same path holds the recording
    real.rename(moved)
    link.unlink()
    link.symlink_to(moved)
    assert _index(library, link) == [f"skipped {given}: already in the library"]
    assert _talks(library)[0][3] == given.as_uri()

    renamed = tmp_path / "rec2" / "renamed.ogg"  # moved out and renamed: its talk follows it
    renamed.parent.mkdir()
    (moved / "s01.ogg").rename(renamed)
    lines = _index(library, renamed.parent)
    assert lines == [f"skipped {renamed}: already in the library (moved from {given.as_uri()})"], lines
    assert [(row[0], row[2], row[3]) for row in _talks(library)] == [(talk_id, renamed.as_uri(), renamed.as_uri())]

    copy = tmp_path / "copy" / "again.ogg"  # a copy met elsewhere, the recorded path still holding it: skipped
    copy.parent.mkdir()
    shutil.copy(renamed, copy)
    assert _index(library, copy.parent) == [f"skipped {copy}: already in the library (a copy of {renamed.as_uri()})"]
    assert _talks(library)[0][3] == renamed.as_uri()


def _two_talks(tmp_path: Path) -> tuple[Path, Path, Path, dict[str, str]]:
    """Library, folder, and a.ogg (t01) and b.ogg (t02) indexed there; the talks' ids by title."""
    library, folder = tmp_path / "library", tmp_path / "rec"
    a, b = _captioned(folder, "a", "t01"), _captioned(folder, "b", "t02")
    _index(library, folder)
    return library, a, b, {title: talk_id for talk_id, title, *_ in _talks(library)}


def _transcript_starts(library: Path, talk_id: str) -> str:
    with sqlite3.connect(library / "catalog.sqlite") as db:
        return db.execute("SELECT text FROM segments WHERE talk_id = ? ORDER BY idx", (talk_id,)).fetchone()[0]


@pytest.mark.models
def test_a_known_recording_moved_over_another_takes_that_path_and_retires_its_talk(tmp_path):
    """`mv b.ogg a.ogg`: b's talk followed its recording to a.ogg, and a's talk stayed there too, its transcript
    played over b's audio (two talks at one path; `check` clean). The talk recorded there is retired, and said."""
    library, a, b, ids = _two_talks(tmp_path)
    b.rename(a)
    lines = _index(library, a.parent)
    assert lines == [f"skipped {a}: already in the library (moved from {b.as_uri()}); talk {ids['a']} (a), recorded "
                     f"at this path, removed: its recording is no longer there"], lines
    assert _talks(library) == [(ids["b"], "b", a.as_uri(), a.as_uri())]
    assert _transcript_starts(library, ids["b"]) == TRUTH["t02"]["sentences"][0]["text"]
    with sqlite3.connect(library / "catalog.sqlite") as db:
        assert {row[0] for row in db.execute("SELECT DISTINCT talk_id FROM passages")} == {ids["b"]}
    assert _index(library, a.parent) == [f"skipped {a}: already in the library"]


@pytest.mark.models
@pytest.mark.parametrize("reindex", [False, True], ids=["index", "reindex"])
def test_a_copy_of_a_known_recording_put_over_another_retires_that_talk(tmp_path, reindex):
    """`cp b.ogg a.ogg`: a's talk kept its transcript over b's audio (both files "already in the library"); with
    --reindex, b's talk was moved onto a.ogg and b.ogg left without one. b's talk stays at b.ogg, which still
    holds its recording, and a's, its recording gone, is retired."""
    library, a, b, ids = _two_talks(tmp_path)
    shutil.copy(b, a)
    lines = _index(library, a.parent, reindex=reindex)
    assert lines[0] == (f"skipped {a}: already in the library (a copy of {b.as_uri()}); talk {ids['a']} (a), "
                        f"recorded at this path, removed: its recording is no longer there"), lines
    assert lines[1].startswith(f"added   b ({ids['b']}," if reindex else f"skipped {b}: already in the library"), lines
    assert _talks(library) == [(ids["b"], "b", b.as_uri(), b.as_uri())]
    assert _index(library, a.parent) == [f"skipped {a}: already in the library (a copy of {b.as_uri()})",
                                         f"skipped {b}: already in the library"]


@pytest.mark.models
def test_a_copy_of_a_known_recording_at_a_new_path_is_skipped_naming_what_it_copies(tmp_path):
    """`cp b.ogg c.ogg` (a live hunt): skipped as "already in the library", though no talk is at c.ogg, and its own
    captions beside it left unread without a word why. It names the recording it copies, as a copy put over
    another talk's does."""
    library, a, b, ids = _two_talks(tmp_path)
    copy = shutil.copy(b, a.parent / "c.ogg")
    lines = _index(library, a.parent)
    assert lines == [f"skipped {a}: already in the library", f"skipped {b}: already in the library",
                     f"skipped {copy}: already in the library (a copy of {b.as_uri()})"], lines
    assert sorted(_talks(library)) == sorted([(ids["a"], "a", a.as_uri(), a.as_uri()),
                                              (ids["b"], "b", b.as_uri(), b.as_uri())])


@pytest.mark.models
def test_reindexing_a_path_two_talks_hold_names_the_one_it_removes(tmp_path):
    """An earlier release, meeting `mv a.ogg b.ogg`, pointed a's talk at b.ogg and kept b's there too. Indexed again
    with --reindex, b.ogg's talk (its recording's, a's) stays and b's goes, and the line says so: it went unsaid."""
    library, a, b, ids = _two_talks(tmp_path)
    a.replace(b)
    with sqlite3.connect(library / "catalog.sqlite") as db:  # where the earlier release left them
        db.execute("UPDATE talks SET url = ?, media_url = ? WHERE id = ?", (b.as_uri(), b.as_uri(), ids["a"]))
    [line] = _index(library, b, reindex=True)
    assert line.startswith(f"added   b ({ids['a']},") and line.endswith(
        f", replacing the earlier transcript; talk {ids['b']} (b), recorded at this path, removed: its recording is "
        "no longer there)"), line
    assert [talk_id for talk_id, *_ in _talks(library)] == [ids["a"]]


@pytest.mark.models
def test_a_recording_replaced_in_a_linked_folder_replaces_the_talk_recorded_through_the_link(tmp_path):
    """Indexed as linked/keynote.ogg, replaced in place and indexed by its own path: the new recording was a second
    talk, the first playing it at the old times, and check said clean. It replaces the talk, and check names two
    talks that hold one file through a link."""
    from talksearch.check import check_library

    library, real = tmp_path / "library", tmp_path / "real"
    _captioned(real, "keynote", "t01")
    (tmp_path / "linked").symlink_to(real)
    _index(library, tmp_path / "linked" / "keynote.ogg")
    [(first, *_)] = _talks(library)
    _captioned(real, "keynote", "t02")  # another recording in its place
    [line] = _index(library, real / "keynote.ogg")
    assert line.endswith(", replacing the earlier transcript)"), line
    [(second, _, url, _)] = _talks(library)
    assert second != first and url == (real / "keynote.ogg").as_uri()
    # another talk pointed at the same file through the link, as an earlier release left such talks
    _index(library, _captioned(tmp_path / "other", "panel", "t01"))
    with sqlite3.connect(library / "catalog.sqlite") as db:
        db.execute("UPDATE talks SET url = ?, media_url = ? WHERE title = 'panel'",
                   [(tmp_path / "linked" / "keynote.ogg").as_uri()] * 2)
    [problem] = check_library(library).problems
    assert problem.startswith(f"2 talks hold {real / 'keynote.ogg'} ("), problem


@pytest.mark.models
def test_recordings_that_swapped_paths_take_their_talks_along_and_none_is_retired(tmp_path):
    """a.ogg and b.ogg swapped: each talk follows its recording, even when only one of the two files is named."""
    library, a, b, ids = _two_talks(tmp_path)
    swap = a.with_name("swap.ogg")
    a.rename(swap), b.rename(a), swap.rename(b)
    lines = _index(library, a)
    assert lines == [f"skipped {a}: already in the library (moved from {b.as_uri()}); talk {ids['a']} (a) moved "
                     f"there, its recording's new path"], lines
    assert _talks(library) == [(ids["a"], "a", b.as_uri(), b.as_uri()), (ids["b"], "b", a.as_uri(), a.as_uri())]
    assert _index(library, a.parent) == [f"skipped {a}: already in the library", f"skipped {b}: already in the library"]


@pytest.mark.models
@pytest.mark.parametrize("backwards", [False, True], ids=["folder", "files-backwards"])
def test_recordings_rotated_among_three_paths_take_their_talks_along(tmp_path, backwards):
    """a.ogg to b.ogg, b.ogg to c.ogg, c.ogg to a.ogg: a's talk was retired as a.ogg's recording was no longer
    there, and its recording, met at b.ogg next, transcribed again as a new talk. Each talk follows its recording,
    and none is retired, whichever order the files are met in."""
    library, a, b, _ = _two_talks(tmp_path)
    c = a.with_name("c.ogg")  # a third recording, captioned by hand: the test data has two
    shutil.copy(DATA / "silence.ogg", c)
    c.with_suffix(".en.vtt").write_text("WEBVTT\n\n00:00:01.000 --> 00:00:04.000\nA quiet room.\n")
    _index(library, c)
    ids = {title: talk_id for talk_id, title, *_ in _talks(library)}
    spare = a.with_name("spare.ogg")
    a.rename(spare), c.rename(a), b.rename(c), spare.rename(b)
    lines = _index(library, c, b, a) if backwards else _index(library, a.parent)
    moves = [f"skipped {a}: already in the library (moved from {c.as_uri()})",
             f"skipped {b}: already in the library (moved from {a.as_uri()})",
             f"skipped {c}: already in the library (moved from {b.as_uri()})"]
    assert lines == (moves[::-1] if backwards else moves), lines
    assert _talks(library) == [(ids["a"], "a", b.as_uri(), b.as_uri()), (ids["b"], "b", c.as_uri(), c.as_uri()),
                               (ids["c"], "c", a.as_uri(), a.as_uri())]
    assert _index(library, a.parent) == [f"skipped {p}: already in the library" for p in (a, b, c)]


def _chapters(library: Path) -> str:
    with sqlite3.connect(library / "catalog.sqlite") as db:
        return db.execute("SELECT chapters FROM talks").fetchone()[0]


@pytest.mark.models
def test_a_moved_recordings_new_sidecar_and_chapters_taken_out_of_one_are_stored_in_the_same_run(tmp_path):
    """Moved and retitled in one step (its .info.json beside it at the new path), a recording's talk followed it
    but kept its old title until a second run; and chapters taken out of a sidecar were kept for good (the re-run
    skipped it). One run stores what the sidecar states now, chapters none included, its passages made again
    after the new title (and cut without the chapters), its transcript kept."""
    library, folder = tmp_path / "library", tmp_path / "rec"
    recording = _captioned(folder, "talk", "t01")
    sidecar = recording.with_suffix(".info.json")
    chapters = [{"start_time": 0, "title": "Opening"}, {"start_time": 11.5, "title": "Power capping"}]
    sidecar.write_text(json.dumps({"title": "Move v1", "chapters": chapters}))
    _index(library, folder)
    [(talk_id, title, *_)] = _talks(library)
    assert title == "Move v1" and [c["title"] for c in json.loads(_chapters(library))] == ["Opening", "Power capping"]

    sidecar.write_text(json.dumps({"title": "Move v1"}))  # its chapters taken out
    [line] = _index(library, folder)
    assert line.startswith(f"updated {recording}: details changed (chapters); transcript kept; its "), line
    assert line.endswith(" passages made again after its new chapters"), line
    assert json.loads(_chapters(library)) == []
    assert _index(library, folder) == [f"skipped {recording}: already in the library"]

    moved = tmp_path / "elsewhere" / "talk.ogg"
    moved.parent.mkdir()
    for part in folder.iterdir():
        part.rename(moved.parent / part.name)
    moved.with_suffix(".info.json").write_text(json.dumps({"title": "Move v2"}))
    [line] = _index(library, moved.parent)
    assert line.startswith(f"updated {moved}: moved from {recording.as_uri()}; details changed (title); transcript "
                           "kept; its "), line
    assert line.endswith(" passages made again after its new title"), line
    assert [(row[0], row[1], row[3]) for row in _talks(library)] == [(talk_id, "Move v2", moved.as_uri())]
    assert _transcript_starts(library, talk_id) == TRUTH["t01"]["sentences"][0]["text"]
    assert _index(library, moved.parent) == [f"skipped {moved}: already in the library"]

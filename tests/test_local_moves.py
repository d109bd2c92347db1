"""Local recordings that change under the library: one replaced at its path (re-encoded, trimmed, swapped)
replaces its talk there, and one moved, renamed or met through a re-pointed linked folder takes its talk along.
Indexed by the real indexer from caption sidecars (no transcription waited for); the catalog's rows are read."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import DATA, TRUTH
from tests.service_fixtures import settings_for


def _captioned(folder: Path, name: str, sample: str) -> Path:
    """The test recording ``sample`` at ``folder/name.ogg``, its whole-second captions beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    recording = folder / f"{name}.ogg"
    shutil.copy(DATA / f"{sample}.ogg", recording)
    cues = [f"00:00:{int(s['start']):02d}.000 --> 00:00:{int(s['end']):02d}.000\n{s['text']}"
            for s in TRUTH[sample]["sentences"]]
    (folder / f"{name}.en.vtt").write_text("WEBVTT\n\n" + "\n\n".join(cues) + "\n")
    return recording


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
    assert _index(library, copy.parent) == [f"skipped {copy}: already in the library"]
    assert _talks(library)[0][3] == renamed.as_uri()

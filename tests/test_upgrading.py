"""Libraries made by earlier releases: read as they are by every reader, upgraded only by the writer (holding the
library's lock) and said so, their transcripts' source kept, and the recordings the first releases kept in
downloads/ (--keep-media) kept."""

from __future__ import annotations

import fcntl
import sqlite3

import pytest

from talksearch.check import check_library
from talksearch.library import FORMAT_VERSION, Library, LibraryLocked, Passage, Talk
from tests.test_library import _format_1_library, _vector

pytestmark = pytest.mark.unit

UPGRADED = (f"upgraded the library's catalog from format 3 to {FORMAT_VERSION}; earlier releases of talksearch "
            "cannot read it now")


def _format_3_library(path) -> str:
    """Format 1 with migrations 2 and 3 run (as test_library's format-3 test makes it): before transcript_source."""
    talk_id = _format_1_library(path)
    db = sqlite3.connect(path / "catalog.sqlite")
    db.executescript("CREATE TABLE sound_vocabulary (word TEXT PRIMARY KEY, phonemes TEXT NOT NULL) WITHOUT ROWID;"
                     "DROP TRIGGER passages_sound_delete; DROP TABLE passages_sound;"
                     "UPDATE meta SET value = '3' WHERE key = 'format_version';")
    db.close()
    return talk_id


def _schema(path) -> list[tuple]:
    db = sqlite3.connect(path / "catalog.sqlite")
    try:
        return sorted(db.execute("SELECT type, name, sql FROM sqlite_master").fetchall()) + \
            db.execute("SELECT * FROM meta ORDER BY key").fetchall()
    finally:
        db.close()


def test_only_the_writer_upgrades_an_older_catalog_and_says_so_once(tmp_path):
    """Every command opened the library for writing upgraded it at once, before any lock: a search, a listing, a
    check, a served page, a refused write; an older release's indexer still running then wrote its rows into the
    upgraded catalog. A connection that may write but is not the writer reads an older catalog as a reader does."""
    library = tmp_path / "old"
    talk_id = _format_3_library(library)
    before = _schema(library)
    with Library.open(library) as reader:  # talks, search, export, serve, mcp: not the writer
        assert reader.format == 3 and reader.talk(talk_id).title == "old"
        assert reader.keyword_search("podman", 5) == [1, 2] and reader.segments(talk_id)[0].speaker is None
    check_library(library)  # check without --repair reads only
    assert _schema(library) == before, "a reader changed the catalog"

    # the writer of an older release holds the lock: a writer of this one is refused, and upgrades nothing
    with open(library / "indexer.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with Library.open(library) as refused, pytest.raises(LibraryLocked):
            refused.acquire_writer()
    assert _schema(library) == before, "a refused writer changed the catalog"

    with Library.open(library) as writer:
        assert writer.acquire_writer() == UPGRADED and writer.upgraded == UPGRADED
        assert writer.format == FORMAT_VERSION and writer.meta("format_version") == str(FORMAT_VERSION)
        assert "subunit" in writer.sound_vocabulary()[0]
    with Library.open(library) as again:
        assert again.acquire_writer() is None and again.upgraded is None  # said once


def test_a_reader_of_an_older_catalog_follows_its_upgrade(tmp_path):
    """A server reading a library that a writer then upgrades reads it as the new format after its next refresh."""
    library = tmp_path / "old"
    talk_id = _format_3_library(library)
    with Library.open(library) as reader, Library.open(library) as writer:
        assert reader.format == 3
        writer.acquire_writer()
        assert reader.refresh() and reader.format == FORMAT_VERSION
        assert reader.talk(talk_id).transcript_source == "whisper tiny.en"


def test_an_older_catalog_read_without_upgrading_keeps_where_its_transcripts_came_from(tmp_path):
    """Before format 4 every talk was whisper's: read without upgrading (reembed reads the old library read-only),
    a talk's source was the record's default '', which reembed then stored in the new library for good."""
    talk_id = _format_3_library(tmp_path / "old")
    for readonly in (True, False):
        with Library.open(tmp_path / "old", readonly=readonly) as reader:
            assert reader.talk(talk_id).transcript_source == "whisper tiny.en"
            assert [t.transcript_source for t in reader.talks()] == ["whisper tiny.en"]


def test_a_talk_stored_with_a_whisper_model_and_no_source_is_whispers(tmp_path):
    """What reembed stored from a talk read as having no source (and what any writer leaving it empty would): the
    catalog's own reading of such a talk (migrations 4 and 8), not '' for good."""
    talk_id = _format_3_library(tmp_path / "old")
    with Library.open(tmp_path / "old", readonly=True) as old:
        talk = old.talk(talk_id)
    talk.transcript_source = ""
    with Library.open(tmp_path / "new", create=True) as new:
        new.acquire_writer()
        new.bind_embedding_model("test-model", 8)
        new.add_talk(talk, [], [Passage(0, 1, "p")], _vector(1)[None])
        assert new.talk(talk_id).transcript_source == "whisper tiny.en"


def test_check_finds_talks_that_lost_their_transcript_source_and_repair_names_it(tmp_path):
    """A library already damaged so (reembed from a library before format 4, an older indexer writing into an
    upgraded catalog): check said "transcripts from : 1 talks" and clean."""
    library = tmp_path / "old"
    talk_id = _format_3_library(library)
    with Library.open(library) as current:
        current.acquire_writer()
        current.sync_vector_index(save=True)
        current.db.execute("UPDATE talks SET transcript_source = ''")
    found = check_library(library)
    assert found.problems == ["1 talks do not say where their transcript came from (copied from a library read "
                              "before format 4, or written by an earlier release); --repair names whisper's for "
                              "those it transcribed"]
    assert "transcripts from : 1 talks" not in found.facts
    repaired = check_library(library, repair=True)
    assert repaired.clean, repaired.problems
    assert repaired.repaired == ["named the source of 1 talks' transcripts (whisper and its model)"]
    with Library.open(library, readonly=True) as reader:
        assert reader.talk(talk_id).transcript_source == "whisper tiny.en"


def test_check_says_the_catalogs_format(tmp_path):
    library = tmp_path / "old"
    _format_3_library(library)
    assert (f"catalog format 3 (read as it is: the first command that writes the library upgrades it to format "
            f"{FORMAT_VERSION}, which earlier releases cannot read)") in check_library(library).facts
    repaired = check_library(library, repair=True)
    assert UPGRADED in repaired.repaired and f"catalog format {FORMAT_VERSION}" in repaired.facts


def _kept_by_an_early_release(library) -> dict[str, bytes]:
    """downloads/ as the first releases left it with --keep-media: the talk's recording under yt-dlp's name for it,
    and an interrupted run's leftovers."""
    downloads = library / "downloads"
    downloads.mkdir()
    files = {"Generic-old.mp4": b"the talk's recording",  # talk 'old' of extractor Generic
             "Generic-gone.mp4": b"a talk the library does not have",
             "Generic-old.mp4.part": b"half a download", "Generic-old.info.json": b"{}"}
    for name, data in files.items():
        (downloads / name).write_bytes(data)
    return files


def test_recordings_an_early_release_kept_in_downloads_are_moved_to_media_not_deleted(tmp_path):
    """Releases before 2026-12-02 kept --keep-media recordings in downloads/; check --repair deleted them as "leftover
    files from interrupted runs"."""
    library = tmp_path / "old"
    _format_3_library(library)
    files = _kept_by_an_early_release(library)
    found = check_library(library)
    assert ("1 recordings kept in downloads/ by an earlier release (--keep-media); --repair moves them to media/"
            in found.facts), found.facts
    assert "3 leftover files from interrupted runs (downloads and transcriptions a run of their source resumes; " \
           "--repair removes them)" in found.facts
    repaired = check_library(library, repair=True)  # the upgrade moves them, and says so
    assert (f"{UPGRADED} (moved 1 recordings an earlier release kept in downloads/ to media/)"
            in repaired.repaired), repaired.repaired
    assert (library / "media" / "Generic-old.mp4").read_bytes() == files["Generic-old.mp4"]
    assert not (library / "downloads" / "Generic-old.mp4").exists()
    assert "1 audio files kept in media/ (--keep-media)" in repaired.facts


def test_a_current_librarys_downloads_are_an_interrupted_runs_not_kept_recordings(tmp_path):
    """A --reindex stopped midway leaves each talk's download in downloads/ under the name the first releases kept
    recordings by: check called them "kept in downloads/ by an earlier release" and --repair moved them into media/,
    without --keep-media (a reviewer's hunt). The upgrade to the current format moved any there were."""
    library = tmp_path / "old"
    _format_3_library(library)
    with Library.open(library) as current:
        current.acquire_writer()
        current.sync_vector_index(save=True)
    _kept_by_an_early_release(library)
    found = check_library(library)
    assert not [fact for fact in found.facts if "earlier release" in fact], found.facts
    assert "4 leftover files from interrupted runs (downloads and transcriptions a run of their source resumes; " \
           "--repair removes them)" in found.facts
    check_library(library, repair=True)
    assert not (library / "media").exists()


def test_the_upgrade_moves_an_early_releases_kept_recordings_to_media(tmp_path):
    library = tmp_path / "old"
    _format_3_library(library)
    files = _kept_by_an_early_release(library)
    with Library.open(library) as reader:  # a reader moves nothing
        assert reader.format == 3
    assert (library / "downloads" / "Generic-old.mp4").exists() and not (library / "media").exists()
    with Library.open(library) as writer:
        writer.acquire_writer()
        talk = Talk(extractor="Generic", source_id="old", url="", title="old")
        assert writer.kept_media(talk) == [library / "media" / "Generic-old.mp4"]
    assert (library / "media" / "Generic-old.mp4").read_bytes() == files["Generic-old.mp4"]
    assert sorted(p.name for p in (library / "downloads").iterdir()) == [
        "Generic-gone.mp4", "Generic-old.info.json", "Generic-old.mp4.part"]


def test_check_counts_the_sentences_without_word_vectors_of_a_library_not_upgraded_yet(tmp_path):
    """Before format 6 no sentence has its word vectors: check said nothing of them until the library was upgraded."""
    library = tmp_path / "old"
    talk_id = _format_3_library(library)
    db = sqlite3.connect(library / "catalog.sqlite")
    db.execute("INSERT INTO passages VALUES (3, ?, 'sentence', 0, 2, 'Rootless Podman needs subunit files.', ?)",
               (talk_id, _vector(3).tobytes()))
    db.commit()
    db.close()
    assert any(line.startswith("1 sentences have no word vectors (stored before format 6)")
               for line in check_library(library).facts)

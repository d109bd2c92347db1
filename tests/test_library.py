"""The library format on its own: atomic talks, the derived vector index and vocabulary, the writer lock."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from talksearch.library import (FORMAT_VERSION, Library, LibraryError, LibraryLocked, Passage, Segment, Talk, TalkFilter,
                                Word)
from talksearch.pronunciation import word_phonemes

pytestmark = pytest.mark.unit


def _vector(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(8).astype(np.float32)
    return v / np.linalg.norm(v)


def _add(library: Library, source_id: str, n: int = 3) -> str:
    words = [Word(i, i + 0.5, f" w{i}") for i in range(n)]
    talk = Talk(extractor="Generic", source_id=source_id, url=f"http://example.org/{source_id}.mp3", title=source_id,
                whisper_model="tiny.en", embed_model="test-model")
    passages = [Passage(i, i + 1, f"passage {source_id} {i}") for i in range(n)]
    vectors = np.stack([_vector(hash((source_id, i)) % 1000) for i in range(n)])
    return library.add_talk(talk, [Segment(0, n, "text", words)], passages, vectors)


@pytest.fixture
def library(tmp_path):
    lib = Library.open(tmp_path / "lib", create=True)
    lib.acquire_writer()
    lib.bind_embedding_model("test-model", 8)
    yield lib
    lib.close()


def test_vector_index_is_rebuilt_from_the_catalog(library, tmp_path):
    talk_id = _add(library, "a")
    _add(library, "b")
    library.close()
    (tmp_path / "lib" / "vectors.faiss").write_bytes(b"corrupt")  # a crash mid-save, or damage
    reopened = Library.open(tmp_path / "lib")
    hits = reopened.search_vectors(_vector(hash(("a", 1)) % 1000), 1)
    assert reopened.passages([hits[0][0]])[hits[0][0]].talk_id == talk_id
    assert reopened.sync_vector_index().ntotal == 6


def test_readers_see_whole_talks_only_after_commit(library, tmp_path):
    reader = Library.open(tmp_path / "lib")
    reader.sync_vector_index()
    assert reader.count_passages() == 0
    _add(library, "c")
    assert reader.refresh() is True
    assert reader.sync_vector_index().ntotal == 3
    assert reader.refresh() is False


def test_a_talk_is_committed_whole_or_not_at_all(library):
    talk = Talk(extractor="Generic", source_id="bad", url="http://example.org/x", title="x")
    with pytest.raises(ValueError):
        library.add_talk(talk, [], [Passage(0, 1, "p")], np.zeros((2, 8), np.float32))
    _add(library, "d")
    with pytest.raises(Exception):  # the same talk twice violates the archive key
        _add(library, "d")
    assert library.count_talks() == 1 and library.count_passages() == 3


def test_the_sound_vocabulary_follows_commits_and_is_filled_in_for_an_older_library(library, tmp_path):
    talk = Talk(extractor="Generic", source_id="v", url="http://example.org/v.mp3", title="v")
    said = Segment(0, 2, "Rootless Podman needs the subunit files.", [])
    library.add_talk(talk, [said], [Passage(0, 2, said.text)], _vector(1)[None])
    reader = Library.open(tmp_path / "lib")
    words, sounds = reader.sound_vocabulary()
    assert "subunit" in words and "Podman" in words and len(words) == 6
    assert words[int(np.argmin(sounds.distances(word_phonemes("subuid"))))] == "subunit"
    _add(library, "more")  # another process's commit: the reader's vocabulary follows
    assert reader.refresh() and "passage" not in reader.sound_vocabulary()[0]  # sentences make the vocabulary
    assert "text" in reader.sound_vocabulary()[0]
    reader.close()
    # a library written before the vocabulary existed (format 1, with the spelling keys that came before it)
    library.db.executescript("DELETE FROM sound_vocabulary; DELETE FROM meta WHERE key = 'sound_vocabulary';"
                             "CREATE VIRTUAL TABLE passages_sound USING fts5(key);"
                             "UPDATE meta SET value = '1' WHERE key = 'format_version';")
    library.close()
    older = Library.open(tmp_path / "lib")
    older.acquire_writer()
    assert "subunit" in older.sound_vocabulary()[0]
    assert older.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'passages_sound'").fetchone() is None
    older.close()


def test_second_writer_is_refused(library, tmp_path):
    other = Library.open(tmp_path / "lib")
    with pytest.raises(LibraryLocked, match="being written by talksearch index"):
        other.acquire_writer()


def test_a_refused_writer_is_told_which_command_holds_the_library(tmp_path):
    """Not "talksearch index" whatever holds it: a server's DELETE, or talksearch remove, is named as such."""
    with Library.open(tmp_path / "lib", create=True) as held, Library.open(tmp_path / "lib") as other:
        held.acquire_writer("talksearch serve")
        with pytest.raises(LibraryLocked, match=fr"being written by talksearch serve \(pid {os.getpid()}\); wait"):
            other.acquire_writer()


def test_the_lock_holder_is_written_over_a_longer_one(library, tmp_path):
    """The holder's line is written over the last holder's, then the rest cut (cut first, a refused writer reading
    between saw it empty: "another process"); what a refused writer names is its first line."""
    library.close()
    lock = tmp_path / "lib" / "indexer.lock"
    lock.write_text("talksearch index (pid 4194304) from a much longer line before")
    with Library.open(tmp_path / "lib") as held, Library.open(tmp_path / "lib") as other:
        held.acquire_writer()
        assert lock.read_text() == f"talksearch index (pid {os.getpid()})\n"  # the longer line's rest cut
        with pytest.raises(LibraryLocked, match=fr"by talksearch index \(pid {os.getpid()}\); wait for it to finish$"):
            other.acquire_writer()


def test_embedding_model_is_recorded(library):
    with pytest.raises(LibraryError, match="built with embedding model 'test-model'"):
        library.bind_embedding_model("another-model", 8)


def test_check_finds_and_repairs_a_damaged_vector_index(library, tmp_path):
    from talksearch.check import check_library

    _add(library, "e")
    library.close()
    assert check_library(tmp_path / "lib").problems == []
    (tmp_path / "lib" / "vectors.faiss").write_bytes(b"damaged")
    report = check_library(tmp_path / "lib")
    assert report.problems == ["vectors.faiss cannot be read"]
    repaired = check_library(tmp_path / "lib", repair=True)
    assert repaired.clean and repaired.repaired == ["rebuilt vectors.faiss from the catalog (3 passages)"]

    # Readable, with the right ids and dimension, but a vector's bytes overwritten: searches would rank with it.
    file = tmp_path / "lib" / "vectors.faiss"
    data = bytearray(file.read_bytes())
    with Library.open(tmp_path / "lib") as reader:
        codes = data.find(reader.passage_vectors([2])[0].tobytes())  # passage 2's floats
    assert codes > 0
    data[codes:codes + 32] = b"\xff" * 32
    file.write_bytes(bytes(data))
    assert check_library(tmp_path / "lib").problems == [
        "vectors.faiss: 1 of 3 sampled passages are not found by their own vectors (its vector data is damaged)"]
    assert check_library(tmp_path / "lib", repair=True).clean


# Format 1 as released (before the numbered migrations): no vocabulary, the spelling-based sound keys instead.
FORMAT_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE talks (id TEXT PRIMARY KEY, archive_id TEXT NOT NULL UNIQUE, extractor TEXT NOT NULL,
    source_id TEXT NOT NULL, url TEXT NOT NULL, media_url TEXT, title TEXT NOT NULL, channel TEXT,
    speakers TEXT NOT NULL DEFAULT '[]', event TEXT, description TEXT, published TEXT, duration REAL, language TEXT,
    thumbnail TEXT, chapters TEXT NOT NULL DEFAULT '[]', whisper_model TEXT NOT NULL, embed_model TEXT NOT NULL,
    indexed_at TEXT NOT NULL);
CREATE TABLE segments (talk_id TEXT NOT NULL REFERENCES talks(id) ON DELETE CASCADE, idx INTEGER NOT NULL,
    start_time REAL NOT NULL, end_time REAL NOT NULL, text TEXT NOT NULL, words TEXT NOT NULL,
    PRIMARY KEY (talk_id, idx));
CREATE TABLE passages (id INTEGER PRIMARY KEY, talk_id TEXT NOT NULL REFERENCES talks(id) ON DELETE CASCADE,
    kind TEXT NOT NULL, start_time REAL NOT NULL, end_time REAL NOT NULL, text TEXT NOT NULL, embedding BLOB NOT NULL);
CREATE INDEX passages_talk ON passages(talk_id);
CREATE INDEX passages_talk_time ON passages(talk_id, start_time, end_time, kind);
CREATE VIRTUAL TABLE passages_fts USING fts5(text, content='passages', content_rowid='id', tokenize='porter unicode61');
CREATE TRIGGER passages_fts_insert AFTER INSERT ON passages BEGIN
    INSERT INTO passages_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER passages_fts_delete AFTER DELETE ON passages BEGIN
    INSERT INTO passages_fts(passages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE VIRTUAL TABLE passages_sound USING fts5(key, tokenize='trigram');
CREATE TRIGGER passages_sound_delete AFTER DELETE ON passages BEGIN
    DELETE FROM passages_sound WHERE rowid = old.id;
END;
"""


def _format_1_library(path) -> str:
    """A library as format 1 wrote it, made with sqlite3 alone: one talk, one sentence, two passages."""
    path.mkdir()
    db = sqlite3.connect(path / "catalog.sqlite")
    db.executescript(FORMAT_1)
    db.executemany("INSERT INTO meta VALUES (?, ?)", [("format_version", "1"), ("embed_model", "test-model"),
                                                      ("embed_dim", "8"), ("index_factory", "IDMap2,Flat")])
    talk = Talk(extractor="Generic", source_id="old", url="http://example.org/old.mp3", title="old")
    db.execute("INSERT INTO talks(id, archive_id, extractor, source_id, url, title, whisper_model, embed_model, "
               "indexed_at) VALUES (?, ?, 'Generic', 'old', ?, 'old', 'tiny.en', 'test-model', '2025-01-01')",
               (talk.id, talk.archive_id, talk.url))
    db.execute("INSERT INTO segments VALUES (?, 0, 0, 2, 'Rootless Podman needs subunit files.', '[]')", (talk.id,))
    for pid in (1, 2):
        db.execute("INSERT INTO passages VALUES (?, ?, 'window', 0, 2, 'Rootless Podman needs subunit files.', ?)",
                   (pid, talk.id, _vector(pid).tobytes()))
        db.execute("INSERT INTO passages_sound(rowid, key) VALUES (?, 'rtls pdmn')", (pid,))
    db.commit()
    db.close()
    return talk.id


def test_a_format_1_library_is_read_as_it_is_and_upgraded_when_opened_for_writing(tmp_path):
    talk_id = _format_1_library(tmp_path / "old")
    with Library.open(tmp_path / "old", readonly=True) as reader:  # a reader cannot upgrade, and need not
        assert reader.format == 1 and reader.talk(talk_id).title == "old"
        assert reader.sound_vocabulary()[0] == [] and reader.keyword_search("podman", 5) == [1, 2]
    with Library.open(tmp_path / "old") as upgraded:
        assert upgraded.format == 1  # not the writer: read as it is (tests/test_upgrading.py)
        upgraded.acquire_writer()
        assert upgraded.format == FORMAT_VERSION and upgraded.meta("format_version") == str(FORMAT_VERSION)
        tables = {r[0] for r in upgraded.db.execute("SELECT name FROM sqlite_master")}
        assert "sound_vocabulary" in tables and not {"passages_sound", "passages_sound_delete"} & tables
        assert "subunit" in upgraded.sound_vocabulary()[0]  # the upgrade fills the new table in
        assert [pid for pid, _ in upgraded.search_vectors(_vector(2), 1)] == [2]
        assert upgraded.delete_talk(talk_id) and upgraded.count_passages() == 0  # no trigger left behind


def test_a_library_of_a_newer_format_is_refused_in_one_line(library, tmp_path):
    library.db.execute("UPDATE meta SET value = ? WHERE key = 'format_version'", (str(FORMAT_VERSION + 1),))
    library.close()
    for readonly in (False, True):
        with pytest.raises(LibraryError) as refused:
            Library.open(tmp_path / "lib", readonly=readonly)
        assert str(refused.value) == (f"library {tmp_path / 'lib'} has format {FORMAT_VERSION + 1}, newer than this "
                                      f"talksearch reads ({FORMAT_VERSION}); upgrade talksearch to use it")


def test_a_format_3_library_upgrades_to_record_where_transcripts_came_from(tmp_path):
    """Format 4 adds talks.transcript_source (earlier talks were all whisper's) and segments.speaker."""
    talk_id = _format_1_library(tmp_path / "old")
    db = sqlite3.connect(tmp_path / "old" / "catalog.sqlite")  # format 3: format 1 with migrations 2 and 3 run
    db.executescript("CREATE TABLE sound_vocabulary (word TEXT PRIMARY KEY, phonemes TEXT NOT NULL) WITHOUT ROWID;"
                     "DROP TRIGGER passages_sound_delete; DROP TABLE passages_sound;"
                     "UPDATE meta SET value = '3' WHERE key = 'format_version';")
    db.close()
    with Library.open(tmp_path / "old", readonly=True) as reader:  # read as it is: no source, no speakers
        assert reader.format == 3 and reader.talk(talk_id).transcript_source == "whisper tiny.en"  # as migration 4
        assert reader.segments(talk_id)[0].speaker is None
        assert reader.talks_per_transcript_source() == {"whisper tiny.en": 1}
    with Library.open(tmp_path / "old") as upgraded:
        upgraded.acquire_writer()
        assert upgraded.format == FORMAT_VERSION == 11
        assert upgraded.talk(talk_id).transcript_source == "whisper tiny.en"
        assert upgraded.segments(talk_id)[0].speaker is None


def test_replacing_a_talk_swaps_its_transcript_in_one_transaction(library, tmp_path):
    talk_id = _add(library, "r")
    reader = Library.open(tmp_path / "lib")
    reader.sync_vector_index()
    talk = Talk(extractor="Generic", source_id="r", url="http://example.org/r.mp3", title="r",
                embed_model="test-model", transcript_source="uploaded captions")
    words = [Word(0, 0.5, "Hello"), Word(0.5, 1, " there.")]
    with pytest.raises(sqlite3.IntegrityError):  # without replace, a known talk is refused: nothing changes
        library.add_talk(talk, [Segment(0, 1, "Hello there.", words)], [Passage(0, 1, "Hello there.")],
                         _vector(7)[None, :])
    assert library.add_talk(talk, [Segment(0, 1, "Hello there.", words, speaker="Ada")],
                            [Passage(0, 1, "Hello there.")], _vector(7)[None, :], replace=True) == talk_id
    assert library.count_passages() == 1 and library.search_vectors(_vector(7), 1)[0][0] == 4  # ids not reused
    assert library.talk(talk_id).transcript_source == "uploaded captions"
    assert [(s.text, s.speaker) for s in library.segments(talk_id)] == [("Hello there.", "Ada")]
    assert reader.refresh() is True and reader.sync_vector_index().ntotal == 1
    reader.close()


def test_a_read_talk_is_typed_and_keeps_the_id_it_was_stored_under(library):
    talk_id = _add(library, "typed")
    talk = library.talk(talk_id)
    assert isinstance(talk, Talk) and (talk.id, talk.title, talk.speakers) == (talk_id, "typed", [])
    # the id is the row's, not derived again from the source (which a later rule, or an edit, may change)
    library.db.execute("UPDATE talks SET extractor = 'Youtube', source_id = 'other' WHERE id = ?", (talk_id,))
    assert library.talk(talk_id).id == talk_id == library.talks()[0].id
    assert list(library.talks_by_id([talk_id])) == [talk_id]


def test_a_format_4_library_upgrades_to_keywords_in_any_script(tmp_path):
    """Format 5 folds every accent in the word index (letters with two, as Vietnamese writes them, too; made
    again from the passages) and indexes text without spaces between words (Chinese, Japanese) by trigrams, the
    passages already stored included."""
    talk_id = _format_1_library(tmp_path / "old")
    db = sqlite3.connect(tmp_path / "old" / "catalog.sqlite")  # format 4: format 1 with migrations 2 to 4 run
    db.executescript("CREATE TABLE sound_vocabulary (word TEXT PRIMARY KEY, phonemes TEXT NOT NULL) WITHOUT ROWID;"
                     "DROP TRIGGER passages_sound_delete; DROP TABLE passages_sound;"
                     "ALTER TABLE talks ADD COLUMN transcript_source TEXT NOT NULL DEFAULT '';"
                     "ALTER TABLE segments ADD COLUMN speaker TEXT;"
                     "UPDATE passages SET text = 'Trí tuệ nhân tạo, über Podman: 東京大学で研究しています。' WHERE id = 2;"
                     "INSERT INTO passages_fts(passages_fts) VALUES ('rebuild');"
                     "UPDATE meta SET value = '4' WHERE key = 'format_version';")
    db.close()
    with Library.open(tmp_path / "old", readonly=True) as reader:  # read as it is: double accents, no trigrams
        assert reader.format == 4
        assert reader.keyword_search("tue", 5) == [] and reader.keyword_search("研究", 5) == []
    with Library.open(tmp_path / "old") as upgraded:
        upgraded.acquire_writer()
        assert upgraded.format == FORMAT_VERSION == 11
        assert upgraded.keyword_search("tue", 5) == [2] and upgraded.keyword_search("tuệ", 5) == [2]
        assert upgraded.keyword_search("uber", 5) == [2]
        assert upgraded.keyword_search("研究", 5) == [2] and upgraded.keyword_search("東京大学", 5) == [2]
        assert upgraded.keywords.verify()
        # the vocabulary, dropped to be kept per language, is made again by the upgrade: a library only served
        # after it still finds words by their sound
        assert "subunit" in upgraded.sound_vocabulary()[0] and not upgraded.sound_vocabulary_outdated()
        assert upgraded.delete_talk(talk_id) and upgraded.keyword_search("研究", 5) == []


def _sentences_and_window(library: Library, source_id: str, tokens: bool) -> str:
    """A talk of two sentence passages and the window over both; with ``tokens``, the sentences' word vectors."""
    talk = Talk(extractor="Generic", source_id=source_id, url=f"http://example.org/{source_id}.mp3", title=source_id,
                whisper_model="tiny.en", embed_model="test-model")
    sentences = [Segment(0, 1, "First said."), Segment(1, 2, "Then this.")]
    passages = [Passage(0, 2, "First said. Then this.", kind="window"), Passage(0, 1, "First said.", kind="sentence"),
                Passage(1, 2, "Then this.", kind="sentence")]
    words = [np.stack([_vector(1), _vector(2)]), np.stack([_vector(1), _vector(2)]), _vector(3)[None]]
    return library.add_talk(talk, sentences, passages, np.stack([_vector(i) for i in range(3)]),
                            token_vectors=words if tokens else None)


def test_sentences_keep_their_word_vectors_as_signs_and_a_window_reads_its_sentences(library):
    from talksearch.library import token_codes

    talk_id = _sentences_and_window(library, "w", tokens=True)
    hits = library.passages_within(talk_id, 0, 2)
    window = next(h for h in hits if h.kind == "window")
    sentence = next(h for h in hits if h.kind == "sentence" and h.start == 1)
    stored = library.passage_token_vectors([window, sentence])
    assert stored[sentence.passage_id].tolist() == token_codes.signs(_vector(3)[None]).tolist()
    assert len(stored[window.passage_id]) == 3  # its two sentences' words, in order
    assert stored[window.passage_id][2].tolist() == stored[sentence.passage_id][0].tolist()
    (blob,) = library.db.execute("SELECT token_vectors FROM passages WHERE id = ?", (window.passage_id,)).fetchone()
    assert blob is None  # a window stores none of its own
    assert len(token_codes.pack(np.ones((2, 384)))) == 2 * 48  # one bit per dimension


def test_passages_without_word_vectors_read_as_none(library):
    talk_id = _sentences_and_window(library, "n", tokens=False)
    assert library.passage_token_vectors(library.passages_within(talk_id, 0, 2)) == {}


def test_a_format_5_library_upgrades_to_keep_word_vectors(tmp_path):
    """Format 6 adds passages.token_vectors; the passages stored before have none (their talks rank without
    rescoring), a talk added after has them."""
    talk_id = _format_1_library(tmp_path / "old")
    with Library.open(tmp_path / "old") as current:  # up to date, then the new column taken off again: format 5
        current.acquire_writer()
        current.db.executescript("ALTER TABLE passages DROP COLUMN token_vectors;"
                                 "UPDATE meta SET value = '5' WHERE key = 'format_version';")
    with Library.open(tmp_path / "old", readonly=True) as reader:
        assert reader.format == 5 and reader.passage_token_vectors(reader.passages([1, 2]).values()) == {}
    with Library.open(tmp_path / "old") as upgraded:
        upgraded.acquire_writer()
        assert upgraded.format == FORMAT_VERSION == 11
        assert upgraded.passage_token_vectors(upgraded.passages([1, 2]).values()) == {}
        added = _sentences_and_window(upgraded, "new", tokens=True)
        assert len(upgraded.passage_token_vectors(upgraded.passages_within(added, 0, 2))) == 3
        assert upgraded.talk(talk_id).title == "old"



def test_a_format_6_library_upgrades_to_find_other_languages_by_trigrams(tmp_path):
    """Format 7 indexes the passages of talks in other languages than English by character trigrams, the
    passages already stored included; a reader of format 6 finds nothing there, and searches as before."""
    talk_id = _format_1_library(tmp_path / "old")
    with Library.open(tmp_path / "old") as current:  # up to date, then made German with the new index dropped
        current.acquire_writer()
        current.db.executescript("DROP TRIGGER passages_trigrams_insert; DROP TRIGGER passages_trigrams_delete;"
                                 "DROP TABLE passages_trigrams; UPDATE talks SET language = 'de';"
                                 "UPDATE meta SET value = '6' WHERE key = 'format_version';")
    with Library.open(tmp_path / "old", readonly=True) as reader:
        assert reader.format == 6 and reader.trigram_search("subunits", 5) == []
    with Library.open(tmp_path / "old") as upgraded:
        upgraded.acquire_writer()
        assert upgraded.format == FORMAT_VERSION == 11
        assert sorted(upgraded.trigram_search("subunits", 5)) == [1, 2]
        assert upgraded.delete_talk(talk_id) and upgraded.trigram_search("subunits", 5) == []


def test_quoted_phrases_hold_their_exact_words_in_order_not_other_forms(library):
    texts = ["We started looking at Power Capping.", "Nodes are power-capped at night.", "POWER CAPPED, a node idles.",
             "Sharing one GPU.", "Sharing GPUs on Kubernetes.", "Meet at the Café Central.", "Capped power is cheap."]
    talk = Talk(extractor="Generic", source_id="phrases", url="http://example.org/phrases.mp3", title="phrases",
                whisper_model="tiny.en", embed_model="test-model")
    passages = [Passage(i, i + 1, text, kind="sentence") for i, text in enumerate(texts)]
    passages.append(Passage(9, 10, "Die Knoten schlafen.", kind="sentence", translation="The nodes are power capped."))
    talk_id = library.add_talk(talk, [Segment(0, 10, "text", [Word(0, 1, " w")])], passages,
                               np.stack([_vector(i) for i in range(len(passages))]))
    ids = {p.text: p.passage_id for p in library.passages_within(talk_id, 0, 10)}

    def holding(query: str) -> set[str]:
        return {text for text, pid in ids.items() if pid in library.holding_phrases(ids.values(), query)}

    # the stemmer would take "capping" for "capped": a phrase holds its very words, whatever their case, hyphens
    # between them, and a translation's words count as the passage's own
    assert holding('"power capped"') == {"Nodes are power-capped at night.", "POWER CAPPED, a node idles.",
                                        "Die Knoten schlafen."}
    assert holding('"GPUs"') == {"Sharing GPUs on Kubernetes."} and holding('"GPU"') == {"Sharing one GPU."}
    assert holding('"cafe central"') == {"Meet at the Café Central."}  # accents are folded, as in the index
    assert holding('"capped power" "cheap"') == {"Capped power is cheap."}  # in order, every phrase
    assert holding('"power capping" GPU') == {"We started looking at Power Capping."}
    assert library.holding_phrases(ids.values(), "power capped") is None  # no phrase: nothing to hold
    assert library.holding_phrases([], '"power capped"') == set()


def test_a_format_7_library_upgrades_to_name_the_source_of_transcripts_an_early_format_4_indexer_left_empty(tmp_path):
    """Format 8 fills in the transcript source of whisper's talks that the first format-4 indexer did not record
    (migration 4 filled it only for talks stored before); a captioned talk (no whisper model) keeps its own."""
    talk_id = _format_1_library(tmp_path / "old")
    with Library.open(tmp_path / "old") as current:  # up to date, then as that indexer wrote it: format 7
        current.acquire_writer()
        talk = Talk(extractor="Generic", source_id="cc", url="http://example.org/cc.mp3", title="cc",
                    embed_model="test-model", transcript_source="uploaded captions")
        captioned = current.add_talk(talk, [Segment(0, 1, "Hello there.", [])], [Passage(0, 1, "Hello there.")],
                                     _vector(9)[None, :])
        current.db.executescript("UPDATE talks SET transcript_source = '' WHERE whisper_model != '';"
                                 "UPDATE meta SET value = '7' WHERE key = 'format_version';")
    with Library.open(tmp_path / "old") as upgraded:
        upgraded.acquire_writer()
        assert upgraded.format == FORMAT_VERSION == 11
        assert upgraded.talk(talk_id).transcript_source == "whisper tiny.en"
        assert upgraded.talk(captioned).transcript_source == "uploaded captions"
        assert upgraded.talks_per_transcript_source() == {"whisper tiny.en": 1, "uploaded captions": 1}


def test_a_format_8_library_upgrades_to_record_when_a_talks_details_changed(tmp_path):
    """Format 9 adds talks.details_changed_at, which the feeds' <updated> follows: a reader of format 8 reads it as
    absent (None), and an upgraded catalog has it, empty for the talks stored before, until their details change."""
    talk_id = _format_1_library(tmp_path / "old")
    with Library.open(tmp_path / "old") as current:  # up to date, then the new column taken off again: format 8
        current.acquire_writer()
        current.db.executescript("ALTER TABLE talks DROP COLUMN details_changed_at;"
                                 "UPDATE meta SET value = '8' WHERE key = 'format_version';")
    with Library.open(tmp_path / "old", readonly=True) as reader:
        assert reader.format == 8 and reader.talk(talk_id).title == "old"
        assert reader.talk(talk_id).details_changed_at is None and reader.talks()[0].details_changed_at is None
    with Library.open(tmp_path / "old") as upgraded:
        upgraded.acquire_writer()
        assert upgraded.format == FORMAT_VERSION == 11
        assert upgraded.talk(talk_id).details_changed_at is None
        assert upgraded.update_talk_details(talk_id, {"title": "old, retitled"}) == ["title"]
        assert upgraded.talk(talk_id).details_changed_at > upgraded.talk(talk_id).indexed_at


def test_a_talks_details_changed_at_is_set_only_when_they_change(library):
    talk_id = _add(library, "d")
    assert library.talk(talk_id).details_changed_at is None  # never changed since indexed
    assert library.update_talk_details(talk_id, {"title": "d", "speakers": []}) == []
    assert library.talk(talk_id).details_changed_at is None  # the same details: nothing written
    library.db.execute("UPDATE talks SET indexed_at = '2024-06-01T00:00:00+00:00' WHERE id = ?", (talk_id,))
    assert library.update_talk_details(talk_id, {"title": "d, corrected"}) == ["title"]
    changed = datetime.fromisoformat(library.talk(talk_id).details_changed_at)
    assert changed.tzinfo is not None and abs(datetime.now(timezone.utc) - changed) < timedelta(minutes=1)
    assert library.talk(talk_id).indexed_at == "2024-06-01T00:00:00+00:00"  # when it was transcribed, as before


def test_check_reports_a_missing_sound_vocabulary_and_repair_remakes_it(library, tmp_path):
    """A vocabulary missing or made by other pronunciation rules (a catalog rebuilt, talksearch's rules
    changed) is a problem check names, not a silent loss of sound-alike matching; --repair remakes it."""
    from talksearch.check import check_library

    library.add_talk(Talk(extractor="Generic", source_id="v", url="http://example.org/v.mp3", title="v",
                          embed_model="test-model"),
                     [Segment(0, 2, "Rootless Podman needs the subunit files.", [])],
                     [Passage(0, 2, "Rootless Podman needs the subunit files.")], _vector(1)[None])
    library.sync_vector_index(save=True)
    library.db.executescript("DELETE FROM sound_vocabulary; DELETE FROM meta WHERE key = 'sound_vocabulary';")
    library.close()
    found = check_library(tmp_path / "lib")
    assert found.problems == ["the sound-alike vocabulary is missing or out of date (sound-alike matching finds "
                              "little)"]
    repaired = check_library(tmp_path / "lib", repair=True)
    assert repaired.clean and repaired.repaired == ["remade the sound-alike vocabulary from the transcripts"]
    with Library.open(tmp_path / "lib") as reopened:
        assert "subunit" in reopened.sound_vocabulary()[0]


def test_a_kept_recording_whose_name_another_talks_id_shares_is_never_taken_for_one_talks(library, tmp_path):
    """Ids made safe to one file name ("talk (2024)", "talk_2024"): a --reindex clean-up of one talk's earlier
    recording removed the other talk's, of another extension."""
    media = tmp_path / "lib" / "media"
    media.mkdir()
    (media / "Generic-talk_2024.mp4").write_bytes(b"first")
    (media / "Generic-solo.ogg").write_bytes(b"solo")
    _add(library, "talk (2024)")
    second = Talk(extractor="Generic", source_id="talk_2024", url="http://example.org/b.mp3", title="b",
                  whisper_model="tiny.en", embed_model="test-model")
    assert library.kept_media(second) == []  # "talk (2024)" may own it
    _add(library, "solo")
    solo = Talk(extractor="Generic", source_id="solo", url="http://example.org/solo.mp3", title="solo",
                whisper_model="tiny.en", embed_model="test-model")
    assert library.kept_media(solo) == [media / "Generic-solo.ogg"]


def test_check_repair_removes_folders_left_in_downloads_and_says_every_repair(library, tmp_path):
    """A folder in downloads/ stopped --repair ("error: Is a directory") after it had rebuilt vectors.faiss, which
    it then never reported; every later repair stopped there."""
    from talksearch.check import check_library

    _add(library, "e")
    library.close()
    downloads = tmp_path / "lib" / "downloads"
    (downloads / "sub" / "deeper").mkdir(parents=True)
    (downloads / "sub" / "deeper" / "talk.part").write_bytes(b"partial")
    (downloads / "other.part").write_bytes(b"partial")
    (tmp_path / "lib" / "vectors.faiss").write_bytes(b"damaged")
    assert "2 leftover files from interrupted runs" in check_library(tmp_path / "lib").facts[-1]
    repaired = check_library(tmp_path / "lib", repair=True)
    assert repaired.repaired == ["rebuilt vectors.faiss from the catalog (3 passages)",
                                 "removed 2 leftover files"], repaired.repaired
    assert repaired.clean and list(downloads.iterdir()) == []

    (downloads / "stuck").mkdir()  # one that cannot be removed: named, and the others removed
    (downloads / "another.part").write_bytes(b"partial")

    def refused(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("talksearch.check.shutil.rmtree", refused)
        repaired = check_library(tmp_path / "lib", repair=True)
    assert repaired.repaired == ["removed 1 leftover files"], repaired.repaired
    assert repaired.problems == [f"leftover {downloads / 'stuck'} cannot be removed (Permission denied); remove it "
                                 "by hand"], repaired.problems
    assert not repaired.repairable


def test_check_names_the_command_that_removes_a_talk_whose_recording_is_gone(library, tmp_path):
    from talksearch.check import check_library

    gone = tmp_path / "gone.ogg"
    talk = Talk(extractor="local", source_id="gone", url=gone.as_uri(), media_url=gone.as_uri(), title="gone",
                whisper_model="tiny.en", embed_model="test-model")
    library.add_talk(talk, [Segment(0, 1, "text", [])], [Passage(0, 1, "text")], _vector(3)[None])
    library.close()
    [problem] = check_library(tmp_path / "lib").problems
    assert f"remove the talk (`talksearch remove {talk.id} --library {tmp_path / 'lib'}`, or DELETE " \
           f"/api/talks/{talk.id})" in problem, problem


def test_check_counts_only_the_talks_kept_recordings_in_media(library, tmp_path):
    """Notes, .DS_Store and other files put in media/ by hand were counted as "audio files kept (--keep-media)"."""
    from talksearch.check import check_library

    media = tmp_path / "lib" / "media"
    media.mkdir()
    _add(library, "kept")
    library.close()
    (media / "Generic-kept.mp4").write_bytes(b"kept")
    for stray in ("notes.txt", ".DS_Store", "cover.jpg"):
        (media / stray).write_bytes(b"the user's")
    report = check_library(tmp_path / "lib")
    assert report.clean, report.problems
    assert "1 audio files kept in media/ (--keep-media)" in report.facts, report.facts


def test_check_says_vectors_holding_passages_the_catalog_lacks(library, tmp_path):
    """A catalog restored from an older backup beside newer vectors was said to be lagged by the vector file."""
    import shutil

    from talksearch.check import check_library

    _add(library, "a")
    library.sync_vector_index(save=True)
    library.close()
    shutil.copy(tmp_path / "lib" / "catalog.sqlite", tmp_path / "older.sqlite")  # a backup, then more talks
    with Library.open(tmp_path / "lib") as writer:
        writer.acquire_writer()
        _add(writer, "b")
        writer.sync_vector_index(save=True)
    for log in ("catalog.sqlite-wal", "catalog.sqlite-shm"):
        (tmp_path / "lib" / log).unlink(missing_ok=True)
    shutil.copy(tmp_path / "older.sqlite", tmp_path / "lib" / "catalog.sqlite")  # restored beside newer vectors
    [said] = [fact for fact in check_library(tmp_path / "lib").facts if fact.startswith("vectors.faiss ")]
    assert said.startswith("vectors.faiss holds 3 passages the catalog lacks (a catalog restored from an older "
                           "backup beside newer vectors, or a run interrupted after removing or replacing talks)"), said


def test_filter_menus_list_names_in_reading_order_accents_and_case_aside(library):
    """SQLite's NOCASE folds ASCII letters only: "Émile" and "Łukasz" came after "Zoë"."""
    for i, speaker in enumerate(["Zoë", "Łukasz", "émile", "Eli", "Åsa", "Bob", "zed"]):
        talk_id = _add(library, f"s{i}", 1)
        library.db.execute("UPDATE talks SET speakers = json_array(?) WHERE id = ?", (speaker, talk_id))
    assert library.facets()["speakers"] == ["Åsa", "Bob", "Eli", "émile", "Łukasz", "zed", "Zoë"]


def test_name_filters_match_any_spelling_case_and_accents_aside_and_menus_list_each_name_once(library):
    """SQLite's NOCASE folds ASCII letters only: speaker=jose garcia found "Jose Garcia" and "jose garcia", not
    "José García" or "JOSÉ GARCÍA", and the menus offered every spelling, two of them filtering alike."""
    talks = [("José García", "Łódź HPC Days", "JOSE GARCIA TV"), ("José García", "lodz hpc days", "jose garcia tv"),
             ("José García", "ŁÓDŹ HPC DAYS", "José García TV"), ("jose garcia", "Lodz HPC Days", "JOSE GARCIA TV"),
             ("JOSÉ GARCÍA", "lodz hpc days", "José García TV"), ("Jose Garcia", "Łódź HPC Days", "jose garcia tv"),
             ("Jürgen Groß", "FOSDEM", "Straße TV")]
    ids = []
    for i, (speaker, event, channel) in enumerate(talks):
        ids.append(_add(library, f"s{i}", 1))
        library.db.execute("UPDATE talks SET speakers = json_array(?), event = ?, channel = ? WHERE id = ?",
                           (speaker, event, channel, ids[-1]))
    _add(library, "unnamed", 1)  # no speaker, event or channel
    garcia, groß = set(ids[:6]), {ids[6]}
    for spelling in ("Jose Garcia", "JOSE GARCIA", "josé garcía", "José Garcia", "JOSÉ GARCÍA"):
        assert library.talk_ids(TalkFilter(speakers=[spelling])) == garcia, spelling
    for spelling in ("jurgen gross", "JÜRGEN GROSS"):
        assert library.talk_ids(TalkFilter(speakers=[spelling])) == groß, spelling
    assert library.talk_ids(TalkFilter(events=["LODZ HPC DAYS"])) == garcia
    assert library.talk_ids(TalkFilter(channels=["josé garcía tv", "STRASSE tv"])) == garcia | groß
    assert library.count_talks(TalkFilter(speakers=["Jose"])) == 0  # the whole name, as before
    assert library.talks(filters=TalkFilter(speakers=["jose garcia"], events=["fosdem"])) == []
    # each name once, as most of its talks spell it; a tie goes to the spelling that reads first
    facets = library.facets()
    assert facets["speakers"] == ["José García", "Jürgen Groß"]
    assert facets["events"] == ["FOSDEM", "lodz hpc days"]
    assert facets["channels"] == ["JOSE GARCIA TV", "Straße TV"]


def test_a_format_9_library_upgrades_to_remember_removed_talks_and_a_deletion_is_one(tmp_path):
    """Format 10 adds removed_talks: a reader of format 9 finds no talk removed, an upgraded catalog records a
    deletion (not a talk retired with its recording), and adding the talk again drops the record."""
    talk_id = _format_1_library(tmp_path / "old")
    with Library.open(tmp_path / "old") as current:  # up to date, then the new table taken off again: format 9
        current.acquire_writer()
        current.db.executescript("DROP TABLE removed_talks; UPDATE meta SET value = '9' WHERE key = 'format_version';")
    with Library.open(tmp_path / "old", readonly=True) as reader:
        key = reader.talk(talk_id).archive_id
        assert reader.format == 9 and reader.removed_on(key) is None and reader.records_intact()
    with Library.open(tmp_path / "old") as upgraded:
        upgraded.acquire_writer()
        assert upgraded.format == FORMAT_VERSION == 11 and upgraded.records_intact()
        talk = upgraded.talk(talk_id)
        assert upgraded.delete_talk(talk_id) and upgraded.removed_on(key) is not None
        upgraded.bind_embedding_model("test-model", 8)
        upgraded.add_talk(talk, [], [Passage(0, 1, "back")], _vector(3)[None])
        assert upgraded.removed_on(key) is None
        retired = _add(upgraded, "retired")
        retired_key = upgraded.talk(retired).archive_id
        assert upgraded.delete_talk(retired, record_removal=False) and upgraded.removed_on(retired_key) is None

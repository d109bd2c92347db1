"""The library format on its own: atomic talks, the derived vector index and vocabulary, the writer lock."""

from __future__ import annotations

import numpy as np
import pytest

from talksearch.library import Library, LibraryError, LibraryLocked, Passage, Segment, Talk, Word
from talksearch.pronunciation import word_phonemes


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
    # a library written before the vocabulary existed (with the spelling keys that came before it)
    library.db.executescript("DELETE FROM sound_vocabulary; DELETE FROM meta WHERE key = 'sound_vocabulary';"
                             "CREATE VIRTUAL TABLE passages_sound USING fts5(key);")
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

"""The vector index follows the library's size: exact while small, trained IVF past a threshold (set low
here), retrained only on large growth, and always consistent with the catalog for readers."""

from __future__ import annotations

import json

import numpy as np
import pytest

import talksearch.library.vector_sync as library_module
from talksearch.check import check_library
from talksearch.library import Library, Passage, Segment, Talk
from talksearch.vector_index import EXACT, IndexInfo, VectorPolicy, build, recall_at

pytestmark = pytest.mark.unit

DIM = 32
PER_TALK = 50
POLICY = VectorPolicy(exact_max=300, lists_per_sqrt=1.0, min_lists=4, save_min=120, tune_queries=60,
                      target_recall=0.95, refine=2)  # refine: the exact re-scoring path is tested too
_CENTRES = np.random.default_rng(7).standard_normal((24, DIM)).astype(np.float32)


def _vectors(seed: int, n: int = PER_TALK) -> np.ndarray:
    """Clustered like real embeddings: topics, and passages near them."""
    rng = np.random.default_rng(seed)
    x = _CENTRES[rng.integers(0, len(_CENTRES), n)] + 0.6 * rng.standard_normal((n, DIM)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _add(library: Library, number: int) -> str:
    talk = Talk(extractor="Generic", source_id=f"t{number}", url=f"http://example.org/{number}.mp3",
                title=f"talk {number}", whisper_model="tiny.en", embed_model="test-model")
    passages = [Passage(i, i + 1, f"talk {number} passage {i}") for i in range(PER_TALK)]
    return library.add_talk(talk, [Segment(0, PER_TALK, "text")], passages, _vectors(number))


def _all_vectors(library: Library) -> tuple[np.ndarray, np.ndarray]:
    rows = library.db.execute("SELECT id, embedding FROM passages ORDER BY id").fetchall()
    return np.array([r[0] for r in rows]), np.vstack([np.frombuffer(r[1], np.float32) for r in rows])


def _saved(tmp_path, policy: VectorPolicy, talks: int) -> tuple[Library, Library]:
    """A writer that added ``talks`` talks and saved the vector index, and a reader of that library."""
    writer = Library.open(tmp_path / "lib", create=True, vector_policy=policy)
    writer.acquire_writer()
    writer.bind_embedding_model("test-model", DIM)
    for number in range(talks):
        _add(writer, number)
    writer.sync_vector_index(save=True)
    return writer, Library.open(tmp_path / "lib", vector_policy=policy)


def _recall(library: Library, queries: np.ndarray) -> float:
    ids, vectors = _all_vectors(library)
    truth = ids[np.argsort(-(queries @ vectors.T), axis=1)[:, :10]]
    found = np.array([[pid for pid, _ in library.search_vectors(q, 10)] for q in queries])
    return recall_at(found, truth)


def _queries(seed: int = 99, n: int = 40) -> np.ndarray:
    return _vectors(seed, n)


@pytest.fixture
def writer(tmp_path):
    library = Library.open(tmp_path / "lib", create=True, vector_policy=POLICY)
    library.acquire_writer()
    library.bind_embedding_model("test-model", DIM)
    yield library
    library.close()


def test_crossing_the_threshold_switches_to_a_trained_index(writer, tmp_path, monkeypatch):
    for number in range(6):  # 300 passages: still exact
        _add(writer, number)
    assert writer.vector_index_info()["factory"] == EXACT
    assert _recall(writer, _queries()) == 1.0

    _add(writer, 6)  # 350 > 300: trained from the catalog
    meta = {k: writer.meta(k) for k in ("index_factory", "index_trained_size", "index_params")}
    assert meta["index_factory"] == "IVF16,SQ8" and meta["index_trained_size"] == "350"
    params = json.loads(meta["index_params"])
    assert params["nprobe"] >= 1 and params["refine"] == 2 and params["tuned_recall_at_10"] >= 0.9
    assert _recall(writer, _queries()) >= 0.9

    # An add below 4x the trained size goes into the trained lists: no retraining.
    builds = []
    real_build = library_module.build
    monkeypatch.setattr(library_module, "build", lambda *a, **k: builds.append(1) or real_build(*a, **k))
    _add(writer, 7)
    assert builds == [] and writer.meta("index_trained_size") == "350"
    newest = _vectors(7)
    hits = writer.search_vectors(newest[3], 1)
    assert writer.passages([hits[0][0]])[hits[0][0]].text == "talk 7 passage 3"
    saved = (tmp_path / "lib" / "vectors.faiss").stat().st_mtime_ns
    writer.close()  # 50 passages (< save_min) in a trained index: not worth rewriting the file for
    assert (tmp_path / "lib" / "vectors.faiss").stat().st_mtime_ns == saved

    # Survives reopening, by a reader (memory-mapped: the last talk taken from the catalog) and by check.
    reader = Library.open(tmp_path / "lib", vector_policy=POLICY)
    info = reader.vector_index_info()
    assert info["factory"] == "IVF16,SQ8" and info["passages"] == 400 and info["unsaved"] == PER_TALK
    hits = reader.search_vectors(newest[3], 1)
    assert reader.passages([hits[0][0]])[hits[0][0]].text == "talk 7 passage 3"
    assert _recall(reader, _queries()) >= 0.9
    reader.close()
    report = check_library(tmp_path / "lib")
    assert report.clean, report.problems
    assert any(f.startswith("vector index IVF16,SQ8 over 350 passages, trained at 350") for f in report.facts)
    assert "vectors.faiss lags the catalog: 50 passages to add, 0 to remove (searched from the catalog meanwhile)" \
        in report.facts


def test_retrains_only_after_fourfold_growth(tmp_path):
    policy = VectorPolicy(exact_max=100, lists_per_sqrt=1.0, min_lists=4, save_min=1000, tune_queries=40)
    with Library.open(tmp_path / "lib", create=True, vector_policy=policy) as writer:
        writer.acquire_writer()
        writer.bind_embedding_model("test-model", DIM)
        sizes = []
        for number in range(10):
            _add(writer, number)
            sizes.append((writer.vector_index_info()["factory"], writer.meta("index_trained_size")))
        # exact (built with the first talk) to 100; trained at 150; kept to 550 (< 4 x 150)
        assert sizes[:3] == [(EXACT, "50"), (EXACT, "50"), ("IVF16,SQ8", "150")]
        assert sizes[3:] == [("IVF16,SQ8", "150")] * 7
        for number in range(10, 12):
            _add(writer, number)
        assert writer.meta("index_trained_size") == "600"  # retrained at 600 (>= 4 x 150): more lists
        assert writer.vector_index_info()["factory"] == "IVF32,SQ8"
        assert _recall(writer, _queries()) >= 0.9


@pytest.mark.parametrize("policy", [POLICY, VectorPolicy(exact_max=10**9, save_min=120)], ids=["ivf", "exact"])
def test_readers_stay_consistent_with_the_catalog(tmp_path, policy):
    writer, reader = _saved(tmp_path, policy, 8)
    assert reader.vector_index_info()["passages"] == 400

    # The writer commits a talk but has not rewritten the file yet: the reader searches it from the catalog.
    added = _add(writer, 8)
    assert writer.vector_index_info()["unsaved"] == PER_TALK
    assert reader.refresh() is True
    hits = reader.search_vectors(_vectors(8)[5], 1)
    assert reader.passages([hits[0][0]])[hits[0][0]].talk_id == added

    # A deleted talk's passages vanish from the reader's results though the file still holds them.
    gone_ids = {r[0] for r in writer.db.execute("SELECT id FROM passages WHERE talk_id = ?", (added,))}
    first = writer.db.execute("SELECT talk_id FROM passages ORDER BY id LIMIT 1").fetchone()[0]
    first_ids = {r[0] for r in writer.db.execute("SELECT id FROM passages WHERE talk_id = ?", (first,))}
    writer.delete_talk(added)
    writer.delete_talk(first)
    assert reader.refresh() is True
    assert reader.vector_index_info()["passages"] == 350
    seen = {pid for q in np.vstack([_vectors(0), _vectors(8)]) for pid, _ in reader.search_vectors(q, 20)}
    assert not seen & (gone_ids | first_ids)
    assert _recall(reader, _queries()) >= 0.9

    # Ids are never given out again, even after the newest talk was deleted.
    _add(writer, 9)
    new_ids = {r[0] for r in writer.db.execute("SELECT id FROM passages WHERE talk_id = ?", (Talk(
        extractor="Generic", source_id="t9", url="", title="").id,))}
    assert not new_ids & gone_ids
    writer.sync_vector_index(save=True)
    writer.close()
    assert reader.refresh() is True  # the writer's save: the reader maps the new file
    assert reader.vector_index_info()["unsaved"] == 0 and reader.vector_index_info()["passages"] == 400
    reader.close()


def test_an_old_exact_library_keeps_opening_and_is_retrained_by_a_writer(tmp_path):
    # Written with the old defaults: every passage in one exact IDMap2,Flat index, whatever the size.
    old = VectorPolicy(exact_max=10**9)
    with Library.open(tmp_path / "lib", create=True, vector_policy=old) as writer:
        writer.acquire_writer()
        writer.bind_embedding_model("test-model", DIM)
        for number in range(8):
            _add(writer, number)
    reader = Library.open(tmp_path / "lib", vector_policy=POLICY)
    assert reader.vector_index_info()["factory"] == EXACT
    assert _recall(reader, _queries()) == 1.0
    reader.close()
    with Library.open(tmp_path / "lib", vector_policy=POLICY) as writer:
        writer.acquire_writer()
        writer.sync_vector_index(save=True)  # what `talksearch index` does on opening
        assert writer.meta("index_factory") == "IVF16,SQ8"
    assert check_library(tmp_path / "lib").clean


def test_keyword_search_leaves_out_the_commonest_words_only_in_a_large_library(writer):
    for number in range(8):  # 400 passages: "talk" and "passage" in all of them, "7" in 57 (talk 7, passages 7)
        _add(writer, number)
    writer.sync_vector_index()
    words = ["talk", "7", "passage", "7"]
    assert writer.selective_terms(words, budget=400) == words  # no more passages than the budget: all kept
    assert writer.selective_terms(words, budget=100) == ["7", "7"]  # 50 + 50 rows fit; "talk" (400) does not
    assert writer.selective_terms(["nowhere"], budget=100) == []
    # a word counted only as "more than" a smaller budget is counted again for a larger one (a deeper search's):
    # "3" is in 57 passages, not the 21 a budget of 20 counted to
    assert writer.selective_terms(["3"], budget=20) == [] and writer.selective_terms(["3"], budget=50) == []
    assert writer.selective_terms(["3"], budget=60) == ["3"]

    # Snippets are marked in a scratch table holding just the hits: the same as FTS5 over the whole library.
    ids = [r[0] for r in writer.db.execute("SELECT id FROM passages ORDER BY id LIMIT 5")]
    match = '"passage" OR "talk"'
    texts = writer.db.execute(f"SELECT id, text FROM passages WHERE id IN ({','.join('?' * len(ids))})", ids)
    ours = writer.snippets(texts.fetchall(), "passage talk", ("[", "]"))
    theirs = dict(writer.db.execute(
        "SELECT rowid, snippet(passages_fts, 0, '[', ']', '…', 64) FROM passages_fts "
        f"WHERE passages_fts MATCH ? AND rowid IN ({','.join('?' * len(ids))})", [match, *ids]))
    assert ours == theirs and len(ours) == 5 and "[passage]" in ours[ids[0]]


def test_retuning_keeps_the_lists_and_records_the_new_parameters(writer, tmp_path):
    for number in range(8):
        _add(writer, number)
    before = json.loads(writer.meta("index_params"))
    strict = VectorPolicy(**{**POLICY.__dict__, "target_recall": 1.01})  # unreachable: the best nprobe tried
    writer.vector_policy = strict
    info = writer.retune_vector_index()
    assert info["factory"] == "IVF16,SQ8" and info["trained_size"] == 350  # not retrained
    assert info["nprobe"] >= before["nprobe"] and writer.meta("index_trained_size") == "350"
    reader = Library.open(tmp_path / "lib", vector_policy=POLICY)
    assert json.loads(reader.meta("index_params"))["nprobe"] == info["nprobe"]
    assert _recall(reader, _queries()) >= 0.95
    reader.close()


def _cone(n: int, lean: float, spread: float) -> np.ndarray:
    """Unit vectors that share one direction besides their topic: a narrow cone when ``lean`` is large, as
    multilingual-e5-small's vectors are (their mean has a norm of 0.94)."""
    rng = np.random.default_rng(1)
    x = lean * np.ones(DIM, np.float32) / np.sqrt(DIM) + _CENTRES[rng.integers(0, len(_CENTRES), n)]
    x += spread * rng.standard_normal((n, DIM)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _built(vectors: np.ndarray, **policy) -> IndexInfo:
    """What ``build`` makes of these vectors (the index type and its tuning)."""
    ids = np.arange(len(vectors), dtype=np.int64)
    return build(DIM, len(vectors), VectorPolicy(exact_max=1000, tune_queries=100, **policy),
                 lambda: iter([(ids, vectors)]),
                 lambda count: vectors[np.random.default_rng(0).choice(len(vectors), count, replace=False)])[1]


def test_codes_too_coarse_for_the_target_recall_are_widened_to_16_bits():
    info = _built(_cone(8000, lean=16, spread=0.6), target_recall=0.99)  # SQ8: 0.987 at best (96 lists)
    assert info.factory == "IVF128,SQfp16" and info.tuned_recall_at_10 >= 0.99 and info.nprobe <= 32
    info = _built(_cone(8000, lean=0, spread=0.6))  # SQ8 reaches 0.96 with a few lists: kept
    assert info.factory == "IVF128,SQ8" and info.nprobe <= 128 // 8


# --- searching within a few talks (a filter) -------------------------------------------------------


@pytest.mark.parametrize("exact_within", [2_000, 0], ids=["scored-exactly", "through-the-index"])
def test_a_search_within_a_few_talks_finds_their_nearest_passages(tmp_path, exact_within):
    policy = VectorPolicy(exact_max=300, lists_per_sqrt=1.0, min_lists=4, save_min=120, tune_queries=60,
                          target_recall=0.95, exact_within=exact_within)
    with Library.open(tmp_path / "lib", create=True, vector_policy=policy) as writer:
        writer.acquire_writer()
        writer.bind_embedding_model("test-model", DIM)
        talks = [_add(writer, number) for number in range(16)]  # 800 passages: a trained index
        writer.sync_vector_index(save=True)
        _add(writer, 16)  # and one the reader takes from the catalog
    reader = Library.open(tmp_path / "lib", vector_policy=policy)
    assert reader.vector_index_info()["factory"].startswith("IVF") and reader.vector_index_info()["unsaved"] == PER_TALK
    chosen = {talks[3], talks[11], Talk(extractor="Generic", source_id="t16", url="", title="").id}
    scope = reader.search_scope(chosen)
    assert scope is not None and len(scope.passage_ids) == 3 * PER_TALK
    ids, vectors = reader._lookup(scope.passage_ids)
    found, truth = [], []
    for query in _vectors(5, 20):  # another talk's topics: the library's nearest are mostly not in the scope
        hits = reader.search_vectors(query, 10, scope)
        assert {reader.passages([pid])[pid].talk_id for pid, _ in hits} <= chosen
        found.append([pid for pid, _ in hits])
        truth.append(ids[np.argsort(-(vectors @ query))[:10]].tolist())
    assert recall_at(np.array(found), np.array(truth)) >= 0.95
    assert reader.search_scope(talks) is None  # most of the library: searched whole, then filtered
    with Library.open(tmp_path / "lib", vector_policy=policy) as writer:  # a talk of the scope deleted meanwhile
        writer.acquire_writer()
        writer.delete_talk(talks[3])
    reader.refresh()
    assert len(reader.search_scope(chosen).passage_ids) == 2 * PER_TALK  # the scope is not kept past a change
    reader.close()


def test_ranking_within_a_talk_and_deeper_than_the_first_candidates(tmp_path):
    from talksearch.search.ranking import RankingOptions, rank

    with Library.open(tmp_path / "lib", create=True, vector_policy=POLICY) as writer:
        writer.acquire_writer()
        writer.bind_embedding_model("test-model", DIM)
        talks = [_add(writer, number) for number in range(12)]
    library = Library.open(tmp_path / "lib", vector_policy=POLICY)
    query = _vectors(0)[7]  # talk 0's passage: the best 10 of the library are talk 0's and its topic's
    options = RankingOptions(candidates=10, sound_weight=0, snap=False, token_candidates=0)
    # Filtered to a talk on other topics, a search still gives that talk's best moments ...
    within = rank(library, "passage", query, 10, options, talks={talks[9]})
    assert len(within) == 10 and {hit.talk_id for hit, _ in within} == {talks[9]}
    # ... and a page deeper than what the first candidates hold is filled from more of them,
    deep = rank(library, "passage", query, 35, options)
    assert len(deep) == 35 and len({hit.passage_id for hit, _ in deep}) == 35
    # without reordering what a shallower page showed: walking the pages shows each moment once, in order.
    walked = [hit.passage_id for offset in range(0, 60, 5)
              for hit, _ in rank(library, "passage", query, offset + 6, options)[offset:offset + 5]]
    assert walked == [hit.passage_id for hit, _ in rank(library, "passage", query, 60, options)]
    # One result per talk: as many talks as asked for, though their moments are more than the first candidates.
    grouped = rank(library, "passage", query, 11, options, distinct_talks=True)
    assert len({hit.talk_id for hit, _ in grouped}) >= 11
    library.close()


def test_a_reader_whose_catch_up_failed_tries_again(tmp_path, monkeypatch):
    """A reader marked the library's change as seen before it caught up: when the catch-up raised (a file being
    replaced, memory), every later refresh said nothing changed and it searched without the new talk until the
    next commit (a concurrency review)."""
    writer, reader = _saved(tmp_path, POLICY, 1)
    assert reader.vector_index_info()["passages"] == PER_TALK
    added = _add(writer, 1)
    caught_up = library_module.VectorSync._caught_up

    def failing(self, vectors):
        raise MemoryError("the catch-up failed")

    monkeypatch.setattr(library_module.VectorSync, "_caught_up", failing)
    with pytest.raises(MemoryError):
        reader.refresh()
    monkeypatch.setattr(library_module.VectorSync, "_caught_up", caught_up)
    assert reader.refresh() is True
    hits = reader.search_vectors(_vectors(1)[5], 1)
    assert reader.passages([hits[0][0]])[hits[0][0]].talk_id == added


def test_readers_share_an_exact_index_files_pages(tmp_path):
    """Readers memory-map the saved index, an exact (flat) one too: read whole into memory, each reader held a copy
    of its own (6 KB a passage at the default width: gigabytes for a 50,000-passage library on eight readers; a
    soak hunt found no map of vectors.faiss in the server)."""
    writer, reader = _saved(tmp_path, POLICY, 3)
    assert writer.vector_index_info()["factory"] == EXACT
    hits = reader.search_vectors(_vectors(2)[7], 1)
    assert reader.passages([hits[0][0]])[hits[0][0]].text == "talk 2 passage 7"
    mapped = [line for line in open("/proc/self/maps") if line.rstrip().endswith(str(tmp_path / "lib" / "vectors.faiss"))]
    assert mapped, "the reader's index is not mapped from the file"
    # and a talk added since is still found (the reader's catch-up goes beside the mapped index, never into it)
    added = _add(writer, 3)
    assert reader.refresh() is True
    hits = reader.search_vectors(_vectors(3)[4], 1)
    assert reader.passages([hits[0][0]])[hits[0][0]].talk_id == added


def test_a_deep_search_reaches_as_far_as_it_asks(tmp_path, monkeypatch):
    """Paging far down a common word's moments (a large-library hunt: "scheduler" said in 1,238 of 1,500 talks
    listed 151, then next_offset null): the IVF index probed its tuned few lists whatever the depth asked, and
    keyword search left out every word in more passages than its budget at every depth, so both came back short
    and ranking took the moments for run out. A deeper search probes more lists, and scores more keyword rows."""
    writer, reader = _saved(tmp_path, POLICY, 8)  # 400 passages, IVF
    info = reader.vector_index_info()
    assert info["factory"] == "IVF16,SQ8" and info["nprobe"] < 16
    assert len(reader.search_vectors(_queries()[0], 400)) == 400
    monkeypatch.setattr("talksearch.library.keyword_index.KEYWORD_ROW_BUDGET", 100)
    assert reader.keyword_search("talk", 10) == []  # "talk" is in all 400: left out of a shallow search
    assert len(reader.keyword_search("talk", 400)) == 400
    writer.close()
    reader.close()

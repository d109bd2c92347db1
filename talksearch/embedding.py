"""Text embeddings for passages (indexer) and queries (service), from one loaded model."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from talksearch.models import load_embedder, resolve


class Embedder:
    def __init__(self, name: str, device: str = "auto", threads: int = 0):
        self.name = resolve("embedding", name).name  # what the library records
        self.model = load_embedder(name, device, threads)
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dimension = int(dimension())
        self.query = lru_cache(maxsize=4096)(self._query)  # repeated queries skip the model
        # Whole words of the model's tokenizer: ordinary language, unlike the jargon that ASR mangles.
        tokenizer = getattr(self.model, "tokenizer", None)
        vocabulary = tokenizer.get_vocab() if tokenizer is not None and hasattr(tokenizer, "get_vocab") else {}
        self.common_words = frozenset(w.lower() for w in vocabulary if w.isalpha() and len(w) > 1)

    def passages(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        return self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False).astype(np.float32)

    def _query(self, text: str) -> np.ndarray:
        vector = self.model.encode([text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        vector = vector[0].astype(np.float32)
        vector.setflags(write=False)  # cached: shared between callers
        return vector

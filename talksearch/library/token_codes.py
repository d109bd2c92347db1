"""How a sentence's word vectors are stored (``passages.token_vectors``, format 6), and compared.

The embedding model's contextual vector of each meaningful word piece of a sentence passage (no function words,
no punctuation: ``talksearch.text.meaningful_tokens``), as the indexer's embedding pass computed them anyway,
kept so that search can compare a query with its best candidates word by word without running the model over
them (``talksearch.search.ranking.token_match``).

Each vector is kept as the signs of its components, one bit each (48 bytes for MiniLM's 384 dimensions, a
32nd of float32): the share of differing signs estimates the angle between two vectors (random-hyperplane
hashing), hence their cosine. On the tune half and the dev set, ranking with these estimates found the same
first results as with 8-bit vectors, at an eighth of the size (docs/benchmarks.md).
"""

from __future__ import annotations

import numpy as np


def signs(vectors: np.ndarray) -> np.ndarray:
    """Vectors as the ±1 signs of their components (float32, for matrix products)."""
    return np.where(np.asarray(vectors) > 0, 1.0, -1.0).astype(np.float32)


def pack(vectors: np.ndarray) -> bytes:
    return np.packbits(np.asarray(vectors) > 0, axis=1).tobytes()


def unpack(blob: bytes, dimension: int) -> np.ndarray:
    """The stored rows as ±1 signs (``dimension``: the library's embedding size)."""
    bits = np.unpackbits(np.frombuffer(blob, dtype=np.uint8).reshape(-1, (dimension + 7) // 8), axis=1)
    return (2.0 * bits[:, :dimension] - 1.0).astype(np.float32)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Estimated cosines between the rows of two sign matrices: vectors at angle θ disagree in a share θ/π of
    their signs, so agreement x = 1 - 2θ/π gives cos θ = sin(πx/2)."""
    return np.sin(np.pi / 2 * (a @ b.T) / a.shape[1])

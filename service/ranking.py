"""Ranking: which passages answer a query, best first.

Dense (FAISS) and keyword (SQLite FTS5, BM25) candidates fused by reciprocal rank, then overlapping
windows of one moment collapsed into one result. ``service.search`` wraps this with validation,
filters and the response shape; this module is where retrieval quality is tuned (bench/quality.py).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from talksearch.library import Library, PassageHit

_TOKEN = re.compile(r"\w+", re.UNICODE)
_PHRASE = re.compile(r'"([^"]+)"')


@dataclass
class RankingOptions:
    candidates: int = 50  # taken from each retriever before fusion
    rrf_k: int = 60
    dense_weight: float = 1.0
    keyword_weight: float = 0.5


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression that searches the user's words literally.

    Every bare word becomes a quoted token OR-ed with the others (BM25 ranks the ones matching more);
    "quoted phrases" must match exactly. FTS5 operators typed by the user are never interpreted.
    """
    phrases = [" ".join(_TOKEN.findall(p)) for p in _PHRASE.findall(text)]
    words = _TOKEN.findall(_PHRASE.sub(" ", text))
    terms = [f'"{w}"' for w in words]
    required = [f'"{p}"' for p in phrases if p]
    if not terms and not required:
        return None
    if required:
        return " AND ".join(required + ([f"({' OR '.join(terms)})"] if terms else []))
    return " OR ".join(terms)


def _overlaps(a: PassageHit, b: PassageHit) -> bool:
    return a.talk_id == b.talk_id and a.start < b.end and b.start < a.end


def _keyword(library: Library, text: str, k: int) -> list[int]:
    match = fts_query(text)
    if match is None:
        return []
    rows = library.db.execute(
        "SELECT rowid FROM passages_fts WHERE passages_fts MATCH ? ORDER BY bm25(passages_fts) LIMIT ?", (match, k)
    )
    return [r[0] for r in rows]


def rank(library: Library, text: str, vector: np.ndarray, limit: int, options: RankingOptions,
         talks: Collection[str] | None = None) -> list[tuple[PassageHit, float]]:
    """The best ``limit`` moments for a query, optionally only from the talks in ``talks``."""
    o = options
    fused: dict[int, float] = {}
    for rank_, (pid, _) in enumerate(library.search_vectors(vector, o.candidates)):
        fused[pid] = fused.get(pid, 0.0) + o.dense_weight / (o.rrf_k + rank_ + 1)
    for rank_, pid in enumerate(_keyword(library, text, o.candidates)):
        fused[pid] = fused.get(pid, 0.0) + o.keyword_weight / (o.rrf_k + rank_ + 1)
    passages = library.passages(fused)
    chosen: list[tuple[PassageHit, float]] = []
    for pid in sorted(fused, key=fused.get, reverse=True):
        hit = passages.get(pid)
        if hit is None or (talks is not None and hit.talk_id not in talks):
            continue
        # Overlapping windows of one moment are one result: the best-ranked one stands for it.
        if any(_overlaps(hit, c) for c, _ in chosen):
            continue
        chosen.append((hit, fused[pid]))
        if len(chosen) == limit:
            break
    return chosen

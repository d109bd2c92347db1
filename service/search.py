"""Search over a library: dense (FAISS) and keyword (SQLite FTS5, BM25) results fused by reciprocal rank.

Used by the HTTP API and by ``talksearch search``, so both answer the same query the same way.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

from service.schemas import SearchResponse, SearchResult, TalkSummary
from talksearch.embedding import Embedder
from talksearch.library import Library, PassageHit

_TOKEN = re.compile(r"\w+", re.UNICODE)
_PHRASE = re.compile(r'"([^"]+)"')


class QueryError(ValueError):
    """The query cannot be searched; the message is meant for the user."""


@dataclass
class SearchOptions:
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
    rest = _PHRASE.sub(" ", text)
    words = _TOKEN.findall(rest)
    terms = [f'"{w}"' for w in words]
    required = [f'"{p}"' for p in phrases if p]
    if not terms and not required:
        return None
    if required:
        return " AND ".join(required + ([f"({' OR '.join(terms)})"] if terms else []))
    return " OR ".join(terms)


def link_at(talk: dict, seconds: float) -> str:
    """A URL that plays the talk's source at ``seconds``."""
    t = int(seconds)
    if talk["extractor"].lower() == "youtube":
        return f"https://www.youtube.com/watch?v={talk['source_id']}&t={t}s"
    base = (talk.get("media_url") or talk["url"]).split("#", 1)[0]
    return f"{base}#t={t}"


def talk_summary(talk: dict) -> TalkSummary:
    return TalkSummary(**{k: talk.get(k) for k in TalkSummary.model_fields})


def _overlaps(a: PassageHit, b: PassageHit) -> bool:
    return a.talk_id == b.talk_id and a.start < b.end and b.start < a.end


class Searcher:
    def __init__(self, library: Library, embedder: Embedder, options: SearchOptions | None = None,
                 max_query_chars: int = 500):
        self.library = library
        self.embedder = embedder
        self.options = options or SearchOptions()
        self.max_query_chars = max_query_chars
        self._lock = threading.Lock()  # one SQLite connection and FAISS index, shared by request threads

    def search(self, query: str, limit: int = 10) -> SearchResponse:
        started = time.perf_counter()
        text = query.strip()
        if not text:
            raise QueryError("the query is empty")
        if len(text) > self.max_query_chars:
            raise QueryError(f"the query is longer than {self.max_query_chars} characters")
        vector = self.embedder.query(text)
        with self._lock:
            self.library.refresh()  # talks committed since the last search become visible, whole
            hits = self._ranked(text, vector, limit)
            talks = self.library.talks_by_id(h.talk_id for h, _ in hits)
        results = [
            SearchResult(talk=talk_summary(talks[h.talk_id]), start=round(h.start, 2), end=round(h.end, 2),
                         text=h.text, score=round(score, 5), link=link_at(talks[h.talk_id], h.start))
            for h, score in hits
        ]
        return SearchResponse(query=query, took_ms=round((time.perf_counter() - started) * 1000, 2), results=results)

    def _keyword(self, text: str, k: int) -> list[int]:
        match = fts_query(text)
        if match is None:
            return []
        rows = self.library.db.execute(
            "SELECT rowid FROM passages_fts WHERE passages_fts MATCH ? ORDER BY bm25(passages_fts) LIMIT ?", (match, k)
        )
        return [r[0] for r in rows]

    def _ranked(self, text: str, vector, limit: int) -> list[tuple[PassageHit, float]]:
        o = self.options
        fused: dict[int, float] = {}
        for rank, (pid, _) in enumerate(self.library.search_vectors(vector, o.candidates)):
            fused[pid] = fused.get(pid, 0.0) + o.dense_weight / (o.rrf_k + rank + 1)
        for rank, pid in enumerate(self._keyword(text, o.candidates)):
            fused[pid] = fused.get(pid, 0.0) + o.keyword_weight / (o.rrf_k + rank + 1)
        passages = self.library.passages(fused)
        chosen: list[tuple[PassageHit, float]] = []
        for pid in sorted(fused, key=fused.get, reverse=True):
            hit = passages.get(pid)
            # Overlapping windows of one moment are one result: the best-ranked one stands for it.
            if hit is None or any(_overlaps(hit, c) for c, _ in chosen):
                continue
            chosen.append((hit, fused[pid]))
            if len(chosen) == limit:
                break
        return chosen

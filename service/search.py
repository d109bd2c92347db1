"""Search over a library, as the HTTP API and ``talksearch search`` answer it (same code, same answer)."""

from __future__ import annotations

import threading
import time

from service.ranking import RankingOptions, rank
from service.schemas import SearchResponse, SearchResult, TalkSummary
from talksearch.embedding import Embedder
from talksearch.library import Library


class QueryError(ValueError):
    """The query cannot be searched; the message is meant for the user."""


def link_at(talk: dict, seconds: float) -> str:
    """A URL that plays the talk's source at ``seconds``."""
    t = int(seconds)
    if talk["extractor"].lower() == "youtube":
        return f"https://www.youtube.com/watch?v={talk['source_id']}&t={t}s"
    base = (talk.get("media_url") or talk["url"]).split("#", 1)[0]
    return f"{base}#t={t}"


def talk_summary(talk: dict) -> TalkSummary:
    return TalkSummary(**{k: talk.get(k) for k in TalkSummary.model_fields})


class Searcher:
    def __init__(self, library: Library, embedder: Embedder, options: RankingOptions | None = None,
                 max_query_chars: int = 500):
        self.library = library
        self.embedder = embedder
        self.options = options or RankingOptions()
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
            hits = rank(self.library, text, vector, limit, self.options)
            talks = self.library.talks_by_id(h.talk_id for h, _ in hits)
        results = [
            SearchResult(talk=talk_summary(talks[h.talk_id]), start=round(h.start, 2), end=round(h.end, 2),
                         text=h.text, score=round(score, 5), link=link_at(talks[h.talk_id], h.start))
            for h, score in hits
        ]
        return SearchResponse(query=query, took_ms=round((time.perf_counter() - started) * 1000, 2), results=results)

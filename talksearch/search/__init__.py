"""Search logic over a library, without HTTP: ranking (which moments answer a query), snippets (the query's
words marked in a passage) and the Searcher (validation, filters, paging, the response shape), used alike
by the service, the CLI and the benchmarks. Nothing here imports FastAPI."""

from talksearch.search.searcher import NotFound, QueryError, Searcher, open_searcher

__all__ = ["NotFound", "QueryError", "Searcher", "open_searcher"]

"""Prometheus metrics: requests and latency per route, the library's size and the process's resources
(``GET /metrics``)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from talksearch.service.rendering import route_path

# Searches take milliseconds to a second or two on CPU; media streams can take much longer.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST

# No ``*_created`` series: a creation timestamp beside every counter and histogram series (per route and status),
# which doubled what a scraper stores and that Prometheus's text format does not need. prometheus_client has this
# for the whole process only, not per registry; the service exposes no other.
disable_created_metrics()


class Metrics:
    def __init__(self) -> None:
        # A registry per app, not the process-global one, so several apps can live in one process (tests).
        self.registry = CollectorRegistry()
        self.requests = Counter("talksearch_requests", "HTTP requests answered.", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("talksearch_request_duration_seconds", "Time to answer an HTTP request.",
                                 ["route"], buckets=_BUCKETS, registry=self.registry)
        self.talks = Gauge("talksearch_talks", "Talks in the library.", registry=self.registry)
        self.passages = Gauge("talksearch_passages", "Searchable passages in the library.", registry=self.registry)
        self.jobs = Gauge("talksearch_index_jobs", "Indexing jobs by status.", ["status"], registry=self.registry)
        # Answered 400 by the server before the app saw them, so not in talksearch_requests (service/errors.py)
        self.unreadable = Counter("talksearch_unreadable_requests", "Requests that could not be read as HTTP "
                                  "(malformed, or a URL or headers too long).", registry=self.registry)
        # The process's memory, open files, CPU time (Linux), and Python's version
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def exposition(self, talks: int, passages: int, jobs: dict[str, int]) -> bytes:
        self.talks.set(talks)
        self.passages.set(passages)
        for status, count in jobs.items():
            self.jobs.labels(status).set(count)
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts every HTTP request by its route template (``/api/talks/{talk_id}``, not each id), so the
    number of series stays bounded whatever clients ask for. A request refused before routing (429) is
    named by its path, which is one of the few the rate limit counts; ``routes`` (the app's) name those that
    plain routes answer (``/mcp``), which leave no route in the scope as FastAPI's do, those a route refuses for
    their method (405) and those a mount serves (``/static-offline-docs/{path}``, /docs' scripts); only a path no
    route has is "unmatched"."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    def _matching(self, scope: Scope) -> BaseRoute | None:
        """The route a request is for, matched before the app runs (a mount then rewrites the scope's paths): a plain
        route's, a wrong method's (405: a partial match) or a mount's (/docs' scripts)."""
        return next((r for r in self.routes if getattr(r, "path", None) and r.matches(scope)[0] != Match.NONE), None)

    def _template(self, scope: Scope, status: int, matching: BaseRoute | None) -> str:
        route = scope.get("route")
        if route is None and status == 429:
            return route_path(scope)  # without the root_path, as the routes are named
        route = route or matching
        if isinstance(route, Mount):  # one series for all it serves
            return f"{route.path}/{{path}}"
        return getattr(route, "path", None) or "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        matching = self._matching(scope)

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.observe(scope["method"], self._template(scope, status, matching), status,
                                 time.perf_counter() - started)

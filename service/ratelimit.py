"""Per-client rate limiting of searches: a token bucket per client address.

Each client (its IP address, as uvicorn reports it: behind a reverse proxy on the same host, uvicorn takes
it from ``X-Forwarded-For``) may make ``rate_limit_per_minute`` searches in a burst, and then that many per
minute, refilled continuously. Over it, the answer is 429 in the service's one error shape with a
``Retry-After`` header (whole seconds until a search is allowed again). Only the routes that run a query
(embedding and ranking: the expensive ones) are counted; pages, talks, transcripts and media are not.
``rate_limit_per_minute = 0`` turns the limit off. ``/mcp`` spends its token itself (assistant.py), once it has
read the JSON-RPC message: only a request costs one (a notification runs no search), and its refusal is a
JSON-RPC error, the form an MCP client shows its user.

The buckets live in this process (one uvicorn worker); the least recently seen clients are forgotten
beyond ``max_clients``, so memory stays bounded whoever calls.
"""

from __future__ import annotations

import functools
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from talksearch.service.errors import error_response
from talksearch.service.rendering import route_path

# Paths whose requests run a search (the embedding model and ranking); the pages only when they carry a query.
LIMITED_PATHS = frozenset({"/api/search", "/api/related", "/api/search.atom"})
QUERY_PAGES = frozenset({"/", "/results", "/embed"})
# Every MCP request counts; the endpoint reads the JSON-RPC body and spends the token with SPEND_KEY's function.
MCP_PATH = "/mcp"
SPEND_KEY = "talksearch.rate_limit"  # in an /mcp request's ASGI scope while the limit is on


def _searches(scope: Scope) -> bool:
    if scope["method"] == "OPTIONS":  # CORS preflights cost nothing
        return False
    path = route_path(scope)  # behind a path prefix (root_path) too
    if path in LIMITED_PATHS or (path == MCP_PATH and scope["method"] == "POST"):
        return True
    return path in QUERY_PAGES and any(
        value.strip() for value in parse_qs(scope.get("query_string", b"").decode("latin-1")).get("q", []))


class TokenBuckets:
    """``capacity`` tokens per client, refilled at ``capacity`` per minute; ``take`` spends one."""

    def __init__(self, per_minute: int, max_clients: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, when)

    def take(self, client: str) -> float:
        """Spend a token: 0.0 when allowed, else the seconds until one is available."""
        now = self.clock()
        tokens, when = self._buckets.pop(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - when) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[client] = (tokens, now)  # most recently seen last
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


class RateLimitMiddleware:
    """ASGI middleware: searches over a client's budget get 429 + Retry-After before any work is done."""

    def __init__(self, app: ASGIApp, per_minute: int, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.buckets = TokenBuckets(per_minute, max_clients, clock) if per_minute > 0 else None

    def refusal(self, scope: Scope) -> tuple[str, dict[str, str]] | None:
        """Spends a token of the client's: None when it had one, else the refusal's message and headers."""
        client = scope.get("client")
        wait = self.buckets.take(client[0] if client else "unknown")
        if not wait:
            return None
        retry_after = max(1, math.ceil(wait))
        per_minute = int(self.buckets.capacity)
        return (f"too many searches from this address (at most {per_minute} a minute); try again in {retry_after} s",
                {"Retry-After": str(retry_after)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.buckets is None or scope["type"] != "http" or not _searches(scope):
            await self.app(scope, receive, send)
            return
        if route_path(scope) == MCP_PATH:
            scope[SPEND_KEY] = functools.partial(self.refusal, scope)  # the endpoint answers its refusal
            await self.app(scope, receive, send)
            return
        refused = self.refusal(scope)
        if refused is None:
            await self.app(scope, receive, send)
            return
        message, headers = refused
        response = error_response(429, "rate_limited", message, headers=headers, request=Request(scope))
        await response(scope, receive, send)

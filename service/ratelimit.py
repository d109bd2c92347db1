"""Per-client rate limiting of searches: a token bucket per client, and a cap on its searches in progress.

Each client (its IP address, as uvicorn reports it: behind a reverse proxy on the same host, uvicorn takes
it from ``X-Forwarded-For``; an IPv6 address's /64, which one subscriber's machines share and any of them can pick
addresses from) may make ``rate_limit_per_minute`` searches in a burst, and then that many per minute, refilled
continuously; and have at most ``rate_limit_in_progress`` of them running at once (the bucket counts requests,
not their cost: a burst of costly queries sent together held every reader, and /healthz, for tens of seconds).
Over either, the answer is 429 in the service's one error shape with a ``Retry-After`` header (whole seconds
until a search is allowed again). Only the routes that run a query
(embedding and ranking: the expensive ones) are counted; pages, talks, transcripts and media are not.
``rate_limit_per_minute = 0`` turns the limit off. ``/mcp`` spends its token itself (assistant.py), once it has
read the JSON-RPC message: only a request costs one (a notification runs no search), and its refusal is a
JSON-RPC error, the form an MCP client shows its user.

The buckets and counts live in this process (one uvicorn worker); the least recently seen clients' buckets are
forgotten beyond ``max_clients``, and a count goes when it is back to nought, so memory stays bounded whoever
calls.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import time
from collections import Counter, OrderedDict
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


def client_key(scope: Scope) -> str:
    """Who a request counts against: its client's IPv4 address (an IPv4-mapped IPv6 one too), an IPv6 address's
    /64 network, or what the server reports (a Unix socket's peer) as it is."""
    client = scope.get("client")
    host = client[0] if client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))  # a scope id (%eth0) dropped with it
    return host


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
    """ASGI middleware: searches over a client's budget, or past its searches in progress, get 429 + Retry-After
    before any work is done."""

    def __init__(self, app: ASGIApp, per_minute: int, in_progress: int = 0, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.buckets = TokenBuckets(per_minute, max_clients, clock) if per_minute > 0 else None
        self.most_in_progress = in_progress  # 0: no cap
        self.in_progress: Counter[str] = Counter()  # client -> its searches running now, this one included

    def refusal(self, client: str) -> tuple[str, dict[str, str]] | None:
        """None when the client may search now (spending a token of its own), else the refusal's message and
        headers. A search refused for those in progress spends no token: it is asked again a second later."""
        if self.most_in_progress and self.in_progress[client] > self.most_in_progress:
            return (f"too many searches in progress from this address (at most {self.most_in_progress} at once); "
                    "try again in 1 s", {"Retry-After": "1"})
        wait = self.buckets.take(client) if self.buckets is not None else 0.0
        if not wait:
            return None
        retry_after = max(1, math.ceil(wait))
        per_minute = int(self.buckets.capacity)
        return (f"too many searches from this address (at most {per_minute} a minute); try again in {retry_after} s",
                {"Retry-After": str(retry_after)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limited = self.buckets is not None or self.most_in_progress
        if not limited or scope["type"] != "http" or not _searches(scope):
            await self.app(scope, receive, send)
            return
        client = client_key(scope)
        self.in_progress[client] += 1  # counted until its answer is sent, refused or not
        try:
            if route_path(scope) == MCP_PATH:
                scope[SPEND_KEY] = functools.partial(self.refusal, client)  # the endpoint answers its refusal
                await self.app(scope, receive, send)
                return
            refused = self.refusal(client)
            if refused is None:
                await self.app(scope, receive, send)
                return
            message, headers = refused
            response = error_response(429, "rate_limited", message, headers=headers, request=Request(scope))
            await response(scope, receive, send)
        finally:
            self.in_progress[client] -= 1
            if not self.in_progress[client]:
                del self.in_progress[client]

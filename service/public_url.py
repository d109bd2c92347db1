"""The service's absolute links on its public address (the ``public_url`` setting), whatever a request says.

Starlette makes an absolute URL (``request.base_url``, ``url_for``, the router's trailing-slash redirect) from the
request's scheme and ``Host`` header, and uvicorn takes the scheme from a trusted proxy's ``X-Forwarded-Proto``.
Behind a proxy that does not pass ``Host`` on, every link named the proxy's upstream (``http://127.0.0.1:8000``);
behind one that does, any client's ``Host`` was written into feeds, oEmbed and MCP answers, which a shared cache
then handed to everyone. So the request's scope is given the public scheme and host before any route reads it,
and every link follows (the path prefix is the ``root_path``, which uvicorn puts in the scope).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

_DEFAULT_PORTS = {"http": 80, "https": 443}


class PublicURLMiddleware:
    """Each HTTP request as if asked at ``public_url`` (scheme, ``Host`` and server; its path is the root_path)."""

    def __init__(self, app: ASGIApp, public_url: str) -> None:
        parts = urlsplit(public_url)
        self.app = app
        self.scheme = parts.scheme
        self.host = parts.netloc.encode("ascii")  # the setting holds an ASCII host (punycode)
        self.server = (parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [(name, value) for name, value in scope["headers"] if name != b"host"]
            scope = {**scope, "scheme": self.scheme, "server": self.server,
                     "headers": [*headers, (b"host", self.host)]}
        await self.app(scope, receive, send)

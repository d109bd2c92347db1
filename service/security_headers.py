"""The headers every answer carries unless its route chose its own: the pages show what third-party feeds and pages
wrote (titles, descriptions, transcripts), so the browser is told not to guess types, not to let other sites frame
them (clickjacking), and not to take a ``<base>`` or a plugin from them, should an escaping bug ever let one in.

A route that sets its own Content-Security-Policy decides its own framing: the embeds are made to be framed where
the operator says (``embed_frame_ancestors``), and /media's policy is a sandbox. X-Frame-Options is added only
where the policy here is (a browser that knows ``frame-ancestors`` ignores it; older ones read it alone).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

POLICY = "frame-ancestors 'self'; object-src 'none'; base-uri 'self'"
ALWAYS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "strict-origin-when-cross-origin"}


def default_headers(noindex: bool) -> dict[str, str]:
    """What an answer whose route chose no policy of its own carries: also the answers the HTTP protocol writes
    itself, before the app (``errors.http_protocol``)."""
    return {**ALWAYS, **({"X-Robots-Tag": "noindex"} if noindex else {}),
            "Content-Security-Policy": POLICY, "X-Frame-Options": "SAMEORIGIN"}


class SecurityHeaders:
    """``noindex`` (the ``crawlable`` setting off): every answer also says ``X-Robots-Tag: noindex``, what a search
    engine honours where a page has no <meta> of its own (the embeds, the widget's page, JSON, recordings)."""

    def __init__(self, app: ASGIApp, noindex: bool = False) -> None:
        self.app = app
        self.always = {**ALWAYS, "X-Robots-Tag": "noindex"} if noindex else ALWAYS
        self.policy = {name: value for name, value in default_headers(noindex).items() if name not in self.always}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.always.items():
                    headers.setdefault(name, value)
                if "content-security-policy" not in headers:
                    headers.update(self.policy)
            await send(message)

        await self.app(scope, receive, send_with_headers)

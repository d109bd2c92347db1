"""Server-rendered pages (Jinja2 templates in ``service/templates``; CSS and JS inlined, nothing external)."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape

from talksearch import __version__
from talksearch.library.records import CHAPTER_LEAD
from talksearch.timecode import clock, url_seconds


def web_link(url: str | None) -> str | None:
    """``url`` when a browser may follow it from our pages (http, https, or this service's own path), else None:
    a talk's metadata comes from the pages and files it was indexed from, and a ``javascript:`` URL there must
    not become a link (autoescaping does not stop it)."""
    if not url:
        return None
    if url.startswith("/") and not url.startswith("//"):
        return url
    return url if urlsplit(url).scheme.lower() in ("http", "https") else None


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=PackageLoader("talksearch.service", "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["clock"] = clock
    env.filters["url_seconds"] = url_seconds  # ?t= as every link writes it: 7, not 7.0
    env.filters["web_link"] = web_link
    env.globals["version"] = __version__
    env.globals["chapter_lead"] = CHAPTER_LEAD  # the talk page names a moment's chapter as the API does
    return env


def base_path(request) -> str:
    """The path the service is served at (the ``root_path`` setting, in the request's ASGI scope; "" at /): every
    URL a page or answer emits starts with it."""
    return request.scope.get("root_path", "")


def site_url(request) -> str:
    """The service's absolute address, its path prefix included (on ``public_url`` when set: the middleware puts
    it in the request's scope), before each of its own paths in what is read elsewhere: feeds, embeds, the
    widget's snippet, link previews and crawlers."""
    return str(request.base_url).rstrip("/")


def route_path(scope) -> str:
    """The request's path below ``base_path``, as the app's routes are named (``/api/search`` behind ``/talks``).
    Starlette matches routes this way with ``starlette._utils.get_route_path``, a private helper an upgrade may
    move or change, so the service keeps its own copy of the rule: ``path`` starts with ``root_path`` (uvicorn
    and the ASGI spec put the prefix in both), and only a whole path segment counts (``/talksx`` is not below
    ``/talks``)."""
    path, root = scope["path"], scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return ""
    return path[len(root):] if path[len(root)] == "/" else path


def render(template: str, base: str = "", **context) -> str:
    """``base``: ``base_path`` of the request, which the templates put before each of the service's own paths."""
    # A NUL typed into a query is echoed back (the title, the search box): HTML forbids it in a page, and a
    # browser shows U+FFFD for it, so the page says so itself.
    return environment().get_template(template).render(base=base, **context).replace("\x00", "\ufffd")


def error_page(status: int, message: str, base: str = "") -> str:
    return render("error.html", base, status=status, message=message)


def paragraphs(segments, max_sentences: int = 5, pause: float = 2.0) -> list[list]:
    """Transcript sentences grouped into readable paragraphs: a new one after a pause, every few sentences, and
    where the speaker changes (the page names them there; whisper names no one, so its paragraphs are as before)."""
    groups: list[list] = []
    for segment in segments:
        if (not groups or len(groups[-1]) >= max_sentences or segment.start - groups[-1][-1].end >= pause
                or (segment.speaker or None) != (groups[-1][-1].speaker or None)):
            groups.append([])
        groups[-1].append(segment)
    return groups

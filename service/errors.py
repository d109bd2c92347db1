"""One error shape for every failure: ``{"error": {"code": "...", "message": "..."}}``.

Browsers asking for a page (``Accept: text/html``, outside ``/api``) get the same error as a small HTML
page with the same status; every other client gets the JSON.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from talksearch.library import LibraryError
from talksearch.search.searcher import NotFound
from talksearch.service.rendering import base_path, error_page, route_path
from talksearch.service.security_headers import default_headers
from talksearch.settings import Settings
from talksearch.storage import DENIED, FULL, READ_ONLY, storage_kind

log = logging.getLogger("talksearch")

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          409: "conflict", 413: "too_large", 415: "unsupported_media_type", 416: "range_not_satisfiable",
          422: "invalid_request", 429: "rate_limited", 431: "headers_too_large", 503: "unavailable"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        self.status, self.message, self.code = status, message, code or _CODES.get(status, "error")
        self.headers = headers


def error_response(status: int, code: str, message: str, headers: dict | None = None,
                   request: Request | None = None) -> Response:
    if request is not None and wants_page(request):
        return HTMLResponse(error_page(status, message, base_path(request)), status_code=status, headers=headers)
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def invalid_message(errors: Sequence[dict], located: bool = True, body_fields: Sequence[str] = ()) -> str:
    """pydantic's validation errors as one line naming the first field: ``limit: Input should be ...``.
    ``located``: each error's place starts with where in the request it is (FastAPI's ``query``, ``body``...).
    ``body_fields``: the fields a JSON body must have, named when the body itself is wrong (missing, not JSON)."""
    first = errors[0] if errors else {}
    loc = first.get("loc", ())
    # The body as a whole is wrong: its place ("body", or "body" and a character position) names no field.
    if located and first.get("type") == "json_invalid":
        position = f" at character {loc[1]}" if len(loc) > 1 else ""
        reason = (first.get("ctx") or {}).get("error")
        return f"the body is not valid JSON{position}" + (f": {reason}" if reason else "")
    if located and tuple(loc) == ("body",):
        wanted = "a JSON object" + (" with " + ", ".join(f"`{name}`" for name in body_fields) if body_fields else "")
        return f"the body must be {wanted}" + (" (none was sent)" if first.get("type") == "missing" else "")
    if located and loc and loc[0] in ("query", "path", "body", "header", "cookie"):
        loc = loc[1:]
    where = ".".join(str(p) for p in loc)
    return f"{where}: {first.get('msg', 'invalid')}" if where else first.get("msg", "invalid request")


def _body_fields(request: Request) -> list[str]:
    """The required fields of the matched route's body model (``IndexRequest``'s ``source``), read from the model
    so that the message follows it."""
    body = getattr(request.scope.get("route"), "body_field", None)
    model = getattr(getattr(body, "field_info", None), "annotation", None)
    fields = getattr(model, "model_fields", None)
    return [name for name, field in fields.items() if field.is_required()] if isinstance(fields, dict) else []


def wants_page(request: Request) -> bool:
    """Whether a failure is answered with a page (a browser asking for one) rather than the JSON error."""
    path = route_path(request.scope)  # without the root_path (a path prefix)
    return (request.method in ("GET", "HEAD") and not path.startswith(("/api/", "/media/"))
            and path not in ("/healthz", "/metrics", "/openapi.json")
            and "text/html" in request.headers.get("accept", ""))


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.headers, request)

    @app.exception_handler(NotFound)  # e.g. a talk searched within, removed while the request ran (after its checks)
    async def _not_found(request: Request, exc: NotFound) -> Response:
        return error_response(404, "not_found", str(exc), request=request)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return error_response(exc.status_code, _CODES.get(exc.status_code, "error"), message, exc.headers, request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return error_response(422, "invalid_request", invalid_message(exc.errors(), body_fields=_body_fields(request)),
                              request=request)

    @app.exception_handler(sqlite3.DatabaseError)
    async def _catalog(request: Request, exc: sqlite3.DatabaseError) -> Response:
        # The library, not the request, is at fault (a damaged page, a locked or vanished file): say so, and
        # where to look, rather than "internal server error".
        log.error("library catalog: %s", exc)
        message = storage_failure(exc) or (f"the library's catalog cannot be read ({exc}); `talksearch check` on the "
                                           "library tells what is wrong and --repair what can be rebuilt")
        return error_response(503, "unavailable", message, request=request)

    @app.exception_handler(OSError)
    async def _storage(request: Request, exc: OSError) -> Response:
        if (message := storage_failure(exc)) is None:  # not the library's disk: a bug
            return await _unexpected(request, exc)
        log.error("library: %s", exc)
        return error_response(503, "unavailable", message, request=request)

    @app.exception_handler(LibraryError)
    async def _unusable(request: Request, exc: LibraryError) -> Response:
        # The library cannot be searched as it is (say its recorded embedding model does not fit its vectors):
        # the operator's to fix, not the request's, and the message says what is wrong: to every visitor, so
        # without where the library lies on the server (its folders may name a person); the log has it.
        log.error("library: %s", exc)
        return error_response(503, "unavailable", _without_library_path(str(exc), request), request=request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal server error", request=request)


def _without_library_path(message: str, request: Request) -> str:
    """``message`` with the served library's folder named as "the library" (its path, as given and resolved)."""
    state = getattr(request.app.state, "talksearch", None)
    if state is None:
        return message
    given = Path(state.settings.library)
    for path in sorted({str(given), str(given.resolve())}, key=len, reverse=True):
        message = message.replace(f"library {path}", "the library").replace(path, "(the library)")
    return message


def storage_failure(exc: BaseException) -> str | None:
    """What a write the library's disk refused means for whoever asked it (a deletion, an indexing job's start):
    nothing was changed, and what would let it be (a full disk, a read-only one, the service's permissions). None
    when ``exc`` is no such failure. (A damaged catalog is another matter, which `talksearch check` looks into.)"""
    kind, said = storage_kind(exc), " ".join(str(exc).split())
    if kind == FULL:
        return f"the disk holding the library is full ({said}): free some space and ask again; nothing was changed"
    if kind in (READ_ONLY, DENIED):
        why = "is on a read-only file system" if kind == READ_ONLY else "may not be written by the service"
        return f"the library {why} ({said}): it can be searched, not changed"
    return None


UNREADABLE_REQUEST = "the request could not be read as HTTP (malformed, or its URL or headers are too long)"

# A request's URL and its headers are each refused past about 64 KB, before the rest is read: httptools gives
# neither a limit, and builds each (uvicorn the URL, the parser a header's value) by appending every piece read to
# what came before, on the event loop: one header of 80 MB held every other request for up to 50 s. The URL's is
# the one httptools.parse_url always had (its offsets are 16-bit), now met as it comes rather than once it is all in.
URL_LIMIT = 65_535
HEADERS_LIMIT = 64 * 1024
HEADERS_TOO_LARGE = f"the request's headers are too large (over {HEADERS_LIMIT // 1024} KB in all)"

# uvicorn's own warning for such a request, one a request and naming nobody: a scanner's probes flooded the log
# with it. The protocol below says it instead, naming the client, at most once a window per client address.
_UVICORNS_UNREADABLE_WARNING = "Invalid HTTP request received."
UNREADABLE_LOG_SECONDS = 60


def _not_uvicorns_unreadable_warning(record: logging.LogRecord) -> bool:
    return record.msg != _UVICORNS_UNREADABLE_WARNING


class OncePerClient:
    """Whether to log a client's event now: at most once every ``seconds`` per client address; the times it was
    not logged are counted, and told with the next one logged. The addresses remembered are bounded
    (``clients``, the least recently logged forgotten first), whatever a scan of many addresses sends."""

    def __init__(self, seconds: float = UNREADABLE_LOG_SECONDS, clients: int = 4096) -> None:
        self.seconds, self.clients = seconds, clients
        self._logged: OrderedDict[str, tuple[float, int]] = OrderedDict()  # address: (when logged, unlogged since)

    def unlogged_before(self, address: str, now: float) -> int | None:
        """None: not to be logged now (counted); else to be logged, with how many went unlogged before it."""
        logged = self._logged.get(address)
        if logged is not None and now - logged[0] < self.seconds:
            self._logged[address] = (logged[0], logged[1] + 1)
            return None
        self._logged.pop(address, None)
        self._logged[address] = (now, 0)
        if len(self._logged) > self.clients:
            self._logged.popitem(last=False)
        return logged[1] if logged is not None else 0


def http_protocol(settings: Settings) -> type:
    """uvicorn's HTTP protocol (httptools when installed, as uvicorn's ``auto`` chooses, else h11), answering
    what its parser rejects before the app sees it (a URL past the parser's limit, about 64 KB; malformed HTTP)
    in the one error shape instead of uvicorn's plain-text 400, and headers past ``HEADERS_LIMIT`` with a 431 in it,
    the connection closed before the rest is read. Where the read API answers every origin (CORS
    ``*``, the default) these refusals do too: a script on another site can read why, rather than take it for the
    service being down. (With a list of origins it cannot: the request's Origin header was never read.)"""
    any_origin = "*" in settings.cors_origins
    # what every answer carries (the app's SecurityHeaders), which these are written without
    secured = b"".join(f"{name}: {value}\r\n".encode() for name, value in default_headers(not settings.crawlable).items())
    once_per_client = OncePerClient()
    logging.getLogger("uvicorn.error").addFilter(_not_uvicorns_unreadable_warning)  # once, however many servers
    try:
        import httptools
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as Base
    except ImportError:  # h11 bounds a request's head itself (h11_max_incomplete_event_size), refused as unreadable
        from uvicorn.protocols.http.h11_impl import H11Protocol as Base

    class OneErrorShapeProtocol(Base):
        def send_400_response(self, msg: str) -> None:
            self._refuse(b"400 Bad Request", "bad_request", UNREADABLE_REQUEST)

        def _refuse(self, status: bytes, code: str, message: str) -> None:
            body = json.dumps({"error": {"code": code, "message": message}}, separators=(",", ":")).encode()
            head = [b"HTTP/1.1 " + status + b"\r\n",
                    *(name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers),
                    *([b"access-control-allow-origin: *\r\n"] if any_origin else []), secured,
                    b"content-type: application/json\r\n", b"content-length: %d\r\n" % len(body),
                    b"connection: close\r\n\r\n"]
            self.transport.write(b"".join(head) + body)
            self.transport.close()
            self._count_unreadable()
            self._log_unreadable(status.split(b" ")[0].decode())

        if Base.__name__ == "HttpToolsProtocol":
            # While a request's head is read: the bytes of it handed to the parser (None once its headers are
            # complete: its body is not counted), and of those, the URL's.
            _head_read: int | None = 0
            _url_read = 0

            def data_received(self, data: bytes) -> None:
                # The head is handed to the parser no further than the headers' limit allows, so that a head past
                # it is refused before more of it is read or built. The URL's limit is on_url's.
                while self._head_read is not None and data and self.transport.get_protocol() is self:
                    room = HEADERS_LIMIT + self._url_read - self._head_read
                    if room <= 0:
                        self._refuse(b"431 Request Header Fields Too Large", "headers_too_large", HEADERS_TOO_LARGE)
                        return
                    piece, data = data[:room], data[room:]
                    self._head_read += len(piece)
                    super().data_received(piece)
                    if self.transport.is_closing():
                        return
                if data and self.transport.get_protocol() is self:
                    super().data_received(data)

            def on_url(self, url: bytes) -> None:
                self._url_read += len(url)
                if self._url_read > URL_LIMIT:  # answered as unreadable (400), as parse_url would once it was all in
                    raise httptools.HttpParserError(f"the URL is longer than {URL_LIMIT} bytes")
                super().on_url(url)

            def on_headers_complete(self) -> None:
                self._head_read = None
                super().on_headers_complete()

            def on_message_complete(self) -> None:
                self._head_read, self._url_read = 0, 0  # what follows is the next request's head
                super().on_message_complete()

        def _count_unreadable(self) -> None:
            # The app as uvicorn was handed it; its state once the lifespan has started (none before, nor for
            # an app that is not talksearch's)
            state = getattr(getattr(self.config.app, "state", None), "talksearch", None)
            if state is not None:
                state.metrics.unreadable.inc()

        def _log_unreadable(self, status: str) -> None:
            # Behind a proxy the address is the proxy's: the request was never read, nor its X-Forwarded-For.
            host, port = self.client or ("an unknown client", None)
            unlogged = once_per_client.unlogged_before(host, time.monotonic())
            if unlogged is None:
                return
            shown = f"[{host}]" if ":" in host else host  # an IPv6 address is bracketed before its port
            since = f"{unlogged} more from {shown} were not logged; " if unlogged else ""
            self.logger.warning("Invalid HTTP request received from %s%s (answered %s; %sat most one such line "
                                "per client address every %d s, each counted in /metrics)", shown,
                                f":{port}" if port is not None else "", status, since, once_per_client.seconds)

    return OneErrorShapeProtocol

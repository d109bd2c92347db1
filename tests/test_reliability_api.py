"""The HTTP API against hostile input, over the real service on loopback: odd queries are searched literally
or refused with a 4xx in the one error shape, paths cannot reach outside the library, and searches are
rate limited per client (429 + Retry-After)."""

from __future__ import annotations

import http.client
import json
import math
import shutil
from urllib.parse import quote, urlsplit

import anyio
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from talksearch.service.ratelimit import RateLimitMiddleware, TokenBuckets, client_key
from tests.service_fixtures import assert_error, serving, settings_for, shared_library

pytestmark = pytest.mark.models

# --- queries -------------------------------------------------------------------------------------------

LITERAL = [
    # FTS5 syntax: searched as words, never as an expression
    '"unbalanced quote', "unbalanced quote\"", "'single", "a*", "*storage", "storage*",
    "NEAR(object storage)", "NEAR(object storage, 2)", "object NEAR storage", "-storage", "object -storage",
    "col:umn", "text:storage", "^storage", "+storage", "object AND", "OR", "NOT storage", "AND OR NOT",
    "((storage", "{storage}", "[x]", "storage\\", "%25", "a%_b", "'; DROP TABLE talks;--",
    "<script>alert(1)</script>", "<b>storage</b>", "&amp; &lt;",
    # control characters (NUL alone is refused)
    "tab\there", "new\nline", "carriage\rreturn", "bell\x07", "\x1b[31mred\x1b[0m", "del\x7f",
    "\u0085next line", "zero\u200bwidth", "\u202eoverride", "\ufeffbom", "\u2028line separator",
    # other scripts and emoji
    "对象存储的检查点", "オブジェクトストレージ", "객체 스토리지", "Объектное хранилище", "تخزين الكائنات", "אחסון אובייקטים",
    "वस्तु भंडारण", "αντικειμενική αποθήκευση", "Ünïcödé façade", "e\u0301\u0301\u0301",
    "👩‍👩‍👧‍👦 family", "storage 🪣 bucket", "ꙮ",
    # lengths near the limit
    "a" * 500, "checkpoint " * 45,
]


@pytest.mark.parametrize("q", LITERAL, ids=[repr(q)[:40] for q in LITERAL])
def test_odd_queries_are_searched_literally(api, q):
    response = api.get("/api/search", params={"q": q, "limit": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["query"] == q  # echoed exactly as sent
    for result in body["results"]:
        assert result["talk"]["id"] and result["text"]
    grouped = api.get("/api/search", params={"q": q, "group": "talk"})
    assert grouped.status_code == 200, grouped.text
    page = api.get("/", params={"q": q}, headers={"Accept": "text/html"})
    assert page.status_code == 200 and "<script>alert" not in page.text


REFUSED = [
    ("", "invalid_query"), ("   ", "invalid_query"), ("\t\n\r", "invalid_query"), ("nul\x00byte", "invalid_query"),
    ("a" * 501, "invalid_query"), ("a" * 10_000, "invalid_query"), ("🚀" * 501, "invalid_query"),
    ("🚀" * 2_500, "invalid_query"),
    # no letter or digit: nothing to find (FTS5 syntax, control characters, emoji alone)
    *[(q, "invalid_query") for q in ['"', '""', '"""', "*", "-", ":", "(", ")", "%", "_", "\x01\x02\x03", "🚀",
                                     "🚀🔥💾", "🇯🇵🇺🇸", "\U0001f9ea" * 100]],
]


@pytest.mark.parametrize("q, code", REFUSED, ids=[f"{c}-{len(q)}" for q, c in REFUSED])
def test_empty_long_and_nul_queries_are_refused_in_one_shape(api, q, code):
    error = assert_error(api.get("/api/search", params={"q": q}), 422, code)
    assert len(error["message"]) < 200  # the message does not echo a 10,000-character query


def test_raw_bytes_in_the_query_string_are_never_a_server_error(api):
    """Bytes that are not UTF-8, stray percent signs, repeated parameters: a 200 or a 4xx, never a 5xx."""
    host = urlsplit(api.base).netloc
    for target in ("/api/search?q=%ff%fe", "/api/search?q=%ED%A0%80", "/api/search?q=%", "/api/search?q=%zz",
                   "/api/search?q=a&q=b", "/api/search?q=%00", "/api/search?q=" + "%F0%9F%9A%80" * 3000,
                   "/api/search?q=x&limit=1e3", "/api/search?q=x&offset=99999999999999999999999",
                   "/?q=%ff", "/results?q=%ED%A0%80"):
        status, body = _raw_get(host, target)
        assert 200 <= status < 500, (target, status, body[:200])
        if status >= 400 and target.startswith("/api/"):
            assert b'"error"' in body and b'"code"' in body, (target, body[:200])
        if "%ff" in target.lower() or "%ed%a0%80" in target.lower():  # not UTF-8: refused, never searched as "�"
            assert status == (422 if target.startswith("/api/") else 200), (target, status)  # a page: its notice
            assert b"the query is not valid text (UTF-8)" in body, (target, body[:200])


def test_requests_the_http_parser_rejects_get_the_one_error_shape(api):
    """A URL past the HTTP parser's limit (~64 KB) or a request that is not HTTP never reaches the app: they
    are answered by the server's protocol, in the same JSON shape as every other error, not as plain text."""
    import json
    import socket

    host, port = urlsplit(api.base).hostname, urlsplit(api.base).port
    for request in (b"GET /api/search?q=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"NOT HTTP AT ALL\r\n\r\n"):
        with socket.create_connection((host, port), timeout=60) as connection:
            connection.sendall(request)
            reply = b""
            while chunk := connection.recv(65536):
                reply += chunk
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 ") and b"content-type: application/json" in head.lower(), head
        # CORS, as the read API answers: a widget on another site that sent it can read why it was refused
        assert b"access-control-allow-origin: *" in head.lower(), head
        # what every other answer carries: these were written without them
        assert b"x-content-type-options: nosniff" in head.lower() and b"referrer-policy: " in head.lower(), head
        assert b"content-security-policy: frame-ancestors 'self'" in head.lower(), head
        error = json.loads(body)["error"]
        assert set(error) == {"code", "message"} and error["code"] == "bad_request", error
    assert api.get("/healthz").status_code == 200  # and the server goes on serving


def test_a_request_head_past_the_limit_is_refused_unread_while_others_are_served(api):
    """A header of megabytes (no token needed to send one) is refused once the request's head passes ~64 KB, in
    the one error shape, the connection closed: the parser never builds its value (which took the event loop,
    and every other request, for seconds), and /healthz is answered while it is still being sent."""
    import socket
    import threading

    host, port = urlsplit(api.base).hostname, urlsplit(api.base).port
    connection = socket.create_connection((host, port), timeout=60)
    healthz: list[int] = []

    def send_huge_header() -> None:
        try:
            connection.sendall(b"GET /api/talks?limit=1 HTTP/1.1\r\nHost: x\r\nX-Big: ")
            for piece in range(100):  # 5 MB
                connection.sendall(b"y" * 50_000)
                if piece == 0:  # within the limit: the head is still being read
                    healthz.append(api.get("/healthz").status_code)
            connection.sendall(b"\r\n\r\n")
        except OSError:
            pass  # refused and closed before all of it was sent: as meant

    sender = threading.Thread(target=send_huge_header)
    sender.start()
    reply = b""
    try:
        while chunk := connection.recv(65536):
            reply += chunk
    except ConnectionResetError:
        pass  # the rest of the header was never read: the reset may follow the answer
    sender.join()
    connection.close()
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 "), head[:200]
    assert b"content-type: application/json" in head.lower() and b"connection: close" in head.lower(), head
    assert b"x-content-type-options: nosniff" in head.lower() and b"x-frame-options: sameorigin" in head.lower(), head
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message"} and error["code"] == "headers_too_large", error
    assert "64 KB" in error["message"], error
    assert healthz == [200], healthz  # answered while the header was coming
    assert api.get("/healthz").status_code == 200  # and the server goes on serving


def _raw_get(host: str, target: str) -> tuple[int, bytes]:
    """A GET of exactly ``target`` (http.client sends the path as given: no normalising, no re-encoding)."""
    connection = http.client.HTTPConnection(host, timeout=60)
    try:
        connection.putrequest("GET", target, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# --- paths: nothing outside the library ---------------------------------------------------------------


def test_transcripts_and_media_cannot_read_outside_the_library(api, ids):
    host = urlsplit(api.base).netloc
    local, remote = ids["local"], ids["t01"]
    targets = [
        "/media/../../../../etc/passwd", "/media/..%2F..%2F..%2F..%2Fetc%2Fpasswd", "/media/%2e%2e/%2e%2e/etc/passwd",
        "/media/%252e%252e%252fetc%252fpasswd", "/media/%2Fetc%2Fpasswd", "/media/file:%2F%2F%2Fetc%2Fpasswd",
        f"/media/{local}/../../../../etc/passwd", f"/media/{local}%00", f"/media/{local}%2F..%2F..%2Fetc%2Fpasswd",
        f"/media/{remote}", "/media/", "/media/.", "/media/..",
        "/api/talks/..%2F..%2F..%2Fetc%2Fpasswd/transcript.txt", "/api/talks/../../etc/passwd/transcript",
        "/api/talks/%2e%2e%2f%2e%2e%2fetc%2fpasswd/transcript.vtt", "/api/talks/%00/transcript.srt",
        f"/api/talks/{local}/transcript.txt%00.vtt", f"/api/talks/{local}/transcript..%2F..%2F..%2Fetc%2Fpasswd",
        f"/api/talks/{local}/transcript.%2F..%2F..%2Fetc%2Fpasswd", f"/api/talks/{local}%2F..%2F..%2Fcatalog.sqlite",
        f"/api/talks/{local}/transcript.sqlite", "/api/talks/catalog.sqlite", "/catalog.sqlite", "/vectors.faiss",
        "/static/../../../../etc/passwd", "/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd", "//etc/passwd",
        "/talks/..%2F..%2Fetc%2Fpasswd", "/widget.js/../../etc/passwd",
    ]
    for target in targets:
        status, body = _raw_get(host, target)
        assert status in (400, 404, 405, 422), (target, status, body[:200])
        assert b"root:" not in body and b"SQLite format" not in body, target


def test_cli_export_takes_only_talk_ids():
    from tests.helpers import talksearch

    library = shared_library()
    for talk_id in ("../../../etc/passwd", "/etc/passwd", "%2e%2e", "' OR 1=1 --"):
        result = talksearch("export", talk_id, "--library", str(library))
        assert result.returncode == 1 and result.stderr.startswith("error: no talk"), result.stderr
        assert "root:" not in result.stdout


# --- rate limiting --------------------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_buckets_allow_a_burst_then_the_rate():
    clock = _Clock()
    buckets = TokenBuckets(per_minute=6, clock=clock)  # one search every 10 s, six in a burst
    assert [buckets.take("a") for _ in range(6)] == [0.0] * 6
    assert buckets.take("a") == pytest.approx(10.0)
    assert buckets.take("b") == 0.0  # per client
    clock.now += 5
    assert buckets.take("a") == pytest.approx(5.0)  # refused requests spend nothing
    clock.now += 5
    assert buckets.take("a") == 0.0 and buckets.take("a") > 0
    clock.now += 3600
    assert [buckets.take("a") for _ in range(6)] == [0.0] * 6  # refilled to the burst, not beyond
    assert buckets.take("a") > 0


def test_token_buckets_forget_the_least_recent_clients():
    buckets = TokenBuckets(per_minute=1, max_clients=100, clock=_Clock())
    for i in range(1000):
        buckets.take(f"10.0.{i // 256}.{i % 256}")
    assert len(buckets) == 100


def _stub_app(per_minute: int, clock=None) -> TestClient:
    async def ok(request):
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route(path, ok) for path in ("/api/search", "/api/related", "/api/talks", "/", "/results")])
    app.add_middleware(RateLimitMiddleware, per_minute=per_minute, **({"clock": clock} if clock else {}))
    return TestClient(app, client=("203.0.113.7", 1234))


def test_rate_limit_counts_only_searches_per_client():
    client = _stub_app(per_minute=2, clock=_Clock())
    assert [client.get("/api/search", params={"q": "x"}).status_code for _ in range(2)] == [200, 200]
    refused = client.get("/api/related", params={"talk": "x"})
    assert_error(refused, 429, "rate_limited")
    assert refused.headers["retry-after"] == "30"
    assert client.get("/api/talks").status_code == 200  # not a search
    assert client.get("/").status_code == 200 and client.get("/results?q=").status_code == 200  # no query
    page = client.get("/", params={"q": "storage"}, headers={"Accept": "text/html"})
    assert page.status_code == 429 and page.headers["content-type"].startswith("text/html")  # browsers get a page
    assert client.options("/api/search").status_code != 429  # CORS preflights are free
    disabled = _stub_app(per_minute=0)
    assert {disabled.get("/api/search", params={"q": "x"}).status_code for _ in range(50)} == {200}



def _search_scope(client: str, path: str = "/api/search") -> dict:
    return {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "root_path": "",
            "query_string": b"q=storage", "headers": [], "client": (client, 1234), "server": ("127.0.0.1", 80),
            "scheme": "http", "http_version": "1.1"}


def test_searches_in_progress_are_capped_per_client():
    """A client's searches running at once are capped, whatever its bucket holds (45 costly searches sent together
    held every reader, /healthz too, for tens of seconds); one refused so spends no token, another client is not
    held up, and a search that ends, answered or failed, frees its place."""
    gate = anyio.Event()

    async def held_search(scope, receive, send):
        if scope["query_string"] == b"q=fail":
            raise RuntimeError("a search that fails")
        if scope["path"] == "/api/search":
            await gate.wait()
        await PlainTextResponse("ok")(scope, receive, send)

    limiter = RateLimitMiddleware(held_search, per_minute=4, in_progress=2, clock=_Clock())

    async def status(scope: dict) -> tuple[int, dict[str, str]]:
        sent = []

        async def send(message):
            sent.append(message)

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        await limiter(scope, receive, send)
        start = sent[0]
        return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}

    async def main():
        answers: list[tuple[int, dict[str, str]]] = []
        async with anyio.create_task_group() as group:
            group.start_soon(_append, answers, status(_search_scope("2001:db8::1")))
            group.start_soon(_append, answers, status(_search_scope("2001:db8::2")))  # the same /64
            await anyio.sleep(0.05)
            refused, headers = await status(_search_scope("2001:db8::3"))
            assert refused == 429 and headers["retry-after"] == "1"
            other, _ = await status(_search_scope("2001:db8:0:1::1", "/api/talks"))  # not a search
            assert other == 200
            group.start_soon(_append, answers, status(_search_scope("::ffff:203.0.113.7")))  # another client
            await anyio.sleep(0.05)
            assert answers == []  # all three held
            gate.set()
        assert [status for status, _ in answers] == [200, 200, 200]
        assert dict(limiter.in_progress) == {}  # places freed
        with pytest.raises(RuntimeError):
            await status({**_search_scope("2001:db8::9"), "query_string": b"q=fail"})
        assert dict(limiter.in_progress) == {}
        # The refusal spent no token: the last of the /64's four is still there, then the bucket is empty.
        assert (await status(_search_scope("2001:db8::4")))[0] == 200
        assert (await status(_search_scope("2001:db8::4")))[0] == 429

    anyio.run(main)


async def _append(answers: list, answer) -> None:
    answers.append(await answer)


def test_clients_are_told_apart_by_ipv4_address_and_ipv6_network():
    keys = {host: client_key({"client": (host, 1)}) for host in (
        "203.0.113.7", "::ffff:203.0.113.7", "2001:db8::1", "2001:db8::ffff:1", "2001:db8:0:1::1", "fe80::1%eth0")}
    assert keys == {"203.0.113.7": "203.0.113.7", "::ffff:203.0.113.7": "203.0.113.7",
                    "2001:db8::1": "2001:db8::/64", "2001:db8::ffff:1": "2001:db8::/64",
                    "2001:db8:0:1::1": "2001:db8:0:1::/64", "fe80::1%eth0": "fe80::/64"}
    assert client_key({"client": None}) == "unknown" and client_key({"client": ("/run/ts.sock", 0)}) == "/run/ts.sock"

def test_rate_limit_on_the_real_service():
    per_minute = 3
    with serving(settings_for(shared_library(), rate_limit_per_minute=per_minute)) as server:
        statuses = [server.get("/api/search", params={"q": "storage"}).status_code for _ in range(per_minute)]
        assert statuses == [200] * per_minute
        refused = server.get("/api/search", params={"q": "storage"}, headers={"Origin": "https://elsewhere.example"})
        error = assert_error(refused, 429, "rate_limited")
        retry_after = int(refused.headers["retry-after"])
        assert 1 <= retry_after <= math.ceil(60 / per_minute)
        assert f"try again in {retry_after} s" in error["message"]
        assert refused.headers["access-control-allow-origin"] == "*"  # the widget on another site can read it ...
        exposed = refused.headers["access-control-expose-headers"].split(", ")
        assert "Retry-After" in exposed  # ... and when to try again
        assert server.get("/api/talks").status_code == 200 and server.get("/healthz").status_code == 200
        metrics = server.get("/metrics").text
        assert 'route="/api/search",status="429"' in metrics  # named by its route, though refused before routing


@pytest.mark.browser
def test_the_search_page_says_why_when_a_search_is_refused(browser):
    """Search as you type, past the rate limit: the page shows the service's reason as text, not its JSON."""
    from tests.service_fixtures import wait_until

    with serving(settings_for(shared_library(), rate_limit_per_minute=1)) as server:
        page = browser.new_page()
        page.goto(server.base + "/")
        page.locator("#q").fill("storage")
        wait_until(lambda: "storage" in (page.text_content("#results .status") or ""), "the first results", 60)
        page.locator("#q").fill("object storage")
        wait_until(lambda: "try again in" in (page.text_content("#results .notice") or ""), "the refusal", 60)
        assert "{" not in page.text_content("#results")  # the message, not the error's JSON
        page.close()


def test_quoted_query_in_urls_round_trips(api):
    q = 'gang "scheduling" & <b>bold</b> #hash ?x=1'
    response = api.get("/api/search?q=" + quote(q, safe=""))
    assert response.status_code == 200 and response.json()["query"] == q


# --- SSRF: redirects -------------------------------------------------------------------------------------

# The start of a guarded process's script: DATA served twice, from 127.0.0.1 (OUTSIDE, which stands in for the
# internet) and 127.0.0.2 (INSIDE); OUTSIDE's /moved.ogg redirects inside. REQUESTS: what either server was asked.
_TWO_HOSTS = r"""
import functools, http.server, io, json, sys, threading
from talksearch.service import netguard

REQUESTS = []  # (address, path, user agent)

class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass
    def do_GET(self):
        REQUESTS.append((self.server.server_address[0], self.path, self.headers.get("User-Agent", "")))
        if self.path == "/moved.ogg":  # the "public" host sends the fetcher inside
            self.send_response(302)
            self.send_header("Location", INSIDE + "/t01.ogg")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

def serve(address):
    server = http.server.ThreadingHTTPServer((address, 0), functools.partial(Handler, directory=DATA))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://{address}:{server.server_address[1]}"

INSIDE = serve("127.0.0.2")
OUTSIDE = serve("127.0.0.1")
"""

_REDIRECT_SCRIPT = _TWO_HOSTS + r"""
import yt_dlp
netguard.is_public = lambda address: address == "127.0.0.1"  # stand-in: 127.0.0.1 plays the public internet
netguard.install()

with yt_dlp.YoutubeDL({"quiet": True, "no_warnings": True}) as ydl:
    for name, url in (("direct", OUTSIDE + "/t01.ogg"), ("redirected", OUTSIDE + "/moved.ogg"),
                      ("inside", INSIDE + "/t01.ogg")):
        try:
            ydl.extract_info(url, download=False)
            print(name, "CONNECTED")
        except Exception as exc:
            print(name, "REFUSED", "non-public" in str(exc))
"""


def test_ssrf_a_redirect_to_an_inside_address_is_refused():
    """The indexing process's guard follows redirects: an allowed host that redirects to an inside address
    is refused at the redirect (127.0.0.1 stands in for the internet, 127.0.0.2 for the inside)."""
    import subprocess
    import sys

    from tests.helpers import DATA, ROOT

    script = f"DATA = {str(DATA)!r}\n" + _REDIRECT_SCRIPT
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    assert lines == {"direct": "CONNECTED", "redirected": "REFUSED True", "inside": "REFUSED True"}, \
        out.stdout + out.stderr


# --- SSRF: media that ffmpeg reads ----------------------------------------------------------------------

_FFMPEG_SCRIPT = _TWO_HOSTS + r"""
real = netguard.is_public
netguard.is_public = lambda address: address == "127.0.0.1" or real(address)  # 127.0.0.1 plays the internet
from talksearch.service import index_job
netguard.install()

from talksearch.indexer import audio
lines = []
for name, url in (("direct", OUTSIDE + "/t01.ogg"), ("redirected", OUTSIDE + "/moved.ogg"),
                  ("inside", INSIDE + "/t01.ogg"), ("rtmp", "rtmp://127.0.0.2/live"),
                  ("concat", "concat:" + INSIDE + "/t01.ogg|" + INSIDE + "/t02.ogg")):
    try:
        lines.append(f"{name} read {audio.media_duration(url)}")
    except ValueError as exc:
        lines.append(f"{name} {exc}")

settings = {"library": LIBRARY, "whisper_model": "tiny.en", "embed_model": "all-MiniLM-L6-v2", "threads": 1}
sys.stdin = io.StringIO(json.dumps({"settings": settings, "guard": True,
                                    "sources": [OUTSIDE + "/direct.html", OUTSIDE + "/redirected.html"]}))
index_job.main()  # its events go to stdout; from here on, print goes to stderr
with open(RESULT, "w") as result:
    json.dump({"lines": lines, "requests": REQUESTS}, result)
"""


@pytest.mark.models
def test_ssrf_media_that_ffmpeg_reads_goes_through_the_guard(tmp_path):
    """ffmpeg resolves names and follows redirects in C, past the guard on Python's getaddrinfo: in the indexing
    process it reads media only through Python. A captioned page with no language has it detected from its media,
    streamed: media on the "public" host is read, media that redirects inside is refused without a request there."""
    import subprocess
    import sys

    from tests.helpers import DATA, ROOT, talksearch
    from tests.test_captions_indexing import vtt

    data = tmp_path / "www"
    shutil.copytree(DATA, data)
    (data / "t01.vtt").write_text(vtt("t01"))
    for name, media in (("direct", "t01.ogg"), ("redirected", "moved.ogg")):
        (data / f"{name}.html").write_text(f"<html><head><title>{name}</title></head><body><video src='{media}'>"
                                           "<track kind='subtitles' src='t01.vtt'></video></body></html>")
    library, result = tmp_path / "library", tmp_path / "result.json"
    script = f"DATA, LIBRARY, RESULT = {str(data)!r}, {str(library)!r}, {str(result)!r}\n" + _FFMPEG_SCRIPT
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.exists(), out.stdout + out.stderr
    found = json.loads(result.read_text())
    lines = dict(line.split(" ", 1) for line in found["lines"])
    assert lines["direct"].startswith("read ")
    assert "refused: 127.0.0.2 resolves to a non-public address" in lines["redirected"], lines
    assert "refused: 127.0.0.2 resolves to a non-public address" in lines["inside"], lines
    assert lines["rtmp"].endswith("refused: only http and https media can be read here, not rtmp:"), lines
    assert lines["concat"].endswith("refused: only http and https media can be read here, not concat:"), lines
    assert [r for r in found["requests"] if r[0] != "127.0.0.1"] == []  # inside: no request at all
    # Both talks are indexed from their captions; only the one whose media could be read has its language.
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert [e["outcome"]["status"] for e in events if e["event"] == "outcome"] == ["added", "added"], out.stdout
    listing = json.loads(talksearch("talks", "--library", str(library), "--json").stdout)
    talks = {t["title"]: t for t in listing["talks"]}
    assert talks["direct"]["language"] == "en" and not talks["redirected"]["language"], talks
    assert any(r[1] == "/t01.ogg" and r[2].startswith("Python-urllib") for r in found["requests"])


# --- SSRF: a stream yt-dlp would hand to ffmpeg -----------------------------------------------------------

_HLS_SCRIPT = _TWO_HOSTS + r"""
real = netguard.is_public
netguard.is_public = lambda address: address == "127.0.0.1" or real(address)  # 127.0.0.1 plays the internet
import pathlib
from talksearch.service import index_job

def playlist(name, method, host):  # the encrypted segments ffmpeg wrote, their key and segments on ``host``
    lines = (pathlib.Path(DATA) / "made.m3u8").read_text().splitlines()
    lines = [f'#EXT-X-KEY:METHOD={method},URI="{host}/enc.key"' if line.startswith("#EXT-X-KEY") else
             f"{host}/{line}" if line.endswith(".ts") else line for line in lines]
    (pathlib.Path(DATA) / name).write_text("\n".join(lines) + "\n")
    return OUTSIDE + "/" + name

sources = [playlist("outside.m3u8", "AES-128", OUTSIDE), playlist("inside.m3u8", "AES-128", INSIDE),
           playlist("sample.m3u8", "SAMPLE-AES", INSIDE)]
settings = {"library": LIBRARY, "whisper_model": "tiny.en", "embed_model": "all-MiniLM-L6-v2", "threads": 1}
sys.stdin = io.StringIO(json.dumps({"settings": settings, "guard": True, "sources": sources}))
index_job.main()  # its events go to stdout
with open(RESULT, "w") as result:
    json.dump({"requests": REQUESTS}, result)
"""


@pytest.mark.models
def test_ssrf_an_encrypted_stream_is_never_handed_to_ffmpeg(tmp_path):
    """yt-dlp hands an HLS stream to ffmpeg, whatever downloader it is told to use, when the stream is encrypted
    with AES-128 and pycryptodomex is missing, or with any other method (SAMPLE-AES): ffmpeg then fetched the key
    and segments in C, past the guard, and a hostile feed had the job index (and publish) a recording inside (a
    security hunt). Now yt-dlp decrypts AES-128 itself, and a stream only an external program could fetch fails."""
    import subprocess
    import sys

    from tests.helpers import DATA, ROOT

    www = tmp_path / "www"
    www.mkdir()
    (www / "enc.key").write_bytes(bytes(range(16)))
    (www / "keyinfo").write_text(f"enc.key\n{www / 'enc.key'}\n")
    made = subprocess.run(["ffmpeg", "-v", "error", "-i", str(DATA / "t01.ogg"), "-c:a", "aac", "-f", "hls",
                           "-hls_time", "10", "-hls_list_size", "0", "-hls_key_info_file", str(www / "keyinfo"),
                           "-hls_segment_filename", str(www / "seg%d.ts"), str(www / "made.m3u8")],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    library, result = tmp_path / "library", tmp_path / "result.json"
    script = f"DATA, LIBRARY, RESULT = {str(www)!r}, {str(library)!r}, {str(result)!r}\n" + _HLS_SCRIPT
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.exists(), out.stdout + out.stderr
    requests = json.loads(result.read_text())["requests"]
    assert [r for r in requests if r[0] != "127.0.0.1"] == [], requests  # nothing inside was asked for
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    outcomes = [e["outcome"] for e in events if e["event"] == "outcome"]
    assert {o["label"]: o["status"] for o in outcomes} == {"outside": "added", "inside": "failed",
                                                            "sample": "failed"}, out.stdout
    details = {o["label"]: o["detail"] for o in outcomes}
    assert details["sample"].startswith("only an external program (ffmpeg) could download this recording"), details
    # a piece of the stream that cannot be fetched fails the talk, saying why: skipped, it had left a file of
    # nothing ("The downloaded file is empty"), and a gap in a talk would put every later moment early
    assert "refused: 127.0.0.2 resolves to a non-public address" in details["inside"], details

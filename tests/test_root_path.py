"""The service at a path prefix (``root_path``), behind a proxy that strips it: ``location /ts/ { proxy_pass
http://127.0.0.1:8820/; }`` with the Host and X-Forwarded-Proto headers passed on. Every URL the service emits
(pages, their scripts, the JSON API, feeds, oEmbed, the widget snippet, /docs, MCP) must carry the prefix, and
each must answer once the proxy has stripped it again; without the setting every link is rooted at "/"."""

from __future__ import annotations

import json
import re
from unittest import mock

import feedparser
import httpx
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from talksearch.cli import main
from talksearch.service.rendering import route_path
from talksearch.settings import Settings
from tests.helpers import serve_config
from tests.service_fixtures import copy_library, serving, settings_for, shared_library

PREFIX = "/ts"
SITE = "https://example.org"
QUERY = "object storage checkpoints"
# What the proxy sends: the prefix stripped from the path, the visitor's Host, and the scheme it was asked in.
PROXY_HEADERS = {"Host": "example.org", "X-Forwarded-Proto": "https"}
# Every URL attribute of a page that names one of the service's own paths (root-relative)
OWN_URLS = re.compile(r'(?:href|src|action|data-captions|data-src)="(/[^"/][^"]*|/)"')


@pytest.fixture(scope="module")
def proxied():
    """The real service with TALKSEARCH_ROOT_PATH=/ts over a copy of the session's library, asked as the proxy
    asks it."""
    with mock.patch.dict("os.environ", {"TALKSEARCH_ROOT_PATH": PREFIX}):
        settings = settings_for(copy_library())
    assert settings.root_path == PREFIX
    with serving(settings) as server:
        yield httpx.Client(base_url=server.base, headers=PROXY_HEADERS, timeout=120)


def _unprefixed(url: str) -> str:
    """A URL the service emitted as the proxy hands it on: the site and prefix stripped."""
    path = url.removeprefix(SITE)
    assert path == PREFIX or path.startswith(PREFIX + "/"), url
    return path.removeprefix(PREFIX) or "/"


def _all_answer(client: httpx.Client, urls) -> None:
    for url in set(urls):
        response = client.get(_unprefixed(url.split("#")[0]), headers={"Accept": "text/html"})
        assert response.status_code == 200, (url, response.status_code, response.text[:200])


def _own_urls(html: str) -> list[str]:
    return [m.replace("&amp;", "&") for m in OWN_URLS.findall(html)]


def _local_talk(client: httpx.Client) -> dict:
    talks = client.get("/api/talks").json()["talks"]
    return next(t for t in talks if (t["media_url"] or "").startswith(PREFIX + "/media/"))


@pytest.mark.models
def test_pages_links_and_scripts_carry_the_prefix(proxied):
    page = proxied.get("/", params={"q": QUERY})
    assert page.status_code == 200
    html = page.text
    assert 'action="/ts/"' in html and 'data-base="/ts"' in html  # search.js's fetch base: base + "/results?"
    assert 'fetch(base + "/results?"' in html and 'href="/ts/api/search.atom?' in html
    links = _own_urls(html)
    assert any(u.startswith("/ts/talks/") for u in links), links
    assert links and all(u.startswith(PREFIX + "/") for u in links), links
    _all_answer(proxied, links)

    local = _local_talk(proxied)
    talk = proxied.get(f"/talks/{local['id']}", params={"t": 10}).text
    assert f'src="/ts/media/{local["id"]}#t=10"' in talk and 'data-base="/ts"' in talk
    assert 'fetch(base + "/api/search?"' in talk and 'fetch(base + "/api/related?"' in talk
    links = _own_urls(talk)
    assert all(u.startswith(PREFIX + "/") or u.startswith("?t=") for u in links), links
    _all_answer(proxied, [u for u in links if u.startswith(PREFIX)])

    embed = proxied.get("/embed", params={"q": QUERY}).text
    links = _own_urls(embed)
    assert any(u.startswith("/ts/embed/talks/") for u in links) and any(u.startswith("/ts/?q=") for u in links)
    assert all(u.startswith(PREFIX + "/") for u in links), links
    _all_answer(proxied, links)

    missing = proxied.get("/nothing-here", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and 'href="/ts/"' in missing.text


@pytest.mark.models
def test_api_feeds_oembed_widget_docs_and_mcp_carry_the_prefix(proxied):
    local = _local_talk(proxied)
    results = proxied.get("/api/search", params={"q": QUERY, "limit": 10}).json()["results"]
    assert results and all(r["page"].startswith("/ts/talks/") for r in results)
    # the local talk's own (it is a copy of t01's recording: unfiltered, t01 may stand for it)
    served = [r["link"] for r in proxied.get("/api/search", params={"q": QUERY, "talk": local["id"]}).json()["results"]]
    assert local["url"] == f"/ts/talks/{local['id']}" and local["media_url"].startswith(f"/ts/media/{local['id']}.")
    assert served and all(link.startswith(f"/ts/media/{local['id']}#t=") for link in served)
    _all_answer(proxied, [r["page"] for r in results] + served)
    detail = proxied.get(f"/api/talks/{local['id']}").json()
    assert detail["page"] == f"/ts/talks/{local['id']}" and detail["player"]["src"] == f"/ts/media/{local['id']}"
    _all_answer(proxied, [detail["page"], detail["player"]["src"], *detail["transcript"].values()])

    for path in ("/talks.atom", f"/api/search.atom?q={QUERY}"):
        feed = feedparser.parse(proxied.get(path).content)
        links = [link.href for entry in [feed.feed, *feed.entries] for link in entry.links
                 if link.href.startswith("https://example.org")]
        assert feed.entries and len(links) > len(feed.entries), path
        assert all(link.startswith(SITE + PREFIX + "/") for link in links), links
        _all_answer(proxied, links)

    talk_page = proxied.get(f"/talks/{local['id']}", params={"t": 10}).text
    discovery = re.search(r'type="application/json\+oembed" href="([^"]+)"', talk_page)[1].replace("&amp;", "&")
    assert discovery.startswith(SITE + "/ts/oembed?url=https%3A%2F%2Fexample.org%2Fts%2Ftalks%2F"), discovery
    oembed = proxied.get(_unprefixed(discovery))
    assert oembed.status_code == 200, oembed.text
    embed_src = re.search(r'src="([^"]+)"', oembed.json()["html"])[1].replace("&amp;", "&")
    assert embed_src == f"{SITE}/ts/embed/talks/{local['id']}?t=10" and oembed.json()["provider_url"] == SITE + "/ts/"
    _all_answer(proxied, [embed_src])

    widget = proxied.get("/widget").text
    assert 'src="https://example.org/ts/widget.js"' in widget and 'api="https://example.org/ts"' in widget
    assert "allow <code>https://example.org/ts/</code>" in widget  # CSP: a source without "/" matches that path only
    _all_answer(proxied, [SITE + "/ts/widget.js"])
    docs = proxied.get("/docs").text
    assert "'/ts/openapi.json'" in docs and '"/ts/static-offline-docs/swagger-ui-bundle.js"' in docs
    _all_answer(proxied, [SITE + "/ts/openapi.json", SITE + "/ts/static-offline-docs/swagger-ui-bundle.js"])

    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "search_talks", "arguments": {"query": QUERY, "limit": 10, "talk": [local["id"]]}}}
    answer = proxied.post("/mcp", content=json.dumps(call), headers={
        "Accept": "application/json, text/event-stream", "Content-Type": "application/json",
        "MCP-Protocol-Version": "2025-06-18"})
    moments = answer.json()["result"]["structuredContent"]["moments"]
    assert moments and all(m["page"].startswith(SITE + "/ts/talks/") for m in moments)
    local_links = [m["link"] for m in moments if m["talk"]["id"] == local["id"]]
    assert local_links and all(link.startswith(f"{SITE}/ts/media/") for link in local_links)
    _all_answer(proxied, [m["page"] for m in moments] + local_links)


@pytest.mark.models
def test_pages_on_other_sites_reach_mcp_and_read_media_ranges_behind_the_prefix(proxied):
    """What the hunt's page on another origin asked through the proxy: a JSON POST to /mcp (preflighted) was
    refused (Access-Control-Allow-Methods: GET, HEAD), and a Range fetch of /media got 206 but could not read its
    Content-Range. The admin API stays closed to other origins."""
    site = {"Origin": "http://127.0.0.1:9203"}
    preflight = proxied.options("/mcp", headers={**site, "Access-Control-Request-Method": "POST",
                                                 "Access-Control-Request-Headers": "content-type,mcp-protocol-version"})
    assert preflight.status_code == 200, preflight.text
    assert "POST" in preflight.headers["access-control-allow-methods"]
    refused = proxied.options("/api/index", headers={**site, "Access-Control-Request-Method": "POST",
                                                     "Access-Control-Request-Headers": "authorization,content-type"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "cors_refused"

    local = _local_talk(proxied)
    part = proxied.get(f"/media/{local['id']}", headers={**site, "Range": "bytes=0-9"})
    assert part.status_code == 206 and part.headers["content-range"].startswith("bytes 0-9/")
    exposed = {h.strip().lower() for h in part.headers["access-control-expose-headers"].split(",")}
    assert {"content-range", "accept-ranges", "content-length"} <= exposed, exposed


@pytest.mark.models
def test_oembed_knows_its_urls_however_the_prefix_is_escaped():
    """Behind --root-path /vortr%C3%A4ge a talk's URL written with lower-case escapes, or with the letter itself
    (as a browser's address bar shows it), is the same page; only the upper-case form was known (404 otherwise)."""
    root = "/vortr%C3%A4ge"
    with serving(settings_for(shared_library(), root_path=root)) as server:
        client = httpx.Client(base_url=server.base, headers=PROXY_HEADERS, timeout=120)
        talk = client.get("/api/talks").json()["talks"][0]["id"]
        for prefix in (root, "/vortr%c3%a4ge", "/vorträge", "/vortr%C3%a4ge"):
            answer = client.get("/oembed", params={"url": f"{SITE}{prefix}/talks/{talk}?t=4"})
            assert answer.status_code == 200, (prefix, answer.text)
            assert f'src="{SITE}{root}/embed/talks/{talk}?t=4"' in answer.json()["html"]
        other = client.get("/oembed", params={"url": f"{SITE}/vortrage/talks/{talk}?t=4"})
        assert other.status_code == 404  # another path is still not one of the service's


@pytest.mark.unit
@pytest.mark.parametrize("wrong", ["ts", "/ts/", "/", "/ts?x=1", "/ts#top", "//ts", "/a//b",
                                   # a browser resolves the links /ts/../x/talks/1 emits to /x/talks/1
                                   "/ts/../x", "/ts/.", "/..", "/ts/%2e%2E",
                                   "/vorträge",  # uvicorn answered every request 400: it needs ASCII
                                   # no URL path holds them: pages carried them raw, redirects percent-encoded
                                   "/a b", '/a"b', "/a<b>", "/a\\b", "/a%zz", "/a%2", "/a%", "/a[0]", "/a^b", "/a`b",
                                   # allowed in a path, but they end a JS string (/docs) or a CSP source list
                                   "/o'reilly", "/a;b", "/a,b"])
def test_root_path_must_be_a_path_prefix(wrong):
    with pytest.raises(ValidationError, match="is not a path prefix"):
        Settings(root_path=wrong)


@pytest.mark.unit
@pytest.mark.parametrize(("wrong", "rule"), [
    ("/talks/", "it must start with / and hold no //, ? or # nor end with / (e.g. /talks)"),
    ("/a b", "write it percent-encoded: /a%20b"), ("/a%zz", "write it percent-encoded: /a%25zz"),
    ("/o'reilly", "write it percent-encoded: /o%27reilly"), ("/vortr%C3%A4ge x", "/vortr%C3%A4ge%20x"),
])
def test_a_wrong_root_path_is_told_what_a_prefix_must_be(wrong, rule):
    with pytest.raises(ValidationError, match="is not a path prefix") as refused:
        Settings(root_path=wrong)
    assert rule in str(refused.value)


@pytest.mark.unit
def test_root_path_unset_or_a_prefix():
    assert Settings().root_path is None and Settings(root_path="").root_path is None
    assert Settings(root_path="/ts").root_path == "/ts" and Settings(root_path="/a/b-c").root_path == "/a/b-c"
    assert Settings(root_path="/vortr%C3%A4ge").root_path == "/vortr%C3%A4ge"  # percent-encoded, as uvicorn needs
    assert Settings(root_path="/vortr%c3%a4ge").root_path == "/vortr%c3%a4ge"
    assert Settings(root_path="/ts/..x").root_path == "/ts/..x"  # only a whole "." or ".." segment moves a link
    # everything else RFC 3986 lets a path segment hold
    assert Settings(root_path="/a~b_c.d/e:f@g!h$i&j(k)l*m+n=o").root_path == "/a~b_c.d/e:f@g!h$i&j(k)l*m+n=o"


@pytest.mark.unit
@pytest.mark.parametrize(("flags", "env", "root_path"), [
    ([], {}, ""), ([], {"TALKSEARCH_ROOT_PATH": "/ts"}, "/ts"),
    (["--root-path", "/search"], {"TALKSEARCH_ROOT_PATH": "/ts"}, "/search"),
])
def test_serve_hands_the_root_path_to_uvicorn(tmp_path, monkeypatch, flags, env, root_path):
    """uvicorn puts it in each request's scope (Starlette routes without it; the links carry it). The server is
    uvicorn's own as serve configures it, up to where it would start serving (the models are not loaded)."""
    assert serve_config(tmp_path, monkeypatch, flags, env).root_path == root_path


@pytest.mark.unit
@pytest.mark.parametrize(("root_path", "path", "below"), [
    ("", "/api/search", "/api/search"), ("/ts", "/ts/api/search", "/api/search"), ("/ts", "/ts/", "/"),
    ("/ts", "/ts", ""), ("/a/b", "/a/b/mcp", "/mcp"),
    ("/ts", "/tsx/api/search", "/tsx/api/search"),  # only a whole segment is the prefix
    ("/ts", "/api/search", "/api/search"),  # a path that does not carry it is taken as it is
])
def test_route_path_is_the_path_below_the_root_path(root_path, path, below):
    """The service's own rule (not Starlette's private helper), which the rate limit, the metrics and the error
    pages use to name a request's route behind a path prefix."""
    assert route_path({"type": "http", "path": path, "root_path": root_path}) == below
    assert route_path({"type": "http", "path": path}) == path  # no root_path in the scope at all


@pytest.mark.unit
@pytest.mark.parametrize(("wrong", "hint"), [("ts/", "it must start with /"),
                                             ("/vorträge", "write it percent-encoded: /vortr%C3%A4ge"),
                                             ("/ts/../x", "it must have no . or .. segment"),
                                             # a byte that is not UTF-8 ($'/vortr\xe4ge'): it was a UnicodeEncodeError
                                             ("/vortr\udce4ge", "it must be valid UTF-8 text")])
def test_serve_refuses_a_wrong_root_path_in_one_line(tmp_path, wrong, hint):
    result = CliRunner().invoke(main, ["serve", "--library", str(tmp_path / "lib"), "--root-path", wrong])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "--root-path" in result.output and "is not a path prefix" in result.output and hint in result.output
    assert not (tmp_path / "lib").exists()


@pytest.mark.models
def test_the_admin_apis_ways_back_name_the_prefix():
    """A talk deleted twice, and a job's line for a removed talk, name DELETE /ts/api/removals/ID behind the prefix,
    as Location names /ts/api/jobs/ID: the bare path is the proxy's 405 (a proxy hunt)."""
    from talksearch.indexer.fetching import removed_from
    from talksearch.library import Library
    from tests.service_fixtures import ADMIN_TOKEN

    with mock.patch.dict("os.environ", {"TALKSEARCH_ROOT_PATH": PREFIX}):
        settings = settings_for(copy_library(), admin_token=ADMIN_TOKEN)
    auth = {**PROXY_HEADERS, "Authorization": f"Bearer {ADMIN_TOKEN}"}
    with Library.open(settings.library) as library:
        talk = library.talks()[0]
    with serving(settings) as server:
        client = httpx.Client(base_url=server.base, headers=auth, timeout=120)
        assert client.delete(f"/api/talks/{talk.id}").status_code == 200
        again = client.delete(f"/api/talks/{talk.id}")
    assert again.status_code == 404 and f"DELETE {PREFIX}/api/removals/{talk.id} lets" in again.json()["error"]["message"]
    with Library.open(settings.library) as library:
        assert f"`DELETE {PREFIX}/api/removals/{talk.id}`" in removed_from(library, talk.archive_id, PREFIX)
        assert f"`DELETE /api/removals/{talk.id}`" in removed_from(library, talk.archive_id, "")
        assert f"`talksearch restore {talk.id}" in removed_from(library, talk.archive_id)

"""HTTP semantics an integrator meets, over real uvicorn servers: /media revalidation (304) and its caching, CORS
preflights for ranges and revalidation, HEAD on the admin API's GETs, and the Location of a queued job."""

from __future__ import annotations

import httpx
import pytest

from talksearch.library import Library
from tests.helpers import loopback_media
from tests.service_fixtures import ADMIN_TOKEN, assert_error, locked_down_server, serving, settings_for, wait_until

pytestmark = pytest.mark.models

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SITE = "https://elsewhere.example"


def _preflight(client: httpx.Client, path: str, origin: str, headers: str) -> httpx.Response:
    return client.options(path, headers={"Origin": origin, "Access-Control-Request-Method": "GET",
                                         "Access-Control-Request-Headers": headers})


def test_media_answers_304_to_a_client_whose_copy_is_current(api, ids):
    """A player or cache revalidating a recording it holds gets 304 and no body, by ETag or by date, for GET and
    HEAD; a changed validator gets the whole file again. Every answer says to revalidate (no-cache): a recording
    erased by DELETE /api/talks/{id} must not go on being served from a cache that guessed a lifetime."""
    path = f"/media/{ids['local']}"
    whole = api.get(path)
    etag, modified = whole.headers["etag"], whole.headers["last-modified"]
    assert whole.status_code == 200
    for validator in ({"If-None-Match": etag}, {"If-None-Match": f'"other", W/{etag}'}, {"If-None-Match": "*"},
                      {"If-Modified-Since": modified}, {"If-None-Match": etag, "Range": "bytes=0-99"}):
        for method in ("GET", "HEAD"):
            unchanged = api.client.request(method, path, headers=validator)
            assert unchanged.status_code == 304 and unchanged.content == b"", (method, validator)
            assert unchanged.headers["etag"] == etag
            # what a cache updates its copy's headers from: the recording's own policy, not a page's
            assert unchanged.headers["content-security-policy"] == "sandbox", unchanged.headers
    for validator in ({"If-None-Match": '"other"'}, {"If-Modified-Since": "Mon, 01 Jan 1990 00:00:00 GMT"}):
        changed = api.get(path, headers=validator)
        assert changed.status_code == 200 and changed.content == whole.content, validator
    assert whole.headers["cache-control"] == unchanged.headers["cache-control"] == "no-cache"


def test_media_plays_on_pages_that_require_corp(api, ids):
    """A page with Cross-Origin-Embedder-Policy: require-corp (the widget on it, or a player of its own) loads
    another origin's recording only when every answer for it says Cross-Origin-Resource-Policy, as /widget.js and
    /embed say it: the whole file, a range, and a revalidation."""
    path = f"/media/{ids['local']}"
    whole = api.get(path)
    part = api.get(path, headers={"Range": "bytes=0-99"})
    unchanged = api.get(path, headers={"If-None-Match": whole.headers["etag"]})
    assert (whole.status_code, part.status_code, unchanged.status_code) == (200, 206, 304)
    for answer in (whole, part, unchanged):
        assert answer.headers.get("cross-origin-resource-policy") == "cross-origin", answer.status_code


def test_media_ranges_still_follow_if_range(api, ids):
    path = f"/media/{ids['local']}"
    whole = api.get(path)
    same = api.get(path, headers={"Range": "bytes=100-199", "If-Range": whole.headers["etag"]})
    assert same.status_code == 206 and same.content == whole.content[100:200]
    assert same.headers["cache-control"] == "no-cache"
    changed = api.get(path, headers={"Range": "bytes=100-199", "If-Range": '"an older copy"'})
    assert changed.status_code == 200 and changed.content == whole.content


def test_pages_elsewhere_may_ask_for_ranges_and_revalidate(api, ids):
    """A page's script that fetch()es a moment of a recording (Range) or revalidates what it holds is preflighted
    for those headers: allowed on the read API, and the ETag it revalidates with is readable."""
    path = f"/media/{ids['local']}"
    for headers in ("range", "if-none-match", "if-modified-since", "range,if-range"):
        allowed = _preflight(api.client, path, SITE, headers)
        assert allowed.status_code == 200, (headers, allowed.text)
    read = api.get(path, headers={"Origin": SITE, "Range": "bytes=0-9"})
    assert read.status_code == 206 and read.headers["access-control-allow-origin"] == "*"
    assert "etag" in {h.strip().lower() for h in read.headers["access-control-expose-headers"].split(",")}
    assert_error(_preflight(api.client, path, SITE, "authorization"), 400, "cors_refused")  # still not the token


def test_a_refused_origins_preflight_says_it_is_not_in_the_list():
    """It said "Disallowed CORS origin (the read API allows GET from other origins)": which origins, then?"""
    server = locked_down_server()  # CORS for https://allowed.example only
    refused = assert_error(_preflight(server.client, "/api/talks", SITE, "range"), 400, "cors_refused")
    assert "not in TALKSEARCH_CORS_ORIGINS" in refused["message"], refused
    assert _preflight(server.client, "/api/talks", "https://allowed.example", "range").status_code == 200


@pytest.fixture(scope="module")
def admin_at_a_prefix(tmp_path_factory):
    """An admin API behind a path prefix, over an empty library of MiniLM's (no job here adds a talk)."""
    library = tmp_path_factory.mktemp("http") / "library"
    Library.open(library, create=True).close()
    settings = settings_for(library, admin_token=ADMIN_TOKEN, allow_private_sources=True, root_path="/ts",
                            embed_model="all-MiniLM-L6-v2")
    with serving(settings) as server:
        yield server


def test_a_queued_job_is_located_and_answers_head(admin_at_a_prefix):
    """202 names where the job's progress is (RFC 9110: Location), with the service's path prefix as every link
    it gives; GET /api/jobs/{id} answers HEAD as every other GET does, behind the same token."""
    server = admin_at_a_prefix
    queued = server.client.post("/api/index", json={"source": loopback_media().url("live/missing.ogg")}, headers=AUTH)
    assert queued.status_code == 202
    job = queued.json()["id"]
    assert queued.headers["location"] == f"/ts/api/jobs/{job}"
    path = queued.headers["location"].removeprefix("/ts")  # as the proxy hands it on
    wait_until(lambda: server.get(path, headers=AUTH).json()["finished"], "the job to finish")
    got, head = server.get(path, headers=AUTH), server.client.head(path, headers=AUTH)
    assert head.status_code == got.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"]
    assert server.client.head(path).status_code == 401
    assert server.client.head("/api/jobs/no-such-job", headers=AUTH).status_code == 404
    assert server.client.head("/api/index", headers=AUTH).status_code == 405  # a POST only

"""The admin API (auth, SSRF refusal, background indexing, delete) and the live library, over real servers."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager

import pytest

from talksearch.library import Library
from tests.helpers import loopback_media
from tests.service_fixtures import (
    ADMIN_TOKEN,
    admin_server,
    assert_error,
    locked_down_server,
    read_server,
    serving,
    settings_for,
    shared_library,
    wait_until,
)

pytestmark = pytest.mark.models

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_admin_api_is_disabled_without_a_token():
    server = locked_down_server()
    assert_error(server.client.post("/api/index", json={"source": "https://example.org/x.mp3"}, headers=AUTH),
                 403, "admin_disabled")
    assert_error(server.get("/api/jobs/whatever", headers=AUTH), 403, "admin_disabled")
    assert_error(server.client.delete("/api/talks/whatever", headers=AUTH), 403, "admin_disabled")


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN_TOKEN}, {"Authorization": f"Basic {ADMIN_TOKEN}"},
    {"Authorization": "Bearer"}, {"Authorization": f"Bearer {ADMIN_TOKEN}x"}, {"Authorization": f"bearer {ADMIN_TOKEN[:-1]}"},
])
def test_admin_api_needs_the_token(headers):
    server = read_server()
    response = server.client.post("/api/index", json={"source": "https://example.org/x.mp3"}, headers=headers)
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    assert_error(server.get("/api/jobs/whatever", headers=headers), 401)
    assert_error(server.client.delete("/api/talks/whatever", headers=headers), 401)
    # The token is checked before the body is read: without it, a malformed body is still just a 401.
    for body in (b"{bad", b"[" * 100_000):
        garbled = server.client.post("/api/index", content=body, headers={**headers, "Content-Type": "application/json"})
        assert_error(garbled, 401, "unauthorized")


def test_openapi_names_the_admin_token_where_it_is_needed():
    """/docs reads the security scheme for its Authorize button and sends the token with "Try it out" only
    where an operation lists it: without it, trying the admin API there was always a 401."""
    spec = read_server().get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert [scheme for scheme in schemes.values() if scheme["type"] == "http" and scheme["scheme"] == "bearer"]
    secured = {(method, path): operation.get("security") for path, operations in spec["paths"].items()
               for method, operation in operations.items()}
    admin = {("post", "/api/index"), ("get", "/api/jobs/{job_id}"), ("delete", "/api/talks/{talk_id}"),
             ("delete", "/api/removals/{talk_id}")}
    assert all(secured[operation] == [{name: []} for name in schemes] for operation in admin), secured
    assert not any(security for operation, security in secured.items() if operation not in admin), secured


@pytest.mark.parametrize("source", [
    "http://127.0.0.1:9/talk.mp3", "http://localhost/feed.xml", "http://[::1]/x", "http://10.1.2.3/x",
    "http://192.168.0.10/x", "http://172.16.5.4/x", "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0/x", "http://100.64.0.1/x", "http://[fe80::1]/x", "http://[::ffff:127.0.0.1]/x",
    "http://2130706433/x",  # 127.0.0.1 as one decimal number
    # an IPv4 host inside an IPv6 address: NAT64 (an IPv6-only network's gateway reaches 10.0.0.5 at 64:ff9b::a00:5),
    # a local NAT64 prefix, 6to4, IPv4-compatible
    "http://[64:ff9b::7f00:1]/x", "http://[64:ff9b::a00:5]/x", "http://[64:ff9b:1::a00:1]/x", "http://[2002:7f00:1::]/x",
    "http://[::127.0.0.1]/x", "http://[::a00:1]/x",
    # IPv4-translated (SIIT: ::ffff:0:a.b.c.d reaches a.b.c.d) and the old site-local range (a security hunt)
    "http://[::ffff:0:7f00:1]/x", "http://[::ffff:0:a9fe:a9fe]/latest/meta-data/", "http://[fec0::1]/x",
])
def test_ssrf_private_sources_refused(source):
    response = read_server().client.post("/api/index", json={"source": source}, headers=AUTH)
    error = assert_error(response, 422, "source_refused")
    assert "non-public" in error["message"] or "resolve" in error["message"]


@pytest.mark.parametrize("source", [
    "file:///etc/passwd", "ftp://example.org/x.mp3", "/etc/passwd", "talk.mp3", "javascript:alert(1)", "http://",
    "http://[not-an-ip/x", "",
])
def test_only_http_sources(source):
    assert_error(read_server().client.post("/api/index", json={"source": source}, headers=AUTH), 422, "source_refused")


@pytest.mark.parametrize("source", ["ht\ttp://127.0.0.1:9/feed.xml", "http://127.0.0.1:9/fee\nd.xml",
                                    "http://127.0.0.1:9/a talk.mp3"])
def test_a_source_with_a_space_or_control_character_is_refused_as_such(source):
    """urlsplit drops tabs and newlines before the scheme and host are checked, and the job was given the string as
    sent: "ht\ttp://…" indexed as a local path (which the API never takes), "fee\nd.xml" as feed.xml under another
    name. On a server that allows loopback sources, so that nothing else refuses them."""
    error = assert_error(admin_server().client.post("/api/index", json={"source": source}, headers=AUTH), 422,
                         "source_refused")
    assert "space or control character" in error["message"], error


def test_guard_refuses_connections_to_private_addresses_in_the_indexing_process():
    """Redirects, feed enclosures and page media that point inside are refused where the worker connects:
    the guard checks every name resolution in the indexing process, not just the submitted URL."""
    target = loopback_media().url("t01.ogg")
    script = textwrap.dedent(f"""
        import urllib.request, yt_dlp
        from talksearch.service import netguard
        netguard.install()
        try:
            urllib.request.urlopen({target!r}, timeout=30)
            print("CONNECTED")
        except OSError as exc:
            print("REFUSED", exc)
        with yt_dlp.YoutubeDL({{"quiet": True, "no_warnings": True}}) as ydl:
            try:
                ydl.extract_info({target!r}, download=False)
                print("CONNECTED")
            except Exception as exc:
                print("REFUSED", exc)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300).stdout
    assert out.count("REFUSED") == 2 and "CONNECTED" not in out and "non-public" in out, out


def _job(server, job_id: str) -> dict:
    response = server.get(f"/api/jobs/{job_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def _finished(server, job_id: str):
    return lambda: (job := _job(server, job_id))["status"] in ("done", "failed") and job


def _search_talk(server, q: str, talk_id: str) -> list[dict]:
    response = server.get("/api/search", params={"q": q, "talk": talk_id})
    assert response.status_code == 200, response.text
    return response.json()["results"]


@contextmanager
def _library_held(server):
    """Another writer (as `talksearch index` would be) holding the served library."""
    writer = Library.open(server.settings.library)
    writer.acquire_writer()
    try:
        yield
    finally:
        writer.close()


def _submit(server, media: str) -> dict:
    """An indexing job for a file of the loopback media server, accepted."""
    response = server.client.post("/api/index", json={"source": loopback_media().url(media)}, headers=AUTH)
    assert response.status_code == 202, response.text
    return response.json()


def test_index_over_the_api_while_serving_then_delete(monkeypatch):
    """A talk indexed by the background worker becomes searchable without a restart; a CLI-style writer
    holding the library makes the job wait, not fail; DELETE removes the talk everywhere."""
    from talksearch.service import jobs

    monkeypatch.setattr(jobs, "LOCK_RETRY_SECONDS", 0.2)  # tries again soon after the writer lets go, not 5 s later
    server = admin_server()
    before = server.get("/api/talks").json()["total"]

    # Another writer (as `talksearch index` would) holds the library: the job waits for it.
    with _library_held(server):
        job = _submit(server, "live/t02-live.ogg")
        assert job["status"] == "queued" and job["source"].endswith("t02-live.ogg")
        wait_until(lambda: any(line.startswith("waiting:") for line in _job(server, job["id"])["log"]),
                   "the job to notice the writer lock")
        assert _job(server, job["id"])["status"] == "running"

    job = wait_until(_finished(server, job["id"]), "the indexing job")
    assert job["status"] == "done", job
    assert job["summary"].startswith("1 added") and job["finished"]
    [outcome] = job["outcomes"]
    assert outcome["status"] == "added" and outcome["talk_id"]
    talk_id = outcome["talk_id"]

    results = _search_talk(server, "partition keys for every tenant", talk_id)
    assert results and results[0]["talk"]["id"] == talk_id  # searchable, no restart
    assert server.get("/api/talks").json()["total"] == before + 1
    assert server.get(f"/api/talks/{talk_id}").status_code == 200
    assert len(server.get(f"/api/talks/{talk_id}/transcript").json()["segments"]) == 3

    deleted = server.client.delete(f"/api/talks/{talk_id}", headers=AUTH)
    assert deleted.status_code == 200 and deleted.json() == {"deleted": talk_id}
    assert_error(server.get(f"/api/talks/{talk_id}"), 404)
    # a search within it is refused, naming it (a link kept from before reads no "nothing found")
    error = assert_error(server.get("/api/search", params={"q": "partition keys for every tenant", "talk": talk_id}), 404)
    assert error["message"] == f"no talk {talk_id!r} in this library"
    assert all(r["talk"]["id"] != talk_id
               for r in server.get("/api/search", params={"q": "partition keys", "limit": 100}).json()["results"])
    assert server.get("/api/talks").json()["total"] == before
    # deleted twice: the second says when, and how to undo it, as `talksearch remove` does (it said "no talk")
    again = assert_error(server.client.delete(f"/api/talks/{talk_id}", headers=AUTH), 404)
    assert re.fullmatch(rf"{talk_id!r} was removed from the library on \d{{4}}-\d\d-\d\d already "
                        rf"\(DELETE /api/removals/{talk_id} lets the next run of its source add it back\)",
                        again["message"]), again


def test_a_job_reports_each_talks_outcome_as_it_is_done(tmp_path):
    """The job's child process says each talk's outcome as soon as the talk is done (GET /api/jobs/{id} shows
    them while the job runs), before that talk's log line, and all of them again in the summary."""
    import json

    from tests.helpers import DATA
    from tests.service_fixtures import settings_for

    settings = settings_for(tmp_path / "lib", whisper_model="tiny.en", embed_model="all-MiniLM-L6-v2")  # the lightest
    request = {"settings": settings.model_dump(mode="json", exclude={"admin_token"}),
               "sources": [str(DATA / "t02.ogg"), str(tmp_path / "missing.ogg")], "guard": True}
    child = subprocess.run([sys.executable, "-m", "talksearch.service.index_job"], input=json.dumps(request),
                           capture_output=True, text=True, timeout=600)
    assert child.returncode == 0, child.stderr
    events = [json.loads(line) for line in child.stdout.splitlines()]
    assert [e["event"] for e in events] == ["outcome", "log", "outcome", "log", "summary"], events
    outcomes = {e["outcome"]["status"]: e["outcome"] for e in events if e["event"] == "outcome"}
    assert set(outcomes) == {"added", "failed"}  # in the order they are done (the missing file at once)
    assert outcomes["added"]["talk_id"] and outcomes["failed"]["label"].endswith("missing.ogg")
    for outcome, line in zip(events[0::2], events[1::2]):  # each outcome, then its line
        assert line["line"].startswith(outcome["outcome"]["status"]) and outcome["outcome"]["label"] in line["line"]
    assert [e["outcome"] for e in events if e["event"] == "outcome"] == events[-1]["outcomes"]


def test_failed_job_reports_why():
    server = admin_server()
    response = server.client.post("/api/index", json={"source": loopback_media().url("live/missing.ogg")}, headers=AUTH)
    job = wait_until(_finished(server, response.json()["id"]), "the failing job")
    assert job["status"] == "failed" and job["error"] and "404" in job["error"]
    assert job["outcomes"][0]["status"] == "failed"
    assert_error(server.get("/api/jobs/no-such-job", headers=AUTH), 404)


def test_a_job_whose_whisper_model_cannot_load_says_why_in_its_own_words(tmp_path):
    """A whisper model that cannot load stops the job's run, and its error was the last line of the child's
    traceback, "talksearch.models.ModelError: cannot load whisper model ...": it is the message alone."""
    settings = settings_for(tmp_path / "lib", admin_token=ADMIN_TOKEN, allow_private_sources=True,
                            whisper_model="nonsense-model", embed_model="all-MiniLM-L6-v2")
    with serving(settings) as server:
        job = wait_until(_finished(server, _submit(server, "live/t02-live.ogg")["id"]), "the failing job")
    assert job["status"] == "failed", job
    assert job["error"].startswith("cannot load whisper model 'nonsense-model': "), job["error"]


def test_talk_indexed_by_another_process_becomes_searchable():
    """The CLI's indexer (IndexRun, its own connection and writer lock) committing while the service runs
    and its queue is idle: the talk is searchable and listed without a restart."""
    from talksearch.indexer.pipeline import IndexRun

    server = admin_server()
    run = IndexRun(settings_for(server.settings.library, whisper_model="tiny.en"),  # what is checked is the service's
                   report=lambda line: None)
    try:
        summary = run.run([loopback_media().url("live/t01-cli.ogg")])
    finally:
        run.close()
    [outcome] = summary.outcomes
    assert outcome.status == "added", outcome
    results = _search_talk(server, "restarting after a node failure", outcome.talk_id)
    assert results and results[0]["talk"]["id"] == outcome.talk_id
    listed = server.get("/api/talks", params={"talk": outcome.talk_id}).json()
    assert listed["total"] == 1
    assert server.client.delete(f"/api/talks/{outcome.talk_id}", headers=AUTH).status_code == 200


def test_admin_token_with_surrounding_whitespace_is_trimmed(monkeypatch):
    """A token read from a Kubernetes secret or an env file often ends in a newline: the service trims it, as it
    trims the client's, so the admin API works rather than refusing every request."""
    monkeypatch.setenv("TALKSEARCH_ADMIN_TOKEN", f"  {ADMIN_TOKEN}\n")
    with serving(settings_for(shared_library())) as server:
        assert_error(server.get("/api/jobs/no-such-job", headers=AUTH), 404, "not_found")  # past the guard
        assert_error(server.get("/api/jobs/no-such-job", headers={"Authorization": "Bearer wrong"}), 401)


def test_index_body_errors_say_what_is_wanted():
    """No body, or one that is not JSON: the message says what the body must be, not a bare position or "Field
    required" with no field."""
    server = read_server()
    missing = assert_error(server.client.post("/api/index", headers=AUTH), 422, "invalid_request")
    assert "JSON object" in missing["message"] and "`source`" in missing["message"], missing
    garbled = server.client.post("/api/index", content=b'{"source": ',
                                 headers={**AUTH, "Content-Type": "application/json"})
    error = assert_error(garbled, 422, "invalid_request")
    assert error["message"].startswith("the body is not valid JSON at character 11"), error
    listed = server.client.post("/api/index", json=["https://example.org/x.mp3"], headers=AUTH)
    assert "JSON object with `source`" in assert_error(listed, 422, "invalid_request")["message"]
    # a field the job does not take is refused, not ignored (rules such as parse_metadata are the server's settings)
    extra = server.client.post("/api/index", json={"source": "https://example.org/x.mp3", "parse_metadata": ["x"]},
                               headers=AUTH)
    assert assert_error(extra, 422, "invalid_request")["message"] == "parse_metadata: Extra inputs are not permitted"
    # bytes that are not UTF-8 (JSON is): refused as a query's are, not FastAPI's undeclared 400
    latin1 = server.client.post("/api/index", content='{"source": "https://example.org/caf\xe9.mp3"}'.encode("latin-1"),
                                headers={**AUTH, "Content-Type": "application/json"})
    assert assert_error(latin1, 422, "invalid_request")["message"].startswith("the body is not UTF-8"), latin1.text
    # nested deeper than Python's parser goes: the same error, not FastAPI's "There was an error parsing the body"
    deep = server.client.post("/api/index", content=b'{"source": ' + b"[" * 5000 + b"]" * 5000 + b"}",
                              headers={**AUTH, "Content-Type": "application/json"})
    assert assert_error(deep, 422, "invalid_request")["message"] == "the body is not valid JSON: nested too deeply"
    # JSON sent as another type: 415, as /mcp answers it, not "the body must be a JSON object"
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        typed = server.client.post("/api/index", content=b'{"source": "https://example.org/x.mp3"}',
                                   headers={**AUTH, "Content-Type": content_type})
        error = assert_error(typed, 415, "unsupported_media_type")
        assert error["message"] == "Content-Type must be application/json", error
    # a body far past any source (at most 2,000 characters): 413, said by its length or met as it comes
    huge = b'{"source": "https://example.org/' + b"a" * 1_000_000 + b'"}'
    sized = server.client.post("/api/index", content=huge, headers={**AUTH, "Content-Type": "application/json"})
    assert assert_error(sized, 413, "too_large")["message"].startswith("the body is over"), sized.text
    chunked = server.client.post("/api/index", content=iter([huge[:500_000], huge[500_000:]]),
                                 headers={**AUTH, "Content-Type": "application/json"})
    assert "content-length" not in chunked.request.headers
    assert_error(chunked, 413, "too_large")
    assert server.get("/healthz").status_code == 200


def test_a_job_waiting_for_the_library_logs_it_once_and_backs_off(monkeypatch):
    """While another writer holds the library, the job says it waits once (not once per try, ~600 lines an hour)
    and tries again at doubling intervals up to a cap (each try starts a Python process)."""
    from talksearch.service import jobs

    monkeypatch.setattr(jobs, "LOCK_RETRY_SECONDS", 0.2)
    monkeypatch.setattr(jobs, "LOCK_RETRY_MAX_SECONDS", 0.5)
    tries: list[tuple[float, float]] = []  # each child's start and end
    run_child = jobs.JobQueue._run_child

    def timed(queue, job):
        start = time.monotonic()
        try:
            return run_child(queue, job)
        finally:
            tries.append((start, time.monotonic()))

    monkeypatch.setattr(jobs.JobQueue, "_run_child", timed)
    server = admin_server()
    with _library_held(server):
        job_id = _submit(server, "live/missing.ogg")["id"]
        wait_until(lambda: len(tries) >= 5, "five tries while the library is held")
        waiting = [line for line in _job(server, job_id)["log"] if line.startswith("waiting:")]
        assert len(waiting) == 1 and "being written" in waiting[0], waiting
    job = wait_until(_finished(server, job_id), "the job, once the library is free")
    assert job["status"] == "failed" and "404" in job["error"], job  # it ran: the source is missing
    pauses = [later[0] - earlier[1] for earlier, later in zip(tries, tries[1:5])]
    assert pauses[0] >= 0.2 and pauses[1] >= 0.4 and pauses[2] >= 0.5, pauses  # doubling ...
    assert pauses[3] < 0.8 + 0.4, pauses  # ... up to the cap (uncapped, the fourth would be 1.6 s)


def test_job_history_is_kept_as_jobs_finish(tmp_path):
    """TALKSEARCH_JOB_HISTORY bounds the finished jobs remembered as each finishes, not only when another is
    submitted."""
    # A library of MiniLM's, which loads in a tenth of the time of the default's three models: no job adds a talk.
    library = tmp_path / "library"
    Library.open(library, create=True).close()
    settings = settings_for(library, admin_token=ADMIN_TOKEN, allow_private_sources=True, job_history=1,
                            embed_model="all-MiniLM-L6-v2")
    with serving(settings) as server:
        ids = [server.client.post("/api/index", json={"source": loopback_media().url("live/missing.ogg")},
                                  headers=AUTH).json()["id"] for _ in range(2)]  # the second queued: none finished
        wait_until(_finished(server, ids[-1]), "the second job")
        assert [server.get(f"/api/jobs/{job_id}", headers=AUTH).status_code for job_id in ids] == [404, 200]


def test_a_refused_origin_is_named_in_the_log_once(caplog):
    """A browser hides why a cross-origin read failed, so a widget on a page the operator forgot to allow can only
    say the service cannot be reached: the service names the origin in its log, once, and not the allowed one
    or its own pages."""
    server = locked_down_server()  # CORS for https://allowed.example only
    with caplog.at_level("WARNING", logger="talksearch"):
        for origin in ("https://forgotten.example", "https://forgotten.example", "https://allowed.example",
                       server.base):
            assert server.get("/api/talks", headers={"Origin": origin}).status_code == 200
    named = [r.getMessage() for r in caplog.records if "cross-origin" in r.getMessage()]
    assert len(named) == 1 and "https://forgotten.example" in named[0] and "TALKSEARCH_CORS_ORIGINS" in named[0], named


def test_a_talks_kept_recording_goes_with_it_and_nothing_else_does():
    """--keep-media keeps a download in the library's media/, named by yt-dlp after the talk's extractor and id (a
    feed's guid, made safe for a file name). --reindex of a talk whose recording changed format keeps only the new
    one; `check` counts a file no talk owns as a problem and --repair removes it; DELETE removes the talk's
    recording with the talk (a takedown leaves no copy behind), and never a local talk's own file or a file the
    library did not write."""
    import re
    import shutil
    from pathlib import Path
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    from talksearch.indexer.pipeline import IndexRun
    from tests.helpers import DATA, talksearch
    from tests.service_fixtures import LOCAL_TITLE

    server = admin_server()
    library = server.settings.library
    media = library / "media"
    served = loopback_media()

    def index_feed(enclosure: str, reindex: bool = False) -> str:
        shutil.copy(DATA / "t01.ogg", served.directory / "live" / enclosure)
        (served.directory / "live" / "kept.xml").write_text(
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Kept</title><item><title>Kept talk</title>'
            f'<guid isPermaLink="false">tag:talks.example,2024:kept talk</guid><enclosure '
            f'url="{served.url("live/" + enclosure)}" type="audio/ogg"/></item></channel></rss>')
        run = IndexRun(settings_for(library, keep_media=True, whisper_model="tiny.en"), report=lambda line: None,
                       reindex=reindex)  # what is kept is checked, not what whisper hears
        try:
            [outcome] = run.run([served.url("live/kept.xml")]).outcomes
        finally:
            run.close()
        assert outcome.status == "added", outcome
        return outcome.talk_id

    talk_id = index_feed("kept.ogg")
    # yt-dlp's name for the item's id: its guid, within its feed (the feed address's digest, which has the port)
    [kept] = [p.stem for p in media.iterdir()]
    assert re.fullmatch(r"Generic-tag_-talks\.example_2024_-kept_talk-[0-9a-f]{8}", kept), kept
    assert sorted(p.name for p in media.iterdir()) == [f"{kept}.ogg"]
    # The host re-encodes the episode under the same guid: the talk's earlier recording does not stay behind.
    assert index_feed("kept.opus", reindex=True) == talk_id
    assert sorted(p.name for p in media.iterdir()) == [f"{kept}.opus"]
    # A talk that fails is not in the library: its download is not kept for it.
    run = IndexRun(settings_for(library, keep_media=True, whisper_model="tiny.en"), report=lambda line: None)
    try:
        assert [o.status for o in run.run([served.url("corrupt.mp3")]).outcomes] == ["failed"]
    finally:
        run.close()
    assert sorted(p.name for p in media.iterdir()) == [f"{kept}.opus"]

    # The library's talk indexed from a local file: its recording is the user's (the read server's too)
    local_id = next(t["id"] for t in server.get("/api/talks", params={"limit": 100}).json()["talks"]
                    if t["title"] == LOCAL_TITLE)
    with Library.open(library, readonly=True) as reader:
        recording = Path(url2pathname(urlsplit(reader.talk(local_id).media_url).path))
    assert recording.is_file()

    # A recording an earlier release left behind when its talk was deleted; and a file the library did not write.
    shutil.copy(DATA / "t02.ogg", media / "Generic-deleted_talk.ogg")
    (media / "notes.txt").write_text("the operator's")
    checked = talksearch("check", "--library", str(library))
    assert checked.returncode == 1, checked.stdout
    assert "1 files in media/ belong to no talk in the catalog" in checked.stdout, checked.stdout
    repaired = talksearch("check", "--library", str(library), "--repair")
    assert repaired.returncode == 0, repaired.stdout
    assert sorted(p.name for p in media.iterdir()) == [f"{kept}.opus", "notes.txt"]

    for deleted in (talk_id, local_id):
        response = server.client.delete(f"/api/talks/{deleted}", headers=AUTH)
        assert response.status_code == 200 and response.json() == {"deleted": deleted}
    assert [p.name for p in media.iterdir()] == ["notes.txt"]
    assert recording.is_file()  # the user's, outside the library
    clean = talksearch("check", "--library", str(library))
    assert clean.returncode == 0 and "belong to no talk" not in clean.stdout, clean.stdout


def test_a_deleted_talk_is_erased_from_the_catalog_and_a_rerun_of_its_feed_skips_it_until_reindex():
    """DELETE is a takedown: nothing the talk said stays in catalog.sqlite (its words unique to it leave the sound
    vocabulary, its terms the keyword index's raw blocks, and the deletion is checkpointed out of the write-ahead log
    while the server's readers hold the library open, so a copy of catalog.sqlite alone has none of it); a re-run
    of its feed skips it, saying so, and --reindex adds it back."""
    import shutil
    import sqlite3

    from talksearch.indexer.pipeline import IndexRun
    from tests.helpers import DATA, scratch

    server = admin_server()
    library = server.settings.library
    catalog = library / "catalog.sqlite"
    served = loopback_media()
    shutil.copy(DATA / "t01.ogg", served.directory / "live" / "erased.ogg")
    (served.directory / "live" / "erased.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Erased</title><item><title>Erased talk</title>'
        '<guid isPermaLink="false">tag:talks.example,2024:erased talk</guid><enclosure '
        f'url="{served.url("live/erased.ogg")}" type="audio/ogg"/></item></channel></rss>')

    outcomes: list = []  # the last run's, as an API job returns them

    def index_feed(reindex: bool = False) -> list[str]:
        lines: list[str] = []
        run = IndexRun(settings_for(library, whisper_model="tiny.en"), report=lines.append, reindex=reindex)
        try:
            outcomes[:] = run.run([served.url("live/erased.xml")]).outcomes
        finally:
            run.close()
        return lines

    def vocabulary() -> set[tuple[str, str]]:
        with sqlite3.connect(catalog) as db:
            return set(db.execute("SELECT language, word FROM sound_vocabulary"))

    def terms() -> set[str]:  # the keyword index's live terms
        with sqlite3.connect(catalog) as db:
            db.execute("CREATE VIRTUAL TABLE temp.terms USING fts5vocab(main, passages_fts, row)")
            return {term for (term,) in db.execute("SELECT term FROM temp.terms")}

    def raw_blocks() -> list[bytes]:  # as a forensic reader of the file finds them
        with sqlite3.connect(catalog) as db:
            return [bytes(block) for (block,) in db.execute("SELECT block FROM passages_fts_data")]

    words_before, terms_before = vocabulary(), terms()
    [line] = index_feed()
    assert line.startswith("added   Erased talk"), line
    with Library.open(library) as reader:
        [talk] = [t for t in reader.talks() if t.title == "Erased talk"]
        talk_id, key = talk.id, talk.archive_id
        others = {s.text for t in reader.talks() if t.id != talk_id for s in reader.segments(t.id)}
        said = [s.text for s in reader.segments(talk_id) if s.text not in others]  # (t01.ogg is served already)
    own_words = vocabulary() - words_before
    blocks = raw_blocks()
    # its own terms, none a part of another talk's ("point" of "endpoint"), that FTS5 writes whole (not after a prefix
    # they share with the term before them): findable in the raw blocks
    own_terms = {t for t in terms() - terms_before if not any(t in other for other in terms_before)
                 and any(t.encode() in block for block in blocks)}
    assert own_words and own_terms and said

    deleted = server.client.delete(f"/api/talks/{talk_id}", headers=AUTH)
    assert deleted.status_code == 200 and deleted.json() == {"deleted": talk_id}
    assert not own_words & vocabulary() and vocabulary() == words_before
    blocks = raw_blocks()
    assert [t for t in own_terms if any(t.encode() in block for block in blocks)] == []
    copy = scratch("erased") / "catalog.sqlite"
    shutil.copy(catalog, copy)  # the file alone, as a backup of it would be taken: no -wal beside it
    with sqlite3.connect(copy) as db:
        assert db.execute("SELECT count(*) FROM talks WHERE id = ?", (talk_id,)).fetchone() == (0,)
    raw = copy.read_bytes()
    assert [text for text in said if text.strip().encode() in raw] == []

    [line] = index_feed()  # the feed re-run (by cron): the takedown holds
    assert line.startswith("skipped Erased talk: removed from this library on ")
    assert line.endswith(f"; `talksearch restore {talk_id} --library {library}` lets the next run add it back"), line
    assert outcomes[0].talk_id == talk_id  # a job's outcome names the id DELETE /api/removals/{id} takes
    assert server.get(f"/api/talks/{talk_id}").status_code == 404
    # the service's way of `talksearch restore`: the removal forgotten, the talk's next run adds it
    assert server.client.delete(f"/api/removals/{talk_id}").status_code == 401
    restored = server.client.delete(f"/api/removals/{talk_id}", headers=AUTH)
    assert restored.status_code == 200 and restored.json()["restored"] == talk_id, restored.text
    assert restored.json()["removed_at"].startswith("20")
    error = assert_error(server.client.delete(f"/api/removals/{talk_id}", headers=AUTH), 404)
    assert error["message"] == f"no talk {talk_id!r} was removed from the library"
    [line] = index_feed()
    assert line.startswith("added   Erased talk"), line
    assert server.client.delete(f"/api/talks/{talk_id}", headers=AUTH).status_code == 200
    [line] = index_feed(reindex=True)
    assert line.startswith("added   Erased talk") and "removed from this library on " in line, line
    with Library.open(library) as reader:
        assert reader.removed_on(key) is None and reader.talk(talk_id) is not None
    assert server.client.delete(f"/api/talks/{talk_id}", headers=AUTH).status_code == 200

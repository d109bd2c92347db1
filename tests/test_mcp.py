"""talksearch as an MCP server, driven by the official SDK's own client: over stdio (``talksearch mcp``
spawned as an assistant would) and over streamable HTTP (``/mcp`` on the running service), against the
session's real indexed library."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.service_fixtures import (
    ADMIN_TOKEN,
    assert_error,
    locked_down_server,
    read_server,
    serving,
    settings_for,
    shared_library,
    talk_ids,
)
from tests.test_service_pages import german_site  # noqa: F401 (a fixture: one talk with chapters and a description)

pytestmark = pytest.mark.models  # a real library, indexed with the bundled models

TALKSEARCH = str(Path(sys.executable).parent / "talksearch")
QUERY = "checkpoints to object storage"
# What a streamable-HTTP client sends with each POST (the protocol version: after the handshake).
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}
# What of a talk only a player uses, which MCP leaves out: `link` is what plays a talk for an assistant.
PLAYER_ONLY = {"thumbnail", "media_url", "duration_measured"}


def _structured(result) -> dict:
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)


async def _exercise(session: ClientSession, ids: dict[str, str]) -> dict:
    await session.initialize()
    tools = {t.name: t for t in (await session.list_tools()).tools}
    assert set(tools) == {"search_talks", "get_transcript", "list_talks"}
    assert "good query" in tools["search_talks"].description
    assert all(t.annotations and t.annotations.read_only_hint for t in tools.values())
    found = _structured(await session.call_tool("search_talks", {"query": QUERY, "limit": 3}))
    transcript = _structured(await session.call_tool(
        "get_transcript", {"talk_id": ids["t01"], "start": 5, "end": 12}))
    listing = _structured(await session.call_tool("list_talks", {"limit": 2}))
    one_talk = _structured(await session.call_tool("list_talks", {"talk": [ids["t02"]]}))
    local_talk = _structured(await session.call_tool("list_talks", {"talk": [ids["local"]]}))["talks"][0]
    local_transcript = _structured(await session.call_tool("get_transcript", {"talk_id": ids["local"], "end": 5}))
    # the talk list pages through any library, past the search's deepest offset (10,000)
    deep_listing = _structured(await session.call_tool("list_talks", {"offset": 10_050}))
    filtered = _structured(await session.call_tool(
        "search_talks", {"query": QUERY, "talk": [ids["t02"]], "limit": 3}))
    empty = await session.call_tool("search_talks", {"query": "   "})
    unquoted = _structured(await session.call_tool("search_talks", {"query": '"storage object"', "limit": 3}))
    nearest = _structured(await session.call_tool("search_talks", {"query": "zebra giraffe", "limit": 1}))
    missing = await session.call_tool("get_transcript", {"talk_id": "nope"})
    no_language = await session.call_tool("search_talks", {"query": QUERY, "language": ["english"]})
    refused = {name: await session.call_tool(tool, arguments) for name, tool, arguments in (
        ("limit", "search_talks", {"query": QUERY, "limit": 0}),
        ("no_query", "search_talks", {}),
        ("timestamp", "list_talks", {"published_after": 0}),  # a number is no date (pydantic reads it as 1970)
        ("backwards", "get_transcript", {"talk_id": ids["t01"], "start": 10, "end": 5}),
        ("past_the_end", "get_transcript", {"talk_id": ids["t01"], "start": 100_000}),
        ("swapped_dates", "list_talks", {"published_after": "2024-05-15", "published_before": "2024-05-14"}),
        # an argument the tool does not take was dropped unread: unfiltered moments, the whole talk
        ("misnamed", "search_talks", {"query": QUERY, "speakers": ["Jane Doe"]}),
        ("unknown", "get_transcript", {"talk_id": ids["t01"], "from": 100, "to": 130}))}
    return {"found": found, "transcript": transcript, "listing": listing, "one_talk": one_talk, "filtered": filtered,
            "deep_listing": deep_listing, "empty": empty, "missing": missing, "no_language": no_language,
            "refused": refused, "unquoted": unquoted, "nearest": nearest, "local": (local_talk, local_transcript["talk"])}


def _check(answers: dict, ids: dict[str, str], api: httpx.Client, base: str = "") -> None:
    found = answers["found"]
    assert found["moments"], found
    top = found["moments"][0]
    assert top["talk"]["id"] in (ids["t01"], ids["local"])
    # Every moment is one the HTTP API returns for the same query: same talk, times, text and link. The
    # API's links are relative to the service, as an assistant cannot resolve: over HTTP they come whole. Over
    # stdio there is no service, and a local talk links to its file.
    expected = api.get("/api/search", params={"q": QUERY, "limit": 3}).json()["results"]
    assert [(m["talk"]["id"], m["start"], m["end"], m["text"]) for m in found["moments"]] == \
        [(r["talk"]["id"], r["start"], r["end"], r["text"]) for r in expected]
    for moment, result in zip(found["moments"], expected):
        # the API's talk object and `translation` too, less what only a player uses; a local talk's url is its
        # page, made whole over HTTP, and its file over stdio
        talk = {k: v for k, v in result["talk"].items() if k not in PLAYER_ONLY}
        if talk["url"].startswith("/"):
            assert moment["talk"]["url"] == base + talk["url"] if base else moment["talk"]["url"].startswith("file:")
            talk["url"] = moment["talk"]["url"]
        assert moment["talk"] == talk
        assert moment["translation"] == result["translation"]
        if not result["link"].startswith("/"):
            assert moment["link"] == result["link"]
        elif base:
            assert moment["link"] == base + result["link"]
        else:
            assert moment["link"].startswith("file://") and moment["link"].endswith(result["link"].split("#")[1])
    assert top["page"] == f"{base}/talks/{top['talk']['id']}?t={top['start']:g}"  # absolute over HTTP

    transcript = answers["transcript"]
    assert transcript["talk"]["id"] == ids["t01"]
    sentences = transcript["sentences"]
    assert sentences and all(s["end"] > 5 and s["start"] < 12 for s in sentences)
    whole = api.get(f"/api/talks/{ids['t01']}/transcript").json()
    assert {s["text"] for s in sentences} <= {s["text"] for s in whole["segments"]}

    assert answers["listing"]["total"] == 3 and len(answers["listing"]["talks"]) == 2
    assert [t["id"] for t in answers["one_talk"]["talks"]] == [ids["t02"]] and answers["one_talk"]["total"] == 1
    # A talk indexed from a file on the server: over HTTP its page there, never the file's path; over stdio,
    # on the machine holding it, the file.
    for local in answers["local"]:
        assert local["url"] == f"{base}/talks/{ids['local']}" if base else local["url"].startswith("file:"), local
    assert answers["deep_listing"] == {"talks": [], "total": 3}
    assert {m["talk"]["id"] for m in answers["filtered"]["moments"]} <= {ids["t02"]}
    # A phrase no moment holds: its words unquoted answer, and the answer says so, as the HTTP API's does
    assert found["quotes_dropped"] is False
    assert answers["unquoted"]["quotes_dropped"] is True and answers["unquoted"]["moments"]
    assert found["words_found"] is True and answers["unquoted"]["words_found"] is True
    assert answers["nearest"]["words_found"] is False and answers["nearest"]["moments"]  # as the HTTP API says
    assert answers["empty"].is_error and "empty" in answers["empty"].content[0].text
    assert answers["missing"].is_error and "no talk" in answers["missing"].content[0].text
    assert answers["no_language"].is_error and "not a language code" in answers["no_language"].content[0].text
    # Arguments the tools refuse are one line each, worded as the HTTP API words them; no empty answer for
    # a range that holds no sentence of the talk.
    said = {name: (answer.is_error, answer.content[0].text) for name, answer in answers["refused"].items()}
    assert said == {"limit": (True, "limit: Input should be greater than or equal to 1"),
                    "no_query": (True, "query: Field required"),
                    "timestamp": (True, "published_after: not a date (YYYY-MM-DD)"),
                    "backwards": (True, "end (5 s) must be after start (10 s)"),
                    "past_the_end": (True, said["past_the_end"][1]),
                    "swapped_dates": (True, "published_after (2024-05-15) is later than published_before "
                                            "(2024-05-14): no date is in that range"),
                    "misnamed": (True, "speakers: not an argument of search_talks (did you mean speaker?)"),
                    "unknown": (True, "from: not an argument of get_transcript (its arguments: talk_id, start, end, "
                                      "translation, max_sentences)")}, said
    assert said["past_the_end"][1].startswith("start (100000 s) is past the talk's last sentence, which ends at ")


@pytest.fixture(scope="module")
def ids():
    return talk_ids()


def test_stdio_server_answers_the_sdk_client(ids):
    params = StdioServerParameters(command=TALKSEARCH, args=["mcp", "--library", str(shared_library())],
                                   env={"TALKSEARCH_THREADS": "1", "PATH": "/usr/bin:/bin"})

    async def run() -> dict:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            return await _exercise(session, ids)

    _check(anyio.run(run), ids, read_server().client)


def _stdio_session(*lines: str) -> dict:
    """``talksearch mcp`` given an initialize handshake and then ``lines``, its input closed after the last one
    (as a client that leaves does): every answer it wrote, by id (null: one that names no request)."""
    return _stdio_run(*lines)[0]


def _stdio_run(*lines: str) -> tuple[dict, str]:
    """``_stdio_session``'s answers, and what the server wrote to stderr (its log)."""
    handshake = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"}]
    done = subprocess.run([TALKSEARCH, "mcp", "--library", str(shared_library())], text=True, capture_output=True,
                          input="\n".join([*map(json.dumps, handshake), *lines]) + "\n", timeout=300,
                          env={"TALKSEARCH_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert answers[0]["id"] == 1 and "result" in answers[0], answers[0]
    return {answer["id"]: answer for answer in answers[1:]}, done.stderr


def test_stdio_and_http_answer_messages_that_are_no_request_as_json_rpc_says():
    """A line that is no JSON, or no JSON-RPC message, gets an error answer (with its id where it has one) rather
    than silence, which would keep the client waiting for that id forever; the session goes on. /mcp answers the
    same bodies with the same errors (HTTP 400), where the SDK alone answered id null, code -32602 (invalid
    params) and pydantic's multi-line report."""
    lines = ['{"jsonrpc":"1.0","id":3,"method":"tools/list"}', '{"jsonrpc":"2.0","id":"four"}', "not json",
             '{"jsonrpc":"2.0","id":5,"method":"tools/list"}']
    answers = _stdio_session(*lines)
    assert {key: answer.get("error", {}).get("code") for key, answer in answers.items()} == \
        {3: -32600, "four": -32600, None: -32700, 5: None}
    assert "jsonrpc" in answers[3]["error"]["message"] and "method" in answers["four"]["error"]["message"]
    assert len(answers[5]["result"]["tools"]) == 3

    batch = '[{"jsonrpc":"2.0","id":6,"method":"tools/list"}]'  # JSON-RPC allows batches; MCP no longer does
    over_http = [read_server().client.post("/mcp", content=body, headers={**MCP_HEADERS, "Content-Type":
                                                                           "application/json"})
                 for body in (*lines, batch)]
    assert [answer.status_code for answer in over_http] == [400, 400, 400, 200, 400]
    assert [answer.json() for answer in over_http[:3]] == [answers[3], answers["four"], answers[None]]
    assert len(over_http[3].json()["result"]["tools"]) == 3
    assert over_http[4].json() == {"jsonrpc": "2.0", "id": None, "error": {
        "code": -32600, "message": "Invalid request: batches are not supported (send each message on its own)"}}


def test_mcp_refuses_what_it_cannot_read_in_json_rpc_form():
    """A POST whose body is not declared JSON, or is over the SDK's 4 MiB limit, was answered in plain text
    (the SDK's transport checks): now a JSON-RPC error, as an MCP client reads one."""
    api = read_server().client
    call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    for content_type in ("text/plain", "application/jsonl"):
        refused = api.post("/mcp", content=call, headers={**MCP_HEADERS, "Content-Type": content_type})
        assert refused.status_code == 415 and refused.headers["content-type"] == "application/json", refused.text
        assert refused.json() == {"jsonrpc": "2.0", "id": None, "error": {
            "code": -32600, "message": "Unsupported Media Type: Content-Type must be application/json"}}
    # over 256 KiB: the SDK's 4 MiB took seconds of the event loop to parse (a denial of service hunt: one post of
    # 4 MB of empty lists, a notification the rate limit never counts, held every other request 5 s)
    too_large = api.post("/mcp", content=b" " * (256 * 1024 + 1) + call.encode(),
                         headers={**MCP_HEADERS, "Content-Type": "application/json"})
    assert too_large.status_code == 413 and too_large.json()["error"] == {
        "code": -32600, "message": "Request body too large (over 262144 bytes)"}, too_large.text
    # A protocol version it does not know: named, with the ones it does (the SDK's answer said that params._meta
    # lacked a newer era's keys); the SDK's code and data, which a client negotiates down with.
    unknown = api.post("/mcp", content=call, headers={**MCP_HEADERS, "MCP-Protocol-Version": "1999-01-01",
                                                      "Content-Type": "application/json"})
    assert unknown.status_code == 400, unknown.text
    error = unknown.json()["error"]
    assert (unknown.json()["id"], error["code"], error["data"]["requested"]) == (1, -32022, "1999-01-01"), error
    assert error["message"] == ("Unsupported protocol version 1999-01-01 (MCP-Protocol-Version header); supported: "
                                "2024-11-05, 2025-03-26, 2025-06-18, 2025-11-25, 2026-07-28"), error
    # A parameter after the type, as clients may send it, is still JSON.
    answered = api.post("/mcp", content=call,
                        headers={**MCP_HEADERS, "Content-Type": "application/json; charset=utf-8"})
    assert answered.status_code == 200 and len(answered.json()["result"]["tools"]) == 3


def test_stdio_answers_requests_still_running_when_its_input_ends():
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "search_talks", "arguments": {"query": QUERY, "limit": 1}}}
    answers = _stdio_session(json.dumps(call), '{"jsonrpc":"2.0","id":3,"method":"tools/list"}')
    assert set(answers) == {2, 3}
    assert answers[2]["result"]["structuredContent"]["moments"], answers[2]


def test_http_endpoint_answers_the_sdk_client_and_ignores_the_admin_token(ids):
    server = read_server()

    async def run(headers: dict) -> dict:
        async with httpx2.AsyncClient(headers=headers, timeout=120) as client, \
                streamable_http_client(f"{server.base}/mcp", http_client=client) as (read, write), \
                ClientSession(read, write) as session:
            return await _exercise(session, ids)

    _check(anyio.run(run, {}), ids, server.client, server.base)
    # The admin token opens nothing more: the same three read-only tools, the same answers.
    _check(anyio.run(run, {"Authorization": f"Bearer {ADMIN_TOKEN}"}), ids, server.client, server.base)


def test_a_talks_transcript_is_a_resource_and_finding_moments_a_prompt(ids):
    """For clients that attach resources and offer prompts (not only tools): a whole transcript, as the export gives
    it, and a prompt that searches and cites. There were none (resources/list and prompts/list were empty)."""
    server = read_server()

    async def run() -> dict:
        async with httpx2.AsyncClient(timeout=120) as client, \
                streamable_http_client(f"{server.base}/mcp", http_client=client) as (read, write), \
                ClientSession(read, write) as session:
            await session.initialize()
            said = {"templates": (await session.list_resource_templates()).resource_templates,
                    "resources": (await session.list_resources()).resources,
                    "transcript": (await session.read_resource(f"talksearch://talks/{ids['t01']}/transcript")).contents,
                    "prompts": (await session.list_prompts()).prompts,
                    "prompt": (await session.get_prompt("find_moments", {"topic": "power capping"})).messages}
            with pytest.raises(MCPError) as unknown:
                await session.read_resource("talksearch://talks/0123456789ab/transcript")
            said["unknown"] = unknown.value
            return said

    said = anyio.run(run)
    [template] = said["templates"]
    assert template.uri_template == "talksearch://talks/{talk_id}/transcript" and template.mime_type == "text/plain"
    listed = {r.uri: r for r in said["resources"]}  # what a client lists to attach: each talk's transcript
    assert len(listed) == len(server.get("/api/talks").json()["talks"]) and all(
        r.mime_type == "text/plain" for r in listed.values())
    assert listed[f"talksearch://talks/{ids['t01']}/transcript"].name == server.get(
        f"/api/talks/{ids['t01']}").json()["title"]
    [contents] = said["transcript"]
    assert contents.mime_type == "text/plain"
    transcript = server.get(f"/api/talks/{ids['t01']}/transcript").json()
    assert contents.text.splitlines() == [transcript["talk"]["title"], *(
        f"[{int(s['start']) // 60}:{int(s['start']) % 60:02d}] {s['text']}" for s in transcript["segments"])]
    assert "no talk '0123456789ab' in the library" in str(said["unknown"])
    assert [p.name for p in said["prompts"]] == ["find_moments"]
    assert [a.name for a in said["prompts"][0].arguments] == ["topic"] and said["prompts"][0].arguments[0].required
    [message] = said["prompt"]
    assert message.role == "user" and "power capping" in message.content.text and "search_talks" in message.content.text


def test_mcp_tools_state_their_limits_and_page_a_long_transcript(ids):
    """What an assistant needs to call the tools well: schemas that say what they take (no other argument, a
    query as long as the service reads, filters' sizes), a transcript in pages (an hour's talk was 150,000
    characters at once), each moment's score, and an empty answer that says when its filters match no talk."""
    server = read_server()
    api_whole = server.get(f"/api/talks/{ids['t01']}/transcript").json()["segments"]
    api_found = server.get("/api/search", params={"q": QUERY, "limit": 3}).json()["results"]

    async def run() -> dict:
        async with httpx2.AsyncClient(timeout=120) as client, \
                streamable_http_client(f"{server.base}/mcp", http_client=client) as (read, write), \
                ClientSession(read, write) as session:
            await session.initialize()
            call = session.call_tool
            pages, start = [], None
            while len(pages) < len(api_whole):  # at most one page per sentence
                pages.append(_structured(await call("get_transcript", {"talk_id": ids["t01"], "max_sentences": 2}
                                                    | ({"start": start} if start is not None else {}))))
                if (start := pages[-1]["next_start"]) is None:
                    break
            return {
                "tools": {t.name: t.input_schema for t in (await session.list_tools()).tools},
                "pages": pages,
                # a talk id pasted with spaces around it
                "whole": _structured(await call("get_transcript", {"talk_id": f"  {ids['t01']}\n"})),
                "found": _structured(await call("search_talks", {"query": QUERY, "limit": 3})),
                "long_query": await call("search_talks", {"query": "x" * 501}),
                # one value as a string, as models often pass it
                "one_talk": _structured(await call("list_talks", {"talk": ids["t02"]})),
                "no_event": _structured(await call("search_talks", {"query": QUERY, "event": "KubeCon"})),
                "no_speaker": _structured(await call("list_talks", {"speaker": ["Nobody Here"],
                                                                    "published_after": "2020-01-01"})),
                "matched_nothing": _structured(await call("search_talks", {"query": QUERY, "talk": [ids["t02"]],
                                                                           "offset": 10_000})),
                "many_values": await call("list_talks", {"speaker": ["x"] * 51}),
                "long_value": await call("list_talks", {"speaker": ["x" * 201]}),
            }

    answers = anyio.run(run)
    tools = answers["tools"]
    assert {name: schema.get("additionalProperties") for name, schema in tools.items()} == dict.fromkeys(tools, False)
    assert tools["search_talks"]["properties"]["query"]["maxLength"] == 500  # the service's max_query_chars
    speaker = next(s for s in tools["list_talks"]["properties"]["speaker"]["anyOf"] if s["type"] == "array")
    assert (speaker["maxItems"], speaker["items"]["maxLength"]) == (50, 200)
    cap = tools["get_transcript"]["properties"]["max_sentences"]
    assert (cap["default"], cap["maximum"]) == (200, 1000)

    pages, whole = answers["pages"], answers["whole"]
    assert len(api_whole) > 2 and len(pages) == -(-len(api_whole) // 2), pages  # every page but the last is full
    assert all(len(page["sentences"]) == 2 for page in pages[:-1]) and pages[-1]["next_start"] is None
    assert [s["text"] for page in pages for s in page["sentences"]] == [s["text"] for s in api_whole]
    assert whole["next_start"] is None and [s["text"] for s in whole["sentences"]] == [s["text"] for s in api_whole]
    assert all(set(s) == {"start", "end", "text"} for s in whole["sentences"])  # no translation asked: none

    assert [m["score"] for m in answers["found"]["moments"]] == [r["score"] for r in api_found]
    assert "note" not in answers["found"]
    long_query = answers["long_query"]
    assert long_query.is_error and long_query.content[0].text == \
        "cannot search: the query is longer than 500 characters", long_query.content
    assert [t["id"] for t in answers["one_talk"]["talks"]] == [ids["t02"]]

    lists = "; list_talks without them shows the talks' events and speakers"
    assert answers["no_event"]["moments"] == []
    assert answers["no_event"]["note"] == "no talk matches the filters (event: KubeCon)" + lists
    assert answers["no_speaker"]["total"] == 0
    assert answers["no_speaker"]["note"] == \
        "no talk matches the filters (speaker: Nobody Here; published_after: 2020-01-01)" + lists
    # filters that match a talk: an empty page is no note
    assert answers["matched_nothing"]["moments"] == [] and "note" not in answers["matched_nothing"]
    said = [(answers[name].is_error, answers[name].content[0].text) for name in ("many_values", "long_value")]
    assert said == [(True, "speaker: List should have at most 50 items after validation, not 51"),
                    (True, "speaker.0: String should have at most 200 characters")], said


def _preflight(server, path: str, origin: str, method: str, headers: str) -> httpx.Response:
    return server.client.options(path, headers={"Origin": origin, "Access-Control-Request-Method": method,
                                                "Access-Control-Request-Headers": headers})


def test_mcp_can_be_called_from_other_origins_the_admin_api_cannot():
    """/mcp is public and tokenless, like the read API: a page elsewhere may POST JSON-RPC to it with the
    transport's headers (its preflight was refused: "GET, HEAD" only). The admin API's methods and its
    Authorization header stay refused, and an operator's list of origins holds for /mcp too."""
    server, site = read_server(), "https://assistant.example"
    transport = "content-type,mcp-protocol-version,mcp-session-id,mcp-method,mcp-name"
    allowed = _preflight(server, "/mcp", site, "POST", transport)
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-methods"] == "POST"
    assert {"mcp-protocol-version", "mcp-session-id", "mcp-method", "mcp-name"} <= {
        h.strip().lower() for h in allowed.headers["access-control-allow-headers"].split(",")}
    for path, method, headers in (("/mcp", "POST", "authorization,content-type"), ("/mcp", "PUT", "content-type"),
                                  ("/api/index", "POST", "authorization,content-type"),
                                  ("/api/index", "POST", "content-type"),
                                  ("/api/talks/x", "DELETE", "authorization"), ("/api/search", "POST", "content-type")):
        assert_error(_preflight(server, path, site, method, headers), 400, "cors_refused")

    call = server.client.post("/mcp", headers={**MCP_HEADERS, "Origin": site, "Content-Type": "application/json"},
                              content=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
    assert call.status_code == 200 and call.headers["access-control-allow-origin"] == "*"
    assert "retry-after" in call.headers["access-control-expose-headers"].lower()  # a 429 says when to come back

    locked = locked_down_server()  # CORS for https://allowed.example only
    assert _preflight(locked, "/mcp", "https://allowed.example", "POST", transport).status_code == 200
    refused = assert_error(_preflight(locked, "/mcp", site, "POST", transport), 400, "cors_refused")
    assert "/mcp" in refused["message"], refused


def test_mcp_transport_is_not_in_openapi():
    assert "/mcp" not in read_server().get("/openapi.json").json()["paths"]


def test_mcp_get_is_refused_not_an_endless_stream():
    """Stateless JSON answers offer no server-to-client stream: GET is 405 (as the streamable-HTTP transport
    allows), in the service's error shape, naming the method that works; DELETE (no session to end) alike."""
    with read_server().client.stream("GET", "/mcp", headers={"Accept": "text/event-stream"}) as response:
        # Checked before reading: the endless stream's body would never end.
        assert response.status_code == 405, response.headers
        response.read()
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"
    # DELETE (a session's end: stateless answers hold none) alike; it was 405 with no Allow and no error shape
    deleted = read_server().client.delete("/mcp", headers=MCP_HEADERS)
    assert_error(deleted, 405, "method_not_allowed")
    assert deleted.headers["allow"] == "POST"


def test_mcp_follows_the_services_rate_limit():
    """Each request spends a token; a notification, which runs no search, spends none. A refused request is a
    429 with a JSON-RPC error naming it, which the SDK's client raises with its message (a body in the API's
    error shape it reported as "Server returned an error response")."""
    with serving(settings_for(shared_library(), rate_limit_per_minute=2)) as server:
        notification = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert {server.client.post("/mcp", json=notification, headers=MCP_HEADERS).status_code
                for _ in range(5)} == {202}
        call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                "params": {"name": "search_talks", "arguments": {"query": QUERY, "limit": 1}}}
        answers = [server.client.post("/mcp", json=call, headers=MCP_HEADERS) for _ in range(3)]
        assert [a.status_code for a in answers[:2]] == [200, 200], [a.text for a in answers]
        assert answers[0].json()["result"]["structuredContent"]["moments"]  # a real search was answered
        refused = answers[2]
        assert refused.status_code == 429 and refused.headers["content-type"] == "application/json"
        retry_after = int(refused.headers["retry-after"])
        assert 1 <= retry_after <= 30
        assert refused.json() == {"jsonrpc": "2.0", "id": 7, "error": {"code": -32000, "message": (
            f"too many searches from this address (at most 2 a minute); try again in {retry_after} s")}}

        async def handshake() -> MCPError | None:
            async with httpx2.AsyncClient(timeout=60) as client, \
                    streamable_http_client(f"{server.base}/mcp", http_client=client) as (read, write), \
                    ClientSession(read, write) as session:
                try:
                    await session.initialize()
                except MCPError as refusal:
                    return refusal
            return None

        refusal = anyio.run(handshake)
        assert refusal is not None and refusal.error.code == -32000, refusal
        assert re.fullmatch(r"too many searches from this address \(at most 2 a minute\); try again in \d+ s",
                            refusal.error.message), refusal


def test_mcp_gives_what_the_http_api_gives_of_a_translated_talk(tmp_path):
    """A talk's `language` and `transcript_source`, a moment's `translation` (a talk indexed with --translate) and,
    asked for, the transcript's English: the same names and values as the HTTP API's JSON. An English-speaking
    assistant is otherwise handed German with nothing to mark it, and no way to the English the library holds."""
    from talksearch.indexer.passages import embedding_texts, make_passages
    from talksearch.library import Library, Segment, Talk
    from tests.test_languages import _german_talk_with_english

    german, embedder = _german_talk_with_english(tmp_path / "lib", [
        Segment(0, 3, "Die Speicherbandbreite begrenzt das Programm.",
                translation="Memory bandwidth limits the program."),
        Segment(3, 6, "Wir messen zuerst.", translation="We measure first.")])
    with Library.open(tmp_path / "lib") as library:  # a talk indexed without --translate
        library.acquire_writer()
        spanish = Talk("Generic", "es", "http://example.org/es.mp3", "Memoria", language="es",
                       embed_model=embedder.name, transcript_source="whisper small")
        said = [Segment(0, 3, "La memoria limita el programa.")]
        passages = make_passages(said)
        library.add_talk(spanish, said, passages, embedder.passages(embedding_texts(passages, {"title": "Memoria"})))

    with serving(settings_for(tmp_path / "lib")) as server:
        async def run() -> dict:
            async with httpx2.AsyncClient(timeout=120) as client, \
                    streamable_http_client(f"{server.base}/mcp", http_client=client) as (read, write), \
                    ClientSession(read, write) as session:
                await session.initialize()
                tools = {t.name: t for t in (await session.list_tools()).tools}
                call = session.call_tool
                return {
                    "tools": tools,
                    "listing": _structured(await call("list_talks", {})),
                    "blank_language": _structured(await call("list_talks", {"language": [""]})),
                    "found": _structured(await call("search_talks",
                                                    {"query": "memory bandwidth", "talk": [german.id]})),
                    "english": _structured(await call("get_transcript", {"talk_id": german.id, "translation": True})),
                    "german": _structured(await call("get_transcript", {"talk_id": german.id})),
                    "no_english": await call("get_transcript", {"talk_id": spanish.id, "translation": True}),
                }

        answers = anyio.run(run)
        api_talks = {t["id"]: t for t in server.get("/api/talks").json()["talks"]}
        api_hit = server.get("/api/search", params={"q": "memory bandwidth", "talk": german.id}).json()["results"][0]
        api_english = server.get(f"/api/talks/{german.id}/transcript", params={"translation": 1}).json()
        # A blank value is no filter in the HTTP API (filter_values): the same here, not a refusal.
        api_blank = server.get("/api/talks", params={"language": ""}).json()

    listed = {t["id"]: t for t in answers["listing"]["talks"]}
    assert listed == {i: {k: v for k, v in t.items() if k not in PLAYER_ONLY} for i, t in api_talks.items()}
    assert (listed[german.id]["language"], listed[spanish.id]["language"]) == ("de", "es")
    assert listed[spanish.id]["transcript_source"] == "whisper small"
    assert answers["blank_language"]["total"] == api_blank["total"] == 2

    moment = answers["found"]["moments"][0]
    assert (moment["text"], moment["translation"]) == (api_hit["text"], api_hit["translation"])
    assert moment["translation"].startswith("Memory bandwidth") and moment["talk"]["language"] == "de"

    assert [(s["text"], s["translation"]) for s in answers["english"]["sentences"]] == \
        [(s["text"], s["translation"]) for s in api_english["segments"]] == \
        [("Die Speicherbandbreite begrenzt das Programm.", "Memory bandwidth limits the program."),
         ("Wir messen zuerst.", "We measure first.")]
    # the original only: no `"translation": null` on each sentence of an answer that did not ask for it
    assert [set(s) for s in answers["german"]["sentences"]] == [{"start", "end", "text"}] * 2
    refused = answers["no_english"]
    assert refused.is_error and "has no English translation" in refused.content[0].text, refused.content

    tools = answers["tools"]
    assert tools["get_transcript"].input_schema["properties"]["translation"]["type"] == "boolean"
    assert "language" in tools["list_talks"].description and "translation" in tools["search_talks"].description


def test_a_transcript_comes_with_the_talks_chapters_and_description(german_site):
    """Where the parts of a long talk are, as its talk page shows them beside the transcript: an assistant reads a
    chapter with start and end rather than the whole talk."""
    server, talk_id = german_site

    async def run() -> dict:
        async with httpx2.AsyncClient(timeout=120) as client, \
                streamable_http_client(f"{server.base}/mcp", http_client=client) as (read, write), \
                ClientSession(read, write) as session:
            await session.initialize()
            first = _structured(await session.call_tool("get_transcript", {"talk_id": talk_id, "max_sentences": 1}))
            later = _structured(await session.call_tool("get_transcript", {"talk_id": talk_id, "start": 6}))
            return first, later

    answer, later = anyio.run(run)
    assert answer["chapters"] == [{"start": 0.0, "end": 5.0, "title": "Begrüßung"},
                                  {"start": 5.0, "end": 15.0, "title": "Aufteilung der Grafikkarten"}]
    assert answer["description"] == "Ein Vortrag über die gemeinsame Nutzung von Grafikkarten."
    # read from a moment on: the chapter it reads in, no description again (a day-long stream's hundreds of
    # chapters came with every page: a chapters hunt)
    assert later["sentences"] and later["chapters"] == [{"start": 5.0, "end": 15.0, "title": "Aufteilung der Grafikkarten"}]
    assert later.get("description") is None



def test_a_private_librarys_mcp_answers_only_its_own_origins():
    """DNS rebinding: a page on a host name an attacker points at the service (Host and Origin both that name) is
    same-origin to the browser, so CORS never stops it reading what /mcp answers. With TALKSEARCH_CORS_ORIGINS a
    list, a POST that carries an Origin is answered only for an origin in the list, the public URL's or a loopback
    one; a client that sends no Origin (no browser) is answered as before, and the default (any origin) is open."""
    locked = locked_down_server()  # CORS for https://allowed.example only
    port = urlsplit(locked.base).port
    call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})

    def post(server, origin: str | None, host: str | None = None) -> httpx.Response:
        headers = {**MCP_HEADERS, "Content-Type": "application/json"}
        headers |= {"Origin": origin} if origin else {}
        headers |= {"Host": host} if host else {}
        return server.client.post("/mcp", content=call, headers=headers)

    rebound = post(locked, f"http://attacker.example:{port}", f"attacker.example:{port}")
    assert rebound.status_code == 403 and rebound.headers["content-type"] == "application/json", rebound.text[:300]
    assert rebound.json() == {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": (
        f"Forbidden: the origin http://attacker.example:{port} may not call /mcp (TALKSEARCH_CORS_ORIGINS lists the "
        "origins that may)")}}
    assert post(locked, "null").status_code == 403  # a sandboxed frame's page
    for origin in ("https://allowed.example", f"http://127.0.0.1:{port}", "http://localhost:3000",
                   "https://localhost", "http://[::1]:8080", None):
        answered = post(locked, origin)
        assert answered.status_code == 200 and len(answered.json()["result"]["tools"]) == 3, (origin, answered.text)
    # Any origin (the default): nothing is private, as docs/service.md says
    assert post(read_server(), f"http://attacker.example:{port}", f"attacker.example:{port}").status_code == 200

    with serving(settings_for(shared_library(), cors_origins=[], public_url="https://talks.example.org")) as site:
        assert post(site, "https://talks.example.org").status_code == 200  # the service's own pages
        assert post(site, "https://other.example").status_code == 403


def _prompt_calls() -> list[tuple[str, dict]]:
    return [("find_moment", {"topic": "power capping"}), ("find_moments", {}),
            ("find_moments", {"topic": "power capping", "topics": "x"})]


PROMPT_REFUSALS = ["unknown prompt find_moment (did you mean find_moments?)", "topic: Field required",
                   "topics: not an argument of find_moments (did you mean topic?)"]


def test_a_prompt_asked_wrongly_is_refused_in_one_line(caplog):
    """An unknown prompt, a missing or an extra argument: invalid params (-32602) in one line, worded as the tools'
    refusals are, over HTTP (either protocol era) and stdio; no traceback in the log. They were -32603 "Internal
    server error" (2026-07-28) or code 0, each with a traceback logged."""
    server = read_server()

    async def refusals(client: Client) -> list[tuple[int, str]]:
        said = []
        async with client:
            for name, arguments in _prompt_calls():
                with pytest.raises(MCPError) as refused:
                    await client.get_prompt(name, arguments)
                said.append((refused.value.error.code, refused.value.error.message))
        return said

    with caplog.at_level("INFO"):
        modern = anyio.run(refusals, Client(f"{server.base}/mcp"))
        legacy = anyio.run(refusals, Client(f"{server.base}/mcp", mode="legacy"))
    expected = [(-32602, message) for message in PROMPT_REFUSALS]
    assert modern == expected and legacy == expected, (modern, legacy)
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]

    answers, log = _stdio_run(*(json.dumps({"jsonrpc": "2.0", "id": i, "method": "prompts/get",
                                            "params": {"name": name, "arguments": arguments}})
                                for i, (name, arguments) in enumerate(_prompt_calls(), 2)))
    assert [(answers[i]["error"]["code"], answers[i]["error"]["message"]) for i in (2, 3, 4)] == expected, answers
    assert "Traceback" not in log, log


def test_mcp_offers_no_subscriptions_it_cannot_keep():
    """Stateless JSON answers hold no stream to the client: on 2026-07-28 the server advertised resource
    subscriptions and list changes and held each subscriptions/listen open forever. Now it says false, as the
    handshake-era answer did, and refuses to listen."""
    server = read_server()

    async def run(mode: str) -> tuple:
        async with Client(f"{server.base}/mcp", mode=mode, read_timeout_seconds=30) as client:
            said = client.server_capabilities
            refused = None
            if mode == "auto":
                with anyio.fail_after(60):
                    try:
                        async with client.listen(tools_list_changed=True, resources_list_changed=True):
                            pass
                    except MCPError as exc:
                        refused = exc.error
            return said, refused

    for mode in ("auto", "legacy"):
        capabilities, refused = anyio.run(run, mode)
        assert not capabilities.resources.subscribe and not capabilities.resources.list_changed, (mode, capabilities)
        assert not capabilities.tools.list_changed and not capabilities.prompts.list_changed, (mode, capabilities)
        if mode == "auto":
            assert refused is not None and refused.code == -32601, refused  # method not found


def test_a_transcript_says_who_speaks_as_the_api_does(tmp_path):
    """A talk whose captions name its speakers: get_transcript's sentences carry `speaker` as the API's segments
    do (none where the captions name no one), and the transcript resource writes "Name: " where a speaker starts,
    as the .txt export does. Both dropped it."""
    from talksearch.library import Segment
    from tests.test_languages import _german_talk_with_english

    talk, _ = _german_talk_with_english(tmp_path / "lib", [
        Segment(0, 3, "Die Speicherbandbreite begrenzt das Programm.", speaker="Anna Weber"),
        Segment(3, 6, "Wir messen zuerst.", speaker="Anna Weber"),
        Segment(6, 9, "Und dann?", speaker="Jonas Beck"),
        Segment(9, 12, "Dann optimieren wir.")])
    with serving(settings_for(tmp_path / "lib")) as server:
        async def run() -> tuple:
            async with Client(f"{server.base}/mcp") as client:
                tools = {t.name: t for t in (await client.list_tools()).tools}
                answer = _structured(await client.call_tool("get_transcript", {"talk_id": talk.id}))
                [contents] = (await client.read_resource(f"talksearch://talks/{talk.id}/transcript")).contents
                return tools, answer, contents.text

        tools, answer, resource = anyio.run(run)
        api = server.get(f"/api/talks/{talk.id}/transcript").json()["segments"]
        txt = server.get(f"/api/talks/{talk.id}/transcript.txt").text

    said = [{k: v for k, v in s.items() if k in ("start", "end", "text", "speaker") and v is not None} for s in api]
    assert answer["sentences"] == said, answer["sentences"]
    sentence_schema = tools["get_transcript"].output_schema["$defs"]["Sentence"]["properties"]
    assert "speaker" in sentence_schema and sentence_schema["speaker"]["description"], sentence_schema
    starts = ["0:00", "0:03", "0:06", "0:09"]
    assert resource.splitlines() == ["Speicher", *(f"[{start}] {line}"
                                                   for start, line in zip(starts, txt.splitlines()))]
    assert resource.splitlines()[1] == "[0:00] Anna Weber: Die Speicherbandbreite begrenzt das Programm.", resource

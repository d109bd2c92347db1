"""What a real `talksearch serve` logs for its operator: every line with its time and level in one format (text or
JSON lines), the access log only when asked for, and a client's malformed requests named by its address but not
one line each; /metrics with the process's own figures."""

from __future__ import annotations

import json
import re
import socket

import httpx
import pytest

from tests.helpers import ServedProcess, serve_process

# The server tests are marked models: serve loads the embedding model before it says it is serving.
MALFORMED = b"GET / HTTP/1.1\r\nHost: x\r\nbad header line\r\n\r\n"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")


def _send_malformed(base: str, times: int) -> None:
    """``times`` requests the server cannot read as HTTP, each on its own connection (its own client port)."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    for _ in range(times):
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            connection.sendall(MALFORMED)
            assert connection.recv(4096).startswith(b"HTTP/1.1 400")


def _after_start(served: ServedProcess) -> list[str]:
    """The lines logged after the "serving" line (those before it are the CLI's own, as before)."""
    start = next(i for i, line in enumerate(served.lines) if line.startswith("talksearch: serving "))
    return served.lines[start + 1:]


@pytest.mark.models
def test_json_lines_with_the_access_log_and_malformed_requests_said_once_per_client(tmp_path):
    """TALKSEARCH_LOG_FORMAT=json: each line one JSON object with time, level, logger and message, for uvicorn's
    lines and the app's alike. The access log names each request; three malformed requests from one address make
    one warning naming it, and are counted in /metrics."""
    env = {"TALKSEARCH_LOG_FORMAT": "json", "TALKSEARCH_CORS_ORIGINS": '["https://allowed.example"]'}
    with serve_process(tmp_path / "lib", env, ("--access-log", "--log-level", "info")) as served:
        refused = httpx.get(f"{served.url}/api/talks", headers={"Origin": "https://forgotten.example"})
        assert refused.status_code == 200
        _send_malformed(served.url, 3)
        metrics = httpx.get(f"{served.url}/metrics").text
    assert len(served.lines) > 1, served.lines
    entries = [json.loads(line) for line in served.lines]  # every one of them JSON, serve's own start line too
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= entry.keys(), entry
        assert TIMESTAMP.match(entry["time"]), entry
    assert [(e["level"], e["logger"]) for e in entries if e["message"].startswith("serving ")] == [
        ("INFO", "talksearch")], entries
    app_warning = [e for e in entries if "cross-origin" in e["message"]]
    assert [(e["level"], e["logger"]) for e in app_warning] == [("WARNING", "talksearch")], entries
    assert any(e["logger"] == "uvicorn.access" and '"GET /api/talks HTTP/1.1" 200' in e["message"]
               for e in entries), entries
    invalid = [e for e in entries if "Invalid HTTP request" in e["message"]]
    assert len(invalid) == 1 and invalid[0]["level"] == "WARNING", entries
    assert re.search(r"from 127\.0\.0\.1:\d+", invalid[0]["message"]), invalid
    assert "talksearch_unreadable_requests_total 3.0" in metrics, metrics


@pytest.mark.models
def test_text_lines_have_time_and_level_and_no_access_log_by_default(tmp_path):
    """By default: no access log (queries are in URLs), and uvicorn's lines and the app's share one format with
    a timestamp and level."""
    env = {"TALKSEARCH_CORS_ORIGINS": '["https://allowed.example"]'}
    with serve_process(tmp_path / "lib", env) as served:
        assert httpx.get(f"{served.url}/api/search", params={"q": "secret words"},
                         headers={"Origin": "https://forgotten.example"}).status_code == 200
        _send_malformed(served.url, 2)
    logged = _after_start(served)
    assert not [line for line in logged if "secret" in line or "GET /" in line], logged
    line_format = re.compile(r"^(\S+) (WARNING|ERROR|INFO) (talksearch|uvicorn\.error): (.+)$")
    said = [line_format.match(line) for line in logged]
    assert all(said) and all(TIMESTAMP.match(found.group(1)) for found in said), logged
    assert [found.group(2, 3) for found in said if "cross-origin" in found.group(4)] == [("WARNING", "talksearch")]
    invalid = [found.group(4) for found in said if "Invalid HTTP request" in found.group(4)]
    assert len(invalid) == 1 and re.search(r"from 127\.0\.0\.1:\d+", invalid[0]), logged


@pytest.mark.models
def test_metrics_show_the_process_and_no_created_series(tmp_path):
    """/metrics: the process's memory, open files and CPU (ProcessCollector), and no ``*_created`` series (a
    timestamp per labelled series that doubled what a scraper stores)."""
    with serve_process(tmp_path / "lib") as served:
        httpx.get(f"{served.url}/api/talks")
        body = httpx.get(f"{served.url}/metrics").text
    names = {line.split("{")[0].split()[0] for line in body.splitlines() if line and not line.startswith("#")}
    assert {"process_resident_memory_bytes", "process_open_fds", "process_cpu_seconds_total",
            "python_info"} <= names, sorted(names)
    assert not [name for name in names if name.endswith("_created")], sorted(names)


@pytest.mark.unit
def test_a_clients_unlogged_events_are_told_with_its_next_logged_one():
    """Within the window a client's events are counted, not logged; the next one logged says how many; other
    clients are logged apart; the addresses remembered stay bounded."""
    from talksearch.service.errors import OncePerClient

    once = OncePerClient(seconds=60, clients=2)
    assert [once.unlogged_before("10.0.0.1", now) for now in (0, 1, 59)] == [0, None, None]
    assert once.unlogged_before("10.0.0.2", 2) == 0
    assert once.unlogged_before("10.0.0.1", 61) == 2
    once.unlogged_before("10.0.0.3", 62)  # a third address: the least recently logged (10.0.0.2) is forgotten
    assert once.unlogged_before("10.0.0.1", 63) is None and once.unlogged_before("10.0.0.2", 64) == 0

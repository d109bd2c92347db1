"""Bad sources through the real CLI: each fails in one line (or indexes only what was spoken), the batch goes on.

One `talksearch index` run over a loopback server that misbehaves in every way a source can (HTTP errors, a
server that stalls before answering and one that stalls mid-download, HTML where media was expected, a text
file served as audio, a transfer cut short, a truncated file, a feed that lists a talk twice, an unsupported
scheme) plus local recordings with no speech in them (a melody, white noise, a buzz that rises and falls like
speech), generated with sox. The socket timeout is set to one second for the run (TALKSEARCH_SOCKET_TIMEOUT).
Memory on multi-hour recordings is shown on talksearch.indexer.audio.stream_audio directly: no hours are transcribed.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import ssl
import sqlite3
import subprocess
import sys
import threading
import tracemalloc

import numpy as np
import pytest

from talksearch.check import check_library
from talksearch.indexer.audio import SAMPLING_RATE, stream_audio
from tests.helpers import DATA, ROOT, TRUTH, talksearch

# What these check does not depend on the embedding model (conftest's light_embedding).
pytestmark = [pytest.mark.models, pytest.mark.usefixtures("light_embedding")]

T01 = (DATA / "t01.ogg").read_bytes()
TRUNCATED_BYTES = 20_000  # of t01's 53 KB: its first 8 s, the first sentence whole


class _Misbehaving(http.server.SimpleHTTPRequestHandler):
    release: threading.Event  # set at the end: stalled handlers give up their connections
    requests: dict

    def log_message(self, *args) -> None:
        pass

    def _stall(self) -> None:
        self.release.wait(120)
        self.close_connection = True

    def _head(self, length: int, kind: str = "audio/ogg") -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        count = self.requests[self.path] = self.requests.get(self.path, 0) + 1
        if self.path == "/error500.ogg":
            self.send_error(500)
        elif self.path in ("/busy-twice.ogg", "/rate-limited.ogg") and count <= (2 if "busy" in self.path else 1):
            # a server restarting, or a rate limit: come back in a second (the next requests are served)
            self.send_response(503 if "busy" in self.path else 429)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/trickle.xml":  # a feed sent a byte every half second: each read is quick enough
            feed = (DATA / "feed.xml").read_bytes()
            self._head(len(feed), "application/rss+xml")
            try:
                for byte in feed:
                    if self.release.wait(0.5):
                        break
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
            except OSError:  # the reader gave up
                pass
            self.close_connection = True
        elif self.path == "/closed-for-hours.ogg":  # come back in an hour: not waited for
            self.send_response(503)
            self.send_header("Retry-After", "3600")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/stall.ogg":  # accepts the connection, never answers
            self._stall()
        elif self.path == "/stall-midway.ogg":  # answers the first request (listing), stalls in the download
            self._head(len(T01))
            if count == 1:
                self.wfile.write(T01)
                return
            self.wfile.write(T01[:10_000])
            self.wfile.flush()
            self._stall()
        elif self.path == "/cut-short.ogg":  # promises the whole file, sends part of it, hangs up
            self._head(len(T01))
            self.wfile.write(T01[:TRUNCATED_BYTES])
            self.close_connection = True
        elif self.path in ("/page.html", "/page.mp3"):  # a web page where media was expected
            body = b"<!doctype html><html><head><title>Talks</title></head><body><p>Coming soon</p></body></html>"
            self._head(len(body), "text/html; charset=utf-8")
            self.wfile.write(body)
        elif self.path == "/notes.mp3":  # not media at all, served as if it were
            body = b"Speaker notes: not a recording.\n" * 40
            self._head(len(body), "audio/mpeg")
            self.wfile.write(body)
        else:
            super().do_GET()


@pytest.fixture(scope="module")
def bad_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-sources")
    shutil.copy(DATA / "t01.ogg", root / "t01.ogg")
    for name in ("busy-twice", "rate-limited"):
        shutil.copy(DATA / "t02.ogg", root / f"{name}.ogg")
    (root / "truncated.ogg").write_bytes(T01[:TRUNCATED_BYTES])
    release = threading.Event()
    handler = type("Handler", (_Misbehaving,), {"release": release, "requests": {}})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    server.daemon_threads = True
    base = f"http://127.0.0.1:{server.server_address[1]}"
    feed = (DATA / "feed.xml").read_text().replace("http://127.0.0.1:8765", base)
    t01_item, t02_item = re.findall(r"<item>.*?</item>", feed)
    (root / "twice.xml").write_text(feed.replace(t02_item, t01_item))  # the same enclosure listed twice
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield base
    release.set()
    server.shutdown()
    server.server_close()


def _sox(path, *effects: str) -> None:
    """Synthesise ``path`` with sox; -R: the same file every run (sox dithers with a random seed otherwise)."""
    subprocess.run(["sox", "-R", "-n", "-r", "16000", "-c", "1", str(path), *effects], check=True, capture_output=True)


@pytest.fixture(scope="module")
def no_speech(tmp_path_factory):
    """A few seconds each of a plucked melody, white noise, and a buzz whose loudness rises and falls at a
    syllable rate (it gets past the voice detector, and whisper hears "Thank you." in it)."""
    if shutil.which("sox") is None:
        pytest.skip("sox is not installed (scripts/test.sh installs it)")
    folder = tmp_path_factory.mktemp("no-speech")
    notes = [f"pluck {n}" for n in ("C4", "E4", "G4", "C5", "G4", "E4", "D4", "C4")]
    melody = []
    for note in notes:
        melody += ["synth", "0.5", *note.split(), ":"]
    _sox(folder / "melody.ogg", *melody[:-1])
    _sox(folder / "noise.ogg", "synth", "8", "whitenoise", "vol", "0.6")
    _sox(folder / "buzz.ogg", "synth", "10", "sawtooth", "200", "tremolo", "5", "90", "vol", "0.5")
    return folder


@pytest.fixture(scope="module")
def bad_run(bad_server, no_speech, tmp_path_factory):
    work = tmp_path_factory.mktemp("bad-run")
    (work / "sidecar").mkdir()
    shutil.copy(DATA / "t02.ogg", work / "sidecar" / "talk.ogg")
    (work / "sidecar" / "talk.info.json").write_text("[1, 2]")  # JSON, but not the object yt-dlp writes
    sources = {
        "500": f"{bad_server}/error500.ogg",
        "busy": f"{bad_server}/busy-twice.ogg",
        "rate-limited": f"{bad_server}/rate-limited.ogg",
        "closed": f"{bad_server}/closed-for-hours.ogg",
        "stall": f"{bad_server}/stall.ogg",
        "stall-midway": f"{bad_server}/stall-midway.ogg",
        "html": f"{bad_server}/page.html",
        "html-as-mp3": f"{bad_server}/page.mp3",
        "not-media": f"{bad_server}/notes.mp3",
        "cut-short": f"{bad_server}/cut-short.ogg",
        "truncated": f"{bad_server}/truncated.ogg",
        "twice": f"{bad_server}/twice.xml",
        "unsupported": "ftp://127.0.0.1:9/talk.mp3",
        "no-host": "http://",
        "bad-ipv6": "http://[::1",  # urllib cannot even split it
        "file-without-path": "file://",  # not the current directory
        "bad-port": "http://127.0.0.1:99999/talk.mp3",
        "file-url": (work / "sidecar" / "talk.ogg").as_uri(),  # yt-dlp refuses file:// URLs: read as the file
        "melody": str(no_speech / "melody.ogg"),
        "noise": str(no_speech / "noise.ogg"),
        "buzz": str(no_speech / "buzz.ogg"),
    }
    listing = work / "sources.txt"
    listing.write_text("\n".join(sources.values()) + "\n")
    library = work / "library"
    result = talksearch("index", "--from-file", str(listing), "--library", str(library),
                        env={"TALKSEARCH_SOCKET_TIMEOUT": "1"})
    lines = [line for line in result.stdout.splitlines() if line.startswith(("added", "skipped", "failed"))]
    return result, lines, library


def _line(lines: list[str], needle: str) -> str:
    found = [line for line in lines if needle in line]
    assert len(found) == 1, (needle, lines)
    return found[0]


def test_every_bad_source_gets_one_clear_line_and_the_batch_finishes(bad_run):
    result, lines, _ = bad_run
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert len(lines) == 22, result.stdout  # 21 sources, the feed naming its talk twice
    assert "5 added, 1 skipped, 16 failed" in result.stdout, result.stdout

    assert _line(lines, "error500.ogg").startswith("failed") and "HTTP Error 500" in _line(lines, "error500.ogg")
    # asked again after the pause the server asks for: a restart's 503s and a rate limit's 429 cost no talk
    assert _line(lines, "busy-twice").startswith("added") and _line(lines, "rate-limited").startswith("added")
    closed = _line(lines, "closed-for-hours")
    assert closed.startswith("failed") and "HTTP Error 503" in closed and "asks to be asked again in 1:00:00" in closed
    assert "timed out" in _line(lines, "/stall.ogg").lower()
    midway = _line(lines, "stall-midway")
    assert midway.startswith("failed") and "timed out" in midway.lower() and "retries" in midway
    for page in ("page.html", "page.mp3"):
        assert _line(lines, page).startswith("failed") and "Unsupported URL" in _line(lines, page)
    assert _line(lines, "notes").startswith("failed") and "not readable as audio" in _line(lines, "notes")
    assert "ffmpeg cannot decode it" in _line(lines, "notes") and "Errno" not in _line(lines, "notes")
    cut = _line(lines, "cut-short")
    assert cut.startswith("failed") and re.search(r"\d+ bytes read, \d+ more expected", cut), cut
    assert "the transfer stopped short" in cut and "Got error" not in cut, cut
    assert _line(lines, "ftp://").startswith("failed")
    assert _line(lines, "http://: ").startswith("failed") and "No host supplied" in _line(lines, "http://: ")
    assert _line(lines, ":99999").startswith("failed")
    assert _line(lines, "http://[::1").startswith("failed") and "not a valid URL" in _line(lines, "http://[::1")
    assert _line(lines, "file://: ") == "failed  file://: a file:// URL without a path"
    assert _line(lines, "talk (").startswith("added")  # the file:// source, its unusable sidecar left aside
    for line in lines:  # one line each, without yt-dlp's repeated causes or ANSI colours
        assert "caused by" not in line and "\x1b" not in line and "HTTPConnectionPool" not in line


# The CLI with the deadline on reading a feed or page cut from a minute to 3 s: the one thing changed.
_SHORT_DEADLINE = """
import sys
from talksearch.indexer import sources
sources._URL_DEADLINE_S = 3
from talksearch.cli import main
main(sys.argv[1:], prog_name="talksearch")
"""


def test_a_feed_sent_a_byte_at_a_time_is_given_up_in_one_line(bad_server, tmp_path):
    """Each byte came within the socket's timeout, so the read never timed out: a 550-byte feed took half an hour,
    and one that never ends held the run (and the library's writer lock) for ever."""
    result = subprocess.run([sys.executable, "-c", _SHORT_DEADLINE, "index", f"{bad_server}/trickle.xml",
                             "--library", str(tmp_path / "lib")], capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"failed  {bad_server}/trickle.xml: reading the page or feed took longer than 3 s" in result.stdout, (
        result.stdout + result.stderr)
    assert "Traceback" not in result.stderr


def test_a_talk_listed_twice_in_a_feed_is_indexed_once(bad_run):
    _, lines, library = bad_run
    title = TRUTH["t01"]["title"]
    # Talks are processed side by side, so the skip may be reported before the first copy is added.
    assert sorted(line.split(title)[0].strip() for line in lines if title in line) == ["added", "skipped"]
    assert _line(lines, "listed twice in this run").startswith(f"skipped {title}")
    db = sqlite3.connect(library / "catalog.sqlite")
    assert db.execute("SELECT count(*) FROM talks WHERE title = ?", (title,)).fetchone()[0] == 1


def test_no_speech_indexes_nothing(bad_run):
    """Music, noise and a speech-like buzz: 'no speech found', nothing hallucinated reaches the catalog."""
    _, lines, library = bad_run
    for name in ("melody", "noise", "buzz"):  # local files are labelled with their paths
        line = _line(lines, f"/{name}.ogg: ")
        assert line.startswith("failed") and line.endswith("no speech found"), line
    db = sqlite3.connect(library / "catalog.sqlite")
    titles = {row[0] for row in db.execute("SELECT title FROM talks")}
    # "talk": the file:// source; busy-twice and rate-limited: served once the server was no longer busy
    assert titles == {TRUTH["t01"]["title"], "truncated", "talk", "busy-twice", "rate-limited"}
    assert "thank you" not in " ".join(r[0].lower() for r in db.execute("SELECT text FROM passages"))


def test_a_buzz_with_a_talks_title_is_not_heard_as_the_title(no_speech, tmp_path):
    """The talk's own words are whisper's prompt, which makes it surer there is speech: before the prompt-free
    check, this buzz, titled like a talk, was indexed as "On a Campus Cluster"."""
    buzz = tmp_path / "titled.ogg"
    _sox(buzz, "synth", "10", "sawtooth", "120", "tremolo", "7", "90", "vol", "0.8")
    title = "Watts per Job: Power Capping and Energy-Aware Scheduling on a Campus Cluster"
    (tmp_path / "titled.info.json").write_text(json.dumps({"title": title}))
    result = talksearch("index", str(buzz), "--library", str(tmp_path / "library"))
    assert result.returncode == 1 and "no speech found" in result.stdout, result.stdout + result.stderr


def test_speech_under_a_title_that_silences_whisper_is_still_heard(tmp_path):
    """The title is whisper's prompt, and a meaningless one can silence it: tiny.en finds no speech in this
    recording (espeak-ng: "InfiniBand partition keys isolate tenants on a shared fabric…") under a file's
    one-letter name, and transcribes it whole without a prompt. No speech found under the prompt is asked again
    without it."""
    talk = tmp_path / "c.mp3"  # no .info.json: the title is the file's name
    shutil.copy(DATA / "hushed-by-prompt.mp3", talk)
    result = talksearch("index", str(talk), "--library", str(tmp_path / "library"), "--whisper-model", "tiny.en")
    assert result.returncode == 0 and result.stdout.startswith("added"), result.stdout + result.stderr
    text = talksearch("export", re.search(r"\((\w{12}),", result.stdout)[1], "--library", str(tmp_path / "library"))
    assert "partition" in text.stdout.lower(), text.stdout


def test_a_talk_whisper_fails_on_says_why_its_captions_were_not_used(no_speech, tmp_path):
    """Its captions were the way to index it: the failed line says why they were not used, as an added line does."""
    noise = tmp_path / "noise.ogg"
    shutil.copy(no_speech / "noise.ogg", noise)
    (tmp_path / "noise.vtt").write_text("WEBVTT\n\n00:00:01.000 --> 00:02:00.000\nThe whole talk in one cue.\n")
    result = talksearch("index", str(noise), "--library", str(tmp_path / "library"))
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if "noise.ogg" in line]
    assert line.startswith("failed") and "no speech found; uploaded captions not used: cues run to 2:00" in line, line


def test_a_truncated_file_indexes_what_it_holds_and_no_more(bad_run):
    _, lines, library = bad_run
    assert _line(lines, "truncated").startswith("added")
    talks = json.loads(talksearch("talks", "--library", str(library), "--json").stdout)["talks"]
    talk = next(t for t in talks if t["title"] == "truncated")
    assert talk["duration"] < TRUTH["t01"]["duration"] / 2
    transcript = json.loads(talksearch("export", talk["id"], "--library", str(library), "--format", "json").stdout)
    text = " ".join(s["text"] for s in transcript["segments"]).lower()
    assert "ocean simulations" in text  # the first sentence, which the truncated file holds whole
    assert "manifest" not in text and "restarting" not in text  # later sentences it does not hold
    assert all(w["end"] <= talk["duration"] + 0.5 for s in transcript["segments"] for w in s["words"])
    assert check_library(library).clean


# --- multi-hour recordings: bounded memory ----------------------------------------------------------


def test_long_recordings_stream_in_bounded_chunks_cut_in_pauses(tmp_path):
    """A 12-minute file (4 s tone, 1 s pause, repeated) decoded in 30 s chunks: the pieces tile the
    recording exactly, each cut lands in a pause, and memory stays a small fraction of the decoded whole."""
    if shutil.which("sox") is None:
        pytest.skip("sox is not installed (scripts/test.sh installs it)")
    minutes, chunk, search = 12, 30.0, 5.0
    path = tmp_path / "long.wav"
    _sox(path, "synth", "4", "sine", "440", "vol", "0.5", "pad", "0", "1", "repeat", str(minutes * 12 - 1))
    whole_bytes = minutes * 60 * SAMPLING_RATE * 4  # float32, as decode_audio would hold it

    tracemalloc.start()
    try:
        pieces, expected_offset = [], 0
        for offset, samples in stream_audio(str(path), chunk_seconds=chunk, search_seconds=search):
            assert offset * SAMPLING_RATE == pytest.approx(expected_offset)  # no gap, no overlap
            assert len(samples) <= (chunk + search) * SAMPLING_RATE
            pieces.append((offset, len(samples), float(np.abs(samples[-400:]).max()), float(np.abs(samples[:400]).max())))
            expected_offset += len(samples)
            del samples
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert expected_offset == minutes * 60 * SAMPLING_RATE  # every sample, once
    assert len(pieces) >= minutes * 60 / (chunk + search)
    for before, after in zip(pieces, pieces[1:]):  # cut in a pause: silence on both sides of every cut
        assert before[2] < 1e-3 and after[3] < 1e-3, (before, after)
    assert peak < whole_bytes / 5, f"peak {peak / 1e6:.1f} MB for a {whole_bytes / 1e6:.0f} MB recording"



# --- local files that are not recordings -----------------------------------------------------------------


def test_a_local_file_that_is_not_a_recording_is_refused_even_with_captions(tmp_path):
    """Captions beside a "recording" supply its words, so nothing else opened it: a link to /etc/passwd or an
    HTML page named .mp3 was indexed, and the service's /media then served it. Each is refused in one line;
    a link to a real recording (people link their recordings in) is indexed as before."""
    folder = tmp_path / "talks"
    folder.mkdir()
    (tmp_path / "payload.html").write_text("<!doctype html><script>alert(document.domain)</script>\n")
    shutil.copy(DATA / "t01.ogg", tmp_path / "real.ogg")
    (folder / "passwd.mp3").symlink_to("/etc/passwd")
    (folder / "page.mp3").symlink_to(tmp_path / "payload.html")
    (folder / "linked.ogg").symlink_to(tmp_path / "real.ogg")
    (folder / "notes.mp3").write_text("Speaker notes: not a recording.\n" * 40)
    cues = "\n\n".join(f"00:00:{int(s['start']):02d}.000 --> 00:00:{int(s['end']):02d}.000\n{s['text']}"
                       for s in TRUTH["t01"]["sentences"])
    for name in ("passwd", "page", "linked", "notes"):
        (folder / f"{name}.vtt").write_text("WEBVTT\n\n" + cues + "\n")
    library = tmp_path / "library"
    result = talksearch("index", str(folder), "--library", str(library))
    output = result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith(("added", "skipped", "failed"))]
    assert result.returncode == 1 and "Traceback" not in output, output
    for name in ("passwd", "page", "notes"):
        refused = _line(lines, f"/{name}.mp3: ")
        # refused before ffmpeg opens it: no recording of a type /media serves begins so
        assert refused == (f"failed  {folder / name}.mp3: not readable as audio or video (not a recording of a type "
                           "talksearch plays)"), refused
    assert _line(lines, "linked").startswith("added")
    db = sqlite3.connect(library / "catalog.sqlite")
    # the path as given (the link), not resolved: a linked folder re-pointed later is the same path
    assert [row[0] for row in db.execute("SELECT media_url FROM talks")] == [(folder / "linked.ogg").as_uri()]


def test_a_recordings_info_json_is_read_as_utf8_whatever_the_locale(tmp_path):
    """A hand-placed <name>.info.json is JSON, so UTF-8: read in the locale's encoding, a latin-1 locale stored
    "GrÃ¼Ãe" for "Grüße" in the catalog for good, and an ASCII one dropped the file as unreadable."""
    sidecar = tmp_path / "talk.info.json"
    sidecar.write_text(json.dumps({"title": "Grüße aus Köln – Vortrag"}, ensure_ascii=False), encoding="utf-8")
    read = "from pathlib import Path; import sys; from talksearch.indexer.talk_details import _sidecar_info; " \
           "print(ascii(_sidecar_info(Path(sys.argv[1])).get('title')))"
    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": "ascii"}  # Python's text default: ASCII
    result = subprocess.run([sys.executable, "-c", read, str(sidecar)], capture_output=True, text=True, env=env,
                            cwd=ROOT, timeout=60)
    assert result.stdout.strip() == ascii("Grüße aus Köln – Vortrag"), result.stdout + result.stderr


@pytest.fixture(scope="module")
def self_signed_server(tmp_path_factory):
    """An HTTPS server whose certificate no authority signed (made with openssl, for 127.0.0.1)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    shutil.copy(DATA / "t01.ogg", folder / "t01.ogg")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")], check=True,
                   capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_unusable_urls_say_why_in_their_own_words(bad_server, self_signed_server, tmp_path):
    """TLS failures say what failed without yt-dlp's "(caused by ...)" and its plea to report a bug; a page without
    media says so; a file:// URL naming no file is not called "not a URL"; a source list's trailing comment is no
    part of its URL."""
    plain_as_https = bad_server.replace("http://", "https://") + "/t01.ogg"
    missing = (tmp_path / "nope.mp3").as_uri()
    listing = tmp_path / "sources.txt"
    listing.write_text(f"{self_signed_server}/t01.ogg\n{plain_as_https}\t# TLS to a plain HTTP port\n"
                       f"{bad_server}/page.html  # the keynote\n{missing} #gone\n")
    result = talksearch("index", "--from-file", str(listing), "--library", str(tmp_path / "library"),
                        env={"TALKSEARCH_SOCKET_TIMEOUT": "5"})
    output = result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith(("added", "skipped", "failed"))]
    assert result.returncode == 1 and "Traceback" not in output, output
    assert len(lines) == 4 and all(line.startswith("failed") for line in lines), lines
    for line in lines:
        assert not re.search(r"caused by|report this issue|latest version|yt-dlp -U|_ssl\.c", line, re.I), line
    assert _line(lines, f"{self_signed_server}/t01.ogg: ").endswith("certificate verify failed: self-signed certificate")
    assert "SSL" in _line(lines, f"{plain_as_https}: ")
    assert _line(lines, "page.html") == (f"failed  {bad_server}/page.html: no media found on this page "
                                         "(yt-dlp: Unsupported URL)")
    assert _line(lines, "nope.mp3") == f"failed  {missing}: no such file or folder"


def test_a_source_lists_comments_start_at_a_hash_after_whitespace(tmp_path):
    """``# the keynote`` after a source is a comment; a ``#`` inside a URL (a fragment) is part of it."""
    from talksearch.indexer.sources import read_source_list

    listing = tmp_path / "sources.txt"
    listing.write_text("# talks\nhttp://x/multi.html  # the keynote\nhttp://x/a.mp3#t=5\n\t# indented\n"
                       "http://x/b.mp3\t#tab\n~/my talks/c.mp3\n", encoding="utf-8")
    assert read_source_list(listing) == ["http://x/multi.html", "http://x/a.mp3#t=5", "http://x/b.mp3",
                                         "~/my talks/c.mp3"]

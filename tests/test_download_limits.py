"""A talk's download is bounded: by size (``max_download_mb``), by progress (``download_stall_seconds``), and a live
stream is refused. Each against a real loopback server that misbehaves one way; the run's other talks go on."""

from __future__ import annotations

import http.server
import subprocess
import threading
import time
from pathlib import Path

import pytest

from talksearch.indexer import caption_sources
from talksearch.indexer.sources import Sources, SourceError

pytestmark = pytest.mark.unit  # no models: the download stage alone

MiB = 1 << 20
CAPTIONS = {"en": "A short talk about limits.", "de": "Ein kurzer Vortrag über Grenzen."}


class _Misbehaving(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    talk: bytes = b""  # a real short mp3, served whole by /talk.mp3
    sent: dict[str, int]  # bytes each path's body got out before the client let go

    def log_message(self, *args) -> None:
        pass

    def _start(self, length: int | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "audio/mpeg")
        if length is None:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _body(self, chunks) -> None:
        sent = 0
        try:
            for chunk, pause in chunks:
                self.wfile.write(chunk)
                self.wfile.flush()
                sent += len(chunk)
                time.sleep(pause)
        except OSError:  # the client gave up: what it was sent is the point
            pass
        finally:
            self.sent[self.path] = sent

    def do_GET(self) -> None:
        if self.path == "/talk.mp3":
            self._start(len(self.talk))
            self._body([(self.talk, 0)])
        elif self.path == "/trickle.mp3":  # some bytes, then one a second: every read meets the socket timeout
            self._start(200_000)
            self._body([(b"\xff" * 2000, 0)] + [(b"\0", 1.0)] * 198_000)
        elif self.path == "/silent.mp3":  # headers, then nothing
            self._start(200_000)
            self._body([(b"", 30)])
        elif self.path == "/large.mp3":  # states 64 MiB
            self._start(64 * MiB)
            self._body((b"\0" * 65536, 0) for _ in range(1024))
        elif self.path == "/stream.mp3":  # an Icecast-like stream: no length, no end
            self._start(None)
            self._body((self.talk, 0) for _ in range(1_000_000))
        elif self.path == "/live.m3u8":  # HLS without an end list: a live stream
            body = b"#EXTM3U\n#EXT-X-TARGETDURATION:5\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:5.0,\n/talk.mp3\n"
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.apple.mpegurl")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif (language := self.path.removeprefix("/talk.").removesuffix(".vtt")) in CAPTIONS:  # /talk.de.vtt
            body = f"WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n{CAPTIONS[language]}\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/vtt")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("limits")
    wav, mp3 = folder / "talk.wav", folder / "talk.mp3"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), "A short talk about limits."], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), str(mp3)], check=True)
    handler = type("Handler", (_Misbehaving,), {"talk": mp3.read_bytes(), "sent": {}})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _fetch(server, path: str, tmp_path: Path, **limits):
    sources = Sources(tmp_path / "downloads", lambda key: False, socket_timeout=20, **limits)
    [candidate] = sources.expand(f"http://127.0.0.1:{server.server_address[1]}{path}")
    return sources.fetch(candidate)


def _left(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "downloads").glob("*")) if (tmp_path / "downloads").exists() else []


def test_a_trickling_download_fails_once_it_stalls(server, tmp_path):
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"^the download stalled: under 1 KiB/s for 3 s \(setting download_stall_seconds\)$"):
        _fetch(server, "/trickle.mp3", tmp_path, download_stall_seconds=3)
    assert time.monotonic() - started < 15  # not 198,000 s, nor the socket timeout's retries


def test_a_server_silent_after_its_headers_fails_once_it_stalls(server, tmp_path):
    started = time.monotonic()
    with pytest.raises(SourceError, match="^the download stalled"):
        _fetch(server, "/silent.mp3", tmp_path, download_stall_seconds=3)
    assert time.monotonic() - started < 15  # the 20 s socket timeout, and its retries, are not waited for


def test_captions_read_from_another_thread_leave_the_download_its_stall_watch(server, tmp_path):
    """Captions offered in several languages are read once whisper hears the talk's language, from a transcription
    worker, while the run downloads its next talk through the same yt-dlp: the caption's connection must not take
    the download's place in the stall watch, which then shut the caption's, and the trickle went on for ever."""
    base = f"http://127.0.0.1:{server.server_address[1]}"
    sources = Sources(tmp_path / "downloads", lambda key: False, socket_timeout=20, captions="uploaded",
                      download_stall_seconds=3)
    [candidate] = sources.expand(f"{base}/trickle.mp3")
    stopped: list[str] = []

    def download() -> None:
        try:
            sources.fetch(candidate)
        except SourceError as exc:
            stopped.append(str(exc))

    downloading = threading.Thread(target=download, daemon=True)
    downloading.start()
    started = time.monotonic()
    while not list((tmp_path / "downloads").glob("*.part")):  # written once its connection is open, and watched
        assert time.monotonic() - started < 10, "the download never began"
        time.sleep(0.05)
    tracks = caption_sources.feed_tracks([{"url": f"{base}/talk.{language}.vtt", "type": "text/vtt",
                                           "language": language} for language in CAPTIONS], "uploaded")
    _, _, pending = sources._captions(tracks, None, None)
    read: list = []
    worker = threading.Thread(target=lambda: read.append(pending.read("de")), daemon=True)
    worker.start()
    worker.join(10)
    [(transcript, refused)] = read
    assert refused is None and [segment.text for segment in transcript.segments] == [CAPTIONS["de"]]
    downloading.join(15)
    assert not downloading.is_alive(), "the trickling download was never stopped"
    assert stopped == ["the download stalled: under 1 KiB/s for 3 s (setting download_stall_seconds)"]


def test_a_file_stated_larger_than_the_limit_is_not_downloaded(server, tmp_path):
    with pytest.raises(SourceError, match=r"^larger than the download limit \(64 MiB\) of 8 MiB \(setting max_download_mb\)$"):
        _fetch(server, "/large.mp3", tmp_path, max_download_mb=8)
    time.sleep(0.5)  # the server's thread notices the client has gone
    assert server.RequestHandlerClass.sent["/large.mp3"] < 32 * MiB
    assert not [name for name in _left(tmp_path) if "large" in name]


def test_a_stream_past_the_limit_is_stopped_and_its_part_file_removed(server, tmp_path):
    with pytest.raises(SourceError, match=r"^larger than the download limit of 2 MiB \(setting max_download_mb\)$"):
        _fetch(server, "/stream.mp3", tmp_path, max_download_mb=2)
    assert _left(tmp_path) == []  # no .part for the next run to resume, and be refused again


def test_a_live_stream_is_refused(server, tmp_path):
    with pytest.raises(SourceError, match="^a live stream: index it once it has ended$"):
        _fetch(server, "/live.m3u8", tmp_path)


def test_a_talk_within_the_limits_downloads(server, tmp_path):
    fetched = _fetch(server, "/talk.mp3", tmp_path, max_download_mb=1, download_stall_seconds=3)
    assert fetched.audio.read_bytes() == server.RequestHandlerClass.talk

"""yt-dlp as the indexer runs it: quiet, and watched. A download, or the reading of a feed or a page, is stopped at
the run's limits (a size, a stall, a deadline), even where a server trickles a byte at a time, which yt-dlp's
per-read timeout never catches; a request a busy server turns away for a moment (429, 5xx) is made again after the
pause it asks for; and a download's file name is kept within what file systems take.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

import yt_dlp
from yt_dlp.networking.exceptions import HTTPError
from yt_dlp.utils import DownloadCancelled

from talksearch.timecode import clock

_LONGEST_FILE_NAME = 200  # bytes: a file system's 255, less what yt-dlp adds to a download's name (".part", ".ytdl")
# A talk's download is abandoned when it averages less than this over `download_stall_seconds` (a server that
# trickles a byte every few seconds, or one that went quiet mid-file), counted as yt-dlp reports its progress: a
# block at a time, each about a second's worth at the rate the download had.
_STALL_BYTES_PER_S = 1024


class _Quiet:
    """yt-dlp logger: errors surface as exceptions we report ourselves, the rest is noise here."""

    def debug(self, msg: str) -> None: ...
    def info(self, msg: str) -> None: ...
    def warning(self, msg: str) -> None: ...
    def error(self, msg: str) -> None: ...


class DownloadRefused(DownloadCancelled):
    """A download stopped by one of the run's limits (size, stall, a live stream); the message says which, in one
    line. yt-dlp lets a DownloadCancelled from a progress hook or a match filter through, where it retries others."""


def _own_downloaders_only() -> None:
    """yt-dlp downloads with its own Python downloaders here, never through an external program. The run's
    ``external_downloader`` "native" does not cover every path: yt-dlp's HLS downloader hands a stream encrypted
    with AES-128 to ffmpeg when ffmpeg is installed and pycryptodomex is not, and one encrypted any other way
    (SAMPLE-AES) in any case; RTMP goes to rtmpdump. Such a program resolves names in C, past
    the service's SSRF guard (a hostile feed had the job fetch and publish a recording inside: a security hunt),
    and runs none of the progress hooks that hold the run's limits. With ffmpeg not available to it, yt-dlp
    decrypts AES-128 itself (in Python, fast enough for audio); what only a program could fetch fails, said."""
    from yt_dlp.downloader import external, rtmp

    def refuse(downloader, filename, info_dict) -> bool:
        raise DownloadRefused(f"only an external program ({downloader.get_basename()}) could download this "
                              "recording, and talksearch downloads with yt-dlp's own downloaders (its limits and "
                              "address guard see those)")

    external.FFmpegFD.available = classmethod(lambda cls, path=None: False)
    for program in (external.ExternalFD, rtmp.RtmpFD):
        program.real_download = refuse


_own_downloaders_only()


class _DownloadWatch:
    """One download's progress against the limits: fed by yt-dlp's progress hook, and checked once a second by a
    thread of its own, since the hook only runs when a block has arrived, which a trickling server never completes.
    On a stall that thread shuts the connection being read (``response``), so the blocked read returns. With a
    ``deadline`` (seconds), the same once that much time has passed, whatever the pace: ``reading`` says what
    (a feed or a page, which a server sending a byte at a time held for ever: a read's timeout is per byte)."""

    def __init__(self, stall_seconds: float, deadline: float | None = None, reading: str = ""):
        self.stall_seconds = stall_seconds
        self.deadline, self.reading = deadline, reading
        self.busy: str | None = None  # what a busy server answered the request waiting on it (_WatchedDL.urlopen)
        self.refusal: str | None = None  # why the download was stopped, once it is
        self.response = None  # the connection the download reads from now (``_WatchedDL.urlopen``)
        self.stated: int | None = None  # the largest size a response stated (its Content-Length / Content-Range)
        self.part: str | None = None  # the file being written
        self.oversize = False  # stopped for its size: its partial file is not to be resumed
        self.done = 0  # bytes downloaded so far
        self._mark = (time.monotonic(), 0)  # since when, from how many bytes, the rate is measured
        self._ended = threading.Event()

    def __enter__(self) -> _DownloadWatch:
        threading.Thread(target=self._check, name="download-watch", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._ended.set()

    def _check(self) -> None:
        started = time.monotonic()
        while not self._ended.wait(1.0):
            since, then = self._mark
            now = time.monotonic()
            if self.deadline is not None and now - started >= self.deadline:
                self.refusal = f"{self.reading} took longer than {self.deadline:g} s{self._busy()}"
                self._interrupt()
                return
            if self.done - then >= _STALL_BYTES_PER_S * self.stall_seconds:
                self._mark = (now, self.done)
            elif now - since >= self.stall_seconds:
                self.refusal = (f"the download stalled: under {_STALL_BYTES_PER_S // 1024} KiB/s for "
                                f"{self.stall_seconds:g} s (setting download_stall_seconds){self._busy()}")
                self._interrupt()
                return

    def _busy(self) -> str:
        return f"; the server kept answering {self.busy} (busy)" if self.busy else ""

    def _interrupt(self) -> None:
        """End the blocked read: urllib3's response (yt-dlp's requests handler) shuts its socket from another
        thread; yt-dlp's own urllib handler's is closed. yt-dlp's retry then meets ``refusal`` (_WatchedDL)."""
        fp = getattr(self.response, "fp", None)
        try:
            if callable(getattr(fp, "shutdown", None)):
                fp.shutdown()
            elif self.response is not None:
                self.response.close()
        except Exception:  # already released or closed: the read has ended anyway
            pass


class _WatchedDL(yt_dlp.YoutubeDL):
    """yt-dlp, its requests seen by the download being watched (``watch``, only while one is): the connection it
    reads from, which a stall shuts; the size each response states; and a request made after a limit stopped the
    download (yt-dlp retrying it) refused instead. Every request (a feed's, a page's, a download's) is asked again
    when the server is busy for a moment (``_TRANSIENT``).

    The watch is the calling thread's: yt-dlp makes a download's requests in the thread that asked for it (one
    fragment at a time: concurrent_fragment_downloads is left at 1), and captions chosen by the language whisper
    hears are read through this same opener (its proxy, cookies and headers) from a transcription worker while the
    run downloads its next talk. Shared, the caption's connection took the download's place in its watch, which
    then shut the caption's on a stall and left the trickling download to run for ever."""

    def __init__(self, *args, **kwargs):
        self._watches = threading.local()
        super().__init__(*args, **kwargs)

    @property
    def watch(self) -> _DownloadWatch | None:
        return getattr(self._watches, "watch", None)

    @watch.setter
    def watch(self, watch: _DownloadWatch | None) -> None:
        self._watches.watch = watch

    def prepare_filename(self, info_dict, *args, **kwargs):
        """yt-dlp's file name for a download, its stem shortened where a long id (a feed's URL-like guid) would make
        it longer than file systems take (255 bytes, less room for ".part" and the like): to its start and a
        digest of the whole, so that two ids alike for their first 150 characters keep two files."""
        path = Path(super().prepare_filename(info_dict, *args, **kwargs))
        if len(os.fsencode(path.name)) <= _LONGEST_FILE_NAME:
            return str(path)
        digest = hashlib.sha256(os.fsencode(path.stem)).hexdigest()[:16]
        start = os.fsencode(path.stem)[:_LONGEST_FILE_NAME - len(digest) - 1 - len(os.fsencode(path.suffix))]
        return str(path.with_name(f"{os.fsdecode(start)}-{digest}{path.suffix}"))

    def urlopen(self, req):
        waited = 0.0
        for pause in (*_TRANSIENT_PAUSES_S, None):
            watch = self.watch
            if watch is not None and watch.refusal:
                raise DownloadRefused(watch.refusal)
            try:
                response = super().urlopen(req)
                break
            except HTTPError as exc:
                if exc.status not in _TRANSIENT or pause is None:
                    raise
                if watch is not None:  # said if the watch stops it meanwhile: a busy server, not a slow one
                    watch.busy = f"HTTP {exc.status}"
                wait = _retry_pause(exc, pause, waited)
                exc.close()  # its connection back to the pool while we wait
                time.sleep(wait)
                waited += wait
        if watch is not None:
            watch.busy = None
            watch.response = response
            stated = _stated_size(response.headers)
            watch.stated = max(watch.stated or 0, stated or 0) or None
        return response


# What a busy, restarting or rate-limiting server answers for a while (RFC 9110 §15.6, RFC 6585): the request is
# made again after a pause, the one its Retry-After asks for, else each of these in turn. yt-dlp retries a
# download's 5xx at once (three times within a second), and a feed's, a page's or any 429 not at all: a server's
# restart failed every talk it was asked for then.
_TRANSIENT = frozenset({429, 500, 502, 503, 504})
_TRANSIENT_PAUSES_S = (1.0, 2.0, 4.0)
# The longest a request waits on a busy server in all: longer is the server's to ask, not a run's to sit through
# (and within the minute a feed or page is read in, so that the error says the server was busy)
_RETRY_AFTER_MAX_S = 30.0


def _retry_pause(exc: HTTPError, pause: float, waited: float) -> float:
    """How long to wait before asking again: what the answer's Retry-After says (seconds or an HTTP date), else
    ``pause``. Raises ``exc``, saying what the server asked for, when that would take the request's waits
    (``waited`` so far) past ``_RETRY_AFTER_MAX_S``."""
    asked = (exc.response.headers.get("Retry-After") or "").strip()
    if re.fullmatch(r"[0-9]{1,9}", asked):  # ASCII digits: str.isdigit takes "²", which float() refuses
        wait = float(asked)
    else:
        try:
            wait = (parsedate_to_datetime(asked) - datetime.now(timezone.utc)).total_seconds()
        except (TypeError, ValueError):  # none, or not a date: our own pause
            wait = pause
    wait = max(wait, 0.0)
    if waited + wait > _RETRY_AFTER_MAX_S:
        after = f", after {waited:g} s of waiting" if waited else ""
        exc.msg = f"{exc.msg} (the server asks to be asked again in {clock(wait)}{after})"
        exc.args = (exc.msg,)
        raise exc
    return wait


def _stated_size(headers) -> int | None:
    """The whole file's size a response states: a range's total (``bytes 0-99/1234``), else its Content-Length."""
    total = re.fullmatch(r"\s*bytes\s+[\d*-]+/(\d+)\s*", headers.get("Content-Range") or "")
    length = (headers.get("Content-Length") or "").strip()
    return int(total[1]) if total else int(length) if length.isdigit() else None

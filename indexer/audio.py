"""Decode a recording in bounded pieces, so a six-hour talk never sits in memory whole.

faster-whisper's own ``decode_audio`` returns the whole file as one array (230 MB per hour at 16 kHz
float32). Here PyAV decodes and resamples frame by frame, and the audio is handed on in chunks of
``chunk_seconds``, each cut at the quietest moment near its end so no word is split between chunks.
Files shorter than a chunk come out as one piece, exactly as ``decode_audio`` would give them.

Unlike ``decode_audio``, the audio is placed on the container's clock, as players play it: silence fills where the
sound starts after the container does (a video whose sound begins at 0:05) or its timestamps skip ahead. A damaged
packet is skipped and a file cut short ends where its readable part does, as ffmpeg's own command line does.
Channels that cancel in the mix to mono (one of them with its polarity inverted) give one channel instead.
"""

from __future__ import annotations

import io
import itertools
import re
import socket
import urllib.request
from collections.abc import Iterator
from http.client import HTTPResponse
from urllib.parse import urlsplit

import av
import numpy as np

SAMPLING_RATE = 16_000
GAP_TOLERANCE = 0.1  # seconds: timestamps that skip less (a dropped packet, rounding) are not filled
# seconds: timestamps that jump further ahead, or back at all, mark recordings joined (or a clock that wrapped), not
# a pause: the audio goes on where it is. Two .ts recordings joined, the second earlier on its clock, read as a
# 33-bit clock's wrap: a 23 s file became a talk of 24 hours, mostly silence.
GAP_LIMIT = 600.0


def _open(path: str):
    """PyAV's container, or a ValueError in plain words (its own names the errno and repeats the path).

    In a process whose name lookups are guarded (the service's indexing job, talksearch.service.netguard), ffmpeg
    opens nothing itself: it resolves names and follows redirects in C, past the guard, so every file and URL it
    asks for, the first and any a playlist or a redirect names, is read through Python instead (``_guarded_read``).
    Elsewhere (the CLI) ffmpeg streams a URL itself, as it does best."""
    try:
        if _names_guarded():
            # the whitelist stops what would bypass io_open (an .sdp file's RTP); local files are no one's network
            return av.open(path, metadata_errors="ignore", io_open=_guarded_read,
                           container_options={"protocol_whitelist": "file"})
        return av.open(path, metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise ValueError(f"ffmpeg cannot decode it: {exc.strerror or type(exc).__name__}") from None
    except OSError as exc:  # raised by _guarded_read: refused by the guard, or the server's error
        raise ValueError(f"cannot read {path}: {getattr(exc, 'reason', None) or exc}") from None


def _names_guarded() -> bool:
    """Whether this process checks every name it resolves: talksearch.service.netguard marks its getaddrinfo."""
    return getattr(socket.getaddrinfo, "talksearch_guard", False)


NETWORK_TIMEOUT = 30.0  # seconds a guarded read waits for the server, to connect or for the next bytes
# Only HTTP: urllib's default opener would also follow a redirect to ftp:, and read file: and data: URLs.
_HTTP = urllib.request.OpenerDirector()
for _handler in (urllib.request.HTTPHandler, urllib.request.HTTPSHandler, urllib.request.HTTPRedirectHandler,
                 urllib.request.HTTPDefaultErrorHandler, urllib.request.HTTPErrorProcessor):
    _HTTP.add_handler(_handler())


def _guarded_read(url: str, flags: int, options: dict) -> io.RawIOBase:
    """What ffmpeg asks to open in a guarded process: a local file, or an http(s) URL read through urllib, whose
    every connection (each redirect's too) resolves its host through the guard; any other scheme (rtmp:, ftp:,
    concat:, a file: URL in a playlist) is refused."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        return _HTTPMedia(url)
    if len(scheme) > 1:  # one letter is a Windows drive
        raise PermissionError(f"refused: only http and https media can be read here, not {scheme}:")
    return open(url, "rb")  # a path, read as one: "subfile,,...:http://..." is no ffmpeg protocol here


class _HTTPMedia(io.RawIOBase):
    """An http(s) media URL as a seekable file: read from where ffmpeg wants it, a new request (with a Range) each
    time it reads from elsewhere (an MP4's index at its end), as ffmpeg's own http protocol does. A seek alone
    requests nothing: ffmpeg seeks to the end and back to learn the length."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._position = 0  # where the next read starts
        self._size: int | None = None
        self._response = self._request(0)
        self._response_position = 0  # where the open response's next byte is
        self._url = self._response.geturl()  # where the redirects led: later ranges need not follow them again

    def _request(self, start: int) -> HTTPResponse:
        headers = {"Range": f"bytes={start}-"} if start else {}
        response = _HTTP.open(urllib.request.Request(self._url, headers=headers), timeout=NETWORK_TIMEOUT)
        total = response.headers.get("Content-Range", "").rpartition("/")[2]
        length = response.headers.get("Content-Length")
        if total.isdigit():
            self._size = int(total)
        elif length and length.isdigit() and response.status == 200:
            self._size = int(length)
        if start and response.status != 206:  # the server ignores ranges: the bytes before are read and dropped
            while start and (skipped := len(response.read(min(start, 1 << 20)))):
                start -= skipped
        return response

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._size is not None and self._position >= self._size:
            return 0
        if self._response is None or self._response_position != self._position:
            if self._response is not None:
                self._response.close()
            self._response, self._response_position = self._request(self._position), self._position
        count = self._response.readinto(buffer)
        self._position += count
        self._response_position += count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END and self._size is None:  # no length stated (chunked): -1 tells ffmpeg so
            return -1
        self._position = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size or 0}[whence] + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None
        super().close()


# Raw audio streams, with no index and no header that ffmpeg trusts for the length: it states the first header's
# word (an MP3's Xing frame count, the whole file's though it was cut short) or guesses from the first frames'
# bitrate (a VBR MP3 without Xing: 2:34 for a lecture of 4:06). Their duration is measured instead.
ESTIMATED_DURATION_FORMATS = frozenset({"mp3", "aac", "ac3", "eac3", "dts"})


def media_duration(path: str) -> float | None:
    """The recording's duration, when it is known: the container's where its format states it exactly, else the
    length of its audio packets (captions past it are refused; a talk indexed from captions keeps it)."""
    with _open(path) as container:
        stated = container.duration / av.time_base if container.duration else None
        if container.format.name not in ESTIMATED_DURATION_FORMATS or not container.streams.audio:
            return stated
        return _packets_duration(container, _audio_stream(container)) or stated


def media_chapters(path: str) -> list[tuple[float, float | None, str | None]]:
    """The chapter markers the recording's container holds, each a start and an end in seconds and a title as
    written (None where it names none): an MP4's chapter atoms (OBS, podcast tools, ffmpeg from an FFMETADATA file),
    an MP3's ID3 CHAP frames, Matroska's and Ogg's chapters, as ffprobe's ``-show_chapters`` lists them. ValueError,
    in plain words, when the file cannot be opened (``_open``)."""
    with _open(path) as container:
        return [(float(marker["start"] * marker["time_base"]), float(marker["end"] * marker["time_base"]),
                 _chapter_title(marker["metadata"]))
                for marker in container.chapters() if marker["time_base"]]


# ffmpeg titles an ID3 CHAP frame that has no title (TIT2) by its element ID, "ch0" as its own MP3 muxer and other
# tools name them: an identifier, not a title (players show nothing, or "Chapter 1")
_ID3_ELEMENT_ID = re.compile(r"ch\d+")


def _chapter_title(metadata: dict[str, str]) -> str | None:
    """A chapter marker's title: its ``title`` tag, however the container cases it (Matroska's is TITLE); None
    where it has none, or only an ID3 element ID."""
    title = next((value for key, value in metadata.items() if key.lower() == "title"), None)
    return None if title is None or _ID3_ELEMENT_ID.fullmatch(title) else title


def _packets_duration(container, stream) -> float | None:
    """The sum of the stream's packet durations, read without decoding (an hour of MP3: a quarter of a second),
    to where the demuxer can read no further (a file cut short); None when no packet states one."""
    total = 0
    try:
        for packet in container.demux(stream):
            total += packet.duration or 0
    except av.error.FFmpegError:  # unreadable from here on: what was read stands, as decoding it would
        pass
    return float(total * stream.time_base) if total else None


def _quietest_cut(audio: np.ndarray, search_seconds: float) -> int:
    """Index of the quietest 100 ms window within the last ``search_seconds`` of ``audio``."""
    window = SAMPLING_RATE // 10
    tail_start = max(0, len(audio) - int(search_seconds * SAMPLING_RATE))
    tail = audio[tail_start : tail_start + (len(audio) - tail_start) // window * window]
    if len(tail) < window:
        return len(audio)
    energy = np.square(tail.reshape(-1, window).astype(np.float32)).mean(axis=1)
    return tail_start + int(np.argmin(energy)) * window + window // 2


def _audio_stream(container) -> av.audio.stream.AudioStream:
    """The audio track marked default (a film's first track may be a silent or foreign one), else the first."""
    tracks = container.streams.audio
    return next((track for track in tracks if track.disposition & av.stream.Disposition.default), tracks[0])


def _frames(container, stream) -> Iterator[av.AudioFrame]:
    """The stream's frames decoded packet by packet: a packet the decoder refuses is skipped (the next frame's
    timestamp keeps the clock), and a file the demuxer cannot read on (cut short) ends there. A stream with no
    decodable frame at all raises the first error, so such a file still fails as unreadable."""
    first_error: av.error.FFmpegError | None = None
    decoded = False
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.error.FFmpegError as exc:  # the container unreadable from here on: what was decoded stands
            first_error = first_error or exc
            packet = None  # flushes the frames the decoder still holds
        try:
            frames = packet.decode() if packet is not None else stream.codec_context.decode(None)
        except av.error.FFmpegError as exc:  # InvalidDataError, or a codec's own code (AAC's is "UndefinedError")
            first_error = first_error or exc
            frames = []
        for frame in frames:
            decoded = True
            yield frame
        if packet is None:
            break
    if first_error is not None and not decoded:
        raise first_error


def _silence(seconds: float) -> Iterator[np.ndarray]:
    """``seconds`` of s16 silence, in pieces of at most a minute (a gap of hours stays bounded in memory)."""
    remaining = round(seconds * SAMPLING_RATE)
    while remaining > 0:
        yield np.zeros(min(remaining, 60 * SAMPLING_RATE), dtype=np.int16)
        remaining -= 60 * SAMPLING_RATE


def _resampled(resampler: av.AudioResampler, frame: av.AudioFrame | None) -> Iterator[np.ndarray]:
    for out in resampler.resample(frame):  # None flushes the resampler
        yield out.to_ndarray().reshape(-1)


# A mix keeping less than this share of its channels' level is channels cancelling (-20 dB): a stereo recording whose
# right channel is its left with the polarity inverted (a balanced cable miswired at a mixing desk) mixed to
# silence, and the talk was refused "no speech found". Channels that merely differ keep far more of it: 0.7
# (unrelated), 1 (one silent, or the same).
CANCELLED_MIX = 0.1
# Seconds of several channels judged at once, held at the source's rate (a few MB): long enough that a pause or a
# single word does not decide it, short enough for a recording whose wiring changes midway.
DOWNMIX_WINDOW = 5.0


def _channel_rows(frame: av.AudioFrame) -> np.ndarray:
    """The frame's samples, one row per channel, in its own sample format."""
    samples = frame.to_ndarray()
    return samples if frame.format.is_planar else samples.reshape(-1, frame.layout.nb_channels).T


def _cancelled_channel(rows: np.ndarray) -> int | None:
    """The loudest channel where the channels cancel in their mix, else None (the mix stands)."""
    channels = rows.astype(np.float64)
    channels -= channels.mean(axis=1, keepdims=True)  # a DC offset (u8's silence is 128) is not sound
    levels = np.sqrt(np.square(channels).mean(axis=1))
    mix = np.sqrt(np.square(channels.mean(axis=0)).mean())
    if not levels.mean() or mix >= CANCELLED_MIX * levels.mean():  # digital silence, or a mix that holds the sound
        return None
    return int(np.argmax(levels))


def _single_channel(frame: av.AudioFrame, row: np.ndarray) -> av.AudioFrame:
    """One channel of the frame as a mono frame of its format, rate and time."""
    samples = np.ascontiguousarray(row.reshape(1, -1))
    single = av.AudioFrame.from_ndarray(samples, format=frame.format.name, layout="mono")
    single.sample_rate, single.pts, single.time_base = frame.sample_rate, frame.pts, frame.time_base
    return single


class _Downmix:
    """Frames of one setup as 16 kHz mono s16: ffmpeg's own downmix of them, sample for sample as faster-whisper
    decodes them, except where their channels cancel in it, judged DOWNMIX_WINDOW at a time: there one channel,
    the loudest (the same one while they go on cancelling)."""

    def __init__(self) -> None:
        self._resampler: av.AudioResampler | None = None
        self._channel: int | None = None  # what the resampler is given: None the frames, else this channel of them
        self._held: list[av.AudioFrame] = []
        self._held_seconds = 0.0

    def feed(self, frame: av.AudioFrame) -> Iterator[np.ndarray]:
        self._held.append(frame)
        self._held_seconds += frame.samples / frame.sample_rate
        if self._held_seconds >= DOWNMIX_WINDOW:
            yield from self._release()

    def flush(self) -> Iterator[np.ndarray]:
        yield from self._release()
        if self._resampler is not None:
            yield from _resampled(self._resampler, None)

    def _release(self) -> Iterator[np.ndarray]:
        if not self._held:
            return
        several = self._held[0].layout.nb_channels > 1  # one channel has nothing to cancel: no copy of it is made
        rows = [_channel_rows(frame) for frame in self._held] if several else []
        cancelled = _cancelled_channel(np.concatenate(rows, axis=1)) if several else None
        channel = None if cancelled is None else self._channel if self._channel is not None else cancelled
        if self._resampler is None or channel != self._channel:
            if self._resampler is not None:
                yield from _resampled(self._resampler, None)  # what it holds comes first
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLING_RATE)
            self._channel = channel
        for index, frame in enumerate(self._held):
            given = frame if channel is None else _single_channel(frame, rows[index][channel])
            yield from _resampled(self._resampler, given)
        self._held, self._held_seconds = [], 0.0


def _samples(container) -> Iterator[np.ndarray]:
    """The chosen audio stream as 16 kHz mono s16 samples on the container's clock, in pieces.

    Silence fills a gap of more than GAP_TOLERANCE between where the audio so far ends and where the next frame's
    timestamp puts it: at the start (the sound begins after the video), and mid-stream (a paused recording, a
    skipped packet); audio that overlaps is kept whole. Gaps past the container's stated end, or longer than
    GAP_LIMIT, are not silence but a jump of the clock, which the audio follows. A frame of another rate, layout or
    format (two files joined) gets a new downmix."""
    stream = _audio_stream(container)
    start = container.start_time / av.time_base if container.start_time is not None else None
    end = start + container.duration / av.time_base if start is not None and container.duration else float("inf")
    clock = start  # seconds on the container's clock that the audio handed on so far reaches
    downmix, setup = None, None
    for frame in _frames(container, stream):
        if clock is None:  # no stated start (a WAV): the audio's own
            clock = frame.time
        gap = frame.time - clock if frame.time is not None and clock is not None and frame.time <= end else 0.0
        if gap > GAP_LIMIT or gap < -GAP_LIMIT:  # not a pause: the clock jumped, and the audio goes on from here
            clock, gap = frame.time, 0.0
        frame_setup = (frame.format.name, frame.layout.name, frame.sample_rate)
        if downmix is not None and (gap > GAP_TOLERANCE or frame_setup != setup):
            yield from downmix.flush()  # what it still holds comes before the silence or the change
            downmix = None
        if gap > GAP_TOLERANCE:
            yield from _silence(gap)
            clock = frame.time
        if downmix is None:
            downmix, setup = _Downmix(), frame_setup
        yield from downmix.feed(frame)
        if clock is not None:
            clock += frame.samples / frame.sample_rate
    if downmix is not None:
        yield from downmix.flush()


def stream_audio(path: str, chunk_seconds: float = 1200.0, search_seconds: float = 30.0) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(offset_seconds, float32 mono 16 kHz samples)`` pieces of a media file, in order."""
    chunk = int(chunk_seconds * SAMPLING_RATE)
    pending: list[np.ndarray] = []
    pending_samples = 0
    offset = 0
    with _open(path) as container:
        if not container.streams.audio:
            raise ValueError("the file has no audio stream")
        for samples in itertools.chain(_samples(container), [None]):  # None: the end, cut what is left
            if samples is not None:
                pending.append(samples)
                pending_samples += len(samples)
            if pending_samples >= chunk + search_seconds * SAMPLING_RATE or (samples is None and pending_samples):
                audio = np.concatenate(pending)
                while len(audio) >= chunk + search_seconds * SAMPLING_RATE:
                    cut = _quietest_cut(audio[:chunk], search_seconds)
                    yield offset / SAMPLING_RATE, audio[:cut].astype(np.float32) / 32768.0
                    offset += cut
                    audio = audio[cut:]
                pending, pending_samples = [audio], len(audio)
        if pending_samples:
            yield offset / SAMPLING_RATE, np.concatenate(pending).astype(np.float32) / 32768.0

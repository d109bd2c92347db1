"""Decode a recording in bounded pieces, so a six-hour talk never sits in memory whole.

faster-whisper's own ``decode_audio`` returns the whole file as one array (230 MB per hour at 16 kHz
float32). Here PyAV decodes and resamples frame by frame, and the audio is handed on in chunks of
``chunk_seconds``, each cut at the quietest moment near its end so no word is split between chunks.
Files shorter than a chunk come out as one piece, exactly as ``decode_audio`` would give them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import av
import numpy as np

SAMPLING_RATE = 16_000


def _open(path: str):
    """PyAV's container, or a ValueError in plain words (its own names the errno and repeats the path)."""
    try:
        return av.open(path, metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise ValueError(f"ffmpeg cannot decode it: {exc.strerror or type(exc).__name__}") from None


def media_duration(path: str) -> float | None:
    """The container's stated duration, when it states one (for progress only)."""
    with _open(path) as container:
        return container.duration / av.time_base if container.duration else None


def _quietest_cut(audio: np.ndarray, search_seconds: float) -> int:
    """Index of the quietest 100 ms window within the last ``search_seconds`` of ``audio``."""
    window = SAMPLING_RATE // 10
    tail_start = max(0, len(audio) - int(search_seconds * SAMPLING_RATE))
    tail = audio[tail_start : tail_start + (len(audio) - tail_start) // window * window]
    if len(tail) < window:
        return len(audio)
    energy = np.square(tail.reshape(-1, window).astype(np.float32)).mean(axis=1)
    return tail_start + int(np.argmin(energy)) * window + window // 2


def stream_audio(path: str, chunk_seconds: float = 1200.0, search_seconds: float = 30.0) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(offset_seconds, float32 mono 16 kHz samples)`` pieces of a media file, in order."""
    chunk = int(chunk_seconds * SAMPLING_RATE)
    pending: list[np.ndarray] = []
    pending_samples = 0
    offset = 0
    with _open(path) as container:
        if not container.streams.audio:
            raise ValueError("the file has no audio stream")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLING_RATE)
        for frame in itertools.chain(container.decode(audio=0), [None]):  # None flushes the resampler
            for out in resampler.resample(frame):
                samples = out.to_ndarray().reshape(-1)
                pending.append(samples)
                pending_samples += len(samples)
            if pending_samples >= chunk + search_seconds * SAMPLING_RATE or (frame is None and pending_samples):
                audio = np.concatenate(pending)
                while len(audio) >= chunk + search_seconds * SAMPLING_RATE:
                    cut = _quietest_cut(audio[:chunk], search_seconds)
                    yield offset / SAMPLING_RATE, audio[:cut].astype(np.float32) / 32768.0
                    offset += cut
                    audio = audio[cut:]
                pending, pending_samples = [audio], len(audio)
        if pending_samples:
            yield offset / SAMPLING_RATE, np.concatenate(pending).astype(np.float32) / 32768.0


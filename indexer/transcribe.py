"""Speech to timed words with faster-whisper's batched pipeline (VAD on, word timestamps on)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from talksearch.library import Segment, Word
from talksearch.models import load_whisper


class NoSpeech(Exception):
    """The audio holds no speech worth indexing."""


@dataclass
class TranscriptionOptions:
    language: str | None = None  # None: detected (English-only models answer 'en')
    batch_size: int = 8
    vad_filter: bool = True
    word_timestamps: bool = True
    # Segments that look like hallucination are dropped before indexing (whisper's own thresholds):
    # likely silence that still decoded with low confidence, or text that repeats itself.
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4


@dataclass
class Transcript:
    language: str
    duration: float
    segments: list[Segment]


def keep_segment(segment, options: TranscriptionOptions) -> bool:
    if segment.compression_ratio > options.compression_ratio_threshold:
        return False
    silent = segment.no_speech_prob > options.no_speech_threshold
    return not (silent and segment.avg_logprob < options.log_prob_threshold) and bool(segment.text.strip())


class Transcriber:
    def __init__(self, model: str, device: str = "auto", compute_type: str = "default", threads: int = 0,
                 options: TranscriptionOptions | None = None):
        from faster_whisper import BatchedInferencePipeline

        self.model = load_whisper(model, device, compute_type, threads)
        self.pipeline = BatchedInferencePipeline(self.model)
        self.options = options or TranscriptionOptions()

    def transcribe(self, audio: str, on_progress: Callable[[float, float], None] | None = None,
                   hotwords: str | None = None) -> Transcript:
        """Transcribe a media file; ``on_progress(seconds_done, duration)`` follows the audio time."""
        o = self.options
        language = o.language if self.model.model.is_multilingual else (o.language or "en")
        raw_segments, info = self.pipeline.transcribe(
            audio, language=language, batch_size=o.batch_size, vad_filter=o.vad_filter,
            word_timestamps=o.word_timestamps, hotwords=hotwords,
            no_speech_threshold=o.no_speech_threshold, log_prob_threshold=o.log_prob_threshold,
            compression_ratio_threshold=o.compression_ratio_threshold,
        )
        segments = []
        for raw in raw_segments:
            if on_progress:
                on_progress(raw.end, info.duration)
            if not keep_segment(raw, o):
                continue
            words = [Word(w.start, w.end, w.word, w.probability) for w in (raw.words or [])]
            segments.append(Segment(raw.start, raw.end, raw.text.strip(), words))
        if on_progress:
            on_progress(info.duration, info.duration)
        if not segments:
            raise NoSpeech("no speech found")
        return Transcript(info.language, info.duration, segments)

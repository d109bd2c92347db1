"""Speech to timed words with faster-whisper's batched pipeline (VAD on, word timestamps on)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from indexer.audio import media_duration, stream_audio
from talksearch.library import Segment, Word
from talksearch.models import load_whisper


PROMPT_MODES = ("none", "hotwords", "initial")


class NoSpeech(Exception):
    """The audio holds no speech worth indexing."""


@dataclass
class TranscriptionOptions:
    language: str | None = None  # None: detected (English-only models answer 'en')
    batch_size: int = 8
    beam_size: int = 1  # greedy: see Settings.beam_size
    vad_filter: bool = True
    word_timestamps: bool = True
    # Segments that look like hallucination are dropped before indexing (whisper's own thresholds):
    # likely silence that still decoded with low confidence, or text that repeats itself.
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    # How the talk's own metadata (title, speakers, event, chapters) reaches the decoder, so names and
    # jargon in it survive: "hotwords" (faster-whisper's hint phrases), "initial" (the first window's
    # prompt) or "none". Hotwords lowered the word error rate on both eval sets (docs/benchmarks.md).
    prompt: str = "hotwords"
    # Audio is decoded and transcribed this many seconds at a time: bounded memory for long recordings.
    chunk_seconds: float = 1200.0


@dataclass
class Transcript:
    language: str
    duration: float
    segments: list[Segment]


def talk_prompt(talk, max_chars: int = 400) -> str | None:
    """The talk's own words for the decoder: title, speakers, event and chapter titles (a feed or page has them).

    ``talk`` is a ``Talk`` (or a catalog row). Descriptions are left out: they are long and mostly not spoken.
    """
    get = talk.get if isinstance(talk, dict) else lambda name: getattr(talk, name, None)
    parts = [get("title"), ", ".join(get("speakers") or []), get("event")]
    parts += [c.get("title") for c in get("chapters") or []]
    text = ". ".join(p.strip() for p in parts if p and p.strip())
    return text[:max_chars] or None


def keep_segment(segment, options: TranscriptionOptions) -> bool:
    if segment.compression_ratio > options.compression_ratio_threshold:
        return False
    silent = segment.no_speech_prob > options.no_speech_threshold
    return not (silent and segment.avg_logprob < options.log_prob_threshold) and bool(segment.text.strip())


class Transcriber:
    def __init__(self, model: str, device: str = "auto", compute_type: str = "default", threads: int = 0,
                 options: TranscriptionOptions | None = None, workers: int = 1):
        """``workers`` threads may call ``transcribe`` at once, each on ``threads`` CPU threads."""
        from faster_whisper import BatchedInferencePipeline

        self.model = load_whisper(model, device, compute_type, threads, workers)
        # The pipeline object keeps per-call state (the last speech timestamp): one per calling thread.
        self._pipelines = threading.local()
        self._new_pipeline = lambda: BatchedInferencePipeline(self.model)
        self.options = options or TranscriptionOptions()

    def pipeline(self):
        if not hasattr(self._pipelines, "pipeline"):
            self._pipelines.pipeline = self._new_pipeline()
        return self._pipelines.pipeline

    def transcribe(self, audio: str, on_progress: Callable[[float, float], None] | None = None,
                   hotwords: str | None = None) -> Transcript:
        """Transcribe a media file; ``on_progress(seconds_done, duration)`` follows the audio time.

        Long recordings are decoded and transcribed in chunks (indexer.audio), so memory stays bounded.
        ``hotwords`` is the talk's own vocabulary (``talk_prompt``); ``options.prompt`` says how it is used.
        """
        o = self.options
        language = o.language if self.model.model.is_multilingual else (o.language or "en")
        expected = media_duration(audio) or 0.0
        segments, duration, detected = [], 0.0, language
        prompt = {"hotwords": {"hotwords": hotwords}, "initial": {"initial_prompt": hotwords}}.get(o.prompt, {})
        for offset, samples in stream_audio(audio, o.chunk_seconds):
            raw_segments, info = self.pipeline().transcribe(
                samples, language=language, batch_size=o.batch_size, beam_size=o.beam_size, vad_filter=o.vad_filter,
                word_timestamps=o.word_timestamps, **prompt,
                no_speech_threshold=o.no_speech_threshold, log_prob_threshold=o.log_prob_threshold,
                compression_ratio_threshold=o.compression_ratio_threshold,
            )
            detected = detected or info.language
            for raw in raw_segments:
                if on_progress:
                    on_progress(offset + raw.end, max(expected, offset + raw.end))
                if keep_segment(raw, o):
                    words = [Word(offset + w.start, offset + w.end, w.word, w.probability) for w in raw.words or []]
                    segments.append(Segment(offset + raw.start, offset + raw.end, raw.text.strip(), words))
            duration = offset + info.duration
        if on_progress:
            on_progress(duration, duration)
        if not segments:
            raise NoSpeech("no speech found")
        return Transcript(detected or "en", duration, segments)

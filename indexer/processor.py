"""One talk's work, whoever runs it: audio on disk + metadata → what the library stores for it.

The local engine calls one ``TalkProcessor`` from several worker threads (``workers`` talks at once);
the Ray engine holds one per actor.
Either way the model loads once per process and the library is written by a single committer.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np

from talksearch.embedding import Embedder
from talksearch.indexer.allocator import keep_freed_memory
from talksearch.indexer.passages import PassageOptions, embedding_texts, make_passages, split_sentences
from talksearch.indexer.sources import Fetched
from talksearch.indexer.transcribe import NoSpeech, Transcriber, TranscriptionOptions, talk_prompt
from talksearch.library import Passage, Segment, Talk
from talksearch.models import resolve, resolve_device
from talksearch.settings import Settings


class TalkFailed(Exception):
    """This talk cannot be indexed; the message says why in one line."""


@dataclass
class Processed:
    talk: Talk
    sentences: list[Segment]
    passages: list[Passage]
    embeddings: np.ndarray
    audio_seconds: float
    seconds: float  # processing time for this talk


def worker_layout(settings: Settings) -> tuple[int, int]:
    """Talks transcribed at once, and CPU threads for each.

    On CPU, whisper's batched decoding uses one thread well and a second poorly, so talks side by side
    on a thread each beat one talk on all threads (1.3× with beam 5 on two cores, docs/benchmarks.md).
    A GPU takes one talk at a time, in large batches.
    """
    cores = os.cpu_count() or 1
    workers = settings.transcribe_workers or (1 if resolve_device(settings.device) == "cuda" else min(cores, 8))
    return workers, settings.threads or max(1, cores // workers)


class TalkProcessor:
    def __init__(self, settings: Settings):
        keep_freed_memory()  # before the model threads start: see indexer/allocator.py
        # The embedding model loads in the background while whisper loads and the first talk downloads
        # and transcribes (a first run converts it for CTranslate2, importing torch: seconds).
        self.workers, threads = worker_layout(settings)
        self._embedder: Future[Embedder] = ThreadPoolExecutor(1, thread_name_prefix="embedder-load").submit(
            Embedder.from_settings, settings, threads=threads, replicas=self.workers)
        whisper = resolve("whisper", settings.whisper_model)  # once: a bundled model's checksum is read whole
        self.whisper_name = whisper.name
        self.transcriber = Transcriber(
            whisper, settings.device, settings.compute_type, threads,
            TranscriptionOptions.from_settings(settings), self.workers,
        )
        self.passage_options = PassageOptions()

    @property
    def embedder(self) -> Embedder:
        return self._embedder.result()  # re-raises a model loading error here

    def process(self, fetched: Fetched, on_progress: Callable[[float, float], None] | None = None) -> Processed:
        started = time.perf_counter()
        talk = fetched.talk
        try:
            transcript = self.transcriber.transcribe(str(fetched.audio), on_progress, hotwords=talk_prompt(talk))
        except NoSpeech as exc:
            raise TalkFailed(str(exc)) from None
        except Exception as exc:  # PyAV decode errors and the like: the file is not usable media
            raise TalkFailed(f"not readable as audio ({type(exc).__name__}: {str(exc)[:120]})") from None
        sentences = split_sentences(transcript.segments, self.passage_options)
        passages = make_passages(sentences, self.passage_options)
        embeddings = self.embedder.passages(embedding_texts(passages, asdict(talk), self.passage_options))
        talk.duration = talk.duration or transcript.duration
        talk.language = transcript.language
        talk.whisper_model = self.whisper_name
        talk.embed_model = self.embedder.name
        return Processed(talk, sentences, passages, embeddings, transcript.duration, time.perf_counter() - started)

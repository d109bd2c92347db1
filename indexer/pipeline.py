"""A batch indexing run: list sources, fetch audio ahead, transcribe, cut passages, embed, commit.

Fetching runs in a thread one or two talks ahead of transcription, so downloads overlap with the
models' work. Each talk ends in exactly one outcome line (added, skipped or failed) and one bad talk
never stops the batch.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from indexer.passages import PassageOptions, make_passages, split_sentences
from indexer.sources import Candidate, Fetched, SourceError, Sources
from indexer.transcribe import NoSpeech, Transcriber, TranscriptionOptions
from talksearch.embedding import Embedder
from talksearch.library import DOWNLOADS, Library
from talksearch.models import resolve
from talksearch.settings import Settings

_DONE = object()


@dataclass
class Outcome:
    status: str  # 'added' | 'skipped' | 'failed'
    label: str
    detail: str = ""
    audio_seconds: float = 0.0
    talk_id: str | None = None


@dataclass
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)
    wall_seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def audio_seconds(self) -> float:
        return sum(o.audio_seconds for o in self.outcomes if o.status == "added")

    @property
    def realtime_factor(self) -> float:
        return self.audio_seconds / self.wall_seconds if self.wall_seconds else 0.0

    def line(self) -> str:
        return (
            f"{self.count('added')} added, {self.count('skipped')} skipped, {self.count('failed')} failed; "
            f"{self.audio_seconds / 3600:.2f} h of audio in {self.wall_seconds:.1f} s "
            f"({self.realtime_factor:.1f}× real time)"
        )


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


class IndexRun:
    def __init__(self, settings: Settings, report: Callable[[str], None] = print):
        self.settings = settings
        self.report = report
        # Refuse a model mismatch before any download or model load.
        self.library = Library.open(settings.library, create=True)
        self.library.acquire_writer()
        self.library.check_embedding_model(resolve("embedding", settings.embed_model).name)
        self.library.sync_vector_index(save=True)  # finish what an interrupted run left
        self.whisper_name = resolve("whisper", settings.whisper_model).name
        self.transcriber = Transcriber(
            settings.whisper_model, settings.device, settings.compute_type, settings.threads,
            TranscriptionOptions(language=settings.language, batch_size=settings.batch_size),
        )
        self.embedder = Embedder(settings.embed_model, settings.device, settings.threads)
        self.library.bind_embedding_model(self.embedder.name, self.embedder.dimension)
        self.passage_options = PassageOptions()
        self._bars = sys.stderr.isatty()

    def close(self) -> None:
        self.library.close()

    def run(self, sources: list[str]) -> Summary:
        started = time.perf_counter()
        summary = Summary()
        fetched: queue.Queue = queue.Queue(maxsize=2)
        overall = tqdm(desc="talks", unit="talk", total=0, position=0, disable=not self._bars, leave=True)
        producer = threading.Thread(target=self._produce, args=(sources, fetched, overall), daemon=True)
        producer.start()
        while (item := fetched.get()) is not _DONE:
            outcome = self._index(item) if isinstance(item, tuple) else item
            summary.outcomes.append(outcome)
            overall.update(1)
            self._report(outcome)
        overall.close()
        summary.wall_seconds = time.perf_counter() - started
        return summary

    def _report(self, outcome: Outcome) -> None:
        line = f"{outcome.status:<8}{outcome.label}"
        if outcome.detail:
            line += f": {outcome.detail}" if outcome.status != "added" else f" ({outcome.detail})"
        tqdm.write(line, file=sys.stdout) if self._bars else self.report(line)

    # --- fetching (producer thread) ---------------------------------------------------------------

    def _produce(self, sources: list[str], out: queue.Queue, overall: tqdm) -> None:
        download_bar = tqdm(desc="download", unit="B", unit_scale=True, position=1, disable=not self._bars, leave=False)

        def on_download(_name: str, done: int, total: int | None) -> None:
            download_bar.total = total
            download_bar.n = done
            download_bar.refresh()

        reader = Library.open(self.settings.library)  # its own connection: this thread only reads
        seen: set[str] = set()
        fetcher = Sources(self.settings.library / DOWNLOADS, reader.has_archive_id,
                          self.settings.socket_timeout, on_download)
        try:
            for source in sources:
                try:
                    for candidate in fetcher.expand(source):
                        overall.total += 1
                        overall.refresh()
                        out.put(self._fetch(fetcher, candidate, seen))
                except SourceError as exc:
                    overall.total += 1
                    out.put(Outcome("failed", source, str(exc)))
        finally:
            download_bar.close()
            reader.close()
            out.put(_DONE)

    def _fetch(self, fetcher: Sources, candidate: Candidate, seen: set[str]) -> tuple | Outcome:
        key = fetcher.archive_key(candidate)
        if key in seen:
            return Outcome("skipped", candidate.label, "listed twice in this run")
        try:
            fetched = fetcher.fetch(candidate)
        except SourceError as exc:
            return Outcome("failed", candidate.label, str(exc))
        except OSError as exc:
            return Outcome("failed", candidate.label, exc.strerror or str(exc))
        if fetched is None:
            return Outcome("skipped", candidate.label, "already in the library")
        if fetched.talk.archive_id in seen:
            self._discard(fetched)
            return Outcome("skipped", candidate.label, "listed twice in this run")
        seen.add(fetched.talk.archive_id)
        return (candidate, fetched)

    def _discard(self, fetched: Fetched) -> None:
        if fetched.downloaded and not self.settings.keep_media:
            fetched.audio.unlink(missing_ok=True)

    # --- indexing (main thread) -------------------------------------------------------------------

    def _index(self, item: tuple[Candidate, Fetched]) -> Outcome:
        candidate, fetched = item
        talk = fetched.talk
        label = talk.title if talk.title else candidate.label
        started = time.perf_counter()
        bar = tqdm(desc="transcribe", unit="s audio", total=0, position=1, disable=not self._bars, leave=False,
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]")

        def on_progress(done: float, duration: float) -> None:
            bar.total = duration
            bar.n = min(done, duration)
            bar.refresh()

        try:
            transcript = self.transcriber.transcribe(str(fetched.audio), on_progress, hotwords=None)
        except NoSpeech as exc:
            return Outcome("failed", label, str(exc))
        except Exception as exc:  # PyAV decode errors and the like: the file is not usable media
            return Outcome("failed", label, f"not readable as audio ({type(exc).__name__}: {str(exc)[:120]})")
        finally:
            bar.close()
        sentences = split_sentences(transcript.segments, self.passage_options)
        passages = make_passages(sentences, self.passage_options)
        embeddings = self.embedder.passages([p.text for p in passages])
        talk.duration = talk.duration or transcript.duration
        talk.language = transcript.language
        talk.whisper_model = self.whisper_name
        talk.embed_model = self.embedder.name
        talk_id = self.library.add_talk(talk, sentences, passages, embeddings)
        self._discard(fetched)
        took = time.perf_counter() - started
        detail = (f"{talk_id}, {_clock(transcript.duration)} of audio in {took:.1f} s, "
                  f"{transcript.duration / took:.1f}× real time, {len(passages)} passages")
        return Outcome("added", label, detail, transcript.duration, talk_id)

"""A talk's transcription kept chunk by chunk as whisper finishes each, so that the run after an interruption
transcribes only what was not finished.

Whisper hears a long recording in chunks (``TranscriptionOptions.chunk_seconds``, 20 minutes, cut at the same quiet
moments on every run: ``indexer.audio.stream_audio``), each decoded on its own: a chunk kept is what decoding it again
would give. Before, a 3-hour talk stopped in its ninth chunk (Ctrl-C, a reboot, a full disk) was transcribed from its
start again, an hour's work on a CPU.

One JSON-lines file per talk in the library's ``downloads/`` folder, which holds what interrupted runs leave
(``talksearch check`` counts such files, ``--repair`` removes them), named by the talk's id and a digest of
everything that shapes the transcript: its recording's size, the model, the options, the language and the prompt.
Another model or another recording under the same talk starts a file of its own; the talk committed (or skipped by
the writer), every file of the talk's goes (``remove_all``), those of other settings too. A line cut short by the
interruption itself is ignored, and so is its chunk, decoded again. A log that cannot be written (a full disk) is
said once and the talk goes on: the log is only an aid to resuming.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from talksearch.library import Segment, Word

# What a chunk's decoding gives (Transcriber._chunk): its kept segments on the recording's clock, where the chunk
# ends, and the language whisper heard in it
Chunk = tuple[list[Segment], float, str | None]


class ChunkLog:
    def __init__(self, path: Path, on_unwritable: Callable[[OSError], None] | None = None):
        """``on_unwritable``: told the first failure to keep a chunk (``unwritable``)."""
        self.path = path
        self.on_unwritable = on_unwritable
        self._lock = threading.Lock()  # chunks finish in the transcriber's threads
        self._unwritable = False

    @classmethod
    def for_transcript(cls, folder: Path, talk_id: str, *shaping: object,
                       on_unwritable: Callable[[OSError], None] | None = None) -> ChunkLog:
        """The log in ``folder`` of the talk's transcript that everything in ``shaping`` (JSON-able) makes."""
        digest = hashlib.sha256(json.dumps(shaping, sort_keys=True, default=str).encode()).hexdigest()[:20]
        return cls(folder / f"transcribing-{talk_id}-{digest}.jsonl", on_unwritable)

    @staticmethod
    def remove_all(folder: Path, talk_id: str) -> None:
        """Every log of the talk's in ``folder``: one an interrupted run left under other settings is resumed by
        none once the talk is in the library (and a talk indexed from its captions since needs none)."""
        for log in folder.glob(f"transcribing-{talk_id}-*.jsonl"):
            log.unlink(missing_ok=True)

    def finished(self) -> dict[float, Chunk]:
        """The chunks an earlier run finished, by where each starts in the recording."""
        chunks: dict[float, Chunk] = {}
        with contextlib.suppress(FileNotFoundError), self.path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    kept = json.loads(line)
                    segments = [Segment(**{**s, "words": [Word(**w) for w in s["words"]]}) for s in kept["segments"]]
                    chunks[kept["offset"]] = (segments, kept["end"], kept["language"])
                except (ValueError, KeyError, TypeError):  # the line the interruption cut short
                    continue
        return chunks

    def record(self, offset: float, chunk: Chunk) -> None:
        """Keep a finished chunk, on disk before the next one finishes."""
        segments, end, language = chunk
        line = json.dumps({"offset": offset, "end": end, "language": language,
                           "segments": [asdict(s) for s in segments]}, ensure_ascii=False)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as log:
                # on a line of its own even after a line cut short (which then stays unreadable alone)
                log.write(f"\n{line}\n")
                log.flush()
                os.fsync(log.fileno())

    def unwritable(self, exc: OSError) -> None:
        """A chunk could not be kept (``record`` raised ``exc``): said once to ``on_unwritable``; later chunks are
        still tried (the disk may have room again), each one kept being one a resumed run need not decode."""
        with self._lock:
            first, self._unwritable = not self._unwritable, True
        if first and self.on_unwritable is not None:
            self.on_unwritable(exc)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

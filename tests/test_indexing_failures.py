"""What an indexing run keeps and says when something around a talk's transcription goes wrong: a slow commit, an
embedding model that cannot load, a chunk log that cannot be written. The real CLI, whisper tiny.en and MiniLM, with
one stand-in each, put where the hunt met the failure (a concurrency hunt)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import DATA, ROOT, writer_only_run

# What these check does not depend on the embedding model (conftest's light_embedding).
pytestmark = pytest.mark.usefixtures("light_embedding")

FAST = ["--whisper-model", "tiny.en", "--transcribe-workers", "1"]


def _index(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script, "index", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


# The writer's commit, as a vector index retrain or a slow disk makes it wait: says which of the talk's chunk logs
# are there while it waits.
_LOGS_AT_COMMIT = """
import json, sys
from talksearch.library import catalog
real_add_talk = catalog.Library.add_talk
def add_talk(self, talk, *args, **kwargs):
    logs = sorted(p.name for p in (self.path / "downloads").glob(f"transcribing-{talk.id}-*.jsonl"))
    print("[logs at commit] " + json.dumps(logs), flush=True)
    return real_add_talk(self, talk, *args, **kwargs)
catalog.Library.add_talk = add_talk
from talksearch.cli import main
main(sys.argv[1:], prog_name="talksearch")
"""


@pytest.mark.models
def test_a_talks_chunk_logs_are_kept_until_the_talk_is_committed(tmp_path):
    """They went once the talk was embedded, before the writer committed it: a talk waiting behind a slow commit had
    none left, and a Ctrl-C then meant transcribing it again. Once committed, none is left behind."""
    library = tmp_path / "lib"
    result = _index(_LOGS_AT_COMMIT, str(DATA / "t01.ogg"), "--library", str(library), *FAST)
    assert result.returncode == 0, result.stdout + result.stderr
    said = [json.loads(line.split("] ", 1)[1]) for line in result.stdout.splitlines() if line.startswith("[logs at")]
    assert len(said) == 1 and len(said[0]) == 1, result.stdout
    assert not list((library / "downloads").glob("transcribing-*.jsonl"))


@pytest.mark.unit
@pytest.mark.parametrize("skipped_as", ["already in the library", "removed"])
def test_a_processed_talk_the_writer_does_not_store_leaves_no_chunk_log(tmp_path, skipped_as):
    """A talk committed meanwhile (met under another link) or removed while it was transcribed is skipped by the
    writer: its logs go as a committed talk's do, or they would stay in downloads/ for ever."""
    from talksearch.indexer.chunk_log import ChunkLog
    from talksearch.indexer.processor import Processed
    from talksearch.library import DOWNLOADS, Library, Passage, Segment, Talk
    from talksearch.settings import Settings

    library = Library.open(tmp_path / "lib", create=True)
    library.acquire_writer()
    talk = Talk(extractor="Generic", source_id="t", url="http://example.org/t.mp3", title="T", duration=10)
    library.bind_embedding_model("test-model", 8)
    library.add_talk(talk, [Segment(0, 1, "Hello there.", [])], [Passage(0, 1, "Hello there.")],
                     np.ones((1, 8), np.float32))
    if skipped_as == "removed":
        assert library.delete_talk(talk.id)
    run = writer_only_run(Settings(library=tmp_path / "lib"), library)
    log = ChunkLog.for_transcript(tmp_path / "lib" / DOWNLOADS, talk.id, 1, "tiny.en")
    log.record(0.0, ([Segment(0, 1, "Hello there.", [])], 1.0, "en"))
    processed = Processed(talk, [Segment(0, 1, "Hello there.", [])], [Passage(0, 1, "Hello there.")],
                          np.ones((1, 8), np.float32), 10.0, 1.0)
    outcome = run.commit(processed, "T")
    library.close()
    assert outcome.status == "skipped" and skipped_as in outcome.detail, outcome
    assert not log.path.exists()


# The embedding model fails to load at once (as a missing one does), or only while the first talk is being
# transcribed (a real broken model: transformers takes seconds to refuse it). [whisper]: a talk's transcription
# starts; [transcribed]: it ends.
_EMBEDDER_FAILS = """
import sys, threading, time
from talksearch import embedding
from talksearch.indexer import processor, transcribe
from talksearch.models import ModelError
at_once = AT_ONCE
failed, real_load = threading.Event(), embedding.Embedder.from_settings.__func__
def load(cls, *args, **kwargs):
    try:
        if at_once:
            raise ModelError("cannot load embedding model 'broken': no such model")
        return real_load(cls, *args, **kwargs)
    finally:
        failed.set()
embedding.Embedder.from_settings = classmethod(load)
real_transcribe = transcribe.Transcriber.transcribe
def whisper(self, *args, **kwargs):
    print("[whisper]", flush=True)
    return real_transcribe(self, *args, **kwargs)
transcribe.Transcriber.transcribe = whisper
real_progress = transcribe._Progress.__call__
def progress(self, *args):
    failed.wait()  # (a real failure may come at any moment of the transcription: here, once it has begun)
    time.sleep(0.2)
    return real_progress(self, *args)
transcribe._Progress.__call__ = progress
real_talk = processor.TalkProcessor._transcribe
def transcribed(self, *args):
    done = real_talk(self, *args)
    print("[transcribed]", flush=True)
    return done
processor.TalkProcessor._transcribe = transcribed
from talksearch.cli import main
main(sys.argv[1:], prog_name="talksearch")
"""


@pytest.mark.models
@pytest.mark.parametrize("fails", ["at-once", "while-transcribing"])
def test_an_embedding_model_that_cannot_load_stops_the_run_before_a_talk_is_transcribed(tmp_path, fails):
    """It was said only once the first talk was transcribed (the model loads in the background, and was read
    only to embed the talk): on a long talk, the whole transcription was wasted."""
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    script = _EMBEDDER_FAILS.replace("AT_ONCE", str(fails == "at-once"))
    result = _index(script, str(DATA / "t01.ogg"), "--library", str(tmp_path / "lib"), *FAST,
                    "--embed-model", str(broken))
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: cannot load embedding model "), \
        result.stderr
    assert "[transcribed]" not in result.stdout, result.stdout
    if fails == "at-once":
        assert "[whisper]" not in result.stdout, result.stdout


# The chunk log's write meets a full disk (as the file's write or fsync would raise it).
_CHUNK_LOG_FULL = """
import errno, os, sys
from talksearch.indexer import chunk_log
def full(self, offset, chunk):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
chunk_log.ChunkLog.record = full
from talksearch.cli import main
main(sys.argv[1:], prog_name="talksearch")
"""


@pytest.mark.models
def test_a_chunk_log_that_cannot_be_written_is_one_note_and_the_talk_is_added(tmp_path):
    """The log is only an aid to resuming: the talk goes on, and one note says an interruption would mean
    transcribing it again. The failure was a traceback on stderr (raised in a future's done-callback), and
    otherwise unsaid."""
    result = _index(_CHUNK_LOG_FULL, str(DATA / "t01.ogg"), "--library", str(tmp_path / "lib"), *FAST)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == "", result.stderr
    notes = [line for line in result.stdout.splitlines() if line.startswith("note")]
    assert len(notes) == 1 and "No space left on device" in notes[0] and "resum" in notes[0], result.stdout
    assert "1 added, 0 skipped, 0 failed" in result.stdout, result.stdout


# The first talk's commit meets a full disk; once the CLI has said so, which index workers are still running.
_FULL_AT_FIRST_COMMIT = """
import os, sqlite3, sys, threading
from talksearch.library import catalog
def add_talk(self, *args, **kwargs):
    raise sqlite3.OperationalError("database or disk is full")
catalog.Library.add_talk = add_talk
from talksearch.cli import main
try:
    main(sys.argv[1:], prog_name="talksearch")
except SystemExit as exc:
    workers = [t.name for t in threading.enumerate() if t.name.endswith("(_work)")]
    print(f"[workers running] {len(workers)}", flush=True)
    os._exit(exc.code)  # (not the interpreter's shutdown, which would tear the stragglers down: what this checks)
"""


@pytest.mark.models
def test_a_run_stopped_by_the_writers_error_stops_its_workers_first(tmp_path):
    """A full disk at a commit stopped the run while a worker was transcribing the next talk; the process then
    exited under whisper's native threads: the one line, then 'terminate called without an active exception' and
    rc 134, or a segmentation fault (139), seen on a small tmpfs. The workers now leave their talks first."""
    result = _index(_FULL_AT_FIRST_COMMIT, str(DATA / "t01.ogg"), str(DATA / "t02.ogg"),
                    "--library", str(tmp_path / "lib"), *FAST)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "no space left" in result.stderr, result.stderr
    assert "[workers running] 0" in result.stdout, result.stdout

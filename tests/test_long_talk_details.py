"""Details a long talk's run brought out (a long-talks hunt): the speed an index run states once a talk's
transcription resumed from an interrupted run's. The writer alone (no models, no sources), as in
tests/test_indexing_failures.py."""

from __future__ import annotations

import numpy as np
import pytest

from talksearch.indexer.pipeline import Summary
from talksearch.indexer.processor import Processed
from talksearch.library import Library, Passage, Segment, Talk
from talksearch.settings import Settings
from tests.helpers import writer_only_run

pytestmark = pytest.mark.unit


def _committed(tmp_path, audio_seconds: float, resumed_seconds: float, seconds: float):
    """The outcome of a talk of ``audio_seconds`` the writer commits, ``resumed_seconds`` of it transcribed by an
    interrupted run and the rest by this one in ``seconds``."""
    library = Library.open(tmp_path / "lib", create=True)
    library.acquire_writer()
    run = writer_only_run(Settings(library=tmp_path / "lib"), library)
    talk = Talk(extractor="Generic", source_id="long", url="http://example.org/long.mp3", title="Long",
                duration=audio_seconds, embed_model="test-model", transcript_source="whisper base")
    segment = Segment(0, 1, "Hello there.", [])
    processed = Processed(talk, [segment], [Passage(0, 1, "Hello there.")], np.ones((1, 8), np.float32),
                          audio_seconds, seconds, resumed_seconds=resumed_seconds)
    try:
        return run.commit(processed, "Long")
    finally:
        library.close()


def test_a_resumed_talks_speed_is_of_the_audio_this_run_transcribed(tmp_path):
    """1:10:00 of audio, 39:00 of it transcribed by an interrupted run: the talk's line said 8.4× real time (the
    31:00 this run heard in 220.8 s), the run's summary 18.9× (the whole talk's 1.17 h in 222.7 s)."""
    outcome = _committed(tmp_path, 4200, 2340, 220.8)
    assert outcome.status == "added", outcome
    assert "1:10:00 of audio in 220.8 s, 8.4× real time" in outcome.detail, outcome.detail
    assert "resumed: 39:00 of it transcribed by an interrupted run" in outcome.detail, outcome.detail
    line = Summary([outcome], wall_seconds=222.7).line()
    assert "(8.4× real time)" in line, line


def test_a_talk_an_interrupted_run_transcribed_whole_states_no_speed(tmp_path):
    """Nothing was left to transcribe: "0.0× real time" said this run transcribed slowly, not that it had nothing
    to do. Nor does a run that transcribed nothing state a speed."""
    outcome = _committed(tmp_path, 4200, 4200, 12.0)
    assert "1:10:00 of audio in 12.0 s, 1 passages" in outcome.detail, outcome.detail
    assert "real time" not in outcome.detail, outcome.detail
    line = Summary([outcome], wall_seconds=13.0).line()
    assert line.startswith("1 added, 0 skipped, 0 failed; ") and "real time" not in line, line


def test_a_summary_states_the_speed_of_the_audio_its_run_transcribed():
    """The talks added count, the skipped and failed ones transcribed nothing; a run of those states no speed."""
    from talksearch.indexer.fetching import Outcome

    added = [Outcome("added", "A", audio_seconds=1800), Outcome("added", "B", audio_seconds=1800)]
    others = [Outcome("skipped", "C", audio_seconds=600), Outcome("failed", "D")]
    assert Summary([*added, *others], wall_seconds=360, workers=2).line() == (
        "2 added, 1 skipped, 1 failed; 1.00 h of audio in 360.0 s (10.0× real time) on 2 workers")
    assert Summary(others, wall_seconds=5).line() == "0 added, 1 skipped, 1 failed; 0.00 h of audio in 5.0 s"

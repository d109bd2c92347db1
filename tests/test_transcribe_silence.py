"""Long silences between sentences: nothing is transcribed in them (Transcriber._retry); nor after the recording."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.models

FIRST = "The zebra quietly ate a mango in the morning."
SECOND = "The dolphin slowly read a novel in the evening."


def _spoken(text: str, folder: Path) -> np.ndarray:
    """``text`` said by espeak-ng, as 16 kHz mono samples."""
    said = folder / f"{len(text)}-{abs(hash(text))}.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(said), text], check=True)
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(said), "-ac", "1", "-ar", "16000", "-f", "s16le", "-"],
                         check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.int16)


@pytest.fixture(scope="module")
def sparse_talk(tmp_path_factory) -> tuple[Path, tuple[float, float], tuple[float, float]]:
    """Two sentences with 95 s of digital silence between them: the file, and where each sentence is said."""
    if shutil.which("espeak-ng") is None or shutil.which("ffmpeg") is None:
        pytest.skip("espeak-ng and ffmpeg make the audio")
    folder = tmp_path_factory.mktemp("sparse")
    first, second = _spoken(FIRST, folder), _spoken(SECOND, folder)
    rate = 16000
    pieces = [np.zeros(5 * rate, np.int16), first, np.zeros(95 * rate, np.int16), second,
              np.zeros(10 * rate, np.int16)]
    path = folder / "sparse.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.concatenate(pieces).tobytes())
    first_at = 5.0
    second_at = first_at + (len(first) + 95 * rate) / rate
    return path, (first_at, first_at + len(first) / rate), (second_at, second_at + len(second) / rate)


@pytest.mark.parametrize("hotwords", [None, "Animals at mealtimes"])
def test_nothing_is_transcribed_in_a_long_silence_between_sentences(sparse_talk, hotwords):
    """The batched pass hears the two sentences as one segment spanning the silence; too few words for its time,
    it is decoded again as a whole, and whisper wrote "you" in each silent 30-s window of it (no-speech probability
    0.95, log-probability -0.84: kept by the hallucination filter). Only the two sentences are stored, where they
    are said."""
    from talksearch.indexer.transcribe import Transcriber

    path, first, second = sparse_talk
    transcriber = Transcriber("tiny.en", "cpu", threads=1)
    segments = transcriber.transcribe(str(path), hotwords=hotwords, language="en").segments
    found = [(round(s.start, 2), round(s.end, 2), s.text) for s in segments]
    in_silence = [s for s in found if s[0] > first[1] + 1 and s[1] < second[0] - 1]
    assert not in_silence, f"transcribed in the silence: {in_silence}"
    assert len(found) == 2, found
    for (start, end, text), (said_from, said_to), word in zip(found, (first, second), ("morning", "evening")):
        assert start == pytest.approx(said_from, abs=1.0) and end == pytest.approx(said_to, abs=1.0), found
        assert word in text.lower(), found


def test_nothing_said_ends_after_the_recording(tmp_path):
    """Half a second of a sentence: whisper timed its words to 0.78 s (a formats hunt), and the talk's sentence
    ended after the talk did."""
    from tests.helpers import DATA

    clip = tmp_path / "clip.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(DATA / "t01.ogg"), "-ss", "3.0", "-t", "0.5", str(clip)],
                   check=True)
    from talksearch.indexer.transcribe import Transcriber

    transcript = Transcriber("tiny.en", "cpu", threads=1).transcribe(str(clip))
    assert transcript.duration == pytest.approx(0.5, abs=0.01) and transcript.segments
    assert all(s.end <= transcript.duration and all(w.end <= transcript.duration for w in s.words)
               for s in transcript.segments), [(s.start, s.end, s.text) for s in transcript.segments]

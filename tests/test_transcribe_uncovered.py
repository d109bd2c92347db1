"""Speech the batched pass's VAD hears but no segment whisper returned covers is decoded again
(Transcriber._uncovered_speech)."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.models

RATE = 16000
SENTENCES = ("The zebra quietly ate a mango in the morning.", "The dolphin quietly ate a mango in the morning.",
             "The flamingo quietly ate a mango in the morning.", "The zebra quietly ate a pancake in the morning.",
             "The dolphin quietly ate a pancake in the morning.")
APART = 100  # seconds from one sentence's start to the next's


def _spoken(text: str, folder: Path) -> np.ndarray:
    """``text`` said by espeak-ng, as 16 kHz mono samples."""
    said = folder / f"{len(text)}-{abs(hash(text))}.wav"
    subprocess.run(["espeak-ng", "-w", str(said), text], check=True)
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(said), "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-"],
                         check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.int16)


@pytest.fixture(scope="module")
def five_sentences(tmp_path_factory) -> tuple[Path, list[tuple[float, float, str]]]:
    """Five sentences, one every 100 s from 5 s on, digital silence between: the file, and where each is said."""
    if shutil.which("espeak-ng") is None or shutil.which("ffmpeg") is None:
        pytest.skip("espeak-ng and ffmpeg make the audio")
    folder = tmp_path_factory.mktemp("uncovered")
    audio = np.zeros((5 + APART * len(SENTENCES) - 45) * RATE, np.int16)
    said = []
    for i, text in enumerate(SENTENCES):
        samples, at = _spoken(text, folder), 5 + APART * i
        audio[at * RATE:at * RATE + len(samples)] = samples
        said.append((float(at), at + len(samples) / RATE, text))
    path = folder / "five.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(audio.tobytes())
    return path, said


def test_speech_no_segment_covers_is_transcribed(five_sentences):
    """whisper base decodes the batched pass's one window of the five sentences (15 s of speech, joined) as ONE
    segment, 4.7-107.2 s, holding the first two sentences alone; the last three, outside its span, were lost
    without a word. Each sentence is now stored near where it is said, and nothing in the silences."""
    from talksearch.indexer.transcribe import Transcriber

    path, said = five_sentences
    transcriber = Transcriber("base", "cpu", threads=1)
    segments = transcriber.transcribe(str(path), language="en").segments
    found = [(round(s.start, 2), round(s.end, 2), s.text) for s in segments]
    for said_from, said_to, text in said:
        near = [s for s in found if s[0] == pytest.approx(said_from, abs=1.0) and s[1] == pytest.approx(said_to, abs=1.0)]
        assert near, f"nothing stored for {text!r} said at {said_from:.1f}-{said_to:.1f}: {found}"
        assert "morning" in near[0][2].lower(), found
    in_silence = [s for s in found if not any(s[0] < said_to + 1 and s[1] > said_from - 1 for said_from, said_to, _ in said)]
    assert not in_silence, f"transcribed in the silence: {in_silence}"
    assert found == sorted(found), found

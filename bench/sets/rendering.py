"""Shared by the renderers of the blind sets whose audio is built sample by sample (bench/sets/conditions/render.py,
bench/sets/speech/render.py): 16 kHz mono arrays to and from sox, a synthesized chord progression, the cutting of a
make_talks.py recording back into its sentences, and the writing of a set (mp4s, truth.json, corpus.json, feed.xml)
the way make_talks.py writes one, so that every benchmark reads them alike.

Every sox call runs with -R (repeatable): the same render gives the same bytes, which is what lets a change here be
checked by rendering a set before and after it.
"""
from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from collections.abc import Iterator
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
RATE = 16000  # make_talks.py's rate; read() refuses any other, so no array is silently resampled

# --- the scratch folder: one per render, every intermediate file in it ------------------------------------------

_scratch: Path | None = None
_count = 0


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A temporary folder for one render's intermediate files, removed after it; the functions here write into it."""
    global _scratch
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        _scratch = Path(tmp)
        try:
            yield _scratch
        finally:
            _scratch = None


def scratch_path(*parts: str) -> Path:
    assert _scratch is not None, "outside rendering.scratch()"
    return _scratch.joinpath(*parts)


def numbered(stem: str, *suffixes: str) -> list[Path]:
    """Scratch files no earlier call named (stem, a new number, each suffix): sox needs files, and a kept scratch
    folder then shows every step."""
    global _count
    _count += 1
    return [scratch_path(f"{stem}{_count}{suffix}") for suffix in suffixes]


# --- audio: float32 arrays in [-1, 1) at RATE ---------------------------------------------------------------------

def run(*cmd) -> None:
    subprocess.run([str(c) for c in cmd], check=True)


def read(path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2, path
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0


def write(path, audio: np.ndarray) -> None:
    pcm = (np.clip(audio, -1.0, 32767 / 32768) * 32768.0).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(RATE); w.writeframes(pcm.tobytes())


def sox_fx(audio: np.ndarray, *effects, pad: bool = False) -> np.ndarray:
    """Run sox effects on an array. Sentence timings are counted in samples, so the length must stay (or, with pad,
    for effects that resample, is trimmed/padded back from at most 4 samples off)."""
    src, dst = numbered("fx", "_in.wav", "_out.wav")
    write(src, audio)
    run("sox", "-R", src, "-r", RATE, "-c", 1, "-b", 16, dst, *effects)
    out = read(dst)
    if pad:
        assert abs(len(out) - len(audio)) <= 4, (effects, len(out), len(audio))
        out = np.pad(out, (0, max(0, len(audio) - len(out))))[: len(audio)]
    assert len(out) == len(audio), (effects, len(out), len(audio))
    return out


def sox_synth(seconds: float, *synth_and_effects) -> np.ndarray:
    """sox synth, exactly round(seconds * RATE) samples long (sox may end a sample short)."""
    (dst,) = numbered("synth", ".wav")
    run("sox", "-R", "-n", "-r", RATE, "-c", 1, "-b", 16, dst, "synth", f"{seconds:.4f}", *synth_and_effects)
    out = read(dst)
    n = int(round(seconds * RATE))
    return np.pad(out, (0, max(0, n - len(out))))[:n]


BAR = 2.0  # seconds
PROGRESSION = [("C3", "E3", "G3"), ("A2", "C3", "E3"), ("F2", "A2", "C3"), ("G2", "B2", "D3")]
ARPEGGIO = {"C3": "C5", "E3": "E5", "G3": "G5", "A2": "A4", "F2": "F4", "G2": "G4", "B2": "B4", "D3": "D5"}


def chords(samples: int, bars: int) -> np.ndarray:
    """Music with no recording behind it: held chords (a pad) and a plucked arpeggio in eighth notes over them,
    looping over four bars, `bars` bars of it from the start of `samples` samples (what passes the end is cut)."""
    out = np.zeros(samples, dtype=np.float32)
    cache: dict[tuple | str, np.ndarray] = {}  # each chord and note is synthesized once
    for b in range(bars):
        chord = PROGRESSION[b % len(PROGRESSION)]
        at = int(b * BAR * RATE)
        key = ("pad",) + chord
        if key not in cache:
            cache[key] = sox_synth(BAR, "triangle", chord[0], "triangle", chord[1], "triangle", chord[2],
                                   "remix", "-", "fade", "q", "0.15", f"{BAR}", "0.3", "vol", "0.25")
        seg = cache[key][: len(out) - at]
        out[at:at + len(seg)] += seg
        tones = [ARPEGGIO[n] for n in chord] + [ARPEGGIO[chord[1]]]
        for k in range(8):
            note = tones[k % 4]
            if note not in cache:
                cache[note] = sox_synth(0.45, "pluck", note, "vol", "0.35")
            s = at + int(k * BAR / 8 * RATE)
            if s >= len(out):
                break
            seg = cache[note][: len(out) - s]
            out[s:s + len(seg)] += seg
    return out


# --- make_talks.py's recordings, cut back into sentences ----------------------------------------------------------

def make_talks(corpus: Path, outdir: Path, seed: int) -> None:
    """Speech without video, one recording a talk, and its truth.json: where every sentence starts and ends."""
    run(sys.executable, REPO / "bench" / "make_talks.py", corpus, outdir, "--no-video", "--seed", seed)


def cut(audio: np.ndarray, spans: list[dict]) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """The lead silence, the sentence clips and the pause after each, cut at make_talks.py's timings (``spans``)."""
    idx = lambda t: int(round(t * RATE))  # noqa: E731
    lead = audio[: idx(spans[0]["start"])]
    clips, gaps = [], []
    for i, s in enumerate(spans):
        nxt = idx(spans[i + 1]["start"]) if i + 1 < len(spans) else len(audio)
        clips.append(audio[idx(s["start"]): idx(s["end"])])
        gaps.append(audio[idx(s["end"]): nxt])
    return lead, clips, gaps


# --- the set on disk, as make_talks.py writes one -----------------------------------------------------------------

def command_line(here: Path) -> tuple[argparse.Namespace, dict, Path]:
    """The arguments of `render.py OUTDIR [--corpus CORPUS.json] [--base-url URL]` (the corpus next to the script
    in ``here`` by default), the corpus read, and OUTDIR, made."""
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--corpus", default=str(here / "corpus.json"))
    ap.add_argument("--base-url", default="http://127.0.0.1:8765")
    a = ap.parse_args()
    corpus = json.load(open(a.corpus))
    out = Path(a.outdir)
    out.mkdir(parents=True, exist_ok=True)
    return a, corpus, out


def some(d: dict, *keys: str) -> dict:
    """The optional fields among ``keys`` that ``d`` has, in the order of ``keys``."""
    return {k: d[k] for k in keys if k in d}


def truth_entry(talk: dict, duration: float, spans: list[dict], described: dict) -> dict:
    """A talk's truth.json entry: make_talks.py's fields, the condition, what the set ``described`` of the talk."""
    return {"title": talk["title"], "duration": round(duration, 3), "voice": talk["voice"], **some(talk, "rate"),
            "condition": talk["condition"], **described, "sentences": spans}


def publish(talk: dict, audio: np.ndarray, out: Path, base_url: str) -> tuple[float, str]:
    """The talk's mp4 in ``out``, encoded as make_talks.py encodes its talks (a still frame, AAC 64k); returns its
    duration and its feed item. KEEP_WAV=DIR also keeps the wav, to listen to without decoding."""
    wav = scratch_path(f"{talk['id']}.wav")
    write(wav, audio)
    duration = len(audio) / RATE
    mp4 = out / f"{talk['id']}.mp4"
    run("ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
        f"color=c=0x203040:s=320x180:d={duration:.2f}", "-i", wav, "-shortest",
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "stillimage",
        "-c:a", "aac", "-b:a", "64k", mp4)
    if os.environ.get("KEEP_WAV"):
        shutil.copy(wav, Path(os.environ["KEEP_WAV"]) / wav.name)
    return duration, feed_item(talk, base_url, mp4)


def feed_item(talk: dict, base_url: str, mp4: Path) -> str:
    date = datetime.fromisoformat(talk.get("date", "2024-11-18")).replace(tzinfo=timezone.utc)
    return (f"<item><title>{html.escape(talk['title'])}</title>"
            f"<author>{html.escape(talk.get('speaker', ''))}</author>"
            f"<category>{html.escape(talk.get('event', ''))}</category>"
            f"<guid isPermaLink=\"false\">{talk['id']}</guid><pubDate>{format_datetime(date)}</pubDate>"
            f"<enclosure url=\"{base_url}/{talk['id']}.mp4\" type=\"video/mp4\" "
            f"length=\"{os.path.getsize(mp4)}\"/></item>")


def write_set(out: Path, truth: dict, items: list[str], corpus: dict, corpus_file: str, base_url: str) -> None:
    """truth.json, corpus.json (a copy: the queries live there) and feed.xml, next to the talks."""
    json.dump(truth, open(out / "truth.json", "w"), indent=1)
    shutil.copy(corpus_file, out / "corpus.json")
    with open(out / "feed.xml", "w") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
                f"<title>{html.escape(corpus.get('title', 'Talks'))}</title><link>{base_url}/</link>"
                "<description>Recorded talks</description>" + "".join(items) + "</channel></rss>\n")

#!/usr/bin/env python3
"""Render the conditions set: talks with real-world recording conditions and correct sentence timings.

usage: .venv/bin/python bench/sets/conditions/render.py OUTDIR [--corpus CORPUS.json] [--base-url URL]

1. bench/make_talks.py renders the base talks (every sentence in the talk's own voice, --no-video) and, in a second
   run, the sentences of another voice (the session chair of c03, the audience questions of c08) as small talks
   of their own. make_talks.py knows where every sentence starts and ends (truth.json).
2. Each talk is cut back into its pieces (lead silence, sentence clips, the pauses after them) at those timings and
   joined again with the talk's condition applied; every sentence's start and end is counted in samples while
   joining, so audio put before or between sentences (music, applause, a demo pause) shifts the timings exactly.
   The conditions, one per talk (its "condition" field):
     music-intro   30 s of synthesized chords and arpeggio (sox synth) before the talk's own lead silence
     applause      15 s of applause-like shaped noise before, 8 s after the last sentence
     mc-intro      sentences in "other_voice" (flite) replace the speaker's, then 4 s applause, then the speaker
     reverb        sox reverb on the whole recording (length unchanged, no pre-delay: no shift)
     low-level-hum the whole recording 20 dB down, plus 50/100/150 Hz hum (about -46 dBFS, speech about -38 dBFS)
     demo-pauses   near-silence of "pauses" seconds after the given sentences (inserted, later sentences shift)
     fast-speaker  only the rate (225 wpm, make_talks.py's "rate")
     qa            sentences in "other_voice" (audience questions) 9 dB quieter and reverberant
   All talks get a low brown-noise floor (a room). sox runs with -R (repeatable), so renders are identical.
3. Writes OUTDIR/<talk>.mp4, truth.json, corpus.json (a copy) and feed.xml, like make_talks.py.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
RATE = 16000
TMP: Path


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


_n = 0


def sox_fx(audio: np.ndarray, *effects) -> np.ndarray:
    """Run sox effects on an array; the effects used here keep the length."""
    global _n
    _n += 1
    src, dst = TMP / f"fx{_n}_in.wav", TMP / f"fx{_n}_out.wav"
    write(src, audio)
    run("sox", "-R", src, "-r", RATE, "-c", 1, "-b", 16, dst, *effects)
    out = read(dst)
    assert len(out) == len(audio), (effects, len(out), len(audio))
    return out


def sox_synth(seconds: float, *synth_and_effects) -> np.ndarray:
    global _n
    _n += 1
    dst = TMP / f"synth{_n}.wav"
    run("sox", "-R", "-n", "-r", RATE, "-c", 1, "-b", 16, dst, "synth", f"{seconds:.4f}", *synth_and_effects)
    out = read(dst)
    n = int(round(seconds * RATE))
    return np.pad(out, (0, max(0, n - len(out))))[:n]


def music(seconds: float = 30.0) -> np.ndarray:
    """An intro jingle: a pad of held chords and a plucked arpeggio over them, fading out."""
    bar = 2.0
    progression = [("C3", "E3", "G3"), ("A2", "C3", "E3"), ("F2", "A2", "C3"), ("G2", "B2", "D3")]
    arp_notes = {"C3": "C5", "E3": "E5", "G3": "G5", "A2": "A4", "F2": "F4", "G2": "G4", "B2": "B4", "D3": "D5"}
    out = np.zeros(int(seconds * RATE), dtype=np.float32)
    cache: dict[tuple, np.ndarray] = {}
    for b in range(int(seconds / bar)):
        chord = progression[b % len(progression)]
        at = int(b * bar * RATE)
        key = ("pad",) + chord
        if key not in cache:
            cache[key] = sox_synth(bar, "triangle", chord[0], "triangle", chord[1], "triangle", chord[2],
                                   "remix", "-", "fade", "q", "0.15", f"{bar}", "0.3", "vol", "0.25")
        out[at:at + len(cache[key])] += cache[key][: len(out) - at]
        tones = [arp_notes[n] for n in chord] + [arp_notes[chord[1]]]
        for k in range(8):  # eighth notes
            note = tones[k % 4]
            if note not in cache:
                cache[note] = sox_synth(0.45, "pluck", note, "vol", "0.35")
            s = at + int(k * bar / 8 * RATE)
            seg = cache[note][: len(out) - s]
            out[s:s + len(seg)] += seg
    fade = int(3.0 * RATE)
    out[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    out[: int(0.3 * RATE)] *= np.linspace(0.0, 1.0, int(0.3 * RATE), dtype=np.float32)
    return out


def applause(seconds: float, fade_in: float = 0.8, fade_out: float = 3.0) -> np.ndarray:
    """Clapping crowd: pink and white noise with irregular amplitude modulation, high-passed."""
    a = sox_synth(seconds, "pinknoise", "tremolo", "9.3", "70", "highpass", "350", "vol", "0.35")
    b = sox_synth(seconds, "whitenoise", "tremolo", "13.1", "80", "highpass", "900", "vol", "0.12")
    c = sox_synth(seconds, "pinknoise", "tremolo", "6.7", "60", "bandpass", "1800", "1000", "vol", "0.3")
    out = (a + b + c) * 2.2  # about as loud as the speech, as a room microphone hears it
    n_in, n_out = int(fade_in * RATE), int(fade_out * RATE)
    out[:n_in] *= np.linspace(0.0, 1.0, n_in, dtype=np.float32)
    out[-n_out:] *= np.linspace(1.0, 0.0, n_out, dtype=np.float32)
    return out


def near_silence(seconds: float) -> np.ndarray:
    return np.zeros(int(round(seconds * RATE)), dtype=np.float32)  # the room-noise floor is added to all of it


def base_corpus(talk: dict) -> dict:
    keep = ("id", "title", "speaker", "event", "date", "voice", "rate", "sentences")
    return {k: talk[k] for k in keep if k in talk}


def render_base(corpus: dict) -> tuple[dict, dict]:
    base = {"title": corpus["title"], "talks": [base_corpus(t) for t in corpus["talks"]]}
    other = {"title": "other voices", "talks": []}
    for t in corpus["talks"]:
        ov = t.get("other_voice")
        if ov:
            other["talks"].append({"id": t["id"] + "-other", "title": t["title"] + " (other voice)",
                                   "voice": ov["voice"], **({"rate": ov["rate"]} if "rate" in ov else {}),
                                   "sentences": [t["sentences"][i] for i in ov["sentences"]]})
    json.dump(base, open(TMP / "base.json", "w"), indent=1)
    json.dump(other, open(TMP / "other.json", "w"), indent=1)
    make = [sys.executable, REPO / "bench" / "make_talks.py"]
    run(*make, TMP / "base.json", TMP / "base", "--no-video", "--seed", "11")
    run(*make, TMP / "other.json", TMP / "other", "--no-video", "--seed", "12")
    return json.load(open(TMP / "base" / "truth.json")), json.load(open(TMP / "other" / "truth.json"))


def pieces(wav: Path, spans: list[dict]) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """lead silence, sentence clips and the pause after each, cut at make_talks.py's timings."""
    audio = read(wav)
    idx = lambda t: int(round(t * RATE))  # noqa: E731
    lead = audio[: idx(spans[0]["start"])]
    clips, gaps = [], []
    for i, s in enumerate(spans):
        nxt = idx(spans[i + 1]["start"]) if i + 1 < len(spans) else len(audio)
        clips.append(audio[idx(s["start"]): idx(s["end"])])
        gaps.append(audio[idx(s["end"]): nxt])
    return lead, clips, gaps


def assemble(talk: dict, base_truth: dict, other_truth: dict) -> tuple[np.ndarray, list[dict]]:
    cond = talk["condition"].split(":")[0]
    lead, clips, gaps = pieces(TMP / "base" / f"{talk['id']}.wav", base_truth[talk["id"]]["sentences"])
    ov = talk.get("other_voice")
    if ov:
        _, oclips, ogaps = pieces(TMP / "other" / f"{talk['id']}-other.wav",
                                  other_truth[talk["id"] + "-other"]["sentences"])
        for j, i in enumerate(ov["sentences"]):
            clips[i] = oclips[j]
    pauses = {int(k): float(v) for k, v in talk.get("pauses", {}).items()}
    parts: list[np.ndarray] = []
    pos = 0
    spans = []

    def put(a: np.ndarray) -> None:
        nonlocal pos
        parts.append(a.astype(np.float32)); pos += len(a)

    if cond == "music-intro":
        put(music(30.0))
    elif cond == "applause":
        put(applause(15.0))
    put(lead)
    for i, (clip, gap) in enumerate(zip(clips, gaps)):
        start = pos
        if cond == "qa" and i in ov["sentences"]:
            # quiet, reverberant audience microphone: the reverb tail spills into the pause after it
            joined = np.concatenate([clip, gap])
            joined = sox_fx(joined, "gain", "-9", "reverb", "80", "40", "100", "50", "10")
            put(joined[: len(clip)]); gap = joined[len(clip):]
        else:
            put(clip)
        spans.append({"start": round(start / RATE, 3), "end": round((start + len(clip)) / RATE, 3),
                      "text": talk["sentences"][i]})
        put(gap)
        if cond == "mc-intro" and i == max(ov["sentences"]):
            put(applause(4.0, 0.3, 1.5)); put(near_silence(1.0))  # welcome applause, walk to the lectern
        if i in pauses:
            put(near_silence(pauses[i]))
    if cond == "applause":
        put(applause(8.0, 0.5, 3.0))
    audio = np.concatenate(parts)
    audio = audio + sox_synth(len(audio) / RATE, "brownnoise", "vol", "0.01")  # room-noise floor
    if cond == "reverb":
        audio = np.concatenate([audio, np.zeros(RATE, dtype=np.float32)])  # room for the tail
        audio = sox_fx(audio, "gain", "-4", "reverb", "70", "50", "100")
    elif cond == "low-level-hum":
        audio = audio * 10 ** (-20 / 20)
        audio = audio + sox_synth(len(audio) / RATE, "sine", "50", "sine", "100", "sine", "150",
                                  "remix", "-", "vol", "0.012")
    return audio, spans


def main() -> None:
    global TMP
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--corpus", default=str(HERE / "corpus.json"))
    ap.add_argument("--base-url", default="http://127.0.0.1:8765")
    a = ap.parse_args()
    corpus = json.load(open(a.corpus))
    out = Path(a.outdir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="conditions-") as tmp:
        TMP = Path(tmp)
        base_truth, other_truth = render_base(corpus)
        truth, items = {}, []
        for talk in corpus["talks"]:
            audio, spans = assemble(talk, base_truth, other_truth)
            wav = TMP / f"{talk['id']}.wav"
            write(wav, audio)
            duration = len(audio) / RATE
            run("ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                f"color=c=0x203040:s=320x180:d={duration:.2f}", "-i", wav, "-shortest",
                "-c:v", "libx264", "-preset", "ultrafast", "-tune", "stillimage",
                "-c:a", "aac", "-b:a", "64k", out / f"{talk['id']}.mp4")
            truth[talk["id"]] = {"title": talk["title"], "duration": round(duration, 3), "voice": talk["voice"],
                                 **({"rate": talk["rate"]} if "rate" in talk else {}),
                                 "condition": talk["condition"],
                                 **({"other_voice": talk["other_voice"]} if "other_voice" in talk else {}),
                                 "sentences": spans}
            date = datetime.fromisoformat(talk.get("date", "2024-11-18")).replace(tzinfo=timezone.utc)
            items.append(
                f"<item><title>{html.escape(talk['title'])}</title>"
                f"<author>{html.escape(talk.get('speaker', ''))}</author>"
                f"<category>{html.escape(talk.get('event', ''))}</category>"
                f"<guid isPermaLink=\"false\">{talk['id']}</guid><pubDate>{format_datetime(date)}</pubDate>"
                f"<enclosure url=\"{a.base_url}/{talk['id']}.mp4\" type=\"video/mp4\" "
                f"length=\"{os.path.getsize(out / (talk['id'] + '.mp4'))}\"/></item>")
            if os.environ.get("KEEP_WAV"):
                shutil.copy(wav, Path(os.environ["KEEP_WAV"]) / wav.name)
            first = spans[0]["start"]
            print(f"{talk['id']}: {duration:6.1f} s  first sentence at {first:6.2f} s  {talk['condition']}", flush=True)
    json.dump(truth, open(out / "truth.json", "w"), indent=1)
    shutil.copy(a.corpus, out / "corpus.json")
    with open(out / "feed.xml", "w") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
                f"<title>{html.escape(corpus.get('title', 'Talks'))}</title><link>{a.base_url}/</link>"
                "<description>Recorded talks</description>" + "".join(items) + "</channel></rss>\n")


if __name__ == "__main__":
    main()

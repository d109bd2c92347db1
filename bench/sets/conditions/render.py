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

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from bench.sets.rendering import (BAR, RATE, chords, command_line, cut, make_talks, publish, read,  # noqa: E402
                                  scratch, scratch_path, some, sox_fx, sox_synth, truth_entry, write_set)


def music(seconds: float = 30.0) -> np.ndarray:
    """An intro jingle: whole bars of the chords, fading in and out."""
    out = chords(int(seconds * RATE), int(seconds / BAR))
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
    return some(talk, "id", "title", "speaker", "event", "date", "voice", "rate", "sentences")


def render_base(corpus: dict) -> tuple[dict, dict]:
    base = {"title": corpus["title"], "talks": [base_corpus(t) for t in corpus["talks"]]}
    other = {"title": "other voices", "talks": []}
    for t in corpus["talks"]:
        ov = t.get("other_voice")
        if ov:
            other["talks"].append({"id": t["id"] + "-other", "title": t["title"] + " (other voice)",
                                   "voice": ov["voice"], **some(ov, "rate"),
                                   "sentences": [t["sentences"][i] for i in ov["sentences"]]})
    json.dump(base, open(scratch_path("base.json"), "w"), indent=1)
    json.dump(other, open(scratch_path("other.json"), "w"), indent=1)
    make_talks(scratch_path("base.json"), scratch_path("base"), seed=11)
    make_talks(scratch_path("other.json"), scratch_path("other"), seed=12)
    return json.load(open(scratch_path("base", "truth.json"))), json.load(open(scratch_path("other", "truth.json")))


def pieces(wav: Path, spans: list[dict]) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """lead silence, sentence clips and the pause after each, cut at make_talks.py's timings."""
    return cut(read(wav), spans)


def assemble(talk: dict, base_truth: dict, other_truth: dict) -> tuple[np.ndarray, list[dict]]:
    cond = talk["condition"].split(":")[0]
    lead, clips, gaps = pieces(scratch_path("base", f"{talk['id']}.wav"), base_truth[talk["id"]]["sentences"])
    ov = talk.get("other_voice")
    if ov:
        _, oclips, ogaps = pieces(scratch_path("other", f"{talk['id']}-other.wav"),
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
    a, corpus, out = command_line(HERE)
    with scratch("conditions-"):
        base_truth, other_truth = render_base(corpus)
        truth, items = {}, []
        for talk in corpus["talks"]:
            audio, spans = assemble(talk, base_truth, other_truth)
            duration, item = publish(talk, audio, out, a.base_url)
            truth[talk["id"]] = truth_entry(talk, duration, spans, some(talk, "other_voice"))
            items.append(item)
            first = spans[0]["start"]
            print(f"{talk['id']}: {duration:6.1f} s  first sentence at {first:6.2f} s  {talk['condition']}", flush=True)
    write_set(out, truth, items, corpus, a.corpus, a.base_url)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Render the speech set: talks whose SPEECH itself is difficult, with correct sentence timings.

usage: .venv/bin/python bench/sets/speech/render.py OUTDIR [--corpus CORPUS.json] [--base-url URL]

Follows bench/sets/conditions/render.py (what the two do alike is in bench/sets/rendering.py):
1. bench/make_talks.py renders, in one run (--no-video, --seed 11), one small talk per voice of every talk: the
   talk's own sentences (one voice), or each speaker's sentences of a panel / co-presented talk ("speakers" and
   "turns"), or, for a talk with "splits", every sentence cut into two halves at a word. make_talks.py knows where
   every clip starts and ends (truth.json).
2. The clips are cut out at those timings, brought to one speech level (RMS of each clip 0.07), and joined in the
   talk's order with make_talks.py's pause after each clip; every sentence's start and end is counted in samples
   while joining. A sentence with an "overlap" starts speaking that many seconds before the previous speaker stops
   (crosstalk: both are mixed; each keeps its own start and end). A split sentence is half, "splits" seconds of
   silence, half; its span covers both halves. Then the talk's condition (its "condition" field) is applied to the
   whole recording with effects that keep its length (checked), so no timing moves:
     music-bed      chords and arpeggio (sox synth) under the whole talk, 10 dB below the speech
     babble         four other voices reading unrelated small talk (the talk's "babble"), looped, reverberant,
                    8 dB below the speech, plus pink noise 25 dB below
     disfluent      nothing: the fillers and restarts are in the sentences
     panel          nothing more: four voices and the overlaps
     phone          eight 80-200 ms dropouts (zeros) inside sentences, then 300-3400 Hz, 8 kHz, mu-law, back to 16 kHz
     overdriven-mic sox gain 15 dB, overdrive, hard compander, normalised
     slow-pauses    nothing more: rate 110 and the mid-sentence silences
     accents        nothing more: other-language espeak-ng voices reading English
   All talks get a low brown-noise floor (a room). sox runs with -R (repeatable); the dropouts use a seeded RNG.
3. Writes OUTDIR/<talk>.mp4, truth.json, corpus.json (a copy) and feed.xml, like make_talks.py.
"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from bench.sets.rendering import (BAR, RATE, chords, command_line, cut, make_talks, numbered, publish,  # noqa: E402
                                  read, run, scratch, scratch_path, some, sox_fx, sox_synth, truth_entry, write,
                                  write_set)

LEVEL = 0.07  # RMS of every speech clip


def rms(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(a.astype(np.float64) ** 2))) if len(a) else 0.0


def music(seconds: float) -> np.ndarray:
    """A background bed for the whole talk: the chords, one bar more than fits, cut at the talk's last sample."""
    return chords(int(seconds * RATE) + 1, int(seconds / BAR) + 1)[: int(round(seconds * RATE))]


def synth_voice(engine_voice: str, text: str, rate: int = 165) -> np.ndarray:
    engine, voice = engine_voice.split(":", 1)
    raw, dst = numbered("v", ".raw.wav", ".wav")
    if engine == "flite":
        run("flite", "-voice", voice, "-t", text, "-o", raw)
    else:
        run("espeak-ng", "-v", voice, "-s", rate, "-w", raw, text)
    run("sox", "-R", raw, "-r", RATE, "-c", 1, "-b", 16, dst)
    return read(dst)


def babble(n: int, spec: dict) -> np.ndarray:
    """Several voices chatting at once: each reads its text in a loop, starting at its own offset."""
    out = np.zeros(n, dtype=np.float32)
    for k, (voice, text) in enumerate(zip(spec["voices"], spec["texts"])):
        v = synth_voice(voice, text, 150 + 10 * k)
        v = v / max(rms(v), 1e-6) * LEVEL
        loop = np.concatenate([v, np.zeros(int(0.7 * RATE), dtype=np.float32)])
        reps = np.tile(loop, n // len(loop) + 2)
        off = int(len(loop) * k / len(spec["voices"]))
        out += reps[off: off + n]
    return sox_fx(out, "reverb", "60", "50", "100")


def split_text(sentence: str, at: int) -> tuple[str, str]:
    w = sentence.split()
    return " ".join(w[:at]), " ".join(w[at:])


def make_parts(corpus: dict) -> dict:
    """The small talks make_talks.py renders: (talk id, part name) -> talk, and which sentences each holds."""
    talks, plan = [], {}
    for t in corpus["talks"]:
        meta = some(t, "title", "date")
        if "turns" in t:
            for key, sp in t["speakers"].items():
                idx = [i for i, k in enumerate(t["turns"]) if k == key]
                pid = f"{t['id']}-{key}"
                talks.append({"id": pid, **meta, "voice": sp["voice"], **some(sp, "rate"),
                              "sentences": [t["sentences"][i] for i in idx]})
                plan[pid] = idx
        elif "splits" in t:
            halves = []
            for i, s in enumerate(t["sentences"]):
                halves += list(split_text(s, t["splits"][str(i)][0]))
            pid = f"{t['id']}-halves"
            talks.append({"id": pid, **meta, "voice": t["voice"], **some(t, "rate"), "sentences": halves})
            plan[pid] = "halves"
        else:
            pid = t["id"]
            talks.append({"id": pid, **meta, "voice": t["voice"], **some(t, "rate"),
                          "sentences": t["sentences"]})
            plan[pid] = list(range(len(t["sentences"])))
    json.dump({"title": "speech set parts", "talks": talks}, open(scratch_path("parts.json"), "w"), indent=1)
    make_talks(scratch_path("parts.json"), scratch_path("parts"), seed=11)
    return plan


def pieces(pid: str, truth: dict) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Sentence clips and the pause after each, cut at make_talks.py's timings (the lead silence is the set's own)."""
    _, clips, gaps = cut(read(scratch_path("parts", f"{pid}.wav")), truth[pid]["sentences"])
    return clips, gaps


def level(clip: np.ndarray) -> np.ndarray:
    return clip / max(rms(clip), 1e-6) * LEVEL


def voiced(clip: np.ndarray) -> tuple[int, int]:
    """First and last sample of a clip above -40 dB of its peak (in 10 ms frames)."""
    f = int(0.01 * RATE)
    env = np.abs(clip[: len(clip) // f * f]).reshape(-1, f).max(axis=1)
    on = np.flatnonzero(env > env.max() * 0.01)
    return int(on[0] * f), int((on[-1] + 1) * f)


def assemble(talk: dict, truth: dict) -> tuple[np.ndarray, list[dict]]:
    tid, n = talk["id"], len(talk["sentences"])
    clips: list = [None] * n
    gaps: list = [None] * n
    if "turns" in talk:
        for key in talk["speakers"]:
            c, g = pieces(f"{tid}-{key}", truth)
            for j, i in enumerate(i for i, k in enumerate(talk["turns"]) if k == key):
                clips[i], gaps[i] = level(c[j]), g[j]
    elif "splits" in talk:
        c, g = pieces(f"{tid}-halves", truth)
        for i in range(n):
            silence = np.zeros(int(round(talk["splits"][str(i)][1] * RATE)), dtype=np.float32)
            a, b = level(c[2 * i]), level(c[2 * i + 1])
            clips[i], gaps[i] = np.concatenate([a, silence, b]), g[2 * i + 1]
    else:
        c, g = pieces(tid, truth)
        clips, gaps = [level(x) for x in c], g
    overlap = {int(k): float(v) for k, v in talk.get("overlap", {}).items()}
    lead = int(round(1.2 * RATE))
    placed, spans = [], []
    pos = lead
    prev_voiced_end = 0
    for i in range(n):
        start = pos
        if i in overlap:  # the VOICED parts overlap by that much (clips carry the synthesiser's own silences)
            start = prev_voiced_end - int(round(overlap[i] * RATE)) - voiced(clips[i])[0]
        placed.append((start, clips[i]))
        end = start + len(clips[i])
        spans.append({"start": round(start / RATE, 3), "end": round(end / RATE, 3), "text": talk["sentences"][i]})
        prev_voiced_end = start + voiced(clips[i])[1]
        pos = max(pos, end + len(gaps[i]))
    audio = np.zeros(pos + int(1.0 * RATE), dtype=np.float32)
    for start, clip in placed:
        audio[start:start + len(clip)] += clip
    return audio, spans, placed


def condition(talk: dict, audio: np.ndarray, placed) -> np.ndarray:
    cond = talk["condition"].split(":")[0]
    n = len(audio)
    speech = rms(np.concatenate([c for _, c in placed]))
    if cond == "music-bed":
        m = music(n / RATE)
        audio = audio + m / rms(m) * speech * 10 ** (-10 / 20)
    elif cond == "babble":
        b = babble(n, talk["babble"])
        p = sox_synth(n / RATE, "pinknoise")
        audio = audio + b / rms(b) * speech * 10 ** (-8 / 20) + p / rms(p) * speech * 10 ** (-25 / 20)
    audio = audio + sox_synth(n / RATE, "brownnoise", "vol", "0.01")  # room-noise floor
    if cond == "phone":
        rnd = random.Random(5)
        order = sorted(rnd.sample(range(len(placed)), 8))
        for i in order:
            start, clip = placed[i]
            d = int(rnd.uniform(0.08, 0.2) * RATE)
            at = start + rnd.randint(int(0.3 * RATE), max(int(0.3 * RATE) + 1, len(clip) - int(0.3 * RATE) - d))
            audio[at:at + d] = 0.0
        narrow = sox_fx(audio, "highpass", "300", "lowpass", "3400", "highpass", "300", "lowpass", "3400")
        src, mid, back = numbered("ph", ".wav", "_8k.wav", "_16k.wav")
        write(src, narrow)
        run("sox", "-R", src, "-r", 8000, "-e", "mu-law", "-b", 8, mid)
        run("sox", "-R", mid, "-r", RATE, "-e", "signed-integer", "-b", 16, back)
        out = read(back)
        assert abs(len(out) - n) <= 4, (len(out), n)
        audio = np.pad(out, (0, max(0, n - len(out))))[:n]
    elif cond == "overdriven-mic":
        audio = sox_fx(audio, "gain", "15", "overdrive", "20", "20",
                       "compand", "0.002,0.05", "6:-70,-70,-50,-20,-20,-6,0,-3", "-4", "-90", "0",
                       "gain", "-n", "-1")
    return audio


def main() -> None:
    a, corpus, out = command_line(HERE)
    with scratch("speech-"):
        make_parts(corpus)
        parts_truth = json.load(open(scratch_path("parts", "truth.json")))
        truth, items = {}, []
        for talk in corpus["talks"]:
            audio, spans, placed = assemble(talk, parts_truth)
            audio = condition(talk, audio, placed)
            duration, item = publish(talk, audio, out, a.base_url)
            described = {**({"speakers": talk["speakers"], "turns": talk["turns"]} if "turns" in talk else {}),
                         **some(talk, "overlap", "splits")}
            truth[talk["id"]] = truth_entry(talk, duration, spans, described)
            items.append(item)
            print(f"{talk['id']}: {duration:6.1f} s  peak {np.abs(audio).max():.2f}  {talk['condition'][:60]}", flush=True)
    write_set(out, truth, items, corpus, a.corpus, a.base_url)


if __name__ == "__main__":
    main()

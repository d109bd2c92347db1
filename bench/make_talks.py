#!/usr/bin/env python3
# Extended from /work/shared/eval/make_talks.py (the eval set's talk generator) so the repo is self-contained.
# The changes: sox runs in its repeatable mode (-R: the same audio every run), and a talk in the corpus may carry its own optional "voice" (ENGINE:VOICE, e.g. "espeak-ng:en-gb+m3"),
# "rate" (espeak-ng words per minute) and "noise" (brown-noise amplitude); missing keys fall back to --voices
# (round robin), a random 150-175 wpm and --noise, and the random stream is consumed exactly as before, so a corpus
# without these keys (e.g. the dev set) gives the same talks as the original.
"""Turn a talk corpus (JSON: talks with sentences) into spoken audio with known sentence timings.

Each sentence is synthesised on its own (flite or espeak-ng), resampled to 16 kHz mono and joined with
short pauses, so the start and end of every sentence in the final audio is known exactly.

usage: make_talks.py CORPUS.json OUTDIR [--voices flite:slt,espeak-ng:en-us] [--noise 0.0] [--seed 1]
        [--base-url http://127.0.0.1:8765] [--language-voices VOICES.json]
A talk may override the voice, the espeak-ng rate and the noise with its own "voice", "rate" and "noise" keys
(flite has no rate: a flite voice speaks at its own, whatever "rate" says; truth.json repeats the key as given).
A conversation (a seminar's or podcast's host and guests) gives each sentence its speaker's voice: "cast" (speaker ->
ENGINE:VOICE) and "who" (the speaker of each sentence, in order); its truth then carries both.
--language-voices (a JSON object: language -> list of ENGINE:VOICE) replaces the voice of every talk with a
"language" key by the next voice of its language, in turn; the rest of the talk (rate, noise, timing draws) is
unchanged, so one corpus can be spoken by another family of voices (e.g. espeak-ng's MBROLA voices).
Writes OUTDIR/<talk>.wav, OUTDIR/<talk>.mp4 (video with the audio), OUTDIR/truth.json, OUTDIR/feed.xml (an RSS
feed whose enclosures point at BASE-URL/<talk>.mp4) and a copy of the corpus, OUTDIR/corpus.json: a set as
bench/quality.py reads one.
Needs: flite and/or espeak-ng, sox, ffmpeg (Debian packages of those names).
"""
import argparse
import html
import json
import os
import random
import subprocess
import sys
import tempfile
import wave
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from bench.common import read_json  # noqa: E402
from bench.corpus_rules import talk_problems  # noqa: E402

RATE = 16000


def synth(engine_voice: str, text: str, out: str, speed: int) -> None:
    engine, voice = engine_voice.split(":", 1)
    raw = out + ".raw.wav"
    if engine == "flite":
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", raw], check=True)
    elif engine == "espeak-ng":
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", raw, text], check=True)
    else:
        raise SystemExit(f"unknown engine {engine}")
    subprocess.run(["sox", "-R", raw, "-r", str(RATE), "-c", "1", "-b", "16", out], check=True)
    os.remove(raw)


def frames(path: str) -> bytes:
    with wave.open(path) as w:
        return w.readframes(w.getnframes())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus"); ap.add_argument("outdir")
    ap.add_argument("--voices", default="flite:slt")
    ap.add_argument("--noise", type=float, default=0.0, help="brown-noise amplitude mixed in, 0 for none")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--base-url", default="http://127.0.0.1:8765")
    ap.add_argument("--no-video", action="store_true")
    ap.add_argument("--language-voices", help="JSON file: language -> voices that replace its talks' voices")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    # both read before OUTDIR is made: a mistyped file is one line, not a traceback beside an empty folder
    corpus = read_json(Path(a.corpus))
    language_voices = read_json(Path(a.language_voices)) if a.language_voices else {}
    if problems := talk_problems(corpus):  # a talk given twice was written over; a cast's mismatch a traceback
        raise SystemExit(f"error: {a.corpus}: {problems[0]}" + (f" (and {len(problems) - 1} more: "
                                                                  "bench/corpus_rules.py names them)" if len(problems) > 1 else ""))
    os.makedirs(a.outdir, exist_ok=True)
    voices = a.voices.split(",")
    spoken_in = {}  # language -> talks given one of its --language-voices so far
    truth, items = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for n, talk in enumerate(corpus["talks"]):
            voice = talk.get("voice") or voices[n % len(voices)]
            if talk.get("language") in language_voices:
                turn = spoken_in[talk["language"]] = spoken_in.get(talk["language"], -1) + 1
                choices = language_voices[talk["language"]]
                voice = choices[turn % len(choices)]
            noise = float(talk.get("noise", a.noise))
            pcm, spans, t = bytearray(), [], 0.0
            lead = int(RATE * rnd.uniform(0.5, 1.5)) * 2
            pcm += b"\0" * lead; t += lead / 2 / RATE
            for i, sentence in enumerate(talk["sentences"]):
                f = os.path.join(tmp, f"{talk['id']}_{i}.wav")
                speed = rnd.randint(150, 175)  # drawn even when the talk sets its rate, to keep the stream
                spoken_by = talk["cast"][talk["who"][i]] if "cast" in talk else voice
                synth(spoken_by, sentence, f, int(talk.get("rate", speed)))
                data = frames(f)
                dur = len(data) / 2 / RATE
                spans.append({"start": round(t, 3), "end": round(t + dur, 3), "text": sentence})
                pcm += data; t += dur
                gap = int(RATE * rnd.uniform(0.25, 0.9)) * 2
                pcm += b"\0" * gap; t += gap / 2 / RATE
            wav = os.path.join(a.outdir, talk["id"] + ".wav")
            clean = os.path.join(tmp, "clean.wav")
            with wave.open(clean, "wb") as w:
                w.setnchannels(1); w.setsampwidth(2); w.setframerate(RATE); w.writeframes(bytes(pcm))
            if noise > 0:
                # -R: sox's repeatable mode (fixed seeds for its noise and dither). Without it every run made
                # other audio, and the figures of a set moved with it (docs/benchmarks.md).
                subprocess.run(["sox", "-R", clean, "-p", "synth", "brownnoise", "vol", str(noise)], check=True,
                               stdout=open(os.path.join(tmp, "noise.sox"), "wb"))
                subprocess.run(["sox", "-R", "-m", clean, os.path.join(tmp, "noise.sox"), wav], check=True)
            else:
                os.replace(clean, wav)
            if not a.no_video:
                subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                                f"color=c=0x203040:s=320x180:d={t:.2f}", "-i", wav, "-shortest",
                                "-c:v", "libx264", "-preset", "ultrafast", "-tune", "stillimage",
                                "-c:a", "aac", "-b:a", "64k", os.path.join(a.outdir, talk["id"] + ".mp4")],
                               check=True)
            if "cast" in talk:  # a conversation: its cast's voices speak it, not the one drawn above
                voice = ", ".join(f"{role}={cast_voice}" for role, cast_voice in talk["cast"].items())
            truth[talk["id"]] = {"title": talk["title"], "duration": round(t, 3),
                                 **({"cast": talk["cast"], "who": talk["who"]} if "cast" in talk else {"voice": voice}),
                                 **({"rate": int(talk["rate"])} if "rate" in talk else {}),
                                 **({"noise": noise} if noise > 0 else {}), "sentences": spans}
            date = datetime.fromisoformat(talk.get("date", "2024-11-18")).replace(tzinfo=timezone.utc)
            ext = "wav" if a.no_video else "mp4"
            items.append(
                f"<item><title>{html.escape(talk['title'])}</title>"
                f"<author>{html.escape(talk.get('speaker', ''))}</author>"
                f"<category>{html.escape(talk.get('event', ''))}</category>"
                f"<guid isPermaLink=\"false\">{talk['id']}</guid><pubDate>{format_datetime(date)}</pubDate>"
                f"<enclosure url=\"{a.base_url}/{talk['id']}.{ext}\" type=\"{'audio/wav' if a.no_video else 'video/mp4'}\" length=\"{os.path.getsize(wav)}\"/></item>")
            print(f"{talk['id']}: {t:6.1f} s  {voice}" + (f" rate {talk['rate']}" if "rate" in talk else "")
                  + (f" noise {noise}" if noise > 0 else ""), flush=True)
    json.dump(truth, open(os.path.join(a.outdir, "truth.json"), "w"), indent=1)
    # the set whole, as bench/quality.py reads one: its queries beside the talks
    Path(a.outdir, "corpus.json").write_bytes(Path(a.corpus).read_bytes())
    with open(os.path.join(a.outdir, "feed.xml"), "w") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
                f"<title>{html.escape(corpus.get('title', 'Talks'))}</title><link>{a.base_url}/</link>"
                "<description>Recorded talks</description>" + "".join(items) + "</channel></rss>\n")


if __name__ == "__main__":
    main()

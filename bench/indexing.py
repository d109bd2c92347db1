#!/usr/bin/env python3
"""Indexing speed: the whole `talksearch index` process against plain faster-whisper, alternated.

    .venv/bin/python bench/indexing.py [--talks DIR] [--rounds 2] [--long-hours 0] [--whisper-model NAME]

Each round runs, as separate processes and one after the other:
  talksearch  `talksearch index FEED` over a loopback HTTP server (download + decode + transcribe +
              embed + store), into a fresh library;
  plain       what a user writes: WhisperModel(<the same model>, device="cpu", compute_type="int8")
              .transcribe(file) with default options, over the same files read from disk. The model is
              talksearch's default (the setting ``whisper_model``) unless --whisper-model names another;
              plain faster-whisper loads the same verified directory talksearch resolves it to.
It prints ×real-time for both, their time ratio, each process's peak RSS, and both WERs against the
truth. With --long-hours H it also indexes one H-hour recording (the talks looped) and prints the peak
RSS, to show memory stays bounded however long the recording.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import (LoopbackServer, at_least, default_dev_set, needs_program, talk_set_media,  # noqa: E402
                          word_errors)
from talksearch.models import ModelError, resolve  # noqa: E402
from talksearch.settings import Settings  # noqa: E402

PLAIN = r"""
import json, sys
from faster_whisper import WhisperModel
model = WhisperModel(sys.argv[2], device="cpu", compute_type="int8")
out = {}
for path in sys.argv[3:]:
    segments, info = model.transcribe(path)
    out[path] = " ".join(s.text.strip() for s in segments)
json.dump(out, open(sys.argv[1], "w"))
"""


def run_measured(command: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds and peak RSS (MB) of one child process (os.wait4 gives that child's own rusage)."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = "", ""
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    stdout, stderr = child.stdout.read(), child.stderr.read()
    result = subprocess.CompletedProcess(command, os.waitstatus_to_exitcode(status), stdout, stderr)
    return wall, usage.ru_maxrss / 1024, result


def talksearch(*args: str) -> list[str]:
    return [sys.executable, "-m", "talksearch.cli", *args]


def corpus_wer(truth: dict, transcripts: dict[str, str]) -> float:
    errors = words = 0
    for talk, text in transcripts.items():
        e, n = word_errors(" ".join(s["text"] for s in truth[talk]["sentences"]), text)
        errors, words = errors + e, words + n
    return errors / words


def library_transcripts(library: Path) -> dict[str, str]:
    listing = json.loads(subprocess.run(talksearch("talks", "--library", str(library), "--json"),
                                        capture_output=True, text=True, check=True).stdout)
    out = {}
    for talk in listing["talks"]:
        text = subprocess.run(talksearch("export", talk["id"], "--library", str(library), "--format", "txt"),
                              capture_output=True, text=True, check=True).stdout
        out[Path(talk["url"]).stem] = text
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--talks", type=Path, default=None, help="talk set (truth.json, feed.xml, media)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--long-hours", type=float, default=0.0)
    parser.add_argument("--whisper-model", default=Settings().whisper_model,
                        help="the model both sides run [default: talksearch's default, %(default)s]")
    args = parser.parse_args(argv)
    at_least("--rounds", args.rounds, 1)
    at_least("--long-hours", args.long_hours, 0)
    if args.long_hours:
        needs_program("ffmpeg", "--long-hours joins the talks into one recording")
    talks = args.talks or default_dev_set()
    truth, media = talk_set_media(talks, "feed.xml")
    files = [str(file) for file in media.values()]
    try:
        model_directory = resolve("whisper", args.whisper_model).location
    except ModelError as exc:
        raise SystemExit(f"error: --whisper-model {args.whisper_model}: {exc}") from None
    audio_seconds = sum(t["duration"] for t in truth.values())
    work = Path(tempfile.mkdtemp(prefix="talksearch-bench-"))
    server = LoopbackServer(talks, work / "served")
    print(f"talk set: {talks} ({len(files)} talks, {audio_seconds / 60:.1f} min of audio); cores: {os.cpu_count()}; "
          f"whisper {args.whisper_model}")

    runs: dict[str, list[tuple[float, float]]] = {"talksearch": [], "plain": []}
    wers: dict[str, float] = {}
    for round_ in range(1, args.rounds + 1):
        library = work / f"library-{round_}"
        wall, rss, result = run_measured(talksearch("index", server.feed_url, "--library", str(library),
                                                    "--whisper-model", args.whisper_model))
        if result.returncode != 0:
            raise SystemExit(f"talksearch index failed:\n{result.stdout}\n{result.stderr}")
        runs["talksearch"].append((wall, rss))
        print(f"round {round_} talksearch: {wall:6.1f} s  {audio_seconds / wall:5.1f}× real time  peak RSS {rss:5.0f} MB")
        plain_out = work / f"plain-{round_}.json"
        wall, rss, result = run_measured([sys.executable, "-c", PLAIN, str(plain_out), model_directory, *files])
        if result.returncode != 0:
            raise SystemExit(f"plain faster-whisper failed:\n{result.stderr}")
        runs["plain"].append((wall, rss))
        print(f"round {round_} plain:      {wall:6.1f} s  {audio_seconds / wall:5.1f}× real time  peak RSS {rss:5.0f} MB")
    wers["talksearch"] = corpus_wer(truth, library_transcripts(work / "library-1"))
    wers["plain"] = corpus_wer(truth, {Path(k).stem: v for k, v in json.loads(plain_out.read_text()).items()})

    ours = statistics.median(w for w, _ in runs["talksearch"])
    plain = statistics.median(w for w, _ in runs["plain"])
    summary = {
        "whisper_model": args.whisper_model,
        "audio_seconds": round(audio_seconds, 1),
        "talksearch_s": round(ours, 1), "talksearch_xrt": round(audio_seconds / ours, 1),
        "plain_s": round(plain, 1), "plain_xrt": round(audio_seconds / plain, 1),
        "ratio": round(ours / plain, 3),
        "talksearch_peak_rss_mb": round(max(r for _, r in runs["talksearch"])),
        "plain_peak_rss_mb": round(max(r for _, r in runs["plain"])),
        "talksearch_wer": round(wers["talksearch"], 4), "plain_wer": round(wers["plain"], 4),
    }
    if args.long_hours:
        long_file = work / "long.mp4"
        concat = work / "concat.txt"
        loops = int(args.long_hours * 3600 / audio_seconds) + 1
        concat.write_text("".join(f"file '{f}'\n" for _ in range(loops) for f in files))
        subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i", str(concat), "-vn",
                        "-t", str(args.long_hours * 3600), "-c:a", "copy", str(long_file)], check=True)
        wall, rss, result = run_measured(talksearch("index", str(long_file), "--library", str(work / "long-library"),
                                                    "--whisper-model", args.whisper_model))
        print(f"{args.long_hours} h recording: {wall:.0f} s, peak RSS {rss:.0f} MB ({result.stdout.strip().splitlines()[-1]})")
        summary.update(long_hours=args.long_hours, long_peak_rss_mb=round(rss), long_s=round(wall))
    server.close()
    print(f"median: talksearch {ours:.1f} s vs plain {plain:.1f} s → ratio {ours / plain:.2f}; "
          f"WER talksearch {wers['talksearch']:.3f}, plain {wers['plain']:.3f}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

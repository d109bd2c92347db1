#!/usr/bin/env python3
"""Captions against Whisper: indexing time and search quality, side by side in one run (issue 15).

    .venv/bin/python bench/captions.py [--talks DIR] [--whisper-model NAME] [--seed 15]

Two caption files are written for every talk of the set from its truth.json, and served with the talks from a
loopback server, each set linked from its own copy of the feed as ``<podcast:transcript type="text/vtt">``:
  publisher  the publisher's exact text and punctuation, cut as subtitles are (cues of up to two lines of
             42 characters, cut at sentence ends too), no word times (talksearch shares a cue's time out);
  machine    what a site's speech recognition gives (YouTube's automatic VTT): rolling two-line cues whose new
             line carries inline word times, 10 ms cues in between, lower case, no punctuation, and about one
             word in ten wrong (dropped, cut short or replaced), seeded.
(A feed's transcript is the publisher's: both are read as "uploaded captions"; the machine-style file goes
through the same cleaning as YouTube's automatic captions, which yt-dlp hands over the same way.)

Then, on the same feed and the same library settings:
1. per talk, models loaded first (process start-up left out): an ``IndexRun`` in this process over the feed
   with ``--captions never`` (Whisper) and with each caption set, wall time over the talks;
2. the whole ``talksearch index FEED`` process for each, wall time from launch to exit;
3. search quality of the three libraries (bench/quality.py's corpus, judging and figures), beside the
   perfect-transcript ceiling (the truth's sentences at their true times, built the same way), and the WER of each.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import LoopbackServer, default_dev_set, talk_set_media  # noqa: E402
from bench.quality import (  # noqa: E402
    CachedTalk,
    TalkSet,
    build_library,
    evaluate,
    scores_by_kind,
    talksearch_cut,
    talksearch_search,
    word_error_rate,
)
from talksearch.embedding import Embedder  # noqa: E402
from talksearch.indexer.passages import PassageOptions  # noqa: E402
from talksearch.library import Library, Segment, Word  # noqa: E402
from talksearch.search.ranking import RankingOptions  # noqa: E402
from talksearch.settings import Settings  # noqa: E402

PODCAST_NS = "https://podcastindex.org/namespace/1.0"
LINE_CHARS = 42  # a subtitle line's usual limit
# Words a recogniser swaps in: what the machine-style captions get wrong (besides cutting words short).
CONFUSIONS = ["the", "and", "a", "in", "that", "is", "to", "of", "it", "on", "for", "this", "we", "so", "are"]


# --- caption files from the truth ---------------------------------------------------------------------


def timed_words(sentence: dict) -> list[tuple[float, float, str]]:
    """A true sentence's words with times shared out by character length (the truth times sentences only)."""
    words = sentence["text"].split()
    total = sum(len(w) for w in words) or 1
    span = sentence["end"] - sentence["start"]
    at, timed = sentence["start"], []
    for word in words:
        length = span * len(word) / total
        timed.append((at, at + length, word))
        at += length
    return timed


def stamp(seconds: float) -> str:
    return f"{int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}:{seconds % 60:06.3f}"


def _lines(words: list[tuple[float, float, str]], chars: int) -> list[list[tuple[float, float, str]]]:
    lines, current = [], []
    for word in words:
        if current and len(" ".join(w[2] for w in current + [word])) > chars:
            lines.append(current)
            current = []
        current.append(word)
    return lines + ([current] if current else [])


def publisher_vtt(talk: dict) -> str:
    """Subtitles as a publisher makes them: the exact text, cues of up to two lines, a cue never spanning sentences."""
    cues = []
    for sentence in talk["sentences"]:
        lines = _lines(timed_words(sentence), LINE_CHARS)
        for pair in (lines[i:i + 2] for i in range(0, len(lines), 2)):
            text = "\n".join(" ".join(w[2] for w in line) for line in pair)
            cues.append(f"{stamp(pair[0][0][0])} --> {stamp(pair[-1][-1][1])}\n{text}")
    return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"


def machine_words(talk: dict, rng: random.Random, error_rate: float = 0.1) -> list[tuple[float, float, str]]:
    """The talk's words as a recogniser might give them: lower case, no punctuation, some wrong."""
    words = []
    for sentence in talk["sentences"]:
        for start, end, word in timed_words(sentence):
            word = re.sub(r"[^\w'%-]", "", word.lower())
            if not word:
                continue
            if rng.random() < error_rate:
                kind = rng.choice(["drop", "cut", "swap"])
                if kind == "drop":
                    continue
                word = word[: max(1, len(word) * 2 // 3)] if kind == "cut" and len(word) > 3 else rng.choice(CONFUSIONS)
            words.append((start, end, word))
    return words


def machine_vtt(talk: dict, rng: random.Random) -> str:
    """YouTube's automatic VTT: each cue shows the previous line again above the new one, whose words carry
    inline times; a 10 ms cue holding the finished line comes between."""
    lines = _lines(machine_words(talk, rng), 32)
    cues, previous = [], ""
    for index, line in enumerate(lines):
        start = line[0][0]
        end = lines[index + 1][0][0] if index + 1 < len(lines) else line[-1][1]
        timed = line[0][2] + "".join(f"<{stamp(w[0])}><c> {w[2]}</c>" for w in line[1:])
        cues.append(f"{stamp(start)} --> {stamp(max(end - 0.01, start))} align:start position:0%\n{previous or ' '}\n{timed}")
        previous = " ".join(w[2] for w in line)
        cues.append(f"{stamp(max(end - 0.01, start))} --> {stamp(end)} align:start position:0%\n{previous}\n ")
    return "WEBVTT\nKind: captions\nLanguage: en\n\n" + "\n\n".join(cues) + "\n"


def stage(talk_set: Path, truth: dict, work: Path, variant: str, seed: int,
          languages: dict[str, str] | None = None) -> Path:
    """A folder served as the set with this variant's captions linked from its feed (``whisper``: none), each
    track tagged with its talk's language (``languages``, by talk key; English when not given)."""
    folder = work / f"set-{variant}"
    folder.mkdir(parents=True)
    for file in talk_set.iterdir():
        if file.name != "feed.xml":
            (folder / file.name).symlink_to(file.resolve())
    feed = (talk_set / "feed.xml").read_text()
    if variant != "whisper":
        rng = random.Random(seed)
        for key, talk in truth.items():
            text = publisher_vtt(talk) if variant == "publisher" else machine_vtt(talk, rng)
            (folder / f"{key}.{variant}.vtt").write_text(text)
            base = re.search(rf'url="(http://127\.0\.0\.1:\d+)/{key}\.', feed)[1]
            feed = re.sub(rf'(<enclosure url="{re.escape(base)}/{key}\.[^"]+"[^>]*/>)',
                          rf'\1<podcast:transcript url="{base}/{key}.{variant}.vtt" type="text/vtt" '
                          rf'language="{(languages or {}).get(key, "en")}"/>', feed)
        feed = feed.replace('<rss version="2.0">', f'<rss version="2.0" xmlns:podcast="{PODCAST_NS}">', 1)
    (folder / "feed.xml").write_text(feed)
    return folder


# --- measuring ----------------------------------------------------------------------------------------


def index_in_process(settings: Settings, feed_url: str) -> tuple[float, int]:
    """Wall time of an IndexRun over the feed with its models already loaded; the number of talks added."""
    from talksearch.indexer.pipeline import IndexRun

    run = IndexRun(settings, report=lambda _: None)
    try:
        run.processor.embedder  # noqa: B018 (loads it: start-up is not the talk's time)
        if settings.captions == "never":
            run.processor.transcriber  # noqa: B018
        started = time.perf_counter()
        summary = run.run([feed_url])
        wall = time.perf_counter() - started
    finally:
        run.close()
    if summary.count("failed"):
        raise SystemExit(f"indexing failed: {[(o.label, o.detail) for o in summary.outcomes if o.status == 'failed']}")
    return wall, summary.count("added")


def index_process(library: Path, feed_url: str, captions: str, whisper_model: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "talksearch.cli", "index", feed_url, "--library", str(library),
                             "--captions", captions, "--whisper-model", whisper_model],
                            capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"talksearch index failed: {result.stdout[-2000:]} {result.stderr[-2000:]}")
    return wall, result.stdout.strip().splitlines()[-1]


def sources_of(library: Path) -> set[str]:
    with Library.open(library, readonly=True) as reader:
        return {t.transcript_source for t in reader.talks()}


def perfect_talks(truth: dict, library: Path) -> list[CachedTalk]:
    """The truth's sentences as the transcript (words timed by length within them), with the rows whisper's run stored."""
    with Library.open(library, readonly=True) as reader:
        rows = {t.title: dataclasses.asdict(t) for t in reader.talks()}
    talks = []
    for talk in truth.values():
        segments = [Segment(s["start"], s["end"], s["text"],
                            [Word(a, b, w if i == 0 else " " + w) for i, (a, b, w) in enumerate(timed_words(s))])
                    for s in talk["sentences"]]
        talks.append(CachedTalk(rows[talk["title"]], "en", talk["duration"], segments))
    return talks


def quality(talk_set: TalkSet, library: Library, embedder: Embedder, options: RankingOptions) -> tuple[dict, float]:
    talk_ids = {t.id: talk_set.talk_by_title(t.title) for t in library.talks()}
    scores = scores_by_kind(evaluate(talk_set, talksearch_search(library, embedder, options), talk_ids))
    return scores, word_error_rate(talk_set, library, talk_ids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--talks", type=Path, default=None, help="talk set [default: ../shared/eval/dev]")
    parser.add_argument("--whisper-model", default=Settings.model_fields["whisper_model"].default)
    parser.add_argument("--seed", type=int, default=15, help="seed for the machine-style captions' errors")
    args = parser.parse_args(argv)
    talk_set_dir = args.talks or default_dev_set()
    talk_set_media(talk_set_dir, "feed.xml", "corpus.json")  # all a set needs here, before a talk is indexed
    talk_set = TalkSet.load(talk_set_dir)
    audio_minutes = sum(t["duration"] for t in talk_set.truth.values()) / 60
    print(f"set {talk_set_dir}: {len(talk_set.truth)} talks, {audio_minutes:.1f} min of audio, "
          f"{len(talk_set.queries)} queries; whisper {args.whisper_model}")
    variants = {"whisper": "never", "publisher": "uploaded", "machine": "uploaded"}
    with tempfile.TemporaryDirectory(prefix="talksearch-captions-") as tmp:
        work = Path(tmp)
        servers = {v: LoopbackServer(stage(talk_set_dir, talk_set.truth, work, v, args.seed), work / f"served-{v}")
                   for v in variants}
        settings = Settings(whisper_model=args.whisper_model)
        per_talk, whole, libraries = {}, {}, {}
        try:
            for variant, choice in variants.items():
                libraries[variant] = work / f"lib-{variant}"
                wall, added = index_in_process(settings.model_copy(update={"library": libraries[variant],
                                                                           "captions": choice}),
                                               servers[variant].feed_url)
                per_talk[variant] = wall / added
                print(f"in process  {variant:<10} {wall:7.2f} s for {added} talks = {per_talk[variant]:6.3f} s a talk "
                      f"({audio_minutes * 60 / wall:7.1f}× real time); transcripts: {', '.join(sources_of(libraries[variant]))}")
            for variant, choice in variants.items():
                wall, line = index_process(work / f"proc-{variant}", servers[variant].feed_url, choice, args.whisper_model)
                whole[variant] = wall
                print(f"process     {variant:<10} {wall:7.2f} s  ({line})")
        finally:
            for server in servers.values():
                server.close()
        for variant in ("publisher", "machine"):
            print(f"speed-up {variant}: {per_talk['whisper'] / per_talk[variant]:.0f}× a talk (models loaded), "
                  f"{whole['whisper'] / whole[variant]:.1f}× the whole process")

        embedder = Embedder.from_settings(settings)
        options = RankingOptions.from_settings(settings)
        rows = []
        perfect = build_library(work / "lib-perfect", perfect_talks(talk_set.truth, libraries["whisper"]), embedder,
                                talksearch_cut(PassageOptions()))
        for name, library in [("perfect transcript", perfect),
                              *[(f"{v} captions" if v != "whisper" else f"whisper {args.whisper_model}",
                                 Library.open(libraries[v], readonly=True)) for v in variants]]:
            scores, wer = quality(talk_set, library, embedder, options)
            library.close()
            s = scores["overall"]
            rows.append(f"| {name} | {s.r1:.2f} | {s.r5:.2f} | {s.r10:.2f} | {s.mrr:.2f} | {s.on_time:.2f} | "
                        f"{scores['keyword'].r5:.2f} | {wer:.3f} |")
    print("| transcript | R@1 | R@5 | R@10 | MRR@10 | onTime@5 | keyword R@5 | WER |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

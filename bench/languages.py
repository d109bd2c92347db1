#!/usr/bin/env python3
"""Talks in German, Spanish and French (issue 16): transcription, language detection and search per language.

    bash bench/make_languages.sh                       # the audio, into bench/out/languages (git-ignored)
    .venv/bin/python bench/languages.py [SET_DIR] [--whisper-model base] [--translate] [--captions] [--json FILE]
                                        [--ranking NAME=VALUE] [--compare NAME=VALUE[,NAME=VALUE]]

The set (bench/languages/corpus.json, spoken by espeak-ng's German, Spanish and French voices, or by its MBROLA
voices: bench/make_languages.sh's third argument) is indexed by the
real pipeline from a loopback RSS feed that names no language, so whisper detects each talk's; then every
query is run and judged as bench/quality.py judges (a result counts when it is from the target talk and
overlaps a target sentence ±2 s; on time when it starts within 3 s before the target to its end). Queries are
written in the talk's language and, for the same moments, in English: the English ones measure what crosses
languages without a translation (the bundled MiniLM is English, so only shared words such as names and
jargon can carry them). ``--translate`` indexes the set a second time with whisper's English translation
(the setting of that name) and reports the same figures, and both indexing times: the translate pass's cost.
``--captions`` indexes each talk from its exact words instead (publisher's captions in the talk's language,
linked from the feed): what search reaches when the words are right, apart from whisper's errors.

Per language it prints: whether detection was right, WER (words compared case-folded, punctuation dropped,
accents kept), same-language R@5 and onTime@5, and cross-language (English query) R@5 and onTime@5.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from bench.captions import stage  # noqa: E402
from bench.common import LoopbackServer, word_errors  # noqa: E402
from bench.quality import (Judged, Scores, TalkSet, apply_overrides, evaluate, ranking_variants,  # noqa: E402
                           talksearch_search)
from talksearch.embedding import Embedder  # noqa: E402
from talksearch.library import Library  # noqa: E402
from talksearch.search.ranking import RankingOptions  # noqa: E402
from talksearch.settings import Settings  # noqa: E402

DEFAULT_SET = REPO / "bench" / "out" / "languages"
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def words(text: str) -> list[str]:
    """Words for WER in any Latin script: case-folded, punctuation and hyphens dropped, accents kept."""
    return _WORD.findall(text.casefold().replace("-", " ").replace("’", "'"))


@dataclass
class Indexed:
    library: Library
    seconds: float  # indexing the whole set, models loaded before the clock starts
    talk_ids: dict[str, str]  # library id -> corpus id


def index_set(talk_set: TalkSet, settings: Settings, work: Path, captions: bool = False) -> Indexed:
    """The set indexed by the real pipeline (IndexRun) from a loopback feed, into ``work``/library; with
    ``captions``, from each talk's exact words as the publisher's captions in the talk's language (no whisper)."""
    from talksearch.indexer.pipeline import IndexRun

    served = talk_set.path
    if captions:
        spoken = {t["id"]: t["language"] for t in talk_set.corpus["talks"]}
        served = stage(talk_set.path, talk_set.truth, work, "publisher", 0, spoken)
    server = LoopbackServer(served, work / "served")
    run = IndexRun(settings.model_copy(update={"library": work / "library"}), report=lambda _: None)
    try:
        _ = run.processor.embedder  # loaded before the clock starts
        if not captions:
            _ = run.processor.transcriber
        if settings.translate and not run.processor.transcriber.is_multilingual:
            run.processor.multilingual()
        started = time.perf_counter()
        summary = run.run([server.feed_url])
        seconds = time.perf_counter() - started
    finally:
        run.close()
        server.close()
    if summary.count("failed") or summary.count("added") != len(talk_set.truth):
        raise SystemExit(f"indexing the set failed: {[(o.label, o.detail) for o in summary.outcomes]}")
    library = Library.open(work / "library", readonly=True)
    return Indexed(library, seconds, {t.id: talk_set.talk_by_title(t.title) for t in library.talks()})


def figures_per_language(talk_set: TalkSet, indexed: Indexed, embedder: Embedder,
                         ranking: RankingOptions) -> tuple[dict[str, dict], list[Judged]]:
    spoken = {t["id"]: t["language"] for t in talk_set.corpus["talks"]}
    library, talk_ids = indexed.library, indexed.talk_ids
    detected = {talk_ids[t.id]: t.language for t in library.talks()}
    judged = evaluate(talk_set, talksearch_search(library, embedder, ranking), talk_ids)
    figures = {}
    for language in sorted(set(spoken.values())):
        ours = {tid: key for tid, key in talk_ids.items() if spoken[key] == language}
        errors = total = 0
        for talk_id, key in ours.items():
            e, n = word_errors(" ".join(s["text"] for s in talk_set.truth[key]["sentences"]),
                               " ".join(s.text for s in library.segments(talk_id)), words)
            errors, total = errors + e, total + n
        same = Scores.of([j for j in judged if spoken[j.query["talk"]] == language and j.query["lang"] == language])
        cross = Scores.of([j for j in judged if spoken[j.query["talk"]] == language and j.query["lang"] == "en"])
        figures[language] = {
            "talks": len(ours), "detected": sum(detected[key] == language for key in ours.values()),
            "wer": errors / total if total else 0.0,
            "same_n": same.n, "same_r5": same.r5, "same_on_time5": same.on_time,
            "cross_n": cross.n, "cross_r5": cross.r5, "cross_on_time5": cross.on_time}
    return figures, judged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("set", nargs="?", type=Path, default=DEFAULT_SET, help=f"talk set [default: {DEFAULT_SET}]")
    parser.add_argument("--whisper-model", default="base")
    parser.add_argument("--embed-model", default=None)
    parser.add_argument("--translate", action="store_true", help="also index the set with --translate, and compare")
    parser.add_argument("--captions", action="store_true",
                        help="index each talk from its exact words (the publisher's captions, in its language) "
                             "instead of whisper: search measured apart from speech recognition")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--ranking", action="append", default=[], metavar="NAME=VALUE", help="RankingOptions field")
    parser.add_argument("--compare", action="append", default=[], metavar="NAME=VALUE[,NAME=VALUE]",
                        help="also report the figures with these RankingOptions changes (one variant per --compare), "
                             "from the same index")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    talk_set = TalkSet.load(args.set)
    settings = Settings(whisper_model=args.whisper_model, **({"embed_model": args.embed_model} if args.embed_model else {}))
    print(f"set {talk_set.path}: {len(talk_set.truth)} talks, {len(talk_set.queries)} queries; "
          f"whisper {settings.whisper_model}, embeddings {settings.embed_model}")
    embedder = Embedder.from_settings(settings)
    ranking = apply_overrides(RankingOptions.from_settings(settings), args.ranking)
    rankings = {("" if name == "defaults" else f" ({name})"): options
                for name, options in ranking_variants(ranking, args.compare).items()}
    results = {}
    with tempfile.TemporaryDirectory(prefix="talksearch-languages-") as tmp:
        for translate in (False, True) if args.translate else (False,):
            name = "--translate" if translate else "plain"
            indexed = index_set(talk_set, settings.model_copy(update={"translate": translate}), Path(tmp) / name,
                                args.captions)
            print(f"\n{name}: indexed in {indexed.seconds:.1f} s")
            for label, options in rankings.items():
                figures, judged = figures_per_language(talk_set, indexed, embedder, options)
                results[name + label] = {"index_seconds": indexed.seconds, "languages": figures}
                print(f"{name + label}:")
                print(f"{'language':<10}{'talks':>6}{'detected':>9}{'WER':>7}{'n':>4}{'R@5':>6}{'onTime@5':>9}"
                      f"{'n en':>6}{'R@5 en':>8}{'onTime@5 en':>12}")
                for language, f in figures.items():
                    print(f"{language:<10}{f['talks']:>6}{f['detected']:>9}{f['wer']:>7.3f}{f['same_n']:>4}"
                          f"{f['same_r5']:>6.2f}{f['same_on_time5']:>9.2f}{f['cross_n']:>6}{f['cross_r5']:>8.2f}"
                          f"{f['cross_on_time5']:>12.2f}")
                for j in judged:
                    if j.rank is None or j.rank > 5:
                        print(f"missed (rank {j.rank or '>10'}): {j.query['id']} {j.query['text']!r}")
            indexed.library.close()
    audio = sum(t["duration"] for t in talk_set.truth.values())
    print(f"\naudio {audio:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"set": str(talk_set.path), "audio_seconds": audio, **results}, indent=1))
    print(f"took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

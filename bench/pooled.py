#!/usr/bin/env python3
"""Ranking variants judged over every talk set at once, tuned on one part and reported on another.

    .venv/bin/python bench/pooled.py MANIFEST.json [--libraries DIR] [NAME=FIELD:VALUE[,FIELD:VALUE] ...]

One set moves by a query or two for most levers (docs/benchmarks.md), so a lever is judged over all of them. The
manifest names each set: its directory (bench/quality.py's format), the transcripts bench/quality.py cached for it
(its --work dir's transcripts/*.json: the sets are not transcribed again here) and whether it was tuned on whole
(``"tuned": true``: the dev and tune sets). A query is in the *tune* pool when its set was tuned on, or its talk is
in the first half of its set's talks (by name); else in the *report* pool, which only the figures after a choice
may be read from. Each NAME=... is a variant of RankingOptions (booleans True/False); ``base`` is the settings'.
Libraries are built once per set (embedded with the settings' models) under --libraries and kept.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import bench.quality as quality  # noqa: E402
from talksearch.embedding import Embedder  # noqa: E402
from talksearch.indexer.passages import PassageOptions  # noqa: E402
from talksearch.library import Library  # noqa: E402
from talksearch.search.ranking import RankingOptions  # noqa: E402
from talksearch.settings import Settings  # noqa: E402


def variant(base: RankingOptions, spec: str) -> dict:
    changes = {}
    for part in spec.split(","):
        name, value = part.split(":")
        current = getattr(base, name)
        changes[name] = value == "True" if isinstance(current, bool) else type(current)(value)
    return changes


def library_for(name: str, entry: dict, folder: Path, embedder: Embedder) -> Library:
    path = folder / name
    if (path / "built").exists():
        return Library.open(path)
    talks = [quality.CachedTalk.from_json(t) for t in json.loads(Path(entry["transcripts"]).read_text())]
    library = quality.build_library(path, talks, embedder, quality.talksearch_cut(PassageOptions()))
    (path / "built").write_text("")
    return library


def figures(rows: list[dict]) -> tuple[int, float, float, float, float]:
    n, ranks = len(rows), [r["rank"] for r in rows]
    return (n, sum(r == 1 for r in ranks) / n, sum(r is not None and r <= 5 for r in ranks) / n,
            sum(1 / r for r in ranks if r) / n, sum(r["on_time"] for r in rows) / n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--libraries", type=Path, default=REPO / "bench" / "out" / "pooled")
    parser.add_argument("--json", type=Path, help="also write every query's judgement per variant here")
    parser.add_argument("variants", nargs="*", metavar="NAME=FIELD:VALUE")
    args = parser.parse_args(argv)
    settings = Settings()
    embedder = Embedder.from_settings(settings)
    base = RankingOptions.from_settings(settings)
    variants = {"base": {}} | {name: variant(base, spec) for name, spec in (v.split("=", 1) for v in args.variants)}
    judged: dict[str, list[dict]] = {name: [] for name in variants}
    for name, entry in json.loads(args.manifest.read_text()).items():
        talk_set = quality.TalkSet.load(Path(entry["set"]))
        library = library_for(name, entry, args.libraries, embedder)
        ids = {t.id: talk_set.talk_by_title(t.title) for t in library.talks()}
        keys = sorted(talk_set.truth)
        first_half = set(keys[: len(keys) // 2])
        for vname, changes in variants.items():
            search = quality.talksearch_search(library, embedder, dataclasses.replace(base, **changes))
            for j in quality.evaluate(talk_set, search, ids):
                top = j.results[0] if j.results else None
                judged[vname].append({
                    "set": name, "query": j.query["text"], "kind": j.query.get("kind"), "rank": j.rank,
                    "on_time": j.on_time, "top_in_talk": bool(top and ids.get(top.talk_id) == j.query["talk"]),
                    "pool": "tune" if entry.get("tuned") or j.query["talk"] in first_half else "report"})
        print(f"{name}: {len(talk_set.queries)} queries", file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(judged, indent=1))
    print(f"{'variant':<20}{'pool':<8}{'n':>4}{'R@1':>7}{'R@5':>7}{'MRR@10':>8}{'onTime@5':>10}"
          "   vs base: R@1 +/-, onTime +/-")
    for vname, rows in judged.items():
        for pool in ("tune", "report"):
            mine = [r for r in rows if r["pool"] == pool]
            theirs = [r for r in judged["base"] if r["pool"] == pool]
            pairs = list(zip(mine, theirs))
            first = lambda r: r["rank"] == 1  # noqa: E731
            moved = (sum(first(a) > first(b) for a, b in pairs), sum(first(a) < first(b) for a, b in pairs),
                     sum(a["on_time"] > b["on_time"] for a, b in pairs), sum(a["on_time"] < b["on_time"] for a, b in pairs))
            n, r1, r5, mrr, on_time = figures(mine)
            print(f"{vname:<20}{pool:<8}{n:>4}{r1:>7.3f}{r5:>7.3f}{mrr:>8.3f}{on_time:>10.3f}"
                  f"   {moved[0]:>3} {moved[1]:>3}  {moved[2]:>3} {moved[3]:>3}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

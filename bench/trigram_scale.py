#!/usr/bin/env python3
"""What a trigram search (talks not in English, issue 16) costs in a large library, with and without the budget.

    .venv/bin/python bench/trigram_scale.py [--passages 200000]

Fills a scratch catalog's ``passages_trigrams`` with N passages of 10-60 words drawn from the German sentences of
bench/languages/corpus.json, then times ``KeywordIndex.trigram_search`` for a few German queries: first with every
trigram of the query (what a library under the keyword budget does), then as a library of that size does, the
commonest trigrams left out (``selective_terms``; its first call counts each trigram's passages, later calls
read the counts back). A fixed vocabulary makes every trigram common, so the budgeted search finds nothing here:
the cost is the point, not the hits.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from talksearch.library.keyword_index import KeywordIndex  # noqa: E402
from talksearch.library.migrations import SCHEMA  # noqa: E402

QUERIES = ["Wie lange dauert der Start eines Containers?", "parallelen Dateisystem",
           "Energie sparen im Rechenzentrum wenn Knoten im Leerlauf sind"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=200_000)
    args = parser.parse_args(argv)
    corpus = json.loads((REPO / "bench" / "languages" / "corpus.json").read_text())
    words = [w for t in corpus["talks"] if t["language"] == "de" for s in t["sentences"] for w in s.split()]
    rnd = random.Random(1)
    with tempfile.TemporaryDirectory(prefix="talksearch-trigrams-") as tmp:
        db = sqlite3.connect(Path(tmp) / "catalog.sqlite")
        db.executescript(SCHEMA)
        started = time.perf_counter()
        db.executemany("INSERT INTO passages_trigrams(rowid, text) VALUES (?, ?)",
                       ((i, " ".join(rnd.choices(words, k=rnd.randint(10, 60)))) for i in range(args.passages)))
        db.commit()
        print(f"{args.passages} passages of {len(set(words))} German words indexed in {time.perf_counter() - started:.0f} s")
        index = KeywordIndex(db)
        for budgeted in (False, True):
            if budgeted:
                index.rebase(args.passages)  # what Library does when it learns the library's size
            print("with the budget (the default for a library this size)" if budgeted else "every trigram")
            for query in QUERIES:
                times = []
                for _ in range(3):
                    started = time.perf_counter()
                    found = index.trigram_search(query, 50)
                    times.append((time.perf_counter() - started) * 1000)
                print(f"  first {times[0]:7.1f} ms, then {min(times[1:]):7.1f} ms, {len(found):2} found  {query}")
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""What a trigram search (talks not in English, issue 16) costs in a large library, with and without the budget.

    .venv/bin/python bench/trigram_scale.py [--passages 200000]

Writes a scratch library of German talks through its own write path (``Library.add_talk``, 200 passages a talk,
8-dimensional random vectors: the dense side is not measured here) whose passages are 10-60 words drawn from the
German sentences of bench/languages/corpus.json, then times ``Library.trigram_search`` for a few German queries:
first with every trigram of the query (what a library under the keyword budget does), then as a library of that
size does, the commonest trigrams left out (``selective_terms``; its first call counts each trigram's passages,
later calls read the counts back). A fixed vocabulary makes every trigram common, so the budgeted search finds
nothing here: the cost is the point, not the hits. Last, the time ``talksearch check`` takes to compare both
trigram indexes with the passages they should hold.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from bench.common import at_least  # noqa: E402
from talksearch.library import Library, Passage, Segment, Talk  # noqa: E402

TALK_PASSAGES = 200
DIMENSION = 8

QUERIES = ["Wie lange dauert der Start eines Containers?", "parallelen Dateisystem",
           "Energie sparen im Rechenzentrum wenn Knoten im Leerlauf sind"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=200_000)
    args = parser.parse_args(argv)
    at_least("--passages", args.passages, 1)
    corpus = json.loads((REPO / "bench" / "languages" / "corpus.json").read_text())
    words = [w for t in corpus["talks"] if t["language"] == "de" for s in t["sentences"] for w in s.split()]
    rnd = random.Random(1)
    with tempfile.TemporaryDirectory(prefix="talksearch-trigrams-") as tmp:
        library = Library.open(Path(tmp) / "library", create=True)
        library.acquire_writer()
        library.bind_embedding_model("test-model", DIMENSION)
        started = time.perf_counter()
        for number in range(0, args.passages, TALK_PASSAGES):
            count = min(TALK_PASSAGES, args.passages - number)
            talk = Talk(extractor="Generic", source_id=f"de{number}", url=f"http://127.0.0.1/de{number}.wav",
                        title=f"Vortrag {number}", language="de", whisper_model="base", embed_model="test-model")
            passages = [Passage(i, i + 1, " ".join(rnd.choices(words, k=rnd.randint(10, 60))), kind="sentence")
                        for i in range(count)]
            vectors = np.random.default_rng(number).standard_normal((count, DIMENSION)).astype(np.float32)
            library.add_talk(talk, [Segment(0, count, "Vortrag")], passages,
                             vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
        print(f"{args.passages} passages of {len(set(words))} German words written in "
              f"{time.perf_counter() - started:.0f} s")
        reader = Library.open(Path(tmp) / "library", readonly=True)
        for budgeted in (False, True):
            # the budget applies once the library is known to be larger than it (Library learns its size as it
            # reads); first every trigram, as a library under the budget searches
            reader.keywords.rebase(args.passages if budgeted else 0)
            print("with the budget (the default for a library this size)" if budgeted else "every trigram")
            for query in QUERIES:
                times = []
                for _ in range(3):
                    started = time.perf_counter()
                    found = reader.trigram_search(query, 50)
                    times.append((time.perf_counter() - started) * 1000)
                print(f"  first {times[0]:7.1f} ms, then {min(times[1:]):7.1f} ms, {len(found):2} found  {query}")
        reader.close()
        library.close()
        # what `talksearch check` pays for comparing both trigram indexes with their passages
        checked = Library.open(Path(tmp) / "library", readonly=True)
        started = time.perf_counter()
        disagreeing = checked.trigram_indexes_disagreeing()
        print(f"check of the trigram indexes: {time.perf_counter() - started:.1f} s, disagreeing: {disagreeing or 'none'}")
        checked.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

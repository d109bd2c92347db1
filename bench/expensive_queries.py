#!/usr/bin/env python3
"""What a query's shape costs a search: an ordinary query against 500 characters of made-up words (each unknown
to the library, so matched by how it sounds) and of misspelt words of the library, on the first page (10) and at
offset 9,900 (100: the deepest page the API serves).

    .venv/bin/python bench/expensive_queries.py LIBRARY

In this process (``open_searcher``, one reader, no response cache); each query twice, the second with a letter
added, and each time printed in milliseconds. Such queries held a reader for 13-15 s at offset 9,900 before the
sound-alike search was made once a query, for at most ``SOUND_WORDS_AT_MOST`` words (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import searchable_library  # noqa: E402
from talksearch.search.searcher import open_searcher  # noqa: E402
from talksearch.settings import Settings  # noqa: E402

LONGEST = 499  # the service's max_query_chars is 500: one letter is added for the second run


def _filled(words) -> str:
    text = ""
    for word in words:
        if len(text) + len(word) + 1 > LONGEST:
            break
        text = f"{text} {word}" if text else word
    return text


def _made_up(rng: random.Random) -> str:
    """500 characters of made-up words of 4-5 letters joined by hyphens, as a word each to the ranking."""
    def word() -> str:
        return "".join(rng.choice("bcdfgklmnprstvz") + rng.choice("aeiou") for _ in range(2)) + rng.choice(["", "n"])
    return "-".join(word() for _ in range(100))[:LONGEST].rstrip("-")


def _misspelt(vocabulary: list[str], rng: random.Random) -> str:
    """Words of the library with a vowel dropped: near every one a word of the library sounds like."""
    words = [w for w in vocabulary if 4 <= len(w) <= 8 and w.isalpha()]
    rng.shuffle(words)
    return _filled(w.replace(next((c for c in w[1:] if c in "aeiou"), ""), "", 1) for w in words)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("library", type=Path, help="the library to search (made by talksearch index)")
    library_path = parser.parse_args().library
    searchable_library(library_path)  # one line, not a traceback, for a mistyped path (and nothing made there)
    rng = random.Random(20261204)
    library, searcher = open_searcher(Settings(library=library_path, search_cache=0), create=False, readers=1)
    try:
        vocabulary = [w for words, _ in library.sound_vocabularies().values() for w in words]
        queries = {"ordinary": "gang scheduling for MPI jobs", "made-up words": _made_up(rng),
                   "misspelt words": _misspelt(vocabulary, rng)}
        print(f"{library.count_talks(None)} talks in {library_path}")
        for name, query in queries.items():
            for page, limit, offset in (("first page", 10, 0), ("offset 9,900", 100, 9_900)):
                times = []
                for again in ("", "x"):
                    started = time.perf_counter()
                    searcher.search(query + again, limit, offset=offset)
                    times.append(f"{(time.perf_counter() - started) * 1000:.0f}")
                print(f"{name:15} {page:13} {' / '.join(times)} ms")
    finally:
        searcher.close()
        library.close()


if __name__ == "__main__":
    main()

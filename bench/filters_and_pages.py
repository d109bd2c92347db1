#!/usr/bin/env python3
"""Filtered searches and paging over HTTP, on a library built by bench/search_scale.py.

    .venv/bin/python bench/filters_and_pages.py /tmp/ts-scale-100k-mp/library [--pages 15]

For a few queries and filters (none; one talk; one event; one channel; a date range holding over a quarter of
the talks; one result per talk; a "quoted phrase"), it prints:
- how many results the first page has, and its time (a filter to one talk used to find nothing in a large
  library: the best 50 passages of 100,000 rarely hold that talk's);
- a walk through ``--pages`` pages of 10 (``offset``): results in all, distinct ones, and whether they are
  exactly the first results of one ``limit=100`` request (a deeper page must not reorder a shallower one);
- the time of a page at offset 1,000 and 5,000 (the ranking is computed to the page's depth).
Every search is a new query text (a counter appended), so no response cache answers it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse
import urllib.request
from itertools import count
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import at_least, searchable_library  # noqa: E402
from bench.search_scale import free_port, start_service  # noqa: E402
from talksearch.library import Library  # noqa: E402

_fresh = count()


def search(port: int, **params) -> tuple[dict, float]:
    url = f"http://127.0.0.1:{port}/api/search?" + urllib.parse.urlencode(params, doseq=True)
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:
        body = json.loads(response.read())
    return body, (time.perf_counter() - started) * 1000


def filters(path: Path) -> dict[str, dict]:
    """Filters of the library at hand: a talk, an event and a channel of it, and the earliest dates holding
    over a quarter of its talks."""
    with Library.open(path, readonly=True) as library:
        talks = sorted(library.talks(0, 0), key=lambda t: t.published or "")
        quarter = talks[len(talks) * 3 // 10].published
        first = talks[0]
    return {"none": {}, "one talk": {"talk": first.id}, "one event": {"event": first.event},
            "one channel": {"channel": first.channel}, "30% of the talks (dates)": {"published_before": quarter},
            "one result per talk": {"group": "talk"}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("library", type=Path)
    parser.add_argument("--pages", type=int, default=15)
    args = parser.parse_args(argv)
    # Before the service starts: `talksearch serve` makes an empty library at a mistyped path, and paged nothing.
    at_least("--pages", args.pages, 1)
    searchable_library(args.library)
    port = free_port()
    service = start_service(args.library, port, threads=1)
    try:
        print(f"{'query':28} {'filter':26} {'page 1':>7} {'ms':>6} {'walked':>6} {'distinct':>8} "
              f"{'= limit 100':>11} {'@1000 ms':>9} {'@5000 ms':>9}")
        for query in ("power capping", "gang scheduling for MPI jobs", '"object storage"'):
            for name, where in filters(args.library).items():
                def key(result: dict) -> tuple:
                    return (result["talk"]["id"],) if where.get("group") else (result["talk"]["id"], result["start"])

                first, first_ms = search(port, q=f"{query} {next(_fresh)}", **where)
                text = f"{query} {next(_fresh)}"
                walked: list[tuple] = []
                offset: int | None = 0
                while offset is not None and offset < 10 * args.pages:
                    page, _ = search(port, q=text, limit=10, offset=offset, **where)
                    walked += [key(r) for r in page["results"]]
                    offset = page["next_offset"]
                top = [key(r) for r in search(port, q=text, limit=100, **where)[0]["results"]]
                same = walked[:len(top)] == top[:len(walked)]
                deep = [search(port, q=f"{query} {next(_fresh)}", offset=at, **where)[1] for at in (1000, 5000)]
                print(f"{query:28} {name:26} {len(first['results']):>7} {first_ms:>6.0f} {len(walked):>6} "
                      f"{len(set(walked)):>8} {str(same):>11} {deep[0]:>9.0f} {deep[1]:>9.0f}", flush=True)
    finally:
        service.terminate()
        service.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

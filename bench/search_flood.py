#!/usr/bin/env python3
"""One client floods the service with costly searches; does another still get answers?

    .venv/bin/python bench/search_flood.py LIBRARY [--clients 45] [--seconds 40] [--in-progress 0 8]

For each value of ``--in-progress`` (``TALKSEARCH_RATE_LIMIT_IN_PROGRESS``; 0: no cap), starts ``talksearch serve``
on LIBRARY on a free loopback port with the per-minute limit off (it would refuse the flood after its first 600
and hide the cap), then for ``--seconds``: ``--clients`` connections from 127.0.0.9 each search back to back with
500 characters of made-up words (about 1.3 CPU-seconds each: every word is matched by how it sounds), while a
monitor from 127.0.0.10 asks ``/healthz`` once a second. Prints the flood's answers by status and the monitor's
answers: how many, median and longest wait. The denial of service hunt of the thirty-third stop saw /healthz held
35-70 s by 45 such searches. Traffic goes to loopback addresses only, and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from bench.common import at_least, searchable_library  # noqa: E402
from bench.load import cli, free_port, wait_healthy  # noqa: E402

FLOOD_FROM, MONITOR_FROM = "127.0.0.9", "127.0.0.10"
CONSONANTS = "bcdfghjklmnpqrstvwxz"


def made_up_query(rng: random.Random) -> str:
    words = ("".join(rng.choice(CONSONANTS) for _ in range(rng.randint(4, 9))) for _ in range(200))
    return " ".join(words)[:500]


async def flood(base: str, clients: int, seconds: float) -> tuple[Counter, list[float]]:
    statuses: Counter = Counter()
    waits: list[float] = []
    deadline = time.monotonic() + seconds
    rng = random.Random(7)

    async def searcher(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            statuses[(await client.get("/api/search", params={"q": made_up_query(rng)})).status_code] += 1

    async def monitor(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            asked = time.monotonic()
            assert (await client.get("/healthz")).status_code == 200
            waits.append(time.monotonic() - asked)
            await asyncio.sleep(1)

    def client_from(address: str, connections: int) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=base, timeout=600, limits=httpx.Limits(max_connections=connections),
                                 transport=httpx.AsyncHTTPTransport(local_address=address))

    async with client_from(FLOOD_FROM, clients) as flooding, client_from(MONITOR_FROM, 1) as monitoring:
        await asyncio.gather(*(searcher(flooding) for _ in range(clients)), monitor(monitoring))
    return statuses, waits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("library", type=Path)
    parser.add_argument("--clients", type=int, default=45)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--in-progress", type=int, nargs="+", default=[0, 8])
    args = parser.parse_args()
    at_least("--clients", args.clients, 1)
    at_least("--seconds", args.seconds, 1)
    searchable_library(args.library)
    for cap in args.in_progress:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "TALKSEARCH_RATE_LIMIT_PER_MINUTE": "0", "TALKSEARCH_RATE_LIMIT_IN_PROGRESS": str(cap)}
        server = subprocess.Popen(cli("serve", "--library", str(args.library), "--host", "127.0.0.1", "--port",
                                      str(port)), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_healthy(base, server)
            httpx.get(f"{base}/api/search", params={"q": "warm up"}, timeout=120)
            statuses, waits = asyncio.run(flood(base, args.clients, args.seconds))
        finally:
            server.terminate()
            server.wait(timeout=60)
        flooded = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
        print(f"in progress at most {cap or 'any'}: flood answers {flooded}; /healthz answered {len(waits)} times, "
              f"median {statistics.median(waits):.2f} s, longest {max(waits):.2f} s")


if __name__ == "__main__":
    main()

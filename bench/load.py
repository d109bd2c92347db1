#!/usr/bin/env python3
"""Search under load while the same library is being indexed: the service must answer every search.

    .venv/bin/python bench/load.py [--seconds 60] [--clients 6] [--talks DIR] [--json OUT]

1. Builds a library from the bundled test talks (tests/data: t01, t02), or uses ``--library DIR``.
2. Starts ``talksearch serve`` on a free loopback port (rate limit off: every request here comes from one
   address, and the benchmark measures the service, not the limiter).
3. For ``--seconds``, ``--clients`` concurrent clients (httpx, asyncio) search it back to back, cycling
   through a list of queries; meanwhile ``talksearch index`` runs again and again in another process on the
   same library, each run adding fresh copies of the test talks (a byte appended: another file to the
   indexer, the same speech), so commits land throughout the load.
4. Prints requests, errors (any non-200 answer or failed request), latency p50/p90/p99/max, requests per
   second, and how many talks the indexer committed meanwhile; then checks the service lists them all.

Exits non-zero on any error. Traffic goes to 127.0.0.1 only, and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from bench.common import at_least, searchable_library, output_file  # noqa: E402
from talksearch.library import Library  # noqa: E402

DATA = ROOT / "tests" / "data"

QUERIES = [
    "checkpoints in an object storage bucket", "how long does a simulation run", "restarting after a node failure",
    "manifest lists every part", "InfiniBand partition keys", "tenant isolation on the network",
    "subnet manager assigns membership", "virtual LANs", "each rank uploads its own part", "object storage",
    "every two hours", "partition", "network traffic can never reach another tenant", "ocean simulations",
    '"object storage"', "checkpoint*", "under four minutes", "who assigns partitions", "failure recovery time",
    "storage bucket upload",
]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "talksearch.cli", *args]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


async def client_loop(client: httpx.AsyncClient, offset: int, deadline: float, latencies: list[float],
                      errors: list[str], empty: list[int]) -> None:
    i = offset
    while time.monotonic() < deadline:
        query = QUERIES[i % len(QUERIES)]
        i += 1
        started = time.perf_counter()
        try:
            response = await client.get("/api/search", params={"q": query, "limit": 10})
        except httpx.HTTPError as exc:  # a request that got no answer: counted as a request and an error
            errors.append(f"no answer ({type(exc).__name__}: {exc})")
            continue
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            errors.append(f"{response.status_code}: {response.text[:200]}")
        elif not response.json()["results"]:
            empty.append(1)


async def run_load(base: str, clients: int, seconds: float) -> tuple[list[float], list[str], int, float]:
    latencies: list[float] = []
    errors: list[str] = []
    empty: list[int] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        started = time.monotonic()
        deadline = started + seconds
        await asyncio.gather(*(client_loop(client, n * 3, deadline, latencies, errors, empty) for n in range(clients)))
        wall = time.monotonic() - started
    return latencies, errors, len(empty), wall


class Indexer:
    """``talksearch index`` over fresh copies of the test talks, run after run, until stopped."""

    def __init__(self, library: Path, work: Path):
        self.library, self.work = library, work
        self.runs: list[tuple[int, float, str]] = []  # exit status, seconds, summary line
        self.round = 0
        self.process: subprocess.Popen | None = None
        self.started = 0.0

    def _copies(self) -> list[str]:
        self.round += 1
        folder = self.work / f"round-{self.round}"
        folder.mkdir()
        names = []
        for name in ("t01.ogg", "t02.ogg"):
            target = folder / f"r{self.round}-{name}"
            target.write_bytes((DATA / name).read_bytes() + bytes([self.round % 256]) * self.round)
            names.append(str(target))
        return names

    def poll(self, start_another: bool) -> None:
        if self.process is not None and self.process.poll() is not None:
            out = self.process.stdout.read()
            summary = next((line for line in reversed(out.splitlines()) if " added, " in line), out.strip()[-200:])
            self.runs.append((self.process.returncode, time.monotonic() - self.started, summary))
            self.process = None
        if self.process is None and start_another:
            self.started = time.monotonic()
            self.process = subprocess.Popen(cli("index", *self._copies(), "--library", str(self.library)), cwd=ROOT,
                                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    async def keep_running(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            self.poll(start_another=True)
            await asyncio.sleep(0.2)

    def finish(self, timeout: float = 600) -> None:
        end = time.monotonic() + timeout
        while self.process is not None and time.monotonic() < end:
            self.poll(start_another=False)
            time.sleep(0.2)
        if self.process is not None:
            self.process.terminate()
            self.process.wait()
            self.poll(start_another=False)

    @property
    def added(self) -> int:
        total = 0
        for _, _, summary in self.runs:
            if " added, " in summary:
                total += int(summary.split(" added, ", 1)[0].split()[-1])
        return total


def committed_within(library: Path, start: datetime, end: datetime) -> int:
    """Talks whose commit (``indexed_at``, whole seconds) falls inside the load's window."""
    with Library.open(library, readonly=True) as catalog:
        stamps = [datetime.fromisoformat(t.indexed_at) for t in catalog.talks()]
    return sum(start.replace(microsecond=0) <= t <= end for t in stamps)


def wait_healthy(base: str, server: subprocess.Popen, timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if server.poll() is not None:
            raise SystemExit("talksearch serve exited before it was ready")
        try:
            if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("talksearch serve did not become ready")


async def measure(base: str, indexer: Indexer, clients: int, seconds: float):
    deadline = time.monotonic() + seconds
    load = asyncio.create_task(run_load(base, clients, seconds))
    await indexer.keep_running(deadline)
    return await load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the load runs (default 60)")
    parser.add_argument("--clients", type=int, default=6, help="concurrent searching clients (default 6)")
    parser.add_argument("--library", type=Path, default=None,
                        help="a library to copy and load (default: one built from tests/data's talks)")
    parser.add_argument("--json", dest="json_out", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    # Before any work: a mistyped --library used to be served as an empty one, every search answered with nothing.
    at_least("--seconds", args.seconds, 1)
    at_least("--clients", args.clients, 1)
    if args.library:
        searchable_library(args.library)
    if args.json_out:
        output_file("--json", args.json_out)

    work = Path(tempfile.mkdtemp(prefix="talksearch-load-"))
    library = work / "library"
    try:
        if args.library:
            shutil.copytree(args.library, library, ignore=shutil.ignore_patterns("indexer.lock", "downloads"))
        else:
            print("building the library from tests/data (t01, t02) ...", flush=True)
            built = subprocess.run(cli("index", str(DATA / "t01.ogg"), str(DATA / "t02.ogg"), "--library", str(library)),
                                   cwd=ROOT, capture_output=True, text=True)
            if built.returncode != 0:
                raise SystemExit(f"indexing failed:\n{built.stdout}\n{built.stderr}")
        talks_before = json.loads(subprocess.run(cli("talks", "--library", str(library), "--json"), cwd=ROOT,
                                                 capture_output=True, text=True, check=True).stdout)["total"]

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "TALKSEARCH_RATE_LIMIT_PER_MINUTE": "0", "TALKSEARCH_RATE_LIMIT_IN_PROGRESS": "0"}
        server = subprocess.Popen(cli("serve", "--library", str(library), "--host", "127.0.0.1", "--port", str(port)),
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_healthy(base, server)
            httpx.get(f"{base}/api/search", params={"q": "warm up"}, timeout=60)
            print(f"load: {args.clients} clients for {args.seconds:.0f} s against {base}, "
                  f"`talksearch index` writing the same library meanwhile ...", flush=True)
            indexer = Indexer(library, work)
            window = (datetime.now(timezone.utc), None)
            latencies, errors, empty, wall = asyncio.run(measure(base, indexer, args.clients, args.seconds))
            window = (window[0], datetime.now(timezone.utc))
            indexer.finish()
            listed = httpx.get(f"{base}/api/talks", params={"limit": 1}, timeout=60).json()["total"]
        finally:
            server.terminate()
            server.wait(timeout=60)

        requests = len(latencies) + sum(e.startswith("no answer") for e in errors)
        figures = {
            "date": datetime.now(timezone.utc).date().isoformat(),
            "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
            "command": "python bench/load.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "clients": args.clients, "seconds": round(wall, 1), "requests": requests, "errors": len(errors),
            "empty_results": empty, "qps": round(len(latencies) / wall, 1),
            "p50_ms": round(percentile(latencies, 50) * 1000, 1), "p90_ms": round(percentile(latencies, 90) * 1000, 1),
            "p99_ms": round(percentile(latencies, 99) * 1000, 1), "max_ms": round(max(latencies) * 1000, 1),
            "mean_ms": round(statistics.fmean(latencies) * 1000, 1),
            "index_runs": len(indexer.runs), "index_failures": sum(rc != 0 for rc, _, _ in indexer.runs),
            "talks_added": indexer.added, "talks_committed_during_load": committed_within(library, *window),
            "talks_before": talks_before, "talks_listed_after": listed,
        }
        print(f"requests {figures['requests']}, errors {figures['errors']}, {figures['qps']} req/s; latency ms: "
              f"p50 {figures['p50_ms']}, p90 {figures['p90_ms']}, p99 {figures['p99_ms']}, max {figures['max_ms']}")
        print(f"indexer: {figures['index_runs']} runs ({figures['index_failures']} failed), {indexer.added} talks added, "
              f"{figures['talks_committed_during_load']} of them committed while the load ran; the service lists "
              f"{listed} talks (had {talks_before})")
        for rc, seconds, summary in indexer.runs:
            print(f"  index run: exit {rc} in {seconds:.1f} s: {summary}")
        for error in errors[:10]:
            print(f"  error: {error}")
        print(json.dumps(figures))
        if args.json_out:
            args.json_out.write_text(json.dumps(figures, indent=2) + "\n")
        ok = not errors and not figures["index_failures"] and listed == talks_before + indexer.added
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""How long a query takes to embed on a busy machine, with OpenMP's threads spinning or asleep while they wait.

    .venv/bin/python bench/busy_queries.py [--queries 20] [--busy N] [--rounds 2]

The default embedding (every model of the setting ``embed_model``) embeds ``--queries`` distinct queries in a fresh
process, one after another, as the service's requests do, timed each. Each round measures twice, alternated:
  asleep   as talksearch runs now (talksearch/__init__.py sets OMP_WAIT_POLICY=PASSIVE);
  spinning as it ran before: libgomp's own default (GOMP_SPINCOUNT=300000, which wins over the wait policy);
first on a quiet machine, then with ``--busy`` processes (default: one per core) burning a core each, as an index
run beside the service or a second test process does. Prints the median, 90th percentile and longest wait per
case, and the models loaded. Runs on the CPU; touches no library.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from bench.common import at_least  # noqa: E402

# Run in a fresh process per case: OpenMP reads its wait policy once, as each runtime loads.
MEASURE = """
import json, sys, time
from talksearch.embedding import Embedder
from talksearch.settings import default
embedder = Embedder(default("embed_model"))
waits = []
for n in range(int(sys.argv[1])):
    started = time.perf_counter()
    embedder.query(f"how does the cluster handle request number {n} for checkpointing and scheduling")
    waits.append(time.perf_counter() - started)
print(json.dumps({"waits": waits, "models": [type(m.encoder).__name__ for m in embedder.models]}))
"""
CASES = {"asleep": {}, "spinning": {"GOMP_SPINCOUNT": "300000"}}


def measure(queries: int, extra_env: dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_WAIT", "GOMP_"))}
    done = subprocess.run([sys.executable, "-c", MEASURE, str(queries)], env={**env, **extra_env}, cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def describe(waits: list[float]) -> str:
    ms = sorted(1000 * w for w in waits)
    p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
    return f"median {statistics.median(ms):7.1f} ms   p90 {p90:7.1f} ms   longest {ms[-1]:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 1, help="core-burning processes [one per core]")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    at_least("--queries", args.queries, 1)
    at_least("--busy", args.busy, 1)
    at_least("--rounds", args.rounds, 1)

    print(f"{os.cpu_count()} cores; {args.queries} queries a case; {args.busy} busy processes when busy")
    for machine in ("quiet", "busy"):
        burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                   for _ in range(args.busy if machine == "busy" else 0)]
        try:
            for round_ in range(1, args.rounds + 1):
                for case, extra_env in CASES.items():
                    result = measure(args.queries, extra_env)
                    print(f"{machine:5}  round {round_}  {case:8}  {describe(result['waits'])}   "
                          f"({' + '.join(result['models'])})", flush=True)
        finally:
            for burner in burners:
                burner.kill()
                burner.wait()


if __name__ == "__main__":
    main()

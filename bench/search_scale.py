#!/usr/bin/env python3
"""Search at scale (issue 9): build a library of N passages, serve it, and measure it over HTTP.

    .venv/bin/python bench/search_scale.py --passages 100000 [--workdir DIR] [--reuse] [--duration 20]

1. Text and vectors. Real sentences (the dev set's and samples/corpus.json's) and variants spliced from
   them (the first part of one sentence, the rest of another) make a pool of ``--pool`` sentences, which are
   embedded with the library's real model (``--embed-model``, the setting's default). The bulk is synthesised from that pool: each
   synthetic talk draws its sentences from one topic (the 256 pool sentences nearest a random one), each
   sentence's vector is its pool sentence's embedding mixed with two other sentences of the topic (weights
   0.2-0.7) plus noise, normalised (cosine ~0.8 to its own sentence's), and each passage's vector is the
   normalised sum of its sentences' vectors; so the text and the vector of a passage agree, and the vectors
   have the clustered-but-spread structure of real embeddings, which is what IVF recall depends on (without
   the mixing, a million passages would be near-copies of 4,000 points, and recall flatteringly easy).
   The pool's own vocabulary is small (~1,000 words), so half the sentences also get one or two words
   swapped for names and jargon drawn from a Zipf-distributed vocabulary of 60,000 made-up words (the
   long tail a large real library has: most terms are rare); the vectors ignore those swaps.
2. The library is written through its own write path: ``Library.add_talk`` per synthetic talk (200
   sentences with word timings, cut into passages by the indexer's own ``make_passages``), with the default
   ``VectorPolicy``, so the index is retrained at the sizes a real library would be. Build time is that.
3. ``talksearch serve`` is started on loopback and measured:
   - one client, sequential keep-alive requests of unique queries (so every one is embedded): p50/p95/p99;
   - 8 and 32 concurrent clients with ``wrk`` (a C load generator, its Lua script cycling through a query
     list in which half the requests repeat 100 popular queries, served from the embedding cache, and half are
     unique); falls back to a Python thread pool if wrk is not installed (apt-get install wrk);
   - service RSS (current and peak) from /proc.
4. recall@10 of the library's dense search (as the service runs it) against exact search over the same
   vectors, for real and generated query texts embedded by the model; the in-process dense and keyword
   (FTS5) times per query.
5. The time to add ``--add`` more passages to the built library (a new writer: open, add talks, close; the
   index is not retrained), and whether the running service then finds them.
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import at_least, default_dev_set, writable_folder  # noqa: E402
from talksearch.indexer.passages import make_passages  # noqa: E402
from talksearch.library import Library, LibraryError, Segment, Talk, Word  # noqa: E402
from talksearch.settings import Settings  # noqa: E402

SENTENCES_PER_TALK = 200
TOPIC_SIZE = 256
CHANNELS = [f"{name} Channel" for name in ("HPC", "Cloud Native", "Research Computing", "Storage", "Networking",
                                           "Scheduling", "Containers", "Data", "Security", "Operations")]
EVENTS = ["KubeCon EU", "KubeCon NA", "SC", "ISC", "FOSDEM", "HPC Ops Workshop", "PEARC", "CLUSTER"]
SPEAKERS = ["Priya Raghunathan", "Marta Lindqvist", "Tomás Ferreira", "Aiko Tanaka", "Jonas Weber",
            "Grace Okafor", "Liam O'Brien", "Sofia Rossi", "Chen Wei", "Amara Diallo", "Noah Levi", "Eva Novak"]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- text and vectors -------------------------------------------------------------------------------


def real_corpus() -> tuple[list[str], list[str]]:
    """The real sentences and query texts at hand: the dev set's and the samples'."""
    sentences, queries = [], []
    sources = [ROOT / "samples" / "corpus.json"]
    try:
        sources.append(default_dev_set() / "corpus.json")
    except SystemExit:
        pass
    for file in sources:
        if file.exists():
            data = json.loads(file.read_text())
            sentences += [s for talk in data["talks"] for s in talk["sentences"]]
            queries += [q["text"] for q in data.get("queries", [])]
    if not sentences:
        raise SystemExit("no corpus.json with sentences found (samples/ or the dev set)")
    return sentences, queries


def spliced(sentences: list[str], count: int, rng: np.random.Generator) -> list[str]:
    """The real sentences, then variants: the first part of one sentence and the rest of another."""
    pool = list(dict.fromkeys(sentences))
    words = [s.split() for s in pool]
    seen = set(pool)
    while len(pool) < count:
        a, b = words[rng.integers(len(words))], words[rng.integers(len(words))]
        if len(a) < 4 or len(b) < 4:
            continue
        cut_a, cut_b = rng.integers(2, len(a) - 1), rng.integers(1, len(b) - 2)
        text = " ".join(a[:cut_a] + b[cut_b:])
        text = text[0].upper() + text[1:]
        if text not in seen:
            seen.add(text)
            pool.append(text)
    return pool[:count]


EMBED_MODEL = Settings().embed_model  # --embed-model


@functools.cache
def embedder():
    from talksearch.embedding import Embedder

    return Embedder(EMBED_MODEL, "cpu")


def embed(texts: list[str], cache: Path) -> np.ndarray:
    """The real model's embeddings of ``texts`` (cached on disk by content and model)."""
    import hashlib

    key = hashlib.sha256("\n".join([EMBED_MODEL] + texts).encode()).hexdigest()[:16]
    file = cache / f"embeddings-{key}.npy"
    if file.exists():
        return np.load(file)
    started = time.perf_counter()
    vectors = embedder().passages(texts, batch_size=64)
    log(f"embedded {len(texts)} texts in {time.perf_counter() - started:.1f} s")
    cache.mkdir(parents=True, exist_ok=True)
    np.save(file, vectors)
    return vectors


def made_up_words(count: int, rng: np.random.Generator) -> list[str]:
    """Pronounceable names and jargon ("Tovrek", "kelmani", "ZQX"), all different."""
    onsets, vowels = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "kr", "st", "tr",
                      "sh", "ch"], ["a", "e", "i", "o", "u", "ai", "ou"]
    words: dict[str, None] = {}
    while len(words) < count:
        if rng.random() < 0.08:
            word = "".join(chr(65 + int(c)) for c in rng.integers(0, 26, int(rng.integers(3, 5))))
        else:
            word = "".join(onsets[rng.integers(len(onsets))] + vowels[rng.integers(len(vowels))]
                           for _ in range(int(rng.integers(2, 4))))
            word += ["", "n", "k", "s", "x", "r"][rng.integers(6)]
            if rng.random() < 0.4:
                word = word.capitalize()
        words.setdefault(word)
    return list(words)


class Zipf:
    """Draws from a vocabulary with probability ∝ 1 / rank."""

    def __init__(self, words: list[str]):
        self.words = words
        weights = 1.0 / np.arange(1, len(words) + 1)
        self.cumulative = np.cumsum(weights / weights.sum())

    def draw(self, rng: np.random.Generator, n: int = 1) -> list[str]:
        positions = np.searchsorted(self.cumulative, rng.random(n))
        return [self.words[min(i, len(self.words) - 1)] for i in positions]


class Synthesiser:
    """Synthetic talks whose passage texts and vectors come from the embedded pool (see the module doc)."""

    def __init__(self, pool: list[str], vectors: np.ndarray, seed: int):
        self.pool, self.vectors = pool, vectors
        self.rng = np.random.default_rng(seed)
        self.jargon = Zipf(made_up_words(60_000, np.random.default_rng(seed + 1)))
        similarity = vectors @ vectors.T
        self.topics = np.argsort(-similarity, axis=1)[:, :TOPIC_SIZE]  # each sentence's nearest pool sentences
        self.words = [s.split() for s in pool]
        self.noise = 0.5 / math.sqrt(vectors.shape[1])  # per dimension: cosine ~0.9 to the pool sentence

    def sentence_vectors(self, anchor: int, picks: np.ndarray) -> np.ndarray:
        """Each sentence: its own pool sentence's embedding mixed with two others of the talk's topic, plus
        noise, so that a million passages spread over the topics rather than piling up on 4,000 points."""
        rng, topic = self.rng, self.topics[anchor]
        others = self.vectors[topic[rng.integers(0, TOPIC_SIZE, (len(picks), 2))]]
        weights = rng.uniform(0.2, 0.7, (len(picks), 2, 1)).astype(np.float32)
        mixed = self.vectors[picks] + (weights * others).sum(axis=1)
        mixed += self.noise * rng.standard_normal(mixed.shape).astype(np.float32)
        return mixed / np.linalg.norm(mixed, axis=1, keepdims=True)

    def talk(self, number: int, prefix: str = "scale", marker: str | None = None
             ) -> tuple[Talk, list[Segment], list, np.ndarray, list]:
        """One synthetic talk; ``marker``, when given, is said at the end of every sentence (a word no other
        talk has, to find it by). Its sentence passages get word vectors (random: they cost search the same
        as real ones, stored and compared, but their scores mean nothing), one per meaningful word as the
        indexer keeps them (about three words in four)."""
        rng = self.rng
        anchor = int(rng.integers(len(self.pool)))
        picks = self.topics[anchor][rng.integers(0, TOPIC_SIZE, SENTENCES_PER_TALK)]
        segments, sentence_vectors, clock = [], [], 0.0
        swaps = rng.random(len(picks))
        for pick, swap in zip(picks, swaps):
            said = list(self.words[pick])
            if swap < 0.5:  # a name or a bit of jargon, from the long tail
                for _ in range(1 + (swap < 0.15)):
                    said[int(rng.integers(len(said)))] = self.jargon.draw(rng)[0]
            if marker:
                said.append(marker)
            words = []
            for word in said:
                length = 0.12 + 0.05 * len(word)
                words.append(Word(round(clock, 2), round(clock + length, 2), " " + word, 0.9))
                clock += length + 0.08
            segments.append(Segment(words[0].start, words[-1].end, " ".join(said), words))
            clock += 0.6
        sentence_vectors = self.sentence_vectors(anchor, picks)
        passages = make_passages(segments)  # the indexer's own windows of consecutive sentences
        ends = {s.end: i for i, s in enumerate(segments)}
        starts = {s.start: i for i, s in enumerate(segments)}
        vectors = np.stack([sentence_vectors[starts[p.start]: ends[p.end] + 1].sum(axis=0) for p in passages])
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        title_words = self.words[anchor][:8]
        published = date(2015, 1, 1) + timedelta(days=int(rng.integers(0, 4000)))
        talk = Talk(
            extractor="Generic", source_id=f"{prefix}-{number}", url=f"https://talks.example.org/{prefix}/{number}",
            media_url=f"https://talks.example.org/{prefix}/{number}.mp4",
            title=" ".join(title_words).rstrip(",.?!") + f" ({number})", channel=CHANNELS[number % len(CHANNELS)],
            speakers=[SPEAKERS[int(rng.integers(len(SPEAKERS)))]],
            event=f"{EVENTS[number % len(EVENTS)]} {published.year}", published=published.isoformat(),
            duration=round(clock, 1), language="en", whisper_model="tiny.en", embed_model=embedder().name)
        dimension = embedder().token_dimension
        words = [max(1, round(0.75 * len(p.text.split()))) for p in passages]
        token_vectors = [rng.standard_normal((n, dimension)).astype(np.float32) if p.kind == "sentence" else None
                         for p, n in zip(passages, words)]
        token_vectors = [t / np.linalg.norm(t, axis=1, keepdims=True) if t is not None else None
                         for t in token_vectors]
        return talk, segments, passages, vectors.astype(np.float32), token_vectors


def make_queries(real: list[str], pool: list[str], count: int, rng: np.random.Generator,
                 jargon: Zipf | None = None) -> list[str]:
    """Query texts: the real ones, then phrases as a user remembers them (5-10 words of a pool sentence,
    sometimes as a question, a third of them with a name or term from the long tail)."""
    queries = list(dict.fromkeys(real))
    seen = set(queries)
    starters = ["", "", "", "how do you ", "why does ", "what about ", "talk about "]
    while len(queries) < count:
        words = re.sub(r"[^\w\s'-]", "", pool[rng.integers(len(pool))]).split()
        if len(words) < 5:
            continue
        span = int(rng.integers(5, min(10, len(words)) + 1))
        first = int(rng.integers(0, len(words) - span + 1))
        said = words[first:first + span]
        if jargon is not None and rng.random() < 0.33:
            said[int(rng.integers(len(said)))] = jargon.draw(rng)[0]
        text = starters[rng.integers(len(starters))] + " ".join(said).lower()
        if text not in seen:
            seen.add(text)
            queries.append(text)
    return queries


# --- building -----------------------------------------------------------------------------------------


def build(path: Path, passages: int, synth: Synthesiser, prefix: str = "scale", start: int = 0) -> dict:
    started = time.perf_counter()
    library = Library.open(path, create=True)
    library.acquire_writer()
    library.bind_embedding_model(embedder().name, synth.vectors.shape[1], embedder().token_dimension)
    opened = time.perf_counter() - started
    added, number, last = 0, start, time.perf_counter()
    ahead = ThreadPoolExecutor(1)  # the next talk is made while SQLite commits this one (it releases the GIL)
    upcoming = ahead.submit(synth.talk, number, prefix)
    while added < passages:
        talk, segments, cut, vectors, tokens = upcoming.result()
        upcoming = ahead.submit(synth.talk, number + 1, prefix)
        if added + len(cut) > passages:  # the last talk: exactly N passages in all
            cut, vectors, tokens = cut[: passages - added], vectors[: passages - added], tokens[: passages - added]
        library.add_talk(talk, segments, cut, vectors, token_vectors=tokens)
        added += len(cut)
        number += 1
        if time.perf_counter() - last > 30:
            log(f"{added}/{passages} passages, {time.perf_counter() - started:.0f} s, "
                f"index {library.vector_index_info()['factory']}")
            last = time.perf_counter()
    committed = time.perf_counter() - started
    ahead.shutdown(cancel_futures=True)
    library.close()  # writes out the index changes not yet saved
    return {"seconds": time.perf_counter() - started, "open_s": opened, "commit_s": committed,
            "close_s": time.perf_counter() - started - committed, "talks": number - start, "passages": added}


def disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file()) / 2**20


# --- the service -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(path: Path, port: int, threads: int) -> subprocess.Popen:
    # All the load comes from one loopback address: the per-client rate limits (talksearch.service.ratelimit) are off, as
    # it would be behind a proxy that passes each real client's address.
    env = {**os.environ, "TALKSEARCH_LIBRARY": str(path), "TALKSEARCH_THREADS": str(threads),
           "TALKSEARCH_RATE_LIMIT_PER_MINUTE": "0", "TALKSEARCH_RATE_LIMIT_IN_PROGRESS": "0"}
    process = subprocess.Popen([str(Path(sys.executable).parent / "talksearch"), "serve", "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"talksearch serve exited: {process.stderr.read()[-2000:]}")
        try:
            # Measured once every library reader is open (they open in the background after start).
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                readers = json.loads(response.read())["readers"]
                if readers["ready"] == readers["wanted"]:
                    return process
                time.sleep(0.2)
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("talksearch serve did not become healthy in 300 s")


def memory(pid: int) -> dict:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return fields


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def search_path(query: str) -> str:
    return "/api/search?" + urllib.parse.urlencode({"q": query})


def single_client(port: int, queries: list[str]) -> list[float]:
    """Sequential requests on one keep-alive connection; milliseconds each, as the client sees them."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for query in queries:
        started = time.perf_counter()
        connection.request("GET", search_path(query))
        response = connection.getresponse()
        body = response.read()
        times.append((time.perf_counter() - started) * 1000)
        if response.status != 200:
            raise SystemExit(f"search {query!r}: HTTP {response.status}: {body[:300]!r}")
    connection.close()
    return times


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


WRK_SCRIPT = r"""
local paths = {}
for line in io.lines(os.getenv("TALKSEARCH_QUERIES")) do paths[#paths + 1] = line end
local threads, counter, offset = {}, 0, 0
function setup(thread)
  thread:set("offset", #threads * 7919)
  table.insert(threads, thread)
end
function init(args) offset = tonumber(offset) or 0 end
function request()
  counter = counter + 1
  return wrk.format("GET", paths[((offset + counter) % #paths) + 1])
end
function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
                 + summary.errors.status + summary.errors.timeout
  io.write(string.format('WRK_JSON {"requests": %d, "seconds": %.3f, "errors": %d, "p50_us": %d, ' ..
    '"p90_us": %d, "p99_us": %d, "max_us": %d}\n', summary.requests, summary.duration / 1e6, errors,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def load_test(port: int, paths: list[str], clients: int, seconds: int, work: Path) -> dict:
    """Throughput with ``clients`` concurrent connections for ``seconds``."""
    queries = work / "wrk-queries.txt"
    queries.write_text("\n".join(paths) + "\n")
    if shutil.which("wrk"):
        script = work / "queries.lua"
        script.write_text(WRK_SCRIPT)
        threads = min(clients, 2)
        result = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script),
             f"http://127.0.0.1:{port}/"], env={**os.environ, "TALKSEARCH_QUERIES": str(queries)},
            capture_output=True, text=True, timeout=seconds + 60)
        line = next((x for x in result.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
        if line is None:
            raise SystemExit(f"wrk failed: {result.stdout}\n{result.stderr}")
        data = json.loads(line.removeprefix("WRK_JSON "))
        return {"tool": "wrk", "clients": clients, "qps": round(data["requests"] / data["seconds"], 1),
                "errors": data["errors"], "p50_ms": data["p50_us"] / 1000, "p90_ms": data["p90_us"] / 1000,
                "p99_ms": data["p99_us"] / 1000, "requests": data["requests"]}
    # Fallback: a thread per client, each on its own keep-alive connection.
    import http.client

    stop = time.perf_counter() + seconds
    times: list[float] = []
    errors = [0]

    def client(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i = number * 7919
        while time.perf_counter() < stop:
            i += 1
            started = time.perf_counter()
            connection.request("GET", paths[i % len(paths)])
            response = connection.getresponse()
            response.read()
            times.append((time.perf_counter() - started) * 1000)
            errors[0] += response.status != 200

    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    elapsed = time.perf_counter() - began
    return {"tool": "python-threads", "clients": clients, "qps": round(len(times) / elapsed, 1), "errors": errors[0],
            "p50_ms": round(percentile(times, 50), 2), "p90_ms": round(percentile(times, 90), 2),
            "p99_ms": round(percentile(times, 99), 2), "requests": len(times)}


def mixed_paths(popular: list[str], unique: list[str], rng: np.random.Generator) -> list[str]:
    """Half the requests repeat one of the popular queries, half are unique."""
    paths = []
    for query in unique:
        paths.append(search_path(popular[rng.integers(len(popular))]))
        paths.append(search_path(query))
    return paths


# --- recall and in-process timings ------------------------------------------------------------------


def recall_and_timings(path: Path, query_vectors: np.ndarray, texts: list[str]) -> dict:
    import faiss

    from talksearch.search.ranking import _keyword
    from talksearch.vector_index import recall_at

    library = Library.open(path)
    started = time.perf_counter()
    library.sync_vector_index()
    open_s = time.perf_counter() - started
    info = library.vector_index_info()
    dense, dense_ms = [], []
    for q in query_vectors:
        t = time.perf_counter()
        dense.append([pid for pid, _ in library.search_vectors(q, 10)] + [-1] * 10)
        dense_ms.append((time.perf_counter() - t) * 1000)
    keyword_ms = []
    for text in texts:
        t = time.perf_counter()
        _keyword(library, text, 50)
        keyword_ms.append((time.perf_counter() - t) * 1000)
    heap = faiss.ResultHeap(len(query_vectors), 10, keep_max=True)
    exact_started = time.perf_counter()
    for ids, vectors in library._catalog_chunks():
        scores, positions = faiss.knn(query_vectors, vectors, min(10, len(ids)), metric=faiss.METRIC_INNER_PRODUCT)
        heap.add_result(scores, ids[positions])
    heap.finalize()
    exact_ms = (time.perf_counter() - exact_started) * 1000 / len(query_vectors)
    library.close()
    found = np.array([row[:10] for row in dense], dtype=np.int64)
    return {"recall_at_10": round(recall_at(found, heap.I), 4), "index": info, "reader_open_s": round(open_s, 2),
            "dense_p50_ms": round(percentile(dense_ms, 50), 2), "dense_p99_ms": round(percentile(dense_ms, 99), 2),
            "keyword_p50_ms": round(percentile(keyword_ms, 50), 2),
            "keyword_p99_ms": round(percentile(keyword_ms, 99), 2),
            "exact_scan_ms_per_query": round(exact_ms, 1)}


# --- adding to a built library ------------------------------------------------------------------------


def synth_talk_id(prefix: str, number: int) -> str:
    return Talk(extractor="Generic", source_id=f"{prefix}-{number}", url="", title="").id


def add_more(path: Path, passages: int, synth: Synthesiser, port: int) -> dict:
    before = Library.open(path)
    trained = before.meta("index_trained_size")
    before.close()
    started = time.perf_counter()
    library = Library.open(path)
    library.acquire_writer()
    library.sync_vector_index(save=True)
    opened = time.perf_counter() - started
    marker = f"addmark{os.getpid()}x{int(time.time())}"  # a word only the added talks say
    added, number, probe = 0, 0, None
    t = time.perf_counter()
    while added < passages:
        talk, segments, cut, vectors, tokens = synth.talk(number, prefix=f"added-{marker}", marker=marker)
        cut, vectors, tokens = cut[: passages - added], vectors[: passages - added], tokens[: passages - added]
        library.add_talk(talk, segments, cut, vectors, token_vectors=tokens)
        probe = probe if probe is not None else vectors[len(cut) // 2]
        added += len(cut)
        number += 1
    add_s = time.perf_counter() - t
    t = time.perf_counter()
    library.close()
    close_s = time.perf_counter() - t
    total = time.perf_counter() - started
    after = Library.open(path)
    retrained = after.meta("index_trained_size") != trained
    # A new reader finds an added passage by its vector (among the 10 nearest: the index is approximate)
    added_talks = {t.id for t in after.talks() if t.url.startswith("https://talks.example.org/added-")}
    vector_found = any(hit.talk_id in added_talks
                       for hit in after.passages([pid for pid, _ in after.search_vectors(probe, 10)]).values())
    after.close()
    # The running service picks the new talks up on its next request.
    # (Filtered to the first added talk: fusion ranks the dense retriever's hits of other talks above
    # keyword-only ones, and a made-up word has no meaning to match.)
    first = synth_talk_id(f"added-{marker}", 0)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{search_path(marker)}&talk={first}", timeout=30) as response:
        found = any(r["talk"]["id"] == first for r in json.loads(response.read())["results"])
    return {"passages": added, "talks": number, "open_s": round(opened, 2), "add_s": round(add_s, 2),
            "close_s": round(close_s, 2), "total_s": round(total, 2), "retrained": retrained,
            "reader_finds_them_by_vector": vector_found, "service_finds_them": found}


# --- main ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, required=True)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary directory")
    parser.add_argument("--reuse", action="store_true", help="keep and reuse the library built in --workdir")
    parser.add_argument("--pool", type=int, default=4000, help="sentences embedded with the real model")
    parser.add_argument("--single", type=int, default=300, help="requests for the single-client latency")
    parser.add_argument("--duration", type=int, default=20, help="seconds per load test")
    parser.add_argument("--clients", default="8,32")
    parser.add_argument("--add", type=int, default=1000, help="passages added to the built library at the end")
    parser.add_argument("--recall-queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--build-only", action="store_true", help="build (or reuse) the library and stop")
    parser.add_argument("--threads", type=int, default=1,
                        help="the service's model threads (TALKSEARCH_THREADS); 0 is every core")
    parser.add_argument("--embed-model", default=None, help="the library's embedding model [default: the setting's]")
    args = parser.parse_args(argv)
    global EMBED_MODEL
    EMBED_MODEL = args.embed_model or EMBED_MODEL
    # Checked before the pool is embedded and the library built (minutes): each of these ended in a traceback.
    at_least("--passages", args.passages, 1)
    at_least("--pool", args.pool, TOPIC_SIZE)  # each synthetic talk draws from the pool's TOPIC_SIZE nearest
    for flag, value in (("--single", args.single), ("--duration", args.duration),
                        ("--recall-queries", args.recall_queries)):
        at_least(flag, value, 1)
    at_least("--add", args.add, 0)
    at_least("--threads", args.threads, 0)
    try:
        client_counts = [int(c) for c in args.clients.split(",") if c]
    except ValueError:
        raise SystemExit(f"error: --clients {args.clients}: whole numbers, comma-separated (8,32)") from None
    for number in client_counts:
        at_least("--clients", number, 1)
    if args.workdir:
        writable_folder(f"--workdir {args.workdir}", args.workdir, create=True)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="talksearch-scale-"))
    library_path = work / "library"
    existing = 0
    if library_path.exists():
        if args.reuse:
            try:
                with Library.open(library_path) as library:
                    existing = library.count_passages()
            except LibraryError as exc:
                raise SystemExit(f"error: --reuse: {exc}") from None
        if existing < args.passages:
            shutil.rmtree(library_path)
            existing = 0
    report: dict = {"passages": args.passages, "load_before": load_average(), "cpus": os.cpu_count(),
                    "service_threads": args.threads}
    rng = np.random.default_rng(args.seed)

    real_sentences, real_queries = real_corpus()
    pool = spliced(real_sentences, args.pool, rng)
    pool_vectors = embed(pool, work / "cache")
    synth = Synthesiser(pool, pool_vectors, args.seed)

    if existing:
        log(f"reusing the library in {library_path} ({existing} passages)")
        report["build"] = None
    else:
        log(f"building {args.passages} passages in {library_path}")
        report["build"] = build(library_path, args.passages, synth)
        log(f"built in {report['build']['seconds']:.0f} s")
    report["disk_mb"] = round(disk_mb(library_path), 1)
    with Library.open(library_path) as library:
        report["passages_measured"] = library.count_passages()  # a reused library has earlier --add runs' too
    if args.build_only:
        print(json.dumps(report))
        return 0

    queries = make_queries(real_queries, pool, 30_000, rng, synth.jargon)
    recall_texts = queries[: args.recall_queries]
    log("recall@10 against exact search, in-process timings")
    report.update(recall_and_timings(library_path, embed(recall_texts, work / "cache"), recall_texts))
    log(f"recall@10 {report['recall_at_10']}, index {report['index']}")

    port = free_port()
    started = time.perf_counter()
    service = start_service(library_path, port, args.threads)
    report["service_start_s"] = round(time.perf_counter() - started, 1)
    try:
        report["rss_after_start"] = memory(service.pid)
        unique = queries[args.recall_queries:]
        warm = unique[: 20]
        single_client(port, warm)  # first requests pay for lazy imports and page faults
        cpu = cpu_seconds(service.pid)
        single = single_client(port, unique[20: 20 + args.single])
        single_cpu = (cpu_seconds(service.pid) - cpu) * 1000 / len(single)
        report["single_client"] = {"requests": len(single), "queries": "unique (each embedded)",
                                   **{f"p{p}_ms": round(percentile(single, p), 1) for p in (50, 95, 99)},
                                   "mean_ms": round(statistics.mean(single), 1),
                                   "service_cpu_ms_per_request": round(single_cpu, 1)}
        log(f"single client: {report['single_client']}")
        rest = unique[20 + args.single:]
        popular = queries[:100]
        report["load"] = []
        for clients in client_counts:
            paths = mixed_paths(popular, rest[: len(rest) // 2], rng)
            rest = rest[len(rest) // 2:]
            cpu = cpu_seconds(service.pid)
            result = load_test(port, paths, clients, args.duration, work)
            # CPU the service spent per request: what the throughput on idle cores would be bounded by
            result["service_cpu_ms_per_request"] = round((cpu_seconds(service.pid) - cpu) * 1000 / result["requests"], 1)
            report["load"].append(result)
            log(f"{clients} clients: {result}")
        report["rss"] = memory(service.pid)
        if args.add:
            report["add"] = add_more(library_path, args.add, synth, port)
            log(f"add {args.add}: {report['add']}")
        report["rss_end"] = memory(service.pid)
    finally:
        service.terminate()
        service.wait(timeout=30)
    report["disk_mb_after_add"] = round(disk_mb(library_path), 1)
    report["load_after"] = load_average()
    if not args.reuse and args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)

    load = {r["clients"]: r for r in report["load"]}
    summary = {
        "passages": report["passages_measured"],
        "p50_ms": report["single_client"]["p50_ms"], "p95_ms": report["single_client"]["p95_ms"],
        "p99_ms": report["single_client"]["p99_ms"], "recall_at_10": report["recall_at_10"],
        "rss_mb": report["rss"]["VmHWM"], "qps_8_clients": load.get(8, {}).get("qps"),
        "qps_32_clients": load.get(32, {}).get("qps"),
        "build_s": round(report["build"]["seconds"], 1) if report["build"] else None,
        "disk_mb": report["disk_mb"], "add_1000_s": report["add"]["total_s"] if "add" in report else None,
        "index": report["index"]["factory"], "nprobe": report["index"].get("nprobe"),
        "load_before": report["load_before"], "load_after": report["load_after"], "details": report,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

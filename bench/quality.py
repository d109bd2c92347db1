#!/usr/bin/env python3
"""Retrieval quality on a set of talks with known sentence timings (issue 5's harness).

    .venv/bin/python bench/quality.py [SET_DIR ...] [--baselines/--no-baselines] [--misses] [--compare NAME=VALUE]
    talksearch eval [SET_DIR ...] ...                   (the same, from the CLI)

A set directory holds the talks (mp4/ogg/wav), ``feed.xml`` (an RSS feed of them), ``truth.json`` (every
sentence's start, end and text) and ``corpus.json`` (graded queries: kind, target talk, target sentence and
``also`` acceptable sentences). SET_DIR defaults to ../shared/eval/dev beside the repository, then bench/dev.

What it does:
1. Transcribe once per transcription setting: the set is served on a loopback port and indexed by the real
   pipeline (``IndexRun``: yt-dlp, faster-whisper, metadata from the feed); each talk's raw whisper segments are
   cached under bench/out/transcripts/, so passage and ranking experiments re-use them (seconds, not minutes).
2. Build libraries from the cached transcripts: talksearch's own (sentences, passages, embeddings as the
   pipeline makes them) and, for the baselines, one over whisper's raw segments.
3. Run every query and print R@1, R@5, R@10, MRR@10 and onTime@5 per kind and overall, and the transcript's WER,
   for talksearch and two baselines: dense-only (MiniLM over raw segments) and BM25-only (raw segments).

Judging (shared/eval/README.md): a result counts when it is from the target talk and its [start, end] overlaps a
target sentence (±2 s); it is on time when its start lies in [target start − 3 s, target end].

``--passage NAME=VALUE`` and ``--ranking NAME=VALUE`` override a field of PassageOptions / RankingOptions for an
experiment; ``--prompt`` picks how the talk's metadata is given to whisper (a new transcription setting).

Several sets, and ranking variants side by side (one rendering of a set moves its figures as much as most
levers do, docs/benchmarks.md, so a lever is judged over several):

    .venv/bin/python bench/quality.py bench/out/sets/tune bench/out/sets-21/tune --no-baselines \
        --compare token_weight=0.3 --compare keyword_weight=0.3,sound_weight=1

Each ``--compare`` is one variant (its changes comma-separated), ranked over the same libraries; a last table
gives every variant's R@1 / R@5 / onTime@5 per set and pooled over all their queries.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from bench.common import DEV_CANDIDATES, LoopbackServer, read_json, word_errors, writable_folder  # noqa: E402
from bench.corpus_rules import check_corpus  # noqa: E402
from talksearch.embedding import Embedder  # noqa: E402
from talksearch.indexer.passages import PassageOptions, embedding_texts, make_passages, split_sentences  # noqa: E402
from talksearch.indexer.transcribe import PROMPT_MODES, Transcript, TranscriptionOptions, talk_prompt  # noqa: E402
from talksearch.library import Library, Passage, Segment, Talk, Word  # noqa: E402
from talksearch.search.ranking import RankingOptions  # noqa: E402
from talksearch.search.searcher import Searcher  # noqa: E402
from talksearch.settings import Settings  # noqa: E402

WORK = REPO / "bench" / "out"
KINDS = ("paraphrase", "question", "keyword", "vague")
SLACK = 2.0  # a result overlapping a target sentence within this many seconds counts
EARLY = 3.0  # an on-time result starts at most this much before the target sentence
MEDIA_SUFFIXES = (".mp4", ".ogg", ".wav", ".mp3", ".webm")  # a set's talks, as make_talks.py writes them


# --- the talk set -----------------------------------------------------------------------------------


@dataclass
class TalkSet:
    path: Path
    corpus: dict
    truth: dict

    rejected: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> TalkSet:
        """The set, less the queries that break the corpus rules (bench/corpus_rules.py): a paraphrase that
        shares more than one content word with its target is a keyword query in disguise, so it is not scored."""
        corpus_file, truth_file = path / "corpus.json", path / "truth.json"
        corpus, truth = read_json(corpus_file), read_json(truth_file)
        # What the corpus rules do not judge but scoring needs: without it the run would stop, with a traceback,
        # only once the set was transcribed.
        queries = corpus.get("queries") if isinstance(corpus, dict) else None
        if not isinstance(queries, list):
            raise SystemExit(f'error: {corpus_file}: no "queries" list')
        for number, query in enumerate(queries, 1):
            if not isinstance(query, dict) or "id" not in query:
                raise SystemExit(f'error: {corpus_file}: query {number} has no "id"')
            if not isinstance(query.get("text"), str):
                raise SystemExit(f'error: {corpus_file}: query {query["id"]!r} has no "text"')
        if not isinstance(truth, dict):
            raise SystemExit(f"error: {truth_file}: not an object of talks")
        problems = check_corpus(corpus)
        broken = {problem.split(":", 1)[0] for problem in problems}
        corpus["queries"] = [q for q in queries if q["id"] not in broken]
        return cls(path, corpus, truth, problems)

    @property
    def queries(self) -> list[dict]:
        return self.corpus["queries"]

    def talk_by_title(self, title: str) -> str | None:
        return next((key for key, talk in self.truth.items() if talk["title"] == title), None)

    def audio_digest(self) -> str:
        """A digest of the talks' audio files: made again (bench/make_sets.sh), a set is another set to transcribe."""
        digest = hashlib.sha1()
        for media in sorted(p for p in self.path.iterdir() if p.stem in self.truth and p.suffix in MEDIA_SUFFIXES):
            digest.update(media.name.encode() + media.read_bytes())
        return digest.hexdigest()[:10]


def default_set() -> Path:
    for path in DEV_CANDIDATES:
        if (path / "corpus.json").exists():
            return path
    raise SystemExit(f"no talk set found at {' or '.join(map(str, DEV_CANDIDATES))}; name one")


# --- transcripts (cached per transcription setting) --------------------------------------------------


@dataclass
class CachedTalk:
    talk: dict  # the catalog row the pipeline stored (title, speakers, event, ...)
    language: str
    duration: float
    segments: list[Segment]  # whisper's raw segments, with words

    def to_json(self) -> dict:
        return {"talk": self.talk, "language": self.language, "duration": self.duration,
                "segments": [dataclasses.asdict(s) for s in self.segments]}

    @classmethod
    def from_json(cls, data: dict) -> CachedTalk:
        segments = [Segment(s["start"], s["end"], s["text"], [Word(**w) for w in s["words"]]) for s in data["segments"]]
        return cls(data["talk"], data["language"], data["duration"], segments)


def transcription_key(talk_set: TalkSet, settings: Settings, options: TranscriptionOptions) -> str:
    digest = hashlib.sha1(json.dumps([str(talk_set.path.resolve()), sorted(talk_set.truth), talk_set.audio_digest(),
                                      dataclasses.asdict(options), *([settings.vocabulary] if settings.vocabulary else [])],
                                     sort_keys=True).encode()).hexdigest()[:10]
    return f"{talk_set.path.name}-{Path(settings.whisper_model).name}-{options.prompt}-{digest}"


def transcribe_set(talk_set: TalkSet, settings: Settings, options: TranscriptionOptions, work: Path,
                   report: Callable[[str], None]) -> list[CachedTalk]:
    """Index the set with the real pipeline once; keep each talk's raw whisper output and catalog row."""
    from talksearch.indexer.pipeline import IndexRun

    cache = work / "transcripts" / (transcription_key(talk_set, settings, options) + ".json")
    if cache.exists():
        return [CachedTalk.from_json(t) for t in json.loads(cache.read_text())]
    report(f"transcribing {talk_set.path} once for this setting (cached in {cache})")
    with tempfile.TemporaryDirectory(prefix="talksearch-eval-") as tmp:
        server = LoopbackServer(talk_set.path, Path(tmp) / "served")
        run = IndexRun(settings.model_copy(update={"library": Path(tmp) / "library"}), report=lambda _: None)
        transcriber = run.processor.transcriber
        transcriber.options = options
        # The pipeline stores sentences re-cut from word timings; the baselines need whisper's own segments,
        # so the transcriber's output is recorded on its way through, keyed by the talk's own prompt (talks are
        # transcribed side by side, so they finish, and are committed, in no fixed order).
        recorded: dict[str | None, Transcript] = {}
        transcribe = transcriber.transcribe

        def recording(*args, **kwargs):
            transcript = transcribe(*args, **kwargs)
            recorded[kwargs.get("hotwords")] = transcript
            return transcript

        transcriber.transcribe = recording
        try:
            summary = run.run([server.feed_url])
            added = [o for o in summary.outcomes if o.status == "added"]
            if summary.count("failed") or len(added) != len(recorded):
                raise SystemExit(f"indexing the set failed: {[(o.label, o.detail) for o in summary.outcomes]}")
            talks = []
            for outcome in added:
                talk = run.library.talk(outcome.talk_id)
                transcript = recorded[talk_prompt(talk, settings.vocabulary)]
                talks.append(CachedTalk(dataclasses.asdict(talk), transcript.language, transcript.duration,
                                        transcript.segments))
        finally:
            run.close()
            server.close()
    report(f"transcribed {len(talks)} talks: {summary.line()}")
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps([t.to_json() for t in talks]))
    return talks


# --- libraries built from the cached transcripts -----------------------------------------------------


def _talk_row(row: dict) -> Talk:
    # A transcript cached before a field existed (transcript_source) lacks it: the field's default then.
    return Talk(**{name: row[name] for name in Talk.__dataclass_fields__ if name in row})


def build_library(path: Path, talks: list[CachedTalk], embedder: Embedder,
                  cut: Callable[[CachedTalk], tuple[list[Segment], list[Passage], list[str]]]) -> Library:
    """A fresh library: ``cut`` turns a transcript into (stored sentences, passages, texts to embed)."""
    shutil.rmtree(path, ignore_errors=True)
    library = Library.open(path, create=True)
    library.acquire_writer()
    library.bind_embedding_model(embedder.name, embedder.dimension, embedder.token_dimension)
    for cached in talks:
        sentences, passages, texts = cut(cached)
        vectors, tokens = embedder.passages_with_tokens(texts)
        library.add_talk(_talk_row(cached.talk), sentences, passages, vectors,
                         token_vectors=[t.meaningful() for t in tokens])
    return library


def talksearch_cut(options: PassageOptions) -> Callable:
    """Exactly what the pipeline stores: sentences from word timings, passages, texts with their context."""

    def cut(cached: CachedTalk):
        sentences = split_sentences(cached.segments, options)
        passages = make_passages(sentences, options)
        return sentences, passages, embedding_texts(passages, cached.talk, options)

    return cut


def raw_segment_cut(cached: CachedTalk):
    """The afternoon pipeline: whisper's segments as they come, embedded as they are."""
    passages = [Passage(s.start, s.end, s.text, "segment") for s in cached.segments]
    return cached.segments, passages, [p.text for p in passages]


# --- searching -------------------------------------------------------------------------------------


@dataclass
class Result:
    talk_id: str
    start: float
    end: float


Search = Callable[[str], list[Result]]


def talksearch_search(library: Library, embedder: Embedder, options: RankingOptions) -> Search:
    searcher = Searcher(library, embedder, options)
    return lambda text: [Result(r.talk.id, r.start, r.end) for r in searcher.search(text, 10).results]


def dense_search(library: Library, embedder: Embedder) -> Search:
    def search(text: str) -> list[Result]:
        ids = [pid for pid, _ in library.search_vectors(embedder.query(text), 10)]
        hits = library.passages(ids)
        return [Result(hits[i].talk_id, hits[i].start, hits[i].end) for i in ids]

    return search


def bm25_search(library: Library) -> Search:
    def search(text: str) -> list[Result]:
        ids = library.keyword_search(text, 10, selective=False)
        hits = library.passages(ids)
        return [Result(hits[i].talk_id, hits[i].start, hits[i].end) for i in ids]

    return search


# --- judging ---------------------------------------------------------------------------------------


@dataclass
class Judged:
    query: dict
    results: list[Result]
    rank: int | None  # 1-based rank of the first counting result within the top 10
    on_time: bool  # some top-5 result starts on the moment


def judge(talk_set: TalkSet, query: dict, results: list[Result], talk_ids: dict[str, str]) -> Judged:
    sentences = talk_set.truth[query["talk"]]["sentences"]
    targets = [sentences[i] for i in [query["sentence"], *query.get("also", [])]]

    def ours(r: Result) -> bool:
        return talk_ids.get(r.talk_id) == query["talk"]

    def counts(r: Result) -> bool:
        return ours(r) and any(r.start <= t["end"] + SLACK and r.end >= t["start"] - SLACK for t in targets)

    def on_time(r: Result) -> bool:
        return ours(r) and any(t["start"] - EARLY <= r.start <= t["end"] for t in targets)

    rank = next((i + 1 for i, r in enumerate(results[:10]) if counts(r)), None)
    return Judged(query, results, rank, any(on_time(r) for r in results[:5]))


@dataclass
class Scores:
    n: int = 0
    r1: float = 0.0
    r5: float = 0.0
    r10: float = 0.0
    mrr: float = 0.0
    on_time: float = 0.0

    @classmethod
    def of(cls, judged: list[Judged]) -> Scores:
        n = len(judged)
        if not n:
            return cls()
        ranks = [j.rank for j in judged]
        return cls(n, sum(r == 1 for r in ranks) / n, sum(r is not None and r <= 5 for r in ranks) / n,
                   sum(r is not None for r in ranks) / n, sum(1 / r for r in ranks if r) / n,
                   sum(j.on_time for j in judged) / n)


def evaluate(talk_set: TalkSet, search: Search, talk_ids: dict[str, str]) -> list[Judged]:
    return [judge(talk_set, q, search(q["text"]), talk_ids) for q in talk_set.queries]


def scores_by_kind(judged: list[Judged]) -> dict[str, Scores]:
    groups: dict[str, list[Judged]] = defaultdict(list)
    for j in judged:
        groups[j.query["kind"]].append(j)
    kinds = [k for k in KINDS if k in groups] + sorted(k for k in groups if k not in KINDS)
    return {**{k: Scores.of(groups[k]) for k in kinds}, "overall": Scores.of(judged)}


# --- word error rate ---------------------------------------------------------------------------------


def word_error_rate(talk_set: TalkSet, library: Library, talk_ids: dict[str, str]) -> float:
    """Word errors over the whole set (lower case, punctuation and hyphens dropped; '70%' ≠ 'seventy percent')."""
    errors = words = 0
    for talk_id, key in talk_ids.items():
        talk_errors, talk_words = word_errors(" ".join(s["text"] for s in talk_set.truth[key]["sentences"]),
                                              " ".join(s.text for s in library.segments(talk_id)))
        errors += talk_errors
        words += talk_words
    return errors / words if words else 0.0


# --- report ----------------------------------------------------------------------------------------


@dataclass
class SystemReport:
    name: str
    scores: dict[str, Scores]
    judged: list[Judged] = field(default_factory=list)


def print_reports(reports: list[SystemReport], wer: dict[str, float], out=print) -> None:
    out(f"{'system':<24}{'kind':<12}{'n':>3}{'R@1':>7}{'R@5':>7}{'R@10':>7}{'MRR@10':>8}{'onTime@5':>10}")
    for report in reports:
        for kind, s in report.scores.items():
            out(f"{report.name:<24}{kind:<12}{s.n:>3}{s.r1:>7.2f}{s.r5:>7.2f}{s.r10:>7.2f}{s.mrr:>8.2f}{s.on_time:>10.2f}")
    for name, value in wer.items():
        out(f"WER {name}: {value:.3f}")


def print_misses(talk_set: TalkSet, report: SystemReport, talk_ids: dict[str, str], out=print) -> None:
    for j in report.judged:
        if j.rank is None or j.rank > 5 or not j.on_time:
            target = talk_set.truth[j.query["talk"]]["sentences"][j.query["sentence"]]
            top = ", ".join(f"{talk_ids.get(r.talk_id)}@{r.start:.0f}" for r in j.results[:3])
            out(f"  {report.name}: {j.query['kind']:<10} rank={j.rank} onTime={j.on_time} {j.query['text']!r} "
                f"→ want {j.query['talk']}@{target['start']:.0f}; got {top}")


# --- command line ----------------------------------------------------------------------------------


def apply_overrides(options, assignments: list[str], flag: str | None = None):
    """``NAME=VALUE`` pairs applied to an options dataclass, each value parsed as its field's type; a pair that does
    not fit ends the run with one line naming it (and the ``flag`` it came with)."""
    types = {f.name: f.type for f in dataclasses.fields(options)}
    changes = {}
    for assignment in assignments:
        given = f"{flag} {assignment}" if flag else assignment
        name, equals, value = assignment.partition("=")
        if name not in types:
            raise SystemExit(f"error: {given}: {type(options).__name__} has no field {name!r} "
                             f"(fields: {', '.join(types)})")
        if not equals:
            raise SystemExit(f"error: {given}: expected NAME=VALUE")
        current = getattr(options, name)
        if isinstance(current, bool):
            if value.lower() not in BOOLEANS:
                raise SystemExit(f"error: {given}: {name} is true or false")
            changes[name] = BOOLEANS[value.lower()]
        elif isinstance(current, (int, float)):
            try:
                changes[name] = type(current)(value)
            except ValueError:
                kind = "a whole number" if isinstance(current, int) else "a number"
                raise SystemExit(f"error: {given}: {name} is {kind}") from None
        else:
            changes[name] = value
    return dataclasses.replace(options, **changes)


BOOLEANS = {**dict.fromkeys(("1", "true", "yes", "on"), True), **dict.fromkeys(("0", "false", "no", "off"), False)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="talksearch eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="*", type=Path, metavar="SET",
                        help="talk set directories [default: ../shared/eval/dev, bench/dev]")
    parser.add_argument("--whisper-model", default=None, help="whisper model [default: the setting's, base]")
    parser.add_argument("--embed-model", default=None, help="embedding model [default: the setting's]")
    parser.add_argument("--prompt", choices=PROMPT_MODES, default=None,
                        help="how the talk's own metadata is given to whisper [default: TranscriptionOptions']")
    parser.add_argument("--transcription", action="append", default=[], metavar="NAME=VALUE",
                        help="TranscriptionOptions field (a setting of its own: transcribed again, cached apart)")
    parser.add_argument("--passage", action="append", default=[], metavar="NAME=VALUE", help="PassageOptions field")
    parser.add_argument("--ranking", action="append", default=[], metavar="NAME=VALUE", help="RankingOptions field")
    parser.add_argument("--compare", action="append", default=[], metavar="NAME=VALUE[,NAME=VALUE]",
                        help="also rank with these RankingOptions changes (one variant per --compare), and compare")
    parser.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure the dense-only and BM25-only baselines [default: on]")
    parser.add_argument("--misses", action="store_true", help="list the queries talksearch misses or lands late on")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--work", type=Path, default=WORK, help=f"where transcripts are cached [default: {WORK}]")
    return parser.parse_args(argv)


def ranking_variants(base: RankingOptions, compares: list[str]) -> dict[str, RankingOptions]:
    """``base`` as "defaults", and one variant per ``--compare`` value (``NAME=VALUE[,NAME=VALUE]``)."""
    return {"defaults": base,
            **{compare: apply_overrides(base, compare.split(","), "--compare") for compare in compares}}


def print_comparison(names: list[str], judged: dict[str, list[list[Judged]]], out=print) -> None:
    """Each variant's R@1 / R@5 / onTime@5 per set, then pooled over every set's queries (n: how many)."""
    width = max(len(name) for name in judged)
    out(f"{'ranking':<{width}}  " + "  ".join(f"{name:>14}" for name in names)
        + "    pooled R@1   R@5 MRR@10 onTime@5   n")
    for variant, per_set in judged.items():
        cells = [Scores.of(j) for j in per_set]
        pooled = Scores.of([j for one in per_set for j in one])
        out(f"{variant:<{width}}  " + "  ".join(f"{c.r1:.2f}/{c.r5:.2f}/{c.on_time:.2f}" for c in cells)
            + f"    {pooled.r1:>10.3f}{pooled.r5:>6.3f}{pooled.mrr:>7.3f}{pooled.on_time:>9.3f}{pooled.n:>4}")


def measure_set(talk_set: TalkSet, args: argparse.Namespace, settings: Settings, transcription: TranscriptionOptions,
                passage_options: PassageOptions, rankings: dict[str, RankingOptions], embedder: Embedder) -> dict:
    """One set: talksearch under every ranking variant (the first is the defaults), the baselines, WER; printed."""
    for problem in talk_set.rejected:
        print(f"not scored: {problem}")
    print(f"set {talk_set.path}: {len(talk_set.truth)} talks, {len(talk_set.queries)} queries; "
          f"whisper {settings.whisper_model} (prompt: {transcription.prompt}), embeddings {settings.embed_model}")
    talks = transcribe_set(talk_set, settings, transcription, args.work, print)
    reports, wer, variants = [], {}, {}
    with tempfile.TemporaryDirectory(prefix="talksearch-eval-") as tmp:
        ours = build_library(Path(tmp) / "talksearch", talks, embedder, talksearch_cut(passage_options))
        talk_ids = {t.id: talk_set.talk_by_title(t.title) for t in ours.talks()}
        for name, options in rankings.items():
            variants[name] = evaluate(talk_set, talksearch_search(ours, embedder, options), talk_ids)
        judged = variants["defaults"]
        reports.append(SystemReport("talksearch", scores_by_kind(judged), judged))
        wer["talksearch sentences"] = word_error_rate(talk_set, ours, talk_ids)
        if args.baselines:
            raw = build_library(Path(tmp) / "raw", talks, embedder, raw_segment_cut)
            for name, search in (("dense-only (raw segs)", dense_search(raw, embedder)),
                                 ("BM25-only (raw segs)", bm25_search(raw))):
                judged = evaluate(talk_set, search, talk_ids)
                reports.append(SystemReport(name, scores_by_kind(judged), judged))
        ours.close()
    print_reports(reports, wer)
    if args.misses:
        print_misses(talk_set, reports[0], talk_ids)
    return {"figures": {"set": str(talk_set.path), "wer": wer, "systems": {
        r.name: {k: dataclasses.asdict(s) for k, s in r.scores.items()} for r in reports}}, "variants": variants}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    # Where the results go is checked before any model loads: a set takes minutes to transcribe.
    writable_folder(f"--work {args.work}", args.work, create=True)
    if args.json:
        if args.json.is_dir():
            raise SystemExit(f"error: --json {args.json}: a folder, not a file")
        writable_folder(f"--json {args.json}", args.json.parent)
    talk_sets = [TalkSet.load(path) for path in args.sets or [default_set()]]
    settings = Settings(**{k: v for k, v in {"whisper_model": args.whisper_model,
                                            "embed_model": args.embed_model}.items() if v})
    transcription = TranscriptionOptions.from_settings(settings)
    if args.prompt:
        transcription = dataclasses.replace(transcription, prompt=args.prompt)
    transcription = apply_overrides(transcription, args.transcription, "--transcription")
    passage_options = apply_overrides(PassageOptions(), args.passage, "--passage")
    # the ranking the service runs, changed by --ranking
    ranking_options = apply_overrides(RankingOptions.from_settings(settings), args.ranking, "--ranking")
    rankings = ranking_variants(ranking_options, args.compare)
    print(f"passages: {passage_options}\nranking:  {ranking_options}")
    embedder = Embedder.from_settings(settings)
    measured = [measure_set(talk_set, args, settings, transcription, passage_options, rankings, embedder)
                for talk_set in talk_sets]
    if len(talk_sets) > 1 or args.compare:
        print_comparison([t.path.parent.name + "/" + t.path.name for t in talk_sets],
                         {name: [m["variants"][name] for m in measured] for name in rankings})
    if args.json:  # one set: its figures; several: a list of them
        figures = [m["figures"] for m in measured]
        args.json.write_text(json.dumps(figures[0] if len(figures) == 1 else figures, indent=1))
    print(f"took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

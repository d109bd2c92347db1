"""``talksearch index --engine ray``: the same work, fanned out to Ray actors.

Listing stays on the driver (it is cheap and needs the library). Each actor loads the models once and
turns a candidate into a ``Processed`` talk: download into its own scratch folder, decode, transcribe,
embed. Results stream back as they finish and the driver, the library's single writer, commits them,
so the library is the same as the local engine's for the same sources.

Faults: actors restart when their process dies and Ray retries the interrupted call
(``max_restarts``/``max_task_retries``); the driver commits a talk only if the library does not have
it yet, so a retried talk is never committed twice; a driver killed mid-run leaves a library that the
next run resumes, exactly like a local run.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from talksearch.indexer.fetching import Outcome, fetch_once, list_candidates, talk_failed
from talksearch.indexer.processor import Processed, TalkFailed, TalkProcessor
from talksearch.indexer.sources import Candidate, Sources, clean_error
from talksearch.library import Library, LibraryError
from talksearch.models import ModelError
from talksearch.settings import Settings

INSTALL_HINT = "--engine ray needs Ray: pip install 'talksearch[ray]'"


def require_ray() -> None:
    try:
        import ray  # noqa: F401  (only whether it imports)
    except ImportError:
        raise LibraryError(INSTALL_HINT) from None


def check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """Refuse, in one line, a ``--ray-address`` nobody answers at. Ray itself retries a cluster it cannot reach
    for minutes before failing, with a page of logs. ``None`` and ``auto`` (a local or already-running
    cluster) are Ray's to find; ``host:port`` is a cluster's GCS, ``ray://host:port`` its client server."""
    if address in (None, "", "auto", "local"):
        return
    parsed = urllib.parse.urlsplit(address if "://" in address else f"//{address}")
    try:
        host, port = parsed.hostname, parsed.port or (10001 if parsed.scheme == "ray" else 6379)
    except ValueError:  # a port that is not a number
        host = None
    if not host:
        raise LibraryError(f"--ray-address {address!r} is not host:port or ray://host:port")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise LibraryError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None


class RayTalkWorker:
    """A Ray actor (wrapped by ``ray.remote`` at run time): models loaded once, one talk per call."""

    def __init__(self, settings_json: str, known: frozenset[str], urls: dict[str, str]):
        import ray

        settings = Settings.model_validate_json(settings_json)
        # One talk per call: one transcribe worker, on as many threads as the CPUs Ray gave this actor (not every
        # core of its machine, which the other actors placed there share).
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
        self.settings = settings.model_copy(update={"transcribe_workers": 1,
                                                    "threads": settings.threads or max(1, int(cpus))})
        # The library may live on another machine: the driver sends what it already holds.
        self.known, self.urls = known, urls
        self.failure: Exception | None = None
        try:
            self.processor = TalkProcessor(self.settings)
        except Exception as exc:  # raised again by each call: Ray reports a failed __init__ as text only
            self.failure = exc

    def ready(self) -> None:
        """Returns once Ray has placed the actor and its embedding model has loaded (whisper loads with the first
        talk that needs it, as in the local engine); raises what kept them from loading."""
        if self.failure is not None:
            raise self.failure
        _ = self.processor.embedder

    def index(self, candidate: Candidate) -> Processed | Outcome:
        if self.failure is not None:
            raise self.failure
        # A scratch folder per talk, gone with it: an actor is killed (ray.kill, a lost node) without cleaning up.
        with tempfile.TemporaryDirectory(prefix="talksearch-ray-") as scratch:
            sources = Sources(Path(scratch), self.known.__contains__, self.settings.socket_timeout,
                              captions=self.settings.captions, language=self.settings.language,
                              library_urls=lambda: self.urls)
            fetched = fetch_once(sources, candidate, seen=set())
            if isinstance(fetched, Outcome):
                return fetched
            try:
                return self.processor.process(fetched)
            except TalkFailed as exc:
                return talk_failed(candidate, fetched, str(exc))

    def pid(self) -> int:
        return os.getpid()


def _amount(number: float, unit: str) -> str:
    return f"{number:g} {unit}{'' if number == 1 else 's'}"


def _worker_shape(settings: Settings, may_grow: bool, notice: Callable[[str], None]) -> tuple[int, dict]:
    """How many actors, and what each asks of the cluster: a GPU each when there are GPUs.

    Ray never places an actor the cluster has no room for, and a talk handed to it would wait forever: more
    actors than the cluster's nodes hold now are refused, unless it ``may_grow`` (a cluster joined, whose
    autoscaler may add nodes for actors waiting to be placed): then it is said, and talks go to those placed."""
    import ray

    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if settings.ray_workers:
        count = settings.ray_workers
    elif gpus:
        count = gpus
    else:
        count = max(1, int(resources.get("CPU", 1)) // settings.ray_cpus_per_worker)
    options = {"num_gpus": 1, "num_cpus": 1} if gpus else {"num_cpus": settings.ray_cpus_per_worker}
    asks = {"CPU": options["num_cpus"], "GPU": options.get("num_gpus", 0)}
    asks = {name: need for name, need in asks.items() if need}
    room = sum(min(int(node["Resources"].get(name, 0) // need) for name, need in asks.items())
               for node in ray.nodes() if node["Alive"])
    if count > room:
        shape = " and ".join(_amount(need, name) for name, need in asks.items())
        has = " and ".join(_amount(resources.get(name, 0), name) for name in asks)
        placed = f"room for {room} of {_amount(count, 'worker')} × {shape}"
        if not may_grow:
            raise LibraryError(f"the Ray cluster has {has}: {placed} (set --ray-workers or "
                               f"TALKSEARCH_RAY_CPUS_PER_WORKER lower)")
        notice(f"the Ray cluster has {has} now: {placed}; the others start if it grows, and talks go to the "
               f"workers that have started")
    return count, options


class RayRun(Protocol):
    """What the Ray engine needs of the run driving it (``pipeline.IndexRun``), named here so that this module
    does not import the pipeline that imports it."""

    settings: Settings
    library: Library
    ray_address: str | None
    workers: int
    reindex: bool


def _connect(address: str | None) -> None:
    import ray

    try:
        ray.init(address=address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    except ConnectionError as exc:
        if address != "auto":
            raise
        # No cluster running here: Ray's own message names its --address flag, which is not talksearch's.
        raise LibraryError("--ray-address auto: no running Ray cluster found here (start one with 'ray start "
                           "--head', or leave --ray-address out for a local Ray)") from exc


def _failure(exc: Exception) -> str:
    """A worker's failure, in one line: the exception its call raised, not Ray's header (the actor's process title,
    pid and id, in terminal colours). A model that cannot load stops the run instead, as in the local engine:
    every talk would fail the same way."""
    import ray

    cause = exc.cause if isinstance(exc, ray.exceptions.RayTaskError) else exc
    if isinstance(cause, ModelError):
        raise cause from None
    return clean_error(cause)


def process_on_ray(run: RayRun, sources: list[str], overall) -> Iterator[tuple[str, Processed | Outcome]]:
    import ray

    settings = run.settings
    _connect(run.ray_address)
    # A cluster joined may grow (an autoscaler); the local Ray started for this run cannot.
    may_grow = run.ray_address not in (None, "", "local") or bool(os.environ.get("RAY_ADDRESS"))
    count, options = _worker_shape(settings, may_grow, lambda line: overall.write(line, file=sys.stderr))
    run.workers = 0  # those that start
    urls = run.library.archive_urls()
    known = frozenset() if run.reindex else frozenset(urls)
    if options.get("num_gpus"):
        settings = settings.model_copy(update={"device": "cuda"})
    worker_class = ray.remote(max_restarts=-1, max_task_retries=3)(RayTalkWorker)
    workers = [worker_class.options(**options).remote(settings.model_dump_json(), known, urls) for _ in range(count)]
    # Talks go only to actors that have started: one Ray has not placed would hold its talk until it is.
    starting = {worker.ready.remote(): worker for worker in workers}
    idle: list = []
    in_flight: dict = {}  # object ref -> (actor, candidate)

    def next_done() -> tuple[str, Processed | Outcome] | None:
        """The next talk done (its label and result), or None when an actor started instead."""
        if not starting and not in_flight:
            raise LibraryError("no Ray worker could start")
        (ready,), _ = ray.wait([*starting, *in_flight], num_returns=1)
        if ready in starting:
            actor = starting.pop(ready)
            try:
                ray.get(ready)
                idle.append(actor)
                run.workers += 1
            except ray.exceptions.RayError as exc:  # it never started: the others carry on without it
                overall.write(f"a Ray worker could not start: {_failure(exc)}", file=sys.stderr)
            return None
        actor, candidate = in_flight.pop(ready)
        idle.append(actor)
        try:
            result = ray.get(ready)
        except ray.exceptions.RayError as exc:  # retries exhausted: report it, keep the batch going
            result = Outcome("failed", candidate.label, f"worker failed: {_failure(exc)}")
        return (result.talk.title if isinstance(result, Processed) else result.label), result

    seen: set[str] = set()
    try:
        with tempfile.TemporaryDirectory(prefix="talksearch-driver-") as scratch:
            # Listing needs no models; the driver's fetcher only reads listings and archive keys.
            lister = Sources(Path(scratch), run.library.has_archive_id, settings.socket_timeout,
                             library_urls=lambda: urls)
            for candidate in list_candidates(lister, sources, overall):
                if isinstance(candidate, Outcome):
                    yield candidate.label, candidate
                    continue
                key = lister.archive_key(candidate)
                if key is not None and (key in seen or (not run.reindex and run.library.has_archive_id(key))):
                    reason = "listed twice in this run" if key in seen else "already in the library"
                    yield candidate.label, Outcome("skipped", candidate.label, reason)
                    continue
                if key is not None:
                    seen.add(key)
                while not idle:  # list lazily: only as fast as the actors take talks
                    if (done := next_done()) is not None:
                        yield done
                if candidate.path is not None:  # the actors' working folder is not the driver's
                    candidate = dataclasses.replace(candidate, path=candidate.path.absolute())
                actor = idle.pop()
                in_flight[actor.index.remote(candidate)] = (actor, candidate)
        while in_flight:
            if (done := next_done()) is not None:
                yield done
    finally:
        for worker in workers:
            ray.kill(worker)

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

import os
import socket
import tempfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from talksearch.indexer.fetching import Outcome, discard, fetch_once, list_candidates, talk_failed
from talksearch.indexer.processor import Processed, TalkFailed, TalkProcessor
from talksearch.indexer.sources import Candidate, Sources
from talksearch.library import Library, LibraryError
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
        # One talk per call: one transcribe worker.
        self.settings = Settings.model_validate_json(settings_json).model_copy(update={"transcribe_workers": 1})
        self.processor = TalkProcessor(self.settings)
        self.scratch = Path(tempfile.mkdtemp(prefix="talksearch-ray-"))
        # The library may live on another machine: the driver sends what it already holds.
        self.sources = Sources(self.scratch, known.__contains__, self.settings.socket_timeout,
                               captions=self.settings.captions, language=self.settings.language,
                               indexed_url=urls.get)

    def index(self, candidate: Candidate) -> Processed | Outcome:
        fetched = fetch_once(self.sources, candidate, seen=set())
        if isinstance(fetched, Outcome):
            return fetched
        try:
            return self.processor.process(fetched)
        except TalkFailed as exc:
            return talk_failed(candidate, fetched, str(exc))
        finally:
            discard(fetched)  # a worker's scratch may be on another machine: media is not kept

    def pid(self) -> int:
        return os.getpid()


def _worker_shape(settings: Settings) -> tuple[int, dict]:
    """How many actors, and what each asks of the cluster: a GPU each when there are GPUs."""
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
    return count, options


class RayRun(Protocol):
    """What the Ray engine needs of the run driving it (``pipeline.IndexRun``), named here so that this module
    does not import the pipeline that imports it."""

    settings: Settings
    library: Library
    ray_address: str | None
    workers: int
    reindex: bool


def process_on_ray(run: RayRun, sources: list[str], overall) -> Iterator[tuple[str, Processed | Outcome]]:
    import ray

    settings = run.settings
    ray.init(address=run.ray_address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    count, options = _worker_shape(settings)
    run.workers = count
    urls = run.library.archive_urls()
    known = frozenset() if run.reindex else frozenset(urls)
    if options.get("num_gpus"):
        settings = settings.model_copy(update={"device": "cuda"})
    worker_class = ray.remote(max_restarts=-1, max_task_retries=3)(RayTalkWorker)
    workers = [worker_class.options(**options).remote(settings.model_dump_json(), known, urls) for _ in range(count)]
    # Listing needs no models; the driver's fetcher only reads listings and archive keys.
    lister = Sources(Path(tempfile.mkdtemp(prefix="talksearch-driver-")), run.library.has_archive_id,
                     settings.socket_timeout, indexed_url=urls.get)
    idle = list(workers)
    in_flight: dict = {}  # object ref -> (actor, candidate)

    def collect() -> tuple[str, Processed | Outcome]:
        (ready,), _ = ray.wait(list(in_flight), num_returns=1)
        actor, candidate = in_flight.pop(ready)
        idle.append(actor)
        try:
            result = ray.get(ready)
        except ray.exceptions.RayError as exc:  # retries exhausted: report it, keep the batch going
            result = Outcome("failed", candidate.label, f"worker failed: {str(exc).splitlines()[0][:200]}")
        return (result.talk.title if isinstance(result, Processed) else result.label), result

    seen: set[str] = set()
    try:
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
            if not idle:  # list lazily: only as fast as the actors take talks
                yield collect()
            actor = idle.pop()
            in_flight[actor.index.remote(candidate)] = (actor, candidate)
        while in_flight:
            yield collect()
    finally:
        for worker in workers:
            ray.kill(worker)

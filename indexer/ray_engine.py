"""``talksearch index --engine ray``: the same work, fanned out to Ray actors.

Listing stays on the driver (it is cheap and needs the library). Each actor loads the models once and
turns a candidate into a ``Processed`` talk: download into its own scratch folder, decode, transcribe,
embed. Results stream back as they finish and the driver, the library's single writer, commits them,
so the library is the same as the local engine's for the same sources.

Faults: actors restart when their process dies and Ray retries the interrupted call
(``max_restarts``/``max_task_retries``); the driver commits a talk only if the library does not have
it yet, so a retried talk is never committed twice; a driver killed mid-run leaves a library that the
next run resumes, exactly like a local run. A talk found on fetching to be one this run has taken (two links that
redirect to one recording) is skipped as the local engine skips it. A worker killed mid-talk leaves its scratch
folder, which the driver (on the same machine) or the next worker to start there removes (``remove_abandoned_scratch``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from talksearch.indexer.fetching import Outcome, fetch_once, in_library, list_candidates, removed_from, talk_failed
from talksearch.indexer.processor import Processed, TalkFailed, TalkProcessor
from talksearch.indexer.sources import Candidate, Sources, clean_error
from talksearch.embedding import model_names
from talksearch.library import Library, LibraryError
from talksearch.models import ModelError, looks_like_path, read_manifest
from talksearch.settings import Settings
from talksearch.storage import FULL, storage_kind

INSTALL_HINT = "--engine ray needs Ray: pip install 'ray>=2.40' (or, in talksearch's checkout, pip install -e '.[ray]')"

SCRATCH_PREFIX = "talksearch-ray-"
# Held (flock) by the worker process using its scratch folder: the kernel lets go when that process dies, however
# it dies (ray.kill, a lost driver, the OOM killer), which is how a folder nobody will remove is told apart.
SCRATCH_LOCK = ".in-use"


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


@contextlib.contextmanager
def _scratch_folder(prefix: str) -> Iterator[Path]:
    """A scratch folder for one talk, removed with it, and locked while in use."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    unlocked = folder / f"{SCRATCH_LOCK}.new"
    try:
        with open(unlocked, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            unlocked.rename(folder / SCRATCH_LOCK)  # found by that name only once locked
            yield folder
    finally:
        _remove_scratch(folder)


def _remove_scratch(folder: Path) -> None:
    """Its lock last: a removal cut short (the worker killed as it cleans up) leaves a folder still told abandoned."""
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            if entry.name == SCRATCH_LOCK:
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    shutil.rmtree(folder, ignore_errors=True)


def remove_abandoned_scratch(prefix: str = SCRATCH_PREFIX) -> int:
    """Remove this machine's scratch folders (named ``prefix``...) whose worker died mid-talk (an interrupted run:
    its workers are killed, and a killed process removes nothing), leaving alone those of workers still at work,
    whichever run they belong to, and any it cannot tell (without its lock yet, an earlier release's, another
    user's). Returns how many are in use."""
    in_use = 0
    for folder in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        try:
            with open(folder / SCRATCH_LOCK) as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                _remove_scratch(folder)
        except BlockingIOError:  # its worker is alive
            in_use += 1
        except OSError:
            continue
    return in_use


class ScratchFull(Exception):
    """The disk holding a worker's scratch folders is full (or its quota spent): no talk's fault, as every talk sent
    there after it would fail the same way, so it stops the run (``_failure``), as a full disk stops a local one."""

    def __init__(self, folder: str, host: str, detail: str):
        super().__init__(folder, host, detail)  # (as Ray pickles it back to the driver)
        self.folder, self.host, self.detail = folder, host, detail

    def __str__(self) -> str:
        on = "" if self.host == socket.gethostname() else f" on {self.host}"  # (read on the driver's machine)
        return (f"no space left on the disk holding the Ray worker's scratch folder {self.folder}{on} ({self.detail}); "
                "free some space and run the command again: what was committed is intact")


class RayTalkWorker:
    """A Ray actor (wrapped by ``ray.remote`` at run time): models loaded once, one talk per call."""

    def __init__(self, settings_json: str, known: frozenset[str], urls: dict[str, str],
                 scratch_prefix: str = SCRATCH_PREFIX):
        """``scratch_prefix``: its talks' scratch folders' names begin with it (the run's own, which its driver
        looks for once it has killed its workers)."""
        import ray

        settings = Settings.model_validate_json(settings_json)
        # One talk per call: one transcribe worker, on as many threads as the CPUs Ray gave this actor (not every
        # core of its machine, which the other actors placed there share).
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
        self.settings = settings.model_copy(update={"transcribe_workers": 1,
                                                    "threads": settings.threads or max(1, int(cpus))})
        # The library may live on another machine: the driver sends what it already holds.
        self.known, self.urls, self.scratch_prefix = known, urls, scratch_prefix
        self.failure: Exception | None = None
        remove_abandoned_scratch()  # what workers of an interrupted run left on this machine
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

    def index(self, candidate: Candidate, taken: frozenset[str]) -> Processed | Outcome:
        """``taken``: the archive keys this run has taken so far (other talks'), so that a talk found on fetching
        to be one of them (another link to the same recording) is skipped before its download, as the local engine
        skips it."""
        if self.failure is not None:
            raise self.failure
        try:
            return self._index(candidate, taken)
        except OSError as exc:  # a full disk, which fetch_once raises by design: named here, where it is
            if storage_kind(exc) != FULL:
                raise
            raise ScratchFull(tempfile.gettempdir(), socket.gethostname(), exc.strerror or str(exc)) from None

    def _index(self, candidate: Candidate, taken: frozenset[str]) -> Processed | Outcome:
        # A scratch folder per talk, gone with it; one an actor killed mid-talk leaves is removed by the next
        # worker or driver on its machine (remove_abandoned_scratch).
        with _scratch_folder(self.scratch_prefix) as scratch:
            sources = Sources(scratch, self.known.__contains__, self.settings.socket_timeout,
                              captions=self.settings.captions, language=self.settings.language,
                              library_urls=lambda: self.urls, max_download_mb=self.settings.max_download_mb,
                              download_stall_seconds=self.settings.download_stall_seconds,
                              parse_metadata=self.settings.parse_metadata)
            fetched = fetch_once(sources, candidate, seen=set(taken))
            if isinstance(fetched, Outcome):
                return fetched
            try:
                return self.processor.process(fetched)
            except TalkFailed as exc:
                return talk_failed(candidate, fetched, str(exc))

    def pid(self) -> int:
        return os.getpid()


def _absolute_model(role: str, name: str) -> str:
    """A model setting as the actors are to read it: a local directory by its absolute path (what the local engine
    records, ``models.resolve``), as an actor's working folder is its cluster's, not the driver's."""
    if any(entry.role == role and entry.name == name for entry in read_manifest()):
        return name  # bundled: found by its name wherever it runs (a folder of that name here is not it)
    if (path := Path(name).expanduser()).is_dir():
        return str(path.resolve())
    if looks_like_path(name) and not name.startswith("~"):  # not here: perhaps on the actors' machines
        return str(Path(name).absolute())
    return name  # a hub name (or a home folder the driver lacks: the actors' own)


def _for_actors(settings: Settings) -> Settings:
    """The settings the actors are sent: the paths in them absolute, as local files' are (``candidate.path``)."""
    cache = settings.model_cache
    return settings.model_copy(update={
        "whisper_model": _absolute_model("whisper", settings.whisper_model),
        "embed_model": "+".join(_absolute_model("embedding", name) for name in model_names(settings.embed_model)),
        "model_cache": cache if str(cache).startswith("~") else cache.absolute()})


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


def _not_the_token_notice(record: logging.LogRecord) -> bool:
    """Ray's notice, on every run of a local Ray, that its token authentication is on (with how to turn it off):
    not talksearch's output. Its warning that authentication is off still shows."""
    return not record.getMessage().startswith("Token authentication is enabled for this Ray cluster")


def _connect(address: str | None) -> bool:
    """Join the Ray at ``address``, or start a local one; True when this run started it (and is to stop it)."""
    import ray

    logging.getLogger("ray._private.authentication.authentication_token_setup").addFilter(_not_the_token_notice)
    # Ray prints on the driver's stdout (where the outcome lines go) each failed call it will retry: a worker that
    # died is retried quietly, and a talk that fails for good is its own failed line.
    os.environ.setdefault("RAY_enable_output_error_log_if_still_retry", "0")
    # ray.init puts its own SIGTERM handler in place (its C++ core, a crash report's): the CLI's comes back, so
    # that a scheduler's SIGTERM (KubeRay, Slurm, systemd) ends the run as it ends a local one (exit 143, "run
    # the same command again to resume"), not as a run with failed talks.
    handlers = ({sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
                if threading.current_thread() is threading.main_thread() else {})
    # No address is a local Ray started for this run (--help says so), not the one `ray start` last started with the
    # same TMPDIR, which Ray's own default (None) joins: "local" starts one whatever runs here.
    local = address == "local" or not (address or os.environ.get("RAY_ADDRESS"))
    started = local and not ray.is_initialized()  # (a process already connected keeps its Ray)
    try:
        ray.init(address="local" if local else address, ignore_reinit_error=True, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    except ConnectionError as exc:
        if address != "auto":
            raise
        # No cluster running here: Ray's own message names its --address flag, which is not talksearch's.
        raise LibraryError("--ray-address auto: no running Ray cluster found here (start one with 'ray start "
                           "--head', or leave --ray-address out for a local Ray)") from exc
    finally:
        for sig, handler in handlers.items():
            if handler is not None:  # None: not set from Python, nothing to put back
                signal.signal(sig, handler)
    return started


def _failure(exc: Exception) -> str:
    """A worker's failure, in one line: the exception its call raised, not Ray's header (the actor's process title,
    pid and id, in terminal colours). A model that cannot load stops the run instead, as in the local engine:
    every talk would fail the same way."""
    import ray

    cause = exc.cause if isinstance(exc, ray.exceptions.RayTaskError) else exc
    if isinstance(cause, ModelError):
        raise cause from None
    if isinstance(cause, ScratchFull):  # (as a full disk stops a local run: every talk after it would fail alike)
        raise LibraryError(str(cause)) from None
    return clean_error(cause)


def process_on_ray(run: RayRun, sources: list[str], overall) -> Iterator[tuple[str, Processed | Outcome]]:
    import ray

    started = _connect(run.ray_address)
    try:
        yield from _process(run, sources, overall)
    finally:
        if started:  # now, not at exit: an interrupted run leaves by os._exit, which skips Ray's own ray.shutdown, and
            ray.shutdown()  # its agents (ray::DashboardAgent, ray::RuntimeEnvAgent) outlived it by a minute or more


def _process(run: RayRun, sources: list[str], overall) -> Iterator[tuple[str, Processed | Outcome]]:
    import ray

    settings = run.settings
    # A cluster joined may grow (an autoscaler); the local Ray started for this run cannot.
    may_grow = run.ray_address not in (None, "", "local") or bool(os.environ.get("RAY_ADDRESS"))
    count, options = _worker_shape(settings, may_grow, lambda line: overall.write(line, file=sys.stderr))
    run.workers = 0  # those that start
    urls = run.library.archive_urls()
    known = frozenset() if run.reindex else frozenset(urls)
    if options.get("num_gpus"):
        settings = settings.model_copy(update={"device": "cuda"})
    worker_class = ray.remote(max_restarts=-1, max_task_retries=3)(RayTalkWorker)
    scratch_prefix = f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:8]}-"
    sent = _for_actors(settings).model_dump_json()
    workers = [worker_class.options(**options).remote(sent, known, urls, scratch_prefix) for _ in range(count)]
    # Talks go only to actors that have started: one Ray has not placed would hold its talk until it is.
    starting = {worker.ready.remote(): worker for worker in workers}
    idle: list = []
    in_flight: dict = {}  # object ref -> (actor, candidate, its archive key as listed)
    # The archive keys this run has taken, as listed or as found on fetching (where a link redirects): a talk with
    # one of them is "listed twice in this run", as in the local engine.
    taken: set[str] = set()
    # Ray's wait checks for signals itself and turns the exception a handler raises (the CLI's Terminated, for
    # SIGTERM) into a plain KeyboardInterrupt: waited for in a thread, a signal finds the driver waiting in Python.
    waiter = ThreadPoolExecutor(1, thread_name_prefix="ray-wait")

    def next_done() -> tuple[str, Processed | Outcome] | None:
        """The next talk done (its label and result), or None when an actor started instead."""
        if not starting and not in_flight:
            raise LibraryError("no Ray worker could start")
        (ready,), _ = waiter.submit(ray.wait, [*starting, *in_flight], num_returns=1).result()
        if ready in starting:
            actor = starting.pop(ready)
            try:
                ray.get(ready)
                idle.append(actor)
                run.workers += 1
            except ray.exceptions.RayError as exc:  # it never started: the others carry on without it
                overall.write(f"a Ray worker could not start: {_failure(exc)}", file=sys.stderr)
            return None
        actor, candidate, listed_key = in_flight.pop(ready)
        idle.append(actor)
        try:
            result = ray.get(ready)
        except ray.exceptions.RayError as exc:  # retries exhausted: report it, keep the batch going
            result = Outcome("failed", candidate.label, f"worker failed: {_failure(exc)}")
        if not isinstance(result, Processed):
            return result.label, result
        key = result.talk.archive_id
        if key != listed_key and key in taken:  # another talk of this run's, found as both were fetched at once
            return candidate.label, Outcome("skipped", candidate.label, "listed twice in this run")
        taken.add(key)
        return result.talk.title, result

    def skipped(key: str | None) -> str | None:
        """Why a talk listed under ``key`` is not indexed, if it is not."""
        if key is not None and key in taken:
            return "listed twice in this run"
        if key is not None and not run.reindex and run.library.has_archive_id(key):
            return "already in the library"
        if key is not None and not run.reindex:  # a takedown holds: nothing of it is downloaded (as locally)
            return removed_from(run.library, key)
        return None

    try:
        with tempfile.TemporaryDirectory(prefix="talksearch-driver-") as scratch:
            # Listing needs no models; the driver's fetcher only reads listings and archive keys.
            lister = Sources(Path(scratch), run.library.has_archive_id, settings.socket_timeout,
                             library_urls=lambda: urls, removed_urls=run.library.removed_archive_urls,
                             parse_metadata=settings.parse_metadata)
            for candidate in list_candidates(lister, sources, overall):
                if isinstance(candidate, Outcome):
                    yield candidate.label, candidate
                    continue
                key = lister.archive_key(candidate)
                if (candidate.path is not None and key is not None and key not in taken and not run.reindex
                        and run.library.has_archive_id(key)):
                    # A local recording the library knows: skipped at its talk's path, and met at a new one (moved,
                    # or copied over another talk's) its talk follows it, as in the local engine. Nothing to
                    # transcribe, so the driver sees to it (the writer moves or retires the talks).
                    known = fetch_once(lister, candidate, seen=taken)
                    if isinstance(known, Outcome):
                        yield candidate.label, known
                        continue
                # List lazily, only as fast as the actors take talks; a talk is checked again as each talk is done
                # meanwhile (one found under the same key on fetching, where a link redirects, takes it).
                while not (reason := skipped(key)) and not idle:
                    if (done := next_done()) is not None:
                        yield done
                if reason == "already in the library":  # its listing's details stored where they changed, as locally
                    yield candidate.label, in_library(lister, candidate, key)
                    continue
                if reason:  # a removed talk's outcome names the id that restores it
                    yield candidate.label, Outcome("skipped", candidate.label, reason, talk_id=run.library.removed_as(key))
                    continue
                if candidate.path is not None:  # the actors' working folder is not the driver's
                    candidate = dataclasses.replace(candidate, path=candidate.path.absolute())
                actor = idle.pop()
                in_flight[actor.index.remote(candidate, frozenset(taken))] = (actor, candidate, key)
                if key is not None:
                    taken.add(key)
        while in_flight:
            if (done := next_done()) is not None:
                yield done
    finally:
        for worker in workers:
            ray.kill(worker)
        waiter.shutdown(wait=False)
        if in_flight:  # stopped mid-talk (interrupted, or a model that cannot load): its workers are killed
            # The folders of those on this machine (a local Ray's) are removed once each has exited, not at the next
            # run; the others', by the next worker to start on theirs.
            deadline = time.monotonic() + 5
            while remove_abandoned_scratch(scratch_prefix) and time.monotonic() < deadline:
                time.sleep(0.1)

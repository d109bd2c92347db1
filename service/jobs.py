"""Indexing jobs submitted over the API, run one at a time by one background worker.

Each job runs ``talksearch.indexer.pipeline.IndexRun`` in a child process (``talksearch.service.index_job``): the models
and downloads stay out of the service's memory, a crash there cannot take the service down, and the
child can guard its own network access (``talksearch.service.netguard``) without touching the service's. The
child holds the library's writer lock only while its job runs, so ``talksearch index`` can run
whenever the queue is idle; a job that finds the lock taken waits for it. The service's read
connection picks up what a job commits on its next read (``Library.refresh``).
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
from collections import OrderedDict
from datetime import datetime, timezone

from talksearch.schemas import Job, JobOutcome
from talksearch.settings import Settings

LOCK_RETRY_SECONDS = 5.0  # how soon a job waiting for another writer (a CLI run) first tries again
# ... doubling up to this: a CLI run can hold the library for hours, and each try starts a Python process
LOCK_RETRY_MAX_SECONDS = 60.0
EXIT_LOCKED = 75  # the child's exit status when another process holds the writer lock


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class JobQueue:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._pending: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._child: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._work, name="talksearch-index-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop taking jobs and end the running one (an interrupted run resumes when submitted again)."""
        with self._lock:  # a child starting meanwhile is started before this (and ended) or not at all (_run_child)
            self._stopping.set()
            child = self._child
        self._pending.put(None)
        if child is not None and child.poll() is None:
            child.terminate()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def submit(self, source: str) -> Job:
        job = Job(id=secrets.token_hex(8), source=source, status="queued", created=_now())
        with self._lock:
            self._jobs[job.id] = job
            self._forget_old()
            snapshot = job.model_copy(deep=True)
        self._pending.put(job.id)
        return snapshot

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return job.model_copy(deep=True) if job else None

    def counts(self) -> dict[str, int]:
        counts = {"queued": 0, "running": 0, "done": 0, "failed": 0}
        with self._lock:
            for job in self._jobs.values():
                counts[job.status] += 1
        return counts

    def _forget_old(self) -> None:
        finished = [j.id for j in self._jobs.values() if j.status in ("done", "failed")]
        for job_id in finished[: max(0, len(finished) - self.settings.job_history)]:
            del self._jobs[job_id]

    def _update(self, job: Job, **changes) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(job, key, value)
            if job.status in ("done", "failed") and job.finished is None:  # with it: a poll never sees one alone
                job.finished = _now()

    # --- the worker thread ------------------------------------------------------------------------

    def _work(self) -> None:
        while (job_id := self._pending.get()) is not None:
            with self._lock:
                job = self._jobs.get(job_id)
            if job is None or self._stopping.is_set():
                continue
            self._update(job, status="running", started=_now())
            try:
                self._run(job)
            except OSError as exc:  # the child's error file (TMPDIR) or process could not be made: a full disk, say
                where = f": {exc.filename}" if exc.filename else ""
                self._update(job, status="failed", error=f"cannot start the indexer: {exc.strerror or exc}{where}")
            except Exception as exc:  # the worker must outlive any one job
                self._update(job, status="failed", error=f"{type(exc).__name__}: {exc}")
            with self._lock:
                self._forget_old()  # TALKSEARCH_JOB_HISTORY holds while no new job is submitted, too

    def _run(self, job: Job) -> None:
        retry_in = LOCK_RETRY_SECONDS
        while not self._stopping.is_set():
            if (ran := self._run_child(job)) is None:
                break
            rc, events = ran
            if rc != 0 and self._stopping.is_set():  # ended by stop(): SIGTERM is not what went wrong
                break
            if rc == EXIT_LOCKED:
                waiting = f"waiting: {events.get('locked', 'the library is being written')}"
                with self._lock:
                    if not job.log or job.log[-1] != waiting:  # once per wait (per writer), not once per try
                        job.log.append(waiting)
                self._stopping.wait(retry_in)
                retry_in = min(retry_in * 2, LOCK_RETRY_MAX_SECONDS)
                continue
            summary = events.get("summary")
            if rc == 0 and summary is not None:
                outcomes = [JobOutcome(**o) for o in summary["outcomes"]]
                failed = [o for o in outcomes if o.status == "failed"]
                # (a source that lists no talk has a failed outcome saying so: the indexer's, as the CLI says it)
                self._update(job, outcomes=outcomes, summary=summary["line"], status="failed" if failed else "done",
                             error=f"{failed[0].label}: {failed[0].detail}" if failed else None)
            elif rc < 0:  # what it wrote last (a warning, a progress line) is not why it ended
                self._update(job, status="failed", error=f"the indexer was killed by {_signal_name(-rc)}")
            else:
                self._update(job, status="failed", error=events.get("error") or f"the indexer exited with status {rc}")
            return
        self._update(job, status="failed", error="the service stopped before the job finished")

    def _run_child(self, job: Job) -> tuple[int, dict] | None:
        """The job run by a child process: its exit status and events; None when the service stopped first."""
        request = {
            # What serve was given (flags, environment), not every default: a default the child saw as given would
            # override the library's own model, or its translating (IndexRun keeps those unless told otherwise).
            "settings": self.settings.model_dump(mode="json", exclude={"admin_token"}, exclude_unset=True),
            "sources": [job.source],
            "guard": not self.settings.allow_private_sources,
            "job": job.id,  # the writer lock names it: a DELETE or a `talksearch index` refused meanwhile says which
            "service": os.getpid(),  # the child ends if this process does (index_job)
        }
        events: dict = {}
        # The child writes its stderr in the locale's encoding, as this process reads it; a native library's stray
        # byte that it cannot decode must not turn the job's last error line into a UnicodeDecodeError here.
        with tempfile.TemporaryFile("w+", errors="replace") as errors:
            with self._lock:  # started and named together: a stop() either sees it to end it or keeps it from starting
                if self._stopping.is_set():
                    return None
                # In a session of its own: a hang-up of the service's process group (its terminal or ssh session
                # gone), which the service outlives by design (it reopens the library), killed the job with it.
                # The service's end still ends it: stop() (SIGTERM, Ctrl-C), or the child's own watch (index_job).
                child = subprocess.Popen(
                    [sys.executable, "-m", "talksearch.service.index_job"], stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=errors, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                    start_new_session=True,
                )
                self._child = child
            try:
                child.stdin.write(json.dumps(request))
                child.stdin.close()
                for line in child.stdout:
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    if event.get("event") == "log":
                        with self._lock:
                            job.log.append(event["line"])
                    elif event.get("event") == "outcome":  # each talk's, as it is done (the summary has them all)
                        with self._lock:
                            job.outcomes = [*job.outcomes, JobOutcome(**event["outcome"])]
                    else:
                        events[event.get("event")] = event.get("message", event)
                rc = child.wait()
            finally:
                self._child = None
                if child.poll() is None:
                    child.kill()
                    child.wait()
            if rc > 0 and rc != EXIT_LOCKED and "error" not in events:  # (a signal's end: said by _run)
                errors.seek(0)
                tail = [line for line in errors.read().splitlines() if line.strip()][-1:]
                events["error"] = tail[0][:500] if tail else None
        return rc, events


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:  # a real-time signal has no name of its own
        return f"signal {number}"

"""Admin writes sent at once to one server: it serialises its own, and refuses one only for another process."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from talksearch.library import Library
from tests.service_fixtures import ADMIN_TOKEN, assert_error, serving, settings_for, wait_until

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.mark.models
def test_concurrent_deletes_wait_for_each_other_rather_than_refusing(tmp_path):
    """Each DELETE took the library's writer lock without waiting, on a connection of its own: two at once, and one
    was refused with 409 "being written by talksearch index (pid N)", N the server's own pid, no index running."""
    # An empty library of MiniLM's (it loads in a tenth of the default's time): every id is made up, each DELETE a 404
    library = tmp_path / "library"
    Library.open(library, create=True).close()
    settings = settings_for(library, admin_token=ADMIN_TOKEN, embed_model="all-MiniLM-L6-v2")
    with serving(settings) as server, httpx.Client(base_url=server.base, timeout=120,
                                                   limits=httpx.Limits(max_connections=40)) as client:
        paths = [f"/api/{kind}/made-up-{n}" for n in range(20) for kind in ("talks", "removals")]
        with ThreadPoolExecutor(len(paths)) as pool:
            answers = list(pool.map(lambda path: client.delete(path, headers=AUTH), paths))
        refused = [(answer.status_code, answer.json()["error"]["message"]) for answer in answers
                   if answer.status_code != 404]
        assert not refused, refused
        with Library.open(library) as writer:  # another writer (as talksearch index would be): refused, named
            writer.acquire_writer()
            busy = assert_error(client.delete("/api/talks/made-up", headers=AUTH), 409, "library_busy")
        assert f"being written by talksearch index (pid {os.getpid()}); wait" in busy["message"], busy
        assert_error(client.delete("/api/talks/made-up", headers=AUTH), 404)  # and once it is done, not


class _WatchedLock:
    """A job queue's lock that notes each job's status and finish time as each holder lets go: what a poll
    (GET /api/jobs/{id}) can see, whatever the timing."""

    def __init__(self, jobs):
        self._lock = threading.Lock()
        self._jobs = jobs
        self.seen: list[tuple[str, str | None]] = []

    def __enter__(self):
        self._lock.acquire()

    def __exit__(self, *exc):
        self.seen += [(job.status, job.finished) for job in self._jobs._jobs.values()]
        self._lock.release()


def _done(queue, job):
    return 0, {"summary": {"line": "1 added, 0 skipped, 0 failed", "outcomes": [
        {"status": "added", "label": "t01", "detail": "", "talk_id": "3f2a9c1d0b7e"}]}}


def _crashed(queue, job):
    raise RuntimeError("the worker's own bug")


@pytest.mark.unit
@pytest.mark.parametrize("run_child", [_done, lambda queue, job: (1, {"error": "no such file"}), _crashed])
def test_a_job_is_done_and_finished_at_once(tmp_path, monkeypatch, run_child):
    """The status was set done (or failed) under the queue's lock, the finish time under a second hold of it: a
    poll between the two saw a finished job with no finish time."""
    from talksearch.service import jobs

    monkeypatch.setattr(jobs.JobQueue, "_run_child", run_child)
    queue = jobs.JobQueue(settings_for(tmp_path / "library"))
    watched = queue._lock = _WatchedLock(queue)
    queue.start()
    try:
        job_id = queue.submit("https://example.org/talk.mp3").id
        wait_until(lambda: (job := queue.get(job_id)).status in ("done", "failed") and job.finished, "the job", 30)
    finally:
        queue.stop()
    ended = [(status, finished) for status, finished in watched.seen if status in ("done", "failed")]
    assert ended and all(finished for _, finished in ended), ended


@pytest.mark.unit
def test_a_service_stopped_while_a_jobs_child_starts_ends_the_child(tmp_path, monkeypatch):
    """stop() read the running child without the queue's lock: landing while the child was being started, it
    ended nothing, waited 30 s for the job's thread and left the child indexing on its own (a concurrency hunt)."""
    import subprocess
    import sys

    from talksearch.service import jobs

    started, children = threading.Event(), []

    class SlowToStart(subprocess.Popen):  # a child that takes a moment to start, and runs until ended
        def __init__(self, args, **kwargs):
            started.set()
            threading.Event().wait(0.5)
            super().__init__([sys.executable, "-c", "import time; time.sleep(120)"], **kwargs)
            children.append(self)

    monkeypatch.setattr(jobs.subprocess, "Popen", SlowToStart)
    queue = jobs.JobQueue(settings_for(tmp_path / "library"))
    queue.start()
    job_id = queue.submit("https://example.org/talk.mp3").id
    assert started.wait(30)
    queue.stop()
    assert queue.get(job_id).status == "failed"
    assert [child.poll() is not None for child in children] == [True]

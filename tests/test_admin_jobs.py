"""The admin API's indexing jobs and the service around them: a job outlives a hang-up of the service's process
group as the service does, a child killed by a signal is said so, a DELETE refused during the service's own job
names that job and when to try again, and a job's lines give an API client's ways rather than the CLI's."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from talksearch.library import Library
from tests.helpers import loopback_media, serve_process
from tests.service_fixtures import (ADMIN_TOKEN, assert_error, index_captioned_copy, serving, settings_for,
                                    wait_until)

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _empty_library(path: Path) -> Path:
    """A library of MiniLM's (it loads in a tenth of the default's time) with no talk: what is checked is the jobs."""
    Library.open(path, create=True).close()
    return path


def _job_children(pid: int) -> list[int]:
    """The index job children (talksearch.service.index_job) of process ``pid`` running now."""
    children = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            running = b"talksearch.service.index_job" in (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue  # not a process, or gone meanwhile
        if running and int(stat.rpartition(")")[2].split()[1]) == pid:  # (the name in brackets may hold spaces)
            children.append(int(entry.name))
    return children


def _ended(pid: int) -> bool:
    """Whether process ``pid`` has exited (gone, or a zombie waiting to be reaped)."""
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]) == "Z"
    except OSError:
        return True


class _OwnSession(subprocess.Popen):
    """`talksearch serve` started in a session (and process group) of its own, as a terminal or an ssh session starts
    it: a signal to its group then reaches it and what it started, never this test process."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, start_new_session=True, **kwargs)


@pytest.mark.models
def test_a_job_outlives_a_hang_up_of_the_services_group_and_ends_with_the_service(tmp_path, monkeypatch):
    """SIGHUP to the service's process group (its terminal or ssh session gone): the service reopens the library
    and serves on, by design, but the job's child was in its group and died of it, the job failed ("the indexer
    exited with status -1"). Ctrl-C of the service (SIGINT to its group) still ends the child with it."""
    library = _empty_library(tmp_path / "library")
    env = {"TALKSEARCH_ADMIN_TOKEN": ADMIN_TOKEN, "TALKSEARCH_ALLOW_PRIVATE_SOURCES": "true",
           "TALKSEARCH_WHISPER_MODEL": "tiny.en"}
    with contextlib.ExitStack() as stack:
        with monkeypatch.context() as patch:  # (only while the server starts)
            patch.setattr(subprocess, "Popen", _OwnSession)
            server = stack.enter_context(serve_process(library, env))

        def submit(media: str) -> str:
            response = httpx.post(server.url + "/api/index", json={"source": loopback_media().url(media)},
                                  headers=AUTH, timeout=30)
            assert response.status_code == 202, response.text
            return response.json()["id"]

        def job(job_id: str) -> dict:
            return httpx.get(f"{server.url}/api/jobs/{job_id}", headers=AUTH, timeout=30).json()

        group = os.getpgid(server.process.pid)
        assert group != os.getpgid(0)
        job_id = submit("live/t02-live.ogg")
        [child] = wait_until(lambda: _job_children(server.process.pid), "the job's child", 120, 0.05)
        os.killpg(group, signal.SIGHUP)
        finished = wait_until(lambda: (j := job(job_id))["status"] in ("done", "failed") and j, "the job", 300)
        assert finished["status"] == "done", (finished["error"], finished["log"])
        assert server.process.poll() is None and _ended(child)

        job_id = submit("live/t01-cli.ogg")
        [child] = wait_until(lambda: _job_children(server.process.pid), "the second job's child", 120, 0.05)
        os.killpg(group, signal.SIGINT)  # Ctrl-C at the service's terminal
        assert server.process.wait(timeout=120) == 0, server.lines
        wait_until(lambda: _ended(child), "the job's child to end with the service", 30)


@pytest.mark.unit
def test_a_jobs_indexer_killed_by_a_signal_is_said_so(tmp_path, monkeypatch):
    """A child ended by a signal (the out-of-memory killer's SIGKILL) was "the indexer exited with status -9"."""
    from talksearch.service import jobs

    class KilledChild(subprocess.Popen):
        def __init__(self, args, **kwargs):
            super().__init__([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"],
                             **kwargs)

    monkeypatch.setattr(jobs.subprocess, "Popen", KilledChild)
    queue = jobs.JobQueue(settings_for(tmp_path / "library"))
    queue.start()
    try:
        job_id = queue.submit("https://example.org/talk.mp3").id
        job = wait_until(lambda: (j := queue.get(job_id)).status in ("done", "failed") and j, "the job", 60)
    finally:
        queue.stop()
    assert (job.status, job.error) == ("failed", "the indexer was killed by SIGKILL"), job


@pytest.mark.models
def test_a_delete_during_the_services_own_job_names_the_job_and_when_to_try_again(tmp_path):
    """DELETE /api/talks/{id} (and /api/removals/{id}) while the service's own job held the library: 409 "being
    written by talksearch index (pid N)", N the job's child, as if another process wrote it; no Retry-After."""
    library = _empty_library(tmp_path / "library")
    settings = settings_for(library, admin_token=ADMIN_TOKEN, allow_private_sources=True, whisper_model="tiny.en",
                            embed_model="all-MiniLM-L6-v2")
    with serving(settings) as server:
        response = server.client.post("/api/index", json={"source": loopback_media().url("live/t02-live.ogg")},
                                      headers=AUTH)
        job_id = response.json()["id"]

        def refused():  # a DELETE while the job's child holds the library (404 before and after: no such talk)
            answer = server.client.delete("/api/talks/made-up", headers=AUTH)
            return answer if answer.status_code == 409 else None

        busy = wait_until(refused, "a DELETE refused while the job writes", 300, 0.05)
        error = assert_error(busy, 409, "library_busy")
        assert f"talksearch serve's index job {job_id} (pid " in error["message"], error
        assert int(busy.headers["retry-after"]) > 0, busy.headers
        restore = server.client.delete("/api/removals/made-up", headers=AUTH)
        if restore.status_code == 409:  # (unless the job was done meanwhile)
            assert f"index job {job_id}" in restore.json()["error"]["message"] and restore.headers["retry-after"]
        job = wait_until(lambda: (j := server.get(f"/api/jobs/{job_id}", headers=AUTH).json())["status"]
                         in ("done", "failed") and j, "the job", 300)
        assert job["status"] == "done", job
        assert_error(server.client.delete("/api/talks/made-up", headers=AUTH), 404)


@pytest.mark.models
def test_a_jobs_lines_name_what_an_api_client_can_do(tmp_path):
    """A job's skipped line for a removed talk said "`talksearch restore ID` lets the next run add it back", and a
    talk whose title changed "--reindex embeds the new one": a CLI's ways, which an API client cannot take (a
    retitled talk's passages are now made again by the run itself). The CLI's lines stay as they were."""
    from talksearch.indexer.pipeline import IndexRun

    settings = settings_for(tmp_path / "library", whisper_model="tiny.en", embed_model="all-MiniLM-L6-v2")
    recording = index_captioned_copy(settings, tmp_path / "talks")

    def index(as_job: bool) -> list[str]:
        lines: list[str] = []
        run = IndexRun(settings, report=lines.append, **({"for_api": True} if as_job else {}))
        try:
            run.run([str(recording.parent)])
        finally:
            run.close()
        return lines

    recording.with_suffix(".info.json").write_text('{"title": "Checkpointing, retitled"}')
    [line] = index(as_job=True)
    assert line.startswith(f"updated {recording}: details changed (title)"), line  # (a local talk: by its path)
    # (its passages made again after the new title, as a CLI run makes them: no way of either to name)
    assert "--reindex" not in line and line.endswith(" passages made again after its new title"), line
    with Library.open(settings.library) as writer:
        [talk] = writer.talks()
        writer.acquire_writer()
        assert writer.delete_talk(talk.id)
    [line] = index(as_job=True)
    assert line.endswith(f"; `DELETE /api/removals/{talk.id}` lets the next run add it back"), line
    [line] = index(as_job=False)
    assert line.endswith(f"; `talksearch restore {talk.id} --library {settings.library}` lets the next run add it "
                         "back"), line

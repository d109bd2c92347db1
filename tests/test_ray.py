"""--engine ray on a local Ray cluster: the same library as the local engine, and a worker killed
mid-talk neither loses nor duplicates a talk."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import DATA, ROOT

# What these check does not depend on the embedding model (conftest's light_embedding).
pytestmark = [pytest.mark.ray, pytest.mark.models, pytest.mark.usefixtures("light_embedding")]


def _kill_first_busy_worker(stop: threading.Event, killed: list[int]) -> None:
    """Ray titles an actor's process 'ray::RayTalkWorker.index' while it runs that method."""
    while not stop.is_set() and not killed:
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"ray::RayTalkWorker.index" in cmdline:
                time.sleep(0.5)  # well inside the talk's work
                os.kill(int(proc.name), signal.SIGKILL)
                killed.append(int(proc.name))
                return
        time.sleep(0.05)


def _library_content(library: Path) -> tuple[set, list]:
    db = sqlite3.connect(library / "catalog.sqlite")
    talks = set(db.execute("SELECT id, archive_id, title, url, channel, published, event, speakers FROM talks"))
    passages = db.execute(
        "SELECT talk_id, round(start_time, 2), round(end_time, 2), text FROM passages ORDER BY talk_id, start_time, id"
    ).fetchall()
    return talks, passages


def test_ray_engine_equals_local_engine_despite_a_killed_worker(feed_library, media_server, tmp_path):
    local_library, _ = feed_library
    library = tmp_path / "ray-library"
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_first_busy_worker, args=(stop, killed), daemon=True)
    killer.start()
    result = subprocess.run(
        [sys.executable, "-m", "talksearch.cli", "index", media_server.url("feed.xml"), "--library", str(library),
         "--engine", "ray", "--ray-workers", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    stop.set()
    assert result.returncode == 0, result.stdout + result.stderr
    assert killed, "no Ray worker was seen working"
    assert "2 added, 0 skipped, 0 failed" in result.stdout
    talks, passages = _library_content(library)
    local_talks, local_passages = _library_content(local_library)
    assert talks == local_talks
    assert [(t, text) for t, _, _, text in passages] == [(t, text) for t, _, _, text in local_passages]
    # Times agree to one frame of whisper's word timestamps (20 ms): in one full run (2026-12-03) a few passages
    # of both talks ended or started one frame apart between the two engines, same words; alone, it did not recur.
    assert all(abs(a - b) <= 0.021 for ours, theirs in zip(passages, local_passages)
               for a, b in zip(ours[1:3], theirs[1:3])), (passages, local_passages)


def test_a_ray_address_nobody_answers_at_is_refused_in_one_line(tmp_path):
    """Ray would retry an unreachable cluster for minutes, with a page of logs; the index command says so at
    once, before anything is downloaded, and leaves no talk behind."""
    import socket

    with socket.socket() as probe:  # a loopback port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    for address, expected in ((f"127.0.0.1:{closed_port}", f"cannot reach the Ray cluster at 127.0.0.1:{closed_port}"),
                              (f"ray://127.0.0.1:{closed_port}", "cannot reach the Ray cluster at ray://"),
                              ("127.0.0.1:port", "is not host:port or ray://host:port")):
        result = subprocess.run(
            [sys.executable, "-m", "talksearch.cli", "index", "http://127.0.0.1:9/feed.xml", "--library",
             str(tmp_path / "library"), "--engine", "ray", "--ray-address", address],
            cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 1 and result.stderr.startswith("error: ") and expected in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "library").exists()  # the library the run made for nothing is removed again


# --- the engine's own failures: said in one line, and nothing left behind --------------------------------------


@pytest.fixture
def ray_tmp():
    """A TMPDIR of the test's own, for Ray's session folder and talksearch's scratch folders (so that what a run
    leaves behind is seen, whatever else runs on the machine); short, as Ray's socket paths must fit in 107 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="tsr-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _index(*args: str, cwd: Path = ROOT, tmp: Path, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "talksearch.cli", "index", *args, "--engine", "ray"]
    with subprocess.Popen(command, cwd=cwd, env={**os.environ, "TMPDIR": str(tmp), **env}, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:  # a run that hangs: it goes, and so does the local Ray it started
            os.killpg(process.pid, signal.SIGKILL)
            raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _error_line(result: subprocess.CompletedProcess) -> str:
    """stderr's one line of talksearch's own (Ray's logger warns of its token authentication on its own line)."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _scratch_left(tmp: Path, pattern: str = "talksearch-*") -> list[str]:
    return sorted(p.name for p in tmp.glob(pattern))


@pytest.mark.parametrize("flags, env", [
    ((), {"TALKSEARCH_RAY_CPUS_PER_WORKER": "1000"}),  # not one worker fits
    (("--ray-workers", "1000"), {}),  # some do, not all
])
def test_workers_the_local_ray_cannot_place_are_refused_in_one_line(flags, env, ray_tmp, tmp_path):
    """Ray never places an actor it has no room for, and a talk handed to one waited forever, silently."""
    result = _index(str(DATA / "t01.ogg"), "--library", str(tmp_path / "library"), *flags, tmp=ray_tmp, timeout=60,
                    **env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.fullmatch(r"error: the Ray cluster has \d+ CPUs?: room for \d+ of \d+ workers? × \d+ CPUs \(set "
                        r"--ray-workers or TALKSEARCH_RAY_CPUS_PER_WORKER lower\)", _error_line(result)), result.stderr
    assert result.stdout == ""


def test_ray_address_auto_without_a_cluster_names_talksearchs_flag(ray_tmp, tmp_path):
    """Ray's own message would send the user to its `--address` flag."""
    result = _index(str(DATA / "t01.ogg"), "--library", str(tmp_path / "library"), "--ray-address", "auto",
                    tmp=ray_tmp, timeout=120)
    assert result.returncode == 1
    assert _error_line(result).startswith("error: --ray-address auto: no running Ray cluster found here"), result.stderr


def test_a_worker_failure_is_its_cause_in_one_line():
    """What a failed call reports: the exception the actor raised, not the header Ray puts before it (built here
    with Ray's own class, as the failures it stands for have no reliable trigger)."""
    from ray.exceptions import ActorDiedError, RayTaskError

    from talksearch.indexer.ray_engine import _failure

    cause = FileNotFoundError(2, "No such file or directory", "mix/s03.mp4")
    error = RayTaskError("RayTalkWorker.index", "Traceback ...\nFileNotFoundError", cause,
                         proctitle="ray::RayTalkWorker.index()", pid=1, ip="127.0.0.1").as_instanceof_cause()
    assert str(error).startswith("\x1b[36mray::RayTalkWorker.index()")  # what the 'worker failed' line showed
    assert _failure(error) == "[Errno 2] No such file or directory: 'mix/s03.mp4'"
    assert _failure(ActorDiedError()) == "The actor died unexpectedly before finishing this task."


@pytest.mark.parametrize("host", [None, "gpu-node-7"])
def test_a_full_scratch_disk_stops_the_run_naming_the_workers_scratch_folder(host, ray_tmp, monkeypatch):
    """A full disk (or quota) where a worker downloads is no talk's fault: every talk after it fails the same way. It
    stops the run in one line, as the local engine's full disk does, naming the worker's scratch folder (and its host,
    when not this machine); not a 'worker failed' line per talk (the words for a talk whose retries ran out). Built
    without Ray's processes (a full disk has no reliable trigger): the actor's call as its process runs it, and what
    the driver makes of what it raised, wrapped as Ray hands it over."""
    import errno

    from ray.exceptions import RayTaskError

    from talksearch.indexer import ray_engine
    from talksearch.indexer.sources import Candidate
    from talksearch.library import LibraryError
    from talksearch.settings import Settings

    monkeypatch.setattr(tempfile, "tempdir", str(ray_tmp))
    if host is not None:
        monkeypatch.setattr(socket, "gethostname", lambda: host)

    def fetch_once(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ray_engine, "fetch_once", fetch_once)
    worker = object.__new__(ray_engine.RayTalkWorker)  # its models unloaded: the download fails first
    worker.settings, worker.known, worker.urls = Settings(), frozenset(), {}
    worker.scratch_prefix, worker.failure = "talksearch-ray-0000abcd-", None
    with pytest.raises(Exception) as raised:
        worker.index(Candidate("http://127.0.0.1:9/t.ogg", "A talk"), frozenset())
    assert _scratch_left(ray_tmp) == []  # its scratch folder goes with the talk
    if host is not None:  # told apart from the driver's machine
        monkeypatch.setattr(socket, "gethostname", lambda: "driver")
    error = RayTaskError("RayTalkWorker.index", "Traceback ...", raised.value, proctitle="ray::RayTalkWorker.index()",
                         pid=1, ip="127.0.0.1").as_instanceof_cause()
    with pytest.raises(LibraryError) as stopped:
        ray_engine._failure(error)
    on = f" on {host}" if host else ""
    assert str(stopped.value) == (
        f"no space left on the disk holding the Ray worker's scratch folder {ray_tmp}{on} (No space left on device); "
        "free some space and run the command again: what was committed is intact"), str(stopped.value)


def test_a_terminated_run_ends_as_a_local_one_and_leaves_nothing_behind(ray_tmp, tmp_path):
    """SIGTERM to the driver mid-talk (what KubeRay, Slurm or systemd send): the local engine's exit 143 and line,
    not Ray's crash report and exit 1 (a run with failed talks); no Ray chatter on stdout, where outcome lines go
    (its notice that a call killed with its worker will be retried, which it is not); and no worker's scratch folder
    left behind. Nor Ray's notice, on every run, that its token authentication is on."""
    command = [sys.executable, "-m", "talksearch.cli", "index", str(DATA / "t01.ogg"), str(DATA / "t02.ogg"),
               "--library", str(tmp_path / "library"), "--engine", "ray", "--ray-workers", "1"]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "TMPDIR": str(ray_tmp)}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not _scratch_left(ray_tmp, "talksearch-ray-*"):  # a worker is at a talk
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no worker started a talk"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)  # the driver only, as a scheduler stops it
        stdout, stderr = process.communicate(timeout=120)
        stopped = time.monotonic()
        # The local Ray it started goes with it (ray.shutdown): the CLI's os._exit skips Ray's own at exit, and its
        # agents (ray::DashboardAgent, ray::RuntimeEnvAgent, in the driver's process group) outlived it by 60-100 s
        while _process_group_alive(process.pid) and time.monotonic() < stopped + 10:
            time.sleep(0.2)
        left = _process_group_alive(process.pid)
    finally:  # the local Ray it started, if it outlived it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 143, stdout + stderr
    assert stderr.splitlines() == ["terminated; run the same command again to resume"], stderr
    assert "(raylet)" not in stdout and "\x1b[" not in stdout, stdout
    assert _scratch_left(ray_tmp) == []
    assert not left, f"the local Ray outlived the run by 10 s: {left}"


def _process_group_alive(group: int) -> list[str]:
    """The names of the processes still in process group ``group``."""
    alive = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            fields = (proc / "stat").read_text().rpartition(")")[2].split()
            if int(fields[2]) == group and fields[0] != "Z":  # (its pgrp; a zombie is gone but for its parent's wait)
                alive.append((proc / "comm").read_text().strip())
        except (OSError, IndexError, ValueError):
            continue
    return alive


def test_a_worker_removes_only_the_scratch_folders_of_dead_workers(ray_tmp, monkeypatch):
    """What an interrupted run's workers left on a machine (their driver may be on another) goes when a worker starts
    there (or their driver, if there, has killed them); never a folder a worker of any run is still at (its lock
    held), nor one it cannot tell (no lock)."""
    from talksearch.indexer import ray_engine

    monkeypatch.setattr(tempfile, "tempdir", str(ray_tmp))
    dead = ray_tmp / "talksearch-ray-1234abcd-dead"
    (dead / "sub").mkdir(parents=True)
    (dead / "talk.webm.part").write_bytes(b"half a download")
    (dead / ray_engine.SCRATCH_LOCK).touch()  # its worker's lock, let go when it died
    (ray_tmp / "talksearch-ray-earlier").mkdir()  # an earlier release's: no lock to tell by
    with ray_engine._scratch_folder("talksearch-ray-5678ef01-") as live:
        (live / "talk.webm").write_bytes(b"being indexed")
        assert ray_engine.remove_abandoned_scratch() == 1
        assert _scratch_left(ray_tmp) == sorted([live.name, "talksearch-ray-earlier"])
    assert _scratch_left(ray_tmp) == ["talksearch-ray-earlier"]


# --- on a running cluster: what the engine does on a Ray, not how one starts ---------------------------------------
# Last in this file, as `--ray-address auto` (test_ray_address_auto_without_a_cluster_names_talksearchs_flag) joins
# any cluster running on the machine, and the one these share runs until the file's tests end.


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclasses.dataclass(frozen=True)
class Cluster:
    address: str
    tmp: Path  # the TMPDIR of its processes (Ray's session folder, the actors' scratch folders) and of its drivers


@contextlib.contextmanager
def _ray_head(folder: Path, tmp: Path) -> Iterator[Cluster]:
    """A Ray cluster started in ``folder``: 3 CPUs, room for one worker of the default 2 CPUs as a local Ray has on
    the 2-core CI machine, and for an actor of more CPUs than that machine's cores. Its address is given, not written
    where a test's own local Ray (another TMPDIR) would find it."""
    port = _free_port()
    env = {**os.environ, "TMPDIR": str(tmp), "RAY_AUTH_MODE": "disabled"}
    head = subprocess.Popen(
        [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", "--port", str(port), "--num-cpus", "3",
         "--include-dashboard=false", "--dashboard-agent-listen-port", str(_free_port())],
        cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert head.poll() is None and time.monotonic() < deadline, "the Ray head did not start"
                time.sleep(0.5)
        yield Cluster(f"127.0.0.1:{port}", tmp)
    finally:  # the head and every process it started (its session): `ray stop` would stop every Ray on the machine
        os.killpg(head.pid, signal.SIGTERM)
        # Those that end on a SIGTERM do within half a second; `ray start --block` and its raylet never do, and a
        # longer wait for them (10 s, before) was only waited out.
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(timeout=2)
        with contextlib.suppress(ProcessLookupError):  # `ray start --block` outlives a SIGTERM
            os.killpg(head.pid, signal.SIGKILL)
        head.wait()


@pytest.fixture(scope="module")
def ray_cluster(light_embedding, tmp_path_factory) -> Iterator[Cluster]:
    """One running cluster, started elsewhere (a folder of its own), for the tests of what the engine does on a Ray
    rather than of starting one: a local Ray costs each run 4-6 s to start and stop, joining a running one a tenth
    of a second. Those of starting, stopping and killing keep a local Ray of their own."""
    tmp = Path(tempfile.mkdtemp(prefix="tsc-", dir="/tmp"))  # short: Ray's socket paths must fit in 107 bytes
    try:
        with _ray_head(tmp_path_factory.mktemp("elsewhere"), tmp) as cluster:
            yield cluster
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _index_on(cluster: Cluster, *args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess:
    """`talksearch index --engine ray` joining ``cluster``, in its TMPDIR (the driver's scratch folders beside the
    actors', as with a local Ray)."""
    return _index(*args, "--ray-address", cluster.address, cwd=cwd, tmp=cluster.tmp, RAY_AUTH_MODE="disabled", **env)


def test_a_local_recording_moved_since_it_was_indexed_takes_its_talk_along(ray_cluster, tmp_path):
    """The driver skipped every local recording the library knew, before any worker saw it, so one moved or renamed
    kept its talk at the old path (which plays nothing) under --engine ray, unlike the local engine."""
    from tests.test_local_moves import _captioned, _index as _index_locally, _talks

    library, folder = tmp_path / "library", tmp_path / "rec"
    a = _captioned(folder, "a", "t01")
    _captioned(folder, "b", "t02")
    _index_locally(library, folder)
    moved = a.with_name("renamed.ogg")
    a.rename(moved)
    result = _index_on(ray_cluster, str(folder), "--library", str(library))
    assert result.returncode == 0, result.stdout + result.stderr
    assert _scratch_left(ray_cluster.tmp) == []
    assert f"skipped {moved}: already in the library (moved from {a.as_uri()})" in result.stdout, result.stdout
    assert f"skipped {folder / 'b.ogg'}: already in the library" in result.stdout, result.stdout
    assert {(title, url) for _, title, url, _ in _talks(library)} == {
        ("a", moved.as_uri()), ("b", (folder / "b.ogg").as_uri())}


def test_a_model_that_cannot_load_stops_the_run_as_in_the_local_engine(ray_cluster, tmp_path):
    """Not one 'worker failed' line per talk with Ray's header (process title, pid, actor id, in colours)."""
    result = _index_on(ray_cluster, str(DATA / "t01.ogg"), str(DATA / "t02.ogg"), "--library",
                       str(tmp_path / "library"), "--whisper-model", "nosuchmodel")
    assert result.returncode == 1, result.stdout + result.stderr
    assert _error_line(result).startswith("error: cannot load whisper model 'nosuchmodel': ")
    assert "\x1b[" not in result.stdout + result.stderr and "worker failed" not in result.stdout
    assert _scratch_left(ray_cluster.tmp) == []


def test_relative_paths_reach_the_actors_of_a_cluster_started_elsewhere(ray_cluster, tmp_path):
    """A running cluster's actors work in the folder it was started in, not the driver's: the driver sends local
    files' absolute paths. And a run leaves no scratch folder behind, the driver's or the actors'."""
    here = tmp_path / "here"
    (here / "mix").mkdir(parents=True)
    shutil.copy(DATA / "t01.ogg", here / "mix" / "t01.ogg")
    result = _index_on(ray_cluster, "mix/t01.ogg", "--library", "library", cwd=here)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 added, 0 skipped, 0 failed" in result.stdout, result.stdout
    assert _scratch_left(ray_cluster.tmp) == []


def test_relative_model_directories_reach_the_actors_of_a_cluster_started_elsewhere(ray_cluster, tmp_path):
    """--whisper-model and --embed-model naming a local directory by a relative path: the actors, working in the
    cluster's folder, found no such directory there ('error: whisper model './models/tinyen': no such directory'),
    where the local engine loads it and records its absolute path. The driver sends them absolute."""
    from talksearch.models import resolve

    here = tmp_path / "here"
    (here / "models").mkdir(parents=True)
    whisper, embedder = here / "models" / "tinyen", here / "models" / "minilm"
    shutil.copytree(resolve("whisper", "tiny.en").location, whisper)
    shutil.copytree(resolve("embedding", "all-MiniLM-L6-v2").location, embedder)
    shutil.copy(DATA / "t01.ogg", here / "t01.ogg")
    result = _index_on(ray_cluster, "t01.ogg", "--library", "library", "--whisper-model", "./models/tinyen",
                       "--embed-model", "./models/minilm", cwd=here)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 added, 0 skipped, 0 failed" in result.stdout, result.stdout
    assert f"whisper {whisper}" in result.stdout, result.stdout  # its absolute path, as the local engine records it
    db = sqlite3.connect(here / "library" / "catalog.sqlite")
    assert db.execute("SELECT whisper_model, embed_model FROM talks").fetchall() == [(str(whisper), str(embedder))]


def test_without_a_ray_address_a_local_ray_is_started_not_a_running_one_joined(ray_cluster, tmp_path):
    """No --ray-address (nor RAY_ADDRESS) is "start a local one" (--help): Ray's own default joins the cluster that
    `ray start` last started with the same TMPDIR, whoever started it."""
    (ray_cluster.tmp / "ray" / "ray_current_cluster").write_text(ray_cluster.address)  # as `ray start` leaves it
    sessions = set((ray_cluster.tmp / "ray").glob("session_*"))
    result = _index(str(DATA / "t01.ogg"), "--library", str(tmp_path / "library"), tmp=ray_cluster.tmp, timeout=120,
                    RAY_ADDRESS="", TALKSEARCH_RAY_CPUS_PER_WORKER="1000")  # refused before any actor starts
    assert result.returncode == 1, result.stdout + result.stderr
    assert _error_line(result).startswith("error: the Ray cluster has "), result.stderr
    assert set((ray_cluster.tmp / "ray").glob("session_*")) - sessions, "the running cluster was joined"


class _StalledMedia:
    """A loopback feed of one talk whose recording's download never gets past its headers: a worker sits at it,
    in its scratch folder, for as long as the test needs."""

    def __init__(self):
        import http.server

        self.release = threading.Event()
        stalled = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.startswith("/feed.xml"):
                    body = _STALLED_FEED.format(port=self.server.server_address[1]).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/rss+xml")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "audio/ogg")
                self.send_header("Content-Length", "10000000")
                self.end_headers()
                stalled.release.wait(300)

            do_HEAD = do_GET

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.feed = f"http://127.0.0.1:{self.httpd.server_address[1]}/feed.xml"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


_STALLED_FEED = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Stalled</title>
<item><title>Stalled Talk</title><guid>stalled-1</guid>
<enclosure url="http://127.0.0.1:{port}/stalled.ogg" type="audio/ogg" length="10000000"/></item>
</channel></rss>
"""

# The CLI, its writer's commit slowed (a vector index retrained, a slow disk): said on stderr as it starts.
_SLOW_COMMIT = """
import sys, time
from talksearch.indexer import pipeline
def commit(self, processed, label):
    print("[commit starts]", file=sys.stderr, flush=True)
    time.sleep(120)
pipeline.IndexRun.commit = commit
from talksearch.cli import main
main(sys.argv[1:], prog_name="talksearch")
"""


def test_interrupted_while_the_driver_commits_the_busy_workers_scratch_folder_goes(ray_tmp, tmp_path):
    """Ctrl-C while the driver commits a talk (not while it waits on Ray): the engine was left unclosed and the CLI
    exits at once (os._exit), so the busy worker of its local Ray left its scratch folder behind; the run closes its
    engine first."""
    media = _StalledMedia()
    command = [sys.executable, "-c", _SLOW_COMMIT, "index", str(DATA / "t01.ogg"), media.feed,
               "--library", str(tmp_path / "library"), "--engine", "ray", "--whisper-model", "tiny.en"]
    env = {**os.environ, "TMPDIR": str(ray_tmp), "TALKSEARCH_RAY_CPUS_PER_WORKER": "1",  # two workers
           "TALKSEARCH_SOCKET_TIMEOUT": "300", "TALKSEARCH_DOWNLOAD_STALL_SECONDS": "300"}
    stderr_file = tmp_path / "stderr"
    with open(stderr_file, "w") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while "[commit starts]" not in stderr_file.read_text():
            assert process.poll() is None, stderr_file.read_text()
            assert time.monotonic() < deadline, "no talk was committed"
            time.sleep(0.1)
        assert _scratch_left(ray_tmp, "talksearch-ray-*"), "no worker is at the stalled talk"
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=60)
        left = _scratch_left(ray_tmp)
    finally:  # the local Ray it started, if it outlived it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        media.close()
    assert process.returncode == 130, stdout + stderr_file.read_text()
    assert stderr_file.read_text().splitlines()[-1] == "interrupted; run the same command again to resume"
    assert left == []


def test_two_links_to_one_recording_are_indexed_once_as_by_the_local_engine(media_server, ray_cluster, tmp_path):
    """--reindex of a library an earlier release made, whose feed now lists two links that redirect (301) to the
    recording it holds: found to be one talk only once fetched, it is replaced once and the second link skipped,
    as the local engine does it (not fetched, transcribed and committed twice, the second link's title last)."""
    from tests.test_reindex_sources import _archive_ids, _feed, _indexed_by_the_old_release, _published

    folder, base = _published(media_server, "ray-twice", {"s02": "t02"},
                              [{"title": "Slicing", "url": "s02.ogg?token=AAA", "talk": "t02", "speaker": "Di Eze"}])
    library = tmp_path / "library"
    assert _indexed_by_the_old_release(f"{base}/feed.xml", library) == 1
    before = _archive_ids(library)
    links = [{"title": f"Slicing ({name} link)", "url": f"{name}/s02.ogg?token=BBB", "talk": "t02", "speaker": "Di Eze"}
             for name in ("old", "alt")]
    (folder / "twice.xml").write_text(_feed(base, links))
    media_server.redirects.update({"/ray-twice/old/s02.ogg": "/ray-twice/s02.ogg",
                                   "/ray-twice/alt/s02.ogg": "/ray-twice/s02.ogg"})
    result = _index_on(ray_cluster, f"{base}/twice.xml", "--reindex", "--library", str(library), "--ray-workers", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _scratch_left(ray_cluster.tmp) == []
    # The local engine's lines (in whichever order the talks are done)
    summary, added, skipped = sorted(result.stdout.splitlines())
    assert skipped == "skipped Slicing (alt link): listed twice in this run", result.stdout
    assert added.startswith("added   Slicing (old link) (") and added.endswith(", replacing the earlier transcript)")
    assert summary.startswith("1 added, 1 skipped, 0 failed"), result.stdout
    assert _archive_ids(library) == before
    assert {title for _, _, title, *_ in _library_content(library)[0]} == {"Slicing (old link)"}


def _feed_of_one_indexed(media_server, name: str, tmp_path: Path, title: str) -> tuple[Path, str, Path]:
    """A feed of one talk by Alice at the media server's ``name``/, indexed by the local engine into a library, its
    recording then taken away (a download would fail the talk): the feed, the recording's URL and the library."""
    from tests.test_details_refresh import FEED
    from tests.test_details_refresh import _index as index_locally

    folder = media_server.directory / name
    folder.mkdir(exist_ok=True)
    shutil.copy(DATA / "t01.ogg", folder / "talk.ogg")
    feed, library, media = folder / "feed.xml", tmp_path / "library", media_server.url(f"{name}/talk.ogg")
    feed.write_text(FEED.format(title=title, author="Alice", event="Summit 2024", media=media))
    index_locally(library, media_server.url(f"{name}/feed.xml"))
    (folder / "talk.ogg").unlink()
    return feed, media, library


def test_a_feed_items_new_details_are_stored_by_the_ray_engine_as_by_the_local_one(media_server, ray_cluster,
                                                                                  tmp_path):
    """The driver skips a talk the library has before any actor sees it: the details its feed item states now are
    stored all the same (tests/test_details_refresh.py, the local engine), nothing fetched."""
    from tests.test_details_refresh import FEED, MODELS

    feed, media, library = _feed_of_one_indexed(media_server, "ray-refresh", tmp_path, title="Power Capping v1")
    feed.write_text(FEED.format(title="Power Capping v1", author="Bob", event="Summit 2024", media=media))
    result = _index_on(ray_cluster, media_server.url("ray-refresh/feed.xml"), "--library", str(library), *MODELS,
                       "--ray-workers", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _scratch_left(ray_cluster.tmp) == []
    line, summary = result.stdout.splitlines()
    assert line == "updated Power Capping v1: details changed (speakers); transcript kept", result.stdout
    assert summary.startswith("0 added, 1 updated, 0 skipped, 0 failed"), summary
    assert {speakers for *_, speakers in _library_content(library)[0]} == {'["Bob"]'}


def test_a_talk_removed_from_the_library_is_skipped_by_the_driver_nothing_fetched(media_server, ray_cluster, tmp_path):
    """A takedown holds under --engine ray as locally: the driver skipped only talks the library has, so an actor
    downloaded and transcribed a removed one before the writer skipped it."""
    from tests.helpers import talksearch
    from tests.test_details_refresh import MODELS

    _, _, library = _feed_of_one_indexed(media_server, "ray-removed", tmp_path, title="Taken Down")
    talk_id = talksearch("talks", "--library", str(library)).stdout.split()[0]
    assert talksearch("remove", talk_id, "--library", str(library)).returncode == 0
    result = _index_on(ray_cluster, media_server.url("ray-removed/feed.xml"), "--library", str(library), *MODELS,
                       "--ray-workers", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    line, summary = result.stdout.splitlines()
    assert line.startswith("skipped Taken Down: removed from this library on "), result.stdout
    assert line.endswith(f"; `talksearch restore {talk_id} --library {library}` lets the next run add it back"), line
    assert summary.startswith("0 added, 1 skipped, 0 failed"), summary


def test_an_actor_works_on_the_cpus_ray_gave_it(ray_cluster):
    """One thread per CPU the actor asked for, not one per core of the machine (which other actors share)."""
    script = textwrap.dedent(f"""
        import ray
        from talksearch.indexer.ray_engine import RayTalkWorker
        from talksearch.settings import Settings

        ray.init(address="{ray_cluster.address}", include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
        settings = Settings().model_dump_json()
        for cpus in (1, 3):
            worker = ray.remote(RayTalkWorker).options(num_cpus=cpus).remote(settings, frozenset(), {{}})
            print(ray.get(worker.__ray_call__.remote(lambda self: self.processor.threads)))
            ray.kill(worker)  # its CPUs back for the next: the cluster has 3
        ray.shutdown()
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TMPDIR": str(ray_cluster.tmp), "RAY_AUTH_MODE": "disabled"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "3"]

"""Storage going wrong under a library: a full disk, a read-only file system, a missing or corrupt index or
catalog, a second writer. Each gives one clear line and a non-zero exit through the real CLI, and damages
nothing: SQLite rolls back, the vector index is rebuilt from the catalog.

The disk-full and read-only cases run in a private mount namespace (``unshare --mount``): a 4 MB tmpfs
filled to the brim, and a read-only bind mount of a library. The tests run as root, for whom ``chmod``
stops no write, so a real read-only mount is the honest test; where mounting is not allowed (not root, no
unshare) those tests are skipped, and the error mapping is still checked on the real errors' texts.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from talksearch.library import Library
from talksearch.storage import explain
from tests.helpers import DATA, ROOT, talks_on_topics, talksearch
from tests.service_fixtures import index_captioned_copy, settings_for


def _copy(library: Path, target: Path) -> Path:
    shutil.copytree(library, target, ignore=shutil.ignore_patterns("indexer.lock", "downloads"))
    return target


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


models = pytest.mark.models
# t01 in the session's library (its feed's item "t01": its id is the guid within the feed, whose address has the
# loopback server's port), as SQL and as an id
T01_ROW = "source_id LIKE 't01%'"


def _t01(library: Path) -> str:
    with contextlib.closing(sqlite3.connect(library / "catalog.sqlite")) as db:
        return db.execute(f"SELECT id FROM talks WHERE {T01_ROW}").fetchone()[0]


@pytest.fixture
def library(feed_library, tmp_path) -> Path:
    """A copy of the session's two-talk library (indexed from the loopback feed by the CLI)."""
    return _copy(feed_library[0], tmp_path / "library")


# --- the vector index and the catalog, missing or corrupt -----------------------------------------


@models
def test_a_corrupt_vector_index_is_rebuilt_from_the_catalog(library):
    (library / "vectors.faiss").write_bytes(os.urandom(4096))
    searched = talksearch("search", "object storage bucket", "--library", str(library), "--json")
    assert searched.returncode == 0, searched.stderr
    assert "bucket" in json.loads(searched.stdout)["results"][0]["text"]
    _check_then_repair(library)


@models
@pytest.mark.parametrize("damage", ["missing", "empty"])
def test_a_missing_or_empty_vector_index_is_repaired(library, damage):
    file = library / "vectors.faiss"
    file.unlink() if damage == "missing" else file.write_bytes(b"")
    _check_then_repair(library)


@models
def test_a_vector_index_beside_a_catalog_without_passages_is_removed_by_repair(library, tmp_path):
    fresh = tmp_path / "fresh"
    Library.open(fresh, create=True).close()  # a library nothing was indexed into yet
    shutil.copy(library / "vectors.faiss", fresh / "vectors.faiss")  # ... and a stray index from another
    repaired = talksearch("check", "--repair", "--library", str(fresh))
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "removed vectors.faiss" in repaired.stdout and not (fresh / "vectors.faiss").exists()


def _check_then_repair(library: Path) -> None:
    checked = talksearch("check", "--library", str(library))
    assert checked.returncode == 1 and "vectors.faiss" in checked.stdout and "try --repair" in checked.stdout
    repaired = talksearch("check", "--repair", "--library", str(library))
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "repaired: rebuilt vectors.faiss" in repaired.stdout and repaired.stdout.rstrip().endswith("clean")


@models
def test_check_calls_a_vector_index_where_many_talks_share_a_sentence_clean_and_still_finds_damage(tmp_path):
    """Talks closing on the same "Thank you very much.": more than 10 passages with one vector tie, and those the
    index ranked past its 10 nearest were reported as damaged vector data; --repair rebuilt the file and reported
    the same again. Ties are found; a vector overwritten with one that outscores them all is still damage."""
    topics = ["GPU scheduling", "MPI collectives", "burst buffers", "object storage", "power capping", "job arrays",
              "RDMA networking", "Lustre metadata", "fair share", "spot instances", "data locality", "FPGA offload"]
    folder = talks_on_topics(tmp_path / "talks", topics, lambda topic: (
        f"00:00:01.000 --> 00:00:06.000\nToday I will explain how {topic} works on our cluster.\n\n"
        f"00:00:07.000 --> 00:00:12.000\nWe measured {topic} for a whole year on real jobs.\n\n"
        "00:00:13.000 --> 00:00:15.000\nThank you very much.\n"))
    library = tmp_path / "library"
    indexed = talksearch("index", str(folder), "--library", str(library), "--embed-model", "all-MiniLM-L6-v2")
    assert indexed.returncode == 0 and f"{len(topics)} added" in indexed.stdout, indexed.stdout + indexed.stderr
    with sqlite3.connect(library / "catalog.sqlite") as db:
        ids, texts = db.execute("SELECT group_concat(id), group_concat(DISTINCT text) FROM passages GROUP BY "
                                "embedding ORDER BY count(*) DESC").fetchone()
        other = db.execute("SELECT min(id) FROM passages WHERE text != 'Thank you very much.'").fetchone()[0]
    shared = [int(pid) for pid in ids.split(",")]
    assert texts == "Thank you very much." and len(shared) > 10  # one vector, more than fit in the 10 nearest

    checked = talksearch("check", "--library", str(library))
    assert checked.returncode == 0 and checked.stdout.rstrip().endswith("clean"), checked.stdout + checked.stderr

    file = library / "vectors.faiss"
    data = bytearray(file.read_bytes())
    with Library.open(library) as reader:
        own, thanks = reader.passage_vectors([other, shared[0]])
    at = data.find(own.tobytes())
    assert at > 0
    data[at:at + own.nbytes] = thanks.tobytes()  # one more tie for the shared sentence's, by its index scores
    file.write_bytes(bytes(data))
    checked = talksearch("check", "--library", str(library))
    assert checked.returncode == 1 and "its vector data is damaged" in checked.stdout, checked.stdout
    repaired = talksearch("check", "--repair", "--library", str(library))
    assert repaired.returncode == 0 and "repaired: rebuilt vectors.faiss" in repaired.stdout, repaired.stdout
    assert talksearch("check", "--library", str(library)).returncode == 0


@models
@pytest.mark.parametrize("damage", ["garbage", "truncated", "zero bytes"])
def test_a_corrupt_catalog_is_one_line_errors_and_left_as_it_is(library, damage):
    catalog = library / "catalog.sqlite"
    talk_id = _t01(library)  # (read before the catalog is damaged)
    if damage == "garbage":
        catalog.write_bytes(os.urandom(64 * 1024))
    elif damage == "zero bytes":  # SQLite would take it for a new database, and readers would write one
        catalog.write_bytes(b"")
    else:  # half a catalog: the header says more pages than there are
        catalog.write_bytes(catalog.read_bytes()[: catalog.stat().st_size // 2])
    before = _digests(library)
    commands = [["talks"], ["check"]]
    if damage == "zero bytes":
        commands += [["search", "object storage"], ["check", "--repair"]]
    if damage == "garbage":
        commands += [["search", "object storage"], ["export", talk_id], ["index", str(DATA / "t01.ogg")],
                     ["check", "--repair"], ["serve", "--port", "0"]]
    for args in commands:
        result = talksearch(*args, "--library", str(library))
        assert result.returncode != 0, (args, result.stdout)
        assert "Traceback" not in result.stderr, (args, result.stderr)
        if result.stderr.strip():
            assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, (args, result.stderr)
        else:  # check says what it found on stdout
            assert "problem:" in result.stdout, (args, result.stdout)
        if damage != "zero bytes":
            # what to do, as check says of damaged records: a catalog cut short (an interrupted cp, a full disk)
            # said only "cannot be read", while a served library's 503 sent the operator to `check` (an ops hunt)
            assert "restore catalog.sqlite from a backup" in result.stdout + result.stderr, (args, result.stderr)
    after = _digests(library)
    assert after["catalog.sqlite"] == before["catalog.sqlite"]  # nobody "fixed" it by writing over it


@models
@pytest.mark.parametrize("edit, needle", [
    ("UPDATE meta SET value = 'abc' WHERE key = 'format_version'", "format_version is 'abc', not a number"),
    ("UPDATE meta SET value = 'wide' WHERE key = 'embed_dim'", "meta 'embed_dim' is 'wide', not a number"),
    ("DELETE FROM meta WHERE key = 'embed_dim'", "meta 'embed_dim' is missing though it holds passages"),
    ("INSERT OR REPLACE INTO meta(key, value) VALUES ('token_dim', '7.5')", "meta 'token_dim' is '7.5', not a number"),
])
def test_a_catalog_edited_by_hand_is_one_line_errors(library, edit, needle):
    """Values only talksearch writes, edited into something else: said in one line by every command that needs
    them, the catalog left as it is."""
    def content() -> list[str]:
        db = sqlite3.connect(library / "catalog.sqlite")
        try:
            return list(db.iterdump())
        finally:
            db.close()

    with sqlite3.connect(library / "catalog.sqlite") as db:
        db.execute(edit)
    before = content()
    for args in (["search", "object storage"], ["check"], ["serve", "--port", "0"]):
        _one_line_error(talksearch(*args, "--library", str(library)), needle)
    assert content() == before  # nobody "fixed" it by guessing


@models
@pytest.mark.parametrize("edit, problem", [
    ("DROP TABLE segments", "2 talks have passages but no transcript"),
    (f"DELETE FROM talks WHERE {T01_ROW}", "passages belong to no talk in the catalog"),
])
def test_check_finds_transcripts_and_talks_removed_by_hand(library, edit, problem):
    """A table dropped or rows deleted outside talksearch (a dropped table comes back empty when the library is
    next opened): check names what is missing instead of calling the library clean."""
    with sqlite3.connect(library / "catalog.sqlite") as db:
        db.execute(edit)
    checked = talksearch("check", "--library", str(library))
    assert checked.returncode == 1 and "Traceback" not in checked.stderr, checked.stdout + checked.stderr
    assert "problem:  " in checked.stdout and problem in checked.stdout, checked.stdout


def _problems(result: subprocess.CompletedProcess) -> list[str]:
    return [line.removeprefix("problem:  ") for line in result.stdout.splitlines() if line.startswith("problem:  ")]


@models
def test_check_reports_local_talks_whose_recording_is_gone_or_shared_and_repair_leaves_them(library, tmp_path):
    """A local recording converted (a.ogg to a.mp3), the old file deleted and the folder indexed again: the talk at
    a.ogg plays nothing and every search found the recording twice, yet check said clean. It is named (id, title,
    path, what to do), as is a path two talks hold; --repair deletes neither (the file may be on a disk not mounted
    now). The library's remote talks and the talk whose file is there are never named."""
    folder = tmp_path / "recordings"
    old = index_captioned_copy(settings_for(library), folder, "a")
    new = folder / "a.mp3"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(old), str(new)], check=True)
    old.unlink()
    indexed = talksearch("index", str(folder), "--library", str(library))
    assert indexed.returncode == 0 and "1 added" in indexed.stdout, indexed.stdout + indexed.stderr
    with sqlite3.connect(library / "catalog.sqlite") as db:
        talks = {url: talk for talk, url in db.execute("SELECT id, media_url FROM talks")}
    gone, kept = talks[old.as_uri()], talks[new.as_uri()]
    assert len(talks) == 4  # and the feed's two, at http URLs

    for args in (["check"], ["check", "--repair"]):
        checked = talksearch(*args, "--library", str(library))
        assert checked.returncode == 1 and "Traceback" not in checked.stderr, checked.stdout + checked.stderr
        assert _problems(checked) == [
            f'talk {gone} "a" has no recording at {old}: if the file moved, index it where it is now (the talk '
            f"follows it); if it is gone, remove the talk (`talksearch remove {gone} --library {library}`, or DELETE "
            f"/api/talks/{gone}); --repair leaves it (the file may be on a disk not mounted now)"], checked.stdout
        assert "repaired:" not in checked.stdout
        assert checked.stdout.splitlines()[-1] == "1 problems", checked.stdout  # not "try --repair": it would not
    with Library.open(library, readonly=True) as lib:
        assert lib.count_talks() == 4

    # Two talks at one path (an earlier release indexed a file replaced in place as a second talk)
    with sqlite3.connect(library / "catalog.sqlite") as db:
        db.execute("UPDATE talks SET url = ?, media_url = ? WHERE id = ?", (new.as_uri(), new.as_uri(), gone))
    checked = talksearch("check", "--repair", "--library", str(library))
    assert checked.returncode == 1, checked.stdout + checked.stderr
    [shared] = _problems(checked)
    assert shared.startswith(f"2 talks hold {new} (") and shared.endswith(
        "): searches find its words once for each; index the file again with --reindex (the talk of the recording "
        "there stays, the others go), or remove those it no longer holds (DELETE /api/talks/{id}); --repair leaves "
        "them"), shared
    assert {f'{gone} "a"', f'{kept} "a"'} == set(shared.partition(" (")[2].partition("): ")[0].split(", "))

    # What the line says done (DELETE /api/talks/{id} deletes it so), and the file renamed to a name that is not
    # UTF-8, indexed there (its URL quotes the bytes): clean
    with Library.open(library) as lib:
        lib.acquire_writer()
        assert lib.delete_talk(gone)
        renamed = Path(os.fsdecode(bytes(folder) + b"/caf\xe9.mp3"))
        new.rename(renamed)
        assert lib.move_talk(kept, renamed.as_uri(), renamed.as_uri())
    checked = talksearch("check", "--library", str(library))
    assert checked.returncode == 0 and checked.stdout.rstrip().endswith("clean"), checked.stdout + checked.stderr


@models
def test_a_keyword_index_dropped_by_hand_is_found_and_rebuilt(library):
    """The word index comes back empty when the library is next opened: consistent in itself, so only a check
    against the passages sees that it finds nothing; --repair rebuilds it from them."""
    with sqlite3.connect(library / "catalog.sqlite") as db:
        db.execute("DROP TABLE passages_fts")
    checked = talksearch("check", "--library", str(library))
    assert checked.returncode == 1 and "keyword index (FTS5) disagrees" in checked.stdout, checked.stdout
    repaired = talksearch("check", "--repair", "--library", str(library))
    assert repaired.returncode == 0 and "rebuilt the keyword index" in repaired.stdout, repaired.stdout
    with Library.open(library) as lib:
        assert lib.keyword_search("bucket", 5)


@models
def test_a_catalog_another_process_holds_locked_is_not_called_damaged(library):
    """`check` while another program held the catalog locked past SQLite's wait said "keyword index (FTS5)
    disagrees with the passages ... try --repair": the lock, not the index, stopped FTS5's check. Now the lock is
    the error (the CLI says "database is locked" in one line)."""
    holder = sqlite3.connect(library / "catalog.sqlite", isolation_level=None)
    with Library.open(library) as lib:
        lib.db.execute("PRAGMA busy_timeout = 100")  # SQLite's own wait, cut from 30 s for the test
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                lib.keywords.verify()
        finally:
            holder.execute("ROLLBACK")
        assert lib.keywords.verify()
    holder.close()


@models
def test_a_language_changed_by_hand_is_found_and_its_trigrams_rebuilt(library):
    """The trigram index of talks in other languages is kept by a trigger when passages are written; a talk's
    language edited by hand afterwards leaves it out of step (and a dropped table comes back empty)."""
    with sqlite3.connect(library / "catalog.sqlite") as db:
        db.execute(f"UPDATE talks SET language = 'de' WHERE {T01_ROW}")
        db.execute("DROP TABLE passages_unspaced")  # held nothing here: it comes back as it was, and agrees
    with Library.open(library) as lib:
        assert lib.trigram_search("uploads manifest", 5) == []
    checked = talksearch("check", "--library", str(library))
    assert checked.returncode == 1, checked.stdout
    assert "the trigram index of talks in other languages than English disagrees" in checked.stdout, checked.stdout
    assert "written without spaces" not in checked.stdout
    repaired = talksearch("check", "--repair", "--library", str(library))
    assert repaired.returncode == 0 and "rebuilt the trigram index of talks in other" in repaired.stdout, repaired.stdout
    with Library.open(library) as lib:
        found = lib.passages(lib.trigram_search("uploads manifest", 5))
        assert found and {p.talk_id for p in found.values()} == {_t01(library)}
    assert talksearch("check", "--library", str(library)).returncode == 0


@models
def test_a_second_writer_is_refused_in_one_line(library):
    with Library.open(library) as holder:
        holder.acquire_writer()
        for args in (["index", str(DATA / "t01.ogg")], ["check", "--repair"]):
            _one_line_error(talksearch(*args, "--library", str(library)),
                            "is being written by talksearch index (pid", "wait for it to finish")
    assert talksearch("check", "--library", str(library)).returncode == 0


# --- the error mapping, on the real errors' texts ------------------------------------------------------


@pytest.mark.unit
def test_storage_failures_are_explained_in_one_line(tmp_path):
    import faiss

    lib = tmp_path / "lib"
    lib.mkdir()
    cases = {
        sqlite3.OperationalError("database or disk is full"): "no space left",
        # a read-only file system only where the library is on one (the read-only mount tests): here, a permission
        sqlite3.OperationalError("attempt to write a readonly database"): "no permission to write",
        OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(lib / "downloads" / "x.part")): "no space left",
        OSError(errno.EROFS, os.strerror(errno.EROFS), str(lib / "indexer.lock")): "read-only file system",
        OSError(errno.EACCES, os.strerror(errno.EACCES), str(lib / "catalog.sqlite")): "no permission",
        RuntimeError("Error in faiss::FileIOWriter::FileIOWriter(const char*) at io.cpp:103: Error: 'f' failed: "
                     f"could not open {lib}/vectors.faiss.tmp for writing: Read-only file system"): "read-only",
    }
    big = faiss.IndexFlatIP(256)  # a real FAISS write error: 2 MB written to a full device
    big.add(np.zeros((2000, 256), "float32"))
    with pytest.raises(RuntimeError) as written:
        faiss.write_index(big, "/dev/full")
    cases[written.value] = "no space left"
    for exc, expected in cases.items():
        message = explain(exc, lib)
        assert message and expected in message and "\n" not in message, (exc, message)
        assert str(lib) in message
    # not storage failures: left to their own handling
    assert explain(sqlite3.OperationalError("no such table: talks"), lib) is None
    assert explain(OSError(errno.ENOSPC, "No space left on device", "/elsewhere/recording.mp4"), lib) is None
    assert explain(RuntimeError("something else"), lib) is None
    assert explain(ValueError("disk is full"), lib) is None


# --- a full disk and a read-only file system (private mount namespaces) ------------------------------


def _can_mount() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            'd=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs "$d" && umount "$d" && rmdir "$d"'],
                           capture_output=True)
    return probe.returncode == 0


needs_mounts = pytest.mark.skipif(not _can_mount(), reason="needs root and unshare --mount (a private mount namespace)")

_DRIVER_HEAD = """
import json, os, shutil, subprocess, sys
ROOT = os.environ["TS_ROOT"]
results = {}
def cli(name, *args):
    r = subprocess.run([sys.executable, "-m", "talksearch.cli", *args], capture_output=True, text=True, cwd=ROOT,
                       timeout=600)
    results[name] = {"rc": r.returncode, "out": r.stdout, "err": r.stderr}
def fill(folder, leave):
    # a file taking all the free space of the file system but ``leave`` bytes
    st = os.statvfs(folder)
    fd = os.open(os.path.join(folder, "filler"), os.O_CREAT | os.O_WRONLY)
    os.posix_fallocate(fd, 0, max(4096, st.f_bavail * st.f_frsize - leave))
    os.close(fd)
"""


def _in_mount_namespace(setup: str, driver: str, **env: str) -> dict:
    """Run ``setup`` (shell: the mounts) then the Python ``driver`` in a private mount namespace; the
    mounts vanish with it. Returns the driver's ``results``."""
    script = _DRIVER_HEAD + textwrap.dedent(driver) + "\nprint('RESULTS ' + json.dumps(results))\n"
    command = f"set -e\n{setup}\nexec {sys.executable} -c \"$TS_DRIVER\"\n"
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c", command],
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, **env, "TS_DRIVER": script, "TS_ROOT": str(ROOT)})
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULTS ")]
    assert done.returncode == 0 and lines, done.stdout + done.stderr
    return {name: subprocess.CompletedProcess([], r["rc"], r["out"], r["err"])
            for name, r in json.loads(lines[-1][len("RESULTS "):]).items()}


@needs_mounts
@models
def test_a_deletion_on_a_full_disk_says_the_disk_is_full(library, tmp_path):
    """The service's answer when the disk filled under it: it said "the library's catalog cannot be read … check
    --repair", sending the operator to repair a catalog that was fine. A real server, its library on a tmpfs."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    results = _in_mount_namespace(
        'mount -t tmpfs -o size=8m tmpfs "$TS_MOUNT"',
        """
        import socket, time, urllib.error, urllib.request
        mount, lib = os.environ["TS_MOUNT"], os.environ["TS_MOUNT"] + "/library"
        shutil.copytree(os.environ["TS_LIBRARY"], lib)
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            port = free.getsockname()[1]
        server = subprocess.Popen([sys.executable, "-m", "talksearch.cli", "serve", "--library", lib, "--port",
                                   str(port)], cwd=ROOT, env={**os.environ, "TALKSEARCH_ADMIN_TOKEN": "secret"},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.25)
        fill(mount, 0)
        asked = urllib.request.Request(base + "/api/talks/" + os.environ["TS_TALK"], method="DELETE",
                                       headers={"Authorization": "Bearer secret"})
        try:
            answer = urllib.request.urlopen(asked, timeout=60)
            results["delete"] = {"rc": answer.status, "out": answer.read().decode(), "err": ""}
        except urllib.error.HTTPError as refused:
            results["delete"] = {"rc": refused.code, "out": refused.read().decode(), "err": ""}
        server.terminate()
        server.wait(30)
        """,
        TS_MOUNT=str(mount), TS_LIBRARY=str(library), TS_TALK=_t01(library))
    deleted = results["delete"]
    assert deleted.returncode == 503, deleted
    error = json.loads(deleted.stdout)["error"]
    assert error["code"] == "unavailable" and error["message"].startswith("the disk holding the library is full"), error
    assert "--repair" not in error["message"] and "cannot be read" not in error["message"], error


@needs_mounts
@models
def test_disk_full_is_one_line_and_damages_nothing(library, tmp_path):
    """A 4 MB tmpfs holding the library, filled up: when even opening the catalog fails, and when the
    commit of a transcribed talk fails. The catalog rolls back: once space is freed it checks clean."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    recording = tmp_path / "recording.ogg"
    shutil.copy(DATA / "t01.ogg", recording)
    recording.write_bytes(recording.read_bytes() + b"\0")  # another file (another digest) than the feed's t01
    results = _in_mount_namespace(
        'mount -t tmpfs -o size=4m tmpfs "$TS_MOUNT"',
        """
        mount, lib, recording = os.environ["TS_MOUNT"], os.environ["TS_MOUNT"] + "/library", os.environ["TS_RECORDING"]
        shutil.copytree(os.environ["TS_LIBRARY"], lib)
        fill(mount, 4096)                      # full: the catalog's shared-memory file cannot even be made
        cli("full_at_open", "index", recording, "--library", lib)
        cli("listed_when_full", "talks", "--library", lib, "--json")   # reads need no room
        cli("exported_when_full", "export", os.environ["TS_TALK"], "--library", lib, "--format", "txt")
        cli("repair_when_full", "check", "--repair", "--library", lib)
        os.remove(os.path.join(mount, "filler"))
        fill(mount, 48 * 1024)                 # room to open and transcribe, not to commit the talk
        cli("full_at_commit", "index", recording, "--library", lib)
        os.remove(os.path.join(mount, "filler"))
        cli("check", "check", "--library", lib)
        cli("talks", "talks", "--library", lib, "--json")
        """,
        TS_MOUNT=str(mount), TS_LIBRARY=str(library), TS_RECORDING=str(recording), TS_TALK=_t01(library))

    _one_line_error(results["full_at_open"], "no space left on the disk holding the library", str(mount))
    # Reading a full disk's library: SQLite could not make the log's shared-memory file and refused every reader
    # (talks, search, export, a server's start); now read as from read-only media. Writes are refused, saying why.
    assert json.loads(results["listed_when_full"].stdout)["total"] == 2, results["listed_when_full"]
    exported = results["exported_when_full"]
    assert exported.returncode == 0 and "object storage" in exported.stdout.lower(), exported
    _one_line_error(results["repair_when_full"], "no space left on the disk holding the library", str(mount))
    _one_line_error(results["full_at_commit"], "no space left", "database or disk is full",
                    "what was committed is intact")
    assert results["check"].returncode == 0 and results["check"].stdout.rstrip().endswith("clean"), results["check"]
    assert json.loads(results["talks"].stdout)["total"] == 2  # the two talks it had, nothing half-written


@needs_mounts
@models
def test_read_only_library_can_be_searched_and_refuses_writes_in_one_line(library, tmp_path):
    """A read-only bind mount of a library: searching, listing, exporting and checking work (SQLite opens
    the catalog immutable); indexing and repairing are refused in one line; not one byte changes."""
    before = _digests(library)
    results = _in_mount_namespace(
        'mount --bind "$TS_LIBRARY" "$TS_LIBRARY" && mount -o remount,bind,ro "$TS_LIBRARY"',
        """
        lib = os.environ["TS_LIBRARY"]
        try:
            open(os.path.join(lib, "probe"), "w")
            results["writable"] = {"rc": 0, "out": "", "err": ""}
        except OSError as exc:
            results["writable"] = {"rc": exc.errno, "out": "", "err": str(exc)}
        cli("talks", "talks", "--library", lib, "--json")
        cli("search", "search", "object storage bucket", "--library", lib, "--json")
        cli("export", "export", os.environ["TS_TALK"], "--library", lib, "--format", "txt")
        cli("check", "check", "--library", lib)
        cli("repair", "check", "--repair", "--library", lib)
        cli("index", "index", os.environ["TS_RECORDING"], "--library", lib)
        from fastapi.testclient import TestClient
        from talksearch.service.app import create_app
        from talksearch.settings import Settings
        with TestClient(create_app(Settings(library=lib, admin_token="secret", allow_private_sources=True))) as api:
            auth = {"Authorization": "Bearer secret"}
            for name, response in (
                    ("api index", api.post("/api/index", json={"source": "http://127.0.0.1:9/t.mp3"}, headers=auth)),
                    ("api delete", api.delete("/api/talks/" + os.environ["TS_TALK"], headers=auth))):
                results[name] = {"rc": response.status_code, "out": response.text, "err": ""}
        """,
        TS_LIBRARY=str(library), TS_RECORDING=str(DATA / "t02.ogg"), TS_TALK=_t01(library))

    assert results["writable"].returncode == errno.EROFS  # root cannot write there: a real read-only mount
    assert json.loads(results["talks"].stdout)["total"] == 2
    assert "bucket" in json.loads(results["search"].stdout)["results"][0]["text"]
    assert results["export"].returncode == 0 and "object storage" in results["export"].stdout.lower()
    assert results["check"].returncode == 0 and "keyword index is not verified" in results["check"].stdout
    for name in ("repair", "index"):
        _one_line_error(results[name], "read-only file system", str(library))
    # the service refuses a job at once, as a DELETE (it queued one, which then failed: an operations hunt)
    for name in ("api index", "api delete"):
        error = json.loads(results[name].stdout)["error"]
        assert (results[name].returncode, error["code"]) == (503, "library_read_only"), results[name].stdout
        assert "read-only file system" in error["message"], error
    assert _digests(library) == before  # not a byte written, not a -wal or -shm file left


@needs_mounts
@models
def test_a_full_disk_while_downloading_stops_the_run_in_one_line(library, media_server, tmp_path):
    """Downloads into a library whose disk is full: yt-dlp's "[Errno 28] No space left on device" is no talk's
    fault, so the run stops at the first with the full disk's line, rather than a failed line for every talk."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    urls = []
    for n in (1, 2):  # larger than the room left; distinct bytes, distinct talks
        padded = media_server.directory / "live" / f"padded-{n}-{tmp_path.name}.ogg"
        padded.write_bytes((DATA / "t01.ogg").read_bytes() + bytes([n]) * (1 << 20))
        urls.append(media_server.url(f"live/{padded.name}"))
    results = _in_mount_namespace(
        'mount -t tmpfs -o size=4m tmpfs "$TS_MOUNT"',
        """
        mount, lib = os.environ["TS_MOUNT"], os.environ["TS_MOUNT"] + "/library"
        shutil.copytree(os.environ["TS_LIBRARY"], lib)
        fill(mount, 256 * 1024)                # room to open the library, not to download a talk
        cli("index", "index", *os.environ["TS_URLS"].split(), "--library", lib)
        """,
        TS_MOUNT=str(mount), TS_LIBRARY=str(library), TS_URLS=" ".join(urls))

    _one_line_error(results["index"], "no space left on the disk holding the library", str(mount),
                    "what was committed is intact")
    assert "failed" not in results["index"].stdout, results["index"].stdout


@needs_mounts
@pytest.mark.unit
def test_vector_index_file_on_a_full_disk_raises_and_keeps_the_old_file(tmp_path):
    """FAISS's own file writer ignores a failing fclose, so a small index written to a full disk became a
    file of zero bytes without an error; write_atomically must raise ENOSPC and leave the old file whole."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    results = _in_mount_namespace(
        'mount -t tmpfs -o size=64k tmpfs "$TS_MOUNT"',
        """
        import errno
        import faiss, numpy as np
        from pathlib import Path
        from talksearch.vector_index import write_atomically
        mount = Path(os.environ["TS_MOUNT"])
        index = faiss.IndexFlatIP(8)
        index.add(np.ones((4, 8), "float32"))
        write_atomically(index, mount / "vectors.faiss")
        fill(str(mount), 0)
        index.add(np.ones((4, 8), "float32"))
        try:
            write_atomically(index, mount / "vectors.faiss")
            outcome = "written"
        except OSError as exc:
            outcome = errno.errorcode[exc.errno]
        kept = faiss.read_index(str(mount / "vectors.faiss")).ntotal
        results["write"] = {"rc": 0, "out": f"{outcome} {kept} {sorted(os.listdir(mount))}", "err": ""}
        """, TS_MOUNT=str(mount))
    assert results["write"].stdout == "ENOSPC 4 ['filler', 'vectors.faiss']"


# --- no permission to write the library (chmod; another user's library) --------------------------------

# Root writes through any chmod: its CLI runs without the capabilities that let it (setpriv), as another user would.
_WITHOUT_ROOT_POWERS = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner"]


def _can_run_without_root_powers() -> bool:
    if os.geteuid() != 0:
        return True  # permissions hold for any other user as they are
    return shutil.which("setpriv") is not None and subprocess.run(
        [*_WITHOUT_ROOT_POWERS, "true"], capture_output=True).returncode == 0


needs_permissions = pytest.mark.skipif(not _can_run_without_root_powers(),
                                       reason="runs as root without setpriv to give up its power over permissions")


def _as_a_user(*args: str) -> subprocess.CompletedProcess:
    """The real CLI, bound by file permissions (``talksearch`` of tests.helpers, without root's powers)."""
    powers = _WITHOUT_ROOT_POWERS if os.geteuid() == 0 else []
    return subprocess.run([*powers, sys.executable, "-m", "talksearch.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


@needs_permissions
@models
def test_a_library_this_user_may_not_write_can_be_searched_and_refuses_writes_in_one_line(library):
    """A library folder without write permission (chmod 555, or another user's): searching, listing, exporting and
    checking work as on read-only media (SQLite could not make its -wal and -shm files there); indexing and
    repairing are refused in one line that says why: no permission, not a read-only file system."""
    before = _digests(library)
    commands = {"talks": ["talks", "--json"], "search": ["search", "object storage bucket", "--json"],
                "export": ["export", _t01(library), "--format", "txt"], "check": ["check"],
                "repair": ["check", "--repair"], "index": ["index", str(DATA / "t02.ogg")]}
    library.chmod(0o555)
    try:
        results = {name: _as_a_user(*args, "--library", str(library)) for name, args in commands.items()}
    finally:
        library.chmod(0o755)

    assert json.loads(results["talks"].stdout)["total"] == 2, results["talks"].stderr
    assert "bucket" in json.loads(results["search"].stdout)["results"][0]["text"]
    assert results["export"].returncode == 0 and "object storage" in results["export"].stdout.lower()
    assert results["check"].returncode == 0 and results["check"].stdout.rstrip().endswith("clean"), results["check"]
    for name in ("repair", "index"):
        _one_line_error(results[name], f"no permission to write the library {library} (its folder is not writable",
                        "it can be searched")
    assert _digests(library) == before


@needs_permissions
@models
def test_a_read_only_catalog_is_checked_clean_refused_before_downloading_and_left_as_it_was(library, media_server):
    """A catalog file made read-only (chmod 444) in a writable folder: check finds no damage (FTS5's integrity
    check is a write statement: not run, not failed), indexing is refused before anything is downloaded, and
    nothing is left behind read-only: once the catalog is writable again, indexing works."""
    catalog = library / "catalog.sqlite"
    talk = media_server.url("live/t02-live.ogg")
    catalog.chmod(0o444)
    try:
        checked = _as_a_user("check", "--library", str(library))
        refused = _as_a_user("index", talk, "--library", str(library))
        left = sorted(p.name for p in library.iterdir())
    finally:
        catalog.chmod(0o644)
    assert checked.returncode == 0 and checked.stdout.rstrip().endswith("clean"), checked.stdout + checked.stderr
    _one_line_error(refused, f"no permission to write the library {library} (catalog.sqlite is not writable")
    assert left == ["catalog.sqlite", "vectors.faiss"]  # no -wal or -shm file made read-only, no downloads
    indexed = _as_a_user("index", talk, "--library", str(library))
    assert indexed.returncode == 0 and indexed.stdout.startswith("added"), indexed.stdout + indexed.stderr


def _zero_a_page(catalog: Path, table: str) -> None:
    """Overwrite the root page of ``table`` with zeros, as a failing disk might."""
    with sqlite3.connect(catalog) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # else the log's copy of the page would cover the damage
        size = db.execute("PRAGMA page_size").fetchone()[0]
        page = db.execute("SELECT pageno FROM dbstat WHERE name = ? AND path = '/'", (table,)).fetchone()[0]
    with open(catalog, "r+b") as file:
        file.seek(size * (page - 1))
        file.write(bytes(size))


@models
def test_a_damaged_page_in_the_keyword_index_is_rebuilt_from_the_passages(library):
    """SQLite cannot repair, rebuild or even drop an FTS5 index with a damaged page ("database disk image is
    malformed"), though every record it was made from is intact: repair copies the records into a new catalog,
    whose triggers make the indexes again, and keeps the damaged file."""
    _zero_a_page(library / "catalog.sqlite", "passages_fts_data")
    checked = talksearch("check", "--library", str(library))
    assert checked.returncode == 1 and "Traceback" not in checked.stderr, checked.stdout + checked.stderr
    assert "catalog integrity: database disk image is malformed, in the indexes made from the passages" \
        in checked.stdout, checked.stdout
    from fastapi.testclient import TestClient

    from talksearch.service.app import create_app
    from talksearch.settings import Settings

    with TestClient(create_app(Settings(library=library))) as client:  # searching it meanwhile: the library's fault
        refused = client.get("/api/search", params={"q": "bucket"})
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "unavailable", refused.text
    assert refused.json()["error"]["message"].startswith("the library's catalog cannot be read (database disk image "
                                                         "is malformed); `talksearch check`")
    repaired = talksearch("check", "--repair", "--library", str(library))
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "repaired: rebuilt the catalog from its talks, sentences and passages (a copy of the damaged one is kept " \
           "as catalog.sqlite.damaged)" in repaired.stdout and repaired.stdout.rstrip().endswith("clean")
    assert (library / "catalog.sqlite.damaged").exists()
    with Library.open(library) as lib:
        assert lib.count_talks() == 2 and lib.keyword_search("bucket", 5)


@models
def test_a_damaged_page_in_the_passages_is_not_repaired_by_guessing(library):
    _zero_a_page(library / "catalog.sqlite", "passages")
    catalog = library / "catalog.sqlite"
    before = catalog.read_bytes()
    # a command that reads the damage sends the operator to check (it said "database disk image is malformed" alone)
    searched = talksearch("search", "object storage", "--library", str(library))
    _one_line_error(searched, "database disk image is malformed; `talksearch check` says what is damaged")
    for args in (["check"], ["check", "--repair"]):
        checked = talksearch(*args, "--library", str(library))
        assert checked.returncode == 1 and "Traceback" not in checked.stderr, checked.stdout + checked.stderr
        assert "in the talks, sentences or passages themselves: restore catalog.sqlite from a backup (removing " \
               "catalog.sqlite-wal and catalog.sqlite-shm beside it" in checked.stdout, checked.stdout + checked.stderr
        # --repair mends nothing here: not suggested
        assert checked.stdout.rstrip().endswith("1 problems"), checked.stdout
    assert catalog.read_bytes() == before and not (library / "catalog.sqlite.damaged").exists()


@needs_mounts
@pytest.mark.unit
def test_checking_an_older_library_on_read_only_media_skips_the_trigram_indexes_it_has_not_got(tmp_path):
    """A format-4 library (before either trigram index) on a read-only bind mount cannot be upgraded: check
    verifies what it has and says what it did not, rather than failing on a missing table."""
    from tests.test_library import _format_1_library

    _format_1_library(tmp_path / "old")
    with Library.open(tmp_path / "old") as current:  # up to date with its vectors, then the trigram indexes dropped
        current.acquire_writer()
        current.sync_vector_index(save=True)
        current.db.executescript(
            "DROP TRIGGER passages_unspaced_insert; DROP TRIGGER passages_unspaced_delete; DROP TABLE passages_unspaced;"
            "DROP TRIGGER passages_trigrams_insert; DROP TRIGGER passages_trigrams_delete; DROP TABLE passages_trigrams;"
            "UPDATE meta SET value = '4' WHERE key = 'format_version'; PRAGMA wal_checkpoint(TRUNCATE);")
    results = _in_mount_namespace(
        'mount --bind "$TS_LIBRARY" "$TS_LIBRARY" && mount -o remount,bind,ro "$TS_LIBRARY"',
        'cli("check", "check", "--library", os.environ["TS_LIBRARY"])',
        TS_LIBRARY=str(tmp_path / "old"))
    assert results["check"].returncode == 0, results["check"]
    assert "format 4 on a read-only file system: trigram indexes not verified" in results["check"].stdout
    assert results["check"].stdout.rstrip().endswith("clean")


@needs_permissions
@pytest.mark.unit
def test_a_read_only_copy_without_the_logs_shared_memory_file_says_what_to_do_in_one_line(tmp_path):
    """A read-only copy of a library whose write-ahead log holds commits, taken without catalog.sqlite-shm (rsync
    --exclude '*-shm', or while a reader kept the log): SQLite cannot read the log without that file nor make it
    there, and immutable=1 would skip the log. Refused in one line that says what to do, not as "format 0"; the
    same copy with its -shm file is read as it is."""
    source, copy = tmp_path / "source", tmp_path / "copy"
    copy.mkdir()
    with Library.open(source, create=True):  # open: its commits are still in the log, not in catalog.sqlite
        for name in ("catalog.sqlite", "catalog.sqlite-wal"):
            shutil.copy2(source / name, copy / name)
        shm = shutil.copy2(source / "catalog.sqlite-shm", tmp_path / "catalog.sqlite-shm")
    assert (copy / "catalog.sqlite-wal").stat().st_size > 0

    def read_only(*args: str) -> subprocess.CompletedProcess:
        for path in (copy, *copy.iterdir()):
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            return _as_a_user(*args, "--library", str(copy))
        finally:
            for path in (copy, *copy.iterdir()):
                path.chmod(0o755 if path.is_dir() else 0o644)

    for command in (["talks", "--json"], ["check"]):
        _one_line_error(read_only(*command), f"library {copy} cannot be read here", "catalog.sqlite-shm is missing",
                        "copy catalog.sqlite-shm too", "PRAGMA wal_checkpoint(TRUNCATE)", "make the copy writable")

    shutil.move(shm, copy / "catalog.sqlite-shm")  # the same commits with the log's shared-memory file beside them
    listed = read_only("talks", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)["total"] == 0, listed.stderr


@pytest.mark.unit
def test_a_reader_that_may_not_write_the_library_sees_a_writers_talks_whole(tmp_path, monkeypatch):
    """A service that may not write the library (another user's, a group's folder) cannot make the log's -wal and
    -shm files beside a catalog closed cleanly, so it opened it immutable=1: SQLite then never noticed a writer's
    commits (PRAGMA data_version stays) and read the pages the writer's checkpoint changed under its cache, torn
    ("database disk image is malformed", or 7 talks listed with 6). It opens the catalog again when it changes, and
    reads through the log (mode=ro) once the writer has made it."""
    from talksearch import storage
    from tests.test_library import _add, _vector

    path = tmp_path / "lib"
    with Library.open(path, create=True) as writer:
        writer.acquire_writer()
        writer.bind_embedding_model("test-model", 8)
        _add(writer, "a")
    assert not (path / "catalog.sqlite-wal").exists()  # closed cleanly, as a library is published
    with monkeypatch.context() as as_another_user:  # opened the way a process that may not write the folder opens it
        as_another_user.setattr(storage, "unwritable", lambda catalog: catalog.parent)
        reader = Library.open(path)
    try:
        assert reader.readonly and reader.count_talks() == 1 and reader.sync_vector_index().ntotal == 3

        def read() -> tuple[bool, int, set[str]]:
            with reader.snapshot():  # as the service reads (Searcher.reading)
                changed = reader.refresh()
                hits = reader.search_vectors(_vector(hash(("b19", 1)) % 1000), 1)
                return changed, reader.count_talks(), {p.talk_id for p in reader.passages([hits[0][0]]).values()}

        with Library.open(path) as writer:  # a writer's run, committed and closed (its checkpoint rewrites pages)
            writer.acquire_writer()
            new = [_add(writer, f"b{i}", n=40) for i in range(20)]
        changed, talks, found = read()
        assert (changed, talks) == (True, 21) and found <= set(new), (changed, talks, found)  # the new vectors too
        with Library.open(path) as writer:  # a writer still running: its commits are in the log
            writer.acquire_writer()
            last = _add(writer, "c")
            assert read()[:2] == (True, 22)
            assert (path / "catalog.sqlite-wal").exists()
            writer.delete_talk(last)
        assert read()[:2] == (True, 21) and reader.db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    finally:
        reader.close()


@needs_permissions
@pytest.mark.unit
def test_a_catalog_this_user_may_not_read_says_so(tmp_path):
    """A library indexed under umask 077 by another user: its catalog cannot be read here, which is what is said,
    not "no permission to write the library"."""
    with Library.open(tmp_path / "lib", create=True):
        pass
    catalog = tmp_path / "lib" / "catalog.sqlite"
    catalog.chmod(0o000)  # no one's: root without its powers over permissions may not read it either
    catalog.parent.chmod(0o555)  # nor write the folder: this was taken for the reason
    try:
        refused = _as_a_user("talks", "--library", str(tmp_path / "lib"))
    finally:
        catalog.parent.chmod(0o755)
        catalog.chmod(0o644)
    _one_line_error(refused, f"no permission to read the library's catalog {catalog}")


@pytest.mark.unit
def test_a_disk_out_of_inodes_is_a_full_disk(tmp_path, monkeypatch):
    """A file system with bytes to spare and no inode left (a tmpfs's nr_inodes, a small ext4): SQLite cannot make
    its log files and says "unable to open database file", which was taken for no storage failure at all: every
    command said "cannot be read", and the service did not fall back to reading, as on a full disk (a reviewer's
    hunt). statvfs stands in for such a file system (making one needs a mount)."""
    from talksearch import storage

    real = os.statvfs(tmp_path)
    no_inodes = os.statvfs_result((real.f_bsize, real.f_frsize, real.f_blocks, real.f_bfree, real.f_bavail,
                                   1000, 0, 0, real.f_flag & ~os.ST_RDONLY, real.f_namemax))
    monkeypatch.setattr(storage.os, "statvfs", lambda path: no_inodes)
    refused = sqlite3.OperationalError("unable to open database file")
    assert storage.storage_kind(refused, tmp_path) == storage.FULL
    assert explain(refused, tmp_path).startswith("no space left on the disk"), explain(refused, tmp_path)
    assert not storage.has_room(tmp_path)

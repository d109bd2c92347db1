"""The CLI in pipes and scripts: a reader that goes away (| head, | grep -q, | true) while a command works, output
on a full disk, an MCP client that closes its end, source lists given twice, from stdin or naming nothing, and an
ssh session dropped under a run. Real CLI processes with real pipes, over small libraries of captioned copies of
t01 (no transcription waited for)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import DATA, ROOT, TRUTH, talksearch

# What these check does not depend on the embedding model (conftest's light_embedding).
pytestmark = pytest.mark.usefixtures("light_embedding")

# Enough talks that a run stopped by its first unread line (the defect) could never pass for one that went on:
# it stopped after one or two of them.
TALKS = 8


def _captioned_talks(folder: Path, count: int = TALKS) -> list[Path]:
    """``count`` recordings of t01, each with a byte of its own after its last page (another digest: another talk)
    and whole-second captions beside it, so that they are indexed from the captions."""
    folder.mkdir()
    cues = [f"00:00:{int(s['start']):02d}.000 --> 00:00:{int(s['end']):02d}.000\n{s['text']}"
            for s in TRUTH["t01"]["sentences"]]
    recordings = []
    for number in range(count):
        recording = folder / f"talk{number}.ogg"
        recording.write_bytes((DATA / "t01.ogg").read_bytes() + f"copy {number}".encode())
        (folder / f"talk{number}.en.vtt").write_text("WEBVTT\n\n" + "\n\n".join(cues) + "\n")
        recordings.append(recording)
    return recordings


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "talksearch.cli", *args]


def _read_then_gone(*args: str) -> subprocess.CompletedProcess:
    """The command's first line read, then its reader gone (``| head -1``): its exit status and stderr."""
    process = subprocess.Popen(_cli(*args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read()
    process.wait(timeout=300)
    return subprocess.CompletedProcess(args, process.returncode, first, stderr)


def _never_read(*args: str) -> subprocess.CompletedProcess:
    """The command's output never read, its reader gone before it writes (``| true``): its exit status and stderr."""
    process = subprocess.Popen(_cli(*args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()
    stderr = process.stderr.read()
    process.wait(timeout=300)
    return subprocess.CompletedProcess(args, process.returncode, "", stderr)


def _talk_ids(library: Path) -> list[str]:
    listed = talksearch("talks", "--library", str(library), "--json")
    assert listed.returncode == 0, listed.stderr
    return [talk["id"] for talk in json.loads(listed.stdout)["talks"]]


@pytest.fixture(scope="module")
def talks(tmp_path_factory) -> Path:
    return _captioned_talks(tmp_path_factory.mktemp("pipes") / "talks")[0].parent


@pytest.mark.models
def test_index_and_reembed_go_on_to_the_end_when_their_reader_goes_away(talks, tmp_path):
    """`index ... | grep -q added` stopped after a talk or two with "error: Broken pipe", exit 1, and often aborted
    (134, "terminate called without an active exception": the interpreter's shutdown under the models' threads).
    Now the run indexes every talk, its further output discarded, and exits as if it had been read."""
    library = tmp_path / "library"
    indexed = _read_then_gone("index", str(talks), "--library", str(library))
    assert (indexed.returncode, indexed.stderr) == (0, ""), indexed
    assert len(_talk_ids(library)) == TALKS

    reembedded = _read_then_gone("reembed", str(library), "--library", str(tmp_path / "again"))
    assert (reembedded.returncode, reembedded.stderr) == (0, ""), reembedded
    assert len(_talk_ids(tmp_path / "again")) == TALKS

    # a talk failed: 1, as the same run read to its end exits
    failing = _read_then_gone("index", str(talks / "talk0.ogg"), str(tmp_path / "missing.ogg"), str(talks),
                              "--library", str(tmp_path / "third"))
    assert (failing.returncode, failing.stderr) == (1, ""), failing
    assert len(_talk_ids(tmp_path / "third")) == TALKS


@pytest.mark.models
def test_remove_and_restore_do_every_talk_when_their_reader_goes_away(talks, tmp_path):
    """`remove ID1 ID2 ID3 | true` removed the first talk alone, and exited 0."""
    library = tmp_path / "library"
    made = talksearch("index", str(talks), "--library", str(library))
    assert made.returncode == 0, made.stderr
    ids = _talk_ids(library)
    removed = _read_then_gone("remove", *ids[:4], "--library", str(library))
    assert (removed.returncode, removed.stderr) == (0, ""), removed
    assert sorted(_talk_ids(library)) == sorted(ids[4:])

    restored = _read_then_gone("restore", *ids[:4], "--library", str(library))
    assert (restored.returncode, restored.stderr) == (0, ""), restored
    again = talksearch("index", str(talks), "--library", str(library))
    assert again.returncode == 0 and again.stdout.count("added ") == 4, again.stdout + again.stderr

    # a refused id still ends in 1, the others done
    refused = _read_then_gone("remove", ids[0], "no-such-talk", ids[1], "--library", str(library))
    assert (refused.returncode, refused.stderr) == (
        1, "error: no talk 'no-such-talk' in the library (see: talksearch talks)\n"), refused
    assert sorted(_talk_ids(library)) == sorted(ids[2:])


@pytest.mark.models
def test_check_and_export_exit_as_read_to_the_end_when_their_reader_goes_away(talks, tmp_path):
    """`check | grep -q problem` exited 0 on a library with problems (1 read to its end), and `export A B
    --output-dir D | true` 0 when a talk could not be exported: the reader's going away ended them with 0."""
    library = tmp_path / "library"
    made = talksearch("index", str(talks / "talk0.ogg"), "--library", str(library))
    assert made.returncode == 0, made.stderr
    (library / "vectors.faiss").unlink()
    read = talksearch("check", "--library", str(library))
    assert read.returncode == 1 and "problem:" in read.stdout, read.stdout
    for checked in (_read_then_gone("check", "--library", str(library)), _never_read("check", "--library", str(library))):
        assert (checked.returncode, checked.stderr) == (1, ""), checked

    [talk] = _talk_ids(library)
    exported = _never_read("export", "no-such-talk", talk, "--output-dir", str(tmp_path / "out"), "--library", str(library))
    assert exported.returncode == 1 and (tmp_path / "out" / f"{talk}.txt").is_file(), exported

    # --output-dir=~/out (no shell expands ~ after =): in the home folder, not a folder named "~" (a scripting hunt)
    home = subprocess.run(_cli("export", talk, "--output-dir=~/out", "--library", str(library)), cwd=tmp_path,
                          capture_output=True, text=True, env={**os.environ, "HOME": str(tmp_path / "home")})
    assert home.returncode == 0 and (tmp_path / "home" / "out" / f"{talk}.txt").is_file(), home
    assert not (tmp_path / "~").exists()


@pytest.mark.models
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_index_output_on_a_full_disk_is_said_as_the_outputs(talks, tmp_path):
    """`index ... > /dev/full` said "no space left on the disk holding the library", of the output's disk, and
    stopped the run (at times with an abort). Now one line names the output, as `talks > /dev/full` does; the run
    goes on to index every talk, and exits 1: its output was lost."""
    library = tmp_path / "library"
    with open("/dev/full", "w") as full:
        result = subprocess.run(_cli("index", str(talks), "--library", str(library)), cwd=ROOT, stdout=full,
                                stderr=subprocess.PIPE, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == ["error: cannot write the output: No space left on device; going on "
                                          "without it"], result.stderr
    assert len(_talk_ids(library)) == TALKS


@pytest.mark.models
def test_progress_bars_are_drawn_on_a_terminal_that_can_redraw_them(talks, tmp_path):
    """Under TERM=dumb (Emacs' shell, a CI log's pseudo-terminal) the bars' cursor moves showed as "^[[A" (a
    scripting hunt); on any other terminal they are drawn."""
    import fcntl
    import pty
    import struct
    import termios

    drawn = {}
    for term in ("xterm", "dumb"):
        controller, terminal = pty.openpty()
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # (tqdm draws nothing in 0x0)
        process = subprocess.Popen(_cli("index", str(talks / "talk0.ogg"), "--library", str(tmp_path / term)),
                                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=terminal, env={**os.environ, "TERM": term})
        os.close(terminal)
        written = b""
        with contextlib.suppress(OSError):  # EIO once the command has ended and closed its end
            while chunk := os.read(controller, 65536):
                written += chunk
        os.close(controller)
        assert process.wait(timeout=300) == 0, written
        drawn[term] = written
    assert b"talks:" in drawn["xterm"] and b"\x1b[A" in drawn["xterm"], drawn["xterm"]
    assert b"\x1b[" not in drawn["dumb"] and b"talks:" not in drawn["dumb"], drawn["dumb"]


@pytest.mark.unit
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
@pytest.mark.parametrize("args", [["--help"], ["--version"], ["export", "--help"]])
def test_help_on_a_full_disk_is_said_as_the_outputs(args):
    """`talksearch --help > /dev/full` ended in a traceback, and `export --help` blamed the library's disk."""
    with open("/dev/full", "w") as full:
        result = subprocess.run(_cli(*args), cwd=ROOT, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert (result.returncode, result.stderr) == (1, "error: cannot write the output: No space left on device\n")


@pytest.mark.unit
@pytest.mark.parametrize("args", [["--help"], ["--version"], ["search", "--help"]])
def test_help_with_the_output_closed_is_said_as_the_outputs(args):
    """`talksearch --help >&-` wrote its help nowhere and exited 0, as if it had been read."""
    lost = _with_closed(1, *args)
    assert (lost.returncode, lost.stderr) == (1, "error: cannot write the output: the standard output is closed\n")


@pytest.mark.models
def test_mcp_ends_quietly_when_its_client_closes_its_end(talks, tmp_path):
    """A client gone while the server answered: a 74-line ExceptionGroup traceback ending in BrokenPipeError."""
    library = tmp_path / "library"
    made = talksearch("index", str(talks / "talk0.ogg"), "--library", str(library))
    assert made.returncode == 0, made.stderr
    process = subprocess.Popen(_cli("mcp", "--library", str(library)), cwd=ROOT, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    listing = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}\n'
    process.stdin.write(listing)
    process.stdin.flush()
    assert process.stdout.readline().startswith('{"jsonrpc"')
    process.stdout.close()
    process.stdin.write(listing)  # answered into the closed pipe
    process.stdin.close()
    stderr = process.stderr.read()
    process.wait(timeout=60)
    assert process.returncode == 0 and "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


@pytest.mark.models
def test_from_file_repeats_and_reads_stdin(talks, tmp_path):
    """`--from-file a.txt --from-file b.txt` read b.txt alone; `-` is the standard input."""
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_text(f"{talks / 'talk0.ogg'}\n")
    second.write_text(f"# the second list\n{talks / 'talk1.ogg'}\n")
    library = tmp_path / "library"
    result = subprocess.run(_cli("index", "--from-file", str(first), "--from-file", "-", "--from-file", str(second),
                                 "--library", str(library)), input=f"{talks / 'talk2.ogg'}\n", capture_output=True,
                            text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith("3 added, 0 skipped, 0 failed"), result.stdout


@pytest.mark.unit
def test_a_source_list_read_from_a_closed_standard_input_is_one_line(tmp_path):
    """`--from-file -` run with the standard input closed (`<&-`, a unit without StandardInput=): a traceback,
    AttributeError: 'NoneType' object has no attribute 'buffer' (an environments fix's leftover)."""
    result = subprocess.run(["bash", "-c", 'exec "$@" <&-', "-", *_cli("index", "--from-file", "-", "--library",
                                                                        str(tmp_path / "library"))],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2 and result.stderr.splitlines() == [
        "error: Invalid value for --from-file: -: the standard input is closed, and no sources can be read from it "
        "(see 'python -m talksearch.cli index --help')"], result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "library").exists()


@pytest.mark.unit
@pytest.mark.parametrize("content", ["", "# nothing tonight\n\n"])
def test_a_source_list_naming_nothing_is_a_quiet_night(tmp_path, content):
    """A cron job's list with nothing in it tonight: a usage error claiming no --from-file was given, exit 2. Now
    one line says so, and 0; no library is made for it."""
    sources = tmp_path / "tonight.txt"
    sources.write_text(content)
    result = talksearch("index", "--from-file", str(sources), "--library", str(tmp_path / "library"))
    assert (result.returncode, result.stderr) == (0, ""), result
    assert result.stdout == f"{sources} names no sources: nothing to index\n"
    assert not (tmp_path / "library").exists()
    # a list in the home folder, named as a crontab's line names it (--from-file=~/...: no shell expands ~ after =)
    home = talksearch("index", "--from-file=~/tonight.txt", "--library", str(tmp_path / "library"),
                      env={"HOME": str(tmp_path)})
    assert (home.returncode, home.stdout) == (0, f"{sources} names no sources: nothing to index\n"), home


@pytest.mark.unit
@pytest.mark.parametrize("args", [["--help"], ["search", "--help"], ["index", "-h"], ["--version"]])
def test_help_into_a_reader_gone_ends_quietly(args):
    """`talksearch search --help | true`: "error: Broken pipe" and 1 (help and --version: 1 and a traceback's last
    line). Now 0 and nothing said, as the data commands end."""
    process = subprocess.Popen(_cli(*args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # gone before the command has loaded, let alone written
    stderr = process.stderr.read()
    process.wait(timeout=60)
    assert (process.returncode, stderr) == (0, ""), stderr


@contextlib.contextmanager
def _stalled_source():
    """A loopback address that takes a connection and never answers: a run fetching from it waits there."""
    with socket.create_server(("127.0.0.1", 0)) as listening:
        listening.settimeout(120)
        yield listening, f"http://127.0.0.1:{listening.getsockname()[1]}/talk.ogg"


@pytest.mark.models
def test_sighup_ends_a_run_as_sigterm_does_unless_ignored(tmp_path):
    """An ssh session dropped under `index`: killed by SIGHUP in silence (129), where SIGTERM and Ctrl-C say what
    happened and how to resume. Under nohup (SIGHUP ignored) the run goes on, as nohup means."""
    command = _cli("index", "--library", str(tmp_path / "library"), "--download-stall-seconds", "120")
    for ignored in (False, True):
        with _stalled_source() as (listening, url):
            # SIGHUP as a terminal's session leaves it, or as nohup does (set either way: a suite run under nohup
            # would have every run ignore it)
            disposition = signal.SIG_IGN if ignored else signal.SIG_DFL
            process = subprocess.Popen([*command, url], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True, preexec_fn=lambda: signal.signal(signal.SIGHUP, disposition))
            connection, _ = listening.accept()  # the run is under way: fetching
            with connection:
                process.send_signal(signal.SIGHUP)
                if ignored:
                    with pytest.raises(subprocess.TimeoutExpired):
                        process.wait(timeout=2)
                    process.send_signal(signal.SIGTERM)
                _, stderr = process.communicate(timeout=60)
        if ignored:
            assert (process.returncode, stderr) == (143, "terminated; run the same command again to resume\n")
        else:
            assert (process.returncode, stderr) == (129, "hung up; run the same command again to resume\n")


def _with_closed(fd: int, *args: str) -> subprocess.CompletedProcess:
    """The CLI started with its file descriptor ``fd`` closed (``>&-``, ``2>&-``): what it wrote on the others."""
    kept = {1: {"stderr": subprocess.PIPE}, 2: {"stdout": subprocess.PIPE}}[fd]
    return subprocess.run(["bash", "-c", f'exec "$@" {fd}>&-', "bash", *_cli(*args)], cwd=ROOT, text=True,
                          timeout=300, **kept)


@pytest.mark.models
def test_closed_outputs_are_said_by_the_exit_status(tmp_path):
    """Started with stderr closed, `index` exited 1 silently and indexed nothing (its progress bars asked the missing
    stream whether it was a terminal); with stdout closed, `export` ended in a traceback and `talks` and `search`
    exited 0, their output lost. stderr is a run's progress and warnings: it indexes without them. stdout is what
    `talks`, `search` and `export` are for: exit 1, saying so on stderr."""
    library = tmp_path / "library"
    recordings = _captioned_talks(tmp_path / "talks", count=2)
    indexed = _with_closed(2, "index", str(recordings[0].parent), "--library", str(library))
    assert indexed.returncode == 0 and indexed.stdout.splitlines()[-1].startswith("2 added"), indexed
    talk_id = _talk_ids(library)[0]
    for args in (["talks"], ["search", "reproducible"], ["export", talk_id], ["talks", "--json"]):
        lost = _with_closed(1, *args, "--library", str(library))
        assert (lost.returncode, lost.stderr) == (1, "error: cannot write the output: the standard output is "
                                                     "closed\n"), (args, lost)

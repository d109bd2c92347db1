"""Folders of recordings that hold more than files: a caption track beside a recording that is a FIFO, a link to a
device, a file far larger than captions are. Each is refused with its reason on the talk's line, and the talk is
transcribed: nothing waits on a writer that never comes, nor reads without end."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.helpers import DATA, ROOT

FAST = ["--whisper-model", "tiny.en"]
# A run that would hang (a FIFO opened for reading) or read without end (/dev/zero) is stopped by then, and its
# memory held to this much (address space: the models map more than they touch), so that a failure is a failure
# of the test, not of the machine.
_RUN_S = 180
_MEMORY = 8 << 30  # talksearch index
_CHILD_MEMORY = 2 << 30  # the child that only reads
_LIMIT_MB = 20  # caption_sources._FILE_LIMIT_MB


def _bounded(memory: int = _MEMORY) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def _hostile_track(folder, kind: str) -> str:
    """Writes the hostile sidecar ``kind`` beside ``folder/talk.ogg``; the reason its captions are not used."""
    if kind == "fifo":
        os.mkfifo(folder / "talk.en.vtt")
        return "not a regular file"
    if kind == "device":
        (folder / "talk.en.vtt").symlink_to("/dev/zero")
        return "not a regular file"
    with open(folder / "talk.vtt", "wb") as huge:  # sparse: no disk used
        huge.write(b"WEBVTT\n\n")
        huge.truncate((_LIMIT_MB + 1) << 20)
    return f"larger than {_LIMIT_MB} MB"


@pytest.mark.unit
@pytest.mark.parametrize("kind", ["fifo", "device", "huge"])
def test_a_sidecar_track_that_is_no_regular_file_or_too_large_is_refused_unread(tmp_path, kind):
    """caption_sources.load on the track sidecar_tracks lists: CaptionError with the reason (in a child process,
    so that a hang or an endless read ends the test, not the run)."""
    shutil.copy(DATA / "t01.ogg", tmp_path / "talk.ogg")
    reason = _hostile_track(tmp_path, kind)
    script = textwrap.dedent(f"""
        from pathlib import Path
        from talksearch.indexer import caption_sources
        (track,) = caption_sources.sidecar_tracks(Path({str(tmp_path / 'talk.ogg')!r}), "uploaded")
        try:
            caption_sources.load(track, lambda url: b"", 21.0, "en")
        except caption_sources.CaptionError as exc:
            print("refused:", exc)
        else:
            print("read")
    """)
    try:
        child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=30,
                               preexec_fn=lambda: _bounded(_CHILD_MEMORY))
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading a {kind} beside the recording did not end in 30 s")
    assert child.stdout.strip() == f"refused: {reason}", child.stdout + child.stderr


@pytest.mark.models
@pytest.mark.usefixtures("light_embedding")
@pytest.mark.parametrize("kind", ["fifo", "device", "huge"])
def test_talksearch_index_transcribes_a_talk_whose_sidecar_track_is_hostile(tmp_path, kind):
    folder = tmp_path / "recordings"
    folder.mkdir()
    shutil.copy(DATA / "t01.ogg", folder / "talk.ogg")
    reason = _hostile_track(folder, kind)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "talksearch.cli", "index", str(folder), "--library", str(tmp_path / "library"),
             "--language", "en", *FAST], capture_output=True, text=True, cwd=ROOT, timeout=_RUN_S, preexec_fn=_bounded)
    except subprocess.TimeoutExpired:
        pytest.fail(f"talksearch index did not finish in {_RUN_S} s with a {kind} as the talk's captions")
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith(("added", "failed", "skipped"))]
    assert line.startswith("added   talk (") and line.endswith(
        f"whisper tiny.en; uploaded captions not used: {reason})"), line


@pytest.mark.unit
def test_a_sidecar_info_json_that_cannot_be_read_says_so():
    """A .info.json beside a recording with a trailing comma was left out without a word: the talk was indexed under
    its file's name, its title and speakers lost, and nothing said why (a hostile-folders hunt)."""
    import json
    import tempfile
    from pathlib import Path

    from talksearch.indexer.talk_details import sidecar_info_and_note

    with tempfile.TemporaryDirectory() as folder:
        sidecar = Path(folder) / "keynote.info.json"
        assert sidecar_info_and_note(sidecar)[1] is None  # none there: nothing to say
        sidecar.write_text('{"title": "Keynote: Power capping", "creators": ["Ann Lee"],}')
        info, note = sidecar_info_and_note(sidecar)
        assert info == {} and note.startswith("its .info.json was not read: Expecting property name"), note
        assert "\n" not in note
        sidecar.write_text('["Keynote"]')
        assert sidecar_info_and_note(sidecar) == ({}, "its .info.json was not read: not a JSON object")
        sidecar.write_text(json.dumps({"title": "Keynote: Power capping", "creators": ["Ann Lee"]}))
        info, note = sidecar_info_and_note(sidecar)
        assert (info["title"], info["creators"], note) == ("Keynote: Power capping", ["Ann Lee"], None)


@pytest.mark.unit
def test_a_huge_sidecar_info_json_is_refused_unread(tmp_path):
    """A sparse 4 GB keynote.info.json was read whole: MemoryError ended the run where memory is bounded (a
    container's), and it took gigabytes where it is not. Refused past the limit, said on the talk's line."""
    sidecar = tmp_path / "keynote.info.json"
    with sidecar.open("wb") as handle:
        handle.truncate(4 << 30)
    script = textwrap.dedent(f"""
        from pathlib import Path
        from talksearch.indexer.talk_details import sidecar_info_and_note
        print(sidecar_info_and_note(Path({str(sidecar)!r})))
    """)
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60,
                           preexec_fn=lambda: _bounded(_CHILD_MEMORY))
    assert child.stdout.strip() == "({}, 'its .info.json was not read: larger than 64 MB')", child.stdout + child.stderr

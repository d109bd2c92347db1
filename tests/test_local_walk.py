"""Local folders that fight back: a file unreadable or gone by the time it is read, a folder nested past the longest
path the system takes, a playlist or an archive named as a recording, a sidecar naming a file:// page. Each is one
failed line (or refused detail), and the run goes on with the rest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from tqdm import tqdm

from tests.helpers import DATA, ROOT

# What these check does not depend on the embedding model (conftest's light_embedding).
pytestmark = pytest.mark.usefixtures("light_embedding")

FAST = ["--whisper-model", "tiny.en"]


def _sources(tmp_path: Path):
    from talksearch.indexer.sources import Sources

    return Sources(tmp_path / "downloads", lambda key: False)


def _listed(sources, folder: Path) -> list:
    from talksearch.indexer.fetching import list_candidates

    return list(list_candidates(sources, [str(folder)], tqdm(disable=True, total=0)))


@pytest.mark.unit
def test_a_file_gone_between_listing_and_reading_fails_alone(tmp_path):
    """Its archive key (its content's digest) was read outside the fetch's handling of OSError: the whole run ended
    on "error: No such file or directory", the folder's other talks never indexed."""
    from talksearch.indexer.fetching import Outcome, fetch_once

    folder = tmp_path / "talks"
    folder.mkdir()
    shutil.copy(DATA / "t01.ogg", folder / "ok.ogg")
    shutil.copy(DATA / "t02.ogg", folder / "vanishing.ogg")
    sources = _sources(tmp_path)
    candidates = _listed(sources, folder)
    (folder / "vanishing.ogg").unlink()
    outcomes = {Path(c.label).name: fetch_once(sources, c, set()) for c in candidates}
    gone = outcomes["vanishing.ogg"]
    assert isinstance(gone, Outcome) and (gone.status, gone.detail) == ("failed", "no such file or directory"), gone
    assert not isinstance(outcomes["ok.ogg"], Outcome), outcomes["ok.ogg"]


def _nest(top: Path, depth: int, name: str = "d" * 10) -> None:
    """``depth`` folders one inside the other under ``top``: made through directory descriptors, as no single path
    may name the deepest ones."""
    fd = os.open(top, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
    finally:
        os.close(fd)


@pytest.mark.unit
def test_a_folder_nested_past_the_longest_path_is_one_failed_line(tmp_path):
    """Path.rglob raised ENAMETOOLONG out of the listing: the whole run ended with a 5,000-character message. Now the
    folder that cannot be listed is one failed line, its path shortened, and the reachable talks are listed."""
    from talksearch.indexer.fetching import Outcome
    from talksearch.indexer.sources import Candidate

    folder = tmp_path / "talks"
    folder.mkdir()
    shutil.copy(DATA / "t01.ogg", folder / "top.ogg")
    _nest(folder, 450)
    listed = _listed(_sources(tmp_path), folder)
    assert [c.path for c in listed if isinstance(c, Candidate)] == [folder / "top.ogg"], listed
    failed = [c for c in listed if isinstance(c, Outcome)]
    assert len(failed) == 1 and failed[0].status == "failed", failed
    assert failed[0].detail == "file name too long" and len(failed[0].label) < 200, failed[0]
    assert failed[0].label.startswith(str(folder)) and "…" in failed[0].label, failed[0].label


@pytest.mark.unit
def test_an_unreadable_folder_inside_is_one_failed_line(tmp_path):
    """rglob left a folder it could not list out unsaid; os.walk's error names it. (As root every folder can be
    read: the error is brought about by the walk's listing failing for that folder.)"""
    from talksearch.indexer.fetching import Outcome
    from talksearch.indexer.sources import Candidate

    folder = tmp_path / "talks"
    (folder / "locked").mkdir(parents=True)
    shutil.copy(DATA / "t01.ogg", folder / "ok.ogg")
    shutil.copy(DATA / "t02.ogg", folder / "locked" / "hidden.ogg")
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(os.fsdecode(path)).name == "locked":
            raise PermissionError(13, "Permission denied", os.fsdecode(path))
        return real_scandir(path)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "scandir", scandir)
        listed = _listed(_sources(tmp_path), folder)
    assert [c.path for c in listed if isinstance(c, Candidate)] == [folder / "ok.ogg"], listed
    assert [(o.label, o.detail) for o in listed if isinstance(o, Outcome)] == [
        (str(folder / "locked"), "permission denied")], listed


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)


@pytest.mark.unit
def test_a_playlist_or_an_archive_named_as_a_recording_is_refused(tmp_path):
    """Opened by ffmpeg as whatever it probes as, a local HLS playlist had it read a file the user never named, and
    a tar named .mp4 became a talk /media refuses: both are refused before any decoding, as /media refuses them."""
    from talksearch.indexer.sources import SourceError, _require_recording

    elsewhere = tmp_path / "elsewhere.ts"
    _ffmpeg("-i", str(DATA / "t01.ogg"), "-t", "3", "-c:a", "mp2", "-f", "mpegts", str(elsewhere))
    playlist = tmp_path / "talk.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3,\n{elsewhere}\n#EXT-X-ENDLIST\n")
    named_mp3 = tmp_path / "talk.mp3"
    shutil.copy(playlist, named_mp3)
    archive = tmp_path / "archive.mp4"
    subprocess.run(["tar", "-cf", str(archive), "-C", str(DATA), "t01.ogg"], check=True)
    for refused in (playlist, named_mp3, archive):
        with pytest.raises(SourceError, match=r"^not readable as audio or video \(not a recording of a type "
                                              r"talksearch plays\)$"):
            _require_recording(refused)
    for played in (DATA / "t01.ogg", DATA / "hushed-by-prompt.mp3", elsewhere):
        _require_recording(played)


@pytest.mark.unit
def test_a_sidecar_page_that_is_no_web_page_is_not_the_talks_link(tmp_path):
    """A sidecar's "webpage_url": "file:///etc/passwd" became the talk's link; only an http(s) page is taken."""
    from talksearch.indexer.sources import Candidate

    sources = _sources(tmp_path)
    for page, link in (("file:///etc/passwd", None), ("javascript:alert(1)", None), ("http://[::1", None),
                       ("https://example.org/talk", "https://example.org/talk")):
        recording = tmp_path / "talk.ogg"
        shutil.copy(DATA / "t01.ogg", recording)
        recording.with_suffix(".info.json").write_text(f'{{"title": "T", "webpage_url": "{page}", "url": "{page}"}}')
        fetched = sources.fetch(Candidate(str(recording), str(recording), path=recording))
        assert fetched.talk.url == (link or recording.as_uri()), (page, fetched.talk.url)
        assert fetched.talk.media_url == recording.as_uri()


@pytest.mark.models
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="runs the CLI as nobody through setpriv, which needs root")
def test_an_unreadable_file_fails_alone_and_the_rest_is_indexed():
    """`talksearch index f`, as a user who cannot read f/secret.wav (chmod 000): the run ended "error: Permission
    denied", ok.ogg never indexed and the new library removed. Run as nobody (root reads a chmod 000 file)."""
    scratch = Path(tempfile.mkdtemp(prefix="talksearch-walk-"))
    try:
        scratch.chmod(0o777)  # nobody makes its library here
        folder = scratch / "f"
        folder.mkdir()
        folder.chmod(0o755)
        shutil.copy(DATA / "t01.ogg", folder / "ok.ogg")
        (folder / "ok.ogg").chmod(0o644)
        shutil.copy(DATA / "t02.ogg", folder / "secret.wav")
        (folder / "secret.wav").chmod(0)
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "talksearch.cli",
             "index", str(folder), "--library", str(scratch / "lib"), *FAST],
            capture_output=True, text=True, cwd=ROOT, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        lines = result.stdout.splitlines()
        assert result.returncode == 1, (result.stdout, result.stderr)
        assert f"failed  {folder / 'secret.wav'}: permission denied" in lines, (result.stdout, result.stderr)
        assert any(line.startswith(f"added   {folder / 'ok.ogg'}") or line.startswith("added   ok") for line in lines), \
            (result.stdout, result.stderr)
        assert (scratch / "lib").is_dir()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

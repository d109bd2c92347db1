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
            capture_output=True, text=True, cwd=ROOT, timeout=600,
            # nobody's own model cache: the default is HOME's, and setpriv keeps HOME=/root (mode 700 in CI)
            env={**os.environ, "HF_HUB_OFFLINE": "1", "TALKSEARCH_MODEL_CACHE": str(scratch / "cache")})
        lines = result.stdout.splitlines()
        assert result.returncode == 1, (result.stdout, result.stderr)
        assert f"failed  {folder / 'secret.wav'}: permission denied" in lines, (result.stdout, result.stderr)
        assert any(line.startswith(f"added   {folder / 'ok.ogg'}") or line.startswith("added   ok") for line in lines), \
            (result.stdout, result.stderr)
        assert (scratch / "lib").is_dir()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _candidates(listed: list) -> list[Path]:
    from talksearch.indexer.sources import Candidate

    return [c.path for c in listed if isinstance(c, Candidate)]


@pytest.mark.unit
def test_a_link_to_a_folder_elsewhere_is_walked(tmp_path):
    """A lab's folder of links to its NAS shares: os.walk did not follow links to folders, and the linked recordings
    were left out without a word (a hostile-folders hunt). They are walked, as `find -L` does."""
    from talksearch.indexer.fetching import Outcome

    folder, elsewhere = tmp_path / "talks", tmp_path / "nas" / "recordings"
    folder.mkdir()
    (elsewhere / "day1").mkdir(parents=True)
    shutil.copy(DATA / "t01.ogg", folder / "own.ogg")
    shutil.copy(DATA / "t02.ogg", elsewhere / "day1" / "linked.ogg")
    (folder / "more").symlink_to(elsewhere)
    listed = _listed(_sources(tmp_path), folder)
    assert _candidates(listed) == [folder / "more" / "day1" / "linked.ogg", folder / "own.ogg"], listed
    assert not [o for o in listed if isinstance(o, Outcome)], listed


@pytest.mark.unit
def test_a_link_loop_ends_and_each_recording_is_indexed_once(tmp_path):
    """talks/a/up -> talks, a linked share that links back (nas/back -> talks), links to an ancestor and to a folder
    walked: each real folder is walked once (a link back to one walked, or to an ancestor, skipped without a word); a
    library inside is not walked, reached by a link either; two links to one file are one recording, taken once."""
    from talksearch.indexer.fetching import Outcome, fetch_once
    from talksearch.library.layout import CATALOG

    folder = tmp_path / "talks"
    (folder / "a").mkdir(parents=True)
    shutil.copy(DATA / "t01.ogg", folder / "top.ogg")
    shutil.copy(DATA / "t02.ogg", folder / "a" / "inner.ogg")
    (folder / "a" / "up").symlink_to(folder)
    (folder / "a" / "root").symlink_to(tmp_path)
    (folder / "a" / "again").symlink_to(folder / "a")
    (folder / "same.ogg").symlink_to(folder / "top.ogg")
    library = tmp_path / "library"
    (library / "media").mkdir(parents=True)
    (library / CATALOG).touch()
    shutil.copy(DATA / "t01.ogg", library / "media" / "kept.ogg")
    (folder / "lib").symlink_to(library)
    (folder / "kept").symlink_to(library / "media")
    share = tmp_path / "share"
    share.mkdir()
    shutil.copy(DATA / "lab-seminar-47s.ogg", share / "shared.ogg")
    (share / "back").symlink_to(folder)
    (folder / "nas").symlink_to(share)
    sources = _sources(tmp_path)
    listed = _listed(sources, folder)
    assert _candidates(listed) == [folder / "a" / "inner.ogg", folder / "nas" / "shared.ogg", folder / "same.ogg",
                                   folder / "top.ogg"], listed
    assert not [o for o in listed if isinstance(o, Outcome)], listed
    seen: set[str] = set()
    outcomes = [fetch_once(sources, c, seen) for c in listed]
    assert len(seen) == 3, outcomes
    assert [(o.status, o.detail) for o in outcomes if isinstance(o, Outcome)] == [
        ("skipped", "listed twice in this run")], outcomes


@pytest.mark.unit
def test_a_huge_file_that_is_no_recording_is_refused_unread(tmp_path):
    """A sparse 2 GB file named .mp4 (`truncate -s 2G`) was read whole twice, its digest taken for its archive key
    and again by its fetch, before its first bytes refused it (127 s for 5 GB). Its start is looked at first, and a
    recording is read whole once a run."""
    from talksearch.indexer import sources as sources_module
    from talksearch.indexer.fetching import Outcome, fetch_once

    folder = tmp_path / "talks"
    folder.mkdir()
    shutil.copy(DATA / "t01.ogg", folder / "ok.ogg")
    with open(folder / "big.mp4", "wb") as big:  # sparse: no disk used
        big.truncate(2 << 30)
    digested: list[str] = []
    real_digest = sources_module._file_digest

    def file_digest(path):
        digested.append(Path(path).name)
        assert Path(path).name != "big.mp4", "big.mp4 read whole"
        return real_digest(path)

    sources = _sources(tmp_path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sources_module, "_file_digest", file_digest)
        outcomes = {Path(c.label).name: fetch_once(sources, c, set()) for c in _listed(sources, folder)}
    big = outcomes["big.mp4"]
    assert isinstance(big, Outcome) and (big.status, big.detail) == (
        "failed", "not readable as audio or video (not a recording of a type talksearch plays)"), big
    assert not isinstance(outcomes["ok.ogg"], Outcome), outcomes["ok.ogg"]
    assert digested == ["ok.ogg"], digested


@pytest.mark.unit
def test_an_audio_stream_of_0_hz_is_refused_as_no_recording(tmp_path):
    """A Matroska file whose audio stream states a sample rate of 0 Hz: PyAV opens it and lists the stream, so it was
    taken, and its transcription failed with "not readable as audio (ArgumentError: Invalid argument:
    'avcodec_open2("pcm_s16le", {})' returned 22)" (with captions beside it, it was indexed and served as media)."""
    import struct

    from talksearch.indexer.fetching import Outcome, fetch_once
    from talksearch.indexer.sources import Candidate

    recording = tmp_path / "zero.mka"
    _ffmpeg("-i", str(DATA / "t01.ogg"), "-t", "3", "-c:a", "pcm_s16le", str(recording))
    written = bytearray(recording.read_bytes())
    rate_at = written.index(b"\xb5\x88") + 2  # SamplingFrequency, an 8-byte float
    written[rate_at:rate_at + 8] = struct.pack(">d", 0.0)
    recording.write_bytes(written)
    outcome = fetch_once(_sources(tmp_path), Candidate(str(recording), str(recording), path=recording), set())
    assert isinstance(outcome, Outcome) and (outcome.status, outcome.detail) == (
        "failed", "not readable as audio or video (its audio states a sample rate of 0 Hz)"), outcome


@pytest.mark.unit
def test_the_librarys_own_kept_recordings_are_not_indexed_into_it_again(tmp_path):
    """`talksearch index LIB/media --library LIB` made each kept recording a new talk beside the one it is kept for
    (a hostile-folders hunt): its archive key is the file's digest, not its URL's. Refused, a folder or a file, and
    through a link; another library's media is anyone's recordings."""
    from talksearch.indexer.fetching import Outcome
    from talksearch.indexer.sources import Sources

    library, other = tmp_path / "lib", tmp_path / "other"
    for media in (library / "media", other / "media"):
        media.mkdir(parents=True)
        shutil.copy(DATA / "t01.ogg", media / "kept.ogg")
    (tmp_path / "link").symlink_to(library / "media")
    sources = Sources(library / "downloads", lambda key: False)
    for given in (library / "media", library / "media" / "kept.ogg", tmp_path / "link"):
        listed = _listed(sources, given)
        assert [(o.status, o.detail) for o in listed if isinstance(o, Outcome)] == [("failed", (
            "the library's own recordings (its media/ or downloads/): their talks are in it already"))], listed
    assert _candidates(_listed(sources, other / "media")) == [other / "media" / "kept.ogg"]


@pytest.mark.unit
def test_a_link_to_a_folder_inside_is_walked_at_the_folders_own_path(tmp_path):
    """`current -> a/b/2024` beside the tree it points into: the shallower link was walked first and the real folder
    skipped, so the talk was recorded at current/talk.ogg, and once `current` was re-pointed to 2025 /media served
    2025's recording for the 2024 talk (a reviewer's hunt). Links into the folder are left to the folders' walk."""
    folder = tmp_path / "tree"
    for year, talk in (("2024", "t02.ogg"), ("2025", "t01.ogg")):
        (folder / "a" / "b" / year).mkdir(parents=True)
        shutil.copy(DATA / talk, folder / "a" / "b" / year / "talk.ogg")
    (folder / "current").symlink_to(folder / "a" / "b" / "2024")
    assert _candidates(_listed(_sources(tmp_path), folder)) == [
        folder / "a" / "b" / "2024" / "talk.ogg", folder / "a" / "b" / "2025" / "talk.ogg"]


@pytest.mark.unit
def test_a_library_given_as_a_source_is_said_to_be_one(tmp_path):
    """The library itself, or another one, given as a folder to index: "no audio or video files in this folder"
    (its walk skips a library whole), though its media/ held recordings (a reviewer's hunt)."""
    from talksearch.indexer.fetching import Outcome
    from talksearch.indexer.sources import Sources
    from talksearch.library.layout import CATALOG

    library, other = tmp_path / "lib", tmp_path / "other"
    for made in (library, other):
        (made / "media").mkdir(parents=True)
        (made / CATALOG).touch()
        shutil.copy(DATA / "t01.ogg", made / "media" / "kept.ogg")
    (tmp_path / "link").symlink_to(library)
    sources = Sources(library / "downloads", lambda key: False)

    def said(given: Path) -> list[tuple[str, str]]:
        return [(o.status, o.detail) for o in _listed(sources, given) if isinstance(o, Outcome)]

    assert said(library) == said(tmp_path / "link") == [("failed", "the library itself: its talks are in it already")]
    assert said(other) == [("failed", "a talksearch library: its recordings are not indexed from it (name its media/ "
                                      "folder to index those it kept into this one)")]


@pytest.mark.unit
def test_the_librarys_kept_folders_are_told_by_device_and_inode(tmp_path):
    """A bind mount of the library's media/ inside a folder, or given itself, is another path to the same folder:
    compared by path it was walked, and each kept recording became a new talk (a reviewer's hunt). The walk skips
    the folders it is given by (st_dev, st_ino), and a source within them is refused (a link stands in here for the
    mount, which needs root: both are the same folder by device and inode)."""
    from talksearch.indexer.sources import Sources, _walk

    library, folder = tmp_path / "lib", tmp_path / "talks"
    (library / "media").mkdir(parents=True)
    folder.mkdir()
    shutil.copy(DATA / "t01.ogg", library / "media" / "kept.ogg")
    shutil.copy(DATA / "t02.ogg", folder / "own.ogg")
    (folder / "shares").symlink_to(library / "media")
    media = (library / "media").stat()
    files, _ = _walk(folder, skip={(media.st_dev, media.st_ino)})
    assert files == [folder / "own.ogg"]
    assert Sources(library / "downloads", lambda key: False)._library_keeps(folder / "shares" / "kept.ogg")

"""Taking a talk out of a library from the command line (``talksearch remove``) and letting one back
(``talksearch restore``): the real CLI over a library indexed from the loopback feed with whisper tiny.en."""

from __future__ import annotations

import pytest

from tests.helpers import talksearch

pytestmark = pytest.mark.models  # a real library, indexed with a bundled whisper


def _talk_ids(library) -> dict[str, str]:
    listed = talksearch("talks", "--library", str(library))
    assert listed.returncode == 0, listed.stderr
    return {line.split()[-1]: line.split()[0] for line in listed.stdout.splitlines()[:-1]}  # last title word -> id


def test_a_removed_talk_comes_back_alone_when_restored(media_server, tmp_path, light_embedding):
    library = tmp_path / "library"

    def index() -> list[str]:
        run = talksearch("index", media_server.url("feed.xml"), "--library", str(library), "--whisper-model", "tiny.en")
        assert run.returncode == 0, run.stdout + run.stderr
        return [line for line in run.stdout.splitlines() if line.startswith(("added", "skipped"))]

    assert [line.split()[0] for line in index()] == ["added", "added"]
    assert list((library / "downloads").glob("*")) == []  # each talk's transcription log gone with its work done
    ids = _talk_ids(library)
    gone, kept = sorted(ids.values())

    removed = talksearch("remove", gone, "no-such-talk", "no-such-talk", "--library", str(library))
    assert removed.returncode == 1
    assert removed.stdout.startswith(f"removed {gone} (") and "a later run of its source skips it" in removed.stdout
    assert removed.stderr.strip().splitlines() == ["error: no talk 'no-such-talk' in the library (see: talksearch talks)"]
    again = talksearch("remove", gone, "--library", str(library))
    assert again.returncode == 1 and again.stderr.startswith(f"error: '{gone}' was removed from the library on 20")
    assert sorted(_talk_ids(library).values()) == [kept]

    lines = index()
    assert any(line.startswith("skipped") and "removed from this library on " in line
               and line.endswith(f"; `talksearch restore {gone} --library {library}` lets the next run add it back") for line in lines), lines

    restored = talksearch("restore", gone, "--library", str(library))
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.startswith(f"{gone}, removed on ") and "the next run of its source adds it back" in restored.stdout
    again = talksearch("restore", gone, kept, "nothing", "--library", str(library))  # restored already; in it; none
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr.strip() == (f"error: '{gone}': no such talk was removed from the library; '{kept}' is in the "
                                    "library: nothing to restore; 'nothing': no such talk was removed from the library")

    lines = index()  # the removed talk alone is transcribed again; the other is skipped as the library has it
    assert sorted(line.split()[0] for line in lines) == ["added", "skipped"], lines
    assert any(line.startswith("added") and f"({gone}, " in line for line in lines), lines
    assert any(line.startswith("skipped") and "already in the library" in line for line in lines), lines
    assert sorted(_talk_ids(library).values()) == sorted([gone, kept])

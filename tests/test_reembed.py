"""`talksearch reembed OLD --library NEW`: a library made from another with another embedding model, from the
transcripts the old one stores (nothing transcribed again), through the real CLI, whisper and embedding models."""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import asdict
from pathlib import Path

import pytest

from talksearch.embedding import WITH_OTHER_LANGUAGES
from talksearch.library import Library, record_time
from talksearch.settings import default
from tests.helpers import DATA, TRUTH, scratch, talksearch

pytestmark = pytest.mark.models

MINI = "all-MiniLM-L6-v2"
TWO = "all-mpnet-base-v2+all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def old_library() -> Path:
    """t01 and t02, transcribed by tiny.en and embedded with MiniLM alone."""
    folder = scratch("talksearch-reembed-")
    for name in ("t01.ogg", "t02.ogg"):
        shutil.copy(DATA / name, folder / name)
    library = folder / "old"
    result = talksearch("index", str(folder / "t01.ogg"), str(folder / "t02.ogg"), "--library", str(library),
                        "--whisper-model", "tiny.en",
                        "--embed-model", MINI, "--captions", "never")
    assert result.returncode == 0, result.stderr
    return library


def _files(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _stored(library: Path) -> tuple[str | None, list[dict], dict[str, list], int]:
    """The library's model, its talks' records (less the model), each talk's sentences, and its passage count."""
    with Library.open(library, readonly=True) as opened:
        talks = opened.talks()
        records = [{k: v for k, v in asdict(t).items() if k != "embed_model"} for t in talks]
        return (opened.embed_model, records, {t.id: opened.segments(t.id) for t in talks},
                opened.count_passages())


def _passage_ids(library: Path) -> dict[str, set[int]]:
    with sqlite3.connect(library / "catalog.sqlite") as db:
        rows = db.execute("SELECT talk_id, id FROM passages").fetchall()
    db.close()
    ids: dict[str, set[int]] = {}
    for talk, passage in rows:
        ids.setdefault(talk, set()).add(passage)
    return ids


def test_a_library_is_made_again_with_another_model_from_the_transcripts(old_library, tmp_path):
    before = _files(old_library)
    new = tmp_path / "new"
    result = talksearch("reembed", str(old_library), "--library", str(new))  # the default model: reads every language
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and "2 added, 0 skipped, 0 failed;" in lines[-1]
    added = next(line for line in lines if line.startswith("added   t01 ("))  # (a local file: named by its name)
    assert f", re-embedded from {old_library}, " in added and added.endswith(" passages)")

    old_model, old_talks, old_sentences, old_passages = _stored(old_library)
    new_model, new_talks, new_sentences, new_passages = _stored(new)
    assert old_model == MINI and new_model == default("embed_model") == WITH_OTHER_LANGUAGES
    assert new_talks == old_talks and new_sentences == old_sentences
    assert new_passages == old_passages
    assert _files(old_library) == before  # only read

    found = json.loads(talksearch("search", "checkpoints are written to an object storage bucket",
                                  "--library", str(new), "--json").stdout)["results"][0]
    assert "bucket" in found["text"]
    assert abs(found["start"] - TRUTH["t01"]["sentences"][1]["start"]) <= 3.0

    again = talksearch("reembed", str(old_library), "--library", str(new))
    assert again.returncode == 0, again.stderr
    assert [line[:8] for line in again.stdout.splitlines()[:2]] == ["skipped "] * 2
    assert "already in the library" in again.stdout and "0 added, 2 skipped, 0 failed;" in again.stdout
    assert "h of audio" not in lines[-1] and " 2 talks (" in lines[-1]  # nothing transcribed: what was embedded
    assert f"2 talks ({new_passages} passages) re-embedded in " in lines[-1], lines[-1]


def test_a_re_run_brings_the_new_library_up_to_the_old_one(old_library, tmp_path):
    """OLD served on while NEW is made, then caught up by running again: a talk retitled in OLD since (its feed
    said so) is retitled in NEW, and one taken down from OLD is named, not removed (NEW may have talks of its own)."""
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(old_library, old)
    first = talksearch("reembed", str(old), "--library", str(new), "--embed-model", MINI)
    assert first.returncode == 0, first.stderr
    _, _, _, passages = _stored(new)
    added = next(line for line in first.stdout.splitlines() if line.startswith("added   t01 ("))
    t01_passages = int(added.rsplit(", ", 1)[1].removesuffix(" passages)"))
    embedded_first = _passage_ids(new)
    with Library.open(old) as opened:  # as `talksearch index FEED` restates a talk, and `DELETE /api/talks/{id}`
        opened.acquire_writer()
        t01, t02 = sorted(opened.talks(), key=lambda t: t.title)
        assert opened.update_talk_details(t01.id, {"title": "Checkpoints in buckets", "speakers": ["Ada"]})
        assert opened.delete_talk(t02.id)

    caught_up = talksearch("reembed", str(old), "--library", str(new), "--embed-model", MINI)
    assert caught_up.returncode == 0, caught_up.stderr
    lines = caught_up.stdout.splitlines()
    assert lines[0] == (f"updated Checkpoints in buckets: details changed (title, speakers); transcript kept; its "
                        f"{t01_passages} passages embedded again after its new title"), lines
    assert lines[1] == (f"not in {old} (removed from {old} on {record_time()[:10]}): t02 ({t02.id}): kept; "
                        f"remove it with DELETE /api/talks/{t02.id} "
                        f"(talksearch serve --library {new}, TALKSEARCH_ADMIN_TOKEN set)"), lines
    assert lines[-1].startswith("0 added, 1 updated, 0 skipped, 0 failed, 1 not in OLD; 1 talk ("), lines
    model, talks, _, now = _stored(new)
    assert model == MINI and now == passages
    embedded_now = _passage_ids(new)  # t01's passages embedded again, after its new title: new vectors, new ids
    assert embedded_now[t02.id] == embedded_first[t02.id] and not embedded_now[t01.id] & embedded_first[t01.id]
    titled = {t["title"]: t for t in talks}
    assert sorted(titled) == ["Checkpoints in buckets", "t02"]
    assert titled["Checkpoints in buckets"]["speakers"] == ["Ada"]
    # its details changed in NEW too (its feed entry's <updated> follows); t02's never did
    assert titled["Checkpoints in buckets"]["details_changed_at"] is not None
    assert titled["t02"]["details_changed_at"] is None
    found = json.loads(talksearch("search", "checkpoints are written to an object storage bucket",
                                  "--library", str(new), "--json").stdout)["results"][0]
    assert found["talk"]["title"] == "Checkpoints in buckets"

    again = talksearch("reembed", str(old), "--library", str(new), "--embed-model", MINI)
    assert again.returncode == 0, again.stderr
    # named by the title NEW holds (OLD's retitled one, made NEW's above)
    assert again.stdout.splitlines()[0] == "skipped Checkpoints in buckets: already in the library", again.stdout
    assert "0 added, 1 skipped, 0 failed, 1 not in OLD; 0 talks (0 passages) re-embedded in " in again.stdout


def test_a_talk_taken_down_from_old_stays_taken_down_in_new(old_library, tmp_path):
    """DELETE /api/talks records the removal, so that a re-run of the talk's source skips it: the library made again
    keeps that record, or a feed indexed into it would bring the talk back."""
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(old_library, old)
    with Library.open(old) as opened:
        opened.acquire_writer()
        t02 = next(t for t in opened.talks() if t.title == "t02")
        assert opened.delete_talk(t02.id)
    made = talksearch("reembed", str(old), "--library", str(new), "--embed-model", MINI)
    assert made.returncode == 0, made.stderr
    with Library.open(new) as opened:
        assert opened.removed_on(t02.archive_id) and opened.talk(t02.id) is None
    again = talksearch("index", str(old_library.parent / "t02.ogg"), "--library", str(new), "--whisper-model", "tiny.en",
                       "--embed-model", MINI, "--captions", "never")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"skipped {old_library.parent / 't02.ogg'}: removed from this library on "), again.stdout


def test_a_talk_whose_chapters_alone_changed_keeps_its_vectors(old_library, tmp_path):
    """Passages are embedded after the talk's title alone (``PassageOptions.context``, "title"): a talk whose
    chapters changed in OLD since gets them in NEW, its passages kept as embedded (they were embedded again, after
    text that had not changed: new vectors, new ids, the time of a talk's embedding for nothing)."""
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(old_library, old)
    assert talksearch("reembed", str(old), "--library", str(new), "--embed-model", MINI).returncode == 0
    embedded_first = _passage_ids(new)
    chapters = [{"start_time": 0, "end_time": 5, "title": "Checkpoints"}]
    with Library.open(old) as opened:  # as `talksearch index` restates a talk whose source's chapters changed
        opened.acquire_writer()
        t01 = next(talk for talk in opened.talks() if talk.title == "t01")
        assert opened.update_talk_details(t01.id, {"chapters": chapters}) == ["chapters"]

    caught_up = talksearch("reembed", str(old), "--library", str(new), "--embed-model", MINI)
    assert caught_up.returncode == 0, caught_up.stderr
    lines = caught_up.stdout.splitlines()
    assert lines[0] == "updated t01: details changed (chapters); transcript kept", lines
    assert "0 talks (0 passages) re-embedded in " in lines[-1], lines
    assert _passage_ids(new) == embedded_first
    with Library.open(new, readonly=True) as opened:
        assert opened.talk(t01.id).chapters == chapters


def test_a_talk_that_cannot_be_re_embedded_does_not_stop_the_others(old_library, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(old_library, damaged)
    with sqlite3.connect(damaged / "catalog.sqlite") as db:  # t01's words, edited by hand into something unreadable
        db.execute("UPDATE segments SET words = 'not json' WHERE talk_id = (SELECT id FROM talks WHERE title = 't01')")
    db.close()
    result = talksearch("reembed", str(damaged), "--library", str(tmp_path / "new"))
    assert result.returncode == 1 and not result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("failed  t01: not re-embedded: JSONDecodeError") for line in lines), lines
    assert any(line.startswith("added   t02 (") for line in lines) and "1 added, 0 skipped, 1 failed;" in lines[-1]
    _, talks, _, _ = _stored(tmp_path / "new")
    assert [t["title"] for t in talks] == ["t02"]


def test_what_cannot_be_re_embedded_is_refused_in_one_line_with_nothing_written(old_library, tmp_path):
    before = _files(old_library)
    (tmp_path / "plain").mkdir()
    refusals = {
        "the same library": (old_library, old_library, [], "is the library to make"),
        "no library there": (tmp_path / "missing", tmp_path / "new", [], "no library at"),
        "a folder, not a library": (tmp_path / "plain", tmp_path / "new", [], "no library at"),
        "made with another model": (old_library, old_library.parent / "old-again", ["--embed-model", TWO],
                                    f"or move it to {TWO} with talksearch reembed "),
    }
    # a library made with MiniLM, asked for the two models side by side: the library's own refusal
    shutil.copytree(old_library, old_library.parent / "old-again", dirs_exist_ok=True)
    made_before = _files(old_library.parent / "old-again")
    for what, (old, new, flags, said) in refusals.items():
        result = talksearch("reembed", str(old), "--library", str(new), *flags)
        assert result.returncode == 1, what
        assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: "), (what, result.stderr)
        assert said is None or said in result.stderr, (what, result.stderr)
        assert not (tmp_path / "new").exists(), what
    assert "was built with embedding model" in result.stderr and "--library NEW --embed-model " in result.stderr
    assert _files(old_library.parent / "old-again") == made_before
    assert _files(old_library) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]

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
                        f"remove it with `talksearch remove {t02.id} --library {new}` (or DELETE /api/talks/{t02.id} "
                        "on its talksearch serve, TALKSEARCH_ADMIN_TOKEN set)"), lines
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
    # the way back it names works as printed (it named no library: "error: no library at library")
    restore = again.stdout.splitlines()[0].split("; `")[1].removesuffix("` lets the next run add it back")
    assert restore == f"talksearch restore {t02.id} --library {new}", again.stdout
    assert talksearch(*restore.split()[1:]).returncode == 0


def test_a_talk_whose_chapters_alone_changed_keeps_its_vectors(old_library, tmp_path):
    """Passages are embedded after the talk's title alone (``PassageOptions.context``, "title"): a talk whose
    chapters changed in OLD since gets them in NEW, its passages kept as embedded where the chapters cut them as
    before (they were embedded again, after text that had not changed: new vectors, new ids, the time of a talk's
    embedding for nothing); made again where they cut them otherwise."""
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(old_library, old)
    assert talksearch("reembed", str(old), "--library", str(new), "--embed-model", MINI).returncode == 0
    embedded_first = _passage_ids(new)
    chapters = [{"start_time": 0, "end_time": None, "title": "Checkpoints"}]  # one chapter, the whole talk
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

    # ... while chapters that cut its sentences otherwise (a window never runs past a chapter's start) have its
    # passages made again
    cutting = [{**chapters[0], "end_time": 7}, {"start_time": 7, "end_time": None, "title": "Uploads"}]
    with Library.open(old) as opened:
        opened.acquire_writer()
        assert opened.update_talk_details(t01.id, {"chapters": cutting}) == ["chapters"]
    recut = talksearch("reembed", str(old), "--library", str(new), "--embed-model", MINI)
    assert recut.returncode == 0, recut.stderr
    line = recut.stdout.splitlines()[0]
    assert line.startswith("updated t01: details changed (chapters); transcript kept; its "), line
    assert line.endswith(" passages embedded again after its new chapters"), line
    with Library.open(new, readonly=True) as opened:
        windows = [p for p in opened.passages_within(t01.id, 0, 1e9) if p.kind == "window"]
    assert windows and not [w for w in windows if w.start < 6.5 and w.end > 8], windows


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


def _captioned(folder: Path, name: str, sample: str, edit: str = "") -> Path:
    """The test recording ``sample`` at ``folder/name.ogg`` with its captions beside it (``edit`` closing each cue's
    sentence; for a sample with no truth, one cue): indexed from them, nothing transcribed."""
    folder.mkdir(parents=True, exist_ok=True)
    recording = folder / f"{name}.ogg"
    shutil.copy(DATA / f"{sample}.ogg", recording)
    cues = [f"00:00:{int(s['start']):02d}.000 --> 00:00:{int(s['end']):02d}.000\n{s['text'].rstrip('.')}{edit}."
            for s in TRUTH[sample]["sentences"]] if sample in TRUTH else ["00:00:00.000 --> 00:00:01.000\nSilence."]
    (folder / f"{name}.en.vtt").write_text("WEBVTT\n\n" + "\n\n".join(cues) + "\n")
    return recording


def _index(library: Path, *sources: Path, reindex: bool = False) -> list[str]:
    """One `talksearch index` run into ``library`` by the real indexer (MiniLM): its outcome lines."""
    from talksearch.indexer.pipeline import IndexRun
    from tests.service_fixtures import settings_for

    lines: list[str] = []
    run = IndexRun(settings_for(library, embed_model=MINI), report=lines.append, reindex=reindex)
    try:
        run.run([str(source) for source in sources])
    finally:
        run.close()
    return lines


def test_a_re_run_follows_what_old_indexed_again(tmp_path):
    """A talk transcribed again in OLD (--reindex), a local file OLD followed to where it moved, and a recording
    replaced at its path in OLD (a new talk there, the earlier one retired): a re-run compared only the details
    a source restates, so NEW kept the earlier transcript, the old path (no player, /media 404) and both talks."""
    old, new, folder = tmp_path / "old", tmp_path / "new", tmp_path / "talks"
    a, b = _captioned(folder, "a", "t01"), _captioned(folder, "b", "t02")
    _index(old, a, b)
    assert talksearch("reembed", str(old), "--library", str(new), "--embed-model", MINI).returncode == 0
    embedded_first = _passage_ids(new)

    _captioned(folder, "a", "t01", edit=" indeed")  # its captions corrected, indexed again
    [line] = _index(old, a, reindex=True)
    assert "replacing the earlier transcript" in line, line
    moved = folder / "moved"
    moved.mkdir()
    for file in folder.glob("b.*"):
        file.rename(moved / file.name)
    [line] = _index(old, moved / "b.ogg")
    assert "(moved from " in line, line
    with Library.open(old, readonly=True) as opened:
        talk_a, talk_b = sorted(opened.talks(), key=lambda t: t.title)
        sentences_a = opened.segments(talk_a.id)

    caught_up = talksearch("reembed", str(old), "--library", str(new), "--embed-model", MINI)
    assert caught_up.returncode == 0, caught_up.stderr
    lines = caught_up.stdout.splitlines()
    assert lines[0].startswith(f"added   a ({talk_a.id}, re-embedded from {old}, ") and lines[0].endswith(
        ", replacing the earlier transcript)"), lines
    assert lines[1] == "updated b: details changed (url, media_url); transcript kept", lines
    assert lines[-1].startswith("1 added, 1 updated, 0 skipped, 0 failed; 1 talk ("), lines
    with Library.open(new, readonly=True) as opened:
        assert opened.segments(talk_a.id) == sentences_a and sentences_a[0].text.endswith("hours indeed.")
        assert opened.talk(talk_a.id).indexed_at == talk_a.indexed_at
        assert (opened.talk(talk_b.id).url, opened.talk(talk_b.id).media_url) == ((moved / "b.ogg").as_uri(),) * 2
    embedded_now = _passage_ids(new)  # a's passages made again from its new sentences; b's kept
    assert not embedded_now[talk_a.id] & embedded_first[talk_a.id]
    assert embedded_now[talk_b.id] == embedded_first[talk_b.id]
    assert "not in " not in caught_up.stdout and "problem" not in talksearch("check", "--library", str(new)).stdout

    _captioned(folder, "a", "silence")  # another recording at a's path: a new talk there, a's retired
    [line] = _index(old, a)
    assert line.startswith("added   a (") and "replacing the earlier transcript" in line, line
    with Library.open(old, readonly=True) as opened:
        [replacing] = [t for t in opened.talks() if t.title == "a"]
    assert replacing.id != talk_a.id
    caught_up = talksearch("reembed", str(old), "--library", str(new), "--embed-model", MINI)
    assert caught_up.returncode == 0, caught_up.stderr
    lines = caught_up.stdout.splitlines()
    assert lines[0].startswith(f"added   a ({replacing.id}, re-embedded from {old}, ") and lines[0].endswith(
        f", replacing the earlier transcript; talk {talk_a.id} (a), recorded at this path, removed: its recording "
        "is no longer there)"), lines
    assert lines[-1].startswith("1 added, 1 skipped, 0 failed; 1 talk ("), lines
    with Library.open(new, readonly=True) as opened:
        assert sorted(t.id for t in opened.talks()) == sorted([replacing.id, talk_b.id])


def test_a_talk_restored_in_old_is_no_longer_removed_in_new(tmp_path):
    """A removal NEW kept from OLD stayed after OLD forgot it (`talksearch restore`): a run of the talk's source
    into NEW skipped it still. NEW's own removals stay."""
    old, new, folder = tmp_path / "old", tmp_path / "new", tmp_path / "talks"
    a, b = _captioned(folder, "a", "t01"), _captioned(folder, "b", "t02")
    _index(old, a, b)
    with Library.open(old) as opened:
        opened.acquire_writer()
        talk_a, talk_b = sorted(opened.talks(), key=lambda t: t.title)
        assert opened.delete_talk(talk_b.id)
    assert talksearch("reembed", str(old), "--library", str(new), "--embed-model", MINI).returncode == 0
    with Library.open(new) as opened:
        opened.acquire_writer()
        assert opened.delete_talk(talk_a.id)  # NEW's own removal
        assert opened.removal_of(talk_b.id) is not None  # kept from OLD

    with Library.open(old) as opened:
        opened.acquire_writer()
        assert opened.forget_removal(talk_b.id)
    again = talksearch("reembed", str(old), "--library", str(new), "--embed-model", MINI)
    assert again.returncode == 0, again.stderr
    lines = again.stdout.splitlines()
    assert lines[0] == f"restored {talk_b.id}: no longer removed from {old}, nor from this library (a run of its " \
                       "source adds it)", lines
    assert lines[1].startswith("skipped a: removed from this library on "), lines  # NEW's own removal holds
    with Library.open(new, readonly=True) as opened:
        assert opened.removal_of(talk_b.id) is None, "restored in OLD, still removed in NEW"
        assert opened.removal_of(talk_a.id) is not None  # NEW's own
    assert _index(new, b)[0].startswith("added   b ("), "a run of its source adds it back"


def test_a_new_library_an_interrupted_run_stored_nothing_in_is_removed(tmp_path, monkeypatch):
    """Ctrl-C or SIGTERM (``cli.Terminated``, a KeyboardInterrupt) while the embedding model loaded, or before the
    first talk was stored, left an empty library (catalog, -wal, -shm, lock): nothing there for a run to resume, it
    passed for a library the user has. One with a talk stored stays, for the next run to go on with."""
    from talksearch.indexer import reembed
    from tests.service_fixtures import settings_for

    old, new = tmp_path / "old", tmp_path / "new"
    _index(old, _captioned(tmp_path / "talks", "a", "t01"), _captioned(tmp_path / "talks", "b", "t02"))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    def run_until_interrupted() -> None:
        """As the CLI runs it: closed as not failed when interrupted (``cli._run_to_end``)."""
        run = reembed.Reembedding(old, settings_for(new, embed_model=MINI), report=lambda line: None)
        try:
            run.run()
        except KeyboardInterrupt:
            pass
        finally:
            run.close()

    with monkeypatch.context() as patch:  # while the model loads
        patch.setattr(reembed.Embedder, "from_settings", interrupted)
        with pytest.raises(KeyboardInterrupt):
            run_until_interrupted()
    assert not new.exists()
    with monkeypatch.context() as patch:  # before the first talk is stored
        patch.setattr(reembed.Reembedding, "_one", interrupted)
        run_until_interrupted()
    assert not new.exists()

    stored = reembed.Reembedding._one
    calls = []

    def second_interrupted(self, talk):
        calls.append(talk)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return stored(self, talk)

    with monkeypatch.context() as patch:  # after one: kept
        patch.setattr(reembed.Reembedding, "_one", second_interrupted)
        run_until_interrupted()
    with Library.open(new, readonly=True) as opened:
        assert opened.count_talks() == 1


def test_a_full_disk_stops_the_run_in_its_own_words(old_library, tmp_path, monkeypatch):
    """SQLite's "database or disk is full" failed each talk in turn ("failed  t01: not re-embedded: OperationalError:
    database or disk is full", and the next the same: an environments hunt), where an OSError's full disk stops the
    run with the CLI's sentence of what to do. Both stop it now, the talks committed before kept."""
    from talksearch.indexer.reembed import Reembedding
    from talksearch.settings import Settings

    def full_disk(self, stored, *args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Reembedding, "_add", full_disk)
    lines: list[str] = []
    run = Reembedding(old_library, Settings(library=tmp_path / "new", embed_model=MINI), report=lines.append)
    try:
        with pytest.raises(sqlite3.OperationalError, match="disk is full"):
            run.run()
    finally:
        run.close()
    assert not [line for line in lines if line.startswith("failed")], lines

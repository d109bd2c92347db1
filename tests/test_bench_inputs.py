"""The benchmarks refuse what they cannot measure (a mistyped set or library, a zero count) in one line, before any
model loads or any work starts: they used to end with a traceback, some only after minutes of transcribing, and
``talksearch serve`` made an empty library at a mistyped path that a later run then measured."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from talksearch.library import Library
from tests.helpers import DATA, ROOT

pytestmark = pytest.mark.unit


def bench(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python bench/SCRIPT ARGS`` as a user runs it. The timeout is short on purpose: a refusal comes before any
    model loads (no_speech.py ran its 72 transcriptions, minutes, before it read the set it was given)."""
    return subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], capture_output=True, text=True,
                          cwd=cwd, timeout=60)


def assert_refused(result: subprocess.CompletedProcess, expected: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in output, output
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1, output
    assert result.stderr.startswith("error: ") and expected in result.stderr, output


@pytest.mark.parametrize("script, args, expected", [
    ("no_speech.py", ["{missing}"], "{missing}: no such folder (a talk set holds truth.json and the talks)"),
    ("indexing.py", ["--talks", "{missing}"], "{missing}: no such folder (a talk set holds truth.json, feed.xml and"),
    ("captions.py", ["--talks", "{missing}"], "{missing}: no such folder (a talk set holds truth.json, feed.xml, "
                                              "corpus.json and the talks)"),
    ("filters_and_pages.py", ["{missing}"], "no library at {missing}"),
    ("load.py", ["--library", "{missing}"], "no library at {missing}"),
    ("expensive_queries.py", ["{missing}"], "no library at {missing}"),
    ("corpus_rules.py", ["{missing}"], "cannot read {missing}: No such file or directory"),
    ("make_talks.py", ["{missing}", "{missing}/talks"], "cannot read {missing}: No such file or directory"),
    ("search_scale.py", ["--passages", "10", "--workdir", "/proc/talksearch-nope"],
     "--workdir /proc/talksearch-nope: cannot write in /proc/talksearch-nope"),
])
def test_a_mistyped_path_is_refused_and_nothing_is_made_there(script, args, expected, tmp_path):
    missing = tmp_path / "nope"
    result = bench(script, *[a.format(missing=missing) for a in args], cwd=tmp_path)
    assert_refused(result, expected.format(missing=missing))
    assert not missing.exists()  # `talksearch serve` used to make an empty library here


@pytest.mark.parametrize("script, args, expected", [
    ("indexing.py", ["--rounds", "0"], "--rounds 0: must be at least 1"),
    ("filters_and_pages.py", ["library", "--pages", "0"], "--pages 0: must be at least 1"),
    ("load.py", ["--clients", "0"], "--clients 0: must be at least 1"),
    ("search_scale.py", ["--passages", "10", "--clients", "8,x"], "--clients 8,x: whole numbers, comma-separated"),
    ("trigram_scale.py", ["--passages", "0"], "--passages 0: must be at least 1"),
    ("busy_queries.py", ["--queries", "0"], "--queries 0: must be at least 1"),
])
def test_a_count_that_measures_nothing_is_refused(script, args, expected, tmp_path):
    assert_refused(bench(script, *args, cwd=tmp_path), expected)


@pytest.mark.parametrize("script", ["no_speech.py", "indexing.py"])
def test_a_set_without_its_talks_is_refused_before_any_is_transcribed(script, tmp_path):
    talk_set = tmp_path / "set"
    talk_set.mkdir()
    for name in ("truth.json", "feed.xml", "corpus.json"):  # everything but the media
        shutil.copy(DATA / name, talk_set)
    result = bench(script, *([] if script == "no_speech.py" else ["--talks"]), str(talk_set), cwd=tmp_path)
    assert_refused(result, f"{talk_set}: no media file for talk 't01' of truth.json")


@pytest.mark.parametrize("script", ["filters_and_pages.py", "load.py"])
def test_an_empty_library_is_refused_rather_than_measured(script, tmp_path):
    """What a mistyped path left behind (a catalog and nothing in it): its figures were every search empty."""
    library = tmp_path / "library"
    Library.open(library, create=True).close()
    result = bench(script, *([] if script == "filters_and_pages.py" else ["--library"]), str(library), cwd=tmp_path)
    assert_refused(result, f"library {library} has 0 talks and no passages: nothing to search")


def test_a_corpus_that_cannot_be_spoken_or_judged_as_meant_is_refused(tmp_path):
    """A blind set's helper found corpus_rules.py passing a talk id given twice (make_talks.py then wrote the second
    talk's audio and truth over the first's: queries judged against the wrong sentences), a conversation's `who`
    that make_talks.py failed on with a traceback, and queries without text, `"also": 3` (a traceback) or
    `"sentence": true`."""
    import json

    talk = {"id": "x1", "title": "T", "sentences": ["One.", "Two.", "Three."]}
    corpus = {"talks": [talk, {**talk, "sentences": ["Other."]},
                        {"id": "x2", "title": "C", "sentences": ["A.", "B.", "C."], "cast": {"a": "flite:slt"},
                         "who": ["a", "b"]}],
              "queries": [{"id": "q1", "kind": "keyword", "text": " ", "talk": "x2", "sentence": True},
                          {"id": "q2", "kind": "keyword", "text": "two", "talk": "x2", "sentence": 1, "also": 3}]}
    (tmp_path / "corpus.json").write_text(json.dumps(corpus))
    checked = bench("corpus_rules.py", "corpus.json", cwd=tmp_path)
    assert checked.returncode == 1 and "Traceback" not in checked.stderr, checked
    assert checked.stdout.splitlines()[1:] == [
        "  x1: duplicate talk id (2 talks)", "  x2: who names 2 speakers for 3 sentences",
        "  x2: who names speakers not in its cast: b", "  q1: no query text",
        "  q1: sentence True not in talk x2 (0..2)", "  q2: also 3 is not a list of sentence indexes", "  6 problem(s)"]
    assert_refused(bench("make_talks.py", "corpus.json", "out", cwd=tmp_path),
                   "corpus.json: x1: duplicate talk id (2 talks) (and 2 more: bench/corpus_rules.py names them)")
    assert not (tmp_path / "out").exists()


def test_a_conversations_truth_names_its_cast_not_a_voice_nobody_speaks_in(tmp_path):
    """make_talks.py wrote a drawn voice ("flite:slt") for a talk its cast speaks (a blind set's interview)."""
    import json

    corpus = tmp_path / "corpus.json"
    corpus.write_text(json.dumps({"queries": [], "talks": [
        {"id": "c1", "title": "An interview", "sentences": ["Hello there.", "Hi back."],
         "cast": {"H": "flite:awb", "G": "flite:kal16"}, "who": ["H", "G"]},
        {"id": "c2", "title": "A talk", "sentences": ["One voice."], "voice": "flite:slt"}]}))
    made = bench("make_talks.py", str(corpus), str(tmp_path / "set"), "--no-video", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    truth = json.loads((tmp_path / "set" / "truth.json").read_text())
    assert "voice" not in truth["c1"] and truth["c1"]["cast"] == {"H": "flite:awb", "G": "flite:kal16"}
    assert truth["c2"]["voice"] == "flite:slt"
    assert "c1:" in made.stdout and "H=flite:awb, G=flite:kal16" in made.stdout

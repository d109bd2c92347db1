"""The quality harness (bench/quality.py) end to end on the two test talks, with the real models."""

from __future__ import annotations

import json
import sys

import pytest

from tests.helpers import DATA, ROOT

sys.path.insert(0, str(ROOT))
from bench import quality  # noqa: E402


@pytest.fixture(scope="module")
def harness_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("eval")
    figures = work / "figures.json"
    assert quality.main([str(DATA), "--work", str(work), "--json", str(figures), "--misses"]) == 0
    return work, json.loads(figures.read_text())


def test_harness_scores_talksearch_and_both_baselines(harness_run):
    _, figures = harness_run
    assert set(figures["systems"]) == {"talksearch", "dense-only (raw segs)", "BM25-only (raw segs)"}
    for scores in figures["systems"].values():
        overall = scores["overall"]
        assert overall["n"] == 2
        assert 0 <= overall["r1"] <= overall["r5"] <= overall["r10"] <= 1
        assert 0 <= overall["on_time"] <= 1
    # both test queries are easy: talksearch puts the moment first, and on time
    assert figures["systems"]["talksearch"]["overall"]["r1"] == 1.0
    assert figures["systems"]["talksearch"]["overall"]["on_time"] == 1.0
    assert 0 <= figures["wer"]["talksearch sentences"] < 0.5


def test_transcripts_are_cached_per_setting_and_reused(harness_run, capsys):
    work, _ = harness_run
    cached = list((work / "transcripts").glob("*.json"))
    assert len(cached) == 1
    talks = json.loads(cached[0].read_text())
    assert sorted(t["talk"]["title"] for t in talks) == sorted(t["title"] for t in quality.TalkSet.load(DATA).truth.values())
    assert all(t["segments"] and t["segments"][0]["words"] for t in talks)
    assert quality.main([str(DATA), "--work", str(work), "--no-baselines"]) == 0
    out = capsys.readouterr().out
    assert "transcribing" not in out  # the second run re-used the transcripts
    assert "talksearch" in out and "overall" in out and "WER" in out


def test_judging_follows_the_eval_rules():
    talk_set = quality.TalkSet.load(DATA)
    query = next(q for q in talk_set.queries if not q["also"])  # one target sentence only
    target = talk_set.truth[query["talk"]]["sentences"][query["sentence"]]
    ids = {"x": query["talk"], "y": "other"}
    judged = quality.judge(talk_set, query, [
        quality.Result("y", target["start"], target["end"]),  # right time, wrong talk
        quality.Result("x", target["end"] + 1.5, target["end"] + 9),  # within the 2 s slack, but late
        quality.Result("x", target["start"] - 2.5, target["end"]),  # on time: at most 3 s early
    ], ids)
    assert judged.rank == 2 and judged.on_time
    late = quality.judge(talk_set, query, [quality.Result("x", target["end"] + 2.5, target["end"] + 9)], ids)
    assert late.rank is None and not late.on_time

"""A talk's details read out of its others by the user's rules (``--parse-metadata FROM:TO``, yt-dlp's syntax): a
conference channel's "Title - Speaker, Speaker" titles give a title and speakers, an "SC24 | Title" its event.
The rules are read by yt-dlp's own parser; through the CLI with a loopback feed (captions: nothing transcribed) and
a local recording (whisper tiny.en)."""

from __future__ import annotations

import json
import re
import shlex
import shutil

import pytest

from talksearch.detail_rules import check_rule
from talksearch.indexer.detail_rules import DetailRules
from tests.helpers import DATA, ROOT, talksearch
from tests.test_caption_duration import ITUNES, PODCAST
from tests.test_captions_indexing import outcome_lines, vtt

# What these check does not depend on the embedding model (conftest's light_embedding).
pytestmark = pytest.mark.usefixtures("light_embedding")

SPEAKERS_AFTER_TITLE = "title:%(title)s - %(speakers)s"
EVENT_BEFORE_TITLE = r"title:(?P<event>SC\d+) \| (?P<title>.+)"


@pytest.mark.unit
@pytest.mark.parametrize("rule, said", [
    ("title", "is not FROM:TO"),
    ("title:%(title)s - %(artist)s", "sets artist, which is not a talk detail it can set"),
    ("uploader:%(speakers)s", "reads uploader, not a talk detail"),
    ("%(title)s|%(duration)s:%(speakers)s", "reads duration, not a talk detail"),
    ("title:no fields here", "sets nothing"),
    ("title:(?P<title>unclosed", "is not FROM:TO"),
    (":%(speakers)s", "reads nothing"),
    ("title:%(title)s - %(speakers)s ", "a space at the start or end"),  # it would cut names at their first space
])
def test_a_rule_that_cannot_work_is_refused_saying_why(rule, said):
    with pytest.raises(ValueError, match=said):
        check_rule(rule)


@pytest.mark.unit
def test_rules_apply_in_turn_and_one_that_does_not_match_changes_nothing():
    rules = DetailRules([SPEAKERS_AFTER_TITLE, EVENT_BEFORE_TITLE, "description:Speakers?: (?P<speakers>[^\n]+)"])
    assert rules.changes({"title": "SC24 | Power Capping - at Scale - Ann Lee", "speakers": []}) == {
        "title": "Power Capping - at Scale", "speakers": "Ann Lee", "event": "SC24"}  # the last " - " parts them
    assert rules.changes({"title": "A Talk Without Credits", "speakers": [],
                          "description": "Slides online.\nSpeaker: Cy Diaz\nThanks"}) == {"speakers": "Cy Diaz"}
    assert rules.changes({"title": "Plain", "speakers": [], "description": None}) == {}
    assert not DetailRules([])


@pytest.mark.unit
def test_a_detail_the_source_states_is_set_only_by_a_rule_reading_it():
    """A rule reading the title fills speakers a source leaves out, and never overrides its credit (a broad rule
    read "Checkpointing - Past, Present, Future" as three speakers over the feed's own); a rule reading the
    speakers reshapes them. A detail the talk lacks reads as nothing (yt-dlp's "NA" was stored as a speaker)."""
    rules = DetailRules([SPEAKERS_AFTER_TITLE, r"speakers:(?:Dr\. )?(?P<speakers>.+?)(?: \(.*\))?$",
                         r"event:(?P<event>.+?) \d{4}$"])
    assert rules.changes({"title": "Checkpointing - Past, Present, Future", "speakers": ["Bo Chen"]}) == {
        "title": "Checkpointing"}
    assert rules.changes({"title": "Checkpointing", "speakers": ["Dr. Bo Chen (Acme)"], "event": "ISC 2024"}) == {
        "speakers": "Bo Chen", "event": "ISC"}
    assert rules.changes({"title": "Checkpointing", "speakers": [], "event": None}) == {}


@pytest.mark.unit
def test_the_readmes_rules_do_what_it_says():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Talk details from titles"):readme.index("### Captions first")]
    rules = [shlex.split(line.strip().rstrip("\\"))[1] for line in section.splitlines()
             if line.strip().startswith("--parse-metadata")]
    apply = DetailRules(rules).changes
    assert apply({"title": "Gang Scheduling at Scale - Jane Doe, Acme", "speakers": []}) == {
        "title": "Gang Scheduling at Scale", "speakers": "Jane Doe"}
    assert apply({"title": "Title - Jane Doe, Acme & John Roe, Foo", "speakers": []}) == {}  # left alone
    assert apply({"title": "SC24 | Power Capping - Ann Lee & Bo Chen", "speakers": []}) == {
        "title": "Power Capping", "speakers": "Ann Lee & Bo Chen", "event": "SC24"}


def _feed(media_server, items: list[str]) -> str:
    """A feed of t01 and t02 under the given titles, each with its true captions (nothing to transcribe)."""
    listed = ""
    for talk, title in zip(("t01", "t02"), items):
        (media_server.directory / f"rules-{talk}.vtt").write_text(vtt(talk))
        listed += (f'<item><title>{title}</title><guid isPermaLink="false">rules-{talk}</guid>'
                   f'<enclosure url="{media_server.url(talk)}.ogg" type="audio/ogg" length="1"/>'
                   f'<podcast:transcript url="{media_server.url(f"rules-{talk}.vtt")}" type="text/vtt"/></item>')
    (media_server.directory / "rules.xml").write_text(
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:podcast="{PODCAST}" xmlns:itunes="{ITUNES}">'
        f"<channel><title>Rules show</title><language>en</language>{listed}</channel></rss>")
    return media_server.url("rules.xml")


def _index(library, *args: str) -> list[str]:
    result = talksearch("index", *args, "--library", str(library), "--whisper-model", "tiny.en")
    assert result.returncode == 0, result.stdout + result.stderr
    return outcome_lines(result) + [line for line in result.stdout.splitlines() if line.startswith("updated")]


def _details(library) -> dict[str, tuple]:
    talks = json.loads(talksearch("talks", "--library", str(library), "--json").stdout)["talks"]
    return {talk["title"]: (talk["speakers"], talk["event"]) for talk in talks}


@pytest.mark.models
def test_speakers_and_events_are_read_out_of_titles_and_stay_so_on_every_run(media_server, tmp_path):
    feed = _feed(media_server, ["Power Capping at Scale - Ann Lee, Bo Chen and Cy Diaz",
                                "SC24 | Gang Scheduling for Training Jobs - Dee Ray &amp; Eli Stone"])
    recording = tmp_path / "talks" / "Keynote on Batch Queues - Eve Moss.ogg"
    recording.parent.mkdir()
    shutil.copy(DATA / "t02.ogg", recording)
    library = tmp_path / "library"
    rules = ["--parse-metadata", SPEAKERS_AFTER_TITLE, "--parse-metadata", EVENT_BEFORE_TITLE]

    lines = _index(library, feed, str(recording.parent), *rules)
    assert sorted(re.match(r"(added) +(.*?) \(", line).groups() for line in lines) == [
        ("added", "Gang Scheduling for Training Jobs"), ("added", "Keynote on Batch Queues"),
        ("added", "Power Capping at Scale")], lines
    assert _details(library) == {
        "Power Capping at Scale": (["Ann Lee", "Bo Chen", "Cy Diaz"], None),
        "Gang Scheduling for Training Jobs": (["Dee Ray", "Eli Stone"], "SC24"),  # "&" joins two names
        "Keynote on Batch Queues": (["Eve Moss"], None),  # a local file's title comes from its name
    }
    # The feed restates its items at every run: read by the same rules, nothing changed (no "updated" line)...
    assert all(line.startswith("skipped") for line in _index(library, feed, str(recording.parent), *rules))
    # ...and where the rules are gone, the title as the source words it; what the source does not state (these
    # items name no speaker or event) stays as the library has it, as for any listing (the variable keeps rules)
    lines = _index(library, feed)
    assert sorted(line.partition(";")[0] for line in lines) == [
        "updated Power Capping at Scale - Ann Lee, Bo Chen and Cy Diaz: details changed (title)",
        "updated SC24 | Gang Scheduling for Training Jobs - Dee Ray & Eli Stone: details changed (title)"], lines
    assert _details(library)["SC24 | Gang Scheduling for Training Jobs - Dee Ray & Eli Stone"] == (
        ["Dee Ray", "Eli Stone"], "SC24")


@pytest.mark.unit
def test_a_wrong_rule_is_one_line_before_anything_is_read(tmp_path):
    result = talksearch("index", str(tmp_path), "--library", str(tmp_path / "library"),
                        "--parse-metadata", "title:%(title)s - %(artist)s")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "--parse-metadata: 'title:%(title)s - %(artist)s' sets artist" in result.stderr
    assert not (tmp_path / "library").exists()

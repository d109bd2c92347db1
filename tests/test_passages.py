"""Sentence splitting, passage windows, the text passages are embedded as, and how words sound."""

from __future__ import annotations

import random

import pytest

from talksearch.indexer.passages import PassageOptions, embedding_texts, make_passages, split_sentences
from talksearch.library import Segment, Word
from talksearch.pronunciation import phonemes, sound_distance, sound_distances, word_phonemes

pytestmark = pytest.mark.unit


def _segment(*words: tuple[float, str]) -> Segment:
    timed = [Word(start, start + 0.3, text) for start, text in words]
    return Segment(timed[0].start, timed[-1].end, "".join(w.word for w in timed).strip(), timed)


def _talk_segments() -> list[Segment]:
    # one whisper segment holding three sentences: two end in punctuation, the third after a long pause
    return [_segment((0.0, " We"), (0.4, " pin"), (0.8, " memory."), (1.5, " The"), (1.9, " card"), (2.3, " reads"),
                     (2.7, " it."), (3.4, " Then"), (3.8, " nothing"), (6.0, " else"), (6.4, " happens"))]


def test_sentences_end_at_punctuation_and_long_pauses_with_word_times():
    sentences = split_sentences(_talk_segments(), PassageOptions(pause_seconds=1.5))
    assert [s.text for s in sentences] == ["We pin memory.", "The card reads it.", "Then nothing", "else happens"]
    assert [(s.start, round(s.end, 1)) for s in sentences] == [(0.0, 1.1), (1.5, 3.0), (3.4, 4.1), (6.0, 6.7)]


def test_a_sentence_cut_at_the_length_cap_is_cut_at_its_longest_breath():
    """Speech without punctuation is cut every ``unpunctuated_sentence_words`` words; cut at exactly that word,
    a sentence began mid-phrase, seconds before what a search for it asks (a timing hunt: "... cut | the energy
    bill"). The cut moves back to the longest pause of the run's second half."""
    said = ("we built a pilot plant in norway and it cut the energy bill by forty percent then corrosion in the "
            "heat exchangers forced us to replace the pipes ") * 3  # 84 words: long enough to be read unpunctuated
    timed, at = [], 0.0
    for word in said.split():
        timed.append((at, f" {word}"))
        at += 1.3 if word == "percent" else 0.4  # a breath after "percent", every 16th word
    sentences = split_sentences([_segment(*timed)])
    assert [s.text.split()[0] for s in sentences][:2] == ["we", "then"]
    assert [len(s.words) for s in sentences][:2] == [16, 20]
    assert all(len(s.words) <= 20 for s in sentences)
    assert sentences[1].start == pytest.approx(timed[16][0])
    # no breath in the run: cut at the cap, as before
    even = split_sentences([_segment(*[(0.4 * i, f" {w}") for i, w in enumerate(said.split())])])
    assert [len(s.words) for s in even] == [20, 20, 20, 20, 4]


def test_sentences_end_at_the_full_stops_of_other_scripts():
    # Chinese is written without spaces (whisper's words are a character or two), Hindi ends with a danda, Arabic
    # asks with its own question mark; no pause separates the sentences, only their punctuation.
    chinese = split_sentences([_segment((0.0, "时钟"), (0.4, "频率"), (0.8, "很高。"), (1.2, "内存"), (1.6, "很慢？"),
                                        (2.0, "好！"))])
    assert [(s.text, s.start) for s in chinese] == [("时钟频率很高。", 0.0), ("内存很慢？", 1.2), ("好！", 2.0)]
    others = split_sentences([_segment((0.0, " यह"), (0.4, " तेज़"), (0.8, " है।"), (1.2, " هل"), (1.6, " يعمل؟"),
                                       (2.0, " Oui."))])
    assert [s.text for s in others] == ["यह तेज़ है।", "هل يعمل؟", "Oui."]


def test_a_window_starts_at_every_sentence_and_sentences_can_be_passages_too():
    sentences = split_sentences(_talk_segments())
    passages = make_passages(sentences, PassageOptions(window_sentences=2, sentence_passages=True))
    windows = [p for p in passages if p.kind == "window"]
    singles = [p for p in passages if p.kind == "sentence"]
    assert [w.start for w in windows] == [s.start for s in sentences]
    assert windows[0].text == "We pin memory. The card reads it." and windows[0].end == sentences[1].end
    assert [(p.start, p.end, p.text) for p in singles] == [(s.start, s.end, s.text) for s in sentences]


def test_a_window_stops_at_a_long_silence():
    """Captions with a cue at 10 h and the next at 26 h made one "moment" of 16 hours; a break in a talk, one
    spanning it."""
    sentences = split_sentences([_segment((0.0, " Before"), (0.4, " the"), (0.8, " break.")),
                                 _segment((3600.0, " After"), (3600.4, " it.")),
                                 _segment((3603.0, " Right"), (3603.4, " after."))])
    windows = [(p.start, round(p.end, 1)) for p in make_passages(sentences) if p.kind == "window"]
    assert windows == [(0.0, 1.1), (3600.0, 3603.7), (3603.0, 3603.7)]


def test_embedded_text_carries_the_talk_context_but_the_stored_text_does_not():
    sentences = split_sentences(_talk_segments())
    passages = make_passages(sentences, PassageOptions())
    talk = {"title": "RDMA Basics", "chapters": [{"start_time": 0, "end_time": 2, "title": "Memory"},
                                                  {"start_time": 2, "end_time": 9, "title": "Cards"}]}
    assert embedding_texts(passages, talk, PassageOptions(context=""))[0] == passages[0].text
    assert embedding_texts(passages, talk, PassageOptions(context="title"))[0] == f"RDMA Basics. {passages[0].text}"
    chaptered = embedding_texts(passages, talk, PassageOptions(context="chapter"))
    assert chaptered[0].startswith("RDMA Basics. Memory. ") and chaptered[2].startswith("RDMA Basics. Cards. ")
    assert passages[0].text == "We pin memory. The card reads it."
    # a last chapter without an end (a feed's chapters file for a talk of unknown length) runs to the talk's end
    open_ended = {**talk, "chapters": [talk["chapters"][0], {"start_time": 2, "end_time": None, "title": "Cards"}]}
    assert embedding_texts(passages, open_ended, PassageOptions(context="chapter"))[2].startswith("RDMA Basics. Cards. ")


def test_the_details_passages_are_embedded_after_are_those_the_context_puts_before_them():
    """``embedded_details``, which says when a talk's passages must be embedded again (reembed, its details
    changed), names what ``embedding_texts`` reads: by default the title alone, so a talk whose chapters changed
    keeps its vectors (it was embedded again for them); with the "chapter" context its chapters too."""
    passages = make_passages(split_sentences(_talk_segments()), PassageOptions())
    talk = {"title": "RDMA Basics", "speakers": ["Ann"],
            "chapters": [{"start_time": 0, "end_time": 9, "title": "Memory"}]}
    changed = {"title": "RDMA in depth", "speakers": ["Bo"],
               "chapters": [{"start_time": 0, "end_time": 9, "title": "Cards"}]}
    for context, embedded in (("", set()), ("title", {"title"}), ("chapter", {"title", "chapters"})):
        options = PassageOptions(context=context)
        assert options.embedded_details() == embedded, context
        for detail, value in changed.items():
            texts_change = (embedding_texts(passages, {**talk, detail: value}, options)
                            != embedding_texts(passages, talk, options))
            assert texts_change == (detail in embedded), (context, detail)
    assert PassageOptions().embedded_details() == {"title"}  # the indexer's and reembed's


def test_a_talks_passages_are_made_again_for_a_new_title_and_for_chapters_that_cut_them_otherwise():
    """``passages_changed_by`` (a re-run that restates a talk's details; reembed catching up): the title, which
    windows are embedded after; chapters only where they move a cut (a window never runs past a chapter's start),
    since the same passages embedded again would be new vectors and ids for the same text."""
    from talksearch.indexer.passages import passages_changed_by

    sentences = split_sentences(_talk_segments())
    whole = [{"start_time": 0, "end_time": None, "title": "Memory"}]
    options = PassageOptions()
    assert passages_changed_by(["title", "speakers"], sentences, None, None, options) == ["title"]
    assert passages_changed_by(["chapters"], sentences, None, whole, options) == []  # one chapter: no cut moves
    renamed = [{**whole[0], "title": "Pinned memory"}]
    assert passages_changed_by(["chapters"], sentences, whole, renamed, options) == []
    split = [{**whole[0], "end_time": 1.5}, {"start_time": 1.5, "end_time": None, "title": "Cards"}]
    assert passages_changed_by(["description", "chapters"], sentences, whole, split, options) == ["chapters"]
    # with the chapter's title before each window (context "chapter"), any change of them embeds them again
    assert passages_changed_by(["chapters"], sentences, whole, renamed, PassageOptions(context="chapter")) == [
        "chapters"]


def test_misheard_jargon_sounds_close_to_what_was_said():
    # what tiny.en wrote for jargon in the eval talks, against what the speaker said
    said = {"ibstat": "I always start with absurd to ceilings", "subuid": "configure in the subunit and subget files",
            "ncdump": "If you check out file within the dump.", "AOFlagger": "We run off-lager on every scan",
            "Multus": "a secondary interface with mildest, so ranks talk"}
    unrelated = "Topology matters too, and a fat tree gives you full bisection bandwidth."
    for word, heard in said.items():
        assert sound_distance(word_phonemes(word), phonemes(heard)) <= 0.4, word
        assert sound_distance(word_phonemes(word), phonemes(unrelated)) > 0.5, word
    assert word_phonemes("AOFlagger").startswith("EO") and word_phonemes("aoflagger").startswith("Eə")  # AO spelled out


def _reference_distance(needle: str, haystack: str) -> float:
    """The textbook semi-global edit distance, one cell at a time, with pronunciation's costs."""
    from talksearch.pronunciation import _COSTS

    a, b = _COSTS.encode(needle), _COSTS.encode(haystack)
    sub, indel = _COSTS.substitution, _COSTS.indel
    row = [0.0] * (len(b) + 1)
    for x in a:
        new = [row[0] + indel[x]]
        for j, y in enumerate(b, 1):
            new.append(min(row[j] + indel[x], new[j - 1] + indel[y], row[j - 1] + sub[x, y]))
        row = new
    return min(row) / indel[a].sum()


def test_sound_distances_in_one_pass_equal_the_textbook_alignment():
    rng = random.Random(5)
    sounds = "pbtdkgszfvmnlrʃæɪəʊiuAE"
    for _ in range(200):
        needle = "".join(rng.choice(sounds) for _ in range(rng.randint(1, 6)))
        haystacks = ["".join(rng.choice(sounds) for _ in range(rng.randint(0, 15))) for _ in range(rng.randint(1, 4))]
        expected = [_reference_distance(needle, h) for h in haystacks]
        assert sound_distances(needle, haystacks) == pytest.approx(expected)
    assert sound_distance("bɪt", "ðəbætsæt") == pytest.approx(0.5 / 2.5)  # one vowel for another: half a vowel
    assert sound_distance("bɪt", "") == 1.0 and sound_distance("", "anything") == 0.0

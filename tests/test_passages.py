"""Sentence splitting, passage windows, the text passages are embedded as, and sound-alike keys."""

from __future__ import annotations

from indexer.passages import PassageOptions, embedding_texts, make_passages, split_sentences
from talksearch.library import Segment, Word
from talksearch.soundalike import sound_key, substring_distance


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


def test_a_window_starts_at_every_sentence_and_sentences_can_be_passages_too():
    sentences = split_sentences(_talk_segments())
    passages = make_passages(sentences, PassageOptions(window_sentences=2, sentence_passages=True))
    windows = [p for p in passages if p.kind == "window"]
    singles = [p for p in passages if p.kind == "sentence"]
    assert [w.start for w in windows] == [s.start for s in sentences]
    assert windows[0].text == "We pin memory. The card reads it." and windows[0].end == sentences[1].end
    assert [(p.start, p.end, p.text) for p in singles] == [(s.start, s.end, s.text) for s in sentences]


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


def test_sound_alike_keys_fold_spelling_variants_and_word_boundaries():
    assert sound_key("Kueue") == sound_key("queue") == sound_key("cue")
    assert sound_key("phone") == sound_key("fone")
    assert sound_key("IB stat") == sound_key("ibstat")
    # misheard jargon stays within an edit or two of what was said
    assert substring_distance(sound_key("Multus"), sound_key("an interface with mildest, so")) <= 1
    assert substring_distance(sound_key("sprio"), sound_key("first his preview, which")) == 0
    assert substring_distance(sound_key("unallowable"), sound_key("order to run an allowable cost")) == 0
    assert substring_distance("abc", "xxabcxx") == 0 and substring_distance("abc", "") == 3

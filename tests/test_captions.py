"""Caption files to timed words (talksearch.indexer.captions), on files written here as publishers and YouTube write them."""

from __future__ import annotations

import json

import pytest

from talksearch.indexer.caption_sources import CaptionTrack, load
from talksearch.indexer.captions import CaptionError, parse, read, seconds
from talksearch.indexer.passages import make_passages, split_sentences

pytestmark = pytest.mark.unit

# YouTube's automatic captions as its VTT has them: each line rolls up into the next cue (and a 10 ms cue in
# between repeats it), new words carry inline times, cues carry positioning, and sound cues are bracketed.
ROLLING = """WEBVTT
Kind: captions
Language: en

00:00:00.000 --> 00:00:02.990 align:start position:0%
 
[Music]

00:00:03.000 --> 00:00:05.270 align:start position:0%
 
our<00:00:03.360><c> ocean</c><00:00:03.840><c> simulations</c><00:00:04.560><c> run</c><00:00:04.800><c> for</c>

00:00:05.270 --> 00:00:05.280 align:start position:0%
our ocean simulations run for
 

00:00:05.280 --> 00:00:07.500 align:start position:0%
our ocean simulations run for
eleven<00:00:05.760><c> days</c><00:00:06.300><c> so</c><00:00:06.480><c> we</c><00:00:06.720><c> checkpoint</c>

00:00:07.500 --> 00:00:07.510 align:start position:0%
eleven days so we checkpoint
 

00:00:07.510 --> 00:00:09.000 align:start position:0%
eleven days so we checkpoint
every<00:00:07.900><c> two</c><00:00:08.200><c> hours</c>

00:00:09.000 --> 00:00:11.000 align:start position:0%
every two hours
[Applause]
"""

PUBLISHER_VTT = """WEBVTT

NOTE written by the publisher

intro
00:00:01.000 --> 00:00:04.000 line:90% align:center
<v Ines Moreau>Our ocean simulations run for <i>eleven</i> days.</v>

00:00:04.500 --> 00:00:07.000
<v Ines Moreau>We checkpoint every two hours.

00:00:08.000 --> 00:00:10.000
<v.loud Kenji Watanabe>Partition keys &amp; VLANs.
"""

SRT = """1
00:00:01,000 --> 00:00:04,000
Our ocean simulations run for eleven days.

2
00:00:04,500 --> 00:00:07,000
<font color="#ffff00">We checkpoint</font> every two hours.
{\\an8}(applause)
"""


def test_rolling_automatic_captions_are_deduplicated_with_their_inline_word_times():
    cues = parse(ROLLING)
    words = [w for c in cues for w in c.words]
    assert " ".join(w.word.strip() for w in words) == (
        "our ocean simulations run for eleven days so we checkpoint every two hours")
    timed = {w.word.strip(): (w.start, w.end) for w in words}
    assert timed["our"] == (3.0, 3.36) and timed["ocean"] == (3.36, 3.84)
    assert timed["eleven"][0] == 5.28 and timed["days"] == (5.76, 6.3)
    assert timed["hours"][0] == 8.2 and timed["hours"][1] <= 9.0
    assert all(a.end <= b.start + 1e-6 for a, b in zip(words, words[1:]))  # in time order, no overlaps


def test_publisher_captions_keep_their_speaker_and_lose_markup_and_settings():
    segments = read(PUBLISHER_VTT)
    assert [(s.text, s.speaker) for s in segments] == [
        ("Our ocean simulations run for eleven days.", "Ines Moreau"),
        ("We checkpoint every two hours.", "Ines Moreau"),
        ("Partition keys & VLANs.", "Kenji Watanabe"),
    ]
    words = segments[0].words  # no inline times: the cue's time is shared by character length
    assert words[0].start == 1.0 and words[-1].end == pytest.approx(4.0, abs=0.01)
    assert words[1].end - words[1].start > words[0].end - words[0].start  # "ocean" is longer than "Our"


# Turns as broadcast captions give them: a name once per turn, ">> " or "- " where someone unnamed speaks.
TURNS_VTT = ("WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v Alice>Alice asks about power capping.\n\n"
             "00:00:03.500 --> 00:00:05.000\nAnd about the schedulers.\n\n"
             "00:00:06.000 --> 00:00:08.000\n&gt;&gt; Someone else answers about energy.\n\n"
             "00:00:09.000 --> 00:00:11.000\n- A third person.\n\n"
             "00:00:12.000 --> 00:00:14.000\n<v Bob>Bob closes.\n")


def test_a_change_of_speaker_ends_the_last_named_one():
    """A named speaker holds for the cues after (captions often name a speaker once per turn), until ">> " or
    "- " marks that someone else speaks."""
    assert [(s.text, s.speaker) for s in read(TURNS_VTT)] == [
        ("Alice asks about power capping.", "Alice"), ("And about the schedulers.", "Alice"),
        ("Someone else answers about energy.", None), ("A third person.", None), ("Bob closes.", "Bob")]


def test_a_minus_sign_is_said_a_dash_before_words_is_a_change_of_speaker():
    """A cue starting "-40 degrees" lost its minus sign: read as the dash that marks a change of speaker."""
    vtt = ("WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v Alice>The inlet sits at -40 degrees.\n\n"
           "00:00:03.500 --> 00:00:05.000\n-2.5 percent of the nodes failed.\n\n"
           "00:00:06.000 --> 00:00:08.000\n-Really? That many.\n")
    assert [(s.text, s.speaker) for s in read(vtt)] == [
        ("The inlet sits at -40 degrees.", "Alice"), ("-2.5 percent of the nodes failed.", "Alice"),
        ("Really? That many.", None)]


def test_subrip_and_podcast_json_give_the_same_words():
    srt = read(SRT)
    assert [s.text for s in srt] == ["Our ocean simulations run for eleven days.", "We checkpoint every two hours."]
    podcast = json.dumps({"version": "1.0.0", "segments": [
        {"speaker": "Ines", "startTime": 1.0 + i * 0.4, "endTime": 1.4 + i * 0.4, "body": word}
        for i, word in enumerate("Our ocean simulations run for eleven days.".split())
    ] + [{"speaker": "Ines", "startTime": 4.5, "endTime": 7.0, "body": "We checkpoint every two hours."}]})
    segments = read(podcast, "json")
    assert " ".join(s.text for s in segments) == " ".join(s.text for s in srt)
    assert segments[0].speaker == "Ines" and segments[0].words[1].start == pytest.approx(1.4)


def test_captions_become_sentences_and_passages_like_whisper_words():
    sentences = split_sentences(read(PUBLISHER_VTT))
    assert [s.text for s in sentences][:2] == ["Our ocean simulations run for eleven days.",
                                               "We checkpoint every two hours."]
    assert sentences[1].start == 4.5 and sentences[2].speaker == "Kenji Watanabe"
    passages = make_passages(sentences)
    assert passages[0].text.startswith("Our ocean") and passages[0].end == pytest.approx(7.0, abs=0.01)


@pytest.mark.parametrize("text, fmt, reason", [
    ("", "vtt", "malformed WebVTT (no WEBVTT header)"),
    ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n[Music]\n", "vtt", "empty (no words)"),
    ("<html><body>transcript</body></html>", None, "not a caption file"),
    ("WEBVTT\n\n00:00:01.000 -> 00:00:02.000\nhello\n", "vtt", "malformed WebVTT (a block without timing"),
    ("WEBVTT\n\n00:00:05.000 --> 00:00:02.000\nhello\n", "vtt", "a cue ends before it starts (at 0:05)"),
    ("WEBVTT\n\n00:00:05.000 --> 00:00:06.000\nhello\n\n00:00:01.000 --> 00:00:02.000\nthere\n", "vtt",
     "cues out of order"),
    ("1\n00:00:01,000 --> 00:00:09,000\nhello\n\n2\n00:00:02,000 --> 00:00:04,000\nthere\n", "srt",
     "overlapping cues at 0:02 (7.0 s)"),
    ('{"segments": [{"start": 1}]}', "json", "malformed transcript JSON"),
])
def test_captions_that_cannot_be_trusted_say_why(text, fmt, reason):
    with pytest.raises(CaptionError) as refused:
        read(text, fmt)
    assert str(refused.value).startswith(reason)


def test_captions_past_the_media_end_are_refused():
    assert read(SRT, duration=7.5)
    with pytest.raises(CaptionError, match=r"cues run to 0:07, past the media's end at 0:01"):
        read(SRT, duration=1.5)


def test_captions_without_punctuation_are_cut_into_sentence_sized_runs():
    lines = [" ".join(f"word{i * 6 + j}" for j in range(6)) for i in range(20)]  # 120 words, no full stop
    cues = "\n\n".join(f"00:00:{i * 2:02d}.000 --> 00:00:{i * 2 + 2:02d}.000\n{line}" for i, line in enumerate(lines))
    sentences = split_sentences(read("WEBVTT\n\n" + cues))
    assert [len(s.words) for s in sentences] == [20] * 6
    punctuated = split_sentences(read("WEBVTT\n\n" + cues.replace("word119", "word119.").replace("word59", "word59.")))
    assert [len(s.words) for s in punctuated] == [50, 10, 50, 10]  # whisper-like text keeps the 50-word cap


def test_webvtt_export_escapes_markup_and_reads_back_the_same_words():
    """Cue text is markup in WebVTT: "<" and "&" in what was said are written as entities, so a player (and
    this reader) gets the words back, not a broken tag."""
    from dataclasses import replace

    from talksearch.library import Talk
    from talksearch.transcripts import render

    segments = read(PUBLISHER_VTT)
    segments[1] = replace(segments[1], text="If x < y & y > z, then --> we restart.")
    exported = render(Talk(extractor="local", source_id="x", url="", title="T"), segments, "vtt")
    assert "x &lt; y &amp; y &gt; z, then --&gt; we" in exported
    assert [(s.text, s.speaker) for s in read(exported)] == [(s.text, s.speaker) for s in segments]


def test_a_less_than_sign_in_subrip_text_is_text_not_a_tag():
    srt = "1\n00:00:01,000 --> 00:00:03,000\n<i>If x<y & y>z</i> then we restart.\n"
    assert [s.text for s in read(srt, "srt")] == ["If x<y & y>z then we restart."]


def _exported(segments, fmt: str) -> str:
    from talksearch.library import Talk
    from talksearch.transcripts import render

    return render(Talk(extractor="local", source_id="x", url="", title="T"), segments, fmt)


def _starts(exported: str) -> list[str]:
    return [line.split(" --> ")[0] for line in exported.splitlines() if " --> " in line]


def test_a_cue_starting_before_the_one_before_it_is_refused_and_exports_stay_in_start_order():
    """WebVTT wants cues in start order. The overlap tolerance is for ends: a start 0.4 s before the previous
    start is a reversed cue (whisper takes over), and sentences stored out of order are exported in order."""
    reversed_cues = ("1\n00:00:02,000 --> 00:00:02,400\nOne.\n\n2\n00:00:01,600 --> 00:00:06,000\nTwo.\n\n"
                     "3\n00:00:07,000 --> 00:00:09,000\nThree.\n")
    with pytest.raises(CaptionError, match=r"cues out of order \(one at 0:01 follows one at 0:02\)"):
        read(reversed_cues, "srt")
    from dataclasses import replace

    segments = read(PUBLISHER_VTT)
    segments[0], segments[1] = segments[1], replace(segments[0], end=segments[0].start)  # as an older library may hold
    for fmt in ("vtt", "srt"):
        exported = _exported(segments, fmt)
        assert _starts(exported) == sorted(_starts(exported)), exported
        stamps = [line.split(" --> ") for line in exported.splitlines() if " --> " in line]
        assert all(start < end for start, end in stamps), exported
    assert [s.text for s in read(_exported(segments, "vtt"))] == [s.text for s in sorted(segments, key=lambda s: s.start)]


def test_a_cue_of_no_duration_is_never_shown_and_dropped():
    text = ("WEBVTT\n\n00:00:00.500 --> 00:00:01.000\nFirst words.\n\n00:00:01.000 --> 00:00:01.000\nNever shown.\n\n"
            "00:00:01.000 --> 00:00:02.000\nLast words.\n")
    segments = read(text)
    assert [s.text for s in segments] == ["First words.", "Last words."]
    assert all(s.start < s.end for s in segments)
    exported = _exported(split_sentences(segments), "vtt")
    assert "Never shown" not in exported and "00:00:01.000 --> 00:00:01.000" not in exported


def test_subrip_export_keeps_tag_like_text_and_arrows_as_words_a_player_shows(tmp_path):
    """SubRip has no entities: "<tags>" would be dropped as markup by players and "-->" read as timing. ffmpeg's
    SubRip reader, as players use it, must give back every word."""
    import subprocess

    segments = read("WEBVTT\n\n00:00:00.500 --> 00:00:03.000\nSalt &amp; pepper &lt;tags&gt; here --> there.\n")
    assert segments[0].text == "Salt & pepper <tags> here --> there."
    exported = _exported(segments, "srt")
    assert exported.count("-->") == 1  # the timing line's only
    (tmp_path / "t.srt").write_text(exported)
    shown = subprocess.run(["ffmpeg", "-loglevel", "warning", "-y", "-i", str(tmp_path / "t.srt"), str(tmp_path / "t.ass")],
                           capture_output=True, text=True)
    assert shown.returncode == 0 and "Unrecognized" not in shown.stderr, shown.stderr
    dialogue = next(line for line in (tmp_path / "t.ass").read_text().splitlines() if line.startswith("Dialogue:"))
    assert dialogue.endswith("Salt & pepper \u2039tags\u203a here --\u203a there."), dialogue


def test_text_and_subrip_exports_name_the_speaker_where_it_changes_and_json_gives_every_sentences():
    """Plain text and SubRip have no voice tags: a line starts with the speaker's name where the captions name a
    new one ("Name: ", as transcripts and subtitles mark a change of speaker), not again while they hold. SubRip
    writes the name as it writes text (no "<" for a player to take as a tag). A transcript naming no one (whisper's)
    comes out as before."""
    from dataclasses import replace

    segments = read(PUBLISHER_VTT)
    assert _exported(segments, "txt") == ("Ines Moreau: Our ocean simulations run for eleven days.\n"
                                          "We checkpoint every two hours.\n"
                                          "Kenji Watanabe: Partition keys & VLANs.\n")
    assert _exported(segments, "srt") == (
        "1\n00:00:01,000 --> 00:00:04,000\nInes Moreau: Our ocean\nsimulations run for eleven days.\n\n"
        "2\n00:00:04,500 --> 00:00:07,000\nWe checkpoint every two hours.\n\n"
        "3\n00:00:08,000 --> 00:00:10,000\nKenji Watanabe: Partition keys & VLANs.\n")
    exported = json.loads(_exported(segments, "json"))["segments"]
    assert [s["speaker"] for s in exported] == ["Ines Moreau", "Ines Moreau", "Kenji Watanabe"]
    tagged = [replace(s, speaker="Kenji <b>Watanabe</b>") for s in segments]
    assert "\nKenji \u2039b\u203aWatanabe\u2039/b\u203a: Our" in _exported(tagged, "srt")

    whisper = [replace(s, speaker=None) for s in segments]
    assert _exported(whisper, "txt") == "".join(f"{s.text}\n" for s in segments)
    assert "Ines" not in _exported(whisper, "srt") and ": " not in _exported(whisper, "srt")


def test_someone_unnamed_taking_over_from_a_named_speaker_is_marked_in_every_export():
    """After a named speaker, someone unnamed (">> " in the captions) is marked ">> " where they start, as broadcast
    captions mark it: unmarked, the text would read as the named one's, and the WebVTT export, read back, would
    give it to them (a name holds until a change is marked)."""
    segments = read(TURNS_VTT)
    assert _exported(segments, "txt").splitlines() == [
        "Alice: Alice asks about power capping.", "And about the schedulers.",
        ">> Someone else answers about energy.", "A third person.", "Bob: Bob closes."]
    assert [line for line in _exported(segments, "srt").splitlines() if line[:1].isalpha() or line[:1] == ">"] == [
        "Alice: Alice asks about power capping.", "And about the schedulers.",
        ">> Someone else answers about energy.", "A third person.", "Bob: Bob closes."]
    assert [(s.text, s.speaker) for s in read(_exported(segments, "vtt"))] == [(s.text, s.speaker) for s in segments]


def test_a_speaker_named_with_markup_characters_reads_back_from_the_webvtt_export():
    """A voice annotation is cue text: "<v AT&amp;T>" names AT&T (our .vtt export writes names so, and /talks.atom
    offers it as a feed's transcript); the name was stored as "AT&amp;T" and shown so on the talk page."""
    captions = ("WEBVTT\n\n00:00:00.000 --> 00:00:03.000\n<v AT&amp;T>Our network.\n\n"
                "00:00:03.000 --> 00:00:06.000\n<v Ann &lt;Lee&gt;>Our ocean model.\n")
    segments = read(captions)
    assert [s.speaker for s in segments] == ["AT&T", "Ann <Lee>"]
    assert [s.speaker for s in read(_exported(segments, "vtt"))] == ["AT&T", "Ann <Lee>"]


def test_a_cue_of_two_lines_shares_its_time_between_them_and_its_export_reads_back(tmp_path):
    """Publishers' cues hold two lines, said one after the other: each line gets its share of the cue's time (by
    length, as words within a line), so the second line's sentence starts part-way in, word times only move
    forward, and the exported WebVTT has cues one after another that this reader takes back."""
    (tmp_path / "two.vtt").write_text(
        "WEBVTT\n\n00:00:00.000 --> 00:00:06.000\nWelcome everyone to this short session today.\n"
        "Power capping saves energy.\n\n00:00:06.000 --> 00:00:10.000\nThank you.\n")
    (tmp_path / "two.srt").write_text(
        "1\n00:00:00,000 --> 00:00:06,000\nWelcome everyone to this short session today.\n"
        "Power capping saves energy.\n\n2\n00:00:06,000 --> 00:00:10,000\nThank you.\n")
    share = 6.0 * len("Welcomeeveryonetothisshortsessiontoday.") / len(
        "Welcomeeveryonetothisshortsessiontoday.Powercappingsavesenergy.")  # ~3.7 s
    for name in ("two.vtt", "two.srt"):
        segments = read((tmp_path / name).read_text())
        words = [w for s in segments for w in s.words]
        assert all(a.end <= b.start + 1e-6 for a, b in zip(words, words[1:])), (name, words)
        sentences = split_sentences(segments)
        assert [s.text for s in sentences] == [
            "Welcome everyone to this short session today.", "Power capping saves energy.", "Thank you."]
        assert sentences[1].start == pytest.approx(share, abs=0.01), name
        assert sentences[0].end <= sentences[1].start and sentences[1].end == pytest.approx(6.0)
        (tmp_path / "exported.vtt").write_text(_exported(sentences, "vtt"))
        again = split_sentences(read((tmp_path / "exported.vtt").read_text()))
        assert [(s.text, s.start) for s in again] == [(s.text, s.start) for s in sentences]


def test_a_rolling_cue_with_an_old_line_gives_its_one_new_line_the_rest_of_the_cue():
    """Sharing among lines counts only the new ones: a line rolled up from the cue before takes no time."""
    vtt = ("WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nfirst line of words\n\n"
           "00:00:03.000 --> 00:00:05.000\nfirst line of words\nsecond line here\n")
    words = [w for s in read(vtt) for w in s.words]
    assert [w.word.strip() for w in words][4:] == ["second", "line", "here"]
    assert words[4].start == 3.0 and words[-1].end == pytest.approx(5.0)


def test_control_characters_are_dropped_from_cue_text_and_speakers():
    """A caption file's control characters are never speech: kept, they would be stored and written raw by the
    API and by `talksearch export`, where ESC sequences retitle or clear the reader's terminal."""
    vtt = ("WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Ana\x07>We set the title \x1b]0;OWNED\x07 right now.\n\n"
           "00:00:05.000 --> 00:00:08.000\nCleared\x1b[2J twice,\tthen\x01 &#27;c\x9bagain.\n")
    srt = "1\n00:00:01,000 --> 00:00:04,000\nSaid\x00 once\x7f.\n"
    podcast = json.dumps({"segments": [{"startTime": 1.0, "endTime": 2.0, "body": "Fine\x1b[0m words."}]})
    segments = read(vtt) + read(srt) + read(podcast, "json")
    assert [(s.text, s.speaker) for s in segments] == [
        ("We set the title ]0;OWNED right now.", "Ana"), ("Cleared[2J twice, then cagain.", "Ana"),
        ("Said once.", None), ("Fine[0m words.", None)]
    assert all(ch.isprintable() for s in segments for w in s.words for ch in w.word)


def test_a_feed_json_transcripts_speakers_lose_their_control_characters(tmp_path):
    """A <podcast:transcript type="application/json"> file's speaker names are stored and printed like cue text,
    so they are cleaned the same way: an ESC sequence in a name would retitle the terminal of whoever lists it."""
    transcript = tmp_path / "episode.json"
    transcript.write_text(json.dumps({"version": "1.0.0", "segments": [
        {"speaker": "Ana\x1b]0;OWNED\x07 Ruiz", "startTime": 1.0, "endTime": 3.0, "body": "Welcome back."},
        {"speaker": "\x1b[2J\x07", "startTime": 4.0, "endTime": 6.0, "body": "Thanks for having me."},
        {"speaker": "Bo\tLi\n", "startTime": 7.0, "endTime": 9.0, "body": "Let us begin."}]}))
    track = CaptionTrack("uploaded", "en", "application/json", path=transcript)  # as a feed names it
    segments = load(track, read_url=lambda url: b"", duration=None, language=None).segments
    assert [(s.text, s.speaker) for s in segments] == [
        ("Welcome back.", "Ana]0;OWNED Ruiz"), ("Thanks for having me.", "[2J"), ("Let us begin.", "Bo Li")]


def test_brackets_inside_a_word_are_what_was_said_and_only_a_bracketed_word_is_a_sound_cue():
    vtt = ("WEBVTT\n\n00:00:01.000 --> 00:00:04.000\nThe array x[0] plus y[1][2] is summed.\n\n"
           "00:00:05.000 --> 00:00:08.000\n[MUSIC] He said [laughs] so,\n\n"
           "00:00:09.000 --> 00:00:11.000\n[Applause][Music] Thanks.\n")
    assert [s.text for s in read(vtt)] == ["The array x[0] plus y[1][2] is summed.", "He said so,", "Thanks."]


def test_a_line_said_again_is_kept_unless_it_rolls_on_from_the_cue_just_before():
    """Only rolling captions repeat a line, from the cue on screen just before: a "Yes." said again later, or
    "Thank you." twice in one cue, was dropped from the talk (any of the last 3 lines counted as shown)."""
    srt = ("1\n00:00:01,000 --> 00:00:02,000\nIs it on?\n\n2\n00:00:03,000 --> 00:00:04,000\nYes.\n\n"
           "3\n00:00:10,000 --> 00:00:12,000\nCan you hear me at the back?\n\n4\n00:00:15,000 --> 00:00:16,000\nYes.\n\n"
           "5\n00:00:20,000 --> 00:00:22,000\nThank you.\nThank you.\n\n"
           "6\n00:00:22,000 --> 00:00:24,000\nThank you.\nNext slide.\n")
    words = [(w.word.strip(), w.start) for s in read(srt) for w in s.words]
    assert [w for w, _ in words] == ["Is", "it", "on?", "Yes.", "Can", "you", "hear", "me", "at", "the", "back?",
                                     "Yes.", "Thank", "you.", "Thank", "you.", "Next", "slide."]
    assert words[11][1] == 15.0 and words[-2][1] == 22.0  # the rolled line takes no time


def test_cues_overlapping_within_the_tolerance_are_cut_where_the_next_starts_and_exported_apart():
    """A cue may start up to OVERLAP_TOLERANCE before the previous one ends (rounding, a fade): accepted, the earlier
    cue and its last words end where the next starts, so no export shows two cues at once (Chromium would, and
    ffmpeg's mov_text cuts them silently)."""
    text = ("WEBVTT\n\n00:00:00.000 --> 00:00:03.500\nThis recording is about storage systems.\n\n"
            "00:00:03.000 --> 00:00:05.000\nErasure coding protects data.\n")
    segments = read(text)
    assert [(s.start, s.end) for s in segments] == [(0.0, 3.0), (3.0, 5.0)]
    assert all(w.end <= 3.0 and w.start <= w.end for w in segments[0].words)
    for fmt in ("vtt", "srt"):
        exported = _exported(split_sentences(segments), fmt)
        stamps = [[seconds(t) for t in line.split(" --> ")] for line in exported.splitlines() if " --> " in line]
        assert all(a[1] <= b[0] for a, b in zip(stamps, stamps[1:])), exported


LONG_SENTENCE = ("So the first thing we did, and this surprised everyone on the team, was to cap the power of every GPU "
                 "at two hundred and fifty watts, which cost us about three percent of throughput but saved twenty "
                 "percent of the energy.")


def _cue_texts(exported: str) -> list[list[str]]:
    """Each cue's text lines (WebVTT or SubRip), without numbers, timings or voice tags."""
    blocks = [block.splitlines() for block in exported.split("\n\n") if " --> " in block]
    return [[line.removeprefix("<v Ines Moreau>") for line in block[block.index(next(
        line for line in block if " --> " in line)) + 1:]] for block in blocks]


def test_a_long_sentence_is_exported_as_subtitle_sized_cues_that_players_and_this_reader_take_back(tmp_path):
    """A 40-word sentence shown as one cue covers the picture for 14 s. Exported, it is cut into cues of at most two
    lines of 42 characters (two lines for at most 7 s), timed by its words, the speaker named on each (WebVTT) or
    where they start (SubRip); ffmpeg reads both, and the caption reader joins the cues back into the one sentence."""
    import re
    import subprocess
    from dataclasses import replace

    from talksearch.library import Word
    from talksearch.timecode import subtitle_stamp

    spoken = re.findall(r"\S+", LONG_SENTENCE)
    words = [Word(10 + i * 0.35, 10.3 + i * 0.35, f" {w}") for i, w in enumerate(spoken)]
    sentence = replace(read(PUBLISHER_VTT)[0], start=10.0, end=10.3 + (len(spoken) - 1) * 0.35, text=LONG_SENTENCE,
                       words=words)
    for fmt in ("vtt", "srt"):
        exported = _exported([sentence], fmt)
        cues = _cue_texts(exported)
        assert len(cues) == 3 and all(1 <= len(lines) <= 2 for lines in cues), exported
        assert all(len(line) <= 42 for lines in cues for line in lines), exported
        assert " ".join(" ".join(lines) for lines in cues).removeprefix("Ines Moreau: ") == LONG_SENTENCE
        stamps = [line.split(" --> ") for line in exported.splitlines() if " --> " in line]
        sep = "." if fmt == "vtt" else ","
        assert stamps[0][0] == f"00:00:10{sep}000" and stamps[-1][1] == subtitle_stamp(sentence.end, sep), exported
        assert all(end == next_start for (_, end), (next_start, _) in zip(stamps, stamps[1:])), exported
        assert all(seconds(end.replace(",", ".")) - seconds(start.replace(",", ".")) <= 7 for start, end in stamps)
        (tmp_path / f"t.{fmt}").write_text(exported)
        shown = subprocess.run(["ffmpeg", "-loglevel", "warning", "-y", "-i", str(tmp_path / f"t.{fmt}"),
                                str(tmp_path / f"{fmt}.ass")], capture_output=True, text=True)
        assert shown.returncode == 0 and not shown.stderr, shown.stderr
        dialogue = [line for line in (tmp_path / f"{fmt}.ass").read_text().splitlines() if line.startswith("Dialogue:")]
        assert len(dialogue) == 3 and all(line.count("\\N") <= 1 for line in dialogue), dialogue
    back = split_sentences(read(_exported([sentence], "vtt")))
    assert [(s.text, s.speaker) for s in back] == [(LONG_SENTENCE, "Ines Moreau")]
    assert back[0].start == 10.0 and back[0].end == pytest.approx(sentence.end)


def test_a_speakers_name_before_a_subtitle_is_counted_in_its_first_lines_width():
    """SubRip writes "Name: " before the first line where a speaker starts, and both formats ">> " where someone
    unnamed takes over: the line with it must still fit 42 columns (it ran to 58 with a long name)."""
    from talksearch.library import Segment

    said = "We moved the whole cluster to liquid cooling last spring and it paid for itself."
    named = Segment(3.0, 9.0, said, speaker="Maria Fernanda Oliveira dos Santos")
    unnamed = Segment(9.5, 15.0, said)
    for fmt in ("srt", "vtt"):
        lines = [line for lines in _cue_texts(_exported([named, unnamed], fmt)) for line in lines]
        shown = [line.removeprefix("<v Maria Fernanda Oliveira dos Santos>").replace("&gt;", ">") for line in lines]
        assert all(len(line) <= 42 for line in shown), shown
        assert " ".join(shown).count(said.split()[0]) == 2 and ">> We" in " ".join(shown), shown
    assert _cue_texts(_exported([named], "srt"))[0][0].startswith("Maria Fernanda Oliveira dos Santos: We")


def test_a_sentence_without_spaces_is_cut_by_its_words_and_never_starts_a_line_with_punctuation():
    """Chinese has no spaces: the cues are cut between whisper's words, a wide character counts two columns, and a
    comma whisper gives as a word of its own stays at the end of the line before."""
    from talksearch.cues import cues, width
    from talksearch.library import Segment, Word

    text = "我们把每个GPU的功率限制在二百五十瓦，这让吞吐量下降了大约百分之三，但节省了百分之二十的能源。"
    words = [Word(1 + i * 0.2, 1.2 + i * 0.2, character) for i, character in enumerate(text)]
    cut = cues(Segment(1.0, 1.0 + len(text) * 0.2, text, words))
    lines = [line for cue in cut for line in cue.lines]
    assert len(cut) == 2 and "".join(lines) == text
    assert all(width(line) <= 42 for line in lines) and not any(line.startswith("，") for line in lines), lines


def test_a_slow_or_evenly_timed_sentence_is_not_cut_into_flashes_and_no_cue_lasts_no_time():
    """A caption cue of 54 characters held for 20 s, its words timed evenly over it (the caption reader's way),
    came out as four 2-3-word cues at made-up times; a cue of one line may stay up as long as it is said. And a
    sentence stored with no duration gave cues that end where they start."""
    from talksearch.cues import cues
    from talksearch.library import Segment

    said = read("1\n00:00:00,000 --> 00:00:20,000\nThank you all for coming today, it is a real pleasure.\n", "srt")
    cut = cues(split_sentences(said)[0])
    assert [c.lines for c in cut] == [("Thank you all for coming today,",), ("it is a real pleasure.",)], cut
    assert cues(Segment(0.0, 30.0, "Hello there my friend how are you"))[0].lines == (
        "Hello there my friend how are you",)
    instant = cues(Segment(5.0, 5.0, "word " * 40))
    assert len(instant) > 1 and all(c.end > c.start for c in instant), instant
    assert all(a.end == b.start for a, b in zip(instant, instant[1:]))


def test_chinese_without_word_times_is_still_cut_to_the_lines_width():
    from talksearch.cues import cues, width
    from talksearch.library import Segment

    text = "我们把每个GPU的功率限制在二百五十瓦，这让吞吐量下降了大约百分之三，但节省了百分之二十的能源。" * 2
    cut = cues(Segment(0.0, 20.0, text))
    assert "".join(line for c in cut for line in c.lines) == text
    assert all(width(line) <= 42 for c in cut for line in c.lines), cut


def test_a_long_chinese_or_japanese_caption_is_cut_to_subtitle_sized_cues():
    """A caption cue of 68 Chinese characters held 12 s has one word to the captions' reader (it splits at spaces):
    exported as one cue of one 136-column line. A word wider than a line is cut between its characters."""
    from talksearch.cues import CUE_SECONDS, LINE_WIDTH, cues, width

    for text in ("我们的实验室每天运行大量的计算任务，为了降低超级计算机的能耗，我们开发了一个新的调度器，"
                 "它可以根据电价自动调整任务的运行时间。",
                 "私たちの研究室では毎日大量の計算ジョブを実行しています、スーパーコンピュータの消費電力を"
                 "下げるために新しいスケジューラを開発しました。"):
        sentence = split_sentences(read(f"WEBVTT\n\n00:00:00.000 --> 00:00:12.000\n{text}\n"))[0]
        cut = cues(sentence)
        assert "".join(line for c in cut for line in c.lines) == text
        assert all(width(line) <= LINE_WIDTH for c in cut for line in c.lines), [c.lines for c in cut]
        assert all(c.end - c.start <= CUE_SECONDS for c in cut if len(c.lines) == 2), cut
        assert (cut[0].start, cut[-1].end) == (0.0, 12.0)


def _srt(*cues: str) -> str:
    """A SubRip file of 2 s cues, one every 3 s from 0:01, each cue's text as given."""
    return "\n\n".join(f"{i}\n00:00:{i * 3 - 2:02d},000 --> 00:00:{i * 3:02d},000\n{text}"
                       for i, text in enumerate(cues, 1)) + "\n"


def _loaded(tmp_path, name: str, text: str, fmt: str):
    """A caption file read as a local file's sidecar or a feed's <podcast:transcript> is: from disk, by its type."""
    (tmp_path / name).write_text(text)
    return load(CaptionTrack("uploaded", "en", fmt, path=tmp_path / name), read_url=lambda url: b"", duration=None,
                language=None).segments


def test_a_speakers_label_that_starts_cues_again_names_the_speaker_and_is_not_said(tmp_path):
    """Transcripts and our own SubRip export write a speaker as "Jane Doe: " where they start: read back, the name
    was stored as words of the talk (searched, shown in snippets) and the speaker lost. A label that starts two cues
    or more names the speaker, who holds until another label, a voice tag or ">> ", and takes none of the cue's time."""
    srt = _srt("Jane Doe: Welcome to the session.", "Today we talk about storage.", "Bo: Thanks for having me.",
               "Jane Doe: Let us begin.", "Bo: First, erasure coding.", ">> Is it slow?",
               "<i>Jean-Luc O'Brien:</i> Not at all.", "- Jean-Luc O'Brien: It is fast.")
    segments = _loaded(tmp_path, "talk.srt", srt, "application/x-subrip")
    assert [(s.text, s.speaker) for s in segments] == [
        ("Welcome to the session.", "Jane Doe"), ("Today we talk about storage.", "Jane Doe"),
        ("Thanks for having me.", "Bo"), ("Let us begin.", "Jane Doe"), ("First, erasure coding.", "Bo"),
        ("Is it slow?", None), ("Not at all.", "Jean-Luc O'Brien"), ("It is fast.", "Jean-Luc O'Brien")]
    assert segments[0].words[0].start == 1.0 and segments[0].words[-1].end == pytest.approx(3.0)


def test_a_label_in_capitals_before_lower_case_text_names_the_speaker_the_first_time(tmp_path):
    """Broadcast captions name a speaker in capitals ("JANE DOE: Good evening"), often once per turn."""
    vtt = ("WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n&gt;&gt; <b>JANE DOE:</b> Good evening and welcome.\n\n"
           "00:00:03.500 --> 00:00:05.000\nTonight: power capping.\n\n"
           "00:00:06.000 --> 00:00:08.000\n&gt;&gt; Thank you, Jane.\n\n"
           "00:00:09.000 --> 00:00:11.000\nBOB: Glad to be here.\n")
    segments = _loaded(tmp_path, "news.vtt", vtt, "text/vtt")
    assert [(s.text, s.speaker) for s in segments] == [
        ("Good evening and welcome.", "JANE DOE"), ("Tonight: power capping.", "JANE DOE"),
        ("Thank you, Jane.", None), ("Glad to be here.", "BOB")]


def test_what_was_said_before_a_colon_is_no_speaker(tmp_path):
    """A label could be what was said: said once, in words that are not a name, or in captions all in capitals,
    it stays in the text; so does a name said inside a line that grows word by word ("So I asked Bo: ..."), and a
    label after a voice tag, which names the speaker already. A line rolled on from the cue before is one label,
    not two."""
    srt = _srt("Ana Ruiz: Three things today.", "Note: the slides are online.", "Step one: install the agent.",
               "At 10:30 we restart the nodes.", "Kubernetes: it schedules the pods.", "THE PLAN: KEEP IT SIMPLE.",
               "A: the first option.", "Ana Ruiz: Questions?")
    rolled = ("1\n00:00:01,000 --> 00:00:03,000\nTip: use smaller batches.\n\n"
              "2\n00:00:03,000 --> 00:00:05,000\nTip: use smaller batches.\nThey fit in memory.\n\n"
              "3\n00:00:06,000 --> 00:00:08,000\nBo: We tried it.\n\n"
              "4\n00:00:09,000 --> 00:00:10,000\nSo I asked\n\n"
              "5\n00:00:10,000 --> 00:00:12,000\nSo I asked Bo: what now?\n\n"
              "6\n00:00:13,000 --> 00:00:15,000\nBo: We wait.\n")
    voiced = ("WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v Kenji>Answer: more memory.\n\n"
              "00:00:04.000 --> 00:00:06.000\n<v Kenji>Answer: fewer nodes.\n")
    segments = [s for name, text in (("talk.srt", srt), ("rolled.srt", rolled), ("voiced.vtt", voiced))
                for s in _loaded(tmp_path, name, text, name[-3:])]
    assert [(s.text, s.speaker) for s in segments] == [
        ("Three things today.", "Ana Ruiz"), ("Note: the slides are online.", "Ana Ruiz"),
        ("Step one: install the agent.", "Ana Ruiz"), ("At 10:30 we restart the nodes.", "Ana Ruiz"),
        ("Kubernetes: it schedules the pods.", "Ana Ruiz"), ("THE PLAN: KEEP IT SIMPLE.", "Ana Ruiz"),
        ("A: the first option.", "Ana Ruiz"), ("Questions?", "Ana Ruiz"),
        ("Tip: use smaller batches.", None), ("They fit in memory.", None),
        ("We tried it.", "Bo"), ("So I asked", "Bo"), ("Bo: what now?", "Bo"), ("We wait.", "Bo"),
        ("Answer: more memory.", "Kenji"), ("Answer: fewer nodes.", "Kenji")]


def test_sound_cues_are_still_dropped_and_name_no_speaker_in_captions_with_labels(tmp_path):
    srt = _srt("[Applause]", "Jane Doe: [laughs] Thank you.", "(laughter)", "[Applause] Jane Doe: So, storage.",
               "[Jane Doe] Erasure coding.", "♪ ♪", "♪ upbeat intro music ♪", "Jane Doe: ♫ soft piano ♫ Back to it.")
    segments = _loaded(tmp_path, "talk.srt", srt, "srt")
    assert [(s.text, s.speaker) for s in segments] == [
        ("Thank you.", "Jane Doe"), ("So, storage.", "Jane Doe"), ("Erasure coding.", "Jane Doe"),
        ("Back to it.", "Jane Doe")]


def test_a_subrip_export_with_speakers_reads_back_with_the_same_words_and_speakers(tmp_path):
    """`talksearch export --format srt` (and /talks/ID/transcript.srt) writes "Name: " where a speaker takes a turn
    and ">> " where someone unnamed does: given back as a feed's or a local file's captions, it is the same talk."""
    vtt = ("WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Ines Moreau>Our ocean simulations run for eleven days.\n\n"
           "00:00:04.500 --> 00:00:07.000\n<v Ines Moreau>We checkpoint every two hours.\n\n"
           "00:00:08.000 --> 00:00:10.000\n<v Kenji>How often do they fail?\n\n"
           "00:00:10.500 --> 00:00:13.000\n<v Ines Moreau>About once a week, so we keep two checkpoints.\n\n"
           "00:00:13.500 --> 00:00:15.000\n&gt;&gt; Can you share the scripts?\n\n"
           "00:00:15.500 --> 00:00:18.000\n<v Kenji>Note: they are on the wiki.\n")
    sentences = split_sentences(read(vtt))
    exported = _exported(sentences, "srt")
    assert "Ines Moreau: Our ocean" in exported and "Kenji: Note: they" in exported
    back = split_sentences(_loaded(tmp_path, "exported.srt", exported, "application/x-subrip"))
    assert [(s.text, s.speaker) for s in back] == [(s.text, s.speaker) for s in sentences]
    assert [s.start for s in back] == [s.start for s in sentences]


def test_japanese_lines_never_start_with_a_small_kana_or_closing_mark_nor_split_a_katakana_word():
    """Japanese cut between any two characters gave "チェ" / "ックポイント": a line (and a cue) starting with a small
    kana. Small kana, "ー" and closing brackets and punctuation stay with the character before them (kinsoku), and a
    katakana word is cut only where no other break fits: from a caption (one word to the reader), a sentence without
    word times and whisper's words alike."""
    from talksearch.cues import LINE_WIDTH, cues, width
    from talksearch.library import Segment, Word

    text = ("スーパーコンピュータでGPUを使いますが、ジョブのスケジューリングとチェックポイントの保存について詳しく"
            "説明しますので最後まで聞いてください。「チェックポイント」のファイルは（大きい）ですよ！")
    katakana = lambda c: "\u30a0" <= c <= "\u30ff"  # noqa: E731
    for sentence in (split_sentences(read(f"WEBVTT\n\n00:00:00.000 --> 00:00:16.000\n{text}\n"))[0],
                     Segment(0.0, 16.0, text),  # a translation, a sentence without word times
                     Segment(0.0, 16.0, text, [Word(i * 0.15, (i + 1) * 0.15, c) for i, c in enumerate(text)])):
        lines = [line for c in cues(sentence) for line in c.lines]
        assert "".join(lines) == text and all(width(line) <= LINE_WIDTH for line in lines), lines
        assert not [line for line in lines if line[0] in "ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶー」』）】、。！？"], lines
        assert not [(a, b) for a, b in zip(lines, lines[1:]) if katakana(a[-1]) and katakana(b[0])], lines


def test_a_label_said_once_makes_the_speaker_unknown_not_the_one_before():
    """A one-turn speaker's "John Roe: " is not taken for a name (said once, in mixed case), so it stays in the text;
    the turn was credited to Jane Doe, the speaker before, who said none of it. Someone may have taken over: the
    speaker is unknown, as after ">> ". One word ("Note: ", "Tonight: ") is as often said and leaves the speaker
    as is (test_what_was_said_before_a_colon_is_no_speaker)."""
    vtt = ("WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nJane Doe: Hello and welcome to the storage talk.\n\n"
           "00:00:02.000 --> 00:00:04.000\nJohn Roe: We discuss erasure coding.\n\n"
           "00:00:04.000 --> 00:00:07.000\nJane Doe: And checkpoint bandwidth.\n")
    assert [(s.text, s.speaker) for s in read(vtt)] == [
        ("Hello and welcome to the storage talk.", "Jane Doe"), ("John Roe: We discuss erasure coding.", None),
        ("And checkpoint bandwidth.", "Jane Doe")]


def test_a_phrase_said_again_on_the_next_rolling_line_is_kept():
    """In YouTube's rolling captions a line with inline word times is new text: "thank you" said twice, or "okay so"
    then "okay so today", lost the second (taken for the line on screen, or for a line growing word by word)."""
    vtt = ("WEBVTT\n\n00:00:00.000 --> 00:00:01.000 align:start position:0%\n \nthank<00:00:00.500><c> you</c>\n\n"
           "00:00:00.990 --> 00:00:01.000 align:start position:0%\nthank you\n \n\n"
           "00:00:01.000 --> 00:00:02.000 align:start position:0%\nthank you\nthank<00:00:01.500><c> you</c>\n\n"
           "00:00:01.990 --> 00:00:02.000 align:start position:0%\nthank you\n \n\n"
           "00:00:02.000 --> 00:00:03.000 align:start position:0%\nthank you\nokay<00:00:02.500><c> so</c>\n\n"
           "00:00:02.990 --> 00:00:03.000 align:start position:0%\nokay so\n \n\n"
           "00:00:03.000 --> 00:00:04.000 align:start position:0%\nokay so\n"
           "okay<00:00:03.300><c> so</c><00:00:03.600><c> today</c>\n")
    words = [(w.word.strip(), w.start) for c in parse(vtt) for w in c.words]
    assert " ".join(w for w, _ in words) == "thank you thank you okay so okay so today"
    assert [at for _, at in words] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.3, 3.6]


def test_words_before_a_colon_after_a_voice_tag_leave_its_speaker():
    """Where a voice tag names the speaker, "Quick Recap: " or "Bottom Line: " is what she says: the rule for
    one-turn labels (above) made the speaker unknown for the rest of the talk (a reviewer's hunt)."""
    vtt = ("WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n<v Jane Doe>Our ocean simulations write checkpoints.\n\n"
           "00:00:02.000 --> 00:00:04.000\nQuick Recap: the checkpoints go to object storage.\n\n"
           "00:00:04.000 --> 00:00:06.000\nBottom Line: restarts take minutes.\n\n"
           "00:00:06.000 --> 00:00:08.000\nThank you.\n")
    assert [s.speaker for s in read(vtt)] == ["Jane Doe"] * 4


def test_a_line_shown_again_with_its_earlier_word_times_is_not_said_again():
    """Karaoke and roll-up captions that keep a line's inline times when it is shown again: each cue's text came
    twice once every line with inline times was taken for new ("hello world hello world and welcome ...": a
    reviewer's hunt). Words timed within the cue are new; those timed before it were shown before."""
    karaoke = ("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nhello<00:00:00.500><c> world</c>\n\n"
               "00:00:01.000 --> 00:00:02.000\nhello<00:00:00.500><c> world</c>\n"
               "<00:00:01.200><c>and</c><00:00:01.500><c> welcome</c>\n\n"
               "00:00:02.000 --> 00:00:03.000\nhello<00:00:00.500><c> world</c>\n"
               "<00:00:01.200><c>and</c><00:00:01.500><c> welcome</c>\n<00:00:02.300><c>everyone</c>\n")
    assert " ".join(w.word.strip() for c in parse(karaoke) for w in c.words) == "hello world and welcome everyone"


def test_a_line_opening_with_a_music_note_is_a_sound_even_without_a_closing_note():
    """"♪ upbeat intro music" (no closing note) was kept as a searchable sentence; speech after a closed pair stays."""
    srt = _srt("♪ upbeat intro music", "Hello and welcome.", "♫ soft piano ♫ Back to storage.", "We ♪ hum ♪ discuss it.")
    assert [s.text for s in read(srt)] == ["Hello and welcome.", "Back to storage.", "We discuss it."]


@pytest.mark.parametrize("start, end", [("NaN", "NaN"), ("3", "Infinity"), ("-30", "-25"), ("1", "1e999")])
def test_a_transcript_json_time_that_is_no_moment_of_the_talk_is_refused(start, end):
    """A feed's transcript with NaN times stopped the whole run ("NOT NULL constraint failed" on the library: NaN
    is stored as NULL), Infinity was stored as the talk's length (the talk page, VTT/SRT exports and the transcript
    API failed), negative times were links to "#t=-30" (a fuzzing hunt). Refused: the talk goes to whisper."""
    text = ('{"segments": [{"startTime": %s, "endTime": %s, "body": "Power capping saves energy."},'
            ' {"startTime": 30, "endTime": 35, "body": "We schedule jobs by watts."}]}' % (start, end))
    with pytest.raises(CaptionError, match=r"^malformed transcript JSON \(a time that is no moment"):
        read(text, "json")


def test_inline_word_times_outside_their_cue_never_run_words_backwards():
    """A word's inline time before its cue, or before the word it follows, was kept: a word at 1.0 after one at
    2.0, and a line shown again at 10 s with its 2-3 s karaoke times made a sentence ending before it started
    (a fuzzing hunt). Each word starts in its cue, no earlier than the word before it."""
    for vtt in ("WEBVTT\n\n00:00:02.000 --> 00:00:03.000\nhello <00:00:01.000> there\n",
                "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\nHello<00:00:02.000> world.<00:00:03.000> Next part.\n\n"
                "00:00:10.000 --> 00:00:12.000\nHello<00:00:02.000> world.<00:00:03.000> Next part.\n",
                "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\none <00:00:01.800> two <00:00:01.200> three <00:00:09.000> four\n"):
        cues = parse(vtt)
        words = [w for c in cues for w in c.words]
        assert all(c.start <= w.start <= w.end <= c.end for c in cues for w in c.words), cues
        assert all(a.start <= b.start for a, b in zip(words, words[1:])), words
        assert all(s.start <= s.end for s in read(vtt))


def test_a_two_line_cues_inline_times_stand_beyond_the_lines_share_of_the_cue():
    """Word-timed captions (stable-ts, karaoke) wrap a cue in two lines, each line's share of the cue reckoned by its
    length: the first fix for words running backwards kept inline times within that share, and "MIG. Partitions"
    (said at 4 and 5 s) moved to 3.2 s, cutting the sentence in two (a reviewer's hunt)."""
    vtt = ("WEBVTT\n\n00:00:01.000 --> 00:00:09.000\n"
           "<00:00:01.000><c>So</c> <00:00:04.000><c>MIG.</c> <00:00:05.000><c>Partitions</c>\n"
           "<00:00:05.500><c>carve</c> <00:00:06.000><c>the</c> <00:00:06.300><c>accelerator</c> <00:00:07.000>"
           "<c>into</c> <00:00:07.300><c>isolated</c> <00:00:08.000><c>instances.</c>\n")
    assert [(s.start, s.end, s.text) for s in split_sentences(read(vtt))] == [
        (1.0, 5.0, "So MIG."), (5.0, 9.0, "Partitions carve the accelerator into isolated instances.")]


def test_a_transcript_json_start_a_rounding_before_zero_is_the_start():
    """-0.04 (a publisher's rounding, an encoder's delay) refused the whole transcript (a reviewer's hunt)."""
    text = ('{"segments": [{"startTime": -0.04, "endTime": 2.5, "body": "Power capping saves energy."},'
            ' {"startTime": 3, "endTime": 5, "body": "We schedule jobs by watts."}]}')
    [segment] = read(text, "json")  # (a segment starting within a second continues the one before)
    assert (segment.start, segment.words[0].start, segment.end) == (0.0, 0.0, 5.0)
    assert segment.text == "Power capping saves energy. We schedule jobs by watts."

"""Cut a transcript into sentences and retrieval passages whose times come from word timings.

Whisper's segments (up to 30 s in the batched pipeline) are first re-cut into sentences, ending at
. ? ! (and their forms in other scripts), at a long pause, or at a length cap; those sentences, each with its words, are the stored
transcript. A passage is a window of consecutive sentences; a new window starts at every sentence,
so whichever sentence a query matches, some passage starts exactly where that sentence starts. Each
sentence is a passage too (two granularities), and passages are embedded with the talk's title before them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from talksearch.library import Passage, Segment, chapter_at, chapter_index, with_translation

# Sentence ends in the scripts whisper writes: Latin and most others, Chinese and Japanese (full-width), Arabic
# and Urdu, Devanagari. Without the full-width ones a Chinese transcript's sentences ran together up to the length
# cap, and a search landed at the first sentence's second.
SENTENCE_END = (".", "?", "!", "…", "。", "？", "！", "．", "؟", "۔", "।")


@dataclass
class PassageOptions:
    window_sentences: int = 2  # sentences per window passage
    max_window_words: int = 80  # a window stops growing past this
    # ... or at a silence this long (a break, a recording's silent part): a window across it was a "moment" of
    # hours, from the last words before the break to the first after it. Spoken pauses are a few seconds.
    max_window_gap_seconds: float = 30.0
    max_sentence_words: int = 50  # run-on speech is cut here
    pause_seconds: float = 1.5  # a pause this long ends a sentence even without punctuation
    # A transcript without sentence punctuation (machine captions: lower case, no full stops) is cut at this many
    # words instead, about a spoken sentence (the dev set's median is 18): 50-word runs landed searches far from
    # the moment. Machine-style captions, onTime@5 / R@1 with 50 → 20 words: dev 0.50 → 0.87 / 0.63 → 0.53,
    # held-out 0.33 → 0.77 / 0.50 → 0.61, tune 0.55 → 0.81 / 0.62 → 0.67 (docs/benchmarks.md, "Captions").
    unpunctuated_sentence_words: int = 20
    # Also index each sentence on its own: a short query matches one sentence better than a window, and
    # ranking snaps a window to its best sentence with their embeddings (docs/benchmarks.md, "quality").
    sentence_passages: bool = True
    # What is put before a passage's text when it is embedded (never in the stored or shown text):
    # "" nothing, "title" the talk's title, "chapter" the title and the chapter the passage starts in.
    # Queries often name the talk ("the genomics cloud talk where ..."); the title says what it is about.
    context: str = "title"
    # Sentence passages are embedded as they were said, without the context: on talks the ranking was not
    # tuned on, the title before every sentence pulled paraphrases towards the talk's topic and away from the
    # sentence (tune half: paraphrase R@5 0.75 with it, 0.84 without; docs/benchmarks.md). Windows keep it.
    sentence_context: bool = False

    def embedded_details(self) -> frozenset[str]:
        """The talk's details (``TALK_DETAILS``) its passages are embedded after (``context``): a talk whose
        details change there is embedded again; one whose others change keeps its vectors."""
        if not self.context:
            return frozenset()
        return frozenset({"title", "chapters"} if self.context == "chapter" else {"title"})


def passages_changed_by(changed: Sequence[str], sentences: Sequence[Segment], chapters_before: list[dict] | None,
                        chapters_after: list[dict] | None, options: PassageOptions) -> list[str]:
    """Of a talk's ``changed`` details (in that order), those its passages are to be made again for: one they are
    embedded after (``PassageOptions.embedded_details``: its title), and its chapters where they cut its
    ``sentences`` otherwise (a window never runs past a chapter's start: ``make_passages``). New chapters that
    move no cut change no passage: embedding them again would be new vectors and ids for the same text."""
    embedded = options.embedded_details()
    recut = "chapters" in changed and "chapters" not in embedded and (
        make_passages(list(sentences), options, chapters_before) != make_passages(list(sentences), options,
                                                                                 chapters_after))
    return [key for key in changed if key in embedded or (key == "chapters" and recut)]


def split_sentences(segments: list[Segment], options: PassageOptions | None = None) -> list[Segment]:
    """Sentences, each with its words, start (first word) and end (last word)."""
    options = options or PassageOptions()
    words = [w for s in segments for w in s.words]
    if not words:  # a model run without word timings: segments are the best we have
        return segments
    # Captions may name who speaks (whisper never does): a sentence takes its first word's speaker, and a
    # change of speaker ends a sentence.
    speakers = [s.speaker for s in segments for _ in s.words]
    longest = options.max_sentence_words if _punctuated(words) else options.unpunctuated_sentence_words
    found, current = [], []
    for i, word in enumerate(words):
        current.append(word)
        following = words[i + 1] if i + 1 < len(words) else None
        ends = (following is None
                or word.word.strip().endswith(SENTENCE_END)
                or following.start - word.end >= options.pause_seconds
                or speakers[i + 1] != speakers[i])
        if ends or len(current) >= longest:
            # only the length cap cuts here: at the longest breath of its second half instead, the rest begins
            # the next sentence
            cut = len(current) if ends else _longest_breath(current + [following])
            said, current = current[:cut], current[cut:]
            text = "".join(w.word for w in said).strip()
            found.append(Segment(said[0].start, said[-1].end, text, said, speakers[i + 1 - len(current) - len(said)]))
    return found


# A gap between words at least this long is a breath, where a run-on sentence cut at its length cap is cut rather
# than at the cap's word: cut at the 20th word, "... cut | the energy bill" started a sentence, and a search for it
# landed seconds before the words (a timing hunt, tiny.en on unpunctuated speech). Shorter gaps are word timing.
_BREATH_SECONDS = 0.3


def _longest_breath(words: list) -> int:
    """Where to cut a run of words at the length cap (``words``' last is the next sentence's first): before the
    word after the longest breath in the run's second half, or after the run when it has none."""
    gaps = {j: words[j].start - words[j - 1].end for j in range(len(words) // 2, len(words))}
    longest = max(gaps, key=lambda j: (gaps[j], j))  # the latest of equal gaps: the cap, when no gap stands out
    return longest if gaps[longest] >= _BREATH_SECONDS else len(words) - 1


def _punctuated(words: list) -> bool:
    """Whether the words carry sentence punctuation: at least one sentence end per 60 words (whisper's do). A
    transcript shorter than that is taken as it comes."""
    ends = sum(w.word.strip().endswith(SENTENCE_END) for w in words)
    return len(words) < 60 or ends * 60 >= len(words)


def make_passages(sentences: list[Segment], options: PassageOptions | None = None,
                  chapters: list[dict] | None = None) -> list[Passage]:
    """Windows of sentences from each sentence on, and each sentence. A window ends at a long silence and at the
    start of one of ``chapters`` (the talk's): a session's recording ran one talk's last words into the next's first."""
    options = options or PassageOptions()
    passages = []
    for first in range(len(sentences)):
        window = [sentences[first]]
        chapter = chapter_index(chapters, window[0].start)
        for sentence in sentences[first + 1 : first + options.window_sentences]:
            if (sum(len(s.text.split()) for s in window) >= options.max_window_words
                    or sentence.start - window[-1].end > options.max_window_gap_seconds
                    or chapter_index(chapters, sentence.start) != chapter):
                break
            window.append(sentence)
        passages.append(Passage(window[0].start, window[-1].end, " ".join(s.text for s in window), "window",
                                _translation(window)))
    if options.sentence_passages:
        passages.extend(Passage(s.start, s.end, s.text, "sentence", s.translation) for s in sentences)
    return passages


def _translation(sentences: list[Segment]) -> str | None:
    """The sentences' English, when the talk was translated (--translate)."""
    english = [s.translation for s in sentences if s.translation]
    return " ".join(english) if english else None


def _both(passage: Passage) -> str:
    return with_translation(passage.text, passage.translation)


def embedding_texts(passages: list[Passage], talk: dict, options: PassageOptions | None = None) -> list[str]:
    """The text each passage is embedded as: its own, after the talk context ``options.context`` names.

    ``talk`` is a catalog row (or anything with ``title`` and ``chapters``). A query that names the talk
    ("the genomics cloud talk where ...") then finds its passages, at the cost of diluting the passage's own words.
    """
    options = options or PassageOptions()
    if not options.context:
        return [_both(p) for p in passages]
    texts = []
    for p in passages:
        if p.kind == "sentence" and not options.sentence_context:
            texts.append(_both(p))
            continue
        parts = [talk.get("title")]
        if options.context == "chapter":
            parts.append(chapter_at(talk.get("chapters"), p.start))
        prefix = ". ".join(x.strip().rstrip(".") for x in parts if x and x.strip())
        text = _both(p)
        texts.append(f"{prefix}. {text}" if prefix else text)
    return texts

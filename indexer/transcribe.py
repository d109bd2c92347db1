"""Speech to timed words with faster-whisper's batched pipeline (VAD on, word timestamps on)."""

from __future__ import annotations

import functools
import re
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

import numpy as np

from talksearch.indexer.audio import SAMPLING_RATE, media_duration, stream_audio
from talksearch.indexer.chunk_log import ChunkLog
from talksearch.library import Segment, Word
from talksearch.models import ResolvedModel, load_whisper
from talksearch.settings import Settings, default

PROMPT_MODES = ("none", "hotwords", "initial")

# Latin is whisper's answer for speech it cannot place: English in a strong accent (six of blind12's ten talks heard
# as Latin at 0.51-0.93; blind22's and blind23's Caribbean voice at 0.37 against English 0.35), but also a language
# it hears poorly (espeak-ng's Romanian: Latin 0.325, Romanian 0.16, English 0.152: a reviewer's hunt). Taken as
# English where English comes next (as it did for four of those six and both Caribbean talks): stored as Latin, such
# a talk was shown so, missed by a filter for English, and its words indexed as another language's. Where another
# language comes next, Latin stays (taken as English, the Romanian talk was transcribed as invented English; those
# accented English talks' next languages, Spanish or Basque at 0.09 and 0.08, would be as wrong). A talk that is in
# Latin is indexed with --language la.
UNPLACED_SPEECH = "la"
# ... and English only where it is clearly ahead of the language after it: whisper's figures move with the CPU, and
# on one with AVX-512 the same Romanian talk came out Latin 0.290, English 0.183, Romanian 0.173 (a CI machine), so
# English "next" was a coin toss there. The accented English talks measured lead theirs by 1.6 (blind12's w01:
# English 0.22, Welsh 0.134) to 8 times (the Caribbean voice: English 0.296, Hungarian 0.037).
ENGLISH_AHEAD = 1.5


class NoSpeech(Exception):
    """The audio holds no speech worth indexing."""


@dataclass
class TranscriptionOptions:
    # What is a setting (Settings.language, batch_size, beam_size) takes its default from there.
    language: str | None = default("language")  # None: detected (English-only models answer 'en')
    batch_size: int = default("batch_size")
    beam_size: int = default("beam_size")
    beam_size_non_english: int = default("beam_size_non_english")  # a talk whisper hears as another language
    vad_filter: bool = True
    word_timestamps: bool = True
    # Segments that look like hallucination are dropped before indexing (whisper's own thresholds):
    # likely silence that still decoded with low confidence, or text that repeats itself.
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    # A window the batched pass decodes into something dropped above (a repetition loop, or no confidence) is
    # decoded again on its own, with whisper's temperature fallback (0.2, 0.4, ... when a decoding fails the
    # same thresholds), which the batched pass does not do: half a minute of speech is otherwise lost. When
    # that recovers less than half the window, once more without the talk's prompt: a decoder that looped on
    # hard audio may recite the prompt instead (30 s of French came back as "Séminaire du laboratoire"). Speech
    # in the window that what is recovered leaves unsaid is a window of its own, decoded again the same way.
    retry_dropped: bool = True
    # A segment that says far fewer words than its time holds is dropped as well (and so decoded again, above):
    # fewer than this many words a second over at least sparse_seconds. Speech runs at 2-4 words a second; a
    # decoder that recites the talk's prompt over speech it did not follow writes the title or the speaker's name
    # across half a minute ("Escuela de HPC Valencia 2022" for 29 s of Spanish; an English talk's title and
    # speaker for 26 s), or one sound repeated ("Carréz-en-en-en…" for 26 s). 0 keeps every such segment.
    min_words_per_second: float = 1.0
    sparse_seconds: float = 4.0
    # A window decoded again is decoded without the silences in it this long or longer (as the batched pass's VAD
    # hears them), each part between them on its own. The batched pass decodes VAD's speech alone, joined, so one
    # of its segments may span a long pause (4.7-107.5 s for two sentences 95 s apart: sparse); decoded whole,
    # tiny.en wrote "you" in each silent 30-s window (no-speech probability 0.95, log-probability -0.84: kept), and
    # timed the second sentence 8 s early, which dropping what lies outside VAD's speech would not mend. Pauses in
    # speech are shorter, and a window without such silences is decoded as before (the dev set has no retries).
    retry_longest_silence: float = 5.0
    # A word whisper times longer than this was stretched over audio it was not said in. It happens at a segment's
    # start, under babble: "A" 0.0, "year" 0.5-10.1, "ago," 10.1-17.2, "our" 17.5, for "...years ago, our" said at
    # 16.1-17.4, the two sentences before it unheard (bench/sets/speech, s02); the segment, and the passage it
    # opens, started 16 s early. Such opening words are laid again just before the first word timed like speech
    # (``_smeared_opening``), and the audio before them decoded again, as a dropped window is. No word of the dev,
    # tune, holdout, probe, fresh or conditions sets' transcripts is this long (22,000 words); the speech set's
    # slow speaker (110 words a minute, pausing mid-sentence) drew 1.5 s at most.
    longest_word_seconds: float = 2.5
    # The talk's prompt (below) also makes whisper surer that there is speech at all. On ten seconds of a buzz
    # titled like a talk, its no-speech probability fell from 0.73-0.88 to as low as 0.31 and the decoder recited
    # the title ("On a Campus Cluster") or "The End". So a segment decoded with the prompt that whisper doubts
    # (no-speech probability above this, or log-probability below log_prob_threshold) is kept only when its
    # window, decoded without the prompt, holds speech too. Speech seldom needs the check, and passes it: of 181
    # segments of the dev set and both halves of the languages set, 21 were checked and none dropped
    # (bench/no_speech.py; docs/benchmarks.md, "Speech or not"). A segment of the prompt's words alone is checked
    # whether whisper doubts it or not, and kept only when that decode says one of them too; one that is not kept
    # is decoded again, as a dropped one is (``Transcriber._confirmed``).
    check_prompted: bool = True
    prompt_doubt_no_speech: float = 0.25
    # How the talk's own metadata (title, speakers, event, chapters) reaches the decoder, so names and
    # jargon in it survive: "hotwords" (faster-whisper's hint phrases), "initial" (the first window's
    # prompt) or "none". Hotwords lowered the word error rate on both eval sets (docs/benchmarks.md).
    prompt: str = "hotwords"
    # Audio is decoded and transcribed this many seconds at a time: bounded memory for long recordings.
    chunk_seconds: float = 1200.0

    def beam_for(self, language: str | None) -> int:
        """The beam a talk in ``language`` is decoded with (English, or not known: ``beam_size``)."""
        return self.beam_size if language in (None, "en") else self.beam_size_non_english

    @classmethod
    def from_settings(cls, settings: Settings, **overrides) -> TranscriptionOptions:
        return cls(**{"language": settings.language, "batch_size": settings.batch_size,
                      "beam_size": settings.beam_size, "beam_size_non_english": settings.beam_size_non_english,
                      **overrides})


@dataclass
class Transcript:
    language: str
    duration: float
    segments: list[Segment]
    resumed_seconds: float = 0.0  # of ``duration``, the audio an interrupted run had transcribed (its ChunkLog)


def talk_prompt(talk, vocabulary: Sequence[str] = (), max_chars: int = 400) -> str | None:
    """The talk's own words for the decoder: title, speakers, event and chapter titles (a feed or page has them),
    then the library's ``vocabulary`` (Settings.vocabulary), the user's list of its jargon: what is cut to
    ``max_chars`` is the library's words before the talk's own, and a whole word or title at a time.

    ``talk`` is a ``Talk`` (or a catalog row). Descriptions are left out: they are long and mostly not spoken.
    """
    get = talk.get if isinstance(talk, dict) else lambda name: getattr(talk, name, None)
    parts = [_spoken_title(get("title"), get("media_url")), ", ".join(get("speakers") or []), get("event")]
    parts += [c.get("title") for c in get("chapters") or []]
    parts.append(", ".join(vocabulary))
    text = ". ".join(p.strip() for p in parts if p and p.strip())
    if len(text) > max_chars:
        cut = max(text.rfind(", ", 0, max_chars + 1), text.rfind(". ", 0, max_chars + 1))
        text = text[:cut] if cut > 0 else text[:max_chars]
    return text or None


def _spoken_title(title: str | None, media_url: str | None) -> str | None:
    """The words of a title that may be said in the talk. A local file without details is titled by its name,
    and a name like "d05" or "IMG_2034" is no word anyone says: given to whisper, tiny.en wrote "d05" for "DOI"
    and as a segment of its own, then lost the 26 s after it (a hunt, on the dev set's d05.mp4). Of such a
    title, only the words of four letters or more alone are kept ("gang_scheduling_2024" still gives "gang scheduling")."""
    if not title or not media_url or not media_url.startswith("file:"):
        return title
    stem = PurePosixPath(unquote(urlsplit(media_url).path)).stem.replace("_", " ")
    if title != stem:  # a title the file's details state
        return title
    return " ".join(word for word in re.split(r"[\W_]+", title) if len(word) > 3 and word.isalpha())


def keep_segment(segment, options: TranscriptionOptions) -> bool:
    """Whether a segment passes the hallucination filter: not a repetition loop, not silence whisper was unsure
    of, and holding a word: whisper writes "..." or "♪" over a buzz, which also confirmed a doubtful segment
    (``Transcriber._confirmed``) as speech."""
    if segment.compression_ratio > options.compression_ratio_threshold:
        return False
    silent = segment.no_speech_prob > options.no_speech_threshold
    return not (silent and segment.avg_logprob < options.log_prob_threshold) and _WORDY.search(segment.text) is not None


_WORDY = re.compile(r"[^\W_]")  # a letter or digit of any script


def sparse(segment, options: TranscriptionOptions) -> bool:
    """Whether a segment holds far fewer words than anyone says in its time (``min_words_per_second``). Words are
    whisper's timed words where it gave them, which also counts Chinese or Japanese text, written without spaces."""
    seconds = segment.end - segment.start
    if seconds < options.sparse_seconds:
        return False
    words = len(segment.words) if segment.words else len(segment.text.split())
    return words < options.min_words_per_second * seconds


def doubtful(segment, options: TranscriptionOptions) -> bool:
    """Whether whisper was unsure a kept segment is speech (checked again without the prompt when there was one)."""
    return (segment.no_speech_prob > options.prompt_doubt_no_speech
            or segment.avg_logprob < options.log_prob_threshold)


def placed_language(probabilities: dict[str, float]) -> str:
    """The language whisper hears most (``Transcriber.language_probabilities``), or English where that is Latin
    (``UNPLACED_SPEECH``) and English comes next, ``ENGLISH_AHEAD`` times as probable as the language after it."""
    ranked = sorted(probabilities, key=probabilities.__getitem__, reverse=True)
    after_english = probabilities[ranked[2]] if len(ranked) > 2 else 0.0
    if ranked[:2] == [UNPLACED_SPEECH, "en"] and probabilities["en"] >= ENGLISH_AHEAD * after_english:
        return "en"
    return ranked[0]


class Transcriber:
    def __init__(self, model: str | ResolvedModel, device: str = "auto", compute_type: str = "default", threads: int = 0,
                 options: TranscriptionOptions | None = None, workers: int = 1):
        """``workers`` threads may call ``transcribe`` at once, each on ``threads`` CPU threads."""
        from faster_whisper import BatchedInferencePipeline

        self.model = load_whisper(model, device, compute_type, threads, workers)
        self.workers = workers
        # The pipeline object keeps per-call state (the last speech timestamp): one per calling thread.
        self._pipelines = threading.local()
        self._new_pipeline = lambda: BatchedInferencePipeline(self.model)
        self.options = options or TranscriptionOptions()

    def pipeline(self):
        if not hasattr(self._pipelines, "pipeline"):
            self._pipelines.pipeline = self._new_pipeline()
        return self._pipelines.pipeline

    @property
    def is_multilingual(self) -> bool:
        """Whether the model hears other languages than English (``*.en`` models do not, and detect none)."""
        return bool(self.model.model.is_multilingual)

    def detect_language(self, audio: str, windows: int = 3) -> tuple[str, float]:
        """The language spoken in the first ``windows`` 30-second windows of speech (silence left out), wherever
        in the recording the speech starts, and whisper's probability for it (a multilingual model only: an
        English-only one answers English whatever it hears); NoSpeech when the recording has none. One window
        misread a German talk as Latin in the languages benchmark; three read it right.

        The language most probable on average wins (``language_probabilities``). faster-whisper's own way takes the
        first window it is sure of, else the language most windows put first: one window sure of a wrong language
        decides, and a close call goes to whichever language tops more windows, however narrowly (an English talk
        in a Caribbean voice, read as English, English and Finnish, came out Finnish; on average English leads)."""
        probabilities = self.language_probabilities(audio, windows)
        language = placed_language(probabilities)
        return language, probabilities.get(language, 0.0)

    def language_probabilities(self, audio: str, windows: int = 3) -> dict[str, float]:
        """Whisper's probability of every language it knows for the first ``windows`` 30-second windows of speech
        (as ``detect_language`` reads them): each window's, averaged, weighted by its seconds of speech."""
        wanted = int(windows * 30.0 * SAMPLING_RATE)
        speech: list[np.ndarray] = []
        heard = 0
        # A livestream may start minutes before the speaker: chunks are read until there is enough speech, rather
        # than detecting from the first chunk alone. On audio with no speech faster-whisper's own VAD leaves
        # nothing, and whisper, shown padding, answers English with confidence (0.63 with base) and raises nothing.
        for _, samples in stream_audio(audio, chunk_seconds=30.0 * windows + 30.0):
            found = _speech_only(samples)[: wanted - heard]
            speech.append(found)
            heard += len(found)
            if heard >= wanted:
                break
        if not heard:
            raise NoSpeech("no speech found")
        speech_only = np.concatenate(speech)
        window = int(30.0 * SAMPLING_RATE)
        probabilities: dict[str, float] = {}
        for start in range(0, len(speech_only), window):
            piece = speech_only[start:start + window]
            _, _, ranked = self.model.detect_language(audio=piece, language_detection_segments=1)
            for language, probability in ranked:
                probabilities[language] = probabilities.get(language, 0.0) + probability * len(piece)
        return {language: total / len(speech_only) for language, total in probabilities.items()}

    def transcribe(self, audio: str, on_progress: Callable[[float, float], None] | None = None,
                   hotwords: str | None = None, language: str | None = None,
                   chunk_log: ChunkLog | None = None) -> Transcript:
        """Transcribe a media file; ``on_progress(seconds_done, duration)`` follows the audio time.

        Long recordings are decoded and transcribed in chunks (talksearch.indexer.audio), so memory stays bounded.
        ``hotwords`` is the talk's own vocabulary (``talk_prompt``); ``options.prompt`` says how it is used.
        ``language`` is the talk's spoken language when its source says (else ``options.language``, else detected).
        ``chunk_log`` keeps each chunk as it is finished, and gives those an interrupted run finished.
        """
        o = self.options
        language = language or o.language
        if language is None and self.is_multilingual:  # once for the talk, not per chunk as the pipeline would
            language, _ = self.detect_language(audio)  # NoSpeech for silence
        language = language or "en"  # an English-only model hears English
        expected = media_duration(audio) or 0.0
        prompt = {"hotwords": {"hotwords": hotwords}, "initial": {"initial_prompt": hotwords}}.get(o.prompt, {})
        progress = _Progress(on_progress, expected)
        segments, duration, detected = [], 0.0, language
        finished = chunk_log.finished() if chunk_log is not None else {}
        resumed = 0.0
        # A long recording's chunks are transcribed side by side (two at most, so memory stays bounded):
        # a lone long talk keeps every transcribe worker busy, not just one.
        in_flight = max(1, min(self.workers, 2))
        with ThreadPoolExecutor(in_flight, thread_name_prefix="chunk") as pool:
            pending: deque[Future] = deque()
            for offset, samples in stream_audio(audio, o.chunk_seconds):
                if offset in finished:  # an interrupted run's: taken as it decoded it
                    pending.append(Future())
                    pending[-1].set_result(finished[offset])
                    progress(finished[offset][1])
                    resumed += finished[offset][1] - offset
                    continue
                pending.append(pool.submit(self._chunk, offset, samples, language, prompt, progress))
                if chunk_log is not None:
                    pending[-1].add_done_callback(functools.partial(_keep_chunk, chunk_log, offset))
                while len(pending) >= in_flight or (pending and pending[0].done()):
                    chunk_segments, duration, chunk_language = pending.popleft().result()
                    segments += chunk_segments
                    detected = detected or chunk_language
            for future in pending:
                chunk_segments, duration, chunk_language = future.result()
                segments += chunk_segments
                detected = detected or chunk_language
        progress(duration, duration)
        if not segments and any(prompt.values()):
            # The prompt can itself silence whisper: tiny.en found nothing under a file's one-letter name ("c") in
            # speech it transcribes whole without one. Whether there is speech is asked again without it.
            return self.transcribe(audio, on_progress, hotwords=None, language=language)
        if not segments:
            raise NoSpeech("no speech found")
        # whisper times its last words by its 20 ms steps to where it thinks they end, past the recording's end
        # too (0.78 s of half a second of speech): nothing said ends after the recording does
        return Transcript(detected or "en", duration, [_said_by(segment, duration) for segment in segments], resumed)

    def _chunk(self, offset: float, samples, language: str | None, prompt: dict,
               progress: _Progress) -> tuple[list[Segment], float, str | None]:
        """One chunk's kept segments on the recording's clock, where the chunk ends, and its language."""
        o = self.options
        raw_segments, info = self.pipeline().transcribe(
            samples, language=language, batch_size=o.batch_size, beam_size=o.beam_for(language), vad_filter=o.vad_filter,
            vad_parameters=_first_pass_vad(), word_timestamps=o.word_timestamps, **prompt,
            no_speech_threshold=o.no_speech_threshold, log_prob_threshold=o.log_prob_threshold,
            compression_ratio_threshold=o.compression_ratio_threshold,
        )
        segments, spans = [], []
        for raw in raw_segments:
            progress(offset + raw.end)
            spans.append((raw.start, raw.end))
            kept = keep_segment(raw, o) and not sparse(raw, o)
            if kept and self._confirmed(samples, raw, language or info.language, prompt):
                spans[-1:] = _said_spans(raw)  # a pause between its words may hold a sentence it left out
                segment = _segment(raw, offset)
                if (opening := _smeared_opening(segment, o.longest_word_seconds)) is not None:
                    segment = opening
                    if o.retry_dropped:  # the audio its stretched words covered: what was said there
                        segments += self._retry(samples, raw.start, segment.start - offset, offset,
                                                language or info.language, prompt)
                segments.append(segment)
            elif o.retry_dropped and (not kept or _recited(raw.text, prompt)):
                # Dropped; or the prompt's words alone, which its window decoded without the prompt did not say:
                # speech the decoder wrote the prompt over ("Cluster Chat" for "Anyone can run there on idle GPUs").
                segments += self._retry(samples, raw.start, raw.end, offset, language or info.language, prompt)
        if o.retry_dropped and o.vad_filter:
            # Speech VAD heard that no segment (kept or dropped) spans was never decoded into anything: whisper may
            # end a window's text early, and return nothing for the rest of it. whisper base wrote ONE segment,
            # 4.7-107.2 s, of a window joining five sentences said 100 s apart, and the last three were lost.
            # Nor is speech inside a kept segment between its words: whisper base's segment of 49.0-77.4 s of
            # blind3's g02 timed "...GATK haplotype color." to 62.7 s and "A batch is..." from 66.5 s, and left out
            # the question asked between them ("And how big is a typical batch?", 63.9-66.1 s).
            for start, end in _uncovered_speech(samples, spans):
                segments += self._retry(samples, start, end, offset, language or info.language, prompt)
            segments = _in_time_order(segments)
        return segments, offset + info.duration, info.language

    def _retry(self, samples, start: float, end: float, offset: float, language: str | None,
               prompt: dict, again: int = 2) -> list[Segment]:
        """The window [start, end] of a chunk decoded again: each part of it between its long silences
        (``TranscriptionOptions.retry_longest_silence``) on its own, as ``_retry_part`` decodes it."""
        parts = _between_long_silences(samples, start, end, self.options.retry_longest_silence)
        return [segment for part_start, part_end in parts
                for segment in self._retry_part(samples, part_start, part_end, offset, language, prompt, again)]

    def _retry_part(self, samples, start: float, end: float, offset: float, language: str | None,
                    prompt: dict, again: int = 2) -> list[Segment]:
        """The window [start, end] of a chunk decoded again alone, with temperature fallback, and without the
        prompt too when that recovers less than half of it; what passes the hallucination filter is kept. The
        speech in the window that what is kept leaves unsaid is decoded again too, as a window of its own, up to
        ``again`` times over (each time a smaller window: what was said around it is kept)."""
        clip = samples[int(start * SAMPLING_RATE):int(end * SAMPLING_RATE)]
        if len(clip) < SAMPLING_RATE // 2:
            return []

        def heard(raw_segments: list) -> float:
            return sum(raw.end - raw.start for raw in raw_segments)

        kept, recitals = [], []
        for raw in self._decode_alone(clip, language, prompt):
            # The prompt's words alone are judged by the window decoded without the prompt (``_confirmed`` would
            # decode their own time again), which is decoded anyway when they are most of what was heard.
            if self.options.check_prompted and _recited(raw.text, prompt):
                recitals.append(raw)
            elif self._confirmed(clip, raw, language, prompt):
                kept.append(raw)
        if recitals or (any(prompt.values()) and heard(kept) < (end - start) / 2):
            unprompted = self._decode_alone(clip, language, {})
            kept += [raw for raw in recitals
                     if _said_too(raw.text, [other for other in unprompted if _overlap(raw, other)])]
            kept.sort(key=lambda raw: raw.start)
            if heard(kept) < (end - start) / 2:
                kept = max(kept, unprompted, key=heard)
        segments = [_segment(raw, offset + start) for raw in kept]
        if again and kept:
            # A retry may recover part of its window and drop the rest again: blind3's k07, 58.2-85.3 s, came back
            # as 13.9 s of speech and a sparse segment over the other 13.1 s ("Loudly, for about a month... queue
            # waits dropped..." and a question, lost). Recovering over half, it was not decoded without the prompt;
            # the rest, a window of its own now, may be. Twice: that window's retry kept its first sentence alone.
            said = [(start + said_from, start + said_to) for raw in kept for said_from, said_to in _said_spans(raw)]
            for gap_start, gap_end in _uncovered_speech(samples, said, start, end):
                segments += self._retry(samples, gap_start, gap_end, offset, language, prompt, again - 1)
            segments.sort(key=lambda segment: segment.start)
        return segments

    def _decode_alone(self, clip, language: str | None, prompt: dict) -> list:
        """Whisper's segments of ``clip`` (one window, decoded on its own with temperature fallback) that pass
        the hallucination filter and are not ``sparse``."""
        o = self.options
        raw_segments, _ = self.model.transcribe(
            clip, language=language, beam_size=o.beam_for(language), vad_filter=False,
            word_timestamps=o.word_timestamps, condition_on_previous_text=False, **prompt,
            no_speech_threshold=o.no_speech_threshold, log_prob_threshold=o.log_prob_threshold,
            compression_ratio_threshold=o.compression_ratio_threshold)
        return [raw for raw in raw_segments if keep_segment(raw, o) and not sparse(raw, o)]

    def _confirmed(self, audio, raw, language: str | None, prompt: dict) -> bool:
        """Whether a kept segment of ``audio`` is speech: decoded without a prompt, or whisper was sure and it says
        more than the prompt's own words, or its window decoded without the prompt holds speech too
        (``TranscriptionOptions.prompt_doubt_no_speech``) and, for a segment of the prompt's words alone, one of
        them: a decoder that heard speech it did not follow may write the prompt over it. Decoded again with
        blind3's k07 prompt, "And fair share?" came back as "Cluster Chat" (no-speech probability 0.33), which
        speech passed; without it, as "with our own memory. And here she is.", neither word."""
        if not (self.options.check_prompted and any(prompt.values())):
            return True
        recited = _recited(raw.text, prompt)
        if not recited and not doubtful(raw, self.options):
            return True
        window = audio[int(raw.start * SAMPLING_RATE):int(raw.end * SAMPLING_RATE)]
        if len(window) < SAMPLING_RATE // 2:  # too short to decode alone
            return not doubtful(raw, self.options)
        unprompted = self._decode_alone(window, language, {})
        return _said_too(raw.text, unprompted) if recited else bool(unprompted)

    def translate(self, audio: str, spans: list[tuple[float, float]], language: str) -> list[str | None]:
        """Each span of the recording (a sentence's start and end, seconds) in English, by whisper's translate
        task (a multilingual model), batched; None where the translation looks like hallucination (repeats
        itself). Spans are decoded chunk by chunk as transcription decodes them, so memory stays bounded."""
        o = self.options
        english: list[str | None] = [None] * len(spans)
        for offset, samples in stream_audio(audio, o.chunk_seconds):
            end = offset + len(samples) / SAMPLING_RATE
            inside = [i for i, (start, _) in enumerate(spans) if offset <= start < end]
            if not inside:
                continue
            clips = [{"start": spans[i][0] - offset, "end": min(spans[i][1], end) - offset} for i in inside]
            segments, _ = self.pipeline().transcribe(
                samples, task="translate", language=language, clip_timestamps=clips, batch_size=o.batch_size,
                beam_size=o.beam_size, without_timestamps=True, word_timestamps=False)
            for segment in segments:  # one per clip; matched by time, since a clip with no text yields none
                middle = (segment.start + segment.end) / 2
                index = min(range(len(clips)), key=lambda c: abs((clips[c]["start"] + clips[c]["end"]) / 2 - middle))
                if keep_segment(segment, o):
                    text = without_loops(segment.text.strip())
                    english[inside[index]] = f"{english[inside[index]]} {text}" if english[inside[index]] else text
        return english


# How many times in a row a run of words must come for it to be a decoding loop rather than speech, and the
# longest such run looked for. The translate task decodes one sentence's clip at a time, too short for a loop to
# reach the compression ratio ``keep_segment`` drops: base wrote "I'll take care of you." three times over one
# German sentence, "very beautiful, very beautiful, very beautiful" over a French one, "the Amateur Amateur
# Amateur" over a Spanish one (an issue-16 audit).
LOOP_REPEATS = 3
LOOP_LONGEST_RUN = 12


def without_loops(text: str) -> str:
    """``text`` with each run of words said ``LOOP_REPEATS`` or more times in a row kept once, as it was first said
    and ending as it was last said (the sentence's closing punctuation). Words compare by their letters and digits,
    case aside. A speaker's "very, very, very" becomes "very": search loses nothing by it."""
    words = text.split()
    keys = [_key(word) for word in words]
    kept: list[str] = []
    at = 0
    while at < len(words):
        run, times = _loop_at(keys, at)
        said = words[at:at + run]
        if times > 1:  # "Bye bye bye." is "Bye.", "very beautiful, very beautiful, very beautiful." "very beautiful."
            said[-1] = _TRAILING.sub("", said[-1]) + _TRAILING.search(words[at + times * run - 1]).group()
        kept += said
        at += times * run
    return " ".join(kept)


_TRAILING = re.compile(r"[\W_]*$")


def _loop_at(keys: list[str], at: int) -> tuple[int, int]:
    """The run of words from ``at`` said ``LOOP_REPEATS`` or more times in a row that covers the most words (a
    looped "No, no, no, I said no." is that sentence, not its first "no"), and how many times; (1, 1) where none
    is."""
    longest = (1, 1)
    for run in range(1, min(LOOP_LONGEST_RUN, (len(keys) - at) // LOOP_REPEATS) + 1):
        said = keys[at:at + run]
        times = 1
        while all(said) and keys[at + times * run:at + (times + 1) * run] == said:
            times += 1
        if times >= LOOP_REPEATS and run * times > longest[0] * longest[1]:
            longest = (run, times)
    return longest


def same_words(text: str, other: str) -> bool:
    """Whether two texts say the same words, case and punctuation aside: whisper's translate task sometimes writes
    the original back ("Vielen Dank." for "Vielen Dank."), which is no English."""
    return _words(text) == _words(other)


def _key(word: str) -> str:
    return "".join(_WORD.findall(word.lower()))


def _words(text: str) -> set[str]:
    """The words of ``text``, lower-cased, without their punctuation."""
    return set(_WORD.findall(text.lower()))


_WORD = re.compile(r"[^\W_]+")


def _recited(text: str, prompt: dict) -> bool:
    """Whether ``text`` holds words and all of them are the prompt's (``prompt``: the decoder's keyword arguments)."""
    said = _words(text)
    return bool(said) and said <= _words(" ".join(value for value in prompt.values() if value))


def _said_too(text: str, unprompted: list) -> bool:
    """Whether whisper's segments of the same audio decoded without the prompt say one of ``text``'s words."""
    return not _words(text).isdisjoint(_words(" ".join(segment.text for segment in unprompted)))


def _overlap(segment, other) -> bool:
    return segment.start < other.end and other.start < segment.end


def _said_spans(raw) -> list[tuple[float, float]]:
    """The stretches of a whisper segment's window its words are timed over; its whole span where it has none."""
    return [(word.start, word.end) for word in raw.words] if raw.words else [(raw.start, raw.end)]


def _first_pass_vad():
    """The batched pass's VAD options: faster-whisper's own for it (speech at most one 30-s window long, split at
    pauses of 0.16 s), named so that a window decoded again is cut where the same VAD hears silence."""
    from faster_whisper.vad import VadOptions

    return VadOptions(max_speech_duration_s=30, min_silence_duration_ms=160)


def _between_long_silences(samples: np.ndarray, start: float, end: float, longest: float) -> list[tuple[float, float]]:
    """The parts of the window [start, end] of ``samples`` (seconds) between the silences VAD hears in it that last
    ``longest`` seconds or more (between its speech, and before or after it); the whole window where VAD, on the
    window alone, hears no speech: the batched pass, whose VAD heard the whole chunk, found some there."""
    from faster_whisper.vad import get_speech_timestamps

    clip = samples[int(start * SAMPLING_RATE):int(end * SAMPLING_RATE)]
    if len(clip) == 0:
        return [(start, end)]
    speech = [(start + s["start"] / SAMPLING_RATE, start + s["end"] / SAMPLING_RATE)
              for s in get_speech_timestamps(clip, _first_pass_vad())]
    if not speech:
        return [(start, end)]
    parts, part_start = [], start if speech[0][0] - start < longest else speech[0][0]
    for (_, said_to), (next_from, _) in zip(speech, speech[1:]):
        if next_from - said_to >= longest:
            parts.append((part_start, said_to))
            part_start = next_from
    parts.append((part_start, end if end - speech[-1][1] < longest else speech[-1][1]))
    return parts


# Speech VAD hears outside every segment's words is decoded again only where this much of one stretch of it is
# unsaid: VAD pads its speech by 0.4 s each side, and whisper's words start and end a few tenths of a second off
# the speech, so a shorter sliver beside a word is the padding or that word's own edge (decoded again, it would
# give a segment's last word twice, or a "you"). On the dev set whisper base's segments leave 5-10 such slivers a
# talk, 0.75 s at most, and none longer; on blind3 its words leave 70-100 a talk (the pauses between them), 0.92 s
# at most, but where speech was lost (2.75 s in g02). A word said alone, that short, is left lost.
_UNCOVERED_SECONDS = 1.0
# The window decoded again starts and ends this much beyond its uncovered speech (never into a word's time), so
# that a first or last sound VAD cut close is not cut off.
_UNCOVERED_PADDING = 0.2


def _uncovered_speech(samples: np.ndarray, spans: list[tuple[float, float]], start: float = 0.0,
                      end: float | None = None) -> list[tuple[float, float]]:
    """The windows (seconds of ``samples``) of [start, end] (all of ``samples`` by default) holding speech that the
    batched pass's VAD (``_first_pass_vad``) hears there and none of ``spans`` (whisper's words, or segments without
    words) covers: where at least ``_UNCOVERED_SECONDS`` of one stretch of speech lies outside them, from the first
    such stretch to the last between the same two spans (one window, which ``Transcriber._retry`` cuts at its
    long silences), padded."""
    from faster_whisper.vad import get_speech_timestamps

    end = len(samples) / SAMPLING_RATE if end is None else end
    gaps, covered_to = [], start
    for said_from, said_to in sorted(spans):
        if said_from > covered_to:
            gaps.append((covered_to, said_from))
        covered_to = max(covered_to, said_to)
    if covered_to < end:
        gaps.append((covered_to, end))
    if not gaps:
        return []
    clip = samples[int(start * SAMPLING_RATE):int(end * SAMPLING_RATE)]
    speech = [(start + s["start"] / SAMPLING_RATE, start + s["end"] / SAMPLING_RATE)
              for s in get_speech_timestamps(clip, _first_pass_vad())]
    windows = []
    for gap_start, gap_end in gaps:
        heard = [(max(said_from, gap_start), min(said_to, gap_end)) for said_from, said_to in speech
                 if min(said_to, gap_end) - max(said_from, gap_start) >= _UNCOVERED_SECONDS]
        if heard:
            windows.append((max(gap_start, heard[0][0] - _UNCOVERED_PADDING),
                            min(gap_end, heard[-1][1] + _UNCOVERED_PADDING)))
    return windows


def _in_time_order(segments: list[Segment]) -> list[Segment]:
    """``segments`` by start, each that another lies inside (decoded again from a pause between its words) cut in
    two there: the sentences made of the segments' words, in their order, follow the words' time."""
    pieces = []
    for segment in segments:
        inner = sorted(other.start for other in segments
                       if segment.start < other.start and other.end < segment.end and other is not segment)
        if not inner or not segment.words:
            pieces.append(segment)
            continue
        parts: list[list[Word]] = [[] for _ in range(len(inner) + 1)]
        for word in segment.words:
            parts[sum(word.start >= start for start in inner)].append(word)
        pieces += [replace(segment, start=part[0].start, end=part[-1].end, words=part,
                           text="".join(word.word for word in part).strip()) for part in parts if part]
    return sorted(pieces, key=lambda segment: segment.start)


def _speech_only(samples: np.ndarray) -> np.ndarray:
    """The parts of ``samples`` where faster-whisper's VAD hears speech (with its default options, as
    ``detect_language(vad_filter=True)`` takes them), joined; empty when there is none."""
    from faster_whisper.vad import collect_chunks, get_speech_timestamps

    pieces, _ = collect_chunks(samples, get_speech_timestamps(samples))
    return np.concatenate(pieces)


_OPENING_WORDS = 5  # the most words a stretched opening holds (more is whisper's reading, not a slip of timing)
_SECONDS_A_LETTER = 0.08  # a word laid again takes this long a letter (at least a tenth of a second), or less


def _smeared_opening(segment: Segment, longest: float) -> Segment | None:
    """``segment`` with its opening words laid again where whisper stretched one of them over audio it was not said
    in (longer than ``longest`` seconds; ``TranscriptionOptions.longest_word_seconds``): each back to back before
    the first word timed like speech, as long as its letters take, the segment starting at the first. None for a
    segment whose opening words are timed like speech."""
    words = segment.words
    stretched = [i for i, w in enumerate(words[:_OPENING_WORDS]) if w.end - w.start > longest]
    if not stretched or stretched[-1] + 1 >= len(words):
        return None
    first = stretched[-1] + 1
    at, laid = words[first].start, []
    for word in reversed(words[:first]):
        seconds = min(word.end - word.start, max(0.1, _SECONDS_A_LETTER * len(word.word.strip())))
        laid.insert(0, Word(at - seconds, at, word.word, word.probability))
        at -= seconds
    return replace(segment, start=at, words=laid + words[first:])


def _keep_chunk(chunk_log: ChunkLog, offset: float, done: Future) -> None:
    if done.cancelled() or done.exception() is not None:
        return
    try:
        chunk_log.record(offset, done.result())
    except OSError as exc:  # a full disk: raised in a done-callback, it was a traceback on stderr, and nothing more
        chunk_log.unwritable(exc)


def _segment(raw, offset: float) -> Segment:
    """A whisper segment on the recording's clock (``offset``: where its audio starts in the recording)."""
    words = [Word(offset + w.start, offset + w.end, w.word, w.probability) for w in raw.words or []]
    return Segment(offset + raw.start, offset + raw.end, raw.text.strip(), words)


def _said_by(segment: Segment, end: float) -> Segment:
    """``segment`` with nothing in it after ``end`` (the recording's)."""
    if segment.end <= end:
        return segment
    words = [replace(word, start=min(word.start, end), end=min(word.end, end)) for word in segment.words]
    return replace(segment, start=min(segment.start, end), end=end, words=words)


class _Progress:
    """``on_progress(seconds_done, duration)`` from chunks finishing out of step: never goes backwards."""

    def __init__(self, on_progress: Callable[[float, float], None] | None, expected: float):
        self.on_progress, self.expected, self.done = on_progress, expected, 0.0
        self._lock = threading.Lock()

    def __call__(self, seconds: float, duration: float | None = None) -> None:
        if self.on_progress is None:
            return
        with self._lock:
            self.done = max(self.done, seconds)
            self.on_progress(self.done, duration if duration is not None else max(self.expected, self.done))

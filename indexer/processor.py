"""One talk's work, whoever runs it: audio on disk + metadata → what the library stores for it.

The local engine calls one ``TalkProcessor`` from several worker threads (``workers`` talks at once);
the Ray engine holds one per actor.
Either way the model loads once per process and the library is written by a single committer.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from talksearch.embedding import Embedder
from talksearch.indexer.allocator import keep_freed_memory
from talksearch.indexer.chunk_log import ChunkLog
from talksearch.indexer.passages import PassageOptions, embedding_texts, make_passages, split_sentences
from talksearch.indexer.sources import Fetched
from talksearch.indexer.transcribe import (UNPLACED_SPEECH, NoSpeech, Transcriber, Transcript, TranscriptionOptions,
                                          placed_language, same_words, talk_prompt)
from talksearch.language_codes import whisper_code
from talksearch.library import Passage, Segment, Talk
from talksearch.models import ModelError, resolve, resolve_device
from talksearch.settings import Settings

EMBEDDED_AT_ONCE = 256  # passages embedded between two progress reports (a few seconds of the default models)


# How sure whisper's detection (``Transcriber.detect_language``: its average probability) must be of another
# language than a feed's channel states for the talk to be taken as spoken in that one: past half (more probable than
# all others together, the channel's included), with a margin. With base, espeak talks in one language were detected
# at 0.76 to 0.99 (English ones in a German channel's feed at 0.92); a German talk that opens with a few English
# sentences as English at 0.51, which keeps the channel's German.
CHANNEL_LANGUAGE_OVERRULED = 0.6
# ... or how many times as probable as the channel's language whisper must find it. Unsure of any, whisper still
# tells a language from one it does not hear: a French talk heard as French 0.385 (English 0.019) and a German one
# as German 0.479 (English 0.037) in feeds whose channel says en-us were stored as English and transcribed as
# invented English (an issue 16 audit). Of the 45 German, Spanish and French talks of the languages benchmark,
# whisper finds each one's language at least 3.5 times as probable as English (de8: 0.47 against 0.14).
CHANNEL_LANGUAGE_OUTWEIGHED = 3.0
# ... but never Latin (``placed_language``): English in strong foreign accents in a feed that rightly says en-us was
# taken for Latin (0.571 against English 0.093: a reviewer's hunt; a plain English clip at 0.85 in
# open-webui/open-webui#30016).

# The bundled model that hears 99 languages: what an English-only model hands a talk in another language to.
MULTILINGUAL_WHISPER = "base"


class TalkFailed(Exception):
    """This talk cannot be indexed; the message says why in one line."""


@dataclass
class Processed:
    talk: Talk
    sentences: list[Segment]
    passages: list[Passage]
    embeddings: np.ndarray
    audio_seconds: float
    seconds: float  # processing time for this talk
    captions_refused: str | None = None  # why the talk's captions were not used, when it had some
    translate_seconds: float = 0.0  # of ``seconds``, the English pass (--translate)
    token_vectors: list[np.ndarray] | None = None  # per passage, its meaningful words' vectors (kept for sentences)
    untranslated: str | None = None  # why --translate gave a talk not in English no English, when it did not
    replaces: str | None = None  # the talk whose replaced recording this is (``Fetched.replaces``)
    language_note: str | None = None  # that whisper heard another language than its feed's channel states, or none
    resumed_seconds: float = 0.0  # of ``audio_seconds``, what an interrupted run had transcribed (ChunkLog)


def embedded_passages(embedder: Embedder, talk: Talk, sentences: Sequence[Segment],
                      options: PassageOptions) -> tuple[list[Passage], np.ndarray, list[np.ndarray]]:
    """A transcript's passages as ``TalkProcessor.process`` makes them (cut at the talk's chapters, embedded after
    its title), with their embeddings and their meaningful words' vectors, at once: for a talk made again from its
    stored sentences (its title or chapters changed: ``IndexRun``; another embedding model: ``Reembedding``)."""
    passages = make_passages(list(sentences), options, talk.chapters)
    embeddings, tokens = embedder.passages_with_tokens(embedding_texts(passages, asdict(talk), options))
    return passages, embeddings, [t.meaningful() for t in tokens]


def worker_layout(settings: Settings) -> tuple[int, int]:
    """Talks transcribed at once, and CPU threads for each.

    On CPU, whisper's batched decoding uses one thread well and a second poorly, so talks side by side
    on a thread each beat one talk on all threads (1.3× with beam 5 on two cores, docs/benchmarks.md).
    A GPU takes one talk at a time, in large batches.
    """
    cores = os.cpu_count() or 1
    workers = settings.transcribe_workers or (1 if resolve_device(settings.device) == "cuda" else min(cores, 8))
    return workers, settings.threads or max(1, cores // workers)


class TalkProcessor:
    def __init__(self, settings: Settings, work_dir: Path | None = None):
        """``work_dir``: where a talk's transcription is kept chunk by chunk while it runs (``ChunkLog``), for the
        next run to resume after an interruption, until the writer has committed the talk (``IndexRun.commit`` removes
        the logs); None keeps nothing (a Ray actor's scratch folder goes with it)."""
        keep_freed_memory()  # before the model threads start: see indexer/allocator.py
        # The embedding model loads in the background while whisper loads and the first talk downloads
        # and transcribes (a first run converts it for CTranslate2, importing torch: seconds).
        self.workers, threads = worker_layout(settings)
        self._embedder: Future[Embedder] = ThreadPoolExecutor(1, thread_name_prefix="embedder-load").submit(
            Embedder.from_settings, settings, threads=threads, replicas=self.workers)
        self.settings, self.threads, self.work_dir = settings, threads, work_dir
        self.whisper_name = settings.whisper_model  # the resolved model's name once it has loaded
        self._transcriber: Transcriber | None = None
        self._transcriber_lock = threading.Lock()
        # The bundled multilingual model, loaded only when an English-only model meets a talk it cannot hear
        # (or whose language it cannot tell): False once it turned out not to be installed.
        self._multilingual: Transcriber | None | bool = None
        self.multilingual_error: str | None = None  # why ``multilingual()`` is None
        if settings.captions == "never":  # every talk needs whisper: load it now, beside the embedder
            _ = self.transcriber
        self.passage_options = PassageOptions()

    @property
    def embedder(self) -> Embedder:
        return self._embedder.result()  # re-raises a model loading error here

    def _stop_if_embedder_failed(self) -> None:
        """Raise the embedding model's loading error once its load has failed (it loads in the background): read
        only to embed a talk, it was said once the first talk was transcribed, a long talk's hour wasted."""
        if self._embedder.done():
            _ = self.embedder

    @property
    def transcriber(self) -> Transcriber:
        """Whisper, loaded when the first talk needs it: a run whose talks all have captions never loads it."""
        with self._transcriber_lock:
            if self._transcriber is None:
                whisper = resolve("whisper", self.settings.whisper_model)  # once: a bundled model's checksum is read whole
                self._transcriber = Transcriber(
                    whisper, self.settings.device, self.settings.compute_type, self.threads,
                    TranscriptionOptions.from_settings(self.settings), self.workers,
                )
                self.whisper_name = whisper.name
            return self._transcriber

    def multilingual(self) -> Transcriber | None:
        """Bundled ``MULTILINGUAL_WHISPER``, loaded on first need; None when it is not installed."""
        with self._transcriber_lock:
            if self._multilingual is None:
                try:
                    self._multilingual = Transcriber(
                        resolve("whisper", MULTILINGUAL_WHISPER), self.settings.device, self.settings.compute_type,
                        self.threads, TranscriptionOptions.from_settings(self.settings), self.workers)
                except ModelError as exc:
                    self._multilingual, self.multilingual_error = False, str(exc)
            return self._multilingual or None

    def process(self, fetched: Fetched, on_progress: Callable[[float, float], None] | None = None,
                on_embedded: Callable[[int, int], None] | None = None,
                on_note: Callable[[str], None] | None = None) -> Processed:
        """The talk's transcript (its captions, else whisper's; ``on_progress(seconds done, duration)``), sentences,
        passages and their embeddings (``on_embedded(passages done, passages)``). ``on_note`` is told, while the
        talk is transcribed, what the user should know before its outcome (its transcription not kept for resuming).
        An embedding model that cannot load stops the talk (and the run) before or while it is transcribed."""
        started = time.perf_counter()
        self._stop_if_embedder_failed()
        talk, language_note = fetched.talk, None
        if fetched.pending_captions is not None and fetched.captions is None:
            language_note = self._choose_captions(fetched)
        if fetched.captions is not None:  # the talk's own captions: no transcription
            segments = fetched.captions.segments
            audio_seconds = talk.duration or max(s.end for s in segments)
            talk.language = fetched.captions.language or talk.language
            if talk.language is None:  # (the channel's word is a hint, as for a talk whisper transcribes)
                talk.language, language_note = self._heard_language(fetched)
            talk.whisper_model = ""
            talk.transcript_source = fetched.captions.source
        else:
            transcript, whisper_name, language_note = self._transcribe(fetched, on_progress, on_note)
            segments, audio_seconds = transcript.segments, transcript.duration
            # what whisper decoded: measured, unlike a duration the source states (a feed's, a sidecar .info.json's)
            talk.duration = transcript.duration or talk.duration
            talk.language = transcript.language
            talk.whisper_model = whisper_name
            talk.transcript_source = f"whisper {whisper_name}"
        sentences = split_sentences(segments, self.passage_options)
        translate_seconds = self._translate(fetched, sentences) if self.settings.translate else 0.0
        passages = make_passages(sentences, self.passage_options, talk.chapters)
        embeddings, tokens = self._embed(embedding_texts(passages, asdict(talk), self.passage_options), on_embedded)
        talk.embed_model = self.embedder.name
        # (the talk's chunk logs stay until the writer has committed it: a talk waiting behind a slow commit, its
        # work done, is interrupted as easily as one being transcribed)
        return Processed(talk, sentences, passages, embeddings, audio_seconds, time.perf_counter() - started,
                         fetched.captions_refused, translate_seconds, [t.meaningful() for t in tokens],
                         self._untranslated(fetched, sentences), replaces=fetched.replaces, language_note=language_note,
                         resumed_seconds=0.0 if fetched.captions is not None else transcript.resumed_seconds)

    def _embed(self, texts: list[str], on_embedded: Callable[[int, int], None] | None) -> tuple[np.ndarray, list]:
        """Each passage's embedding and its words' vectors (for rescoring search results), one forward pass for
        both; a part at a time, said to ``on_embedded``: a 3-hour talk's 5,000 passages took the three default
        models minutes, with nothing to show for them (a hunt)."""
        if on_embedded is None or len(texts) <= EMBEDDED_AT_ONCE:
            return self.embedder.passages_with_tokens(texts)
        vectors, tokens = [], []
        for start in range(0, len(texts), EMBEDDED_AT_ONCE):
            part_vectors, part_tokens = self.embedder.passages_with_tokens(texts[start : start + EMBEDDED_AT_ONCE])
            vectors.append(part_vectors)
            tokens += part_tokens
            on_embedded(min(start + EMBEDDED_AT_ONCE, len(texts)), len(texts))
        return np.concatenate(vectors), tokens

    def _choose_captions(self, fetched: Fetched) -> str | None:
        """Captions in several languages for a talk nothing names the language of: those in the language whisper
        hears in its recording (detected first, a few seconds; its feed's channel's where whisper is not sure of
        another), or refused as they were found when it cannot tell (no ``base``, no speech, no channel's word);
        the reason goes before any other note of the source's. Returns the note that whisper overruled the
        channel, as ``_heard_language`` says it."""
        pending = fetched.pending_captions
        heard, language_note = self._heard_language(fetched)
        transcript, refused = pending.read(heard) if heard else (None, pending.refused)
        fetched.captions = transcript
        fetched.captions_refused = "; ".join(note for note in (refused, fetched.captions_refused) if note) or None
        return language_note

    def _heard_language(self, fetched: Fetched) -> tuple[str | None, str | None]:
        """The language of a captioned talk whose source and captions do not name one, and the note that says when
        it is another than its feed's channel states: the channel's word is a hint, as for a talk whisper
        transcribes (``_checked_channel_language``). A Spanish talk with Spanish captions in a channel that says
        en-us was stored as English, missed by a filter for Spanish. Without ``base`` (or speech) the channel's
        word stands."""
        channel_language = whisper_code(fetched.channel_language)
        probabilities = self._language_probabilities(fetched)
        if probabilities is None:  # (the channel's word, which whisper may not know: stored as stated)
            return fetched.channel_language, None
        return _checked_channel_language(probabilities, channel_language)

    def _language_probabilities(self, fetched: Fetched) -> dict[str, float] | None:
        """What whisper ``base`` hears in a captioned talk whose source and captions do not name its language
        (unknown, the talk would escape every language filter), as the whisper path detects it: from the downloaded
        audio, or else from the opening minutes of the talk's media, read as a stream from the URL yt-dlp resolved
        (no file is written). None without ``base``, without speech or without media it can read."""
        stream = fetched.media_stream if urlsplit(fetched.media_stream or "").scheme in ("http", "https") else None
        source = fetched.audio or stream
        detector = self.multilingual() if source is not None else None
        if detector is None:
            return None
        try:
            return detector.language_probabilities(str(source))
        except Exception:  # NoSpeech, undecodable or unreachable media: the captions still stand, the language unknown
            return None

    def _untranslated(self, fetched: Fetched, sentences: list[Segment]) -> str | None:
        """Why --translate leaves this talk without English, where the user would expect it: a talk not in
        English indexed from its site's or feed's captions, whose audio was never downloaded (reading the whole
        recording over the network to translate it is not what captions first promises); or whose audio gave
        whisper nothing to translate (a captioned talk's silent recording: said nowhere, its export's refusal then
        blamed a missing --translate)."""
        language = whisper_code(fetched.talk.language)
        if not self.settings.translate or language in (None, "en") or not sentences:
            return None
        if fetched.audio is None:
            return ("not translated: indexed from its captions, with no audio for --translate "
                    "(--captions never transcribes and translates it)")
        if not any(sentence.translation for sentence in sentences) and self._translator() is not None:
            return "not translated: whisper heard no speech to translate in its recording"
        return None

    def _translator(self) -> Transcriber | None:
        """The model whisper's translate task runs on: the chosen one when it is multilingual, else ``base``."""
        return self.transcriber if self.transcriber.is_multilingual else self.multilingual()

    def _translate(self, fetched: Fetched, sentences: list[Segment]) -> float:
        """Give each sentence of a talk not in English its English (whisper's translate task on the multilingual
        model, over the sentence's own audio); the seconds it took. A talk in English, of no known language, or
        without audio (indexed from captions alone) is left as it is."""
        language = whisper_code(fetched.talk.language)
        if language in (None, "en") or fetched.audio is None or not sentences:
            return 0.0
        started = time.perf_counter()
        transcriber = self._translator()
        if transcriber is None:
            return 0.0
        english = transcriber.translate(str(fetched.audio), [(s.start, s.end) for s in sentences], language)
        for sentence, text in zip(sentences, english):
            sentence.translation = None if text and same_words(text, sentence.text) else text
        return time.perf_counter() - started

    def _transcribe(self, fetched: Fetched, on_progress: Callable[[float, float], None] | None,
                    on_note: Callable[[str], None] | None = None) -> tuple[Transcript, str, str | None]:
        """The talk's transcript, the name of the whisper model that made it, and a note when whisper heard another
        language than its feed's channel states. Its chunks are kept as they are done (``ChunkLog``), for a run
        after an interruption; the writer removes them once the talk is committed."""
        if fetched.audio is None:
            raise TalkFailed("no audio to transcribe")
        transcriber = self.transcriber  # a model that cannot load stops the run (ModelError), not just this talk
        self._stop_if_embedder_failed()  # (failed while whisper loaded)

        def on_transcribed(done: float, duration: float) -> None:
            self._stop_if_embedder_failed()  # (failed while this talk is transcribed: its chunks kept stay kept)
            if on_progress is not None:
                on_progress(done, duration)

        def unkept(exc: OSError) -> None:
            if on_note is not None:
                where = f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc.strerror or exc)
                on_note(f"its transcription cannot be kept for resuming ({where}): a run interrupted before it is "
                        "added transcribes it again from the start")
        # forced, or the source's when whisper knows it (else detected: a feed may say "English" or a retired code)
        name, language, note = self.whisper_name, whisper_code(fetched.talk.language), None
        channel_language = whisper_code(fetched.channel_language)
        chunk_log = None
        try:
            if not transcriber.is_multilingual:  # (which cannot tell languages apart: base checks the channel's)
                transcriber, name, language, note = self._for_english_only_model(str(fetched.audio), language,
                                                                                 channel_language)
            elif language is None:  # (detected here rather than by transcribe(): the channel's word is checked)
                language, note = _checked_channel_language(
                    transcriber.language_probabilities(str(fetched.audio)), channel_language)  # NoSpeech: silence
            hotwords = talk_prompt(fetched.talk, self.settings.vocabulary)
            chunk_log = None if self.work_dir is None else ChunkLog.for_transcript(
                self.work_dir, fetched.talk.id, fetched.audio.stat().st_size, name, asdict(transcriber.options),
                language, hotwords, on_unwritable=unkept)
            transcript = transcriber.transcribe(str(fetched.audio), on_transcribed, hotwords=hotwords,
                                                language=language, chunk_log=chunk_log)
            return transcript, name, note
        except NoSpeech as exc:
            if chunk_log is not None:
                chunk_log.remove()
            raise TalkFailed(str(exc)) from None
        except TalkFailed:
            raise
        except Exception as exc:  # PyAV decode errors and the like: the file is not usable media
            if self._embedder.done() and exc is self._embedder.exception():  # (raised by on_transcribed)
                raise
            # (a ValueError is the reading's own sentence, "the file has no audio stream"; a decoder's error is
            # named by its class, which says more than its text: InvalidDataError)
            said = str(exc)[:120] if type(exc) is ValueError else f"{type(exc).__name__}: {str(exc)[:120]}"
            raise TalkFailed(f"not readable as audio ({said})") from None

    def _for_english_only_model(self, audio: str, language: str | None, channel_language: str | None
                                ) -> tuple[Transcriber, str, str | None, str | None]:
        """An English-only model hears every language as English gibberish, and cannot tell which it hears: the
        talk's language is taken from its source or detected by the multilingual model (which checks what its
        feed's channel alone states, as ``_checked_channel_language`` does, with its note), and a talk not in
        English goes to that model (or is refused when it is not installed). Without that model the channel's
        word is taken."""
        multilingual, note = self.multilingual(), None
        if language is None and multilingual is not None:
            language, note = _checked_channel_language(multilingual.language_probabilities(audio), channel_language)
        elif language is None:  # a German talk was stored as tiny.en's English gibberish without a word
            note = f"transcribed as English: its language could not be checked ({self.multilingual_error})"
        language = language or channel_language
        if language in (None, "en"):  # English, or no way to tell: the chosen model's own task
            return self.transcriber, self.whisper_name, "en", note
        if multilingual is None:
            raise TalkFailed(f"spoken in {language!r}, which whisper model {self.whisper_name} (English only) "
                             f"cannot transcribe; index it with --whisper-model {MULTILINGUAL_WHISPER}")
        return multilingual, MULTILINGUAL_WHISPER, language, note


def _checked_channel_language(probabilities: dict[str, float], channel_language: str | None) -> tuple[str, str | None]:
    """The language of a talk whose source does not state one, or whose feed's channel alone states one
    (``Fetched.channel_language``), from what whisper hears (``Transcriber.language_probabilities``), and the note
    that says when it is another than the channel's, or when whisper could not place the speech (Latin first: taken
    as ``placed_language`` says): the one whisper hears, where it is sure of it or finds it far more probable than
    the channel's (``CHANNEL_LANGUAGE_OUTWEIGHED``; never Latin), else the channel's. A conference's feed
    states one language for talks in several: an English talk in a channel that says German was stored as German,
    its words (English still: whisper, told German, wrote them as heard) then missed by a filter for English and
    treated as German by the keyword index."""
    detected = placed_language(probabilities)
    ranked = sorted(probabilities, key=probabilities.__getitem__, reverse=True)
    unplaced = ranked[0] == UNPLACED_SPEECH
    if channel_language is None:
        if not unplaced:
            return detected, None
        heard = _heard(probabilities, ranked)
        return detected, (f"taken as {detected!r}: whisper could not place its speech ({heard}); --language names a "
                          "talk's language")
    if detected in (channel_language, UNPLACED_SPEECH):
        return channel_language, None
    probability, stated = probabilities.get(detected, 0.0), probabilities.get(channel_language, 0.0)
    # Speech whisper could not place, English next, is English where the channel's language is far less probable:
    # accented English in a feed whose channel says German (Latin 0.62, English 0.28, German 0.002) stayed German.
    if probability >= CHANNEL_LANGUAGE_OUTWEIGHED * stated or (
            not unplaced and probability > CHANNEL_LANGUAGE_OVERRULED):
        heard = f" (whisper could not place its speech: {_heard(probabilities, ranked)})" if unplaced else ""
        return detected, f"spoken in {detected!r}, though its feed says {channel_language!r}{heard}"
    return channel_language, None


def _heard(probabilities: dict[str, float], ranked: list[str]) -> str:
    """The two languages whisper hears most, with their probabilities, for a talk's note; three where English came
    next but not clearly ahead of the third (``placed_language``), which is why the talk was not taken as English."""
    shown = 3 if ranked[1:2] == ["en"] and placed_language(probabilities) != "en" else 2
    return ", ".join(f"{language!r} {probabilities[language]:.2f}" for language in ranked[:shown])

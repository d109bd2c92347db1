"""A batch indexing run: list sources, fetch audio, transcribe, cut passages, embed, commit.

Sources are listed here, talks are processed by an engine, and every result is committed here by the
one writer. The local engine fetches in a thread one or two talks ahead of transcription, so downloads
overlap with the models' work; the Ray engine (indexer/ray_engine.py) fans talks out to actors. Each
talk ends in exactly one outcome line (added, updated, skipped or failed) and one bad talk never stops the batch.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shlex
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from tqdm import tqdm

from talksearch.indexer.chapters import _unstated_chapters
from talksearch.indexer.chunk_log import ChunkLog
from talksearch.indexer.fetching import (InLibrary, Known, Moved, Outcome, discard, fetch_once, list_candidates,
                                         removed_from, talk_failed)
from talksearch.indexer.passages import PassageOptions, passages_changed_by
from talksearch.indexer.processor import Processed, TalkFailed, TalkProcessor, embedded_passages
from talksearch.indexer.ray_engine import check_reachable, process_on_ray, require_ray
from talksearch.indexer.source_identity import elsewhere
from talksearch.indexer.sources import Candidate, Fetched, Sources
from talksearch.library import DOWNLOADS, MEDIA, Library, missing_parts, record_time
from talksearch.embedding import WITH_OTHER_LANGUAGES, reads_only_english, recorded_name
from talksearch.settings import Settings
from talksearch.storage import storage_kind
from talksearch.text import printable, shown
from talksearch.timecode import clock

_DONE = object()


class RunStopped(Exception):
    """Raised in a worker, at its next progress, once the run stops on an error (``IndexRun._process_locally``)."""


@dataclass
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)
    wall_seconds: float = 0.0
    workers: int = 1

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def audio_seconds(self) -> float:
        """The added talks' audio this run heard (not what an interrupted run had transcribed): what its speed is of."""
        return sum(o.audio_seconds for o in self.outcomes if o.status == "added")

    @property
    def realtime_factor(self) -> float:
        return self.audio_seconds / self.wall_seconds if self.wall_seconds else 0.0

    def line(self) -> str:
        updated = f"{self.count('updated')} updated, " if self.count("updated") else ""  # (known talks' new details)
        # a run that transcribed nothing (talks skipped, or resumed whole) has no speed: 0.0× would say it was slow
        speed = f" ({self.realtime_factor:.1f}× real time)" if self.audio_seconds else ""
        return (
            f"{self.count('added')} added, {updated}{self.count('skipped')} skipped, {self.count('failed')} failed; "
            f"{self.audio_seconds / 3600:.2f} h of audio in {self.wall_seconds:.1f} s{speed}"
            + (f" on {self.workers} workers" if self.workers > 1 else "")
        )


class IndexRun:
    def __init__(self, settings: Settings, report: Callable[[str], None] = print, engine: str = "local",
                 ray_address: str | None = None, reindex: bool = False,
                 on_outcome: Callable[[Outcome], None] | None = None, holder: str = "talksearch index",
                 for_api: bool = False):
        """``reindex``: talks the library has are indexed again and replace what it had (one transaction each).
        ``report`` gets each talk's line, ``on_outcome`` its outcome (before the line), as each talk is done.
        ``holder``: what a writer refused while this run holds the library is told holds it. ``for_api``: the run
        is a job submitted over the service's API, whose client cannot run talksearch or pass it flags: its lines
        name the API's ways (``DELETE /api/removals/ID``) rather than the CLI's."""
        self.settings = settings
        self.reindex = reindex
        # a job's lines name the API's paths under the root path the service is served at (behind a proxy's prefix)
        self.api = (settings.root_path or "") if for_api else None
        self.report = report
        self.on_outcome = on_outcome
        self.engine = engine
        self.ray_address = ray_address
        made = missing_parts(settings.library)  # None: a library is there already, and stays whatever happens
        # Refuse a model mismatch before any download or model load.
        self.library = opened = None
        try:
            self.library = opened = Library.open(settings.library, create=True)
            upgraded = self.library.acquire_writer(holder)
        except Exception as exc:
            if opened is not None:
                opened.close()
            # A new library the disk had no room to make (a full disk): removed, as one a run stored nothing in is
            # (``close``); left half made, readers refused it. Not on any other failure: a run refused the lock
            # leaves what the writer holding it made.
            if made is not None and storage_failure(exc, settings.library):
                made.remove()
            raise
        if upgraded:  # an earlier release's library: said once
            report(upgraded)
        # Only now, holding the library: a run refused its lock must not remove what the writer holding it made.
        self._made = made
        self._stored = False  # whether a talk was committed (a library with one is the user's, however the run ends)
        self._results: Iterator | None = None  # the engine's results (a generator) once the run has started
        try:
            if self.library.embed_model and "embed_model" not in settings.model_fields_set:
                # The default model is for new libraries; one made before keeps its own (a library is one model's).
                settings = self.settings = settings.model_copy(update={"embed_model": self.library.embed_model})
            if "translate" not in settings.model_fields_set and not settings.translate and self.library.translates():
                # ... and one whose talks have their English beside them keeps translating: a talk added without
                # it would be the one an English query cannot find by its words (--no-translate says otherwise)
                settings = self.settings = settings.model_copy(update={"translate": True})
            self.library.check_embedding_model(recorded_name(settings.embed_model))
            self.library.sync_vector_index(save=True)  # finish what an interrupted run left
            if engine == "ray":
                require_ray()
                check_reachable(ray_address)
                self.processor = None  # models load in the Ray actors
            else:
                # --captions never: whisper loads here; a transcription stopped midway resumes from downloads/
                self.processor = TalkProcessor(settings, work_dir=settings.library / DOWNLOADS)
        except Exception:
            self.close(failed=True)
            raise
        self._bars = progress_bars_drawn(sys.stderr)
        # Worker threads say their notes while the writer reports outcomes: print writes a line and its newline
        # separately, so two unguarded lines can run together ('...its audionote ...', seen in CI).
        self._saying = threading.Lock()
        self.workers = 1
        self._stopping = threading.Event()  # the run stopped on an error: workers leave their talks (RunStopped)
        # The talks this run put at a path (pointed at their recordings' new paths, or indexed from one): not
        # retired as the talk a recording met at their old path replaces
        self._placed: set[str] = set()
        # The talks whose recording a known one took the place of (``Known.replaces``), by id, each with the outcome
        # whose line names it if it goes: retired at the end of the run, unless this run meets the recording at
        # another path meanwhile (recordings rotated among three paths each take their talk along)
        self._retiring: dict[str, Outcome] = {}
        # Outcomes done, in order, whose lines wait (from the first one that names a talk in ``_retiring`` on):
        # such a line says whether the talk went, known only once its recording is met or the run ends
        self._held: list[Outcome] = []
        # --keep-media: the downloaded recordings of processed talks, by archive id, moved into media/ only once the
        # writer has committed their talk (``_keep_recording``): moved before, a commit that failed (a full disk)
        # left one there that no talk owns, and ``talksearch check`` failed on it
        self._to_keep: dict[str, Fetched] = {}
        self._keeping = threading.Lock()

    def close(self, failed: bool = False) -> None:
        """``failed``: the run stopped on an error (a model that cannot load; not Ctrl-C, after which the same command
        resumes). A library this run made and stored no talk in is removed again: left, it would pass for a library
        the user has, empty."""
        try:
            if self._results is not None:
                # Interrupted while the writer committed a talk (not while the engine waited, which its generator
                # saw), the engine's workers are left at theirs: closed, its generator stops them (the Ray engine's
                # scratch folders are removed) before the CLI exits at once
                self._results.close()
        finally:
            self.library.close()
        if failed and self._made is not None and not self._stored:
            self._made.remove()

    def run(self, sources: list[str]) -> Summary:
        started = time.perf_counter()
        summary = Summary()
        overall = tqdm(desc="talks", unit="talk", total=0, position=0, disable=not self._bars, leave=True)
        if self.engine == "ray":
            results = self._results = process_on_ray(self, sources, overall)
        else:
            results = self._results = self._process_locally(sources, overall)
        try:
            for label, result in results:
                if isinstance(result, Processed):
                    try:
                        outcome = self.commit(result, label)
                        self._keep_recording(result, self.library.has_archive_id(result.talk.archive_id))
                    except BaseException:  # (a Ctrl-C after the commit too: its recording is kept all the same)
                        with contextlib.suppress(OSError, sqlite3.Error):  # (what the commit failed on is what is said)
                            self._after_stopped_commit(result)
                        raise
                elif isinstance(result, Known):  # a local recording the library knows, where another talk's was
                    outcome = self._place(result)
                elif isinstance(result, InLibrary):
                    outcome = self._restate(result)
                else:
                    outcome = result
                overall.update(1)
                self._held.append(outcome)
                self._release(summary)
            self._retire_unmet()
        except Exception:  # a full disk, say: the engine stops its workers (its generator closed) before it is said
            self._stopping.set()  # (stopped on an error: the local engine waits for its workers, see _process_locally)
            results.close()
            raise
        finally:  # (interrupted: the talks still to be retired stay, and the next run finds them again)
            self._retiring.clear()
            self._release(summary)
            with self._keeping:  # processed, never committed (the run stopped): their recordings, as a failed talk's
                left, self._to_keep = list(self._to_keep.values()), {}
            for fetched in left:
                with contextlib.suppress(OSError):
                    discard(fetched)
        overall.close()
        summary.wall_seconds = time.perf_counter() - started
        summary.workers = self.workers
        return summary

    def commit(self, processed: Processed, label: str) -> Outcome:
        """The single writer: record a processed talk, unless it was committed meanwhile. The talk's chunk logs
        (``ChunkLog``) go once it is committed, or skipped here: kept till then, a talk waiting behind a slow commit
        (a vector index retrained, a slow disk) resumes after an interruption rather than being transcribed again."""
        known = self.library.has_archive_id(processed.talk.archive_id)
        if known and not self.reindex:  # (this run's, met again under another link): named as the library has it
            stored = self.library.talk_with_archive_id(processed.talk.archive_id)
            self._done_transcribing(processed)
            return Outcome("skipped", stored.title, "already in the library", talk_id=stored.id)
        removed = self.library.removed_on(processed.talk.archive_id)
        if removed and not self.reindex:  # (known only once fetched, or by the Ray engine): not stored again
            self._done_transcribing(processed)
            return Outcome("skipped", processed.talk.title or label,
                           removed_from(self.library, processed.talk.archive_id, self.api),
                           talk_id=self.library.removed_as(processed.talk.archive_id))
        # A local recording replaced at its path takes the place of the talk there, unless this run found that
        # talk's recording at another path meanwhile (moved aside, a new one put in its place)
        replaces = self._retirable(processed.replaces)
        # a talk the library knows, indexed again (--reindex) where another talk's recording was: that other talk
        # goes, and the line names it, as when the recording is met there without --reindex (_place)
        displaced = self.library.talk(replaces) if known and replaces else None
        self.library.bind_embedding_model(processed.talk.embed_model, processed.embeddings.shape[1],
                                          processed.token_vectors[0].shape[1] if processed.token_vectors else None)
        talk_id = self.library.add_talk(processed.talk, processed.sentences, processed.passages, processed.embeddings,
                                        replace=known, token_vectors=processed.token_vectors, replaces=replaces)
        self._stored = True
        self._done_transcribing(processed)
        self._placed.add(talk_id)
        self._retiring.pop(talk_id, None)  # (--reindex: its recording, met at another path, indexed there again)
        # by this run: the rest an interrupted run's (rounded: a talk resumed whole leaves a sum's float error)
        heard = round(processed.audio_seconds - processed.resumed_seconds, 2)
        # a talk an interrupted run transcribed whole has no speed: 0.0× would say this run was slow
        speed = f", {heard / processed.seconds:.1f}× real time" if heard else ""
        detail = (f"{talk_id}, {clock(processed.audio_seconds)} of audio in {processed.seconds:.1f} s{speed}, "
                  f"{len(processed.passages)} passages, {processed.talk.transcript_source}")
        if processed.resumed_seconds:
            detail += f"; resumed: {clock(processed.resumed_seconds)} of it transcribed by an interrupted run"
        if processed.captions_refused:  # the one line says why the talk's captions were not used
            detail += f"; {processed.captions_refused}"
        if processed.untranslated:
            detail += f"; {processed.untranslated}"
        if processed.language_note:
            detail += f"; {processed.language_note}"
        language = processed.talk.language
        if language not in (None, "en") and reads_only_english(processed.talk.embed_model):
            detail += (f"; spoken in {language!r}, which the embedding model does not read: found by its words, not "
                       f"their meaning (a library that reads it is made from this one with talksearch reembed "
                       f"{shlex.quote(str(self.settings.library))} --library NEW --embed-model {WITH_OTHER_LANGUAGES})")
        if known or replaces:
            detail += ", replacing the earlier transcript"
        if removed:
            detail += f"; removed from this library on {removed[:10]}, added back"
        if displaced is not None:
            detail += _removed(displaced)
        # the audio this run heard, which the run's speed (Summary) is of, as the line's is
        return Outcome("added", label, detail, heard, talk_id)

    def _after_stopped_commit(self, processed: Processed) -> None:
        """A commit that raised (a full disk; Ctrl-C or SIGTERM) may have stopped after SQLite committed the talk:
        ``add_talk`` adds its vectors after. Such a talk is the library's, as a commit that returned leaves it (its
        --keep-media recording kept, its chunk logs gone, a new library kept); any other's recording goes."""
        stored = self.library.talk_with_archive_id(processed.talk.archive_id)
        # add_talk stamps the talk it stores: the talk stored before (--reindex) has an earlier stamp
        committed = (stored is not None and processed.talk.indexed_at is not None
                     and stored.indexed_at == processed.talk.indexed_at)
        if committed:
            self._stored = True
            self._done_transcribing(processed)
        self._keep_recording(processed, committed)

    def _keep_recording(self, processed: Processed, committed: bool) -> None:
        """--keep-media: the talk's downloaded recording moved into media/ once the library holds the talk (--reindex:
        one recording per talk, the one it is now indexed from); removed when it does not (its commit failed, or it
        was a talk removed from the library)."""
        with self._keeping:
            fetched = self._to_keep.pop(processed.talk.archive_id, None)
        if fetched is None:  # not downloaded, --keep-media not given, or the Ray engine's
            return
        if committed:
            for earlier in self.library.kept_media(fetched.talk):
                if earlier.name != fetched.audio.name:
                    earlier.unlink(missing_ok=True)
        discard(fetched, self.settings.library / MEDIA if committed else None)

    def _done_transcribing(self, processed: Processed) -> None:
        """Remove every chunk log of the talk's (those of other settings too): none is resumed once it is done."""
        ChunkLog.remove_all(self.settings.library / DOWNLOADS, processed.talk.id)

    def _restate(self, known: InLibrary) -> Outcome:
        """A talk the library has, skipped (``InLibrary``): the details its source states now stored where they
        changed, as an ``updated`` line, its transcript kept (nothing was downloaded); else skipped. Named by the
        title the library holds (a local file by its path), not the listing's."""
        stored = self.library.talk_with_archive_id(known.archive_id)
        if stored is None and (removed := removed_from(self.library, known.archive_id, self.api)):
            return Outcome("skipped", known.label, removed, talk_id=self.library.removed_as(known.archive_id))
        if stored is None:  # known under another key than the listed one (found on fetching)
            return Outcome(known.status, known.label, known.detail)
        details = dict(known.details)
        if "chapters" not in details and details.get("description", stored.description) != stored.description:
            # chapters its description listed follow it, and a description that comes to list some gives them (a
            # feed states none of its own without a request; a local recording's are read again:
            # Sources.listed_details); those of its recording's markers stay
            listed_before = _unstated_chapters([], stored.description, stored.duration)
            listed_now = _unstated_chapters([], details["description"], stored.duration)
            starts = lambda chapters: [(c.get("start_time"), c.get("title")) for c in chapters or []]  # noqa: E731
            # (ends: by a length since measured)
            if (listed_before or listed_now) and starts(listed_before) == starts(stored.chapters):
                details["chapters"] = listed_now
        if (listed := details.pop("url", None)) and elsewhere(listed, stored.url, stored.media_url):
            # a feed item's enclosure moved (its old URL may be gone): the talk follows it, its transcript kept
            details.update(url=listed, media_url=listed)
        changed = self.library.changed_details(stored.id, details)
        title = known.details["title"] if "title" in changed else stored.title
        label = known.label if known.named_by_path else title
        if not changed:
            return Outcome("skipped", label, known.detail, talk_id=stored.id)
        detail = f"details changed ({', '.join(changed)}); transcript kept"
        options = PassageOptions()  # as TalkProcessor cuts and embeds a talk
        sentences = self.library.segments(stored.id) if {"title", "chapters"} & set(changed) else []
        remade = passages_changed_by(changed, sentences, stored.chapters, details.get("chapters"), options)
        if remade and self.processor is not None:
            # Its passages are cut at its chapters' starts and embedded after its title: made again from its stored
            # sentences (new passage ids: an id names one vector for good, readers' indexes rely on it), stored with
            # the details in one transaction, as --reindex stores a talk: a run stopped between the two would leave
            # the earlier title's vectors.
            talk = replace(stored, **details, details_changed_at=record_time())
            passages, embeddings, token_vectors = embedded_passages(self.processor.embedder, talk, sentences, options)
            self.library.add_talk(talk, sentences, passages, embeddings, replace=True, token_vectors=token_vectors)
            self._stored = True
            detail += f"; its {len(passages)} passages made again after its new {' and '.join(remade)}"
        else:
            self.library.update_talk_details(stored.id, details)
            if remade:
                # The Ray engine's writer loads no embedding model: --reindex (or, over the API, which passes no
                # flags, the talk removed, its removal forgotten and indexed again) makes them
                detail += f" (its passages stay made after the earlier {' and '.join(remade)}: " + (
                    f"to make them again, remove the talk (`DELETE {self.api}/api/talks/{stored.id}`), forget its "
                    f"removal (`DELETE {self.api}/api/removals/{stored.id}`) and index this source again)"
                    if self.api is not None
                    else "--reindex makes them again)")
        return Outcome("updated", label, detail, talk_id=stored.id)

    def _place(self, known: Known) -> Outcome:
        """A known local recording skipped (``Known``): its talk pointed at where it is now (``Moved``), and the talk
        recorded at that path, whose recording is no longer there, retired as a replaced one is (``commit``), or
        pointed at where its recording is now, where the two swapped places. Retired at the end of the run
        (``_retire_unmet``): its recording, moved on too, may be met at another path yet, and the talk follow it."""
        detail = known.detail
        if isinstance(known, Moved):
            if not self.library.move_talk(known.talk_id, known.url, known.media_url):
                # retired earlier in this run, as this path's recording replaced at its old path
                return Outcome("failed", known.label, "its talk was removed meanwhile, its recording replaced at "
                                                      f"{known.moved_from}: index this file again to add it")
            self._placed.add(known.talk_id)
            self._retiring.pop(known.talk_id, None)  # its recording met here: it follows it, and is not retired
            partner = self.library.talk(known.swapped) if known.swapped not in (None, *self._placed) else None
            if partner is not None:
                own_page = partner.url == partner.media_url  # not a page a sidecar .info.json names
                self.library.move_talk(partner.id, known.moved_from if own_page else partner.url, known.moved_from)
                self._placed.add(partner.id)
                self._retiring.pop(partner.id, None)
                detail += f"; talk {partner.id} ({partner.title}) moved there, its recording's new path"
            # ... and the details its sidecar there states, stored where they changed (moved and retitled in one
            # step took a second run to take the title)
            restated = self._restate(InLibrary(known.status, known.label, detail, archive_id=known.archive_id,
                                               details=known.details, named_by_path=True))
            if restated.status == "updated":
                detail = detail.replace(known.detail, f"moved from {known.moved_from}; {restated.detail}", 1)
                known = replace(known, status="updated")
        placed = replace(known, detail=detail)
        if (replaces := self._retirable(known.replaces)) is not None:  # retired once the run has not met its recording
            self._retiring.setdefault(replaces, placed)
        return placed

    def _retire_unmet(self) -> None:
        """At the end of the run: retire the talks whose recording a known one took the place of and that this run
        did not meet at another path, each said on the line of the recording met where it was."""
        for talk_id, outcome in self._retiring.items():
            retired = self.library.talk(talk_id) if self._retirable(talk_id) else None
            if retired is not None and self.library.delete_talk(retired.id, record_removal=False):
                outcome.detail += _removed(retired)
        self._retiring.clear()

    def _release(self, summary: Summary) -> None:
        """Report the outcomes held, in order, up to the first whose line still waits on a talk in ``_retiring``."""
        waiting = {id(outcome) for outcome in self._retiring.values()}
        while self._held and id(self._held[0]) not in waiting:
            outcome = self._held.pop(0)
            summary.outcomes.append(outcome)
            self._report(outcome)

    def _retirable(self, talk_id: str | None) -> str | None:
        """``talk_id``, a talk recorded at a path where another recording is now, when it is to be retired: still
        in the library, and not one this run put at a path (its recording found elsewhere)."""
        if talk_id is None or talk_id in self._placed or self.library.talk(talk_id) is None:
            return None
        return talk_id

    def _report(self, outcome: Outcome) -> None:
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        self._say(outcome_line(outcome))

    def _say(self, line: str) -> None:
        with self._saying:
            if self._bars:  # as tqdm.write, the bars cleared and drawn again, but through ``report`` (the CLI's
                with tqdm.external_write_mode(file=sys.stdout):  # handling of output it cannot write: | head)
                    self.report(line)
            else:
                self.report(line)

    # --- the local engine -------------------------------------------------------------------------

    def _process_locally(self, sources: list[str], overall: tqdm) -> Iterator[tuple[str, Processed | Outcome]]:
        """Talks are fetched by one producer thread and processed by ``workers`` threads; results come back
        here, to the one writer, in the order they finish."""
        workers = self.workers = self.processor.workers  # (the summary says how many, as the Ray engine's does)
        fetched: queue.Queue = queue.Queue(maxsize=workers + 1)
        # Bounded too: behind a slow commit, each worker waits with one talk done rather than going on to hold more
        # (a long talk's embeddings and word vectors) in memory
        results: queue.Queue = queue.Queue(maxsize=workers)
        threading.Thread(target=self._produce, args=(sources, fetched, overall), daemon=True).start()
        for slot in range(workers):
            threading.Thread(target=self._work, args=(slot, fetched, results), daemon=True).start()
        running = workers
        try:
            while running:
                item = results.get()
                if item is _DONE:
                    running -= 1
                elif isinstance(item, Exception):
                    raise item  # a model that cannot load, a full disk: the run stops with one line
                else:
                    yield item
        except (Exception, GeneratorExit) as exc:  # here, or the writer's (run closes this generator): the workers
            # stop before the error is said and the process exits; left decoding, the models' native threads were torn
            # down under them at exit (a full disk's one line, then 'terminate called without an active exception'
            # and rc 134, or rc 139). Closed after Ctrl-C (``close``), not waited for: the CLI leaves by os._exit,
            # which tears down nothing, at once (a talk's decoding may be seconds from its next progress)
            stopped_on_error = isinstance(exc, Exception) or self._stopping.is_set()
            self._stopping.set()
            while stopped_on_error and running:
                running -= results.get() is _DONE  # (their outcomes, and their RunStopped, go unsaid)
            raise

    def _work(self, slot: int, fetched: queue.Queue, results: queue.Queue) -> None:
        """Worker thread: process fetched talks until the producer is done."""
        try:
            while (item := self._next_fetched(fetched)) is not _DONE:
                if isinstance(item, Exception):  # the producer failed: the run stops, and says why
                    raise item
                if isinstance(item, Outcome):
                    results.put((item.label, item))
                else:
                    results.put((item[1].talk.title or item[0].label, self._process(*item, slot)))
            if not self._stopping.is_set():  # (stopping, they see that; and the queue may be full)
                fetched.put(_DONE)  # let the other workers see the end too
        except Exception as exc:
            results.put(exc)
        finally:
            results.put(_DONE)

    def _next_fetched(self, fetched: queue.Queue) -> object:
        """The next fetched talk, or ``_DONE`` once the run stops (a download may be minutes away)."""
        while not self._stopping.is_set():
            try:
                return fetched.get(timeout=0.2)
            except queue.Empty:
                pass
        return _DONE

    def _produce(self, sources: list[str], out: queue.Queue, overall: tqdm) -> None:
        """Producer thread: list and download, one or two talks ahead of the models."""
        download_bar = tqdm(desc="download", unit="B", unit_scale=True, position=1, disable=not self._bars, leave=False)

        def on_download(_name: str, done: int, total: int | None) -> None:
            download_bar.total = total
            download_bar.n = done
            download_bar.refresh()

        reader = None
        seen: set[str] = set()
        try:  # from the start: whatever fails here must reach the workers, or they and the run wait for ever
            reader = Library.open(self.settings.library)  # its own connection: this thread only reads
            # a talk removed from the library is skipped as one it has is, nothing fetched: a feed re-run by cron must
            # not undo a takedown (_restate says so)
            known = (lambda _key: False) if self.reindex else (
                lambda key: reader.has_archive_id(key) or reader.removed_on(key) is not None)
            fetcher = Sources(self.settings.library / DOWNLOADS, known, self.settings.socket_timeout, on_download,
                              captions=self.settings.captions, language=self.settings.language,
                              keep_media=self.settings.keep_media, library_urls=reader.archive_urls,
                              removed_urls=reader.removed_archive_urls,
                              max_download_mb=self.settings.max_download_mb,
                              download_stall_seconds=self.settings.download_stall_seconds,
                              parse_metadata=self.settings.parse_metadata)
            for candidate in list_candidates(fetcher, sources, overall):
                if isinstance(candidate, Outcome):
                    out.put(candidate)
                    continue
                fetched = fetch_once(fetcher, candidate, seen)
                out.put(fetched if isinstance(fetched, Outcome) else (candidate, fetched))
        except Exception as exc:  # not one source's failure (those are outcomes): the run must not end as if done
            out.put(exc)
        finally:
            download_bar.close()
            if reader is not None:
                reader.close()
            out.put(_DONE)

    def _process(self, candidate: Candidate, fetched: Fetched, slot: int = 0) -> Processed | Outcome:
        bar = tqdm(desc="transcribe", unit="s audio", total=0, position=2 + slot, disable=not self._bars, leave=False,
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]")

        def on_progress(done: float, duration: float) -> None:
            if self._stopping.is_set():
                raise RunStopped("the run stopped")
            bar.total = duration
            bar.n = min(done, duration)
            bar.refresh()

        def on_embedded(done: int, passages: int) -> None:  # the same bar, on to the passages' embedding
            bar.set_description_str("embed", refresh=False)
            bar.bar_format = "{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} passages [{elapsed}<{remaining}]"
            on_progress(done, passages)

        # captions refused, said before whisper starts: on a long talk the outcome line that says so comes hours later
        refused = [note for note in (fetched.captions_refused or "").split("; ") if " not used: " in note]
        if refused and fetched.captions is None and fetched.pending_captions is None:
            label = fetched.talk.title or candidate.label  # as its added line will name it
            self._say(outcome_line(Outcome("note", label, "; ".join(refused + ["transcribing its audio"]))))

        def on_note(note: str) -> None:  # said as it happens: on a long talk the outcome line comes hours later
            self._say(outcome_line(Outcome("note", fetched.talk.title or candidate.label, note)))

        processed = None
        try:
            processed = self.processor.process(fetched, on_progress, on_embedded, on_note)
            return processed
        except TalkFailed as exc:
            return talk_failed(candidate, fetched, str(exc))
        finally:
            bar.close()
            # Kept only for a talk the library will hold: a failed talk's would belong to none (``check`` says so);
            # a processed one's once the writer has committed it (``_keep_recording``)
            if self.settings.keep_media and processed is not None and fetched.downloaded:
                with self._keeping:
                    self._to_keep[processed.talk.archive_id] = fetched
            else:
                discard(fetched)


def progress_bars_drawn(stream) -> bool:
    """Whether the run draws its progress bars on ``stream`` (stderr): a terminal that can move its cursor back up
    to redraw them. Not a file or a pipe, nor a stream it was started without (None: pythonw), nor TERM=dumb (Emacs'
    shell, a CI log's pseudo-terminal), which showed the bars' cursor moves as "^[[A"."""
    return stream is not None and stream.isatty() and os.environ.get("TERM") != "dumb"


def storage_failure(exc: BaseException, library) -> bool:
    """Whether ``exc`` is a storage failure under ``library`` (a full disk, a read-only one), or the library's
    one-line error made of one (``Library.open``'s LibraryError, raised from SQLite's)."""
    return any(storage_kind(e, library) is not None for e in (exc, exc.__cause__) if e is not None)


def outcome_line(outcome: Outcome) -> str:
    """A talk's one line: its status, its name, and what happened (an added talk's in brackets)."""
    line = f"{outcome.status:<8}{outcome.label}"
    if outcome.detail:
        line += f": {outcome.detail}" if outcome.status != "added" else f" ({outcome.detail})"
    # a title, path or error message from the source: one line, inert on a terminal, and a path's undecodable byte
    # written as the CLI's errors write it (\xe9), not as the surrogate Python holds (\udce9; '?' under LC_ALL=C)
    return printable(shown(line))


def _removed(talk) -> str:
    """What an outcome line adds for a talk retired because its recording is no longer at its path."""
    return f"; talk {talk.id} ({talk.title}), recorded at this path, removed: its recording is no longer there"

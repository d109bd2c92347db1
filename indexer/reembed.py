"""A new library made from another one with another embedding model, without transcribing again.

A library keeps the embedding model it was made with (``Library.check_embedding_model``). Its talks' transcripts
(sentences with their words, and their English where --translate made it) are all that passages and their vectors
are made from, so a library with the model the settings name is made from them: each talk's passages cut as the
indexer cuts them (``TalkProcessor.process``), embedded with the new model, and committed with the talk's record
through the writer's own calls (``IndexRun.commit``). The old library is only read (a read-only copy will do).

Run again, it brings the new library up to the old one as the old one is served on: talks added since are added, a
talk whose details the old one restated since (``TALK_DETAILS``: a feed retitled it) or that it follows elsewhere (a
local file moved, a feed item's enclosure moved) gets them, a talk transcribed again there (``--reindex``) gets its new
transcript, a local talk whose recording was replaced at its path there goes as it went there, removals there are
kept (and forgotten once forgotten there), and a talk the new library holds that the old one no longer has is named,
not removed: the new library may have talks of its own (and a talk removed from it is not added back).
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from talksearch.embedding import Embedder, recorded_name
from talksearch.indexer.fetching import Outcome, removed_from
from talksearch.indexer.passages import PassageOptions, passages_changed_by
from talksearch.indexer.pipeline import Summary, _removed as retired_line, outcome_line
from talksearch.indexer.processor import embedded_passages
from talksearch.library import (TALK_DETAILS, Library, LibraryError, Segment, StoredTalk, Talk, missing_parts,
                                record_time)
from talksearch.media_types import recording_path
from talksearch.settings import Settings
from talksearch.storage import storage_kind
from talksearch.text import printable

# What a re-run brings over of a talk the new library has, its transcript kept: the details its source restates, and
# where its recording is (a local file moved, a feed item's enclosure moved), as ``Library.update_talk_details`` takes
_RESTATED = (*TALK_DETAILS, "url", "media_url")
# What tells one transcript of a talk from another, besides its sentences (``Reembedding._transcribed_again``)
_TRANSCRIPT_RECORD = ("indexed_at", "transcript_source", "whisper_model", "language")


@dataclass
class ReembedSummary(Summary):
    """The run's line: what nothing transcribed makes (talks and passages embedded, not hours of audio)."""

    talks_embedded: int = 0
    passages_embedded: int = 0
    not_in_old: int = 0

    def line(self) -> str:
        updated = f"{self.count('updated')} updated, " if self.count("updated") else ""
        gone = f", {self.not_in_old} not in OLD" if self.not_in_old else ""
        talks = f"{self.talks_embedded} talk{'' if self.talks_embedded == 1 else 's'}"
        return (f"{self.count('added')} added, {updated}{self.count('skipped')} skipped, {self.count('failed')} "
                f"failed{gone}; {talks} ({self.passages_embedded} passages) re-embedded in {self.wall_seconds:.1f} s")


class Reembedding:
    """One run: ``old``'s talks that ``settings.library`` lacks (by archive key) added to it, each embedded with
    ``settings.embed_model``; those it has given ``old``'s details; those ``old`` lacks named. Refused before
    anything is written where ``old`` is no library, is the new one, or the new one was made with another model."""

    def __init__(self, old: Path, settings: Settings, report: Callable[[str], None] = print):
        self.report = report
        self.summary = ReembedSummary()
        if _same_folder(old, settings.library):
            raise LibraryError(f"{old} is the library to make (--library): re-embedding makes a new library from "
                               "an old one; name another --library")
        self.old = Library.open(old, readonly=True)  # "no library at ...", before the new one is made
        self.old_name = str(old)
        self.new_name = str(settings.library)
        try:
            self._open_new(settings)
        except Exception:
            self.old.close()
            raise

    def _open_new(self, settings: Settings) -> None:
        """The new library, held for writing, with the model checked (as ``IndexRun`` opens one); made now if need
        be, and removed again if the run stores nothing in it and fails or is interrupted (unlike `index`, whose
        interrupted run leaves downloads and transcriptions to resume, a run that stored nothing here leaves nothing
        a next one needs: left, the library would pass for one the user has, empty)."""
        self._made = missing_parts(settings.library)
        if self._made is None:  # a library there: its model checked first, by a reader (a writer takes its lock)
            with Library.open(settings.library, readonly=True) as existing:
                if existing.embed_model and "embed_model" not in settings.model_fields_set:
                    # The default model is for new libraries; one made before keeps its own (as `index` does)
                    settings = settings.model_copy(update={"embed_model": existing.embed_model})
                existing.check_embedding_model(recorded_name(settings.embed_model))
        self.new = Library.open(settings.library, create=True)
        self._stored = False
        self._interrupted = False
        try:
            if upgraded := self.new.acquire_writer("talksearch reembed"):  # NEW, made by an earlier release
                self.report(upgraded)
            self.new.check_embedding_model(recorded_name(settings.embed_model))  # (made meanwhile by another run)
            self.new.sync_vector_index(save=True)  # finish what an interrupted run left
            # One talk at a time, on every core (the indexer shares them among transcribing workers)
            self.embedder = Embedder.from_settings(settings, threads=settings.threads or os.cpu_count() or 1)
        except BaseException:  # Ctrl-C or SIGTERM while the model loads too (the CLI's Terminated)
            self.close(failed=True)
            raise
        self.passage_options = PassageOptions()  # the indexer's (TalkProcessor)

    def close(self, failed: bool = False) -> None:
        self.new.close()
        self.old.close()
        if (failed or self._interrupted) and self._made is not None and not self._stored:
            self._made.remove()

    def run(self) -> ReembedSummary:
        try:
            return self._run()
        except KeyboardInterrupt:  # (the CLI closes an interrupted run as not failed: resumable)
            self._interrupted = True
            raise

    def _run(self) -> ReembedSummary:
        started = time.perf_counter()
        self.summary = summary = ReembedSummary()
        in_old: set[str] = set()
        # the new library's local talks by recording, for those whose recording OLD replaced at its path
        self._local_talks: dict[str, list[StoredTalk]] = {}
        for kept in self.new.talks():
            if recording_path(kept.media_url) is not None:
                self._local_talks.setdefault(kept.media_url, []).append(kept)
        # talks taken down from OLD stay taken down here (a re-run of their source into NEW skips them), and those
        # OLD took back since (restored, indexed again) no longer are: first, so that the latter are added below
        _, restored = self.new.keep_removals(self.old.removals())
        for talk_id in restored:
            self.report(printable(f"restored {talk_id}: no longer removed from {self.old_name}, nor from this "
                                  "library (a run of its source adds it)"))
        for stored in self.old.talks():
            in_old.add(stored.archive_id)
            outcome = self._one(stored)
            summary.outcomes.append(outcome)
            self.report(outcome_line(outcome))
        for kept in self.new.talks():
            if kept.archive_id not in in_old:
                summary.not_in_old += 1
                self.report(self._not_in_old_line(kept))
        summary.wall_seconds = time.perf_counter() - started
        return summary

    def _not_in_old_line(self, kept: StoredTalk) -> str:
        """A talk the new library holds and the old one no longer does (taken down since, or indexed into the new
        one directly): left to the user, who knows which (the old library says when it records a removal); the
        removal there is (the API's) named."""
        removed = self.old.removed_on(kept.archive_id)
        why = f" (removed from {self.old_name} on {removed[:10]})" if removed else ""
        return printable(f"not in {self.old_name}{why}: {kept.title} ({kept.id}): kept; remove it with `talksearch "
                         f"remove {kept.id} --library {shlex.quote(self.new_name)}` (or DELETE /api/talks/{kept.id} on "
                         "its talksearch serve, TALKSEARCH_ADMIN_TOKEN set)")

    def _one(self, stored: StoredTalk) -> Outcome:
        try:
            kept = self.new.talk_with_archive_id(stored.archive_id)
            if kept is None and (removed := removed_from(self.new, stored.archive_id)):
                # taken down from this library (not OLD's removal: OLD holds it): not added back, as `index` skips it
                return Outcome("skipped", stored.title, removed, talk_id=self.new.removed_as(stored.archive_id))
            return self._restate(stored, kept) if kept is not None else self._add(stored)
        except (OSError, MemoryError):  # a full disk, no memory: every talk after it would fail the same way
            raise
        except Exception as exc:  # this talk's records (damaged by hand) or its embedding: the others go on
            if storage_kind(exc, self.new.path) is not None:  # SQLite's "database or disk is full": as OSError
                raise
            return Outcome("failed", stored.title, f"not re-embedded: {type(exc).__name__}: {str(exc)[:200]}",
                           talk_id=stored.id)

    def _restate(self, stored: StoredTalk, kept: StoredTalk) -> Outcome:
        """A talk the new library has: ``old``'s transcript where ``old`` replaced it since (``_transcribed_again``),
        in an ``added`` line as ``index --reindex`` says it; else ``old``'s details and place (``url`` and
        ``media_url``: a local file ``old`` followed to where it moved, a feed item's enclosure that moved) stored
        where they differ (as ``IndexRun._restate`` stores a source's), an ``updated`` line, its transcript kept;
        else skipped, named by the title the new library holds. A detail its passages are made from
        (``passages_changed_by``: its title, which they are embedded after, and its chapters where they cut them
        otherwise) has them made again, with the details in the same transaction: a run stopped between the two
        would leave the earlier title's vectors."""
        sentences = self.old.segments(stored.id)
        if self._transcribed_again(stored, kept, sentences):
            return self._add(stored, sentences, replacing=kept)
        details = {key: getattr(stored, key) for key in _RESTATED}
        changed = [key for key in _RESTATED if details[key] != getattr(kept, key)]
        if not changed:
            return Outcome("skipped", kept.title, "already in the library", talk_id=kept.id)
        detail = f"details changed ({', '.join(changed)}); transcript kept"
        sentences = self.new.segments(kept.id)
        remade = passages_changed_by(changed, sentences, kept.chapters, details["chapters"], self.passage_options)
        if remade:
            # stored again whole, not through update_talk_details: the time its details changed is set here
            passages = self._embed(replace(kept, **details, details_changed_at=record_time()), sentences,
                                   replace_earlier=True)
            detail += f"; its {passages} passages embedded again after its new {' and '.join(remade)}"
        else:
            self.new.update_talk_details(kept.id, details)
        return Outcome("updated", stored.title, detail, talk_id=kept.id)

    def _transcribed_again(self, stored: StoredTalk, kept: StoredTalk, sentences: Sequence[Segment]) -> bool:
        """Whether ``old`` holds another transcript of the talk than the new library does, made since: indexed
        again there (``index --reindex``: another model, captions found since, another language), which a talk's
        details do not tell. Every transcript stored is stamped with its own ``indexed_at`` (which a copy keeps), to
        the second; the sentences are compared too, for two made within one. A transcript the new library made
        itself later than ``old``'s (a talk indexed into it directly) is its own, and kept."""
        if stored.indexed_at < kept.indexed_at:
            return False
        return (any(getattr(stored, key) != getattr(kept, key) for key in _TRANSCRIPT_RECORD)
                or sentences != self.new.segments(kept.id))

    def _add(self, stored: StoredTalk, sentences: Sequence[Segment] | None = None,
             replacing: StoredTalk | None = None) -> Outcome:
        """``stored`` with its transcript, passages and vectors made as ``TalkProcessor.process`` makes them from
        the sentences it splits, committed as ``IndexRun.commit`` commits a processed talk. The talk keeps its id,
        archive key, record (``indexed_at`` too: when it was transcribed) and, a local file, its path. With
        ``replacing`` (the new library's record of it, an earlier transcript) in its place; a local talk whose
        recording ``old`` replaced at its path takes the place of the talk there (``_retired_at``), as it did in
        ``old``, in the same transaction."""
        sentences = self.old.segments(stored.id) if sentences is None else sentences
        retired = self._retired_at(stored) if replacing is None else None
        passages = self._embed(stored, sentences, replace_earlier=replacing is not None,
                               replaces=retired.id if retired is not None else None)
        detail = f"{stored.id}, re-embedded from {self.old_name}, {passages} passages"
        if replacing is not None or retired is not None:
            detail += ", replacing the earlier transcript"  # as `index` says it
        if retired is not None:
            detail += retired_line(retired)
        return Outcome("added", stored.title, detail, stored.duration or 0.0, stored.id)

    def _retired_at(self, stored: StoredTalk) -> StoredTalk | None:
        """The talk the new library holds at ``stored``'s local path that ``old`` no longer has: its recording
        replaced there (new content, so a new key), ``old`` retired it (``IndexRun.commit``, ``replaces``), and the
        new library's copy goes too. None for a talk not indexed from a local file."""
        if recording_path(stored.media_url) is None:
            return None
        for talk in self._local_talks.get(stored.media_url, ()):
            if talk.archive_id != stored.archive_id and not self.old.has_archive_id(talk.archive_id) \
                    and self.new.talk(talk.id) is not None:
                return talk
        return None

    def _embed(self, talk: Talk, sentences: Sequence[Segment], replace_earlier: bool = False,
               replaces: str | None = None) -> int:
        """``talk`` committed to the new library with ``sentences`` cut into passages and embedded (with
        ``replace_earlier``, in place of the record it has; ``replaces``: another talk it takes the place of); the
        number of passages."""
        talk = replace(talk, embed_model=self.embedder.name)
        passages, embeddings, token_vectors = embedded_passages(self.embedder, talk, sentences, self.passage_options)
        self.new.bind_embedding_model(talk.embed_model, embeddings.shape[1],
                                      token_vectors[0].shape[1] if token_vectors else None)
        self.new.add_talk(talk, sentences, passages, embeddings, replace=replace_earlier, token_vectors=token_vectors,
                          replaces=replaces)
        self._stored = True
        self.summary.talks_embedded += 1
        self.summary.passages_embedded += len(passages)
        return len(passages)


def _same_folder(old: Path, new: Path) -> bool:
    """Whether the two paths name one folder (through links, or one written another way)."""
    try:
        return old.resolve() == new.resolve() or (old.exists() and new.exists() and os.path.samefile(old, new))
    except OSError:
        return False

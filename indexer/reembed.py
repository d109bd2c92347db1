"""A new library made from another one with another embedding model, without transcribing again.

A library keeps the embedding model it was made with (``Library.check_embedding_model``). Its talks' transcripts
(sentences with their words, and their English where --translate made it) are all that passages and their vectors
are made from, so a library with the model the settings name is made from them: each talk's passages cut as the
indexer cuts them (``TalkProcessor.process``), embedded with the new model, and committed with the talk's record
through the writer's own calls (``IndexRun.commit``). The old library is only read (a read-only copy will do).

Run again, it brings the new library up to the old one as the old one is served on: talks added since are added, a
talk whose details the old one restated since (``TALK_DETAILS``: a feed retitled it) gets them, and a talk the new
library holds that the old one no longer has is named, not removed: the new library may have talks of its own.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from talksearch.embedding import Embedder, recorded_name
from talksearch.indexer.fetching import Outcome
from talksearch.indexer.passages import PassageOptions, embedding_texts, make_passages
from talksearch.indexer.pipeline import Summary, outcome_line
from talksearch.library import (TALK_DETAILS, Library, LibraryError, Segment, StoredTalk, Talk, missing_parts,
                                record_time)
from talksearch.settings import Settings
from talksearch.text import printable


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
        be, and removed again if the run stores nothing in it and fails."""
        self._made = missing_parts(settings.library)
        if self._made is None:  # a library there: its model checked first, by a reader (a writer takes its lock)
            with Library.open(settings.library, readonly=True) as existing:
                if existing.embed_model and "embed_model" not in settings.model_fields_set:
                    # The default model is for new libraries; one made before keeps its own (as `index` does)
                    settings = settings.model_copy(update={"embed_model": existing.embed_model})
                existing.check_embedding_model(recorded_name(settings.embed_model))
        self.new = Library.open(settings.library, create=True)
        self._stored = False
        try:
            if upgraded := self.new.acquire_writer("talksearch reembed"):  # NEW, made by an earlier release
                self.report(upgraded)
            self.new.check_embedding_model(recorded_name(settings.embed_model))  # (made meanwhile by another run)
            self.new.sync_vector_index(save=True)  # finish what an interrupted run left
            # One talk at a time, on every core (the indexer shares them among transcribing workers)
            self.embedder = Embedder.from_settings(settings, threads=settings.threads or os.cpu_count() or 1)
        except Exception:
            self.close(failed=True)
            raise
        self.passage_options = PassageOptions()  # the indexer's (TalkProcessor)

    def close(self, failed: bool = False) -> None:
        self.new.close()
        self.old.close()
        if failed and self._made is not None and not self._stored:
            self._made.remove()

    def run(self) -> ReembedSummary:
        started = time.perf_counter()
        self.summary = summary = ReembedSummary()
        in_old: set[str] = set()
        for stored in self.old.talks():
            in_old.add(stored.archive_id)
            outcome = self._one(stored)
            summary.outcomes.append(outcome)
            self.report(outcome_line(outcome))
        for kept in self.new.talks():
            if kept.archive_id not in in_old:
                summary.not_in_old += 1
                self.report(self._not_in_old_line(kept))
        # talks taken down from OLD stay taken down here: a re-run of their source into NEW skips them
        self.new.keep_removals(self.old.removals())
        summary.wall_seconds = time.perf_counter() - started
        return summary

    def _not_in_old_line(self, kept: StoredTalk) -> str:
        """A talk the new library holds and the old one no longer does (taken down since, or indexed into the new
        one directly): left to the user, who knows which (the old library says when it records a removal); the
        removal there is (the API's) named."""
        removed = self.old.removed_on(kept.archive_id)
        why = f" (removed from {self.old_name} on {removed[:10]})" if removed else ""
        return printable(f"not in {self.old_name}{why}: {kept.title} ({kept.id}): kept; remove it with DELETE "
                         f"/api/talks/{kept.id} (talksearch serve --library {shlex.quote(self.new_name)}, "
                         "TALKSEARCH_ADMIN_TOKEN set)")

    def _one(self, stored: StoredTalk) -> Outcome:
        try:
            kept = self.new.talk_with_archive_id(stored.archive_id)
            return self._restate(stored, kept) if kept is not None else self._add(stored)
        except (OSError, MemoryError):  # a full disk, no memory: every talk after it would fail the same way
            raise
        except Exception as exc:  # this talk's records (damaged by hand) or its embedding: the others go on
            return Outcome("failed", stored.title, f"not re-embedded: {type(exc).__name__}: {str(exc)[:200]}",
                           talk_id=stored.id)

    def _restate(self, stored: StoredTalk, kept: StoredTalk) -> Outcome:
        """A talk the new library has: ``old``'s details stored where they differ (as ``IndexRun._restate`` stores
        a source's), an ``updated`` line, its transcript kept; else skipped, named by the title the new library
        holds. A detail its passages are embedded after (``PassageOptions.embedded_details``: its title, and its
        chapters where the context names them) has them embedded again, with the details in the same transaction: a
        run stopped between the two would leave the earlier title's vectors."""
        details = {key: getattr(stored, key) for key in TALK_DETAILS}
        changed = [key for key in TALK_DETAILS if details[key] != getattr(kept, key)]
        if not changed:
            return Outcome("skipped", kept.title, "already in the library", talk_id=kept.id)
        detail = f"details changed ({', '.join(changed)}); transcript kept"
        embedded = self.passage_options.embedded_details()
        if embedded.intersection(changed):
            # stored again whole, not through update_talk_details: the time its details changed is set here
            passages = self._embed(replace(kept, **details, details_changed_at=record_time()),
                                   self.new.segments(kept.id), replace_earlier=True)
            detail += (f"; its {passages} passages embedded again after its new "
                       f"{' and '.join(key for key in changed if key in embedded)}")
        else:
            self.new.update_talk_details(kept.id, details)
        return Outcome("updated", stored.title, detail, talk_id=kept.id)

    def _add(self, stored: StoredTalk) -> Outcome:
        """``stored`` with its transcript, passages and vectors made as ``TalkProcessor.process`` makes them from
        the sentences it splits, committed as ``IndexRun.commit`` commits a processed talk. The talk keeps its id,
        archive key, record (``indexed_at`` too: when it was transcribed) and, a local file, its path."""
        passages = self._embed(stored, self.old.segments(stored.id))
        return Outcome("added", stored.title, f"{stored.id}, re-embedded from {self.old_name}, {passages} passages",
                       stored.duration or 0.0, stored.id)

    def _embed(self, talk: Talk, sentences: Sequence[Segment], replace_earlier: bool = False) -> int:
        """``talk`` committed to the new library with ``sentences`` cut into passages and embedded (with
        ``replace_earlier``, in place of the record it has); the number of passages."""
        passages = make_passages(sentences, self.passage_options)
        talk = replace(talk, embed_model=self.embedder.name)
        embeddings, tokens = self.embedder.passages_with_tokens(
            embedding_texts(passages, asdict(talk), self.passage_options))
        token_vectors = [t.meaningful() for t in tokens]
        self.new.bind_embedding_model(talk.embed_model, embeddings.shape[1],
                                      token_vectors[0].shape[1] if token_vectors else None)
        self.new.add_talk(talk, sentences, passages, embeddings, replace=replace_earlier, token_vectors=token_vectors)
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

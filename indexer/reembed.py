"""A new library made from another one with another embedding model, without transcribing again.

A library keeps the embedding model it was made with (``Library.check_embedding_model``). Its talks' transcripts
(sentences with their words, and their English where --translate made it) are all that passages and their vectors
are made from, so a library with the model the settings name is made from them: each talk's passages cut as the
indexer cuts them (``TalkProcessor.process``), embedded with the new model, and committed with the talk's record
through the writer's own calls (``IndexRun.commit``). The old library is only read (a read-only copy will do).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from talksearch.embedding import Embedder, recorded_name
from talksearch.indexer.fetching import Outcome
from talksearch.indexer.passages import PassageOptions, embedding_texts, make_passages
from talksearch.indexer.pipeline import Summary, outcome_line
from talksearch.library import Library, LibraryError, StoredTalk, missing_parts
from talksearch.settings import Settings


class Reembedding:
    """One run: ``old``'s talks that ``settings.library`` lacks (by archive key) added to it, each embedded with
    ``settings.embed_model``. Refused before anything is written where ``old`` is no library, is the new one, or
    the new one was made with another model."""

    def __init__(self, old: Path, settings: Settings, report: Callable[[str], None] = print):
        self.report = report
        if _same_folder(old, settings.library):
            raise LibraryError(f"{old} is the library to make (--library): re-embedding makes a new library from "
                               "an old one; name another --library")
        self.old = Library.open(old, readonly=True)  # "no library at ...", before the new one is made
        self.old_name = str(old)
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
            self.new.acquire_writer()
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

    def run(self) -> Summary:
        started = time.perf_counter()
        summary = Summary()
        for stored in self.old.talks():
            outcome = self._one(stored)
            summary.outcomes.append(outcome)
            self.report(outcome_line(outcome))
        summary.wall_seconds = time.perf_counter() - started
        return summary

    def _one(self, stored: StoredTalk) -> Outcome:
        if self.new.has_archive_id(stored.archive_id):
            return Outcome("skipped", stored.title, "already in the library", talk_id=stored.id)
        try:
            return self._add(stored)
        except (OSError, MemoryError):  # a full disk, no memory: every talk after it would fail the same way
            raise
        except Exception as exc:  # this talk's records (damaged by hand) or its embedding: the others go on
            return Outcome("failed", stored.title, f"not re-embedded: {type(exc).__name__}: {str(exc)[:200]}",
                           talk_id=stored.id)

    def _add(self, stored: StoredTalk) -> Outcome:
        """``stored`` with its transcript, passages and vectors made as ``TalkProcessor.process`` makes them from
        the sentences it splits, committed as ``IndexRun.commit`` commits a processed talk. The talk keeps its id,
        archive key, record (``indexed_at`` too: when it was transcribed) and, a local file, its path."""
        sentences = self.old.segments(stored.id)
        passages = make_passages(sentences, self.passage_options)
        talk = replace(stored, embed_model=self.embedder.name)
        embeddings, tokens = self.embedder.passages_with_tokens(
            embedding_texts(passages, asdict(talk), self.passage_options))
        token_vectors = [t.meaningful() for t in tokens]
        self.new.bind_embedding_model(talk.embed_model, embeddings.shape[1],
                                      token_vectors[0].shape[1] if token_vectors else None)
        talk_id = self.new.add_talk(talk, sentences, passages, embeddings, token_vectors=token_vectors)
        self._stored = True
        return Outcome("added", stored.title, f"{talk_id}, re-embedded from {self.old_name}, {len(passages)} passages",
                       stored.duration or 0.0, talk_id)


def _same_folder(old: Path, new: Path) -> bool:
    """Whether the two paths name one folder (through links, or one written another way)."""
    try:
        return old.resolve() == new.resolve() or (old.exists() and new.exists() and os.path.samefile(old, new))
    except OSError:
        return False

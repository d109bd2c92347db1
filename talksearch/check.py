"""`talksearch check`: verify a library, and with ``repair`` rebuild what can be rebuilt.

What is checked: the SQLite catalog (integrity, its FTS5 word index, and its two trigram indexes holding exactly
their passages), the FAISS file (readable, and holding exactly the catalog's passage ids), the models recorded
(one embedding model for the whole library, found where its name says, embeddings of its dimension), talks whose
transcript does not say where it came from, leftover files from interrupted runs (the recordings the first releases
kept in ``downloads/`` are not: ``repair`` moves them to ``media/``), recordings kept in ``media/`` that no talk
owns, and talks indexed from a local file
whose file is no longer at the path they hold, or whose path another talk holds too, and talks with the same link
and media (reported only: see ``_local_recordings``, ``_shared_links``).
The catalog's format is said; ``repair``, the writer, upgrades an older one first (``Library.acquire_writer``).
The catalog holds every embedding and every text, so the vector index and the keyword indexes can always be rebuilt
from it.
Sentences stored before their words' vectors were kept (format 6) are counted; ``repair`` computes them with
the library's embedding model, from the stored text (search rescores results word by word once every
candidate has them).
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from talksearch.embedding import model_names
from talksearch.library import DOWNLOADS, FORMAT_VERSION, MEDIA, VECTORS, Library, StoredTalk
from talksearch.library.catalog import RESTORE_CATALOG
from talksearch.media_types import recording_path
from talksearch.models import ModelError, resolve
from talksearch.text import printable
from talksearch.vector_index import EXACT, describe, index_ids, read_index


# The trigram indexes (talksearch.library.migrations.TRIGRAM_INDEXES), as a report names them.
TRIGRAM_INDEX_NAMES = {"passages_unspaced": "trigram index of text written without spaces",
                       "passages_trigrams": "trigram index of talks in other languages than English"}


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    left_to_the_user: int = 0  # of the problems, those --repair leaves by design (a talk whose recording is gone)
    # of the problems, what a repair tried and could not do (a leftover it could not remove): said after its fresh look
    unrepaired: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems

    @property
    def repairable(self) -> bool:
        """Whether --repair may mend any of the problems (else suggesting it only repeats them)."""
        return len(self.problems) > self.left_to_the_user


def _vector_problem(library: Library, report: CheckReport) -> str | None:
    file = library.path / VECTORS
    catalog_ids = library.passage_ids()
    if not file.exists():
        return "vectors.faiss is missing" if len(catalog_ids) else None
    index = read_index(file, mmap=True)
    if index is None:
        return "vectors.faiss cannot be read"
    dimension = library.meta_number("embed_dim")
    if index.d != dimension:
        return f"vectors.faiss has dimension {index.d}, the library's model {dimension}"
    ids = index_ids(index)
    missing = np.setdiff1d(catalog_ids, ids)
    stale = np.setdiff1d(ids, catalog_ids)
    params = library.meta("index_params")
    tuned = f" ({params})" if params and params != "{}" else ""  # an exact index has nothing tuned
    report.facts.append(f"vector index {describe(index)} over {index.ntotal} passages"
                        + (f", trained at {library.meta('index_trained_size')}{tuned}" if params else ""))
    lost, sampled = _unfindable(library, index, np.intersect1d(ids, catalog_ids, assume_unique=True), stale)
    if lost:
        return (f"vectors.faiss: {lost} of {sampled} sampled passages are not found by their own vectors (its vector "
                "data is damaged)")
    if len(missing) or len(stale):
        # Normal after an interrupted run (or while one runs): searches take these from the catalog, and the
        # next writer folds them in. --repair folds them in now.
        if len(stale):  # not only behind: ahead of the catalog too
            report.facts.append(f"vectors.faiss holds {len(stale)} passages the catalog lacks (a catalog restored "
                                "from an older backup beside newer vectors, or a run interrupted after removing or "
                                f"replacing talks), and lacks {len(missing)} it holds: searches leave them out and "
                                "take these from the catalog; --repair brings it in line with the catalog")
        else:
            report.facts.append(f"vectors.faiss lags the catalog: {len(missing)} passages to add, 0 to remove "
                                "(searched from the catalog meanwhile)")
        return "lag"
    return None


def _unfindable(library: Library, index, ids: np.ndarray, stale: np.ndarray, sample: int = 200) -> tuple[int, int]:
    """Of a sample of ``ids``, how many the index does not hold the catalog's vectors for, or does not return
    among the 10 nearest to their own catalog vectors, and the sample's size. Ids and dimension can be right while
    the vectors are not (bytes overwritten in the file, a file copied from another library): searches then
    quietly rank with wrong vectors.

    An exact index holds the catalog's float32 vectors as they are: its own vector under each sampled id is
    compared with the catalog's. The search alone cannot tell there: an index of 10 passages or fewer returns
    every one of them among any vector's 10 nearest, so a small library's passages were all "found" in another
    library's file (and in a file of a few more passages, most of them were).

    A passage is its own nearest neighbour in an exact index and, with its own list probed first, in a trained
    one; a few near-duplicates can outrank it there, so a trained index is allowed one miss in a hundred. A
    passage whose text others share (every talk closing on "Thank you very much.") ties with them, and more than
    10 push it out of its own 10 nearest: it counts as found when the 10 returned are, by their catalog vectors,
    as near to it as itself. The ``stale`` ids (the file's, no longer the catalog's: a lag, or another library's
    file) are left out of the search, as readers leave them out: the catalog has no vector to compare them by."""
    if not len(ids):
        return 0, 0
    chosen = np.sort(np.random.default_rng(0).choice(ids, min(sample, len(ids)), replace=False))
    vectors = library.passage_vectors(chosen.tolist())
    exact = describe(index) == EXACT
    if exact:
        try:
            stored = index.reconstruct_batch(chosen)
        except RuntimeError:  # no map from ids to vectors: not a file this library writes (IDMap2)
            return len(chosen), len(chosen)
        # copied unchanged from the catalog when added: any difference beyond float noise is another vector
        differ = int((np.abs(stored - vectors) > 1e-6).any(axis=1).sum())
        if differ:
            return differ, len(chosen)
    _, found = index.search(vectors, 10, params=_leaving_out(index, stale))
    missed = [i for i, (pid, row) in enumerate(zip(chosen, found)) if pid not in row]
    lost = sum(not _crowded_out(library, vectors[i], found[i]) for i in missed)
    allowed = 0 if exact else len(chosen) // 100
    return (lost if lost > allowed else 0), len(chosen)


def _leaving_out(index, stale: np.ndarray):
    """Search parameters for ``index`` leaving out the ids ``stale`` (``None`` when there are none); an IVF
    index's lists probed as its own setting says (parameters given replace it)."""
    if not len(stale):
        return None
    batch = faiss.IDSelectorBatch(np.ascontiguousarray(stale, dtype=np.int64))
    selector = faiss.IDSelectorNot(batch)
    ivf = faiss.try_extract_index_ivf(index)
    params = (faiss.SearchParametersIVF(sel=selector, nprobe=ivf.nprobe) if ivf is not None
              else faiss.SearchParameters(sel=selector))
    params._keep = (batch, selector)  # the selectors must outlive the search
    return params


def _crowded_out(library: Library, vector: np.ndarray, row: np.ndarray, tolerance: float = 1e-5) -> bool:
    """Whether the ids an index returned for ``vector`` (a passage's own, from the catalog) fill its 10 places
    with passages whose catalog vectors score as high as it does on itself (within float rounding): ties, not
    damage. The catalog's vectors, not the index's scores, are compared: damaged data scores anything."""
    if (row < 0).any():  # places left empty while the passage itself was not returned
        return False
    self_score = float(vector @ vector)
    scores = library.passage_vectors(row.tolist()) @ vector
    return bool((scores >= self_score - tolerance * max(1.0, abs(self_score))).all())


def _model_problems(name: str, report: CheckReport) -> None:
    """Each model of the library's embedding setting (``a+b``: side by side) where its name says it is: a bundled
    model's packages installed and its files intact, a local model's folder there. Search and indexing cannot
    start without them, and nothing here can repair that. Resolved, not loaded: a hub name is only known to be
    fetchable by loading it."""
    for part in model_names(name):
        try:
            resolved = resolve("embedding", part)
        except ModelError as exc:
            report.problems.append(str(exc))
            report.left_to_the_user += 1
            continue
        if resolved.is_hub_name:
            report.facts.append(f"embedding model {part!r} is a hub name: not verified (loaded from the hub, or its "
                                "local cache, when used)")


def _word_vectors(library: Library, report: CheckReport, repair: bool, batch: int = 512) -> None:
    missing = library.count_sentences_without_token_vectors()
    if not missing:
        return
    if not repair:
        report.facts.append(f"{missing} sentences have no word vectors (stored before format 6): search ranks "
                            "without word-by-word rescoring where they are among the best; --repair computes them")
        return
    from talksearch.embedding import Embedder

    embedder = Embedder(library.embed_model)
    done = 0
    while rows := library.sentences_without_token_vectors(batch):
        _, tokens = embedder.passages_with_tokens([text for _, text in rows])
        library.store_token_vectors({pid: t.meaningful() for (pid, _), t in zip(rows, tokens)})
        done += len(rows)
    report.repaired.append(f"computed the word vectors of {done} sentences")


def _transcript_sources(library: Library, report: CheckReport, repair: bool) -> None:
    """Talks whisper transcribed that do not say so (an earlier reembed read a library before format 4 as having no
    source, and copied that): listings and pages show no source for them. --repair names whisper and its model."""
    missing = library.count_talks_without_transcript_source()
    if not missing:
        return
    report.problems.append(f"{missing} talks do not say where their transcript came from (copied from a library "
                           "read before format 4, or written by an earlier release); --repair names whisper's for "
                           "those it transcribed")
    if repair:
        named = library.name_whisper_transcript_sources()
        report.repaired.append(f"named the source of {named} talks' transcripts (whisper and its model)")


def _remove_leftovers(leftovers: list[Path], report: CheckReport) -> None:
    """Remove what interrupted runs left (files, and folders in ``downloads/`` with all they hold; a link, not what
    it leads to), going on past one that cannot be removed, which is named: the repairs before it are reported,
    and the next --repair does not stop there again."""
    removed = 0
    for leftover in leftovers:
        try:
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            else:
                leftover.unlink(missing_ok=True)
        except OSError as exc:
            report.unrepaired.append(f"leftover {printable(str(leftover))} cannot be removed "
                                     f"({exc.strerror or exc}); remove it by hand")
            continue
        removed += 1
    if removed:
        report.repaired.append(f"removed {removed} leftover files")


def _named(talk: StoredTalk) -> str:
    return f'{talk.id} "{printable(talk.title)}"'


def _local_recordings(library: Library, report: CheckReport) -> None:
    """Talks indexed from a local file whose file is not at their path (moved, converted, deleted: the talk plays
    nothing, and a converted file indexed again is found twice), and paths more than one talk holds (an earlier
    release indexed a file replaced in place as a second talk). Reported, never repaired: a file missing may be
    on a disk not mounted now, and which talk a path's file is, only its user can tell. One stat per path."""
    # by the file each path names: two talks at one file, one of them through a linked folder, are found too
    talks_at: dict[str, list[tuple[StoredTalk, Path]]] = defaultdict(list)
    for talk in library.talks():
        path = recording_path(talk.media_url)
        if path is not None:
            talks_at[os.path.realpath(path)].append((talk, path))
    for real, talks in talks_at.items():
        if not os.path.isfile(real):  # False, not an error, for a folder that cannot be read either
            for talk, path in talks:
                report.left_to_the_user += 1
                report.problems.append(
                    f"talk {_named(talk)} has no recording at {printable(str(path))}: if the file moved, index it "
                    f"where it is now (the talk follows it); if it is gone, remove the talk (`talksearch remove "
                    f"{talk.id} --library {shlex.quote(str(library.path))}`, or DELETE /api/talks/{talk.id}); --repair "
                    "leaves it (the file may be on a disk not mounted now)")
        if len(talks) > 1:
            report.left_to_the_user += 1
            report.problems.append(
                f"{len(talks)} talks hold {printable(real)} ({', '.join(_named(talk) for talk, _ in talks)}): searches "
                "find its words once for each; index the file again with --reindex (the talk of the recording there "
                "stays, the others go), or remove those it no longer holds (DELETE /api/talks/{id}); --repair leaves them")


def _shared_links(library: Library, report: CheckReport) -> None:
    """Talks with the same link and the same media: one recording indexed twice, that no listing tells apart (an
    earlier release linked a talk named by a URL that redirects by where it led, as it did a talk named by that
    URL itself); searches find its words twice. Reported, never repaired: which one to keep, only its user can
    tell. Local talks are ``_local_recordings``'."""
    talks_with: dict[tuple[str, str | None], list[StoredTalk]] = defaultdict(list)
    for talk in library.talks():
        if recording_path(talk.media_url) is None:
            talks_with[talk.url, talk.media_url].append(talk)
    for (url, media), talks in talks_with.items():
        if len(talks) > 1:
            report.left_to_the_user += 1
            report.problems.append(
                f"{len(talks)} talks have the link {printable(url)}{' and its media' if media else ''} "
                f"({', '.join(map(_named, talks))}): "
                "searches find its words once for each; if they were listed under other URLs that lead there, "
                "index those again with --reindex (each then links to its own), else remove all but one (DELETE "
                "/api/talks/{id}); --repair leaves them")


def check_library(path: Path, repair: bool = False) -> CheckReport:
    report = CheckReport()
    library = Library.open(path)  # LibraryError (no library, unreadable catalog) goes to the caller
    try:
        library.check_recorded_numbers()  # one a hand edit broke: LibraryError too, nothing to repair by guessing
        # before acquire_writer, which remakes it
        vocabulary_outdated = library.sound_vocabulary_outdated()
        if repair and (upgraded := library.acquire_writer("talksearch check --repair")):
            report.repaired.append(upgraded)
        integrity = library.integrity()
        if integrity != "ok":
            if not library.records_intact():
                # nothing to rebuild them from: --repair leaves it. The damaged catalog's log beside a restored
                # catalog.sqlite would be replayed into it by SQLite, so it goes too.
                report.left_to_the_user += 1
                report.problems.append(f"catalog integrity: {integrity}, in the talks, sentences or passages "
                                       f"themselves: {RESTORE_CATALOG}; --repair cannot mend it")
                return report
            report.problems.append(f"catalog integrity: {integrity}, in the indexes made from the passages (the "
                                   "talks, sentences and passages are intact)")
            if not repair:
                return report  # the checks below read those indexes
            kept = library.rebuild_catalog()
            report.repaired.append(f"rebuilt the catalog from its talks, sentences and passages (a copy of the "
                                   f"damaged one is kept as {kept.name})")
            library.close()  # the writer lock, for the fresh look's repairs
            return _looked_again(path, report, repair=True)  # the new catalog's own checks and repairs
        if library.read_only_media:  # FTS5 checks itself with a write statement
            report.facts.append("read-only file system: the keyword index is not verified")
        elif not library.keyword_index_agrees():
            report.problems.append("keyword index (FTS5) disagrees with the passages")
            if repair:
                library.rebuild_keyword_index()
                report.repaired.append("rebuilt the keyword index from the passages")
        if library.trigram_indexes_not_made_yet():  # made when the writer upgrades the library
            report.facts.append(f"format {library.format} on a read-only file system: trigram indexes not verified"
                                if library.read_only_media else
                                f"format {library.format}: trigram indexes not verified (made by the upgrade)")
        for table in library.trigram_indexes_disagreeing():
            what = TRIGRAM_INDEX_NAMES[table]
            report.problems.append(f"the {what} disagrees with the passages")
            if repair:
                library.rebuild_trigram_index(table)
                report.repaired.append(f"rebuilt the {what} from the passages")
        if vocabulary_outdated:
            what = "the sound-alike vocabulary is missing or out of date (sound-alike matching finds little)"
            if library.read_only_media:
                report.facts.append(f"read-only file system: {what}; it is remade once the library is opened "
                                    "with write access")
            else:
                report.problems.append(what)
                if repair:  # acquire_writer did
                    report.repaired.append("remade the sound-alike vocabulary from the transcripts")

        model = library.embed_model
        talks, passages = library.count_talks(), library.count_passages()
        report.facts.append(f"{talks} talks, {passages} passages; embedding model {model or '(none yet)'}")
        report.facts.append(f"catalog format {library.format}" + (
            "" if library.format == FORMAT_VERSION else f" (read as it is: the first command that writes the library "
                                                        f"upgrades it to format {FORMAT_VERSION}, which earlier "
                                                        "releases cannot read)"))
        if model is not None:
            _model_problems(model, report)
        for source, count in library.talks_per_transcript_source().items():
            if source:  # an empty one is a problem (below)
                report.facts.append(f"transcripts from {source}: {count} talks")
        _transcript_sources(library, report, repair)
        others = library.other_embedding_models()
        if others:
            report.problems.append(f"talks embedded with another model than the library's: {', '.join(others)}")
        wrong = library.count_misfit_embeddings()
        if wrong:
            report.problems.append(f"{wrong} passages have embeddings of the wrong size (re-index those talks)")
        empty = library.count_talks_without_passages()
        if empty:
            report.problems.append(f"{empty} talks have no passages")
        untranscribed = library.count_talks_without_transcript()
        if untranscribed:
            report.problems.append(f"{untranscribed} talks have passages but no transcript (index them again with "
                                   "--reindex)")
        orphans = library.count_orphan_passages()
        if orphans:
            report.problems.append(f"{orphans} passages belong to no talk in the catalog (the talks table was edited; "
                                   "restore it from a backup or index into a new library)")

        problem = _vector_problem(library, report)
        if problem == "lag":
            if repair:
                index = library.sync_vector_index(save=True)
                report.repaired.append(f"brought vectors.faiss in line with the catalog ({index.ntotal} passages)")
        elif problem:
            report.problems.append(problem)
            if repair:
                (library.path / VECTORS).unlink(missing_ok=True)
                index = library.sync_vector_index(save=True)
                report.repaired.append(f"rebuilt vectors.faiss from the catalog ({index.ntotal} passages)" if index
                                       else "removed vectors.faiss (the catalog has no embedded passages)")

        _word_vectors(library, report, repair)

        early = [file for file, _ in library.early_kept_media()]  # recordings, not leftovers: never removed
        if early:
            report.facts.append(f"{len(early)} recordings kept in {DOWNLOADS}/ by an earlier release (--keep-media); "
                                f"--repair moves them to {MEDIA}/")
            if repair and (moved := library.keep_early_media()):
                report.repaired.append(f"moved {len(moved)} recordings kept in {DOWNLOADS}/ by an earlier release to "
                                       f"{MEDIA}/")
        leftovers = [p for p in (library.path / DOWNLOADS).glob("*") if p not in early] \
            if (library.path / DOWNLOADS).exists() else []
        leftovers += list(library.path.glob(VECTORS + ".tmp"))
        if leftovers:
            report.facts.append(f"{len(leftovers)} leftover files from interrupted runs (downloads and transcriptions "
                                "a run of their source resumes; --repair removes them)")
            if repair:
                _remove_leftovers(leftovers, report)
        kept = library.kept_recordings()  # the talks' own (--keep-media): reported, never removed
        if kept:
            report.facts.append(f"{len(kept)} audio files kept in {MEDIA}/ (--keep-media)")
        unowned = library.unowned_media()
        if unowned:  # a talk deleted by a release that left its recording behind, or one never committed
            report.problems.append(f"{len(unowned)} files in {MEDIA}/ belong to no talk in the catalog (kept for "
                                   f"talks since deleted); --repair removes them")
            if repair:
                for file in unowned:
                    file.unlink(missing_ok=True)
                report.repaired.append(f"removed {len(unowned)} files from {MEDIA}/ that belong to no talk")
        _local_recordings(library, report)
        _shared_links(library, report)
    finally:
        library.close()
    return _looked_again(path, report) if report.repaired or report.unrepaired else report


def _looked_again(path: Path, report: CheckReport, repair: bool = False) -> CheckReport:
    """What is left after the repairs, from a fresh look."""
    fresh = check_library(path, repair=repair)
    fresh.repaired = report.repaired + fresh.repaired
    fresh.unrepaired = report.unrepaired + fresh.unrepaired
    fresh.problems += report.unrepaired
    fresh.left_to_the_user += len(report.unrepaired)
    return fresh

"""`talksearch check`: verify a library, and with ``repair`` rebuild what can be rebuilt.

What is checked: the SQLite catalog (integrity and its FTS5 index), the FAISS file (readable, and
holding exactly the catalog's passage ids), the models recorded (one embedding model for the whole
library, embeddings of its dimension), and leftover files from interrupted runs. The catalog holds
every embedding, so the vector index and the keyword index can always be rebuilt from it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from talksearch.library import DOWNLOADS, VECTORS, Library


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems


def _vector_problem(library: Library) -> str | None:
    file = library.path / VECTORS
    catalog_ids = np.fromiter((r[0] for r in library.db.execute("SELECT id FROM passages")), dtype=np.int64)
    if not file.exists():
        return "vectors.faiss is missing" if len(catalog_ids) else None
    try:
        index = faiss.read_index(str(file))
    except RuntimeError:
        return "vectors.faiss cannot be read"
    dimension = int(library.meta("embed_dim") or 0)
    if index.d != dimension:
        return f"vectors.faiss has dimension {index.d}, the library's model {dimension}"
    ids = faiss.vector_to_array(faiss.downcast_index(index).id_map) if index.ntotal else np.empty(0, np.int64)
    missing = np.setdiff1d(catalog_ids, ids)
    stale = np.setdiff1d(ids, catalog_ids)
    if len(missing) or len(stale):
        return f"vectors.faiss disagrees with the catalog: {len(missing)} passages missing, {len(stale)} stale"
    return None


def check_library(path: Path, repair: bool = False) -> CheckReport:
    report = CheckReport()
    library = Library.open(path)  # LibraryError (no library, unreadable catalog) goes to the caller
    try:
        if repair:
            library.acquire_writer()
        db = library.db
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            report.problems.append(f"catalog integrity: {integrity}")
        try:
            db.execute("INSERT INTO passages_fts(passages_fts) VALUES ('integrity-check')")
        except sqlite3.DatabaseError:
            report.problems.append("keyword index (FTS5) disagrees with the passages")
            if repair:
                db.execute("INSERT INTO passages_fts(passages_fts) VALUES ('rebuild')")
                report.repaired.append("rebuilt the keyword index from the passages")

        model, dimension = library.embed_model, int(library.meta("embed_dim") or 0)
        talks, passages = library.count_talks(), library.count_passages()
        report.facts.append(f"{talks} talks, {passages} passages; embedding model {model or '(none yet)'}")
        for whisper, count in db.execute("SELECT whisper_model, count(*) FROM talks GROUP BY whisper_model"):
            report.facts.append(f"whisper model {whisper}: {count} talks")
        others = [r[0] for r in db.execute("SELECT DISTINCT embed_model FROM talks WHERE embed_model != ?", (model or "",))]
        if others:
            report.problems.append(f"talks embedded with another model than the library's: {', '.join(others)}")
        wrong = db.execute("SELECT count(*) FROM passages WHERE length(embedding) != ?", (dimension * 4,)).fetchone()[0]
        if wrong:
            report.problems.append(f"{wrong} passages have embeddings of the wrong size (re-index those talks)")
        empty = db.execute("SELECT count(*) FROM talks WHERE id NOT IN (SELECT talk_id FROM passages)").fetchone()[0]
        if empty:
            report.problems.append(f"{empty} talks have no passages")

        problem = _vector_problem(library)
        if problem:
            report.problems.append(problem)
            if repair:
                (library.path / VECTORS).unlink(missing_ok=True)
                index = library.sync_vector_index(save=True)
                report.repaired.append(f"rebuilt vectors.faiss from the catalog ({index.ntotal} passages)")

        leftovers = [p for p in (library.path / DOWNLOADS).glob("*")] if (library.path / DOWNLOADS).exists() else []
        leftovers += list(library.path.glob(VECTORS + ".tmp"))
        if leftovers:
            report.facts.append(f"{len(leftovers)} leftover files from interrupted runs (resumed by the next index run)")
            if repair:
                for file in leftovers:
                    file.unlink(missing_ok=True)
                report.repaired.append(f"removed {len(leftovers)} leftover files")
    finally:
        library.close()
    if report.repaired:  # report what is left after the repairs, from a fresh look
        fresh = check_library(path)
        fresh.repaired = report.repaired
        return fresh
    return report

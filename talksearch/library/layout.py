"""What a library directory holds (see the package's docstring)."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

CATALOG = "catalog.sqlite"
VECTORS = "vectors.faiss"
LOCK = "indexer.lock"
DOWNLOADS = "downloads"
MEDIA = "media"

# All a writer may make in a library folder: the layout's entries, and SQLite's files beside the catalog
WRITTEN = (CATALOG, f"{CATALOG}-wal", f"{CATALOG}-shm", f"{CATALOG}-journal", VECTORS, LOCK, DOWNLOADS, MEDIA)


@dataclass(frozen=True)
class MissingParts:
    """What of a library folder is not there before a run makes a library in it: all that the run may remove
    again, so that a folder the user made (and what else it holds) is left as it was found."""

    entries: list[Path]
    folders: list[Path]  # the library's folder and those above it that do not exist, innermost first

    def remove(self) -> None:
        """Remove these parts again. Best effort: whatever is put there meanwhile stays (a folder that is no
        longer empty), and a part that cannot be removed never hides the failure that this cleans up after."""
        for entry in self.entries:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    entry.unlink(missing_ok=True)
        for folder in self.folders:
            try:
                folder.rmdir()
            except OSError:  # not empty, or not ours to remove: nor are the folders above it
                break


def missing_parts(path: Path) -> MissingParts | None:
    """What a library made at ``path`` now would add there; None where a library is there already (anything
    named like its catalog), which is never removed."""
    if os.path.lexists(path / CATALOG):
        return None
    folders = list(itertools.takewhile(lambda folder: not os.path.lexists(folder), [path, *path.parents]))
    return MissingParts([path / name for name in WRITTEN if not os.path.lexists(path / name)], folders)

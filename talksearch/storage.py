"""Storage failures (a full disk, a read-only file system, no permission, I/O errors) in one line each.

SQLite, FAISS and the OS each report them their own way: ``sqlite3.OperationalError('database or disk is
full')`` or ``('attempt to write a readonly database')``, a FAISS ``RuntimeError`` carrying the C library's
``strerror`` text, or an ``OSError`` with ``ENOSPC``/``EROFS``/``EACCES``. :func:`explain` turns any of them
into one sentence that names the library and says what to do; anything else is not a storage failure and
gets ``None``, so the caller lets it through. Nothing is half-written by such a failure: a talk is one SQLite
transaction (rolled back), and the vector index is replaced atomically and rebuilt from the catalog anyway.

:func:`read_only_media` and :func:`catalog_uri` let a library on read-only media (a read-only mount or
volume) still be opened for reading: SQLite cannot create the write-ahead log's shared-memory file there,
so such a catalog is opened ``immutable`` (nothing can change it while it is read-only). :func:`unwritable` finds
a library this process has no permission to write (another user's; a folder or catalog made read-only): SQLite
could not make the log's files beside it, or would make them read-only for their writer, so it is read through
the log's files a writer left (``mode=ro``), else ``immutable`` too. Another process may write such a catalog,
though, and SQLite reads an immutable file as if it never changed (its cache torn by a writer's checkpoint): its
reader compares :func:`catalog_state` before each read and opens the catalog again when it changed.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

FULL, READ_ONLY, DENIED, IO = "full", "read-only", "denied", "io"
UNREADABLE = "unreadable"  # a catalog this process may not read (made under umask 077 by another user)
_OPEN = "open"  # SQLite cannot open the catalog: a storage failure only if the disk says so
# SQLite's "attempt to write a readonly database": a read-only file system, or a file this process may not write
_READ_ONLY_DATABASE = "read-only database"

_ERRNOS = {errno.ENOSPC: FULL, errno.EDQUOT: FULL, errno.EFBIG: FULL, errno.EROFS: READ_ONLY,
           errno.EACCES: DENIED, errno.EPERM: DENIED, errno.EIO: IO}
_SQLITE = (("disk is full", FULL), ("readonly database", _READ_ONLY_DATABASE), ("read-only", _READ_ONLY_DATABASE),
           ("disk i/o error", IO), ("unable to open database file", _OPEN))
_LOW_SPACE = 1 << 20  # bytes: below this an unexplained write failure is taken for a full disk


def read_only_media(path: Path) -> bool:
    """True when ``path`` lies on a file system mounted read-only."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def unwritable(catalog: Path) -> Path | None:
    """The first of what a writer of ``catalog`` writes that this process may not: the library's folder (SQLite
    makes the write-ahead log's files there, a writer its lock and vector index), the catalog, the log's files
    (left by another user, or read-only like a read-only catalog they were made beside); None when it may write
    them all. The kernel answers for this process (os.access): its user, groups, ACLs and capabilities."""
    for path in (catalog.parent, catalog, *(catalog.with_name(catalog.name + end) for end in ("-wal", "-shm"))):
        if path.exists() and not os.access(path, os.W_OK):
            return path
    return None


def catalog_uri(catalog: Path, full: bool = False) -> str:
    """An SQLite URI that reads ``catalog`` without writing beside it. Where a writer's log files are both there
    (a writer running, or one that left them while another reader had the catalog open), ``mode=ro``: SQLite reads
    the log and takes its locks, so a writer's commits and checkpoints are seen whole (it needs both: the -wal to
    read, the -shm to find the commits in it). A log left with commits but without its -shm file (copied without
    it) is opened ``mode=ro`` too, which fails: the library's opening says what to do (``immutable=1`` would skip
    the log's commits). Otherwise ``immutable=1``: read as it is, without locks, though only read-only media keep
    it so (hence :func:`catalog_state`); so too on a ``full`` disk, where SQLite cannot grow the -shm file."""
    uri = catalog.resolve().as_uri()
    wal, shm = (catalog.with_name(catalog.name + end) for end in ("-wal", "-shm"))
    if wal.exists() and (wal.stat().st_size or shm.exists() and not full and not read_only_media(catalog.parent)):
        return uri + "?mode=ro"
    return uri + "?immutable=1"


def catalog_state(catalog: Path) -> tuple | None:
    """What changes when a writer changes ``catalog`` or starts writing it: the file (inode, size, modification
    time) and which of its log's files are there. A few stat calls; None while there is no catalog."""
    try:
        stat = catalog.stat()
    except OSError:
        return None
    logs = tuple(catalog.with_name(catalog.name + end).exists() for end in ("-wal", "-shm"))
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, logs


def has_room(path: Path) -> bool:
    """Whether the disk holding ``path`` has room again for SQLite's log files (a library opened on a full disk)."""
    try:
        stats = os.statvfs(path)
    except OSError:
        return False
    return not _full(stats)


def _full(stats: os.statvfs_result) -> bool:
    """Whether a file system has no room for a write: under ``_LOW_SPACE`` bytes, or no file left to make (a
    tmpfs or ext4 out of inodes: SQLite could not make its log files, and said only "unable to open database
    file"). A file system that reports no inodes at all (btrfs) has no such limit."""
    return stats.f_bavail * stats.f_frsize < _LOW_SPACE or bool(stats.f_files and not stats.f_favail)


def _kind(exc: BaseException) -> str | None:
    if isinstance(exc, OSError):
        return _ERRNOS.get(exc.errno)
    if isinstance(exc, sqlite3.Error):
        text = str(exc).lower()
        return next((kind for needle, kind in _SQLITE if needle in text), None)
    if isinstance(exc, RuntimeError) and "faiss" in str(exc):  # FAISS: "... (No space left on device)"
        text = str(exc)
        return next((kind for code, kind in _ERRNOS.items() if os.strerror(code) in text), None)
    return None


def _refine(kind: str, library: Path | None) -> str | None:
    """An I/O error or a database that cannot be opened is often a full or read-only disk, and SQLite's read-only
    database a file without write permission as often as a read-only disk: look."""
    if kind == _READ_ONLY_DATABASE:
        if library is None:
            return READ_ONLY
        return READ_ONLY if read_only_media(library if library.exists() else library.parent) else DENIED
    if kind not in (IO, _OPEN) or library is None:
        return None if kind == _OPEN else kind
    where = library if library.exists() else library.parent
    if read_only_media(where):
        return READ_ONLY
    try:
        stats = os.statvfs(where)
    except OSError:
        return None if kind == _OPEN else kind
    if _full(stats):
        return FULL
    catalog = library / "catalog.sqlite"  # layout.CATALOG, not imported: the library package imports this module
    if catalog.exists() and not os.access(catalog, os.R_OK):  # not the folder's write permission, then
        return UNREADABLE
    if not os.access(where, os.W_OK):
        return DENIED
    return None if kind == _OPEN else kind


def _detail(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        text = exc.strerror or str(exc)
        return f"{text}: {exc.filename}" if exc.filename else text
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, RuntimeError) and ": " in text:  # FAISS: keep the file and the system's words
        text = text.rsplit("failed: ", 1)[-1]
    return text


def _elsewhere(exc: BaseException, library: Path | None) -> bool:
    """An OSError about a file outside the library (a source the user named) is not the library's."""
    if not isinstance(exc, OSError) or not exc.filename or library is None:
        return False
    try:
        return not Path(os.path.abspath(exc.filename)).is_relative_to(Path(os.path.abspath(library)))
    except (TypeError, ValueError):
        return False


def storage_kind(exc: BaseException, library: Path | None = None) -> str | None:
    kind = None if _elsewhere(exc, library) else _kind(exc)
    return _refine(kind, library) if kind else None


def explain(exc: BaseException, library: Path | None = None) -> str | None:
    """One line for a storage failure under ``library`` (None when ``exc`` is not one)."""
    kind = storage_kind(exc, library)
    if kind is None:
        return None
    where = f"the library {library}" if library is not None else "the library"
    detail = _detail(exc)
    if kind == FULL:
        return (f"no space left on the disk holding {where} ({detail}); free some space and run the command "
                "again: what was committed is intact")
    if kind == READ_ONLY:
        return f"{where} is on a read-only file system ({detail}); it can be searched, but writing it needs write access"
    if kind == DENIED:
        return f"no permission to write {where} ({detail})"
    if kind == UNREADABLE:
        return f"no permission to read the library's catalog {library / 'catalog.sqlite'} ({detail})"
    return f"I/O error on {where} ({detail}); check the disk, then run: talksearch check"


def failure_line(exc: BaseException, library: Path | None = None) -> str | None:
    """One line for a failure of the disk or the catalog, as every command and the service's index job say it: a
    storage failure's (``explain``: what to do), else an OSError's or SQLite's own words; None for any other."""
    explained = explain(exc, library)
    if explained:
        return explained
    if isinstance(exc, OSError):
        return (f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror) if exc.strerror else str(exc)
    if isinstance(exc, sqlite3.Error):
        # damage a read came upon (a page of the records or of an index made from them): check tells which, and
        # whether --repair can rebuild it (an index) or a backup must be restored (the records)
        damaged = isinstance(exc, sqlite3.DatabaseError) and "malformed" in str(exc)
        advice = "; `talksearch check` says what is damaged, and whether --repair can rebuild it" if damaged else ""
        return f"library catalog{f' {library}' if library else ''}: {exc}{advice}"
    return None

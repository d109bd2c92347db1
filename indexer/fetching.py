"""What both indexing engines share: listing the sources' talks, fetching one, and the outcome line each
talk ends in. Below the engines (``pipeline`` runs the local one and imports ``ray_engine``), so neither
engine imports the other."""

from __future__ import annotations

import errno
import os
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from talksearch.indexer.sources import (UNSEEKABLE, Candidate, Fetched, ListedTwice, SourceError, Sources, Unwalked,
                                       _os_error)
from talksearch.settings import default


def removed_from(library, key: str, api: str | None = None) -> str | None:
    """Why the talk of archive key ``key`` is skipped, when the library records its removal (DELETE /api/talks,
    talksearch remove): since when, and how to add back that one alone (``--reindex`` would transcribe every talk of
    its feed again): the CLI's way, or for a job submitted over the API (``api``: the path the API is served under,
    its root path, "" for none) the API's. None when it was not removed."""
    when = library.removed_on(key)
    if when is None:
        return None
    talk_id = library.removed_as(key)
    if talk_id is None:  # (no API request adds it back: the API passes no flags)
        return f"removed from this library on {when[:10]}; index it with " + (
            "`talksearch index --reindex` (not over the API)" if api is not None else "--reindex") + " to add it back"
    restore = (f"DELETE {api}/api/removals/{talk_id}" if api is not None
               else f"talksearch restore {talk_id}{library_flag(library.path)}")
    return f"removed from this library on {when[:10]}; `{restore}` lets the next run add it back"


def library_flag(path: Path) -> str:
    """What a command in a line names the library at ``path`` by, to work as printed: nothing for the one a command
    opens without --library (the default, TALKSEARCH_LIBRARY unset), else ` --library PATH`, quoted for a shell."""
    if not os.environ.get("TALKSEARCH_LIBRARY") and Path(path) == default("library"):
        return ""
    return f" --library {shlex.quote(str(path))}"


@dataclass
class Outcome:
    status: str  # 'added' | 'updated' | 'skipped' | 'failed'
    label: str
    detail: str = ""
    audio_seconds: float = 0.0
    talk_id: str | None = None


@dataclass
class InLibrary(Outcome):
    """A talk the library has (archive key ``archive_id``), skipped: nothing fetched. ``details``: what its listing
    states of it now (``Sources.listed_details``), which the writer stores where they changed (an ``updated`` line,
    ``IndexRun._restate``). Its line names it by the title the library holds, a local file by its path
    (``named_by_path``)."""
    archive_id: str = ""
    details: dict = field(default_factory=dict)
    named_by_path: bool = False


@dataclass
class Known(Outcome):
    """A local recording skipped at a path the library records another talk at (a copy of a known recording, or
    one listed twice in this run): that talk, its recording gone from this path, is retired by the writer, the
    one that commits (either engine hands it back; ``Fetched.replaces``), at the end of the run, unless the run
    meets its recording at another path (``IndexRun._retire_unmet``)."""
    replaces: str | None = None


@dataclass
class Moved(Known):
    """A known local recording met at a new path (``Fetched.moved_from``): skipped, nothing transcribed, and its
    talk pointed at ``url``/``media_url`` by the writer; the talk recorded at that path retired (``replaces``), or
    pointed at ``moved_from`` where the two swapped places (``swapped``). ``archive_id`` and ``details``: as an
    ``InLibrary``'s, what its sidecar .info.json at the new path states, stored where they changed."""
    url: str = ""
    media_url: str | None = None
    moved_from: str = ""
    swapped: str | None = None
    archive_id: str = ""
    details: dict = field(default_factory=dict)


def talk_failed(candidate: Candidate, fetched: Fetched, detail: str) -> Outcome:
    """The failed line of a talk that was fetched but could not be indexed: named by its path when it is a
    local file (the title made from a file's name does not say which of a folder's files it was), else by
    its title. As on an added line, it says why the talk's captions were not used: they were the way to index
    a talk whisper then failed on."""
    label = candidate.label if candidate.path is not None else fetched.talk.title or candidate.label
    # (how players will play it is no news of a talk the library will not hold)
    notes = [note for note in (fetched.captions_refused or "").split("; ") if note and note != UNSEEKABLE]
    return Outcome("failed", label, "; ".join([detail, *notes]))


NO_TALKS_LISTED = "the source lists no talks"


def list_candidates(fetcher: Sources, sources: list[str], overall: tqdm) -> Iterator[Candidate | Outcome]:
    """Every talk the sources name, or a failed outcome for a source that cannot be listed or lists no talk (a feed
    with no episode: said, rather than "0 added" as if all were well; a folder without media says why itself)."""
    for source in sources:
        listed = 0
        try:
            for candidate in fetcher.expand(source):
                listed += 1
                overall.total += 1
                overall.refresh()
                if isinstance(candidate, Unwalked):  # a folder within it that could not be listed: failed alone
                    yield Outcome("failed", candidate.label, candidate.detail)
                    continue
                yield candidate
        except SourceError as exc:
            overall.total += 1
            yield Outcome("failed", source, str(exc))
        else:
            if not listed:
                overall.total += 1
                yield Outcome("failed", source, NO_TALKS_LISTED)


# A full disk (or quota) is no talk's fault: every download after it would fail the same way, so it stops the run
# with the one line a full disk gets (talksearch.storage.explain) rather than a failed line per talk.
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
# yt-dlp reports a failed write as text: "unable to write data: [Errno 28] No space left on device"
_DISK_FULL_TEXTS = tuple(text for code in _DISK_FULL for text in (f"[Errno {code}]", os.strerror(code)))


def fetch_once(fetcher: Sources, candidate: Candidate, seen: set[str]) -> Fetched | Outcome:
    """Download a candidate unless the library has it or this run already took it. A full disk raises OSError."""
    try:
        key = fetcher.archive_key(candidate)  # a local file's content read: unreadable or gone, it fails alone
        if key in seen:
            return _listed_twice(fetcher, candidate, key)
        fetched = fetcher.fetch(candidate, taken=seen)
    except ListedTwice:
        return _listed_twice(fetcher, candidate, key)
    except SourceError as exc:
        if any(text in str(exc) for text in _DISK_FULL_TEXTS):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)) from exc
        return Outcome("failed", candidate.label, str(exc))
    except OSError as exc:
        if exc.errno in _DISK_FULL:
            raise
        return Outcome("failed", candidate.label, _os_error(exc))
    if fetched is None:
        return in_library(fetcher, candidate, key)
    if fetched.copy_of is not None:  # not taken: the path its talk is at may come later in this run
        return Known("skipped", candidate.label, f"already in the library (a copy of {fetched.copy_of})",
                     replaces=fetched.replaces)
    if fetched.talk.archive_id in seen:
        discard(fetched)
        return _listed_twice(fetcher, candidate, fetched.talk.archive_id)
    seen.add(fetched.talk.archive_id)
    if fetched.moved_from is not None:
        return Moved("skipped", candidate.label, f"already in the library (moved from {fetched.moved_from})",
                     talk_id=fetched.talk.id, replaces=fetched.replaces, url=fetched.talk.url,
                     media_url=fetched.talk.media_url, moved_from=fetched.moved_from, swapped=fetched.swapped,
                     archive_id=fetched.talk.archive_id, details=fetcher.listed_details(candidate, fetched.talk.archive_id))
    return fetched


def in_library(fetcher: Sources, candidate: Candidate, key: str | None) -> Outcome:
    """The skipped outcome of a talk the library has, listed under ``key`` (None: known only once requested)."""
    if key is None:
        return Outcome("skipped", candidate.label, "already in the library")
    return InLibrary("skipped", candidate.label, "already in the library", archive_id=key,
                     details=fetcher.listed_details(candidate, key), named_by_path=candidate.path is not None)


def _listed_twice(fetcher: Sources, candidate: Candidate, key: str | None) -> Known:
    """A talk this run has taken already; a local file of it put where another talk's recording was retires that
    talk (the first path met holds this recording's talk)."""
    return Known("skipped", candidate.label, "listed twice in this run", replaces=fetcher.displaced(candidate, key))


def discard(fetched: Fetched, keep_in: Path | None = None) -> None:
    """Remove downloaded audio once its talk is done, or move it into ``keep_in`` (the library's ``media/``
    with ``--keep-media``): out of ``downloads/``, which holds only what an interrupted run left and may be
    cleaned. Local files are the user's: never touched."""
    if not fetched.downloaded:
        return
    if keep_in is None:
        fetched.audio.unlink(missing_ok=True)
    elif fetched.audio.exists():
        keep_in.mkdir(parents=True, exist_ok=True)
        fetched.audio.replace(keep_in / fetched.audio.name)

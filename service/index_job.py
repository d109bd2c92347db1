"""The child process that runs one API indexing job (see ``talksearch.service.jobs``).

Reads ``{"settings": {...}, "sources": [...], "guard": bool, "job": ID, "service": PID}`` as JSON on stdin (``job``
and ``service``: the job's id, which the writer lock names, and the service's pid, whose end ends this process) and
writes JSON lines on stdout: ``outcome`` and ``log`` (one each per talk as it is done: the outcome, and the line the
CLI prints), then ``summary`` or ``error``/``locked``.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path
from dataclasses import asdict

from talksearch.service.jobs import EXIT_LOCKED


PR_SET_PDEATHSIG = 1  # Linux's prctl: a signal for this process when the thread that started it ends


def _end_with(service: int) -> None:
    """Be ended (SIGTERM, as stop() ends a job) when the service that started this child ends. The child runs in a
    session of its own (``JobQueue._run_child``), out of reach of what ends the service's process group: a service
    killed outright (SIGKILL, the out-of-memory killer) would leave it indexing on its own, holding the library."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != service:  # the service ended before the watch was set
        sys.exit(1)


def said(exc: BaseException, library: Path) -> str | None:
    """A failure in the CLI's words (``talksearch.cli._one_line``, which the service may not import): a storage
    failure (a full disk: an OSError, SQLite's "database or disk is full", FAISS's RuntimeError) says what to do, as
    "[Errno 28] No space left on device" did not; None when it is none of those expected (a bug: its traceback)."""
    from talksearch.storage import failure_line

    stored = failure_line(exc, library)
    if stored:
        return stored
    if isinstance(exc, RuntimeError):
        return None
    return str(exc) or type(exc).__name__


def main() -> int:
    request = json.load(sys.stdin)
    if "service" in request:
        _end_with(request["service"])
    # Our protocol gets the real stdout; anything a library prints goes to stderr instead.
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def emit(event: str, **fields) -> None:
        out.write(json.dumps({"event": event, **fields}) + "\n")

    if request.get("guard", True):
        from talksearch.service import netguard

        netguard.install()  # before anything opens a connection

    from talksearch.indexer.pipeline import IndexRun
    from talksearch.library import LibraryError, LibraryLocked
    from talksearch.models import ModelError
    from talksearch.settings import Settings

    def shown(outcome) -> dict:
        return {k: v for k, v in asdict(outcome).items() if k != "audio_seconds"}

    # Said in their own words, as the CLI says them: a whisper model that cannot load stops the run (not one talk),
    # and as a traceback its last line, "talksearch.models.ModelError: ...", was the job's error.
    expected = (LibraryError, ModelError, OSError, sqlite3.Error, RuntimeError)
    settings = Settings(**request["settings"])

    def failed(exc: BaseException) -> int:
        message = said(exc, settings.library)
        if message is None:
            raise exc
        emit("error", message=" ".join(message.split()))
        return 1

    try:
        # Its lines give an API client's ways (DELETE /api/removals/ID), not the CLI's; a writer refused meanwhile (a
        # DELETE, talksearch index) names the job, not "talksearch index" with this child's pid
        run = IndexRun(settings, report=lambda line: emit("log", line=line),
                       on_outcome=lambda outcome: emit("outcome", outcome=shown(outcome)), for_api=True,
                       holder=f"talksearch serve's index job {request.get('job', '')}".rstrip())
    except LibraryLocked as exc:
        emit("locked", message=str(exc))
        return EXIT_LOCKED
    except expected as exc:
        return failed(exc)
    stopped_on_error = False  # as the CLI's run: a library this job made and stored nothing in is removed then
    try:
        summary = run.run(request["sources"])
    except expected as exc:
        stopped_on_error = True
        return failed(exc)
    except Exception:
        stopped_on_error = True
        raise
    finally:
        run.close(failed=stopped_on_error)
    emit("summary", line=summary.line(), outcomes=[shown(o) for o in summary.outcomes])
    return 0


if __name__ == "__main__":
    sys.exit(main())

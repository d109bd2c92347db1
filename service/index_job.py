"""The child process that runs one API indexing job (see ``talksearch.service.jobs``).

Reads ``{"settings": {...}, "sources": [...], "guard": bool}`` as JSON on stdin and writes JSON lines
on stdout: ``outcome`` and ``log`` (one each per talk as it is done: the outcome, and the line the CLI prints),
then ``summary`` or ``error``/``locked``.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict

from talksearch.service.jobs import EXIT_LOCKED


def main() -> int:
    request = json.load(sys.stdin)
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
    expected = (LibraryError, ModelError, OSError)
    settings = Settings(**request["settings"])
    try:
        run = IndexRun(settings, report=lambda line: emit("log", line=line),
                       on_outcome=lambda outcome: emit("outcome", outcome=shown(outcome)))
    except LibraryLocked as exc:
        emit("locked", message=str(exc))
        return EXIT_LOCKED
    except expected as exc:
        emit("error", message=str(exc))
        return 1
    try:
        summary = run.run(request["sources"])
    except expected as exc:
        emit("error", message=str(exc))
        return 1
    finally:
        run.close()
    emit("summary", line=summary.line(), outcomes=[shown(o) for o in summary.outcomes])
    return 0


if __name__ == "__main__":
    sys.exit(main())

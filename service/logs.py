"""The served process's one logging setup, handed to uvicorn as its ``log_config``: uvicorn's lines (its errors, its
access log) and the app's (the ``talksearch`` logger) on stderr, each with its time and level, as text or as
JSON lines (``log_format``)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime
from typing import Any

from talksearch.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class TimestampedFormatter(logging.Formatter):
    """Times in ISO 8601 with milliseconds and the UTC offset (2025-05-01T14:03:07.123+02:00): logging's default
    has neither the offset nor the ``T`` that log collectors read."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's
        return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


class JsonLinesFormatter(TimestampedFormatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, and ``exception`` (the traceback)
    where there is one. A message's own line breaks are escaped, so a record is always one line."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
                "message": record.getMessage()}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


class StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when a line is written, not when logging was set up: one that replaces it
    (click's test runner) and closes it later left every line after to fail as a logging error."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):  # noqa: ANN201 - a text stream
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001 - StreamHandler.setStream's; sys.stderr is always the one
        pass


def log_config(settings: Settings) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` for ``talksearch serve``: one handler, on the root logger, that uvicorn's
    loggers and the app's propagate to (so there is one format, and tests' log capture still sees them). Other
    libraries log their warnings through it too, as Python's last-resort handler wrote them before."""
    level = settings.log_level.upper()
    formatter = JsonLinesFormatter if settings.log_format == "json" else TimestampedFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"talksearch": {"()": formatter, "fmt": TEXT_FORMAT}},
        "handlers": {"stderr": {"()": StderrHandler, "formatter": "talksearch"}},
        # Other libraries' debug and info lines are theirs to debug, not the service's: warnings at most.
        "root": {"level": max(logging.getLevelName(level), logging.WARNING), "handlers": ["stderr"]},
        "loggers": {
            "uvicorn": {"level": level, "handlers": [], "propagate": True},  # uvicorn's own config gives it one
            "uvicorn.error": {"level": level},
            # uvicorn writes a request's line only where its logger takes INFO: on whatever the log level
            "uvicorn.access": {"level": "INFO" if settings.access_log else "WARNING", "handlers": [],
                               "propagate": settings.access_log},
            "talksearch": {"level": level},
        },
    }

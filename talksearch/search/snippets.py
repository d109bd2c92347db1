"""Snippets: a passage as safe HTML with the query's words marked, from SQLite FTS5's ``snippet()``."""

from __future__ import annotations

import html

from talksearch.library import Library

# Private-use characters never occur in transcripts, so they can stand for <mark> until the text is escaped.
_OPEN, _CLOSE = "\ue000", "\ue001"


def safe_markup(marked: str) -> str:
    return html.escape(marked, quote=False).replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")


def snippets(library: Library, query: str, passages: dict[int, str]) -> dict[int, str]:
    """Per passage id, its HTML snippet; ``passages`` maps ids to their plain text (the passage's own, or its
    English translation: the text given is the text marked)."""
    marked = library.snippets(passages.items(), query, (_OPEN, _CLOSE))  # every query word it holds, marked
    return {pid: safe_markup(marked.get(pid, text)) for pid, text in passages.items()}

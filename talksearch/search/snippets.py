"""Snippets: a passage as safe HTML with the query's words marked, from SQLite FTS5's ``snippet()``."""

from __future__ import annotations

import html

from talksearch.library import Library
from talksearch.text import content_words, tokens
# Private-use characters never occur in transcripts, so they can stand for <mark> until the text is escaped.
_OPEN, _CLOSE = "\ue000", "\ue001"


def highlight_query(text: str) -> str | None:
    """The query's content words, quoted (FTS5 syntax typed by the user is never interpreted), OR-ed: a
    passage found by meaning still gets whichever of them it contains marked. Function words ("how", "a",
    "I") are not marked, unless the query has nothing else."""
    words = content_words(text) or tokens(text)
    return " OR ".join(f'"{w}"' for w in words) if words else None


def safe_markup(marked: str) -> str:
    return html.escape(marked, quote=False).replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")


def snippets(library: Library, query: str, passages: dict[int, str]) -> dict[int, str]:
    """Per passage id, its HTML snippet; ``passages`` maps ids to their plain text."""
    match = highlight_query(query)
    marked = library.snippets(passages, match, (_OPEN, _CLOSE)) if match else {}
    return {pid: safe_markup(marked.get(pid, text)) for pid, text in passages.items()}

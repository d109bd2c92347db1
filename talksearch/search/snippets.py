"""Snippets: a passage as safe HTML with the query's words marked, from SQLite FTS5's ``snippet()``."""

from __future__ import annotations

import html

from talksearch.library import Library

# Two private-use characters stand for <mark> and </mark> until the text is escaped. Transcripts from captions or a
# feed may hold them too (a publisher's font icons): there they are shown as U+FFFD, never taken for marks.
_OPEN, _CLOSE = "\ue000", "\ue001"
_MARKS_IN_TEXT = str.maketrans({_OPEN: "\ufffd", _CLOSE: "\ufffd"})


def safe_markup(marked: str) -> str:
    return html.escape(marked, quote=False).replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")


def snippets(library: Library, query: str, passages: dict[int, str]) -> dict[int, str]:
    """Per passage id, its HTML snippet; ``passages`` maps ids to their plain text (the passage's own, or its
    English translation: the text given is the text marked)."""
    passages = {pid: text.translate(_MARKS_IN_TEXT) for pid, text in passages.items()}
    marked = library.snippets(passages.items(), query, (_OPEN, _CLOSE))  # every query word it holds, marked
    return {pid: safe_markup(marked.get(pid, text)) for pid, text in passages.items()}

"""A source's free text as the library stores it: a talk's title, channel, event and speakers each one line as the
filters match it, its description without control characters, and each within a size no real talk's reaches (a
hostile feed's megabyte <title> stalled indexing). Every reader of what a source states of a talk (its feed, yt-dlp's
info, a sidecar .info.json, the user's --parse-metadata rules) keeps to these.
"""

from __future__ import annotations

import re

from talksearch.text import without_controls

# A source's free text is its publisher's word, kept up to sizes no real talk's reaches: a hostile feed's 1 MB <title>
# went before every passage's embedding text (passages.embedding_texts), and indexing its talk never finished (100 KB:
# 80 s and 1.2 GB, in the tokenizer). Characters kept (``_capped``) of ...
_LINE = 300  # ... a talk's title, channel or event, or one speaker's name: a line
_CHAPTER_TITLE = 200  # ... a chapter's title: a line of a table of contents, not a description
_DESCRIPTION = 20_000  # ... a description (stored and shown; nothing reads it into a model): pages of show notes
_SPEAKERS = 50  # names kept of a talk's speakers: a panel, not a conference's list of attendees
_CHAPTERS = 1000  # chapters kept of a talk: a table of contents (a day-long stream's has a few hundred at most)
_CUT_WORD = re.compile(r"\s\S*\Z")  # the last word of a text, and the space before it


def _filter_value(text: str | None) -> str | None:
    """A channel, event or speaker as the filters match it: runs of whitespace one space, none at the ends. The
    API strips what it is asked for, and a browser collapses the spaces of an <option>: " Ann  Lee" stored as it
    came would be listed in the menus and never found by them."""
    return " ".join(without_controls(text or "").split()) or None


def _description(text: str | None) -> str | None:
    """A talk's description as stored: its lines kept, without control characters, within ``_DESCRIPTION``."""
    return _capped(without_controls(text, lines=True) if text else text, _DESCRIPTION)


def _capped(text: str | None, limit: int) -> str | None:
    """``text`` as stored: whole up to ``limit`` characters, else cut there at a word's end, "…" after it (a word
    the limit cuts is left out, unless that leaves less than half)."""
    if text is None or len(text) <= limit:
        return text
    kept = text[:limit - 1]  # and the ellipsis
    if not text[limit - 1].isspace() and (cut := _CUT_WORD.search(kept)) and cut.start() > limit // 2:
        kept = kept[:cut.start()]
    return kept.rstrip() + "\N{HORIZONTAL ELLIPSIS}"


def _one_line(text: str | None) -> str | None:
    """A title, channel, event or speaker as stored: as the filters match it (``_filter_value``: one line, where a
    feed's title may run over several, indented; no control characters), within ``_LINE``."""
    return _capped(_filter_value(text), _LINE)


def _names(names: list[str]) -> list[str]:
    return [name for name in map(_one_line, names) if name][:_SPEAKERS]

"""The language a talk's own written details are in (its title, description and chapter titles): the one sign of its
language besides what whisper hears, which breaks whisper's close calls (``transcribe.heard_language``).

Read by py3langid (langid.py's model of 97 languages, bundled in its PyPI package and listed in models.txt), which
reads a conference title right: the 24 German, Spanish and French titles of the languages benchmark and 18 English
ones (the dev set's and blind12's) all in their language.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

from talksearch.indexer.transcribe import spoken_title
from talksearch.language_codes import whisper_code
from talksearch.models import resolve

# The text read: enough to tell a language by, short enough to read in a few milliseconds (a description may be
# pages long, and its opening says as much as the rest); and the fewest letters that tell one ("IMG_2034" was read
# as Uzbek).
MOST_CHARACTERS = 2000
FEWEST_LETTERS = 6

_loading = threading.Lock()


@functools.cache
def _identifier():
    from py3langid.langid import LanguageIdentifier

    model = Path(resolve("language-id", "py3langid").location) / "model.npz.xz"  # checksum verified (models.txt)
    return LanguageIdentifier.from_model_file(model, norm_probs=True)


def written_language(talk) -> str | None:
    """The language (whisper's code) the talk's title, description and chapter titles are written in; None when
    it has none of them, or they are in a language whisper does not know. ``talk`` is a ``Talk``; a local file's
    title that is its name is read as ``spoken_title`` reads it ("IMG_2034" is no language)."""
    parts = [spoken_title(talk.title, talk.media_url), talk.description, *(chapter.get("title") for chapter in talk.chapters or [])]
    text = "\n".join(part for part in parts if part and part.strip())[:MOST_CHARACTERS]
    if sum(character.isalpha() for character in text) < FEWEST_LETTERS:
        return None
    with _loading:  # (one load, however many talks are transcribed side by side)
        identifier = _identifier()
    language, _ = identifier.classify(text)
    return whisper_code(language)

"""Where a talk's captions are, which track to use, and reading it into a transcript.

Three places hold captions: yt-dlp's info dict (``subtitles``: the publisher's, which also holds a page's
``<track>`` elements; ``automatic_captions``: the site's speech recognition), a feed item's
``<podcast:transcript>`` (Podcasting 2.0; yt-dlp does not read it), and files beside a local recording
(``talk.vtt``, ``talk.srt``, ``talk.en.vtt``). The ``captions`` setting says which may stand in for
Whisper: ``uploaded`` (the publisher's only), ``any`` (automatic ones too) or ``never``.

A track must be in the talk's language when that is known (``--language``, the site's or the feed's); when
it is not, the one language offered is taken (or the one YouTube marks as the original), and of several the one
whisper hears in the recording (``needs_language``: chosen once it is heard). Anything that cannot be used
raises ``CaptionError``, whose message is the one-line reason the talk falls back to Whisper.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from talksearch.indexer import captions
from talksearch.indexer.captions import CaptionError

from talksearch.language_codes import LANGUAGE_TAG, base_language, source_language
from talksearch.library import Segment

CHOICES = ("uploaded", "any", "never")
# Formats read from a site's list of caption formats, best first (YouTube also offers json3, srv1-3, ttml).
_SITE_FORMATS = ("vtt", "srt")
# <podcast:transcript type=...> this reader understands; text/html and text/plain carry no timings.
_FEED_TYPES = {"text/vtt": "vtt", "application/x-subrip": "srt", "application/srt": "srt", "text/srt": "srt",
               "application/json": "json"}
# A caption file beside a recording is read whole: refused past this size rather than held in memory, as a
# publisher's is (sources._URL_LIMIT_MB, which says why 20 MB leaves room for any real one).
_FILE_LIMIT_MB = 20
# A byte order mark says its encoding (UTF-32's before UTF-16's: FF FE 00 00 begins with UTF-16's FF FE); files
# without one are read as UTF-8, else as Windows-1252, what Windows tools save SubRip in (Latin-1's letters too).
_BYTE_ORDER_MARKS = ((codecs.BOM_UTF32_LE, "utf-32", "UTF-32"), (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
                     (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"), (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"))


@dataclass
class CaptionTrack:
    origin: str  # "uploaded" (the publisher's) or "automatic" (the site's speech recognition)
    language: str | None  # as the source tags it; None when it does not say
    fmt: str | None  # "vtt", "srt", "json", or a hint (a file extension) the content settles
    url: str | None = None
    path: Path | None = None

    @property
    def source(self) -> str:
        return f"{self.origin} captions"

    @property
    def code(self) -> str | None:
        """The language code the track's tag stands for (``deu``, ``German``: ``de``); None for a tag that names no
        known language, which is then a track that names none."""
        return source_language(self.language)

    @property
    def named(self) -> str | None:
        """The language the track's tag names, to match it by: its ``code``, else the tag's own ISO 639 code for
        a language talks are not stored by (``fil``, ``ckb``: a language, just not the talk's); None only for a tag
        that names none (``Deutsch``), which may be any language."""
        primary = base_language(self.language) if self.language and LANGUAGE_TAG.match(self.language) else None
        return self.code or (primary if primary and primary.isalpha() and len(primary) in (2, 3) else None)


@dataclass
class CaptionTranscript:
    source: str  # "uploaded captions" or "automatic captions"
    language: str | None
    segments: list[Segment]
    note: str | None = None  # what the talk's line should say of how they were read (an encoding guessed)


def _site_tracks(by_language: dict | None, origin: str) -> list[CaptionTrack]:
    tracks = []
    for language, formats in (by_language or {}).items():
        if language == "live_chat":  # YouTube lists a live stream's chat among its subtitles
            continue
        usable = [f for f in formats or [] if f.get("url") and (f.get("ext") in _SITE_FORMATS or not f.get("ext"))]
        usable.sort(key=lambda f: _SITE_FORMATS.index(f["ext"]) if f.get("ext") in _SITE_FORMATS else len(_SITE_FORMATS))
        if usable:
            tracks.append(CaptionTrack(origin, language if language not in ("und", "unknown") else None,
                                       usable[0].get("ext"), url=usable[0]["url"]))
    return tracks


def site_tracks(info: dict, choice: str) -> list[CaptionTrack]:
    """The caption tracks yt-dlp found for a talk that ``choice`` allows: the publisher's first."""
    if choice == "never":
        return []
    tracks = _site_tracks(info.get("subtitles"), "uploaded")
    if choice == "any":
        tracks += _site_tracks(info.get("automatic_captions"), "automatic")
    return tracks


def spoken_language(info: dict) -> str | None:
    """The talk's language as the site states it, or as YouTube marks its original automatic captions."""
    if info.get("language"):
        return info["language"]
    original = [key for key in info.get("automatic_captions") or {} if key.endswith("-orig")]
    return original[0].removesuffix("-orig") if len(original) == 1 else None


def feed_tracks(transcripts: list[dict], choice: str) -> list[CaptionTrack]:
    """A feed item's ``<podcast:transcript>`` elements (``url``, ``type``, ``language``): the publisher's own."""
    if choice == "never":
        return []
    tracks = [CaptionTrack("uploaded", t.get("language"), t.get("type"), url=t["url"]) for t in transcripts if t.get("url")]
    return sorted(tracks, key=lambda t: t.fmt not in _FEED_TYPES)  # timed formats before HTML and plain text


def sidecar_tracks(media: Path, choice: str) -> list[CaptionTrack]:
    """``talk.vtt``, ``talk.srt`` and ``talk.<language>.vtt`` beside ``talk.mp4``, the language a tag (``de``,
    ``de-DE``, ``deu``) or its English name (``German``): taken as the publisher's."""
    if choice == "never":
        return []
    tracks = []
    for fmt in ("vtt", "srt"):
        plain = media.with_suffix(f".{fmt}")
        if plain.is_file():
            tracks.append(CaptionTrack("uploaded", None, fmt, path=plain))
        for tagged in sorted(media.parent.glob(f"{_glob_escape(media.stem)}.*.{fmt}")):
            tag = tagged.name[len(media.stem) + 1 : -len(fmt) - 1]
            if LANGUAGE_TAG.match(tag) or source_language(tag):
                tracks.append(CaptionTrack("uploaded", tag, fmt, path=tagged))
    return tracks


def _glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def choose(tracks: list[CaptionTrack], language: str | None) -> CaptionTrack | None:
    """The track to use (the first of ``ranked``). None when there are no tracks; CaptionError when there are, but
    none fits."""
    fitting = ranked(tracks, language)
    return fitting[0] if fitting else None


def ranked(tracks: list[CaptionTrack], language: str | None) -> list[CaptionTrack]:
    """The tracks that fit the talk, best first, each to be read should the one before it fail: uploaded before
    automatic, the talk's language (tracks that name none come after those that name it, and YouTube's original
    automatic captions before its translations), a feed's transcripts without timings (HTML, plain text) last of
    all, whatever language they name. Empty when there are no tracks; CaptionError when there are, but none fits."""
    if not tracks:
        return []
    wanted = source_language(language)
    if wanted is None:
        if needs_language(tracks, language):
            offered = _offered(tracks)
            if all(t.named for t in tracks):
                raise CaptionError(f"captions in {len(offered)} languages ({', '.join(offered)}) and the talk's "
                                   "language is not known (name it with --language)")
            listed = ", ".join(t.named or t.language or "no language named" for t in tracks)
            raise CaptionError(f"{len(tracks)} caption tracks ({listed}), not all naming their language, and the "
                               "talk's language is not known (name it with --language)")
        return sorted(tracks, key=_without_timings)
    fitting = sorted(
        (t for t in tracks if t.named in (wanted, None)),
        key=lambda t: (_without_timings(t), t.origin != "uploaded", t.named is None,
                       not (t.language or "").endswith("-orig")),
    )
    if fitting:
        return fitting
    raise CaptionError(f"no captions in {wanted} (only {', '.join(_offered(tracks))})")


def needs_language(tracks: list[CaptionTrack], language: str | None) -> bool:
    """Whether ``choose`` waits on the talk's language: ``language`` names none and the language whisper hears in the
    recording could tell ``tracks`` apart (``Fetched.pending_captions``): they name several, or one and others name
    none (a page's ``<track label="Deutsch">`` beside its ``label="English">``: the first was taken, German words
    stored as an English talk's). One track that names none, or several that all name none, are taken as they are:
    what is heard cannot choose among them (the README: captions must be in the talk's language)."""
    if source_language(language) is not None:
        return False
    offered = _offered(tracks)
    return len(offered) > 1 or (len(offered) == 1 and any(t.named is None for t in tracks))


def _offered(tracks: list[CaptionTrack]) -> list[str]:
    return sorted({t.named for t in tracks if t.named})


def feed_format(track: CaptionTrack) -> str | None:
    """The format a feed's MIME type names; CaptionError for transcripts without timings (HTML, plain text)."""
    if track.fmt in _FEED_TYPES:
        return _FEED_TYPES[track.fmt]
    if _without_timings(track):
        raise CaptionError(f"the feed's transcript is {track.fmt.split(';')[0].strip()}, without timings")
    return track.fmt


def _without_timings(track: CaptionTrack) -> bool:
    """A feed's transcript that is text without timings (HTML, plain text): never one to read before a timed one."""
    return bool(track.fmt) and track.fmt.split(";")[0].strip().lower() in ("text/html", "text/plain")


def load(track: CaptionTrack, read_url: Callable[[str], bytes], duration: float | None,
         language: str | None) -> CaptionTranscript:
    """Fetch and read a track. ``read_url`` raises with yt-dlp's one-line message (HTTP errors and the like)."""
    fmt = feed_format(track) if "/" in (track.fmt or "") else track.fmt  # a feed names MIME types
    try:
        data = _read_file(track.path) if track.path is not None else read_url(track.url or "")
    except CaptionError:
        raise
    except Exception as exc:  # a 404, a timeout, an unreadable file: the message is the reason
        raise CaptionError(_one_line(exc)) from None
    text, guessed = _decoded(data)
    try:
        cues = captions.parse(text, fmt)
    except CaptionError as exc:
        if guessed:  # bytes that are not UTF-8 read as Windows-1252 whatever they are: not captions, said as such
            raise CaptionError(f"not UTF-8 text, nor captions as Windows-1252 ({exc})") from None
        raise
    segments = captions.to_segments(cues, duration)
    return CaptionTranscript(track.source, track.code or source_language(language), segments,
                             f"{track.source} read as {guessed}" if guessed else None)


def _decoded(data: bytes) -> tuple[str, str | None]:
    """A caption file's text, and the encoding it was guessed to be in (None where its bytes say it): the one its
    byte order mark names, else UTF-8, else Windows-1252 (which ``load`` takes only where the text is captions)."""
    for mark, codec, name in _BYTE_ORDER_MARKS:
        if data.startswith(mark):
            try:
                return data.decode(codec), None  # (the codec reads the mark and drops it)
            except UnicodeDecodeError:
                raise CaptionError(f"not {name} text, though it begins with its byte order mark") from None
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError:  # one of the five bytes Windows-1252 leaves undefined
        raise CaptionError("not UTF-8 text, nor Windows-1252") from None


def _read_file(path: Path) -> bytes:
    """A caption file's bytes: a regular file (a link to one too) of at most ``_FILE_LIMIT_MB``; CaptionError
    for anything else. A FIFO named talk.en.vtt would hold the run forever (opening it waits for a writer), a link
    to /dev/zero would be read until memory runs out, a device may act on being opened: none is opened, and
    what is opened is opened without waiting and checked again as opened (it may have been replaced meanwhile)."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise CaptionError("not a regular file")
    with open(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise CaptionError("not a regular file")
        data = file.read((_FILE_LIMIT_MB << 20) + 1)
    if len(data) > _FILE_LIMIT_MB << 20:
        raise CaptionError(f"larger than {_FILE_LIMIT_MB:g} MB")
    return data


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip().splitlines()
    return re.sub(r"^ERROR:\s*", "", text[0]) if text else type(exc).__name__

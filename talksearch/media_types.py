"""The local recordings talksearch takes, and the media type the service serves each one with.

One table for both sides, so they cannot drift apart: ``talksearch index FOLDER`` takes the files whose suffix it
names, and ``/media`` serves a talk's file with the type it gives. It does not depend on the host's mime.types,
which python:3.11-slim (the Docker image) lacks: Python's own table knows no .m4a, .flac, .mkv, .ogg or .ts. A
file named without one of these suffixes (a recording indexed by name) gets the type of its container, as ffmpeg
reads it.
"""

from __future__ import annotations

import functools
import mimetypes
import os
from pathlib import Path, PurePosixPath
from urllib.parse import unquote_to_bytes, urlsplit
from urllib.request import url2pathname

# Audio and video containers ffmpeg (PyAV) reads, by suffix. Types as browsers and Debian's mime.types name them;
# an .opus or .spx file is Ogg (RFC 7845), an .m4b or .f4v one MP4, an .m2ts or .mts one an MPEG transport stream
# (and so is a .ts one, which Debian's mime.types calls Qt Linguist's text).
MEDIA_TYPES: dict[str, str] = {
    ".mp3": "audio/mpeg", ".mp2": "audio/mpeg", ".mpga": "audio/mpeg",
    ".m4a": "audio/mp4", ".m4b": "audio/mp4", ".aac": "audio/aac",
    ".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg", ".spx": "audio/ogg",
    ".wav": "audio/wav", ".flac": "audio/flac", ".aiff": "audio/aiff", ".aif": "audio/aiff", ".aifc": "audio/aiff",
    ".mka": "audio/x-matroska", ".caf": "audio/x-caf", ".amr": "audio/amr", ".wma": "audio/x-ms-wma",
    ".wv": "audio/x-wavpack", ".ape": "audio/x-ape", ".ac3": "audio/ac3",
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".f4v": "video/mp4", ".mov": "video/quicktime",
    ".webm": "video/webm", ".mkv": "video/x-matroska", ".ogv": "video/ogg",
    ".3gp": "video/3gpp", ".3g2": "video/3gpp2",
    ".ts": "video/mp2t", ".m2ts": "video/mp2t", ".mts": "video/mp2t", ".mpg": "video/mpeg", ".mpeg": "video/mpeg",
    ".avi": "video/x-msvideo", ".wmv": "video/x-ms-wmv", ".asf": "video/x-ms-asf", ".flv": "video/x-flv",
    ".dv": "video/dv",
}
MEDIA_SUFFIXES = frozenset(MEDIA_TYPES)

# ffmpeg's demuxers for those containers (PyAV's ``format.name``): the type of a file holding audio alone, and of
# one with a picture. Only these are ever probed (ffmpeg's format_whitelist): a playlist or subtitle file is not
# opened as one, so nothing it names is read and it is no recording.
_CONTAINER_TYPES: dict[str, tuple[str, str]] = {
    "mov,mp4,m4a,3gp,3g2,mj2": ("audio/mp4", "video/mp4"),
    "matroska,webm": ("audio/x-matroska", "video/x-matroska"),
    "ogg": ("audio/ogg", "video/ogg"),
    "asf": ("audio/x-ms-wma", "video/x-ms-wmv"),
    "mp3": ("audio/mpeg", "audio/mpeg"),
    "aac": ("audio/aac", "audio/aac"),
    "wav": ("audio/wav", "audio/wav"),
    "flac": ("audio/flac", "audio/flac"),
    "aiff": ("audio/aiff", "audio/aiff"),
    "caf": ("audio/x-caf", "audio/x-caf"),
    "amr": ("audio/amr", "audio/amr"),
    "wv": ("audio/x-wavpack", "audio/x-wavpack"),
    "ape": ("audio/x-ape", "audio/x-ape"),
    "ac3": ("audio/ac3", "audio/ac3"),
    "mpegts": ("video/mp2t", "video/mp2t"),
    "mpeg": ("video/mpeg", "video/mpeg"),
    "avi": ("video/x-msvideo", "video/x-msvideo"),
    "flv": ("video/x-flv", "video/x-flv"),
    "dv": ("video/dv", "video/dv"),
}
_DEMUXERS = ",".join(_CONTAINER_TYPES)


def recording_path(url: str | None) -> Path | None:
    """The path a local talk's ``file://`` URL names; None for any other URL (a remote talk's)."""
    parts = urlsplit(url or "")
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return None
    if os.name != "posix":
        return Path(url2pathname(parts.path))
    # The bytes Path.as_uri() quoted, decoded once (unquoting twice made %2520 a space) and as the file system
    # does: url2pathname decodes them as UTF-8, which makes a file name that is not UTF-8 a path with U+FFFD in it.
    return Path(os.fsdecode(unquote_to_bytes(parts.path)))


def type_by_name(name: str) -> str | None:
    """The audio or video type a file or URL path's suffix names (the table above, then the host's table)."""
    kind = MEDIA_TYPES.get(PurePosixPath(name).suffix.lower()) or mimetypes.guess_type(name)[0] or ""
    return kind if kind.split("/")[0] in ("audio", "video") else None


def media_type(path: Path) -> str | None:
    """The audio or video type of the file at ``path``: by its suffix (``type_by_name``), else by its container;
    None for anything else."""
    if kind := type_by_name(path.name):
        return kind
    try:
        stat = path.stat()
    except OSError:
        return None
    return _container_type(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=1024)
def _container_type(path: str, mtime_ns: int, size: int) -> str | None:
    """What ffmpeg reads the file as; cached by its modification time and size, as search results ask for it again
    and again (and a file replaced at its path is read anew)."""
    import av  # only here: the search side reads no media otherwise

    try:
        with open(path, "rb") as file, av.open(file, options={"format_whitelist": _DEMUXERS},
                                               metadata_errors="ignore") as container:
            types = _CONTAINER_TYPES.get(container.format.name)
            pictures = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
            has_audio = bool(container.streams.audio)
    except (av.error.FFmpegError, OSError, ValueError):  # not a container of the table, or unreadable
        return None
    if types is None or not (has_audio or pictures):
        return None
    return types[1] if pictures else types[0]

"""The local recordings talksearch takes, and the media type the service serves each one with.

One table for both sides, so they cannot drift apart: ``talksearch index FOLDER`` takes the files whose suffix it
names, and ``/media`` serves a talk's file with the type it gives. It does not depend on the host's mime.types,
which python:3.11-slim (the Docker image) lacks: Python's own table knows no .m4a, .flac, .mkv, .ogg or .ts. A
file named without one of these suffixes (a recording indexed by name) gets the type of its container, as ffmpeg
reads it. Whatever its name, a file is a recording only when it begins as one of the containers does: what lies at
a talk's path now may be a text file copied there, or a link to /etc/passwd.
"""

from __future__ import annotations

import functools
import mimetypes
import os
import re
import stat
from pathlib import Path, PurePosixPath
from typing import NamedTuple
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
# Film suffixes that often name sound alone (a podcast's .mp4, yt-dlp's audio-only .webm, an .mkv of a talk's
# audio): such a file, served as video, is played in a black box; its audio type instead.
_SOUND_ALONE = {"video/mp4": "audio/mp4", "video/webm": "audio/webm", "video/x-matroska": "audio/x-matroska",
                "video/quicktime": "audio/mp4", "video/ogg": "audio/ogg"}


class Container(NamedTuple):
    audio: str  # the type of a file holding audio alone
    video: str  # ... and of one with a picture
    starts: re.Pattern[bytes]  # how such a file begins (its first ``_HEAD`` bytes)


def _starts(pattern: bytes) -> re.Pattern[bytes]:
    return re.compile(pattern, re.DOTALL)


# An ID3v2 tag (a title, cover art) may precede MPEG audio, ADTS AAC, FLAC and Monkey's Audio.
_TAGGED = rb"\x00*ID3[\x02-\x04]"
# ffmpeg's demuxers for those containers (PyAV's ``format.name``), and how each container's files begin. Only these
# are ever probed (ffmpeg's format_whitelist): a playlist or subtitle file is not opened as one, so nothing it names
# is read and it is no recording.
_CONTAINER_TYPES: dict[str, Container] = {
    # an ISO BMFF / QuickTime file is boxes, each its size and then its type: "ftyp" first, or an older .mov's
    "mov,mp4,m4a,3gp,3g2,mj2": Container("audio/mp4", "video/mp4",
                                         _starts(rb"^.{4}(ftyp|moov|mdat|free|skip|wide|pnot)")),
    "matroska,webm": Container("audio/x-matroska", "video/x-matroska", _starts(rb"^\x1a\x45\xdf\xa3")),  # EBML
    "ogg": Container("audio/ogg", "video/ogg", _starts(rb"^OggS")),
    "asf": Container("audio/x-ms-wma", "video/x-ms-wmv", _starts(rb"^\x30\x26\xb2\x75\x8e\x66\xcf\x11")),
    # an MPEG audio frame's sync (eleven bits set) and layer (II or III: a UTF-16 text's FF FE is a layer I sync),
    # after padding or a tag
    "mp3": Container("audio/mpeg", "audio/mpeg",
                     _starts(rb"^(" + _TAGGED + rb"|\x00*\xff[\xe2-\xe5\xf2-\xf5\xfa-\xfd])")),
    "aac": Container("audio/aac", "audio/aac", _starts(rb"^(" + _TAGGED + rb"|ADIF|\xff[\xf0\xf1\xf8\xf9])")),  # ADTS
    "wav": Container("audio/wav", "audio/wav", _starts(rb"^(RIFF|RIFX|RF64|BW64).{4}WAVE")),
    "flac": Container("audio/flac", "audio/flac", _starts(rb"^(" + _TAGGED + rb"|fLaC)")),
    "aiff": Container("audio/aiff", "audio/aiff", _starts(rb"^FORM.{4}AIF[FC]")),
    "caf": Container("audio/x-caf", "audio/x-caf", _starts(rb"^caff")),
    "amr": Container("audio/amr", "audio/amr", _starts(rb"^#!AMR")),
    "wv": Container("audio/x-wavpack", "audio/x-wavpack", _starts(rb"^wvpk")),
    "ape": Container("audio/x-ape", "audio/x-ape", _starts(rb"^(" + _TAGGED + rb"|MAC )")),
    "ac3": Container("audio/ac3", "audio/ac3", _starts(rb"^\x0b\x77")),
    # 188-byte packets, each opening with 0x47; a Blu-ray .m2ts's are 192 bytes, a timestamp first
    "mpegts": Container("video/mp2t", "video/mp2t", _starts(rb"^(\x47.{187}\x47|.{4}\x47.{191}\x47)")),
    "mpeg": Container("video/mpeg", "video/mpeg", _starts(rb"^\x00\x00\x01[\xba\xb3]")),  # a pack, or a sequence
    "avi": Container("video/x-msvideo", "video/x-msvideo", _starts(rb"^RIFF.{4}AVI[ X]")),
    "flv": Container("video/x-flv", "video/x-flv", _starts(rb"^FLV")),
    "dv": Container("video/dv", "video/dv", _starts(rb"^\x1f\x07\x00")),  # a DIF header block
}
_DEMUXERS = ",".join(_CONTAINER_TYPES)
_HEAD = 512  # bytes of a file read to tell whether it begins as a recording (the padding before an MP3 frame)


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
    """The audio or video type of the file at ``path`` (a link followed): by its suffix (``type_by_name``), else by
    its container; None for anything else, whatever its name: a file that does not begin as a container of the
    table does (``_begins_as_recording``), one that is not a regular file."""
    try:
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):  # (a FIFO would hold the reading below forever)
            return None
        with open(path, "rb") as file:
            head = file.read(_HEAD)
    except OSError:
        return None
    if not _begins_as_recording(head):
        return None
    named = type_by_name(path.name)
    if named in _SOUND_ALONE:  # a film's suffix on a file that may hold sound alone: what it holds says which
        held = _container_type(str(path), status.st_mtime_ns, status.st_size)
        return _SOUND_ALONE[named] if held and held.startswith("audio/") else named
    return named or _container_type(str(path), status.st_mtime_ns, status.st_size)


def _begins_as_recording(head: bytes) -> bool:
    """Whether a file's first bytes are how one of the containers' files begin. Read each time (a few hundred
    bytes): a file replaced at its path with its size and time kept is still told apart."""
    return any(container.starts.match(head) for container in _CONTAINER_TYPES.values())


@functools.lru_cache(maxsize=65536)  # a library's every local recording, asked again with each search and feed
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
    return types.video if pictures else types.audio

"""Times within a talk as people and subtitle formats write them: the one place they are formatted."""

from __future__ import annotations

import math
import re


def clock(seconds: float | None) -> str:
    """``1:02:03`` or ``2:03`` (whole seconds; empty when unknown, or not a time: NaN, infinity)."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def subtitle_stamp(seconds: float, separator: str) -> str:
    """``00:01:02.345`` (WebVTT, ``separator`` ``.``) or ``00:01:02,345`` (SubRip, ``,``)."""
    millis = int(round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def url_seconds(seconds: float) -> str:
    """A time for a URL (``?t=``, ``#t=``): seconds to the hundredth, no trailing zeros (``12.5``, ``7``) and
    never an exponent (``:g`` wrote ``1.23457e+06``)."""
    return f"{round(seconds, 2):.2f}".rstrip("0").rstrip(".")


# ASCII digits only, as the talk page's script reads them: Python's \d (and float()) also take "９０" and "٩٠"
_CLOCK = re.compile(r"(?:([0-9]+):)?([0-9]+):([0-9]+(?:\.[0-9]+)?)")  # 1:30, 1:02:03
_UNITS = re.compile(r"(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+(?:\.[0-9]+)?)s)?")  # 15s, 1m30s, 1h2m (YouTube's t=)
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")
# What JavaScript's String.prototype.trim() removes (white space, line terminators, the byte order mark); Python's
# strip() also removes "\x1c"-"\x1f" and "\x85", which the script keeps
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
            "\u2028\u2029\u202f\u205f\u3000\ufeff"
# A media fragment's time (#t=npt:90,100): its start. As the script reads it: "npt:" first, then from the first comma
# to a line's end (JavaScript's "." stops at "\r", "\u2028" and "\u2029", Python's only at "\n")
_NPT = re.compile(r"^npt:")
_FRAGMENT_END = re.compile(r",[^\n\r\u2028\u2029]*")


# The latest moment a link may name (115 days): past it a time is no moment of any talk (and "9" * 400 is infinity)
LONGEST_LINK_SECONDS = 10_000_000


def link_seconds(value: str) -> float:
    """A talk link's ``t=`` in the forms people paste: seconds (``90``, ``90.5``), a clock (``1:30``, ``1:02:03``)
    or YouTube's units (``15s``, ``1m30s``), also as a media fragment writes it (``npt:90``, ``90,100``: its start).
    Anything else (``1e2``, ``1_0``, which Python's float reads), or a time past any talk, starts at 0. The talk
    page's script reads ``#t=`` by the same rules (talk.js ``timeParam``)."""
    value = _FRAGMENT_END.sub("", _NPT.sub("", value.strip(_JS_SPACE).lower(), count=1), count=1)
    seconds = float(value) if _SECONDS.fullmatch(value) else _clock_or_units(value)  # (trimmed once, as the script)
    return seconds if seconds is not None and 0 < seconds < LONGEST_LINK_SECONDS else 0.0


def written_seconds(value: str) -> float | None:
    """A clock (``1:30``, ``1:02:03``) or YouTube's units (``15s``, ``1m30s``) in seconds; None for anything else."""
    return _clock_or_units(value.strip(_JS_SPACE).lower())


def _clock_or_units(value: str) -> float | None:
    match = _CLOCK.fullmatch(value) or (_UNITS.fullmatch(value) if value else None)
    if not match:
        return None
    hours, minutes, secs = (float(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + secs

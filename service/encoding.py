"""Content coding: whether a client takes gzip, one rule for widget.js (which gzips itself) and the middleware
that gzips every other text answer."""


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether gzip is acceptable: named (or "*") without q=0 (RFC 9110 12.5.3)."""
    for part in accept_encoding.lower().split(","):
        coding, _, params = part.partition(";")
        if coding.strip() in ("gzip", "*"):
            quality = params.strip().removeprefix("q=")
            try:
                return not params.strip().startswith("q=") or float(quality) > 0
            except ValueError:
                return False
    return False

"""Keep sources submitted over the API from reaching the service's own network (SSRF).

Two layers. ``check_source`` refuses, when the job is submitted, a URL that is not http(s) or whose
host resolves to a loopback, private, link-local or otherwise non-global address. ``install`` then
guards the indexing process itself: every name it resolves (``socket.getaddrinfo``, which yt-dlp's
and urllib's connections go through, and ffmpeg's reads of media, which talksearch.indexer.audio then
makes through urllib) is checked the same way, so a redirect, a feed enclosure or a page's media URL
pointing inside, or a DNS answer that changes after the first check, is refused too.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class SourceRefused(ValueError):
    """The source may not be fetched; the message is meant for the user."""


# NAT64's prefixes (RFC 6052, 8215): a host on an IPv6-only network reaches IPv4 host a.b.c.d at 64:ff9b::a.b.c.d
# through its gateway, inside its own network too (10.0.0.5 as 64:ff9b::a00:5)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")  # for a network's own use: never a public host
# IPv4-translated addresses (SIIT, RFC 2765): a translator reaches a.b.c.d at ::ffff:0:a.b.c.d; Python's ranges
# count the prefix as public
_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")


def _ipv4_inside(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 host an IPv6 address reaches: mapped (::ffff:a.b.c.d), translated (::ffff:0:a.b.c.d), NAT64
    (64:ff9b::a.b.c.d), 6to4 (2002:a.b.c.d::) or IPv4-compatible (::a.b.c.d, deprecated, still routed by some
    stacks); None for others."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or ip in _TRANSLATED or int(ip) >> 32 == 0:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64 or ip.is_site_local:  # site-local (fec0::/10): deprecated, still routed inside
            return False
        ip = _ipv4_inside(ip) or ip  # judged by the IPv4 host it reaches: Python's ranges judge the IPv6 form
    # is_global is False for loopback, private, link-local, shared (CGNAT), reserved and unspecified ranges.
    return ip.is_global and not ip.is_multicast


def check_source(url: str, allow_private: bool) -> str:
    """The URL, stripped, if the API may index it; raises SourceRefused otherwise."""
    url = url.strip()
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        # urlsplit drops tabs and newlines before its checks, and the job would be given the string as sent
        raise SourceRefused("the URL holds a space or control character (write a space in a URL as %20)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SourceRefused(f"not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise SourceRefused("only http and https sources can be indexed over the API")
    if not parts.hostname:
        raise SourceRefused("the URL names no host")
    if allow_private:
        return url
    try:
        answers = socket.getaddrinfo(parts.hostname, port or (443 if parts.scheme == "https" else 80),
                                     type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise SourceRefused(f"cannot resolve {parts.hostname}: {exc}") from None
    for answer in answers:
        if not is_public(answer[4][0]):
            raise SourceRefused(f"{parts.hostname} resolves to a non-public address ({answer[4][0]}); "
                                "the operator can allow that with TALKSEARCH_ALLOW_PRIVATE_SOURCES")
    return url


def install() -> None:
    """From now on, this process refuses to resolve any name to a non-public address."""
    original = socket.getaddrinfo
    if getattr(original, "talksearch_guard", False):
        return

    def guarded(host, port, *args, **kwargs):
        answers = original(host, port, *args, **kwargs)
        for answer in answers:
            if answer[0] in (socket.AF_INET, socket.AF_INET6) and not is_public(answer[4][0]):
                raise socket.gaierror(socket.EAI_FAIL, f"refused: {host} resolves to a non-public address "
                                                      f"({answer[4][0]})")
        return answers

    # The mark also has talksearch.indexer.audio read media through Python: ffmpeg resolves names in C, unguarded.
    guarded.talksearch_guard = True  # type: ignore[attr-defined]
    socket.getaddrinfo = guarded

"""What search engines read first: ``/robots.txt`` (the talk pages may be crawled, the API, searches, embeds and
media not) and ``/sitemap.xml`` (every talk page, sitemaps.org 0.9), both on the service's public address.

The ``crawlable`` setting off (an intranet, a staging copy): robots.txt disallows everything and there is no sitemap.
A crawler reads robots.txt at the host's root only: behind a path prefix, the site's own ``/robots.txt`` should name
this sitemap (docs/service.md).
"""

import math
import xml.etree.ElementTree as ET
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse

from talksearch.library import Talk
from talksearch.service.errors import ApiError
from talksearch.service.feeds import modified
from talksearch.service.rendering import base_path, site_url
from talksearch.service.routing import ReadRoute
from talksearch.service.state import State

router = APIRouter(include_in_schema=False, route_class=ReadRoute)

SITEMAP_URLS = 50_000  # the most one sitemap may list (sitemaps.org); a larger library's is an index of pages
_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
# What no search result should lead to: the API (JSON, feeds of searches), searches (endless, and each one costs),
# the iframe pages, the recordings, and the service's own machinery. The talk pages and the talk list stay open.
_NOT_FOR_CRAWLERS = ("/api/", "/?q=", "/results", "/embed", "/oembed", "/media/", "/mcp", "/docs", "/openapi.json",
                     "/healthz", "/metrics")


@router.get("/robots.txt", response_class=PlainTextResponse)
def robots_txt(state: State, request: Request) -> PlainTextResponse:
    base = base_path(request)  # the paths as crawlers ask for them, the proxy's prefix included
    if not state.settings.crawlable:
        return PlainTextResponse(f"# TALKSEARCH_CRAWLABLE=false: nothing here is for search engines\n"
                                 f"User-agent: *\nDisallow: {base}/\n")
    # Each rule before any shorter one it overrides: crawlers that take the first rule that matches (Python's
    # robotparser) then read it as those that take the longest (Google's) do. The talk's player (its VideoObject's
    # embedUrl) stays open, as Google asks, while the search embeds are closed.
    rules = [f"Allow: {base}/embed/talks/", *(f"Disallow: {base}{path}" for path in _NOT_FOR_CRAWLERS)]
    return PlainTextResponse("User-agent: *\n" + "\n".join(rules) + f"\nAllow: {base}/\n\n"
                             f"Sitemap: {site_url(request)}/sitemap.xml\n")


def _xml(root: ET.Element) -> Response:
    return Response(ET.tostring(root, encoding="utf-8", xml_declaration=True), media_type="application/xml")


def _lastmod(talk: Talk) -> str | None:
    """When the talk's page last changed (W3C Datetime): as its feed entry's <updated>, the later of when it was
    indexed and when its details changed."""
    if not (talk.indexed_at or talk.details_changed_at):
        return None
    return modified(talk).isoformat(timespec="seconds")


def _urlset(site: str, talks: list[Talk]) -> ET.Element:
    urlset = ET.Element("urlset", xmlns=_NS)
    for talk in talks:
        url = ET.SubElement(urlset, "url")
        ET.SubElement(url, "loc").text = f"{site}/talks/{quote(talk.id, safe='')}"
        if lastmod := _lastmod(talk):
            ET.SubElement(url, "lastmod").text = lastmod
    return urlset


@router.get("/sitemap.xml", response_class=Response)
def sitemap(
    state: State,
    request: Request,
    page: Annotated[int | None, Query(ge=1, description="One page of a sitemap index")] = None,
) -> Response:
    if not state.settings.crawlable:
        raise ApiError(404, "This service is not offered to search engines (TALKSEARCH_CRAWLABLE=false): it has "
                            "no sitemap.")
    site = site_url(request)
    with state.searcher.reading() as library:
        pages = max(1, math.ceil(library.count_talks() / SITEMAP_URLS))
        if page is None and pages > 1:  # an index of the pages, which crawlers then fetch one by one
            index = ET.Element("sitemapindex", xmlns=_NS)
            for number in range(1, pages + 1):
                ET.SubElement(ET.SubElement(index, "sitemap"), "loc").text = f"{site}/sitemap.xml?page={number}"
            return _xml(index)
        if (page or 1) > pages:
            raise ApiError(404, f"The sitemap has {pages} page{'s' if pages > 1 else ''}: there is no page {page}.")
        talks = library.talks(SITEMAP_URLS, ((page or 1) - 1) * SITEMAP_URLS)
    return _xml(_urlset(site, talks))

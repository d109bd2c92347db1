"""Query parameters shared by several routes, validated once."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, Query, Request
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from talksearch.language_codes import filter_languages
from talksearch.library import TalkFilter
from talksearch.search.searcher import SEARCH_OFFSET_MAX, no_such_talks  # re-exported: the routes use them
from talksearch.service.errors import ApiError
from talksearch.service.state import State

MAX_VALUES = 50  # values per filter parameter
MAX_VALUE_CHARS = 200
NOT_UTF8 = "the query is not valid text (UTF-8)"  # as the CLI says it (Searcher.validate)


def filter_values(name: str, values: list[str] | None) -> list[str]:
    """A filter parameter's values, any of which a talk may match: trimmed, blank ones dropped; too many or too
    long ones refused (a 422, ``invalid_request``). The search page reads its form's filters with it too."""
    values = [v.strip() for v in values or [] if v.strip()]
    if len(values) > MAX_VALUES:
        raise ApiError(422, f"{name}: at most {MAX_VALUES} values", "invalid_request")
    if any(len(v) > MAX_VALUE_CHARS for v in values):
        raise ApiError(422, f"{name}: values are at most {MAX_VALUE_CHARS} characters", "invalid_request")
    return values


# ISO 8601 calendar dates, extended (2024-05-15) or basic (20240515): what the date filters take.
CALENDAR_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})|(\d{4})(\d{2})(\d{2})")
NOT_A_DATE = "not a date (YYYY-MM-DD)"


def calendar_date(value: str) -> date:
    """A date filter's value (trimmed, as the other filters' are), or ValueError. Only a calendar date: pydantic's
    own ``date`` reads a bare number as a Unix timestamp (``0`` is 1970-01-01, ``20240101`` an error about times),
    which no one filtering talks by date means."""
    match = CALENDAR_DATE.fullmatch(value.strip())
    if match is None:
        raise ValueError(NOT_A_DATE)
    year, month, day = (int(part) for part in match.groups() if part is not None)
    return date(year, month, day)  # ValueError for a day the month does not have


def _published(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    if not str(value).strip():  # blank, as a form's empty date field sends it: no filter, like other blank values
        return None
    try:
        return calendar_date(str(value))
    except ValueError:
        # the message as it stands: the error handler puts the parameter's name before it (errors.invalid_message)
        raise PydanticCustomError("date_format", NOT_A_DATE) from None


PublishedDate = Annotated[date | None, BeforeValidator(_published)]


def language_codes(values: list[str]) -> list[str]:
    try:
        return filter_languages(values)  # en-US is en; "english" is an error, not a filter that matches nothing
    except ValueError as exc:
        raise ApiError(422, f"language: {exc}", "invalid_request") from None


# filter_values' limits, in the schema only: enforced there, after blank values are dropped, with its own messages
_FILTER_LIMITS = {"maxItems": MAX_VALUES, "items": {"type": "string", "maxLength": MAX_VALUE_CHARS}}


def talk_filter(
    talk: Annotated[list[str] | None, Query(description="Only these talk ids (repeat for several)",
                                            examples=["3f2a9c1d0b7e"], json_schema_extra=_FILTER_LIMITS)] = None,
    channel: Annotated[list[str] | None, Query(description="Only talks from this channel (any of several)",
                                               json_schema_extra=_FILTER_LIMITS)] = None,
    event: Annotated[list[str] | None, Query(description="Only talks from this event (any of several)",
                                             examples=["SC23"], json_schema_extra=_FILTER_LIMITS)] = None,
    speaker: Annotated[list[str] | None, Query(description="Only talks by this speaker (any of several)",
                                               json_schema_extra=_FILTER_LIMITS)] = None,
    language: Annotated[list[str] | None, Query(description="Only talks in this spoken language, e.g. `en`",
                                                json_schema_extra=_FILTER_LIMITS)] = None,
    published_after: Annotated[PublishedDate, Query(description="Only talks published on or after this date "
                                                    "(YYYY-MM-DD, or YYYYMMDD)", examples=["2024-01-01"])] = None,
    published_before: Annotated[PublishedDate, Query(description="Only talks published on or before this date "
                                                     "(YYYY-MM-DD, or YYYYMMDD)")] = None,
) -> TalkFilter:
    chosen = TalkFilter(
        talks=filter_values("talk", talk), channels=filter_values("channel", channel),
        events=filter_values("event", event), speakers=filter_values("speaker", speaker),
        languages=language_codes(filter_values("language", language)),
        published_after=published_after.isoformat() if published_after else None,
        published_before=published_before.isoformat() if published_before else None,
    )
    if reversed_dates := chosen.reversed_dates():
        raise ApiError(422, reversed_dates, "invalid_request")
    return chosen


Filters = Annotated[TalkFilter, Depends(talk_filter)]


def searched_talks(state: State, filters: Filters) -> TalkFilter:
    """``Filters`` for a search: a ``talk`` the library lacks is a 404 naming it (the search page says it instead)."""
    with state.searcher.reading() as library:
        refusal = no_such_talks(library, filters.talks)
    if refusal:
        raise ApiError(404, refusal)
    return filters


SearchFilters = Annotated[TalkFilter, Depends(searched_talks)]
# A search's pages stop at SEARCH_OFFSET_MAX (talksearch.search.searcher); the talk list is read straight from the
# catalog and pages through any library. Its bound only keeps the number within SQLite's integers.
TALKS_OFFSET_MAX = 1_000_000_000
Offset = Annotated[int, Query(ge=0, le=SEARCH_OFFSET_MAX, description="Skip this many (paging)")]
TalksOffset = Annotated[int, Query(ge=0, le=TALKS_OFFSET_MAX, description="Skip this many (paging)")]


def not_utf8(query_string: bytes, name: str = "q") -> bool:
    """Whether a ``name`` parameter of a raw query string (percent escapes and all) is not UTF-8 once decoded.
    Starlette decodes parameters leniently, such bytes becoming U+FFFD, so by the time a route reads ``q`` a
    client's ``%FF`` is a "�" that would be searched: only the raw query string tells."""
    # Latin-1 maps each byte to one character and back: the values' bytes, as sent
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, encoding="latin-1"):
        if key == name:
            try:
                value.encode("latin-1").decode("utf-8")
            except UnicodeDecodeError:
                return True
    return False


def utf8_query(request: Request) -> None:
    """Refuses a ``q`` that is not UTF-8 as the search refuses other queries it cannot read (422 ``invalid_query``)."""
    if not_utf8(request.scope["query_string"]):
        raise ApiError(422, NOT_UTF8, "invalid_query")


Utf8Query = Depends(utf8_query)  # for a route's ``dependencies``: pages show ``not_utf8`` as a notice instead

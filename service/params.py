"""Query parameters shared by several routes, validated once."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Query

from talksearch.language_codes import filter_languages
from talksearch.library import TalkFilter
from talksearch.service.errors import ApiError

MAX_VALUES = 50  # values per filter parameter
MAX_VALUE_CHARS = 200


def _values(name: str, values: list[str] | None) -> list[str]:
    values = [v.strip() for v in values or [] if v.strip()]
    if len(values) > MAX_VALUES:
        raise ApiError(422, f"{name}: at most {MAX_VALUES} values", "invalid_request")
    if any(len(v) > MAX_VALUE_CHARS for v in values):
        raise ApiError(422, f"{name}: values are at most {MAX_VALUE_CHARS} characters", "invalid_request")
    return values


def language_codes(values: list[str]) -> list[str]:
    try:
        return filter_languages(values)  # en-US is en; "english" is an error, not a filter that matches nothing
    except ValueError as exc:
        raise ApiError(422, f"language: {exc}", "invalid_request") from None


def talk_filter(
    talk: Annotated[list[str] | None, Query(description="Only these talk ids (repeat for several)",
                                            examples=["3f2a9c1d0b7e"])] = None,
    channel: Annotated[list[str] | None, Query(description="Only talks from this channel (any of several)")] = None,
    event: Annotated[list[str] | None, Query(description="Only talks from this event (any of several)",
                                             examples=["SC23"])] = None,
    speaker: Annotated[list[str] | None, Query(description="Only talks by this speaker (any of several)")] = None,
    language: Annotated[list[str] | None, Query(description="Only talks in this spoken language, e.g. `en`")] = None,
    published_after: Annotated[date | None, Query(description="Only talks published on or after this date",
                                                  examples=["2024-01-01"])] = None,
    published_before: Annotated[date | None, Query(description="Only talks published on or before this date")] = None,
) -> TalkFilter:
    return TalkFilter(
        talks=_values("talk", talk), channels=_values("channel", channel), events=_values("event", event),
        speakers=_values("speaker", speaker), languages=language_codes(_values("language", language)),
        published_after=published_after.isoformat() if published_after else None,
        published_before=published_before.isoformat() if published_before else None,
    )


Filters = Annotated[TalkFilter, Depends(talk_filter)]
Offset = Annotated[int, Query(ge=0, le=10_000, description="Skip this many (paging)")]

"""The JSON the API speaks. The CLI's ``--json`` output is these same models."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TalkSummary(BaseModel):
    id: str
    title: str
    url: str = Field(description="The talk's source: its page, or the media URL when it has no page.")
    channel: str | None = None
    published: str | None = Field(None, description="ISO date")
    speakers: list[str] = []
    event: str | None = None
    duration: float | None = Field(None, description="seconds")
    thumbnail: str | None = None
    media_url: str | None = Field(None, description="Direct media, playable in <video>/<audio>, when known.")


class SearchResult(BaseModel):
    talk: TalkSummary
    start: float = Field(description="seconds from the talk's start where the passage begins")
    end: float
    text: str
    score: float
    link: str = Field(description="Plays the source at the moment: YouTube `&t=123s`, media `#t=123`.")


class SearchResponse(BaseModel):
    query: str
    took_ms: float
    results: list[SearchResult]


class TalkList(BaseModel):
    talks: list[TalkSummary]
    total: int


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody

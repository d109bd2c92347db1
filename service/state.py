"""Resources loaded once at start-up (lifespan) and handed to routes as ``Annotated`` dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from talksearch.search.searcher import Searcher
from talksearch.service.jobs import JobQueue
from talksearch.service.metrics import Metrics
from talksearch.settings import Settings


@dataclass
class AppState:
    settings: Settings
    searcher: Searcher
    jobs: JobQueue
    metrics: Metrics


def get_state(request: Request) -> AppState:
    return request.app.state.talksearch


State = Annotated[AppState, Depends(get_state)]

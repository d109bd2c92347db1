"""A talk removed while a search of it is being answered (a concurrency hunt: DELETE /api/talks and
``talksearch remove`` during searches). The window is a few milliseconds wide in real use; here the removal is made
to fall inside it, on a real server over a copy of the shared library."""

from __future__ import annotations

import pytest

from talksearch.library import Library
from talksearch.search.searcher import Searcher
from tests.service_fixtures import assert_error, copy_library, serving, shared_settings, talk_ids

pytestmark = pytest.mark.models

QUERY = "partition keys for tenant isolation"


def _remove(library, talk_id: str) -> None:
    with Library.open(library) as writer:  # as another process removes it: its own connection and lock
        writer.acquire_writer()
        assert writer.delete_talk(talk_id)


def test_a_talk_removed_after_its_search_is_no_result_of_the_page(monkeypatch):
    """The search page read its results' talks after the search, in another snapshot: a talk removed between the
    two was a 500 (the template's players[talk.id]), and uvicorn then closed the reader's connection."""
    library, gone = copy_library(), talk_ids()["t02"]
    searched = Searcher.search

    def search_then_remove(self, *args, **kwargs):
        response = searched(self, *args, **kwargs)
        if any(r.talk.id == gone for r in response.results):
            _remove(library, gone)
        return response

    monkeypatch.setattr(Searcher, "search", search_then_remove)
    with serving(shared_settings(library)) as server:
        page = server.get("/", params={"q": QUERY})
        assert page.status_code == 200, page.text[-2000:]
        assert f"/talks/{gone}" not in page.text and "/talks/" in page.text  # the others' results stay
        within = server.get("/", params={"q": QUERY, "talk": gone})  # every result was the removed talk's
        assert within.status_code == 200 and "no such talk in this library" in within.text, within.text[-2000:]


def test_a_talk_removed_after_the_check_of_talk_is_a_404_not_an_empty_answer(monkeypatch):
    """``talk=`` was checked in one snapshot and searched in another: removed between the two, the API answered
    200 with no results (read as "nobody said it"), MCP too. The search checks it in the snapshot it searches."""
    library = copy_library()
    ids = talk_ids()
    with serving(shared_settings(library)) as server:
        assert server.get("/api/search", params={"q": QUERY, "talk": ids["t02"]}).json()["results"]
        _remove(library, ids["t02"])
        # the route's own check passes, as it did before the removal
        monkeypatch.setattr("talksearch.service.params.no_such_talks", lambda library, talk_ids: None)
        error = assert_error(server.get("/api/search", params={"q": QUERY, "talk": ids["t02"]}), 404, "not_found")
        assert error["message"] == f"no talk {ids['t02']!r} in this library"
        # the search's answer (cached before the removal) is not served either
        assert_error(server.get("/api/search", params={"q": QUERY, "talk": [ids["t01"], ids["t02"]]}), 404)
        assert server.get("/api/search", params={"q": QUERY, "talk": ids["t01"]}).status_code == 200

"""Property-based fuzzing of the HTTP API from its own OpenAPI schema (schemathesis + hypothesis).

Every operation in ``/openapi.json`` gets generated requests, valid and invalid (wrong types, out-of-range
numbers, odd strings, missing parameters), sent to the real service on loopback over the real library. The
properties: no 5xx, ever; every error is the one shape ``{"error": {"code", "message"}}``. The server has
no admin token (the admin operations answer 403 and can start nothing). Examples are derandomised (the
same each run, so a failure reproduces) and bounded: ``FUZZ_EXAMPLES`` per operation (default 25).

Each operation is its own test, parametrized here from schemathesis's strategies rather than by
``schema.parametrize()``: under pytest 9 the latter gives all its tests one node id, and pytest-xdist (the suite
runs in two processes) keeps one test per id, so 19 of the 20 operations went unfuzzed.
"""

from __future__ import annotations

import os
import zlib

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.service_fixtures import locked_down_server, talk_ids  # noqa: E402

pytestmark = pytest.mark.models

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))


def _schema():
    """The schema the service publishes at /openapi.json, built from the app itself (no server needed to
    collect the tests; the requests then go to the running one)."""
    from talksearch.service.app import create_app
    from talksearch.settings import Settings

    return schemathesis.openapi.from_dict(create_app(Settings(library="unused")).openapi())


schema = _schema()
OPERATIONS = {result.ok().label: result.ok() for result in schema.get_all_operations()}


@pytest.fixture(scope="module")
def server():
    server = locked_down_server()  # admin API disabled: nothing the fuzzer sends can index or delete
    published = server.get("/openapi.json").json()
    assert published["paths"].keys() == schema.raw_schema["paths"].keys()
    server.real_ids = sorted(talk_ids().values())
    return server


def _with_real_talks(case, real_ids: list[str]) -> None:
    """Random ids only ever reach the 404 branch: about half the cases get a real talk instead (chosen from
    the generated value, so the run stays reproducible), and the rest of the request stays fuzzed."""
    def pick(value) -> str | None:
        digest = zlib.crc32(repr(value).encode())
        return real_ids[digest % len(real_ids)] if digest % 2 else None

    if case.path_parameters and "talk_id" in case.path_parameters:
        case.path_parameters["talk_id"] = pick(case.path_parameters["talk_id"]) or case.path_parameters["talk_id"]
    if case.query and isinstance(case.query.get("talk"), str):
        case.query["talk"] = pick(case.query["talk"]) or case.query["talk"]


@pytest.mark.parametrize("label", list(OPERATIONS))
def test_api_never_answers_5xx_and_errors_have_one_shape(label, server):
    operation = OPERATIONS[label]
    requests = st.one_of([operation.as_strategy(mode) for mode in schemathesis.GenerationMode])  # valid, invalid

    @given(requests)
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def answers_without_5xx_in_one_error_shape(case):
        _with_real_talks(case, server.real_ids)
        response = case.call(base_url=server.base, timeout=120)
        assert response.status_code < 500, (case.method, case.formatted_path, case.query, response.status_code,
                                            response.text[:300])
        if response.status_code >= 400:
            kind = response.headers.get("content-type") or [""]  # schemathesis: each header's values, as a list
            assert (kind[0] if isinstance(kind, list) else kind).startswith("application/json"), response.text[:300]
            body = response.json()
            assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
            assert isinstance(body["error"]["message"], str) and body["error"]["message"]

    answers_without_5xx_in_one_error_shape()

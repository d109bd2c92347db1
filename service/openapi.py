"""The OpenAPI schema (``/openapi.json``) as the service answers, not only as the routes declare.

FastAPI builds the schema from the routes; two things it cannot see there are put right once it has:

* the errors. errors.install answers every error in the one shape, ``ErrorResponse``, but FastAPI documents
  the 422 of a route that declares none as its own ``HTTPValidationError`` (``{"detail": [...]}``), and puts
  the error model of a route serving HTML under ``text/html``. Every 4xx is documented as ``ErrorResponse``
  in JSON; outside ``/api/`` and ``/media/`` a browser (``Accept: text/html``) gets it as a small HTML page
  instead (errors.py), documented beside it.
* the rate limit. Its 429 comes from a middleware (ratelimit.py), before any route: the operations on the
  paths it counts are given it, with its Retry-After.
* the library's 503: any request reading a library gone from its path (or a damaged catalog) is answered so by
  errors.install, whatever route it reached.
* what the models and routes leave to their types: the timestamps, plain strings in the models (as the catalog
  holds them), are given their format; the search's ``q`` its longest, the operator's ``max_query_chars``.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI

from talksearch.service.ratelimit import LIMITED_PATHS, QUERY_PAGES
from talksearch.settings import default

_ERROR = {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}
_ERROR_PAGE = {"schema": {"type": "string"}}
_RATE_LIMITED = {
    "description": "Too many searches from this address (over the operator's `rate_limit_per_minute`, or more than "
                   "`rate_limit_in_progress` at once, when set)",
    "headers": {"Retry-After": {"description": "Seconds until a search is allowed again",
                                "schema": {"type": "integer"}}},
}
_UNAVAILABLE = {"description": "The library cannot be read (gone from its path, a damaged catalog, a model that "
                               "does not fit it): the message says why"}
# The models' timestamps (ISO 8601 strings, as the catalog and the job queue write them), by field name. Not a
# talk's `published`: a date, or a date and a time, as its source gave it (records.TalkFilter reads it so).
_FORMATS = {"indexed_at": "date-time", "details_changed_at": "date-time",
            "created": "date-time", "started": "date-time", "finished": "date-time", "removed_at": "date-time"}
# The routes whose q the search refuses past max_query_chars (the embed's page cuts a longer paste there instead)
_SEARCHED_Q = ("/api/search", "/api/search.atom")
# FastAPI's validation error and the model it is made of, which no answer of the service has.
_FASTAPI_ERRORS = ("HTTPValidationError", "ValidationError")


def install(app: FastAPI) -> None:
    """Wraps ``app.openapi``, which serves /openapi.json (FastAPI's documented hook for extending the schema)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        # FastAPI caches its schema and hands back the same dict: putting it right again changes nothing.
        state = getattr(app.state, "talksearch", None)  # the served settings, once the lifespan has started
        max_query_chars = state.settings.max_query_chars if state is not None else default("max_query_chars")
        return as_answered(generate(), max_query_chars)

    app.openapi = openapi


def as_answered(schema: dict[str, Any], max_query_chars: int = default("max_query_chars")) -> dict[str, Any]:
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            responses = operation["responses"]
            if path in LIMITED_PATHS | QUERY_PAGES:
                responses["429"] = copy.deepcopy(_RATE_LIMITED)  # its content: below, as every error's
            responses.setdefault("503", copy.deepcopy(_UNAVAILABLE))
            page = not path.startswith(("/api/", "/media/"))
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    response["content"] = copy.deepcopy(
                        {"application/json": _ERROR, **({"text/html": _ERROR_PAGE} if page else {})})
            for parameter in operation.get("parameters", []):
                if path in _SEARCHED_Q and parameter["name"] == "q":
                    parameter["schema"]["maxLength"] = max_query_chars
    components = schema.get("components", {}).get("schemas", {})
    for name in _FASTAPI_ERRORS:
        components.pop(name, None)
    for model in components.values():
        for field, field_schema in model.get("properties", {}).items():
            if field in _FORMATS:
                for typed in [field_schema, *field_schema.get("anyOf", [])]:  # an optional one: its string
                    if typed.get("type") == "string":
                        typed["format"] = _FORMATS[field]
    return schema

"""The OpenAPI schema (``/openapi.json``) as the service answers, not only as the routes declare.

FastAPI builds the schema from the routes; two things it cannot see there are put right once it has:

* the errors. errors.install answers every error in the one shape, ``ErrorResponse``, but FastAPI documents
  the 422 of a route that declares none as its own ``HTTPValidationError`` (``{"detail": [...]}``), and puts
  the error model of a route serving HTML under ``text/html``. Every 4xx is documented as ``ErrorResponse``
  in JSON; outside ``/api/`` and ``/media/`` a browser (``Accept: text/html``) gets it as a small HTML page
  instead (errors.py), documented beside it.
* the rate limit. Its 429 comes from a middleware (ratelimit.py), before any route: the operations on the
  paths it counts are given it, with its Retry-After.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI

from talksearch.service.ratelimit import LIMITED_PATHS, QUERY_PAGES

_ERROR = {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}
_ERROR_PAGE = {"schema": {"type": "string"}}
_RATE_LIMITED = {
    "description": "Too many searches from this address (over the operator's `rate_limit_per_minute`, when set)",
    "headers": {"Retry-After": {"description": "Seconds until a search is allowed again",
                                "schema": {"type": "integer"}}},
}
# FastAPI's validation error and the model it is made of, which no answer of the service has.
_FASTAPI_ERRORS = ("HTTPValidationError", "ValidationError")


def install(app: FastAPI) -> None:
    """Wraps ``app.openapi``, which serves /openapi.json (FastAPI's documented hook for extending the schema)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        # FastAPI caches its schema and hands back the same dict: putting it right again changes nothing.
        return as_answered(generate())

    app.openapi = openapi


def as_answered(schema: dict[str, Any]) -> dict[str, Any]:
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            responses = operation["responses"]
            if path in LIMITED_PATHS | QUERY_PAGES:
                responses["429"] = copy.deepcopy(_RATE_LIMITED)  # its content: below, as every error's
            page = not path.startswith(("/api/", "/media/"))
            for status, response in responses.items():
                if status.startswith("4"):
                    response["content"] = copy.deepcopy(
                        {"application/json": _ERROR, **({"text/html": _ERROR_PAGE} if page else {})})
    for name in _FASTAPI_ERRORS:
        schema.get("components", {}).get("schemas", {}).pop(name, None)
    return schema

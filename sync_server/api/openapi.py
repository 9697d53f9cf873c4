"""The OpenAPI 3.1 document of the REST API, generated from the route table.

One source of truth: every operation is an `ApiRoute` (method, path, permission, query Struct,
body Struct, response Struct, statuses), and every schema comes from msgspec
(`msgspec.json.schema_components`, JSON Schema 2020-12, which OpenAPI 3.1 uses as is). The
server decodes and encodes with the very same Structs, so the document cannot drift.

Query Structs become one parameter per field (a query string cannot carry `null`, so a
nullable field's `null` branch is dropped: leaving the parameter out means null).
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, Final

import msgspec

from sync_server.api.bodies import Problem
from sync_server.api.common import JSON, PROBLEM_MEDIA_TYPE, ApiRoute

OPENAPI_VERSION: Final = "3.1.0"
REF: Final = "#/components/schemas/{name}"
_NULL: Final = {"type": "null"}

DESCRIPTION: Final = """\
Boards, cards, columns, labels, sprints, comments and card activity of Taskly.

Every write is one transaction on the board's live CRDT document, attributed to the caller:
connected Yjs clients see it at once. It answers once the change is in the query tables, so a
read right after it sees it. Reads come from those tables.

Authenticate with `Authorization: Bearer <token>` (an access token or a personal access token
`tsk_pat_...`). Checks run in this order: 401 (who) → 404 (not a member of the workspace: the
board does not exist for you) → 403 (your role may not) → 422 (query or body; `field` names the
offending field, `index` the item of a bulk update) → 409 (the board is archived). Every error
is RFC 7807 problem JSON.
"""


def _struct_types(routes: Sequence[ApiRoute]) -> list[type[msgspec.Struct]]:
    found: list[type[msgspec.Struct]] = [Problem]
    for route in routes:
        for kind in (route.query, route.body, route.response):
            if kind is not None and kind not in found:
                found.append(kind)
    return found


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """Return a parameter schema without its `null` branch (and without a null default)."""
    result = dict(schema)
    branches = result.pop("anyOf", None)
    if branches is not None:
        rest = [branch for branch in branches if branch != _NULL]
        if len(rest) == 1:
            result = {**rest[0], **result}
        else:
            result["anyOf"] = rest
    if "default" in result and result["default"] is None:
        del result["default"]
    return result


def _parameters(route: ApiRoute, components: dict[str, Any]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.path_params
    ]
    if route.query is not None:
        schema = components[route.query.__name__]
        required = set(schema.get("required", []))
        for name, prop in schema["properties"].items():
            param: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": _without_null(prop),
            }
            if "description" in prop:
                param["description"] = prop["description"]
            params.append(param)
    return params


def _ref(kind: type[msgspec.Struct]) -> dict[str, str]:
    return {"$ref": REF.format(name=kind.__name__)}


def _responses(route: ApiRoute) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if route.raw_response:
        responses[str(route.status)] = {
            "description": "OK",
            "content": {JSON: {"schema": {"type": "object"}}},
        }
    elif route.response is None:
        responses[str(route.status)] = {"description": HTTPStatus(route.status).phrase}
    else:
        responses[str(route.status)] = {
            "description": HTTPStatus(route.status).phrase,
            "content": {JSON: {"schema": _ref(route.response)}},
        }
    for status in route.error_statuses():
        responses[str(status)] = {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": _ref(Problem)}},
        }
    return responses


def _operation(route: ApiRoute, components: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
    }
    doc = route.handler.__doc__
    if doc:
        operation["description"] = doc.strip()
    if route.action is not None:
        operation["x-permission"] = str(route.action)
    parameters = _parameters(route, components)
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": _ref(route.body)}},
        }
    operation["responses"] = _responses(route)
    if route.scope == "public":
        operation["security"] = []
    return operation


def openapi_document(routes: Sequence[ApiRoute], *, version: str) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document of `routes` as plain JSON data."""
    _, components = msgspec.json.schema_components(_struct_types(routes), ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, components)
    bodies = {kind for route in routes for kind in (route.body, route.response) if kind}
    for route in routes:  # query Structs are parameters, not schemas
        if route.query is not None and route.query not in bodies:
            components.pop(route.query.__name__, None)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Taskly REST API", "version": version, "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an access token (JWT) or a personal access token tsk_pat_...",
                }
            },
        },
        "security": [{"bearer": []}],
    }

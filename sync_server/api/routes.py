"""The REST API's route table, its Starlette routes, and `/api/openapi.json` built from it."""

from __future__ import annotations

import json
import time
from functools import cache
from importlib.metadata import PackageNotFoundError, version

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sync_server.access.tokens import Clock, TokenConfig
from sync_server.api import boards, cards, columns_labels_sprints, comments_activity
from sync_server.api.common import JSON, ApiRoute, Call, endpoint
from sync_server.api.openapi import openapi_document

OPENAPI_PATH = "/api/openapi.json"
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]


def _version() -> str:
    try:
        return version("taskly")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


async def serve_openapi(call: Call) -> Response:
    """This document."""
    return Response(_openapi_bytes(), media_type=JSON)


OPENAPI_ROUTE = ApiRoute(
    "GET",
    OPENAPI_PATH,
    serve_openapi,
    "The OpenAPI 3.1 document of this API",
    "meta",
    "public",
    raw_response=True,
    operation_id="openapi",
)

API_ROUTES: list[ApiRoute] = [
    *boards.ROUTES,
    *cards.ROUTES,
    *columns_labels_sprints.ROUTES,
    *comments_activity.ROUTES,
    OPENAPI_ROUTE,
]
"""Every operation of the REST API (the workspace and session routes are in auth_api.py)."""


@cache
def _openapi_bytes() -> bytes:
    return json.dumps(openapi_document(API_ROUTES, version=_version()), indent=1).encode()


def openapi() -> dict[str, object]:
    """Return the OpenAPI document the server serves."""
    document: dict[str, object] = json.loads(_openapi_bytes())
    return document


def routes_markdown() -> str:
    """Render the route table as the Markdown table docs/api.md shows (a test compares)."""
    rows = ["| operation | permission | does |", "|---|---|---|"]
    for route in API_ROUTES:
        permission = f"`{route.action}`" if route.action is not None else "none (public)"
        rows.append(f"| `{route.method} {route.path}` | {permission} | {route.summary} |")
    return "\n".join(rows) + "\n"


def api_routes(config: TokenConfig, *, clock: Clock = time.time) -> list[BaseRoute]:
    """Return the Starlette routes of the REST API: one per path, dispatching by method."""
    by_path: dict[str, list[ApiRoute]] = {}
    for route in API_ROUTES:
        by_path.setdefault(route.path, []).append(route)
    # Every method reaches the endpoint, which answers an undeclared one with a 405 problem
    # that keeps its Allow header (Starlette's own 405 loses it in the app's error handler).
    return [
        Route(path, endpoint(group, config, clock=clock), methods=ALL_METHODS)
        for path, group in by_path.items()
    ]

"""The REST API under `/api`: boards, cards, columns, labels, sprints, comments, activity.

`api_routes(token_config)` returns the Starlette routes; `API_ROUTES` is the table they and
the OpenAPI document (`/api/openapi.json`) are built from. The contract is `docs/api.md`.
"""

from sync_server.api.routes import API_ROUTES, OPENAPI_PATH, api_routes, openapi

__all__ = ["API_ROUTES", "OPENAPI_PATH", "api_routes", "openapi"]

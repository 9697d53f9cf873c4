"""The OpenAPI document: valid OpenAPI 3.1, served as generated, and true to the route table."""

from __future__ import annotations

from pathlib import Path

import httpx
from openapi_spec_validator import validate

from sync_server.api import API_ROUTES, openapi
from sync_server.api.common import ApiRoute
from sync_server.api.routes import routes_markdown
from tests.api.conftest import World


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi()
    validate(document)  # raises on any violation of the OpenAPI 3.1 schema
    assert document["openapi"] == "3.1.0"


def test_every_route_is_documented_once() -> None:
    document = openapi()
    paths = document["paths"]
    assert isinstance(paths, dict)
    ids = [route.operation_id for route in API_ROUTES]
    assert len(ids) == len(set(ids)) and all(ids)
    for route in API_ROUTES:
        operation = paths[route.path][route.method.lower()]
        assert operation["operationId"] == route.operation_id
        statuses = {int(status) for status in operation["responses"]}
        assert statuses == {route.status, *route.error_statuses()}
        if route.body is not None:
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{route.body.__name__}"}
        if route.query is not None:
            names = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
            assert names == set(route.query.__struct_fields__)
        assert {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"} == set(
            route.path_params
        )


def test_permissions_are_documented() -> None:
    paths = openapi()["paths"]
    assert isinstance(paths, dict)
    writes = [route for route in API_ROUTES if route.method != "GET" and route.scope == "board"]
    assert writes
    for route in writes:
        assert isinstance(route, ApiRoute)
        assert paths[route.path][route.method.lower()]["x-permission"].startswith("board.")


async def test_served_document_is_the_generated_one(world: World) -> None:
    async with httpx.AsyncClient(base_url=world.url) as client:
        response = await client.get("/api/openapi.json")  # no token needed
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == openapi()


async def test_undeclared_method_is_405_with_allow(world: World) -> None:
    response = await world.member.request("PUT", world.base)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, PATCH"
    assert response.headers["content-type"].startswith("application/problem+json")


def test_docs_list_every_route() -> None:
    """docs/api.md shows the route table as the code has it."""
    text = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    assert routes_markdown() in text


async def test_an_operation_without_parameters_refuses_a_query_string(world: World) -> None:
    response = await world.member.get(f"{world.base}/columns", colour="red")
    assert response.status_code == 422
    assert response.json()["field"] == "colour"

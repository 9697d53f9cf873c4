"""Property-based fuzzing of the REST API against its own OpenAPI document (schemathesis).

A real server (uvicorn, SQLite) runs in a thread; for every operation of the document,
schemathesis generates valid requests and invalid ones from the schema and sends them as the
workspace owner, with the path naming real entities (a board, a card, a column...). Every
answer must not be a 5xx, must have a status, content type and body the document declares,
and invalid input must be refused. Bounded: a few examples per operation and mode, so the
whole run stays well under two minutes.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from storage import SQLiteStore
from sync_server.api import openapi
from tests.api.conftest import make_world, serve, token_for

EXAMPLES_PER_MODE = int(os.environ.get("TASKLY_FUZZ_EXAMPLES", "20"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

SCHEMA = schemathesis.openapi.from_dict(openapi())
# The token is sent by the test: schemathesis must not generate (or break) the Authorization
# header itself, or a "negative" case would be one whose only fault is a header we replace.
SCHEMA.config.generation.update(with_security_parameters=False)
# A body over the server's size limit (1 MiB) is refused with the documented 413.
SCHEMA.config.checks.negative_data_rejection.expected_statuses.append("413")


def _order(method: str, path: str) -> tuple[int, str]:
    """Reads and writes first, then deletions (they remove what the others use), archiving
    last (an archived board answers every other write with 409; unarchiving runs after)."""
    if path.endswith(("/archive", "/unarchive")):
        return (3, path)
    return ({"GET": 0, "POST": 1, "PATCH": 1, "DELETE": 2}[method], path)


OPERATIONS = sorted(
    ((method.upper(), path) for path, item in openapi()["paths"].items() for method in item),  # type: ignore[attr-defined]
    key=lambda op: _order(*op),
)


@dataclass
class Live:
    url: str
    token: str
    ids: dict[str, str]


def _serve_in_thread(tmp: Path) -> Iterator[Live]:
    """Run a server with a seeded board in a thread until the generator is closed."""
    ready = threading.Event()
    stop = threading.Event()
    found: dict[str, Any] = {}

    async def main() -> None:
        async with (
            SQLiteStore(tmp / "taskly.db") as store,
            serve(store) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as client,
        ):
            world = await make_world(store, url, client)
            owner = world.owner
            base = world.base
            card = await owner.ok("POST", f"{base}/cards", {"title": "Fuzz me"}, status=201)
            await owner.ok("POST", f"{base}/cards", {"title": "Neighbour"}, status=201)
            label = await owner.ok(
                "POST", f"{base}/labels", {"name": "bug", "color": "#ff0000"}, status=201
            )
            sprint = await owner.ok(
                "POST",
                f"{base}/sprints",
                {"name": "S", "start": "2026-01-01", "end": "2026-01-14"},
                status=201,
            )
            comment = await owner.ok(
                "POST", f"{base}/cards/{card['id']}/comments", {"body": "hi"}, status=201
            )
            found["live"] = Live(
                url=url,
                token=token_for(world.users["owner"]),
                ids={
                    "workspace_id": world.workspace_id,
                    "board_id": world.board_id,
                    "card_id": card["id"],
                    "column_id": world.column("review"),
                    "label_id": label["id"],
                    "sprint_id": sprint["id"],
                    "comment_id": comment["id"],
                },
            )
            ready.set()
            await asyncio.to_thread(stop.wait)

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by the fixture
            found["error"] = exc
            ready.set()

    thread = threading.Thread(target=run, name="taskly-fuzz-server", daemon=True)
    thread.start()
    ready.wait(60)
    if "error" in found:
        raise found["error"]
    try:
        yield found["live"]
    finally:
        stop.set()
        thread.join(60)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    yield from _serve_in_thread(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="module")
def budget() -> Iterator[None]:
    """The default run (not a longer one asked for with TASKLY_FUZZ_EXAMPLES) takes < 2 min."""
    started = time.monotonic()
    yield
    if "TASKLY_FUZZ_EXAMPLES" not in os.environ:
        assert time.monotonic() - started < 120, "the fuzz run must stay under two minutes"


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_conforms(method: str, path: str, live: Live, budget: None) -> None:
    operation = SCHEMA[path][method]
    path_parameters = {name: live.ids[name] for name in live.ids if "{" + name + "}" in path}
    headers = {"Authorization": f"Bearer {live.token}"}
    cases = st.one_of(
        *(
            operation.as_strategy(mode, path_parameters=path_parameters)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        )
    )

    @settings(
        max_examples=2 * EXAMPLES_PER_MODE,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def run(case: Any) -> None:
        case.call_and_validate(base_url=live.url, headers=headers, checks=CHECKS)

    run()

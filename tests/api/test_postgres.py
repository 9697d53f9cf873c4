"""The main REST flow once on Postgres: create a board and cards, move, bulk-update, query,
search, page, comment, read the activity, with a live client seeing every write."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from storage import PostgresStore
from tests.api.conftest import make_world, serve
from tests.api.test_cards import live_card
from tests.e2e._harness import create_pg_database, drop_pg_database, pg_url

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url_for_test() -> Iterator[str]:
    """A fresh, empty Postgres database (migrated on open); fails, never skips, if unreachable."""
    name = create_pg_database()
    try:
        yield pg_url(name)
    finally:
        drop_pg_database(name)


async def test_main_flow_on_postgres(pg_url_for_test: str) -> None:
    async with (
        PostgresStore(pg_url_for_test, migrate_on_open=True) as store,
        serve(store) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        world = await make_world(store, url, client)
        live = await world.live()
        try:
            api, base = world.member, world.base
            cards = [
                await api.ok("POST", f"{base}/cards", {"title": f"Card {i}"}, status=201)
                for i in range(7)
            ]
            assert [c["key"] for c in cards] == [f"TSK-{i}" for i in range(1, 8)]
            await live.wait_for(lambda: all(live_card(live, c["id"]) for c in cards))

            review = world.column("review")
            moved = await api.ok(
                "POST", f"{base}/cards/{cards[0]['id']}/move", {"column_id": review}
            )
            assert moved["column_id"] == review
            bulk = await api.ok(
                "PATCH",
                f"{base}/cards",
                {
                    "cards": [
                        {"id": cards[1]["id"], "priority": "high", "description": "needs a login"},
                        {"id": cards[2]["id"], "column_id": review, "before": cards[0]["id"]},
                    ]
                },
            )
            assert bulk["cards"][1]["rank"] < moved["rank"]
            await live.wait_for(
                lambda: [c.id for c in live.board.cards(review)] == [cards[2]["id"], cards[0]["id"]]
            )

            in_review = await api.ok("GET", f"{base}/cards?column_role=review")
            assert [c["id"] for c in in_review["items"]] == [cards[2]["id"], cards[0]["id"]]
            found = await api.ok("GET", f"{base}/cards?q=login&priority=high")
            assert [c["id"] for c in found["items"]] == [cards[1]["id"]]

            seen: list[str] = []
            cursor = ""
            while True:
                page = await api.ok("GET", f"{base}/cards?limit=3{cursor}")
                seen += [c["id"] for c in page["items"]]
                if page["next_cursor"] is None:
                    break
                cursor = f"&cursor={page['next_cursor']}"
            assert sorted(seen) == sorted(c["id"] for c in cards)

            comment = await api.ok(
                "POST", f"{base}/cards/{cards[1]['id']}/comments", {"body": "On it"}, status=201
            )
            assert comment["author"] == world.users["member"]
            activity = await api.ok("GET", f"{base}/cards/{cards[1]['id']}/activity")
            assert {(a["field"], a["origin"], a["actor"]) for a in activity["items"]} >= {
                ("priority", "api", world.users["member"]),
                ("comments", "api", world.users["member"]),
            }
        finally:
            await live.close()

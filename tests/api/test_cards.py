"""Cards over REST: every write is seen at once by a connected y-websocket client, every
answer is the projected card, roles are enforced, bad input is a 422 naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from crdt_model import CardRow, NotFoundError, new_id
from tests.api.conftest import World, assert_problem
from tests.sync_server.yclient import YClient


def live_card(client: YClient, card_id: str) -> CardRow | None:
    try:
        return client.board.card(card_id)
    except NotFoundError:
        return None


async def create(world: World, title: str, who: str = "member", **fields: Any) -> Any:
    return await world.as_(who).ok(
        "POST", f"{world.base}/cards", {"title": title, **fields}, status=201
    )


async def test_create_is_live_numbered_and_attributed(world: World) -> None:
    live = await world.live("viewer")  # a read-only client sees writes too
    label = await world.member.ok(
        "POST", f"{world.base}/labels", {"name": "bug", "color": "#D73A4A"}, status=201
    )
    card = await create(
        world,
        "  Write the README  ",
        description="**soon**",
        column_id=world.column("todo"),
        priority="high",
        points=3,
        due="2026-12-01",
        labels=[label["id"]],
        assignees=[world.users["member"]],
    )
    assert card["title"] == "Write the README"
    assert card["key"] == "TSK-1" and card["number"] == 1
    assert card["column_id"] == world.column("todo")
    assert card["priority"] == "high" and card["points"] == 3 and card["due"] == "2026-12-01"
    assert card["labels"] == [label["id"]] and card["assignees"] == [world.users["member"]]
    assert card["created_by"] == world.users["member"] and card["board_id"] == world.board_id
    assert card["updated_at"] is not None and card["archived"] is False

    await live.wait_for(lambda: live_card(live, card["id"]) is not None)
    row = live_card(live, card["id"])
    assert row is not None
    assert (row.title, row.number, row.column_id, row.priority, row.points) == (
        "Write the README",
        1,
        world.column("todo"),
        "high",
        3,
    )
    # The GET answers the same card; the activity says who made it, through the API.
    assert await world.member.ok("GET", f"{world.base}/cards/{card['id']}") == card
    activity = await world.member.ok("GET", f"{world.base}/cards/{card['id']}/activity")
    created = [a for a in activity["items"] if a["field"] == "card"]
    assert created and created[0]["origin"] == "api"
    assert created[0]["actor"] == world.users["member"]


async def test_patch_any_field_move_and_delete_are_live(world: World) -> None:
    live = await world.live()
    first = await create(world, "First")
    second = await create(world, "Second")
    sprint = await world.member.ok(
        "POST",
        f"{world.base}/sprints",
        {"name": "S1", "start": "2026-12-01", "end": "2026-12-14"},
        status=201,
    )
    patched = await world.member.ok(
        "PATCH",
        f"{world.base}/cards/{first['id']}",
        {
            "title": "First, renamed",
            "description": "now with text",
            "priority": "urgent",
            "points": 5,
            "due": "2027-01-02",
            "assignees": [world.users["admin"]],
            "sprint_id": sprint["id"],
            "column_id": world.column("in_progress"),
        },
    )
    assert patched["title"] == "First, renamed" and patched["sprint_id"] == sprint["id"]
    assert patched["column_id"] == world.column("in_progress")
    assert patched["assignees"] == [world.users["admin"]] and patched["points"] == 5

    def seen() -> bool:
        row = live_card(live, first["id"])
        return row is not None and row.title == "First, renamed" and row.points == 5

    await live.wait_for(seen)

    # Clearing nullable fields with null.
    cleared = await world.member.ok(
        "PATCH",
        f"{world.base}/cards/{first['id']}",
        {"points": None, "due": None, "sprint_id": None},
    )
    assert (cleared["points"], cleared["due"], cleared["sprint_id"]) == (None, None, None)

    # Move the second card before the first, in the first's column.
    moved = await world.member.ok(
        "POST",
        f"{world.base}/cards/{second['id']}/move",
        {"column_id": world.column("in_progress"), "before": first["id"]},
    )
    assert moved["column_id"] == world.column("in_progress") and moved["rank"] < cleared["rank"]
    await live.wait_for(
        lambda: (
            [c.id for c in live.board.cards(world.column("in_progress"))]
            == [second["id"], first["id"]]
        )
    )

    # Archive (soft delete), then delete for good.
    archived = await world.member.ok(
        "PATCH", f"{world.base}/cards/{first['id']}", {"archived": True}
    )
    assert archived["archived"] is True
    assert await world.member.ok("DELETE", f"{world.base}/cards/{first['id']}", status=204) is None
    await live.wait_for(lambda: live_card(live, first["id"]) is None)
    assert_problem(await world.member.get(f"{world.base}/cards/{first['id']}"), 404)
    assert_problem(await world.member.delete(f"{world.base}/cards/{first['id']}"), 404)


async def test_a_patch_is_all_or_nothing(world: World) -> None:
    card = await create(world, "Keep me")
    response = await world.member.patch(
        f"{world.base}/cards/{card['id']}",
        {"title": "Changed", "labels": [new_id()]},  # the label does not exist
    )
    assert_problem(response, 422, "labels")
    response = await world.member.patch(
        f"{world.base}/cards/{card['id']}", {"title": "Changed", "before": new_id()}
    )
    assert_problem(response, 422, "before")
    after = await world.member.ok("GET", f"{world.base}/cards/{card['id']}")
    assert after["title"] == "Keep me" and after["updated_at"] == card["updated_at"]


async def test_bulk_update_is_one_transaction(world: World) -> None:
    live = await world.live()
    cards = [await create(world, f"Card {i}") for i in range(4)]
    done = world.column("done")
    before = len(live.received)
    result = await world.member.ok(
        "PATCH",
        f"{world.base}/cards",
        {
            "cards": [
                {"id": cards[0]["id"], "column_id": done, "priority": "low"},
                {"id": cards[1]["id"], "column_id": done, "after": cards[0]["id"]},
                {"id": cards[2]["id"], "archived": True},
                {"id": cards[3]["id"], "title": "Renamed in bulk"},
            ]
        },
    )
    assert [c["id"] for c in result["cards"]] == [c["id"] for c in cards]
    assert result["cards"][0]["column_id"] == done and result["cards"][0]["priority"] == "low"
    assert result["cards"][1]["column_id"] == done
    assert result["cards"][1]["rank"] > result["cards"][0]["rank"]
    assert result["cards"][2]["archived"] is True
    assert result["cards"][3]["title"] == "Renamed in bulk"
    # The live client got it as one update message.
    await live.wait_for(lambda: live_card(live, cards[3]["id"]).title == "Renamed in bulk")  # type: ignore[union-attr]
    updates = [m for m in live.received[before:] if type(m).__name__ == "SyncUpdate"]
    assert len(updates) == 1


async def test_bulk_update_refuses_everything_naming_the_item(world: World) -> None:
    cards = [await create(world, f"Card {i}") for i in range(3)]
    body = {
        "cards": [
            {"id": cards[0]["id"], "title": "Changed"},
            {"id": cards[1]["id"], "column_id": world.column("done")},
            {"id": cards[2]["id"], "sprint_id": new_id()},  # no such sprint
        ]
    }
    problem = assert_problem(await world.member.patch(f"{world.base}/cards", body), 422)
    assert problem["field"] == "cards[2].sprint_id" and problem["index"] == 2
    # Refused by the Struct: an unknown priority in the second item.
    body["cards"][2] = {"id": cards[2]["id"], "priority": "whenever"}
    body["cards"][1]["priority"] = "whenever"
    problem = assert_problem(await world.member.patch(f"{world.base}/cards", body), 422)
    assert problem["field"] == "cards[1].priority" and problem["index"] == 1
    # A neighbour that an earlier item moves away is refused too.
    body = {
        "cards": [
            {"id": cards[0]["id"], "column_id": world.column("done")},
            {"id": cards[1]["id"], "after": cards[0]["id"]},  # cards[0] left this column
        ]
    }
    problem = assert_problem(await world.member.patch(f"{world.base}/cards", body), 422)
    assert problem["field"] == "cards[1].after" and problem["index"] == 1
    for card in cards:  # nothing was written
        now = await world.member.ok("GET", f"{world.base}/cards/{card['id']}")
        assert now == card


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 256}, "title"),
        ({"title": "ok", "priority": "soon"}, "priority"),
        ({"title": "ok", "points": 100}, "points"),
        ({"title": "ok", "points": "3"}, "points"),
        ({"title": "ok", "due": "2026-02-30"}, "due"),
        ({"title": "ok", "column_id": "not-an-id"}, "column_id"),
        ({"title": "ok", "column_id": "00000000-0000-4000-8000-000000000000"}, "column_id"),
        ({"title": "ok", "labels": ["00000000-0000-4000-8000-000000000000"]}, "labels"),
        ({"title": "ok", "assignees": ["00000000-0000-4000-8000-000000000000"]}, "assignees"),
        ({"title": "ok", "position": 5}, "position"),
        ({"title": "ok", "colour": "red"}, "colour"),
    ],
)
async def test_create_refusals_name_the_field(world: World, body: Any, field: str) -> None:
    assert_problem(await world.member.post(f"{world.base}/cards", body), 422, field)


async def test_not_json_and_no_body(world: World) -> None:
    response = await world.member.request("POST", f"{world.base}/cards", content=b"{nope")
    assert_problem(response, 422)
    assert_problem(await world.member.request("POST", f"{world.base}/cards"), 422)


async def test_roles(world: World) -> None:
    card = await create(world, "Guarded")
    path = f"{world.base}/cards/{card['id']}"
    writes = [
        ("POST", f"{world.base}/cards", {"title": "x"}),
        ("PATCH", path, {"title": "x"}),
        ("POST", path + "/move", {}),
        ("DELETE", path, None),
        ("PATCH", f"{world.base}/cards", {"cards": [{"id": card["id"], "title": "x"}]}),
    ]
    for method, url, body in writes:
        refused = assert_problem(await world.as_("viewer").request(method, url, json=body), 403)
        assert refused["action"] == "board.write"
        assert_problem(await world.as_("outsider").request(method, url, json=body), 404)
        assert_problem(await world.as_(None).request(method, url, json=body), 401)
    # A viewer reads; an outsider cannot tell the board exists.
    assert (await world.as_("viewer").get(path)).status_code == 200
    assert_problem(await world.as_("outsider").get(path), 404)
    # The order of checks: a viewer's bad body is still a 403, an outsider's a 404.
    assert_problem(await world.as_("viewer").post(f"{world.base}/cards", {"nope": 1}), 403)
    assert_problem(await world.as_("outsider").post(f"{world.base}/cards", {"nope": 1}), 404)
    assert_problem(await world.member.get(f"/api/boards/{new_id()}/cards/{card['id']}"), 404)
    assert_problem(await world.member.get(f"{world.base}/cards/not-a-card"), 404)


async def test_move_by_column_role(world: World) -> None:
    card = await create(world, "Roles")
    move = f"{world.base}/cards/{card['id']}/move"
    moved = await world.member.ok("POST", move, {"column_role": "review"})
    assert moved["column_id"] == world.column("review")
    both = {"column_role": "done", "column_id": world.column("done")}
    assert_problem(await world.member.post(move, both), 422, "column_role")
    assert_problem(await world.member.post(move, {"column_role": "doing"}), 422, "column_role")
    await world.as_("admin").ok(
        "DELETE", f"{world.base}/columns/{world.column('done')}", status=204
    )
    assert_problem(await world.member.post(move, {"column_role": "done"}), 422, "column_role")


async def test_a_body_over_the_limit_is_refused_unread(world: World) -> None:
    big = b'{"title": "x", "description": "' + b"y" * (1024 * 1024) + b'"}'
    response = await world.member.request("POST", f"{world.base}/cards", content=big)
    assert_problem(response, 413)

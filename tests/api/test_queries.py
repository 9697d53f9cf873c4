"""Card queries: every filter, full-text search, the three sorts, stable cursor pages."""

from __future__ import annotations

from typing import Any

from crdt_model import new_id
from tests.api.conftest import World, assert_problem


async def ids(world: World, **params: Any) -> list[str]:
    response = await world.member.get(f"{world.base}/cards", **params)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_cursor"] is None
    return [card["id"] for card in page["items"]]


async def test_filters_search_and_sorts(world: World) -> None:
    api = world.member
    bug = await api.ok(
        "POST", f"{world.base}/labels", {"name": "bug", "color": "#ff0000"}, status=201
    )
    sprint = await api.ok(
        "POST",
        f"{world.base}/sprints",
        {"name": "S1", "start": "2026-12-01", "end": "2026-12-14"},
        status=201,
    )
    todo, review = world.column("todo"), world.column("review")

    async def card(title: str, **fields: Any) -> str:
        made = await api.ok("POST", f"{world.base}/cards", {"title": title, **fields}, status=201)
        return str(made["id"])

    a = await card("Fix the login bug", column_id=todo, labels=[bug["id"]], priority="high")
    b = await card(
        "Review pagination",
        column_id=review,
        description="cursor keys and the login page",
        due="2026-12-05",
        sprint_id=sprint["id"],
        points=3,
    )
    c = await card("Ship", column_id=todo, due="2026-12-20", assignees=[world.users["admin"]])
    d = await card("Old idea", column_id=todo)
    await api.ok("PATCH", f"{world.base}/cards/{d}", {"archived": True})

    assert await ids(world, column_id=todo) == [a, c]
    assert await ids(world, column_role="review") == [b]
    assert await ids(world, assignee=world.users["admin"]) == [c]
    assert await ids(world, label=bug["id"]) == [a]
    assert await ids(world, sprint_id=sprint["id"]) == [b]
    assert await ids(world, priority="high") == [a]
    assert await ids(world, due_from="2026-12-01", due_to="2026-12-10") == [b]
    assert await ids(world, due_from="2026-12-06") == [c]
    assert await ids(world, archived="true") == [d]
    assert set(await ids(world, archived="any")) == {a, b, c, d}
    assert set(await ids(world, q="login")) == {a, b}  # title or description
    assert await ids(world, q="LOGIN pagination") == [b]  # every word
    assert await ids(world, q="nothing-like-it") == []
    assert await ids(world, column_id=todo, archived="any", sort="rank") == [a, c, d]
    assert await ids(world, sort="due") == [b, c, a]  # undated last
    # Most recently updated first.
    await api.ok("PATCH", f"{world.base}/cards/{a}", {"priority": "low"})
    assert (await ids(world, sort="updated"))[0] == a

    # The workspace-wide query sees every board of the workspace.
    other = await world.owner.ok(
        "POST", f"/api/workspaces/{world.workspace_id}/boards", {"name": "Other"}, status=201
    )
    e = await api.ok(
        "POST", f"/api/boards/{other['id']}/cards", {"title": "Elsewhere login"}, status=201
    )
    everywhere = await api.ok("GET", f"/api/workspaces/{world.workspace_id}/cards?q=login")
    assert {c["id"] for c in everywhere["items"]} == {a, b, e["id"]}
    one_board = await api.ok(
        "GET", f"/api/workspaces/{world.workspace_id}/cards?q=login&board_id={other['id']}"
    )
    assert [c["id"] for c in one_board["items"]] == [e["id"]]


async def test_query_refusals(world: World) -> None:
    cards = f"{world.base}/cards"
    api = world.member
    assert_problem(await api.get(cards, priority="soon"), 422, "priority")
    assert_problem(await api.get(cards, limit=0), 422, "limit")
    assert_problem(await api.get(cards, limit="many"), 422, "limit")
    assert_problem(await api.get(cards, due_from="tomorrow"), 422, "due_from")
    assert_problem(await api.get(cards, due_from="2026-02-02", due_to="2026-02-01"), 422, "due_to")
    assert_problem(await api.get(cards, sort="random"), 422, "sort")
    assert_problem(await api.get(cards, cursor="garbage"), 422, "cursor")
    assert_problem(await api.get(cards, colour="red"), 422, "colour")
    assert_problem(await api.get(cards, column_id="nope"), 422, "column_id")
    response = await api.request("GET", cards + "?limit=1&limit=2")
    assert_problem(response, 422, "limit")
    assert_problem(await world.as_("outsider").get(cards), 404)
    assert_problem(
        await api.get(f"/api/workspaces/{world.workspace_id}/cards", board_id=new_id()),
        422,
        "board_id",
    )
    assert_problem(
        await world.as_("outsider").get(f"/api/workspaces/{world.workspace_id}/cards"), 404
    )


async def test_pages_are_stable_under_concurrent_writes(world: World) -> None:
    """Paging through while cards are added, moved and edited never repeats a card and never
    misses one that existed, unchanged in its sort key, all along."""
    api = world.member
    todo = world.column("todo")
    made = []
    for i in range(23):
        card = await api.ok("POST", f"{world.base}/cards", {"title": f"Card {i:02}"}, status=201)
        made.append(card["id"])
    for sort in ("rank", "due", "updated"):
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 5, "sort": sort}
            if cursor is not None:
                params["cursor"] = cursor
            page = await api.ok(
                "GET", f"{world.base}/cards?" + "&".join(f"{k}={v}" for k, v in params.items())
            )
            seen += [card["id"] for card in page["items"]]
            pages += 1
            # Writes between pages: a new card (last by rank), an edit that is not a sort key.
            await api.ok(
                "POST", f"{world.base}/cards", {"title": f"New {sort} {pages}"}, status=201
            )
            await api.ok("PATCH", f"{world.base}/cards/{made[0]}", {"description": f"edit {pages}"})
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)), f"a card came twice when sorted by {sort}"
        if sort != "updated":  # an edit moves a card in `updated` order: that is the sort key
            assert set(made) <= set(seen), f"a card was missed when sorted by {sort}"
        assert pages >= 5
    # A cursor belongs to its sort: reusing it with another sort is refused.
    page = await api.ok("GET", f"{world.base}/cards?limit=2&sort=rank")
    response = await api.get(f"{world.base}/cards", limit=2, sort="due", cursor=page["next_cursor"])
    assert_problem(response, 422, "cursor")
    assert todo  # the standard columns exist

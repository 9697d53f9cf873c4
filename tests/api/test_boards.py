"""Boards, columns, labels, sprints and comments over REST, with a live client watching."""

from __future__ import annotations

from crdt_model import STANDARD_COLUMNS, new_id
from tests.api.conftest import World, assert_problem


async def test_created_board_is_the_cli_board(world: World) -> None:
    board = world.board
    assert board["name"] == "Launch" and board["card_prefix"] == "TSK"
    assert board["workspace_id"] == world.workspace_id and board["archived_at"] is None
    assert [(c["name"], c["role"]) for c in board["columns"]] == list(STANDARD_COLUMNS)
    assert board["cards"] == [] and board["labels"] == [] and board["sprints"] == []
    # Update 1 of its log is the whole first document, attributed to the API and its caller.
    log = await world.store.read_log(world.board_id)
    assert [row.seq for row in log] == [1]
    assert (log[0].origin.kind, log[0].origin.actor) == ("api", world.users["owner"])
    live = await world.live()
    assert [c.name for c in live.board.columns()] == [name for name, _ in STANDARD_COLUMNS]

    listed = await world.member.ok("GET", f"/api/workspaces/{world.workspace_id}/boards")
    assert [b["id"] for b in listed["boards"]] == [world.board_id]
    assert await world.member.ok("GET", world.base) == board


async def test_board_refusals(world: World) -> None:
    boards = f"/api/workspaces/{world.workspace_id}/boards"
    assert_problem(await world.as_("viewer").post(boards, {"name": "No"}), 403)
    assert_problem(await world.as_("outsider").post(boards, {"name": "No"}), 404)
    assert_problem(await world.as_("outsider").get(boards), 404)
    assert_problem(await world.as_(None).get(boards), 401)
    assert_problem(await world.member.post(boards, {"name": " "}), 422, "name")
    assert_problem(await world.member.post(boards, {"name": "x" * 101}), 422, "name")
    assert_problem(
        await world.member.post(boards, {"name": "ok", "card_prefix": "t"}), 422, "card_prefix"
    )
    assert_problem(
        await world.member.post(boards, {"name": "ok", "repo": "not a repo"}), 422, "repo"
    )
    made = await world.member.ok("POST", boards, {"name": "Mine", "card_prefix": "WEB"}, status=201)
    assert made["card_prefix"] == "WEB"
    # Members create boards but may not configure them; admins may.
    path = f"/api/boards/{made['id']}"
    refused = assert_problem(await world.member.patch(path, {"name": "Renamed"}), 403)
    assert refused["action"] == "board.configure"
    assert_problem(await world.as_("outsider").get(path), 404)
    assert_problem(await world.member.get(f"/api/boards/{new_id()}"), 404)
    assert_problem(await world.member.get("/api/boards/nope"), 404)


async def test_rename_and_configure_are_live(world: World) -> None:
    live = await world.live()
    board = await world.as_("admin").ok(
        "PATCH", world.base, {"name": "  Launch v2 ", "repo": "acme/rocket", "card_prefix": "RKT"}
    )
    assert (board["name"], board["repo"], board["card_prefix"]) == (
        "Launch v2",
        "acme/rocket",
        "RKT",
    )
    await live.wait_for(lambda: live.board.board().name == "Launch v2")
    card = await world.member.ok("POST", f"{world.base}/cards", {"title": "x"}, status=201)
    assert card["key"] == "RKT-1"
    listed = await world.member.ok("GET", f"/api/workspaces/{world.workspace_id}/boards")
    assert listed["boards"][0]["name"] == "Launch v2"
    cleared = await world.as_("admin").ok("PATCH", world.base, {"repo": None})
    assert cleared["repo"] is None


async def test_columns(world: World) -> None:
    live = await world.live()
    api = world.member
    first = world.board["columns"][0]["id"]
    made = await api.ok(
        "POST",
        f"{world.base}/columns",
        {"name": "Blocked", "role": None, "wip_limit": 3, "after": first},
        status=201,
    )
    assert made["position"] == 1 and made["wip_limit"] == 3
    await live.wait_for(lambda: [c.name for c in live.board.columns()][1] == "Blocked")
    changed = await api.ok(
        "PATCH",
        f"{world.base}/columns/{made['id']}",
        {"name": "Waiting", "wip_limit": None, "position": 0},
    )
    assert (
        changed["name"] == "Waiting" and changed["position"] == 0 and changed["wip_limit"] is None
    )
    listed = await api.ok("GET", f"{world.base}/columns")
    assert [c["name"] for c in listed["columns"]][:2] == ["Waiting", "Backlog"]
    # A card in a removed column is shown in the first column.
    card = await api.ok(
        "POST", f"{world.base}/cards", {"title": "x", "column_id": made["id"]}, status=201
    )
    await api.ok("DELETE", f"{world.base}/columns/{made['id']}", status=204)
    moved = await api.ok("GET", f"{world.base}/cards/{card['id']}")
    assert moved["column_id"] == first
    await live.wait_for(lambda: made["id"] not in {c.id for c in live.board.columns()})
    assert_problem(await api.patch(f"{world.base}/columns/{made['id']}", {"name": "x"}), 404)
    assert_problem(
        await api.post(f"{world.base}/columns", {"name": "x", "role": "doing"}), 422, "role"
    )
    assert_problem(
        await api.post(f"{world.base}/columns", {"name": "x", "before": new_id()}), 422, "before"
    )
    assert_problem(await world.as_("viewer").post(f"{world.base}/columns", {"name": "x"}), 403)


async def test_labels(world: World) -> None:
    api = world.member
    label = await api.ok(
        "POST", f"{world.base}/labels", {"name": "bug", "color": "#D73A4A"}, status=201
    )
    assert label["color"] == "#d73a4a"
    card = await api.ok(
        "POST", f"{world.base}/cards", {"title": "x", "labels": [label["id"]]}, status=201
    )
    renamed = await api.ok(
        "PATCH", f"{world.base}/labels/{label['id']}", {"name": "defect", "color": "#000000"}
    )
    assert (renamed["name"], renamed["color"]) == ("defect", "#000000")
    assert (await api.ok("GET", f"{world.base}/labels"))["labels"] == [renamed]
    await api.ok("DELETE", f"{world.base}/labels/{label['id']}", status=204)
    assert (await api.ok("GET", f"{world.base}/cards/{card['id']}"))["labels"] == []
    assert_problem(
        await api.post(f"{world.base}/labels", {"name": "x", "color": "red"}), 422, "color"
    )
    assert_problem(await api.delete(f"{world.base}/labels/{label['id']}"), 404)
    assert_problem(await api.patch(f"{world.base}/labels/{label['id']}", {}), 404)


async def test_sprints_commit_points_against_capacity(world: World) -> None:
    api = world.member
    sprint = await api.ok(
        "POST",
        f"{world.base}/sprints",
        {"name": "S1", "start": "2026-12-01", "end": "2026-12-14", "capacity": 8, "goal": "Ship"},
        status=201,
    )
    assert sprint["committed_points"] == 0 and sprint["capacity"] == 8
    for points in (3, 5, 8):
        await api.ok(
            "POST",
            f"{world.base}/cards",
            {"title": f"{points}", "points": points, "sprint_id": sprint["id"]},
            status=201,
        )
    got = await api.ok("GET", f"{world.base}/sprints/{sprint['id']}")
    assert got["committed_points"] == 16 and got["capacity"] == 8  # over capacity
    listed = await api.ok("GET", f"{world.base}/sprints")
    assert listed["sprints"] == [got]
    board = await api.ok("GET", world.base)
    assert board["sprints"] == [got]
    changed = await api.ok(
        "PATCH", f"{world.base}/sprints/{sprint['id']}", {"capacity": 20, "end": "2026-12-21"}
    )
    assert changed["capacity"] == 20 and changed["end"] == "2026-12-21"
    problem = assert_problem(
        await api.patch(f"{world.base}/sprints/{sprint['id']}", {"end": "2026-11-01"}), 422, "end"
    )
    assert "start" in problem["detail"]
    assert_problem(
        await api.post(
            f"{world.base}/sprints", {"name": "S", "start": "2026-12-02", "end": "2026-12-01"}
        ),
        422,
        "end",
    )
    await api.ok("DELETE", f"{world.base}/sprints/{sprint['id']}", status=204)
    cards = await api.ok("GET", f"{world.base}/cards")
    assert {c["sprint_id"] for c in cards["items"]} == {None}
    assert_problem(await api.get(f"{world.base}/sprints/{sprint['id']}"), 404)


async def test_comments(world: World) -> None:
    live = await world.live()
    api = world.member
    card = await api.ok("POST", f"{world.base}/cards", {"title": "x"}, status=201)
    comments = f"{world.base}/cards/{card['id']}/comments"
    first = await api.ok("POST", comments, {"body": "Looks good"}, status=201)
    assert first["author"] == world.users["member"] and first["card_id"] == card["id"]
    second = await world.as_("admin").ok("POST", comments, {"body": "Ship it"}, status=201)
    await live.wait_for(lambda: len(live.board.comments(card["id"])) == 2)
    listed = await world.as_("viewer").ok("GET", comments)
    assert [c["body"] for c in listed["comments"]] == ["Looks good", "Ship it"]
    await api.ok("DELETE", f"{comments}/{first['id']}", status=204)
    assert (await api.ok("GET", comments))["comments"] == [second]
    assert_problem(await api.delete(f"{comments}/{first['id']}"), 404)
    assert_problem(await api.post(comments, {"body": "  "}), 422, "body")
    assert_problem(await world.as_("viewer").post(comments, {"body": "hi"}), 403)
    assert_problem(await api.get(f"{world.base}/cards/{new_id()}/comments"), 404)
    activity = await api.ok("GET", f"{world.base}/cards/{card['id']}/activity")
    fields = [(a["field"], a["actor"]) for a in activity["items"]]
    assert ("comments", world.users["admin"]) in fields


async def test_activity_pages(world: World) -> None:
    api = world.member
    card = await api.ok("POST", f"{world.base}/cards", {"title": "v0"}, status=201)
    # Five changes to five fields (changes to one field by one user within a minute coalesce
    # into one entry: test_activity_coalesces_a_burst_of_edits).
    edits = [("title", "v1"), ("description", "d"), ("priority", "high"), ("points", 3),
             ("due", "2027-01-01")]  # fmt: skip
    for field, value in edits:
        await api.ok("PATCH", f"{world.base}/cards/{card['id']}", {field: value})
    path = f"{world.base}/cards/{card['id']}/activity"
    seen: list[tuple[str, object]] = []
    before = None
    while True:
        page = await api.ok("GET", f"{path}?limit=2" + (f"&cursor={before}" if before else ""))
        seen += [(a["field"], a["new"]) for a in page["items"] if a["field"] != "card"]
        before = page["next_cursor"]
        if before is None:
            break
    assert seen == edits[::-1]
    assert_problem(await api.get(path, limit=0), 422, "limit")
    assert_problem(await api.get(path, cursor="x"), 422, "cursor")


async def test_activity_coalesces_a_burst_of_edits(world: World) -> None:
    """Five quick renames by one user are one entry (first old -> last new); a rename by
    someone else in between starts a new one."""
    api = world.member
    card = await api.ok("POST", f"{world.base}/cards", {"title": "v0"}, status=201)
    url = f"{world.base}/cards/{card['id']}"
    for i in range(1, 6):
        await api.ok("PATCH", url, {"title": f"v{i}"})
    await world.as_("admin").ok("PATCH", url, {"title": "admin's"})
    await api.ok("PATCH", url, {"title": "v6"})
    await api.ok("PATCH", url, {"title": "v7"})
    page = await api.ok("GET", f"{url}/activity")
    titles = [(a["old"], a["new"], a["actor"]) for a in page["items"] if a["field"] == "title"]
    member, admin = world.users["member"], world.users["admin"]
    assert titles == [("admin's", "v7", member), ("v5", "admin's", admin), ("v0", "v5", member)]


async def test_archiving_is_for_owners_and_admins(world: World) -> None:
    for action in ("archive", "unarchive"):
        path = f"{world.base}/{action}"
        for who in ("member", "viewer"):
            refused = assert_problem(await world.as_(who).post(path), 403)
            assert refused["action"] == "board.archive"
        assert_problem(await world.as_("outsider").post(path), 404)
        assert_problem(await world.as_(None).post(path), 401)
        assert_problem(await world.owner.post(f"/api/boards/{new_id()}/{action}"), 404)
        assert_problem(await world.owner.request("GET", path), 405)
    assert (await world.store.get_board(world.board_id)).archived_at is None


async def test_an_archived_board_refuses_writes_until_unarchived(world: World) -> None:
    boards = f"/api/workspaces/{world.workspace_id}/boards"
    card = await world.member.ok("POST", f"{world.base}/cards", {"title": "x"}, status=201)
    comment = await world.member.ok(
        "POST", f"{world.base}/cards/{card['id']}/comments", {"body": "hi"}, status=201
    )
    head = (await world.store.load(world.board_id)).head_seq

    archived = await world.owner.ok("POST", f"{world.base}/archive")
    assert archived["archived_at"] is not None
    assert archived == await world.member.ok("GET", world.base)  # readable as it is
    assert [c["id"] for c in archived["cards"]] == [card["id"]]
    assert await world.as_("admin").ok("POST", f"{world.base}/archive") == archived  # again
    assert (await world.member.ok("GET", boards))["boards"] == []
    listed = await world.member.ok("GET", f"{boards}?archived=true")
    assert [(b["id"], b["archived_at"]) for b in listed["boards"]] == [
        (world.board_id, archived["archived_at"])
    ]
    assert (await world.member.ok("GET", f"{world.base}/cards/{card['id']}"))["title"] == "x"

    cards = f"{world.base}/cards"
    sprint = {"name": "S", "start": "2026-01-01", "end": "2026-01-14"}
    writes = [
        ("PATCH", world.base, {"name": "Renamed"}),
        ("POST", cards, {"title": "y"}),
        ("PATCH", cards, {"cards": [{"id": card["id"], "title": "y"}]}),
        ("PATCH", f"{cards}/{card['id']}", {"title": "y"}),
        ("POST", f"{cards}/{card['id']}/move", {"column_id": world.column("done")}),
        ("DELETE", f"{cards}/{card['id']}", None),
        ("POST", f"{cards}/{card['id']}/comments", {"body": "more"}),
        ("DELETE", f"{cards}/{card['id']}/comments/{comment['id']}", None),
        ("POST", f"{world.base}/columns", {"name": "Blocked"}),
        ("DELETE", f"{world.base}/columns/{world.column('done')}", None),
        ("POST", f"{world.base}/labels", {"name": "bug", "color": "#ff0000"}),
        ("POST", f"{world.base}/sprints", sprint),
    ]
    for method, path, body in writes:
        refused = assert_problem(await world.as_("admin").request(method, path, json=body), 409)
        assert "archived" in refused["detail"]
    # The house order: a role that may not (403) and a bad body (422) come before the 409.
    assert_problem(await world.as_("viewer").post(cards, {"title": "y"}), 403)
    assert_problem(await world.member.post(cards, {"title": " "}), 422, "title")
    assert (await world.store.load(world.board_id)).head_seq == head  # nothing was written

    restored = await world.as_("admin").ok("POST", f"{world.base}/unarchive")
    assert restored == {**archived, "archived_at": None}
    assert await world.owner.ok("POST", f"{world.base}/unarchive") == restored  # again
    assert [b["id"] for b in (await world.member.ok("GET", boards))["boards"]] == [world.board_id]
    changed = await world.member.ok("PATCH", f"{cards}/{card['id']}", {"title": "y"})
    assert changed["title"] == "y"
    assert (await world.store.load(world.board_id)).head_seq > head

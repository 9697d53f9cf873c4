"""The access epoch (migration 0003) and the queries the live-revocation watcher relies on.

The epoch must grow on every change that can end or narrow someone's access, whoever makes
it (a Store method, another Store object on the same database, a raw SQL statement as another
process would run), and must not move on ordinary writes: a server re-checks every live
connection when it moves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from storage import Store, UpdateOrigin, _migrations
from storage import postgres as pg_module
from storage import sqlite as sqlite_module
from tests.storage._docs import Writer
from tests.storage.conftest import Backend, run_sql

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(days=7)


class World:
    """A workspace with an owner, a member, a PAT and a session of the member."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def build(self) -> World:
        store = self.store
        self.workspace = (await store.create_workspace("Acme")).id
        self.owner = (await store.create_user("owner", "Owner")).id
        self.member = (await store.create_user("member", "Member")).id
        self.outsider = (await store.create_user("outsider", "Outsider")).id
        await store.add_member(self.workspace, self.owner, "owner")
        await store.add_member(self.workspace, self.member, "member")
        self.pat = (await store.create_token(self.member, "ci", b"pat-hash")).id
        session = await store.create_refresh_token(self.member, b"refresh-1", LATER)
        self.family = session.family_id
        return self


async def bumps(store: Store, change: Awaitable[object]) -> bool:
    """Run `change`; return whether the epoch grew."""
    before = await store.access_epoch()
    await change
    after = await store.access_epoch()
    assert after >= before, "the epoch never goes back"
    return after > before


async def test_every_kind_of_access_change_bumps_the_epoch(store: Store) -> None:
    w = await World(store).build()
    changes: dict[str, Callable[[], Awaitable[object]]] = {
        "add member": lambda: store.add_member(w.workspace, w.outsider, "viewer"),
        "lower a role": lambda: store.set_member_role(w.workspace, w.member, "viewer"),
        "raise a role": lambda: store.set_member_role(w.workspace, w.member, "admin"),
        "remove member": lambda: store.remove_member(w.workspace, w.outsider),
        "revoke a PAT": lambda: store.revoke_token(w.pat),
        "log out (revoke a family)": lambda: store.revoke_refresh_family(w.family),
    }
    for name, change in changes.items():
        assert await bumps(store, change()), name


async def test_refresh_reuse_and_revoking_all_sessions_bump_the_epoch(store: Store) -> None:
    user = await store.create_user("alice", "Alice")
    await store.create_refresh_token(user.id, b"r1", LATER, at=T0)
    assert not await bumps(store, store.rotate_refresh_token(b"r1", b"r2", LATER, at=T0))
    # r1 presented again: theft; the family is revoked.
    assert await bumps(store, store.rotate_refresh_token(b"r1", b"r3", LATER, at=T0))
    await store.create_refresh_token(user.id, b"other", LATER)
    assert await bumps(store, store.revoke_user_sessions(user.id))


async def test_deleting_a_workspace_bumps_the_epoch(store: Store) -> None:
    w = await World(store).build()
    assert await bumps(store, store.delete_workspace(w.workspace))


async def test_unrelated_writes_leave_the_epoch_alone(store: Store) -> None:
    w = await World(store).build()
    await store.revoke_token(w.pat, at=T0)
    await store.revoke_refresh_family(w.family)
    epoch = await store.access_epoch()

    workspace = await store.create_workspace("Other")
    board = await store.create_board(workspace.id, "B", "TSK")
    writer = Writer(client_id=7)
    await store.append(board.id, writer.set("title", "x"), UpdateOrigin("user", w.member))
    server = UpdateOrigin("server")
    await store.append_many(
        board.id, [(writer.set("a", "1"), server), (writer.set("b", "2"), server)]
    )
    await store.compact(board.id)
    await store.next_card_number(board.id)
    await store.set_watermark(board.id, 1)
    await store.rename_workspace(workspace.id, "Renamed")
    user = await store.create_user("newcomer", "Newcomer")
    await store.upsert_github_user(7, "octo", "Octo", None, None)
    token = await store.create_token(user.id, "laptop", b"other-hash")
    await store.touch_token(token.id)
    await store.revoke_token(w.pat, at=LATER)  # already revoked: nothing changes
    assert await store.revoke_refresh_family(w.family) == 0  # already revoked
    await store.create_refresh_token(user.id, b"s1", LATER, at=T0)
    assert (await store.rotate_refresh_token(b"s1", b"s2", LATER, at=T0)).ok
    assert (await store.rotate_refresh_token(b"s2", b"s3", T0, at=LATER)).status == "expired"

    assert await store.access_epoch() == epoch


async def test_deleting_rows_directly_bumps_the_epoch(db_backend: Backend) -> None:
    """What another process (or an operator at a SQL prompt) does is seen too."""
    async with db_backend.make() as store:
        w = await World(store).build()
        third = await store.create_user("third", "Third")
        await store.create_token(third.id, "t", b"third-pat")
        await store.create_refresh_token(third.id, b"third-refresh", LATER)
        statements = [
            f"DELETE FROM access_tokens WHERE id = '{w.pat}'",
            f"DELETE FROM refresh_tokens WHERE family_id = '{w.family}'",
            f"UPDATE workspace_members SET role = 'viewer' WHERE user_id = '{w.member}'",
            f"DELETE FROM users WHERE id = '{third.id}'",
            f"DELETE FROM workspaces WHERE id = '{w.workspace}'",
        ]
        for sql in statements:
            before = await store.access_epoch()
            run_sql(db_backend, sql)
            assert await store.access_epoch() > before, sql


async def test_a_second_store_on_the_same_database_sees_the_change(db_backend: Backend) -> None:
    async with db_backend.make() as server, db_backend.make() as cli:
        w = await World(server).build()
        epoch = await server.access_epoch()
        assert await cli.access_epoch() == epoch
        await cli.revoke_token(w.pat)
        assert await server.access_epoch() > epoch
        epoch = await server.access_epoch()
        assert await server.is_refresh_family_active(w.family)
        await cli.revoke_refresh_family(w.family)
        assert await server.access_epoch() > epoch
        assert not await server.is_refresh_family_active(w.family)
        epoch = await server.access_epoch()
        await cli.remove_member(w.workspace, w.member)
        assert await server.access_epoch() > epoch
        assert await server.get_member_role(w.workspace, w.member) is None


async def test_concurrent_changes_from_several_stores_are_all_counted(backend: Backend) -> None:
    """No lost increment, no deadlock: every membership row written bumps the epoch once."""
    stores = [backend.make() for _ in range(3)]
    for store in stores:
        await store.open()
    try:
        first = stores[0]
        workspaces = [(await first.create_workspace(f"W{n}")).id for n in range(3)]
        users = [(await first.create_user(f"u{n}", f"U{n}")).id for n in range(4)]
        before = await first.access_epoch()

        async def churn(store: Store, workspace: str) -> None:
            for user in users:
                await store.add_member(workspace, user, "member")
                await store.set_member_role(workspace, user, "viewer")

        await asyncio.gather(*(churn(s, w) for s, w in zip(stores, workspaces, strict=True)))
        assert await first.access_epoch() - before == 2 * len(users) * len(workspaces)
    finally:
        for store in stores:
            await store.close()


async def test_refresh_family_is_active_until_every_token_is_revoked(store: Store) -> None:
    user = await store.create_user("alice", "Alice")
    first = await store.create_refresh_token(user.id, b"r1", LATER, at=T0)
    other = await store.create_refresh_token(user.id, b"o1", LATER, at=T0)
    assert await store.is_refresh_family_active(first.family_id)
    assert (await store.rotate_refresh_token(b"r1", b"r2", LATER, at=T0)).ok
    assert await store.is_refresh_family_active(first.family_id), "rotation keeps it alive"
    await store.revoke_refresh_family(first.family_id)
    assert not await store.is_refresh_family_active(first.family_id)
    assert await store.is_refresh_family_active(other.family_id)
    assert not await store.is_refresh_family_active("no-such-family")
    # Reuse detection ends a family as logout does.
    assert (await store.rotate_refresh_token(b"o1", b"o2", LATER, at=T0)).ok
    assert (await store.rotate_refresh_token(b"o1", b"o3", LATER, at=T0)).status == "reused"
    assert not await store.is_refresh_family_active(other.family_id)


async def test_list_unowned_workspaces(store: Store) -> None:
    old = await store.create_workspace("Old", at=T0)
    owned = await store.create_workspace("Owned", at=T0 + timedelta(seconds=1))
    new = await store.create_workspace("New", at=T0 + timedelta(seconds=2))
    user = await store.create_user("alice", "Alice")
    await store.add_member(owned.id, user.id, "owner")
    assert await store.list_unowned_workspaces() == [old, new]
    await store.add_member(new.id, user.id, "viewer")  # any member at all counts
    assert await store.list_unowned_workspaces() == [old]


async def test_0003_applies_on_a_database_at_0002(
    fresh_db: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = sqlite_module if fresh_db.kind == "sqlite" else pg_module
    real = _migrations.load_migrations
    with monkeypatch.context() as patch:
        patch.setattr(module, "load_migrations", lambda dialect: real(dialect)[:2])
        async with fresh_db.make() as store:
            w = await World(store).build()
    async with fresh_db.make(migrate_on_open=False) as store:
        assert (await store.migrate())[:1] == ["0003_access_epoch"]  # and any later ones
        assert await store.migrate() == []
        # Existing rows are untouched and the triggers work on them.
        assert await store.get_member_role(w.workspace, w.member) == "member"
        assert await store.is_refresh_family_active(w.family)
        epoch = await store.access_epoch()
        assert await bumps(store, store.set_member_role(w.workspace, w.member, "viewer"))
        assert await bumps(store, store.revoke_token(w.pat))
        assert await store.access_epoch() > epoch

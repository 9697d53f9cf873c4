"""Fixtures for the e2e suite: a store per test (SQLite dir or fresh Postgres database) and a
factory of real `taskly serve` processes that are stopped with SIGINT at teardown, which must
exit 0 (docs/sync.md). Each store gets an owner and a token before its first server starts;
clients present that token unless a test says otherwise (see _auth.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ._harness import (
    StoreSpec,
    TasklyServer,
    create_pg_database,
    drop_pg_database,
    pg_url,
)
from ._nodeclient import NodeClient, require_node
from ._pyclient import PyClient


@pytest.fixture
def sqlite_store(tmp_path: Path) -> StoreSpec:
    """An embedded SQLite store in a fresh data dir."""
    return StoreSpec("sqlite", tmp_path / "taskly-data")


@pytest.fixture
def postgres_store(tmp_path: Path) -> Iterator[StoreSpec]:
    """A fresh, empty Postgres database (the server migrates it), dropped afterwards."""
    name = create_pg_database()
    try:
        yield StoreSpec("postgres", tmp_path / "taskly-data", pg_url(name))
    finally:
        drop_pg_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest) -> StoreSpec:
    """Each real backend in turn."""
    store: StoreSpec = request.getfixturevalue(f"{request.param}_store")
    return store


class ServerFactory:
    """Starts servers for one test and remembers them for teardown."""

    def __init__(self, default_store: StoreSpec) -> None:
        """Servers go on `default_store` unless given another."""
        self.default_store = default_store
        self.servers: list[TasklyServer] = []

    def __call__(
        self, store: StoreSpec | None = None, *, provision: bool = True, **env: str
    ) -> TasklyServer:
        """Start `taskly serve --port 0` with TASKLY_* `env` and wait until it listens.

        `provision=False` starts it on the store as it is, with no owner made beforehand.
        """
        server = TasklyServer(store or self.default_store, env, provision=provision)
        self.servers.append(server)
        server.start()
        return server

    def teardown(self) -> None:
        """SIGINT every server still running and require exit status 0."""
        failures = []
        for server in self.servers:
            if server.running:
                code = server.stop()
                if code != 0:
                    failures.append(f"exit status {code} after SIGINT\n{server.output()}")
            # Shown by pytest only when the test failed: what the server said meanwhile.
            print(f"taskly serve on {server.store.kind}:\n{server.output(200)}")
        if failures:
            pytest.fail("`taskly serve` must exit 0 on SIGINT:\n" + "\n\n".join(failures))


@pytest.fixture
def taskly(sqlite_store: StoreSpec) -> Iterator[ServerFactory]:
    """A factory of real servers (SQLite by default); all stopped with SIGINT at teardown."""
    factory = ServerFactory(sqlite_store)
    yield factory
    factory.teardown()


@pytest.fixture
def server(taskly: ServerFactory) -> TasklyServer:
    """One running server on a fresh SQLite store."""
    return taskly()


@pytest.fixture
async def board(server: TasklyServer) -> str:
    """A board created with `taskly board create` while `server` runs."""
    return await server.store.acreate_board("E2E board")


class Clients:
    """Python and Node clients of one test, all closed at teardown."""

    def __init__(self) -> None:
        """No clients yet."""
        self.python: list[PyClient] = []
        self.node: list[NodeClient] = []

    def py(self, name: str) -> PyClient:
        """A new Python client (not connected)."""
        client = PyClient(name)
        self.python.append(client)
        return client

    async def js(self, name: str) -> NodeClient:
        """A new Node client process (no provider yet: call open())."""
        require_node()
        client = NodeClient(name)
        self.node.append(client)
        await client.start()
        return client

    async def close(self) -> None:
        """Disconnect every Python client and end every node process."""
        for py in self.python:
            await py.abort()
        for js in self.node:
            await js.close()


@pytest.fixture
async def clients() -> AsyncIterator[Clients]:
    """Make clients with clients.py(name) / await clients.js(name); closed at teardown."""
    made = Clients()
    try:
        yield made
    finally:
        await made.close()

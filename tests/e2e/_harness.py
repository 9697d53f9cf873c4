"""The real `taskly serve` as a subprocess, its store (SQLite or Postgres), and shared waits.

Everything here is black-box against docs/sync.md: the server is started and stopped only
through its command line, signals and documented environment variables, and observed only
through its stdout ready line, HTTP endpoints, WebSockets and (after it stopped) its store.

Access: before a server's first start the harness makes the owner of workspace `Default`
and a personal access token with `taskly user create` / `taskly token create` (see _auth.py;
a new SQLite store starts as a copy of one made so once per session); every client presents
that token unless a test passes another (`StoreSpec.user()`) or none.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
import msgspec
import psycopg
import pytest
import websockets
from pycrdt import Doc, Map, Text
from websockets.typing import Subprotocol

from crdt_model import Projection, is_canonical_id, new_id
from storage import open_store

from . import _wire as w
from ._auth import (
    DEFAULT,
    DEFAULT_WORKSPACE,
    OWNER_LOGIN,
    TOKEN_PREFIX,
    Identity,
    TokenChoice,
    remember_server,
    with_token,
)
from ._nodeclient import NodeClient
from ._pyclient import PyClient

READY = re.compile(r"^Taskly listening on http://(?P<host>[^\s:]+):(?P<port>\d+)$")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
PG_BASE_URL = os.environ.get("TASKLY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")


def taskly_bin() -> str:
    """The `taskly` console script of the interpreter running the tests.

    TASKLY_E2E_BIN runs the suite against another build of the command instead.
    """
    path = Path(os.environ.get("TASKLY_E2E_BIN") or Path(sys.executable).parent / "taskly")
    if not path.exists():
        pytest.fail(f"{path} is missing: install the project (make install) first")
    return str(path)


# -- stores -------------------------------------------------------------------------------------


def pg_url(dbname: str) -> str:
    """The Postgres test server URL pointing at database `dbname`."""
    parts = urlsplit(PG_BASE_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, ""))


def _pg_admin(sql: str) -> None:
    try:
        with psycopg.connect(pg_url("postgres"), autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.encode())
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG_BASE_URL} is needed by this test and failed: {exc}")


def create_pg_database() -> str:
    """Create an empty database (the server migrates it); return its name."""
    name = f"taskly_e2e_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE template0')
    return name


def drop_pg_database(name: str) -> None:
    """Drop a test database, disconnecting anyone still on it."""
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class StoreSpec:
    """Where one test's server keeps its data: a SQLite data dir or a Postgres database."""

    kind: Literal["sqlite", "postgres"]
    data_dir: Path
    database_url: str | None = None
    # Users made on this store so far, by login (the owner among them once a server started).
    users: dict[str, Identity] = field(default_factory=dict, compare=False, repr=False)

    def env(self) -> dict[str, str]:
        """The TASKLY_* variables that select this store."""
        env = {"TASKLY_DATA_DIR": str(self.data_dir)}
        if self.database_url is not None:
            env["TASKLY_DATABASE_URL"] = self.database_url
        return env

    def cli_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A process environment with no inherited TASKLY_* settings, plus this store's."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("TASKLY_") or k.startswith("TASKLY_E2E_")
        }
        env.update(self.env())
        env.update(extra or {})
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def taskly(self, *args: str) -> str:
        """Run `taskly ARGS --data-dir DIR` on this store; return its stdout; fail if it fails."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [taskly_bin(), *args, "--data-dir", str(self.data_dir)],
            env=self.cli_env(),
            cwd=self.data_dir.parent,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"`taskly {' '.join(args)}` exited {result.returncode}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result.stdout

    def create_board(self, name: str, *extra_args: str) -> str:
        """Run `taskly board create NAME`; return the id it prints (checked to be a UUID)."""
        out = self.taskly("board", "create", name, *extra_args)
        board_id = out.strip()
        assert is_canonical_id(board_id), (
            f"`taskly board create` must print the new board id alone, got {out!r}"
        )
        return board_id

    async def acreate_board(self, name: str, *extra_args: str) -> str:
        """create_board() off the event loop."""
        return await asyncio.to_thread(self.create_board, name, *extra_args)

    def user(
        self, login: str, *, workspace: str | None = DEFAULT_WORKSPACE, role: str = "member"
    ) -> Identity:
        """A new user with a PAT, as an operator makes them.

        `taskly user create LOGIN --workspace W --role R` (no workspace when None: a user who
        belongs nowhere), then `taskly token create --user LOGIN`.
        """
        membership = [] if workspace is None else ["--workspace", workspace, "--role", role]
        self.taskly("user", "create", login, *membership)
        token = self.taskly("token", "create", "--user", login).strip()
        assert token.startswith(TOKEN_PREFIX) and len(token.split()) == 1, (
            f"`taskly token create` must print the token alone, got {token!r}"
        )
        made = Identity(login, token, workspace, None if workspace is None else role)
        self.users[login] = made
        return made

    async def auser(
        self, login: str, *, workspace: str | None = DEFAULT_WORKSPACE, role: str = "member"
    ) -> Identity:
        """user() off the event loop."""
        return await asyncio.to_thread(self.user, login, workspace=workspace, role=role)

    @property
    def owner(self) -> Identity:
        """The owner of workspace `Default` every client connects as by default (made once)."""
        self.provision()
        return self.users[OWNER_LOGIN]

    def provision(self) -> None:
        """Make the owner and their token unless done already (before a server's first start).

        A SQLite store not created yet starts as a copy of one the CLI made once per session
        (see _owner_template); any other store gets `taskly user create` + `token create`.
        """
        if OWNER_LOGIN in self.users:
            return
        if self.kind == "sqlite" and not (self.data_dir / SQLITE_FILE).exists():
            source, owner = _owner_template()
            self.data_dir.mkdir(parents=True, exist_ok=True)
            for path in source.glob(SQLITE_FILE + "*"):  # the database and any WAL files
                shutil.copy2(path, self.data_dir / path.name)
            self.users[OWNER_LOGIN] = owner
            return
        self.user(OWNER_LOGIN, role="owner")

    async def load_doc(self, board_id: str) -> Any:
        """The board's document as stored (open the store directly: no server may be running)."""
        async with open_store(database_url=self.database_url, data_dir=self.data_dir) as store:
            return await store.load_doc(board_id)


SQLITE_FILE = "taskly.db"  # the embedded store's file under the data dir (README)
_template: tuple[Path, Identity] | None = None


def _owner_template() -> tuple[Path, Identity]:
    """A SQLite data dir holding only the owner and their token, made with the real CLI once
    per test session: two CLI processes per test would add well over a minute to the suite."""
    global _template
    if _template is None:
        root = Path(tempfile.mkdtemp(prefix="taskly-e2e-owner-"))
        atexit.register(shutil.rmtree, root, True)
        store = StoreSpec("sqlite", root / "taskly-data")
        _template = (store.data_dir, store.user(OWNER_LOGIN, role="owner"))
    return _template


# -- the server ---------------------------------------------------------------------------------


@dataclass
class _Run:
    """One process of a TasklyServer (it restarts as a new run on the same store)."""

    proc: subprocess.Popen[bytes]
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    ready_or_eof: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    host: str | None = None
    port: int | None = None
    killed: bool = False


class TasklyServer:
    """`taskly serve --port 0` on one store; start, stop (SIGINT), kill (SIGKILL), restart."""

    def __init__(
        self, store: StoreSpec, env: Mapping[str, str] | None = None, *, provision: bool = True
    ) -> None:
        """Prepare a server on `store` with extra TASKLY_* `env`; start() launches it.

        With `provision` (the default) the store gets its owner and their token before the
        first start (`StoreSpec.owner`); without, the server starts on the store as it is.
        """
        self.store = store
        self.env = dict(env or {})
        self.provision = provision
        self.runs: list[_Run] = []

    @property
    def token(self) -> str | None:
        """The token clients present by default: the store owner's (None if not provisioned)."""
        owner = self.store.users.get(OWNER_LOGIN)
        return None if owner is None else owner.token

    @property
    def run(self) -> _Run:
        """The current (last started) process."""
        assert self.runs, "the server was never started"
        return self.runs[-1]

    @property
    def running(self) -> bool:
        """Whether the current process is alive."""
        return bool(self.runs) and self.run.proc.poll() is None

    @property
    def http_url(self) -> str:
        """http://HOST:PORT of the current process."""
        return f"http://{self.run.host}:{self.run.port}"

    @property
    def sync_url(self) -> str:
        """The y-websocket serverUrl: ws://HOST:PORT/sync (room = board id)."""
        return f"ws://{self.run.host}:{self.run.port}/sync"

    def board_url(self, board_id: str, token: TokenChoice = DEFAULT) -> str:
        """ws://HOST:PORT/sync/BOARD_ID?token=TOKEN: the owner's token, `token`, or none."""
        return with_token(f"{self.sync_url}/{board_id}", self.token if token is DEFAULT else token)

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start a process and wait for its ready line; fail with its output if none comes."""
        assert not self.running, "already running"
        self.store.data_dir.mkdir(parents=True, exist_ok=True)
        if self.provision:
            self.store.provision()
        proc = subprocess.Popen(
            [taskly_bin(), "serve", "--host", "127.0.0.1", "--port", "0"]
            + ["--data-dir", str(self.store.data_dir)],
            env=self.store.cli_env(self.env),
            cwd=self.store.data_dir.parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        run = _Run(proc)
        self.runs.append(run)
        assert proc.stdout is not None and proc.stderr is not None
        # Both pipes are drained all the time: a server blocked on a full stderr pipe would
        # look like a hung server.
        run.threads = [
            threading.Thread(target=self._pump, args=(run, proc.stdout, True), daemon=True),
            threading.Thread(target=self._pump, args=(run, proc.stderr, False), daemon=True),
        ]
        for thread in run.threads:
            thread.start()
        run.ready_or_eof.wait(timeout)
        if run.port is None:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            self._join(run)
            pytest.fail(
                f"`taskly serve` printed no `Taskly listening on http://HOST:PORT` line within "
                f"{timeout} s (exit status {proc.returncode})\n{self.output()}"
            )
        remember_server(self.sync_url, self.token)

    @staticmethod
    def _pump(run: _Run, stream: IO[bytes], is_stdout: bool) -> None:
        sink = run.stdout if is_stdout else run.stderr
        for raw in stream:
            line = raw.decode(errors="replace").rstrip("\r\n")
            sink.append(line)
            if is_stdout and run.port is None and (match := READY.match(line)):
                run.host, run.port = match["host"], int(match["port"])
                run.ready_or_eof.set()
        if is_stdout:
            run.ready_or_eof.set()

    @staticmethod
    def _join(run: _Run) -> None:
        for thread in run.threads:
            thread.join(5)
        for stream in (run.proc.stdout, run.proc.stderr):
            if stream is not None:
                stream.close()

    def stop(self, timeout: float = STOP_TIMEOUT, sig: int = signal.SIGINT) -> int:
        """SIGINT (Ctrl-C, or `sig`) and wait; return the exit status (the contract says 0)."""
        run = self.run
        if run.proc.poll() is None:
            run.proc.send_signal(sig)
            try:
                run.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                run.proc.kill()
                run.proc.wait()
                self._join(run)
                pytest.fail(f"`taskly serve` ignored signal {sig} for {timeout} s\n{self.output()}")
        self._join(run)
        return run.proc.returncode

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, whatever was not committed is lost."""
        run = self.run
        run.killed = True
        run.proc.kill()
        run.proc.wait()
        self._join(run)

    def restart(self, timeout: float = START_TIMEOUT) -> None:
        """Start a new process on the same store (after stop() or kill())."""
        assert not self.running, "stop or kill the running process first"
        self.start(timeout)

    async def astart(self) -> None:
        """start() off the event loop, so that clients keep running meanwhile."""
        await asyncio.to_thread(self.start)

    async def astop(self, sig: int = signal.SIGINT) -> int:
        """stop() off the event loop."""
        return await asyncio.to_thread(self.stop, STOP_TIMEOUT, sig)

    async def akill(self) -> None:
        """kill() off the event loop."""
        await asyncio.to_thread(self.kill)

    def output(self, lines: int = 60) -> str:
        """The tail of every run's stdout and stderr, for failure messages."""
        parts = []
        for index, run in enumerate(self.runs, 1):
            parts.append(f"--- run {index} (pid {run.proc.pid}, exit {run.proc.poll()}) stdout:")
            parts.extend(run.stdout[-lines:])
            parts.append(f"--- run {index} stderr:")
            parts.extend(run.stderr[-lines:])
        return "\n".join(parts)

    # -- HTTP ---------------------------------------------------------------------------------

    async def get(self, path: str) -> httpx.Response:
        """GET a path of the current process (no proxies from the environment)."""
        async with httpx.AsyncClient(base_url=self.http_url, trust_env=False, timeout=10) as http:
            return await http.get(path)

    async def metrics(self) -> Metrics:
        """GET /metrics, parsed."""
        response = await self.get("/metrics")
        assert response.status_code == 200, f"/metrics answered {response.status_code}"
        return Metrics.parse(response.text)


@dataclass(frozen=True)
class Metrics:
    """A Prometheus text exposition: {(name, labels): value}."""

    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]
    text: str

    @classmethod
    def parse(cls, text: str) -> Metrics:
        """Parse the sample lines (comments and blank lines skipped)."""
        samples = {}
        pattern = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
        label = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
        for line in text.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            match = pattern.match(line)
            if match is None:
                continue
            labels = tuple(sorted(label.findall(match[2] or "")))
            samples[(match[1], labels)] = float(match[3])
        return cls(samples, text)

    def value(self, name: str, **labels: str) -> float:
        """The value of one sample; fail listing what is there if it is missing."""
        key = (name, tuple(sorted(labels.items())))
        assert key in self.samples, f"/metrics has no sample {name}{labels or ''}:\n{self.text}"
        return self.samples[key]

    def labels_of(self, name: str, label: str) -> set[str]:
        """Every value of `label` among the samples of `name`."""
        return {
            dict(labels)[label]
            for (sample, labels), _ in self.samples.items()
            if sample == name and label in dict(labels)
        }


async def wait_metrics(
    server: TasklyServer,
    predicate: Callable[[Metrics], bool],
    what: str,
    within: float = 15.0,
) -> Metrics:
    """Poll /metrics until predicate(metrics) holds (HTTP offers no event to wait on)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        metrics = await server.metrics()
        if predicate(metrics):
            return metrics
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}:\n{metrics.text}")
        await asyncio.sleep(0.05)


# -- raw frames ---------------------------------------------------------------------------------

PROBE_TIMEOUT = 10.0


def card_update(description: str = "") -> tuple[str, bytes]:
    """A new card id and a valid v1 update that adds that card (with `description`)."""
    card = new_id()
    doc: Doc[Any] = Doc()
    doc.get("cards", type=Map)[card] = Map(
        {"title": Text("probe"), "description": Text(description), "number": None}
    )
    return card, doc.get_update()


def cards_in(update: bytes) -> set[str]:
    """The card ids an update creates, applied on its own to an empty document."""
    doc: Doc[Any] = Doc()
    doc.apply_update(update)
    return set(doc.get("cards", type=Map).keys())


async def probe(url: str, *frames: bytes | str) -> tuple[int, str] | None:
    """Send `frames` on a new connection, then sync step 1.

    Return None if the server answered the step 1 (so it read the frames and kept the
    connection), else the (code, reason) it closed the connection with.
    """
    # No compression: the size limit is about the message as sent, byte for byte.
    async with websockets.connect(
        url, compression=None, max_size=None, ping_interval=None, proxy=None, open_timeout=10
    ) as ws:
        with contextlib.suppress(websockets.ConnectionClosed):
            for frame in frames:
                await ws.send(frame)
            await ws.send(w.sync_message(w.SYNC_STEP1, w.encode_state_vector({})))
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                async for message in ws:
                    if isinstance(message, bytes) and message[:2] == bytes(
                        [w.MSG_SYNC, w.SYNC_STEP2]
                    ):
                        return None
                await ws.wait_closed()
        except websockets.ConnectionClosed:
            pass
        except TimeoutError:
            raise AssertionError(
                f"the server neither closed the connection nor answered sync step 1 within "
                f"{PROBE_TIMEOUT} s after {[f[:40] for f in frames]!r}"
            ) from None
        return (ws.close_code or 1006, ws.close_reason or "")


@dataclass(frozen=True)
class Refusal:
    """How the server ended a connection it refused, and what it sent before."""

    code: int
    reason: str
    frames: list[bytes | str]


async def refusal(url: str, subprotocols: Sequence[str] | None = None) -> Refusal | None:
    """Connect and send sync step 1; return how the server refused the connection, or None
    if it admitted it (it answered the step 1 with step 2)."""
    frames: list[bytes | str] = []
    async with websockets.connect(
        url,
        subprotocols=None if subprotocols is None else [Subprotocol(s) for s in subprotocols],
        compression=None,
        ping_interval=None,
        proxy=None,
        open_timeout=10,
    ) as ws:
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.send(w.sync_message(w.SYNC_STEP1, w.encode_state_vector({})))
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                async for message in ws:
                    frames.append(message)
                    if isinstance(message, bytes) and message[:2] == bytes(
                        [w.MSG_SYNC, w.SYNC_STEP2]
                    ):
                        return None
                await ws.wait_closed()
        except websockets.ConnectionClosed:
            pass
        except TimeoutError:
            raise AssertionError(
                f"the server neither closed the connection nor answered sync step 1 within "
                f"{PROBE_TIMEOUT} s; it sent {frames!r}"
            ) from None
        return Refusal(ws.close_code or 1006, ws.close_reason or "", frames)


# -- convergence ----------------------------------------------------------------------------------

Replica = PyClient | NodeClient


def client_id(replica: Replica) -> int | None:
    """The Yjs client id a replica writes with."""
    if isinstance(replica, PyClient):
        return replica.doc.client_id
    return replica.client_id


async def state_vector(replica: Replica) -> bytes:
    """A replica's state vector, Python or Node."""
    if isinstance(replica, PyClient):
        return replica.state_vector()
    return await replica.state_vector()


async def projection(replica: Replica) -> Projection:
    """A replica's board through crdt_model.project (Node's full state applied in pycrdt)."""
    if isinstance(replica, PyClient):
        return replica.projection()
    return await replica.projection()


async def converge(replicas: Sequence[Replica], within: float = 15.0) -> bytes:
    """Wait until every replica has the same state vector; return it.

    Each round waits for every replica to cover the union of all state vectors; the server
    may add updates meanwhile (card numbers), hence the rounds until they are all equal.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        vectors = [await state_vector(r) for r in replicas]
        clocks = [w.decode_state_vector(v) for v in vectors]
        if all(c == clocks[0] for c in clocks):
            return vectors[0]
        remaining = deadline - loop.time()
        try:
            if remaining <= 0:
                raise AssertionError(f"state vectors still differ after {within} s")
            target = w.union(*vectors)
            async with asyncio.TaskGroup() as group:
                for replica in replicas:
                    group.create_task(replica.wait_covers(target, remaining))
        except* AssertionError as failed:
            ids = {r.name: client_id(r) for r in replicas}
            detail = {r.name: c for r, c in zip(replicas, clocks, strict=True)}
            reasons = "\n".join(str(e) for e in failed.exceptions)
            raise AssertionError(
                f"replicas did not converge within {within} s:\n{reasons}\n"
                f"client ids: {ids}\nstate vectors at the last round: {detail}"
            ) from None


async def assert_same_board(replicas: Sequence[Replica]) -> Projection:
    """Converge, then assert every replica projects to the same board; return it."""
    await converge(replicas)
    views = [await projection(r) for r in replicas]
    first = msgspec.to_builtins(views[0])
    for replica, view in zip(replicas[1:], views[1:], strict=True):
        assert msgspec.to_builtins(view) == first, f"{replica.name} differs from {replicas[0].name}"
    return views[0]

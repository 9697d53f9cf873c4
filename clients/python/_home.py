"""The client home: where the CLI keeps its login, its board list and one replica per board.

`$TASKLY_CLIENT_HOME`, else `~/.local/share/taskly`:

    config.json        server URL and credentials (mode 0600, replaced atomically)
    boards.json        the boards last listed by the server (for offline use)
    boards/ID.sqlite3  one replica file per board (see _log.py)
    .lock              serializes refresh-token rotation between processes

Files holding secrets are written to a temporary file created 0600, fsynced, then renamed over
the old one: a crash leaves the old or the new file, never a torn one, and a rotated refresh
token is on disk before anything uses the access token it came with.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import msgspec

from clients.python._errors import ClientError

ENV_HOME: Final = "TASKLY_CLIENT_HOME"


class Credentials(msgspec.Struct, kw_only=True):
    """How to authenticate: a personal access token, or a session's refresh token."""

    kind: str  # "pat" or "session"
    token: str | None = None  # the PAT, or the last access token of a session
    refresh_token: str | None = None
    access_expires_at: float | None = None  # unix time; sessions only


class Config(msgspec.Struct, kw_only=True):
    """The contents of config.json."""

    server: str
    credentials: Credentials
    user_id: str | None = None


class BoardInfo(msgspec.Struct, kw_only=True, frozen=True):
    """A board as the server listed it."""

    id: str
    name: str
    workspace_id: str
    workspace_name: str
    card_prefix: str


class BoardsCache(msgspec.Struct, kw_only=True):
    """The contents of boards.json."""

    server: str
    fetched_at: str
    boards: list[BoardInfo]


def default_home() -> Path:
    """The client home from $TASKLY_CLIENT_HOME, else ~/.local/share/taskly."""
    configured = os.environ.get(ENV_HOME)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".local" / "share" / "taskly"


class ClientHome:
    """Paths and atomic reads/writes of the client home."""

    def __init__(self, root: Path | None = None) -> None:
        """Use `root`, or the default home."""
        self.root = default_home() if root is None else root

    @property
    def config_path(self) -> Path:
        """config.json."""
        return self.root / "config.json"

    @property
    def boards_path(self) -> Path:
        """boards.json."""
        return self.root / "boards.json"

    def replica_path(self, board_id: str) -> Path:
        """The replica file of `board_id`."""
        return self.root / "boards" / f"{board_id}.sqlite3"

    def replica_ids(self) -> list[str]:
        """The ids of the boards that have a replica file here."""
        folder = self.root / "boards"
        if not folder.is_dir():
            return []
        return sorted(p.name.removesuffix(".sqlite3") for p in folder.glob("*.sqlite3"))

    def _ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the home's lock file (blocks other processes until released)."""
        self._ensure()
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def write_atomic(self, path: Path, data: bytes) -> None:
        """Replace `path` with `data`: temporary file (0600), fsync, rename, fsync the dir."""
        self._ensure()
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # created 0600
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def load_config(self) -> Config | None:
        """The stored login, or None."""
        try:
            raw = self.config_path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return msgspec.json.decode(raw, type=Config)
        except msgspec.DecodeError as exc:
            raise ClientError(
                f"{self.config_path} is damaged ({exc}): run `taskly login`"
            ) from None

    def save_config(self, config: Config) -> None:
        """Store the login (mode 0600, atomic)."""
        self.write_atomic(self.config_path, msgspec.json.encode(config))

    def load_boards(self) -> BoardsCache | None:
        """The boards last listed by the server, or None."""
        try:
            raw = self.boards_path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return msgspec.json.decode(raw, type=BoardsCache)
        except msgspec.DecodeError:
            return None  # only a cache: the next `taskly boards` rewrites it

    def save_boards(self, cache: BoardsCache) -> None:
        """Store the board list (atomic)."""
        self.write_atomic(self.boards_path, msgspec.json.encode(cache))

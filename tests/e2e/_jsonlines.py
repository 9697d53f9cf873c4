"""A node script driven over JSON lines, for the tests' Node helpers (the Yjs client of
tests/js/yws_client.mjs, the browser driver of tests/web/browser_driver.mjs).

Requests are `{"id": N, "cmd": ..., ...}` lines on the script's stdin; it answers each with a
line carrying the same `id` (`ok` true or false), in any order, and may print `{"event": ...}`
lines at any time, which are collected in `events`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class JsonLinesProcess:
    """One node process speaking JSON lines; subclasses add the commands."""

    #: Raised for a request that gets no answer (or whose process died); AssertionError so
    #: that pytest reports it as a test failure.
    error: type[AssertionError] = AssertionError

    def __init__(self, name: str) -> None:
        """Prepare a process called `name` in failure messages; `launch()` starts it."""
        self.name = name
        self.proc: asyncio.subprocess.Process | None = None
        self.events: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._event_seen = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def launch(self, node: str, script: Path, env: Mapping[str, str] | None = None) -> None:
        """Start `node script` from the repository root and read its output."""
        self.proc = await asyncio.create_subprocess_exec(
            node,
            str(script),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=None if env is None else dict(env),
            limit=64 * 1024 * 1024,  # one answer (a dump of a big board) is one long line
        )
        self._tasks = [
            asyncio.create_task(self._read_stdout()),
            asyncio.create_task(self._read_stderr()),
        ]

    async def _read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for raw in self.proc.stdout:
            message = json.loads(raw)
            if "event" in message:
                self.events.append(message)
                self._event_seen.set()
                continue
            future = self._pending.pop(message.get("id"), None)
            if future is not None and not future.done():
                future.set_result(message)
        # The process is gone: no pending request will ever be answered.
        for future in self._pending.values():
            if not future.done():
                future.set_exception(self.error(f"{self.name}: node exited\n{self.stderr_text()}"))
        self._pending.clear()

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.stderr.append(raw.decode(errors="replace").rstrip())

    def stderr_text(self) -> str:
        """The last lines node wrote on stderr, for failure messages."""
        return "\n".join(self.stderr[-30:])

    async def request(self, cmd: str, wait: float, **args: Any) -> dict[str, Any]:
        """Send one command and return its answer (ok or not); raise `error` after `wait` s."""
        assert self.proc is not None and self.proc.stdin is not None, "launch() first"
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        self.proc.stdin.write(json.dumps({"id": ident, "cmd": cmd, **args}).encode() + b"\n")
        await self.proc.stdin.drain()
        try:
            return await asyncio.wait_for(future, wait)
        except TimeoutError:
            self._pending.pop(ident, None)
            raise self.error(
                f"{self.name}: no reply to {cmd} within {wait:.0f} s\n{self.stderr_text()}"
            ) from None

    async def wait_event(
        self, event: str, within: float = 10.0, *, after: int = 0
    ) -> dict[str, Any]:
        """Return the first `event` message at index >= `after` in `events`, waiting for it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            for message in self.events[after:]:
                if message["event"] == event:
                    return message
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise self.error(
                    f"{self.name}: no {event!r} event within {within} s; events: "
                    f"{self.events[after:]}\n{self.stderr_text()}"
                )
            self._event_seen.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event_seen.wait(), remaining)

    async def kill(self) -> None:
        """SIGKILL node: its sockets drop with no close frame and no farewell."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        await self._join()

    async def stop(self, grace: float = 5.0) -> None:
        """Close its stdin (the scripts then clean up and exit); kill it after `grace` s."""
        if self.proc is None:
            return
        if self.proc.returncode is None:
            with contextlib.suppress(Exception):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), grace)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        await self._join()

    async def _join(self) -> None:
        for task in self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)

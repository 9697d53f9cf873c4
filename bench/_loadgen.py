"""The Python handle on the Node load generator (bench/loadgen/main.mjs).

The generator is a long-lived Node process that takes one JSON command per line and answers
with one JSON line, so that it can hold a thousand sockets open between two commands while
the benchmark reads the server's memory.
"""

from __future__ import annotations

import json
import selectors
import subprocess
import time
from pathlib import Path
from typing import Any

from _servers import ROOT, pinned

MAIN = ROOT / "bench" / "loadgen" / "main.mjs"


class LoadGenError(RuntimeError):
    """The generator reported an error or stopped answering."""


class LoadGen:
    """One Node generator process; `call` runs one workload command and returns its result."""

    def __init__(self, log_path: Path, cpus: set[int] | None) -> None:
        self._log = log_path.open("a")
        self.proc = subprocess.Popen(
            ["node", str(MAIN)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
            preexec_fn=pinned(cpus),
        )
        self._selector = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        self._selector.register(self.proc.stdout, selectors.EVENT_READ)

    def call(self, cmd: str, timeout: float = 180.0, **params: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **params}) + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._selector.select(remaining):
                raise LoadGenError(f"load generator: no answer to {cmd} within {timeout:.0f} s")
            line = self.proc.stdout.readline()
            if not line:
                raise LoadGenError(f"load generator exited ({self.proc.poll()}) during {cmd}")
            if line.strip():
                break
        reply = json.loads(line)
        if not reply.get("ok"):
            raise LoadGenError(f"load generator: {cmd} failed: {reply.get('error')}")
        result: dict[str, Any] = reply["result"]
        return result

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write('{"cmd": "quit"}\n')
                self.proc.stdin.flush()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._selector.close()
        self._log.close()

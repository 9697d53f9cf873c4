"""Start, observe and stop the three servers under test, each as its own process.

Taskly (`taskly serve`), pycrdt-websocket's stock ASGIServer on uvicorn
(bench/baselines/pycrdt_ws_server.py) and the Node reference server @y/websocket-server
0.1.1. Each prints one line when it accepts connections; we read the real port from it.
Taskly requires a token on every connection: its Server carries one (a personal access token
made before the start, see _taskly_store.provision_token) and its URLs pass it as `?token=`;
the baselines take none.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"

TASKLY = "taskly"
PYCRDT = "pycrdt-websocket"
NODE = "node-ws-server"
ALL_SERVERS = (TASKLY, PYCRDT, NODE)

#: The `taskly` executable; sync_bench.py --taskly-cmd points it at another build.
TASKLY_CMD = [str(VENV_BIN / "taskly")]

# Room name = URL path for both baselines; Taskly serves boards under /sync/.
URL_TEMPLATES = {
    TASKLY: "ws://{host}:{port}/sync/{room}",
    PYCRDT: "ws://{host}:{port}/{room}",
    NODE: "ws://{host}:{port}/{room}",
}

_LISTEN = re.compile(r"listening on http://([^:\s]+):(\d+)|running at '([^']+)' on port (\d+)")


class ServerFailed(RuntimeError):
    """The server did not come up (or died); the message holds the tail of its output."""


def pinned(cpus: set[int] | None) -> Callable[[], None] | None:
    """A preexec_fn pinning the child to `cpus` (None: let the kernel place it)."""
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def free_port() -> int:
    """A port the kernel considers free now (the Node server takes no port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running server process and how to reach it."""

    kind: str
    proc: subprocess.Popen[str]
    host: str
    port: int
    log_path: Path
    data_dir: Path | None = None
    token: str | None = field(default=None, repr=False)
    _drain: threading.Thread | None = field(default=None, repr=False)

    def url(self, room: str) -> str:
        """The room's WebSocket URL, with `?token=` when the server needs one."""
        url = URL_TEMPLATES[self.kind].format(host=self.host, port=self.port, room=room)
        return url if self.token is None else f"{url}?token={quote(self.token, safe='')}"

    def pids(self) -> list[int]:
        """The server process and its descendants."""
        return _tree(self.proc.pid)

    def rss_bytes(self) -> int:
        """Resident memory of the server process and its descendants."""
        return sum(_rss(pid) for pid in _tree(self.proc.pid))

    def metrics(self) -> dict[str, float]:
        """Taskly's /metrics as {name: value}, labelled series summed by name."""
        url = f"http://{self.host}:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            name_part, _, value = line.rpartition(" ")
            name = name_part.split("{", 1)[0]
            try:
                out[name] = out.get(name, 0.0) + float(value)
            except ValueError:
                continue
        return out

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGINT (Taskly flushes and compacts on it), then SIGKILL if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._drain is not None:
            self._drain.join(2)
        return self.proc.returncode

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (a console script may exec or fork; count them all)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _command(kind: str, data_dir: Path | None) -> tuple[list[str], dict[str, str]]:
    if kind == TASKLY:
        assert data_dir is not None
        return [*TASKLY_CMD, "serve", "--port", "0", "--data-dir", str(data_dir)], {}
    if kind == PYCRDT:
        script = ROOT / "bench" / "baselines" / "pycrdt_ws_server.py"
        return [str(VENV_BIN / "python"), str(script), "--port", "0"], {}
    if kind == NODE:
        script = ROOT / "node_modules" / "@y" / "websocket-server" / "src" / "server.js"
        return ["node", str(script)], {"HOST": "127.0.0.1", "PORT": str(free_port())}
    raise ValueError(f"unknown server {kind!r}")


def start_server(
    kind: str,
    log_dir: Path,
    *,
    cpus: set[int] | None,
    data_dir: Path | None = None,
    env: dict[str, str] | None = None,
    token: str | None = None,
    timeout: float = 60.0,
) -> Server:
    """Start `kind` and wait for its listening line; raise ServerFailed with its output.

    `token` is what its clients present (Taskly's: see _taskly_store.provision_token).
    """
    argv, extra_env = _command(kind, data_dir)
    log_path = log_dir / f"{kind}-{time.strftime('%H%M%S')}-{os.getpid()}.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env={**os.environ, **extra_env, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        preexec_fn=pinned(cpus),
    )
    assert proc.stdout is not None
    host, port = _await_listening(" ".join(argv), proc, proc.stdout, log, timeout)
    server = Server(kind, proc, host, port, log_path, data_dir, token)
    # Keep reading stdout so a chatty server never blocks on a full pipe.
    server._drain = threading.Thread(target=_copy, args=(proc.stdout, log), daemon=True)
    server._drain.start()
    return server


def _await_listening(
    what: str, proc: subprocess.Popen[str], stdout: IO[str], log: IO[str], timeout: float
) -> tuple[str, int]:
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(max(0.0, deadline - time.monotonic())):
                break
            line = stdout.readline()
            if not line:
                break  # EOF: the process exited
            log.write(line)
            log.flush()
            match = _LISTEN.search(line)
            if match:
                host = match.group(1) or match.group(3)
                return host, int(match.group(2) or match.group(4))
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    log.flush()
    tail = Path(log.name).read_text(errors="replace").splitlines()[-12:]
    raise ServerFailed(
        f"{what} did not report listening (exit {proc.returncode}):\n" + "\n".join(tail)
    )


def _copy(source: IO[str], sink: IO[str]) -> None:
    for line in source:
        sink.write(line)
        sink.flush()

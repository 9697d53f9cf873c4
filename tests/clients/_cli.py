"""Running the real `taskly` console script as a user would, against one client home."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e._harness import READY, StoreSpec, taskly_bin


def run_taskly(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`taskly ARGS` with TASKLY_CLIENT_HOME=`home` and no other TASKLY_* setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKLY_")}
    env["TASKLY_CLIENT_HOME"] = str(home)
    env["COLUMNS"] = "120"
    return subprocess.run(
        [taskly_bin(), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ok(home: Path, *args: str) -> str:
    """Run `taskly ARGS`, require exit 0, return stdout."""
    result = run_taskly(home, *args)
    assert result.returncode == 0, (
        f"`taskly {' '.join(args)}` exited {result.returncode}\n"
        f"stdout: {result.stdout}\nstderr: {result.stderr}"
    )
    return result.stdout


def one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    """Assert a failure of the CLI's contract: non-zero, one `taskly: …` line, no traceback."""
    assert result.returncode != 0, f"expected a failure, got 0\nstdout: {result.stdout}"
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("taskly: "), (
        f"stderr must be one `taskly: …` line, got:\n{result.stderr}"
    )
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class FixedPortServer:
    """`taskly serve` on a fixed port, so that a client's stored server URL survives restarts
    (the e2e harness's servers take a new random port on every start)."""

    store: StoreSpec
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)
    pump: threading.Thread | None = None

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        """Start and wait for the ready line."""
        self.store.provision()
        self.proc = subprocess.Popen(
            [taskly_bin(), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
            + ["--data-dir", str(self.store.data_dir)],
            env=self.store.cli_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()
        proc = self.proc

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                self.output.append(line.rstrip("\n"))
                if READY.match(line.rstrip("\n")):
                    ready.set()
            ready.set()

        self.pump = threading.Thread(target=pump, daemon=True)
        self.pump.start()
        if not ready.wait(timeout) or proc.poll() is not None:
            self.stop()
            pytest.fail("`taskly serve` did not start:\n" + "\n".join(self.output))

    def stop(self) -> int:
        """SIGINT (Ctrl-C) and wait; return the exit status."""
        proc = self.proc
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(2)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.pump is not None:
            self.pump.join(5)
        if proc.stdout is not None:
            proc.stdout.close()
        self.proc = None
        return proc.returncode

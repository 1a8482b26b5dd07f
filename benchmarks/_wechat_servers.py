"""Run the servers under test as uvicorn subprocesses pinned to one core, and read their
start-up time and memory from outside."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
#: Identical for both servers, so the only difference is the app.
UVICORN_OPTIONS = ["--host", "127.0.0.1", "--workers", "1", "--no-access-log",
                   "--log-level", "warning", "--loop", "uvloop", "--http", "httptools"]
SERVER_CPU = 0
LOADGEN_CPU = 1


def pin_load_generator() -> bool:
    """Keep this process (and wrk, its child) off the server's core; False on one core."""
    if len(os.sched_getaffinity(0)) < 2 or (os.cpu_count() or 1) < 2:
        return False
    os.sched_setaffinity(0, {LOADGEN_CPU})
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """One uvicorn process serving `factory` on a free port."""

    name: str
    factory: str
    env: dict[str, str] = field(default_factory=dict)
    pinned: bool = True
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    ready_s: float = 0.0
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_dir: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "O2O_PUBLIC_BASE_URL": self.url,
               **self.env}
        self.log = log_dir / f"{self.name}.log"
        cmd = [sys.executable, "-m", "uvicorn", "--factory", self.factory,
               "--port", str(self.port), *UVICORN_OPTIONS]
        pin = (lambda: os.sched_setaffinity(0, {SERVER_CPU})) if self.pinned else None
        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(cmd, cwd=log_dir, env=env, preexec_fn=pin,
                                        stdout=self.log.open("wb"), stderr=subprocess.STDOUT)

    def wait_ready(self, timeout_s: float = 900.0, path: str = "/healthz") -> float:
        """Seconds from launch until `path` answers 200 (for the real app: catalog loaded)."""
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"{self.name} server exited; see {self.log}:\n"
                                   + (self.log.read_text()[-3000:] if self.log else ""))
            try:
                if httpx.get(self.url + path, timeout=2.0).status_code == 200:
                    self.ready_s = time.perf_counter() - self.started_at
                    return self.ready_s
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} server not ready after {timeout_s:.0f} s")

    def memory_mb(self) -> tuple[float, float]:
        """(current RSS, peak RSS) of the server process in MB, from /proc."""
        assert self.process is not None
        values = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
        return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)

    def cpu_s(self) -> float:
        """User + system CPU seconds the server has used so far."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

"""Private, throw-away PostgreSQL (with PostGIS) and Redis servers for the fault drill.

The drill stops and restarts its database and its Redis; doing that to the machine's shared
servers would break everyone else's tests. These run on their own ports under a temporary
directory, PostgreSQL as the `postgres` user (initdb refuses root), and go away after.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import time
from pathlib import Path

import sqlalchemy as sa

from benchmarks.drill_lib import free_port
from o2o.db.engine import make_engine


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed")
    return found[-1]


class PrivatePostgres:
    """An initdb'd cluster on its own port, listening on 127.0.0.1 only."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.root = root / "pg"
        self.data = self.root / "data"
        root.chmod(0o711)  # a private temp dir is root's alone: postgres must pass through
        self.root.mkdir(parents=True)
        shutil.chown(self.root, "postgres", "postgres")
        self._as_postgres(_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U",
                          "postgres", "--no-sync", "-E", "UTF8")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/drill"

    def _as_postgres(self, *args: str) -> None:
        done = subprocess.run(["runuser", "-u", "postgres", "--", *args], check=False,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120,
                              cwd="/tmp", text=True)
        if done.returncode:
            raise subprocess.CalledProcessError(done.returncode, args[0], stderr=done.stderr)

    def start(self) -> None:
        self._as_postgres(
            _pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-w",
            "-t", "60", "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.root} -c shared_buffers=32MB "
            "-c max_connections=60", "start")

    def stop(self) -> None:
        self._as_postgres(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                          "-t", "60", "stop")

    def create_database(self) -> None:
        admin = make_engine(self.url.rsplit("/", 1)[0] + "/postgres",
                            isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("CREATE DATABASE drill"))
        admin.dispose()
        engine = make_engine(self.url)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE EXTENSION postgis"))
        engine.dispose()

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """redis-server on its own port, no persistence."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done = subprocess.run(["redis-cli", "-p", str(self.port), "ping"],
                                  capture_output=True, text=True, check=False)
            if done.stdout.strip() == "PONG":
                return
            time.sleep(0.1)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


def have_tools() -> bool:
    """Whether this machine can run the drill (PostgreSQL binaries, redis-server, root)."""
    return bool(glob.glob("/usr/lib/postgresql/*/bin/initdb")) and \
        shutil.which("redis-server") is not None and shutil.which("runuser") is not None \
        and os.geteuid() == 0

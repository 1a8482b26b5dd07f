"""`o2o serve` on a fresh directory: migrates, loads the demo chain, answers."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_from_an_empty_directory(tmp_path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("O2O_")}
    proc = subprocess.Popen([sys.executable, "-m", "o2o.cli", "serve", "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        health = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.3)
        assert health is not None, proc.stdout.read() if proc.poll() is not None else "no answer"
        assert health.status_code == 200 and health.json()["status"] == "ok"
        metrics = httpx.get(f"{base}/metrics", timeout=5)  # from this machine: allowed
        outlets = next(line for line in metrics.text.splitlines()
                       if line.startswith("o2o_index_outlets "))
        assert float(outlets.split()[1]) >= 200  # the demo chain
        assert httpx.get(f"{base}/docs", timeout=5).status_code == 200
        nearby = httpx.get(f"{base}/api/v1/nearby",
                           params={"lat": 31.2304, "lng": 121.4737, "k": 3}, timeout=5).json()
        assert len(nearby["results"]) == 3
        assert (tmp_path / "o2o.db").exists()  # the embedded default lives where it was run
        banner = _banner(proc)
        reply = _try_it(banner, tmp_path, env)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    out = banner + out
    assert f"WeChat endpoint   {base}/wechat" in out
    assert "离您最近：" in reply  # the banner's "Try it", run as printed, gets the nearest outlet
    # Nothing that reads like trouble on a first start: no traceback, no error, no
    # migration narration.
    assert "Traceback" not in out and "ERROR" not in out and "alembic" not in out, out


def _banner(proc: subprocess.Popen[str]) -> str:
    """The lines printed before serving, up to the "Try it" one."""
    lines = []
    while not lines or "Try it" not in lines[-1]:
        line = proc.stdout.readline()
        assert line, "".join(lines)
        lines.append(line)
    return "".join(lines)


def _try_it(banner: str, cwd, env: dict[str, str]) -> str:  # type: ignore[no-untyped-def]
    """Run the banner's "Try it" command in a shell without the venv on PATH."""
    command = banner.splitlines()[-1].split("Try it", 1)[1].strip()
    result = subprocess.run(command, shell=True, cwd=cwd, capture_output=True, text=True,
                            env={**env, "PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return result.stdout


def _children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += [int(c) for c in f.read().split()]
    return found


def _maps(pid: int, name: str) -> bool:
    with open(f"/proc/{pid}/maps") as f:
        return any(line.rstrip().endswith(name) for line in f)


def test_workers_share_one_catalog_snapshot_and_the_parent_loads_none(tmp_path) -> None:
    """Two workers map the same host snapshot (one copy of the outlets per host); the
    parent only prepared the database and counted the outlets."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("O2O_")}
    env["O2O_STATE_DIR"] = str(tmp_path / "state")
    proc = subprocess.Popen([sys.executable, "-m", "o2o.cli", "serve", "--port", str(port),
                             "--workers", "2"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        banner = _banner(proc)
        assert re.search(r"o2o serving \d{3} outlets from ", banner)  # counted, not loaded
        deadline = time.monotonic() + 90
        workers: list[int] = []
        while time.monotonic() < deadline:
            workers = [w for w in _children(proc.pid) if _maps(w, "catalog.columns")]
            if len(workers) == 2:
                break
            time.sleep(0.3)
        assert len(workers) == 2, "both workers map the snapshot"
        assert not _maps(proc.pid, "catalog.columns")
        snapshots = [p.name for p in (tmp_path / "state").iterdir() if p.name.startswith("catalog")]
        assert sorted(snapshots) == ["catalog.columns", "catalog.columns.lock"]
    finally:
        proc.terminate()
        proc.communicate(timeout=30)

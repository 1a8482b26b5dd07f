"""What the fault drill and the resilience tests share: a real `o2o serve` process, a
client that plays WeChat faithfully, and the ledger of what the clients were told.

WeChat, as played here: every push signed and encrypted (安全模式), a 5 s timeout, and up to
3 tries of the same message (same MsgId) when a try times out or fails. A reply that
reached the client is an acknowledgement: its query must be stored exactly once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

from o2o.db.engine import make_engine
from o2o.wechat.context import HandlerContext
from o2o.wechat.parsing import parse_message
from o2o.wechat.simulator import build_request, decode_reply, location_xml

TOKEN, APPID = "drill-token", "wxdrill000000001"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TRIES, TIMEOUT_S = 3, 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(database_url: str, state_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a drill server: fixed test secrets, development mode."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("O2O_")}
    env.update(O2O_DATABASE_URL=database_url, O2O_STATE_DIR=str(state_dir),
               O2O_WECHAT_TOKEN=TOKEN, O2O_WECHAT_AES_KEY=AES_KEY, O2O_WECHAT_APPID=APPID,
               O2O_WECHAT_SECRET="drill-secret", O2O_SIGNING_KEY="drill-signing-key-0123456789",
               O2O_CUSTOMER_HASH_KEY="drill-customer-hash-key", O2O_LOAD_DEMO_DATA="false",
               O2O_CATALOG_POLL_S="0.25", PYTHONPATH=os.getcwd(),
               # Every phone and till of the drill is one address and a few customers: the
               # abuse limits are for guessers, not for the load the drill stands for.
               O2O_LIMIT_CLAIMS_PER_IP="1000000/60", O2O_LIMIT_CLAIMS_PER_CUSTOMER="1000000/60",
               O2O_LIMIT_COUPON_TRIES_PER_STAFF="1000000/60",
               O2O_LIMIT_SEARCHES_PER_CUSTOMER="1000000/60", **extra)
    return env


class Server:
    """`o2o serve --workers N` as a child process, its output kept in a file."""

    def __init__(self, env: dict[str, str], *, workers: int = 2, port: int | None = None,
                 log: Path) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "o2o.cli", "serve", "--port", str(self.port),
                 "--workers", str(workers)], env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)

    def wait_listening(self, timeout_s: float = 90) -> float:
        """Seconds until it answers HTTP at all (any status)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.output()}")
            try:
                httpx.get(f"{self.base}/healthz", timeout=2)
                return time.monotonic() - start
            except httpx.TransportError:
                time.sleep(0.2)
        raise TimeoutError(f"server not answering: {self.output()}")

    def wait_healthy(self, timeout_s: float = 60, in_a_row: int = 4) -> float:
        """Seconds until /healthz says ok `in_a_row` times (requests land on any worker)."""
        start, good = time.monotonic(), 0
        while time.monotonic() - start < timeout_s:
            try:
                ok = httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                ok = False
            good = good + 1 if ok else 0
            if good >= in_a_row:
                return time.monotonic() - start
            time.sleep(0.1)
        raise TimeoutError(f"server not healthy within {timeout_s} s")

    def workers(self) -> list[int]:
        """The worker processes' ids (the supervisor's children)."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            pids = [int(p) for p in path.read_text().split()]
        except OSError:
            return []
        return [p for p in pids if "multiprocessing" in _cmdline(p) or "spawn" in _cmdline(p)]

    def terminate(self, timeout_s: float = 30) -> int:
        """SIGTERM, as a deploy does; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            raise

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:
        return ""


@dataclass
class Ledger:
    """What the clients saw, per phase."""

    sent: Counter[str] = field(default_factory=Counter)
    #: The query keys (`query:<id>`) of the pushes whose reply reached the client.
    answered: dict[str, set[str]] = field(default_factory=dict)
    errors_5xx: Counter[str] = field(default_factory=Counter)
    timeouts: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    given_up: Counter[str] = field(default_factory=Counter)

    def all_answered(self) -> set[str]:
        return set().union(*self.answered.values()) if self.answered else set()


class WeChat:
    """Plays WeChat's server: one location push at a time, retried as WeChat retries."""

    def __init__(self, base: str, ledger: Ledger, *, who: int = 0) -> None:
        self.url = f"{base}/wechat"
        self.ledger = ledger
        self.who = who
        self.http = httpx.Client(timeout=TIMEOUT_S)
        #: The article links of the last reply (what a customer would tap).
        self.links: list[str] = []

    def push(self, msg_id: int, phase: str, *, lat: float = 31.2304,
             lng: float = 121.4737) -> bool:
        """Send one location message; True once a reply was received (an acknowledgement)."""
        self.ledger.sent[phase] += 1
        xml = location_xml(lat, lng, from_user=f"o-drill-{self.who}-{msg_id % 97}",
                           msg_id=msg_id, create_time=int(time.time()))
        for _ in range(TRIES):
            query, body = build_request(xml, token=TOKEN, aes_key=AES_KEY, appid=APPID)
            try:
                reply = self.http.post(self.url, params=query, content=body)
            except httpx.TimeoutException:
                self.ledger.timeouts[phase] += 1
                continue
            except httpx.TransportError:
                self.ledger.refused[phase] += 1
                time.sleep(0.2)
                continue
            if reply.status_code >= 500:
                self.ledger.errors_5xx[phase] += 1
                continue
            if reply.status_code == 200:
                decoded = decode_reply(reply.text, token=TOKEN, aes_key=AES_KEY, appid=APPID,
                                       encrypted=True)
                self.links = [a["url"] for a in decoded.articles if a.get("url")]
                self.ledger.answered.setdefault(phase, set()).add(query_key(xml))
                return True
        self.ledger.given_up[phase] += 1
        return False

    def close(self) -> None:
        self.http.close()


def query_key(xml: str) -> str:
    """The dedup key the server stores a location push's query under (o2o.wechat.context)."""
    message = parse_message(xml, max_bytes=64 * 1024)
    ctx = HandlerContext(None, None, None, None, None, "")  # type: ignore[arg-type]
    return f"query:{ctx.query_id(message)}"


def stored_queries(database_url: str) -> Counter[str]:
    """Query events by their dedup key (one key per delivered message)."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT dedup_key FROM events WHERE type = 'query'"))
            return Counter(r[0] for r in rows)
    finally:
        engine.dispose()


def lost_and_doubled(database_url: str, answered: set[str]) -> tuple[int, int]:
    """(answered pushes without a stored query, answered pushes stored more than once)."""
    stored = stored_queries(database_url)
    return sum(1 for key in answered if key not in stored), \
        sum(1 for key in answered if stored[key] > 1)

"""Fault drill: a steady mixed load against `o2o serve --workers 2` on PostGIS with Redis
while things break, then a ledger check of what the clients were told.

    python -m benchmarks.drill            # the full drill, writes its RESULTS.md section
    python -m benchmarks.drill --short    # the CI form (tests/test_drill.py), ~1.5 minutes
    python -m benchmarks.drill --short --no-journal   # the planted fault: rows are lost

It runs its own PostgreSQL cluster and Redis on private ports (stopping the machine's shared
servers would break everyone else's tests). Clients play WeChat (signed, encrypted pushes,
5 s timeout, up to 3 tries of the same MsgId) and customers open the reply's links and claim
the coupons offered there. Faults,
in turn: kill -9 of a worker; PostgreSQL restarted; Redis stopped and started; PostgreSQL
stopped with the workers killed during the outage; SIGTERM to the whole server and a restart.
A cashier redeems the claimed coupons at the console till meanwhile, tapping twice. Then, on
the embedded default (SQLite, `benchmarks/drill_disk.py`), the database's disk fills up and
is freed. Afterwards every reply a client received must have exactly one stored query, every
acknowledged redemption exactly one stored redemption, and no coupon is redeemed twice.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

from benchmarks import drill_disk
from benchmarks._results import table, write_section
from benchmarks.drill_lib import Ledger, Server, WeChat, free_port, lost_and_doubled, server_env
from benchmarks.drill_services import PrivatePostgres, PrivateRedis
from benchmarks.drill_till import PACE_S as TILL_PACE_S
from benchmarks.drill_till import Cashier, TillLedger, make_cashier, stored_redemptions

CLIENTS = 3
#: Pause between one client's pushes (each client waits for its reply first).
PACE_S = 0.1


@dataclass
class Phase:
    name: str
    fault: Callable[[Drill], None]
    recovery_s: float | None = None


@dataclass
class Drill:
    root: Path
    journal: bool = True
    dwell_s: float = 4.0
    pg: PrivatePostgres = field(init=False)
    redis: PrivateRedis = field(init=False)
    server: Server = field(init=False)
    ledger: Ledger = field(default_factory=Ledger)
    h5: Counter[tuple[str, str]] = field(default_factory=Counter)
    till: TillLedger = field(default_factory=TillLedger)
    cashier_id: int = 0
    phase: str = "warm-up"
    stop: threading.Event = field(default_factory=threading.Event)
    port: int = field(default_factory=free_port)

    def env(self) -> dict[str, str]:
        extra = {"O2O_REDIS_URL": self.redis.url}
        if not self.journal:
            extra["O2O_WRITE_JOURNAL"] = "false"
        return server_env(self.pg.url, self.root / "state", **extra)

    def set_up(self) -> None:
        self.pg = PrivatePostgres(self.root)
        self.pg.start()
        self.pg.create_database()
        self.redis = PrivateRedis()
        self.redis.start()
        from o2o.catalog.demo import load_demo_if_empty
        from o2o.db.engine import make_engine, make_sessionmaker
        from o2o.migrate import upgrade

        engine = make_engine(self.pg.url)
        upgrade(engine)
        load_demo_if_empty(make_sessionmaker(engine))
        engine.dispose()
        self.cashier_id = make_cashier(self.pg.url)
        self.start_server()

    def start_server(self) -> None:
        self.server = Server(self.env(), port=self.port, log=self.root / "serve.log")
        self.server.wait_healthy(120)

    def tear_down(self) -> None:
        self.stop.set()
        try:
            self.server.terminate()
        finally:
            self.redis.stop()
            self.pg.destroy()

    # -- load ------------------------------------------------------------------------------

    def customer(self, who: int, budget_s: float) -> None:
        """One WeChat client pushing back to back, and the customer tapping the first link."""
        wechat = WeChat(f"http://127.0.0.1:{self.port}", self.ledger, who=who)
        end = time.monotonic() + budget_s
        try:
            for n in range(100_000):  # bounded by count and by time
                if self.stop.is_set() or time.monotonic() > end:
                    return
                phase = self.phase
                if wechat.push(who * 1_000_000 + n, phase) and wechat.links and n % 3 == 0:
                    self.open_link(wechat.http, wechat.links[0], phase)
                time.sleep(PACE_S)
        finally:
            wechat.close()

    def cashier(self, budget_s: float) -> None:
        """Staff redeeming the claimed coupons at the console till, tapping twice."""
        Cashier(f"http://127.0.0.1:{self.port}", self.pg.url, self.cashier_id,
                self.till).work(lambda: self.phase, self.stop, budget_s)

    def open_link(self, http: httpx.Client, url: str, phase: str) -> None:
        """Open the reply's page; where it offers a coupon, claim the first one."""
        try:
            page = http.get(url, follow_redirects=True)  # the click redirect, then the page
            self.h5[(phase, _outcome(page.status_code))] += 1
            found = _CLAIM_FORM.search(page.text) if page.status_code == 200 else None
            if found is None:
                return
            claim = http.post(str(page.url.join(html.unescape(found.group(1)))))
            acknowledged = claim.status_code == 303 and \
                "claimed=1" in claim.headers.get("location", "")
            self.h5[(phase, "claimed" if acknowledged else "claim " + _outcome(
                claim.status_code))] += 1
        except httpx.TimeoutException:
            self.h5[(phase, "timeout")] += 1
        except httpx.TransportError:
            self.h5[(phase, "refused")] += 1


_CLAIM_FORM = re.compile(r'<form method="post" action="([^"]+)"')


def _outcome(status: int) -> str:
    return "5xx" if status >= 500 else "ok" if status < 400 else "4xx"


# -- faults --------------------------------------------------------------------------------

def _none(_d: Drill) -> None:
    pass


def _kill_worker(d: Drill) -> None:
    os.kill(d.server.workers()[0], signal.SIGKILL)
    time.sleep(1)  # uvicorn notices within its 0.5 s tick and starts another


def _restart_postgres(d: Drill) -> None:
    d.pg.stop()
    time.sleep(2)
    d.pg.start()


def _restart_redis(d: Drill) -> None:
    d.redis.stop()
    time.sleep(3)
    d.redis.start()


def _outage_with_kills(d: Drill) -> None:
    """The issue's case: PostgreSQL down, the workers killed one after the other while they
    hold answered rows (each client's keep-alive connection sticks to one worker, so killing
    only one might hit an idle one), restarted by uvicorn during the outage."""
    d.pg.stop()
    time.sleep(3)
    for pid in d.server.workers():
        os.kill(pid, signal.SIGKILL)
        time.sleep(1.5)
    time.sleep(2)
    d.pg.start()


def _deploy(d: Drill) -> None:
    assert d.server.terminate() == 0, d.server.output()
    d.server = Server(d.env(), port=d.port, log=d.root / "serve.log")


PHASES = [Phase("steady", _none), Phase("kill -9 worker", _kill_worker),
          Phase("PostgreSQL restart", _restart_postgres), Phase("Redis restart", _restart_redis),
          Phase("PostgreSQL down, workers killed", _outage_with_kills),
          Phase("SIGTERM + restart", _deploy), Phase("after", _none)]
PLANTED = [Phase("steady", _none), Phase("PostgreSQL down, workers killed", _outage_with_kills)]


def run(*, short: bool, journal: bool = True, phases: list[Phase] | None = None,
        root: Path | None = None) -> list[dict[str, object]]:
    """Run the drill; one row per phase (counts, recovery time, lost and doubled rows)."""
    phases = [Phase(p.name, p.fault) for p in (phases or PHASES)]
    with tempfile.TemporaryDirectory(prefix="o2o-drill-") as tmp:
        drill = Drill(root or Path(tmp), journal=journal, dwell_s=3.0 if short else 15.0)
        drill.set_up()
        budget = len(phases) * (drill.dwell_s + 40) + 60
        clients = [threading.Thread(target=drill.customer, args=(who, budget))
                   for who in range(CLIENTS)]
        clients.append(threading.Thread(target=drill.cashier, args=(budget,)))
        try:
            for client in clients:
                client.start()
            for phase in phases:
                drill.phase = phase.name
                started = time.monotonic()
                phase.fault(drill)
                drill.server.wait_healthy(120)
                phase.recovery_s = time.monotonic() - started
                time.sleep(drill.dwell_s)
            drill.phase = "settle"
            drill.stop.set()
            for client in clients:
                client.join(30)
            rows = _ledger(drill, phases)
        finally:
            drill.tear_down()
    return rows


def _ledger(d: Drill, phases: list[Phase]) -> list[dict[str, object]]:
    """Per phase: what was sent and answered, failures seen, and answered rows lost or
    doubled (the journal gets a few seconds to be replayed)."""
    deadline = time.monotonic() + 20
    while True:
        lost_total, _ = lost_and_doubled(d.pg.url, d.ledger.all_answered())
        if lost_total == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    claims = _stored_claims(d.pg.url)
    acknowledged = sum(n for (_p, kind), n in d.h5.items() if kind == "claimed")
    till_lost, till_doubled = stored_redemptions(d.pg.url, set(d.till.acknowledged))
    rows = []
    for phase in phases:
        answered = d.ledger.answered.get(phase.name, set())
        lost, doubled = lost_and_doubled(d.pg.url, answered)
        rows.append({"phase": phase.name, "pushes": d.ledger.sent[phase.name],
                     "answered": len(answered), "5xx": d.ledger.errors_5xx[phase.name],
                     "timeouts": d.ledger.timeouts[phase.name],
                     "refused": d.ledger.refused[phase.name],
                     "given up": d.ledger.given_up[phase.name],
                     "h5 ok": d.h5[(phase.name, "ok")], "h5 5xx": d.h5[(phase.name, "5xx")],
                     "claims": d.h5[(phase.name, "claimed")],
                     "claims 5xx": d.h5[(phase.name, "claim 5xx")],
                     "redeemed": d.till.count(phase.name, "redeemed"),
                     "till 5xx": d.till.count(phase.name, "5xx"),
                     "till timeouts": d.till.count(phase.name, "timeout"),
                     "repeats refused": d.till.count(phase.name, "repeat already")
                     + d.till.count(phase.name, "already"),
                     "repeats redeemed": d.till.count(phase.name, "repeat redeemed")
                     + d.till.count(phase.name, "doubled ack")
                     + d.till.count(phase.name, "repeat doubled ack"),
                     "recovery s": phase.recovery_s, "lost": lost, "doubled": doubled})
    # A claim is acknowledged by its redirect to the coupon; each customer may hold one of
    # each demo promotion's coupons (two of one), so every acknowledgement is one new row.
    rows[-1]["claims lost"] = max(0, acknowledged - claims["coupons"])
    rows[-1]["claims doubled"] = claims["over limit"]
    rows[-1]["redemptions lost"], rows[-1]["redeemed twice"] = till_lost, till_doubled
    for row in rows[:-1]:
        row["claims lost"] = row["claims doubled"] = ""
        row["redemptions lost"] = row["redeemed twice"] = ""
    return rows


def _stored_claims(url: str) -> dict[str, int]:
    """Coupons stored, and customers holding more of a promotion's coupons than allowed."""
    from o2o.db.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            coupons = conn.execute(sa.text("SELECT count(*) FROM coupons")).scalar_one()
            over = conn.execute(sa.text(
                "SELECT count(*) FROM (SELECT c.customer_hash FROM coupons c JOIN promotions p "
                "ON p.id = c.promotion_id GROUP BY c.customer_hash, c.promotion_id, "
                "p.coupon_per_customer HAVING count(*) > p.coupon_per_customer) t")).scalar_one()
    finally:
        engine.dispose()
    return {"coupons": int(coupons), "over limit": int(over)}


def _cells(rows: list[dict[str, object]]) -> str:
    return table(list(rows[0]), [[f"{v:.1f}" if isinstance(v, float) else v
                                  for v in row.values()] for row in rows])


def _report(rows: list[dict[str, object]], disk: list[dict[str, object]], *,
            short: bool) -> None:
    body = (f"{'Short (CI) form' if short else 'Full drill'}: {CLIENTS} WeChat clients "
            f"pushing back to back ({PACE_S} s apart), one H5 page opened per third reply "
            "and the first coupon it offers claimed, "
            "`o2o serve --workers 2` on a private PostGIS cluster and Redis. Recovery = from "
            "the fault's start until /healthz answered ok 4 times in a row. Lost = replies a "
            "client received whose query is not stored; doubled = stored more than once. Claims "
            "(whole run): acknowledged (redirected to the coupon) but not stored, and customers "
            "holding more of a promotion's coupons than its limit. A cashier signed in to the "
            "console till redeems claimed coupons (read ten at a time, so it goes on through "
            f"outages) every {TILL_PACE_S} s (plus its requests), retries a try that failed "
            "with the same code and taps once more after each answer: redeemed = "
            "acknowledged (303 to the done page), repeats refused = second attempts (a retry "
            "after a failed try, or the second tap) answered 409 already redeemed, repeats "
            "redeemed = a second \"redeemed\" for one code (target 0); redemptions lost "
            "(whole run) = acknowledged but not stored redeemed with one redemption event, "
            "redeemed twice = coupons with more than one redemption event (target 0).\n\n"
            + _cells(rows)
            + f"\n\nDisk full, on the embedded default (SQLite): `o2o serve --workers 2` with "
            f"its database on a {drill_disk.DISK_MB} MB tmpfs of its own and its state dir (the "
            f"journal) elsewhere; {drill_disk.CLIENTS} WeChat clients push {drill_disk.PACE_S} s "
            "apart; a filler file takes the tmpfs's last byte, the load goes on, the filler is "
            "deleted. Recovery = from the deletion until every push answered while the disk was "
            "full is stored.\n\n" + _cells(disk))
    write_section("drill", "Fault drill (issue 17)", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="the CI form")
    parser.add_argument("--no-journal", action="store_true",
                        help="plant the fault: O2O_WRITE_JOURNAL=false")
    args = parser.parse_args()
    rows = run(short=args.short, journal=not args.no_journal,
               phases=PLANTED if args.no_journal else None)
    if args.no_journal:
        print(_cells(rows))
        return
    with tempfile.TemporaryDirectory(prefix="o2o-drill-") as tmp:
        disk = drill_disk.run(Path(tmp), dwell_s=5.0 if args.short else 15.0)
    _report(rows, disk, short=args.short)


if __name__ == "__main__":
    main()

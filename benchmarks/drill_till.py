"""The drill's cashier: redeems claimed coupons at the console till, as stores do.

Signed in through a real one-time login link (the confirm form, the session cookie, the
CSRF token), it posts `/staff/till/redeem` for a coupon a customer claimed, then posts the
same code again at once (a double tap); a try that timed out or failed is retried with the
same code (as a cashier does). A 303 to `done=` is an acknowledgement: that coupon must be
stored redeemed with exactly one redemption event; a second attempt must be refused (409).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import sqlalchemy as sa

from o2o.db.engine import make_engine

_CSRF = re.compile(r'name="csrf" value="([^"]*)"')
TIMEOUT_S, TRIES, PACE_S = 5.0, 3, 0.3


@dataclass
class TillLedger:
    """What the cashier saw, per phase: outcomes, and the codes acknowledged as redeemed."""

    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    acknowledged: dict[str, str] = field(default_factory=dict)  # code -> phase

    def count(self, phase: str, kind: str) -> int:
        return self.outcomes[(phase, kind)]


def make_cashier(database_url: str) -> int:
    """An active admin (every outlet in scope) for the till; its id."""
    from o2o.db.engine import make_sessionmaker
    from o2o.staff.models import Role, Staff

    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            staff = Staff(name="drill cashier", role=Role.ADMIN)
            session.add(staff)
            session.commit()
            return staff.id
    finally:
        engine.dispose()


class Cashier:
    def __init__(self, base: str, database_url: str, staff_id: int, ledger: TillLedger) -> None:
        self.base, self.staff_id, self.ledger = base, staff_id, ledger
        self.engine = make_engine(database_url, pool_pre_ping=True)
        self.http = httpx.Client(base_url=base, timeout=TIMEOUT_S)
        self.csrf = ""
        #: Codes customers hold, read ahead so the till keeps working through an outage.
        self.waiting: list[tuple[str, int]] = []

    def sign_in(self) -> bool:
        """Through the pages, as a person following the link; False while that fails."""
        from o2o.db.engine import make_sessionmaker
        from o2o.staff.login_links import create_login_link

        try:
            with make_sessionmaker(self.engine)() as session:
                token = create_login_link(session, staff_id=self.staff_id).token
                session.commit()
            form = self.http.get("/staff/login", params={"t": token})
            done = self.http.post("/staff/login", data={"t": token, "csrf": _csrf(form.text)})
            home = self.http.get("/staff/")
            if done.status_code != 303 or home.status_code != 200:
                return False
            self.csrf = _csrf(home.text)
            return bool(self.csrf)
        except (httpx.HTTPError, sa.exc.SQLAlchemyError, AttributeError):
            return False

    def work(self, phase: Callable[[], str], stop: threading.Event, budget_s: float) -> None:
        end = time.monotonic() + budget_s
        try:
            for _ in range(100_000):  # bounded by count and by time
                if stop.is_set() or time.monotonic() > end:
                    return
                if not self.csrf and not self.sign_in():
                    time.sleep(0.5)
                    continue
                found = self._claimed()
                if found is not None:
                    self._redeem(phase(), *found)
                time.sleep(PACE_S)
        finally:
            self.http.close()
            self.engine.dispose()

    def _claimed(self) -> tuple[str, int] | None:
        """A coupon a customer holds (shown at the till), with the outlet it was claimed at:
        the next of the newest ten read while the database answered."""
        if not self.waiting:
            try:
                with self.engine.connect() as conn:
                    rows = conn.execute(sa.text(
                        "SELECT code, outlet_id FROM coupons WHERE status = 'claimed' AND "
                        "outlet_id IS NOT NULL ORDER BY claimed_at DESC LIMIT 10")).all()
            except sa.exc.SQLAlchemyError:
                return None
            self.waiting = [(str(code), int(outlet)) for code, outlet in rows]
        return self.waiting.pop(0) if self.waiting else None

    def _redeem(self, phase: str, code: str, outlet_id: int) -> None:
        """Redeem `code`, retrying a try that failed; then tap again (must be refused)."""
        first = None
        for _ in range(TRIES):
            first = self._post(phase, code, outlet_id)
            if first not in ("timeout", "5xx", "refused"):
                break
        if first in ("redeemed", "already"):
            self._post(phase, code, outlet_id, repeat=True)

    def _post(self, phase: str, code: str, outlet_id: int, *, repeat: bool = False) -> str:
        try:
            answer = self.http.post("/staff/till/redeem", data={
                "csrf": self.csrf, "outlet_id": str(outlet_id), "code": code})
        except httpx.TimeoutException:
            kind = "timeout"
        except httpx.TransportError:
            kind = "refused"
            time.sleep(0.2)
        else:
            kind = _kind(answer)
        if kind == "redeemed":
            if code in self.ledger.acknowledged:
                kind = "doubled ack"  # told "redeemed" twice for one code
            else:
                self.ledger.acknowledged[code] = phase
        if kind == "signed out":  # sign in again before the next code
            self.csrf = ""
        self.ledger.outcomes[(phase, ("repeat " if repeat else "") + kind)] += 1
        return kind


def _kind(answer: httpx.Response) -> str:
    if answer.status_code == 303:
        where = answer.headers.get("location", "")
        return "redeemed" if "done=" in where else "signed out"
    if answer.status_code == 409:
        return "already"
    if answer.status_code in (401, 403):
        return "signed out"
    return "5xx" if answer.status_code >= 500 else f"{answer.status_code}"


def _csrf(page: str) -> str:
    match = _CSRF.search(page)
    return match.group(1) if match else ""


def stored_redemptions(database_url: str, codes: set[str]) -> tuple[int, int]:
    """(acknowledged codes not stored redeemed with one redemption event, coupons anywhere
    with more than one redemption event)."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT c.code, c.status, count(e.id) FROM coupons c LEFT JOIN events e ON "
                "e.type = 'redemption' AND e.dedup_key = 'redemption:' || c.id "
                "GROUP BY c.code, c.status")).all()
    finally:
        engine.dispose()
    by_code = {str(code): (str(status), int(n)) for code, status, n in rows}
    lost = sum(1 for code in codes if by_code.get(code, ("", 0)) != ("redeemed", 1))
    doubled = sum(1 for _status, n in by_code.values() if n > 1)
    return lost, doubled

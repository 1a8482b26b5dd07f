"""The access token and jsapi_ticket, shared by every worker and host (WeChat's 中控服务).

One value per credential lives in the store (Redis when configured, else this process).
Whoever first finds it due takes a lock with a TTL and refreshes it, once, ahead of expiry;
the others keep serving the old value, still valid, meanwhile (WeChat keeps old and new
access tokens valid for 5 minutes around a renewal), or, when there is no valid value at
all, wait briefly and read what the refresher stored. Force refresh (20 a day, 30 s apart,
invalidates the token for everyone) happens only when WeChat rejects a token that normal
mode still hands out. Nothing here runs on the /wechat reply path.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NoReturn, TypeVar

from o2o.wechat.platform.client import Credential, PlatformClient
from o2o.wechat.platform.errors import (
    PlatformError,
    PlatformUnavailable,
    QuotaExceeded,
    TokenRejected,
)
from o2o.wechat.platform.store import Store

T = TypeVar("T")

#: WeChat counts the force-refresh quota per day in China Standard Time.
_CST = timezone(timedelta(hours=8))
FORCE_PER_DAY = 20
FORCE_SPACING_S = 30.0
#: A value this close to its expiry is no longer handed out (clock skew, call latency).
SAFETY_S = 5.0
#: Never refresh ahead more often than this, whatever expires_in WeChat states.
MIN_REFRESH_INTERVAL_S = 10.0


@dataclass(frozen=True)
class Timing:
    """How the shared credentials are refreshed (seconds)."""

    #: Refresh this long before expiry: inside WeChat's 5-minute renewal window, so normal
    #: mode returns the new token while the old one stays valid for the others.
    refresh_ahead_s: float = 240.0
    #: The refresher's lock lives this long (longer than a fetch with all its retries).
    lock_ttl_s: float = 30.0
    #: How long a caller without any valid value waits for another worker's refresh.
    wait_s: float = 15.0
    poll_s: float = 0.05
    #: After a failed refresh nobody tries again for this long: callers get the old value
    #: while it is valid, else an immediate error (no retry storm on a WeChat outage).
    retry_after_s: float = 10.0


class SharedCredential:
    """One credential in the store with a single-flight refresh; `fetch(rejected)` gets a new one."""

    def __init__(self, *, name: str, store: Store, key: str,
                 fetch: Callable[[str | None], Credential], clock: Callable[[], float],
                 timing: Timing) -> None:
        self.name, self._store, self._key, self._fetch = name, store, key, fetch
        self._lock_key, self._cooldown_key = key + ":lock", key + ":cooldown"
        self._clock, self._timing = clock, timing

    def get(self) -> str:
        """The current value, refreshed first if it is due and nobody else is refreshing."""
        entry = self._store.get(self._key)
        if entry is not None and not self._due(entry):
            return str(entry["value"])
        cooldown = self._store.get(self._cooldown_key)
        if cooldown is not None and self._clock() < cooldown["until"]:
            # The last refresh failed moments ago: no call storm on a WeChat outage.
            valid = self._valid(entry, rejected=None)
            if valid is not None:
                return valid
            raise PlatformUnavailable(call=self.name, errcode=None,
                                      errmsg=f"{cooldown['error']} (next try in "
                                             f"{cooldown['until'] - self._clock():.0f} s)")
        return self._refresh(rejected=None)

    def replace(self, rejected: str) -> str:
        """A value other than `rejected` (which WeChat refused): another worker's, or a new one."""
        return self._refresh(rejected=rejected)

    def entry(self) -> dict[str, Any] | None:
        """What the store holds now: value, fetched_at, expires_at (epoch seconds)."""
        return self._store.get(self._key)

    def _valid(self, entry: dict[str, Any] | None, *, rejected: str | None) -> str | None:
        """The entry's value if it is not `rejected` and still valid for a while, else None."""
        if entry is None or entry["value"] == rejected:
            return None
        return str(entry["value"]) if self._clock() < entry["expires_at"] - SAFETY_S else None

    def _due(self, entry: dict[str, Any]) -> bool:
        refresh_at = max(entry["expires_at"] - self._timing.refresh_ahead_s,
                         entry["fetched_at"] + MIN_REFRESH_INTERVAL_S)
        return self._clock() >= refresh_at or self._valid(entry, rejected=None) is None

    def _refresh(self, *, rejected: str | None) -> str:
        deadline = time.monotonic() + self._timing.wait_s
        while True:
            owner = self._store.acquire(self._lock_key, ttl_s=self._timing.lock_ttl_s)
            if owner is not None:
                try:
                    return self._refresh_locked(rejected)
                finally:
                    self._store.release(self._lock_key, owner)
            # Another worker is refreshing: the old value while it is valid, else its new one.
            valid = self._valid(self._store.get(self._key), rejected=rejected)
            if valid is not None:
                return valid
            if time.monotonic() >= deadline:
                raise PlatformUnavailable(
                    call=self.name, errcode=None,
                    errmsg=f"another worker's refresh did not finish in {self._timing.wait_s:g} s")
            time.sleep(self._timing.poll_s)

    def _refresh_locked(self, rejected: str | None) -> str:
        entry = self._store.get(self._key)
        valid = self._valid(entry, rejected=rejected)
        if valid is not None and entry is not None and (rejected is not None
                                                        or not self._due(entry)):
            return valid  # another worker refreshed it while we waited for the lock
        try:
            credential = self._fetch(rejected)
        except PlatformError as exc:
            until = self._clock() + self._timing.retry_after_s
            self._store.put(self._cooldown_key, {"until": until, "error": exc.message},
                            ttl_s=self._timing.retry_after_s)
            if rejected is None and valid is not None:
                return valid  # still valid: serve it, try again after the cool-down
            raise
        now = self._clock()
        fresh = {"value": credential.value, "fetched_at": now,
                 "expires_at": now + credential.expires_in}
        self._store.put(self._key, fresh, ttl_s=max(1.0, credential.expires_in))
        return credential.value


class TokenService:
    """The access token and jsapi_ticket of one Official Account, shared through `store`."""

    def __init__(self, *, client: PlatformClient, store: Store,
                 clock: Callable[[], float] = time.time, timing: Timing | None = None) -> None:
        self.client, self._store, self._clock = client, store, clock
        timing = timing or Timing()
        self._prefix = f"o2o:wechat:{client.appid}:"
        self.token = SharedCredential(name="stable_token", store=store,
                                      key=self._prefix + "access_token",
                                      fetch=self._fetch_token, clock=clock, timing=timing)
        self.ticket = SharedCredential(name="getticket", store=store,
                                       key=self._prefix + "jsapi_ticket",
                                       fetch=self._fetch_ticket, clock=clock, timing=timing)
        client.on_error = self.record_error  # every failed call, from any caller, is seen

    def access_token(self) -> str:
        return self.token.get()

    def jsapi_ticket(self) -> str:
        return self.ticket.get()

    def call(self, api_call: Callable[[str], T]) -> T:
        """Run `api_call(access_token)`; a rejected token gets one refresh and one retry.
        A second rejection propagates: never a loop."""
        token = self.access_token()
        try:
            return api_call(token)
        except TokenRejected:
            return api_call(self.token.replace(token))

    def record_error(self, exc: PlatformError) -> None:
        """Keep the last API error (never a token) for /healthz, shared with the other workers."""
        error = {"call": exc.call, "errcode": exc.errcode, "errmsg": exc.errmsg,
                 "at": self._clock()}
        with contextlib.suppress(PlatformError):  # the store is down: /healthz reports Redis
            self._store.put(self._prefix + "last_error", error, ttl_s=7 * 24 * 3600)

    def status(self) -> dict[str, Any]:
        """For /healthz: the token's and ticket's age and remaining life, the last API error.
        Never a token or ticket."""
        now = self._clock()
        report: dict[str, Any] = {}
        for name, credential in (("access_token", self.token), ("jsapi_ticket", self.ticket)):
            entry = credential.entry()
            report[name] = None if entry is None else {
                "age_s": round(now - entry["fetched_at"], 1),
                "expires_in_s": round(entry["expires_at"] - now, 1)}
        error = self._store.get(self._prefix + "last_error")
        if error is not None:
            error["age_s"] = round(now - error.pop("at"), 1)
        report["last_error"] = error
        return report

    def _fetch_token(self, rejected: str | None) -> Credential:
        credential = self.client.stable_token()
        if rejected is None or credential.value != rejected:
            return credential
        # WeChat refused the very token normal mode still hands out: only force mode replaces it.
        self._spend_force_refresh()
        return self.client.stable_token(force_refresh=True)

    def _spend_force_refresh(self) -> None:
        """Count a force refresh against WeChat's limits (20 a day, 30 s apart), or refuse it."""
        now = self._clock()
        last = self._store.get(self._prefix + "force_last")
        if last is not None and now - last["at"] < FORCE_SPACING_S:
            self._refuse_force(f"the last one was {now - last['at']:.0f} s ago, WeChat needs "
                               f"{FORCE_SPACING_S:g} s between them")
        day = datetime.fromtimestamp(now, UTC).astimezone(_CST).strftime("%Y%m%d")
        count = self._store.incr(self._prefix + "force_count:" + day, ttl_s=2 * 24 * 3600)
        if count > FORCE_PER_DAY:
            self._refuse_force(f"{FORCE_PER_DAY} already used today (China time), WeChat's "
                               "daily limit")
        self._store.put(self._prefix + "force_last", {"at": now}, ttl_s=FORCE_SPACING_S * 2)

    def _refuse_force(self, why: str) -> NoReturn:
        exc = QuotaExceeded(call="stable_token", errcode=None, errmsg=f"force refresh refused: {why}")
        self.record_error(exc)
        raise exc

    def _fetch_ticket(self, rejected: str | None) -> Credential:
        return self.call(self.client.jsapi_ticket)

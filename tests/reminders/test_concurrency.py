"""Two job instances (two threads, each with its own WeChat client and connections) on the
same due reminders: each reminder is claimed by one of them and sent once."""

from __future__ import annotations

import threading
from collections import Counter

from o2o.reminders.job import RunResult, run_due
from o2o.reminders.models import ReminderStatus
from o2o.wechat.platform.standin import StandIn

from .conftest import T0, TEMPLATE, hours, reminders

CUSTOMERS = 12


def test_two_job_instances_send_each_reminder_once(services, settings, standin: StandIn, push,
                                                   give_coupon, make_platform) -> None:
    from o2o.customers.identity import customer_hash

    openids = [f"o_customer_{n:02d}" for n in range(CUSTOMERS)]
    for openid in openids:
        give_coupon(customer_hash(openid, settings.customer_hash_key), T0 + hours(72))
        push("subscribe_msg_popup", TEMPLATE, "accept", openid=openid)
        standin.consent(openid, TEMPLATE, "1")
    platforms = [make_platform() for _ in range(2)]
    for platform in platforms:
        platform.access_token()
    start = threading.Barrier(2)
    results: list[RunResult] = []

    def job(platform) -> None:  # type: ignore[no-untyped-def]
        start.wait()
        results.append(run_due(services.sessions, settings, platform, now=T0 + hours(48)))

    threads = [threading.Thread(target=job, args=(p,)) for p in platforms]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(r.sent for r in results) == CUSTOMERS
    assert sum(r.failed + r.skipped + r.retrying for r in results) == 0
    sent_to = Counter(m["touser"] for m in standin.messages)
    assert sent_to == Counter(openids)  # each customer exactly one message
    assert standin.count("message/template/subscribe") == CUSTOMERS  # and no refused resend
    assert {r.status for r in reminders(services)} == {ReminderStatus.SENT}

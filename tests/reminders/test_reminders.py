"""Coupon reminders end to end: WeChat's subscribe_msg_* pushes through /wechat (signed and
encrypted), the job driven with an explicit `now`, the stand-in recording every send."""

from __future__ import annotations

import sqlalchemy as sa

from o2o.coupons.models import Coupon, CouponStatus
from o2o.reminders.consent import record_intent
from o2o.reminders.job import TITLE, run_due
from o2o.reminders.models import ReminderStatus
from o2o.wechat.platform.standin import StandIn

from .conftest import OPENID, T0, TEMPLATE, hours, reminders

SEND = "message/template/subscribe"


def test_consent_sent_once_at_the_lead_time_then_delivery_recorded(
        services, settings, standin: StandIn, push, give_coupon, who, make_platform) -> None:
    coupon = give_coupon(who, T0 + hours(72))
    push("subscribe_msg_popup", TEMPLATE, "accept")
    (row,) = reminders(services)
    assert (row.coupon_id, row.status, row.due_at) == (coupon, ReminderStatus.PENDING,
                                                       T0 + hours(48))
    assert row.customer_hash == who and OPENID not in (row.sealed_openid or "")
    standin.consent(OPENID, TEMPLATE, "1")  # WeChat's side of the same accepted popup
    platform = make_platform()

    early = run_due(services.sessions, settings, platform, now=T0 + hours(47.9))
    assert early.as_dict() == {"sent": 0, "failed": 0, "skipped": 0, "retrying": 0}
    assert standin.count(SEND) == 0
    assert run_due(services.sessions, settings, platform, now=T0 + hours(48)).sent == 1
    assert run_due(services.sessions, settings, platform, now=T0 + hours(49)).sent == 0

    assert standin.count(SEND) == 1
    (message,) = standin.messages
    assert message["touser"] == OPENID and message["title"] == TITLE
    assert "拿铁第二杯半价" in message["data"]["content"]["value"]
    (row,) = reminders(services)
    assert (row.status, row.attempts, row.sealed_openid) == (ReminderStatus.SENT, 1, None)
    assert row.finished_at == T0 + hours(48)

    push("subscribe_msg_sent", TEMPLATE, "1000001", "success")
    assert reminders(services)[0].delivery == "success"


def test_a_retried_push_records_one_consent(services, client, settings, give_coupon,
                                            who) -> None:
    from o2o.wechat.simulator import build_request, event_xml
    from tests.conftest import TEST_AES_KEY

    from .conftest import APPID, TOKEN
    give_coupon(who, T0 + hours(72))
    xml = event_xml("subscribe_msg_popup", TEMPLATE, "accept", from_user=OPENID,
                    create_time=1_790_000_123)
    for _ in range(2):  # WeChat retries a push it got no answer to in 5 s
        query, body = build_request(xml, token=TOKEN, aes_key=TEST_AES_KEY, appid=APPID)
        assert client.post("/wechat", params=query, content=body).text == "success"
    assert len(reminders(services)) == 1


def test_never_without_consent(services, settings, standin: StandIn, push, give_coupon, who,
                               make_platform) -> None:
    give_coupon(who, T0 + hours(30))
    push("subscribe_msg_popup", TEMPLATE, "reject")
    push("subscribe_msg_popup", "another-template", "accept")  # not our template
    assert reminders(services) == []
    result = run_due(services.sessions, settings, make_platform(), now=T0 + hours(29))
    assert result.as_dict()["sent"] == 0 and standin.count(SEND) == 0


def test_a_consent_without_a_coupon_is_recorded_skipped(services, settings, standin, push,
                                                         make_platform) -> None:
    push("subscribe_msg_popup", TEMPLATE, "accept")
    (row,) = reminders(services)
    assert (row.status, row.reason, row.sealed_openid) == (ReminderStatus.SKIPPED,
                                                           "no coupon to remind of", None)
    run_due(services.sessions, settings, make_platform(), now=T0 + hours(1000))
    assert standin.count(SEND) == 0


def test_none_after_redemption(services, settings, standin: StandIn, push, give_coupon, who,
                               make_platform) -> None:
    coupon = give_coupon(who, T0 + hours(72))
    push("subscribe_msg_popup", TEMPLATE, "accept")
    standin.consent(OPENID, TEMPLATE, "1")
    with services.sessions.begin() as session:
        row = session.get(Coupon, coupon)
        row.status, row.redeemed_at = CouponStatus.REDEEMED, T0 + hours(5)
    assert run_due(services.sessions, settings, make_platform(),
                   now=T0 + hours(48)).skipped == 1
    (row,) = reminders(services)
    assert (row.status, row.reason) == (ReminderStatus.SKIPPED, "coupon redeemed")
    assert standin.count(SEND) == 0


def test_none_after_withdrawal_or_unfollowing(services, settings, standin: StandIn, push,
                                              give_coupon, who, make_platform) -> None:
    give_coupon(who, T0 + hours(72))
    push("subscribe_msg_popup", TEMPLATE, "accept")
    push("subscribe_msg_change", TEMPLATE)
    (row,) = reminders(services)
    assert (row.status, row.reason) == (ReminderStatus.SKIPPED, "consent withdrawn")

    push("subscribe_msg_popup", TEMPLATE, "accept")  # asks again: a new consent
    push("unsubscribe")
    standin.consent(OPENID, TEMPLATE, "1")
    run_due(services.sessions, settings, make_platform(), now=T0 + hours(48))
    assert [(r.status, r.reason) for r in reminders(services)] == [
        (ReminderStatus.SKIPPED, "consent withdrawn"),
        (ReminderStatus.SKIPPED, "customer unfollowed the account")]
    assert standin.count(SEND) == 0


def test_busy_is_retried_then_43101_recorded_failed(services, settings, standin: StandIn, push,
                                                    give_coupon, who, make_platform) -> None:
    give_coupon(who, T0 + hours(72))
    push("subscribe_msg_popup", TEMPLATE, "accept")
    platform = make_platform()
    platform.access_token()  # so that it is the send WeChat is busy for
    standin.fail("busy", times=2)  # the client's own retry is busy too
    due = T0 + hours(48)
    assert run_due(services.sessions, settings, platform, now=due).retrying == 1
    (row,) = reminders(services)
    assert (row.status, row.attempts) == (ReminderStatus.PENDING, 1)
    assert row.next_attempt_at == due + hours(1 / 60) and "errcode -1" in row.reason
    assert run_due(services.sessions, settings, platform, now=due + hours(0.01)).retrying == 0

    # A follower without a consent on WeChat's side (it was spent): 43101, final.
    standin.add_user(OPENID)
    assert run_due(services.sessions, settings, platform, now=due + hours(1)).failed == 1
    (row,) = reminders(services)
    assert (row.status, row.attempts, row.sealed_openid) == (ReminderStatus.FAILED, 2, None)
    assert "43101" in row.reason
    assert run_due(services.sessions, settings, platform, now=due + hours(5)).failed == 0
    assert [c.errcode for c in standin.calls if c.api == SEND] == [-1, -1, 43101]


def test_attempts_are_bounded(services, settings, standin: StandIn, push, give_coupon, who,
                              make_platform) -> None:
    give_coupon(who, T0 + hours(72))
    push("subscribe_msg_popup", TEMPLATE, "accept")
    platform = make_platform()
    platform.access_token()
    standin.fail("busy")  # until told otherwise
    now = T0 + hours(48)
    for _ in range(5):
        run_due(services.sessions, settings, platform, now=now)
        now += hours(1)
    (row,) = reminders(services)
    assert (row.status, row.attempts) == (ReminderStatus.FAILED, settings.reminder_attempts)


def test_the_coupon_page_binds_the_consent_to_its_coupon(services, push, give_coupon,
                                                         who) -> None:
    soon = give_coupon(who, T0 + hours(30))
    later = give_coupon(who, T0 + hours(90))
    with services.sessions.begin() as session:  # the page offered the button for `later`
        record_intent(session, customer_hash=who, coupon_id=later, now=T0)
    push("subscribe_msg_popup", TEMPLATE, "accept")
    push("subscribe_msg_popup", TEMPLATE, "accept")  # the intent's coupon is taken now
    push("subscribe_msg_popup", TEMPLATE, "accept")  # nothing left to remind of
    assert [(r.coupon_id, r.status) for r in reminders(services)] == [
        (later, ReminderStatus.PENDING), (soon, ReminderStatus.PENDING),
        (None, ReminderStatus.SKIPPED)]


def test_malformed_subscribe_lists_record_nothing(services, client) -> None:
    from o2o.wechat.simulator import build_request
    from tests.conftest import TEST_AES_KEY

    from .conftest import APPID, TOKEN
    for group in ("<SubscribeMsgPopupEvent><List><SubscribeStatusString>accept"
                  "</SubscribeStatusString></List></SubscribeMsgPopupEvent>",
                  "<SubscribeMsgPopupEvent>accept</SubscribeMsgPopupEvent>", ""):
        xml = (f"<xml><ToUserName>gh_x</ToUserName><FromUserName>{OPENID}</FromUserName>"
               f"<CreateTime>1790000000</CreateTime><MsgType>event</MsgType>"
               f"<Event>subscribe_msg_popup_event</Event>{group}</xml>")
        query, body = build_request(xml, token=TOKEN, aes_key=TEST_AES_KEY, appid=APPID)
        assert client.post("/wechat", params=query, content=body).text == "success"
    assert reminders(services) == []
    with services.sessions() as session:
        assert session.scalar(sa.text("SELECT count(*) FROM coupon_reminders")) == 0


def test_the_background_thread_sends_what_is_due(services, settings, standin: StandIn, push,
                                                 give_coupon, who, make_platform) -> None:
    import time

    from o2o.reminders.job import ReminderThread

    give_coupon(who, T0 + hours(2))  # inside the lead time: due at once
    push("subscribe_msg_popup", TEMPLATE, "accept")
    standin.consent(OPENID, TEMPLATE, "1")
    fast = settings.model_copy(update={"reminder_poll_s": 0.05})
    thread = ReminderThread(services.sessions, fast, make_platform()).start()
    try:
        deadline = time.monotonic() + 20
        while standin.count(SEND) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # a few more rounds: still one message
    finally:
        thread.close()
    assert standin.count(SEND) == 1
    assert reminders(services)[0].status == ReminderStatus.SENT


def test_serving_services_start_the_job_only_with_a_template(settings) -> None:
    from o2o.services import build_services

    for template, started in (("", False), (TEMPLATE, True)):
        svc = build_services(settings.model_copy(update={
            "wechat_subscribe_template_id": template, "reminder_poll_s": 30.0}),
            migrate=False, load_demo=False, sync=True)
        try:
            assert ("reminders" in svc.extras) is started
        finally:
            svc.close()

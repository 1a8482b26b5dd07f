"""`o2o reminders run --now ...`: the job once, from the command line, printing its counts."""

from __future__ import annotations

import json

import pytest

from o2o import config
from o2o.cli import main
from o2o.reminders.models import ReminderStatus
from o2o.wechat.platform.standin import StandIn

from .conftest import OPENID, T0, TEMPLATE, hours, reminders


def test_reminders_run_sends_what_is_due(services, settings, standin: StandIn, push, give_coupon,
                                         who, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    give_coupon(who, T0 + hours(72))
    push("subscribe_msg_popup", TEMPLATE, "accept")
    standin.consent(OPENID, TEMPLATE, "1")
    monkeypatch.setattr(config, "get_settings", lambda: settings)
    capsys.readouterr()

    assert main(["reminders", "run", "--now", (T0 + hours(47)).isoformat()]) == 0
    assert json.loads(capsys.readouterr().out)["sent"] == 0
    assert main(["reminders", "run", "--now", (T0 + hours(48)).isoformat()]) == 0
    assert json.loads(capsys.readouterr().out) == {"sent": 1, "failed": 0, "skipped": 0,
                                                   "retrying": 0}
    assert [r.status for r in reminders(services)] == [ReminderStatus.SENT]
    with pytest.raises(SystemExit) as usage:  # argparse: a clear usage error, nothing sent
        main(["reminders", "run", "--now", "yesterday"])
    assert usage.value.code == 2 and "--now" in capsys.readouterr().err

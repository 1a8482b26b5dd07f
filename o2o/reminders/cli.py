"""`o2o reminders run`: send the coupon reminders due now (once; `--loop` to keep going)."""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from typing import Any


def register(subparsers: Any) -> None:
    reminders = subparsers.add_parser("reminders", help="coupon reminders (only on consent)")
    tasks = reminders.add_subparsers(dest="task", required=True, metavar="TASK")
    run = tasks.add_parser("run", help="send the reminders due now, print what happened")
    run.add_argument("--now", type=datetime.fromisoformat,
                     help="ISO time to act as now (default: the clock)")
    run.add_argument("--loop", action="store_true",
                     help="keep running every O2O_REMINDER_POLL_S until Ctrl-C")
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from o2o.config import get_settings
    from o2o.reminders.job import run_due
    from o2o.services import build_services
    from o2o.wechat.platform import platform_of

    settings = get_settings()
    services = build_services(settings, sync=False)
    try:
        while True:
            now = args.now.astimezone(UTC) if args.now else None
            result = run_due(services.sessions, settings, platform_of(services), now=now)
            print(json.dumps(result.as_dict()), flush=True)
            if not args.loop:
                return 0
            time.sleep(max(1.0, settings.reminder_poll_s))
    finally:
        services.close()

"""`o2o purge` (retention) and `o2o analytics rollup` (fold events into funnel cells)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from o2o.config import Settings


def register(sub: argparse._SubParsersAction) -> None:
    purge = sub.add_parser(
        "purge", help="erase positions older than the retention age (numbers stay the same)")
    purge.add_argument("--days", type=int, default=None,
                       help="retention age in days (default: O2O_RETENTION_DAYS, 30)")
    purge.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")
    purge.set_defaults(func=run_purge)
    area = sub.add_parser("analytics", help="analytics maintenance")
    cmds = area.add_subparsers(dest="analytics_command", required=True, metavar="ACTION")
    rollup = cmds.add_parser("rollup", help="fold new events into the funnel cells")
    rollup.add_argument("--rebuild", action="store_true",
                        help="drop every cell and fold the whole event log again")
    rollup.set_defaults(func=run_rollup)


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    from o2o.db.engine import check_database, make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    try:
        check_database(engine)
        with make_sessionmaker(engine)() as session:
            yield session
    finally:
        engine.dispose()


def run_purge(args: argparse.Namespace) -> int:
    from o2o.analytics.retention import purge

    settings = Settings()
    days = settings.retention_days if args.days is None else args.days
    with _session(settings) as session:
        report = purge(session, retention_days=days, dry_run=args.dry_run)
    verb = "would erase" if report.dry_run else "erased"
    print(f"{verb} positions of {report.events_cleared} events and {report.customers_cleared} "
          f"customers older than {report.cutoff:%Y-%m-%d %H:%M} UTC ({days} days)")
    if report.rollup is not None:
        print(f"folded {report.rollup.events} events into funnel cells "
              f"(up to event {report.rollup.to_id})")
    return 0


def run_rollup(args: argparse.Namespace) -> int:
    from o2o.analytics.rollup import rebuild, roll_up

    with _session(Settings()) as session:
        report = rebuild(session) if args.rebuild else roll_up(session)
    if report.busy:
        print("events table busy; nothing folded this time (run again)")
        return 1
    print(f"folded {report.events} events into {report.cells} cells "
          f"(events {report.from_id + 1}..{report.to_id})")
    return 0

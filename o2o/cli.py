"""The `o2o` command: serve, import, simulate, staff, purge ... one module per area.

Each area module exposes `register(subparsers)`, which adds its commands with a `func`
taking the parsed arguments and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from o2o.errors import O2OError

AREAS = [
    "o2o.serve_cli",
    "o2o.catalog.cli",
    "o2o.catalog.region_cli",
    "o2o.wechat.cli",
    "o2o.staff.cli",
    "o2o.analytics.cli",
    "o2o.backup",
    "o2o.reminders.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="o2o", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in AREAS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # the area is not built yet; the rest still works
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from o2o.config import Settings
    from o2o.logs import configure

    try:
        settings = Settings()
        configure(settings.log_format, settings.log_level)
        return int(args.func(args) or 0)
    except O2OError as exc:
        # One clear sentence, not a traceback: this is configuration or input, not a bug.
        print(f"o2o: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if _is_settings_error(exc):
            print(f"o2o: invalid configuration: {exc}", file=sys.stderr)
            return 2
        logging.getLogger("o2o").exception("failed")
        return 1


def _is_settings_error(exc: Exception) -> bool:
    from pydantic import ValidationError

    return isinstance(exc, ValidationError)


if __name__ == "__main__":
    sys.exit(main())

"""`o2o serve` and `o2o migrate`: run the service; move the schema."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import shlex
import sys
import threading
import time
from pathlib import Path

from o2o.catalog import snapshot
from o2o.config import PLACEHOLDER, SECRET_FIELDS, Settings, get_settings
from o2o.errors import ConfigError, ServiceUnavailable

log = logging.getLogger("o2o.serve")


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="run the API and WeChat endpoint")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=run_serve)
    mig = sub.add_parser("migrate", help="upgrade (default) or downgrade the database schema")
    mig.add_argument("direction", choices=["upgrade", "downgrade"], nargs="?", default="upgrade")
    mig.add_argument("revision", nargs="?", default=None, help="default: head / base")
    mig.set_defaults(func=run_migrate)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    refuse_public_dev_token(Settings(), args.host)  # before any secret is generated
    settings = get_settings()
    hand_secrets_to_workers(settings)
    # Check, migrate and load the demo chain once, here, so a bad configuration fails
    # with one sentence before any worker starts, and workers never race to migrate.
    # An unreachable database this host has served before is an outage, not a bad
    # configuration: the workers start anyway (from the host's catalog snapshot) and this is
    # done as soon as the database answers.
    try:
        outlets: int | None = prepare_only(settings)
    except ServiceUnavailable as exc:
        if not (settings.state_path / snapshot.NAME).is_file():
            # Never served from this database on this host: a wrong URL, more likely than
            # an outage, and there would be nothing to answer from.
            raise
        print(f"warning: {exc}\n  workers start from the last catalog snapshot and journal "
              "their writes; the database is prepared when it answers", file=sys.stderr,
              flush=True)
        threading.Thread(target=_prepare_when_reachable, args=(settings,),
                         name="o2o-prepare", daemon=True).start()
        outlets = None
    os.environ["O2O_AUTO_MIGRATE"] = "false"
    base = f"http://{args.host}:{args.port}"
    if "public_base_url" not in settings.model_fields_set and not settings.is_production:
        # Development: links in replies point at where this server actually listens.
        os.environ["O2O_PUBLIC_BASE_URL"] = base
    get_settings.cache_clear()  # workers (and a single in-process worker) re-read the above
    print(_banner(settings, base, outlets), flush=True)
    uvicorn.run("api.app:create_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="warning", access_log=False)
    return 0


def prepare_only(settings: Settings) -> int:
    """Check and migrate the database (and fill an empty embedded one with the demo chain);
    the number of live outlets. The catalog itself is loaded by each worker, never here:
    at a million outlets a load in the parent would cost its time and memory for nothing."""
    import sqlalchemy as sa

    from o2o.catalog.models import Outlet
    from o2o.db import make_engine, make_sessionmaker
    from o2o.services import prepare_database

    engine = make_engine(settings.database_url)
    try:
        sessions = make_sessionmaker(engine)
        prepare_database(settings, engine, sessions, migrate=settings.auto_migrate,
                         load_demo=None)
        with sessions() as session:
            return session.scalar(sa.select(sa.func.count()).select_from(Outlet)
                                  .where(Outlet.deleted_at.is_(None))) or 0
    except sa.exc.OperationalError as exc:
        raise ServiceUnavailable(f"Cannot reach the database: {exc}") from exc
    finally:
        engine.dispose()


def _prepare_when_reachable(settings: Settings, *, first_pause_s: float = 0.5,
                            max_pause_s: float = 10.0) -> None:
    """Check and migrate (and load the demo chain) once the database answers."""
    pause = first_pause_s
    while True:
        try:
            prepare_only(settings)
            log.warning("database reachable again: checked and migrated")
            return
        except ServiceUnavailable:
            time.sleep(pause)
            pause = min(pause * 2, max_pause_s)
        except Exception:  # a real configuration error: said once, workers go on
            log.exception("preparing the database failed")
            return


def refuse_public_dev_token(settings: Settings, host: str) -> None:
    """Development's WeChat token is public: anyone who can reach the server could sign
    pushes with it. Loopback is fine; any other address needs real secrets."""
    if settings.public_dev_token and not _is_loopback(host):
        raise ConfigError(
            f"Refusing to listen on {host} with the public development WeChat token: set "
            "O2O_WECHAT_TOKEN and the other secrets (and O2O_ENV=production), or listen on "
            "127.0.0.1.")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def hand_secrets_to_workers(settings: Settings) -> None:
    """Put the secrets development filled in into the environment the workers inherit, so
    every worker signs with the same keys even when the secrets file could not be written."""
    for field, env in SECRET_FIELDS.items():
        if os.environ.get(env, "") in ("", PLACEHOLDER):
            os.environ[env] = getattr(settings, field)


def _banner(settings: Settings, base: str, outlets: int | None) -> str:
    db = settings.database_url.split("@")[-1]
    what = "the last snapshot's outlets" if outlets is None else f"{outlets} outlets"
    return "\n".join([
        f"o2o serving {what} from {db} ({settings.env.value})",
        f"  WeChat endpoint   {base}/wechat",
        f"  API docs          {base}/docs",
        f"  Health            {base}/healthz",
        f"  Nearby (JSON)     {base}/api/v1/nearby?lat=31.2304&lng=121.4737&crs=gcj02",
        f"  Demo H5 page      {base}/h5/demo",
        f"  Try it            {_o2o_command()} simulate location 31.2304 121.4737 "
        f"--url {base}/wechat",
    ])


def _o2o_command() -> str:
    """`o2o` as any shell can run it, venv on PATH or not, from any directory: the script
    beside this interpreter, else `python -m o2o.cli`."""
    script = Path(sys.executable).with_name("o2o")
    if not script.is_file():
        return f"{shlex.quote(sys.executable)} -m o2o.cli"
    return shlex.quote(str(script))


def run_migrate(args: argparse.Namespace) -> int:
    from o2o.db.engine import check_database, make_engine
    from o2o.migrate import downgrade, upgrade

    settings = Settings()
    engine = make_engine(settings.database_url)
    check_database(engine)
    if args.direction == "upgrade":
        upgrade(engine, args.revision or "head")
    else:
        downgrade(engine, args.revision or "base")
    engine.dispose()
    print(f"database {args.direction}d to {args.revision or ('head' if args.direction == 'upgrade' else 'base')}")
    return 0

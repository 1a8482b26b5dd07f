"""`o2o backup PATH`: a consistent copy of the embedded SQLite database, safe while serving.

SQLite's online backup API copies from one read transaction: in WAL mode the workers keep
writing meanwhile, and the copy is the database as of the moment it began (what was
committed, nothing half-done). The copy is written beside PATH and renamed into place, so
PATH is either the whole backup or absent. PostgreSQL has its own tool (`pg_dump`): the
command refuses and prints it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from o2o.errors import ValidationError


@dataclass(frozen=True)
class BackupReport:
    path: Path
    bytes: int
    pages: int


def pg_dump_command(database_url: str, path: str) -> str:
    """The `pg_dump` line for a PostgreSQL deployment (password left to PGPASSWORD/.pgpass)."""
    url = make_url(database_url)
    bare = URL.create("postgresql", username=url.username, host=url.host, port=url.port,
                      database=url.database, query=url.query)
    return (f"pg_dump --format=custom --file {shlex.quote(path)} "
            f"{shlex.quote(bare.render_as_string(hide_password=False))}")


def backup(database_url: str, path: Path) -> BackupReport:
    """Copy the SQLite database at `database_url` to the new file `path`."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise ValidationError(
            "o2o backup copies the embedded SQLite database; for PostgreSQL use pg_dump: "
            + pg_dump_command(database_url, str(path)))
    source = Path(url.database or "")
    if not url.database or url.database == ":memory:" or not source.is_file():
        raise ValidationError(f"No SQLite database file at {url.database or '(none)'}.")
    if path.exists():
        raise ValidationError(f"{path} exists already; a backup never overwrites a file.")
    if not path.parent.is_dir():
        raise ValidationError(f"No directory {path.parent} to write the backup in.")
    partial = path.with_name(f".{path.name}.partial")
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # all pages in one step: one snapshot, writers not held up (WAL)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            pages = int(dst.execute("PRAGMA page_count").fetchone()[0])
        finally:
            dst.close()
            src.close()
        with open(partial, "rb") as done:
            os.fsync(done.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    return BackupReport(path=path, bytes=path.stat().st_size, pages=pages)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cmd = sub.add_parser("backup", help="copy the embedded SQLite database to PATH while "
                                        "serving (PostgreSQL: prints the pg_dump command)")
    cmd.add_argument("path", type=Path, help="the new backup file (never overwritten)")
    cmd.set_defaults(func=run_backup)


def run_backup(args: argparse.Namespace) -> int:
    from o2o.config import Settings

    report = backup(Settings().database_url, args.path)
    print(f"backed up {report.pages} pages ({report.bytes} bytes) to {report.path}")
    return 0

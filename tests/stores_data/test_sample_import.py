"""The README's import example runs as printed, on the sample file the project ships."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]


def readme_import_line() -> list[str]:
    # The first one, under "Staff, managers and data" ("Setting up a chain" has its own).
    line = next(line.split("#")[0] for line in (ROOT / "README.md").read_text().splitlines()
                if line.startswith(".venv/bin/o2o import "))
    return shlex.split(line)


def run_as_printed(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`.venv/bin/o2o ...` from a checkout: this interpreter's o2o, the checkout's files."""
    (cwd / "stores_data").symlink_to(ROOT / "stores_data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("O2O_")}
    env["O2O_DATABASE_URL"] = f"sqlite:///{cwd / 'o2o.db'}"
    return subprocess.run([sys.executable, "-m", "o2o.cli", *argv[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_readme_import_line_imports_the_sample_quietly(tmp_path: Path) -> None:
    argv = readme_import_line()
    assert (ROOT / argv[2]).is_file()  # the file the README names ships with the project
    result = run_as_printed(argv, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("created 5, updated 0, unchanged 0, rejected 0")
    assert result.stderr == ""  # no Alembic narration, no secrets warning: nothing to read
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'o2o.db'}")
    with engine.connect() as conn:
        hours = conn.scalar(sa.text("SELECT hours FROM outlets WHERE code = 'SAMPLE-HZ-002'"))
        names = conn.scalars(sa.text("SELECT name FROM outlets ORDER BY code")).all()
    engine.dispose()
    assert '"sat": [["09:00", "22:00"]]' in hours and len(names) == 5


def test_no_good_rows_does_not_suggest_partial(tmp_path: Path) -> None:
    argv = readme_import_line()
    result = run_as_printed(argv[: argv.index("--columns")], tmp_path)  # headers unmapped
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("5 rows rejected; nothing imported (no row is valid")
    assert "--partial" not in last and "--columns" in last

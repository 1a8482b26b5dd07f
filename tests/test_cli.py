"""The `o2o` command as a user runs it: bad configuration is one sentence, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from o2o.db.engine import make_engine


def run(*args: str, env: dict[str, str] | None = None, cwd: str | None = None
        ) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("O2O_")}
    return subprocess.run([sys.executable, "-m", "o2o.cli", *args], env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def one_sentence(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("o2o: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_placeholder_secrets_refuse_production(tmp_path) -> None:
    result = run("serve", env={"O2O_ENV": "production",
                               "O2O_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    line = one_sentence(result)
    assert "Refusing to start in production" in line and "O2O_SIGNING_KEY" in line


def test_unreachable_database(tmp_path) -> None:
    result = run("serve", env={"O2O_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
                 cwd=str(tmp_path))
    assert "Cannot reach the database postgresql+psycopg://nobody@127.0.0.1:1/none" in \
        one_sentence(result)


def test_database_without_postgis(tmp_path, database_without_postgis: str) -> None:
    result = run("serve", env={"O2O_DATABASE_URL": database_without_postgis},
                 cwd=str(tmp_path))
    assert "has no PostGIS extension" in one_sentence(result)


def test_malformed_setting_is_one_sentence(tmp_path) -> None:
    result = run("serve", env={"O2O_WECHAT_AES_KEY": "too-short"}, cwd=str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "43-character" in result.stderr


@pytest.mark.parametrize("direction", ["upgrade", "downgrade"])
def test_migrate_both_ways(tmp_path, direction) -> None:
    env = {"O2O_DATABASE_URL": f"sqlite:///{tmp_path}/m.db"}
    assert run("migrate", env=env).returncode == 0
    result = run("migrate", direction, env=env)
    assert result.returncode == 0, result.stderr
    tables = set(sa.inspect(make_engine(env["O2O_DATABASE_URL"])).get_table_names())
    assert ("outlets" in tables) == (direction == "upgrade")


def test_simulate_does_not_repeat_the_servers_dev_secrets_warning(tmp_path) -> None:
    result = run("simulate", "text", "优惠", "--url", "http://127.0.0.1:9/wechat",
                 cwd=str(tmp_path))
    assert one_sentence(result).startswith("o2o: could not reach http://127.0.0.1:9/wechat")
    assert result.stderr.strip().count("\n") == 0, result.stderr  # that sentence and nothing else


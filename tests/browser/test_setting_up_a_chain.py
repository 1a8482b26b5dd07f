"""README "Setting up a chain", as a new user runs it: a fresh PostGIS database with no demo
data, a region, outlets imported with a region column, a manager for that region, and the
manager's dashboard showing that region (its API reads and the page in Chromium)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from o2o.config import Settings
from o2o.db.engine import make_engine
from tests.browser.test_dashboard import wait_ready
from tests.conftest import TEST_AES_KEY, _create_database, _drop, unavailable

STORES = """门店编号,门店名称,纬度,经度,region,hours
CX-SH-001,人民广场店,31.2304,121.4737,EC,Mo-Su 07:00-22:00
CX-SH-002,静安寺店,31.2237,121.4453,EC,Mo-Su 08:00-21:00
"""
EC = {"type": "Polygon", "coordinates": [[[119.0, 29.0], [123.0, 29.0], [123.0, 33.0],
                                          [119.0, 33.0], [119.0, 29.0]]]}


def o2o(*args: str, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("O2O_")}
    result = subprocess.run([sys.executable, "-m", "o2o.cli", *args], capture_output=True,
                            text=True, timeout=120, cwd=cwd,
                            env={**env, "O2O_DATABASE_URL": url})
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[str]:
    """A new, empty PostgreSQL database with PostGIS, migrated by `o2o migrate`."""
    admin, name, url = _create_database("o2o_chain")
    try:
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
        except sa.exc.SQLAlchemyError as exc:
            unavailable(f"PostGIS extension not installable: {str(exc).splitlines()[0]}")
        finally:
            engine.dispose()
        o2o("migrate", url=url, cwd=tmp_path)
        yield url
    finally:
        _drop(admin, name)


@pytest.fixture
def settings(fresh: str) -> Settings:
    """The `live` server's settings, on the fresh database (overrides the conftest one)."""
    return Settings(database_url=fresh, wechat_token="test-token", wechat_aes_key=TEST_AES_KEY,
                    wechat_appid="wxtestappid0001", wechat_secret="test-secret",
                    signing_key="test-signing-key-0123456789",
                    customer_hash_key="test-customer-hash-key", load_demo_data=False,
                    auto_migrate=False)


@pytest.mark.browser
def test_a_new_chain_on_postgis_up_to_the_managers_dashboard(fresh, live, browser, screenshot,
                                                             tmp_path):
    engine = make_engine(fresh)
    with engine.connect() as conn:  # no demo data: nothing at all
        assert conn.execute(sa.text("SELECT count(*) FROM outlets")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM regions")).scalar() == 0
    engine.dispose()
    (tmp_path / "ec.geojson").write_text(json.dumps(EC))
    (tmp_path / "stores.csv").write_text(STORES, encoding="utf-8")
    o2o("region", "create", "--code", "EC", "--name", "华东", "--boundary", "ec.geojson",
        url=fresh, cwd=tmp_path)
    listed = o2o("region", "list", url=fresh, cwd=tmp_path).stdout
    assert "EC 华东 (Asia/Shanghai, boundary, 0 outlets)" in listed
    o2o("import", "stores.csv", "--crs", "gcj02",
        "--columns", "code=门店编号,name=门店名称,lat=纬度,lng=经度", url=fresh, cwd=tmp_path)
    made = o2o("staff", "create", "--name", "华东经理", "--role", "manager", "--region", "EC",
               url=fresh, cwd=tmp_path).stdout
    token = re.search(r"^token:\s+(o2o_\S+)$", made, re.M).group(1)
    live.catalog.refresh()
    o2o("simulate", "location", "31.2304", "121.4737", "--url", f"{live.base_url}/wechat",
        "--token", "test-token", "--aes-key", TEST_AES_KEY, "--appid", "wxtestappid0001",
        url=fresh, cwd=tmp_path)  # a customer asks nearby (安全模式, the server's account)

    # The outlets' local day (Asia/Shanghai) may be the browser's (UTC) tomorrow.
    today = datetime.now(UTC).date()
    days = (today - timedelta(days=1), today + timedelta(days=1))
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=live.base_url, headers=auth) as http:
        scope = http.get("/api/v1/analytics/scope").json()
        assert [r["code"] for r in scope["regions"]] == ["EC"]
        assert sorted(o["code"] for o in scope["outlets"]) == ["CX-SH-001", "CX-SH-002"]
        funnel = http.get("/api/v1/analytics/funnel", params={
            "group_by": "region", "from": str(days[0]), "to": str(days[1])}).json()
        (row,) = funnel["rows"]
        assert (row["label"], row["counts"]["query"]) == ("华东", 1)
        assert http.get("/dashboard").status_code == 200

    browser.get(f"{live.base_url}/dashboard")
    browser.find_element("id", "token").send_keys(token)
    browser.find_element("css selector", "#login-form button").click()
    wait_ready(browser)
    assert "华东经理" in browser.find_element("id", "who").text
    options = [o.text for o in browser.find_elements("css selector", "#region option")]
    assert options == ["全部", "华东"]
    browser.execute_script(f"document.getElementById('from').value = '{days[0]}';"
                           f"document.getElementById('to').value = '{days[1]}';")
    browser.find_element("css selector", "#filters button[type=submit]").click()
    wait_ready(browser)
    assert "1 次 / 1 人" in browser.find_element("id", "funnel").text  # the customer's query
    assert "人民广场店 (CX-SH-001)" in browser.find_element("id", "outlets").text
    screenshot("dashboard")

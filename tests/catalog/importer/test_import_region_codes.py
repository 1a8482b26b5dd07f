"""The outlet importer's `region` column names region codes: an unknown or deactivated one is
a line-numbered reject like any other bad row (CLI and API), and nothing is written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from o2o.catalog.models import Outlet, Region
from o2o.staff.models import Role
from tests.factories import make_region
from tests.factories_staff import bearer, make_token

FILE = ("code,name,lat,lng,region\n"
        "A1,一号店,31.2304,121.4737,EAST\n"
        "A2,二号店,31.3,121.5,NOWHERE\n"
        "A3,三号店,31.3,121.6,\n"
        "A4,四号店,31.4,121.6,OLD\n")


@pytest.fixture
def regions(sessions):
    with sessions.begin() as s:
        make_region(s, code="EAST")
        make_region(s, code="OLD", active=False)


def placed(sessions) -> dict[str, str | None]:
    with sessions() as s:
        return dict(s.execute(sa.select(Outlet.code, Region.code).outerjoin(
            Region, Outlet.region_id == Region.id)).all())


def o2o(*args: str, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("O2O_")}
    return subprocess.run([sys.executable, "-m", "o2o.cli", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd, env={**env, "O2O_DATABASE_URL": url})


def test_cli_rejects_unknown_region_codes_by_line(db_url, sessions, regions, tmp_path):
    path = tmp_path / "stores.csv"
    path.write_text(FILE, encoding="utf-8")
    result = o2o("import", str(path), url=db_url, cwd=tmp_path)
    assert result.returncode == 1
    err = [line for line in result.stderr.splitlines() if line.startswith("  ")]
    assert err == [
        "  line 3: region: unknown region code 'NOWHERE' (create it first: o2o region create)",
        "  line 5: region: region 'OLD' is deactivated"]
    assert placed(sessions) == {}
    assert o2o("import", str(path), "--partial", url=db_url, cwd=tmp_path).returncode == 0
    assert placed(sessions) == {"A1": "EAST", "A3": None}


def test_api_rejects_unknown_region_codes_by_line(client, services, regions):
    with services.sessions.begin() as s:
        headers = bearer(make_token(s, Role.ADMIN))
    upload = {"files": {"file": ("stores.csv", FILE.encode())}, "headers": headers}
    r = client.post("/api/v1/outlets/import", data={"crs": "wgs84"}, **upload)
    assert r.status_code == 422
    assert [(d["line"], d["field"]) for d in r.json()["error"]["details"]] == \
        [(3, "region"), (5, "region")]
    assert placed(services.sessions) == {}
    r = client.post("/api/v1/outlets/import", data={"crs": "wgs84", "partial": "true"}, **upload)
    assert (r.json()["created"], r.json()["rejected"]) == (2, 2)
    assert placed(services.sessions) == {"A1": "EAST", "A3": None}

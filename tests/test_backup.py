"""`o2o backup`: a copy taken while the database is being written serves the same outlets,
promotions and coupons (HTTP through the app on the restored file); PostgreSQL is refused
with the pg_dump command; nothing is half-written or overwritten."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from o2o.backup import backup
from o2o.coupons.service import claim
from o2o.errors import ValidationError
from o2o.services import build_services
from tests.factories import make_outlet, make_promotion, make_region
from tests.factories_loop import a_customer, make_coupon_promotion
from tests.factories_staff import bearer, make_token
from tests.test_cli import run

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _served(settings: Any, token: str, code: str, outlet_id: int) -> dict[str, Any]:
    """What the app answers about outlets, promotions and one coupon on this database."""
    services = build_services(settings, migrate=False, load_demo=False, sync=False)
    try:
        with TestClient(create_app(settings, services=services)) as client:
            got = {path: client.get(path, headers=bearer(token)) for path in
                   ("/api/v1/outlets", "/api/v1/promotions",
                    f"/api/v1/coupons/{code}?outlet_id={outlet_id}",
                    "/api/v1/nearby?lat=31.2304&lng=121.4737&crs=wgs84")}
    finally:
        services.close()
    assert all(r.status_code == 200 for r in got.values()), {p: r.text for p, r in got.items()}
    return {path: r.json() for path, r in got.items()}


def test_a_backup_taken_while_writing_serves_the_same(settings, session, tmp_path: Path) -> None:
    region = make_region(session)
    outlets = [make_outlet(session, region=region, lat=31.2304 + i * 0.001) for i in range(3)]
    make_promotion(session, title="会员日")
    promo = make_coupon_promotion(session, outlets=outlets[:1], title="第二杯半价")
    coupon = claim(session, promotion_id=promo.id, customer_hash=a_customer(),
                   outlet_id=outlets[0].id, query_id=None, now=datetime.now(UTC))
    token = make_token(session, "admin")
    session.commit()
    before = _served(settings, token, coupon.code, outlets[0].id)
    assert len(before["/api/v1/outlets"]["items"]) == 3

    live = settings.database_url.removeprefix("sqlite:///")
    writer = sqlite3.connect(live, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a worker in the middle of a write transaction
    writer.execute("UPDATE outlets SET name = 'half-written' WHERE id = ?", (outlets[1].id,))
    try:
        report = backup(settings.database_url, tmp_path / "copy.db")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert report.path.is_file() and report.bytes > 0 and report.pages > 0
    assert not list(tmp_path.glob(".*partial"))

    restored = settings.model_copy(update={"database_url": f"sqlite:///{report.path}"})
    assert _served(restored, token, coupon.code, outlets[0].id) == before


def test_refusals_write_nothing(settings, tmp_path: Path) -> None:
    tmp_path = tmp_path / "backups"
    tmp_path.mkdir()
    existing = tmp_path / "there.db"
    existing.write_bytes(b"keep me")
    with pytest.raises(ValidationError, match="never overwrites"):
        backup(settings.database_url, existing)
    assert existing.read_bytes() == b"keep me"
    with pytest.raises(ValidationError, match="No directory"):
        backup(settings.database_url, tmp_path / "missing" / "x.db")
    with pytest.raises(ValidationError, match="No SQLite database file"):
        backup(f"sqlite:///{tmp_path}/nothing.db", tmp_path / "x.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["there.db"]


def test_the_command(settings, tmp_path: Path) -> None:
    ok = run("backup", str(tmp_path / "b.db"), env={"O2O_DATABASE_URL": settings.database_url},
             cwd=str(tmp_path))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("backed up ") and (tmp_path / "b.db").is_file()

    pg = run("backup", str(tmp_path / "pg.dump"),
             env={"O2O_DATABASE_URL": "postgresql+psycopg://o2o:secret@db:5432/o2o"},
             cwd=str(tmp_path))
    assert pg.returncode == 2 and "Traceback" not in pg.stderr
    assert f"pg_dump --format=custom --file {tmp_path}/pg.dump postgresql://o2o@db:5432/o2o" \
        in pg.stderr
    assert "secret" not in pg.stderr and not (tmp_path / "pg.dump").exists()

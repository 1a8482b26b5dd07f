"""Issue 19: what a staff token stores can never stop a start, and a refusal stores nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from o2o.audit.models import AuditEntry
from o2o.catalog.changes import latest_seq
from o2o.catalog.models import Outlet, Promotion
from o2o.services import build_services
from o2o.staff.models import Role
from tests.factories import make_outlet, make_promotion, make_region
from tests.factories_staff import bearer, make_token


@pytest.fixture
def chain(services):
    """Four outlets in EAST, a draft promotion, and an admin's token."""
    with services.sessions.begin() as s:
        east = make_region(s, code="EAST")
        ids = [make_outlet(s, code=f"E{i}", region=east, lat=31.2 + i / 100, lng=121.4).id
               for i in range(4)]
        promo = make_promotion(s, status="draft", code="P1").id
        token = make_token(s, Role.ADMIN)
    services.catalog.load()
    return {"ids": ids, "promo": promo, "admin": bearer(token)}


def stored(services, model, row_id):
    """The row as stored, every column, plus the audit log and change feed sizes."""
    with services.sessions() as s:
        row = s.execute(sa.select(model.__table__).where(model.id == row_id)).one()._asdict()
        audits = s.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
        return row, audits, latest_seq(s)


def test_eighty_new_tags_are_stored_served_and_survive_a_restart(client, services, chain):
    """Twenty new tags on each of four outlets: once the PATCH that passed 64 distinct tags
    answered 422 yet was saved, and the next start exited. Now every PATCH is a 200 and a
    restart serves them all."""
    for n, oid in enumerate(chain["ids"]):
        tags = [f"tag-{n}-{i}" for i in range(20)]
        r = client.patch(f"/api/v1/outlets/{oid}", json={"tags": tags},
                         headers={**chain["admin"], "If-Match": 'W/"1"'})
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 2 and sorted(r.json()["tags"]) == sorted(tags)
    near = {"lat": 31.2, "lng": 121.4, "crs": "wgs84", "tags": "tag-3-19,tag-3-0"}
    assert [o["code"] for o in client.get("/api/v1/nearby", params=near).json()["results"]] \
        == ["E3"]
    restarted = build_services(services.settings, migrate=False, load_demo=False, sync=False)
    try:
        hits = restarted.catalog.index.nearest(31.2, 121.4, 5, tags={"tag-0-7"})
        assert [restarted.catalog.outlet(h.id).code for h in hits] == ["E0"]
    finally:
        restarted.close()


@pytest.mark.parametrize("body", [
    {"tags": [f"t{i}" for i in range(21)]},       # over the per-outlet limit
    {"hours": {"mon": [["07:00", "25:00"]]}},      # not a time
    {"lat": 31.0, "lng": 121.0},                   # a position without its datum
])
def test_a_refused_outlet_change_stores_nothing(client, services, chain, body):
    oid = chain["ids"][0]
    before = stored(services, Outlet, oid)
    r = client.patch(f"/api/v1/outlets/{oid}", json=body,
                     headers={**chain["admin"], "If-Match": 'W/"1"'})
    assert r.status_code == 422
    assert stored(services, Outlet, oid) == before  # version 1, same row, no audit, no change


def test_a_refused_promotion_change_stores_nothing(client, services, chain):
    pid = chain["promo"]
    before = stored(services, Promotion, pid)
    r = client.patch(f"/api/v1/promotions/{pid}", json={"daily_start": "25:00"},
                     headers={**chain["admin"], "If-Match": 'W/"1"'})
    assert r.status_code == 422
    assert stored(services, Promotion, pid) == before

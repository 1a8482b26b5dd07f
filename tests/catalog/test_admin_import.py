"""Bulk import through the admin service: the CLI's validation, plus scope and audit."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from o2o.audit.models import AuditEntry
from o2o.catalog.admin_import import import_outlets
from o2o.catalog.changes import latest_seq
from o2o.catalog.models import Outlet
from o2o.catalog.runtime import Catalog
from o2o.errors import PermissionDenied, ValidationError
from o2o.geo.datum import to_wgs84
from o2o.staff.models import Role
from tests.factories import make_outlet, make_region
from tests.factories_staff import make_principal

HEADER = "Store Number,name,lat,lng,region,phone\n"


@pytest.fixture
def world(session):
    east, west = make_region(session, code="EAST"), make_region(session, code="WEST")
    make_outlet(session, code="W1", region=west)
    people = {"admin": make_principal(session, Role.ADMIN),
              "manager": make_principal(session, Role.MANAGER, regions=[east]),
              "clerk": make_principal(session, Role.STAFF)}
    session.commit()
    return people


def csv(tmp_path, *rows: str):
    path = tmp_path / "stores.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def state(session):
    return (session.scalar(sa.select(sa.func.count()).select_from(Outlet)),
            session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)),
            latest_seq(session))


def run(session, world, who, path, **kw):
    kw.setdefault("crs", "gcj02")
    return import_outlets(session, principal=world[who], path=path,
                          columns="code=Store Number", **kw)


def test_import_converts_audits_and_goes_live(session, sessions, world, tmp_path):
    catalog = Catalog(sessions)
    catalog.load()
    path = csv(tmp_path, "E1,东一店,31.2304,121.4737,EAST,", "E2,东二店,31.24,121.48,EAST,")
    report = run(session, world, "manager", path, catalog=catalog)
    assert (report.summary.created, report.summary.updated, report.rejected) == (2, 0, [])
    e1 = session.scalar(sa.select(Outlet).where(Outlet.code == "E1"))
    assert (e1.lat, e1.lng) == pytest.approx(to_wgs84(31.2304, 121.4737, "gcj02"))
    assert catalog.outlet_by_code("E2") is not None
    actions = session.scalars(sa.select(AuditEntry.action)).all()
    assert actions == ["import:create", "import:create"]

    again = csv(tmp_path, "E1,东一店,31.2304,121.4737,EAST,021-1", "E2,东二店,31.24,121.48,EAST,")
    report = run(session, world, "manager", again, catalog=catalog)
    assert (report.summary.updated, report.summary.unchanged) == (1, 1)
    entry = session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (entry.action, entry.before, entry.after) == \
        ("import:update", {"phone": "", "version": 1}, {"phone": "021-1", "version": 2})
    catalog.close()


def test_one_bad_row_and_nothing_is_written(session, world, tmp_path):
    before = state(session)
    path = csv(tmp_path, "E1,东一店,31.2304,121.4737,EAST,", "E2,东二店,95,121.48,EAST,",
               "E3,,31.2,121.4,EAST,")
    with pytest.raises(ValidationError) as err:
        run(session, world, "admin", path)
    assert [(d["line"], d["field"]) for d in err.value.details] == [(3, "lat"), (4, "name")]
    assert "nothing imported" in err.value.message
    session.rollback()
    assert state(session) == before


def test_partial_and_dry_run(session, world, tmp_path):
    path = csv(tmp_path, "E1,东一店,31.2304,121.4737,EAST,", "E2,东二店,95,121.48,EAST,")
    before = state(session)
    dry = run(session, world, "admin", path, partial=True, dry_run=True)
    assert (dry.summary.created, dry.summary.rejected, dry.summary.dry_run) == (1, 1, True)
    assert state(session) == before
    report = run(session, world, "admin", path, partial=True)
    assert (report.summary.created, [e.line for e in report.rejected]) == (1, [3])


def test_managers_import_only_into_their_regions(session, world, tmp_path):
    before = state(session)
    path = csv(tmp_path, "E1,东一店,31.2304,121.4737,EAST,", "X1,西店,31.24,121.48,WEST,",
               "W1,抢走西一店,31.24,121.48,EAST,", "N1,无区,31.2,121.4,,")
    with pytest.raises(ValidationError) as err:
        run(session, world, "manager", path)
    assert [(d["line"], d["field"]) for d in err.value.details] == \
        [(3, "region"), (4, "code"), (5, "region")]
    session.rollback()
    assert state(session) == before
    with pytest.raises(PermissionDenied):
        run(session, world, "clerk", path)


def test_unknown_column_mapping_is_a_clear_error(session, world, tmp_path):
    path = csv(tmp_path, "E1,东一店,31.2304,121.4737,EAST,")
    with pytest.raises(ValidationError, match="unknown field"):
        import_outlets(session, principal=world["admin"], path=path, crs="wgs84",
                       columns="colour=Store Number")

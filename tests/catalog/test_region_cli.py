"""`o2o region create|list|import`: the API's rules from a shell, all or nothing, audited."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from o2o import cli
from o2o.audit.models import AuditEntry
from o2o.catalog.boundary import from_column
from o2o.catalog.models import Region
from tests.factories import make_region

SQUARE = "POLYGON((121.4 31.1, 121.6 31.1, 121.6 31.3, 121.4 31.3, 121.4 31.1))"
BOWTIE = "POLYGON((121.4 31.1, 121.6 31.3, 121.6 31.1, 121.4 31.3, 121.4 31.1))"


def run(*argv: str) -> int:
    return cli.main(list(argv))


@pytest.fixture
def env(db_url, monkeypatch, tmp_path):
    monkeypatch.setenv("O2O_DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)  # development secrets are written to the working directory
    return db_url


def regions(sessions) -> dict[str, Region]:
    with sessions() as s:
        return {r.code: r for r in s.scalars(sa.select(Region))}


def test_create_and_list(env, sessions, tmp_path, capsys):
    wkt = tmp_path / "ec.wkt"
    wkt.write_text(SQUARE)
    assert run("region", "create", "--code", "EC", "--name", "华东", "--boundary", str(wkt)) == 0
    assert "region #1 EC 华东 (Asia/Shanghai, with a boundary)" in capsys.readouterr().out
    geojson = tmp_path / "hk.geojson"
    geojson.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [[
            [114.1, 22.2], [114.3, 22.2], [114.3, 22.4], [114.1, 22.2]]]}}]}))
    assert run("region", "create", "--code", "HK", "--name", "香港", "--timezone",
               "Asia/Hong_Kong", "--boundary", str(geojson)) == 0
    assert run("region", "create", "--code", "SC", "--name", "华南") == 0
    capsys.readouterr()
    assert run("region", "list") == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["#1 EC 华东 (Asia/Shanghai, boundary, 0 outlets)",
                   "#2 HK 香港 (Asia/Hong_Kong, boundary, 0 outlets)",
                   "#3 SC 华南 (Asia/Shanghai, no boundary, 0 outlets)"]
    found = regions(sessions)
    assert from_column(found["EC"].boundary).bounds == (121.4, 31.1, 121.6, 31.3)
    with sessions() as s:
        entry = s.scalar(sa.select(AuditEntry).where(AuditEntry.entity_code == "EC"))
    assert (entry.action, entry.staff_id, entry.staff_name) == ("create", None,
                                                                 "operator (o2o CLI)")


@pytest.mark.parametrize(("argv", "says"), [
    (["--code", "EC", "--name", "again"], "already in use"),
    (["--code", "bad code", "--name", "x"], "--code: String should match pattern"),
    (["--code", "X", "--name", "x", "--timezone", "Mars/Base"], "unknown time zone"),
    (["--code", "X", "--name", "x", "--boundary", "BOWTIE"], "Self-intersection"),
    (["--code", "X", "--name", "x", "--boundary", "missing.wkt"], "no such file"),
])
def test_create_refuses_bad_input_in_one_sentence(env, sessions, tmp_path, capsys, argv, says):
    with sessions.begin() as s:
        make_region(s, code="EC")
    (tmp_path / "BOWTIE").write_text(BOWTIE)
    argv = [str(tmp_path / a) if a in ("BOWTIE", "missing.wkt") else a for a in argv]
    assert run("region", "create", *argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("o2o: ") and says in err and "Traceback" not in err
    assert set(regions(sessions)) == {"EC"}


def test_import_csv_creates_and_updates_by_code(env, sessions, tmp_path, capsys):
    with sessions.begin() as s:
        make_region(s, code="EC", name="旧名", timezone="Asia/Shanghai")
    path = tmp_path / "regions.csv"
    path.write_text(f'code,name,boundary\nEC,华东,"{SQUARE}"\nSC,华南,\n', encoding="utf-8")
    assert run("region", "import", str(path), "--dry-run") == 0
    assert capsys.readouterr().out.strip() == "dry run: created 1, updated 1, unchanged 0"
    assert set(regions(sessions)) == {"EC"}
    assert run("region", "import", str(path)) == 0
    assert capsys.readouterr().out.strip() == "created 1, updated 1, unchanged 0"
    found = regions(sessions)
    assert (found["EC"].name, found["EC"].version, found["SC"].boundary) == ("华东", 2, None)
    assert run("region", "import", str(path)) == 0
    assert capsys.readouterr().out.strip() == "created 0, updated 0, unchanged 2"


def test_import_rejects_by_line_and_writes_nothing(env, sessions, tmp_path, capsys):
    path = tmp_path / "regions.csv"
    path.write_text("code,name,timezone,boundary\n"
                    f'EC,华东,,"{SQUARE}"\n'
                    f'SC,,,\n'
                    f'NW,西北,Mars/Base,\n'
                    f'BT,蝴蝶,,"{BOWTIE}"\n'
                    f'EC,重复,,\n'
                    'PT,点,,POINT(121 31)\n', encoding="utf-8")
    assert run("region", "import", str(path)) == 1
    err = [line for line in capsys.readouterr().err.splitlines()
           if not line.startswith("20")]  # log lines
    assert err[:5] == ["  line 3: name: required, but empty",
                       "  line 4: timezone: Value error, unknown time zone 'Mars/Base' (use an "
                       "IANA name, e.g. Asia/Shanghai)",
                       "  line 5: boundary: not a valid polygon: Self-intersection[121.5 31.2]",
                       "  line 6: code: duplicate code 'EC': also on line 2",
                       "  line 7: boundary: must be a Polygon or MultiPolygon, got Point"]
    assert err[5] == "5 rows rejected; no region imported"
    assert regions(sessions) == {}
    with sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 0


def test_import_geojson_feature_collection(env, sessions, tmp_path, capsys):
    path = tmp_path / "regions.geojson"
    square = [[[121.4, 31.1], [121.6, 31.1], [121.6, 31.3], [121.4, 31.3], [121.4, 31.1]]]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "EC", "name": "华东"},
         "geometry": {"type": "Polygon", "coordinates": square}},
        {"type": "Feature", "properties": {"code": "SC", "name": "华南",
                                           "timezone": "Asia/Shanghai"}, "geometry": None},
    ]}, ensure_ascii=False), encoding="utf-8")
    assert run("region", "import", str(path)) == 0
    assert capsys.readouterr().out.strip() == "created 2, updated 0, unchanged 0"
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "NE", "name": "东北"},
         "geometry": {"type": "Polygon", "coordinates": [[[31.1, 121.4], [31.1, 121.6],
                                                          [31.3, 121.6], [31.1, 121.4]]]}},
        {"type": "Point"}]}), encoding="utf-8")
    assert run("region", "import", str(bad)) == 1
    err = capsys.readouterr().err
    assert "line 1: boundary: coordinates must be longitude" in err
    assert "line 2: row: not a GeoJSON Feature" in err
    assert set(regions(sessions)) == {"EC", "SC"}

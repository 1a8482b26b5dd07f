"""Property-based fuzzing of every operation in the OpenAPI schema (schemathesis), with a
token of each role: no 5xx, and every answer as the schema documents it.

Generic over the schema: a route added anywhere is fuzzed without touching this file, and
each operation is its own test id (`test_every_operation[GET /api/v1/outlets/{outlet_id}]`).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
import schemathesis
from fastapi import APIRouter, Query
from hypothesis import given

from api.app import create_app
from o2o.config import Settings
from o2o.services import Services, build_services
from tests.api.fuzz import BUDGET, call_as
from tests.conftest import TEST_AES_KEY
from tests.factories import make_outlet, make_promotion, make_region
from tests.factories_staff import make_token

pytestmark = pytest.mark.fuzz


def _settings(url: str) -> Settings:
    # Limits far above what the fuzzer sends: it must reach the routes, not the limiter
    # (the limits have tests of their own).
    return Settings(database_url=url, wechat_token="test-token", wechat_aes_key=TEST_AES_KEY,
                    wechat_appid="wxtestappid0001", wechat_secret="test-secret",
                    signing_key="test-signing-key-0123456789",
                    customer_hash_key="test-customer-hash-key",
                    public_base_url="http://testserver", load_demo_data=False,
                    auto_migrate=False, limit_token_failures_per_ip="1000000/60",
                    limit_coupon_tries_per_staff="1000000/60")


@pytest.fixture(scope="module")
def fuzz_services(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[Services]:
    """One database for the whole run: a region, outlets, promotions, the catalog following."""
    path = tmp_path_factory.mktemp("fuzz") / "o2o.db"
    shutil.copy(sqlite_template, path)
    services = build_services(_settings(f"sqlite:///{path}"), migrate=False, load_demo=False)
    yield services
    services.close()


@pytest.fixture(scope="module")
def tokens(fuzz_services: Services) -> dict[str, str]:
    with fuzz_services.sessions() as session:
        region = make_region(session)
        outlets = [make_outlet(session, region=region) for _ in range(2)]
        make_promotion(session)
        make_promotion(session, outlets=outlets[:1])
        out = {"admin": make_token(session, "admin"),
               "manager": make_token(session, "manager", regions=[region]),
               "staff": make_token(session, "staff", outlets=outlets[:1])}
        session.commit()
    fuzz_services.catalog.refresh()
    return out


@pytest.fixture(scope="module")
def api_schema(fuzz_services: Services) -> Any:
    app = create_app(fuzz_services.settings, services=fuzz_services)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _labels() -> list[str]:
    """Every operation of the schema, read at collection (the schema needs no database)."""
    paths = create_app(_settings("sqlite://")).openapi()["paths"]
    return [f"{method.upper()} {path}" for path, item in paths.items() for method in item]


@pytest.mark.parametrize("label", _labels())
def test_every_operation(label: str, api_schema: Any, tokens: dict[str, str]) -> None:
    _fuzz(api_schema.find_operation_by_label(label), tokens)


def _fuzz(operation: Any, tokens: dict[str, str]) -> None:
    @given(case=operation.as_strategy())
    @BUDGET
    def run(case: Any) -> None:
        call_as(case, tokens)

    run()


def test_a_planted_fault_is_found(fuzz_services: Services, tokens: dict[str, str]) -> None:
    """The same checks fail on a route that 500s on a malformed query string."""
    app = create_app(fuzz_services.settings, services=fuzz_services)
    planted = APIRouter()

    @planted.get("/api/v1/planted")
    def planted_route(page: Annotated[str, Query(max_length=20)] = "1") -> dict[str, int]:
        return {"page": int(page)}  # ValueError on anything but digits: a 500

    app.include_router(planted)
    operation = schemathesis.openapi.from_asgi("/openapi.json", app) \
        .find_operation_by_label("GET /api/v1/planted")
    with pytest.raises(BaseException, match="Server error") as failed:
        _fuzz(operation, tokens)
    assert "GET /api/v1/planted" in "".join(failed.value.__notes__)

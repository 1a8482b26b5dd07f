"""What the schema fuzzing holds every operation to, shared by the real run and the proof
that it catches a planted fault (tests/api/test_fuzz.py)."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

#: No 5xx; every status, content type, header and body as the schema documents it. (Not
#: "schema-valid input must be accepted": business rules refuse some well-formed input.)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]

#: A fixed budget and seed: the same requests on every run, a few minutes at most in CI.
EXAMPLES = 60
BUDGET = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))


class Served:
    """The app as a server runs it: once Starlette has sent the 500 it re-raises the cause for
    the server to log; a test client would raise it instead of showing the 500 answered."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        with contextlib.suppress(Exception):  # answered (and logged with its id) already
            await self.app(scope, receive, send)


def call_as(case: Any, tokens: dict[str, str]) -> None:
    """Send `case` once per role's token and check each answer; a failure names the role
    (pytest's test id names the operation)."""
    app = Served(case.operation.app)
    for role, token in tokens.items():
        response = case.call(app=app, headers={"Authorization": f"Bearer {token}"})
        try:
            case.validate_response(response, checks=CHECKS)
            _quotes_its_request_id(response)
        except BaseException as exc:  # schemathesis raises an exception group of failures
            exc.add_note(f"as {role}: {case.method} {case.formatted_path} -> "
                         f"{response.status_code}")
            raise


def _quotes_its_request_id(response: Any) -> None:
    """An error body quotes the id the response carries (never "-")."""
    if response.status_code < 400 or "json" not in response.headers.get("content-type", ""):
        return
    quoted = response.json().get("error", {}).get("request_id")
    assert quoted and quoted == response.headers.get("x-request-id"), \
        f"{response.status_code} quotes request id {quoted!r}"

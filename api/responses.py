"""The error envelope as an OpenAPI schema, and the refusals each kind of route documents.

Every refusal has the same body (api/errors.py writes it); routes name their possible
statuses with one of the mappings below (`responses=`) instead of listing them by hand, so
the schema says what a client can actually receive and a fuzzer can hold us to it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. not_found, rate_limited")
    message: str = Field(description="One sentence for a person")
    request_id: str = Field(description="The X-Request-ID of this response; quote it to support")
    details: Any = Field(None, description="Structured detail (fields of a 422, ...), if any")


class ErrorEnvelope(BaseModel):
    """What every refusal looks like."""

    error: ErrorBody


ENVELOPE_REF = {"$ref": "#/components/schemas/ErrorEnvelope"}
DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing, invalid, expired or revoked staff token",
    403: "Your role or scope does not allow this",
    404: "No such thing, or outside your scope",
    409: "Conflicts with the current state (a duplicate code, already redeemed ...)",
    410: "Expired",
    412: "If-Match names an older version (read again, then retry)",
    413: "Body too large",
    422: "Invalid input (details name the fields)",
    428: "If-Match is required on every change",
    429: "Too many attempts; Retry-After says when to try again",
    503: "A dependency (the database) is unavailable",
}


def refusals(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for these statuses, each with the envelope as its body; `described`
    (keyed `s404=...`) replaces a default description where a route says more."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        text = described.get(f"s{status}", DESCRIPTIONS[status])
        # The envelope is JSON whatever the route's own media type (the WeChat endpoint
        # answers text/plain or XML): named explicitly, besides `model` (which registers it).
        out[status] = {"model": ErrorEnvelope, "description": text,
                       "content": {"application/json": {"schema": ENVELOPE_REF}}}
    return out


#: Customer-facing JSON (no token).
PUBLIC = refusals(422, 429)
#: Any route behind a staff token.
STAFF = refusals(401, 403, 404, 413, 422, 429)
#: Staff routes that create (a duplicate code conflicts).
CREATE = refusals(409)
#: Staff routes that change a versioned row (If-Match).
CHANGE = refusals(409, 412, 428)

"""The one place that turns domain errors into HTTP responses (and logs the real cause)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from api.middleware import REQUEST_ID
from o2o import errors
from o2o.logs import request_id_var
from o2o.ratelimit import RateLimited

log = logging.getLogger("o2o.api")

STATUS = {
    errors.ValidationError: 422,
    errors.NotFound: 404,
    errors.PermissionDenied: 403,
    errors.Unauthenticated: 401,
    errors.PreconditionFailed: 412,
    errors.Conflict: 409,
    errors.ServiceUnavailable: 503,
    errors.ConfigError: 500,
}


#: Starlette's routing errors, as (code, message) in the project's words.
HTTP_ERRORS = {
    404: ("not_found", "Nothing at {path}; the API is listed at /docs."),
    405: ("method_not_allowed", "{method} is not allowed on {path}; see /docs."),
}


def _problem(error: dict[str, Any]) -> dict[str, str]:
    """One input problem as {field, message}. Broken JSON is the body's problem, at a
    character position (which pydantic reports where a field name would be)."""
    loc = [str(p) for p in error.get("loc", ()) if p != "body"]
    if error.get("type") == "json_invalid":
        why = (error.get("ctx") or {}).get("error", "JSON decode error")
        at = f" at character {loc[0]}" if loc else ""
        return {"field": "body", "message": f"not valid JSON{at}: {why}"}
    return {"field": ".".join(loc), "message": error.get("msg", "invalid")}


def status_for(exc: errors.O2OError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
        status = getattr(cls, "http_status", None)
        if isinstance(status, int):
            return status
    return 400


def _body(code: str, message: str, details: object = None, *,
          request_id: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {"error": {"code": code, "message": message,
                                         "request_id": request_id or request_id_var.get()}}
    if details is not None:
        body["error"]["details"] = details  # type: ignore[index]
    return body


def domain_response(exc: errors.O2OError) -> JSONResponse:
    """The error envelope for a domain error, with its status (and the cause logged)."""
    status = status_for(exc)
    if status >= 500:
        log.error("%s: %s", exc.code, exc.message)
    return JSONResponse(_body(exc.code, exc.message, exc.details), status_code=status,
                        headers=error_headers(exc, status))


def error_headers(exc: errors.O2OError, status: int) -> dict[str, str] | None:
    """What a refusal says besides its body: how to authenticate, when to try again."""
    if status == 401:
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, RateLimited):
        return {"Retry-After": str(exc.retry_after_s)}
    return None


def install(app: FastAPI) -> None:
    """Register the handlers on the app."""

    @app.exception_handler(errors.O2OError)
    async def _domain(_request: Request, exc: errors.O2OError) -> JSONResponse:
        return domain_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [_problem(e) for e in exc.errors()]
        message = "; ".join(f"{d['field']}: {d['message']}" for d in details) or "invalid input"
        return JSONResponse(_body("validation_error", message, details), status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        """Routing's own refusals (no such path, wrong method) in the same envelope."""
        code, message = HTTP_ERRORS.get(exc.status_code, ("http_error", str(exc.detail)))
        return JSONResponse(_body(code, message.format(method=request.method,
                                                       path=request.url.path)),
                            status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette calls this from its outermost middleware, after RequestContext has
        # finished: the request id comes from the request's state, and is put back in the
        # context for the log line, so the body, the header and the log all carry it.
        rid = str(getattr(request.state, REQUEST_ID, "") or uuid.uuid4().hex)
        token = request_id_var.set(rid)
        try:
            log.error("unhandled %s", type(exc).__name__, exc_info=exc)
        finally:
            request_id_var.reset(token)
        return JSONResponse(
            _body("internal_error",
                  f"Internal error ({type(exc).__name__}); quote the request id to support.",
                  request_id=rid),
            status_code=500, headers={"X-Request-ID": rid})

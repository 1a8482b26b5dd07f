"""Console forms: input models built from form fields with the API's messages, the version a
form read, and the "changed meanwhile" page that shows both versions side by side."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

import pydantic
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from api.routes.console.page import render
from o2o.errors import ValidationError

M = TypeVar("M", bound=pydantic.BaseModel)
#: Form fields that are plumbing, not the user's change.
PLUMBING = frozenset({"csrf", "version"})


def model_from_form(model: type[M], data: Mapping[str, Any]) -> M:
    """`model` from form values; a bad one is the ValidationError the API would answer with
    (same "field: message" wording, same details)."""
    try:
        return model.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        details = [{"field": ".".join(str(p) for p in e.get("loc", ())) or "form",
                    "message": e.get("msg", "invalid")} for e in exc.errors()]
        raise ValidationError("; ".join(f"{d['field']}: {d['message']}" for d in details),
                              details=details) from None


def problems_of(exc: ValidationError) -> list[dict[str, str]]:
    return list(exc.details or [{"field": "form", "message": exc.message}])


async def form_data(request: Request) -> FormData:
    """The posted form (parsed once per request; the CSRF check read it already)."""
    return await request.form()


Posted = Annotated[FormData, Depends(form_data)]


def form_version(form: Posted) -> int:
    """The version of the thing the form was filled from (a hidden field of every edit form).
    Read from the form after the session check, never declared as a body parameter: FastAPI
    would read the body before any dependency ran, so before the caller is known."""
    value = text(form, "version")
    if not value.isdigit():
        raise ValidationError("version: the form carries no version; reload the page",
                              details=[{"field": "version", "message": "required"}])
    return int(value)


Version = Annotated[int, Depends(form_version)]


def text(form: FormData, key: str) -> str:
    """One text field, stripped; "" when absent."""
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


def texts(form: FormData, key: str) -> list[str]:
    """A repeated field (checkboxes), in order, blanks dropped."""
    return [v.strip() for v in form.getlist(key) if isinstance(v, str) and v.strip()]


def stale_page(request: Request, form: FormData, *, kind: str,
               rows: list[tuple[str, str, str]], version: int, back: str) -> HTMLResponse:
    """409: someone changed the thing after this form was read. `rows` are (label, yours,
    now); nothing was written, and re-sending (the same fields, the version now seen) is the
    user's explicit choice."""
    resend = [(k, v) for k, v in form.multi_items() if k not in PLUMBING and isinstance(v, str)]
    return render(request, "staff/stale.html", status_code=409, kind=kind, rows=rows,
                  action=request.url.path, resend=resend, version=version, back=back)

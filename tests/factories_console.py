"""Console sign-in for tests: a real one-time link, the real confirm form, the real cookie."""

from __future__ import annotations

import re
from typing import Any

from o2o.staff.login_links import create_login_link
from o2o.staff.models import Staff

_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = _CSRF.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def login_link(services: Any, staff: Staff | int, **kw: Any) -> str:
    """A fresh raw link token for a staff member (committed)."""
    staff_id = staff if isinstance(staff, int) else staff.id
    with services.sessions() as session:
        token = create_login_link(session, staff_id=staff_id, **kw).token
        session.commit()
    return token


def sign_in(client: Any, services: Any, staff: Staff | int) -> str:
    """Sign `client` in as `staff` through the pages; the CSRF token of its new session."""
    token = login_link(services, staff)
    form = client.get("/staff/login", params={"t": token})
    assert form.status_code == 200, form.text
    done = client.post("/staff/login", data={"t": token, "csrf": csrf_of(form.text)},
                       follow_redirects=False)
    assert done.status_code == 303, done.text
    home = client.get("/staff/")
    assert home.status_code == 200, home.text
    return csrf_of(home.text)

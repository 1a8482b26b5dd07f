"""Signing a test client into the staff console the way a person does: a one-time link,
its confirm page, the POST that sets the session cookie."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from o2o.staff.login_links import create_login_link, login_url
from o2o.staff.models import Staff


def form_csrf(html: str) -> str:
    """The CSRF token a console page's forms carry."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: Any, session: Session, staff: Staff) -> None:
    """Issue a login link for `staff`, open it and confirm: `client` now holds the cookie."""
    link = create_login_link(session, staff_id=staff.id)
    session.commit()
    url = urlsplit(login_url("http://testserver", link.token))
    page = client.get(f"{url.path}?{url.query}")
    assert page.status_code == 200, page.text
    r = client.post(url.path, data={"t": link.token, "csrf": form_csrf(page.text)},
                    follow_redirects=False)
    assert r.status_code == 303, r.text

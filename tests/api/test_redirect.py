"""GET /r/<token>: a 302 to what the sealed link names, one click recorded, no open redirect."""

from __future__ import annotations

import time
from urllib.parse import quote, urlsplit

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.analytics.models import Event
from o2o.customers.link_codec import Link, pack
from o2o.customers.links import LABEL, read_link, tracked_url
from o2o.links import seal
from tests.factories import make_outlet
from tests.factories_loop import a_customer
from tests.link_spellings import spellable, spellings

QID = "d" * 32


@pytest.fixture
def outlet(session: Session, services):  # type: ignore[no-untyped-def]
    row = make_outlet(session, phone="13800138000")
    session.commit()
    services.catalog.refresh()
    return row


def _clicks(session: Session) -> list[Event]:
    clicks = list(session.scalars(sa.select(Event).where(Event.type == "click")))
    session.rollback()
    return clicks


def test_redirects_and_records_one_click(client, services, outlet, session: Session) -> None:  # type: ignore[no-untyped-def]
    who = a_customer()
    url = tracked_url(services.settings, target="outlet", query_id=QID, customer_hash=who,
                      outlet_id=outlet.id)
    r = client.get(url, follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"].startswith("http://testserver/h5/outlet/")
    assert r.headers["referrer-policy"] == "no-referrer"
    assert client.get(url, follow_redirects=False).status_code == 302  # a double tap
    [click] = _clicks(session)
    assert (click.customer_hash, click.query_id, click.outlet_id) == (who, QID, outlet.id)
    assert client.get(r.headers["location"]).status_code == 200


def test_phone_and_map_targets(client, services, outlet) -> None:  # type: ignore[no-untyped-def]
    def go(target: str) -> str:
        return client.get(tracked_url(services.settings, target=target, query_id=QID,
                                      customer_hash=None, outlet_id=outlet.id),
                          follow_redirects=False).headers["location"]

    assert go("tel") == "tel:13800138000"
    assert go("map:amap").startswith("https://uri.amap.com/")
    assert go("map:tencent").startswith("https://apis.map.qq.com/")


@pytest.mark.parametrize("path", [
    "/r/https://evil.example/",
    "/r/%2F%2Fevil.example",
    "/r/evil.example",
    "/r/..%2F..%2Fetc",
    "/r/" + "x" * 5000,
    "/r/a.b?next=https://evil.example",
])
def test_nothing_but_a_signed_link_redirects(client, path: str, session: Session) -> None:  # type: ignore[no-untyped-def]
    r = client.get(path, follow_redirects=False)
    assert r.status_code in (400, 404)
    assert "location" not in r.headers
    assert r.headers["content-type"].startswith("text/html")
    assert _clicks(session) == []


def test_a_foreign_signature_is_refused(client, services, outlet, session: Session) -> None:  # type: ignore[no-untyped-def]
    exp = int(time.time()) + 600
    token = seal(pack(Link(kind="redirect", exp=exp, target="outlet", outlet_id=outlet.id)),
                 "not-our-key", label=LABEL, exp=exp)
    r = client.get(f"/r/{token}", follow_redirects=False)
    assert r.status_code == 400 and "链接无效" in r.text
    assert _clicks(session) == []


def test_expired_and_gone(client, services, outlet, session: Session) -> None:  # type: ignore[no-untyped-def]
    old = time.time() - services.settings.link_ttl_s - 5
    expired = tracked_url(services.settings, target="outlet", query_id=QID, customer_hash=None,
                          outlet_id=outlet.id, now=old)
    r = client.get(expired, follow_redirects=False)
    assert r.status_code == 410 and "链接已过期" in r.text
    gone = tracked_url(services.settings, target="map:amap", query_id=QID, customer_hash=None,
                       outlet_id=outlet.id + 1000)
    r = client.get(gone, follow_redirects=False)
    assert r.status_code == 410 and "不在列表中" in r.text
    assert _clicks(session) == []


def test_six_spellings_of_one_link_are_one_click(client, services, outlet,  # type: ignore[no-untyped-def]
                                                 session: Session) -> None:
    who = a_customer()
    url = spellable(lambda q: tracked_url(services.settings, target="outlet", query_id=q,
                                          customer_hash=who, outlet_id=outlet.id))
    token = urlsplit(url).path.rsplit("/", 1)[1]
    statuses = {name: client.get("/r/" + quote(spelt, safe=""), follow_redirects=False)
                .status_code for name, spelt in spellings(token).items()}
    assert statuses.pop("canonical") == 302
    assert set(statuses.values()) == {400}, statuses
    # Percent-encoding every character is the same path once decoded: the same click.
    encoded = "".join(f"%{ord(ch):02X}" for ch in token)
    assert client.get("/r/" + encoded, follow_redirects=False).status_code == 302
    assert len(_clicks(session)) == 1


def test_a_link_forwarded_in_wechat_acts_for_nobody(client, services, outlet,  # type: ignore[no-untyped-def]
                                                    session: Session) -> None:
    url = tracked_url(services.settings, target="outlet", query_id=QID,
                      customer_hash=a_customer(), outlet_id=outlet.id)
    r = client.get(url + "?from=singlemessage&isappinstalled=0", follow_redirects=False)
    assert r.status_code == 302
    page = read_link(services.settings, urlsplit(r.headers["location"]).path.rsplit("/", 1)[1],
                     "outlet")
    assert page.shared and page.viewer is None
    [click] = _clicks(session)
    assert (click.customer_hash, click.query_id) == (None, None)

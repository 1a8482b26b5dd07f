"""The dashboard page: same-origin only, no CDN, every asset served by us."""

from __future__ import annotations

import re


def test_dashboard_page_and_assets(client) -> None:
    resp = client.get("/dashboard")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    csp = resp.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert resp.headers["cache-control"] == "no-store"
    html = resp.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/static/dashboard") for a in assets)
    assert "http://" not in html and "https://" not in html
    for asset in assets:
        got = client.get(asset)
        assert got.status_code == 200, asset
        text = got.text.replace('"http://www.w3.org/2000/svg"', "")  # a namespace, not a URL
        assert "http://" not in text and "https://" not in text, asset
    assert 'id="login-form"' in html and 'id="token"' in html

"""Pseudonymisation: openids become keyed hashes, positions become ~100 m cells."""

from __future__ import annotations

import hashlib
import hmac

#: Decimal places kept of a coarsened position: 0.001° is ~111 m of latitude.
COARSE_DECIMALS = 3


def customer_hash(openid: str, key: str) -> str:
    """HMAC-SHA256 of the openid under a server key: stable per customer, not reversible,
    and useless to anyone without the key (unlike a plain hash of a guessable id)."""
    return hmac.new(key.encode(), openid.encode(), hashlib.sha256).hexdigest()


def coarsen(lat: float, lng: float) -> tuple[float, float]:
    """Round a position to ~100 m; what analytics and stored last positions keep."""
    return round(lat, COARSE_DECIMALS), round(lng, COARSE_DECIMALS)

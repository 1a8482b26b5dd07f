"""Which coupons a browser may see the code of: the ones it claimed.

Until WeChat OAuth says who is looking (issue 15), a coupon page is reached through a link
anyone can forward. So a claim hands the claiming browser a sealed value (the web layer keeps
it in a cookie) naming the coupons claimed there, and the coupon page shows a code and its QR
only for those. The value is sealed like a link but under its own key label, so neither can
stand in for the other.
"""

from __future__ import annotations

import struct
from datetime import datetime

from o2o.config import Settings
from o2o.links import LinkExpired, LinkInvalid, seal, unseal

LABEL = b"coupon-binding/v1"
#: Coupons one browser remembers; the oldest make room (expired ones first in practice).
MAX_BOUND = 32
#: Browsers keep a cookie at most 400 days; a coupon never outlives that in practice.
MAX_AGE_S = 400 * 24 * 3600
_ID = struct.Struct(">I")


def bound_coupons(settings: Settings, value: str | None, *, now: datetime) -> frozenset[int]:
    """Ids of the coupons claimed in the browser that sent `value`; none if it is not ours."""
    return frozenset(_read(settings, value, now)[1])


def bind(settings: Settings, value: str | None, *, coupon_id: int, expires_at: datetime,
         now: datetime) -> tuple[str, int]:
    """The value to keep after claiming `coupon_id`, and for how many seconds to keep it."""
    exp, held = _read(settings, value, now)
    ids = [i for i in held if i != coupon_id][-(MAX_BOUND - 1):] + [coupon_id]
    exp = min(max(exp, int(expires_at.timestamp())), int(now.timestamp()) + MAX_AGE_S)
    body = b"".join(_ID.pack(i) for i in ids)
    return seal(body, settings.signing_key, label=LABEL, exp=exp), \
        max(1, exp - int(now.timestamp()))


def _read(settings: Settings, value: str | None, now: datetime) -> tuple[int, list[int]]:
    if not value:
        return 0, []
    try:
        exp, body = unseal(value, settings.signing_key, label=LABEL, now=now.timestamp())
    except (LinkInvalid, LinkExpired):
        return 0, []  # a stale or foreign cookie binds nothing, and is replaced on the next claim
    if len(body) % _ID.size:
        return 0, []
    return exp, [i for (i,) in _ID.iter_unpack(body)]

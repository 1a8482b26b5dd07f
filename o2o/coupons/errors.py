"""Why a claim or a redemption was refused: one class and one stable code per answer."""

from __future__ import annotations

from o2o.errors import Conflict, NotFound, ValidationError


class CouponUnknown(NotFound):
    """No coupon has this code (or it cannot be a code at all)."""

    code = "coupon_unknown"


class CouponExpired(Conflict):
    """A genuine coupon past its validity."""

    code = "coupon_expired"
    http_status = 410


class CouponAlreadyRedeemed(Conflict):
    """Redeemed before; `details` says when and where."""

    code = "coupon_already_redeemed"


class CouponWrongOutlet(Conflict):
    """The coupon's promotion does not run at the outlet redeeming it."""

    code = "coupon_wrong_outlet"


class CouponUnavailable(Conflict):
    """This promotion offers no coupon (any more), or not to this outlet."""

    code = "coupon_unavailable"


class CouponsSoldOut(Conflict):
    """Every coupon of the promotion has been claimed."""

    code = "coupons_sold_out"


class CouponLimitReached(Conflict):
    """The customer already holds as many as one customer may claim."""

    code = "coupon_limit_reached"


class CouponOutletRequired(ValidationError):
    """The caller has several outlets and did not say which one is redeeming."""

    code = "outlet_required"

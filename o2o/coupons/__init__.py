"""Coupons: claimed on the H5 page, redeemed in store exactly once."""

"""Counting opening-hours checks: the work "open now" costs, independent of timing."""

from __future__ import annotations

import pytest

from o2o.catalog.hours import OpeningHours


def count_hours_checks(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """{"n": checks so far} for every OpeningHours.is_open call from now on (reset at will)."""
    calls = {"n": 0}
    real = OpeningHours.is_open

    def counting(self: OpeningHours, *args: object, **kw: object) -> bool:
        calls["n"] += 1
        return real(self, *args, **kw)

    monkeypatch.setattr(OpeningHours, "is_open", counting)
    return calls

"""The demo chain shipped with o2o (晨汐茶咖, fictional): outlets, regions and promotions."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
OUTLETS_CSV = DATA_DIR / "outlets.csv"
REGIONS_JSON = DATA_DIR / "regions.json"
PROMOTIONS_JSON = DATA_DIR / "promotions.json"

__all__ = ["DATA_DIR", "OUTLETS_CSV", "PROMOTIONS_JSON", "REGIONS_JSON"]

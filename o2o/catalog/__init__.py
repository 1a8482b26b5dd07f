"""Outlets, regions, promotions, opening hours, import/export, and the live catalog."""

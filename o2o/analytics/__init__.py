"""Durable event log, conversion funnel, demand grid and retention."""

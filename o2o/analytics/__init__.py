"""Durable event log, conversion funnel, demand grid and retention."""

# The funnel cells live beside the event tables; importing them here registers them with the
# shared metadata wherever the analytics models are loaded (Alembic, tests, create_all).
from o2o.analytics import rollup_models as rollup_models

"""drop event_rollups: never written; funnel cells (0002) keep what outlives raw events

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 03:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import o2o.db.schema

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index('ix_event_rollups_day', table_name='event_rollups')
    op.drop_table('event_rollups')


def downgrade() -> None:
    op.create_table(
        'event_rollups',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('hour', sa.SmallInteger(), nullable=False),
        sa.Column('type', sa.String(length=16), nullable=False),
        sa.Column('outlet_id', sa.Integer(), nullable=True),
        sa.Column('region_id', sa.Integer(), nullable=True),
        sa.Column('promotion_id', sa.Integer(), nullable=True),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('uniques', sa.Integer(), nullable=False),
        sa.Column('created_at', o2o.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_event_rollups')),
        sa.UniqueConstraint('day', 'hour', 'type', 'outlet_id', 'region_id', 'promotion_id',
                            name='uq_event_rollups_key'),
    )
    op.create_index('ix_event_rollups_day', 'event_rollups', ['day'], unique=False)

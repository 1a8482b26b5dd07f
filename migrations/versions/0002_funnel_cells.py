"""funnel cells: pre-aggregated counts and customer sets for fast, exact analytics

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 08:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import o2o.db.schema

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'funnel_cells',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('grain', sa.String(length=8), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('hour', sa.SmallInteger(), nullable=False),
        sa.Column('type', sa.String(length=16), nullable=False),
        sa.Column('region_id', sa.Integer(), nullable=False),
        sa.Column('outlet_id', sa.Integer(), nullable=False),
        sa.Column('promotion_id', sa.Integer(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('customers', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_funnel_cells')),
        sa.UniqueConstraint('grain', 'day', 'hour', 'type', 'region_id', 'outlet_id',
                            'promotion_id', name='uq_funnel_cells_key'),
    )
    op.create_index('ix_funnel_cells_grain_region_day', 'funnel_cells',
                    ['grain', 'region_id', 'day'], unique=False)
    op.create_table(
        'funnel_rollup_state',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('max_event_id', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', o2o.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_funnel_rollup_state')),
    )


def downgrade() -> None:
    op.drop_table('funnel_rollup_state')
    op.drop_index('ix_funnel_cells_grain_region_day', table_name='funnel_cells')
    op.drop_table('funnel_cells')

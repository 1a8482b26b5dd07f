"""funnel cells: index for one outlet's cells (its hourly heat table, its funnel)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 08:20:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_funnel_cells_grain_outlet_day', 'funnel_cells',
                    ['grain', 'outlet_id', 'day'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_funnel_cells_grain_outlet_day', table_name='funnel_cells')

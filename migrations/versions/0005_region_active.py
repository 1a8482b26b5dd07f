"""regions: an active flag, a version for If-Match, MultiPolygon boundaries; staff versions

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 16:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    with op.batch_alter_table('regions') as batch:
        batch.add_column(sa.Column('active', sa.Boolean(), server_default=sa.true(),
                                   nullable=False))
        batch.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))
    with op.batch_alter_table('staff') as batch:
        batch.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))
    if _is_postgres():
        # A region may be several pieces (islands, exclaves): every boundary is stored as a
        # MultiPolygon. SQLite keeps EWKT text, which needs no change.
        op.execute("ALTER TABLE regions ALTER COLUMN boundary "
                   "TYPE geography(MultiPolygon,4326) "
                   "USING ST_Multi(boundary::geometry)::geography")


def downgrade() -> None:
    if _is_postgres():
        several = op.get_bind().execute(sa.text(
            "SELECT code FROM regions WHERE ST_NumGeometries(boundary::geometry) > 1 "
            "LIMIT 5")).scalars().all()
        if several:
            raise RuntimeError("cannot downgrade: regions " + ", ".join(several) +
                               " have boundaries of several polygons; simplify them first")
        op.execute("ALTER TABLE regions ALTER COLUMN boundary TYPE geography(Polygon,4326) "
                   "USING ST_GeometryN(boundary::geometry, 1)::geography")
    with op.batch_alter_table('staff') as batch:
        batch.drop_column('version')
    with op.batch_alter_table('regions') as batch:
        batch.drop_column('version')
        batch.drop_column('active')

"""staff console: one-time login links, server-side sessions, audit entries say where made

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 16:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import o2o.db.schema

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'staff_login_links',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('issued_by', sa.Integer(), nullable=True),
        sa.Column('created_at', o2o.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', o2o.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column('used_at', o2o.db.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', o2o.db.schema.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['staff_id'], ['staff.id'],
                                name=op.f('fk_staff_login_links_staff_id_staff'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_login_links')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_staff_login_links_token_hash')),
    )
    op.create_index(op.f('ix_staff_login_links_staff_id'), 'staff_login_links', ['staff_id'],
                    unique=False)
    op.create_table(
        'staff_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('session_hash', sa.String(length=64), nullable=False),
        sa.Column('csrf_secret', sa.String(length=64), nullable=False),
        sa.Column('created_at', o2o.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', o2o.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', o2o.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', o2o.db.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column('outlet_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['staff_id'], ['staff.id'],
                                name=op.f('fk_staff_sessions_staff_id_staff'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_sessions')),
        sa.UniqueConstraint('session_hash', name=op.f('uq_staff_sessions_session_hash')),
    )
    op.create_index(op.f('ix_staff_sessions_staff_id'), 'staff_sessions', ['staff_id'],
                    unique=False)
    with op.batch_alter_table('audit_log') as batch:
        batch.add_column(sa.Column('via', sa.String(length=16), server_default='api',
                                   nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('audit_log') as batch:
        batch.drop_column('via')
    op.drop_index(op.f('ix_staff_sessions_staff_id'), table_name='staff_sessions')
    op.drop_table('staff_sessions')
    op.drop_index(op.f('ix_staff_login_links_staff_id'), table_name='staff_login_links')
    op.drop_table('staff_login_links')

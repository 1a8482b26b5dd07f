"""coupon reminders: one row per consent (one-time subscribe message), page intents

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 17:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import o2o.db.schema

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'coupon_reminders',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('consent_key', sa.String(length=200), nullable=False),
        sa.Column('customer_hash', sa.String(length=64), nullable=False),
        sa.Column('template_id', sa.String(length=128), nullable=False),
        sa.Column('coupon_id', sa.Integer(), nullable=True),
        sa.Column('sealed_openid', sa.String(length=255), nullable=True),
        sa.Column('status', sa.Enum('pending', 'sending', 'sent', 'failed', 'skipped',
                                    name='reminder_status', native_enum=False, length=16),
                  nullable=False),
        sa.Column('reason', sa.String(length=255), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('consented_at', o2o.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column('due_at', o2o.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column('next_attempt_at', o2o.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column('claim_token', sa.String(length=32), nullable=True),
        sa.Column('claimed_at', o2o.db.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column('finished_at', o2o.db.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column('delivery', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['coupon_id'], ['coupons.id'],
                                name=op.f('fk_coupon_reminders_coupon_id_coupons')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_coupon_reminders')),
        sa.UniqueConstraint('consent_key', name=op.f('uq_coupon_reminders_consent_key')),
    )
    op.create_index('ix_coupon_reminders_due', 'coupon_reminders',
                    ['status', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_coupon_reminders_customer_hash'), 'coupon_reminders',
                    ['customer_hash'], unique=False)
    op.create_index(op.f('ix_coupon_reminders_coupon_id'), 'coupon_reminders', ['coupon_id'],
                    unique=False)
    op.create_table(
        'reminder_intents',
        sa.Column('customer_hash', sa.String(length=64), nullable=False),
        sa.Column('coupon_id', sa.Integer(), nullable=False),
        sa.Column('at', o2o.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['coupon_id'], ['coupons.id'],
                                name=op.f('fk_reminder_intents_coupon_id_coupons'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('customer_hash', name=op.f('pk_reminder_intents')),
    )


def downgrade() -> None:
    op.drop_table('reminder_intents')
    op.drop_index(op.f('ix_coupon_reminders_coupon_id'), table_name='coupon_reminders')
    op.drop_index(op.f('ix_coupon_reminders_customer_hash'), table_name='coupon_reminders')
    op.drop_index('ix_coupon_reminders_due', table_name='coupon_reminders')
    op.drop_table('coupon_reminders')

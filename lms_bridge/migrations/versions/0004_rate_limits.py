"""rate-limit storage for the limits library

Revision ID: 0004_rate_limits
Revises: 0001
Create Date: 2026-12-01
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004_rate_limits'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('rate_limit_counters',
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_rate_limit_counters'))
    )
    op.create_table('rate_limit_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('at', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_limit_entries'))
    )
    op.create_index('ix_rate_limit_entries_key_at', 'rate_limit_entries', ['key', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_rate_limit_entries_key_at', table_name='rate_limit_entries')
    op.drop_table('rate_limit_entries')
    op.drop_table('rate_limit_counters')

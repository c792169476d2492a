"""provisioning leases and periodic ticks

Revision ID: 0002_run_lease
Revises: 0005_protocol_fields
Create Date: 2026-12-01
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002_run_lease'
down_revision: str | Sequence[str] | None = '0005_protocol_fields'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('provisioning_leases',
    sa.Column('session_code', sa.String(length=80), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('trigger', sa.String(length=20), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['provisioning_runs.id'],
                            name=op.f('fk_provisioning_leases_run_id_provisioning_runs'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('session_code', name=op.f('pk_provisioning_leases'))
    )
    op.create_table('periodic_ticks',
    sa.Column('job', sa.String(length=200), nullable=False),
    sa.Column('tick', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_by', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('job', 'tick', name=op.f('pk_periodic_ticks'))
    )


def downgrade() -> None:
    op.drop_table('periodic_ticks')
    op.drop_table('provisioning_leases')

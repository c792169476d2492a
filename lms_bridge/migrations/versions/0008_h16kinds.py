"""The admission rating takes the university system's decimals (52.5 of 60): the column widens from a
whole number to a floating-point one; every stored rating keeps its value.

Revision ID: 0008_h16kinds
Revises: 0007_h16
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008_h16kinds'
down_revision: str | Sequence[str] | None = '0007_h16'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('students') as batch:
        batch.alter_column('admission_rating', existing_type=sa.Integer(), type_=sa.Double(), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('students') as batch:
        batch.alter_column('admission_rating', existing_type=sa.Double(), type_=sa.Integer(), existing_nullable=True)

"""The protocol's requisites: university, commission name and platform of a session; the questions
put to a student and the remarks on the answer.

Revision ID: 0005_protocol_fields
Revises: 0003_auth
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005_protocol_fields'
down_revision: str | Sequence[str] | None = '0003_auth'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Server defaults fill the rows that already exist; the models give the same values for new ones.
    with op.batch_alter_table('exam_sessions') as batch:
        batch.add_column(sa.Column('university', sa.String(length=500), nullable=False, server_default=''))
        batch.add_column(sa.Column('commission_name', sa.String(length=500), nullable=False, server_default=''))
        batch.add_column(sa.Column('platform', sa.String(length=255), nullable=False, server_default=''))
    with op.batch_alter_table('students') as batch:
        batch.add_column(sa.Column('questions_asked', sa.JSON(), nullable=False, server_default='[]'))
        batch.add_column(sa.Column('protocol_remarks', sa.Text(), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('students') as batch:
        batch.drop_column('protocol_remarks')
        batch.drop_column('questions_asked')
    with op.batch_alter_table('exam_sessions') as batch:
        batch.drop_column('platform')
        batch.drop_column('commission_name')
        batch.drop_column('university')

"""Forms of the exam: a session's kind-specific options (the test bank, the commission's vote) and a
student's plagiarism-check result.

Revision ID: 0007_h16
Revises: 0007_h14
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007_h16'
down_revision: str | Sequence[str] | None = '0007_h14'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('exam_sessions') as batch:
        batch.add_column(sa.Column('options', sa.JSON(), nullable=False, server_default='{}'))
    with op.batch_alter_table('students') as batch:
        batch.add_column(sa.Column('plagiarism_check', sa.Text(), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('students') as batch:
        batch.drop_column('plagiarism_check')
    with op.batch_alter_table('exam_sessions') as batch:
        batch.drop_column('options')

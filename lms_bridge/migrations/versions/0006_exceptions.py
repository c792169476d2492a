"""The exam day: exceptions per student, the commission's decision, the chair's release of results.

Revision ID: 0006_exceptions
Revises: 0002_run_lease
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006_exceptions'
down_revision: str | Sequence[str] | None = '0002_run_lease'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('exam_sessions') as batch:
        batch.add_column(sa.Column('released_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('released_by', sa.String(length=255), nullable=False, server_default=''))
    with op.batch_alter_table('decisions') as batch:
        batch.add_column(sa.Column('source', sa.String(length=20), nullable=False, server_default='vote'))
        batch.add_column(sa.Column('commission_reason', sa.Text(), nullable=False, server_default=''))
    op.create_table('student_exceptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('mark', sa.String(length=4), nullable=False),
    sa.Column('moved_to', sa.Date(), nullable=True),
    sa.Column('continuation', sa.String(length=10), nullable=False),
    sa.Column('recorded_by', sa.String(length=255), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['exam_sessions.id'],
                            name=op.f('fk_student_exceptions_session_id_exam_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'],
                            name=op.f('fk_student_exceptions_student_id_students'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_student_exceptions'))
    )
    op.create_index(op.f('ix_student_exceptions_student_id'), 'student_exceptions', ['student_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_student_exceptions_student_id'), table_name='student_exceptions')
    op.drop_table('student_exceptions')
    with op.batch_alter_table('decisions') as batch:
        batch.drop_column('commission_reason')
        batch.drop_column('source')
    with op.batch_alter_table('exam_sessions') as batch:
        batch.drop_column('released_by')
        batch.drop_column('released_at')

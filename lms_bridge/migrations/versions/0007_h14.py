"""The sitting board: each student's steps of the day, and each sitting day's meeting and recording links;
the students' control scores and the department's mailbox the sealed documents also go to.

Revision ID: 0007_h14
Revises: 0007_h13
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007_h14'
down_revision: str | Sequence[str] | None = '0007_h13'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The registrar's e-mail (exam_sessions.registrar_email) comes with 0007_h13; this adds the
    # department's mailbox beside it.
    with op.batch_alter_table('exam_sessions') as batch:
        batch.add_column(sa.Column('department_email', sa.String(length=254), nullable=False, server_default=''))
    with op.batch_alter_table('students') as batch:
        batch.add_column(sa.Column('current_score', sa.Double(), nullable=True))
        batch.add_column(sa.Column('midterm_score', sa.Double(), nullable=True))
    op.create_table('board_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['exam_sessions.id'],
                            name=op.f('fk_board_events_session_id_exam_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'],
                            name=op.f('fk_board_events_student_id_students'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_board_events'))
    )
    op.create_index(op.f('ix_board_events_session_id'), 'board_events', ['session_id'])
    op.create_table('sitting_days',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('meeting_url', sa.String(length=2000), nullable=False),
    sa.Column('recording_url', sa.String(length=2000), nullable=False),
    sa.Column('updated_by', sa.String(length=255), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['exam_sessions.id'],
                            name=op.f('fk_sitting_days_session_id_exam_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sitting_days')),
    sa.UniqueConstraint('session_id', 'day', name=op.f('uq_sitting_days_session_id_day'))
    )


def downgrade() -> None:
    op.drop_table('sitting_days')
    op.drop_index(op.f('ix_board_events_session_id'), table_name='board_events')
    op.drop_table('board_events')
    with op.batch_alter_table('students') as batch:
        batch.drop_column('midterm_score')
        batch.drop_column('current_score')
    with op.batch_alter_table('exam_sessions') as batch:
        batch.drop_column('department_email')

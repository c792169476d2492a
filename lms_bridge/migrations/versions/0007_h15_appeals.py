"""Appeals: the appeal commission of a session, each student's appeal and its ballots.

Revision ID: 0007_h15
Revises: 0006_exceptions
Create Date: 2026-12-01 17:36:26.713446
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007_h15'
down_revision: str | Sequence[str] | None = '0006_exceptions'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('appeal_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('email', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['exam_sessions.id'], name=op.f('fk_appeal_members_session_id_exam_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appeal_members')),
    sa.UniqueConstraint('session_id', 'email', name=op.f('uq_appeal_members_session_id_email'))
    )
    op.create_table('appeals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('filed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('filed_on', sa.Date(), nullable=False),
    sa.Column('closes_on', sa.Date(), nullable=False),
    sa.Column('statement', sa.JSON(), nullable=False),
    sa.Column('refusal', sa.Text(), nullable=False),
    sa.Column('original_letter', sa.String(length=4), nullable=False),
    sa.Column('original_points', sa.Double(), nullable=True),
    sa.Column('hearing_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('meeting_link', sa.String(length=500), nullable=False),
    sa.Column('form_id', sa.String(length=128), nullable=False),
    sa.Column('form_url', sa.String(length=500), nullable=False),
    sa.Column('form_questions', sa.JSON(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('new_letter', sa.String(length=4), nullable=False),
    sa.Column('votes', sa.JSON(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('new_sitting_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('documents', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['exam_sessions.id'], name=op.f('fk_appeals_session_id_exam_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_appeals_student_id_students'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appeals')),
    sa.UniqueConstraint('session_id', 'student_id', name=op.f('uq_appeals_session_id_student_id'))
    )
    with op.batch_alter_table('appeals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appeals_student_id'), ['student_id'], unique=False)

    op.create_table('appeal_ballots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('appeal_id', sa.Integer(), nullable=False),
    sa.Column('voter_email', sa.String(length=255), nullable=False),
    sa.Column('form_id', sa.String(length=128), nullable=False),
    sa.Column('response_id', sa.String(length=128), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('grade', sa.String(length=10), nullable=False),
    sa.Column('new_sitting', sa.String(length=10), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['appeal_id'], ['appeals.id'], name=op.f('fk_appeal_ballots_appeal_id_appeals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appeal_ballots')),
    sa.UniqueConstraint('form_id', 'response_id', 'submitted_at', name=op.f('uq_appeal_ballots_form_id_response_id_submitted_at'))
    )
    with op.batch_alter_table('appeal_ballots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appeal_ballots_appeal_id'), ['appeal_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('appeal_ballots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appeal_ballots_appeal_id'))

    op.drop_table('appeal_ballots')
    with op.batch_alter_table('appeals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appeals_student_id'))

    op.drop_table('appeals')
    op.drop_table('appeal_members')

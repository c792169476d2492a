"""Who may do what: e-mail and site roles of accounts, the session's other roles (department, head of
department, registrar), personal API tokens.

Revision ID: 0007_h13
Revises: 0007_h15
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007_h13'
down_revision: str | Sequence[str] | None = '0007_h15'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('email', sa.String(length=255), nullable=False, server_default=''))
        # Accounts made before roles existed could do everything: they stay administrators.
        batch.add_column(sa.Column('site_roles', sa.String(length=120), nullable=False,
                                   server_default='administrator'))
        batch.add_column(sa.Column('auth', sa.String(length=20), nullable=False, server_default='local'))
        batch.create_index(batch.f('ix_users_email'), ['email'], unique=False)
    with op.batch_alter_table('users') as batch:
        batch.alter_column('site_roles', server_default='')
    with op.batch_alter_table('exam_sessions') as batch:
        batch.add_column(sa.Column('department', sa.String(length=255), nullable=False, server_default=''))
        batch.add_column(sa.Column('head_email', sa.String(length=255), nullable=False, server_default=''))
        batch.add_column(sa.Column('registrar_email', sa.String(length=255), nullable=False, server_default=''))
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens') as batch:
        batch.create_index(batch.f('ix_api_tokens_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch:
        batch.drop_index(batch.f('ix_api_tokens_user_id'))
    op.drop_table('api_tokens')
    with op.batch_alter_table('exam_sessions') as batch:
        batch.drop_column('registrar_email')
        batch.drop_column('head_email')
        batch.drop_column('department')
    with op.batch_alter_table('users') as batch:
        batch.drop_index(batch.f('ix_users_email'))
        batch.drop_column('auth')
        batch.drop_column('site_roles')
        batch.drop_column('email')

"""SAML service provider key pair per connection.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 01:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("connections") as batch_op:
        batch_op.add_column(sa.Column("sp_private_key_sealed", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("sp_certificate", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("connections") as batch_op:
        batch_op.drop_column("sp_certificate")
        batch_op.drop_column("sp_private_key_sealed")

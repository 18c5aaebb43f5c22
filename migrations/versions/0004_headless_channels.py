"""Headless channels: one-time exchange codes; a logout path per channel.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 02:06:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exchange_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("access_token_sealed", sa.Text(), nullable=False),
        sa.Column("access_token_expires_at", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_exchange_codes_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_exchange_codes")),
    )
    with op.batch_alter_table("exchange_codes") as batch_op:
        batch_op.create_index(batch_op.f("ix_exchange_codes_expires_at"), ["expires_at"])
    with op.batch_alter_table("channels") as batch_op:
        batch_op.add_column(sa.Column("logout_path", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("channels") as batch_op:
        batch_op.drop_column("logout_path")
    with op.batch_alter_table("exchange_codes") as batch_op:
        batch_op.drop_index(batch_op.f("ix_exchange_codes_expires_at"))
    op.drop_table("exchange_codes")

"""Admin API tokens (kept as hashes with their scopes); one customer per connection.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:16:23.822114
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_admin_tokens_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_admin_tokens_token_hash")),
    )
    with op.batch_alter_table("links") as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_links_connection_id_customer_id"), ["connection_id", "customer_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("links") as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_links_connection_id_customer_id"), type_="unique")
    op.drop_table("admin_tokens")

"""SCIM tokens: the bearer tokens of each connection's SCIM endpoint, stored as SHA-256.

Expands only (a new table), so the code of 0004 to 0007 keeps serving on this schema and
`schema_compatibility` is left as it is.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scim_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_scim_tokens_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scim_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_scim_tokens_token_hash")),
    )
    op.create_index(
        op.f("ix_scim_tokens_connection_id"), "scim_tokens", ["connection_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_scim_tokens_connection_id"), table_name="scim_tokens")
    op.drop_table("scim_tokens")

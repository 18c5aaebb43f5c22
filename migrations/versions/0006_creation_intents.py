"""Creation intents: a customer creation is recorded before BigCommerce is asked for it.

Expands only (a new table), so the code of 0004 and 0005 keeps serving on this schema and
`schema_compatibility` is left as it is.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "creation_intents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=512), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_creation_intents_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_creation_intents_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_creation_intents")),
    )
    op.create_index(
        "ix_creation_intents_connection_id_subject",
        "creation_intents",
        ["connection_id", "subject"],
        unique=False,
    )
    op.create_index(
        op.f("ix_creation_intents_created_at"), "creation_intents", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_creation_intents_created_at"), table_name="creation_intents")
    op.drop_index("ix_creation_intents_connection_id_subject", table_name="creation_intents")
    op.drop_table("creation_intents")

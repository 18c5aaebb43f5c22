"""SCIM directory: the users and groups each connection's IdP provisions, the subjects it
deprovisioned (blocked from logging in), and the customer access tokens handed to headless
storefronts (kept sealed so a deprovisioning can end them).

Expands only (new tables), so the code of 0004 to 0008 keeps serving on this schema and
`schema_compatibility` is left as it is.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 16:36:22.431905
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issued_customer_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("token_sealed", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_issued_customer_tokens_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issued_customer_tokens")),
    )
    op.create_index(
        op.f("ix_issued_customer_tokens_expires_at"),
        "issued_customer_tokens",
        ["expires_at"],
        unique=False,
    )
    op.create_index(
        "ix_issued_customer_tokens_store_id_customer_id",
        "issued_customer_tokens",
        ["store_id", "customer_id"],
        unique=False,
    )

    op.create_table(
        "blocked_subjects",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=512), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("undo", sa.JSON(), nullable=False),
        sa.Column("settled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_blocked_subjects_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_blocked_subjects_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", "subject", name=op.f("pk_blocked_subjects")),
    )
    op.create_index(
        "ix_blocked_subjects_store_id_customer_id",
        "blocked_subjects",
        ["store_id", "customer_id"],
        unique=False,
    )

    op.create_table(
        "scim_groups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(length=512), nullable=False),
        sa.Column("display_name_key", sa.String(length=512), nullable=False),
        sa.Column("external_id", sa.String(length=512), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_scim_groups_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scim_groups")),
        sa.UniqueConstraint(
            "connection_id",
            "display_name_key",
            name=op.f("uq_scim_groups_connection_id_display_name_key"),
        ),
    )
    op.create_table(
        "scim_users",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("user_name", sa.String(length=512), nullable=False),
        sa.Column("user_name_key", sa.String(length=512), nullable=False),
        sa.Column("external_id", sa.String(length=512), nullable=True),
        sa.Column("subject", sa.String(length=512), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("resource", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_scim_users_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_scim_users_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scim_users")),
        sa.UniqueConstraint(
            "connection_id", "subject", name=op.f("uq_scim_users_connection_id_subject")
        ),
        sa.UniqueConstraint(
            "connection_id", "user_name_key", name=op.f("uq_scim_users_connection_id_user_name_key")
        ),
    )
    op.create_index(
        "ix_scim_users_connection_id_external_id",
        "scim_users",
        ["connection_id", "external_id"],
        unique=False,
    )

    op.create_table(
        "scim_group_members",
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("display", sa.String(length=512), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["scim_groups.id"],
            name=op.f("fk_scim_group_members_group_id_scim_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["scim_users.id"],
            name=op.f("fk_scim_group_members_user_id_scim_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "user_id", name=op.f("pk_scim_group_members")),
    )
    op.create_index(
        "ix_scim_group_members_user_id", "scim_group_members", ["user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_scim_group_members_user_id", table_name="scim_group_members")

    op.drop_table("scim_group_members")
    op.drop_index("ix_scim_users_connection_id_external_id", table_name="scim_users")

    op.drop_table("scim_users")
    op.drop_table("scim_groups")
    op.drop_index("ix_blocked_subjects_store_id_customer_id", table_name="blocked_subjects")

    op.drop_table("blocked_subjects")
    op.drop_index(
        "ix_issued_customer_tokens_store_id_customer_id", table_name="issued_customer_tokens"
    )
    op.drop_index(op.f("ix_issued_customer_tokens_expires_at"), table_name="issued_customer_tokens")

    op.drop_table("issued_customer_tokens")

"""Initial schema: stores, channels, connections, links, login state, one-time ledger, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 00:57:01.978492
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("store_slug", sa.String(length=63), nullable=True),
        sa.Column("connection_slug", sa.String(length=63), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=128), nullable=True),
        sa.Column("reference", sa.String(length=32), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("subject", sa.String(length=512), nullable=True),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_reference"), ["reference"], unique=False)
        batch_op.create_index("ix_audit_events_store_slug_id", ["store_slug", "id"], unique=False)

    op.create_table(
        "stores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("store_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("client_secret_sealed", sa.Text(), nullable=False),
        sa.Column("api_token_sealed", sa.Text(), nullable=False),
        sa.Column("api_base_url", sa.String(length=2048), nullable=False),
        sa.Column("default_channel_id", sa.Integer(), nullable=False),
        sa.Column("bind_request_ip", sa.Boolean(), nullable=False),
        sa.Column("app_client_id", sa.String(length=255), nullable=True),
        sa.Column("app_client_secret_sealed", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stores")),
        sa.UniqueConstraint("slug", name=op.f("uq_stores_slug")),
    )
    op.create_table(
        "used_values",
        sa.Column("namespace", sa.String(length=32), nullable=False),
        sa.Column("value_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("namespace", "value_hash", name=op.f("pk_used_values")),
    )
    with op.batch_alter_table("used_values", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_used_values_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("storefront_url", sa.String(length=2048), nullable=False),
        sa.Column("delivery", sa.String(length=16), nullable=True),
        sa.Column("login_token_path", sa.String(length=255), nullable=True),
        sa.Column("graphql_url", sa.String(length=2048), nullable=True),
        sa.Column("storefront_token_sealed", sa.Text(), nullable=True),
        sa.Column("return_url", sa.String(length=2048), nullable=True),
        sa.Column("exchange_secret_sealed", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_channels_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
        sa.UniqueConstraint("store_id", "channel_id", name=op.f("uq_channels_store_id_channel_id")),
    )
    op.create_table(
        "connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("protocol", sa.String(length=8), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("client_secret_sealed", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_connections_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connections")),
        sa.UniqueConstraint("store_id", "slug", name=op.f("uq_connections_store_id_slug")),
    )
    op.create_table(
        "links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=512), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.Column("login_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_links_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_links_store_id_stores"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_links")),
        sa.UniqueConstraint(
            "connection_id", "subject", name=op.f("uq_links_connection_id_subject")
        ),
    )
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.create_index(
            "ix_links_store_id_customer_id", ["store_id", "customer_id"], unique=False
        )
        batch_op.create_index("ix_links_store_id_email", ["store_id", "email"], unique=False)

    op.create_table(
        "login_states",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("browser_hash", sa.String(length=64), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("redirect_to", sa.String(length=2048), nullable=False),
        sa.Column("payload_sealed", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_login_states_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_login_states_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_login_states")),
    )
    with op.batch_alter_table("login_states", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_states_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("login_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_states_expires_at"))

    op.drop_table("login_states")
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_index("ix_links_store_id_email")
        batch_op.drop_index("ix_links_store_id_customer_id")

    op.drop_table("links")
    op.drop_table("connections")
    op.drop_table("channels")
    with op.batch_alter_table("used_values", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_used_values_expires_at"))

    op.drop_table("used_values")
    op.drop_table("stores")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_store_slug_id")
        batch_op.drop_index(batch_op.f("ix_audit_events_reference"))

    op.drop_table("audit_events")

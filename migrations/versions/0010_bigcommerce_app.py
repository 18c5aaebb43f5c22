"""The BigCommerce app: when a store's app was uninstalled, and the control-panel users who
may open the app for a store.

Expands only (a nullable column, a new table), so the code of 0004 to 0009 keeps serving on
this schema and `schema_compatibility` is left as it is.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 17:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("is_owner", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_load_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_app_users_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_users")),
        sa.UniqueConstraint("store_id", "user_id", name=op.f("uq_app_users_store_id_user_id")),
    )
    with op.batch_alter_table("stores") as batch:
        batch.add_column(sa.Column("app_uninstalled_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stores") as batch:
        batch.drop_column("app_uninstalled_at")
    op.drop_table("app_users")

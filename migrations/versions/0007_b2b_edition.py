"""B2B Edition: the store's B2B settings, the companies the adapter created, and the B2B
storefront token beside a headless exchange code.

Expands only (nullable or defaulted columns, a new table), so the code of 0004 to 0006
keeps serving on this schema and `schema_compatibility` is left as it is.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stores") as batch:
        batch.add_column(
            sa.Column("b2b_enabled", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("b2b_api_base_url", sa.String(length=2048), nullable=True))
        batch.add_column(sa.Column("b2b_api_token_sealed", sa.Text(), nullable=True))
    with op.batch_alter_table("exchange_codes") as batch:
        batch.add_column(sa.Column("b2b_token_sealed", sa.Text(), nullable=True))
    op.create_table(
        "b2b_companies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("company_key", sa.String(length=200), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_b2b_companies_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_b2b_companies")),
        sa.UniqueConstraint(
            "connection_id",
            "company_key",
            name=op.f("uq_b2b_companies_connection_id_company_key"),
        ),
    )


def downgrade() -> None:
    op.drop_table("b2b_companies")
    with op.batch_alter_table("exchange_codes") as batch:
        batch.drop_column("b2b_token_sealed")
    with op.batch_alter_table("stores") as batch:
        batch.drop_column("b2b_api_token_sealed")
        batch.drop_column("b2b_api_base_url")
        batch.drop_column("b2b_enabled")

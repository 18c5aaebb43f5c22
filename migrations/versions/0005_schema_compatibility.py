"""Which releases a schema still serves, for rolling upgrades (expand, then contract).

One row: the oldest code revision that still works on this schema. An expanding migration
(new tables, new nullable columns) leaves it alone, so the previous release keeps serving
while the new one rolls out; a contracting one (dropping what older code reads) moves it up
to the first revision whose code no longer needs what it drops. `/readyz` of a replica whose
code is older than the database's schema answers 200 only while its revision is not older
than this row's.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 04:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "schema_compatibility",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("oldest_code_revision", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schema_compatibility")),
    )
    # This revision only adds a table: the code of 0004 works on it unchanged.
    op.bulk_insert(table, [{"id": 1, "oldest_code_revision": "0004"}])


def downgrade() -> None:
    op.drop_table("schema_compatibility")

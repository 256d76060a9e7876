"""cases: items.case_key groups items into cases; a cases table holds each case's text and its text vector

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("case_key", sa.String(512), nullable=True))
    op.create_index("ix_items_archive_case", "items", ["archive_id", "case_key"])
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("archive_id", sa.Integer(), sa.ForeignKey("archives.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("content_hash", sa.String(128), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("diagnosis", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("split", sa.String(64), nullable=True),
        sa.Column("licence", sa.String(255), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=True),
        sa.UniqueConstraint("archive_id", "key", name="uq_cases_archive_key"),
    )


def downgrade() -> None:
    op.drop_table("cases")
    op.drop_index("ix_items_archive_case", table_name="items")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("case_key")

"""initial schema: archives, items, images, texts, labels

Revision ID: 0001
Revises:
Create Date: 2026-11-23
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
        "archives",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("root", sa.Text(), nullable=False),
        sa.Column("manifest", sa.Text(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("archive_id", sa.Integer(), sa.ForeignKey("archives.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("content_hash", sa.String(128), nullable=False),
        sa.Column("patient", sa.String(128), nullable=True),
        sa.Column("split", sa.String(64), nullable=True),
        sa.Column("licence", sa.String(255), nullable=True),
        sa.Column("modality", sa.String(64), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.UniqueConstraint("archive_id", "key", name="uq_items_archive_key"),
    )
    op.create_index("ix_items_split", "items", ["split"])
    op.create_index("ix_items_licence", "items", ["licence"])
    op.create_index("ix_items_modality", "items", ["modality"])
    for table, column, kind in (("images", "path", sa.Text()), ("texts", "text", sa.Text())):
        op.create_table(
            table,
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False,
                      unique=True),
            sa.Column(column, kind, nullable=True),
            sa.Column("vector_id", sa.Integer(), nullable=True),
        )
        op.create_index(f"ix_{table}_vector_id", table, ["vector_id"])
    op.create_table(
        "labels",
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("label", sa.String(255), primary_key=True),
    )
    op.create_index("ix_labels_label_item", "labels", ["label", "item_id"])


def downgrade() -> None:
    for table in ("labels", "texts", "images", "items", "archives"):
        op.drop_table(table)

"""full-text index: one row per sentence of each item's text with its terms by assertion status, indexed with
FTS5 (SQLite) or a weighted tsvector GIN index (PostgreSQL); existing texts are analysed and indexed in place.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = ("asserted", "negated", "uncertain", "historical")


def upgrade() -> None:
    from medsearch.store import lexical

    op.create_table(
        "lexical",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
        *(sa.Column(name, sa.Text(), nullable=False) for name in COLUMNS),
    )
    op.create_index("ix_lexical_item_id", "lexical", ["item_id"])
    bind = op.get_bind()
    for statement in lexical.backend_for(bind.dialect.name).ddl:
        op.execute(statement)
    lexical.backfill(bind)


def downgrade() -> None:
    from medsearch.store import lexical

    bind = op.get_bind()
    for statement in lexical.backend_for(bind.dialect.name).drop:
        op.execute(statement)
    op.drop_index("ix_lexical_item_id", "lexical")
    op.drop_table("lexical")

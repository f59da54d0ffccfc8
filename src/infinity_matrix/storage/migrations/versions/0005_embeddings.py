"""embeddings cache: sentence vectors keyed by (model, sha256 of the text)

Also, on SQLite, ``context_search_vocab``: an fts5vocab table over the context entries'
full-text index, from which retrieval reads how many entries hold each word of a task (to search
for the rarest words only).

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "embedding_vectors",
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model", "digest", name=op.f("pk_embedding_vectors")),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE context_search_vocab USING fts5vocab(context_search, 'row')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE context_search_vocab")
    op.drop_table("embedding_vectors")

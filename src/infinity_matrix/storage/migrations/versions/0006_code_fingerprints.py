"""code fingerprints: the derived index of code units for pattern recognition

One row per fingerprinted unit (function, class, statement block) of a context entry; rebuilt
from the entries, never from events. Indexed by (workspace, fingerprint, key) to find the
fingerprints that occur under several keys.

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-25
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
        "code_fingerprints",
        sa.Column("workspace_id", sa.String(length=63), nullable=False),
        sa.Column(
            "key",
            sa.String(length=256).with_variant(sa.String(length=256, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("start_line", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("end_line", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=32), nullable=False),
        sa.Column("mass", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_code_fingerprints_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id",
            "key",
            "fingerprint",
            "start_line",
            "end_line",
            name=op.f("pk_code_fingerprints"),
        ),
    )
    op.create_index(
        op.f("ix_code_fingerprints_workspace_id_fingerprint_key"),
        "code_fingerprints",
        ["workspace_id", "fingerprint", "key"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_code_fingerprints_workspace_id_fingerprint_key"), table_name="code_fingerprints"
    )
    op.drop_table("code_fingerprints")

"""providers: per-workspace provider configs, their encrypted credentials, the latest pushes

``providers`` and ``provider_pushes`` are projections of provider events (rebuilt by replay);
``provider_credentials`` holds sealed credentials outside the log, like API key hashes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _workspace_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["workspace_id"],
        ["workspaces.id"],
        name=op.f(f"fk_{table}_workspace_id_workspaces"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "providers",
        sa.Column("workspace_id", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("config", _json(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _workspace_fk("providers"),
        sa.PrimaryKeyConstraint("workspace_id", "name", name=op.f("pk_providers")),
    )
    op.create_table(
        "provider_credentials",
        sa.Column("workspace_id", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _workspace_fk("provider_credentials"),
        sa.PrimaryKeyConstraint("workspace_id", "name", name=op.f("pk_provider_credentials")),
    )
    op.create_table(
        "provider_pushes",
        sa.Column("workspace_id", sa.String(length=63), nullable=False),
        sa.Column("provider", sa.String(length=63), nullable=False),
        sa.Column("object_id", sa.String(length=500), nullable=True),
        sa.Column("version", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=100), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        _workspace_fk("provider_pushes"),
        sa.PrimaryKeyConstraint("workspace_id", "provider", name=op.f("pk_provider_pushes")),
    )


def downgrade() -> None:
    op.drop_table("provider_pushes")
    op.drop_table("provider_credentials")
    op.drop_table("providers")

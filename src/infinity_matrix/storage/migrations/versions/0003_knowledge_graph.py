"""knowledge graph: entities, observations, relations

Three tables (see storage/tables.py), plus substring-search indexes over the live rows:
SQLite: FTS5 tables with the trigram tokenizer (case-insensitive), external content pointing at
the graph tables by their INTEGER PRIMARY KEY, kept in step by triggers (a row leaves the index
when a deletion supersedes it). PostgreSQL: pg_trgm GIN indexes for ILIKE; the name index uses
the database's default collation, since ILIKE under the column's "C" collation folds ASCII only.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_LIVE = sa.text("valid_to IS NULL")


def _c_string(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _row_id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _provenance() -> list[sa.Column[object]]:
    return [
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("superseded_seq", sa.BigInteger(), nullable=True),
    ]


def _workspace_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["workspace_id"],
        ["workspaces.id"],
        name=op.f(f"fk_{table}_workspace_id_workspaces"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "graph_entities",
        sa.Column("id", _row_id(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.String(length=63), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("name", _c_string(200), nullable=False),
        sa.Column("entity_type", sa.String(length=100), nullable=False),
        *_provenance(),
        _workspace_fk("graph_entities"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_graph_entities")),
        sa.UniqueConstraint("workspace_id", "seq", name=op.f("uq_graph_entities_workspace_id_seq")),
    )
    op.create_index(
        op.f("ix_graph_entities_workspace_id_name"),
        "graph_entities",
        ["workspace_id", "name"],
        unique=True,
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )
    op.create_table(
        "graph_observations",
        sa.Column("id", _row_id(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.String(length=63), nullable=False),
        sa.Column("entity_seq", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("ord", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        *_provenance(),
        _workspace_fk("graph_observations"),
        sa.ForeignKeyConstraint(
            ["workspace_id", "entity_seq"],
            ["graph_entities.workspace_id", "graph_entities.seq"],
            name=op.f("fk_graph_observations_workspace_id_graph_entities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_graph_observations")),
        sa.UniqueConstraint(
            "workspace_id",
            "entity_seq",
            "seq",
            "ord",
            name=op.f("uq_graph_observations_workspace_id_entity_seq_seq_ord"),
        ),
    )
    op.create_table(
        "graph_relations",
        sa.Column("workspace_id", sa.String(length=63), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("from_name", _c_string(200), nullable=False),
        sa.Column("to_name", _c_string(200), nullable=False),
        sa.Column("relation_type", _c_string(100), nullable=False),
        *_provenance(),
        _workspace_fk("graph_relations"),
        sa.PrimaryKeyConstraint("workspace_id", "seq", name=op.f("pk_graph_relations")),
    )
    op.create_index(
        op.f("ix_graph_relations_workspace_id_from_name_to_name_relation_type"),
        "graph_relations",
        ["workspace_id", "from_name", "to_name", "relation_type"],
        unique=True,
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )
    op.create_index(
        op.f("ix_graph_relations_workspace_id_to_name"),
        "graph_relations",
        ["workspace_id", "to_name"],
        unique=False,
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for table in ("graph_entities", "graph_observations"):
            for trigger in ("insert", "end", "delete"):
                op.execute(f"DROP TRIGGER {table}_fts_{trigger}")
            op.execute(f"DROP TABLE {table}_fts")
    # The trigram indexes go with their tables on PostgreSQL.
    op.drop_table("graph_relations")
    op.drop_table("graph_observations")
    op.drop_table("graph_entities")


def _upgrade_postgresql() -> None:
    # pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, column in (
        ("graph_entities", 'name COLLATE "default"'),
        ("graph_entities", "entity_type"),
        ("graph_observations", "content"),
    ):
        index = f"ix_{table}_{column.split()[0]}_trgm"
        # fastupdate off: with GIN's pending list every search would scan the entries added
        # since the last vacuum, one by one; small writes can afford the direct update.
        op.execute(
            f"CREATE INDEX {index} ON {table} USING gin ({column} gin_trgm_ops)"
            " WITH (fastupdate = off) WHERE valid_to IS NULL"
        )


def _upgrade_sqlite() -> None:
    # Every name below is a constant of this function: no SQL is built from input.
    for table, columns in (
        ("graph_entities", ("name", "entity_type")),
        ("graph_observations", ("content",)),
    ):
        fts = f"{table}_fts"
        listed = ", ".join(columns)
        new = ", ".join(f"new.{c}" for c in columns)
        old = ", ".join(f"old.{c}" for c in columns)
        forget = f"INSERT INTO {fts}({fts}, rowid, {listed}) VALUES ('delete', old.id, {old});"  # noqa: S608
        op.execute(
            f"CREATE VIRTUAL TABLE {fts} USING fts5({listed}, content='{table}',"
            " content_rowid='id', tokenize='trigram')"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} WHEN new.valid_to IS NULL"  # noqa: S608
            f" BEGIN INSERT INTO {fts}(rowid, {listed}) VALUES (new.id, {new}); END"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_end AFTER UPDATE OF valid_to ON {table}"
            f" WHEN old.valid_to IS NULL AND new.valid_to IS NOT NULL BEGIN {forget} END"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} WHEN old.valid_to IS NULL"
            f" BEGIN {forget} END"
        )

"""insights: records, supports, conflicts, source tallies, judgements, usage, full-text index

Six tables (see storage/tables.py) and a full-text index over insights (title weighted most,
then tags and topic, then body). SQLite: an FTS5 table ``insights_search`` (rowid = the
insight's ``row_id``) kept in step by triggers, as migration 0002 does for context entries.
PostgreSQL: a generated ``search_vector`` column with a GIN index (``imx_json_words`` of 0002
turns the tags into words).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# As in 0002: PostgreSQL keeps "a/b.c" as one token where SQLite splits it into words.
_GLUE = "/\\.-@_"
_SPACES = " " * len(_GLUE)


def _c_string(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


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
        "insights",
        sa.Column(
            "row_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("workspace_id", sa.String(length=63), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tags", _json(), nullable=False),
        sa.Column("topic", _c_string(200), nullable=True),
        sa.Column("evidence", _json(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("superseded_by", sa.BigInteger(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("assistant", sa.String(length=100), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("source_key", sa.String(length=402), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("outdated", sa.Integer(), nullable=False),
        sa.Column("corroborations", sa.Integer(), nullable=False),
        sa.Column("occurrences", _json(), nullable=False),
        sa.Column("stated_confidence", sa.Float(), nullable=True),
        sa.Column("judged", sa.String(length=8), nullable=True),
        _workspace_fk("insights"),
        sa.PrimaryKeyConstraint("row_id", name=op.f("pk_insights")),
        sa.UniqueConstraint("workspace_id", "id", name=op.f("uq_insights_workspace_id_id")),
    )
    for columns in (("topic", "id"), ("kind", "id"), ("source_key",)):
        op.create_index(
            op.f(f"ix_insights_workspace_id_{'_'.join(columns)}"),
            "insights",
            ["workspace_id", *columns],
        )
    op.create_table(
        "insight_supports",
        sa.Column("workspace_id", sa.String(length=63), nullable=False),
        sa.Column("insight_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("source_key", sa.String(length=402), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("assistant", sa.String(length=100), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        _workspace_fk("insight_supports"),
        sa.PrimaryKeyConstraint(
            "workspace_id", "insight_id", "source_key", name=op.f("pk_insight_supports")
        ),
    )
    op.create_table(
        "insight_conflicts",
        sa.Column("workspace_id", sa.String(length=63), nullable=False),
        sa.Column("insight_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("other_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        _workspace_fk("insight_conflicts"),
        sa.PrimaryKeyConstraint(
            "workspace_id", "insight_id", "other_id", name=op.f("pk_insight_conflicts")
        ),
    )
    op.create_table(
        "source_tallies",
        sa.Column("workspace_id", sa.String(length=63), nullable=False),
        sa.Column("source_key", sa.String(length=402), nullable=False),
        sa.Column("accepted", sa.Float(), nullable=False),
        sa.Column("rejected", sa.Float(), nullable=False),
        sa.Column("outdated", sa.Float(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("clock", sa.Float(), nullable=False),
        _workspace_fk("source_tallies"),
        sa.PrimaryKeyConstraint("workspace_id", "source_key", name=op.f("pk_source_tallies")),
    )
    op.create_table(
        "insight_judgements",
        sa.Column("workspace_id", sa.String(length=63), nullable=False),
        sa.Column("insight_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("source_key", sa.String(length=402), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=True),
        sa.Column("folded_at", sa.Float(), nullable=False),
        sa.Column("outdated", sa.Boolean(), nullable=False),
        _workspace_fk("insight_judgements"),
        sa.PrimaryKeyConstraint(
            "workspace_id", "insight_id", "source_key", name=op.f("pk_insight_judgements")
        ),
    )
    op.create_table(
        "insight_usage",
        sa.Column("workspace_id", sa.String(length=63), nullable=False),
        sa.Column("insight_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("target", sa.String(length=100), nullable=False),
        sa.Column("served", sa.BigInteger(), nullable=False),
        sa.Column("last_served_at", sa.DateTime(timezone=True), nullable=False),
        _workspace_fk("insight_usage"),
        sa.PrimaryKeyConstraint(
            "workspace_id", "insight_id", "target", name=op.f("pk_insight_usage")
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for trigger in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER insights_search_{trigger}")
        op.execute("DROP TABLE insights_search")
    for table in (
        "insight_usage",
        "insight_judgements",
        "source_tallies",
        "insight_conflicts",
        "insight_supports",
    ):
        op.drop_table(table)
    op.drop_table("insights")  # its search column and GIN index go with it on PostgreSQL


def _upgrade_postgresql() -> None:
    # Title weighs A, tags and topic B, body D (ts_rank_cd's defaults 1.0, 0.4, 0.1).
    op.execute(
        f"""ALTER TABLE insights ADD COLUMN search_vector tsvector
        GENERATED ALWAYS AS (
            setweight(to_tsvector('simple', translate(title, '{_GLUE}', '{_SPACES}')), 'A') ||
            setweight(to_tsvector('simple', translate(
                coalesce(topic, '') || ' ' || imx_json_words(tags), '{_GLUE}', '{_SPACES}')), 'B') ||
            setweight(to_tsvector('simple', translate(body, '{_GLUE}', '{_SPACES}')), 'D')
        ) STORED"""
    )
    op.create_index(
        "ix_insights_search_vector", "insights", ["search_vector"], postgresql_using="gin"
    )


_SQLITE_WORDS = (
    "{row}.row_id, {row}.title, {row}.body,"
    " (SELECT group_concat(value, ' ') FROM json_each({row}.tags)), {row}.topic"
)


def _sqlite_insert(row: str) -> str:
    return (
        "INSERT INTO insights_search(rowid, title, body, tags, topic)"  # noqa: S608 - constants
        f" VALUES ({_SQLITE_WORDS.format(row=row)});"
    )


def _upgrade_sqlite() -> None:
    op.execute(
        "CREATE VIRTUAL TABLE insights_search USING fts5("
        "title, body, tags, topic, tokenize = 'unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER insights_search_insert AFTER INSERT ON insights BEGIN "
        f"{_sqlite_insert('new')} END"
    )
    # Status, counters and occurrences change often; the words never do (but stay correct).
    op.execute(
        "CREATE TRIGGER insights_search_update AFTER UPDATE OF title, body, tags, topic"  # noqa: S608 - constants
        " ON insights BEGIN DELETE FROM insights_search WHERE rowid = old.row_id;"
        f" {_sqlite_insert('new')} END"
    )
    op.execute(
        "CREATE TRIGGER insights_search_delete AFTER DELETE ON insights BEGIN"
        " DELETE FROM insights_search WHERE rowid = old.row_id; END"
    )

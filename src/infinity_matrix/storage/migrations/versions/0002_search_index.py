"""full-text search index on context entries

SQLite: an FTS5 table ``context_search`` (key, text, data as words; rowid = the entry's rowid)
kept in step by triggers on ``context_entries``. PostgreSQL: a generated ``search_vector``
column with a GIN index. Either way no Python write path changes, and a replay (which deletes
and re-inserts the projection rows) leaves the index consistent. See docs/decisions/0005.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# PostgreSQL's parser keeps "src/app.py", "a@b.c", "v1.2" and "foo-bar" as single tokens, where
# SQLite's unicode61 splits them into words; replacing these glue characters by spaces makes
# both databases find the same words.
_GLUE = "/\\.-@_"
_SPACES = " " * len(_GLUE)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_context_entries_search_vector", table_name="context_entries")
        op.drop_column("context_entries", "search_vector")
        op.execute("DROP FUNCTION imx_json_words(jsonb)")
    else:
        for trigger in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER context_entries_search_{trigger}")
        op.execute("DROP TABLE context_search")


def _sqlite_words(data: str) -> str:
    """SQL for the keys and scalar values of the JSON ``data`` as one text, in document order
    (``json_tree`` decodes escapes: SQLAlchemy stores non-ASCII characters as ``\\uXXXX``)."""
    return f"""(SELECT group_concat(word, ' ') FROM (
        SELECT trim(
            CASE WHEN typeof(key) = 'text' THEN key ELSE '' END || ' ' ||
            CASE WHEN type IN ('text', 'integer', 'real') THEN value ELSE '' END
        ) AS word FROM json_tree({data})) WHERE word <> '')"""  # noqa: S608 - constants only


def _sqlite_insert(row: str) -> str:
    return (
        "INSERT INTO context_search(rowid, key, text, data)"  # noqa: S608 - SQL from constants only
        f" VALUES ({row}.rowid, {row}.key, {row}.text, {_sqlite_words(f'{row}.data')});"
    )


def _upgrade_sqlite() -> None:
    # The index keeps its own copy of the words: an external-content table would have to read
    # them back through a view over json_tree, which FTS5 refuses (it prepares its content
    # queries with SQLITE_PREPARE_NO_VTAB).
    op.execute(
        "CREATE VIRTUAL TABLE context_search USING fts5("
        "key, text, data, tokenize = 'unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER context_entries_search_insert AFTER INSERT ON context_entries BEGIN "
        f"{_sqlite_insert('new')} END"
    )
    # An upsert that only changes tags or seq leaves the words alone.
    op.execute(
        "CREATE TRIGGER context_entries_search_update AFTER UPDATE OF key, text, data"  # noqa: S608 - SQL from constants only
        " ON context_entries WHEN old.key IS NOT new.key OR old.text IS NOT new.text"
        " OR old.data IS NOT new.data BEGIN"
        " DELETE FROM context_search WHERE rowid = old.rowid;"
        f" {_sqlite_insert('new')} END"
    )
    op.execute(
        "CREATE TRIGGER context_entries_search_delete AFTER DELETE ON context_entries BEGIN"
        " DELETE FROM context_search WHERE rowid = old.rowid; END"
    )
    op.execute(
        "INSERT INTO context_search(rowid, key, text, data)"  # noqa: S608 - SQL from constants only
        f" SELECT rowid, key, text, {_sqlite_words('data')} FROM context_entries"
    )


def _upgrade_postgresql() -> None:
    # IMMUTABLE (jsonb_path_query is), so a generated column may call it.
    op.execute(
        """CREATE FUNCTION imx_json_words(doc jsonb) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT coalesce(string_agg(word, ' '), '') FROM (
                SELECT jsonb_path_query(
                    doc, 'strict $.** ? (@.type() == "object").keyvalue().key'
                ) #>> '{}' AS word
                UNION ALL
                SELECT jsonb_path_query(
                    doc, 'strict $.** ? (@.type() == "string" || @.type() == "number")'
                ) #>> '{}'
            ) AS words
        $$"""
    )
    # Keys weigh A, values D: ts_rank_cd's default weights make a key match count ten times a
    # match in the value, as bm25's column weights do on SQLite.
    op.execute(
        f"""ALTER TABLE context_entries ADD COLUMN search_vector tsvector
        GENERATED ALWAYS AS (
            setweight(to_tsvector('simple', translate(key, '{_GLUE}', '{_SPACES}')), 'A') ||
            setweight(to_tsvector('simple',
                translate(coalesce(text, ''), '{_GLUE}', '{_SPACES}')), 'D') ||
            setweight(to_tsvector('simple',
                translate(imx_json_words(data), '{_GLUE}', '{_SPACES}')), 'D')
        ) STORED"""
    )
    op.create_index(
        "ix_context_entries_search_vector",
        "context_entries",
        ["search_vector"],
        postgresql_using="gin",
    )

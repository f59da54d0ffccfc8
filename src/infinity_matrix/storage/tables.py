"""SQLAlchemy table definitions: the schema both SQLite and PostgreSQL share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite stores them naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if not isinstance(value, datetime):
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Json = sa.JSON().with_variant(JSONB(), "postgresql")


def _path_string(length: int) -> sa.types.TypeEngine[str]:
    """Keys compared byte by byte on both databases, so prefix ranges work whatever the
    database's default collation (SQLite's BINARY already is)."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _fk_workspace() -> sa.ForeignKey:
    return sa.ForeignKey("workspaces.id", ondelete="CASCADE")


workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("id", sa.String(63), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("epoch", sa.String(32), nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("workspace_id", sa.String(63), _fk_workspace(), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("subject", _path_string(300), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("source", sa.String(200)),
    sa.Column("client_msg_id", sa.String(200)),
    sa.Column("payload", Json, nullable=False),
    sa.Column("data", sa.LargeBinary),
    sa.Column("trace_id", sa.String(64)),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    # NULLs are distinct in unique constraints on both databases: only set ids are unique.
    sa.UniqueConstraint("workspace_id", "client_msg_id"),
    sa.Index(None, "workspace_id", "subject", "seq"),
)

context_entries = sa.Table(
    "context_entries",
    metadata,
    sa.Column("workspace_id", sa.String(63), _fk_workspace(), primary_key=True),
    sa.Column("key", _path_string(256), primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("text", sa.Text),
    sa.Column("data", Json),
    sa.Column("tags", Json, nullable=False),
    sa.Column("state", sa.LargeBinary, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
)

memberships = sa.Table(
    "memberships",
    metadata,
    sa.Column("workspace_id", sa.String(63), _fk_workspace(), primary_key=True),
    sa.Column("principal", sa.String(200), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("added_at", UTCDateTime, nullable=False),
    sa.Column("added_by", sa.String(200), nullable=False),
    sa.Index(None, "principal"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("is_admin", sa.Boolean, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("workspace_id", sa.String(63), _fk_workspace(), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime),
    sa.Column("revoked_at", UTCDateTime),
    sa.Column("last_used_at", UTCDateTime),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("family", sa.String(32), nullable=False, index=True),
    sa.Column(
        "username",
        sa.String(64),
        sa.ForeignKey("users.username", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime),
    sa.Column("revoked_at", UTCDateTime),
)

blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("media_type", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)


# The knowledge graph. Rows are never deleted by use: a deletion supersedes a fact (sets
# ``valid_to`` and the ``superseded_seq`` of the event that did it), so history stays. Only live
# rows are indexed for lookups and search. Substring search uses structures that migration 0003
# builds beside this metadata, which cannot declare them: FTS5 trigram tables on SQLite (with
# their shadow tables), pg_trgm GIN indexes on PostgreSQL; they are named below.

_LIVE = sa.text("valid_to IS NULL")
# An INTEGER PRIMARY KEY is SQLite's stable rowid, which the FTS5 index refers to.
_RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _provenance() -> list[sa.Column[Any]]:
    return [
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("source", sa.String(200)),
        sa.Column("valid_from", UTCDateTime, nullable=False),
        sa.Column("valid_to", UTCDateTime),
        sa.Column("superseded_seq", sa.BigInteger),
    ]


graph_entities = sa.Table(
    "graph_entities",
    metadata,
    sa.Column("id", _RowId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.String(63), _fk_workspace(), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),  # the event that created it
    sa.Column("name", _path_string(200), nullable=False),
    sa.Column("entity_type", sa.String(100), nullable=False),
    *_provenance(),
    sa.UniqueConstraint("workspace_id", "seq"),
    sa.Index(
        None,
        "workspace_id",
        "name",
        unique=True,
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    ),
)

graph_observations = sa.Table(
    "graph_observations",
    metadata,
    sa.Column("id", _RowId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.String(63), _fk_workspace(), nullable=False),
    sa.Column("entity_seq", sa.BigInteger, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),  # the event that added it
    sa.Column("ord", sa.Integer, nullable=False),  # its place in that event
    sa.Column("content", sa.Text, nullable=False),
    *_provenance(),
    sa.ForeignKeyConstraint(
        ["workspace_id", "entity_seq"],
        ["graph_entities.workspace_id", "graph_entities.seq"],
        ondelete="CASCADE",
    ),
    sa.UniqueConstraint("workspace_id", "entity_seq", "seq", "ord"),
)

graph_relations = sa.Table(
    "graph_relations",
    metadata,
    sa.Column("workspace_id", sa.String(63), _fk_workspace(), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("from_name", _path_string(200), nullable=False),
    sa.Column("to_name", _path_string(200), nullable=False),
    sa.Column("relation_type", _path_string(100), nullable=False),
    *_provenance(),
    sa.Index(
        None,
        "workspace_id",
        "from_name",
        "to_name",
        "relation_type",
        unique=True,
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    ),
    sa.Index(None, "workspace_id", "to_name", sqlite_where=_LIVE, postgresql_where=_LIVE),
)

GRAPH_SEARCH_TABLES = ("graph_entities_fts", "graph_observations_fts")  # SQLite, FTS5 trigram
GRAPH_SEARCH_INDEXES = (  # PostgreSQL, pg_trgm GIN
    "ix_graph_entities_name_trgm",
    "ix_graph_entities_entity_type_trgm",
    "ix_graph_observations_content_trgm",
)

# Sentence embeddings computed once for every node and every restart (migration 0005): keyed by
# the model (name and weights digest) and the sha256 of the text, so equal texts share a row.
embedding_vectors = sa.Table(
    "embedding_vectors",
    metadata,
    sa.Column("model", sa.String(100), primary_key=True),
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("vector", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# Insights (migration 0004): projections of the insight.* events, plus the usage counters, which
# are not a projection (aggregated increments, no events; a replay leaves them alone). Full-text
# search is schema migration 0004 builds beside this metadata: an FTS5 table kept by triggers on
# SQLite, a generated tsvector column with a GIN index on PostgreSQL; named below.
insights = sa.Table(
    "insights",
    metadata,
    sa.Column("row_id", _RowId, primary_key=True, autoincrement=True),  # the FTS5 rowid
    sa.Column("workspace_id", sa.String(63), _fk_workspace(), nullable=False),
    sa.Column("id", sa.BigInteger, nullable=False),  # the seq of its insight.recorded
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("tags", Json, nullable=False),
    sa.Column("topic", _path_string(200)),
    sa.Column("evidence", Json, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("superseded_by", sa.BigInteger),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("assistant", sa.String(100)),
    sa.Column("model", sa.String(100)),
    sa.Column("source", sa.String(200)),
    sa.Column("source_key", sa.String(402), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),  # the last event that changed it
    sa.Column("accepted", sa.Integer, nullable=False),
    sa.Column("rejected", sa.Integer, nullable=False),
    sa.Column("outdated", sa.Integer, nullable=False),
    sa.Column("corroborations", sa.Integer, nullable=False),
    sa.Column("occurrences", Json, nullable=False),
    sa.Column("stated_confidence", sa.Float),
    sa.Column("judged", sa.String(8)),  # "true" | "false" from feedback; NULL: not judged
    sa.UniqueConstraint("workspace_id", "id"),
    sa.Index(None, "workspace_id", "topic", "id"),
    sa.Index(None, "workspace_id", "kind", "id"),
    sa.Index(None, "workspace_id", "source_key"),
)

insight_supports = sa.Table(
    "insight_supports",
    metadata,
    sa.Column("workspace_id", sa.String(63), _fk_workspace(), primary_key=True),
    sa.Column("insight_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("source_key", sa.String(402), primary_key=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("assistant", sa.String(100)),
    sa.Column("model", sa.String(100)),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("similarity", sa.Float, nullable=False),
)

insight_conflicts = sa.Table(
    "insight_conflicts",
    metadata,
    sa.Column("workspace_id", sa.String(63), _fk_workspace(), primary_key=True),
    sa.Column("insight_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("other_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
)

source_tallies = sa.Table(
    "source_tallies",
    metadata,
    sa.Column("workspace_id", sa.String(63), _fk_workspace(), primary_key=True),
    sa.Column("source_key", sa.String(402), primary_key=True),
    sa.Column("accepted", sa.Float, nullable=False),
    sa.Column("rejected", sa.Float, nullable=False),
    sa.Column("outdated", sa.Float, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("clock", sa.Float, nullable=False),  # fading seen (confidence.SourceTally.clock)
)

# What each source's tally holds for each insight judged (once per insight and source).
insight_judgements = sa.Table(
    "insight_judgements",
    metadata,
    sa.Column("workspace_id", sa.String(63), _fk_workspace(), primary_key=True),
    sa.Column("insight_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("source_key", sa.String(402), primary_key=True),
    sa.Column("verdict", sa.String(16)),  # accepted | rejected | NULL
    sa.Column("folded_at", sa.Float, nullable=False),
    sa.Column("outdated", sa.Boolean, nullable=False),
)

insight_usage = sa.Table(
    "insight_usage",
    metadata,
    sa.Column("workspace_id", sa.String(63), _fk_workspace(), primary_key=True),
    sa.Column("insight_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("target", sa.String(100), primary_key=True),
    sa.Column("served", sa.BigInteger, nullable=False),
    sa.Column("last_served_at", UTCDateTime, nullable=False),
)

INSIGHT_SEARCH_TABLE = "insights_search"  # SQLite, FTS5 (and its shadow tables)
INSIGHT_SEARCH_COLUMN = "search_vector"  # PostgreSQL, generated tsvector on insights
INSIGHT_SEARCH_INDEX = "ix_insights_search_vector"  # PostgreSQL, GIN

# A derived index, not a projection of the log: rebuilt from the context entries (migration
# 0006, storage/patterns.py). One row per fingerprinted code unit of an entry.
code_fingerprints = sa.Table(
    "code_fingerprints",
    metadata,
    sa.Column("workspace_id", sa.String(63), _fk_workspace(), primary_key=True),
    sa.Column("key", _path_string(256), primary_key=True),
    sa.Column("fingerprint", sa.String(32), primary_key=True),
    sa.Column("start_line", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("end_line", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("language", sa.String(32), nullable=False),
    sa.Column("mass", sa.Integer, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),  # the entry's version it was made from
    sa.Index(None, "workspace_id", "fingerprint", "key"),
)

# Providers configured per workspace: a projection of provider.configured/removed events (the
# public config as JSON, has_credential excepted: that is whether a credential row exists).
providers = sa.Table(
    "providers",
    metadata,
    sa.Column("workspace_id", sa.String(63), _fk_workspace(), primary_key=True),
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("config", Json, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Provider credentials, encrypted (security/encryption.py); like API key hashes they are kept
# outside the log and outside the projections: a replay leaves them alone (decision 0002).
provider_credentials = sa.Table(
    "provider_credentials",
    metadata,
    sa.Column("workspace_id", sa.String(63), _fk_workspace(), primary_key=True),
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("ciphertext", sa.Text, nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# The latest push to each provider (a projection of provider.pushed events).
provider_pushes = sa.Table(
    "provider_pushes",
    metadata,
    sa.Column("workspace_id", sa.String(63), _fk_workspace(), primary_key=True),
    sa.Column("provider", sa.String(63), primary_key=True),
    sa.Column("object_id", sa.String(500)),
    sa.Column("version", sa.String(200)),
    sa.Column("status", sa.String(16), nullable=False),  # ok | failed
    sa.Column("error_code", sa.String(100)),
    sa.Column("error_detail", sa.Text),
    sa.Column("digest", sa.String(64)),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)

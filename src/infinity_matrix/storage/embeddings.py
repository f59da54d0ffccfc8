"""SqlEmbeddingCache: sentence vectors stored once for every node, keyed by (model, sha256).

A vector depends only on the model and the text, so it is computed once per text and shared
by restarts, nodes and workspaces (migration 0005). Vectors are float32 bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from infinity_matrix.storage import tables as t
from infinity_matrix.storage.database import Database

_CHUNK = 500  # digests per statement: well under every database's parameter limit
_v = t.embedding_vectors.c


class SqlEmbeddingCache:
    """Implements ``core.ports.EmbeddingCache`` on SQLite or PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def load_vectors(self, model: str, digests: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        async with self._db.read() as conn:
            for start in range(0, len(digests), _CHUNK):
                chunk = list(digests[start : start + _CHUNK])
                rows = await conn.execute(
                    sa.select(_v.digest, _v.vector).where(_v.model == model, _v.digest.in_(chunk))
                )
                found.update((row.digest, bytes(row.vector)) for row in rows)
        return found

    async def save_vectors(self, model: str, vectors: Mapping[str, bytes]) -> None:
        """Store vectors; one already stored (computed by another node) is kept as it is."""
        if not vectors:
            return
        now = datetime.now(UTC)
        rows = [
            {"model": model, "digest": d, "vector": v, "created_at": now}
            for d, v in vectors.items()
        ]
        async with self._db.write() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            statement = dialect.insert(t.embedding_vectors).on_conflict_do_nothing()
            for start in range(0, len(rows), _CHUNK):
                await conn.execute(statement, rows[start : start + _CHUNK])

"""LocalBlobStore: content-addressed bytes (sha256) in a directory, metadata in the database.

Large context payloads and attachments live here rather than in rows. A blob's file is written
to a temporary name and renamed into place before its row is inserted, so a row never points at
a partial file; an orphan file (crash between the two) is harmless and rewritten on the next put.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from infinity_matrix.errors import InvalidInput, NotFound
from infinity_matrix.storage import tables as t
from infinity_matrix.storage.database import Database

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class BlobInfo:
    sha256: str
    size: int
    media_type: str
    created_at: datetime


class LocalBlobStore:
    def __init__(self, db: Database, directory: Path) -> None:
        self._db = db
        self._dir = directory

    async def put(self, content: bytes, media_type: str = "application/octet-stream") -> BlobInfo:
        """Store ``content`` once, whatever how often it is put; answers its address."""
        digest = hashlib.sha256(content).hexdigest()
        await asyncio.to_thread(self._write_file, digest, content)
        info = BlobInfo(digest, len(content), media_type, datetime.now(UTC))
        dialect = postgresql if self._db.writer.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(t.blobs).values(
            sha256=digest, size=info.size, media_type=media_type, created_at=info.created_at
        )
        async with self._db.write() as conn:
            await conn.execute(stmt.on_conflict_do_nothing(index_elements=["sha256"]))
        return info

    async def get(self, sha256: str) -> bytes:
        """Raises ``NotFound`` (``blob.not_found``) or ``InvalidInput`` for a malformed address."""
        path = self._path(sha256)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise NotFound(f"no blob {sha256}", code="blob.not_found") from exc

    async def info(self, sha256: str) -> BlobInfo:
        self._path(sha256)
        async with self._db.read() as conn:
            row = (await conn.execute(sa.select(t.blobs).where(t.blobs.c.sha256 == sha256))).first()
        if row is None:
            raise NotFound(f"no blob {sha256}", code="blob.not_found")
        return BlobInfo(row.sha256, row.size, row.media_type, row.created_at)

    def _path(self, sha256: str) -> Path:
        if not _SHA256.fullmatch(sha256):
            raise InvalidInput("a blob address is 64 lowercase hex digits", code="blob.invalid_id")
        return self._dir / sha256[:2] / sha256[2:]

    def _write_file(self, digest: str, content: bytes) -> None:
        path = self._path(digest)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

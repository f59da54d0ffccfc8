"""Current-state records: what the projections of the log hold, as plain dataclasses."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from infinity_matrix.errors import InvalidInput

Kind = Literal["text", "json"]

WORKSPACE_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
# Path-like keys: segments of letters, digits and ._- separated by single slashes; no "." or ".."
# segments, so a key can always be used as a relative file path by instruction-file sync.
_KEY_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
MAX_KEY_LENGTH = 256


def validate_workspace_id(value: str) -> str:
    if not WORKSPACE_ID.fullmatch(value):
        raise InvalidInput(
            "workspace id must match [a-z0-9][a-z0-9-]{0,62}", code="workspace.invalid_id"
        )
    return value


def validate_key(key: str) -> str:
    segments = key.split("/")
    if (
        not key
        or len(key) > MAX_KEY_LENGTH
        or not all(_KEY_SEGMENT.fullmatch(s) and s not in {".", ".."} for s in segments)
    ):
        raise InvalidInput(
            "key must be a path of segments [A-Za-z0-9_][A-Za-z0-9._-]* joined by '/',"
            f" at most {MAX_KEY_LENGTH} characters",
            code="context.invalid_key",
        )
    return key


@dataclass(frozen=True, slots=True)
class WorkspaceRecord:
    id: str
    name: str
    epoch: str
    head: int
    created_at: datetime


@dataclass(slots=True)
class EntryRecord:
    """The readable projection of one context entry, plus its merged Yjs state."""

    workspace: str
    key: str
    kind: Kind
    text: str | None
    data: dict[str, Any] | None
    tags: list[str]
    state: bytes
    seq: int
    size: int
    created_at: datetime
    updated_at: datetime
    updated_by: str

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"key": self.key, "kind": self.kind}
        if self.kind == "text":
            body["text"] = self.text
        else:
            body["data"] = self.data
        body.update(
            tags=self.tags,
            seq=self.seq,
            size=self.size,
            created_at=self.created_at.isoformat(),
            updated_at=self.updated_at.isoformat(),
            updated_by=self.updated_by,
        )
        return body


@dataclass(frozen=True, slots=True)
class MemberRecord:
    workspace: str
    principal: str
    role: str
    added_at: datetime
    added_by: str


@dataclass(frozen=True, slots=True)
class Page:
    """A bounded slice of a listing and the cursor that continues it (None at the end)."""

    items: list[Any] = field(default_factory=list)
    next_cursor: str | None = None

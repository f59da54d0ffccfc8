"""What changed in a workspace's shared knowledge since a seq: the log read as a change feed.

Unlike the audit trail (``audit.py``, maintainers only), this shows every reader the changes to
what they may read — context entries and the knowledge graph — as summaries without raw Yjs
bytes, so an assistant that comes back to a project can catch up in one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from infinity_matrix.core.authorization import Authorizer
from infinity_matrix.core.ports import EventStore
from infinity_matrix.core.protocol.events import Event
from infinity_matrix.errors import InvalidInput, NotFound
from infinity_matrix.security.access import Permission
from infinity_matrix.security.principals import Principal

MAX_CHANGES_PAGE = 500
# Subjects every reader may see; membership and key events belong to the audit trail.
VISIBLE_SUBJECTS = ("context/", "entity/", "relation/", "graph/", "insight/")


@dataclass(frozen=True, slots=True)
class Change:
    seq: int
    type: str
    subject: str
    actor: str
    source: str | None
    recorded_at: datetime
    summary: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "type": self.type,
            "subject": self.subject,
            "actor": self.actor,
            "source": self.source,
            "recorded_at": self.recorded_at.isoformat(),
            "summary": self.summary,
        }


@dataclass(frozen=True, slots=True)
class ChangePage:
    head: int
    changes: list[Change]
    next_after: int  # continue from here; equals head when caught up


class ChangesService:
    """Errors: ``NotFound`` (workspace invisible), ``InvalidInput`` (after, limit)."""

    def __init__(self, store: EventStore, authorizer: Authorizer) -> None:
        self._store = store
        self._auth = authorizer

    async def since(
        self,
        principal: Principal,
        workspace: str,
        *,
        after: int = 0,
        limit: int = 100,
        prefix: str = "",
    ) -> ChangePage:
        """Changes with seq > ``after`` in seq order; ``prefix`` narrows to subjects under it
        (``context/notes/``). At most ``limit`` events are scanned per page."""
        await self._auth.check(principal, workspace, Permission.READ)
        if after < 0 or not 1 <= limit <= MAX_CHANGES_PAGE:
            raise InvalidInput(
                f"after >= 0 and 1 <= limit <= {MAX_CHANGES_PAGE}", code="request.invalid_limit"
            )
        record = await self._store.get_workspace(workspace)
        if record is None:
            raise NotFound(f"workspace {workspace!r} not found", code="workspace.not_found")
        events = await self._store.read_events(workspace, after=after, limit=limit)
        changes = [
            _change(e)
            for e in events
            if e.subject.startswith(VISIBLE_SUBJECTS) and e.subject.startswith(prefix)
        ]
        next_after = events[-1].seq if events else after
        return ChangePage(head=record.head, changes=changes, next_after=next_after)


def _change(event: Event) -> Change:
    summary = {k: v for k, v in event.payload.items() if _small(v)}
    if event.data:
        summary["update_bytes"] = len(event.data)
    return Change(
        seq=event.seq,
        type=event.type,
        subject=event.subject,
        actor=event.actor,
        source=event.source,
        recorded_at=event.recorded_at,
        summary=summary,
    )


def _small(value: Any) -> bool:
    """Payload values worth repeating in a summary (not whole documents)."""
    if isinstance(value, str):
        return len(value) <= 500
    if isinstance(value, list | dict):
        return len(repr(value)) <= 2000
    return True

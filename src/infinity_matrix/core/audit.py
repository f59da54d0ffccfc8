"""Reading the event log as the audit trail of a workspace."""

from __future__ import annotations

from dataclasses import dataclass

from infinity_matrix.core.authorization import Authorizer
from infinity_matrix.core.ports import EventStore
from infinity_matrix.core.protocol.events import Event
from infinity_matrix.errors import InvalidInput, NotFound
from infinity_matrix.security.access import Permission
from infinity_matrix.security.principals import Principal

MAX_EVENTS_PAGE = 1000


@dataclass(frozen=True, slots=True)
class EventPage:
    epoch: str
    head: int
    events: list[Event]


class AuditService:
    """Errors: ``NotFound`` (workspace), ``Forbidden`` (below maintainer), ``InvalidInput``."""

    def __init__(self, store: EventStore, authorizer: Authorizer) -> None:
        self._store = store
        self._auth = authorizer

    async def events(
        self, principal: Principal, workspace: str, *, after: int = 0, limit: int = 100
    ) -> EventPage:
        """Events with seq > ``after`` in seq order, at most ``limit``."""
        await self._auth.check(principal, workspace, Permission.READ_AUDIT)
        if after < 0 or not 1 <= limit <= MAX_EVENTS_PAGE:
            raise InvalidInput(
                f"after >= 0 and 1 <= limit <= {MAX_EVENTS_PAGE}", code="request.invalid_limit"
            )
        record = await self._store.get_workspace(workspace)
        if record is None:
            raise NotFound(f"workspace {workspace!r} not found", code="workspace.not_found")
        events = await self._store.read_events(workspace, after=after, limit=limit)
        return EventPage(epoch=record.epoch, head=record.head, events=events)

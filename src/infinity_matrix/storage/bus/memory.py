"""MemoryBus: the in-process bus of the embedded default (one node, no Redis)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from infinity_matrix.core.ports import EventHandler, PresenceHandler
from infinity_matrix.core.protocol.events import Event


class MemoryBus:
    """Hands each committed batch straight to this process's fan-out; retains nothing."""

    def __init__(self) -> None:
        self._on_events: EventHandler | None = None
        self._on_presence: PresenceHandler | None = None

    async def start(self, on_events: EventHandler, on_presence: PresenceHandler) -> None:
        self._on_events = on_events
        self._on_presence = on_presence

    async def publish(self, events: Sequence[Event]) -> None:
        if self._on_events is not None:
            await self._on_events(events)

    async def replay(self, workspace: str, after: int, until: int) -> list[Event] | None:
        return None  # nothing retained: the database answers

    async def publish_presence(self, workspace: str, message: dict[str, Any]) -> None:
        if self._on_presence is not None:
            await self._on_presence(workspace, message)

    async def ready(self) -> None:
        return None

    async def close(self) -> None:
        self._on_events = None
        self._on_presence = None

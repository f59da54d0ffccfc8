"""MemoryBus: the in-process bus of the embedded default (one node, no Redis)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog

from infinity_matrix.core.protocol.events import Event

Subscriber = Callable[[Sequence[Event]], None]
log = structlog.get_logger(__name__)


class MemoryBus:
    """Delivers each committed batch, in commit order, to every subscriber of this process."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    async def publish(self, events: Sequence[Event]) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(events)
            except Exception:  # one broken subscriber must not starve the others
                log.exception("bus.subscriber_failed")

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Register ``subscriber``; returns the function that unregisters it."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

"""Helpers of the bus and fan-out tests: events to publish, an ``Inbox`` that a started bus
fills, and a ``Recorder`` that subscribes to a fan-out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import anyio

from infinity_matrix.core.ports import EventBus
from infinity_matrix.core.protocol.events import Event


class Inbox:
    """What a started bus handed over, with a bounded wait for more."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.presence: list[tuple[str, dict[str, Any]]] = []
        self._changed = asyncio.Event()

    async def on_events(self, events: Sequence[Event]) -> None:
        self.events.extend(events)
        self._changed.set()

    async def on_presence(self, workspace: str, message: dict[str, Any]) -> None:
        self.presence.append((workspace, message))
        self._changed.set()

    @property
    def seqs(self) -> list[int]:
        return [e.seq for e in self.events]

    async def wait_until(self, done: Callable[[], bool], seconds: float = 10.0) -> None:
        with anyio.fail_after(seconds):
            while not done():
                self._changed.clear()
                await self._changed.wait()


class Recorder:
    """A subscriber that keeps what it is offered, with a bounded wait for more."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.presences: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    def offer(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    def presence(self, message: dict[str, Any]) -> None:
        self.presences.append(message)
        self._changed.set()

    async def wait_until(self, done: Callable[[], bool], seconds: float = 10.0) -> None:
        with anyio.fail_after(seconds):
            while not done():
                self._changed.clear()
                await self._changed.wait()

    async def wait_for_seq(self, seq: int) -> None:
        await self.wait_until(lambda: any(e.seq >= seq for e in self.events))


def event(seq: int, workspace: str = "team", **payload: Any) -> Event:
    return Event(
        workspace=workspace,
        seq=seq,
        id=f"{workspace}-{seq}",
        type="context.updated",
        subject=f"context/notes/{seq}",
        actor="user:ada",
        source="test",
        client_msg_id=None,
        payload={"n": seq, **payload},
        data=bytes([seq % 256]),
        trace_id=None,
        recorded_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def events(first: int, last: int, workspace: str = "team") -> list[Event]:
    return [event(seq, workspace) for seq in range(first, last + 1)]


async def start(bus: EventBus) -> Inbox:
    inbox = Inbox()
    await bus.start(inbox.on_events, inbox.on_presence)
    return inbox

"""Usage counters of insights: what was served to which target, counted in memory and flushed.

Serving is far more frequent than writing, so it is neither an event nor a write per read:
``note`` adds to in-memory counters, and ``flush`` adds them to the store's counters with one
UPSERT increment per (workspace, insight, target), every ``interval`` seconds and on ``close``.
A crash loses at most the last interval's counts; when the database is unavailable the counts
wait for the next flush, and counts it refuses (of a workspace deleted meanwhile) are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import structlog

from infinity_matrix.core.insights.records import ServedCount
from infinity_matrix.core.ports import InsightStore
from infinity_matrix.errors import Unavailable

log = structlog.get_logger(__name__)

FLUSH_SECONDS = 5.0
MAX_TARGET = 100
MAX_PENDING = 100_000  # distinct counters held before a flush is forced


class UsageAggregator:
    def __init__(
        self,
        store: InsightStore,
        *,
        interval: float = FLUSH_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._interval = interval
        self._clock = clock
        self._pending: dict[tuple[str, int, str], tuple[int, datetime]] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def note(self, workspace: str, ids: Iterable[int], target: str) -> None:
        """Count one serving of each insight of ``ids`` to ``target`` (an assistant or client
        name, cut to ``MAX_TARGET`` characters; empty = ``-``)."""
        now = self._clock()
        target = (target or "-")[:MAX_TARGET]
        for insight_id in set(ids):
            key = (workspace, insight_id, target)
            served, _ = self._pending.get(key, (0, now))
            self._pending[key] = (served + 1, now)
        if len(self._pending) >= MAX_PENDING and self._task is not None:
            asyncio.get_running_loop().create_task(self.flush())

    async def flush(self) -> None:
        """Add the pending counts to the store."""
        async with self._lock:
            pending, self._pending = self._pending, {}
            counts = [
                ServedCount(ws, insight_id, target, served, at)
                for (ws, insight_id, target), (served, at) in sorted(pending.items())
            ]
            try:
                await self._store.add_served(counts)
            except Unavailable:
                log.warning("insights.usage_flush_postponed", counters=len(counts))
                for count in counts:
                    key = (count.workspace, count.insight_id, count.target)
                    served, at = self._pending.get(key, (0, count.last_served_at))
                    self._pending[key] = (served + count.served, max(at, count.last_served_at))
            except Exception:  # a supervisor: counts that cannot be stored (a workspace gone)
                log.exception("insights.usage_flush_failed", counters=len(counts))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop flushing periodically, then flush what is pending."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()

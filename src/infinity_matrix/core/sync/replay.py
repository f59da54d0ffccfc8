"""Rebuilds every projection of a workspace from its log (``imx admin replay``)."""

from __future__ import annotations

from dataclasses import dataclass

from infinity_matrix.core.ports import EventStore
from infinity_matrix.core.sync.projector import Projection


@dataclass(frozen=True, slots=True)
class ReplayReport:
    workspace: str
    events: int
    head: int


async def replay(store: EventStore, workspace: str) -> ReplayReport:
    """Clear and rebuild ``workspace``'s projections in one transaction.

    The transaction holds the head lock, so no write interleaves: readers see the old
    projections until the rebuilt ones commit. Raises ``NotFound`` for an unknown workspace.
    """
    count = 0
    async with store.transaction(workspace) as tx:
        await tx.clear_projections()
        projection = Projection(tx)
        async for event in store.iter_events(workspace):
            if event.seq > tx.head:
                break
            await projection.apply(event)
            count += 1
        await projection.flush()
        return ReplayReport(workspace, count, tx.head)


async def replay_all(store: EventStore) -> list[ReplayReport]:
    return [await replay(store, w.id) for w in await store.list_workspaces()]

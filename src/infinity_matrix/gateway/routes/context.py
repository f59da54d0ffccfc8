"""Context entries: PUT/GET/DELETE one entry, list by prefix, and one entry's history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from infinity_matrix.gateway.deps import HubDep, IdempotencyKey, PrincipalDep, Source
from infinity_matrix.gateway.schemas import PutContext

router = APIRouter(prefix="/api/v1/workspaces/{ws}", tags=["context"])

KeyPath = Annotated[str, Path(description="Path-like key, e.g. notes/architecture.md")]


@router.put("/context/{key:path}")
async def put_entry(
    ws: str,
    key: KeyPath,
    body: PutContext,
    hub: HubDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
    source: Source = None,
) -> dict[str, Any]:
    """Write a whole value (`text` or `data`); it merges with live editors as minimal edits."""
    receipt = await hub.context.put(
        principal,
        ws,
        key,
        text=body.text,
        data=body.data,
        tags=body.tags,
        client_msg_id=idempotency_key,
        source=source,
    )
    return {"key": key, "seq": receipt.seq, "duplicate": receipt.duplicate}


@router.get("/context/{key:path}")
async def get_entry(ws: str, key: KeyPath, hub: HubDep, principal: PrincipalDep) -> dict[str, Any]:
    return (await hub.context.get(principal, ws, key)).to_json()


@router.delete("/context/{key:path}")
async def delete_entry(
    ws: str,
    key: KeyPath,
    hub: HubDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
    source: Source = None,
) -> dict[str, Any]:
    receipt = await hub.context.delete(
        principal, ws, key, client_msg_id=idempotency_key, source=source
    )
    return {"key": key, "seq": receipt.seq, "duplicate": receipt.duplicate}


@router.get("/context")
async def list_entries(
    ws: str,
    hub: HubDep,
    principal: PrincipalDep,
    prefix: str = "",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    values: Annotated[bool, Query(description="Include text/data of each entry")] = False,
) -> dict[str, Any]:
    """Entries in key order, a page at a time; pass `next_cursor` back as `cursor`."""
    page = await hub.context.list_entries(principal, ws, prefix=prefix, cursor=cursor, limit=limit)
    items = []
    for entry in page.items:
        item = entry.to_json()
        if not values:
            item.pop("text", None)
            item.pop("data", None)
        items.append(item)
    return {"items": items, "next_cursor": page.next_cursor}


@router.get("/history/{key:path}")
async def entry_history(
    ws: str,
    key: KeyPath,
    hub: HubDep,
    principal: PrincipalDep,
    before: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """The entry's changes, newest first; page with `before` = the last seq you got."""
    events = await hub.context.history(principal, ws, key, before=before, limit=limit)
    return {"key": key, "events": [e.to_json() for e in events]}

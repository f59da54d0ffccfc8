"""How provider events change the providers' projections, inside one log transaction.

Each event is written as it is applied, so a later command of the same batch reads it (a
fallback configured just before the provider that names it)."""

from __future__ import annotations

from typing import Any

from infinity_matrix.core.ports import LogTransaction
from infinity_matrix.core.protocol import events as ev
from infinity_matrix.core.providers.stored import PushStatus, config_from_json


async def apply_provider_event(tx: LogTransaction, event: ev.Event) -> None:
    """Project one event of ``events.PROVIDER_EVENTS``."""
    p = event.payload
    if event.type == ev.PROVIDER_CONFIGURED:
        await tx.save_provider(
            config_from_json(event.workspace, p, seq=event.seq), event.recorded_at
        )
    elif event.type == ev.PROVIDER_REMOVED:
        await tx.delete_provider(p["name"])
    elif event.type == ev.PROVIDER_PUSHED:
        await tx.save_provider_push(_push(event))


def _push(event: ev.Event) -> PushStatus:
    # The error is {"code", "detail"}, or its code with the detail beside it.
    p = event.payload
    error = p.get("error")
    code, detail = (
        (error.get("code"), error.get("detail"))
        if isinstance(error, dict)
        else (
            error,
            p.get("detail") if error is not None else None,
        )
    )
    version = p.get("object_version", p.get("version"))
    return PushStatus(
        workspace=event.workspace,
        provider=p.get("provider") or event.subject.removeprefix("provider/"),
        status=str(p["status"]),
        object_id=_text(p.get("object_id"), 500),
        version=_text(version, 200),
        error_code=_text(code, 100),
        error_detail=str(detail) if detail is not None else None,
        digest=_text(p.get("digest"), 64),
        seq=event.seq,
        at=event.recorded_at,
    )


def _text(value: Any, limit: int) -> str | None:
    return str(value)[:limit] if value is not None else None

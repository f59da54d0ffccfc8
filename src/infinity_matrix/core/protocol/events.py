"""Event records of the append-only log and the names of their types (past tense)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

WORKSPACE_CREATED = "workspace.created"
CONTEXT_UPDATED = "context.updated"
CONTEXT_DELETED = "context.deleted"
MEMBER_ADDED = "member.added"
MEMBER_REMOVED = "member.removed"
KEY_CREATED = "key.created"
KEY_REVOKED = "key.revoked"
# The knowledge graph (subject ``graph/entity/{name}``; a relation's is that of its ``from``).
ENTITY_CREATED = "entity.created"
ENTITY_DELETED = "entity.deleted"
OBSERVATION_ADDED = "observation.added"
OBSERVATION_DELETED = "observation.deleted"
RELATION_CREATED = "relation.created"
RELATION_DELETED = "relation.deleted"
GRAPH_EVENTS = frozenset(
    {
        ENTITY_CREATED,
        ENTITY_DELETED,
        OBSERVATION_ADDED,
        OBSERVATION_DELETED,
        RELATION_CREATED,
        RELATION_DELETED,
    }
)

# Insights (subject ``insight/{id}``, the id being the seq of its ``insight.recorded``).
INSIGHT_RECORDED = "insight.recorded"
INSIGHT_CORROBORATED = "insight.corroborated"
INSIGHT_SUPERSEDED = "insight.superseded"
INSIGHT_RATED = "insight.rated"
INSIGHT_OCCURRENCES_CHANGED = "insight.occurrences_changed"
INSIGHT_EVENTS = frozenset(
    {
        INSIGHT_RECORDED,
        INSIGHT_CORROBORATED,
        INSIGHT_SUPERSEDED,
        INSIGHT_RATED,
        INSIGHT_OCCURRENCES_CHANGED,
    }
)

# Providers configured in a workspace (subject ``provider/{name}``). ``provider.configured``
# carries the public config and what happened to the credential (never the credential);
# ``provider.pushed`` says whether a provider acknowledged the briefing it was sent.
PROVIDER_CONFIGURED = "provider.configured"
PROVIDER_REMOVED = "provider.removed"
PROVIDER_PUSHED = "provider.pushed"
PROVIDER_EVENTS = frozenset({PROVIDER_CONFIGURED, PROVIDER_REMOVED, PROVIDER_PUSHED})
# A question answered by a provider (the audit trail of data flow 2; no projection).
PROVIDER_ASKED = "provider.asked"


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event decided by a command, before the log gives it a seq."""

    type: str
    subject: str
    payload: dict[str, Any] = field(default_factory=dict)
    data: bytes | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a workspace's log: ``(workspace, seq)`` is dense and gapless."""

    workspace: str
    seq: int
    id: str
    type: str
    subject: str
    actor: str
    source: str | None
    client_msg_id: str | None
    payload: dict[str, Any]
    data: bytes | None
    trace_id: str | None
    recorded_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The wire form used by REST, the CLI and the stream (bytes as base64)."""
        return {
            "workspace": self.workspace,
            "seq": self.seq,
            "id": self.id,
            "type": self.type,
            "subject": self.subject,
            "actor": self.actor,
            "source": self.source,
            "client_msg_id": self.client_msg_id,
            "payload": self.payload,
            "data": base64.b64encode(self.data).decode() if self.data is not None else None,
            "trace_id": self.trace_id,
            "recorded_at": self.recorded_at.isoformat(),
        }


def context_subject(key: str) -> str:
    return f"context/{key}"


def member_subject(principal_id: str) -> str:
    return f"member/{principal_id}"


def key_subject(key_id: str) -> str:
    return f"key/{key_id}"


def entity_subject(name: str) -> str:
    return f"graph/entity/{name}"


def insight_subject(insight_id: int) -> str:
    return f"insight/{insight_id}"


def provider_subject(name: str) -> str:
    return f"provider/{name}"

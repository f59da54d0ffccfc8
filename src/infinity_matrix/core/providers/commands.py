"""The log commands that configure and remove providers, and log other provider events.

A credential is sealed before the command is submitted and written by ``decide`` into its own
table in the same transaction as the event, like an API key's hash: the event says only what
happened to it (``stored``, ``unchanged``, ``removed`` or ``none``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from infinity_matrix.core.ports import LogTransaction
from infinity_matrix.core.protocol import events as ev
from infinity_matrix.core.providers.records import ProviderConfig
from infinity_matrix.core.providers.stored import SealedCredential, stored_json
from infinity_matrix.core.providers.validation import check_fallbacks
from infinity_matrix.core.sync.projector import Projection
from infinity_matrix.errors import Conflict, NotFound

CredentialChange = Literal["stored", "unchanged", "removed", "none"]


def unknown_provider(name: str) -> NotFound:
    return NotFound(f"no provider {name!r} in this workspace", code="provider.unknown")


@dataclass(frozen=True, slots=True)
class ConfigureProvider:
    """Add or replace a provider. ``sealed`` stores a new credential; ``remove_credential``
    drops the stored one; neither keeps it. ``create`` refuses a name already taken."""

    config: ProviderConfig
    sealed: SealedCredential | None = None
    remove_credential: bool = False
    create: bool = False

    @property
    def subject(self) -> str:
        return ev.provider_subject(self.config.name)

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[ev.NewEvent]:
        name = self.config.name
        existing = await tx.load_providers()
        if self.create and name in existing:
            raise Conflict(f"provider {name!r} exists already", code="provider.exists")
        check_fallbacks(self.config, existing)
        change: CredentialChange
        if self.sealed is not None:
            await tx.save_provider_credential(name, self.sealed)
            change = "stored"
        elif self.remove_credential:
            change = "removed" if await tx.delete_provider_credential(name) else "none"
        else:
            before = existing.get(name)
            had = before is not None and before.has_credential
            if had and before is not None and _destination(before) != _destination(self.config):
                # Whoever configures a provider chooses where its key is sent: a key stored for
                # one endpoint is never sent to another without being given again.
                raise Conflict(
                    "changing the kind or base URL of a provider needs its key given again "
                    '(or removed with an empty key: api_key "")',
                    code="provider.credential_required",
                )
            change = "unchanged" if had else "none"
        payload = {
            **stored_json(self.config),
            "has_credential": change in ("stored", "unchanged"),
            "credential": change,
        }
        return [ev.NewEvent(ev.PROVIDER_CONFIGURED, self.subject, payload)]


@dataclass(frozen=True, slots=True)
class RemoveProvider:
    """Remove a provider and its credential; refused while another provider falls back on it."""

    name: str

    @property
    def subject(self) -> str:
        return ev.provider_subject(self.name)

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[ev.NewEvent]:
        existing = await tx.load_providers()
        if self.name not in existing:
            raise unknown_provider(self.name)
        users = sorted(n for n, other in existing.items() if self.name in other.fallbacks)
        if users:
            raise Conflict(
                f"provider {self.name!r} is a fallback of {', '.join(users)}; change them first",
                code="provider.in_use",
                used_by=users,
            )
        await tx.delete_provider_credential(self.name)
        return [ev.NewEvent(ev.PROVIDER_REMOVED, self.subject, {"name": self.name})]


@dataclass(frozen=True, slots=True)
class LogProviderEvent:
    """Log an event about a provider that changes no config: ``provider.pushed`` (the
    projection keeps the latest per provider), or an audit record of a call. The payload
    must carry no secret."""

    type: str
    provider: str
    payload: dict[str, Any]

    @property
    def subject(self) -> str:
        return ev.provider_subject(self.provider)

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[ev.NewEvent]:
        return [ev.NewEvent(self.type, self.subject, self.payload)]


def _destination(config: ProviderConfig) -> tuple[str, str | None, object, object]:
    """Where a provider's key goes: its kind, base URL and (Vertex AI) project and location."""
    return (
        config.kind,
        config.base_url,
        config.options.get("project"),
        config.options.get("location"),
    )

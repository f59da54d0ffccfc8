"""What the hub keeps about configured providers, and the port it is read through.

Configs and pushes are projections of provider events; credentials are kept sealed beside
them, outside the log (docs/decisions/0002-credentials-are-not-projections.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from infinity_matrix.core.providers.records import ProviderConfig, RoutingRules


@dataclass(frozen=True, slots=True)
class SealedCredential:
    """A credential as stored: its ciphertext and the id of the key that sealed it."""

    ciphertext: str
    key_id: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PushStatus:
    """The latest push of the briefing to a provider (the ``provider.pushed`` event).

    ``status`` is ``ok`` (the provider holds it as ``object_id`` at ``version``), ``attached``
    (the provider keeps no context: it is sent with each call) or ``failed`` (``error_code``,
    ``error_detail``)."""

    workspace: str
    provider: str
    status: str
    object_id: str | None
    version: str | None
    error_code: str | None
    error_detail: str | None
    digest: str | None
    seq: int
    at: datetime

    def to_json(self) -> dict[str, Any]:
        error = None
        if self.error_code is not None or self.error_detail is not None:
            error = {"code": self.error_code, "detail": self.error_detail}
        return {
            "provider": self.provider,
            "status": self.status,
            "object_id": self.object_id,
            "version": self.version,
            "error": error,
            "digest": self.digest,
            "seq": self.seq,
            "at": self.at.isoformat(),
        }


def config_from_json(
    workspace: str, data: Mapping[str, Any], *, seq: int = 0, has_credential: bool = False
) -> ProviderConfig:
    """A config from its public JSON form (``ProviderConfig.to_json``), as logged and stored."""
    return ProviderConfig(
        workspace=workspace,
        name=data["name"],
        kind=data["kind"],
        model=data["model"],
        base_url=data.get("base_url"),
        options=dict(data.get("options") or {}),
        routing=RoutingRules.from_json(data.get("routing")),
        fallbacks=tuple(data.get("fallbacks") or ()),
        context_window=data.get("context_window"),
        rpm=data.get("rpm"),
        tpm=data.get("tpm"),
        timeout_seconds=float(data.get("timeout_seconds", 60.0)),
        max_retries=int(data.get("max_retries", 3)),
        has_credential=has_credential,
        api_key_env=data.get("api_key_env"),
        seq=seq,
    )


def stored_json(config: ProviderConfig) -> dict[str, Any]:
    """What the projection keeps of a config: its public form without seq and has_credential
    (the row has its own seq; whether a credential exists is the credentials table's answer)."""
    data = config.to_json()
    del data["seq"], data["has_credential"]
    return data


class ProviderStore(Protocol):
    """Reads of the providers' projections and sealed credentials (``storage/providers.py``)."""

    async def list(self, workspace: str) -> list[ProviderConfig]:
        """The workspace's providers in name order."""
        ...

    async def get(self, workspace: str, name: str) -> ProviderConfig | None: ...

    async def sealed_credential(self, workspace: str, name: str) -> SealedCredential | None: ...

    async def pushes(self, workspace: str) -> dict[str, PushStatus]:
        """The latest push to each provider that has one, by provider name."""
        ...

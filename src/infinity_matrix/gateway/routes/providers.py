"""Providers of a workspace: configure (POST to add, PUT to add or replace), list, read,
remove. The ``api_key`` is write-only: stored encrypted, never answered, never logged."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from pydantic import Field, SecretStr

from infinity_matrix.core.providers.records import ProviderConfig, RoutingRules
from infinity_matrix.errors import InvalidInput
from infinity_matrix.gateway.deps import HubDep, IdempotencyKey, PrincipalDep
from infinity_matrix.gateway.schemas import Body

router = APIRouter(prefix="/api/v1/workspaces/{ws}/providers", tags=["providers"])


class RoutingIn(Body):
    prefixes: list[str] = Field(default_factory=list, description="Context key prefixes (all)")
    kinds: list[str] = Field(default_factory=list, description="Entry or insight kinds (all)")
    tags: list[str] = Field(default_factory=list, description="Insight tags (all)")


class ProviderIn(Body):
    name: str | None = Field(default=None, description="Required on POST; on PUT, the path's")
    kind: str = Field(description="openai, openai-compatible, gemini, vertex, anthropic, copilot")
    model: str
    base_url: str | None = Field(default=None, description="Required for openai-compatible")
    options: dict[str, Any] = Field(default_factory=dict, description="Kind-specific scalars")
    routing: RoutingIn = Field(default_factory=RoutingIn)
    fallbacks: list[str] = Field(default_factory=list, description="Providers to try next")
    context_window: int | None = None
    rpm: int | None = Field(default=None, description="Requests per minute allowed")
    tpm: int | None = Field(default=None, description="Tokens per minute allowed")
    timeout_seconds: float = 60.0
    max_retries: int = 3
    api_key: SecretStr | None = Field(
        default=None,
        description='Write-only: stored encrypted, never answered. Omit to keep, "" to remove.',
    )
    api_key_env: str | None = Field(
        default=None, description="A variable of the hub's environment holding the key"
    )

    def spec(self, name: str) -> ProviderConfig:
        return ProviderConfig(
            workspace="",
            name=name,
            kind=self.kind,
            model=self.model,
            base_url=self.base_url,
            options=self.options,
            routing=RoutingRules(
                tuple(self.routing.prefixes), tuple(self.routing.kinds), tuple(self.routing.tags)
            ),
            fallbacks=tuple(self.fallbacks),
            context_window=self.context_window,
            rpm=self.rpm,
            tpm=self.tpm,
            timeout_seconds=self.timeout_seconds,
            max_retries=self.max_retries,
            api_key_env=self.api_key_env,
        )

    @property
    def credential(self) -> str | None:
        return self.api_key.get_secret_value() if self.api_key is not None else None


@router.get("")
async def list_providers(ws: str, hub: HubDep, principal: PrincipalDep) -> dict[str, Any]:
    """The workspace's providers in name order (never their keys)."""
    return {"items": [c.to_json() for c in await hub.providers.list(principal, ws)]}


@router.post("", status_code=status.HTTP_201_CREATED)
async def add_provider(
    ws: str,
    body: ProviderIn,
    hub: HubDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Add a provider; 409 ``provider.exists`` if the name is taken (PUT replaces)."""
    if body.name is None:
        raise InvalidInput("a provider needs a name", code="provider.invalid_name")
    config = await hub.providers.configure(
        principal,
        ws,
        body.spec(body.name),
        body.credential,
        client_msg_id=idempotency_key,
        create=True,
    )
    return config.to_json()


@router.get("/{name}")
async def get_provider(ws: str, name: str, hub: HubDep, principal: PrincipalDep) -> dict[str, Any]:
    return (await hub.providers.get(principal, ws, name)).to_json()


@router.put("/{name}")
async def put_provider(
    ws: str,
    name: str,
    body: ProviderIn,
    hub: HubDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Add or replace a provider's config; the stored key is kept unless ``api_key`` is given."""
    if body.name is not None and body.name != name:
        raise InvalidInput(
            f"the body names {body.name!r}, the path {name!r}", code="provider.name_mismatch"
        )
    config = await hub.providers.configure(
        principal, ws, body.spec(name), body.credential, client_msg_id=idempotency_key
    )
    return config.to_json()


@router.delete("/{name}")
async def remove_provider(
    ws: str,
    name: str,
    hub: HubDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Remove a provider and its stored key; 409 ``provider.in_use`` while another falls back
    on it."""
    receipt = await hub.providers.remove(principal, ws, name, client_msg_id=idempotency_key)
    return {"name": name, "seq": receipt.seq, "duplicate": receipt.duplicate}

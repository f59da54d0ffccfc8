"""The providers' storage on SQLite and PostgreSQL: configs and pushes are projections that a
replay clears and rebuilds, sealed credentials are kept beside them, and a workspace's rows go
with it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from infinity_matrix.core.providers.records import ProviderConfig, RoutingRules
from infinity_matrix.core.providers.stored import PushStatus, SealedCredential
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal
from infinity_matrix.storage.providers import SqlProviderStore

WS = "default"
ADMIN = Principal.user("root", is_admin=True)
AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CONFIG = ProviderConfig(
    workspace=WS,
    name="gemini",
    kind="gemini",
    model="gemini-3-pro",
    options={"sync": "cached_content", "ttl": 3600, "on": True, "nothing": None},
    routing=RoutingRules(prefixes=("notes/",), kinds=("decision",), tags=("api",)),
    fallbacks=("gpt",),
    context_window=1_000_000,
    rpm=10,
    tpm=1_000_000,
    timeout_seconds=12.5,
    max_retries=1,
    api_key_env="GEMINI_API_KEY",
    seq=7,
)


@pytest.mark.anyio
async def test_configs_credentials_and_pushes_are_written_and_read_back(hub: Hub) -> None:
    store = SqlProviderStore(hub.database)
    sealed = SealedCredential("gAAAA-ciphertext", "k1", AT)
    push = PushStatus(WS, "gemini", "failed", None, "3", "provider.auth", "401", "d" * 64, 8, AT)
    async with hub.store.transaction(WS) as tx:
        await tx.save_provider(CONFIG, AT)
        await tx.save_provider_credential("gemini", sealed)
        await tx.save_provider_push(push)
        assert await tx.load_providers() == {"gemini": _with_credential(CONFIG)}

    assert await store.list(WS) == [_with_credential(CONFIG)]
    assert await store.get(WS, "gemini") == _with_credential(CONFIG)
    assert await store.get(WS, "nobody") is None
    assert await store.sealed_credential(WS, "gemini") == sealed
    assert await store.pushes(WS) == {"gemini": push}


@pytest.mark.anyio
async def test_saving_again_replaces_and_deleting_drops_the_config_and_its_push(hub: Hub) -> None:
    store = SqlProviderStore(hub.database)
    push = PushStatus(WS, "gemini", "ok", "cachedContents/1", "2", None, None, None, 9, AT)
    async with hub.store.transaction(WS) as tx:
        await tx.save_provider(CONFIG, AT)
        await tx.save_provider(ProviderConfig(WS, "gemini", "gemini", "flash", seq=8), AT)
        await tx.save_provider_push(push)
        await tx.save_provider_credential("gemini", SealedCredential("a", "k1", AT))
        await tx.save_provider_credential("gemini", SealedCredential("b", "k2", AT))
    assert [(c.model, c.seq, c.has_credential) for c in await store.list(WS)] == [
        ("flash", 8, True)
    ]
    assert (await store.sealed_credential(WS, "gemini")) == SealedCredential("b", "k2", AT)

    async with hub.store.transaction(WS) as tx:
        await tx.delete_provider("gemini")
        assert await tx.delete_provider_credential("gemini") is True
        assert await tx.delete_provider_credential("gemini") is False
    assert await store.list(WS) == []
    assert await store.pushes(WS) == {}
    assert await store.sealed_credential(WS, "gemini") is None


@pytest.mark.anyio
async def test_clearing_the_projections_keeps_the_sealed_credentials(hub: Hub) -> None:
    store = SqlProviderStore(hub.database)
    async with hub.store.transaction(WS) as tx:
        await tx.save_provider(CONFIG, AT)
        await tx.save_provider_credential("gemini", SealedCredential("c", "k1", AT))
        await tx.save_provider_push(
            PushStatus(WS, "gemini", "ok", "x", "1", None, None, None, 9, AT)
        )
    async with hub.store.transaction(WS) as tx:
        await tx.clear_projections()
    assert await store.list(WS) == []
    assert await store.pushes(WS) == {}
    assert await store.sealed_credential(WS, "gemini") is not None


@pytest.mark.anyio
async def test_a_deleted_workspace_takes_its_providers_with_it(hub: Hub) -> None:
    await hub.workspaces.create(ADMIN, "doomed")
    store = SqlProviderStore(hub.database)
    async with hub.store.transaction("doomed") as tx:
        await tx.save_provider(ProviderConfig("doomed", "p", "openai", "m", seq=2), AT)
        await tx.save_provider_credential("p", SealedCredential("c", "k1", AT))
    await hub.workspaces.delete(ADMIN, "doomed")
    assert await store.sealed_credential("doomed", "p") is None
    assert await store.list("doomed") == []


def _with_credential(config: ProviderConfig) -> ProviderConfig:
    return replace(config, has_credential=True)

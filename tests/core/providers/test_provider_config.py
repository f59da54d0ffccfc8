"""Providers configured per workspace through the log: validated, authorized, their credentials
sealed beside the projections, and rebuilt by replay (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from tests.world import create_user, head

from infinity_matrix.core.authorization import Authorizer
from infinity_matrix.core.protocol import events as ev
from infinity_matrix.core.providers.records import ProviderConfig, RoutingRules
from infinity_matrix.core.providers.service import ProviderService
from infinity_matrix.core.sync.replay import replay
from infinity_matrix.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from infinity_matrix.hub import Hub
from infinity_matrix.security.encryption import SecretBox
from infinity_matrix.security.principals import Principal
from infinity_matrix.storage.providers import SqlProviderStore

WS = "team"
OWNER = Principal.user("owner")
SECRET = "sk-test-0123456789abcdefSECRET"


def spec(name: str = "gpt", **changes: Any) -> ProviderConfig:
    base = ProviderConfig(workspace="ignored", name=name, kind="openai", model="gpt-5")
    return replace(base, **changes)


@pytest.fixture
async def service(hub: Hub) -> ProviderService:
    await create_user(hub, "owner")
    await hub.workspaces.create(OWNER, WS)
    for role in ("maintainer", "editor", "viewer"):
        await create_user(hub, role)
        await hub.workspaces.set_member(OWNER, WS, role, role)
    return hub.providers


async def _events(hub: Hub) -> list[ev.Event]:
    return [e for e in await hub.store.read_events(WS, limit=1000) if e.subject.startswith("prov")]


@pytest.mark.anyio
async def test_a_configured_provider_is_listed_with_its_seq_and_whether_it_has_a_credential(
    hub: Hub, service: ProviderService
) -> None:
    full = spec(
        "local",
        kind="openai-compatible",
        model=" llama3 ",
        base_url="http://127.0.0.1:11434/v1",
        options={"api": "chat", "temperature": 0.2, "stream": False},
        routing=RoutingRules(prefixes=("notes/",), kinds=("text",), tags=("api",)),
        context_window=8192,
        rpm=60,
        tpm=100_000,
        timeout_seconds=30,
        max_retries=2,
        api_key_env="OLLAMA_API_KEY",
    )
    configured = await service.configure(OWNER, WS, full, SECRET)
    await service.configure(OWNER, WS, spec("gpt", fallbacks=("local",)))

    assert configured == replace(
        full,
        workspace=WS,
        model="llama3",
        timeout_seconds=30.0,
        has_credential=True,
        seq=configured.seq,
    )
    assert configured.seq > 0
    listed = await service.list(OWNER, WS)
    assert [(c.name, c.has_credential, c.fallbacks) for c in listed] == [
        ("gpt", False, ("local",)),
        ("local", True, ()),
    ]
    assert await service.get(Principal.user("viewer"), WS, "local") == configured


@pytest.mark.anyio
async def test_the_credential_is_sealed_and_never_logged(
    hub: Hub, service: ProviderService
) -> None:
    await service.configure(OWNER, WS, spec(), SECRET)

    assert await service.credential(WS, "gpt") == SECRET
    sealed = await SqlProviderStore(hub.database).sealed_credential(WS, "gpt")
    assert sealed is not None
    assert SECRET not in sealed.ciphertext
    assert SecretBox(b"s" * 64).open(sealed.ciphertext, sealed.key_id) == SECRET
    logged = await _events(hub)
    assert [(e.type, e.subject, e.payload["credential"]) for e in logged] == [
        (ev.PROVIDER_CONFIGURED, "provider/gpt", "stored")
    ]
    assert SECRET not in json.dumps([e.to_json() for e in logged])
    assert sealed.ciphertext not in json.dumps([e.to_json() for e in logged])


@pytest.mark.anyio
async def test_updating_without_a_credential_keeps_it_and_an_empty_one_removes_it(
    hub: Hub, service: ProviderService
) -> None:
    await service.configure(OWNER, WS, spec(), SECRET)
    kept = await service.configure(OWNER, WS, spec(model="gpt-5-mini"))
    assert (kept.model, kept.has_credential) == ("gpt-5-mini", True)
    assert await service.credential(WS, "gpt") == SECRET

    removed = await service.configure(OWNER, WS, spec(), "")
    assert removed.has_credential is False
    assert await service.credential(WS, "gpt") is None
    again = await service.configure(OWNER, WS, spec(), "")
    assert [e.payload["credential"] for e in await _events(hub)] == [
        "stored",
        "unchanged",
        "removed",
        "none",
    ]
    assert again.seq > removed.seq


@pytest.mark.anyio
async def test_the_credential_comes_from_the_injected_environment_when_none_is_stored(
    hub: Hub,
) -> None:
    await hub.workspaces.create(OWNER, WS)
    service = ProviderService(
        SqlProviderStore(hub.database),
        hub.log,
        Authorizer(hub.store),
        SecretBox(b"s" * 64),
        env={"OPENAI_KEY": "from-env", "IMX_SECRET_KEY": "the hub's own"},
        key_envs={"OPENAI_KEY", "NOT_SET"},
    )
    await service.configure(OWNER, WS, spec("envy", api_key_env="OPENAI_KEY"))
    await service.configure(OWNER, WS, spec("unset", api_key_env="NOT_SET"))
    assert await service.credential(WS, "envy") == "from-env"
    assert await service.credential(WS, "unset") is None

    await service.configure(OWNER, WS, spec("envy", api_key_env="OPENAI_KEY"), "stored-wins")
    assert await service.credential(WS, "envy") == "stored-wins"
    with pytest.raises(NotFound) as info:
        await service.credential(WS, "nobody")
    assert info.value.code == "provider.unknown"


@pytest.mark.anyio
async def test_a_provider_cannot_name_a_variable_the_operator_did_not_allow(
    service: ProviderService,
) -> None:
    # Whoever configures a provider chooses where its key goes: not the hub's own secrets.
    with pytest.raises(InvalidInput) as info:
        await service.configure(OWNER, WS, spec("leak", api_key_env="IMX_SECRET_KEY"))
    assert info.value.code == "provider.api_key_env_not_allowed"
    assert [c.name for c in await service.list(OWNER, WS)] == []


@pytest.mark.anyio
async def test_a_credential_sealed_under_another_secret_is_reported_not_guessed(
    hub: Hub, service: ProviderService
) -> None:
    await service.configure(OWNER, WS, spec(), SECRET)
    store = SqlProviderStore(hub.database)
    other = ProviderService(store, hub.log, Authorizer(hub.store), SecretBox(b"x" * 64))
    with pytest.raises(Unavailable) as info:
        await other.credential(WS, "gpt")
    assert info.value.code == "secret.wrong_key"


BAD_SPECS = [
    (spec("Bad Name"), "provider.invalid_name"),
    (spec("-lead"), "provider.invalid_name"),
    (spec("x" * 64), "provider.invalid_name"),
    (spec(kind="telepathy"), "provider.invalid_kind"),
    (spec(model="  "), "provider.invalid_model"),
    (spec(kind="openai-compatible"), "provider.invalid_base_url"),
    (spec(base_url="ftp://example.test"), "provider.invalid_base_url"),
    (spec(base_url="http://"), "provider.invalid_base_url"),
    (spec(base_url="https://user:pw@example.test/v1"), "provider.invalid_base_url"),
    (spec(options={"nested": {"a": 1}}), "provider.invalid_options"),
    (spec(options={"bad key!": 1}), "provider.invalid_options"),
    (spec(options={"api_key": "x"}), "provider.secret_in_options"),
    (spec(options={"apiKey": "x"}), "provider.secret_in_options"),
    (spec(options={"access-token": "x"}), "provider.secret_in_options"),
    (spec(options={"header": "sk-abcdef"}), "provider.secret_in_options"),
    (spec(routing=RoutingRules(prefixes=("",))), "provider.invalid_routing"),
    (spec(fallbacks=("gpt",)), "provider.invalid_fallbacks"),
    (spec(fallbacks=("a", "a")), "provider.invalid_fallbacks"),
    (spec(fallbacks=("ghost",)), "provider.unknown_fallback"),
    (spec(context_window=0), "provider.invalid_limit"),
    (spec(rpm=-1), "provider.invalid_limit"),
    (spec(tpm=True), "provider.invalid_limit"),
    (spec(timeout_seconds=0), "provider.invalid_limit"),
    (spec(timeout_seconds=float("nan")), "provider.invalid_limit"),
    (spec(max_retries=11), "provider.invalid_limit"),
    (spec(api_key_env="NOT-A-VAR"), "provider.invalid_api_key_env"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("bad", "code"), BAD_SPECS)
async def test_an_invalid_config_is_refused_with_its_code_and_nothing_is_logged(
    hub: Hub, service: ProviderService, bad: ProviderConfig, code: str
) -> None:
    before = await head(hub, WS)
    with pytest.raises(InvalidInput) as info:
        await service.configure(OWNER, WS, bad, SECRET)
    assert info.value.code == code
    assert SECRET not in info.value.detail
    assert await head(hub, WS) == before
    assert await service.list(OWNER, WS) == []


@pytest.mark.anyio
async def test_fallbacks_may_not_go_round_in_a_circle(service: ProviderService) -> None:
    await service.configure(OWNER, WS, spec("a"))
    await service.configure(OWNER, WS, spec("b", fallbacks=("a",)))
    await service.configure(OWNER, WS, spec("c", fallbacks=("b",)))
    with pytest.raises(InvalidInput) as info:
        await service.configure(OWNER, WS, spec("a", fallbacks=("c",)))
    assert info.value.code == "provider.fallback_cycle"


@pytest.mark.anyio
async def test_a_provider_another_falls_back_on_cannot_be_removed_until_freed(
    hub: Hub, service: ProviderService
) -> None:
    await service.configure(OWNER, WS, spec("a"), SECRET)
    await service.configure(OWNER, WS, spec("b", fallbacks=("a",)))
    with pytest.raises(Conflict) as info:
        await service.remove(OWNER, WS, "a")
    assert info.value.code == "provider.in_use"

    await service.configure(OWNER, WS, spec("b"))
    receipt = await service.remove(OWNER, WS, "a")
    assert [c.name for c in await service.list(OWNER, WS)] == ["b"]
    assert await SqlProviderStore(hub.database).sealed_credential(WS, "a") is None
    removed = (await _events(hub))[-1]
    assert (removed.type, removed.seq, removed.payload) == (
        ev.PROVIDER_REMOVED,
        receipt.seq,
        {"name": "a"},
    )
    with pytest.raises(NotFound) as missing:
        await service.remove(OWNER, WS, "a")
    assert missing.value.code == "provider.unknown"


@pytest.mark.anyio
async def test_creating_a_name_that_exists_is_a_conflict(service: ProviderService) -> None:
    await service.configure(OWNER, WS, spec(), create=True)
    with pytest.raises(Conflict) as info:
        await service.configure(OWNER, WS, spec(), create=True)
    assert info.value.code == "provider.exists"


@pytest.mark.anyio
async def test_a_repeated_write_with_its_idempotency_key_appends_nothing(
    hub: Hub, service: ProviderService
) -> None:
    first = await service.configure(OWNER, WS, spec(), SECRET, client_msg_id="m1", create=True)
    again = await service.configure(OWNER, WS, spec(), SECRET, client_msg_id="m1", create=True)
    assert again.seq == first.seq
    assert len(await _events(hub)) == 1
    with pytest.raises(Conflict) as info:
        await service.configure(OWNER, WS, spec("other"), client_msg_id="m1")
    assert info.value.code == "idempotency.conflict"


@pytest.mark.anyio
@pytest.mark.parametrize("role", ["editor", "viewer"])
async def test_only_maintainers_and_owners_configure_and_remove(
    service: ProviderService, role: str
) -> None:
    await service.configure(Principal.user("maintainer"), WS, spec())
    caller = Principal.user(role)
    with pytest.raises(Forbidden):
        await service.configure(caller, WS, spec("more"))
    with pytest.raises(Forbidden):
        await service.remove(caller, WS, "gpt")
    assert [c.name for c in await service.list(caller, WS)] == ["gpt"]
    with pytest.raises(NotFound) as info:
        await service.list(Principal.user("stranger"), WS)
    assert info.value.code == "workspace.not_found"


@pytest.mark.anyio
async def test_replay_rebuilds_configs_and_pushes_and_keeps_the_credentials(
    hub: Hub, service: ProviderService
) -> None:
    from infinity_matrix.core.providers.commands import LogProviderEvent
    from infinity_matrix.core.sync.log import Origin

    await service.configure(OWNER, WS, spec("a"), SECRET)
    await service.configure(OWNER, WS, spec("b", fallbacks=("a",)), "other-secret")
    await service.configure(OWNER, WS, spec("c"))
    await service.remove(OWNER, WS, "c")
    payload = {
        "provider": "a",
        "status": "ok",
        "object_id": "cache/1",
        "version": "7",
        "digest": "d" * 64,
        "error": None,
    }
    await hub.log.submit(WS, LogProviderEvent(ev.PROVIDER_PUSHED, "a", payload), Origin("system"))
    failed = {"provider": "b", "status": "failed", "error": "provider.auth", "detail": "401"}
    await hub.log.submit(WS, LogProviderEvent(ev.PROVIDER_PUSHED, "b", failed), Origin("system"))
    before = (await service.list(OWNER, WS), await service.pushes(OWNER, WS))

    await replay(hub.store, WS)

    assert (await service.list(OWNER, WS), await service.pushes(OWNER, WS)) == before
    pushes = before[1]
    assert (pushes["a"].status, pushes["a"].object_id, pushes["a"].version) == (
        "ok",
        "cache/1",
        "7",
    )
    assert (pushes["b"].status, pushes["b"].error_code, pushes["b"].error_detail) == (
        "failed",
        "provider.auth",
        "401",
    )
    assert await service.last_push(WS, "a") == pushes["a"].to_json()
    assert await service.credential(WS, "a") == SECRET
    assert await service.credential(WS, "b") == "other-secret"

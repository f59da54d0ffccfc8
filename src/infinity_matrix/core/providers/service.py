"""Providers configured per workspace: add or replace, list, read, remove, and the decrypted
credential the runtime hands to an adapter.

Credentials are sealed (``security.encryption.SecretBox``) before they reach the log's
transaction and are opened only by ``credential``, which no face calls: no answer, event or
log line ever carries one.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from infinity_matrix.core.authorization import Authorizer
from infinity_matrix.core.providers.commands import (
    ConfigureProvider,
    RemoveProvider,
    unknown_provider,
)
from infinity_matrix.core.providers.records import DEFAULT_KEY_ENVS, PROVIDER_KINDS, ProviderConfig
from infinity_matrix.core.providers.stored import ProviderStore, PushStatus, SealedCredential
from infinity_matrix.core.providers.validation import validate, validate_credential
from infinity_matrix.core.sync.log import EventLog, Origin, Receipt
from infinity_matrix.errors import InvalidInput
from infinity_matrix.security.access import Permission
from infinity_matrix.security.encryption import SecretBox
from infinity_matrix.security.principals import Principal


class ProviderService:
    """Errors: ``NotFound`` (``workspace.not_found``; ``provider.unknown``), ``Forbidden``
    (configuring needs ``MANAGE_PROVIDERS``: maintainers and owners), ``InvalidInput``
    (``provider.invalid_*``, ``provider.secret_in_options``, ``provider.unknown_fallback``,
    ``provider.fallback_cycle``), ``Conflict`` (``provider.exists`` when creating a name taken,
    ``provider.in_use`` when removing another's fallback, ``idempotency.conflict``), and
    ``Unavailable`` (``secret.wrong_key`` when a stored credential cannot be decrypted).

    ``kinds`` answers the provider kinds known now (built in, or registered by a plugin);
    ``env`` is where ``api_key_env`` is looked up (the hub's environment, injected), and only
    the names in ``key_envs`` may be named (``provider.api_key_env_not_allowed``).
    """

    def __init__(
        self,
        store: ProviderStore,
        log: EventLog,
        authorizer: Authorizer,
        box: SecretBox,
        *,
        kinds: Callable[[], Collection[str]] = lambda: PROVIDER_KINDS,
        env: Mapping[str, str] | None = None,
        key_envs: Collection[str] = DEFAULT_KEY_ENVS,
    ) -> None:
        self._store = store
        self._log = log
        self._auth = authorizer
        self._box = box
        self._kinds = kinds
        self._key_envs = frozenset(key_envs)
        # Only the variables a provider may name: whoever configures a provider chooses where
        # its key is sent, so naming the hub's own secrets must not be possible.
        self._env: Mapping[str, str] = {k: v for k, v in (env or {}).items() if k in self._key_envs}

    async def configure(
        self,
        principal: Principal,
        workspace: str,
        spec: ProviderConfig,
        credential: str | None = None,
        *,
        client_msg_id: str | None = None,
        create: bool = False,
    ) -> ProviderConfig:
        """Add the provider ``spec`` names, or replace its config (``create``: only add).

        ``credential`` None keeps the stored credential, "" removes it, any other text is
        sealed and stored in its place. Answers the config as stored, with its ``seq``.
        """
        await self._auth.check(principal, workspace, Permission.MANAGE_PROVIDERS)
        config = validate(spec, workspace, set(self._kinds()))
        if config.api_key_env is not None and config.api_key_env not in self._key_envs:
            raise InvalidInput(
                f"api_key_env may name one of {', '.join(sorted(self._key_envs))} "
                "(the hub's IMX_PROVIDER_KEY_ENVS)",
                code="provider.api_key_env_not_allowed",
            )
        validate_credential(credential)
        sealed = None
        if credential:
            sealed = SealedCredential(self._box.seal(credential), self._box.key_id, _now())
        command = ConfigureProvider(
            config, sealed, remove_credential=credential == "", create=create
        )
        origin = Origin(actor=principal.actor, client_msg_id=client_msg_id)
        await self._log.submit(workspace, command, origin)
        stored = await self._store.get(workspace, config.name)
        if stored is None:  # removed again between the commit and this read
            raise unknown_provider(config.name)
        return stored

    async def list(self, principal: Principal, workspace: str) -> builtins.list[ProviderConfig]:
        """The workspace's providers in name order."""
        await self._auth.check(principal, workspace, Permission.READ)
        return await self._store.list(workspace)

    async def get(self, principal: Principal, workspace: str, name: str) -> ProviderConfig:
        await self._auth.check(principal, workspace, Permission.READ)
        config = await self._store.get(workspace, name)
        if config is None:
            raise unknown_provider(name)
        return config

    async def remove(
        self,
        principal: Principal,
        workspace: str,
        name: str,
        *,
        client_msg_id: str | None = None,
    ) -> Receipt:
        """Remove the provider and its stored credential."""
        await self._auth.check(principal, workspace, Permission.MANAGE_PROVIDERS)
        origin = Origin(actor=principal.actor, client_msg_id=client_msg_id)
        return await self._log.submit(workspace, RemoveProvider(name), origin)

    async def pushes(self, principal: Principal, workspace: str) -> dict[str, PushStatus]:
        """The latest push to each provider that had one, by provider name."""
        await self._auth.check(principal, workspace, Permission.READ)
        return await self._store.pushes(workspace)

    async def configs(self, workspace: str) -> builtins.list[ProviderConfig]:
        """The workspace's providers in name order, for the runtime (no authorization)."""
        return await self._store.list(workspace)

    async def last_push(self, workspace: str, name: str) -> dict[str, Any] | None:
        """The latest ``provider.pushed`` of a provider (``PushStatus.to_json``), or None."""
        push = (await self._store.pushes(workspace)).get(name)
        return push.to_json() if push is not None else None

    async def credential(self, workspace: str, name: str) -> str | None:
        """The provider's credential in clear, for building its adapter: the stored one, else
        the hub's environment variable ``api_key_env`` names, else None. Internal: no
        authorization, and never to be answered to a client."""
        config = await self._store.get(workspace, name)
        if config is None:
            raise unknown_provider(name)
        sealed = await self._store.sealed_credential(workspace, name)
        if sealed is not None:
            return self._box.open(sealed.ciphertext, sealed.key_id)
        if config.api_key_env:
            return self._env.get(config.api_key_env) or None
        return None


def _now() -> datetime:
    return datetime.now(UTC)

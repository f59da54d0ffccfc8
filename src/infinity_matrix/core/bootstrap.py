"""First start: workspace ``default``, the operator's bootstrap key, and the local owner key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import structlog

from infinity_matrix.core.keys import KeyService
from infinity_matrix.core.ports import EventStore
from infinity_matrix.core.workspaces import WorkspaceService
from infinity_matrix.errors import Conflict
from infinity_matrix.security.apikeys import from_bootstrap, generate_api_key
from infinity_matrix.security.credfile import update_credentials

DEFAULT_WORKSPACE = "default"
log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Bootstrap:
    store: EventStore
    workspaces: WorkspaceService
    keys: KeyService

    async def run(self, *, token: str | None, credentials_file: Path, url: str) -> bool:
        """Set up a new database; does nothing (returns False) when it already has workspaces.

        When several nodes start on one new database, exactly one creates ``default``; the
        others see ``Conflict`` and leave it alone.
        """
        if await self.store.list_workspaces():
            return False
        bootstrap_key = from_bootstrap(token) if token else None  # validate before writing
        try:
            await self.workspaces.create_as_system(DEFAULT_WORKSPACE, "Default", owner=None)
        except Conflict:
            return False
        if bootstrap_key is not None:
            await self.keys.create_as_system(DEFAULT_WORKSPACE, bootstrap_key, "bootstrap", "owner")
        local = generate_api_key()
        await self.keys.create_as_system(DEFAULT_WORKSPACE, local, "local owner", "owner")
        update_credentials(
            credentials_file, url=url, workspace=DEFAULT_WORKSPACE, api_key=local.token
        )
        log.info("bootstrap.done", workspace=DEFAULT_WORKSPACE, credentials=str(credentials_file))
        return True

"""API keys of a workspace: create (the token is shown once), list, revoke."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from infinity_matrix.core.authorization import Authorizer
from infinity_matrix.core.ports import LogTransaction, PriorMessage
from infinity_matrix.core.protocol import events as ev
from infinity_matrix.core.sync.log import EventLog, Origin, Receipt
from infinity_matrix.core.sync.projector import Projection
from infinity_matrix.errors import Conflict, InvalidInput, NotFound
from infinity_matrix.security.access import Permission, parse_role, require_can_grant
from infinity_matrix.security.apikeys import NewApiKey, generate_api_key
from infinity_matrix.security.principals import Principal
from infinity_matrix.security.records import ApiKeyRecord, CredentialStore

MAX_KEY_NAME = 200


@dataclass(frozen=True, slots=True)
class CreatedKey:
    record: ApiKeyRecord
    token: str
    seq: int


@dataclass(frozen=True, slots=True)
class AddKey:
    record: ApiKeyRecord

    @property
    def subject(self) -> str:
        return ev.key_subject(self.record.id)

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[ev.NewEvent]:
        await tx.insert_api_key(self.record)
        # The audit trail names the key; its secret and hash never enter the log.
        payload = {"id": self.record.id, "name": self.record.name, "role": self.record.role}
        return [ev.NewEvent(ev.KEY_CREATED, self.subject, payload)]

    def repeats(self, prior: PriorMessage) -> bool:
        # A retry mints a new key id, hence a new subject: a key creation is recognised by type.
        return prior.type == ev.KEY_CREATED


@dataclass(frozen=True, slots=True)
class RevokeKey:
    key_id: str
    at: datetime

    @property
    def subject(self) -> str:
        return ev.key_subject(self.key_id)

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[ev.NewEvent]:
        if not await tx.revoke_api_key(self.key_id, self.at):
            raise NotFound(f"no active key {self.key_id!r}", code="key.not_found")
        return [ev.NewEvent(ev.KEY_REVOKED, self.subject, {"id": self.key_id})]


class KeyService:
    """Errors: ``NotFound`` (workspace or key), ``Forbidden`` (role too low, or granting a role
    above one's own), ``InvalidInput`` (bad name, role or lifetime)."""

    def __init__(self, credentials: CredentialStore, log: EventLog, authorizer: Authorizer) -> None:
        self._credentials = credentials
        self._log = log
        self._auth = authorizer

    async def create(
        self,
        principal: Principal,
        workspace: str,
        name: str,
        role: str,
        *,
        expires_in_days: int | None = None,
        client_msg_id: str | None = None,
    ) -> CreatedKey:
        granter = await self._auth.check(principal, workspace, Permission.MANAGE_KEYS)
        key_role = parse_role(role)
        require_can_grant(granter, key_role)
        new = generate_api_key()
        record = self._record(
            new, workspace, name, key_role.value, principal.actor, expires_in_days
        )
        origin = Origin(actor=principal.actor, client_msg_id=client_msg_id)
        receipt = await self._log.submit(workspace, AddKey(record), origin)
        if receipt.duplicate:
            # The first answer carried the token, which is not stored: it cannot be repeated.
            raise Conflict(
                "this request already created a key; its token was shown once",
                code="idempotency.key_already_created",
                seq=receipt.seq,
            )
        return CreatedKey(record, new.token, receipt.seq)

    async def create_as_system(
        self, workspace: str, new: NewApiKey, name: str, role: str
    ) -> ApiKeyRecord:
        """Install a key with no calling principal (bootstrap)."""
        record = self._record(new, workspace, name, parse_role(role).value, "system", None)
        await self._log.submit(workspace, AddKey(record), Origin(actor="system"))
        return record

    async def list_keys(self, principal: Principal, workspace: str) -> list[ApiKeyRecord]:
        await self._auth.check(principal, workspace, Permission.MANAGE_KEYS)
        return await self._credentials.list_api_keys(workspace)

    async def revoke(
        self, principal: Principal, workspace: str, key_id: str, *, client_msg_id: str | None = None
    ) -> Receipt:
        granter = await self._auth.check(principal, workspace, Permission.MANAGE_KEYS)
        record = await self._credentials.get_api_key(key_id)
        if record is None or record.workspace != workspace:
            raise NotFound(f"no key {key_id!r} in this workspace", code="key.not_found")
        require_can_grant(granter, parse_role(record.role))
        origin = Origin(actor=principal.actor, client_msg_id=client_msg_id)
        return await self._log.submit(workspace, RevokeKey(key_id, datetime.now(UTC)), origin)

    def _record(
        self,
        new: NewApiKey,
        workspace: str,
        name: str,
        role: str,
        actor: str,
        expires_in_days: int | None,
    ) -> ApiKeyRecord:
        if not name.strip() or len(name) > MAX_KEY_NAME:
            raise InvalidInput(
                f"a key name has 1 to {MAX_KEY_NAME} characters", code="key.invalid_name"
            )
        if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
            raise InvalidInput("expires_in_days must be 1 to 3650", code="key.invalid_expiry")
        now = datetime.now(UTC)
        expires = now + timedelta(days=expires_in_days) if expires_in_days else None
        return ApiKeyRecord(
            id=new.id,
            workspace=workspace,
            name=name.strip(),
            role=role,
            hash=new.hash,
            created_by=actor,
            created_at=now,
            expires_at=expires,
        )

"""One client's session on the event stream: hello/welcome, lossless resume, writes, presence.

Framework-free: the gateway feeds it decoded frames and gives it ``send`` (non-blocking; the
connection's bounded outbox) — see docs/stream.md for the protocol.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infinity_matrix.core.ports import EventStore
from infinity_matrix.core.protocol.events import KEY_REVOKED, MEMBER_ADDED, MEMBER_REMOVED, Event
from infinity_matrix.core.sync.context import ContextService
from infinity_matrix.core.sync.fanout import Fanout
from infinity_matrix.core.sync.log import Receipt
from infinity_matrix.errors import InfinityMatrixError, InvalidInput, NotFound, Unauthenticated
from infinity_matrix.security.access import Permission, Role, allows, parse_role
from infinity_matrix.security.principals import Principal

Frame = dict[str, Any]
Send = Callable[[Frame], None]

PRESENCE_INTERVAL_SECONDS = 0.05  # at most 20 presence updates a second per connection
_REPLAY_PAGE = 500
_MAX_ID = 200


@dataclass(frozen=True, slots=True)
class StreamDeps:
    store: EventStore
    fanout: Fanout
    context: ContextService


class StreamSession:
    """Raises nothing from ``handle``: a bad frame answers an ``error`` frame and changes
    nothing. The caller closes the connection on ``InfinityMatrixError`` from ``start``."""

    def __init__(
        self,
        deps: StreamDeps,
        principal: Principal,
        workspace: str,
        role: Role,
        client: str,
        send: Send,
    ) -> None:
        self._deps = deps
        self._principal = principal
        self._workspace = workspace
        self._role = role
        self._client = client
        self._send = send
        self._prefix = ""
        self._subscribed = False
        self._replaying = False
        self._held: list[Event] = []
        self._last_presence = 0.0
        self._pending_presence: Any = None
        self._presence_timer: asyncio.TimerHandle | None = None
        # Set when the caller lost access while connected; the gateway then closes the
        # connection with ``end_reason``'s close code.
        self.ended = asyncio.Event()
        self.end_reason: InfinityMatrixError | None = None

    async def handle(self, frame: Frame) -> None:
        kind = frame.get("type")
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        try:
            if handler is None:
                raise InvalidInput(f"unknown frame type {kind!r}", code="frame.invalid")
            await handler(self, frame)
        except InfinityMatrixError as exc:
            self._send(_error(frame, exc))

    async def close(self) -> None:
        if self._presence_timer is not None:
            self._presence_timer.cancel()
        if self._subscribed:
            self._deps.fanout.unsubscribe(self._workspace, self)
            await self._deps.fanout.publish_presence(
                self._workspace, {"client": self._client, "state": None}
            )

    # Subscriber -----------------------------------------------------------------------------

    def offer(self, event: Event) -> None:
        if self.ended.is_set():
            return
        if self._replaying:
            self._held.append(event)
            return
        self._follow_access(event)
        if not self.ended.is_set() and self._visible(event):
            self._send(_event_frame(event))

    def _follow_access(self, event: Event) -> None:
        """A revoked key or a removed member stops watching at once, not at the next connect;
        a changed role applies from this event on."""
        principal = self._principal
        if event.type == KEY_REVOKED and principal.id == f"key:{event.payload.get('id')}":
            self._end(Unauthenticated("the API key was revoked", code="auth.key_revoked"))
        elif event.payload.get("principal") != principal.id or principal.is_admin:
            return
        elif event.type == MEMBER_REMOVED:
            self._end(
                NotFound(f"workspace {self._workspace!r} not found", code="workspace.not_found")
            )
        elif event.type == MEMBER_ADDED:
            self._role = parse_role(event.payload["role"])

    def _end(self, reason: InfinityMatrixError) -> None:
        self.end_reason = reason
        self.ended.set()

    def presence(self, message: dict[str, Any]) -> None:
        if message.get("client") != self._client and "type" not in message:
            self._send({"type": "presence", **message})

    # Frames ---------------------------------------------------------------------------------

    async def _hello(self, frame: Frame) -> None:
        if self._subscribed:
            raise InvalidInput("hello was already said", code="frame.invalid")
        after = _int(frame.get("after", 0), "after")
        epoch = frame.get("epoch")
        self._prefix = _str(frame.get("prefix", ""), "prefix")
        record = await self._deps.store.get_workspace(self._workspace)
        if record is None:
            raise InvalidInput("workspace vanished", code="workspace.not_found")
        self._replaying = True
        cursor = await self._deps.fanout.subscribe(self._workspace, self)
        self._subscribed = True
        recovered = (epoch is None or epoch == record.epoch) and after <= cursor
        self._send(
            {"type": "welcome", "epoch": record.epoch, "head": cursor, "recovered": recovered}
        )
        if recovered:
            await self._replay(after, cursor)
        held, self._held, self._replaying = self._held, [], False
        for event in held:
            self.offer(event)

    async def _replay(self, after: int, until: int) -> None:
        """Send the events the client missed, (after, until], from the log (never partial:
        a failure here propagates and the connection closes; the client resumes)."""
        while after < until:
            page = await self._deps.store.read_events(
                self._workspace, after=after, limit=min(_REPLAY_PAGE, until - after)
            )
            if not page:
                return
            for event in page:
                if self._visible(event):
                    self._send(_event_frame(event))
            after = page[-1].seq

    async def _put(self, frame: Frame) -> None:
        self._require_hello()
        key = _str(frame.get("key"), "key")
        options = {"client_msg_id": self._msg_id(frame), "source": "stream"}
        if "update" in frame:
            update = _bytes(frame["update"])
            receipt = await self._deps.context.apply_update(
                self._principal, self._workspace, key, update, **options
            )
        else:
            text, data = frame.get("text"), frame.get("data")
            tags = frame.get("tags")
            receipt = await self._deps.context.put(
                self._principal, self._workspace, key, text=text, data=data, tags=tags, **options
            )
        self._ack(frame, receipt)

    async def _delete(self, frame: Frame) -> None:
        self._require_hello()
        key = _str(frame.get("key"), "key")
        receipt = await self._deps.context.delete(
            self._principal,
            self._workspace,
            key,
            client_msg_id=self._msg_id(frame),
            source="stream",
        )
        self._ack(frame, receipt)

    async def _presence(self, frame: Frame) -> None:
        self._require_hello()
        state = frame.get("state")
        if not isinstance(state, dict | type(None)):
            raise InvalidInput("presence state is an object or null", code="frame.invalid")
        self._pending_presence = state
        now = time.monotonic()
        wait = self._last_presence + PRESENCE_INTERVAL_SECONDS - now
        if wait <= 0:
            await self._flush_presence()
        elif self._presence_timer is None:
            # Throttled: coalesce to the latest state and send it when the interval is over.
            loop = asyncio.get_running_loop()
            self._presence_timer = loop.call_later(
                wait, lambda: asyncio.ensure_future(self._flush_presence())
            )

    async def _flush_presence(self) -> None:
        self._presence_timer = None
        self._last_presence = time.monotonic()
        message = {
            "client": self._client,
            "principal": self._principal.id,
            "state": self._pending_presence,
        }
        await self._deps.fanout.publish_presence(self._workspace, message)

    async def _ping(self, frame: Frame) -> None:
        self._send({"type": "pong", "id": frame.get("id")})

    _handlers: dict[str, Callable[[StreamSession, Frame], Any]] = {
        "hello": _hello,
        "put": _put,
        "delete": _delete,
        "presence": _presence,
        "ping": _ping,
    }

    # Helpers --------------------------------------------------------------------------------

    def _visible(self, event: Event) -> bool:
        if event.subject.startswith("context/"):
            return event.subject.removeprefix("context/").startswith(self._prefix)
        if event.subject.startswith(("graph/", "insight/")):
            # The knowledge graph and insights: every reader sees them, unless filtering by
            # context key.
            return not self._prefix
        # Membership and key changes are audit data: maintainers only, and only unfiltered.
        return not self._prefix and allows(self._role, Permission.READ_AUDIT)

    def _require_hello(self) -> None:
        if not self._subscribed:
            raise InvalidInput("say hello first", code="frame.invalid")

    def _msg_id(self, frame: Frame) -> str | None:
        value = frame.get("id")
        if value is None:
            return None
        value = _str(value, "id")
        if not value or len(value) > _MAX_ID:
            raise InvalidInput(f"id is 1 to {_MAX_ID} characters", code="frame.invalid")
        # Ids are unique per credential (clients use UUIDs); the principal scopes them so two
        # credentials can never collide on one idempotency key.
        return f"{self._principal.id}/{value}"

    def _ack(self, frame: Frame, receipt: Receipt) -> None:
        ack = {"type": "ack", "id": frame.get("id"), "seq": receipt.seq}
        if receipt.duplicate:
            ack["duplicate"] = True
        self._send(ack)


def _event_frame(event: Event) -> Frame:
    return {"type": "event", "seq": event.seq, "event": event.to_json()}


def _error(frame: Frame, exc: InfinityMatrixError) -> Frame:
    error: Frame = {"type": "error", "code": exc.code, "detail": exc.detail}
    if isinstance(frame.get("id"), str):
        error["id"] = frame["id"]
    return error


def _int(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput(f"{name} is a whole number >= 0", code="frame.invalid")
    return value


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{name} is a string", code="frame.invalid")
    return value


def _bytes(value: Any) -> bytes:
    try:
        return base64.b64decode(_str(value, "update"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("update is base64", code="frame.invalid") from exc

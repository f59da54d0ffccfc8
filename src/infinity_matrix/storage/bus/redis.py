"""RedisBus: committed events over Redis streams (retained for replay) and pub/sub (live).

Keys and channels, under ``prefix`` (DESIGN §4)::

    {prefix}:ws:{workspace}:events   stream; entry id "<seq>-0", fields "id" = the event's id
                                     and "e" = the wire event (``core.protocol.codec``),
                                     trimmed to about ``stream_maxlen`` entries
    {prefix}:ev:{workspace}          channel; one message per committed batch: a JSON array of
                                     wire events (``codec.frame_batch``)
    {prefix}:pr:{workspace}          channel; presence, one JSON object per message, never stored

One Lua script appends a batch to the stream and publishes it, so an event is never announced
without being retained. Pub/sub loses messages while a connection is down; the reader just
reconnects, and the fan-out repairs the gap by seq from ``replay`` or the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections.abc import Sequence
from typing import Any

import orjson
import redis.asyncio
import structlog
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from infinity_matrix.core.ports import EventHandler, PresenceHandler
from infinity_matrix.core.protocol.codec import (
    batch_from_wire,
    event_from_wire,
    event_to_wire,
    frame_batch,
)
from infinity_matrix.core.protocol.events import Event
from infinity_matrix.errors import InvalidInput, Unavailable

log = structlog.get_logger(__name__)

# A dead Redis must fail a write or a readiness probe quickly rather than hang it.
_TIMEOUT_SECONDS = 2.0
# The reader pings after this much silence; a ping unanswered as long again means a dead link
# (a half-open TCP connection never reports an error by itself).
_HEALTH_SECONDS = 5.0
_BACKOFF_FIRST_SECONDS = 0.1
_BACKOFF_MAX_SECONDS = 5.0
_PATTERNS = 2  # events and presence

# KEYS[1] stream; ARGV[1] channel, ARGV[2] maxlen, ARGV[3] the batch, then (seq, event id,
# event) triples in seq order. A seq the stream already passed is skipped (XADD would refuse
# it), so publishing again after a retry is a no-op for the stream and a harmless repeat for
# the subscribers. But if the stream holds another event under that seq, it is the history of
# a deleted workspace whose id was used again: it is dropped, lest replay serve its events.
_APPEND_AND_PUBLISH = """
local function last_seq()
  if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      return tonumber(string.match(info[i + 1], '^(%d+)'))
    end
  end
  return 0
end
local function held_id(seq)
  local found = redis.call('XRANGE', KEYS[1], seq .. '-0', seq .. '-0')
  if #found == 0 then return nil end
  local fields = found[1][2]
  for i = 1, #fields, 2 do
    if fields[i] == 'id' then return fields[i + 1] end
  end
  return nil
end
local last = last_seq()
local added = 0
for i = 4, #ARGV, 3 do
  local seq = tonumber(ARGV[i])
  if seq <= last then
    local held = held_id(ARGV[i])
    if held and held ~= ARGV[i + 1] then
      redis.call('DEL', KEYS[1])
      last = 0
    end
  end
  if seq > last then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], ARGV[i] .. '-0',
      'id', ARGV[i + 1], 'e', ARGV[i + 2])
    last = seq
    added = added + 1
  end
end
redis.call('PUBLISH', ARGV[1], ARGV[3])
return added
"""

_REDIS_ERRORS = (RedisError, OSError)  # OSError covers TimeoutError and refused connections


class RedisBus:
    """The bus of a hub with several nodes; see the module docstring for the layout.

    ``publish`` and ``publish_presence`` raise ``Unavailable`` (``bus.unavailable``) when Redis
    cannot be reached; ``replay`` answers None instead. Opens no connection before use.
    """

    def __init__(self, url: str, *, prefix: str = "imx", stream_maxlen: int = 10_000) -> None:
        self._redis = redis.asyncio.Redis.from_url(
            url,
            socket_connect_timeout=_TIMEOUT_SECONDS,
            socket_timeout=_TIMEOUT_SECONDS,
            socket_keepalive=True,
            # Names the hub's connections in CLIENT LIST (Redis refuses spaces in a name).
            client_name=re.sub(r"[^!-~]", "_", f"{prefix}:bus"),
            # One immediate retry survives a pooled connection that a Redis restart broke;
            # the default (ten, with backoff) would hold a write for many seconds.
            retry=Retry(NoBackoff(), 1),
        )
        self._prefix = prefix
        self._maxlen = stream_maxlen
        self._append = self._redis.register_script(_APPEND_AND_PUBLISH)
        self._on_events: EventHandler | None = None
        self._on_presence: PresenceHandler | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self, on_events: EventHandler, on_presence: PresenceHandler) -> None:
        """Subscribe, then hand messages over from a reader task that outlives lost
        connections. A Redis that is down now does not fail the start: the reader keeps
        trying, and the fan-out's reconcile delivers from the database meanwhile."""
        self._on_events, self._on_presence = on_events, on_presence
        pubsub: PubSub | None = None
        try:
            pubsub = await self._subscribe()
        except _REDIS_ERRORS as exc:
            log.warning("bus.subscribe_failed", error=repr(exc))
        self._reader = asyncio.create_task(self._read_forever(pubsub))

    async def publish(self, events: Sequence[Event]) -> None:
        """Append each workspace's events to its stream and publish them, one script call
        per workspace."""
        for workspace, batch in _by_workspace(events).items():
            wires = [event_to_wire(event) for event in batch]
            args: list[bytes | int | str] = [self._channel("ev", workspace), self._maxlen]
            args.append(frame_batch(wires))
            for event, wire in zip(batch, wires, strict=True):
                args += [event.seq, event.id, wire]
            try:
                await self._append(keys=[self._stream(workspace)], args=args)
            except _REDIS_ERRORS as exc:
                raise _unavailable() from exc

    async def replay(self, workspace: str, after: int, until: int) -> list[Event] | None:
        if until <= after:
            return []
        if until - after > self._maxlen:
            return None  # more than the stream keeps: do not fetch it only to give up
        try:
            entries = await self._redis.xrange(
                self._stream(workspace), f"{after + 1}-0", f"{until}-0", count=until - after
            )
            events = [event_from_wire((fields or {})[b"e"]) for _id, fields in entries or ()]
        except (*_REDIS_ERRORS, InvalidInput, KeyError, TypeError) as exc:
            log.warning("bus.replay_failed", workspace=workspace, error=repr(exc))
            return None
        expected = [(workspace, seq) for seq in range(after + 1, until + 1)]
        return events if [(e.workspace, e.seq) for e in events] == expected else None

    async def publish_presence(self, workspace: str, message: dict[str, Any]) -> None:
        try:
            await self._redis.publish(self._channel("pr", workspace), orjson.dumps(message))
        except _REDIS_ERRORS as exc:
            raise _unavailable() from exc

    async def ready(self) -> None:
        try:
            await self._redis.ping()
        except _REDIS_ERRORS as exc:
            raise _unavailable() from exc

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._redis.aclose()

    def _stream(self, workspace: str) -> str:
        return f"{self._prefix}:ws:{workspace}:events"

    def _channel(self, kind: str, workspace: str) -> str:
        return f"{self._prefix}:{kind}:{workspace}"

    async def _subscribe(self) -> PubSub:
        """A pub/sub connection on both patterns, returned once Redis confirmed them, so that
        every message published after ``start`` returns reaches the reader."""
        pubsub = self._redis.pubsub()
        try:
            prefix = _glob_escape(self._prefix)
            await pubsub.psubscribe(f"{prefix}:ev:*", f"{prefix}:pr:*")
            confirmed = 0
            async with asyncio.timeout(_TIMEOUT_SECONDS):
                while confirmed < _PATTERNS:
                    message = await pubsub.get_message(timeout=_TIMEOUT_SECONDS)
                    if message is not None and message["type"] == "psubscribe":
                        confirmed += 1
                    elif message is not None:
                        await self._handle(message)
        except BaseException:
            await _close(pubsub)
            raise
        return pubsub

    async def _read_forever(self, pubsub: PubSub | None) -> None:
        failures = 0
        while True:
            try:
                pubsub = pubsub or await self._subscribe()
                failures = 0
                await self._read(pubsub)
            except _REDIS_ERRORS as exc:
                failures += 1
                log.warning("bus.reader_disconnected", error=repr(exc), failures=failures)
            except Exception:  # a supervisor: log with the stack, reconnect, keep serving
                failures += 1
                log.exception("bus.reader_failed", failures=failures)
            finally:
                if pubsub is not None:
                    await _close(pubsub)
                    pubsub = None
            await asyncio.sleep(_backoff(failures))

    async def _read(self, pubsub: PubSub) -> None:
        """Hand messages over until the connection fails (this raises; it never returns)."""
        pinged = False
        while True:
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=_HEALTH_SECONDS
            )
            if message is not None:
                pinged = False
                await self._handle(message)
            elif pinged:
                raise redis.ConnectionError("the pub/sub connection did not answer a ping")
            else:
                await pubsub.ping()
                pinged = True

    async def _handle(self, message: dict[str, Any]) -> None:
        if message["type"] != "pmessage":
            return  # a pong or a subscription notice
        channel = bytes(message["channel"]).decode()
        kind, _, workspace = channel.removeprefix(f"{self._prefix}:").partition(":")
        try:
            decoded = batch_from_wire(message["data"]) if kind == "ev" else _presence(message)
        except InvalidInput as exc:
            log.warning("bus.message_refused", channel=channel, code=exc.code)
            return
        try:
            if isinstance(decoded, list) and self._on_events is not None:
                await self._on_events(decoded)
            elif isinstance(decoded, dict) and self._on_presence is not None:
                await self._on_presence(workspace, decoded)
        except Exception:  # a broken handler must not stop the reader
            log.exception("bus.handler_failed", channel=channel)


async def _close(pubsub: PubSub) -> None:
    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated


def _presence(message: dict[str, Any]) -> dict[str, Any]:
    try:
        value = orjson.loads(message["data"])
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("presence is not JSON", code="protocol.invalid_presence") from exc
    if not isinstance(value, dict):
        raise InvalidInput("presence must be an object", code="protocol.invalid_presence")
    return value


def _by_workspace(events: Sequence[Event]) -> dict[str, list[Event]]:
    grouped: dict[str, list[Event]] = {}
    for event in sorted(events, key=lambda e: e.seq):
        grouped.setdefault(event.workspace, []).append(event)
    return grouped


def _backoff(failures: int) -> float:
    """Exponential, capped, with full jitter so that nodes do not reconnect in lockstep."""
    ceiling = min(_BACKOFF_MAX_SECONDS, _BACKOFF_FIRST_SECONDS * 2 ** min(failures, 16))
    return random.uniform(_BACKOFF_FIRST_SECONDS / 2, ceiling)  # noqa: S311 - not for secrets


def _glob_escape(text: str) -> str:
    """``text`` matched literally in a PSUBSCRIBE pattern."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _unavailable() -> Unavailable:
    return Unavailable("the event bus (Redis) cannot be reached", code="bus.unavailable")

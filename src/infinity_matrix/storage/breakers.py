"""RedisBreakerStore: the circuit breakers of provider deployments, shared by every node.

One hash per deployment, ``{prefix}:breaker:{deployment}``, fields::

    st  closed | open | half_open      cf  consecutive failures     rs  reason
    oa  opened at (epoch s)            cu  cooldown until           on  openings in a row
    pu  half-open probe held until     w   rolling-window bucket    ok, f, pok, pf  its counts

Every operation is one Lua script that reads the hash, applies the transition of
``core.providers.breaker`` (the same rules, kept in step by the breaker contract tests) and writes
it back, so failures recorded by two nodes at once both count and only one node takes the probe.
Nothing is cached: each call reads Redis, so a breaker opened by one node stops the others at
their next call. The hash expires when idle for longer than anything it remembers.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Sequence

import redis.asyncio
import structlog
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from infinity_matrix.core.providers.breaker import CLOSED_STATE, BreakerPolicy, BreakerState

log = structlog.get_logger(__name__)

# A dead Redis must not hold a provider call: the breaker then reads as closed.
_TIMEOUT_SECONDS = 2.0
# How long a breaker this node saw closed (and clean) admits calls without asking Redis.
CACHE_SECONDS = 0.25
_CONNECTIONS = 64
_REDIS_ERRORS = (RedisError, OSError)  # OSError covers TimeoutError and refused connections

# KEYS[1] the hash; ARGV: op (get|acquire|success|failure), now, ttl ms, reason (for a success:
# how many, counted together), then the policy:
# failure_threshold, failure_ratio, min_calls, window, cooldown, factor, max_cooldown, probe.
# Answers "1"/"0" (admitted, for acquire) and the fields in the order of _FIELDS.
_TRANSITION = """
local op, now, ttl, reason = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local threshold, ratio, min_calls = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local window, cooldown, factor = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local max_cooldown, probe = tonumber(ARGV[11]), tonumber(ARGV[12])
local raw = redis.call('HGETALL', KEYS[1])
local h = {}
for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
local function opt(v) if v == nil or v == '' then return nil end return tonumber(v) end
local s = {st = h.st or 'closed', cf = opt(h.cf) or 0, oa = opt(h.oa), cu = opt(h.cu),
  rs = h.rs or '', on = opt(h.on) or 0, pu = opt(h.pu), w = opt(h.w) or 0, ok = opt(h.ok) or 0,
  f = opt(h.f) or 0, pok = opt(h.pok) or 0, pf = opt(h.pf) or 0}
local function fmt(v) if v == nil then return '' end return string.format('%.17g', v) end
local function answer(allowed)
  return {allowed, s.st, fmt(s.cf), fmt(s.oa), fmt(s.cu), s.rs, fmt(s.on), fmt(s.pu), fmt(s.w),
    fmt(s.ok), fmt(s.f), fmt(s.pok), fmt(s.pf)}
end
local function save()
  redis.call('HSET', KEYS[1], 'st', s.st, 'cf', fmt(s.cf), 'oa', fmt(s.oa), 'cu', fmt(s.cu),
    'rs', s.rs, 'on', fmt(s.on), 'pu', fmt(s.pu), 'w', fmt(s.w), 'ok', fmt(s.ok), 'f', fmt(s.f),
    'pok', fmt(s.pok), 'pf', fmt(s.pf))
  redis.call('PEXPIRE', KEYS[1], ttl)
end
local bucket = math.floor(now / window)
local function roll()
  if bucket == s.w then return end
  if bucket == s.w + 1 then s.pok, s.pf = s.ok, s.f else s.pok, s.pf = 0, 0 end
  s.w, s.ok, s.f = bucket, 0, 0
end
local function open()
  local again = s.cu ~= nil and now - s.cu < max_cooldown
  if again then s.on = s.on + 1 else s.on = 1 end
  s.st, s.oa, s.rs, s.pu = 'open', now, reason, nil
  s.cu = now + math.min(max_cooldown, cooldown * factor ^ (s.on - 1))
  s.w, s.ok, s.f, s.pok, s.pf = bucket, 0, 0, 0, 0
end
if op == 'get' then return answer('1') end
if op == 'acquire' then
  if s.st == 'closed' then return answer('1') end
  if s.st == 'open' and s.cu ~= nil and now < s.cu then return answer('0') end
  if s.st == 'half_open' and s.pu ~= nil and now < s.pu then return answer('0') end
  s.st, s.pu = 'half_open', now + probe
  save()
  return answer('1')
end
if s.st == 'open' then return answer('1') end
if op == 'success' then
  if s.st == 'half_open' then
    s.st, s.cf, s.pu = 'closed', 0, nil
    s.w, s.ok, s.f, s.pok, s.pf = bucket, 1, 0, 0, 0
  else
    roll()
    s.cf, s.ok = 0, s.ok + (tonumber(reason) or 1)
  end
else
  if s.st == 'half_open' then
    open()
  else
    roll()
    s.cf, s.f = s.cf + 1, s.f + 1
    local weight = 1.0 - (now / window - s.w)
    local failed = s.pf * weight + s.f
    local total = (s.pok + s.pf) * weight + s.ok + s.f
    if s.cf >= threshold or (total >= min_calls and failed >= ratio * total) then open() end
  end
end
save()
return answer('1')
"""


class RedisBreakerStore:
    """``BreakerStore`` in Redis, shared by every node using ``url`` and ``prefix``.

    ``clock`` is the epoch time (nodes' clocks are assumed to agree within a fraction of a
    second). When Redis cannot be reached every breaker reads as closed and the outage is
    logged: the providers are still tried, and their own errors still fail the call. Call
    ``aclose`` at shutdown."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "imx",
        policy: BreakerPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy or BreakerPolicy()
        # A bounded pool whose callers wait for a connection: the plain pool refuses past its
        # size, and a refused read would make every breaker read as closed.
        self._pool = redis.asyncio.BlockingConnectionPool.from_url(
            url,
            max_connections=_CONNECTIONS,
            timeout=_TIMEOUT_SECONDS,
            socket_connect_timeout=_TIMEOUT_SECONDS,
            socket_timeout=_TIMEOUT_SECONDS,
            # Names the hub's connections in CLIENT LIST (Redis refuses spaces in a name).
            client_name=re.sub(r"[^!-~]", "_", f"{prefix}:breakers"),
            # One immediate retry survives a pooled connection that a Redis restart broke.
            retry=Retry(NoBackoff(), 1),
        )
        self._redis = redis.asyncio.Redis(connection_pool=self._pool)
        self._prefix = prefix
        self._clock = clock
        # What this node last saw of each breaker, and when (monotonic).
        self._seen: dict[str, tuple[float, BreakerState]] = {}
        self._successes: dict[str, int] = {}  # clean successes not yet counted in Redis
        self._flusher: asyncio.Task[None] | None = None
        self._script = self._redis.register_script(_TRANSITION)
        p = self.policy
        ttl = 2 * (p.max_cooldown_seconds + p.window_seconds) + p.probe_seconds
        self._ttl_ms = str(round(ttl * 1000))
        self._policy_args = (
            str(p.failure_threshold),
            repr(p.failure_ratio),
            str(p.min_calls),
            repr(p.window_seconds),
            repr(p.cooldown_seconds),
            repr(p.cooldown_factor),
            repr(p.max_cooldown_seconds),
            repr(p.probe_seconds),
        )

    async def get(self, deployment: str) -> BreakerState:
        return (await self._run("get", deployment))[1]

    async def try_acquire(self, deployment: str) -> tuple[bool, BreakerState]:
        # A breaker this node saw closed moments ago admits without asking Redis: another
        # node's opening is seen within ``CACHE_SECONDS`` (a call or two more to a failing
        # provider), and every state but a clean "closed" goes to Redis every time.
        cached = self._clean(deployment)
        if cached is not None:
            return True, cached
        return await self._run("acquire", deployment)

    async def record_success(self, deployment: str) -> BreakerState:
        cached = self._clean(deployment)
        if cached is None:
            return (await self._run("success", deployment))[1]
        # Nothing to close or reset: the success only feeds the failure ratio's window, so
        # successes are counted together, off the call's path, every ``CACHE_SECONDS``.
        self._successes[deployment] = self._successes.get(deployment, 0) + 1
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_later())
        return cached

    async def _flush_later(self) -> None:
        await asyncio.sleep(CACHE_SECONDS)
        await self._flush()

    async def _flush(self) -> None:
        counts, self._successes = self._successes, {}
        for deployment, count in counts.items():
            await self._run("success", deployment, str(count))

    async def record_failure(self, deployment: str, reason: str) -> BreakerState:
        return (await self._run("failure", deployment, reason))[1]

    async def aclose(self) -> None:
        """Release the Redis connections; the store is unusable afterwards."""
        if self._flusher is not None:
            self._flusher.cancel()
        await self._flush()
        await self._redis.aclose()
        await self._pool.aclose()

    def _clean(self, deployment: str) -> BreakerState | None:
        seen = self._seen.get(deployment)
        if seen is None or time.monotonic() - seen[0] > CACHE_SECONDS:
            return None
        state = seen[1]
        if state.state != "closed" or state.consecutive_failures:
            return None
        return state

    async def _run(self, op: str, deployment: str, reason: str = "") -> tuple[bool, BreakerState]:
        args = (op, repr(self._clock()), self._ttl_ms, reason, *self._policy_args)
        try:
            answer = await self._script(keys=[f"{self._prefix}:breaker:{deployment}"], args=args)
        except _REDIS_ERRORS as exc:
            log.warning("breakers.unavailable", deployment=deployment, error=repr(exc))
            self._seen.pop(deployment, None)
            return True, CLOSED_STATE
        allowed, state = _decode(answer)
        self._seen[deployment] = (time.monotonic(), state)
        return allowed, state


def _decode(answer: Sequence[bytes]) -> tuple[bool, BreakerState]:
    allowed, st, cf, oa, cu, rs, on, pu, w, ok, f, pok, pf = (v.decode() for v in answer)
    return allowed == "1", BreakerState(
        state=st,
        consecutive_failures=int(float(cf)),
        opened_at=_optional(oa),
        cooldown_until=_optional(cu),
        reason=rs or None,
        openings=int(float(on)),
        probe_until=_optional(pu),
        window=int(float(w)),
        ok=int(float(ok)),
        failed=int(float(f)),
        previous_ok=int(float(pok)),
        previous_failed=int(float(pf)),
    )


def _optional(value: str) -> float | None:
    return float(value) if value else None

"""PatternService: keeps the code-fingerprint index in step with the context entries and
records the fingerprints that recur across entries as ``pattern`` insights.

It follows every committed batch of this node (``Fanout.listen``): a change to an entry that
may hold code (a source file by its extension, or a text with a fenced block) schedules the key,
debounced, so a file being typed into is parsed once it pauses (and at least every few seconds);
JSON entries and texts without code cost nothing. A worker then re-fingerprints the entry,
replaces its rows, and for every recurring fingerprint it touched — appearing, changing
occurrences or ceasing to recur — records or updates the pattern insight with its
occurrences. Fingerprints implied by a larger recurring one (the loop inside a cloned
function) are not reported (``fingerprint.maximal``).

The queue is bounded: past ``max_pending`` keys a workspace is marked for a full ``rescan``
instead. Every node of a cluster indexes the batches it receives; rows carry the entry's
version and an older one never overwrites a newer one, and recording an unchanged pattern
appends nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from infinity_matrix.core.authorization import Authorizer
from infinity_matrix.core.insights.records import Occurrence as InsightOccurrence
from infinity_matrix.core.patterns.extract import (
    entry_units,
    language_of_key,
    may_hold_code,
    supported,
)
from infinity_matrix.core.patterns.fingerprint import (
    BLOCK_MIN_MASS,
    MIN_MASS,
    CodeUnit,
    Occurrence,
    Pattern,
    maximal,
)
from infinity_matrix.core.ports import EventStore, PatternIndex
from infinity_matrix.core.protocol import events as ev
from infinity_matrix.core.protocol.events import Event
from infinity_matrix.core.records import EntryRecord
from infinity_matrix.errors import InfinityMatrixError
from infinity_matrix.security.access import Permission
from infinity_matrix.security.principals import Principal

log = structlog.get_logger(__name__)

DEBOUNCE_SECONDS = 1.5
MAX_WAIT_FACTOR = 4  # a key changed without pause is still processed every 4 debounces
MAX_PENDING = 10_000
MAX_OCCURRENCES = 1_000  # as the insights service accepts
_CONTEXT_LIMIT = 100_000  # recurring fingerprints read to decide which are maximal
_BODY_LINES = 50
_SCAN_PAGE = 200


class PatternRecorder(Protocol):
    """Where recurring fingerprints go: ``InsightService.record_pattern``."""

    async def record_pattern(
        self,
        workspace: str,
        fingerprint: str,
        *,
        title: str,
        body: str,
        occurrences: Sequence[InsightOccurrence],
        tags: Sequence[str] = (),
    ) -> Any: ...


@dataclass(frozen=True, slots=True)
class ScanReport:
    """What a scan of a workspace did."""

    entries: int  # context entries read
    code_entries: int  # of which had at least one fingerprinted unit
    units: int
    removed: int  # keys dropped from the index because their entry is gone
    patterns: int  # recurring fingerprints recorded as insights

    def to_json(self) -> dict[str, int]:
        return {
            "entries": self.entries,
            "code_entries": self.code_entries,
            "units": self.units,
            "removed": self.removed,
            "patterns": self.patterns,
        }


@dataclass(slots=True)
class _Pending:
    first: float
    due: float


class PatternService:
    """Pattern recognition over a workspace's context.

    ``start``/``close`` run the worker; ``observe`` is the ``Fanout`` listener. ``scan`` and
    ``patterns`` check authorization (WRITE to rebuild, READ to list); ``refresh`` and
    ``rescan`` are for the hub's own use.

    Errors: ``NotFound`` (``workspace.not_found``), ``Forbidden`` (role too low),
    ``Unavailable`` (the database).
    """

    def __init__(
        self,
        store: EventStore,
        index: PatternIndex,
        recorder: PatternRecorder,
        authorizer: Authorizer,
        *,
        debounce_seconds: float = DEBOUNCE_SECONDS,
        max_pending: int = MAX_PENDING,
        min_mass: int = MIN_MASS,
        block_min_mass: int = BLOCK_MIN_MASS,
    ) -> None:
        self._store = store
        self._index = index
        self._recorder = recorder
        self._auth = authorizer
        self._debounce = debounce_seconds
        self._max_pending = max_pending
        self._min_mass = min_mass
        self._block_min_mass = block_min_mass
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._rescans: set[str] = set()
        self._known: dict[str, set[str]] = {}  # workspace → keys that have rows
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._lock = asyncio.Lock()
        self._worker: asyncio.Task[None] | None = None
        self.refreshed = 0  # keys re-fingerprinted (for metrics and tests)

    async def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._work_forever())

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    def observe(self, events: Sequence[Event]) -> None:
        """The ``Fanout`` listener: schedule the keys whose change may concern code."""
        now = asyncio.get_running_loop().time()
        for event in events:
            if event.type not in (ev.CONTEXT_UPDATED, ev.CONTEXT_DELETED):
                continue
            key = event.subject.removeprefix("context/")
            if event.type == ev.CONTEXT_UPDATED and not self._may_concern_code(event, key):
                continue
            self._schedule(event.workspace, key, now)

    async def flush(self) -> None:
        """Process every pending key now, without waiting out its debounce, and return once
        nothing is pending or being processed (tests; needs ``start``)."""
        while self._pending or self._rescans or not self._idle.is_set():
            for pending in self._pending.values():
                pending.due = 0.0
            self._wake.set()
            await self._idle.wait()

    async def scan(self, principal: Principal, workspace: str) -> ScanReport:
        """Rebuild the workspace's fingerprints from its entries and record every recurring
        one (a backfill, or after a restore)."""
        await self._auth.check(principal, workspace, Permission.WRITE)
        return await self.rescan(workspace)

    async def patterns(
        self, principal: Principal, workspace: str, *, limit: int = 100
    ) -> list[Pattern]:
        """The workspace's recurring fingerprints not implied by larger ones, with their
        occurrences, largest first."""
        await self._auth.check(principal, workspace, Permission.READ)
        found = maximal(await self._index.recurring(workspace, limit=_CONTEXT_LIMIT))
        found.sort(key=lambda p: (-p.mass, p.fingerprint))
        return found[:limit]

    async def rescan(self, workspace: str) -> ScanReport:
        async with self._lock:
            return await self._rescan(workspace)

    async def refresh(self, workspace: str, key: str) -> None:
        """Re-fingerprint one entry now and update the patterns it takes part in."""
        async with self._lock:
            await self._refresh(workspace, key)

    # --- scheduling ------------------------------------------------------------------------

    def _may_concern_code(self, event: Event, key: str) -> bool:
        if event.payload.get("kind") != "text":
            return key in self._known.get(event.workspace, ())  # became JSON: drop its rows
        language = language_of_key(key)
        return language is None or supported(language)

    def _schedule(self, workspace: str, key: str, now: float) -> None:
        pending = self._pending.get((workspace, key))
        if pending is None:
            if len(self._pending) >= self._max_pending:
                self._rescans.add(workspace)
            else:
                self._pending[(workspace, key)] = _Pending(now, now + self._debounce)
        else:
            limit = pending.first + MAX_WAIT_FACTOR * self._debounce
            pending.due = min(limit, now + self._debounce)
        self._idle.clear()
        self._wake.set()

    async def _work_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending and not self._rescans:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            now = loop.time()
            due = [item for item, p in self._pending.items() if p.due <= now]
            if not due and not self._rescans:
                wait = min(p.due for p in self._pending.values()) - now
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                continue
            for workspace, key in due:
                del self._pending[(workspace, key)]
                await self._supervised(self.refresh(workspace, key), workspace, key)
            if self._rescans:
                workspace = self._rescans.pop()
                await self._supervised(self.rescan(workspace), workspace, None)

    async def _supervised(self, work: Any, workspace: str, key: str | None) -> None:
        try:
            await work
        except Exception:  # a supervisor: log and keep following the other keys
            log.exception("patterns.refresh_failed", workspace=workspace, key=key)

    # --- one key -----------------------------------------------------------------------------

    async def _refresh(self, workspace: str, key: str) -> None:
        known = await self._known_keys(workspace)
        entry = await self._store.get_entry(workspace, key)
        units = await self._units(entry) if entry is not None else []
        if not units and key not in known:
            return
        self.refreshed += 1
        before = await self._maximal(
            workspace, await self._index.recurring(workspace, keys=[key], limit=_CONTEXT_LIMIT)
        )
        if entry is None or not units:
            await self._index.remove(workspace, key)
            known.discard(key)
        else:
            if await self._index.replace(workspace, key, entry.seq, units) is None:
                return  # a newer version was indexed meanwhile
            known.add(key)
        touched = {u.fingerprint for u in units} | set(before)
        after = await self._maximal(
            workspace,
            await self._index.recurring(workspace, fingerprints=touched, limit=_CONTEXT_LIMIT),
        )
        for fingerprint, pattern in after.items():
            old = before.get(fingerprint)
            if old is None or _lines(old.occurrences) != _lines(pattern.occurrences):
                await self._record(workspace, pattern)
        for fingerprint, old in before.items():
            if fingerprint not in after:  # no longer recurs, or is now part of a larger one
                await self._record(workspace, _without(old, key, units, entry))

    async def _units(self, entry: EntryRecord) -> list[CodeUnit]:
        if entry.kind != "text" or not may_hold_code(entry.key, entry.text):
            return []
        return await asyncio.to_thread(
            entry_units,
            entry.key,
            entry.text,
            min_mass=self._min_mass,
            block_min_mass=self._block_min_mass,
        )

    async def _maximal(self, workspace: str, candidates: list[Pattern]) -> dict[str, Pattern]:
        """Those of ``candidates`` that no larger recurring fingerprint implies."""
        if not candidates:
            return {}
        keys = {o.key for p in candidates for o in p.occurrences}
        context = await self._index.recurring(workspace, keys=keys, limit=_CONTEXT_LIMIT)
        wanted = {p.fingerprint for p in candidates}
        return {p.fingerprint: p for p in maximal(context) if p.fingerprint in wanted}

    async def _known_keys(self, workspace: str) -> set[str]:
        known = self._known.get(workspace)
        if known is None:
            known = self._known[workspace] = set(await self._index.keys(workspace))
        return known

    # --- a whole workspace -------------------------------------------------------------------

    async def _rescan(self, workspace: str) -> ScanReport:
        self._rescans.discard(workspace)
        known = set(await self._index.keys(workspace))
        seen: set[str] = set()
        entries = code_entries = units_total = 0
        after: str | None = None
        while True:
            page = await self._store.list_entries(workspace, after_key=after, limit=_SCAN_PAGE)
            for entry in page:
                entries += 1
                seen.add(entry.key)
                units = await self._units(entry)
                if units:
                    code_entries += 1
                    units_total += len(units)
                    await self._index.replace(workspace, entry.key, entry.seq, units)
                elif entry.key in known:
                    await self._index.remove(workspace, entry.key)
            if len(page) < _SCAN_PAGE:
                break
            after = page[-1].key
        gone = known - seen
        for key in sorted(gone):
            await self._index.remove(workspace, key)
        self._known[workspace] = set(await self._index.keys(workspace))
        found = maximal(await self._index.recurring(workspace, limit=_CONTEXT_LIMIT))
        for pattern in found:
            await self._record(workspace, pattern)
        return ScanReport(entries, code_entries, units_total, len(gone), len(found))

    async def _record(self, workspace: str, pattern: Pattern) -> None:
        try:
            await self._recorder.record_pattern(
                workspace,
                pattern.fingerprint,
                title=title(pattern),
                body=body(pattern),
                occurrences=[
                    InsightOccurrence(o.key, o.start_line, o.end_line)
                    for o in pattern.occurrences[:MAX_OCCURRENCES]
                ],
                tags=("code", *_languages(pattern)),
            )
        except InfinityMatrixError:
            log.exception("patterns.record_failed", workspace=workspace, fp=pattern.fingerprint)


def title(pattern: Pattern) -> str:
    """``Recurring python function: retry_with_backoff``: the first occurrence's name."""
    names = [o.name for o in pattern.occurrences]
    name = min(names, key=lambda n: (len(n), n)) if names else pattern.fingerprint
    return f"Recurring {'/'.join(_languages(pattern))} {pattern.kind}: {name}"[:200]


def body(pattern: Pattern) -> str:
    """Where the shape occurs, one line each (the occurrences themselves are kept current on
    the insight; this text is written when it is first recorded)."""
    keys = pattern.keys
    lines = [
        f"The same {'/'.join(_languages(pattern))} {pattern.kind} shape (syntax fingerprint"
        f" {pattern.fingerprint}, {pattern.mass} syntax nodes) occurs in {len(keys)} context"
        " entries, up to renaming, formatting and the order of independent statements:",
        "",
    ]
    for o in pattern.occurrences[:_BODY_LINES]:
        lines.append(f"- {o.key} lines {o.start_line}-{o.end_line}: {o.name}")
    if len(pattern.occurrences) > _BODY_LINES:
        lines.append(f"- … and {len(pattern.occurrences) - _BODY_LINES} more")
    return "\n".join(lines)


def _languages(pattern: Pattern) -> list[str]:
    """JavaScript and TypeScript share fingerprints, so a pattern may span both."""
    return sorted({o.language for o in pattern.occurrences} or {pattern.language})


def _lines(occurrences: Sequence[Occurrence]) -> list[tuple[str, int, int]]:
    return sorted((o.key, o.start_line, o.end_line) for o in occurrences)


def _without(
    pattern: Pattern, key: str, units: list[CodeUnit], entry: EntryRecord | None
) -> Pattern:
    """``pattern`` with the occurrences under ``key`` replaced by those of its new units."""
    kept = [o for o in pattern.occurrences if o.key != key]
    seq = entry.seq if entry is not None else 0
    kept += [
        Occurrence(key, u.name, u.language, u.start_line, u.end_line, seq)
        for u in units
        if u.fingerprint == pattern.fingerprint
    ]
    kept.sort(key=lambda o: (o.key, o.start_line, o.end_line))
    return Pattern(pattern.fingerprint, pattern.kind, pattern.language, pattern.mass, tuple(kept))

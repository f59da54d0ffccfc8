"""The project briefing: a workspace's current context assembled into one Markdown text.

It is what an assistant reads first (the MCP prompt ``project_briefing``), what instruction files
render (``imx sync-files``) and what providers receive. Entries are grouped by their first key
segment, conventions and decisions first; each entry is cut to a share of the budget, and what
did not fit is listed by key so the reader knows to fetch it. Active insights follow the header,
one section per kind (conventions, decisions, pitfalls, patterns, facts, todos), most confident
first, each with its confidence and source.

Keys that look like secrets (``core.providers.routing.is_secret_key``) are never rendered, not
even among the omitted; ``routing`` narrows the briefing to what one provider receives.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from infinity_matrix.core.insights.records import InsightRecord
from infinity_matrix.core.insights.service import InsightService
from infinity_matrix.core.ports import EventStore
from infinity_matrix.core.providers.records import RoutingRules
from infinity_matrix.core.providers.routing import admits_entry, admits_insight
from infinity_matrix.core.records import EntryRecord
from infinity_matrix.core.sync.context import ContextService
from infinity_matrix.security.principals import Principal

DEFAULT_BUDGET_CHARS = 16_000
MIN_BUDGET_CHARS = 1_000
MAX_ENTRIES = 2_000
MAX_INSIGHTS = 200
_PAGE = 1_000
_INSIGHT_PAGE = 100
# Sections a reader needs first; everything else follows in key order.
_FIRST = ("conventions", "decisions", "architecture", "notes", "todo", "editor")
_MIN_ENTRY_CHARS = 200
# Insight kinds in the order a reader needs them, with their section titles.
INSIGHT_SECTIONS = (
    ("convention", "Conventions"),
    ("decision", "Decisions"),
    ("pitfall", "Pitfalls"),
    ("pattern", "Patterns"),
    ("fact", "Facts"),
    ("todo", "Todos"),
)
INSIGHTS_HEADING = "Insights"
# Insights may use at most this share of the budget; what they leave goes to the entries.
_INSIGHT_SHARE = 3
_MIN_INSIGHT_CHARS = 300


@dataclass(frozen=True, slots=True)
class Briefing:
    workspace: str
    text: str
    included: list[str]  # keys rendered (possibly cut)
    omitted: list[str]  # keys that did not fit the budget
    insights: list[int] = field(default_factory=list)  # ids of the insights rendered
    seq: int = 0  # the workspace's head when the briefing was read: it reflects at least this

    def to_json(self) -> dict[str, object]:
        return {
            "workspace": self.workspace,
            "text": self.text,
            "included": self.included,
            "omitted": self.omitted,
            "insights": self.insights,
            "seq": self.seq,
        }


class BriefingService:
    """Builds briefings; ``insights`` (optional) adds the insight sections, ``store`` (optional)
    gives the workspace head the briefing reflects (else the newest seq among what it read)."""

    def __init__(
        self,
        context: ContextService,
        insights: InsightService | None = None,
        store: EventStore | None = None,
    ) -> None:
        self._context = context
        self._insights = insights
        self._store = store

    async def build(
        self,
        principal: Principal,
        workspace: str,
        *,
        prefix: str = "",
        budget_chars: int = DEFAULT_BUDGET_CHARS,
        routing: RoutingRules | None = None,
        target: str | None = None,
    ) -> Briefing:
        """The briefing of ``workspace`` as ``principal`` may read it; with ``target`` (an
        assistant's name) the insights rendered are counted as served to it.

        Raises what ``ContextService.list_entries`` and ``InsightService.list`` raise
        (``NotFound``, ``Forbidden``)."""
        head = await self._head(workspace)
        entries = await self._entries(principal, workspace, prefix)
        entries = [e for e in entries if admits_entry(routing, e.key, e.kind)]
        insights = await self._active_insights(principal, workspace)
        insights = [i for i in insights if admits_insight(routing, i.kind, i.tags)]
        briefing = render(
            workspace,
            entries,
            budget_chars=max(MIN_BUDGET_CHARS, budget_chars),
            insights=insights,
        )
        seen = [e.seq for e in entries] + [i.seq for i in insights]
        seq = head if head is not None else max(seen, default=0)
        if target and briefing.insights and self._insights is not None:
            await self._insights.note_served(workspace, briefing.insights, target)
        return Briefing(
            workspace, briefing.text, briefing.included, briefing.omitted, briefing.insights, seq
        )

    async def _head(self, workspace: str) -> int | None:
        # Read before the content: the briefing then reflects at least this seq, never less.
        if self._store is None:
            return None
        record = await self._store.get_workspace(workspace)
        return record.head if record is not None else None

    async def _entries(
        self, principal: Principal, workspace: str, prefix: str
    ) -> list[EntryRecord]:
        entries: list[EntryRecord] = []
        cursor: str | None = None
        while len(entries) < MAX_ENTRIES:
            page = await self._context.list_entries(
                principal, workspace, prefix=prefix, cursor=cursor, limit=_PAGE
            )
            entries.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        return entries[:MAX_ENTRIES]

    async def _active_insights(self, principal: Principal, workspace: str) -> list[InsightRecord]:
        if self._insights is None:
            return []
        found: list[InsightRecord] = []
        cursor: str | None = None
        while len(found) < MAX_INSIGHTS:
            page = await self._insights.list(
                principal, workspace, status="active", cursor=cursor, limit=_INSIGHT_PAGE
            )
            found.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        return found[:MAX_INSIGHTS]


def render(
    workspace: str,
    entries: list[EntryRecord],
    *,
    budget_chars: int,
    insights: Sequence[InsightRecord] = (),
) -> Briefing:
    """The briefing text of ``entries`` and ``insights`` within ``budget_chars`` (the caller
    has filtered them); secrets are the caller's business, see ``BriefingService.build``."""
    header = (
        f"# Project briefing: {workspace}\n\n"
        "Shared context kept by Infinity Matrix; every assistant on this project reads the"
        " same. Keys are given so you can read or update an entry with the context tools.\n"
    )
    if not entries and not insights:
        text = header + "\n_No context has been shared in this workspace yet._\n"
        return Briefing(workspace, text, [], [])
    # Insights are the distilled part: a share of the budget is theirs, the rest (and whatever
    # they leave) the entries'.
    insight_budget = budget_chars - len(header)
    if entries:
        insight_budget = min(
            insight_budget, max(_MIN_INSIGHT_CHARS, budget_chars // _INSIGHT_SHARE)
        )
    insight_text, shown = _insight_sections(insights, insight_budget)
    used = len(header) + len(insight_text)
    entry_text, included, omitted = _entry_sections(entries, budget_chars, used)
    parts = [header, insight_text, entry_text]
    if omitted:
        parts.append(
            f"\n## Not included ({len(omitted)} entries, over the budget)\n\n"
            + ", ".join(f"`{k}`" for k in omitted[:200])
            + ("" if len(omitted) <= 200 else ", …")
            + "\n"
        )
    return Briefing(workspace, "".join(parts), included, omitted, shown)


def _entry_sections(
    entries: list[EntryRecord], budget_chars: int, used: int
) -> tuple[str, list[str], list[str]]:
    if not entries:
        return "", [], []
    ordered = sorted(entries, key=_order)
    share = max(_MIN_ENTRY_CHARS, (budget_chars - used) // len(ordered))
    parts: list[str] = []
    included: list[str] = []
    omitted: list[str] = []
    section: str | None = None
    for entry in ordered:
        top = entry.key.split("/", 1)[0]
        heading = f"\n## {top}\n" if top != section else ""
        block = heading + _entry_block(entry, share)
        if used + len(block) > budget_chars:
            omitted.append(entry.key)
            continue
        section = top
        parts.append(block)
        used += len(block)
        included.append(entry.key)
    return "".join(parts), included, omitted


def _insight_sections(insights: Sequence[InsightRecord], budget: int) -> tuple[str, list[int]]:
    """One ``## Insights: <Kind>`` section per kind, most confident first, within ``budget``."""
    parts: list[str] = []
    shown: list[int] = []
    used = 0
    for kind, title in INSIGHT_SECTIONS:
        ranked = sorted(
            (i for i in insights if i.kind == kind), key=lambda i: (-_confidence(i), -i.id)
        )
        heading = f"\n## {INSIGHTS_HEADING}: {title}\n"
        for insight in ranked:
            block = heading + _insight_block(insight)
            if used + len(block) > budget:
                continue
            parts.append(block)
            used += len(block)
            shown.append(insight.id)
            heading = ""
    return "".join(parts), shown


def _confidence(insight: InsightRecord) -> float:
    return insight.confidence.value if insight.confidence is not None else 0.0


def _insight_block(insight: InsightRecord) -> str:
    who = insight.assistant or insight.actor
    if insight.model:
        who += f" ({insight.model})"
    tags = f" · tags: {', '.join(insight.tags)}" if insight.tags else ""
    return (
        f"\n### {insight.title}\n"
        f"_confidence {_confidence(insight):.2f} · from {who} · insight {insight.id}{tags}_\n\n"
        f"{insight.body.strip()}\n"
    )


def _order(entry: EntryRecord) -> tuple[int, str]:
    top = entry.key.split("/", 1)[0].lower()
    rank = _FIRST.index(top) if top in _FIRST else len(_FIRST)
    return rank, entry.key


def _entry_block(entry: EntryRecord, limit: int) -> str:
    if entry.kind == "text":
        body = entry.text or ""
    else:
        body = json.dumps(entry.data, ensure_ascii=False, indent=2, sort_keys=True)
    if len(body) > limit:
        body = body[:limit].rstrip() + f"\n… (cut; {len(body)} characters in all)"
    tags = f" — tags: {', '.join(entry.tags)}" if entry.tags else ""
    fence = "```json\n" if entry.kind == "json" else ""
    close = "\n```" if fence else ""
    return (
        f"\n### `{entry.key}`{tags}\n"
        f"_updated {entry.updated_at:%Y-%m-%d %H:%M} UTC by {entry.updated_by}_\n\n"
        f"{fence}{body.strip()}{close}\n"
    )

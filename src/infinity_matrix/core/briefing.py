"""The project briefing: a workspace's current context assembled into one Markdown text.

It is what an assistant reads first (the MCP prompt ``project_briefing``) and, later, what
instruction files and providers receive. Entries are grouped by their first key segment,
conventions and decisions first; each entry is cut to a share of the budget, and what did not
fit is listed by key so the reader knows to fetch it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from infinity_matrix.core.records import EntryRecord
from infinity_matrix.core.sync.context import ContextService
from infinity_matrix.security.principals import Principal

DEFAULT_BUDGET_CHARS = 16_000
MAX_ENTRIES = 2_000
_PAGE = 1_000
# Sections a reader needs first; everything else follows in key order.
_FIRST = ("conventions", "decisions", "architecture", "notes", "todo", "editor")
_MIN_ENTRY_CHARS = 200


@dataclass(frozen=True, slots=True)
class Briefing:
    workspace: str
    text: str
    included: list[str]  # keys rendered (possibly cut)
    omitted: list[str]  # keys that did not fit the budget


class BriefingService:
    def __init__(self, context: ContextService) -> None:
        self._context = context

    async def build(
        self,
        principal: Principal,
        workspace: str,
        *,
        prefix: str = "",
        budget_chars: int = DEFAULT_BUDGET_CHARS,
    ) -> Briefing:
        """Raises what ``ContextService.list_entries`` raises (``NotFound``, ``Forbidden``)."""
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
        return render(workspace, entries[:MAX_ENTRIES], budget_chars=max(1_000, budget_chars))


def render(workspace: str, entries: list[EntryRecord], *, budget_chars: int) -> Briefing:
    header = (
        f"# Project briefing: {workspace}\n\n"
        "Shared context kept by Infinity Matrix; every assistant on this project reads the"
        " same. Keys are given so you can read or update an entry with the context tools.\n"
    )
    if not entries:
        text = header + "\n_No context has been shared in this workspace yet._\n"
        return Briefing(workspace, text, [], [])
    ordered = sorted(entries, key=_order)
    share = max(_MIN_ENTRY_CHARS, (budget_chars - len(header)) // len(ordered))
    parts = [header]
    used = len(header)
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
    if omitted:
        parts.append(
            f"\n## Not included ({len(omitted)} entries, over the budget)\n\n"
            + ", ".join(f"`{k}`" for k in omitted[:200])
            + ("" if len(omitted) <= 200 else ", …")
            + "\n"
        )
    return Briefing(workspace, "".join(parts), included, omitted)


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

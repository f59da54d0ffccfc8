"""The pattern service follows context changes: code recurring across entries (files, answers)
becomes a ``pattern`` insight with its occurrences, kept current as entries change or go;
entries without code cost nothing; a scan rebuilds the index of a workspace."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from infinity_matrix.core.authorization import Authorizer
from infinity_matrix.core.insights.records import InsightRecord
from infinity_matrix.core.patterns.extract import entry_units
from infinity_matrix.core.patterns.service import PatternService
from infinity_matrix.errors import Forbidden
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal
from infinity_matrix.storage.patterns import SqlPatternIndex

WS = "default"
ADMIN = Principal.user("root", is_admin=True)

FUNCTION = textwrap.dedent(
    """\
    import json


    def load_settings(path, defaults):
        with open(path) as handle:
            raw = json.load(handle)
        merged = dict(defaults)
        for name, value in raw.items():
            if name in merged and value is not None:
                merged[name] = value
        return merged
    """
)

ANSWER = (
    "You can merge the file over the defaults like this:\n"
    "\n"
    "```python\n"
    "def read_config(filename, base):\n"
    "    with open(filename) as f:\n"
    "        data = json.load(f)\n"
    "    result = dict(base)\n"
    "    for key, val in data.items():\n"
    "        if key in result and val is not None:  # only known keys\n"
    "            result[key] = val\n"
    "    return result\n"
    "```\n"
)


async def patterns(hub: Hub) -> list[InsightRecord]:
    return (await hub.insights.list(ADMIN, WS, kind="pattern")).items


def spans(insight: InsightRecord) -> list[tuple[str, int, int]]:
    return [(o.key, o.start_line, o.end_line) for o in insight.occurrences]


@pytest.mark.anyio
async def test_code_recurring_in_a_file_and_an_answer_becomes_a_pattern_insight(hub: Hub) -> None:
    await hub.context.put(ADMIN, WS, "src/settings.py", text=FUNCTION)
    await hub.context.put(ADMIN, WS, "answers/claude/1", text=ANSWER)
    await hub.patterns.flush()

    (insight,) = await patterns(hub)
    assert insight.title == "Recurring python function: read_config"
    assert insight.tags == ["code", "python"]
    (unit,) = entry_units("src/settings.py", FUNCTION)
    assert insight.topic == f"pattern/{unit.fingerprint}"
    assert spans(insight) == [("answers/claude/1", 4, 11), ("src/settings.py", 4, 11)]
    assert "src/settings.py lines 4-11: load_settings" in insight.body


@pytest.mark.anyio
async def test_occurrences_follow_edits_and_deletions(hub: Hub) -> None:
    await hub.context.put(ADMIN, WS, "src/settings.py", text=FUNCTION)
    await hub.context.put(ADMIN, WS, "answers/claude/1", text=ANSWER)
    await hub.context.put(ADMIN, WS, "answers/gemini/7", text="Same here:\n\n" + ANSWER)
    await hub.patterns.flush()
    (first,) = await patterns(hub)
    assert len(first.occurrences) == 3

    await hub.context.put(ADMIN, WS, "src/settings.py", text="# moved\n" + FUNCTION)
    await hub.context.delete(ADMIN, WS, "answers/gemini/7")
    await hub.patterns.flush()

    (moved,) = await patterns(hub)
    assert moved.id == first.id
    assert spans(moved) == [("answers/claude/1", 4, 11), ("src/settings.py", 5, 12)]

    changed = FUNCTION.replace("value is not None", "value is None")
    await hub.context.put(ADMIN, WS, "src/settings.py", text=changed)
    await hub.patterns.flush()

    gone = await hub.insights.get(ADMIN, WS, first.id)
    assert spans(gone) == [("answers/claude/1", 4, 11)]  # recurs no more


@pytest.mark.anyio
async def test_entries_without_code_are_not_parsed(hub: Hub) -> None:
    before = hub.patterns.refreshed

    await hub.context.put(ADMIN, WS, "notes/plan.md", text="Ship the settings loader on Friday.")
    await hub.context.put(ADMIN, WS, "editor/active", data={"file": "src/settings.py"})
    await hub.context.put(ADMIN, WS, "notes/snippet.md", text="```bash\nmake test\n```")
    await hub.patterns.flush()

    assert hub.patterns.refreshed == before
    assert await patterns(hub) == []


@pytest.mark.anyio
async def test_a_scan_rebuilds_the_index_and_records_the_patterns(hub: Hub) -> None:
    await hub.context.put(ADMIN, WS, "src/settings.py", text=FUNCTION)
    await hub.context.put(ADMIN, WS, "answers/claude/1", text=ANSWER)
    await hub.context.put(ADMIN, WS, "notes/plan.md", text="No code here.")
    await hub.patterns.flush()
    index = SqlPatternIndex(hub.database)  # the derived rows, dropped as after a restore
    for key in await index.keys(WS):
        await index.remove(WS, key)

    report = await hub.patterns.scan(ADMIN, WS)

    assert report.to_json() == {
        "entries": 3,
        "code_entries": 2,
        "units": 2,
        "removed": 0,
        "patterns": 1,
    }
    (found,) = await hub.patterns.patterns(ADMIN, WS)
    assert [o.key for o in found.occurrences] == ["answers/claude/1", "src/settings.py"]
    assert len(await patterns(hub)) == 1


@pytest.mark.anyio
async def test_a_viewer_may_list_patterns_but_not_rebuild_them(hub: Hub) -> None:
    await hub.identity.create_user("vera", "correct horse battery")
    await hub.workspaces.set_member(ADMIN, WS, "vera", "viewer")
    viewer = Principal.user("vera")

    assert await hub.patterns.patterns(viewer, WS) == []
    with pytest.raises(Forbidden) as caught:
        await hub.patterns.scan(viewer, WS)
    assert caught.value.code == "auth.forbidden"


def own_service(hub: Hub, **options: Any) -> PatternService:
    """A second pattern service on the hub's parts, listening to its changes."""
    service = PatternService(
        hub.store, SqlPatternIndex(hub.database), hub.insights, Authorizer(hub.store), **options
    )
    hub.fanout.listen(service.observe)
    return service


@pytest.mark.anyio
async def test_a_key_changed_again_before_its_debounce_is_parsed_once(hub: Hub) -> None:
    service = own_service(hub, debounce_seconds=3600)
    await service.start()
    try:
        for n in range(4):
            await hub.context.put(ADMIN, WS, "src/settings.py", text=f"# v{n}\n{FUNCTION}")
        await hub.context.put(ADMIN, WS, "answers/claude/1", text=ANSWER)
        await service.flush()
    finally:
        await service.close()

    assert service.refreshed == 2
    (found,) = await service.patterns(ADMIN, WS)
    assert [(o.key, o.start_line) for o in found.occurrences] == [
        ("answers/claude/1", 4),
        ("src/settings.py", 5),
    ]


@pytest.mark.anyio
async def test_past_its_bound_the_queue_rescans_the_workspace_instead(hub: Hub) -> None:
    service = own_service(hub, debounce_seconds=3600, max_pending=1)
    await service.start()
    try:
        await hub.context.put(ADMIN, WS, "src/settings.py", text=FUNCTION)
        await hub.context.put(ADMIN, WS, "answers/claude/1", text=ANSWER)  # over the bound
        await service.flush()
    finally:
        await service.close()

    (found,) = await service.patterns(ADMIN, WS)
    assert [o.key for o in found.occurrences] == ["answers/claude/1", "src/settings.py"]


@pytest.mark.anyio
async def test_a_javascript_file_and_a_typescript_answer_share_a_pattern(hub: Hub) -> None:
    pytest.importorskip("tree_sitter", reason="the patterns extra is not installed")
    script = textwrap.dedent(
        """\
        export function mergeSettings(raw, defaults) {
          const merged = { ...defaults };
          for (const [name, value] of Object.entries(raw)) {
            if (name in merged && value !== null) {
              merged[name] = value;
            }
          }
          return merged;
        }
        """
    )
    answer = (
        "In TypeScript:\n"
        "```ts\n"
        "function merge(data: Record<string, unknown>, base: Settings): Settings {\n"
        "  const result = { ...base };\n"
        "  for (const [key, val] of Object.entries(data)) {\n"
        "    if (key in result && val !== null) { result[key] = val; }\n"
        "  }\n"
        "  return result;\n"
        "}\n"
        "```\n"
    )

    await hub.context.put(ADMIN, WS, "web/settings.js", text=script)
    await hub.context.put(ADMIN, WS, "answers/copilot/3", text=answer)
    await hub.patterns.flush()

    (insight,) = await patterns(hub)
    assert insight.title == "Recurring javascript/typescript function: merge"
    assert insight.tags == ["code", "javascript", "typescript"]
    assert spans(insight) == [("answers/copilot/3", 3, 9), ("web/settings.js", 1, 9)]

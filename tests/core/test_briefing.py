"""The project briefing: secret-looking keys never rendered, active insights by kind with their
confidence and source, narrowed by routing rules, and the head seq it reflects."""

from __future__ import annotations

import re

import pytest

from infinity_matrix.core.insights.records import NewInsight
from infinity_matrix.core.providers.records import RoutingRules
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal

WS = "default"
ADMIN = Principal.user("root", is_admin=True)


async def _record(hub: Hub, kind: str, title: str, **extra: object) -> int:
    new = NewInsight(kind, title, f"{title}: the body.", assistant="claude", **extra)  # type: ignore[arg-type]
    return (await hub.insights.record(ADMIN, WS, new)).insight.id


@pytest.mark.anyio
async def test_secret_looking_keys_are_never_rendered_not_even_as_omitted(hub: Hub) -> None:
    await hub.context.put(ADMIN, WS, "notes/db", text="SQLite by default.")
    await hub.context.put(ADMIN, WS, "auth/token", text="imx_live_0123456789")
    await hub.context.put(ADMIN, WS, "config/prod.env", text="OPENAI_API_KEY=sk-abc")

    briefing = await hub.briefing.build(ADMIN, WS)

    assert briefing.included == ["notes/db"]
    assert briefing.omitted == []
    for leak in ("auth/token", "imx_live", "prod.env", "sk-abc"):
        assert leak not in briefing.text


@pytest.mark.anyio
async def test_active_insights_come_by_kind_most_confident_first_with_confidence_and_source(
    hub: Hub,
) -> None:
    todo = await _record(hub, "todo", "Write the migration guide")
    weak = await _record(hub, "decision", "Ship weekly")
    strong = await _record(hub, "decision", "Use PostgreSQL in production")
    await hub.insights.feedback(ADMIN, WS, weak, "rejected")
    convention = await _record(hub, "convention", "Line length is 100")
    old = await _record(hub, "pitfall", "The cache is never cleared", topic="cache/clear")
    await hub.insights.feedback(ADMIN, WS, old, "outdated")

    briefing = await hub.briefing.build(ADMIN, WS)

    headings = re.findall(r"^## (.+)$", briefing.text, re.MULTILINE)
    assert headings == ["Insights: Conventions", "Insights: Decisions", "Insights: Todos"]
    assert briefing.insights == [convention, strong, weak, todo]
    assert briefing.text.index("Use PostgreSQL") < briefing.text.index("Ship weekly")
    assert "The cache is never cleared" not in briefing.text
    assert re.search(r"_confidence \d\.\d\d · from claude · insight \d+_", briefing.text)


@pytest.mark.anyio
async def test_routing_rules_narrow_entries_and_insights(hub: Hub) -> None:
    await hub.context.put(ADMIN, WS, "notes/db", text="SQLite by default.")
    await hub.context.put(ADMIN, WS, "editor/active", text="src/app.py")
    kept = await _record(hub, "pitfall", "Migrations lock the table", tags=("db",))
    await _record(hub, "pitfall", "Buttons flicker", tags=("ui",))

    briefing = await hub.briefing.build(
        ADMIN, WS, routing=RoutingRules(prefixes=("notes/",), tags=("db",))
    )

    assert (briefing.included, briefing.insights) == (["notes/db"], [kept])
    assert "Buttons flicker" not in briefing.text


@pytest.mark.anyio
async def test_the_briefing_says_which_head_it_reflects(hub: Hub) -> None:
    await hub.context.put(ADMIN, WS, "notes/a", text="one")
    receipt = await hub.context.put(ADMIN, WS, "notes/b", text="two")

    briefing = await hub.briefing.build(ADMIN, WS)

    assert briefing.seq == receipt.seq


@pytest.mark.anyio
async def test_insights_take_at_most_a_share_of_the_budget_and_entries_the_rest(hub: Hub) -> None:
    for i in range(40):
        await _record(hub, "fact", f"Fact number {i} about module {i}", topic=f"facts/{i}")
    for i in range(5):
        await hub.context.put(ADMIN, WS, f"notes/n{i}", text=f"note {i} " * 20)

    briefing = await hub.briefing.build(ADMIN, WS, budget_chars=4_000)

    assert len(briefing.text) <= 4_000 + 400  # the list of omitted keys may follow
    assert 0 < len(briefing.insights) < 40
    assert briefing.included  # the insights did not crowd the entries out

"""RetrievalService on a real hub: candidates from context entries and graph facts (full text and
embeddings), scores with their parts, packing into the budget, access and input errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.world import create_user, started_hub

from infinity_matrix.config import Settings
from infinity_matrix.core.insights.records import NewInsight
from infinity_matrix.core.knowledge.records import NewEntity
from infinity_matrix.core.retrieval.tokens import FAMILIES, estimate_tokens
from infinity_matrix.errors import InvalidInput, NotFound
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal

OWNER = Principal.user("owner")
WS = "team"

NOTES = {
    "notes/database": "Staging PostgreSQL listens on port 6543, not 5432. "
    "The connection pool holds ten connections.",
    "notes/deploy": "We deploy with Helm charts; each release is tagged in git first.",
    "notes/frontend": "The dashboard is plain HTML templates with a little htmx.",
    "code/retry.py": "def retry(call, attempts=3):\n    for n in range(attempts):\n"
    "        try:\n            return call()\n        except OSError:\n            continue\n",
}


@pytest.fixture(params=["text", "embeddings"])
async def seeded(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Hub]:
    settings = settings.model_copy(update={"embeddings": request.param == "embeddings"})
    async with started_hub(settings) as hub:
        await hub.workspaces.create(OWNER, WS)
        for key, text in NOTES.items():
            await hub.context.put(OWNER, WS, key, text=text)
        await hub.graph.create_entities(
            OWNER,
            WS,
            [NewEntity("staging-db", "service", ("hosted on db-stage-1", "PostgreSQL 16"))],
            source="mcp:claude",
        )
        if hub.retrieval.semantic is not None:
            await hub.retrieval.semantic.ready(OWNER, WS, wait=None)
        yield hub


@pytest.mark.anyio
async def test_retrieve_ranks_the_entry_about_the_task_first_with_its_score_parts(
    seeded: Hub,
) -> None:
    result = await seeded.retrieval.retrieve(
        OWNER, WS, "which port does the staging postgres use", target="claude", budget_tokens=2000
    )

    first = result.items[0]
    assert (first.candidate.type, first.candidate.ref) == ("context", "notes/database")
    assert [p.name for p in first.score.parts] == ["relevance", "confidence", "recency"]
    product = 1.0
    for part in first.score.parts:
        product *= part.value
    assert first.score.value == pytest.approx(product)
    assert first.candidate.source.actor == OWNER.actor
    assert first.text == NOTES["notes/database"]
    assert {i.candidate.uid for i in result.items} >= {"context:notes/database", "fact:staging-db"}
    assert result.tokens_used == sum(i.tokens for i in result.items) <= result.budget_tokens


@pytest.mark.anyio
async def test_retrieve_answers_graph_facts_with_their_observations_and_source(
    seeded: Hub,
) -> None:
    result = await seeded.retrieval.retrieve(
        OWNER, WS, "staging-db host", target="gpt-4o", budget_tokens=500, kinds=["fact"]
    )

    [fact] = result.items
    assert fact.candidate.ref == "staging-db"
    assert fact.text == "staging-db (service): hosted on db-stage-1; PostgreSQL 16"
    assert (fact.candidate.source.actor, fact.candidate.source.client) == (
        OWNER.actor,
        "mcp:claude",
    )


@pytest.mark.anyio
async def test_a_small_budget_cuts_the_last_item_at_a_sentence_and_never_overflows(
    seeded: Hub,
) -> None:
    result = await seeded.retrieval.retrieve(
        OWNER, WS, "staging postgres port", target="claude", budget_tokens=40
    )

    assert result.tokens_used <= 40
    last = result.items[-1]
    assert last.truncated
    assert last.text == "Staging PostgreSQL listens on port 6543, not 5432. …"
    assert last.tokens == estimate_tokens(last.text, FAMILIES["anthropic"]) + 12


@pytest.mark.anyio
async def test_changed_and_deleted_entries_are_found_as_they_are_now(seeded: Hub) -> None:
    await seeded.context.put(OWNER, WS, "notes/frontend", text="The dashboard uses React now.")
    await seeded.context.delete(OWNER, WS, "notes/deploy")

    result = await seeded.retrieval.retrieve(
        OWNER, WS, "dashboard react helm deploy", target="claude", budget_tokens=2000
    )

    texts = {i.candidate.ref: i.text for i in result.items}
    assert texts["notes/frontend"] == "The dashboard uses React now."
    assert "notes/deploy" not in texts


@pytest.mark.anyio
async def test_kinds_select_item_types(seeded: Hub) -> None:
    result = await seeded.retrieval.retrieve(
        OWNER, WS, "staging postgres port", target="claude", budget_tokens=2000, kinds=["context"]
    )

    assert {i.candidate.type for i in result.items} == {"context"}


@pytest.mark.anyio
async def test_a_viewer_may_retrieve_and_an_outsider_sees_no_workspace(seeded: Hub) -> None:
    await create_user(seeded, "viewer")
    await seeded.workspaces.set_member(OWNER, WS, "viewer", "viewer")
    viewer = Principal.user("viewer")

    result = await seeded.retrieval.retrieve(
        viewer, WS, "helm deploy", target="claude", budget_tokens=300
    )
    assert result.items

    with pytest.raises(NotFound) as raised:
        await seeded.retrieval.retrieve(
            Principal.user("stranger"), WS, "helm", target="claude", budget_tokens=300
        )
    assert raised.value.code == "workspace.not_found"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("task", "target", "budget", "kinds", "code"),
    [
        ("  ", "claude", 100, None, "retrieve.invalid_task"),
        ("x" * 4001, "claude", 100, None, "retrieve.invalid_task"),
        ("deploy", "", 100, None, "retrieve.invalid_target"),
        ("deploy", "claude", 0, None, "retrieve.invalid_budget"),
        ("deploy", "claude", 200_001, None, "retrieve.invalid_budget"),
        ("deploy", "claude", 100, ["secrets"], "retrieve.invalid_kind"),
    ],
)
async def test_bad_input_is_refused_with_a_code(
    seeded: Hub, task: str, target: str, budget: int, kinds: list[str] | None, code: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        await seeded.retrieval.retrieve(
            OWNER, WS, task, target=target, budget_tokens=budget, kinds=kinds
        )
    assert raised.value.code == code


@pytest.mark.anyio
async def test_a_task_of_stop_words_only_finds_nothing_by_full_text(seeded: Hub) -> None:
    result = await seeded.retrieval.retrieve(
        OWNER, WS, "how do I do this", target="claude", budget_tokens=300, kinds=["fact"]
    )

    if seeded.retrieval.semantic is None:
        assert result.items == []


@pytest.mark.anyio
async def test_a_superseded_insight_ranks_below_its_replacement_and_served_ones_are_counted(
    seeded: Hub,
) -> None:
    old = await seeded.insights.record(
        OWNER,
        WS,
        NewInsight("pitfall", "Staging database port is 5432", "Connect to 5432.", topic="db/port"),
        source="mcp:copilot",
    )
    new = await seeded.insights.record(
        OWNER,
        WS,
        NewInsight(
            "pitfall",
            "Staging moved its database",
            "The staging PostgreSQL now listens on 6543.",
            topic="db/port",
            assistant="claude",
        ),
        source="mcp:claude-code",
    )
    assert new.superseded == [old.insight.id]

    result = await seeded.retrieval.retrieve(
        OWNER, WS, "staging database port 5432", target="claude", budget_tokens=4000
    )

    order = [i.candidate.uid for i in result.items]
    newer, older = f"insight:{new.insight.id}", f"insight:{old.insight.id}"
    assert newer in order
    assert older not in order or order.index(newer) < order.index(older)
    served = next(i for i in result.items if i.candidate.uid == newer)
    assert served.candidate.source.assistant == "claude"
    assert served.candidate.source.client == "mcp:claude-code"
    assert served.to_json()["id"] == new.insight.id
    if older in order:
        stale = result.items[order.index(older)]
        assert stale.score.parts[-1].name == "status"
    await seeded.insights.flush_usage()
    stats = await seeded.insights.stats(OWNER, WS)
    assert stats.served >= 1

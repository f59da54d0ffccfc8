"""Our confidence fed through the public REST API, as assistants feed it (``--via api``).

An in-process hub (temporary ``IMX_HOME``, SQLite) serves its FastAPI app over
``httpx.ASGITransport``. Each source gets its own editor API key and names itself as assistant and
model, so every source has a distinct reliability key. Claims become ``POST …/insights`` (topic =
the question, body = the answer), verdicts ``POST …/insights/{id}/feedback`` from the owner key,
and each claim's confidence is read at the end with ``GET …/insights/{id}``.
"""

from __future__ import annotations

from typing import Any

import httpx
from _common import environment

from confbench.world import STATED_CONFIDENCE, Claim, Review, World, verdicts
from infinity_matrix.gateway.app import create_app
from infinity_matrix.hub import Hub
from infinity_matrix.observability.logging import configure_logging
from infinity_matrix.security.credfile import read_credentials

WORKSPACE = "default"
BASE = f"/api/v1/workspaces/{WORKSPACE}"


async def run(world: World, reviewer: str = "all") -> dict[Claim, float]:
    configure_logging("console", "warning")  # one access line per request would drown the report
    async with environment("sqlite") as env:
        hub = Hub.build(env.settings())
        await hub.start()
        try:
            transport = httpx.ASGITransport(app=create_app(hub, manage_hub=False))
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                credentials = read_credentials(hub.settings.credentials_file)
                return await _feed(client, world, credentials, reviewer)
        finally:
            await hub.close()


async def _feed(
    client: httpx.AsyncClient, world: World, credentials: Any, reviewer: str
) -> dict[Claim, float]:
    owner = _bearer(credentials["api_key"])
    keys = {s.name: _bearer(await _create_key(client, owner, s.name)) for s in world.sources}
    behaviour = {s.name: s.behaviour for s in world.sources}
    mapped: dict[Claim, int] = {}
    ids: dict[int, dict[int, int]] = {}  # topic -> answer -> insight id
    for event in world.timeline:
        if isinstance(event, Claim):
            topic = world.topics[event.topic]
            answer = topic.answers[event.answer]
            body: dict[str, Any] = {
                "kind": "fact",
                "title": " ".join(answer.split()[:3]),
                "body": answer,
                "topic": topic.key,
                "assistant": event.source,
                "model": event.source,
            }
            if (stated := STATED_CONFIDENCE.get(behaviour[event.source])) is not None:
                body["confidence"] = stated
            answered = await _call(client, "POST", "/insights", keys[event.source], body)
            insight_id = int(answered["insight"]["id"])
            mapped[event] = insight_id
            ids.setdefault(event.topic, {})[event.answer] = insight_id
        elif isinstance(event, Review):
            truth = world.topics[event.topic].truth
            for insight_id, verdict in verdicts(ids.get(event.topic, {}), truth, reviewer):
                path = f"/insights/{insight_id}/feedback"
                await _call(client, "POST", path, owner, {"verdict": verdict})
    values: dict[int, float] = {}
    for insight_id in sorted(set(mapped.values())):
        insight = await _call(client, "GET", f"/insights/{insight_id}", owner)
        values[insight_id] = float(insight["confidence"]["value"])
    return {claim: values[i] for claim, i in mapped.items()}


async def _create_key(client: httpx.AsyncClient, owner: dict[str, str], name: str) -> str:
    created = await _call(client, "POST", "/keys", owner, {"name": name, "role": "editor"})
    token: str = created["token"]
    return token


async def _call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
) -> Any:
    response = await client.request(method, BASE + path, headers=headers, json=body)
    if response.status_code >= 400:
        raise SystemExit(f"{method} {path}: {response.status_code} {response.text}")
    return response.json()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

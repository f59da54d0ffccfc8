"""The event log over REST: read in seq order a page at a time, with the workspace's epoch."""

from __future__ import annotations

import pytest
from tests.world import World

EVENTS = "/api/v1/workspaces/team/events"


@pytest.mark.anyio
async def test_the_log_is_read_in_seq_order_a_page_at_a_time(world: World) -> None:
    for i in range(5):
        await world.request(
            "editor", "PUT", f"/api/v1/workspaces/team/context/n/{i}", json={"text": "x"}
        )
    head = (await world.request("owner", "GET", "/api/v1/workspaces/team")).json()["head"]

    seqs, after, epochs = [], 0, set()
    while True:
        page = (
            await world.request("maintainer", "GET", EVENTS, params={"after": after, "limit": 4})
        ).json()
        if not page["events"]:
            break
        seqs += [e["seq"] for e in page["events"]]
        epochs.add(page["epoch"])
        assert page["head"] == head
        after = page["next_after"]
    assert seqs == list(range(1, head + 1))
    assert len(epochs) == 1
    assert after == head


@pytest.mark.anyio
@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"after": -1}])
async def test_an_out_of_range_page_is_refused(world: World, params: dict[str, int]) -> None:
    response = await world.request("owner", "GET", EVENTS, params=params)
    assert (response.status_code, response.json()["code"]) == (422, "request.invalid")

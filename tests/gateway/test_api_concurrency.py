"""Concurrent writers get dense, gapless seqs, and Idempotency-Key makes retries append nothing.

Writers go through the REST API and straight to the context service, on one hub and on two hubs
sharing a database (two "nodes"), which exercises the head row lock on PostgreSQL and
``BEGIN IMMEDIATE`` on SQLite.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import httpx
import pytest
from tests.world import api_client, bearer, bootstrap_key, head, started_hub

from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal

WS = "default"
N = 50


async def _http_put(client: httpx.AsyncClient, token: str, key: str, **headers: str) -> int:
    response = await client.put(
        f"/api/v1/workspaces/{WS}/context/{key}",
        json={"text": f"value of {key}"},
        headers={**bearer(token), **headers},
    )
    assert response.status_code == 200, response.text
    seq: int = response.json()["seq"]
    return seq


async def _direct_put(hub: Hub, key: str) -> int:
    principal = Principal.user("system-test", is_admin=True)
    return (await hub.context.put(principal, WS, key, text=f"value of {key}")).seq


async def _events(client: httpx.AsyncClient, token: str, after: int) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/v1/workspaces/{WS}/events",
        params={"after": after, "limit": 1000},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


async def _assert_gapless(hub: Hub, client: httpx.AsyncClient, first: int, seqs: list[int]) -> None:
    """The writes got exactly ``first+1 … first+len(seqs)``, and the log holds just those."""
    token = bootstrap_key(hub)
    expected = list(range(first + 1, first + len(seqs) + 1))
    assert sorted(seqs) == expected
    assert [e["seq"] for e in await _events(client, token, first)] == expected
    assert await head(hub, WS) == expected[-1]


@pytest.mark.anyio
async def test_concurrent_writers_over_http_and_direct_get_every_seq_exactly_once(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    token, first = bootstrap_key(hub), await head(hub, WS)
    writes: list[Awaitable[int]] = [_http_put(client, token, f"http/{i}") for i in range(N)]
    writes += [_direct_put(hub, f"direct/{i}") for i in range(N)]
    seqs = await asyncio.gather(*writes)
    await _assert_gapless(hub, client, first, seqs)


@pytest.mark.anyio
async def test_concurrent_writers_on_two_hubs_sharing_a_database_leave_no_gap(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    token, first = bootstrap_key(hub), await head(hub, WS)
    async with started_hub(hub.settings) as node2, api_client(node2) as client2:
        writes: list[Awaitable[int]] = []
        for i in range(N // 2):
            writes += [_http_put(client, token, f"a/{i}"), _http_put(client2, token, f"b/{i}")]
            writes += [_direct_put(hub, f"c/{i}"), _direct_put(node2, f"d/{i}")]
        seqs = await asyncio.gather(*writes)
    await _assert_gapless(hub, client, first, seqs)


@pytest.mark.anyio
async def test_a_retried_write_answers_the_first_seq_and_appends_nothing(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    token = bootstrap_key(hub)
    url, body = f"/api/v1/workspaces/{WS}/context/notes/a", {"text": "first"}
    headers = {**bearer(token), "Idempotency-Key": "retry-1"}
    first = await client.put(url, json=body, headers=headers)
    again = await client.put(url, json=body, headers=headers)
    seq = first.json()["seq"]
    assert first.json() == {"key": "notes/a", "seq": seq, "duplicate": False}
    assert again.json() == {"key": "notes/a", "seq": seq, "duplicate": True}
    assert await head(hub, WS) == seq
    assert await _events(client, token, seq) == []


@pytest.mark.anyio
async def test_simultaneous_requests_with_one_idempotency_key_append_one_event(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    token, first = bootstrap_key(hub), await head(hub, WS)
    url, headers = f"/api/v1/workspaces/{WS}/context/notes/b", {"Idempotency-Key": "same"}
    responses = await asyncio.gather(
        *(
            client.put(url, json={"text": "once"}, headers={**bearer(token), **headers})
            for _ in range(10)
        )
    )
    assert {r.status_code for r in responses} == {200}
    assert {r.json()["seq"] for r in responses} == {first + 1}
    assert sorted(r.json()["duplicate"] for r in responses) == [False] + [True] * 9
    events = await _events(client, token, first)
    assert [(e["seq"], e["client_msg_id"]) for e in events] == [(first + 1, "same")]


@pytest.mark.anyio
async def test_simultaneous_retries_on_two_hubs_append_one_event(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    token, first = bootstrap_key(hub), await head(hub, WS)
    url, headers = f"/api/v1/workspaces/{WS}/context/notes/c", {"Idempotency-Key": "both-nodes"}
    async with started_hub(hub.settings) as node2, api_client(node2) as client2:
        responses = await asyncio.gather(
            *(
                c.put(url, json={"text": "once"}, headers={**bearer(token), **headers})
                for c in [client, client2] * 5
            )
        )
    assert {(r.status_code, r.json()["seq"]) for r in responses} == {(200, first + 1)}
    assert len(await _events(client, token, first)) == 1


@pytest.mark.anyio
async def test_an_idempotency_key_reused_for_another_entry_is_a_conflict(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    headers = {**bearer(bootstrap_key(hub)), "Idempotency-Key": "reused"}
    url = f"/api/v1/workspaces/{WS}/context/"
    assert (await client.put(url + "one", json={"text": "1"}, headers=headers)).status_code == 200
    seq = await head(hub, WS)
    response = await client.put(url + "two", json={"text": "2"}, headers=headers)
    assert (response.status_code, response.json()["code"]) == (409, "idempotency.conflict")
    assert await head(hub, WS) == seq
    assert (await client.get(url + "two", headers=headers)).status_code == 404

"""Fixtures of the REST API tests: an in-process client on the hub, and a world of callers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from tests.world import World, api_client, build_world

from infinity_matrix.hub import Hub


@pytest.fixture
async def client(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(hub) as client:
        yield client


@pytest.fixture
async def world(hub: Hub, client: httpx.AsyncClient) -> World:
    return await build_world(hub, client)

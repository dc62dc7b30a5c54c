"""A subscription's running state (reported inside/outside, notifications sent) survives a
restart of the platform: it is kept with the subscription, in the store, on SQLite and Redis."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from fixtures.callbacks import CallbackServer
from fixtures.network import CELL_1, CELL_2, UE_1, TinyNetwork, tiny_state
from test_location_support import Client, body, check_notification, create, north, quiet

from mep.app import create_app
from mep.core.deps import Deps, open_deps
from mep.core.notify import deliveries
from mep.core.notify.worker import LEASES
from mep.core.settings import MepSettings
from mep.core.store.redis import RedisStore
from mep.network.static import StaticNetworkSource

ClientFactory = Callable[[web.Application], Awaitable[Client]]

OPERATOR_TOKEN = "operator-test-token"
PUBLIC_URL = "http://mep.test"
REDIS_URL = "redis://127.0.0.1:6379/0"


async def drop_prefix(store: RedisStore, prefix: str) -> None:
    keys = [k async for k in store.client.scan_iter(match=f"{prefix}*", count=500)]
    if keys:
        await store.client.unlink(*keys)


@pytest.fixture(params=["sqlite", "redis"])
async def store_spec(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The store both runs of the platform use."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    prefix = f"test:{secrets.token_hex(6)}:"
    yield prefix
    cleaner = await RedisStore.open(REDIS_URL, prefix=prefix)
    await drop_prefix(cleaner, prefix)
    await cleaner.close()


async def start(
    tmp_path: Path, store_spec: str, aiohttp_client: ClientFactory, source: StaticNetworkSource
) -> tuple[Client, Deps]:
    settings = MepSettings(data_dir=tmp_path, admin_token=OPERATOR_TOKEN, public_url=PUBLIC_URL)
    store = None
    if store_spec != "sqlite":
        store = await RedisStore.open(REDIS_URL, prefix=store_spec)
    deps = await open_deps(settings, store=store)
    client = await aiohttp_client(create_app(settings, deps, network=source))
    return client, deps


async def settled(deps: Deps, within: float = 5.0) -> None:
    """Until every queued notification is delivered and its lane let go of its lease: a
    process stopped mid-lane leaves a lease the next one waits out (30 s)."""
    deadline = time.monotonic() + within
    while await deps.store.count(deliveries.COLLECTION) or await deps.store.count(LEASES):
        assert time.monotonic() < deadline, "deliveries did not settle"
        await asyncio.sleep(0.05)


async def test_running_state_survives_a_restart(
    tmp_path: Path, store_spec: str, aiohttp_client: ClientFactory, server: CallbackServer
) -> None:
    client, deps = await start(
        tmp_path, store_spec, aiohttp_client, StaticNetworkSource(tiny_state())
    )
    payload = body("circle", f"{server.url}/c", checkImmediate=True, count=2)
    await create(client, "circle", payload)
    await server.wait_for(1, path="/c")
    await settled(deps)
    await client.close()
    await deps.close()

    source = StaticNetworkSource(tiny_state())  # the same network, seen by the new process
    net = TinyNetwork(source)
    client, deps = await start(tmp_path, store_spec, aiohttp_client, source)
    try:
        # Still inside: no crossing, since the subscription remembers it reported it inside.
        await net.move(UE_1, north(net[UE_1].position, 50))
        await quiet(server, "/c", 1)
        # Out and in again: the second notification of count 2, so the final one.
        await net.handover(UE_1, CELL_2)
        await net.handover(UE_1, CELL_1)
        await server.wait_for(2, path="/c")
        final = check_notification(server.by_path["/c"][1])
        assert final["isFinalNotification"] is True
    finally:
        await client.close()
        await deps.close()

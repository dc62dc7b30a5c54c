"""Notifications over websockets (MEC 009 websockNotifConfig), through the real app."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import WSServerHandshakeError, web
from aiohttp.test_utils import TestClient
from fixtures.apps import new_app

from mep.core import keys
from mep.core.notify.deliveries import Target
from mep.core.notify.websocket import PATH, websocket_uri
from mep.core.store import Put

Client = TestClient[web.Request, web.Application]
SUBS = "test_subscriptions"


async def subscribe(client: Client, owner: str, sub_id: str) -> Target:
    await client.app[keys.STORE].commit([Put(SUBS, sub_id, {"appInstanceId": owner})])
    return Target(f"{SUBS}/{sub_id}", None, websocket=True)


async def notify(client: Client, target: Target, *bodies: dict[str, int]) -> None:
    notifier = client.app[keys.NOTIFIER]
    await client.app[keys.COMMITTER].commit([notifier.queue(target, b) for b in bodies])


async def receive(ws: object, count: int) -> list[int]:
    got = []
    async with asyncio.timeout(10):
        while len(got) < count:
            message = await ws.receive_str()  # type: ignore[attr-defined]
            got.append(json.loads(message)["n"])
    return got


async def test_notifications_arrive_in_order_across_a_reconnection(
    client: Client, operator: dict[str, str]
) -> None:
    app = await new_app(client, operator, "ws-app")
    target = await subscribe(client, "ws-app", "s1")
    await notify(client, target, *({"n": n} for n in range(3)))  # queued before connecting
    url = f"{PATH}/{target.key}"
    async with client.ws_connect(url, headers=app.headers) as ws:
        assert await receive(ws, 3) == [0, 1, 2]
        await notify(client, target, {"n": 3})
        assert await receive(ws, 1) == [3]
    await notify(client, target, *({"n": n} for n in range(4, 8)))  # nobody listening
    await asyncio.sleep(0.2)
    async with client.ws_connect(url, headers=app.headers) as ws:
        assert await receive(ws, 4) == [4, 5, 6, 7]
    for _ in range(100):  # each delivery is counted once its queue entry is removed
        metrics = await (await client.get("/metrics")).text()
        if 'mep_notifications_total{outcome="delivered"} 8.0' in metrics:
            break
        await asyncio.sleep(0.02)
    assert 'mep_notifications_total{outcome="delivered"} 8.0' in metrics
    assert "mep_notifications_queued 0.0" in metrics


async def test_only_the_owner_or_the_operator_may_connect(
    client: Client, operator: dict[str, str]
) -> None:
    owner = await new_app(client, operator, "ws-owner")
    other = await new_app(client, operator, "ws-other")
    target = await subscribe(client, "ws-owner", "s2")
    url = f"{PATH}/{target.key}"
    for headers in (owner.headers, operator):
        async with client.ws_connect(url, headers=headers) as ws:
            assert not ws.closed
    for headers, path, status in [
        ({}, url, 401),
        (other.headers, url, 403),
        (owner.headers, f"{PATH}/{SUBS}/nope", 404),
    ]:
        with pytest.raises(WSServerHandshakeError) as refused:
            async with client.ws_connect(path, headers=headers):
                pass
        assert refused.value.status == status


def test_websocket_uri_follows_the_base_url() -> None:
    assert websocket_uri("http://mep:8080", "c/1") == f"ws://mep:8080{PATH}/c/1"
    assert websocket_uri("https://mep.example.com", "c/1") == f"wss://mep.example.com{PATH}/c/1"

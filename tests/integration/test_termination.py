"""Graceful termination end to end (GS MEC 011 AppTermination), on SQLite and on Redis: the
operator's DELETE, the notification on a real callback server (and a websocket), confirmation,
the timeout, and a restart during the wait."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from fixtures.apps import App, new_app
from fixtures.auth import basic
from fixtures.callbacks import CallbackServer
from fixtures.openapi import OpenApiDocument
from fixtures.problems import problem
from test_app_support_helpers import (
    MGMT,
    Client,
    app_path,
    app_with_rules,
    check_official_schema,
    count,
    dns_calls,
    eventually,
    local,
    subscribe,
    traffic_calls,
    until,
)
from test_service_mgmt_support import service, services_of, subscriptions_of
from test_service_mgmt_support import subscription as availability

from mep.app import create_app
from mep.core.deps import open_deps
from mep.core.settings import MepSettings
from mep.core.store.redis import RedisStore
from mep.mgmt.rules import DNS, TRAFFIC
from mep.mp1.app_support.subscriptions import COLLECTION as SUBSCRIPTIONS

MGMT_SPEC = OpenApiDocument("mep-mgmt.yaml")
ONE = "/mep_mgmt/v1/app_instances/{appInstanceId}"
GRANT = {"grant_type": "client_credentials"}
OPERATOR_TOKEN = "operator-test-token"


async def gone(client: Client, operator: dict[str, str], app: App) -> None:
    """Everything of ``app`` is removed: instance, rules, subscriptions, tokens, credentials."""
    await problem(await client.get(f"{MGMT}/{app.instance_id}", headers=operator), 404)
    refused = await client.get(app_path(app.instance_id, "/traffic_rules"), headers=app.headers)
    assert "revoked" in (await problem(refused, 401))["detail"]
    token = await client.post(
        "/oauth2/token", data=GRANT, headers=basic(app.instance_id, app.secret)
    )
    assert token.status == 401
    assert await count(client, TRAFFIC.collection) == 0
    assert await count(client, DNS.collection) == 0
    assert await count(client, SUBSCRIPTIONS) == 0
    assert await count(client, "timers") == 0
    await eventually(lambda: len(traffic_calls(client, app.instance_id)) == 4)
    assert traffic_calls(client, app.instance_id)[2:] == [
        ("remove", "tr1", None),
        ("remove", "tr2", None),
    ]
    await eventually(lambda: len(dns_calls(client, app.instance_id)) == 2)
    assert dns_calls(client, app.instance_id)[1] == ("remove", "dns1", None)


async def terminating(client: Client, operator: dict[str, str], app_id: str) -> dict[str, Any]:
    response = await client.delete(f"{MGMT}/{app_id}", headers=operator)
    assert response.status == 202, await response.text()
    body: dict[str, Any] = await response.json()
    assert body["state"] == "TERMINATING"
    MGMT_SPEC.check(ONE, "delete", 202, body)
    assert response.headers["Content-Location"] == body["_links"]["self"]["href"]
    return body


async def test_notified_then_confirmed_removes_at_once(
    client: Client, operator: dict[str, str], server: CallbackServer
) -> None:
    app = await app_with_rules(client, operator, "app-c", gracefulTerminationTimeout=30)
    created = await subscribe(client, app, f"{server.url}/term")
    await terminating(client, operator, "app-c")
    shown = await client.get(f"{MGMT}/app-c", headers=operator)
    assert (await shown.json())["state"] == "TERMINATING"
    await terminating(client, operator, "app-c")  # idempotent: no second notification

    await server.wait_for(1, path="/term")
    (notification,) = server.by_path["/term"]
    check_official_schema("AppTerminationNotification", notification)
    assert notification["notificationType"] == "AppTerminationNotification"
    assert notification["operationAction"] == "TERMINATING"
    assert notification["maxGracefulTimeout"] == 30
    assert notification["_links"]["subscription"]["href"] == created["_links"]["self"]["href"]
    confirm = local(notification["_links"]["confirmTermination"]["href"])
    assert confirm == app_path("app-c", "/confirm_termination")

    # While terminating the app may not become ready, nor confirm another operation.
    ready = await client.post(app_path("app-c", "/confirm_ready"), headers=app.headers)
    await problem(ready, 409)
    stopping = await client.post(confirm, json={"operationAction": "STOPPING"}, headers=app.headers)
    await problem(stopping, 409)
    assert (await client.get(f"{MGMT}/app-c", headers=operator)).status == 200

    done = await client.post(confirm, json={"operationAction": "TERMINATING"}, headers=app.headers)
    assert done.status == 204, await done.text()
    await gone(client, operator, app)
    assert len(server.by_path["/term"]) == 1
    await problem(await client.delete(f"{MGMT}/app-c", headers=operator), 404)


async def test_without_confirmation_the_timeout_removes(
    client: Client, operator: dict[str, str], server: CallbackServer
) -> None:
    app = await app_with_rules(client, operator, "app-t", gracefulTerminationTimeout=1)
    await subscribe(client, app, f"{server.url}/t")
    await terminating(client, operator, "app-t")
    await server.wait_for(1, path="/t")
    assert server.by_path["/t"][0]["maxGracefulTimeout"] == 1

    async def removed() -> bool:
        return (await client.get(f"{MGMT}/app-t", headers=operator)).status == 404

    await until(removed)
    await gone(client, operator, app)


async def test_without_subscription_the_removal_is_immediate(
    client: Client, operator: dict[str, str]
) -> None:
    app = await app_with_rules(client, operator, "app-i", gracefulTerminationTimeout=30)
    response = await client.delete(f"{MGMT}/app-i", headers=operator)
    assert response.status == 204, await response.text()
    await gone(client, operator, app)


async def test_confirm_termination_without_one_under_way_is_409(
    client: Client, operator: dict[str, str]
) -> None:
    app = await new_app(client, operator, "app-n")
    url = app_path("app-n", "/confirm_termination")
    body = await problem(
        await client.post(url, json={"operationAction": "TERMINATING"}, headers=app.headers), 409
    )
    assert "no termination" in body["detail"]
    await problem(await client.post(url, headers=app.headers), 409)
    bad = await client.post(url, json={"operationAction": "PAUSING"}, headers=app.headers)
    await problem(bad, 400)
    assert (await client.get(f"{MGMT}/app-n", headers=operator)).status == 200


async def test_an_inactive_subscription_is_not_waited_for(
    client: Client, operator: dict[str, str], server: CallbackServer
) -> None:
    app = await app_with_rules(client, operator, "app-q", gracefulTerminationTimeout=30)
    server.failing = True  # the test notification never arrives: the subscription stays inactive
    await subscribe(client, app, f"{server.url}/q", requestTestNotification=True)
    response = await client.delete(f"{MGMT}/app-q", headers=operator)
    assert response.status == 204, await response.text()
    await gone(client, operator, app)
    assert await count(client, "deliveries") == 0


async def test_termination_over_a_websocket(client: Client, operator: dict[str, str]) -> None:
    app = await app_with_rules(client, operator, "app-w", gracefulTerminationTimeout=30)
    created = await subscribe(client, app, None, websockNotifConfig={"requestWebsocketUri": True})
    uri = created["websockNotifConfig"]["websocketUri"]
    assert uri.startswith("ws://mep.test/")
    async with client.ws_connect(uri.removeprefix("ws://mep.test"), headers=app.headers) as ws:
        await terminating(client, operator, "app-w")
        notification = json.loads(await ws.receive_str(timeout=10))
    assert notification["notificationType"] == "AppTerminationNotification"
    confirm = local(notification["_links"]["confirmTermination"]["href"])
    assert (await client.post(confirm, headers=app.headers)).status == 204
    await gone(client, operator, app)


async def test_services_go_with_the_app_and_subscribers_hear_removed(
    client: Client, operator: dict[str, str], server: CallbackServer
) -> None:
    producer = await app_with_rules(client, operator, "producer")
    consumer = await new_app(client, operator, "consumer")
    subscribed = await client.post(
        subscriptions_of("consumer"),
        json=availability(f"{server.url}/avail"),
        headers=consumer.headers,
    )
    assert subscribed.status == 201, await subscribed.text()
    registered = await client.post(
        services_of("producer"), json=service("video"), headers=producer.headers
    )
    assert registered.status == 201, await registered.text()
    await server.wait_for(1, path="/avail")

    assert (await client.delete(f"{MGMT}/producer", headers=operator)).status == 204
    await server.wait_for(2, path="/avail")
    removed = server.by_path["/avail"][1]["serviceReferences"]
    assert [(r["serName"], r["changeType"]) for r in removed] == [("video", "REMOVED")]
    listed = await client.get(
        "/mec_service_mgmt/v1/services", params={"ser_name": "video"}, headers=consumer.headers
    )
    assert await listed.json() == []
    await gone(client, operator, producer)


@contextlib.asynccontextmanager
async def platform(settings: MepSettings, redis_prefix: str | None) -> AsyncIterator[Client]:
    """The real app on ``settings``' store (or Redis under ``redis_prefix``), run and closed
    here, so that a second one can start on what the first left."""
    store = None
    if redis_prefix is not None:
        store = await RedisStore.open("redis://127.0.0.1:6379/0", prefix=redis_prefix)
    deps = await open_deps(settings, store=store)
    test_client: Client = TestClient(TestServer(create_app(settings, deps)))
    await test_client.start_server()
    try:
        yield test_client
    finally:
        await test_client.close()
        await deps.close()


@pytest.mark.parametrize("store", ["sqlite", "redis"])
async def test_a_restart_during_the_wait_still_removes(
    store: str, tmp_path: Path, operator: dict[str, str], server: CallbackServer
) -> None:
    settings = MepSettings(
        data_dir=tmp_path, admin_token=OPERATOR_TOKEN, public_url="http://mep.test"
    )
    prefix = f"test:{secrets.token_hex(6)}:" if store == "redis" else None
    try:
        async with platform(settings, prefix) as first:
            app = await app_with_rules(first, operator, "app-r", gracefulTerminationTimeout=2)
            await subscribe(first, app, f"{server.url}/r")
            await terminating(first, operator, "app-r")
            await server.wait_for(1, path="/r")

        async with platform(settings, prefix) as second:
            shown = await second.get(f"{MGMT}/app-r", headers=operator)
            assert (await shown.json())["state"] == "TERMINATING"

            async def removed() -> bool:
                return (await second.get(f"{MGMT}/app-r", headers=operator)).status == 404

            await until(removed)
            await problem(await second.get(f"{MGMT}/app-r", headers=operator), 404)
            refused = await second.get(app_path("app-r", "/dns_rules"), headers=app.headers)
            await problem(refused, 401)
            assert await count(second, TRAFFIC.collection) == 0
            assert await count(second, SUBSCRIPTIONS) == 0
            assert await count(second, "timers") == 0
            # The second process's ports were told of the removal it made.
            await eventually(lambda: len(traffic_calls(second, "app-r")) == 2)
            assert traffic_calls(second, "app-r") == [
                ("remove", "tr1", None),
                ("remove", "tr2", None),
            ]
            assert dns_calls(second, "app-r") == [("remove", "dns1", None)]
        assert len(server.by_path["/r"]) == 1
    finally:
        if prefix is not None:
            redis = await RedisStore.open("redis://127.0.0.1:6379/0", prefix=prefix)
            keys = [k async for k in redis.client.scan_iter(match=f"{prefix}*")]
            if keys:
                await redis.client.unlink(*keys)
            await redis.close()

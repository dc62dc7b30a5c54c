"""Service availability subscriptions and notifications, liveness, and app removal (GS MEC 011
clause 8, V2.2.1), end to end: the real app on SQLite and Redis, a real callback server."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from fixtures.apps import new_app
from fixtures.callbacks import CallbackServer
from fixtures.problems import params, problem
from fixtures.reference import reference_document
from test_service_mgmt_support import (
    API,
    CATEGORY,
    OUR_SCHEMAS,
    PUBLIC,
    Client,
    check_both,
    local,
    register,
    service,
    services_of,
    subscribe,
    subscription,
    subscriptions_of,
)

from mep.core import keys
from mep.core.notify.subscriptions import TimeStamp

SUBS = "/applications/{appInstanceId}/subscriptions"


def changes(bodies: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(serName, changeType, state) of every reference, in the order received."""
    official = reference_document("mec011-service-mgmt")
    for body in bodies:
        OUR_SCHEMAS.check("ServiceAvailabilityNotification", body)
        # V2.1.1 has no SUSPENDED state (V2.2.1 added it).
        if all(r["state"] != "SUSPENDED" for r in body["serviceReferences"]):
            assert official.check_schema("ServiceAvailabilityNotification", body) == []
    return [
        (r["serName"], r["changeType"], r["state"])
        for body in bodies
        for r in body["serviceReferences"]
    ]


async def until(predicate: Any, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_subscription_resources(
    client: Client, operator: dict[str, str], server: CallbackServer
) -> None:
    a = await new_app(client, operator, "app-a")
    body = subscription(
        f"{server.url}/a",
        filteringCriteria={"serNames": ["video"], "states": ["ACTIVE"], "isLocal": True},
    )
    response = await client.post(subscriptions_of("app-a"), json=body, headers=a.headers)
    assert response.status == 201, await response.text()
    assert response.content_type == "application/json"
    created = await response.json()
    check_both(SUBS, "post", 201, created)
    location = response.headers["Location"]
    assert location == created["_links"]["self"]["href"]
    assert location.startswith(f"{PUBLIC}{subscriptions_of('app-a')}/")
    assert created["filteringCriteria"] == body["filteringCriteria"]

    fetched = await client.get(local(location), headers=a.headers)
    assert fetched.status == 200
    assert await fetched.json() == created
    check_both(SUBS + "/{subscriptionId}", "get", 200, created)

    listed = await (await client.get(subscriptions_of("app-a"), headers=a.headers)).json()
    check_both(SUBS, "get", 200, listed)
    assert listed["_links"]["self"]["href"] == f"{PUBLIC}{subscriptions_of('app-a')}"
    assert listed["_links"]["subscriptions"] == [
        {
            "href": location,
            "subscriptionType": "SerAvailabilityNotificationSubscription",
            "rel": "SerAvailabilityNotificationSubscription",
        }
    ]

    assert (await client.delete(local(location), headers=a.headers)).status == 204
    await problem(await client.get(local(location), headers=a.headers), 404)
    await problem(await client.delete(local(location), headers=a.headers), 404)
    empty = await (await client.get(subscriptions_of("app-a"), headers=a.headers)).json()
    assert empty["_links"]["subscriptions"] == []


async def test_subscribers_hear_each_change_in_order(
    client: Client, operator: dict[str, str], server: CallbackServer
) -> None:
    a = await new_app(client, operator, "app-a")
    b = await new_app(client, operator, "app-b")
    filters: dict[str, dict[str, Any]] = {
        "/by-name": {"serNames": ["video"]},
        "/category": {"serCategories": [{**CATEGORY, "name": "the id is what counts"}]},
        "/inactive": {"states": ["INACTIVE"]},
        "/other": {"serNames": ["audio"]},
        "/remote": {"isLocal": False},
    }
    for path, criteria in filters.items():
        body = subscription(f"{server.url}{path}", filteringCriteria=criteria)
        await subscribe(client, "app-b", b.headers, body)

    created = await register(client, "app-a", a.headers, service("video"))
    path = f"{services_of('app-a')}/{created['serInstanceId']}"
    changed = await client.put(path, json=service("video", version="2"), headers=a.headers)
    assert changed.status == 200
    stopped = await client.put(
        path, json=service("video", version="2", state="INACTIVE"), headers=a.headers
    )
    assert stopped.status == 200
    assert (await client.delete(path, headers=a.headers)).status == 204

    await server.wait_for(4, path="/by-name")
    await server.wait_for(4, path="/category")
    await server.wait_for(2, path="/inactive")
    expected = [
        ("video", "ADDED", "ACTIVE"),
        ("video", "ATTRIBUTES_CHANGED", "ACTIVE"),
        ("video", "STATE_CHANGED", "INACTIVE"),
        ("video", "REMOVED", "INACTIVE"),
    ]
    assert changes(server.by_path["/by-name"]) == expected
    assert changes(server.by_path["/category"]) == expected
    assert changes(server.by_path["/inactive"]) == expected[2:]
    first = server.by_path["/by-name"][0]
    assert first["notificationType"] == "SerAvailabilityNotification"
    reference = first["serviceReferences"][0]
    assert reference["serInstanceId"] == created["serInstanceId"]
    assert reference["link"]["href"] == created["_links"]["self"]["href"]
    assert first["_links"]["subscription"]["href"].startswith(f"{PUBLIC}{API}/applications/app-b/")
    await asyncio.sleep(0.3)  # the non-matching subscribers had every chance to hear something
    assert "/other" not in server.by_path
    assert "/remote" not in server.by_path


async def test_test_notification_activates_the_subscription_once_delivered(
    client: Client, operator: dict[str, str], server: CallbackServer
) -> None:
    a = await new_app(client, operator, "app-a")
    server.failing = True
    created = await subscribe(
        client,
        "app-a",
        a.headers,
        subscription(f"{server.url}/t", requestTestNotification=True),
    )
    assert created["requestTestNotification"] is True
    await register(client, "app-a", a.headers, service("early"))  # not active yet: not told
    server.failing = False
    await server.wait_for(1, path="/t")
    test = server.by_path["/t"][0]
    OUR_SCHEMAS.check("TestNotification", test)
    assert test["_links"]["subscription"]["href"] == created["_links"]["self"]["href"]

    store = client.app[keys.STORE]
    subscription_id = created["_links"]["self"]["href"].rsplit("/", 1)[1]

    async def active() -> bool:
        doc = await store.get("mp1_ser_subscriptions", subscription_id)
        return doc is not None and doc.data["active"] is True

    await until(active)
    await register(client, "app-a", a.headers, service("late"))
    await server.wait_for(2, path="/t")
    assert changes(server.by_path["/t"][1:]) == [("late", "ADDED", "ACTIVE")]


async def test_expiry_notification_then_the_subscription_is_gone(
    client: Client, operator: dict[str, str], server: CallbackServer
) -> None:
    a = await new_app(client, operator, "app-a")
    deadline = TimeStamp.at(time.time() + 0.8).model_dump()
    created = await subscribe(
        client, "app-a", a.headers, subscription(f"{server.url}/e", expiryDeadline=deadline)
    )
    assert created["expiryDeadline"] == deadline
    await server.wait_for(1, path="/e")
    (expiry,) = server.by_path["/e"]
    OUR_SCHEMAS.check("ExpiryNotification", expiry)
    assert expiry["expiryDeadline"] == deadline
    await problem(
        await client.get(local(created["_links"]["self"]["href"]), headers=a.headers), 404
    )
    assert await client.app[keys.STORE].count("timers") == 0


async def test_websocket_subscriptions_are_served_by_the_hub(
    client: Client, operator: dict[str, str]
) -> None:
    a = await new_app(client, operator, "app-a")
    b = await new_app(client, operator, "app-b")
    config = {"requestWebsocketUri": True, "websocketUri": "ws://ignored.example/y"}
    created = await subscribe(
        client,
        "app-b",
        b.headers,
        {
            "subscriptionType": "SerAvailabilityNotificationSubscription",
            "websockNotifConfig": config,
            "requestTestNotification": True,
        },
    )
    OUR_SCHEMAS.check("SerAvailabilityNotificationSubscription", created)
    subscription_id = created["_links"]["self"]["href"].rsplit("/", 1)[1]
    uri = created["websockNotifConfig"]["websocketUri"]
    assert created["websockNotifConfig"]["requestWebsocketUri"] is True
    assert (
        uri == f"ws://mep.test/notifications/v1/websocket/mp1_ser_subscriptions/{subscription_id}"
    )

    async with client.ws_connect(uri.removeprefix("ws://mep.test"), headers=b.headers) as ws:
        async with asyncio.timeout(10):
            test = await ws.receive_json()
            assert test["notificationType"] == "TestNotification"
            store = client.app[keys.STORE]

            async def active() -> bool:
                doc = await store.get("mp1_ser_subscriptions", subscription_id)
                return doc is not None and doc.data["active"] is True

            await until(active)
            await register(client, "app-a", a.headers, service("over-the-socket"))
            added = await ws.receive_json()
    assert changes([added]) == [("over-the-socket", "ADDED", "ACTIVE")]


async def test_liveness(client: Client, operator: dict[str, str], server: CallbackServer) -> None:
    a = await new_app(client, operator, "app-a")
    b = await new_app(client, operator, "app-b")
    await subscribe(
        client,
        "app-b",
        b.headers,
        subscription(f"{server.url}/b", filteringCriteria={"serNames": ["beating"]}),
    )
    created = await register(client, "app-a", a.headers, service("beating", livenessInterval=1))
    path = f"{services_of('app-a')}/{created['serInstanceId']}"
    liveness = f"{path}/liveness"
    assert created["_links"]["liveness"]["href"] == f"{PUBLIC}{liveness}"

    first = await client.get(liveness, headers=a.headers)
    assert first.status == 200
    info = await first.json()
    OUR_SCHEMAS.check("ServiceLivenessInfo", info)
    assert info["state"] == "ACTIVE"
    assert info["interval"] == 1
    # Heartbeats more often than the interval keep it ACTIVE well past 2 x interval.
    for _ in range(4):
        await asyncio.sleep(0.6)
        beat = await client.patch(liveness, json={"state": "ACTIVE"}, headers=a.headers)
        assert beat.status == 200, await beat.text()
    after = await beat.json()
    assert after["state"] == "ACTIVE"
    assert TimeStamp.model_validate(after["timeStamp"]).epoch() > time.time() - 1
    service_now = await client.get(path, headers=a.headers)
    assert (await service_now.json())["state"] == "ACTIVE"
    assert service_now.headers["ETag"] == '"1"'  # heartbeats do not change the service

    # Silence: after 2 x interval it is SUSPENDED and subscribers are told.
    await server.wait_for(2, path="/b", within=5)
    assert changes(server.by_path["/b"]) == [
        ("beating", "ADDED", "ACTIVE"),
        ("beating", "STATE_CHANGED", "SUSPENDED"),
    ]
    suspended = await (await client.get(path, headers=a.headers)).json()
    assert suspended["state"] == "SUSPENDED"
    OUR_SCHEMAS.check("ServiceInfo", suspended)

    revived = await client.patch(liveness, json={"state": "ACTIVE"}, headers=a.headers)
    assert revived.status == 200
    assert (await revived.json())["state"] == "ACTIVE"
    await server.wait_for(3, path="/b")
    assert changes(server.by_path["/b"])[2] == ("beating", "STATE_CHANGED", "ACTIVE")

    # A heartbeat sets ACTIVE only, and cannot revive what its producer stopped.
    wrong = await client.patch(liveness, json={"state": "INACTIVE"}, headers=a.headers)
    assert params(await problem(wrong, 400)) == {"/state"}
    await problem(await client.patch(liveness, json={"state": "UP"}, headers=a.headers), 400)
    await problem(await client.patch(liveness, json={}, headers=a.headers), 400)
    stopped = service("beating", livenessInterval=1, state="INACTIVE")
    assert (await client.put(path, json=stopped, headers=a.headers)).status == 200
    await problem(await client.patch(liveness, json={"state": "ACTIVE"}, headers=a.headers), 409)

    # Without livenessInterval there is no liveness resource.
    plain = await register(client, "app-a", a.headers, service("plain"))
    plain_liveness = f"{services_of('app-a')}/{plain['serInstanceId']}/liveness"
    await problem(await client.get(plain_liveness, headers=a.headers), 404)
    await problem(await client.get(f"{path}-nope/liveness", headers=a.headers), 404)
    assert (await client.delete(path, headers=a.headers)).status == 204
    assert await client.app[keys.STORE].count("timers") == 0


@pytest.mark.parametrize(
    ("body", "bad"),
    [
        (subscription("ftp://files.example/x"), {"/callbackReference"}),
        (subscription("/relative"), {"/callbackReference"}),
        ({"subscriptionType": "SerAvailabilityNotificationSubscription"}, {"/callbackReference"}),
        (subscription("http://cb.example", subscriptionType="Other"), {"/subscriptionType"}),
        (
            subscription(
                "http://cb.example",
                filteringCriteria={"serNames": ["a"], "serInstanceIds": ["b"]},
            ),
            {"/filteringCriteria/serNames", "/filteringCriteria/serInstanceIds"},
        ),
        (
            subscription("http://cb.example", filteringCriteria={"states": ["ON"]}),
            {"/filteringCriteria/states/0"},
        ),
        (
            subscription("http://cb.example", filteringCriteria={"isLocal": "yes"}),
            {"/filteringCriteria/isLocal"},
        ),
        (
            subscription("http://cb.example", expiryDeadline={"seconds": 1, "nanoSeconds": 0}),
            {"/expiryDeadline"},
        ),
        (
            subscription("http://cb.example", requestTestNotification="yes"),
            {"/requestTestNotification"},
        ),
    ],
)
async def test_bad_subscriptions_are_400_and_store_nothing(
    client: Client, operator: dict[str, str], body: dict[str, Any], bad: set[str]
) -> None:
    a = await new_app(client, operator, "app-a")
    response = await client.post(subscriptions_of("app-a"), json=body, headers=a.headers)
    found = await problem(response, 400)
    assert bad <= params(found), found
    listed = await (await client.get(subscriptions_of("app-a"), headers=a.headers)).json()
    assert listed["_links"]["subscriptions"] == []
    assert await client.app[keys.STORE].count("timers") == 0


async def test_removal_ops_remove_an_instance_and_tell_the_others(
    client: Client, operator: dict[str, str], server: CallbackServer
) -> None:
    a = await new_app(client, operator, "app-a")
    b = await new_app(client, operator, "app-b")
    await subscribe(client, "app-b", b.headers, subscription(f"{server.url}/b"))
    await subscribe(client, "app-a", a.headers, subscription(f"{server.url}/a"))
    deadline = TimeStamp.at(time.time() + 3600).model_dump()
    expiring = await subscribe(
        client, "app-a", a.headers, subscription(f"{server.url}/a2", expiryDeadline=deadline)
    )
    one = await register(client, "app-a", a.headers, service("one", livenessInterval=60))
    await register(client, "app-a", a.headers, service("two"))
    kept = await register(client, "app-b", b.headers, service("kept"))
    await server.wait_for(3, path="/b")
    await server.wait_for(3, path="/a")
    store = client.app[keys.STORE]
    assert await store.count("timers") == 2  # the subscription's expiry, the liveness deadline

    registry = client.app[keys.SERVICE_REGISTRY]
    await client.app[keys.COMMITTER].commit(await registry.removal_ops("app-a"))
    assert await registry.removal_ops("app-a") == []

    await server.wait_for(4, path="/b")
    assert sorted(changes(server.by_path["/b"][3:])) == [
        ("one", "REMOVED", "ACTIVE"),
        ("two", "REMOVED", "ACTIVE"),
    ]
    remaining = await (await client.get(services_of("app-b"), headers=b.headers)).json()
    assert [s["serInstanceId"] for s in remaining] == [kept["serInstanceId"]]
    listed = await (await client.get(subscriptions_of("app-a"), headers=operator)).json()
    assert listed["_links"]["subscriptions"] == []
    await problem(
        await client.get(local(expiring["_links"]["self"]["href"]), headers=operator), 404
    )
    liveness = f"{services_of('app-a')}/{one['serInstanceId']}/liveness"
    await problem(await client.get(liveness, headers=a.headers), 404)
    assert await store.count("timers") == 0
    assert await store.count("mp1_service_liveness") == 0
    await register(client, "app-a", a.headers, service("one"))  # the name is free again
    await asyncio.sleep(0.2)
    # Its own subscriptions went with it: they heard the additions, not the removal.
    assert {c[1] for c in changes(server.by_path["/a"])} == {"ADDED"}

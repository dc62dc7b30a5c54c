"""AppTermination subscriptions (GS MEC 011 7.1.3.2, V2.2.1 additions) over HTTP, on SQLite and
on Redis: the resources, test notifications, expiry, websocket URIs, and bad input."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fixtures.apps import new_app
from fixtures.callbacks import CallbackServer
from fixtures.problems import params, problem
from test_app_support_helpers import (
    PUBLIC,
    Client,
    app_path,
    check_both,
    check_official_schema,
    count,
    local,
    subscribe,
    subscription,
    until,
)

from mep.core import keys
from mep.core.notify.subscriptions import TimeStamp
from mep.mp1.app_support.subscriptions import COLLECTION

MANY = "/applications/{appInstanceId}/subscriptions"
ONE = "/applications/{appInstanceId}/subscriptions/{subscriptionId}"


async def test_subscription_resources(client: Client, operator: dict[str, str]) -> None:
    app = await new_app(client, operator, "app-s")
    other = await new_app(client, operator, "app-o")
    many = app_path("app-s", "/subscriptions")
    empty = await (await client.get(many, headers=app.headers)).json()
    assert empty == {"_links": {"self": {"href": f"{PUBLIC}{many}"}, "subscriptions": []}}
    check_both(MANY, "get", 200, empty)

    response = await client.post(
        many, json=subscription("app-s", "http://app.example/term"), headers=app.headers
    )
    assert response.status == 201, await response.text()
    created = await response.json()
    check_both(MANY, "post", 201, created)
    href = created["_links"]["self"]["href"]
    assert response.headers["Location"] == href
    assert href.startswith(f"{PUBLIC}{many}/")
    assert created["callbackReference"] == "http://app.example/term"
    assert created["appInstanceId"] == "app-s"
    assert created["subscriptionType"] == "AppTerminationNotificationSubscription"

    one = await client.get(local(href), headers=app.headers)
    assert await one.json() == created
    check_both(ONE, "get", 200, await one.json())
    listed = await (await client.get(many, headers=app.headers)).json()
    check_both(MANY, "get", 200, listed)
    assert listed["_links"]["subscriptions"] == [
        {
            "href": href,
            "subscriptionType": "AppTerminationNotificationSubscription",
            "rel": "AppTerminationNotificationSubscription",
        }
    ]

    # Another app: 403 under this app's path; this id under its own path is not found.
    await problem(await client.get(local(href), headers=other.headers), 403)
    sub_id = href.rsplit("/", 1)[1]
    elsewhere = app_path("app-o", f"/subscriptions/{sub_id}")
    await problem(await client.get(elsewhere, headers=other.headers), 404)
    await problem(await client.delete(elsewhere, headers=other.headers), 404)

    assert (await client.delete(local(href), headers=app.headers)).status == 204
    await problem(await client.get(local(href), headers=app.headers), 404)
    await problem(await client.delete(local(href), headers=app.headers), 404)
    assert (await (await client.get(many, headers=app.headers)).json())["_links"][
        "subscriptions"
    ] == []


BAD = [
    pytest.param({"callbackReference": "ftp://app.example/x"}, "/callbackReference", id="ftp"),
    pytest.param({"callbackReference": "/relative"}, "/callbackReference", id="relative"),
    pytest.param({"callbackReference": None}, "/callbackReference", id="no-callback"),
    pytest.param({"appInstanceId": "app-x"}, "/appInstanceId", id="other-instance"),
    pytest.param({"appInstanceId": None}, "/appInstanceId", id="no-instance"),
    pytest.param({"subscriptionType": "Nope"}, "/subscriptionType", id="bad-type"),
    pytest.param({"expiryDeadline": {"seconds": 1000}}, "/expiryDeadline", id="past-expiry"),
    pytest.param(
        {"expiryDeadline": {"seconds": -1, "nanoSeconds": 0}},
        "/expiryDeadline/seconds",
        id="negative-expiry",
    ),
    pytest.param(
        {"expiryDeadline": {"seconds": 10**400, "nanoSeconds": 0}},
        "/expiryDeadline/seconds",
        id="huge-expiry",
    ),
    pytest.param({"requestTestNotification": "maybe"}, "/requestTestNotification", id="bad-bool"),
    pytest.param(
        {"callbackReference": None, "websockNotifConfig": {"requestWebsocketUri": False}},
        "/callbackReference",
        id="websocket-not-requested",
    ),
]


@pytest.mark.parametrize(("change", "pointer"), BAD)
async def test_bad_subscriptions_are_400_and_store_nothing(
    client: Client, operator: dict[str, str], change: dict[str, Any], pointer: str
) -> None:
    app = await new_app(client, operator, "app-b")
    body = {**subscription("app-b", "http://app.example/cb"), **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = await client.post(
        app_path("app-b", "/subscriptions"), json=body, headers=app.headers
    )
    assert pointer in params(await problem(response, 400))
    assert await count(client, COLLECTION) == 0
    assert await count(client, "deliveries") == 0
    assert await count(client, "timers") == 0


async def test_non_json_subscription_bodies(client: Client, operator: dict[str, str]) -> None:
    app = await new_app(client, operator, "app-j")
    url = app_path("app-j", "/subscriptions")
    await problem(await client.post(url, data="x", headers=app.headers), 415)
    broken = await client.post(
        url, data="[", headers={**app.headers, "Content-Type": "application/json"}
    )
    await problem(broken, 400)
    await problem(await client.post(url, json=[], headers=app.headers), 400)
    assert await count(client, COLLECTION) == 0


async def test_test_notification_then_active(
    client: Client, operator: dict[str, str], server: CallbackServer
) -> None:
    app = await new_app(client, operator, "app-n")
    created = await subscribe(client, app, f"{server.url}/n", requestTestNotification=True)
    assert created["requestTestNotification"] is True
    await server.wait_for(1, path="/n")
    (test,) = server.by_path["/n"]
    assert test == {
        "notificationType": "TestNotification",
        "_links": {"subscription": {"href": created["_links"]["self"]["href"]}},
    }
    sub_id = created["_links"]["self"]["href"].rsplit("/", 1)[1]
    store = client.app[keys.STORE]

    async def active() -> bool:
        doc = await store.get(COLLECTION, sub_id)
        return doc is not None and doc.data["active"] is True

    await until(active)


async def test_expiry_notification_then_gone(
    client: Client, operator: dict[str, str], server: CallbackServer
) -> None:
    app = await new_app(client, operator, "app-x")
    deadline = TimeStamp.at(time.time() + 1).model_dump(by_alias=True)
    created = await subscribe(client, app, f"{server.url}/x", expiryDeadline=deadline)
    assert created["expiryDeadline"] == deadline
    check_both(MANY, "post", 201, created)
    await server.wait_for(1, path="/x", within=10)
    (expiry,) = server.by_path["/x"]
    assert expiry["notificationType"] == "ExpiryNotification"
    assert expiry["expiryDeadline"] == deadline
    await problem(
        await client.get(local(created["_links"]["self"]["href"]), headers=app.headers), 404
    )


async def test_websocket_subscriptions_get_a_websocket_uri(
    client: Client, operator: dict[str, str]
) -> None:
    app = await new_app(client, operator, "app-w")
    created = await subscribe(client, app, None, websockNotifConfig={"requestWebsocketUri": True})
    # Our document only: the V2.1.1 file requires a callbackReference.
    check_both(MANY, "post", 201, created, official=False)
    sub_id = created["_links"]["self"]["href"].rsplit("/", 1)[1]
    assert created["websockNotifConfig"] == {
        "websocketUri": f"ws://mep.test/notifications/v1/websocket/{COLLECTION}/{sub_id}",
        "requestWebsocketUri": True,
    }
    assert "callbackReference" not in created
    fetched = await client.get(local(created["_links"]["self"]["href"]), headers=app.headers)
    assert await fetched.json() == created


async def test_operator_acts_for_any_instance(client: Client, operator: dict[str, str]) -> None:
    await new_app(client, operator, "app-p")
    response = await client.post(
        app_path("app-p", "/subscriptions"),
        json=subscription("app-p", "https://app.example/p"),
        headers=operator,
    )
    assert response.status == 201, await response.text()
    check_official_schema("AppTerminationNotificationSubscription", await response.json())


async def test_delete_while_the_test_notification_activates_the_subscription(
    client: Client, operator: dict[str, str], server: CallbackServer
) -> None:
    """Activation rewrites the subscription; a DELETE racing it must still succeed."""
    app = await new_app(client, operator, "app-race")
    for n in range(15):
        created = await subscribe(client, app, f"{server.url}/t{n}", requestTestNotification=True)
        if n % 3:
            await server.wait_for(1, path=f"/t{n}")  # delete around the moment of activation
        path = created["_links"]["self"]["href"].removeprefix(PUBLIC)
        deleted = await client.delete(path, headers=app.headers)
        assert deleted.status == 204, await deleted.text()
    assert await count(client, COLLECTION) == 0

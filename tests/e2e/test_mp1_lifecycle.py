"""A whole MEC app lifecycle against ``mep run``, with a real callback server.

Instance created by the operator, token, confirm_ready, a service registered, a second app
subscribed and notified, liveness lapsing to SUSPENDED, traffic and DNS rules toggled, and
termination with graceful confirmation; then the callback server down for 20 s while the
platform is killed and restarted, after which every notification still arrives, in order.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
from fixtures.auth import basic, bearer
from fixtures.callbacks import CallbackServer
from fixtures.platform import RunningPlatform

pytestmark = pytest.mark.e2e

MGMT = "/mep_mgmt/v1/app_instances"
SM = "/mec_service_mgmt/v1/applications"
AS = "/mec_app_support/v1/applications"

TRAFFIC_RULE = {
    "trafficRuleId": "tr1",
    "filterType": "FLOW",
    "priority": 1,
    "trafficFilter": [{"dstAddress": ["10.10.0.0/24"], "dstPort": ["443"]}],
    "action": "PASSTHROUGH",
    "state": "ACTIVE",
}
DNS_RULE = {
    "dnsRuleId": "dns1",
    "domainName": "video.edge.example",
    "ipAddressType": "IP_V4",
    "ipAddress": "10.10.0.5",
    "ttl": 30,
    "state": "ACTIVE",
}


def service(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "serName": name,
        "serCategory": {"href": "http://catalogue.example/video", "id": "video",
                        "name": "Video", "version": "1"},
        "version": "1.0",
        "state": "ACTIVE",
        "transportInfo": {
            "id": "rest", "name": "REST", "type": "REST_HTTP", "protocol": "HTTP",
            "version": "1.1", "endpoint": {"uris": ["http://10.10.0.5:8080/video/v1"]},
            "security": {"oAuth2Info": {"grantTypes": ["OAUTH2_CLIENT_CREDENTIALS"],
                                        "tokenEndpoint": "http://10.10.0.5/token"}},
        },
        "serializer": "JSON",
        **extra,
    }  # fmt: skip


class Mep:
    """The running platform, seen by the operator and by app instances."""

    def __init__(self, platform: RunningPlatform, http: aiohttp.ClientSession) -> None:
        self.platform = platform
        self.http = http
        self.operator = bearer(platform.operator_token)

    async def call(
        self, method: str, path: str, status: int, token: dict[str, str], **kwargs: Any
    ) -> Any:
        async with self.http.request(method, path, headers=token, **kwargs) as response:
            text = await response.text()
            assert response.status == status, f"{method} {path}: {response.status} {text}"
            if response.content_type.endswith("json") and text:
                return {"body": await response.json(), "headers": response.headers}
            return {"body": None, "headers": response.headers}

    async def app(self, instance_id: str, **spec: Any) -> dict[str, str]:
        created = await self.call(
            "PUT",
            f"{MGMT}/{instance_id}",
            201,
            self.operator,
            json={"appName": instance_id, **spec},
        )
        secret = created["body"]["clientSecret"]
        issued = await self.http.post(
            "/oauth2/token", data={"grant_type": "client_credentials"},
            headers=basic(instance_id, secret),
        )  # fmt: skip
        assert issued.status == 200
        return bearer((await issued.json())["access_token"])


def changes(received: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (ref["serName"], ref["changeType"], ref["state"])
        for body in received
        if body.get("notificationType") != "TestNotification"
        for ref in body["serviceReferences"]
    ]


async def test_a_whole_app_lifecycle(platform: RunningPlatform, server: CallbackServer) -> None:
    await platform.start()
    async with aiohttp.ClientSession(platform.url) as http:
        mep = Mep(platform, http)
        producer = await mep.app(
            "producer", trafficRules=[TRAFFIC_RULE], dnsRules=[DNS_RULE],
            gracefulTerminationTimeout=30,
        )  # fmt: skip
        consumer = await mep.app("consumer")

        await mep.call("POST", f"{AS}/producer/confirm_ready", 204, producer,
                       json={"indication": "READY"})  # fmt: skip
        state = await mep.call("GET", f"{MGMT}/producer", 200, mep.operator)
        assert state["body"]["state"] == "READY"
        await mep.call("POST", f"{AS}/producer/subscriptions", 201, producer, json={
            "subscriptionType": "AppTerminationNotificationSubscription",
            "callbackReference": f"{server.url}/termination",
            "appInstanceId": "producer",
        })  # fmt: skip
        await mep.call("POST", f"{SM}/consumer/subscriptions", 201, consumer, json={
            "subscriptionType": "SerAvailabilityNotificationSubscription",
            "callbackReference": f"{server.url}/availability",
            "filteringCriteria": {"serNames": ["video"]},
        })  # fmt: skip

        # A service with heartbeats every 2 s; the consumer hears of it.
        made = await mep.call(
            "POST",
            f"{SM}/producer/services",
            201,
            producer,
            json=service("video", livenessInterval=2),
        )
        one = f"{SM}/producer/services/{made['body']['serInstanceId']}"
        await server.wait_for(1, path="/availability")
        current = await mep.call("GET", one, 200, producer)
        await mep.call("PUT", one, 200, {**producer, "If-Match": current["headers"]["ETag"]},
                       json={**current["body"], "state": "INACTIVE"})  # fmt: skip
        await server.wait_for(2, path="/availability")
        current = await mep.call("GET", one, 200, producer)
        await mep.call("PUT", one, 200, producer, json={**current["body"], "state": "ACTIVE"})
        await server.wait_for(3, path="/availability")

        # No heartbeat for twice the interval: SUSPENDED; a heartbeat revives it.
        await server.wait_for(4, path="/availability", within=15)
        assert (await mep.call("GET", one, 200, producer))["body"]["state"] == "SUSPENDED"
        await mep.call("PATCH", f"{one}/liveness", 200, producer, json={"state": "ACTIVE"})
        await server.wait_for(5, path="/availability")
        assert (await mep.call("GET", one, 200, producer))["body"]["state"] == "ACTIVE"
        await mep.call("PATCH", f"{one}/liveness", 200, producer, json={"state": "ACTIVE"})

        # The app deactivates its traffic and DNS rules (If-Match honoured).
        for kind, rule_id in (("traffic_rules", "tr1"), ("dns_rules", "dns1")):
            url = f"{AS}/producer/{kind}/{rule_id}"
            rule = await mep.call("GET", url, 200, producer)
            changed = {**rule["body"], "state": "INACTIVE"}
            await mep.call("PUT", url, 200, {**producer, "If-Match": rule["headers"]["ETag"]},
                           json=changed)  # fmt: skip
            await mep.call("PUT", url, 412, {**producer, "If-Match": rule["headers"]["ETag"]},
                           json=changed)  # fmt: skip
            assert (await mep.call("GET", url, 200, producer))["body"]["state"] == "INACTIVE"

        # Termination: notified, confirmed within the graceful time, removed at once.
        await mep.call("DELETE", f"{MGMT}/producer", 202, mep.operator)
        await server.wait_for(1, path="/termination")
        (notice,) = server.by_path["/termination"]
        assert notice["notificationType"] == "AppTerminationNotification"
        assert notice["operationAction"] == "TERMINATING"
        assert notice["maxGracefulTimeout"] == 30
        assert (await mep.call("GET", f"{MGMT}/producer", 200, mep.operator))["body"][
            "state"
        ] == "TERMINATING"
        started = time.monotonic()
        await mep.call("POST", f"{AS}/producer/confirm_termination", 204, producer,
                       json={"operationAction": "TERMINATING"})  # fmt: skip
        await server.wait_for(6, path="/availability")
        assert time.monotonic() - started < 10, "confirmation must not wait for the timeout"
        await mep.call("GET", f"{MGMT}/producer", 404, mep.operator)
        await mep.call("GET", f"{AS}/producer/traffic_rules", 401, producer)

    assert changes(server.by_path["/availability"]) == [
        ("video", "ADDED", "ACTIVE"),
        ("video", "STATE_CHANGED", "INACTIVE"),
        ("video", "STATE_CHANGED", "ACTIVE"),
        ("video", "STATE_CHANGED", "SUSPENDED"),
        ("video", "STATE_CHANGED", "ACTIVE"),
        ("video", "REMOVED", "ACTIVE"),
    ]


@pytest.mark.timeout(150)
async def test_every_notification_arrives_in_order_after_an_outage_and_a_restart(
    platform: RunningPlatform, server: CallbackServer
) -> None:
    await platform.start()
    outage_started = time.monotonic()
    await server.stop()  # connection refused from now on; same port later
    expected: list[tuple[str, str, str]] = []

    async def churn(mep: Mep, producer: dict[str, str], name: str) -> None:
        made = await mep.call("POST", f"{SM}/producer/services", 201, producer, json=service(name))
        one = f"{SM}/producer/services/{made['body']['serInstanceId']}"
        current = (await mep.call("GET", one, 200, producer))["body"]
        await mep.call("PUT", one, 200, producer, json={**current, "version": "2.0"})
        await mep.call("PUT", one, 200, producer, json={**current, "version": "2.0",
                                                        "state": "INACTIVE"})  # fmt: skip
        await mep.call("DELETE", one, 204, producer)
        expected.extend([
            (name, "ADDED", "ACTIVE"), (name, "ATTRIBUTES_CHANGED", "ACTIVE"),
            (name, "STATE_CHANGED", "INACTIVE"), (name, "REMOVED", "INACTIVE"),
        ])  # fmt: skip

    async with aiohttp.ClientSession(platform.url) as http:
        mep = Mep(platform, http)
        producer = await mep.app("producer")
        consumer = await mep.app("consumer")
        await mep.call("POST", f"{SM}/consumer/subscriptions", 201, consumer, json={
            "subscriptionType": "SerAvailabilityNotificationSubscription",
            "callbackReference": f"{server.url}/availability",
            "filteringCriteria": {"serCategories": [service("x")["serCategory"]]},
        })  # fmt: skip
        for name in ("alpha", "beta", "gamma"):
            await churn(mep, producer, name)
    await asyncio.sleep(3)  # the platform is retrying the dead callback meanwhile
    await platform.kill()
    await platform.start()
    async with aiohttp.ClientSession(platform.url) as http:
        mep = Mep(platform, http)  # the producer's token outlives the restart: same keys
        for name in ("delta", "epsilon"):
            await churn(mep, producer, name)
    await asyncio.sleep(max(0.0, 20 - (time.monotonic() - outage_started)))
    await server.start()
    await server.wait_for(len(expected), within=30)
    await asyncio.sleep(1)  # nothing more, in particular no repeats, may follow
    assert changes(server.received) == expected

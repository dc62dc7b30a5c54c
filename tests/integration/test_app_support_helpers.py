"""Helpers of the ``test_app_support*`` and ``test_termination*`` modules (no tests here): bodies,
calls, the recording ports, and schema checks against our document
(``specs/mec011-app-support.yaml``) and the official ETSI one."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from typing import Any, cast

from aiohttp import web
from aiohttp.test_utils import TestClient
from fixtures.apps import App, new_app
from fixtures.openapi import OpenApiDocument
from fixtures.reference import reference_check, reference_document

from mep.core import keys
from mep.dataplane.none import RecordingDataPlane
from mep.dns.recording import RecordingDnsRules

Client = TestClient[web.Request, web.Application]

API = "/mec_app_support/v1"
MGMT = "/mep_mgmt/v1/app_instances"
PUBLIC = "http://mep.test"
OURS = OpenApiDocument("mec011-app-support.yaml")

TRAFFIC_RULE: dict[str, Any] = {
    "trafficRuleId": "tr1",
    "filterType": "FLOW",
    "priority": 5,
    "trafficFilter": [{"dstAddress": ["192.0.2.0/24"], "dstPort": ["8000-8080"]}],
    "action": "FORWARD_DECAPSULATED",
    "dstInterface": {"interfaceType": "IP", "dstIpAddress": "10.10.0.5"},
    "state": "ACTIVE",
}
TRAFFIC_RULE_2: dict[str, Any] = {
    "trafficRuleId": "tr2",
    "filterType": "PACKET",
    "priority": 1,
    "trafficFilter": [{"srcAddress": ["198.51.100.7"]}],
    "action": "DROP",
    "state": "INACTIVE",
}
DNS_RULE: dict[str, Any] = {
    "dnsRuleId": "dns1",
    "domainName": "video.edge.example",
    "ipAddressType": "IP_V4",
    "ipAddress": "10.10.0.5",
    "ttl": 30,
    "state": "ACTIVE",
}


def spec(**fields: Any) -> dict[str, Any]:
    """An AppInstanceSpec with two traffic rules and a DNS rule; ``fields`` override."""
    body: dict[str, Any] = {
        "trafficRules": [copy.deepcopy(TRAFFIC_RULE), copy.deepcopy(TRAFFIC_RULE_2)],
        "dnsRules": [copy.deepcopy(DNS_RULE)],
        "gracefulTerminationTimeout": 1,
    }
    body.update(fields)
    return body


async def app_with_rules(
    client: Client, operator: dict[str, str], app_id: str, **fields: Any
) -> App:
    return await new_app(client, operator, app_id, **spec(**fields))


def app_path(app_id: str, tail: str = "") -> str:
    return f"{API}/applications/{app_id}{tail}"


def local(url: str) -> str:
    """A link the API wrote, as a path the test client can call."""
    assert url.startswith(PUBLIC), url
    return url.removeprefix(PUBLIC)


def dataplane(client: Client) -> RecordingDataPlane:
    return cast(RecordingDataPlane, client.app[keys.DATAPLANE])


def dns(client: Client) -> RecordingDnsRules:
    return cast(RecordingDnsRules, client.app[keys.DNS_RULES])


def traffic_calls(client: Client, app_id: str) -> list[tuple[str, str, str | None]]:
    """``(op, ruleId, state)`` of the DataPlane calls made for ``app_id``, in order."""
    return [
        (c.op, c.traffic_rule_id, None if c.rule is None else c.rule.state.value)
        for c in dataplane(client).calls
        if c.app_instance_id == app_id
    ]


def dns_calls(client: Client, app_id: str) -> list[tuple[str, str, str | None]]:
    return [
        (c.op, c.dns_rule_id, None if c.rule is None else c.rule.state.value)
        for c in dns(client).calls
        if c.app_instance_id == app_id
    ]


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Until ``condition()`` holds (background work: ports fed by timers, deliveries)."""
    for _ in range(round(within / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not so within {within} s")


async def until(probe: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """Until ``await probe()`` holds."""
    for _ in range(round(within / 0.05)):
        if await probe():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not so within {within} s")


def check_both(path: str, method: str, status: int, body: Any, *, official: bool = True) -> None:
    """``body`` fits our document and (unless ``official`` is False: members only V2.2.1+
    allows) the official V2.1.1 one."""
    OURS.check(path, method, status, body)
    if official:
        reference_check("mec011-app-support", path, method, status, body)


def check_official_schema(name: str, body: Any) -> None:
    """A body with no path of its own (a notification) against a named official schema."""
    errors = reference_document("mec011-app-support").check_schema(name, body)
    assert not errors, errors


def subscription(app_id: str, callback: str | None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subscriptionType": "AppTerminationNotificationSubscription",
        "callbackReference": callback,
        "appInstanceId": app_id,
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


async def subscribe(
    client: Client, app: App, callback: str | None, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        app_path(app.instance_id, "/subscriptions"),
        json=subscription(app.instance_id, callback, **fields),
        headers=app.headers,
    )
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    assert response.headers["Location"] == created["_links"]["self"]["href"]
    return created


async def count(client: Client, collection: str) -> int:
    return await client.app[keys.STORE].count(collection)

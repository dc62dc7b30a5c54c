"""The operator API for app instances, end to end over HTTP, on the SQLite and Redis stores."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from fixtures.auth import basic, bearer
from fixtures.openapi import OpenApiDocument

from mep.core import keys

Client = TestClient[web.Request, web.Application]
BASE = "/mep_mgmt/v1/app_instances"
ONE = "/mep_mgmt/v1/app_instances/{appInstanceId}"
SPEC = OpenApiDocument("mep-mgmt.yaml")

TRAFFIC_RULE: dict[str, Any] = {
    "trafficRuleId": "tr-video",
    "filterType": "FLOW",
    "priority": 5,
    "trafficFilter": [{"dstAddress": ["192.0.2.0/24"], "dstPort": ["8000-8080"], "dSCP": 10}],
    "action": "FORWARD_DECAPSULATED",
    "dstInterface": {"interfaceType": "IP", "dstIpAddress": "10.10.0.5"},
    "state": "ACTIVE",
}
DNS_RULE: dict[str, Any] = {
    "dnsRuleId": "dns-video",
    "domainName": "video.edge.example",
    "ipAddressType": "IP_V4",
    "ipAddress": "10.10.0.5",
    "ttl": 30,
    "state": "ACTIVE",
}
SPEC_BODY: dict[str, Any] = {
    "appName": "video-analytics",
    "appProvider": "ACME",
    "appDId": "d-1",
    "trafficRules": [TRAFFIC_RULE],
    "dnsRules": [DNS_RULE],
    "appServiceRequired": ["rni"],
    "appServiceProduced": ["analytics"],
    "gracefulTerminationTimeout": 10,
}


async def create(client: Client, operator: dict[str, str], body: Any = None) -> dict[str, Any]:
    response = await client.post(BASE, json=body or SPEC_BODY, headers=operator)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


async def count(client: Client, operator: dict[str, str]) -> int:
    response = await client.get(BASE, headers=operator)
    assert response.status == 200
    return len(await response.json())


async def test_create_returns_instance_credentials_and_location(
    client: Client, operator: dict[str, str]
) -> None:
    response = await client.post(BASE, json=SPEC_BODY, headers=operator)
    assert response.status == 201
    body = await response.json()
    SPEC.check(BASE, "post", 201, body)
    instance_id = body["appInstanceId"]
    assert response.headers["Location"] == f"http://mep.test{BASE}/{instance_id}"
    assert response.headers["ETag"] == '"1"'
    assert body["state"] == "INSTANTIATED"
    assert body["clientId"] == instance_id
    assert len(body["clientSecret"]) >= 40
    assert body["trafficRules"] == [TRAFFIC_RULE]
    assert body["dnsRules"] == [DNS_RULE]

    fetched = await client.get(f"{BASE}/{instance_id}", headers=operator)
    assert fetched.status == 200
    again = await fetched.json()
    SPEC.check(ONE, "get", 200, again)
    assert "clientSecret" not in again, "the secret is shown once, at creation"
    assert again["appName"] == "video-analytics"
    listed = await (await client.get(BASE, headers=operator)).json()
    SPEC.check(BASE, "get", 200, listed)
    assert [i["appInstanceId"] for i in listed] == [instance_id]


async def test_put_creates_with_operator_id_then_replaces_keeping_credentials(
    client: Client, operator: dict[str, str]
) -> None:
    created = await client.put(f"{BASE}/app-7", json=SPEC_BODY, headers=operator)
    assert created.status == 201
    first = await created.json()
    SPEC.check(ONE, "put", 201, first)
    assert first["appInstanceId"] == "app-7"
    assert created.headers["Location"].endswith(f"{BASE}/app-7")

    changed = {**SPEC_BODY, "appName": "renamed", "dnsRules": []}
    replaced = await client.put(f"{BASE}/app-7", json=changed, headers=operator)
    assert replaced.status == 200
    body = await replaced.json()
    SPEC.check(ONE, "put", 200, body)
    assert body["appName"] == "renamed"
    assert body["dnsRules"] == []
    assert "clientSecret" not in body
    assert replaced.headers["ETag"] == '"2"'

    token = await client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=basic("app-7", first["clientSecret"]),
    )
    assert token.status == 200, "replacing an instance keeps its credentials"


async def test_put_with_stale_if_match_is_412_and_changes_nothing(
    client: Client, operator: dict[str, str]
) -> None:
    await client.put(f"{BASE}/app-1", json=SPEC_BODY, headers=operator)
    await client.put(f"{BASE}/app-1", json={**SPEC_BODY, "appName": "v2"}, headers=operator)
    stale = await client.put(
        f"{BASE}/app-1",
        json={**SPEC_BODY, "appName": "v3"},
        headers={**operator, "If-Match": '"1"'},
    )
    assert stale.status == 412
    assert stale.content_type == "application/problem+json"
    current = await client.get(f"{BASE}/app-1", headers=operator)
    assert (await current.json())["appName"] == "v2"

    fresh = await client.put(
        f"{BASE}/app-1",
        json={**SPEC_BODY, "appName": "v3"},
        headers={**operator, "If-Match": current.headers["ETag"]},
    )
    assert fresh.status == 200
    assert (await fresh.json())["appName"] == "v3"


async def test_delete_removes_and_then_404(client: Client, operator: dict[str, str]) -> None:
    instance = await create(client, operator)
    url = f"{BASE}/{instance['appInstanceId']}"
    assert (await client.delete(url, headers=operator)).status == 204
    missing = await client.get(url, headers=operator)
    assert missing.status == 404
    assert (await missing.json())["status"] == 404
    assert (await client.delete(url, headers=operator)).status == 404


def _without(body: dict[str, Any], path: list[str | int]) -> dict[str, Any]:
    result = copy.deepcopy(body)
    node: Any = result
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return result


def _with(body: dict[str, Any], path: list[str | int], value: Any) -> dict[str, Any]:
    result = copy.deepcopy(body)
    node: Any = result
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return result


INVALID = [
    pytest.param(_with(SPEC_BODY, ["trafficRules", 0, "action"], "BOUNCE"),
                 "/trafficRules/0/action", id="bad-action-enum"),
    pytest.param(_with(SPEC_BODY, ["trafficRules", 0, "filterType"], "FLOWS"),
                 "/trafficRules/0/filterType", id="bad-filter-type"),
    pytest.param(_without(SPEC_BODY, ["trafficRules", 0, "priority"]),
                 "/trafficRules/0/priority", id="missing-priority"),
    pytest.param(_without(SPEC_BODY, ["trafficRules", 0, "dstInterface"]),
                 "/trafficRules/0/dstInterface", id="forward-without-interface"),
    pytest.param(_with(SPEC_BODY, ["trafficRules", 0, "trafficFilter", 0, "dstPort"], ["70000"]),
                 "/trafficRules/0/trafficFilter/0/dstPort", id="port-out-of-range"),
    pytest.param(_with(SPEC_BODY, ["dnsRules", 0, "ipAddressType"], "IP_V6"),
                 "/dnsRules/0/ipAddress", id="ipv4-address-for-ipv6-rule"),
    pytest.param(_with(SPEC_BODY, ["dnsRules", 0, "state"], "ON"),
                 "/dnsRules/0/state", id="bad-dns-state"),
    pytest.param(_without(SPEC_BODY, ["dnsRules", 0, "domainName"]),
                 "/dnsRules/0/domainName", id="missing-domain"),
    pytest.param(_with(SPEC_BODY, ["trafficRules"], [TRAFFIC_RULE, TRAFFIC_RULE]),
                 "/trafficRules/1/trafficRuleId", id="duplicate-traffic-rule-id"),
    pytest.param(_with(SPEC_BODY, ["dnsRules"], [DNS_RULE, {**DNS_RULE, "ipAddress": "10.0.0.9"}]),
                 "/dnsRules/1/dnsRuleId", id="duplicate-dns-rule-id"),
    pytest.param(_without(SPEC_BODY, ["appName"]), "/appName", id="missing-app-name"),
    pytest.param(_with(SPEC_BODY, ["trafficRule"], []), "/trafficRule", id="misspelt-member"),
    pytest.param(_with(SPEC_BODY, ["gracefulTerminationTimeout"], -1),
                 "/gracefulTerminationTimeout", id="negative-timeout"),
    pytest.param([SPEC_BODY], "/", id="array-instead-of-object"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "pointer"), INVALID)
async def test_invalid_body_is_400_naming_the_field_and_stores_nothing(
    client: Client, operator: dict[str, str], body: Any, pointer: str
) -> None:
    for send in (
        client.post(BASE, json=body, headers=operator),
        client.put(f"{BASE}/app-x", json=body, headers=operator),
    ):
        response = await send
        assert response.status == 400
        assert response.content_type == "application/problem+json"
        problem = await response.json()
        SPEC.check(BASE, "post", 400, problem)
        assert pointer in [p["param"] for p in problem["invalidParams"]], problem
    assert await count(client, operator) == 0


async def test_invalid_replace_leaves_the_instance_as_it_was(
    client: Client, operator: dict[str, str]
) -> None:
    await client.put(f"{BASE}/app-2", json=SPEC_BODY, headers=operator)
    bad = _with(SPEC_BODY, ["dnsRules", 0, "ipAddress"], "not-an-ip")
    assert (await client.put(f"{BASE}/app-2", json=bad, headers=operator)).status == 400
    current = await client.get(f"{BASE}/app-2", headers=operator)
    assert current.headers["ETag"] == '"1"'
    assert (await current.json())["dnsRules"] == [DNS_RULE]


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ("", "application/json", 400),
        ("appName=x", "application/x-www-form-urlencoded", 415),
        ('{"appName": "x"}', "text/plain", 415),
        (b"\xff\xfe", "application/json", 400),
    ],
)
async def test_malformed_or_mistyped_body_is_problem_details(
    client: Client, operator: dict[str, str], data: str | bytes, content_type: str, status: int
) -> None:
    response = await client.post(
        BASE, data=data, headers={**operator, "Content-Type": content_type}
    )
    assert response.status == status
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert problem["status"] == status
    assert problem["instance"] == BASE
    assert await count(client, operator) == 0


async def test_bad_instance_id_in_put_names_the_path_variable(
    client: Client, operator: dict[str, str]
) -> None:
    response = await client.put(f"{BASE}/bad%20id", json=SPEC_BODY, headers=operator)
    assert response.status == 400
    assert (await response.json())["invalidParams"][0]["param"] == "{appInstanceId}"


async def test_operator_api_needs_the_operator_token(
    client: Client, operator: dict[str, str]
) -> None:
    anonymous = await client.get(BASE)
    assert anonymous.status == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = await client.get(BASE, headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    instance = await create(client, operator)
    token = await _token(client, instance["appInstanceId"], instance["clientSecret"])
    as_app = await client.post(BASE, json=SPEC_BODY, headers=bearer(token))
    assert as_app.status == 403
    assert await count(client, operator) == 1


async def _token(client: Client, client_id: str, secret: str) -> str:
    response = await client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=basic(client_id, secret),
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    token: str = body["access_token"]
    return token


async def test_changes_reach_the_event_log_through_the_outbox(
    client: Client, operator: dict[str, str]
) -> None:
    events = client.app[keys.EVENTS]
    consumer = await events.consumer("mep.app_instances", "test", "t1")
    try:
        await client.put(f"{BASE}/ev-1", json=SPEC_BODY, headers=operator)
        await client.put(f"{BASE}/ev-1", json={**SPEC_BODY, "appName": "b"}, headers=operator)
        await client.delete(f"{BASE}/ev-1", headers=operator)
        seen: list[dict[str, Any]] = []
        async with asyncio.timeout(10):
            while len(seen) < 3:
                batch = await consumer.read(timeout=0.5)
                seen += [e.payload for e in batch]
                await consumer.ack(*batch)
        assert [(e["type"], e["appInstanceId"]) for e in seen] == [
            ("AppInstanceCreated", "ev-1"),
            ("AppInstanceUpdated", "ev-1"),
            ("AppInstanceDeleted", "ev-1"),
        ]
        assert len({e["eventId"] for e in seen}) == 3
        for _ in range(1000):  # relayed entries are deleted just after the append
            if not await client.app[keys.OUTBOX].pending():
                break
            await asyncio.sleep(0.01)
        assert await client.app[keys.OUTBOX].pending() == 0
    finally:
        await consumer.close()

"""The Mp1 application support API (GS MEC 011 clause 7) end to end over HTTP, on SQLite and on
Redis: access rules, confirm_ready, traffic and DNS rules with the recording ports, timing."""

from __future__ import annotations

import asyncio
import copy
import sys
import time

import pytest
from fixtures.apps import new_app
from fixtures.openapi import OpenApiDocument
from fixtures.problems import params, problem
from test_app_support_helpers import (
    API,
    DNS_RULE,
    MGMT,
    TRAFFIC_RULE,
    TRAFFIC_RULE_2,
    Client,
    app_path,
    app_with_rules,
    check_both,
    dns_calls,
    eventually,
    spec,
    traffic_calls,
)

from mep.core import keys
from mep.mgmt.rules import DNS, TRAFFIC
from mep.mp1.app_support.models import TimeSourceStatus
from mep.mp1.app_support.timing import kernel_ntp_status, timedatectl_status

MGMT_SPEC = OpenApiDocument("mep-mgmt.yaml")
RULES = "/applications/{appInstanceId}/traffic_rules"
RULE = "/applications/{appInstanceId}/traffic_rules/{trafficRuleId}"
DNS_RULES = "/applications/{appInstanceId}/dns_rules"
ONE_DNS = "/applications/{appInstanceId}/dns_rules/{dnsRuleId}"


async def state_of(client: Client, operator: dict[str, str], app_id: str) -> str:
    response = await client.get(f"{MGMT}/{app_id}", headers=operator)
    assert response.status == 200, await response.text()
    state: str = (await response.json())["state"]
    return state


async def test_access_is_per_instance(client: Client, operator: dict[str, str]) -> None:
    a = await app_with_rules(client, operator, "app-a")
    b = await new_app(client, operator, "app-b")
    own = app_path("app-a", "/traffic_rules")
    assert (await client.get(own, headers=a.headers)).status == 200
    assert (await client.get(own, headers=operator)).status == 200
    await problem(await client.get(own), 401)
    await problem(await client.get(own, headers={"Authorization": "Bearer nonsense"}), 401)
    await problem(await client.get(own, headers=b.headers), 403)
    await problem(await client.get(app_path("nobody", "/traffic_rules"), headers=a.headers), 404)
    for tail, method in [
        ("/dns_rules", "get"),
        ("/subscriptions", "get"),
        ("/confirm_ready", "post"),
        ("/confirm_termination", "post"),
        ("/traffic_rules/tr1", "put"),
    ]:
        response = await client.request(method, app_path("app-a", tail), headers=b.headers)
        await problem(response, 403)
    # B got nothing done: A is still INSTANTIATED and its rule unchanged.
    assert await state_of(client, operator, "app-a") == "INSTANTIATED"


async def test_confirm_ready(client: Client, operator: dict[str, str]) -> None:
    app = await new_app(client, operator, "app-r")
    url = app_path("app-r", "/confirm_ready")
    bad = await client.post(url, json={"indication": "STEADY"}, headers=app.headers)
    assert params(await problem(bad, 400)) == {"/indication"}
    await problem(await client.post(url, data="READY", headers=app.headers), 415)
    assert await state_of(client, operator, "app-r") == "INSTANTIATED"

    ready = await client.post(url, json={"indication": "READY"}, headers=app.headers)
    assert ready.status == 204, await ready.text()
    instance = await (await client.get(f"{MGMT}/app-r", headers=operator)).json()
    assert instance["state"] == "READY"
    MGMT_SPEC.check("/mep_mgmt/v1/app_instances/{appInstanceId}", "get", 200, instance)
    # Confirming again, or without a body (optional in the V2.1.1 file), is harmless.
    assert (await client.post(url, headers=app.headers)).status == 204
    assert (await client.post(url, json={"indication": "READY"}, headers=operator)).status == 204
    assert await state_of(client, operator, "app-r") == "READY"
    # The operator's replace keeps the state.
    put = await client.put(f"{MGMT}/app-r", json={"appName": "renamed"}, headers=operator)
    assert (await put.json())["state"] == "READY"


async def test_rules_are_listed_and_read(client: Client, operator: dict[str, str]) -> None:
    app = await app_with_rules(client, operator, "app-l")
    listed = await client.get(app_path("app-l", "/traffic_rules"), headers=app.headers)
    assert listed.status == 200
    rules = await listed.json()
    assert rules == [TRAFFIC_RULE, TRAFFIC_RULE_2]
    check_both(RULES, "get", 200, rules)
    one = await client.get(app_path("app-l", "/traffic_rules/tr2"), headers=app.headers)
    assert await one.json() == TRAFFIC_RULE_2
    assert one.headers["ETag"] == '"1"'
    check_both(RULE, "get", 200, await one.json())

    dns = await client.get(app_path("app-l", "/dns_rules"), headers=app.headers)
    assert await dns.json() == [DNS_RULE]
    check_both(DNS_RULES, "get", 200, await dns.json())
    dns_one = await client.get(app_path("app-l", "/dns_rules/dns1"), headers=app.headers)
    check_both(ONE_DNS, "get", 200, await dns_one.json())

    await problem(
        await client.get(app_path("app-l", "/traffic_rules/nope"), headers=app.headers), 404
    )
    await problem(await client.get(app_path("app-l", "/dns_rules/nope"), headers=app.headers), 404)
    # An instance without rules has empty lists.
    bare = await new_app(client, operator, "app-bare")
    empty = await client.get(app_path("app-bare", "/traffic_rules"), headers=bare.headers)
    assert await empty.json() == []


async def test_put_toggles_state_and_ports_follow_in_order(
    client: Client, operator: dict[str, str]
) -> None:
    app = await app_with_rules(client, operator, "app-t")
    await eventually(lambda: len(traffic_calls(client, "app-t")) == 2)
    url = app_path("app-t", "/traffic_rules/tr1")
    off = await client.put(url, json={**TRAFFIC_RULE, "state": "INACTIVE"}, headers=app.headers)
    assert off.status == 200, await off.text()
    assert (await off.json())["state"] == "INACTIVE"
    assert off.headers["ETag"] == '"2"'
    check_both(RULE, "put", 200, await off.json())
    on = await client.put(url, json={**TRAFFIC_RULE, "state": "ACTIVE"}, headers=app.headers)
    assert (await on.json())["state"] == "ACTIVE"
    # The answer comes after the data plane was told.
    assert traffic_calls(client, "app-t") == [
        ("add", "tr1", "ACTIVE"),
        ("add", "tr2", "INACTIVE"),
        ("update", "tr1", "INACTIVE"),
        ("update", "tr1", "ACTIVE"),
    ]
    # The same rule again changes nothing and tells nobody.
    same = await client.put(url, json=TRAFFIC_RULE, headers=app.headers)
    assert same.headers["ETag"] == on.headers["ETag"]
    assert len(traffic_calls(client, "app-t")) == 4

    dns_url = app_path("app-t", "/dns_rules/dns1")
    dns_off = await client.put(dns_url, json={**DNS_RULE, "state": "INACTIVE"}, headers=app.headers)
    assert dns_off.status == 200, await dns_off.text()
    check_both(ONE_DNS, "put", 200, await dns_off.json())
    assert dns_calls(client, "app-t") == [
        ("apply", "dns1", "ACTIVE"),
        ("apply", "dns1", "INACTIVE"),
    ]
    listed = await client.get(app_path("app-t", "/dns_rules"), headers=app.headers)
    assert [r["state"] for r in await listed.json()] == ["INACTIVE"]


async def test_put_changes_only_what_the_app_may(client: Client, operator: dict[str, str]) -> None:
    app = await app_with_rules(client, operator, "app-m")
    body = {
        **TRAFFIC_RULE,
        "filterType": "PACKET",
        "priority": 99,
        "trafficFilter": [{"dstAddress": ["203.0.113.0/24"]}],
        "action": "DROP",
        "state": "INACTIVE",
    }
    del body["dstInterface"]
    changed = await client.put(
        app_path("app-m", "/traffic_rules/tr1"), json=body, headers=app.headers
    )
    assert changed.status == 200, await changed.text()
    assert await changed.json() == {
        "trafficRuleId": "tr1",
        "filterType": "FLOW",
        "priority": 5,
        "trafficFilter": [{"dstAddress": ["203.0.113.0/24"]}],
        "action": "DROP",
        "state": "INACTIVE",
    }
    dns_body = {**DNS_RULE, "domainName": "evil.example", "ipAddress": "10.9.9.9", "ttl": 1}
    dns_body["state"] = "INACTIVE"
    dns = await client.put(app_path("app-m", "/dns_rules/dns1"), json=dns_body, headers=app.headers)
    assert await dns.json() == {**DNS_RULE, "state": "INACTIVE"}
    # The operator's view of the declaration is what the operator declared.
    instance = await (await client.get(f"{MGMT}/app-m", headers=operator)).json()
    assert instance["trafficRules"][0] == TRAFFIC_RULE
    assert instance["dnsRules"][0] == DNS_RULE


async def test_put_with_another_id_or_stale_etag_changes_nothing(
    client: Client, operator: dict[str, str]
) -> None:
    app = await app_with_rules(client, operator, "app-e")
    url = app_path("app-e", "/traffic_rules/tr1")
    await eventually(lambda: len(traffic_calls(client, "app-e")) == 2)

    renamed = await client.put(
        url, json={**TRAFFIC_RULE, "trafficRuleId": "tr9"}, headers=app.headers
    )
    assert params(await problem(renamed, 400)) == {"/trafficRuleId"}
    dns_url = app_path("app-e", "/dns_rules/dns1")
    dns_renamed = await client.put(
        dns_url, json={**DNS_RULE, "dnsRuleId": "x"}, headers=app.headers
    )
    assert params(await problem(dns_renamed, 400)) == {"/dnsRuleId"}

    first = await client.get(url, headers=app.headers)
    tag = first.headers["ETag"]
    inactive = {**TRAFFIC_RULE, "state": "INACTIVE"}
    ok = await client.put(url, json=inactive, headers={**app.headers, "If-Match": tag})
    assert ok.status == 200, await ok.text()
    stale = await client.put(url, json=TRAFFIC_RULE, headers={**app.headers, "If-Match": tag})
    await problem(stale, 412)
    bogus = await client.put(url, json=TRAFFIC_RULE, headers={**app.headers, "If-Match": '"x"'})
    await problem(bogus, 412)
    dns_stale = await client.put(
        dns_url, json={**DNS_RULE, "state": "INACTIVE"}, headers={**app.headers, "If-Match": '"7"'}
    )
    await problem(dns_stale, 412)

    now = await client.get(url, headers=app.headers)
    assert (await now.json())["state"] == "INACTIVE"
    assert now.headers["ETag"] == ok.headers["ETag"]
    assert traffic_calls(client, "app-e")[2:] == [("update", "tr1", "INACTIVE")]
    assert dns_calls(client, "app-e") == [("apply", "dns1", "ACTIVE")]


BAD_RULES = [
    pytest.param({**TRAFFIC_RULE, "state": "ON"}, {"/state"}, id="bad-state"),
    pytest.param({**TRAFFIC_RULE, "action": "BOUNCE"}, {"/action"}, id="bad-action"),
    pytest.param(
        {k: v for k, v in TRAFFIC_RULE.items() if k != "trafficFilter"},
        {"/trafficFilter"},
        id="missing-filter",
    ),
    pytest.param(
        {**TRAFFIC_RULE, "trafficFilter": [{"dstPort": ["99999"]}]},
        {"/trafficFilter/0/dstPort"},
        id="bad-port",
    ),
    pytest.param(
        {**TRAFFIC_RULE, "action": "FORWARD_ENCAPSULATED", "dstInterface": None},
        {"/dstInterface"},
        id="forward-without-interface",
    ),
]


@pytest.mark.parametrize(("body", "pointers"), BAD_RULES)
async def test_bad_rule_bodies_are_refused_and_nothing_changes(
    client: Client, operator: dict[str, str], body: dict[str, object], pointers: set[str]
) -> None:
    app = await app_with_rules(client, operator, "app-b")
    url = app_path("app-b", "/traffic_rules/tr1")
    response = await client.put(url, json=body, headers=app.headers)
    assert params(await problem(response, 400)) >= pointers
    not_json = await client.put(
        url, data="{", headers={**app.headers, "Content-Type": "application/json"}
    )
    await problem(not_json, 400)
    await problem(await client.put(url, data="x", headers=app.headers), 415)
    await problem(await client.put(url, headers=app.headers), 415)
    after = await client.get(url, headers=app.headers)
    assert after.headers["ETag"] == '"1"'
    assert await after.json() == TRAFFIC_RULE
    bad_dns = await client.put(
        app_path("app-b", "/dns_rules/dns1"),
        json={**DNS_RULE, "ipAddress": "::1"},
        headers=app.headers,
    )
    assert params(await problem(bad_dns, 400)) == {"/ipAddress"}
    await eventually(lambda: len(traffic_calls(client, "app-b")) == 2)
    assert [c[0] for c in traffic_calls(client, "app-b")] == ["add", "add"]


async def test_operator_replace_keeps_what_the_app_toggled(
    client: Client, operator: dict[str, str]
) -> None:
    app = await app_with_rules(client, operator, "app-o")
    url = app_path("app-o", "/traffic_rules/tr1")
    await client.put(url, json={**TRAFFIC_RULE, "state": "INACTIVE"}, headers=app.headers)
    dns_url = app_path("app-o", "/dns_rules/dns1")
    await client.put(dns_url, json={**DNS_RULE, "state": "INACTIVE"}, headers=app.headers)

    # tr1: declaration unchanged, so the app's INACTIVE stays. tr2: re-declared, so it is reset
    # to the new declaration. tr3: new. dns1: dropped.
    tr2 = {**TRAFFIC_RULE_2, "priority": 2}
    tr3 = {**TRAFFIC_RULE_2, "trafficRuleId": "tr3", "state": "ACTIVE"}
    replaced = await client.put(
        f"{MGMT}/app-o",
        json={"appName": "app-o", **spec(trafficRules=[tr3, TRAFFIC_RULE, tr2], dnsRules=[])},
        headers=operator,
    )
    assert replaced.status == 200, await replaced.text()
    listed = await (
        await client.get(app_path("app-o", "/traffic_rules"), headers=app.headers)
    ).json()
    assert listed == [tr3, {**TRAFFIC_RULE, "state": "INACTIVE"}, tr2]
    assert (
        await (await client.get(app_path("app-o", "/dns_rules"), headers=app.headers)).json() == []
    )
    await problem(await client.get(dns_url, headers=app.headers), 404)

    await eventually(lambda: len(traffic_calls(client, "app-o")) == 5)
    assert traffic_calls(client, "app-o") == [
        ("add", "tr1", "ACTIVE"),
        ("add", "tr2", "INACTIVE"),
        ("update", "tr1", "INACTIVE"),
        ("add", "tr3", "ACTIVE"),
        ("update", "tr2", "INACTIVE"),
    ]
    await eventually(lambda: len(dns_calls(client, "app-o")) == 3)
    assert dns_calls(client, "app-o")[-1] == ("remove", "dns1", None)
    assert await client.app[keys.STORE].count(DNS.collection) == 0
    assert await client.app[keys.STORE].count(TRAFFIC.collection) == 3


async def test_an_operator_write_with_duplicate_rules_stores_no_rule(
    client: Client, operator: dict[str, str]
) -> None:
    body = {"appName": "dup", **spec(trafficRules=[TRAFFIC_RULE, copy.deepcopy(TRAFFIC_RULE)])}
    response = await client.put(f"{MGMT}/app-dup", json=body, headers=operator)
    assert params(await problem(response, 400)) == {"/trafficRules/1/trafficRuleId"}
    assert await client.app[keys.STORE].count(TRAFFIC.collection) == 0
    assert await client.app[keys.STORE].count(DNS.collection) == 0


async def test_timing(client: Client, operator: dict[str, str]) -> None:
    app = await new_app(client, operator, "app-clock")
    caps = await client.get(f"{API}/timing/timing_caps", headers=app.headers)
    assert caps.status == 200
    body = await caps.json()
    check_both("/timing/timing_caps", "get", 200, body)
    assert abs(body["timeStamp"]["seconds"] - time.time()) < 5

    now = await client.get(f"{API}/timing/current_time", headers=app.headers)
    assert now.status == 200
    current = await now.json()
    check_both("/timing/current_time", "get", 200, current)
    assert set(current) == {"seconds", "nanoSeconds", "timeSourceStatus"}
    assert current["timeSourceStatus"] in ("TRACEABLE", "NONTRACEABLE")
    assert abs(current["seconds"] + current["nanoSeconds"] / 1e9 - time.time()) < 5
    assert 0 <= current["nanoSeconds"] < 1_000_000_000

    assert (await client.get(f"{API}/timing/current_time", headers=operator)).status == 200
    await problem(await client.get(f"{API}/timing/current_time"), 401)
    await problem(await client.get(f"{API}/timing/timing_caps"), 401)


async def test_time_source_status_comes_from_the_host(
    client: Client, operator: dict[str, str]
) -> None:
    kernel = await asyncio.to_thread(kernel_ntp_status)
    if sys.platform.startswith("linux"):
        assert kernel in (TimeSourceStatus.TRACEABLE, TimeSourceStatus.NONTRACEABLE)
    expected = kernel or await timedatectl_status() or TimeSourceStatus.NONTRACEABLE
    now = await client.get(f"{API}/timing/current_time", headers=operator)
    assert (await now.json())["timeSourceStatus"] == expected.value

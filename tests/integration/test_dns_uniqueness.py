"""One domain name, one answering instance: the operator API refuses a second instance claiming a
name (409 naming the first) unless one of them is ``dnsPreferred``, on SQLite and Redis, also
when both creations race; and the DNS responder answers the preferred one."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from fixtures.apps import new_app
from fixtures.dns_responder import OPERATOR, dns_platform, dns_rule, until
from fixtures.openapi import OpenApiDocument
from fixtures.problems import params, problem

from mep.core import keys
from mep.mgmt.dns_names import COLLECTION as CLAIMS

Client = TestClient[web.Request, web.Application]
MGMT = "/mep_mgmt/v1/app_instances"
MP1 = "/mec_app_support/v1/applications"
NAME = "video.edge.example"
SPEC = OpenApiDocument("mep-mgmt.yaml")


def spec(address: str, name: str = NAME, **fields: Any) -> dict[str, Any]:
    return {"appName": "video", "dnsRules": [dns_rule("dns1", name, address)], **fields}


async def put(client: Client, operator: dict[str, str], instance_id: str, body: Any) -> Any:
    return await client.put(f"{MGMT}/{instance_id}", json=body, headers=operator)


async def test_a_second_claim_is_refused_naming_the_first(
    client: Client, operator: dict[str, str]
) -> None:
    first = await put(client, operator, "app-a", spec("10.0.0.1"))
    assert first.status == 201
    assert (await first.json())["dnsPreferred"] is False

    refused = await put(client, operator, "app-b", spec("10.0.0.2", name="Video.Edge.Example."))
    body = await problem(refused, 409)
    SPEC.check(f"{MGMT}/{{appInstanceId}}", "put", 409, body)
    assert "'app-a'" in body["detail"]
    assert params(body) == {"/dnsRules/0/domainName"}
    posted = await client.post(MGMT, json=spec("10.0.0.3"), headers=operator)
    assert "'app-a'" in (await problem(posted, 409))["detail"]
    assert (await client.get(f"{MGMT}/app-b", headers=operator)).status == 404
    assert len(await (await client.get(MGMT, headers=operator)).json()) == 1

    # One instance may name its domain in several rules (A and AAAA, several addresses).
    rules = [
        dns_rule("v4", "own.edge.example", "10.0.0.4"),
        dns_rule("v6", "own.edge.example", "::4"),
    ]
    own = await put(client, operator, "app-c", {"appName": "c", "dnsRules": rules})
    assert own.status == 201, await own.text()


async def test_replacing_an_instance_keeps_the_rule_and_frees_dropped_names(
    client: Client, operator: dict[str, str]
) -> None:
    assert (await put(client, operator, "app-a", spec("10.0.0.1"))).status == 201
    other = spec("10.0.0.2", name="other.edge.example")
    assert (await put(client, operator, "app-b", other)).status == 201

    taking = spec("10.0.0.2", name=NAME)
    await problem(await put(client, operator, "app-b", taking), 409)
    unchanged = await (await client.get(f"{MGMT}/app-b", headers=operator)).json()
    assert unchanged["dnsRules"][0]["domainName"] == "other.edge.example"

    moved = spec("10.0.0.1", name="moved.edge.example")
    assert (await put(client, operator, "app-a", moved)).status == 200
    assert (await put(client, operator, "app-b", taking)).status == 200, "the name is free"

    deleted = await client.delete(f"{MGMT}/app-b", headers=operator)
    assert deleted.status == 204
    assert (await put(client, operator, "app-c", spec("10.0.0.3"))).status == 201
    assert await client.app[keys.STORE].count(CLAIMS) == 2  # moved.edge..., video.edge...


async def test_of_two_racing_creations_one_wins(client: Client, operator: dict[str, str]) -> None:
    racing = await asyncio.gather(
        *(put(client, operator, f"app-{n}", spec(f"10.0.0.{n + 1}")) for n in range(4)),
        client.post(MGMT, json=spec("10.0.0.9"), headers=operator),
    )
    statuses = sorted(r.status for r in racing)
    assert statuses == [201, 409, 409, 409, 409], statuses
    listed = await (await client.get(MGMT, headers=operator)).json()
    assert len(listed) == 1
    winner = listed[0]["appInstanceId"]
    for response in racing:
        if response.status == 409:
            assert f"'{winner}'" in (await response.json())["detail"]


async def test_one_preferred_instance_shares_a_name_and_answers_it(tmp_path: Path) -> None:
    async with dns_platform(tmp_path) as platform:
        client = platform.client
        assert (await platform.put_instance("app-a", **spec("10.0.0.1"))).status == 201
        preferred = await new_app(client, OPERATOR, "app-p", **spec("10.0.0.2", dnsPreferred=True))
        shown = await (await client.get(f"{MGMT}/app-p", headers=OPERATOR)).json()
        SPEC.check(f"{MGMT}/{{appInstanceId}}", "get", 200, shown)
        assert shown["dnsPreferred"] is True
        assert await platform.addresses(NAME) == {"10.0.0.2"}

        # A third claimant may join (one preferred among them); a second preferred may not.
        assert (await platform.put_instance("app-c", **spec("10.0.0.3"))).status == 201
        second = await platform.put_instance("app-q", **spec("10.0.0.4", dnsPreferred=True))
        assert "'app-p'" in (await problem(second, 409))["detail"]
        unmark = await platform.put_instance("app-p", **spec("10.0.0.2"))
        await problem(unmark, 409)

        # Without an ACTIVE rule of the preferred instance, the others answer.
        url = f"{MP1}/app-p/dns_rules/dns1"
        body = dns_rule("dns1", NAME, "10.0.0.2", state="INACTIVE")
        off = await client.put(url, json=body, headers=preferred.headers)
        assert off.status == 200

        async def others() -> bool:
            return await platform.addresses(NAME) == {"10.0.0.1", "10.0.0.3"}

        await until(others)
        on = await client.put(url, json={**body, "state": "ACTIVE"}, headers=preferred.headers)
        assert on.status == 200

        async def preferred_again() -> bool:
            return await platform.addresses(NAME) == {"10.0.0.2"}

        await until(preferred_again)

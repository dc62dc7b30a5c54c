"""Bandwidth Management (ETSI GS MEC 015) over HTTP on SQLite and Redis: allocations, their
owner rule, validation, the data plane following them, and removal with the instance."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from fixtures.apps import new_app
from fixtures.openapi import OpenApiDocument
from fixtures.problems import params, problem
from fixtures.reference import reference_check

from mep.core import keys

Client = TestClient[web.Request, web.Application]
BASE = "/bwm/v1/bw_allocations"
MANY, ONE = "/bw_allocations", "/bw_allocations/{allocationId}"
OURS = OpenApiDocument("mec015-bwm.yaml")


def check(path: str, method: str, status: int, body: Any) -> None:
    OURS.check(path, method, status, body)
    reference_check("mec015-bwm", path, method, status, body)


def allocation(app_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "appInsId": app_id,
        "requestType": 0,
        "fixedAllocation": "10000000",
        "allocationDirection": "00",
        **fields,
    }


SESSION = [{"sourceIp": "10.0.0.7", "dstAddress": "10.10.0.5", "dstPort": ["443"],
            "protocol": "TCP"}]  # fmt: skip


async def test_allocation_lifecycle_reaches_the_data_plane(
    client: Client, operator: dict[str, str]
) -> None:
    app = await new_app(client, operator, "video")
    created = await client.post(BASE, json=allocation("video"), headers=app.headers)
    assert created.status == 201, await created.text()
    body = await created.json()
    check(MANY, "post", 201, body)
    url = created.headers["Location"].removeprefix("http://mep.test")
    assert url == f"{BASE}/{body['allocationId']}"
    assert body["fixedAllocation"] == "10000000"
    assert {"seconds", "nanoSeconds"} <= body["timeStamp"].keys()

    got = await client.get(url, headers=app.headers)
    check(ONE, "get", 200, await got.json())
    replaced = await client.put(
        url,
        json=allocation("video", fixedAllocation="20000000", allocationDirection="10"),
        headers={**app.headers, "If-Match": got.headers["ETag"]},
    )
    assert replaced.status == 200
    check(ONE, "put", 200, await replaced.json())
    stale = await client.put(
        url, json=allocation("video"), headers={**app.headers, "If-Match": got.headers["ETag"]}
    )
    assert stale.status == 412
    patched = await client.patch(
        url, json={"appInsId": "video", "requestType": 0, "fixedAllocation": "5000000"},
        headers=app.headers,
    )  # fmt: skip
    assert patched.status == 200
    after_patch = await patched.json()
    check(ONE, "patch", 200, after_patch)
    assert (after_patch["fixedAllocation"], after_patch["allocationDirection"]) == ("5000000", "10")
    assert (await client.delete(url, headers=app.headers)).status == 204
    assert (await client.get(url, headers=app.headers)).status == 404

    calls = client.app[keys.DATAPLANE].bandwidth
    assert [(c.op, c.allocation.fixed_allocation if c.allocation else None) for c in calls] == [
        ("apply", "10000000"),
        ("apply", "20000000"),
        ("apply", "5000000"),
        ("remove", None),
    ]
    assert {c.allocation_id for c in calls} == {body["allocationId"]}


async def test_an_app_manages_only_its_own_allocations(
    client: Client, operator: dict[str, str]
) -> None:
    mine = await new_app(client, operator, "mine")
    other = await new_app(client, operator, "other")
    refused = await client.post(BASE, json=allocation("other"), headers=mine.headers)
    await problem(refused, 403)
    theirs = await (await client.post(BASE, json=allocation("other"), headers=other.headers)).json()
    ours = await (await client.post(BASE, json=allocation("mine"), headers=mine.headers)).json()
    url = f"{BASE}/{theirs['allocationId']}"
    for method in ("get", "delete"):
        await problem(await client.request(method, url, headers=mine.headers), 403)
    listed = await (await client.get(BASE, headers=mine.headers)).json()
    check(MANY, "get", 200, listed)
    assert [a["allocationId"] for a in listed] == [ours["allocationId"]]
    everyone = await (await client.get(BASE, headers=operator)).json()
    assert len(everyone) == 2
    by_name = await (await client.get(f"{BASE}?app_name=other", headers=operator)).json()
    assert [a["appInsId"] for a in by_name] == ["other"]
    assert (
        await (await client.get(f"{BASE}?app_instance_id=other", headers=mine.headers)).json() == []
    )


async def test_session_allocations_and_the_session_id_query(
    client: Client, operator: dict[str, str]
) -> None:
    app = await new_app(client, operator, "sess")
    session = await client.post(
        BASE, json=allocation("sess", requestType=1, sessionFilter=SESSION), headers=app.headers
    )
    assert session.status == 201
    session_id = (await session.json())["allocationId"]
    whole = await (await client.post(BASE, json=allocation("sess"), headers=app.headers)).json()
    found = await (await client.get(f"{BASE}?session_id={session_id}", headers=app.headers)).json()
    assert [a["allocationId"] for a in found] == [session_id]
    not_a_session = await client.get(
        f"{BASE}?session_id={whole['allocationId']}", headers=app.headers
    )
    assert await not_a_session.json() == []


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        pytest.param(allocation("bad", requestType=2), "/requestType", id="request-type"),
        pytest.param(allocation("bad", allocationDirection="11"), "/allocationDirection",
                     id="direction"),
        pytest.param(allocation("bad", fixedAllocation="10 Mbps"), "/fixedAllocation",
                     id="allocation-unit"),
        pytest.param(allocation("bad", fixedAllocation="0"), "/fixedAllocation", id="zero"),
        pytest.param(allocation("bad", requestType=1), "/sessionFilter", id="session-missing"),
        pytest.param(allocation("bad", sessionFilter=SESSION), "/sessionFilter",
                     id="session-for-app-specific"),
        pytest.param(allocation("bad", requestType=1,
                                sessionFilter=[{"sourceIp": "not-an-ip"}]),
                     "/sessionFilter/0/sourceIp", id="session-address"),
        pytest.param({k: v for k, v in allocation("bad").items() if k != "fixedAllocation"},
                     "/fixedAllocation", id="missing-allocation"),
        pytest.param(allocation("nobody"), "/appInsId", id="unknown-instance"),
    ],
)  # fmt: skip
async def test_bad_allocations_are_400_naming_the_field_and_store_nothing(
    client: Client, operator: dict[str, str], body: dict[str, Any], pointer: str
) -> None:
    await new_app(client, operator, "bad")
    refused = await problem(await client.post(BASE, json=body, headers=operator), 400)
    check(MANY, "post", 400, refused)
    assert pointer in params(refused), refused
    assert await (await client.get(BASE, headers=operator)).json() == []
    assert client.app[keys.DATAPLANE].bandwidth == []


async def test_a_patch_may_not_move_an_allocation_to_another_instance(
    client: Client, operator: dict[str, str]
) -> None:
    app = await new_app(client, operator, "p")
    created = await (await client.post(BASE, json=allocation("p"), headers=app.headers)).json()
    url = f"{BASE}/{created['allocationId']}"
    moved = await client.patch(url, json={"appInsId": "q", "requestType": 0}, headers=operator)
    assert "/appInsId" in params(await problem(moved, 400))
    invalid = await client.patch(
        url, json={"appInsId": "p", "requestType": 1}, headers=app.headers
    )  # session-specific without a session filter
    assert "/sessionFilter" in params(await problem(invalid, 400))
    assert (await (await client.get(url, headers=app.headers)).json())["requestType"] == 0


async def test_allocations_go_with_their_terminated_instance(
    client: Client, operator: dict[str, str]
) -> None:
    app = await new_app(client, operator, "gone")
    created = await (await client.post(BASE, json=allocation("gone"), headers=app.headers)).json()
    deleted = await client.delete("/mep_mgmt/v1/app_instances/gone", headers=operator)
    assert deleted.status == 204
    await client.app[keys.BANDWIDTH_PORT].flush()
    assert await (await client.get(BASE, headers=operator)).json() == []
    last = client.app[keys.DATAPLANE].bandwidth[-1]
    assert (last.op, last.allocation_id) == ("remove", created["allocationId"])

"""A broker stopped mid-operation: the next start resumes the operation, or fails it cleanly."""

from __future__ import annotations

import asyncio
from typing import Any

from fixtures.broker import BrokerUnderTest, bind_body, headers, ids, provision_body
from fixtures.broker import settle as settle_at

from broker.operations import MAX_ATTEMPTS

INSTANCE = "/v2/service_instances/{}"


async def settle(osb: BrokerUnderTest, url: str) -> dict[str, Any]:
    return await settle_at(osb.client, url)


async def test_a_provision_cut_off_by_a_restart_is_resumed(osb: BrokerUnderTest) -> None:
    osb.backend.gates["provision"] = asyncio.Event()
    resp = await osb.client.put(
        INSTANCE.format("i-1"),
        json=provision_body(),
        headers=headers(),
        params={"accepts_incomplete": "true"},
    )
    assert resp.status == 202
    await asyncio.sleep(0.05)
    await osb.restart()  # the running step is cancelled; the record stays "in progress"
    osb.backend.gates["provision"].set()
    body = await settle(osb, INSTANCE.format("i-1"))
    assert body["state"] == "succeeded"
    assert "resumed" in body["description"]
    assert osb.backend.calls.count("provision") == 2
    assert (await osb.client.get(INSTANCE.format("i-1"), headers=headers())).status == 200


async def test_a_bind_cut_off_by_a_restart_gives_the_same_credentials(
    osb: BrokerUnderTest,
) -> None:
    resp = await osb.client.put(INSTANCE.format("i-2"), json=provision_body(), headers=headers())
    assert resp.status == 201
    osb.backend.gates["bind"] = asyncio.Event()
    url = INSTANCE.format("i-2") + "/service_bindings/b-2"
    assert (
        await osb.client.put(
            url, json=bind_body(), headers=headers(), params={"accepts_incomplete": "true"}
        )
    ).status == 202
    await asyncio.sleep(0.05)
    password_first_try = osb.backend.users["u-b-2"][1]
    await osb.restart()
    osb.backend.gates["bind"].set()
    assert (await settle(osb, url))["state"] == "succeeded"
    creds = (await (await osb.client.get(url, headers=headers())).json())["credentials"]
    assert creds["password"] == password_first_try


async def test_an_operation_that_keeps_dying_is_given_up_and_undone(osb: BrokerUnderTest) -> None:
    osb.backend.gates["provision"] = asyncio.Event()
    resp = await osb.client.put(
        INSTANCE.format("i-3"),
        json=provision_body(),
        headers=headers(),
        params={"accepts_incomplete": "true"},
    )
    assert resp.status == 202
    for _ in range(MAX_ATTEMPTS):
        await asyncio.sleep(0.05)
        await osb.restart()
    body = await settle(osb, INSTANCE.format("i-3"))
    assert body["state"] == "failed"
    assert "given up" in body["description"]
    assert "nothing was left behind" in body["description"]
    assert "i-3" not in osb.backend.instances
    delete = await osb.client.delete(INSTANCE.format("i-3"), headers=headers(), params=ids())
    assert delete.status == 200

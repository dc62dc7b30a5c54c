"""Provision, update, deprovision, fetch and last_operation: the OSB rules over a fake backend."""

from __future__ import annotations

import asyncio
from typing import Any

from fixtures.broker import (
    PLAN_LARGE,
    PLAN_SLOW,
    PLAN_SMALL,
    SERVICE_ID,
    BrokerUnderTest,
    headers,
    ids,
    provision_body,
)
from fixtures.broker import settle as settle_at

from broker.errors import ASYNC_REQUIRED, CONCURRENCY

URL = "/v2/service_instances/{}"


async def put(osb: BrokerUnderTest, iid: str, body: dict[str, Any], **query: str) -> Any:
    return await osb.client.put(URL.format(iid), json=body, headers=headers(), params=query)


async def poll(osb: BrokerUnderTest, iid: str, operation: str | None = None) -> Any:
    params = {**ids(), **({"operation": operation} if operation else {})}
    return await osb.client.get(
        URL.format(iid) + "/last_operation", headers=headers(), params=params
    )


async def settle(osb: BrokerUnderTest, iid: str, operation: str | None = None) -> dict[str, Any]:
    return await settle_at(osb.client, URL.format(iid), operation)


async def test_sync_provision_then_identical_resend_then_conflict(osb: BrokerUnderTest) -> None:
    first = await put(osb, "i-1", provision_body(parameters={"size": 2}))
    assert first.status == 201
    assert await first.json() == {}
    assert "i-1" in osb.backend.instances
    again = await put(osb, "i-1", provision_body(parameters={"size": 2}))
    assert again.status == 200
    different = await put(osb, "i-1", provision_body(parameters={"size": 3}))
    assert different.status == 409
    assert (await different.json())["description"]
    other_plan = await put(osb, "i-1", provision_body(PLAN_LARGE, parameters={"size": 2}))
    assert other_plan.status == 409


async def test_async_provision_resend_gets_the_same_operation(osb: BrokerUnderTest) -> None:
    gate = osb.backend.gates["provision"] = asyncio.Event()
    first = await put(osb, "i-2", provision_body(), accepts_incomplete="true")
    assert first.status == 202
    operation = (await first.json())["operation"]
    again = await put(osb, "i-2", provision_body(), accepts_incomplete="true")
    assert again.status == 202
    assert (await again.json())["operation"] == operation
    polled = await poll(osb, "i-2", operation)
    assert polled.status == 200
    assert (await polled.json())["state"] == "in progress"
    assert polled.headers["Retry-After"] == "3"
    # Fetching while provisioning is 404 (spec); a second mutation is ConcurrencyError.
    fetch = await osb.client.get(URL.format("i-2"), headers=headers())
    assert fetch.status == 404
    delete = await osb.client.delete(URL.format("i-2"), headers=headers(), params=ids())
    assert delete.status == 422
    assert await delete.json() == {"error": "ConcurrencyError", "description": CONCURRENCY}
    gate.set()
    assert (await settle(osb, "i-2", operation))["state"] == "succeeded"
    done = await put(osb, "i-2", provision_body(), accepts_incomplete="true")
    assert done.status == 200
    fetched = await osb.client.get(URL.format("i-2"), headers=headers())
    assert fetched.status == 200
    assert await fetched.json() == {
        "service_id": SERVICE_ID,
        "plan_id": PLAN_SMALL,
        "parameters": {},
        "maintenance_info": {"version": "2.1.0"},
        "metadata": {"labels": {}, "attributes": {}},
    }


async def test_polls_with_operation_provision_or_none_are_answered(osb: BrokerUnderTest) -> None:
    assert (await put(osb, "i-3", provision_body(), accepts_incomplete="true")).status == 202
    for op in (None, "provision", "no-such-op"):
        assert (await settle(osb, "i-3", op))["state"] == "succeeded"
    unknown = await poll(osb, "never-made")
    assert unknown.status == 404


async def test_async_only_plan_needs_accepts_incomplete(osb: BrokerUnderTest) -> None:
    for query in ({}, {"accepts_incomplete": "false"}):
        resp = await put(osb, "i-4", provision_body(PLAN_SLOW), **query)
        assert resp.status == 422
        assert await resp.json() == {"error": "AsyncRequired", "description": ASYNC_REQUIRED}
    assert osb.backend.calls == []
    assert (
        await put(osb, "i-4", provision_body(PLAN_SLOW), accepts_incomplete="true")
    ).status == 202


async def test_bad_requests_are_400_and_leave_nothing(osb: BrokerUnderTest) -> None:
    cases = [
        (provision_body(service_id="nope"), "service_id"),
        (provision_body(plan_id="nope"), "plan_id"),
        (
            {k: v for k, v in provision_body().items() if k != "organization_guid"},
            "organization_guid",
        ),
        (provision_body(space_guid=""), "space_guid"),
        (provision_body(parameters={"size": 99}), "parameters.size"),
        (provision_body(parameters={"colour": "red"}), "parameters.colour"),
        (provision_body(parameters="size=2"), "parameters"),
    ]
    for body, named in cases:
        resp = await put(osb, "i-bad", body)
        assert resp.status == 400, body
        assert named in (await resp.json())["description"], named
    bad_json = await osb.client.put(URL.format("i-bad"), data=b"[1,", headers=headers())
    assert bad_json.status == 400
    array = await osb.client.put(URL.format("i-bad"), json=[1], headers=headers())
    assert array.status == 400
    flag = await put(osb, "i-bad", provision_body(), accepts_incomplete="yes")
    assert flag.status == 400
    assert osb.backend.calls == []
    assert (await poll(osb, "i-bad")).status == 404


async def test_maintenance_info(osb: BrokerUnderTest) -> None:
    stale = await put(osb, "i-5", provision_body(maintenance_info={"version": "1.0.0"}))
    assert stale.status == 422
    assert (await stale.json())["error"] == "MaintenanceInfoConflict"
    # Generated clients send an empty object for "not given".
    lenient = await put(osb, "i-5", provision_body(maintenance_info={}))
    assert lenient.status == 201
    current = await put(osb, "i-6", provision_body(maintenance_info={"version": "2.1.0"}))
    assert current.status == 201
    patch = await osb.client.patch(
        URL.format("i-6"),
        json={"service_id": SERVICE_ID, "maintenance_info": {"version": "9.9.9"}},
        headers=headers(),
    )
    assert patch.status == 422
    assert (await patch.json())["error"] == "MaintenanceInfoConflict"


async def test_update_plan_and_parameters(osb: BrokerUnderTest) -> None:
    assert (await put(osb, "i-7", provision_body(parameters={"size": 1}))).status == 201
    noop = await osb.client.patch(
        URL.format("i-7"),
        json={"service_id": SERVICE_ID, "plan_id": PLAN_SMALL, "previous_values": {}},
        headers=headers(),
    )
    assert noop.status == 200
    assert await noop.json() == {}
    assert "update" not in osb.backend.calls
    change = await osb.client.patch(
        URL.format("i-7"),
        json={"service_id": SERVICE_ID, "plan_id": PLAN_LARGE, "parameters": {"size": 5}},
        headers=headers(),
        params={"accepts_incomplete": "true"},
    )
    assert change.status == 202
    operation = (await change.json())["operation"]
    assert (await settle(osb, "i-7", operation))["state"] == "succeeded"
    assert osb.backend.instances["i-7"] == {"plan": PLAN_LARGE, "parameters": {"size": 5}}
    fetched = await (await osb.client.get(URL.format("i-7"), headers=headers())).json()
    assert fetched["plan_id"] == PLAN_LARGE
    assert fetched["parameters"] == {"size": 5}
    # The provision as first sent now differs from the instance: a re-send is a conflict.
    assert (await put(osb, "i-7", provision_body(parameters={"size": 1}))).status == 409


async def test_failed_update_changes_nothing(osb: BrokerUnderTest) -> None:
    assert (await put(osb, "i-8", provision_body())).status == 201
    osb.backend.fail.add("update")
    resp = await osb.client.patch(
        URL.format("i-8"),
        json={"service_id": SERVICE_ID, "plan_id": PLAN_LARGE},
        headers=headers(),
        params={"accepts_incomplete": "true"},
    )
    body = await settle(osb, "i-8", (await resp.json())["operation"])
    assert body["state"] == "failed"
    assert body["instance_usable"] is True
    assert body["update_repeatable"] is True
    assert "refused update" in body["description"]
    fetched = await (await osb.client.get(URL.format("i-8"), headers=headers())).json()
    assert fetched["plan_id"] == PLAN_SMALL


async def test_update_of_unknown_instance_and_bad_fields(osb: BrokerUnderTest) -> None:
    missing = await osb.client.patch(
        URL.format("nobody"), json={"service_id": SERVICE_ID}, headers=headers()
    )
    assert missing.status == 404
    assert (await put(osb, "i-9", provision_body())).status == 201
    bad = await osb.client.patch(
        URL.format("i-9"),
        json={"service_id": SERVICE_ID, "parameters": {"size": "big"}},
        headers=headers(),
    )
    assert bad.status == 400
    assert "parameters.size" in (await bad.json())["description"]
    no_service = await osb.client.patch(URL.format("i-9"), json={}, headers=headers())
    assert no_service.status == 400


async def test_sync_deprovision_then_gone(osb: BrokerUnderTest) -> None:
    assert (await put(osb, "i-10", provision_body())).status == 201
    missing_ids = await osb.client.delete(URL.format("i-10"), headers=headers())
    assert missing_ids.status == 400
    assert "service_id" in (await missing_ids.json())["description"]
    deleted = await osb.client.delete(URL.format("i-10"), headers=headers(), params=ids())
    assert deleted.status == 200
    assert await deleted.json() == {}
    assert "i-10" not in osb.backend.instances
    again = await osb.client.delete(URL.format("i-10"), headers=headers(), params=ids())
    assert again.status == 410
    assert (await osb.client.get(URL.format("i-10"), headers=headers())).status == 404
    never = await osb.client.delete(URL.format("never"), headers=headers(), params=ids())
    assert never.status == 410


async def test_async_deprovision_polls_end_in_410(osb: BrokerUnderTest) -> None:
    assert (await put(osb, "i-11", provision_body())).status == 201
    gate = osb.backend.gates["deprovision"] = asyncio.Event()
    first = await osb.client.delete(
        URL.format("i-11"), headers=headers(), params={**ids(), "accepts_incomplete": "true"}
    )
    assert first.status == 202
    operation = (await first.json())["operation"]
    resent = await osb.client.delete(
        URL.format("i-11"), headers=headers(), params={**ids(), "accepts_incomplete": "true"}
    )
    assert resent.status == 202
    assert (await resent.json())["operation"] == operation
    assert (await poll(osb, "i-11", operation)).status == 200
    gate.set()
    assert await settle(osb, "i-11", operation) == {"status": 410}
    assert await settle(osb, "i-11") == {"status": 410}


async def test_failed_provision_is_undone_and_a_delete_then_succeeds(
    osb: BrokerUnderTest,
) -> None:
    osb.backend.fail.add("provision")
    sync = await put(osb, "i-12", provision_body())
    assert sync.status == 502
    assert "refused provision" in (await sync.json())["description"]
    # The half-made instance was removed by the undo, and the record says failed.
    assert "i-12" not in osb.backend.instances
    assert (await settle(osb, "i-12"))["state"] == "failed"
    assert (await osb.client.get(URL.format("i-12"), headers=headers())).status == 404
    # Orphan mitigation: the platform deletes; that succeeds.
    delete = await osb.client.delete(URL.format("i-12"), headers=headers(), params=ids())
    assert delete.status == 200
    # And a new provision with the same id works.
    assert (await put(osb, "i-12", provision_body())).status == 201


async def test_concurrent_identical_provisions_make_one_instance(osb: BrokerUnderTest) -> None:
    gate = osb.backend.gates["provision"] = asyncio.Event()
    sends = [
        asyncio.ensure_future(put(osb, "i-13", provision_body(), accepts_incomplete="true"))
        for _ in range(6)
    ]
    answers = await asyncio.gather(*sends)
    assert {r.status for r in answers} == {202}
    assert len({(await r.json())["operation"] for r in answers}) == 1
    gate.set()
    assert (await settle(osb, "i-13"))["state"] == "succeeded"
    assert osb.backend.calls.count("provision") == 1


async def test_context_only_update(osb: BrokerUnderTest) -> None:
    assert (await put(osb, "i-14", provision_body())).status == 201
    resp = await osb.client.patch(
        URL.format("i-14"),
        json={"service_id": SERVICE_ID, "context": {"platform": "kubernetes", "namespace": "b"}},
        headers=headers(),
    )
    assert resp.status == 200
    assert "update" not in osb.backend.calls


async def test_a_timed_out_provision_asks_for_a_delete_to_be_sure(osb: BrokerUnderTest) -> None:
    osb.backend.gates["provision"] = asyncio.Event()  # never opened: the step hangs
    resp = await put(osb, "i-15", provision_body(), accepts_incomplete="true")
    assert resp.status == 202
    body = await settle(osb, "i-15")
    assert body["state"] == "failed"
    assert "did not finish within 2 s" in body["description"]
    # The undo ran, but a backend that timed out may still apply what it had received.
    assert "delete the resource to be sure" in body["description"]
    assert "nothing was left behind" not in body["description"]
    assert "i-15" not in osb.backend.instances

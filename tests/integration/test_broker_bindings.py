"""Bind (sync and async), rotation, unbind, fetch and last_operation over a fake backend."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fixtures.broker import (
    APP_PLAN,
    APP_SERVICE_ID,
    BrokerUnderTest,
    bind_body,
    headers,
    ids,
    provision_body,
)
from fixtures.broker import settle as settle_at

from broker.errors import CONCURRENCY, REQUIRES_APP
from broker.records import BINDINGS, binding_key
from mep.core import keys

INSTANCE = "/v2/service_instances/{}"
BINDING = INSTANCE + "/service_bindings/{}"


async def provisioned(osb: BrokerUnderTest, iid: str, body: dict[str, Any] | None = None) -> None:
    resp = await osb.client.put(
        INSTANCE.format(iid), json=body or provision_body(), headers=headers()
    )
    assert resp.status == 201


async def bind(osb: BrokerUnderTest, iid: str, bid: str, body: dict[str, Any], **q: str) -> Any:
    return await osb.client.put(BINDING.format(iid, bid), json=body, headers=headers(), params=q)


async def settle(osb: BrokerUnderTest, iid: str, bid: str) -> dict[str, Any]:
    return await settle_at(osb.client, BINDING.format(iid, bid))


async def test_sync_bind_returns_flat_credentials_and_resend_returns_them_again(
    osb: BrokerUnderTest,
) -> None:
    await provisioned(osb, "i-1")
    first = await bind(osb, "i-1", "b-1", bind_body())
    assert first.status == 201
    body = await first.json()
    creds = body["credentials"]
    assert all(isinstance(v, str) for v in creds.values())
    assert creds["username"] == "u-b-1"
    assert body["endpoints"] == [{"host": "db.test", "ports": ["7000"], "protocol": "tcp"}]
    again = await bind(osb, "i-1", "b-1", bind_body())
    assert again.status == 200
    assert (await again.json())["credentials"] == creds
    different = await bind(osb, "i-1", "b-1", bind_body(parameters={"read_only": True}))
    assert different.status == 409
    fetched = await osb.client.get(BINDING.format("i-1", "b-1"), headers=headers())
    assert fetched.status == 200
    assert (await fetched.json())["credentials"] == creds


async def test_each_binding_gets_its_own_credentials(osb: BrokerUnderTest) -> None:
    await provisioned(osb, "i-2")
    a = (await (await bind(osb, "i-2", "b-a", bind_body())).json())["credentials"]
    b = (await (await bind(osb, "i-2", "b-b", bind_body())).json())["credentials"]
    assert a["username"] != b["username"]
    assert a["password"] != b["password"]


async def test_async_bind_has_no_credentials_until_done(osb: BrokerUnderTest) -> None:
    await provisioned(osb, "i-3")
    gate = osb.backend.gates["bind"] = asyncio.Event()
    first = await bind(osb, "i-3", "b-3", bind_body(), accepts_incomplete="true")
    assert first.status == 202
    body = await first.json()
    assert set(body) == {"operation"}
    resent = await bind(osb, "i-3", "b-3", bind_body(), accepts_incomplete="true")
    assert resent.status == 202
    assert await resent.json() == body
    assert (await osb.client.get(BINDING.format("i-3", "b-3"), headers=headers())).status == 404
    gate.set()
    assert (await settle(osb, "i-3", "b-3"))["state"] == "succeeded"
    fetched = await osb.client.get(BINDING.format("i-3", "b-3"), headers=headers())
    assert fetched.status == 200
    assert (await fetched.json())["credentials"]["username"] == "u-b-3"


async def test_bind_validation(osb: BrokerUnderTest) -> None:
    missing = await bind(osb, "nobody", "b", bind_body())
    assert missing.status == 404
    await provisioned(osb, "i-4")
    bad_param = await bind(osb, "i-4", "b", bind_body(parameters={"admin": True}))
    assert bad_param.status == 400
    assert "parameters.admin" in (await bad_param.json())["description"]
    no_plan = await bind(osb, "i-4", "b", {"service_id": bind_body()["service_id"]})
    assert no_plan.status == 400
    assert "plan_id" in (await no_plan.json())["description"]
    # Lenient with empty objects from generated clients.
    lenient = await bind(osb, "i-4", "b", bind_body(bind_resource={}, context={}, app_guid=""))
    assert lenient.status == 201
    assert osb.backend.calls.count("bind") == 1


async def test_requires_app(osb: BrokerUnderTest) -> None:
    body = provision_body(service_id=APP_SERVICE_ID, plan_id=APP_PLAN)
    await provisioned(osb, "i-5", body)
    resp = await bind(osb, "i-5", "b-5", {"service_id": APP_SERVICE_ID, "plan_id": APP_PLAN})
    assert resp.status == 422
    assert await resp.json() == {"error": "RequiresApp", "description": REQUIRES_APP}
    ok = await bind(
        osb,
        "i-5",
        "b-5",
        {"service_id": APP_SERVICE_ID, "plan_id": APP_PLAN, "bind_resource": {"app_guid": "a"}},
    )
    assert ok.status == 201


async def test_rotation_keeps_the_predecessor_working(osb: BrokerUnderTest) -> None:
    await provisioned(osb, "i-6")
    old = await (await bind(osb, "i-6", "b-old", bind_body(parameters={"read_only": True}))).json()
    rotated = await bind(osb, "i-6", "b-new", {"predecessor_binding_id": "b-old"})
    assert rotated.status == 201
    new = await rotated.json()
    assert new["credentials"]["username"] != old["credentials"]["username"]
    assert set(osb.backend.users) == {"u-b-old", "u-b-new"}
    fetched = await (await osb.client.get(BINDING.format("i-6", "b-new"), headers=headers())).json()
    assert fetched["parameters"] == {"read_only": True}  # carried over from the predecessor
    unbound = await osb.client.delete(
        BINDING.format("i-6", "b-old"), headers=headers(), params=ids()
    )
    assert unbound.status == 200
    assert set(osb.backend.users) == {"u-b-new"}
    unknown = await bind(osb, "i-6", "b-x", {"predecessor_binding_id": "b-old"})
    assert unknown.status == 400


async def test_unbind(osb: BrokerUnderTest) -> None:
    await provisioned(osb, "i-7")
    assert (await bind(osb, "i-7", "b-7", bind_body())).status == 201
    no_ids = await osb.client.delete(BINDING.format("i-7", "b-7"), headers=headers())
    assert no_ids.status == 400
    gone = await osb.client.delete(BINDING.format("i-7", "b-7"), headers=headers(), params=ids())
    assert gone.status == 200
    assert await gone.json() == {}
    assert osb.backend.users == {}
    again = await osb.client.delete(BINDING.format("i-7", "b-7"), headers=headers(), params=ids())
    assert again.status == 410
    assert (await osb.client.get(BINDING.format("i-7", "b-7"), headers=headers())).status == 404


async def test_async_unbind_polls_end_in_410(osb: BrokerUnderTest) -> None:
    await provisioned(osb, "i-8")
    assert (await bind(osb, "i-8", "b-8", bind_body())).status == 201
    gate = osb.backend.gates["unbind"] = asyncio.Event()
    resp = await osb.client.delete(
        BINDING.format("i-8", "b-8"),
        headers=headers(),
        params={**ids(), "accepts_incomplete": "true"},
    )
    assert resp.status == 202
    # A bind during the unbind of the same binding: ConcurrencyError.
    during = await bind(osb, "i-8", "b-8", bind_body())
    assert during.status == 422
    assert (await during.json())["description"] == CONCURRENCY
    gate.set()
    assert await settle(osb, "i-8", "b-8") == {"status": 410}


async def test_failed_bind_leaves_no_user_and_unbind_then_succeeds(osb: BrokerUnderTest) -> None:
    await provisioned(osb, "i-9")
    osb.backend.fail.add("bind")
    resp = await bind(osb, "i-9", "b-9", bind_body())
    assert resp.status == 502
    assert osb.backend.users == {}
    assert (await settle(osb, "i-9", "b-9"))["state"] == "failed"
    unbind = await osb.client.delete(BINDING.format("i-9", "b-9"), headers=headers(), params=ids())
    assert unbind.status == 200
    assert (await bind(osb, "i-9", "b-9", bind_body())).status == 201


async def test_deprovision_waits_for_binding_operations_and_removes_bindings(
    osb: BrokerUnderTest,
) -> None:
    await provisioned(osb, "i-10")
    gate = osb.backend.gates["bind"] = asyncio.Event()
    assert (await bind(osb, "i-10", "b-10", bind_body(), accepts_incomplete="true")).status == 202
    busy = await osb.client.delete(INSTANCE.format("i-10"), headers=headers(), params=ids())
    assert busy.status == 422
    assert (await busy.json())["error"] == "ConcurrencyError"
    gate.set()
    assert (await settle(osb, "i-10", "b-10"))["state"] == "succeeded"
    deleted = await osb.client.delete(INSTANCE.format("i-10"), headers=headers(), params=ids())
    assert deleted.status == 200
    assert osb.backend.users == {}
    assert (await osb.client.get(BINDING.format("i-10", "b-10"), headers=headers())).status == 404
    late = await osb.client.delete(BINDING.format("i-10", "b-10"), headers=headers(), params=ids())
    assert late.status == 410


async def test_bind_to_an_instance_being_provisioned_is_refused(osb: BrokerUnderTest) -> None:
    gate = osb.backend.gates["provision"] = asyncio.Event()
    resp = await osb.client.put(
        INSTANCE.format("i-11"),
        json=provision_body(),
        headers=headers(),
        params={"accepts_incomplete": "true"},
    )
    assert resp.status == 202
    early = await bind(osb, "i-11", "b-11", bind_body())
    assert early.status == 422
    gate.set()
    assert (await settle_at(osb.client, INSTANCE.format("i-11")))["state"] == "succeeded"
    assert (await bind(osb, "i-11", "b-11", bind_body())).status == 201


async def test_binding_secrets_are_sealed_in_the_store(osb: BrokerUnderTest) -> None:
    await provisioned(osb, "i-12")
    body = await (await bind(osb, "i-12", "b-12", bind_body())).json()
    password = body["credentials"]["password"]
    store = osb.client.app[keys.STORE]
    doc = await store.get(BINDINGS, binding_key("i-12", "b-12"))
    assert doc is not None
    raw = orjson.dumps(doc.data).decode()
    assert password not in raw
    assert body["credentials"]["uri"] not in raw
    assert raw.count("sealed:v1:") == 2  # the password, and the credentials

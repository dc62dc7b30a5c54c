"""The broker over HTTP with the real backends, as Kubernetes or Cloud Foundry would drive it:
provision, bind, use the credentials for real, rotate, unbind, deprovision."""

from __future__ import annotations

import asyncio
import importlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from fixtures.broker import BEARER, PASSWORD, USERNAME, headers
from fixtures.providers import Harness

from broker.api.keys import RUNNER, BrokerAuth
from broker.app import create_broker_app
from broker.sealing import Sealer
from broker.services.base import Credentials, InstanceSpec
from broker.settings import BrokerSettings
from mep.core.deps import open_deps
from mep.core.settings import MepSettings

pytestmark = pytest.mark.integration

PUBLIC_URL = "http://mep.test"
ClientFactory = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]

LOCAL = BrokerSettings(
    port=0,
    mysql_url="mysql://root@127.0.0.1:3306",  # type: ignore[arg-type]
    redis_url="redis://127.0.0.1:6379/0",  # type: ignore[arg-type]
    rabbitmq_url="amqp://guest:guest@127.0.0.1:5672",  # type: ignore[arg-type]
    rabbitmq_management_url="http://guest:guest@127.0.0.1:15672",  # type: ignore[arg-type]
)
INSTANCE = "/v2/service_instances/{}"
BINDING = INSTANCE + "/service_bindings/{}"


@pytest.fixture
async def broker(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """The broker as `mep run` composes it from OSB_* settings naming the local servers."""
    settings = MepSettings(data_dir=tmp_path, admin_token=BEARER, public_url=PUBLIC_URL)
    deps = await open_deps(settings)
    client = await aiohttp_client(
        create_broker_app(
            LOCAL,
            deps,
            BrokerAuth(USERNAME, PASSWORD),
            sealer=await Sealer.load_or_create(tmp_path),
            shutdown_timeout=1,
        )
    )
    try:
        yield client
    finally:
        await client.close()
        await deps.close()


@pytest.fixture(params=["mysql", "redis", "rabbitmq"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, Harness]]:
    module = importlib.import_module(f"fixtures.providers.{request.param}")
    opened: Harness = await module.open_harness()
    await opened.provider.open()  # some checks make a second instance of their own
    try:
        yield request.param, opened
    finally:
        await opened.provider.close()
        await opened.close()


async def offering(client: TestClient[web.Request, web.Application], name: str) -> Any:
    catalog = await (await client.get("/v2/catalog", headers=headers())).json()
    return next(s for s in catalog["services"] if s["name"] == name)


def creds(body: dict[str, Any]) -> Credentials:
    return Credentials(body["credentials"])


async def test_catalog_offers_the_three_configured_backends(
    broker: TestClient[web.Request, web.Application],
) -> None:
    catalog = await (await broker.get("/v2/catalog", headers=headers())).json()
    names = {s["name"] for s in catalog["services"]}
    assert names == {"mysql", "redis", "rabbitmq"}
    for service in catalog["services"]:
        for plan in service["plans"]:
            assert plan["schemas"]["service_instance"]["create"]["parameters"]["type"] == "object"


async def test_a_whole_life_on_the_real_backend(
    broker: TestClient[web.Request, web.Application], harness: tuple[str, Harness]
) -> None:
    name, check = harness
    service = await offering(broker, name)
    plan = service["plans"][0]
    ids = {"service_id": service["id"], "plan_id": plan["id"]}
    iid = f"inst-{secrets.token_hex(6)}"
    spec = InstanceSpec(iid, check.provider.offering.plans[0])
    body = {**ids, "organization_guid": "org", "space_guid": "space"}
    try:
        provisioned = await broker.put(
            INSTANCE.format(iid),
            json=body,
            headers=headers(),
            params={"accepts_incomplete": "true"},
        )
        assert provisioned.status in (201, 202)
        if provisioned.status == 202:
            await wait_done(broker, INSTANCE.format(iid), ids)
        if name != "redis":  # a Redis prefix holds nothing until the app writes
            assert await check.exists(spec)
        bound = await broker.put(
            BINDING.format(iid, "b-1"), json={**ids, "app_guid": "app-1"}, headers=headers()
        )
        assert bound.status == 201
        first = await bound.json()
        values = first["credentials"]
        assert all(isinstance(v, str) for v in values.values())
        for key in ("uri", "host", "hostname", "port", "username", "password"):
            assert values[key], key
        assert first["endpoints"]
        await check.use(creds(first))
        assert await check.refused_outside(creds(first))

        # Rotation: a successor with its own user; the predecessor works until unbound.
        rotated = await broker.put(
            BINDING.format(iid, "b-2"), json={"predecessor_binding_id": "b-1"}, headers=headers()
        )
        assert rotated.status == 201
        second = await rotated.json()
        assert second["credentials"]["username"] != values["username"]
        await check.use(creds(second))
        await check.use(creds(first))

        unbound = await broker.delete(BINDING.format(iid, "b-1"), headers=headers(), params=ids)
        assert unbound.status == 200
        assert await check.refused(creds(first))
        await check.use(creds(second))
    finally:
        deleted = await broker.delete(INSTANCE.format(iid), headers=headers(), params=ids)
    assert deleted.status == 200
    assert not await check.exists(spec)
    assert await check.users(spec) == []
    assert await check.refused(creds(second))


async def test_mysql_parameters_reach_the_backend(
    broker: TestClient[web.Request, web.Application],
) -> None:
    service = await offering(broker, "mysql")
    ids = {"service_id": service["id"], "plan_id": service["plans"][0]["id"]}
    iid = f"inst-{secrets.token_hex(6)}"
    refused = await broker.put(
        INSTANCE.format(iid),
        json={**ids, "organization_guid": "o", "space_guid": "s", "parameters": {"charset": "x"}},
        headers=headers(),
    )
    assert refused.status == 400
    assert "parameters.charset" in (await refused.json())["description"]
    made = await broker.put(
        INSTANCE.format(iid),
        json={
            **ids,
            "organization_guid": "o",
            "space_guid": "s",
            "parameters": {"charset": "latin1"},
        },
        headers=headers(),
    )
    assert made.status == 201
    try:
        bound = await broker.put(
            BINDING.format(iid, "ro"),
            json={**ids, "parameters": {"read_only": True}},
            headers=headers(),
        )
        assert bound.status == 201
        values = (await bound.json())["credentials"]
        assert values["jdbcUrl"].startswith("jdbc:mysql://")
        assert values["database"] == values["name"]
    finally:
        assert (
            await broker.delete(INSTANCE.format(iid), headers=headers(), params=ids)
        ).status == 200


async def wait_done(
    client: TestClient[web.Request, web.Application], url: str, ids: dict[str, str]
) -> None:
    for _ in range(500):
        resp = await client.get(url + "/last_operation", headers=headers(), params=ids)
        state = (await resp.json())["state"]
        if state != "in progress":
            assert state == "succeeded"
            return
        await asyncio.sleep(0.02)
    raise AssertionError("operation never finished")


async def test_redis_users_forgotten_by_a_restart_are_bound_again(
    broker: TestClient[web.Request, web.Application],
) -> None:
    harness_module = importlib.import_module("fixtures.providers.redis")
    check = await harness_module.open_harness()
    service = await offering(broker, "redis")
    ids = {"service_id": service["id"], "plan_id": service["plans"][0]["id"]}
    iid = f"inst-{secrets.token_hex(6)}"
    body = {**ids, "organization_guid": "o", "space_guid": "s"}
    try:
        assert (await broker.put(INSTANCE.format(iid), json=body, headers=headers())).status == 201
        bound = await broker.put(BINDING.format(iid, "b"), json=ids, headers=headers())
        credentials = creds(await bound.json())
        # What a Redis restart without an ACL file does to the broker's users:
        await check.admin.execute_command("ACL", "DELUSER", credentials.values["username"])
        assert await check.refused(credentials)
        assert await broker.app[RUNNER].reapply_bindings() >= 1
        await check.use(credentials)
    finally:
        await broker.delete(INSTANCE.format(iid), headers=headers(), params=ids)
        await check.close()

"""Failures injected into the real backends in the middle of a broker operation.

The broker runs in-process with the real providers, each reaching its server (MariaDB, Redis,
the RabbitMQ management API) through a :class:`~fixtures.proxy.Proxy` the test steers: the
backend goes down between two statements of a provision or a bind, a connection is killed
mid-statement, or the backend stalls. Whatever happens, a failed creation must leave nothing on
the server once it is undone, or once a later DELETE ran with the backend back, and
``last_operation`` must tell which. What is left is checked from outside, as the servers'
administrator, with the harnesses of ``fixtures.providers``.

A Redis provision makes nothing on the server (an instance is a key prefix), so for Redis the
failures are injected into a bind only.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient
from fixtures.broker import PASSWORD, USERNAME, headers
from fixtures.providers import mysql as mysql_harness
from fixtures.providers import rabbitmq as rabbitmq_harness
from fixtures.providers import redis as redis_harness
from fixtures.proxy import Proxy

from broker.api.keys import BrokerAuth
from broker.app import create_broker_app
from broker.sealing import Sealer
from broker.services import Connecting
from broker.services.base import InstanceSpec, Provider
from broker.services.mysql import MySQLProvider
from broker.services.rabbitmq import RabbitMQProvider
from broker.services.redis import RedisProvider
from broker.settings import BrokerSettings
from mep.core.deps import open_deps
from mep.core.settings import MepSettings

pytestmark = pytest.mark.integration

OPERATOR_TOKEN = "operator-test-token"
PUBLIC_URL = "http://mep.test"

ClientFactory = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]

#: Seconds a backend step may take (``OSB_OPERATION_TIMEOUT``): small, so a stall fails fast.
TIMEOUT = 2.0
#: Seconds a test waits for an outcome before it gives up.
DEADLINE = 15.0

INSTANCE = "/v2/service_instances/{}"
BINDING = INSTANCE + "/service_bindings/{}"

CLEANUP_FAILED = "removing what was made failed too"
CLEANED_UP = "nothing was left behind"


@dataclass(frozen=True)
class Step:
    """Where a failure is injected: when the client sends ``pattern`` (before it reaches the
    server, or once the server answered it, with ``after_reply``)."""

    pattern: bytes
    after_reply: bool = False


@dataclass(frozen=True)
class Backend:
    name: str
    target: tuple[str, int]
    #: The provider, reaching the backend through the proxy on this port.
    through: Callable[[int], Provider]
    open_harness: Callable[[], Awaitable[Any]]
    #: The provision's failure point; ``None``: a provision makes nothing on the server.
    provision: Step | None
    #: The bind's failure point: after the user is made, before it gets its rights.
    bind: Step
    #: The client library sends a request again on a new connection when the first one was
    #: killed, so a connection killed with the server up does not fail the operation.
    resends: bool


BACKENDS = {
    "mysql": Backend(
        "mysql",
        ("127.0.0.1", 3306),
        lambda port: MySQLProvider(f"mysql://root@127.0.0.1:{port}"),
        mysql_harness.open_harness,
        # One statement: the server makes the database, its answer is lost.
        provision=Step(b"\x03CREATE DATABASE", after_reply=True),
        # \x03 is COM_QUERY: the GRANT statement, not the REVOKE ... GRANT OPTION before it.
        bind=Step(b"\x03GRANT "),
        resends=False,
    ),
    "redis": Backend(
        "redis",
        ("127.0.0.1", 6379),
        lambda port: RedisProvider(f"redis://127.0.0.1:{port}/0"),
        redis_harness.open_harness,
        provision=None,
        # One command: the server makes the user, its answer is lost.
        bind=Step(b"SETUSER", after_reply=True),
        # redis-py retries a command on a connection error only when told to (retry_on_error).
        resends=False,
    ),
    "rabbitmq": Backend(
        "rabbitmq",
        ("127.0.0.1", 15672),
        lambda port: RabbitMQProvider(
            rabbitmq_harness.AMQP_URL, f"http://guest:guest@127.0.0.1:{port}"
        ),
        rabbitmq_harness.open_harness,
        # The vhost is made; granting the broker's account on it is cut off.
        provision=Step(b"PUT /api/permissions/"),
        # The user is made; granting it the vhost is cut off.
        bind=Step(b"PUT /api/permissions/"),
        resends=True,  # aiohttp sends an idempotent request again on a new connection
    ),
}
WITH_PROVISION = [name for name, backend in BACKENDS.items() if backend.provision is not None]


@dataclass
class Rig:
    """The broker over one real backend behind a proxy, and the means to look at the backend."""

    backend: Backend
    proxy: Proxy
    harness: Any
    client: TestClient[web.Request, web.Application]
    made: list[str] = field(default_factory=list)

    @property
    def ids(self) -> dict[str, str]:
        offering = self.harness.provider.offering
        return {"service_id": offering.id, "plan_id": offering.plans[0].id}

    def spec(self, instance_id: str) -> InstanceSpec:
        return InstanceSpec(instance_id, self.harness.provider.offering.plans[0])

    def new_instance(self) -> str:
        instance_id = f"failure-{self.backend.name}-{secrets.token_hex(6)}"
        self.made.append(instance_id)
        return instance_id

    async def provision(self, instance_id: str, *, accepts_incomplete: bool = False) -> Any:
        body = {
            **self.ids,
            "organization_guid": "org-1",
            "space_guid": "space-1",
            "context": {"platform": "kubernetes", "namespace": "apps"},
        }
        params = {"accepts_incomplete": "true"} if accepts_incomplete else {}
        return await self.client.put(
            INSTANCE.format(instance_id), json=body, headers=headers(), params=params
        )

    async def bind(
        self, instance_id: str, binding_id: str, *, accepts_incomplete: bool = False
    ) -> Any:
        params = {"accepts_incomplete": "true"} if accepts_incomplete else {}
        return await self.client.put(
            BINDING.format(instance_id, binding_id),
            json={**self.ids, "bind_resource": {"app_guid": "app-1"}},
            headers=headers(),
            params=params,
        )

    async def delete(self, instance_id: str, binding_id: str | None = None) -> ClientResponse:
        url = (
            INSTANCE.format(instance_id)
            if binding_id is None
            else BINDING.format(instance_id, binding_id)
        )
        return await self.client.delete(url, headers=headers(), params=self.ids)

    async def last_operation(
        self, instance_id: str, binding_id: str | None = None
    ) -> tuple[ClientResponse, dict[str, Any]]:
        url = (
            INSTANCE.format(instance_id)
            if binding_id is None
            else BINDING.format(instance_id, binding_id)
        )
        resp = await self.client.get(url + "/last_operation", headers=headers(), params=self.ids)
        assert resp.status == 200, await resp.text()
        body: dict[str, Any] = await resp.json()
        return resp, body

    async def settle(self, instance_id: str, binding_id: str | None = None) -> dict[str, Any]:
        """The operation's outcome, polled until it is no longer in progress."""
        async with asyncio.timeout(DEADLINE):
            while True:
                _, body = await self.last_operation(instance_id, binding_id)
                if body["state"] != "in progress":
                    return body
                await asyncio.sleep(0.05)

    async def exists(self, instance_id: str) -> bool:
        exists: bool = await self.harness.exists(self.spec(instance_id))
        return exists

    async def users(self, instance_id: str) -> list[str]:
        users: list[str] = await self.harness.users(self.spec(instance_id))
        return users

    async def assert_nothing_left(self, instance_id: str) -> None:
        assert not await self.exists(instance_id), f"{self.backend.name}: instance left behind"
        assert await self.users(instance_id) == [], f"{self.backend.name}: users left behind"

    async def assert_removed(self, instance_id: str, binding_id: str | None = None) -> None:
        """A DELETE with the backend up answers 200 and removes what is left."""
        resp = await self.delete(instance_id, binding_id)
        assert resp.status == 200, await resp.text()
        if binding_id is None:
            await self.assert_nothing_left(instance_id)
        else:
            assert await self.users(instance_id) == []

    async def until_quiet(self) -> None:
        """Wait until every connection the proxy forwards has ended: what a stall held back
        (statements of calls that timed out meanwhile) has reached the server, and been run,
        before the test goes on."""
        async with asyncio.timeout(DEADLINE):
            await self.proxy.quiet()


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Backend:
    return BACKENDS[request.param]


@pytest.fixture
async def rig(
    backend: Backend, tmp_path: Path, aiohttp_client: ClientFactory
) -> AsyncIterator[Rig]:
    async with contextlib.AsyncExitStack() as stack:
        settings = MepSettings(data_dir=tmp_path, admin_token=OPERATOR_TOKEN, public_url=PUBLIC_URL)
        deps = await open_deps(settings)
        stack.push_async_callback(deps.close)
        harness = await backend.open_harness()
        stack.push_async_callback(harness.close)
        # The harness's own provider reaches the server directly: it removes, after the test,
        # whatever the broker may have left.
        await harness.provider.open()
        stack.push_async_callback(harness.provider.close)
        proxy = await Proxy(*backend.target).start()
        stack.push_async_callback(proxy.close)
        provider = Connecting(backend.through(proxy.port))  # as `mep run` wraps it
        stack.push_async_callback(provider.close)
        app = create_broker_app(
            BrokerSettings(port=0, operation_timeout=TIMEOUT, operation_lease=30.0, retry_after=1),
            deps,
            BrokerAuth(USERNAME, PASSWORD, bearer=OPERATOR_TOKEN),
            sealer=await Sealer.load_or_create(tmp_path),
            providers=[provider],
            shutdown_timeout=TIMEOUT,
        )
        client = await aiohttp_client(app)
        stack.push_async_callback(client.close)
        rig = Rig(backend, proxy, harness, client)

        async def remove_leftovers() -> None:
            for instance_id in rig.made:
                await harness.provider.deprovision(rig.spec(instance_id))

        stack.push_async_callback(remove_leftovers)
        stack.callback(proxy.restore)  # first of all: let the broker's clean-up through
        yield rig


# -- the backend goes down midway ---------------------------------------------------------------


@pytest.mark.parametrize("backend", WITH_PROVISION, indirect=True)
async def test_a_provision_cut_off_by_the_backend_going_down_leaves_nothing(rig: Rig) -> None:
    step = rig.backend.provision
    assert step is not None
    instance = rig.new_instance()
    fired = rig.proxy.cut_on(step.pattern, after_reply=step.after_reply)

    resp = await rig.provision(instance)
    assert resp.status == 502, await resp.text()
    assert fired.is_set(), "the backend was not cut where the test meant it to be"
    _, last = await rig.last_operation(instance)
    assert last["state"] == "failed"
    # The undo ran while the backend was still down: the platform is told to DELETE.
    assert CLEANUP_FAILED in last["description"], last

    rig.proxy.restore()
    assert await rig.exists(instance), "the cut came after the backend made the instance"
    await rig.assert_removed(instance)


async def test_a_bind_cut_off_between_two_statements_leaves_no_user(rig: Rig) -> None:
    instance, binding = rig.new_instance(), "b-1"
    assert (await rig.provision(instance)).status == 201
    step = rig.backend.bind
    fired = rig.proxy.cut_on(step.pattern, after_reply=step.after_reply)

    resp = await rig.bind(instance, binding)
    assert resp.status == 502, await resp.text()
    assert fired.is_set(), "the backend was not cut where the test meant it to be"
    _, last = await rig.last_operation(instance, binding)
    assert last["state"] == "failed"
    assert CLEANUP_FAILED in last["description"], last
    fetched = await rig.client.get(BINDING.format(instance, binding), headers=headers())
    assert fetched.status == 404

    rig.proxy.restore()
    assert await rig.users(instance), "the cut came after the backend made the user"
    await rig.assert_removed(instance, binding)
    await rig.assert_removed(instance)


async def test_a_delete_with_the_backend_down_fails_and_keeps_the_instance(rig: Rig) -> None:
    instance, binding = rig.new_instance(), "b-1"
    assert (await rig.provision(instance)).status == 201
    assert (await rig.bind(instance, binding)).status == 201
    rig.proxy.cut()

    resp = await rig.delete(instance)
    assert resp.status == 502, await resp.text()
    _, last = await rig.last_operation(instance)
    assert last["state"] == "failed"
    assert last["instance_usable"] is True
    fetched = await rig.client.get(INSTANCE.format(instance), headers=headers())
    assert fetched.status == 200

    rig.proxy.restore()
    await rig.assert_removed(instance)
    gone = await rig.client.get(BINDING.format(instance, binding), headers=headers())
    assert gone.status == 404


# -- a connection killed mid-statement, the backend up --------------------------------------


KILLED = [
    pytest.param(name, step, id=f"{name}-{step}")
    for name, backend in BACKENDS.items()
    for step in ("provision", "bind")
    if step == "bind" or backend.provision is not None
]


@pytest.mark.parametrize(("backend", "step"), KILLED, indirect=["backend"])
async def test_a_connection_killed_midway_is_resent_or_undone_at_once(rig: Rig, step: str) -> None:
    instance, binding = rig.new_instance(), "b-1"
    if step == "bind":
        assert (await rig.provision(instance)).status == 201
    where = rig.backend.provision if step == "provision" else rig.backend.bind
    assert where is not None
    fired = rig.proxy.cut_on(where.pattern, after_reply=where.after_reply, down=False)

    if step == "provision":
        resp = await rig.provision(instance)
    else:
        resp = await rig.bind(instance, binding)
    assert fired.is_set(), "no connection was killed where the test meant it to be"
    if rig.backend.resends:
        # The client sent the statement again on a new connection; every step converges.
        assert resp.status == 201, await resp.text()
    else:
        # The broker undid it at once: the backend was up for the clean-up.
        assert resp.status == 502, await resp.text()
        _, last = await rig.last_operation(instance, binding if step == "bind" else None)
        assert last["state"] == "failed"
        assert last["description"].endswith(CLEANED_UP), last
        if step == "provision":
            await rig.assert_nothing_left(instance)
        else:
            assert await rig.users(instance) == []

    if step == "bind":
        await rig.assert_removed(instance, binding)
    await rig.assert_removed(instance)


# -- a stalled backend ----------------------------------------------------------------------


async def test_an_async_creation_on_a_stalled_backend_fails_after_the_timeout(rig: Rig) -> None:
    """Provision (a bind for Redis, whose provision makes nothing) while the backend stops
    answering mid-statement: ``in progress`` until the operation timeout, then ``failed``."""
    instance, binding = rig.new_instance(), None
    step = rig.backend.provision
    if step is None:
        binding, step = "b-1", rig.backend.bind
        assert (await rig.provision(instance)).status == 201
    fired = rig.proxy.stall_on(step.pattern)

    started = time.monotonic()
    if binding is None:
        resp = await rig.provision(instance, accepts_incomplete=True)
    else:
        resp = await rig.bind(instance, binding, accepts_incomplete=True)
    assert resp.status == 202, await resp.text()
    assert (await resp.json())["operation"]
    async with asyncio.timeout(DEADLINE):
        await fired.wait()
    polled, last = await rig.last_operation(instance, binding)
    assert last["state"] == "in progress"
    assert polled.headers["Retry-After"] == "1"

    last = await rig.settle(instance, binding)
    elapsed = time.monotonic() - started
    assert last["state"] == "failed", last
    assert elapsed >= TIMEOUT, f"failed after {elapsed:.1f} s, before the timeout"
    assert f"did not finish within {TIMEOUT:g} s" in last["description"], last
    # The undo stalled as well: the platform is told to DELETE.
    assert CLEANUP_FAILED in last["description"], last

    rig.proxy.resume()
    await rig.until_quiet()
    if binding is not None:
        await rig.assert_removed(instance, binding)
    await rig.assert_removed(instance)

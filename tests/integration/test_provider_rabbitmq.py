"""What the RabbitMQ provider promises beyond the shared contract, on the local server."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aio_pika
import aiohttp
import pytest
from aiormq.exceptions import ChannelAccessRefused, ChannelPreconditionFailed
from fixtures.providers.rabbitmq import AMQP_URL, MANAGEMENT_URL, management_session

from broker.services.base import BackendError, BindingSpec, InstanceSpec, new_password
from broker.services.rabbitmq import RabbitMQProvider, username, vhost_name

pytestmark = pytest.mark.integration

API = "http://127.0.0.1:15672/api"


@pytest.fixture
async def provider() -> AsyncIterator[RabbitMQProvider]:
    opened = RabbitMQProvider(AMQP_URL, MANAGEMENT_URL)
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with management_session() as session:
        yield session


@pytest.fixture
async def instance(provider: RabbitMQProvider) -> AsyncIterator[InstanceSpec]:
    made = InstanceSpec(f"inst-{secrets.token_hex(6)}", provider.offering.plans[0])
    await provider.provision(made)
    yield made
    await provider.deprovision(made)


def new_binding(**parameters: Any) -> BindingSpec:
    return BindingSpec(f"bind-{secrets.token_hex(6)}", new_password(), parameters)


async def get(http: aiohttp.ClientSession, path: str) -> tuple[int, Any]:
    async with http.get(API + path) as response:
        return response.status, await response.json()


async def connect(uri: str) -> aio_pika.abc.AbstractConnection:
    async with asyncio.timeout(10):
        return await aio_pika.connect(uri)


async def test_read_only_binding_consumes_but_cannot_publish_or_declare(
    provider: RabbitMQProvider, instance: InstanceSpec
) -> None:
    writer = await provider.bind(instance, new_binding())
    reader = await provider.bind(instance, new_binding(read_only=True))
    async with await connect(writer.values["uri"]) as connection:
        channel = await connection.channel()
        await channel.declare_queue("work")
        await channel.default_exchange.publish(aio_pika.Message(b"job"), routing_key="work")

    async with await connect(reader.values["uri"]) as connection:
        channel = await connection.channel()
        queue = await channel.get_queue("work")
        message = await queue.get(timeout=5)
        assert message is not None
        assert message.body == b"job"
        await message.ack()
        # A refused method closes its channel: each attempt gets a fresh one.
        publisher, declarer = await connection.channel(), await connection.channel()
        with pytest.raises(ChannelAccessRefused):
            await publisher.default_exchange.publish(aio_pika.Message(b"x"), routing_key="work")
        with pytest.raises(ChannelAccessRefused):
            await declarer.declare_queue("mine")


async def test_unbind_closes_a_connection_already_open(
    provider: RabbitMQProvider, instance: InstanceSpec, http: aiohttp.ClientSession
) -> None:
    binding = new_binding()
    credentials = await provider.bind(instance, binding)
    connection = await connect(credentials.values["uri"])
    closed = asyncio.Event()
    connection.close_callbacks.add(lambda *_: closed.set())
    try:
        await provider.unbind(instance, binding)
        async with asyncio.timeout(5):
            await closed.wait()
    finally:
        await connection.close()
    user = quote(username(instance.instance_id, binding.binding_id), safe="")
    assert await get(http, f"/connections/username/{user}") == (200, [])


async def test_vhost_limits_follow_plan_and_parameters(
    provider: RabbitMQProvider, http: aiohttp.ClientSession
) -> None:
    standard, large = provider.offering.plans[:2]
    made = InstanceSpec(f"inst-{secrets.token_hex(6)}", standard, {"max_queues": 1})
    vhost = quote(vhost_name(made.instance_id), safe="")
    await provider.provision(made)
    try:
        _, limits = await get(http, f"/vhost-limits/{vhost}")
        assert limits[0]["value"] == {
            "max-connections": standard.settings["max-connections"],
            "max-queues": 1,
        }
        credentials = await provider.bind(made, new_binding())
        async with await connect(credentials.values["uri"]) as connection:
            channel = await connection.channel()
            await channel.declare_queue("first")
            with pytest.raises(ChannelPreconditionFailed):
                await channel.declare_queue("second")

        bigger = InstanceSpec(made.instance_id, large)
        await provider.update(bigger, made)
        _, limits = await get(http, f"/vhost-limits/{vhost}")
        assert limits[0]["value"] == dict(large.settings)
    finally:
        await provider.deprovision(made)


async def test_deprovision_removes_the_vhost_with_its_queues(
    provider: RabbitMQProvider, http: aiohttp.ClientSession
) -> None:
    made = InstanceSpec(f"inst-{secrets.token_hex(6)}", provider.offering.plans[0])
    vhost = quote(vhost_name(made.instance_id), safe="")
    await provider.provision(made)
    credentials = await provider.bind(made, new_binding())
    async with await connect(credentials.values["uri"]) as connection:
        channel = await connection.channel()
        await channel.declare_queue("kept", durable=True)
        await channel.default_exchange.publish(
            aio_pika.Message(b"left", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key="kept",
        )
    status, queues = await get(http, f"/queues/{vhost}")
    assert status == 200
    assert [queue["name"] for queue in queues] == ["kept"]

    await provider.deprovision(made)
    assert (await get(http, f"/vhosts/{vhost}"))[0] == 404
    assert (await get(http, f"/queues/{vhost}"))[0] == 404


async def test_backend_errors_name_rabbitmq_and_hide_the_admin_password() -> None:
    wrong = RabbitMQProvider(AMQP_URL, "http://guest:not-the-password@127.0.0.1:15672")
    with pytest.raises(BackendError, match=r"^RabbitMQ: .*credentials") as refused:
        await wrong.open()
    assert "not-the-password" not in str(refused.value)

    nobody = RabbitMQProvider(AMQP_URL, "http://guest:not-the-password@127.0.0.1:1")
    with pytest.raises(BackendError, match=r"^RabbitMQ: .*no answer") as unreachable:
        await nobody.open()
    assert "not-the-password" not in str(unreachable.value)


async def test_update_of_a_missing_instance_fails(provider: RabbitMQProvider) -> None:
    plan = provider.offering.plans[0]
    missing = InstanceSpec(f"inst-{secrets.token_hex(6)}", plan)
    with pytest.raises(BackendError, match=r"^RabbitMQ: cannot set .*HTTP 404"):
        await provider.update(missing, missing)

"""What the Redis provider promises beyond the shared Provider contract, on the local server.

The server is shared with the rest of the suite: destructive commands are never run for real by a
binding, ``ACL DRYRUN`` tells whether they would be allowed. Keys written outside an instance
are under ``test:`` names of the test's own and removed again.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from fixtures.providers.redis import REDIS_URL
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

from broker.services.base import BackendError, BindingSpec, Credentials, InstanceSpec, new_password
from broker.services.redis import DRIVER_INFO, RedisProvider, execute, key_prefix, user_prefix

pytestmark = pytest.mark.integration


def connect(credentials: Credentials, **options: Any) -> Redis:
    return Redis.from_url(
        credentials.values["uri"], decode_responses=True, driver_info=DRIVER_INFO, **options
    )


def new_binding(**parameters: object) -> BindingSpec:
    return BindingSpec(f"bind-{secrets.token_hex(6)}", new_password(), parameters)


@pytest.fixture
async def admin() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL, decode_responses=True, driver_info=DRIVER_INFO)
    yield client
    await client.aclose()


@pytest.fixture
async def provider() -> AsyncIterator[RedisProvider]:
    opened = RedisProvider(REDIS_URL)
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
async def instance(provider: RedisProvider) -> AsyncIterator[InstanceSpec]:
    """A provisioned instance, deprovisioned (keys and users) after the test."""
    spec = InstanceSpec(f"inst-{secrets.token_hex(6)}", provider.offering.plans[0], {})
    await provider.provision(spec)
    yield spec
    await provider.deprovision(spec)


@pytest.fixture
async def outside_key(admin: Redis) -> AsyncIterator[str]:
    """A key name outside any instance, removed after the test whatever happened."""
    key = f"test:osb-outside:{secrets.token_hex(8)}"
    yield key
    await admin.unlink(key)


async def test_catalog_ids_are_fixed_uuids(provider: RedisProvider) -> None:
    offering = provider.offering
    assert offering.id == "6dbb4e36-1359-4ec6-b194-39223668e609"
    assert [p.name for p in offering.plans] == ["shared-small", "shared-large"]
    assert len({offering.id, *(p.id for p in offering.plans)}) == 3
    assert offering.plans[0].bind_schema["properties"]["read_only"] == {
        "type": "boolean",
        "description": "Read keys and subscribe only; no writes, no publishing.",
    }


async def test_open_reports_an_unreachable_server() -> None:
    provider = RedisProvider("redis://127.0.0.1:1")
    with pytest.raises(BackendError, match=r"^Redis: "):
        await provider.open()
    await provider.close()


async def test_open_reports_a_refused_login() -> None:
    provider = RedisProvider(f"redis://osb-nobody-{secrets.token_hex(4)}:wrong@127.0.0.1:6379")
    with pytest.raises(BackendError, match=r"^Redis: "):
        await provider.open()


async def test_credentials_describe_the_server_and_prefix(
    provider: RedisProvider, instance: InstanceSpec
) -> None:
    binding = new_binding()
    credentials = await provider.bind(instance, binding)
    values = credentials.values
    prefix = key_prefix(instance.instance_id)
    assert values["key_prefix"] == prefix
    assert values["username"].startswith(user_prefix(instance.instance_id))
    assert values["password"] == binding.password
    assert (values["host"], values["hostname"], values["port"], values["db"]) == (
        "127.0.0.1",
        "127.0.0.1",
        "6379",
        "0",
    )
    assert values["uri"] == f"redis://{values['username']}:{binding.password}@127.0.0.1:6379/0"
    assert [e.to_json() for e in credentials.endpoints] == [
        {"host": "127.0.0.1", "ports": ["6379"], "protocol": "tcp"}
    ]


async def test_read_only_binding_reads_and_subscribes_but_cannot_write(
    provider: RedisProvider, instance: InstanceSpec, admin: Redis
) -> None:
    prefix = key_prefix(instance.instance_id)
    await admin.set(f"{prefix}greeting", "hello")
    client = connect(await provider.bind(instance, new_binding(read_only=True)))
    try:
        assert await client.get(f"{prefix}greeting") == "hello"
        async with client.pipeline() as pipe:  # MULTI/EXEC around reads
            pipe.get(f"{prefix}greeting")
            pipe.exists(f"{prefix}greeting")
            assert await pipe.execute() == ["hello", 1]
        for command in (
            ("SET", f"{prefix}greeting", "bye"),
            ("DEL", f"{prefix}greeting"),
            ("EXPIRE", f"{prefix}greeting", "1"),
            ("PUBLISH", f"{prefix}events", "x"),
            ("EVAL", "return redis.call('DEL', KEYS[1])", "1", f"{prefix}greeting"),
        ):
            with pytest.raises(NoPermissionError):
                await execute(client, *command)
        async with client.pubsub() as pubsub:
            await pubsub.subscribe(f"{prefix}events")
            assert await pubsub.get_message(timeout=5) == {
                "type": "subscribe",
                "pattern": None,
                "channel": f"{prefix}events",
                "data": 1,
            }
    finally:
        await client.aclose()
    assert await admin.get(f"{prefix}greeting") == "hello"


async def test_rebinding_converges_on_the_rules_whatever_was_changed(
    provider: RedisProvider, instance: InstanceSpec, admin: Redis
) -> None:
    binding = new_binding()
    credentials = await provider.bind(instance, binding)
    user = credentials.values["username"]
    # As if an earlier attempt, or an operator, had left the user with more than it should have.
    await execute(admin, "ACL", "SETUSER", user, "+flushdb", "~*", ">other-password")
    client = connect(credentials)
    try:
        await execute(client, "PING")
        assert await provider.bind(instance, binding) == credentials
        assert await execute(client, "PING")  # redefining the user keeps its open sessions
    finally:
        await client.aclose()
    assert await execute(admin, "ACL", "DRYRUN", user, "FLUSHDB") != "OK"
    assert await execute(admin, "ACL", "DRYRUN", user, "GET", "test:x") != "OK"
    with pytest.raises(AuthenticationError):
        await execute(admin, "AUTH", user, "other-password")


async def test_unbind_cuts_open_sessions(
    provider: RedisProvider, instance: InstanceSpec, admin: Redis
) -> None:
    prefix = key_prefix(instance.instance_id)
    binding = new_binding()
    credentials = await provider.bind(instance, binding)
    # No retries: a retry would reconnect and fail on AUTH, hiding whether the session was cut.
    client = connect(credentials, retry=Retry(NoBackoff(), 0))
    listener = connect(credentials, retry=Retry(NoBackoff(), 0))
    try:
        blocked = asyncio.create_task(execute(client, "BLPOP", f"{prefix}queue", "0"))
        async with listener.pubsub() as pubsub:
            await pubsub.subscribe(f"{prefix}events")
            assert (await pubsub.get_message(timeout=5) or {}).get("type") == "subscribe"
            await wait_for(lambda: sessions_of(admin, credentials.values["username"]), 2)

            await provider.unbind(instance, binding)

            with pytest.raises(RedisConnectionError):
                await asyncio.wait_for(blocked, 5)
            with pytest.raises(RedisConnectionError):
                await pubsub.get_message(timeout=5)
        assert await sessions_of(admin, credentials.values["username"]) == 0
        with pytest.raises(AuthenticationError):
            await execute(client, "PING")
    finally:
        await client.aclose()
        await listener.aclose()


async def sessions_of(admin: Redis, user: str) -> int:
    return sum(1 for c in await admin.client_list() if c["user"] == user)


async def wait_for(count: Callable[[], Awaitable[int]], expected: int) -> None:
    for _ in range(100):
        if await count() == expected:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never saw {expected}")


async def test_deprovision_removes_thousands_of_keys_and_nothing_else(
    provider: RedisProvider, admin: Redis, outside_key: str
) -> None:
    instance = InstanceSpec(f"inst-{secrets.token_hex(6)}", provider.offering.plans[1], {})
    prefix = key_prefix(instance.instance_id)
    await provider.provision(instance)
    client = connect(await provider.bind(instance, new_binding()))
    try:
        for start in range(0, 5000, 1000):
            await client.mset({f"{prefix}k{n}": n for n in range(start, start + 1000)})
        await execute(client, "HSET", f"{prefix}hash", "a", "1")
        await client.xadd(f"{prefix}stream", {"a": "1"})
    finally:
        await client.aclose()
    await admin.set(outside_key, "kept")
    # A key that merely starts like the prefix, without its ':', belongs to someone else.
    lookalike = prefix.rstrip(":") + "x"
    await admin.set(lookalike, "kept")
    try:
        await provider.deprovision(instance)
        assert [k async for k in admin.scan_iter(match=f"{prefix}*", count=1000)] == []
        assert await admin.get(outside_key) == "kept"
        assert await admin.get(lookalike) == "kept"
    finally:
        await admin.unlink(lookalike)


async def test_deprovision_removes_every_user_of_the_instance_only(
    provider: RedisProvider, admin: Redis
) -> None:
    plan = provider.offering.plans[0]
    gone = InstanceSpec(f"inst-{secrets.token_hex(6)}", plan, {})
    kept = InstanceSpec(f"inst-{secrets.token_hex(6)}", plan, {})
    for spec in (gone, kept):
        await provider.provision(spec)
    try:
        for _ in range(3):
            await provider.bind(gone, new_binding())
        survivor = await provider.bind(kept, new_binding())
        await provider.deprovision(gone)
        users = await admin.acl_users()
        assert not [u for u in users if u.startswith(user_prefix(gone.instance_id))]
        assert survivor.values["username"] in users
    finally:
        await provider.deprovision(kept)


# Commands a bound user must be refused, run for real: none of them changes anything.
REFUSED = [
    ("ACL", "LIST"),
    ("ACL", "USERS"),
    ("ACL", "GETUSER", "default"),
    ("CONFIG", "GET", "*"),
    ("INFO",),
    ("KEYS", "*"),
    ("SCAN", "0"),
    ("RANDOMKEY",),
    ("DBSIZE",),
    ("SELECT", "1"),
    ("PUBSUB", "CHANNELS"),
    ("CLIENT", "LIST"),
    ("CLIENT", "TRACKING", "ON", "BCAST"),
    ("FUNCTION", "LIST"),
    ("MEMORY", "STATS"),
    ("SORT", "{prefix}list", "BY", "test:*"),
    ("MOVE", "{prefix}k", "1"),
    ("COPY", "{prefix}k", "{prefix}k2", "DB", "1"),
    ("GET", "{outside}"),
    ("SET", "{outside}", "x"),
    ("PUBLISH", "{outside}", "x"),
    ("EVAL", "return redis.call('SET', KEYS[1], 'x')", "1", "{outside}"),
]
# Commands that would harm the shared server if let through: only asked with ACL DRYRUN.
REFUSED_DRY = [
    ("FLUSHDB",),
    ("FLUSHALL",),
    ("ACL", "SETUSER", "default", "off"),
    ("ACL", "DELUSER", "default"),
    ("CONFIG", "SET", "maxmemory", "1"),
    ("SCRIPT", "FLUSH"),
    ("SCRIPT", "KILL"),
    ("FUNCTION", "FLUSH"),
    ("FUNCTION", "DELETE", "lib"),
    ("SWAPDB", "0", "1"),
    ("SHUTDOWN",),
    ("DEBUG", "SLEEP", "1"),
    ("CLIENT", "PAUSE", "1000"),
    ("CLIENT", "KILL", "USER", "default"),
    ("MONITOR",),
    ("MIGRATE", "127.0.0.1", "6380", "k", "0", "1000"),
]


@pytest.mark.parametrize("command", REFUSED, ids=" ".join)
async def test_bound_user_is_refused(
    provider: RedisProvider,
    instance: InstanceSpec,
    admin: Redis,
    outside_key: str,
    command: tuple[str, ...],
) -> None:
    prefix = key_prefix(instance.instance_id)
    args = [arg.format(prefix=prefix, outside=outside_key) for arg in command]
    client = connect(await provider.bind(instance, new_binding()))
    try:
        await client.set(f"{prefix}k", "v")
        with pytest.raises(NoPermissionError):
            await execute(client, *args)
    finally:
        await client.aclose()
    assert await admin.exists(outside_key) == 0


@pytest.mark.parametrize("command", REFUSED_DRY, ids=" ".join)
async def test_bound_user_may_not_harm_the_server(
    provider: RedisProvider, instance: InstanceSpec, admin: Redis, command: tuple[str, ...]
) -> None:
    user = (await provider.bind(instance, new_binding())).values["username"]
    assert await execute(admin, "ACL", "DRYRUN", user, *command) != "OK"


async def test_scripts_cannot_reach_keys_they_do_not_declare(
    provider: RedisProvider, instance: InstanceSpec, admin: Redis, outside_key: str
) -> None:
    prefix = key_prefix(instance.instance_id)
    client = connect(await provider.bind(instance, new_binding()))
    try:
        # Allowed: the script only touches the prefix.
        assert (
            await execute(
                client, "EVAL", "return redis.call('SET', KEYS[1], 'v')", "1", f"{prefix}k"
            )
            == "OK"
        )
        # Redis checks every call a script makes, and reports a plain script error.
        with pytest.raises(ResponseError, match="can't access"):
            await execute(client, "EVAL", f"return redis.call('SET', '{outside_key}', 'x')", "0")
        with pytest.raises(ResponseError, match="can't run this command"):
            await execute(client, "EVAL", "return redis.call('KEYS', '*')", "0")
    finally:
        await client.aclose()
    assert await admin.exists(outside_key) == 0


async def test_subscriptions_stay_inside_the_channel_prefix(
    provider: RedisProvider, instance: InstanceSpec
) -> None:
    prefix = key_prefix(instance.instance_id)
    client = connect(await provider.bind(instance, new_binding()))
    try:
        async with client.pubsub() as pubsub:
            await pubsub.psubscribe(f"{prefix}*")
            assert (await pubsub.get_message(timeout=5) or {}).get("type") == "psubscribe"
        for channels in (("SUBSCRIBE", "test:news"), ("PSUBSCRIBE", "*")):
            async with client.pubsub() as pubsub:
                await pubsub.execute_command(*channels)  # sent; the answer is read below
                with pytest.raises(NoPermissionError):
                    await pubsub.get_message(timeout=5)
    finally:
        await client.aclose()


async def test_an_instance_lives_in_the_database_of_the_provider_url(admin: Redis) -> None:
    provider = RedisProvider("redis://127.0.0.1:6379/3")
    await provider.open()
    instance = InstanceSpec(f"inst-{secrets.token_hex(6)}", provider.offering.plans[0], {})
    prefix = key_prefix(instance.instance_id)
    try:
        credentials = await provider.bind(instance, new_binding())
        assert credentials.values["db"] == "3"
        assert credentials.values["uri"].endswith("/3")
        client = connect(credentials)
        try:
            await client.set(f"{prefix}k", "v")  # the client sends SELECT 3 first
            with pytest.raises(NoPermissionError):
                await execute(client, "SELECT", "0")
        finally:
            await client.aclose()
        await provider.deprovision(instance)
        db3 = Redis.from_url(
            "redis://127.0.0.1:6379/3", decode_responses=True, driver_info=DRIVER_INFO
        )
        try:
            assert await db3.exists(f"{prefix}k") == 0
        finally:
            await db3.aclose()
    finally:
        await provider.deprovision(instance)
        await provider.close()

"""The Redis provider: an instance is a key prefix on one shared server, a binding an ACL user.

Names come from the OSB ids alone (:func:`backend_name`), so no state is stored:

* instance → key (and channel) prefix ``osb:<16 hex>:``;
* binding → ACL user ``osb-<16 hex of the instance>-<12 hex of the binding>``, so deprovision
  finds every user of an instance by listing ``ACL USERS``.

A binding's user may touch keys and channels under the prefix only. Redis ACLs restrict key
arguments but not what keyless commands reveal or change, so besides ``-@admin -@dangerous``
the rules remove the keyless commands that would let one tenant see or disturb another (see
``_CONFINE``). There is no per-prefix memory quota in Redis: plans differ only in what they
promise, not in what the server enforces.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import redis.asyncio
from redis.asyncio.connection import parse_url
from redis.driver_info import DriverInfo
from redis.exceptions import RedisError

from broker.services.base import (
    BackendError,
    BindingSpec,
    Credentials,
    Endpoint,
    InstanceSpec,
    Offering,
    Plan,
    backend_name,
)

_NO_PARAMETERS: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "properties": {},
    "additionalProperties": False,
}
_BIND_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "properties": {
        "read_only": {
            "type": "boolean",
            "description": "Read keys and subscribe only; no writes, no publishing.",
        }
    },
    "additionalProperties": False,
}


def _plan(plan_id: str, name: str, description: str, bullets: tuple[str, ...]) -> Plan:
    return Plan(
        id=plan_id,
        name=name,
        description=description,
        provision_schema=_NO_PARAMETERS,
        update_schema=_NO_PARAMETERS,
        bind_schema=_BIND_SCHEMA,
        display_name=name.replace("-", " ").title(),
        bullets=bullets,
    )


OFFERING = Offering(
    id="6dbb4e36-1359-4ec6-b194-39223668e609",
    name="redis",
    description="A key prefix on a shared Redis server, with one ACL user per binding.",
    display_name="Redis",
    long_description=(
        "Each instance is a key and channel prefix on the platform's Redis server; each binding "
        "gets its own ACL user confined to that prefix. Commands that act on the whole server "
        "(FLUSHDB, KEYS, SCAN, CONFIG, SELECT, FUNCTION...) are not available."
    ),
    tags=("redis", "key-value", "cache", "pubsub"),
    # A Redis restart (without an ACL file) forgets the users; binding again restores them.
    reapply_bindings=True,
    plans=(
        _plan(
            "8eefc784-1fa2-4b06-a0a9-b19c40483dfe",
            "shared-small",
            "A key prefix on a shared Redis server, for caches and small working sets.",
            ("Shared server", "Fair use: up to about 10,000 keys"),
        ),
        _plan(
            "2c688add-01a5-46bc-a780-d56eb5773328",
            "shared-large",
            "A key prefix on a shared Redis server, for larger working sets.",
            ("Shared server", "Fair use: up to about 1,000,000 keys"),
        ),
    ),
)

# Removed after the categories, for every binding. Redis ACLs check the keys and channels a
# command names, not what a keyless command shows or changes: SCAN, RANDOMKEY, DBSIZE, PUBSUB
# CHANNELS/NUMSUB, CLUSTER GETKEYSINSLOT and MEMORY STATS would tell about other tenants, and
# CLIENT TRACKING ... BCAST (RESP3) pushes the name of every key written on the server; FUNCTION
# (libraries are server-wide) and SCRIPT FLUSH/KILL/DEBUG would change or stop what other tenants
# run. SELECT, MOVE and COPY ... DB would put keys in another database, where deprovision does
# not look; bind allows back SELECT of the instance's own database only, which a client sends
# when its URL names one (``+select|<db>``: a first-argument rule, deprecated but still the one
# way Redis 7 has to allow a command for some arguments only).
_CONFINE = (
    "-@admin",
    "-@dangerous",
    "-scan",
    "-randomkey",
    "-dbsize",
    "-pubsub",
    "-cluster",
    "-memory",
    "+memory|usage",
    "-client|tracking",
    "-function",
    "-script|flush",
    "-script|kill",
    "-script|debug",
    "-move",
    "-copy",
    "-select",
)
_READ_WRITE = ("+@all",)
# Transactions too, since redis-py pipelines wrap their commands in MULTI/EXEC by default.
_READ_ONLY = ("+@read", "+@connection", "+@transaction", "+@pubsub", "-publish", "-spublish")

#: How clients name themselves (CLIENT SETINFO). Given explicitly: otherwise redis-py reads its
#: version from the installed package metadata, a file-system walk on the event loop, for every
#: new connection.
DRIVER_INFO = DriverInfo(lib_version=redis.__version__)

# Keys removed per SCAN/UNLINK round trip during deprovision.
_BATCH = 1000


def key_prefix(instance_id: str) -> str:
    """The prefix of every key and channel of an instance."""
    return backend_name("osb:", instance_id, 16) + ":"


def user_prefix(instance_id: str) -> str:
    """The start of the name of every ACL user of an instance."""
    return backend_name("osb-", instance_id, 16) + "-"


def username(instance_id: str, binding_id: str) -> str:
    return user_prefix(instance_id) + hashlib.sha256(binding_id.encode()).hexdigest()[:12]


async def execute(client: redis.asyncio.Redis, *args: str) -> Any:
    """``client.execute_command``, which redis-py leaves untyped (and so do its ACL helpers)."""
    return await client.execute_command(*args)  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def _backend_errors() -> Iterator[None]:
    """Report what Redis refused, or why it could not be reached, as a :class:`BackendError`."""
    try:
        yield
    except RedisError as exc:
        raise BackendError(f"Redis: {exc or type(exc).__name__}") from exc


class RedisProvider:
    """The Redis :class:`~broker.services.base.Provider`, on a ``redis://`` or ``rediss://`` URL
    of an account allowed ``ACL SETUSER/DELUSER/USERS``, ``SCAN`` and ``UNLINK``."""

    def __init__(self, url: str) -> None:
        scheme = urlsplit(url).scheme
        if scheme not in ("redis", "rediss"):
            raise ValueError("the Redis provider needs a redis:// or rediss:// URL")
        parsed = parse_url(url)
        self._url = url
        self._scheme = scheme
        self._host: str = parsed.get("host") or "localhost"
        self._port: int = parsed.get("port") or 6379
        self._db: int = parsed.get("db") or 0
        self._client: redis.asyncio.Redis | None = None

    @property
    def offering(self) -> Offering:
        return OFFERING

    async def open(self) -> None:
        client = redis.asyncio.Redis.from_url(
            self._url,
            decode_responses=True,
            driver_info=DRIVER_INFO,
            socket_connect_timeout=10,
            socket_timeout=30,
        )
        try:
            with _backend_errors():
                await execute(client, "PING")
        except BackendError:
            await client.aclose()
            raise
        self._client = client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def client(self) -> redis.asyncio.Redis:
        if self._client is None:
            raise RuntimeError("RedisProvider.open() was not called")
        return self._client

    async def provision(self, instance: InstanceSpec) -> None:
        # A prefix needs no creating: keys appear under it when a binding writes them.
        return None

    async def update(self, instance: InstanceSpec, previous: InstanceSpec) -> None:
        # Plans are not enforced by the server (see the module documentation), so a plan change
        # is only recorded by the broker; there are no parameters to apply.
        return None

    async def deprovision(self, instance: InstanceSpec) -> None:
        prefix = user_prefix(instance.instance_id)
        with _backend_errors():
            # Users first: ACL DELUSER closes their connections, so no key can appear under the
            # prefix once the scan below has started.
            users = [u for u in await self.client.acl_users() if u.startswith(prefix)]
            if users:
                await self.client.acl_deluser(*users)
            # The prefix is hex and ':', so it holds no glob character to escape.
            batch: list[str] = []
            async for key in self.client.scan_iter(
                match=key_prefix(instance.instance_id) + "*", count=_BATCH
            ):
                batch.append(key)
                if len(batch) >= _BATCH:
                    await self.client.unlink(*batch)
                    batch.clear()
            if batch:
                await self.client.unlink(*batch)

    async def bind(self, instance: InstanceSpec, binding: BindingSpec) -> Credentials:
        name = username(instance.instance_id, binding.binding_id)
        prefix = key_prefix(instance.instance_id)
        commands = _READ_ONLY if binding.parameters.get("read_only") else _READ_WRITE
        # `reset` first: a retried bind converges on exactly these rules and this one password,
        # whatever an earlier attempt left. Redis applies the whole SETUSER or nothing of it, and
        # keeps the user's open connections when it is redefined.
        rules = (
            "reset",
            "on",
            f">{binding.password}",
            f"~{prefix}*",
            f"&{prefix}*",
            *commands,
            *_CONFINE,
            f"+select|{self._db}",
        )
        with _backend_errors():
            await execute(self.client, "ACL", "SETUSER", name, *rules)
        auth = f"{quote(name, safe='')}:{quote(binding.password, safe='')}"
        port = str(self._port)
        netloc_host = f"[{self._host}]" if ":" in self._host else self._host  # IPv6
        return Credentials(
            values={
                "uri": f"{self._scheme}://{auth}@{netloc_host}:{port}/{self._db}",
                "host": self._host,
                "hostname": self._host,
                "port": port,
                "username": name,
                "password": binding.password,
                "key_prefix": prefix,
                "db": str(self._db),
            },
            endpoints=(Endpoint(self._host, (port,)),),
        )

    async def unbind(self, instance: InstanceSpec, binding: BindingSpec) -> None:
        with _backend_errors():
            # Also closes every connection authenticated as the user; 0 when it is absent.
            await self.client.acl_deluser(username(instance.instance_id, binding.binding_id))

"""The platform's own provider domain and published APIs survive restarts and concurrent
starts without duplicates: one domain, one document per API, rewritten only when it changed."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from fixtures.capif import REDIS_URL, CapifPlatform, capif_platform

from mep.capif.api import publish_platform
from mep.capif.domains import PLATFORM_COLLECTION, ProviderDomains, ensure_platform_provider
from mep.capif.platform import Route, publish_platform_apis
from mep.capif.publish import COLLECTION, ServiceApis
from mep.core import keys
from mep.core.commits import Committer
from mep.core.events.memory import MemoryEventLog
from mep.core.outbox import Outbox
from mep.core.store import Store
from mep.core.store.redis import RedisStore

StoreFactory = Callable[[], Awaitable[Store | None]]


@contextlib.asynccontextmanager
async def _shared(kind: str) -> AsyncIterator[StoreFactory]:
    """Opens stores that all hold the same data (SQLite: ``None``, the platform opens the data
    dir's file; Redis: one key prefix, removed at the end)."""
    prefix = f"test:{secrets.token_hex(6)}:"

    async def open_one() -> Store | None:
        return None if kind == "sqlite" else await RedisStore.open(REDIS_URL, prefix=prefix)

    try:
        yield open_one
    finally:
        if kind == "redis":
            cleaner = await RedisStore.open(REDIS_URL, prefix=prefix)
            found = [k async for k in cleaner.client.scan_iter(match=f"{prefix}*", count=500)]
            if found:
                await cleaner.client.unlink(*found)
            await cleaner.close()


async def _published(platform: CapifPlatform) -> dict[str, tuple[str, int]]:
    """The published APIs: apiName -> (apiId, document version)."""
    docs = await platform.store.scan(COLLECTION)
    return {d.data["description"]["apiName"]: (d.id, d.version) for d in docs}


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_a_restart_publishes_nothing_twice(kind: str, tmp_path: Path) -> None:
    async with _shared(kind) as store:
        async with capif_platform(tmp_path, store=await store()) as first:
            provider = first.runner.app[keys.CAPIF_PLATFORM]
            before = await _published(first)
            assert set(before) == {"location", "rni", "bwm"}
            assert all(version == 1 for _, version in before.values())
        async with capif_platform(tmp_path, store=await store()) as second:
            assert second.runner.app[keys.CAPIF_PLATFORM] == provider
            again = await _published(second)
            # The same ids; rewritten once only if the TLS listener's (random) port changed.
            assert {n: i for n, (i, _) in again.items()} == {n: i for n, (i, _) in before.items()}
            assert await second.store.count(PLATFORM_COLLECTION) == 1
            await publish_platform(second.runner.app)
            assert await _published(second) == again  # nothing changed: nothing written
        # Another address: the same documents, updated once.
        public_url = "https://edge.example.net:9443"
        async with capif_platform(tmp_path, store=await store(), public_url=public_url) as third:
            after = await _published(third)
            assert {n: i for n, (i, _) in after.items()} == {n: i for n, (i, _) in before.items()}
            assert all(version == again[n][1] + 1 for n, (_, version) in after.items())
            doc = await third.store.get(COLLECTION, after["location"][0])
            assert doc is not None
            (profile,) = doc.data["description"]["aefProfiles"]
            assert profile["interfaceDescriptions"] == [{"fqdn": "edge.example.net", "port": 9443}]


async def test_replicas_starting_together_converge(tmp_path: Path) -> None:
    async with _shared("redis") as store, contextlib.AsyncExitStack() as stack:
        stores = [await store() for _ in range(3)]
        replicas = await asyncio.gather(
            *(
                stack.enter_async_context(capif_platform(tmp_path / f"r{i}", store=s))
                for i, s in enumerate(stores)
            )
        )
        assert len({r.runner.app[keys.CAPIF_PLATFORM] for r in replicas}) == 1
        assert await replicas[0].store.count(PLATFORM_COLLECTION) == 1
        assert set(await _published(replicas[0])) == {"location", "rni", "bwm"}
        assert await replicas[0].store.count(COLLECTION) == 3


async def test_racing_starts_write_one_document_each() -> None:
    """Eight starts at once on one store, without the rest of the app."""
    async with _shared("redis") as open_store:
        store = await open_store()
        assert store is not None
        try:
            committer = Committer(store)
            providers = await asyncio.gather(
                *(ensure_platform_provider(committer) for _ in range(8))
            )
            assert len(set(providers)) == 1
            events = MemoryEventLog()
            apis = ServiceApis(committer, Outbox(committer, events), ProviderDomains(store))
            routes = [Route("/location/v2/queries/users", "GET"), Route("/rni/v2/x", "POST")]
            await asyncio.gather(
                *(
                    publish_platform_apis(
                        apis, providers[0], routes, base_url="http://h:1", ccf_url="https://h:2"
                    )
                    for _ in range(8)
                )
            )
            docs = await store.scan(COLLECTION)
            assert sorted(d.data["description"]["apiName"] for d in docs) == ["location", "rni"]
            assert all(d.version == 1 for d in docs)
        finally:
            await store.close()

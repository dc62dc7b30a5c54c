"""The ``store`` fixture: every contract test runs once per Store adapter."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from mep.core.store import Store, StoreError
from mep.core.store.redis import RedisStore
from mep.core.store.sqlite import SqliteStore

REDIS_URL = "redis://127.0.0.1:6379/0"


async def delete_prefix(client: Redis, prefix: str) -> None:
    """Remove every key under ``prefix``."""
    batch: list[bytes] = []
    async for key in client.scan_iter(match=f"{prefix}*", count=500):
        batch.append(key)
        if len(batch) >= 500:
            await client.unlink(*batch)
            batch.clear()
    if batch:
        await client.unlink(*batch)


async def open_redis_store() -> tuple[RedisStore, str]:
    """A RedisStore on the local server under a fresh prefix; fails the test without Redis."""
    prefix = f"test:{secrets.token_hex(8)}:"
    try:
        return await RedisStore.open(REDIS_URL, prefix=prefix), prefix
    except StoreError as exc:
        pytest.fail(f"Redis must run on 127.0.0.1:6379 (`make test` starts it): {exc}")


@pytest.fixture
def redis_url() -> str:
    """The local Redis server that `make test` runs."""
    return REDIS_URL


@pytest.fixture
async def redis_store() -> AsyncIterator[RedisStore]:
    """A RedisStore whose keys are removed after the test."""
    store, prefix = await open_redis_store()
    try:
        yield store
    finally:
        await delete_prefix(store.client, prefix)
        await store.close()


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh, empty store of each adapter."""
    if request.param == "sqlite":
        sqlite = await SqliteStore.open(tmp_path / "store.db")
        try:
            yield sqlite
        finally:
            await sqlite.close()
        return
    redis, prefix = await open_redis_store()
    try:
        yield redis
    finally:
        await delete_prefix(redis.client, prefix)
        await redis.close()

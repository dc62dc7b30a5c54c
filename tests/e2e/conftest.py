"""``platform``: ``mep run`` in a separate process on free ports, on each store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fixtures.platform import RunningPlatform

from mep.core.store.redis import RedisStore

# A database of its own, so that e2e runs never meet the contract tests' keys.
E2E_REDIS = "redis://127.0.0.1:6379/15"


@pytest.fixture(params=["sqlite", "redis"])
async def platform(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[RunningPlatform]:
    store = "sqlite" if request.param == "sqlite" else E2E_REDIS
    running = RunningPlatform(tmp_path / "var", store=store)
    redis = await RedisStore.open(E2E_REDIS) if request.param == "redis" else None
    if redis is not None:
        await redis.client.flushdb()
    try:
        yield running
    finally:
        await running.stop()
        if redis is not None:
            await redis.client.flushdb()
            await redis.close()

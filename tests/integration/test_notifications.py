"""Notification delivery and durable timers on the real stores, with real callback servers."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fixtures.callbacks import CallbackServer

from mep.core.commits import Committer
from mep.core.notify.deliveries import COLLECTION, Notifier, Target, check_callback
from mep.core.notify.worker import DeliverySettings, DeliveryWorker
from mep.core.problem import BadRequest
from mep.core.store import Document, Operation, Put, Store
from mep.core.store.redis import RedisStore
from mep.core.store.sqlite import SqliteStore
from mep.core.timers import Timer, Timers, schedule

FAST = DeliverySettings(poll=0.2, retry_base=0.05, retry_cap=0.2, lease=2.0)


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        sqlite = await SqliteStore.open(tmp_path / "s.db")
        yield sqlite
        await sqlite.close()
        return
    prefix = f"test:{secrets.token_hex(6)}:"
    redis = await RedisStore.open("redis://127.0.0.1:6379/0", prefix=prefix)
    yield redis
    keys = [k async for k in redis.client.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis.client.unlink(*keys)
    await redis.close()


@pytest.fixture
async def server() -> AsyncIterator[CallbackServer]:
    callbacks = CallbackServer()
    await callbacks.start()
    yield callbacks
    await callbacks.stop()


@contextlib.asynccontextmanager
async def running(worker: DeliveryWorker) -> AsyncIterator[DeliveryWorker]:
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0)
    try:
        yield worker
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def drained(store: Store) -> None:
    """Until every delivered notification is also removed from the queue."""
    for _ in range(200):
        if not await store.count(COLLECTION):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("notifications remain queued")


async def queue(committer: Committer, target: Target, bodies: Sequence[dict[str, Any]]) -> None:
    notifier = Notifier()
    for body in bodies:
        await committer.commit([notifier.queue(target, body)])


async def test_order_is_kept_through_failures(store: Store, server: CallbackServer) -> None:
    committer = Committer(store)
    target = Target("sub-1", f"{server.url}/sub-1")
    server.failing = True
    async with running(DeliveryWorker(committer, FAST)):
        await queue(committer, target, [{"n": n} for n in range(20)])
        await asyncio.sleep(0.5)
        assert server.received == []
        server.failing = False
        await server.wait_for(20)
        await drained(store)
    assert [b["n"] for b in server.received] == list(range(20))


async def test_queued_notifications_survive_a_restart(store: Store, server: CallbackServer) -> None:
    committer = Committer(store)
    target = Target("sub-2", f"{server.url}/x")
    await server.stop()  # connection refused
    async with running(DeliveryWorker(committer, FAST)):
        await queue(committer, target, [{"n": n} for n in range(10)])
        await asyncio.sleep(0.4)
    assert await store.count(COLLECTION) == 10
    await server.start()
    # A new worker, as after a restart, finds the queue in the store.
    async with running(DeliveryWorker(Committer(store), FAST)):
        await server.wait_for(10)
    assert [b["n"] for b in server.received] == list(range(10))


async def test_two_replicas_deliver_each_queue_once_and_in_order(
    store: Store, server: CallbackServer
) -> None:
    first, second = Committer(store), Committer(store)
    targets = [Target(f"s{i}", f"{server.url}/s{i}") for i in range(5)]
    async with running(DeliveryWorker(first, FAST)), running(DeliveryWorker(second, FAST)):
        for n in range(10):
            for i, target in enumerate(targets):
                await (first if (n + i) % 2 else second).commit(
                    [Notifier().queue(target, {"n": n})]
                )
        await server.wait_for(50)
        await asyncio.sleep(0.3)
    for i in range(5):
        assert [b["n"] for b in server.by_path[f"/s{i}"]] == list(range(10))


async def test_hook_writes_are_committed_with_the_delivery(
    store: Store, server: CallbackServer
) -> None:
    committer = Committer(store)
    worker = DeliveryWorker(committer, FAST)

    async def activate(doc: Document) -> Sequence[Operation]:
        return [Put("subs", str(doc.data["target"]), {"active": True})]

    worker.hook("activate", activate)
    async with running(worker):
        target = Target("sub-3", server.url)
        await committer.commit([Notifier().queue(target, {"test": 1}, then="activate")])
        await server.wait_for(1)
        for _ in range(100):
            if await store.get("subs", "sub-3"):
                break
            await asyncio.sleep(0.02)
    doc = await store.get("subs", "sub-3")
    assert doc is not None
    assert doc.data == {"active": True}


async def test_expired_notifications_are_dropped(store: Store, server: CallbackServer) -> None:
    committer = Committer(store)
    expired = Target("sub-4", server.url, expires_at=1.0)
    live = Target("sub-5", server.url)
    async with running(DeliveryWorker(committer, FAST)):
        await queue(committer, expired, [{"late": True}])
        await queue(committer, live, [{"late": False}])
        await server.wait_for(1)
        await drained(store)
    assert server.received == [{"late": False}]


def test_oversized_bodies_are_refused_at_enqueue() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        Notifier().queue(Target("t", "http://x"), {"blob": "x" * 300_000})


@pytest.mark.parametrize("url", ["ftp://host/x", "/relative", "http://", "javascript:alert(1)"])
def test_callback_must_be_absolute_http(url: str) -> None:
    with pytest.raises(BadRequest) as caught:
        check_callback(url)
    assert caught.value.invalid_params[0].param == "/callbackReference"


async def test_timers_fire_once_across_replicas_with_their_writes(store: Store) -> None:
    fired: list[str] = []

    async def handler(timer: Timer) -> Sequence[Operation]:
        fired.append(timer.key)
        return [Put("effects", timer.key, timer.payload)]

    replicas = [Timers(Committer(store), interval=0.05) for _ in range(3)]
    for timers in replicas:
        timers.on("expire", handler)
    soon = time.time() + 0.2
    await store.commit([schedule("expire", f"k{n}", soon, {"n": n}) for n in range(5)])
    tasks = [asyncio.create_task(t.run()) for t in replicas]
    try:
        for _ in range(100):
            if await store.count("effects") == 5 and not await store.count("timers"):
                break
            await asyncio.sleep(0.05)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert await store.count("effects") == 5
    assert await store.count("timers") == 0
    effects = await store.scan("effects")
    assert sorted(d.data["n"] for d in effects) == list(range(5))
    # A handler may run on two replicas, but only one firing commits its writes.
    assert all(d.version == 1 for d in effects)


async def test_a_restarted_replica_resumes_its_lanes_without_waiting_out_its_leases(
    store: Store, server: CallbackServer
) -> None:
    long_lease = DeliverySettings(poll=0.2, retry_base=0.05, retry_cap=0.2, lease=30.0)
    committer = Committer(store)
    target = Target("sub-restart", f"{server.url}/r")
    await server.stop()
    async with running(DeliveryWorker(committer, long_lease, owner="host-a:8080")):
        await queue(committer, target, [{"n": 1}])
        await asyncio.sleep(0.4)  # the lane holds its 30 s lease, retrying the dead callback
    await server.start()
    async with running(DeliveryWorker(Committer(store), long_lease, owner="host-a:8080")):
        await server.wait_for(1, within=5)  # far sooner than the 30 s lease
    assert server.received == [{"n": 1}]

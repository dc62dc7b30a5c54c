"""One contract for every EventLog adapter: memory, Redis Streams and Kafka.

Redis is the real server on 127.0.0.1:6379 (``MEP_TEST_REDIS`` overrides the URL); each test
uses its own key prefix and removes its keys afterwards. Kafka is used when a broker answers at
``MEP_TEST_KAFKA`` (default ``127.0.0.1:9092``); otherwise the Kafka cases are skipped.

The fixtures live in this module rather than ``conftest.py``, which holds the store fixtures.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio
from blockbuster import BlockBuster
from redis.exceptions import RedisError

from mep.core.events import Consumer, Event, EventLog, EventLogError, open_event_log
from mep.core.events.kafka import KafkaEventLog
from mep.core.events.memory import MemoryEventLog
from mep.core.events.redis_streams import RedisStreamsEventLog

REDIS_URL = os.environ.get("MEP_TEST_REDIS", "redis://127.0.0.1:6379/0")
KAFKA_BOOTSTRAP = os.environ.get("MEP_TEST_KAFKA", "127.0.0.1:9092")

CLAIM_IDLE = 0.2


@dataclass
class Backend:
    kind: str
    log: EventLog
    # How long to keep reading for events that should arrive: Kafka group joins and
    # rebalances take seconds, the others answer at once.
    patience: float
    # Whether the adapter counts deliveries (Kafka does not).
    counts_deliveries: bool = True

    def stream(self) -> str:
        return f"ev-{uuid.uuid4().hex}"

    def group(self) -> str:
        return f"g-{uuid.uuid4().hex}"

    async def consumer(
        self, stream: str, group: str, name: str = "", *, claim_idle: float = CLAIM_IDLE
    ) -> Consumer:
        name = name or f"c-{uuid.uuid4().hex[:8]}"
        return await self.log.consumer(stream, group, name, claim_idle=claim_idle)


def _let_redis_read_its_version(blockbuster: BlockBuster) -> None:
    # redis-py 8 looks its own version up in the installed package metadata (file I/O) each time
    # it opens a connection; that is the library's doing, not the adapter's.
    for function in blockbuster.functions.values():
        function.can_block_in("redis/utils.py", "get_lib_version")


async def _redis_client(blockbuster: BlockBuster, **options: Any) -> redis.asyncio.Redis:
    _let_redis_read_its_version(blockbuster)
    client = redis.asyncio.Redis.from_url(REDIS_URL, **options)
    try:
        async with asyncio.timeout(2):
            await client.ping()
    except (RedisError, OSError, TimeoutError) as exc:
        await client.aclose()
        pytest.fail(
            f"Redis is not reachable at {REDIS_URL} ({exc!r}); "
            "`make test` starts it, or point MEP_TEST_REDIS at one"
        )
    return client


async def _kafka_reachable(bootstrap: str) -> bool:
    for server in bootstrap.split(","):
        host, _, port = server.rpartition(":")
        try:
            async with asyncio.timeout(2):
                _, writer = await asyncio.open_connection(host, int(port))
        except (OSError, TimeoutError, ValueError):
            continue
        writer.close()
        await writer.wait_closed()
        return True
    return False


@pytest.fixture(params=["memory", "redis", "kafka"])
async def backend(
    request: pytest.FixtureRequest, blockbuster: BlockBuster
) -> AsyncIterator[Backend]:
    kind: str = request.param
    if kind == "memory":
        log = MemoryEventLog()
        yield Backend(kind, log, patience=5.0)
        await log.close()
    elif kind == "redis":
        client = await _redis_client(blockbuster)
        prefix = f"mep-test:{uuid.uuid4().hex}:"
        redis_log = RedisStreamsEventLog(client, prefix=prefix)
        try:
            yield Backend(kind, redis_log, patience=5.0)
        finally:
            await redis_log.close()
            keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
            if keys:
                await client.unlink(*keys)
            await client.aclose()
    else:
        if not await _kafka_reachable(KAFKA_BOOTSTRAP):
            pytest.skip(f"no Kafka broker reachable at {KAFKA_BOOTSTRAP}; set MEP_TEST_KAFKA")
        kafka_log = await KafkaEventLog.open(KAFKA_BOOTSTRAP)
        try:
            yield Backend(kind, kafka_log, patience=30.0, counts_deliveries=False)
        finally:
            await kafka_log.close()


def _id_key(event_id: str) -> tuple[int, ...]:
    """Ids compare as integer tuples: ``"000..7"``, ``"<ms>-<seq>"``, ``"<partition>-<offset>"``."""
    return tuple(int(part) for part in event_id.split("-"))


def _ordering_domain(backend: Backend, event_id: str) -> str:
    """Kafka orders within a partition only; the other adapters order the whole stream."""
    return event_id.split("-")[0] if backend.kind == "kafka" else ""


def _in_domains(backend: Backend, ids: list[str]) -> dict[str, list[str]]:
    domains: dict[str, list[str]] = {}
    for event_id in ids:
        domains.setdefault(_ordering_domain(backend, event_id), []).append(event_id)
    return domains


async def _collect(
    consumer: Consumer, count: int, *, patience: float, ack: bool = True, max_count: int = 100
) -> list[Event]:
    """Read until ``count`` events arrived or ``patience`` ran out."""
    events: list[Event] = []
    deadline = time.monotonic() + patience
    while len(events) < count and time.monotonic() < deadline:
        batch = await consumer.read(max_count=min(max_count, count - len(events)), timeout=0.5)
        if ack and batch:
            await consumer.ack(*batch)
        events += batch
    return events


async def _nothing_more(backend: Backend, consumer: Consumer) -> list[Event]:
    """Whatever still arrives within a short wait (Kafka: long enough to fetch)."""
    wait = 5.0 if backend.kind == "kafka" else 3 * CLAIM_IDLE
    return await _collect(consumer, 1, patience=wait)


PAYLOADS: list[dict[str, Any]] = [
    {"kind": "registered", "name": "Ünïcødé ✓ 日本語 🚀", "quote": 'a "b" \\ c'},
    {"nested": {"list": [1, 2.5, None, True, {"deep": ["x"]}], "empty": {}}, "n": -7},
    {},
    {"big": 2**53, "float": 1e-9, "false": False},
    {"text": "line\nbreak\ttab\u0000nul"},
]


async def test_append_returns_increasing_ids_and_payloads_round_trip(backend: Backend) -> None:
    stream = backend.stream()
    ids = [await backend.log.append(stream, payload) for payload in PAYLOADS]

    assert len(set(ids)) == len(ids)
    for domain_ids in _in_domains(backend, ids).values():
        assert domain_ids == sorted(domain_ids, key=_id_key)
        assert len({_id_key(i) for i in domain_ids}) == len(domain_ids)

    consumer = await backend.consumer(stream, backend.group())
    events = await _collect(consumer, len(ids), patience=backend.patience)
    assert {e.id: e.payload for e in events} == dict(zip(ids, PAYLOADS, strict=True))
    assert all(e.stream == stream for e in events)


async def test_group_reads_every_event_once_in_order(backend: Backend) -> None:
    stream = backend.stream()
    consumer = await backend.consumer(stream, backend.group())
    ids = [await backend.log.append(stream, {"n": n}) for n in range(10)]

    events = await _collect(consumer, len(ids), patience=backend.patience, max_count=4)

    assert sorted(e.id for e in events) == sorted(ids)
    assert _in_domains(backend, [e.id for e in events]) == _in_domains(backend, ids)
    assert all(e.payload == {"n": ids.index(e.id)} for e in events)
    assert all(e.deliveries == 1 for e in events)
    assert await _nothing_more(backend, consumer) == []


async def test_two_groups_each_get_every_event(backend: Backend) -> None:
    stream = backend.stream()
    first = await backend.consumer(stream, backend.group())
    second = await backend.consumer(stream, backend.group())
    ids = [await backend.log.append(stream, {"n": n}) for n in range(5)]

    got_first, got_second = await asyncio.gather(
        _collect(first, len(ids), patience=backend.patience),
        _collect(second, len(ids), patience=backend.patience),
    )

    assert sorted(e.id for e in got_first) == sorted(ids)
    assert sorted(e.id for e in got_second) == sorted(ids)


async def test_consumers_of_one_group_split_events_without_duplicates(backend: Backend) -> None:
    stream, group = backend.stream(), backend.group()
    # A long claim_idle: a member that waits out its read timeout while the other has not yet
    # acknowledged its batch would otherwise (rightly) claim that batch as well.
    one = await backend.consumer(stream, group, "one", claim_idle=30)
    two = await backend.consumer(stream, group, "two", claim_idle=30)
    ids = [await backend.log.append(stream, {"n": n}) for n in range(20)]

    got: dict[str, list[Event]] = {"one": [], "two": []}
    deadline = time.monotonic() + backend.patience
    while len(got["one"]) + len(got["two"]) < len(ids) and time.monotonic() < deadline:
        batches = await asyncio.gather(
            one.read(max_count=3, timeout=0.5), two.read(max_count=3, timeout=0.5)
        )
        for name, consumer, batch in zip(got, (one, two), batches, strict=True):
            if batch:
                await consumer.ack(*batch)
            got[name] += batch

    all_ids = [e.id for e in got["one"] + got["two"]]
    assert len(all_ids) == len(set(all_ids)), "an event went to both members of the group"
    assert sorted(all_ids) == sorted(ids)
    if backend.kind != "kafka":
        # On Kafka the split is per partition, and a one-partition topic has a single owner.
        assert got["one"]
        assert got["two"]


async def test_acknowledged_events_are_not_redelivered(backend: Backend) -> None:
    stream, group = backend.stream(), backend.group()
    consumer = await backend.consumer(stream, group)
    ids = [await backend.log.append(stream, {"n": n}) for n in range(3)]
    events = await _collect(consumer, len(ids), patience=backend.patience, ack=True)
    assert sorted(e.id for e in events) == sorted(ids)

    await asyncio.sleep(2 * CLAIM_IDLE)
    assert await _nothing_more(backend, consumer) == []
    await consumer.close()
    successor = await backend.consumer(stream, group)
    assert await _nothing_more(backend, successor) == []


async def test_unacknowledged_events_are_redelivered_after_a_consumer_dies(
    backend: Backend,
) -> None:
    stream, group = backend.stream(), backend.group()
    doomed = await backend.consumer(stream, group, "doomed")
    ids = [await backend.log.append(stream, {"n": n}) for n in range(3)]
    read = await _collect(doomed, len(ids), patience=backend.patience, ack=False)
    assert sorted(e.id for e in read) == sorted(ids)
    await doomed.ack(read[0])
    await doomed.close()

    heir = await backend.consumer(stream, group, "heir")
    again = await _collect(heir, 2, patience=backend.patience + 5 * CLAIM_IDLE)

    assert sorted(e.id for e in again) == sorted(e.id for e in read[1:])
    assert {e.id: e.payload for e in again} == {e.id: e.payload for e in read[1:]}
    if backend.counts_deliveries:
        assert all(e.deliveries >= 2 for e in again)
    assert await _nothing_more(backend, heir) == []


async def test_read_with_nothing_available_returns_empty_after_timeout(backend: Backend) -> None:
    consumer = await backend.consumer(backend.stream(), backend.group())

    started = time.monotonic()
    events = await consumer.read(timeout=0.3)
    elapsed = time.monotonic() - started

    assert events == []
    # Loose bounds: it waited instead of answering at once, and it did come back.
    assert 0.1 <= elapsed < 10
    assert await consumer.read(timeout=0) == []


async def test_blocked_read_does_not_stop_appends(backend: Backend) -> None:
    stream = backend.stream()
    readers = [await backend.consumer(stream, backend.group()) for _ in range(2)]
    read_timeout = backend.patience + 5
    tasks = [asyncio.create_task(r.read(timeout=read_timeout)) for r in readers]
    await asyncio.sleep(0.3)
    assert not any(t.done() for t in tasks), "read returned without anything to read"

    # Far less than the readers' timeout: the append did not wait for a blocked read.
    async with asyncio.timeout(min(3.0, read_timeout / 2)):
        event_id = await backend.log.append(stream, {"while": "blocked"})

    async with asyncio.timeout(read_timeout + 5):
        results = await asyncio.gather(*tasks)
    for reader, events in zip(readers, results, strict=True):
        assert [e.id for e in events] == [event_id]
        await reader.ack(*events)


async def test_payload_that_is_not_json_is_refused(backend: Backend) -> None:
    with pytest.raises(EventLogError):
        await backend.log.append(backend.stream(), {"when": object()})


async def test_closing_the_log_stops_its_consumers(backend: Backend) -> None:
    stream = backend.stream()
    consumer = await backend.consumer(stream, backend.group())
    await backend.log.close()

    with pytest.raises(EventLogError):
        await consumer.read(timeout=0.1)
    with pytest.raises(EventLogError):
        await backend.log.append(stream, {"too": "late"})


# Adapter specifics the contract leaves open.


async def test_memory_log_keeps_at_most_max_len_events_per_stream() -> None:
    log = MemoryEventLog(max_len=5)
    lagging = await log.consumer("s", "lagging", "c")
    ids = [await log.append("s", {"n": n}) for n in range(12)]

    fresh = await log.consumer("s", "fresh", "c")
    assert [e.id for e in await fresh.read(timeout=0)] == ids[-5:]
    # A group that fell behind resumes at the oldest event still kept.
    assert [e.id for e in await lagging.read(timeout=0)] == ids[-5:]
    assert await lagging.read(timeout=0) == []
    await log.close()


@pytest.mark.parametrize(
    "options",
    [
        {"decode_responses": True},
        {"protocol": 3},
        {"protocol": 3, "decode_responses": True},
        # Blocking reads must come back before the socket timeout would call the link dead.
        {"socket_timeout": 0.4},
    ],
    ids=["decoded", "resp3", "resp3-decoded", "socket-timeout"],
)
async def test_redis_log_works_whatever_the_client_options(
    blockbuster: BlockBuster, options: dict[str, Any]
) -> None:
    client = await _redis_client(blockbuster, **options)
    prefix = f"mep-test:{uuid.uuid4().hex}:"
    log = RedisStreamsEventLog(client, prefix=prefix, owns_client=True)
    try:
        doomed = await log.consumer("s", "g", "doomed", claim_idle=CLAIM_IDLE)
        event_id = await log.append("s", PAYLOADS[0])
        assert [(e.id, e.payload) for e in await doomed.read(timeout=1)] == [
            (event_id, PAYLOADS[0])
        ]
        await doomed.close()

        heir = await log.consumer("s", "g", "heir", claim_idle=CLAIM_IDLE)
        again = await _collect(heir, 1, patience=5, ack=False)
        assert [(e.id, e.payload) for e in again] == [(event_id, PAYLOADS[0])]
        assert again[0].deliveries == 2, "XPENDING's count: delivered to doomed, then to heir"
        await heir.ack(*again)
        assert await heir.read(timeout=1) == []
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.unlink(*keys)
        await log.close()


async def test_open_event_log_picks_the_adapter(blockbuster: BlockBuster) -> None:
    memory = await open_event_log("memory", redis_client=None)
    assert isinstance(memory, MemoryEventLog)
    await memory.close()

    with pytest.raises(ValueError, match="MEP_STORE=redis://"):
        await open_event_log("redis", redis_client=None)
    for spec in ("", "rabbitmq://x:1", "kafka://", "kafka://host", "kafka://h:1,h:port"):
        with pytest.raises(ValueError, match="memory"):
            await open_event_log(spec, redis_client=None)

    client = await _redis_client(blockbuster)
    try:
        on_redis = await open_event_log("redis", redis_client=client)
        assert isinstance(on_redis, RedisStreamsEventLog)
        await on_redis.close()
        assert await client.ping(), "the log closed a client it does not own"
    finally:
        await client.aclose()


async def test_kafka_without_a_broker_is_an_event_log_error() -> None:
    # A bound socket that does not listen refuses connections, and keeps the port ours.
    with socket.socket() as idle:
        idle.bind(("127.0.0.1", 0))
        port = idle.getsockname()[1]
        with pytest.raises(EventLogError, match=f"127.0.0.1:{port}"):
            await open_event_log(f"kafka://127.0.0.1:{port}", redis_client=None)


async def test_kafka_without_the_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "aiokafka", None)
    with pytest.raises(EventLogError, match=r"mep-platform\[kafka\]"):
        await KafkaEventLog.open(KAFKA_BOOTSTRAP)

"""EventLog over Apache Kafka, through aiokafka (the ``kafka`` extra).

A stream is a topic of the same name and a consumer group is a Kafka consumer group. Kafka has
no per-event acknowledgement: a group's progress on a partition is one committed offset. So
:meth:`KafkaConsumer.ack` commits "everything up to and including this event" on its partition,
and never moves a committed offset backwards.

What stands in for Redis' claiming of idle pending entries is the rebalance: offsets read but
not committed by a member that leaves (``close``) or dies (session timeout) are fetched again
by whichever member the partition is reassigned to. ``claim_idle`` plays no part here, and a
live member never gets its own unacknowledged events back.

aiokafka is imported when a log is opened, so ``mep`` imports without the extra installed.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mep.core.events.port import Event, EventLogError

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

_log = logging.getLogger(__name__)

# Kafka's own rule for topic names; checked here for a clear error instead of a broker timeout.
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


def _import_aiokafka() -> ModuleType:
    try:
        return importlib.import_module("aiokafka")
    except ImportError as exc:
        raise EventLogError(
            "the Kafka event log needs aiokafka: install mep-platform[kafka]"
        ) from exc


def _topic(stream: str) -> str:
    if not _TOPIC.fullmatch(stream) or stream in {".", ".."}:
        raise EventLogError(f"stream name {stream!r} is not a valid Kafka topic name")
    return stream


def _position(event_id: str) -> tuple[int, int]:
    """``(partition, offset)`` out of an event id ``"<partition>-<offset>"``."""
    partition, _, offset = event_id.partition("-")
    try:
        return int(partition), int(offset)
    except ValueError:
        raise ValueError(f"{event_id!r} is not a Kafka event id") from None


class KafkaEventLog:
    """EventLog on Kafka. Build it with ``await KafkaEventLog.open(bootstrap)``.

    Appends use an idempotent producer with ``acks="all"``; an event id is
    ``"<partition>-<offset>"``, increasing within a partition. Events are sent without a key,
    so order is kept per partition only: use single-partition topics where total order matters.
    Topics must exist or be auto-created by the broker.
    """

    def __init__(self, aiokafka: ModuleType, producer: AIOKafkaProducer, bootstrap: str) -> None:
        """Use :meth:`open`; this takes an already started producer."""
        self._aiokafka = aiokafka
        self._errors: tuple[type[Exception], ...] = (
            aiokafka.errors.KafkaError,
            aiokafka.errors.ConsumerStoppedError,
        )
        self._producer = producer
        self._bootstrap = bootstrap
        self._consumers: set[KafkaConsumer] = set()
        self._closed = False

    @classmethod
    async def open(cls, bootstrap: str, *, client_id: str = "mep") -> KafkaEventLog:
        """Connect a producer to the ``host:port[,host:port]`` bootstrap servers."""
        aiokafka = _import_aiokafka()
        producer = aiokafka.AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
        )
        try:
            await producer.start()
        except aiokafka.errors.KafkaError as exc:
            await producer.stop()
            raise EventLogError(f"no Kafka broker reachable at {bootstrap}: {exc}") from exc
        return cls(aiokafka, producer, bootstrap)

    @property
    def errors(self) -> tuple[type[Exception], ...]:
        """aiokafka's exceptions, mapped to :class:`EventLogError` by this adapter."""
        return self._errors

    def check_open(self) -> None:
        if self._closed:
            raise EventLogError("the event log is closed")

    async def append(self, stream: str, payload: Mapping[str, Any]) -> str:
        """Send one record and wait until every in-sync replica has it."""
        self.check_open()
        topic = _topic(stream)
        try:
            data = json.dumps(dict(payload), separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise EventLogError(f"event payload is not JSON-serialisable: {exc}") from exc
        try:
            meta = await self._producer.send_and_wait(topic, data.encode())
        except self._errors as exc:
            raise EventLogError(f"kafka send to {topic!r} failed: {exc}") from exc
        return f"{meta.partition}-{meta.offset}"

    async def consumer(
        self, stream: str, group: str, name: str, *, claim_idle: float = 30.0
    ) -> KafkaConsumer:
        """Join ``group`` on topic ``stream`` (unused by Kafka: ``claim_idle``).

        Returns once the group has given this member its assignment. A group without committed
        offsets starts at the earliest retained record.
        """
        self.check_open()
        topic = _topic(stream)
        consumer = self._aiokafka.AIOKafkaConsumer(
            topic,
            bootstrap_servers=self._bootstrap,
            group_id=group,
            client_id=name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        try:
            await consumer.start()
        except self._errors as exc:
            await consumer.stop()
            raise EventLogError(f"kafka consumer on {topic!r} failed to join: {exc}") from exc
        member = KafkaConsumer(self, consumer, topic, self._aiokafka.TopicPartition)
        self._consumers.add(member)
        return member

    def forget(self, member: KafkaConsumer) -> None:
        self._consumers.discard(member)

    async def close(self) -> None:
        """Stop every consumer of this log (without committing), then flush the producer."""
        if self._closed:
            return
        self._closed = True
        for member in list(self._consumers):
            await member.close()
        await self._producer.stop()


class KafkaConsumer:
    """One member of a Kafka consumer group; ``deliveries`` is always 1 (Kafka keeps no count)."""

    def __init__(
        self,
        log: KafkaEventLog,
        consumer: AIOKafkaConsumer,
        topic: str,
        topic_partition: type[TopicPartition],
    ) -> None:
        self._log = log
        self._consumer = consumer
        self._topic = topic
        self._tp = topic_partition
        # Highest offset committed per partition, so acks arriving out of order never rewind.
        self._committed: dict[int, int] = {}
        self._closed = False

    def _check_open(self) -> None:
        self._log.check_open()
        if self._closed:
            raise EventLogError("the consumer is closed")

    async def read(self, max_count: int = 100, timeout: float = 1.0) -> list[Event]:  # noqa: ASYNC109
        """``getmany`` on the partitions currently assigned to this member."""
        if max_count < 1:
            raise ValueError("max_count must be at least 1")
        self._check_open()
        try:
            batches = await self._consumer.getmany(
                timeout_ms=int(max(timeout, 0.0) * 1000), max_records=max_count
            )
        except self._log.errors as exc:
            raise EventLogError(f"kafka fetch from {self._topic!r} failed: {exc}") from exc
        events: list[Event] = []
        for tp, records in batches.items():
            for record in records:
                event_id = f"{tp.partition}-{record.offset}"
                try:
                    payload = json.loads(record.value)
                except (TypeError, ValueError):
                    payload = None
                if not isinstance(payload, dict):
                    _log.warning("topic %s: skipping malformed record %s", self._topic, event_id)
                    continue
                events.append(Event(self._topic, event_id, payload))
        return events

    async def ack(self, *events: Event) -> None:
        """Commit, per partition, the offset after the highest acknowledged event.

        Acknowledging an event therefore also acknowledges the earlier events of its partition.
        Fails with :class:`EventLogError` when the partition has meanwhile been reassigned to
        another member, which will then deliver the events again.
        """
        self._check_open()
        advance: dict[int, int] = {}
        for event in events:
            if event.stream != self._topic:
                raise ValueError(
                    f"event of stream {event.stream!r} acknowledged on {self._topic!r}"
                )
            partition, offset = _position(event.id)
            if offset + 1 > max(advance.get(partition, -1), self._committed.get(partition, -1)):
                advance[partition] = offset + 1
        if not advance:
            return
        offsets = {self._tp(self._topic, p): o for p, o in advance.items()}
        try:
            await self._consumer.commit(offsets)
        except self._log.errors as exc:
            raise EventLogError(f"kafka commit on {self._topic!r} failed: {exc}") from exc
        self._committed.update(advance)

    async def close(self) -> None:
        """Leave the group without committing: unacknowledged records go to the next owner."""
        if self._closed:
            return
        self._closed = True
        self._log.forget(self)
        await self._consumer.stop()

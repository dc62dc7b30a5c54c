"""In-process EventLog: the embedded default when the platform runs as one process.

Mirrors Redis Streams consumer-group semantics so that code written against this adapter behaves
the same on :mod:`mep.core.events.redis_streams`: every group has a cursor (the next event never
delivered to it) and a pending-entries table (event -> consumer, last delivery time, delivery
count). Pending entries idle for longer than the reading consumer's ``claim_idle`` are delivered
again, before new events.

Nothing survives the process; use Redis or Kafka when events must outlive a restart or be shared
between processes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mep.core.events.port import Event, EventLogError

_log = logging.getLogger(__name__)

# Zero-padded so that ids sort in append order both as strings and as integers.
_ID_WIDTH = 20


def _event_id(seq: int) -> str:
    return f"{seq:0{_ID_WIDTH}d}"


def _encode(payload: Mapping[str, Any]) -> str:
    # Stored as JSON text rather than the caller's object: it rejects what the other adapters
    # could not store either, and every delivery decodes a fresh copy, so neither the producer
    # nor one group's consumer can mutate what another group sees.
    try:
        return json.dumps(dict(payload), separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise EventLogError(f"event payload is not JSON-serialisable: {exc}") from exc


@dataclass(slots=True)
class _Pending:
    consumer: str
    delivered_at: float
    deliveries: int


@dataclass(slots=True)
class _Group:
    cursor: int
    # Keyed by sequence number. Entries are inserted when first delivered, and first deliveries
    # follow the cursor, so iteration order is id order (as in Redis' PEL).
    pending: dict[int, _Pending] = field(default_factory=dict)

    def oldest_needed(self) -> int:
        """Sequence number of the oldest event this group has not acknowledged yet."""
        return next(iter(self.pending), self.cursor)


@dataclass(slots=True)
class _Stream:
    name: str
    first_seq: int = 0
    entries: deque[str] = field(default_factory=deque)
    groups: dict[str, _Group] = field(default_factory=dict)
    # Replaced on every change; readers wait on the instance they saw, so one set() wakes every
    # reader of that moment without a lock or a polling loop.
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def next_seq(self) -> int:
        return self.first_seq + len(self.entries)

    def notify(self) -> None:
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()


class MemoryEventLog:
    """EventLog kept in this process's memory.

    At most ``max_len`` events are kept per stream; appending beyond that drops the oldest. When
    the oldest event is still unacknowledged by some group it is dropped all the same (and a
    warning logged), as Redis' ``XADD MAXLEN`` does: a stalled or abandoned group must not make
    the embedded platform run out of memory. Its pending entries are dropped with it.
    """

    def __init__(self, *, max_len: int = 100_000) -> None:
        if max_len < 1:
            raise ValueError("max_len must be at least 1")
        self._max_len = max_len
        self._streams: dict[str, _Stream] = {}
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def check_open(self) -> None:
        if self._closed:
            raise EventLogError("the event log is closed")

    def _stream(self, name: str) -> _Stream:
        stream = self._streams.get(name)
        if stream is None:
            stream = self._streams[name] = _Stream(name)
        return stream

    async def append(self, stream: str, payload: Mapping[str, Any]) -> str:
        """Append one event; its id sorts after every earlier id of the stream."""
        self.check_open()
        data = _encode(payload)
        target = self._stream(stream)
        seq = target.next_seq
        target.entries.append(data)
        self._trim(target)
        target.notify()
        return _event_id(seq)

    def _trim(self, stream: _Stream) -> None:
        excess = len(stream.entries) - self._max_len
        if excess <= 0:
            return
        needed = min((g.oldest_needed() for g in stream.groups.values()), default=math.inf)
        dropped_unacked = 0
        for _ in range(excess):
            seq = stream.first_seq
            stream.entries.popleft()
            stream.first_seq += 1
            if seq >= needed:
                dropped_unacked += 1
                for group in stream.groups.values():
                    group.pending.pop(seq, None)
        if dropped_unacked:
            _log.warning(
                "stream %s over max_len=%d: dropped %d event(s) some group has not acknowledged",
                stream.name,
                self._max_len,
                dropped_unacked,
            )

    async def consumer(
        self, stream: str, group: str, name: str, *, claim_idle: float = 30.0
    ) -> MemoryConsumer:
        """Join ``group`` on ``stream``; a new group starts at the oldest event still kept."""
        self.check_open()
        if claim_idle < 0:
            raise ValueError("claim_idle must not be negative")
        target = self._stream(stream)
        target.groups.setdefault(group, _Group(cursor=target.first_seq))
        return MemoryConsumer(self, target, group, name, claim_idle)

    async def close(self) -> None:
        """Stop every consumer; blocked reads return with :class:`EventLogError`."""
        self._closed = True
        for stream in self._streams.values():
            stream.notify()


class MemoryConsumer:
    """One member of a consumer group of a :class:`MemoryEventLog` stream."""

    def __init__(
        self, log: MemoryEventLog, stream: _Stream, group: str, name: str, claim_idle: float
    ) -> None:
        self._log = log
        self._stream = stream
        self._group = stream.groups[group]
        self._name = name
        self._claim_idle = claim_idle
        self._closed = False

    def _check_open(self) -> None:
        self._log.check_open()
        if self._closed:
            raise EventLogError("the consumer is closed")

    async def read(self, max_count: int = 100, timeout: float = 1.0) -> list[Event]:  # noqa: ASYNC109
        """Reclaimed idle pending events first, then new ones; waits up to ``timeout``."""
        if max_count < 1:
            raise ValueError("max_count must be at least 1")
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            self._check_open()
            events, next_claim = self._take(max_count)
            if events:
                return events
            now = time.monotonic()
            if now >= deadline:
                return []
            changed = self._stream.changed
            try:
                # Woken by an append or close; otherwise when a pending entry becomes
                # claimable or the caller's timeout runs out, whichever comes first.
                async with asyncio.timeout(min(deadline, next_claim) - now):
                    await changed.wait()
            except TimeoutError:
                pass

    def _take(self, max_count: int) -> tuple[list[Event], float]:
        """Claim and deliver up to ``max_count`` events; also when the next claim is due."""
        stream, group = self._stream, self._group
        now = time.monotonic()
        events: list[Event] = []
        next_claim = math.inf
        for seq, entry in group.pending.items():
            if len(events) >= max_count:
                break
            claimable_at = entry.delivered_at + self._claim_idle
            if claimable_at > now:
                next_claim = min(next_claim, claimable_at)
                continue
            entry.consumer = self._name
            entry.delivered_at = now
            entry.deliveries += 1
            events.append(self._event(seq, entry.deliveries))
        # A group that fell behind a trim resumes at the oldest event still kept.
        group.cursor = max(group.cursor, stream.first_seq)
        while len(events) < max_count and group.cursor < stream.next_seq:
            seq = group.cursor
            group.pending[seq] = _Pending(self._name, now, 1)
            group.cursor += 1
            events.append(self._event(seq, 1))
        return events, next_claim

    def _event(self, seq: int, deliveries: int) -> Event:
        data = self._stream.entries[seq - self._stream.first_seq]
        return Event(self._stream.name, _event_id(seq), json.loads(data), deliveries)

    async def ack(self, *events: Event) -> None:
        """Drop the events from the group's pending entries, whoever holds them."""
        self._check_open()
        for event in events:
            if event.stream != self._stream.name:
                raise ValueError(
                    f"event of stream {event.stream!r} acknowledged on {self._stream.name!r}"
                )
            self._group.pending.pop(int(event.id), None)

    async def close(self) -> None:
        """Leave the group; this consumer's pending entries stay for the other members."""
        self._closed = True

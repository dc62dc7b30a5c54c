"""The EventLog port: append-only streams read by consumer groups, at least once.

A stream is a named, ordered log of JSON events. Consumers join a group; each event of the stream
goes to one consumer of each group. A consumer acknowledges what it has handled; what a consumer
read but never acknowledged (because it died) is delivered again to another consumer of the group
once ``claim_idle`` seconds have passed (Redis Streams pending-entry semantics; on Kafka, the
uncommitted offsets after a rebalance). Consumers must therefore tolerate a repeated event; every
event carries a stable ``id`` within its stream for that purpose.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Event:
    stream: str
    id: str
    payload: dict[str, Any]
    deliveries: int = 1


class EventLogError(Exception):
    """The event log could not be reached or refused the operation."""


class Consumer(Protocol):
    """One member of a consumer group on one stream."""

    # ``timeout`` bounds the wait for events (XREADGROUP BLOCK, Kafka getmany timeout_ms) and an
    # empty list is a normal answer, so it is part of the call, not a cancellation scope.
    async def read(self, max_count: int = 100, timeout: float = 1.0) -> list[Event]:  # noqa: ASYNC109
        """Up to ``max_count`` events for this consumer, waiting at most ``timeout`` seconds.

        Events that another member of the group read and left unacknowledged for longer than the
        consumer's ``claim_idle`` come first.
        """
        ...

    async def ack(self, *events: Event) -> None:
        """Mark events as handled; they are not delivered to this group again."""
        ...

    async def close(self) -> None:
        """Leave the group. Unacknowledged events stay pending for other members."""
        ...


class EventLog(Protocol):
    """Streams of platform events (registry changes, invocation logs, charging records)."""

    async def append(self, stream: str, payload: Mapping[str, Any]) -> str:
        """Append one event; its id once the log has accepted it."""
        ...

    async def consumer(
        self, stream: str, group: str, name: str, *, claim_idle: float = 30.0
    ) -> Consumer:
        """Join ``group`` on ``stream`` as ``name``.

        A new group starts at the stream's beginning (its oldest retained event).
        """
        ...

    async def close(self) -> None:
        """Release connections; consumers of this log stop working."""
        ...

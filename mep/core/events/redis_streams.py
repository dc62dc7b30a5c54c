"""EventLog over Redis Streams (``XADD``, consumer groups, ``XAUTOCLAIM``).

Stream ``s`` lives at key ``{prefix}s:{s}``; every entry holds one field ``p``, the event payload
as compact JSON. Consumer-group pending entries are what makes delivery at-least-once: an entry
read but not ``XACK``-ed stays pending and another member claims it once it has been idle for
``claim_idle`` seconds.

Connections: the log uses the client it is given (normally the store's, so one pool serves
both). A blocked ``XREADGROUP`` holds one pooled connection for up to ``timeout`` seconds while
other commands take other connections, which ``redis.asyncio`` opens on demand. A pool capped
with ``max_connections`` must therefore leave room for every consumer that may block at once;
a single-connection client is refused because one blocked read would stall every append.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import redis.asyncio
from redis.exceptions import RedisError, ResponseError

from mep.core.events.port import Event, EventLogError

_log = logging.getLogger(__name__)

_FIELD = "p"


def _text(value: bytes | str) -> str:
    # The shared client may or may not have been built with decode_responses=True.
    return value.decode() if isinstance(value, bytes) else value


@contextmanager
def _mapped_errors(operation: str) -> Iterator[None]:
    try:
        yield
    except RedisError as exc:
        raise EventLogError(f"redis {operation} failed: {exc}") from exc


def _entries(response: Any) -> Iterator[tuple[Any, Any]]:
    """``(id, fields)`` pairs out of an XREADGROUP reply, whatever shape redis-py gives it.

    Depending on the protocol (RESP2/RESP3) and redis-py's legacy-response setting the reply is
    a list of ``[stream, entries]``, a dict ``{stream: entries}`` or ``{stream: [entries]}``.
    """
    if not response:
        return
    streams = response.values() if isinstance(response, dict) else (r[1] for r in response)
    for entries in streams:
        yield from _flatten(entries)


def _flatten(entries: Any) -> Iterator[tuple[Any, Any]]:
    for item in entries or ():
        if isinstance(item, list | tuple) and item and isinstance(item[0], bytes | str):
            yield item[0], item[1]
        elif isinstance(item, list):
            yield from _flatten(item)


class RedisStreamsEventLog:
    """EventLog on Redis Streams.

    ``client`` is closed by :meth:`close` only when ``owns_client`` is true. ``max_len`` bounds
    each stream with ``XADD MAXLEN ~`` (Redis trims whole macro nodes, so a stream may hold a
    little more); trimming does not look at consumer groups, so a group lagging by more than
    ``max_len`` events loses the oldest ones.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        prefix: str = "mep:",
        max_len: int = 1_000_000,
        owns_client: bool = False,
    ) -> None:
        if client.single_connection_client:
            raise ValueError("RedisStreamsEventLog needs a pooled client, not a single connection")
        if max_len < 1:
            raise ValueError("max_len must be at least 1")
        self._client = client
        self._prefix = prefix
        self._max_len = max_len
        self._owns_client = owns_client
        self._closed = False
        socket_timeout = client.connection_pool.connection_kwargs.get("socket_timeout")
        # A blocking read must come back before the client's socket timeout, or redis-py would
        # treat the silent connection as dead and raise TimeoutError.
        self._max_block: float | None = None if socket_timeout is None else socket_timeout / 2

    @property
    def client(self) -> redis.asyncio.Redis:
        return self._client

    @property
    def max_block(self) -> float | None:
        """Longest a read may block, in seconds (``None``: as long as the caller asks)."""
        return self._max_block

    def key(self, stream: str) -> str:
        """The Redis key holding ``stream``."""
        return f"{self._prefix}s:{stream}"

    def check_open(self) -> None:
        if self._closed:
            raise EventLogError("the event log is closed")

    async def append(self, stream: str, payload: Mapping[str, Any]) -> str:
        """``XADD key MAXLEN ~ max_len * p <json>``; the entry id Redis assigned."""
        self.check_open()
        try:
            data = json.dumps(dict(payload), separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise EventLogError(f"event payload is not JSON-serialisable: {exc}") from exc
        with _mapped_errors("XADD"):
            entry_id = await self._client.xadd(
                self.key(stream), {_FIELD: data}, maxlen=self._max_len, approximate=True
            )
        return _text(entry_id)

    async def consumer(
        self, stream: str, group: str, name: str, *, claim_idle: float = 30.0
    ) -> RedisStreamsConsumer:
        """``XGROUP CREATE key group 0 MKSTREAM``, tolerating a group that already exists."""
        self.check_open()
        if claim_idle < 0:
            raise ValueError("claim_idle must not be negative")
        try:
            await self._client.xgroup_create(self.key(stream), group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise EventLogError(f"redis XGROUP CREATE failed: {exc}") from exc
        except RedisError as exc:
            raise EventLogError(f"redis XGROUP CREATE failed: {exc}") from exc
        return RedisStreamsConsumer(self, stream, group, name, claim_idle)

    async def close(self) -> None:
        """Stop the consumers; close the client only if this log owns it."""
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            await self._client.aclose()


class RedisStreamsConsumer:
    """One consumer of a Redis consumer group.

    :meth:`close` does not ``XGROUP DELCONSUMER``: that would discard the consumer's pending
    entries, which must instead stay for another member to claim.
    """

    def __init__(
        self, log: RedisStreamsEventLog, stream: str, group: str, name: str, claim_idle: float
    ) -> None:
        self._log = log
        self._client = log.client
        self._stream = stream
        self._key = log.key(stream)
        self._group = group
        self._name = name
        self._min_idle_ms = int(claim_idle * 1000)
        # XAUTOCLAIM scans the pending list like SCAN; resuming where the previous call stopped
        # visits every pending entry eventually even when one call cannot cover them all.
        self._claim_from = "0-0"
        self._closed = False

    def _check_open(self) -> None:
        self._log.check_open()
        if self._closed:
            raise EventLogError("the consumer is closed")

    async def read(self, max_count: int = 100, timeout: float = 1.0) -> list[Event]:  # noqa: ASYNC109
        """``XAUTOCLAIM`` idle pending entries, then ``XREADGROUP ... >`` blocking for the rest.

        The read blocks only when nothing was claimed, and never longer than half the client's
        socket timeout. Entries that become claimable while it blocks go to the next read.
        """
        if max_count < 1:
            raise ValueError("max_count must be at least 1")
        self._check_open()
        events = await self._claim(max_count)
        if len(events) < max_count:
            block: int | None = None
            if not events and timeout > 0:
                limit = self._log.max_block
                wait = timeout if limit is None else min(timeout, limit)
                block = max(1, int(wait * 1000))
            with _mapped_errors("XREADGROUP"):
                reply = await self._client.xreadgroup(
                    self._group,
                    self._name,
                    {self._key: ">"},
                    count=max_count - len(events),
                    block=block,
                )
            events += await self._decode(_entries(reply), claimed_counts=None)
        return events

    async def _claim(self, max_count: int) -> list[Event]:
        with _mapped_errors("XAUTOCLAIM"):
            reply = await self._client.xautoclaim(
                self._key,
                self._group,
                self._name,
                min_idle_time=self._min_idle_ms,
                start_id=self._claim_from,
                count=max_count,
            )
        self._claim_from = _text(reply[0])
        # Entries deleted by MAXLEN come back separately (Redis >= 7) and are dropped from the
        # pending list by Redis itself; only live ones are redelivered.
        claimed = [(i, f) for i, f in reply[1] if i is not None and f is not None]
        if not claimed:
            return []
        return await self._decode(claimed, claimed_counts=await self._delivery_counts(claimed))

    async def _delivery_counts(self, claimed: list[tuple[Any, Any]]) -> dict[str, int]:
        """Delivery counts of just-claimed entries (XAUTOCLAIM already counted this one)."""
        pipe = self._client.pipeline(transaction=False)
        for entry_id, _ in claimed:
            pipe.xpending_range(self._key, self._group, entry_id, entry_id, 1, self._name)
        with _mapped_errors("XPENDING"):
            replies = await pipe.execute()
        counts: dict[str, int] = {}
        for reply in replies:
            for row in reply or ():
                counts[_text(row["message_id"])] = int(row["times_delivered"])
        return counts

    async def _decode(
        self,
        entries: Iterator[tuple[Any, Any]] | list[tuple[Any, Any]],
        claimed_counts: dict[str, int] | None,
    ) -> list[Event]:
        """Events out of stream entries; ``claimed_counts`` is None for first deliveries."""
        events: list[Event] = []
        malformed: list[str] = []
        for raw_id, fields in entries:
            entry_id = _text(raw_id)
            data = fields.get(_FIELD.encode(), fields.get(_FIELD)) if fields else None
            try:
                payload = json.loads(data) if data is not None else None
            except ValueError:
                payload = None
            if not isinstance(payload, dict):
                malformed.append(entry_id)
                continue
            # Claimed entries have been delivered at least twice even if XPENDING lost track.
            count = 1 if claimed_counts is None else claimed_counts.get(entry_id, 2)
            events.append(Event(self._stream, entry_id, payload, count))
        if malformed:
            # Not written by this log; acknowledging them keeps them from being claimed forever.
            _log.warning("stream %s: skipping malformed entries %s", self._stream, malformed)
            with _mapped_errors("XACK"):
                await self._client.xack(self._key, self._group, *malformed)
        return events

    async def ack(self, *events: Event) -> None:
        """``XACK`` the events: they leave the group's pending list."""
        self._check_open()
        for event in events:
            if event.stream != self._stream:
                raise ValueError(
                    f"event of stream {event.stream!r} acknowledged on {self._stream!r}"
                )
        if events:
            with _mapped_errors("XACK"):
                await self._client.xack(self._key, self._group, *(e.id for e in events))

    async def close(self) -> None:
        """Stop reading; pending entries stay in the group for the other members to claim."""
        self._closed = True

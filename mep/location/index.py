"""The active Location subscriptions in memory, found by the address or zone an event concerns.

Matching a network change must not read the store: a tick of the simulator moves thousands of
UEs, and each event is looked up here by address (circle, distance, userTracking) or by zone
(zonalTraffic, zoneStatus) in a dict. Periodic subscriptions are driven by timers, not events,
and are not indexed by address.

The index follows every commit of this process to ``loc_subscriptions`` (``Committer.watch``):
a Put is the document as written, at the version after the write (all writes here carry an
expected version). It is loaded from the store on first use; commits seen during the load are
applied after it, so the newer write wins. Writes of other replicas are picked up by a periodic
reload and whenever a commit conflicts on a subscription (the caller reloads those ids).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import structlog

from mep.core.store import Delete, Operation, Put, Store
from mep.location.kinds import Kind
from mep.location.models import (
    CircleNotificationSubscription,
    DistanceNotificationSubscription,
    UserTrackingSubscription,
    ZonalTrafficSubscription,
    ZoneStatusSubscription,
)
from mep.location.records import SUBSCRIPTIONS, Stored

log = structlog.get_logger("mep.location")

_PAGE = 1000
#: Seconds between reloads that pick up other replicas' writes.
RESYNC = 30.0


def addresses_of(stored: Stored) -> set[str]:
    """The addresses whose events can concern ``stored``."""
    sub = stored.subscription
    if isinstance(sub, CircleNotificationSubscription):
        return set(sub.address)
    if isinstance(sub, DistanceNotificationSubscription):
        return set(sub.monitored_address) | set(sub.reference_address or ())
    if isinstance(sub, UserTrackingSubscription):
        return {sub.address}
    return set()


def zone_of(stored: Stored) -> str | None:
    sub = stored.subscription
    if isinstance(sub, ZonalTrafficSubscription | ZoneStatusSubscription):
        return sub.zone_id
    return None


class SubscriptionIndex:
    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._entries: dict[str, Stored] = {}
        #: The subscription JSON each entry was parsed from, to skip parsing unchanged ones.
        self._raw: dict[str, object] = {}
        self._by_address: dict[str, set[str]] = defaultdict(set)
        self._by_zone: dict[str, set[str]] = defaultdict(set)
        self._buffer: list[Operation] | None = None
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, subscription_id: str) -> Stored | None:
        return self._entries.get(subscription_id)

    def by_address(self, address: str) -> Iterator[Stored]:
        for subscription_id in self._by_address.get(address, ()):
            yield self._entries[subscription_id]

    def by_zone(self, zone_id: str) -> Iterator[Stored]:
        for subscription_id in self._by_zone.get(zone_id, ()):
            yield self._entries[subscription_id]

    def of_kind(self, kind: Kind) -> Iterator[Stored]:
        return (s for s in self._entries.values() if s.kind is kind)

    def on_commit(self, op: Operation) -> None:
        """``Committer.watch`` callback for ``loc_subscriptions``."""
        if self._buffer is not None:
            self._buffer.append(op)
        else:
            self._apply(op)

    async def ready(self) -> None:
        """Load on first use; reload every ``RESYNC`` seconds for other replicas' writes."""
        if self._loaded_at is not None and self._clock() - self._loaded_at < RESYNC:
            return
        async with self._lock:
            if self._loaded_at is None or self._clock() - self._loaded_at >= RESYNC:
                await self._load()

    async def reload(self, ids: Iterable[str]) -> None:
        """Read these subscriptions again from the store (after a conflict on them)."""
        wanted = sorted(set(ids))
        found = {doc.id: doc for doc in await self._store.get_many(SUBSCRIPTIONS, wanted)}
        for subscription_id in wanted:
            doc = found.get(subscription_id)
            if doc is None:
                self._remove(subscription_id)
            else:
                self._set(self._parsed(doc.id, doc.version, doc.data))

    async def _load(self) -> None:
        self._buffer = []
        try:
            docs = []
            after: str | None = None
            while page := await self._store.scan(SUBSCRIPTIONS, after=after, limit=_PAGE):
                docs += page
                after = page[-1].id
            fresh: dict[str, Stored] = {}
            for doc in docs:
                try:
                    fresh[doc.id] = self._parsed(doc.id, doc.version, doc.data)
                except (ValueError, KeyError) as error:
                    log.warning("unreadable subscription skipped", id=doc.id, error=str(error))
            for gone in set(self._entries) - set(fresh):
                self._remove(gone)
            for stored in fresh.values():
                self._set(stored)
        finally:
            pending, self._buffer = self._buffer, None
        for op in pending:
            self._apply(op)
        self._loaded_at = self._clock()

    def _apply(self, op: Operation) -> None:
        if isinstance(op, Delete):
            self._remove(op.id)
            return
        assert isinstance(op, Put)
        expected = op.expected_version
        current = self._entries.get(op.id)
        if expected is None:
            # Not written by this module: version unknown; a conflict will reload it.
            version = -1 if current is None else current.version + 1
        else:
            version = expected + 1
        self._set(self._parsed(op.id, version, op.data))

    def _parsed(self, subscription_id: str, version: int, data: Mapping[str, Any]) -> Stored:
        current = self._entries.get(subscription_id)
        raw = data["subscription"]
        # Most writes only change the running state: keep the parsed subscription then.
        kept = current.subscription if current and self._raw.get(subscription_id) == raw else None
        stored = Stored.from_data(subscription_id, version, data, kept)
        self._raw[subscription_id] = raw
        return stored

    def _set(self, stored: Stored) -> None:
        old = self._entries.get(stored.id)
        if old is not None:
            self._unindex(old)
        self._entries[stored.id] = stored
        for address in addresses_of(stored):
            self._by_address[address].add(stored.id)
        zone = zone_of(stored)
        if zone is not None:
            self._by_zone[zone].add(stored.id)

    def _remove(self, subscription_id: str) -> None:
        self._raw.pop(subscription_id, None)
        old = self._entries.pop(subscription_id, None)
        if old is not None:
            self._unindex(old)

    def _unindex(self, old: Stored) -> None:
        for address in addresses_of(old):
            _discard(self._by_address, address, old.id)
        zone = zone_of(old)
        if zone is not None:
            _discard(self._by_zone, zone, old.id)


def _discard(index: dict[str, set[str]], value: str, subscription_id: str) -> None:
    ids = index.get(value)
    if ids is not None:
        ids.discard(subscription_id)
        if not ids:
            del index[value]

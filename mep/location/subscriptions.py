"""Location subscriptions as resources (GS MEC 013 clauses 7.3.3 to 7.3.14): create, read, list,
replace, delete, for the six types alike.

A subscription belongs to its creator (an application instance, or the operator): an app sees
and changes only its own (another's is 404, as if absent); the operator sees all. Creating or
replacing one is one commit with its first running state, its ``checkImmediate``
notification, its timers and its clientCorrelator guard. A PUT starts the subscription afresh:
new running state (counts, inside/outside), timers and ``duration`` from now.
"""

from __future__ import annotations

import dataclasses
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mep.core.commits import Committer
from mep.core.notify import deliveries
from mep.core.notify.deliveries import check_callback
from mep.core.optimistic import optimistically
from mep.core.problem import BadRequest, InvalidParam, NotFound, PreconditionFailed
from mep.core.store import ABSENT, Delete, Document, Operation, Put, VersionConflict
from mep.core.timers import cancel, timer_id
from mep.location.engine import LocationEngine
from mep.location.kinds import KINDS, Kind
from mep.location.models import AnySubscription, DistanceNotificationSubscription
from mep.location.models import NotificationFormat as Format
from mep.location.records import (
    CORRELATORS,
    DEFAULT_DURATION,
    DURATION,
    SUBSCRIPTIONS,
    Links,
    Run,
    Stored,
    correlator_guard,
    owner_key,
    removal_ops,
    subscription_json,
)
from mep.network.port import NetworkSource


@dataclass(frozen=True)
class Saved:
    stored: Stored
    #: False: a repeated create (same clientCorrelator and body) answered with the first one.
    created: bool = True


def check(kind: Kind, sub: AnySubscription) -> None:
    """What the models cannot say: a usable callback, JSON notifications, distance pairs."""
    root = KINDS[kind].root
    check_callback(sub.callback_reference.notify_url, f"/{root}/callbackReference/notifyURL")
    if sub.callback_reference.notification_format is Format.XML:
        raise BadRequest(
            "notifications are sent as JSON only",
            invalid_params=[
                InvalidParam(f"/{root}/callbackReference/notificationFormat", "JSON only")
            ],
        )
    if isinstance(sub, DistanceNotificationSubscription) and not _has_pairs(sub):
        reason = "two addresses at least, or referenceAddress"
        raise BadRequest(
            f"monitoredAddress: {reason}",
            invalid_params=[InvalidParam(f"/{root}/monitoredAddress", reason)],
        )


def _has_pairs(sub: DistanceNotificationSubscription) -> bool:
    return bool(sub.reference_address) or len(set(sub.monitored_address)) >= 2


class LocationSubscriptions:
    def __init__(
        self,
        committer: Committer,
        engine: LocationEngine,
        links: Links,
        network: NetworkSource,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._committer = committer
        self._store = committer.store
        self._engine = engine
        self._links = links
        self._network = network
        self._clock = clock

    async def create(self, owner: str, kind: Kind, sub: AnySubscription) -> Saved:
        check(kind, sub)
        now = self._clock()
        stored = self._fresh(str(uuid.uuid4()), kind, owner, 0, sub, now)
        ops, ended = self._engine.start_ops(stored, self._network.state, now)
        correlator = sub.client_correlator
        if correlator is not None and not ended:
            guard = correlator_guard(kind, owner, correlator)
            ops.append(Put(CORRELATORS, guard, {"id": stored.id}, ABSENT))
        try:
            await self._committer.commit(ops)
        except VersionConflict as conflict:
            if conflict.collection != CORRELATORS or correlator is None:
                raise
            return await self._repeated(owner, kind, sub, correlator)
        return Saved(dataclasses.replace(stored, version=1))

    async def _repeated(
        self, owner: str, kind: Kind, sub: AnySubscription, correlator: str
    ) -> Saved:
        """A create naming a clientCorrelator already in use: the same request again is
        answered with the subscription it made; another one is refused."""
        guard = await self._store.get(CORRELATORS, correlator_guard(kind, owner, correlator))
        doc = None if guard is None else await self._store.get(SUBSCRIPTIONS, guard.data["id"])
        if doc is not None:
            existing = Stored.from_document(doc)
            if subscription_json(existing.subscription) == subscription_json(sub):
                return Saved(existing, created=False)
        raise _correlator_taken(kind)

    async def get(self, owner: str | None, kind: Kind, subscription_id: str) -> Stored:
        """The subscription, if of ``kind`` and ``owner``'s (any, for ``None``); else 404."""
        doc = await self._store.get(SUBSCRIPTIONS, subscription_id)
        if doc is None or doc.data["kind"] != kind.value:
            raise NotFound(f"no {kind.value} subscription {subscription_id!r}")
        if owner is not None and doc.data["owner"] != owner:
            raise NotFound(f"no {kind.value} subscription {subscription_id!r}")
        return Stored.from_document(doc)

    async def list_of(self, owner: str | None, kind: Kind) -> list[Stored]:
        if owner is None:
            docs = await self._store.find(SUBSCRIPTIONS, "kind", kind.value)
        else:
            docs = await self._store.find(SUBSCRIPTIONS, "owner", owner_key(kind, owner))
        return [Stored.from_document(doc) for doc in docs]

    async def replace(
        self,
        owner: str | None,
        kind: Kind,
        subscription_id: str,
        sub: AnySubscription,
        if_match: int | None = None,
    ) -> Stored:
        """GS MEC 013 PUT: the new body, running state and timers from now on."""
        check(kind, sub)

        async def attempt() -> Stored:
            current = await self.get(owner, kind, subscription_id)
            if if_match is not None and if_match != current.version:
                raise PreconditionFailed(f"ETag does not match version {current.version}")
            now = self._clock()
            new = self._fresh(current.id, kind, current.owner, current.version, sub, now)
            ops: list[Operation] = [
                cancel(t) for t in (current.duration_timer, current.run.timer) if t is not None
            ]
            started, ended = self._engine.start_ops(new, self._network.state, now)
            ops += started
            ops += self._correlator_ops(current, sub, ended)
            try:
                await self._committer.commit(ops)
            except VersionConflict as conflict:
                if conflict.collection == CORRELATORS:
                    raise _correlator_taken(kind) from None
                raise
            return dataclasses.replace(new, version=current.version + 1)

        return await optimistically(
            attempt, what=f"subscription {subscription_id!r}", pinned=if_match is not None
        )

    async def delete(self, owner: str | None, kind: Kind, subscription_id: str) -> None:
        """The subscriber is done: its notifications still queued are dropped with it."""

        async def attempt() -> None:
            current = await self.get(owner, kind, subscription_id)
            await self._committer.commit(await self._deletion_ops(current))

        await optimistically(attempt, what=f"subscription {subscription_id!r}")

    async def removal_ops(self, owner: str) -> list[Operation]:
        """Every subscription of ``owner`` (an application instance being removed), for the
        caller to commit with its own writes."""
        ops: list[Operation] = []
        for kind in Kind:
            for stored in await self.list_of(owner, kind):
                ops += await self._deletion_ops(stored)
        return ops

    def render(self, stored: Stored) -> dict[str, Any]:
        """The subscription as GET shows it, in its root key."""
        return {KINDS[stored.kind].root: self.wire(stored)}

    def wire(self, stored: Stored) -> dict[str, Any]:
        body = subscription_json(stored.subscription)
        body["resourceURL"] = self._links.subscription(stored.kind, stored.id)
        if stored.expires_at is not None:
            # MEC 013: "The server MUST return in this element the period of time for which
            # the subscription will still be valid."
            body["duration"] = max(0, math.ceil(stored.expires_at - self._clock()))
        return body

    def render_list(self, kind: Kind, found: list[Stored]) -> dict[str, Any]:
        return {
            "notificationSubscriptionList": {
                KINDS[kind].root: [self.wire(s) for s in found],
                "resourceURL": self._links.subscriptions(kind),
            }
        }

    def _fresh(
        self,
        subscription_id: str,
        kind: Kind,
        owner: str,
        version: int,
        sub: AnySubscription,
        now: float,
    ) -> Stored:
        duration: int | None = getattr(sub, "duration", None)
        expires_at = None
        if duration is not None:
            expires_at = now + (duration or DEFAULT_DURATION)
        timer = None if expires_at is None else timer_id(DURATION, subscription_id, expires_at)
        return Stored(subscription_id, kind, owner, version, sub, Run(), expires_at, timer)

    def _correlator_ops(
        self, current: Stored, sub: AnySubscription, ended: bool
    ) -> list[Operation]:
        old, new = current.subscription.client_correlator, sub.client_correlator
        if old == new and not ended:
            return []
        ops: list[Operation] = []
        if old is not None:
            ops.append(Delete(CORRELATORS, correlator_guard(current.kind, current.owner, old)))
        if new is not None and not ended:
            guard = correlator_guard(current.kind, current.owner, new)
            ops.append(Put(CORRELATORS, guard, {"id": current.id}, ABSENT))
        return ops

    async def _deletion_ops(self, stored: Stored) -> list[Operation]:
        queued: list[Document] = await self._store.find(deliveries.COLLECTION, "target", stored.key)
        return removal_ops(stored) + [Delete(deliveries.COLLECTION, doc.id) for doc in queued]


def _correlator_taken(kind: Kind) -> BadRequest:
    reason = "already names another subscription of this client"
    return BadRequest(
        f"clientCorrelator {reason}",
        invalid_params=[InvalidParam(f"/{KINDS[kind].root}/clientCorrelator", reason)],
    )

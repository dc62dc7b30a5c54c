"""Location subscriptions at work: network changes and timers in, notifications out.

Each network change is matched against the in-memory index (only the subscriptions an event's
address or zone can concern), and everything it causes (notifications, running states,
re-check timers, subscriptions that end) is ONE commit. A commit that conflicts (a PUT or
DELETE, or another replica, changed a subscription meanwhile) reloads the subscriptions
concerned and evaluates the change again; the failed attempt wrote nothing.

Timers (durable, see ``mep.core.timers``) drive the rest: the next periodic notification, the
re-check after a ``frequency`` hold-off, and the end of a ``duration``. Their handlers read the
subscription from the store and return writes the timer service commits with its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import structlog

from mep.core.commits import Committer
from mep.core.notify.deliveries import Notifier
from mep.core.store import Delete, Operation, Store, StoreError, VersionConflict
from mep.core.timers import Timer, Timers, schedule, timer_id
from mep.location import matching, zonal
from mep.location.index import SubscriptionIndex
from mep.location.kinds import Kind
from mep.location.matching import Mode, Outcome
from mep.location.models import PeriodicNotificationSubscription
from mep.location.records import (
    DURATION,
    PERIODIC,
    RECHECK,
    SUBSCRIPTIONS,
    Links,
    Run,
    Stored,
    removal_ops,
)
from mep.location.writes import outcome_ops
from mep.network.port import NetworkEvent, NetworkSource, NetworkState

log = structlog.get_logger("mep.location")

#: Evaluations of one change before giving up on it (each after a conflicting commit).
ATTEMPTS = 5

_SPATIAL = (Kind.CIRCLE, Kind.DISTANCE)
_PRESENCE = (Kind.USER_TRACKING, Kind.ZONAL_TRAFFIC)


class LocationEngine:
    def __init__(
        self,
        committer: Committer,
        notifier: Notifier,
        index: SubscriptionIndex,
        links: Links,
        network: NetworkSource,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._committer = committer
        self._store: Store = committer.store
        self._notifier = notifier
        self._index = index
        self._links = links
        self._network = network
        self._clock = clock

    def register(self, timers: Timers) -> None:
        timers.on(PERIODIC, self.on_periodic)
        timers.on(RECHECK, self.on_recheck)
        timers.on(DURATION, self.on_duration)
        self._network.listen(self.on_change)

    async def on_change(self, state: NetworkState, events: Sequence[NetworkEvent]) -> None:
        """The network listener. Never raises: the source's other listeners (RNIS) and the
        simulator go on whatever happens here."""
        if not events:
            return
        try:
            await self._index.ready()
            if not len(self._index):
                return  # a tick of a large network is thousands of events: none to evaluate
            for _ in range(ATTEMPTS):
                outcomes = self.evaluate(state, events, self._clock())
                ops = [op for outcome in outcomes for op in outcome_ops(self._notifier, outcome)]
                if not ops:
                    return
                try:
                    await self._committer.commit(ops)
                    return
                except VersionConflict:
                    await self._index.reload(o.stored.id for o in outcomes)
            log.warning("network change not applied: subscriptions kept changing", at=state.at)
        except StoreError as error:
            log.warning("network change not applied: store unavailable", error=str(error))
        except Exception:
            log.exception("network change not applied")

    def evaluate(
        self, state: NetworkState, events: Sequence[NetworkEvent], now: float
    ) -> list[Outcome]:
        """Every subscription the change concerns, with what it causes (no I/O)."""
        outcomes: dict[str, Outcome] = {}
        touched: dict[str, set[str]] = {}
        for event in events:
            if event.ue is None:
                continue
            for stored in self._index.by_address(event.ue):
                if stored.kind in _SPATIAL:
                    touched.setdefault(stored.id, set()).add(event.ue)
        for subscription_id, addresses in touched.items():
            spatial = self._index.get(subscription_id)
            assert spatial is not None
            if spatial.kind is Kind.CIRCLE:
                outcome = matching.evaluate_circle(
                    spatial, self._links, state, now, addresses=addresses
                )
            else:
                outcome = matching.evaluate_distance(spatial, self._links, state, now)
            if outcome is not None:
                outcomes[subscription_id] = outcome
        moved = zonal.movements(events, state.at)
        for presence in moved.presences:
            for found in (
                self._index.by_address(presence.address),
                self._index.by_zone(presence.zone_id),
            ):
                for stored in found:
                    if stored.kind not in _PRESENCE:
                        continue
                    body = zonal.presence_notifications(stored, self._links, state, presence)
                    if body is not None:
                        outcomes.setdefault(stored.id, Outcome(stored)).notifications.append(body)
        for zone, change in zonal.zone_changes(state, events, moved).items():
            for stored in self._index.by_zone(zone):
                if stored.kind is not Kind.ZONE_STATUS:
                    continue
                status = zonal.zone_status_notifications(stored, self._links, state, change)
                if status:
                    outcomes.setdefault(stored.id, Outcome(stored)).notifications.extend(status)
        return list(outcomes.values())

    def start_ops(
        self, stored: Stored, state: NetworkState, now: float
    ) -> tuple[list[Operation], bool]:
        """The writes of a new (or replaced, ``stored.version`` > 0) subscription: the document
        with its first running state, the ``checkImmediate`` notification, its periodic and
        duration timers; and whether it ended at once (its ``count`` reached by that first
        notification: the notification is queued, the document is not kept)."""
        ops: list[Operation] = []
        sub = stored.subscription
        if isinstance(sub, PeriodicNotificationSubscription):
            due = now + sub.frequency
            ops.append(schedule(PERIODIC, stored.id, due))
            stored = stored.with_run(Run(timer=timer_id(PERIODIC, stored.id, due)))
        if stored.duration_timer is not None and stored.expires_at is not None:
            ops.append(schedule(DURATION, stored.id, stored.expires_at))
        outcome = self._first(stored, state, now)
        if outcome.final:
            ops = [self._notifier.queue(stored.target, b) for b in outcome.notifications]
            if stored.version > 0:
                ops.append(Delete(SUBSCRIPTIONS, stored.id, stored.version))
            return ops, True
        return ops + outcome_ops(self._notifier, outcome, write=True), False

    def _first(self, stored: Stored, state: NetworkState, now: float) -> Outcome:
        immediate = getattr(stored.subscription, "check_immediate", False)
        mode = Mode.IMMEDIATE if immediate else Mode.BASELINE
        outcome = None
        if stored.kind is Kind.CIRCLE:
            outcome = matching.evaluate_circle(stored, self._links, state, now, mode=mode)
        elif stored.kind is Kind.DISTANCE:
            outcome = matching.evaluate_distance(stored, self._links, state, now, mode=mode)
        return outcome or Outcome(stored)

    async def on_periodic(self, timer: Timer) -> Sequence[Operation]:
        stored = await self._load(timer.key)
        if stored is None or stored.run.timer != timer.id:
            return []
        sub = stored.subscription
        assert isinstance(sub, PeriodicNotificationSubscription)
        now = self._clock()
        outcome = matching.periodic(stored, self._links, self._network.state, now)
        following: list[Operation] = []
        if not outcome.final and outcome.run is not None:
            # Missed firings (the platform was down) are skipped, not sent in a burst.
            due = timer.due + sub.frequency
            if due <= now:
                due = now + sub.frequency
            outcome.run = replace(outcome.run, timer=timer_id(PERIODIC, stored.id, due))
            following.append(schedule(PERIODIC, stored.id, due))
        return outcome_ops(self._notifier, outcome, firing=timer.id) + following

    async def on_recheck(self, timer: Timer) -> Sequence[Operation]:
        stored = await self._load(timer.key)
        if stored is None or stored.run.timer != timer.id:
            return []
        stored = stored.with_run(replace(stored.run, timer=None))
        state, now = self._network.state, self._clock()
        outcome: Outcome | None = None
        if stored.kind is Kind.CIRCLE:
            outcome = matching.evaluate_circle(stored, self._links, state, now)
        elif stored.kind is Kind.DISTANCE:
            outcome = matching.evaluate_distance(stored, self._links, state, now)
        return outcome_ops(self._notifier, outcome or Outcome(stored), write=True, firing=timer.id)

    async def on_duration(self, timer: Timer) -> Sequence[Operation]:
        stored = await self._load(timer.key)
        if stored is None or stored.duration_timer != timer.id:
            return []
        outcome = matching.expiry(stored, self._links, self._network.state)
        ops: list[Operation] = [
            self._notifier.queue(stored.target, body) for body in outcome.notifications
        ]
        return ops + removal_ops(stored, firing=timer.id)

    async def _load(self, subscription_id: str) -> Stored | None:
        doc = await self._store.get(SUBSCRIPTIONS, subscription_id)
        return None if doc is None else Stored.from_document(doc)

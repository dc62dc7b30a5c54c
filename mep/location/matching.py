"""What a network change, a timer or a new subscription means for circle, distance and
periodic subscriptions.

Pure functions of the subscription (with its running state), the network snapshot and the time:
no I/O, so the caller evaluates again after a conflicting commit. Each answers an
:class:`Outcome`: the notifications to queue, the running state to write with them, whether the
subscription ends, and when to look again.

Rules where MEC 013 V2.2.1 leaves a choice (also in ``specs/mec013-location.yaml``):

* circle: an address is *reported* inside or outside; Entering is outside (or never located)
  to inside, Leaving inside to outside. ``checkImmediate`` reports the current side at once
  (Entering when inside, Leaving when outside) if it is the side asked for; without it the
  current side is recorded silently. A transition against the criteria is recorded silently.
* distance: the criteria over every (monitored, reference) pair, or every pair of monitored
  addresses without references; a notification when they become met. An address not located
  leaves the state as it was.
* ``frequency`` is a minimum gap between two notifications of the subscription: a transition
  inside the gap is not recorded, and a re-check is due at the end of the gap.
* ``count``: notifications per address (circle), per subscription (distance, periodic); the one
  that reaches it for every address carries ``isFinalNotification`` and ends the subscription.

userTracking, zonalTraffic and zoneStatus are matched in :mod:`mep.location.zonal`.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from mep.location import notifications as bodies
from mep.location.geometry import between, within
from mep.location.models import (
    CircleNotificationSubscription,
    DistanceCriteria,
    DistanceNotificationSubscription,
    EnteringLeavingCriteria,
    PeriodicNotificationSubscription,
)
from mep.location.records import WHOLE, Links, Run, Stored
from mep.location.view import terminal_location
from mep.network.port import NetworkState, Position


class Mode(Enum):
    EVENT = "event"  # after a network change or a re-check
    IMMEDIATE = "immediate"  # creation with checkImmediate
    BASELINE = "baseline"  # creation without it: record, never notify


@dataclass
class Outcome:
    stored: Stored
    #: The running state to write; None: unchanged.
    run: Run | None = None
    notifications: list[dict[str, Any]] = field(default_factory=list)
    #: The subscription ends once these notifications are queued.
    final: bool = False
    #: Evaluate again at this time (a transition waits for the frequency gap).
    recheck_at: float | None = None


def _held(stored: Stored, frequency: int, now: float) -> bool:
    last = stored.run.last
    return last is not None and frequency > 0 and now - last < frequency


def _position(state: NetworkState, address: str) -> Position | None:
    ue = state.ues.get(address)
    return ue.position if ue is not None and ue.attached else None


def evaluate_circle(
    stored: Stored,
    links: Links,
    state: NetworkState,
    now: float,
    *,
    addresses: Collection[str] | None = None,
    mode: Mode = Mode.EVENT,
) -> Outcome | None:
    """A circle subscription on the addresses given (all by default)."""
    sub = stored.subscription
    assert isinstance(sub, CircleNotificationSubscription)
    run, count, criteria = stored.run, sub.count or 0, sub.entering_leaving_criteria
    held = _held(stored, sub.frequency, now)
    inside, sent = dict(run.inside), dict(run.sent)
    notify: list[str] = []
    pending = changed = False
    for address in dict.fromkeys(sub.address):
        if addresses is not None and address not in addresses:
            continue
        if count and sent.get(address, 0) >= count:
            continue  # this address had its notifications
        position = _position(state, address)
        if position is None:
            continue
        now_in = within(position, sub.latitude, sub.longitude, sub.radius)
        before = inside.get(address)
        event = _crossing(before, now_in, mode)
        if event is criteria:
            if held:
                pending = True
                continue
            notify.append(address)
            sent[address] = sent.get(address, 0) + 1
        if before != now_in:
            inside[address] = now_in
            changed = True
    if not (notify or changed or pending):
        return None
    final = bool(notify) and count > 0 and all(sent.get(a, 0) >= count for a in sub.address)
    outcome = Outcome(
        stored,
        Run(inside=inside, sent=sent, last=now if notify else run.last, timer=run.timer),
        final=final,
    )
    if notify:
        locations = [terminal_location(a, state) for a in notify]
        outcome.notifications.append(
            bodies.subscription_notification(
                stored, links, locations, final=final, entering_leaving=criteria.value
            )
        )
    if pending and run.last is not None:
        outcome.recheck_at = run.last + sub.frequency
    return outcome


def _crossing(before: bool | None, now_in: bool, mode: Mode) -> EnteringLeavingCriteria | None:
    entering, leaving = EnteringLeavingCriteria.ENTERING, EnteringLeavingCriteria.LEAVING
    if mode is Mode.BASELINE:
        return None
    if mode is Mode.IMMEDIATE:
        return entering if now_in else leaving
    if before is None:
        return entering if now_in else None
    if before != now_in:
        return entering if now_in else leaving
    return None


def distance_pairs(sub: DistanceNotificationSubscription) -> list[tuple[str, str]]:
    monitored = list(dict.fromkeys(sub.monitored_address))
    if sub.reference_address:
        references = list(dict.fromkeys(sub.reference_address))
        return [(m, r) for m in monitored for r in references if m != r]
    return list(itertools.combinations(monitored, 2))


def criteria_met(criteria: DistanceCriteria, inside: Sequence[bool]) -> bool:
    if criteria is DistanceCriteria.ALL_WITHIN_DISTANCE:
        return all(inside)
    if criteria is DistanceCriteria.ANY_WITHIN_DISTANCE:
        return any(inside)
    if criteria is DistanceCriteria.ALL_BEYOND_DISTANCE:
        return not any(inside)
    return not all(inside)


def evaluate_distance(
    stored: Stored, links: Links, state: NetworkState, now: float, *, mode: Mode = Mode.EVENT
) -> Outcome | None:
    sub = stored.subscription
    assert isinstance(sub, DistanceNotificationSubscription)
    run, count = stored.run, sub.count or 0
    sent = run.sent.get(WHOLE, 0)
    pairs = distance_pairs(sub)
    if not pairs or (count and sent >= count):
        return None
    positions: dict[str, Position] = {}
    for address in {a for pair in pairs for a in pair}:
        position = _position(state, address)
        if position is None:
            return None
        positions[address] = position
    met = criteria_met(
        sub.criteria, [between(positions[a], positions[b]) <= sub.distance for a, b in pairs]
    )
    before = run.met
    if mode is Mode.BASELINE:
        wanted = False
    elif mode is Mode.IMMEDIATE or before is None:
        wanted = met
    else:
        wanted = met and not before
    if wanted and _held(stored, sub.frequency, now):
        assert run.last is not None
        return Outcome(stored, recheck_at=run.last + sub.frequency)
    if not wanted:
        if before == met:
            return None
        return Outcome(stored, Run(met=met, sent=run.sent, last=run.last, timer=run.timer))
    sent += 1
    final = count > 0 and sent >= count
    outcome = Outcome(
        stored, Run(met=met, sent={WHOLE: sent}, last=now, timer=run.timer), final=final
    )
    involved = dict.fromkeys([*sub.monitored_address, *(sub.reference_address or ())])
    locations = [terminal_location(a, state) for a in involved]
    outcome.notifications.append(
        bodies.subscription_notification(
            stored, links, locations, final=final, distance_criteria=sub.criteria.value
        )
    )
    return outcome


def periodic(stored: Stored, links: Links, state: NetworkState, now: float) -> Outcome:
    """The periodic notification due now; the count-th one is final."""
    sub = stored.subscription
    assert isinstance(sub, PeriodicNotificationSubscription)
    sent = stored.run.sent.get(WHOLE, 0) + 1
    final = bool(sub.count) and sent >= (sub.count or 0)
    locations = [terminal_location(a, state) for a in dict.fromkeys(sub.address)]
    body = bodies.subscription_notification(stored, links, locations, final=final)
    run = Run(sent={WHOLE: sent}, last=now, timer=stored.run.timer)
    return Outcome(stored, run, [body], final=final)


def expiry(stored: Stored, links: Links, state: NetworkState) -> Outcome:
    """The end of ``duration``: a final SubscriptionNotification with the current locations
    (circle, distance, periodic); zonalTraffic has no final flag and ends silently."""
    sub = stored.subscription
    outcome = Outcome(stored, final=True)
    addresses: Iterable[str] = ()
    if isinstance(sub, CircleNotificationSubscription | PeriodicNotificationSubscription):
        addresses = sub.address
    elif isinstance(sub, DistanceNotificationSubscription):
        addresses = [*sub.monitored_address, *(sub.reference_address or ())]
    locations = [terminal_location(a, state) for a in dict.fromkeys(addresses)]
    if locations:
        outcome.notifications.append(
            bodies.subscription_notification(stored, links, locations, final=True)
        )
    return outcome

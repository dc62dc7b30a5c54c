"""Zonal presence (userTracking, zonalTraffic) and zone status from a network change.

Pure functions, as in :mod:`mep.location.matching`. Entering, Leaving and Transferring come from
the before/after access points of each UE's events, in order; several events of one UE in a
change (a HANDOVER with its ACCESS_POINT_CHANGED) report each access point change once.

zoneStatus thresholds are crossed upwards, from at most the threshold to above it (the
notification carries the count, which MEC 013 says "exceeds the threshold"). The count before a
change is the count after minus the arrivals plus the departures it made, so no state is kept
and a restart loses nothing. Without ``operationStatus`` every status change of an access point
of the zone is reported; with ``[]`` none is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mep.location import notifications as bodies
from mep.location.models import (
    UserEventType,
    UserTrackingSubscription,
    ZonalTrafficSubscription,
    ZoneStatusSubscription,
)
from mep.location.notifications import Presence
from mep.location.records import Links, Stored
from mep.location.view import operation_status
from mep.network.port import EventKind, NetworkEvent, NetworkState, Ue


def _where(ue: Ue | None) -> tuple[str | None, str | None]:
    if ue is None or not ue.attached or ue.access_point_id is None:
        return None, None
    return ue.access_point_id, ue.zone_id


@dataclass
class Movements:
    """The zonal presence events of one network change, and its net effect on user counts."""

    presences: list[Presence] = field(default_factory=list)
    zones: Counter[str] = field(default_factory=Counter)
    access_points: Counter[str] = field(default_factory=Counter)


def movements(events: Sequence[NetworkEvent], at: float) -> Movements:
    """Entering/Leaving/Transferring from the events' before/after access points, in order.
    Several events of one UE in a change (a HANDOVER and an ACCESS_POINT_CHANGED) report each
    access point change once."""
    found = Movements()
    first: dict[str, tuple[str | None, str | None]] = {}
    last: dict[str, tuple[str | None, str | None]] = {}
    for event in events:
        if event.ue is None:
            continue
        if event.ue not in last:
            first[event.ue] = last[event.ue] = _where(event.before)
        old, new = last[event.ue], _where(event.after)
        if new != old:
            found.presences += _presences(event.ue, old, new, at)
            last[event.ue] = new
    for address, (ap0, zone0) in first.items():
        ap1, zone1 = last[address]
        if zone0 != zone1:
            found.zones.update({k: v for k, v in ((zone0, -1), (zone1, 1)) if k is not None})
        if ap0 != ap1:
            found.access_points.update({k: v for k, v in ((ap0, -1), (ap1, 1)) if k is not None})
    return found


def _presences(
    address: str,
    old: tuple[str | None, str | None],
    new: tuple[str | None, str | None],
    at: float,
) -> list[Presence]:
    (ap0, zone0), (ap1, zone1) = old, new
    if zone0 is not None and zone0 == zone1 and ap0 is not None and ap1 is not None:
        return [Presence(address, UserEventType.TRANSFERRING, zone0, ap1, ap0, ap1, at)]
    found = []
    if zone0 is not None and ap0 is not None:
        # Where the user is now (or, detached, the access point it was last on).
        current, previous = (ap1, ap0) if ap1 is not None else (ap0, None)
        found.append(Presence(address, UserEventType.LEAVING, zone0, current, previous, ap0, at))
    if zone1 is not None and ap1 is not None:
        found.append(Presence(address, UserEventType.ENTERING, zone1, ap1, ap0, ap1, at))
    return found


def presence_notifications(
    stored: Stored, links: Links, state: NetworkState, presence: Presence
) -> dict[str, Any] | None:
    """The zonalPresenceNotification of ``presence`` for a userTracking or zonalTraffic
    subscription found by its address or zone, if its criteria want it."""
    sub = stored.subscription
    point = state.access_points.get(presence.zone_access_point_id)
    realm = point.interest_realm if point is not None else None
    if isinstance(sub, UserTrackingSubscription):
        if sub.address != presence.address:
            return None
    elif isinstance(sub, ZonalTrafficSubscription):
        if sub.zone_id != presence.zone_id:
            return None
        if sub.interest_realm is not None and realm not in sub.interest_realm:
            return None
    else:
        return None
    if sub.user_event_criteria is not None and presence.event not in sub.user_event_criteria:
        return None
    return bodies.zonal_presence(stored, links, presence, realm)


@dataclass
class ZoneChange:
    """What one network change did to a zone: its user count (net), its access points' user
    counts (net), and which of its access points changed status (and when)."""

    users: int = 0
    access_points: dict[str, int] = field(default_factory=dict)
    statuses: list[tuple[str, float]] = field(default_factory=list)


def zone_changes(
    state: NetworkState, events: Sequence[NetworkEvent], moved: Movements
) -> dict[str, ZoneChange]:
    """Per zone, for the zoneStatus subscriptions of the zones concerned (one pass over the
    events, whatever the number of subscriptions)."""
    changes: dict[str, ZoneChange] = {}
    for zone_id, delta in moved.zones.items():
        if delta:
            changes.setdefault(zone_id, ZoneChange()).users = delta
    for ap_id, delta in moved.access_points.items():
        point = state.access_points.get(ap_id)
        if delta and point is not None:
            changes.setdefault(point.zone_id, ZoneChange()).access_points[ap_id] = delta
    for event in events:
        if event.kind is EventKind.ACCESS_POINT_STATUS and event.access_point_id is not None:
            point = state.access_points.get(event.access_point_id)
            if point is not None:
                change = changes.setdefault(point.zone_id, ZoneChange())
                change.statuses.append((point.access_point_id, event.at))
    return changes


def zone_status_notifications(
    stored: Stored, links: Links, state: NetworkState, change: ZoneChange
) -> list[dict[str, Any]]:
    """The zoneStatusNotifications of one change of its zone for a zoneStatus subscription."""
    sub = stored.subscription
    assert isinstance(sub, ZoneStatusSubscription)
    zone, at, found = sub.zone_id, state.at, []
    threshold = sub.number_of_users_zone_threshold
    if threshold is not None and change.users:
        after = len(state.ues_by_zone.get(zone, ()))
        if after - change.users <= threshold < after:
            found.append(bodies.zone_status(stored, links, zone, at, users_in_zone=after))
    threshold = sub.number_of_users_ap_threshold
    if threshold is not None:
        for ap_id, delta in change.access_points.items():
            after = len(state.ues_by_access_point.get(ap_id, ()))
            if after - delta <= threshold < after:
                found.append(
                    bodies.zone_status(
                        stored, links, zone, at, access_point_id=ap_id, users_in_access_point=after
                    )
                )
    for ap_id, when in change.statuses:
        status = operation_status(state.access_points[ap_id].operation_status)
        if sub.operation_status is None or status in sub.operation_status:
            found.append(
                bodies.zone_status(
                    stored, links, zone, when, access_point_id=ap_id, operation_status=status
                )
            )
    return found

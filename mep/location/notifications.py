"""The notification bodies of MEC 013 V2.2.1 (clause 6.4), each wrapped in its root key.

Every notification links its subscription (``link``: ``rel`` is the subscription's type name)
and echoes the subscriber's ``callbackReference.callbackData``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mep.location.kinds import KINDS
from mep.location.models import Link, TerminalLocation, UserEventType, timestamp
from mep.location.records import Links, Stored


@dataclass(frozen=True)
class Presence:
    """A user entering, leaving or moving within a zone (one zonalPresenceNotification)."""

    address: str
    event: UserEventType
    zone_id: str
    current_access_point_id: str
    previous_access_point_id: str | None
    #: The access point of ``zone_id`` concerned: where it arrived, or the one it left.
    zone_access_point_id: str
    at: float


def _link(stored: Stored, links: Links) -> list[Link]:
    return [{"rel": KINDS[stored.kind].rel, "href": links.subscription(stored.kind, stored.id)}]


def _echo(body: dict[str, Any], stored: Stored, links: Links) -> dict[str, Any]:
    if stored.callback_data is not None:
        body["callbackData"] = stored.callback_data
    body["link"] = _link(stored, links)
    return body


def subscription_notification(
    stored: Stored,
    links: Links,
    locations: Sequence[TerminalLocation],
    *,
    final: bool = False,
    entering_leaving: str | None = None,
    distance_criteria: str | None = None,
) -> dict[str, Any]:
    """SubscriptionNotification (circle, distance, periodic)."""
    body: dict[str, Any] = {"terminalLocation": list(locations), "isFinalNotification": final}
    if entering_leaving is not None:
        body["enteringLeavingCriteria"] = entering_leaving
    if distance_criteria is not None:
        body["distanceCriteria"] = distance_criteria
    return {"subscriptionNotification": _echo(body, stored, links)}


def zonal_presence(
    stored: Stored, links: Links, presence: Presence, interest_realm: str | None
) -> dict[str, Any]:
    """ZonalPresenceNotification (userTracking, zonalTraffic)."""
    body: dict[str, Any] = {
        "zoneId": presence.zone_id,
        "address": presence.address,
        "userEventType": presence.event.value,
        "currentAccessPointId": presence.current_access_point_id,
        "timestamp": timestamp(presence.at),
    }
    if presence.previous_access_point_id is not None:
        body["previousAccessPointId"] = presence.previous_access_point_id
    if interest_realm is not None:
        body["interestRealm"] = interest_realm
    return {"zonalPresenceNotification": _echo(body, stored, links)}


def zone_status(
    stored: Stored,
    links: Links,
    zone_id: str,
    at: float,
    *,
    access_point_id: str | None = None,
    users_in_zone: int | None = None,
    users_in_access_point: int | None = None,
    operation_status: str | None = None,
) -> dict[str, Any]:
    """ZoneStatusNotification."""
    body: dict[str, Any] = {"zoneId": zone_id, "timestamp": timestamp(at)}
    if access_point_id is not None:
        body["accessPointId"] = access_point_id
    if users_in_zone is not None:
        body["numberOfUsersInZone"] = users_in_zone
    if users_in_access_point is not None:
        body["numberOfUsersInAP"] = users_in_access_point
    if operation_status is not None:
        body["operationStatus"] = operation_status
    return {"zoneStatusNotification": _echo(body, stored, links)}

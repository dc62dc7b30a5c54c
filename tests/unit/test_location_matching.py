"""The Location matching rules as pure functions: geometry, zonal presence from events, circle
and distance transitions with checkImmediate, frequency and count, zone status thresholds."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from mep.location.geometry import distance_m, within
from mep.location.kinds import KINDS, Kind
from mep.location.matching import (
    Mode,
    criteria_met,
    distance_pairs,
    evaluate_circle,
    evaluate_distance,
    periodic,
)
from mep.location.models import (
    DistanceCriteria,
    DistanceNotificationSubscription,
    UserEventType,
)
from mep.location.records import WHOLE, Links, Run, Stored
from mep.location.zonal import ZoneChange, movements, zone_status_notifications
from mep.network.port import (
    AccessPoint,
    ConnectionType,
    EventKind,
    NetworkEvent,
    NetworkState,
    Position,
    Ue,
    Zone,
)

LINKS = Links("http://mep.test")
CENTRE = Position(45.0, 5.0)
NOW = 1_000.0


def north(metres: float) -> Position:
    return Position(CENTRE.latitude + metres / 111_195.0, CENTRE.longitude)


def ue(address: str, position: Position, ap: str | None = "ap-1", zone: str | None = "z-1") -> Ue:
    return Ue(address, address, address, position, True, None, ap, zone)


def state(*ues: Ue) -> NetworkState:
    by_zone: dict[str, list[str]] = {}
    by_ap: dict[str, list[str]] = {}
    for u in ues:
        if u.zone_id and u.access_point_id:
            by_zone.setdefault(u.zone_id, []).append(u.address)
            by_ap.setdefault(u.access_point_id, []).append(u.address)
    points = {
        ap: AccessPoint(ap, zone, ConnectionType.WIFI, CENTRE)
        for ap, zone in (("ap-1", "z-1"), ("ap-2", "z-1"), ("ap-3", "z-2"))
    }
    return NetworkState(
        plmns=(),
        cells={},
        zones={"z-1": Zone("z-1", ("ap-1", "ap-2")), "z-2": Zone("z-2", ("ap-3",))},
        access_points=points,
        ues={u.address: u for u in ues},
        at=NOW,
        ues_by_zone={k: tuple(v) for k, v in by_zone.items()},
        ues_by_access_point={k: tuple(v) for k, v in by_ap.items()},
    )


def stored(kind: Kind, run: Run | None = None, **fields: Any) -> Stored:
    base: dict[Kind, dict[str, Any]] = {
        Kind.CIRCLE: {
            "address": ["a"],
            "checkImmediate": False,
            "enteringLeavingCriteria": "Entering",
            "frequency": 0,
            "latitude": CENTRE.latitude,
            "longitude": CENTRE.longitude,
            "radius": 100,
            "trackingAccuracy": 0,
        },
        Kind.DISTANCE: {
            "monitoredAddress": ["a", "b"],
            "checkImmediate": False,
            "criteria": "AllWithinDistance",
            "distance": 100,
            "frequency": 0,
            "trackingAccuracy": 0,
        },
        Kind.PERIODIC: {"address": ["a", "x"], "frequency": 1, "requestedAccuracy": 1},
        Kind.ZONE_STATUS: {"zoneId": "z-1"},
    }
    data = {"callbackReference": {"notifyURL": "http://cb/x"}, **base[kind], **fields}
    sub = KINDS[kind].model.model_validate(data)
    return Stored("s-1", kind, "app", 3, sub, run or Run())


def inner(body: dict[str, Any]) -> dict[str, Any]:
    ((_, value),) = body.items()
    result: dict[str, Any] = value
    return result


def test_haversine() -> None:
    assert distance_m(0, 0, 1, 0) == pytest.approx(111_195, abs=1)
    assert distance_m(45, 5, 45, 5) == 0
    assert distance_m(0, 0, 0, 180) == pytest.approx(math.pi * 6_371_008.8)
    assert within(north(100), CENTRE.latitude, CENTRE.longitude, 100.01)
    assert not within(north(101), CENTRE.latitude, CENTRE.longitude, 100)


# Circle


def test_circle_baseline_records_without_notifying() -> None:
    outcome = evaluate_circle(
        stored(Kind.CIRCLE), LINKS, state(ue("a", CENTRE)), NOW, mode=Mode.BASELINE
    )
    assert outcome is not None
    assert outcome.notifications == []
    assert outcome.run is not None
    assert outcome.run.inside == {"a": True}


def test_circle_check_immediate_reports_the_side_asked_for() -> None:
    now_in = state(ue("a", CENTRE))
    entering = evaluate_circle(stored(Kind.CIRCLE), LINKS, now_in, NOW, mode=Mode.IMMEDIATE)
    assert entering is not None
    assert inner(entering.notifications[0])["enteringLeavingCriteria"] == "Entering"
    leaving = stored(Kind.CIRCLE, enteringLeavingCriteria="Leaving")
    inside = evaluate_circle(leaving, LINKS, now_in, NOW, mode=Mode.IMMEDIATE)
    assert inside is not None
    assert inside.notifications == []
    outside = state(ue("a", north(500)))
    found = evaluate_circle(leaving, LINKS, outside, NOW, mode=Mode.IMMEDIATE)
    assert found is not None
    assert inner(found.notifications[0])["enteringLeavingCriteria"] == "Leaving"


def test_circle_crossings() -> None:
    sub = stored(Kind.CIRCLE, Run(inside={"a": False}))
    entered = evaluate_circle(sub, LINKS, state(ue("a", CENTRE)), NOW)
    assert entered is not None
    assert len(entered.notifications) == 1
    assert entered.run == Run(inside={"a": True}, sent={"a": 1}, last=NOW)
    body = inner(entered.notifications[0])
    assert body["isFinalNotification"] is False
    assert body["link"] == [
        {"rel": "CircleNotificationSubscription", "href": LINKS.subscription(Kind.CIRCLE, "s-1")}
    ]
    # Inside and still inside: nothing to do.
    again = dataclasses.replace(sub, run=entered.run)
    assert evaluate_circle(again, LINKS, state(ue("a", north(10))), NOW) is None
    # Leaving, against the criteria: recorded silently.
    left = evaluate_circle(again, LINKS, state(ue("a", north(500))), NOW)
    assert left is not None
    assert left.notifications == []
    assert left.run is not None
    assert left.run.inside == {"a": False}
    # Never located before, now inside: Entering.
    fresh = evaluate_circle(stored(Kind.CIRCLE), LINKS, state(ue("a", CENTRE)), NOW)
    assert fresh is not None
    assert len(fresh.notifications) == 1
    # Not located (detached, unknown): nothing changes.
    assert evaluate_circle(sub, LINKS, state(), NOW) is None


def test_circle_frequency_holds_a_crossing_until_a_recheck() -> None:
    sub = stored(Kind.CIRCLE, Run(inside={"a": False}, last=NOW - 3), frequency=10)
    held = evaluate_circle(sub, LINKS, state(ue("a", CENTRE)), NOW)
    assert held is not None
    assert held.notifications == []
    assert held.recheck_at == NOW + 7
    assert held.run is not None
    assert held.run.inside == {"a": False}  # not recorded: reported when the gap ends
    later = evaluate_circle(sub, LINKS, state(ue("a", CENTRE)), NOW + 7)
    assert later is not None
    assert len(later.notifications) == 1


def test_circle_count_is_per_address_and_the_last_one_is_final() -> None:
    sub = stored(
        Kind.CIRCLE,
        Run(inside={"a": False, "b": False}, sent={"a": 1}),
        address=["a", "b"],
        count=1,
    )
    first = evaluate_circle(sub, LINKS, state(ue("a", CENTRE), ue("b", CENTRE)), NOW)
    assert first is not None
    body = inner(first.notifications[0])
    assert [t["address"] for t in body["terminalLocation"]] == ["b"]  # a had its one
    assert body["isFinalNotification"] is True
    assert first.final


# Distance


@pytest.mark.parametrize(
    ("criteria", "inside", "met"),
    [
        (DistanceCriteria.ALL_WITHIN_DISTANCE, [True, True], True),
        (DistanceCriteria.ALL_WITHIN_DISTANCE, [True, False], False),
        (DistanceCriteria.ANY_WITHIN_DISTANCE, [False, True], True),
        (DistanceCriteria.ANY_WITHIN_DISTANCE, [False, False], False),
        (DistanceCriteria.ALL_BEYOND_DISTANCE, [False, False], True),
        (DistanceCriteria.ALL_BEYOND_DISTANCE, [True, False], False),
        (DistanceCriteria.ANY_BEYOND_DISTANCE, [True, False], True),
        (DistanceCriteria.ANY_BEYOND_DISTANCE, [True, True], False),
    ],
)
def test_distance_criteria(criteria: DistanceCriteria, inside: list[bool], met: bool) -> None:
    assert criteria_met(criteria, inside) is met


def test_distance_pairs() -> None:
    sub = stored(Kind.DISTANCE, monitoredAddress=["a", "b", "c"]).subscription
    assert isinstance(sub, DistanceNotificationSubscription)
    assert distance_pairs(sub) == [("a", "b"), ("a", "c"), ("b", "c")]
    ref = stored(Kind.DISTANCE, monitoredAddress=["a", "b"], referenceAddress=["b", "r"])
    assert isinstance(ref.subscription, DistanceNotificationSubscription)
    assert distance_pairs(ref.subscription) == [("a", "b"), ("a", "r"), ("b", "r")]


def test_distance_notifies_when_the_criteria_become_met() -> None:
    sub = stored(Kind.DISTANCE, Run(met=False), count=2)
    near = state(ue("a", CENTRE), ue("b", north(50)))
    met = evaluate_distance(sub, LINKS, near, NOW)
    assert met is not None
    body = inner(met.notifications[0])
    assert body["distanceCriteria"] == "AllWithinDistance"
    assert [t["address"] for t in body["terminalLocation"]] == ["a", "b"]
    assert met.run == Run(met=True, sent={WHOLE: 1}, last=NOW)
    still = dataclasses.replace(sub, run=met.run)
    assert evaluate_distance(still, LINKS, near, NOW) is None
    apart = evaluate_distance(still, LINKS, state(ue("a", CENTRE), ue("b", north(500))), NOW)
    assert apart is not None
    assert apart.notifications == []
    assert apart.run is not None
    assert apart.run.met is False
    # One of them not located: nothing is decided.
    assert evaluate_distance(sub, LINKS, state(ue("a", CENTRE)), NOW) is None


# Periodic


def test_periodic_counts_and_ends() -> None:
    sub = stored(Kind.PERIODIC, Run(sent={WHOLE: 1}), count=2)
    outcome = periodic(sub, LINKS, state(ue("a", CENTRE)), NOW)
    body = inner(outcome.notifications[0])
    assert outcome.final
    assert body["isFinalNotification"] is True
    statuses = [t["locationRetrievalStatus"] for t in body["terminalLocation"]]
    assert statuses == ["Retrieved", "NotRetrieved"]


# Zonal presence and zone status


def event(kind: EventKind, before: Ue | None, after: Ue | None) -> NetworkEvent:
    subject = after or before
    assert subject is not None
    return NetworkEvent(kind, NOW, subject.address, before, after)


def test_movements_from_events() -> None:
    at1 = ue("u", CENTRE, "ap-1", "z-1")
    at2 = ue("u", CENTRE, "ap-2", "z-1")
    at3 = ue("u", CENTRE, "ap-3", "z-2")
    found = movements(
        [
            event(EventKind.ATTACHED, None, at1),
            event(EventKind.MOVED, at1, at1),
            event(EventKind.ACCESS_POINT_CHANGED, at1, at2),
            event(EventKind.HANDOVER, at2, at3),
            event(EventKind.ACCESS_POINT_CHANGED, at2, at3),  # the same change, once
            event(EventKind.DETACHED, at3, dataclasses.replace(at3, attached=False)),
        ],
        NOW,
    )
    assert [
        (p.event, p.zone_id, p.current_access_point_id, p.previous_access_point_id)
        for p in found.presences
    ] == [
        (UserEventType.ENTERING, "z-1", "ap-1", None),
        (UserEventType.TRANSFERRING, "z-1", "ap-2", "ap-1"),
        (UserEventType.LEAVING, "z-1", "ap-3", "ap-2"),
        (UserEventType.ENTERING, "z-2", "ap-3", "ap-2"),
        (UserEventType.LEAVING, "z-2", "ap-3", None),
    ]
    assert found.zones == {}  # attached and detached within the change: no net effect
    assert found.access_points == {}


def test_zone_status_thresholds_are_crossed_upwards() -> None:
    sub = stored(Kind.ZONE_STATUS, numberOfUsersZoneThreshold=1, numberOfUsersAPThreshold=1)
    two = state(ue("a", CENTRE), ue("b", CENTRE))  # both on ap-1 in z-1
    moved = ZoneChange(users=1, access_points={"ap-1": 1})
    found = zone_status_notifications(sub, LINKS, two, moved)
    assert [
        (n.get("numberOfUsersInZone"), n.get("numberOfUsersInAP"), n.get("accessPointId"))
        for n in map(inner, found)
    ] == [
        (2, None, None),
        (None, 2, "ap-1"),
    ]
    # 2 -> 3: above the threshold already, no crossing.
    three = state(ue("a", CENTRE), ue("b", CENTRE), ue("c", CENTRE))
    assert zone_status_notifications(sub, LINKS, three, moved) == []
    # Going down is not a crossing either.
    down = ZoneChange(users=-1, access_points={"ap-1": -1})
    assert zone_status_notifications(sub, LINKS, state(ue("a", CENTRE)), down) == []

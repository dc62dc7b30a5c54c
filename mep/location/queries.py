"""The Location queries (GS MEC 013 clauses 7.3.2, 7.3.9 to 7.3.12), answered from the network
snapshot (``NetworkSource.state``) through its indexes, never by scanning every UE.

A user list is cached per snapshot and query: the snapshot is immutable and replaced as a whole
on each change, so an answer stays right until the next change, and a burst of identical
queries within one simulator tick (32 clients polling one zone) costs one rendering.

Rules where MEC 013 leaves a choice: a zone or access point named in a query must exist (404
otherwise); an ``address`` filter that finds none of its users is 404 (the users are not
located: detached, or unknown). Several values of one parameter are alternatives; different
parameters must all hold.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson

from mep.core.problem import BadRequest, InvalidParam, NotFound
from mep.location.geometry import between
from mep.location.models import timestamp
from mep.location.records import Links
from mep.location.view import connection_type, located, location_info, operation_status
from mep.network.port import NetworkSource, NetworkState, Position, Ue

#: User-list answers kept per snapshot (distinct queries; the oldest is dropped first).
CACHED_ANSWERS = 256
#: Haversine's error bound against the WGS84 ellipsoid, as a fraction of the distance.
DISTANCE_ERROR = 0.005


def _values(query: Mapping[str, Sequence[str]], name: str) -> tuple[str, ...]:
    values = query.get(name, ())
    if any(not v for v in values):
        raise BadRequest(
            f"{name} must not be empty",
            invalid_params=[InvalidParam(f"query {name}", "must not be empty")],
        )
    return tuple(dict.fromkeys(values))


def _number(
    query: Mapping[str, Sequence[str]], name: str, bound: float, problems: list[InvalidParam]
) -> float | None:
    values = query.get(name, ())
    if not values:
        return None
    try:
        (value,) = {float(v) for v in values}
    except ValueError:
        problems.append(InvalidParam(f"query {name}", "a single number"))
        return None
    if not math.isfinite(value) or abs(value) > bound:
        problems.append(InvalidParam(f"query {name}", f"a number from -{bound:g} to {bound:g}"))
        return None
    return value


@dataclass(frozen=True)
class UsersQuery:
    zone_ids: tuple[str, ...] = ()
    access_point_ids: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()

    @classmethod
    def parse(cls, query: Mapping[str, Sequence[str]]) -> UsersQuery:
        """From the query parameters, each with all its values (``zoneId=a&zoneId=b``)."""
        return cls(
            _values(query, "zoneId"), _values(query, "accessPointId"), _values(query, "address")
        )

    def text(self) -> str:
        params = [
            ("zoneId", self.zone_ids),
            ("accessPointId", self.access_point_ids),
            ("address", self.addresses),
        ]
        return urlencode([(k, v) for k, values in params for v in values], safe=":")


@dataclass(frozen=True)
class DistanceQuery:
    addresses: tuple[str, ...]
    latitude: float | None = None
    longitude: float | None = None

    @classmethod
    def parse(cls, query: Mapping[str, Sequence[str]]) -> DistanceQuery:
        """One address and a point (``latitude``, ``longitude``), or two addresses."""
        addresses = _values(query, "address")
        problems: list[InvalidParam] = []
        latitude = _number(query, "latitude", 90, problems)
        longitude = _number(query, "longitude", 180, problems)
        point = latitude is not None or longitude is not None
        if not 1 <= len(addresses) <= 2:
            problems.append(InvalidParam("query address", "one or two addresses"))
        elif len(addresses) == 1 and (latitude is None or longitude is None) and not problems:
            missing = [
                n for n, v in (("latitude", latitude), ("longitude", longitude)) if v is None
            ]
            problems += [InvalidParam(f"query {n}", "required with one address") for n in missing]
        elif len(addresses) == 2 and point:
            problems.append(InvalidParam("query address", "two addresses, or one and a point"))
        if problems:
            raise BadRequest("invalid distance query", invalid_params=problems)
        return cls(addresses, latitude, longitude)


class LocationQueries:
    def __init__(self, links: Links, network: NetworkSource) -> None:
        self._links = links
        self._network = network
        self._state: NetworkState | None = None
        self._users: dict[str, dict[str, Any]] = {}
        self._answers: OrderedDict[UsersQuery, bytes] = OrderedDict()

    def users(self, query: UsersQuery) -> bytes:
        """``{"userList": ...}`` as JSON bytes."""
        state = self._snapshot()
        cached = self._answers.get(query)
        if cached is not None:
            return cached
        zones, points = set(query.zone_ids), set(query.access_point_ids)
        for zone_id in zones:
            if zone_id not in state.zones:
                raise NotFound(f"no zone {zone_id!r}")
        for ap_id in points:
            if ap_id not in state.access_points:
                raise NotFound(f"no access point {ap_id!r}")
        users = [
            self._user(state, ue)
            for ue in self._candidates(state, query)
            if located(ue)
            and (not zones or ue.zone_id in zones)
            and (not points or ue.access_point_id in points)
        ]
        if query.addresses and not users:
            raise NotFound("none of the addresses is a located user")
        body = orjson.dumps(
            {"userList": {"user": users, "resourceURL": self._links.users(query.text())}}
        )
        self._answers[query] = body
        if len(self._answers) > CACHED_ANSWERS:
            self._answers.popitem(last=False)
        return body

    def zones(self) -> dict[str, Any]:
        state = self._network.state
        zones = [self._zone(state, zone_id) for zone_id in state.zones]
        return {"zoneList": {"zone": zones, "resourceURL": self._links.zones()}}

    def zone(self, zone_id: str) -> dict[str, Any]:
        state = self._network.state
        if zone_id not in state.zones:
            raise NotFound(f"no zone {zone_id!r}")
        return {"zoneInfo": self._zone(state, zone_id)}

    def access_points(self, zone_id: str, interest_realm: str | None) -> dict[str, Any]:
        state = self._network.state
        zone = state.zones.get(zone_id)
        if zone is None:
            raise NotFound(f"no zone {zone_id!r}")
        found = [
            self._access_point(state, zone_id, ap_id)
            for ap_id in zone.access_point_ids
            if ap_id in state.access_points
            and (
                interest_realm is None
                or state.access_points[ap_id].interest_realm == interest_realm
            )
        ]
        return {
            "accessPointList": {
                "zoneId": zone_id,
                "accessPoint": found,
                "resourceURL": self._links.access_points(zone_id),
            }
        }

    def access_point(self, zone_id: str, access_point_id: str) -> dict[str, Any]:
        state = self._network.state
        if zone_id not in state.zones:
            raise NotFound(f"no zone {zone_id!r}")
        point = state.access_points.get(access_point_id)
        if point is None or point.zone_id != zone_id:
            raise NotFound(f"no access point {access_point_id!r} in zone {zone_id!r}")
        return {"accessPointInfo": self._access_point(state, zone_id, access_point_id)}

    def distance(self, query: DistanceQuery) -> dict[str, Any]:
        state = self._network.state
        positions: list[Position] = []
        for address in query.addresses:
            ue = state.ues.get(address)
            if not located(ue):
                raise NotFound(f"{address!r} is not a located user")
            positions.append(ue.position)
        if len(positions) == 1:
            assert query.latitude is not None
            assert query.longitude is not None
            positions.append(Position(query.latitude, query.longitude))
        metres = round(between(positions[0], positions[1]))
        return {
            "terminalDistance": {
                "distance": metres,
                "accuracy": math.ceil(metres * DISTANCE_ERROR),
                "timestamp": timestamp(state.at),
            }
        }

    def _snapshot(self) -> NetworkState:
        state = self._network.state
        if state is not self._state:
            self._state, self._users = state, {}
            self._answers.clear()
        return state

    @staticmethod
    def _candidates(state: NetworkState, query: UsersQuery) -> Iterable[Ue | None]:
        if query.addresses:
            return (state.ues.get(a) for a in query.addresses)
        if query.access_point_ids:
            index, keys = state.ues_by_access_point, query.access_point_ids
        elif query.zone_ids:
            index, keys = state.ues_by_zone, query.zone_ids
        else:
            return state.ues.values()
        return (state.ues.get(a) for key in keys for a in index.get(key, ()))

    def _user(self, state: NetworkState, ue: Ue) -> dict[str, Any]:
        user = self._users.get(ue.address)
        if user is None:
            user = {
                "address": ue.address,
                "accessPointId": ue.access_point_id,
                "zoneId": ue.zone_id,
                "resourceURL": self._links.user(ue.address),
                "timestamp": timestamp(state.at),
                "locationInfo": location_info(ue.position, state.at),
            }
            self._users[ue.address] = user
        return user

    def _zone(self, state: NetworkState, zone_id: str) -> dict[str, Any]:
        zone = state.zones[zone_id]
        points = [state.access_points[a] for a in zone.access_point_ids if a in state.access_points]
        return {
            "zoneId": zone_id,
            "numberOfAccessPoints": len(points),
            "numberOfUnserviceableAccessPoints": sum(
                p.operation_status.value == "Unserviceable" for p in points
            ),
            "numberOfUsers": len(state.ues_by_zone.get(zone_id, ())),
            "resourceURL": self._links.zone(zone_id),
        }

    def _access_point(self, state: NetworkState, zone_id: str, ap_id: str) -> dict[str, Any]:
        point = state.access_points[ap_id]
        info: dict[str, Any] = {
            "accessPointId": ap_id,
            "connectionType": connection_type(point.connection_type),
            "operationStatus": operation_status(point.operation_status),
            "numberOfUsers": len(state.ues_by_access_point.get(ap_id, ())),
            "locationInfo": location_info(point.position, state.at),
            "resourceURL": self._links.access_point(zone_id, ap_id),
        }
        if point.timezone is not None:
            info["timezone"] = point.timezone
        if point.interest_realm is not None:
            info["interestRealm"] = point.interest_realm
        return info

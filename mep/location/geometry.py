"""Distances on the Earth for the Location API (queries and distance/circle subscriptions).

Haversine on a sphere of the IUGG mean radius. Against the WGS84 ellipsoid it is off by at most
about 0.5 % (0.3 % typically), far below the accuracy of any cell- or access-point-based
position, and it is exact enough at every distance and latitude. The equirectangular
approximation would save a few hundred nanoseconds per call but degrades with distance and near
the poles; it is not worth it here because matching evaluates only the subscriptions an event can
concern (a handful of distances per moved UE), never every UE against every circle.
"""

from __future__ import annotations

import math

from mep.network.port import Position

#: Mean Earth radius (IUGG), metres.
EARTH_RADIUS_M = 6_371_008.8


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS84 points (degrees)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def between(a: Position, b: Position) -> float:
    """Distance in metres between two positions (altitude ignored, as MEC 013 distances are)."""
    return distance_m(a.latitude, a.longitude, b.latitude, b.longitude)


def within(position: Position, latitude: float, longitude: float, radius_m: float) -> bool:
    """Whether ``position`` lies in the circle (border included)."""
    return distance_m(position.latitude, position.longitude, latitude, longitude) <= radius_m

"""The network as MEC 013 shows it: a UE's location, an access point's type and status.

The network port's enumerations are wider than MEC 013 V2.2.1's (RNIS and later Location
versions need ``LTE-macro``, ``5G-NR``...): values V2.2.1 lacks are shown as the nearest one it
has, so every answer stays valid against the V2.2.1 schemas.
"""

from __future__ import annotations

from typing import TypeGuard

from mep.location.models import (
    ConnectionType,
    LocationInfo,
    OperationStatus,
    RetrievalStatus,
    TerminalLocation,
    timestamp,
)
from mep.network import port

#: ``shape`` of TS 23.032 for a point (2), and a point with altitude (3).
ELLIPSOID_POINT = 2
ELLIPSOID_POINT_ALTITUDE = 3

_CONNECTION_TYPES: dict[port.ConnectionType, ConnectionType] = {
    port.ConnectionType.LTE_MACRO: ConnectionType.MACRO,
    port.ConnectionType.LTE_MICRO: ConnectionType.MICRO,
    port.ConnectionType.LTE_PICO: ConnectionType.PICO,
    # V2.2.1 predates 5G access points in this enumeration.
    port.ConnectionType.NR: ConnectionType.UNKNOWN,
}


def connection_type(value: port.ConnectionType) -> str:
    mapped = _CONNECTION_TYPES.get(value)
    return mapped.value if mapped is not None else ConnectionType(value.value).value


def operation_status(value: port.OperationStatus) -> str:
    return OperationStatus(value.value).value


def located(ue: port.Ue | None) -> TypeGuard[port.Ue]:
    """Whether Location reports this UE: attached, on an access point of a zone."""
    return (
        ue is not None and ue.attached and ue.access_point_id is not None and ue.zone_id is not None
    )


def location_info(position: port.Position, at: float) -> LocationInfo:
    info: LocationInfo = {
        "latitude": [position.latitude],
        "longitude": [position.longitude],
        "shape": ELLIPSOID_POINT,
        "timestamp": timestamp(at),
    }
    if position.altitude:
        info["altitude"] = position.altitude
        info["shape"] = ELLIPSOID_POINT_ALTITUDE
    return info


def terminal_location(address: str, state: port.NetworkState) -> TerminalLocation:
    """TerminalLocation of ``address`` now: Retrieved with its position, or NotRetrieved."""
    ue = state.ues.get(address)
    if ue is None or not ue.attached:
        return {"address": address, "locationRetrievalStatus": RetrievalStatus.NOT_RETRIEVED.value}
    return {
        "address": address,
        "locationRetrievalStatus": RetrievalStatus.RETRIEVED.value,
        "currentLocation": location_info(ue.position, state.at),
    }

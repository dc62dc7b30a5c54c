"""The NetworkSource port: what the radio network looks like now, and what just happened in it.

RNIS (ETSI GS MEC 012) and Location (ETSI GS MEC 013) read the network only through this port,
so a simulator today and a real source later (NEF, RAN telemetry) serve both the same way, and a
UE is the same UE in both: one ``Ue`` carries its address (``acr:10.0.0.1``), IPv4 address and
associateId, its position, and its radio attachment.

A source keeps an immutable :class:`NetworkState` snapshot, replaced as a whole after every
change (a simulator tick, an operator's move), and tells its listeners what changed as a list of
:class:`NetworkEvent` (in order). Readers take ``source.state`` and never see a half-applied tick.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class Plmn:
    mcc: str
    mnc: str


@dataclass(frozen=True)
class Position:
    latitude: float
    longitude: float
    altitude: float = 0.0


class Rat(StrEnum):
    LTE = "LTE"
    NR = "NR"


@dataclass(frozen=True)
class Cell:
    """An E-UTRAN cell (``cell_id`` is the 28-bit ECGI cell identity, 7 hex digits) or an NR
    cell (the 36-bit NRCGI NR cell identity, 9 hex digits)."""

    cell_id: str
    plmn: Plmn
    rat: Rat
    position: Position
    radius_m: float
    #: Transmit power at the antenna (dBm), for the path-loss model.
    tx_power_dbm: float = 46.0
    #: Layer 2 load figures (MEC 012 L2Meas per-cell fields), percent.
    prb_usage_dl: int = 0
    prb_usage_ul: int = 0


class ConnectionType(StrEnum):
    """MEC 013 AccessPointInfo.connectionType."""

    FEMTO = "Femto"
    LTE_FEMTO = "LTE-femto"
    SMALLCELL = "Smallcell"
    LTE_SMALLCELL = "LTE-smallcell"
    WIFI = "Wifi"
    PICO = "Pico"
    MICRO = "Micro"
    MACRO = "Macro"
    WIMAX = "Wimax"
    UNKNOWN = "Unknown"
    LTE_MACRO = "LTE-macro"
    LTE_MICRO = "LTE-micro"
    LTE_PICO = "LTE-pico"
    NR = "5G-NR"


class OperationStatus(StrEnum):
    SERVICEABLE = "Serviceable"
    UNSERVICEABLE = "Unserviceable"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class AccessPoint:
    access_point_id: str
    zone_id: str
    connection_type: ConnectionType
    position: Position
    operation_status: OperationStatus = OperationStatus.SERVICEABLE
    #: The cell this access point radiates, for cellular access points.
    cell_id: str | None = None
    interest_realm: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class Zone:
    zone_id: str
    access_point_ids: tuple[str, ...]


@dataclass(frozen=True)
class Bearer:
    """An E-RAB of a UE (MEC 012 ErabInfo, S1BearerInfoDetailed)."""

    erab_id: int
    qci: int
    mbr_dl: int = 0
    mbr_ul: int = 0
    gbr_dl: int = 0
    gbr_ul: int = 0
    #: GTP-U tunnel endpoints of the S1-U bearer (eNB side and S-GW side).
    enb_address: str = ""
    enb_teid: str = ""
    sgw_address: str = ""
    sgw_teid: str = ""


@dataclass(frozen=True)
class Measurement:
    """RSRP (dBm, MEC 012 reports 0..97 per TS 36.133) and RSRQ (dB) of one cell at a UE."""

    cell_id: str
    rsrp_dbm: float
    rsrq_db: float


@dataclass(frozen=True)
class Ue:
    address: str  # "acr:10.0.0.1"
    ipv4: str
    associate_id: str  # MEC 012 AssociateId value (type UE_IPv4_ADDRESS, the IPv4 address)
    position: Position
    attached: bool = True
    serving_cell_id: str | None = None
    access_point_id: str | None = None
    zone_id: str | None = None
    #: The serving cell first, then neighbours, strongest first.
    measurements: tuple[Measurement, ...] = ()
    bearers: tuple[Bearer, ...] = ()
    #: Carrier aggregation: secondary cells in use.
    secondary_cell_ids: tuple[str, ...] = ()
    #: Timing advance, in the TS 36.213 units MEC 012 MeasTaNotification reports.
    timing_advance: int = 0
    #: Temporary UE identity (MMEC + M-TMSI), MEC 012 TempUeId.
    mmec: str = ""
    mtmsi: str = ""
    speed_mps: float = 0.0


@dataclass(frozen=True)
class NetworkState:
    plmns: tuple[Plmn, ...]
    cells: Mapping[str, Cell]
    zones: Mapping[str, Zone]
    access_points: Mapping[str, AccessPoint]
    ues: Mapping[str, Ue]  # by address
    #: Seconds since the epoch at which this state holds (the simulator's clock).
    at: float
    #: Indexes for the queries the APIs answer without scanning every UE.
    ues_by_cell: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    ues_by_zone: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    ues_by_access_point: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    ues_by_ipv4: Mapping[str, str] = field(default_factory=dict)


class EventKind(StrEnum):
    ATTACHED = "ATTACHED"  # RAB and S1 bearers established (RabEst, S1Bearer ESTABLISH)
    DETACHED = "DETACHED"  # released (RabRel, S1Bearer RELEASE); the UE leaves both APIs
    HANDOVER = "HANDOVER"  # serving cell changed (CellChange; Location zone/AP movement)
    MOVED = "MOVED"  # position changed (Location distance/circle/periodic; MeasTa on TA change)
    ACCESS_POINT_CHANGED = "ACCESS_POINT_CHANGED"  # Location zonal presence/user tracking
    BEARER_MODIFIED = "BEARER_MODIFIED"  # RabMod, S1Bearer MODIFY
    MEASUREMENT = "MEASUREMENT"  # a measurement report is due (MeasRepUe, NrMeasRepUe)
    TIMING_ADVANCE = "TIMING_ADVANCE"  # MeasTa
    CARRIER_AGGREGATION = "CARRIER_AGGREGATION"  # CaReConf
    ACCESS_POINT_STATUS = "ACCESS_POINT_STATUS"  # Location zoneStatus operationStatus


@dataclass(frozen=True)
class NetworkEvent:
    kind: EventKind
    at: float
    #: The UE concerned (by address), or None for events about access points.
    ue: str | None = None
    #: The UE (or access point) before and after the event; None where it did not exist.
    before: Ue | None = None
    after: Ue | None = None
    access_point_id: str | None = None


Listener = Callable[[NetworkState, Sequence[NetworkEvent]], Awaitable[None]]


class NetworkSource(Protocol):
    """The radio network as RNIS and Location see it."""

    @property
    def state(self) -> NetworkState:
        """The current snapshot; never mutated, replaced after each change."""
        ...

    def listen(self, listener: Listener) -> None:
        """Call ``listener`` with the new state and the events of each change, in order."""
        ...

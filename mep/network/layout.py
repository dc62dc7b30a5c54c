"""The runtime form of a scenario: cells, access points and UEs as mutable records on a local
plane (metres), with the lookup grids of :mod:`mep.network.radio`. Built once per scenario
load; :class:`mep.network.world.World` advances it."""

from __future__ import annotations

import ipaddress
import math
import random
import zlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from mep.network import radio
from mep.network.motion import Mover, PathMover, Still, WalkMover
from mep.network.port import (
    AccessPoint,
    Bearer,
    Cell,
    NetworkState,
    OperationStatus,
    Plmn,
    Position,
    Ue,
    Zone,
)
from mep.network.scenario import (
    DEFAULT_AP_RANGE_M,
    AccessPointSpec,
    Bounds,
    GeoPosition,
    Scenario,
    UeSpec,
)

_ENB_BASE = int(ipaddress.IPv4Address("10.255.0.0"))
DEFAULT_BEARER = (5, 9)  # E-RAB id, QCI
VIDEO_BEARER = (6, 7)
VIDEO_MBR = (5_000_000, 500_000)  # bit/s, downlink and uplink


@dataclass(slots=True, eq=False)
class RCell:
    index: int
    cell: Cell
    x: float
    y: float
    r2: float
    re_power: float  # dBm per resource element
    enb_address: str
    zone_id: str = ""
    ap: RAp | None = None
    on: bool = True
    #: Cells of one RAT and zone share a group: carrier aggregation stays within it.
    ca_group: int = -1
    cell_id: str = ""  # cell.cell_id, one attribute hop less in the simulator's inner loop

    def __post_init__(self) -> None:
        self.cell_id = self.cell.cell_id


@dataclass(slots=True, eq=False)
class RAp:
    ap: AccessPoint
    x: float
    y: float
    r2: float  # squared range, for an access point without a cell
    cell: RCell | None
    on: bool


@dataclass(slots=True, eq=False)
class RUe:
    index: int
    address: str
    ipv4: str
    x: float
    y: float
    alt: float
    mover: Mover
    rng: random.Random
    attach_at: int
    detach_at: int | None
    ue: Ue  # the current snapshot of this UE (attached or not)
    attached: bool = False
    serving: RCell | None = None
    pending: RCell | None = None  # the neighbour that met the handover condition
    pending_ticks: int = 0
    ap: RAp | None = None
    video: bool = False


class Layout:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.projection = _projection(scenario)
        self.dlat, self.dlon = self.projection.factors()
        self.plmns = (Plmn(scenario.plmn.mcc, scenario.plmn.mnc),)
        self.cells: list[RCell] = []
        self.aps: dict[str, RAp] = {}
        self.free_aps: list[RAp] = []  # access points without a cell (Wifi, ...)
        self._build_cells()
        groups: dict[tuple[str, str], int] = {}
        for cell in self.cells:
            cell.ca_group = groups.setdefault((cell.cell.rat, cell.zone_id), len(groups))
        self.cell_map: Mapping[str, Cell] = MappingProxyType(
            {c.cell.cell_id: c.cell for c in self.cells}
        )
        zones = {
            z.zone_id: Zone(z.zone_id, tuple(a.access_point_id for a in z.access_points))
            for z in scenario.zones
        }
        self.zone_map: Mapping[str, Zone] = MappingProxyType(zones)
        self.ap_map = self.access_points()
        self.grid = radio.Grid([(c.x, c.y, math.sqrt(c.r2)) for c in self.cells])
        self.free_grid = radio.Grid([(a.x, a.y, math.sqrt(a.r2)) for a in self.free_aps])
        self.ues: list[RUe] = [self._ue(i, spec) for i, spec in enumerate(scenario.ues)]
        self.by_address = {u.address: u for u in self.ues}

    def access_points(self) -> Mapping[str, AccessPoint]:
        return MappingProxyType({key: ap.ap for key, ap in self.aps.items()})

    def position(self, x: float, y: float, alt: float) -> Position:
        p = self.projection
        return Position(p.latitude + y * self.dlat, p.longitude + x * self.dlon, alt)

    def bearers(self, u: RUe, serving: RCell) -> tuple[Bearer, ...]:
        """The UE's E-RABs, anchored at the eNB of ``serving``."""
        wanted = [DEFAULT_BEARER, VIDEO_BEARER] if u.video else [DEFAULT_BEARER]
        sgw = self.scenario.sgw_address
        bearers = []
        for erab, qci in wanted:
            mbr_dl, mbr_ul = VIDEO_MBR if qci == VIDEO_BEARER[1] else (0, 0)
            bearer = Bearer(
                erab,
                qci,
                mbr_dl=mbr_dl,
                mbr_ul=mbr_ul,
                enb_address=serving.enb_address,
                enb_teid=f"{u.index + 1:06x}{erab:02x}",
                sgw_address=sgw,
                sgw_teid=f"{u.index + 1:06x}{erab | 0x80:02x}",
            )
            bearers.append(bearer)
        return tuple(bearers)

    def snapshot(self, at: float) -> NetworkState:
        """The attached UEs and their indexes, built in one pass."""
        ues: dict[str, Ue] = {}
        by_cell: defaultdict[str, list[str]] = defaultdict(list)
        by_zone: defaultdict[str, list[str]] = defaultdict(list)
        by_ap: defaultdict[str, list[str]] = defaultdict(list)
        by_ipv4: dict[str, str] = {}
        for u in self.ues:
            if not u.attached:
                continue
            ue, address = u.ue, u.address
            ues[address] = ue
            by_cell[ue.serving_cell_id or ""].append(address)
            by_zone[ue.zone_id or ""].append(address)
            by_ap[ue.access_point_id or ""].append(address)
            by_ipv4[u.ipv4] = address
        return NetworkState(
            plmns=self.plmns,
            cells=self.cell_map,
            zones=self.zone_map,
            access_points=self.ap_map,
            ues=MappingProxyType(ues),
            at=at,
            ues_by_cell=_frozen(by_cell),
            ues_by_zone=_frozen(by_zone),
            ues_by_access_point=_frozen(by_ap),
            ues_by_ipv4=MappingProxyType(by_ipv4),
        )

    def _build_cells(self) -> None:
        scenario = self.scenario
        to_xy = self.projection.to_xy
        by_id: dict[str, RCell] = {}
        for i, spec in enumerate(scenario.cells):
            x, y = to_xy(spec.position.latitude, spec.position.longitude)
            cell = Cell(
                cell_id=spec.cell_id,
                plmn=self.plmns[0],
                rat=spec.rat,
                position=_position(spec.position),
                radius_m=spec.radius,
                tx_power_dbm=spec.tx_power,
                prb_usage_dl=spec.prb_usage_dl,
                prb_usage_ul=spec.prb_usage_ul,
            )
            enb = spec.enb_address or str(ipaddress.IPv4Address(_ENB_BASE + i + 1))
            re_power = spec.tx_power - radio.RE_POWER_OFFSET_DB
            runtime = RCell(i, cell, x, y, spec.radius**2, re_power, enb)
            self.cells.append(runtime)
            by_id[spec.cell_id.lower()] = runtime
        for zone, ap_spec in scenario.access_points():
            radiated = by_id[ap_spec.cell_id.lower()] if ap_spec.cell_id else None
            self._add_access_point(zone.zone_id, ap_spec, radiated)

    def _add_access_point(self, zone_id: str, spec: AccessPointSpec, cell: RCell | None) -> None:
        where = spec.position
        if where is None:
            assert cell is not None  # the scenario's validation requires one of them
            where = self.scenario.cells[cell.index].position
        status = spec.operation_status
        ap = AccessPoint(
            access_point_id=spec.access_point_id,
            zone_id=zone_id,
            connection_type=spec.connection_type,
            position=_position(where),
            operation_status=status,
            cell_id=cell.cell.cell_id if cell else None,
            interest_realm=spec.interest_realm,
            timezone=spec.timezone,
        )
        x, y = self.projection.to_xy(where.latitude, where.longitude)
        reach = spec.range_m or DEFAULT_AP_RANGE_M
        on = status is OperationStatus.SERVICEABLE
        runtime = RAp(ap, x, y, reach**2, cell, on)
        self.aps[ap.access_point_id] = runtime
        if cell is None:
            self.free_aps.append(runtime)
        else:
            cell.ap, cell.zone_id, cell.on = runtime, zone_id, on

    def _ue(self, index: int, spec: UeSpec) -> RUe:
        walk_seed = spec.random_walk.seed if spec.random_walk else None
        # A string seed is hashed with SHA-512: stable across processes and Python runs.
        rng = random.Random(f"{self.scenario.seed}:{walk_seed}:{spec.address}")  # noqa: S311
        mover, (x, y), alt = self._mover(spec, rng)
        ipv4 = spec.ipv4_address
        ue = Ue(
            address=spec.address,
            ipv4=ipv4,
            associate_id=spec.associate_id or ipv4,
            position=self.position(x, y, alt),
            attached=False,
            mmec="01",
            mtmsi=f"{zlib.crc32(spec.address.encode()):08x}",
            speed_mps=mover.speed,
        )
        return RUe(
            index, spec.address, ipv4, x, y, alt, mover, rng, spec.attach_at, spec.detach_at, ue
        )

    def _mover(self, spec: UeSpec, rng: random.Random) -> tuple[Mover, tuple[float, float], float]:
        to_xy = self.projection.to_xy
        start = to_xy(spec.position.latitude, spec.position.longitude) if spec.position else None
        alt = spec.position.altitude if spec.position else 0.0
        if spec.path is not None:
            points = [to_xy(w.latitude, w.longitude) for w in spec.path.waypoints]
            target = 0 if start is not None else 1
            if start is None:
                start, alt = points[0], spec.path.waypoints[0].altitude
            return PathMover(points, spec.path.speed, spec.path.end, target=target), start, alt
        if spec.random_walk is not None:
            walk = spec.random_walk
            walker = WalkMover(rng, self._box(walk.bounds), (walk.min_speed, walk.max_speed))
            return walker, start or walker.start(), alt
        assert start is not None  # the scenario's validation requires it
        return Still(), start, alt

    def _box(self, bounds: Bounds | None) -> tuple[float, float, float, float]:
        to_xy = self.projection.to_xy
        if bounds is not None:
            west, south = to_xy(bounds.south, bounds.west)
            east, north = to_xy(bounds.north, bounds.east)
            return west, south, east, north
        # The box around every cell centre, widened by half the smallest radius.
        margin = min(math.sqrt(c.r2) for c in self.cells) / 2
        xs = [c.x for c in self.cells]
        ys = [c.y for c in self.cells]
        return min(xs) - margin, min(ys) - margin, max(xs) + margin, max(ys) + margin


def _position(spec: GeoPosition) -> Position:
    return Position(spec.latitude, spec.longitude, spec.altitude)


def _projection(scenario: Scenario) -> radio.Projection:
    """The plane's origin: the mean of the cell and access point positions (else of the UEs'
    starts)."""
    points = [c.position for c in scenario.cells]
    points += [a.position for _, a in scenario.access_points() if a.position]
    if not points:
        points = [u.position for u in scenario.ues if u.position]
        points += [u.path.waypoints[0] for u in scenario.ues if u.path]
    if not points:
        return radio.Projection(0.0, 0.0)
    return radio.Projection(
        sum(p.latitude for p in points) / len(points),
        sum(p.longitude for p in points) / len(points),
    )


def _frozen(index: Mapping[str, list[str]]) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({key: tuple(values) for key, values in index.items()})

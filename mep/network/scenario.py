"""The scenario file of the network simulator: what the world holds, validated before it runs.

A scenario is YAML or JSON (the operator API takes the same document as JSON). Every name is
camelCase; units are metres, metres per second, dBm and ticks. Schema (``?`` = optional,
``=`` = default)::

    name?: str
    seed = 0                 # every UE's random generator derives from it: same seed, same run
    tick = 1.0               # simulated seconds per tick (0.1 .. 3600)
    startTime?: datetime     # simulated time of tick 0 (UTC unless an offset is given, 1970 ..
                             # 2200); default: the wall clock at load
    plmn: {mcc: "001", mnc: "01"}              # 3 digits, 2 or 3 digits (quote them in YAML)
    measurementPeriod = 10   # ticks between two measurement reports of a UE
    bearerChangeProbability = 0.002            # per attached UE and tick: video bearer toggles
    sgwAddress = 10.254.0.1  # S-GW end of every S1-U tunnel
    cells:                   # each radiated by exactly one access point
      - cellId: "1000001"    # hex: 7 digits (28-bit ECGI cell identity, LTE),
        rat = LTE            #      9 digits (36-bit NRCGI NR cell identity, NR)
        position: {latitude, longitude, altitude = 0}   # latitude -89 .. 89
        radius: 500          # coverage: a UE farther away neither hears nor uses the cell
        txPower = 46         # dBm at the antenna
        prbUsageDl = 0       # percent (MEC 012 L2Meas)
        prbUsageUl = 0
        enbAddress?: IPv4    # eNB/gNB end of S1-U tunnels; default 10.255.x.y by cell order
    zones:
      - zoneId: zone01
        accessPoints:
          - accessPointId: zone01-macro
            connectionType: LTE-macro        # MEC 013 ConnectionType (Wifi, 5G-NR, ...)
            cellId?: "1000001"               # the cell it radiates (not for Wifi or Wimax)
            position?: {...}                 # default: the position of its cell
            range?: 100                      # metres, for an AP without a cell (default 100)
            operationStatus = Serviceable    # Unserviceable: its cell is off the air
            interestRealm?: str
            timezone?: str
    ues:
      - address: acr:10.0.0.1                # scheme:value, no '/'
        ipv4?: 10.0.0.1                      # default: the address's value when acr:<IPv4>
        associateId?: 10.0.0.1               # MEC 012 AssociateId (UE_IPv4_ADDRESS); = ipv4
        position?: {...}                     # start; default: first waypoint / random point
        path?:                               # either path or randomWalk (neither: stays put)
          waypoints: [{latitude, longitude}, ...]
          speed: 1.4                         # m/s
          end = stop                         # stop | loop | reverse
        randomWalk?:                         # random-waypoint model
          seed?: int                         # mixed with the scenario seed and the address
          minSpeed = 0.5
          maxSpeed = 2.0
          bounds?: {south, west, north, east}  # default: the box around every cell centre
        attachAt = 0                         # detachAt?: int; attached in [attachAt, detachAt)

A bad document raises :class:`ScenarioError`, whose message names each bad field by its path
(``cells[2].cellId: must be 7 hex digits for an LTE ECGI``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from collections.abc import Iterator, Sequence
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    ValidationError,
)

from mep.core.models import StrictApiModel
from mep.network.port import ConnectionType, OperationStatus, Rat

Loc = tuple[str | int, ...]

#: Access point types that cannot radiate a cell of the cellular network.
NON_CELLULAR = frozenset({ConnectionType.WIFI, ConnectionType.WIMAX})
DEFAULT_AP_RANGE_M = 100.0
CELL_ID_DIGITS = {Rat.LTE: 7, Rat.NR: 9}
_ACR_IPV4 = re.compile(r"^acr:(\d{1,3}(?:\.\d{1,3}){3})$")
_CELL_ID = re.compile(r"[0-9A-Fa-f]{7,9}")
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


def _quoted(value: Any) -> Any:
    # YAML reads 001 as the number 1: say so, rather than "should be a valid string".
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError("must be a quoted string (YAML reads leading zeros as a number)")
    return value


def _date_time(value: Any) -> Any:
    # YAML gives datetimes; JSON gives strings, which must be RFC 3339 with an offset (lax
    # pydantic would also take a number as a Unix time, which the API document does not).
    if isinstance(value, dt.datetime) or (isinstance(value, str) and _RFC3339.fullmatch(value)):
        return value
    raise ValueError("must be an RFC 3339 date-time with an offset (2024-05-01T08:00:00Z)")


def _utc_in_range(value: dt.datetime) -> dt.datetime:
    # A time without an offset is UTC; the clock's arithmetic needs a bounded epoch.
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    if not _EARLIEST <= value <= _LATEST:
        raise ValueError("must be between 1970 and 2200")
    return value


def _cell_id(value: str) -> str:
    if not _CELL_ID.fullmatch(value):
        raise ValueError("must be hex digits: 7 for an LTE ECGI, 9 for an NR NRCGI")
    return value


def _ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ValueError("must be an IPv4 address (four numbers 0 to 255)") from None


Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$")]
HexId = Annotated[str, BeforeValidator(_quoted), AfterValidator(_cell_id)]
Digits = Annotated[str, BeforeValidator(_quoted)]
Ipv4 = Annotated[
    str,
    Field(pattern=r"^\d{1,3}(\.\d{1,3}){3}$"),
    BeforeValidator(lambda v: _ipv4(v) if isinstance(v, str) else v),
]
Metres = Annotated[StrictFloat, Field(gt=0, le=100_000)]
Speed = Annotated[StrictFloat, Field(ge=0, le=150)]
Tick = Annotated[StrictInt, Field(ge=0, le=2**31)]
Seed = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
StartTime = Annotated[dt.datetime, BeforeValidator(_date_time), AfterValidator(_utc_in_range)]


class Model(StrictApiModel):
    model_config = ConfigDict(allow_inf_nan=False)


class GeoPosition(Model):
    latitude: Annotated[StrictFloat, Field(ge=-89.0, le=89.0)]
    longitude: Annotated[StrictFloat, Field(ge=-180.0, le=180.0)]
    altitude: Annotated[StrictFloat, Field(ge=-1000.0, le=100_000.0)] = 0.0


class PlmnSpec(Model):
    mcc: Annotated[Digits, Field(pattern=r"^[0-9]{3}$")]
    mnc: Annotated[Digits, Field(pattern=r"^[0-9]{2,3}$")]


class CellSpec(Model):
    cell_id: HexId
    rat: Rat = Rat.LTE
    position: GeoPosition
    radius: Metres
    tx_power: Annotated[StrictFloat, Field(ge=-30, le=80)] = 46.0
    prb_usage_dl: Annotated[StrictInt, Field(ge=0, le=100)] = 0
    prb_usage_ul: Annotated[StrictInt, Field(ge=0, le=100)] = 0
    enb_address: Ipv4 | None = None


class AccessPointSpec(Model):
    access_point_id: Id
    connection_type: ConnectionType
    cell_id: HexId | None = None
    position: GeoPosition | None = None
    range_m: Metres | None = Field(default=None, alias="range")
    operation_status: OperationStatus = OperationStatus.SERVICEABLE
    interest_realm: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    timezone: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class ZoneSpec(Model):
    zone_id: Id
    access_points: Annotated[list[AccessPointSpec], Field(max_length=10_000)] = []


class PathEnd(StrEnum):
    STOP = "stop"
    LOOP = "loop"
    REVERSE = "reverse"


class PathSpec(Model):
    waypoints: Annotated[list[GeoPosition], Field(min_length=1, max_length=10_000)]
    speed: Speed
    end: PathEnd = PathEnd.STOP


class Bounds(Model):
    south: Annotated[StrictFloat, Field(ge=-89.0, le=89.0)]
    west: Annotated[StrictFloat, Field(ge=-180.0, le=180.0)]
    north: Annotated[StrictFloat, Field(ge=-89.0, le=89.0)]
    east: Annotated[StrictFloat, Field(ge=-180.0, le=180.0)]


class RandomWalkSpec(Model):
    seed: Seed | None = None
    min_speed: Speed = 0.5
    max_speed: Speed = 2.0
    bounds: Bounds | None = None


class UeSpec(Model):
    address: Annotated[str, Field(pattern=r"^[a-z][a-z0-9+.-]{0,15}:[^\s/?#%]{1,200}$")]
    ipv4: Ipv4 | None = None
    associate_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    position: GeoPosition | None = None
    path: PathSpec | None = None
    random_walk: RandomWalkSpec | None = None
    attach_at: Tick = 0
    detach_at: Tick | None = None

    @property
    def ipv4_address(self) -> str:
        """The UE's IPv4 address, given or read from an ``acr:<IPv4>`` address."""
        if self.ipv4 is not None:
            return self.ipv4
        found = _ACR_IPV4.match(self.address)
        return _ipv4(found.group(1)) if found else ""


class Scenario(Model):
    name: Annotated[str, Field(max_length=256)] | None = None
    seed: Seed = 0
    tick: Annotated[StrictFloat, Field(ge=0.1, le=3600)] = 1.0
    start_time: StartTime | None = None
    plmn: PlmnSpec
    measurement_period: Annotated[StrictInt, Field(ge=1, le=86_400)] = 10
    bearer_change_probability: Annotated[StrictFloat, Field(ge=0, le=1)] = 0.002
    sgw_address: Ipv4 = "10.254.0.1"
    cells: Annotated[list[CellSpec], Field(max_length=10_000)] = []
    zones: Annotated[list[ZoneSpec], Field(max_length=1_000)] = []
    ues: Annotated[list[UeSpec], Field(max_length=100_000)] = []

    def access_points(self) -> Iterator[tuple[ZoneSpec, AccessPointSpec]]:
        for zone in self.zones:
            for access_point in zone.access_points:
                yield zone, access_point


class ScenarioError(ValueError):
    """A scenario that cannot run; ``problems`` pairs each field path with what is wrong."""

    def __init__(self, problems: Sequence[tuple[Loc, str]], *, source: str = "") -> None:
        self.problems = list(problems)
        self.source = source
        lines = [f"{dotted(loc) or 'scenario'}: {message}" for loc, message in problems]
        prefix = f"{source}: " if source else ""
        super().__init__(prefix + "; ".join(lines))


def dotted(loc: Loc) -> str:
    """``('cells', 2, 'cellId')`` as ``cells[2].cellId``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def parse(data: Any, *, source: str = "") -> Scenario:
    """A validated scenario from decoded JSON or YAML, or :class:`ScenarioError`."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as error:
        problems = [
            (tuple(item["loc"]), item["msg"].removeprefix("Value error, "))
            for item in error.errors(include_url=False)
        ]
        raise ScenarioError(problems, source=source) from None
    problems = list(_semantic_problems(scenario))
    if problems:
        raise ScenarioError(problems, source=source)
    return scenario


def load_file(path: Path) -> Scenario:
    """Read and validate a ``.json``, ``.yaml`` or ``.yml`` file. Blocking: call it off the loop
    (``asyncio.to_thread``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        problem = [((), f"cannot read the file: {error.strerror}")]
        raise ScenarioError(problem, source=str(path)) from None
    return parse_text(text, source=str(path), as_json=path.suffix == ".json")


def load_demo() -> Scenario:
    """The demo city shipped in the package. Blocking: call it off the loop."""
    text = resources.files("mep.network").joinpath("scenarios/demo.yaml").read_text("utf-8")
    return parse_text(text, source="demo.yaml")


def parse_text(text: str, *, source: str, as_json: bool = False) -> Scenario:
    try:
        data = json.loads(text) if as_json else yaml.load(text, Loader=_Loader)  # noqa: S506
    except (yaml.YAMLError, ValueError) as error:
        kind = "JSON" if as_json else "YAML"
        raise ScenarioError([((), f"not valid {kind}: {error}")], source=source) from None
    return parse(data, source=source)


# The C loader is several times faster on large generated scenarios; both are safe loaders.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _semantic_problems(scenario: Scenario) -> Iterator[tuple[Loc, str]]:
    """The rules a schema cannot state: cell id lengths, uniqueness, references."""
    cells: dict[str, int] = {}
    for i, cell in enumerate(scenario.cells):
        digits = CELL_ID_DIGITS[cell.rat]
        if len(cell.cell_id) != digits:
            what = "an LTE ECGI" if cell.rat is Rat.LTE else "an NR NRCGI"
            yield ("cells", i, "cellId"), f"must be {digits} hex digits for {what}"
        key = cell.cell_id.lower()
        if key in cells:
            yield ("cells", i, "cellId"), f"duplicate of cells[{cells[key]}]"
        cells.setdefault(key, i)
    yield from _access_point_problems(scenario, cells)
    yield from _ue_problems(scenario)


def _access_point_problems(scenario: Scenario, cells: dict[str, int]) -> Iterator[tuple[Loc, str]]:
    zones: dict[str, int] = {}
    access_points: dict[str, Loc] = {}
    radiated: dict[str, Loc] = {}
    for z, zone in enumerate(scenario.zones):
        if zone.zone_id in zones:
            yield ("zones", z, "zoneId"), f"duplicate of zones[{zones[zone.zone_id]}]"
        zones.setdefault(zone.zone_id, z)
        for a, ap in enumerate(zone.access_points):
            loc: Loc = ("zones", z, "accessPoints", a)
            if ap.access_point_id in access_points:
                other = dotted(access_points[ap.access_point_id])
                yield (*loc, "accessPointId"), f"duplicate of {other}"
            access_points.setdefault(ap.access_point_id, loc)
            if ap.cell_id is None:
                if ap.position is None:
                    yield (*loc, "position"), "required for an access point without a cellId"
                continue
            key = ap.cell_id.lower()
            if ap.connection_type in NON_CELLULAR:
                yield (*loc, "cellId"), f"a {ap.connection_type.value} access point has no cell"
            elif key not in cells:
                yield (*loc, "cellId"), "names no cell of the scenario"
            elif key in radiated:
                yield (*loc, "cellId"), f"already radiated by {dotted(radiated[key])}"
            radiated.setdefault(key, loc)
    for key, i in cells.items():
        if key not in radiated:
            yield ("cells", i, "cellId"), "no access point radiates this cell"


def _ue_problems(scenario: Scenario) -> Iterator[tuple[Loc, str]]:
    addresses: dict[str, int] = {}
    ipv4s: dict[str, int] = {}
    for u, ue in enumerate(scenario.ues):
        loc: Loc = ("ues", u)
        if ue.address in addresses:
            yield (*loc, "address"), f"duplicate of ues[{addresses[ue.address]}]"
        addresses.setdefault(ue.address, u)
        ipv4 = ue.ipv4_address
        if not ipv4:
            yield (*loc, "ipv4"), "required when the address is not acr:<IPv4 address>"
        elif ipv4 in ipv4s:
            yield (*loc, "ipv4"), f"{ipv4} is already the address of ues[{ipv4s[ipv4]}]"
        else:
            ipv4s[ipv4] = u
        if ue.path is not None and ue.random_walk is not None:
            yield loc, "give either path or randomWalk, not both"
        if ue.position is None and ue.path is None and ue.random_walk is None:
            yield (*loc, "position"), "required for a UE without path or randomWalk"
        if ue.detach_at is not None and ue.detach_at <= ue.attach_at:
            yield (*loc, "detachAt"), "must be after attachAt"
        walk = ue.random_walk
        if walk is None:
            continue
        if walk.min_speed > walk.max_speed:
            yield (*loc, "randomWalk", "maxSpeed"), "must not be below minSpeed"
        if walk.bounds is None and not scenario.cells:
            yield (*loc, "randomWalk", "bounds"), "required when the scenario has no cells"
        elif walk.bounds is not None:
            if walk.bounds.south >= walk.bounds.north:
                yield (*loc, "randomWalk", "bounds"), "south must be below north"
            if walk.bounds.west >= walk.bounds.east:
                yield (*loc, "randomWalk", "bounds"), "west must be west of east"

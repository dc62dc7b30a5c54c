"""The network source of the platform, and the operator's network API (``/mep_mgmt/v1/network``).

Startup: unless ``create_app(network=...)`` gave a source, ``MEP_SCENARIO`` picks one: ``none``
an empty :class:`StaticNetworkSource`, ``demo`` the packaged demo city, else the scenario file
at that path, run by a :class:`Simulator` whose clock ticks in a background task from the end of
startup to the start of shutdown. The source is set before the platform's own startup runs, so
RNIS and Location find it when their wiring (``keys.SERVICE_SETUPS``) runs.

The operator API (operator token only) drives the simulator: replace or read the scenario, list
UEs, move one now, put an access point in or out of service, and pause, resume or step the
clock, so tests make events happen exactly when they want. With a source that is not a
simulator, every operation answers 409.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field, StrictInt, model_validator

from mep.auth.guard import require
from mep.core import keys
from mep.core.http import dump, json_response, read_json_body, read_model
from mep.core.models import ApiModel, StrictApiModel
from mep.core.problem import BadRequest, Conflict, InvalidParam, NotFound
from mep.core.settings import MepSettings
from mep.core.tokens import CallerKind
from mep.core.validation import json_pointer
from mep.network.port import AccessPoint, NetworkSource, OperationStatus, Position, Ue
from mep.network.scenario import GeoPosition, Id, ScenarioError, load_demo, load_file, parse
from mep.network.simulator import Clock, Simulator, UnknownAccessPoint, UnknownUe
from mep.network.static import StaticNetworkSource

BASE = "/mep_mgmt/v1/network"
#: Ticks one ``step`` may ask for: a step answers when its ticks are done.
MAX_STEP = 1000
operator = require(CallerKind.OPERATOR)


# --- bodies ---


class MoveRequest(StrictApiModel):
    position: GeoPosition | None = None
    access_point_id: Id | None = None

    @model_validator(mode="after")
    def _one_target(self) -> MoveRequest:
        if (self.position is None) == (self.access_point_id is None):
            raise ValueError("give either position or accessPointId")
        return self


class ClockAction(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    STEP = "step"


class ClockRequest(StrictApiModel):
    action: ClockAction
    #: For ``step``: how many ticks to run now.
    ticks: Annotated[StrictInt, Field(ge=1, le=MAX_STEP)] = 1


class StatusRequest(StrictApiModel):
    operation_status: OperationStatus


class PositionView(ApiModel):
    latitude: float
    longitude: float
    altitude: float


class MeasurementView(ApiModel):
    cell_id: str
    rsrp: float
    rsrq: float


class BearerView(ApiModel):
    erab_id: int
    qci: int


class UeView(ApiModel):
    address: str
    ipv4: str
    associate_id: str
    attached: bool
    position: PositionView
    speed: float
    serving_cell_id: str | None = None
    access_point_id: str | None = None
    zone_id: str | None = None
    secondary_cell_ids: list[str]
    timing_advance: int
    measurements: list[MeasurementView]
    bearers: list[BearerView]


class ClockView(ApiModel):
    paused: bool
    running: bool
    tick: int
    tick_seconds: float
    speed: float
    interval_seconds: float
    simulated_time: dt.datetime


class AccessPointView(ApiModel):
    access_point_id: str
    zone_id: str
    connection_type: str
    operation_status: str
    cell_id: str | None = None
    position: PositionView


def _position(position: Position) -> PositionView:
    return PositionView(
        latitude=position.latitude, longitude=position.longitude, altitude=position.altitude
    )


def _ue(ue: Ue) -> UeView:
    return UeView(
        address=ue.address,
        ipv4=ue.ipv4,
        associate_id=ue.associate_id,
        attached=ue.attached,
        position=_position(ue.position),
        speed=ue.speed_mps,
        serving_cell_id=ue.serving_cell_id,
        access_point_id=ue.access_point_id,
        zone_id=ue.zone_id,
        secondary_cell_ids=list(ue.secondary_cell_ids),
        timing_advance=ue.timing_advance,
        measurements=[
            MeasurementView(cell_id=m.cell_id, rsrp=m.rsrp_dbm, rsrq=m.rsrq_db)
            for m in ue.measurements
        ],
        bearers=[BearerView(erab_id=b.erab_id, qci=b.qci) for b in ue.bearers],
    )


def _clock(clock: Clock) -> ClockView:
    return ClockView(
        paused=clock.paused,
        running=clock.running,
        tick=clock.tick,
        tick_seconds=clock.tick_seconds,
        speed=clock.speed,
        interval_seconds=clock.interval_seconds,
        simulated_time=dt.datetime.fromtimestamp(clock.at, dt.UTC),
    )


def _access_point(ap: AccessPoint) -> AccessPointView:
    return AccessPointView(
        access_point_id=ap.access_point_id,
        zone_id=ap.zone_id,
        connection_type=ap.connection_type.value,
        operation_status=ap.operation_status.value,
        cell_id=ap.cell_id,
        position=_position(ap.position),
    )


# --- handlers ---


def _simulator(request: web.Request) -> Simulator:
    source = request.app[keys.NETWORK]
    if not isinstance(source, Simulator):
        raise Conflict(
            "the network is not simulated here (MEP_SCENARIO=none, or a source given to the "
            "platform): there is no scenario, UE list or clock to operate"
        )
    return source


def _scenario_document(simulator: Simulator) -> dict[str, Any]:
    return dump(simulator.scenario)


@operator
async def put_scenario(request: web.Request) -> web.Response:
    """Replace the world; 400 naming each bad field of the scenario."""
    simulator = _simulator(request)
    try:
        scenario = parse(await read_json_body(request))
    except ScenarioError as error:
        params = [InvalidParam(json_pointer(loc), message) for loc, message in error.problems]
        raise BadRequest(f"invalid scenario: {error}", invalid_params=params) from None
    await simulator.load(scenario)
    return json_response(_scenario_document(simulator))


@operator
async def get_scenario(request: web.Request) -> web.Response:
    return json_response(_scenario_document(_simulator(request)))


@operator
async def list_ues(request: web.Request) -> web.Response:
    return json_response([_ue(ue) for ue in _simulator(request).ues()])


def _address(request: web.Request) -> str:
    return request.match_info["address"]


@operator
async def get_ue(request: web.Request) -> web.Response:
    simulator = _simulator(request)
    try:
        return json_response(_ue(simulator.ue(_address(request))))
    except UnknownUe:
        raise NotFound(f"no UE {_address(request)!r} in the scenario") from None


@operator
async def move_ue(request: web.Request) -> web.Response:
    """Put the UE at a position or an access point now; the events are delivered to RNIS and
    Location before the answer."""
    simulator = _simulator(request)
    body = await read_model(request, MoveRequest)
    where = body.position
    position = Position(where.latitude, where.longitude, where.altitude) if where else None
    try:
        ue = await simulator.move_ue(
            _address(request), position=position, access_point_id=body.access_point_id
        )
    except UnknownUe:
        raise NotFound(f"no UE {_address(request)!r} in the scenario") from None
    except UnknownAccessPoint:
        raise NotFound(
            f"no access point {body.access_point_id!r} in the scenario",
            invalid_params=[InvalidParam("/accessPointId", "unknown access point")],
        ) from None
    return json_response(_ue(ue))


@operator
async def get_clock(request: web.Request) -> web.Response:
    return json_response(_clock(_simulator(request).clock()))


@operator
async def post_clock(request: web.Request) -> web.Response:
    simulator = _simulator(request)
    body = await read_model(request, ClockRequest)
    if body.action is ClockAction.PAUSE:
        simulator.pause()
    elif body.action is ClockAction.RESUME:
        simulator.resume()
    else:
        await simulator.step(body.ticks)
    return json_response(_clock(simulator.clock()))


@operator
async def put_access_point_status(request: web.Request) -> web.Response:
    """Put an access point in or out of service (MEC 013 operationStatus); its cell follows."""
    simulator = _simulator(request)
    body = await read_model(request, StatusRequest)
    access_point_id = request.match_info["accessPointId"]
    try:
        ap = await simulator.set_access_point_status(access_point_id, body.operation_status)
    except UnknownAccessPoint:
        raise NotFound(f"no access point {access_point_id!r} in the scenario") from None
    return json_response(_access_point(ap))


# --- wiring ---


async def source_from_settings(settings: MepSettings) -> NetworkSource:
    """The source ``MEP_SCENARIO`` names; the file is read off the event loop. Raises
    :class:`ScenarioError` for a file that is missing or invalid."""
    if settings.scenario == "none":
        return StaticNetworkSource()
    return await asyncio.to_thread(_simulate, settings)


def _simulate(settings: MepSettings) -> Simulator:
    # Reading the file and building the world (large for a generated scenario) both block.
    demo = settings.scenario == "demo"
    scenario = load_demo() if demo else load_file(Path(settings.scenario))
    return Simulator(scenario, speed=settings.tick_speed)


class _Wiring:
    """One app's network wiring: the source it built, if any, and that simulator's clock."""

    def __init__(self) -> None:
        self._owned: Simulator | None = None
        self._clock: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def source(self, app: web.Application) -> AsyncIterator[None]:
        """Before the platform starts: set ``keys.NETWORK`` unless the app was given one."""
        if keys.NETWORK not in app:
            built = await source_from_settings(app[keys.SETTINGS])
            app[keys.NETWORK] = built
            if isinstance(built, Simulator):
                self._owned = built
        try:
            yield
        finally:
            await self.stop_clock(app)  # a startup that failed half-way never shut down

    async def start_clock(self, app: web.Application) -> None:
        """After every startup step, so every reader listens from the first tick."""
        if self._owned is not None:
            self._clock = asyncio.create_task(self._owned.run(), name="network-clock")

    async def stop_clock(self, app: web.Application) -> None:
        """At shutdown, before any cleanup: no tick reaches a reader whose store is closed."""
        task, self._clock = self._clock, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def setup(app: web.Application) -> None:
    """Routes, and the wiring: the source comes first of all startup steps, since RNIS's and
    Location's wiring (``keys.SERVICE_SETUPS``, run by the platform's startup) reads it."""
    wiring = _Wiring()
    app.cleanup_ctx.insert(0, wiring.source)
    app.on_startup.append(wiring.start_clock)
    app.on_shutdown.append(wiring.stop_clock)
    app.router.add_put(f"{BASE}/scenario", put_scenario)
    app.router.add_get(f"{BASE}/scenario", get_scenario)
    app.router.add_get(f"{BASE}/ues", list_ues)
    app.router.add_get(f"{BASE}/ues/{{address}}", get_ue)
    app.router.add_post(f"{BASE}/ues/{{address}}/move", move_ue)
    app.router.add_get(f"{BASE}/clock", get_clock)
    app.router.add_post(f"{BASE}/clock", post_clock)
    app.router.add_put(f"{BASE}/access_points/{{accessPointId}}/status", put_access_point_status)

"""RNIS and Location at scale: simulator ticks under 2,000 subscriptions, and queries under load.

The world is ``mep.network.generate.generate(10_000, seed=1)``: 10,000 UEs over a grid of 210
cells (every third NR) in 25 zones, one UE in five driving along a path, the others walking. In
one run:

1. ticks, in this process (the honest way to time one): the real app (``create_app`` given a
   :class:`Simulator` of that world, which the bench drives, not the app's clock), served on a
   local port with its store in a temp dir (SQLite) or a dedicated Redis DB. 20 app instances
   (operator API, each with its token) create 2,000 subscriptions of mixed types over HTTP: RNIS
   (CellChange, RabEst, RabRel, MeasRepUe, NrMeasRepUe, MeasTa, CaReconf, S1Bearer, each filtered
   by UE or by cell) and Location (zonalTraffic, userTracking, circle, distance, zoneStatus,
   periodic), their callbacks going to a sink in its own process that answers 204. Then
   ``await simulator.tick()`` once per tick length (1 s), timed: it returns when its listeners
   have, so the time includes RNIS's and Location's evaluation and their one commit each. This
   process is pinned to the server's CPU and the sink to the other; the delivery worker and the
   timers (periodic notifications) run in this event loop, as in ``mep run``, and take their
   share of it while a tick waits on its commits;
2. queries: ``mep run`` in its own process on one CPU (``MEP_SCENARIO`` the same world written
   to a JSON file, clock running at speed 1), ``wrk`` with 32 connections on the other, an app's
   token: ``GET /location/v2/queries/users?zoneId=`` (the zone of median population) and
   ``GET /rni/v2/queries/rab_info?app_ins_id=&cell_id=`` (the cell of median population), and
   ``rab_info`` of every cell when its body is not huge; each next to a bare aiohttp handler
   serving the very bytes the platform answered (the ratio is the figure). The platform's clock
   is read around each run: the ticks it managed under load.

Figures only, never assertions. With a Redis store, the DB named in the URL is flushed before
and after each part: give a dedicated one.

Run: ``.venv/bin/python bench/network.py [--ues 10000] [--subscriptions 2000]
[--store sqlite|redis://127.0.0.1:6379/13] [--seconds 10] [--ticks 30]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import io
import os
import platform as pyplatform
import secrets
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from _harness import (
    CallbackSink,
    LoadResult,
    Placement,
    Platform,
    free_port,
    load,
    load_bare,
    load_tool,
    percentile,
    print_table,
)
from aiohttp import web
from mp1 import BenchError, Phase, bearer, create_apps, expect, flushed, redis_db_url, timed

from mep.app import create_app
from mep.core import keys
from mep.core.deps import open_deps
from mep.core.http import dump
from mep.core.logging import configure_logging
from mep.core.notify import deliveries
from mep.core.settings import MepSettings
from mep.core.store import Operation, Put
from mep.network.generate import generate
from mep.network.port import Listener, NetworkEvent, NetworkState, Rat, Ue
from mep.network.scenario import Scenario
from mep.network.simulator import Simulator
from mep.server import tune_garbage_collection

SEED = 1
APPS = 20
IN_FLIGHT = 32
CONNECTIONS = 32
#: How long the delivery worker gets, after the last tick, to empty its queues.
DRAIN_TIMEOUT = 15.0
#: ``rab_info`` of every cell is measured only when its body is at most this big.
UNFILTERED_MAX_BYTES = 4 * 1024 * 1024
RNI = "/rni/v2"
LOCATION = "/location/v2"
CLOCK = "/mep_mgmt/v1/network/clock"

Body = dict[str, Any]


def app_id(n: int) -> str:
    return f"net-app-{n:02d}"


# --- what the subscriptions and queries name -----------------------------------------------


@dataclass(frozen=True)
class Picks:
    """Cells, zones and UEs of the world at tick 0, for filters and query parameters."""

    plmn: dict[str, str]
    cells: list[str]
    nr_cells: list[str]
    positions: dict[str, tuple[float, float]]
    zones: list[str]
    zone_users: dict[str, int]
    cell_users: dict[str, int]
    walkers: list[Ue]
    drivers: list[Ue]

    @classmethod
    def of(cls, simulator: Simulator) -> Picks:
        state, scenario = simulator.state, simulator.scenario
        attached = [state.ues[u.address] for u in scenario.ues if u.address in state.ues]
        driving = {u.address for u in scenario.ues if u.path is not None}
        cells = list(state.cells.values())
        return cls(
            plmn={"mcc": scenario.plmn.mcc, "mnc": scenario.plmn.mnc},
            cells=[c.cell_id for c in cells],
            nr_cells=[c.cell_id for c in cells if c.rat is Rat.NR],
            positions={c.cell_id: (c.position.latitude, c.position.longitude) for c in cells},
            zones=list(state.zones),
            zone_users={z: len(state.ues_by_zone.get(z, ())) for z in state.zones},
            cell_users={c.cell_id: len(state.ues_by_cell.get(c.cell_id, ())) for c in cells},
            walkers=[ue for ue in attached if ue.address not in driving],
            drivers=[ue for ue in attached if ue.address in driving],
        )

    def cell(self, k: int) -> str:
        return self.cells[k % len(self.cells)]

    def zone(self, k: int) -> str:
        return self.zones[k % len(self.zones)]

    def ecgi(self, cell_id: str) -> Body:
        return {"cellId": cell_id, "plmn": self.plmn}

    @staticmethod
    def some(pool: Sequence[Ue], k: int, n: int) -> list[Ue]:
        """The ``k``-th group of ``n`` UEs of ``pool`` (wrapping round)."""
        return [pool[(k * n + j) % len(pool)] for j in range(n)]

    @staticmethod
    def median(population: dict[str, int]) -> str:
        ordered = sorted(population, key=lambda key: (population[key], key))
        return ordered[len(ordered) // 2]


# --- the subscription mix ------------------------------------------------------------------

Request = tuple[str, Body]  # path, body


def _associates(ues: Sequence[Ue]) -> list[Body]:
    return [{"type": 1, "value": ue.associate_id} for ue in ues]


def _rnis(kind: str, url: str, **members: Any) -> Request:
    return f"{RNI}/subscriptions", {"subscriptionType": kind, "callbackReference": url, **members}


def _location(path: str, root: str, url: str, **members: Any) -> Request:
    body = {root: {"callbackReference": {"notifyURL": url}, **members}}
    return f"{LOCATION}/subscriptions/{path}", body


def cell_change_by_cell(k: int, p: Picks, url: str) -> Request:
    return _rnis("CellChangeSubscription", url, filterCriteriaAssocHo={"ecgi": [p.ecgi(p.cell(k))]})


def cell_change_by_ue(k: int, p: Picks, url: str) -> Request:
    ues = _associates(p.some(p.drivers, k, 10))
    return _rnis("CellChangeSubscription", url, filterCriteriaAssocHo={"associateId": ues})


def rab_est(k: int, p: Picks, url: str) -> Request:
    # QCI 7: the video bearers UEs gain now and then.
    criteria = {"qci": 7, "ecgi": [p.ecgi(p.cell(k))]}
    return _rnis("RabEstSubscription", url, filterCriteriaQci=criteria)


def rab_rel(k: int, p: Picks, url: str) -> Request:
    criteria = {"qci": 7, "erabId": 6, "ecgi": [p.ecgi(p.cell(k))]}
    return _rnis("RabRelSubscription", url, filterCriteriaQci=criteria)


def meas_rep_ue(k: int, p: Picks, url: str) -> Request:
    ues = _associates(p.some(p.walkers, k, 5))
    return _rnis("MeasRepUeSubscription", url, filterCriteriaAssocTri={"associateId": ues})


def nr_meas_rep_ue(k: int, p: Picks, url: str) -> Request:
    cell = p.nr_cells[k % len(p.nr_cells)]
    nrcgi = {"nrcellId": cell, "plmn": p.plmn}
    return _rnis("NrMeasRepUeSubscription", url, filterCriteriaNrMrs={"nrcgi": [nrcgi]})


def meas_ta(k: int, p: Picks, url: str) -> Request:
    ues = _associates(p.some(p.walkers, k + 1000, 5))
    return _rnis("MeasTaSubscription", url, filterCriteriaAssoc={"associateId": ues})


def ca_reconf(k: int, p: Picks, url: str) -> Request:
    return _rnis("CaReconfSubscription", url, filterCriteriaAssoc={"ecgi": [p.ecgi(p.cell(k))]})


def s1_bearer(k: int, p: Picks, url: str) -> Request:
    criteria = {"ecgi": [p.ecgi(p.cell(k + 100))]}
    return _rnis(
        "S1BearerSubscription", url, S1BearerSubscriptionCriteria=criteria, eventType=[1, 2, 3]
    )


EVENTS = ["Entering", "Leaving", "Transferring"]


def zonal_traffic(k: int, p: Picks, url: str) -> Request:
    return _location(
        "zonalTraffic",
        "zonalTrafficSubscription",
        url,
        zoneId=p.zone(k),
        userEventCriteria=EVENTS,
    )


def user_tracking(k: int, p: Picks, url: str) -> Request:
    address = p.some(p.drivers, k + 500, 1)[0].address
    return _location(
        "userTracking", "userTrackingSubscription", url, address=address, userEventCriteria=EVENTS
    )


def circle(k: int, p: Picks, url: str) -> Request:
    latitude, longitude = p.positions[p.cell(k)]
    return _location(
        "area/circle",
        "circleNotificationSubscription",
        url,
        address=[ue.address for ue in p.some(p.drivers, k + 1000, 10)],
        latitude=latitude,
        longitude=longitude,
        radius=400.0,
        enteringLeavingCriteria="Entering",
        checkImmediate=False,
        frequency=5,
        trackingAccuracy=10.0,
    )


def distance(k: int, p: Picks, url: str) -> Request:
    return _location(
        "distance",
        "distanceNotificationSubscription",
        url,
        monitoredAddress=[ue.address for ue in p.some(p.drivers, k + 2000, 2)],
        criteria="AnyWithinDistance",
        distance=1000.0,
        checkImmediate=False,
        frequency=5,
        trackingAccuracy=10.0,
    )


def zone_status(k: int, p: Picks, url: str) -> Request:
    zone = p.zone(k)
    return _location(
        "zoneStatus",
        "zoneStatusSubscription",
        url,
        zoneId=zone,
        # Crossed upwards as soon as the zone gains a user: it fires now and then.
        numberOfUsersZoneThreshold=p.zone_users[zone] + k % 3,
        numberOfUsersAPThreshold=60,
        operationStatus=["Unserviceable"],
    )


def periodic(k: int, p: Picks, url: str) -> Request:
    return _location(
        "periodic",
        "periodicNotificationSubscription",
        url,
        address=[ue.address for ue in p.some(p.walkers, k + 3000, 3)],
        frequency=10,
        requestedAccuracy=10,
    )


@dataclass(frozen=True)
class Kind:
    api: str
    label: str
    weight: int  # per 2,000 subscriptions
    build: Callable[[int, Picks, str], Request]


MIX = [
    Kind("RNIS", "CellChange, by cell", 200, cell_change_by_cell),
    Kind("RNIS", "CellChange, by 10 UEs (drivers)", 100, cell_change_by_ue),
    Kind("RNIS", "RabEst QCI 7, by cell", 100, rab_est),
    Kind("RNIS", "RabRel E-RAB 6 QCI 7, by cell", 100, rab_rel),
    Kind("RNIS", "MeasRepUe, by 5 UEs", 200, meas_rep_ue),
    Kind("RNIS", "NrMeasRepUe, by NR cell", 50, nr_meas_rep_ue),
    Kind("RNIS", "MeasTa, by 5 UEs", 100, meas_ta),
    Kind("RNIS", "CaReconf, by cell", 50, ca_reconf),
    Kind("RNIS", "S1Bearer (all events), by cell", 100, s1_bearer),
    Kind("Location", "zonalTraffic, by zone", 100, zonal_traffic),
    Kind("Location", "userTracking, 1 driver", 300, user_tracking),
    Kind("Location", "circle 400 m, 10 drivers", 150, circle),
    Kind("Location", "distance 1 km, 2 drivers", 100, distance),
    Kind("Location", "zoneStatus thresholds, by zone", 100, zone_status),
    Kind("Location", "periodic 10 s, 3 UEs", 250, periodic),
]


def apportion(total: int) -> list[int]:
    """``total`` subscriptions split over MIX by weight (largest remainders)."""
    weights = sum(kind.weight for kind in MIX)
    exact = [total * kind.weight / weights for kind in MIX]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(MIX)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


async def subscribe(
    http: aiohttp.ClientSession, tokens: dict[str, str], picks: Picks, sink: str, total: int
) -> dict[str, Phase]:
    """Every subscription of the mix, over HTTP with the apps' tokens; a Phase per API."""
    jobs: dict[str, list[Callable[[], Awaitable[float]]]] = {"RNIS": [], "Location": []}
    n = 0
    for i, (kind, count) in enumerate(zip(MIX, apportion(total), strict=True)):
        for k in range(count):
            instance = app_id(n % APPS)
            path, body = kind.build(k, picks, callback(sink, i, n))
            jobs[kind.api].append(_post(http, path, body, tokens[instance], kind.label))
            n += 1
    return {api: await timed(api_jobs, IN_FLIGHT) for api, api_jobs in jobs.items()}


def callback(sink: str, kind: int, n: int) -> str:
    """The callback URL of the ``n``-th subscription, of ``MIX[kind]``."""
    return f"{sink}/notify/{kind}/{n}"


class KindCounter:
    """Notifications queued per MIX entry, read from the callback URL of each queued one (a
    committer watcher on the deliveries collection)."""

    def __init__(self) -> None:
        self.queued: Counter[int] = Counter()

    def on_commit(self, op: Operation) -> None:
        if isinstance(op, Put) and (url := op.data.get("url")):
            self.queued[int(str(url).rsplit("/", 2)[-2])] += 1


def _post(
    http: aiohttp.ClientSession, path: str, body: Body, token: str, what: str
) -> Callable[[], Awaitable[float]]:
    async def run() -> float:
        start = time.perf_counter()
        async with http.post(path, json=body, headers=bearer(token)) as response:
            await expect(response, 201, f"subscription {what}")
        return time.perf_counter() - start

    return run


# --- part 1: ticks, in process -------------------------------------------------------------


@dataclass
class TickFigures:
    wall: float
    #: Seconds spent in each listener ("rnis", "location"); the rest is the world's advance.
    listeners: dict[str, float]
    events: Counter[str]
    #: Notifications the tick's listeners queued, per listener.
    queued: Counter[str]
    #: The cyclic garbage collector's pauses during the tick (any task's), and how many of
    #: them were full (generation 2) collections.
    gc_seconds: float = 0.0
    gc_full: int = 0
    #: Notifications waiting for delivery just before the tick, and once it returned.
    backlog_before: int = 0
    backlog: int = 0

    @property
    def world(self) -> float:
        return self.wall - sum(self.listeners.values())


class TimedSimulator(Simulator):
    """A Simulator that times each of its listeners, counts the notifications each queues, and
    the garbage collector's pauses during a tick.

    The listeners run in the task that called :meth:`tick`, so a commit to the deliveries
    collection made from that task (seen by :meth:`on_commit`, a committer watcher) was made by
    the listener running then; other tasks' commits (timers, the API) are counted apart."""

    def __init__(self, scenario: Scenario) -> None:
        super().__init__(scenario)
        self.queued_elsewhere = 0
        self._figures: TickFigures | None = None
        self._in_listener: str | None = None
        self._ticking: asyncio.Task[Any] | None = None
        self._gc_started = 0.0

    def listen(self, listener: Listener) -> None:
        # mep.rnis.service.Rnis.on_change: "rnis"; mep.location.engine...: "location"
        name = str(getattr(listener, "__module__", "mep.other")).split(".")[1]

        async def timed_listener(state: NetworkState, events: Sequence[NetworkEvent]) -> None:
            self._in_listener = name
            start = time.perf_counter()
            try:
                await listener(state, events)
            finally:
                if self._figures is not None:
                    spent = self._figures.listeners
                    spent[name] = spent.get(name, 0.0) + time.perf_counter() - start
                self._in_listener = None

        super().listen(timed_listener)

    async def timed_tick(self) -> TickFigures:
        """One tick, with its figures."""
        figures = self._figures = TickFigures(0.0, {}, Counter(), Counter())
        self._ticking = asyncio.current_task()
        gc.callbacks.append(self._on_gc)
        start = time.perf_counter()
        try:
            events = await self.tick()
            figures.wall = time.perf_counter() - start
        finally:
            gc.callbacks.remove(self._on_gc)
            self._ticking = self._figures = None
        figures.events.update(e.kind.value for e in events)
        return figures

    def on_commit(self, op: Operation) -> None:
        if not isinstance(op, Put):
            return
        ticking, figures = self._ticking, self._figures
        if ticking is not None and figures is not None and asyncio.current_task() is ticking:
            figures.queued[self._in_listener or "world"] += 1
        else:
            self.queued_elsewhere += 1

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._figures is not None:
            self._figures.gc_seconds += time.perf_counter() - self._gc_started
            self._figures.gc_full += info["generation"] == 2


@dataclass
class TickRun:
    picks: Picks
    ues: int
    cells: int
    zones: int
    subscriptions: dict[str, Phase]
    apps: Phase
    ticks: list[TickFigures]
    tick_seconds: float
    queued_elsewhere: int
    #: Notifications queued while ticking (ticks and timers), per MIX entry.
    by_kind: Counter[int]
    backlog_at_end: int
    drained_in: float | None
    delivered: float
    retried: float
    received: int
    log_lines: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def serving(
    simulator: Simulator, store: str, data_dir: Path, admin_token: str
) -> AsyncIterator[tuple[web.Application, str]]:
    """The real MEP app on a free local port, reading ``simulator``: (app, base URL)."""
    port = free_port()
    settings = MepSettings(
        host="127.0.0.1",
        port=port,
        data_dir=data_dir,
        store=store,
        events="memory",
        admin_token=admin_token,
        log_level="warning",
    )
    deps = await open_deps(settings)
    runner = web.AppRunner(create_app(settings, deps, network=simulator), access_log=None)
    try:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        tune_garbage_collection()  # as `mep run` does once started
        yield runner.app, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()  # stops the workers and flushes the outbox: before deps close
        await deps.close()


async def run_ticks(
    scenario: Scenario,
    store: str,
    subscriptions: int,
    ticks: int,
    placement: Placement,
    tmp: Path,
) -> TickRun:
    logs = io.StringIO()
    configure_logging("warning", logs)  # the app's warnings, counted at the end
    simulator = TimedSimulator(scenario)
    picks = Picks.of(simulator)
    state = simulator.state
    admin = secrets.token_urlsafe(24)
    sink = CallbackSink(placement)
    await sink.start()
    timeout = aiohttp.ClientTimeout(total=120)
    try:
        async with (
            serving(simulator, store, tmp / "in-process", admin) as (app, url),
            aiohttp.ClientSession(url, timeout=timeout) as http,
        ):
            app[keys.COMMITTER].watch(deliveries.COLLECTION, simulator.on_commit)
            tokens, apps = await create_apps(http, admin, [app_id(n) for n in range(APPS)])
            subscribed = await subscribe(http, tokens, picks, sink.url, subscriptions)
            print(f"  {subscriptions:,} subscriptions created; ticking", flush=True)
            simulator.queued_elsewhere = 0  # from here on: what timers queue while ticking
            kinds = KindCounter()
            app[keys.COMMITTER].watch(deliveries.COLLECTION, kinds.on_commit)
            figures = await _tick(simulator, app, ticks)
            elsewhere = simulator.queued_elsewhere
            backlog = await app[keys.STORE].count(deliveries.COLLECTION)
            drained_in = await _drain(app, DRAIN_TIMEOUT)
            registry = app[keys.METRICS].registry
            name = "mep_notifications_total"
            delivered = registry.get_sample_value(name, {"outcome": "delivered"}) or 0.0
            retried = registry.get_sample_value(name, {"outcome": "retried"}) or 0.0
            received = await sink.received(http)
    finally:
        await sink.stop()
    return TickRun(
        picks=picks,
        ues=len(state.ues),
        cells=len(state.cells),
        zones=len(state.zones),
        subscriptions=subscribed,
        apps=apps,
        ticks=figures,
        tick_seconds=scenario.tick,
        queued_elsewhere=elsewhere,
        by_kind=kinds.queued,
        backlog_at_end=backlog,
        drained_in=drained_in,
        delivered=delivered,
        retried=retried,
        received=received,
        log_lines=[line for line in logs.getvalue().splitlines() if line],
    )


async def _tick(simulator: TimedSimulator, app: web.Application, ticks: int) -> list[TickFigures]:
    """``ticks`` ticks, one per tick length of wall-clock time as ``Simulator.run`` paces them
    (a late tick is followed by the next at once, never by a burst)."""
    loop = asyncio.get_running_loop()
    store = app[keys.STORE]
    interval = simulator.interval
    figures: list[TickFigures] = []
    due = loop.time() + interval
    for n in range(ticks):
        await asyncio.sleep(max(0.0, due - loop.time()))
        before = await store.count(deliveries.COLLECTION)
        tick = await simulator.timed_tick()
        tick.backlog_before, tick.backlog = before, await store.count(deliveries.COLLECTION)
        figures.append(tick)
        due = max(due + interval, loop.time())
        if (n + 1) % 10 == 0:
            print(f"  tick {n + 1}/{ticks}", flush=True)
    return figures


async def _drain(app: web.Application, within: float) -> float | None:
    """Seconds until nothing waits for delivery, or None if something still does ``within``
    seconds later."""
    store = app[keys.STORE]
    start = time.perf_counter()
    while await store.count(deliveries.COLLECTION):
        if time.perf_counter() - start > within:
            return None
        await asyncio.sleep(0.1)
    return time.perf_counter() - start


# --- part 2: queries under load ------------------------------------------------------------


@dataclass(frozen=True)
class QueryFigures:
    label: str
    matches: int
    body_bytes: int
    ours: LoadResult
    bare: LoadResult
    ticks: int
    seconds: float


async def ticks_now(http: aiohttp.ClientSession, operator: str) -> int:
    async with http.get(CLOCK, headers=bearer(operator)) as response:
        clock = await expect(response, 200, f"GET {CLOCK}")
    return int(clock["tick"])


async def measure(
    http: aiohttp.ClientSession,
    platform: Platform,
    label: str,
    path: str,
    token: str,
    count: Callable[[Any], int],
    seconds: float,
    placement: Placement,
    tmp: Path,
) -> QueryFigures:
    headers = bearer(token)
    async with http.get(path, headers=headers) as response:
        body = await response.read()
        if response.status != 200:
            raise BenchError(f"GET {path}: {response.status} {body.decode()}")
        content_type = response.headers["Content-Type"]
    before, started = await ticks_now(http, platform.operator_token), time.perf_counter()
    ours = await load(
        platform.url + path, headers, connections=CONNECTIONS, seconds=seconds, placement=placement
    )
    elapsed = time.perf_counter() - started
    ticked = await ticks_now(http, platform.operator_token) - before
    bare_result = await load_bare(
        tmp,
        body,
        content_type,
        path,
        headers,
        connections=CONNECTIONS,
        seconds=seconds,
        placement=placement,
    )
    matches = count(orjson.loads(body))
    return QueryFigures(label, matches, len(body), ours, bare_result, ticked, elapsed)


def _users(body: Any) -> int:
    return len(body["userList"]["user"])


def _rab_ues(body: Any) -> int:
    return sum(len(cell["ueInfo"]) for cell in body["cellUserInfo"])


async def run_queries(
    scenario: Scenario, picks: Picks, store: str, seconds: float, placement: Placement, tmp: Path
) -> tuple[list[QueryFigures], str, Platform]:
    scenario_file = tmp / "scenario.json"
    scenario_file.write_bytes(orjson.dumps(dump(scenario)))
    platform = Platform(
        tmp / "mep-run",
        store=store,
        placement=placement,
        extra_env={"MEP_SCENARIO": str(scenario_file), "MEP_TICK_SPEED": "1"},
    )
    figures: list[QueryFigures] = []
    skipped = ""
    try:
        await platform.start(within=60.0)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(platform.url, timeout=timeout) as http:
            instance = "net-query-app"
            tokens, _ = await create_apps(http, platform.operator_token, [instance])
            token = tokens[instance]
            zone, cell = picks.median(picks.zone_users), picks.median(picks.cell_users)
            queries: list[tuple[str, str, Callable[[Any], int]]] = [
                (f"users?zoneId={zone}", f"{LOCATION}/queries/users?zoneId={zone}", _users),
                (
                    f"rab_info?app_ins_id&cell_id={cell}",
                    f"{RNI}/queries/rab_info?app_ins_id={instance}&cell_id={cell}",
                    _rab_ues,
                ),
            ]
            every_cell = f"{RNI}/queries/rab_info?app_ins_id={instance}"
            async with http.get(every_cell, headers=bearer(token)) as response:
                size = len(await response.read())
            if size <= UNFILTERED_MAX_BYTES:
                queries.append(("rab_info?app_ins_id (all cells)", every_cell, _rab_ues))
            else:
                skipped = (
                    f"rab_info of every cell not measured: its body is {size / 2**20:.1f} MiB"
                    f" (more than {UNFILTERED_MAX_BYTES / 2**20:g} MiB)"
                )
            for label, path, count in queries:
                figures.append(
                    await measure(
                        http, platform, label, path, token, count, seconds, placement, tmp
                    )
                )
                print(f"  measured {label}", flush=True)
    finally:
        await platform.stop()
    return figures, skipped, platform


# --- report --------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f}"


def print_setup(run: TickRun) -> None:
    print("\nSetup (in process, over HTTP)")
    header = ("", "count", "seconds", "per second", "p50 ms", "p99 ms")
    rows = [
        (
            name,
            f"{p.count:,}",
            f"{p.seconds:.1f}",
            f"{p.rate:,.0f}",
            ms(percentile(p.latencies, 50)),
            ms(percentile(p.latencies, 99)),
        )
        for name, p in (
            ("app instances (PUT + token)", run.apps),
            *(
                (f"{api} subscriptions ({IN_FLIGHT} in flight)", phase)
                for api, phase in run.subscriptions.items()
            ),
        )
    ]
    print_table(header, rows, indent="  ")


def print_mix(run: TickRun) -> None:
    seconds = len(run.ticks) * run.tick_seconds
    print(
        f"\nSubscriptions, and the notifications each type got queued while ticking ({seconds:g} s)"
    )
    header = ("API", "type, filter", "subscriptions", "notifications", "per second")
    counts = apportion(sum(p.count for p in run.subscriptions.values()))
    rows = [
        (
            kind.api,
            kind.label,
            f"{count:,}",
            f"{run.by_kind[i]:,}",
            f"{run.by_kind[i] / seconds:,.1f}",
        )
        for i, (kind, count) in enumerate(zip(MIX, counts, strict=True))
        if count
    ]
    print_table(header, rows, indent="  ")


def _spread(values: Sequence[float], fmt: Callable[[float], str]) -> tuple[str, ...]:
    return tuple(fmt(percentile(values, q)) for q in (0, 50, 99, 100))


def print_ticks(run: TickRun) -> None:
    ticks, length = run.ticks, run.tick_seconds
    print(
        f"\nTicks: {len(ticks)} ticks of {run.ues:,} UEs ({run.cells} cells, {run.zones} zones),"
        f" one per {length:g} s tick, {sum(p.count for p in run.subscriptions.values()):,}"
        " subscriptions"
    )
    print(
        "  tick = await simulator.tick(): world advance + RNIS evaluation and commit + Location"
        " evaluation and commit"
    )
    header = ("", "min", "p50", "p99", "max", "p50 / tick", "max / tick")
    rows: list[tuple[str, ...]] = []

    def timing(label: str, values: list[float]) -> None:
        ratio = f"{percentile(values, 50) / length:.3f}", f"{max(values) / length:.3f}"
        rows.append((label, *_spread(values, ms), *ratio))

    timing("tick wall ms", [t.wall for t in ticks])
    timing("  world advance ms", [t.world for t in ticks])
    for name in sorted({n for t in ticks for n in t.listeners}):
        timing(f"  {name} listener ms", [t.listeners.get(name, 0.0) for t in ticks])
    timing("GC pauses in the tick ms", [t.gc_seconds for t in ticks])

    def count(value: float) -> str:
        return f"{value:,.0f}"

    rows.append(("events", *_spread([sum(t.events.values()) for t in ticks], count), "", ""))
    for name in sorted({n for t in ticks for n in t.queued}):
        queued = [t.queued.get(name, 0) for t in ticks]
        rows.append((f"notifications queued by {name}", *_spread(queued, count), "", ""))
    rows.append(
        ("queue before the tick", *_spread([t.backlog_before for t in ticks], count), "", "")
    )
    rows.append(("queue after the tick", *_spread([t.backlog for t in ticks], count), "", ""))
    print_table(header, rows, indent="  ")
    print(
        f"  (p99 of {len(ticks)} ticks is their maximum; a GC pause counts in the row it lands"
        " in; queue = notifications waiting for delivery)"
    )
    kinds: Counter[str] = Counter()
    for t in ticks:
        kinds.update(t.events)
    mean = ", ".join(f"{k} {v / len(ticks):,.0f}" for k, v in kinds.most_common())
    print(f"  events per tick (mean): {mean}")
    full = sum(t.gc_full for t in ticks)
    print(
        f"  full (generation 2) collections during ticks: {full} in {len(ticks)} ticks"
        " (the world's advance itself runs with the collector paused)"
    )
    late = sum(t.wall > length for t in ticks)
    if late:
        print(f"  warning: {late} ticks took longer than the tick length")


def print_delivery(run: TickRun) -> None:
    by_ticks = sum(sum(t.queued.values()) for t in run.ticks)
    total = by_ticks + run.queued_elsewhere
    seconds = len(run.ticks) * run.tick_seconds
    print(
        f"\nDelivery (worker in the same process, sink in its own): {total:,} notifications queued"
        f" while ticking ({by_ticks:,} by ticks, {run.queued_elsewhere:,} by timers: periodic,"
        f" re-checks), {total / seconds:,.0f}/s"
    )
    drained = (
        f"emptied {run.drained_in:.1f} s after the last tick"
        if run.drained_in is not None
        else f"NOT emptied {DRAIN_TIMEOUT:g} s after the last tick"
    )
    print(f"  queued after the last tick: {run.backlog_at_end:,}; the queue {drained}")
    print(
        f"  over the whole part 1, delivered (mep_notifications_total): {run.delivered:,.0f},"
        f" failed attempts retried: {run.retried:,.0f}; the sink received {run.received:,}"
    )


def _load_cells(result: LoadResult) -> tuple[str, str, str]:
    return f"{result.requests_per_s:,.0f}", f"{result.p50_ms:,.2f}", f"{result.p99_ms:,.2f}"


def print_queries(figures: list[QueryFigures], seconds: float, skipped: str) -> None:
    print(
        f"\nQueries under load: mep run with the same world, clock running (1 tick/s),"
        f" {CONNECTIONS} connections, {seconds:g} s each, app token"
    )
    header = ("query", "matches", "body KB", "server", "req/s", "p50 ms", "p99 ms", "ticks")
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    for f in figures:
        ours, bare = f.ours, f.bare
        rows += [
            (
                f.label,
                f"{f.matches:,}",
                f"{f.body_bytes / 1024:,.1f}",
                "mep",
                *_load_cells(ours),
                f"{f.ticks} in {f.seconds:.1f} s",
            ),
            ("", "", "", "bare aiohttp", *_load_cells(bare), ""),
            (
                "",
                "",
                "",
                "mep / bare",
                f"{ours.requests_per_s / bare.requests_per_s:.3f}x",
                f"{ours.p50_ms / bare.p50_ms:.1f}x",
                f"{ours.p99_ms / bare.p99_ms:.1f}x",
                "",
            ),
        ]
        for server, result in (("mep", ours), ("bare", bare)):
            if result.problems:
                notes.append(f"{f.label} on {server}: {result.problems}")
    print_table(header, rows, indent="  ")
    print("  ticks = the platform's clock ticks during the mep run (the world moves under load)")
    if skipped:
        print(f"  {skipped}")
    for note in notes:
        print(f"  warning: {note}")


def print_logs(what: str, lines: list[str]) -> None:
    if not lines:
        print(f"{what} logged no warnings")
        return
    print(f"{what} logged {len(lines)} warning/error lines, the first:")
    for line in lines[:3]:
        print(f"  {line[:300]}")


# --- main ----------------------------------------------------------------------------------


async def main(
    ues: int, subscriptions: int, store: str, seconds: float, ticks: int, pin: bool
) -> None:
    redis_url = redis_db_url(store)
    placement = Placement.choose(pin)
    print(
        f"RNIS and Location benchmark: {ues:,} UEs (generate seed {SEED}), {subscriptions:,}"
        f" subscriptions, store {store} (events: memory), Python {pyplatform.python_version()}"
    )
    print(f"part 1 (ticks): this process on the server CPU, {placement.describe()}")
    if redis_url is not None and placement.pinned:
        print("redis-server is not pinned: it shares the CPUs with the others")
    print(f"part 2 (queries): load generator: {load_tool(CONNECTIONS, seconds)}", flush=True)
    tmp = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="mep-bench-network-"))
    try:
        if placement.pinned:  # the app under test runs here in part 1
            os.sched_setaffinity(0, placement.server)
        scenario = await asyncio.to_thread(generate, ues, seed=SEED)
        async with flushed(redis_url):
            run = await run_ticks(scenario, store, subscriptions, ticks, placement, tmp)
        placement.pin_self()  # part 2: this process and wrk on the load side
        async with flushed(redis_url):
            queries, skipped, platform = await run_queries(
                scenario, run.picks, store, seconds, placement, tmp
            )
    finally:
        await asyncio.to_thread(shutil.rmtree, tmp, ignore_errors=True)
    print_setup(run)
    print_mix(run)
    print_ticks(run)
    print_delivery(run)
    print_queries(queries, seconds, skipped)
    print()
    print_logs("the in-process app (part 1)", run.log_lines)
    print_logs("mep run (part 2)", platform.logs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ues", type=int, default=10_000)
    parser.add_argument("--subscriptions", type=int, default=2_000)
    parser.add_argument(
        "--store", default="sqlite", help="sqlite, or redis://host:port/<dedicated db>"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="per wrk run (4 to 6 runs)")
    parser.add_argument("--ticks", type=int, default=30, help="timed ticks, one per second")
    parser.add_argument(
        "--no-pin", dest="pin", action="store_false", help="do not pin processes to CPUs"
    )
    args = parser.parse_args()
    asyncio.run(main(args.ues, args.subscriptions, args.store, args.seconds, args.ticks, args.pin))

"""The network simulator: a :class:`NetworkSource` whose world moves on a clock.

``Simulator(scenario)`` builds the world of a scenario at tick 0 (:mod:`mep.network.world`).
Each change (a tick, an operator's move or access point status, a new scenario) replaces the
whole :class:`NetworkState` at once, then awaits every listener in order with the new state
and the change's events; a listener that raises is logged and the clock goes on. Changes are
serialised: a change waits until the listeners of the previous one have returned. A listener
must not itself change the simulator (that would wait on itself: it raises RuntimeError).

``run()`` ticks every ``tick / speed`` seconds of wall-clock time (at most 100 ticks a second)
until cancelled, and idles while paused; ``step(n)`` ticks at once, paused or not. Simulated
time starts at the scenario's ``startTime``, else at the wall clock when the scenario is loaded
(and never goes back on a reload), and advances by ``tick`` seconds per tick.

When the events come is documented in :mod:`mep.network.world`; a new scenario (``load``)
reports ACCESS_POINT_STATUS for access points whose status changed, DETACHED for UEs that are
gone or no longer attached, ATTACHED for new ones, and the other events for UEs present in both
as if they had moved there.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import structlog

from mep.network.port import (
    AccessPoint,
    EventKind,
    Listener,
    NetworkEvent,
    NetworkState,
    OperationStatus,
    Position,
    Ue,
)
from mep.network.scenario import Scenario
from mep.network.world import UnknownAccessPoint, UnknownUe, World

__all__ = ["Clock", "Simulator", "UnknownAccessPoint", "UnknownUe"]

log = structlog.get_logger("mep.network")

#: Shortest wall-clock time between two ticks of ``run()``, whatever the speed-up.
MIN_INTERVAL_S = 0.01


@dataclass(frozen=True)
class Clock:
    paused: bool
    running: bool
    tick: int
    tick_seconds: float
    speed: float
    #: Wall-clock seconds between two ticks of ``run()``.
    interval_seconds: float
    #: Simulated time (seconds since the epoch) of the current state.
    at: float


class Simulator:
    """A simulated radio network implementing :class:`mep.network.port.NetworkSource`."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        speed: float = 1.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._now = now
        self._speed = speed
        self._world = World(scenario, _start(scenario, now(), None))
        self._state = self._world.snapshot_state
        self._listeners: list[Listener] = []
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[object] | None = None
        self._paused = False
        self._running = False
        self._wake = asyncio.Event()

    # --- NetworkSource ---

    @property
    def state(self) -> NetworkState:
        return self._state

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    # --- reading ---

    @property
    def scenario(self) -> Scenario:
        return self._world.scenario

    @property
    def interval(self) -> float:
        return max(self._world.scenario.tick / self._speed, MIN_INTERVAL_S)

    def clock(self) -> Clock:
        world = self._world
        return Clock(
            paused=self._paused,
            running=self._running,
            tick=world.tick,
            tick_seconds=world.scenario.tick,
            speed=self._speed,
            interval_seconds=self.interval,
            at=world.at,
        )

    def ues(self) -> list[Ue]:
        """Every UE of the scenario in its order, detached ones included (``attached`` false,
        and absent from ``state.ues``)."""
        return self._world.ues()

    def ue(self, address: str) -> Ue:
        """One UE, attached or not; :class:`UnknownUe` if the scenario has none so named."""
        return self._world.ue(address)

    # --- the clock ---

    def pause(self) -> None:
        self._paused = True
        self._wake.set()

    def resume(self) -> None:
        self._paused = False
        self._wake.set()

    async def tick(self) -> Sequence[NetworkEvent]:
        """Advance the world by one tick now, and tell the listeners."""
        async with self._change():
            events = _without_gc(self._world.advance)
            await self._publish(events)
        return events

    async def step(self, ticks: int = 1) -> None:
        """``ticks`` ticks at once, paused or not."""
        for _ in range(ticks):
            await self.tick()

    async def run(self) -> None:
        """Tick every ``interval`` seconds until cancelled; idle while paused."""
        loop = asyncio.get_running_loop()
        self._running = True
        try:
            due = loop.time() + self.interval
            while True:
                self._wake.clear()
                if self._paused:
                    await self._wake.wait()
                    due = loop.time() + self.interval
                    continue
                delay = due - loop.time()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await self._wake.wait()
                    if self._wake.is_set():  # paused, resumed or reloaded: plan afresh
                        due = loop.time() + self.interval
                        continue
                await self.tick()
                # Late (a slow tick or listener): tick again at once, but never catch up a
                # backlog in a burst.
                due = max(due + self.interval, loop.time())
        finally:
            self._running = False

    # --- the operator's changes ---

    async def move_ue(
        self,
        address: str,
        *,
        position: Position | None = None,
        access_point_id: str | None = None,
    ) -> Ue:
        """Put a UE at ``position`` or at an access point now (see ``World.move``); raises
        :class:`UnknownUe` or :class:`UnknownAccessPoint` and changes nothing if either is
        unknown."""
        if (position is None) == (access_point_id is None):
            raise ValueError("give either a position or an access point")
        async with self._change():
            world = self._world
            events = world.move(address, position=position, access_point_id=access_point_id)
            await self._publish(events)
            return world.ue(address)

    async def set_access_point_status(
        self, access_point_id: str, status: OperationStatus
    ) -> AccessPoint:
        """Put an access point (and the cell it radiates) in or out of service now."""
        async with self._change():
            world = self._world
            events = _without_gc(lambda: world.set_status(access_point_id, status))
            await self._publish(events)
            return self._state.access_points[access_point_id]

    async def load(self, scenario: Scenario) -> None:
        """Replace the world by ``scenario`` (tick 0 again; pause state and speed kept)."""
        async with self._change():
            old = self._world
            start = _start(scenario, self._now(), old.at)
            # Building a large world takes a while and touches nothing shared: off the loop.
            new = await asyncio.to_thread(World, scenario, start)
            events = _without_gc(lambda: _reload_events(old, new))
            self._world = new
            self._wake.set()
            await self._publish(events)

    # --- internals ---

    @contextlib.asynccontextmanager
    async def _change(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            raise RuntimeError("a network listener cannot change the network it is told about")
        async with self._lock:
            self._holder = task
            try:
                yield
            finally:
                self._holder = None

    async def _publish(self, events: Sequence[NetworkEvent]) -> None:
        self._state = state = self._world.snapshot_state
        for listener in self._listeners:
            try:
                await listener(state, events)
            except Exception:
                log.exception("network listener failed", listener=repr(listener))


def _start(scenario: Scenario, now: float, previous: float | None) -> float:
    if scenario.start_time is not None:
        return scenario.start_time.timestamp()
    return now if previous is None else max(now, previous)


def _without_gc(change: Callable[[], list[NetworkEvent]]) -> list[NetworkEvent]:
    """Run a world change with the cyclic garbage collector paused.

    A tick allocates a few objects per UE that live until the next tick (the new UEs, their
    positions, the events). Those survive the young generations, so the collector, triggered
    mid-tick by the allocation count, runs full collections of the whole heap every tick or two:
    60 of 120 ms of a 10,000-UE tick when measured. Nothing in a change makes a reference cycle,
    so reference counting frees the previous tick's objects as they are replaced.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return change()
    finally:
        if enabled:
            gc.enable()


def _reload_events(old: World, new: World) -> list[NetworkEvent]:
    at = new.at
    events: list[NetworkEvent] = []
    previous = old.snapshot_state.access_points
    for ap_id, ap in new.snapshot_state.access_points.items():
        was = previous.get(ap_id)
        if was is not None and was.operation_status is not ap.operation_status:
            events.append(NetworkEvent(EventKind.ACCESS_POINT_STATUS, at, access_point_id=ap_id))
    before = {ue.address: ue for ue in old.ues()}
    after = {ue.address: ue for ue in new.ues()}
    for address, ue in before.items():
        if address not in after:
            events.extend(diff_events(ue, None, at))
    for address, ue in after.items():
        events.extend(diff_events(before.get(address), ue, at))
    return events


def diff_events(before: Ue | None, after: Ue | None, at: float) -> list[NetworkEvent]:
    """What changed between two versions of a UE, as the events RNIS and Location react to."""
    was = before is not None and before.attached
    now = after is not None and after.attached
    if not was and not now:
        return []
    if not was or not now:
        if now:
            assert after is not None
            return [NetworkEvent(EventKind.ATTACHED, at, after.address, None, after)]
        assert before is not None
        return [NetworkEvent(EventKind.DETACHED, at, before.address, before, None)]
    assert before is not None
    assert after is not None
    address = after.address
    if (before.ipv4, before.associate_id) != (after.ipv4, after.associate_id):
        return [
            NetworkEvent(EventKind.DETACHED, at, address, before, None),
            NetworkEvent(EventKind.ATTACHED, at, address, None, after),
        ]
    kinds = []
    if before.position is not after.position and before.position != after.position:
        kinds.append(EventKind.MOVED)
    if before.serving_cell_id != after.serving_cell_id:
        kinds.append(EventKind.HANDOVER)
    if before.access_point_id != after.access_point_id or before.zone_id != after.zone_id:
        kinds.append(EventKind.ACCESS_POINT_CHANGED)
    if before.timing_advance != after.timing_advance:
        kinds.append(EventKind.TIMING_ADVANCE)
    if before.secondary_cell_ids != after.secondary_cell_ids:
        kinds.append(EventKind.CARRIER_AGGREGATION)
    if before.bearers is not after.bearers and _qos(before) != _qos(after):
        kinds.append(EventKind.BEARER_MODIFIED)
    return [NetworkEvent(kind, at, address, before, after) for kind in kinds]


def _qos(ue: Ue) -> list[tuple[int, int, int, int, int, int]]:
    # A handover re-anchors the tunnels (new eNB address): that alone is no bearer change.
    return [(b.erab_id, b.qci, b.mbr_dl, b.mbr_ul, b.gbr_dl, b.gbr_ul) for b in ue.bearers]

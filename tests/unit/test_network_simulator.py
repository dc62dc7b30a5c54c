"""The simulator: handovers where the model puts them, no ping-pong, reproducible runs, events."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from mep.network.port import EventKind, NetworkEvent, NetworkState, OperationStatus, Position
from mep.network.radio import Projection
from mep.network.scenario import Scenario, load_demo, parse
from mep.network.simulator import Simulator, UnknownAccessPoint, UnknownUe

ORIGIN = Projection(43.6, 7.0)
NOW = 1_700_000_000.0


def at(x: float, y: float = 0.0) -> dict[str, float]:
    latitude, longitude = ORIGIN.to_latlon(x, y)
    return {"latitude": latitude, "longitude": longitude}


def x_of(position: Position) -> float:
    return ORIGIN.to_xy(position.latitude, position.longitude)[0]


def two_cells(ues: list[dict[str, Any]], **extra: Any) -> Scenario:
    """Two equal LTE cells 1 km apart on the x axis (their midpoint is ORIGIN), one per zone."""
    cells = extra.pop("cells", None) or [
        {"cellId": "0000001", "position": at(-500), "radius": 2000},
        {"cellId": "0000002", "position": at(500), "radius": 2000},
    ]
    zones = extra.pop("zones", None) or [
        {
            "zoneId": "west",
            "accessPoints": [
                {"accessPointId": "ap-west", "connectionType": "LTE-macro", "cellId": "0000001"}
            ],
        },
        {
            "zoneId": "east",
            "accessPoints": [
                {"accessPointId": "ap-east", "connectionType": "LTE-macro", "cellId": "0000002"}
            ],
        },
    ]
    return parse(
        {
            "seed": 7,
            "plmn": {"mcc": "001", "mnc": "01"},
            "bearerChangeProbability": 0.0,
            "cells": cells,
            "zones": zones,
            "ues": ues,
            **extra,
        }
    )


def walker(x0: float, x1: float, *, speed: float = 10.0, end: str = "stop", n: int = 1) -> dict:
    return {
        "address": f"acr:10.0.0.{n}",
        "path": {"waypoints": [at(x0), at(x1)], "speed": speed, "end": end},
    }


class Recorder:
    def __init__(self) -> None:
        self.changes: list[tuple[NetworkState, Sequence[NetworkEvent]]] = []

    async def __call__(self, state: NetworkState, events: Sequence[NetworkEvent]) -> None:
        self.changes.append((state, events))

    def kinds(self, change: int = -1) -> list[EventKind]:
        return [e.kind for e in self.changes[change][1]]

    def of(self, kind: EventKind) -> list[NetworkEvent]:
        return [e for _, events in self.changes for e in events if e.kind is kind]


def simulator(scenario: Scenario) -> tuple[Simulator, Recorder]:
    sim = Simulator(scenario, now=lambda: NOW)
    recorder = Recorder()
    sim.listen(recorder)
    return sim, recorder


async def test_a_handover_happens_past_the_midpoint_by_the_hysteresis_after_one_tick() -> None:
    # Equal cells at x = -500 and 500: the east cell beats the west one by 3 dB past x = 49.2 m.
    sim, recorder = simulator(two_cells([walker(-400, 400)]))
    assert sim.state.ues["acr:10.0.0.1"].serving_cell_id == "0000001"
    await sim.step(80)
    handovers = recorder.of(EventKind.HANDOVER)
    assert len(handovers) == 1
    (handover,) = handovers
    assert handover.after is not None
    assert handover.before is not None
    # x = -400 + 10 k: first past 49.2 m at k = 45 (x = 50), handed over one tick later.
    assert x_of(handover.before.position) == pytest.approx(50.0, abs=1e-6)
    assert x_of(handover.after.position) == pytest.approx(60.0, abs=1e-6)
    assert (handover.before.serving_cell_id, handover.after.serving_cell_id) == (
        "0000001",
        "0000002",
    )
    assert handover.after.zone_id == "east"
    assert handover.at == NOW + 46
    kinds = [e.kind for e in recorder.changes[45][1]]  # tick 46
    assert kinds[:3] == [EventKind.MOVED, EventKind.HANDOVER, EventKind.ACCESS_POINT_CHANGED]
    assert handover.after.bearers[0].enb_address == "10.255.0.2"  # re-anchored at the new eNB


async def test_a_ue_dithering_around_the_boundary_does_not_ping_pong() -> None:
    sim, recorder = simulator(two_cells([walker(-45, 45, speed=7, end="reverse")]))
    await sim.step(120)
    assert recorder.of(EventKind.HANDOVER) == []
    assert len(recorder.of(EventKind.MOVED)) == 120


async def test_a_brief_excursion_past_the_boundary_is_not_a_handover() -> None:
    # Past the 3 dB line for a single tick only: the time-to-trigger holds the serving cell.
    sim, recorder = simulator(two_cells([walker(40, 55, speed=10, end="reverse")]))
    await sim.step(3)  # x: 50 (past), 55 -> 45 (back)
    assert recorder.of(EventKind.HANDOVER) == []


async def test_same_seed_same_run_and_another_seed_another() -> None:
    demo = await asyncio.to_thread(load_demo)

    async def run(scenario: Scenario) -> list[Any]:
        sim = Simulator(scenario, now=lambda: NOW)
        await sim.step(150)
        return sim.ues()

    first = await run(demo)
    assert first == await run(demo)
    assert first != await run(demo.model_copy(update={"seed": 99}))


async def test_timing_advance_follows_the_distance_to_the_serving_cell() -> None:
    scenario = two_cells([walker(-500, -300, speed=20)])
    sim, recorder = simulator(scenario)
    await sim.step(10)
    tas = recorder.of(EventKind.TIMING_ADVANCE)
    assert [e.after.timing_advance for e in tas if e.after] == [1, 2, 3]
    for event in tas:
        assert event.after is not None
        distance = x_of(event.after.position) + 500
        assert event.after.timing_advance == round(distance / 78.12)


async def test_detached_ues_are_absent_and_come_back() -> None:
    ue = {"address": "acr:10.0.0.9", "position": at(-100), "attachAt": 2, "detachAt": 4}
    sim, recorder = simulator(two_cells([ue]))
    assert "acr:10.0.0.9" not in sim.state.ues
    assert sim.ue("acr:10.0.0.9").attached is False
    await sim.step(2)
    assert recorder.kinds(0) == []
    assert recorder.kinds(1) == [EventKind.ATTACHED]
    state = sim.state
    assert state.ues["acr:10.0.0.9"].ipv4 == "10.0.0.9"
    assert state.ues_by_ipv4 == {"10.0.0.9": "acr:10.0.0.9"}
    assert state.ues_by_zone["west"] == ("acr:10.0.0.9",)
    await sim.step(2)
    assert recorder.kinds(-1) == [EventKind.DETACHED]
    detached = recorder.changes[-1][1][0]
    assert (detached.before is not None, detached.after) == (True, None)
    assert sim.state.ues == {}
    assert sim.state.ues_by_cell == {}


async def test_a_ue_leaving_coverage_detaches_and_returns() -> None:
    cells = [{"cellId": "0000001", "position": at(0), "radius": 100}]
    zones = [
        {
            "zoneId": "z",
            "accessPoints": [
                {"accessPointId": "ap", "connectionType": "Pico", "cellId": "0000001"}
            ],
        }
    ]
    sim, recorder = simulator(two_cells([walker(80, 120, end="reverse")], cells=cells, zones=zones))
    await sim.step(6)
    kinds = [e.kind for _, events in recorder.changes for e in events]
    assert kinds.count(EventKind.DETACHED) == 1
    assert kinds.count(EventKind.ATTACHED) == 1


async def test_the_operator_moves_a_ue_to_an_access_point_at_once() -> None:
    sim, recorder = simulator(two_cells([walker(-300, -300, speed=0)]))
    ue = await sim.move_ue("acr:10.0.0.1", access_point_id="ap-east")
    assert (ue.serving_cell_id, ue.access_point_id, ue.zone_id) == ("0000002", "ap-east", "east")
    assert x_of(ue.position) == pytest.approx(500, abs=1e-6)
    assert recorder.kinds() == [
        EventKind.MOVED,
        EventKind.HANDOVER,
        EventKind.ACCESS_POINT_CHANGED,
        EventKind.TIMING_ADVANCE,
    ]
    assert sim.state.ues["acr:10.0.0.1"] is ue
    assert sim.state.ues_by_access_point == {"ap-east": ("acr:10.0.0.1",)}
    with pytest.raises(UnknownUe):
        await sim.move_ue("acr:10.9.9.9", access_point_id="ap-east")
    with pytest.raises(UnknownAccessPoint):
        await sim.move_ue("acr:10.0.0.1", access_point_id="nowhere")
    assert len(recorder.changes) == 1


async def test_a_move_to_a_position_skips_the_time_to_trigger_but_not_the_hysteresis() -> None:
    sim, _ = simulator(two_cells([walker(-300, -300, speed=0)]))
    near = Position(*ORIGIN.to_latlon(40, 0))
    assert (await sim.move_ue("acr:10.0.0.1", position=near)).serving_cell_id == "0000001"
    far = Position(*ORIGIN.to_latlon(60, 0))
    assert (await sim.move_ue("acr:10.0.0.1", position=far)).serving_cell_id == "0000002"


async def test_an_access_point_out_of_service_hands_its_ues_over() -> None:
    sim, recorder = simulator(two_cells([walker(-100, -100, speed=0)]))
    ap = await sim.set_access_point_status("ap-west", OperationStatus.UNSERVICEABLE)
    assert ap.operation_status is OperationStatus.UNSERVICEABLE
    assert sim.state.access_points["ap-west"].operation_status is OperationStatus.UNSERVICEABLE
    events = recorder.changes[-1][1]
    assert events[0].kind is EventKind.ACCESS_POINT_STATUS
    assert events[0].access_point_id == "ap-west"
    assert events[0].ue is None
    assert sim.state.ues["acr:10.0.0.1"].serving_cell_id == "0000002"
    assert EventKind.HANDOVER in [e.kind for e in events]
    await sim.set_access_point_status("ap-west", OperationStatus.SERVICEABLE)
    await sim.step(2)  # back in service: the time-to-trigger applies
    assert sim.state.ues["acr:10.0.0.1"].serving_cell_id == "0000001"


async def test_a_nearby_wifi_access_point_is_the_ues_access_point() -> None:
    scenario = two_cells(
        [{"address": "acr:10.0.0.1", "position": at(-290)}, walker(-280, 280, n=2)],
        zones=[
            {
                "zoneId": "west",
                "accessPoints": [
                    {
                        "accessPointId": "ap-west",
                        "connectionType": "LTE-macro",
                        "cellId": "0000001",
                    },
                    {
                        "accessPointId": "cafe",
                        "connectionType": "Wifi",
                        "position": at(-300),
                        "range": 50,
                    },
                ],
            },
            {
                "zoneId": "east",
                "accessPoints": [
                    {"accessPointId": "ap-east", "connectionType": "LTE-macro", "cellId": "0000002"}
                ],
            },
        ],
    )
    sim, recorder = simulator(scenario)
    ue = sim.state.ues["acr:10.0.0.1"]
    assert (ue.serving_cell_id, ue.access_point_id, ue.zone_id) == ("0000001", "cafe", "west")
    assert sim.state.ues["acr:10.0.0.2"].access_point_id == "cafe"
    await sim.step(5)  # walker 2 leaves the café's range
    changed = recorder.of(EventKind.ACCESS_POINT_CHANGED)
    assert [
        (e.before.access_point_id, e.after.access_point_id) for e in changed if e.before and e.after
    ] == [("cafe", "ap-west")]


async def test_carrier_aggregation_takes_cells_of_the_same_zone_and_rat() -> None:
    cells = [
        {"cellId": "0000001", "position": at(-50), "radius": 500},
        {"cellId": "0000002", "position": at(50), "radius": 500},
        {"cellId": "000000003", "rat": "NR", "position": at(0), "radius": 500},
        {"cellId": "0000004", "position": at(0, 100), "radius": 500},
    ]
    zones = [
        {
            "zoneId": "a",
            "accessPoints": [
                {"accessPointId": "a1", "connectionType": "LTE-macro", "cellId": "0000001"},
                {"accessPointId": "a2", "connectionType": "LTE-micro", "cellId": "0000002"},
                {"accessPointId": "a3", "connectionType": "5G-NR", "cellId": "000000003"},
            ],
        },
        {
            "zoneId": "b",
            "accessPoints": [
                {"accessPointId": "b1", "connectionType": "LTE-macro", "cellId": "0000004"}
            ],
        },
    ]
    sim, _ = simulator(
        two_cells([{"address": "acr:10.0.0.1", "position": at(-40)}], cells=cells, zones=zones)
    )
    ue = sim.state.ues["acr:10.0.0.1"]
    # Served by the nearest cell (10 m); 0000002 is LTE in zone a too; the NR cell and zone b's
    # cell are heard but not aggregated.
    assert ue.serving_cell_id == "0000001"
    assert ue.secondary_cell_ids == ("0000002",)
    assert ue.measurements[0].cell_id == ue.serving_cell_id
    assert len(ue.measurements) == 4


async def test_measurements_come_every_period_per_ue_and_bearers_at_attach() -> None:
    ues = [walker(-300, -200, speed=1, n=n) for n in (1, 2, 3)]
    sim, recorder = simulator(two_cells(ues, measurementPeriod=3))
    ue = sim.state.ues["acr:10.0.0.1"]
    assert [(b.erab_id, b.qci) for b in ue.bearers] == [(5, 9)]
    await sim.step(9)
    reports = recorder.of(EventKind.MEASUREMENT)
    assert len(reports) == 9  # three UEs, every third tick, staggered
    assert {
        tuple(e.ue for e in events if e.kind is EventKind.MEASUREMENT)
        for _, events in recorder.changes
    } == {("acr:10.0.0.1",), ("acr:10.0.0.2",), ("acr:10.0.0.3",)}


async def test_bearer_changes_toggle_a_video_bearer() -> None:
    sim, recorder = simulator(two_cells([walker(-300, -300, speed=0)], bearerChangeProbability=1.0))
    await sim.step(2)
    first, second = recorder.of(EventKind.BEARER_MODIFIED)
    assert first.after is not None
    assert second.after is not None
    assert [(b.erab_id, b.qci) for b in first.after.bearers] == [(5, 9), (6, 7)]
    assert [(b.erab_id, b.qci) for b in second.after.bearers] == [(5, 9)]


async def test_a_new_scenario_detaches_the_old_ues_and_attaches_the_new() -> None:
    sim, recorder = simulator(two_cells([walker(-100, -100, n=1), walker(100, 100, n=2)]))
    await sim.step(3)
    await sim.load(two_cells([walker(-100, -100, n=1), walker(300, 300, n=3)]))
    events = recorder.changes[-1][1]
    assert [(e.kind, e.ue) for e in events] == [
        (EventKind.DETACHED, "acr:10.0.0.2"),
        (EventKind.ATTACHED, "acr:10.0.0.3"),
    ]
    assert sim.clock().tick == 0
    assert set(sim.state.ues) == {"acr:10.0.0.1", "acr:10.0.0.3"}


async def test_a_failing_listener_is_logged_and_the_others_still_hear() -> None:
    sim, recorder = simulator(two_cells([walker(-100, 100)]))

    async def broken(state: NetworkState, events: Sequence[NetworkEvent]) -> None:
        raise RuntimeError("listener bug")

    sim.listen(broken)
    after = Recorder()
    sim.listen(after)
    await sim.step(2)
    assert len(recorder.changes) == len(after.changes) == 2


async def test_a_listener_cannot_change_the_network_it_hears_about() -> None:
    sim, _ = simulator(two_cells([walker(-100, 100)]))
    refused: list[Exception] = []

    async def meddler(state: NetworkState, events: Sequence[NetworkEvent]) -> None:
        try:
            await sim.step(1)
        except RuntimeError as error:
            refused.append(error)

    sim.listen(meddler)
    await asyncio.wait_for(sim.step(1), timeout=5)
    assert len(refused) == 1


def waiter(sim: Simulator) -> Callable[[int], Awaitable[None]]:
    """``await wait(n)``: until the clock reaches tick n (5 s at most), told by a listener, so
    a loaded machine only makes the test slower."""
    ticked = asyncio.Event()

    async def listener(state: NetworkState, events: Sequence[NetworkEvent]) -> None:
        ticked.set()

    sim.listen(listener)

    async def wait(tick: int) -> None:
        async with asyncio.timeout(5):
            while sim.clock().tick < tick:
                ticked.clear()
                await ticked.wait()

    return wait


async def test_the_clock_ticks_on_its_own_pauses_and_resumes() -> None:
    scenario = two_cells([walker(-100, 100)], tick=0.1)
    sim = Simulator(scenario, speed=10.0)  # a tick every 10 ms
    assert sim.clock().interval_seconds == pytest.approx(0.01)
    wait = waiter(sim)
    clock = asyncio.create_task(sim.run())
    try:
        await wait(3)
        assert sim.clock().running
        sim.pause()
        await asyncio.sleep(0.02)
        paused_at = sim.clock().tick
        await asyncio.sleep(0.06)
        assert sim.clock().tick == paused_at
        await sim.step(3)  # paused, yet it steps
        assert sim.clock().tick == paused_at + 3
        sim.resume()
        await wait(paused_at + 4)
    finally:
        clock.cancel()
        await asyncio.gather(clock, return_exceptions=True)
    assert not sim.clock().running

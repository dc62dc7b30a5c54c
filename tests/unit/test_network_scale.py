"""A generated 10,000-UE scenario ticks (the benchmark's world; timing is bench/'s business)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence

from mep.network.generate import generate
from mep.network.port import EventKind, NetworkEvent, NetworkState
from mep.network.simulator import Simulator


async def test_a_tick_of_ten_thousand_ues() -> None:
    scenario = await asyncio.to_thread(generate, 10_000, seed=1)
    sim = Simulator(scenario)
    heard: list[Sequence[NetworkEvent]] = []

    async def listener(state: NetworkState, events: Sequence[NetworkEvent]) -> None:
        heard.append(events)

    sim.listen(listener)
    assert len(sim.state.ues) == 10_000  # the grid covers its whole box: nobody is lost
    await sim.tick()
    (events,) = heard
    kinds = Counter(e.kind for e in events)
    assert kinds[EventKind.MOVED] == 10_000
    assert kinds[EventKind.MEASUREMENT] == 1_000  # a tenth of the UEs report each tick
    state = sim.state
    for index in (state.ues_by_cell, state.ues_by_zone, state.ues_by_access_point):
        assert sum(len(ues) for ues in index.values()) == 10_000
    assert len(state.ues_by_ipv4) == 10_000
    assert all(
        state.ues[a].serving_cell_id == c for c, ues in state.ues_by_cell.items() for a in ues
    )

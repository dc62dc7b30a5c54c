"""The operator's network API (/mep_mgmt/v1/network) through the real app, on the demo city that
``MEP_SCENARIO`` gives by default, and the wiring of the network source and its clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient
from fixtures.openapi import OpenApiDocument
from fixtures.problems import params, problem

from mep.app import create_app
from mep.core import keys
from mep.core.deps import Deps, open_deps
from mep.core.settings import MepSettings
from mep.network.api import source_from_settings
from mep.network.port import EventKind, NetworkEvent, NetworkSource, NetworkState
from mep.network.scenario import ScenarioError
from mep.network.simulator import Simulator
from mep.network.static import StaticNetworkSource

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]
SPEC = OpenApiDocument("mep-mgmt.yaml")
BASE = "/mep_mgmt/v1/network"
UE = f"{BASE}/ues/{{address}}"
TOKEN = "network-test-token"
WALKER = "acr:10.0.0.9"  # a random walk in the west half of the demo city: zone01

SMALL: dict[str, Any] = {
    "plmn": {"mcc": "001", "mnc": "01"},
    "cells": [
        {"cellId": "00000a1", "position": {"latitude": 43.6, "longitude": 7.0}, "radius": 500}
    ],
    "zones": [
        {
            "zoneId": "only",
            "accessPoints": [
                {"accessPointId": "ap", "connectionType": "LTE-pico", "cellId": "00000a1"}
            ],
        }
    ],
    "ues": [
        {"address": "acr:192.0.2.1", "position": {"latitude": 43.6, "longitude": 7.001}},
        {"address": "acr:192.0.2.2", "position": {"latitude": 43.601, "longitude": 7.0}},
    ],
}


class Recorder:
    def __init__(self, source: NetworkSource) -> None:
        self.changes: list[tuple[NetworkState, Sequence[NetworkEvent]]] = []
        source.listen(self)

    async def __call__(self, state: NetworkState, events: Sequence[NetworkEvent]) -> None:
        self.changes.append((state, events))

    def events(self, address: str | None = None) -> list[NetworkEvent]:
        found = [e for _, events in self.changes for e in events]
        return [e for e in found if address is None or e.ue == address]


async def ok(response: Any, path: str, method: str, status: int = 200) -> Any:
    """The body of a success, checked against our OpenAPI document."""
    text = await response.text()
    assert response.status == status, text
    body = await response.json()
    SPEC.check(path, method, status, body)
    return body


async def clock(client: Client, operator: dict[str, str], **body: Any) -> dict[str, Any]:
    """GET the clock, or POST ``body`` to it."""
    path = f"{BASE}/clock"
    if body:
        answer: dict[str, Any] = await ok(
            await client.post(path, json=body, headers=operator), path, "post"
        )
    else:
        answer = await ok(await client.get(path, headers=operator), path, "get")
    return answer


async def test_the_demo_city_answers_every_query(client: Client, operator: dict[str, str]) -> None:
    ticking = await clock(client, operator)
    assert ticking["running"] is True
    assert ticking["paused"] is False
    assert (ticking["tickSeconds"], ticking["speed"]) == (1.0, 1.0)
    ues = await ok(await client.get(f"{BASE}/ues", headers=operator), f"{BASE}/ues", "get")
    assert len(ues) == 20
    assert all(ue["attached"] and ue["servingCellId"] and ue["accessPointId"] for ue in ues)
    assert {ue["zoneId"] for ue in ues} == {"zone01", "zone02"}
    # RNIS and Location read this state: the same UE under the same identities.
    state = client.app[keys.NETWORK].state
    for ue in ues:
        seen = state.ues[ue["address"]]
        assert (seen.ipv4, seen.associate_id) == (ue["ipv4"], ue["associateId"])
        assert state.ues_by_ipv4[ue["ipv4"]] == ue["address"]
    one = await ok(await client.get(UE.format(address=WALKER), headers=operator), UE, "get")
    assert (one["ipv4"], one["zoneId"]) == ("10.0.0.9", "zone01")
    path = f"{BASE}/scenario"
    scenario = await ok(await client.get(path, headers=operator), path, "get")
    assert (len(scenario["cells"]), len(scenario["zones"]), len(scenario["ues"])) == (6, 2, 20)


async def test_a_ue_moved_across_the_zone_boundary_tells_rnis_and_location(
    client: Client, operator: dict[str, str]
) -> None:
    assert (await clock(client, operator, action="pause"))["paused"] is True
    network = client.app[keys.NETWORK]
    recorder = Recorder(network)
    move = f"{UE}/move"
    sent = await client.post(
        move.format(address=WALKER), json={"accessPointId": "zone02-macro"}, headers=operator
    )
    moved = await ok(sent, move, "post")
    assert (moved["servingCellId"], moved["accessPointId"], moved["zoneId"]) == (
        "1000004",
        "zone02-macro",
        "zone02",
    )
    kinds = [e.kind for e in recorder.events(WALKER)]
    assert kinds[:3] == [EventKind.MOVED, EventKind.HANDOVER, EventKind.ACCESS_POINT_CHANGED]
    change = recorder.events(WALKER)[2]
    assert change.before is not None
    assert change.after is not None
    assert (change.before.zone_id, change.after.zone_id) == ("zone01", "zone02")
    assert WALKER in network.state.ues_by_zone["zone02"]
    # Back west by position: next to the zone01 macro.
    west = {"latitude": 43.6163, "longitude": 7.0538}
    sent = await client.post(move.format(address=WALKER), json={"position": west}, headers=operator)
    back = await ok(sent, move, "post")
    assert (back["servingCellId"], back["zoneId"]) == ("1000001", "zone01")
    assert len(recorder.changes) == 2


async def test_step_runs_ticks_now_while_paused(client: Client, operator: dict[str, str]) -> None:
    paused = await clock(client, operator, action="pause")
    recorder = Recorder(client.app[keys.NETWORK])
    stepped = await clock(client, operator, action="step", ticks=3)
    assert stepped["tick"] == paused["tick"] + 3
    assert stepped["paused"] is True
    assert len(recorder.changes) == 3
    assert all(EventKind.MOVED in {e.kind for e in events} for _, events in recorder.changes)
    resumed = await clock(client, operator, action="resume")
    assert resumed["paused"] is False


async def test_a_new_scenario_replaces_the_world(client: Client, operator: dict[str, str]) -> None:
    await clock(client, operator, action="pause")
    recorder = Recorder(client.app[keys.NETWORK])
    path = f"{BASE}/scenario"
    loaded = await ok(await client.put(path, json=SMALL, headers=operator), path, "put")
    assert loaded["tick"] == 1.0  # defaults filled in
    assert loaded["ues"][0]["address"] == "acr:192.0.2.1"
    events = recorder.events()
    assert [e.kind for e in events].count(EventKind.DETACHED) == 20
    assert [e.ue for e in events if e.kind is EventKind.ATTACHED] == [
        "acr:192.0.2.1",
        "acr:192.0.2.2",
    ]
    state = client.app[keys.NETWORK].state
    assert set(state.ues) == {"acr:192.0.2.1", "acr:192.0.2.2"}
    assert state.ues_by_zone == {"only": ("acr:192.0.2.1", "acr:192.0.2.2")}
    assert (await clock(client, operator))["tick"] == 0


async def test_a_bad_scenario_is_a_400_naming_the_field(
    client: Client, operator: dict[str, str]
) -> None:
    bad = {**SMALL, "cells": [{**SMALL["cells"][0], "cellId": "0000000a1"}]}
    response = await client.put(f"{BASE}/scenario", json=bad, headers=operator)
    body = await problem(response, 400)
    SPEC.check(f"{BASE}/scenario", "put", 400, body)
    assert "cells[0].cellId: must be 7 hex digits for an LTE ECGI" in body["detail"]
    assert "/cells/0/cellId" in params(body)
    assert "/zones/0/accessPoints/0/cellId" in params(body)  # it names no cell now
    assert len(client.app[keys.NETWORK].state.ues) == 20  # the demo city is still there
    wrong_type = await client.put(f"{BASE}/scenario", data="plmn: x", headers=operator)
    await problem(wrong_type, 415)


async def test_unknown_names_are_404_and_bad_bodies_400(
    client: Client, operator: dict[str, str]
) -> None:
    assert (await client.get(UE.format(address="acr:10.9.9.9"), headers=operator)).status == 404
    move = f"{UE}/move"
    to_ap = {"accessPointId": "zone02-macro"}
    unknown_ue = await client.post(
        move.format(address="acr:10.9.9.9"), json=to_ap, headers=operator
    )
    await problem(unknown_ue, 404)
    nowhere = {"accessPointId": "nowhere"}
    unknown_ap = await client.post(move.format(address=WALKER), json=nowhere, headers=operator)
    assert params(await problem(unknown_ap, 404)) == {"/accessPointId"}
    both = {"accessPointId": "zone02-macro", "position": {"latitude": 43.6, "longitude": 7.0}}
    await problem(await client.post(move.format(address=WALKER), json=both, headers=operator), 400)
    too_many = {"action": "step", "ticks": 100_000}
    bad_step = await client.post(f"{BASE}/clock", json=too_many, headers=operator)
    assert params(await problem(bad_step, 400)) == {"/ticks"}
    status = f"{BASE}/access_points/nowhere/status"
    gone = await client.put(status, json={"operationStatus": "Unserviceable"}, headers=operator)
    await problem(gone, 404)


async def test_an_access_point_out_of_service(client: Client, operator: dict[str, str]) -> None:
    await clock(client, operator, action="pause")
    network = client.app[keys.NETWORK]
    recorder = Recorder(network)
    path = f"{BASE}/access_points/{{accessPointId}}/status"
    sent = await client.put(
        path.format(accessPointId="zone02-macro"),
        json={"operationStatus": "Unserviceable"},
        headers=operator,
    )
    ap = await ok(sent, path, "put")
    assert (ap["operationStatus"], ap["zoneId"], ap["cellId"]) == (
        "Unserviceable",
        "zone02",
        "1000004",
    )
    first = recorder.events()[0]
    assert (first.kind, first.access_point_id) == (EventKind.ACCESS_POINT_STATUS, "zone02-macro")
    assert "1000004" not in network.state.ues_by_cell


async def test_only_the_operator_drives_the_network(client: Client) -> None:
    await problem(await client.get(f"{BASE}/ues"), 401)
    other = {"Authorization": "Bearer not-the-operator"}
    await problem(await client.post(f"{BASE}/clock", json={"action": "pause"}, headers=other), 401)


# --- the wiring, on apps built here ---


@pytest.fixture
async def build(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> AsyncIterator[Callable[..., Awaitable[Client]]]:
    """Build the real app (SQLite) with given settings or source; closes what it built."""
    built: list[tuple[Client, Deps]] = []

    async def make(network: NetworkSource | None = None, **fields: Any) -> Client:
        settings = MepSettings(data_dir=tmp_path, admin_token=TOKEN, **fields)
        deps = await open_deps(settings)
        client = await aiohttp_client(create_app(settings, deps, network=network))
        built.append((client, deps))
        return client

    yield make
    for client, deps in built:
        await client.close()  # before the deps: the app's cleanup flushes the outbox
        await deps.close()


def clock_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "network-clock" and not t.done()]


async def test_the_clock_ticks_from_startup_and_stops_at_shutdown(
    build: Callable[..., Awaitable[Client]],
) -> None:
    client = await build(tick_speed=50.0)  # a tick every 20 ms
    operator = {"Authorization": f"Bearer {TOKEN}"}
    network = client.app[keys.NETWORK]
    assert isinstance(network, Simulator)
    ticked = asyncio.Event()

    async def listener(state: NetworkState, events: Sequence[NetworkEvent]) -> None:
        ticked.set()

    network.listen(listener)
    async with asyncio.timeout(5):  # told by the clock: a loaded machine is only slower
        while network.clock().tick < 3:
            ticked.clear()
            await ticked.wait()
    assert (await clock(client, operator))["tick"] >= 3
    held = (await clock(client, operator, action="pause"))["tick"]
    await asyncio.sleep(0.1)
    assert (await clock(client, operator))["tick"] == held
    assert len(clock_tasks()) == 1
    await client.close()
    assert clock_tasks() == []
    assert network.clock().running is False


async def test_a_given_source_is_kept_and_the_operator_api_answers_409(
    build: Callable[..., Awaitable[Client]],
) -> None:
    source = StaticNetworkSource()
    client = await build(network=source)
    assert client.app[keys.NETWORK] is source
    assert clock_tasks() == []
    operator = {"Authorization": f"Bearer {TOKEN}"}
    body = await problem(await client.get(f"{BASE}/ues", headers=operator), 409)
    SPEC.check(f"{BASE}/ues", "get", 409, body)
    assert "not simulated" in body["detail"]


async def test_scenario_none_and_a_scenario_file(
    build: Callable[..., Awaitable[Client]], tmp_path: Path
) -> None:
    empty = await build(scenario="none")
    assert isinstance(empty.app[keys.NETWORK], StaticNetworkSource)
    assert empty.app[keys.NETWORK].state.ues == {}
    path = tmp_path / "small.yaml"
    await asyncio.to_thread(path.write_text, yaml.safe_dump(SMALL))
    from_file = await build(scenario=str(path))
    network = from_file.app[keys.NETWORK]
    assert isinstance(network, Simulator)
    assert set(network.state.ues) == {"acr:192.0.2.1", "acr:192.0.2.2"}


async def test_a_bad_scenario_file_stops_the_start_with_the_field_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    bad = {**SMALL, "ues": [{"address": "acr:192.0.2.1"}]}
    await asyncio.to_thread(path.write_text, yaml.safe_dump(bad))
    settings = MepSettings(data_dir=tmp_path, scenario=str(path))
    with pytest.raises(ScenarioError, match=r"bad\.yaml: ues\[0\]\.position: required"):
        await source_from_settings(settings)

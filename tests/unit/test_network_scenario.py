"""Scenario files: the demo, validation messages that name the field, loading, generation."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mep.core.http import dump
from mep.core.settings import MepSettings
from mep.network.generate import generate
from mep.network.scenario import ScenarioError, load_demo, load_file, parse, parse_text

PLMN = {"mcc": "001", "mnc": "01"}
HERE = {"latitude": 43.6, "longitude": 7.0}


def minimal() -> dict[str, Any]:
    return {
        "plmn": dict(PLMN),
        "cells": [
            {"cellId": "0000001", "position": dict(HERE), "radius": 500},
            {"cellId": "000000002", "rat": "NR", "position": dict(HERE), "radius": 300},
        ],
        "zones": [
            {
                "zoneId": "zone1",
                "accessPoints": [
                    {"accessPointId": "ap1", "connectionType": "LTE-macro", "cellId": "0000001"},
                    {"accessPointId": "ap2", "connectionType": "5G-NR", "cellId": "000000002"},
                    {"accessPointId": "wifi", "connectionType": "Wifi", "position": dict(HERE)},
                ],
            }
        ],
        "ues": [
            {"address": "acr:10.0.0.1", "position": dict(HERE)},
            {"address": "acr:10.0.0.2", "randomWalk": {"seed": 3}},
            {
                "address": "tel:+33612345678",
                "ipv4": "10.0.0.3",
                "path": {"waypoints": [dict(HERE)], "speed": 1.4},
            },
        ],
    }


def test_the_demo_city_is_two_zones_six_cells_and_twenty_ues() -> None:
    demo = load_demo()
    assert demo.plmn.mcc == "001"
    assert demo.plmn.mnc == "01"
    assert [z.zone_id for z in demo.zones] == ["zone01", "zone02"]
    assert len(list(demo.access_points())) == len(demo.cells) == 6
    assert {c.rat.value for c in demo.cells} == {"LTE", "NR"}
    assert len(demo.ues) == 20
    assert all(u.path or u.random_walk for u in demo.ues)
    assert demo.tick == 1.0


def test_defaults_are_filled_in() -> None:
    scenario = parse(minimal())
    assert (scenario.seed, scenario.tick, scenario.measurement_period) == (0, 1.0, 10)
    ue = scenario.ues[0]
    assert ue.ipv4_address == "10.0.0.1"
    assert ue.associate_id is None  # the simulator uses the IPv4 address
    assert scenario.ues[2].ipv4_address == "10.0.0.3"


def _broken(change: str, value: Any) -> dict[str, Any]:
    doc = minimal()
    target: Any = doc
    *path, last = change.split(".")
    for part in path:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is _DELETE:
        del target[int(last) if last.isdigit() else last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return doc


_DELETE = object()


@pytest.mark.parametrize(
    ("change", "value", "message"),
    [
        ("cells.0.cellId", "000000001", "cells[0].cellId: must be 7 hex digits for an LTE ECGI"),
        ("cells.1.cellId", "0000002", "cells[1].cellId: must be 9 hex digits for an NR NRCGI"),
        ("cells.0.cellId", "00000g1", "cells[0].cellId: must be hex digits: 7 for an LTE ECGI"),
        ("cells.0.cellId", 1, "cells[0].cellId: must be a quoted string"),
        ("cells.1.cellId", "0000001", "cells[1].cellId: must be 9 hex digits"),
        ("cells.0.radius", 0, "cells[0].radius: Input should be greater than 0"),
        ("cells.0.radius", "500", "cells[0].radius: Input should be a valid number"),
        ("cells.0.colour", "red", "cells[0].colour: Extra inputs are not permitted"),
        ("plmn.mcc", "1", "plmn.mcc: String should match pattern"),
        ("plmn.mnc", 1, "plmn.mnc: must be a quoted string"),
        ("tick", 0, "tick: Input should be greater than or equal to 0.1"),
        ("startTime", 1700000000, "startTime: must be an RFC 3339 date-time"),
        (
            "zones.0.accessPoints.0.cellId",
            "0000009",
            "zones[0].accessPoints[0].cellId: names no cell of the scenario",
        ),
        (
            "zones.0.accessPoints.1.cellId",
            "0000001",
            "zones[0].accessPoints[1].cellId: already radiated by zones[0].accessPoints[0]",
        ),
        (
            "zones.0.accessPoints.2.cellId",
            "000000002",
            "zones[0].accessPoints[2].cellId: a Wifi access point has no cell",
        ),
        (
            "zones.0.accessPoints.2.position",
            _DELETE,
            "zones[0].accessPoints[2].position: required for an access point without a cellId",
        ),
        (
            "zones.0.accessPoints.1",
            {"accessPointId": "ap1", "connectionType": "Macro", "position": HERE},
            "zones[0].accessPoints[1].accessPointId: duplicate of zones[0].accessPoints[0]",
        ),
        ("zones.0.accessPoints.0.connectionType", "LTE", "zones[0].accessPoints[0].connectionType"),
        ("ues.1.address", "acr:10.0.0.1", "ues[1].address: duplicate of ues[0]"),
        ("ues.0.address", "10.0.0.1", "ues[0].address: String should match pattern"),
        ("ues.2.ipv4", _DELETE, "ues[2].ipv4: required when the address is not acr:<IPv4"),
        ("ues.2.ipv4", "10.0.0.1", "ues[2].ipv4: 10.0.0.1 is already the address of ues[0]"),
        ("ues.2.ipv4", "10.0.0.300", "ues[2].ipv4: must be an IPv4 address"),
        ("ues.2.randomWalk", {}, "ues[2]: give either path or randomWalk, not both"),
        ("ues.0.position", _DELETE, "ues[0].position: required for a UE without path"),
        ("ues.0.detachAt", 0, "ues[0].detachAt: must be after attachAt"),
        ("ues.1.randomWalk.minSpeed", 3.0, "ues[1].randomWalk.maxSpeed: must not be below"),
        (
            "ues.1.randomWalk.bounds",
            {"south": 44, "west": 7, "north": 43, "east": 8},
            "ues[1].randomWalk.bounds: south must be below north",
        ),
        ("ues.2.path.end", "bounce", "ues[2].path.end: Input should be 'stop', 'loop' or"),
    ],
)
def test_a_bad_scenario_names_the_field(change: str, value: Any, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse(_broken(change, value))
    assert message in str(caught.value)


def test_a_cell_no_access_point_radiates_is_named() -> None:
    doc = minimal()
    doc["zones"][0]["accessPoints"].pop(1)
    with pytest.raises(ScenarioError, match=r"cells\[1\]\.cellId: no access point radiates"):
        parse(doc)


def test_every_problem_is_listed_with_its_location() -> None:
    doc = minimal()
    doc["cells"][0]["cellId"] = "12345678"
    doc["ues"][0]["detachAt"] = 0
    with pytest.raises(ScenarioError) as caught:
        parse(doc)
    locations = [loc for loc, _ in caught.value.problems]
    assert ("cells", 0, "cellId") in locations
    assert ("ues", 0, "detachAt") in locations


def test_yaml_and_json_files_load_and_name_the_file_when_bad(tmp_path: Path) -> None:
    as_json = tmp_path / "world.json"
    as_json.write_text(json.dumps(minimal()))
    assert len(load_file(as_json).ues) == 3
    as_yaml = tmp_path / "world.yaml"
    as_yaml.write_text("plmn: {mcc: 001, mnc: '01'}\n")
    with pytest.raises(ScenarioError, match=r"world\.yaml: plmn\.mcc: must be a quoted string"):
        load_file(as_yaml)
    as_yaml.write_text("plmn: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"world\.yaml: scenario: not valid YAML"):
        load_file(as_yaml)
    with pytest.raises(ScenarioError, match="cannot read the file"):
        load_file(tmp_path / "missing.yaml")
    with pytest.raises(ScenarioError, match="not valid JSON"):
        parse_text("{", source="x.json", as_json=True)


def test_the_scenario_as_the_api_shows_it_loads_again() -> None:
    demo = load_demo()
    shown = dump(demo)
    assert parse(copy.deepcopy(shown)) == demo
    assert shown["plmn"] == {"mcc": "001", "mnc": "01"}
    assert shown["cells"][0]["cellId"] == "1000001"


def test_a_start_time_without_offset_in_yaml_is_utc() -> None:
    text = "plmn: {mcc: '001', mnc: '01'}\nstartTime: 2024-05-01 08:00:00\n"
    scenario = parse_text(text, source="t.yaml")
    assert scenario.start_time is not None
    assert scenario.start_time.timestamp() == 1714550400.0


def test_generated_scenarios_are_deterministic_by_seed() -> None:
    first = generate(200, seed=5)
    assert first == generate(200, seed=5)
    assert first != generate(200, seed=6)
    assert len(first.ues) == 200
    assert len(first.cells) >= 6
    assert len({ue.ipv4_address for ue in first.ues}) == 200
    assert {c.rat.value for c in first.cells} == {"LTE", "NR"}


def test_the_scenario_setting_is_demo_none_or_a_scenario_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MEP_SCENARIO", raising=False)
    assert MepSettings().scenario == "demo"
    assert MepSettings(scenario="/srv/city.json", tick_speed=10).tick_speed == 10
    with pytest.raises(ValidationError, match="must be 'demo', 'none', or the path"):
        MepSettings(scenario="city")
    with pytest.raises(ValidationError, match="greater than 0"):
        MepSettings(tick_speed=0)

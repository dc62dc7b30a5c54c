"""Generated scenarios of any size, for benchmarks and load tests: deterministic by seed.

``generate(10_000)`` lays cells on a square grid (500 m apart, 400 m radius, so every point of
the grid's box is covered and neighbours overlap), every third cell NR and the others LTE, each
radiated by one access point; groups of ``zone_side`` by ``zone_side`` cells form a zone. UEs
(``acr:10.0.0.1`` upwards) are mostly pedestrians on random walks over the whole box; one in
five drives back and forth along a three-waypoint path at 8 to 15 m/s, crossing cells and zones.
"""

from __future__ import annotations

import ipaddress
import math
import random
from typing import Any

from mep.network.radio import Projection
from mep.network.scenario import Scenario, parse

SPACING_M = 500.0
RADIUS_M = 400.0
_FIRST_UE = int(ipaddress.IPv4Address("10.0.0.1"))


def generate(
    ues: int,
    *,
    seed: int = 0,
    cells: int | None = None,
    zone_side: int = 3,
    origin: tuple[float, float] = (45.0703, 7.6869),
    measurement_period: int = 10,
) -> Scenario:
    """A scenario of ``ues`` UEs over at least ``cells`` cells (default: one per 50 UEs, at
    least 6), rounded up to fill a rectangle."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible world, not a secret
    wanted = cells if cells is not None else max(6, math.ceil(ues / 50))
    columns = math.ceil(math.sqrt(wanted))
    rows = math.ceil(wanted / columns)
    count = rows * columns  # a full rectangle: no hole in the coverage
    projection = Projection(*origin)
    cell_docs: list[dict[str, Any]] = []
    zones: dict[str, list[dict[str, Any]]] = {}
    for i in range(count):
        row, column = divmod(i, columns)
        latitude, longitude = projection.to_latlon(column * SPACING_M, row * SPACING_M)
        nr = i % 3 == 2
        cell_id = f"{i + 1:09x}" if nr else f"{i + 1:07x}"
        cell_docs.append(
            {
                "cellId": cell_id,
                "rat": "NR" if nr else "LTE",
                "position": {"latitude": latitude, "longitude": longitude},
                "radius": RADIUS_M,
                "txPower": 43.0,
            }
        )
        zone = f"zone{row // zone_side:03d}-{column // zone_side:03d}"
        zones.setdefault(zone, []).append(
            {
                "accessPointId": f"ap-{i + 1:05d}",
                "connectionType": "5G-NR" if nr else "LTE-macro",
                "cellId": cell_id,
            }
        )
    south, west = projection.to_latlon(0.0, 0.0)
    north, east = projection.to_latlon((columns - 1) * SPACING_M, (rows - 1) * SPACING_M)
    # A single row or column still gets a box, not a line.
    north, east = max(north, south + 1e-3), max(east, west + 1e-3)
    bounds = {"south": south, "west": west, "north": north, "east": east}
    ue_docs = [_ue(i, rng, bounds) for i in range(ues)]
    return parse(
        {
            "name": f"generated: {ues} UEs, {count} cells, seed {seed}",
            "seed": seed,
            "plmn": {"mcc": "001", "mnc": "01"},
            "measurementPeriod": measurement_period,
            "cells": cell_docs,
            "zones": [{"zoneId": z, "accessPoints": aps} for z, aps in zones.items()],
            "ues": ue_docs,
        },
        source="generated",
    )


def _ue(index: int, rng: random.Random, bounds: dict[str, float]) -> dict[str, Any]:
    address = str(ipaddress.IPv4Address(_FIRST_UE + index))
    doc: dict[str, Any] = {"address": f"acr:{address}"}
    if index % 5 == 4:

        def point() -> dict[str, float]:
            return {
                "latitude": rng.uniform(bounds["south"], bounds["north"]),
                "longitude": rng.uniform(bounds["west"], bounds["east"]),
            }

        doc["path"] = {
            "waypoints": [point(), point(), point()],
            "speed": rng.uniform(8.0, 15.0),
            "end": "reverse",
        }
    else:
        doc["randomWalk"] = {"minSpeed": 0.5, "maxSpeed": 2.0, "bounds": bounds}
    return doc

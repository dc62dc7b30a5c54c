"""The radio model of the simulator: geometry, path loss, RSRP/RSRQ, timing advance, and the
rules for serving cell, handover, access point and carrier aggregation.

Path loss (log-distance, no shadow fading, so that handovers happen at the boundaries a person
drawing circles on a map would expect)::

    PL(d) = PL(d0) + 10 · n · log10(d / d0)      d0 = 1 m, d >= 1 m
    PL(d0) = 38.9 dB    free-space loss at 1 m and 2.1 GHz (E-UTRA band 1): 20·log10(4π·d0·f/c)
    n = 3.5             urban macro path-loss exponent

RSRP (dBm, per resource element), for a cell of transmit power P (dBm) over N_RB = 100 resource
blocks (20 MHz; the same figure is used for NR cells)::

    RSRP = P - 10·log10(12 · N_RB) - PL(d)       (10·log10(1200) = 30.8 dB)

so a 46 dBm macro gives -93.7 dBm at 100 m and -128.7 dBm at 1 km. RSRQ (dB) assumes every cell
the UE hears is fully loaded, so the RSSI over the band is 12·N_RB times the sum of the per-RE
powers plus thermal noise (-174 dBm/Hz over 15 kHz with a 7 dB noise figure: -125.2 dBm)::

    RSRQ = N_RB · RSRP / RSSI = 10·log10(p_serving / (12 · (Σ p_heard + p_noise)))   (mW)

(-10.8 dB for a lone cell, -13.8 dB on an equal-power boundary). RSRP is kept within
[-140, -44] dBm and RSRQ within [-19.5, -3] dB, the ranges TS 36.133 reports.

Coverage: a UE hears a cell (measures it, suffers its interference, may be served by it) when
it is within the cell's radius and the cell's access point is serviceable. A UE that hears no
cell is out of coverage, hence detached.

Serving cell: at attach, the strongest cell heard. Handover (an A3 event): to the strongest
neighbour when its RSRP exceeds the serving cell's by ``HYSTERESIS_DB`` (3 dB) on two
consecutive ticks (time-to-trigger: one tick); at once when the serving cell is no longer heard.

Timing advance (TS 36.213 clause 4.2.3): one TA step is 16·Ts = 0.52 µs of round trip, i.e.
78.12 m of distance, so TA = round(d / 78.12 m), within 0..1282.

Carrier aggregation: up to ``MAX_SECONDARY_CELLS`` (2) secondary cells, the strongest other
cells heard that share the serving cell's RAT and zone (the same site group).

Access point: the nearest of the serving cell's access point and the serviceable access points
without a cell (Wifi, ...) within their range; the UE's zone is that access point's zone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8
PL_D0_DB = 38.9
PATH_LOSS_EXPONENT = 3.5
N_RB = 100
RE_POWER_OFFSET_DB = 10 * math.log10(12 * N_RB)
NOISE_PER_RE_DBM = -174.0 + 10 * math.log10(15_000) + 7.0
HYSTERESIS_DB = 3.0
#: Ticks the handover condition must already have held before the handover happens.
TIME_TO_TRIGGER_TICKS = 1
TA_STEP_M = 78.12
TA_MAX = 1282
MAX_SECONDARY_CELLS = 2
RSRP_RANGE = (-140.0, -44.0)
RSRQ_RANGE = (-19.5, -3.0)

# PL in terms of the squared distance, so the hot loop needs no square root:
# 10·n·log10(d) = 5·n·log10(d²).
_PL_PER_LOG_D2 = 5.0 * PATH_LOSS_EXPONENT
_NOISE_MW = 10 ** (NOISE_PER_RE_DBM / 10)


def path_loss_db(distance_m: float) -> float:
    """PL(d) of the log-distance model above (d below 1 m counts as 1 m)."""
    return PL_D0_DB + 10 * PATH_LOSS_EXPONENT * math.log10(max(distance_m, 1.0))


def rsrp_dbm(tx_power_dbm: float, distance_m: float) -> float:
    """RSRP at ``distance_m`` from a cell of transmit power ``tx_power_dbm``, unclamped."""
    return tx_power_dbm - RE_POWER_OFFSET_DB - path_loss_db(distance_m)


def rsrp_from_d2(re_power_dbm: float, d2: float) -> float:
    """RSRP from the per-RE transmit power and the squared distance (the simulator's loop)."""
    return re_power_dbm - PL_D0_DB - _PL_PER_LOG_D2 * math.log10(d2 if d2 > 1.0 else 1.0)


def clamp_rsrp(value: float) -> float:
    return min(max(value, RSRP_RANGE[0]), RSRP_RANGE[1])


def rsrq_db(serving_rsrp_dbm: float, heard_rsrp_dbm: Sequence[float]) -> float:
    """RSRQ of the serving cell given the RSRP of every cell heard (serving included)."""
    total = sum(10 ** (r / 10) for r in heard_rsrp_dbm) + _NOISE_MW
    value = 10 * math.log10(10 ** (serving_rsrp_dbm / 10) / (12 * total))
    return min(max(value, RSRQ_RANGE[0]), RSRQ_RANGE[1])


def timing_advance(distance_m: float) -> int:
    """TS 36.213 TA index for a UE ``distance_m`` from its serving cell."""
    return min(round(distance_m / TA_STEP_M), TA_MAX)


def wants_handover(serving_rsrp: float | None, best_rsrp: float) -> bool:
    """The A3 condition: the best neighbour beats the serving cell by the hysteresis (or the
    serving cell is no longer heard)."""
    return serving_rsrp is None or best_rsrp > serving_rsrp + HYSTERESIS_DB


@dataclass(frozen=True)
class Projection:
    """Latitude/longitude to metres on a plane tangent at ``origin`` (equirectangular): within
    a city or a region of tens of kilometres the error is far below a cell radius."""

    latitude: float
    longitude: float

    @property
    def _m_per_deg_lat(self) -> float:
        return EARTH_RADIUS_M * math.pi / 180

    @property
    def _m_per_deg_lon(self) -> float:
        return self._m_per_deg_lat * math.cos(math.radians(self.latitude))

    def to_xy(self, latitude: float, longitude: float) -> tuple[float, float]:
        return (
            (longitude - self.longitude) * self._m_per_deg_lon,
            (latitude - self.latitude) * self._m_per_deg_lat,
        )

    def factors(self) -> tuple[float, float]:
        """Degrees of latitude and longitude per metre (for the simulator's loop)."""
        return 1 / self._m_per_deg_lat, 1 / self._m_per_deg_lon

    def to_latlon(self, x: float, y: float) -> tuple[float, float]:
        dlat, dlon = self.factors()
        return self.latitude + y * dlat, self.longitude + x * dlon


class Grid:
    """Which discs (cells, access points) may cover a point: a coarse square grid where each
    disc is listed in every square its bounding box touches, so a lookup is one dict access
    and yields only nearby discs, whatever the size of the world."""

    def __init__(self, discs: Sequence[tuple[float, float, float]]) -> None:
        """``discs``: (x, y, radius) in metres; lookups return indexes into it."""
        radii = sorted(r for _, _, r in discs)
        # About one median disc per square: few squares per disc, few discs per square; then
        # coarser until the listing stays small whatever the mix of radii (one 100 km cell
        # among 1 m cells would otherwise take millions of squares).
        size = max(radii[len(radii) // 2], 10.0) if radii else 1.0
        while sum((2 * r / size + 2) ** 2 for r in radii) > 16 * len(radii) + 10_000:
            size *= 2
        self._size = size
        cells: dict[tuple[int, int], list[int]] = {}
        for index, (x, y, r) in enumerate(discs):
            for i in range(self._key(x - r), self._key(x + r) + 1):
                for j in range(self._key(y - r), self._key(y + r) + 1):
                    cells.setdefault((i, j), []).append(index)
        self._cells = {key: tuple(found) for key, found in cells.items()}

    def _key(self, value: float) -> int:
        return math.floor(value / self._size)

    def near(self, x: float, y: float) -> tuple[int, ...]:
        """Indexes of the discs whose bounding box may contain (x, y)."""
        size = self._size
        return self._cells.get((math.floor(x / size), math.floor(y / size)), ())

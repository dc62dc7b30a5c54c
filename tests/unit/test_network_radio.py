"""The radio model: path loss, RSRP/RSRQ, timing advance, the handover rule, the lookup grid."""

from __future__ import annotations

import math

import pytest

from mep.network import radio


def test_path_loss_grows_with_distance_at_35_db_per_decade() -> None:
    distances = [1, 2, 5, 10, 50, 100, 250, 500, 1000, 5000, 20_000]
    losses = [radio.path_loss_db(d) for d in distances]
    assert losses == sorted(losses)
    assert len(set(losses)) == len(losses)
    assert radio.path_loss_db(1) == pytest.approx(38.9)
    assert radio.path_loss_db(1000) - radio.path_loss_db(100) == pytest.approx(35.0)
    assert radio.path_loss_db(0.2) == radio.path_loss_db(1)  # closer than d0 counts as d0


def test_rsrp_figures_of_a_46_dbm_macro() -> None:
    assert radio.rsrp_dbm(46, 100) == pytest.approx(-93.7, abs=0.05)
    assert radio.rsrp_dbm(46, 1000) == pytest.approx(-128.7, abs=0.05)
    assert radio.rsrp_from_d2(46 - radio.RE_POWER_OFFSET_DB, 300.0**2) == pytest.approx(
        radio.rsrp_dbm(46, 300)
    )
    assert radio.clamp_rsrp(-20) == -44
    assert radio.clamp_rsrp(-170) == -140


def test_rsrq_falls_with_interference() -> None:
    alone = radio.rsrq_db(-80, [-80])
    assert alone == pytest.approx(-10.8, abs=0.05)
    boundary = radio.rsrq_db(-80, [-80, -80])
    assert boundary == pytest.approx(-13.8, abs=0.05)
    assert radio.rsrq_db(-80, [-80, -90]) < alone
    assert radio.rsrq_db(-80, [-80, -70, -70, -70]) == -19.5  # clamped to TS 36.133's range


@pytest.mark.parametrize(
    ("distance", "ta"),
    [(0, 0), (39.0, 0), (39.1, 1), (78.12, 1), (1000, 13), (2000, 26), (200_000, 1282)],
)
def test_timing_advance_is_distance_over_78_m(distance: float, ta: int) -> None:
    assert radio.timing_advance(distance) == ta


def test_the_handover_condition_needs_the_hysteresis() -> None:
    assert not radio.wants_handover(-90.0, -88.0)
    assert not radio.wants_handover(-90.0, -87.0)
    assert radio.wants_handover(-90.0, -86.9)
    assert radio.wants_handover(None, -120.0)  # the serving cell is gone


def test_equal_cells_hand_over_49_m_past_the_midpoint_of_1_km() -> None:
    # Where a person expects it: past the middle by the hysteresis, 3 dB at 35 dB a decade.
    def margin(x: float) -> float:
        return radio.rsrp_dbm(46, 500 - x) - radio.rsrp_dbm(46, 500 + x)

    assert margin(49.0) < radio.HYSTERESIS_DB < margin(49.5)


def test_projection_round_trips_within_a_millimetre() -> None:
    projection = radio.Projection(43.6163, 7.06)
    x, y = projection.to_xy(43.62, 7.05)
    latitude, longitude = projection.to_latlon(x, y)
    assert (latitude, longitude) == pytest.approx((43.62, 7.05), abs=1e-9)
    assert math.hypot(*projection.to_xy(43.6163 + 1 / 111.195, 7.06)) == pytest.approx(1000, 1)


def test_the_grid_finds_every_covering_disc_and_stays_small() -> None:
    discs = [(i * 500.0, j * 500.0, 400.0) for i in range(10) for j in range(10)]
    grid = radio.Grid(discs)
    for x, y in [(0, 0), (250, 250), (1234, 3210), (4500, 4500), (-300, 100)]:
        covering = {i for i, (cx, cy, r) in enumerate(discs) if math.hypot(x - cx, y - cy) <= r}
        assert covering <= set(grid.near(x, y))
    assert grid.near(1e6, 1e6) == ()
    lopsided = radio.Grid([(0.0, 0.0, 100_000.0)] + [(float(i), 0.0, 1.0) for i in range(50)])
    assert len(lopsided._cells) < 20_000
    assert 0 in lopsided.near(99_000.0, 0.0)

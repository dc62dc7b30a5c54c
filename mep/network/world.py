"""The simulated world behind :class:`mep.network.simulator.Simulator`: cells, access points and
UEs as mutable runtime records, advanced one tick at a time, published as immutable
:class:`NetworkState` snapshots and lists of :class:`NetworkEvent`.

The radio rules are those of :mod:`mep.network.radio`; the motion models those of
:mod:`mep.network.motion`. A UE is attached while its schedule allows (``attachAt`` ≤ tick <
``detachAt``) and it hears a cell; an attached UE always has a serving cell, an access point
and a zone (``NetworkState.ues_by_cell`` lists UEs by serving cell; secondary cells are not
in it). Its ``measurements`` are those of its last report: refreshed every
``measurementPeriod`` ticks (staggered by UE), at attach, at handover and when the operator
moves it. Bearers: the default bearer (E-RAB 5, QCI 9) from attach; each tick an attached UE
toggles a video bearer (E-RAB 6, QCI 7) with probability ``bearerChangeProbability``, drawn from
its own seeded generator.

Events come UE by UE in the scenario's order. Those of one UE in one change share ``before``
(the UE before the change, None if it was not attached) and ``after`` (after it, None if it is
no longer attached), and come in this order: ATTACHED or DETACHED alone, else MOVED, HANDOVER,
ACCESS_POINT_CHANGED, TIMING_ADVANCE, CARRIER_AGGREGATION, BEARER_MODIFIED, MEASUREMENT.
"""

from __future__ import annotations

import math
from dataclasses import replace

from mep.network import radio
from mep.network.layout import Layout, RAp, RCell, RUe
from mep.network.port import (
    EventKind,
    Measurement,
    NetworkEvent,
    NetworkState,
    OperationStatus,
    Position,
    Ue,
)
from mep.network.scenario import Scenario


class UnknownUe(LookupError):
    pass


class UnknownAccessPoint(LookupError):
    pass


_PL_D0 = radio.PL_D0_DB
_PL_PER_LOG_D2 = 5.0 * radio.PATH_LOSS_EXPONENT  # 10·n·log10(d) = 5·n·log10(d²)
_PER_TA_STEP = 1 / radio.TA_STEP_M
_ATTACHED, _MOVED, _HANDOVER = EventKind.ATTACHED, EventKind.MOVED, EventKind.HANDOVER
_AP_CHANGED, _TA = EventKind.ACCESS_POINT_CHANGED, EventKind.TIMING_ADVANCE
_CA, _BEARER = EventKind.CARRIER_AGGREGATION, EventKind.BEARER_MODIFIED
_MEASUREMENT = EventKind.MEASUREMENT
Heard = tuple[float, float, RCell]  # RSRP dBm, squared distance m², cell


def _strength(heard: Heard) -> tuple[float, int]:
    return heard[0], -heard[2].index  # ties go to the cell declared first


class World:
    """One scenario's world. Mutable; the Simulator serialises every change."""

    def __init__(self, scenario: Scenario, start_at: float) -> None:
        self.scenario = scenario
        self.tick = 0
        self.start_at = start_at
        self.at = start_at
        self._layout = layout = Layout(scenario)
        self._cells = layout.cells
        self._aps = layout.aps
        self._free_aps = layout.free_aps
        self._grid = layout.grid
        self._free_grid = layout.free_grid
        self._ues = layout.ues
        self._by_address = layout.by_address
        self._position = layout.position
        self._bearer_change = scenario.bearer_change_probability
        for u in self._ues:
            self._update(u, [], moved=False, immediate=True, measure=True)
        self.snapshot_state = self.snapshot()

    # --- changes ---

    def advance(self) -> list[NetworkEvent]:
        """One tick: every UE moves, then the radio rules apply."""
        self.tick += 1
        self.at = self.start_at + self.tick * self.scenario.tick
        events: list[NetworkEvent] = []
        dt = self.scenario.tick
        period = self.scenario.measurement_period
        tick = self.tick
        update = self._update
        for u in self._ues:
            x, y = u.mover.advance(u.x, u.y, dt)
            moved = x != u.x or y != u.y
            u.x, u.y = x, y
            # Positional: this call runs once per UE and tick.
            update(u, events, moved, False, (tick + u.index) % period == 0, None, True)
        self.snapshot_state = self.snapshot()
        return events

    def move(
        self,
        address: str,
        *,
        position: Position | None = None,
        access_point_id: str | None = None,
    ) -> list[NetworkEvent]:
        """Put a UE at ``position``, or at an access point (then served by its cell if it has
        one), at once: no time-to-trigger. The UE's motion goes on from there."""
        u = self._by_address.get(address)
        if u is None:
            raise UnknownUe(address)
        force = None
        if access_point_id is not None:
            ap = self._aps.get(access_point_id)
            if ap is None:
                raise UnknownAccessPoint(access_point_id)
            u.x, u.y, u.alt, force = ap.x, ap.y, ap.ap.position.altitude, ap.cell
        elif position is not None:
            u.x, u.y = self._layout.projection.to_xy(position.latitude, position.longitude)
            u.alt = position.altitude
        events: list[NetworkEvent] = []
        self._update(u, events, moved=True, immediate=True, measure=True, force=force)
        self.snapshot_state = self.snapshot()
        return events

    def set_status(self, access_point_id: str, status: OperationStatus) -> list[NetworkEvent]:
        """An access point (and its cell) goes in or out of service; UEs it served move on."""
        ap = self._aps.get(access_point_id)
        if ap is None:
            raise UnknownAccessPoint(access_point_id)
        if ap.ap.operation_status is status:
            return []
        ap.ap = replace(ap.ap, operation_status=status)
        ap.on = status is OperationStatus.SERVICEABLE
        if ap.cell is not None:
            ap.cell.on = ap.on
        self._layout.ap_map = self._layout.access_points()
        kind = EventKind.ACCESS_POINT_STATUS
        events = [NetworkEvent(kind, self.at, access_point_id=access_point_id)]
        for u in self._ues:
            self._update(u, events, moved=False, immediate=True, measure=False)
        self.snapshot_state = self.snapshot()
        return events

    # --- the radio rules, per UE ---

    def _update(
        self,
        u: RUe,
        events: list[NetworkEvent],
        moved: bool,
        immediate: bool,
        measure: bool,
        force: RCell | None = None,
        draw: bool = False,
    ) -> None:
        """Apply the radio rules to one UE at its (new) position and record what changed.

        ``immediate``: an operator's change, which skips the time-to-trigger and reports no
        MEASUREMENT; ``force``: the cell to serve the UE if it hears it; ``draw``: a tick, on
        which the UE may toggle its video bearer. This is the simulator's inner loop (once per
        UE and tick): it tracks what changed as it goes rather than diffing whole UEs.
        """
        tick = self.tick
        heard = (
            self._hear(u.x, u.y)
            if u.attach_at <= tick and (u.detach_at is None or tick < u.detach_at)
            else []
        )
        before = u.ue
        if not heard:
            self._out_of_service(u, before, events, moved)
            return
        newly = not u.attached
        serving = self._choose(u, heard, immediate, force)
        handover = not newly and serving is not u.serving
        u.attached, u.serving = True, serving
        ap = serving.ap
        assert ap is not None  # every cell is radiated by an access point
        if self._free_aps:
            ap = self._nearest_free_ap(u.x, u.y, ap)
        previous_ap, u.ap = u.ap, ap
        d2 = 0.0
        for h in heard:
            if h[2] is serving:
                d2 = h[1]
                break
        ta = int(math.sqrt(d2) * _PER_TA_STEP + 0.5)  # radio.timing_advance, inlined
        if ta > radio.TA_MAX:
            ta = radio.TA_MAX
        scells = _secondary_cells(serving, heard) if len(heard) > 1 else ()
        bearers = before.bearers
        toggled = False
        if newly:
            u.video = False
            bearers = self._layout.bearers(u, serving)
        elif draw and u.rng.random() < self._bearer_change:
            u.video, toggled = not u.video, True
            bearers = self._layout.bearers(u, serving)
        elif handover:
            bearers = self._layout.bearers(u, serving)
        measurements = _measure(serving, heard) if newly or handover or measure else None
        position = self._position(u.x, u.y, u.alt) if moved else before.position
        ap_changed = ap is not previous_ap
        ta_changed = ta != before.timing_advance
        ca_changed = scells != before.secondary_cell_ids
        if newly or handover or toggled or ap_changed or ta_changed or ca_changed or measurements:
            after = _evolve(
                before,
                position=position,
                attached=True,
                serving_cell_id=serving.cell_id,
                access_point_id=ap.ap.access_point_id,
                zone_id=ap.ap.zone_id,
                measurements=measurements or before.measurements,
                bearers=bearers,
                secondary_cell_ids=scells,
                timing_advance=ta,
                speed_mps=u.mover.speed,
            )
        else:  # the usual tick of a UE: it only moved
            after = _moved(before, position, u.mover.speed)
        u.ue = after
        at, address, add = self.at, u.address, events.append
        if newly:
            add(NetworkEvent(_ATTACHED, at, address, None, after))
            return
        if moved and (not immediate or position != before.position):
            add(NetworkEvent(_MOVED, at, address, before, after))
        if handover:
            add(NetworkEvent(_HANDOVER, at, address, before, after))
        if ap_changed:
            add(NetworkEvent(_AP_CHANGED, at, address, before, after))
        if ta_changed:
            add(NetworkEvent(_TA, at, address, before, after))
        if ca_changed:
            add(NetworkEvent(_CA, at, address, before, after))
        if toggled:
            add(NetworkEvent(_BEARER, at, address, before, after))
        if measure and not immediate:
            add(NetworkEvent(_MEASUREMENT, at, address, before, after))

    def _out_of_service(self, u: RUe, before: Ue, events: list[NetworkEvent], moved: bool) -> None:
        was = u.attached
        u.attached, u.serving, u.pending, u.ap, u.video = False, None, None, None, False
        if not was and not moved and before.speed_mps == u.mover.speed:
            return
        u.ue = Ue(
            address=before.address,
            ipv4=before.ipv4,
            associate_id=before.associate_id,
            position=self._position(u.x, u.y, u.alt) if moved else before.position,
            attached=False,
            mmec=before.mmec,
            mtmsi=before.mtmsi,
            speed_mps=u.mover.speed,
        )
        if was:
            events.append(NetworkEvent(EventKind.DETACHED, self.at, u.address, before, None))

    def _hear(self, x: float, y: float) -> list[Heard]:
        heard: list[Heard] = []
        cells = self._cells
        log10 = math.log10
        for i in self._grid.near(x, y):
            cell = cells[i]
            dx, dy = x - cell.x, y - cell.y
            d2 = dx * dx + dy * dy
            if d2 <= cell.r2 and cell.on:
                # radio.rsrp_from_d2, inlined: this runs for every UE and nearby cell.
                rsrp = cell.re_power - _PL_D0 - _PL_PER_LOG_D2 * log10(d2 if d2 > 1.0 else 1.0)
                heard.append((rsrp, d2, cell))
        return heard

    def _choose(self, u: RUe, heard: list[Heard], immediate: bool, force: RCell | None) -> RCell:
        """The serving cell after this change (see :mod:`mep.network.radio`)."""
        serving = u.serving if u.attached else None
        best: RCell | None = None
        best_rsrp = -math.inf
        serving_rsrp: float | None = None
        for rsrp, _, cell in heard:  # in cell order: a tie goes to the cell declared first
            if cell is force:
                u.pending = None
                return force
            if rsrp > best_rsrp:
                best, best_rsrp = cell, rsrp
            if cell is serving:
                serving_rsrp = rsrp
        assert best is not None
        if serving is None:
            u.pending = None
            return best
        if best is serving or not radio.wants_handover(serving_rsrp, best_rsrp):
            u.pending = None
            return serving
        if serving_rsrp is None or immediate:
            u.pending = None
            return best
        if u.pending is best:
            u.pending_ticks += 1
        else:
            u.pending, u.pending_ticks = best, 0
        if u.pending_ticks >= radio.TIME_TO_TRIGGER_TICKS:
            u.pending = None
            return best
        return serving

    def _nearest_free_ap(self, x: float, y: float, ap: RAp) -> RAp:
        best = (x - ap.x) ** 2 + (y - ap.y) ** 2
        for i in self._free_grid.near(x, y):
            candidate = self._free_aps[i]
            d2 = (x - candidate.x) ** 2 + (y - candidate.y) ** 2
            if candidate.on and d2 <= candidate.r2 and d2 < best:
                ap, best = candidate, d2
        return ap

    # --- reading ---

    def ue(self, address: str) -> Ue:
        u = self._by_address.get(address)
        if u is None:
            raise UnknownUe(address)
        return u.ue

    def ues(self) -> list[Ue]:
        """Every UE of the scenario, detached ones included (``attached`` false)."""
        return [u.ue for u in self._ues]

    def snapshot(self) -> NetworkState:
        return self._layout.snapshot(self.at)


def _secondary_cells(serving: RCell, heard: list[Heard]) -> tuple[str, ...]:
    group = serving.ca_group
    same: list[Heard] = []
    for h in heard:
        cell = h[2]
        if cell.ca_group == group and cell is not serving:
            same.append(h)
    if not same:
        return ()
    if len(same) == 1:
        return (same[0][2].cell_id,)
    same.sort(key=_strength, reverse=True)
    return tuple(h[2].cell_id for h in same[: radio.MAX_SECONDARY_CELLS])


def _evolve(ue: Ue, **changes: object) -> Ue:
    """``dataclasses.replace`` for the inner loop: copies the fields without re-running the
    frozen ``__init__`` (a guarded ``setattr`` per field, four times slower), since a tick makes
    one UE per moving UE: 10,000 a tick in the benchmark scenario."""
    new = object.__new__(Ue)
    fields = new.__dict__
    fields.update(ue.__dict__)
    fields.update(changes)
    return new


def _moved(ue: Ue, position: Position, speed: float) -> Ue:
    """``_evolve(ue, position=position, speed_mps=speed)``, the usual tick of a UE, without
    building a keyword dictionary."""
    new = object.__new__(Ue)
    fields = new.__dict__
    fields.update(ue.__dict__)
    fields["position"] = position
    fields["speed_mps"] = speed
    return new


def _measure(serving: RCell, heard: list[Heard]) -> tuple[Measurement, ...]:
    ordered = sorted(heard, key=_strength, reverse=True)
    ordered.sort(key=lambda h: h[2] is not serving)  # stable: serving first, then strongest
    powers = [r for r, _, _ in heard]
    return tuple(
        Measurement(
            cell.cell.cell_id,
            round(radio.clamp_rsrp(rsrp), 1),
            round(radio.rsrq_db(rsrp, powers), 1),
        )
        for rsrp, _, cell in ordered
    )

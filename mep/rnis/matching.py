"""From one network change (its events, in order) to the notifications it causes.

Which events cause which notifications (GS MEC 012 clause 5 and 6.4):

* HANDOVER: CellChangeNotification (hoStatus COMPLETED, from the source cell to the target);
  an S1BearerNotification MODIFY when the handover moved the bearers' tunnel ends.
* ATTACHED, DETACHED, BEARER_MODIFIED: the UE's E-RABs are compared before and after. Added
  ones are RabEst and S1Bearer ESTABLISH, removed ones RabRel and S1Bearer RELEASE, ones whose
  QoS changed RabMod and S1Bearer MODIFY (so a modification that adds a bearer also reports it).
* MEASUREMENT: MeasRepUeNotification for a UE in an E-UTRAN cell, NrMeasRepUeNotification for
  one in an NR cell, naming the trigger the report meets (``mep.rnis.triggers``).
* Timing advance and carrier aggregation: per UE, the UE as it was before its first event of
  the change is compared with the UE after its last one. A different timing advance is a
  MeasTaNotification, different secondary cells a CaReconfNotification: one each per UE and
  change, whichever events (MOVED, TIMING_ADVANCE, CARRIER_AGGREGATION) brought it.

Each event looks up only the subscriptions that can match it (``SubscriptionIndex``); a type no
subscription has costs nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from mep.core.notify.deliveries import Target
from mep.network.port import Bearer, EventKind, NetworkEvent, NetworkState, Rat, Ue
from mep.rnis import notifications as bodies
from mep.rnis import triggers
from mep.rnis.index import Entry, SubscriptionIndex
from mep.rnis.models import HO_COMPLETED, SubscriptionType
from mep.rnis.radio import Body, CellKey, Cells, serving, serving_measurement

Type = SubscriptionType
ESTABLISH, MODIFY, RELEASE = 1, 2, 3
BEARER_EVENTS = frozenset({EventKind.ATTACHED, EventKind.DETACHED, EventKind.BEARER_MODIFIED})
#: Whether an event's UE may have changed timing advance or secondary cells.
TRACKED = frozenset(
    {
        EventKind.MOVED,
        EventKind.TIMING_ADVANCE,
        EventKind.CARRIER_AGGREGATION,
        EventKind.HANDOVER,
        EventKind.MEASUREMENT,
    }
)


def _qos(bearer: Bearer) -> tuple[int, int, int, int, int]:
    return (bearer.qci, bearer.mbr_dl, bearer.mbr_ul, bearer.gbr_dl, bearer.gbr_ul)


def _tunnels(bearer: Bearer) -> tuple[str, str, str, str]:
    return (bearer.enb_address, bearer.enb_teid, bearer.sgw_address, bearer.sgw_teid)


class Evaluation:
    """The notifications of one network change: ``Evaluation(...).run(events)``."""

    def __init__(self, index: SubscriptionIndex, state: NetworkState, now: float) -> None:
        self._index = index
        self._cells = Cells.of(state)
        self._now = now
        self.out: list[tuple[Target, Body]] = []
        #: (UE, notification, S1 event, E-RAB) already reported in this change: a handover and
        #: a bearer modification of one UE in one change carry the same before and after.
        self._reported: set[tuple[str, str, int, int]] = set()

    def run(self, events: Sequence[NetworkEvent]) -> list[tuple[Target, Body]]:
        index = self._index
        track = index.has(Type.MEAS_TA) or index.has(Type.CA_RECONF)
        cell_change = index.has(Type.CELL_CHANGE)
        bearers = any(
            index.has(t) for t in (Type.RAB_EST, Type.RAB_MOD, Type.RAB_REL, Type.S1_BEARER)
        )
        reports = index.has(Type.MEAS_REP_UE) or index.has(Type.NR_MEAS_REP_UE)
        first: dict[str, Ue] = {}
        last: dict[str, tuple[Ue, float]] = {}
        for event in events:
            before, after, kind = event.before, event.after, event.kind
            if kind is EventKind.HANDOVER and serving(before) and serving(after):
                if cell_change:
                    self._handover(before, after, event.at)
                if bearers:
                    self._bearers(before, after, event.at, rab=False)
            elif kind in BEARER_EVENTS and bearers:
                self._bearers(before, after, event.at, rab=True)
            elif kind is EventKind.MEASUREMENT and reports and after is not None:
                self._measurement(after, event.at)
            if track and kind in TRACKED and serving(before) and serving(after):
                first.setdefault(after.address, before)
                last[after.address] = (after, event.at)
        for address, (after, at) in last.items():
            self._tracked(first[address], after, at)
        return self.out

    def _emit(
        self,
        kind: SubscriptionType,
        ue: Ue,
        cells: Sequence[CellKey | None],
        build: Callable[[Entry], Body | None],
    ) -> None:
        for entry in self._index.candidates(kind, ue.associate_id, cells):
            if not entry.live(self._now) or not entry.criteria.accepts(ue.associate_id, cells):
                continue
            body = build(entry)
            if body is not None:
                linked = {**body, "_links": {"subscription": {"href": entry.href}}}
                self.out.append((entry.target, linked))

    def _handover(self, before: Ue, after: Ue, at: float) -> None:
        cells = self._cells
        if before.serving_cell_id not in cells.ecgis or after.serving_cell_id not in cells.ecgis:
            return
        body = bodies.cell_change(before, after, cells, at)
        keys = [cells.key(before.serving_cell_id), cells.key(after.serving_cell_id)]

        def build(entry: Entry) -> Body | None:
            statuses = entry.criteria.ho_status or {HO_COMPLETED}
            return body if HO_COMPLETED in statuses else None

        self._emit(Type.CELL_CHANGE, after, keys, build)

    def _bearers(self, before: Ue | None, after: Ue | None, at: float, *, rab: bool) -> None:
        old = {b.erab_id: b for b in before.bearers} if before and serving(before) else {}
        new = {b.erab_id: b for b in after.bearers} if after and serving(after) else {}
        added = [b for i, b in new.items() if i not in old]
        removed = [b for i, b in old.items() if i not in new]
        changed = [b for i, b in new.items() if i in old and _qos(b) != _qos(old[i])]
        moved = [b for i, b in new.items() if i in old and _tunnels(b) != _tunnels(old[i])]
        if after is not None and after.serving_cell_id in self._cells.ecgis:
            if rab:
                self._rab(Type.RAB_EST, after, added, at, bodies.rab_est, old)
                self._rab(Type.RAB_MOD, after, changed, at, bodies.rab_mod, old)
            self._s1(ESTABLISH, after, added, at)
            self._s1(MODIFY, after, list({b.erab_id: b for b in (*changed, *moved)}.values()), at)
        if before is not None and before.serving_cell_id in self._cells.ecgis:
            if rab:
                self._rab(Type.RAB_REL, before, removed, at, bodies.rab_rel, old)
            self._s1(RELEASE, before, removed, at)

    def _rab(
        self,
        kind: SubscriptionType,
        ue: Ue,
        bearers: list[Bearer],
        at: float,
        build: Callable[[Ue, Bearer, str, Cells, float], Body],
        old: dict[int, Bearer],
    ) -> None:
        assert ue.serving_cell_id is not None
        cell_id, cells = ue.serving_cell_id, self._cells
        keys = [cells.key(cell_id)]
        for bearer in self._first_time(ue, kind.value, 0, bearers):
            # RabMod matches on the QCI before or after the modification.
            previous = old.get(bearer.erab_id)
            qcis = {bearer.qci} if previous is None else {bearer.qci, previous.qci}
            made = _Lazy(functools.partial(build, ue, bearer, cell_id, cells, at))
            self._emit(kind, ue, keys, _rab_filter(bearer.erab_id, qcis, made))

    def _first_time(self, ue: Ue, kind: str, event: int, bearers: list[Bearer]) -> list[Bearer]:
        fresh = []
        for bearer in bearers:
            key = (ue.address, kind, event, bearer.erab_id)
            if key not in self._reported:
                self._reported.add(key)
                fresh.append(bearer)
        return fresh

    def _s1(self, event: int, ue: Ue, bearers: list[Bearer], at: float) -> None:
        bearers = self._first_time(ue, Type.S1_BEARER.value, event, bearers)
        if not bearers:
            return
        assert ue.serving_cell_id is not None
        cell_id, cells = ue.serving_cell_id, self._cells

        def pick(entry: Entry) -> Body | None:
            criteria = entry.criteria
            if event not in criteria.events:
                return None
            kept = [b for b in bearers if not criteria.erab_ids or b.erab_id in criteria.erab_ids]
            if not kept:
                return None
            return bodies.s1_bearer_event(event, ue, kept, cell_id, cells, at)

        self._emit(Type.S1_BEARER, ue, [cells.key(cell_id)], pick)

    def _measurement(self, ue: Ue, at: float) -> None:
        cells = self._cells
        measured = serving_measurement(ue) if serving(ue) else None
        if measured is None or ue.serving_cell_id not in cells.ecgis:
            return  # a report without the serving cell's RSRP and RSRQ cannot be made
        assert ue.serving_cell_id is not None
        nr = cells.rats[ue.serving_cell_id] is Rat.NR
        found = triggers.met(ue, measured, cells.rats)
        build = bodies.nr_meas_rep_ue if nr else bodies.meas_rep_ue
        built: dict[int, Body] = {}

        def pick(entry: Entry) -> Body | None:
            trigger = triggers.choose(found, entry.criteria.triggers)
            if trigger is None:
                return None
            if trigger not in built:
                built[trigger] = build(ue, measured, trigger, cells, at)
            return built[trigger]

        kind = Type.NR_MEAS_REP_UE if nr else Type.MEAS_REP_UE
        self._emit(kind, ue, [cells.key(ue.serving_cell_id)], pick)

    def _tracked(self, before: Ue, after: Ue, at: float) -> None:
        """Timing advance and carrier aggregation, net of all the UE's events of the change."""
        cells = self._cells
        if after.serving_cell_id not in cells.ecgis:
            return
        keys = [cells.key(after.serving_cell_id)]
        if before.timing_advance != after.timing_advance:
            body = bodies.meas_ta(after, cells, at)
            self._emit(Type.MEAS_TA, after, keys, lambda entry: body)
        if set(before.secondary_cell_ids) != set(after.secondary_cell_ids):
            reconf = bodies.ca_reconf(before, after, cells, at)
            self._emit(Type.CA_RECONF, after, keys, lambda entry: reconf)


class _Lazy:
    """A body built on first use, then shared by every subscriber it goes to."""

    def __init__(self, make: Callable[[], Body]) -> None:
        self._make = make
        self._body: Body | None = None

    def __call__(self) -> Body:
        if self._body is None:
            self._body = self._make()
        return self._body


def _rab_filter(erab_id: int, qcis: set[int], made: _Lazy) -> Callable[[Entry], Body | None]:
    def pick(entry: Entry) -> Body | None:
        criteria = entry.criteria
        if criteria.qci not in qcis or (criteria.erab_ids and erab_id not in criteria.erab_ids):
            return None
        return made()

    return pick

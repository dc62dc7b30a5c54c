"""Which measurement report triggers a UE's report meets (MEC 012 ``Trigger`` and ``TriggerNr``).

The network source says when a report is due (a MEASUREMENT event); it does not say why. The
platform plays the part of the RAN's measurement configuration (TS 36.331 5.5.4, TS 38.331
5.5.4) with one fixed configuration, and evaluates the entry condition of each event it supports
on the measurements the report carries:

* periodical (LTE 1 PERIODICAL_REPORT_STRONGEST_CELLS, NR 1 NR_PERIODICAL): every report;
* A1: the serving cell is better than -80 dBm;
* A2: the serving cell is worse than -110 dBm;
* A3: a neighbour of the same RAT is 3 dB better than the serving cell;
* A4: a neighbour of the same RAT is better than -100 dBm;
* A5: the serving cell is worse than -110 dBm and a same-RAT neighbour better than -100 dBm;
* B1 (LTE 20 EVENT_B1, NR 30 EVENT_B1): a neighbour of the other RAT is better than -100 dBm.

The condition is taken as it holds at the report (the RAN repeats event-triggered reports while
the condition holds, ``reportAmount`` > 1). Every other trigger value is accepted in filters
and never met. A report names one trigger: the first event trigger met, in the order above,
among those the subscription asks for (any, when it asks for none); periodical comes last.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from mep.network.port import Measurement, Rat, Ue

PERIODICAL = 1
A1, A2, A3, A4, A5 = 10, 11, 12, 13, 14
B1_LTE = 20
B1_NR = 30

A1_SERVING_ABOVE_DBM = -80.0
A2_SERVING_BELOW_DBM = -110.0
A3_OFFSET_DB = 3.0
A4_NEIGHBOUR_ABOVE_DBM = -100.0
B1_NEIGHBOUR_ABOVE_DBM = -100.0


def met(ue: Ue, serving: Measurement, rats: Mapping[str, Rat]) -> list[int]:
    """The triggers ``ue``'s report meets, in reporting priority; periodical always, last."""
    rat = rats.get(serving.cell_id, Rat.LTE)
    same: list[Measurement] = []
    other: list[Measurement] = []
    for m in ue.measurements:
        if m.cell_id != serving.cell_id and m.cell_id in rats:
            (same if rats[m.cell_id] is rat else other).append(m)
    best_same = max((m.rsrp_dbm for m in same), default=None)
    best_other = max((m.rsrp_dbm for m in other), default=None)
    found: list[int] = []
    if serving.rsrp_dbm > A1_SERVING_ABOVE_DBM:
        found.append(A1)
    if serving.rsrp_dbm < A2_SERVING_BELOW_DBM:
        found.append(A2)
    if best_same is not None:
        if best_same > serving.rsrp_dbm + A3_OFFSET_DB:
            found.append(A3)
        if best_same > A4_NEIGHBOUR_ABOVE_DBM:
            found.append(A4)
            if serving.rsrp_dbm < A2_SERVING_BELOW_DBM:
                found.append(A5)
    if best_other is not None and best_other > B1_NEIGHBOUR_ABOVE_DBM:
        found.append(B1_NR if rat is Rat.NR else B1_LTE)
    found.append(PERIODICAL)
    return found


def choose(found: list[int], wanted: Collection[int]) -> int | None:
    """The trigger a subscription's report names, or None when it asks for none of ``found``."""
    if not wanted:
        return found[0]
    return next((t for t in found if t in wanted), None)

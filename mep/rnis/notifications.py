"""RNIS notification bodies (GS MEC 012 6.4), built from the UEs an event carries.

Each body also carries ``_links.subscription`` (added per subscriber by the matcher), as GS MEC
012 V2.2.1 does, so a client with several subscriptions on one callback can tell them apart.
"""

from __future__ import annotations

from collections.abc import Sequence

from mep.network.port import Bearer, Measurement, Rat, Ue
from mep.rnis.radio import (
    Body,
    Cells,
    associate_ids,
    erab_info,
    lte_rsrp,
    lte_rsrq,
    nr_rsrp,
    nr_rsrq,
    qos_information,
    s1_bearer,
    temp_ue_id,
    time_stamp,
)

HO_COMPLETED = 3


def _base(notification_type: str, ue: Ue) -> Body:
    return {"notificationType": notification_type, "associateId": associate_ids(ue)}


def _stamped(body: Body, at: float) -> Body:
    body["timeStamp"] = time_stamp(at)
    return body


def cell_change(before: Ue, after: Ue, cells: Cells, at: float) -> Body:
    """CellChangeNotification (6.4.2): a completed handover from ``before``'s serving cell."""
    assert before.serving_cell_id is not None
    assert after.serving_cell_id is not None
    body = _base("CellChangeNotification", after)
    body["hoStatus"] = HO_COMPLETED
    body["srcEcgi"] = cells.ecgis[before.serving_cell_id]
    body["trgEcgi"] = [cells.ecgis[after.serving_cell_id]]
    if (temp := temp_ue_id(after)) is not None:
        body["tempUeId"] = temp
    return _stamped(body, at)


def rab_est(ue: Ue, bearer: Bearer, cell_id: str, cells: Cells, at: float) -> Body:
    """RabEstNotification (6.4.3)."""
    body = _base("RabEstNotification", ue)
    body["ecgi"] = cells.ecgis[cell_id]
    body.update(erab_info(bearer))
    if (temp := temp_ue_id(ue)) is not None:
        body["tempUeId"] = temp
    return _stamped(body, at)


def rab_mod(ue: Ue, bearer: Bearer, cell_id: str, cells: Cells, at: float) -> Body:
    """RabModNotification (6.4.4): the E-RAB as modified (``qosInformation`` is required in
    ``ErabQosParameters2``, so it is given for every bearer)."""
    body = _base("RabModNotification", ue)
    body["ecgi"] = cells.ecgis[cell_id]
    body["erabId"] = bearer.erab_id
    body["erabQosParameters"] = {"qci": bearer.qci, "qosInformation": qos_information(bearer)}
    return _stamped(body, at)


def rab_rel(ue: Ue, bearer: Bearer, cell_id: str, cells: Cells, at: float) -> Body:
    """RabRelNotification (6.4.5)."""
    body = _base("RabRelNotification", ue)
    body["ecgi"] = cells.ecgis[cell_id]
    body["erabReleaseInfo"] = {"erabId": bearer.erab_id}
    return _stamped(body, at)


def s1_bearer_event(
    event: int, ue: Ue, bearers: Sequence[Bearer], cell_id: str, cells: Cells, at: float
) -> Body:
    """S1BearerNotification (6.4.10): ``s1Event`` 1 ESTABLISH, 2 MODIFY, 3 RELEASE."""
    info: Body = {
        "associateId": associate_ids(ue),
        "ecgi": [cells.ecgis[cell_id]],
        "s1BearerInfo": [s1_bearer(b) for b in bearers],
    }
    if (temp := temp_ue_id(ue)) is not None:
        info["tempUeId"] = temp
    body: Body = {"notificationType": "S1BearerNotification", "s1Event": event, "s1UeInfo": info}
    return _stamped(body, at)


def meas_rep_ue(ue: Ue, serving: Measurement, trigger: int, cells: Cells, at: float) -> Body:
    """MeasRepUeNotification (6.4.6): an E-UTRAN UE's report, its E-UTRAN and NR neighbours."""
    assert ue.serving_cell_id is not None
    body = _base("MeasRepUeNotification", ue)
    body["ecgi"] = cells.ecgis[ue.serving_cell_id]
    body["rsrp"] = lte_rsrp(serving.rsrp_dbm)
    body["rsrq"] = lte_rsrq(serving.rsrq_db)
    body["trigger"] = trigger
    lte: list[Body] = []
    nr: list[Body] = []
    for m in ue.measurements:
        if m.cell_id == ue.serving_cell_id or m.cell_id not in cells.ecgis:
            continue
        if cells.rats[m.cell_id] is Rat.NR:
            ecgi = cells.ecgis[m.cell_id]
            info = {"nrNCellGId": m.cell_id, "nrNCellPlmn": [ecgi["plmn"]]}
            nr.append(
                {
                    "nrNCellInfo": [info],
                    "nrNCellRsrp": nr_rsrp(m.rsrp_dbm),
                    "nrNCellRsrq": nr_rsrq(m.rsrq_db),
                }
            )
        else:
            lte.append(
                {
                    "ecgi": cells.ecgis[m.cell_id],
                    "rsrp": lte_rsrp(m.rsrp_dbm),
                    "rsrq": lte_rsrq(m.rsrq_db),
                }
            )
    if lte:
        body["eutranNeighbourCellMeasInfo"] = lte
    if nr:
        body["newRadioMeasNeiInfo"] = nr
    body["heightUe"] = round(ue.position.altitude)
    return _stamped(body, at)


def nr_meas_rep_ue(ue: Ue, serving: Measurement, trigger: int, cells: Cells, at: float) -> Body:
    """NrMeasRepUeNotification (6.4.11): a 5G UE's report. Its NR neighbours when it measured
    any, else its E-UTRA ones: the two lists exclude each other."""
    assert ue.serving_cell_id is not None
    nrcgi = cells.nrcgi(ue.serving_cell_id)
    body = _base("NrMeasRepUeNotification", ue)
    body["triggerNr"] = trigger
    body["servCellMeasInfo"] = [
        {"nrcgi": nrcgi, "sCell": {"measQuantityResultsSsbCell": _nr_quantities(serving)}}
    ]
    nr: list[Body] = []
    lte: list[Body] = []
    for m in ue.measurements:
        if m.cell_id == ue.serving_cell_id or m.cell_id not in cells.ecgis:
            continue
        if cells.rats[m.cell_id] is Rat.NR:
            nr.append({"nrcgi": m.cell_id, "measQuantityResultsSsbCell": _nr_quantities(m)})
        else:
            lte.append(
                {
                    "ecgi": cells.ecgis[m.cell_id],
                    "rsrp": lte_rsrp(m.rsrp_dbm),
                    "rsrq": lte_rsrq(m.rsrq_db),
                }
            )
    if nr:
        body["nrNeighCellMeasInfo"] = nr
    elif lte:
        body["eutraNeighCellMeasInfo"] = lte
    return _stamped(body, at)


def _nr_quantities(m: Measurement) -> Body:
    return {"rsrp": nr_rsrp(m.rsrp_dbm), "rsrq": nr_rsrq(m.rsrq_db)}


def meas_ta(ue: Ue, cells: Cells, at: float) -> Body:
    """MeasTaNotification (6.4.7)."""
    assert ue.serving_cell_id is not None
    body = _base("MeasTaNotification", ue)
    body["ecgi"] = cells.ecgis[ue.serving_cell_id]
    body["timingAdvance"] = ue.timing_advance
    return _stamped(body, at)


def ca_reconf(before: Ue, after: Ue, cells: Cells, at: float) -> Body:
    """CaReconfNotification (6.4.8): secondary cells added and removed, and the measurements
    of the secondary cells now in use."""
    assert after.serving_cell_id is not None
    old, new = set(before.secondary_cell_ids), set(after.secondary_cell_ids)
    body = _base("CaReconfNotification", after)
    body["ecgi"] = cells.ecgis[after.serving_cell_id]
    known = cells.ecgis
    added = [{"ecgi": known[c]} for c in after.secondary_cell_ids if c not in old and c in known]
    removed = [{"ecgi": known[c]} for c in before.secondary_cell_ids if c not in new and c in known]
    if added:
        body["secondaryCellAdd"] = added
    if removed:
        body["secondaryCellRemove"] = removed
    measured = {m.cell_id: m for m in after.measurements}
    info = [
        {"cellIdSrv": m.cell_id, "rsrpSrv": lte_rsrp(m.rsrp_dbm), "rsrqSrv": lte_rsrq(m.rsrq_db)}
        for cell_id in after.secondary_cell_ids
        if (m := measured.get(cell_id)) is not None
    ]
    if info:
        body["carrierAggregationMeasInfo"] = info
    return _stamped(body, at)

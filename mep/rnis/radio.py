"""The network port's objects as GS MEC 012 shows them: Ecgi, AssociateId, TempUeId, TimeStamp,
E-RAB and S1 bearer members, and measurement values on the report scales of TS 36.133 / 38.133.

Bodies are built as plain dicts (the wire names of MEC 012): queries and notifications build
thousands of them per call or per tick, and validating each through a model would cost more than
everything else together. The shapes are checked against the official YAML by the tests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from mep.network.port import Bearer, Cell, Measurement, NetworkState, Rat, Ue

Body = dict[str, Any]
#: A cell as subscription filters name it: (mcc, mnc, cell identity).
CellKey = tuple[str, str, str]

#: TS 23.203 table 6.1.7: the standardised GBR and delay-critical GBR QCIs; every other QCI
#: (5 to 9, 69, 70, 79, 80, operator-specific ones) is non-GBR.
GBR_QCIS = frozenset({1, 2, 3, 4, 65, 66, 67, 71, 72, 73, 74, 75, 76, 82, 83, 84, 85})


def time_stamp(at: float) -> Body:
    seconds = int(at)
    return {"seconds": seconds, "nanoSeconds": int((at - seconds) * 1e9)}


def cell_key(cell: Cell) -> CellKey:
    return (cell.plmn.mcc, cell.plmn.mnc, cell.cell_id)


def plmn(cell: Cell) -> Body:
    return {"mcc": cell.plmn.mcc, "mnc": cell.plmn.mnc}


def ecgi(cell: Cell) -> Body:
    """An Ecgi. MEC 012 V2.1.1 names E-RAB, S1 and L2 cells by Ecgi only; an NR cell appears
    there with its NR cell identity as ``cellId``."""
    return {"cellId": cell.cell_id, "plmn": plmn(cell)}


def associate_ids(ue: Ue) -> list[Body]:
    """The UE's AssociateId: the network knows UEs by IPv4 address (type 1, UE_IPv4_ADDRESS)."""
    return [{"type": 1, "value": ue.associate_id}]


def temp_ue_id(ue: Ue) -> Body | None:
    """TempUeId (MMEC and M-TMSI), when the network assigned one."""
    if ue.mmec and ue.mtmsi:
        return {"mmec": ue.mmec, "mtmsi": ue.mtmsi}
    return None


def s_tmsi(ue: Ue) -> str | None:
    """The ``temp_ue_id`` query value of a UE: its MMEC followed by its M-TMSI (the S-TMSI)."""
    return f"{ue.mmec}{ue.mtmsi}" if ue.mmec and ue.mtmsi else None


def serving(ue: Ue | None) -> TypeGuard[Ue]:
    """Whether ``ue`` is attached to a cell: only such UEs appear in queries and events."""
    return ue is not None and ue.attached and ue.serving_cell_id is not None


def qos_information(bearer: Bearer) -> Body:
    return {
        "erabGbrDl": bearer.gbr_dl,
        "erabGbrUl": bearer.gbr_ul,
        "erabMbrDl": bearer.mbr_dl,
        "erabMbrUl": bearer.mbr_ul,
    }


def erab_info(bearer: Bearer) -> Body:
    """ErabInfo: the E-RAB and its QoS (qosInformation for GBR bearers only, as TS 36.413 has
    GBR QoS information only for GBR E-RABs)."""
    qos: Body = {"qci": bearer.qci}
    if bearer.qci in GBR_QCIS:
        qos["qosInformation"] = qos_information(bearer)
    return {"erabId": bearer.erab_id, "erabQosParameters": qos}


def s1_bearer(bearer: Bearer) -> Body:
    """S1BearerInfoDetailed: the E-RAB and both GTP-U tunnel ends, where the network knows them."""
    body: Body = {"erabId": bearer.erab_id}
    if bearer.enb_address and bearer.enb_teid:
        body["enbInfo"] = {"ipAddress": bearer.enb_address, "tunnelId": bearer.enb_teid}
    if bearer.sgw_address and bearer.sgw_teid:
        body["sGwInfo"] = {"ipAddress": bearer.sgw_address, "tunnelId": bearer.sgw_teid}
    return body


def lte_rsrp(dbm: float) -> int:
    """TS 36.133 9.1.4: RSRP_00 below -140 dBm, RSRP_97 from -44 dBm, 1 dB steps."""
    return min(97, max(0, math.floor(dbm + 141)))


def lte_rsrq(db: float) -> int:
    """TS 36.133 9.1.7: RSRQ_00 below -19.5 dB, RSRQ_34 from -3 dB, 0.5 dB steps."""
    return min(34, max(0, math.floor((db + 20) * 2)))


def nr_rsrp(dbm: float) -> int:
    """TS 38.133 10.1.6: SS-RSRP_0 below -156 dBm, SS-RSRP_126 from -31 dBm, 1 dB steps."""
    return min(127, max(0, math.floor(dbm + 157)))


def nr_rsrq(db: float) -> int:
    """TS 38.133 10.1.11: SS-RSRQ_0 below -43 dB, 0.5 dB steps up to 127 (from 20 dB)."""
    return min(127, max(0, math.floor((db + 43.5) * 2)))


@dataclass(frozen=True, slots=True)
class Cells:
    """Per-cell values computed once per network state (cells are few, events are many)."""

    keys: Mapping[str, CellKey]
    ecgis: Mapping[str, Body]
    rats: Mapping[str, Rat]

    @classmethod
    def of(cls, state: NetworkState) -> Cells:
        cells = state.cells.values()
        return cls(
            {c.cell_id: cell_key(c) for c in cells},
            {c.cell_id: ecgi(c) for c in cells},
            {c.cell_id: c.rat for c in cells},
        )

    def key(self, cell_id: str | None) -> CellKey | None:
        return None if cell_id is None else self.keys.get(cell_id)

    def nrcgi(self, cell_id: str) -> Body:
        ecgi = self.ecgis[cell_id]
        return {"nrcellId": ecgi["cellId"], "plmn": ecgi["plmn"]}


def serving_measurement(ue: Ue) -> Measurement | None:
    for measurement in ue.measurements:
        if measurement.cell_id == ue.serving_cell_id:
            return measurement
    return None

"""One network snapshot with the look-ups RNIS queries need, computed at most once per snapshot.

The network source replaces its state as a whole after each change and never mutates it, so
anything derived from one state stays true for as long as that state is current: the rendered
bodies of whole cells (what an unfiltered ``rab_info`` returns), and the indexes the port does
not carry (GTP TEID and S-TMSI to UE), built on first use.

A UE's ``rab_info`` entry depends only on its identity and its E-RABs, which most changes leave
alone (a UE that moves keeps its ``bearers`` tuple): the encoded entries outlive a state, in a
:class:`UeEntries` cache checked by identity of that tuple, so the first query after a
simulator tick re-encodes only the UEs whose E-RABs changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import orjson

from mep.network.port import Bearer, NetworkSource, NetworkState, Ue
from mep.rnis.radio import GBR_QCIS, Body, Cells, associate_ids, erab_info, s_tmsi, serving


class UeEntries:
    """Encoded ``rab_info`` UeInfo per UE address, valid while the UE keeps its bearers."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[tuple[Bearer, ...], str, bytes]] = {}

    def get(self, ue: Ue) -> bytes:
        found = self._entries.get(ue.address)
        if found is not None and found[0] is ue.bearers and found[1] == ue.associate_id:
            return found[2]
        encoded = orjson.dumps(rab_ue_info(ue, ue.bearers))
        self._entries[ue.address] = (ue.bearers, ue.associate_id, encoded)
        return encoded

    def prune(self, state: NetworkState) -> None:
        """Forget UEs the network no longer has, once they would double the cache."""
        if len(self._entries) > 2 * len(state.ues) + 1000:
            self._entries = {a: e for a, e in self._entries.items() if a in state.ues}


class View:
    def __init__(self, state: NetworkState, entries: UeEntries | None = None) -> None:
        self.state = state
        self._entries = entries or UeEntries()
        self.cells = Cells.of(state)
        self._teids: dict[str, list[str]] | None = None
        self._tmsis: dict[str, str] | None = None
        self._rab_cells: dict[str, bytes | None] = {}
        self._l2_cells: dict[str, Body] = {}

    def ue(self, address: str) -> Ue | None:
        """The UE, if it is attached to a cell (a detached UE is in no query)."""
        ue = self.state.ues.get(address)
        return ue if serving(ue) else None

    def by_ipv4(self, ipv4: str) -> Ue | None:
        address = self.state.ues_by_ipv4.get(ipv4)
        return None if address is None else self.ue(address)

    def in_cell(self, cell_id: str) -> list[Ue]:
        found = []
        for address in self.state.ues_by_cell.get(cell_id, ()):
            member = self.ue(address)
            if member is not None and member.serving_cell_id == cell_id:
                found.append(member)
        return found

    def by_teid(self, teid: str) -> list[Ue]:
        """UEs with a bearer whose eNB or S-GW GTP-U TEID is ``teid``."""
        if self._teids is None:
            teids: dict[str, list[str]] = defaultdict(list)
            for ue in self.state.ues.values():
                for bearer in ue.bearers if serving(ue) else ():
                    for tunnel in {bearer.enb_teid, bearer.sgw_teid} - {""}:
                        teids[tunnel].append(ue.address)
            self._teids = dict(teids)
        found = (self.ue(address) for address in self._teids.get(teid, ()))
        return [member for member in found if member is not None]

    def by_s_tmsi(self, tmsi: str) -> Ue | None:
        if self._tmsis is None:
            self._tmsis = {}
            for ue in self.state.ues.values():
                key = s_tmsi(ue)
                if key is not None and serving(ue):
                    self._tmsis[key] = ue.address
        address = self._tmsis.get(tmsi)
        return None if address is None else self.ue(address)

    def rab_cell(self, cell_id: str) -> bytes | None:
        """The encoded CellUserInfo of every UE with an E-RAB in the cell; None when none has
        (``ueInfo`` has at least one member)."""
        if cell_id not in self._rab_cells:
            users = [self._entries.get(ue) for ue in self.in_cell(cell_id) if ue.bearers]
            self._rab_cells[cell_id] = (
                b"".join(
                    (
                        b'{"ecgi":',
                        orjson.dumps(self.cells.ecgis[cell_id]),
                        b',"ueInfo":[',
                        b",".join(users),
                        b"]}",
                    )
                )
                if users
                else None
            )
        return self._rab_cells[cell_id]

    def l2_cell(self, cell_id: str) -> Body:
        """The CellInfo of a cell (GS MEC 012 6.2.5): its PRB usage as the network reports it,
        and its UEs with GBR and non-GBR bearers established."""
        if cell_id not in self._l2_cells:
            cell = self.state.cells[cell_id]
            gbr = nongbr = 0
            for ue in self.in_cell(cell_id):
                qcis = {b.qci for b in ue.bearers}
                gbr += bool(qcis & GBR_QCIS)
                nongbr += bool(qcis - GBR_QCIS)
            self._l2_cells[cell_id] = {
                "ecgi": self.cells.ecgis[cell_id],
                "dl_total_prb_usage_cell": cell.prb_usage_dl,
                "ul_total_prb_usage_cell": cell.prb_usage_ul,
                "number_of_active_ue_dl_gbr_cell": gbr,
                "number_of_active_ue_ul_gbr_cell": gbr,
                "number_of_active_ue_dl_nongbr_cell": nongbr,
                "number_of_active_ue_ul_nongbr_cell": nongbr,
            }
        return self._l2_cells[cell_id]


def rab_ue_info(ue: Ue, bearers: Sequence[Bearer]) -> Body:
    """UeInfo of ``rab_info``: the UE and the given E-RABs of it."""
    return {"associateId": associate_ids(ue), "erabInfo": [erab_info(b) for b in bearers]}


class Views:
    """The view of the source's current state, replaced when the state is."""

    def __init__(self, source: NetworkSource) -> None:
        self._source = source
        self._view: View | None = None
        self._entries = UeEntries()

    def current(self) -> View:
        state = self._source.state
        if self._view is None or self._view.state is not state:
            self._entries.prune(state)
            self._view = View(state, self._entries)
        return self._view

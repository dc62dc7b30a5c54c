"""The RNIS queries (GS MEC 012 7.3 to 7.5): computed from the network source's current state.

A query narrowed by cell or by UE reads the state's indexes (UEs by cell, by IPv4 address) and
never scans every UE. Filters combine as the specification's attribute filters do: the values of
one parameter are alternatives, different parameters must all hold. A cell or UE named in a
filter that the network does not know (or a UE that is not attached) is a 404; a filter on
values that simply match nothing gives an empty answer, except where the official schema forbids
one (``S1BearerInfo.s1UeInfo`` has at least one member): that is a 404 too.

Every answer is returned encoded (JSON bytes): an unfiltered ``rab_info`` splices the cached
bodies of whole cells instead of rebuilding ten thousand UEs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import orjson

from mep.core.problem import BadRequest, InvalidParam, NotFound
from mep.network.port import Bearer, Ue
from mep.rnis.params import QueryParams
from mep.rnis.radio import Body, associate_ids, s1_bearer, temp_ue_id, time_stamp
from mep.rnis.view import View, rab_ue_info

UE_IDENTITIES = ("ue_ipv4_address", "ue_ipv6_address", "nated_ip_address", "gtp_teid")
RAB_PARAMS = (
    "app_ins_id",
    "cell_id",
    *UE_IDENTITIES,
    "erab_id",
    "qci",
    "erab_mbr_dl",
    "erab_mbr_ul",
    "erab_gbr_dl",
    "erab_gbr_ul",
)
S1_PARAMS = ("temp_ue_id", *UE_IDENTITIES, "cell_id", "erab_id")
#: The per-cell and per-UE metrics of ``layer2_meas`` (GS MEC 012 6.2.5, TS 36.314).
L2_CELL_METRICS = (
    "dl_gbr_prb_usage_cell",
    "ul_gbr_prb_usage_cell",
    "dl_nongbr_prb_usage_cell",
    "ul_nongbr_prb_usage_cell",
    "dl_total_prb_usage_cell",
    "ul_total_prb_usage_cell",
    "received_dedicated_preambles_cell",
    "received_randomly_selected_preambles_low_range_cell",
    "received_randomly_selected_preambles_high_range_cell",
    "number_of_active_ue_dl_gbr_cell",
    "number_of_active_ue_ul_gbr_cell",
    "number_of_active_ue_dl_nongbr_cell",
    "number_of_active_ue_ul_nongbr_cell",
    "dl_gbr_pdr_cell",
    "ul_gbr_pdr_cell",
    "dl_nongbr_pdr_cell",
    "ul_nongbr_pdr_cell",
)
L2_UE_METRICS = tuple(
    f"{direction}_{kind}_{metric}_ue"
    for metric in ("delay", "pdr", "throughput", "data_volume")
    for kind in ("gbr", "nongbr")
    for direction in ("dl", "ul")
)
L2_PARAMS = ("app_ins_id", "cell_id", *UE_IDENTITIES, *L2_CELL_METRICS, *L2_UE_METRICS)


def _not_found(param: str, value: str, what: str) -> NotFound:
    return NotFound(
        f"{what} {value!r} is not known to the network",
        invalid_params=[InvalidParam(f"query {param}", f"no such {what}")],
    )


def select_cells(view: View, params: QueryParams) -> list[str]:
    """The cells named by ``cell_id`` (each must exist), else every cell."""
    named = params.strings("cell_id")
    for cell_id in named:
        if cell_id not in view.state.cells:
            raise _not_found("cell_id", cell_id, "cell")
    return list(dict.fromkeys(named)) if named else list(view.state.cells)


def select_ues(view: View, params: QueryParams, *, temp_ids: bool = False) -> list[Ue] | None:
    """The attached UEs the identity parameters name, or None when none is given."""
    chosen: dict[str, Ue] | None = None
    for param in ("temp_ue_id", *UE_IDENTITIES) if temp_ids else UE_IDENTITIES:
        values = params.strings(param)
        if not values:
            continue
        found: dict[str, Ue] = {}
        for value in values:
            for ue in _resolve(view, param, value):
                found[ue.address] = ue
        chosen = found if chosen is None else {a: u for a, u in chosen.items() if a in found}
    return None if chosen is None else list(chosen.values())


def _resolve(view: View, param: str, value: str) -> list[Ue]:
    if param == "ue_ipv4_address":
        ue = view.by_ipv4(value)
        if ue is None:
            raise _not_found(param, value, "UE IPv4 address")
        return [ue]
    if param == "gtp_teid":
        ues = view.by_teid(value)
        if not ues:
            raise _not_found(param, value, "GTP TEID")
        return ues
    if param == "temp_ue_id":
        ue = view.by_s_tmsi(value)
        if ue is None:
            raise _not_found(param, value, "temporary UE identity (S-TMSI)")
        return [ue]
    # The network identifies UEs by IPv4 address only: no UE has an IPv6 or NATed address.
    raise _not_found(param, value, "UE IPv6 address" if "ipv6" in param else "NATed IP address")


def _by_cell(ues: Iterable[Ue], cells: list[str]) -> dict[str, list[Ue]]:
    wanted = set(cells)
    grouped: dict[str, list[Ue]] = defaultdict(list)
    for ue in ues:
        if ue.serving_cell_id in wanted:
            grouped[ue.serving_cell_id].append(ue)
    return grouped


@dataclass(frozen=True)
class BearerFilter:
    """``rab_info``'s E-RAB filters: every one given must equal the E-RAB's value."""

    erab_id: int | None = None
    qci: int | None = None
    mbr_dl: int | None = None
    mbr_ul: int | None = None
    gbr_dl: int | None = None
    gbr_ul: int | None = None

    @classmethod
    def parse(cls, params: QueryParams) -> BearerFilter:
        return cls(
            params.integer("erab_id"),
            params.integer("qci"),
            params.integer("erab_mbr_dl"),
            params.integer("erab_mbr_ul"),
            params.integer("erab_gbr_dl"),
            params.integer("erab_gbr_ul"),
        )

    @property
    def empty(self) -> bool:
        return self == BearerFilter()

    def keep(self, bearers: Iterable[Bearer]) -> list[Bearer]:
        checks = [
            (name, value)
            for name, value in (
                ("erab_id", self.erab_id),
                ("qci", self.qci),
                ("mbr_dl", self.mbr_dl),
                ("mbr_ul", self.mbr_ul),
                ("gbr_dl", self.gbr_dl),
                ("gbr_ul", self.gbr_ul),
            )
            if value is not None
        ]
        return [b for b in bearers if all(getattr(b, n) == v for n, v in checks)]


def rab_info(view: View, params: QueryParams, requester: str, request_id: str) -> bytes:
    """GS MEC 012 7.3.3.1: RabInfo, the E-RABs of the UEs per cell."""
    cells = select_cells(view, params)
    ues = select_ues(view, params)
    bearers = BearerFilter.parse(params)
    parts: list[bytes] = []
    if ues is None and bearers.empty:
        parts = [body for cell in cells if (body := view.rab_cell(cell)) is not None]
    else:
        grouped = _by_cell(ues, cells) if ues is not None else None
        for cell in cells:
            members = grouped.get(cell, []) if grouped is not None else view.in_cell(cell)
            users = [rab_ue_info(ue, kept) for ue in members if (kept := bearers.keep(ue.bearers))]
            if users:
                parts.append(orjson.dumps({"ecgi": view.cells.ecgis[cell], "ueInfo": users}))
    return b"".join(
        (
            b'{"appInstanceId":',
            orjson.dumps(requester),
            b',"requestId":',
            orjson.dumps(request_id),
            b',"cellUserInfo":[',
            b",".join(parts),
            b'],"timeStamp":',
            orjson.dumps(time_stamp(view.state.at)),
            b"}",
        )
    )


async def plmn_info(
    view: View, app_instance_ids: list[str], exists: Callable[[str], Awaitable[bool]]
) -> bytes:
    """GS MEC 012 7.4.3.1: the PLMNs the MEC host is associated to, per application instance."""
    if not app_instance_ids:
        raise BadRequest(
            "app_ins_id is required",
            invalid_params=[InvalidParam("query app_ins_id", "required")],
        )
    for instance_id in app_instance_ids:
        if not await exists(instance_id):
            raise _not_found("app_ins_id", instance_id, "application instance")
    if not view.state.plmns:
        raise NotFound("the network reports no PLMN")
    plmns = [{"mcc": p.mcc, "mnc": p.mnc} for p in view.state.plmns]
    stamp = time_stamp(view.state.at)
    infos = [
        {"appInstanceId": i, "plmn": plmns, "timeStamp": stamp}
        for i in dict.fromkeys(app_instance_ids)
    ]
    return orjson.dumps(infos)


def s1_bearer_info(view: View, params: QueryParams) -> bytes:
    """GS MEC 012 7.5.3.1: S1BearerInfo, the S1-U bearers per UE."""
    cells = select_cells(view, params)
    ues = select_ues(view, params, temp_ids=True)
    erab_ids = set(params.integers("erab_id"))
    grouped = _by_cell(ues, cells) if ues is not None else None
    infos: list[Body] = []
    for cell in cells:
        for ue in grouped.get(cell, []) if grouped is not None else view.in_cell(cell):
            kept = [b for b in ue.bearers if not erab_ids or b.erab_id in erab_ids]
            if not kept:
                continue
            info: Body = {
                "associateId": associate_ids(ue),
                "ecgi": [view.cells.ecgis[cell]],
                "s1BearerInfoDetailed": [s1_bearer(b) for b in kept],
            }
            if (temp := temp_ue_id(ue)) is not None:
                info["tempUeId"] = temp
            infos.append(info)
    if not infos:
        raise NotFound("no S1 bearer matches the query")
    return orjson.dumps({"s1UeInfo": infos, "timeStamp": time_stamp(view.state.at)})


def layer2_meas(view: View, params: QueryParams) -> bytes:
    """GS MEC 012 7.5a.3.1: L2Meas. Metric filters are equalities on the values reported; a
    metric the network does not report matches nothing."""
    cells = select_cells(view, params)
    ues = select_ues(view, params)
    cell_filters = _metric_filters(params, L2_CELL_METRICS)
    ue_filters = _metric_filters(params, L2_UE_METRICS)
    grouped = _by_cell(ues, cells) if ues is not None else None
    cell_infos: list[Body] = []
    ue_infos: list[Body] = []
    for cell in cells:
        if grouped is not None and cell not in grouped:
            continue
        info = view.l2_cell(cell)
        if not _meets(info, cell_filters):
            continue
        cell_infos.append(info)
        for ue in grouped[cell] if grouped is not None else view.in_cell(cell):
            ue_info: Body = {"associateId": associate_ids(ue)[0], "ecgi": info["ecgi"]}
            if _meets(ue_info, ue_filters):
                ue_infos.append(ue_info)
    body = {"cellInfo": cell_infos, "cellUEInfo": ue_infos, "timeStamp": time_stamp(view.state.at)}
    return orjson.dumps(body)


def _metric_filters(params: QueryParams, names: tuple[str, ...]) -> dict[str, int]:
    return {n: v for n in names if (v := params.integer(n)) is not None}


def _meets(info: Body, filters: dict[str, int]) -> bool:
    return all(info.get(name) == value for name, value in filters.items())

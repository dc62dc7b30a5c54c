"""RNIS queries (GS MEC 012 7.3 to 7.5a) over HTTP, on SQLite and Redis, answered from the
network a StaticNetworkSource publishes (``fixtures.network``)."""

from __future__ import annotations

from typing import Any

from fixtures.apps import App, new_app
from fixtures.network import (
    CELL_1,
    CELL_2,
    NR_CELL,
    PLMN,
    START,
    UE_2,
    TinyNetwork,
    ecgi,
)
from fixtures.problems import params, problem
from test_rnis_support import API, Client, check

from mep.network.static import StaticNetworkSource

RAB = f"{API}/queries/rab_info"
PLMN_INFO = f"{API}/queries/plmn_info"
S1 = f"{API}/queries/s1_bearer_info"
L2 = f"{API}/queries/layer2_meas"
STAMP = {"seconds": int(START), "nanoSeconds": 0}


async def get(client: Client, app: App, path: str, status: int = 200, **query: Any) -> Any:
    response = await client.get(path, params=query, headers=app.headers)
    template = path.removeprefix(API)
    if status != 200:
        body = await problem(response, status)
        check(template, "get", status, body)
        return body
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    check(template, "get", 200, body)
    return body


def erabs(rab: dict[str, Any]) -> dict[tuple[str, str], list[tuple[int, int]]]:
    """(cell, UE address) to its (erabId, qci) pairs."""
    return {
        (cell["ecgi"]["cellId"], ue["associateId"][0]["value"]): [
            (e["erabId"], e["erabQosParameters"]["qci"]) for e in ue["erabInfo"]
        ]
        for cell in rab["cellUserInfo"]
        for ue in cell["ueInfo"]
    }


async def test_rab_info_and_its_filters(
    network_client: tuple[Client, StaticNetworkSource], operator: dict[str, str]
) -> None:
    client, _ = network_client
    app = await new_app(client, operator, "rnis-q")

    everything = await get(client, app, RAB)
    assert everything["appInstanceId"] == "rnis-q"
    assert everything["requestId"]
    assert everything["timeStamp"] == STAMP
    assert erabs(everything) == {
        (CELL_1, "10.0.0.1"): [(5, 9), (6, 1)],
        (CELL_2, "10.0.0.2"): [(5, 9)],
        (NR_CELL, "10.0.0.3"): [(5, 9)],
    }
    cell_1 = everything["cellUserInfo"][0]
    assert cell_1["ecgi"] == ecgi(CELL_1)
    gbr = cell_1["ueInfo"][0]["erabInfo"][1]["erabQosParameters"]
    assert gbr["qosInformation"] == {
        "erabGbrDl": 1000,
        "erabGbrUl": 500,
        "erabMbrDl": 2000,
        "erabMbrUl": 1000,
    }

    by_cell = await get(client, app, RAB, cell_id=CELL_2, app_ins_id="other")
    assert by_cell["appInstanceId"] == "other"
    assert erabs(by_cell) == {(CELL_2, "10.0.0.2"): [(5, 9)]}
    listed = await get(client, app, RAB, cell_id=f"{CELL_1},{NR_CELL}")
    assert set(erabs(listed)) == {(CELL_1, "10.0.0.1"), (NR_CELL, "10.0.0.3")}
    by_ue = await get(client, app, RAB, ue_ipv4_address="10.0.0.2")
    assert erabs(by_ue) == {(CELL_2, "10.0.0.2"): [(5, 9)]}
    by_qci = await get(client, app, RAB, qci="1")
    assert erabs(by_qci) == {(CELL_1, "10.0.0.1"): [(6, 1)]}
    by_rate = await get(client, app, RAB, erab_gbr_dl="1000", erab_mbr_ul="1000")
    assert erabs(by_rate) == {(CELL_1, "10.0.0.1"): [(6, 1)]}
    by_teid = await get(client, app, RAB, gtp_teid="601")
    assert erabs(by_teid) == {(CELL_1, "10.0.0.1"): [(5, 9), (6, 1)]}
    both = await get(client, app, RAB, ue_ipv4_address="10.0.0.1", erab_id="5")
    assert erabs(both) == {(CELL_1, "10.0.0.1"): [(5, 9)]}
    disjoint = await get(client, app, RAB, ue_ipv4_address="10.0.0.1", cell_id=CELL_2)
    assert disjoint["cellUserInfo"] == []
    assert (await get(client, app, RAB, qci="7"))["cellUserInfo"] == []


async def test_rab_info_errors(
    network_client: tuple[Client, StaticNetworkSource], operator: dict[str, str]
) -> None:
    client, _ = network_client
    app = await new_app(client, operator, "rnis-q")
    unknown_cell = await get(client, app, RAB, 404, cell_id="FFFFFFF")
    assert params(unknown_cell) == {"query cell_id"}
    unknown_ue = await get(client, app, RAB, 404, ue_ipv4_address="10.9.9.9")
    assert params(unknown_ue) == {"query ue_ipv4_address"}
    await get(client, app, RAB, 404, ue_ipv6_address="2001:db8::1")
    await get(client, app, RAB, 404, gtp_teid="999")
    not_a_number = await get(client, app, RAB, 400, qci="nine")
    assert params(not_a_number) == {"query qci"}
    misspelt = await get(client, app, RAB, 400, cell="x")
    assert params(misspelt) == {"query cell"}
    anonymous = await client.get(RAB)
    await problem(anonymous, 401)


async def test_plmn_info(
    network_client: tuple[Client, StaticNetworkSource], operator: dict[str, str]
) -> None:
    client, _ = network_client
    app = await new_app(client, operator, "rnis-q")
    await new_app(client, operator, "rnis-other")
    infos = await get(client, app, PLMN_INFO, app_ins_id="rnis-q")
    plmn = {"mcc": PLMN.mcc, "mnc": PLMN.mnc}
    assert infos == [{"appInstanceId": "rnis-q", "plmn": [plmn], "timeStamp": STAMP}]
    two = await get(client, app, PLMN_INFO, app_ins_id="rnis-q,rnis-other")
    assert [i["appInstanceId"] for i in two] == ["rnis-q", "rnis-other"]
    missing = await get(client, app, PLMN_INFO, 400)
    assert params(missing) == {"query app_ins_id"}
    unknown = await get(client, app, PLMN_INFO, 404, app_ins_id="no-such-app")
    assert params(unknown) == {"query app_ins_id"}


def bearers_of(info: dict[str, Any]) -> dict[str, list[int]]:
    return {
        ue["associateId"][0]["value"]: [b["erabId"] for b in ue["s1BearerInfoDetailed"]]
        for ue in info["s1UeInfo"]
    }


async def test_s1_bearer_info(
    network_client: tuple[Client, StaticNetworkSource], operator: dict[str, str]
) -> None:
    client, _ = network_client
    app = await new_app(client, operator, "rnis-q")
    everything = await get(client, app, S1)
    assert bearers_of(everything) == {"10.0.0.1": [5, 6], "10.0.0.2": [5], "10.0.0.3": [5]}
    first = everything["s1UeInfo"][0]
    assert first["ecgi"] == [ecgi(CELL_1)]
    assert first["tempUeId"] == {"mmec": "01", "mtmsi": "00000001"}
    assert first["s1BearerInfoDetailed"][1] == {
        "erabId": 6,
        "enbInfo": {"ipAddress": "192.0.2.1", "tunnelId": "601"},
        "sGwInfo": {"ipAddress": "192.0.2.100", "tunnelId": "602"},
    }
    assert everything["timeStamp"] == STAMP
    by_tmsi = await get(client, app, S1, temp_ue_id="0100000002")
    assert bearers_of(by_tmsi) == {"10.0.0.2": [5]}
    by_erab = await get(client, app, S1, erab_id="6")
    assert bearers_of(by_erab) == {"10.0.0.1": [6]}
    by_cell = await get(client, app, S1, cell_id=NR_CELL)
    assert bearers_of(by_cell) == {"10.0.0.3": [5]}
    # S1BearerInfo has at least one UE: a query matching no bearer is a 404.
    await get(client, app, S1, 404, erab_id="42")
    await get(client, app, S1, 404, temp_ue_id="0199999999")
    await get(client, app, S1, 400, erab_id="5,x")


async def test_layer2_meas(
    network_client: tuple[Client, StaticNetworkSource], operator: dict[str, str]
) -> None:
    client, _ = network_client
    app = await new_app(client, operator, "rnis-q")
    everything = await get(client, app, L2)
    cells = {c["ecgi"]["cellId"]: c for c in everything["cellInfo"]}
    assert set(cells) == {CELL_1, CELL_2, NR_CELL}
    assert cells[CELL_1]["dl_total_prb_usage_cell"] == 40
    assert cells[CELL_1]["number_of_active_ue_dl_gbr_cell"] == 1
    assert cells[CELL_1]["number_of_active_ue_dl_nongbr_cell"] == 1
    assert cells[CELL_2]["number_of_active_ue_ul_gbr_cell"] == 0
    assert {u["associateId"]["value"] for u in everything["cellUEInfo"]} == {
        "10.0.0.1",
        "10.0.0.2",
        "10.0.0.3",
    }
    busy = await get(client, app, L2, dl_total_prb_usage_cell="40")
    assert [c["ecgi"]["cellId"] for c in busy["cellInfo"]] == [CELL_1]
    assert [u["associateId"]["value"] for u in busy["cellUEInfo"]] == ["10.0.0.1"]
    by_ue = await get(client, app, L2, ue_ipv4_address="10.0.0.2")
    assert [c["ecgi"]["cellId"] for c in by_ue["cellInfo"]] == [CELL_2]
    assert [u["ecgi"]["cellId"] for u in by_ue["cellUEInfo"]] == [CELL_2]
    # The network reports no per-UE layer 2 figure: such a filter matches no UE.
    delay = await get(client, app, L2, dl_gbr_delay_ue="10")
    assert delay["cellUEInfo"] == []
    assert len(delay["cellInfo"]) == 3
    await get(client, app, L2, 404, cell_id="FFFFFFF")


async def test_a_detached_ue_disappears_from_queries(
    network_client: tuple[Client, StaticNetworkSource], operator: dict[str, str]
) -> None:
    client, source = network_client
    app = await new_app(client, operator, "rnis-q")
    await get(client, app, RAB, ue_ipv4_address="10.0.0.2")
    await TinyNetwork(source).detach(UE_2)
    everything = await get(client, app, RAB)
    assert {ue for _, ue in erabs(everything)} == {"10.0.0.1", "10.0.0.3"}
    assert everything["timeStamp"] == {"seconds": int(START) + 1, "nanoSeconds": 0}
    await get(client, app, RAB, 404, ue_ipv4_address="10.0.0.2")
    assert "10.0.0.2" not in bearers_of(await get(client, app, S1))
    await get(client, app, S1, 404, cell_id=CELL_2)
    l2 = await get(client, app, L2, cell_id=CELL_2)
    assert l2["cellUEInfo"] == []
    assert l2["cellInfo"][0]["number_of_active_ue_dl_nongbr_cell"] == 0

"""RNIS notifications end to end: the static network source publishes a change, the real app
(SQLite and Redis) matches it and delivers to a real callback server. Each type fires from its
event and only then; every body is checked against the official MEC 012 schema and ours."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from typing import Any

from fixtures.apps import App, new_app
from fixtures.callbacks import CallbackServer
from fixtures.network import (
    AP_2,
    CELL_1,
    CELL_2,
    NR_CELL,
    START,
    UE_1,
    UE_3,
    ZONE_2,
    TinyNetwork,
    bearer,
    ecgi,
    ue,
)
from test_rnis_support import (
    Client,
    assoc,
    check_notification,
    local,
    only,
    received,
    settle,
    subscribe,
    subscription,
)

from mep.core import keys
from mep.network.port import EventKind, Measurement, Position
from mep.network.static import StaticNetworkSource


async def setup(
    network_client: tuple[Client, StaticNetworkSource], operator: dict[str, str]
) -> tuple[Client, TinyNetwork, App]:
    client, source = network_client
    return client, TinyNetwork(source), await new_app(client, operator, "rnis-n")


async def sub(
    client: Client, app: App, server: CallbackServer, path: str, kind: str, **fields: Any
) -> dict[str, Any]:
    return await subscribe(
        client, app.headers, subscription(kind, f"{server.url}/{path}", **fields)
    )


def stamp(changes: int) -> dict[str, int]:
    """The TimeStamp of the network's ``changes``-th change."""
    return {"seconds": int(START) + changes, "nanoSeconds": 0}


async def test_cell_change_on_handover_only(
    network_client: tuple[Client, StaticNetworkSource],
    operator: dict[str, str],
    server: CallbackServer,
) -> None:
    client, net, app = await setup(network_client, operator)
    ho = "CellChangeSubscription"
    by_ue = await sub(client, app, server, "ue", ho)
    await sub(client, app, server, "target", ho, filterCriteriaAssocHo={"ecgi": [ecgi(CELL_2)]})
    await sub(client, app, server, "source", ho, filterCriteriaAssocHo={"ecgi": [ecgi(CELL_1)]})
    await sub(
        client,
        app,
        server,
        "other-ue",
        ho,
        filterCriteriaAssocHo={"associateId": assoc("10.0.0.2")},
    )
    await sub(client, app, server, "nr", ho, filterCriteriaAssocHo={"ecgi": [ecgi(NR_CELL)]})
    await sub(client, app, server, "preparing", ho, filterCriteriaAssocHo={"hoStatus": [1, 2]})
    await net.move(UE_1, Position(43.7310, 7.4210), timing_advance=12)
    await net.measure(UE_1)
    await net.handover(UE_1, CELL_2)
    for path in ("ue", "target", "source"):
        await server.wait_for(1, path=f"/{path}")
    await settle()
    body = only(server, "/ue", "CellChangeNotification")[0]
    assert body["hoStatus"] == 3
    assert body["srcEcgi"] == ecgi(CELL_1)
    assert body["trgEcgi"] == [ecgi(CELL_2)]
    assert body["associateId"] == assoc("10.0.0.1")
    assert body["tempUeId"] == {"mmec": "01", "mtmsi": "00000001"}
    assert body["timeStamp"] == stamp(3)
    assert body["_links"]["subscription"]["href"] == by_ue["_links"]["self"]["href"]
    assert len(only(server, "/target", "CellChangeNotification")) == 1
    assert len(only(server, "/source", "CellChangeNotification")) == 1
    assert [received(server, p) for p in ("/other-ue", "/nr", "/preparing")] == [[], [], []]
    assert len(server.received) == 3


async def test_rab_and_s1_bearer_on_attach_and_detach(
    network_client: tuple[Client, StaticNetworkSource],
    operator: dict[str, str],
    server: CallbackServer,
) -> None:
    client, net, app = await setup(network_client, operator)
    await sub(client, app, server, "est9", "RabEstSubscription", filterCriteriaQci={"qci": 9})
    await sub(
        client, app, server, "est1-cell1", "RabEstSubscription",
        filterCriteriaQci={"qci": 1, "ecgi": [ecgi(CELL_1)]},
    )  # fmt: skip
    await sub(client, app, server, "est1", "RabEstSubscription", filterCriteriaQci={"qci": 1})
    rel = "RabRelSubscription"
    await sub(client, app, server, "rel5", rel, filterCriteriaQci={"qci": 9, "erabId": 5})
    await sub(client, app, server, "rel6", rel, filterCriteriaQci={"qci": 9, "erabId": 6})
    s1 = "S1BearerSubscription"
    ue4 = {"associateId": assoc("10.0.0.4")}
    await sub(client, app, server, "s1-est", s1, S1BearerSubscriptionCriteria=ue4, eventType=[1])
    await sub(client, app, server, "s1-rel", s1, S1BearerSubscriptionCriteria=ue4, eventType=[3])
    await sub(
        client, app, server, "s1-erab6", s1,
        S1BearerSubscriptionCriteria={"erabId": [6], "ecgi": [ecgi(CELL_2)]}, eventType=[1, 3],
    )  # fmt: skip

    address = "acr:10.0.0.4"
    await net.attach(ue(address, CELL_2, AP_2, ZONE_2, bearer(5, 9), bearer(6, 1)))
    for path in ("est9", "est1", "s1-est", "s1-erab6"):
        await server.wait_for(1, path=f"/{path}")
    await settle()
    est9 = only(server, "/est9", "RabEstNotification")
    assert [(b["erabId"], b["erabQosParameters"]["qci"]) for b in est9] == [(5, 9)]
    assert est9[0]["ecgi"] == ecgi(CELL_2)
    assert est9[0]["associateId"] == assoc("10.0.0.4")
    assert [b["erabId"] for b in only(server, "/est1", "RabEstNotification")] == [6]
    established = only(server, "/s1-est", "S1BearerNotification")
    assert [b["s1Event"] for b in established] == [1]
    info = established[0]["s1UeInfo"]
    assert [b["erabId"] for b in info["s1BearerInfo"]] == [5, 6]
    assert info["ecgi"] == [ecgi(CELL_2)]
    six = only(server, "/s1-erab6", "S1BearerNotification")
    assert [[b["erabId"] for b in n["s1UeInfo"]["s1BearerInfo"]] for n in six] == [[6]]
    assert received(server, "/est1-cell1") == received(server, "/s1-rel") == []

    await net.detach(address)
    for path in ("rel5", "s1-rel"):
        await server.wait_for(1, path=f"/{path}")
    await server.wait_for(2, path="/s1-erab6")
    await settle()
    released = only(server, "/rel5", "RabRelNotification")
    assert [b["erabReleaseInfo"] for b in released] == [{"erabId": 5}]
    assert released[0]["ecgi"] == ecgi(CELL_2)
    assert received(server, "/rel6") == []  # E-RAB 6 has QCI 1
    assert [b["s1Event"] for b in only(server, "/s1-rel", "S1BearerNotification")] == [3]
    assert [b["s1Event"] for b in received(server, "/s1-erab6")] == [1, 3]
    assert len(received(server, "/est9")) == 1


async def test_bearer_modification(
    network_client: tuple[Client, StaticNetworkSource],
    operator: dict[str, str],
    server: CallbackServer,
) -> None:
    client, net, app = await setup(network_client, operator)
    await sub(client, app, server, "mod6", "RabModSubscription")  # QCI 1, E-RAB 6
    await sub(
        client, app, server, "mod5", "RabModSubscription",
        filterCriteriaQci={"qci": 9, "erabId": 5},
    )  # fmt: skip
    await sub(client, app, server, "est7", "RabEstSubscription", filterCriteriaQci={"qci": 7})
    await sub(client, app, server, "rel5", "RabRelSubscription")  # QCI 9, E-RAB 5
    s1 = "S1BearerSubscription"
    await sub(client, app, server, "s1-mod", s1, eventType=[2])
    await sub(client, app, server, "s1-other", s1, eventType=[1, 3])

    await net.move(UE_1, Position(43.7301, 7.4201))
    await net.modify_bearers(UE_1, bearer(6, 1, gbr_dl=3000), bearer(7, 7))
    for path, count in (("mod6", 1), ("est7", 1), ("rel5", 1), ("s1-mod", 1), ("s1-other", 2)):
        await server.wait_for(count, path=f"/{path}")
    await settle()
    modified = only(server, "/mod6", "RabModNotification")
    assert len(modified) == 1
    assert modified[0]["erabId"] == 6
    qos = modified[0]["erabQosParameters"]
    assert qos["qci"] == 1
    assert qos["qosInformation"]["erabGbrDl"] == 3000
    assert modified[0]["ecgi"] == ecgi(CELL_1)
    assert received(server, "/mod5") == []  # E-RAB 5 was released, not modified
    assert [b["erabId"] for b in only(server, "/est7", "RabEstNotification")] == [7]
    assert [
        b["erabReleaseInfo"]["erabId"] for b in only(server, "/rel5", "RabRelNotification")
    ] == [5]
    s1_mod = only(server, "/s1-mod", "S1BearerNotification")
    assert [
        (n["s1Event"], [b["erabId"] for b in n["s1UeInfo"]["s1BearerInfo"]]) for n in s1_mod
    ] == [(2, [6])]
    others = only(server, "/s1-other", "S1BearerNotification")
    assert sorted((n["s1Event"], n["s1UeInfo"]["s1BearerInfo"][0]["erabId"]) for n in others) == [
        (1, 7),
        (3, 5),
    ]


async def test_measurement_reports_on_their_trigger(
    network_client: tuple[Client, StaticNetworkSource],
    operator: dict[str, str],
    server: CallbackServer,
) -> None:
    client, net, app = await setup(network_client, operator)
    mr, nr = "MeasRepUeSubscription", "NrMeasRepUeSubscription"
    await sub(client, app, server, "any", mr)
    a3 = {"associateId": assoc("10.0.0.1"), "trigger": [12]}
    await sub(client, app, server, "a3", mr, filterCriteriaAssocTri=a3)
    await sub(client, app, server, "all-lte", mr, filterCriteriaAssocTri={})
    await sub(client, app, server, "nr", nr, filterCriteriaNrMrs={})
    await sub(client, app, server, "nr-a3", nr, filterCriteriaNrMrs={"triggerNr": [12]})

    await net.measure(UE_1)  # serving -85 dBm, neighbours -100 dBm: periodical only
    await server.wait_for(1, path="/any")
    stronger = [Measurement(CELL_1, -85.0, -10.0), Measurement(CELL_2, -75.0, -8.0)]
    await net.measure(UE_1, [*stronger, Measurement(NR_CELL, -90.0, -11.0)])
    await server.wait_for(2, path="/any")
    await server.wait_for(1, path="/a3")
    await net.measure(UE_3)
    await server.wait_for(1, path="/nr")
    await settle()

    reports = only(server, "/any", "MeasRepUeNotification")
    assert [r["trigger"] for r in reports] == [1, 12]  # periodical, then A3
    first = reports[0]
    assert first["ecgi"] == ecgi(CELL_1)
    assert (first["rsrp"], first["rsrq"]) == (56, 20)  # -85 dBm, -10 dB on the 36.133 scales
    assert [n["ecgi"]["cellId"] for n in first["eutranNeighbourCellMeasInfo"]] == [CELL_2]
    assert first["newRadioMeasNeiInfo"][0]["nrNCellInfo"][0]["nrNCellGId"] == NR_CELL
    assert [r["trigger"] for r in only(server, "/a3", "MeasRepUeNotification")] == [12]
    assert len(received(server, "/all-lte")) == 2  # not UE_3's report: it is in an NR cell
    nr_reports = only(server, "/nr", "NrMeasRepUeNotification")
    assert len(nr_reports) == 1
    report = nr_reports[0]
    assert report["triggerNr"] == 1
    assert report["associateId"] == assoc("10.0.0.3")
    serving = report["servCellMeasInfo"][0]
    assert serving["nrcgi"] == {"nrcellId": NR_CELL, "plmn": ecgi(NR_CELL)["plmn"]}
    assert serving["sCell"]["measQuantityResultsSsbCell"] == {"rsrp": 72, "rsrq": 67}
    assert {n["ecgi"]["cellId"] for n in report["eutraNeighCellMeasInfo"]} == {CELL_1, CELL_2}
    assert "nrNeighCellMeasInfo" not in report
    assert received(server, "/nr-a3") == []


async def test_timing_advance_and_carrier_aggregation(
    network_client: tuple[Client, StaticNetworkSource],
    operator: dict[str, str],
    server: CallbackServer,
) -> None:
    client, net, app = await setup(network_client, operator)
    await sub(client, app, server, "ta", "MeasTaSubscription")  # UE 10.0.0.1
    await sub(
        client, app, server, "ta-ue2", "MeasTaSubscription",
        filterCriteriaAssoc={"associateId": assoc("10.0.0.2")},
    )  # fmt: skip
    await sub(client, app, server, "ca", "CaReconfSubscription")  # CELL_1

    await net.move(UE_1, Position(43.7302, 7.4202))  # the same timing advance
    await net.move(UE_1, Position(43.7320, 7.4220), timing_advance=14)
    await server.wait_for(1, path="/ta")
    await net.aggregate(UE_1, CELL_2)
    await server.wait_for(1, path="/ca")
    await net.aggregate(UE_1)
    await server.wait_for(2, path="/ca")
    await settle()

    ta = only(server, "/ta", "MeasTaNotification")
    assert [(n["timingAdvance"], n["timeStamp"]) for n in ta] == [(14, stamp(2))]
    assert ta[0]["ecgi"] == ecgi(CELL_1)
    assert received(server, "/ta-ue2") == []
    added, removed = only(server, "/ca", "CaReconfNotification")
    assert added["secondaryCellAdd"] == [{"ecgi": ecgi(CELL_2)}]
    assert "secondaryCellRemove" not in added
    assert added["carrierAggregationMeasInfo"][0]["cellIdSrv"] == CELL_2
    assert removed["secondaryCellRemove"] == [{"ecgi": ecgi(CELL_2)}]
    assert added["ecgi"] == ecgi(CELL_1)


async def until(condition: Any, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_test_notification_expiry_and_websocket(
    network_client: tuple[Client, StaticNetworkSource],
    operator: dict[str, str],
    server: CallbackServer,
) -> None:
    client, net, app = await setup(network_client, operator)
    tested = await sub(
        client, app, server, "tested", "CellChangeSubscription", requestTestNotification=True
    )
    await server.wait_for(1, path="/tested")
    test = received(server, "/tested")[0]
    assert test["notificationType"] == "TestNotification"
    assert test["_links"]["subscription"]["href"] == tested["_links"]["self"]["href"]
    check_notification(test, official=False)  # V2.2.1: not in the V2.1.1 file
    index = client.app[keys.RNIS].index
    subscription_id = tested["_links"]["self"]["href"].rsplit("/", 1)[-1]
    await until(lambda: (entry := index.entry(subscription_id)) is not None and entry.active)

    deadline = time.time() + 1.0
    expiring = await sub(
        client, app, server, "expiring", "MeasTaSubscription",
        expiryDeadline={"seconds": int(deadline), "nanoSeconds": int(deadline % 1 * 1e9)},
    )  # fmt: skip
    socket = await subscribe(
        client,
        app.headers,
        subscription(
            "CellChangeSubscription", None, websockNotifConfig={"requestWebsocketUri": True}
        ),
    )
    uri = socket["websockNotifConfig"]["websocketUri"]
    assert uri.startswith("ws://mep.test/notifications/v1/websocket/rnis_subscriptions/")
    path = uri.removeprefix("ws://mep.test")
    async with client.ws_connect(path, headers=app.headers) as ws:
        await net.handover(UE_1, CELL_2)
        async with asyncio.timeout(10):
            pushed = json.loads(await ws.receive_str())
    assert pushed["notificationType"] == "CellChangeNotification"
    check_notification(pushed)
    await server.wait_for(2, path="/tested")
    assert received(server, "/tested")[1]["notificationType"] == "CellChangeNotification"

    await server.wait_for(1, path="/expiring", within=10)
    expiry = only(server, "/expiring", "ExpiryNotification")[0]
    assert expiry["_links"]["self"] == expiring["_links"]["self"]["href"]
    assert expiry["expiryDeadline"]["seconds"] == int(deadline)
    gone = await client.get(local(expiring["_links"]["self"]["href"]), headers=app.headers)
    assert gone.status == 404
    await net.move(UE_1, Position(43.7320, 7.4320), timing_advance=30)
    await settle()
    assert len(received(server, "/expiring")) == 1


async def test_one_change_of_several_events_notifies_each_thing_once(
    network_client: tuple[Client, StaticNetworkSource],
    operator: dict[str, str],
    server: CallbackServer,
) -> None:
    client, net, app = await setup(network_client, operator)
    await sub(client, app, server, "s1", "S1BearerSubscription")  # UE 10.0.0.1, all events
    await sub(client, app, server, "est", "RabEstSubscription", filterCriteriaQci={"qci": 7})
    await sub(client, app, server, "ta", "MeasTaSubscription")  # UE 10.0.0.1
    await sub(client, app, server, "ho", "CellChangeSubscription")  # UE 10.0.0.1

    # A handover that also re-anchors the tunnels, adds an E-RAB and changes the timing
    # advance: the source reports it as four events with the same before and after.
    before = net[UE_1]
    tunnels = [dataclasses.replace(b, enb_address="192.0.2.2") for b in before.bearers]
    after = dataclasses.replace(
        before,
        serving_cell_id=CELL_2,
        access_point_id=AP_2,
        zone_id=ZONE_2,
        timing_advance=40,
        bearers=(*tunnels, bearer(7, 7)),
    )
    kinds = (
        EventKind.MOVED,
        EventKind.HANDOVER,
        EventKind.TIMING_ADVANCE,
        EventKind.BEARER_MODIFIED,
    )
    await net.publish({**net.state.ues, UE_1: after}, [(k, before, after) for k in kinds])
    for path, count in (("s1", 2), ("est", 1), ("ta", 1), ("ho", 1)):
        await server.wait_for(count, path=f"/{path}")
    await settle()
    s1 = only(server, "/s1", "S1BearerNotification")
    events = sorted(
        (n["s1Event"], sorted(b["erabId"] for b in n["s1UeInfo"]["s1BearerInfo"])) for n in s1
    )
    assert events == [(1, [7]), (2, [5, 6])]  # the tunnels of 5 and 6 moved: MODIFY
    modified = next(n for n in s1 if n["s1Event"] == 2)
    assert modified["s1UeInfo"]["s1BearerInfo"][0]["enbInfo"]["ipAddress"] == "192.0.2.2"
    assert modified["s1UeInfo"]["ecgi"] == [ecgi(CELL_2)]
    assert [n["erabId"] for n in only(server, "/est", "RabEstNotification")] == [7]
    assert [n["timingAdvance"] for n in only(server, "/ta", "MeasTaNotification")] == [40]
    assert len(only(server, "/ho", "CellChangeNotification")) == 1

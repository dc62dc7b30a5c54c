"""Location notifications end to end: the network changes, the real app (SQLite and Redis)
matches its subscriptions and a real callback server receives the notifications, each checked
against the official MEC 013 V2.2.1 schemas and ours."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fixtures.callbacks import CallbackServer
from fixtures.network import (
    AP_1,
    AP_WIFI,
    CELL_1,
    CELL_2,
    CELL_POSITIONS,
    UE_1,
    UE_2,
    ZONE_1,
    TinyNetwork,
    ue,
)
from fixtures.problems import problem
from test_location_support import (
    OPERATOR,
    Client,
    NetworkClient,
    body,
    create,
    local,
    north,
    quiet,
    received,
)

from mep.network.port import OperationStatus

CENTRE_2 = CELL_POSITIONS[CELL_2]


async def gone(client: Client, url: str, within: float = 5.0) -> None:
    """Until the subscription at ``url`` is no more (404)."""
    deadline = time.monotonic() + within
    while (await client.get(local(url), headers=OPERATOR)).status != 404:
        assert time.monotonic() < deadline, f"{url} still there"
        await asyncio.sleep(0.05)


def presence(n: dict[str, Any]) -> tuple[str, str, str, str | None]:
    return (
        n["userEventType"],
        n["zoneId"],
        n["currentAccessPointId"],
        n.get("previousAccessPointId"),
    )


async def to_wifi(net: TinyNetwork, address: str) -> None:
    """``address`` moves onto ap-wifi (zone-1), next to ap-1."""
    spot = net.state.access_points[AP_WIFI].position
    await net.move(address, spot, access_point_id=AP_WIFI, zone_id=ZONE_1)


async def test_a_user_walks_from_zone_1_to_zone_2(
    network_client: NetworkClient, server: CallbackServer
) -> None:
    client, source = network_client
    net = TinyNetwork(source)
    track = await create(client, "userTracking", body("userTracking", f"{server.url}/track"))
    await create(client, "zonalTraffic", body("zonalTraffic", f"{server.url}/zone-1"))
    two = body("zonalTraffic", f"{server.url}/zone-2", zoneId="zone-2")
    await create(client, "zonalTraffic", two)
    entering = body(
        "zonalTraffic", f"{server.url}/entering", zoneId="zone-2", userEventCriteria=["Entering"]
    )
    await create(client, "zonalTraffic", entering)
    lobby = body("zonalTraffic", f"{server.url}/lobby", interestRealm=["lobby"])
    await create(client, "zonalTraffic", lobby)
    circle = body(
        "circle",
        f"{server.url}/circle",
        latitude=CENTRE_2.latitude,
        longitude=CENTRE_2.longitude,
        radius=100,
    )
    await create(client, "circle", circle)

    await to_wifi(net, UE_1)  # zone-1: ap-1 -> ap-wifi
    await net.move(UE_1, north(net[UE_1].position, 20))  # same access point: no zonal event
    await net.handover(UE_1, CELL_2)  # zone-1 -> zone-2, into the circle
    await net.detach(UE_1)
    await server.wait_for(4, path="/track")
    await server.wait_for(2, path="/zone-1")
    await server.wait_for(2, path="/zone-2")
    await server.wait_for(1, path="/circle")

    tracked = received(server, "/track")
    assert [presence(n) for n in tracked] == [
        ("Transferring", ZONE_1, AP_WIFI, AP_1),
        ("Leaving", ZONE_1, "ap-2", AP_WIFI),
        ("Entering", "zone-2", "ap-2", AP_WIFI),
        ("Leaving", "zone-2", "ap-2", None),  # detached: the access point it was last on
    ]
    assert all(n["address"] == UE_1 for n in tracked)
    assert tracked[0]["callbackData"] == "data-userTracking"
    assert tracked[0]["link"] == [{"rel": "UserTrackingSubscription", "href": track["resourceURL"]}]
    assert tracked[0]["interestRealm"] == "lobby"
    assert tracked[0]["timestamp"]["seconds"] > 0
    assert [presence(n) for n in received(server, "/zone-1")] == [
        ("Transferring", ZONE_1, AP_WIFI, AP_1),
        ("Leaving", ZONE_1, "ap-2", AP_WIFI),
    ]
    assert [presence(n) for n in received(server, "/zone-2")] == [
        ("Entering", "zone-2", "ap-2", AP_WIFI),
        ("Leaving", "zone-2", "ap-2", None),
    ]
    # ap-wifi is the lobby: arriving there, and leaving the zone from there.
    await server.wait_for(2, path="/lobby")
    assert [presence(n)[0] for n in received(server, "/lobby")] == ["Transferring", "Leaving"]
    (inside,) = received(server, "/circle")
    assert inside["enteringLeavingCriteria"] == "Entering"
    assert inside["isFinalNotification"] is False
    assert inside["callbackData"] == "data-circle"
    (where,) = inside["terminalLocation"]
    assert where["address"] == UE_1
    assert where["locationRetrievalStatus"] == "Retrieved"
    assert where["currentLocation"]["latitude"] == [CENTRE_2.latitude]
    await server.wait_for(1, path="/entering")
    await quiet(server, "/entering", 1)


async def test_circle_entering_and_leaving_with_check_immediate(
    network_client: NetworkClient, server: CallbackServer
) -> None:
    client, source = network_client
    net = TinyNetwork(source)
    now = body("circle", f"{server.url}/now", checkImmediate=True, address=[UE_1, UE_2])
    await create(client, "circle", now)
    await create(client, "circle", body("circle", f"{server.url}/later"))
    leaving = body(
        "circle", f"{server.url}/leaving", enteringLeavingCriteria="Leaving", checkImmediate=True
    )
    await create(client, "circle", leaving)
    await server.wait_for(1, path="/now")
    (immediate,) = received(server, "/now")
    assert [t["address"] for t in immediate["terminalLocation"]] == [UE_1]  # UE_2 is outside
    await quiet(server, "/later", 0)  # already inside: no crossing without checkImmediate
    await quiet(server, "/leaving", 0, wait=0)  # inside: not the side asked for

    await net.handover(UE_1, CELL_2)
    await server.wait_for(1, path="/leaving")
    assert received(server, "/leaving")[0]["enteringLeavingCriteria"] == "Leaving"
    await net.handover(UE_1, CELL_1)
    await server.wait_for(1, path="/later")
    assert received(server, "/later")[0]["enteringLeavingCriteria"] == "Entering"
    await server.wait_for(2, path="/now")
    await quiet(server, "/leaving", 1)


async def test_count_ends_a_subscription_and_put_starts_it_afresh(
    network_client: NetworkClient, server: CallbackServer
) -> None:
    client, source = network_client
    net = TinyNetwork(source)
    payload = body("circle", f"{server.url}/c", checkImmediate=True, count=2)
    created = await create(client, "circle", payload)
    await server.wait_for(1, path="/c")
    # A PUT resets the running state: the same body reports the user inside again, and its
    # count starts from zero.
    replaced = await client.put(local(created["resourceURL"]), json=payload, headers=OPERATOR)
    assert replaced.status == 200
    await server.wait_for(2, path="/c")
    await net.handover(UE_1, CELL_2)
    await net.handover(UE_1, CELL_1)
    await server.wait_for(3, path="/c")
    assert [n["isFinalNotification"] for n in received(server, "/c")] == [False, False, True]
    await problem(await client.get(local(created["resourceURL"]), headers=OPERATOR), 404)
    await net.handover(UE_1, CELL_2)
    await net.handover(UE_1, CELL_1)
    await quiet(server, "/c", 3)


async def test_frequency_holds_a_crossing_back(
    network_client: NetworkClient, server: CallbackServer
) -> None:
    client, source = network_client
    net = TinyNetwork(source)
    await net.handover(UE_1, CELL_2)
    await create(client, "circle", body("circle", f"{server.url}/f", frequency=1))
    await net.handover(UE_1, CELL_1)
    await server.wait_for(1, path="/f")
    first = time.monotonic()
    await net.handover(UE_1, CELL_2)
    await net.handover(UE_1, CELL_1)  # entering again within the second: reported at its end
    await server.wait_for(2, path="/f", within=5)
    assert time.monotonic() - first >= 0.7
    await quiet(server, "/f", 2)


async def test_distance_criteria(network_client: NetworkClient, server: CallbackServer) -> None:
    client, source = network_client
    net = TinyNetwork(source)
    await create(client, "distance", body("distance", f"{server.url}/within"))
    beyond = body(
        "distance",
        f"{server.url}/beyond",
        criteria="AnyBeyondDistance",
        checkImmediate=True,
        monitoredAddress=[UE_1],
        referenceAddress=[UE_2],
        count=1,
    )
    created = await create(client, "distance", beyond)
    await server.wait_for(1, path="/beyond")
    (far,) = received(server, "/beyond")
    assert far["distanceCriteria"] == "AnyBeyondDistance"
    assert far["isFinalNotification"] is True  # count 1
    assert [t["address"] for t in far["terminalLocation"]] == [UE_1, UE_2]
    await problem(await client.get(local(created["resourceURL"]), headers=OPERATOR), 404)
    await quiet(server, "/within", 0, wait=0)  # UE_1 and UE_2 are about 1 km apart
    await net.handover(UE_2, CELL_1)  # now next to UE_1: within 200 m
    await server.wait_for(1, path="/within")
    (near,) = received(server, "/within")
    assert near["distanceCriteria"] == "AllWithinDistance"
    assert near["callbackData"] == "data-distance"
    await net.move(UE_2, north(net[UE_2].position, 50))  # still within: nothing new
    await quiet(server, "/within", 1)


async def test_periodic_with_count_ends_with_a_final_notification(
    network_client: NetworkClient, server: CallbackServer
) -> None:
    client, _ = network_client
    payload = body(
        "periodic", f"{server.url}/p", address=[UE_1, "acr:10.9.9.9"], frequency=1, count=3
    )
    created = await create(client, "periodic", payload)
    await server.wait_for(3, path="/p", within=8)
    notes = received(server, "/p")
    assert [n["isFinalNotification"] for n in notes] == [False, False, True]
    statuses = [t["locationRetrievalStatus"] for t in notes[0]["terminalLocation"]]
    assert statuses == ["Retrieved", "NotRetrieved"]
    assert notes[0]["link"][0]["rel"] == "PeriodicNotificationSubscription"
    await problem(await client.get(local(created["resourceURL"]), headers=OPERATOR), 404)
    await quiet(server, "/p", 3, wait=1.1)


async def test_duration_ends_with_a_final_notification(
    network_client: NetworkClient, server: CallbackServer
) -> None:
    client, _ = network_client
    created = await create(client, "circle", body("circle", f"{server.url}/d", duration=1))
    traffic = await create(
        client, "zonalTraffic", body("zonalTraffic", f"{server.url}/z", duration=1)
    )
    await server.wait_for(1, path="/d", within=5)
    (final,) = received(server, "/d")
    assert final["isFinalNotification"] is True
    assert final["terminalLocation"][0]["locationRetrievalStatus"] == "Retrieved"
    await problem(await client.get(local(created["resourceURL"]), headers=OPERATOR), 404)
    await gone(client, traffic["resourceURL"])
    await quiet(server, "/z", 0, wait=0)  # its notification type has no final flag


async def test_zone_status_thresholds_and_operation_status(
    network_client: NetworkClient, server: CallbackServer
) -> None:
    client, source = network_client
    net = TinyNetwork(source)
    crowd = body("zoneStatus", f"{server.url}/zone", numberOfUsersZoneThreshold=1)
    await create(client, "zoneStatus", crowd)
    points = body("zoneStatus", f"{server.url}/ap", numberOfUsersAPThreshold=0, operationStatus=[])
    await create(client, "zoneStatus", points)
    status = body("zoneStatus", f"{server.url}/status", operationStatus=["Unserviceable"])
    await create(client, "zoneStatus", status)

    await net.handover(UE_2, CELL_1)  # zone-1: 1 -> 2, above 1; ap-1: 1 -> 2, was above 0
    await to_wifi(net, UE_2)  # ap-wifi: 0 -> 1, above 0
    await server.wait_for(1, path="/zone")
    await server.wait_for(1, path="/ap")
    (zone,) = received(server, "/zone")
    assert zone["zoneId"] == ZONE_1
    assert zone["numberOfUsersInZone"] == 2
    assert "accessPointId" not in zone
    assert zone["callbackData"] == "data-zoneStatus"
    (point,) = received(server, "/ap")
    assert (point["accessPointId"], point["numberOfUsersInAP"]) == (AP_WIFI, 1)
    await net.detach(UE_2)  # zone-1 back to 1
    await net.attach(ue(UE_2, CELL_1, AP_1, ZONE_1))  # above the threshold again: a crossing
    await server.wait_for(2, path="/zone")

    await net.access_point_status(AP_WIFI, OperationStatus.UNSERVICEABLE)
    await net.access_point_status(AP_WIFI, OperationStatus.SERVICEABLE)  # not asked for
    await server.wait_for(1, path="/status")
    (changed,) = received(server, "/status")
    assert (changed["accessPointId"], changed["operationStatus"]) == (AP_WIFI, "Unserviceable")
    await quiet(server, "/status", 1)
    await quiet(server, "/ap", 1, wait=0)

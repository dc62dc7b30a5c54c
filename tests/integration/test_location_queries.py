"""Location queries (GS MEC 013 7.3.2, 7.3.9 to 7.3.12) over HTTP, on SQLite and Redis, against
the tiny network the test drives: shapes (checked against both documents), filters, 404s, 400s."""

from __future__ import annotations

import math
from typing import Any

from fixtures.apps import new_app
from fixtures.network import (
    AP_NR,
    AP_WIFI,
    CELL_1,
    CELL_2,
    CELL_POSITIONS,
    UE_1,
    UE_2,
    UE_3,
    ZONE_1,
    TinyNetwork,
)
from fixtures.problems import params, problem
from test_location_support import API, OPERATOR, PUBLIC, Client, NetworkClient, check_both, north

from mep.network.port import OperationStatus, Position

ONE_POINT = "/queries/zones/{zoneId}/accessPoints/{accessPointId}"


async def get(client: Client, path: str, status: int = 200, **query: Any) -> Any:
    response = await client.get(f"{API}{path}", params=query, headers=OPERATOR)
    assert response.status == status, await response.text()
    return await response.json()


def addresses(answer: dict[str, Any]) -> list[str]:
    return sorted(u["address"] for u in answer["userList"]["user"])


def equirectangular(a: Position, b: Position) -> float:
    """An independent estimate of short distances (to within a metre at a few km)."""
    x = math.radians(b.longitude - a.longitude) * math.cos(
        math.radians((a.latitude + b.latitude) / 2)
    )
    y = math.radians(b.latitude - a.latitude)
    return 6_371_008.8 * math.hypot(x, y)


async def test_users_by_zone_access_point_and_address(network_client: NetworkClient) -> None:
    client, source = network_client
    everyone = await get(client, "/queries/users")
    check_both("/queries/users", "get", 200, everyone)
    assert addresses(everyone) == [UE_1, UE_2, UE_3]
    assert everyone["userList"]["resourceURL"] == f"{PUBLIC}{API}/queries/users"

    zone = await get(client, "/queries/users", zoneId=ZONE_1)
    check_both("/queries/users", "get", 200, zone)
    (first,) = zone["userList"]["user"]
    assert first["address"] == UE_1
    assert first["zoneId"] == ZONE_1
    assert first["accessPointId"] == "ap-1"
    assert first["resourceURL"] == f"{PUBLIC}{API}/queries/users?address={UE_1}"
    where = CELL_POSITIONS[CELL_1]
    assert first["locationInfo"]["latitude"] == [where.latitude]
    assert first["locationInfo"]["longitude"] == [where.longitude]
    assert first["locationInfo"]["shape"] == 2
    assert first["timestamp"] == {"seconds": int(source.state.at), "nanoSeconds": 0}
    assert zone["userList"]["resourceURL"] == f"{PUBLIC}{API}/queries/users?zoneId={ZONE_1}"

    both = await client.get(f"{API}/queries/users?zoneId=zone-1&zoneId=zone-2", headers=OPERATOR)
    assert addresses(await both.json()) == [UE_1, UE_2, UE_3]
    assert addresses(await get(client, "/queries/users", accessPointId=AP_NR)) == [UE_3]
    by_address = await get(client, "/queries/users", address=[UE_2, "acr:10.9.9.9"])
    assert addresses(by_address) == [UE_2]  # the unknown one is left out
    # Different parameters must all hold.
    none = await get(client, "/queries/users", zoneId="zone-2", accessPointId="ap-1")
    assert none["userList"]["user"] == []
    check_both("/queries/users", "get", 200, none)


async def test_users_follow_the_network(network_client: NetworkClient) -> None:
    client, source = network_client
    before = await get(client, "/queries/users", zoneId=ZONE_1)
    await TinyNetwork(source).handover(UE_2, CELL_1)
    after = await get(client, "/queries/users", zoneId=ZONE_1)
    assert addresses(before) == [UE_1]
    assert addresses(after) == [UE_1, UE_2]


async def test_users_errors(network_client: NetworkClient) -> None:
    client, _ = network_client
    unknown_zone = await client.get(f"{API}/queries/users?zoneId=nowhere", headers=OPERATOR)
    check_both("/queries/users", "get", 404, await problem(unknown_zone, 404))
    await problem(await client.get(f"{API}/queries/users?accessPointId=x", headers=OPERATOR), 404)
    await problem(
        await client.get(f"{API}/queries/users?address=acr:10.9.9.9", headers=OPERATOR), 404
    )
    empty = await problem(await client.get(f"{API}/queries/users?zoneId=", headers=OPERATOR), 400)
    assert params(empty) == {"query zoneId"}
    check_both("/queries/users", "get", 400, empty)
    await problem(await client.get(f"{API}/queries/users"), 401)


async def test_a_detached_user_disappears_from_every_query(network_client: NetworkClient) -> None:
    client, source = network_client
    await TinyNetwork(source).detach(UE_2)
    assert addresses(await get(client, "/queries/users")) == [UE_1, UE_3]
    assert addresses(await get(client, "/queries/users", zoneId="zone-2")) == [UE_3]
    await problem(await client.get(f"{API}/queries/users?address={UE_2}", headers=OPERATOR), 404)
    zone = await get(client, "/queries/zones/zone-2")
    assert zone["zoneInfo"]["numberOfUsers"] == 1
    point = await get(client, "/queries/zones/zone-2/accessPoints/ap-2")
    assert point["accessPointInfo"]["numberOfUsers"] == 0
    gone = await client.get(
        f"{API}/queries/distance?address={UE_2}&address={UE_1}", headers=OPERATOR
    )
    assert UE_2 in (await problem(gone, 404))["detail"]


async def test_zones_and_access_points(network_client: NetworkClient) -> None:
    client, source = network_client
    await TinyNetwork(source).access_point_status(AP_WIFI, OperationStatus.UNSERVICEABLE)
    zones = await get(client, "/queries/zones")
    check_both("/queries/zones", "get", 200, zones)
    listed = {z["zoneId"]: z for z in zones["zoneList"]["zone"]}
    assert listed[ZONE_1] == {
        "zoneId": ZONE_1,
        "numberOfAccessPoints": 2,
        "numberOfUnserviceableAccessPoints": 1,
        "numberOfUsers": 1,
        "resourceURL": f"{PUBLIC}{API}/queries/zones/zone-1",
    }
    assert listed["zone-2"]["numberOfUsers"] == 2
    assert zones["zoneList"]["resourceURL"] == f"{PUBLIC}{API}/queries/zones"
    one = await get(client, "/queries/zones/zone-2")
    check_both("/queries/zones/{zoneId}", "get", 200, one)
    assert one["zoneInfo"] == listed["zone-2"]

    points = await get(client, "/queries/zones/zone-1/accessPoints")
    check_both("/queries/zones/{zoneId}/accessPoints", "get", 200, points)
    found = {p["accessPointId"]: p for p in points["accessPointList"]["accessPoint"]}
    assert points["accessPointList"]["zoneId"] == ZONE_1
    assert points["accessPointList"]["resourceURL"] == (
        f"{PUBLIC}{API}/queries/zones/zone-1/accessPoints"
    )
    assert found["ap-1"]["connectionType"] == "Macro"  # LTE-macro, as V2.2.1 names it
    assert found["ap-1"]["numberOfUsers"] == 1
    assert found["ap-1"]["operationStatus"] == "Serviceable"
    assert found[AP_WIFI]["connectionType"] == "Wifi"
    assert found[AP_WIFI]["interestRealm"] == "lobby"
    assert found[AP_WIFI]["operationStatus"] == "Unserviceable"
    realm = await get(client, "/queries/zones/zone-1/accessPoints", interestRealm="lobby")
    assert [p["accessPointId"] for p in realm["accessPointList"]["accessPoint"]] == [AP_WIFI]
    nothing = await get(client, "/queries/zones/zone-1/accessPoints", interestRealm="mall")
    assert nothing["accessPointList"]["accessPoint"] == []

    single = await get(client, "/queries/zones/zone-2/accessPoints/ap-nr")
    check_both(ONE_POINT, "get", 200, single)
    info = single["accessPointInfo"]
    assert info["connectionType"] == "Unknown"  # 5G-NR: V2.2.1 has no such type
    assert info["numberOfUsers"] == 1
    assert info["resourceURL"] == f"{PUBLIC}{API}/queries/zones/zone-2/accessPoints/ap-nr"
    assert info["locationInfo"]["latitude"] == [43.7360]

    for path, template in (
        ("/queries/zones/nowhere", "/queries/zones/{zoneId}"),
        ("/queries/zones/nowhere/accessPoints", "/queries/zones/{zoneId}/accessPoints"),
        ("/queries/zones/zone-2/accessPoints/nothing", ONE_POINT),
        ("/queries/zones/zone-2/accessPoints/ap-1", ONE_POINT),  # exists, in another zone
    ):
        body = await problem(await client.get(f"{API}{path}", headers=OPERATOR), 404)
        check_both(template, "get", 404, body)


async def test_distance(network_client: NetworkClient) -> None:
    client, source = network_client
    two = await get(client, "/queries/distance", address=[UE_1, UE_2])
    check_both("/queries/distance", "get", 200, two)
    expected = equirectangular(CELL_POSITIONS[CELL_1], CELL_POSITIONS[CELL_2])
    distance = two["terminalDistance"]["distance"]
    assert abs(distance - expected) <= 1
    assert two["terminalDistance"]["accuracy"] == math.ceil(distance * 0.005)
    assert two["terminalDistance"]["timestamp"]["seconds"] == int(source.state.at)
    point = north(CELL_POSITIONS[CELL_1], 300)
    to_point = await get(
        client,
        "/queries/distance",
        address=UE_1,
        latitude=str(point.latitude),
        longitude=str(point.longitude),
        requester="acr:10.0.0.9",
    )
    assert to_point["terminalDistance"]["distance"] == 300


async def test_distance_errors(network_client: NetworkClient) -> None:
    client, _ = network_client
    cases = {
        "": {"query address"},
        f"?address={UE_1}": {"query latitude", "query longitude"},
        f"?address={UE_1}&latitude=48": {"query longitude"},
        f"?address={UE_1}&latitude=91&longitude=2": {"query latitude"},
        f"?address={UE_1}&latitude=x&longitude=2": {"query latitude"},
        f"?address={UE_1}&address={UE_2}&latitude=1&longitude=2": {"query address"},
        "?address=a&address=b&address=c": {"query address"},
    }
    for query, names in cases.items():
        response = await client.get(f"{API}/queries/distance{query}", headers=OPERATOR)
        body = await problem(response, 400)
        assert params(body) == names, query
        check_both("/queries/distance", "get", 400, body)
    unknown = await client.get(
        f"{API}/queries/distance?address={UE_1}&address=acr:10.7.7.7", headers=OPERATOR
    )
    assert "acr:10.7.7.7" in (await problem(unknown, 404))["detail"]


async def test_an_application_may_query(
    network_client: NetworkClient, operator: dict[str, str]
) -> None:
    client, _ = network_client
    app = await new_app(client, operator, "app-q")
    response = await client.get(f"{API}/queries/users?zoneId=zone-2", headers=app.headers)
    assert response.status == 200
    assert addresses(await response.json()) == [UE_2, UE_3]

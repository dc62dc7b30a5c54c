"""Location subscriptions as resources (GS MEC 013 7.3.3 to 7.3.14), for the six types, over
HTTP on SQLite and Redis: create, read, list, replace, delete, ownership, bad input."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures.apps import new_app
from fixtures.problems import params, problem
from test_location_support import (
    API,
    OPERATOR,
    PATHS,
    PUBLIC,
    ROOTS,
    NetworkClient,
    body,
    check_both,
    collection,
    create,
    local,
    template,
)

KINDS = list(PATHS)
CALLBACK = "http://127.0.0.1:9/never"  # nothing listens: these tests never deliver


@pytest.mark.parametrize("kind", KINDS)
async def test_crud(network_client: NetworkClient, operator: dict[str, str], kind: str) -> None:
    client, _ = network_client
    app = await new_app(client, operator, "app-a")
    payload = body(kind, CALLBACK, clientCorrelator="c-1")
    created = await create(client, kind, payload, app.headers)
    url = created["resourceURL"]
    assert url.startswith(f"{PUBLIC}{collection(kind)}/")
    sent = payload[ROOTS[kind]]
    assert {k: v for k, v in created.items() if k != "resourceURL"} == sent

    fetched = await client.get(local(url), headers=app.headers)
    assert fetched.status == 200
    got = await fetched.json()
    check_both(template(kind, one=True), "get", 200, got)
    assert got == {ROOTS[kind]: created}
    assert fetched.headers["ETag"] == '"1"'

    listed = await (await client.get(collection(kind), headers=app.headers)).json()
    check_both(template(kind), "get", 200, listed)
    assert listed == {
        "notificationSubscriptionList": {
            ROOTS[kind]: [created],
            "resourceURL": f"{PUBLIC}{collection(kind)}",
        }
    }
    for other in KINDS:
        if other != kind:
            others = await (await client.get(collection(other), headers=app.headers)).json()
            assert others["notificationSubscriptionList"][ROOTS[other]] == []

    changed = body(kind, f"{CALLBACK}/2", clientCorrelator="c-2")
    replaced = await client.put(local(url), json=changed, headers=app.headers)
    assert replaced.status == 200, await replaced.text()
    answer = await replaced.json()
    check_both(template(kind, one=True), "put", 200, answer)
    assert answer[ROOTS[kind]]["callbackReference"]["notifyURL"] == f"{CALLBACK}/2"
    assert answer[ROOTS[kind]]["resourceURL"] == url
    assert replaced.headers["ETag"] == '"2"'
    stale = await client.put(local(url), json=changed, headers={**app.headers, "If-Match": '"1"'})
    check_both(template(kind, one=True), "put", 412, await problem(stale, 412))

    deleted = await client.delete(local(url), headers=app.headers)
    assert deleted.status == 204
    await problem(await client.get(local(url), headers=app.headers), 404)
    await problem(await client.delete(local(url), headers=app.headers), 404)
    await problem(await client.put(local(url), json=changed, headers=app.headers), 404)


async def test_ownership(network_client: NetworkClient, operator: dict[str, str]) -> None:
    client, _ = network_client
    a = await new_app(client, operator, "app-a")
    b = await new_app(client, operator, "app-b")
    mine = await create(client, "zonalTraffic", body("zonalTraffic", CALLBACK), a.headers)
    theirs = await create(client, "zonalTraffic", body("zonalTraffic", CALLBACK), b.headers)
    path = local(mine["resourceURL"])
    await problem(await client.get(path, headers=b.headers), 404)
    await problem(await client.delete(path, headers=b.headers), 404)
    put = await client.put(path, json=body("zonalTraffic", CALLBACK), headers=b.headers)
    await problem(put, 404)
    listed = await (await client.get(collection("zonalTraffic"), headers=a.headers)).json()
    urls = [s["resourceURL"] for s in listed["notificationSubscriptionList"][ROOTS["zonalTraffic"]]]
    assert urls == [mine["resourceURL"]]
    everything = await (await client.get(collection("zonalTraffic"), headers=OPERATOR)).json()
    found = everything["notificationSubscriptionList"][ROOTS["zonalTraffic"]]
    assert {s["resourceURL"] for s in found} == {mine["resourceURL"], theirs["resourceURL"]}
    assert (await client.get(path, headers=OPERATOR)).status == 200
    # A subscription is found under its own type only.
    elsewhere = path.replace("/zonalTraffic/", "/zoneStatus/")
    await problem(await client.get(elsewhere, headers=OPERATOR), 404)
    # Removing the app instance removes its subscriptions.
    gone = await client.delete("/mep_mgmt/v1/app_instances/app-a", headers=operator)
    assert gone.status == 204
    await problem(await client.get(path, headers=OPERATOR), 404)
    assert (await client.get(local(theirs["resourceURL"]), headers=OPERATOR)).status == 200


async def test_client_correlator_makes_a_create_idempotent(network_client: NetworkClient) -> None:
    client, _ = network_client
    payload = body("userTracking", CALLBACK, clientCorrelator="retry-1")
    first = await create(client, "userTracking", payload)
    again = await create(client, "userTracking", payload)
    assert again["resourceURL"] == first["resourceURL"]
    listed = await (await client.get(collection("userTracking"), headers=OPERATOR)).json()
    assert len(listed["notificationSubscriptionList"][ROOTS["userTracking"]]) == 1
    other = body("userTracking", CALLBACK, clientCorrelator="retry-1", address="acr:10.0.0.9")
    refused = await client.post(collection("userTracking"), json=other, headers=OPERATOR)
    assert params(await problem(refused, 400)) == {"/userTrackingSubscription/clientCorrelator"}
    # Another type may use the same correlator; a deleted subscription frees it.
    await create(client, "zonalTraffic", body("zonalTraffic", CALLBACK, clientCorrelator="retry-1"))
    assert (await client.delete(local(first["resourceURL"]), headers=OPERATOR)).status == 204
    third = await create(client, "userTracking", other)
    assert third["resourceURL"] != first["resourceURL"]


BAD: list[tuple[str, dict[str, Any], set[str]]] = [
    ("circle", {"latitude": 91}, {"/circleNotificationSubscription/latitude"}),
    ("circle", {"radius": 0}, {"/circleNotificationSubscription/radius"}),
    ("circle", {"address": []}, {"/circleNotificationSubscription/address"}),
    ("circle", {"checkImmediate": "yes"}, {"/circleNotificationSubscription/checkImmediate"}),
    (
        "circle",
        {"enteringLeavingCriteria": "Staying"},
        {"/circleNotificationSubscription/enteringLeavingCriteria"},
    ),
    ("circle", {"frequency": None}, {"/circleNotificationSubscription/frequency"}),
    ("circle", {"count": -1}, {"/circleNotificationSubscription/count"}),
    (
        "circle",
        {"callbackReference": {"notifyURL": "ftp://x/y"}},
        {"/circleNotificationSubscription/callbackReference/notifyURL"},
    ),
    (
        "circle",
        {"callbackReference": {"notifyURL": "http://x/y", "notificationFormat": "XML"}},
        {"/circleNotificationSubscription/callbackReference/notificationFormat"},
    ),
    (
        "distance",
        {"criteria": "Closer"},
        {"/distanceNotificationSubscription/criteria"},
    ),
    (
        "distance",
        {"monitoredAddress": ["acr:10.0.0.1"]},
        {"/distanceNotificationSubscription/monitoredAddress"},
    ),
    ("distance", {"distance": -5}, {"/distanceNotificationSubscription/distance"}),
    ("periodic", {"frequency": 0}, {"/periodicNotificationSubscription/frequency"}),
    (
        "periodic",
        {"requestedAccuracy": None},
        {"/periodicNotificationSubscription/requestedAccuracy"},
    ),
    ("periodic", {"duration": 1.5}, {"/periodicNotificationSubscription/duration"}),
    ("userTracking", {"address": None}, {"/userTrackingSubscription/address"}),
    (
        "userTracking",
        {"userEventCriteria": ["Jumping"]},
        {"/userTrackingSubscription/userEventCriteria/0"},
    ),
    ("zonalTraffic", {"zoneId": ""}, {"/zonalTrafficSubscription/zoneId"}),
    (
        "zoneStatus",
        {"numberOfUsersAPThreshold": -1},
        {"/zoneStatusSubscription/numberOfUsersAPThreshold"},
    ),
    (
        "zoneStatus",
        {"operationStatus": ["Broken"]},
        {"/zoneStatusSubscription/operationStatus/0"},
    ),
    ("zoneStatus", {"callbackReference": None}, {"/zoneStatusSubscription/callbackReference"}),
]


@pytest.mark.parametrize(("kind", "fields", "names"), BAD)
async def test_bad_input_names_the_field(
    network_client: NetworkClient, kind: str, fields: dict[str, Any], names: set[str]
) -> None:
    payload = body(kind, CALLBACK, **fields)
    response = await network_client[0].post(collection(kind), json=payload, headers=OPERATOR)
    answer = await problem(response, 400)
    assert params(answer) == names
    check_both(template(kind), "post", 400, answer)


async def test_bad_requests(network_client: NetworkClient) -> None:
    client, _ = network_client
    created = await create(client, "circle", body("circle", CALLBACK))
    path = local(created["resourceURL"])
    wrong_root = {"circle": body("circle", CALLBACK)[ROOTS["circle"]]}
    missing = await client.post(collection("circle"), json=wrong_root, headers=OPERATOR)
    assert params(await problem(missing, 400)) == {"/circleNotificationSubscription"}
    not_json = await client.post(
        collection("circle"), data="x", headers={**OPERATOR, "Content-Type": "text/plain"}
    )
    await problem(not_json, 415)
    bad_put = await client.put(path, json=body("circle", CALLBACK, radius=-1), headers=OPERATOR)
    assert params(await problem(bad_put, 400)) == {"/circleNotificationSubscription/radius"}
    await problem(await client.get(collection("circle")), 401)
    unknown = f"{API}/subscriptions/area/circle/no-such-id"
    check_both(
        template("circle", one=True),
        "get",
        404,
        await problem(await client.get(unknown, headers=OPERATOR), 404),
    )


async def test_duration_is_answered_as_the_time_left(network_client: NetworkClient) -> None:
    client, _ = network_client
    created = await create(client, "zonalTraffic", body("zonalTraffic", CALLBACK, duration=600))
    assert 599 <= created["duration"] <= 600
    default = await create(client, "periodic", body("periodic", CALLBACK, duration=0))
    assert 86_399 <= default["duration"] <= 86_400
    endless = await create(client, "circle", body("circle", CALLBACK))
    assert "duration" not in endless

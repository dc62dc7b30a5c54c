"""RNIS subscriptions (GS MEC 012 7.6, 7.7) over HTTP, on SQLite and Redis: the nine types,
their required filters, listing by type, ETag and If-Match, ownership."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures.apps import new_app
from fixtures.network import NR_CELL, ecgi
from fixtures.problems import params, problem
from test_rnis_support import (
    QUERY_NAMES,
    SUBSCRIPTIONS,
    TEMPLATES,
    Client,
    check,
    local,
    subscribe,
    subscription,
)

from mep.core import keys
from mep.network.static import StaticNetworkSource
from mep.rnis.index import SubscriptionIndex
from mep.rnis.records import Links

CALLBACK = "http://127.0.0.1:9/rnis"
ONE = "/subscriptions/{subscriptionId}"


async def test_every_type_is_created_read_listed_and_deleted(
    network_client: tuple[Client, StaticNetworkSource], operator: dict[str, str]
) -> None:
    client, _ = network_client
    app = await new_app(client, operator, "rnis-s")
    created: dict[str, dict[str, Any]] = {}
    for kind in TEMPLATES:
        body = await subscribe(client, app.headers, subscription(kind, CALLBACK))
        check("/subscriptions", "post", 201, body)
        assert body["subscriptionType"] == kind
        assert body["callbackReference"] == CALLBACK
        created[kind] = body
        response = await client.get(local(body["_links"]["self"]["href"]), headers=app.headers)
        assert response.status == 200
        assert response.headers["ETag"] == '"1"'
        fetched = await response.json()
        check(ONE, "get", 200, fetched)
        assert fetched == body
    cell_change = created["CellChangeSubscription"]["filterCriteriaAssocHo"]
    assert cell_change["hoStatus"] == [3]  # "the default value 3 = COMPLETED shall be used"
    assert created["S1BearerSubscription"]["S1BearerSubscriptionCriteria"]["associateId"] == [
        {"type": 1, "value": "10.0.0.1"}
    ]

    listing = await client.get(SUBSCRIPTIONS, headers=app.headers)
    assert listing.status == 200
    links = await listing.json()
    check("/subscriptions", "get", 200, links)
    assert links["_links"]["self"]["href"] == f"http://mep.test{SUBSCRIPTIONS}"
    assert {(s["subscriptionType"], s["href"]) for s in links["_links"]["subscription"]} == {
        (kind, body["_links"]["self"]["href"]) for kind, body in created.items()
    }
    for kind, name in QUERY_NAMES.items():
        response = await client.get(
            SUBSCRIPTIONS, params={"subscription_type": name}, headers=app.headers
        )
        typed = await response.json()
        check("/subscriptions", "get", 200, typed)
        assert [s["subscriptionType"] for s in typed["_links"]["subscription"]] == [kind]
    bad_type = await client.get(
        SUBSCRIPTIONS, params={"subscription_type": "handover"}, headers=app.headers
    )
    body = await problem(bad_type, 400)
    check("/subscriptions", "get", 400, body)
    assert params(body) == {"query subscription_type"}

    for body in created.values():
        href = local(body["_links"]["self"]["href"])
        deleted = await client.delete(href, headers=app.headers)
        assert deleted.status == 204
        gone = await client.get(href, headers=app.headers)
        check(ONE, "get", 404, await problem(gone, 404))
    empty = await (await client.get(SUBSCRIPTIONS, headers=app.headers)).json()
    assert empty["_links"]["subscription"] == []


async def test_put_replaces_and_honours_if_match(
    network_client: tuple[Client, StaticNetworkSource], operator: dict[str, str]
) -> None:
    client, _ = network_client
    app = await new_app(client, operator, "rnis-s")
    created = await subscribe(client, app.headers, subscription("MeasTaSubscription", CALLBACK))
    href = local(created["_links"]["self"]["href"])
    changed = {
        **created,
        "callbackReference": "http://127.0.0.1:9/elsewhere",
        "filterCriteriaAssoc": {"ecgi": [ecgi(NR_CELL)]},
    }
    stale = {"If-Match": '"7"', **app.headers}
    refused = await client.put(href, json=changed, headers=stale)
    check(ONE, "put", 412, await problem(refused, 412))
    replaced = await client.put(href, json=changed, headers={"If-Match": '"1"', **app.headers})
    assert replaced.status == 200, await replaced.text()
    assert replaced.headers["ETag"] == '"2"'
    body = await replaced.json()
    check(ONE, "put", 200, body)
    assert body["callbackReference"] == "http://127.0.0.1:9/elsewhere"
    assert body["filterCriteriaAssoc"] == {"ecgi": [ecgi(NR_CELL)]}
    assert body["_links"] == created["_links"]
    again = await client.put(href, json=changed, headers={"If-Match": '"1"', **app.headers})
    await problem(again, 412)
    unconditional = await client.put(href, json=changed, headers=app.headers)
    assert unconditional.headers["ETag"] == '"3"'

    other_type = subscription("CaReconfSubscription", CALLBACK)
    mismatch = await client.put(href, json=other_type, headers=app.headers)
    assert params(await problem(mismatch, 400)) == {"/subscriptionType"}
    missing = await client.put(f"{SUBSCRIPTIONS}/no-such-id", json=changed, headers=app.headers)
    await problem(missing, 404)


@pytest.mark.parametrize(
    ("kind", "change", "pointer"),
    [
        ("CellChangeSubscription", {"filterCriteriaAssocHo": None}, "/filterCriteriaAssocHo"),
        ("RabEstSubscription", {"filterCriteriaQci": {}}, "/filterCriteriaQci/qci"),
        ("RabModSubscription", {"filterCriteriaQci": {"qci": 1}}, "/filterCriteriaQci/erabId"),
        ("RabRelSubscription", {"filterCriteriaQci": {"erabId": 5}}, "/filterCriteriaQci/qci"),
        ("MeasRepUeSubscription", {"filterCriteriaAssocTri": None}, "/filterCriteriaAssocTri"),
        ("NrMeasRepUeSubscription", {"filterCriteriaNrMrs": None}, "/filterCriteriaNrMrs"),
        ("MeasTaSubscription", {"filterCriteriaAssoc": None}, "/filterCriteriaAssoc"),
        ("CaReconfSubscription", {"filterCriteriaAssoc": None}, "/filterCriteriaAssoc"),
        ("S1BearerSubscription", {"eventType": None}, "/eventType"),
        ("S1BearerSubscription", {"eventType": []}, "/eventType"),
        ("S1BearerSubscription", {"eventType": [0]}, "/eventType/0"),
        (
            "S1BearerSubscription",
            {"S1BearerSubscriptionCriteria": None},
            "/S1BearerSubscriptionCriteria",
        ),
        (
            "MeasRepUeSubscription",
            {"filterCriteriaAssocTri": {"trigger": [7]}},
            "/filterCriteriaAssocTri/trigger/0",
        ),
        ("RabEstSubscription", {"filterCriteriaQci": {"qci": "9"}}, "/filterCriteriaQci/qci"),
        ("MeasTaSubscription", {"callbackReference": "ftp://x/y"}, "/callbackReference"),
        ("MeasTaSubscription", {"callbackReference": None}, "/callbackReference"),
        (
            "MeasTaSubscription",
            {"expiryDeadline": {"seconds": 1, "nanoSeconds": 0}},
            "/expiryDeadline",
        ),
    ],
)
async def test_required_criteria_are_enforced(
    network_client: tuple[Client, StaticNetworkSource],
    operator: dict[str, str],
    kind: str,
    change: dict[str, Any],
    pointer: str,
) -> None:
    client, _ = network_client
    app = await new_app(client, operator, "rnis-s")
    body = subscription(kind, CALLBACK, **change)
    response = await client.post(SUBSCRIPTIONS, json=body, headers=app.headers)
    refused = await problem(response, 400)
    check("/subscriptions", "post", 400, refused)
    assert pointer in params(refused), refused


async def test_bad_types_and_identities(
    network_client: tuple[Client, StaticNetworkSource], operator: dict[str, str]
) -> None:
    client, _ = network_client
    app = await new_app(client, operator, "rnis-s")
    for kind in ("CellChange", None):
        body = {"subscriptionType": kind, "callbackReference": CALLBACK}
        response = await client.post(SUBSCRIPTIONS, json=body, headers=app.headers)
        assert params(await problem(response, 400)) == {"/subscriptionType"}
    ipv6 = subscription(
        "MeasTaSubscription",
        CALLBACK,
        filterCriteriaAssoc={"associateId": [{"type": 2, "value": "2001:db8::1"}]},
    )
    response = await client.post(SUBSCRIPTIONS, json=ipv6, headers=app.headers)
    unprocessable = await problem(response, 422)
    check("/subscriptions", "post", 422, unprocessable)
    assert params(unprocessable) == {"/filterCriteriaAssoc/associateId/0/type"}
    as_other = subscription(
        "MeasTaSubscription", CALLBACK, filterCriteriaAssoc={"appInstanceId": "x"}
    )
    response = await client.post(SUBSCRIPTIONS, json=as_other, headers=app.headers)
    check("/subscriptions", "post", 403, await problem(response, 403))
    as_self = subscription(
        "MeasTaSubscription", CALLBACK, filterCriteriaAssoc={"appInstanceId": "rnis-s"}
    )
    await subscribe(client, app.headers, as_self)
    text = await client.post(SUBSCRIPTIONS, data="{}", headers=app.headers)
    await problem(text, 415)


async def test_subscriptions_belong_to_their_subscriber(
    network_client: tuple[Client, StaticNetworkSource], operator: dict[str, str]
) -> None:
    client, _ = network_client
    a = await new_app(client, operator, "rnis-a")
    b = await new_app(client, operator, "rnis-b")
    mine = await subscribe(client, a.headers, subscription("MeasTaSubscription", CALLBACK))
    theirs = await subscribe(client, b.headers, subscription("CaReconfSubscription", CALLBACK))
    href = local(mine["_links"]["self"]["href"])
    await problem(await client.get(href, headers=b.headers), 404)
    await problem(await client.delete(href, headers=b.headers), 404)
    await problem(await client.put(href, json=mine, headers=b.headers), 404)
    listed = await (await client.get(SUBSCRIPTIONS, headers=b.headers)).json()
    assert [s["href"] for s in listed["_links"]["subscription"]] == [
        theirs["_links"]["self"]["href"]
    ]
    everyone = await (await client.get(SUBSCRIPTIONS, headers=operator)).json()
    assert len(everyone["_links"]["subscription"]) == 2
    assert (await client.get(href, headers=operator)).status == 200
    typed = await client.get(
        SUBSCRIPTIONS, params={"subscription_type": "ca_reconf"}, headers=operator
    )
    assert len((await typed.json())["_links"]["subscription"]) == 1

    # Terminating an application instance removes its subscriptions.
    deleted = await client.delete("/mep_mgmt/v1/app_instances/rnis-a", headers=operator)
    assert deleted.status in (202, 204)
    await problem(await client.get(href, headers=operator), 404)


async def test_the_matching_index_loads_what_the_store_holds(
    network_client: tuple[Client, StaticNetworkSource], operator: dict[str, str]
) -> None:
    """What a restarted replica does: subscriptions written earlier are matched again."""
    client, _ = network_client
    app = await new_app(client, operator, "rnis-s")
    created = [
        await subscribe(client, app.headers, subscription(kind, CALLBACK)) for kind in TEMPLATES
    ]
    live = client.app[keys.RNIS].index
    fresh = SubscriptionIndex(Links("http://mep.test"))
    await fresh.load(client.app[keys.STORE])
    assert len(fresh) == len(live) == len(TEMPLATES)
    for body in created:
        subscription_id = body["_links"]["self"]["href"].rsplit("/", 1)[-1]
        assert fresh.entry(subscription_id) == live.entry(subscription_id)
    deleted = await client.delete(local(created[0]["_links"]["self"]["href"]), headers=app.headers)
    assert deleted.status == 204
    assert len(live) == len(TEMPLATES) - 1

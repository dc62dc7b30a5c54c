"""CAPIF Events API over real TLS (TS 29.222 clause 8.8): invokers and provider functions
subscribe with their own certificates, and the CCF's own changes (publication, onboarding,
invocation logs, revocations, policies) reach their notification destinations, filtered, once
per event."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.callbacks import CallbackServer
from fixtures.capif import (
    INVOKERS,
    PUBLISHED,
    THREE_GPP,
    CapifPlatform,
    Holder,
    aef_profile,
    capif_on,
    official_check,
    service_api,
)
from fixtures.openapi import OpenApiDocument

from conformance.reference import ReferenceDocument
from mep.capif import streams
from mep.capif.events import COLLECTION
from mep.core import keys
from mep.core.store import Delete, Operation

SPEC = OpenApiDocument("capif-events.yaml")
EVENTS_API = "TS29222_CAPIF_Events_API.yaml"
COMMON_DATA = "TS29122_CommonData.yaml"
EVENTS = "/capif-events/v1"
MANY = "/{subscriberId}/subscriptions"
ONE = "/{subscriberId}/subscriptions/{subscriptionId}"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
SERVICE_API_EVENTS = ["SERVICE_API_AVAILABLE", "SERVICE_API_UPDATE", "SERVICE_API_UNAVAILABLE"]
INVOCATION_EVENTS = ["SERVICE_API_INVOCATION_SUCCESS", "SERVICE_API_INVOCATION_FAILURE"]
_HAVE_3GPP = THREE_GPP.is_dir()  # at import, outside any event loop


@pytest.fixture(params=["sqlite", "redis"])
async def capif(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CapifPlatform]:
    async with capif_on(request.param, tmp_path) as platform:
        yield platform


@functools.cache
def _reference(name: str) -> ReferenceDocument:
    return ReferenceDocument.load(THREE_GPP / name)


async def _fits(name: str, schema: str, body: Any) -> None:
    """Fail unless ``body`` fits ``#/components/schemas/<schema>`` of an official 3GPP file."""
    if not _HAVE_3GPP:
        pytest.skip(f"no reference files at {THREE_GPP}")
    document = await asyncio.to_thread(_reference, name)
    errors = await asyncio.to_thread(document.check_schema, schema, body)
    assert not errors, f"{schema} against {name}:\n  " + "\n  ".join(errors)


async def _notifications(server: CallbackServer, path: str, count: int) -> list[dict[str, Any]]:
    """The first ``count`` EventNotifications on ``path``, each checked against TS 29.222."""
    await server.wait_for(count, path=path)
    received = server.by_path[path]
    for body in received:
        if "events" in body:
            await _fits(EVENTS_API, "EventNotification", body)
    return received


async def _check(path: str, method: str, status: int, body: Any) -> None:
    template = ONE if path.count("/") > 2 else MANY
    SPEC.check(template, method, status, body)
    await official_check(EVENTS_API, path, method.upper(), status, body)


async def _domain(capif: CapifPlatform) -> tuple[dict[str, str], dict[str, Holder]]:
    body, holders = await capif.register()
    return {f["apiProvFuncRole"]: f["apiProvFuncId"] for f in body["apiProvFuncs"]}, holders


async def _subscribe(
    capif: CapifPlatform,
    subscriber_id: str,
    holder: Holder,
    events: list[str],
    destination: str,
    **members: Any,
) -> str:
    """Subscribe; the subscription's path."""
    request = {"events": events, "notificationDestination": destination, **members}
    path = f"{EVENTS}/{subscriber_id}/subscriptions"
    status, body, response = await capif.call("POST", path, holder=holder, json=request)
    assert status == 201, body
    return response.headers["Location"].removeprefix(capif.tls_url)


def _invocation(aef_id: str, invoker_id: str, api_id: str, result: str) -> dict[str, Any]:
    """A ``capif.invocations`` event payload (``mep.capif.streams``): one Log."""
    log = {
        "apiId": api_id,
        "apiName": "things",
        "apiVersion": "v1",
        "resourceName": "things",
        "protocol": "HTTP_1_1",
        "operation": "GET",
        "result": result,
        "uri": "https://198.51.100.7/things/v1/things",
        "invocationTime": "2025-01-01T00:00:00Z",
    }
    record = {"aefId": aef_id, "apiInvokerId": invoker_id, "logs": [log]}
    return {"type": "SERVICE_API_INVOCATION", "invocationLog": record}


async def _emit(capif: CapifPlatform, stream: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Commit an outbox entry, as a service of the CCF does; the payload as relayed."""
    app = capif.runner.app
    entry = app[keys.OUTBOX].entry(stream, payload)
    await app[keys.COMMITTER].commit([entry])
    return dict(entry.data["payload"])


async def test_subscribe_replace_patch_unsubscribe(
    capif: CapifPlatform, server: CallbackServer
) -> None:
    invoker_id, invoker, _ = await capif.onboard()
    many = f"{EVENTS}/{invoker_id}/subscriptions"
    request = {
        "events": ["SERVICE_API_AVAILABLE", "SERVICE_API_UNAVAILABLE"],
        "eventFilters": [{"apiIds": ["api-a"]}, {"aefIds": ["aef-x"]}],
        "eventReq": {"notifMethod": "ON_EVENT_DETECTION", "maxReportNbr": 5},
        "notificationDestination": f"{server.url}/invoker",
        "supportedFeatures": "0",
    }
    status, body, response = await capif.call("POST", many, holder=invoker, json=request)
    assert status == 201, body
    await _check(f"/{invoker_id}/subscriptions", "post", 201, body)
    assert body == request
    one = response.headers["Location"].removeprefix(capif.tls_url)
    assert one.startswith(f"{many}/")
    relative = one.removeprefix(EVENTS)

    replaced = {
        **request,
        "events": ["API_INVOKER_UPDATED"],
        "eventFilters": [{"apiInvokerIds": [invoker_id]}],
    }
    status, put, _ = await capif.call("PUT", one, holder=invoker, json=replaced)
    assert status == 200, put
    await _check(relative, "put", 200, put)
    assert put == replaced

    patch = {"eventFilters": None, "eventReq": {"maxReportNbr": 2}, "supportedFeatures": "f"}
    status, patched, _ = await capif.call(
        "PATCH", one, holder=invoker, json=patch, headers=MERGE_PATCH
    )
    assert status == 200, patched
    await _check(relative, "patch", 200, patched)
    assert "eventFilters" not in patched
    assert patched["eventReq"] == {"notifMethod": "ON_EVENT_DETECTION", "maxReportNbr": 2}
    assert patched["supportedFeatures"] == "0"  # not a member of EventSubscriptionPatch
    assert patched["events"] == ["API_INVOKER_UPDATED"]

    status, problem, _ = await capif.call("GET", one, holder=invoker)
    assert status == 405, problem  # TS 29.222 defines no GET of a subscription

    status, _, _ = await capif.call("DELETE", one, holder=invoker)
    assert status == 204
    for method, kwargs in (
        ("DELETE", {}),
        ("PUT", {"json": replaced}),
        ("PATCH", {"json": {"events": ["API_INVOKER_UPDATED"]}, "headers": MERGE_PATCH}),
    ):
        status, problem, _ = await capif.call(method, one, holder=invoker, **kwargs)
        assert status == 404, (method, problem)
        await official_check(EVENTS_API, relative, method, 404, problem)


async def test_publication_is_reported_filtered(
    capif: CapifPlatform, server: CallbackServer
) -> None:
    ids, holders = await _domain(capif)
    apf_id, apf = ids["APF"], holders["APF"]
    invoker_id, invoker, _ = await capif.onboard()
    await _subscribe(capif, invoker_id, invoker, SERVICE_API_EVENTS, f"{server.url}/all")
    # A destination nobody answers never holds up the changes it is told about.
    await _subscribe(capif, invoker_id, invoker, SERVICE_API_EVENTS, "http://127.0.0.1:9/dead")

    api_a = await capif.publish(apf_id, apf, service_api("a", aef_profile(ids["AEF"])))
    api_b = await capif.publish(apf_id, apf, service_api("b", aef_profile(ids["AEF"])))
    amf_filtered = await _subscribe(
        capif,
        ids["AMF"],
        holders["AMF"],
        ["SERVICE_API_UPDATE", "SERVICE_API_UNAVAILABLE"],
        f"{server.url}/filtered",
        eventFilters=[{"apiIds": [api_b]}, {"apiIds": [api_b], "aefIds": [ids["AEF"]]}],
    )
    assert amf_filtered.startswith(f"{EVENTS}/{ids['AMF']}/subscriptions/")
    status, body, _ = await capif.call(
        "PATCH",
        f"{PUBLISHED}/{apf_id}/service-apis/{api_a}",
        holder=apf,
        json={"description": "v2"},
        headers=MERGE_PATCH,
    )
    assert status == 200, body
    for api_id in (api_a, api_b):
        status, _, _ = await capif.call(
            "DELETE", f"{PUBLISHED}/{apf_id}/service-apis/{api_id}", holder=apf
        )
        assert status == 204

    received = await _notifications(server, "/all", 5)
    reported = [(n["events"], n["eventDetail"]["apiIds"]) for n in received]
    # The platform's own APIs were published before the subscription: not reported.
    assert reported == [
        ("SERVICE_API_AVAILABLE", [api_a]),
        ("SERVICE_API_AVAILABLE", [api_b]),
        ("SERVICE_API_UPDATE", [api_a]),
        ("SERVICE_API_UNAVAILABLE", [api_a]),
        ("SERVICE_API_UNAVAILABLE", [api_b]),
    ]
    (available, _, updated, unavailable, _) = received
    assert available["eventDetail"]["serviceAPIDescriptions"][0]["apiId"] == api_a
    assert available["eventDetail"]["serviceAPIDescriptions"][0]["apiName"] == "a"
    assert updated["eventDetail"]["serviceAPIDescriptions"][0]["description"] == "v2"
    assert "serviceAPIDescriptions" not in unavailable["eventDetail"]
    # Delivered in event order: once B's removal is in, A's events were passed over.
    filtered = await _notifications(server, "/filtered", 1)
    assert [(n["events"], n["eventDetail"]["apiIds"]) for n in filtered] == [
        ("SERVICE_API_UNAVAILABLE", [api_b])
    ]
    assert filtered[0]["subscriptionId"] == amf_filtered.rsplit("/", 1)[1]


async def test_onboarding_is_reported_to_the_amf_and_invokers_hear_of_themselves(
    capif: CapifPlatform, server: CallbackServer
) -> None:
    ids, holders = await _domain(capif)
    invoker_events = ["API_INVOKER_ONBOARDED", "API_INVOKER_UPDATED", "API_INVOKER_OFFBOARDED"]
    await _subscribe(capif, ids["AMF"], holders["AMF"], invoker_events, f"{server.url}/amf")
    watcher_id, watcher, _ = await capif.onboard()
    await _subscribe(capif, watcher_id, watcher, invoker_events, f"{server.url}/self")
    other_id, other, _ = await capif.onboard()
    status, _, _ = await capif.call("DELETE", f"{INVOKERS}/{other_id}", holder=other)
    assert status == 204
    status, body, _ = await capif.call(
        "PATCH",
        f"{INVOKERS}/{watcher_id}",
        holder=watcher,
        json={"apiInvokerInformation": "renamed"},
        headers=MERGE_PATCH,
    )
    assert status == 200, body

    amf = await _notifications(server, "/amf", 4)
    assert [(n["events"], n["eventDetail"]["apiInvokerIds"]) for n in amf] == [
        ("API_INVOKER_ONBOARDED", [watcher_id]),
        ("API_INVOKER_ONBOARDED", [other_id]),
        ("API_INVOKER_OFFBOARDED", [other_id]),
        ("API_INVOKER_UPDATED", [watcher_id]),
    ]
    # The other invoker's onboarding and offboarding came first in the stream: not for it.
    own = await _notifications(server, "/self", 1)
    assert [(n["events"], n["eventDetail"]["apiInvokerIds"]) for n in own] == [
        ("API_INVOKER_UPDATED", [watcher_id])
    ]


async def test_invocation_logs_are_reported_once(
    capif: CapifPlatform, server: CallbackServer
) -> None:
    ids, holders = await _domain(capif)
    aef_id = ids["AEF"]
    invoker_id, _, _ = await capif.onboard()
    only_ours = [{"aefIds": [aef_id]}, {"aefIds": [aef_id]}]
    await _subscribe(
        capif,
        aef_id,
        holders["AEF"],
        INVOCATION_EVENTS,
        f"{server.url}/aef",
        eventFilters=only_ours,
    )
    ok = await _emit(capif, streams.INVOCATIONS, _invocation(aef_id, invoker_id, "api-1", "200"))
    await _emit(capif, streams.INVOCATIONS, {"type": "SERVICE_API_INVOCATION", "invocationLog": 1})
    await _emit(capif, streams.INVOCATIONS, _invocation("another-aef", invoker_id, "api-1", "200"))
    await _emit(capif, streams.INVOCATIONS, _invocation(aef_id, invoker_id, "api-1", "503"))
    received = await _notifications(server, "/aef", 2)
    assert [n["events"] for n in received] == INVOCATION_EVENTS
    assert received[0]["eventDetail"]["invocationLogs"] == [ok["invocationLog"]]
    assert received[1]["eventDetail"]["invocationLogs"][0]["logs"][0]["result"] == "503"

    # The event log delivers at least once: the same event again is not reported again.
    await capif.deps.events.append(streams.INVOCATIONS, ok)
    await _emit(capif, streams.INVOCATIONS, _invocation(aef_id, invoker_id, "api-2", "302"))
    received = await _notifications(server, "/aef", 3)
    assert len(received) == 3
    assert received[2]["events"] == "SERVICE_API_INVOCATION_SUCCESS"
    assert received[2]["eventDetail"]["invocationLogs"][0]["logs"][0]["apiId"] == "api-2"


async def test_revocations_and_policy_updates_are_reported(
    capif: CapifPlatform, server: CallbackServer
) -> None:
    ids, holders = await _domain(capif)
    aef_id = ids["AEF"]
    invoker_id, invoker, _ = await capif.onboard()
    other_id, _, _ = await capif.onboard()
    watched = ["API_INVOKER_AUTHORIZATION_REVOKED", "ACCESS_CONTROL_POLICY_UPDATE"]
    await _subscribe(capif, aef_id, holders["AEF"], watched, f"{server.url}/aef")
    await _subscribe(capif, invoker_id, invoker, watched, f"{server.url}/invoker")
    for revoked in (other_id, invoker_id):
        await _emit(
            capif,
            streams.SECURITY,
            {
                "type": "API_INVOKER_AUTHORIZATION_REVOKED",
                "apiInvokerId": revoked,
                "aefId": aef_id,
                "apiIds": ["api-1", "api-2"],
                "cause": "OVERLIMIT_USAGE",
            },
        )
    update = {"type": "ACCESS_CONTROL_POLICY_UPDATE", "apiId": "api-1", "apiInvokerId": invoker_id}
    await _emit(capif, streams.ACCESS_CONTROL, update)

    received = await _notifications(server, "/aef", 3)
    # Two streams: each in order, the two interleaved in any order.
    revocations = [n for n in received if n["events"] == "API_INVOKER_AUTHORIZATION_REVOKED"]
    updates = [n for n in received if n["events"] == "ACCESS_CONTROL_POLICY_UPDATE"]
    assert [n["eventDetail"].get("apiInvokerIds") for n in revocations] == [
        [other_id],
        [invoker_id],
    ]
    assert [n["eventDetail"].get("apiInvokerIds") for n in updates] == [None]
    assert revocations[0]["eventDetail"]["apiIds"] == ["api-1", "api-2"]
    policy = updates[0]["eventDetail"]
    if keys.CAPIF_ACCESS_CONTROL in capif.runner.app:
        assert policy["accCtrlPolList"]["apiId"] == "api-1"
        assert isinstance(policy["accCtrlPolList"]["apiInvokerPolicies"], list)
    else:
        assert policy == {"apiIds": ["api-1"]}
    own = sorted(
        await _notifications(server, "/invoker", 2), key=lambda n: watched.index(n["events"])
    )
    assert [n["events"] for n in own] == watched
    assert own[0]["eventDetail"]["apiInvokerIds"] == [invoker_id]
    policies = own[1]["eventDetail"].get("accCtrlPolList", {}).get("apiInvokerPolicies", [])
    assert all(p["apiInvokerId"] == invoker_id for p in policies)


async def test_reporting_requirements_end_the_subscription(
    capif: CapifPlatform, server: CallbackServer
) -> None:
    ids, holders = await _domain(capif)
    aef_id, aef = ids["AEF"], holders["AEF"]
    invoker_id, _, _ = await capif.onboard()
    once = await _subscribe(
        capif,
        aef_id,
        aef,
        INVOCATION_EVENTS,
        f"{server.url}/once",
        eventReq={"maxReportNbr": 1},
        requestTestNotification=True,
    )
    (test,) = await _notifications(server, "/once", 1)
    assert test == {"subscription": f"{capif.tls_url}{once}"}
    await _fits(COMMON_DATA, "TestNotification", test)
    await _emit(capif, streams.INVOCATIONS, _invocation(aef_id, invoker_id, "api-1", "200"))
    await _emit(capif, streams.INVOCATIONS, _invocation(aef_id, invoker_id, "api-1", "201"))
    received = await _notifications(server, "/once", 2)
    assert received[1]["events"] == "SERVICE_API_INVOCATION_SUCCESS"
    # The report that reached the maximum removed the subscription in its own commit.
    status, problem, _ = await capif.call("DELETE", once, holder=aef)
    assert status == 404, problem

    ended = asyncio.Event()

    def watch(op: Operation) -> None:
        if isinstance(op, Delete):
            ended.set()

    capif.runner.app[keys.COMMITTER].watch(COLLECTION, watch)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    monitored = await _subscribe(
        capif,
        aef_id,
        aef,
        INVOCATION_EVENTS,
        f"{server.url}/monitored",
        eventReq={"monDur": soon.isoformat()},
    )
    async with asyncio.timeout(15):
        await ended.wait()
    status, problem, _ = await capif.call("DELETE", monitored, holder=aef)
    assert status == 404, problem
    assert len(server.by_path["/once"]) == 2


async def test_only_the_subscriber_may_subscribe_and_bodies_are_checked(
    capif: CapifPlatform, server: CallbackServer
) -> None:
    _, holders = await _domain(capif)
    invoker_id, invoker, _ = await capif.onboard()
    other_id, other, _ = await capif.onboard()
    url = f"{server.url}/x"
    good = {"events": ["SERVICE_API_AVAILABLE"], "notificationDestination": url}
    path = f"{EVENTS}/{invoker_id}/subscriptions"
    for who, holder in {"other invoker": other, "AMF": holders["AMF"]}.items():
        status, problem, _ = await capif.call("POST", path, holder=holder, json=good)
        assert status == 403, (who, problem)
        await official_check(EVENTS_API, path, "POST", 403, problem)
    status, problem, response = await capif.call("POST", path, json=good)
    assert status == 401, problem
    assert response.headers["WWW-Authenticate"].startswith("Mutual-TLS")

    # Another subscriber's subscription is not found under one's own id.
    theirs = await _subscribe(capif, other_id, other, ["SERVICE_API_AVAILABLE"], url)
    mine = f"{path}/{theirs.rsplit('/', 1)[1]}"
    status, problem, _ = await capif.call("DELETE", mine, holder=invoker)
    assert status == 404, problem
    status, problem, _ = await capif.call("DELETE", theirs, holder=invoker)
    assert status == 403, problem

    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
    bad: list[tuple[dict[str, Any], str]] = [
        ({**good, "events": ["SERVICE_API_AVAILABLE", "NOT_AN_EVENT"]}, "/events/1"),
        ({**good, "events": []}, "/events"),
        ({"events": ["SERVICE_API_AVAILABLE"]}, "/notificationDestination"),
        ({**good, "notificationDestination": "not a url"}, "/notificationDestination"),
        ({**good, "eventFilters": [{"apiIds": ["a"]}, {"apiIds": ["b"]}]}, "/eventFilters"),
        ({**good, "eventFilters": [{"apiInvokerIds": ["i"]}]}, "/eventFilters/0/apiInvokerIds"),
        ({**good, "eventFilters": [{"apiIds": []}]}, "/eventFilters/0/apiIds"),
        ({**good, "eventReq": {"monDur": past}}, "/eventReq/monDur"),
        ({**good, "eventReq": {"notifMethod": "PERIODIC"}}, "/eventReq/notifMethod"),
        (
            {**good, "websockNotifConfig": {"requestWebsocketUri": True}},
            "/websockNotifConfig/requestWebsocketUri",
        ),
    ]
    for body, pointer in bad:
        status, problem, _ = await capif.call("POST", path, holder=invoker, json=body)
        assert status == 400, (body, problem)
        assert pointer in [p["param"] for p in problem["invalidParams"]], (body, problem)
        await _check(f"/{invoker_id}/subscriptions", "post", 400, problem)

"""The service management part of the Mp1 scenario (GS MEC 011 clause 8)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conformance.callbacks import Notification, of_type
from conformance.mp1_app_support import STALE, last_segment
from conformance.mp1_context import UNKNOWN, Mp1, now_plus
from conformance.runner import Caller

APP_SERVICES = "/applications/{appInstanceId}/services"
APP_SERVICE = "/applications/{appInstanceId}/services/{serviceId}"
LIVENESS = "/applications/{appInstanceId}/services/{serviceId}/liveness"
SUBSCRIPTIONS = "/applications/{appInstanceId}/subscriptions"
SUBSCRIPTION = "/applications/{appInstanceId}/subscriptions/{subscriptionId}"
SERVICES = "/services"
SERVICE = "/services/{serviceId}"
CALLBACK = "service-availability"
# The V2.1.1 file says the type is "SerAvailabilityNotificationSubscription" (a copy slip).
AVAILABILITY = ("SerAvailabilityNotification", "SerAvailabilityNotificationSubscription")


def service_info(name: str, state: str = "ACTIVE") -> dict[str, Any]:
    return {
        "serName": name,
        "serCategory": {
            "href": "/example/catalogue",
            "id": "conformance",
            "name": "Conformance",
            "version": "v1",
        },
        "version": "1.0.0",
        "state": state,
        "transportInfo": {
            "id": "conformance-rest",
            "name": "REST",
            "description": "REST API of the conformance scenario",
            "type": "REST_HTTP",
            "protocol": "HTTP",
            "version": "1.1",
            "endpoint": {"uris": ["http://192.0.2.10:8080/conformance/v1"]},
            "security": {
                "oAuth2Info": {
                    "grantTypes": ["OAUTH2_CLIENT_CREDENTIALS"],
                    "tokenEndpoint": "http://192.0.2.10:8080/oauth2/token",
                }
            },
        },
        "serializer": "JSON",
        "scopeOfLocality": "MEC_HOST",
        "consumedLocalOnly": True,
        "isLocal": True,
        "livenessInterval": 60,
    }


def without(body: dict[str, Any], member: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != member}


def change(service_id: str, change_type: str) -> Callable[[Notification], bool]:
    """Matches an availability notification reporting ``change_type`` for the service."""
    is_availability = of_type(CALLBACK, *AVAILABILITY)

    def wanted(notification: Notification) -> bool:
        if not is_availability(notification):
            return False
        references = notification.body.get("serviceReferences")
        return isinstance(references, list) and any(
            isinstance(r, dict)
            and r.get("serInstanceId") == service_id
            and r.get("changeType") == change_type
            for r in references
        )

    return wanted


async def expect_change(m: Mp1, since: int, service_id: str, change_type: str) -> None:
    got = await m.callbacks.wait_for(change(service_id, change_type), within=m.wait, since=since)
    m.run.notification(
        m.services,
        "ServiceAvailabilityNotification",
        got.body if got else None,
        case=change_type,
        reference_schema="ServiceAvailabilityNotification",
    )


def producer(m: Mp1) -> Caller:
    return m.run.caller(m.services, m.producer_token, appInstanceId=m.producer)


def consumer(m: Mp1) -> Caller:
    return m.run.caller(m.services, m.consumer_token, appInstanceId=m.consumer)


async def subscribe(m: Mp1) -> dict[str, str]:
    """The consumer subscribes to the producer's services by name (and gets a test one)."""
    app = consumer(m)
    body = {
        "subscriptionType": "SerAvailabilityNotificationSubscription",
        "callbackReference": m.callbacks.url(CALLBACK),
        "filteringCriteria": {"serNames": list(m.service_names)},
        "requestTestNotification": True,
    }
    since = len(m.callbacks.received)
    created = await app("POST", SUBSCRIPTIONS, "by serNames, test notif.", 201, body=body)
    test = await m.callbacks.wait_for(
        of_type(CALLBACK, "TestNotification"), within=m.wait, since=since
    )
    m.run.notification(
        m.services,
        "TestNotification",
        test.body if test else None,
        case="after requestTestNotification",
    )
    sub = {"subscriptionId": last_segment(created.headers.get("Location"))}
    await app("GET", SUBSCRIPTIONS, "list", 200)
    await app("GET", SUBSCRIPTION, "one", 200, ids=sub)
    await app("GET", SUBSCRIPTION, "unknown -> 404", 404, ids={"subscriptionId": UNKNOWN})
    two = {**body, "filteringCriteria": {"serNames": ["a"], "serInstanceIds": ["b"]}}
    await app("POST", SUBSCRIPTIONS, "two id filters -> 400", 400, body=two)
    nowhere = without(body, "callbackReference")
    await app("POST", SUBSCRIPTIONS, "no callbackReference -> 400", 400, body=nowhere)
    return sub


async def register(m: Mp1, transport_id: str | None) -> tuple[str, str | None]:
    """The producer registers a service (and the error cases); returns its id and ETag."""
    app = producer(m)
    first, second = m.service_names
    since = len(m.callbacks.received)
    created = await app("POST", APP_SERVICES, "with transportInfo", 201, body=service_info(first))
    location = created.headers.get("Location")
    service_id = str(created.member("serInstanceId") or last_segment(location))
    await expect_change(m, since, service_id, "ADDED")
    await app("POST", APP_SERVICES, "same serName -> 409", 409, body=service_info(first))
    both = {**service_info(second), "transportId": transport_id or "any"}
    await app("POST", APP_SERVICES, "transportId and transportInfo -> 400", 400, body=both)
    nameless = without(service_info(second), "serName")
    await app("POST", APP_SERVICES, "no serName -> 400", 400, body=nameless)
    await app("POST", APP_SERVICES, "not JSON -> 415", 415, raw=(b"x=1", "text/plain"))
    if transport_id is None:
        m.run.skip(f"POST {APP_SERVICES}", "with transportId", "no transport offered")
    else:
        by_id = {**without(service_info(second), "transportInfo"), "transportId": transport_id}
        made = await app("POST", APP_SERVICES, "with transportId", 201, body=by_id)
        if made.status == 201:
            made_id = {"serviceId": str(made.member("serInstanceId"))}
            await app("DELETE", APP_SERVICE, "the transportId one", 204, ids=made_id)
    return service_id, created.headers.get("ETag")


async def queries(m: Mp1, service_id: str) -> None:
    own, anyone = producer(m), consumer(m)
    first = m.service_names[0]
    await own("GET", APP_SERVICES, "own services", 200)
    await own("GET", APP_SERVICES, "ser_name", 200, params=[("ser_name", first)])
    both = [("ser_name", first), ("ser_instance_id", service_id)]
    await own("GET", APP_SERVICES, "ser_name and ser_instance_id -> 400", 400, params=both)
    found = await anyone("GET", SERVICES, "all", 200)
    if isinstance(found.body, list) and not any(
        isinstance(s, dict) and s.get("serInstanceId") == service_id for s in found.body
    ):
        m.run.fail(f"GET {SERVICES}", "all", f"registered service {service_id} not listed")
    two = [("ser_instance_id", service_id), ("ser_instance_id", UNKNOWN)]
    await anyone("GET", SERVICES, "ser_instance_id x2", 200, params=two)
    category = [("ser_category_id", "conformance"), ("is_local", "true")]
    await anyone("GET", SERVICES, "ser_category_id, is_local", 200, params=category)
    clash = [("ser_name", first), ("ser_category_id", "x")]
    await anyone("GET", SERVICES, "ser_name and ser_category_id -> 400", 400, params=clash)
    planet = [("scope_of_locality", "PLANET")]
    await anyone("GET", SERVICES, "bad scope_of_locality -> 400", 400, params=planet)
    long = [("ser_name", "n" * 100)] * 200
    await anyone("GET", SERVICES, "URI too long -> 414", 414, params=long)
    await anyone("GET", SERVICE, "one", 200, ids={"serviceId": service_id})
    await anyone("GET", SERVICE, "unknown -> 404", 404, ids={"serviceId": UNKNOWN})
    anonymous = m.run.caller(m.services, None)
    await anonymous("GET", "/transports", "no token -> 401", 401)


async def liveness(m: Mp1, service: dict[str, str]) -> None:
    """[V2.2.1] heartbeats of an ACTIVE service with a livenessInterval."""
    app = producer(m)
    await app("GET", LIVENESS, "one", 200, ids=service)
    await app("PATCH", LIVENESS, "heartbeat ACTIVE", 200, ids=service, body={"state": "ACTIVE"})
    await app("PATCH", LIVENESS, "bad state -> 400", 400, ids=service, body={"state": "ALIVE"})
    await app("GET", LIVENESS, "unknown service -> 404", 404, ids={"serviceId": UNKNOWN})


async def update(m: Mp1, service: dict[str, str], etag: str | None) -> None:
    app = producer(m)
    got = await app("GET", APP_SERVICE, "one", 200, ids=service)
    etag = got.headers.get("ETag") or etag
    if got.status == 200 and etag is None:
        m.run.fail(f"GET {APP_SERVICE}", "one", "no ETag header")
    inactive = service_info(m.service_names[0], "INACTIVE")
    current = {"If-Match": etag} if etag else None
    since = len(m.callbacks.received)
    await app(
        "PUT",
        APP_SERVICE,
        "state INACTIVE, If-Match current",
        200,
        ids=service,
        body=inactive,
        headers=current,
    )
    await expect_change(m, since, service["serviceId"], "STATE_CHANGED")
    await app(
        "PUT", APP_SERVICE, "If-Match stale -> 412", 412, ids=service, body=inactive, headers=STALE
    )
    dormant = {**inactive, "state": "DORMANT"}
    await app("PUT", APP_SERVICE, "bad state -> 400", 400, ids=service, body=dormant)
    await app(
        "PATCH", LIVENESS, "INACTIVE to ACTIVE -> 409", 409, ids=service, body={"state": "ACTIVE"}
    )
    other = m.run.caller(m.services, m.consumer_token, appInstanceId=m.producer)
    await other("GET", APP_SERVICE, "another instance's token -> 403", 403, ids=service)
    unknown = {"serviceId": UNKNOWN}
    await app("GET", APP_SERVICE, "unknown -> 404", 404, ids=unknown)
    await app("DELETE", APP_SERVICE, "unknown -> 404", 404, ids=unknown)


async def expiry(m: Mp1) -> None:
    """A subscription with an expiryDeadline two seconds ahead ends with an ExpiryNotification."""
    app = consumer(m)
    body = {
        "subscriptionType": "SerAvailabilityNotificationSubscription",
        "callbackReference": m.callbacks.url(CALLBACK),
        "expiryDeadline": now_plus(2),
    }
    since = len(m.callbacks.received)
    created = await app("POST", SUBSCRIPTIONS, "expiryDeadline in 2 s", 201, body=body)
    got = await m.callbacks.wait_for(
        of_type(CALLBACK, "ExpiryNotification"), within=m.wait + 2, since=since
    )
    m.run.notification(
        m.services, "ExpiryNotification", got.body if got else None, case="after expiryDeadline"
    )
    sub = {"subscriptionId": last_segment(created.headers.get("Location"))}
    await app("GET", SUBSCRIPTION, "expired -> 404", 404, ids=sub)


async def service_mgmt(m: Mp1) -> None:
    """Every operation of the service management API, with the notifications they cause."""
    app = producer(m)
    transports = await app("GET", "/transports", "all", 200)
    offered = transports.body if isinstance(transports.body, list) else []
    first_id = next((str(t["id"]) for t in offered if isinstance(t, dict) and "id" in t), None)
    subscription = await subscribe(m)
    service_id, etag = await register(m, first_id)
    service = {"serviceId": service_id}
    await queries(m, service_id)
    await liveness(m, service)
    await update(m, service, etag)
    since = len(m.callbacks.received)
    await app("DELETE", APP_SERVICE, "deregister", 204, ids=service)
    await expect_change(m, since, service_id, "REMOVED")
    await app("GET", APP_SERVICE, "deregistered -> 404", 404, ids=service)
    await expiry(m)
    await consumer(m)("DELETE", SUBSCRIPTION, "unsubscribe", 204, ids=subscription)
    await consumer(m)("GET", SUBSCRIPTION, "unsubscribed -> 404", 404, ids=subscription)

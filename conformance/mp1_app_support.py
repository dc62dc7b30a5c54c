"""The application support part of the Mp1 scenario (GS MEC 011 clause 7)."""

from __future__ import annotations

import time
from typing import Any

from conformance.callbacks import of_type
from conformance.mp1_context import UNKNOWN, Mp1, dns_rule, traffic_rule
from conformance.runner import Caller

APP = "/applications/{appInstanceId}"
TRAFFIC_RULES = f"{APP}/traffic_rules"
TRAFFIC_RULE = f"{APP}/traffic_rules/{{trafficRuleId}}"
DNS_RULES = f"{APP}/dns_rules"
DNS_RULE = f"{APP}/dns_rules/{{dnsRuleId}}"
SUBSCRIPTIONS = f"{APP}/subscriptions"
SUBSCRIPTION = f"{APP}/subscriptions/{{subscriptionId}}"
CONFIRM_READY = f"{APP}/confirm_ready"
CONFIRM_TERMINATION = f"{APP}/confirm_termination"
REGISTRATIONS = "/registrations"
REGISTRATION = "/registrations/{appInstanceId}"
TERMINATION_CALLBACK = "app-termination"
STALE = {"If-Match": '"stale-0"'}


def last_segment(location: str | None) -> str:
    return (location or "").rstrip("/").rsplit("/", 1)[-1]


def producer(m: Mp1) -> Caller:
    return m.run.caller(m.support, m.producer_token, appInstanceId=m.producer)


async def rules(
    m: Mp1, collection: str, item: str, key: str, good: dict[str, Any], bad: dict[str, Any]
) -> None:
    """GET the list and the rule, PUT with and without a current ETag, and the error cases."""
    app = producer(m)
    rule = {key: good[key]}
    listed = await app("GET", collection, "list", 200)
    if isinstance(listed.body, list) and not any(r.get(key) == good[key] for r in listed.body):
        m.run.fail(f"GET {collection}", "list", f"{good[key]} (the operator's rule) is missing")
    got = await app("GET", item, "one", 200, ids=rule)
    etag = got.headers.get("ETag")
    if got.status == 200 and etag is None:
        m.run.fail(f"GET {item}", "one", "no ETag header")
    current = {"If-Match": etag} if etag else None
    await app(
        "PUT", item, "state INACTIVE, If-Match current", 200, ids=rule, body=good, headers=current
    )
    await app("PUT", item, "If-Match stale -> 412", 412, ids=rule, body=good, headers=STALE)
    await app("PUT", item, "invalid body -> 400", 400, ids=rule, body=bad)
    other = {**good, key: f"{good[key]}-other"}
    await app("PUT", item, "id changed -> 400", 400, ids=rule, body=other)
    await app("GET", item, "unknown rule -> 404", 404, ids={key: UNKNOWN})


async def access(m: Mp1) -> None:
    """Tokens are per instance: another instance's, an unknown one, or none at all."""
    app = producer(m)
    await app(
        "GET", TRAFFIC_RULES, "another instance's -> 403", 403, ids={"appInstanceId": m.consumer}
    )
    await app(
        "GET",
        TRAFFIC_RULES,
        "unknown instance -> 403|404",
        (403, 404),
        ids={"appInstanceId": UNKNOWN},
    )
    anonymous = m.run.caller(m.support, None, appInstanceId=m.producer)
    await anonymous("GET", TRAFFIC_RULES, "no token -> 401", 401)


async def subscriptions(m: Mp1) -> None:
    """Create, list, read and delete a termination subscription; keep a second one for the
    termination at the end of the scenario."""
    app = producer(m)
    body = {
        "subscriptionType": "AppTerminationNotificationSubscription",
        "callbackReference": m.callbacks.url(TERMINATION_CALLBACK),
        "appInstanceId": m.producer,
        "requestTestNotification": True,
    }
    since = len(m.callbacks.received)
    created = await app("POST", SUBSCRIPTIONS, "AppTermination, test notif.", 201, body=body)
    test = await m.callbacks.wait_for(
        of_type(TERMINATION_CALLBACK, "TestNotification"), within=m.wait, since=since
    )
    m.run.notification(
        m.support,
        "TestNotification",
        test.body if test else None,
        case="after requestTestNotification",
    )
    location = created.headers.get("Location")
    sub = {"subscriptionId": last_segment(location)}
    listed = await app("GET", SUBSCRIPTIONS, "list", 200)
    links = listed.member("_links", {}).get("subscriptions") or []
    if created.status == 201 and not any(
        isinstance(s, dict) and s.get("href") == location for s in links
    ):
        m.run.fail(f"GET {SUBSCRIPTIONS}", "list", "the created subscription is not listed")
    await app("GET", SUBSCRIPTION, "one", 200, ids=sub)
    await app("GET", SUBSCRIPTION, "unknown -> 404", 404, ids={"subscriptionId": UNKNOWN})
    wrong = {**body, "subscriptionType": "SerAvailabilityNotificationSubscription"}
    await app("POST", SUBSCRIPTIONS, "wrong subscriptionType -> 400", 400, body=wrong)
    await app("POST", SUBSCRIPTIONS, "not JSON -> 415", 415, raw=(b"x=1", "text/plain"))
    await app("DELETE", SUBSCRIPTION, "delete", 204, ids=sub)
    await app("GET", SUBSCRIPTION, "deleted -> 404", 404, ids=sub)
    kept = {**body, "requestTestNotification": False}
    await app("POST", SUBSCRIPTIONS, "AppTermination, kept", 201, body=kept)


async def timing(m: Mp1) -> None:
    app = producer(m)
    await app("GET", "/timing/timing_caps", "capabilities", 200)
    now = await app("GET", "/timing/current_time", "now", 200)
    seconds = now.member("seconds")
    if isinstance(seconds, int) and abs(seconds - time.time()) > 60:
        m.run.fail("GET /timing/current_time", "now", f"{seconds} is over 60 s off this clock")


async def registrations(m: Mp1) -> None:
    """[V3] AppInfo registration of the producer under its own appInstanceId."""
    app = producer(m)
    info = {
        "appName": "conformance-producer",
        "appInstanceId": m.producer,
        "isInsByMec": True,
        "appServiceOptional": [{"serName": m.service_names[0]}],
    }
    await app("POST", REGISTRATIONS, "register", 201, body=info)
    await app("POST", REGISTRATIONS, "again -> 409", 409, body=info)
    nameless = {"appInstanceId": m.producer}
    await app("POST", REGISTRATIONS, "no appName -> 400", 400, body=nameless)
    await app("GET", REGISTRATIONS, "list", 200)
    await app("GET", REGISTRATION, "one", 200)
    await app("PUT", REGISTRATION, "replace", 200, body={**info, "appProvider": "conformance"})
    unknown = {"appInstanceId": UNKNOWN}
    await app("GET", REGISTRATION, "unknown -> 403|404", (403, 404), ids=unknown)
    await app("DELETE", REGISTRATION, "deregister", 204)
    await app("GET", REGISTRATION, "deregistered -> 404", 404)


async def app_support(m: Mp1) -> None:
    """Every operation of the application support API."""
    app = producer(m)
    await app("POST", CONFIRM_READY, "READY", 204, body={"indication": "READY"})
    await app("POST", CONFIRM_READY, "bad indication -> 400", 400, body={"indication": "SOON"})
    bad_rule = {**traffic_rule(), "action": "TELEPORT"}
    await rules(m, TRAFFIC_RULES, TRAFFIC_RULE, "trafficRuleId", traffic_rule("INACTIVE"), bad_rule)
    bad_dns = {**dns_rule(m.tag), "ipAddressType": "IP_V5"}
    await rules(m, DNS_RULES, DNS_RULE, "dnsRuleId", dns_rule(m.tag, "INACTIVE"), bad_dns)
    await access(m)
    await subscriptions(m)
    await app(
        "POST",
        CONFIRM_TERMINATION,
        "none under way -> 409",
        409,
        body={"operationAction": "TERMINATING"},
    )
    await timing(m)
    await registrations(m)

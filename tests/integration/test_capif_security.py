"""CAPIF Security API over real TLS (TS 29.222 clause 8.5): an invoker negotiates its security
context for published APIs, AEFs read and revoke it, and every revocation reaches the invoker
and the event log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.callbacks import CallbackServer
from fixtures.capif import INVOKERS, CapifPlatform, capif_on, official_check
from fixtures.capif_security import (
    SECURITY_API,
    TRUSTED,
    context,
    domain,
    entry,
    platform_api,
    put_context,
    request_token,
    token_form,
)
from fixtures.openapi import OpenApiDocument

from mep.capif import streams
from mep.capif.security import COLLECTION
from mep.core import keys

SPEC = OpenApiDocument("capif-security.yaml")
ONE = "/trustedInvokers/{apiInvokerId}"


@pytest.fixture(params=["sqlite", "redis"])
async def capif(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CapifPlatform]:
    async with capif_on(request.param, tmp_path) as platform:
        yield platform


@pytest.fixture
async def callbacks() -> AsyncIterator[CallbackServer]:
    server = CallbackServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def _check(template: str, path: str, method: str, status: int, body: Any) -> None:
    SPEC.check(template, method, status, body)
    await official_check(SECURITY_API, path, method.upper(), status, body)


async def test_put_negotiates_each_method_and_aefs_read_their_entries(
    capif: CapifPlatform,
) -> None:
    provider = await domain(capif)
    both = await provider.publish(capif, "both", securityMethods=["OAUTH", "PKI"])
    # The interface's methods override the profile's.
    pki_here = await provider.publish(
        capif,
        "pki-here",
        securityMethods=["OAUTH"],
        interfaceDescriptions=[
            {"ipv4Addr": "198.51.100.8", "port": 443, "securityMethods": ["PKI"]}
        ],
    )
    platform_aef, location = platform_api(capif, "location")
    invoker_id, invoker, _ = await capif.onboard()
    one = f"{TRUSTED}/{invoker_id}"
    body = context(
        entry(provider.aef_id, both, "PKI", "OAUTH"),
        entry(provider.aef_id, pki_here, "OAUTH", "PKI"),
        entry(platform_aef, location, "OAUTH", "PKI"),
    )
    status, answered, response = await capif.call("PUT", one, holder=invoker, json=body)
    assert status == 201, answered
    await _check(ONE, one, "put", 201, answered)
    assert response.headers["Location"] == f"{capif.tls_url}{one}"
    assert [e["selSecurityMethod"] for e in answered["securityInfo"]] == ["PKI", "PKI", "OAUTH"]
    assert answered["notificationDestination"] == body["notificationDestination"]
    assert not any("authenticationInfo" in e for e in answered["securityInfo"])

    # The AEF reads its own entries only; the booleans in any case.
    status, got, _ = await capif.call(
        "GET", one, holder=provider.aef, params={"authorizationInfo": "True"}
    )
    assert status == 200, got
    await _check(ONE, one, "get", 200, got)
    assert [e["apiId"] for e in got["securityInfo"]] == [both, pki_here]
    infos = [e["authorizationInfo"] for e in got["securityInfo"]]
    assert infos == [f"3gpp#{provider.aef_id}:both", f"3gpp#{provider.aef_id}:pki-here"]
    for flag in ("false", "FALSE", "False"):
        params = {"authorizationInfo": flag, "authenticationInfo": "true"}
        status, got, _ = await capif.call("GET", one, holder=provider.aef, params=params)
        assert status == 200, got
        assert not any("authorizationInfo" in e for e in got["securityInfo"])
        assert not any("authenticationInfo" in e for e in got["securityInfo"])
    status, problem, _ = await capif.call(
        "GET", one, holder=provider.aef, params={"authorizationInfo": "maybe"}
    )
    assert status == 400, problem
    assert problem["invalidParams"][0]["param"] == "query authorizationInfo"
    await _check(ONE, one, "get", 400, problem)

    # Renegotiation: /update answers 200, and a second PUT replaces the context (201).
    status, updated, _ = await capif.call(
        "POST", f"{one}/update", holder=invoker, json=context(entry(provider.aef_id, both, "OAUTH"))
    )
    assert status == 200, updated
    await _check(f"{ONE}/update", f"{one}/update", "post", 200, updated)
    assert [e["selSecurityMethod"] for e in updated["securityInfo"]] == ["OAUTH"]
    replaced = await put_context(capif, invoker_id, invoker, context(entry(platform_aef, location)))
    assert [e["apiId"] for e in replaced["securityInfo"]] == [location]
    status, problem, _ = await capif.call("GET", one, holder=provider.aef)
    assert status == 404, problem
    await _check(ONE, one, "get", 404, problem)


async def test_bad_contexts_name_the_entry(capif: CapifPlatform) -> None:
    provider = await domain(capif)
    oauth_only = await provider.publish(capif, "oauth-only")
    hidden = await provider.publish(capif, "hidden")
    invoker_id, invoker, _ = await capif.onboard(
        extra={"apiList": {"serviceAPIDescriptions": [{"apiName": "oauth-only"}]}}
    )
    one = f"{TRUSTED}/{invoker_id}"
    both_ways = {**entry(provider.aef_id, oauth_only), "interfaceDetails": {"ipv4Addr": "1.2.3.4"}}
    cases = [
        (context(entry(provider.aef_id, oauth_only, "PKI")), "/securityInfo/0/prefSecurityMethods"),
        (
            context(entry(provider.aef_id, oauth_only), entry(provider.aef_id, "no-such-api")),
            "/securityInfo/1/apiId",
        ),
        (context(entry(provider.aef_id, hidden)), "/securityInfo/0/apiId"),
        (context(entry("AEFunknown", oauth_only)), "/securityInfo/0/aefId"),
        (
            context(entry(provider.aef_id, oauth_only, "MAGIC")),
            "/securityInfo/0/prefSecurityMethods/0",
        ),
        (context(both_ways), "/securityInfo/0"),
        (context(), "/securityInfo"),
        ({"securityInfo": [entry(provider.aef_id, oauth_only)]}, "/notificationDestination"),
        (
            context(entry(provider.aef_id, oauth_only), destination="ftp://x"),
            "/notificationDestination",
        ),
        (
            context({"aefId": provider.aef_id, "apiId": oauth_only, "prefSecurityMethods": []}),
            "/securityInfo/0/prefSecurityMethods",
        ),
    ]
    for body, pointer in cases:
        status, problem, _ = await capif.call("PUT", one, holder=invoker, json=body)
        assert status == 400, (pointer, problem)
        assert pointer in {p["param"] for p in problem["invalidParams"]}, problem
        await _check(ONE, one, "put", 400, problem)
    # Nothing was kept of any of them.
    assert await capif.store.get(COLLECTION, invoker_id) is None


async def test_who_may_call_what(capif: CapifPlatform) -> None:
    provider = await domain(capif)
    api_id = await provider.publish(capif, "guarded")
    invoker_id, invoker, _ = await capif.onboard()
    _, other, _ = await capif.onboard()
    one = f"{TRUSTED}/{invoker_id}"
    body = context(entry(provider.aef_id, api_id))

    status, problem, _ = await capif.call("POST", f"{one}/update", holder=invoker, json=body)
    assert status == 404, problem
    await _check(f"{ONE}/update", f"{one}/update", "post", 404, problem)
    status, problem, _ = await capif.call("PUT", one, holder=other, json=body)
    assert status == 403, problem
    assert problem["cause"] == "IDENTITY_MISMATCH"
    await _check(ONE, one, "put", 403, problem)
    status, problem, _ = await capif.call("PUT", one, holder=provider.aef, json=body)
    assert status == 403, problem
    status, problem, _ = await capif.call("PUT", one, json=body)
    assert status == 401, problem
    await _check(ONE, one, "put", 401, problem)

    await put_context(capif, invoker_id, invoker, body)
    for method, path in (("GET", one), ("DELETE", one)):
        status, problem, _ = await capif.call(method, path, holder=invoker)
        assert status == 403, problem
        await _check(ONE, path, method.lower(), 403, problem)
    revoke = {"apiInvokerId": invoker_id, "apiIds": [api_id], "cause": "UNEXPECTED_REASON"}
    status, problem, _ = await capif.call("POST", f"{one}/delete", holder=invoker, json=revoke)
    assert status == 403, problem
    # Another domain's AEF sees nothing of it.
    stranger = await domain(capif)
    status, problem, _ = await capif.call("DELETE", one, holder=stranger.aef)
    assert status == 404, problem
    status, problem, _ = await capif.call("POST", f"{one}/delete", holder=stranger.aef, json=revoke)
    assert status == 404, problem
    status, problem, _ = await capif.call(
        "POST", f"{one}/delete", holder=stranger.aef, json={**revoke, "aefId": provider.aef_id}
    )
    assert status == 403, problem
    assert (
        await capif.runner.app[keys.CAPIF_SECURITY].selected_method(
            invoker_id, provider.aef_id, api_id
        )
        == "OAUTH"
    )


async def test_an_aef_revoking_everything_notifies_the_invoker_and_stops_its_tokens(
    capif: CapifPlatform, callbacks: CallbackServer
) -> None:
    provider = await domain(capif)
    api_id = await provider.publish(capif, "revocable")
    platform_aef, location = platform_api(capif, "location")
    invoker_id, invoker, _ = await capif.onboard()
    one = f"{TRUSTED}/{invoker_id}"
    destination = f"{callbacks.url}/security"
    await put_context(
        capif,
        invoker_id,
        invoker,
        context(
            entry(provider.aef_id, api_id), entry(platform_aef, location), destination=destination
        ),
    )
    scope = f"3gpp#{provider.aef_id}:revocable"
    status, body, _ = await request_token(capif, invoker, token_form(invoker_id, scope))
    assert status == 200, body
    consumer = await capif.deps.events.consumer(streams.SECURITY, "security-test", "one")
    try:
        status, _, _ = await capif.call("DELETE", one, holder=provider.aef)
        assert status == 204
        await callbacks.wait_for(1, path="/security")
        expected = {
            "apiInvokerId": invoker_id,
            "aefId": provider.aef_id,
            "apiIds": [api_id],
            "cause": "UNEXPECTED_REASON",
        }
        assert callbacks.by_path["/security"] == [expected]
        events = await consumer.read(timeout=5.0)
        payloads = [{k: v for k, v in e.payload.items() if k != "eventId"} for e in events]
        assert payloads == [{"type": "API_INVOKER_AUTHORIZATION_REVOKED", **expected}]
    finally:
        await consumer.close()

    status, body, _ = await request_token(capif, invoker, token_form(invoker_id, scope))
    assert (status, body["error"]) == (400, "invalid_scope"), body
    status, body, _ = await request_token(
        capif, invoker, token_form(invoker_id, f"3gpp#{platform_aef}:location")
    )
    assert status == 200, body
    status, problem, _ = await capif.call("DELETE", one, holder=provider.aef)
    assert status == 404, problem
    await _check(ONE, one, "delete", 404, problem)
    security = capif.runner.app[keys.CAPIF_SECURITY]
    assert await security.invokers_for(api_id) == []
    assert await security.invokers_for(location) == [invoker_id]


async def test_partial_revocation_splits_an_entry_and_the_last_one_removes_the_context(
    capif: CapifPlatform, callbacks: CallbackServer
) -> None:
    provider = await domain(capif)
    first = await provider.publish(capif, "first")
    second = await provider.publish(capif, "second")
    invoker_id, invoker, _ = await capif.onboard()
    one = f"{TRUSTED}/{invoker_id}"
    destination = f"{callbacks.url}/partial"
    answered = await put_context(
        capif, invoker_id, invoker, context(entry(provider.aef_id), destination=destination)
    )
    assert len(answered["securityInfo"]) == 1
    assert "apiId" not in answered["securityInfo"][0]
    security = capif.runner.app[keys.CAPIF_SECURITY]
    assert sorted(await security.invokers_for(first) + await security.invokers_for(second)) == [
        invoker_id,
        invoker_id,
    ]

    revoke = {"apiInvokerId": invoker_id, "apiIds": [first], "cause": "OVERLIMIT_USAGE"}
    status, problem, _ = await capif.call(
        "POST", f"{one}/delete", holder=provider.aef, json={**revoke, "apiInvokerId": "INVother"}
    )
    assert status == 400, problem
    assert problem["invalidParams"][0]["param"] == "/apiInvokerId"
    await _check(f"{ONE}/delete", f"{one}/delete", "post", 400, problem)
    status, _, _ = await capif.call("POST", f"{one}/delete", holder=provider.aef, json=revoke)
    assert status == 204
    await callbacks.wait_for(1, path="/partial")
    assert callbacks.received[0] == {**revoke, "aefId": provider.aef_id}
    status, got, _ = await capif.call("GET", one, holder=provider.aef)
    assert status == 200, got
    assert [(e["aefId"], e.get("apiId")) for e in got["securityInfo"]] == [
        (provider.aef_id, second)
    ]
    assert await security.selected_method(invoker_id, provider.aef_id, first) is None
    assert await security.selected_method(invoker_id, provider.aef_id, second) == "OAUTH"
    status, problem, _ = await capif.call("POST", f"{one}/delete", holder=provider.aef, json=revoke)
    assert status == 404, problem

    assert await security.revoke(
        invoker_id, aef_id=provider.aef_id, api_ids=[second], cause="UNEXPECTED_REASON"
    )
    assert await capif.store.get(COLLECTION, invoker_id) is None
    assert not await security.revoke(
        invoker_id, aef_id=provider.aef_id, api_ids=[second], cause="UNEXPECTED_REASON"
    )
    await callbacks.wait_for(2, path="/partial")
    status, problem, _ = await capif.call("POST", f"{one}/update", holder=invoker, json=context())
    assert status == 400, problem


async def test_interface_details_resolve_to_the_aef_publishing_them(
    capif: CapifPlatform, callbacks: CallbackServer
) -> None:
    provider = await domain(capif)
    interface = {"ipv4Addr": "198.51.100.9", "port": 8443, "securityMethods": ["PSK", "PKI"]}
    api_id = await provider.publish(
        capif, "by-interface", securityMethods=["OAUTH"], interfaceDescriptions=[interface]
    )
    invoker_id, invoker, _ = await capif.onboard()
    one = f"{TRUSTED}/{invoker_id}"
    at_interface = {
        "interfaceDetails": {"ipv4Addr": "198.51.100.9", "port": 8443},
        "prefSecurityMethods": ["OAUTH", "PSK"],
    }
    answered = await put_context(
        capif,
        invoker_id,
        invoker,
        context(
            at_interface,
            destination=f"{callbacks.url}/test",
            requestTestNotification=True,
        ),
    )
    (info,) = answered["securityInfo"]
    assert info["selSecurityMethod"] == "PSK"
    psk = info["authenticationInfo"]
    assert len(bytes.fromhex(psk)) == 32
    await callbacks.wait_for(1, path="/test")
    assert callbacks.received == [{"subscription": f"{capif.tls_url}{one}"}]

    status, got, _ = await capif.call(
        "GET", one, holder=provider.aef, params={"authenticationInfo": "true"}
    )
    assert status == 200, got
    assert got["securityInfo"][0]["authenticationInfo"] == psk
    security = capif.runner.app[keys.CAPIF_SECURITY]
    assert await security.selected_method(invoker_id, provider.aef_id, api_id) == "PSK"

    wrong_port = {**at_interface, "interfaceDetails": {"ipv4Addr": "198.51.100.9", "port": 1}}
    status, problem, _ = await capif.call("PUT", one, holder=invoker, json=context(wrong_port))
    assert status == 400, problem
    assert problem["invalidParams"][0]["param"] == "/securityInfo/0/interfaceDetails"


async def test_offboarding_removes_the_security_context(capif: CapifPlatform) -> None:
    provider = await domain(capif)
    api_id = await provider.publish(capif, "short-lived")
    invoker_id, invoker, _ = await capif.onboard()
    await put_context(capif, invoker_id, invoker, context(entry(provider.aef_id, api_id)))
    security = capif.runner.app[keys.CAPIF_SECURITY]
    assert await security.invokers_for(api_id) == [invoker_id]
    status, _, _ = await capif.call("DELETE", f"{INVOKERS}/{invoker_id}", holder=invoker)
    assert status == 204
    assert await capif.store.get(COLLECTION, invoker_id) is None
    assert await security.invokers_for(api_id) == []
    status, problem, _ = await capif.call("GET", f"{TRUSTED}/{invoker_id}", holder=provider.aef)
    assert status == 404, problem

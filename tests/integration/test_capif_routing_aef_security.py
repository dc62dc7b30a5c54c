"""The Routing Info API (CCF, CAPIF-3) and the AEF Security API of the platform's AEF over real
TLS: an AEF reads how to reach an API it exposes; an invoker checks that the platform's AEF
accepts its token or certificate; the CCF revokes an invoker's authorization there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.callbacks import CallbackServer
from fixtures.capif import OPERATOR, CapifPlatform, Holder, capif_on, official_check
from fixtures.capif_security import (
    AEF_SECURITY,
    AEF_SECURITY_API,
    ROUTING,
    ROUTING_API,
    context,
    domain,
    entry,
    platform_api,
    put_context,
    request_token,
    token_form,
)
from fixtures.openapi import OpenApiDocument

from mep.core import keys

ROUTING_SPEC = OpenApiDocument("capif-routing-info.yaml")
AEF_SPEC = OpenApiDocument("capif-aef-security.yaml")
CHECK = f"{AEF_SECURITY}/check-authentication"
REVOKE = f"{AEF_SECURITY}/revoke-authorization"


@pytest.fixture(params=["sqlite", "redis"])
async def capif(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CapifPlatform]:
    async with capif_on(request.param, tmp_path) as platform:
        yield platform


async def _routing_check(path: str, status: int, body: Any) -> None:
    ROUTING_SPEC.check("/service-apis/{serviceApiId}", "get", status, body)
    await official_check(
        ROUTING_API, path.removeprefix("/capif-routing-info/v1"), "GET", status, body
    )


async def _aef_check(path: str, status: int, body: Any) -> None:
    relative = path.removeprefix(AEF_SECURITY)
    AEF_SPEC.check(relative, "post", status, body)
    await official_check(AEF_SECURITY_API, relative, "POST", status, body)


async def test_an_aef_reads_the_routing_of_an_api_it_exposes(capif: CapifPlatform) -> None:
    provider = await domain(capif)
    ranges = {"ueIpv4AddrRanges": [{"start": "10.0.0.1", "end": "10.0.0.99"}]}
    api_id = await provider.publish(capif, "routed", ueIpRange=ranges)
    path = f"{ROUTING}/{api_id}"
    status, body, _ = await capif.call(
        "GET", path, holder=provider.aef, params={"aef-id": provider.aef_id, "supp-feat": "0"}
    )
    assert status == 200, body
    await _routing_check(path, 200, body)
    (rule,) = body["routingRules"]
    assert rule["aefProfile"]["aefId"] == provider.aef_id
    assert rule["aefProfile"]["interfaceDescriptions"] == [
        {"ipv4Addr": "198.51.100.7", "port": 443}
    ]
    assert rule["ipv4AddrRanges"] == ranges["ueIpv4AddrRanges"]

    status, problem, _ = await capif.call("GET", path, holder=provider.aef)
    assert status == 400, problem
    assert problem["invalidParams"][0]["param"] == "query aef-id"
    await _routing_check(path, 400, problem)
    bad_features = {"aef-id": provider.aef_id, "supp-feat": "xyz"}
    status, problem, _ = await capif.call("GET", path, holder=provider.aef, params=bad_features)
    assert status == 400, problem
    missing = f"{ROUTING}/no-such-api"
    status, problem, _ = await capif.call(
        "GET", missing, holder=provider.aef, params={"aef-id": provider.aef_id}
    )
    assert status == 404, problem
    await _routing_check(missing, 404, problem)
    # Another AEF: with its own id, the API is not its; with this one's, the certificate isn't.
    other = await domain(capif)
    status, problem, _ = await capif.call(
        "GET", path, holder=other.aef, params={"aef-id": other.aef_id}
    )
    assert status == 404, problem
    status, problem, _ = await capif.call(
        "GET", path, holder=other.aef, params={"aef-id": provider.aef_id}
    )
    assert status == 403, problem
    await _routing_check(path, 403, problem)
    _, invoker, _ = await capif.onboard()
    status, problem, _ = await capif.call(
        "GET", path, holder=invoker, params={"aef-id": provider.aef_id}
    )
    assert status == 403, problem
    status, problem, _ = await capif.call("GET", path, params={"aef-id": provider.aef_id})
    assert status == 401, problem
    await _routing_check(path, 401, problem)


async def _platform_invoker(capif: CapifPlatform, destination: str) -> tuple[str, Holder, str]:
    """An invoker with a context for the platform's location API: id, holder, apiId."""
    platform_aef, location = platform_api(capif, "location")
    invoker_id, invoker, _ = await capif.onboard()
    body = context(entry(platform_aef, location, "OAUTH", "PKI"), destination=destination)
    await put_context(capif, invoker_id, invoker, body)
    return invoker_id, invoker, location


async def test_check_authentication_by_token_or_certificate(capif: CapifPlatform) -> None:
    invoker_id, invoker, _ = await _platform_invoker(capif, "http://127.0.0.1:9/cb")
    status, body, _ = await request_token(capif, invoker, token_form(invoker_id))
    assert status == 200, body
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    request = {"apiInvokerId": invoker_id, "supportedFeatures": "0"}
    status, body, _ = await capif.call("POST", CHECK, json=request, headers=bearer, plain=True)
    assert (status, body) == (200, {"supportedFeatures": "0"}), body
    await _aef_check(CHECK, 200, body)
    status, body, _ = await capif.call("POST", CHECK, json=request, holder=invoker)
    assert (status, body) == (200, {"supportedFeatures": "0"}), body

    other_id, other, _ = await capif.onboard()
    status, problem, _ = await capif.call(
        "POST", CHECK, json={**request, "apiInvokerId": other_id}, headers=bearer, plain=True
    )
    assert status == 403, problem
    assert problem["cause"] == "IDENTITY_MISMATCH"
    await _aef_check(CHECK, 403, problem)
    # Onboarded, but authorised only at another AEF.
    provider = await domain(capif)
    api_id = await provider.publish(capif, "elsewhere")
    await put_context(capif, other_id, other, context(entry(provider.aef_id, api_id)))
    status, problem, _ = await capif.call(
        "POST", CHECK, json={**request, "apiInvokerId": other_id}, holder=other
    )
    assert status == 403, problem
    assert problem["cause"] == "API_INVOKER_NOT_AUTHORIZED"
    # No credential, a forged token, the operator.
    status, problem, _ = await capif.call("POST", CHECK, json=request, plain=True)
    assert status == 401, problem
    await _aef_check(CHECK, 401, problem)
    forged = {"Authorization": "Bearer not.a.token"}
    status, problem, _ = await capif.call("POST", CHECK, json=request, headers=forged, plain=True)
    assert status == 401, problem
    status, problem, _ = await capif.call("POST", CHECK, json=request, headers=OPERATOR, plain=True)
    assert status == 403, problem
    status, problem, _ = await capif.call(
        "POST", CHECK, json={"apiInvokerId": invoker_id}, headers=bearer, plain=True
    )
    assert status == 400, problem
    assert problem["invalidParams"][0]["param"] == "/supportedFeatures"


async def test_the_ccf_revokes_an_authorization_at_the_aef(capif: CapifPlatform) -> None:
    callbacks = CallbackServer()
    await callbacks.start()
    try:
        await _revocations(capif, callbacks)
    finally:
        await callbacks.stop()


async def _revocations(capif: CapifPlatform, callbacks: CallbackServer) -> None:
    invoker_id, invoker, location = await _platform_invoker(capif, f"{callbacks.url}/revoked")
    platform_aef = capif.runner.app[keys.CAPIF_PLATFORM].aef_id
    security = capif.runner.app[keys.CAPIF_SECURITY]
    info = {"apiInvokerId": invoker_id, "apiIds": [location], "cause": "OVERLIMIT_USAGE"}
    request = {"revokeInfo": info, "supportedFeatures": "0"}

    # Only the CCF's side may: not an invoker, nor a foreign AEF or AMF for the platform's AEF.
    provider = await domain(capif)
    for holder in (invoker, provider.aef, provider.holders["AMF"]):
        status, problem, _ = await capif.call("POST", REVOKE, json=request, holder=holder)
        assert status == 403, problem
        await _aef_check(REVOKE, 403, problem)
    assert await security.selected_method(invoker_id, platform_aef, location) == "OAUTH"

    status, body, _ = await capif.call("POST", REVOKE, json=request, headers=OPERATOR, plain=True)
    assert (status, body) == (200, {"supportedFeatures": "0"}), body
    await _aef_check(REVOKE, 200, body)
    await callbacks.wait_for(1, path="/revoked")
    assert callbacks.received == [{**info, "aefId": platform_aef}]
    assert await security.selected_method(invoker_id, platform_aef, location) is None
    status, problem, _ = await capif.call(
        "POST", REVOKE, json=request, headers=OPERATOR, plain=True
    )
    assert status == 404, problem
    await _aef_check(REVOKE, 404, problem)

    # An AEF for itself, and an AMF for an AEF of its domain.
    first = await provider.publish(capif, "first")
    second = await provider.publish(capif, "second")
    destination = f"{callbacks.url}/revoked"
    body = context(entry(provider.aef_id), destination=destination)
    await put_context(capif, invoker_id, invoker, body)
    own = {**info, "aefId": provider.aef_id, "apiIds": [first]}
    status, body, _ = await capif.call(
        "POST", REVOKE, json={**request, "revokeInfo": own}, holder=provider.aef
    )
    assert status == 200, body
    by_amf = {**own, "apiIds": [second]}
    status, body, _ = await capif.call(
        "POST", REVOKE, json={**request, "revokeInfo": by_amf}, holder=provider.holders["AMF"]
    )
    assert status == 200, body
    assert await security.invokers_for(first) == await security.invokers_for(second) == []
    await callbacks.wait_for(3, path="/revoked")
    assert callbacks.received[1:] == [own, by_amf]

"""CAPIF Discover Service API over real TLS (TS 29.222 clause 8.1): an onboarded invoker, with
its own certificate, finds the published APIs it may use, by every filter of the spec, and
finds the platform's own APIs among them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.capif import (
    DISCOVER,
    DISCOVER_API,
    PUBLISHED,
    REGISTRATIONS,
    CapifPlatform,
    Holder,
    aef_profile,
    capif_on,
    official_check,
    service_api,
)
from fixtures.openapi import OpenApiDocument

from mep.core import keys

SPEC = OpenApiDocument("capif-discover-service.yaml")
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture(params=["sqlite", "redis"])
async def capif(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CapifPlatform]:
    async with capif_on(request.param, tmp_path) as platform:
        yield platform


async def _check(status: int, body: Any) -> None:
    SPEC.check("/allServiceAPIs", "get", status, body)
    await official_check(DISCOVER_API, "/allServiceAPIs", "GET", status, body)


def _found(body: dict[str, Any]) -> dict[str, list[str]]:
    """Each answered API by name, with the aefIds of its answered profiles."""
    return {
        api["apiName"]: [p["aefId"] for p in api["aefProfiles"]]
        for api in body.get("serviceAPIDescriptions", [])
    }


async def test_an_invoker_finds_the_platforms_own_apis(capif: CapifPlatform) -> None:
    invoker_id, invoker, _ = await capif.onboard()
    status, body = await capif.discover(invoker_id, invoker)
    assert status == 200, body
    await _check(200, body)
    apis = {api["apiName"]: api for api in body["serviceAPIDescriptions"]}
    assert {"location", "rni", "bwm"} <= set(apis)
    platform = capif.runner.app[keys.CAPIF_PLATFORM]
    location = apis["location"]
    assert location["apiId"]
    assert location["serviceAPICategory"] == "Location"
    (profile,) = location["aefProfiles"]
    assert profile["aefId"] == platform.aef_id
    assert profile["securityMethods"] == ["OAUTH", "PKI"]
    assert profile["protocol"] == "HTTP_1_1"
    assert profile["dataFormat"] == "JSON"
    (version,) = profile["versions"]
    assert version["apiVersion"] == "v2"
    resources = {r["uri"]: r for r in version["resources"]}
    assert resources["/queries/distance"]["operations"] == ["GET"]
    assert resources["/queries/zones/{zoneId}"]["commType"] == "REQUEST_RESPONSE"
    circle = resources["/subscriptions/area/circle/{subscriptionId}"]
    assert circle["operations"] == ["GET", "PUT", "DELETE"]
    assert circle["commType"] == "SUBSCRIBE_NOTIFY"
    tls, plain = profile["interfaceDescriptions"]
    assert tls == {"ipv4Addr": "127.0.0.1", "port": capif.settings.tls_port}
    assert plain == {"fqdn": "mep.test", "port": 80, "securityMethods": ["OAUTH"]}
    rni = apis["rni"]["aefProfiles"][0]["versions"][0]
    assert rni["apiVersion"] == "v2"
    assert {r["uri"] for r in rni["resources"]} >= {"/queries/rab_info", "/subscriptions"}
    bwm = apis["bwm"]["aefProfiles"][0]["versions"][0]
    assert bwm["apiVersion"] == "v1"
    assert {r["uri"]: r["operations"] for r in bwm["resources"]} == {
        "/bw_allocations": ["GET", "POST"],
        "/bw_allocations/{allocationId}": ["GET", "PUT", "PATCH", "DELETE"],
    }

    status, body = await capif.discover(invoker_id, invoker, api_name="location")
    assert _found(body) == {"location": [platform.aef_id]}
    status, body = await capif.discover(invoker_id, invoker, req_api_prov_name="mep-platform")
    assert set(_found(body)) == {"location", "rni", "bwm"}
    # The clients that join "https://host/" and "/service-apis" are answered too.
    status, body, _ = await capif.call(
        "GET", f"/{DISCOVER}", holder=invoker, params={"api-invoker-id": invoker_id}
    )
    assert status == 200, body


async def test_the_caller_must_be_the_invoker_named(capif: CapifPlatform) -> None:
    invoker_id, invoker, _ = await capif.onboard()
    other_id, other, _ = await capif.onboard()
    _, holders = await capif.register()
    status, problem, _ = await capif.call("GET", DISCOVER, holder=invoker)
    assert status == 400, problem
    assert problem["invalidParams"] == [
        {"param": "query api-invoker-id", "reason": "the API invoker's id is required"}
    ]
    await _check(400, problem)
    status, problem = await capif.discover(other_id, invoker)
    assert status == 403, problem
    await _check(403, problem)
    status, problem = await capif.discover(invoker_id, holders["APF"])
    assert status == 403, problem
    status, problem, response = await capif.call(
        "GET", DISCOVER, params={"api-invoker-id": invoker_id}
    )
    assert status == 401, problem
    assert response.headers["WWW-Authenticate"].startswith("Mutual-TLS")
    await _check(401, problem)
    status, _, _ = await capif.call(
        "DELETE", f"/api-invoker-management/v1/onboardedInvokers/{other_id}", holder=other
    )
    assert status == 204
    status, problem = await capif.discover(other_id, other)
    assert status == 401, problem  # offboarded: its certificate is revoked


async def _two_apis(capif: CapifPlatform) -> tuple[dict[str, str], dict[str, Holder]]:
    """A domain ``acme`` with AEFs A1 and A2 and an APF that publishes ``alpha`` (A1 and A2,
    unlike in every respect) and ``beta`` (A2 only). Ids by role and name (``A1``, ``A2``,
    ``alpha``, ``beta``), and the APF and AMF holders."""
    body, holders = await capif.register(("AEF", "AEF", "APF", "AMF"))
    funcs = body["apiProvFuncs"]
    a1, a2, apf = funcs[0]["apiProvFuncId"], funcs[1]["apiProvFuncId"], funcs[2]["apiProvFuncId"]
    ids = {"A1": a1, "A2": a2, "APF": apf, "DOM": body["apiProvDomId"]}
    amf = holders["AMF"]
    status, patched, _ = await capif.call(
        "PATCH", f"{REGISTRATIONS}/{ids['DOM']}", holder=amf,
        json={"apiProvDomInfo": "acme"}, headers=MERGE_PATCH,
    )  # fmt: skip
    assert status == 200, patched
    subscribe = {
        "apiVersion": "v2",
        "resources": [{"resourceName": "events", "commType": "SUBSCRIBE_NOTIFY", "uri": "/ev"}],
    }
    alpha = service_api(
        "alpha",
        aef_profile(
            a1,
            aefLocation={"dcId": "dc1", "civicAddr": {"country": "FR", "A1": "PACA"}},
            serviceKpis={"maxReqRate": 100, "maxRestime": 5, "avalMem": "512 MB"},
            ueIpRange={"ueIpv4AddrRanges": [{"start": "10.0.0.0", "end": "10.0.0.255"}]},
        ),
        aef_profile(
            a2,
            versions=[subscribe],
            protocol="HTTP_2",
            dataFormat="XML",
            aefLocation={"dcId": "dc2", "civicAddr": {"country": "FR", "A1": "IDF"}},
            ueIpRange={"ueIpv6AddrRanges": [{"start": "2001:db8::", "end": "2001:db8::ffff"}]},
            securityMethods=None,
            interfaceDescriptions=[{"fqdn": "a2.example.com", "securityMethods": ["PKI"]}],
        ),
        serviceAPICategory="cat-a",
        apiSuppFeats="3",
    )
    alpha["aefProfiles"][1] = {k: v for k, v in alpha["aefProfiles"][1].items() if v is not None}
    beta = service_api("beta", aef_profile(a2), serviceAPICategory="cat-b", apiSuppFeats="1")
    ids["alpha"] = await capif.publish(apf, holders["APF"], alpha)
    ids["beta"] = await capif.publish(apf, holders["APF"], beta)
    return ids, holders


async def test_every_filter(capif: CapifPlatform) -> None:
    ids, holders = await _two_apis(capif)
    a1, a2 = ids["A1"], ids["A2"]
    # This invoker may use alpha and beta only: the platform's APIs stay out of its answers.
    api_list = {"serviceAPIDescriptions": [{"apiName": "alpha"}, {"apiName": "beta"}]}
    invoker_id, invoker, _ = await capif.onboard(extra={"apiList": api_list})
    both = {"alpha": [a1, a2], "beta": [a2]}
    cases: list[tuple[dict[str, str], dict[str, list[str]]]] = [
        ({}, both),
        ({"api_name": "alpha"}, {"alpha": [a1, a2]}),
        ({"api_name": "gamma"}, {}),
        ({"api_version": "v2"}, {"alpha": [a2]}),
        ({"api_version": "v1"}, {"alpha": [a1], "beta": [a2]}),
        ({"comm_type": "SUBSCRIBE_NOTIFY"}, {"alpha": [a2]}),
        ({"comm_type": "REQUEST_RESPONSE"}, {"alpha": [a1], "beta": [a2]}),
        ({"protocol": "HTTP_2"}, {"alpha": [a2]}),
        ({"protocol": "MQTT"}, {}),
        ({"aef_id": a1}, {"alpha": [a1]}),
        ({"aef_id": a2}, {"alpha": [a2], "beta": [a2]}),
        ({"data_format": "XML"}, {"alpha": [a2]}),
        ({"api_cat": "cat-b"}, {"beta": [a2]}),
        ({"preferred_aef_loc": json.dumps({"dcId": "dc2"})}, {"alpha": [a2], "beta": [a2]}),
        ({"preferred_aef_loc": json.dumps({"civicAddr": {"A1": "PACA"}})},
         {"alpha": [a1], "beta": [a2]}),
        ({"preferred_aef_loc": json.dumps({"dcId": "dc9"})}, both),
        ({"req_api_prov_name": "acme"}, both),
        ({"req_api_prov_name": "mep-platform"}, {}),
        ({"supported_features": "0"}, both),
        ({"api_name": "alpha", "api_supported_features": "2"}, {"alpha": [a1, a2]}),
        ({"api_name": "beta", "api_supported_features": "2"}, {}),
        ({"ue_ip_addr": json.dumps({"ipv4Addr": "10.0.0.7"})}, {"alpha": [a1], "beta": [a2]}),
        ({"ue_ip_addr": "10.0.0.7"}, {"alpha": [a1], "beta": [a2]}),
        ({"ue_ip_addr": json.dumps({"ipv6Addr": "2001:db8::1"})},
         {"alpha": [a2], "beta": [a2]}),
        ({"ue_ip_addr": json.dumps({"ipv4Addr": "192.0.2.1"})}, {"beta": [a2]}),
        ({"service_kpis": json.dumps({"maxReqRate": 50, "maxRestime": 10})}, {"alpha": [a1]}),
        ({"service_kpis": json.dumps({"avalMem": "0.5 GB"})}, {"alpha": [a1]}),
        ({"service_kpis": json.dumps({"avalMem": "1 GB"})}, {}),
        ({"service_kpis": json.dumps({"maxRestime": 1})}, {}),
        ({"protocol": "HTTP_1_1", "api_cat": "cat-a"}, {"alpha": [a1]}),
    ]  # fmt: skip
    for filters, expected in cases:
        status, body = await capif.discover(invoker_id, invoker, **filters)
        assert status == 200, (filters, body)
        assert _found(body) == expected, filters
        await _check(200, body)
    # Every answered profile carries its security methods, even one published without.
    status, body = await capif.discover(invoker_id, invoker, aef_id=a2, api_name="alpha")
    (alpha,) = body["serviceAPIDescriptions"]
    assert alpha["apiId"] == ids["alpha"]
    assert alpha["aefProfiles"][0]["securityMethods"] == ["PKI"]

    # apiStatus: the API is active at A1 only, so A2's profile is no longer answered.
    one = f"{PUBLISHED}/{ids['APF']}/service-apis/{ids['alpha']}"
    status, patched, _ = await capif.call(
        "PATCH", one, holder=holders["APF"], json={"apiStatus": {"aefIds": [a1]}},
        headers=MERGE_PATCH,
    )  # fmt: skip
    assert status == 200, patched
    status, body = await capif.discover(invoker_id, invoker, api_name="alpha")
    assert _found(body) == {"alpha": [a1]}


async def test_bad_filters_name_the_query_parameter(capif: CapifPlatform) -> None:
    invoker_id, invoker, _ = await capif.onboard()
    cases = [
        ({"preferred_aef_loc": "{not json"}, "query preferred-aef-loc"),
        ({"preferred_aef_loc": json.dumps({"dcId": 7})}, "query preferred-aef-loc"),
        ({"ue_ip_addr": json.dumps({"ipv4Addr": "999.1.1.1"})}, "query ue-ip-addr"),
        ({"ue_ip_addr": json.dumps({})}, "query ue-ip-addr"),
        ({"ue_ip_addr": "not-an-address"}, "query ue-ip-addr"),
        ({"service_kpis": json.dumps({"maxReqRate": -1})}, "query service-kpis"),
        ({"service_kpis": "[1]"}, "query service-kpis"),
        ({"supported_features": "xyz"}, "query supported-features"),
        ({"api_supported_features": "1"}, "query api-supported-features"),
        ({"api_name": "a", "api_supported_features": "g"}, "query api-supported-features"),
    ]
    for filters, param in cases:
        status, problem = await capif.discover(invoker_id, invoker, **filters)
        assert status == 400, (filters, problem)
        assert {p["param"] for p in problem["invalidParams"]} == {param}, problem
        await _check(400, problem)


async def test_the_api_list_restricts_by_id_or_name(capif: CapifPlatform) -> None:
    ids, _ = await _two_apis(capif)
    by_id = {"serviceAPIDescriptions": [{"apiName": "whatever", "apiId": ids["beta"]}]}
    invoker_id, invoker, _ = await capif.onboard(extra={"apiList": by_id})
    status, body = await capif.discover(invoker_id, invoker)
    assert status == 200, body
    assert _found(body) == {"beta": [ids["A2"]]}
    by_name = {"serviceAPIDescriptions": [{"apiName": "location"}]}
    invoker_id, invoker, _ = await capif.onboard(extra={"apiList": by_name})
    status, body = await capif.discover(invoker_id, invoker)
    assert set(_found(body)) == {"location"}
    status, body = await capif.discover(invoker_id, invoker, api_name="alpha")
    assert (status, body) == (200, {})  # nothing it may see matches
    await _check(200, body)
    # Without an apiList, everything published is visible.
    invoker_id, invoker, _ = await capif.onboard()
    status, body = await capif.discover(invoker_id, invoker)
    assert {"alpha", "beta", "location", "rni", "bwm"} <= set(_found(body))

"""CAPIF Publish Service API over real TLS (TS 29.222 clause 8.2): an APF of a registered
provider domain publishes, reads, replaces, patches and unpublishes its service APIs, with its
own certificate only, naming AEFs of its own domain only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.capif import (
    PUBLISH_API,
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

from mep.capif.publish import COLLECTION

SPEC = OpenApiDocument("capif-publish-service.yaml")
MANY = "/{apfId}/service-apis"
ONE = "/{apfId}/service-apis/{serviceApiId}"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture(params=["sqlite", "redis"])
async def capif(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CapifPlatform]:
    async with capif_on(request.param, tmp_path) as platform:
        yield platform


async def _domain(capif: CapifPlatform) -> tuple[dict[str, str], dict[str, Holder]]:
    """A provider domain with an AEF, an APF and an AMF: each function's id (and the domain's,
    under ``DOM``), and holder."""
    body, holders = await capif.register()
    ids = {f["apiProvFuncRole"]: f["apiProvFuncId"] for f in body["apiProvFuncs"]}
    return {**ids, "DOM": body["apiProvDomId"]}, holders


async def _check(path: str, method: str, status: int, body: Any) -> None:
    template = ONE if path.count("/") > 2 else MANY
    SPEC.check(template, method, status, body)
    await official_check(PUBLISH_API, path, method.upper(), status, body)


async def test_publish_read_update_patch_unpublish(capif: CapifPlatform) -> None:
    ids, holders = await _domain(capif)
    apf_id, apf = ids["APF"], holders["APF"]
    many = f"{PUBLISHED}/{apf_id}/service-apis"
    description = service_api(
        "video-analytics",
        aef_profile(ids["AEF"]),
        description="counts people in a video stream",
        supportedFeatures="0",
        serviceAPICategory="video",
    )
    status, body, response = await capif.call("POST", many, holder=apf, json=description)
    assert status == 201, body
    await _check(f"/{apf_id}/service-apis", "post", 201, body)
    api_id = body["apiId"]
    assert response.headers["Location"] == f"{capif.tls_url}{many}/{api_id}"
    assert {k: v for k, v in body.items() if k != "apiId"} == description
    one = f"{many}/{api_id}"

    status, listed, _ = await capif.call("GET", many, holder=apf)
    assert status == 200, listed
    await _check(f"/{apf_id}/service-apis", "get", 200, listed)
    assert listed == [body]
    status, got, _ = await capif.call("GET", one, holder=apf)
    assert status == 200, got
    await _check(f"/{apf_id}/service-apis/{api_id}", "get", 200, got)
    assert got == body

    replaced = {**body, "description": "v2", "apiSuppFeats": "3"}
    status, put, _ = await capif.call("PUT", one, holder=apf, json=replaced)
    assert status == 200, put
    await _check(f"/{apf_id}/service-apis/{api_id}", "put", 200, put)
    assert put == replaced

    patch = {"description": "v3", "apiSuppFeats": None, "apiName": "not-patchable"}
    status, patched, _ = await capif.call("PATCH", one, holder=apf, json=patch, headers=MERGE_PATCH)
    assert status == 200, patched
    await _check(f"/{apf_id}/service-apis/{api_id}", "patch", 200, patched)
    assert patched["description"] == "v3"
    assert "apiSuppFeats" not in patched
    assert patched["apiName"] == "video-analytics"
    status, got, _ = await capif.call("GET", one, holder=apf)
    assert got == patched

    status, _, _ = await capif.call("DELETE", one, holder=apf)
    assert status == 204
    status, problem, _ = await capif.call("GET", one, holder=apf)
    assert status == 404, problem
    await official_check(PUBLISH_API, one, "GET", 404, problem)
    status, listed, _ = await capif.call("GET", many, holder=apf)
    assert (status, listed) == (200, [])
    status, problem, _ = await capif.call("DELETE", one, holder=apf)
    assert status == 404, problem


async def test_only_the_apf_of_the_path_may_call(capif: CapifPlatform) -> None:
    ids, holders = await _domain(capif)
    apf_id = ids["APF"]
    many = f"{PUBLISHED}/{apf_id}/service-apis"
    api_id = await capif.publish(apf_id, holders["APF"], service_api("a", aef_profile(ids["AEF"])))
    one = f"{many}/{api_id}"
    other_ids, others = await _domain(capif)
    _, invoker, _ = await capif.onboard()
    callers = {
        "foreign APF": others["APF"],
        "AEF": holders["AEF"],
        "AMF": holders["AMF"],
        "invoker": invoker,
    }
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", many, {"json": service_api("b", aef_profile(ids["AEF"]))}),
        ("GET", many, {}),
        ("GET", one, {}),
        ("PUT", one, {"json": service_api("a", aef_profile(ids["AEF"]))}),
        ("PATCH", one, {"json": {"description": "x"}, "headers": MERGE_PATCH}),
        ("DELETE", one, {}),
    ]
    for method, path, kwargs in requests:
        for who, holder in callers.items():
            status, problem, _ = await capif.call(method, path, holder=holder, **kwargs)
            assert status == 403, (method, path, who, problem)
        await official_check(PUBLISH_API, path, method, 403, problem)
        status, problem, response = await capif.call(method, path, **kwargs)
        assert status == 401, (method, path, problem)
        assert response.headers["WWW-Authenticate"].startswith("Mutual-TLS")
        await official_check(PUBLISH_API, path, method, 401, problem)
    # The other APF, under its own path, does not see the API either.
    foreign = f"{PUBLISHED}/{other_ids['APF']}/service-apis/{api_id}"
    status, problem, _ = await capif.call("GET", foreign, holder=others["APF"])
    assert status == 404, problem
    status, problem, _ = await capif.call("DELETE", foreign, holder=others["APF"])
    assert status == 404, problem
    status, got, _ = await capif.call("GET", one, holder=holders["APF"])
    assert status == 200, got  # untouched


async def test_aefs_must_be_of_the_apfs_domain(capif: CapifPlatform) -> None:
    ids, holders = await _domain(capif)
    other_ids, _ = await _domain(capif)
    many = f"{PUBLISHED}/{ids['APF']}/service-apis"
    cases = [
        (service_api("a", aef_profile(ids["AEF"]), aef_profile(other_ids["AEF"])),
         "/aefProfiles/1/aefId"),
        (service_api("a", aef_profile(ids["AMF"])), "/aefProfiles/0/aefId"),
        (service_api("a", aef_profile("AEFunknown")), "/aefProfiles/0/aefId"),
        (service_api("a", aef_profile(ids["AEF"]), aef_profile(ids["AEF"])),
         "/aefProfiles/1/aefId"),
    ]  # fmt: skip
    for description, pointer in cases:
        status, problem, _ = await capif.call("POST", many, holder=holders["APF"], json=description)
        assert status == 400, problem
        assert [p["param"] for p in problem["invalidParams"]] == [pointer], problem
        SPEC.check(MANY, "post", 400, problem)
        await official_check(PUBLISH_API, many, "POST", 400, problem)
    # A PATCH naming a foreign AEF is refused too, and changes nothing.
    api_id = await capif.publish(
        ids["APF"], holders["APF"], service_api("a", aef_profile(ids["AEF"]))
    )
    one = f"{many}/{api_id}"
    patch = {"aefProfiles": [aef_profile(other_ids["AEF"])]}
    status, problem, _ = await capif.call(
        "PATCH", one, holder=holders["APF"], json=patch, headers=MERGE_PATCH
    )
    assert status == 400, problem
    assert problem["invalidParams"][0]["param"] == "/aefProfiles/0/aefId"
    status, got, _ = await capif.call("GET", one, holder=holders["APF"])
    assert got["aefProfiles"][0]["aefId"] == ids["AEF"]


async def test_bad_descriptions_name_the_field(capif: CapifPlatform) -> None:
    ids, holders = await _domain(capif)
    aef = ids["AEF"]
    many = f"{PUBLISHED}/{ids['APF']}/service-apis"
    both = aef_profile(aef, domainName="api.example.com")
    no_resources = aef_profile(aef, versions=[{"apiVersion": "v1"}])
    cases: list[tuple[dict[str, Any], str]] = [
        ({"aefProfiles": [aef_profile(aef)]}, "/apiName"),
        ({"apiName": "a"}, "/aefProfiles"),
        (service_api("a", both), "/aefProfiles/0"),
        (service_api("a", aef_profile(aef, interfaceDescriptions=[{"port": 1}])),
         "/aefProfiles/0/interfaceDescriptions/0"),
        (service_api("a", no_resources), "/aefProfiles/0/versions/0/resources"),
        (service_api("a", aef_profile(aef), supportedFeatures="zz"), "/supportedFeatures"),
        (service_api("a", aef_profile(aef, serviceKpis={"avalMem": "lots"})),
         "/aefProfiles/0/serviceKpis/avalMem"),
        (service_api("a", aef_profile(aef, ueIpRange={"ueIpv4AddrRanges": [
            {"start": "10.0.0.1", "end": "10.0.0"}]})),
         "/aefProfiles/0/ueIpRange/ueIpv4AddrRanges/0/end"),
        (service_api("a", aef_profile(aef), apiStatus={"aefIds": ["AEFelsewhere"]}),
         "/apiStatus/aefIds/0"),
        (service_api("a", aef_profile(aef, versions=[])), "/aefProfiles/0/versions"),
    ]  # fmt: skip
    for description, pointer in cases:
        status, problem, _ = await capif.call("POST", many, holder=holders["APF"], json=description)
        assert status == 400, (pointer, problem)
        assert pointer in {p["param"] for p in problem["invalidParams"]}, problem
        SPEC.check(MANY, "post", 400, problem)
    status, problem, _ = await capif.call(
        "POST", many, holder=holders["APF"], data="{", headers={"Content-Type": "application/json"}
    )
    assert status == 400, problem
    status, problem, _ = await capif.call(
        "POST", many, holder=holders["APF"], data="x", headers={"Content-Type": "text/plain"}
    )
    assert status == 415, problem

    api_id = await capif.publish(ids["APF"], holders["APF"], service_api("a", aef_profile(aef)))
    one = f"{many}/{api_id}"
    mismatch = service_api("a", aef_profile(aef), apiId="another")
    status, problem, _ = await capif.call("PUT", one, holder=holders["APF"], json=mismatch)
    assert status == 400, problem
    assert problem["invalidParams"][0]["param"] == "/apiId"
    status, problem, _ = await capif.call(
        "PATCH", one, holder=holders["APF"], json={"shareableInfo": {}}, headers=MERGE_PATCH
    )
    assert status == 400, problem
    assert problem["invalidParams"][0]["param"] == "/shareableInfo/isShareable"
    status, problem, _ = await capif.call(
        "PATCH", one, holder=holders["APF"], json=[1], headers=MERGE_PATCH
    )
    assert status == 400, problem
    status, problem, _ = await capif.call(
        "PUT", f"{many}/nope", holder=holders["APF"], json=service_api("a", aef_profile(aef))
    )
    assert status == 404, problem


async def test_what_capif_clients_send_is_accepted(capif: CapifPlatform) -> None:
    """The OpenCAPIF clients' shapes: placeholder strings, ``supportedFeatures: "0"``, an
    expiry, both security-method levels, a path with ``//``."""
    ids, holders = await _domain(capif)
    profile = aef_profile(
        ids["AEF"],
        versions=[
            {
                "apiVersion": "v1",
                "expiry": "2031-11-30T10:32:02.004000+00:00",
                "resources": [
                    {
                        "resourceName": "string",
                        "commType": "REQUEST_RESPONSE",
                        "uri": "string",
                        "custOpName": "string",
                        "operations": ["GET"],
                        "description": "string",
                    }
                ],
                "custOperations": [
                    {"commType": "REQUEST_RESPONSE", "custOpName": "string", "operations": ["GET"]}
                ],
            }
        ],
        securityMethods=["PSK"],
        interfaceDescriptions=[{"ipv4Addr": "string", "port": 65535, "securityMethods": ["PSK"]}],
        grantTypes=["CLIENT_CREDENTIALS"],
    )
    description = service_api(
        "string",
        profile,
        description="string",
        supportedFeatures="0",
        shareableInfo={"isShareable": True, "capifProvDoms": ["string"]},
        serviceAPICategory="string",
        apiSuppFeats="fffff",
        pubApiPath={"ccfIds": ["string"]},
        ccfId="string",
    )
    path = f"/{PUBLISHED}/{ids['APF']}/service-apis"
    status, body, _ = await capif.call("POST", path, holder=holders["APF"], json=description)
    assert status == 201, body
    await official_check(PUBLISH_API, f"{PUBLISHED}/{ids['APF']}/service-apis", "POST", 201, body)
    assert body["aefProfiles"][0]["interfaceDescriptions"][0]["ipv4Addr"] == "string"
    assert "grantTypes" not in body["aefProfiles"][0]  # a later release's member: dropped
    status, got, _ = await capif.call("GET", f"{path}/{body['apiId']}", holder=holders["APF"])
    assert status == 200, got
    assert got == body


async def test_removing_the_apf_or_the_domain_unpublishes(capif: CapifPlatform) -> None:
    ids, holders = await _domain(capif)
    for name in ("a", "b"):
        await capif.publish(ids["APF"], holders["APF"], service_api(name, aef_profile(ids["AEF"])))
    other_ids, others = await _domain(capif)
    kept = await capif.publish(
        other_ids["APF"], others["APF"], service_api("c", aef_profile(other_ids["AEF"]))
    )
    assert await capif.store.count(COLLECTION) == 3 + 3  # and the platform's three

    status, body, _ = await capif.call(
        "DELETE", f"{REGISTRATIONS}/{ids['DOM']}", holder=holders["AMF"]
    )
    assert status == 204, body
    assert await capif.store.count(COLLECTION) == 1 + 3
    assert await capif.store.get(COLLECTION, kept) is not None

    # Removing the APF from a registration (PATCH without it) unpublishes its APIs too.
    registration_id = other_ids["DOM"]
    status, current, _ = await capif.call(
        "PATCH",
        f"{REGISTRATIONS}/{registration_id}",
        holder=others["AMF"],
        json={"apiProvDomInfo": "x"},
        headers=MERGE_PATCH,
    )
    assert status == 200, current
    without_apf = [f for f in current["apiProvFuncs"] if f["apiProvFuncRole"] != "APF"]
    status, body, _ = await capif.call(
        "PATCH",
        f"{REGISTRATIONS}/{registration_id}",
        holder=others["AMF"],
        json={"apiProvFuncs": without_apf},
        headers=MERGE_PATCH,
    )
    assert status == 200, body
    assert await capif.store.get(COLLECTION, kept) is None

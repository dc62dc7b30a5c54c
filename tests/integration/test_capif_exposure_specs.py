"""Our OpenAPI documents of what the platform's AEF side exposes (invocation logs, auditing,
access control policy lists; the operator's policies, tariffs and charging records) against
the live answers of the real app, and the CAPIF ones against the official 3GPP files too."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fixtures.capif import OPERATOR, CapifPlatform, capif_platform, official_check
from fixtures.capif_security import Domain, domain
from fixtures.gateway import (
    Invoker,
    PlatformApi,
    authorised_invoker,
    bearer,
    csv_records,
    invocation_log,
    platform_api,
    secure,
)
from fixtures.openapi import OpenApiDocument

LOGGING = OpenApiDocument("capif-logging.yaml")
AUDITING = OpenApiDocument("capif-auditing.yaml")
ACCESS_CONTROL = OpenApiDocument("capif-access-control-policy.yaml")
MGMT = OpenApiDocument("mep-mgmt.yaml")
CHARGING = OpenApiDocument("charging.yaml")
LOGGING_API = "TS29222_CAPIF_Logging_API_Invocation_API.yaml"
AUDITING_API = "TS29222_CAPIF_Auditing_API.yaml"
ACCESS_CONTROL_API = "TS29222_CAPIF_Access_Control_Policy_API.yaml"

LOGS = "/api-invocation-logs/v1"
AUDIT = "/logs/v1/apiInvocationLogs"
POLICY_LIST = "/access-control-policy/v1/accessControlPolicyList"
POLICIES = "/mep_mgmt/v1/capif/access-control-policies"
POLICY = "/mep_mgmt/v1/capif/access-control-policies/{serviceApiId}/{apiInvokerId}"
TARIFFS = "/mep_mgmt/v1/tariffs"
TARIFF = "/mep_mgmt/v1/tariffs/{apiId}"
RECORDS = "/charging/v1/records"
ZONES = "/location/v2/queries/zones"


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[CapifPlatform]:
    async with capif_platform(tmp_path) as running:
        yield running


async def capif_check(
    ours: OpenApiDocument, official: str, path: str, method: str, status: int, body: Any
) -> None:
    ours.check(path, method, status, body)
    await official_check(official, path, method.upper(), status, body)


def mgmt_check(path: str, method: str, status: int, body: Any) -> None:
    """``body`` fits ``mep-mgmt.yaml``; a bodiless answer's status is documented."""
    if body is None:
        assert str(status) in MGMT.document["paths"][path][method]["responses"], (path, status)
        return
    MGMT.check(path, method, status, body)


def params_of(problem: dict[str, Any]) -> list[str]:
    return [p["param"] for p in problem.get("invalidParams", [])]


def log(api_id: str, result: str = "200", **members: Any) -> dict[str, Any]:
    """A Log with every member the specification defines."""
    return invocation_log(
        api_id,
        result,
        **{
            "inputParameters": {"city": "Sophia Antipolis"},
            "destInterface": {"fqdn": "aef.example", "port": 443, "apiPrefix": "/weather"},
            "fwdInterface": "192.0.2.43:80, unknown:_OBFport",
            **members,
        },
    )


async def weather(platform: CapifPlatform) -> tuple[Domain, str]:
    """A registered provider domain that published the API ``weather`` at its AEF."""
    provider = await domain(platform)
    return provider, await provider.publish(platform, "weather")


async def report(
    platform: CapifPlatform, provider: Domain, invoker_id: str, *logs: dict[str, Any]
) -> tuple[int, Any]:
    body = {"aefId": provider.aef_id, "apiInvokerId": invoker_id, "logs": list(logs)}
    status, answer, _ = await platform.call(
        "POST", f"{LOGS}/{provider.aef_id}/logs", holder=provider.aef, json=body
    )
    return status, answer


async def test_invocation_logs_fit_the_logging_documents(platform: CapifPlatform) -> None:
    provider, api_id = await weather(platform)
    other, _ = await weather(platform)
    invoker_id, _, _ = await platform.onboard()
    path = f"{LOGS}/{provider.aef_id}/logs"
    template = "/{aefId}/logs"

    async def post(body: Any, **kwargs: Any) -> tuple[int, Any, aiohttp.ClientResponse]:
        return await platform.call("POST", path, json=body, **kwargs)

    entry = {
        "aefId": provider.aef_id,
        "apiInvokerId": invoker_id,
        "supportedFeatures": "0",
        "logs": [log(api_id), log(api_id, "503", operation="POST")],
    }
    status, body, response = await post(entry, holder=provider.aef)
    assert status == 201, body
    assert response.headers["Location"].startswith(f"{platform.tls_url}{path}/")
    assert body == entry
    await capif_check(LOGGING, LOGGING_API, template, "post", 201, body)
    # As documented: unknown and null members dropped.
    lenient = log(api_id, outputParameters=None, later=1)
    status, body, _ = await post({**entry, "logs": [lenient]}, holder=provider.aef)
    assert status == 201, body
    (kept,) = body["logs"]
    assert not {"later", "outputParameters"} & set(kept)
    await capif_check(LOGGING, LOGGING_API, template, "post", 201, body)
    # TS 29.122 DateTime: RFC 3339 with an offset; a local time, a date or seconds are refused.
    for when in ("2026-11-25T10:00:00", "2026-11-25", 1_764_064_800):
        dated = {**entry, "logs": [log(api_id, invocationTime=when)]}
        status, body, _ = await post(dated, holder=provider.aef)
        assert status == 400, (when, body)
        assert "/logs/0/invocationTime" in params_of(body)

    for bad, member in (
        ({**entry, "aefId": other.aef_id}, "/aefId"),
        ({**entry, "apiInvokerId": "INVnobody"}, "/apiInvokerId"),
        ({**entry, "logs": [log(api_id), log("unpublished")]}, "/logs/1/apiId"),
        ({**entry, "logs": []}, "/logs"),
        ({**entry, "logs": [{"apiId": api_id}]}, "/logs/0/apiName"),
    ):
        status, body, _ = await post(bad, holder=provider.aef)
        assert status == 400, body
        assert member in params_of(body)
        await capif_check(LOGGING, LOGGING_API, template, "post", 400, body)

    status, body, response = await post(entry)
    assert status == 401, body
    assert response.headers["WWW-Authenticate"].startswith("Mutual-TLS")
    await capif_check(LOGGING, LOGGING_API, template, "post", 401, body)
    for holder in (other.aef, provider.holders["APF"]):
        status, body, _ = await post(entry, holder=holder)
        assert status == 403, body
        await capif_check(LOGGING, LOGGING_API, template, "post", 403, body)
    status, body, _ = await platform.call("POST", path, holder=provider.aef, data="logs")
    assert status == 415, body
    await capif_check(LOGGING, LOGGING_API, template, "post", 415, body)


async def test_audit_answers_fit_the_auditing_documents(platform: CapifPlatform) -> None:
    provider, api_id = await weather(platform)
    other, _ = await weather(platform)
    reporter_id, _, _ = await platform.onboard()
    assert (await report(platform, provider, reporter_id, log(api_id)))[0] == 201
    location = platform_api(platform, "location")
    caller, access = await authorised_invoker(platform, location)
    assert (await platform.call("GET", ZONES, headers=bearer(access)))[0] == 200
    assert (await platform.call("GET", ZONES))[0] == 401  # recorded as "anonymous"

    async def audit(status: int, **kwargs: Any) -> Any:
        got, body, response = await platform.call("GET", AUDIT, **kwargs)
        assert got == status, (kwargs, body)
        await capif_check(AUDITING, AUDITING_API, "/apiInvocationLogs", "get", status, body)
        return body, response

    body, _ = await audit(200, holder=provider.holders["AMF"])
    assert (body["aefId"], body["apiInvokerId"]) == (provider.aef_id, reporter_id)
    body, _ = await audit(200, headers=OPERATOR)
    invokers = {group["apiInvokerId"] for group in body["multipleInvocationLogs"]}
    assert invokers == {reporter_id, caller.id, "anonymous"}
    body, _ = await audit(200, headers=OPERATOR, params={"api-invoker-id": caller.id})
    assert body["logs"][0]["srcInterface"]["ipv4Addr"] == "127.0.0.1"

    every_filter = {
        "aef-id": provider.aef_id,
        "api-invoker-id": reporter_id,
        "time-range-start": "2026-11-25T09:00:00Z",
        "time-range-end": "2026-11-25T11:00:00+01:00",
        "api-id": api_id,
        "api-name": "weather",
        "api-version": "v1",
        "protocol": "HTTP_1_1",
        "operation": "GET",
        "result": "200",
        "resource-name": "forecast",
        "src-interface": json.dumps({"ipv4Addr": "192.0.2.7"}),
        "dest-interface": json.dumps({"fqdn": "aef.example", "port": 443}),
        "supported-features": "0",
    }
    body, _ = await audit(200, holder=provider.holders["AMF"], params=every_filter)
    assert len(body["logs"]) == 1

    for params, name in (
        ({"time-range-start": "yesterday"}, "query time-range-start"),
        ({"time-range-end": "2026-11-25T10:00:00"}, "query time-range-end"),
        (
            {"time-range-start": "2026-11-25T10:00:00Z", "time-range-end": "2026-11-25T09:00:00Z"},
            "query time-range-end",
        ),
        ({"src-interface": "{not json"}, "query src-interface"),
        ({"dest-interface": json.dumps({"port": 80})}, "query dest-interface"),
        ({"result": ""}, "query result"),
        ({"supported-features": "xyz"}, "query supported-features"),
    ):
        body, _ = await audit(400, holder=provider.holders["AMF"], params=params)
        assert name in params_of(body), params

    _, response = await audit(401)
    assert response.headers["WWW-Authenticate"].startswith("Mutual-TLS")
    _, response = await audit(401, headers=bearer("not-a-token"))
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    await audit(403, holder=other.holders["AMF"], params={"aef-id": provider.aef_id})
    await audit(403, holder=provider.aef)
    await audit(403, headers=bearer(access))
    await audit(404, holder=provider.holders["AMF"], params={"result": "599"})
    await audit(404, holder=other.holders["AMF"])


async def test_policy_lists_fit_the_access_control_documents(platform: CapifPlatform) -> None:
    provider, api_id = await weather(platform)
    other, other_api_id = await weather(platform)
    authorised_id, authorised_holder, _ = await platform.onboard()
    await secure(
        platform,
        Invoker(authorised_id, authorised_holder),
        PlatformApi(provider.aef_id, api_id, "weather"),
    )
    limited_id, _, _ = await platform.onboard()
    policy = {
        "allowedTotalInvocations": 100,
        "allowedInvocationsPerSecond": 5,
        "allowedInvocationTimeRangeList": [
            {"startTime": "2026-01-01T00:00:00Z", "stopTime": "2027-01-01T00:00:00+01:00"}
        ],
    }
    status, body, _ = await platform.call(
        "PUT", f"{POLICIES}/{api_id}/{limited_id}", json=policy, headers=OPERATOR
    )
    assert status == 201, body
    path = f"{POLICY_LIST}/{api_id}"
    template = "/accessControlPolicyList/{serviceApiId}"

    async def policy_list(status: int, path: str = path, **kwargs: Any) -> Any:
        got, body, _ = await platform.call("GET", path, **kwargs)
        assert got == status, (path, kwargs, body)
        await capif_check(ACCESS_CONTROL, ACCESS_CONTROL_API, template, "get", status, body)
        return body

    mine = {"aef-id": provider.aef_id}
    body = await policy_list(200, holder=provider.aef, params=mine)
    by_invoker = {p["apiInvokerId"]: p for p in body["apiInvokerPolicies"]}
    assert by_invoker == {
        authorised_id: {"apiInvokerId": authorised_id},
        limited_id: {"apiInvokerId": limited_id, **policy},
    }
    assert [p["apiInvokerId"] for p in body["apiInvokerPolicies"]] == sorted(by_invoker)
    body = await policy_list(
        200, holder=provider.aef, params={**mine, "api-invoker-id": limited_id}
    )
    assert [p["apiInvokerId"] for p in body["apiInvokerPolicies"]] == [limited_id]

    body = await policy_list(400, holder=provider.aef)
    assert params_of(body) == ["query aef-id"]
    await policy_list(401, params=mine)
    await policy_list(403, holder=other.aef, params=mine)
    await policy_list(403, holder=provider.holders["AMF"], params=mine)
    await policy_list(404, f"{POLICY_LIST}/unpublished", holder=provider.aef, params=mine)
    await policy_list(404, f"{POLICY_LIST}/{other_api_id}", holder=provider.aef, params=mine)


async def test_operator_policies_fit_mep_mgmt(platform: CapifPlatform) -> None:
    location = platform_api(platform, "location")
    invoker, access = await authorised_invoker(platform, location)
    path = f"{POLICIES}/{location.api_id}/{invoker.id}"

    async def call(method: str, status: int, path: str = path, **kwargs: Any) -> Any:
        kwargs.setdefault("headers", OPERATOR)
        got, body, _ = await platform.call(method, path, **kwargs)
        assert got == status, (method, path, kwargs, body)
        mgmt_check(POLICY, method.lower(), status, body)
        return body

    policy = {
        "allowedTotalInvocations": 1000,
        "allowedInvocationsPerSecond": 10,
        "allowedInvocationTimeRangeList": [{"startTime": "2026-01-01T00:00:00Z"}],
        "revokeOnOverlimit": True,
    }
    body = await call("PUT", 201, json=policy)
    assert body == {"serviceApiId": location.api_id, "apiInvokerId": invoker.id, **policy}
    body = await call("PUT", 200, json={"allowedTotalInvocations": 0})
    assert body == {
        "serviceApiId": location.api_id,
        "apiInvokerId": invoker.id,
        "allowedTotalInvocations": 0,
        "revokeOnOverlimit": False,
    }
    assert await call("GET", 200) == body

    for bad, member in (
        ({"allowedTotalInvocation": 5}, "/allowedTotalInvocation"),
        ({"allowedInvocationsPerSecond": 0}, "/allowedInvocationsPerSecond"),
        ({"allowedInvocationTimeRangeList": []}, "/allowedInvocationTimeRangeList"),
        (
            {
                "allowedInvocationTimeRangeList": [
                    {"startTime": "2026-02-01T00:00:00Z", "stopTime": "2026-01-01T00:00:00Z"}
                ]
            },
            "/allowedInvocationTimeRangeList/0",
        ),
        (
            {"allowedInvocationTimeRangeList": [{"startTime": "2026-02-01T00:00:00"}]},
            "/allowedInvocationTimeRangeList/0",
        ),
    ):
        body = await call("PUT", 400, json=bad)
        assert member in params_of(body), bad
    await call("PUT", 404, f"{POLICIES}/unpublished/{invoker.id}", json={})
    await call("PUT", 404, f"{POLICIES}/{location.api_id}/INVnobody", json={})
    await call("PUT", 415, data="{}")
    for method in ("PUT", "GET", "DELETE"):
        await call(method, 401, headers={}, json={})
        await call(method, 403, headers=bearer(access), json={})

    await call("DELETE", 204)
    await call("GET", 404)
    await call("DELETE", 404)


async def test_tariffs_fit_mep_mgmt(platform: CapifPlatform) -> None:
    location = platform_api(platform, "location")
    _, access = await authorised_invoker(platform, location)
    path = f"{TARIFFS}/{location.api_id}"

    async def call(method: str, status: int, path: str = path, **kwargs: Any) -> Any:
        kwargs.setdefault("headers", OPERATOR)
        got, body, _ = await platform.call(method, path, **kwargs)
        assert got == status, (method, path, kwargs, body)
        mgmt_check(TARIFFS if path == TARIFFS else TARIFF, method.lower(), status, body)
        return body

    assert await call("GET", 200, TARIFFS) == []
    body = await call("PUT", 201, json={"perCall": "0.002", "currency": "EUR"})
    assert body == {
        "apiId": location.api_id,
        "apiName": "location",
        "perCall": "0.002",
        "perMegabyte": "0",
        "currency": "EUR",
    }
    body = await call(
        "PUT", 200, json={"perCall": "0.010", "perMegabyte": "1.5", "currency": "USD"}
    )
    assert (body["perCall"], body["perMegabyte"], body["currency"]) == ("0.010", "1.5", "USD")
    assert await call("GET", 200) == body
    assert await call("GET", 200, TARIFFS) == [body]

    for bad, member in (
        ({"perCall": "-1", "currency": "EUR"}, "/perCall"),
        ({"perMegabyte": "0.0000001", "currency": "EUR"}, "/perMegabyte"),
        ({"perCall": "1", "currency": "euro"}, "/currency"),
        ({"perCall": "1"}, "/currency"),
        ({"currency": "EUR", "perMinute": "1"}, "/perMinute"),
    ):
        body = await call("PUT", 400, json=bad)
        assert member in params_of(body), bad
    await call("PUT", 404, f"{TARIFFS}/unpublished", json={"currency": "EUR"})
    await call("PUT", 415, data="{}")
    for method, where in (("GET", TARIFFS), ("GET", path), ("PUT", path), ("DELETE", path)):
        await call(method, 401, where, headers={}, json={"currency": "EUR"})
        await call(method, 403, where, headers=bearer(access), json={"currency": "EUR"})

    await call("DELETE", 204)
    await call("GET", 404)
    await call("DELETE", 404)


async def test_charging_records_fit_the_charging_document(platform: CapifPlatform) -> None:
    location = platform_api(platform, "location")
    tariff = {"perCall": "0.01", "perMegabyte": "2", "currency": "EUR"}
    status, body, _ = await platform.call(
        "PUT", f"{TARIFFS}/{location.api_id}", json=tariff, headers=OPERATOR
    )
    assert status == 201, body
    invoker, access = await authorised_invoker(platform, location)
    for _ in range(2):
        assert (await platform.call("GET", ZONES, headers=bearer(access)))[0] == 200
    assert (await platform.call("GET", ZONES))[0] == 401

    async def records(status: int, **kwargs: Any) -> Any:
        kwargs.setdefault("headers", OPERATOR)
        got, body, _ = await platform.call("GET", RECORDS, **kwargs)
        assert got == status, (kwargs, body)
        media = "application/json" if status == 200 else None
        CHARGING.check("/records", "get", status, body, media=media)
        return body

    body = await records(200)
    by_payer = {r["payer"]["kind"]: r for r in body["records"]}
    assert set(by_payer) == {"invoker", "anonymous"}
    assert by_payer["invoker"]["charge"]["currency"] == "EUR"
    assert "charge" not in by_payer["anonymous"]
    body = await records(200, params={"payer": invoker.id, "api": "location"})
    assert [r["payer"]["id"] for r in body["records"]] == [invoker.id]
    assert (await records(200, params={"api": "rni"}))["records"] == []
    body = await records(200, params={"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"})
    assert body == {"records": []}

    status, text, response = await csv_records(platform, {"payer": invoker.id})
    assert status == 200
    assert response.content_type == "text/csv"
    CHARGING.check("/records", "get", 200, text, media="text/csv")
    assert text.count("\r\n") == 2

    for params, name in (
        ({"from": "yesterday"}, "query from"),
        ({"to": "2026-11-25T10:00:00"}, "query to"),
        ({"from": "2026-11-25T10:00:00Z", "to": "2026-11-25T09:00:00Z"}, "query to"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-11-25T00:00:00Z"}, "query to"),
        ({"payer": ""}, "query payer"),
        ({"api": " "}, "query api"),
    ):
        body = await records(400, params=params)
        assert name in params_of(body), params
    await records(401, headers={})
    await records(403, headers=bearer(access))

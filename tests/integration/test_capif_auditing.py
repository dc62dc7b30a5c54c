"""External AEFs report invocations (``/api-invocation-logs/v1``), AMFs audit them
(``/logs/v1``) with every filter, within their own provider domain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.capif import (
    OPERATOR,
    CapifPlatform,
    Holder,
    aef_profile,
    capif_platform,
    official_check,
    service_api,
)
from fixtures.gateway import invocation_log

LOGS = "/api-invocation-logs/v1"
AUDIT = "/logs/v1/apiInvocationLogs"


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[CapifPlatform]:
    async with capif_platform(tmp_path) as running:
        yield running


_log = invocation_log


async def _provider(platform: CapifPlatform) -> tuple[dict[str, str], dict[str, Holder], str]:
    """A registered domain that published one API: (function ids by role, holders, apiId)."""
    body, holders = await platform.register()
    ids = {f["apiProvFuncRole"]: f["apiProvFuncId"] for f in body["apiProvFuncs"]}
    api_id = await platform.publish(
        ids["APF"], holders["APF"], service_api("weather", aef_profile(ids["AEF"]))
    )
    return ids, holders, api_id


async def test_an_aef_reports_logs_and_its_amf_audits_them(platform: CapifPlatform) -> None:
    ids, holders, api_id = await _provider(platform)
    invoker_id, _, _ = await platform.onboard()
    report = {
        "aefId": ids["AEF"],
        "apiInvokerId": invoker_id,
        "supportedFeatures": "0",
        "logs": [_log(api_id), _log(api_id, "503", operation="POST")],
    }
    path = f"{LOGS}/{ids['AEF']}/logs"
    status, body, response = await platform.call("POST", path, holder=holders["AEF"], json=report)
    assert status == 201, body
    assert response.headers["Location"].startswith(f"{platform.tls_url}{path}/")
    await official_check(
        "TS29222_CAPIF_Logging_API_Invocation_API.yaml", "/{aefId}/logs", "post", 201, body
    )

    status, body, _ = await platform.call("GET", AUDIT, holder=holders["AMF"])
    assert status == 200, body
    await official_check("TS29222_CAPIF_Auditing_API.yaml", "/apiInvocationLogs", "get", 200, body)
    assert body["aefId"] == ids["AEF"]
    assert body["apiInvokerId"] == invoker_id
    assert [log["result"] for log in body["logs"]] == ["200", "503"]

    for params, results in (
        ({"result": "503"}, ["503"]),
        ({"operation": "GET"}, ["200"]),
        ({"api-id": api_id, "api-name": "weather", "api-version": "v1"}, ["200", "503"]),
        ({"resource-name": "forecast", "protocol": "HTTP_1_1"}, ["200", "503"]),
        ({"aef-id": ids["AEF"], "api-invoker-id": invoker_id}, ["200", "503"]),
        ({"time-range-start": "2026-11-25T09:59:59Z",
          "time-range-end": "2026-11-25T10:00:01Z"}, ["200", "503"]),
        ({"src-interface": '{"ipv4Addr": "192.0.2.7", "port": 40000}'}, ["200", "503"]),
    ):  # fmt: skip
        status, body, _ = await platform.call("GET", AUDIT, holder=holders["AMF"], params=params)
        assert status == 200, (params, body)
        assert [log["result"] for log in body["logs"]] == results, params
    for params in (
        {"time-range-start": "2026-11-25T10:00:01Z"},
        {"api-invoker-id": "someone-else"},
        {"src-interface": '{"ipv4Addr": "192.0.2.8"}'},
    ):
        status, body, _ = await platform.call("GET", AUDIT, holder=holders["AMF"], params=params)
        assert status == 404, (params, body)


async def test_an_amf_sees_only_its_own_domain_and_the_operator_sees_all(
    platform: CapifPlatform,
) -> None:
    ids, holders, api_id = await _provider(platform)
    other_ids, other, _ = await _provider(platform)
    invoker_id, _, _ = await platform.onboard()
    report = {"aefId": ids["AEF"], "apiInvokerId": invoker_id, "logs": [_log(api_id)]}
    await platform.call("POST", f"{LOGS}/{ids['AEF']}/logs", holder=holders["AEF"], json=report)

    status, body, _ = await platform.call("GET", AUDIT, holder=other["AMF"])
    assert status == 404, body
    status, body, _ = await platform.call(
        "GET", AUDIT, holder=other["AMF"], params={"aef-id": ids["AEF"]}
    )
    assert status == 403, body
    status, body, _ = await platform.call("GET", AUDIT, headers=OPERATOR)
    assert status == 200, body
    assert body["aefId"] == ids["AEF"]
    # Not an AMF: an AEF's certificate.
    status, body, _ = await platform.call("GET", AUDIT, holder=holders["AEF"])
    assert status == 403, body
    del other_ids


async def test_reports_that_do_not_add_up_are_refused_whole(platform: CapifPlatform) -> None:
    ids, holders, api_id = await _provider(platform)
    other_ids, other, _ = await _provider(platform)
    invoker_id, _, _ = await platform.onboard()
    path = f"{LOGS}/{ids['AEF']}/logs"

    def report(**members: Any) -> dict[str, Any]:
        return {"aefId": ids["AEF"], "apiInvokerId": invoker_id, "logs": [_log(api_id)], **members}

    for body, status, field in (
        (report(aefId=other_ids["AEF"]), 400, "/aefId"),
        (report(apiInvokerId="INVnobody"), 400, "/apiInvokerId"),
        (report(logs=[_log(api_id), _log("not-published")]), 400, "/logs/1/apiId"),
        (report(logs=[]), 400, "/logs"),
        (report(logs=[{"apiId": api_id}]), 400, "/logs/0/apiName"),
    ):
        got, answer, _ = await platform.call("POST", path, holder=holders["AEF"], json=body)
        assert got == status, answer
        assert field in [p["param"] for p in answer["invalidParams"]]
    # Another domain's AEF may not report for this one.
    got, answer, _ = await platform.call("POST", path, holder=other["AEF"], json=report())
    assert got == 403, answer
    status, body, _ = await platform.call("GET", AUDIT, headers=OPERATOR)
    assert status == 404, body


async def test_bad_audit_queries_name_the_parameter(platform: CapifPlatform) -> None:
    _, holders, _ = await _provider(platform)
    for params, name in (
        ({"time-range-start": "yesterday"}, "query time-range-start"),
        ({"time-range-end": "2026-11-25T10:00:00"}, "query time-range-end"),
        ({"src-interface": "{not json"}, "query src-interface"),
        ({"dest-interface": '{"port": 80}'}, "query dest-interface"),
        ({"result": ""}, "query result"),
        ({"supported-features": "xyz"}, "query supported-features"),
    ):
        status, body, _ = await platform.call("GET", AUDIT, holder=holders["AMF"], params=params)
        assert status == 400, (params, body)
        assert name in [p["param"] for p in body["invalidParams"]]

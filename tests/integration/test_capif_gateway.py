"""The API gateway in front of the platform's service APIs: who gets through, who does not, and
that every call, admitted or refused, leaves its Log record for auditing and charging."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.capif import OPERATOR, CapifPlatform, capif_platform
from fixtures.gateway import Invoker, authorised_invoker, bearer, platform_api, secure, token

from mep.capif.journal import COLLECTION as JOURNAL
from mep.core import keys
from mep.core.tokens import CallerKind

ZONES = "/location/v2/queries/zones"
AUDIT = "/logs/v1/apiInvocationLogs"
POLICIES = "/mep_mgmt/v1/capif/access-control-policies"


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[CapifPlatform]:
    async with capif_platform(tmp_path) as running:
        yield running


async def records(platform: CapifPlatform) -> list[dict[str, Any]]:
    return [doc.data for doc in await platform.store.scan(JOURNAL)]


async def test_an_invoker_token_reaches_location_and_the_call_is_recorded(
    platform: CapifPlatform,
) -> None:
    location = platform_api(platform, "location")
    invoker, access = await authorised_invoker(platform, location)

    status, body, _ = await platform.call("GET", ZONES, headers=bearer(access))
    assert status == 200, body

    (record,) = await records(platform)
    assert record["aefId"] == location.aef_id
    assert record["apiInvokerId"] == invoker.id
    assert record["payerKind"] == "invoker"
    log = record["log"]
    assert log["apiId"] == location.api_id
    assert (log["apiName"], log["apiVersion"]) == ("location", "v2")
    assert log["resourceName"] == "queries/zones"
    assert log["operation"] == "GET"
    assert log["result"] == "200"
    assert log["protocol"] == "HTTP_1_1"
    assert log["uri"].endswith(ZONES)
    assert log["srcInterface"]["ipv4Addr"] == "127.0.0.1"
    assert log["destInterface"]["port"] == platform.settings.tls_port
    assert isinstance(log["invocationLatency"], int)
    assert record["responseBytes"] == len(json.dumps(body, separators=(",", ":")).encode()) or (
        record["responseBytes"] > 0
    )


async def test_pki_admits_the_certificate_when_pki_was_negotiated(
    platform: CapifPlatform,
) -> None:
    location = platform_api(platform, "location")
    invoker_id, holder, _ = await platform.onboard()
    invoker = Invoker(invoker_id, holder)
    await secure(platform, invoker, location, methods=("PKI",))

    status, body, _ = await platform.call("GET", ZONES, holder=holder)
    assert status == 200, body
    (record,) = await records(platform)
    assert record["apiInvokerId"] == invoker_id


async def test_a_certificate_alone_is_refused_where_oauth_was_negotiated(
    platform: CapifPlatform,
) -> None:
    location = platform_api(platform, "location")
    invoker, _ = await authorised_invoker(platform, location, methods=("OAUTH",))
    status, body, _ = await platform.call("GET", ZONES, holder=invoker.holder)
    assert status == 401, body
    assert "OAUTH" in body["detail"]


async def test_a_token_scoped_to_another_api_is_forbidden(platform: CapifPlatform) -> None:
    location, rni = platform_api(platform, "location"), platform_api(platform, "rni")
    invoker_id, holder, _ = await platform.onboard()
    invoker = Invoker(invoker_id, holder)
    await secure(platform, invoker, location, rni)
    rni_only = await token(platform, invoker, f"3gpp#{rni.aef_id}:rni")

    status, body, _ = await platform.call("GET", ZONES, headers=bearer(rni_only))
    assert status == 403, body
    assert body["cause"] == "INSUFFICIENT_SCOPE"
    (record,) = await records(platform)
    assert record["log"]["result"] == "403"
    assert record["admitted"] is False
    assert (record["apiInvokerId"], record["payerKind"]) == (invoker.id, "invoker")


def _tampered(access: str) -> str:
    header, payload, signature = access.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = claims["scope"] + ",rni"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _unsigned(access: str) -> str:
    _, payload, _ = access.split(".")
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    return f"{header}.{payload}."


async def test_tampered_unsigned_and_expired_tokens_are_refused_and_recorded(
    platform: CapifPlatform,
) -> None:
    location = platform_api(platform, "location")
    invoker, access = await authorised_invoker(platform, location)
    tokens = platform.runner.app[keys.TOKENS]
    claims = {"client_id": invoker.id, "scope": f"3gpp#{location.aef_id}:location"}
    expired = tokens.issue(
        invoker.id, CallerKind.INVOKER, platform.settings.base_url, ttl=-60, extra=claims
    ).token

    for bad, reason in (
        (_tampered(access), "signature"),
        (_unsigned(access), "none"),
        (expired, "expired"),
    ):
        status, body, response = await platform.call("GET", ZONES, headers=bearer(bad))
        assert status == 401, body
        assert reason in body["detail"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    found = await records(platform)
    assert [r["log"]["result"] for r in found] == ["401", "401", "401"]
    assert {r["apiInvokerId"] for r in found} == {"anonymous"}


async def test_offboarding_stops_the_old_token_at_once(platform: CapifPlatform) -> None:
    location = platform_api(platform, "location")
    invoker, access = await authorised_invoker(platform, location)
    assert (await platform.call("GET", ZONES, headers=bearer(access)))[0] == 200

    path = f"/api-invoker-management/v1/onboardedInvokers/{invoker.id}"
    status, _, _ = await platform.call("DELETE", path, holder=invoker.holder)
    assert status == 204
    status, body, _ = await platform.call("GET", ZONES, headers=bearer(access))
    assert status == 401, body


async def test_an_app_token_and_the_operator_pass_and_are_recorded_as_payers(
    platform: CapifPlatform,
) -> None:
    status, _, _ = await platform.call("GET", ZONES, headers=OPERATOR, plain=True)
    assert status == 200
    app_token = platform.runner.app[keys.TOKENS].issue(
        "app-1", CallerKind.APP, platform.settings.base_url
    )
    status, _, _ = await platform.call("GET", ZONES, headers=bearer(app_token.token), plain=True)
    assert status == 200
    status, body, _ = await platform.call("GET", ZONES, plain=True)
    assert status == 401, body
    found = await records(platform)
    assert [(r["payerKind"], r["apiInvokerId"], r["log"]["result"]) for r in found] == [
        ("operator", "operator", "200"),
        ("app", "app-1", "200"),
        ("anonymous", "anonymous", "401"),
    ]


async def test_quota_exceeded_is_429_and_revokes_when_the_policy_says_so(
    platform: CapifPlatform,
) -> None:
    location = platform_api(platform, "location")
    invoker, access = await authorised_invoker(platform, location)
    policy = {"allowedTotalInvocations": 2, "revokeOnOverlimit": True}
    status, body, _ = await platform.call(
        "PUT", f"{POLICIES}/{location.api_id}/{invoker.id}", json=policy, headers=OPERATOR
    )
    assert status == 201, body

    results = [(await platform.call("GET", ZONES, headers=bearer(access)))[:2] for _ in range(3)]
    assert [s for s, _ in results] == [200, 200, 429]
    assert results[2][1]["cause"] == "OVERLIMIT_USAGE"
    # The authorization is gone: the next call no longer finds a security context.
    status, body, _ = await platform.call("GET", ZONES, headers=bearer(access))
    assert status == 403, body
    assert body["cause"] == "API_INVOKER_NOT_AUTHORIZED"
    revoked = await platform.runner.app[keys.CAPIF_SECURITY].selected_method(
        invoker.id, location.aef_id, location.api_id
    )
    assert revoked is None


async def test_the_per_second_rate_and_the_time_ranges_are_enforced(
    platform: CapifPlatform,
) -> None:
    location = platform_api(platform, "location")
    invoker, access = await authorised_invoker(platform, location)
    path = f"{POLICIES}/{location.api_id}/{invoker.id}"
    status, body, _ = await platform.call(
        "PUT", path, json={"allowedInvocationsPerSecond": 1}, headers=OPERATOR
    )
    assert status == 201, body
    burst = await asyncio.gather(
        *(platform.call("GET", ZONES, headers=bearer(access)) for _ in range(5))
    )
    statuses = sorted(s for s, _, _ in burst)
    assert statuses[0] == 200
    assert statuses[-1] == 429
    assert all(r.headers.get("Retry-After") == "1" for s, _, r in burst if s == 429)

    past = [{"startTime": "2020-01-01T00:00:00Z", "stopTime": "2020-01-02T00:00:00Z"}]
    status, body, _ = await platform.call(
        "PUT", path, json={"allowedInvocationTimeRangeList": past}, headers=OPERATOR
    )
    assert status == 200, body
    status, body, _ = await platform.call("GET", ZONES, headers=bearer(access))
    assert status == 403, body


async def test_policies_reject_bad_input_and_are_read_by_the_aef(platform: CapifPlatform) -> None:
    location = platform_api(platform, "location")
    invoker, _ = await authorised_invoker(platform, location)
    path = f"{POLICIES}/{location.api_id}/{invoker.id}"
    for bad, field in (
        ({"allowedTotalInvocations": -1}, "/allowedTotalInvocations"),
        ({"allowedInvocationsPerSecond": 0}, "/allowedInvocationsPerSecond"),
        ({"allowedInvocationTimeRangeList": [{"startTime": "2020-01-02T00:00:00Z",
                                              "stopTime": "2020-01-01T00:00:00Z"}]},
         "/allowedInvocationTimeRangeList/0"),
        ({"unknown": 1}, "/unknown"),
    ):  # fmt: skip
        status, body, _ = await platform.call("PUT", path, json=bad, headers=OPERATOR)
        assert status == 400, body
        assert field in [p["param"] for p in body["invalidParams"]]
    status, body, _ = await platform.call(
        "PUT", f"{POLICIES}/nope/{invoker.id}", json={}, headers=OPERATOR
    )
    assert status == 404, body
    assert (await platform.call("GET", path, headers=OPERATOR))[0] == 404

    await platform.call("PUT", path, json={"allowedTotalInvocations": 10}, headers=OPERATOR)
    listed = await platform.runner.app[keys.CAPIF_ACCESS_CONTROL].policy_list(location.api_id)
    assert listed == {
        "apiInvokerPolicies": [{"apiInvokerId": invoker.id, "allowedTotalInvocations": 10}]
    }
    assert (await platform.call("DELETE", path, headers=OPERATOR))[0] == 204
    assert (await platform.call("DELETE", path, headers=OPERATOR))[0] == 404

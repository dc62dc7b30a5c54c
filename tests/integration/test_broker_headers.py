"""Auth, X-Broker-API-Version, identity headers, error shape and the catalog."""

from __future__ import annotations

import pytest
from fixtures.broker import (
    ASYNC_PLAN_NAMES,
    BEARER,
    PLAN_SMALL,
    SERVICE_ID,
    VERSION,
    BrokerUnderTest,
    basic,
    headers,
    identity,
    provision_body,
)

from broker.errors import ASYNC_REQUIRED


async def test_auth_is_checked_before_the_version(osb: BrokerUnderTest) -> None:
    no_auth = await osb.client.get("/v2/catalog")
    assert no_auth.status == 401
    assert no_auth.headers["WWW-Authenticate"].startswith("Basic")
    assert (await no_auth.json())["error"] == "Unauthorized"
    wrong = await osb.client.get("/v2/catalog", headers={**basic(password="nope"), **VERSION})
    assert wrong.status == 401
    # A bad version header with bad credentials is still a 401, never a 412.
    both = await osb.client.get(
        "/v2/catalog", headers={**basic(password="nope"), "X-Broker-API-Version": "1.0"}
    )
    assert both.status == 401
    bearer = await osb.client.get(
        "/v2/catalog", headers={"Authorization": f"Bearer {BEARER}", **VERSION}
    )
    assert bearer.status == 200


async def test_health_needs_no_auth(osb: BrokerUnderTest) -> None:
    assert (await osb.client.get("/healthz")).status == 200


@pytest.mark.parametrize("version", ["2.11", "2.13", "2.14", "2.15", "2.16", "2.17", "2.99"])
async def test_every_2x_version_from_211_is_accepted(osb: BrokerUnderTest, version: str) -> None:
    resp = await osb.client.get("/v2/catalog", headers={**basic(), "X-Broker-API-Version": version})
    assert resp.status == 200


@pytest.mark.parametrize("version", [None, "", "2", "two.fourteen", "3.0", "1.13", "2.10", "2.x"])
async def test_bad_versions_get_412_naming_what_we_accept(
    osb: BrokerUnderTest, version: str | None
) -> None:
    hdrs = basic() if version is None else {**basic(), "X-Broker-API-Version": version}
    resp = await osb.client.get("/v2/catalog", headers=hdrs)
    assert resp.status == 412
    body = await resp.json()
    assert "2.11" in body["description"]
    assert "2.17" in body["description"]


async def test_version_is_checked_before_the_body(osb: BrokerUnderTest) -> None:
    resp = await osb.client.put(
        "/v2/service_instances/i-1",
        data=b"{not json",
        headers={**basic(), "X-Broker-API-Version": "3.0"},
    )
    assert resp.status == 412
    assert osb.backend.calls == []


async def test_request_identity_is_echoed_even_on_errors(osb: BrokerUnderTest) -> None:
    rid = "e26cea10-e4e4-4f39-b4b4-3fd3d9f3c4a1"
    ok = await osb.client.get(
        "/v2/catalog", headers=headers(**{"X-Broker-API-Request-Identity": rid})
    )
    assert ok.headers["X-Broker-API-Request-Identity"] == rid
    refused = await osb.client.get("/v2/catalog", headers={"X-Broker-API-Request-Identity": rid})
    assert refused.status == 401
    assert refused.headers["X-Broker-API-Request-Identity"] == rid


async def test_originating_identity_must_decode(osb: BrokerUnderTest) -> None:
    bad = await osb.client.put(
        "/v2/service_instances/i-ident",
        json=provision_body(),
        headers=headers(**{"X-Broker-API-Originating-Identity": "kubernetes !!!notbase64"}),
    )
    assert bad.status == 400
    assert "Originating-Identity" in (await bad.json())["description"]
    assert osb.backend.instances == {}
    good = await osb.client.put(
        "/v2/service_instances/i-ident",
        json=provision_body(),
        headers=headers(
            **{
                "X-Broker-API-Originating-Identity": identity(
                    "kubernetes", b'{"username":"alice","uid":"42","groups":["dev"]}'
                )
            }
        ),
    )
    assert good.status == 201


async def test_errors_have_the_osb_shape(osb: BrokerUnderTest) -> None:
    unknown = await osb.client.get("/v2/nowhere", headers=headers())
    assert unknown.status == 404
    body = await unknown.json()
    assert set(body) >= {"error", "description"}
    wrong_method = await osb.client.post("/v2/catalog", headers=headers())
    assert wrong_method.status == 405
    assert (await wrong_method.json())["description"]


async def test_catalog_advertises_what_platforms_need(osb: BrokerUnderTest) -> None:
    resp = await osb.client.get("/v2/catalog", headers=headers())
    assert resp.status == 200
    services = (await resp.json())["services"]
    service = next(s for s in services if s["id"] == SERVICE_ID)
    for flag in ("instances_retrievable", "bindings_retrievable", "plan_updateable", "bindable"):
        assert service[flag] is True, flag
    assert "dashboard_client" not in service
    assert service["metadata"]["displayName"]
    plan = next(p for p in service["plans"] if p["id"] == PLAN_SMALL)
    assert plan["binding_rotatable"] is True
    assert plan["maintenance_info"] == {"version": "2.1.0"}
    create = plan["schemas"]["service_instance"]["create"]["parameters"]
    assert create["properties"]["size"]["type"] == "integer"
    assert plan["schemas"]["service_binding"]["create"]["parameters"]["properties"]
    assert {p["name"] for p in service["plans"]} >= set(ASYNC_PLAN_NAMES)


async def test_catalog_etag(osb: BrokerUnderTest) -> None:
    first = await osb.client.get("/v2/catalog", headers=headers())
    etag = first.headers["ETag"]
    again = await osb.client.get("/v2/catalog", headers=headers(**{"If-None-Match": etag}))
    assert again.status == 304
    other = await osb.client.get("/v2/catalog", headers=headers(**{"If-None-Match": '"x"'}))
    assert other.status == 200


def test_canonical_descriptions_match_the_go_client() -> None:
    # go-open-service-broker-client's IsAsyncRequiredError compares this text exactly.
    assert ASYNC_REQUIRED == (
        "This service plan requires client support for asynchronous service operations."
    )

"""Apps' services exposed through the platform's CAPIF API gateway: an Mp1 service registered
with ``capifExposure`` is published by the platform's APF, and invokers reach it at
``/aef/{serInstanceId}/...`` with the same authentication, quotas and journal as the platform's
own APIs, the gateway forwarding to the service's endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fixtures.auth import basic, bearer
from fixtures.capif import OPERATOR, CapifPlatform, capif_on, capif_platform
from fixtures.gateway import Invoker, PlatformApi, platform_api, secure, token
from fixtures.upstream import EchoService
from yarl import URL

from mep.capif import aef_proxy
from mep.capif.api import publish_platform
from mep.capif.app_services import service_api_id
from mep.capif.journal import COLLECTION as JOURNAL
from mep.capif.publish import COLLECTION as PUBLISHED
from mep.core import keys
from mep.core.store import Delete
from mep.mp1.service_mgmt.records import SERVICES

MP1 = "/mec_service_mgmt/v1"
POLICIES = "/mep_mgmt/v1/capif/access-control-policies"
APP = "video-app"
NAME = "video-analytics"


@pytest.fixture
async def upstream() -> AsyncIterator[EchoService]:
    service = EchoService()
    await service.start()
    yield service
    await service.stop()


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[CapifPlatform]:
    async with capif_platform(tmp_path) as running:
        yield running


def transport(**endpoint: Any) -> dict[str, Any]:
    return {
        "id": "video-rest",
        "name": "REST",
        "description": "the producer's own REST endpoint",
        "type": "REST_HTTP",
        "protocol": "HTTP",
        "version": "1.1",
        "endpoint": endpoint,
        "security": {},
    }


def service_info(base: str, name: str = NAME, **members: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "serName": name,
        "serCategory": {
            "href": "http://catalogue.example/categories/video",
            "id": "cat-video",
            "name": "Video",
            "version": "v3",
        },
        "version": "1.0.0",
        "state": "ACTIVE",
        "transportInfo": transport(uris=[f"{base}/video/v1"]),
        "serializer": "JSON",
        "capifExposure": True,
    }
    body.update(members)
    return {k: v for k, v in body.items() if v is not None}


async def new_app(platform: CapifPlatform, instance_id: str = APP) -> dict[str, str]:
    """An app instance made by the operator; its Mp1 token's header."""
    status, body, _ = await platform.call(
        "PUT",
        f"/mep_mgmt/v1/app_instances/{instance_id}",
        json={"appName": instance_id},
        headers=OPERATOR,
        plain=True,
    )
    assert status == 201, body
    status, issued, _ = await platform.call(
        "POST",
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=basic(instance_id, body["clientSecret"]),
        plain=True,
    )
    assert status == 200, issued
    return bearer(str(issued["access_token"]))


def services_path(instance_id: str = APP) -> str:
    return f"{MP1}/applications/{instance_id}/services"


async def register(
    platform: CapifPlatform, app: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    status, created, _ = await platform.call(
        "POST", services_path(), json=body, headers=app, plain=True
    )
    assert status == 201, created
    await settle(platform)
    return dict(created)


async def settle(platform: CapifPlatform) -> None:
    await platform.runner.app[keys.CAPIF_APP_SERVICES].settle()


def exposed_api(platform: CapifPlatform, ser_instance_id: str) -> PlatformApi:
    provider = platform.runner.app[keys.CAPIF_PLATFORM]
    return PlatformApi(provider.aef_id, service_api_id(provider.apf_id, ser_instance_id), NAME)


async def invoker_for(platform: CapifPlatform, *apis: PlatformApi) -> tuple[Invoker, str]:
    """An invoker with a security context for ``apis``, and a token for the first."""
    invoker_id, holder, _ = await platform.onboard()
    invoker = Invoker(invoker_id, holder)
    await secure(platform, invoker, *apis)
    return invoker, await token(platform, invoker, f"3gpp#{apis[0].aef_id}:{apis[0].name}")


async def discovered(platform: CapifPlatform, invoker: Invoker) -> list[dict[str, Any]]:
    status, body = await platform.discover(invoker.id, invoker.holder, api_name=NAME)
    assert status == 200, body
    return list(body.get("serviceAPIDescriptions", []))


async def raw_get(
    platform: CapifPlatform, raw_path: str, headers: dict[str, str]
) -> tuple[int, Any]:
    """A GET of ``raw_path`` sent exactly as written (no client-side dot-segment removal)."""
    url = URL(f"{platform.tls_url}{raw_path}", encoded=True)
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, headers=headers, ssl=await platform.context()) as response,
    ):
        return response.status, await response.json(content_type=None)


async def records(platform: CapifPlatform) -> list[dict[str, Any]]:
    return [doc.data for doc in await platform.store.scan(JOURNAL)]


@pytest.mark.parametrize("store", ["sqlite", "redis"])
async def test_an_exposed_service_is_discovered_and_reached_through_the_gateway(
    store: str, tmp_path: Path, upstream: EchoService
) -> None:
    async with capif_on(store, tmp_path) as platform:
        app = await new_app(platform)
        created = await register(platform, app, service_info(upstream.url))
        assert created["capifExposure"] is True
        service_id = created["serInstanceId"]
        status, fetched, _ = await platform.call(
            "GET", f"{services_path()}/{service_id}", headers=app, plain=True
        )
        assert status == 200
        assert fetched["capifExposure"] is True
        api = exposed_api(platform, service_id)

        invoker, access = await invoker_for(platform, api)
        (found,) = await discovered(platform, invoker)
        assert found["apiName"] == NAME
        assert found["apiId"] == api.api_id
        (profile,) = found["aefProfiles"]
        assert profile["aefId"] == api.aef_id
        assert profile["securityMethods"] == ["OAUTH", "PKI"]
        (version,) = profile["versions"]
        assert version["apiVersion"] == "v3"
        assert version["resources"] == [
            {
                "resourceName": "all",
                "commType": "REQUEST_RESPONSE",
                "uri": "/",
                "operations": ["GET", "POST", "PUT", "PATCH", "DELETE"],
            }
        ]
        prefixes = {d["apiPrefix"] for d in profile["interfaceDescriptions"]}
        assert prefixes == {f"/aef/{service_id}"}

        headers = {**bearer(access), "X-Capif-Api-Invoker-Id": "someone-else", "Cookie": "c=1"}
        path = f"/aef/{service_id}/some/path?x=1"
        status, echoed, response = await platform.call("GET", path, headers=headers)
        assert status == 200, echoed
        assert response.headers["X-Echo"] == "yes"
        assert (echoed["method"], echoed["path"], echoed["query"]) == (
            "GET",
            "/video/v1/some/path",
            "x=1",
        )
        seen = echoed["headers"]
        assert "Authorization" not in seen
        assert seen["X-Capif-Api-Invoker-Id"] == invoker.id
        assert seen["X-Forwarded-For"] == "127.0.0.1"
        assert seen["Forwarded"].startswith("for=127.0.0.1;")
        assert seen["Cookie"] == "c=1"

        status, echoed, _ = await platform.call(
            "POST", path, headers=bearer(access), json={"frames": 3}
        )
        assert status == 201, echoed
        assert (echoed["method"], echoed["body"]) == ("POST", '{"frames": 3}')
        assert echoed["headers"]["Content-Type"] == "application/json"
        assert len(upstream.received) == 2

        # The app itself, with its Mp1 token, goes through the same gateway.
        status, echoed, _ = await platform.call("GET", f"/aef/{service_id}", headers=app)
        assert status == 200, echoed
        assert echoed["path"] == "/video/v1"
        assert echoed["headers"]["X-Capif-Api-Invoker-Id"] == APP

        found_records = await records(platform)
        calls = [
            (r["apiInvokerId"], r["log"]["operation"], r["log"]["result"]) for r in found_records
        ]
        assert calls == [
            (invoker.id, "GET", "200"),
            (invoker.id, "POST", "201"),
            (APP, "GET", "200"),
        ]
        log = found_records[0]["log"]
        assert (log["apiId"], log["apiName"], log["apiVersion"]) == (api.api_id, NAME, "v3")
        assert log["resourceName"] == "all"
        assert log["uri"].endswith(path)
        assert found_records[0]["aefId"] == api.aef_id
        journal = await platform.runner.app[keys.CAPIF_JOURNAL].by_invoker(invoker.id)
        assert {i.log["apiName"] for i in journal} == {NAME}


async def test_refusals_are_those_of_the_platform_apis_and_are_recorded(
    platform: CapifPlatform, upstream: EchoService
) -> None:
    app = await new_app(platform)
    service_id = (await register(platform, app, service_info(upstream.url)))["serInstanceId"]
    api, location = exposed_api(platform, service_id), platform_api(platform, "location")
    path = f"/aef/{service_id}/things"

    status, body, _ = await platform.call("GET", path)
    assert status == 401, body

    invoker, _ = await invoker_for(platform, api, location)
    location_only = await token(platform, invoker, f"3gpp#{location.aef_id}:location")
    status, body, _ = await platform.call("GET", path, headers=bearer(location_only))
    assert status == 403, body
    assert body["cause"] == "INSUFFICIENT_SCOPE"

    _, stranger_token = await invoker_for(platform, location)
    status, body, _ = await platform.call("GET", path, headers=bearer(stranger_token))
    assert status == 403, body

    access = await token(platform, invoker, f"3gpp#{api.aef_id}:{NAME}")
    status, body, _ = await platform.call(
        "PUT",
        f"{POLICIES}/{api.api_id}/{invoker.id}",
        json={"allowedTotalInvocations": 1},
        headers=OPERATOR,
    )
    assert status == 201, body
    first = await platform.call("GET", path, headers=bearer(access))
    second = await platform.call("GET", path, headers=bearer(access))
    assert (first[0], second[0]) == (200, 429)
    assert second[1]["cause"] == "OVERLIMIT_USAGE"
    assert len(upstream.received) == 1

    found = [
        (r["log"]["apiId"], r["log"]["apiName"], r["log"]["result"], r["admitted"])
        for r in await records(platform)
    ]
    assert found == [
        (api.api_id, NAME, "401", False),
        (api.api_id, NAME, "403", False),
        (api.api_id, NAME, "403", False),
        (api.api_id, NAME, "200", True),
        (api.api_id, NAME, "429", False),
    ]


async def test_a_service_down_slow_or_inactive_is_answered_by_the_gateway(
    tmp_path: Path, upstream: EchoService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aef_proxy, "TIMEOUT", aiohttp.ClientTimeout(total=0.5, sock_connect=2))
    async with capif_platform(tmp_path) as platform:
        app = await new_app(platform)
        created = await register(platform, app, service_info(upstream.url))
        service_id = created["serInstanceId"]
        _, access = await invoker_for(platform, exposed_api(platform, service_id))

        status, body, _ = await platform.call(
            "GET", f"/aef/{service_id}/slow", headers=bearer(access)
        )
        assert status == 504, body
        assert body["status"] == 504

        for bad in ("/..", "/a/%2e%2e/b", "/a/..%2Fb", "/a/.%2e"):
            status, body = await raw_get(platform, f"/aef/{service_id}{bad}", bearer(access))
            assert status == 400, body
            assert "'..'" in body["detail"]
        assert not any("/b" in seen["path"] for seen in upstream.received)

        inactive = {**service_info(upstream.url), "state": "INACTIVE"}
        status, body, _ = await platform.call(
            "PUT", f"{services_path()}/{service_id}", json=inactive, headers=app, plain=True
        )
        assert status == 200, body
        await settle(platform)
        status, body, _ = await platform.call("GET", f"/aef/{service_id}", headers=bearer(access))
        assert status == 503, body
        assert "INACTIVE" in body["detail"]

        status, body, _ = await platform.call(
            "PUT",
            f"{services_path()}/{service_id}",
            json=service_info(upstream.url),
            headers=app,
            plain=True,
        )
        assert status == 200, body
        await settle(platform)
        await upstream.stop()
        status, body, _ = await platform.call("GET", f"/aef/{service_id}", headers=bearer(access))
        assert status == 502, body
        assert body["type"] == "about:blank"

        results = [r["log"]["result"] for r in await records(platform)]
        assert results[0] == "504"
        assert results[-2:] == ["503", "502"]


async def test_a_deregistered_service_is_unpublished_and_gone_from_the_gateway(
    platform: CapifPlatform, upstream: EchoService
) -> None:
    app = await new_app(platform)
    service_id = (await register(platform, app, service_info(upstream.url)))["serInstanceId"]
    invoker, access = await invoker_for(platform, exposed_api(platform, service_id))
    assert (await platform.call("GET", f"/aef/{service_id}", headers=bearer(access)))[0] == 200

    status, _, _ = await platform.call(
        "DELETE", f"{services_path()}/{service_id}", headers=app, plain=True
    )
    assert status == 204
    await settle(platform)
    assert await discovered(platform, invoker) == []
    for path in (f"/aef/{service_id}", f"/aef/{service_id}/x", "/aef/unknown/x"):
        status, body, _ = await platform.call("GET", path, headers=bearer(access))
        assert status == 404, body
        assert body["status"] == 404
    # Only the call made while the service was exposed is recorded: a 404 names no API.
    assert [r["log"]["result"] for r in await records(platform)] == ["200"]


async def test_terminating_the_app_unpublishes_its_services(
    platform: CapifPlatform, upstream: EchoService
) -> None:
    app = await new_app(platform)
    service_id = (await register(platform, app, service_info(upstream.url)))["serInstanceId"]
    api = exposed_api(platform, service_id)
    assert await platform.store.get(PUBLISHED, api.api_id) is not None

    status, body, _ = await platform.call(
        "DELETE", f"/mep_mgmt/v1/app_instances/{APP}", headers=OPERATOR, plain=True
    )
    assert status == 204, body
    await settle(platform)
    assert await platform.store.get(PUBLISHED, api.api_id) is None


async def test_exposure_follows_the_flag_and_survives_a_restart(
    tmp_path: Path, upstream: EchoService
) -> None:
    async with capif_platform(tmp_path) as platform:
        app = await new_app(platform)
        created = await register(platform, app, service_info(upstream.url, capifExposure=None))
        assert "capifExposure" not in created
        service_id = created["serInstanceId"]
        api = exposed_api(platform, service_id)
        invoker_id, holder, _ = await platform.onboard()
        invoker = Invoker(invoker_id, holder)
        assert await discovered(platform, invoker) == []

        one = f"{services_path()}/{service_id}"
        exposed_body = service_info(upstream.url)
        status, body, _ = await platform.call(
            "PUT", one, json=exposed_body, headers=app, plain=True
        )
        assert status == 200, body
        await settle(platform)
        assert [a["apiId"] for a in await discovered(platform, invoker)] == [api.api_id]

        status, body, _ = await platform.call(
            "PUT",
            one,
            json=service_info(upstream.url, capifExposure=False),
            headers=app,
            plain=True,
        )
        assert status == 200, body
        assert body["capifExposure"] is False
        await settle(platform)
        assert await discovered(platform, invoker) == []

        status, body, _ = await platform.call(
            "PUT", one, json=exposed_body, headers=app, plain=True
        )
        assert status == 200, body
        await settle(platform)
        before = await platform.store.get(PUBLISHED, api.api_id)
        assert before is not None

    async with capif_platform(tmp_path) as again:
        await settle(again)
        after = await again.store.get(PUBLISHED, api.api_id)
        assert after is not None
        # Restarted on other ports: the interfaces were rewritten once, in place.
        assert after.version in (before.version, before.version + 1)
        # Republishing the platform's own APIs leaves the apps' alone.
        await publish_platform(again.runner.app)
        kept = await again.store.get(PUBLISHED, api.api_id)
        assert kept is not None
        assert kept.version == after.version
        platform_apis = {
            d.data["description"]["apiName"] for d in await again.store.scan(PUBLISHED)
        }
        assert platform_apis == {"location", "rni", "bwm", NAME}

        # A service gone while nobody followed the registry is unpublished by a full pass.
        await again.store.commit([Delete(SERVICES, service_id)])
        await again.runner.app[keys.CAPIF_APP_SERVICES].reconcile_all()
        assert await again.store.get(PUBLISHED, api.api_id) is None


async def test_only_a_service_with_an_http_endpoint_can_ask_for_exposure(
    platform: CapifPlatform, upstream: EchoService
) -> None:
    app = await new_app(platform)
    bad_bodies = [
        service_info(upstream.url, transportInfo={**transport(uris=["x"]), "type": "RPC"}),
        service_info(upstream.url, transportInfo=transport(uris=["ftp://10.0.0.1/files"])),
        service_info(upstream.url, transportInfo=transport(alternative={"k": "v"})),
        service_info(upstream.url, transportInfo=None, transportId="mep-rest-http"),
        service_info(upstream.url, name="location"),
    ]
    for bad in bad_bodies:
        status, body, _ = await platform.call(
            "POST", services_path(), json=bad, headers=app, plain=True
        )
        assert status == 400, (bad, body)
        assert [p["param"] for p in body["invalidParams"]] == ["/capifExposure"], body
    not_boolean = service_info(upstream.url, capifExposure="yes")
    status, body, _ = await platform.call(
        "POST", services_path(), json=not_boolean, headers=app, plain=True
    )
    assert status == 400, body
    assert [p["param"] for p in body["invalidParams"]] == ["/capifExposure"]

    addresses = transport(addresses=[{"host": "127.0.0.1", "port": upstream.port}])
    created = await register(platform, app, service_info(upstream.url, transportInfo=addresses))
    service_id = created["serInstanceId"]
    _, access = await invoker_for(platform, exposed_api(platform, service_id))
    status, echoed, _ = await platform.call("GET", f"/aef/{service_id}/a", headers=bearer(access))
    assert status == 200, echoed
    assert echoed["path"] == "/a"
    # Nothing was published for the refused ones.
    names = [d.data["description"]["apiName"] for d in await platform.store.scan(PUBLISHED)]
    assert names.count(NAME) == 1

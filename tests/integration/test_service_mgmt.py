"""The Mp1 service registry (GS MEC 011 clause 8) end to end over HTTP, on SQLite and on Redis:
registration, discovery with every query filter, update with ETags, access rules, bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fixtures.apps import App, new_app
from fixtures.problems import params, problem
from test_service_mgmt_support import (
    API,
    PUBLIC,
    TRANSPORT,
    Client,
    check_both,
    local,
    register,
    service,
    services_of,
    subscribe,
    subscription,
    subscriptions_of,
)

from mep.core import keys
from mep.core.problem import Conflict
from mep.mp1.service_mgmt.models import ServiceInfo
from mep.mp1.service_mgmt.platform import PLATFORM_APIS, register_platform_apis

ONE = "/applications/{appInstanceId}/services/{serviceId}"
MANY = "/applications/{appInstanceId}/services"
#: The platform's own APIs, registered at start (their own test checks them).
PLATFORM = {api.ser_name for api in PLATFORM_APIS}


async def two_apps(client: Client, operator: dict[str, str]) -> tuple[App, App]:
    return await new_app(client, operator, "app-a"), await new_app(client, operator, "app-b")


async def test_register_get_update_delete(client: Client, operator: dict[str, str]) -> None:
    a = await new_app(client, operator, "app-a")
    response = await client.post(services_of("app-a"), json=service(), headers=a.headers)
    assert response.status == 201, await response.text()
    created = await response.json()
    check_both(MANY, "post", 201, created)
    service_id = created["serInstanceId"]
    location = response.headers["Location"]
    assert location == f"{PUBLIC}{services_of('app-a')}/{service_id}"
    assert response.headers["ETag"] == '"1"'
    assert created["_links"]["self"]["href"] == f"{PUBLIC}{API}/services/{service_id}"
    assert "liveness" not in created["_links"]
    assert created["transportInfo"] == TRANSPORT
    assert "transportId" not in created

    fetched = await client.get(local(location), headers=a.headers)
    assert fetched.status == 200
    assert fetched.headers["ETag"] == '"1"'
    assert await fetched.json() == created
    check_both(ONE, "get", 200, created)
    everywhere = await client.get(f"{API}/services/{service_id}", headers=a.headers)
    assert everywhere.headers["ETag"] == '"1"'
    check_both("/services/{serviceId}", "get", 200, await everywhere.json())

    changed = service(version="1.1.0", serInstanceId=service_id)
    updated = await client.put(
        local(location), json=changed, headers={**a.headers, "If-Match": '"1"'}
    )
    assert updated.status == 200, await updated.text()
    assert updated.headers["ETag"] == '"2"'
    body = await updated.json()
    check_both(ONE, "put", 200, body)
    assert body["version"] == "1.1.0"
    assert body["serInstanceId"] == service_id

    stale = await client.put(
        local(location), json=changed, headers={**a.headers, "If-Match": '"1"'}
    )
    await problem(stale, 412)
    unconditional = await client.put(local(location), json=service(version="2"), headers=a.headers)
    assert unconditional.status == 200
    assert unconditional.headers["ETag"] == '"3"'

    deleted = await client.delete(local(location), headers=a.headers)
    assert deleted.status == 204
    await problem(await client.get(local(location), headers=a.headers), 404)
    await problem(await client.get(f"{API}/services/{service_id}", headers=a.headers), 404)
    await problem(await client.delete(local(location), headers=a.headers), 404)


async def test_a_put_that_changes_nothing_keeps_the_version(
    client: Client, operator: dict[str, str]
) -> None:
    a = await new_app(client, operator, "app-a")
    created = await register(client, "app-a", a.headers, service())
    path = f"{services_of('app-a')}/{created['serInstanceId']}"
    again = await client.put(path, json=created, headers={**a.headers, "If-Match": '"1"'})
    assert again.status == 200
    assert again.headers["ETag"] == '"1"'


async def test_names_are_unique_per_app_instance(client: Client, operator: dict[str, str]) -> None:
    a, b = await two_apps(client, operator)
    first = await register(client, "app-a", a.headers, service("video"))
    duplicate = await client.post(services_of("app-a"), json=service("video"), headers=a.headers)
    await problem(duplicate, 409)
    await register(client, "app-b", b.headers, service("video"))  # another instance: fine

    other = await register(client, "app-a", a.headers, service("audio"))
    path = f"{services_of('app-a')}/{other['serInstanceId']}"
    taken = await client.put(path, json=service("video"), headers=a.headers)
    await problem(taken, 409)
    renamed = await client.put(
        f"{services_of('app-a')}/{first['serInstanceId']}",
        json=service("video-2"),
        headers=a.headers,
    )
    assert renamed.status == 200
    await register(client, "app-a", a.headers, service("video"))  # the old name is free again
    listed = await (await client.get(services_of("app-a"), headers=a.headers)).json()
    assert sorted(s["serName"] for s in listed) == ["audio", "video", "video-2"]


async def test_concurrent_registrations_of_one_name_make_one_service(
    client: Client, operator: dict[str, str]
) -> None:
    a = await new_app(client, operator, "app-a")
    responses = await asyncio.gather(
        *(
            client.post(services_of("app-a"), json=service("race"), headers=a.headers)
            for _ in range(6)
        )
    )
    assert sorted(r.status for r in responses) == [201] + [409] * 5
    listed = await (await client.get(services_of("app-a"), headers=a.headers)).json()
    assert [s["serName"] for s in listed] == ["race"]


async def test_the_platform_apis_are_in_the_registry(
    client: Client, operator: dict[str, str]
) -> None:
    a = await new_app(client, operator, "app-a")
    for name, root in (("rni", "/rni/v2"), ("location", "/location/v2"), ("bwm", "/bwm/v1")):
        found = await client.get(f"{API}/services", params={"ser_name": name}, headers=a.headers)
        (api,) = await found.json()
        check_both("/services", "get", 200, [api])
        assert api["state"] == "ACTIVE"
        transport = api["transportInfo"]
        assert transport["type"] == "REST_HTTP"
        assert transport["endpoint"]["uris"] == [f"http://mep.test{root}"]
        assert (
            transport["security"]["oAuth2Info"]["tokenEndpoint"] == "http://mep.test/oauth2/token"
        )
    # A restart (registration again, on the same store) adds nothing.
    await register_platform_apis(client.app[keys.SERVICE_REGISTRY], "http://mep.test")
    listed = await (await client.get(f"{API}/services", headers=a.headers)).json()
    assert sorted(s["serName"] for s in listed) == sorted(PLATFORM)


async def test_platform_services_register_from_python(
    client: Client, operator: dict[str, str]
) -> None:
    a = await new_app(client, operator, "app-a")
    registry = client.app[keys.SERVICE_REGISTRY]
    info = ServiceInfo.model_validate(
        service("extra", transportInfo=None, transportId="mep-rest-http")
    )
    stored = await registry.register("platform-extra", info)
    assert stored.created
    with pytest.raises(Conflict):
        await registry.register("platform-extra", info)
    found = await client.get(f"{API}/services", params={"ser_name": "extra"}, headers=a.headers)
    (extra,) = await found.json()
    assert extra["serInstanceId"] == stored.id
    transports = await (await client.get(f"{API}/transports", headers=a.headers)).json()
    assert extra["transportInfo"] == transports[0]


async def test_query_filters(client: Client, operator: dict[str, str]) -> None:
    a, b = await two_apps(client, operator)
    alpha_a = await register(client, "app-a", a.headers, service("alpha"))
    beta = service(
        "beta",
        serCategory=None,
        isLocal=False,
        scopeOfLocality="MEC_SYSTEM",
        consumedLocalOnly=False,
    )
    beta_a = await register(client, "app-a", a.headers, beta)
    bare = service("alpha", consumedLocalOnly=None, isLocal=None, scopeOfLocality=None)
    alpha_b = await register(client, "app-b", b.headers, bare)

    async def names(path: str, **query: str | list[str]) -> list[tuple[str, str]]:
        response = await client.get(path, params=_pairs(query), headers=a.headers)
        assert response.status == 200, await response.text()
        body = await response.json()
        check_both("/services" if path.endswith(f"{API}/services") else MANY, "get", 200, body)
        return sorted(
            (s["serName"], s["serInstanceId"]) for s in body if s["serName"] not in PLATFORM
        )

    def pair(s: dict[str, str]) -> tuple[str, str]:
        return s["serName"], s["serInstanceId"]

    everything = f"{API}/services"
    assert await names(everything) == sorted(map(pair, [alpha_a, beta_a, alpha_b]))
    assert await names(everything, ser_name="alpha") == sorted(map(pair, [alpha_a, alpha_b]))
    both = sorted(map(pair, [alpha_a, beta_a, alpha_b]))
    assert await names(everything, ser_name=["alpha", "beta"]) == both
    assert await names(everything, ser_name="alpha,beta") == both
    assert await names(everything, ser_name="gamma") == []
    ids = [beta_a["serInstanceId"], alpha_b["serInstanceId"]]
    assert await names(everything, ser_instance_id=ids) == sorted(map(pair, [beta_a, alpha_b]))
    assert await names(everything, ser_instance_id="nope") == []
    by_category = sorted(map(pair, [alpha_a, alpha_b]))
    assert await names(everything, ser_category_id="cat-video") == by_category
    assert await names(everything, is_local="false") == [pair(beta_a)]
    assert await names(everything, is_local="true") == by_category  # absent isLocal: local
    assert await names(everything, consumed_local_only="true") == [pair(alpha_a)]
    assert await names(everything, consumed_local_only="false") == sorted(
        map(pair, [beta_a, alpha_b])
    )
    assert await names(everything, scope_of_locality="MEC_SYSTEM") == [pair(beta_a)]
    assert await names(everything, scope_of_locality="MEC_HOST") == by_category  # the default
    assert await names(everything, ser_name="alpha", is_local="false") == []

    assert await names(services_of("app-a")) == sorted(map(pair, [alpha_a, beta_a]))
    assert await names(services_of("app-a"), ser_name="alpha") == [pair(alpha_a)]
    assert await names(services_of("app-a"), ser_instance_id=alpha_b["serInstanceId"]) == []
    assert await names(services_of("app-a"), ser_category_id="cat-video") == [pair(alpha_a)]


async def test_lookups_use_indexes_not_scans(
    client: Client, operator: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = await two_apps(client, operator)
    store = client.app[keys.STORE]
    scanned: list[str] = []
    scan = store.scan

    async def spy(collection: str, **options: Any) -> Any:
        scanned.append(collection)
        return await scan(collection, **options)

    monkeypatch.setattr(store, "scan", spy)
    callback = "http://127.0.0.1:9/nobody"
    for criteria in ({"serNames": ["alpha"]}, {"states": ["ACTIVE"]}, None):
        body = subscription(callback, filteringCriteria=criteria)
        await subscribe(client, "app-b", b.headers, body)
    alpha = await register(client, "app-a", a.headers, service("alpha"))
    path = f"{services_of('app-a')}/{alpha['serInstanceId']}"
    assert (await client.put(path, json=service("alpha", version="2"), headers=a.headers)).ok
    for query in (
        {"ser_name": "alpha"},
        {"ser_instance_id": alpha["serInstanceId"]},
        {"ser_category_id": "cat-video"},
    ):
        assert (await client.get(f"{API}/services", params=query, headers=a.headers)).ok
    assert (await client.get(services_of("app-a"), headers=a.headers)).ok
    assert (await client.delete(path, headers=a.headers)).status == 204
    assert not [c for c in scanned if c.startswith("mp1_")]
    assert (await client.get(f"{API}/services", headers=a.headers)).ok  # the whole list: a scan
    assert "mp1_services" in scanned


def _pairs(query: dict[str, str | list[str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, vs in query.items() for v in ([vs] if isinstance(vs, str) else vs)]


@pytest.mark.parametrize(
    ("query", "bad"),
    [
        ("ser_name=a&ser_category_id=c", {"query ser_name", "query ser_category_id"}),
        ("ser_instance_id=i&ser_name=a", {"query ser_instance_id", "query ser_name"}),
        ("ser_category_id=c&ser_category_id=d", {"query ser_category_id"}),
        ("is_local=maybe", {"query is_local"}),
        ("consumed_local_only=1", {"query consumed_local_only"}),
        ("scope_of_locality=MOON", {"query scope_of_locality"}),
    ],
)
async def test_bad_queries_are_400(
    client: Client, operator: dict[str, str], query: str, bad: set[str]
) -> None:
    a = await new_app(client, operator, "app-a")
    for path in (f"{API}/services", services_of("app-a")):
        body = await problem(await client.get(f"{path}?{query}", headers=a.headers), 400)
        assert params(body) == bad


async def test_an_overlong_query_is_414(client: Client, operator: dict[str, str]) -> None:
    a = await new_app(client, operator, "app-a")
    query = "&".join(f"ser_name=name-{n:04d}" for n in range(300))
    await problem(await client.get(f"{API}/services?{query}", headers=a.headers), 414)


async def test_transports(client: Client, operator: dict[str, str]) -> None:
    a = await new_app(client, operator, "app-a")
    response = await client.get(f"{API}/transports", headers=a.headers)
    assert response.status == 200
    assert response.content_type == "application/json"
    transports = await response.json()
    check_both("/transports", "get", 200, transports)
    (rest,) = [t for t in transports if t["type"] == "REST_HTTP"]
    assert rest["security"]["oAuth2Info"] == {
        "grantTypes": ["OAUTH2_CLIENT_CREDENTIALS"],
        "tokenEndpoint": f"{PUBLIC}/oauth2/token",
    }
    created = await register(
        client, "app-a", a.headers, service(transportInfo=None, transportId=rest["id"])
    )
    assert created["transportInfo"] == rest
    assert "transportId" not in created


async def test_access_rules(client: Client, operator: dict[str, str]) -> None:
    a, b = await two_apps(client, operator)
    mine = await register(client, "app-a", a.headers, service())
    mine_path = f"{services_of('app-a')}/{mine['serInstanceId']}"

    for path in (f"{API}/services", f"{API}/transports", services_of("app-a"), mine_path):
        await problem(await client.get(path), 401)
        await problem(await client.get(path, headers={"Authorization": "Bearer nope"}), 401)
    await problem(await client.post(services_of("app-a"), json=service("x")), 401)

    # Another app reads the registry but acts only under its own id.
    assert (await client.get(f"{API}/services", headers=b.headers)).status == 200
    read = await client.get(f"{API}/services/{mine['serInstanceId']}", headers=b.headers)
    assert read.status == 200
    await problem(await client.get(mine_path, headers=b.headers), 403)
    await problem(await client.put(mine_path, json=service(), headers=b.headers), 403)
    await problem(await client.delete(mine_path, headers=b.headers), 403)
    await problem(
        await client.post(services_of("app-a"), json=service("y"), headers=b.headers), 403
    )
    await problem(await client.get(subscriptions_of("app-a"), headers=b.headers), 403)
    await problem(await client.get(f"{mine_path}/liveness", headers=b.headers), 403)
    # An unknown instance is 404 for everyone; another instance's service under mine is 404.
    await problem(await client.get(services_of("ghost"), headers=a.headers), 404)
    await problem(await client.get(services_of("ghost"), headers=operator), 404)
    foreign = f"{services_of('app-b')}/{mine['serInstanceId']}"
    await problem(await client.get(foreign, headers=b.headers), 404)

    # The operator does everything.
    by_operator = await register(client, "app-a", operator, service("ops"))
    ops_path = f"{services_of('app-a')}/{by_operator['serInstanceId']}"
    assert (await client.get(mine_path, headers=operator)).status == 200
    assert (await client.delete(ops_path, headers=operator)).status == 204


@pytest.mark.parametrize(
    ("body", "bad"),
    [
        (service(state="ON"), {"/state"}),
        (service(state="SUSPENDED"), {"/state"}),
        (service(serializer="YAML"), {"/serializer"}),
        (service(scopeOfLocality="MOON"), {"/scopeOfLocality"}),
        (service(consumedLocalOnly="yes"), {"/consumedLocalOnly"}),
        (service(livenessInterval="5"), {"/livenessInterval"}),
        (service(livenessInterval=-1), {"/livenessInterval"}),
        (service(serName=""), {"/serName"}),
        (service(serName=None), {"/serName"}),
        (service(transportInfo=None), {"/transportId", "/transportInfo"}),
        (service(transportId="mep-rest-http"), {"/transportId", "/transportInfo"}),
        (service(transportInfo=None, transportId="carrier-pigeon"), {"/transportId"}),
        (
            service(transportInfo={**TRANSPORT, "endpoint": {"uris": ["u"], "alternative": {}}}),
            {"/transportInfo/endpoint"},
        ),
        (service(transportInfo={**TRANSPORT, "type": "SMOKE"}), {"/transportInfo/type"}),
        (service(serCategory={"id": "c"}), {"/serCategory/href"}),
        ([service()], {"/"}),
    ],
)
async def test_bad_registrations_are_400_and_store_nothing(
    client: Client, operator: dict[str, str], body: object, bad: set[str]
) -> None:
    a = await new_app(client, operator, "app-a")
    found = await problem(
        await client.post(services_of("app-a"), json=body, headers=a.headers), 400
    )
    assert bad <= params(found), found
    assert await (await client.get(services_of("app-a"), headers=a.headers)).json() == []


async def test_malformed_bodies(client: Client, operator: dict[str, str]) -> None:
    a = await new_app(client, operator, "app-a")
    headers = {**a.headers, "Content-Type": "application/json"}
    await problem(await client.post(services_of("app-a"), data=b"{nope", headers=headers), 400)
    await problem(await client.post(services_of("app-a"), data=b"", headers=headers), 400)
    text = {**a.headers, "Content-Type": "text/plain"}
    await problem(await client.post(services_of("app-a"), data=b"{}", headers=text), 415)
    created = await register(client, "app-a", a.headers, service())
    path = f"{services_of('app-a')}/{created['serInstanceId']}"
    await problem(await client.put(path, data=b"[", headers=headers), 400)
    moved = await client.put(path, json=service(serInstanceId="other"), headers=a.headers)
    assert params(await problem(moved, 400)) == {"/serInstanceId"}
    unchanged = await client.get(path, headers=a.headers)
    assert unchanged.headers["ETag"] == '"1"'
    assert await unchanged.json() == created

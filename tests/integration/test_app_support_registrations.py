"""[V3] Application registration (``/registrations``, AppInfo) over HTTP, on SQLite and on Redis:
instances registering themselves with their token, and apps the platform did not instantiate
registering without one where the operator allows it (``MEP_ALLOW_SELF_REGISTRATION``)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from fixtures.apps import new_app
from fixtures.auth import basic, bearer
from fixtures.problems import params, problem
from test_app_support_helpers import (
    API,
    MGMT,
    PUBLIC,
    Client,
    app_path,
    check_both,
    local,
)

from mep.app import create_app
from mep.core.deps import open_deps
from mep.core.settings import MepSettings
from mep.core.store.redis import RedisStore

REGISTRATIONS = f"{API}/registrations"
ONE = "/registrations/{appInstanceId}"
OPERATOR_TOKEN = "operator-test-token"
INFO: dict[str, Any] = {
    "appName": "video-analytics",
    "appProvider": "ACME",
    "appDId": "d-1",
    "endpoint": {"uris": ["http://10.10.0.5/video"]},
    "appServiceRequired": [{"serName": "rni", "version": "2.1.1"}],
    "appFeatureOptional": [{"featureName": "UPF", "version": "1"}],
    "appProfile": {"easId": "video"},
}


@pytest.fixture(params=["sqlite", "redis"])
async def open_platform(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Client]:
    """The real app with self-registration allowed."""
    settings = MepSettings(
        data_dir=tmp_path,
        admin_token=OPERATOR_TOKEN,
        public_url=PUBLIC,
        allow_self_registration=True,
    )
    prefix = f"test:{secrets.token_hex(6)}:"
    store = None
    if request.param == "redis":
        store = await RedisStore.open("redis://127.0.0.1:6379/0", prefix=prefix)
    deps = await open_deps(settings, store=store)
    client: Client = TestClient(TestServer(create_app(settings, deps)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
        if store is not None:
            keys = [k async for k in store.client.scan_iter(match=f"{prefix}*")]
            if keys:
                await store.client.unlink(*keys)
        await deps.close()


async def instance_count(client: Client, operator: dict[str, str]) -> int:
    return len(await (await client.get(MGMT, headers=operator)).json())


async def test_an_instance_registers_itself(client: Client, operator: dict[str, str]) -> None:
    app = await new_app(client, operator, "app-r")
    other = await new_app(client, operator, "app-o")
    await problem(await client.get(f"{REGISTRATIONS}/app-r", headers=app.headers), 404)
    response = await client.post(REGISTRATIONS, json=INFO, headers=app.headers)
    assert response.status == 201, await response.text()
    created = await response.json()
    check_both("/registrations", "post", 201, created, official=False)
    assert created == {**INFO, "appInstanceId": "app-r", "isInsByMec": True}
    assert response.headers["Location"] == f"{PUBLIC}{REGISTRATIONS}/app-r"
    again = await client.post(REGISTRATIONS, json=INFO, headers=app.headers)
    await problem(again, 409)
    as_other = await client.post(
        REGISTRATIONS, json={**INFO, "appInstanceId": "app-r"}, headers=other.headers
    )
    await problem(as_other, 403)

    one = await client.get(local(response.headers["Location"]), headers=app.headers)
    assert await one.json() == created
    check_both(ONE, "get", 200, await one.json(), official=False)
    await problem(await client.get(f"{REGISTRATIONS}/app-r", headers=other.headers), 403)
    assert await (await client.get(REGISTRATIONS, headers=app.headers)).json() == [created]
    assert await (await client.get(REGISTRATIONS, headers=other.headers)).json() == []
    assert await (await client.get(REGISTRATIONS, headers=operator)).json() == [created]

    tag = one.headers["ETag"]
    changed = {**INFO, "appName": "renamed", "isInsByMec": False}
    put = await client.put(
        f"{REGISTRATIONS}/app-r", json=changed, headers={**app.headers, "If-Match": tag}
    )
    assert put.status == 200, await put.text()
    assert await put.json() == {**changed, "appInstanceId": "app-r", "isInsByMec": True}
    stale = await client.put(
        f"{REGISTRATIONS}/app-r", json=INFO, headers={**app.headers, "If-Match": tag}
    )
    await problem(stale, 412)
    moved = await client.put(
        f"{REGISTRATIONS}/app-r", json={**INFO, "appInstanceId": "app-o"}, headers=app.headers
    )
    assert params(await problem(moved, 400)) == {"/appInstanceId"}
    bad = await client.put(f"{REGISTRATIONS}/app-r", json={"appName": ""}, headers=app.headers)
    assert params(await problem(bad, 400)) == {"/appName"}
    fetched = await (await client.get(f"{REGISTRATIONS}/app-r", headers=app.headers)).json()
    assert fetched["appName"] == "renamed"

    assert (await client.delete(f"{REGISTRATIONS}/app-r", headers=app.headers)).status == 204
    await problem(await client.get(f"{REGISTRATIONS}/app-r", headers=app.headers), 404)
    await problem(await client.delete(f"{REGISTRATIONS}/app-r", headers=app.headers), 404)
    # Deregistering forgets the AppInfo; the instance the platform created stays.
    assert (await client.get(f"{MGMT}/app-r", headers=operator)).status == 200
    assert (await client.get(app_path("app-r", "/dns_rules"), headers=app.headers)).status == 200


async def test_the_operator_registers_for_an_instance(
    client: Client, operator: dict[str, str]
) -> None:
    await new_app(client, operator, "app-x")
    nameless = await client.post(REGISTRATIONS, json=INFO, headers=operator)
    assert params(await problem(nameless, 400)) == {"/appInstanceId"}
    unknown = await client.post(
        REGISTRATIONS, json={**INFO, "appInstanceId": "nope"}, headers=operator
    )
    await problem(unknown, 404)
    done = await client.post(
        REGISTRATIONS, json={**INFO, "appInstanceId": "app-x"}, headers=operator
    )
    assert done.status == 201, await done.text()


async def test_self_registration_is_refused_by_default(
    client: Client, operator: dict[str, str]
) -> None:
    body = {**INFO, "isInsByMec": False}
    refused = await client.post(REGISTRATIONS, json=body)
    detail = (await problem(refused, 401))["detail"]
    assert "did not instantiate" in detail
    # Refused before the body is even read: a bad one is 401 too.
    await problem(await client.post(REGISTRATIONS, json={"appName": ""}), 401)
    bad_token = await client.post(REGISTRATIONS, json=body, headers=bearer("forged"))
    await problem(bad_token, 401)
    assert await instance_count(client, operator) == 0


async def test_self_registration_where_allowed(
    open_platform: Client, operator: dict[str, str]
) -> None:
    client = open_platform
    body = {**INFO, "isInsByMec": False}
    response = await client.post(REGISTRATIONS, json=body)
    assert response.status == 201, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    created = await response.json()
    instance_id = created["appInstanceId"]
    assert created["clientId"] == instance_id
    check_both("/registrations", "post", 201, created, official=False)
    assert {k: v for k, v in created.items() if k not in ("clientId", "clientSecret")} == {
        **body,
        "appInstanceId": instance_id,
    }

    issued = await client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=basic(instance_id, created["clientSecret"]),
    )
    assert issued.status == 200, await issued.text()
    token = bearer((await issued.json())["access_token"])
    mine = await client.get(f"{REGISTRATIONS}/{instance_id}", headers=token)
    assert (await mine.json())["isInsByMec"] is False
    # An instance like any other: Mp1 under its id, visible to the operator.
    ready = await client.post(app_path(instance_id, "/confirm_ready"), headers=token)
    assert ready.status == 204
    seen = await (await client.get(f"{MGMT}/{instance_id}", headers=operator)).json()
    assert (seen["appName"], seen["state"]) == ("video-analytics", "READY")
    await client.put(
        f"{REGISTRATIONS}/{instance_id}", json={**body, "appName": "v2"}, headers=token
    )
    seen = await (await client.get(f"{MGMT}/{instance_id}", headers=operator)).json()
    assert seen["appName"] == "v2"

    # With an id of its choosing, once.
    named = await client.post(REGISTRATIONS, json={**body, "appInstanceId": "edge-cam"})
    assert named.status == 201, await named.text()
    assert (await named.json())["appInstanceId"] == "edge-cam"
    taken = await client.post(REGISTRATIONS, json={**body, "appInstanceId": "edge-cam"})
    await problem(taken, 409)
    bad_id = await client.post(REGISTRATIONS, json={**body, "appInstanceId": "a b/c"})
    assert params(await problem(bad_id, 400)) == {"/appInstanceId"}

    # Without a token only an app not instantiated by the platform registers.
    claimed = await client.post(REGISTRATIONS, json=INFO)
    assert params(await problem(claimed, 400)) == {"/isInsByMec"}
    missing = await client.post(REGISTRATIONS, json={"isInsByMec": False})
    assert params(await problem(missing, 400)) == {"/appName"}
    assert await instance_count(client, operator) == 2

    # Deregistering a self-registered app removes it, tokens included.
    gone = await client.delete(f"{REGISTRATIONS}/{instance_id}", headers=token)
    assert gone.status == 204
    await problem(await client.get(f"{MGMT}/{instance_id}", headers=operator), 404)
    await problem(await client.get(REGISTRATIONS, headers=token), 401)
    assert await instance_count(client, operator) == 1

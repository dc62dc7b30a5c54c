"""Answers listing services are rendered from the stored JSON; they must equal the model path."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from fixtures.apps import new_app

from mep.core import keys
from mep.core.http import dump
from mep.mp1.service_mgmt.records import SERVICES, StoredService

Client = TestClient[web.Request, web.Application]


def info(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "serName": name,
        "serCategory": {"href": "http://c.example/x", "id": "x", "name": "X", "version": "1"},
        "version": "1",
        "state": "ACTIVE",
        "transportId": "mep-rest-http",
        "serializer": "JSON",
        **extra,
    }


async def test_wire_rendering_equals_the_model_rendering(
    client: Client, operator: dict[str, str]
) -> None:
    app = await new_app(client, operator, "wire-app")
    bodies = [
        info("plain"),
        info("heartbeat", livenessInterval=5),
        info("remote", isLocal=False, consumedLocalOnly=True, scopeOfLocality="ZONE"),
    ]
    for body in bodies:
        made = await client.post(
            "/mec_service_mgmt/v1/applications/wire-app/services", json=body, headers=app.headers
        )
        assert made.status == 201, await made.text()
    registry = client.app[keys.SERVICE_REGISTRY]
    docs = await client.app[keys.STORE].find(SERVICES, "owner", "wire-app")
    assert len(docs) == 3
    for doc in docs:
        assert registry.links.wire(doc) == dump(
            registry.links.render(StoredService.from_document(doc))
        )
    mine = "/mec_service_mgmt/v1/applications/wire-app/services"
    listed = await (await client.get(mine, headers=app.headers)).json()
    assert sorted(s["serName"] for s in listed) == ["heartbeat", "plain", "remote"]
    remote = await client.get(f"{mine}?is_local=false&scope_of_locality=ZONE", headers=app.headers)
    assert [s["serName"] for s in await remote.json()] == ["remote"]

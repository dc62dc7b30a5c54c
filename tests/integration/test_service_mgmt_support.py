"""Helpers of the ``test_service_mgmt*`` modules (no tests here): bodies, calls, and schema checks
against our own document (``specs/mec011-service-mgmt.yaml``) and the official ETSI one."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient
from fixtures.openapi import SPECS, OpenApiDocument
from fixtures.reference import reference_check
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

Client = TestClient[web.Request, web.Application]

API = "/mec_service_mgmt/v1"
PUBLIC = "http://mep.test"

TRANSPORT: dict[str, Any] = {
    "id": "video-rest",
    "name": "REST",
    "description": "the producer's own REST endpoint",
    "type": "REST_HTTP",
    "protocol": "HTTP",
    "version": "2.0",
    "endpoint": {"uris": ["http://10.10.0.5:8080/video/v1"]},
    "security": {
        "oAuth2Info": {
            "grantTypes": ["OAUTH2_CLIENT_CREDENTIALS"],
            "tokenEndpoint": "http://mep.test/oauth2/token",
        }
    },
}
CATEGORY: dict[str, Any] = {
    "href": "http://catalogue.example/categories/video",
    "id": "cat-video",
    "name": "Video",
    "version": "v1",
}


def service(name: str = "video-analytics", **fields: Any) -> dict[str, Any]:
    """A ServiceInfo request body; ``fields`` override (``None`` removes a member)."""
    body: dict[str, Any] = {
        "serName": name,
        "serCategory": copy.deepcopy(CATEGORY),
        "version": "1.0.0",
        "state": "ACTIVE",
        "transportInfo": copy.deepcopy(TRANSPORT),
        "serializer": "JSON",
        "scopeOfLocality": "MEC_HOST",
        "consumedLocalOnly": True,
        "isLocal": True,
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def subscription(callback: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subscriptionType": "SerAvailabilityNotificationSubscription",
        "callbackReference": callback,
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def services_of(app_id: str) -> str:
    return f"{API}/applications/{app_id}/services"


def subscriptions_of(app_id: str) -> str:
    return f"{API}/applications/{app_id}/subscriptions"


def local(url: str) -> str:
    """A link the API wrote, as a path the test client can call."""
    assert url.startswith(PUBLIC), url
    return url.removeprefix(PUBLIC)


async def register(
    client: Client, app_id: str, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(services_of(app_id), json=body, headers=headers)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


async def subscribe(
    client: Client, app_id: str, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(subscriptions_of(app_id), json=body, headers=headers)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


class Schemas:
    """Bodies against a named schema of an OpenAPI document (notifications have no path)."""

    def __init__(self, path: Path) -> None:
        self.document: dict[str, Any] = yaml.safe_load(path.read_text())
        self._uri = f"urn:spec:{path.name}"
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(self._uri, resource)

    def check(self, schema: str, body: Any) -> None:
        ref = {"$ref": f"{self._uri}#/components/schemas/{schema}"}
        Draft202012Validator(ref, registry=self._registry).validate(body)


OURS = OpenApiDocument("mec011-service-mgmt.yaml")
OUR_SCHEMAS = Schemas(SPECS / "mec011-service-mgmt.yaml")


def check_both(path: str, method: str, status: int, body: Any) -> None:
    """``body`` fits our document and the official ETSI one (V2.1.1: the V2.2.1 members are
    extra properties it allows, but not the SUSPENDED state, so SUSPENDED bodies are not
    checked with this)."""
    OURS.check(path, method, status, body)
    reference_check("mec011-service-mgmt", path, method, status, body)

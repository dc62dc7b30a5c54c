"""Helpers of the ``test_location*`` modules (no tests here): bodies, calls, and schema checks
against our own document (``specs/mec013-location.yaml``) and the official ETSI one.

The tests drive the network of ``tests/fixtures/network.py`` (``network_client`` and
``TinyNetwork``): zone-1 holds ap-1 (CELL_1, with UE_1) and ap-wifi (realm "lobby"), zone-2
holds ap-2 (CELL_2, with UE_2) and ap-nr (NR_CELL, with UE_3).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient
from fixtures.callbacks import CallbackServer
from fixtures.network import CELL_POSITIONS
from fixtures.openapi import SPECS, OpenApiDocument
from fixtures.reference import reference_check, reference_document
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mep.network.port import Position
from mep.network.static import StaticNetworkSource

Client = TestClient[web.Request, web.Application]
NetworkClient = tuple[Client, StaticNetworkSource]

API = "/location/v2"
PUBLIC = "http://mep.test"
OPERATOR = {"Authorization": "Bearer operator-test-token"}
#: UE_1's cell, the centre of the default circle.
CENTRE = next(iter(CELL_POSITIONS.values()))


def north(position: Position, metres: float) -> Position:
    """``position`` moved ``metres`` north (a degree of latitude is 111.195 km)."""
    return Position(position.latitude + metres / 111_195.0, position.longitude)


# Bodies and checks


class Schemas:
    """Bodies against a named schema of our document (notifications have no path)."""

    def __init__(self, path: Path) -> None:
        document = yaml.safe_load(path.read_text())
        self._uri = f"urn:spec:{path.name}"
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(self._uri, resource)

    def check(self, schema: str, body: Any) -> None:
        ref = {"$ref": f"{self._uri}#/components/schemas/{schema}"}
        Draft202012Validator(ref, registry=self._registry).validate(body)


OURS = OpenApiDocument("mec013-location.yaml")
OUR_SCHEMAS = Schemas(SPECS / "mec013-location.yaml")

PATHS = {
    "circle": "area/circle",
    "distance": "distance",
    "periodic": "periodic",
    "userTracking": "userTracking",
    "zonalTraffic": "zonalTraffic",
    "zoneStatus": "zoneStatus",
}
ROOTS = {
    "circle": "circleNotificationSubscription",
    "distance": "distanceNotificationSubscription",
    "periodic": "periodicNotificationSubscription",
    "userTracking": "userTrackingSubscription",
    "zonalTraffic": "zonalTrafficSubscription",
    "zoneStatus": "zoneStatusSubscription",
}


def collection(kind: str) -> str:
    return f"{API}/subscriptions/{PATHS[kind]}"


def template(kind: str, one: bool = False) -> str:
    return f"/subscriptions/{PATHS[kind]}" + ("/{subscriptionId}" if one else "")


def local(url: str) -> str:
    """A resourceURL (absolute, public) as a path for the test client."""
    assert url.startswith(PUBLIC), url
    return url.removeprefix(PUBLIC)


def body(kind: str, notify_url: str, **fields: Any) -> dict[str, Any]:
    """A valid subscription request of ``kind``; ``fields`` override (None removes)."""
    callback = {"notifyURL": notify_url, "callbackData": f"data-{kind}"}
    common: dict[str, Any] = {"callbackReference": callback, "clientCorrelator": None}
    specific: dict[str, dict[str, Any]] = {
        "circle": {
            "address": ["acr:10.0.0.1"],
            "checkImmediate": False,
            "enteringLeavingCriteria": "Entering",
            "frequency": 0,
            "latitude": CENTRE.latitude,
            "longitude": CENTRE.longitude,
            "radius": 500,
            "trackingAccuracy": 10,
        },
        "distance": {
            "monitoredAddress": ["acr:10.0.0.1", "acr:10.0.0.2"],
            "checkImmediate": False,
            "criteria": "AllWithinDistance",
            "distance": 200,
            "frequency": 0,
            "trackingAccuracy": 10,
        },
        "periodic": {"address": ["acr:10.0.0.1"], "frequency": 1, "requestedAccuracy": 10},
        "userTracking": {"address": "acr:10.0.0.1"},
        "zonalTraffic": {"zoneId": "zone-1"},
        "zoneStatus": {"zoneId": "zone-1"},
    }
    merged = {**common, **specific[kind], **fields}
    return {ROOTS[kind]: {k: v for k, v in merged.items() if v is not None}}


def check_both(path: str, method: str, status: int, payload: Any) -> None:
    """``payload`` fits our document and the official MEC 013 V2.2.1 file."""
    OURS.check(path, method, status, payload)
    reference_check("mec013", path, method, status, payload)


def check_notification(payload: dict[str, Any]) -> dict[str, Any]:
    """A notification as received: one root key, whose content fits both documents' schema."""
    ((root, inner),) = payload.items()
    schema = {
        "subscriptionNotification": "SubscriptionNotification",
        "zonalPresenceNotification": "ZonalPresenceNotification",
        "zoneStatusNotification": "ZoneStatusNotification",
    }[root]
    assert reference_document("mec013").check_schema(schema, inner) == []
    OUR_SCHEMAS.check(schema, inner)
    result: dict[str, Any] = inner
    return result


async def create(
    client: Client, kind: str, payload: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """POST a subscription; checks 201, Location, the schemas; the subscription as answered."""
    response = await client.post(collection(kind), json=payload, headers=headers or OPERATOR)
    assert response.status == 201, await response.text()
    answered = await response.json()
    check_both(template(kind), "post", 201, answered)
    created: dict[str, Any] = answered[ROOTS[kind]]
    assert response.headers["Location"] == created["resourceURL"]
    return created


def received(server: CallbackServer, path: str) -> list[dict[str, Any]]:
    """The notifications that reached ``path``, each checked against both schemas."""
    return [check_notification(n) for n in server.by_path.get(path, [])]


async def quiet(server: CallbackServer, path: str, expected: int, wait: float = 0.3) -> None:
    """Nothing more than ``expected`` arrives at ``path`` (given every chance to)."""
    await asyncio.sleep(wait)
    assert len(server.by_path.get(path, [])) == expected, server.by_path.get(path)

"""Helpers of the ``test_rnis*`` modules (no tests here): subscription bodies of the nine types,
calls, and checks of every body against the official MEC 012 file and our own document."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient
from fixtures.callbacks import CallbackServer
from fixtures.network import CELL_1, ecgi
from fixtures.openapi import SPECS, OpenApiDocument
from fixtures.reference import reference_check, reference_document
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

Client = TestClient[web.Request, web.Application]

API = "/rni/v2"
SUBSCRIPTIONS = f"{API}/subscriptions"
PUBLIC = "http://mep.test"

OURS = OpenApiDocument("mec012-rnis.yaml")
_DOCUMENT: dict[str, Any] = yaml.safe_load((SPECS / "mec012-rnis.yaml").read_text())
_URI = "urn:spec:mec012-rnis.yaml"
_REGISTRY: Registry[Any] = Registry().with_resource(
    _URI, Resource.from_contents(_DOCUMENT, default_specification=DRAFT202012)
)


def check(template: str, method: str, status: int, body: Any) -> None:
    """``body`` against the official file and ours (``template`` relative to ``/rni/v2``)."""
    reference_check("mec012", template, method, status, body)
    OURS.check(template, method, status, body)


def check_notification(body: dict[str, Any], *, official: bool = True) -> None:
    """A notification against its schema in ours and (unless a V2.2.1 addition) the official
    file."""
    name = body["notificationType"]
    Draft202012Validator(
        {"$ref": f"{_URI}#/components/schemas/{name}"}, registry=_REGISTRY
    ).validate(body)
    if official:
        assert reference_document("mec012").check_schema(name, body) == []


def local(url: str) -> str:
    """A link the API wrote, as a path the test client can call."""
    assert url.startswith(PUBLIC), url
    return url.removeprefix(PUBLIC)


def assoc(*ipv4: str) -> list[dict[str, Any]]:
    return [{"type": 1, "value": address} for address in ipv4]


#: One valid body per subscription type, its filter naming CELL_1 or UE 10.0.0.1.
TEMPLATES: dict[str, dict[str, Any]] = {
    "CellChangeSubscription": {"filterCriteriaAssocHo": {"associateId": assoc("10.0.0.1")}},
    "RabEstSubscription": {"filterCriteriaQci": {"qci": 9, "ecgi": [ecgi(CELL_1)]}},
    "RabModSubscription": {"filterCriteriaQci": {"qci": 1, "erabId": 6}},
    "RabRelSubscription": {"filterCriteriaQci": {"qci": 9, "erabId": 5}},
    "MeasRepUeSubscription": {"filterCriteriaAssocTri": {"associateId": assoc("10.0.0.1")}},
    "NrMeasRepUeSubscription": {"filterCriteriaNrMrs": {"associateId": assoc("10.0.0.3")}},
    "MeasTaSubscription": {"filterCriteriaAssoc": {"associateId": assoc("10.0.0.1")}},
    "CaReconfSubscription": {"filterCriteriaAssoc": {"ecgi": [ecgi(CELL_1)]}},
    "S1BearerSubscription": {
        "S1BearerSubscriptionCriteria": {"associateId": assoc("10.0.0.1")},
        "eventType": [1, 2, 3],
    },
}
QUERY_NAMES = {
    "CellChangeSubscription": "cell_change",
    "RabEstSubscription": "rab_est",
    "RabModSubscription": "rab_mod",
    "RabRelSubscription": "rab_rel",
    "MeasRepUeSubscription": "meas_rep_ue",
    "NrMeasRepUeSubscription": "nr_meas_rep_ue",
    "MeasTaSubscription": "timing_advance_ue",
    "CaReconfSubscription": "ca_reconf",
    "S1BearerSubscription": "s1_bearer",
}


def subscription(kind: str, callback: str | None, **fields: Any) -> dict[str, Any]:
    """A body of type ``kind`` (its template filter unless ``fields`` give another)."""
    body: dict[str, Any] = {"subscriptionType": kind, **copy.deepcopy(TEMPLATES[kind])}
    if callback is not None:
        body["callbackReference"] = callback
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


async def subscribe(
    client: Client, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(SUBSCRIPTIONS, json=body, headers=headers)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    assert response.headers["Location"] == created["_links"]["self"]["href"]
    return created


async def settle(seconds: float = 0.3) -> None:
    """Give notifications that should not come a moment to arrive anyway: every notification
    of a network change is queued in one commit, and the ones awaited have arrived already."""
    await asyncio.sleep(seconds)


def received(server: CallbackServer, path: str) -> list[dict[str, Any]]:
    return server.by_path.get(path, [])


def only(server: CallbackServer, path: str, kind: str) -> list[dict[str, Any]]:
    """The notifications on ``path``, each checked to be of type ``kind`` and valid."""
    bodies = received(server, path)
    for body in bodies:
        assert body["notificationType"] == kind, body
        check_notification(body)
    return bodies

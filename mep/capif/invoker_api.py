"""``/api-invoker-management/v1``: API invoker onboarding (TS 29.222 clause 8.4, CAPIF-1/1e).

POST takes the onboarding credential as ``Authorization: Bearer`` over server-authenticated TLS
(TS 33.122 clause 6.1); PUT, PATCH and DELETE take the invoker's own client certificate.
"""

from __future__ import annotations

from aiohttp import web

from mep.capif.identity import CapifRole, require_identity
from mep.capif.invokers import Invokers, StoredInvoker
from mep.capif.models import APIInvokerEnrolmentDetails
from mep.core import keys
from mep.core.http import json_response, read_json_body, read_model
from mep.core.problem import BadRequest

ROOT = "/api-invoker-management/v1"
BASE = f"{ROOT}/onboardedInvokers"


def _service(request: web.Request) -> Invokers:
    return request.app[keys.CAPIF_INVOKERS]


def bearer_credential(request: web.Request) -> str | None:
    """The credential of an ``Authorization: Bearer`` header, if there is one."""
    scheme, _, credential = request.headers.get("Authorization", "").strip().partition(" ")
    return credential.strip() or None if scheme.lower() == "bearer" else None


def _answer(request: web.Request, stored: StoredInvoker) -> web.Response:
    if not stored.created:
        return json_response(stored.details)
    location = f"{request.app[keys.SETTINGS].ccf_url}{BASE}/{stored.invoker_id}"
    return json_response(stored.details, status=201, headers={"Location": location})


async def onboard(request: web.Request) -> web.Response:
    details = await read_model(request, APIInvokerEnrolmentDetails)
    return _answer(request, await _service(request).onboard(details, [bearer_credential(request)]))


async def put_invoker(request: web.Request) -> web.Response:
    invoker_id = request.match_info["onboardingId"]
    await require_identity(request, CapifRole.INVOKER, invoker_id)
    details = await read_model(request, APIInvokerEnrolmentDetails)
    return _answer(request, await _service(request).replace(invoker_id, details))


async def patch_invoker(request: web.Request) -> web.Response:
    invoker_id = request.match_info["onboardingId"]
    await require_identity(request, CapifRole.INVOKER, invoker_id)
    patch = await read_json_body(request)
    if not isinstance(patch, dict):
        raise BadRequest("the merge patch must be a JSON object")
    return _answer(request, await _service(request).patch(invoker_id, patch))


async def delete_invoker(request: web.Request) -> web.Response:
    invoker_id = request.match_info["onboardingId"]
    await require_identity(request, CapifRole.INVOKER, invoker_id)
    await _service(request).offboard(invoker_id)
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    # Also under "//...": clients that join "https://host/" and "/api-..." send that.
    for prefix in ("", "/"):
        app.router.add_post(f"{prefix}{BASE}", onboard)
        one = f"{prefix}{BASE}/{{onboardingId}}"
        app.router.add_put(one, put_invoker)
        app.router.add_patch(one, patch_invoker)
        app.router.add_delete(one, delete_invoker)

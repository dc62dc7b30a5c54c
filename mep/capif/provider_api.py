"""``/api-provider-management/v1``: API provider domain registration (TS 29.222 clause 8.9,
CAPIF-5).

POST takes the operator's ``regSec`` in the body (or, as OpenCAPIF clients also send it, as
``Authorization: Bearer``); PUT, PATCH and DELETE take the client certificate of one of the
domain's AMFs.
"""

from __future__ import annotations

from aiohttp import web

from mep.capif.identity import CapifRole, require_identity
from mep.capif.invoker_api import bearer_credential
from mep.capif.models import APIProviderEnrolmentDetails
from mep.capif.providers import Providers, StoredRegistration
from mep.core import keys
from mep.core.http import json_response, read_json_body, read_model
from mep.core.problem import BadRequest

ROOT = "/api-provider-management/v1"
BASE = f"{ROOT}/registrations"


def _service(request: web.Request) -> Providers:
    return request.app[keys.CAPIF_PROVIDERS]


def _answer(request: web.Request, stored: StoredRegistration) -> web.Response:
    if not stored.created:
        return json_response(stored.details)
    location = f"{request.app[keys.SETTINGS].ccf_url}{BASE}/{stored.registration_id}"
    return json_response(stored.details, status=201, headers={"Location": location})


async def register(request: web.Request) -> web.Response:
    details = await read_model(request, APIProviderEnrolmentDetails)
    stored = await _service(request).register(details, [bearer_credential(request)])
    return _answer(request, stored)


async def put_registration(request: web.Request) -> web.Response:
    amf = await require_identity(request, CapifRole.AMF)
    details = await read_model(request, APIProviderEnrolmentDetails)
    registration_id = request.match_info["registrationId"]
    return _answer(request, await _service(request).replace(registration_id, amf, details))


async def patch_registration(request: web.Request) -> web.Response:
    amf = await require_identity(request, CapifRole.AMF)
    patch = await read_json_body(request)
    if not isinstance(patch, dict):
        raise BadRequest("the merge patch must be a JSON object")
    registration_id = request.match_info["registrationId"]
    return _answer(request, await _service(request).patch(registration_id, amf, patch))


async def delete_registration(request: web.Request) -> web.Response:
    amf = await require_identity(request, CapifRole.AMF)
    await _service(request).deregister(request.match_info["registrationId"], amf)
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    # Also under "//...": clients that join "https://host/" and "/api-..." send that.
    for prefix in ("", "/"):
        app.router.add_post(f"{prefix}{BASE}", register)
        one = f"{prefix}{BASE}/{{registrationId}}"
        app.router.add_put(one, put_registration)
        app.router.add_patch(one, patch_registration)
        app.router.add_delete(one, delete_registration)
